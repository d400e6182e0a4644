"""The app's controls as data: labels in words, groups, steps, dependent ranges, URL state.

Pure Python (no streamlit), so every rule here is tested on its own. Every control is a knob of
``sim.params.KNOBS``; this module adds only what a person reads (a short label, the words for
each choice) and how the knobs depend on each other in the app:

- ABC owns ``tube.kvp``, ``tube.ma``, ``tube.pulse_ms`` and, on the low-dose and iodine curves
  (which set their own Cu), ``filtration.cu_mm``: while it is on they are shown disabled at
  ABC's values.
- Ranges follow the other knobs (thickness and source-skin distance within the SID, pulse width
  within the frame period, an image intensifier's field of view at most 40 cm, the tube current
  within the tube's ratings at the kV, pulse width and rate set); a conflict moves the dependent
  knob and :func:`reconcile` says so in words.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from sim import phantoms
from sim.brightness import ABC_OWNED
from sim.brightness import abc_owned as _engine_abc_owned
from sim.params import (
    II_MAX_FOV_CM,
    KNOBS,
    MIN_AIR_GAP_CM,
    PHANTOMS,
    Params,
    knob,
    params_from_json,
)
from sim.tube import max_ma
from sim.units import MS_PER_S

LABELS: dict[str, str] = {
    "tube.kvp": "Tube potential",
    "tube.ma": "Tube current",
    "tube.pulse_ms": "Pulse width",
    "tube.pulse_rate_pps": "Pulse rate",
    "tube.mode": "Fluoroscopy mode",
    "tube.anode_angle_deg": "Anode angle",
    "tube.focal_spot_mm": "Focal spot size",
    "filtration.al_mm": "Aluminium filtration (total)",
    "filtration.cu_mm": "Copper filter",
    "geometry.sid_cm": "Source-to-image distance (SID)",
    "geometry.source_iso_cm": "Source-to-isocentre distance",
    "geometry.source_skin_cm": "Source-to-skin distance",
    "geometry.field_cm": "Collimated field size",
    "geometry.field_shape": "Collimator shape",
    "geometry.fov_cm": "Receptor field of view (magnification mode)",
    "geometry.table": "Table and pad in the beam",
    "patient.phantom": "Patient or test object",
    "patient.thickness_cm": "Patient thickness",
    "patient.needle_progress": "Needle advance",
    "patient.contrast_ml": "Contrast volume",
    "patient.contrast_mg_i_per_ml": "Contrast iodine concentration",
    "scatter.enabled": "Scattered radiation",
    "grid.enabled": "Anti-scatter grid",
    "grid.ratio": "Grid ratio",
    "grid.lines_per_cm": "Grid strip density",
    "grid.strip_um": "Grid lead strip thickness",
    "grid.interspace": "Grid interspace material",
    "receptor.kind": "Image receptor",
    "receptor.csi_um": "CsI phosphor thickness",
    "receptor.pixel_um": "Detector pixel pitch",
    "receptor.binning": "Pixel binning",
    "receptor.electronic_noise_e": "Electronic noise",
    "receptor.lag": "Detector lag",
    "receptor.ii_glare": "Intensifier veiling glare",
    "abc.enabled": "Automatic brightness control (ABC)",
    "abc.mode": "ABC dose level",
    "abc.curve": "ABC curve",
    "abc.high_level": "High-level control (176 mGy/min)",
    "abc.rate_exponent": "ABC dose-per-pulse exponent",
    "processing.log": "Logarithmic processing",
    "processing.auto_window": "Automatic window and level",
    "processing.window": "Window width",
    "processing.level": "Window level",
    "processing.gamma": "Display gamma",
    "processing.edge_strength": "Edge enhancement",
    "processing.edge_radius_mm": "Edge enhancement radius",
    "processing.invert": "Radiographic look (bone white)",
    "processing.recursive_weight": "Recursive filter",
    "processing.frame_average": "Frames averaged",
    "processing.dsa": "Digital subtraction (DSA)",
    "dose.region": "Body region (effective dose)",
    "sequence.needle_s": "Needle reaches the target at",
    "sequence.inject_s": "Contrast injection starts at",
    "sequence.fill_s": "Contrast fill duration",
    "sequence.motion_mm": "Motion amplitude",
    "sequence.motion_period_s": "Motion period",
    "run.seed": "Noise seed",
    "run.image_px": "Image size",
    "run.fluoro_time_s": "Fluoroscopy time",
    "run.noise": "Quantum and electronic noise",
    "run.max_frames": "Most frames kept in a run",
}
"""A short label a student reads, for every knob (the unit is added from the knob table)."""

CHOICE_LABELS: dict[str, dict[Any, str]] = {
    "tube.mode": {"pulsed": "Pulsed", "continuous": "Continuous (30 frames/s)"},
    "geometry.field_shape": {"square": "Square", "circle": "Circular"},
    "grid.interspace": {"fibre": "Carbon fibre", "aluminium": "Aluminium"},
    "receptor.kind": {"flat_panel": "Flat panel (CsI)", "image_intensifier": "Image intensifier"},
    "receptor.binning": {1: "None (1×1)", 2: "2×2", 4: "4×4"},
    "abc.mode": {"low": "Low dose", "normal": "Normal", "high": "High quality"},
    "abc.curve": {
        "standard": "Standard",
        "low_dose": "Low dose (extra Cu)",
        "iodine": "Iodine (kV near the K-edge, own Cu)",
    },
    "dose.region": {
        "head": "Head",
        "neck": "Neck",
        "chest": "Chest",
        "abdomen": "Abdomen",
        "pelvis": "Pelvis",
        "cardiac": "Heart",
        "extremity": "Limb",
    },
}
"""Words for the values of every choice knob."""

UNITS = {"um": "µm", "1/s": "pulses/s", "1/cm": "lines/cm", "e-": "e⁻ rms", "-": ""}
"""How a knob's unit is shown (the knob table's own unit otherwise)."""

BASIC: dict[str, tuple[str, ...]] = {
    "Patient": ("patient.phantom", "patient.thickness_cm"),
    "Technique": (
        "abc.enabled",
        "abc.mode",
        "tube.kvp",
        "tube.ma",
        "tube.mode",
        "tube.pulse_rate_pps",
        "tube.pulse_ms",
        "filtration.cu_mm",
    ),
    "Geometry and receptor": (
        "geometry.field_cm",
        "geometry.fov_cm",
        "grid.enabled",
        "receptor.kind",
    ),
}
"""The short set shown open: what a first lesson moves."""

ADVANCED: dict[str, tuple[str, ...]] = {
    "Tube and filtration": (
        "tube.anode_angle_deg",
        "tube.focal_spot_mm",
        "filtration.al_mm",
    ),
    "Distances and collimator": (
        "geometry.sid_cm",
        "geometry.source_skin_cm",
        "geometry.source_iso_cm",
        "geometry.field_shape",
        "geometry.table",
    ),
    "Procedure (needle, contrast, motion)": (
        "patient.needle_progress",
        "patient.contrast_ml",
        "patient.contrast_mg_i_per_ml",
        "sequence.needle_s",
        "sequence.inject_s",
        "sequence.fill_s",
        "sequence.motion_mm",
        "sequence.motion_period_s",
    ),
    "Scatter and grid": (
        "scatter.enabled",
        "grid.ratio",
        "grid.lines_per_cm",
        "grid.strip_um",
        "grid.interspace",
    ),
    "Receptor": (
        "receptor.csi_um",
        "receptor.pixel_um",
        "receptor.binning",
        "receptor.electronic_noise_e",
        "receptor.lag",
        "receptor.ii_glare",
    ),
    "ABC details": ("abc.curve", "abc.high_level", "abc.rate_exponent"),
    "Processing and display": (
        "processing.log",
        "processing.auto_window",
        "processing.window",
        "processing.level",
        "processing.gamma",
        "processing.edge_strength",
        "processing.edge_radius_mm",
        "processing.invert",
        "processing.recursive_weight",
        "processing.frame_average",
        "processing.dsa",
    ),
    "Run and dose": (
        "run.fluoro_time_s",
        "dose.region",
        "run.image_px",
        "run.seed",
        "run.noise",
        "run.max_frames",
    ),
}
"""Everything else, grouped; every knob is in exactly one group (tested)."""

STEPS: dict[str, float] = {
    "tube.kvp": 0.1,  # fine enough to take over ABC's kV without a jump
    "tube.ma": 0.1,
    "tube.pulse_ms": 0.1,
    "tube.pulse_rate_pps": 0.5,
    "tube.anode_angle_deg": 1.0,
    "tube.focal_spot_mm": 0.1,
    "filtration.al_mm": 0.1,
    "filtration.cu_mm": 0.01,
    "geometry.sid_cm": 1.0,
    "geometry.source_iso_cm": 1.0,
    "geometry.source_skin_cm": 1.0,
    "geometry.field_cm": 1.0,
    "geometry.fov_cm": 1.0,
    "patient.thickness_cm": 1.0,
    "patient.needle_progress": 0.05,
    "patient.contrast_ml": 0.5,
    "patient.contrast_mg_i_per_ml": 10.0,
    "grid.ratio": 1.0,
    "grid.lines_per_cm": 1.0,
    "grid.strip_um": 0.1,
    "receptor.csi_um": 50.0,
    "receptor.pixel_um": 10.0,
    "receptor.lag": 0.01,
    "receptor.ii_glare": 0.01,
    "abc.rate_exponent": 0.05,
    "processing.window": 0.01,
    "processing.level": 0.05,
    "processing.gamma": 0.05,
    "processing.edge_strength": 0.1,
    "processing.edge_radius_mm": 0.1,
    "processing.recursive_weight": 0.05,
    "sequence.motion_mm": 0.5,
    "sequence.motion_period_s": 0.1,
}
"""Slider steps; a float knob without one is typed into a text box (wide ranges)."""

IMAGE_SIZES_PX = (128, 256, 512, 1024)
"""Image sides offered in the app [px] (the knob allows 64-2048; others come from a URL)."""

TECHNIQUE_OF = {
    "tube.kvp": "kvp",
    "tube.ma": "ma",
    "tube.pulse_ms": "pulse_ms",
    "filtration.cu_mm": "cu_mm",
}
"""Knob -> key of ``Result.technique`` holding the value actually used."""


def label(name: str) -> str:
    """Label with unit, e.g. ``Tube potential [kV]``."""
    k = knob(name)
    unit = UNITS.get(k.unit, k.unit)
    return f"{LABELS[name]} [{unit}]" if unit else LABELS[name]


def choice_label(name: str, value: Any) -> str:
    """Words for one value of a choice knob (a phantom's from its registry entry)."""
    if name == "patient.phantom" and value in PHANTOMS:
        return phantoms.entry(value).label
    return CHOICE_LABELS.get(name, {}).get(value, str(value))


def tooltip(name: str) -> str:
    """Help text: the knob's help, its range and default."""
    k = KNOBS[name]
    if k.choices is not None:
        rng = "Choices: " + ", ".join(choice_label(name, c) for c in k.choices)
    elif k.kind is bool:
        rng = ""
    else:
        rng = f"Range {k.describe_range()}".replace(f" {k.unit}", f" {UNITS.get(k.unit, k.unit)}")
    default = choice_label(name, k.default) if k.choices else k.default
    if k.kind is bool:
        default = "on" if k.default else "off"
    return f"{k.help} {rng}. Default {default}.".replace(" .", ".").replace("..", ".")


def abc_owned(values: dict[str, Any]) -> tuple[str, ...]:
    """Knobs ABC sets under these values (none when ABC is off; the engine's rule,
    :func:`sim.brightness.abc_owned`, which the command line and sweeps enforce too)."""
    return _engine_abc_owned(values)


def shown_by_technique(values: dict[str, Any], technique: dict[str, float]) -> dict[str, float]:
    """Knobs to show disabled at the technique actually used: those ABC owns, and Cu where ABC
    removed it at the end of its curve (so no control shows a value the image does not use)."""
    out = {n: float(technique[TECHNIQUE_OF[n]]) for n in abc_owned(values)}
    if values["abc.enabled"] and not math.isclose(
        technique["cu_mm"], values["filtration.cu_mm"], abs_tol=1e-9
    ):
        out["filtration.cu_mm"] = float(technique["cu_mm"])
    if values["tube.mode"] == "continuous":
        out.pop("tube.pulse_ms", None)
    return out


def hand_over(values: dict[str, Any], technique: dict[str, float]) -> dict[str, Any]:
    """Values with ABC's technique copied onto its knobs (ABC switched off: no jump).

    Values are rounded to the slider step and kept in range."""
    new = dict(values)
    names = [*ABC_OWNED, "filtration.cu_mm"]
    if values["tube.mode"] == "continuous":
        names.remove("tube.pulse_ms")
    for name in names:
        k, step = KNOBS[name], STEPS[name]
        v = round(float(technique[TECHNIQUE_OF[name]]) / step) * step
        new[name] = float(min(max(round(v, 6), k.min), k.max))
    return reconcile(new)[0]


def _floor_step(x: float, name: str) -> float:
    step = STEPS.get(name, 1.0)
    return round(math.floor(x / step + 1e-9) * step, 6)


def ranges(values: dict[str, Any]) -> dict[str, tuple[float, float]]:
    """Slider ranges of the knobs whose range follows the others [their units]."""
    sid = values["geometry.sid_cm"]
    k = KNOBS
    room = sid - MIN_AIR_GAP_CM - values["patient.thickness_cm"]
    skin_max = min(k["geometry.source_skin_cm"].max, room)
    out = {
        "geometry.source_skin_cm": (k["geometry.source_skin_cm"].min, skin_max),
        "geometry.source_iso_cm": (
            k["geometry.source_iso_cm"].min,
            min(k["geometry.source_iso_cm"].max, sid - 1.0),
        ),
        "geometry.fov_cm": (
            k["geometry.fov_cm"].min,
            II_MAX_FOV_CM
            if values["receptor.kind"] == "image_intensifier"
            else k["geometry.fov_cm"].max,
        ),
    }
    if values["tube.mode"] == "pulsed":
        top = _floor_step(MS_PER_S / values["tube.pulse_rate_pps"], "tube.pulse_ms")
        out["tube.pulse_ms"] = (k["tube.pulse_ms"].min, min(k["tube.pulse_ms"].max, top))
    out["tube.ma"] = (k["tube.ma"].min, _ma_max(values))
    return out


def _ma_max(values: dict[str, Any]) -> float:
    """Highest tube current the tube's ratings allow at the kV, pulse width and rate set [mA]."""
    top = max_ma(
        values["tube.kvp"],
        values["tube.pulse_ms"],
        values["tube.pulse_rate_pps"],
        values["tube.mode"] == "continuous",
    )
    return max(KNOBS["tube.ma"].min, min(KNOBS["tube.ma"].max, _floor_step(top, "tube.ma")))


def reconcile(values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """Move dependent knobs so that the values form valid ``Params``; say what moved.

    Parameters
    ----------
    values
        Every knob by dotted name.

    Returns
    -------
    values, notes
        The corrected values, and knob -> one sentence on why it moved.
    """
    v, notes = dict(values), {}
    sid = v["geometry.sid_cm"]
    if v["receptor.kind"] == "image_intensifier" and v["geometry.fov_cm"] > II_MAX_FOV_CM:
        v["geometry.fov_cm"] = II_MAX_FOV_CM
        notes["geometry.fov_cm"] = (
            f"Set to {II_MAX_FOV_CM:g} cm: the largest image-intensifier input field."
        )
    if v["geometry.source_iso_cm"] >= sid:
        v["geometry.source_iso_cm"] = max(KNOBS["geometry.source_iso_cm"].min, sid - 1.0)
        notes["geometry.source_iso_cm"] = (
            f"Moved to {v['geometry.source_iso_cm']:g} cm: the isocentre must lie before the "
            f"receptor (SID {sid:g} cm)."
        )
    room = sid - MIN_AIR_GAP_CM
    if v["geometry.source_skin_cm"] + v["patient.thickness_cm"] > room:
        skin_min = KNOBS["geometry.source_skin_cm"].min
        skin = max(skin_min, room - v["patient.thickness_cm"])
        if skin < v["geometry.source_skin_cm"]:
            v["geometry.source_skin_cm"] = skin
            notes["geometry.source_skin_cm"] = (
                f"Patient moved toward the source to {skin:g} cm so that "
                f"{v['patient.thickness_cm']:g} cm of patient fits above the receptor "
                f"(SID {sid:g} cm, {MIN_AIR_GAP_CM:g} cm air gap)."
            )
        if skin + v["patient.thickness_cm"] > room:
            v["patient.thickness_cm"] = room - skin
            notes["patient.thickness_cm"] = (
                f"Reduced to {room - skin:g} cm: no thicker patient fits between a "
                f"{skin:g} cm source-skin distance and a {sid:g} cm SID."
            )
    if v["tube.mode"] == "pulsed":
        period_ms = MS_PER_S / v["tube.pulse_rate_pps"]
        if v["tube.pulse_ms"] > period_ms:
            v["tube.pulse_ms"] = _floor_step(period_ms, "tube.pulse_ms")
            notes["tube.pulse_ms"] = (
                f"Shortened to {v['tube.pulse_ms']:g} ms: a pulse cannot outlast the "
                f"{period_ms:.3g} ms between pulses at {v['tube.pulse_rate_pps']:g} pulses/s."
            )
    top = _ma_max(v)
    if not v["abc.enabled"] and v["tube.ma"] > top:
        v["tube.ma"] = top
        notes["tube.ma"] = (
            f"Lowered to {top:g} mA: the tube's ratings allow no more at {v['tube.kvp']:g} kV "
            "with this pulse width and rate (generator power, energy per pulse, anode heat)."
        )
    return v, notes


def canonical(values: dict[str, Any]) -> dict[str, Any]:
    """Values with the knobs ABC owns reset to their defaults while it is on (they do not
    change the image then), so that equal images share one cache entry and one URL."""
    v = dict(values)
    for name in abc_owned(values):
        v[name] = KNOBS[name].default
    return v


def non_default(values: dict[str, Any], base: dict[str, Any] | None = None) -> dict[str, Any]:
    """The knobs that differ from ``base`` (default: the knob defaults), leaving out those ABC
    owns while it is on."""
    v, b = canonical(values), canonical(base) if base is not None else None
    return {n: x for n, x in v.items() if x != (b[n] if b is not None else KNOBS[n].default)}


def _text(x: Any) -> str:
    if isinstance(x, bool):
        return "true" if x else "false"
    return f"{x:.10g}" if isinstance(x, float) else str(x)


def to_query(values: dict[str, Any], base: dict[str, Any] | None = None) -> dict[str, str]:
    """URL query parameters for the knobs that differ from ``base`` (dotted names, text)."""
    return {n: _text(x) for n, x in non_default(values, base).items()}


@dataclass(frozen=True)
class Parsed:
    """Knob values read from outside (URL, file) and one message per bad entry."""

    values: dict[str, Any]
    errors: tuple[str, ...]


def from_query(query: dict[str, str]) -> Parsed:
    """Knob values from URL query parameters; other keys (view, present, ...) are ignored.

    Each bad value gives the knob's own message (name and valid range); the good ones apply.
    """
    values, errors = {}, []
    for name, text in query.items():
        if "." not in name:
            continue
        try:
            values[name] = knob(name).parse(str(text)[:200])
        except ValueError as exc:
            errors.append(f"URL: {exc}")
    return Parsed(values, tuple(errors))


def from_json_bytes(data: bytes) -> Parsed:
    """Knob values from an imported parameters file (``sim.params.params_from_json``: size,
    JSON, every knob checked), valid together once the dependent knobs are reconciled.

    Raises
    ------
    ValueError
        Too large, not UTF-8 JSON, not an object of knobs, or any value invalid (the message
        names the knob and its range).
    """
    values = params_from_json(data)
    Params.from_dict(reconcile({**Params().to_dict(), **values})[0])
    return Parsed(values, ())


def params_json(values: dict[str, Any]) -> str:
    """The parameters file the app downloads (and imports): every knob by dotted name."""
    return json.dumps({"fluorosim": "parameters", "params": values}, indent=1, sort_keys=True)
