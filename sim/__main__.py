"""Command line: ``fluorosim`` or ``python -m sim``.

``fluorosim params [--json]``, ``fluorosim run --set tube.kvp=90 --json --png out.png``,
``fluorosim run --preset hip_injection --sequence --movie run.mp4 --series dose.csv``,
``fluorosim sweep --vary tube.kvp=60:120:10 --set abc.enabled=false --out sweep.csv
[--jobs N] [--dask ADDRESS|local] [--resume] [--images DIR]``,
``fluorosim plot sweep.csv --x tube.kvp --y metrics.cnr [--hue KNOB]``,
``fluorosim plot --figure all``, ``fluorosim abc``,
``fluorosim bench spectrum|chain|run|sweep|all``; ``--params FILE`` reads knobs from a JSON file
and ``--phantom-file FILE`` registers a phantom written as TOML (``run``, ``sweep``, ``abc``).

Exit codes: 0 done; 2 bad input (a usage error or a ``ValueError`` while the input is read and
validated: knobs, presets, ranges, output paths, parameters files), one line on stderr naming
what is wrong; 1 an output could not be written after the work (``OSError``: disk full, ...),
one line on stderr; 130 interrupted (SIGINT; SIGTERM too during a sweep). Every command
validates all of its input before it simulates anything, so an exception raised while
simulating is a bug, not bad input: it is not caught (a traceback, exit code 1). Output files
(``--png``, ``--movie``, ``--gif``, ``--series``, ``--out``, plots) are written whole or not at
all (``sim.atomic``); a sweep's finished rows also go to a journal as they come, for
``--resume`` (``sim.sweep``). Knobs ABC sets cannot be set or varied while it is on
(``sim.brightness.check_not_abc_owned``).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable

EXIT_BAD_INPUT = 2
EXIT_FAILED = 1
EXIT_INTERRUPTED = 130

Job = Callable[[], None]
"""The work of a command, returned once its input is validated."""


MAX_REPEAT = 100_000
"""Most repetitions ``bench --repeat`` takes [-]."""

MAX_MESSAGE_CHARS = 500
"""Longest error line printed [characters] (a value echoed back is cut)."""


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error as one line and exit code 2."""

    def error(self, message: str) -> None:  # noqa: D102
        raise _BadInput(f"{self.prog}: {message}")


class _BadInput(Exception):
    pass


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="fluorosim", description="Educational fluoroscopy imaging-chain simulator.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    knobs = _Parser(add_help=False)  # what every simulating command takes
    knobs.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="a knob")
    knobs.add_argument("--preset", help="start from a named scenario")
    knobs.add_argument(
        "--params",
        metavar="FILE",
        help="knobs from a JSON file (as the app downloads it; '-' reads standard input)",
    )
    knobs.add_argument(
        "--phantom-file",
        action="append",
        default=[],
        metavar="FILE",
        help="a phantom written as TOML (assets/phantoms has examples); "
        "--set patient.phantom=NAME then picks it",
    )

    sp = sub.add_parser("params", help="list every knob: name, unit, default, range, help")
    sp.add_argument("--json", action="store_true", help="machine-readable list")

    sr = sub.add_parser("run", parents=[knobs], help="one simulation: technique, dose, metrics")
    sr.add_argument("--json", action="store_true", help="print JSON")
    sr.add_argument("--png", metavar="FILE", help="write the display image as PNG")
    sr.add_argument(
        "--sequence",
        action="store_true",
        help="a fluoroscopy run over run.fluoro_time_s (frames, dose pulse by pulse)",
    )
    sr.add_argument(
        "--movie",
        metavar="FILE",
        help="with --sequence: the frames as a compact movie, .mp4, .webm or .gif",
    )
    sr.add_argument("--gif", metavar="FILE", help="with --sequence: the frames as a GIF")
    sr.add_argument(
        "--movie-frames",
        type=int,
        metavar="N",
        help="most frames in the movie, evenly over the run (default 120 for a GIF, 600 video)",
    )
    sr.add_argument(
        "--movie-px",
        type=int,
        metavar="PX",
        help="largest side of the movie (default 256 px for a GIF, 512 video)",
    )
    sr.add_argument(
        "--series",
        metavar="FILE",
        help="with --sequence: the dose after every pulse as CSV (--json includes it as 'series')",
    )

    sw = sub.add_parser(
        "sweep",
        parents=[knobs],
        help="one simulation per point of a design over knob values, as CSV or Parquet",
    )
    sw.add_argument(
        "--vary",
        action="append",
        default=[],
        required=True,
        metavar="NAME=FROM:TO:STEP|V1,V2",
        help="a knob and its values (repeat for a grid)",
    )
    sw.add_argument(
        "--out",
        metavar="FILE",
        help="a .csv or .parquet file, with a FILE.json sidecar (default: CSV on standard output)",
    )
    sw.add_argument(
        "--design",
        choices=("grid", "zip", "latin"),
        default="grid",
        help="grid: every combination; zip: the i-th values together; latin: --n points of a "
        "Latin hypercube over the varied spans",
    )
    sw.add_argument("--n", type=int, metavar="N", help="points of a --design latin")
    sw.add_argument(
        "--jobs", type=int, default=1, metavar="N", help="local worker processes (default 1)"
    )
    sw.add_argument(
        "--dask",
        metavar="ADDRESS",
        help="run the points on a Dask cluster: a scheduler address, or 'local' for a "
        "LocalCluster of --jobs workers (pip install 'fluorosim[dask]')",
    )
    sw.add_argument(
        "--resume",
        action="store_true",
        help="complete an interrupted sweep into the same --out, without redoing its rows",
    )
    sw.add_argument("--images", metavar="DIR", help="write each point's image as DIR/point-N.png")
    sw.add_argument("--quiet", action="store_true", help="no progress bar")

    sl = sub.add_parser(
        "plot",
        help="plot a sweep (one column against another), or draw a ready-made teaching figure",
    )
    sl.add_argument("file", nargs="?", metavar="SWEEP", help="a sweep's .csv or .parquet")
    sl.add_argument("--x", metavar="COLUMN", help="x axis (e.g. tube.kvp)")
    sl.add_argument("--y", metavar="COLUMN", help="y axis (e.g. metrics.cnr)")
    sl.add_argument("--hue", metavar="COLUMN", help="one line per value of this column")
    sl.add_argument("--logx", action="store_true", help="logarithmic x axis")
    sl.add_argument("--logy", action="store_true", help="logarithmic y axis")
    sl.add_argument(
        "--figure",
        choices=("iodine_cnr", "abc_thickness", "spr_field", "dqe_dose", "all"),
        help="a teaching figure (runs its own sweep) instead of a sweep file",
    )
    sl.add_argument(
        "--out",
        metavar="FILE",
        help="a .png, .svg or .pdf (default: SWEEP's name as .png and .svg; for --figure, "
        "NAME.png and NAME.svg in --out-dir)",
    )
    sl.add_argument("--out-dir", metavar="DIR", default=".", help="folder for --figure")
    sl.add_argument("--px", type=int, default=128, help="image side of --figure's sweeps [px]")
    sl.add_argument("--jobs", type=int, default=1, metavar="N", help="processes for --figure")

    sa = sub.add_parser(
        "abc", parents=[knobs], help="ABC technique and dose rate over patient thickness"
    )
    sa.add_argument("--thickness", default="10:35:2.5", metavar="FROM:TO:STEP", help="[cm]")

    sb = sub.add_parser("bench", help="measure speed (ours against references)")
    sb.add_argument("what", choices=("spectrum", "chain", "run", "sweep", "all"))
    sb.add_argument(
        "--repeat",
        type=int,
        default=0,
        help=f"repetitions (0: a sensible default; at most {MAX_REPEAT})",
    )

    return p


def _read_params_file(path: str) -> dict:
    from sim.params import MAX_PARAMS_BYTES, params_from_json
    from sim.validate import short_repr

    where = f"--params {short_repr(path)}"
    try:
        if path == "-":
            data = sys.stdin.buffer.read(MAX_PARAMS_BYTES + 1)
        else:
            with open(path, "rb") as f:
                data = f.read(MAX_PARAMS_BYTES + 1)
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ValueError(f"{where}: cannot read it ({reason})") from None
    try:
        return params_from_json(data)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None


def _params_from(args: argparse.Namespace):
    """Defaults, then the preset, then the parameters file, then each --set (later wins)."""
    from sim.params import Params, parse_assignment
    from sim.phantoms import load_phantom_file

    for path in getattr(args, "phantom_file", []):
        load_phantom_file(path)
    p = Params()
    if getattr(args, "preset", None):
        from sim.presets import preset_params

        p = preset_params(args.preset)
    changes = _read_params_file(args.params) if getattr(args, "params", None) else {}
    changes.update(parse_assignment(text) for text in args.set)
    return p.replace(**changes)


def _output(path: str | None, option: str):
    from sim.atomic import check_writable

    return check_writable(path, option) if path is not None else None


def _cmd_params(args: argparse.Namespace) -> Job:
    from sim.params import KNOBS, knobs_json

    def job() -> None:
        if args.json:
            print(knobs_json())
            return
        for k in KNOBS.values():
            print(
                f"{k.name:32s} {k.unit:6s} default {k.default!s:14s} {k.describe_range():32s} "
                f"{k.help}"
            )

    return job


def _cmd_run(args: argparse.Namespace) -> Job:
    from sim import movie
    from sim.brightness import check_not_abc_owned
    from sim.chain import simulate
    from sim.sequence import run

    for option in ("gif", "movie", "series", "movie_frames", "movie_px"):
        if getattr(args, option) is not None and not args.sequence:
            raise ValueError(f"--{option.replace('_', '-')} needs --sequence")
    if args.gif is not None and movie.movie_format(args.gif, "--gif") != "gif":
        raise ValueError("--gif writes a .gif; use --movie for .mp4 or .webm")
    movies = [(p, o) for p, o in ((args.gif, "--gif"), (args.movie, "--movie")) if p is not None]
    formats = [movie.movie_format(p, o) for p, o in movies]
    movie.check_limits(args.movie_frames, args.movie_px)
    params = _params_from(args)
    check_not_abc_owned(_set_names(args), params, "--set abc.enabled=false")
    png = _output(args.png, "--png")
    movie_out = [(_output(p, o), o, fmt) for (p, o), fmt in zip(movies, formats, strict=True)]
    series_out = _output(args.series, "--series")

    def job() -> None:
        from sim.atomic import write_atomic

        result = run(params) if args.sequence else simulate(params)
        report = result.summary()
        for path, option, fmt in movie_out:
            write_atomic(
                path,
                lambda f, fmt=fmt: movie.write(
                    f, fmt, result.frames, result.times_s, args.movie_frames, args.movie_px
                ),
                option,
            )
        series = _series(result) if args.sequence else None
        if series_out is not None:
            write_atomic(series_out, lambda f: _save_series_csv(series, f), "--series")
        if png is not None:
            from PIL import Image

            write_atomic(
                png, lambda f: Image.fromarray(result.image).save(f, format="PNG"), "--png"
            )
        if args.json:
            if series is not None:
                report["series"] = series
            print(json.dumps(report, indent=1))
        else:
            from sim.quantities import SECTIONS, labelled

            rows = labelled(report)
            for section, title in SECTIONS.items():
                print(title)
                for q, value in rows:
                    if q.section == section:
                        print(f"  {q.heading}: {q.format(value, unit=False)}")

    return job


SERIES_COLUMNS = (
    ("time_s", "s"),
    ("kar_mGy", "mGy"),
    ("kap_Gycm2", "Gy·cm²"),
    ("skin_dose_mGy", "mGy"),
    ("kar_rate_mGy_per_min", "mGy/min"),
)
"""The per-pulse dose series of a run (cumulative after each pulse; the rate between pulses)."""


def _series(result) -> dict[str, list]:
    """A run's dose after every pulse, JSON-ready (NaN as null), full precision."""
    s = result.series
    data = {
        "time_s": s.time_s,
        "kar_mGy": s.kar_mGy,
        "kap_Gycm2": s.kap_Gycm2,
        "skin_dose_mGy": s.skin_dose_mGy,
        "kar_rate_mGy_per_min": s.kar_rate_mGy_per_min(),
    }
    return {
        k: [float(x) if x == x else None for x in v.tolist()]  # NaN -> None
        for k, v in data.items()
    }


def _save_series_csv(series: dict[str, list], f) -> None:
    import csv
    import io

    text = io.TextIOWrapper(f, encoding="utf-8", newline="")
    try:
        w = csv.writer(text)
        w.writerow(["pulse", *(name for name, _ in SERIES_COLUMNS)])
        for i in range(len(series["time_s"])):
            row = [series[name][i] for name, _ in SERIES_COLUMNS]
            w.writerow([i, *("" if v is None else repr(v) for v in row)])
        text.flush()
    finally:
        text.detach()


def _cmd_sweep(args: argparse.Namespace) -> Job:
    from sim import sweep as sw

    out = None
    if args.out is not None:
        sw.output_format(args.out)
        out = _output(args.out, "--out")
    if args.resume and out is None:
        raise ValueError("--resume needs --out FILE (the sweep to complete)")
    if not 1 <= args.jobs <= sw.MAX_JOBS:
        raise ValueError(f"--jobs {args.jobs} is out of range [1, {sw.MAX_JOBS}]")
    if args.n is not None and args.design != "latin":
        raise ValueError("--n is the number of points of --design latin; a grid or zip has its own")
    if args.design == "latin" and args.n is None:
        raise ValueError("--design latin needs --n N, the number of points")
    images = sw.check_images_dir(args.images) if args.images is not None else None
    varies: dict = {}
    for text in args.vary:
        name, values = sw.parse_vary(text)
        if name in varies:
            raise ValueError(f"--vary {name} is given twice; list all its values in one --vary")
        varies[name] = values
    base = _params_from(args)
    planned = sw.plan(  # every point laid out and checked before any runs
        base,
        varies,
        args.design,
        args.n,
        set_by_hand=_set_names(args),
        hint="--set abc.enabled=false",
    )
    if args.resume and sw.is_complete(planned, out):

        def nothing_to_do() -> None:
            print(
                f"{args.out} is complete ({len(planned.tasks)} rows): nothing to resume",
                file=sys.stderr,
            )

        return nothing_to_do
    done = sw.prepare_output(planned, out, args.resume) if out is not None else {}
    client, close = (None, lambda: None)
    if args.dask is not None:  # connect now: an unreachable scheduler is bad input
        client, close = sw.dask_client(args.dask, args.jobs)

    def job() -> None:
        import signal

        previous = signal.signal(signal.SIGTERM, _interrupt)  # a kill ends like ^C
        try:
            if out is None:
                sw.run_to_stream(
                    planned,
                    sys.stdout,
                    jobs=args.jobs,
                    dask=client,
                    images_dir=images,
                    progress=not args.quiet,
                )
                return
            r = sw.run_to_file(
                planned,
                out,
                done=done,
                jobs=args.jobs,
                dask=client,
                images_dir=images,
                progress=not args.quiet,
            )
            print(
                f"wrote {r.total} rows to {args.out} ({r.resumed} resumed, {r.ran} run, "
                f"{r.errors} errors) in {r.elapsed_s:.1f} s",
                file=sys.stderr,
            )
        finally:
            signal.signal(signal.SIGTERM, previous)
            close()

    return job


PLOT_FORMATS = (".png", ".svg", ".pdf")


def _cmd_plot(args: argparse.Namespace) -> Job:
    from pathlib import Path

    from sim import sweep as sw
    from sim.validate import short_repr

    def targets(stem: Path) -> list[Path]:
        return [_output(str(stem.with_suffix(s)), "--out") for s in (".png", ".svg")]

    if args.out is not None and Path(args.out).suffix.lower() not in PLOT_FORMATS:
        raise ValueError(f"--out {short_repr(args.out)}: expected a .png, .svg or .pdf file name")
    if args.figure is not None:
        from sim.plotting import TEACHING_FIGURES

        if args.file is not None or args.x or args.y or args.hue:
            raise ValueError("--figure runs its own sweep: give no SWEEP file, --x, --y or --hue")
        if not 64 <= args.px <= 2048:
            raise ValueError(f"--px {args.px} is out of range [64, 2048] px")
        if not 1 <= args.jobs <= sw.MAX_JOBS:
            raise ValueError(f"--jobs {args.jobs} is out of range [1, {sw.MAX_JOBS}]")
        names = list(TEACHING_FIGURES) if args.figure == "all" else [args.figure]
        if args.out is not None and len(names) > 1:
            raise ValueError("--out names one file; --figure all writes into --out-dir")
        folder = Path(sw.check_images_dir(args.out_dir, "--out-dir"))
        outs = {n: [_output(args.out, "--out")] if args.out else targets(folder / n) for n in names}

        def job() -> None:
            from sim.plotting import teaching_figure

            for n in names:
                fig, _ = teaching_figure(n, image_px=args.px, jobs=args.jobs)
                for path in outs[n]:
                    _save_figure(fig, path)
                    print(f"wrote {path}", file=sys.stderr)

        return job
    if args.file is None or not args.x or not args.y:
        raise ValueError("plot needs a SWEEP file with --x and --y (or --figure NAME)")
    df = sw.read_table(args.file)
    from sim.plotting import sweep_figure

    fig = sweep_figure(df, args.x, args.y, args.hue, logx=args.logx, logy=args.logy)
    outs = [_output(args.out, "--out")] if args.out else targets(Path(args.file))

    def job() -> None:
        for path in outs:
            _save_figure(fig, path)
            print(f"wrote {path}", file=sys.stderr)

    return job


def _save_figure(fig, path) -> None:
    from sim.atomic import write_atomic

    fmt = str(path).rsplit(".", 1)[-1].lower()
    write_atomic(path, lambda f: fig.savefig(f, format=fmt, dpi=150), "--out")


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def _set_names(args: argparse.Namespace) -> list[str]:
    """Knobs given with --set (already validated by :func:`_params_from`)."""
    return [text.split("=", 1)[0].strip() for text in args.set]


def _cmd_abc(args: argparse.Namespace) -> Job:
    from sim.chain import abc_table
    from sim.sweep import parse_vary

    _, thicknesses = parse_vary(f"patient.thickness_cm={args.thickness}")
    p = _params_from(args)
    from sim.brightness import abc_owned

    owned = abc_owned({**p.to_dict(), "abc.enabled": True})
    for name in _set_names(args):  # the table is ABC's choice: a knob it sets is not free
        if name in owned:
            raise ValueError(
                f"{name} is set by ABC, whose choice `fluorosim abc` tabulates, so a value given"
                " for it would not be used (`fluorosim run --set abc.enabled=false` sets it by"
                " hand)"
            )
    if not args.set and not args.preset and not args.params:
        p = p.replace(**{"patient.phantom": "water_slab"})
    for t_cm in thicknesses:  # each thickness must fit the geometry, before any runs
        p.replace(**{"abc.enabled": True, "patient.thickness_cm": t_cm})

    def job() -> None:
        from sim.quantities import QUANTITIES, SECTIONS, significant

        rows, limit = abc_table(p, thicknesses)
        cols = list(rows[0])
        digits = {  # the declared display digits of each column's quantity (3 otherwise)
            c: next(
                (QUANTITIES[f"{s}.{c}"].digits for s in SECTIONS if f"{s}.{c}" in QUANTITIES), 3
            )
            for c in cols
        }
        print(" ".join(f"{c:>14s}" for c in cols))
        for row in rows:
            print(
                " ".join(
                    f"{v!s:>14s}"
                    if isinstance(v, bool)
                    else f"{significant(float(v), digits[c]):>14s}"
                    for c, v in row.items()
                )
            )
        where = f"{limit:.1f} cm" if limit is not None else "not reached in this range"
        print(f"Ka,r-rate limit bites from: {where}")

    return job


def _cmd_bench(args: argparse.Namespace) -> Job:
    from sim import bench

    if not 0 <= args.repeat <= MAX_REPEAT:
        raise ValueError(f"--repeat {args.repeat} is out of range [0, {MAX_REPEAT}]")
    names = ("spectrum", "chain", "run", "sweep") if args.what == "all" else (args.what,)

    def job() -> None:
        for name in names:
            for line in getattr(bench, f"bench_{name}")(args.repeat):
                print(line, flush=True)

    return job


_COMMANDS: dict[str, Callable[[argparse.Namespace], Job]] = {
    "params": _cmd_params,
    "run": _cmd_run,
    "abc": _cmd_abc,
    "sweep": _cmd_sweep,
    "bench": _cmd_bench,
    "plot": _cmd_plot,
}


def _one_line(message: str) -> None:
    text = " ".join(message.split())
    if len(text) > MAX_MESSAGE_CHARS:
        text = text[: MAX_MESSAGE_CHARS - 3] + "..."
    print(text, file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code (0 done, 2 bad input, 1 an output failed, 130
    interrupted; see the module docstring)."""
    try:
        try:
            args = _parser().parse_args(argv)
            job = _COMMANDS[args.command](args)  # reads and validates all input
        except _BadInput as exc:
            _one_line(str(exc))
            return EXIT_BAD_INPUT
        except ValueError as exc:
            _one_line(f"fluorosim: error: {exc}")
            return EXIT_BAD_INPUT
        try:
            job()  # valid input: any other exception here is a bug and propagates
        except BrokenPipeError:  # the reader went away (``| head``): stop quietly
            _silence_stdout()
            return EXIT_FAILED
        except OSError as exc:
            _one_line(f"fluorosim: failed: {exc}")
            return EXIT_FAILED
    except KeyboardInterrupt:
        _one_line("fluorosim: interrupted")
        return EXIT_INTERRUPTED
    return 0


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's final flush does not fail again."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout without a file descriptor (tests): nothing to do
        pass


if __name__ == "__main__":
    sys.exit(main())
