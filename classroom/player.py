"""In-browser run player: play, pause and scrub a fluoroscopy run with its dose counters.

``player_from_run(sim.run(p))`` (or :func:`player_html` with the arrays) returns a
:class:`PlayerPage` whose ``html`` is one self-contained page (no network, no external URL) that
the app embeds with ``st.iframe(page.html, height=page.height_px)``.

Playback
    The frame shown at wall time ``t`` after Play is the last kept frame whose ``time_s`` is
    ``<= t * speed`` (speeds 1x, 2x, 1/4x): the pacing follows the frames' real times, so a run
    whose kept frames are sub-sampled in time still plays in real time. At the end of the run
    (last pulse time plus one frame period) the player loops or stops on the last image, with a
    Replay button. Pause holds the frame shown (last-image hold, "LIH" badge). Frames are
    decoded before Play is enabled (``createImageBitmap``) and drawn on a canvas from
    ``requestAnimationFrame``.

Dose counters
    In step with the frame shown, from the dose series at that frame's pulse: beam (fluoroscopy)
    time after the pulse, ``series_time_s[pulse] + 1 / pulse_rate_pps`` (the run's
    ``run.fluoro_time_s`` after its last pulse), then every entry of ``series`` (for a run:
    cumulative Ka,r, KAP, peak skin dose). The first entry of ``series`` is drawn against beam
    time with a cursor at the frame shown.

Size
    Frames are grey-level JPEG, base64 in the page. The page must hold ``max_bytes``: the
    quality (the highest that fits) is lowered from :data:`QUALITY_MAX` down to
    :data:`QUALITY_FLOOR`; if all frames still do not fit, frames are sub-sampled in time
    (evenly, first and last kept) down to :data:`MIN_CONTENT_FPS` frames per second of run,
    then the quality is lowered to :data:`QUALITY_MIN` at that frame rate; a run too long for
    that is sub-sampled further at :data:`QUALITY_FLOOR`.

Test hooks
    ``document.body.dataset``: ``frame`` (index of the frame shown among the page's frames),
    ``playing`` ("1"/"0"), ``ready`` ("1" once playable: the first 48 frames decoded, the rest
    decoding far ahead of playback), ``decoded`` ("1" when every frame is), ``ended`` ("1" when
    stopped at the end of the run).
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

QUALITY_MAX = 85
"""Highest JPEG quality tried [-] (above it the size grows fast for little visible gain)."""

QUALITY_FLOOR = 40
"""Lowest JPEG quality before frames are dropped [-]."""

QUALITY_MIN = 25
"""Lowest JPEG quality at all, only to keep :data:`MIN_CONTENT_FPS` [-]."""

MIN_CONTENT_FPS = 10.0
"""Frames per second of run kept when frames must be dropped, if the budget allows [1/s]."""

MAX_DISPLAY_PX = 520
"""Largest side of the image on the page, CSS pixels (fits a 1280x720 projector with the
controls; also limited by the iframe's width and height)."""

SPEEDS = (0.25, 1.0, 2.0)
"""Playback speeds offered [-]."""

CURVE_POINTS = 600
"""Most points of the dose curve embedded in the page [-]."""

PROBE_FRAMES = 12
"""Frames encoded to estimate the size at a quality [-]."""

_SAFETY = 0.985  # estimate-based choices aim this fraction of the budget; then checked exactly
_CONTROLS_PX = 58  # height of the controls row under the image, CSS px
_PAGE_PAD_PX = 12  # page padding (top + bottom), CSS px
_HEIGHT_SLACK_PX = 8  # margin so the iframe never shows a scroll bar


@dataclass(frozen=True)
class PlayerPage:
    """A player page ready for ``st.iframe(page.html, height=page.height_px)``.

    Attributes
    ----------
    html : str
        The self-contained page.
    n_frames : int
        Frames in the page (after sub-sampling in time) [-].
    quality : int
        JPEG quality used [-].
    bytes : int
        Size of ``html``, UTF-8 [B].
    height_px : int
        Iframe height that shows the whole player [CSS px].
    content_fps : float
        Frames in the page per second of run [1/s].
    """

    html: str
    n_frames: int
    quality: int
    bytes: int
    height_px: int
    content_fps: float


# --------------------------------------------------------------------------------------------
# encoding
# --------------------------------------------------------------------------------------------
def _jpeg(frame: np.ndarray, quality: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(frame, "L").save(buf, "JPEG", quality=int(quality), optimize=True)
    return buf.getvalue()


def _check_frames(frames: Any) -> np.ndarray:
    a = np.asarray(frames)
    if a.ndim != 3 or a.dtype != np.uint8 or 0 in a.shape:
        raise ValueError(
            f"frames must be a non-empty uint8 array (n, h, w), got {a.dtype} {a.shape}"
        )
    return np.ascontiguousarray(a)


def encode_frames(frames: np.ndarray, quality: int) -> list[bytes]:
    """Grey-level JPEG of each frame.

    Parameters
    ----------
    frames : numpy.ndarray
        uint8 (n, h, w) [DDL].
    quality : int
        JPEG quality, 1 to 95 [-].

    Returns
    -------
    list of bytes
        One JPEG file per frame.
    """
    a = _check_frames(frames)
    if isinstance(quality, bool) or not isinstance(quality, int | np.integer):
        raise ValueError(f"quality={quality!r} must be an integer from 1 to 95")
    if not 1 <= int(quality) <= 95:
        raise ValueError(f"quality={quality} must be from 1 to 95")
    return [_jpeg(f, int(quality)) for f in a]


def _b64_len(n_bytes: int) -> int:
    return 4 * ((n_bytes + 2) // 3)


def _even(n: int, k: int) -> np.ndarray:
    """``k`` evenly spaced indices of ``n`` (all if ``k >= n``), first and last kept."""
    if k >= n:
        return np.arange(n)
    if k <= 1:
        return np.array([n - 1])
    return np.unique(np.rint(np.linspace(0.0, n - 1.0, k)).astype(np.int64))


class _Sizer:
    """JPEG sizes of frames at qualities, cached; estimates from a few probe frames."""

    def __init__(self, frames: np.ndarray) -> None:
        self.frames = frames
        self.cache: dict[tuple[int, int], bytes] = {}
        self.probe = _even(frames.shape[0], PROBE_FRAMES)

    def jpeg(self, i: int, q: int) -> bytes:
        b = self.cache.get((i, q))
        if b is None:
            b = self.cache[(i, q)] = _jpeg(self.frames[i], q)
        return b

    def per_frame(self, q: int) -> float:
        """Mean bytes a frame adds to the page at quality ``q`` (base64, quotes, comma)."""
        return float(np.mean([_b64_len(len(self.jpeg(int(i), q))) + 3 for i in self.probe]))

    def total(self, idx: np.ndarray, q: int) -> int:
        return sum(_b64_len(len(self.jpeg(int(i), q))) + 3 for i in idx)


def _plan(
    frames: np.ndarray, duration_s: float, budget_for: Any
) -> tuple[np.ndarray, int, list[bytes]]:
    """Frames kept and quality so that the page fits; ``budget_for(idx)`` = bytes for images."""
    n = frames.shape[0]
    sz = _Sizer(frames)

    def done(idx: np.ndarray, q: int) -> tuple[np.ndarray, int, list[bytes]]:
        return idx, q, [sz.jpeg(int(i), q) for i in idx]

    def best_quality(idx: np.ndarray, q_hi: int, q_lo: int) -> int | None:
        """Highest quality in [q_lo, q_hi] at which the frames ``idx`` fit, or None."""
        budget = budget_for(idx)
        lo, hi = q_lo, q_hi  # highest estimate that fits: binary search (size grows with q)
        if sz.per_frame(lo) * idx.size > budget * _SAFETY:
            hi = lo  # no estimate fits: still try q_lo itself
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if sz.per_frame(mid) * idx.size <= budget * _SAFETY:
                lo = mid
            else:
                hi = mid - 1
        q, tries = lo, 0
        while q >= q_lo:  # the estimate came from a few frames: check on all of them
            if sz.total(idx, q) <= budget:
                return q
            tries += 1
            q -= 1 if tries <= 2 else 4
        return None

    def most_frames(q: int, k_least: int) -> np.ndarray | None:
        """Most evenly spaced frames (>= k_least, < n) that fit at quality q, or None."""
        k = min(n - 1, int(budget_for(np.arange(n)) * _SAFETY / sz.per_frame(q)))
        while k >= k_least:
            idx = _even(n, k)
            total = sz.total(idx, q)
            budget = budget_for(idx)
            if total <= budget:
                return idx
            k = min(k - 1, int(k * budget / total))
        return None

    # 1. every frame, quality from QUALITY_MAX down to QUALITY_FLOOR
    every = np.arange(n)
    q = best_quality(every, QUALITY_MAX, QUALITY_FLOOR)
    if q is not None:
        return done(every, q)

    # 2. fewer frames at QUALITY_FLOOR, down to MIN_CONTENT_FPS
    k_floor = min(n, max(1, math.ceil(MIN_CONTENT_FPS * duration_s)))
    idx = most_frames(QUALITY_FLOOR, k_floor)
    if idx is not None:
        return done(idx, QUALITY_FLOOR)

    # 3. MIN_CONTENT_FPS at a lower quality
    at_floor = _even(n, k_floor)
    q = best_quality(at_floor, QUALITY_FLOOR - 1, QUALITY_MIN)
    if q is not None:
        return done(at_floor, q)

    # 4. a run too long for MIN_CONTENT_FPS: as many frames as fit, at QUALITY_FLOOR
    for q in (QUALITY_FLOOR, QUALITY_MIN):
        idx = most_frames(q, 1)
        if idx is not None:
            return done(idx, q)
    raise ValueError("max_bytes is too small for even one frame of the run")


# --------------------------------------------------------------------------------------------
# the page
# --------------------------------------------------------------------------------------------
def _decimals(values: np.ndarray) -> int:
    """Decimals that give about 3 significant digits at the largest value (no jitter)."""
    top = float(np.max(np.abs(values))) if values.size else 0.0
    if not math.isfinite(top) or top <= 0.0:
        return 2
    return int(np.clip(2 - math.floor(math.log10(top)), 0, 4))


def _json_for_script(obj: Any) -> str:
    """JSON safe inside a <script> element (no '<', '>', '&')."""
    text = json.dumps(obj, ensure_ascii=True, allow_nan=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _fmt(v: float, decimals: int) -> str:
    return f"{v:.{decimals}f}"


def _speed_label(s: float) -> str:
    return {0.25: "\u00bc\u00d7", 0.5: "\u00bd\u00d7"}.get(s, f"{s:g}\u00d7")


_CSS = """
:root { color-scheme: light dark; --bg: #ffffff; --fg: #1f2430; --muted: #5b6270;
  --card: #f3f4f7; --line: #c9ced8; --accent: #1565c0; --curve: #c62828; --played: #c6282833;
  --badge: #263238; }
@media (prefers-color-scheme: dark) {
  :root { --bg: #0e1117; --fg: #e8eaed; --muted: #a3a9b4; --card: #1b1f29; --line: #3a4050;
    --accent: #64b5f6; --curve: #ef5350; --played: #ef535040; --badge: #37474f; }
}
* { box-sizing: border-box; }
html, body { margin: 0; background: var(--bg); color: var(--fg);
  font: 15px/1.35 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
  sans-serif; }
.wrap { display: flex; gap: 16px; align-items: flex-start; padding: 6px; }
.left { flex: 0 0 auto; width: min(%(disp_w)spx, calc((100vh - %(reserve)spx) * %(ratio)s),
  calc(100vw - 292px)); min-width: 160px; }
.screen { position: relative; background: #000; border-radius: 4px; line-height: 0; }
#view { display: block; width: 100%%; height: auto; aspect-ratio: %(w)s / %(h)s;
  border-radius: 4px; }
.badge { position: absolute; top: 8px; font: 700 13px/1 system-ui, sans-serif;
  padding: 4px 7px; border-radius: 3px; letter-spacing: .04em; }
#lih { right: 8px; background: var(--badge); color: #fff; border: 1px solid #90a4ae; }
#xray { left: 8px; background: #f9a825; color: #000; }
.badge[hidden] { display: none; }
#loading { position: absolute; inset: 0; display: flex; align-items: center;
  justify-content: center; color: #ddd; font: 15px/1.3 system-ui, sans-serif; }
.controls { display: flex; align-items: center; gap: 8px; margin-top: 8px; }
button { font: 600 15px/1 system-ui, sans-serif; padding: 9px 12px; min-width: 44px;
  border-radius: 6px; border: 1px solid var(--line); background: var(--card); color: var(--fg);
  cursor: pointer; white-space: nowrap; }
button:disabled { opacity: .5; cursor: default; }
button.primary { background: var(--accent); border-color: var(--accent); color: #fff;
  min-width: 118px; }
button:focus-visible, input:focus-visible { outline: 3px solid var(--accent);
  outline-offset: 2px; }
#scrub { flex: 1 1 auto; min-width: 60px; height: 28px; accent-color: var(--accent); }
.panel { flex: 1 1 240px; min-width: 240px; max-width: 420px; }
.caption { font-weight: 600; margin: 0 0 6px; overflow-wrap: anywhere; }
.counters { display: grid; grid-template-columns: 1fr 1fr; gap: 6px; margin: 0 0 8px; }
.counter { background: var(--card); border-radius: 6px; padding: 5px 8px; }
.counter dt { font-size: 13px; color: var(--muted); }
.counter dd { margin: 0; font-size: 21px; font-weight: 700; font-variant-numeric: tabular-nums;
  white-space: nowrap; }
.counter .unit { font-size: 13px; font-weight: 500; color: var(--muted); margin-left: 2px; }
#curve { display: block; width: 100%%; height: 168px; background: var(--card);
  border-radius: 6px; }
fieldset { border: 0; padding: 0; margin: 8px 0 0; display: flex; flex-wrap: wrap; gap: 4px 12px;
  align-items: center; }
legend { float: left; font-size: 13px; color: var(--muted); margin-right: 4px; padding: 0; }
label { cursor: pointer; white-space: nowrap; }
input[type=radio], input[type=checkbox] { accent-color: var(--accent); width: 16px;
  height: 16px; vertical-align: -2px; margin: 0 3px 0 0; }
.status { font-size: 13px; color: var(--muted); margin: 6px 0 0; white-space: pre-line;
  font-variant-numeric: tabular-nums; }
@media (max-width: 560px) {
  .wrap { flex-direction: column; }
  .left { width: min(100%%, %(disp_w)spx); }
  .panel { max-width: none; width: 100%%; }
}
"""

_JS = r"""
(() => {
"use strict";
const D = JSON.parse(document.getElementById("player-data").textContent);
const body = document.body;
const $ = (id) => document.getElementById(id);
const view = $("view"), ctx = view.getContext("2d");
const playBtn = $("play"), replayBtn = $("replay"), scrub = $("scrub"), loopBox = $("loop");
const lih = $("lih"), xray = $("xray"), statusEl = $("status"), loading = $("loading");
const curve = $("curve");
const n = D.n, T = D.times, END = D.duration;
const outs = D.counters.map((c, k) => $("c" + k));
let imgs = new Array(n), ready = false, playing = false, ended = false;
let cur = -1, simT = T[0], speed = 1, wall0 = 0, sim0 = 0;

function frameAt(s) {  // last frame whose time <= s
  let lo = 0, hi = n - 1;
  if (s < T[0]) return 0;
  while (lo < hi) { const m = (lo + hi + 1) >> 1; if (T[m] <= s) lo = m; else hi = m - 1; }
  return lo;
}
function fmt(v, d) { return v.toFixed(d); }
function setState() {
  body.dataset.playing = playing ? "1" : "0";
  body.dataset.ended = ended ? "1" : "0";
  playBtn.textContent = playing ? "\u275a\u275a Pause" : "\u25b6 Play";
  playBtn.setAttribute("aria-pressed", playing ? "true" : "false");
  lih.hidden = playing || !ready;
  xray.hidden = !playing;
  replayBtn.classList.toggle("primary", ended);
}
function show(i) {
  i = Math.max(0, Math.min(n - 1, i | 0));
  if (imgs[i]) ctx.drawImage(imgs[i], 0, 0, view.width, view.height);
  if (i === cur) return;
  cur = i;
  body.dataset.frame = String(i);
  scrub.value = String(i);
  D.counters.forEach((c, k) => { outs[k].textContent = fmt(c.values[i], c.decimals); });
  drawCurve();
  status();
}
function status() {
  let s = "Frame " + (cur + 1) + "/" + n + " \u00b7 pulse " + (D.pulses[cur] + 1) + "/" +
    D.n_pulses;
  if (D.sub_label) s += " \u00b7 " + D.sub_label;
  s += "\n";
  if (!ready) s += "Decoding\u2026";
  else if (playing) s += "Playing at " + speedLabel() + (loopBox.checked ? ", looping" : "");
  else if (ended) s += "End of run: last-image hold";
  else s += "Paused: last-image hold";
  statusEl.textContent = s;
}
function speedLabel() {
  const el = document.querySelector("input[name=speed]:checked");
  return el ? el.parentElement.textContent.trim() : speed + "\u00d7";
}
// ---- dose curve
let cw = 0, ch = 0, dpr = 1;
function niceStep(range, ticks) {  // 1, 2 or 5 x 10^k, about range / ticks
  const raw = range > 0 ? range / ticks : 1, e = Math.pow(10, Math.floor(Math.log10(raw)));
  const m = raw / e;
  return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * e;
}
function tickText(v, step) {
  let d = 0;
  while (d < 6 && Math.abs(step * 10 ** d - Math.round(step * 10 ** d)) > 1e-6 * 10 ** d) d++;
  return v.toFixed(d);
}
const C = D.curve, vTop = Math.max(...C.v, 0), xMax = Math.max(END, 1e-9);
const yStep = niceStep(vTop, 2), yMax = Math.max(yStep, Math.ceil(vTop / yStep - 1e-9) * yStep);
const xStep = niceStep(xMax, 5);
function drawCurve() {
  const r = curve.getBoundingClientRect();
  if (!(r.width > 0)) return;
  dpr = window.devicePixelRatio || 1;
  if (Math.round(r.width * dpr) !== cw || Math.round(r.height * dpr) !== ch) {
    cw = curve.width = Math.max(1, Math.round(r.width * dpr));
    ch = curve.height = Math.max(1, Math.round(r.height * dpr));
  }
  const g = curve.getContext("2d"), css = getComputedStyle(body);
  const col = (name) => css.getPropertyValue(name).trim();
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  const W = r.width, H = r.height, L = 48, R = 14, Tp = 24, B = 40;
  const pw = Math.max(10, W - L - R), ph = Math.max(10, H - Tp - B);
  const X = (t) => L + pw * t / xMax, Y = (v) => Tp + ph * (1 - v / yMax);
  g.clearRect(0, 0, W, H);
  g.font = "13px system-ui, sans-serif";
  g.fillStyle = col("--muted"); g.strokeStyle = col("--line"); g.lineWidth = 1;
  g.textBaseline = "top"; g.textAlign = "left";
  g.fillText(C.label + " [" + C.unit + "]", 8, 5);
  g.textAlign = "right"; g.textBaseline = "middle";
  for (let v = 0; v <= yMax * (1 + 1e-9); v += yStep) {
    const y = Math.round(Y(v)) + 0.5;
    g.beginPath(); g.moveTo(L, y); g.lineTo(L + pw, y); g.stroke();
    g.fillText(tickText(v, yStep), L - 6, y);
  }
  g.textAlign = "center"; g.textBaseline = "top";
  for (let t = 0; t <= xMax * (1 + 1e-9); t += xStep) {
    const x = Math.round(X(t)) + 0.5;
    g.beginPath(); g.moveTo(x, Tp + ph); g.lineTo(x, Tp + ph + 4); g.stroke();
    g.fillText(tickText(t, xStep), x, Tp + ph + 6);
  }
  g.textBaseline = "bottom";
  g.fillText("Beam time [s]", L + pw / 2, H - 3);
  const tc = cur >= 0 ? D.counters[0].values[cur] : 0;
  // played part, filled
  g.beginPath(); g.moveTo(X(0), Y(0));
  for (let k = 0; k < C.t.length && C.t[k] <= tc + 1e-9; k++) g.lineTo(X(C.t[k]), Y(C.v[k]));
  const vc = cur >= 0 ? C.cursor[cur] : 0;
  g.lineTo(X(tc), Y(vc)); g.lineTo(X(tc), Y(0)); g.closePath();
  g.fillStyle = col("--played"); g.fill();
  g.beginPath(); g.moveTo(X(C.t[0]), Y(C.v[0]));
  for (let k = 1; k < C.t.length; k++) g.lineTo(X(C.t[k]), Y(C.v[k]));
  g.strokeStyle = col("--curve"); g.lineWidth = 2; g.stroke();
  // cursor
  g.strokeStyle = col("--fg"); g.lineWidth = 1.5;
  g.beginPath(); g.moveTo(X(tc), Tp); g.lineTo(X(tc), Tp + ph); g.stroke();
  g.fillStyle = col("--curve");
  g.beginPath(); g.arc(X(tc), Y(vc), 4, 0, 2 * Math.PI); g.fill();
}

// ---- playback
function tick(now) {
  if (!playing) return;
  let s = sim0 + (now - wall0) / 1000 * speed;
  if (s >= END) {
    if (loopBox.checked && n > 1) { sim0 = T[0]; wall0 = now; s = T[0]; }
    else { simT = END; show(n - 1); stop(true); return; }
  }
  simT = s;
  show(frameAt(s));
  requestAnimationFrame(tick);
}
function play() {
  if (!ready || playing) return;
  if (ended || simT >= END) { simT = T[0]; show(0); }
  ended = false; playing = true;
  sim0 = simT; wall0 = performance.now();
  setState(); status();
  requestAnimationFrame(tick);
}
function stop(atEnd) {
  playing = false; ended = !!atEnd;
  setState(); status();
}
function toggle() { if (playing) stop(false); else play(); }
function seek(i) {
  i = Math.max(0, Math.min(n - 1, i | 0));
  ended = false; simT = T[i];
  if (playing) { sim0 = simT; wall0 = performance.now(); }
  show(i); setState(); status();
}
playBtn.addEventListener("click", toggle);
replayBtn.addEventListener("click", () => { if (!ready) return; stop(false); seek(0); play(); });
scrub.addEventListener("input", () => seek(+scrub.value));
loopBox.addEventListener("change", status);
document.querySelectorAll("input[name=speed]").forEach((el) => el.addEventListener("change",
  () => {
    if (!el.checked) return;
    if (playing) { sim0 = simT; wall0 = performance.now(); }
    speed = +el.value;
    status();
  }));
document.addEventListener("keydown", (e) => {
  const t = e.target, tag = t && t.tagName, type = t && t.type;
  if (e.key === " " || e.code === "Space") {
    if (tag === "BUTTON" || type === "checkbox") return;  // their own activation
    e.preventDefault(); toggle();
  } else if (tag !== "INPUT" || type !== "range") {
    if (e.key === "ArrowRight") { e.preventDefault(); stop(false); seek(cur + 1); }
    else if (e.key === "ArrowLeft") { e.preventDefault(); stop(false); seek(cur - 1); }
    else if (e.key === "Home") { e.preventDefault(); seek(0); }
    else if (e.key === "End") { e.preventDefault(); seek(n - 1); }
  }
});
if (window.ResizeObserver) new ResizeObserver(() => drawCurve()).observe(curve);
else window.addEventListener("resize", drawCurve);

// ---- decode every frame before play
async function decodeOne(i) {
  const im = new Image();
  im.src = "data:image/jpeg;base64," + D.frames[i];
  await im.decode();
  if (useBitmaps) {
    try { return await createImageBitmap(im); } catch (err) { return im; }
  }
  return im;
}
const useBitmaps = typeof createImageBitmap === "function" && D.bitmap_ok;
body.dataset.decoder = useBitmaps ? "bitmap" : "image";
async function load() {
  let done = 0;
  const batch = 16;
  for (let k = 0; k < n; k += batch) {
    const ids = [];
    for (let i = k; i < Math.min(n, k + batch); i++) ids.push(i);
    const got = await Promise.all(ids.map(decodeOne));
    ids.forEach((i, j) => { imgs[i] = got[j]; });
    done += ids.length;
    if (k === 0) { cur = -1; show(0); }
    if (!ready) loading.textContent = "Decoding frames " + done + "/" + n + "\u2026";
    // playable once a head start is decoded: decoding runs far ahead of playback
    if (!ready && (done >= Math.min(n, 48) || done === n)) enable();
  }
  D.frames = null;
  body.dataset.decoded = "1";
}
function enable() {
  ready = true; loading.remove();
  playBtn.disabled = false; replayBtn.disabled = false; scrub.disabled = false;
  body.dataset.ready = "1";
  setState(); status();
  if (D.autoplay) play();
}
setState();
load().catch((err) => { loading.textContent = "Could not decode the frames: " + err; });
})();
"""


def _page(
    *,
    frames_b64: Sequence[str],
    w: int,
    h: int,
    data: dict[str, Any],
    counters: Sequence[tuple[str, str, str]],
    caption: str,
) -> str:
    """The HTML page; ``counters`` = (label, unit, initial text), all escaped here."""
    scale = MAX_DISPLAY_PX / max(w, h)
    disp_w = round(w * scale)
    css = _CSS % {
        "disp_w": disp_w,
        "reserve": _CONTROLS_PX + _PAGE_PAD_PX,
        "ratio": f"{w / h:.6f}",
        "w": w,
        "h": h,
    }
    esc = html.escape
    cells = "\n".join(
        f'<div class="counter"><dt>{esc(label)}</dt><dd><span id="c{k}">{esc(text)}</span>'
        f'<span class="unit">{esc(unit)}</span></dd></div>'
        for k, (label, unit, text) in enumerate(counters)
    )
    speeds = "\n".join(
        f'<label><input type="radio" name="speed" value="{s:g}"{" checked" if s == 1.0 else ""}>'
        f"{esc(_speed_label(s))}</label>"
        for s in SPEEDS
    )
    cap = f'<p class="caption">{esc(caption)}</p>' if caption else ""
    payload = dict(data, frames=list(frames_b64))
    n = len(frames_b64)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        # no network at all; 'unsafe-eval' only so that test drivers (Playwright's
        # wait_for_function) can evaluate in the page: the page itself never evaluates text
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "img-src data: blob:; style-src 'unsafe-inline'; "
        "script-src 'unsafe-inline' 'unsafe-eval'\">\n"
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{esc(caption or 'Run player')}</title>\n"
        f"<style>{css}</style>\n</head>\n"
        '<body data-frame="0" data-playing="0" data-ready="0" data-ended="0">\n'
        '<div class="wrap">\n<div class="left">\n<div class="screen">'
        f'<canvas id="view" width="{w}" height="{h}" role="img" '
        'aria-label="Fluoroscopy frame"></canvas>'
        '<span id="lih" class="badge" title="Last-image hold" hidden>LIH</span>'
        '<span id="xray" class="badge" hidden>\u25cf X-RAY</span>'
        f'<div id="loading">Decoding {n} frames\u2026</div></div>\n'
        '<div class="controls">'
        '<button id="play" type="button" class="primary" disabled>\u25b6 Play</button>'
        '<button id="replay" type="button" disabled title="Play again from the start">'
        "\u21ba Replay</button>"
        f'<input id="scrub" type="range" min="0" max="{n - 1}" step="1" value="0" disabled '
        'aria-label="Frame (scrub)"></div>\n</div>\n'
        f'<div class="panel">\n{cap}\n<dl class="counters">\n{cells}\n</dl>\n'
        '<canvas id="curve" role="img" aria-label="Cumulative dose against beam time"></canvas>\n'
        f"<fieldset><legend>Speed</legend>{speeds}</fieldset>\n"
        '<fieldset><legend>At the end</legend><label><input type="checkbox" id="loop">Loop'
        "</label></fieldset>\n"
        '<p class="status" id="status" aria-live="off"></p>\n</div>\n</div>\n'
        f'<script type="application/json" id="player-data">{_json_for_script(payload)}</script>\n'
        f"<script>{_JS}</script>\n</body>\n</html>\n"
    )


def _decimate(n: int, k: int) -> np.ndarray:
    if n <= k:
        return np.arange(n)
    return np.unique(np.rint(np.linspace(0.0, n - 1.0, k)).astype(np.int64))


def _sig(x: np.ndarray, digits: int = 6) -> list[float]:
    return [float(f"{v:.{digits}g}") for v in np.asarray(x, dtype=float).tolist()]


def player_html(
    frames: np.ndarray,
    times_s: Any,
    frame_pulse_index: Any,
    series_time_s: Any,
    series: Mapping[str, tuple[Any, str]],
    pulse_rate_pps: float,
    caption: str = "",
    max_bytes: int = 4_500_000,
    *,
    autoplay: bool = False,
) -> PlayerPage:
    """A self-contained player page for a run's frames and dose series.

    Parameters
    ----------
    frames : numpy.ndarray
        Displayed frames, uint8 (n, h, w) [DDL].
    times_s : array_like
        Time of each frame from the start of the run, non-decreasing, n entries [s].
    frame_pulse_index : array_like
        Pulse index of each frame in the series, n entries [-].
    series_time_s : array_like
        Time of each pulse [s].
    series : mapping of str to (array_like, str)
        Counter label to (cumulative value after each pulse, unit); the first is drawn as the
        dose curve. Labels and units are escaped.
    pulse_rate_pps : float
        Pulse (frame) rate of the run [1/s].
    caption : str, optional
        Shown above the counters (escaped).
    max_bytes : int, optional
        Most bytes of the page (UTF-8) [B].
    autoplay : bool, optional
        Start playing once the frames are decoded.

    Returns
    -------
    PlayerPage
        The page and its figures.
    """
    a = _check_frames(frames)
    n, h, w = a.shape
    t = np.asarray(times_s, dtype=np.float64).reshape(-1)
    pulses = np.asarray(frame_pulse_index).reshape(-1)
    st = np.asarray(series_time_s, dtype=np.float64).reshape(-1)
    if t.size != n or pulses.size != n:
        raise ValueError(
            f"times_s ({t.size}) and frame_pulse_index ({pulses.size}) need one entry per frame "
            f"({n})"
        )
    if not np.all(np.isfinite(t)) or np.any(np.diff(t) < 0.0):
        raise ValueError("times_s must be finite and non-decreasing [s]")
    if st.size == 0 or not np.all(np.isfinite(st)):
        raise ValueError("series_time_s must be non-empty and finite [s]")
    if not np.issubdtype(pulses.dtype, np.integer) or pulses.min() < 0 or pulses.max() >= st.size:
        raise ValueError(f"frame_pulse_index must be integers from 0 to {st.size - 1}")
    rate = float(pulse_rate_pps)
    if not math.isfinite(rate) or rate <= 0.0:
        raise ValueError(f"pulse_rate_pps={pulse_rate_pps!r} must be > 0 [1/s]")
    if not isinstance(max_bytes, int | np.integer) or max_bytes <= 0:
        raise ValueError(f"max_bytes={max_bytes!r} must be a positive integer [B]")
    if not series:
        raise ValueError("series needs at least one counter (label -> (values, unit))")
    cols: list[tuple[str, str, np.ndarray]] = []
    for label, pair in series.items():
        values, unit = pair
        v = np.asarray(values, dtype=np.float64).reshape(-1)
        if v.size != st.size or not np.all(np.isfinite(v)):
            raise ValueError(f"series[{label!r}] needs {st.size} finite values, one per pulse")
        cols.append((str(label), str(unit), v))

    period = 1.0 / rate
    beam = st + period  # beam (fluoroscopy) time after each pulse
    duration = float(max(beam[-1], t[-1] + period))
    counters_all = [("Beam time", "s", beam), *cols]
    decimals = [1] + [_decimals(v) for _, _, v in cols]

    # dose curve: (0, 0), then the first series after each pulse (decimated)
    keep = _decimate(st.size, CURVE_POINTS)
    curve_label, curve_unit, curve_v = cols[0]
    curve = {
        "label": curve_label,
        "unit": curve_unit,
        "t": [0.0, *_sig(beam[keep])],
        "v": [0.0, *_sig(curve_v[keep])],
    }

    def data_for(idx: np.ndarray) -> dict[str, Any]:
        p = pulses[idx]
        fps = idx.size / duration
        return {
            "n": int(idx.size),
            "times": t[idx].tolist(),
            "pulses": p.astype(int).tolist(),
            "n_pulses": int(st.size),
            "rate": rate,
            "duration": duration,
            "sub_label": (f"{fps:.3g} of {rate:.3g} frames/s kept" if fps < 0.995 * rate else ""),
            "counters": [
                {"label": lab, "unit": unit, "decimals": d, "values": v[p].tolist()}
                for (lab, unit, v), d in zip(counters_all, decimals, strict=True)
            ],
            "curve": dict(curve, cursor=_sig(curve_v[p])),
            "autoplay": bool(autoplay),
            "bitmap_ok": bool(idx.size * w * h * 4 <= 384 * 2**20),
        }

    def initial(idx: np.ndarray) -> list[tuple[str, str, str]]:
        p0 = int(pulses[idx[0]])
        return [
            (lab, unit, _fmt(v[p0], d))
            for (lab, unit, v), d in zip(counters_all, decimals, strict=True)
        ]

    def render(idx: np.ndarray, b64: Sequence[str]) -> str:
        return _page(
            frames_b64=b64,
            w=w,
            h=h,
            data=data_for(idx),
            counters=initial(idx),
            caption=str(caption),
        )

    def budget_for(idx: np.ndarray) -> int:
        empty = render(idx, [""] * idx.size)
        return int(max_bytes) - len(empty.encode("utf-8")) + 3 * idx.size

    idx, quality, jpegs = _plan(a, duration, budget_for)
    page = render(idx, [base64.b64encode(j).decode("ascii") for j in jpegs])
    size = len(page.encode("utf-8"))
    disp_h = round(h * MAX_DISPLAY_PX / max(w, h))
    height = disp_h + _CONTROLS_PX + _PAGE_PAD_PX + _HEIGHT_SLACK_PX
    return PlayerPage(
        html=page,
        n_frames=int(idx.size),
        quality=int(quality),
        bytes=size,
        height_px=int(height),
        content_fps=float(idx.size / duration),
    )


def player_from_run(
    run_result: Any, max_bytes: int = 4_500_000, caption: str = "", *, autoplay: bool = False
) -> PlayerPage:
    """:func:`player_html` for a :class:`sim.RunResult`: Ka,r, KAP and peak skin dose.

    Parameters
    ----------
    run_result : sim.RunResult
        A run (``frames``, ``times_s``, ``frame_index``, ``series``, ``technique``).
    max_bytes : int, optional
        Most bytes of the page [B].
    caption : str, optional
        Shown above the counters (escaped).
    autoplay : bool, optional
        Start playing once the frames are decoded.

    Returns
    -------
    PlayerPage
        The page and its figures.
    """
    r = run_result
    s = r.series
    return player_html(
        r.frames,
        r.times_s,
        r.frame_index,
        s.time_s,
        {
            "Ka,r": (s.kar_mGy, "mGy"),
            "KAP": (s.kap_Gycm2, "Gy\u00b7cm\u00b2"),
            "Peak skin dose": (s.skin_dose_mGy, "mGy"),
        },
        float(r.technique["pulse_rate_pps"]),
        caption=caption,
        max_bytes=max_bytes,
        autoplay=autoplay,
    )


__all__ = [
    "MAX_DISPLAY_PX",
    "MIN_CONTENT_FPS",
    "QUALITY_FLOOR",
    "QUALITY_MAX",
    "QUALITY_MIN",
    "PlayerPage",
    "encode_frames",
    "player_from_run",
    "player_html",
]
