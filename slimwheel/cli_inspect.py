"""``slimwheel inspect``: where a wheel's bytes are, as tables and (``--json``) as schema-versioned JSON.

Guarantees: every wheel is read before anything is shown or written (``--json``, ``--html``), so a bad one
(exit 2) leaves no partial report; the deprecated forms ``--json`` alone and ``--json x.whl`` still work as they
did, with a note for the first.
Must not know: zip files. The one place the command line opens a wheel is here, through
:func:`slimwheel.contents.read_wheel`, because inspecting is nothing but reading one; the figures and views come
from :mod:`slimwheel.inspection`.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from .cli_common import (
    BARE_JSON,
    add_limits,
    add_project,
    expand_wheel_args,
    limits,
    positive,
    report_console,
    show_each,
    write_json,
)
from .console import AppConsole
from .contents import read_wheel
from .errors import UsageError
from .htmlreport import inspect_html, write_html
from .inspection import inspect_wheel
from .inspection import renderables as inspection_renderables
from .inspection import to_json as inspection_json
from .outputs import is_stdout

if TYPE_CHECKING:
    from .cli_common import Subparsers

NAME = "inspect"


def add_parser(sub: Subparsers) -> None:
    ins = sub.add_parser(NAME, help="show where a wheel's bytes are")
    ins.add_argument("wheels", nargs="*", type=Path, metavar="WHEEL", help="wheel files, or directories of them")
    ins.add_argument(
        "--json",
        nargs="?",
        const=BARE_JSON,
        metavar="FILE",
        help="also write the inspection as JSON (schema-versioned) to FILE; '-' for standard output (the tables "
        "then go to standard error)",
    )
    ins.add_argument(
        "--html",
        metavar="FILE",
        help="also write one self-contained HTML page to FILE: a treemap of the installed bytes by category and "
        "a searchable table of every file",
    )
    ins.add_argument("--top", type=positive, default=15, help="how many of the largest files to list (default 15)")
    ins.add_argument("--depth", type=positive, default=3, help="depth of the size tree (default 3)")
    add_limits(ins)
    add_project(ins)


def execute(args: argparse.Namespace, out: AppConsole, err: AppConsole) -> int:
    if args.json is not None and args.json != BARE_JSON and (args.json.endswith(".whl") or Path(args.json).is_dir()):
        args.wheels.insert(0, Path(args.json))  # "inspect --json x.whl": the old flag followed by a wheel
        args.json = BARE_JSON
    if not args.wheels:
        raise UsageError("inspect: give at least one WHEEL (a wheel file or a directory of them)")
    if args.html is not None and is_stdout(args.html):
        raise UsageError("--html needs a file name: a page is a file to open, not for standard output")
    wheel_limits = limits(args)
    results = [
        inspect_wheel(read_wheel(p, limits=wheel_limits, allow_bad_record=True), top=args.top)
        for p in expand_wheel_args(args.wheels)
    ]
    if args.html is not None:
        write_html(args.html, inspect_html(results))
    if args.json == BARE_JSON:
        err.plain_line("slimwheel: note: a bare --json is deprecated; use --json - (JSON on standard output)")
        write_json("-", inspection_json(results))
        return 0
    if args.json is not None:
        write_json(args.json, inspection_json(results))
    shown = report_console(args, out, err)
    show_each(shown, (inspection_renderables(item, depth=args.depth, safe=shown.safe) for item in results))
    return 0
