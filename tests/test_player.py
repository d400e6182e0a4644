"""The in-browser run player (classroom.player): size budget, dose counters, escaping."""

from __future__ import annotations

import html
import io
import json
import re
import time
from html.parser import HTMLParser

import numpy as np
import pytest
from PIL import Image

import sim
from classroom import player

FIVE_MB = 5_000_000
DATA = re.compile(r'<script type="application/json" id="player-data">(.*?)</script>', re.S)


def _data(page: player.PlayerPage) -> dict:
    m = DATA.search(page.html)
    assert m is not None
    return json.loads(m.group(1))


def _noisy(n: int, px: int = 512, sigma: float = 12.0, seed: int = 0) -> np.ndarray:
    """Smooth anatomy-like pattern plus white noise of ``sigma`` grey levels, uint8."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:px, 0:px]
    base = 128.0 + 60.0 * np.sin(xx / 40.0) * np.cos(yy / 55.0)
    out = np.empty((n, px, px), dtype=np.uint8)
    for i in range(n):
        out[i] = np.clip(base + rng.normal(0.0, sigma, (px, px)), 0, 255)
    return out


def _synthetic_page(n: int, rate: float = 15.0, **kw) -> player.PlayerPage:
    t = np.arange(n) / rate
    kar = np.cumsum(np.full(n, 0.024))
    series = {"Ka,r": (kar, "mGy"), "KAP": (kar * 0.068, "Gy\u00b7cm\u00b2")}
    return player.player_html(_noisy(n), t, np.arange(n), t, series, rate, **kw)


@pytest.fixture(scope="module")
def hip():
    """A real 10 s hip-injection run at 15 p/s, 512 px, and its player page."""
    p = sim.preset_params("hip_injection").replace(
        **{"run.fluoro_time_s": 10.0, "tube.pulse_rate_pps": 15.0, "run.image_px": 512}
    )
    t0 = time.perf_counter()
    r = sim.run(p)
    t1 = time.perf_counter()
    page = player.player_from_run(r, caption="Hip injection")
    t2 = time.perf_counter()
    print(
        f"\nhip run {t1 - t0:.2f} s; run end -> HTML ready {t2 - t1:.3f} s; "
        f"{page.n_frames} frames, quality {page.quality}, {page.bytes / 1e6:.2f} MB"
    )
    return r, page


# ------------------------------------------------------------------------------------ size
def test_synthetic_noisy_150_frames_fit_in_5_mb():
    """A 10 s run at 15 p/s, 512 px, with heavy quantum-like noise: the page holds the budget
    and keeps at least 10 frames per second of run."""
    page = _synthetic_page(150)
    print(f"\nnoisy 150: {page.n_frames} frames, q {page.quality}, {page.bytes / 1e6:.2f} MB")
    assert page.bytes == len(page.html.encode("utf-8"))
    assert page.bytes <= 4_500_000 <= FIVE_MB
    assert page.n_frames >= 100 and page.content_fps >= player.MIN_CONTENT_FPS
    assert player.QUALITY_MIN <= page.quality <= player.QUALITY_MAX


def test_long_run_is_subsampled_in_time_to_fit():
    """450 noisy frames do not fit at the quality floor: evenly spaced frames are dropped (the
    first and the last kept) and the pacing keeps the real times."""
    n = 450
    page = _synthetic_page(n)
    d = _data(page)
    print(f"\nnoisy 450: {page.n_frames} frames, q {page.quality}, {page.bytes / 1e6:.2f} MB")
    assert page.bytes <= 4_500_000
    assert page.n_frames < n and d["n"] == page.n_frames == len(d["frames"])
    assert d["pulses"][0] == 0 and d["pulses"][-1] == n - 1
    assert d["times"] == pytest.approx([p / 15.0 for p in d["pulses"]])
    assert d["duration"] == pytest.approx(n / 15.0)
    assert page.content_fps == pytest.approx(page.n_frames / d["duration"])


def test_smaller_budget_lowers_quality_first_then_drops_frames():
    """Quality drops to the floor before frames are dropped; frames are dropped down to 10 per
    second of run, and only then does the quality go below the floor."""
    big = _synthetic_page(40, max_bytes=4_500_000)
    mid = _synthetic_page(40, max_bytes=1_500_000)
    small = _synthetic_page(40, max_bytes=700_000)
    assert small.bytes <= 700_000 < mid.bytes <= 1_500_000 < big.bytes
    assert big.n_frames == mid.n_frames == 40
    assert player.QUALITY_FLOOR <= mid.quality < big.quality
    assert small.quality < player.QUALITY_FLOOR
    assert small.n_frames == 27 and small.content_fps >= player.MIN_CONTENT_FPS  # 2.67 s run


def test_too_small_budget_is_an_error():
    with pytest.raises(ValueError, match="max_bytes"):
        _synthetic_page(3, max_bytes=20_000)


def test_encode_frames_gives_grey_jpeg_of_the_frame():
    frames = _noisy(2, px=64)
    out = player.encode_frames(frames, 90)
    assert len(out) == 2 and all(b[:2] == b"\xff\xd8" for b in out)
    back = np.asarray(Image.open(io.BytesIO(out[0])))
    assert back.shape == (64, 64) and np.abs(back.astype(float) - frames[0]).mean() < 8.0
    assert len(player.encode_frames(frames, 30)[0]) < len(out[0])
    with pytest.raises(ValueError):
        player.encode_frames(frames, 0)
    with pytest.raises(ValueError):
        player.encode_frames(frames.astype(np.float32), 80)


# ------------------------------------------------------------------------------------ a real run
def test_hip_run_page_fits_and_keeps_the_frames(hip):
    r, page = hip
    assert page.bytes <= FIVE_MB
    assert page.n_frames >= 100 and page.quality >= 40
    assert 400 <= page.height_px <= 700


def test_page_has_no_url_and_no_external_resource(hip):
    _, page = hip
    text = page.html
    assert re.search(r"(?i)\b(?:https?|ftp|wss?)://", text) is None
    links = []

    class Tags(HTMLParser):
        def handle_starttag(self, tag, attrs):
            links.extend(v for k, v in attrs if k in ("src", "href", "action", "srcset"))

    Tags().feed(text)
    assert links == []  # the frames are data: URIs built by the script
    assert "@import" not in text and "url(" not in text
    assert "default-src 'none'" in text  # and the page forbids any fetch (CSP)


def test_counters_follow_the_run_series_at_first_and_last_frame(hip):
    r, page = hip
    d = _data(page)
    s = r.series
    labels = [c["label"] for c in d["counters"]]
    assert labels == ["Beam time", "Ka,r", "KAP", "Peak skin dose"]
    by = {c["label"]: c["values"] for c in d["counters"]}
    first, last = int(r.frame_index[0]), int(r.frame_index[-1])
    assert d["pulses"][0] == first and d["pulses"][-1] == last
    for label, values in (
        ("Ka,r", s.kar_mGy),
        ("KAP", s.kap_Gycm2),
        ("Peak skin dose", s.skin_dose_mGy),
    ):
        assert by[label][0] == pytest.approx(values[first], rel=1e-12)
        assert by[label][-1] == pytest.approx(values[last], rel=1e-12)
    assert by["Beam time"][-1] == pytest.approx(r.params.run.fluoro_time_s)
    assert by["Ka,r"][-1] == pytest.approx(r.dose["kar_mGy"], rel=1e-9)
    assert d["times"] == pytest.approx(r.times_s.tolist())
    assert d["curve"]["v"][-1] == pytest.approx(s.kar_mGy[-1], rel=1e-5)


# ------------------------------------------------------------------------------------ escaping
def test_caption_and_labels_are_escaped():
    evil = "<script>alert(1)</script>"
    frames = _noisy(3, px=32)
    t = np.arange(3) / 15.0
    page = player.player_html(
        frames, t, np.arange(3), t, {"<img onerror=x>": (np.ones(3), "m&Gy")}, 15.0, caption=evil
    )
    assert evil not in page.html and html.escape(evil) in page.html
    assert "<img onerror" not in page.html and "&lt;img onerror=x&gt;" in page.html
    assert page.html.count("<script") == 2 and page.html.count("</script>") == 2
    d = _data(page)
    assert d["counters"][1]["label"] == "<img onerror=x>" and d["counters"][1]["unit"] == "m&Gy"


def test_bad_inputs_are_rejected():
    frames = _noisy(3, px=32)
    t = np.arange(3) / 15.0
    s = {"Ka,r": (np.ones(3), "mGy")}
    with pytest.raises(ValueError):
        player.player_html(frames, t[:2], np.arange(3), t, s, 15.0)
    with pytest.raises(ValueError):
        player.player_html(frames, t, np.array([0, 1, 3]), t, s, 15.0)
    with pytest.raises(ValueError):
        player.player_html(frames, t, np.arange(3), t, {"Ka,r": (np.ones(2), "mGy")}, 15.0)
    with pytest.raises(ValueError):
        player.player_html(frames, t, np.arange(3), t, s, 0.0)
    with pytest.raises(ValueError):
        player.player_html(frames, t, np.arange(3), t, {}, 15.0)
