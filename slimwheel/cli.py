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
from rich.table import Table
from rich.text import Text

from . import __version__
from .binaries import StripLevel
from .build import BuildOptions, PlatformBuild, build
from .contents import Limits, read_wheel
from .errors import ExitCode, OutputError, SlimwheelError, UsageError
from .inspection import inspect_wheel
from .inspection import renderables as inspection_renderables
from .inspection import to_json as inspection_json
from .recipe import find_project_defaults, load_recipe, platform_info
from .report import WheelReport, renderables, to_json, total_renderable
from .rules import RULES, Patterns, select_rules
from .sandbox import Check
from .shrink import (
    CheckOptions,
    ShrinkOptions,
    lock_paths_for,
    locks_for_wheels,
    prepare_output_dir,
    shrink,
    shrink_with_check,
    shrink_with_lock,
)
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
    shr.add_argument("wheels", nargs="+", type=Path, metavar="WHEEL", help="wheel files, or directories of them")
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
    shr.add_argument(
        "--recompress",
        action="store_true",
        help="recompress unchanged files too, at --compress-level (by default their compressed data is copied as is)",
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
    chk.add_argument(
        "--save-lock",
        type=Path,
        metavar="PATH",
        help="write what was learned (removals, stubs, stripped files) as a lock to commit and replay: a file for "
        "one wheel, a directory (one <project>.lock each) for several",
    )
    lck = shr.add_argument_group("locks: replay a learned result with zero check runs")
    lck.add_argument(
        "--lock",
        action="append",
        default=[],
        type=Path,
        metavar="PATH",
        help="replay a lock file (or every *.lock in a directory), matched to the wheels by project name; a lock "
        "learned on another platform tag of the same version is mapped, and what doesn't map is kept; repeatable",
    )
    lck.add_argument(
        "--verify",
        action="store_true",
        help="with --lock and --check/--check-cmd: run the check once on the result; exit 4 (nothing written) if it "
        "fails",
    )

    sub.add_parser("rules", help="list the pruning rules")

    bld = sub.add_parser("build", help="build slim wheels from recipes for each platform, within their budgets")
    bld.add_argument("recipes", nargs="+", type=Path, metavar="RECIPE", help="recipe files (recipes/*.toml)")
    bld.add_argument(
        "--platform",
        action="append",
        default=[],
        metavar="P",
        help="a platform to build (linux_x86_64, win_amd64, win32, ...; 'all' = the recipe's list, the default); "
        "repeatable",
    )
    bld.add_argument("-w", "--wheel-dir", type=Path, default=Path("wheelhouse"), help="output directory")
    bld.add_argument("--python-version", metavar="X.Y", help="fetch wheels for this Python (default: the recipe's)")
    bld.add_argument("--relearn", action="store_true", help="run the check even where the lock is up to date")
    bld.add_argument("--verify", action="store_true", help="after a lock replay that can run here, run the check once")
    bld.add_argument("-j", "--jobs", type=_positive, default=None, help="parallel jobs (default: number of cores)")
    bld.add_argument(
        "--cache-dir", type=Path, help="downloads, builds and check environments (default ~/.cache/slimwheel)"
    )
    bld.add_argument("--project", type=Path, metavar="PYPROJECT", help="pyproject.toml with [tool.slimwheel] defaults")
    bld.add_argument("--json", type=Path, metavar="FILE", help="also write the results as JSON to FILE")
    bld.add_argument("-q", "--quiet", action="store_true", help="print only the summary table")
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
        if args.command == "build":
            return _build(args, out, err)
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


def _expand_wheel_args(paths: Sequence[Path]) -> list[Path]:
    """WHEEL arguments: files, or directories standing for the ``*.whl`` files in them (handy in CI, where
    cibuildwheel and shells on Windows don't expand globs)."""
    wheels: list[Path] = []
    for path in paths:
        if path.is_dir() and path.suffix != ".whl":  # a directory named *.whl is refused as a bad wheel later
            found = sorted(path.glob("*.whl"))
            if not found:
                raise UsageError(f"{path}: a directory with no *.whl file in it")
            wheels.extend(found)
        else:
            wheels.append(path)
    return wheels


def _shrink(args: argparse.Namespace, out: Console, err: Console) -> int:
    args.wheels = _expand_wheel_args(args.wheels)
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
        recompress=args.recompress,
    )
    names = [p.name for p in args.wheels]
    if len(set(names)) != len(names):
        raise UsageError("two inputs have the same file name; their outputs would collide")
    reports: list[WheelReport] = []
    failed = False
    has_check = bool(args.check or args.check_cmd)
    if args.lock and args.save_lock:
        raise UsageError("--lock replays a lock and --save-lock learns one; use one of them")
    if args.verify and not (args.lock and has_check):
        raise UsageError("--verify needs --lock and a check (--check or --check-cmd)")
    if args.lock and has_check and not args.verify:
        raise UsageError("with --lock, the check only runs with --verify (a replay makes no check runs)")
    save_locks = lock_paths_for(args.wheels, args.save_lock) if args.save_lock else []
    locks = locks_for_wheels(args.wheels, args.lock) if args.lock else []
    output_dir = None if args.dry_run else args.wheel_dir
    if output_dir is not None:  # only once the options and locks are known to be usable
        prepare_output_dir(output_dir)
    if args.lock:
        verify = _check_options(args) if args.verify else None
        reports = shrink_with_lock(list(args.wheels), output_dir, options, locks, verify)
    elif has_check:
        reports = _shrink_with_check(args, options, output_dir, out, save_locks)
    else:
        for index, path in enumerate(args.wheels):
            try:
                report = shrink(path, output_dir, options, save_lock=save_locks[index] if save_locks else None)
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


def _check_options(args: argparse.Namespace) -> CheckOptions:
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
    return check_options


def _shrink_with_check(
    args: argparse.Namespace, options: ShrinkOptions, output_dir: Path | None, out: Console, save_locks: list[Path]
) -> list[WheelReport]:
    check_options = _check_options(args)
    status = Text("preparing the check environment …")
    with Live(status, console=out, transient=True, refresh_per_second=4, redirect_stdout=False) as live:

        def progress(event: TrialEvent) -> None:
            live.update(Text(progress_line(event)))

        reports = shrink_with_check(list(args.wheels), output_dir, options, check_options, progress, save_locks)
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


def _build(args: argparse.Namespace, out: Console, err: Console) -> int:
    platforms = None if not args.platform or "all" in args.platform else tuple(args.platform)
    for platform in platforms or ():
        platform_info(platform)  # an unknown name is a usage error, before anything is fetched
    defaults = args.project or find_project_defaults(Path.cwd())
    recipes = [load_recipe(path, project_defaults=defaults) for path in args.recipes]
    prepare_output_dir(args.wheel_dir)
    options = BuildOptions(
        output_dir=args.wheel_dir,
        platforms=platforms,
        python_version=args.python_version,
        cache_dir=args.cache_dir,
        relearn=args.relearn,
        verify=args.verify,
        jobs=args.jobs,
    )
    status = Text("starting …")
    with Live(status, console=out, transient=True, refresh_per_second=4, redirect_stdout=False) as live:
        results = build(recipes, options, lambda line: live.update(Text(line)))
    if not args.quiet:
        for result in results:
            if result.report is not None:
                for r in renderables(result.report):
                    out.print(r)
                out.print()
    out.print(build_table(results))
    for result in results:
        if result.error:
            err.print(f"slimwheel: error: {result.recipe} [{result.platform}]: {result.error}", markup=False)
    if args.json:
        _write_json(args.json, build_json(results))
    if any(r.error for r in results):
        return int(ExitCode.BAD_INPUT)
    if any(r.over_budget for r in results):
        return int(ExitCode.OVER_BUDGET)
    return 0


def build_table(results: Sequence[PlatformBuild]) -> Table:
    """One row per recipe and platform: sizes before/after, the budget, how it was shrunk."""
    table = Table(
        title="slimwheel build",
        title_justify="left",
        caption="check: trial deletion ran here and saved the lock · lock: the lock replayed with no check runs, "
        "what didn't map kept (never guessed) · rules: rules and stripping only",
        caption_justify="left",
    )
    for column, justify in (
        ("recipe", "left"),
        ("platform", "left"),
        ("before", "right"),
        ("after", "right"),
        ("budget", "right"),
        ("how", "left"),
        ("notes", "left"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for r in results:
        report = r.report
        budget = human_size(r.budget) if r.budget is not None else "—"
        if report is None:
            table.add_row(r.recipe, r.platform, "—", "—", budget, "[red]failed[/]", r.error or "")
            continue
        after = human_size(report.after.archive)
        if r.budget is not None:
            after = f"[red]{after} OVER[/]" if r.over_budget else f"[green]{after}[/]"
        how = {"check": "check (lock learned)", "lock": "lock replayed", "rules": "rules only"}[r.mode]
        notes = r.note
        if report.lock is not None and report.lock.action == "replayed":
            notes = f"{report.lock.coverage:.0%} of the lock mapped; {notes}".rstrip("; ")
        if report.check is not None:
            notes = f"{report.check.total_runs} check runs; {notes}".rstrip("; ")
        table.add_row(r.recipe, r.platform, human_size(report.before.archive), after, budget, how, notes)
    return table


def build_json(results: Sequence[PlatformBuild]) -> dict[str, object]:
    return {
        "schema_version": 1,
        "builds": [
            {
                "recipe": r.recipe,
                "platform": r.platform,
                "mode": r.mode,
                "budget": r.budget,
                "over_budget": r.over_budget,
                "note": r.note,
                "error": r.error,
                "report": to_json([r.report])["wheels"][0] if r.report is not None else None,  # type: ignore[index]
            }
            for r in results
        ],
    }


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
