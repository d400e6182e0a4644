"""The knob table: one source of truth, validation with clear errors."""

import json
import math

import pytest

from sim.params import KNOBS, Params, knob, knobs_json, parse_assignment, technique_from

CORE = [
    "tube.kvp", "tube.ma", "tube.pulse_ms", "tube.pulse_rate_pps", "tube.anode_angle_deg",
    "tube.focal_spot_mm", "filtration.al_mm", "filtration.cu_mm", "geometry.sid_cm",
    "geometry.source_skin_cm", "geometry.field_cm", "geometry.fov_cm", "patient.phantom",
    "patient.thickness_cm", "grid.enabled", "grid.ratio", "grid.lines_per_cm", "receptor.kind",
    "abc.enabled", "abc.mode", "run.seed", "run.image_px", "run.fluoro_time_s",
]  # fmt: skip


def test_core_knobs_exist_with_unit_default_and_range():
    for name in CORE:
        k = knob(name)
        assert k.help
        assert (k.choices is not None) or k.kind is bool or (k.min < k.max)
        assert k.min is None or k.min <= k.default <= k.max
    assert knob("tube.kvp").unit == "kV" and (knob("tube.kvp").min, knob("tube.kvp").max) == (
        40,
        150,
    )


def test_replace_by_dotted_name_and_defaults_untouched():
    p = Params()
    q = p.replace(**{"tube.kvp": 90, "grid.enabled": False})
    assert q.tube.kvp == 90.0 and q.grid.enabled is False
    assert p.tube.kvp == 80.0 and p.grid.enabled is True
    assert Params.from_dict(q.to_dict()) == q


@pytest.mark.parametrize(
    ("name", "value", "needle"),
    [
        ("tube.kvp", 200, "[40, 150] kV"),
        ("tube.kvp", math.nan, "[40, 150] kV"),
        ("tube.kvp", math.inf, "[40, 150] kV"),
        ("tube.kvp", "90", "got str"),
        ("tube.ma", -1, "[0.1, 1000] mA"),
        ("grid.enabled", 1, "true or false"),
        ("receptor.kind", "ccd", "flat_panel"),
        ("receptor.binning", 3, "1, 2, 4"),
        ("run.seed", 1.5, "whole number"),
        ("patient.phantom", "sphere", "hip_injection"),
    ],
)
def test_bad_values_name_the_knob_and_range(name, value, needle):
    with pytest.raises(ValueError) as err:
        Params().replace(**{name: value})
    assert name in str(err.value) and needle in str(err.value)


def test_unknown_knob_suggests_a_name():
    with pytest.raises(ValueError, match="did you mean tube.kvp"):
        Params().replace(**{"tube.kvpp": 80})


def test_cross_knob_geometry_is_checked():
    with pytest.raises(ValueError, match="geometry.sid_cm"):
        Params().replace(**{"patient.thickness_cm": 40, "geometry.source_skin_cm": 65})


def test_json_table_has_the_documented_keys():
    table = json.loads(knobs_json())
    assert len(table) == len(KNOBS)
    assert set(table[0]) == {"name", "unit", "default", "min", "max", "choices", "help"}


def test_cli_assignments_parse_types():
    assert parse_assignment("grid.enabled=false") == ("grid.enabled", False)
    assert parse_assignment("receptor.binning=2") == ("receptor.binning", 2)
    with pytest.raises(ValueError, match="not a number"):
        parse_assignment("tube.kvp=abc")


def test_technique_mas_per_frame():
    t = technique_from(Params().replace(**{"tube.ma": 20, "tube.pulse_ms": 5}))
    assert t.mas_per_frame == pytest.approx(0.1)
    c = technique_from(Params().replace(**{"tube.mode": "continuous", "tube.ma": 3}))
    assert c.pulse_rate_pps == 30 and c.mas_per_frame == pytest.approx(0.1)


def test_pulse_cannot_outlast_the_frame():
    with pytest.raises(ValueError, match=r"tube.pulse_ms=100 .*tube.pulse_rate_pps"):
        Params().replace(**{"tube.pulse_ms": 100.0, "tube.pulse_rate_pps": 30.0})
    # continuous mode ignores the pulse width
    Params().replace(
        **{"tube.pulse_ms": 100.0, "tube.pulse_rate_pps": 30.0, "tube.mode": "continuous"}
    )
