"""Errors that end a command with a documented exit code and one clear line, never a traceback."""

from __future__ import annotations

import difflib
from collections.abc import Collection
from enum import IntEnum


class ExitCode(IntEnum):
    """The exit codes slimwheel documents (README, "Exit codes")."""

    OK = 0
    FAILURE = 1  # an unexpected internal error: a bug in slimwheel
    BAD_INPUT = 2  # bad command line, bad input wheel, unusable output directory
    OVER_BUDGET = 3  # a --max-size / --max-total-size budget is exceeded, or diff --max-growth
    CHECK_FAILED = 4  # --verify: the check fails on the result of a lock replay (nothing written)
    INTERRUPTED = 130  # Ctrl-C


class SlimwheelError(Exception):
    """An error the user can act on; its message is one line."""

    exit_code: ExitCode = ExitCode.BAD_INPUT

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))  # always one line

    @property
    def message(self) -> str:
        return str(self.args[0])


class BadWheel(SlimwheelError):
    """The input is not a wheel slimwheel can safely read."""

    def __init__(self, source: str, problem: str) -> None:
        super().__init__(f"{source}: {problem}")
        self.source = source
        self.problem = problem


class UsageError(SlimwheelError):
    """A bad option or combination of options."""


class OutputError(SlimwheelError):
    """The output location can't be used (unwritable, same as the input, ...)."""


class VerifyFailed(SlimwheelError):
    """The check failed on the result of a lock replay (``--verify``); nothing was written."""

    exit_code = ExitCode.CHECK_FAILED


class RecipeError(UsageError):
    """A recipe or ``[tool.slimwheel]`` table that can't be used; the message names the file, line and key."""


def did_you_mean(word: str, known: Collection[str]) -> str:
    """``; did you mean 'strip'?`` for the closest of ``known`` to ``word`` (case aside), or ``""``: the end of a
    one-line error about an unknown name."""
    lowered = {k.lower(): k for k in known}
    close = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.6)
    return f"; did you mean {lowered[close[0]]!r}?" if close else ""
