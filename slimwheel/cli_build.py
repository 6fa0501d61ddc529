"""``slimwheel build``: recipes → slim wheels for each platform, within their budgets; a table of the outcomes.

Guarantees: an unknown ``--platform`` or a bad recipe is refused (exit 2) before anything is fetched or the output
directory is touched; every recipe and platform gets a row, a failed one with its error on standard error too (exit
2), a broken budget a line on standard error (exit 3, unless something failed).
Must not know: zip files, how a wheel is fetched, built or shrunk (:mod:`slimwheel.build`), or how the table and
the JSON are laid out (:mod:`slimwheel.report`).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from .build import BuildOptions, build
from .buildreport import build_json, build_table
from .cli_common import add_jobs, report_console, show_each, write_json
from .console import AppConsole, progress_display
from .errors import ExitCode
from .prepared import prepare_output_dir
from .recipe import find_project_defaults, load_recipe
from .report import renderables
from .tags import platform_info
from .units import human_size

if TYPE_CHECKING:
    from .cli_common import Subparsers

NAME = "build"


def add_parser(sub: Subparsers) -> None:
    bld = sub.add_parser(NAME, help="build slim wheels from recipes for each platform, within their budgets")
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
    add_jobs(bld)
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


def execute(args: argparse.Namespace, out: AppConsole, err: AppConsole) -> int:
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
    view = report_console(args, out, err)
    with progress_display(view, "starting …") as display:
        results = build(recipes, options, display.update)
    if args.json is not None:
        write_json(args.json, build_json(results))
    if not args.quiet:
        show_each(view, (renderables(report, safe=view.safe) for r in results for report in r.reports))
    view.show(build_table(results, safe=view.safe))
    for result in results:
        if result.error:
            err.plain_line(f"slimwheel: error: {result.recipe} [{result.platform}]: {result.error}")
    for result in results:
        for report in result.reports:
            if report.over_budget and result.budget is not None:
                wheel = f" {Path(report.input).name}" if result.distributions else ""
                err.plain_line(
                    f"slimwheel: over budget: {result.recipe} [{result.platform}]{wheel} is "
                    f"{human_size(report.after.archive)}, over its budget {human_size(result.budget)}"
                )
    if any(r.error for r in results):
        return int(ExitCode.BAD_INPUT)
    if any(r.over_budget for r in results):
        return int(ExitCode.OVER_BUDGET)
    return 0
