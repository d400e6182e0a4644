"""Receptor blur: phosphor light spread, optics and pixel aperture; kernels, separable blur, MTF.

The phosphor's line-spread function is exponential with a width that grows with the CsI
thickness (a Lorentzian MTF in f*L); a receptor may add a Gaussian (image-intensifier electron
optics) and the pixel aperture. The blur acts on the simulated grid through a pixel-integrated
1-D kernel applied along x and y (a separable PSF: exact along the axes, where the presampled
MTF is defined, approximate on the diagonals), on signal *and* quantum noise together (noise
generated before the blur, so it becomes correlated, as in a real phosphor). When a simulated
pixel spans several native pixels, its own area is the aperture; when it is smaller, an extra
box of width sqrt(p^2 - d^2) renders the coarser native pixel p. Sources: the package
docstring (:mod:`sim.receptor`).
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import scipy.fft

from sim.units import MM_PER_UM

PHOSPHOR_LSF_PER_THICKNESS = 0.195
# guess: exponential LSF exp(-|x|/a)/(2a) with a = 0.195 * thickness, i.e. a Lorentzian MTF
# 1/(1 + (2 pi a f)^2) depending on f*L as in Zhao et al. 2004; the constant is chosen so that
# 600 um CsI has a phosphor MTF of 0.65 at 1 cycle/mm (presampled MTF with a 150 um pixel
# ~0.63 at 1 and ~0.27 at 2 cycles/mm), typical of published CsI panels (Samei & Flynn 2003).

_DIRECT_TAPS_MAX = 9  # kernels up to this length are applied by direct convolution
_KERNEL_TAIL = 2e-3  # kernel taps are cut where the two tails together hold less than this


def phosphor_range_mm(csi_um: float) -> float:
    """Range ``a`` of the exponential LSF of a CsI layer of thickness ``csi_um`` [mm]."""
    return PHOSPHOR_LSF_PER_THICKNESS * csi_um * MM_PER_UM


def mtf(
    f_cyc_per_mm: np.ndarray, a_mm: float, sigma_mm: float, native_pixel_mm: float
) -> np.ndarray:
    """Presampled MTF: ``1/(1 + (2 pi a f)^2) x exp(-2 (pi sigma f)^2) x |sinc(p f)|`` [-].

    Phosphor of range ``a_mm``, optional Gaussian optics ``sigma_mm`` (0: none) and the native
    pixel aperture ``native_pixel_mm``; ``f_cyc_per_mm`` is a validated float64 array.
    """
    f = f_cyc_per_mm
    out = 1.0 / (1.0 + (2.0 * np.pi * a_mm * f) ** 2)
    if sigma_mm > 0.0:
        out = out * np.exp(-2.0 * (np.pi * sigma_mm * f) ** 2)
    out = out * np.abs(np.sinc(native_pixel_mm * f))
    return out


@lru_cache(maxsize=64)
def kernel_1d(pixel_mm: float, a_mm: float, sigma_mm: float, w_mm: float) -> np.ndarray:
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


_BLOCK_BYTES = 1 << 18  # rows per block of the direct convolution: ~256 kB, L2-sized


def _mirror_rows(lo: int, hi: int, n: int) -> np.ndarray:
    """Row indices lo..hi-1 reflected into [0, n) without repeating the edge (numpy 'reflect')."""
    rows = np.abs(np.arange(lo, hi))
    return np.where(rows >= n, 2 * (n - 1) - rows, rows)


def _convolve_2d(x: np.ndarray, taps: np.ndarray, out: np.ndarray, gain: float = 1.0) -> None:
    """``x`` (ny, nx) convolved with a short symmetric kernel along both axes into ``out``
    (reflect edges, as numpy's 'reflect' / scipy's 'mirror'; needs taps.size < nx, ny), times
    ``gain`` (folded into the taps along y). ``out`` may be ``x`` itself (the rows a block
    still needs are kept aside).

    Row blocks of ~256 kB are filtered along y, then along x, while they sit in the cache;
    symmetric taps pair the two neighbours (one product per pair), the y-filtered block gets
    its reflected edge columns so the x pass needs no edge cases, and scratch buffers are
    reused, so a 3-tap blur of a 1024 x 1024 image costs ~2 ms instead of ~6.
    """
    ny, nx = x.shape
    h = taps.size // 2
    t = [np.float32(v) for v in taps[h:]]
    ty = [np.float32(v * gain) for v in taps[h:]] if gain != 1.0 else t
    b = max(1, min(ny, _BLOCK_BYTES // (4 * nx)))
    starts = list(range(0, ny, b))
    if len(starts) > 1 and ny - starts[-1] <= h:  # the last block must hold its mirror rows
        starts.pop()
    ends = [*starts[1:], ny]
    rows_max = max(e - s for s, e in zip(starts, ends, strict=True))
    vp = np.empty((rows_max, nx + 2 * h), np.float32)  # y-filtered rows, h columns each side
    tmp = np.empty((rows_max, nx), np.float32)
    cols = np.arange(1, h + 1)
    dst = np.concatenate([h - cols, h + nx - 1 + cols])  # reflected columns of vp ...
    src = np.concatenate([h + cols, h + nx - 1 - cols])  # ... and the columns they copy
    in_place = np.shares_memory(x, out)
    if in_place:
        src_rows = np.empty((rows_max + 2 * h, nx), np.float32)
        halo = np.empty((h, nx), np.float32)  # rows above the block, as they were
    for r0, r1 in zip(starts, ends, strict=True):
        m = r1 - r0
        lo, hi = r0 - h, r1 + h
        if not in_place:
            s = x[lo:hi] if lo >= 0 and hi <= ny else np.take(x, _mirror_rows(lo, hi, ny), 0)
        else:  # rows from r0 on are not written yet; those above come from the halo
            s = src_rows[: m + 2 * h]
            first = lo if r0 == 0 else r0
            np.take(x, _mirror_rows(first, hi, ny), 0, out=s[first - lo :])
            if r0 > 0:
                s[:h] = halo
            halo[:] = s[m : m + h]
        w, tt = vp[:m], tmp[:m]
        v = w[:, h : h + nx]
        np.multiply(s[h : h + m], ty[0], out=v)  # along y
        for j in range(1, h + 1):
            np.add(s[h - j : h - j + m], s[h + j : h + j + m], out=tt)
            tt *= ty[j]
            v += tt
        w[:, dst] = w[:, src]  # reflected edge columns
        o = out[r0:r1]
        np.multiply(v, t[0], out=o)  # along x
        for j in range(1, h + 1):
            np.add(w[:, h - j : h - j + nx], w[:, h + j : h + j + nx], out=tt)
            tt *= t[j]
            o += tt


def separable_2d(
    image: np.ndarray, taps: np.ndarray, in_place: bool = False, gain: float = 1.0
) -> np.ndarray:
    """A 2-D image convolved with a short symmetric kernel along both axes (reflect edges),
    times ``gain``.

    Parameters
    ----------
    image : numpy.ndarray
        float32 (ny, nx).
    taps : numpy.ndarray
        Odd-length symmetric kernel, sum 1.
    in_place : bool
        Write the result into ``image`` (a writeable float32 array) instead of a new array.
    gain : float
        Factor on the result, applied with the taps (no pass of its own) [-].

    Returns
    -------
    numpy.ndarray
        The convolved image (``image`` itself when ``in_place``).
    """
    if taps.size <= _DIRECT_TAPS_MAX and taps.size < min(image.shape):
        out = image if in_place else np.empty(image.shape, np.float32)
        _convolve_2d(np.asarray(image, dtype=np.float32), taps, out, gain)
        return out
    from scipy import ndimage

    out = ndimage.convolve1d(image, taps * np.float32(gain), axis=0, mode="mirror")
    out = ndimage.convolve1d(out, taps, axis=1, mode="mirror")
    if in_place:
        image[...] = out
        return image
    return out


def blur(images: np.ndarray, pixel_mm: float, a_mm: float, sigma_mm: float, w_mm: float):
    """Separable blur of a stack (k, ny, nx) with the pixel-integrated kernel, reflect edges.

    The 2-D point-spread function is taken as the product of the 1-D ones along x and y
    (exact along the axes, where the presampled MTF is defined; an approximation on the
    diagonals). Short kernels are applied directly, long ones through the FFT.
    """
    taps = kernel_1d(float(pixel_mm), float(a_mm), float(sigma_mm), float(w_mm))
    if taps.size == 1:
        return images
    half = taps.size // 2
    ny, nx = images.shape[-2:]
    if half >= min(ny, nx):
        raise ValueError(
            f"blur kernel ({taps.size} px) is wider than the image ({ny}x{nx} px): "
            "use more pixels or a larger field of view"
        )
    if taps.size <= _DIRECT_TAPS_MAX and taps.size < min(ny, nx):
        out = np.empty(images.shape, np.float32)
        for k in range(images.shape[0]):
            _convolve_2d(np.asarray(images[k], dtype=np.float32), taps, out[k])
        return out
    padded = np.pad(images, ((0, 0), (half, half), (half, half)), mode="reflect")
    py = scipy.fft.next_fast_len(padded.shape[-2], real=True)
    px = scipy.fft.next_fast_len(padded.shape[-1], real=True)
    key = tuple(float(t) for t in taps)
    spec = scipy.fft.rfft2(padded, s=(py, px), axes=(-2, -1))
    spec *= _kernel_dft(key, py, True)[:, None] * _kernel_dft(key, px, False)[None, :]
    out = scipy.fft.irfft2(spec, s=(py, px), axes=(-2, -1))
    return np.ascontiguousarray(out[:, half : half + ny, half : half + nx], dtype=np.float32)


def aperture_extra_mm(native_mm: float, pixel_mm: float) -> float:
    """Extra box blur when the native pixel is larger than the simulated one [mm].

    A simulated pixel already integrates over its own area (white noise per pixel); when the
    native pixel is larger, the image is an oversampled rendition of the coarser detector: add a
    box of width sqrt(p^2 - d^2) (box widths add in quadrature, to second moment).
    """
    return math.sqrt(max(native_mm**2 - pixel_mm**2, 0.0))
