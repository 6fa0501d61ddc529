"""``slimwheel shrink``: its options, the checks between them, and the report of what was written.

Guarantees: a combination of options that can't be used is refused (exit 2) before the output directory is
touched; the JSON report is written before the human one, and broken budgets go to standard error even with
``--quiet``. Without a check or a lock, a wheel that can't be shrunk is reported and the others still are (exit 2);
else 130 if the check was interrupted, 3 if a budget is broken (the exit codes: :mod:`slimwheel.cli`).
Must not know: zip files, how a wheel is shrunk or a check is run (:mod:`slimwheel.shrink`), or how a report is
laid out (:mod:`slimwheel.report`).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from .binaries import StripLevel
from .cli_common import (
    add_jobs,
    add_limits,
    add_project,
    expand_wheel_args,
    limits,
    positive,
    report_console,
    show_each,
    size,
    write_json,
)
from .console import AppConsole, plural, progress_display
from .errors import ExitCode, OutputError, SlimwheelError, UsageError
from .lock import Lock, lock_paths_for, locks_for_wheels
from .options import CheckOptions, Learn, Mode, Replay, RulesOnly, ShrinkOptions, check_options
from .prepared import prepare_output_dir
from .report import WheelReport, over_budget_messages, renderables, to_json, total_renderable
from .rules import Patterns, select_rules
from .shrink import run
from .trial import TrialEvent
from .units import human_size
from .writer import MAX_LEVEL

if TYPE_CHECKING:
    from .cli_common import Subparsers

NAME = "shrink"


def _level(text: str) -> int:
    if not text.isdigit() or not 0 <= int(text) <= MAX_LEVEL:
        raise argparse.ArgumentTypeError(f"compress level must be 0..{MAX_LEVEL}, not {text!r}")
    return int(text)


def add_parser(sub: Subparsers) -> None:
    shr = sub.add_parser(NAME, help="write slimmed wheels and report before/after")
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
        action=argparse.BooleanOptionalAction,
        default=False,
        help="recompress unchanged files too, at --compress-level (by default their compressed data is copied as is)",
    )
    add_jobs(shr)
    _add_outputs(shr)
    add_limits(shr)
    add_project(shr)
    _add_check_options(shr)
    _add_lock_options(shr)


def _add_outputs(shr: argparse.ArgumentParser) -> None:
    """Budgets, dry run, the JSON report, RECORD checking and how much is shown."""
    shr.add_argument(
        "--max-size",
        type=size,
        metavar="SIZE",
        help="exit 3 if any output wheel is larger (e.g. 5MB, 4.5MiB)",
    )
    shr.add_argument(
        "--max-total-size", type=size, metavar="SIZE", help="exit 3 if all output wheels together are larger"
    )
    shr.add_argument("--dry-run", action="store_true", help="report what would happen; write no wheel")
    shr.add_argument(
        "--json",
        metavar="FILE",
        help="also write the full report as JSON to FILE; '-' for standard output (the report then goes to "
        "standard error)",
    )
    shr.add_argument(
        "--allow-bad-record",
        action="store_true",
        help="proceed even if the input's RECORD hashes or sizes do not match (the output gets a correct RECORD)",
    )
    shr.add_argument("-q", "--quiet", action="store_true", help="print only errors and the totals")
    shr.add_argument("-v", "--verbose", action="store_true", help="also list every removed file with its reason")


def _add_check_options(shr: argparse.ArgumentParser) -> None:
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
    chk.add_argument(
        "--same-output",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="the check's stdout must also stay the same",
    )
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
        type=positive,
        metavar="N",
        help="stop searching after N check runs (baseline and confirmation runs come on top)",
    )
    chk.add_argument(
        "--minimal",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="certify that every kept file is needed (more runs)",
    )
    chk.add_argument("--no-trace", action="store_true", help="don't start from a trace of the check; reduce blindly")
    chk.add_argument("--trace", dest="no_trace", action="store_false", help="start from a trace (the default)")
    chk.add_argument("--no-stubs", action="store_true", help="don't replace unused start-up subpackages with stubs")
    chk.add_argument("--stubs", dest="no_stubs", action="store_false", help="try stubs (the default)")
    chk.add_argument("--resume", action="store_true", help="reuse the results of an interrupted run")
    chk.add_argument("--cache-dir", type=Path, help="check environments and run journals (default ~/.cache/slimwheel)")
    chk.add_argument(
        "--save-lock",
        metavar="PATH",
        help="write what was learned (removals, stubs, stripped files) as a lock to commit and replay: a file for "
        "one wheel, a directory (one <project>.lock each) for several",
    )


def _add_lock_options(shr: argparse.ArgumentParser) -> None:
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


def execute(args: argparse.Namespace, out: AppConsole, err: AppConsole) -> int:
    if args.no_rules and args.rules:
        raise UsageError("--rules and --no-rules can't be used together")
    options = ShrinkOptions(
        rules=() if args.no_rules else select_rules(args.rules),
        patterns=Patterns(args.prune, args.keep),
        strip=StripLevel(args.strip),
        compress_level=args.compress_level,
        jobs=args.jobs,
        allow_bad_record=args.allow_bad_record,
        limits=limits(args),
        budget=args.max_size,
        recompress=args.recompress,
    )
    args.wheels = expand_wheel_args(args.wheels)  # once the options are known to be usable
    names = [p.name for p in args.wheels]
    if len(set(names)) != len(names):
        raise UsageError("two inputs have the same file name; their outputs would collide")
    _refuse_bad_lock_options(args)
    save_locks = lock_paths_for(args.wheels, args.save_lock) if args.save_lock else []
    locks = locks_for_wheels(args.wheels, args.lock) if args.lock else []
    output_dir = None if args.dry_run else args.wheel_dir
    if output_dir is not None:  # only once the options and locks are known to be usable
        prepare_output_dir(output_dir)
    view = report_console(args, out, err)
    if args.verbose:
        _show_settings(args, view)
    failed = False
    mode = _mode(args, save_locks, locks)
    if isinstance(mode, Learn):
        reports = _shrink_with_check(args, mode, options, output_dir, view)
    elif isinstance(mode, Replay):
        reports = run(list(args.wheels), output_dir, options, mode)
    else:
        reports, failed = _shrink_each(args, options, output_dir, save_locks, err)
    _show_reports(args, reports, view, err)
    if failed:
        return int(ExitCode.BAD_INPUT)
    if any(r.check is not None and r.check.interrupted for r in reports):
        return int(ExitCode.INTERRUPTED)
    if over_budget_messages(reports, args.max_total_size):
        return int(ExitCode.OVER_BUDGET)
    return 0


def _refuse_bad_lock_options(args: argparse.Namespace) -> None:
    """``--lock``, ``--save-lock``, ``--verify`` and a check: the combinations that can't be used."""
    has_check = bool(args.check or args.check_cmd)
    if args.lock and args.save_lock:
        raise UsageError("--lock replays a lock and --save-lock learns one; use one of them")
    if args.verify and not (args.lock and has_check):
        raise UsageError("--verify needs --lock and a check (--check or --check-cmd)")
    if args.lock and has_check and not args.verify:
        raise UsageError("with --lock, the check only runs with --verify (a replay makes no check runs)")


_NOT_SETTINGS = frozenset({"command", "wheels", "sources", "verbose", "quiet", "project", "no_project"})


def _show_settings(args: argparse.Namespace, view: AppConsole) -> None:
    """``-v``: every option that is not at its default, with where its value came from."""
    for dest, source in sorted(getattr(args, "sources", {}).items()):
        if source != "default" and dest not in _NOT_SETTINGS:
            view.plain_line(f"setting {dest.replace('_', '-')} = {getattr(args, dest)!r} ({source})")


def _shrink_each(
    args: argparse.Namespace, options: ShrinkOptions, output_dir: Path | None, save_locks: list[Path], err: AppConsole
) -> tuple[list[WheelReport], bool]:
    """Shrink the wheels one by one; a bad one is reported and skipped. Returns the reports and if any failed."""
    reports: list[WheelReport] = []
    failed = False
    for index, path in enumerate(args.wheels):
        try:
            save = (save_locks[index],) if save_locks else ()
            reports += run([path], output_dir, options, RulesOnly(save))
        except SlimwheelError as exc:
            err.plain_line(f"slimwheel: error: {exc.message}")
            failed = True
    return reports, failed


def _show_reports(args: argparse.Namespace, reports: list[WheelReport], view: AppConsole, err: AppConsole) -> None:
    """The JSON first (a machine reads it whatever happens next), then the human report, then broken budgets on
    standard error, even with --quiet."""
    json_error: OutputError | None = None
    if args.json is not None:
        try:
            write_json(args.json, to_json(reports, total_budget=args.max_total_size))
        except OutputError as exc:
            json_error = exc
    if not args.quiet:
        show_each(view, (renderables(report, verbose=args.verbose, safe=view.safe) for report in reports))
    if len(reports) > 1 or args.max_total_size is not None or (args.quiet and reports):
        view.show(total_renderable(reports, args.max_total_size, safe=view.safe))
    if args.dry_run and reports:
        view.print("dry run: nothing was written", style="dim")
    for line in over_budget_messages(reports, args.max_total_size):
        err.plain_line(f"slimwheel: {line}")
    if json_error is not None:
        raise json_error


def _mode(args: argparse.Namespace, save_locks: list[Path], locks: list[tuple[Lock, Path]]) -> Mode:
    """Rules only, learning with the check, or replaying locks (checked once with ``--verify``)."""
    if args.lock:
        return Replay(tuple(locks), _check_options(args) if args.verify else None)
    if args.check or args.check_cmd:
        return Learn(_check_options(args), tuple(save_locks))
    return RulesOnly(tuple(save_locks))


def _check_options(args: argparse.Namespace) -> CheckOptions:
    return check_options(
        scripts=args.check,
        commands=args.check_cmd,
        same_output=args.same_output,
        timeout=args.timeout,
        jobs=args.jobs,
        max_runs=args.max_runs,
        minimal=args.minimal,
        trace=not args.no_trace,
        stubs=not args.no_stubs,
        resume=args.resume,
        python=args.python,
        requirements=args.with_requirements,
        with_wheels=args.with_wheel,
        cache_dir=args.cache_dir,
    )


def _shrink_with_check(
    args: argparse.Namespace, mode: Learn, options: ShrinkOptions, output_dir: Path | None, view: AppConsole
) -> list[WheelReport]:
    with progress_display(view, "preparing the check environment …") as display:

        def progress(event: TrialEvent) -> None:
            display.update(progress_line(event), phase=event.phase)

        reports = run(list(args.wheels), output_dir, options, mode, progress)
    if any(r.check is not None and r.check.interrupted for r in reports):
        view.print(
            "interrupted: the best verified result so far was written; run the same command with --resume "
            "to continue where it stopped",
            style="yellow",
        )
    return reports


def progress_line(event: TrialEvent) -> str:
    """One line of the live display: phase, runs, bytes removed, best size, elapsed time and ETA."""
    if event.eta is None:
        eta = "ETA unknown"
    else:
        eta = f"ETA {'≥ ' if event.eta_is_lower_bound else '~'}{_duration(event.eta)}"
    removed = human_size(event.total_bytes - event.kept_bytes)
    return (
        f"{event.phase}: {plural(event.runs, 'check run')} · removed {removed} · "
        f"best {human_size(event.kept_bytes)} of {human_size(event.total_bytes)} installed · "
        f"{_duration(event.elapsed)} elapsed · {eta}"
    )


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"
