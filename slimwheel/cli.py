"""Command line: argument parsing, exit codes and printing. Nothing else lives here.

Exit codes: 0 success; 1 internal error (a bug); 2 bad command line, bad input wheel, unusable output, or a
check that can't be used (fails with the original wheels, passes without them, flaky); 3 a --max-size /
--max-total-size budget is exceeded; 130 interrupted (with --check: after writing the best verified result).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from rich.console import Console
from rich.live import Live
from rich.text import Text

from . import __version__
from .binaries import StripLevel
from .contents import Limits, read_wheel
from .errors import ExitCode, OutputError, SlimwheelError, UsageError
from .inspection import inspect_wheel
from .inspection import renderables as inspection_renderables
from .inspection import to_json as inspection_json
from .report import WheelReport, renderables, to_json, total_renderable
from .rules import RULES, Patterns, select_rules
from .sandbox import Check
from .shrink import CheckOptions, ShrinkOptions, prepare_output_dir, shrink, shrink_with_check
from .trial import TrialEvent, TrialOptions, default_jobs
from .units import human_size, parse_size
from .writer import MAX_LEVEL


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: error: {message} (see --help)\n")
        raise SystemExit(ExitCode.BAD_INPUT)


def progress_line(event: TrialEvent) -> str:
    """One line of the live display: phase, runs, bytes removed, best size, elapsed time and ETA."""
    if event.eta is None:
        eta = "ETA unknown"
    else:
        eta = f"ETA {'≥ ' if event.eta_is_lower_bound else '~'}{_duration(event.eta)}"
    return (
        f"{event.phase}: {event.runs} check runs · removed {human_size(event.total_bytes - event.kept_bytes)} · "
        f"best {human_size(event.kept_bytes)} of {human_size(event.total_bytes)} installed · "
        f"{_duration(event.elapsed)} elapsed · {eta}"
    )


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"


def _size(text: str) -> int:
    try:
        return parse_size(text)
    except UsageError as exc:
        raise argparse.ArgumentTypeError(exc.message) from None


def _level(text: str) -> int:
    if not text.isdigit() or not 0 <= int(text) <= MAX_LEVEL:
        raise argparse.ArgumentTypeError(f"compress level must be 0..{MAX_LEVEL}, not {text!r}")
    return int(text)


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, not {text!r}")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="slimwheel", description="Make Python wheels small: prune, strip, repack, report.")
    parser.add_argument("--version", action="version", version=f"slimwheel {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    ins = sub.add_parser("inspect", help="show where a wheel's bytes are")
    ins.add_argument("wheels", nargs="+", type=Path, metavar="WHEEL")
    ins.add_argument("--json", action="store_true", help="print JSON (schema-versioned) instead of tables")
    ins.add_argument("--top", type=_positive, default=15, help="how many of the largest files to list (default 15)")
    ins.add_argument("--depth", type=_positive, default=3, help="depth of the size tree (default 3)")
    _add_limits(ins)

    shr = sub.add_parser("shrink", help="write slimmed wheels and report before/after")
    shr.add_argument("wheels", nargs="+", type=Path, metavar="WHEEL")
    shr.add_argument(
        "-w",
        "--wheel-dir",
        type=Path,
        default=Path("wheelhouse"),
        help="output directory (default wheelhouse/)",
    )
    shr.add_argument(
        "--rules",
        help="rules to apply: codes or names, comma-separated; 'default', 'all', 'none', '-NAME' "
        "removes one (default: the default set; see 'slimwheel rules')",
    )
    shr.add_argument("--no-rules", action="store_true", help="apply no rule (only --prune patterns and stripping)")
    shr.add_argument(
        "--prune",
        action="append",
        default=[],
        metavar="PATTERN",
        help="also remove files matching this gitignore-style pattern (archive or installed path); repeatable",
    )
    shr.add_argument(
        "--keep",
        action="append",
        default=[],
        metavar="PATTERN",
        help="never remove files matching this pattern; wins over rules and --prune; repeatable",
    )
    shr.add_argument(
        "--strip",
        choices=[s.value for s in StripLevel],
        default=StripLevel.UNNEEDED.value,
        help="strip native libraries (default: unneeded)",
    )
    shr.add_argument(
        "--compress-level",
        type=_level,
        default=9,
        help="DEFLATE level 0-12 (libdeflate; default 9; 10-12 are slower and smaller)",
    )
    shr.add_argument("-j", "--jobs", type=_positive, default=None, help="parallel jobs (default: number of cores)")
    shr.add_argument(
        "--max-size",
        type=_size,
        metavar="SIZE",
        help="exit 3 if any output wheel is larger (e.g. 5MB, 4.5MiB)",
    )
    shr.add_argument(
        "--max-total-size", type=_size, metavar="SIZE", help="exit 3 if all output wheels together are larger"
    )
    shr.add_argument("--dry-run", action="store_true", help="report what would happen; write no wheel")
    shr.add_argument("--json", type=Path, metavar="FILE", help="also write the full report as JSON to FILE")
    shr.add_argument(
        "--allow-bad-record",
        action="store_true",
        help="proceed even if the input's RECORD hashes or sizes do not match (the output gets a correct RECORD)",
    )
    shr.add_argument("-q", "--quiet", action="store_true", help="print only errors and the totals")
    _add_limits(shr)
    chk = shr.add_argument_group("trial deletion against your check (removes every file the check does not need)")
    chk.add_argument(
        "--check",
        action="append",
        default=[],
        type=Path,
        metavar="SCRIPT",
        help="a Python script that must exit 0 (run by the check interpreter); repeatable",
    )
    chk.add_argument(
        "--check-cmd",
        action="append",
        default=[],
        metavar="CMD",
        help='any command that must exit 0, e.g. "pytest -q smoke/"; repeatable',
    )
    chk.add_argument("--same-output", action="store_true", help="the check's stdout must also stay the same")
    chk.add_argument("--python", type=Path, help="the interpreter the check runs under (default: this one)")
    chk.add_argument(
        "--with",
        dest="with_requirements",
        action="append",
        default=[],
        metavar="REQUIREMENT",
        help="another package the check needs, installed once into the check environment; repeatable",
    )
    chk.add_argument(
        "--with-wheel",
        action="append",
        default=[],
        type=Path,
        metavar="FILE",
        help="a wheel file the check needs, installed into the check environment; repeatable",
    )
    chk.add_argument("--timeout", type=float, metavar="SECONDS", help="per check run (default: from the baseline runs)")
    chk.add_argument(
        "--max-runs",
        type=_positive,
        metavar="N",
        help="stop searching after N check runs (baseline and confirmation runs come on top)",
    )
    chk.add_argument("--minimal", action="store_true", help="certify that every kept file is needed (more runs)")
    chk.add_argument("--no-trace", action="store_true", help="don't start from a trace of the check; reduce blindly")
    chk.add_argument("--no-stubs", action="store_true", help="don't replace unused start-up subpackages with stubs")
    chk.add_argument("--resume", action="store_true", help="reuse the results of an interrupted run")
    chk.add_argument("--cache-dir", type=Path, help="check environments and run journals (default ~/.cache/slimwheel)")

    sub.add_parser("rules", help="list the pruning rules")
    return parser


def _add_limits(p: argparse.ArgumentParser) -> None:
    d = Limits()
    p.add_argument(
        "--max-unpacked-size",
        type=_size,
        default=d.max_total_size,
        metavar="SIZE",
        help="refuse a wheel declaring more uncompressed bytes than this (zip-bomb guard; default 8GiB)",
    )
    p.add_argument(
        "--max-ratio",
        type=_positive,
        default=d.max_ratio,
        metavar="N",
        help=f"refuse an entry over 1 MiB that compresses more than N:1 (default {d.max_ratio})",
    )


def _limits(args: argparse.Namespace) -> Limits:
    return Limits(
        max_total_size=args.max_unpacked_size, max_entry_size=args.max_unpacked_size, max_ratio=args.max_ratio
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    out = Console(highlight=False)
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    try:
        if args.command == "inspect":
            return _inspect(args, out)
        if args.command == "shrink":
            return _shrink(args, out, err)
        return _rules(out)
    except SlimwheelError as exc:
        err.print(f"slimwheel: error: {exc.message}", markup=False)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        err.print("slimwheel: interrupted; no partial output was left behind", markup=False)
        return int(ExitCode.INTERRUPTED)
    except Exception as exc:  # a bug: one line, and a traceback only on request
        if os.environ.get("SLIMWHEEL_DEBUG"):
            raise
        err.print(
            f"slimwheel: internal error: {type(exc).__name__}: {exc} (set SLIMWHEEL_DEBUG=1 for a traceback; "
            "please report it)",
            markup=False,
        )
        return int(ExitCode.FAILURE)


def _inspect(args: argparse.Namespace, out: Console) -> int:
    results = [
        inspect_wheel(read_wheel(p, limits=_limits(args), allow_bad_record=True), top=args.top) for p in args.wheels
    ]
    if args.json:
        print(json.dumps(inspection_json(results), indent=2))
        return 0
    for item in results:
        for r in inspection_renderables(item, depth=args.depth):
            out.print(r)
        out.print()
    return 0


def _shrink(args: argparse.Namespace, out: Console, err: Console) -> int:
    if args.no_rules and args.rules:
        raise UsageError("--rules and --no-rules can't be used together")
    options = ShrinkOptions(
        rules=() if args.no_rules else select_rules(args.rules),
        patterns=Patterns(args.prune, args.keep),
        strip=StripLevel(args.strip),
        compress_level=args.compress_level,
        jobs=args.jobs,
        allow_bad_record=args.allow_bad_record,
        limits=_limits(args),
        budget=args.max_size,
    )
    names = [p.name for p in args.wheels]
    if len(set(names)) != len(names):
        raise UsageError("two inputs have the same file name; their outputs would collide")
    output_dir = None if args.dry_run else args.wheel_dir
    if output_dir is not None:
        prepare_output_dir(output_dir)
    reports: list[WheelReport] = []
    failed = False
    if args.check or args.check_cmd:
        reports = _shrink_with_check(args, options, output_dir, out)
    else:
        for path in args.wheels:
            try:
                report = shrink(path, output_dir, options)
            except SlimwheelError as exc:
                err.print(f"slimwheel: error: {exc.message}", markup=False)
                failed = True
                continue
            reports.append(report)
    if not args.quiet:
        for report in reports:
            for r in renderables(report):
                out.print(r)
            out.print()
    if len(reports) > 1 or args.max_total_size is not None or (args.quiet and reports):
        out.print(total_renderable(reports, args.max_total_size))
    if args.dry_run and reports:
        out.print("dry run: nothing was written", style="dim")
    if args.json:
        _write_json(args.json, to_json(reports, total_budget=args.max_total_size))
    if failed:
        return int(ExitCode.BAD_INPUT)
    if any(r.check is not None and r.check.interrupted for r in reports):
        return int(ExitCode.INTERRUPTED)
    total = sum(r.after.archive for r in reports)
    if any(r.over_budget for r in reports) or (args.max_total_size is not None and total > args.max_total_size):
        return int(ExitCode.OVER_BUDGET)
    return 0


def _shrink_with_check(
    args: argparse.Namespace, options: ShrinkOptions, output_dir: Path | None, out: Console
) -> list[WheelReport]:
    checks = tuple([Check.script(p) for p in args.check] + [Check.command(c) for c in args.check_cmd])
    trial = TrialOptions(
        checks=checks,
        same_output=args.same_output,
        timeout=args.timeout,
        jobs=args.jobs or default_jobs(),
        max_runs=args.max_runs,
        minimal=args.minimal,
        trace=not args.no_trace,
        stubs=not args.no_stubs,
        resume=args.resume,
    )
    check_options = CheckOptions(
        trial=trial,
        python=args.python,
        requirements=tuple(args.with_requirements),
        with_wheels=tuple(args.with_wheel),
        **({"cache_dir": args.cache_dir} if args.cache_dir else {}),
    )
    status = Text("preparing the check environment …")
    with Live(status, console=out, transient=True, refresh_per_second=4, redirect_stdout=False) as live:

        def progress(event: TrialEvent) -> None:
            live.update(Text(progress_line(event)))

        reports = shrink_with_check(list(args.wheels), output_dir, options, check_options, progress)
    if any(r.check is not None and r.check.interrupted for r in reports):
        out.print(
            "interrupted: the best verified result so far was written; run the same command with --resume "
            "to continue where it stopped",
            style="yellow",
        )
    return reports


def _write_json(path: Path, data: object) -> None:
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent if str(path.parent) else ".")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except OSError as exc:
        raise OutputError(f"can't write JSON report {path}: {exc.strerror or exc}") from None


def _rules(out: Console) -> int:
    from rich.table import Table

    table = Table(show_edge=False, pad_edge=False)
    for col in ("code", "name", "default", "removes"):
        table.add_column(col)
    for r in RULES:
        table.add_row(r.code, r.name, "yes" if r.default else "no", r.description)
    out.print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
