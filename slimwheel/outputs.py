"""Writing an output file (a JSON report, a lock) to a path the user named, whatever that path is.

:func:`write_output` is the one place that does it:

* a regular file (or a new one) is replaced atomically: a temporary file beside it, then :func:`os.replace`;
  a new file gets the usual permissions (0o666 less the umask), a replaced one keeps its mode;
* a symlink is never replaced: it is resolved and the rule applied to its target (a dangling one creates it);
* anything else that can be written (a FIFO, a character device such as ``/dev/stdout``) is opened and written
  in place — never renamed over;
* ``-`` is not a file name here: :func:`is_stdout` tells the caller, which writes to standard output itself.

Errors are :class:`OSError`; callers turn them into their own one-line messages. It knows nothing of what the
bytes mean.
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from .errors import OutputError

__all__ = ["STDOUT", "is_stdout", "writable_directory", "write_output"]

#: The name that means standard output (``--json -``).
STDOUT = "-"


def is_stdout(target: str | os.PathLike[str]) -> bool:
    """``target`` is ``-``: the caller writes to standard output instead of a file."""
    return os.fspath(target) == STDOUT


def write_output(target: str | os.PathLike[str], data: bytes, *, make_parents: bool = False) -> None:
    """Write ``data`` to ``target`` as described in the module docstring; ``make_parents`` creates missing
    parent directories of a new regular file."""
    path = Path(os.path.realpath(target))  # every symlink resolved: the rules apply to what it points to
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        mode = None
    if mode is None or stat.S_ISREG(mode):
        if make_parents:
            path.parent.mkdir(parents=True, exist_ok=True)
        _replace_atomically(path, data, None if mode is None else stat.S_IMODE(mode))
    elif stat.S_ISDIR(mode):
        raise IsADirectoryError(21, "Is a directory", str(target))
    else:
        _write_in_place(path, data)


def _replace_atomically(path: Path, data: bytes, keep_mode: int | None) -> None:
    temp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask applies, as for any new file
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if keep_mode is not None:
            os.chmod(temp, keep_mode)  # not os.fchmod: Windows has no fchmod before Python 3.13
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def _write_in_place(path: Path, data: bytes) -> None:
    """A FIFO, a terminal, ``/dev/null``...: open it as it is and write; it is never created or replaced."""
    fd = os.open(path, os.O_WRONLY | getattr(os, "O_NOCTTY", 0))
    with os.fdopen(fd, "wb") as handle:
        view = memoryview(data)
        while view:
            view = view[handle.write(view) or 0 :]
        handle.flush()


def writable_directory(directory: Path, what: str) -> None:
    """Create ``directory`` (and its parents) if missing; an :class:`OutputError` of one line, naming it as
    ``what`` (``"output directory"``), if that fails or it can't be written to."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"can't create {what} {directory}: {exc.strerror or exc}") from None
    if not directory.is_dir() or not os.access(directory, os.W_OK | os.X_OK):
        raise OutputError(f"{what} {directory} is not writable")
