"""The classroom app's page: state, controls in the sidebar, one view at a time.

State lives in ``st.session_state["knobs"]`` (every knob by dotted name). Each control is a
widget keyed by its knob name; a programmatic change (scenario, URL, lesson, import, ABC
hand-over, a dependent range) writes ``knobs`` and drops the widget's key, so the widget is
drawn again from ``knobs``. Nothing here computes physics: the views read cached frames.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from classroom import controls as ctl
from classroom import views
from sim.params import KNOBS, Params
from sim.presets import PRESETS

DEFAULT_SCENARIO = "defaults"
VIEWS = ("Image", "Chain", "Beam", "Dose", "Run", "Compare", "Lessons")
CSS = """<style>
.block-container {padding-top: 2.2rem; padding-bottom: 1rem;}
section[data-testid="stSidebar"] .block-container {padding-top: 1rem;}
div[data-testid="stMetricValue"] {font-size: 1.35rem;}
</style>"""
PRESENT_CSS = """<style>
.block-container {padding-top: 0.6rem;}
header[data-testid="stHeader"] {height: 0; min-height: 0;}
</style>"""


# ------------------------------------------------------------------------------------ state
def knobs() -> dict[str, Any]:
    """Every knob's current value (the app's one store)."""
    return st.session_state["knobs"]


def set_knobs(values: dict[str, Any]) -> None:
    """Change knobs from code: the store, and the widgets redrawn from it."""
    store = knobs()
    for name, value in values.items():
        store[name] = value
        st.session_state.pop(name, None)
        st.session_state.pop(f"abc:{name}", None)


def scenario_values(name: str) -> dict[str, Any]:
    """Knob values of a scenario (``defaults``: the knob defaults)."""
    return (Params() if name not in PRESETS else PRESETS[name].params()).to_dict()


def apply_scenario() -> None:
    """Load the chosen scenario again, every knob, whatever was moved since."""
    set_knobs(scenario_values(st.session_state["scenario"]))
    st.session_state["notes"] = {}


def hand_over_from_abc() -> None:
    """ABC switched off: its technique becomes the sliders' values (the image does not jump)."""
    technique = st.session_state.get("last_technique")
    if not st.session_state.get("abc.enabled", True) and technique:
        values = {**knobs(), "abc.enabled": False}
        new = ctl.hand_over(values, technique)
        set_knobs({n: new[n] for n in (*ctl.ABC_OWNED, "filtration.cu_mm")})
        st.session_state["notes"] = {
            "tube.kvp": "Taken over from ABC: the technique it was using, now yours to move."
        }


def _first_run() -> None:
    """Session start: defaults, then the scenario and knobs of the URL (bad ones explained)."""
    q = {k: st.query_params.get(k) for k in st.query_params}
    scenario = q.get("scenario", DEFAULT_SCENARIO)
    errors: list[str] = []
    if scenario not in PRESETS and scenario != DEFAULT_SCENARIO:
        errors.append(
            f"URL: scenario={scenario!r} is unknown: expected one of {', '.join(PRESETS)}"
        )
        scenario = DEFAULT_SCENARIO
    st.session_state["scenario"] = scenario
    st.session_state["knobs"] = scenario_values(scenario)
    parsed = ctl.from_query(q)
    errors += parsed.errors
    merged, _ = ctl.reconcile({**knobs(), **parsed.values})
    try:
        Params.from_dict(merged)
        knobs().update(merged)
    except ValueError as exc:
        errors.append(f"URL: {exc}")
    st.session_state["messages"] = errors
    view = str(q.get("view", "image")).capitalize()
    st.session_state["view"] = view if view in VIEWS else "Image"
    st.session_state["present"] = q.get("present") in ("1", "true", "yes")
    st.session_state["locked"] = _names(q.get("lock", ""))
    st.session_state["hidden"] = _names(q.get("hide", ""))
    st.session_state["notes"] = {}


def _names(text: str) -> frozenset[str]:
    return frozenset(n for n in str(text).split(",") if n in KNOBS)


def _sync_from_widgets() -> None:
    """Take the values the widgets hold (the user's moves) into the store."""
    store = knobs()
    for name, k in KNOBS.items():
        if name not in st.session_state:
            continue
        v = st.session_state[name]
        if isinstance(v, str) and k.kind is not str:
            continue  # a text box: its callback parsed it
        store[name] = k.kind(v) if k.kind in (int, float) else v


def _reconcile() -> None:
    """Move dependent knobs so that the settings are valid; remember why, to say so in place."""
    new, notes = ctl.reconcile(knobs())
    if notes:
        set_knobs({n: new[n] for n in notes})
        st.session_state["notes"] = {**st.session_state.get("notes", {}), **notes}


def _write_url(view: str) -> None:
    scenario = st.session_state["scenario"]
    base = scenario_values(scenario)
    q: dict[str, str] = {}
    if scenario != DEFAULT_SCENARIO:
        q["scenario"] = scenario
    q.update(ctl.to_query(knobs(), base))
    if view != "Image":
        q["view"] = view.lower()
    if st.session_state.get("present"):
        q["present"] = "1"
        for key in ("locked", "hidden"):
            if st.session_state.get(key):
                q["lock" if key == "locked" else "hide"] = ",".join(sorted(st.session_state[key]))
    if dict(st.query_params) != q:
        st.query_params.from_dict(q)


# ------------------------------------------------------------------------------------ page
def main() -> None:
    """Lay out the page and draw the view in sight."""
    first = "knobs" not in st.session_state
    if first:
        _first_run()
    present = st.session_state["present"]
    st.set_page_config(
        page_title="fluorosim",
        layout="wide",
        initial_sidebar_state="collapsed" if present else "expanded",
    )
    st.html(CSS + (PRESENT_CSS if present else ""))
    if not first:
        _sync_from_widgets()
    _reconcile()
    values = dict(knobs())
    try:
        params = Params.from_dict(values)
        st.session_state["last_good"] = values
    except ValueError as exc:  # the reconcile rules should make this unreachable
        st.error(f"These settings do not go together: {exc}")
        values = st.session_state.get("last_good", Params().to_dict())
        params = Params.from_dict(values)

    head, nav = st.columns([1, 5], vertical_alignment="center")
    head.markdown("**fluorosim**", help="An educational simulator of the fluoroscopy imaging chain")
    view = nav.segmented_control(
        "View", VIEWS, key="view", required=True, label_visibility="collapsed"
    )
    for message in st.session_state.get("messages", []):
        st.error(message)

    frame = views.frame_for(values)
    if frame is not None:
        st.session_state["last_technique"] = frame.technique
    with st.sidebar:
        views.sidebar(values, frame)
    views.draw(view or "Image", values, params, frame)
    _write_url(view or "Image")
