"""Compact movies of a fluoroscopy run: MP4 (H.264), WebM (VP9) or an animated GIF.

A run keeps up to ``run.max_frames`` frames at the full image size (450 frames of 512 x 512 px
in the hip scenario: a 32 MB GIF). A movie takes at most ``max_frames`` of them, evenly spread
over the run, scaled down to at most ``max_px`` on a side, and plays them in real time (the
frame rate is the frames shown over the run's duration). MP4 and WebM need PyAV
(``pip install 'fluorosim[movie]'``); a GIF needs only Pillow.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from sim.validate import short_repr

FORMATS = {".gif": "gif", ".mp4": "mp4", ".webm": "webm"}

DEFAULT_MAX_FRAMES = {"gif": 120, "mp4": 600, "webm": 600}
"""Frames kept by default [-]: a GIF stores every frame whole, a video only the changes."""

DEFAULT_MAX_PX = {"gif": 256, "mp4": 512, "webm": 512}
"""Largest side by default [px]."""

MAX_FRAMES_LIMIT = 10_000
"""Most frames a movie may ask for [-] (``run.max_frames`` allows as many)."""

MAX_PX_LIMIT = 2048
"""Largest side a movie may ask for [px]."""

_CODEC = {"mp4": ("mp4", "libx264", "yuv420p"), "webm": ("webm", "libvpx-vp9", "yuv420p")}


@dataclass(frozen=True)
class Movie:
    """Frames ready to encode: uint8 (n, h, w), their frame rate [1/s]."""

    frames: np.ndarray
    fps: float


def movie_format(path: str | os.PathLike, option: str = "--movie") -> str:
    """``gif``, ``mp4`` or ``webm`` from the file name; ``ValueError`` otherwise, or when the
    video encoder (PyAV) is missing."""
    suffix = Path(os.fspath(path)).suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(
            f"{option} {short_repr(os.fspath(path))}: expected a .mp4, .webm or .gif file name"
        )
    fmt = FORMATS[suffix]
    if fmt != "gif":
        try:
            import av  # noqa: F401
        except ImportError:
            raise ValueError(
                f"{option}: {suffix} needs PyAV (pip install 'fluorosim[movie]'); or write a .gif"
            ) from None
    return fmt


def check_limits(max_frames: int | None, max_px: int | None) -> None:
    """Refuse caps outside [1, MAX_FRAMES_LIMIT] frames and [16, MAX_PX_LIMIT] px."""
    if max_frames is not None and not 1 <= max_frames <= MAX_FRAMES_LIMIT:
        raise ValueError(f"--movie-frames {max_frames} is out of range [1, {MAX_FRAMES_LIMIT}]")
    if max_px is not None and not 16 <= max_px <= MAX_PX_LIMIT:
        raise ValueError(f"--movie-px {max_px} is out of range [16, {MAX_PX_LIMIT}]")


def prepare(
    frames: np.ndarray, times_s: Sequence[float], max_frames: int, max_px: int, even: bool = False
) -> Movie:
    """At most ``max_frames`` frames evenly over the run, at most ``max_px`` a side.

    Parameters
    ----------
    frames
        uint8 (n, h, w) frames of a run.
    times_s
        Time of each frame [s].
    max_frames
        Most frames kept [-].
    max_px
        Largest side [px] (frames are only ever scaled down).
    even
        Round the size down to even numbers (H.264 and VP9 in 4:2:0 need it).

    Returns
    -------
    Movie
        The frames and the frame rate that plays them in real time.
    """
    frames = np.asarray(frames)
    times = np.asarray(times_s, dtype=float)
    n = frames.shape[0]
    if n == 0:
        raise ValueError("the run kept no frames")
    keep = np.unique(np.round(np.linspace(0, n - 1, min(n, max_frames))).astype(int))
    h, w = frames.shape[1:3]
    scale = min(1.0, max_px / max(h, w))
    size = (max(2, round(w * scale)), max(2, round(h * scale)))
    if even:
        size = (size[0] - size[0] % 2, size[1] - size[1] % 2)
    out = []
    from PIL import Image

    for i in keep:
        img = Image.fromarray(frames[i])
        if img.size != size:
            img = img.resize(size, Image.Resampling.LANCZOS)
        out.append(np.asarray(img, dtype=np.uint8))
    span = float(times[keep[-1]] - times[keep[0]]) if len(keep) > 1 else 0.0
    fps = (len(keep) - 1) / span if span > 0 else 10.0
    return Movie(np.stack(out), float(min(max(fps, 0.2), 60.0)))


def write(
    f: BinaryIO,
    fmt: str,
    frames: np.ndarray,
    times_s: Sequence[float],
    max_frames: int | None = None,
    max_px: int | None = None,
) -> Movie:
    """Encode a run's frames into ``f`` as ``fmt`` (``gif``, ``mp4``, ``webm``); returns
    what was encoded."""
    m = prepare(
        frames,
        times_s,
        max_frames or DEFAULT_MAX_FRAMES[fmt],
        max_px or DEFAULT_MAX_PX[fmt],
        even=fmt != "gif",
    )
    if fmt == "gif":
        from PIL import Image

        images = [Image.fromarray(fr) for fr in m.frames]
        images[0].save(
            f,
            format="GIF",
            save_all=True,
            append_images=images[1:],
            duration=max(20, int(round(1000.0 / m.fps))),
            loop=0,
            optimize=True,
        )
        return m
    from fractions import Fraction

    import av

    container_fmt, codec, pix = _CODEC[fmt]
    rate = Fraction(m.fps).limit_denominator(1000)
    with av.open(f, mode="w", format=container_fmt) as out:
        stream = out.add_stream(codec, rate=rate)
        stream.height, stream.width = m.frames.shape[1:3]
        stream.pix_fmt = pix
        if codec == "libx264":
            stream.options = {"crf": "28", "preset": "veryfast"}
        else:
            stream.options = {"crf": "33", "b:v": "0", "deadline": "realtime", "cpu-used": "8"}
        for fr in m.frames:
            frame = av.VideoFrame.from_ndarray(fr, format="gray")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return m
