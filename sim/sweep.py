"""Parameter sweeps: many simulations, one tidy row each, serial, parallel or on a Dask cluster.

From Python::

    import sim
    df = sim.sweep(base, vary={"tube.kvp": [60, 80, 100], "grid.enabled": [True, False]})
    df = sim.sweep(base, vary={"tube.kvp": [60, 120], "patient.thickness_cm": [10, 30]},
                   design="latin", n=50, jobs=2)

and from the command line ``fluorosim sweep --vary tube.kvp=60:120:10 --set abc.enabled=false
--out sweep.csv [--jobs N] [--dask ADDRESS|local] [--resume] [--images DIR]``.

What you ask is what runs: varying (or setting) a knob that ABC sets while ABC is on is a
``ValueError`` (:func:`sim.brightness.check_not_abc_owned`), not a silently ignored value. The
columns are declared by :func:`columns` (the point's index, the varied knobs, the noise seed,
every single-frame quantity of :mod:`sim.quantities` with its unit, and ``error``), never
taken from the first row. A point whose combination of knobs is invalid (a patient too thick
for the SID, ...) becomes a row with ``error`` set and the sweep goes on; a value outside its
knob's range, an unknown knob or a bad range is refused before anything runs.

Each point's noise seed (``run.seed``) is derived from all of its parameters, the base's
``run.seed`` among them (:func:`point_seed`), so a point gives the same numbers alone or inside
any sweep, and with any executor; varying ``run.seed`` sets it by hand.

Files (:func:`run_to_file`): rows are appended to a journal (``OUT.partial.jsonl``) as they
finish, so an interrupt or a crash loses no finished point, and ``resume=True`` runs only the
points the journal lacks; the output (CSV or Parquet, in point order) is written whole at the
end (``sim.atomic``) and the journal removed. A JSON sidecar (``OUT.json``) holds the request
(base parameters, varied knobs, design), the columns with their units and the package versions.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import math
import os
import queue
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sim.atomic import check_writable, write_atomic
from sim.brightness import check_not_abc_owned
from sim.params import KNOBS, Params, knob
from sim.quantities import QUANTITIES
from sim.validate import short_repr

MAX_POINTS = 100_000
"""Most points one sweep may ask for (a guard against a typo in a range) [-]."""

MAX_JOBS = 256
"""Most local worker processes [-]."""

DESIGNS = ("grid", "zip", "latin")
"""``grid``: every combination (the last knob varies fastest); ``zip``: the i-th value of every
knob together (equal lengths); ``latin``: ``n`` points of a Latin hypercube over each numeric
knob's span (its lowest to highest value) and balanced over the values of the others."""

RUN_ONLY = frozenset(
    {
        "technique.abc_solves",
        "metrics.recursive_noise_factor",
        "metrics.pulses",
        "metrics.frames_kept",
        "metrics.frames_detected",
        "metrics.content_states",
        "metrics.anchor_frames",
        "metrics.local_states",
    }
)
"""Quantities only a run (``sim.run``) reports; a sweep point is one frame (``sim.simulate``)."""

_BOOL = frozenset(
    {
        "technique.abc_limited",
        "dose.over_limit",
        "dose.srdl_kar",
        "dose.srdl_kap",
        "dose.srdl_psd",
        "dose.srdl_fluoro_time",
        "dose.srdl_any",
    }
)
_INT = frozenset(
    {
        "dose.frames",
        "dose.notify_kar",
        "dose.notify_kap",
        "dose.notify_psd",
        "dose.notify_fluoro_time",
        "metrics.signal_px",
        "metrics.background_px",
    }
)
_STR = frozenset({"dose.region", "dose.reaction", "dose.reaction_band"})

SEED = "run.seed"
"""Column of the noise seed each point ran with."""

_DTYPES = {"float": "float64", "int": "Int64", "bool": "boolean", "str": "string"}


# --------------------------------------------------------------------------------------------
# the points
# --------------------------------------------------------------------------------------------
def parse_vary(text: str) -> tuple[str, list[Any]]:
    """Parse ``name=a:b:step`` (inclusive range) or ``name=v1,v2,...`` into values.

    Parameters
    ----------
    text
        As given to ``--vary``.

    Returns
    -------
    name, values
        Dotted knob name and its checked values, in order.
    """
    if not isinstance(text, str) or "=" not in text:
        raise ValueError(f"--vary {short_repr(text)}: expected name=from:to:step or name=v1,v2,...")
    shown = short_repr(text)
    name, spec = (part.strip() for part in text.split("=", 1))
    k = knob(name)
    if ":" in spec:
        if k.kind not in (int, float):
            raise ValueError(f"--vary {shown}: a range needs a numeric knob; list the values")
        parts = spec.split(":", 3)
        try:
            lo, hi, step = (float(x) for x in parts)
        except ValueError:
            raise ValueError(f"--vary {shown}: expected from:to:step, three numbers") from None
        if not all(math.isfinite(x) for x in (lo, hi, step)):
            raise ValueError(f"--vary {shown}: from, to and step must be finite numbers")
        if not (step > 0 and lo <= hi):
            raise ValueError(f"--vary {shown}: expected from <= to and step > 0")
        count = (hi - lo) / step + 1e-9 + 1
        if count > MAX_POINTS:
            raise ValueError(f"--vary {shown}: {count:.3g} values, more than {MAX_POINTS}")
        numbers = lo + step * np.arange(math.floor(count))
        values = [k.check(int(round(x)) if k.kind is int else float(x)) for x in numbers]
    else:
        if spec.count(",") >= MAX_POINTS:
            raise ValueError(f"--vary {shown}: more than {MAX_POINTS} values")
        values = [k.parse(v) for v in spec.split(",") if v.strip()]
    if not values:
        raise ValueError(f"--vary {shown}: no values")
    return name, values


def _checked_lists(vary: Mapping[str, Iterable[Any]]) -> dict[str, list[Any]]:
    if not isinstance(vary, Mapping):
        raise ValueError(f"vary must map knob names to values, got {type(vary).__name__}")
    out = {}
    for name in vary:
        k = knob(name)  # an unknown name fails by name, before its values are looked at
        v = vary[name]
        if isinstance(v, (str, bytes)) or not isinstance(v, Iterable):
            raise ValueError(f"{name}: expected a list of values, got {short_repr(v)}")
        values = list(itertools.islice(v, MAX_POINTS + 1))
        if not values:
            raise ValueError(f"{name}: no values")
        if len(values) > MAX_POINTS:
            raise ValueError(f"{name}: more than {MAX_POINTS} values")
        out[name] = [k.check(x) for x in values]
    return out


def design_points(
    vary: Mapping[str, Iterable[Any]],
    design: str = "grid",
    n: int | None = None,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """The points of a design: dicts of varied knob -> value, in order.

    Parameters
    ----------
    vary
        Dotted knob name -> values (each checked against its knob).
    design
        ``grid``, ``zip`` or ``latin`` (:data:`DESIGNS`).
    n
        Points of a ``latin`` design (only there) [-].
    seed
        Seed of the ``latin`` sampling (the sweep passes the base ``run.seed``) [-].

    Returns
    -------
    list of dict
        One dict per point.

    Raises
    ------
    ValueError
        An unknown knob, a value out of range, unequal lengths for ``zip``, a missing or
        superfluous ``n``, or more than :data:`MAX_POINTS` points.
    """
    if design not in DESIGNS:
        raise ValueError(f"design={short_repr(design)}: expected one of {', '.join(DESIGNS)}")
    if design != "latin" and n is not None:
        raise ValueError(f"n={short_repr(n)} is only for design='latin'")
    lists = _checked_lists(vary)
    names = list(lists)
    if not names:
        raise ValueError("vary at least one knob")
    if design == "grid":
        total = math.prod(len(v) for v in lists.values())
        if total > MAX_POINTS:
            raise ValueError(f"the sweep has {total} points, more than {MAX_POINTS}")
        return [dict(zip(names, c, strict=True)) for c in itertools.product(*lists.values())]
    if design == "zip":
        lengths = {name: len(v) for name, v in lists.items()}
        if len(set(lengths.values())) > 1:
            shown = ", ".join(f"{k}: {v}" for k, v in lengths.items())
            raise ValueError(f"design zip needs as many values for every knob ({shown})")
        return [dict(zip(names, c, strict=True)) for c in zip(*lists.values(), strict=True)]
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 1 <= n <= MAX_POINTS:
        raise ValueError(f"design latin needs n, the number of points, in [1, {MAX_POINTS}]")
    n = int(n)
    rng = np.random.default_rng([int(seed), 0x5EED])
    columns_: dict[str, list[Any]] = {}
    for name, values in lists.items():
        k = KNOBS[name]
        strata = (rng.permutation(n) + rng.random(n)) / n  # one point in each of n strata
        if k.kind in (int, float) and k.choices is None and len(set(values)) > 1:
            lo, hi = min(values), max(values)
            x = lo + strata * (hi - lo)
            columns_[name] = [k.check(int(round(v)) if k.kind is int else float(v)) for v in x]
        else:  # choices, flags, one value: each value equally often, in random order
            idx = np.floor(strata * len(values)).astype(int).clip(0, len(values) - 1)
            columns_[name] = [values[i] for i in idx]
    return [{name: columns_[name][i] for name in names} for i in range(n)]


def points(varies: Mapping[str, Iterable[Any]]) -> list[dict[str, Any]]:
    """Every combination of the varied knobs' values (the grid design)."""
    return design_points(varies, "grid")


def point_seed(params: Params) -> int:
    """The noise seed of a point: a hash of all of its parameters (the base seed among them).

    The same parameters give the same seed whichever sweep they are in and whoever runs them.

    Parameters
    ----------
    params
        The point's parameters, ``run.seed`` holding the base seed.

    Returns
    -------
    int
        A valid ``run.seed`` in [0, 2**31 - 1].
    """
    text = json.dumps(params.to_dict(), sort_keys=True, separators=(",", ":"))
    digest = hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % (2**31 - 1)


# --------------------------------------------------------------------------------------------
# the columns
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Column:
    """One column of a sweep: name, unit ("" when none), kind, label.

    Attributes
    ----------
    name : str
        ``point``, a knob's dotted name, ``technique.kvp``, ..., ``error``.
    unit : str
        Display unit (``kV``, ``mGy/min``); "" for numbers without one, flags and text.
    kind : str
        ``float``, ``int``, ``bool`` or ``str``.
    label : str
        What the column is, for axes and tables.
    """

    name: str
    unit: str
    kind: str
    label: str

    @property
    def heading(self) -> str:
        """``label [unit]`` (the label alone when there is no unit)."""
        return f"{self.label} [{self.unit}]" if self.unit else self.label

    def as_dict(self) -> dict[str, str]:
        """JSON-ready (name, unit, kind, label)."""
        return {"name": self.name, "unit": self.unit, "kind": self.kind, "label": self.label}


_KIND_OF_TYPE = {float: "float", int: "int", bool: "bool", str: "str"}


def knob_column(name: str) -> Column:
    """The column of a knob (its unit and type from :data:`sim.params.KNOBS`)."""
    k = knob(name)
    unit = "" if k.unit == "-" else k.unit
    return Column(name, unit, _KIND_OF_TYPE[k.kind], k.help.rstrip("."))


def quantity_column(key: str) -> Column:
    """The column of a reported quantity (unit and label from :mod:`sim.quantities`)."""
    q = QUANTITIES[key]
    kind = "bool" if key in _BOOL else "int" if key in _INT else "str" if key in _STR else "float"
    return Column(key, q.unit, kind, q.label)


REPORTED = tuple(k for k in QUANTITIES if k not in RUN_ONLY)
"""Every quantity one frame reports, in display order: technique, dose, metrics."""


def columns(varied: Sequence[str]) -> list[Column]:
    """The columns of a sweep over ``varied``, declared up front (not taken from a row).

    ``point``, the varied knobs, ``run.seed`` (unless varied), every quantity of
    :data:`REPORTED`, then ``error`` (empty on a good row).
    """
    cols = [Column("point", "", "int", "Point of the design")]
    cols += [knob_column(n) for n in varied]
    if SEED not in varied:
        cols.append(knob_column(SEED))
    cols += [quantity_column(k) for k in REPORTED]
    cols.append(Column("error", "", "str", "Why the point did not run"))
    return cols


def column_of(name: str) -> Column:
    """The column of any name a sweep may have (a knob, a quantity, ``point``, ``error``)."""
    for c in columns([]):
        if c.name == name:
            return c
    return knob_column(name)


# --------------------------------------------------------------------------------------------
# the plan
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Task:
    """One point to run: its index, varied values, parameters (None if invalid) or error."""

    index: int
    values: dict[str, Any]
    params: Params | None
    error: str | None = None


@dataclass(frozen=True)
class Plan:
    """A validated sweep: the request, the columns and one :class:`Task` per point."""

    base: Params
    vary: dict[str, list[Any]]
    design: str
    n: int | None
    tasks: list[Task]
    columns: list[Column]
    phantom_files: tuple[tuple[str, str], ...] = field(default=())

    def request(self) -> dict[str, Any]:
        """What identifies the sweep (JSON-ready): base parameters, varied knobs, design."""
        return {
            "base": self.base.to_dict(),
            "vary": {k: list(v) for k, v in self.vary.items()},
            "design": self.design,
            "n": self.n,
            "phantom_files": [
                {"source": w, "sha256": hashlib.sha256(t.encode()).hexdigest()}
                for w, t in self.phantom_files
            ],
        }


def plan(
    base: Params,
    vary: Mapping[str, Iterable[Any]],
    design: str = "grid",
    n: int | None = None,
    set_by_hand: Iterable[str] = (),
    hint: str = "abc.enabled=False",
) -> Plan:
    """Validate a sweep and lay out its points, before anything is simulated.

    Parameters
    ----------
    base
        Parameters the sweep starts from.
    vary
        Dotted knob name -> values.
    design, n
        See :func:`design_points`.
    set_by_hand
        Knobs the caller set on the base by hand (the command line's ``--set``): like the
        varied ones, they may not be knobs ABC sets.
    hint
        How to switch ABC off, for the message.

    Returns
    -------
    Plan
        One task per point: its parameters with the derived seed, or the reason it is invalid.

    Raises
    ------
    ValueError
        Bad knobs, values or design, too many points, or a varied (or set) knob that ABC sets
        at some point of the sweep (the message names the knob).
    """
    if not isinstance(base, Params):
        raise ValueError(f"base must be a sim.Params, got {type(base).__name__}")
    lists = _checked_lists(vary)
    pts = design_points(lists, design, n, seed=base.run.seed)
    by_hand = [*dict.fromkeys([*set_by_hand, *lists])]
    base_values = base.to_dict()
    tasks = []
    for i, pt in enumerate(pts):
        check_not_abc_owned(by_hand, {**base_values, **pt}, hint)
        try:
            p = base.replace(**pt)
        except ValueError as exc:
            tasks.append(Task(i, pt, None, str(exc)))
            continue
        if SEED not in pt:
            p = p.replace(**{SEED: point_seed(p)})
        tasks.append(Task(i, pt, p))
    return Plan(
        base=base,
        vary=lists,
        design=design,
        n=None if design != "latin" else int(n),
        tasks=tasks,
        columns=columns(list(lists)),
        phantom_files=_phantom_files(t.params for t in tasks),
    )


def _phantom_files(params: Iterable[Params | None]) -> tuple[tuple[str, str], ...]:
    """(where, text) of the data phantoms read from outside the package that points use."""
    from sim.phantoms.data import file_of

    names = sorted({p.patient.phantom for p in params if p is not None})
    found = (file_of(name) for name in names)
    return tuple(f for f in found if f is not None)


# --------------------------------------------------------------------------------------------
# running points (in any process)
# --------------------------------------------------------------------------------------------
_REGISTERED: set[str] = set()


def _register(phantom_files: Sequence[tuple[str, str]]) -> None:
    from sim.phantoms.data import register_text

    for where, text in phantom_files:
        key = hashlib.sha256((where + "\0" + text).encode()).hexdigest()
        if key in _REGISTERED:
            continue
        with contextlib.suppress(ValueError):  # registered already, from the same source
            register_text(text, where, replace=True)
        _REGISTERED.add(key)


def image_name(index: int) -> str:
    """File name of a point's display image in ``--images DIR``."""
    return f"point-{index:06d}.png"


def run_task(
    task: Task,
    columns_: Sequence[Column],
    images_dir: str | None = None,
    keep_image: bool = False,
) -> tuple[int, dict[str, Any], np.ndarray | None]:
    """Run one point: (index, row, display image if ``keep_image``).

    The projection layouts reused between nearby spectra are forgotten first
    (:func:`sim.projection.forget_layouts`), so that a point gives the same numbers in any
    sweep, any order and any process."""
    from sim import chain, projection

    row: dict[str, Any] = {c.name: None for c in columns_}
    row["point"] = task.index
    row.update(task.values)
    if task.params is None:
        row["error"] = task.error
        return task.index, row, None
    row[SEED] = task.params.run.seed
    projection.forget_layouts()
    result = chain.simulate(task.params)
    for section, values in result.summary().items():
        for k, v in values.items():
            key = f"{section}.{k}"
            if key not in row:
                raise RuntimeError(f"{key} is not a declared sweep column (sim.sweep.columns)")
            row[key] = v
    if images_dir is not None:
        from PIL import Image

        path = Path(images_dir) / image_name(task.index)
        write_atomic(
            path, lambda f: Image.fromarray(result.image).save(f, format="PNG"), "--images"
        )
    return task.index, row, (result.image if keep_image else None)


_SWEEP_TOKEN: list[str] = [""]


def fresh_start(token: str | None = None) -> None:
    """Start a sweep in this process as a new process would: the projection tables built
    before it (laid out under other points' history, see :func:`run_task`) are dropped.
    With a ``token``, only once per sweep (a Dask worker runs many of its points)."""
    if token is not None and _SWEEP_TOKEN[0] == token:
        return
    _SWEEP_TOKEN[0] = token or ""
    from sim import projection

    projection.clear_cache()
    projection.forget_layouts()


def run_chunk(
    tasks: Sequence[Task],
    columns_: Sequence[Column],
    phantom_files: Sequence[tuple[str, str]] = (),
    images_dir: str | None = None,
    keep_image: bool = False,
    token: str | None = None,
) -> list[tuple[int, dict[str, Any], np.ndarray | None]]:
    """Run points in order in this process (its caches kept from point to point)."""
    _register(phantom_files)
    fresh_start(token)
    return [run_task(t, columns_, images_dir, keep_image) for t in tasks]


def _worker(
    tasks_q: Any,
    results_q: Any,
    columns_: list[Column],
    phantom_files: tuple,
    images_dir: str | None,
    keep_image: bool,
) -> None:
    """A local worker process: chunks in, one result per point out, as each finishes."""
    import multiprocessing
    import signal
    import traceback

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles interrupts
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    parent = multiprocessing.parent_process()
    try:
        _register(phantom_files)
        while True:
            try:
                chunk = tasks_q.get(timeout=1.0)
            except queue.Empty:
                if parent is not None and not parent.is_alive():
                    return
                continue
            if chunk is None:
                return
            for t in chunk:
                results_q.put(("row", run_task(t, columns_, images_dir, keep_image)))
    except BaseException:
        results_q.put(("error", traceback.format_exc()))


def _chunks(tasks: Sequence[Task], size: int) -> list[list[Task]]:
    return [list(tasks[i : i + size]) for i in range(0, len(tasks), size)]


def _chunk_size(n: int, workers: int) -> int:
    """Points per chunk: neighbours together (shared cache), about 8 chunks per worker."""
    return max(1, min(16, math.ceil(n / (8 * max(1, workers)))))


class WorkerError(RuntimeError):
    """A point failed inside a worker (a bug): the worker's traceback is the message."""


def _run_local_pool(
    tasks: Sequence[Task], columns_: list[Column], jobs: int, phantom_files: tuple, images_dir, keep
) -> Iterator[tuple[int, dict[str, Any], np.ndarray | None]]:
    import multiprocessing

    # spawn, not fork: the engine keeps thread pools (sim.projection), which a forked child
    # inherits without their threads and waits on forever; a fresh interpreter is safe
    ctx = multiprocessing.get_context("spawn")
    tasks_q, results_q = ctx.Queue(), ctx.Queue()
    # workers first, then the tasks: forking while the queue's feeder thread is busy can
    # leave a lock held in the children (seen as workers that never start)
    workers = [
        ctx.Process(
            target=_worker,
            args=(tasks_q, results_q, columns_, phantom_files, images_dir, keep),
            daemon=True,
        )
        for _ in range(jobs)
    ]
    for w in workers:
        w.start()
    for chunk in _chunks(tasks, _chunk_size(len(tasks), jobs)):
        tasks_q.put(chunk)
    for _ in workers:
        tasks_q.put(None)
    left, stalls = len(tasks), 0
    try:
        while left:
            try:
                kind, payload = results_q.get(timeout=0.5)
            except queue.Empty:
                codes = [w.exitcode for w in workers]
                bad = [c for c in codes if c not in (None, 0)]
                if bad:
                    raise WorkerError(f"a sweep worker died (exit code {bad[0]})") from None
                if all(c == 0 for c in codes):
                    stalls += 1
                    if stalls > 4:
                        raise WorkerError(
                            "the sweep workers stopped before every point ran"
                        ) from None
                continue
            if kind == "error":
                raise WorkerError(payload)
            left -= 1
            yield payload
    finally:
        for w in workers:
            if w.is_alive():
                w.terminate()
        for w in workers:
            w.join(timeout=5)
        tasks_q.cancel_join_thread()
        results_q.cancel_join_thread()


def dask_client(address: Any, jobs: int = 2) -> tuple[Any, Callable[[], None]]:
    """A Dask distributed client: ``"local"`` starts a ``LocalCluster`` of ``jobs`` worker
    processes (one thread each), any other text is a scheduler address; a ``Client`` is used
    as it is. Returns the client and a function that closes what was opened here.

    Raises
    ------
    ValueError
        Dask is not installed (the ``fluorosim[dask]`` extra), or the scheduler cannot be
        reached.
    """
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ValueError("--dask needs Dask distributed: pip install 'fluorosim[dask]'") from None
    if isinstance(address, Client):
        return address, lambda: None
    if not isinstance(address, str) or not address.strip():
        raise ValueError(f"--dask {short_repr(address)}: expected a scheduler address or local")
    if address == "local":
        cluster = LocalCluster(
            n_workers=jobs,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=40,
        )
        client = Client(cluster)

        def close() -> None:
            client.close()
            cluster.close()

        return client, close
    try:
        client = Client(address, timeout="5s")
    except (OSError, TimeoutError, ValueError) as exc:
        raise ValueError(
            f"--dask {short_repr(address)}: cannot reach the scheduler ({exc})"
        ) from None
    return client, client.close


def _run_dask(
    tasks: Sequence[Task],
    columns_: list[Column],
    client: Any,
    phantom_files: tuple,
    images_dir,
    keep,
) -> Iterator[tuple[int, dict[str, Any], np.ndarray | None]]:
    from distributed import as_completed

    futures = client.map(
        run_chunk,
        [[t] for t in tasks],
        columns_=list(columns_),
        phantom_files=phantom_files,
        images_dir=images_dir,
        keep_image=keep,
        token=os.urandom(8).hex(),  # each worker starts this sweep fresh, once
        pure=False,
    )
    try:
        for fut in as_completed(futures):
            yield from fut.result()
    finally:
        client.cancel(futures)


def execute(
    plan_: Plan,
    tasks: Sequence[Task] | None = None,
    *,
    jobs: int = 1,
    dask: Any = None,
    images_dir: str | os.PathLike | None = None,
    keep_images: bool = False,
) -> Iterator[tuple[int, dict[str, Any], np.ndarray | None]]:
    """Run tasks of a plan, yielding (index, row, image or None) as each point finishes.

    ``jobs=1`` runs them in this process; ``jobs>1`` in that many local worker processes
    (each keeping its caches, fed chunks of neighbouring points); ``dask`` (a client, an
    address or ``"local"``) on a Dask cluster. The rows are the same whatever runs them.
    """
    tasks = list(plan_.tasks if tasks is None else tasks)
    if isinstance(jobs, bool) or not isinstance(jobs, int) or not 1 <= jobs <= MAX_JOBS:
        raise ValueError(f"jobs={short_repr(jobs)}: expected a whole number in [1, {MAX_JOBS}]")
    folder = None if images_dir is None else os.fspath(images_dir)
    if not tasks:
        return
    if dask is not None:
        client, close = dask_client(dask, jobs)
        try:
            yield from _run_dask(
                tasks, plan_.columns, client, plan_.phantom_files, folder, keep_images
            )
        finally:
            close()
    elif jobs == 1 or len(tasks) == 1:
        _register(plan_.phantom_files)
        fresh_start()
        for t in tasks:
            yield run_task(t, plan_.columns, folder, keep_images)
    else:
        yield from _run_local_pool(
            tasks, plan_.columns, min(jobs, len(tasks)), plan_.phantom_files, folder, keep_images
        )


# --------------------------------------------------------------------------------------------
# tables
# --------------------------------------------------------------------------------------------
def frame(rows: Iterable[Mapping[str, Any]], columns_: Sequence[Column]):
    """Rows as a pandas DataFrame with the declared columns and types, in point order."""
    import pandas as pd

    rows = sorted(rows, key=lambda r: r["point"])
    data = {}
    for c in columns_:
        values = [r.get(c.name) for r in rows]
        if c.kind == "float":
            data[c.name] = np.array([np.nan if v is None else v for v in values], dtype=float)
        else:
            data[c.name] = pd.array(
                [pd.NA if v is None else v for v in values], dtype=_DTYPES[c.kind]
            )
    df = pd.DataFrame(data)
    df.attrs["units"] = {c.name: c.unit for c in columns_}
    return df


def sweep(
    base: Params,
    vary: Mapping[str, Iterable[Any]],
    design: str = "grid",
    n: int | None = None,
    images: bool | str | os.PathLike = False,
    *,
    jobs: int = 1,
    dask: Any = None,
    progress: bool = False,
):
    """Run a sweep and return a tidy DataFrame: one row per point, in point order.

    Parameters
    ----------
    base
        Parameters the sweep starts from.
    vary
        Dotted knob name -> values. A knob ABC sets (``tube.kvp``, ...) may be varied only
        with ABC off at every point (``abc.enabled=False``).
    design, n
        ``grid`` (every combination), ``zip`` or ``latin`` with ``n`` points
        (:func:`design_points`).
    images
        False; True to add an ``image`` column of display images (uint8 arrays); or a folder
        to write each point's image to as ``point-NNNNNN.png``.
    jobs
        Local worker processes [-].
    dask
        A ``distributed.Client``, a scheduler address or ``"local"`` (needs the
        ``fluorosim[dask]`` extra); ``jobs`` is then the ``LocalCluster``'s worker count.
    progress
        Show a progress bar (tqdm) on standard error.

    Returns
    -------
    pandas.DataFrame
        Columns of :func:`columns` (units in ``df.attrs["units"]``): ``point``, the varied
        knobs, ``run.seed``, technique, dose and metrics, ``error`` (empty on a good point).

    Raises
    ------
    ValueError
        Unknown knobs, bad values or design, or a varied knob that ABC sets.
    """
    p = plan(base, vary, design, n)
    folder = None
    if images is not False and images is not True:
        folder = check_images_dir(images, "images")
    keep = images is True
    rows, imgs = [], {}
    bar = _progress(len(p.tasks), 0, progress)
    try:
        for index, row, image in execute(
            p, jobs=jobs, dask=dask, images_dir=folder, keep_images=keep
        ):
            rows.append(row)
            if keep:
                imgs[index] = image
            bar.update(1)
    finally:
        bar.close()
    df = frame(rows, p.columns)
    if keep:
        df["image"] = [imgs.get(i) for i in df["point"]]
    return df


def check_images_dir(path: str | os.PathLike, what: str = "--images") -> str:
    """A folder for point images: created if its parent exists, checked writable."""
    if not isinstance(path, (str, os.PathLike)) or not os.fspath(path):
        raise ValueError(f"{what} {short_repr(path)}: expected a folder")
    folder = Path(os.fspath(path))
    if not folder.is_dir():
        if folder.exists():
            raise ValueError(f"{what} {short_repr(str(folder))}: is not a folder")
        try:
            folder.mkdir()
        except OSError as exc:
            raise ValueError(
                f"{what} {short_repr(str(folder))}: cannot create it ({exc.strerror or exc})"
            ) from None
    check_writable(folder / image_name(0), what)
    return os.fspath(folder.resolve())


def _progress(total: int, initial: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(
        total=total,
        initial=initial,
        unit="pt",
        desc="sweep",
        file=sys.stderr,
        disable=not enabled,
        dynamic_ncols=True,
        smoothing=0.1,
    )


# the files part (journal, outputs, resume; sim/sweep_files.py) needs the names above, so it is
# imported last; its names are part of this module's API
from sim import sweep_files as _files  # noqa: E402

FORMATS = _files.FORMATS
FileRun = _files.FileRun
ResumeError = _files.ResumeError
_sidecar = _files._sidecar
is_complete = _files.is_complete
journal_path = _files.journal_path
output_format = _files.output_format
prepare_output = _files.prepare_output
read_journal = _files.read_journal
read_table = _files.read_table
run_to_file = _files.run_to_file
run_to_stream = _files.run_to_stream
sidecar_path = _files.sidecar_path
versions = _files.versions
write_csv = _files.write_csv


class _CallableModule(type(sys)):
    """``sim.sweep`` is this module and also its :func:`sweep`: ``sim.sweep(base, vary=...)``."""

    def __call__(self, *args: Any, **kwargs: Any):
        return sweep(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
