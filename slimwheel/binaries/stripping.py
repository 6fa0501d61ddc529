"""Stripping one native binary safely: decide whether to, try the strip tools in order, repair what they are known
to get wrong (misaligned empty PT_LOADs, the PE timestamp), and keep an output only if :func:`verify_stripped`
accepts it.

What it guarantees: :func:`strip_binary` (bytes) and :func:`strip_file` (a file on disk; the checks read it in
pieces) never raise. Anything doubtful keeps the original: Mach-O files and Authenticode-signed PE files are never
modified, and a tool that fails, times out or writes a file that does not verify leaves the original in place
(``REVERTED``, with the first problem as reason) once every tool was tried. What it must not know: wheels,
archives, plans or reports; how a format is parsed (:mod:`.elf`, :mod:`.pe`) or verified (:mod:`.elfverify`,
:mod:`.peverify`) beyond asking.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol, TypeVar

from . import tools as _tools
from .debuginfo import SideDebug
from .detect import describe, detect_format
from .elf import ET_DYN, ET_EXEC, ET_NAMES, read_header, realign_empty_loads, realign_file
from .elfverify import verify_elf
from .model import (
    BinaryFormat,
    BinaryInfo,
    DebugRequest,
    FileStripResult,
    StripLevel,
    StripResult,
    StripStatus,
    StripTools,
)
from .pe import restore_pe_timestamp
from .peverify import verify_pe
from .reading import FileView, Image, Malformed, first_line

_OPTIONS = {StripLevel.DEBUG: "--strip-debug", StripLevel.UNNEEDED: "--strip-unneeded"}
_STRIPPABLE_ELF_TYPES = (ET_EXEC, ET_DYN)


def verify_stripped(original: Image, stripped: Image) -> str | None:
    """Check that ``stripped`` loads like ``original``: ``None`` if so, else a one-line problem."""
    fmt = detect_format(original[:4096])
    if fmt is None:
        return "original is not a native binary"
    if detect_format(stripped[:4096]) is not fmt:
        return f"stripped file is no longer {fmt.name}"
    try:
        if fmt is BinaryFormat.ELF:
            return verify_elf(original, stripped)
        if fmt is BinaryFormat.PE:
            return verify_pe(original, stripped)
    except Exception as exc:
        return f"verification failed: {type(exc).__name__}: {first_line(str(exc))}"
    return f"{fmt.name} files cannot be verified"


def _nothing_to_strip(info: BinaryInfo, level: StripLevel) -> str | None:
    if level is StripLevel.DEBUG and not info.has_debug:
        return "no debug sections" if info.format is BinaryFormat.ELF else "no debug sections to strip"
    if not (info.has_symbols or info.has_debug):
        return "no symbol table or debug sections" if info.format is BinaryFormat.ELF else "no symbols to strip"
    return None


def _preflight(data: Image, level: StripLevel, tools: StripTools | None) -> tuple[BinaryInfo, tuple[str, ...]] | str:
    """The binary and the tools to try on it, or why it is left as it is."""
    if level is StripLevel.NONE:
        return "strip level is none"
    info = describe(data)
    if info is None:
        return "not a native binary" if detect_format(data[:4096]) is None else "unparseable binary"
    if info.format is BinaryFormat.MACHO:
        return "Mach-O is left untouched"
    if info.format is BinaryFormat.PE and info.signed:
        return "Authenticode-signed: never modified"
    if info.format is BinaryFormat.ELF:
        try:
            e_type = read_header(data).e_type
        except Malformed:  # pragma: no cover - describe() already parsed the header
            return "unparseable binary"
        if e_type not in _STRIPPABLE_ELF_TYPES:
            kind = ET_NAMES.get(e_type, f"type {e_type}")
            return f"ELF {kind}: only executables and shared objects are stripped"
    nothing = _nothing_to_strip(info, level)
    if nothing is not None:
        return nothing
    installed = tools if tools is not None else _tools.find_strip_tools()
    candidates = _tools.tools_for(info, installed)
    label = "ELF" if info.format is BinaryFormat.ELF else f"PE {info.machine}"
    if not candidates:
        hint = "install binutils" if info.format is BinaryFormat.ELF else "install binutils or mingw-w64"
        if info.format is BinaryFormat.ELF and installed.elf:  # there are tools, none reads this machine
            label, hint = f"ELF {info.machine}", f"install binutils-{info.machine}-linux-gnu or llvm"
        return f"no strip tool for {label} installed ({hint})"
    return info, candidates


class _Output(Protocol):
    """One tool's output, checked against the original: held in memory, or a file on disk."""

    def size(self) -> int: ...
    def realign(self) -> int: ...  # ELF: realign empty PT_LOADs (how many)
    def restore_timestamp(self) -> None: ...  # PE: the original TimeDateStamp and a fresh CheckSum
    def problem(self) -> str | None: ...  # verify_stripped against the original
    def discard(self) -> None: ...


_O = TypeVar("_O", bound=_Output)


def _first_verified(
    info: BinaryInfo,
    candidates: tuple[str, ...],
    option: str,
    size: int,
    run: Callable[[int, str], _O],
    rename: tuple[str, str],
) -> tuple[_O | None, StripStatus, str]:
    """Run the candidates in turn (``run(n, tool)``): the first output that verifies, or ``None`` and why the
    original is kept. ``rename``: (how the tool names the file, how messages should)."""
    problems: list[str] = []
    for n, tool in enumerate(candidates):
        what = f"{Path(tool).name} {option}"
        try:
            output = run(n, tool)
        except Exception as exc:
            message = first_line(str(exc)).replace(*rename) or type(exc).__name__
            problems.append(f"{what} failed: {message}")
            continue
        if output.size() >= size:
            output.discard()
            return None, StripStatus.UNCHANGED, f"{what} saved nothing"
        if info.format is BinaryFormat.ELF:
            realigned = output.realign()
            if realigned:
                what += f" (+ {realigned} empty PT_LOAD offset(s) realigned)"
        else:
            output.restore_timestamp()
        problem = output.problem()
        if problem is not None:
            output.discard()
            problems.append(f"{what} broke the file: {problem}")
            continue
        return output, StripStatus.STRIPPED, what
    reason = problems[0]
    if len(problems) > 1:
        reason += f" (and {len(problems) - 1} more tool(s) failed)"
    return None, StripStatus.REVERTED, reason


class _InMemory:
    def __init__(self, original: bytes, data: bytes) -> None:
        self.original, self.data = original, data

    def size(self) -> int:
        return len(self.data)

    def realign(self) -> int:
        self.data, realigned = realign_empty_loads(self.data)
        return realigned

    def restore_timestamp(self) -> None:
        self.data = restore_pe_timestamp(self.original, self.data)

    def problem(self) -> str | None:
        return verify_stripped(self.original, self.data)

    def discard(self) -> None:
        pass


class _OnDisk:
    def __init__(self, original: FileView, path: Path) -> None:
        self.original, self.path = original, path

    def size(self) -> int:
        return self.path.stat().st_size

    def realign(self) -> int:
        return realign_file(self.path)

    def restore_timestamp(self) -> None:
        self.path.write_bytes(restore_pe_timestamp(self.original.read_all(), self.path.read_bytes()))

    def problem(self) -> str | None:
        with FileView(self.path) as stripped:
            return verify_stripped(self.original, stripped)

    def discard(self) -> None:
        self.path.unlink()


def strip_binary(data: bytes, name: str, level: StripLevel, tools: StripTools | None = None) -> StripResult:
    """Strip one native binary if that is safe, and return the bytes to ship. Never raises.

    ``tools`` defaults to :func:`find_strip_tools`. Every stripped output is checked with
    :func:`verify_stripped`; if a tool fails or its output does not verify, the next tool is tried, and if
    none succeeds the original bytes are returned with status ``REVERTED`` and the first problem as reason.
    """
    level = StripLevel(level)
    decided = _preflight(data, level, tools)
    if isinstance(decided, str):
        return StripResult(data, StripStatus.SKIPPED, decided, 0)
    info, candidates = decided
    option = _OPTIONS[level]

    def run(n: int, tool: str) -> _InMemory:
        return _InMemory(data, _tools.run_tool(tool, option, data))

    output, status, reason = _first_verified(info, candidates, option, len(data), run, ("input.bin", name))
    if output is None:
        return StripResult(data, status, reason, 0)
    return StripResult(output.data, status, reason, saved=len(data) - len(output.data))


def strip_file(
    source: Path,
    name: str,
    level: StripLevel,
    workdir: Path,
    tools: StripTools | None = None,
    debug: DebugRequest | None = None,
) -> FileStripResult:
    """:func:`strip_binary` for a file on disk: the tools write into ``workdir``, the checks read the files in
    pieces. The stripped file is ``result.path`` (``None``: keep the original). Never raises.

    ``debug``: an ELF file that is stripped (and verified) also gets its debug symbols copied aside from the
    original (``result.debug``, in ``workdir``; ``result.debug_problem`` if that failed: the strip stands). With
    ``debug.link`` each tool's output gets a ``.gnu_debuglink`` to that copy before it is verified; if the link
    can't be made, that output is refused like a tool failure. A file that is not stripped gets no debug file."""
    level = StripLevel(level)
    try:
        with FileView(source) as original:
            decided = _preflight(original, level, tools)
            if isinstance(decided, str):
                return FileStripResult(None, StripStatus.SKIPPED, decided, 0)
            info, candidates = decided
            option = _OPTIONS[level]
            elf = info.format is BinaryFormat.ELF
            side = SideDebug(source, name, workdir, debug.objcopy) if debug is not None and elf else None
            link = side is not None and debug is not None and debug.link

            def run(n: int, tool: str) -> _OnDisk:
                output = workdir / f"{source.name}.{n}.stripped"
                _tools.run_tool_on_file(tool, option, source, output)
                if link and side is not None:
                    try:
                        side.link(output)
                    except _tools.StripToolError as exc:
                        output.unlink(missing_ok=True)
                        raise _tools.StripToolError(f"can't add a .gnu_debuglink: {exc}") from None
                return _OnDisk(original, output)

            output, status, reason = _first_verified(info, candidates, option, len(original), run, (str(source), name))
            if output is None:
                return FileStripResult(None, status, reason, 0)
            kept, problem = None, None
            if side is not None:
                try:
                    kept = side.file()
                except _tools.StripToolError as exc:
                    problem = first_line(str(exc)).replace(str(source), name)
            reason += " + .gnu_debuglink" if link else ""
            return FileStripResult(output.path, status, reason, len(original) - output.size(), kept, problem)
    except OSError as exc:
        return FileStripResult(None, StripStatus.REVERTED, f"can't strip: {exc.strerror or exc}", 0)
