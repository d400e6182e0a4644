"""Image-quality metrics: contrast, SNR, CNR, SPR, figure of merit, NPS, MTF, DQE.

Definitions used throughout (Bushberg et al. 2012, ch. 4):

- subject contrast ``C = (B - S) / B`` of the mean signals in a signal and a background region
  of the *linear* detector image (positive when the object attenuates more than its
  surroundings, as bone, iodine and the needle do),
- ``SNR = mean / std`` in a uniform region,
- ``CNR = |S - B| / std_B``, the noise taken in the background region,
- figure of merit ``FOM = CNR**2 / dose``, independent of dose for a quantum-limited image,
- NPS by the IEC 62220-1-1 method (ROIs, FFT, ensemble average), radially averaged,
- presampled MTF by the slanted-edge method, DQE = S^2 MTF^2 / (q NPS).

Standard deviations measure noise only where the region is uniform; :func:`image_metrics`
therefore takes the noise from the difference between the noisy and the noise-free image, which
is uniform noise even where the anatomy is not.

References
----------
Bushberg JT, Seibert JA, Leidholdt EM, Boone JM. The Essential Physics of Medical Imaging, 3rd
ed. Lippincott Williams & Wilkins, 2012, ch. 4 (Image Quality).
IEC 62220-1-1:2015, Medical electrical equipment - Characteristics of digital X-ray imaging
devices - Part 1-1: Determination of the detective quantum efficiency.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from sim import memo

__all__ = [
    "cnr",
    "contrast",
    "dqe",
    "figure_of_merit",
    "image_metrics",
    "mtf_edge",
    "nps_2d",
    "nps_2d_map",
    "roi_stats",
    "snr",
    "spr",
]

# choice: default NPS region side [px]; IEC 62220-1-1 uses 256 x 256 ROIs overlapping by half,
# 128 keeps the estimate usable on the 512 px images of the simulator.
NPS_ROI_PX = 128
# choice: slanted-edge oversampling (bins per pixel), the usual factor 4 (ISO 12233, Samei 1998).
MTF_OVERSAMPLE = 4


# --------------------------------------------------------------------------- validation


def _finite_scalar(name: str, value: Any) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}={value!r} is not a number; it must be a finite real") from None
    if not math.isfinite(x):
        raise ValueError(f"{name}={value!r} is out of range (-inf, inf): must be finite")
    return x


def _image(name: str, img: Any) -> np.ndarray:
    a = np.asarray(img)
    if a.ndim != 2 or a.size == 0:
        raise ValueError(f"{name} must be a non-empty 2-D image, got shape {a.shape}")
    if not np.issubdtype(a.dtype, np.number) or np.iscomplexobj(a):
        raise ValueError(f"{name} must be a real numeric image, got dtype {a.dtype}")
    return a


def _mask(name: str, mask: Any, shape: tuple[int, ...]) -> np.ndarray:
    m = np.asarray(mask)
    if m.shape != shape:
        raise ValueError(f"{name} has shape {m.shape}, must match the image shape {shape}")
    if m.dtype != bool:
        if not np.issubdtype(m.dtype, np.number):
            raise ValueError(f"{name} must be a bool mask, got dtype {m.dtype}")
        m = m > 0.5
    return m


def _values(name: str, img: np.ndarray, mask: np.ndarray) -> np.ndarray:
    if img.flags.c_contiguous:  # a region's pixels by its flat indices, found once per mask
        v = img.reshape(-1).take(memo.per_array(mask, "flat", lambda: np.flatnonzero(mask)))
    else:
        v = img[mask]
    v = v.astype(np.float64, copy=False)
    if v.size and not np.isfinite(v).all():
        raise ValueError(f"{name} has NaN/inf pixels inside the region; they must be finite")
    return v


def _pixel(pixel_mm: Any) -> float:
    px = _finite_scalar("pixel_mm", pixel_mm)
    if not 0.0 < px <= 100.0:
        raise ValueError(f"pixel_mm={pixel_mm!r} is out of range (0, 100] mm")
    return px


# --------------------------------------------------------------------------- region metrics


def roi_stats(img: Any, mask: Any) -> tuple[float, float]:
    """Mean and standard deviation of the pixels in a region.

    The standard deviation is the sample one (``ddof=1``). An empty region gives
    ``(0.0, 0.0)``; a single pixel gives a standard deviation of 0.0.

    Parameters
    ----------
    img : array_like
        Image, 2-D [signal units].
    mask : array_like
        Region, bool (or weights, > 0.5 counts), same shape [dimensionless].

    Returns
    -------
    tuple of float
        ``(mean, std)`` [signal units].

    References
    ----------
    Bushberg JT et al. The Essential Physics of Medical Imaging, 3rd ed., 2012, ch. 4.
    """
    a = _image("img", img)
    v = _values("img", a, _mask("mask", mask, a.shape))
    return _stats(v)


def _stats(v: np.ndarray) -> tuple[float, float]:
    if v.size == 0:
        return 0.0, 0.0
    mean = float(v.mean())
    std = float(v.std(ddof=1)) if v.size > 1 else 0.0
    return mean, std


def contrast(signal_mean: float, background_mean: float) -> float:
    """Subject contrast ``(B - S) / B`` of mean linear detector signals.

    Positive when the signal region is darker on the linear image (transmits less) than the
    background; 0.0 when the background mean is 0 (undefined).

    Parameters
    ----------
    signal_mean : float
        Mean signal in the object region [signal units].
    background_mean : float
        Mean signal in the background region [signal units].

    Returns
    -------
    float
        Contrast [dimensionless].

    References
    ----------
    Bushberg JT et al. The Essential Physics of Medical Imaging, 3rd ed., 2012, ch. 4
    (subject contrast).
    """
    s = _finite_scalar("signal_mean", signal_mean)
    b = _finite_scalar("background_mean", background_mean)
    return 0.0 if b == 0.0 else (b - s) / b


def snr(img: Any, mask: Any) -> float:
    """Pixel signal-to-noise ratio ``mean / std`` in a uniform region.

    The std measures noise only if the region is uniform (no anatomy or gradient in it). 0.0
    when the region is empty or its std is 0 (undefined).

    Parameters
    ----------
    img : array_like
        Image, 2-D [signal units].
    mask : array_like
        Uniform region, bool, same shape [dimensionless].

    Returns
    -------
    float
        SNR [dimensionless].

    References
    ----------
    Bushberg JT et al. The Essential Physics of Medical Imaging, 3rd ed., 2012, ch. 4 (for
    Poisson quanta SNR = sqrt(N)).
    """
    mean, std = roi_stats(img, mask)
    return 0.0 if std == 0.0 else mean / std


def cnr(img: Any, sig_mask: Any, bkg_mask: Any) -> float:
    """Contrast-to-noise ratio ``|mean_S - mean_B| / std_B``.

    The noise is the std of the background region, which must be uniform for the std to be
    noise only. 0.0 when a region is empty or the background std is 0 (undefined).

    Parameters
    ----------
    img : array_like
        Image, 2-D [signal units].
    sig_mask, bkg_mask : array_like
        Signal and (uniform) background regions, bool, same shape [dimensionless].

    Returns
    -------
    float
        CNR [dimensionless].

    References
    ----------
    Bushberg JT et al. The Essential Physics of Medical Imaging, 3rd ed., 2012, ch. 4.
    """
    a = _image("img", img)
    vs = _values("img", a, _mask("sig_mask", sig_mask, a.shape))
    vb = _values("img", a, _mask("bkg_mask", bkg_mask, a.shape))
    if vs.size == 0 or vb.size == 0:
        return 0.0
    mb, sb = _stats(vb)
    return 0.0 if sb == 0.0 else abs(float(vs.mean()) - mb) / sb


def figure_of_merit(cnr: float, dose: float) -> float:
    """Dose-efficiency figure of merit ``CNR**2 / dose``.

    For a quantum-limited image CNR^2 grows in proportion to dose, so the ratio compares
    techniques (kV, filtration, grid) independently of the dose level.

    Parameters
    ----------
    cnr : float
        Contrast-to-noise ratio, >= 0, or NaN when undefined [dimensionless].
    dose : float
        Dose measure (e.g. air kerma or skin dose), > 0 [any dose unit].

    Returns
    -------
    float
        FOM [1 / dose unit]; NaN when the CNR is NaN (a region outside the beam).

    References
    ----------
    Williams MB, Raghunathan P, More MJ et al. Optimization of exposure parameters in full
    field digital mammography. Med. Phys. 35(6):2414-2423, 2008 (FOM = SDNR^2 / dose).
    """
    d = _finite_scalar("dose", dose)
    if isinstance(cnr, (float, np.floating)) and math.isnan(cnr):
        return math.nan
    c = _finite_scalar("cnr", cnr)
    if c < 0.0:
        raise ValueError(f"cnr={cnr!r} is out of range [0, inf)")
    if d <= 0.0:
        raise ValueError(f"dose={dose!r} is out of range (0, inf)")
    return c * c / d


def spr(scatter: Any, primary: Any, mask: Any = None) -> float:
    """Scatter-to-primary ratio, ``mean(scatter) / mean(primary)`` over a region.

    0.0 when the region is empty or the primary mean is 0 (undefined).

    Parameters
    ----------
    scatter, primary : array_like
        Scatter and primary signal images (same weighting), 2-D [signal units].
    mask : array_like, optional
        Region, bool, same shape; default the whole image [dimensionless].

    Returns
    -------
    float
        SPR [dimensionless].

    References
    ----------
    Bushberg JT et al. The Essential Physics of Medical Imaging, 3rd ed., 2012, ch. 4 and 7
    (scatter, contrast reduction by 1/(1+SPR)).
    """
    s = _image("scatter", scatter)
    p = _image("primary", primary)
    if s.shape != p.shape:
        raise ValueError(f"scatter has shape {s.shape}, must match primary shape {p.shape}")
    m = np.ones(s.shape, dtype=bool) if mask is None else _mask("mask", mask, s.shape)
    vs, vp = _values("scatter", s, m), _values("primary", p, m)
    if vp.size == 0:
        return 0.0
    mp = float(vp.mean())
    return 0.0 if mp == 0.0 else float(vs.mean()) / mp


def image_metrics(detected: Any, expected: Any, rois: Mapping[str, Any]) -> dict[str, float]:
    """Contrast, SNR and CNR of a simulated image from its signal and background regions.

    Contrast comes from the noise-free ``expected`` image (subject contrast, no noise bias);
    noise is the std, in the background region, of ``detected - expected`` (pure noise, even
    where the background is not uniform). ``detected`` and ``expected`` must be in the same
    units (the linear detector signal). The regions should hold only pixels the beam reaches
    (``sim.chain.exposed_rois``): a region outside the beam measures nothing. Keys:

    - ``signal_mean``, ``background_mean``: expected means [signal units],
    - ``noise_std``: background noise std [signal units],
    - ``contrast``: ``(B - S) / B``,
    - ``snr``: ``B / noise_std``,
    - ``cnr``: ``|S - B| / noise_std``,
    - ``signal_px``, ``background_px``: pixels in each region [-].

    A value that a missing or empty region (or a zero background or noise) leaves undefined
    is NaN, never a stand-in 0.0: ``signal_px`` and ``background_px`` say which region is
    missing.

    Parameters
    ----------
    detected : array_like
        Noisy detected image, 2-D [signal units].
    expected : array_like
        Noise-free expected image, same shape [signal units].
    rois : mapping of str to array_like
        Region masks, bool, same shape; uses ``"signal"`` and ``"background"``.

    Returns
    -------
    dict of str to float
        The metrics above.

    References
    ----------
    Bushberg JT et al. The Essential Physics of Medical Imaging, 3rd ed., 2012, ch. 4.
    """
    d = _image("detected", detected)
    e = _image("expected", expected)
    if d.shape != e.shape:
        raise ValueError(f"detected has shape {d.shape}, must match expected shape {e.shape}")
    nan = math.nan
    out: dict[str, float] = dict.fromkeys(
        ("signal_mean", "background_mean", "noise_std", "contrast", "snr", "cnr"), nan
    )
    vb = vs = np.empty(0)
    if rois.get("background") is not None:
        mb = _mask("rois['background']", rois["background"], d.shape)
        vb = _values("expected", e, mb)
        if vb.size:
            out["background_mean"] = float(vb.mean())
            out["noise_std"] = _stats(_values("detected", d, mb) - vb)[1]
    if rois.get("signal") is not None:
        vs = _values("expected", e, _mask("rois['signal']", rois["signal"], d.shape))
        if vs.size:
            out["signal_mean"] = float(vs.mean())
    s, b, n = out["signal_mean"], out["background_mean"], out["noise_std"]
    if b != 0.0:  # NaN when the region is missing: the ratios below stay NaN
        out["contrast"] = (b - s) / b
    if n > 0.0:
        out["snr"] = b / n
        out["cnr"] = abs(s - b) / n
    out = {k: (v if math.isfinite(v) else nan) for k, v in out.items()}
    out["signal_px"] = int(vs.size)
    out["background_px"] = int(vb.size)
    return out


# --------------------------------------------------------------------------- NPS


def _stack(images: Any) -> np.ndarray:
    if isinstance(images, np.ndarray):
        st = images[None] if images.ndim == 2 else images
    else:
        seq = list(images) if isinstance(images, Sequence) else [images]
        if not seq:
            raise ValueError("images is empty; give a 2-D image or a sequence of them")
        st = np.stack([np.asarray(i) for i in seq])
    if st.ndim != 3 or min(st.shape) == 0:
        raise ValueError(f"images must be a 2-D image or a stack of them, got shape {st.shape}")
    st = st.astype(np.float64, copy=False)
    if not np.isfinite(st).all():
        raise ValueError("images has NaN/inf pixels; every pixel must be finite")
    return st


def _rois(st: np.ndarray, n: int) -> np.ndarray:
    step = max(1, n // 2)  # half-overlapping ROIs (IEC 62220-1-1)
    win = np.lib.stride_tricks.sliding_window_view(st, (n, n), axis=(1, 2))
    return win[:, ::step, ::step].reshape(-1, n, n)


def nps_2d_map(
    images: Any, pixel_mm: float, roi_px: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two-dimensional noise power spectrum, IEC 62220-1-1 style.

    Square ROIs of ``roi_px`` overlapping by half are cut from each flat image, their own mean
    subtracted, Fourier transformed, and ``|FFT|^2 dx dy / (N_x N_y)`` averaged over all ROIs.
    By Parseval, ``sum(nps) du dv`` equals the pixel variance.

    Parameters
    ----------
    images : array_like or sequence of array_like
        One flat (uniformly exposed) image or several, 2-D each [signal units].
    pixel_mm : float
        Pixel pitch, in (0, 100] [mm].
    roi_px : int, optional
        ROI side, >= 8 and at most the image side; default 128 or the image side [px].

    Returns
    -------
    fx, fy : numpy.ndarray
        Spatial frequencies along columns and rows, zero-centred [1/mm].
    nps : numpy.ndarray
        NPS, zero frequency at the centre [signal units^2 mm^2].

    References
    ----------
    IEC 62220-1-1:2015, sect. 5.3 (noise power spectrum).
    Dobbins JT III. Image quality metrics for digital systems. In: Beutel J, Kundel HL,
    Van Metter RL (eds), Handbook of Medical Imaging, Vol. 1, SPIE Press, 2000, ch. 3.
    """
    px = _pixel(pixel_mm)
    st = _stack(images)
    side = min(st.shape[1:])
    n = min(NPS_ROI_PX, side) if roi_px is None else roi_px
    if not isinstance(n, (int, np.integer)) or not 8 <= n <= side:
        raise ValueError(f"roi_px={roi_px!r} is out of range [8, {side}] px (image side)")
    rois = _rois(st, int(n))
    rois = rois - rois.mean(axis=(1, 2), keepdims=True)
    power = np.abs(np.fft.fft2(rois)) ** 2
    nps = power.mean(axis=0) * (px * px) / (n * n)
    f = np.fft.fftshift(np.fft.fftfreq(n, d=px))
    return f, f.copy(), np.fft.fftshift(nps)


def nps_2d(
    images: Any, pixel_mm: float, roi_px: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Radially averaged noise power spectrum of flat images.

    The 2-D NPS of :func:`nps_2d_map` averaged over rings of width ``1/(N dx)`` around zero
    frequency, from the first ring to the Nyquist frequency (the zero-frequency sample, 0 after
    mean subtraction, is left out). For white noise of variance s^2 it is flat at
    ``s^2 dx^2``.

    Parameters
    ----------
    images : array_like or sequence of array_like
        One flat image or several, 2-D each [signal units].
    pixel_mm : float
        Pixel pitch, in (0, 100] [mm].
    roi_px : int, optional
        ROI side, >= 8 and at most the image side; default 128 or the image side [px].

    Returns
    -------
    f : numpy.ndarray
        Radial spatial frequency, ``k / (N dx)`` for k = 1 .. N/2 [1/mm].
    nps : numpy.ndarray
        NPS at ``f`` [signal units^2 mm^2].

    References
    ----------
    IEC 62220-1-1:2015, sect. 5.3. Dobbins JT III, Handbook of Medical Imaging Vol. 1, SPIE
    2000, ch. 3 (radial averaging).
    """
    fx, fy, nps = nps_2d_map(images, pixel_mm, roi_px)
    n = fx.size
    df = 1.0 / (n * _pixel(pixel_mm))
    fr = np.hypot(fx[None, :], fy[:, None])
    ring = np.rint(fr / df).astype(np.int64).ravel()
    k_max = n // 2
    keep = (ring >= 1) & (ring <= k_max)
    sums = np.bincount(ring[keep], weights=nps.ravel()[keep], minlength=k_max + 1)
    counts = np.bincount(ring[keep], minlength=k_max + 1)
    k = np.arange(1, k_max + 1)
    return k * df, sums[1:] / np.maximum(counts[1:], 1)


# --------------------------------------------------------------------------- MTF, DQE


def mtf_edge(
    img: Any, pixel_mm: float, oversample: int = MTF_OVERSAMPLE
) -> tuple[np.ndarray, np.ndarray]:
    """Presampled MTF from a slightly slanted straight edge (slanted-edge method).

    The edge angle is fitted from the centroid of the derivative of every row (or column, if
    the edge is closer to horizontal); pixels are binned by their distance to the edge at
    ``1/oversample`` pixel into an oversampled edge-spread function, differentiated (central
    difference), Hann-windowed and Fourier transformed; the result is normalized at zero
    frequency and divided by the transfer functions of the binning and the finite difference.
    Use a noise-free or well-exposed edge image tilted by 2-10 degrees.

    Parameters
    ----------
    img : array_like
        Edge image, 2-D [signal units].
    pixel_mm : float
        Pixel pitch, in (0, 100] [mm].
    oversample : int
        Bins per pixel, in [1, 16] [dimensionless].

    Returns
    -------
    f : numpy.ndarray
        Spatial frequency from 0 to ``1 / pixel_mm`` (twice the Nyquist frequency) [1/mm].
    mtf : numpy.ndarray
        Presampled MTF at ``f``, 1 at f = 0 [dimensionless].

    References
    ----------
    Samei E, Flynn MJ, Reimann DA. A method for measuring the presampled MTF of digital
    radiographic systems using an edge test device. Med. Phys. 25(1):102-113, 1998.
    Buhr E, Guenther-Kohfahl S, Neitzel U. Accuracy of a simple method for deriving the
    presampled modulation transfer function of a digital radiographic system from an edge
    image. Med. Phys. 30(9):2323-2331, 2003.
    IEC 62220-1-1:2015, sect. 5.2 (MTF, edge method).
    """
    a = _image("img", img).astype(np.float64)
    if not np.isfinite(a).all():
        raise ValueError("img has NaN/inf pixels; every pixel must be finite")
    if min(a.shape) < 16:
        raise ValueError(f"img has shape {a.shape}: mtf_edge needs at least 16 x 16 pixels")
    px = _pixel(pixel_mm)
    if not isinstance(oversample, (int, np.integer)) or not 1 <= oversample <= 16:
        raise ValueError(f"oversample={oversample!r} is out of range [1, 16] (integer)")
    gx = np.abs(np.diff(a, axis=1)).sum()
    gy = np.abs(np.diff(a, axis=0)).sum()
    if gy > gx:  # edge closer to horizontal: work on the transpose (edge across columns)
        a = a.T
    if np.ptp(a) == 0.0:
        raise ValueError("img is uniform: no edge to measure")
    rows, cols = a.shape
    d = np.diff(a, axis=1)
    w = np.abs(d)
    x_mid = np.arange(cols - 1) + 0.5
    wsum = w.sum(axis=1)
    ok = wsum > 0.0
    if ok.sum() < 2:
        raise ValueError("img has no usable edge (fewer than 2 rows cross it)")
    centroid = (w * x_mid).sum(axis=1)[ok] / wsum[ok]
    y = np.arange(rows)[ok]
    slope, intercept = np.polyfit(y, centroid, 1)
    cos_t = 1.0 / math.sqrt(1.0 + slope * slope)
    yy, xx = np.mgrid[0:rows, 0:cols]
    dist = (xx - (slope * yy + intercept)) * cos_t  # signed distance to the edge [px]
    if np.mean(a[dist > 0]) < np.mean(a[dist < 0]):  # make the ESF rise
        a = -a
    bin_px = 1.0 / oversample
    idx = np.floor(dist / bin_px).astype(np.int64).ravel()
    idx -= idx.min()
    counts = np.bincount(idx)
    sums = np.bincount(idx, weights=a.ravel())
    filled = counts > 0
    centres = np.arange(counts.size)
    esf = np.interp(centres, centres[filled], sums[filled] / counts[filled])
    lsf = np.gradient(esf)
    peak = int(np.argmax(np.abs(lsf)))
    half = max(peak, lsf.size - 1 - peak)
    pos = np.arange(lsf.size) - peak
    window = 0.5 * (1.0 + np.cos(np.pi * pos / (half + 1)))  # Hann, centred on the peak
    spec = np.abs(np.fft.rfft(lsf * window))
    if spec[0] == 0.0:
        raise ValueError("img has no usable edge (zero line-spread integral)")
    bin_mm = bin_px * px
    f = np.fft.rfftfreq(lsf.size, d=bin_mm)
    mtf = spec / spec[0]
    # divide out the bin average (box of one bin) and the central difference (Buhr et al.)
    correction = np.sinc(f * bin_mm) * np.sinc(2.0 * f * bin_mm)
    keep = f <= 1.0 / px
    return f[keep], mtf[keep] / correction[keep]


def dqe(mtf: Any, nps: Any, mean_signal: float, fluence_per_mm2: float) -> np.ndarray:
    """Detective quantum efficiency ``DQE(f) = S^2 MTF(f)^2 / (q NPS(f))``.

    For a linear detector of mean signal ``S`` exposed to ``q`` quanta per mm^2; ``mtf`` and
    ``nps`` must be sampled at the same frequencies. An ideal photon counter gives 1.

    Parameters
    ----------
    mtf : array_like
        Presampled MTF [dimensionless].
    nps : array_like
        NPS at the same frequencies, > 0 [signal units^2 mm^2].
    mean_signal : float
        Mean (linearized) signal of the flat image, > 0 [signal units].
    fluence_per_mm2 : float
        Incident photon fluence, > 0 [1/mm^2].

    Returns
    -------
    numpy.ndarray
        DQE at the given frequencies [dimensionless].

    References
    ----------
    IEC 62220-1-1:2015, sect. 5.4 (DQE(u) = G^2 MTF^2(u) W_in / W_out(u)).
    Cunningham IA. Applied linear-systems theory. In: Handbook of Medical Imaging, Vol. 1, SPIE
    Press, 2000, ch. 2.
    """
    m = np.asarray(mtf, dtype=np.float64)
    w = np.asarray(nps, dtype=np.float64)
    if m.shape != w.shape:
        raise ValueError(f"mtf has shape {m.shape}, must match nps shape {w.shape}")
    if not (np.isfinite(m).all() and np.isfinite(w).all()) or (w <= 0.0).any():
        raise ValueError("nps must be finite and > 0 everywhere, mtf finite")
    s = _finite_scalar("mean_signal", mean_signal)
    q = _finite_scalar("fluence_per_mm2", fluence_per_mm2)
    if s <= 0.0:
        raise ValueError(f"mean_signal={mean_signal!r} is out of range (0, inf)")
    if q <= 0.0:
        raise ValueError(f"fluence_per_mm2={fluence_per_mm2!r} is out of range (0, inf)")
    return s * s * m * m / (q * w)
