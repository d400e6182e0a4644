"""Command line: knob table, one run as JSON, bad input -> exit 2 and one line on stderr."""

import json
import subprocess
import sys

import pytest

from sim.__main__ import main
from sim.params import KNOBS


def cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "sim", *args], capture_output=True, text=True, timeout=300
    )


def test_params_json_lists_every_knob_with_its_keys(capsys):
    assert main(["params", "--json"]) == 0
    table = json.loads(capsys.readouterr().out)
    assert [row["name"] for row in table] == list(KNOBS)
    kvp = next(row for row in table if row["name"] == "tube.kvp")
    assert kvp == {
        "name": "tube.kvp",
        "unit": "kV",
        "default": 80.0,
        "min": 40.0,
        "max": 150.0,
        "choices": None,
        "help": "Tube potential.",
    }


def test_run_json_reports_technique_dose_metrics(capsys, tmp_path):
    png = tmp_path / "out.png"
    code = main(
        ["run", "--set", "run.image_px=128", "--set", "abc.enabled=false", "--json"]
        + ["--set", "tube.kvp=90", "--png", str(png)]
    )
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["technique"]["kvp"] == 90.0
    assert out["dose"]["kar_rate_mGy_per_min"] > 0
    assert 0 < out["metrics"]["dqe0"] < 1
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["run", "--set", "tube.kvp=200"], "[40, 150] kV"),
        (["run", "--set", "tube.kvp=nan"], "[40, 150] kV"),
        (["run", "--set", "tube.kvp=abc"], "not a number"),
        (["run", "--set", "tube.kvpp=80"], "did you mean tube.kvp"),
        (["run", "--set", "grid.enabled=maybe"], "true or false"),
        (["run", "--set", "tube.kvp"], "name=value"),
        (["bogus"], "invalid choice"),
    ],
)
def test_bad_input_exits_2_with_one_line(args, needle):
    r = cli(*args)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0]
    assert "Traceback" not in r.stderr


def test_run_sequence_writes_a_gif_and_reports_the_accumulated_dose(capsys, tmp_path):
    gif = tmp_path / "run.gif"
    args = ["run", "--preset", "hip_injection", "--sequence", "--json", "--gif", str(gif)]
    args += [
        "--set",
        "run.image_px=64",
        "--set",
        "run.fluoro_time_s=4",
        "--set",
        "run.max_frames=8",
    ]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["dose"]["fluoro_time_s"] == 4.0
    assert out["dose"]["kar_mGy"] == pytest.approx(out["dose"]["kar_rate_mGy_per_min"] * 4 / 60)
    assert gif.read_bytes()[:6] in (b"GIF87a", b"GIF89a")


def test_unknown_preset_exits_2():
    r = cli("run", "--preset", "nope")
    assert r.returncode == 2 and "hip_injection" in r.stderr


def test_abc_table_over_thickness(capsys):
    args = ["abc", "--thickness", "10:30:10", "--set", "run.image_px=64"]
    assert main([*args, "--set", "patient.phantom=water_slab"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].split()[:2] == ["thickness_cm", "kvp"] and len(lines) == 5
    kvp = [float(line.split()[1]) for line in lines[1:4]]
    assert kvp == sorted(kvp)
    assert lines[-1].startswith("Ka,r-rate limit bites from:")
    assert main(["abc", "--thickness", "10:50:5"]) == 2
