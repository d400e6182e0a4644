"""Absorption in the CsI phosphor: QDE, deposited-energy moments, K escape, Swank, DQE(0).

Pure physics of a CsI layer of a given thickness behind given entrance layers; which layers a
receptor has is its own business (:mod:`sim.receptor.kinds`). The energy weights returned by
:func:`weights` are applied by ``projection.integrate`` to the fluence at the receptor, per
photon per mm^2. The deposited energy accounts for photoelectric absorption with
K-fluorescence escape of Cs and I (depth-resolved escape of isotropic K x-rays from a slab,
Dance & Day 1985; Chan & Doi 1983), Compton recoil electrons (Klein-Nishina energy transfer,
scattered photon assumed lost) and coherent scattering (nothing deposited). Sources: the
package docstring (:mod:`sim.receptor`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import numpy as np
from scipy import special

from sim.units import MM2_PER_CM2, MM_PER_UM, NGY_PER_UGY
from sim.validate import check_number

Layers = tuple[tuple[str, float], ...]
"""Entrance layers in front of the phosphor: ``((material, mm), ...)``."""

ELECTRON_REST_ENERGY_KEV = 510.99895  # m_e c^2, CODATA 2018 [keV]

CSI_PACKING_FRACTION = 0.80
# guess: vapour-deposited columnar (needle) CsI is commonly quoted at 75-80 % of the bulk
# density (4.51 g/cm^3); 0.80 taken, no primary source checked.

OPTICAL_SWANK = 0.91
# Zhao, Ristic & Rowlands 2004: Swank factor of columnar CsI below the K edge 0.91 (HR) and
# 0.93 (HL), i.e. the optical (light-yield) part; taken as thickness independent.

CSI_LIGHT_YIELD_PER_KEV = 54.0  # CsI:Tl optical photons per keV absorbed (Nikl 2006)
OPTICAL_COUPLING = 0.55
# guess: fraction of the light that leaves the CsI and reaches the photodiodes (0.5-0.6).
PHOTODIODE_QE = 0.75
# guess: a-Si:H photodiode quantum efficiency x fill factor at 550 nm (0.7-0.8).

CSI_UM_RANGE = (200.0, 700.0)  # CsI thicknesses the model is meant for [um]

_GL_NODES = 48  # Gauss-Legendre nodes for the depth integral of the escape probability
_CSI = "csi"
_CSI_Z = (53, 55)  # I, Cs


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------
def _materials():
    """The sim.materials module (imported lazily to keep import order free)."""
    from sim import materials

    return materials


def fmt(x: Any) -> str:
    """A number for an error message."""
    try:
        return f"{float(x):g}"
    except (TypeError, ValueError):
        return repr(x)


def check_energy(energy_keV: Any) -> np.ndarray:
    """Photon energies as a validated 1-D float64 array in [1, 1000] keV."""
    e = np.asarray(energy_keV, dtype=np.float64)
    if e.ndim != 1 or e.size == 0:
        raise ValueError(f"energy_keV must be a non-empty 1-D array, got shape {e.shape}")
    if not np.all(np.isfinite(e)) or e.min() < 1.0 or e.max() > 1000.0:
        bad = e[~np.isfinite(e) | (e < 1.0) | (e > 1000.0)][0]
        raise ValueError(f"energy_keV contains {bad!r}, out of range [1, 1000] keV")
    return e


def frozen(a: np.ndarray) -> np.ndarray:
    """A read-only float64 copy."""
    a = np.array(a, dtype=np.float64)
    a.flags.writeable = False
    return a


# --------------------------------------------------------------------------------------------
# CsI physics: interaction fractions, K fluorescence, escape, Compton energy transfer
# --------------------------------------------------------------------------------------------
@lru_cache(maxsize=32)
def _csi_atomic(energies: tuple[float, ...]) -> dict[str, Any]:
    """Per-interaction fractions and K-shell data of CsI from xraylib (cached)."""
    import xraylib

    e = np.asarray(energies)
    comp = xraylib.GetCompoundDataNISTByName("Cesium Iodide")
    frac = dict(zip(comp["Elements"], comp["massFractions"], strict=True))
    tot = np.zeros_like(e)
    photo = np.zeros_like(e)
    compt = np.zeros_like(e)
    rayl = np.zeros_like(e)
    k_photo = {}
    for z in _CSI_Z:
        w = frac[z]
        tot += w * np.array([xraylib.CS_Total(z, x) for x in e])
        photo += w * np.array([xraylib.CS_Photo(z, x) for x in e])
        compt += w * np.array([xraylib.CS_Compt(z, x) for x in e])
        rayl += w * np.array([xraylib.CS_Rayl(z, x) for x in e])
        edge = xraylib.EdgeEnergy(z, xraylib.K_SHELL)
        k_photo[z] = w * np.array(
            [xraylib.CS_Photo_Partial(z, xraylib.K_SHELL, x) if x > edge else 0.0 for x in e]
        )
    lines = {}
    for z in _CSI_Z:
        ka = [xraylib.KL2_LINE, xraylib.KL3_LINE]
        kb = [xraylib.KM2_LINE, xraylib.KM3_LINE, xraylib.KN2_LINE, xraylib.KN3_LINE]
        r_a = np.array([xraylib.RadRate(z, ln) for ln in ka])
        e_a = np.array([xraylib.LineEnergy(z, ln) for ln in ka])
        r_b = np.array([xraylib.RadRate(z, ln) for ln in kb])
        e_b = np.array([xraylib.LineEnergy(z, ln) for ln in kb])
        # K-alpha and K-beta groups: rate-weighted mean energies; K-beta takes the remainder
        p_a = float(r_a.sum()) / float(r_a.sum() + r_b.sum())
        lines[z] = (
            float(xraylib.FluorYield(z, xraylib.K_SHELL)),
            ((float(r_a @ e_a / r_a.sum()), p_a), (float(r_b @ e_b / r_b.sum()), 1.0 - p_a)),
        )
    return {
        "p_photo": photo / tot,
        "p_compt": compt / tot,
        "p_rayl": rayl / tot,
        "p_k": {z: k_photo[z] / tot for z in _CSI_Z},
        "lines": lines,
    }


def _klein_nishina_moments(energy_keV: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and mean-square kinetic energy of the Compton recoil electron [keV, keV^2].

    Free-electron Klein-Nishina cross section integrated over the scattering angle
    (binding effects neglected).

    References
    ----------
    O. Klein, Y. Nishina, Z. Phys. 52:853 (1929); F. H. Attix, Introduction to Radiological
    Physics and Radiation Dosimetry (1986), ch. 7.
    """
    mu = np.linspace(-1.0, 1.0, 401)
    alpha = energy_keV[:, None] / ELECTRON_REST_ENERGY_KEV
    ratio = 1.0 / (1.0 + alpha * (1.0 - mu[None, :]))  # E'/E
    dsig = ratio**2 * (ratio + 1.0 / ratio - (1.0 - mu[None, :] ** 2))
    t = energy_keV[:, None] * (1.0 - ratio)
    norm = np.trapezoid(dsig, mu, axis=1)
    return np.trapezoid(dsig * t, mu, axis=1) / norm, np.trapezoid(dsig * t**2, mu, axis=1) / norm


def _escape_probability(mu_e_per_mm: np.ndarray, mu_f_per_mm: float, t_mm: float) -> np.ndarray:
    """Escape probability of an isotropic fluorescence photon, averaged over interaction depth.

    A photon entering a slab of thickness ``t_mm`` normally interacts at depth z with density
    mu e^(-mu z) / (1 - e^(-mu t)); a fluorescence photon emitted isotropically at z leaves
    through the entrance face with probability E2(mu_f z)/2 and through the exit face with
    E2(mu_f (t - z))/2 (E2: exponential integral of order 2; laterally infinite slab).

    References
    ----------
    D. R. Dance, G. J. Day, Phys. Med. Biol. 30:259 (1985); G. Hajdok et al., Med. Phys.
    35:3180 (2008), appendix.
    """
    u, w = np.polynomial.legendre.leggauss(_GL_NODES)
    u = 0.5 * (u + 1.0)
    w = 0.5 * w
    mu = mu_e_per_mm[:, None]
    a = -np.expm1(-mu * t_mm)  # 1 - e^(-mu t)
    # inverse-CDF substitution: z(u) spreads the nodes along the interaction density
    z = -np.log1p(-u[None, :] * a) / mu
    z = np.clip(z, 0.0, t_mm)
    g = 0.5 * (special.expn(2, mu_f_per_mm * z) + special.expn(2, mu_f_per_mm * (t_mm - z)))
    return g @ w


def _mu_csi_per_mm(e: np.ndarray) -> np.ndarray:
    """Total linear attenuation of columnar CsI at its packing fraction [1/mm]."""
    return np.asarray(_materials().mu_per_mm(_CSI, e), dtype=np.float64) * CSI_PACKING_FRACTION


@lru_cache(maxsize=32)
def _response(csi_um: float, layers: Layers, energies: tuple[float, ...]) -> dict[str, np.ndarray]:
    """QDE, M1, M2 per incident photon and the x-ray components, cached."""
    mats = _materials()
    e = np.asarray(energies)
    t_mm = csi_um * MM_PER_UM
    at = _csi_atomic(energies)
    # coherent scattering is treated as no interaction: it deflects photons by small angles
    # and deposits nothing, so the photon stays in the layer's beam
    keep = 1.0 - at["p_rayl"]
    mu = _mu_csi_per_mm(e) * keep
    att = np.zeros_like(e)
    for name, mm in layers:
        att = att + np.asarray(mats.mu_per_mm(name, e), dtype=np.float64) * mm
    window = np.exp(-att)
    interact = -np.expm1(-mu * t_mm)
    qde = window * interact

    t1, t2 = _klein_nishina_moments(e)
    m1 = (at["p_photo"] * e + at["p_compt"] * t1) / keep
    m2 = (at["p_photo"] * e**2 + at["p_compt"] * t2) / keep
    escape_keV = np.zeros_like(e)  # mean energy carried away by escaping K x-rays
    for z in _CSI_Z:
        omega, lines = at["lines"][z]
        pk = at["p_k"][z] / keep
        above = pk > 0.0
        if not np.any(above):
            continue
        for e_line, rate in lines:
            line_rayl = float(_csi_atomic((e_line,))["p_rayl"][0])
            mu_f = float(_mu_csi_per_mm(np.array([e_line]))[0]) * (1.0 - line_rayl)
            p_esc = np.zeros_like(e)
            p_esc[above] = _escape_probability(mu[above], mu_f, t_mm)
            prob = pk * omega * rate * p_esc
            m1 = m1 - prob * e_line
            m2 = m2 + prob * ((e - e_line) ** 2 - e**2)
            escape_keV = escape_keV + prob * e_line
    return {
        "qde": frozen(qde),
        "window": frozen(window),
        "m1": frozen(qde * m1),
        "m2": frozen(qde * m2),
        "escape_keV": frozen(qde * escape_keV),
    }


def moments(energy_keV: Any, csi_um: float, layers: Layers) -> dict[str, np.ndarray]:
    """Moments of the energy deposited per incident photon in CsI of ``csi_um`` behind ``layers``.

    Parameters
    ----------
    energy_keV : array_like
        Photon energies, in [1, 1000] [keV].
    csi_um : float
        CsI thickness [um].
    layers : tuple of (str, float)
        Entrance layers (material, thickness in mm) in front of the CsI.

    Returns
    -------
    dict of str to numpy.ndarray
        ``qde`` (M0, [-]), ``m1`` (mean deposited energy [keV]), ``m2`` (mean square
        [keV^2]), ``escape_keV`` (mean K-fluorescence energy escaping [keV]),
        ``swank_x`` (x-ray Swank factor M1^2/(M0 M2) [-]) and ``window`` (cover
        transmission [-]). Arrays are read-only.

    References
    ----------
    Swank (1973); Dance & Day (1985); Hajdok et al. (2008); xraylib (Schoonjans et al. 2011).
    """
    e = check_energy(energy_keV)
    r = dict(_response(float(csi_um), tuple(layers), tuple(e.tolist())))
    with np.errstate(invalid="ignore", divide="ignore"):
        sw = np.where(r["m2"] > 0, r["m1"] ** 2 / (r["qde"] * r["m2"]), 0.0)
    r["swank_x"] = frozen(sw)
    return r


# --------------------------------------------------------------------------------------------
# the weights for projection.integrate
# --------------------------------------------------------------------------------------------
def _kerma_weights_uGy_mm2(e: np.ndarray) -> np.ndarray:
    """Air kerma per photon/mm^2 [uGy mm^2]: sim.spectrum's weights on the fixed grid."""
    from sim import spectrum

    if e.shape == spectrum.ENERGY_KEV.shape and np.array_equal(e, spectrum.ENERGY_KEV):
        probe = spectrum.Spectrum(
            energy_keV=spectrum.ENERGY_KEV,
            fluence=np.zeros_like(spectrum.ENERGY_KEV),
            kvp=float(spectrum.KVP_RANGE[1]),
            anode_angle_deg=12.0,
        )
        return np.asarray(probe.kerma_weights_uGy_mm2(), dtype=np.float64)
    # off the fixed grid (tests, single energies): same formula as sim.spectrum
    from sim.units import G_PER_KG, J_PER_KEV, UGY_PER_GY

    mu_en = np.asarray(_materials().mu_en_rho("air", e), dtype=np.float64)
    return e * J_PER_KEV * mu_en * G_PER_KG * MM2_PER_CM2 * UGY_PER_GY


@lru_cache(maxsize=32)
def _weights_cached(csi_um: float, layers: Layers, energies: tuple[float, ...]) -> dict:
    e = np.asarray(energies)
    r = moments(e, csi_um, layers)
    return {
        "quanta": frozen(np.ones_like(e)),
        "kerma_uGy": frozen(_kerma_weights_uGy_mm2(e)),
        "abs_quanta": r["qde"],
        "abs_energy_keV": r["m1"],
        "abs_energy2_keV2": r["m2"],
    }


def weights(energy_keV: Any, csi_um: float, layers: Layers) -> dict[str, np.ndarray]:
    """Energy weights per photon per mm^2 of CsI of ``csi_um`` behind ``layers``.

    Parameters
    ----------
    energy_keV : array_like
        Photon energies, normally ``sim.spectrum.ENERGY_KEV`` [keV].
    csi_um : float
        CsI thickness [um].
    layers : tuple of (str, float)
        Entrance layers (material, mm).

    Returns
    -------
    dict of str to numpy.ndarray
        ``quanta`` (1 [-]), ``kerma_uGy`` (air kerma per photon/mm^2 [uGy mm^2]),
        ``abs_quanta`` (QDE [-]), ``abs_energy_keV`` (mean energy deposited per incident
        photon [keV]) and ``abs_energy2_keV2`` (its second moment [keV^2]). Read-only.

    References
    ----------
    Swank (1973); Dance & Day (1985); NIST SRD 126 mu_en/rho of air (via sim.spectrum).
    """
    e = check_energy(energy_keV)
    return dict(_weights_cached(float(csi_um), tuple(layers), tuple(e.tolist())))


# --------------------------------------------------------------------------------------------
# gain, Swank, DQE(0)
# --------------------------------------------------------------------------------------------
def gain_e_per_keV() -> float:
    """Flat-panel gain: photodiode electrons per keV absorbed in the CsI [e-/keV].

    light yield (54 photons/keV, Nikl 2006) x optical coupling (0.55, guess) x photodiode
    QE and fill factor (0.75, guess) = 22.3 e-/keV.

    Returns
    -------
    float
        Electrons per keV absorbed [e-/keV].

    References
    ----------
    M. Nikl, Meas. Sci. Technol. 17:R37 (2006); Saint-Gobain CsI(Tl) data sheet.
    """
    return CSI_LIGHT_YIELD_PER_KEV * OPTICAL_COUPLING * PHOTODIODE_QE


def dqe_from_moments(
    q: float, m0: float, m1: float, m2: float, additive_sigma_keV: float, native_pixel_mm: float
) -> dict:
    """DQE(0) and its factors from fluence and deposition moments per mm^2.

    ``additive_sigma_keV`` is the additive noise per native pixel of side
    ``native_pixel_mm``.
    """
    sigma = additive_sigma_keV
    a_native = native_pixel_mm**2
    quantum_var = m2 / OPTICAL_SWANK  # per mm^2 [keV^2/mm^2]
    additive_var = sigma**2 / a_native
    if q <= 0.0 or m2 <= 0.0:
        return {
            "qde": 0.0,
            "swank_x": 0.0,
            "swank": 0.0,
            "dqe0_quantum": 0.0,
            "additive_to_quantum": math.inf,
            "dqe0": 0.0,
        }
    swank_x = m1**2 / (m0 * m2)
    dqe_q = m1**2 / (q * quantum_var)
    ratio = additive_var / quantum_var
    return {
        "qde": m0 / q,
        "swank_x": swank_x,
        "swank": swank_x * OPTICAL_SWANK,
        "dqe0_quantum": dqe_q,
        "additive_to_quantum": ratio,
        "dqe0": dqe_q / (1.0 + ratio),
    }


def spectrum_figures(
    weights_of: Callable[[np.ndarray], dict[str, np.ndarray]],
    spectrum_at_receptor: Any,
    receptor_kerma_nGy: float,
    additive_sigma_keV: float,
    native_pixel_mm: float,
) -> dict[str, float]:
    """QDE, Swank factors, gain and DQE(0) for a spectrum and air kerma at the receptor.

    ``weights_of(energy_keV)`` gives the receptor's energy weights (:func:`weights`); the
    additive noise is per native pixel. Keys as :func:`sim.receptor.receptor_figures`.
    """
    k_ngy = check_number("receptor_kerma_nGy", receptor_kerma_nGy, 0.0, 1e7, "nGy")
    if k_ngy <= 0.0:
        raise ValueError(f"receptor_kerma_nGy={fmt(receptor_kerma_nGy)} must be > 0 nGy")
    e = np.asarray(getattr(spectrum_at_receptor, "energy_keV", None), dtype=np.float64)
    phi = np.asarray(getattr(spectrum_at_receptor, "fluence", None), dtype=np.float64)
    if e.ndim != 1 or phi.shape != e.shape:
        raise ValueError("spectrum_at_receptor must have energy_keV and fluence arrays")
    w = weights_of(e)
    kerma_uGy = float(phi @ w["kerma_uGy"])
    if kerma_uGy <= 0.0:
        raise ValueError("spectrum_at_receptor has zero air kerma")
    scale = k_ngy / (kerma_uGy * NGY_PER_UGY)  # per mm^2 at the requested kerma
    q = float(phi.sum()) * scale
    m0 = float(phi @ w["abs_quanta"]) * scale
    m1 = float(phi @ w["abs_energy_keV"]) * scale
    m2 = float(phi @ w["abs_energy2_keV2"]) * scale
    out = dqe_from_moments(q, m0, m1, m2, additive_sigma_keV, native_pixel_mm)
    out["fluence_per_nGy"] = q / k_ngy
    out["quanta_per_native_pixel"] = q * native_pixel_mm**2
    out["gain_e_per_keV"] = gain_e_per_keV()
    return out
