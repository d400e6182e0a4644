"""Sweep files: the journal of finished points, the output (CSV or Parquet), the JSON sidecar,
and resuming an interrupted sweep without redoing a finished point.

Used by ``fluorosim sweep --out`` through :mod:`sim.sweep` (which re-exports these names).
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import platform
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from sim.atomic import check_writable, write_atomic
from sim.sweep import Column, Plan, _progress, column_of, execute, frame
from sim.validate import short_repr

# --------------------------------------------------------------------------------------------
# files: journal, output, sidecar
# --------------------------------------------------------------------------------------------
FORMATS = {".csv": "csv", ".parquet": "parquet"}


def output_format(path: str | os.PathLike) -> str:
    """``csv`` or ``parquet`` from the file name, or ``ValueError``."""
    suffix = Path(os.fspath(path)).suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(
            f"--out {short_repr(os.fspath(path))}: expected a .csv or .parquet file name"
        )
    return FORMATS[suffix]


def journal_path(out: str | os.PathLike) -> Path:
    """Where finished rows go as they come (JSON lines), beside the output."""
    p = Path(os.fspath(out))
    return p.with_name(p.name + ".partial.jsonl")


def sidecar_path(out: str | os.PathLike) -> Path:
    """The JSON sidecar of an output: request, columns, versions, status."""
    p = Path(os.fspath(out))
    return p.with_name(p.name + ".json")


def versions() -> dict[str, str]:
    """Versions of Python and of the packages the numbers depend on."""
    from importlib import metadata

    out = {"python": platform.python_version()}
    for name in ("fluorosim", "numpy", "scipy", "xraylib", "pandas", "pyarrow", "dask"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[name] = metadata.version(name)
    return out


def read_journal(path: Path) -> dict[int, dict[str, Any]]:
    """Rows of a journal by point (a line cut short by a crash is left out)."""
    rows: dict[int, dict[str, Any]] = {}
    if not path.exists():
        return rows
    with path.open("r", encoding="utf-8") as f:
        for line in f:
            if not line.endswith("\n"):
                break  # the last line, written part-way
            try:
                row = json.loads(line)
            except ValueError:
                continue
            if isinstance(row, dict) and isinstance(row.get("point"), int):
                rows[row["point"]] = row
    return rows


def _json_value(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def _csv_text(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return repr(v)
    return str(v)


def write_csv(rows: Iterable[Mapping[str, Any]], out: TextIO, columns_: Sequence[Column]) -> int:
    """Rows as CSV with the declared header (missing values empty); returns the count."""
    writer = csv.writer(out)
    writer.writerow([c.name for c in columns_])
    n = 0
    for row in rows:
        writer.writerow([_csv_text(row.get(c.name)) for c in columns_])
        out.flush()
        n += 1
    return n


def _write_output(rows: list[dict[str, Any]], out: Path, fmt: str, cols: list[Column]) -> None:
    if fmt == "csv":

        def fill(f) -> None:
            text = io.TextIOWrapper(f, encoding="utf-8", newline="")
            try:
                write_csv(rows, text, cols)
                text.flush()
            finally:
                text.detach()

        write_atomic(out, fill, "--out")
        return
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(frame(rows, cols), preserve_index=False)
    fields = [
        table.schema.field(c.name).with_metadata({"unit": c.unit, "label": c.label}) for c in cols
    ]
    table = table.cast(pa.schema(fields, metadata=table.schema.metadata))
    write_atomic(out, lambda f: pq.write_table(table, f), "--out")


@dataclass
class FileRun:
    """What :func:`run_to_file` did."""

    total: int
    resumed: int
    ran: int
    errors: int
    elapsed_s: float


class ResumeError(ValueError):
    """The output's journal or sidecar does not fit this sweep (bad input)."""


def prepare_output(plan_: Plan, out: str | os.PathLike, resume: bool) -> dict[int, dict]:
    """Check the output and, with ``resume``, the rows already done (before any work).

    Raises
    ------
    ValueError
        Not ``.csv``/``.parquet``, not writable, a journal of an interrupted sweep without
        ``resume``, or a journal or sidecar of a different sweep with it.
    """
    out = Path(os.fspath(out))
    output_format(out)
    check_writable(out, "--out")
    journal, side = journal_path(out), sidecar_path(out)
    shown = short_repr(os.fspath(out))
    if not resume:
        if journal.exists():
            raise ResumeError(
                f"--out {shown}: the rows of an interrupted sweep are in {journal.name}: add "
                "--resume to complete it, or delete that file to start again"
            )
        return {}
    if not journal.exists():
        return {}
    try:
        meta = json.loads(side.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise ResumeError(
            f"--resume: {side.name} is missing or unreadable, so {journal.name} cannot be "
            "matched to this sweep; delete the journal to start again"
        ) from None
    request = json.loads(json.dumps(plan_.request()))
    if not isinstance(meta, dict) or meta.get("request") != request:
        raise ResumeError(
            f"--resume: {journal.name} belongs to a different sweep (base parameters, varied "
            "knobs or design differ); use another --out, or drop --resume and delete it"
        )
    rows = read_journal(journal)
    return {i: r for i, r in rows.items() if 0 <= i < len(plan_.tasks)}


def is_complete(plan_: Plan, out: str | os.PathLike) -> bool:
    """Whether ``out`` holds this very sweep, finished (its sidecar says so, no journal)."""
    out = Path(os.fspath(out))
    if not out.exists() or journal_path(out).exists():
        return False
    try:
        meta = json.loads(sidecar_path(out).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    request = json.loads(json.dumps(plan_.request()))
    return (
        isinstance(meta, dict)
        and meta.get("status") == "complete"
        and (meta.get("request") == request)
    )


def _sidecar(plan_: Plan, fmt: str, status: str, **extra: Any) -> bytes:
    doc = {
        "fluorosim": "sweep",
        "status": status,
        "format": fmt,
        "points": len(plan_.tasks),
        "request": plan_.request(),
        "columns": [c.as_dict() for c in plan_.columns],
        "versions": versions(),
        **extra,
    }
    return (json.dumps(doc, indent=1) + "\n").encode("utf-8")


def run_to_file(
    plan_: Plan,
    out: str | os.PathLike,
    *,
    done: Mapping[int, dict[str, Any]] | None = None,
    jobs: int = 1,
    dask: Any = None,
    images_dir: str | None = None,
    progress: bool = False,
) -> FileRun:
    """Run a sweep into a CSV or Parquet file, resumably (see the module docstring).

    Parameters
    ----------
    plan_
        The sweep (:func:`plan`).
    out
        ``.csv`` or ``.parquet`` file.
    done
        Rows already finished, by point (:func:`prepare_output` with ``resume``); they are
        not run again.
    jobs, dask
        Who runs the points (:func:`execute`).
    images_dir
        Folder for each point's display image.
    progress
        Progress bar on standard error.
    """
    out = Path(os.fspath(out))
    fmt = output_format(out)
    done = dict(done or {})
    t0 = time.perf_counter()
    journal, side = journal_path(out), sidecar_path(out)
    write_atomic(side, _sidecar(plan_, fmt, "running", journal=journal.name), "--out")
    # a clean journal: the rows done, whole lines only (a crash may have cut the last one)
    lines = "".join(json.dumps(done[i]) + "\n" for i in sorted(done))
    write_atomic(journal, lines.encode("utf-8"), "--out")
    todo = [t for t in plan_.tasks if t.index not in done]
    bar = _progress(len(plan_.tasks), len(done), progress)
    ran = 0
    try:
        with journal.open("a", encoding="utf-8") as f:
            last_sync = time.monotonic()
            for index, row, _ in execute(plan_, todo, jobs=jobs, dask=dask, images_dir=images_dir):
                line = json.dumps({k: _json_value(v) for k, v in row.items()})
                f.write(line + "\n")
                f.flush()
                if time.monotonic() - last_sync > 1.0:
                    os.fsync(f.fileno())
                    last_sync = time.monotonic()
                done[index] = json.loads(line)  # as a resumed row reads: the same either way
                ran += 1
                bar.update(1)
    finally:
        bar.close()
    rows = [done[i] for i in sorted(done)]
    _write_output(rows, out, fmt, plan_.columns)
    errors = sum(1 for r in rows if r.get("error"))
    elapsed = time.perf_counter() - t0
    write_atomic(
        side,
        _sidecar(plan_, fmt, "complete", errors=errors, elapsed_s=round(elapsed, 3)),
        "--out",
    )
    with contextlib.suppress(FileNotFoundError):
        journal.unlink()
    return FileRun(len(plan_.tasks), len(plan_.tasks) - len(todo), ran, errors, elapsed)


def run_to_stream(
    plan_: Plan,
    stream: TextIO,
    *,
    jobs: int = 1,
    dask: Any = None,
    images_dir=None,
    progress: bool = False,
) -> int:
    """Run a sweep as CSV on a text stream, rows in point order as soon as they can go."""
    writer = csv.writer(stream)
    writer.writerow([c.name for c in plan_.columns])
    stream.flush()
    pending: dict[int, dict[str, Any]] = {}
    order = [t.index for t in plan_.tasks]
    nxt = 0
    bar = _progress(len(order), 0, progress)
    try:
        for index, row, _ in execute(plan_, jobs=jobs, dask=dask, images_dir=images_dir):
            pending[index] = row
            bar.update(1)
            while nxt < len(order) and order[nxt] in pending:
                r = pending.pop(order[nxt])
                writer.writerow([_csv_text(r.get(c.name)) for c in plan_.columns])
                nxt += 1
            stream.flush()
    finally:
        bar.close()
    return nxt


def read_table(path: str | os.PathLike):
    """A sweep output (CSV or Parquet) as a DataFrame (with ``attrs["units"]``)."""
    import pandas as pd

    p = Path(os.fspath(path))
    fmt = output_format(p)
    try:
        df = pd.read_csv(p) if fmt == "csv" else pd.read_parquet(p)
    except (OSError, ValueError) as exc:
        raise ValueError(f"{short_repr(str(p))}: cannot read it as a sweep ({exc})") from None
    df.attrs["units"] = {}
    for name in df.columns:
        with contextlib.suppress(ValueError):
            df.attrs["units"][name] = column_of(name).unit
    return df
