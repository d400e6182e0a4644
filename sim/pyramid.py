"""Gaussian blur at any radius in a few ms: one level of a Gaussian pyramid.

The image is averaged over k x k blocks (k a power of two), filtered with the Gaussian of the
remaining variance on the coarse grid and linearly up-sampled; the variances of the three steps
add up to the requested one. Used by :mod:`sim.processing` (edge enhancement, the masked
normalized-convolution blur).

References
----------
Burt PJ, Adelson EH. The Laplacian pyramid as a compact image code. IEEE Trans. Commun.
31(4):532-540, 1983.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

# choice: Gaussian sigmas [px] at or above this are computed on a 2^k block-averaged image
# (pyramid), which keeps the blur at a few ms at any radius; below it, direct separable filter.
PYRAMID_MIN_SIGMA_PX = 2.0
# choice: the low-resolution residual sigma stays at least this many coarse pixels.
PYRAMID_MIN_RESIDUAL_PX = 1.5
# choice: the coarse image of the pyramid keeps at least this many pixels a side.
PYRAMID_MIN_COARSE_PX = 32
# choice: Gaussian kernels truncated at this many sigma (error < 1e-4 of the kernel mass).
GAUSS_TRUNCATE = 4.0


def block_mean(a: np.ndarray, k: int) -> np.ndarray:
    """Mean over k x k blocks (k a power of two); edge-padded to a multiple of k."""
    n0, n1 = a.shape
    p0, p1 = (-n0) % k, (-n1) % k
    if p0 or p1:
        a = np.pad(a, ((0, p0), (0, p1)), mode="edge")
    while k > 1:  # 2x2 means by strided slices: much faster than reshape(...).mean()
        a = (a[0::2, 0::2] + a[1::2, 0::2] + a[0::2, 1::2] + a[1::2, 1::2]) * np.float32(0.25)
        k //= 2
    return a


def upsample_linear(a: np.ndarray, k: int, axis: int) -> np.ndarray:
    """Linear interpolation by an integer factor along axis 0 or 1 (pixel-centre aligned)."""
    r, c = a.shape
    if axis == 0:
        pad = np.concatenate([a[:1], a, a[-1:]], axis=0)  # edge clamp
        prev, cur, nxt = pad[:-2], pad[1:-1], pad[2:]
        out = np.empty((r, k, c), dtype=np.float32)
        phase = [out[:, p, :] for p in range(k)]
        shape = (r * k, c)
    else:
        pad = np.concatenate([a[:, :1], a, a[:, -1:]], axis=1)
        prev, cur, nxt = pad[:, :-2], pad[:, 1:-1], pad[:, 2:]
        out = np.empty((r, c, k), dtype=np.float32)
        phase = [out[:, :, p] for p in range(k)]
        shape = (r, c * k)
    for p, o in enumerate(phase):  # k phases (k <= 64), each a whole-array operation
        d = (p + 0.5) / k - 0.5  # offset of the fine pixel centre from the coarse one
        np.multiply(cur, np.float32(1.0 - abs(d)), out=o)
        o += (prev if d < 0.0 else nxt) * np.float32(abs(d))
    return out.reshape(shape)


def pyramid_factor(sigma_px: float, n_min: int) -> int:
    """Largest power-of-two block size leaving a residual sigma of >= 1.5 coarse pixels."""
    k = 1
    while True:
        k2 = 2 * k
        # block mean adds (k^2 - 1)/12, linear up-sampling about k^2/6 [fine px^2]
        rest = sigma_px**2 - (k2**2 - 1) / 12.0 - k2**2 / 6.0
        small = n_min // k2 < PYRAMID_MIN_COARSE_PX
        if rest <= 0.0 or math.sqrt(rest) / k2 < PYRAMID_MIN_RESIDUAL_PX or small:
            return k
        k = k2


def _level(sigma_px: float, n_min: int) -> tuple[int, float]:
    """The pyramid's block size k and the Gaussian sigma left on the coarse grid [coarse px]
    for a blur of ``sigma_px`` [px] of an image ``n_min`` pixels on its short side."""
    k = 1 if sigma_px < PYRAMID_MIN_SIGMA_PX else pyramid_factor(sigma_px, n_min)
    if k == 1:
        return 1, sigma_px
    return k, math.sqrt(sigma_px**2 - (k**2 - 1) / 12.0 - k**2 / 6.0) / k


def blur_coarse(a: np.ndarray, sigma_px: float) -> tuple[np.ndarray, int]:
    """Gaussian blur left at the coarse pyramid level: (blurred k x k block image, k)."""
    k, sigma_c = _level(sigma_px, min(a.shape))
    small = block_mean(a, k) if k > 1 else a
    small = ndimage.gaussian_filter(small, sigma_c, mode="nearest", truncate=GAUSS_TRUNCATE)
    return small, k


def blur_coarse_box(
    a_box: np.ndarray, shape: tuple[int, int], rows: slice, cols: slice, sigma_px: float
) -> tuple[np.ndarray, int, tuple[int, int]]:
    """:func:`blur_coarse` of an image of ``shape`` that is zero outside ``(rows, cols)``
    (``a_box`` its content there), worked on a window around the box only.

    Returns the blurred coarse cells of the window, ``k``, and the coarse index of the
    window's first cell: equal to the whole image's cells there. The window keeps the
    pyramid's k x k blocks and two cells of zeros around the box (one for the neighbours of
    :func:`to_fine_window`). That is enough: each pass of the separable Gaussian blurs along
    one axis, so the rows (then columns) beyond the box that it reads, as the image's or as
    the window's 'nearest' extension, are zeros either way.
    """
    n0, n1 = shape
    k, sigma_c = _level(sigma_px, min(shape))
    margin = 2  # coarse cells

    def span(s: slice, n: int) -> tuple[int, int]:
        lo = max(s.start // k - margin, 0) * k
        hi = min(((s.stop - 1) // k + 1 + margin) * k, n)
        return lo, hi

    (r0, r1), (c0, c1) = span(rows, n0), span(cols, n1)
    win = np.zeros((r1 - r0, c1 - c0), np.float32)
    win[rows.start - r0 : rows.stop - r0, cols.start - c0 : cols.stop - c0] = a_box
    small = block_mean(win, k) if k > 1 else win
    small = ndimage.gaussian_filter(small, sigma_c, mode="nearest", truncate=GAUSS_TRUNCATE)
    return small, k, (r0 // k, c0 // k)


def to_fine(small: np.ndarray, k: int, shape: tuple[int, ...]) -> np.ndarray:
    """Up-sample a coarse pyramid level back to ``shape`` (small axis first: cheaper)."""
    if k == 1:
        return small
    up = upsample_linear(upsample_linear(small, k, 1), k, 0)
    return up[: shape[0], : shape[1]]


def to_fine_window(
    small: np.ndarray,
    k: int,
    shape: tuple[int, ...],
    rows: slice,
    cols: slice,
    origin: tuple[int, int] = (0, 0),
) -> np.ndarray:
    """``to_fine(small, k, shape)[rows, cols]``, up-sampling only the coarse cells it needs
    (and one more on each side, the neighbours of the linear interpolation). ``origin`` is
    the coarse index of ``small[0, 0]`` (a window of :func:`blur_coarse_box`)."""
    o0, o1 = origin
    if k == 1:
        return small[rows.start - o0 : rows.stop - o0, cols.start - o1 : cols.stop - o1]
    nr, nc = -(-shape[0] // k), -(-shape[1] // k)  # the whole image's coarse cells
    i0, i1 = max(rows.start // k - 1, 0), min((rows.stop - 1) // k + 2, nr)
    j0, j1 = max(cols.start // k - 1, 0), min((cols.stop - 1) // k + 2, nc)
    up = upsample_linear(upsample_linear(small[i0 - o0 : i1 - o0, j0 - o1 : j1 - o1], k, 1), k, 0)
    r, c = rows.start - i0 * k, cols.start - j0 * k
    return up[r : r + rows.stop - rows.start, c : c + cols.stop - cols.start]


def gaussian(a: np.ndarray, sigma_px: float) -> np.ndarray:
    return to_fine(*blur_coarse(a, sigma_px), a.shape)
