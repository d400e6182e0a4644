"""Detection of frames: signal and quantum noise, blur, additive noise, lag.

:func:`detect` takes the maps that ``projection.integrate`` gives with the receptor's weights
(per mm^2 per frame) and a :class:`~sim.receptor.kinds.Receptor`: mean absorbed energy per
simulated pixel ``M1 * A``; Gaussian quantum noise of variance ``M2 * A / I_opt`` (compound
Poisson: the real number of absorbed quanta and their deposited-energy spread, times the
optical Swank factor of CsI), through the receptor's distortion, blur and output effects
(:meth:`~sim.receptor.kinds.Receptor.pipeline`); additive noise per native pixel (a simulated
pixel covering ``n`` native pixels carries ``n * sigma^2``). :func:`noise_model` and
:func:`draw_signal` draw many frames of one scene; :func:`apply_lag` adds first-frame lag.
Sources: the package docstring (:mod:`sim.receptor`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from sim.receptor.absorption import OPTICAL_SWANK, frozen
from sim.receptor.blur import aperture_extra_mm, blur
from sim.receptor.kinds import Receptor, as_receptor, centre
from sim.receptor.noise import standard_normal_f32
from sim.validate import check_number


@dataclass(frozen=True, eq=False)
class Detected:
    """One detected frame.

    Attributes
    ----------
    signal : numpy.ndarray
        Detected image with noise, float32 [keV absorbed per simulated pixel].
    expected : numpy.ndarray
        Noise-free mean image, same processing (blur, glare, distortion) [keV per pixel].
    gain_e_per_keV : float
        Flat-panel electrons per keV absorbed; 0 for the image intensifier [e-/keV].
    dqe0 : float
        DQE(0) at the dose of the central region of this frame [-].
    swank : float
        x-ray x optical Swank factor of the central region [-].
    qde : float
        Spectrum-averaged quantum detection efficiency of the central region [-].
    mtf_f_cyc_per_mm : numpy.ndarray
        Frequencies of the presampled-MTF samples, 0 .. native Nyquist [1/mm].
    mtf : numpy.ndarray
        Presampled MTF at those frequencies [-].
    pixel_mm : float
        Simulated pixel at the receptor [mm].
    native_pixel_mm : float
        Native (binned) detector pixel; camera pixel at the input for the II [mm].
    additive_sigma_keV : float
        Additive (electronic or camera) noise per native pixel [keV].
    kind : str
        The receptor's kind, ``flat_panel`` or ``image_intensifier``.
    """

    signal: np.ndarray
    expected: np.ndarray
    gain_e_per_keV: float
    dqe0: float
    swank: float
    qde: float
    mtf_f_cyc_per_mm: np.ndarray
    mtf: np.ndarray
    pixel_mm: float
    native_pixel_mm: float
    additive_sigma_keV: float
    kind: str


_IMAGE_MAPS = ("abs_energy_keV", "abs_energy2_keV2")
"""Maps used as images: the absorbed energy (signal) and its second moment (noise)."""
_REGION_MAPS = ("quanta", "abs_quanta")
"""Maps used only as their means over the central region (DQE(0) at the dose there)."""
_REQUIRED_MAPS = (*_REGION_MAPS, *_IMAGE_MAPS)


def _check_maps(maps: Any) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """The image maps, checked, and the central-region mean of every map.

    A mapping with a ``region_mean(key, region)`` method (:class:`sim.chain.ScaledMaps`)
    gives the means of the region-only maps without making them in full; one whose
    ``finite_nonnegative`` is true is not scanned for NaN or negative pixels.
    """
    if not isinstance(maps, Mapping):
        raise ValueError(f"maps must be a dict of images, got {type(maps).__name__}")
    missing = [k for k in _REQUIRED_MAPS if k not in maps]
    if missing:
        raise ValueError(f"maps lacks {missing}: expected the keys of receptor_weights()")
    images, shape = {}, None
    scanned = not getattr(maps, "finite_nonnegative", False)
    for k in _IMAGE_MAPS:
        a = _checked_map(k, maps[k], shape)
        shape = a.shape
        if not scanned:  # maps that vouch for themselves (sim.chain.ScaledMaps)
            images[k] = a
            continue
        lo, hi = (float(a.min()), float(a.max())) if a.size else (0.0, 0.0)
        if not (np.isfinite(lo) and np.isfinite(hi)) or lo < -1e-6 * max(hi, 0.0):
            raise ValueError(f"maps[{k!r}] must be finite and >= 0 (per mm^2 per frame)")
        images[k] = np.maximum(a, 0.0) if lo < 0.0 else a  # round-off below 0 clipped
    c = centre(shape)
    means = {k: float(np.mean(a[c])) for k, a in images.items()}
    region_mean = getattr(maps, "region_mean", None)
    for k in _REGION_MAPS:
        v = region_mean(k, c) if region_mean else float(np.mean(_checked_map(k, maps[k], shape)[c]))
        if not (math.isfinite(v) and v >= 0.0):
            raise ValueError(f"maps[{k!r}] must be finite and >= 0 (per mm^2 per frame)")
        means[k] = v
    return images, means


def _checked_map(key: str, value: Any, shape: tuple[int, int] | None) -> np.ndarray:
    a = np.asarray(value, dtype=np.float32)
    if a.ndim != 2:
        raise ValueError(f"maps[{key!r}] must be 2-D, got shape {a.shape}")
    if shape is not None and a.shape != shape:
        raise ValueError(f"maps[{key!r}] has shape {a.shape}, expected {shape}")
    return a


def _pixel_mm_of(grid: Any, shape: tuple[int, int]) -> float:
    px = getattr(grid, "pixel_mm", grid)
    px = check_number("grid.pixel_mm", px, 1e-4, 100.0, "mm")
    n = getattr(grid, "n_px", None)
    if n is not None and int(n) != shape[-1]:
        raise ValueError(f"grid.n_px={n} does not match the maps' shape {shape}")
    return px


def _noise_source(receptor: Any, rng: Any) -> tuple[bool, Any]:
    """Whether to draw noise, and from which generator.

    A ``sim.Params`` says it itself (``run.noise``, and ``run.seed`` when ``rng`` is None); for a
    :class:`Receptor` noise is drawn when a generator is given.
    """
    run = getattr(receptor, "run", None)
    if run is not None:
        noise = bool(getattr(run, "noise", True))
        if noise and rng is None:
            rng = np.random.default_rng(int(getattr(run, "seed", 0)))
    else:
        noise = rng is not None
    if noise and not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    return noise, rng


def _figures(rx: Receptor, means: dict[str, float]) -> dict:
    """DQE(0) and its factors at the dose of the central region of the maps."""
    return rx.dqe_from_moments(
        means["quanta"], means["abs_quanta"], means["abs_energy_keV"], means["abs_energy2_keV2"]
    )


def _mtf_samples(rx: Receptor) -> tuple[np.ndarray, np.ndarray]:
    nyq = 0.5 / rx.native_pixel_mm
    f = np.linspace(0.0, nyq, 65)
    return frozen(f), frozen(rx.mtf(f))


def _detected(
    rx: Receptor,
    signal: np.ndarray,
    expected: np.ndarray,
    figs: dict,
    pixel_mm: float,
) -> Detected:
    f, mt = _mtf_samples(rx)
    return Detected(
        signal=signal,
        expected=expected,
        gain_e_per_keV=rx.electrons_per_keV,
        dqe0=float(figs["dqe0"]),
        swank=float(figs["swank"]),
        qde=float(figs["qde"]),
        mtf_f_cyc_per_mm=f,
        mtf=mt,
        pixel_mm=pixel_mm,
        native_pixel_mm=rx.native_pixel_mm,
        additive_sigma_keV=rx.additive_sigma_keV,
        kind=rx.kind,
    )


def detect(
    maps: dict[str, Any], receptor: Any, grid: Any, rng: Any = None, expected: Any = None
) -> Detected:
    """Detect one frame: absorbed energy, quantum noise, blur, additive noise.

    Parameters
    ----------
    maps : dict of str to ndarray
        Outputs of ``projection.integrate`` with the receptor's weights (primary + scatter
        after the grid), per mm^2 per frame: ``quanta``, ``abs_quanta``, ``abs_energy_keV``,
        ``abs_energy2_keV2`` (others ignored) [1/mm^2, keV/mm^2, keV^2/mm^2].
    receptor : Receptor or sim.Params
        The receptor. With a :class:`Receptor`, noise is drawn when ``rng`` is given; with a
        ``sim.Params``, when ``run.noise`` is on (from ``run.seed`` if ``rng`` is None).
    grid : geometry.DetectorGrid or float
        Simulated image grid (``pixel_mm`` at the receptor) or the pixel size itself [mm].
    rng : numpy.random.Generator, optional
        Source of all noise.
    expected : array_like, optional
        The noise-free image of ``maps`` if already known (:func:`expected_signal`)
        [keV per simulated pixel].

    Returns
    -------
    Detected
        ``signal`` and ``expected`` in keV absorbed per simulated pixel, float32, plus
        gain, DQE(0), Swank factor, QDE and MTF samples.

    References
    ----------
    Swank (1973); Cunningham (2000) cascaded linear systems; Zhao et al. (2004); Siewerdsen &
    Jaffray (1999); Seibert et al. (1985); Boone et al. (1991) — see the package docstring.
    """
    rx = as_receptor(receptor)
    m, means = _check_maps(maps)
    shape = m["abs_energy_keV"].shape
    pixel_mm = _pixel_mm_of(grid, shape)
    area = pixel_mm**2
    noise, rng = _noise_source(receptor, rng)

    m2 = m["abs_energy2_keV2"] * np.float32(area) if noise else None
    if expected is None:
        mean = m["abs_energy_keV"] * np.float32(area)
        signal, expected, w = rx.pipeline(mean, m2, pixel_mm, rng)
    else:
        signal = rx.noise_only(expected, m2, pixel_mm, rng)
        w = aperture_extra_mm(rx.native_pixel_mm, pixel_mm)
    native = rx.native_pixel_mm

    sigma = rx.additive_sigma_keV
    if noise and sigma > 0.0:
        n_native = area / native**2
        e_noise = standard_normal_f32(rng, shape)
        e_noise *= np.float32(sigma * math.sqrt(n_native))
        if w > 0.0:
            e_noise = blur(e_noise[None], pixel_mm, 0.0, 0.0, w)[0]
        signal += e_noise  # a fresh array of this call

    return _detected(
        rx,
        np.ascontiguousarray(signal, dtype=np.float32),
        np.ascontiguousarray(expected, dtype=np.float32),
        _figures(rx, means),
        pixel_mm,
    )


# --------------------------------------------------------------------------------------------
# many frames of one scene (fluoroscopy runs)
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class NoiseModel:
    """The frame-invariant part of :func:`detect`, to draw many noisy frames of one scene.

    Everything the receptor does is linear in the quantum noise (blur; for the image
    intensifier the pincushion remap acts before the noise, ``(1 - glare)`` and vignetting
    after it, glare on the noise-free image only), so a frame is
    ``expected + gain * blur(quantum_sd * N1) + blur_w(additive_sd * N2)`` with ``N1``, ``N2``
    unit normal fields: the same model as :func:`detect`, with the maps, the noise-free image
    and the noise amplitudes prepared once.

    Attributes
    ----------
    detected : Detected
        Noise-free detection (``signal`` is ``expected``) with its figures (DQE(0), MTF, ...).
    quantum_sd : numpy.ndarray or None
        Standard deviation of the quantum noise per simulated pixel before the receptor blur,
        ``sqrt(M2 A / I_opt)`` (after the pincushion remap for the II); None without noise
        [keV].
    noise_gain : numpy.ndarray or None
        Factor on the blurred noise (image intensifier: ``(1 - ii_glare) * vignetting``);
        None for 1 (flat panel) [-].
    additive_sd : float
        Additive (electronic or camera) noise per simulated pixel, before the aperture blur;
        0 without noise [keV].
    blur_mm : tuple of float
        ``(pixel_mm, phosphor range, optics Gaussian sigma, extra aperture)`` of the blur [mm].
    """

    detected: Detected
    quantum_sd: np.ndarray | None
    noise_gain: np.ndarray | None
    additive_sd: float
    blur_mm: tuple[float, float, float, float]

    @property
    def expected(self) -> np.ndarray:
        """Noise-free detected image, float32 [keV absorbed per simulated pixel]."""
        return self.detected.expected


def noise_model(
    maps: dict[str, Any],
    receptor: Any,
    grid: Any,
    expected: Any = None,
    *,
    noise: bool | None = None,
) -> NoiseModel:
    """Prepare :func:`draw_signal` for one scene (see :class:`NoiseModel`).

    Parameters
    ----------
    maps : dict of str to ndarray
        As for :func:`detect` [1/mm^2, keV/mm^2, keV^2/mm^2].
    receptor : Receptor or sim.Params
        The receptor.
    grid : geometry.DetectorGrid or float
        Simulated image grid or its pixel size [mm].
    expected : array_like, optional
        The noise-free detector image of ``maps`` if already known
        (:func:`expected_signal`) [keV per simulated pixel].
    noise : bool, optional
        Whether frames carry noise; default ``run.noise`` of a ``sim.Params``, else True.

    Returns
    -------
    NoiseModel
        Noise-free image, noise amplitudes and figures.

    References
    ----------
    As :func:`detect` (Swank 1973; Cunningham 2000; Siewerdsen & Jaffray 1999).
    """
    rx = as_receptor(receptor)
    m, means = _check_maps(maps)
    shape = m["abs_energy_keV"].shape
    pixel_mm = _pixel_mm_of(grid, shape)
    area = pixel_mm**2
    if noise is None:
        noise = bool(getattr(getattr(receptor, "run", None), "noise", True))
    if expected is None:
        _, expected, _ = rx.pipeline(m["abs_energy_keV"] * np.float32(area), None, pixel_mm, None)
    expected = np.ascontiguousarray(expected, dtype=np.float32)
    if expected.shape != shape:
        raise ValueError(f"expected has shape {expected.shape}, the maps {shape}")
    native = rx.native_pixel_mm
    w = aperture_extra_mm(native, pixel_mm)
    a = rx.phosphor_range_mm
    sigma_mm, gain, sd, add_sd = 0.0, None, None, 0.0
    if noise:
        m2 = m["abs_energy2_keV2"] * np.float32(area / OPTICAL_SWANK)
        m2 = np.asarray(rx.distort_variance(m2), dtype=np.float32)
        sigma_mm = rx.optics_sigma_mm
        gain = rx.noise_gain(shape, pixel_mm)
        sd = np.sqrt(m2, out=m2)  # m2 is this function's own array
        add_sd = rx.additive_sigma_keV * math.sqrt(area / native**2)
    det = _detected(rx, expected, expected, _figures(rx, means), pixel_mm)
    return NoiseModel(det, sd, gain, float(add_sd), (pixel_mm, a, sigma_mm, w))


def draw_signal(model: NoiseModel, rng: Any) -> np.ndarray:
    """One noisy detected frame of a prepared scene (:func:`noise_model`).

    Parameters
    ----------
    model : NoiseModel
        The scene.
    rng : numpy.random.Generator
        Source of the noise (two normal fields: quantum, then additive).

    Returns
    -------
    numpy.ndarray
        Detected signal, float32 [keV absorbed per simulated pixel].

    References
    ----------
    As :func:`detect`; normal deviates by :func:`standard_normal_f32`.
    """
    e = model.detected.expected
    if model.quantum_sd is None:
        return e.copy()
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    px, a, s, w = model.blur_mm
    noise = standard_normal_f32(rng, e.shape)
    noise *= model.quantum_sd
    noise = blur(noise[None], px, a, s, w)[0]
    if model.noise_gain is not None:
        noise *= model.noise_gain
    noise += e
    if model.additive_sd > 0.0:
        extra = standard_normal_f32(rng, e.shape)
        extra *= np.float32(model.additive_sd)
        if w > 0.0:
            extra = blur(extra[None], px, 0.0, 0.0, w)[0]
        noise += extra
    return noise


def expected_signal(maps: dict[str, Any], receptor: Any, grid: Any) -> np.ndarray:
    """Noise-free detector image of ``maps`` (blur, and II glare, distortion, vignetting).

    Parameters
    ----------
    maps : dict of str to ndarray
        As for :func:`detect` (only ``abs_energy_keV`` is used) [keV/mm^2].
    receptor : Receptor or sim.Params
        The receptor.
    grid : geometry.DetectorGrid or float
        Simulated image grid or its pixel size [mm].

    Returns
    -------
    numpy.ndarray
        float32 [keV absorbed per simulated pixel].

    References
    ----------
    As :func:`detect`.
    """
    rx = as_receptor(receptor)
    if not isinstance(maps, Mapping) or "abs_energy_keV" not in maps:
        raise ValueError("maps must be a dict with an 'abs_energy_keV' image")
    e = np.asarray(maps["abs_energy_keV"], dtype=np.float32)
    vouched = bool(getattr(maps, "finite_nonnegative", False))  # as in _check_maps
    if e.ndim != 2 or not (vouched or np.all(np.isfinite(e))):
        raise ValueError("maps['abs_energy_keV'] must be a finite 2-D image")
    pixel_mm = _pixel_mm_of(grid, e.shape)
    # every step of the noise-free pipeline is linear: scale by the pixel area afterwards, on
    # the pipeline's own output (a copy when it is the input itself: no blur)
    _, out, _ = rx.pipeline(e, None, pixel_mm, None)
    out = np.array(out, dtype=np.float32, copy=np.shares_memory(out, e), order="C")
    out *= np.float32(pixel_mm**2)
    return out


def apply_lag(current: Any, previous_detected: Any, lag: float) -> np.ndarray:
    """Image lag of a fluoroscopy run: ``(1 - lag) * current + lag * previous``.

    A recursive model in which the fraction ``lag`` of the signal of the previous detected
    frame is read out again, so that after the beam stops the first frame holds ``lag`` of the
    last exposed one (first-frame lag, 2-10 % for a-Si:H panels) and a constant input
    converges to itself.

    Parameters
    ----------
    current : array_like
        Frame detected without lag [detector units].
    previous_detected : array_like or None
        The previous output of this function (None for the first frame) [detector units].
    lag : float
        First-frame lag fraction, in [0, 0.3] [-].

    Returns
    -------
    numpy.ndarray
        Lagged frame, float32 [detector units].

    References
    ----------
    Siewerdsen & Jaffray, Med. Phys. 26:1624 (1999).
    """
    g = check_number("receptor.lag", lag, 0.0, 0.3)
    cur = np.asarray(current, dtype=np.float32)
    if previous_detected is None:
        return cur.copy()
    prev = np.asarray(previous_detected, dtype=np.float32)
    if prev.shape != cur.shape:
        raise ValueError(f"previous_detected has shape {prev.shape}, current {cur.shape}")
    return ((1.0 - g) * cur + g * prev).astype(np.float32)
