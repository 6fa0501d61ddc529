"""``slimwheel cache``: what slimwheel's cache holds (journals, check environments), or ``--clear`` a part of it.

Guarantees: one line per part of the cache, or per part cleared, on standard output.
Must not know: the cache's layout (:mod:`slimwheel.cache`).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from .cache import CLEARABLE
from .cache import clear as cache_clear
from .cache import usage as cache_usage
from .console import AppConsole
from .options import default_cache_dir
from .units import human_size

if TYPE_CHECKING:
    from .cli_common import Subparsers

NAME = "cache"


def add_parser(sub: Subparsers) -> None:
    cch = sub.add_parser(NAME, help="show what slimwheel's cache holds (journals, check environments), or clear it")
    cch.add_argument(
        "--clear",
        nargs="?",
        const="all",
        choices=CLEARABLE,
        help="delete one part of the cache, or all of it (the default)",
    )
    cch.add_argument("--cache-dir", type=Path, help="the cache directory (default ~/.cache/slimwheel)")


def execute(args: argparse.Namespace, out: AppConsole, err: AppConsole) -> int:
    """One line per part of the cache (count, bytes); ``--clear``: what was deleted."""
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
