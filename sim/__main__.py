"""Command line: ``fluorosim`` or ``python -m sim``.

``fluorosim params [--json]``, ``fluorosim run --set tube.kvp=90 --json --png out.png``,
``fluorosim run --preset hip_injection --sequence --gif run.gif``,
``fluorosim sweep --vary tube.kvp=60:120:10 --out sweep.csv``, ``fluorosim abc``,
``fluorosim bench spectrum|chain|run|all``. Bad input: one line on stderr, exit code 2.
"""

from __future__ import annotations

import argparse
import json
import sys

EXIT_BAD_INPUT = 2


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
    sb.add_argument("--repeat", type=int, default=0, help="repetitions (0: a sensible default)")

    return p


def _params_from(args: argparse.Namespace):
    from sim.params import Params, parse_assignment

    p = Params()
    if getattr(args, "preset", None):
        from sim.presets import preset_params

        p = preset_params(args.preset)
    changes = dict(parse_assignment(text) for text in args.set)
    return p.replace(**changes)


def _cmd_params(args: argparse.Namespace) -> None:
    from sim.params import KNOBS, knobs_json

    if args.json:
        print(knobs_json())
        return
    for k in KNOBS.values():
        print(
            f"{k.name:32s} {k.unit:6s} default {k.default!s:14s} {k.describe_range():32s} {k.help}"
        )


def _cmd_run(args: argparse.Namespace) -> None:
    from sim.chain import simulate
    from sim.sequence import run

    if args.gif and not args.sequence:
        raise ValueError("--gif needs --sequence")
    params = _params_from(args)
    result = run(params) if args.sequence else simulate(params)
    report = result.summary()
    if args.gif:
        from PIL import Image

        frames = [Image.fromarray(f) for f in result.frames]
        times = result.times_s
        step_ms = 1000.0 * (times[-1] - times[0]) / (len(times) - 1) if len(times) > 1 else 100
        frames[0].save(
            args.gif, save_all=True, append_images=frames[1:], duration=int(step_ms), loop=0
        )
    if args.png:
        from PIL import Image

        Image.fromarray(result.image).save(args.png)
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


def _cmd_sweep(args: argparse.Namespace) -> None:
    from sim.sweep import parse_vary, sweep, write_csv

    varies = dict(parse_vary(text) for text in args.vary)
    rows = sweep(_params_from(args), varies)
    if args.out:
        with open(args.out, "w", newline="") as out:
            n = write_csv(rows, out)
        print(f"wrote {n} rows to {args.out}", file=sys.stderr)
    else:
        write_csv(rows, sys.stdout)


def _cmd_abc(args: argparse.Namespace) -> None:
    from sim.chain import abc_table
    from sim.sweep import parse_vary

    _, thicknesses = parse_vary(f"patient.thickness_cm={args.thickness}")
    p = _params_from(args)
    if not args.set and not args.preset:
        p = p.replace(**{"patient.phantom": "water_slab"})
    rows, limit = abc_table(p, thicknesses)
    cols = list(rows[0])
    print(" ".join(f"{c:>14s}" for c in cols))
    for row in rows:
        print(
            " ".join(f"{v!s:>14s}" if isinstance(v, bool) else f"{v:14.4g}" for v in row.values())
        )
    where = f"{limit:.1f} cm" if limit is not None else "not reached in this range"
    print(f"Ka,r-rate limit bites from: {where}")


def _cmd_bench(args: argparse.Namespace) -> None:
    from sim import bench

    names = ("spectrum", "chain", "run") if args.what == "all" else (args.what,)
    for name in names:
        for line in getattr(bench, f"bench_{name}")(args.repeat):
            print(line, flush=True)


def _one_line(message: str) -> None:
    print(" ".join(message.split()), file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    try:
        args = _parser().parse_args(argv)
        {
            "params": _cmd_params,
            "run": _cmd_run,
            "abc": _cmd_abc,
            "sweep": _cmd_sweep,
            "bench": _cmd_bench,
        }[args.command](args)
    except _BadInput as exc:
        _one_line(str(exc))
        return EXIT_BAD_INPUT
    except ValueError as exc:
        _one_line(f"fluorosim: error: {exc}")
        return EXIT_BAD_INPUT
    return 0


if __name__ == "__main__":
    sys.exit(main())
