"""Polyenergetic Beer-Lambert attenuation along rays, and basis-material decomposition.

For a spectrum ``fluence(E)`` (photons / (mm^2 mAs) per bin at 100 cm) and path-length maps
``L_m`` [mm] of materials ``m`` along each ray, the primary signal for an energy weight ``w(E)``
is, per pixel,

    out[pixel] = (100 / d)^2 * sum_E fluence(E) * w(E) * exp(-sum_m mu_m(E) * L_m[pixel])

(Beer-Lambert per energy bin, with beam hardening because the sum over energy is taken after
the attenuation [4]_; ``mu_m`` from NIST SRD 126 [3]_ via ``sim.materials``). ``w = 1`` gives
the primary photon fluence, ``w = E`` the energy fluence, and the receptor supplies
absorbed-quanta, absorbed-energy and air-kerma weights. This module evaluates the formula
exactly, per energy: :func:`exact_integrate` on every pixel (the reference of the look-up
table of :mod:`sim.projection.lut`) and :func:`transmitted_spectrum` along one ray.

Basis-material decomposition
----------------------------
The look-up table integrates the spectrum over a few *basis* thicknesses instead of one per
material (Alvarez & Macovski 1976 [1]_; Lehmann et al. 1981 [2]_): a material without an
absorption edge in the spectrum's range has an attenuation that is a linear combination of
two basis functions (photo-electric and Compton), so its ``mu_m(E)`` is fitted, by least
squares weighted with the hardened spectra, as ``sum_b a_mb mu_b(E)`` over basis materials
``b``. The bases are *materials present in the maps*: the most attenuating one first (soft
tissue or water), then, greedily, the one that leaves the fewest pixels with a poorly fitting
material. A material with an absorption edge in range (iodinated contrast: I K edge
33.17 keV; lead: 88.0 keV) fits no edge-free basis and so becomes an axis of its own;
contrast solutions are used as they are, without splitting off the iodine. A fit counts as
good when the largest relative output error it causes, checked directly over the hardened
spectra at half and all of the material's maximum path, is below :data:`FIT_TOL`, and when it
does not cancel large opposite coefficients (:data:`KAPPA_MAX`). Up to three axes
(:data:`sim.projection.lut.MAX_AXES`); a material that fits nothing (a steel needle when the
axes are taken) is computed exactly, per energy, on the pixels where it is present.

References
----------
.. [1] R. E. Alvarez, A. Macovski, "Energy-selective reconstructions in X-ray computerized
   tomography", Phys. Med. Biol. 21:733-744 (1976).
.. [2] L. A. Lehmann et al., "Generalized image combinations in dual KVP digital
   radiography", Med. Phys. 8:659-667 (1981) (aluminium / plastic basis decomposition).
.. [3] J. H. Hubbell, S. M. Seltzer, "Tables of X-Ray Mass Attenuation Coefficients and Mass
   Energy-Absorption Coefficients", NIST Standard Reference Database 126 (2004).
.. [4] J. T. Bushberg et al., The Essential Physics of Medical Imaging, 3rd ed. (2012), ch. 3
   (Beer-Lambert attenuation of polyenergetic beams, beam hardening).
"""

from __future__ import annotations

import math
import threading
import types
from collections import OrderedDict
from collections.abc import Mapping

import numpy as np

from sim import materials as _mat
from sim.projection.inputs import (
    _check_distance,
    _check_inv_square,
    _check_lengths,
    _check_paths,
    _check_weights,
    _spectrum_arrays,
)
from sim.spectrum import REFERENCE_DISTANCE_CM

FIT_TOL = 1e-3
"""Largest accepted relative output error caused by fitting a material onto the bases [-]."""

KAPPA_MAX = 2.5
"""Largest accepted cancellation of a basis fit: sum_b |a_mb| mubar_b / mubar_m [-] (a fit
that subtracts large multiples of the bases extrapolates badly and stretches the axes)."""

_EXACT_CHUNK = 2048  # pixels per chunk of the exact per-energy sum
_LOG_FLOOR = 1e-300  # outputs below this are stored as log(1e-300) (exp -> 0 in float32)
_AXES_MEAN_E_STEP_KEV = 1.0  # spectra within one bucket of mean energy share a basis choice


def _mu(name: str, energy: np.ndarray) -> np.ndarray:
    """Linear attenuation coefficient of a material [1/mm]."""
    return _mat.mu_per_mm(name, energy)


def _exact_sum(lengths: np.ndarray, mu: np.ndarray, cw: np.ndarray) -> np.ndarray:
    """sum_E cw[k, E] exp(-lengths @ mu) for (n, M) lengths [mm], (M, E) mu [1/mm]: (K, n)."""
    n = lengths.shape[0]
    res = np.empty((cw.shape[0], n))
    for s in range(0, n, _EXACT_CHUNK):
        e = min(n, s + _EXACT_CHUNK)
        att = lengths[s:e] @ mu
        np.exp(-att, out=att)
        res[:, s:e] = (att @ cw.T).T
    return res


# --------------------------------------------------------------------------------------------
# basis-material decomposition: fits and the choice of bases
# --------------------------------------------------------------------------------------------
def _wls(basis: np.ndarray, mus: np.ndarray, wfit: np.ndarray) -> np.ndarray:
    """Weighted least-squares coefficients (M, D) of the rows of ``mus`` (M, E) over the
    rows of ``basis`` (D, E)."""
    sw = np.sqrt(wfit)
    coef, *_ = np.linalg.lstsq((basis * sw).T, (mus * sw).T, rcond=None)
    return coef.T


def _states(cw: np.ndarray, mu: np.ndarray, rows: list[int], lmax: np.ndarray) -> np.ndarray:
    """Normalised spectra (outputs x hardening by the axes so far at 0, 1/2 and all of their
    maximum path): the rows over which fits are made and checked."""
    att = [np.zeros(mu.shape[1])]
    for row in rows:
        att = [a + f * lmax[row] * mu[row] for a in att for f in (0.0, 0.5, 1.0)]
    h = (np.exp(-np.stack(att))[:, None, :] * cw[None, :, :]).reshape(-1, cw.shape[1])
    total = h.sum(axis=1)
    live = total > 0.0
    return h[live] / total[live, None]


def _fit_errors(residuals: np.ndarray, lmax: np.ndarray, states: np.ndarray) -> np.ndarray:
    """Largest relative output error (M,) from fit residuals (M, E) [1/mm] at half and all
    of each maximum path, over the spectra ``states``: max |sum_E h exp(-L r) - 1|."""
    err = np.zeros(residuals.shape[0])
    for frac in (0.5, 1.0):
        x = np.minimum(-frac * lmax[:, None] * residuals, 700.0)
        err = np.maximum(err, np.abs(states @ np.exp(x).T - 1.0).max(axis=0))
    return err


def _fit_all(
    axes: list[int], mu: np.ndarray, cw: np.ndarray, lmax: np.ndarray, check_axes: list[int]
) -> tuple[np.ndarray, np.ndarray]:
    """Fit every material onto ``axes``; errors checked over spectra hardened by
    ``check_axes``. A fit that cancels large coefficients (> KAPPA_MAX) gets error inf."""
    states = _states(cw, mu, check_axes, lmax)
    wfit = states.mean(axis=0)
    coef = _wls(mu[axes], mu, wfit)
    err = _fit_errors(mu - coef @ mu[axes], lmax, states)
    mub = mu @ wfit
    kappa = (np.abs(coef) * mub[axes]).sum(axis=1) / np.maximum(mub, _LOG_FLOOR)
    err[kappa > KAPPA_MAX] = np.inf
    coef[axes] = np.eye(len(axes))
    err[axes] = 0.0
    return coef, err


def _choose_axes(
    mats: tuple[str, ...],
    mu: np.ndarray,
    cw: np.ndarray,
    lmax: np.ndarray,
    support: np.ndarray,
) -> tuple[list[int], np.ndarray, list[int], Mapping[str, float]]:
    """Basis selection; returns axis rows, coefficients, exact rows, fit errors.

    The two dense axes: the single material, else the pair, that leaves the smallest pixel
    fraction of poorly fitting materials (worse than FIT_TOL), then the smallest sum of fit
    errors; pairs contain at least one material whose pixel fraction is within a factor 4 of
    the largest. A soft tissue between adipose and bone is thus fitted by interpolation
    rather than extrapolation. The sparse third axis: the poorly fitting material that leaves
    the fewest poorly fitting pixels (ties: the densest, then the most attenuating: max
    path x spectrum-mean mu). A material that fits the first two axes does not use the third.
    """
    m_count = len(mats)
    fl = cw.mean(axis=0)
    importance = lmax * (mu @ fl) / max(fl.sum(), _LOG_FLOOR)
    dense = [m for m in range(m_count) if support[m] >= 0.25 * support.max()]

    def score(axes: list[int]) -> tuple[tuple, np.ndarray, np.ndarray]:
        c, e = _fit_all(axes, mu, cw, lmax, axes)
        bad = e > FIT_TOL
        key = (float(support[bad].sum()), float(np.sum(np.where(bad, 0.0, e))))
        return key, c, e

    configs = [[m] for m in dense]
    if m_count > 1:
        configs += [
            [i, j]
            for i in range(m_count)
            for j in range(i + 1, m_count)
            if i in dense or j in dense
        ]
    best = None
    for axes in configs:
        key, c, e = score(axes)
        key = (key[0], len(axes), key[1], -float(support[axes].sum()))
        if best is None or key < best[0]:
            best = (key, axes, c, e)
        if len(axes) == 1 and key[0] == 0.0 and best[1] == axes:
            break
    _, axes, coef, err = best
    axes = sorted(axes, key=lambda m: (-support[m], -importance[m]))
    coef, err = _fit_all(axes, mu, cw, lmax, axes)
    bad = [m for m in range(m_count) if err[m] > FIT_TOL]
    if len(axes) == 2 and bad:
        best = None
        for cand in bad:
            key, c, e = score(axes + [cand])
            key = (key[0], -support[cand], -importance[cand])
            if best is None or key < best[0]:
                best = (key, cand, c, e)
        axes.append(best[1])
        coef, err = best[2], best[3]
    return _finish(mats, axes, coef, err, mu, cw, lmax)


_AXES_CACHE: OrderedDict = OrderedDict()
_AXES_LOCK = threading.Lock()


def clear_axes() -> None:
    """Forget the choices of basis axes reused for spectra of nearly the same mean energy."""
    with _AXES_LOCK:
        _AXES_CACHE.clear()


def _choose_axes_cached(mats, mu, cw, lmax, support, mean_e_keV):
    """:func:`_choose_axes`, with the discrete choice of axes reused for spectra of nearly the
    same mean energy (a choice: the search costs ~7 ms; the coefficients and fit errors are
    always recomputed for the actual spectrum, so accuracy is checked as before)."""
    key = (
        mats,
        tuple(np.round(support, 3)),
        tuple(np.round(np.log2(lmax + 1.0), 1)),
        round(mean_e_keV / _AXES_MEAN_E_STEP_KEV),
    )
    with _AXES_LOCK:
        axes = _AXES_CACHE.get(key)
    if axes is None:
        axes, coef, exact, errors = _choose_axes(mats, mu, cw, lmax, support)
        with _AXES_LOCK:
            _AXES_CACHE[key] = list(axes)
            while len(_AXES_CACHE) > 256:
                _AXES_CACHE.popitem(last=False)
        return axes, coef, exact, errors
    return _refit(mats, list(axes), mu, cw, lmax)


def _refit(mats, axes, mu, cw, lmax):
    """Coefficients, exact rows and fit errors for a given choice of axes (as _choose_axes)."""
    coef, err = _fit_all(axes, mu, cw, lmax, axes)
    return _finish(mats, axes, coef, err, mu, cw, lmax)


def _finish(mats, axes, coef, err, mu, cw, lmax):
    """The fit of ``axes`` completed: with three axes a material that fits the first two keeps
    those coefficients; a material that fits none is computed exactly (coefficients 0)."""
    if len(axes) == 3:
        c2, e2 = _fit_all(axes[:2], mu, cw, lmax, axes)
        two = e2 <= FIT_TOL
        two[axes] = False
        coef[two] = np.concatenate([c2[two], np.zeros((int(two.sum()), 1))], axis=1)
        err[two] = e2[two]
    exact = [m for m in range(len(mats)) if err[m] > FIT_TOL]
    coef[exact] = 0.0
    errors = types.MappingProxyType({m: float(e) for m, e in zip(mats, err, strict=True)})
    return axes, coef, exact, errors


# --------------------------------------------------------------------------------------------
# public API: the exact per-energy formula
# --------------------------------------------------------------------------------------------
def exact_integrate(
    spectrum: object,
    paths: Mapping[str, np.ndarray],
    weights: Mapping[str, np.ndarray] | None = None,
    distance_cm: float = REFERENCE_DISTANCE_CM,
    inv_square_map: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Reference for :func:`~sim.projection.integrate`: the per-energy sum on every pixel
    (slow, float64).

    Same parameters and formula as :func:`~sim.projection.integrate`; computed in chunks of
    pixels as ``exp(-L @ mu) @ (fluence * w)`` over every energy bin. For tests and checks.

    Returns
    -------
    dict of str to ndarray
        float64 images, one per weight [weight units / (mm^2 mAs)].

    References
    ----------
    Beer-Lambert law per energy bin; Hubbell & Seltzer, NIST SRD 126 (via ``sim.materials``).
    """
    energy, fluence = _spectrum_arrays(spectrum)
    names, w = _check_weights(weights, energy.size)
    d = _check_distance(distance_cm)
    pm = _check_paths(paths, inv_square_map)
    active = fluence > 0.0
    cw = w[:, active] * fluence[active]
    n_pix = math.prod(pm.shape)
    mats = sorted(pm.maps)
    if mats:
        mu = np.stack([np.asarray(_mu(m, energy), float)[active] for m in mats])
        lengths = np.stack([pm.maps[m].reshape(-1) for m in mats], axis=1).astype(np.float64)
        res = _exact_sum(lengths, mu, cw)
    else:
        res = np.repeat(cw.sum(axis=1)[:, None], n_pix, axis=1)
    res *= (REFERENCE_DISTANCE_CM / d) ** 2
    if inv_square_map is not None:
        res *= _check_inv_square(inv_square_map, pm.shape).reshape(1, -1)
    return {name: res[k].reshape(pm.shape) for k, name in enumerate(names)}


def transmitted_spectrum(spectrum: object, path_mm: Mapping[str, float]) -> object:
    """Spectrum behind the given material thicknesses along one ray (exact, per energy).

    Parameters
    ----------
    spectrum : Spectrum
        Incident spectrum.
    path_mm : mapping of str to float
        Material -> path length [mm], each finite and >= 0.

    Returns
    -------
    Spectrum
        ``fluence(E) * exp(-sum_m mu_m(E) L_m)`` (via ``Spectrum.filtered``); the materials are
        appended to ``filtration``. Same distance reference as the input (no inverse square).

    References
    ----------
    Beer-Lambert law; Hubbell & Seltzer, NIST SRD 126 (via ``sim.materials``).
    """
    if not isinstance(path_mm, Mapping):
        raise ValueError(f"path_mm={path_mm!r} must be a mapping material -> length [mm]")
    clean = _check_lengths("path_mm", path_mm)
    if not clean:
        return spectrum
    return spectrum.filtered(clean)
