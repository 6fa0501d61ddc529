"""``--debug-symbols DIR``: the debug symbols of a wheel's stripped ELF files, and the separate debug files the plan
removed, kept in a directory on the side for crash reports from the field.

The strip stage (:mod:`slimwheel.strip`, :mod:`slimwheel.binaries`) made a debug file for every ELF file it stripped
and verified (``objcopy --only-keep-debug`` of the original); :func:`keep_debug_symbols` moves those of the files
the output ships into ``DIR``:

* ``DIR/.build-id/NN/REST.debug``, ``NN`` the first byte of the file's GNU build-id in hex and ``REST`` the rest: the
  layout gdb (``set debug-file-directory DIR``), elfutils and debuginfod read;
* a file without a build-id: ``DIR/<file name>-<sha256 of the shipped file, 16 hex>.debug``, and a warning (no
  tool finds it by itself; ``--debuglink`` names it ``<file name>.debug`` for gdb to find beside the library);
* removed files of the debug-files category (rule SW007: ``.pdb``, ``.debug``, ``.dwo``, ...): under their archive
  path in ``DIR``, sanitized.

What it guarantees: nothing is written outside ``DIR`` (names are built from hex digits or sanitized archive path
parts, and a directory inside ``DIR`` that resolves outside it — a symlink — is refused); each file is written to a
temporary file beside its destination and renamed into place, so a reader never sees half a file; contents are
streamed (bounded memory). A stripped file whose strip was refused or reverted has no debug file (the strip stage
made none), nor has one that the output does not ship (removed by the trial or a lock). The shipped wheel is not
changed here. A dry run (``write=False``) writes nothing and reports what it would keep. What it must not know:
zip files, plans, checks, how debug files are made.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path

from .binaries import FileStripResult, FileView, StripStatus, build_id, detect_format
from .contents import Entry
from .errors import OutputError
from .outputs import writable_directory
from .report import DebugFileKept, DebugSymbols

_MAX_NAME = 200  # characters of a file name kept in a debug file's name (file systems allow 255 bytes)


def keep_debug_symbols(
    directory: Path,
    shipped: Sequence[Entry],
    strip_results: Mapping[str, FileStripResult],
    removed: Iterable[Entry],
    *,
    write: bool = True,
) -> tuple[DebugSymbols, list[str]]:
    """Keep in ``directory`` the debug files of the ``shipped`` entries that were stripped, and copies of the
    ``removed`` debug files; what was kept, and the warnings for the report. :class:`OutputError` if ``directory``
    can't be written."""
    files: list[DebugFileKept] = []
    warnings: list[str] = []
    if write:
        writable_directory(directory, "--debug-symbols directory")
    by_path = {e.path: e for e in shipped}
    for path, result in sorted(strip_results.items()):
        entry = by_path.get(path)
        if entry is None or result.status is not StripStatus.STRIPPED:
            continue
        if result.debug is None:
            if result.debug_problem is not None:
                warnings.append(f"debug symbols of {path} not kept: {result.debug_problem}")
            continue
        bid = result.debug.build_id
        if bid is not None:
            relative = f".build-id/{bid[:2]}/{bid[2:]}.debug"
        else:
            relative = f"{_safe_part(path.rsplit('/', 1)[-1])}-{_sha256(entry.chunks())[:16]}.debug"
            warnings.append(
                f"{path} has no GNU build-id: its debug symbols are {relative} in {directory} (named by the "
                "shipped file's sha256; no debugger finds them by build-id)"
            )
        if write:
            _write(directory, relative, _file_chunks(result.debug.path))
        files.append(DebugFileKept(path, relative, bid, result.debug.size))
    for entry in sorted(removed, key=lambda e: e.path):
        inside = _archive_relative(entry.path)
        if inside is None:
            warnings.append(f"debug file {entry.path} not kept: its path names no file")
            continue
        if write:
            _write(directory, inside, entry.chunks())
        files.append(DebugFileKept(entry.path, inside, _build_id_of(entry), entry.size))
    return DebugSymbols(str(directory), files, written=write), warnings


def _archive_relative(path: str) -> str | None:
    """``path`` (an archive path) as a relative path inside the directory: no empty, ``.`` or ``..`` parts, no
    backslashes, colons or NULs (``None`` if nothing is left)."""
    parts = [_safe_part(p) for p in path.split("/") if p not in ("", ".", "..")]
    return "/".join(parts) if parts else None


def _safe_part(name: str) -> str:
    for bad in ("\\", ":", "\0"):
        name = name.replace(bad, "_")
    name = name[:_MAX_NAME]
    return "_" if name in ("", ".", "..") else name


def _build_id_of(entry: Entry) -> str | None:
    """The build-id of a removed debug file that is an ELF file on disk (a ``.debug``), else ``None``."""
    if entry.file is None or detect_format(entry.head()) is None:
        return None
    with FileView(entry.file) as view:
        return build_id(view)


def _sha256(chunks: Iterable[bytes]) -> str:
    h = hashlib.sha256()
    for block in chunks:
        h.update(block)
    return h.hexdigest()


def _file_chunks(path: Path, size: int = 1 << 20) -> Iterator[bytes]:
    with path.open("rb") as fh:
        while block := fh.read(size):
            yield block


def _write(directory: Path, relative: str, chunks: Iterable[bytes]) -> None:
    """Write ``chunks`` to ``directory/relative`` atomically (a temporary file beside it, renamed), never outside
    ``directory``."""
    parts = relative.split("/")
    dest = directory.joinpath(*parts)
    try:
        root, parent = directory.resolve(), directory
        for part in parts[:-1]:  # one level at a time: a symlink inside the directory must not lead out of it
            parent = parent / part
            if not parent.resolve().is_relative_to(root):
                raise OutputError(f"--debug-symbols: {parent} leads outside {directory}; nothing written there")
            parent.mkdir(exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name[:64]}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                for block in chunks:
                    fh.write(block)
            os.chmod(tmp, 0o644)
            os.replace(tmp, dest)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise OutputError(f"--debug-symbols: can't write {dest}: {exc.strerror or exc}") from None
