"""The app's controls and views: Image, Chain, Beam, Dose, Run, Compare, Lessons.

Each view draws from cached, compact results (:mod:`classroom.frames`); a rerun draws only the
view in sight. Every number on screen is labelled through :mod:`sim.quantities` (display name,
unit, meaning), so no raw key reaches the screen.
"""

from __future__ import annotations

import csv
import io
import json
import math
import threading
import time
import tomllib
from collections import OrderedDict
from functools import lru_cache
from typing import Any

import numpy as np
import streamlit as st

from classroom import controls as ctl
from classroom import frames as fr
from classroom import graphics, workers
from sim.materials import asset_path
from sim.params import KNOBS, Params
from sim.plotting import series_figure, spectrum_figure
from sim.presets import PRESETS
from sim.quantities import quantity

FRAME_CACHE_ENTRIES = 48
"""Cached frames shared by every session: about 2 MB each at 512 px (about 100 MB)."""

RUN_CACHE_ENTRIES = 6
"""Cached runs shared by every session: at most 5 MB of player each (about 30 MB)."""

SCENARIO_LABEL = "Defaults (adult hip, ABC on)"

SPECTRUM_WIDTH_PX = 480
"""Width of a spectrum plot in the Chain view [px]."""

STAGE_WIDTH_PX = 300
"""Width of a stage image in the Chain view [px] (three side by side, above the fold)."""


# ------------------------------------------------------------------------------ formatting
def fmt(key: str, value: Any) -> str:
    """A value with its unit, rounded to meaningful digits."""
    return quantity(key).format(value)


def name(key: str) -> str:
    """Display name with unit in brackets."""
    q = quantity(key)
    return f"{q.label} [{q.unit}]" if q.unit else q.label


def metric(col, key: str, values: dict, section: str) -> None:
    """An ``st.metric`` for a quantity, its meaning as the tooltip."""
    q = quantity(f"{section}.{key}")
    col.metric(q.label, fmt(f"{section}.{key}", values[key]), help=q.meaning)


def metric_grid(source: Any, *keys: str, columns: int = 2) -> None:
    """``st.metric`` of each dotted quantity key, read from ``source.technique/.dose/.metrics``
    (or a plain mapping of sections), laid out in columns."""
    cols = st.columns(columns)
    for i, key in enumerate(keys):
        section, name = key.split(".", 1)
        values = source[section] if isinstance(source, dict) else getattr(source, section)
        metric(cols[i % columns], name, values, section)


# ------------------------------------------------------------------------------ computing
@st.cache_resource
def _frame_pool() -> workers.FramePool:
    try:
        return workers.FramePool(workers.worker_count())
    except ValueError as exc:  # the server's environment, not the student's settings
        raise RuntimeError(f"server setting: {exc}") from None


@st.cache_data(max_entries=FRAME_CACHE_ENTRIES, show_spinner=False)
def _cached_frame(items: tuple) -> fr.FrameView:
    return _frame_pool().frame(items)


def frame(values: dict[str, Any]) -> fr.FrameView:
    """The frame for these knob values (cached; ABC-owned knobs do not split the cache)."""
    return _cached_frame(workers.frame_items(ctl.canonical(values)))


def frame_for(values: dict[str, Any]) -> fr.FrameView | None:
    """The frame, or a message in place of the view when the physics refuses the settings."""
    try:
        return frame(values)
    except ValueError as exc:
        st.error(f"These settings cannot be simulated: {exc}")
    except Exception as exc:  # noqa: BLE001 - a student sees a message, never a traceback
        st.error(f"The simulation failed ({type(exc).__name__}: {exc}). Please report it.")
    return None


@st.cache_data(max_entries=64, show_spinner=False)
def _figure_png(kind: str, key: tuple) -> bytes:
    """A matplotlib figure as PNG bytes, cached by what made it."""
    fig = _FIGURES[kind](*key)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    return buf.getvalue()


def _beam_plot(items: tuple) -> Any:
    view = frame(dict(items))
    t = view.technique
    s = view.spectra
    al = view.values["filtration.al_mm"]
    return spectrum_figure(
        {
            f"at the tube, {t['kvp']:.1f} kV": s["spectrum_tube"],
            f"after {al:g} mm Al + {t['cu_mm']:.2f} mm Cu": s["spectrum_filtered"],
        },
        log=True,
        e_min_keV=10.0,
    )


def _chain_plot(items: tuple, names: tuple) -> Any:
    view = frame(dict(items))
    labels = {
        "spectrum_tube": "at the tube",
        "spectrum_filtered": "entering the patient",
        "spectrum_patient": "leaving the patient (field centre)",
        "spectrum_absorbed": "absorbed in the receptor",
    }
    return spectrum_figure(
        {labels[n]: view.spectra[n] for n in names},
        per_mas=False,
        normalise=True,
        e_min_keV=10.0,
    )


_FIGURES = {"beam": _beam_plot, "chain": _chain_plot}


def _png(image: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    return buf.getvalue()


# ------------------------------------------------------------------------------ sidebar
def _seed(name: str, value: Any, text: bool = False) -> None:
    if name not in st.session_state:
        st.session_state[name] = _text(value) if text else value


def _text(value: Any) -> str:
    return f"{value:.10g}" if isinstance(value, float) else str(value)


def _parse_text(name: str) -> None:
    """A typed value: taken when valid; otherwise a message and the previous value kept."""
    store = st.session_state["knobs"]
    try:
        store[name] = KNOBS[name].parse(str(st.session_state[name])[:100])
        st.session_state.setdefault("notes", {}).pop(name, None)
    except ValueError as exc:
        st.session_state.setdefault("notes", {})[name] = f"⚠ {exc}; kept {_text(store[name])}."
        st.session_state[name] = _text(store[name])


def _shown(values: dict[str, Any], view: fr.FrameView | None) -> dict[str, tuple[float, str]]:
    """Controls shown disabled at the value the image used, with why."""
    out: dict[str, tuple[float, str]] = {}
    if view is not None:
        for n, v in ctl.shown_by_technique(values, view.technique).items():
            owned = n in ctl.abc_owned(values)
            why = "set by ABC" if owned else "removed by ABC at the end of its curve"
            out[n] = (v, why)
    if values["tube.mode"] == "continuous":
        out["tube.pulse_rate_pps"] = (30.0, "continuous mode: 30 frames/s")
        if view is not None:
            out["tube.pulse_ms"] = (
                view.technique["pulse_ms"],
                "continuous mode: the beam is on all frame",
            )
    return out


def _unused(values: dict[str, Any]) -> dict[str, str]:
    """Controls that do nothing under these settings, with why (shown disabled)."""
    out = {}
    if not values["grid.enabled"]:
        for n in ("grid.ratio", "grid.lines_per_cm", "grid.strip_um", "grid.interspace"):
            out[n] = "no grid in the beam"
    if values["receptor.kind"] != "image_intensifier":
        out["receptor.ii_glare"] = "image intensifier only"
    if values["processing.auto_window"]:
        out["processing.window"] = out["processing.level"] = "automatic window is on"
    if values["processing.edge_strength"] == 0:
        out["processing.edge_radius_mm"] = "edge enhancement is off"
    return out


def control(name: str, values: dict, shown: dict, unused: dict, ranges: dict) -> None:
    """The widget of one knob: label in words with unit, tooltip, range that follows the others."""
    ss = st.session_state
    if name in ss.get("hidden", ()):
        return
    k = KNOBS[name]
    label, tip = ctl.label(name), ctl.tooltip(name)
    locked = name in ss.get("locked", ()) or name in unused
    if name in shown:
        value, why = shown[name]
        ss[f"abc:{name}"] = float(min(max(value, k.min), k.max))
        st.slider(
            label,
            float(k.min),
            float(k.max),
            key=f"abc:{name}",
            disabled=True,
            help=f"{tip} Now {why}.",
            format="%.1f" if name != "filtration.cu_mm" else "%.2f",
        )
        st.caption(f"↳ {why}")
        return
    if k.kind is bool:
        _seed(name, values[name])
        on_change = _hand_over if name == "abc.enabled" else None
        st.toggle(label, key=name, help=tip, disabled=locked, on_change=on_change)
    elif k.choices is not None:
        _seed(name, values[name])
        st.selectbox(
            label,
            list(k.choices),
            key=name,
            help=tip,
            disabled=locked,
            format_func=lambda v, n=name: ctl.choice_label(n, v),
        )
    elif name == "run.image_px":
        _seed(name, values[name])
        options = sorted({*ctl.IMAGE_SIZES_PX, int(values[name])})
        st.selectbox(label, options, key=name, help=tip, disabled=locked)
    elif k.kind is int and (k.max - k.min) <= 100:
        _seed(name, values[name])
        st.slider(label, int(k.min), int(k.max), key=name, help=tip, disabled=locked)
    elif name in ctl.STEPS:
        # The slider keeps the knob's whole range: a range that followed the other knobs
        # would make Streamlit take it for a new widget and reset it to its minimum whenever
        # they moved. What the others allow now is said in the tooltip; a value beyond it is
        # moved by the reconciliation, with a note under the slider.
        lo, hi = ranges.get(name, (k.min, k.max))
        _seed(name, float(values[name]))
        if not lo <= ss[name] <= hi:
            ss[name] = float(min(max(ss[name], lo), hi))
        if (lo, hi) != (k.min, k.max):
            tip = f"{tip} Allowed now: {lo:g} to {hi:g} {k.unit}."
        st.slider(
            label,
            float(k.min),
            float(k.max),
            step=float(ctl.STEPS[name]),
            format=_format(ctl.STEPS[name]),
            key=name,
            help=tip,
            disabled=locked,
        )
    else:
        _seed(name, values[name], text=True)
        st.text_input(
            label, key=name, help=tip, disabled=locked, on_change=_parse_text, args=(name,)
        )
    note = ss.get("notes", {}).get(name) or (unused.get(name) if name in unused else None)
    if note:
        st.caption(f"↳ {note}")


def _format(step: float) -> str:
    """Slider number format with the decimals of its step."""
    return f"%.{max(0, -math.floor(math.log10(step) + 1e-9))}f"


def _hand_over() -> None:
    from classroom.ui import hand_over_from_abc

    hand_over_from_abc()


def sidebar(values: dict[str, Any], view: fr.FrameView | None) -> None:
    """Scenario, the basic controls, the rest under Advanced, then share and import."""
    from classroom.ui import DEFAULT_SCENARIO, apply_scenario

    ss = st.session_state
    options = [DEFAULT_SCENARIO, *PRESETS]
    c1, c2 = st.columns([4, 1], vertical_alignment="bottom")
    c1.selectbox(
        "Scenario",
        options,
        key="scenario",
        on_change=apply_scenario,
        format_func=lambda n: SCENARIO_LABEL if n == DEFAULT_SCENARIO else PRESETS[n].title,
    )
    c2.button("↺", key="scenario_reset", on_click=apply_scenario, help="Reset the scenario")
    if ss["scenario"] in PRESETS and not ss.get("present"):
        with st.expander("About this scenario", expanded=False):
            st.markdown(PRESETS[ss["scenario"]].text)
    shown, unused, ranges = _shown(values, view), _unused(values), ctl.ranges(values)
    for group, names in ctl.BASIC.items():
        st.markdown(f"**{group}**")
        for n in names:
            control(n, values, shown, unused, ranges)
    st.markdown("**Advanced**")
    for group, names in ctl.ADVANCED.items():
        with st.expander(group):
            for n in names:
                control(n, values, shown, unused, ranges)
    if not ss.get("present"):
        _share(values, view)


def _share(values: dict[str, Any], view: fr.FrameView | None) -> None:
    with st.expander("Share, download, import"):
        st.caption("The address bar holds every setting you changed: copy it to share this view.")
        st.download_button(
            "Parameters (JSON)",
            ctl.params_json(values),
            "fluorosim-params.json",
            "application/json",
            key="dl_params",
        )
        if view is not None:
            st.download_button(
                "Displayed image (PNG)",
                _png(view.image),
                "fluorosim.png",
                "image/png",
                key="dl_png",
            )
            rows = results_rows(view)
            st.download_button(
                "Results (CSV)", _csv(rows), "fluorosim-results.csv", "text/csv", key="dl_csv"
            )
            st.download_button(
                "Results (JSON)",
                json.dumps(rows, indent=1),
                "fluorosim-results.json",
                "application/json",
                key="dl_json",
            )
        st.file_uploader(
            "Import parameters (JSON, at most 64 kB)",
            type=["json"],
            key="import",
            max_upload_size=1,
            on_change=_import,
        )
        if st.session_state.get("import_error"):
            st.error(st.session_state["import_error"])
        _phantom_upload()


def _phantom_upload() -> None:
    """A phantom of one's own, written as TOML (the step wedge's file is the template)."""
    from sim.phantoms.data import ASSET_DIR

    st.download_button(
        "Phantom template (TOML)",
        (ASSET_DIR / "step_wedge.toml").read_bytes(),
        "my-phantom.toml",
        "application/toml",
        key="dl_phantom",
        help="The step wedge written as data: edit its shapes and regions, change its name, "
        "and load it below.",
    )
    st.file_uploader(
        "Load your own phantom (TOML, at most 1 MB)",
        type=["toml"],
        key="phantom_upload",
        max_upload_size=1,
        on_change=_load_phantom,
    )
    if st.session_state.get("phantom_error"):
        st.error(st.session_state["phantom_error"])


def _load_phantom() -> None:
    """Register an uploaded phantom and show it, or say which field is wrong."""
    from classroom.ui import set_knobs
    from sim.phantoms.data import register_text

    up = st.session_state.get("phantom_upload")
    if up is None:
        return
    try:
        text = up.getvalue().decode("utf-8")
        e = register_text(text, f"upload {up.name[:60]}")
    except (UnicodeDecodeError, ValueError) as exc:
        st.session_state["phantom_error"] = f"Phantom refused: {exc}"
        return
    st.session_state.pop("phantom_error", None)
    set_knobs({"patient.phantom": e.name})


def _import() -> None:
    """Apply an imported parameters file, or say what is wrong with it (nothing applied)."""
    from classroom.ui import set_knobs

    up = st.session_state.get("import")
    if up is None:
        return
    try:
        parsed = ctl.from_json_bytes(up.getvalue())
    except ValueError as exc:
        st.session_state["import_error"] = f"Import refused: {exc}"
        return
    st.session_state.pop("import_error", None)
    set_knobs(parsed.values)


def results_rows(view: fr.FrameView) -> list[dict[str, Any]]:
    """Technique, dose and metrics as rows of quantity, value, unit (what the CSV holds)."""
    rows = []
    for section in ("technique", "dose", "metrics"):
        for key, value in getattr(view, section).items():
            q = quantity(f"{section}.{key}")
            rows.append({"quantity": q.label, "value": value, "unit": q.unit, "key": q.key})
    return rows


def _csv(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=["quantity", "value", "unit", "key"])
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


# ------------------------------------------------------------------------------ views
def draw(view: str, values: dict, params: Params, frame_view: fr.FrameView | None) -> None:
    """Draw the one view in sight."""
    if view == "Lessons":
        lessons_view()
        return
    if view == "Run":
        run_view(values, params, frame_view)
        return
    if frame_view is None:
        return
    {
        "Image": image_view,
        "Chain": chain_view,
        "Beam": beam_view,
        "Dose": dose_view,
        "Compare": compare_view,
    }[view](frame_view)


def _technique_line(v: fr.FrameView) -> str:
    t = v.technique
    who = "ABC chose" if v.values["abc.enabled"] else "Set by hand"
    return (
        f"{who}: {t['kvp']:.1f} kV · {t['ma']:.3g} mA · {t['pulse_ms']:.3g} ms · "
        f"{t['pulse_rate_pps']:g} pulses/s · {t['cu_mm']:.2f} mm Cu"
    )


def image_view(v: fr.FrameView) -> None:
    """The display image, the dose rate on its gauge, the technique used and the image figures."""
    left, right = st.columns([5, 4])
    phantom = ctl.choice_label("patient.phantom", v.values["patient.phantom"])
    left.image(
        v.image_jpeg,
        width="stretch",
        caption=f"{phantom}, {v.values['patient.thickness_cm']:g} cm: fluoroscopic look "
        "(more X-rays, brighter)",
    )
    d, t = v.dose, v.technique
    with right:
        st.image(graphics.rate_gauge_svg(d["kar_rate_mGy_per_min"], d["limit_mGy_per_min"]))
        if d["over_limit"]:
            st.error(f"Above the {d['limit_mGy_per_min']:g} mGy/min limit of 21 CFR 1020.32.")
        st.caption(_technique_line(v))
        if v.abc_message and v.values["abc.enabled"]:
            (st.warning if t.get("abc_limited") else st.caption)(f"ABC: {v.abc_message}")
        metric_grid(
            v,
            "metrics.cnr",
            "metrics.spr_after_grid",
            "metrics.receptor_nGy_per_frame",
            "metrics.dqe0",
            "dose.kar_mGy",
            "dose.kap_Gycm2",
        )
        _region_note(v)
        st.caption(
            f"Totals after {fmt('dose.fluoro_time_s', d['fluoro_time_s'])} of fluoroscopy "
            "at this technique (Fluoroscopy time, under Advanced › Run and dose)."
        )


def _abc_drift() -> float:
    """How far the sensed dose drifts before a run's ABC re-solves [-] (sim.sequence)."""
    from sim.sequence import ABC_DRIFT

    return ABC_DRIFT


def _region_note(v: fr.FrameView) -> None:
    """Why contrast or CNR read n/a: the region they measure gets no X-rays."""
    dark = [
        name
        for name, key in (("object", "signal_px"), ("background", "background_px"))
        if v.metrics.get(key) == 0
    ]
    if dark:
        st.info(
            f"The {' and '.join(dark)} region{'s lie' if len(dark) > 1 else ' lies'} outside "
            "the beam (collimated field or image), so contrast and CNR are n/a: open the "
            "field or widen the field of view to measure them."
        )


@lru_cache(maxsize=1)
def _stage_table() -> list[dict[str, Any]]:
    doc = tomllib.loads(asset_path("chain", "stages.toml").read_text(encoding="utf-8"))
    return doc["stage"]


def _figure_value(v: fr.FrameView, key: str) -> tuple[str, str, str]:
    section, k = key.split(".", 1)
    value = v.beam[key] if section == "beam" else getattr(v, section)[k]
    q = quantity(key)
    return q.label, q.format(value), q.meaning


def chain_view(v: fr.FrameView) -> None:
    """Every stage of the chain: its image or spectrum, its physics, its figures, its source."""
    stages = _stage_table()
    ids = [s["id"] for s in stages]
    titles = {s["id"]: s["title"] for s in stages}
    st.session_state.setdefault("stage", ids[2])
    chosen = st.segmented_control(
        "Stage",
        ids,
        key="stage",
        required=True,
        format_func=titles.get,
        label_visibility="collapsed",
    )
    st.image(graphics.chain_svg(chosen or ids[0]))
    s = stages[ids.index(chosen or ids[0])]
    left, right = st.columns([3, 2])
    with left:
        images = s.get("images", [])
        if images:
            cols = st.columns(len(images))
            for col, n in zip(cols, images, strict=True):
                img = v.stages[n]
                col.image(img.image, caption=_STAGE_CAPTIONS[n], width=STAGE_WIDTH_PX)
            img = v.stages[images[0]]
            shared = " (one grey scale for all)" if len(images) > 1 else ""
            st.caption(f"Grey scale{shared}: black {img.lo:.3g} to white {img.hi:.3g} {img.unit}.")
        spectra = s.get("spectra", [])
        if spectra:
            items = tuple(sorted(ctl.canonical(v.values).items()))
            st.image(_figure_png("chain", (items, tuple(spectra))), width=SPECTRUM_WIDTH_PX)
    with right:
        st.markdown(f"**{s['title']}**")
        st.markdown(" ".join(s["text"].split()))
        for key in s["figures"]:
            label, value, meaning = _figure_value(v, key)
            st.markdown(f"- {label}: **{value}**", help=meaning)
        st.caption(f"Source: {s['source']}")


_STAGE_CAPTIONS = {
    "primary": "Primary photons (unscattered)",
    "scatter": "Scattered photons",
    "after_grid": "After the grid (primary + scatter)",
    "absorbed": "Absorbed in the receptor (noise-free)",
    "noisy": "One frame, with quantum and electronic noise",
    "processed": "After log, flat field and edge enhancement",
    "displayed": "Displayed (8-bit)",
}


def beam_view(v: fr.FrameView) -> None:
    """The spectrum before and after filtration at the technique used, with its figures."""
    items = tuple(sorted(ctl.canonical(v.values).items()))
    left, right = st.columns([3, 2])
    left.image(_figure_png("beam", (items,)))
    left.caption(
        "Tube output per mAs at 100 cm, at the kVp and Cu actually used "
        f"({'chosen by ABC' if v.values['abc.enabled'] else 'set by hand'}); log scale from "
        "10 keV. Model: SpekPy 2.5.4 spectra (Poludniowski et al. 2021), NIST attenuation."
    )
    with right:
        st.markdown(f"**The beam entering the patient** · {_technique_line(v)}")
        for key in v.beam:
            label, value, meaning = _figure_value(v, key)
            st.metric(label, value, help=meaning)


def dose_view(v: fr.FrameView) -> None:
    """Dose at a glance: the rate on its gauge, the totals against the skin thresholds."""
    d = v.dose
    left, right = st.columns(2)
    with left:
        st.markdown("**Reference air kerma rate** (at the interventional reference point)")
        st.image(graphics.rate_gauge_svg(d["kar_rate_mGy_per_min"], d["limit_mGy_per_min"]))
        st.markdown(f"**Peak skin dose** after {fmt('dose.fluoro_time_s', d['fluoro_time_s'])}")
        st.image(graphics.skin_bar_svg(d["peak_skin_dose_mGy"]))
        st.caption(f"Skin: {d['reaction']} (NCRP Report 168 bands at 2, 3, 5 and 15 Gy).")
        metric_grid(v, "dose.kar_mGy", "dose.kap_Gycm2", "dose.effective_dose_mSv", columns=3)
        st.caption(
            "Totals hold this frame's technique (ABC set on the image shown, needle and "
            "contrast in) for the whole fluoroscopy time. The Run view sums a played procedure "
            "pulse by pulse: its ABC settles on the first pulses, before the needle and the "
            "contrast arrive, and re-adjusts only when what it senses drifts by more than "
            f"{_abc_drift():.0%}, so its totals differ by a few per cent (they agree "
            "exactly when nothing changes or ABC is off)."
        )
    with right:
        st.caption(_technique_line(v))
        metric_grid(
            v,
            "metrics.receptor_nGy_per_frame",
            "dose.skin_dose_rate_mGy_per_min",
            "metrics.cnr",
            "metrics.snr",
            "metrics.spr_after_grid",
            "metrics.dqe0",
        )
        _region_note(v)
        with st.expander("Every dose quantity"):
            st.dataframe(
                [
                    {
                        "Quantity": quantity(f"dose.{k}").label,
                        "Value": fmt(f"dose.{k}", x),
                        "Meaning": quantity(f"dose.{k}").meaning,
                    }
                    for k, x in d.items()
                ],
                hide_index=True,
            )


# ------------------------------------------------------------------------------ run
class _RunStore:
    """Runs shared by every session, by parameters (bounded; the player pages are compact)."""

    def __init__(self, entries: int) -> None:
        self.entries, self.items, self.lock = entries, OrderedDict(), threading.Lock()

    def get(self, key: tuple):
        with self.lock:
            if key in self.items:
                self.items.move_to_end(key)
                return self.items[key]
        return None

    def put(self, key: tuple, value) -> None:
        with self.lock:
            self.items[key] = value
            while len(self.items) > self.entries:
                self.items.popitem(last=False)


@st.cache_resource
def _runs() -> _RunStore:
    return _RunStore(RUN_CACHE_ENTRIES)


def _compute_run(params: Params, bar) -> dict[str, Any]:
    from classroom.player import player_from_run
    from sim.sequence import run

    t0 = time.perf_counter()
    r = run(params, progress=lambda f: bar.progress(min(max(float(f), 0.0), 1.0)))
    page = player_from_run(r)
    return {
        "page": page,
        "dose": r.summary()["dose"],
        "technique": r.summary()["technique"],
        "seconds": time.perf_counter() - t0,
        "series": (r.series.time_s, r.series.kar_mGy, r.series.skin_dose_mGy),
    }


def _run_events(p: Params) -> str:
    """What happens in the patient during a run, in words, for the caption."""
    from sim import phantoms

    kind, events = phantoms.entry(p.patient.phantom), []
    if kind.needle:
        events.append("the needle advancing")
    if kind.iodine and p.patient.contrast_ml > 0:
        events.append("contrast filling")
    if kind.bolus and p.patient.contrast_ml > 0:
        events.append("a barium bolus passing down at each swallow")
    if p.sequence.motion_mm > 0:
        events.append("periodic motion")
    return "".join(f"{e}, " for e in events)


def run_view(values: dict, params: Params, v: fr.FrameView | None) -> None:
    """A whole procedure played in the browser, its dose building up in step."""
    key = tuple(sorted(ctl.canonical(values).items()))
    store = _runs()
    st.caption(
        f"{fmt('dose.fluoro_time_s', params.run.fluoro_time_s)} of fluoroscopy at these "
        f"settings, pulse by pulse: each frame its own noise, {_run_events(params)}lag and the "
        "recursive filter; dose summed pulse by pulse."
    )
    clicked = st.button("▶ Run the procedure", key="run_button", type="primary")
    if clicked and store.get(key) is None:
        bar = st.progress(0.0, text="Simulating the run…")
        try:
            store.put(key, _compute_run(params, bar))
        except ValueError as exc:
            st.error(f"This run cannot be simulated: {exc}")
            return
        bar.empty()
    if clicked:
        st.session_state["run_key"] = key
    shown_key = st.session_state.get("run_key")
    result = store.get(shown_key) if shown_key else None
    if result is None:
        st.info("Press Run to simulate the procedure; it plays here with its dose counters.")
        return
    if shown_key != key:
        st.warning("The settings changed since this run: press Run to simulate them.")
    page = result["page"]
    left, right = st.columns([3, 2])
    with left:
        st.iframe(page.html, height=page.height_px)
    with right:
        d = result["dose"]
        metric_grid(
            result, "dose.kar_mGy", "dose.kap_Gycm2", "dose.peak_skin_dose_mGy", "dose.frames"
        )
        if v is not None and shown_key == key:
            single = v.dose["kar_mGy"]
            diff = (d["kar_mGy"] - single) / single if single else 0.0
            st.caption(
                f"The Image view's {fmt('dose.kar_mGy', single)} holds one frame's technique "
                f"for the whole time; the run sums its {d['frames']} pulses one by one "
                f"({100 * diff:+.1f} %): the run's ABC settles on its first pulses, before "
                "the needle and the contrast arrive, and re-adjusts only when what it senses "
                f"drifts by more than {_abc_drift():.0%}."
            )
        t, s = result["series"][0], result["series"]
        st.image(_series_png(tuple(t.tolist()), tuple(s[1].tolist()), tuple(s[2].tolist())))


@st.cache_data(max_entries=8, show_spinner=False)
def _series_png(t: tuple, kar: tuple, skin: tuple) -> bytes:
    fig = series_figure(
        np.asarray(t),
        {"Ka,r [mGy]": np.asarray(kar), "peak skin dose [mGy]": np.asarray(skin)},
        "cumulative dose [mGy]",
    )
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return buf.getvalue()


# ------------------------------------------------------------------------------ compare
@st.cache_data(max_entries=16, show_spinner=False)
def _breakdown(a_items: tuple, b_items: tuple):
    from sim.compare import breakdown

    return breakdown(Params.from_dict(dict(a_items)), Params.from_dict(dict(b_items)))


def compare_view(b: fr.FrameView) -> None:
    """A frozen, B follows the controls: images on one grey scale, the change by cause."""
    ss = st.session_state
    if st.button("Freeze the current settings as A", key="freeze_a"):
        ss["compare_a"] = dict(b.values)
    if "compare_a" not in ss:
        st.info("Freeze the current settings as A, then move any control: B follows them.")
        return
    a = frame(ss["compare_a"])
    ia, ib = fr.common_scale(a, b)
    c = st.columns(2)
    c[0].image(ia, width=420, caption="A (frozen)")
    c[1].image(ib, width=420, caption="B (the controls now), on the same grey scale")
    changed = ctl.non_default(b.values, a.values)
    if not changed:
        st.caption("A and B are the same settings: move a control.")
        return
    st.caption("Changed: " + "; ".join(f"{ctl.LABELS[n]} → {_text(x)}" for n, x in changed.items()))
    items = [tuple(sorted(ctl.canonical(x).items())) for x in (a.values, b.values)]
    with st.spinner("Breaking the change down by cause…"):
        bd = _breakdown(*items)
    rows = []
    for key in bd.factors:
        q = quantity(key)
        row = {
            "Quantity": q.label,
            "A": q.format(bd.a[key]),
            "B": q.format(bd.b[key]),
            "B / A": f"{bd.total[key]:.3g}",
        }
        for cause, f, moved in zip(bd.causes, bd.factors[key], bd.changed, strict=True):
            if moved:
                row[cause] = "n/a" if not np.isfinite(f) else f"×{f:.3g}"
        rows.append(row)
    st.dataframe(rows, hide_index=True)
    st.caption(
        "Each cause's factor is the change when its controls alone move from A to B, taken in "
        "the order of the columns (sequential substitution): the factors multiply to B / A."
    )


# ------------------------------------------------------------------------------ lessons
@st.cache_data(max_entries=20, show_spinner=False)
def _lesson_outcome(lesson_id: str) -> tuple[str, list[str]]:
    from sim import lessons as les

    lesson = {x.id: x for x in les.load_lessons()}[lesson_id]
    ra, rb = les.play(lesson)
    return les.explain(lesson, ra, rb), les.check(lesson, ra, rb)


def lessons_view() -> None:
    """Guided exercises: predict, set up, move one control, read why (numbers simulated)."""
    from classroom.ui import set_knobs
    from sim import lessons as les

    lessons = les.load_lessons()
    by_id = {x.id: x for x in lessons}
    chosen = st.selectbox(
        "Lesson",
        list(by_id),
        key="lesson",
        format_func=lambda i: f"{by_id[i].order}. {by_id[i].title}",
    )
    lesson = by_id[chosen]
    st.markdown(f"**1. Predict.** {lesson.predict}")
    guess = st.radio(
        "Your prediction",
        range(len(lesson.choices)),
        key=f"guess:{chosen}",
        format_func=lambda i: lesson.choices[i],
        index=None,
    )
    a, b = les.states(lesson)
    st.markdown("**2. Set up.** One button loads the starting settings into the controls.")
    st.button("Set up the lesson", key="lesson_setup", on_click=set_knobs, args=(a.to_dict(),))
    mv = lesson.move.knob
    st.markdown(
        f"**3. Move one control.** {lesson.move.hint} "
        f"({ctl.label(mv)}: from {_text(a.get(mv))} to {_text(b.get(mv))}.)"
    )
    st.button("Move it for me", key="lesson_move", on_click=set_knobs, args=(b.to_dict(),))
    st.markdown("**4. Read why.**")
    if st.toggle("Show the explanation", key=f"why:{chosen}"):
        if guess is not None:
            right = guess == lesson.answer
            (st.success if right else st.warning)(
                "Your prediction was right."
                if right
                else f"The simulator says: {lesson.choices[lesson.answer]}."
            )
        with st.spinner("Simulating both states…"):
            text, failed = _lesson_outcome(chosen)
        st.markdown(text)
        if failed:
            st.caption("Note: " + "; ".join(failed))
        if lesson.sources:
            st.caption("Sources: " + "; ".join(lesson.sources))
