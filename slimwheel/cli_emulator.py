"""``slimwheel emulator prepare aarch64``: an emulated CPython (qemu-user) to pass as ``--python``, so checks of
``linux_aarch64`` wheels run on an x86-64 machine.

Guarantees: on success, the interpreter's path as the last line of standard output; a second run says it is already
prepared. Must not know: how the emulator is made (:mod:`slimwheel.emulator`).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from .console import AppConsole
from .emulator import ARCHITECTURES, prepare
from .options import default_cache_dir

if TYPE_CHECKING:
    from .cli_common import Subparsers

NAME = "emulator"


def add_parser(sub: Subparsers) -> None:
    emu = sub.add_parser(NAME, help="prepare an emulated Python (qemu-user) to check wheels of another architecture")
    actions = emu.add_subparsers(dest="action", required=True, metavar="ACTION")
    prep = actions.add_parser("prepare", help="fetch the architecture's CPython (Debian packages) and a qemu wrapper")
    prep.add_argument("architecture", choices=sorted(ARCHITECTURES), help="the architecture to emulate")
    prep.add_argument("--python", default="3.11", metavar="X.Y", help="the CPython version (default 3.11)")
    prep.add_argument("--cache-dir", type=Path, help="the cache directory (default ~/.cache/slimwheel)")


def execute(args: argparse.Namespace, out: AppConsole, err: AppConsole) -> int:
    """Prepare (or find) the emulated interpreter; print its path, to pass as ``--python``."""
    cache_dir = args.cache_dir or default_cache_dir()
    done = prepare(args.architecture, args.python, cache_dir)
    status = "already prepared" if done.already else "prepared"
    out.plain_line(f"{status}: {args.architecture} CPython {args.python} under emulation; use --python {done.python}")
    out.plain_line(str(done.python))
    return 0
