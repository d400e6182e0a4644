"""Every knob of the simulator, declared once: unit, default, valid range or choices, help.

``Params`` is a frozen dataclass of frozen per-stage sections (``p.tube.kvp``). The UI, the
command line and sweeps are all generated from :data:`KNOBS`, which is read off the dataclass
fields, so a knob exists in exactly one place.

Examples
--------
>>> p = Params().replace(**{"tube.kvp": 90, "grid.enabled": False})
>>> p.tube.kvp
90.0
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from sim.tube import check_loading
from sim.units import MS_PER_S
from sim.validate import short_repr

CONTINUOUS_FRAME_RATE_PPS = 30.0
"""Frame rate of continuous fluoroscopy [1/s] (video rate, Bushberg et al., ch. 9)."""


@dataclass(frozen=True)
class Knob:
    """One knob: dotted name, unit, default, range or choices, one-line help."""

    name: str
    unit: str
    default: Any
    min: float | None
    max: float | None
    choices: tuple | None
    help: str
    kind: type

    def describe_range(self) -> str:
        """The valid values as text, for error messages."""
        if self.kind is bool:
            return "true or false"
        if self.choices is not None:
            return "one of " + ", ".join(str(c) for c in self.choices)
        unit = f" {self.unit}" if self.unit and self.unit != "-" else ""
        return f"[{_fmt(self.min)}, {_fmt(self.max)}]{unit}"

    def as_dict(self) -> dict:
        """JSON-ready description (keys name, unit, default, min, max, choices, help)."""
        return {
            "name": self.name,
            "unit": self.unit,
            "default": self.default,
            "min": self.min,
            "max": self.max,
            "choices": list(self.choices) if self.choices is not None else None,
            "help": self.help,
        }

    def check(self, value: Any) -> Any:
        """Return ``value`` coerced to the knob's type, or raise ``ValueError``.

        Accepts bools for bool knobs, one of the choices for choice knobs, and real numbers
        (Python or numpy, not bool) for numeric knobs; anything else (strings, containers,
        NaN, inf, huge integers) raises a ``ValueError`` that names the knob and its range.
        """
        bad = f"{self.name}={show(value)} is invalid: expected {self.describe_range()}"
        if self.kind is bool:
            if isinstance(value, (bool, np.bool_)):
                return bool(value)
            raise ValueError(f"{bad} (got {type(value).__name__})")
        if self.choices is not None:
            if self.kind is str:
                if not (isinstance(value, str) and value in self.choices):
                    raise ValueError(bad)
                return str(value)
            number = _as_number(value)
            if number is None or number not in self.choices:
                raise ValueError(bad)
            return self.kind(number)
        number = _as_number(value)
        if number is None:
            raise ValueError(f"{bad} (got {type(value).__name__})")
        if not math.isfinite(number):
            raise ValueError(bad)
        if self.kind is int:
            if not number.is_integer():
                raise ValueError(f"{bad} (must be a whole number)")
            number = int(number)
        if not (self.min <= number <= self.max):
            raise ValueError(f"{self.name}={show(value)} is out of range {self.describe_range()}")
        return number

    def parse(self, text: str) -> Any:
        """Parse a command-line string for this knob, then check it."""
        if not isinstance(text, str):
            raise ValueError(f"{self.name}={show(text)} is invalid: expected text to parse")
        text = text.strip()
        if self.kind is bool:
            low = text.lower()
            if low in ("true", "1", "yes", "on"):
                return True
            if low in ("false", "0", "no", "off"):
                return False
            raise ValueError(f"{self.name}={show(text)} is invalid: expected true or false")
        if self.kind is str:
            return self.check(text)
        try:
            number = float(text)
        except ValueError:
            raise ValueError(
                f"{self.name}={show(text)} is not a number: expected {self.describe_range()}"
            ) from None
        return self.check(int(number) if self.kind is int and number.is_integer() else number)


def _as_number(value: Any) -> float | None:
    """A real number (Python or numpy scalar, or 0-d array; not bool) as a float, else None.

    Integers too large for a float become +-inf (so that they fail as out of range)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        try:
            return float(value)
        except OverflowError:
            return math.inf if value > 0 else -math.inf
    try:  # numpy scalars and 0-d arrays of integer or floating type
        dtype = getattr(value, "dtype", None)
        if dtype is not None and getattr(value, "ndim", 1) == 0 and dtype.kind in "iuf":
            return float(value)
    except Exception:  # an odd object (its attributes fail): not a number
        return None
    return None


def _fmt(x: Any) -> str:
    if isinstance(x, float) and x.is_integer() and abs(x) < 1e15:
        return str(int(x))
    return str(x)


def show(value: Any) -> str:
    """A value as an error message shows it: floats plainly (``200``, not ``200.0``), anything
    else as a short repr (long strings and deep or long containers are cut, so that a message
    stays one short line)."""
    if isinstance(value, (bool, np.bool_)):
        return repr(bool(value))
    if isinstance(value, numbers.Integral):  # numpy integers too, shown as plain numbers
        return short_repr(int(value))
    if isinstance(value, numbers.Real):
        return _fmt(float(value))
    return short_repr(value)


def declare(
    default: Any,
    unit: str = "-",
    lo: float | None = None,
    hi: float | None = None,
    *,
    choices: tuple | None = None,
    help: str,
) -> Any:
    """Declare a dataclass field as a knob (unit, range or choices, help)."""
    return field(
        default=default,
        metadata={"unit": unit, "min": lo, "max": hi, "choices": choices, "help": help},
    )


class _Section:
    """Base of the per-stage sections: validates every knob on construction."""

    _prefix = ""

    def __post_init__(self) -> None:
        for f in fields(self):
            k = _knob_of(self._prefix, f)
            object.__setattr__(self, f.name, k.check(getattr(self, f.name)))


def _knob_of(prefix: str, f: dataclasses.Field) -> Knob:
    md = f.metadata
    kind = type(f.default)
    return Knob(
        name=f"{prefix}.{f.name}",
        unit=md["unit"],
        default=f.default,
        min=md["min"],
        max=md["max"],
        choices=md["choices"],
        help=md["help"],
        kind=kind,
    )


@dataclass(frozen=True)
class Tube(_Section):
    """X-ray tube and generator technique (ABC may override kvp, ma, pulse_ms)."""

    _prefix = "tube"
    kvp: float = declare(80.0, "kV", 40.0, 150.0, help="Tube potential.")
    ma: float = declare(10.0, "mA", 0.1, 1000.0, help="Tube current during the pulse.")
    pulse_ms: float = declare(8.0, "ms", 0.5, 100.0, help="Pulse width (pulsed mode).")
    pulse_rate_pps: float = declare(15.0, "1/s", 0.5, 30.0, help="Pulse rate (pulsed mode).")
    mode: str = declare(
        "pulsed",
        choices=("pulsed", "continuous"),
        help="Pulsed fluoroscopy, or continuous at 30 frames/s with the beam always on.",
    )
    anode_angle_deg: float = declare(12.0, "deg", 6.0, 22.0, help="Tungsten anode angle.")
    focal_spot_mm: float = declare(0.6, "mm", 0.3, 1.2, help="Nominal focal-spot size.")


@dataclass(frozen=True)
class Filtration(_Section):
    """Spectral filtration in the beam (total aluminium includes the inherent filtration)."""

    _prefix = "filtration"
    al_mm: float = declare(3.0, "mm", 0.0, 50.0, help="Total aluminium filtration.")
    cu_mm: float = declare(0.1, "mm", 0.0, 1.0, help="Added copper spectral filter.")


@dataclass(frozen=True)
class Geometry(_Section):
    """Distances from the focal spot, collimation and receptor field of view."""

    _prefix = "geometry"
    sid_cm: float = declare(100.0, "cm", 80.0, 130.0, help="Source-to-image (receptor) distance.")
    source_iso_cm: float = declare(70.0, "cm", 40.0, 110.0, help="Focal spot to isocentre.")
    source_skin_cm: float = declare(
        60.0, "cm", 30.0, 120.0, help="Focal spot to the patient's entrance surface."
    )
    field_cm: float = declare(
        20.0, "cm", 5.0, 48.0, help="Collimated field side (or diameter) at the receptor."
    )
    field_shape: str = declare("square", choices=("square", "circle"), help="Collimator shape.")
    fov_cm: float = declare(
        30.0, "cm", 15.0, 48.0, help="Receptor field of view (side of the image at the receptor)."
    )
    table: bool = declare(True, help="Carbon-fibre table and pad in the beam below the patient.")


class LiveChoices(Sequence):
    """The choices of a knob that a higher layer fills in: the phantom registry
    (:mod:`sim.phantoms.registry`) sets the names of ``patient.phantom`` as phantoms register,
    so the knob, the app and the command line read the one registry."""

    def __init__(self) -> None:
        self._names: tuple[str, ...] = ()

    def set(self, names: Sequence[str]) -> None:
        """Replace the choices (in display order)."""
        self._names = tuple(names)

    def __getitem__(self, i):
        return self._names[i]

    def __len__(self) -> int:
        return len(self._names)

    def __contains__(self, value: object) -> bool:
        return value in self._names

    def __repr__(self) -> str:
        return f"LiveChoices{self._names!r}"


PHANTOMS = LiveChoices()
"""Names of the registered phantoms (filled by :mod:`sim.phantoms`)."""


@dataclass(frozen=True)
class Patient(_Section):
    """The phantom in the beam."""

    _prefix = "patient"
    phantom: str = declare("hip_injection", choices=PHANTOMS, help="Phantom.")
    thickness_cm: float = declare(22.0, "cm", 2.0, 40.0, help="Body (AP) thickness.")
    needle_progress: float = declare(
        1.0,
        "-",
        0.0,
        1.0,
        help="Needle path: 0 = tip at the skin, 1 = in the joint (swallow: bolus position).",
    )
    contrast_ml: float = declare(2.0, "ml", 0.0, 20.0, help="Contrast volume in the joint/vessels.")
    contrast_mg_i_per_ml: float = declare(
        240.0, "mg/ml", 0.0, 400.0, help="Iodine concentration of the contrast medium."
    )


@dataclass(frozen=True)
class Scatter(_Section):
    """Scattered radiation."""

    _prefix = "scatter"
    enabled: bool = declare(True, help="Include scattered radiation.")


@dataclass(frozen=True)
class Grid(_Section):
    """Focused linear anti-scatter grid."""

    _prefix = "grid"
    enabled: bool = declare(True, help="Anti-scatter grid in the beam.")
    ratio: float = declare(10.0, "-", 6.0, 16.0, help="Grid ratio (strip height / interspace).")
    lines_per_cm: float = declare(60.0, "1/cm", 30.0, 80.0, help="Strip density.")
    interspace: str = declare("fibre", choices=("fibre", "aluminium"), help="Interspace material.")
    # Lead strip thickness d. Default 36.7 um: 0.22 of the 60 lines/cm period, the value the
    # model used before d became a knob (# guess: no one grid's datasheet). Range: 20-37 um
    # strips at 70-100 lines/cm (Chan et al., Radiology 154:807, 1985; docs/references.md
    # [Chan1985b]), about 50 um at 40 lines/cm (Bushberg et al. 2012, ch. 7), 0.05-0.1 mm in
    # low-density grids (manufacturer descriptions, docs/references.md [Tab-ScatterGrid] [R]);
    # capped at 60 um so that d stays below half the period (62.5 um) at the densest grid,
    # 80 lines/cm.
    strip_um: float = declare(
        36.7, "um", 20.0, 60.0, help="Lead strip thickness (septum between interspaces)."
    )


@dataclass(frozen=True)
class Receptor(_Section):
    """Image receptor."""

    _prefix = "receptor"
    kind: str = declare(
        "flat_panel", choices=("flat_panel", "image_intensifier"), help="Receptor type."
    )
    csi_um: float = declare(600.0, "um", 200.0, 700.0, help="CsI:Tl phosphor thickness.")
    pixel_um: float = declare(150.0, "um", 100.0, 400.0, help="Native detector pixel pitch.")
    binning: int = declare(1, "-", choices=(1, 2, 4), help="Pixel binning.")
    electronic_noise_e: float = declare(
        1500.0, "e-", 0.0, 20000.0, help="Electronic noise per native pixel (rms electrons)."
    )
    lag: float = declare(0.03, "-", 0.0, 0.3, help="First-frame image lag fraction.")
    ii_glare: float = declare(0.1, "-", 0.0, 0.5, help="Image-intensifier veiling-glare fraction.")


@dataclass(frozen=True)
class Abc(_Section):
    """Automatic brightness (dose-rate) control."""

    _prefix = "abc"
    enabled: bool = declare(True, help="Automatic brightness control sets kVp, mA, pulse and Cu.")
    mode: str = declare(
        "normal", choices=("low", "normal", "high"), help="Receptor dose per frame level."
    )
    curve: str = declare(
        "standard",
        choices=("standard", "low_dose", "iodine"),
        help=(
            "ABC curve: standard; low dose (more Cu); iodine (kV near the iodine K-edge, Cu "
            "taken out before the kV rises)."
        ),
    )
    high_level: bool = declare(False, help="High-level control: 176 instead of 88 mGy/min.")
    rate_exponent: float = declare(
        0.5, "-", 0.0, 1.0, help="Dose per pulse scales as (15 pps / pulse rate)^exponent."
    )


@dataclass(frozen=True)
class Processing(_Section):
    """Image processing and display."""

    _prefix = "processing"
    log: bool = declare(True, help="Logarithmic (True) or linear (False) processing.")
    auto_window: bool = declare(True, help="Automatic window and level inside the field.")
    window: float = declare(2.0, "-", 0.01, 20.0, help="Manual window width (processed units).")
    level: float = declare(3.0, "-", -5.0, 20.0, help="Manual window level (processed units).")
    gamma: float = declare(1.0, "-", 0.3, 3.0, help="Display gamma.")
    edge_strength: float = declare(0.5, "-", 0.0, 3.0, help="Unsharp-mask edge enhancement.")
    edge_radius_mm: float = declare(2.0, "mm", 0.2, 20.0, help="Unsharp-mask kernel radius.")
    invert: bool = declare(False, help="Radiographic look (bone white) instead of fluoroscopic.")
    recursive_weight: float = declare(
        0.5, "-", 0.0, 0.95, help="Recursive temporal filter weight of the previous frame."
    )
    frame_average: int = declare(1, "-", 1, 16, help="Frames averaged (runs).")
    dsa: bool = declare(False, help="Digital subtraction against the first (mask) frame (runs).")


@dataclass(frozen=True)
class Dose(_Section):
    """Patient dose reporting."""

    _prefix = "dose"
    region: str = declare(
        "pelvis",
        choices=("head", "neck", "chest", "abdomen", "pelvis", "cardiac", "extremity"),
        help="Body region for the effective-dose coefficient.",
    )


@dataclass(frozen=True)
class Sequence(_Section):
    """Events of a fluoroscopy run (the hip injection) and periodic motion."""

    _prefix = "sequence"
    needle_s: float = declare(
        20.0, "s", 0.0, 3600.0, help="Time for the needle to reach the joint."
    )
    inject_s: float = declare(30.0, "s", 0.0, 3600.0, help="Time the contrast injection starts.")
    fill_s: float = declare(10.0, "s", 0.1, 600.0, help="Duration of the contrast fill.")
    motion_mm: float = declare(0.0, "mm", 0.0, 30.0, help="Periodic motion amplitude.")
    motion_period_s: float = declare(4.0, "s", 0.5, 20.0, help="Periodic motion period.")


@dataclass(frozen=True)
class Run(_Section):
    """Noise seed, image size and beam-on time."""

    _prefix = "run"
    seed: int = declare(0, "-", 0, 2**31 - 1, help="Noise seed (same seed, same image).")
    image_px: int = declare(512, "px", 64, 2048, help="Image side.")
    fluoro_time_s: float = declare(60.0, "s", 0.1, 7200.0, help="Beam-on (fluoroscopy) time.")
    noise: bool = declare(True, help="Quantum and electronic noise.")
    max_frames: int = declare(600, "-", 1, 10000, help="Most frames kept as images in a run.")


SECTIONS = {
    "tube": Tube,
    "filtration": Filtration,
    "geometry": Geometry,
    "patient": Patient,
    "scatter": Scatter,
    "grid": Grid,
    "receptor": Receptor,
    "abc": Abc,
    "processing": Processing,
    "dose": Dose,
    "sequence": Sequence,
    "run": Run,
}

KNOBS: dict[str, Knob] = {
    f"{prefix}.{f.name}": _knob_of(prefix, f)
    for prefix, cls in SECTIONS.items()
    for f in fields(cls)
}
"""Every knob by dotted name, in declaration order."""

MIN_AIR_GAP_CM = 1.0
"""Least distance between the patient's exit surface and the receptor [cm] (a modelling choice)."""


II_MAX_FOV_CM = 40.0
"""Largest image-intensifier input field of view [cm] (40 cm tubes; Bushberg et al., ch. 9)."""


def _section_field(name: str) -> dataclasses.Field:
    return dataclasses.field(default_factory=SECTIONS[name])


@dataclass(frozen=True)
class Params:
    """All simulator parameters; defaults describe an adult hip-joint injection."""

    tube: Tube = _section_field("tube")
    filtration: Filtration = _section_field("filtration")
    geometry: Geometry = _section_field("geometry")
    patient: Patient = _section_field("patient")
    scatter: Scatter = _section_field("scatter")
    grid: Grid = _section_field("grid")
    receptor: Receptor = _section_field("receptor")
    abc: Abc = _section_field("abc")
    processing: Processing = _section_field("processing")
    dose: Dose = _section_field("dose")
    sequence: Sequence = _section_field("sequence")
    run: Run = _section_field("run")

    def __post_init__(self) -> None:
        for name, cls in SECTIONS.items():
            if not isinstance(getattr(self, name), cls):
                raise ValueError(f"Params.{name} must be a {cls.__name__}")
        g, t = self.geometry, self.patient.thickness_cm
        exit_cm = g.source_skin_cm + t
        if exit_cm > g.sid_cm - MIN_AIR_GAP_CM:
            raise ValueError(
                f"geometry.source_skin_cm + patient.thickness_cm = {_fmt(exit_cm)} cm must be at"
                f" most geometry.sid_cm - {_fmt(MIN_AIR_GAP_CM)} = {_fmt(g.sid_cm - 1)} cm:"
                " move the patient toward the source, thin it, or raise the SID"
            )
        if self.receptor.kind == "image_intensifier" and g.fov_cm > II_MAX_FOV_CM:
            raise ValueError(
                f"geometry.fov_cm={_fmt(g.fov_cm)} is too large for receptor.kind="
                f"image_intensifier: its input field is at most {_fmt(II_MAX_FOV_CM)} cm"
            )
        tube = self.tube
        if tube.mode == "pulsed" and tube.pulse_ms * tube.pulse_rate_pps > MS_PER_S:
            raise ValueError(
                f"tube.pulse_ms={_fmt(tube.pulse_ms)} is longer than the frame period"
                f" 1/tube.pulse_rate_pps = {_fmt(round(MS_PER_S / tube.pulse_rate_pps, 2))} ms"
            )
        if g.source_iso_cm >= g.sid_cm:
            raise ValueError(
                f"geometry.source_iso_cm={_fmt(g.source_iso_cm)} must be below"
                f" geometry.sid_cm={_fmt(g.sid_cm)} cm"
            )
        if not self.abc.enabled:  # ABC keeps its own techniques within the ratings
            check_loading(
                tube.kvp, tube.ma, tube.pulse_ms, tube.pulse_rate_pps, tube.mode == "continuous"
            )

    def get(self, name: str) -> Any:
        """Value of a knob by dotted name."""
        section, attr = _split(name)
        return getattr(getattr(self, section), attr)

    def replace(self, **changes: Any) -> Params:
        """Copy with knobs changed by dotted name (``**{"tube.kvp": 90}``), validated."""
        by_section: dict[str, dict[str, Any]] = {}
        for name, value in changes.items():
            section, attr = _split(name)
            by_section.setdefault(section, {})[attr] = value
        new = {s: dataclasses.replace(getattr(self, s), **kv) for s, kv in by_section.items()}
        return dataclasses.replace(self, **new)

    def to_dict(self) -> dict[str, Any]:
        """Flat mapping of every knob's dotted name to its value."""
        return {name: self.get(name) for name in KNOBS}

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> Params:
        """Params from a flat mapping of dotted names (missing knobs keep their defaults)."""
        if not isinstance(values, Mapping):
            raise ValueError(
                f"Params.from_dict needs a mapping of dotted knob names to values, got "
                f"{type(values).__name__}"
            )
        for name in values:
            _split(name)  # a name that is not a knob (or not text) fails here, by name
        return cls().replace(**values)


def _split(name: str) -> tuple[str, str]:
    if not isinstance(name, str) or name not in KNOBS:
        word = name[:100] if isinstance(name, str) else ""  # difflib is linear in the length
        near = difflib.get_close_matches(word, list(KNOBS), n=3, cutoff=0.5)
        hint = f"; did you mean {' or '.join(near)}?" if near else ""
        raise ValueError(f"unknown knob {show(name)}{hint} (`fluorosim params` lists them)")
    section, attr = name.split(".", 1)
    return section, attr


def knob(name: str) -> Knob:
    """The :class:`Knob` of a dotted name, or ``ValueError`` with a did-you-mean."""
    _split(name)
    return KNOBS[name]


def parse_assignment(text: str) -> tuple[str, Any]:
    """Parse ``name=value`` as given on the command line into (name, checked value)."""
    if not isinstance(text, str) or "=" not in text:
        raise ValueError(f"expected name=value, got {show(text)}")
    name, value = text.split("=", 1)
    name = name.strip()
    return name, knob(name).parse(value)


MAX_PARAMS_BYTES = 64 * 1024
"""Largest parameters file read by :func:`params_from_json` [bytes] (a full file of every knob
is about 3 kB)."""


_JSON_KINDS = {
    list: "an array",
    str: "a string",
    int: "a number",
    float: "a number",
    bool: "a boolean",
    type(None): "null",
}


class _DuplicateKey(ValueError):
    pass


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(f"{show(key)} appears twice in the parameters file")
        out[key] = value
    return out


def params_from_json(data: bytes) -> dict[str, Any]:
    """Knob values from a parameters file: a JSON object of dotted knob name -> value.

    The object is either flat (``{"tube.kvp": 90, "grid.enabled": false}``) or the app's
    download, ``{"fluorosim": "parameters", "params": {...}}``. Values are JSON numbers,
    booleans and strings; a string for a numeric or boolean knob is parsed as on the command
    line (``"90"``, ``"false"``). Each value is checked against its knob; combinations of knobs
    are checked when the values are applied (``Params.replace``), since they depend on the
    parameters they are applied to.

    Parameters
    ----------
    data : bytes
        The file's content, UTF-8 (a byte-order mark is allowed), at most
        :data:`MAX_PARAMS_BYTES`.

    Returns
    -------
    dict
        Dotted knob name -> checked value, in the file's order.

    Raises
    ------
    ValueError
        Too large, not UTF-8, not JSON, nested too deeply, a name twice, not an object of
        knobs, an unknown knob or an invalid value (the message names the knob and its range).
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ValueError(f"a parameters file is bytes, got {type(data).__name__}")
    if len(data) > MAX_PARAMS_BYTES:
        raise ValueError(
            f"the parameters file is larger than {MAX_PARAMS_BYTES // 1024} kB "
            f"({MAX_PARAMS_BYTES} bytes), the most a parameters file may have"
        )
    try:
        text = bytes(data).decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(f"not a JSON file (not UTF-8 text at byte {exc.start})") from None
    try:
        doc = json.loads(text, object_pairs_hook=_object_without_duplicates)
    except _DuplicateKey:
        raise
    except RecursionError:
        raise ValueError("not a JSON file of knobs (nested too deeply)") from None
    except ValueError as exc:  # JSONDecodeError, or an integer with too many digits
        raise ValueError(f"not a JSON file ({str(exc)[:200]})") from None
    example = 'e.g. {"tube.kvp": 90, "grid.enabled": false}'
    if isinstance(doc, dict) and isinstance(doc.get("params"), dict):  # the app's download
        extra = [k for k in doc if k not in ("fluorosim", "params")]
        if doc.get("fluorosim", "parameters") != "parameters" or extra:
            what = show(extra[0]) if extra else f"fluorosim={show(doc['fluorosim'])}"
            raise ValueError(
                f'unexpected {what} beside "params": a parameters file is '
                '{"fluorosim": "parameters", "params": {...}} or a flat object of knobs'
            )
        doc = doc["params"]
    if not isinstance(doc, dict):
        raise ValueError(
            f"a parameters file holds a JSON object of knob names and values ({example}), "
            f"not {_JSON_KINDS.get(type(doc), 'a ' + type(doc).__name__)}"
        )
    values: dict[str, Any] = {}
    for name, value in doc.items():
        k = knob(name)
        values[name] = (
            k.parse(value) if isinstance(value, str) and k.kind is not str else (k.check(value))
        )
    return values


def knobs_json() -> str:
    """The knob table as JSON (a list of objects, for ``fluorosim params --json``)."""
    return json.dumps([k.as_dict() for k in KNOBS.values()], indent=1)


@dataclass(frozen=True)
class Technique:
    """The exposure technique actually used for a frame (what ABC chose)."""

    kvp: float
    ma: float
    pulse_ms: float
    pulse_rate_pps: float
    cu_mm: float
    continuous: bool = False

    @property
    def frame_time_s(self) -> float:
        """Time between frames [s]."""
        return 1.0 / self.pulse_rate_pps

    @property
    def exposure_s(self) -> float:
        """Beam-on time per frame [s]: the pulse width, or the whole frame if continuous."""
        return self.frame_time_s if self.continuous else self.pulse_ms / MS_PER_S

    @property
    def mas_per_frame(self) -> float:
        """Tube charge per frame [mAs]."""
        return self.ma * self.exposure_s

    def as_dict(self) -> dict[str, float]:
        """Mapping for ``Result.technique`` (kvp, ma, pulse_ms, pulse_rate_pps, cu_mm, ...)."""
        return {
            "kvp": self.kvp,
            "ma": self.ma,
            "pulse_ms": self.exposure_s * MS_PER_S,
            "pulse_rate_pps": self.pulse_rate_pps,
            "cu_mm": self.cu_mm,
            "mas_per_frame": self.mas_per_frame,
        }


def technique_from(p: Params) -> Technique:
    """The technique set on the knobs (before any ABC)."""
    continuous = p.tube.mode == "continuous"
    return Technique(
        kvp=p.tube.kvp,
        ma=p.tube.ma,
        pulse_ms=p.tube.pulse_ms,
        pulse_rate_pps=CONTINUOUS_FRAME_RATE_PPS if continuous else p.tube.pulse_rate_pps,
        cu_mm=p.filtration.cu_mm,
        continuous=continuous,
    )
