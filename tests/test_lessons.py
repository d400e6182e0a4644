"""Guided lessons (sim.lessons, assets/lessons): they load, their physics shows in the simulator,
their explanations render without typed simulated numbers, and bad files fail clearly."""

from __future__ import annotations

import dataclasses
import math
import re
from functools import cache
from pathlib import Path

import pytest

from sim import lessons as L
from sim.materials import asset_path
from sim.params import KNOBS, SECTIONS
from sim.presets import PRESETS

N_LESSONS = 10

ALLOWED_NUMBERS = {
    "88": "21 CFR 1020.32(e): air kerma rate limit [mGy/min]",
    "176": "21 CFR 1020.32(e): limit with high-level control [mGy/min]",
    "2": "threshold of transient erythema [Gy] (Balter et al., Radiology 254:326, 2010)",
    "15": "interventional reference point 15 cm before the isocentre (IEC 60601-2-43)",
    "5.6": "published hip-injection Ka,r [mGy] (Chang et al., Skeletal Radiol 47:223, 2018)",
    "0.57": "published hip-injection KAP [Gy cm^2] (Chang et al. 2018)",
    "0.7": "published hip-injection fluoroscopy time [min] (Chang et al. 2018)",
}
"""Numbers an explanation may type: regulatory limits, physical constants, published values.
Everything the simulator computes must come in through a placeholder."""

_NUMBER = re.compile(r"(?<![A-Za-z0-9_.])[0-9]+(?:\.[0-9]+)?")
_DOTTED = re.compile(r"\b(?:" + "|".join(SECTIONS) + r")\.[a-z_]+\b")

LESSONS = L.load_lessons()
IDS = [lesson.id for lesson in LESSONS]


@cache
def _played(lesson_id: str):
    lesson = next(x for x in LESSONS if x.id == lesson_id)
    return lesson, *L.play(lesson)


# --------------------------------------------------------------------------------------------
# the shipped lessons
# --------------------------------------------------------------------------------------------
def test_ten_lessons_load_in_order_with_unique_ids():
    assert len(LESSONS) == N_LESSONS
    assert len(set(IDS)) == N_LESSONS
    assert [lesson.order for lesson in LESSONS] == list(range(1, N_LESSONS + 1))
    for lesson in LESSONS:
        name = Path(lesson.path).name
        assert re.fullmatch(r"\d\d_[a-z0-9_]+\.toml", name), name
        assert int(name[:2]) == lesson.order, name
        assert lesson.kind in L.KINDS
        assert lesson.base is None or lesson.base in PRESETS
        assert 2 <= len(lesson.choices) <= 4 and 0 <= lesson.answer < len(lesson.choices)
        assert lesson.sources and lesson.expect


def test_default_folder_is_the_shipped_assets():
    assert Path(LESSONS[0].path).parent == asset_path("lessons")
    assert L.load_lessons(asset_path("lessons")) == LESSONS


@pytest.mark.parametrize("lesson", LESSONS, ids=IDS)
def test_state_b_is_state_a_with_one_knob_moved(lesson):
    a, b = L.states(lesson)
    da, db = a.to_dict(), b.to_dict()
    changed = {k for k in da if da[k] != db[k]}
    assert changed == {lesson.move.knob}
    for name, value in lesson.setup.items():
        assert da[name] == value


@pytest.mark.parametrize("lesson_id", IDS)
def test_expected_physics_shows_in_the_simulator(lesson_id):
    lesson, a, b = _played(lesson_id)
    assert L.check(lesson, a, b) == []


def test_check_reports_an_expectation_that_does_not_hold():
    """The physics test can fail: the same results against reversed expectations."""
    lesson, a, b = _played(IDS[0])
    flip = {"up": "down", "down": "up", "same": "up"}
    reversed_ = tuple(
        dataclasses.replace(e, change=flip[e.change], within=None, by_at_least=None)
        for e in lesson.expect
    )
    failed = L.check(dataclasses.replace(lesson, expect=reversed_), a, b)
    assert len(failed) == len(lesson.expect)
    assert lesson.expect[0].quantity in failed[0]
    too_much = (dataclasses.replace(lesson.expect[0], by_at_least=100.0),)
    assert L.check(dataclasses.replace(lesson, expect=too_much), a, b)


@pytest.mark.parametrize("lesson_id", IDS)
def test_explanation_renders_every_placeholder(lesson_id):
    lesson, a, b = _played(lesson_id)
    text = L.explain(lesson, a, b)
    assert "{" not in text and "}" not in text
    assert "n/a" not in text and "nan" not in text.lower().split()
    values = L.numbers(lesson, a, b)
    for name in L.placeholders(lesson.explain):
        assert name in values
    for e in lesson.expect:
        for prefix in L.PLACEHOLDER_PREFIXES:
            assert f"{prefix}.{e.quantity}" in values
    for name, v in values.items():
        if name.startswith(("ratio.", "change.")):
            assert math.isfinite(v) or name.endswith("abc_limited"), name


@pytest.mark.parametrize("lesson", LESSONS, ids=IDS)
def test_explanation_types_no_simulated_number(lesson):
    """Outside placeholders, only the declared regulatory, physical and published numbers."""
    bare = re.sub(r"\{[^{}]*\}", " ", lesson.explain)
    typed = _NUMBER.findall(bare)
    assert set(typed) <= set(ALLOWED_NUMBERS), f"{lesson.id}: {set(typed) - set(ALLOWED_NUMBERS)}"
    sentences = [s for s in re.split(r"(?<=[.!?])\s+", lesson.explain.strip()) if s]
    assert 2 <= len(sentences) <= 5, lesson.id


@pytest.mark.parametrize("lesson", LESSONS, ids=IDS)
def test_student_texts_name_no_dotted_knob(lesson):
    bare_explain = re.sub(r"\{[^{}]*\}", " ", lesson.explain)  # placeholders may name knobs
    for text in (lesson.move.hint, lesson.predict, bare_explain, *lesson.choices):
        assert not _DOTTED.findall(text), text
        assert not any(name in text for name in KNOBS), text
    assert lesson.move.hint  # every shipped lesson tells the student what to do


def test_runs_are_short():
    for lesson in LESSONS:
        if lesson.kind == "run":
            a, b = L.states(lesson)
            for p in (a, b):
                assert p.run.image_px <= 256 and p.run.fluoro_time_s <= 60.0, lesson.id


# --------------------------------------------------------------------------------------------
# formatting
# --------------------------------------------------------------------------------------------
def test_numbers_are_shown_with_three_significant_digits_and_units():
    assert L.format_number(14.2845) == "14.3"
    assert L.format_number(0.066012) == "0.066"
    assert L.format_number(450) == "450"
    assert L.format_number(True) == "yes"
    assert L.format_number(math.nan) == "n/a"
    lesson, a, b = _played("distance")
    text = L.explain(lesson, a, b)
    assert f"{a.params.geometry.source_skin_cm:g} cm" in text  # knob placeholder with its unit
    assert re.search(r"[0-9.]+ mGy/min to [0-9.]+ mGy/min", text)
    assert re.search(r"[+-][0-9.]+ %", text)


# --------------------------------------------------------------------------------------------
# malformed files
# --------------------------------------------------------------------------------------------
GOOD = '''
id = "probe"
title = "A probe lesson"
order = 1
predict = "What happens?"
choices = ["This", "That"]
answer = 0
base = "hip_injection"
kind = "frame"
explain = """Contrast goes from {a.metrics.contrast} to {b.metrics.contrast}.
That is {change.metrics.contrast}."""
sources = ["Bushberg et al., The Essential Physics of Medical Imaging, 3rd ed., ch. 9"]

[setup]
abc.enabled = false
tube.kvp = 70

[move]
knob = "tube.kvp"
to = 100
hint = "Move the Tube potential slider to 100 kV."

[[expect]]
quantity = "metrics.contrast"
change = "down"
'''


def _write(tmp_path: Path, text: str, name: str = "01_probe.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_the_probe_file_is_valid(tmp_path):
    lesson = L.load_lesson(_write(tmp_path, GOOD))
    assert lesson.setup == {"abc.enabled": False, "tube.kvp": 70.0}
    assert lesson.move == L.Move("tube.kvp", 100.0, "Move the Tube potential slider to 100 kV.")
    quoted = GOOD.replace("abc.enabled = false", '"abc.enabled" = false')
    assert L.load_lesson(_write(tmp_path, quoted)).setup == lesson.setup


SOURCES = 'sources = ["Bushberg et al., The Essential Physics of Medical Imaging, 3rd ed., ch. 9"]'
BAD = [  # (case, (text in GOOD, replacement), the field the message must name)
    ("missing field", ("answer = 0\n", ""), "answer"),
    ("unknown field", ("order = 1\n", "order = 1\ncolour = 3\n"), "colour"),
    ("unknown knob", ("tube.kvp = 70\n", "tube.kvpp = 70\n"), "setup.tube.kvpp"),
    ("bad value", ("tube.kvp = 70\n", "tube.kvp = 500\n"), "setup.tube.kvp"),
    ("wrong type", ("tube.kvp = 70\n", 'tube.kvp = "high"\n'), "setup.tube.kvp"),
    ("bad move knob", ('knob = "tube.kvp"', 'knob = "tube.kv"'), "move.knob"),
    ("bad move value", ("to = 100\n", "to = 20\n"), "move.to"),
    ("move changes nothing", ("to = 100\n", "to = 70\n"), "move.to"),
    ("dotted hint", ("the Tube potential slider", "tube.kvp"), "move.hint"),
    ("bad prefix", ("{a.metrics.contrast}", "{c.metrics.contrast}"), "explain"),
    ("bad quantity", ("{a.metrics.contrast}", "{a.metrics.contrst}"), "explain"),
    ("bad section", ("{a.metrics.contrast}", "{a.metric.contrast}"), "explain"),
    ("no key", ("{a.metrics.contrast}", "{a.metrics}"), "explain"),
    ("bad knob placeholder", ("{a.metrics.contrast}", "{a.knob.tube.kv}"), "explain"),
    ("unmatched brace", ("{a.metrics.contrast}", "{a.metrics.contrast"), "explain"),
    ("answer out of range", ("answer = 0\n", "answer = 2\n"), "answer"),
    ("answer not a number", ("answer = 0\n", 'answer = "0"\n'), "answer"),
    ("one choice", ('["This", "That"]', '["This"]'), "choices"),
    ("unknown preset", ('base = "hip_injection"', 'base = "knee"'), "base"),
    ("unknown kind", ('kind = "frame"', 'kind = "movie"'), "kind"),
    ("bad change", ('change = "down"', 'change = "sideways"'), "expect[0].change"),
    ("bad expected quantity", ('"metrics.contrast"', '"metrics.contrst"'), "expect[0].quantity"),
    ("same by", ('change = "down"', 'change = "same"\nby_at_least = 0.1'), "expect[0].by_at_least"),
    (
        "negative by",
        ('change = "down"', 'change = "down"\nby_at_least = -1'),
        "expect[0].by_at_least",
    ),
    ("no expect", ("[[expect]]", "[[expected]]"), "expected"),
    ("no sources", (SOURCES, "sources = []"), "sources"),
    ("thick patient", ("tube.kvp = 70\n", "tube.kvp = 70\npatient.thickness_cm = 40\n"), "setup"),
]


@pytest.mark.parametrize(("case", "edit", "field"), BAD, ids=[b[0] for b in BAD])
def test_malformed_file_names_the_file_and_the_field(tmp_path, case, edit, field):
    old, new = edit
    assert old in GOOD, case
    path = _write(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(ValueError, match=re.escape(f"field {field!r}")) as err:
        L.load_lesson(path)
    assert str(err.value).startswith(str(path))


def test_toml_syntax_error_names_the_file(tmp_path):
    path = _write(tmp_path, GOOD.replace('title = "A probe lesson"', "title = A probe lesson"))
    with pytest.raises(ValueError, match=r"01_probe\.toml: not valid TOML.*line 3") as err:
        L.load_lesson(path)
    assert "title = A probe lesson" in str(err.value)  # the offending line, naming the field


def test_duplicate_ids_and_missing_folder(tmp_path):
    _write(tmp_path, GOOD, "01_a.toml")
    _write(tmp_path, GOOD.replace("order = 1", "order = 2"), "02_b.toml")
    with pytest.raises(ValueError, match="'id'.*also used by"):
        L.load_lessons(tmp_path)
    with pytest.raises(ValueError, match="does not exist"):
        L.load_lessons(tmp_path / "nowhere")


def test_a_quantity_missing_from_the_result_is_named():
    """Placeholders are checked against sim.quantities on load; one the result lacks (a run
    counter in a frame) fails when shown, naming the lesson and the placeholder."""
    lesson, a, b = _played("kvp_contrast")
    odd = dataclasses.replace(lesson, explain="Pulses: {a.metrics.pulses}.")
    with pytest.raises(ValueError, match=r"01_kvp_contrast\.toml.*a\.metrics\.pulses"):
        L.explain(odd, a, b)
