"""What the user's check is: a script or a command line, and what identifies it for the journal and for locks.

``--check SCRIPT`` and ``--check-cmd CMD`` (and a recipe's ``check`` table) become a :class:`Check`: the argv to
run against each candidate, ``python`` standing for the check environment's interpreter. :meth:`Check.identity`
changes whenever the check or a file it names changes (a resumed trial must not reuse another check's answers);
:meth:`Check.fingerprint` and :func:`checks_fingerprint` are the same on any machine (what a committed lock
records). :func:`checks_run_here` and :data:`WINDOWS_CHECKS` say where checks can run at all.

This module only describes a check: it never runs one, and knows nothing of environments, candidate trees or
wheels (that is :mod:`slimwheel.sandbox`), so a recipe can name its checks without importing the sandbox.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import SlimwheelError

__all__ = ["WINDOWS_CHECKS", "Check", "CheckError", "checks_fingerprint", "checks_run_here"]


class CheckError(SlimwheelError):
    """A check can't be run: a missing script, an unusable interpreter, a requirement that won't install."""


#: Why no check runs on Windows, and what to do there instead.
WINDOWS_CHECKS = (
    "checks (--check/--check-cmd) run on Linux (and other POSIX systems), not on Windows; "
    "on Windows replay a lock learned on Linux with --lock (and --verify on Linux)"
)


def checks_run_here() -> bool:
    """Whether this operating system can run checks (process groups, hard links, ``fcntl``): not on Windows."""
    return sys.platform != "win32"


@dataclass(frozen=True)
class Check:
    """What to run against each candidate. ``argv[0] == "python"`` means the environment's interpreter."""

    argv: tuple[str, ...]
    label: str

    @staticmethod
    def script(path: Path) -> Check:
        """``--check SCRIPT``: run the script with the environment's Python."""
        path = Path(path)
        if not path.is_file():
            raise CheckError(f"check script {path} {'is not a file' if path.exists() else 'does not exist'}")
        return Check(("python", str(path.resolve())), path.name)

    @staticmethod
    def command(cmd: str) -> Check:
        """``--check-cmd CMD``: a command line, split like a POSIX shell would (no shell runs it).

        The check runs in an empty directory, so arguments naming files or directories that exist relative to
        the current directory are made absolute (``python tests/smoke.py`` works). ``python`` is the
        environment's interpreter; other programs are looked up on the candidate's ``bin``, then the
        environment's, then ``PATH``.
        """
        try:
            argv = shlex.split(cmd)
        except ValueError as exc:
            raise CheckError(f"can't parse the check command {cmd!r}: {exc}") from None
        if not argv:
            raise CheckError("the check command is empty")
        for i, arg in enumerate(argv):
            if arg.startswith("-") or os.path.isabs(arg) or (i == 0 and "/" not in arg):
                continue
            if os.path.exists(arg):
                argv[i] = os.path.abspath(arg)
        return Check(tuple(argv), cmd)

    def identity(self) -> str:
        """A digest of the command and of every file it names: editing the script changes it."""
        digest = hashlib.sha256(json.dumps(self.argv).encode("utf-8", "surrogateescape"))
        for arg in self.argv:
            if os.path.isabs(arg) and os.path.isfile(arg):
                digest.update(b"\0file\0" + os.fsencode(arg) + b"\0")
                with open(arg, "rb") as handle:
                    for block in iter(lambda: handle.read(1 << 20), b""):
                        digest.update(block)
        return digest.hexdigest()

    def fingerprint(self) -> str:
        """Like :meth:`identity`, but the same on any machine: files the command names count by their name and
        content, not their absolute path (what a lock records, so a committed lock matches its recipe's check
        in any checkout)."""
        parts = []
        for arg in self.argv:
            if os.path.isabs(arg) and os.path.isfile(arg):
                with open(arg, "rb") as handle:
                    parts.append(f"{os.path.basename(arg)}#{hashlib.file_digest(handle, 'sha256').hexdigest()}")
            else:
                parts.append(arg)
        return hashlib.sha256(json.dumps(parts).encode("utf-8", "surrogateescape")).hexdigest()


def checks_fingerprint(checks: Sequence[Check]) -> str:
    """The fingerprint of a list of checks (see :meth:`Check.fingerprint`), for locks."""
    return "; ".join(check.fingerprint() for check in checks)
