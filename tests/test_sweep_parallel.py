"""Sweeps killed half-way and resumed (a real signal to a real process), and the same rows from
``--jobs 1``, ``--jobs 2`` and a Dask ``LocalCluster``.

The Dask test needs ``dask[distributed]`` (the ``test`` extra): without it the test fails, it
does not skip, so that CI always runs the real executor.
"""

import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

import sim
from sim.__main__ import main

FAST = sim.Params().replace(**{"run.image_px": 64, "abc.enabled": False})
SWEEP = ["sweep", "--set", "abc.enabled=false", "--set", "run.image_px=64", "--quiet"]


def _lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_kill_half_way_then_resume_gives_the_rows_of_an_uninterrupted_run(tmp_path, sig):
    vary = ["--vary", "tube.kvp=60:120:2", "--vary", "grid.enabled=true,false"]  # 62 points
    vary += ["--vary", "patient.thickness_cm=15,20,25"]  # 186 points
    out = tmp_path / "s.csv"
    journal = tmp_path / "s.csv.partial.jsonl"
    cmd = [sys.executable, "-m", "sim", *SWEEP, *vary, "--jobs", "2", "--out", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    while _lines(journal) < 20 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, "the sweep ended before it could be interrupted"
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert not out.exists() and 20 <= _lines(journal) < 186
    done_before = _lines(journal)

    r = subprocess.run([*cmd, "--resume"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    resumed = int(r.stderr.split(" resumed")[0].rsplit("(", 1)[1])
    assert resumed >= done_before - 1  # the line being written at the kill may be cut
    assert not journal.exists()

    full = tmp_path / "full.csv"
    assert main([*SWEEP, *vary, "--out", str(full)]) == 0  # uninterrupted, one process
    assert out.read_bytes() == full.read_bytes()


def test_jobs_1_jobs_2_and_dask_give_the_same_rows(tmp_path):
    from distributed import Client, LocalCluster  # the test extra: fails when missing

    vary = {"tube.kvp": [60.0, 80.0, 100.0], "grid.enabled": [True, False]}
    one = sim.sweep(FAST, vary, jobs=1)
    two = sim.sweep(FAST, vary, jobs=2)
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        on_dask = sim.sweep(FAST, vary, dask=client)
        assert len(client.scheduler_info()["workers"]) == 2
    pd.testing.assert_frame_equal(one, two)
    pd.testing.assert_frame_equal(one, on_dask)
    # and the command line's --dask local, into a file
    out = tmp_path / "d.csv"
    args = [*SWEEP, "--vary", "tube.kvp=60,80,100", "--vary", "grid.enabled=true,false"]
    assert main([*args, "--dask", "local", "--jobs", "2", "--out", str(out)]) == 0
    assert (pd.read_csv(out)["metrics.cnr"].to_numpy() == one["metrics.cnr"].to_numpy()).all()


def test_an_unreachable_dask_scheduler_is_bad_input(capsys):
    args = [*SWEEP, "--vary", "tube.kvp=60,80", "--dask", "tcp://127.0.0.1:9"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--dask" in err[0]


def test_a_worker_that_fails_stops_the_sweep_with_its_traceback():
    """A bug inside a point (not bad input) in a worker process surfaces in the parent."""
    from sim import sweep as sw

    p = sw.plan(FAST, {"tube.kvp": [60.0, 70.0, 80.0]})
    broken = [*p.tasks[:2], sw.Task(2, {"tube.kvp": 80.0}, params="not parameters")]
    with pytest.raises(sw.WorkerError, match="AttributeError"):
        list(sw.execute(p, broken, jobs=2))
