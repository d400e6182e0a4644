"""Parameter sweeps: every combination of some knobs' values, one simulation each.

``fluorosim sweep --vary tube.kvp=60:120:10 --vary grid.enabled=true,false --out sweep.csv``
or, from Python, ``for row in sweep(Params(), {"tube.kvp": [60, 80]}): ...``. A row holds
the varied knobs and every scalar of ``Result.technique``, ``Result.dose`` and
``Result.metrics`` (prefixed ``technique.``, ``dose.``, ``metrics.``).
"""

from __future__ import annotations

import csv
import itertools
import math
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, TextIO

import numpy as np

from sim.params import Params, knob

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
    if "=" not in text:
        raise ValueError(f"--vary {text!r}: expected name=from:to:step or name=v1,v2,...")
    name, spec = (part.strip() for part in text.split("=", 1))
    k = knob(name)
    if ":" in spec:
        if k.kind not in (int, float):
            raise ValueError(f"--vary {text!r}: a range needs a numeric knob; list the values")
        try:
            lo, hi, step = (float(x) for x in spec.split(":"))
        except ValueError:
            raise ValueError(f"--vary {text!r}: expected from:to:step, three numbers") from None
        if not (math.isfinite(step) and step > 0 and lo <= hi):
            raise ValueError(f"--vary {text!r}: expected from <= to and step > 0")
        count = math.floor((hi - lo) / step + 1e-9) + 1
        if count > MAX_POINTS:
            raise ValueError(f"--vary {text!r}: {count} values, more than {MAX_POINTS}")
        numbers = lo + step * np.arange(count)
        values = [k.check(int(round(x)) if k.kind is int else float(x)) for x in numbers]
    else:
        values = [k.parse(v) for v in spec.split(",") if v.strip()]
    if not values:
        raise ValueError(f"--vary {text!r}: no values")
    return name, values


def points(varies: Mapping[str, Iterable[Any]]) -> list[dict[str, Any]]:
    """Every combination of the varied knobs' values (the last knob varies fastest)."""
    names = list(varies)
    lists = [list(varies[n]) for n in names]
    total = math.prod(len(v) for v in lists)
    if total > MAX_POINTS:
        raise ValueError(f"the sweep has {total} points, more than {MAX_POINTS}")
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*lists)]


def sweep(base: Params, varies: Mapping[str, Iterable[Any]]) -> Iterator[dict[str, Any]]:
    """One row per combination: the varied knobs, then technique, dose and metrics.

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
    from sim.chain import simulate

    grid = points(varies)
    for point in grid:  # validate every point before spending time on any
        base.replace(**point)
    for point in grid:
        summary = simulate(base.replace(**point)).summary()
        row = dict(point)
        for section, values in summary.items():
            row.update({f"{section}.{k}": v for k, v in values.items()})
        yield row


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
