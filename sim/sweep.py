"""Parameter sweeps: every combination of some knobs' values, one simulation each.

``fluorosim sweep --vary tube.kvp=60:120:10 --vary grid.enabled=true,false --out sweep.csv``
or, from Python, ``for row in sweep(Params(), {"tube.kvp": [60, 80]}): ...``. A row holds
the varied knobs and every scalar of ``Result.technique``, ``Result.dose`` and
``Result.metrics`` (prefixed ``technique.``, ``dose.``, ``metrics.``).
"""

from __future__ import annotations

import csv
import io
import itertools
import math
import os
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, BinaryIO, TextIO

import numpy as np

from sim.atomic import write_atomic
from sim.params import Params, knob
from sim.validate import short_repr

MAX_POINTS = 100_000
"""Most combinations one sweep may ask for (a guard against a typo in a range) [-]."""


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


def points(varies: Mapping[str, Iterable[Any]]) -> list[dict[str, Any]]:
    """Every combination of the varied knobs' values (the last knob varies fastest)."""
    names = list(varies)
    for n in names:
        knob(n)  # an unknown name fails by name, before its values are looked at
        v = varies[n]
        if isinstance(v, (str, bytes)) or not isinstance(v, Iterable):
            raise ValueError(f"{n}: expected a list of values, got {short_repr(v)}")
    lists = [list(varies[n]) for n in names]
    total = math.prod(len(v) for v in lists)
    if total > MAX_POINTS:
        raise ValueError(f"the sweep has {total} points, more than {MAX_POINTS}")
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*lists)]


def plan(base: Params, varies: Mapping[str, Iterable[Any]]) -> list[tuple[dict[str, Any], Params]]:
    """Every combination with its validated parameters, before anything is simulated.

    Parameters
    ----------
    base
        Parameters the sweep starts from.
    varies
        Dotted knob name -> values.

    Returns
    -------
    list of (point, params)
        The varied knobs' values and the parameters of each point.

    Raises
    ------
    ValueError
        Too many points, or a point that is not valid (the message names the knob).
    """
    if not isinstance(base, Params):
        raise ValueError(f"base must be a sim.Params, got {type(base).__name__}")
    if not isinstance(varies, Mapping):
        raise ValueError(f"varies must map knob names to values, got {type(varies).__name__}")
    return [(point, base.replace(**point)) for point in points(varies)]


def run_plan(planned: Iterable[tuple[dict[str, Any], Params]]) -> Iterator[dict[str, Any]]:
    """One row per planned point: the varied knobs, then technique, dose and metrics."""
    from sim.chain import simulate

    for point, params in planned:
        summary = simulate(params).summary()
        row = dict(point)
        for section, values in summary.items():
            row.update({f"{section}.{k}": v for k, v in values.items()})
        yield row


def sweep(base: Params, varies: Mapping[str, Iterable[Any]]) -> Iterator[dict[str, Any]]:
    """One row per combination: the varied knobs, then technique, dose and metrics.

    Every point is validated (:func:`plan`) before the first is simulated.

    Parameters
    ----------
    base
        Parameters the sweep starts from.
    varies
        Dotted knob name -> values.

    Yields
    ------
    dict
        Flat row of scalars.
    """
    yield from run_plan(plan(base, varies))


def write_csv(rows: Iterable[dict[str, Any]], out: TextIO) -> int:
    """Write rows as CSV (header from the first row), flushing each; returns the count."""
    writer = None
    n = 0
    for row in rows:
        if writer is None:
            writer = csv.DictWriter(out, fieldnames=list(row), extrasaction="ignore")
            writer.writeheader()
        writer.writerow(row)
        out.flush()
        n += 1
    return n


def write_csv_file(rows: Iterable[dict[str, Any]], path: str | os.PathLike) -> int:
    """Write rows as a CSV file, whole or not at all (:func:`sim.atomic.write_atomic`).

    Parameters
    ----------
    rows
        Flat rows (header from the first).
    path
        The CSV file; its folder must exist and be writable.

    Returns
    -------
    int
        Rows written.
    """
    count = 0

    def fill(f: BinaryIO) -> None:
        nonlocal count
        text = io.TextIOWrapper(f, encoding="utf-8", newline="")
        try:
            count = write_csv(rows, text)
            text.flush()
        finally:
            text.detach()  # the binary file stays open for write_atomic to finish

    write_atomic(path, fill, what="--out")
    return count
