"""Parameter sweeps: designs, the declared columns, what you ask is what runs, seeds per point,
error rows, files (CSV, Parquet, sidecar, journal, resume), executors giving the same rows."""

import csv
import io
import json

import numpy as np
import pandas as pd
import pytest

import sim
from sim import sweep as sw
from sim.__main__ import main
from sim.sweep import columns, design_points, parse_vary, points, sweep, write_csv

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


def test_zip_and_latin_designs():
    z = design_points({"tube.kvp": [60, 80], "tube.ma": [5, 10]}, "zip")
    assert z == [{"tube.kvp": 60, "tube.ma": 5}, {"tube.kvp": 80, "tube.ma": 10}]
    with pytest.raises(ValueError, match="as many values"):
        design_points({"tube.kvp": [60, 80], "tube.ma": [5]}, "zip")
    vary = {"tube.kvp": [60, 120], "grid.enabled": [True, False]}
    lat = design_points(vary, "latin", n=10, seed=3)
    kvp = np.array([p["tube.kvp"] for p in lat])
    # one point in each tenth of the span, and each grid state equally often
    assert sorted(np.floor((kvp - 60) / 6).astype(int).tolist()) == list(range(10))
    assert sum(p["grid.enabled"] for p in lat) == 5
    assert lat == design_points(vary, "latin", n=10, seed=3)  # reproducible
    with pytest.raises(ValueError, match="needs n"):
        design_points(vary, "latin")
    with pytest.raises(ValueError, match="only for design='latin'"):
        design_points(vary, "grid", n=4)
    with pytest.raises(ValueError, match="grid, zip, latin"):
        design_points(vary, "random")


def test_the_columns_are_declared_not_taken_from_the_first_row():
    """ABC off at the first point: technique.abc_limited is still a column (empty there)."""
    base = FAST.replace(**{"patient.phantom": "water_slab"})
    df = sweep(base, {"abc.enabled": [False, True]})
    assert list(df.columns) == [c.name for c in columns(["abc.enabled"])]
    assert pd.isna(df.loc[0, "technique.abc_limited"])
    assert df.loc[1, "technique.abc_limited"] in (True, False)
    # every quantity one frame reports has a column (with ABC on and off) and no other
    keys = {
        f"{section}.{k}"
        for p in (FAST, FAST.replace(**{"abc.enabled": True}))
        for section, values in sim.simulate(p).summary().items()
        for k in values
    }
    assert keys == set(sw.REPORTED)
    units = {c.name: c.unit for c in columns(["tube.kvp"])}
    assert units["tube.kvp"] == "kV" and units["dose.kar_rate_mGy_per_min"] == "mGy/min"
    assert df.attrs["units"]["metrics.cnr"] == ""


def test_rows_follow_the_physics():
    """At fixed mAs, a higher kVp gives more air kerma; taking the grid out leaves the
    patient dose unchanged at fixed technique but lets more reach the receptor (no Tp loss,
    all the scatter)."""
    df = sweep(FAST, vary={"tube.kvp": [60.0, 90.0], "grid.enabled": [True, False]})
    assert len(df) == 4 and df["error"].isna().all()
    by = {(r["tube.kvp"], r["grid.enabled"]): r for r in df.to_dict("records")}
    assert by[(90.0, True)]["dose.kar_mGy"] > by[(60.0, True)]["dose.kar_mGy"]
    assert by[(90.0, False)]["dose.kar_mGy"] == pytest.approx(by[(90.0, True)]["dose.kar_mGy"])
    no_grid = by[(90.0, False)]["metrics.receptor_nGy_per_frame"]
    assert no_grid > by[(90.0, True)]["metrics.receptor_nGy_per_frame"]
    assert (df["technique.kvp"] == df["tube.kvp"]).all()  # what you ask is what runs


def test_sim_sweep_is_the_api():
    df = sim.sweep(FAST, vary={"tube.kvp": [70.0]})
    assert isinstance(df, pd.DataFrame) and df.loc[0, "technique.kvp"] == 70.0


@pytest.mark.parametrize(
    ("base", "vary", "knob"),
    [
        (sim.Params(), {"tube.kvp": [60, 90]}, "tube.kvp"),
        (FAST, {"abc.enabled": [False, True], "tube.ma": [5.0]}, "tube.ma"),
        (FAST.replace(**{"abc.enabled": True}), {"tube.pulse_ms": [4.0]}, "tube.pulse_ms"),
        (
            FAST.replace(**{"abc.enabled": True, "abc.curve": "iodine"}),
            {"filtration.cu_mm": [0.1, 0.3]},
            "filtration.cu_mm",
        ),
    ],
)
def test_varying_a_knob_abc_sets_under_abc_is_an_error(base, vary, knob):
    with pytest.raises(ValueError, match=knob) as err:
        sweep(base, vary)
    assert "abc.enabled=False" in str(err.value)


def test_cu_is_free_on_the_standard_curve():
    base = FAST.replace(**{"abc.enabled": True, "patient.phantom": "water_slab"})
    df = sweep(base, {"filtration.cu_mm": [0.0, 0.3]})
    assert df["technique.cu_mm"].tolist() == [0.0, 0.3]


def test_a_point_gives_the_same_numbers_alone_or_in_any_sweep():
    big = sweep(FAST, {"tube.kvp": [60.0, 70.0, 80.0], "grid.enabled": [True, False]})
    alone = sweep(FAST.replace(**{"grid.enabled": False}), {"tube.kvp": [70.0]})
    row = big[(big["tube.kvp"] == 70.0) & ~big["grid.enabled"]].iloc[0]
    assert row["run.seed"] == alone.loc[0, "run.seed"]
    assert row["metrics.cnr"] == alone.loc[0, "metrics.cnr"]
    assert len(set(big["run.seed"])) == len(big)  # every point its own noise
    other = sweep(FAST.replace(**{"run.seed": 7}), {"tube.kvp": [70.0]})
    assert other.loc[0, "run.seed"] != alone.loc[0, "run.seed"]
    by_hand = sweep(FAST, {"run.seed": [5, 5]})  # a varied seed is used as it is
    assert by_hand["run.seed"].tolist() == [5, 5]
    assert by_hand.loc[0, "metrics.cnr"] == by_hand.loc[1, "metrics.cnr"]


def test_a_point_does_not_depend_on_the_points_run_before_it():
    """Run in the opposite order, every point gives the same numbers (no cache reused for
    *nearly* the same input carries one point's layout into the next)."""
    kvp = [60.0, 64.0, 68.0, 72.0]
    thick = [15.0, 20.0, 25.0]
    up = sweep(FAST, {"tube.kvp": kvp, "patient.thickness_cm": thick})
    down = sweep(FAST, {"tube.kvp": kvp[::-1], "patient.thickness_cm": thick[::-1]})
    key = ["tube.kvp", "patient.thickness_cm"]
    a = up.drop(columns="point").sort_values(key).reset_index(drop=True)
    b = down.drop(columns="point").sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b, check_exact=True)


def test_an_invalid_point_is_an_error_row_and_the_sweep_goes_on():
    df = sweep(FAST, {"patient.thickness_cm": [20.0, 40.0, 10.0]})
    assert df["error"].isna().tolist() == [True, False, True]
    assert "geometry.sid_cm" in df.loc[1, "error"] and pd.isna(df.loc[1, "dose.kar_mGy"])
    assert df.loc[2, "dose.kar_mGy"] > 0
    with pytest.raises(ValueError, match=r"\[2, 40\] cm"):  # a value out of range: refused
        sweep(FAST, {"patient.thickness_cm": [20.0, 45.0]})


def test_images_in_the_frame_or_in_a_folder(tmp_path):
    df = sweep(FAST, {"tube.kvp": [60.0, 80.0]}, images=True)
    assert df.loc[0, "image"].shape == (64, 64) and df.loc[0, "image"].dtype == np.uint8
    sweep(FAST, {"tube.kvp": [60.0, 80.0]}, images=tmp_path / "img")
    names = sorted(p.name for p in (tmp_path / "img").iterdir())
    assert names == ["point-000000.png", "point-000001.png"]


def test_jobs_1_and_2_give_the_same_rows():
    vary = {"tube.kvp": [60.0, 75.0, 90.0], "grid.enabled": [True, False]}
    one = sweep(FAST, vary)
    two = sweep(FAST, vary, jobs=2)
    pd.testing.assert_frame_equal(one, two)


def test_csv_round_trip_and_cli(tmp_path, capsys):
    df = sweep(FAST, {"tube.kvp": [70.0]})
    buf = io.StringIO()
    assert write_csv(df.to_dict("records"), buf, columns(["tube.kvp"])) == 1
    out = tmp_path / "s.csv"
    args = ["sweep", "--vary", "tube.kvp=60:70:10", "--set", "run.image_px=64", "--quiet"]
    assert main([*args, "--set", "abc.enabled=false", "--out", str(out)]) == 0
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 2 and float(rows[0]["technique.kvp"]) == 60.0
    side = json.loads((tmp_path / "s.csv.json").read_text())
    assert side["status"] == "complete" and side["request"]["vary"] == {"tube.kvp": [60.0, 70.0]}
    assert side["request"]["base"]["run.image_px"] == 64 and "numpy" in side["versions"]
    assert {"name": "tube.kvp", "unit": "kV", "kind": "float"}.items() <= side["columns"][1].items()
    assert not (tmp_path / "s.csv.partial.jsonl").exists()
    capsys.readouterr()
    assert main(["sweep", "--vary", "tube.kvp=60:200:10"]) == 2
    assert "[40, 150] kV" in capsys.readouterr().err


def test_parquet_output_with_units(tmp_path):
    import pyarrow.parquet as pq

    out = tmp_path / "s.parquet"
    args = ["sweep", "--vary", "tube.kvp=60,80", "--set", "run.image_px=64", "--quiet"]
    assert main([*args, "--set", "abc.enabled=false", "--out", str(out)]) == 0
    df = pd.read_parquet(out)
    assert df["technique.kvp"].tolist() == [60.0, 80.0]
    assert pq.read_schema(out).field("dose.kar_mGy").metadata[b"unit"] == b"mGy"
    assert sw.read_table(out).attrs["units"]["dose.kar_mGy"] == "mGy"


def test_the_readme_example_does_what_it_says(tmp_path, capsys):
    out = tmp_path / "sweep.csv"
    args = ["sweep", "--vary", "tube.kvp=60:120:10", "--vary", "grid.enabled=true,false"]
    assert main(args) == 2  # ABC on by default: kVp is ABC's, so varying it is refused
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "tube.kvp" in err[0] and "--set abc.enabled=false" in err[0]
    more = ["--set", "abc.enabled=false", "--set", "run.image_px=64", "--quiet", "--out", str(out)]
    assert main([*args, *more]) == 0
    df = pd.read_csv(out)
    assert len(df) == 14 and df["technique.kvp"].nunique() == 7


def test_stdout_csv_in_point_order(capsys):
    args = ["sweep", "--vary", "tube.kvp=60,70,80", "--set", "abc.enabled=false", "--quiet"]
    assert main([*args, "--set", "run.image_px=64", "--jobs", "2"]) == 0
    df = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert df["point"].tolist() == [0, 1, 2] and df["technique.kvp"].tolist() == [60, 70, 80]


def test_resume_runs_only_the_missing_points(tmp_path, capsys):
    """A journal with some rows (as an interrupt leaves it, its last line cut): --resume runs
    only the rest, and the output equals an uninterrupted run's; without --resume it is
    refused, and a journal of another sweep is refused."""
    args = ["sweep", "--vary", "tube.kvp=60:90:10", "--set", "abc.enabled=false", "--quiet"]
    args += ["--set", "run.image_px=64"]
    full = tmp_path / "full.csv"
    assert main([*args, "--out", str(full)]) == 0
    out = tmp_path / "s.csv"
    p = sw.plan(FAST, {"tube.kvp": [60.0, 70.0, 80.0, 90.0]})
    (tmp_path / "s.csv.json").write_bytes(sw._sidecar(p, "csv", "running"))
    rows = [sw.run_task(t, p.columns)[1] for t in p.tasks]
    journal = tmp_path / "s.csv.partial.jsonl"
    journal.write_text(json.dumps(rows[2]) + "\n" + '{"point": 3, "tube.k')
    capsys.readouterr()
    assert main([*args, "--out", str(out)]) == 2
    assert "--resume" in capsys.readouterr().err
    calls = []
    real = sim.chain.simulate

    def counting(params):
        calls.append(params.tube.kvp)
        return real(params)

    sim.chain.simulate = counting
    try:
        assert main([*args, "--out", str(out), "--resume"]) == 0
    finally:
        sim.chain.simulate = real
    assert sorted(calls) == [60.0, 70.0, 90.0]
    assert "1 resumed, 3 run" in capsys.readouterr().err
    assert out.read_bytes() == full.read_bytes()
    assert not journal.exists()
    sim.chain.simulate = counting
    try:  # a finished sweep resumed: nothing runs again
        assert main([*args, "--out", str(out), "--resume"]) == 0
    finally:
        sim.chain.simulate = real
    assert len(calls) == 3 and "nothing to resume" in capsys.readouterr().err
    journal.write_text(json.dumps(rows[0]) + "\n")
    other = [a if a != "tube.kvp=60:90:10" else "tube.kvp=60:80:10" for a in args]
    assert main([*other, "--out", str(out), "--resume"]) == 2
    assert "different sweep" in capsys.readouterr().err
