"""Adversarial input to the Python API and the command line.

NaN, inf, huge and negative numbers, strings, nested junk and odd unicode give a ``ValueError``
naming the knob (API) or exit code 2 with exactly one short line on stderr and no traceback
(CLI); outputs are written whole or not at all; an error inside the simulation is a bug, not
bad input, and is not reported as exit code 2; parameters files are checked like knobs.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import sim
import sim.chain
from sim import atomic
from sim.__main__ import main
from sim.params import MAX_PARAMS_BYTES, Params, params_from_json
from sim.validate import short_repr

SHORT = 600
"""Longest acceptable error message [characters]."""

UNWRITABLE_DIR = "/sys"  # not even root may create a file there (Linux)


def deep(depth: int = 100_000):
    d: list = []
    for _ in range(depth):
        d = [d]
    return d


class Weird:
    def __repr__(self) -> str:
        raise RuntimeError("repr fails")


JUNK_NUMBERS = [
    math.nan,
    math.inf,
    -math.inf,
    1e308,
    -1e308,
    10**400,
    -(10**5000),
    -5,
    "90",
    "",
    "nan",
    "٩٠",  # Arabic-Indic digits
    "9" * 1_000_000,
    b"90",
    [90],
    (90,),
    {"value": 90},
    {90},
    None,
    object(),
    Weird(),
    deep(),
    complex(90, 0),
    np.array([90.0, 91.0]),
    np.array("90"),
    "\ud800",
    "‮09",  # right-to-left override
]


def assert_short_message(exc: BaseException, *needles: str, limit: int = SHORT) -> None:
    msg = str(exc)
    assert "\n" not in msg and len(msg) < limit, msg[:limit]
    for needle in needles:
        assert needle in msg, msg


# --------------------------------------------------------------------------- API


@pytest.mark.parametrize("value", JUNK_NUMBERS, ids=lambda v: type(v).__name__)
@pytest.mark.parametrize("name", ["tube.kvp", "run.image_px", "receptor.binning"])
def test_junk_for_a_numeric_knob_names_it(name, value):
    with pytest.raises(ValueError) as err:
        Params().replace(**{name: value})
    assert_short_message(err.value, name)
    with pytest.raises(ValueError) as err:
        Params.from_dict({name: value})
    assert_short_message(err.value, name)


@pytest.mark.parametrize(
    "value",
    [1, 0, "true", "false", None, [], np.array([True]), "x" * 1_000_000, math.nan, Weird()],
    ids=lambda v: type(v).__name__,
)
def test_junk_for_a_boolean_knob_names_it(value):
    with pytest.raises(ValueError) as err:
        Params().replace(**{"grid.enabled": value})
    assert_short_message(err.value, "grid.enabled", "true or false")


@pytest.mark.parametrize(
    "value",
    [
        "PULSED",
        " pulsed",
        "pulsed\x00",
        "ｐｕｌｓｅｄ",
        "p" * 1_000_000,
        1,
        None,
        ["pulsed"],
        deep(),
    ],
    ids=lambda v: short_repr(v)[:20],
)
def test_junk_for_a_choice_knob_names_it(value):
    with pytest.raises(ValueError) as err:
        Params().replace(**{"tube.mode": value})
    assert_short_message(err.value, "tube.mode", "pulsed, continuous")


@pytest.mark.parametrize(
    "name",
    [
        "tube.kvp\u200b",  # zero-width space
        "tube.kv\u0440",  # Cyrillic er
        "TUBE.KVP",
        "tube",
        ".kvp",
        "tube..kvp",
        "\ud800",
        "🔥.kvp",
        "x" * 10_000_000,
        "",
    ],
    ids=lambda n: short_repr(n)[:20],
)
def test_unknown_knob_names_are_refused_by_name(name):
    with pytest.raises(ValueError) as err:
        Params().replace(**{name: 90})
    assert_short_message(err.value, "unknown knob")
    with pytest.raises(ValueError) as err:
        Params.from_dict({name: 90})
    assert_short_message(err.value, "unknown knob")


@pytest.mark.parametrize("values", [[("tube.kvp", 90)], "tube.kvp=90", None, 5, deep(10)])
def test_from_dict_needs_a_mapping(values):
    with pytest.raises(ValueError, match="mapping"):
        Params.from_dict(values)


@pytest.mark.parametrize("key", [1, None, ("tube", "kvp"), 1.5, b"tube.kvp"], ids=str)
def test_from_dict_refuses_keys_that_are_not_text(key):
    with pytest.raises(ValueError) as err:
        Params.from_dict({key: 90})
    assert_short_message(err.value, "unknown knob")


@pytest.mark.parametrize("value", JUNK_NUMBERS, ids=lambda v: type(v).__name__)
@pytest.mark.parametrize("arg", ["kvp", "anode_angle_deg"])
def test_tube_spectrum_names_a_bad_argument(arg, value):
    with pytest.raises(ValueError) as err:
        sim.tube_spectrum(**{arg: value})
    assert_short_message(err.value, arg)


@pytest.mark.parametrize(
    "filters",
    [{"Al": math.nan}, {"Al": -1}, {"Al": "2"}, {"Al": 10**400}, {"Al": [1]}, {"Unobtainium": 1},
     {"x" * 1_000_000: 1}, {1: 2}, [("Al", 1)], "Al"],
    ids=lambda f: short_repr(f)[:20],
)  # fmt: skip
def test_filtration_junk_is_refused(filters):
    with pytest.raises(ValueError) as err:
        sim.tube_spectrum().filtered(filters)
    assert_short_message(err.value, limit=1000)  # an unknown material lists the known ones


def test_numpy_scalars_and_arrays_of_one_value_are_numbers():
    p = Params().replace(
        **{"tube.kvp": np.float32(90), "run.image_px": np.int64(128), "grid.enabled": np.bool_(0)}
    )
    assert (p.tube.kvp, p.run.image_px, p.grid.enabled) == (90.0, 128, False)
    assert Params().replace(**{"tube.kvp": np.array(95.0)}).tube.kvp == 95.0


# --------------------------------------------------------------------------- CLI in-process


def run_main(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def assert_bad_input(code: int, out: str, err: str, *needles: str) -> None:
    assert code == 2, err
    lines = err.splitlines()
    assert len(lines) == 1 and len(lines[0]) <= 500, err[:SHORT]
    assert "Traceback" not in err and out == ""
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.fixture
def no_simulation(monkeypatch):
    """Fail the test if anything is simulated: bad input must be found before the work."""

    def boom(*a, **k):
        raise AssertionError("simulated before the input was validated")

    monkeypatch.setattr(sim.chain, "simulate", boom)
    monkeypatch.setattr(sim.sequence, "run", boom)
    monkeypatch.setattr(sim.chain, "abc_table", boom)


@pytest.mark.parametrize(
    ("assignment", "needle"),
    [
        ("tube.kvp=nan", "[40, 150] kV"),
        ("tube.kvp=inf", "[40, 150] kV"),
        ("tube.kvp=-inf", "[40, 150] kV"),
        ("tube.kvp=1e999", "[40, 150] kV"),
        ("tube.kvp=-5", "[40, 150] kV"),
        ("tube.kvp=", "not a number"),
        ("tube.kvp=0x10", "not a number"),
        ("tube.kvp=90=91", "not a number"),
        ("tube.kvp=[90]", "not a number"),
        ("tube.kvp", "name=value"),
        ("=90", "unknown knob"),
        ("tube.kvp\u200b=90", "did you mean tube.kvp"),
        ("tube.mode=\x00", "pulsed, continuous"),
        ("tube.mode=ｐｕｌｓｅｄ", "pulsed, continuous"),
        ("run.image_px=64.5", "whole number"),
        ("run.image_px=" + "9" * 5000, "[64, 2048] px"),
        ("grid.enabled=\ud800", "true or false"),
        ("receptor.binning=3", "1, 2, 4"),
    ],
)
def test_cli_set_junk_exits_2_with_one_line(capsys, no_simulation, assignment, needle):
    assert_bad_input(*run_main(capsys, "run", "--set", assignment), needle)


@pytest.mark.parametrize(
    "args",
    [
        ["sweep", "--vary", "tube.kvp=60:inf:1"],
        ["sweep", "--vary", "tube.kvp=nan:100:1"],
        ["sweep", "--vary", "tube.kvp=60:100:0"],
        ["sweep", "--vary", "tube.kvp=60:100:1:2"],
        ["sweep", "--vary", "tube.kvp=40:150:1e-9"],
        ["sweep", "--vary", "patient.phantom=1:2:1"],
        ["sweep", "--vary", "tube.kvp=" + ",".join(["90"] * 100_001)],
        ["sweep", "--vary", "tube.kvpp=1,2"],
        ["abc", "--thickness", "10:40:10"],  # 40 cm + 60 cm source-skin > SID - 1 cm
        ["abc", "--thickness", "x"],
        ["bench", "spectrum", "--repeat", "-1"],
        ["bench", "spectrum", "--repeat", "1e3"],
        ["run", "--preset", "x" * 1000],
        ["run", "--set", "abc.enabled=false", "--set", "tube.kvp=150", "--set", "tube.ma=1000"],
        ["run", "--gif", "a.gif"],
        ["🔥"],
        [],
    ],
    ids=lambda a: " ".join(a)[:40],
)
def test_cli_junk_exits_2_with_one_line(capsys, no_simulation, args):
    assert_bad_input(*run_main(capsys, *args))


def test_cli_tube_rating_message_names_the_knobs(capsys, no_simulation):
    args = ["run", "--set", "abc.enabled=false", "--set", "tube.kvp=150", "--set", "tube.ma=1000"]
    assert_bad_input(*run_main(capsys, *args), "tube.kvp × tube.ma = 150 kV × 1000 mA", "80 kW")


@pytest.mark.parametrize(
    "args",
    [
        ["run", "--set", "tube.kvp=" + "9" * 100_000_000],
        ["run", "--set", "x" * 100_000_000 + "=1"],
        ["run", "--set", "tube.mode=" + "p" * 100_000_000],
        ["run", "--preset", "h" * 100_000_000],
        ["x" * 100_000_000],
    ],
    ids=["number", "name", "choice", "preset", "command"],
)
def test_a_100_MB_argument_exits_2_with_one_short_line(capsys, no_simulation, args):
    assert_bad_input(*run_main(capsys, *args))


# --------------------------------------------------------------------------- output files


@pytest.mark.parametrize(
    ("option", "path", "needle"),
    [
        ("--png", "/nonexistent/dir/a.png", "does not exist"),
        ("--png", f"{UNWRITABLE_DIR}/a.png", "cannot write"),
        ("--png", "/etc/hostname/a.png", "is not a folder"),
        ("--png", "/tmp", "is a folder"),
        ("--png", "", "expected a file path"),
        ("--gif", "/nonexistent/dir/a.gif", "does not exist"),
        ("--gif", f"{UNWRITABLE_DIR}/a.gif", "cannot write"),
    ],
)
def test_unwritable_outputs_exit_2_before_any_work(capsys, no_simulation, option, path, needle):
    if (
        path.startswith(UNWRITABLE_DIR)
        and os.access(UNWRITABLE_DIR, os.W_OK)
        and os.name != "posix"
    ):
        pytest.skip("no unwritable folder on this system")
    extra = ["--sequence"] if option == "--gif" else []
    assert_bad_input(*run_main(capsys, "run", *extra, option, path), option, needle)


def test_sweep_out_unwritable_exits_2_before_any_work(capsys, no_simulation):
    for path in ("/nonexistent/dir/s.csv", f"{UNWRITABLE_DIR}/s.csv"):
        args = ["sweep", "--vary", "tube.kvp=60,70", "--out", path]
        assert_bad_input(*run_main(capsys, *args), "--out")


def test_write_atomic_leaves_nothing_half_written(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")

    def half(f):
        f.write(b"new but not finished")
        raise RuntimeError("failed half-way")

    with pytest.raises(RuntimeError, match="half-way"):
        atomic.write_atomic(target, half)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]  # no temporary file left
    atomic.write_atomic(target, b"new")
    assert target.read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]
    with pytest.raises(ValueError, match="bytes or a function"):
        atomic.write_atomic(target, "text")


def test_write_atomic_follows_a_symlink_and_keeps_permissions(tmp_path):
    real = tmp_path / "real.png"
    real.write_bytes(b"old")
    link = tmp_path / "link.png"
    link.symlink_to(real)
    atomic.write_atomic(link, b"new")
    assert link.is_symlink() and real.read_bytes() == b"new"
    umask = os.umask(0)
    os.umask(umask)
    assert (real.stat().st_mode & 0o777) == (0o666 & ~umask)


def test_a_failing_sweep_leaves_no_csv_and_is_not_bad_input(capsys, monkeypatch, tmp_path):
    """An error inside the simulation (a bug) propagates: it is not exit code 2, the CSV is
    not touched, and the rows finished before it stay in the journal (for --resume)."""
    out = tmp_path / "sweep.csv"
    out.write_text("old\n")
    calls = []

    def simulate_then_fail(p):
        calls.append(p)
        if len(calls) == 2:
            raise ValueError("a bug inside the chain")
        return real(p)

    real = sim.chain.simulate
    monkeypatch.setattr(sim.chain, "simulate", simulate_then_fail)
    args = ["sweep", "--vary", "tube.kvp=60,70,80", "--set", "run.image_px=64", "--quiet"]
    with pytest.raises(ValueError, match="a bug inside the chain"):
        main([*args, "--set", "abc.enabled=false", "--out", str(out)])
    assert out.read_text() == "old\n"
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["sweep.csv", "sweep.csv.json", "sweep.csv.partial.jsonl"]
    journal = (tmp_path / "sweep.csv.partial.jsonl").read_text().splitlines()
    assert len(journal) == 1 and json.loads(journal[0])["tube.kvp"] == 60.0


def test_internal_errors_are_not_reported_as_bad_input(monkeypatch):
    def bug(p):
        raise ValueError("operands could not be broadcast")  # what a bug in numpy looks like

    monkeypatch.setattr(sim.chain, "simulate", bug)
    with pytest.raises(ValueError, match="broadcast"):
        main(["run", "--set", "run.image_px=64"])


def test_a_write_that_fails_after_the_work_exits_1_with_one_line(capsys, monkeypatch, tmp_path):
    def disk_full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    png = tmp_path / "a.png"
    code, out, err = run_main(capsys, "run", "--set", "run.image_px=64", "--png", str(png))
    assert code == 1 and len(err.splitlines()) == 1 and "No space left" in err
    assert not png.exists() and list(tmp_path.iterdir()) == []


def test_outputs_are_written_whole(capsys, tmp_path):
    png, csv = tmp_path / "a.png", tmp_path / "s.csv"
    assert run_main(capsys, "run", "--set", "run.image_px=64", "--png", str(png))[0] == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    args = ["sweep", "--vary", "tube.kvp=60,70", "--set", "run.image_px=64", "--out", str(csv)]
    assert run_main(capsys, *args, "--set", "abc.enabled=false")[0] == 0
    lines = csv.read_text().splitlines()
    assert len(lines) == 3 and lines[0].startswith("point,tube.kvp,run.seed,technique.kvp")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "s.csv", "s.csv.json"]


# --------------------------------------------------------------------------- parameters files


def params_file(tmp_path: Path, content: str | bytes, name: str = "p.json") -> str:
    path = tmp_path / name
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return str(path)


def test_params_file_flat_and_wrapped_and_the_order_of_sources(capsys, tmp_path):
    flat = params_file(tmp_path, '{"tube.kvp": 90, "abc.enabled": false, "run.image_px": 64}')
    code, out, _ = run_main(capsys, "run", "--params", flat, "--json")
    assert code == 0 and json.loads(out)["technique"]["kvp"] == 90.0
    knobs = {"tube.kvp": 70, "abc.enabled": False, "run.image_px": 64}
    wrapped = json.dumps({"fluorosim": "parameters", "params": knobs})
    path = params_file(tmp_path, "\ufeff" + wrapped, "w.json")  # a byte-order mark is fine
    # the preset first, then the file, then each --set
    args = ["run", "--preset", "paediatric", "--params", path, "--set", "tube.kvp=75", "--json"]
    code, out, _ = run_main(capsys, *args)
    assert code == 0 and json.loads(out)["technique"]["kvp"] == 75.0


def test_params_file_from_standard_input(capsys, monkeypatch):
    import io

    data = b'{"tube.kvp": 95, "abc.enabled": false, "run.image_px": 64}'
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    code, out, _ = run_main(capsys, "run", "--params", "-", "--json")
    assert code == 0 and json.loads(out)["technique"]["kvp"] == 95.0


def test_the_apps_download_reads_back():
    doc = {"fluorosim": "parameters", "params": Params().to_dict()}
    values = params_from_json(json.dumps(doc, indent=1, sort_keys=True).encode())
    assert Params.from_dict(values) == Params()


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("", "not a JSON file"),
        ("{", "not a JSON file"),
        ("{'tube.kvp': 90}", "not a JSON file"),
        ('{"tube.kvp": 90,}', "not a JSON file"),
        ("[" * 60_000 + "]" * 60_000, "larger than 64 kB"),
        ("[" * 30_000 + "]" * 30_000, "nested too deeply"),
        ('{"a":' * 10_000 + "1" + "}" * 10_000, "nested too deeply"),
        (" " * (MAX_PARAMS_BYTES + 1), "larger than 64 kB"),
        (b"\xff\xfe{}", "not a JSON file (not UTF-8"),
        ("[]", "not an array"),
        ('"tube.kvp=90"', "not a string"),
        ("90", "not a number"),
        ("null", "not null"),
        ('{"fluorosim": "parameters", "params": [1]}', "unknown knob 'fluorosim'"),
        ('{"params": 5}', "unknown knob 'params'"),
        ('{"fluorosim": "other", "params": {}}', "fluorosim='other'"),
        ('{"params": {}, "extra": 1}', "'extra'"),
        ('{"tube.kvpp": 90}', "did you mean tube.kvp"),
        ('{"fluorosim": "parameters"}', "unknown knob 'fluorosim'"),
        ('{"tube.kvp": [90]}', "tube.kvp"),
        ('{"tube.kvp": {"v": 90}}', "tube.kvp"),
        ('{"tube.kvp": null}', "tube.kvp"),
        ('{"tube.kvp": true}', "tube.kvp"),
        ('{"tube.kvp": "ninety"}', "tube.kvp"),
        ('{"tube.kvp": NaN}', "tube.kvp"),
        ('{"tube.kvp": Infinity}', "tube.kvp"),
        ('{"tube.kvp": 1e400}', "tube.kvp"),
        ('{"tube.kvp": ' + "9" * 5000 + "}", "not a JSON file"),
        ('{"grid.enabled": "maybe"}', "grid.enabled"),
        ('{"grid.enabled": 1}', "grid.enabled"),
        ('{"tube.mode": 1}', "tube.mode"),
        ('{"tube.kvp": 90, "tube.kvp": 91}', "appears twice"),
        ('{"\\ud800": 1}', "unknown knob"),
    ],
    ids=lambda c: short_repr(c)[:30],
)
def test_bad_params_files_exit_2_naming_the_problem(
    capsys, no_simulation, tmp_path, content, needle
):
    path = params_file(tmp_path, content)
    assert_bad_input(*run_main(capsys, "run", "--params", path), "--params", needle)


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ('{"abc.enabled": false, "tube.kvp": 150, "tube.ma": 1000}', "80 kW"),
        ('{"patient.thickness_cm": 40, "geometry.source_skin_cm": 65}', "geometry.sid_cm"),
    ],
)
def test_params_files_are_checked_across_knobs(capsys, no_simulation, tmp_path, content, needle):
    """Combinations are checked once the file and every --set are applied (a --set may fix
    what the file alone would break), so the message names the knobs, not the file."""
    path = params_file(tmp_path, content)
    assert_bad_input(*run_main(capsys, "run", "--params", path), needle)


@pytest.mark.parametrize(
    ("path", "needle"),
    [("/nonexistent/p.json", "No such file"), ("/tmp", "Is a directory"), ("a\0b", "cannot read")],
)
def test_unreadable_params_files_exit_2(capsys, no_simulation, path, needle):
    assert_bad_input(*run_main(capsys, "abc", "--params", path), "--params", needle)


def test_params_file_for_sweep_and_abc(capsys, tmp_path):
    path = params_file(tmp_path, '{"run.image_px": 64, "patient.phantom": "water_slab"}')
    code, out, _ = run_main(capsys, "sweep", "--params", path, "--vary", "tube.pulse_rate_pps=7.5")
    assert code == 0 and len(out.splitlines()) == 2
    code, out, _ = run_main(capsys, "abc", "--params", path, "--thickness", "10:20:10")
    assert code == 0 and out.splitlines()[-1].startswith("Ka,r-rate limit")


def test_params_from_json_needs_bytes():
    with pytest.raises(ValueError, match="bytes"):
        params_from_json('{"tube.kvp": 90}')
    assert params_from_json(b'{"tube.kvp": "90", "grid.enabled": "off"}') == {
        "tube.kvp": 90.0,
        "grid.enabled": False,
    }


# --------------------------------------------------------------------------- CLI as a process


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sim", *args], capture_output=True, text=True, timeout=300
    )


@pytest.mark.parametrize(
    "args",
    [
        ["run", "--set", "tube.kvp=" + "9" * 100_000],  # about the largest one argument may be
        ["run", "--png", "/nonexistent/dir/a.png"],
        ["run", "--set", "tube.kvp=nan", "--params", "/nonexistent.json"],
    ],
    ids=["100 kB argument", "png to a missing folder", "missing params file"],
)
def test_cli_process_bad_input_one_line_no_traceback(args):
    r = cli(*args)
    assert r.returncode == 2, r.stderr
    assert len(r.stderr.splitlines()) == 1 and "Traceback" not in r.stderr and r.stdout == ""
