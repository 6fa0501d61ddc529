"""What the command modules (``cli_<command>.py``) share: the parser class, argument types and options used by more
than one command, where the human report goes, the JSON writer and the expansion of WHEEL arguments.

Guarantees: an argument that can't be used ends the program with exit 2 and one ``prog: error: … (see --help)``
line; a JSON report goes to a file atomically (:func:`~slimwheel.outputs.write_output`) or to standard output.
Must not know: any one command's options or work, zip files (the zip-bomb guard options only fill in a
:class:`slimwheel.contents.Limits`), or how a report is laid out.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, Protocol, TypeAlias

from rich.console import RenderableType

from .console import AppConsole, is_utf
from .contents import Limits
from .errors import ExitCode, OutputError, UsageError
from .outputs import is_stdout, write_output
from .units import parse_size

#: ``inspect --json`` with no FILE (deprecated): the JSON alone, on standard output.
BARE_JSON = "\0bare"


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: error: {message} (see --help)\n")
        raise SystemExit(ExitCode.BAD_INPUT)


if TYPE_CHECKING:
    Subparsers: TypeAlias = argparse._SubParsersAction[Parser]


class Command(Protocol):
    """A command module: ``NAME``, ``add_parser`` (its subcommand, options and help) and ``execute`` (its exit code).
    ``execute`` is looked up when the command runs."""

    NAME: str

    def add_parser(self, sub: Subparsers) -> None: ...

    def execute(self, args: argparse.Namespace, out: AppConsole, err: AppConsole) -> int: ...


def size(text: str) -> int:
    try:
        return parse_size(text)
    except UsageError as exc:
        raise argparse.ArgumentTypeError(exc.message) from None


def positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, not {text!r}")
    return int(text)


def add_jobs(p: argparse.ArgumentParser) -> None:
    p.add_argument("-j", "--jobs", type=positive, default=None, help="parallel jobs (default: number of cores)")


def add_project(p: argparse.ArgumentParser) -> None:
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


def add_limits(p: argparse.ArgumentParser) -> None:
    d = Limits()
    p.add_argument(
        "--max-unpacked-size",
        type=size,
        default=d.max_total_size,
        metavar="SIZE",
        help="refuse a wheel declaring more uncompressed bytes than this (zip-bomb guard; default 8GiB)",
    )
    p.add_argument(
        "--max-ratio",
        type=positive,
        default=d.max_ratio,
        metavar="N",
        help=f"refuse an entry over 1 MiB that compresses more than N:1 (default {d.max_ratio})",
    )
    p.add_argument(
        "--max-archive-ratio",
        type=positive,
        default=d.max_archive_ratio,
        metavar="N",
        help="refuse a wheel declaring over 100 MiB uncompressed and more than N times its own size "
        f"(zip-bomb guard; default {d.max_archive_ratio})",
    )


def limits(args: argparse.Namespace) -> Limits:
    return Limits(
        max_total_size=args.max_unpacked_size,
        max_entry_size=args.max_unpacked_size,
        max_ratio=args.max_ratio,
        max_archive_ratio=args.max_archive_ratio,
    )


def report_console(args: argparse.Namespace, out: AppConsole, err: AppConsole) -> AppConsole:
    """Where the human report goes: standard error when the JSON goes to standard output."""
    to_stdout = args.json is not None and (args.json == BARE_JSON or is_stdout(args.json))
    return err if to_stdout or is_stdout(getattr(args, "save_lock", None) or "") else out


def show_each(view: AppConsole, views: Iterable[Iterable[RenderableType]]) -> None:
    """Each group of renderables (one wheel's report), followed by a blank line."""
    for group in views:
        for r in group:
            view.show(r)
        view.show()


def write_json(target: str, data: object) -> None:
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


def expand_wheel_args(paths: Sequence[Path]) -> list[Path]:
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
