"""Scattered radiation at the receptor: scatter-to-primary ratio (SPR) and its spatial spread.

Model: scatter-kernel superposition with Monte Carlo kernels
-----------------------------------------------------------
Each primary pencil that crosses a water-equivalent thickness ``t`` sends scattered photons out
of the patient's exit surface; at the receptor (air gap ``g`` behind the exit surface) they
form a broad, radially symmetric point-spread function (PSF). The scatter image is the primary
image weighted by the scatter amplitude of each pencil and convolved with that PSF (Boone &
Seibert 1988 [1]_, [2]_; Love & Kruger 1987 [3]_; thickness-adaptive kernels as in Ohnesorge
et al. 1999 [4]_ and Sun & Star-Lack 2010 [5]_)::

    S_k(x) = [ (P_k * SPRinf_k(t)) (*) K(t, g) ](m x)

* ``P_k`` is the primary at the receptor for detector weighting ``k`` (photon fluence,
  absorbed energy, air kerma...), ``SPRinf_k(t)`` the scatter-to-primary ratio of a pencil
  through ``t`` of water (all its scatter, infinite field), ``K(t, g)`` the PSF normalised to
  one in the exit plane, ``(*)`` a 2-D convolution.
* ``m = SID / source-to-exit distance`` (>= 1). Scatter leaves the exit surface and spreads
  from there, while the primary keeps diverging from the focal spot: in receptor coordinates
  the scatter pattern is evaluated at ``m x`` and the kernel integrates to ``m^2`` (an
  infinite uniform field has SPR = SPRinf m^2; a finite field loses the scatter that lands
  outside it, more so as the gap grows: the air-gap effect).
* At the centre of a uniform field of radius ``R`` at the exit surface this gives the analytic
  form used by :func:`spr_center`: ``SPR = m^2 SPRinf(t) F(R; t, g)`` with ``F`` the fraction
  of the PSF within ``R``: SPR rises with thickness, field size and kV and falls with air gap.

Where the numbers come from
---------------------------
``SPRinf(E, t)``, the PSF ``F(R; E, t, g)`` and the mean energy of the scatter come from a
Monte Carlo simulation of monoenergetic pencil beams (20-150 keV) in water slabs (2-40 cm),
scored at air gaps of 0-100 cm (``tools/scatter_mc.py`` ->
``assets/scatter/scatter_mc_water.npz``): the method of Boone & Seibert [1]_ and Chan & Doi
[6]_, with NIST XCOM cross sections (xraylib), Klein-Nishina with the incoherent scattering
function, and Rayleigh with form factors. The same simulation reproduces the backscatter
factors of Benmakhlouf et al. [8]_ within 1.5 % (tests/test_scatter.py). A polyenergetic
beam is handled exactly per energy bin::

    SPRinf_k(t) = sum_E phi(E) S(E, t) w_k(E_s) / sum_E phi(E) exp(-mu_w(E) t) w_k(E)

with ``S`` the scatter per incident photon and ``E_s`` its mean energy (so scatter is
weighted at its own, lower energy). The model meets the published anchors of
docs/references.md [Tab-ScatterGrid], [Brief]: 80 kV, 20 cm water, 25 x 25 cm field, 2 cm
gap: SPR 3.2 (anchor 2.5-6); 10 cm water, 10 x 10 cm: 0.8 (0.3-1). The air-gap fall-off
behind 20 cm of water matches the effective scatter point source of Sorenson & Floch [7]_:
15 cm before the exit surface for a 10 x 10 cm field (they found 15-20 cm); larger fields act
as a more distant source (30-45 cm for 25 x 25 cm).

Patients are not water: :func:`water_equivalent_mm` converts path lengths to water by the
ratio of attenuation coefficients at the mean energy of the primary beam behind the patient.

Speed: the convolution runs on a coarse grid (<= 64 x 64 cells over the irradiated area, FFT,
up to three thickness groups), then is resampled at ``m x`` onto the image grid. A kernel is
linear in the PSF's ring densities: the rings' cell areas and their transforms depend on the
geometry alone and are kept, so a new spectrum costs one small matrix product per kernel. The
water-equivalent thickness is read only as coarse block means and a centre-box mean, linear
in the path lengths: :func:`coarse_paths` reduces a scene's paths once and
:func:`water_equivalent` weighs them for each spectrum.

References
----------
.. [1] J. M. Boone, J. A. Seibert, "Monte Carlo simulation of the scattered radiation
   distribution in diagnostic radiology", Med. Phys. 15:713-720 (1988).
.. [2] J. A. Seibert, J. M. Boone, "X-ray scatter removal by deconvolution", Med. Phys.
   15:567-575 (1988); J. M. Boone, J. A. Seibert, "An analytical model of the scattered
   radiation distribution in diagnostic radiology", Med. Phys. 15:721-725 (1988).
.. [3] L. A. Love, R. A. Kruger, "Scatter estimation for a digital radiographic system using
   convolution filtering", Med. Phys. 14:178-185 (1987).
.. [4] B. Ohnesorge, T. Flohr, K. Klingenbeck-Regn, "Efficient object scatter correction
   algorithm for third and fourth generation CT scanners", Eur. Radiol. 9:563-569 (1999).
.. [5] M. Sun, J. M. Star-Lack, "Improved scatter correction using adaptive scatter kernel
   superposition", Phys. Med. Biol. 55:6695-6720 (2010).
.. [6] H.-P. Chan, K. Doi, "Physical characteristics of scattered radiation in diagnostic
   radiology: Monte Carlo simulation studies", Med. Phys. 12:152-165 (1985).
.. [7] J. A. Sorenson, J. Floch, "Scatter rejection by air gaps: an empirical model",
   Med. Phys. 12:308-316 (1985) (effective scatter point source 15-20 cm before the exit
   surface).
.. [8] N. Benmakhlouf, H. Bouchard, A. Fransson, P. Andreo, "Backscatter factors and mass
   energy-absorption coefficient ratios for diagnostic radiology dosimetry", Phys. Med. Biol.
   56:7179-7204 (2011) (docs/references.md [Tab-Backscatter]).
"""

from __future__ import annotations

import functools
import hashlib
import math
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.fft

from sim import materials
from sim.scatter_grid import (
    COARSE_CELLS,
    _centre_box,
    _coarse,
    _KernelBasis,
    _plan,
    _plan_key,
    _resample,
    kernel_basis,
)
from sim.units import CM_PER_MM, MM_PER_CM
from sim.validate import check_number

MC_FILE = ("scatter", "scatter_mc_water.npz")
"""Location below ``assets/`` of the Monte Carlo scatter table."""

T_MAX_CM = 80.0
"""Largest water-equivalent thickness served (beyond the 40 cm MC node: extrapolated) [cm]."""

_T_STEP_CM = 0.25  # thickness step of the amplitude look-up table [cm]
_S_FLOOR = 1e-30  # floor of the scatter per incident photon before taking logs
_DEFAULT_FILTERS = {"Al": 3.0, "Cu": 0.1}  # Params defaults (filtration.al_mm, .cu_mm) [mm]
_GROUP_SPREAD_CM = 2.0  # one kernel if the thickness range in the field is narrower [cm]


# --------------------------------------------------------------------------------------------
# input checks
# --------------------------------------------------------------------------------------------


# --------------------------------------------------------------------------------------------
# the Monte Carlo table
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class _McTable:
    energy_keV: np.ndarray  # (nE,) MC energies
    t_cm: np.ndarray  # (nT,) slab thicknesses
    gap_cm: np.ndarray  # (nG,) air gaps
    r_cm: np.ndarray  # (nR,) radii (upper bin edges) of the cumulative tables
    log_s: np.ndarray  # (nE, nT) log scatter quanta escaping per incident photon
    mean_e_keV: np.ndarray  # (nE, nT) mean energy of that scatter
    frac: np.ndarray  # (nE, nT, nG, nR) fraction of the scatter landing within r


@functools.lru_cache(maxsize=1)
def _mc() -> _McTable:
    path = materials.asset_path(*MC_FILE)
    with np.load(path) as z:
        total = z["total_q"].astype(float)
        cum = np.cumsum(z["radial_q"].astype(float), axis=-1)
        frac = cum / np.maximum(total, _S_FLOOR)[:, :, None, None]
        return _McTable(
            energy_keV=z["energies_keV"].astype(float),
            t_cm=z["thicknesses_cm"].astype(float),
            gap_cm=z["gaps_cm"].astype(float),
            r_cm=z["r_edges_cm"][1:].astype(float),
            log_s=np.log(np.maximum(total, _S_FLOOR)),
            mean_e_keV=z["mean_e_keV"].astype(float),
            frac=np.clip(frac, 0.0, 1.0),
        )


def _hat(x: np.ndarray, nodes: np.ndarray) -> np.ndarray:
    """Linear-interpolation weights (len(x), len(nodes)), constant beyond the end nodes."""
    xc = np.clip(x, nodes[0], nodes[-1])
    j = np.clip(np.searchsorted(nodes, xc, side="right") - 1, 0, nodes.size - 2)
    f = (xc - nodes[j]) / (nodes[j + 1] - nodes[j])
    h = np.zeros((x.size, nodes.size))
    flat = h.reshape(-1)
    at = np.arange(0, x.size * nodes.size, nodes.size) + j  # (row, j) in the flat array
    flat[at] = 1.0 - f
    flat[at + 1] = f
    return h


# --------------------------------------------------------------------------------------------
# spectral reduction: SPRinf_k(t) and the PSF shape F(R; t) at one air gap
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class _Spectral:
    keys: tuple[str, ...]
    t_lut_cm: np.ndarray  # (nL,) fine thickness grid
    spr_inf: np.ndarray  # (nK, nL) SPRinf_k(t)
    t_nodes_cm: np.ndarray  # (nT,) MC thicknesses
    r_cm: np.ndarray  # (nR,)
    shape: np.ndarray  # (nT, nR) PSF fraction within r (photon counting) at this gap
    mean_e_scatter_keV: np.ndarray  # (nL,) photon-weighted mean energy of the scatter
    mean_e_primary_keV: np.ndarray  # (nL,) photon-weighted mean energy of the primary


def _digest(a: np.ndarray) -> str:
    return hashlib.sha1(np.ascontiguousarray(a, dtype=np.float64).tobytes()).hexdigest()


@functools.lru_cache(maxsize=256)
def _mu_water_per_cm(energies: tuple[float, ...]) -> np.ndarray:
    mu = materials.mu_per_mm("water", np.array(energies)) * MM_PER_CM
    mu.setflags(write=False)
    return mu


_ARRAYS: OrderedDict[str, np.ndarray] = OrderedDict()
"""Arrays by content digest, so that cached functions take hashable keys (most recent last)."""
_ARRAYS_MAX = 1024


def _register(a: np.ndarray) -> str:
    key = _digest(a)
    if key in _ARRAYS:
        _ARRAYS.move_to_end(key)
    else:
        frozen = np.array(a, dtype=float)
        frozen.setflags(write=False)
        _ARRAYS[key] = frozen
        while len(_ARRAYS) > _ARRAYS_MAX:
            _ARRAYS.popitem(last=False)
    return key


@dataclass(frozen=True, eq=False)
class _EnergyTables:
    """What the spectral reduction needs of an energy grid alone (every kVp shares one)."""

    hat: np.ndarray  # (nB, nE) interpolation weights of the bins between the MC energies
    s_b: np.ndarray  # (nB, nT) scatter quanta per incident photon at each bin
    se_b: np.ndarray  # (nB, nT) s_b times the mean energy of that scatter [keV]
    mean_e_b: np.ndarray  # (nB, nT) mean energy of that scatter [keV]
    t_lut: np.ndarray  # (nL,) fine thickness grid [cm]
    att: np.ndarray  # (nL, nB) water transmission over t_lut at each bin


@functools.lru_cache(maxsize=8)
def _energy_hat(energy_key: str) -> np.ndarray:
    """Interpolation weights of the bins of an energy grid between the MC energies (nB, nE)."""
    hat = _hat(_ARRAYS[energy_key], _mc().energy_keV)
    hat.setflags(write=False)
    return hat


@functools.lru_cache(maxsize=8)
def _energy_tables(energy_key: str) -> _EnergyTables:
    mc = _mc()
    e = _ARRAYS[energy_key]
    nodes = mc.energy_keV
    hat = _energy_hat(energy_key)  # (nB, nE)
    log_s_b = hat @ mc.log_s  # (nB, nT): log scatter per incident photon at each bin
    # below the first MC energy, extrapolate log S linearly in E (scatter vanishes as the
    # photoelectric effect takes over) instead of holding it constant
    slope = (mc.log_s[1] - mc.log_s[0]) / (nodes[1] - nodes[0])
    low = e < nodes[0]
    log_s_b[low] = mc.log_s[0][None, :] + np.outer(e[low] - nodes[0], slope)
    mean_e_b = np.minimum(hat @ mc.mean_e_keV, e[:, None])  # (nB, nT); scatter loses energy
    s_b = np.exp(log_s_b) * (e <= nodes[-1])[:, None]  # no MC data above 150 keV
    t_lut = np.arange(0.0, T_MAX_CM + 0.5 * _T_STEP_CM, _T_STEP_CM)
    mu_w = _mu_water_per_cm(tuple(e.tolist()))
    att = np.exp(-np.outer(t_lut, mu_w))  # (nL, nB)
    out = _EnergyTables(hat, s_b, s_b * mean_e_b, mean_e_b, t_lut, att)
    for a in (out.hat, out.s_b, out.se_b, out.mean_e_b, out.t_lut, out.att):
        a.setflags(write=False)
    return out


@functools.lru_cache(maxsize=16)
def _weighted_scatter(energy_key: str, weight_key: str) -> np.ndarray:
    """Scatter per incident photon times the detector weight at the scatter's mean energy
    (nB, nT)."""
    tab = _energy_tables(energy_key)
    sw = tab.s_b * np.interp(tab.mean_e_b, _ARRAYS[energy_key], _ARRAYS[weight_key])
    sw.setflags(write=False)
    return sw


@functools.lru_cache(maxsize=16)
def _frac_at_gap(gap_cm: float) -> np.ndarray:
    """MC fractions within r interpolated at one air gap, (nE, nT, nR)."""
    mc = _mc()
    hg = _hat(np.array([gap_cm]), mc.gap_cm)[0]  # (nG,)
    frac_g = np.ascontiguousarray(np.tensordot(mc.frac, hg, axes=([2], [0])))
    frac_g.setflags(write=False)
    return frac_g


@functools.lru_cache(maxsize=64)
def _spectral(
    energy_key: str, fluence_key: str, weight_keys: tuple[tuple[str, str], ...], gap_cm: float
) -> _Spectral:
    mc = _mc()
    tab = _energy_tables(energy_key)  # the energy grid's part, shared by every spectrum
    e = _ARRAYS[energy_key]
    phi = _ARRAYS[fluence_key]
    names = tuple(n for n, _ in weight_keys)
    # Detector weight of the scatter, taken at the scatter's mean energy.
    sw = np.stack([_weighted_scatter(energy_key, k) for _, k in weight_keys])  # (nK, nB, nT)
    # PSF shape at this gap: interpolate the MC fractions in gap, then mix energies with the
    # scatter each energy bin contributes (photon counting).
    frac_g = _frac_at_gap(gap_cm)  # (nE, nT, nR)
    phi_s = phi[:, None] * tab.s_b  # (nB, nT)
    mix = tab.hat.T @ phi_s  # (nE, nT) scatter from each MC energy
    shape = np.einsum("ij,ijr->jr", mix, frac_g) / np.maximum(mix.sum(0), _S_FLOOR)[:, None]
    # All the scatter leaving the exit surface, per key, at the MC thickness nodes; the PSF
    # fractions are relative to it (photons landing beyond the largest r are simply lost).
    s_k = phi @ sw  # (nK, nT)

    t_nodes = mc.t_cm
    t_lut = tab.t_lut
    # primary behind t_lut of water: every key's weight, then the energy (one product)
    cols = np.empty((e.size, len(names) + 1))
    for k, (_, wkey) in enumerate(weight_keys):
        np.multiply(phi, _ARRAYS[wkey], out=cols[:, k])
    np.multiply(phi, e, out=cols[:, -1])
    prim = tab.att @ cols  # (nL, nK + 1)
    p_k = prim[:, :-1].T  # (nK, nL)
    # log-linear interpolation of the scatter in t; linear to zero below the first node;
    # log-linear extrapolation beyond the last (slope of the last two nodes).
    log_sk = np.log(np.maximum(s_k, _S_FLOOR))
    s_lut = np.empty((len(names), t_lut.size))
    ramp = np.minimum(t_lut / t_nodes[0], 1.0)
    for k in range(len(names)):
        inside = np.interp(t_lut, t_nodes, log_sk[k])
        slope = (log_sk[k, -1] - log_sk[k, -2]) / (t_nodes[-1] - t_nodes[-2])
        beyond = log_sk[k, -1] + slope * (t_lut - t_nodes[-1])
        ls = np.where(t_lut > t_nodes[-1], beyond, inside)
        s_lut[k] = np.exp(ls) * ramp
    spr_inf = s_lut / np.maximum(p_k, np.finfo(float).tiny)
    # mean energies (photon-weighted) for the scatter energy factor
    s_q = phi_s.sum(axis=0)  # (nT,)
    es_nodes = (phi @ tab.se_b) / np.maximum(s_q, _S_FLOOR)
    p_q = prim[:, 0]  # key 0 is "quanta" (weight 1)
    ep = prim[:, -1] / np.maximum(p_q, np.finfo(float).tiny)
    es = np.interp(t_lut, t_nodes, es_nodes)
    for a in (spr_inf, shape, es, ep):
        a.setflags(write=False)
    return _Spectral(names, t_lut, spr_inf, t_nodes, mc.r_cm, shape, es, ep)


def _spectral_for(
    spectrum: Any, weights: Mapping[str, np.ndarray] | None, gap_cm: float
) -> tuple[_Spectral, tuple]:
    """Spectral tables for a spectrum incident on the patient, and their cache key."""
    e = np.asarray(spectrum.energy_keV, dtype=float)
    phi = np.asarray(spectrum.fluence, dtype=float)
    if e.ndim != 1 or phi.shape != e.shape:
        raise ValueError("spectrum must have 1-D energy_keV and fluence of the same shape")
    total = float(phi.sum())
    if not math.isfinite(total) or total <= 0.0:
        raise ValueError("spectrum has zero fluence: scatter is undefined")
    phi = phi / total  # SPR does not depend on the beam's intensity
    wk: list[tuple[str, str]] = [("quanta", _register(np.ones_like(e)))]
    for name, w in (weights or {}).items():
        arr = np.asarray(w, dtype=float)
        if arr.shape != e.shape or not np.all(np.isfinite(arr)) or np.any(arr < 0.0):
            raise ValueError(
                f"weights[{name!r}] must be finite, >= 0 and of shape {e.shape}, got {arr.shape}"
            )
        if name != "quanta":
            wk.append((name, _register(arr)))
    spec_id = (_register(e), _register(phi), tuple(wk), round(gap_cm, 3))
    return _spectral(*spec_id), spec_id


def _interp_t(spec: _Spectral, table: np.ndarray, t_cm: np.ndarray) -> np.ndarray:
    return np.interp(np.clip(t_cm, 0.0, T_MAX_CM), spec.t_lut_cm, table)


def _shape_at(spec: _Spectral, t_cm: float) -> np.ndarray:
    """PSF fraction within r at thickness ``t_cm`` (linear in t between MC nodes) [-]."""
    h = _hat(np.array([t_cm]), spec.t_nodes_cm)[0]
    return h @ spec.shape


# --------------------------------------------------------------------------------------------
# the analytic centre SPR
# --------------------------------------------------------------------------------------------
def _default_spectrum(kvp: float):
    from sim.spectrum import beam

    return beam(kvp, 12.0, _DEFAULT_FILTERS["Al"], _DEFAULT_FILTERS["Cu"])[1]


def spr_center(
    water_eq_cm: float,
    field_area_cm2: float,
    kvp: float,
    air_gap_cm: float,
    *,
    source_exit_cm: float | None = None,
    spectrum: Any = None,
    weights: Mapping[str, np.ndarray] | None = None,
    key: str = "quanta",
) -> float:
    """Scatter-to-primary ratio at the centre of a uniform field, no grid.

    ``SPR = m^2 SPRinf(t) F(R; t, g)``: the Monte Carlo scatter of a water slab of thickness
    ``t`` (all of it, infinite field), times the fraction ``F`` of its point-spread function
    that falls within the field radius ``R`` at the air gap ``g`` (see the module docstring).

    Parameters
    ----------
    water_eq_cm : float
        Water-equivalent patient thickness, in [0, 80] [cm].
    field_area_cm2 : float
        Collimated field area at the patient's exit surface (a circle of equal area is used)
        [cm^2].
    kvp : float
        Tube potential, in [40, 150] [kV]; with ``spectrum=None`` the beam is
        ``tube_spectrum(kvp)`` through 3 mm Al + 0.1 mm Cu (the default filtration).
    air_gap_cm : float
        Exit surface to receptor, in [0, 100] [cm].
    source_exit_cm : float, optional
        Focal spot to exit surface [cm]; gives the beam divergence m = (source_exit + gap) /
        source_exit. ``None``: parallel beam (m = 1).
    spectrum : sim.spectrum.Spectrum, optional
        Spectrum incident on the patient (overrides the default beam of ``kvp``).
    weights : mapping of str to ndarray, optional
        Detector energy weights (as for ``projection.integrate``); ``key`` picks one.
    key : str
        ``"quanta"`` (photon fluence, default) or a key of ``weights``.

    Returns
    -------
    float
        SPR in front of the grid [-].

    References
    ----------
    Boone & Seibert, Med. Phys. 15:713 (1988) (scatter PSF of water slabs by Monte Carlo);
    Sorenson & Floch, Med. Phys. 12:308 (1985) (air gap); this project's Monte Carlo
    (``tools/scatter_mc.py``).
    """
    t = check_number("water_eq_cm", water_eq_cm, 0.0, T_MAX_CM, "cm")
    area = check_number("field_area_cm2", field_area_cm2, 0.0, 1e5, "cm^2", lo_open=True)
    k = check_number("kvp", kvp, 40.0, 150.0, "kV")
    g = check_number("air_gap_cm", air_gap_cm, 0.0, 100.0, "cm")
    m = 1.0
    if source_exit_cm is not None:
        d = check_number("source_exit_cm", source_exit_cm, 0.0, 1e4, "cm", lo_open=True)
        m = (d + g) / d
    spec_in = spectrum if spectrum is not None else _default_spectrum(k)
    spec, _ = _spectral_for(spec_in, weights, g)
    if key not in spec.keys:
        raise ValueError(f"key={key!r} is not one of {', '.join(spec.keys)}")
    kk = spec.keys.index(key)
    radius = math.sqrt(area / math.pi)
    inside = float(np.interp(radius, np.r_[0.0, spec.r_cm], np.r_[0.0, _shape_at(spec, t)]))
    amp = float(_interp_t(spec, spec.spr_inf[kk], np.array(t)))
    return m * m * amp * inside


def scatter_spectrum(spectrum: Any, water_eq_cm: float) -> np.ndarray:
    """Photon spectrum of the scatter leaving a water slab, on the spectrum's energy grid.

    Each energy bin of the incident beam contributes the Monte Carlo scatter per incident
    photon ``S(E, t)``, placed at the mean energy of that scatter (split linearly between the
    two nearest bins, photons conserved). Good enough to weight smooth energy responses
    (grid scatter transmission, detector absorption); the true scatter spectrum is broader.

    Parameters
    ----------
    spectrum : sim.spectrum.Spectrum
        Spectrum incident on the patient (fluence per bin).
    water_eq_cm : float
        Water-equivalent thickness, in [0, 80] [cm].

    Returns
    -------
    ndarray
        Scattered photons per bin leaving the exit surface, all directions, in the units of
        ``spectrum.fluence`` (float64, read-only).

    References
    ----------
    This project's Monte Carlo (``tools/scatter_mc.py``; method of Chan & Doi,
    Med. Phys. 12:152, 1985).
    """
    t = check_number("water_eq_cm", water_eq_cm, 0.0, T_MAX_CM, "cm")
    e = np.asarray(spectrum.energy_keV, dtype=float)
    phi = np.asarray(spectrum.fluence, dtype=float)
    if e.ndim != 1 or phi.shape != e.shape:
        raise ValueError("spectrum must have 1-D energy_keV and fluence of the same shape")
    mc = _mc()
    nodes = mc.energy_keV
    hat = _energy_hat(_register(e))
    ht = _hat(np.array([min(max(t, mc.t_cm[0]), mc.t_cm[-1])]), mc.t_cm)[0]
    log_s = hat @ (mc.log_s @ ht)
    slope = (mc.log_s[1] - mc.log_s[0]) @ ht / (nodes[1] - nodes[0])
    low = e < nodes[0]
    log_s[low] = (mc.log_s[0] @ ht) + (e[low] - nodes[0]) * slope
    if t > mc.t_cm[-1]:  # log-linear extrapolation in t, as for the amplitude
        d_log = (mc.log_s[:, -1] - mc.log_s[:, -2]) / (mc.t_cm[-1] - mc.t_cm[-2])
        log_s = log_s + (hat @ d_log) * (t - mc.t_cm[-1])
    s = np.exp(log_s) * (e <= nodes[-1]) * min(t / mc.t_cm[0], 1.0)
    e_s = np.minimum(hat @ (mc.mean_e_keV @ ht), e)
    j = np.clip(np.searchsorted(e, e_s, side="right") - 1, 0, e.size - 2)
    f = np.clip((e_s - e[j]) / (e[j + 1] - e[j]), 0.0, 1.0)
    out = np.zeros_like(e)
    np.add.at(out, j, phi * s * (1.0 - f))
    np.add.at(out, j + 1, phi * s * f)
    out.setflags(write=False)
    return out


# --------------------------------------------------------------------------------------------
# water-equivalent thickness
# --------------------------------------------------------------------------------------------
def water_equivalent_mm(paths: Mapping[str, np.ndarray], spectrum: Any) -> np.ndarray:
    """Water-equivalent thickness map from per-material path lengths.

    ``t_w = sum_m L_m mu_m(E*) / mu_water(E*)`` with ``E*`` the mean photon energy of the
    beam behind the patient's average path (the primary that reaches the receptor), so each
    material counts by how much it attenuates the photons that make the image.

    Parameters
    ----------
    paths : mapping of str to ndarray
        Material name -> path length map [mm] (all the same shape).
    spectrum : sim.spectrum.Spectrum
        Spectrum incident on the patient.

    Returns
    -------
    ndarray
        float32 map of the same shape [mm].

    References
    ----------
    Attenuation-equivalent thickness at an effective energy (e.g. Bushberg et al., The
    Essential Physics of Medical Imaging, 3rd ed., 2012, ch. 3); mu from NIST XCOM via
    ``sim.materials``.
    """
    if not isinstance(paths, Mapping) or not paths:
        raise ValueError("paths must be a non-empty mapping material -> path-length map [mm]")
    shape = None
    means = {}
    for name, arr in paths.items():
        materials.check_material(name)
        a = np.asarray(arr)
        if shape is None:
            shape = a.shape
        elif a.shape != shape:
            raise ValueError(f"paths[{name!r}] has shape {a.shape}, expected {shape}")
        means[name] = float(np.mean(a, dtype=np.float64))
    ratios = _water_ratios(means, spectrum)
    out = np.zeros(shape, dtype=np.float32)
    tmp = np.empty(shape, dtype=np.float32)
    for name, arr in paths.items():
        out += np.multiply(np.asarray(arr, dtype=np.float32), np.float32(ratios[name]), out=tmp)
    return out


@functools.lru_cache(maxsize=128)
def _mu_on_grid(material: str, energy_key: str) -> np.ndarray:
    """``materials.mu_per_mm`` on a registered energy grid (no look-up per call) [1/mm]."""
    mu = materials.mu_per_mm(material, _ARRAYS[energy_key])
    mu.setflags(write=False)
    return mu


def _water_ratios(means_mm: Mapping[str, float], spectrum: Any) -> dict[str, float]:
    """``mu_m(E*) / mu_water(E*)`` per material, ``E*`` the mean energy of the photons behind
    the mean path lengths ``means_mm`` [mm] (see :func:`water_equivalent_mm`) [-]."""
    e = np.asarray(spectrum.energy_keV, dtype=float)
    phi = np.asarray(spectrum.fluence, dtype=float)
    ekey = _register(e)
    mu_sum = np.zeros_like(e)
    for name, mean_mm in means_mm.items():
        mu_sum += _mu_on_grid(name, ekey) * mean_mm
    behind = phi * np.exp(-mu_sum)
    n = float(behind.sum())
    if not math.isfinite(n) or n <= 0.0:
        raise ValueError("spectrum has no photons behind the patient: water equivalence undefined")
    e_star = float(behind @ e) / n
    # interpolate the (cached) coefficients on the spectrum's own grid: no new energy look-up
    mu_w = float(np.interp(e_star, e, _mu_on_grid("water", ekey)))
    return {name: float(np.interp(e_star, e, _mu_on_grid(name, ekey))) / mu_w for name in means_mm}


@dataclass(frozen=True, eq=False)
class CoarsePaths:
    """Path lengths of a scene reduced to what the scatter estimate reads (no spectrum).

    Made once per scene by :func:`coarse_paths`; :func:`water_equivalent` then gives the
    water-equivalent thickness of any spectrum without touching a full-size map.

    Attributes
    ----------
    materials : tuple of str
        Material names, in the order of the arrays' first axis.
    coarse_mm : ndarray
        (n_materials, n_dom, n_dom) block means of each path-length map on the coarse cells
        of the scatter convolution, edge-extended over its domain, float64, read-only [mm].
    centre_mm : ndarray
        (n_materials,) mean path length in the box where the field-centre SPR is read [mm].
    mean_mm : ndarray
        (n_materials,) mean path length over the whole image (sets the effective energy) [mm].
    plan_key : tuple
        Image size [px], field of view [mm], field size [cm] and shape, beam divergence [-]
        they were made for; :func:`scatter_estimate` refuses another.
    """

    materials: tuple[str, ...]
    coarse_mm: np.ndarray
    centre_mm: np.ndarray
    mean_mm: np.ndarray
    plan_key: tuple


@dataclass(frozen=True, eq=False)
class WaterEq:
    """Water-equivalent thickness of a scene for one spectrum, as the scatter estimate reads it.

    Pass it to :func:`scatter_estimate` as ``water_eq_mm`` instead of the full-size map.

    Attributes
    ----------
    coarse_cm : ndarray
        (n_dom, n_dom) block means on the coarse cells of the scatter convolution,
        edge-extended over its domain, float64, read-only [cm].
    centre_cm : float
        Mean over the box where the field-centre SPR is read [cm].
    plan_key : tuple
        As :attr:`CoarsePaths.plan_key`.
    """

    coarse_cm: np.ndarray
    centre_cm: float
    plan_key: tuple


def coarse_paths(paths: Mapping[str, np.ndarray], geometry: Any, grid: Any) -> CoarsePaths:
    """Reduce a scene's path-length maps for :func:`water_equivalent` (once per scene).

    The scatter estimate reads the water-equivalent thickness only as block means on its
    coarse grid and as the mean over the field-centre box, both linear in the path lengths;
    the effective energy depends on the whole-image mean paths. All three are kept here.

    Parameters
    ----------
    paths : mapping of str to ndarray
        Material name -> path length map [mm], each (n, n) on ``grid``, finite and >= 0.
    geometry : sim.geometry.Geometry
        As for :func:`scatter_estimate` (``sid_cm``, ``exit_cm``, ``field_cm``,
        ``field_shape``).
    grid : sim.geometry.DetectorGrid
        Image grid at the receptor (``n_px``, ``fov_mm``).

    Returns
    -------
    CoarsePaths
        The reduced path lengths [mm].
    """
    if not isinstance(paths, Mapping) or not paths:
        raise ValueError("paths must be a non-empty mapping material -> path-length map [mm]")
    n = int(grid.n_px)
    plan_key = _plan_key(geometry, grid)
    plan = _plan(*plan_key)
    centre = _centre_box(n, geometry, grid)
    coarse, centre_mm, mean_mm = [], [], []
    for name, arr in paths.items():
        materials.check_material(name)
        a = np.asarray(arr)
        if a.shape != (n, n):
            raise ValueError(f"paths[{name!r}] has shape {a.shape}, expected {(n, n)}")
        if not np.all(np.isfinite(a)) or float(a.min(initial=0.0)) < 0.0:
            raise ValueError(f"paths[{name!r}] must be finite and >= 0 [mm]")
        mean_mm.append(float(np.mean(a, dtype=np.float64)))
        centre_mm.append(float(np.mean(a[centre], dtype=np.float64)))
        coarse.append(_coarse(a, plan, np.float64))
    out = CoarsePaths(
        tuple(paths), np.stack(coarse), np.array(centre_mm), np.array(mean_mm), plan_key
    )
    for v in (out.coarse_mm, out.centre_mm, out.mean_mm):
        v.setflags(write=False)
    return out


def water_equivalent(coarse: CoarsePaths, spectrum: Any) -> WaterEq:
    """Water-equivalent thickness of a reduced scene for one spectrum.

    The same ``t_w = sum_m L_m mu_m(E*) / mu_water(E*)`` as :func:`water_equivalent_mm`
    (the same ``E*``), applied to the reduced path lengths.

    Parameters
    ----------
    coarse : CoarsePaths
        From :func:`coarse_paths`.
    spectrum : sim.spectrum.Spectrum
        Spectrum incident on the patient.

    Returns
    -------
    WaterEq
        Coarse water-equivalent map and its field-centre mean [cm].

    References
    ----------
    As :func:`water_equivalent_mm`.
    """
    if not isinstance(coarse, CoarsePaths):
        raise ValueError(f"coarse={type(coarse).__name__} must be a CoarsePaths (coarse_paths)")
    means = dict(zip(coarse.materials, coarse.mean_mm.tolist(), strict=True))
    ratios = _water_ratios(means, spectrum)
    r = np.array([ratios[name] for name in coarse.materials])
    coarse_cm = np.tensordot(r, coarse.coarse_mm, axes=1) * CM_PER_MM
    coarse_cm.setflags(write=False)
    return WaterEq(coarse_cm, float(r @ coarse.centre_mm) * CM_PER_MM, coarse.plan_key)


# --------------------------------------------------------------------------------------------
# the scatter image
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class ScatterResult:
    """Scatter at the receptor entrance, before the grid.

    Attributes
    ----------
    maps : dict of str to ndarray
        Scatter for each key of the primary, float32, same units as the primary.
    spr : float
        Scatter-to-primary ratio at the field centre, photon fluence ("quanta") [-].
    spr_map : ndarray
        S/P of the photon fluence inside the field (0 outside), float32 [-].
    spr_by_key : dict of str to float
        Field-centre SPR for every key [-].
    kernel : ndarray
        Scatter PSF of the central thickness on the coarse grid (receptor plane; its sum is
        m^2 times the fraction within the domain) [-].
    kernel_pixel_mm : float
        Cell size of ``kernel`` at the receptor [mm].
    scatter_energy_factor : float
        Mean energy of the scatter over that of the primary at the field centre [-].
    water_eq_center_cm : float
        Water-equivalent thickness at the field centre [cm].
    scatter_spectrum : ndarray
        Photon spectrum of the scatter at the field-centre thickness, on the spectrum's
        energy grid (:func:`scatter_spectrum`; pass it to ``grid.grid_figures``).
    """

    maps: dict[str, np.ndarray]
    spr: float
    spr_by_key: dict[str, float]
    kernel: np.ndarray
    kernel_pixel_mm: float
    scatter_energy_factor: float
    water_eq_center_cm: float
    scatter_spectrum: np.ndarray
    _spr_inputs: tuple[np.ndarray, np.ndarray, np.ndarray]
    """(scatter quanta, primary quanta, field mask) from which ``spr_map`` is made."""

    @functools.cached_property
    def spr_map(self) -> np.ndarray:
        """S/P of the photon fluence inside the field (0 outside), float32 [-]; made on first
        use (the chain does not need it)."""
        s, p, mask = self._spr_inputs
        out = np.zeros(s.shape, dtype=np.float32)
        np.divide(s, p, out=out, where=(mask > 0.5) & (p > 0.0))
        return out


@functools.lru_cache(maxsize=64)
def _kernels_fft(
    spec_id: tuple, t_cm: tuple[float, ...], plan_key: tuple, m: float
) -> tuple[np.ndarray, np.ndarray, _KernelBasis]:
    """Kernels of some thicknesses [cm] on their distinct cells (:class:`_KernelBasis`),
    (n_t, n_cells) [-], and their rfft2 (real: the kernels are even), float32
    (n_t, n_fft, n_fft // 2 + 1)."""
    spec = _spectral(*spec_id)
    plan = _plan(*plan_key)
    # ring density of the PSF in the exit plane: dF / d(area)
    edges = np.concatenate([[0.0], np.asarray(spec.r_cm, dtype=np.float64)])
    shape_frac = _hat(np.array(t_cm), spec.t_nodes_cm) @ spec.shape  # (n_t, nR), as _shape_at
    fr = np.concatenate([np.zeros((len(t_cm), 1)), shape_frac], axis=1)
    dens = np.diff(fr, axis=1) / (math.pi * np.diff(edges**2))
    b = kernel_basis(plan, m, edges)
    both = dens[:, b.rings] @ b.basis  # PSF mass of each cell (receptor plane), and its DFT
    k, kf = both[:, : b.n_cells], both[:, b.n_cells :]
    # the centre cell holds the sharp core of the PSF: use the exact fraction within the cell
    # (a change at offset 0 adds a constant to the DFT)
    r_eq = plan.cell_cm / math.sqrt(math.pi) / m
    centre = np.array([m * m * float(np.interp(r_eq, edges, f)) for f in fr])
    kf += (centre - k[:, 0])[:, None]
    k[:, 0] = centre
    kf = kf[:, b.rfft_index].astype(np.float32)
    for arr in (k, kf):
        arr.setflags(write=False)
    return k, kf, b


def scatter_estimate(
    primary: Mapping[str, np.ndarray],
    water_eq_mm: np.ndarray | WaterEq,
    geometry: Any,
    grid: Any,
    spectrum: Any,
    field_mask: np.ndarray,
    weights: Mapping[str, np.ndarray] | None = None,
) -> ScatterResult:
    """Scatter reaching the receptor (before the grid) for every primary map.

    Parameters
    ----------
    primary : mapping of str to ndarray
        Primary at the receptor per mm^2 for each detector weighting (key ``"quanta"`` =
        photon fluence), as from ``projection.integrate``; all (n, n) on ``grid``.
    water_eq_mm : ndarray or WaterEq
        Water-equivalent thickness along each ray (:func:`water_equivalent_mm`) [mm], or the
        same reduced to what is read of it (:func:`water_equivalent` of :func:`coarse_paths`
        made with this ``geometry`` and ``grid``; the same result to float32 round-off).
    geometry : sim.geometry.Geometry
        Uses ``sid_cm``, ``exit_cm``, ``air_gap_cm``, ``field_cm``, ``field_shape``.
    grid : sim.geometry.DetectorGrid
        Image grid at the receptor (``n_px``, ``fov_mm``).
    spectrum : sim.spectrum.Spectrum
        Spectrum incident on the patient.
    field_mask : ndarray
        Collimated field on ``grid`` (1 inside, 0 outside).
    weights : mapping of str to ndarray, optional
        Detector energy weights per key (those given to ``projection.integrate``). With them
        each key's scatter is weighted at the scatter's own (lower) energy; keys without a
        weight use the photon-fluence SPR, i.e. the scatter is assumed to have the primary's
        spectral shape.

    Returns
    -------
    ScatterResult
        Scatter maps (same keys and units), field-centre SPR, SPR map, kernel.

    References
    ----------
    Boone & Seibert, Med. Phys. 15:713 and 15:721 (1988); Love & Kruger, Med. Phys. 14:178
    (1987); Sun & Star-Lack, Phys. Med. Biol. 55:6695 (2010) (thickness-adaptive kernels);
    this project's Monte Carlo (``tools/scatter_mc.py``).
    """
    if not isinstance(primary, Mapping) or not primary:
        raise ValueError("primary must be a non-empty mapping key -> image")
    n = int(grid.n_px)
    shape = (n, n)
    for name, img in primary.items():
        if np.shape(img) != shape:
            raise ValueError(f"primary[{name!r}] has shape {np.shape(img)}, expected {shape}")
    mask = np.asarray(field_mask, dtype=np.float32)
    if mask.shape != shape:
        raise ValueError(f"field_mask has shape {mask.shape}, expected {shape}")
    reduced = water_eq_mm if isinstance(water_eq_mm, WaterEq) else None
    if reduced is None:
        t_map = np.asarray(water_eq_mm, dtype=np.float32)
        if t_map.shape != shape:
            raise ValueError(f"water_eq_mm has shape {t_map.shape}, expected {shape}")
        if not np.all(np.isfinite(t_map)) or float(t_map.min(initial=0.0)) < 0.0:
            raise ValueError("water_eq_mm must be finite and >= 0 [mm]")

    gap = check_number("geometry.air_gap_cm", geometry.air_gap_cm, 0.0, 100.0, "cm")
    spec, spec_id = _spectral_for(spectrum, weights, gap)
    plan_key = _plan_key(geometry, grid)
    m = plan_key[-1]
    plan = _plan(*plan_key)

    if reduced is not None:
        if reduced.plan_key != plan_key:
            raise ValueError(
                f"water_eq_mm was reduced for {reduced.plan_key} (n_px, fov_mm, field_cm, "
                f"field_shape, m), not {plan_key}: coarse_paths with this geometry and grid"
            )
        t_c = reduced.coarse_cm  # [cm]
    else:
        t_c = _coarse(t_map, plan).astype(float) * CM_PER_MM  # [cm]
    in_field = plan.ext > 0.0
    t_lo = float(t_c[in_field].min()) if in_field.any() else 0.0
    t_hi = float(t_c[in_field].max()) if in_field.any() else 0.0
    if t_hi - t_lo < _GROUP_SPREAD_CM:
        nodes = np.array([0.5 * (t_lo + t_hi)])
        groups = None
    else:
        nodes = np.linspace(t_lo, t_hi, 3)
        h = _hat(t_c.ravel(), nodes)  # (cells, group): weight of each thickness group
        groups = h.T.reshape(nodes.size, 1, *t_c.shape).astype(np.float32)
    t_kernels = tuple(round(float(tn), 2) for tn in nodes)
    k_cells, kf, basis = _kernels_fft(spec_id, t_kernels, plan_key, m)

    keys = list(primary)
    src = np.empty((len(keys), plan.n_dom, plan.n_dom), dtype=np.float32)
    for i, key in enumerate(keys):
        kk = spec.keys.index(key) if key in spec.keys else 0
        amp = _interp_t(spec, spec.spr_inf[kk], t_c).astype(np.float32)
        src[i] = _coarse(primary[key], plan) * plan.ext * amp
    n2 = (plan.n_fft, plan.n_fft)
    parts = scipy.fft.rfft2(src[None] if groups is None else src * groups, s=n2)
    parts *= kf[:, None]  # (group, key, n_fft, n_fft // 2 + 1)
    acc = parts.sum(axis=0)
    conv = scipy.fft.irfft2(acc, s=n2)[:, : plan.n_dom, : plan.n_dom]
    np.maximum(conv, 0.0, out=conv)
    out = _resample(conv, plan)
    maps = {key: out[i] for i, key in enumerate(keys)}

    # field-centre figures
    centre = _centre_box(n, geometry, grid)
    spr_by_key = {}
    for key in keys:
        p = float(np.sum(primary[key][centre], dtype=np.float64))
        s = float(np.sum(maps[key][centre], dtype=np.float64))
        spr_by_key[key] = s / p if p > 0.0 else 0.0
    qkey = "quanta" if "quanta" in keys else keys[0]
    p_q = np.asarray(primary[qkey], dtype=np.float32)
    if reduced is not None:
        t_centre = reduced.centre_cm
    else:
        t_centre = float(np.mean(t_map[centre], dtype=np.float64)) * CM_PER_MM
    es = float(_interp_t(spec, spec.mean_e_scatter_keV, np.array(t_centre)))
    ep = float(_interp_t(spec, spec.mean_e_primary_keV, np.array(t_centre)))
    return ScatterResult(
        maps=maps,
        spr=spr_by_key[qkey],
        spr_by_key=spr_by_key,
        kernel=k_cells[len(k_cells) // 2][basis.shifted_index],
        kernel_pixel_mm=plan.cell_cm * MM_PER_CM,
        scatter_energy_factor=es / ep if ep > 0 else 1.0,
        water_eq_center_cm=t_centre,
        scatter_spectrum=scatter_spectrum(spectrum, min(t_centre, T_MAX_CM)),
        _spr_inputs=(maps[qkey], p_q, mask),
    )


__all__ = [
    "COARSE_CELLS",
    "MC_FILE",
    "T_MAX_CM",
    "CoarsePaths",
    "ScatterResult",
    "WaterEq",
    "coarse_paths",
    "scatter_estimate",
    "scatter_spectrum",
    "spr_center",
    "water_equivalent",
    "water_equivalent_mm",
]
