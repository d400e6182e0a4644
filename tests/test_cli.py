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
        (["run", "--set", "tube.kvp=90"], "tube.kvp is set by ABC"),
        (["run", "--set", "tube.ma=5"], "add --set abc.enabled=false"),
        (["run", "--set", "abc.curve=iodine", "--set", "filtration.cu_mm=0.3"], "iodine curve"),
        (["abc", "--set", "tube.kvp=80"], "tube.kvp is set by ABC"),
        (["sweep", "--vary", "tube.kvp=60:120:10"], "--set abc.enabled=false"),
        (["sweep", "--vary", "tube.kvpp=60,70"], "did you mean tube.kvp"),
        (["sweep", "--vary", "tube.kvp=60-120"], "not a number"),
        (["sweep", "--vary", "tube.kvp=60:120"], "from:to:step"),
        (["sweep", "--vary", "grid.enabled=1,0", "--out", "/nonexistent/s.csv"], "--out"),
        (["sweep", "--vary", "grid.enabled=1,0", "--out", "s.xlsx"], ".csv or .parquet"),
        (["sweep", "--vary", "grid.enabled=1,0", "--jobs", "0"], "--jobs"),
        (["sweep", "--vary", "grid.enabled=1,0", "--design", "latin"], "--n"),
        (["sweep", "--vary", "grid.enabled=1,0", "--images", "/nonexistent/a/b"], "--images"),
        (["run", "--movie", "a.mp4"], "--movie needs --sequence"),
        (["run", "--sequence", "--movie", "a.avi"], ".mp4, .webm or .gif"),
        (["run", "--sequence", "--movie", "a.gif", "--movie-frames", "0"], "--movie-frames"),
        (["run", "--sequence", "--series", "/nonexistent/s.csv"], "--series"),
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


def test_run_sequence_dose_series_and_compact_movies(capsys, tmp_path):
    """The dose after every pulse (JSON and CSV, full precision) and movies capped in frames and
    size: a GIF of at most --movie-frames frames of at most --movie-px, an MP4 and a WebM."""
    import csv

    import av
    from PIL import Image

    args = ["run", "--preset", "hip_injection", "--sequence", "--json", "--set", "run.image_px=128"]
    args += ["--set", "run.fluoro_time_s=4", "--set", "tube.pulse_rate_pps=15"]
    gif, mp4, webm, series = (tmp_path / n for n in ("r.gif", "r.mp4", "r.webm", "s.csv"))
    more = ["--gif", str(gif), "--movie-frames", "12", "--movie-px", "64", "--series", str(series)]
    assert main([*args, *more]) == 0
    out = json.loads(capsys.readouterr().out)
    s = out["series"]
    assert len(s["kar_mGy"]) == 60 and s["time_s"][1] == pytest.approx(1 / 15)
    assert s["kar_mGy"][-1] == pytest.approx(out["dose"]["kar_mGy"])
    assert s["kar_rate_mGy_per_min"][0] is None
    assert s["kar_rate_mGy_per_min"][-1] == pytest.approx(out["dose"]["kar_rate_mGy_per_min"])
    rows = list(csv.DictReader(series.open()))
    assert len(rows) == 60 and float(rows[-1]["kap_Gycm2"]) == s["kap_Gycm2"][-1]
    with Image.open(gif) as im:
        assert im.n_frames == 12 and max(im.size) == 64
    assert main([*args, "--movie", str(mp4), "--movie-px", "96"]) == 0
    assert main([*args, "--movie", str(webm)]) == 0
    for path, codec, side in ((mp4, "h264", 96), (webm, "vp9", 128)):
        with av.open(str(path)) as c:
            stream = c.streams.video[0]
            assert stream.codec_context.name == codec and stream.width == side
            assert sum(1 for _ in c.decode(video=0)) == 60


def test_run_text_is_rounded_and_json_keeps_full_precision(capsys):
    args = ["run", "--set", "run.image_px=64", "--set", "abc.enabled=false"]
    assert main(args) == 0
    text = capsys.readouterr().out
    line = next(x for x in text.splitlines() if x.strip().startswith("Ka,r rate [mGy/min]"))
    assert len(line.split(": ")[1].replace(".", "").lstrip("0")) <= 3
    assert main([*args, "--json"]) == 0
    rate = json.loads(capsys.readouterr().out)["dose"]["kar_rate_mGy_per_min"]
    assert len(repr(rate)) > 8  # full precision
