"""``slimwheel shrink``: its options, the checks between them, and the report of what was written.

Guarantees: a combination of options that can't be used is refused (exit 2) before the output directory is
touched; the JSON report (then the ``--html`` page) is written before the human one, and broken budgets go to
standard error even with ``--quiet``. Without a check or a lock, a wheel that can't be shrunk is reported and the
others still are (exit 2); else 130 if the check was interrupted, 3 if a budget is broken (the exit codes:
:mod:`slimwheel.cli`).
Must not know: zip files, how a wheel is shrunk or a check is run (:mod:`slimwheel.shrink`), or how a report is
laid out (:mod:`slimwheel.report`).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from packaging.requirements import InvalidRequirement, Requirement

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
from .deployset import SetSummary, complete, index_arguments, resolve
from .errors import ExitCode, OutputError, SlimwheelError, UsageError
from .fetch import Target
from .htmlreport import shrink_html, write_html
from .lock import Lock, lock_paths_for, locks_for_wheels
from .options import CheckOptions, Learn, Mode, Replay, RulesOnly, ShrinkOptions, check_options, default_cache_dir
from .outputs import is_stdout
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
    shr.add_argument(
        "wheels",
        nargs="*",
        metavar="WHEEL|REQUIREMENT",
        help="wheel files, directories of them, or requirements (numpy==2.4.6) whose whole closure pip downloads",
    )
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
        "--debug-symbols",
        type=Path,
        metavar="DIR",
        help="keep the debug information and symbol table of every stripped ELF file in DIR/.build-id/NN/REST.debug "
        "(as gdb, elfutils and debuginfod look them up), and copy the debug files a rule removes there; the "
        "wheels stay the same",
    )
    shr.add_argument(
        "--debuglink",
        action="store_true",
        help="with --debug-symbols: add a .gnu_debuglink naming <file>.debug to each stripped file (changes the "
        "shipped bytes)",
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
    shr.add_argument(
        "--minify",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="rewrite kept Python files without docstrings, comments and layout (python-minifier; licence headers "
        "kept); with a check, a file whose minified form fails it stays as it was",
    )
    shr.add_argument(
        "--bytecode-only",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="replace kept Python files by sourceless .pyc for one Python version (the check's, or --python's): "
        "smaller installed, larger wheel; pure wheels are retagged cpXY",
    )
    add_jobs(shr)
    _add_outputs(shr)
    _add_deploy_set_options(shr)
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
        "--html",
        metavar="FILE",
        help="also write the report as one self-contained HTML page to FILE: a treemap of the installed bytes "
        "before and after, coloured by what happened to each file, totals, and every file with its fate",
    )
    shr.add_argument(
        "--allow-bad-record",
        action="store_true",
        help="proceed even if the input's RECORD hashes or sizes do not match (the output gets a correct RECORD)",
    )
    shr.add_argument("-q", "--quiet", action="store_true", help="print only errors and the totals")
    shr.add_argument("-v", "--verbose", action="store_true", help="also list every removed file with its reason")


def _add_deploy_set_options(shr: argparse.ArgumentParser) -> None:
    """Requirements in, a wheelhouse that installs offline out; pip resolves and downloads (its meaning of each
    option)."""
    dep = shr.add_argument_group("deploy sets: a requirements closure for a target platform, shrunk together")
    dep.add_argument(
        "-r",
        "--requirement",
        dest="requirement_files",
        action="append",
        default=[],
        type=Path,
        metavar="FILE",
        help="shrink every wheel this requirements file needs, with dependencies; repeatable",
    )
    dep.add_argument(
        "--platform",
        dest="platforms",
        action="append",
        default=[],
        metavar="TAG",
        help="download wheels for this platform (pip's meaning, e.g. manylinux_2_28_x86_64); repeatable",
    )
    dep.add_argument("--python-version", metavar="X.Y", help="download wheels for this Python version (pip's meaning)")
    dep.add_argument("--implementation", metavar="IMPL", help="download wheels for this implementation, e.g. cp")
    dep.add_argument("--abi", dest="abis", action="append", default=[], metavar="ABI", help="pip's --abi; repeatable")
    dep.add_argument("--index-url", metavar="URL", help="passed to pip")
    dep.add_argument("--extra-index-url", action="append", default=[], metavar="URL", help="passed to pip; repeatable")
    dep.add_argument("--find-links", action="append", default=[], metavar="DIR|URL", help="passed to pip; repeatable")
    dep.add_argument("--no-index", action="store_true", help="passed to pip: use only --find-links")
    dep.add_argument(
        "--target",
        dest="install_target",
        type=Path,
        metavar="DIR",
        help="also install the written wheels into DIR with pip (--no-index --no-deps), as for a Lambda layer or "
        "a firmware image; the report then shows the size pip installed",
    )
    dep.add_argument(
        "--max-installed-size",
        type=size,
        metavar="SIZE",
        help="exit 3 if the wheels together install to more (as pip installs them with --target; e.g. 250MB)",
    )


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
    chk.add_argument(
        "--python",
        type=Path,
        help="the interpreter the check runs under, and that compiles --bytecode-only (default: this one)",
    )
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
        minify=args.minify,
        bytecode_only=args.bytecode_only,
        python=args.python,
        debug_symbols=args.debug_symbols,
        debuglink=args.debuglink,
    )
    if args.debuglink and args.debug_symbols is None:
        raise UsageError("--debuglink needs --debug-symbols DIR (the debug files it links to)")
    if args.html is not None and is_stdout(args.html):
        raise UsageError("--html needs a file name: a page is a file to open, not for standard output")
    target = Target(tuple(args.platforms), args.python_version, args.implementation, tuple(args.abis))
    wheel_args, specs = _split_inputs(args.wheels)
    from_requirements = bool(specs or args.requirement_files)
    _refuse_bad_set_options(args, target, from_requirements, bool(wheel_args))
    args.wheels = expand_wheel_args(wheel_args)  # once the options are known to be usable
    if from_requirements:
        index_args = index_arguments(args.index_url, args.extra_index_url, args.find_links, args.no_index)
        cache = args.cache_dir or default_cache_dir()
        args.wheels += resolve(specs, args.requirement_files, target, cache, index_args)
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
    summary = None
    if from_requirements or args.install_target is not None or args.max_installed_size is not None:
        summary = complete(
            reports,
            requirements=from_requirements and output_dir is not None and not failed,
            install_dir=None if failed else args.install_target,
            target=target,
            installed_budget=args.max_installed_size,
        )
    _show_reports(args, reports, view, err, summary)
    if failed:
        return int(ExitCode.BAD_INPUT)
    if any(r.check is not None and r.check.interrupted for r in reports):
        return int(ExitCode.INTERRUPTED)
    if over_budget_messages(reports, args.max_total_size) or (summary is not None and summary.over_budget):
        return int(ExitCode.OVER_BUDGET)
    return 0


def _split_inputs(inputs: list[str]) -> tuple[list[Path], list[str]]:
    """The positional arguments as wheel paths (files, directories) and requirements (``numpy==2.4.6``): a path
    is what exists, ends in ``.whl`` or names a directory; anything else must parse as a requirement."""
    wheels: list[Path] = []
    specs: list[str] = []
    for text in inputs:
        path = Path(text)
        if " @ " in text and not path.exists() and _is_requirement(text):  # name @ URL: a direct reference
            specs.append(text)
            continue
        if text.endswith(".whl") or "/" in text or "\\" in text or path.exists() or path.is_symlink():
            wheels.append(path)
            continue
        try:
            Requirement(text)
        except InvalidRequirement:
            raise UsageError(
                f"{text!r} is neither a wheel file, a directory of wheels nor a requirement (e.g. numpy==2.4.6)"
            ) from None
        specs.append(text)
    return wheels, specs


def _is_requirement(text: str) -> bool:
    try:
        Requirement(text)
    except InvalidRequirement:
        return False
    return True


def _refuse_bad_set_options(args: argparse.Namespace, target: Target, from_requirements: bool, wheels: bool) -> None:
    """Deploy-set options that can't be used: nothing to shrink, target options with nothing to download or
    install, an install target with nothing written, or one pip can't install into (not empty, the output)."""
    if not from_requirements and not wheels:
        raise UsageError("nothing to shrink: give wheel files, requirements (numpy==2.4.6) or -r FILE")
    pip_options = args.index_url or args.extra_index_url or args.find_links or args.no_index
    if not from_requirements and (pip_options or (not target.is_host and args.install_target is None)):
        raise UsageError(
            "--platform, --python-version, --implementation, --abi and the index options choose what pip downloads: "
            "give requirements (numpy==2.4.6) or -r FILE"
        )
    if args.install_target is not None and args.dry_run:
        raise UsageError("--target installs the written wheels; --dry-run writes none")
    install = args.install_target
    if install is not None and (install.is_symlink() or install.exists()):
        try:
            empty = install.is_dir() and not any(install.iterdir())
        except OSError:
            empty = False
        if not empty:
            raise UsageError(f"--target {install}: the install target must be a new or empty directory")
    if install is not None and install.resolve() == args.wheel_dir.resolve():
        raise UsageError("--target and -w/--wheel-dir are the same directory: pip installs into an empty one")


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


def _show_reports(
    args: argparse.Namespace,
    reports: list[WheelReport],
    view: AppConsole,
    err: AppConsole,
    summary: SetSummary | None = None,
) -> None:
    """The JSON first (a machine reads it whatever happens next), then the HTML page, then the human report, then
    broken budgets on standard error, even with --quiet."""
    json_error: OutputError | None = None
    if args.json is not None:
        try:
            document = to_json(reports, total_budget=args.max_total_size)
            if summary is not None:
                document["set"] = summary.to_json()
            write_json(args.json, document)
        except OutputError as exc:
            json_error = exc
    if args.html is not None and reports:
        try:
            write_html(args.html, shrink_html(reports, total_budget=args.max_total_size, summary=summary))
        except OutputError as exc:
            json_error = json_error or exc
    if not args.quiet:
        show_each(view, (renderables(report, verbose=args.verbose, safe=view.safe) for report in reports))
    if len(reports) > 1 or args.max_total_size is not None or (args.quiet and reports):
        view.show(total_renderable(reports, args.max_total_size, safe=view.safe))
    if summary is not None:
        view.show(summary.renderable(view.safe))
    if args.dry_run and reports:
        view.print("dry run: nothing was written", style="dim")
    for line in [
        *over_budget_messages(reports, args.max_total_size),
        *(summary.over_budget_messages() if summary else []),
    ]:
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
