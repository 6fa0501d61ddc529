"""Strip tools: which are installed (:func:`find_strip_tools`), which fit a binary (:func:`tools_for`), and running
one on a file (:func:`run_tool_on_file`) or on bytes (:func:`run_tool`); the objcopy tools that keep debug symbols
aside (:func:`find_objcopy_tools`, :func:`run_objcopy`), found and run the same way.

What it guarantees: a tool runs with ``LC_ALL=C``, no stdin, in the output's directory (so its messages carry file
names, not temporary paths) and at most :data:`STRIP_TIMEOUT` seconds; anything that goes wrong is one
:class:`StripToolError` with a one-line message, and leaves no output file behind. The built-in streamed ELF
stripper (:mod:`.elfstrip`) is one more tool here, :data:`BUILTIN_ELF_STRIP`, run in this process. What it must
not know: how a binary is parsed or its output verified, wheels or archives.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from .elfstrip import ElfStripError, strip_sections
from .model import BinaryFormat, BinaryInfo, StripTools
from .reading import first_line

#: Seconds one strip tool may run on one file before it is killed.
STRIP_TIMEOUT = 300.0

#: The built-in, streamed ELF section stripper (:mod:`slimwheel.binaries.elfstrip`) as a strip "tool": tried after
#: GNU strip and before llvm-strip, which holds twice the file in memory.
BUILTIN_ELF_STRIP = "slimwheel-elfstrip"

_PEI_TARGETS = {"i386": "pei-i386", "x86_64": "pei-x86-64", "aarch64": "pei-aarch64-little"}
#: The BFD targets a binutils build must list to read an ELF file of a machine (as :mod:`.elf` names it). The
#: generic ``elf64-little`` that every build lists is not enough: Debian's x86 ``strip`` lists it and still can't
#: recognise an aarch64 file. Machines not named here are left to every tool (a failure is then reported).
_ELF_TARGETS = {
    "x86_64": ("elf64-x86-64",),
    "i386": ("elf32-i386",),
    "aarch64": ("elf64-littleaarch64", "elf64-bigaarch64"),
    "arm": ("elf32-littlearm", "elf32-bigarm"),
    "ppc64": ("elf64-powerpcle", "elf64-powerpc"),
    "s390x": ("elf64-s390",),
    "riscv64": ("elf64-littleriscv",),
}


class StripToolError(Exception):
    """A strip tool could not produce an output file; the message is one line (usually the tool's stderr)."""


def _run(argv: list[str], timeout: float, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``argv`` run to completion in the C locale, without stdin; its output captured as text."""
    return subprocess.run(
        argv,
        cwd=cwd,
        capture_output=True,
        text=True,
        errors="replace",
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "LC_ALL": "C"},
    )


def _tool_output(tool: str, *args: str) -> str | None:
    try:
        proc = _run([tool, *args], timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout + proc.stderr if proc.returncode == 0 else None


@functools.cache
def _tool_targets(tool: str) -> frozenset[str]:
    """BFD targets a binutils ``strip`` lists in ``--help`` (empty if it lists none, e.g. llvm-strip)."""
    for line in (_tool_output(tool, "--help") or "").splitlines():
        if "supported targets:" in line:
            return frozenset(line.split("supported targets:", 1)[1].split())
    return frozenset()


def _which_unique(names: Sequence[str], seen: set[str]) -> Iterator[str]:
    for name in names:
        path = shutil.which(name)
        if path is None:
            continue
        path = os.path.abspath(path)
        real = os.path.realpath(path)
        if real not in seen:
            seen.add(real)
            yield path


@functools.cache
def find_strip_tools() -> StripTools:
    """Strip tools installed on this machine, best first. Cached; empty tuples if there are none.

    For ELF, :data:`BUILTIN_ELF_STRIP` comes between GNU strip and llvm-strip (when any strip tool is installed).
    """
    gnu: list[str] = []
    llvm: list[str] = []
    seen: set[str] = set()
    llvm_names = ["llvm-strip", *(f"llvm-strip-{v}" for v in range(30, 9, -1))]
    for path in _which_unique(["strip", "x86_64-linux-gnu-strip", "aarch64-linux-gnu-strip", *llvm_names], seen):
        version = _tool_output(path, "--version") or ""
        if "llvm" in version.lower():  # llvm-strip says "compatible with GNU strip"
            if not llvm:
                llvm.append(path)
        elif "GNU strip" in version:
            gnu.append(path)
    elf = [t for t in gnu if not _tool_targets(t) or any(x.startswith("elf") for x in _tool_targets(t))]
    pe = [t for t in gnu if {"pei-x86-64", "pei-i386"} & _tool_targets(t)]
    for path in _which_unique(["x86_64-w64-mingw32-strip", "i686-w64-mingw32-strip"], seen):
        if _tool_output(path, "--version") is not None:
            pe.append(path)
    builtin = (BUILTIN_ELF_STRIP,) if elf or llvm else ()
    return StripTools(elf=(*elf, *builtin, *llvm), pe=tuple(pe))


def _reads_elf(tool: str, machine: str) -> bool:
    """Whether ``tool`` can read an ELF file of ``machine``: the built-in stripper and llvm-strip read every
    machine; a binutils ``strip`` only the machines of the targets it lists (one that lists none is tried)."""
    targets = _tool_targets(tool) if tool != BUILTIN_ELF_STRIP else frozenset()
    wanted = _ELF_TARGETS.get(machine)
    return not targets or wanted is None or any(target in targets for target in wanted)


def tools_for(info: BinaryInfo, tools: StripTools) -> tuple[str, ...]:
    """The tools to try on ``info``, best first: those that can't read its machine are left out, not tried."""
    if info.format is BinaryFormat.ELF:
        return tuple(t for t in tools.elf if _reads_elf(t, info.machine))
    if info.format is BinaryFormat.PE:
        # A binutils build that lists its targets but not this one cannot read the file: don't bother.
        target = _PEI_TARGETS.get(info.machine)
        return tuple(t for t in tools.pe if not _tool_targets(t) or target in _tool_targets(t))
    return ()


def run_tool(tool: str, option: str, data: bytes, timeout: float | None = None) -> bytes:
    """Run ``tool option -o output.bin input.bin`` in a private temporary directory; return the output.

    Raises :class:`StripToolError` (one-line message) if the tool fails, times out or writes no output.
    Thread-safe: every call has its own directory. The input is called ``input.bin`` in messages.
    ``timeout`` defaults to :data:`STRIP_TIMEOUT`.
    """
    with tempfile.TemporaryDirectory(prefix="slimwheel-strip-") as tmp:
        source, output = Path(tmp, "input.bin"), Path(tmp, "output.bin")
        source.write_bytes(data)
        run_tool_on_file(tool, option, source, output, timeout)
        return output.read_bytes()


def run_tool_on_file(tool: str, option: str, source: Path, output: Path, timeout: float | None = None) -> None:
    """Run ``tool option -o output source`` in ``output``'s directory (files there are named by their names, so
    the tool's messages don't carry temporary paths); :class:`StripToolError` (one line) if it fails or writes
    nothing. :data:`BUILTIN_ELF_STRIP` runs in this process (:func:`.elfstrip.strip_sections`)."""
    if tool == BUILTIN_ELF_STRIP:
        try:
            strip_sections(source, output, option)
        except ElfStripError as exc:
            raise StripToolError(str(exc)) from None
        return
    out_arg, source_arg = (_arg(p, output) for p in (output, source))
    _run_writing([tool, option, "-o", out_arg, source_arg], output, timeout)


@functools.cache
def find_objcopy_tools() -> tuple[str, ...]:
    """objcopy tools installed on this machine, best first: GNU objcopy (binutils), then one llvm-objcopy. Cached;
    empty if there is none. They copy an ELF file's debug information aside (:mod:`.debuginfo`)."""
    gnu: list[str] = []
    llvm: list[str] = []
    seen: set[str] = set()
    llvm_names = ["llvm-objcopy", *(f"llvm-objcopy-{v}" for v in range(30, 9, -1))]
    for path in _which_unique(["objcopy", "x86_64-linux-gnu-objcopy", "aarch64-linux-gnu-objcopy", *llvm_names], seen):
        version = _tool_output(path, "--version") or ""
        if "llvm" in version.lower():
            if not llvm:
                llvm.append(path)
        elif "GNU objcopy" in version:
            gnu.append(path)
    return (*gnu, *llvm)


def run_objcopy(tool: str, options: Sequence[str], source: Path, output: Path, timeout: float | None = None) -> None:
    """Run ``tool OPTIONS source output`` (an objcopy) in ``output``'s directory, as :func:`run_tool_on_file` runs
    a strip tool: :class:`StripToolError` (one line) if it fails or writes nothing, and then no output is left."""
    _run_writing([tool, *options, _arg(source, output), _arg(output, output)], output, timeout)


def _arg(path: Path, output: Path) -> str:
    """How a tool run in ``output``'s directory is told of ``path``: by its name if it lies there."""
    return path.name if path.parent == output.parent else str(path)


def _run_writing(argv: list[str], output: Path, timeout: float | None) -> None:
    """Run a tool that writes ``output``, in ``output``'s directory; :class:`StripToolError` if it fails."""
    timeout = STRIP_TIMEOUT if timeout is None else timeout
    try:
        proc = _run(argv, timeout, cwd=output.parent)
    except subprocess.TimeoutExpired:
        output.unlink(missing_ok=True)
        raise StripToolError(f"timed out after {timeout:g} s") from None
    except OSError as exc:
        raise StripToolError(f"cannot run: {exc}") from None
    if proc.returncode != 0:
        output.unlink(missing_ok=True)
        raise StripToolError(first_line(proc.stderr) or f"exit status {proc.returncode}")
    if not output.is_file():
        raise StripToolError("no output file written")
