"""The app's control rules (classroom/controls.py): labels, groups, dependent ranges, ABC
hand-over, URL state and parameter-file import. Pure Python: no Streamlit needed."""

import json
import math
import re

import pytest

from classroom import controls as ctl
from sim.chain import simulate
from sim.params import KNOBS, Params


def defaults(**changes):
    return {**Params().to_dict(), **changes}


def test_every_knob_is_reachable_once_with_a_label_in_words():
    grouped = [n for g in (ctl.BASIC, ctl.ADVANCED) for names in g.values() for n in names]
    assert sorted(grouped) == sorted(KNOBS), "every knob in exactly one control group"
    assert len(grouped) == len(set(grouped))
    for name in KNOBS:
        label = ctl.label(name)
        assert "." not in ctl.LABELS[name] and "_" not in label, label
        tip = ctl.tooltip(name)
        assert KNOBS[name].help.rstrip(".") in tip and "Default" in tip
    assert ctl.label("tube.kvp") == "Tube potential [kV]"
    assert ctl.choice_label("receptor.kind", "flat_panel") == "Flat panel (CsI)"
    assert ctl.choice_label("receptor.kind", "image_intensifier") == "Image intensifier"
    for name, k in KNOBS.items():
        if k.choices is not None:
            for c in k.choices:
                assert ctl.choice_label(name, c) != str(c) or str(c).isdigit(), (name, c)


@pytest.mark.parametrize(
    "changes, moved",
    [
        ({"patient.thickness_cm": 40.0}, "geometry.source_skin_cm"),  # 60 + 40 > 100 - 1
        ({"geometry.sid_cm": 80.0}, "geometry.source_skin_cm"),  # 60 + 22 > 80 - 1
        ({"geometry.sid_cm": 80.0, "patient.thickness_cm": 40.0}, "geometry.source_skin_cm"),
        ({"tube.pulse_ms": 100.0}, "tube.pulse_ms"),  # 100 ms x 15 p/s > 1 s
        ({"tube.pulse_rate_pps": 30.0, "tube.pulse_ms": 50.0}, "tube.pulse_ms"),
        ({"receptor.kind": "image_intensifier", "geometry.fov_cm": 48.0}, "geometry.fov_cm"),
        ({"geometry.sid_cm": 80.0, "geometry.source_iso_cm": 90.0}, "geometry.source_iso_cm"),
    ],
)
def test_a_conflict_moves_the_dependent_knob_and_says_so(changes, moved):
    """Ordinary slider positions that blanked every view now move one knob, with a reason."""
    values = defaults(**changes)
    with pytest.raises(ValueError):
        Params.from_dict(values)
    fixed, notes = ctl.reconcile(values)
    Params.from_dict(fixed)  # valid now
    assert moved in notes and notes[moved][0].isupper() and "." not in notes[moved].split()[0]
    for name, value in changes.items():  # what the user set stays, unless it is the one moved
        if name != moved:
            assert fixed[name] == value


def test_valid_values_are_left_alone():
    values = defaults()
    assert ctl.reconcile(values) == (values, {})


def test_dependent_ranges_follow_the_other_knobs():
    r = ctl.ranges(defaults(**{"geometry.sid_cm": 100.0, "patient.thickness_cm": 30.0}))
    assert r["geometry.source_skin_cm"] == (30.0, 69.0)
    r = ctl.ranges(defaults(**{"tube.pulse_rate_pps": 30.0}))
    assert r["tube.pulse_ms"][1] == pytest.approx(33.3)
    assert (
        ctl.ranges(defaults(**{"receptor.kind": "image_intensifier"}))["geometry.fov_cm"][1] == 40
    )


def test_abc_owns_kv_ma_pulse_and_on_the_low_dose_curve_cu():
    assert ctl.abc_owned(defaults()) == ("tube.kvp", "tube.ma", "tube.pulse_ms")
    assert "filtration.cu_mm" in ctl.abc_owned(defaults(**{"abc.curve": "low_dose"}))
    assert "filtration.cu_mm" in ctl.abc_owned(defaults(**{"abc.curve": "iodine"}))
    assert ctl.abc_owned(defaults(**{"abc.enabled": False})) == ()


def test_switching_abc_off_hands_over_its_technique_without_a_jump():
    """The image with ABC off at the handed-over values matches ABC's (within the 0.1 steps)."""
    p = Params().replace(**{"run.image_px": 128})
    with_abc = simulate(p)
    values = ctl.hand_over({**p.to_dict(), "abc.enabled": False}, with_abc.technique)
    manual = simulate(Params.from_dict(values))
    for key in ("kvp", "ma", "pulse_ms", "cu_mm"):
        assert manual.technique[key] == pytest.approx(with_abc.technique[key], rel=0.01)
    for key in ("kar_rate_mGy_per_min", "skin_dose_mGy"):
        assert manual.dose[key] == pytest.approx(with_abc.dose[key], rel=0.01)


def test_the_url_holds_what_differs_and_restores_it():
    values = defaults(**{"tube.kvp": 95.0, "abc.enabled": False, "grid.enabled": False})
    q = ctl.to_query(values)
    assert q == {"tube.kvp": "95", "abc.enabled": "false", "grid.enabled": "false"}
    parsed = ctl.from_query({**q, "view": "dose"})
    assert parsed.errors == () and parsed.values == {
        "tube.kvp": 95.0,
        "abc.enabled": False,
        "grid.enabled": False,
    }
    # under ABC its knobs are not in the URL: they do not change the image
    assert ctl.to_query(defaults(**{"tube.kvp": 95.0})) == {}


@pytest.mark.parametrize(
    "text", ["500", "nan", "inf", "-1e308", "abc", "", "8O", "９０kV", "1e999", "x" * 10_000]
)
def test_a_bad_url_value_gives_the_knobs_message(text):
    parsed = ctl.from_query({"tube.kvp": text})
    assert parsed.values == {}
    (message,) = parsed.errors
    assert "tube.kvp" in message and "[40, 150]" in message and len(message) < 400


def test_unknown_url_knobs_are_named():
    (message,) = ctl.from_query({"tube.kvpp": "90"}).errors
    assert "tube.kvpp" in message and "tube.kvp" in message


def test_a_parameters_file_round_trips():
    values = defaults(**{"tube.kvp": 95.0, "abc.enabled": False})
    parsed = ctl.from_json_bytes(ctl.params_json(values).encode())
    assert parsed.values == values


@pytest.mark.parametrize(
    "data, words",
    [
        (b"{not json", "not a JSON file"),
        (b"[1, 2]", "JSON object"),
        (b'{"tube.kvp": "ninety"}', "tube.kvp"),
        (b'{"tube.kvp": NaN}', "tube.kvp"),
        (b'{"tube.kvp": Infinity}', "tube.kvp"),
        (b'{"tube.kvp": 1e400}', "tube.kvp"),
        (b'{"tube.kvp": -5}', "tube.kvp"),
        (b'{"tube.kvp": {"a": [1]}}', "tube.kvp"),
        (b'{"tube.kvp": [90]}', "tube.kvp"),
        (b'{"grid.enabled": "maybe"}', "grid.enabled"),
        (b'{"receptor.kind": "ccd"}', "receptor.kind"),
        (b'{"nope.knob": 1}', "nope.knob"),
        ('{"tube.kvp\u202e": 90}'.encode(), "unknown knob"),
        (b"\xff\xfe\x00", "not a JSON file"),
        (b"[" * 100_000 + b"]" * 100_000, "64 kB"),
        (b"[" * 20_000 + b"]" * 20_000, "not a JSON file"),
        (b" " * (100 * 1024 * 1024), "64 kB"),
        (b'{"params": 5}', "unknown knob"),
    ],
)
def test_a_bad_parameters_file_is_refused_with_a_clear_message(data, words):
    with pytest.raises(ValueError) as err:
        ctl.from_json_bytes(data)
    message = str(err.value)
    assert words in message and len(message) < 500 and "Traceback" not in message


def test_numbers_in_the_url_are_not_rounded_away():
    q = ctl.to_query(defaults(**{"filtration.cu_mm": 0.37, "abc.enabled": False}))
    assert float(q["filtration.cu_mm"]) == 0.37
    assert all(re.fullmatch(r"[a-z_]+\.[a-z0-9_]+", k) for k in q)
    assert not any(math.isnan(float(v)) for v in q.values() if v not in ("true", "false"))


def test_an_imported_conflict_is_moved_like_a_slider_not_refused():
    parsed = ctl.from_json_bytes(b'{"patient.thickness_cm": 40, "geometry.source_skin_cm": 70}')
    fixed, notes = ctl.reconcile({**defaults(), **parsed.values})
    assert fixed["geometry.source_skin_cm"] == 59 and "geometry.source_skin_cm" in notes


def test_the_parameters_file_is_json_with_every_knob():
    doc = json.loads(ctl.params_json(defaults()))
    assert set(doc["params"]) == set(KNOBS)


def test_the_tube_current_stays_within_the_tube_ratings():
    """150 kV x 1000 mA is refused by the engine; the app lowers the mA and says why."""
    values = defaults(**{"abc.enabled": False, "tube.kvp": 150.0, "tube.ma": 1000.0})
    with pytest.raises(ValueError, match="tube.ma"):
        Params.from_dict(values)
    fixed, notes = ctl.reconcile(values)
    Params.from_dict(fixed)
    assert fixed["tube.ma"] < 1000.0 and "ratings" in notes["tube.ma"]
    assert ctl.ranges(fixed)["tube.ma"][1] == fixed["tube.ma"]
