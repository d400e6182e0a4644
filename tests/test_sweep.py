"""Parameter sweeps: the grid of points, the rows, the CSV and bad input."""

import csv
import io

import pytest

import sim
from sim.__main__ import main
from sim.sweep import parse_vary, points, sweep, write_csv

FAST = sim.Params().replace(**{"run.image_px": 64, "abc.enabled": False})


def test_parse_vary_ranges_and_lists():
    assert parse_vary("tube.kvp=60:90:10") == ("tube.kvp", [60.0, 70.0, 80.0, 90.0])
    assert parse_vary("grid.enabled=true,false") == ("grid.enabled", [True, False])
    assert parse_vary("receptor.binning=1,2") == ("receptor.binning", [1, 2])
    assert parse_vary("receptor.kind=flat_panel,image_intensifier")[1][1] == "image_intensifier"


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("tube.kvp=60:200:10", "[40, 150] kV"),
        ("tube.kvpp=60,70", "did you mean tube.kvp"),
        ("tube.kvp=90:60:10", "from <= to"),
        ("tube.kvp", "name=from:to:step"),
        ("grid.enabled=1:2:1", "numeric knob"),
    ],
)
def test_parse_vary_errors_name_the_problem(text, needle):
    with pytest.raises(ValueError) as err:
        parse_vary(text)
    assert needle in str(err.value)


def test_points_are_the_cartesian_product():
    grid = points({"tube.kvp": [60, 80], "grid.enabled": [True, False]})
    assert grid == [
        {"tube.kvp": 60, "grid.enabled": True},
        {"tube.kvp": 60, "grid.enabled": False},
        {"tube.kvp": 80, "grid.enabled": True},
        {"tube.kvp": 80, "grid.enabled": False},
    ]


def test_rows_follow_the_physics():
    """At fixed mAs, a higher kVp gives more air kerma; taking the grid out leaves the
    patient dose unchanged at fixed technique but lets more reach the receptor (no Tp loss,
    all the scatter)."""
    rows = list(sweep(FAST, {"tube.kvp": [60.0, 90.0], "grid.enabled": [True, False]}))
    assert len(rows) == 4
    by = {(r["tube.kvp"], r["grid.enabled"]): r for r in rows}
    assert by[(90.0, True)]["dose.kar_mGy"] > by[(60.0, True)]["dose.kar_mGy"]
    assert by[(90.0, False)]["dose.kar_mGy"] == pytest.approx(by[(90.0, True)]["dose.kar_mGy"])
    no_grid = by[(90.0, False)]["metrics.receptor_nGy_per_frame"]
    assert no_grid > by[(90.0, True)]["metrics.receptor_nGy_per_frame"]


def test_a_bad_point_fails_before_any_simulation():
    with pytest.raises(ValueError, match="geometry.sid_cm"):
        next(sweep(FAST, {"patient.thickness_cm": [20.0, 40.0]}))


def test_csv_round_trip_and_cli(tmp_path, capsys):
    buf = io.StringIO()
    assert write_csv(sweep(FAST, {"tube.kvp": [70.0]}), buf) == 1
    row = next(csv.DictReader(io.StringIO(buf.getvalue())))
    assert float(row["technique.kvp"]) == 70.0 and float(row["dose.kar_mGy"]) > 0
    out = tmp_path / "s.csv"
    args = ["sweep", "--vary", "tube.kvp=60:70:10", "--set", "run.image_px=64"]
    assert main([*args, "--set", "abc.enabled=false", "--out", str(out)]) == 0
    assert len(list(csv.DictReader(out.open()))) == 2
    assert main(["sweep", "--vary", "tube.kvp=60:200:10"]) == 2
    assert "[40, 150] kV" in capsys.readouterr().err
