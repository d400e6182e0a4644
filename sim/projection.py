"""Polyenergetic primary projection through per-material path-length maps.

For a spectrum ``fluence(E)`` (photons / (mm^2 mAs) per bin at 100 cm) and path-length maps
``L_m`` [mm] of materials ``m`` along each ray, the primary signal for an energy weight ``w(E)``
is, per pixel,

    out[pixel] = (100 / d)^2 * sum_E fluence(E) * w(E) * exp(-sum_m mu_m(E) * L_m[pixel])

(Beer-Lambert per energy bin, with beam hardening because the sum over energy is taken after
the attenuation). ``w = 1`` gives the primary photon fluence, ``w = E`` the energy fluence, and
the receptor supplies absorbed-quanta, absorbed-energy and air-kerma weights.

Method
------
A per-pixel sum over ~300 energy bins on a 512 x 512 image costs ~10^8 exponentials, so the
spectrum is integrated once into a small look-up table (LUT) over a few *basis* thicknesses
and interpolated per pixel:

0. The part of each path common to every pixel (its minimum over the image: the table top and
   pad, a uniform slab) filters the spectrum exactly, per energy; the LUT covers only the rest.
1. Basis-material decomposition (Alvarez & Macovski 1976 [1]_; Lehmann et al. 1981 [2]_): a
   material without an absorption edge in the spectrum's range has an attenuation that is a
   linear combination of two basis functions (photo-electric and Compton), so its
   ``mu_m(E)`` is fitted, by least squares weighted with the hardened spectra, as
   ``sum_b a_mb mu_b(E)`` over basis materials ``b``. The bases are *materials present in the
   maps*: the most attenuating one first (soft tissue or water), then, greedily, the one that
   leaves the fewest pixels with a poorly fitting material. A material with an absorption edge
   in range (iodinated contrast: I K edge 33.17 keV; lead: 88.0 keV) fits no edge-free basis
   and so becomes an axis of its own; contrast solutions are used as they are, without
   splitting off the iodine. A fit counts as good when the largest relative output error it
   causes, checked directly over the hardened spectra at half and all of the material's
   maximum path, is below :data:`FIT_TOL`, and when it does not cancel large opposite
   coefficients (:data:`KAPPA_MAX`). Up to three axes; the third one is evaluated only on the
   pixels where it is used (a contrast pocket), the others on the plane where it is zero. A
   material that fits nothing (a steel needle when the axes are taken) is computed exactly,
   per energy, on the pixels where it is present.
2. Each axis is sampled on nodes uniform in ``sqrt(t + c)`` (fine near zero, where the spectrum
   hardens fastest); within a cell the interpolation is linear in ``t`` itself, so that a
   monoenergetic beam is exact. ``c`` and the node count are chosen per axis so that linear
   interpolation of ``log(out)`` errs by less than :data:`INTERP_TOL` for every weight and for
   the spectra hardened by the other axes. The table is built separably: ``exp(-t mu_b(E))``
   per axis, products, and one matrix product with ``fluence * w`` (no per-pixel exponentials).
3. Per pixel: basis thicknesses ``A_b = sum_m a_mb L_m``, then (bi/tri)linear interpolation of
   ``log(out)`` in float32, vectorised over pixels in cache-sized chunks (threads for large
   images); bilinear cell coefficients are packed so one gather per output and pixel suffices.

LUTs are cached by (spectrum shape, i.e. normalised to its peak bin so that the mAs does not
matter; common path parts; materials with their remaining maximum paths rounded up on a
2^(1/4) ladder and their pixel fractions in octaves; weights): a change of noise, mA, pulse width or
needle position reuses the table; a kVp or filter change rebuilds it (~5 ms).

Accuracy: LUT against the exact per-energy sum within 0.5 % for the hip and slab ranges
(0-400 mm soft tissue, 0-60 mm cortical bone, 0-200 mg/cm^2 iodine, 0-2 mm steel), checked in
``tests/test_projection.py`` (typically 0.05-0.15 %). Timings: ``tools/bench_projection.py``.

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

import concurrent.futures
import dataclasses
import math
import os
import threading
import types
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping

import numpy as np

from sim import materials as _mat
from sim.spectrum import REFERENCE_DISTANCE_CM

FIT_TOL = 1e-3
"""Largest accepted relative output error caused by fitting a material onto the bases [-]."""

INTERP_TOL = 1e-3
"""Largest accepted relative error of linear interpolation of log(out) along one axis [-]."""

KAPPA_MAX = 2.5
"""Largest accepted cancellation of a basis fit: sum_b |a_mb| mubar_b / mubar_m [-] (a fit
that subtracts large multiples of the bases extrapolates badly and stretches the axes)."""

MAX_AXES = 3
"""Most basis materials (LUT dimensions); the third axis is evaluated on its support only."""

DEFAULT_MAX_ATTENUATION = 30.0
"""Default range of an axis when no maximum path is given: mean mu * path = 30 [-]."""

_MAX_DEFAULT_PATH_MM = 500.0  # cap of a default axis range [mm]
_LADDER_STEPS_PER_OCTAVE = 4  # maximum paths rounded up to 2^(k/4) mm so small changes reuse LUTs
_SUPPORT_FLOOR = 1.0 / 256.0  # pixel fractions rounded up to a power of 2 (>= 1/256) for keys
_NODE_COUNTS = (6, 8, 12, 16, 24, 32, 48, 64, 96, 128)
_C_FRACTIONS = (0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0)  # sqrt-spacing offset c / axis range
_CHUNK = 16384  # pixels per chunk (fits the L2 cache with the temporaries)
_MAX_THREADS = 4  # threads for the per-pixel interpolation of large images
_EXACT_CHUNK = 2048  # pixels per chunk of the exact per-energy sum
_LOG_FLOOR = 1e-300  # outputs below this are stored as log(1e-300) (exp -> 0 in float32)
_CACHE_SIZE = 32
_TOP_EPS = 1e-4  # fractional indices stay below the last node, so floor() <= n - 2
_SPARSE_MAX_FRACTION = 0.5  # above this pixel fraction the third axis is interpolated densely
_COUNT_STRIDE = 7  # pixel fractions (used only to rank materials) from every 7th pixel
_PRUNE = 1e-10  # energy bins with fluence below this fraction of the peak bin are dropped


# --------------------------------------------------------------------------------------------
# input checks
# --------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True, eq=False)
class _Maps:
    """Validated path maps: float32 contiguous maps of the materials with a non-zero path,
    their maxima and minima [mm] and the fraction of pixels above the minimum [-]."""

    shape: tuple[int, ...]
    maps: dict
    maxima: dict
    minima: dict
    support: dict


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


def _check_distance(distance_cm: float) -> float:
    try:
        d = float(distance_cm)
    except (TypeError, ValueError):
        raise ValueError(f"distance_cm={distance_cm!r} is not a number; must be > 0 cm") from None
    if not math.isfinite(d) or d <= 0.0:
        raise ValueError(f"distance_cm={distance_cm!r} is out of range (0, inf) cm")
    return d


def _check_paths(paths: Mapping[str, object], inv_square_map: object | None) -> _Maps:
    """Validate path maps [mm]: known materials, one shape, finite and >= 0."""
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
    return _Maps(tuple(shape), maps, maxima, minima, support)


def _check_inv_square(inv_square_map: object, shape: tuple[int, ...]) -> np.ndarray:
    m = np.asarray(inv_square_map, dtype=np.float32)
    if m.shape != shape:
        raise ValueError(f"inv_square_map has shape {m.shape}; must be {shape}")
    lo, hi = float(m.min()), float(m.max())
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo < 0.0:
        raise ValueError(f"inv_square_map contains {lo if lo < 0 else hi}: must be finite, >= 0")
    return m


def _round_support(frac: float) -> float:
    """Pixel fraction rounded up to a power of 2 (at least 1/256): it only ranks materials,
    and coarse buckets keep the LUT cached while a needle moves."""
    return 2.0 ** math.ceil(math.log2(max(frac, _SUPPORT_FLOOR)) - 1e-9)


def _round_up(x: float) -> float:
    """Round a length up on a 2^(1/4) ladder (0 stays 0), so nearby maxima share a LUT."""
    if x <= 0.0:
        return 0.0
    k = math.ceil(_LADDER_STEPS_PER_OCTAVE * math.log2(x) - 1e-9)
    return 2.0 ** (k / _LADDER_STEPS_PER_OCTAVE)


# --------------------------------------------------------------------------------------------
# the look-up table
# --------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True, eq=False)
class Axis:
    """One LUT axis: a basis material sampled on nodes uniform in sqrt(t + c).

    The node spacing grows with depth (fine where the spectrum hardens fastest); within a
    cell, interpolation is linear in the thickness t itself, so that a monoenergetic beam
    (log output linear in t) is reproduced exactly.

    Attributes
    ----------
    material : str
        Basis material.
    lo_mm, hi_mm : float
        Range of the basis thickness covered [mm] (``lo_mm`` <= 0 <= ``hi_mm``).
    c_mm : float
        Offset of the square-root spacing [mm].
    s0 : float
        sqrt(t + c) at the first node [sqrt(mm)].
    ds : float
        Node spacing in sqrt(t + c) [sqrt(mm)].
    n_nodes : int
        Number of nodes [-].
    zero_node : int
        Index of the node at t = 0 [-].
    interp_error : float
        Largest relative interpolation error found along this axis alone [-].
    """

    material: str
    lo_mm: float
    hi_mm: float
    c_mm: float
    s0: float
    ds: float
    n_nodes: int
    zero_node: int
    interp_error: float
    _inv_h32: np.ndarray = dataclasses.field(init=False, repr=False)

    def __post_init__(self) -> None:
        h = np.diff(self.nodes_mm)
        object.__setattr__(self, "_inv_h32", (1.0 / h).astype(np.float32))

    @property
    def nodes_mm(self) -> np.ndarray:
        """Node thicknesses [mm]."""
        s = self.s0 + self.ds * np.arange(self.n_nodes)
        t = s * s - self.c_mm
        t[self.zero_node] = 0.0
        return t

    def locate(
        self,
        t: np.ndarray,
        offset_mm: float,
        i_out: np.ndarray,
        f_out: np.ndarray,
        tmp: np.ndarray,
    ) -> np.ndarray:
        """Cell of the thicknesses ``t - offset_mm`` [mm] (float32, within [lo_mm, hi_mm]).

        Writes the cell index into ``i_out`` and returns, in ``f_out``, the fraction
        (t - offset - t_i) / (t_i+1 - t_i) [-]. Since c >= 4 |lo_mm|, t - offset + c > 0.
        """
        f32 = np.float32
        u = np.add(t, f32(self.c_mm - offset_mm), out=f_out, dtype=f32)
        np.sqrt(u, out=u)
        u -= f32(self.s0)
        u *= f32(1.0 / self.ds)
        np.minimum(u, f32(self.n_nodes - 1 - _TOP_EPS), out=u)  # u >= 0 as t - offset >= lo
        i_out[...] = u  # truncation = floor for u >= 0
        np.take((self.nodes_mm + offset_mm).astype(f32), i_out, out=f_out)
        np.subtract(t, f_out, out=f_out)
        np.take(self._inv_h32, i_out, out=tmp)
        f_out *= tmp
        return f_out


@dataclasses.dataclass(frozen=True, eq=False)
class Lut:
    """Spectrum integrated over basis-material thicknesses, per energy weight.

    Build it with :func:`build_lut`; evaluate it on path maps with :meth:`Lut.evaluate`.
    :func:`integrate` builds (cached) and evaluates in one call.

    Attributes
    ----------
    names : tuple of str
        Names of the weights (outputs).
    materials : tuple of str
        Materials the table accepts.
    axes : tuple of Axis
        The basis axes (at most :data:`MAX_AXES`); the third one is evaluated on its support.
    coeffs : ndarray
        (n_materials, n_axes) basis coefficients ``a_mb``: ``mu_m ~ sum_b a_mb mu_b`` [-].
    exact : tuple of str
        Materials whose pixels are computed exactly per energy (no good fit, no axis left).
    fit_errors : mapping
        Material -> largest relative output error of its basis fit (0 for an axis) [-].
    min_path_mm : mapping
        Material -> path common to every pixel, folded into the spectrum [mm].
    max_path_mm : mapping
        Material -> largest path the table covers [mm].
    table : ndarray
        float32 (n_0, ..., n_D-1, K) log of the outputs at the nodes, at 100 cm, for the
        spectrum normalised to a peak bin of 1 [log(output units)].
    energy_keV : ndarray
        Energies kept (fluence above 1e-10 of the peak bin) [keV].
    weighted_fluence : ndarray
        (K, n_kept) normalised fluence (after the common paths) * w [weight units].
    mu_per_mm : ndarray
        (n_materials, n_kept) linear attenuation of each material [1/mm].
    fluence_scale : float
        Peak-bin fluence of the spectrum the table stands for [1/(mm^2 mAs)].
    """

    names: tuple[str, ...]
    materials: tuple[str, ...]
    axes: tuple[Axis, ...]
    coeffs: np.ndarray
    exact: tuple[str, ...]
    fit_errors: Mapping[str, float]
    min_path_mm: Mapping[str, float]
    max_path_mm: Mapping[str, float]
    table: np.ndarray
    energy_keV: np.ndarray
    weighted_fluence: np.ndarray
    mu_per_mm: np.ndarray
    fluence_scale: float = 1.0
    _cells: tuple = ()

    @property
    def error_estimate(self) -> float:
        """Rough bound of the relative LUT error: worst fit + sum of axis errors [-]."""
        fit = max((e for m, e in self.fit_errors.items() if m not in self.exact), default=0.0)
        return fit + sum(a.interp_error for a in self.axes)

    def evaluate(
        self,
        paths: Mapping[str, np.ndarray],
        distance_cm: float = REFERENCE_DISTANCE_CM,
        inv_square_map: np.ndarray | None = None,
    ) -> dict[str, np.ndarray]:
        """Interpolate the table on path-length maps; see :func:`integrate`.

        Returns
        -------
        dict of str to ndarray
            float32 images, one per weight [weight units / (mm^2 mAs)].
        """
        d = _check_distance(distance_cm)
        pm = _check_paths(paths, inv_square_map)
        unknown = sorted(set(pm.maps) - set(self.materials))
        if unknown:
            raise ValueError(
                f"paths has materials {unknown} that this Lut was not built for "
                f"{list(self.materials)}"
            )
        for m in self.materials:
            lo, hi = pm.minima.get(m, 0.0), pm.maxima.get(m, 0.0)
            if hi > self.max_path_mm[m] * (1.0 + 1e-6):
                raise ValueError(
                    f"paths[{m!r}] reaches {hi:g} mm, beyond the {self.max_path_mm[m]:g} mm "
                    "this Lut was built for"
                )
            if lo < self.min_path_mm[m] * (1.0 - 1e-6):
                raise ValueError(
                    f"paths[{m!r}] falls to {lo:g} mm, below the {self.min_path_mm[m]:g} mm "
                    "this Lut folded into its spectrum"
                )
        return self._evaluate(pm.shape, pm.maps, d, inv_square_map, self.fluence_scale)

    # ---- internals --------------------------------------------------------------------------
    def _evaluate(
        self,
        shape: tuple[int, ...],
        maps: dict[str, np.ndarray],
        distance_cm: float,
        inv_square_map: np.ndarray | None,
        fluence_scale: float,
    ) -> dict[str, np.ndarray]:
        n_pix = math.prod(shape)
        k_out = len(self.names)
        out = np.empty((k_out, n_pix), dtype=np.float32)
        scale = fluence_scale * (REFERENCE_DISTANCE_CM / distance_cm) ** 2
        if self.weighted_fluence.shape[1] == 0 or not self.axes or scale == 0.0:
            # no fluence, or only uniform paths: a constant image
            total = self.weighted_fluence.sum(axis=1) * scale
            out[:] = total[:, None].astype(np.float32)
        else:
            log_scale = math.log(scale)
            flat = {m: maps[m].reshape(-1) for m in maps}
            terms, offsets = self._axis_terms(flat)
            n_axes = len(self.axes)
            sparse_idx = None
            dense_axes = min(n_axes, 2)
            if n_axes == 3:
                support = self._support(flat, [m for m, _ in terms[2]])
                if support is not None and support.size > _SPARSE_MAX_FRACTION * n_pix:
                    dense_axes = 3
                else:
                    sparse_idx = support
            if dense_axes == 3:
                self._interp_nd(out, flat, terms, offsets, None, log_scale)
            else:
                self._interp_dense(out, flat, terms[:dense_axes], offsets, n_pix, log_scale)
                if sparse_idx is not None and sparse_idx.size:
                    self._interp_nd(out, flat, terms, offsets, sparse_idx, log_scale)
            if self.exact:
                idx = self._support(flat, list(self.exact))
                if idx is not None and idx.size:
                    out[:, idx] = self._exact_pixels(flat, idx) * scale
        if inv_square_map is not None:
            out *= _check_inv_square(inv_square_map, shape).reshape(1, -1)
        return {name: out[k].reshape(shape) for k, name in enumerate(self.names)}

    def _axis_terms(
        self, flat: dict[str, np.ndarray]
    ) -> tuple[list[list[tuple[str, float]]], list[float]]:
        """Per axis, the (material, coefficient) pairs present in the maps, and the offset
        sum_m a_mb min_path_m of the common paths already in the spectrum [mm]."""
        terms, offsets = [], []
        for b in range(len(self.axes)):
            t = []
            off = 0.0
            for i, m in enumerate(self.materials):
                a = float(self.coeffs[i, b])
                if m in flat and a != 0.0 and m not in self.exact:
                    t.append((m, a))
                    off += a * self.min_path_mm[m]
            terms.append(t)
            offsets.append(off)
        return terms, offsets

    def _support(self, flat: dict[str, np.ndarray], mats: list[str]) -> np.ndarray | None:
        """Indices of pixels where any of ``mats`` exceeds its common path (None: none)."""
        present = [m for m in mats if m in flat]
        if not present:
            return None
        mask = flat[present[0]] > np.float32(self.min_path_mm[present[0]])
        for m in present[1:]:
            mask |= flat[m] > np.float32(self.min_path_mm[m])
        return np.flatnonzero(mask)

    @staticmethod
    def _coords(
        flat: dict[str, np.ndarray],
        terms: list[tuple[str, float]],
        sel: slice | np.ndarray,
        buf: np.ndarray,
        tmp: np.ndarray,
    ) -> np.ndarray:
        """Basis thickness sum_m a_mb L_m on the selected pixels [mm] (``buf`` or a view)."""
        if not terms:
            buf[:] = 0.0
            return buf
        if len(terms) == 1 and terms[0][1] == 1.0 and isinstance(sel, slice):
            return flat[terms[0][0]][sel]
        for j, (m, a) in enumerate(terms):
            src = flat[m][sel]
            if j == 0:
                np.multiply(src, np.float32(a), out=buf)
            else:
                np.multiply(src, np.float32(a), out=tmp)
                buf += tmp
        return buf

    def _interp_dense(
        self,
        out: np.ndarray,
        flat: dict[str, np.ndarray],
        terms: list[list[tuple[str, float]]],
        offsets: list[float],
        n_pix: int,
        log_scale: float,
    ) -> None:
        """(Bi)linear interpolation over the first one or two axes on every pixel.

        Cell coefficients are packed per output (1-D: value, slope as complex64; 2-D:
        c0..c3 as complex128), so one gather per pixel and output fetches a whole cell:
        log out = c0 + c1 f1 + f0 (c2 + c3 f1), with f the fractional positions in the cell.
        """
        n_dense = len(terms)
        ax = self.axes[:n_dense]
        f32 = np.float32
        cells = []
        for c in self._cells[n_dense - 1]:
            c = c.copy()
            c.view(f32).reshape(c.size, -1)[:, 0] += f32(log_scale)
            cells.append(c)
        ctype = np.complex64 if n_dense == 1 else np.complex128
        n1 = self.axes[1].n_nodes - 1 if n_dense == 2 else 0

        def work(start: int, stop: int) -> None:
            ch = min(_CHUNK, stop - start)
            a_buf = [np.empty(ch, f32) for _ in ax]
            u_buf = [np.empty(ch, f32) for _ in ax]
            tmp = np.empty(ch, f32)
            tmp2 = np.empty(ch, f32)
            ibuf = [np.empty(ch, np.intp) for _ in ax]
            g = np.empty(ch, ctype)
            gf = g.view(f32).reshape(ch, 2 * n_dense)
            for s in range(start, stop, ch):
                e = min(stop, s + ch)
                n = e - s
                sel = slice(s, e)
                fr = []
                for b, axis in enumerate(ax):
                    a = self._coords(flat, terms[b], sel, a_buf[b][:n], tmp[:n])
                    fr.append(axis.locate(a, offsets[b], ibuf[b][:n], u_buf[b][:n], tmp2[:n]))
                idx = ibuf[0][:n]
                if n_dense == 2:
                    idx *= n1
                    idx += ibuf[1][:n]
                gg = g[:n]
                gv = gf[:n]
                t = tmp[:n]
                for k in range(out.shape[0]):
                    r = out[k, s:e]
                    np.take(cells[k], idx, out=gg)
                    if n_dense == 1:
                        np.multiply(gv[:, 1], fr[0], out=r)
                        r += gv[:, 0]
                    else:
                        np.multiply(gv[:, 3], fr[1], out=t)
                        t += gv[:, 2]
                        t *= fr[0]
                        np.multiply(gv[:, 1], fr[1], out=r)
                        r += gv[:, 0]
                        r += t
                    np.exp(r, out=r)

        _parallel(work, n_pix)

    def _interp_nd(
        self,
        out: np.ndarray,
        flat: dict[str, np.ndarray],
        terms: list[list[tuple[str, float]]],
        offsets: list[float],
        idx: np.ndarray | None,
        log_scale: float,
    ) -> None:
        """Multilinear interpolation over all axes, on the pixels ``idx`` (None: all)."""
        n_axes = len(self.axes)
        dims = [a.n_nodes for a in self.axes]
        strides = [math.prod(dims[b + 1 :]) for b in range(n_axes)]
        f32 = np.float32
        tables = [(self.table[..., k] + f32(log_scale)).reshape(-1) for k in range(out.shape[0])]
        n_sel = out.shape[1] if idx is None else idx.size
        ch = min(_CHUNK, n_sel)
        buf = np.empty(ch, f32)
        tmp = np.empty(ch, f32)
        tmp2 = np.empty(ch, f32)
        acc = np.empty(ch, f32)
        gat = np.empty(ch, f32)
        for s in range(0, n_sel, ch):
            e = min(n_sel, s + ch)
            n = e - s
            sel = slice(s, e) if idx is None else idx[s:e]
            base = np.zeros(n, np.intp)
            fr = []
            for b, axis in enumerate(self.axes):
                a = self._coords(flat, terms[b], sel, buf[:n], tmp[:n])
                i = np.empty(n, np.intp)
                u = axis.locate(a, offsets[b], i, np.empty(n, f32), tmp2[:n])
                fr.append((u, f32(1.0) - u))
                i *= strides[b]
                base += i
            corners = []
            for corner in range(2**n_axes):
                bits = [corner >> (n_axes - 1 - b) & 1 for b in range(n_axes)]
                w = fr[0][1 - bits[0]].copy()
                for b in range(1, n_axes):
                    w *= fr[b][1 - bits[b]]
                off = sum(strides[b] for b in range(n_axes) if bits[b])
                corners.append((base + off, w))
            r = acc[:n]
            gt = gat[:n]
            for k, tab in enumerate(tables):
                r[:] = 0.0
                for ci, w in corners:
                    np.take(tab, ci, out=gt)
                    gt *= w
                    r += gt
                np.exp(r, out=r)
                if idx is None:
                    out[k, s:e] = r
                else:
                    out[k, sel] = r

    def _exact_pixels(self, flat: dict[str, np.ndarray], idx: np.ndarray) -> np.ndarray:
        """Exact per-energy sums on pixels ``idx`` at 100 cm, normalised spectrum: (K, n)."""
        mats = [m for m in self.materials if m in flat]
        rows = [self.materials.index(m) for m in mats]
        lengths = np.stack(
            [flat[m][idx].astype(np.float64) - self.min_path_mm[m] for m in mats], axis=1
        )
        return _exact_sum(lengths, self.mu_per_mm[rows], self.weighted_fluence)


_POOL: concurrent.futures.ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def _parallel(work: Callable[[int, int], None], n_pix: int) -> None:
    """Run ``work(start, stop)`` over the pixels, split among threads when the image spans
    several chunks (numpy releases the GIL in the gathers and ufuncs)."""
    global _POOL
    n_threads = min(_MAX_THREADS, os.cpu_count() or 1, max(1, n_pix // (2 * _CHUNK)))
    if n_threads <= 1:
        work(0, n_pix)
        return
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = concurrent.futures.ThreadPoolExecutor(_MAX_THREADS, "projection")
    step = -(-n_pix // n_threads)
    futures = [_POOL.submit(work, s, min(n_pix, s + step)) for s in range(0, n_pix, step)]
    for f in futures:
        f.result()


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
# planning: bases, fits and node grids
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
    if len(axes) == 3:
        c2, e2 = _fit_all(axes[:2], mu, cw, lmax, axes)
        two = e2 <= FIT_TOL
        two[axes] = False
        coef[two] = np.concatenate([c2[two], np.zeros((int(two.sum()), 1))], axis=1)
        err[two] = e2[two]
    exact = [m for m in range(m_count) if err[m] > FIT_TOL]
    coef[exact] = 0.0
    errors = types.MappingProxyType({m: float(e) for m, e in zip(mats, err, strict=True)})
    return axes, coef, exact, errors


def _log_out(t: np.ndarray, mu: np.ndarray, cw: np.ndarray) -> np.ndarray:
    """log sum_E cw exp(-t mu) for thicknesses t [mm] of one material: (len(t), K)."""
    v = np.exp(-np.outer(t, mu)) @ cw.T
    return np.log(np.maximum(v, _LOG_FLOOR))


def _axis_grid(
    lo: float, hi: float, c: float, n_pos: int
) -> tuple[float, float, int, int, np.ndarray]:
    """Nodes uniform in sqrt(t + c) with a node at t = 0: (s0, ds, n, zero_node, t_nodes)."""
    sz = math.sqrt(c)
    ds = (math.sqrt(c + hi) - sz) / n_pos
    n_neg = math.ceil((sz - math.sqrt(c + lo)) / ds - 1e-9) if lo < 0.0 else 0
    s0 = sz - n_neg * ds
    n = n_neg + n_pos + 1
    s = s0 + ds * np.arange(n)
    t = s * s - c
    t[n_neg] = 0.0
    return s0, ds, n, n_neg, t


def _axis_errors(
    lo: float, hi: float, fracs: tuple[float, ...], n_pos: int, mu: np.ndarray, cw: np.ndarray
) -> list[tuple[float, tuple]]:
    """For node layouts with offsets ``frac * range`` and ``n_pos`` nodes above zero: the
    largest relative error of linear interpolation (in t) of log(out) between nodes, checked
    at the cell midpoints over all rows of ``cw``, and the layout."""
    layouts = []
    ts = []
    for frac in fracs:
        c = frac * (hi - lo)
        if lo < 0.0:
            c = max(c, -4.0 * lo)
        s0, ds, n, z, tn = _axis_grid(lo, hi, c, n_pos)
        if s0 < 0.0:
            continue
        tv = np.empty(2 * n - 1)
        tv[0::2] = tn
        tv[1::2] = 0.5 * (tn[1:] + tn[:-1])  # nodes and cell midpoints interleaved
        layouts.append((c, s0, ds, n, z))
        ts.append(tv)
    if not layouts:
        return []
    f_all = _log_out(np.concatenate(ts), mu, cw)
    out = []
    start = 0
    for lay, t in zip(layouts, ts, strict=True):
        f = f_all[start : start + t.size]
        start += t.size
        nodes, mids = f[0::2], f[1::2]
        approx = 0.5 * (nodes[1:] + nodes[:-1])
        live = mids > math.log(_LOG_FLOOR) + 50.0
        err = float(np.max(np.where(live, np.abs(np.expm1(approx - mids)), 0.0)))
        out.append((err, lay))
    return out


def _plan_axis(material: str, mu: np.ndarray, cw: np.ndarray, lo: float, hi: float) -> Axis:
    """Choose the sqrt offset and the node count so that interpolation along this axis errs
    by less than INTERP_TOL for every row of ``cw`` (outputs x hardening by other axes).

    The error of linear interpolation scales as the squared node spacing, so the node count
    is predicted from a trial at 16 nodes and then verified.
    """
    trial = _axis_errors(lo, hi, _C_FRACTIONS, 16, mu, cw)
    if trial:
        err16, lay = min(trial, key=lambda r: r[0])
        frac = lay[0] / (hi - lo)
    else:
        err16, frac = 1.0, _C_FRACTIONS[-1]
    need = 16.0 * math.sqrt(max(err16, 1e-12) / INTERP_TOL) * 1.05
    first = next((i for i, n in enumerate(_NODE_COUNTS) if n >= need), len(_NODE_COUNTS) - 1)
    fracs = (frac / 2.0, frac, frac * 2.0)
    best = None
    for n_pos in _NODE_COUNTS[first:]:
        for r in _axis_errors(lo, hi, fracs, n_pos, mu, cw):
            if best is None or r[0] < best[0]:
                best = r
        if best is not None and best[0] <= INTERP_TOL:
            break
    err, (c, s0, ds, n, z) = best
    return Axis(material, lo, hi, c, s0, ds, n, z, err)


_PLAN_CACHE: OrderedDict = OrderedDict()


def _plan_axis_cached(
    material: str, mu: np.ndarray, cw: np.ndarray, lo: float, hi: float, mean_e_keV: float
) -> Axis:
    """:func:`_plan_axis`, reusing the node count and sqrt offset found for a spectrum of
    nearly the same mean energy and an axis range within 2^(1/4) (a choice: the verified
    search costs ~9 ms an axis; the layout is rebuilt on the actual range)."""
    key = (
        material,
        cw.shape,
        round(mean_e_keV / _AXES_MEAN_E_STEP_KEV),
        round(4.0 * math.log2(max(hi - lo, 1e-6))),
        lo < 0.0,
    )
    with _CACHE_LOCK:
        hit = _PLAN_CACHE.get(key)
    if hit is None:
        axis = _plan_axis(material, mu, cw, lo, hi)
        n_pos = axis.n_nodes - 1 - axis.zero_node
        with _CACHE_LOCK:
            _PLAN_CACHE[key] = (axis.c_mm / (hi - lo), n_pos, axis.interp_error)
            while len(_PLAN_CACHE) > 512:
                _PLAN_CACHE.popitem(last=False)
        return axis
    frac, n_pos, err = hit
    c = frac * (hi - lo)
    if lo < 0.0:
        c = max(c, -4.0 * lo)
    s0, ds, n, z, _ = _axis_grid(lo, hi, c, n_pos)
    return Axis(material, lo, hi, c, s0, ds, n, z, err)


def _hardened_weights(
    cw: np.ndarray, mu: np.ndarray, rows: list[int], hi: np.ndarray, b: int
) -> np.ndarray:
    """Rows of ``cw`` times exp(-sum_o t_o mu_o) for the other axes o at 0, 1/4, 1/2 and all
    of their range: the spectra seen along axis ``b`` (an edge material's curvature may grow
    with hardening, when the spectrum is squeezed around its edge)."""
    states = [np.zeros(mu.shape[1])]
    for o, row in enumerate(rows):
        if o == b:
            continue
        states = [s + f * hi[o] * mu[row] for s in states for f in (0.0, 0.25, 0.5, 1.0)]
    att = np.exp(-np.stack(states))  # (S, E)
    return (att[:, None, :] * cw[None, :, :]).reshape(-1, cw.shape[1])


def _build(
    energy: np.ndarray,
    fluence: np.ndarray,
    names: tuple[str, ...],
    w: np.ndarray,
    mats: tuple[str, ...],
    lmin: np.ndarray,
    lres: np.ndarray,
    support: np.ndarray,
) -> Lut:
    """Build a Lut (uncached) for a normalised spectrum already filtered by ``lmin`` [mm];
    ``lres`` [mm] are the remaining maximum paths, ``support`` the pixel fractions [-]."""
    active = fluence > _PRUNE * fluence.max() if fluence.max() > 0.0 else fluence > 0.0
    e_act = energy[active]
    cw = w[:, active] * fluence[active]
    mu = np.zeros((len(mats), e_act.size))
    for i, m in enumerate(mats):
        mu[i] = np.asarray(_mu(m, energy), float)[active]
    common = dict(
        names=names,
        materials=mats,
        min_path_mm=types.MappingProxyType(dict(zip(mats, lmin.tolist(), strict=True))),
        max_path_mm=types.MappingProxyType(dict(zip(mats, (lmin + lres).tolist(), strict=True))),
        energy_keV=e_act,
        weighted_fluence=cw,
        mu_per_mm=mu,
    )
    live = np.flatnonzero(lres > 0.0)
    if live.size == 0 or e_act.size == 0:
        return Lut(
            axes=(),
            coeffs=np.zeros((len(mats), 0)),
            exact=(),
            fit_errors=types.MappingProxyType({}),
            table=np.zeros(0, np.float32),
            **common,
        )
    sub = tuple(mats[i] for i in live)
    mean_e = float(fluence @ energy / fluence.sum())
    ax_sub, coef_sub, ex_sub, errors = _choose_axes_cached(
        sub, mu[live], cw, lres[live], support[live], mean_e
    )
    axes_rows = [int(live[i]) for i in ax_sub]
    exact_rows = [int(live[i]) for i in ex_sub]
    coeffs = np.zeros((len(mats), len(axes_rows)))
    coeffs[live] = coef_sub
    # axis ranges: conservative sums over the fitted materials
    keep = np.ones(len(mats), bool)
    keep[exact_rows] = False
    hi = (np.where(coeffs > 0.0, coeffs, 0.0)[keep] * lres[keep, None]).sum(axis=0)
    lo = (np.where(coeffs < 0.0, coeffs, 0.0)[keep] * lres[keep, None]).sum(axis=0)
    axes = []
    for b, row in enumerate(axes_rows):
        cw_b = _hardened_weights(cw, mu, axes_rows, hi, b)
        axes.append(_plan_axis_cached(mats[row], mu[row], cw_b, float(lo[b]), float(hi[b]), mean_e))
    # table: separable exponentials and one matrix product
    factors = [
        np.exp(-np.outer(a.nodes_mm, mu[row])) for a, row in zip(axes, axes_rows, strict=True)
    ]
    dims = [a.n_nodes for a in axes]
    g = factors[0]
    for f in factors[1:-1]:
        g = (g[:, None, :] * f[None, :, :]).reshape(-1, e_act.size)
    if len(axes) == 1:
        vals = g @ cw.T
    else:
        h = (factors[-1][:, None, :] * cw[None, :, :]).reshape(-1, e_act.size)
        vals = g @ h.T
    table = np.log(np.maximum(vals, _LOG_FLOOR)).reshape(*dims, len(names)).astype(np.float32)
    lut = Lut(
        axes=tuple(axes),
        coeffs=coeffs,
        exact=tuple(mats[r] for r in exact_rows),
        fit_errors=errors,
        table=table,
        _cells=(_cells_1d(table, axes), _cells_2d(table, axes) if len(axes) >= 2 else None),
        **common,
    )
    for arr in (lut.coeffs, lut.table, lut.energy_keV, lut.weighted_fluence, lut.mu_per_mm):
        arr.setflags(write=False)
    return lut


def _zero_slice(table: np.ndarray, axes: list[Axis], keep: int) -> np.ndarray:
    """The table restricted to the first ``keep`` axes, others at their zero node."""
    sl = tuple(slice(None) if b < keep else a.zero_node for b, a in enumerate(axes))
    return table[sl]


def _cells_1d(table: np.ndarray, axes: list[Axis]) -> tuple[np.ndarray, ...]:
    """Per output, complex64-packed (value, slope) of each 1-D cell."""
    t = _zero_slice(table, axes, 1)
    c = np.stack([t[:-1], t[1:] - t[:-1]], axis=-1)  # (n0-1, K, 2)
    return tuple(
        np.ascontiguousarray(c[:, k, :]).view(np.complex64).reshape(-1) for k in range(t.shape[-1])
    )


def _cells_2d(table: np.ndarray, axes: list[Axis]) -> tuple[np.ndarray, ...]:
    """Per output, complex128-packed bilinear coefficients (c0, c1, c2, c3) of each cell."""
    t = _zero_slice(table, axes, 2)
    c0 = t[:-1, :-1]
    c1 = t[:-1, 1:] - c0
    c2 = t[1:, :-1] - c0
    c3 = t[1:, 1:] - t[1:, :-1] - t[:-1, 1:] + c0
    c = np.stack([c0, c1, c2, c3], axis=-1)  # (n0-1, n1-1, K, 4)
    return tuple(
        np.ascontiguousarray(c[:, :, k, :]).view(np.complex128).reshape(-1)
        for k in range(t.shape[-1])
    )


# --------------------------------------------------------------------------------------------
_AXES_CACHE: OrderedDict = OrderedDict()
_AXES_MEAN_E_STEP_KEV = 1.0  # spectra within one bucket of mean energy share a basis choice


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
    with _CACHE_LOCK:
        axes = _AXES_CACHE.get(key)
    if axes is None:
        axes, coef, exact, errors = _choose_axes(mats, mu, cw, lmax, support)
        with _CACHE_LOCK:
            _AXES_CACHE[key] = list(axes)
            while len(_AXES_CACHE) > 256:
                _AXES_CACHE.popitem(last=False)
        return axes, coef, exact, errors
    return _refit(mats, list(axes), mu, cw, lmax)


def _refit(mats, axes, mu, cw, lmax):
    """Coefficients, exact rows and fit errors for a given choice of axes (as _choose_axes)."""
    coef, err = _fit_all(axes, mu, cw, lmax, axes)
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


# cache
# --------------------------------------------------------------------------------------------
_CACHE: OrderedDict = OrderedDict()
_CACHE_LOCK = threading.Lock()


def _cached_build(
    energy: np.ndarray,
    fluence: np.ndarray,
    names: tuple[str, ...],
    w: np.ndarray,
    maxima: Mapping[str, float],
    minima: Mapping[str, float],
    support: Mapping[str, float],
) -> tuple[Lut, float]:
    """The cached Lut for a spectrum and the peak-bin fluence of this spectrum.

    The key holds the spectrum normalised to its peak bin (float32), so a spectrum scaled by
    the mAs reuses the table; the common (minimum) paths; the remaining maximum paths rounded
    up on a 2^(1/4) ladder; the pixel fractions rounded up to powers of 2; the weights.
    """
    peak = float(fluence.max()) if fluence.size else 0.0
    norm = fluence / peak if peak > 0.0 else fluence
    mats = tuple(sorted(maxima))
    lmin = tuple(float(minima.get(m, 0.0)) for m in mats)
    lres = tuple(_round_up(maxima[m] - lo) for m, lo in zip(mats, lmin, strict=True))
    supp = tuple(_round_support(support.get(m, 1.0)) for m in mats)
    key = (energy.tobytes(), norm.astype(np.float32).tobytes(), names, w.tobytes())
    key += (mats, lmin, lres, supp)
    with _CACHE_LOCK:
        lut = _CACHE.get(key)
        if lut is not None:
            _CACHE.move_to_end(key)
            return lut, peak
    pre = norm
    if any(lmin):
        att = sum(np.asarray(_mu(m, energy), float) * t for m, t in zip(mats, lmin, strict=True))
        pre = norm * np.exp(-att)
    lut = _build(energy, pre, names, w, mats, np.asarray(lmin), np.asarray(lres), np.asarray(supp))
    with _CACHE_LOCK:
        _CACHE[key] = lut
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return lut, peak


def clear_cache() -> None:
    """Forget every cached Lut."""
    with _CACHE_LOCK:
        _CACHE.clear()


def _mu(name: str, energy: np.ndarray) -> np.ndarray:
    """Linear attenuation coefficient of a material [1/mm]."""
    return _mat.mu_per_mm(name, energy)


# --------------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------------
def build_lut(
    spectrum: object,
    materials: Mapping[str, float] | Iterable[str],
    weights: Mapping[str, np.ndarray] | None = None,
) -> Lut:
    """Integrate a spectrum into a look-up table over basis-material thicknesses.

    Parameters
    ----------
    spectrum : Spectrum
        Spectrum at the entrance of the path maps (``energy_keV`` [keV], ``fluence``
        [1/(mm^2 mAs)] per bin at 100 cm).
    materials : mapping of str to float, or iterable of str
        Material -> largest path length the table must cover [mm]; a bare name gets the
        path that attenuates its spectrum-mean mu by e^-30 (at most 500 mm).
    weights : mapping of str to ndarray, optional
        Output name -> weight per energy bin (>= 0) [any unit]; default ``{"fluence": 1}``.

    Returns
    -------
    Lut
        Cached table; ``Lut.evaluate(paths, distance_cm)`` gives the images.

    References
    ----------
    Alvarez & Macovski, Phys. Med. Biol. 21:733 (1976) (basis-material decomposition);
    Hubbell & Seltzer, NIST SRD 126 (attenuation coefficients, via ``sim.materials``).
    """
    energy, fluence = _spectrum_arrays(spectrum)
    names, w = _check_weights(weights, energy.size)
    maxima = {}
    if isinstance(materials, Mapping):
        for m, v in materials.items():
            _mat.check_material(m)
            try:
                x = float(v)
            except (TypeError, ValueError):
                raise ValueError(f"materials[{m!r}]={v!r} is not a number [mm]") from None
            if not math.isfinite(x) or x < 0.0:
                raise ValueError(f"materials[{m!r}]={v!r} is out of range [0, inf) mm")
            if x > 0.0:
                maxima[str(m)] = x
    else:
        active = fluence > 0.0
        for m in [materials] if isinstance(materials, str) else materials:
            _mat.check_material(m)
            mu = np.asarray(_mu(m, energy), float)[active]
            mubar = float(mu @ fluence[active] / max(fluence[active].sum(), _LOG_FLOOR))
            maxima[m] = min(_MAX_DEFAULT_PATH_MM, DEFAULT_MAX_ATTENUATION / max(mubar, 1e-12))
    lut, fluence_scale = _cached_build(energy, fluence, names, w, maxima, {}, {})
    return dataclasses.replace(lut, fluence_scale=fluence_scale)


def integrate(
    spectrum: object,
    paths: Mapping[str, np.ndarray],
    weights: Mapping[str, np.ndarray] | None = None,
    distance_cm: float = REFERENCE_DISTANCE_CM,
    inv_square_map: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Primary signal behind path-length maps for each energy weight (LUT, fast).

    ``out[k][pixel] = (100 / distance_cm)^2 * inv_square_map[pixel] *
    sum_E fluence(E) * w_k(E) * exp(-sum_m mu_m(E) * L_m[pixel])``, evaluated through a cached
    look-up table over basis-material thicknesses (see the module docstring); within 0.5 % of
    :func:`exact_integrate`.

    Parameters
    ----------
    spectrum : Spectrum
        Spectrum incident on the path maps, per mAs at 100 cm [1/(mm^2 mAs)] per bin.
    paths : mapping of str to ndarray
        Material -> path length along each ray [mm], all maps of one shape (obliquity of the
        divergent rays already included).
    weights : mapping of str to ndarray, optional
        Output name -> weight per energy bin, >= 0 [any unit]; default ``{"fluence": 1}``.
    distance_cm : float
        Focal spot to the plane where the signal is wanted (the SID) [cm].
    inv_square_map : ndarray, optional
        Per-pixel factor for the off-axis inverse square, ``(distance_cm / r)^2`` with ``r``
        the focal-spot-to-pixel distance (the caller's choice; None = on-axis value only) [-].

    Returns
    -------
    dict of str to ndarray
        float32 images of the map shape, one per weight [weight units / (mm^2 mAs)].

    References
    ----------
    Beer-Lambert law per energy bin; Alvarez & Macovski, Phys. Med. Biol. 21:733 (1976);
    Hubbell & Seltzer, NIST SRD 126 (via ``sim.materials``).
    """
    energy, fluence = _spectrum_arrays(spectrum)
    names, w = _check_weights(weights, energy.size)
    d = _check_distance(distance_cm)
    pm = _check_paths(paths, inv_square_map)
    lut, fluence_scale = _cached_build(energy, fluence, names, w, pm.maxima, pm.minima, pm.support)
    return lut._evaluate(pm.shape, pm.maps, d, inv_square_map, fluence_scale)


def exact_integrate(
    spectrum: object,
    paths: Mapping[str, np.ndarray],
    weights: Mapping[str, np.ndarray] | None = None,
    distance_cm: float = REFERENCE_DISTANCE_CM,
    inv_square_map: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Reference for :func:`integrate`: the per-energy sum on every pixel (slow, float64).

    Same parameters and formula as :func:`integrate`; computed in chunks of pixels as
    ``exp(-L @ mu) @ (fluence * w)`` over every energy bin. For tests and checks.

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
    clean = {}
    for m, v in path_mm.items():
        _mat.check_material(m)
        try:
            x = float(v)
        except (TypeError, ValueError):
            raise ValueError(f"path_mm[{m!r}]={v!r} is not a number [mm]") from None
        if not math.isfinite(x) or x < 0.0:
            raise ValueError(f"path_mm[{m!r}]={v!r} is out of range [0, inf) mm")
        if x > 0.0:
            clean[m] = x
    if not clean:
        return spectrum
    return spectrum.filtered(clean)
