"""The scatter model's coarse grid: its plan, block means, ring-basis kernels, resampling.

The scatter convolution (:func:`sim.scatter.scatter_estimate`) runs on a grid of about
:data:`COARSE_CELLS` cells across the field (the primary's block means, edge-extended over a
domain that holds the collimated field and its magnified image); a kernel on it is a linear
function of the point-spread function's ring densities (:func:`_kernel_basis`), and the
convolved maps are resampled bilinearly back onto the image grid (:func:`_resample`). Sources:
:mod:`sim.scatter`.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.fft

from sim.units import CM_PER_MM, MM_PER_CM

COARSE_CELLS = 64
"""Target number of coarse-grid cells along one side of the scatter convolution domain."""


@dataclass(frozen=True, eq=False)
class _Plan:
    """Coarse grid: cell size, padding of the image into it, and resampling at m x."""

    f: int  # image pixels per coarse cell
    n_fov: int  # coarse cells covering the (padded) image
    pad_lo: int  # image pixels added before the image to reach a multiple of f
    pad_hi: int
    n_dom: int  # coarse cells of the domain
    n_fft: int  # FFT size (>= 2 n_dom - 1: linear convolution)
    off: int  # index of the first image cell in the domain
    cell_cm: float
    centres_cm: np.ndarray  # (n_dom,) coarse cell centres (x, and -y) [cm]
    ext: np.ndarray  # (n_dom, n_dom) 1 on image cells, field coverage outside the image
    resample: np.ndarray  # (n_dom, n_px) bilinear weights of coarse cells at m x
    resample_t: np.ndarray  # its transpose, contiguous


def _cells_per_block(n_px: int, target: float) -> int:
    """Image pixels per coarse cell: the divisor of ``n_px`` nearest ``target`` (no padding)
    if one lies within a factor 1.5 of it, else ``round(target)``."""
    want = max(1.0, target)
    divisors = [f for f in range(1, n_px + 1) if n_px % f == 0]
    best = min(divisors, key=lambda f: abs(math.log(f / want)))
    return best if abs(math.log(best / want)) <= math.log(1.5) else max(1, round(want))


@functools.lru_cache(maxsize=32)
def _plan(n_px: int, fov_mm: float, field_cm: float, shape: str, m: float) -> _Plan:
    pixel_cm = fov_mm * CM_PER_MM / n_px
    fov_cm = fov_mm * CM_PER_MM
    span_cm = max(fov_cm, field_cm, m * fov_cm)
    f = _cells_per_block(n_px, span_cm / (COARSE_CELLS * pixel_cm))
    n_fov = math.ceil(n_px / f)
    pad = n_fov * f - n_px
    pad_lo, pad_hi = pad // 2, pad - pad // 2
    cell = f * pixel_cm
    n_dom = max(n_fov, math.ceil(span_cm / cell))
    n_dom += (n_dom - n_fov) % 2  # same margin on both sides
    off = (n_dom - n_fov) // 2
    n_fft = scipy.fft.next_fast_len(2 * n_dom, real=True)
    # centre of coarse cell j (x to the right); the image centre is x = 0
    first_x = -fov_cm / 2.0 - pad_lo * pixel_cm + cell / 2.0 - off * cell
    centres = first_x + cell * np.arange(n_dom)
    half = field_cm / 2.0
    lo, hi = centres - cell / 2.0, centres + cell / 2.0
    if shape == "square":
        cov = np.clip(np.minimum(hi, half) - np.maximum(lo, -half), 0.0, cell) / cell
        field = cov[:, None] * cov[None, :]
    else:
        r = np.hypot(centres[:, None], centres[None, :])
        field = np.clip((half - r) / cell + 0.5, 0.0, 1.0)
    ext = field.copy()
    ext[off : off + n_fov, off : off + n_fov] = 1.0  # the image itself carries the field
    ext = ext.astype(np.float32)
    # image pixel centres (x; y is the mirror image, rows run downward) mapped to m x
    xc = (np.arange(n_px) + 0.5) * pixel_cm - fov_cm / 2.0
    pos = (m * xc - centres[0]) / cell
    i0 = np.clip(np.floor(pos).astype(np.intp), 0, n_dom - 2)
    w1 = np.clip(pos - i0, 0.0, 1.0)
    cols = np.arange(n_px)
    resample = np.zeros((n_dom, n_px), dtype=np.float32)
    resample[i0, cols] = 1.0 - w1
    resample[i0 + 1, cols] += w1
    resample_t = np.ascontiguousarray(resample.T)
    for a in (centres, ext, resample, resample_t):
        a.setflags(write=False)
    return _Plan(
        f, n_fov, pad_lo, pad_hi, n_dom, n_fft, off, cell, centres, ext, resample, resample_t
    )


def _plan_key(geometry: Any, grid: Any) -> tuple:
    """Arguments of :func:`_plan` for a geometry and image grid."""
    m = float(geometry.sid_cm) / float(geometry.exit_cm)
    return (
        int(grid.n_px),
        float(grid.fov_mm),
        float(geometry.field_cm),
        geometry.field_shape,
        round(m, 4),
    )


def _coarse(img: np.ndarray, plan: _Plan, dtype: type = np.float32) -> np.ndarray:
    """Block mean onto the coarse image cells, then edge-extended over the domain."""
    a = np.asarray(img)
    if plan.pad_lo or plan.pad_hi:
        a = np.pad(a, ((plan.pad_lo, plan.pad_hi),) * 2, mode="edge")
    n, f = plan.n_fov, plan.f
    # whole rows added (vectorised, cache-friendly), in ``dtype`` as they are read
    rows = a.reshape(n, f, n * f).sum(axis=1, dtype=dtype)
    c = rows.reshape(n, n, f).sum(axis=2)
    c *= c.dtype.type(1.0 / (f * f))
    lo = plan.off
    hi = plan.n_dom - plan.off - n
    if lo or hi:
        c = np.pad(c, ((lo, hi),) * 2, mode="edge")
    return c


_KERNEL_SUB = 2  # sub-samples per coarse cell and axis for the kernel integral (a choice)


@dataclass(frozen=True, eq=False)
class _KernelBasis:
    """The kernel of a plan as a linear function of the PSF's ring densities.

    The kernel is even in x and in y and symmetric in x <-> y (cell offsets in FFT order,
    0, 1, ..., -1): it is held on its distinct cells ``(u, v)``, ``0 <= u <= v <= n_fft // 2``
    (u, v = |offset|), as a vector. So is its real, even rfft2.
    """

    rings: np.ndarray  # (nU,) index of each ring reaching the FFT grid (the others: zero)
    basis: np.ndarray  # (nU, 2 nC): [area of the ring in each distinct cell | rfft2 of it]
    n_cells: int  # nC, number of distinct cells; cell (0, 0) is the first
    rfft_index: np.ndarray  # (n_fft, n_fft // 2 + 1) distinct entry of each rfft2 entry
    shifted_index: np.ndarray  # (n_fft, n_fft) distinct cell of each cell, offset 0 centred


KERNEL_M_STEP = 0.005
"""Step on which the magnification of the kernel's rings is taken [-]: a choice, so that
patients of nearby thickness share one kernel basis; it scales the PSF radius by at most
0.2 %, far inside the scatter model's ~10 % agreement with the Monte Carlo."""


def kernel_basis(plan: _Plan, m: float, edges: np.ndarray) -> _KernelBasis:
    """The kernel basis of a plan at magnification ``m`` (taken on :data:`KERNEL_M_STEP`)
    for the PSF ring edges ``edges`` [cm] (cached)."""
    m_q = round(m / KERNEL_M_STEP) * KERNEL_M_STEP
    return _kernel_basis(plan.n_fft, plan.cell_cm, round(m_q, 6), edges.tobytes())


@functools.lru_cache(maxsize=16)
def _kernel_basis(n2: int, cell_cm: float, m: float, edges_key: bytes) -> _KernelBasis:
    """Sub-sample area of every ring in every distinct kernel cell and its 2-D DFT (geometry
    only): a kernel is then one product with the ring densities."""
    edges = np.frombuffer(edges_key, dtype=np.float64)
    sub = _KERNEL_SUB
    half = n2 // 2  # largest |offset| [cells]; the rfft2 keeps columns 0..half
    n_rings = edges.size - 1
    s = (np.arange(sub) + 0.5) / sub - 0.5  # sub-sample offsets [cells], symmetric about 0
    idx = np.fft.fftfreq(n2, d=1.0 / n2)  # cell offsets in FFT order: 0, 1, ..., -1
    a = np.abs(idx[: half + 1])  # the distinct |offsets| 0..half
    xs = ((a[:, None] + s[None, :]) * cell_cm).ravel()  # ((half+1)*sub,)
    rho = np.hypot(xs[:, None], xs[None, :]) / m  # exit-plane radius of each sub-point
    ring = np.minimum(np.searchsorted(edges, rho, side="right") - 1, n_rings)
    nu = half + 1
    cell = np.arange(nu * nu).reshape(nu, 1, nu, 1)  # cell (u, v) of each sub-point
    flat = (ring.reshape(nu, sub, nu, sub) * (nu * nu) + cell).ravel()
    counts = np.bincount(flat, minlength=(n_rings + 1) * nu * nu).reshape(n_rings + 1, nu, nu)
    counts = counts[:n_rings]  # beyond the last ring the density is zero
    used = np.flatnonzero(counts.any(axis=(1, 2)))
    area = counts[used] * (cell_cm / sub) ** 2  # (nU, nu, nu) [cm^2]
    # DFT of an even map from its distinct cells: offsets +-u share cos(2 pi p u / n2)
    mult = np.full(nu, 2.0)
    mult[0] = 1.0
    if n2 % 2 == 0:
        mult[half] = 1.0  # the Nyquist offset has no mirror
    pu = np.outer(np.arange(nu), np.arange(nu)) % n2
    cw = np.cos(2.0 * math.pi * pu / n2) * mult[None, :]  # (p, u)
    ft = np.matmul(np.matmul(cw, area), cw.T)  # (nU, nu, nu), real and symmetric
    iu, iv = np.triu_indices(nu)
    basis = np.concatenate([area[:, iu, iv], ft[:, iu, iv]], axis=1)
    tri = np.empty((nu, nu), dtype=np.intp)
    tri[iu, iv] = np.arange(iu.size)
    tri[iv, iu] = np.arange(iu.size)
    fold = np.minimum(np.arange(n2), n2 - np.arange(n2))  # |offset| of FFT index i
    rfft_index = tri[fold[:, None], fold[None, :nu]]
    shifted_index = np.fft.fftshift(tri[fold[:, None], fold[None, :]])
    for arr in (used, basis, rfft_index, shifted_index):
        arr.setflags(write=False)
    return _KernelBasis(used, basis, int(iu.size), rfft_index, shifted_index)


def _resample(coarse: np.ndarray, plan: _Plan) -> np.ndarray:
    """Bilinear values of coarse maps (k, n_dom, n_dom) at m x on the image grid.

    Image row i sits at y = -x_i and coarse row j at y = -centres[j], so rows and columns
    share one weight matrix; two small matrix products (BLAS) do the resampling.
    """
    w = plan.resample  # (n_dom, n_px)
    k, n_dom, n_px = coarse.shape[0], w.shape[0], w.shape[1]
    side = np.ascontiguousarray(coarse.transpose(1, 0, 2)).reshape(n_dom, k * n_dom)
    rows = (plan.resample_t @ side).reshape(n_px, k, n_dom).transpose(1, 0, 2)
    out = np.ascontiguousarray(rows).reshape(k * n_px, n_dom) @ w
    return out.reshape(k, n_px, n_px)


def _centre_box(n: int, geometry: Any, grid: Any) -> tuple[slice, slice]:
    """Central square of side max(field/10, 3 px) where the field-centre SPR is read."""
    side_px = max(3, int(round(0.1 * geometry.field_cm * MM_PER_CM / grid.pixel_mm)))
    side_px = min(side_px, n)
    lo = (n - side_px) // 2
    return (slice(lo, lo + side_px), slice(lo, lo + side_px))
