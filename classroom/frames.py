"""What a view needs of a simulation, compact: uint8 images on shared grey scales, the spectra,
and the scalar technique, dose and metrics. No streamlit here; the app caches these.

A cached :class:`FrameView` of a 512 x 512 frame holds about 2 MB (seven uint8 stage images,
one float32 processed image for the A/B comparison, four short spectra), not the float64
stage stack of a ``sim.Result``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from sim.chain import Result
from sim.spectrum import Spectrum

SHARED_SCALES = {
    "photons": ("primary", "scatter", "after_grid"),
    "detector": ("absorbed", "noisy"),
}
"""Stage images that carry one quantity, so share one grey scale."""

SCALE_UNITS = {
    "photons": "photons per mm² per frame at the receptor",
    "detector": "detector signal (absorbed energy, arbitrary units)",
    "processed": "processed value (log units)",
    "displayed": "display grey level (0-255)",
}


@dataclass(frozen=True)
class StageImage:
    """A stage image as 8 bits, with the range its grey scale spans [its unit]."""

    image: np.ndarray
    lo: float
    hi: float
    unit: str


@dataclass(frozen=True)
class FrameView:
    """One simulated frame as the views show it."""

    values: dict[str, Any]
    image: np.ndarray
    image_jpeg: bytes
    technique: dict[str, Any]
    dose: dict[str, Any]
    metrics: dict[str, Any]
    abc_message: str
    stages: dict[str, StageImage]
    processed: np.ndarray
    view_mask: np.ndarray
    spectra: dict[str, Spectrum]
    beam: dict[str, float]


def _to_u8(a: np.ndarray, lo: float, hi: float) -> np.ndarray:
    if not hi > lo:
        hi = lo + 1.0
    return (np.clip((a - lo) / (hi - lo), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def _scale(images: list[np.ndarray], mask: np.ndarray, zero: bool) -> tuple[float, float]:
    """A grey scale spanning the images inside the field: 0 (or the 0.5th percentile) to the
    99.5th percentile of the brightest."""
    inside = [np.asarray(a, np.float32)[mask] for a in images]
    inside = [v for v in inside if v.size]
    if not inside:
        return 0.0, 1.0
    hi = max(float(np.percentile(v, 99.5)) for v in inside)
    lo = 0.0 if zero else min(float(np.percentile(v, 0.5)) for v in inside)
    return lo, hi


def _frozen(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    a.flags.writeable = False
    return a


def beam_figures(filtered: Spectrum) -> dict[str, float]:
    """Half-value layers, homogeneity, mean energy and output of the beam entering the patient
    (``beam.*`` keys, for the technique actually used)."""
    return {
        "beam.hvl1_mm_al": filtered.hvl_mm_al(),
        "beam.hvl2_mm_al": filtered.hvl2_mm_al(),
        "beam.homogeneity": filtered.homogeneity(),
        "beam.mean_energy_keV": filtered.mean_energy_keV(),
        "beam.kerma_uGy_per_mAs": filtered.air_kerma_uGy_per_mAs(100.0),
    }


JPEG_QUALITY = 90
"""Quality of the main image sent to the browser: about 40 kB at 512 x 512 against 150 kB of
Streamlit's own PNG (docs/references.md [StreamlitNotes]), with no visible loss on a noisy
fluoroscopy frame."""


def jpeg(image: np.ndarray, quality: int = JPEG_QUALITY) -> bytes:
    """An 8-bit image as JPEG bytes."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.asarray(image, np.uint8)).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def frame_view(result: Result, view_mask: np.ndarray, abc_message: str = "") -> FrameView:
    """Compact what the views need from a ``sim.Result``.

    Parameters
    ----------
    result
        A simulation.
    view_mask
        Where the receptor shows X-rays (``sim.chain.view_mask``) [-].
    abc_message
        ABC's sentence for the user, if ABC was on.
    """
    s = result.stages
    mask = np.asarray(view_mask) > 0
    if not mask.any():
        mask = np.ones_like(mask, dtype=bool)
    stages: dict[str, StageImage] = {}
    for scale, names in SHARED_SCALES.items():
        lo, hi = _scale([s[n] for n in names], mask, zero=scale == "photons")
        for n in names:
            stages[n] = StageImage(_frozen(_to_u8(s[n], lo, hi)), lo, hi, SCALE_UNITS[scale])
    lo, hi = _scale([s["processed"]], mask, zero=False)
    stages["processed"] = StageImage(
        _frozen(_to_u8(s["processed"], lo, hi)), lo, hi, SCALE_UNITS["processed"]
    )
    stages["displayed"] = StageImage(_frozen(result.image), 0.0, 255.0, SCALE_UNITS["displayed"])
    summary = result.summary()
    spectra = {k: v for k, v in s.items() if k.startswith("spectrum_")}
    return FrameView(
        values=result.params.to_dict(),
        image=_frozen(result.image),
        image_jpeg=jpeg(result.image),
        technique=summary["technique"],
        dose=summary["dose"],
        metrics=summary["metrics"],
        abc_message=abc_message,
        stages=stages,
        processed=_frozen(np.asarray(s["processed"], np.float32)),
        view_mask=_frozen(mask),
        spectra=spectra,
        beam=beam_figures(s["spectrum_filtered"]),
    )


def common_scale(a: FrameView, b: FrameView) -> tuple[np.ndarray, np.ndarray]:
    """Two frames' processed images on one grey scale spanning both (inside their fields), so
    that a change between them shows as a change of grey."""
    lo_a, hi_a = _scale([a.processed], a.view_mask, zero=False)
    lo_b, hi_b = _scale([b.processed], b.view_mask, zero=False)
    lo, hi = min(lo_a, lo_b), max(hi_a, hi_b)
    return _to_u8(a.processed, lo, hi) * a.view_mask, _to_u8(b.processed, lo, hi) * b.view_mask
