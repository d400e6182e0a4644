"""Checks of the inputs shared by the exact per-energy sum and the look-up table.

Spectra (``energy_keV`` [keV] and ``fluence`` arrays), energy weights, distances, per-material
path-length maps [mm] and the off-axis inverse-square map; each check raises a ``ValueError``
naming the argument, its value and its valid range.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping

import numpy as np

from sim import materials as _mat

_COUNT_STRIDE = 7  # pixel fractions (used only to rank materials) from every 7th pixel


@dataclasses.dataclass(frozen=True, eq=False)
class PathMaps:
    """Validated path maps: float32 contiguous maps of the materials with a non-zero path,
    their maxima and minima [mm] and the fraction of pixels above the minimum [-].

    Made by :func:`prepare_paths`; the projection functions take it in place of the mapping
    and skip the checks, so a scene whose paths serve many spectra checks them once.
    """

    shape: tuple[int, ...]
    maps: dict
    maxima: dict
    minima: dict
    support: dict
    _memo: dict = dataclasses.field(default_factory=dict, repr=False)
    """Derived per-pixel data kept with the maps (:mod:`sim.projection.layout`)."""


def _spectrum_arrays(spectrum: object) -> tuple[np.ndarray, np.ndarray]:
    """Energies [keV] and fluence of a spectrum-like object, checked."""
    try:
        e = np.asarray(spectrum.energy_keV, dtype=np.float64)
        f = np.asarray(spectrum.fluence, dtype=np.float64)
    except AttributeError:
        raise ValueError(
            f"spectrum={type(spectrum).__name__} must have energy_keV [keV] and fluence arrays"
        ) from None
    if e.ndim != 1 or f.shape != e.shape or e.size == 0:
        raise ValueError(
            f"spectrum energy_keV {e.shape} and fluence {f.shape} must be 1-D of equal length"
        )
    if not (np.all(np.isfinite(e)) and np.all(e > 0.0)):
        raise ValueError("spectrum energy_keV must be finite and > 0 keV")
    if not np.all(np.isfinite(f)) or np.any(f < 0.0):
        raise ValueError("spectrum fluence must be finite and >= 0 in every bin")
    return e, f


def _check_weights(
    weights: Mapping[str, object] | None, n_energy: int
) -> tuple[tuple[str, ...], np.ndarray]:
    """Weight names and a (K, n_energy) float64 array; None means {"fluence": 1}."""
    if weights is None:
        return ("fluence",), np.ones((1, n_energy))
    if not isinstance(weights, Mapping) or len(weights) == 0:
        raise ValueError(f"weights={weights!r} must be a non-empty mapping name -> w(E) array")
    names = tuple(str(k) for k in weights)
    rows = []
    for name, w in weights.items():
        a = np.asarray(w, dtype=np.float64)
        if a.shape != (n_energy,):
            raise ValueError(
                f"weights[{name!r}] has shape {a.shape}; must be ({n_energy},), one value per "
                "energy bin of the spectrum"
            )
        if not np.all(np.isfinite(a)) or np.any(a < 0.0):
            bad = a[~(np.isfinite(a) & (a >= 0.0))][0]
            raise ValueError(f"weights[{name!r}] contains {bad}: must be finite and >= 0")
        rows.append(a)
    return names, np.stack(rows)


def _check_lengths(name: str, lengths: Mapping[str, object]) -> dict[str, float]:
    """The positive path lengths of a mapping material -> length [mm], checked (zeros left out)."""
    out = {}
    for m, v in lengths.items():
        _mat.check_material(m)
        try:
            x = float(v)
        except (TypeError, ValueError):
            raise ValueError(f"{name}[{m!r}]={v!r} is not a number [mm]") from None
        if not math.isfinite(x) or x < 0.0:
            raise ValueError(f"{name}[{m!r}]={v!r} is out of range [0, inf) mm")
        if x > 0.0:
            out[str(m)] = x
    return out


def _check_distance(distance_cm: float) -> float:
    try:
        d = float(distance_cm)
    except (TypeError, ValueError):
        raise ValueError(f"distance_cm={distance_cm!r} is not a number; must be > 0 cm") from None
    if not math.isfinite(d) or d <= 0.0:
        raise ValueError(f"distance_cm={distance_cm!r} is out of range (0, inf) cm")
    return d


def prepare_paths(paths: Mapping[str, object]) -> PathMaps:
    """Check path-length maps once, for many projections of the same scene.

    Parameters
    ----------
    paths : mapping of str to ndarray
        Material -> path length along each ray [mm], all maps of one shape.

    Returns
    -------
    PathMaps
        The checked maps with their minima, maxima and pixel fractions.
    """
    return _check_paths(paths, None)


def _check_paths(paths: Mapping[str, object] | PathMaps, inv_square_map: object | None) -> PathMaps:
    """Validate path maps [mm]: known materials, one shape, finite and >= 0 (a
    :class:`PathMaps` is already checked: only its shape is compared)."""
    if isinstance(paths, PathMaps):
        if inv_square_map is not None and np.shape(inv_square_map) != paths.shape:
            raise ValueError(
                f"inv_square_map has shape {np.shape(inv_square_map)}; must be {paths.shape}"
            )
        return paths
    if not isinstance(paths, Mapping):
        raise ValueError(f"paths={type(paths).__name__} must be a mapping material -> map [mm]")
    shape = None
    if inv_square_map is not None:
        shape = np.shape(inv_square_map)
    maps, maxima, minima, support = {}, {}, {}, {}
    for name, arr in paths.items():
        _mat.check_material(name)
        a = np.asarray(arr, dtype=np.float32)
        if shape is None:
            shape = a.shape
        if a.shape != shape:
            raise ValueError(
                f"paths[{name!r}] has shape {a.shape}; all maps (and inv_square_map) must "
                f"have shape {shape}"
            )
        if a.size == 0:
            continue
        lo, hi = float(a.min()), float(a.max())
        if not (math.isfinite(lo) and math.isfinite(hi)) or lo < 0.0:
            bad = lo if (not math.isfinite(lo) or lo < 0.0) else hi
            raise ValueError(f"paths[{name!r}] contains {bad}: must be finite and >= 0 mm")
        if hi == 0.0:
            continue
        maps[name] = np.ascontiguousarray(a)
        maxima[name] = hi
        minima[name] = lo
        sub = a.reshape(-1)[::_COUNT_STRIDE]
        support[name] = float(np.count_nonzero(sub > np.float32(lo))) / sub.size
    if shape is None:
        raise ValueError("paths is empty: give at least one path map or an inv_square_map")
    return PathMaps(tuple(shape), maps, maxima, minima, support)


def _check_inv_square(inv_square_map: object, shape: tuple[int, ...]) -> np.ndarray:
    m = np.asarray(inv_square_map, dtype=np.float32)
    if m.shape != shape:
        raise ValueError(f"inv_square_map has shape {m.shape}; must be {shape}")
    lo, hi = float(m.min()), float(m.max())
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo < 0.0:
        raise ValueError(f"inv_square_map contains {lo if lo < 0 else hi}: must be finite, >= 0")
    return m
