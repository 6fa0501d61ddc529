"""Command line: argument parsing, exit codes and printing. Nothing else lives here.

Output: the human report goes to standard output, or to standard error when ``--json -`` puts the JSON on standard
output; errors, notes and broken budgets always go to standard error. What the streams can show (encodings, a
terminal or a log, their width) is :mod:`slimwheel.console`'s business; output files are :mod:`slimwheel.outputs`'.

Exit codes: 0 success; 1 internal error (a bug); 2 bad command line, bad input wheel, unusable output, or a
check that can't be used (fails with the original wheels, passes without them, flaky); 3 a --max-size /
--max-total-size budget is exceeded; 130 interrupted (with --check: after writing the best verified result).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

from rich import box
from rich.console import RenderableType
from rich.text import Text

from . import __version__
from .binaries import StripLevel
from .build import BuildOptions, PlatformBuild, build
from .cache import CLEARABLE
from .cache import clear as cache_clear
from .cache import usage as cache_usage
from .config import COMMANDS as CONFIG_COMMANDS
from .config import explicit_dests, merge, project_settings
from .console import AppConsole, Field, NameTable, is_utf, make_console, plural, progress_display, safe_streams
from .contents import Limits, read_wheel
from .errors import ExitCode, OutputError, SlimwheelError, UsageError
from .inspection import inspect_wheel
from .inspection import renderables as inspection_renderables
from .inspection import to_json as inspection_json
from .outputs import is_stdout, write_output
from .recipe import find_project_defaults, load_recipe, platform_info
from .report import WheelReport, over_budget_messages, renderables, to_json, total_renderable
from .rules import RULES, Patterns, select_rules
from .sandbox import Check
from .shrink import (
    CheckOptions,
    ShrinkOptions,
    default_cache_dir,
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

#: ``inspect --json`` with no FILE (deprecated): the JSON alone, on standard output.
_BARE_JSON = "\0bare"


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
    removed = human_size(event.total_bytes - event.kept_bytes)
    return (
        f"{event.phase}: {plural(event.runs, 'check run')} · removed {removed} · "
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
    parser.add_argument("-V", "--version", action="version", version=f"slimwheel {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    ins = sub.add_parser("inspect", help="show where a wheel's bytes are")
    ins.add_argument("wheels", nargs="*", type=Path, metavar="WHEEL", help="wheel files, or directories of them")
    ins.add_argument(
        "--json",
        nargs="?",
        const=_BARE_JSON,
        metavar="FILE",
        help="also write the inspection as JSON (schema-versioned) to FILE; '-' for standard output (the tables "
        "then go to standard error)",
    )
    ins.add_argument("--top", type=_positive, default=15, help="how many of the largest files to list (default 15)")
    ins.add_argument("--depth", type=_positive, default=3, help="depth of the size tree (default 3)")
    _add_limits(ins)
    _add_project(ins)

    _add_shrink_parser(sub)
    sub.add_parser("rules", help="list the pruning rules")

    _add_build_parser(sub)
    _add_cache_parser(sub)
    return parser


def _add_shrink_parser(sub: argparse._SubParsersAction[_Parser]) -> None:
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
        action=argparse.BooleanOptionalAction,
        default=False,
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
    _add_limits(shr)
    _add_project(shr)
    _add_check_options(shr)


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
        type=_positive,
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


def _add_build_parser(sub: argparse._SubParsersAction[_Parser]) -> None:
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
    bld.add_argument(
        "--json",
        metavar="FILE",
        help="also write the results as JSON to FILE; '-' for standard output (the tables then go to standard error)",
    )
    bld.add_argument("-q", "--quiet", action="store_true", help="print only the summary table")


def _add_cache_parser(sub: argparse._SubParsersAction[_Parser]) -> None:
    cch = sub.add_parser("cache", help="show what slimwheel's cache holds (journals, check environments), or clear it")
    cch.add_argument(
        "--clear",
        nargs="?",
        const="all",
        choices=CLEARABLE,
        help="delete one part of the cache, or all of it (the default)",
    )
    cch.add_argument("--cache-dir", type=Path, help="the cache directory (default ~/.cache/slimwheel)")


def _cache(args: argparse.Namespace, out: AppConsole) -> int:
    """``slimwheel cache``: one line per part of the cache (count, bytes); ``--clear``: what was deleted."""
    cache_dir = args.cache_dir or default_cache_dir()
    if args.clear is not None:
        for u in cache_clear(cache_dir, args.clear):
            out.plain_line(f"cleared {u.section}: {u.count} ({human_size(u.bytes)}) of {u.description}")
        return 0
    found = cache_usage(cache_dir)
    out.plain_line(f"{cache_dir}: {human_size(sum(u.bytes for u in found))}")
    for u in found:
        out.plain_line(f"  {u.section:<9} {u.count:>6}  {human_size(u.bytes):>9}  {u.description}")
    return 0


def _add_project(p: argparse.ArgumentParser) -> None:
    """``--project``/``--no-project``: where ``[tool.slimwheel]`` settings come from (see :mod:`slimwheel.config`)."""
    group = p.add_mutually_exclusive_group()
    group.add_argument(
        "--project",
        type=Path,
        metavar="PYPROJECT",
        help="read [tool.slimwheel] settings from this pyproject.toml (default: the nearest one at or above the "
        "current directory); command-line options win",
    )
    group.add_argument("--no-project", action="store_true", help="ignore [tool.slimwheel] settings")


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
    p.add_argument(
        "--max-archive-ratio",
        type=_positive,
        default=d.max_archive_ratio,
        metavar="N",
        help="refuse a wheel declaring over 100 MiB uncompressed and more than N times its own size "
        f"(zip-bomb guard; default {d.max_archive_ratio})",
    )


def _limits(args: argparse.Namespace) -> Limits:
    return Limits(
        max_total_size=args.max_unpacked_size,
        max_entry_size=args.max_unpacked_size,
        max_ratio=args.max_ratio,
        max_archive_ratio=args.max_archive_ratio,
    )


def main(argv: Sequence[str] | None = None) -> int:
    with safe_streams():  # what a stream can't encode is written as ASCII, never a UnicodeEncodeError
        parser = build_parser()
        args = parser.parse_args(argv)
        out = make_console(sys.stdout)
        err = make_console(sys.stderr)
        try:
            args.sources = _project_settings(parser, args, argv)
            if args.command == "inspect":
                return _inspect(args, out, err)
            if args.command == "shrink":
                return _shrink(args, out, err)
            if args.command == "build":
                return _build(args, out, err)
            if args.command == "cache":
                return _cache(args, out)
            return _rules(out)
        except SlimwheelError as exc:
            err.plain_line(f"slimwheel: error: {exc.message}")
            return int(exc.exit_code)
        except KeyboardInterrupt:
            err.plain_line("slimwheel: interrupted; no partial output was left behind")
            return int(ExitCode.INTERRUPTED)
        except BrokenPipeError:  # the reader of standard output went away (``slimwheel inspect --json - | head``)
            _silence_stdout()
            err.plain_line("slimwheel: error: standard output was closed before everything was written")
            return int(ExitCode.BAD_INPUT)
        except Exception as exc:  # a bug: one line, and a traceback only on request
            if os.environ.get("SLIMWHEEL_DEBUG"):
                raise
            err.plain_line(
                f"slimwheel: internal error: {type(exc).__name__}: {' '.join(str(exc).split())} "
                "(set SLIMWHEEL_DEBUG=1 for a traceback; please report it)"
            )
            return int(ExitCode.FAILURE)


def _silence_stdout() -> None:
    """Point standard output at the null device, so that flushing it at exit raises no second BrokenPipeError."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def _project_settings(
    parser: argparse.ArgumentParser, args: argparse.Namespace, argv: Sequence[str] | None
) -> dict[str, str]:
    """Fill in ``[tool.slimwheel]`` settings (``shrink``, ``inspect``) the command line did not give; return each
    option's source ("command line", "pyproject.toml:LINE" or "default") for ``-v``."""
    if args.command not in CONFIG_COMMANDS or args.no_project:
        return {}
    settings = project_settings(args.command, Path.cwd(), pyproject=args.project)
    return merge(args, settings, explicit_dests(parser, argv))


def _view(args: argparse.Namespace, out: AppConsole, err: AppConsole) -> AppConsole:
    """Where the human report goes: standard error when the JSON goes to standard output."""
    to_stdout = args.json is not None and (args.json == _BARE_JSON or is_stdout(args.json))
    return err if to_stdout or is_stdout(getattr(args, "save_lock", None) or "") else out


def _inspect(args: argparse.Namespace, out: AppConsole, err: AppConsole) -> int:
    if args.json is not None and args.json != _BARE_JSON and (args.json.endswith(".whl") or Path(args.json).is_dir()):
        args.wheels.insert(0, Path(args.json))  # "inspect --json x.whl": the old flag followed by a wheel
        args.json = _BARE_JSON
    if not args.wheels:
        raise UsageError("inspect: give at least one WHEEL (a wheel file or a directory of them)")
    limits = _limits(args)
    results = [
        inspect_wheel(read_wheel(p, limits=limits, allow_bad_record=True), top=args.top)
        for p in _expand_wheel_args(args.wheels)
    ]
    if args.json == _BARE_JSON:
        err.plain_line("slimwheel: note: a bare --json is deprecated; use --json - (JSON on standard output)")
        _write_json("-", inspection_json(results))
        return 0
    if args.json is not None:
        _write_json(args.json, inspection_json(results))
    view = _view(args, out, err)
    for item in results:
        for r in inspection_renderables(item, depth=args.depth, safe=view.safe):
            view.show(r)
        view.show()
    return 0


def _expand_wheel_args(paths: Sequence[Path]) -> list[Path]:
    """WHEEL arguments: files, or directories standing for the ``*.whl`` files in them (handy in CI, where
    cibuildwheel and shells on Windows don't expand globs). A path that doesn't exist is a usage error."""
    wheels: list[Path] = []
    for path in paths:
        if not path.exists() and not path.is_symlink():
            raise UsageError(f"{path}: can't be read: No such file or directory")  # the reader's words, for shrink
        if path.is_dir() and path.suffix != ".whl":  # a directory named *.whl is refused as a bad wheel later
            found = sorted(path.glob("*.whl"))
            if not found:
                raise UsageError(f"{path}: a directory with no *.whl file in it")
            wheels.extend(found)
        else:
            wheels.append(path)
    return wheels


def _shrink(args: argparse.Namespace, out: AppConsole, err: AppConsole) -> int:
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
    args.wheels = _expand_wheel_args(args.wheels)  # once the options are known to be usable
    names = [p.name for p in args.wheels]
    if len(set(names)) != len(names):
        raise UsageError("two inputs have the same file name; their outputs would collide")
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
    view = _view(args, out, err)
    if args.verbose:
        _show_settings(args, view)
    failed = False
    if args.lock:
        verify = _check_options(args) if args.verify else None
        reports = shrink_with_lock(list(args.wheels), output_dir, options, locks, verify)
    elif has_check:
        reports = _shrink_with_check(args, options, output_dir, view, save_locks)
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
            reports.append(shrink(path, output_dir, options, save_lock=save_locks[index] if save_locks else None))
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
            _write_json(args.json, to_json(reports, total_budget=args.max_total_size))
        except OutputError as exc:
            json_error = exc
    if not args.quiet:
        for report in reports:
            for r in renderables(report, verbose=args.verbose, safe=view.safe):
                view.show(r)
            view.show()
    if len(reports) > 1 or args.max_total_size is not None or (args.quiet and reports):
        view.show(total_renderable(reports, args.max_total_size, safe=view.safe))
    if args.dry_run and reports:
        view.print("dry run: nothing was written", style="dim")
    for line in over_budget_messages(reports, args.max_total_size):
        err.plain_line(f"slimwheel: {line}")
    if json_error is not None:
        raise json_error


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
    args: argparse.Namespace, options: ShrinkOptions, output_dir: Path | None, view: AppConsole, save_locks: list[Path]
) -> list[WheelReport]:
    check_options = _check_options(args)
    with progress_display(view, "preparing the check environment …") as display:

        def progress(event: TrialEvent) -> None:
            display.update(progress_line(event), phase=event.phase)

        reports = shrink_with_check(list(args.wheels), output_dir, options, check_options, progress, save_locks)
    if any(r.check is not None and r.check.interrupted for r in reports):
        view.print(
            "interrupted: the best verified result so far was written; run the same command with --resume "
            "to continue where it stopped",
            style="yellow",
        )
    return reports


def _write_json(target: str, data: object) -> None:
    """``data`` as JSON to the file ``target`` (UTF-8; see :func:`~slimwheel.outputs.write_output`), or to standard
    output for ``-`` (escaped to ASCII unless standard output is UTF-8)."""
    if is_stdout(target):
        encoding = getattr(sys.stdout, "encoding", None) or "utf-8"
        sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=not is_utf(encoding)) + "\n")
        sys.stdout.flush()
        return
    try:
        write_output(target, (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))
    except OSError as exc:
        raise OutputError(f"can't write JSON report {target}: {exc.strerror or exc}") from None


def _build(args: argparse.Namespace, out: AppConsole, err: AppConsole) -> int:
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
    view = _view(args, out, err)
    with progress_display(view, "starting …") as display:
        results = build(recipes, options, display.update)
    if args.json is not None:
        _write_json(args.json, build_json(results))
    if not args.quiet:
        for result in results:
            if result.report is not None:
                for r in renderables(result.report, safe=view.safe):
                    view.show(r)
                view.show()
    view.show(build_table(results, safe=view.safe))
    for result in results:
        if result.error:
            err.plain_line(f"slimwheel: error: {result.recipe} [{result.platform}]: {result.error}")
    for result in results:
        if result.over_budget and result.report is not None and result.budget is not None:
            err.plain_line(
                f"slimwheel: over budget: {result.recipe} [{result.platform}] is "
                f"{human_size(result.report.after.archive)}, over its budget {human_size(result.budget)}"
            )
    if any(r.error for r in results):
        return int(ExitCode.BAD_INPUT)
    if any(r.over_budget for r in results):
        return int(ExitCode.OVER_BUDGET)
    return 0


#: How each PlatformBuild mode is shown in the build table, and its line in the table's legend.
BUILD_MODES: dict[str, tuple[str, str]] = {
    "check": ("check (lock learned)", "check: trial deletion ran here and saved the lock"),
    "lock": ("lock replayed", "lock: the lock replayed with no check runs, what didn't map kept (never guessed)"),
    "lock-verified": (
        "lock replayed, verified",
        "lock replayed, verified: the lock replayed, then one check run passed on the result",
    ),
    "relearned": (
        "relearned (lock failed on this build)",
        "relearned: the lock failed the check on this build, so trial deletion ran here",
    ),
    "rules": ("rules only", "rules: rules and stripping only"),
}


def _how(mode: str) -> Text:
    if mode == "failed":
        return Text("failed", style="red")
    return Text(BUILD_MODES[mode][0] if mode in BUILD_MODES else mode.replace("-", " "))


def build_table(results: Sequence[PlatformBuild], *, safe: Callable[[str], str] = str) -> RenderableType:
    """One row per recipe and platform: sizes before/after, the budget, how it was shrunk; its legend lists the
    ways present in the table."""
    modes = list(dict.fromkeys(r.mode for r in results if r.mode in BUILD_MODES))
    table = NameTable(
        "slimwheel build",
        ["recipe", "platform"],
        [
            Field("before"),
            Field("after"),
            Field("budget"),
            Field("how", "left", flex=True),
            Field("notes", "left", flex=True),
        ],
        caption="\n".join(BUILD_MODES[m][1] for m in modes) or None,
        box=box.HEAVY_HEAD,
    )
    for r in results:
        report = r.report
        budget = human_size(r.budget) if r.budget is not None else safe("—")
        if report is None:
            table.add_row([r.recipe, r.platform], [safe("—"), safe("—"), budget, _how("failed"), Text(r.error or "")])
            continue
        after = Text(human_size(report.after.archive))
        if r.budget is not None:
            after = Text(f"{after} OVER", style="red") if r.over_budget else Text(str(after), style="green")
        notes = r.note
        if report.lock is not None and report.lock.action == "replayed":
            notes = f"{report.lock.coverage:.0%} of the lock mapped; {notes}".rstrip("; ")
        if report.check is not None:
            notes = f"{plural(report.check.total_runs, 'check run')}; {notes}".rstrip("; ")
        before = human_size(report.before.archive)
        table.add_row([r.recipe, r.platform], [before, after, budget, _how(r.mode), Text(safe(notes))])
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


def _rules(out: AppConsole) -> int:
    table = NameTable(None, ["code", "name"], [Field("default", "left"), Field("removes", "left", flex=True)])
    for r in RULES:
        table.add_row([r.code, r.name], ["yes" if r.default else "no", Text(out.safe(r.description))])
    out.show(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
