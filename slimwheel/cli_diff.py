"""``slimwheel diff OLD NEW``: what changed in size between two wheels, and ``--max-growth`` as a CI gate.

OLD and NEW are two wheel files, or two directories whose ``*.whl`` files are paired by project
(:func:`slimwheel.diff.pair_wheels`): each pair is diffed, a wheel of one side only is listed, and ``--max-growth``
applies to the sums of each side.

Guarantees: every wheel is read (and a bad one refused, exit 2, one line) before anything is shown; the JSON
(``--json FILE``, or ``-`` for standard output, the tables then going to standard error) and the page
(``--html FILE``, :mod:`slimwheel.htmlreport`) are written atomically;
``--max-growth SIZE|PCT`` exceeded ends with exit 3 and one line on standard error saying by how much NEW grew and
by how much that is over the budget (the JSON and the report are still written first).
Must not know: zip files (wheels are opened by :func:`slimwheel.contents.read_wheel`, the one place that does),
how paths are matched or sizes summed (:mod:`slimwheel.diff`), or how the report is laid out
(:mod:`slimwheel.diffreport`).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text

from .cli_common import add_limits, expand_wheel_args, limits, positive, report_console, show_each, write_json
from .console import AppConsole
from .contents import Limits, read_wheel
from .diff import (
    Limit,
    Measure,
    SetDiff,
    WheelDiff,
    WheelSummary,
    diff_wheels,
    gate,
    pair_wheels,
    parse_limit,
    summarize,
)
from .diffreport import renderables, set_json, set_renderables, to_json
from .errors import ExitCode, UsageError
from .htmlreport import diff_html, write_html

if TYPE_CHECKING:
    from .cli_common import Subparsers

NAME = "diff"


def _limit(text: str) -> Limit:
    try:
        return parse_limit(text)
    except UsageError as exc:
        raise argparse.ArgumentTypeError(exc.message) from None


def add_parser(sub: Subparsers) -> None:
    dif = sub.add_parser(
        NAME,
        help="show what changed in size between two wheels (per category, directory, file); gate on growth",
    )
    dif.add_argument(
        "old",
        type=Path,
        metavar="OLD",
        help="the wheel before (the previous release, the input), or a directory of wheels",
    )
    dif.add_argument(
        "new",
        type=Path,
        metavar="NEW",
        help="the wheel after (this release, the output), or a directory of wheels (paired with OLD's by project)",
    )
    dif.add_argument(
        "--json",
        metavar="FILE",
        help="also write the diff as JSON (schema-versioned) to FILE; '-' for standard output (the tables then go "
        "to standard error)",
    )
    dif.add_argument(
        "--html",
        metavar="FILE",
        help="also write one self-contained HTML page: OLD and NEW as treemaps side by side, coloured by growth, "
        "and a searchable table of every file",
    )
    dif.add_argument("--top", type=positive, default=10, metavar="N", help="rows per table (default 10)")
    dif.add_argument(
        "--max-growth",
        type=_limit,
        metavar="SIZE|PCT",
        help="exit 3 if NEW is more than this bigger than OLD: a size (2MB, 1.5MiB) or a percentage of OLD (5%%); "
        "measured on the wheel file's bytes, or with --by installed on the installed bytes",
    )
    dif.add_argument(
        "--by",
        choices=[str(m) for m in Measure],
        default=str(Measure.COMPRESSED),
        help="the size that orders the tables and that --max-growth measures (default: compressed)",
    )
    add_limits(dif)


def execute(args: argparse.Namespace, out: AppConsole, err: AppConsole) -> int:
    measure = Measure(args.by)
    wheel_limits = limits(args)
    shown = report_console(args, out, err)
    diff: WheelDiff | SetDiff
    if _is_dir(args.old) and _is_dir(args.new):
        diff = _diff_directories(args.old, args.new, wheel_limits)
        views = set_renderables(diff, measure=measure, top=args.top, safe=shown.safe)
    elif _is_dir(args.old) or _is_dir(args.new):
        raise UsageError("diff: OLD and NEW must both be wheel files, or both directories of wheels")
    else:
        diff = _diff_files(args.old, args.new, wheel_limits)
        views = [renderables(diff, measure=measure, top=args.top, safe=shown.safe)]
    verdict = None if args.max_growth is None else gate(diff, args.max_growth, measure)
    if args.json is not None:
        if isinstance(diff, SetDiff):
            write_json(args.json, set_json(diff, measure=measure, top=args.top, gate=verdict))
        else:
            write_json(args.json, to_json(diff, measure=measure, top=args.top, gate=verdict))
    if args.html is not None:
        write_html(args.html, diff_html(diff, measure))
    if verdict is not None and shown is out:
        style = "bold red" if verdict.exceeded else "green"
        views[-1].append(Text(shown.safe(verdict.message()), style=style))
    show_each(shown, views)
    if verdict is not None and verdict.exceeded:
        err.plain_line(f"slimwheel: {verdict.message()}")
        return int(ExitCode.OVER_BUDGET)
    return 0


def _is_dir(path: Path) -> bool:
    return path.is_dir() and path.suffix != ".whl"  # a directory named *.whl is refused as a bad wheel


def _diff_files(old_path: Path, new_path: Path, wheel_limits: Limits) -> WheelDiff:
    """Both wheels read (a bad one refused) before anything is compared; both closed afterwards."""
    old = read_wheel(old_path, limits=wheel_limits, allow_bad_record=True)
    try:
        new = read_wheel(new_path, limits=wheel_limits, allow_bad_record=True)
        try:
            return diff_wheels(old, new)
        finally:
            new.close()
    finally:
        old.close()


def _diff_directories(old_dir: Path, new_dir: Path, wheel_limits: Limits) -> SetDiff:
    """The ``*.whl`` of each directory paired by project; each pair diffed, every other wheel read for its sizes."""
    old_files = {p.name: p for p in expand_wheel_args([old_dir])}
    new_files = {p.name: p for p in expand_wheel_args([new_dir])}
    paired = pair_wheels(old_files, new_files)
    diffs = [_diff_files(old_files[a], new_files[b], wheel_limits) for a, b in paired.pairs]
    return SetDiff(
        diffs=tuple(diffs),
        removed=tuple(_summary_of(old_files[n], wheel_limits) for n in paired.removed),
        added=tuple(_summary_of(new_files[n], wheel_limits) for n in paired.added),
    )


def _summary_of(path: Path, wheel_limits: Limits) -> WheelSummary:
    wheel = read_wheel(path, limits=wheel_limits, allow_bad_record=True)
    try:
        return summarize(wheel)
    finally:
        wheel.close()
