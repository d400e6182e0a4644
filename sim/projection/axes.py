"""Axes of the projection look-up table: node grids and their planning.

Each axis of the table (a basis material, :mod:`sim.projection.physics`) is sampled on nodes
uniform in ``sqrt(t + c)`` (fine near zero, where the spectrum hardens fastest); within a cell
the interpolation is linear in ``t`` itself, so that a monoenergetic beam is exact. ``c`` and
the node count are chosen per axis so that linear interpolation of ``log(out)`` errs by less
than :data:`INTERP_TOL` for every weight and for the spectra hardened by the other axes
(:func:`_plan_axis`); the choice is reused for spectra of nearly the same mean energy
(:func:`_plan_axis_cached`).
"""

from __future__ import annotations

import dataclasses
import math
import threading
from collections import OrderedDict

import numpy as np

from sim.projection.physics import _AXES_MEAN_E_STEP_KEV, _LOG_FLOOR

INTERP_TOL = 1e-3
"""Largest accepted relative error of linear interpolation of log(out) along one axis [-]."""

_NODE_COUNTS = (6, 8, 12, 16, 24, 32, 48, 64, 96, 128)
_C_FRACTIONS = (0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0)  # sqrt-spacing offset c / axis range
_TOP_EPS = 1e-4  # fractional indices stay below the last node, so floor() <= n - 2


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


# --------------------------------------------------------------------------------------------
# planning: node grids
# --------------------------------------------------------------------------------------------
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
_PLAN_LOCK = threading.Lock()


def clear_plans() -> None:
    """Forget the axis plans reused for spectra of nearly the same mean energy."""
    with _PLAN_LOCK:
        _PLAN_CACHE.clear()


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
    with _PLAN_LOCK:
        hit = _PLAN_CACHE.get(key)
    if hit is None:
        axis = _plan_axis(material, mu, cw, lo, hi)
        n_pos = axis.n_nodes - 1 - axis.zero_node
        with _PLAN_LOCK:
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
