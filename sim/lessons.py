"""Guided lessons: predict, move one knob, see what the simulator says and why.

A lesson is data, one TOML file in ``assets/lessons`` (shipped as ``sim/_assets/lessons``):
a question the student answers before touching anything, a starting state A (a preset plus
some knobs), one knob moved to give state B, the changes the physics predicts (checked against
the simulator), and a short explanation whose numbers the simulator fills in. This module
loads and validates the files, builds the two states, and checks and explains the results; it
does no physics of its own beyond one image measurement (:func:`needle_tip_contrast`).

File format (Python 3.11 ``tomllib``)::

    id = "kvp_contrast"                 # lowercase identifier, unique
    title = "kVp and contrast"
    order = 1                           # position in the course, unique
    predict = "What happens to the contrast if you raise the tube potential?"
    choices = ["It rises", "It falls", "It stays the same"]     # 2-4 short answers
    answer = 1                          # index into choices
    base = "hip_injection"              # optional: a name of sim.presets.PRESETS
    kind = "frame"                      # optional, "frame" (sim.simulate, the default) or
                                        #   "run" (sim.sequence.run)
    explain = "... {a.metrics.contrast} ... {change.metrics.contrast} ..."
    sources = ["Bushberg et al., The Essential Physics of Medical Imaging, 3rd ed., ch. 9"]

    [setup]                             # knob -> value on top of the base: state A
    abc.enabled = false                 #   (bare dotted keys or quoted "abc.enabled")
    tube.kvp = 70

    [move]                              # state B = state A with one knob moved
    knob = "tube.kvp"
    to = 100
    hint = "Move the Tube potential slider to 100 kV."     # optional, human labels only

    [[expect]]                          # one table per expected change, at least one
    quantity = "metrics.contrast"       # technique.*, dose.*, metrics.* or needle.tip_contrast
    change = "down"                     # "up", "down" or "same"
    by_at_least = 0.2                   # optional (up/down): least relative change |b/a - 1|
    within = 0.05                       # optional (same): largest |b/a - 1|, default 0.05

Placeholders in ``explain``: ``{a.X}`` and ``{b.X}`` (value in state A or B), ``{ratio.X}``
(b / a) and ``{change.X}`` (signed percent change from a to b), where ``X`` is a result
quantity (``metrics.contrast``, ``dose.kap_Gycm2``, ``technique.kvp``,
``needle.tip_contrast``) or ``knob.`` and a dotted knob name (``{b.knob.tube.kvp}``: the value
set on the knob). ``a`` and ``b`` are shown with their unit (:mod:`sim.quantities`, or the
knob's unit), so the text types neither the number nor its unit; ratios and changes are shown
to three significant digits.

References
----------
.. [1] J. T. Bushberg, J. A. Seibert, E. M. Leidholdt, J. M. Boone, The Essential Physics of
   Medical Imaging, 3rd ed. (2012), ch. 4 (contrast, the definition used by
   :func:`needle_tip_contrast`) and ch. 9 (fluoroscopy).
.. [2] Python documentation, ``tomllib`` (TOML 1.0.0 parser, Python 3.11).
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
from scipy import ndimage

from sim import chain, sequence
from sim.materials import asset_path
from sim.params import KNOBS, SECTIONS, Params, knob
from sim.presets import PRESETS
from sim.quantities import QUANTITIES, quantity, significant

LESSONS_DIR = ("lessons",)
"""Folder of the lesson files below ``assets/`` (found by :func:`sim.materials.asset_path`)."""

KINDS = ("frame", "run")
"""How a lesson is played: one frame (:func:`sim.chain.simulate`) or a run
(:func:`sim.sequence.run`)."""

CHANGES = ("up", "down", "same")
"""Expected change of a quantity from state A to state B."""

SAME_WITHIN = 0.05
"""Default largest relative change |b/a - 1| that still counts as "same" [-]."""

RESULT_SECTIONS = ("technique", "dose", "metrics")
"""Mappings of a result that expectations and placeholders read (``Result.dose``, ...)."""

NEEDLE_KEYS = ("tip_contrast",)
"""Quantities measured here on the image, section ``needle`` (:func:`needle_tip_contrast`)."""

PLACEHOLDER_PREFIXES = ("a", "b", "ratio", "change")
"""First part of a placeholder: state A, state B, b / a, percent change from a to b."""

SIG_DIGITS = 3
"""Significant digits of the numbers filled into an explanation."""

PERCENT = 100.0  # [%] per unit fraction

_REQUIRED = (
    "id", "title", "order", "predict", "choices", "answer", "move", "expect", "explain", "sources"
)  # fmt: skip
_OPTIONAL = ("base", "kind", "setup")
_MOVE_KEYS = ("knob", "to", "hint")
_EXPECT_KEYS = ("quantity", "change", "by_at_least", "within")
_ID = re.compile(r"^[a-z][a-z0-9_]*$")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_DOTTED = re.compile(r"\b(?:" + "|".join(SECTIONS) + r")\.[a-z_]+\b")
_MIN_CHOICES, _MAX_CHOICES = 2, 4


# --------------------------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Move:
    """The one knob a lesson moves: state B is state A with ``knob`` set to ``to``.

    Attributes
    ----------
    knob : str
        Dotted knob name (``tube.kvp``).
    to : bool, int, float or str
        Its value in state B, checked against the knob's range [knob's unit].
    hint : str
        What to do in the app, with the control's human label (may be empty).
    """

    knob: str
    to: Any
    hint: str = ""


@dataclass(frozen=True)
class Expectation:
    """A change the physics predicts from state A to state B.

    Attributes
    ----------
    quantity : str
        ``technique.*``, ``dose.*``, ``metrics.*`` or ``needle.tip_contrast``.
    change : str
        ``"up"``, ``"down"`` or ``"same"``.
    by_at_least : float or None
        Up/down: least relative change ``|b/a - 1|`` [-].
    within : float or None
        Same: largest relative change ``|b/a - 1|`` (None: :data:`SAME_WITHIN`) [-].
    """

    quantity: str
    change: str
    by_at_least: float | None = None
    within: float | None = None


@dataclass(frozen=True)
class Lesson:
    """One guided lesson, as loaded from its TOML file (see the module docstring).

    Attributes
    ----------
    id, title : str
        Identifier and title.
    order : int
        Position in the course (1 = first).
    predict : str
        The question the student answers before moving anything.
    choices : tuple of str
        Two to four short answers.
    answer : int
        Index of the right answer in ``choices``.
    base : str or None
        Preset the lesson starts from (``sim.presets.PRESETS``), or None for the defaults.
    setup : mapping of str to value
        Knob -> value applied on top of the base (state A).
    move : Move
        The knob moved to give state B.
    kind : str
        ``"frame"`` or ``"run"``.
    expect : tuple of Expectation
        Changes checked by :func:`check`.
    explain : str
        Explanation with placeholders (filled by :func:`explain`).
    sources : tuple of str
        Textbook chapters, standards and papers behind the lesson.
    path : str
        File the lesson was loaded from (for messages).
    """

    id: str
    title: str
    order: int
    predict: str
    choices: tuple[str, ...]
    answer: int
    base: str | None
    setup: MappingProxyType
    move: Move
    kind: str
    expect: tuple[Expectation, ...]
    explain: str
    sources: tuple[str, ...]
    path: str = ""


# --------------------------------------------------------------------------------------------
# loading and validation
# --------------------------------------------------------------------------------------------
def _bad(where: str, field: str, message: str) -> ValueError:
    return ValueError(f"{where}: field {field!r} {message}")


def _text(where: str, data: Mapping, field: str, *, required: bool = True) -> str:
    value = data.get(field, "")
    if not isinstance(value, str):
        raise _bad(where, field, f"must be text, got {type(value).__name__}")
    if required and not value.strip():
        raise _bad(where, field, "must not be empty")
    return " ".join(value.split())


def _integer(where: str, data: Mapping, field: str) -> int:
    value = data[field]
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad(where, field, f"must be a whole number, got {value!r}")
    return value


def _texts(where: str, data: Mapping, field: str, lo: int, hi: int | None) -> tuple[str, ...]:
    value = data[field]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise _bad(where, field, "must be a list of non-empty texts")
    if len(value) < lo or (hi is not None and len(value) > hi):
        most = f"-{hi}" if hi is not None else " or more"
        entries = "entry" if len(value) == 1 else "entries"
        raise _bad(where, field, f"has {len(value)} {entries}, expected {lo}{most}")
    return tuple(" ".join(v.split()) for v in value)


def _flat_knobs(where: str, field: str, table: Any) -> dict[str, Any]:
    """``{"tube": {"kvp": 70}}`` (TOML bare dotted keys) or ``{"tube.kvp": 70}`` -> flat."""
    if not isinstance(table, dict):
        raise _bad(where, field, f"must be a table of knob = value, got {type(table).__name__}")
    pairs: list[tuple[str, Any]] = []
    for key, value in table.items():
        if isinstance(value, dict):
            for sub, v in value.items():
                if isinstance(v, dict):
                    raise _bad(where, f"{field}.{key}.{sub}", "is nested too deeply")
                pairs.append((f"{key}.{sub}", v))
        else:
            pairs.append((key, value))
    out: dict[str, Any] = {}
    for name, value in pairs:
        if name in out:
            raise _bad(where, f"{field}.{name}", "is set twice (quoted and bare dotted key)")
        out[name] = value
    for name, value in out.items():
        try:
            out[name] = knob(name).check(value)
        except ValueError as e:
            raise _bad(where, f"{field}.{name}", f"is invalid: {e}") from None
    return out


def _move(where: str, data: Any) -> Move:
    if not isinstance(data, dict):
        raise _bad(where, "move", "must be a table with knob, to and optionally hint")
    for key in data:
        if key not in _MOVE_KEYS:
            raise _bad(where, f"move.{key}", f"is unknown: expected one of {', '.join(_MOVE_KEYS)}")
    for key in ("knob", "to"):
        if key not in data:
            raise _bad(where, f"move.{key}", "is missing")
    name = data["knob"]
    if not isinstance(name, str):
        raise _bad(where, "move.knob", f"must be a dotted knob name, got {name!r}")
    try:
        to = knob(name).check(data["to"])
    except ValueError as e:
        field = "move.knob" if name not in KNOBS else "move.to"
        raise _bad(where, field, f"is invalid: {e}") from None
    hint = _text(where, data, "hint", required=False)
    dotted = _DOTTED.findall(hint)
    if dotted:
        raise _bad(
            where, "move.hint", f"names the knob {dotted[0]!r}: use the control's label instead"
        )
    return Move(name, to, hint)


def _expectations(where: str, data: Any) -> tuple[Expectation, ...]:
    if not isinstance(data, list) or not data or not all(isinstance(e, dict) for e in data):
        raise _bad(where, "expect", "must be one or more [[expect]] tables")
    out = []
    for i, e in enumerate(data):
        at = f"expect[{i}]"
        for key in e:
            if key not in _EXPECT_KEYS:
                raise _bad(where, f"{at}.{key}", f"is unknown: expected {', '.join(_EXPECT_KEYS)}")
        for key in ("quantity", "change"):
            if key not in e:
                raise _bad(where, f"{at}.{key}", "is missing")
        name = e["quantity"]
        problem = _quantity_problem(name, allow_knob=False)
        if problem:
            raise _bad(where, f"{at}.quantity", f"is invalid: {problem}")
        change = e["change"]
        if not isinstance(change, str) or change not in CHANGES:
            raise _bad(where, f"{at}.change", f"= {change!r}: expected one of {', '.join(CHANGES)}")
        limits = {}
        for key, applies in (("by_at_least", ("up", "down")), ("within", ("same",))):
            if key not in e:
                continue
            if change not in applies:
                raise _bad(where, f"{at}.{key}", f"does not apply to change = {change!r}")
            v = e[key]
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not (0 < v < math.inf):
                raise _bad(where, f"{at}.{key}", f"= {v!r}: expected a positive number")
            limits[key] = float(v)
        out.append(Expectation(name, change, **limits))
    return tuple(out)


def _quantity_problem(name: Any, *, allow_knob: bool) -> str:
    """Why ``name`` is not a quantity (``metrics.cnr``, ``knob.tube.kvp``), or ``""``."""
    if not isinstance(name, str) or "." not in name:
        return f"{name!r} is not a quantity: expected section.key, e.g. metrics.contrast"
    section, key = name.split(".", 1)
    sections = (*RESULT_SECTIONS, "needle") + (("knob",) if allow_knob else ())
    if section not in sections:
        expected = ", ".join(sections)
        return f"{name!r} has an unknown section {section!r}: expected one of {expected}"
    if section == "knob":
        return "" if key in KNOBS else f"{name!r} names no knob ({key!r})"
    if section == "needle":
        return "" if key in NEEDLE_KEYS else f"{name!r}: needle has only {', '.join(NEEDLE_KEYS)}"
    if name not in QUANTITIES:
        try:
            quantity(name)
        except ValueError as e:
            return str(e)
    return ""


def placeholders(text: str) -> tuple[str, ...]:
    """The placeholders of an explanation, in order (``a.metrics.contrast``, ...).

    Parameters
    ----------
    text : str
        Explanation text.

    Returns
    -------
    tuple of str
        Placeholder names without braces.

    Raises
    ------
    ValueError
        If a placeholder is malformed or a brace is unmatched.
    """
    names = []
    for m in _PLACEHOLDER.finditer(text):
        name = m.group(1)
        prefix, _, quantity = name.partition(".")
        if prefix not in PLACEHOLDER_PREFIXES:
            raise ValueError(
                f"placeholder {{{name}}} must start with one of {', '.join(PLACEHOLDER_PREFIXES)}"
            )
        problem = _quantity_problem(quantity, allow_knob=True)
        if problem:
            raise ValueError(f"placeholder {{{name}}}: {problem}")
        names.append(name)
    rest = _PLACEHOLDER.sub("", text)
    if "{" in rest or "}" in rest:
        raise ValueError("has an unmatched { or }")
    return tuple(names)


def _line_of(path: Path, message: str) -> str:
    """``: <text of the line>`` named by a TOML error message ("... (at line 3, ...)")."""
    m = re.search(r"at line (\d+)", message)
    if not m:
        return ""
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    n = int(m.group(1))
    return f": {lines[n - 1].strip()!r}" if 0 < n <= len(lines) else ""


def load_lesson(path: str | Path) -> Lesson:
    """Load and validate one lesson file.

    Parameters
    ----------
    path : str or pathlib.Path
        A ``.toml`` lesson file (format in the module docstring).

    Returns
    -------
    Lesson
        The lesson; its states A and B are valid parameters.

    Raises
    ------
    ValueError
        Naming the file and the field: TOML syntax, unknown or missing field, wrong type,
        unknown knob or value out of range (the :mod:`sim.params` checks), bad placeholder,
        answer index out of range, unknown preset, a move that changes nothing.
    """
    path = Path(path)
    where = str(path)
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"{where}: not valid TOML: {e}{_line_of(path, str(e))}") from None
    except OSError as e:
        raise ValueError(f"{where}: cannot read the lesson file: {e.strerror}") from None
    for key in data:
        if key not in _REQUIRED + _OPTIONAL:
            raise _bad(where, key, f"is unknown: expected {', '.join(_REQUIRED + _OPTIONAL)}")
    for key in _REQUIRED:
        if key not in data:
            raise _bad(where, key, "is missing")
    lesson_id = _text(where, data, "id")
    if not _ID.match(lesson_id):
        raise _bad(where, "id", f"= {lesson_id!r} must be lowercase letters, digits and _")
    order = _integer(where, data, "order")
    if order < 1:
        raise _bad(where, "order", f"= {order} must be 1 or more")
    choices = _texts(where, data, "choices", _MIN_CHOICES, _MAX_CHOICES)
    answer = _integer(where, data, "answer")
    if not 0 <= answer < len(choices):
        raise _bad(where, "answer", f"= {answer} is out of range 0-{len(choices) - 1} (choices)")
    base = data.get("base")
    if base is not None and (not isinstance(base, str) or base not in PRESETS):
        raise _bad(where, "base", f"= {base!r} is no preset: expected one of {', '.join(PRESETS)}")
    kind = data.get("kind", "frame")
    if not isinstance(kind, str) or kind not in KINDS:
        raise _bad(where, "kind", f"= {kind!r}: expected one of {', '.join(KINDS)}")
    explain_text = _text(where, data, "explain")
    try:
        placeholders(explain_text)
    except ValueError as e:
        raise _bad(where, "explain", str(e)) from None
    lesson = Lesson(
        id=lesson_id,
        title=_text(where, data, "title"),
        order=order,
        predict=_text(where, data, "predict"),
        choices=choices,
        answer=answer,
        base=base,
        setup=MappingProxyType(_flat_knobs(where, "setup", data.get("setup", {}))),
        move=_move(where, data["move"]),
        kind=kind,
        expect=_expectations(where, data["expect"]),
        explain=explain_text,
        sources=_texts(where, data, "sources", 1, None),
        path=where,
    )
    try:
        a, b = states(lesson)
    except ValueError as e:
        raise _bad(where, "setup", f"with move gives invalid parameters: {e}") from None
    if a.get(lesson.move.knob) == b.get(lesson.move.knob):
        raise _bad(where, "move.to", f"= {lesson.move.to!r} is already the value in state A")
    return lesson


def load_lessons(folder: str | Path | None = None) -> tuple[Lesson, ...]:
    """Load every ``*.toml`` lesson of a folder, in course order.

    Parameters
    ----------
    folder : str or pathlib.Path, optional
        Folder of lesson files; default the shipped lessons (``sim/_assets/lessons``, or
        ``assets/lessons`` in a checkout).

    Returns
    -------
    tuple of Lesson
        Sorted by ``order``.

    Raises
    ------
    ValueError
        A file is invalid (see :func:`load_lesson`), two lessons share an id or an order, or
        the folder does not exist.
    """
    root = Path(folder) if folder is not None else asset_path(*LESSONS_DIR)
    if not root.is_dir():
        raise ValueError(f"lesson folder {str(root)!r} does not exist")
    lessons = [load_lesson(f) for f in sorted(root.glob("*.toml"))]
    for field in ("id", "order"):
        seen: dict[Any, str] = {}
        for lesson in lessons:
            value = getattr(lesson, field)
            if value in seen:
                raise _bad(lesson.path, field, f"= {value!r} is also used by {seen[value]}")
            seen[value] = lesson.path
    return tuple(sorted(lessons, key=lambda lesson: lesson.order))


# --------------------------------------------------------------------------------------------
# states and results
# --------------------------------------------------------------------------------------------
def states(lesson: Lesson) -> tuple[Params, Params]:
    """The lesson's two parameter sets.

    Parameters
    ----------
    lesson : Lesson
        A loaded lesson.

    Returns
    -------
    (sim.Params, sim.Params)
        State A (base preset, then ``setup``) and state B (A with the moved knob).
    """
    base = PRESETS[lesson.base].params() if lesson.base else Params()
    a = base.replace(**dict(lesson.setup))
    return a, a.replace(**{lesson.move.knob: lesson.move.to})


def play(lesson: Lesson) -> tuple[Any, Any]:
    """Simulate both states: ``sim.Result`` each (kind "frame") or ``sim.RunResult`` ("run").

    Parameters
    ----------
    lesson : Lesson
        A loaded lesson.

    Returns
    -------
    (result A, result B)
        What :func:`numbers`, :func:`explain` and :func:`check` take.
    """
    simulate = chain.simulate if lesson.kind == "frame" else sequence.run
    return tuple(simulate(p) for p in states(lesson))


def needle_tip_contrast(result: Any) -> float:
    """Contrast of the needle tip against a ring around it, noise-free [-].

    ``(B - S) / B`` (Bushberg et al., ch. 4) with ``S`` the mean noise-free detector signal in
    the phantom's ``needle_tip`` region (a disc at the tip, radius ``r`` in pixels from its
    area) and ``B`` the mean over the ring of pixels at a distance ``r < d <= 2 r`` from it.
    For a run the image is the last frame after detector lag and the temporal filters
    (``stages["last_expected"]``), so a tip that has just moved and is still fading in shows a
    lower contrast (trailing); for a frame it is the noise-free detected signal
    (``stages["absorbed"]``).

    Parameters
    ----------
    result : sim.Result or sim.RunResult
        A simulated frame or run of a phantom with a needle (hip injection, lumbar spine).

    Returns
    -------
    float
        Tip contrast [-]; positive when the tip attenuates more than its surroundings.

    Raises
    ------
    ValueError
        If the phantom has no needle.
    """
    p = result.params
    if isinstance(result, sequence.RunResult):
        image, rois = result.stages["last_expected"], result.stages["rois"]
    else:
        image = result.stages["absorbed"]
        rois = chain.scene(p.geometry, p.patient, p.run.image_px).rois
    if "needle_tip" not in rois:
        raise ValueError(f"needle.tip_contrast: phantom {p.patient.phantom!r} has no needle")
    tip = np.asarray(rois["needle_tip"], dtype=bool)
    if not tip.any():
        return math.nan  # the tip projects outside the image: nothing to measure
    radius_px = max(1.0, math.sqrt(np.count_nonzero(tip) / math.pi))
    d = ndimage.distance_transform_edt(~tip)
    ring = (d > radius_px) & (d <= 2.0 * radius_px)
    signal = float(np.mean(image[tip]))
    background = float(np.mean(image[ring]))
    return (background - signal) / background if background > 0.0 else 0.0


def value(result: Any, quantity: str) -> Any:
    """A quantity of a result: ``metrics.cnr``, ``dose.kap_Gycm2``, ``technique.kvp``,
    ``needle.tip_contrast`` or ``knob.tube.kvp`` (the value set on a knob).

    Parameters
    ----------
    result : sim.Result or sim.RunResult
        Simulated state.
    quantity : str
        Section and key.

    Returns
    -------
    float, bool or str
        The value (numpy scalars as Python numbers) [unit of the quantity].

    Raises
    ------
    ValueError
        If the result has no such quantity.
    """
    section, key = quantity.split(".", 1)
    if section == "knob":
        return result.params.get(key)
    if section == "needle":
        return needle_tip_contrast(result)
    mapping = getattr(result, section, None)
    if not isinstance(mapping, Mapping) or key not in mapping:
        kind = type(result).__name__
        raise ValueError(f"quantity {quantity!r} is not in this {kind} (no {section} {key!r})")
    v = mapping[key]
    return v.item() if isinstance(v, np.generic) else v


def _number(quantity: str, v: Any) -> float:
    if isinstance(v, str) or not isinstance(v, (int, float, bool)):
        raise ValueError(f"quantity {quantity!r} is {v!r}, not a number")
    return float(v)


def _ratio(va: float, vb: float) -> float:
    return vb / va if va != 0.0 else (math.nan if vb == 0.0 else math.copysign(math.inf, vb))


def _relative(va: float, vb: float) -> float:
    """Relative change (b - a) / |a|; +-inf from zero, 0 when both are zero."""
    if va == 0.0:
        return 0.0 if vb == 0.0 else math.copysign(math.inf, vb)
    return (vb - va) / abs(va)


def numbers(lesson: Lesson, a_result: Any, b_result: Any) -> dict[str, Any]:
    """Every number a lesson shows: its placeholders and its expected quantities.

    Parameters
    ----------
    lesson : Lesson
        A loaded lesson.
    a_result, b_result : sim.Result or sim.RunResult
        States A and B simulated (:func:`play`).

    Returns
    -------
    dict
        Placeholder name (``a.metrics.contrast``, ``ratio.dose.kap_Gycm2``,
        ``change.metrics.cnr``) -> value: the quantity in its own unit for ``a``/``b``, b / a
        for ``ratio`` [-], the signed change from a to b for ``change`` [%]. Holds the
        placeholders of the explanation and ``a``, ``b``, ``ratio``, ``change`` of every
        expected quantity.

    Raises
    ------
    ValueError
        If a quantity is missing from a result, or a ratio or change is asked of a value that
        is not a number.
    """
    names = list(placeholders(lesson.explain))
    for e in lesson.expect:
        names += [f"{prefix}.{e.quantity}" for prefix in PLACEHOLDER_PREFIXES]
    cache: dict[tuple[str, str], Any] = {}

    def get(state: str, quantity: str) -> Any:
        if (state, quantity) not in cache:
            cache[state, quantity] = value(a_result if state == "a" else b_result, quantity)
        return cache[state, quantity]

    out: dict[str, Any] = {}
    for name in names:
        if name in out:
            continue
        prefix, quantity = name.split(".", 1)
        try:
            if prefix in ("a", "b"):
                out[name] = get(prefix, quantity)
                continue
            va = _number(quantity, get("a", quantity))
            vb = _number(quantity, get("b", quantity))
        except ValueError as e:
            raise ValueError(f"{lesson.path}: {{{name}}}: {e}") from None
        out[name] = _ratio(va, vb) if prefix == "ratio" else _relative(va, vb) * PERCENT
    return out


# --------------------------------------------------------------------------------------------
# explanation and checks
# --------------------------------------------------------------------------------------------
def format_number(v: Any, digits: int = SIG_DIGITS) -> str:
    """A value without unit as shown to the student: ``digits`` significant digits.

    Booleans read yes/no, text is returned as it is, whole numbers stored as ``int`` (pulse
    counts) in full, NaN and infinities "n/a"; floats by :func:`sim.quantities.significant`.

    Parameters
    ----------
    v : float, int, bool or str
        The value.
    digits : int
        Significant digits [-].

    Returns
    -------
    str
        E.g. ``14.3``, ``0.066``, ``450``, ``yes``.
    """
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, str):
        return v
    if isinstance(v, int):
        return str(v)
    x = float(v)
    return significant(x, digits) if math.isfinite(x) else "n/a"


def _percent(v: float) -> str:
    """A signed percentage to three significant digits (``+43.2 %``, ``-7.01 %``, ``0 %``)."""
    if not math.isfinite(v):
        return "n/a"
    text = format_number(abs(v))
    return "0 %" if text == "0" else f"{'+' if v > 0 else '-'}{text} %"


def _show(name: str, v: Any) -> str:
    """A placeholder's value as text: ``a``/``b`` with the unit of the quantity or knob."""
    prefix, name = name.split(".", 1)
    if prefix == "change":
        return _percent(v)
    if prefix == "ratio":
        return format_number(v)
    section, key = name.split(".", 1)
    if section in RESULT_SECTIONS:
        return quantity(name).format(v)
    text = format_number(v)
    unit = KNOBS[key].unit if section == "knob" else ""
    return f"{text} {unit}" if unit not in ("", "-") and text != "n/a" else text


def explain(lesson: Lesson, a_result: Any, b_result: Any) -> str:
    """The lesson's explanation with its placeholders filled in.

    Parameters
    ----------
    lesson : Lesson
        A loaded lesson.
    a_result, b_result : sim.Result or sim.RunResult
        States A and B simulated (:func:`play`).

    Returns
    -------
    str
        Text; ``a``/``b`` values with their units as :func:`sim.quantities.Quantity.format`
        shows them (``14.3 mGy/min``; knobs with the knob's unit, ``45 cm``), ratios as plain
        numbers to three significant digits (``2.08``), changes as signed percentages
        (``+43.2 %``).
    """
    values = numbers(lesson, a_result, b_result)
    return _PLACEHOLDER.sub(lambda m: _show(m.group(1), values[m.group(1)]), lesson.explain)


def check(lesson: Lesson, a_result: Any, b_result: Any) -> list[str]:
    """The lesson's expectations that the simulated states do not meet.

    ``up``: ``b > a`` and, with ``by_at_least = x``, ``(b - a) / |a| >= x``; ``down``:
    ``b < a`` and ``(a - b) / |a| >= x``; ``same``: ``|b - a| / |a| <= within`` (default
    :data:`SAME_WITHIN`). Booleans count as 0 and 1.

    Parameters
    ----------
    lesson : Lesson
        A loaded lesson.
    a_result, b_result : sim.Result or sim.RunResult
        States A and B simulated (:func:`play`).

    Returns
    -------
    list of str
        One line per unmet expectation (empty when the physics shows as predicted).
    """
    failed = []
    for e in lesson.expect:
        try:
            va = _number(e.quantity, value(a_result, e.quantity))
            vb = _number(e.quantity, value(b_result, e.quantity))
        except ValueError as err:
            raise ValueError(f"{lesson.path}: expected {e.quantity}: {err}") from None
        rel = _relative(va, vb)
        if e.change == "up":
            ok = vb > va and (e.by_at_least is None or rel >= e.by_at_least)
            want = "go up" + (f" by at least {e.by_at_least:.0%}" if e.by_at_least else "")
        elif e.change == "down":
            ok = vb < va and (e.by_at_least is None or -rel >= e.by_at_least)
            want = "go down" + (f" by at least {e.by_at_least:.0%}" if e.by_at_least else "")
        else:
            within = SAME_WITHIN if e.within is None else e.within
            ok = abs(rel) <= within
            want = f"stay within {within:.0%}"
        if not ok:
            shown = _percent(rel * PERCENT)
            failed.append(
                f"{e.quantity} should {want}: {format_number(va)} -> {format_number(vb)} ({shown})"
            )
    return failed


__all__ = [
    "CHANGES",
    "KINDS",
    "Expectation",
    "Lesson",
    "Move",
    "check",
    "explain",
    "format_number",
    "load_lesson",
    "load_lessons",
    "needle_tip_contrast",
    "numbers",
    "placeholders",
    "play",
    "states",
    "value",
]
