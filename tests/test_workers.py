"""The app's worker processes: the same frame as in-process, a bad setting named, a killed
worker survived."""

import os
import signal
from pathlib import Path

import numpy as np
import pytest

from classroom import controls as ctl
from classroom import workers
from sim.params import KNOBS, Params


def items(**changes) -> tuple:
    p = Params()
    values = {k: p.get(k) for k in KNOBS} | changes
    return tuple(sorted(ctl.canonical(values).items()))


@pytest.fixture(scope="module")
def pool():
    fp = workers.FramePool(1)
    yield fp
    fp.shutdown()


def test_a_worker_gives_the_frame_computed_in_process(pool):
    # equal to the engine's tolerance, not bit for bit: the engine's look-up tables are cached
    # per process and a table built for an earlier request may serve this one
    key = items(**{"patient.thickness_cm": 17.0})
    here, there = workers.compute_frame(key), pool.frame(key)
    assert there.technique == pytest.approx(here.technique, rel=1e-3)
    assert there.dose["kar_mGy"] == pytest.approx(here.dose["kar_mGy"], rel=1e-2)
    diff = np.abs(there.image.astype(int) - here.image.astype(int))
    assert diff.mean() < 1.0 and np.percentile(diff, 99) <= 4


def test_invalid_settings_come_back_as_a_value_error(pool):
    key = items(**{"patient.thickness_cm": 40.0, "geometry.source_skin_cm": 70.0})
    with pytest.raises(ValueError, match="source_skin_cm"):
        pool.frame(key)


def test_a_killed_worker_is_replaced(pool):
    pool.frame(items())
    for pid in list(pool._executor()._processes):
        os.kill(pid, signal.SIGKILL)
    key = items(**{"patient.thickness_cm": 19.0})
    assert pool.frame(key).technique == pytest.approx(workers.compute_frame(key).technique)
    assert pool.frame(key).image_jpeg  # and the next request finds a fresh pool


@pytest.mark.parametrize(("raw", "expected"), [("0", 0), ("1", 1), (" 3 ", 3), ("16", 16)])
def test_worker_count_from_the_environment(raw, expected):
    assert workers.worker_count({workers.WORKERS_ENV: raw}) == expected


@pytest.mark.parametrize("raw", ["-1", "17", "two", "1.5", "nan"])
def test_a_bad_worker_count_is_refused_with_its_range(raw):
    with pytest.raises(ValueError, match=r"FLUOROSIM_WORKERS .*0\.\.16"):
        workers.worker_count({workers.WORKERS_ENV: raw})


def test_default_worker_count_uses_the_cores():
    cpus = os.cpu_count() or 1
    assert workers.worker_count({}) == (min(cpus, 16) if cpus >= 2 else 0)


def test_a_phantom_loaded_in_the_app_is_simulated_by_a_worker(tmp_path):
    """A phantom file registered in the server process travels with the frame request, so a
    worker process that never saw it registers it and simulates it."""
    from sim.phantoms import load_phantom_file

    path = tmp_path / "worker_disc.toml"
    path.write_text(
        (Path(__file__).parent / "data" / "disc_phantom.toml").read_text(), encoding="utf-8"
    )
    load_phantom_file(path)
    values = {**Params().to_dict(), "patient.phantom": "worker_disc", "run.image_px": 64}
    items = workers.frame_items(values)
    assert workers.PHANTOM_FILE_KEY in dict(items)
    pool = workers.FramePool(1)
    try:
        view = pool.frame(items)
    finally:
        pool.shutdown()
    assert view.metrics["signal_px"] > 0 and view.metrics["contrast"] > 0.05
    plain = workers.frame_items(Params().to_dict())
    assert workers.PHANTOM_FILE_KEY not in dict(plain)
