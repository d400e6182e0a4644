"""Image processing and display: flat field, log, edge enhancement, window/level, temporal filters.

The chain hands this module the detected receptor signal of one frame and the noise-free
open-field (flat) signal of the same technique. :func:`process` turns them into

1. a gain-corrected image, ``raw / flat`` (the fraction of the open-field signal that reached
   each pixel: 1 in air, ~0.01-0.1 behind a patient),
2. a *processed* image: in log mode (``processing.log`` True) the attenuation line integral
   ``-ln(raw / flat)`` (dimensionless, bright = more attenuation); in linear mode the
   gain-corrected fraction itself (bright = more X-rays); in DSA mode the log image minus the
   log of a mask frame; then edge-enhanced by an unsharp mask restricted to the collimated
   field,
3. a *display* image, uint8, by window/level (automatic from percentiles inside the field, or
   manual in the units of the processed image) and gamma.

Display convention (fluoroscopy): more X-rays = brighter, so bone, iodine and the needle appear
DARK. In log mode the processed image is attenuation (bright = more attenuation), so the display
mapping is flipped to keep that convention; ``processing.invert`` gives the radiographic look
(bone white) in either mode.

Temporal tools for fluoroscopy runs (used by the sequence module): recursive filter, frame
averaging, last-image hold and DSA log subtraction.

References
----------
Bushberg JT, Seibert JA, Leidholdt EM, Boone JM. The Essential Physics of Medical Imaging, 3rd
ed. Lippincott Williams & Wilkins, 2012, ch. 9 (Fluoroscopy: frame averaging / recursive
filtering, last-image hold, digital subtraction).
Gonzalez RC, Woods RE. Digital Image Processing, 3rd ed. Pearson Prentice Hall, 2008,
sect. 3.6.3 (unsharp masking and highboost filtering).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sim import memo, pyramid
from sim.geometry import support_box
from sim.validate import check_number

__all__ = [
    "LOG_FLOOR",
    "ProcessedImage",
    "auto_window",
    "dsa_subtract",
    "effective_frames",
    "flat_field",
    "frame_average",
    "gaussian_blur",
    "lag_fraction",
    "last_image_hold",
    "process",
    "recursive_filter",
    "recursive_filter_sequence",
    "recursive_variance_factor",
    "to_display_uint8",
    "to_log",
    "unsharp_mask",
    "window_level",
]

# choice: smallest signal fraction taken into the log, so that a pixel with no X-rays
# (shutters, electronic noise below zero) maps to a finite attenuation of -ln(1e-6) = 13.8,
# above every real patient line integral at fluoroscopy energies and inside the level knob range.
LOG_FLOOR = 1e-6
# choice: flat-field pixels below this fraction of the flat maximum carry no gain information
# (no X-rays reach them); the corrected image is 0 there.
FLAT_FLOOR_REL = 1e-6
# choice: at most this many pixels feed the percentile estimate of the automatic window.
AUTO_WINDOW_SAMPLES = 65536
# choice: fewest in-field subsample pixels before the automatic window falls back to every
# in-field pixel (small fields).
AUTO_WINDOW_MIN_SAMPLES = 256
# choice: a window never narrower than this (processed units), so a uniform image displays
# as mid-grey instead of dividing by zero.
MIN_WINDOW = 1e-6
# choice: fraction of the blurred field mask below which a pixel counts as outside the field
# for the masked (normalized-convolution) blur.
MASK_SUPPORT_FLOOR = 1e-3


# --------------------------------------------------------------------------- validation


def _check_image(name: str, img: Any, *, finite: bool = True) -> np.ndarray:
    """Return ``img`` as a 2-D float32 array, or raise ValueError naming it."""
    a = np.asarray(img)
    if a.ndim != 2 or a.size == 0:
        raise ValueError(f"{name} must be a non-empty 2-D image, got shape {a.shape}")
    if not np.issubdtype(a.dtype, np.number) or np.iscomplexobj(a):
        raise ValueError(f"{name} must be a real numeric image, got dtype {a.dtype}")
    a = a.astype(np.float32, copy=False)

    def check() -> bool:
        if not np.isfinite(a).all():
            n_bad = int(a.size - np.count_nonzero(np.isfinite(a)))
            raise ValueError(f"{name} has {n_bad} NaN/inf pixels; every pixel must be finite")
        return True

    if finite:
        memo.per_array(a, "finite", check)
    return a


def _check_same_shape(name: str, a: np.ndarray, ref_name: str, ref: np.ndarray) -> None:
    if a.shape != ref.shape:
        raise ValueError(f"{name} has shape {a.shape}, must match {ref_name} shape {ref.shape}")


def _check_mask(mask: Any, shape: tuple[int, ...], name: str = "mask") -> np.ndarray | None:
    """Return ``mask`` as float32 weights in [0, 1] of the given shape (None passes)."""
    if mask is None:
        return None
    m = np.asarray(mask)
    if m.shape != shape:
        raise ValueError(f"{name} has shape {m.shape}, must match the image shape {shape}")
    m = m.astype(np.float32, copy=False)

    def check() -> bool:
        if not np.isfinite(m).all() or m.min() < 0.0 or m.max() > 1.0:
            raise ValueError(f"{name} values must be finite and in [0, 1] (bool or weights)")
        return True

    memo.per_array(m, "mask", check)
    return m


# --------------------------------------------------------------------------- flat field, log


def flat_field(raw: Any, flat_expected: Any, dark: Any = None) -> np.ndarray:
    """Gain and offset (flat-field) correction.

    ``(raw - dark) / (flat_expected - dark)``: the fraction of the open-field signal that
    reached each pixel. ``flat_expected`` is the noise-free open-field image (no patient, no
    collimation) of the same technique, so the correction removes the heel effect, inverse
    square fall-off, vignetting and pixel gain together; the flat of the flat is exactly 1.
    Pixels where the flat carries no signal (below 1e-6 of its maximum) are set to 0.

    Parameters
    ----------
    raw : array_like
        Detected signal, 2-D [detector signal units].
    flat_expected : array_like
        Noise-free open-field signal of the same technique, same shape [detector signal units].
    dark : array_like or float, optional
        Offset (dark) image or constant subtracted from both [detector signal units].

    Returns
    -------
    numpy.ndarray
        Gain-corrected image, float32 [fraction of open field].

    References
    ----------
    Seibert JA, Boone JM, Lindfors KK. Flat-field correction technique for digital detectors.
    Proc. SPIE 3336, Medical Imaging 1998: Physics of Medical Imaging, 348-354.
    IEC 62220-1-1:2015, Medical electrical equipment - Characteristics of digital X-ray imaging
    devices - Part 1-1: Determination of the detective quantum efficiency (corrections
    applied to raw data before analysis).
    """
    r = _check_image("raw", raw)
    f = _check_image("flat_expected", flat_expected)
    _check_same_shape("flat_expected", f, "raw", r)
    if dark is not None:
        d = np.asarray(dark, dtype=np.float32)
        if d.ndim != 0:
            d = _check_image("dark", d)
            _check_same_shape("dark", d, "raw", r)
        elif not np.isfinite(d):
            raise ValueError(f"dark={float(d)!r} must be finite")
        r = r - d
        f = f - d
    return _flat_field(r, f)


def _flat_field(r: np.ndarray, f: np.ndarray) -> np.ndarray:
    fmin, fmax = memo.per_array(f, "range", lambda: (float(f.min()), float(f.max())))
    if not fmax > 0.0:
        raise ValueError(f"flat_expected has no positive pixel (max {fmax!r}); it must be > 0")
    floor = np.float32(fmax * FLAT_FLOOR_REL)
    if fmin > floor:  # usual case: an open-field flat, positive everywhere
        return np.divide(r, f, dtype=np.float32)
    out = np.divide(r, f, out=np.zeros_like(r, dtype=np.float32), where=f > floor)
    return out.astype(np.float32, copy=False)


def to_log(img: Any, i0: float = 1.0) -> np.ndarray:
    """Attenuation line integral ``-ln(max(img, LOG_FLOOR * i0) / i0)``.

    With ``img`` the transmitted signal and ``i0`` the unattenuated one, this is the sum of
    mu * path length along each ray (Beer-Lambert), the quantity a log-processed image shows.
    Signals at or below ``LOG_FLOOR * i0`` (shutters, negative electronic noise) give 13.8.

    Parameters
    ----------
    img : array_like
        Transmitted signal, 2-D [same units as ``i0``].
    i0 : float
        Unattenuated (open-field) signal; 1 for a flat-fielded image [same units as ``img``].

    Returns
    -------
    numpy.ndarray
        Attenuation line integral, float32 [dimensionless].

    References
    ----------
    Bushberg JT et al. The Essential Physics of Medical Imaging, 3rd ed., 2012, ch. 3
    (attenuation, Beer-Lambert law) and ch. 9 (logarithmic processing in DSA).
    """
    a = _check_image("img", img)
    i0 = check_number("i0", i0, 0.0, math.inf, lo_open=True)
    return _to_log(a, i0)


def _to_log(a: np.ndarray, i0: float, in_place: bool = False) -> np.ndarray:
    t = np.maximum(a, np.float32(LOG_FLOOR * i0), out=a if in_place else None)
    if i0 != 1.0:
        t *= np.float32(1.0 / i0)
    np.log(t, out=t)
    np.negative(t, out=t)
    return t


# --------------------------------------------------------------------------- blur, unsharp mask


def _support_box(m: np.ndarray) -> tuple[slice, slice]:
    """Rows and columns of the smallest box holding every ``m > 0`` pixel."""
    return memo.per_array(m, "box", lambda: support_box(m > 0.0))


def gaussian_blur(img: Any, sigma_px: float) -> np.ndarray:
    """Gaussian low-pass filter of standard deviation ``sigma_px``, a few ms at any radius.

    Small sigmas use a direct separable filter; from 3 px on, the image is block-averaged by
    a power of two, filtered with the remaining sigma and linearly up-sampled (one level of a
    Gaussian pyramid). The variances of the three steps add up to ``sigma_px**2``; the result
    matches a direct Gaussian filter to about 1 % of the image contrast. Edges are extended
    (nearest).

    Parameters
    ----------
    img : array_like
        Image, 2-D [any units].
    sigma_px : float
        Standard deviation of the Gaussian, > 0 [px].

    Returns
    -------
    numpy.ndarray
        Blurred image, float32 [units of ``img``].

    References
    ----------
    Burt PJ, Adelson EH. The Laplacian pyramid as a compact image code. IEEE Trans. Commun.
    31(4):532-540, 1983.
    """
    a = _check_image("img", img)
    s = check_number("sigma_px", sigma_px, 0.0, 1e4, lo_open=True)
    return pyramid.gaussian(a, s)


def unsharp_mask(img: Any, strength: float, radius_px: float, mask: Any = None) -> np.ndarray:
    """Unsharp-mask edge enhancement ``img + strength * (img - G_radius * img)``.

    ``radius_px`` is the standard deviation of the Gaussian blur. A constant image is returned
    unchanged; an edge gains an overshoot on both sides (the visible "halo" of edge
    enhancement). With a field ``mask`` the blur is a normalized convolution over the
    collimated field only, ``G*(img m) / G*m``, and the enhancement is weighted by ``m``, so the
    shutter edge neither rings nor leaks into the field.

    Parameters
    ----------
    img : array_like
        Image, 2-D [any units].
    strength : float
        Gain of the high-pass component, in [0, 20]; 0 returns ``img`` [dimensionless].
    radius_px : float
        Standard deviation of the Gaussian blur, in (0, 10000] [px].
    mask : array_like, optional
        Field mask, bool or weights in [0, 1], same shape [dimensionless].

    Returns
    -------
    numpy.ndarray
        Edge-enhanced image, float32 [units of ``img``].

    References
    ----------
    Gonzalez RC, Woods RE. Digital Image Processing, 3rd ed., 2008, sect. 3.6.3 (unsharp
    masking and highboost filtering).
    Knutsson H, Westin C-F. Normalized and differential convolution. Proc. IEEE CVPR 1993,
    515-523 (normalized convolution for the masked blur).
    """
    a = _check_image("img", img)
    s = check_number("strength", strength, 0.0, 20.0)
    r = check_number("radius_px", radius_px, 0.0, 1e4, lo_open=True)
    m = _check_mask(mask, a.shape)
    return _unsharp(a, s, r, m)


def _mask_blur(m: np.ndarray, radius_px: float) -> tuple[np.ndarray, int]:
    """:func:`pyramid.blur_coarse` of a field mask, remembered for a read-only mask.

    A fluoroscopy run processes every frame with the same collimated field, so the
    normalized-convolution denominator is the same each time (:func:`sim.memo.per_array`).
    """
    key = ("blur", float(radius_px))
    return memo.per_array(m, key, lambda: pyramid.blur_coarse(m, radius_px))


def _unsharp(
    a: np.ndarray, strength: float, radius_px: float, m: np.ndarray | None, in_place: bool = False
) -> np.ndarray:
    if strength == 0.0:
        return a if in_place else a.copy()
    if m is None:
        blur = pyramid.gaussian(a, radius_px)
        hp = a - blur
    else:
        # shift to the in-field mean first: float32 sums then stay small, and a constant image
        # gives an exact zero high-pass
        step = max(1, min(a.shape) // 64)
        sub_a, sub_m = a[::step, ::step], m[::step, ::step]
        inside = sub_m > 0.5
        ref = np.float32(sub_a[inside].mean()) if inside.any() else np.float32(0.0)
        # the high-pass is weighted by m: only the box holding m > 0 is worked on
        rows, cols = _support_box(m)
        a0 = np.subtract(a[rows, cols], ref, dtype=np.float32)
        # normalized convolution, the ratio taken at the coarse pyramid level (one up-sampling)
        num, k, (o0, o1) = pyramid.blur_coarse_box(
            a0 * m[rows, cols], a.shape, rows, cols, radius_px
        )
        den = _mask_blur(m, radius_px)[0][o0 : o0 + num.shape[0], o1 : o1 + num.shape[1]]
        ratio = np.divide(num, den, out=np.zeros_like(num), where=den > MASK_SUPPORT_FLOOR)
        fine = pyramid.to_fine_window(ratio, k, a.shape, rows, cols, (o0, o1))
        hp = np.subtract(a0, fine, out=a0)
        hp *= m[rows, cols]
        hp *= np.float32(strength)
        out = a if in_place else np.array(a, dtype=np.float32, copy=True)
        out[rows, cols] += hp
        return out
    out = a + np.float32(strength) * hp
    return out.astype(np.float32, copy=False)


# --------------------------------------------------------------------------- window / level


def auto_window(
    img: Any, mask: Any = None, lo_pct: float = 1.0, hi_pct: float = 99.0
) -> tuple[float, float]:
    """Automatic window and level from percentiles inside the collimated field.

    ``window = p_hi - p_lo`` and ``level = (p_lo + p_hi) / 2``, the percentiles taken over the
    pixels where ``mask`` > 0.5 (so shutters and the unattenuated background outside the field
    do not spoil the grey scale), on a regular subsample of at most 65 536 pixels for speed.
    An empty mask falls back to the whole image; a uniform image gets a tiny window.

    Parameters
    ----------
    img : array_like
        Processed image, 2-D [processed units].
    mask : array_like, optional
        Collimated field mask, bool or weights in [0, 1], same shape [dimensionless].
    lo_pct, hi_pct : float
        Percentiles mapped to the window ends, 0 <= lo_pct < hi_pct <= 100 [%].

    Returns
    -------
    tuple of float
        ``(window, level)`` [processed units].

    References
    ----------
    Bushberg JT et al. The Essential Physics of Medical Imaging, 3rd ed., 2012, ch. 5 and 9
    (display window/level, automatic grey-scale processing).
    """
    a = _check_image("img", img, finite=False)
    lo = check_number("lo_pct", lo_pct, 0.0, 100.0)
    hi = check_number("hi_pct", hi_pct, 0.0, 100.0)
    if not lo < hi:
        raise ValueError(f"lo_pct={lo_pct!r} must be below hi_pct={hi_pct!r} (both in [0, 100])")
    m = _check_mask(mask, a.shape)
    return _auto_window(a, m, lo, hi)


def _window_samples(a: np.ndarray, m: np.ndarray | None) -> np.ndarray:
    step = max(1, int(math.ceil(math.sqrt(a.size / AUTO_WINDOW_SAMPLES))))
    sub = a[::step, ::step]
    if m is None:
        vals = sub.ravel()
    else:
        # the in-field samples' flat indices, worked out once per read-only mask
        idx = memo.per_array(m, ("samples", step), lambda: _sample_index(m, step))
        if idx.size >= AUTO_WINDOW_MIN_SAMPLES:
            vals = a.reshape(-1).take(idx)
        else:
            vals = a[m > 0.5]
            if vals.size == 0:  # empty field: whole image
                vals = sub.ravel()
    finite = np.isfinite(vals)
    return vals if finite.all() else vals[finite]


def _sample_index(m: np.ndarray, step: int) -> np.ndarray:
    """Flat indices of the pixels on the ``step`` grid where the mask is above 0.5."""
    rows, cols = np.nonzero(m[::step, ::step] > 0.5)
    return rows * (step * m.shape[1]) + cols * step


def _auto_window(a: np.ndarray, m: np.ndarray | None, lo: float, hi: float) -> tuple[float, float]:
    vals = _window_samples(a, m)
    if vals.size == 0:
        return 1.0, 0.0
    p_lo, p_hi = np.percentile(vals, [lo, hi])
    window = max(float(p_hi - p_lo), MIN_WINDOW)
    return window, float(0.5 * (p_lo + p_hi))


def window_level(
    img: Any, window: float, level: float, gamma: float = 1.0, invert: bool = False
) -> np.ndarray:
    """Linear window/level to [0, 1], optional inversion, then display gamma.

    ``v = clip((img - (level - window/2)) / window, 0, 1)``: ``level`` maps to 0.5 and the
    window ``[level - window/2, level + window/2]`` to [0, 1]. ``invert`` gives ``1 - v``.
    Gamma is applied last, ``v ** (1/gamma)``, so gamma > 1 brightens mid-tones (as the gamma
    of an image editor's levels tool) whatever the inversion.

    Parameters
    ----------
    img : array_like
        Image, 2-D [processed units].
    window : float
        Window width, > 0 [processed units].
    level : float
        Window centre [processed units].
    gamma : float
        Display gamma, in [0.1, 10] [dimensionless].
    invert : bool
        Map high values dark instead of bright.

    Returns
    -------
    numpy.ndarray
        Display values, float32 in [0, 1] [dimensionless].

    References
    ----------
    DICOM PS3.3, sect. C.11.2.1.2 (Window Center and Window Width, linear VOI function; this
    is its continuous form).
    """
    a = _check_image("img", img, finite=False)
    w = check_number("window", window, 0.0, math.inf, lo_open=True)
    c = check_number("level", level, -math.inf, math.inf)
    g = check_number("gamma", gamma, 0.1, 10.0)
    v = _window_level(a, w, c, g, bool(invert))
    return np.nan_to_num(v, copy=False, nan=0.0)


def _window_level(a: np.ndarray, w: float, c: float, g: float, invert: bool) -> np.ndarray:
    v = a - np.float32(c - 0.5 * w)
    v *= np.float32(1.0 / w)
    np.clip(v, 0.0, 1.0, out=v)
    if invert:
        np.subtract(np.float32(1.0), v, out=v)
    if g != 1.0:
        np.power(v, np.float32(1.0 / g), out=v)
    return v.astype(np.float32, copy=False)


def _window_to_uint8(a: np.ndarray, w: float, c: float, invert: bool) -> np.ndarray:
    """``to_display_uint8(_window_level(a, w, c, 1, invert))`` in one buffer and five passes
    (the same grey levels up to float32 rounding at a half level)."""
    scale = np.float32(255.0 / w)
    if invert:  # 255 (c + w/2 - a) / w
        v = np.multiply(a, -scale)
        v += np.float32((c + 0.5 * w) * (255.0 / w))
    else:  # 255 (a - c + w/2) / w
        v = np.multiply(a, scale)
        v -= np.float32((c - 0.5 * w) * (255.0 / w))
    np.clip(v, 0.0, 255.0, out=v)  # clips +-inf; NaN stays NaN
    if np.isnan(v).any():
        np.nan_to_num(v, copy=False, nan=0.0)
    v += np.float32(0.5)  # round half up, then truncate
    return v.astype(np.uint8)


def to_display_uint8(v: Any) -> np.ndarray:
    """8-bit display image ``round(255 * clip(v, 0, 1))``; NaN maps to 0.

    Parameters
    ----------
    v : array_like
        Display values, nominally in [0, 1] [dimensionless].

    Returns
    -------
    numpy.ndarray
        uint8 grey levels 0..255 [DDL].

    References
    ----------
    DICOM PS3.14 Grayscale Standard Display Function (digital driving levels, 8-bit).
    """
    out = np.multiply(v, np.float32(255.0), dtype=np.float32)
    np.clip(out, 0.0, 255.0, out=out)  # clips +-inf; NaN stays NaN
    if np.isnan(out).any():
        np.nan_to_num(out, copy=False, nan=0.0)
    out += np.float32(0.5)  # round half up, then truncate
    return out.astype(np.uint8)


# --------------------------------------------------------------------------- the stage


@dataclass(frozen=True, eq=False)
class ProcessedImage:
    """Output of :func:`process`.

    Attributes
    ----------
    processed : numpy.ndarray
        float32: attenuation line integral (log mode, DSA) or fraction of the open-field signal
        (linear mode), after edge enhancement [dimensionless].
    display : numpy.ndarray
        uint8 display image, more X-rays brighter unless inverted [DDL].
    window : float
        Window width used [processed units].
    level : float
        Window centre used [processed units].
    mode : str
        ``"log"``, ``"linear"`` or ``"dsa"``.
    """

    processed: np.ndarray
    display: np.ndarray
    window: float
    level: float
    mode: str


def _processing_section(params: Any) -> Any:
    proc = getattr(params, "processing", params)
    for name in ("log", "auto_window", "window", "level", "gamma", "edge_strength"):
        if not hasattr(proc, name):
            raise ValueError(f"params has no processing.{name}: pass a sim.params.Params")
    return proc


def process(
    detected_signal: Any,
    flat_expected: Any,
    field_mask: Any,
    params: Any,
    pixel_mm: float,
    dsa_mask_signal: Any = None,
) -> ProcessedImage:
    """Processing and display stage: flat field, log or linear, DSA, edge enhancement, W/L.

    Steps: ``t = detected / flat`` (:func:`flat_field`); log mode ``p = -ln t``, linear mode
    ``p = t``; DSA (``processing.dsa``) ``p = -ln t - (-ln t_mask)`` whatever the log knob;
    unsharp mask of ``processing.edge_strength`` with a Gaussian of standard deviation
    ``processing.edge_radius_mm`` inside the field; window/level, automatic (1st-99th
    percentile inside the field) or manual (``processing.window``, ``processing.level`` in
    processed units: attenuation in log mode, open-field fraction in linear mode); gamma; 8 bit.

    Display convention: more X-rays = brighter (fluoroscopy), so bone, iodine and the needle are
    dark; since the log image is attenuation, the log and DSA displays are flipped to keep it.
    ``processing.invert`` gives the radiographic look (bone white). In DSA the level is fixed at
    0 (no change = mid-grey) and the automatic window is symmetric about 0.

    Parameters
    ----------
    detected_signal : array_like
        Detected (noisy) receptor signal, 2-D [detector signal units].
    flat_expected : array_like
        Noise-free open-field signal of the same technique, same shape [detector signal units].
    field_mask : array_like or None
        Collimated field, bool or weights in [0, 1], same shape; None = whole image.
    params : sim.params.Params or its ``processing`` section
        Processing knobs.
    pixel_mm : float
        Image pixel pitch at the receptor plane, in (0, 100] [mm].
    dsa_mask_signal : array_like, optional
        Detected signal of the mask (pre-contrast) frame; required when ``processing.dsa``
        [detector signal units].

    Returns
    -------
    ProcessedImage
        ``processed`` (float32), ``display`` (uint8), ``window``, ``level``, ``mode``.

    References
    ----------
    Bushberg JT et al. The Essential Physics of Medical Imaging, 3rd ed., 2012, ch. 9.
    Gonzalez RC, Woods RE. Digital Image Processing, 3rd ed., 2008, sect. 3.6.3.
    """
    proc = _processing_section(params)
    raw = _check_image("detected_signal", detected_signal)
    flat = _check_image("flat_expected", flat_expected)
    _check_same_shape("flat_expected", flat, "detected_signal", raw)
    m = _check_mask(field_mask, raw.shape, "field_mask")
    px = check_number("pixel_mm", pixel_mm, 0.0, 100.0, lo_open=True)
    gamma = check_number("processing.gamma", proc.gamma, 0.1, 10.0)
    strength = check_number("processing.edge_strength", proc.edge_strength, 0.0, 20.0)
    radius_mm = check_number(
        "processing.edge_radius_mm", proc.edge_radius_mm, 0.0, 1e3, lo_open=True
    )
    dsa = bool(getattr(proc, "dsa", False))
    invert = bool(getattr(proc, "invert", False))

    t = _flat_field(raw, flat)
    if dsa:
        if dsa_mask_signal is None:
            raise ValueError("processing.dsa=True needs the mask frame: pass dsa_mask_signal")
        mask_raw = _check_image("dsa_mask_signal", dsa_mask_signal)
        _check_same_shape("dsa_mask_signal", mask_raw, "detected_signal", raw)
        p = _to_log(t, 1.0) - _to_log(_flat_field(mask_raw, flat), 1.0)
        mode = "dsa"
    elif proc.log:
        p = _to_log(t, 1.0, in_place=True)
        mode = "log"
    else:
        p = t
        mode = "linear"

    p = _unsharp(p, strength, radius_mm / px, m, in_place=True)  # p is this call's own array

    if dsa:
        level = 0.0
        if proc.auto_window:
            w, c = _auto_window(p, m, 1.0, 99.0)
            window = max(2.0 * max(abs(c - 0.5 * w), abs(c + 0.5 * w)), MIN_WINDOW)
        else:
            window = check_number("processing.window", proc.window, 0.0, math.inf, lo_open=True)
    elif proc.auto_window:
        window, level = _auto_window(p, m, 1.0, 99.0)
    else:
        window = check_number("processing.window", proc.window, 0.0, math.inf, lo_open=True)
        level = check_number("processing.level", proc.level, -math.inf, math.inf)

    # log / DSA images are attenuation (high = fewer X-rays): flip for the fluoro convention
    flip = (mode != "linear") != invert
    if gamma == 1.0 and not dsa:
        display = _window_to_uint8(p, window, level, flip)
    else:
        v = _window_level(p, window, level, gamma, flip)
        if dsa and m is not None:
            # outside the collimated field a subtraction of two near-empty frames is pure
            # noise: show the shutters black, as subtraction displays do
            v = v * m
        display = to_display_uint8(v)
    return ProcessedImage(
        processed=p,
        display=display,
        window=float(window),
        level=float(level),
        mode=mode,
    )


# --------------------------------------------------------------------------- temporal


def _check_weight(weight: Any) -> float:
    return check_number("weight", weight, 0.0, 0.999)


def recursive_filter(prev_filtered: Any, current: Any, weight: float) -> np.ndarray:
    """One step of the recursive (temporal low-pass) filter ``y_n = w y_{n-1} + (1-w) x_n``.

    For uncorrelated frame noise the output variance is ``(1-w)/(1+w)`` of the input variance
    (a first-order autoregressive filter), equivalent to averaging ``(1+w)/(1-w)`` frames; the
    price is lag: a moving object leaves a trail that fades as ``w**n`` after ``n`` frames.
    ``prev_filtered=None`` starts the recursion (returns ``current``).

    Parameters
    ----------
    prev_filtered : array_like or None
        Previous filtered frame, 2-D [signal units].
    current : array_like
        New frame, same shape [signal units].
    weight : float
        Weight of the previous frame, in [0, 0.999] [dimensionless].

    Returns
    -------
    numpy.ndarray
        Filtered frame, float32 [signal units].

    References
    ----------
    Bushberg JT et al. The Essential Physics of Medical Imaging, 3rd ed., 2012, ch. 9 (frame
    averaging / recursive filtering and lag).
    """
    w = _check_weight(weight)
    x = _check_image("current", current)
    if prev_filtered is None:
        return x.copy()
    y = _check_image("prev_filtered", prev_filtered)
    _check_same_shape("prev_filtered", y, "current", x)
    out = y * np.float32(w)
    out += x * np.float32(1.0 - w)
    return out


def _as_stack(frames: Any, name: str = "frames") -> np.ndarray:
    if isinstance(frames, np.ndarray):
        stack = frames
    else:
        frames = list(frames)
        if not frames:
            raise ValueError(f"{name} is empty; give at least one 2-D frame")
        stack = np.stack([np.asarray(f) for f in frames])
    if stack.ndim != 3 or stack.shape[0] == 0 or stack.shape[1] == 0 or stack.shape[2] == 0:
        raise ValueError(f"{name} must be a non-empty sequence of 2-D frames, got {stack.shape}")
    stack = stack.astype(np.float32, copy=False)
    if not np.isfinite(stack).all():
        raise ValueError(f"{name} has NaN/inf pixels; every pixel must be finite")
    return stack


def recursive_filter_sequence(frames: Sequence[Any] | np.ndarray, weight: float) -> np.ndarray:
    """Recursive filter applied along a run: returns every filtered frame (n, rows, cols).

    The first output frame is the first input frame; then ``y_n = w y_{n-1} + (1-w) x_n``.

    Parameters
    ----------
    frames : sequence of array_like or numpy.ndarray
        Frames in time order, each 2-D, or an (n, rows, cols) array [signal units].
    weight : float
        Weight of the previous frame, in [0, 0.999] [dimensionless].

    Returns
    -------
    numpy.ndarray
        Filtered frames, float32 (n, rows, cols) [signal units].

    References
    ----------
    Bushberg JT et al. The Essential Physics of Medical Imaging, 3rd ed., 2012, ch. 9.
    """
    w = np.float32(_check_weight(weight))
    x = _as_stack(frames)
    out = np.empty_like(x)
    out[0] = x[0]
    for i in range(1, x.shape[0]):  # loop over time (frames), not over energy or pixels
        np.multiply(out[i - 1], w, out=out[i])
        out[i] += x[i] * (np.float32(1.0) - w)
    return out


def recursive_variance_factor(weight: float) -> float:
    """Noise variance ratio of the recursive filter at steady state, ``(1-w)/(1+w)``.

    Parameters
    ----------
    weight : float
        Weight of the previous frame, in [0, 0.999] [dimensionless].

    Returns
    -------
    float
        Output / input variance for uncorrelated frame noise [dimensionless].

    References
    ----------
    Bushberg JT et al. The Essential Physics of Medical Imaging, 3rd ed., 2012, ch. 9; the
    ratio is the variance of a first-order autoregressive process, sum_k ((1-w) w^k)^2.
    """
    w = _check_weight(weight)
    return (1.0 - w) / (1.0 + w)


def effective_frames(weight: float) -> float:
    """Number of averaged frames with the same noise reduction, ``(1+w)/(1-w)``.

    Parameters
    ----------
    weight : float
        Weight of the previous frame, in [0, 0.999] [dimensionless].

    Returns
    -------
    float
        Equivalent frame-average count [frames].

    References
    ----------
    Bushberg JT et al. The Essential Physics of Medical Imaging, 3rd ed., 2012, ch. 9.
    """
    return 1.0 / recursive_variance_factor(weight)


def lag_fraction(weight: float, n_frames: int) -> float:
    """Fraction of a vanished object's contrast still shown ``n_frames`` later, ``w**n``.

    Parameters
    ----------
    weight : float
        Weight of the previous frame, in [0, 0.999] [dimensionless].
    n_frames : int
        Frames since the object left, >= 0 [frames].

    Returns
    -------
    float
        Residual (lag) fraction [dimensionless].

    References
    ----------
    Bushberg JT et al. The Essential Physics of Medical Imaging, 3rd ed., 2012, ch. 9 (lag
    of recursive filtering on moving objects).
    """
    w = _check_weight(weight)
    n = check_number("n_frames", n_frames, 0.0, math.inf)
    return w**n


def frame_average(frames: Sequence[Any] | np.ndarray, n: int) -> np.ndarray:
    """Mean of the last ``n`` frames (fewer if the run is shorter).

    Averaging n frames with uncorrelated noise divides the noise variance by n; moving objects
    blur over the n frame times.

    Parameters
    ----------
    frames : sequence of array_like or numpy.ndarray
        Frames in time order, each 2-D, or an (n, rows, cols) array [signal units].
    n : int
        Frames averaged, in [1, 1000] [frames].

    Returns
    -------
    numpy.ndarray
        Averaged frame, float32 [signal units].

    References
    ----------
    Bushberg JT et al. The Essential Physics of Medical Imaging, 3rd ed., 2012, ch. 9 (frame
    averaging).
    """
    k = check_number("n", n, 1.0, 1000.0)
    if k != int(k):
        raise ValueError(f"n={n!r} must be an integer in [1, 1000]")
    x = _as_stack(frames)
    return x[-int(k) :].mean(axis=0, dtype=np.float32)


def last_image_hold(frames: Sequence[Any] | np.ndarray) -> np.ndarray:
    """Last-image hold: the last frame of the run, kept on the monitor after beam-off.

    Parameters
    ----------
    frames : sequence of array_like or numpy.ndarray
        Frames in time order (raw, filtered or display) [any units].

    Returns
    -------
    numpy.ndarray
        Copy of the last frame, float32 [units of the frames].

    References
    ----------
    Bushberg JT et al. The Essential Physics of Medical Imaging, 3rd ed., 2012, ch. 9
    (last-image hold).
    """
    if isinstance(frames, np.ndarray):
        if frames.ndim == 2:
            raise ValueError("frames must be a sequence of 2-D frames, got one 2-D image")
        last = frames[-1] if frames.ndim == 3 and frames.shape[0] else None
    else:
        seq = list(frames)
        last = seq[-1] if seq else None
    if last is None:
        raise ValueError("frames is empty; give at least one 2-D frame")
    return _check_image("frames[-1]", last).copy()


def dsa_subtract(frame_log: Any, mask_log: Any) -> np.ndarray:
    """Digital subtraction of log images: ``frame_log - mask_log``.

    With both images attenuation line integrals (:func:`to_log`), anatomy common to both
    cancels and what remains is the iodine line integral, independent of the overlying
    anatomy (which a linear subtraction would not achieve). Zero means no change; display it
    centred at mid-grey (:func:`process` does: level 0, symmetric window).

    Parameters
    ----------
    frame_log : array_like
        Log (attenuation) image of the contrast frame, 2-D [dimensionless].
    mask_log : array_like
        Log image of the mask (pre-contrast) frame, same shape [dimensionless].

    Returns
    -------
    numpy.ndarray
        Subtracted line integral, float32, positive where attenuation was added [dimensionless].

    References
    ----------
    Bushberg JT et al. The Essential Physics of Medical Imaging, 3rd ed., 2012, ch. 9 (digital
    subtraction angiography).
    Kruger RA, Riederer SJ. Basic Concepts of Digital Subtraction Angiography. G.K. Hall, 1984.
    """
    f = _check_image("frame_log", frame_log)
    m = _check_image("mask_log", mask_log)
    _check_same_shape("mask_log", m, "frame_log", f)
    return f - m
