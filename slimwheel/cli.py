"""Command line: the top-level parser, assembled from the command modules, and exit codes. Nothing else lives here.

Each command is a module of its own, ``cli_<command>.py``, with its parser (``add_parser``) and its work
(``execute``); what they share is in :mod:`slimwheel.cli_common`. They are modules beside this one, not a
subpackage, so that the portability scan (``tests/test_portability.py``) still sees them.

Output: the human report goes to standard output, or to standard error when ``--json -`` puts the JSON on standard
output; errors, notes and broken budgets always go to standard error. What the streams can show (encodings, a
terminal or a log, their width) is :mod:`slimwheel.console`'s business; output files are :mod:`slimwheel.outputs`'.

Exit codes: 0 success; 1 internal error (a bug); 2 bad command line, bad input wheel, unusable output, or a
check that can't be used (fails with the original wheels, passes without them, flaky); 3 a --max-size /
--max-total-size budget is exceeded, or ``diff --max-growth``; 4 ``--verify``: the check failed on the result of a
lock replay (nothing written); 130 interrupted (with --check: after writing the best verified result).

Must not know: any command's options or work, zip files, or how a report is laid out.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from . import __version__, cli_build, cli_cache, cli_diff, cli_emulator, cli_inspect, cli_rules, cli_shrink, interrupts
from .cli_common import Command, Parser
from .cli_shrink import progress_line as progress_line
from .config import COMMANDS as CONFIG_COMMANDS
from .config import explicit_dests, merge, project_settings
from .console import make_console, safe_streams
from .errors import ExitCode, SlimwheelError

#: The commands, in the order ``slimwheel -h`` lists them.
COMMANDS: tuple[Command, ...] = (cli_inspect, cli_diff, cli_shrink, cli_rules, cli_build, cli_cache, cli_emulator)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="slimwheel", description="Make Python wheels small: prune, strip, repack, report.")
    parser.add_argument("-V", "--version", action="version", version=f"slimwheel {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    interrupts.reset()
    interrupts.install()  # a Ctrl-C is remembered, so that one swallowed where it landed still stops a trial
    with safe_streams():  # what a stream can't encode is written as ASCII, never a UnicodeEncodeError
        parser = build_parser()
        args = parser.parse_args(argv)
        out = make_console(sys.stdout)
        err = make_console(sys.stderr)
        try:
            args.sources = _project_settings(parser, args, argv)
            command = next(c for c in COMMANDS if args.command == c.NAME)
            return command.execute(args, out, err)
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


if __name__ == "__main__":
    sys.exit(main())
