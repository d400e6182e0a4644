"""Image receptor: CsI:Tl flat panel and CsI image intensifier.

What the receptor does to the X-ray fluence that reaches it, in the order of the chain:

1. **Absorption** (:func:`receptor_weights`). Energy weights applied by
   ``projection.integrate`` to the fluence at the receptor, per photon per mm^2:
   ``"quanta"`` (1), ``"kerma_uGy"`` (air kerma, from the NIST mu_en/rho of air via
   :mod:`sim.spectrum`), ``"abs_quanta"`` (quantum detection efficiency QDE(E): the probability
   that a photon crosses the entrance cover and interacts in the CsI layer),
   ``"abs_energy_keV"`` (first moment M1(E) of the energy deposited per incident photon) and
   ``"abs_energy2_keV2"`` (its second moment M2(E)). The deposited energy accounts for
   photoelectric absorption with K-fluorescence escape of Cs and I (depth-resolved escape of
   isotropic K x-rays from a slab, Dance & Day 1984; Chan & Doi 1983), Compton recoil electrons
   (Klein-Nishina energy transfer, scattered photon assumed lost) and coherent scattering
   (nothing deposited). The detector is energy integrating: its signal is proportional to the
   absorbed energy.
2. **Signal and quantum noise** (:func:`detect`). Mean absorbed energy per simulated pixel
   ``M1 * A``; Gaussian quantum noise of variance ``M2 * A / I_opt`` (compound Poisson:
   the real number of absorbed quanta and their deposited-energy spread, i.e. the x-ray Swank
   factor ``I_x = M1^2 / (M0 M2)``, times the optical Swank factor ``I_opt`` of CsI).
3. **Blur** (:func:`mtf`). Phosphor light spread (exponential line-spread function whose width
   grows with the CsI thickness, i.e. a Lorentzian MTF in f*L) and the pixel aperture, applied
   to signal *and* quantum noise together (noise generated before the blur, so it becomes
   correlated, as in a real phosphor). The blur acts on the simulated grid through a
   pixel-integrated 1-D kernel applied along x and y (a separable PSF: exact along the axes,
   where the presampled MTF is defined, approximate on the diagonals). When a simulated pixel
   spans several native pixels, its own area is the aperture; when it is smaller, an extra box
   of width sqrt(p^2 - d^2) renders the coarser native pixel p.
4. **Electronic noise**: additive, ``receptor.electronic_noise_e`` rms electrons per native
   pixel, converted with the gain in electrons per keV absorbed (light yield x optical
   coupling x photodiode efficiency); a simulated pixel covering ``n`` native pixels carries
   ``n * sigma_e^2`` (digital binning).
5. **Lag** (:func:`apply_lag`) for fluoroscopy runs: recursive first-frame lag.

The image intensifier (``receptor.kind == "image_intensifier"``) uses the same CsI absorption
model for its 400 um input phosphor behind an aluminium input window (``receptor.csi_um`` and
``receptor.pixel_um``/``binning``/``electronic_noise_e`` apply to the flat panel only), then:
pincushion distortion (a radial remap of the maps *before* the noise, dividing by the local
areal magnification, so the stretched periphery also gets fewer quanta per pixel), a poorer
MTF (electron optics, output phosphor and camera; sharper in magnification modes), veiling
glare (a fraction ``receptor.ii_glare`` of the light spread by a cm-wide exponential PSF),
cos^4 vignetting, and additive camera noise per camera pixel (1024 across the FOV).
Magnification modes: :func:`ii_brightness_gain` falls as FOV^2. The output is square; the
circular input field is available as :func:`ii_input_mask` for display.

Units of the detected image: **keV absorbed in the CsI per simulated pixel** (multiply by
:attr:`Detected.gain_e_per_keV` for flat-panel electrons). The simulated pixel is the image
pixel of ``geometry.DetectorGrid`` (``pixel_mm`` at the receptor plane); it may be larger or
smaller than the native detector pixel ``receptor.pixel_um * receptor.binning``.

References
----------
.. [1] R. K. Swank, "Absorption and noise in x-ray phosphors", J. Appl. Phys. 44:4199 (1973).
.. [2] D. R. Dance, G. J. Day, "Escape probabilities for fluorescent x-rays", Phys. Med. Biol.
   30:259-262 (1985); H.-P. Chan, K. Doi, "The validity of Monte Carlo simulation in studies
   of scattered radiation in diagnostic radiology", Phys. Med. Biol. 28:109 (1983).
.. [3] G. Hajdok, J. J. Battista, I. A. Cunningham, "Fundamental x-ray interaction limits in
   diagnostic imaging detectors: spatial resolution", Med. Phys. 35:3180 (2008), and "...:
   frequency-dependent Swank noise", Med. Phys. 35:3194 (2008).
.. [4] W. Zhao, G. Ristic, J. A. Rowlands, "X-ray imaging performance of structured cesium
   iodide scintillators", Med. Phys. 31:2594-2605 (2004): optical Swank factor 0.91-0.93
   below the K edge; MTF falls with thickness L and scales roughly with f*L.
.. [5] E. Samei, M. J. Flynn, "An experimental comparison of detector performance for direct
   and indirect digital radiography systems", Med. Phys. 30:608-622 (2003); R. Granfors,
   R. Aufrichtig, "Performance of a 41x41 cm^2 amorphous silicon flat panel x-ray detector
   for radiographic imaging applications", Med. Phys. 27:1324 (2000): CsI panels at RQA5,
   DQE(0) ~ 0.65-0.75.
.. [6] J. H. Siewerdsen, D. A. Jaffray, "A ghost story: spatio-temporal response
   characteristics of an indirect-detection flat-panel imager", Med. Phys. 26:1624 (1999).
.. [7] J. A. Seibert, O. Nalcioglu, W. Roeck, "Removal of image intensifier veiling glare by
   mathematical deconvolution techniques", Med. Phys. 12:281-288 (1985).
.. [8] J. M. Boone, J. A. Seibert, W. A. Barrett, E. A. Blood, "Analysis and correction of
   imperfections in the image intensifier-TV-digitizer imaging chain", Med. Phys. 18:236
   (1991); S. Rudin, D. R. Bednarek, R. Wong, "Accurate characterization of image intensifier
   distortion", Med. Phys. 18:1145 (1991).
.. [9] J. T. Bushberg, J. A. Seibert, E. M. Leidholdt, J. M. Boone, The Essential Physics of
   Medical Imaging, 3rd ed. (2012), ch. 9 (image intensifier: input phosphor, flux and
   minification gain, magnification modes, vignetting, pincushion).
.. [10] T. Schoonjans et al., "The xraylib library for X-ray-matter interactions. Recent
   developments", Spectrochim. Acta B 66:776 (2011): partial cross sections, K-shell
   fluorescence yields, line energies and radiative rates used here.
.. [11] M. Nikl, "Scintillation detectors for x-rays", Meas. Sci. Technol. 17:R37 (2006):
   CsI:Tl light yield ~54 photons/keV (also the Saint-Gobain CsI(Tl) data sheet).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import scipy.fft
from scipy import special

from sim.params import II_MAX_FOV_CM
from sim.units import MM2_PER_CM2, MM_PER_CM, MM_PER_UM, NGY_PER_UGY
from sim.validate import check_number

__all__ = [
    "Detected",
    "apply_lag",
    "deposition_moments",
    "detect",
    "detect_flat",
    "NoiseModel",
    "dqe0",
    "draw_signal",
    "expected_signal",
    "gain_e_per_keV",
    "ii_brightness_gain",
    "ii_dose_factor",
    "ii_input_mask",
    "ii_output_map",
    "mtf",
    "noise_model",
    "open_field_signal",
    "gain_reference",
    "pincushion",
    "quantum_detection_efficiency",
    "receptor_figures",
    "receptor_weights",
    "standard_normal_f32",
    "vignetting",
]

# --------------------------------------------------------------------------------------------
# constants (sources in the module docstring; guesses marked)
# --------------------------------------------------------------------------------------------
ELECTRON_REST_ENERGY_KEV = 510.99895  # m_e c^2, CODATA 2018 [keV]

CSI_PACKING_FRACTION = 0.80
# guess: vapour-deposited columnar (needle) CsI is commonly quoted at 75-80 % of the bulk
# density (4.51 g/cm^3); 0.80 taken, no primary source checked.

FP_COVER_LAYERS: tuple[tuple[str, float], ...] = (("carbon_fibre", 1.0),)
# guess: flat-panel entrance cover, 1 mm carbon-fibre composite [(material, mm)].

II_CSI_UM = 400.0
# [R] image-intensifier CsI input phosphor ~300-450 um (Bushberg et al. 2012, ch. 9); 400 um.
II_WINDOW_LAYERS: tuple[tuple[str, float], ...] = (("Al", 1.0), ("Al", 0.5))
# guess: II input window 1 mm Al plus 0.5 mm Al phosphor substrate [(material, mm)].

OPTICAL_SWANK = 0.91
# Zhao, Ristic & Rowlands 2004: Swank factor of columnar CsI below the K edge 0.91 (HR) and
# 0.93 (HL), i.e. the optical (light-yield) part; taken as thickness independent.

CSI_LIGHT_YIELD_PER_KEV = 54.0  # CsI:Tl optical photons per keV absorbed (Nikl 2006)
OPTICAL_COUPLING = 0.55
# guess: fraction of the light that leaves the CsI and reaches the photodiodes (0.5-0.6).
PHOTODIODE_QE = 0.75
# guess: a-Si:H photodiode quantum efficiency x fill factor at 550 nm (0.7-0.8).

PHOSPHOR_LSF_PER_THICKNESS = 0.195
# guess: exponential LSF exp(-|x|/a)/(2a) with a = 0.195 * thickness, i.e. a Lorentzian MTF
# 1/(1 + (2 pi a f)^2) depending on f*L as in Zhao et al. 2004; the constant is chosen so that
# 600 um CsI has a phosphor MTF of 0.65 at 1 cycle/mm (presampled MTF with a 150 um pixel
# ~0.63 at 1 and ~0.27 at 2 cycles/mm), typical of published CsI panels (Samei & Flynn 2003).

II_FOV_RANGE_CM = (15.0, II_MAX_FOV_CM)  # magnification modes of the issue (15-40 cm input field)
II_OUTPUT_DIAMETER_MM = 25.0  # [R] output phosphor diameter (Bushberg et al. 2012)
II_FLUX_GAIN = 50.0  # [R] typical flux gain (Bushberg et al. 2012)
II_OUTPUT_BLUR_MM = 0.012
# guess: Gaussian sigma of electron optics + output phosphor + camera optics at the 25 mm
# output; scaled to the input by FOV / 25 mm (so magnification modes sharpen the image).
II_CAMERA_PX = 1024  # guess: CCD camera lines across the output image
II_CAMERA_NOISE_KEV = 100.0
# guess: rms camera noise per camera pixel, expressed as the energy absorbed in the input
# phosphor that gives the same output (~2 absorbed 50-keV quanta): the II is quantum limited
# at normal doses thanks to its gain.
II_GLARE_RANGE_PER_FOV = 0.1
# guess: veiling-glare PSF exp(-r/rho)/(2 pi rho^2) with rho = 0.1 * FOV (cm scale); the
# exponential form follows Seibert et al. 1985.
II_VIGNETTING_EDGE = 0.12
# guess: optical vignetting, brightness at the edge of the field (r = FOV/2) 12 % below the
# centre, cos^4 model; with the pincushion's areal stretch (below) the edge of a 30 cm field is
# ~23 % darker in all (10-25 % typical of IIs).
II_PINCUSHION_K_MAX = 0.06
# guess: radial distortion r' = r (1 + k (r/R)^2), k = 0.06 at 40 cm FOV scaled as (FOV/40)^2
# (less of the curved input surface is used in magnification modes).

_CENTRE_FRACTION = 0.125  # side of the central region used for dqe0 in detect() [fraction]
_GL_NODES = 48  # Gauss-Legendre nodes for the depth integral of the escape probability

KINDS = ("flat_panel", "image_intensifier")

_CSI = "csi"
_CSI_Z = (53, 55)  # I, Cs


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------
def _materials():
    """The sim.materials module (imported lazily to keep import order free)."""
    from sim import materials

    return materials


def _fmt(x: Any) -> str:
    try:
        return f"{float(x):g}"
    except (TypeError, ValueError):
        return repr(x)


def _check_energy(energy_keV: Any) -> np.ndarray:
    e = np.asarray(energy_keV, dtype=np.float64)
    if e.ndim != 1 or e.size == 0:
        raise ValueError(f"energy_keV must be a non-empty 1-D array, got shape {e.shape}")
    if not np.all(np.isfinite(e)) or e.min() < 1.0 or e.max() > 1000.0:
        bad = e[~np.isfinite(e) | (e < 1.0) | (e > 1000.0)][0]
        raise ValueError(f"energy_keV contains {bad!r}, out of range [1, 1000] keV")
    return e


def _frozen(a: np.ndarray) -> np.ndarray:
    a = np.array(a, dtype=np.float64)
    a.flags.writeable = False
    return a


def _receptor_section(params: Any):
    rec = getattr(params, "receptor", params)
    if not hasattr(rec, "kind") or not hasattr(rec, "csi_um"):
        raise ValueError(
            f"params must be a sim.Params (or its receptor section), got {type(params).__name__}"
        )
    if rec.kind not in KINDS:
        raise ValueError(f"receptor.kind={rec.kind!r} is invalid: expected one of {KINDS}")
    return rec


def _fov_cm(params: Any) -> float:
    g = getattr(params, "geometry", None)
    if g is None:
        raise ValueError("the image intensifier needs geometry.fov_cm: pass a sim.Params")
    return float(g.fov_cm)


def _check_ii_fov(fov_cm: Any) -> float:
    lo, hi = II_FOV_RANGE_CM
    return check_number("geometry.fov_cm (image intensifier)", fov_cm, lo, hi, "cm")


def _layers_for(kind: str, csi_um: float) -> tuple[float, tuple[tuple[str, float], ...]]:
    """CsI thickness [um] and entrance layers for a receptor kind."""
    if kind == "image_intensifier":
        return II_CSI_UM, II_WINDOW_LAYERS
    return float(csi_um), FP_COVER_LAYERS


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
def _response(
    csi_um: float, layers: tuple[tuple[str, float], ...], energies: tuple[float, ...]
) -> dict[str, np.ndarray]:
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
        "qde": _frozen(qde),
        "window": _frozen(window),
        "m1": _frozen(qde * m1),
        "m2": _frozen(qde * m2),
        "escape_keV": _frozen(qde * escape_keV),
    }


def quantum_detection_efficiency(
    energy_keV: Any, csi_um: float = 600.0, kind: str = "flat_panel"
) -> np.ndarray:
    """Probability that a photon crosses the cover and interacts in the CsI layer.

    ``QDE(E) = T_cover(E) * (1 - exp(-mu_CsI(E) * f_pack * L))`` with the total attenuation of
    CsI (xraylib) at packing fraction :data:`CSI_PACKING_FRACTION`.

    Parameters
    ----------
    energy_keV : array_like
        Photon energies [keV].
    csi_um : float
        CsI thickness, in [200, 700] (ignored for the image intensifier: 400 um) [um].
    kind : str
        ``"flat_panel"`` or ``"image_intensifier"``.

    Returns
    -------
    numpy.ndarray
        QDE per energy, in [0, 1] [-].

    References
    ----------
    J. H. Hubbell, S. M. Seltzer, NIST SRD 126, via xraylib (Schoonjans et al. 2011);
    Swank, J. Appl. Phys. 44:4199 (1973).
    """
    return deposition_moments(energy_keV, csi_um, kind)["qde"]


def deposition_moments(
    energy_keV: Any, csi_um: float = 600.0, kind: str = "flat_panel"
) -> dict[str, np.ndarray]:
    """Moments of the energy deposited in the CsI per incident photon.

    Parameters
    ----------
    energy_keV : array_like
        Photon energies [keV].
    csi_um : float
        CsI thickness, in [200, 700] (ignored for the image intensifier) [um].
    kind : str
        ``"flat_panel"`` or ``"image_intensifier"``.

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
    if kind not in KINDS:
        raise ValueError(f"kind={kind!r} is invalid: expected one of {KINDS}")
    csi = check_number("csi_um", csi_um, 200.0, 700.0, "um")
    e = _check_energy(energy_keV)
    thick, layers = _layers_for(kind, csi)
    r = dict(_response(thick, layers, tuple(e.tolist())))
    with np.errstate(invalid="ignore", divide="ignore"):
        sw = np.where(r["m2"] > 0, r["m1"] ** 2 / (r["qde"] * r["m2"]), 0.0)
    r["swank_x"] = _frozen(sw)
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
def _weights_cached(kind: str, csi_um: float, energies: tuple[float, ...]) -> dict:
    e = np.asarray(energies)
    r = deposition_moments(e, csi_um, kind)
    return {
        "quanta": _frozen(np.ones_like(e)),
        "kerma_uGy": _frozen(_kerma_weights_uGy_mm2(e)),
        "abs_quanta": r["qde"],
        "abs_energy_keV": r["m1"],
        "abs_energy2_keV2": r["m2"],
    }


def receptor_weights(params: Any, energy_keV: Any) -> dict[str, np.ndarray]:
    """Energy weights of the receptor, per photon per mm^2, for ``projection.integrate``.

    Parameters
    ----------
    params : sim.Params
        Uses ``receptor.kind`` and ``receptor.csi_um``.
    energy_keV : array_like
        Photon energies, normally ``sim.spectrum.ENERGY_KEV`` [keV].

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
    rec = _receptor_section(params)
    e = _check_energy(energy_keV)
    return dict(_weights_cached(rec.kind, float(rec.csi_um), tuple(e.tolist())))


# --------------------------------------------------------------------------------------------
# gain, Swank, DQE(0)
# --------------------------------------------------------------------------------------------
def gain_e_per_keV(params: Any = None) -> float:
    """Flat-panel gain: photodiode electrons per keV absorbed in the CsI [e-/keV].

    light yield (54 photons/keV, Nikl 2006) x optical coupling (0.55, guess) x photodiode
    QE and fill factor (0.75, guess) = 22.3 e-/keV.

    Parameters
    ----------
    params : sim.Params, optional
        Unused (the gain is fixed); accepted for a uniform call style.

    Returns
    -------
    float
        Electrons per keV absorbed [e-/keV].

    References
    ----------
    M. Nikl, Meas. Sci. Technol. 17:R37 (2006); Saint-Gobain CsI(Tl) data sheet.
    """
    return CSI_LIGHT_YIELD_PER_KEV * OPTICAL_COUPLING * PHOTODIODE_QE


def _native_pixel_mm(params: Any) -> float:
    """Native (binned) pixel pitch [mm]; the camera pixel at the input for the II."""
    rec = _receptor_section(params)
    if rec.kind == "image_intensifier":
        return _check_ii_fov(_fov_cm(params)) * MM_PER_CM / II_CAMERA_PX
    return float(rec.pixel_um) * MM_PER_UM * int(rec.binning)


def _additive_sigma_keV(params: Any) -> float:
    """Additive noise per native pixel (FP electronics, II camera) in keV absorbed [keV]."""
    rec = _receptor_section(params)
    if rec.kind == "image_intensifier":
        return II_CAMERA_NOISE_KEV
    # digital binning: a binned pixel sums binning^2 native pixels, each with sigma_e
    return float(rec.electronic_noise_e) * int(rec.binning) / gain_e_per_keV()


def _dqe_from_moments(q: float, m0: float, m1: float, m2: float, params: Any) -> dict:
    """DQE(0) and its factors from fluence and deposition moments per mm^2."""
    sigma = _additive_sigma_keV(params)
    a_native = _native_pixel_mm(params) ** 2
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


def receptor_figures(
    params: Any, spectrum_at_receptor: Any, receptor_kerma_nGy: float
) -> dict[str, float]:
    """QDE, Swank factors, gain and DQE(0) for a spectrum and air kerma at the receptor.

    Parameters
    ----------
    params : sim.Params
        Receptor knobs (and ``geometry.fov_cm`` for the image intensifier).
    spectrum_at_receptor : sim.spectrum.Spectrum
        Spectrum reaching the receptor; only its shape matters [1/(mm^2 mAs)].
    receptor_kerma_nGy : float
        Air kerma at the receptor per frame, in (0, 1e7] [nGy].

    Returns
    -------
    dict of str to float
        ``qde`` (spectrum-averaged QDE), ``swank_x`` (x-ray Swank factor), ``swank``
        (x-ray x optical), ``dqe0_quantum`` (= qde x swank, no additive noise),
        ``additive_to_quantum`` (additive / quantum noise variance), ``dqe0``,
        ``fluence_per_nGy`` [1/(mm^2 nGy)], ``quanta_per_native_pixel`` (incident),
        ``gain_e_per_keV``.

    References
    ----------
    Swank (1973); I. A. Cunningham, "Applied linear-systems theory", in Handbook of Medical
    Imaging Vol. 1, SPIE (2000), ch. 2: DQE(0) = QDE x I / (1 + additive/quantum variance).
    """
    k_ngy = check_number("receptor_kerma_nGy", receptor_kerma_nGy, 0.0, 1e7, "nGy")
    if k_ngy <= 0.0:
        raise ValueError(f"receptor_kerma_nGy={_fmt(receptor_kerma_nGy)} must be > 0 nGy")
    e = np.asarray(getattr(spectrum_at_receptor, "energy_keV", None), dtype=np.float64)
    phi = np.asarray(getattr(spectrum_at_receptor, "fluence", None), dtype=np.float64)
    if e.ndim != 1 or phi.shape != e.shape:
        raise ValueError("spectrum_at_receptor must have energy_keV and fluence arrays")
    w = receptor_weights(params, e)
    kerma_uGy = float(phi @ w["kerma_uGy"])
    if kerma_uGy <= 0.0:
        raise ValueError("spectrum_at_receptor has zero air kerma")
    scale = k_ngy / (kerma_uGy * NGY_PER_UGY)  # per mm^2 at the requested kerma
    q = float(phi.sum()) * scale
    m0 = float(phi @ w["abs_quanta"]) * scale
    m1 = float(phi @ w["abs_energy_keV"]) * scale
    m2 = float(phi @ w["abs_energy2_keV2"]) * scale
    out = _dqe_from_moments(q, m0, m1, m2, params)
    out["fluence_per_nGy"] = q / k_ngy
    out["quanta_per_native_pixel"] = q * _native_pixel_mm(params) ** 2
    out["gain_e_per_keV"] = gain_e_per_keV()
    return out


def dqe0(params: Any, spectrum_at_receptor: Any, receptor_kerma_nGy: float) -> float:
    """Zero-frequency detective quantum efficiency at a given receptor air kerma.

    ``DQE(0) = QDE * I_x * I_opt / (1 + sigma_add^2 / sigma_quantum^2)``, with the variances
    per native pixel at that kerma (electronic noise for the flat panel, camera noise for the
    image intensifier).

    Parameters
    ----------
    params : sim.Params
        Receptor knobs.
    spectrum_at_receptor : sim.spectrum.Spectrum
        Spectrum at the receptor (shape only) [1/(mm^2 mAs)].
    receptor_kerma_nGy : float
        Air kerma at the receptor per frame [nGy].

    Returns
    -------
    float
        DQE(0) [-].

    References
    ----------
    Swank (1973); Cunningham (2000); Granfors & Aufrichtig (2000) and Samei & Flynn (2003)
    for measured CsI panels at RQA5 (DQE(0) ~ 0.65-0.75).
    """
    return float(receptor_figures(params, spectrum_at_receptor, receptor_kerma_nGy)["dqe0"])


# --------------------------------------------------------------------------------------------
# MTF
# --------------------------------------------------------------------------------------------
def _phosphor_range_mm(params: Any) -> float:
    rec = _receptor_section(params)
    thick, _ = _layers_for(rec.kind, float(rec.csi_um))
    return PHOSPHOR_LSF_PER_THICKNESS * thick * MM_PER_UM


def _ii_sigma_mm(fov_cm: float) -> float:
    """Gaussian blur of the II output chain referred to the input plane [mm]."""
    return II_OUTPUT_BLUR_MM * fov_cm * MM_PER_CM / II_OUTPUT_DIAMETER_MM


def mtf(params: Any, f_cyc_per_mm: Any) -> np.ndarray:
    """Presampled MTF along a detector axis: phosphor x (II optics) x pixel aperture.

    Flat panel: ``1/(1 + (2 pi a f)^2) * |sinc(p f)|`` with a = 0.195 L (exponential LSF of a
    CsI layer of thickness L, guess calibrated to published panels) and p the native (binned)
    pixel. Image intensifier: 400 um CsI phosphor x Gaussian of the electron optics / output
    phosphor referred to the input (sigma scales with the FOV) x camera-pixel sinc.

    Parameters
    ----------
    params : sim.Params
        Receptor knobs (and ``geometry.fov_cm`` for the image intensifier).
    f_cyc_per_mm : array_like
        Spatial frequencies at the receptor plane, >= 0 [1/mm].

    Returns
    -------
    numpy.ndarray
        MTF values in [0, 1], 1 at f = 0 [-].

    References
    ----------
    Zhao, Ristic & Rowlands, Med. Phys. 31:2594 (2004); Samei & Flynn, Med. Phys. 30:608
    (2003); Boone et al., Med. Phys. 18:236 (1991) (II MTF).
    """
    rec = _receptor_section(params)
    f = np.asarray(f_cyc_per_mm, dtype=np.float64)
    if not np.all(np.isfinite(f)) or np.any(f < 0):
        raise ValueError("f_cyc_per_mm must be finite and >= 0 [1/mm]")
    a = _phosphor_range_mm(params)
    out = 1.0 / (1.0 + (2.0 * np.pi * a * f) ** 2)
    if rec.kind == "image_intensifier":
        s = _ii_sigma_mm(_check_ii_fov(_fov_cm(params)))
        out = out * np.exp(-2.0 * (np.pi * s * f) ** 2)
    out = out * np.abs(np.sinc(_native_pixel_mm(params) * f))
    return out


# --------------------------------------------------------------------------------------------
# blur on the simulated grid
# --------------------------------------------------------------------------------------------
_DIRECT_TAPS_MAX = 9  # kernels up to this length are applied by direct convolution
_KERNEL_TAIL = 2e-3  # kernel taps are cut where the two tails together hold less than this


@lru_cache(maxsize=64)
def _kernel_1d(pixel_mm: float, a_mm: float, sigma_mm: float, w_mm: float) -> np.ndarray:
    """Pixel-integrated 1-D line-spread kernel on the simulated grid (sum 1, odd length).

    The continuous LSF is exponential (phosphor, range ``a_mm``) convolved with a Gaussian
    (``sigma_mm``, II optics) and a box (``w_mm``, extra aperture); each tap integrates it over
    one simulated pixel, so white noise per pixel filtered by it has the right correlations.
    """
    scales = [s for s in (a_mm, sigma_mm, w_mm) if s > 0.0]
    extent = 12.0 * a_mm + 6.0 * sigma_mm + w_mm + pixel_mm
    step = min([pixel_mm] + scales) / 16.0
    n_half = int(math.ceil(extent / step))
    x = np.arange(-n_half, n_half + 1) * step
    lsf = np.zeros_like(x)
    lsf[n_half] = 1.0
    if a_mm > 0.0:
        lsf = np.convolve(lsf, np.exp(-np.abs(x) / a_mm), mode="same")
    if sigma_mm > 0.0:
        lsf = np.convolve(lsf, np.exp(-0.5 * (x / sigma_mm) ** 2), mode="same")
    if w_mm > 0.0:
        lsf = np.convolve(lsf, (np.abs(x) <= 0.5 * w_mm).astype(float), mode="same")
    lsf /= lsf.sum()
    # integrate over pixels: pixel k covers (k - 1/2, k + 1/2) * pixel_mm
    k_max = int(math.ceil(extent / pixel_mm)) + 1
    edges = (np.arange(-k_max, k_max + 2) - 0.5) * pixel_mm
    cdf = np.concatenate([[0.0], np.cumsum(lsf)])
    xc = np.concatenate([[x[0] - 0.5 * step], x + 0.5 * step])
    taps = np.diff(np.interp(edges, xc, cdf))
    # cut the tails symmetrically, keep the sum at 1
    tail = np.cumsum(taps[: k_max + 1])  # mass left of tap k
    keep = int(np.searchsorted(tail, 0.5 * _KERNEL_TAIL))
    taps = taps[keep : taps.size - keep]
    taps = (taps / taps.sum()).astype(np.float32)
    taps.flags.writeable = False
    return taps


@lru_cache(maxsize=32)
def _kernel_dft(taps_key: tuple[float, ...], n: int, full: bool) -> np.ndarray:
    """DFT (length n; full or real half) of a centred symmetric kernel, float32."""
    taps = np.asarray(taps_key)
    half = taps.size // 2
    h = np.zeros(n)
    h[: half + 1] = taps[half:]
    h[n - half :] = taps[:half]
    out = np.real(np.fft.fft(h) if full else np.fft.rfft(h)).astype(np.float32)
    out.flags.writeable = False
    return out


def _convolve_axis(x: np.ndarray, taps: np.ndarray, axis: int) -> np.ndarray:
    """Symmetric short kernel along ``axis`` with reflect boundaries (numpy 'reflect' mode).

    Slices are taken along ``axis`` in place (no axis move), so every operation runs over
    memory in its own order; the arithmetic is the same, term by term.
    """
    n = x.shape[axis]
    half = taps.size // 2
    lead = (slice(None),) * (axis % x.ndim)

    def at(start: int | None, stop: int | None) -> tuple:
        return (*lead, slice(start, stop))

    acc = x * taps[half]
    for j in range(1, half + 1):
        t = taps[half + j]
        acc[at(j, None)] += t * x[at(None, -j)]
        acc[at(None, -j)] += t * x[at(j, None)]
        for i in range(j):  # reflected neighbours beyond the edges
            acc[at(i, i + 1)] += t * x[at(j - i, j - i + 1)]
            acc[at(n - 1 - i, n - i)] += t * x[at(n - 1 - (j - i), n - (j - i))]
    return acc


def _blur(images: np.ndarray, pixel_mm: float, a_mm: float, sigma_mm: float, w_mm: float):
    """Separable blur of a stack (k, ny, nx) with the pixel-integrated kernel, reflect edges.

    The 2-D point-spread function is taken as the product of the 1-D ones along x and y
    (exact along the axes, where the presampled MTF is defined; an approximation on the
    diagonals). Short kernels are applied directly, long ones through the FFT.
    """
    taps = _kernel_1d(float(pixel_mm), float(a_mm), float(sigma_mm), float(w_mm))
    if taps.size == 1:
        return images
    half = taps.size // 2
    ny, nx = images.shape[-2:]
    if half >= min(ny, nx):
        raise ValueError(
            f"blur kernel ({taps.size} px) is wider than the image ({ny}x{nx} px): "
            "use more pixels or a larger field of view"
        )
    if taps.size <= _DIRECT_TAPS_MAX:
        return _convolve_axis(_convolve_axis(images, taps, 1), taps, 2)
    padded = np.pad(images, ((0, 0), (half, half), (half, half)), mode="reflect")
    py = scipy.fft.next_fast_len(padded.shape[-2], real=True)
    px = scipy.fft.next_fast_len(padded.shape[-1], real=True)
    key = tuple(float(t) for t in taps)
    spec = scipy.fft.rfft2(padded, s=(py, px), axes=(-2, -1))
    spec *= _kernel_dft(key, py, True)[:, None] * _kernel_dft(key, px, False)[None, :]
    out = scipy.fft.irfft2(spec, s=(py, px), axes=(-2, -1))
    return np.ascontiguousarray(out[:, half : half + ny, half : half + nx], dtype=np.float32)


def _aperture_extra_mm(native_mm: float, pixel_mm: float) -> float:
    """Extra box blur when the native pixel is larger than the simulated one [mm].

    A simulated pixel already integrates over its own area (white noise per pixel); when the
    native pixel is larger, the image is an oversampled rendition of the coarser detector: add a
    box of width sqrt(p^2 - d^2) (box widths add in quadrature, to second moment).
    """
    return math.sqrt(max(native_mm**2 - pixel_mm**2, 0.0))


# --------------------------------------------------------------------------------------------
# image-intensifier effects
# --------------------------------------------------------------------------------------------
def ii_brightness_gain(fov_cm: float) -> float:
    """Brightness gain of the image intensifier: flux gain x minification gain.

    Minification gain = (input field diameter / output diameter)^2, so a magnification mode
    (smaller FOV) lowers the brightness per unit input air kerma as FOV^2 and automatic
    brightness control raises the input dose as (FOV_max / FOV)^2.

    Parameters
    ----------
    fov_cm : float
        Input field of view (magnification mode), in [15, 40] [cm].

    Returns
    -------
    float
        Brightness gain [-] (about 5000-13000 for 25-40 cm).

    References
    ----------
    Bushberg et al., The Essential Physics of Medical Imaging, 3rd ed. (2012), ch. 9.
    """
    fov = _check_ii_fov(fov_cm)
    return II_FLUX_GAIN * (fov * MM_PER_CM / II_OUTPUT_DIAMETER_MM) ** 2


def ii_dose_factor(fov_cm: float) -> float:
    """Input-dose factor of a magnification mode, (FOV_max / FOV)^2 [-].

    Parameters
    ----------
    fov_cm : float
        Input field of view, in [15, 40] [cm].

    Returns
    -------
    float
        Ratio of the input air kerma ABC needs at ``fov_cm`` to that at 40 cm [-].

    References
    ----------
    Bushberg et al. (2012), ch. 9 (magnification modes).
    """
    return ii_brightness_gain(II_FOV_RANGE_CM[1]) / ii_brightness_gain(fov_cm)


def _centred_radius_mm(shape: tuple[int, int], pixel_mm: float) -> np.ndarray:
    ny, nx = shape
    y = (np.arange(ny) - 0.5 * (ny - 1)) * pixel_mm
    x = (np.arange(nx) - 0.5 * (nx - 1)) * pixel_mm
    return np.hypot(y[:, None], x[None, :])


@lru_cache(maxsize=16)
def _vignetting_map(shape: tuple[int, int], pixel_mm: float, fov_mm: float) -> np.ndarray:
    r = _centred_radius_mm(shape, pixel_mm)
    radius = 0.5 * fov_mm
    # cos^4 law: V = 1/(1 + (r/L)^2)^2, L chosen so V(FOV/2) = 1 - II_VIGNETTING_EDGE
    r_over_l = math.sqrt((1.0 - II_VIGNETTING_EDGE) ** -0.5 - 1.0)
    v = (1.0 / (1.0 + (r * r_over_l / radius) ** 2) ** 2).astype(np.float32)
    v.flags.writeable = False
    return v


@lru_cache(maxsize=16)
def _output_map(shape: tuple[int, int], pixel_mm: float, fov_mm: float) -> np.ndarray:
    r = _centred_radius_mm(shape, pixel_mm)
    inside = np.clip((0.5 * fov_mm - r) / pixel_mm + 0.5, 0.0, 1.0)  # anti-aliased circle
    out = (_vignetting_map(shape, pixel_mm, fov_mm) * inside).astype(np.float32)
    out.flags.writeable = False
    return out


def ii_output_map(shape: tuple[int, int], pixel_mm: float, fov_cm: float) -> np.ndarray:
    """Relative brightness of the image-intensifier output over the image: vignetting inside
    the circular input field, nothing outside it (no input phosphor there) [-].

    Parameters
    ----------
    shape : tuple of int
        Image shape (ny, nx) [px].
    pixel_mm : float
        Image pixel at the receptor [mm].
    fov_cm : float
        Input field of view (diameter of the input phosphor in use) [cm].

    Returns
    -------
    numpy.ndarray
        float32 map in [0, 1] [-].

    References
    ----------
    Bushberg et al. (2012), ch. 9 (circular input phosphor, vignetting).
    """
    px = check_number("pixel_mm", pixel_mm, 1e-4, 100.0, "mm")
    fov = _check_ii_fov(fov_cm)
    return _output_map(tuple(int(s) for s in shape), px, fov * MM_PER_CM)


def vignetting(shape: tuple[int, int], pixel_mm: float, fov_cm: float) -> np.ndarray:
    """Relative brightness of the image-intensifier output, 1 at the centre.

    cos^4 fall-off ``1/(1 + (r/L)^2)^2`` with L set so that the edge of the field (r = FOV/2)
    is 15 % darker (guess within the 10-25 % typical of IIs).

    Parameters
    ----------
    shape : tuple of int
        Image shape (ny, nx) [px].
    pixel_mm : float
        Image pixel at the receptor [mm].
    fov_cm : float
        Input field of view [cm].

    Returns
    -------
    numpy.ndarray
        float32 map in (0, 1] [-].

    References
    ----------
    Boone et al., Med. Phys. 18:236 (1991); Bushberg et al. (2012), ch. 9.
    """
    px = check_number("pixel_mm", pixel_mm, 1e-4, 100.0, "mm")
    fov = _check_ii_fov(fov_cm)
    return _vignetting_map(tuple(int(s) for s in shape), px, fov * MM_PER_CM)


def ii_input_mask(shape: tuple[int, int], pixel_mm: float, fov_cm: float) -> np.ndarray:
    """Circular input field of the image intensifier (diameter = FOV): bool map [-].

    Parameters
    ----------
    shape : tuple of int
        Image shape (ny, nx) [px].
    pixel_mm : float
        Image pixel at the receptor [mm].
    fov_cm : float
        Input field of view [cm].

    Returns
    -------
    numpy.ndarray
        True inside the circular input field.

    References
    ----------
    Bushberg et al. (2012), ch. 9 (circular input phosphor).
    """
    px = check_number("pixel_mm", pixel_mm, 1e-4, 100.0, "mm")
    fov = _check_ii_fov(fov_cm)
    return _centred_radius_mm(tuple(int(s) for s in shape), px) <= 0.5 * fov * MM_PER_CM


@dataclass(frozen=True, eq=False)
class _Remap:
    """Bilinear gather of a radial remap: flat indices, weights and areal magnification."""

    idx: np.ndarray  # (4, ny*nx) int32 flat indices of the four neighbours
    wts: np.ndarray  # (4, ny*nx) float32 bilinear weights
    nearest: np.ndarray  # (ny*nx,) int32 flat index of the nearest neighbour
    inv_jacobian: np.ndarray  # (ny, nx) float32, 1 / local areal magnification

    def apply(self, image: np.ndarray) -> np.ndarray:
        """Bilinear resampling."""
        flat = image.reshape(-1)
        out = np.take(flat, self.idx[0]) * self.wts[0]
        for i in range(1, 4):
            out += np.take(flat, self.idx[i]) * self.wts[i]
        return out.reshape(image.shape)

    def apply_nearest(self, image: np.ndarray) -> np.ndarray:
        """Nearest-neighbour resampling (for smooth maps such as a noise variance)."""
        return np.take(image.reshape(-1), self.nearest).reshape(image.shape)


@lru_cache(maxsize=16)
def _pincushion_remap(shape: tuple[int, int], k: float) -> _Remap:
    ny, nx = shape
    cy, cx = 0.5 * (ny - 1), 0.5 * (nx - 1)
    radius = 0.5 * min(ny, nx)  # half the image side [px]
    y, x = np.mgrid[0:ny, 0:nx].astype(np.float64)
    dy, dx = y - cy, x - cx
    r_out = np.hypot(dy, dx) / radius
    # invert r_out = r (1 + k r^2) by Newton's method (monotone for k >= 0)
    r = r_out.copy()
    for _ in range(8):
        r -= (r * (1.0 + k * r * r) - r_out) / (1.0 + 3.0 * k * r * r)
    scale = np.divide(r, r_out, out=np.ones_like(r), where=r_out > 0)
    ys = np.clip(cy + dy * scale, 0.0, ny - 1.0)
    xs = np.clip(cx + dx * scale, 0.0, nx - 1.0)
    y0 = np.minimum(np.floor(ys).astype(np.int64), ny - 2 if ny > 1 else 0)
    x0 = np.minimum(np.floor(xs).astype(np.int64), nx - 2 if nx > 1 else 0)
    fy, fx = ys - y0, xs - x0
    y1, x1 = np.minimum(y0 + 1, ny - 1), np.minimum(x0 + 1, nx - 1)
    idx = np.stack([y0 * nx + x0, y0 * nx + x1, y1 * nx + x0, y1 * nx + x1]).reshape(4, -1)
    wts = np.stack([(1 - fy) * (1 - fx), (1 - fy) * fx, fy * (1 - fx), fy * fx]).reshape(4, -1)
    # areal magnification of the radial map: (r'/r) (dr'/dr)
    jac = (1.0 + k * r * r) * (1.0 + 3.0 * k * r * r)
    nearest = idx[np.argmax(wts, axis=0), np.arange(idx.shape[1])]
    remap = _Remap(
        idx.astype(np.int32),
        wts.astype(np.float32),
        nearest.astype(np.int32),
        (1.0 / jac).astype(np.float32),
    )
    for a in (remap.idx, remap.wts, remap.nearest, remap.inv_jacobian):
        a.flags.writeable = False
    return remap


def pincushion(image: Any, k: float) -> np.ndarray:
    """Pincushion distortion: the point at radius r appears at r (1 + k (r/R)^2).

    R is half the image side; the centre is unchanged and the periphery is stretched outward
    (magnified), as the curved input phosphor of an image intensifier does. Pure geometric
    remap (bilinear); the chain also divides intensities by the local areal magnification.

    Parameters
    ----------
    image : array_like
        2-D image [any units].
    k : float
        Distortion coefficient at r = R, in [0, 0.5] [-].

    Returns
    -------
    numpy.ndarray
        Distorted image, float32 [same units].

    References
    ----------
    Boone et al., Med. Phys. 18:236 (1991); Rudin, Bednarek & Wong, Med. Phys. 18:1145
    (1991) (radial third-order model of II distortion).
    """
    kk = check_number("k", k, 0.0, 0.5)
    img = np.asarray(image, dtype=np.float32)
    if img.ndim != 2 or min(img.shape) < 2:
        raise ValueError(f"image must be 2-D with at least 2x2 pixels, got shape {img.shape}")
    if kk == 0.0:
        return img.copy()
    return _pincushion_remap(img.shape, kk).apply(img)


def _ii_pincushion_k(fov_cm: float) -> float:
    return II_PINCUSHION_K_MAX * (fov_cm / II_FOV_RANGE_CM[1]) ** 2


_GLARE_COARSE_PX = 128  # veiling glare is computed on a grid of at most this many pixels


@lru_cache(maxsize=8)
def _glare_operators(
    shape: tuple[int, int], pixel_mm: float, rho_mm: float
) -> tuple[int, np.ndarray, tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
    """Block factor, kernel rfft2 on the zero-padded coarse grid, bilinear upsampling taps."""
    ny, nx = shape
    f = max(1, int(math.ceil(max(ny, nx) / _GLARE_COARSE_PX)))
    my, mx = -(-ny // f), -(-nx // f)
    py, px = 2 * my, 2 * mx  # zero padding: no wrap-around of the kernel
    cpix = pixel_mm * f
    yy = np.minimum(np.arange(py), py - np.arange(py)) * cpix
    xx = np.minimum(np.arange(px), px - np.arange(px)) * cpix
    r = np.hypot(yy[:, None], xx[None, :])
    kern = np.exp(-r / rho_mm) / (2.0 * np.pi * rho_mm**2) * cpix**2  # exp PSF, unit integral
    kft = scipy.fft.rfft2(kern).astype(np.complex64)

    def taps(n: int, m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        # bilinear interpolation from m coarse cell centres to n fine pixel centres
        pos = np.clip((np.arange(n) + 0.5) / f - 0.5, 0.0, m - 1.0)
        i0 = np.minimum(np.floor(pos).astype(np.intp), max(m - 2, 0))
        i1 = np.minimum(i0 + 1, m - 1)
        return i0, i1, (pos - i0).astype(np.float32)

    out = (f, kft, taps(ny, my), taps(nx, mx))
    kft.flags.writeable = False
    return out


def _block_mean(image: np.ndarray, f: int, my: int, mx: int) -> np.ndarray:
    ny, nx = image.shape
    a = np.pad(image, ((0, my * f - ny), (0, mx * f - nx)), mode="edge")
    a = a.reshape(my, f, mx * f).sum(axis=1)
    return a.reshape(my, mx, f).sum(axis=2) * np.float32(1.0 / (f * f))


def _glare_spread(image: np.ndarray, pixel_mm: float, fov_cm: float) -> np.ndarray:
    """The image convolved with the veiling-glare PSF (exponential, range 0.1 FOV).

    The cm-wide convolution runs on a block-averaged grid (<= 128 px) with zero padding (no
    light from outside the image) and is upsampled bilinearly.
    """
    rho = II_GLARE_RANGE_PER_FOV * fov_cm * MM_PER_CM
    f, kft, (y0, y1, ty), (x0, x1, tx) = _glare_operators(image.shape, float(pixel_mm), rho)
    my, mx = kft.shape[0] // 2, kft.shape[1] - 1  # rfft2 of the (2 my, 2 mx) padded grid
    coarse = _block_mean(image, f, my, mx)
    s = (2 * my, 2 * mx)
    spread = scipy.fft.irfft2(scipy.fft.rfft2(coarse, s=s) * kft, s=s)[:my, :mx]
    spread = spread.astype(np.float32)
    a = spread[y0, :] * (1.0 - ty)[:, None] + spread[y1, :] * ty[:, None]
    return a[:, x0] * (1.0 - tx) + a[:, x1] * tx


# --------------------------------------------------------------------------------------------
# detection
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Detected:
    """One detected frame.

    Attributes
    ----------
    signal : numpy.ndarray
        Detected image with noise, float32 [keV absorbed per simulated pixel].
    expected : numpy.ndarray
        Noise-free mean image, same processing (blur, glare, distortion) [keV per pixel].
    gain_e_per_keV : float
        Flat-panel electrons per keV absorbed; 0 for the image intensifier [e-/keV].
    dqe0 : float
        DQE(0) at the dose of the central region of this frame [-].
    swank : float
        x-ray x optical Swank factor of the central region [-].
    qde : float
        Spectrum-averaged quantum detection efficiency of the central region [-].
    mtf_f_cyc_per_mm : numpy.ndarray
        Frequencies of the presampled-MTF samples, 0 .. native Nyquist [1/mm].
    mtf : numpy.ndarray
        Presampled MTF at those frequencies [-].
    pixel_mm : float
        Simulated pixel at the receptor [mm].
    native_pixel_mm : float
        Native (binned) detector pixel; camera pixel at the input for the II [mm].
    additive_sigma_keV : float
        Additive (electronic or camera) noise per native pixel [keV].
    kind : str
        ``flat_panel`` or ``image_intensifier``.
    """

    signal: np.ndarray
    expected: np.ndarray
    gain_e_per_keV: float
    dqe0: float
    swank: float
    qde: float
    mtf_f_cyc_per_mm: np.ndarray
    mtf: np.ndarray
    pixel_mm: float
    native_pixel_mm: float
    additive_sigma_keV: float
    kind: str


_REQUIRED_MAPS = ("quanta", "abs_quanta", "abs_energy_keV", "abs_energy2_keV2")


def _check_maps(maps: Any) -> dict[str, np.ndarray]:
    if not isinstance(maps, dict):
        raise ValueError(f"maps must be a dict of images, got {type(maps).__name__}")
    missing = [k for k in _REQUIRED_MAPS if k not in maps]
    if missing:
        raise ValueError(f"maps lacks {missing}: expected the keys of receptor_weights()")
    out = {}
    shape = None
    for k in _REQUIRED_MAPS:
        a = np.asarray(maps[k], dtype=np.float32)
        if a.ndim != 2:
            raise ValueError(f"maps[{k!r}] must be 2-D, got shape {a.shape}")
        if shape is not None and a.shape != shape:
            raise ValueError(f"maps[{k!r}] has shape {a.shape}, expected {shape}")
        shape = a.shape
        lo, hi = (float(a.min()), float(a.max())) if a.size else (0.0, 0.0)
        if not (np.isfinite(lo) and np.isfinite(hi)) or lo < -1e-6 * max(hi, 0.0):
            raise ValueError(f"maps[{k!r}] must be finite and >= 0 (per mm^2 per frame)")
        out[k] = np.maximum(a, 0.0) if lo < 0.0 else a  # round-off below 0 clipped
    return out


def _pixel_mm_of(grid: Any, shape: tuple[int, int]) -> float:
    px = getattr(grid, "pixel_mm", grid)
    px = check_number("grid.pixel_mm", px, 1e-4, 100.0, "mm")
    n = getattr(grid, "n_px", None)
    if n is not None and int(n) != shape[-1]:
        raise ValueError(f"grid.n_px={n} does not match the maps' shape {shape}")
    return px


def _centre(shape: tuple[int, int]) -> tuple[slice, slice]:
    ny, nx = shape
    hy = max(1, int(round(ny * _CENTRE_FRACTION / 2)))
    hx = max(1, int(round(nx * _CENTRE_FRACTION / 2)))
    return slice(ny // 2 - hy, ny // 2 + hy), slice(nx // 2 - hx, nx // 2 + hx)


def _mtf_samples(params: Any) -> tuple[np.ndarray, np.ndarray]:
    nyq = 0.5 / _native_pixel_mm(params)
    f = np.linspace(0.0, nyq, 65)
    return _frozen(f), _frozen(mtf(params, f))


def _pipeline(
    mean: np.ndarray, m2: np.ndarray | None, params: Any, pixel_mm: float, rng: Any
) -> tuple[np.ndarray, np.ndarray, float]:
    """Mean (and quantum-noise) images through the receptor; returns (signal, expected, w).

    ``mean`` is the absorbed energy per simulated pixel [keV]; ``m2`` its second moment per
    pixel [keV^2] or None for the noise-free image only. Image intensifier: the pincushion
    remap acts on the maps before the noise (each output pixel sees input area / local areal
    magnification, so the stretched periphery gets fewer quanta), then blur, glare and
    vignetting; flat panel: blur only.
    """
    rec = _receptor_section(params)
    native = _native_pixel_mm(params)
    w = _aperture_extra_mm(native, pixel_mm)
    a = _phosphor_range_mm(params)
    ii = rec.kind == "image_intensifier"
    if ii:
        fov = _check_ii_fov(_fov_cm(params))
        remap = _pincushion_remap(mean.shape, _ii_pincushion_k(fov))
        mean = remap.apply(mean) * remap.inv_jacobian
        if m2 is not None:
            m2 = remap.apply_nearest(m2) * remap.inv_jacobian
    if m2 is not None:
        stack = np.empty((2, *mean.shape), dtype=np.float32)
        noisy = stack[0]
        np.multiply(m2, np.float32(1.0 / OPTICAL_SWANK), out=noisy)
        np.sqrt(noisy, out=noisy)
        noisy *= standard_normal_f32(rng, mean.shape)
        noisy += mean
        stack[1] = mean
    else:
        stack = mean[None]
    if ii:
        stack = _blur(stack, pixel_mm, a, _ii_sigma_mm(fov), w)
        g = float(rec.ii_glare)
        if g > 0.0:
            # veiling glare (1 - g) x + g (x ** K): the glare term of the noise is averaged
            # over cm^2 and negligible, so K acts on the noise-free image, shared by both
            glare = np.float32(g) * _glare_spread(stack[-1], pixel_mm, fov)
            stack = stack * np.float32(1.0 - g) + glare
        stack *= ii_output_map(stack.shape[-2:], pixel_mm, fov)
    else:
        stack = _blur(stack, pixel_mm, a, 0.0, w)
    return stack[0], stack[-1], w


def _noise_only(
    expected: np.ndarray, m2: np.ndarray | None, params: Any, pixel_mm: float, rng: Any
) -> np.ndarray:
    """``expected`` plus the quantum noise taken through the (linear) receptor response.

    The same operators as :func:`_pipeline` act on the noise alone: blur, and for the image
    intensifier the pincushion remap first and the (1 - glare) and vignetting factors after
    (glare acts on the noise-free image only, as in :func:`_pipeline`).
    """
    expected = np.asarray(expected, dtype=np.float32)
    if m2 is None:
        return expected.copy()
    rec = _receptor_section(params)
    w = _aperture_extra_mm(_native_pixel_mm(params), pixel_mm)
    a = _phosphor_range_mm(params)
    if rec.kind == "image_intensifier":
        fov = _check_ii_fov(_fov_cm(params))
        remap = _pincushion_remap(m2.shape, _ii_pincushion_k(fov))
        m2 = remap.apply_nearest(m2) * remap.inv_jacobian
    noise = np.multiply(m2, np.float32(1.0 / OPTICAL_SWANK))
    np.sqrt(noise, out=noise)
    noise *= standard_normal_f32(rng, noise.shape)
    if rec.kind == "image_intensifier":
        noise = _blur(noise[None], pixel_mm, a, _ii_sigma_mm(fov), w)[0]
        noise *= np.float32(1.0 - float(rec.ii_glare))
        noise *= ii_output_map(noise.shape, pixel_mm, fov)
    else:
        noise = _blur(noise[None], pixel_mm, a, 0.0, w)[0]
    return expected + noise


def detect(
    maps: dict[str, Any], params: Any, grid: Any, rng: Any = None, expected: Any = None
) -> Detected:
    """Detect one frame: absorbed energy, quantum noise, blur, additive noise.

    Parameters
    ----------
    maps : dict of str to ndarray
        Outputs of ``projection.integrate`` with :func:`receptor_weights` (primary + scatter
        after the grid), per mm^2 per frame: ``quanta``, ``abs_quanta``, ``abs_energy_keV``,
        ``abs_energy2_keV2`` (others ignored) [1/mm^2, keV/mm^2, keV^2/mm^2].
    params : sim.Params
        Receptor knobs, ``run.noise``, ``run.seed`` (if ``rng`` is None) and
        ``geometry.fov_cm`` (image intensifier).
    grid : geometry.DetectorGrid or float
        Simulated image grid (``pixel_mm`` at the receptor) or the pixel size itself [mm].
    rng : numpy.random.Generator, optional
        Source of all noise; default ``np.random.default_rng(params.run.seed)``.

    Returns
    -------
    Detected
        ``signal`` and ``expected`` in keV absorbed per simulated pixel, float32, plus
        gain, DQE(0), Swank factor, QDE and MTF samples.

    References
    ----------
    Swank (1973); Cunningham (2000) cascaded linear systems; Zhao et al. (2004); Siewerdsen &
    Jaffray (1999); Seibert et al. (1985); Boone et al. (1991) — see the module docstring.
    """
    rec = _receptor_section(params)
    m = _check_maps(maps)
    shape = m["abs_energy_keV"].shape
    pixel_mm = _pixel_mm_of(grid, shape)
    area = pixel_mm**2
    noise = bool(getattr(getattr(params, "run", None), "noise", True))
    if noise:
        if rng is None:
            rng = np.random.default_rng(int(getattr(params.run, "seed", 0)))
        if not isinstance(rng, np.random.Generator):
            raise ValueError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")

    mean = m["abs_energy_keV"] * np.float32(area)
    m2 = m["abs_energy2_keV2"] * np.float32(area) if noise else None
    if expected is None:
        signal, expected, w = _pipeline(mean, m2, params, pixel_mm, rng)
    else:
        signal = _noise_only(expected, m2, params, pixel_mm, rng)
        w = _aperture_extra_mm(_native_pixel_mm(params), pixel_mm)
    native = _native_pixel_mm(params)

    sigma = _additive_sigma_keV(params)
    if noise and sigma > 0.0:
        n_native = area / native**2
        e_noise = standard_normal_f32(rng, shape) * np.float32(sigma * math.sqrt(n_native))
        if w > 0.0:
            e_noise = _blur(e_noise[None], pixel_mm, 0.0, 0.0, w)[0]
        signal = signal + e_noise

    c = _centre(shape)
    figs = _dqe_from_moments(
        float(np.mean(m["quanta"][c])),
        float(np.mean(m["abs_quanta"][c])),
        float(np.mean(m["abs_energy_keV"][c])),
        float(np.mean(m["abs_energy2_keV2"][c])),
        params,
    )
    f, mt = _mtf_samples(params)
    return Detected(
        signal=np.ascontiguousarray(signal, dtype=np.float32),
        expected=np.ascontiguousarray(expected, dtype=np.float32),
        gain_e_per_keV=gain_e_per_keV() if rec.kind == "flat_panel" else 0.0,
        dqe0=float(figs["dqe0"]),
        swank=float(figs["swank"]),
        qde=float(figs["qde"]),
        mtf_f_cyc_per_mm=f,
        mtf=mt,
        pixel_mm=pixel_mm,
        native_pixel_mm=native,
        additive_sigma_keV=sigma,
        kind=rec.kind,
    )


# --------------------------------------------------------------------------------------------
# many frames of one scene (fluoroscopy runs)
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class NoiseModel:
    """The frame-invariant part of :func:`detect`, to draw many noisy frames of one scene.

    Everything the receptor does is linear in the quantum noise (blur; for the image
    intensifier the pincushion remap acts before the noise, ``(1 - glare)`` and vignetting
    after it, glare on the noise-free image only), so a frame is
    ``expected + gain * blur(quantum_sd * N1) + blur_w(additive_sd * N2)`` with ``N1``, ``N2``
    unit normal fields: the same model as :func:`detect`, with the maps, the noise-free image
    and the noise amplitudes prepared once.

    Attributes
    ----------
    detected : Detected
        Noise-free detection (``signal`` is ``expected``) with its figures (DQE(0), MTF, ...).
    quantum_sd : numpy.ndarray or None
        Standard deviation of the quantum noise per simulated pixel before the receptor blur,
        ``sqrt(M2 A / I_opt)`` (after the pincushion remap for the II); None without noise
        [keV].
    noise_gain : numpy.ndarray or None
        Image intensifier: ``(1 - ii_glare) * vignetting`` applied to the blurred noise;
        None for the flat panel [-].
    additive_sd : float
        Additive (electronic or camera) noise per simulated pixel, before the aperture blur;
        0 without noise [keV].
    blur_mm : tuple of float
        ``(pixel_mm, phosphor range, II Gaussian sigma, extra aperture)`` of the blur [mm].
    """

    detected: Detected
    quantum_sd: np.ndarray | None
    noise_gain: np.ndarray | None
    additive_sd: float
    blur_mm: tuple[float, float, float, float]

    @property
    def expected(self) -> np.ndarray:
        """Noise-free detected image, float32 [keV absorbed per simulated pixel]."""
        return self.detected.expected


def noise_model(maps: dict[str, Any], params: Any, grid: Any, expected: Any = None) -> NoiseModel:
    """Prepare :func:`draw_signal` for one scene (see :class:`NoiseModel`).

    Parameters
    ----------
    maps : dict of str to ndarray
        As for :func:`detect` [1/mm^2, keV/mm^2, keV^2/mm^2].
    params : sim.Params
        Receptor knobs, ``run.noise`` and ``geometry.fov_cm`` (image intensifier).
    grid : geometry.DetectorGrid or float
        Simulated image grid or its pixel size [mm].
    expected : array_like, optional
        The noise-free detector image of ``maps`` if already known
        (:func:`expected_signal`) [keV per simulated pixel].

    Returns
    -------
    NoiseModel
        Noise-free image, noise amplitudes and figures.

    References
    ----------
    As :func:`detect` (Swank 1973; Cunningham 2000; Siewerdsen & Jaffray 1999).
    """
    rec = _receptor_section(params)
    m = _check_maps(maps)
    shape = m["abs_energy_keV"].shape
    pixel_mm = _pixel_mm_of(grid, shape)
    area = pixel_mm**2
    noise = bool(getattr(getattr(params, "run", None), "noise", True))
    if expected is None:
        _, expected, _ = _pipeline(
            m["abs_energy_keV"] * np.float32(area), None, params, pixel_mm, None
        )
    expected = np.ascontiguousarray(expected, dtype=np.float32)
    if expected.shape != shape:
        raise ValueError(f"expected has shape {expected.shape}, the maps {shape}")
    native = _native_pixel_mm(params)
    w = _aperture_extra_mm(native, pixel_mm)
    a = _phosphor_range_mm(params)
    sigma_mm, gain, sd, add_sd = 0.0, None, None, 0.0
    if noise:
        m2 = m["abs_energy2_keV2"] * np.float32(area / OPTICAL_SWANK)
        if rec.kind == "image_intensifier":
            fov = _check_ii_fov(_fov_cm(params))
            remap = _pincushion_remap(shape, _ii_pincushion_k(fov))
            m2 = remap.apply_nearest(m2) * remap.inv_jacobian
            sigma_mm = _ii_sigma_mm(fov)
            gain = ii_output_map(shape, pixel_mm, fov) * np.float32(1.0 - float(rec.ii_glare))
        sd = np.sqrt(m2, dtype=np.float32)
        add_sd = _additive_sigma_keV(params) * math.sqrt(area / native**2)
    c = _centre(shape)
    figs = _dqe_from_moments(
        float(np.mean(m["quanta"][c])),
        float(np.mean(m["abs_quanta"][c])),
        float(np.mean(m["abs_energy_keV"][c])),
        float(np.mean(m["abs_energy2_keV2"][c])),
        params,
    )
    f, mt = _mtf_samples(params)
    det = Detected(
        signal=expected,
        expected=expected,
        gain_e_per_keV=gain_e_per_keV() if rec.kind == "flat_panel" else 0.0,
        dqe0=float(figs["dqe0"]),
        swank=float(figs["swank"]),
        qde=float(figs["qde"]),
        mtf_f_cyc_per_mm=f,
        mtf=mt,
        pixel_mm=pixel_mm,
        native_pixel_mm=native,
        additive_sigma_keV=_additive_sigma_keV(params),
        kind=rec.kind,
    )
    return NoiseModel(det, sd, gain, float(add_sd), (pixel_mm, a, sigma_mm, w))


def standard_normal_f32(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Unit normal deviates, float32, by the Box-Muller transform of float32 uniforms.

    About three times faster than ``rng.standard_normal(dtype=np.float32)`` for image-sized
    draws; exact in distribution up to float32 resolution (tails cut at 5.8 sigma, where
    the probability is 7e-9).

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of the uniforms.
    shape : tuple of int
        Output shape.

    Returns
    -------
    numpy.ndarray
        float32 array of independent N(0, 1) deviates [-].

    References
    ----------
    G. E. P. Box, M. E. Muller, "A note on the generation of random normal deviates",
    Ann. Math. Statist. 29:610-611 (1958).
    """
    n = math.prod(shape)
    half = (n + 1) // 2
    u = rng.random(2 * half, dtype=np.float32)
    r, theta = u[:half], u[half:]
    np.subtract(np.float32(1.0), r, out=r)  # (0, 1]: log is finite
    np.log(r, out=r)
    r *= np.float32(-2.0)
    np.sqrt(r, out=r)
    theta *= np.float32(2.0 * math.pi)
    out = np.empty(2 * half, dtype=np.float32)
    np.cos(theta, out=out[:half])
    np.sin(theta, out=out[half:])
    out[:half] *= r
    out[half:] *= r
    return out[:n].reshape(shape)


def draw_signal(model: NoiseModel, rng: Any) -> np.ndarray:
    """One noisy detected frame of a prepared scene (:func:`noise_model`).

    Parameters
    ----------
    model : NoiseModel
        The scene.
    rng : numpy.random.Generator
        Source of the noise (two normal fields: quantum, then additive).

    Returns
    -------
    numpy.ndarray
        Detected signal, float32 [keV absorbed per simulated pixel].

    References
    ----------
    As :func:`detect`; normal deviates by :func:`standard_normal_f32`.
    """
    e = model.detected.expected
    if model.quantum_sd is None:
        return e.copy()
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    px, a, s, w = model.blur_mm
    noise = standard_normal_f32(rng, e.shape)
    noise *= model.quantum_sd
    noise = _blur(noise[None], px, a, s, w)[0]
    if model.noise_gain is not None:
        noise *= model.noise_gain
    noise += e
    if model.additive_sd > 0.0:
        extra = standard_normal_f32(rng, e.shape)
        extra *= np.float32(model.additive_sd)
        if w > 0.0:
            extra = _blur(extra[None], px, 0.0, 0.0, w)[0]
        noise += extra
    return noise


def expected_signal(maps: dict[str, Any], params: Any, grid: Any) -> np.ndarray:
    """Noise-free detector image of ``maps`` (blur, and II glare, distortion, vignetting).

    Parameters
    ----------
    maps : dict of str to ndarray
        As for :func:`detect` (only ``abs_energy_keV`` is used) [keV/mm^2].
    params : sim.Params
        Receptor knobs.
    grid : geometry.DetectorGrid or float
        Simulated image grid or its pixel size [mm].

    Returns
    -------
    numpy.ndarray
        float32 [keV absorbed per simulated pixel].

    References
    ----------
    As :func:`detect`.
    """
    _receptor_section(params)
    if not isinstance(maps, dict) or "abs_energy_keV" not in maps:
        raise ValueError("maps must be a dict with an 'abs_energy_keV' image")
    e = np.asarray(maps["abs_energy_keV"], dtype=np.float32)
    if e.ndim != 2 or not np.all(np.isfinite(e)):
        raise ValueError("maps['abs_energy_keV'] must be a finite 2-D image")
    pixel_mm = _pixel_mm_of(grid, e.shape)
    _, out, _ = _pipeline(e * np.float32(pixel_mm**2), None, params, pixel_mm, None)
    return np.ascontiguousarray(out, dtype=np.float32)


def open_field_signal(spectrum_per_frame: Any, params: Any, grid: Any) -> np.ndarray:
    """Noise-free detector image of an open field (no patient, no collimation).

    The beam passes the anti-scatter grid (primary transmission of ``grid.*``) and reaches the
    receptor at ``geometry.sid_cm`` (inverse square from 100 cm); the detector response (blur,
    and for the II pincushion, glare and vignetting) is applied.

    Parameters
    ----------
    spectrum_per_frame : sim.spectrum.Spectrum
        Spectrum per frame at 100 cm (mAs per frame and any table layers applied)
        [1/mm^2 per bin].
    params : sim.Params
        Receptor, grid and geometry knobs.
    grid : geometry.DetectorGrid
        Simulated image grid.

    Returns
    -------
    numpy.ndarray
        float32 (n, n) [keV absorbed per simulated pixel].

    References
    ----------
    Seibert, Boone & Lindfors, Proc. SPIE 3336:348 (1998) (flat-field correction).
    """
    from sim import grid as grid_mod
    from sim import spectrum

    e = np.asarray(spectrum_per_frame.energy_keV, dtype=np.float64)
    phi = np.asarray(spectrum_per_frame.fluence, dtype=np.float64)
    w = receptor_weights(params, e)
    tp = np.asarray(grid_mod.grid_transmission(params.grid, e).tp_E, dtype=np.float64)
    sid = check_number("geometry.sid_cm", params.geometry.sid_cm, 1.0, 1e4, "cm")
    e_mm2 = float(phi @ (w["abs_energy_keV"] * tp)) * (spectrum.REFERENCE_DISTANCE_CM / sid) ** 2
    n = int(grid.n_px)
    if params.receptor.kind == "flat_panel":
        # the panel's blur is normalised with reflecting edges: a uniform input stays uniform
        return np.full((n, n), e_mm2 * float(grid.pixel_mm) ** 2, dtype=np.float32)
    flat = np.full((n, n), e_mm2, dtype=np.float32)
    return expected_signal({"abs_energy_keV": flat}, params, grid)


def gain_reference(spectrum_per_frame: Any, params: Any, grid: Any) -> np.ndarray:
    """The image the processing divides by: what the receptor's gain correction removes.

    A flat panel is gain-calibrated pixel by pixel against an open field
    (:func:`open_field_signal`; Seibert et al. 1998), which removes the heel effect, the
    inverse-square fall-off and the pixel gains. An image-intensifier TV chain has no such
    per-pixel correction: the camera's gain is set on the centre of the output image, so the
    vignetting, the pincushion's brightness fall-off towards the edge and the veiling glare
    stay on the display, darker towards the rim of the circular image, as II-TV systems
    showed (Bushberg et al. 2012, ch. 9). For the II this is a uniform image at the open
    field's central value.

    Parameters
    ----------
    spectrum_per_frame, params, grid
        As for :func:`open_field_signal`.

    Returns
    -------
    numpy.ndarray
        float32 (n, n) [keV absorbed per simulated pixel].
    """
    flat = open_field_signal(spectrum_per_frame, params, grid)
    if params.receptor.kind == "flat_panel":
        return flat
    c = _centre(flat.shape)
    return np.full(flat.shape, float(np.mean(flat[c])), dtype=np.float32)


def detect_flat(expected: Any, params: Any, grid: Any, technique: Any = None) -> np.ndarray:
    """Open-field (flat) image of the chain's frame, for flat-field correction.

    Same technique, same table, grid and receptor as the frame, no patient, no collimation
    (:func:`open_field_signal`).

    Parameters
    ----------
    expected : chain.Expected
        The chain's noise-free frame; uses ``spectra['spectrum_filtered']`` (per mAs) and,
        when ``technique`` is None, ``spectra['spectrum_patient']``, ``paths`` and
        ``rois['center']`` to recover the mAs per frame.
    params : sim.Params
        All knobs.
    grid : geometry.DetectorGrid
        Simulated image grid.
    technique : params.Technique, optional
        Technique of the frame (preferred: gives the mAs per frame directly).

    Returns
    -------
    numpy.ndarray
        float32 (n, n) [keV absorbed per simulated pixel].

    References
    ----------
    Seibert, Boone & Lindfors, Proc. SPIE 3336:348 (1998).
    """
    spectra = expected.spectra
    at_patient = spectra["spectrum_filtered"]  # per mAs at 100 cm, before the table
    if getattr(params.geometry, "table", False):
        from sim import dose

        at_patient = at_patient.filtered(dose.table_layers())
    if technique is not None:
        mas = float(technique.mas_per_frame)
    else:
        # the chain's exit spectrum at the field centre over the same ray per mAs
        from sim import projection

        centre = expected.rois["center"]
        paths = {k: float(np.mean(v[centre])) for k, v in expected.paths.items()}
        den = projection.transmitted_spectrum(at_patient, paths).total_fluence()
        mas = spectra["spectrum_patient"].total_fluence() / den if den > 0.0 else 0.0
    if not math.isfinite(mas) or mas <= 0.0:
        raise ValueError(f"cannot recover the mAs per frame (got {mas!r}): pass technique=")
    return open_field_signal(at_patient.scaled(mas), params, grid)


def apply_lag(current: Any, previous_detected: Any, lag: float) -> np.ndarray:
    """Image lag of a fluoroscopy run: ``(1 - lag) * current + lag * previous``.

    A recursive model in which the fraction ``lag`` of the signal of the previous detected
    frame is read out again, so that after the beam stops the first frame holds ``lag`` of the
    last exposed one (first-frame lag, 2-10 % for a-Si:H panels) and a constant input
    converges to itself.

    Parameters
    ----------
    current : array_like
        Frame detected without lag [detector units].
    previous_detected : array_like or None
        The previous output of this function (None for the first frame) [detector units].
    lag : float
        First-frame lag fraction, in [0, 0.3] [-].

    Returns
    -------
    numpy.ndarray
        Lagged frame, float32 [detector units].

    References
    ----------
    Siewerdsen & Jaffray, Med. Phys. 26:1624 (1999).
    """
    g = check_number("receptor.lag", lag, 0.0, 0.3)
    cur = np.asarray(current, dtype=np.float32)
    if previous_detected is None:
        return cur.copy()
    prev = np.asarray(previous_detected, dtype=np.float32)
    if prev.shape != cur.shape:
        raise ValueError(f"previous_detected has shape {prev.shape}, current {cur.shape}")
    return ((1.0 - g) * cur + g * prev).astype(np.float32)
