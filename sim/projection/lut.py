"""The projection look-up table (LUT): build, cache and per-pixel interpolation.

A per-pixel sum over ~300 energy bins on a 512 x 512 image costs ~10^8 exponentials, so the
spectrum is integrated once into a small look-up table over a few *basis* thicknesses and
interpolated per pixel (the formula and the basis-material decomposition:
:mod:`sim.projection.physics`; the node grids: :mod:`sim.projection.axes`):

0. The part of each path common to every pixel (its minimum over the image: the table top and
   pad, a uniform slab) filters the spectrum exactly, per energy; the LUT covers only the rest.
1. The materials are fitted onto up to :data:`MAX_AXES` basis materials (the third axis is
   evaluated only on the pixels where it is used, a contrast pocket; the others on the plane
   where it is zero); a material that fits nothing is computed exactly, per energy, on the
   pixels where it is present.
2. Each axis is sampled on nodes uniform in ``sqrt(t + c)``. The table is built separably:
   ``exp(-t mu_b(E))`` per axis, products, and one matrix product with ``fluence * w`` (no
   per-pixel exponentials).
3. Per pixel: basis thicknesses ``A_b = sum_m a_mb L_m``, then (bi/tri)linear interpolation of
   ``log(out)`` in float32, vectorised over pixels in cache-sized chunks (one thread: on
   this project's 2-core machine a second thread made a 512 px frame ~3 ms slower, not
   faster); bilinear cell coefficients are packed so one gather per output and pixel suffices.

LUTs are cached by (spectrum shape, i.e. normalised to its peak bin so that the mAs does not
matter; common path parts; materials with their remaining maximum paths rounded up on a
2^(1/4) ladder and their pixel fractions in octaves; weights): a change of noise, mA, pulse width or
needle position reuses the table; a kVp or filter change rebuilds it (~5 ms).

Accuracy: LUT against the exact per-energy sum within 0.5 % for the hip and slab ranges
(0-400 mm soft tissue, 0-60 mm cortical bone, 0-200 mg/cm^2 iodine, 0-2 mm steel), checked in
``tests/test_projection.py`` (typically 0.05-0.15 %). Timings: ``tools/bench_projection.py``.

References
----------
R. E. Alvarez, A. Macovski, Phys. Med. Biol. 21:733-744 (1976) (basis-material decomposition);
J. H. Hubbell, S. M. Seltzer, NIST SRD 126 (2004) (attenuation coefficients, via
``sim.materials``). Full citations: :mod:`sim.projection.physics`.
"""

from __future__ import annotations

import dataclasses
import math
import threading
import types
from collections import OrderedDict
from collections.abc import Iterable, Mapping

import numpy as np

from sim import materials as _mat
from sim.projection.axes import Axis, _plan_axis, _plan_axis_cached
from sim.projection.inputs import (
    _check_distance,
    _check_inv_square,
    _check_lengths,
    _check_paths,
    _check_weights,
    _spectrum_arrays,
)
from sim.projection.physics import (
    _LOG_FLOOR,
    _choose_axes,
    _choose_axes_cached,
    _exact_sum,
    _mu,
)
from sim.spectrum import REFERENCE_DISTANCE_CM

MAX_AXES = 3
"""Most basis materials (LUT dimensions); the third axis is evaluated on its support only."""

DEFAULT_MAX_ATTENUATION = 30.0
"""Default range of an axis when no maximum path is given: mean mu * path = 30 [-]."""

_MAX_DEFAULT_PATH_MM = 500.0  # cap of a default axis range [mm]
_LADDER_STEPS_PER_OCTAVE = 4  # maximum paths rounded up to 2^(k/4) mm so small changes reuse LUTs
_SUPPORT_FLOOR = 1.0 / 256.0  # pixel fractions rounded up to a power of 2 (>= 1/256) for keys
_CHUNK = 16384  # pixels per chunk (fits the L2 cache with the temporaries)
_CACHE_SIZE = 32
_SPARSE_MAX_FRACTION = 0.5  # above this pixel fraction the third axis is interpolated densely
_PRUNE = 1e-10  # energy bins with fluence below this fraction of the peak bin are dropped


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

    def scaled_cells(self, n_dense: int, log_scale: float) -> list[np.ndarray]:
        """The packed cells of the first ``n_dense`` axes, one array per output, with
        ``log_scale`` added to each cell's constant term (a copy)."""
        cells = []
        for c in self._cells[n_dense - 1]:
            c = c.copy()
            c.view(np.float32).reshape(c.size, -1)[:, 0] += np.float32(log_scale)
            cells.append(c)
        return cells

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
        cells = self.scaled_cells(n_dense, log_scale)
        ctype = np.complex64 if n_dense == 1 else np.complex128
        n1 = self.axes[1].n_nodes - 1 if n_dense == 2 else 0

        ch = max(1, min(_CHUNK, n_pix))
        a_buf = [np.empty(ch, f32) for _ in ax]
        u_buf = [np.empty(ch, f32) for _ in ax]
        tmp = np.empty(ch, f32)
        tmp2 = np.empty(ch, f32)
        ibuf = [np.empty(ch, np.intp) for _ in ax]
        g = np.empty(ch, ctype)
        gf = g.view(f32).reshape(ch, 2 * n_dense)
        for s in range(0, n_pix, ch):
            e = min(n_pix, s + ch)
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
            _cell_outputs(out[:, s:e], cells, idx, fr, gg, gv, tmp[:n])

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


def _cell_outputs(out, cells, idx, fr, gg, gv, t) -> None:
    """Per output k: gather the packed cells at ``idx`` into ``gg`` (``gv`` its float32
    view), evaluate log out = c0 + c1 f1 + f0 (c2 + c3 f1) (1-D: c0 + c1 f0) into ``out[k]``
    with the cell fractions ``fr`` (``t`` scratch), and exponentiate."""
    for k in range(out.shape[0]):
        r = out[k]
        np.take(cells[k], idx, out=gg)
        if len(fr) == 1:
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


# --------------------------------------------------------------------------------------------
# building the table
# --------------------------------------------------------------------------------------------
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
    reuse_layouts: bool = True,
) -> Lut:
    """Build a Lut (uncached) for a normalised spectrum already filtered by ``lmin`` [mm];
    ``lres`` [mm] are the remaining maximum paths, ``support`` the pixel fractions [-].
    ``reuse_layouts``: take the axis choice and node plans found for a spectrum of nearly the
    same mean energy (False: search them for this spectrum alone)."""
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
    if reuse_layouts:
        chosen = _choose_axes_cached(sub, mu[live], cw, lres[live], support[live], mean_e)
    else:
        chosen = _choose_axes(sub, mu[live], cw, lres[live], support[live])
    ax_sub, coef_sub, ex_sub, errors = chosen
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
        if reuse_layouts:
            axis = _plan_axis_cached(mats[row], mu[row], cw_b, float(lo[b]), float(hi[b]), mean_e)
        else:
            axis = _plan_axis(mats[row], mu[row], cw_b, float(lo[b]), float(hi[b]))
        axes.append(axis)
    table, cells = _tabulate(axes, [mu[row] for row in axes_rows], cw)
    lut = Lut(
        axes=tuple(axes),
        coeffs=coeffs,
        exact=tuple(mats[r] for r in exact_rows),
        fit_errors=errors,
        table=table,
        _cells=cells,
        **common,
    )
    for arr in (lut.coeffs, lut.table, lut.energy_keV, lut.weighted_fluence, lut.mu_per_mm):
        arr.setflags(write=False)
    return lut


def _tabulate(axes: list[Axis], mu_axes: list[np.ndarray], cw: np.ndarray) -> tuple:
    """The table on the nodes of ``axes`` (log outputs, float32 (n_0, ..., K)) and its packed
    cells: separable exponentials ``exp(-t mu_b)`` and one matrix product with ``cw``."""
    factors = [np.exp(-np.outer(a.nodes_mm, m)) for a, m in zip(axes, mu_axes, strict=True)]
    n_e = cw.shape[1]
    g = factors[0]
    for f in factors[1:-1]:
        g = (g[:, None, :] * f[None, :, :]).reshape(-1, n_e)
    if len(axes) == 1:
        vals = g @ cw.T
    else:
        h = (factors[-1][:, None, :] * cw[None, :, :]).reshape(-1, n_e)
        vals = g @ h.T
    dims = [a.n_nodes for a in axes]
    table = np.log(np.maximum(vals, _LOG_FLOOR)).reshape(*dims, cw.shape[0]).astype(np.float32)
    return table, (_cells_1d(table, axes), _cells_2d(table, axes) if len(axes) >= 2 else None)


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
        maxima = _check_lengths("materials", materials)
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
    look-up table over basis-material thicknesses (see the docstring of this module); within
    0.5 % of :func:`~sim.projection.physics.exact_integrate`.

    Parameters
    ----------
    spectrum : Spectrum
        Spectrum incident on the path maps, per mAs at 100 cm [1/(mm^2 mAs)] per bin.
    paths : mapping of str to ndarray, or PathMaps
        Material -> path length along each ray [mm], all maps of one shape (obliquity of the
        divergent rays already included); or the same checked once by
        :func:`~sim.projection.inputs.prepare_paths`.
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
