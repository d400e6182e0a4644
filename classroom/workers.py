"""Simulations for the app in worker processes.

A Streamlit server runs every session's script in a thread of one process, so a simulation
(mostly Python-level work under the GIL) competes with every other session's rerun, and a
class that moves sliders together queues behind it. Here frames are computed in a small pool
of spawned worker processes instead: the server's own threads only draw, the cores are used,
and a cache miss no longer slows a cache hit. Each worker keeps the engine's caches (spectra,
scenes, look-up tables) warm across requests.

``FLUOROSIM_WORKERS`` sets the number of workers (default: the number of CPUs when there are
at least two, else 0); 0 computes in the calling thread, as the tests of the views do.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
import threading

from classroom import frames as fr
from sim.params import Params

WORKERS_ENV = "FLUOROSIM_WORKERS"
MAX_WORKERS = 16


def worker_count(environ: dict | None = None) -> int:
    """Workers to start: ``FLUOROSIM_WORKERS`` (0..16) or the CPU count when it is >= 2."""
    env = os.environ if environ is None else environ
    raw = env.get(WORKERS_ENV, "").strip()
    if not raw:
        cpus = os.cpu_count() or 1
        return min(cpus, MAX_WORKERS) if cpus >= 2 else 0
    try:
        n = int(raw)
    except ValueError:
        raise ValueError(
            f"{WORKERS_ENV} must be an integer 0..{MAX_WORKERS}, got {raw!r}"
        ) from None
    if not 0 <= n <= MAX_WORKERS:
        raise ValueError(f"{WORKERS_ENV} must be in 0..{MAX_WORKERS}, got {n}")
    return n


PHANTOM_FILE_KEY = "~phantom_file"
"""Item that carries ``(where, text)`` of a phantom loaded from a file, so that a worker can
register it (it also keys the frame cache on the file's content)."""


def frame_items(values: dict) -> tuple:
    """Sorted (knob, value) items of a frame, with the phantom's file when it was loaded."""
    from sim.phantoms.data import file_of

    items = dict(values)
    phantom_file = file_of(values["patient.phantom"])
    if phantom_file is not None:
        items[PHANTOM_FILE_KEY] = phantom_file
    return tuple(sorted(items.items()))


def compute_frame(items: tuple) -> fr.FrameView:
    """The compact frame for sorted (knob, value) items (runs in a worker)."""
    from sim.chain import simulate, view_mask

    values = dict(items)
    phantom_file = values.pop(PHANTOM_FILE_KEY, None)
    if phantom_file is not None:  # a phantom loaded in the app: register it here too
        from sim.phantoms.data import register_text

        register_text(phantom_file[1], phantom_file[0])
    p = Params.from_dict(values)
    r = simulate(p)
    return fr.frame_view(r, view_mask(p), r.abc.message if r.abc is not None else "")


def _warm() -> None:
    """Worker start-up: load the engine's tables with one default simulation."""
    import gc

    from sim.chain import simulate

    simulate(Params())
    gc.freeze()  # the tables stay out of every later collection


def _ready() -> bool:
    return True


class FramePool:
    """A lazily started process pool for :func:`compute_frame` (restarted if a worker dies)."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._pool: cf.ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def _executor(self) -> cf.ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                # spawn, not fork: the server process has threads (forking them is unsafe)
                ctx = multiprocessing.get_context("spawn")
                self._pool = cf.ProcessPoolExecutor(self.workers, mp_context=ctx, initializer=_warm)
                for _ in range(self.workers):  # start (and warm) every worker now
                    self._pool.submit(_ready)
            return self._pool

    def _reset(self, broken: cf.ProcessPoolExecutor) -> None:
        with self._lock:
            if self._pool is broken:
                self._pool = None
        broken.shutdown(wait=False, cancel_futures=True)

    def frame(self, items: tuple) -> fr.FrameView:
        """The frame for these items; in this thread when there are no workers."""
        if self.workers == 0:
            return compute_frame(items)
        pool = self._executor()
        try:
            return pool.submit(compute_frame, items).result()
        except cf.process.BrokenProcessPool:
            # a worker was killed (out of memory, a signal): start afresh, answer in-process
            self._reset(pool)
            return compute_frame(items)

    def shutdown(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)


__all__ = ["WORKERS_ENV", "FramePool", "compute_frame", "worker_count"]
