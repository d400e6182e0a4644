"""Command line: ``fluorosim`` or ``python -m sim``.

``fluorosim params [--json]``, ``fluorosim run --set tube.kvp=90 --json --png out.png``,
``fluorosim run --preset hip_injection --sequence --gif run.gif``,
``fluorosim sweep --vary tube.kvp=60:120:10 --out sweep.csv``, ``fluorosim abc``,
``fluorosim bench spectrum|chain|run|all``; ``--params FILE`` reads knobs from a JSON file
and ``--phantom-file FILE`` registers a phantom written as TOML (``run``, ``sweep``, ``abc``).

Exit codes: 0 done; 2 bad input (a usage error or a ``ValueError`` while the input is read and
validated: knobs, presets, ranges, output paths, parameters files), one line on stderr naming
what is wrong; 1 an output could not be written after the work (``OSError``: disk full, ...),
one line on stderr; 130 interrupted. Every command validates all of its input before it
simulates anything, so an exception raised while simulating is a bug, not bad input: it is not
caught (a traceback, exit code 1). Output files (``--png``, ``--gif``, ``--out``) are written
whole or not at all (``sim.atomic``).
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
    sr.add_argument("--gif", metavar="FILE", help="with --sequence: write the frames as a GIF")

    sw = sub.add_parser(
        "sweep", parents=[knobs], help="one simulation per combination of knob values, as CSV"
    )
    sw.add_argument(
        "--vary",
        action="append",
        default=[],
        required=True,
        metavar="NAME=FROM:TO:STEP|V1,V2",
        help="a knob and its values (repeat for a grid)",
    )
    sw.add_argument("--out", metavar="FILE", help="CSV file (default: standard output)")

    sa = sub.add_parser(
        "abc", parents=[knobs], help="ABC technique and dose rate over patient thickness"
    )
    sa.add_argument("--thickness", default="10:35:2.5", metavar="FROM:TO:STEP", help="[cm]")

    sb = sub.add_parser("bench", help="measure speed (ours against references)")
    sb.add_argument("what", choices=("spectrum", "chain", "run", "all"))
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
    from sim.chain import simulate
    from sim.sequence import run

    if args.gif and not args.sequence:
        raise ValueError("--gif needs --sequence")
    params = _params_from(args)
    png, gif = _output(args.png, "--png"), _output(args.gif, "--gif")

    def job() -> None:
        from sim.atomic import write_atomic

        result = run(params) if args.sequence else simulate(params)
        report = result.summary()
        if gif is not None:
            write_atomic(gif, lambda f: _save_gif(result, f), "--gif")
        if png is not None:
            from PIL import Image

            write_atomic(
                png, lambda f: Image.fromarray(result.image).save(f, format="PNG"), "--png"
            )
        if args.json:
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


def _save_gif(result, f) -> None:
    """The frames of a run as an animated GIF, at the run's frame interval."""
    from PIL import Image

    frames = [Image.fromarray(frame) for frame in result.frames]
    times = result.times_s
    step_ms = 1000.0 * (times[-1] - times[0]) / (len(times) - 1) if len(times) > 1 else 100
    frames[0].save(
        f, format="GIF", save_all=True, append_images=frames[1:], duration=int(step_ms), loop=0
    )


def _cmd_sweep(args: argparse.Namespace) -> Job:
    from sim.sweep import parse_vary, plan, run_plan, write_csv, write_csv_file

    varies = dict(parse_vary(text) for text in args.vary)
    planned = plan(_params_from(args), varies)  # every point validated before any runs
    out = _output(args.out, "--out")

    def job() -> None:
        if out is not None:
            n = write_csv_file(run_plan(planned), out)
            print(f"wrote {n} rows to {args.out}", file=sys.stderr)
        else:
            write_csv(run_plan(planned), sys.stdout)

    return job


def _cmd_abc(args: argparse.Namespace) -> Job:
    from sim.chain import abc_table
    from sim.sweep import parse_vary

    _, thicknesses = parse_vary(f"patient.thickness_cm={args.thickness}")
    p = _params_from(args)
    if not args.set and not args.preset and not args.params:
        p = p.replace(**{"patient.phantom": "water_slab"})
    for t_cm in thicknesses:  # each thickness must fit the geometry, before any runs
        p.replace(**{"abc.enabled": True, "patient.thickness_cm": t_cm})

    def job() -> None:
        rows, limit = abc_table(p, thicknesses)
        cols = list(rows[0])
        print(" ".join(f"{c:>14s}" for c in cols))
        for row in rows:
            print(
                " ".join(
                    f"{v!s:>14s}" if isinstance(v, bool) else f"{v:14.4g}" for v in row.values()
                )
            )
        where = f"{limit:.1f} cm" if limit is not None else "not reached in this range"
        print(f"Ka,r-rate limit bites from: {where}")

    return job


def _cmd_bench(args: argparse.Namespace) -> Job:
    from sim import bench

    if not 0 <= args.repeat <= MAX_REPEAT:
        raise ValueError(f"--repeat {args.repeat} is out of range [0, {MAX_REPEAT}]")
    names = ("spectrum", "chain", "run") if args.what == "all" else (args.what,)

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
