"""Fluoroscopy runs: frames over time, moving content, temporal processing, dose pulse by pulse.

``run(params) -> RunResult`` plays ``run.fluoro_time_s`` of fluoroscopy at the technique's pulse
rate (continuous mode: 30 frames/s, beam always on). Each pulse is one frame:

Content at time ``t`` (:func:`content_at`)
    Hip injection and lumbar spine (epidural): needle progress ``clip(t / sequence.needle_s, 0,
    1)``; contrast volume ``patient.contrast_ml * clip((t - sequence.inject_s) /
    sequence.fill_s, 0, 1)``. Vessels: the same contrast ramp (a bolus filling the tree from its
    root: the first frame is the DSA mask); swallow: the same ramp for the barium bolus. Other
    phantoms: static, only the noise changes. Optional periodic motion of the
    patient (breathing, swallowing) by ``sequence.motion_mm * sin(2 pi t /
    sequence.motion_period_s)`` along the image y axis, under a fixed collimator.

Content states
    Needle progress is quantised to 1/:data:`NEEDLE_STEPS` of its path and the contrast volume
    to 1/:data:`CONTRAST_STEPS` of ``patient.contrast_ml``; the motion shift to whole pixels.
    The needle therefore advances in steps of a few millimetres, held for several frames, much
    as a needle is pushed between looks. A content state with a new contrast volume or a new
    technique is an *anchor*: the chain's noise-free frame (:func:`sim.chain.expected_frame`).
    A needle position is derived from the anchor locally: the path maps are redone (cheap: the
    anatomy's maps are cached), the primary is re-integrated only on the pixels whose paths
    changed, through the same look-up table for the old and new paths and scaled by the
    anchor's primary there (so every other pixel is the anchor's exactly and any per-pixel
    factor of the chain is kept), and the scatter is the anchor's (estimate: the needle's
    shadow covers about 0.1 % of a 15-20 cm field and absorbs a fraction of the primary there,
    so the scatter, which gathers primary over centimetres, changes by well under 0.1 %).
    Derived states agree with the chain's own frame within 0.03 % (``tests/test_sequence.py``).
    Motion shifts the primary (unmasked, edge-extended, re-masked by the fixed field) and the
    scatter.

Automatic brightness control during a run
    Solved at the start on the first content state, then re-solved whenever the receptor air
    kerma per frame in the ABC sensing region (``rois["center"]``) of a new content state, at
    the technique in force, differs by more than :data:`ABC_DRIFT` from its value right after
    the last solve (contrast arriving, a needle crossing the sensing region). Motion does not
    trigger it. During DSA the technique is locked after the mask frame (a changed technique
    would not subtract). Real controllers react within a few frames; here the new technique
    applies from the first pulse of the new state.

Per frame
    Its own noise (quantum and electronic: :func:`sim.receptor.draw_signal`, seeded by
    ``(run.seed, pulse index)`` so a frame does not depend on which others were drawn), then
    detector lag (``receptor.lag``, :func:`sim.receptor.apply_lag`), frame averaging
    (``processing.frame_average``, a running mean of the last n frames), the recursive filter
    (``processing.recursive_weight``, :func:`sim.processing.recursive_filter`: the moving
    needle leaves a fading trail) and the processing stage (:func:`sim.processing.process`:
    flat field, log, DSA against the first frame, edge enhancement, window/level, 8 bit). The
    last displayed frame is held (last-image hold, ``RunResult.image``).

Frames kept
    At most ``run.max_frames`` frames (evenly spaced pulses, always the first and the last),
    and at most :data:`MAX_FRAME_BYTES` of them. When frames are skipped, each kept frame is
    preceded by a warm-up window long enough for the temporal filters to forget their start
    (residual weight below :data:`TEMPORAL_TOLERANCE`), so a kept frame looks as it would in
    the full run. The dose is accumulated over every pulse regardless.

References
----------
.. [1] J. T. Bushberg, J. A. Seibert, E. M. Leidholdt, J. M. Boone, The Essential Physics of
   Medical Imaging, 3rd ed. (2012), ch. 9: pulsed and continuous fluoroscopy, frame averaging
   and recursive filtering with lag, last-image hold, DSA, automatic brightness control.
.. [2] S. Balter, "Fluoroscopic frame rates: not only dose", AJR 203 (2014) W234: dose per
   pulse and pulse rate are set independently on modern systems.
.. [3] IEC 60601-2-43 and 21 CFR 1020.32(k): cumulative reference air kerma displayed during
   the procedure.
.. [4] J. H. Siewerdsen, D. A. Jaffray, "A ghost story: spatio-temporal response
   characteristics of an indirect-detection flat-panel imager", Med. Phys. 26:1624 (1999).
"""

from __future__ import annotations

import dataclasses
import math
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sim import chain, phantoms, processing, projection, receptor
from sim import dose as dose_mod
from sim import geometry as geo
from sim import metrics as met
from sim.brightness import AbcResult
from sim.params import Params, Technique, technique_from
from sim.spectrum import beam
from sim.units import MS_PER_S, NGY_PER_UGY

NEEDLE_STEPS = 32
"""Needle progress is quantised to 1/32 of its path (a modelling choice: steps of 2.1 mm along
the 68 mm path of the adult hip, about 1.2 mm on the image)."""

CONTRAST_STEPS = 8
"""The contrast volume is quantised to 1/8 of ``patient.contrast_ml`` (a modelling choice)."""

# What a run does with each phantom is read from its registry entry (sim.phantoms): a needle
# advances (``needle``), iodinated contrast arrives (``iodine``), or a barium bolus passes down
# (``bolus``): from ``sequence.inject_s`` on, one swallow every SWALLOW_INTERVAL_S; each bolus
# travels down for ``sequence.fill_s`` (its position is the ``needle_progress`` channel, 0 at
# the hypopharynx, 1 at the end of its travel) and is gone until the next swallow.

SWALLOW_INTERVAL_S = 15.0
"""Time between swallows in a swallow study [s]. # guess: videofluoroscopic studies give a
series of boluses (thin, thick, solid), typically several per minute of screening."""

ABC_DRIFT = 0.10
"""Relative drift of the receptor air kerma per frame that makes ABC re-solve [-].

# guess: a modelling choice; real controllers regulate continuously with a loop gain < 1."""

TEMPORAL_TOLERANCE = 0.01
"""Residual weight of the frames before a warm-up window (lag and recursive filter) [-].

A modelling choice: 1 % of a frame's weight is below the quantum noise of every frame."""

LOCAL_MAX_FRACTION = 0.25
"""A content state whose path maps change on more than this fraction of the pixels is
computed by the chain in full instead of locally [-]."""

MAX_FRAME_BYTES = 512 * 2**20
"""Most bytes of 8-bit frames a run keeps (fewer frames are kept for very large images)."""

_MODEL_CACHE_BYTES = 256 * 2**20  # prepared noise models kept during a run (motion states)
_STATE_CACHE = 6  # content states (maps) kept during a run
_MASK_FLOOR = 1e-3  # field-mask weight below which the unmasked primary is not recovered
_DETECTOR_MAPS = ("quanta", "abs_quanta", "abs_energy_keV", "abs_energy2_keV2")  # detect() needs


# --------------------------------------------------------------------------------------------
# content over time
# --------------------------------------------------------------------------------------------
def _ramp(x: np.ndarray) -> np.ndarray:
    return np.clip(x, 0.0, 1.0)


def content_at(params: Params, times_s: Any) -> dict[str, np.ndarray]:
    """What the patient holds at each time: needle progress, contrast volume, motion shift.

    Parameters
    ----------
    params : sim.Params
        ``patient.*`` and ``sequence.*`` knobs.
    times_s : array_like
        Times from the start of fluoroscopy, >= 0 [s].

    Returns
    -------
    dict of str to numpy.ndarray
        ``needle_progress`` (quantised to 1/:data:`NEEDLE_STEPS`; :data:`NEEDLE_PHANTOMS`,
        else the knob) [-], ``contrast_ml`` (quantised to 1/:data:`CONTRAST_STEPS` of the
        knob; :data:`CONTRAST_PHANTOMS`, else the knob) [ml] and ``shift_mm`` (patient
        displacement along y, not quantised) [mm], each of the shape of ``times_s``.

    References
    ----------
    Timeline of a fluoroscopy-guided joint injection: needle placement, then contrast to
    confirm the intra-articular position (Bushberg et al. 2012, ch. 9; the durations are the
    ``sequence.*`` knobs).
    """
    if not isinstance(params, Params):
        raise ValueError(f"params must be a sim.Params, got {type(params).__name__}")
    t = np.asarray(times_s, dtype=np.float64)
    if not np.all(np.isfinite(t)) or np.any(t < 0.0):
        raise ValueError("times_s must be finite and >= 0 [s]")
    pt, sq = params.patient, params.sequence
    kind = phantoms.entry(pt.phantom)
    if kind.needle:
        prog = _ramp(t / sq.needle_s) if sq.needle_s > 0.0 else np.ones_like(t)
        prog = np.round(prog * NEEDLE_STEPS) / NEEDLE_STEPS
    else:
        prog = np.full_like(t, pt.needle_progress)
    if kind.bolus:
        since = t - sq.inject_s
        phase = np.where(since >= 0.0, np.mod(since, SWALLOW_INTERVAL_S), -1.0) / sq.fill_s
        passing = (phase >= 0.0) & (phase < 1.0)
        prog = np.where(passing, np.round(_ramp(phase) * NEEDLE_STEPS) / NEEDLE_STEPS, 0.0)
        vol = np.where(passing, pt.contrast_ml, 0.0)
    elif kind.iodine and pt.contrast_ml > 0.0:
        frac = _ramp((t - sq.inject_s) / sq.fill_s)
        vol = pt.contrast_ml * np.round(frac * CONTRAST_STEPS) / CONTRAST_STEPS
    else:
        vol = np.full_like(t, pt.contrast_ml)
    shift = sq.motion_mm * np.sin(2.0 * math.pi * t / sq.motion_period_s)
    return {"needle_progress": prog, "contrast_ml": vol, "shift_mm": shift}


def kept_frames(n_pulses: int, max_frames: int) -> np.ndarray:
    """Indices of the pulses kept as images: all, or ``max_frames`` evenly spaced ones.

    Parameters
    ----------
    n_pulses : int
        Pulses in the run, >= 1 [-].
    max_frames : int
        Most frames kept, >= 1 [-].

    Returns
    -------
    numpy.ndarray
        Increasing pulse indices, first 0 and last ``n_pulses - 1`` (when ``max_frames`` > 1).

    References
    ----------
    Definition (uniform subsampling of the pulse train).
    """
    n, k = int(n_pulses), int(max_frames)
    if n < 1 or k < 1:
        raise ValueError(f"n_pulses={n_pulses} and max_frames={max_frames} must be >= 1")
    if n <= k:
        return np.arange(n)
    if k == 1:
        return np.array([n - 1])
    return np.unique(np.rint(np.linspace(0.0, n - 1.0, k)).astype(np.int64))


def warmup_frames(params: Params) -> int:
    """Frames needed before a kept frame for the temporal filters to forget their start.

    Lag ``g`` and recursive weight ``w`` leave ``g**k`` and ``w**k`` of a frame ``k`` frames
    later; a window of ``k(g) + k(w) + (frame_average - 1)`` frames, with ``x**k <=``
    :data:`TEMPORAL_TOLERANCE`, suffices.

    Parameters
    ----------
    params : sim.Params
        ``receptor.lag``, ``processing.recursive_weight``, ``processing.frame_average``.

    Returns
    -------
    int
        Frames [-].

    References
    ----------
    Impulse responses of first-order recursive filters (Bushberg et al. 2012, ch. 9).
    """

    def k(x: float) -> int:
        if x <= 0.0:
            return 0
        return math.ceil(math.log(TEMPORAL_TOLERANCE) / math.log(x))

    pr = params.processing
    return k(params.receptor.lag) + k(pr.recursive_weight) + int(pr.frame_average) - 1


# --------------------------------------------------------------------------------------------
# content states: noise-free maps, locally updated between anchors
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class _Anchor:
    """A chain frame and the split of its receptor maps: after = tp * primary + ts * scatter."""

    params: Params
    technique: Technique
    expected: chain.Expected
    tp: dict[str, float]
    ts: dict[str, float]


@dataclass(frozen=True, eq=False)
class _State:
    """Noise-free maps of one content state at one technique."""

    params: Params
    anchor: _Anchor
    primary: dict[str, np.ndarray]
    receptor_nGy: float
    local: bool


class _Engine:
    """Content states, noise models and flat fields of one run (caches live for the run)."""

    def __init__(self, p: Params) -> None:
        self.p = p
        self.scene = chain.scene(p.geometry, p.patient, p.run.image_px)
        self.grid = self.scene.grid
        self.geometry = geo.geometry_from(p)  # with the focal spot (the scene's has none)
        self.mask = self.scene.field_mask.view()
        self.mask.flags.writeable = False  # read-only: processing caches its blur for the run
        self.centre = self.scene.rois["center"]
        self.anchors: dict[tuple, _Anchor] = {}
        self.states: OrderedDict[tuple, _State] = OrderedDict()
        self.models: OrderedDict[tuple, receptor.NoiseModel] = OrderedDict()
        self.model_bytes = 0
        self._rows: dict[int, np.ndarray] = {}
        self._unmasked: OrderedDict[tuple, dict[str, np.ndarray]] = OrderedDict()
        self.n_local = 0
        self.n_anchor = 0

    # ---- parameters of a content state
    def params_for(self, prog: float, vol: float) -> Params:
        return self.p.replace(
            **{"patient.needle_progress": float(prog), "patient.contrast_ml": float(vol)}
        )

    # ---- anchors: the chain's frame
    def _anchor(self, prog: float, vol: float, t: Technique) -> _Anchor:
        key = (vol, t)
        a = self.anchors.get(key)
        if a is None:
            a = self._new_anchor(self.params_for(prog, vol), t)
            self.anchors = {k: v for k, v in self.anchors.items() if k[1] == t}  # old ones out
            self.anchors[key] = a
        return a

    def _new_anchor(self, q: Params, t: Technique) -> _Anchor:
        e = chain.expected_frame(q, t)
        self.n_anchor += 1
        return _Anchor(q, t, e, e.grid_tp, e.grid_ts)

    def state(self, prog: float, vol: float, t: Technique) -> _State:
        key = (prog, vol, t)
        s = self.states.get(key)
        if s is not None:
            self.states.move_to_end(key)
            return s
        a = self._anchor(prog, vol, t)
        q = self.params_for(prog, vol)
        if q.patient == a.params.patient:
            nGy = self._receptor_nGy(a, a.expected.primary)
            s = _State(q, a, a.expected.primary, nGy, False)
        else:
            primary = self._local_primary(a, q)
            if primary is None:  # too much changed: the chain's frame, a new anchor
                a = self._new_anchor(q, t)
                self.anchors[(vol, t)] = a
                primary, local = a.expected.primary, False
            else:
                local = True
                self.n_local += 1
            s = _State(q, a, primary, self._receptor_nGy(a, primary), local)
        self.states[key] = s
        if len(self.states) > _STATE_CACHE:
            self.states.popitem(last=False)
        return s

    def _receptor_nGy(self, a: _Anchor, primary: dict[str, np.ndarray]) -> float:
        """Receptor air kerma per frame in the ABC sensing region [nGy]."""
        k = "kerma_uGy"
        c = self.centre
        after = primary[k][c] * a.tp[k] + a.expected.scatter[k][c] * a.ts[k]
        return float(np.mean(after)) * NGY_PER_UGY

    def _local_primary(self, a: _Anchor, q: Params) -> dict[str, np.ndarray] | None:
        """Primary maps of ``q`` re-integrated where its paths differ from the anchor's."""
        sc = self.scene
        new = phantoms.path_lengths(phantoms.build_phantom(q), sc.geometry, sc.grid)
        old = a.expected.paths
        changed = np.zeros(self.mask.shape, dtype=bool)
        for m in set(new) | set(old):
            x, y = new.get(m), old.get(m)
            if x is None or y is None:
                changed |= (x if y is None else y) > 0.0
            else:
                changed |= x != y
        n_changed = int(np.count_nonzero(changed))
        if n_changed == 0:
            return a.expected.primary
        if n_changed > LOCAL_MAX_FRACTION * changed.size:
            return None
        mats = sorted(set(new) | set(old))
        zero = np.zeros(n_changed, dtype=np.float32)
        sub_new = {m: (new[m][changed] if m in new else zero)[None, :] for m in mats}
        sub_old = {m: (old[m][changed] if m in old else zero)[None, :] for m in mats}
        lut = self._lut(a, new, old, mats)
        sid = sc.geometry.sid_cm
        out_new = lut.evaluate({m: v for m, v in sub_new.items() if v.any()}, sid)
        out_old = lut.evaluate({m: v for m, v in sub_old.items() if v.any()}, sid)
        primary = {}
        for k, base in a.expected.primary.items():
            ref = base[changed]
            lut_old = out_old[k][0]
            ratio = np.divide(ref, lut_old, out=np.zeros_like(ref), where=lut_old > 0.0)
            img = base.copy()
            img[changed] = out_new[k][0] * ratio
            primary[k] = img
        return primary

    def _lut(self, a: _Anchor, new: dict, old: dict, mats: list[str]) -> projection.Lut:
        """One look-up table for the old and new paths (cached by the projection module)."""
        q = a.params
        filtered = a.expected.spectra["spectrum_filtered"]  # per mAs at 100 cm, before the table
        spec = filtered.filtered(dose_mod.table_layers()) if q.geometry.table else filtered
        maxima = {m: max(float(d[m].max()) if m in d else 0.0 for d in (new, old)) for m in mats}
        weights = chain.receptor_of(q).weights(spec.energy_keV)
        return projection.build_lut(spec.scaled(a.technique.mas_per_frame), maxima, weights)

    def _after(
        self,
        a: _Anchor,
        primary: dict[str, np.ndarray],
        e_scatter: dict[str, np.ndarray],
        shift_px: int = 0,
        key: tuple | None = None,
    ) -> dict[str, np.ndarray]:
        """Maps after the grid, optionally with the patient shifted by ``shift_px`` rows."""
        terms = {}
        for k in _DETECTOR_MAPS:
            p, s = primary[k], e_scatter[k]
            if shift_px:
                p = self._shift_primary(k, p, shift_px, key)  # masked: zero outside the field
                s = s[self._clamped_rows(shift_px)]
            terms[k] = ((p, a.tp[k]), (s, a.ts[k]))
        return chain.after_grid(terms, self.geometry, self.grid.pixel_mm, self.scene.field_box)

    # ---- motion: shift under a fixed collimator
    def _rows_for(self, shift_px: int) -> np.ndarray:
        """Source row of every pixel for a shift, edge-extended inside each column's field."""
        rows = self._rows.get(shift_px)
        if rows is None:
            inside = self.mask > _MASK_FLOOR
            n = inside.shape[0]
            has = inside.any(axis=0)
            first = np.where(has, inside.argmax(axis=0), 0)
            last = np.where(has, n - 1 - inside[::-1].argmax(axis=0), n - 1)
            src = np.arange(n)[:, None] - shift_px
            rows = np.clip(src, first[None, :], last[None, :]).astype(np.intp)
            self._rows[shift_px] = rows
        return rows

    def _clamped_rows(self, shift_px: int) -> np.ndarray:
        n = self.mask.shape[0]
        return np.clip(np.arange(n) - shift_px, 0, n - 1)

    def _shift_primary(self, k: str, p: np.ndarray, shift_px: int, key: tuple | None) -> np.ndarray:
        cache_key = (key, k)
        unmasked = self._unmasked.get(cache_key)
        if unmasked is None:
            unmasked = np.divide(p, self.mask, out=np.zeros_like(p), where=self.mask > _MASK_FLOOR)
            self._unmasked[cache_key] = unmasked
            if len(self._unmasked) > 5 * _STATE_CACHE:
                self._unmasked.popitem(last=False)
        moved = np.take_along_axis(unmasked, self._rows_for(shift_px), axis=0)
        moved *= self.mask
        return moved

    # ---- what a frame needs
    def model(self, s: _State, key: tuple, shift_px: int) -> receptor.NoiseModel:
        mkey = (key, shift_px)
        m = self.models.get(mkey)
        if m is not None:
            self.models.move_to_end(mkey)
            return m
        a = s.anchor
        rx, noise = chain.receptor_of(s.params), s.params.run.noise
        if not s.local and shift_px == 0 and s.primary is a.expected.primary:
            m = receptor.noise_model(
                a.expected.after_grid,
                rx,
                self.grid,
                expected=a.expected.detector_expected,
                noise=noise,
            )
        else:
            after = self._after(a, s.primary, a.expected.scatter, shift_px, key)
            m = receptor.noise_model(after, rx, self.grid, noise=noise)
        self.models[mkey] = m
        self.model_bytes += _model_bytes(m)
        while self.model_bytes > _MODEL_CACHE_BYTES and len(self.models) > 1:
            _, old = self.models.popitem(last=False)
            self.model_bytes -= _model_bytes(old)
        return m

    def rois(self, s: _State, shift_px: int) -> dict[str, np.ndarray]:
        r = chain.scene(s.params.geometry, s.params.patient, s.params.run.image_px).rois
        if not shift_px:
            return dict(r)
        out = {}
        for name, mask in r.items():
            if name == "center":
                out[name] = mask
                continue
            moved = np.zeros_like(mask)
            if shift_px > 0:
                moved[shift_px:] = mask[:-shift_px]
            else:
                moved[:shift_px] = mask[-shift_px:]
            out[name] = moved
        return out


def _model_bytes(m: receptor.NoiseModel) -> int:
    arrays = (m.detected.expected, m.quantum_sd, m.noise_gain)
    return sum(a.nbytes for a in arrays if isinstance(a, np.ndarray)) + 256


class _Temporal:
    """Detector lag, running frame average and recursive filter along a run (stateful)."""

    def __init__(self, lag: float, weight: float, n_average: int) -> None:
        self.lag, self.weight, self.n_average = lag, weight, n_average
        self.lagged = self.filtered = self.total = None
        self.window: list[np.ndarray] = []

    def __call__(self, x: np.ndarray, restart: bool = False) -> np.ndarray:
        """Next output for the detected frame ``x``; ``restart`` forgets the past."""
        if restart:
            self.lagged = self.filtered = self.total = None
            self.window = []
        if self.lag > 0.0:
            self.lagged = receptor.apply_lag(x, self.lagged, self.lag)
        else:
            self.lagged = x
        if self.n_average > 1:  # running mean of the last n frames (processing.frame_average)
            self.window.append(self.lagged)
            if self.total is None:
                self.total = self.lagged.copy()
            else:
                self.total += self.lagged
            if len(self.window) > self.n_average:
                self.total -= self.window.pop(0)
            x = self.total * np.float32(1.0 / len(self.window))
        else:
            x = self.lagged
        if self.weight > 0.0:
            self.filtered = processing.recursive_filter(self.filtered, x, self.weight)
        else:
            self.filtered = x
        return self.filtered


# --------------------------------------------------------------------------------------------
# the run
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class RunResult:
    """A fluoroscopy run.

    Attributes
    ----------
    params : sim.Params
        The parameters.
    image : numpy.ndarray
        Last-image hold: the last displayed frame, uint8 (h, w) [DDL].
    frames : numpy.ndarray
        Displayed frames kept, uint8 (n, h, w) [DDL].
    times_s : numpy.ndarray
        Time of each kept frame from the start [s].
    frame_index : numpy.ndarray
        Pulse index of each kept frame [-].
    technique : dict
        Technique of the last pulse (``kvp``, ``ma``, ``pulse_ms``, ``pulse_rate_pps``,
        ``cu_mm``, ``mas_per_frame``; ``abc_limited``, ``abc_solves`` with ABC).
    kvp, ma, pulse_ms, cu_mm : numpy.ndarray
        Technique of each kept frame [kV, mA, ms, mm].
    content : dict of str to numpy.ndarray
        ``needle_progress`` [-], ``contrast_ml`` [ml], ``shift_mm`` [mm] of each kept frame.
    series : sim.dose.DoseSeries
        Cumulative Ka,r [mGy], KAP [Gy cm^2] and skin dose [mGy] after every pulse.
    dose : dict
        Final dose report, the keys of ``sim.Result.dose`` (totals are pulse-by-pulse sums).
    metrics : dict
        Chain figures of the last content state and contrast, SNR, CNR of the last frame
        (after the temporal filters), DQE(0), figure of merit, run counters.
    stages : dict
        ``last_image_hold`` (uint8), ``last_signal`` (filtered detector signal, float32),
        ``last_expected`` (its noise-free counterpart), ``rois`` (of the last frame), ``mask``
        (DSA mask signal, when DSA is on).
    abc : tuple of sim.brightness.AbcResult
        Every ABC solve of the run, in order.
    abc_times_s : numpy.ndarray
        Time of each solve [s].
    """

    params: Params
    image: np.ndarray
    frames: np.ndarray
    times_s: np.ndarray
    frame_index: np.ndarray
    technique: dict[str, Any]
    kvp: np.ndarray
    ma: np.ndarray
    pulse_ms: np.ndarray
    cu_mm: np.ndarray
    content: dict[str, np.ndarray]
    series: dose_mod.DoseSeries
    dose: dict[str, Any]
    metrics: dict[str, float]
    stages: dict[str, Any] = field(default_factory=dict)
    abc: tuple[AbcResult, ...] = ()
    abc_times_s: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def summary(self) -> dict[str, dict[str, Any]]:
        """JSON-ready technique, dose and metrics."""

        def clean(d: dict) -> dict:
            return {k: chain._json_scalar(v) for k, v in d.items() if np.isscalar(v)}

        return {
            "technique": clean(self.technique),
            "dose": clean(self.dose),
            "metrics": clean(self.metrics),
        }


def _segments(keys: list[tuple]) -> list[tuple[int, int]]:
    """(start, stop) pulse ranges of equal consecutive keys."""
    out, start = [], 0
    for i in range(1, len(keys) + 1):
        if i == len(keys) or keys[i] != keys[start]:
            out.append((start, i))
            start = i
    return out


def _mean_frame_dose(frames: list[dose_mod.FrameDose], counts: list[int]) -> dose_mod.FrameDose:
    """Pulse-weighted mean of per-pulse doses (so totals = mean x pulses = exact sums)."""
    n = sum(counts)
    last = frames[-1]
    if len(frames) == 1:
        return last

    def mean(name: str) -> float:
        return sum(getattr(f, name) * c for f, c in zip(frames, counts, strict=True)) / n

    return dataclasses.replace(
        last,
        kar_uGy=mean("kar_uGy"),
        kap_uGycm2=mean("kap_uGycm2"),
        skin_uGy=mean("skin_uGy"),
        esak_uGy=mean("esak_uGy"),
        incident_uGy=mean("incident_uGy"),
        mas=mean("mas"),
    )


def run(params: Params, progress: Callable[[float], Any] | None = None) -> RunResult:
    """Play a fluoroscopy run: frames over time, temporal processing and dose pulse by pulse.

    Parameters
    ----------
    params : sim.Params
        All knobs; ``run.fluoro_time_s``, ``run.max_frames``, ``run.seed``, ``sequence.*``
        and the temporal ``processing.*`` knobs matter here.
    progress : callable, optional
        Called with the fraction of the run done, 0 to 1, after each content state (for a
        progress bar) [-].

    Returns
    -------
    RunResult
        Frames, last-image hold, dose series and report, technique per frame, metrics.

    References
    ----------
    See the module docstring (Bushberg et al. 2012, ch. 9; Balter 2014; IEC 60601-2-43).
    """
    if not isinstance(params, Params):
        raise ValueError(f"run() needs a sim.Params, got {type(params).__name__}")
    if progress is not None and not callable(progress):
        raise ValueError(f"progress={progress!r} must be callable (fraction done, 0-1) or None")
    p = params
    t_knobs = technique_from(p)
    n = dose_mod.frames_in(p.run.fluoro_time_s, t_knobs)
    times = np.arange(n, dtype=np.float64) * t_knobs.frame_time_s
    content = content_at(p, times)
    engine = _Engine(p)
    grid = engine.grid
    px = grid.n_px
    g = engine.scene.geometry
    mid_cm = g.source_skin_cm + 0.5 * p.patient.thickness_cm
    mag = g.sid_cm / mid_cm
    shift_px = np.rint(content["shift_mm"] * mag / grid.pixel_mm).astype(np.int64)
    shift_px = np.clip(shift_px, -(px - 1), px - 1)

    # frames kept, with warm-up windows for the temporal filters
    k_max = max(1, min(p.run.max_frames, MAX_FRAME_BYTES // (px * px)))
    kept = kept_frames(n, k_max)
    warm = warmup_frames(p)
    todo = np.zeros(n, dtype=bool)
    for i in kept.tolist():
        todo[max(0, i - warm) : i + 1] = True
    is_kept = np.zeros(n, dtype=bool)
    is_kept[kept] = True
    frames = np.empty((kept.size, px, px), dtype=np.uint8)

    pr = p.processing
    view = chain.view_mask(p)  # field (and II input circle): where the window is measured
    temporal = _Temporal(float(p.receptor.lag), float(pr.recursive_weight), int(pr.frame_average))
    seed = int(p.run.seed)
    keys = list(
        zip(content["needle_progress"].tolist(), content["contrast_ml"].tolist(), strict=True)
    )
    segments = _segments(keys)
    seg_of = np.empty(n, dtype=np.int64)
    techniques: list[Technique] = []
    receptor_nGy: list[float] = []
    solves: list[AbcResult] = []
    solve_times: list[float] = []
    t: Technique | None = None
    ref_nGy = 0.0
    dsa_mask = last_signal = None
    j_out, prev = 0, -2
    # one pass in time order: content state, ABC, then the frames of that state
    for j, (start, stop) in enumerate(segments):
        seg_of[start:stop] = j
        prog, vol = keys[start]
        if t is None:
            t, res = chain.choose_technique(engine.params_for(prog, vol))
            if res is not None:
                solves.append(res)
                solve_times.append(float(times[start]))
            ref_nGy = engine.state(prog, vol, t).receptor_nGy
        elif p.abc.enabled and not pr.dsa:  # DSA: the technique is locked after the mask
            now = engine.state(prog, vol, t).receptor_nGy
            if ref_nGy > 0.0 and abs(now / ref_nGy - 1.0) > ABC_DRIFT:
                t, res = chain.choose_technique(engine.params_for(prog, vol))
                solves.append(res)
                solve_times.append(float(times[start]))
                ref_nGy = engine.state(prog, vol, t).receptor_nGy
        s = engine.state(prog, vol, t)
        techniques.append(t)
        receptor_nGy.append(s.receptor_nGy)
        flat = s.anchor.expected.flat
        for i in (start + np.flatnonzero(todo[start:stop])).tolist():
            model = engine.model(s, (prog, vol, t), int(shift_px[i]))
            x = receptor.draw_signal(model, np.random.default_rng([seed, i]))
            y = temporal(x, restart=i != prev + 1)
            prev = i
            if pr.dsa and dsa_mask is None:
                dsa_mask = y.copy()
            if is_kept[i]:
                out = processing.process(
                    y, flat, view, p.processing, grid.pixel_mm, dsa_mask_signal=dsa_mask
                )
                frames[j_out] = out.display
                j_out += 1
                last_signal = y
        if progress is not None:
            progress(stop / n)

    # dose, pulse by pulse
    by_technique: dict[Technique, dose_mod.FrameDose] = {}
    for tq in techniques:
        if tq not in by_technique:
            filtered = beam(tq.kvp, p.tube.anode_angle_deg, p.filtration.al_mm, tq.cu_mm)[1]
            by_technique[tq] = dose_mod.frame_dose(filtered, tq, g, p.geometry.table)
    series = dose_mod.accumulate([by_technique[techniques[j]] for j in seg_of.tolist()], times)
    counts = [stop - start for start, stop in segments]
    t_last = techniques[-1]
    report = dose_mod.dose_report(
        _mean_frame_dose([by_technique[tq] for tq in techniques], counts),
        t_last,
        p.run.fluoro_time_s,
        p.dose.region,
        p.abc.high_level,
        float(np.dot(receptor_nGy, counts) / n),
    )

    # the last frame: its noise-free counterpart through the same temporal filters
    i_last = int(kept[-1])
    i0 = max(0, i_last - warm)
    expected_filter = _Temporal(temporal.lag, temporal.weight, temporal.n_average)
    y_expected = None
    for i in range(i0, i_last + 1):
        key = (*keys[segments[int(seg_of[i])][0]], techniques[int(seg_of[i])])
        m = engine.model(engine.state(*key), key, int(shift_px[i]))
        y_expected = expected_filter(m.detected.expected, restart=i == i0)
    key = (*keys[segments[int(seg_of[i_last])][0]], t_last)
    s_last = engine.state(*key)
    m_last = engine.model(s_last, key, int(shift_px[i_last]))
    rois = chain.exposed_rois(p, engine.rois(s_last, int(shift_px[i_last])))

    metrics: dict[str, Any] = dict(s_last.anchor.expected.figures)
    metrics["receptor_nGy_per_frame"] = s_last.receptor_nGy
    metrics.update(met.image_metrics(last_signal, y_expected, rois))
    metrics["dqe0"] = float(m_last.detected.dqe0)
    metrics["figure_of_merit"] = met.figure_of_merit(metrics["cnr"], report["kar_mGy"])
    metrics["recursive_noise_factor"] = math.sqrt(
        processing.recursive_variance_factor(temporal.weight)
    )
    metrics["pulses"] = n
    metrics["frames_kept"] = int(kept.size)
    metrics["frames_detected"] = int(np.count_nonzero(todo))
    metrics["content_states"] = len(segments)
    metrics["anchor_frames"] = engine.n_anchor
    metrics["local_states"] = engine.n_local

    technique = t_last.as_dict()
    if solves:
        technique["abc_limited"] = bool(solves[-1].limited)
        technique["abc_solves"] = len(solves)
    kept_t = [techniques[int(seg_of[i])] for i in kept.tolist()]
    image = processing.last_image_hold(frames).astype(np.uint8)
    stages: dict[str, Any] = {
        "last_image_hold": image,
        "last_signal": last_signal,
        "last_expected": y_expected,
        "rois": rois,
    }
    if dsa_mask is not None:
        stages["mask"] = dsa_mask
    return RunResult(
        params=p,
        image=image,
        frames=frames,
        times_s=times[kept],
        frame_index=kept,
        technique=technique,
        kvp=np.array([tq.kvp for tq in kept_t]),
        ma=np.array([tq.ma for tq in kept_t]),
        pulse_ms=np.array([tq.exposure_s * MS_PER_S for tq in kept_t]),
        cu_mm=np.array([tq.cu_mm for tq in kept_t]),
        content={k: v[kept] for k, v in content.items()},
        series=series,
        dose=report,
        metrics=metrics,
        stages=stages,
        abc=tuple(solves),
        abc_times_s=np.array(solve_times),
    )


__all__ = [
    "ABC_DRIFT",
    "CONTRAST_STEPS",
    "NEEDLE_STEPS",
    "RunResult",
    "content_at",
    "kept_frames",
    "run",
    "warmup_frames",
]
