"""Native binaries: detection, safe stripping and verification of the stripped result.

It knows nothing about wheels or zip files: it works on one file (and its name, for messages), either as bytes
(:func:`strip_binary`) or on disk (:func:`strip_file`, for big libraries: the parsers and the verification read
the file in pieces through a ``pread`` view, so a 400 MB library is never held in memory; only PE files, which
pefile parses in memory, are read whole). The module is long (over 1,000 lines) because detection, stripping and
verification share one set of private, bounds-checked ELF/PE/Mach-O parsers.

* :func:`detect_format` / :func:`describe` recognise ELF, PE and Mach-O files with a small bounds-checked
  header parser of their own; they never raise on garbage.
* :func:`strip_binary` runs an external ``strip`` in a private temporary directory (or, for ELF, the built-in
  streamed stripper of :mod:`slimwheel.elfstrip`) and **verifies** the output (:func:`verify_stripped`) before
  it is used. Anything doubtful keeps the original bytes:

  - Mach-O files and Authenticode-signed PE files are never modified;
  - a tool that fails, times out or produces a file that does not verify leaves the original in place
    (status ``REVERTED``), e.g. the patchelf + strip breakage "ELF load command address/offset not
    page-aligned" (auditwheel #716/#717, pypa/manylinux #119).
"""

from __future__ import annotations

import array
import functools
import io
import os
import shutil
import struct
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, BinaryIO, overload

from .elfstrip import ElfStripError, strip_sections

__all__ = [
    "BinaryFormat",
    "BinaryInfo",
    "StripLevel",
    "StripResult",
    "StripStatus",
    "StripToolError",
    "StripTools",
    "describe",
    "detect_format",
    "find_strip_tools",
    "strip_binary",
    "strip_file",
    "verify_stripped",
]

#: Seconds one strip tool may run on one file before it is killed.
STRIP_TIMEOUT = 300.0

#: The built-in, streamed ELF section stripper (:mod:`slimwheel.elfstrip`) as a strip "tool": tried after GNU strip
#: and before llvm-strip, which holds twice the file in memory.
BUILTIN_ELF_STRIP = "slimwheel-elfstrip"


class BinaryFormat(StrEnum):
    ELF = "elf"
    PE = "pe"
    MACHO = "macho"


class StripLevel(StrEnum):
    NONE = "none"
    DEBUG = "debug"
    UNNEEDED = "unneeded"


class StripStatus(StrEnum):
    STRIPPED = "stripped"
    UNCHANGED = "unchanged"
    SKIPPED = "skipped"
    REVERTED = "reverted"


@dataclass(frozen=True)
class BinaryInfo:
    format: BinaryFormat
    machine: str
    has_symbols: bool
    has_debug: bool
    signed: bool
    toolchain: str | None


@dataclass(frozen=True)
class StripTools:
    elf: tuple[str, ...]
    pe: tuple[str, ...]


@dataclass(frozen=True)
class StripResult:
    data: bytes
    status: StripStatus
    reason: str
    saved: int


@dataclass(frozen=True)
class FileStripResult:
    """What :func:`strip_file` decided: ``path`` is the stripped file to ship (``None``: ship the original)."""

    path: Path | None
    status: StripStatus
    reason: str
    saved: int


class StripToolError(Exception):
    """A strip tool could not produce an output file; the message is one line (usually the tool's stderr)."""


# ----------------------------------------------------------------------------------------------------------
# Low-level, bounds-checked reading
# ----------------------------------------------------------------------------------------------------------


class _Malformed(Exception):
    """Internal: the header structures do not fit in the data."""


class FileView:
    """Read-only access to a file on disk with the few ``bytes`` operations the parsers use (``len``, indexing,
    slicing, ``find``), each one a ``pread``: parsing a big library reads its headers, not the whole file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.stream: BinaryIO = open(path, "rb")  # noqa: SIM115 - closed by close() / the context manager
        self._fd = self.stream.fileno()
        self._size = os.fstat(self._fd).st_size

    def __enter__(self) -> FileView:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.stream.close()

    def __len__(self) -> int:
        return self._size

    @overload
    def __getitem__(self, key: int) -> int: ...
    @overload
    def __getitem__(self, key: slice) -> bytes: ...
    def __getitem__(self, key: int | slice) -> int | bytes:
        if isinstance(key, int):
            if not -self._size <= key < self._size:
                raise IndexError("index out of range")
            return os.pread(self._fd, 1, key % self._size)[0]
        start, stop, step = key.indices(self._size)
        if step != 1:
            raise ValueError("FileView slices take no step")
        return os.pread(self._fd, stop - start, start) if stop > start else b""

    def find(self, sub: bytes, start: int, end: int) -> int:
        start = max(start, 0)
        found = self[start:end].find(sub)
        return found + start if found >= 0 else -1

    def read_all(self) -> bytes:
        return self[0 : self._size]


Image = bytes | FileView  # a whole file: in memory, or on disk behind a view


def _unpack(fmt: str, data: Image, offset: int) -> tuple[Any, ...]:
    size = struct.calcsize(fmt)
    if offset < 0 or offset + size > len(data):
        raise _Malformed(f"structure at {offset:#x} runs past the end of the file")
    return struct.unpack(fmt, data[offset : offset + size])


def _cstring(data: Image, offset: int, limit: int = 4096) -> bytes:
    """NUL-terminated string at ``offset`` (at most ``limit`` bytes); empty if out of range."""
    if offset < 0 or offset >= len(data):
        return b""
    end = data.find(b"\0", offset, offset + limit)
    return data[offset : end if end >= 0 else min(len(data), offset + limit)]


# ----------------------------------------------------------------------------------------------------------
# Format detection
# ----------------------------------------------------------------------------------------------------------

_ELF_MAGIC = b"\x7fELF"
_MACHO_THIN = {
    b"\xfe\xed\xfa\xce": (">", False),  # MH_MAGIC, big-endian 32-bit
    b"\xce\xfa\xed\xfe": ("<", False),  # MH_CIGAM, little-endian 32-bit
    b"\xfe\xed\xfa\xcf": (">", True),  # MH_MAGIC_64
    b"\xcf\xfa\xed\xfe": ("<", True),  # MH_CIGAM_64
}
# FAT_MAGIC, FAT_MAGIC_64 -> 64-bit offsets; universal headers are always big-endian.
_MACHO_FAT = {b"\xca\xfe\xba\xbe": False, b"\xca\xfe\xba\xbf": True}
# A Java class file also starts with CAFEBABE, followed by its version (>= 45); a universal binary has a small
# number of architectures there. ``file(1)`` uses the same cut-off.
_MAX_FAT_ARCHS = 20


def detect_format(head: bytes) -> BinaryFormat | None:
    """Recognise a native binary by its magic bytes.

    ``head`` may be just the first bytes of a file. For PE, the ``PE\\0\\0`` signature at ``e_lfanew`` is
    checked when ``head`` is long enough to contain it; otherwise ``MZ`` alone counts.
    """
    if head.startswith(_ELF_MAGIC):
        return BinaryFormat.ELF
    if head.startswith(b"MZ"):
        if len(head) < 0x40:
            return BinaryFormat.PE
        (e_lfanew,) = struct.unpack_from("<I", head, 0x3C)
        if e_lfanew + 4 > len(head):
            return BinaryFormat.PE
        return BinaryFormat.PE if head[e_lfanew : e_lfanew + 4] == b"PE\0\0" else None
    magic = head[:4]
    if magic in _MACHO_THIN:
        return BinaryFormat.MACHO
    if magic in _MACHO_FAT:
        if len(head) < 8:
            return BinaryFormat.MACHO
        (nfat,) = struct.unpack_from(">I", head, 4)
        return BinaryFormat.MACHO if 0 < nfat <= _MAX_FAT_ARCHS else None
    return None


def describe(data: Image) -> BinaryInfo | None:
    """Describe a native binary; ``None`` for anything that is not one or cannot be parsed. Never raises."""
    try:
        fmt = detect_format(data[:4096])
        if fmt is BinaryFormat.ELF:
            return _describe_elf(data)
        if fmt is BinaryFormat.PE:
            return _describe_pe(data)
        if fmt is BinaryFormat.MACHO:
            return _describe_macho(data)
    except Exception:
        return None
    return None


# ----------------------------------------------------------------------------------------------------------
# ELF
# ----------------------------------------------------------------------------------------------------------

_SHT_SYMTAB = 2
_SHN_XINDEX = 0xFFFF
_ET_NAMES = {0: "none", 1: "relocatable", 2: "executable", 3: "shared object", 4: "core"}
_ELF_MACHINES = {
    2: "sparc",
    3: "i386",
    8: "mips",
    20: "ppc",
    21: "ppc64",
    22: "s390",
    40: "arm",
    43: "sparc64",
    50: "ia64",
    62: "x86_64",
    183: "aarch64",
    243: "riscv",
    258: "loongarch",
}
_ELF_MACHINES_64 = {
    "mips": "mips64",
    "ppc": "ppc64",
    "s390": "s390x",
    "riscv": "riscv64",
    "loongarch": "loongarch64",
}


@dataclass(frozen=True)
class _ElfHeader:
    endian: str  # "<" or ">"
    is64: bool
    e_type: int
    e_machine: int
    e_shoff: int
    e_shentsize: int
    e_shnum: int
    e_shstrndx: int


@dataclass(frozen=True)
class _ElfSection:
    name: bytes
    sh_type: int
    sh_offset: int
    sh_size: int


def _elf_header(data: Image) -> _ElfHeader:
    if len(data) < 52 or data[:4] != _ELF_MAGIC:
        raise _Malformed("too short for an ELF header")
    ei_class, ei_data = data[4], data[5]
    if ei_class not in (1, 2) or ei_data not in (1, 2):
        raise _Malformed("bad ELF class or data encoding")
    is64 = ei_class == 2
    e = "<" if ei_data == 1 else ">"
    if is64:
        e_type, e_machine = _unpack(e + "HH", data, 16)
        (e_shoff,) = _unpack(e + "Q", data, 40)
        e_shentsize, e_shnum, e_shstrndx = _unpack(e + "HHH", data, 58)
    else:
        e_type, e_machine = _unpack(e + "HH", data, 16)
        (e_shoff,) = _unpack(e + "I", data, 32)
        e_shentsize, e_shnum, e_shstrndx = _unpack(e + "HHH", data, 46)
    return _ElfHeader(e, is64, e_type, e_machine, e_shoff, e_shentsize, e_shnum, e_shstrndx)


def _elf_sections(data: Image, hdr: _ElfHeader) -> list[_ElfSection]:
    """Section headers with resolved names; an empty list for a file without a section header table."""
    if hdr.e_shoff == 0:
        return []
    min_entsize = 64 if hdr.is64 else 40
    if hdr.e_shentsize < min_entsize:
        raise _Malformed("bad e_shentsize")
    fmt = hdr.endian + ("IIQQQQIIQQ" if hdr.is64 else "IIIIIIIIII")

    def raw(index: int) -> tuple[int, ...]:
        return _unpack(fmt, data, hdr.e_shoff + index * hdr.e_shentsize)

    count, strndx = hdr.e_shnum, hdr.e_shstrndx
    if count == 0 or strndx == _SHN_XINDEX:  # extended numbering: the real values live in section 0
        first = raw(0)
        count = count or first[5]
        if strndx == _SHN_XINDEX:
            strndx = first[6]
    if hdr.e_shoff + count * hdr.e_shentsize > len(data):
        raise _Malformed("section header table runs past the end of the file")
    headers = [raw(i) for i in range(count)]
    names_off, names_size = -1, 0
    if 0 < strndx < count:
        names_off, names_size = headers[strndx][4], headers[strndx][5]
        if names_off + names_size > len(data):
            names_off = -1
    names = data[names_off : names_off + names_size] if names_off >= 0 else b""
    return [_ElfSection(_cstring(names, h[0], 1024), h[1], h[4], h[5]) for h in headers]


def _is_debug_section(name: bytes) -> bool:
    return name.startswith((b".debug_", b".zdebug_"))


def _elf_machine(hdr: _ElfHeader) -> str:
    name = _ELF_MACHINES.get(hdr.e_machine)
    if name is None:
        return f"elf-machine-{hdr.e_machine}"
    if hdr.is64:
        name = _ELF_MACHINES_64.get(name, name)
    elif name == "riscv":
        name = "riscv32"
    return "ppc64le" if name == "ppc64" and hdr.endian == "<" else name


def _describe_elf(data: Image) -> BinaryInfo:
    hdr = _elf_header(data)
    sections = _elf_sections(data, hdr)
    machine = _elf_machine(hdr)
    return BinaryInfo(
        format=BinaryFormat.ELF,
        machine=machine,
        has_symbols=any(s.sh_type == _SHT_SYMTAB or s.name == b".symtab" for s in sections),
        has_debug=any(_is_debug_section(s.name) for s in sections),
        signed=False,
        toolchain=None,
    )


# ----------------------------------------------------------------------------------------------------------
# PE
# ----------------------------------------------------------------------------------------------------------

_PE_MACHINES = {
    0x014C: "i386",
    0x8664: "x86_64",
    0xAA64: "aarch64",
    0xA641: "arm64ec",
    0x01C0: "arm",
    0x01C4: "arm",
    0x0200: "ia64",
}
_DIR_IMPORT = 1
_DIR_SECURITY = 4
# Sections only GNU ld emits as separate sections (MSVC's link.exe merges them into .rdata/.data).
_GNU_LD_SECTIONS = frozenset({".CRT", ".idata", ".edata", ".bss", ".xdata"})
_MSVC_RUNTIMES = (b"vcruntime", b"msvcp1", b"ucrtbased")


@dataclass(frozen=True)
class _PeSection:
    name: str
    virtual_size: int
    virtual_address: int
    raw_size: int
    raw_pointer: int


@dataclass(frozen=True)
class _PeHeaders:
    e_lfanew: int
    machine: int
    symbol_table: int
    number_of_symbols: int
    linker_version: tuple[int, int]
    directories: tuple[tuple[int, int], ...]  # (VirtualAddress, Size); the security one holds a file offset
    sections: tuple[_PeSection, ...]


def _pe_headers(data: Image) -> _PeHeaders:
    if len(data) < 0x40 or data[:2] != b"MZ":
        raise _Malformed("too short for a DOS header")
    (e_lfanew,) = _unpack("<I", data, 0x3C)
    if data[e_lfanew : e_lfanew + 4] != b"PE\0\0":
        raise _Malformed("no PE signature")
    coff = e_lfanew + 4
    machine, nsections, _, symtab, nsyms, opt_size, _ = _unpack("<HHIIIHH", data, coff)
    opt = coff + 20
    (magic,) = _unpack("<H", data, opt)
    if magic == 0x10B:  # PE32
        dir_count_at, dirs_at = opt + 92, opt + 96
    elif magic == 0x20B:  # PE32+
        dir_count_at, dirs_at = opt + 108, opt + 112
    else:
        raise _Malformed(f"unknown optional header magic {magic:#x}")
    major, minor = _unpack("<BB", data, opt + 2)
    directories: list[tuple[int, int]] = []
    if dir_count_at + 4 <= opt + opt_size:
        (ndirs,) = _unpack("<I", data, dir_count_at)
        ndirs = min(ndirs, 16, max(0, (opt + opt_size - dirs_at) // 8))
        directories = [(a, b) for a, b in (_unpack("<II", data, dirs_at + 8 * i) for i in range(ndirs))]
    sec_at = opt + opt_size
    if sec_at + 40 * nsections > len(data):
        raise _Malformed("section table runs past the end of the file")
    strtab = symtab + 18 * nsyms if symtab else 0
    sections = []
    for i in range(nsections):
        raw_name, vsize, vaddr, rsize, rptr = _unpack("<8sIIII", data, sec_at + 40 * i)
        sections.append(_PeSection(_pe_section_name(data, raw_name, strtab), vsize, vaddr, rsize, rptr))
    return _PeHeaders(e_lfanew, machine, symtab, nsyms, (major, minor), tuple(directories), tuple(sections))


def _pe_section_name(data: Image, raw: bytes, strtab: int) -> str:
    """Section name, resolving GNU ld's ``/<offset>`` long names through the COFF string table."""
    name = raw.rstrip(b"\0")
    if strtab and name[:1] == b"/" and name[1:].isdigit():
        long_name = _cstring(data, strtab + int(name[1:]), 256)
        if long_name:
            name = long_name
    return name.decode("latin-1")


def _pe_rva_to_offset(hdr: _PeHeaders, rva: int) -> int:
    for s in hdr.sections:
        if s.virtual_address <= rva < s.virtual_address + max(s.virtual_size, s.raw_size):
            return rva - s.virtual_address + s.raw_pointer
    return -1


def _pe_imported_dlls(data: Image, hdr: _PeHeaders, limit: int = 4096) -> list[bytes]:
    if len(hdr.directories) <= _DIR_IMPORT or hdr.directories[_DIR_IMPORT][0] == 0:
        return []
    at = _pe_rva_to_offset(hdr, hdr.directories[_DIR_IMPORT][0])
    names: list[bytes] = []
    while at >= 0 and at + 20 <= len(data) and len(names) < limit:
        original_thunk, _, _, name_rva, first_thunk = _unpack("<IIIII", data, at)
        if not (original_thunk or name_rva or first_thunk):
            break
        names.append(_cstring(data, _pe_rva_to_offset(hdr, name_rva), 256))
        at += 20
    return names


def _pe_toolchain(data: Image, hdr: _PeHeaders, has_symbols: bool, has_debug: bool) -> str:
    if has_symbols or has_debug:
        return "mingw"
    # MSVC's link.exe always writes a "Rich" header between the DOS stub and the PE header; GNU ld never does.
    if b"Rich" in data[0x40 : hdr.e_lfanew]:
        return "msvc"
    if _GNU_LD_SECTIONS & {s.name for s in hdr.sections}:
        return "mingw"
    if hdr.linker_version[0] == 2:  # GNU ld writes the binutils version (2.x); so do some other linkers
        dlls = [d.lower() for d in _pe_imported_dlls(data, hdr)]
        if not any(d.startswith(_MSVC_RUNTIMES) for d in dlls):
            return "mingw"
    return "msvc"


def _pe_is_signed(hdr: _PeHeaders) -> bool:
    return len(hdr.directories) > _DIR_SECURITY and hdr.directories[_DIR_SECURITY][1] != 0


def _describe_pe(data: Image) -> BinaryInfo:
    hdr = _pe_headers(data)
    has_symbols = hdr.symbol_table != 0 and hdr.number_of_symbols != 0
    has_debug = any(_is_debug_section(s.name.encode("latin-1")) for s in hdr.sections)
    return BinaryInfo(
        format=BinaryFormat.PE,
        machine=_PE_MACHINES.get(hdr.machine, f"pe-machine-{hdr.machine:#06x}"),
        has_symbols=has_symbols,
        has_debug=has_debug,
        signed=_pe_is_signed(hdr),
        toolchain=_pe_toolchain(data, hdr, has_symbols, has_debug),
    )


# ----------------------------------------------------------------------------------------------------------
# Mach-O (described, never modified)
# ----------------------------------------------------------------------------------------------------------

_MACHO_CPUS = {
    7: "i386",
    0x01000007: "x86_64",
    12: "arm",
    0x0100000C: "aarch64",
    0x0200000C: "arm64_32",
    18: "ppc",
    0x01000012: "ppc64",
}
_LC_SEGMENT, _LC_SYMTAB, _LC_SEGMENT_64 = 0x1, 0x2, 0x19


def _macho_thin(data: Image, offset: int) -> tuple[str, bool, bool]:
    """(machine, has_symbols, has_debug) of the thin Mach-O image at ``offset``."""
    endian, is64 = _MACHO_THIN[data[offset : offset + 4]]
    cputype, _, _, ncmds, _, _ = _unpack(endian + "iIIIII", data, offset + 4)
    at = offset + (32 if is64 else 28)
    has_symbols = has_debug = False
    for _ in range(min(ncmds, 65536)):
        cmd, size = _unpack(endian + "II", data, at)
        if cmd == _LC_SYMTAB:
            has_symbols = has_symbols or _unpack(endian + "I", data, at + 12)[0] > 0
        elif cmd in (_LC_SEGMENT, _LC_SEGMENT_64):
            has_debug = has_debug or _unpack("16s", data, at + 8)[0].rstrip(b"\0") == b"__DWARF"
        if size < 8:
            raise _Malformed("bad load command size")
        at += size
    return (
        _MACHO_CPUS.get(cputype & 0xFFFFFFFF, f"macho-cpu-{cputype & 0xFFFFFFFF:#x}"),
        has_symbols,
        has_debug,
    )


def _describe_macho(data: Image) -> BinaryInfo:
    magic = data[:4]
    if magic in _MACHO_THIN:
        machine, has_symbols, has_debug = _macho_thin(data, 0)
    else:
        is64 = _MACHO_FAT[magic]
        (nfat,) = _unpack(">I", data, 4)
        if not 0 < nfat <= _MAX_FAT_ARCHS:
            raise _Malformed("not a universal binary")
        machines, has_symbols, has_debug = [], False, False
        for i in range(nfat):
            if is64:
                _, _, slice_at, _, _, _ = _unpack(">iiQQII", data, 8 + 32 * i)
            else:
                _, _, slice_at, _, _ = _unpack(">iiIII", data, 8 + 20 * i)
            m, s, d = _macho_thin(data, slice_at)
            machines.append(m)
            has_symbols, has_debug = has_symbols or s, has_debug or d
        machine = "+".join(machines)
    return BinaryInfo(BinaryFormat.MACHO, machine, has_symbols, has_debug, signed=False, toolchain=None)


# ----------------------------------------------------------------------------------------------------------
# Tools
# ----------------------------------------------------------------------------------------------------------


def _tool_output(tool: str, *args: str) -> str | None:
    try:
        proc = subprocess.run(
            [tool, *args],
            capture_output=True,
            text=True,
            errors="replace",
            timeout=30,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "LC_ALL": "C"},
        )
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


_PEI_TARGETS = {"i386": "pei-i386", "x86_64": "pei-x86-64", "aarch64": "pei-aarch64-little"}


def _tools_for(info: BinaryInfo, tools: StripTools) -> tuple[str, ...]:
    if info.format is BinaryFormat.ELF:
        return tools.elf
    if info.format is BinaryFormat.PE:
        # A binutils build that lists its targets but not this one cannot read the file: don't bother.
        target = _PEI_TARGETS.get(info.machine)
        return tuple(t for t in tools.pe if not _tool_targets(t) or target in _tool_targets(t))
    return ()


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return ""


def _run_tool(tool: str, option: str, data: bytes, timeout: float | None = None) -> bytes:
    """Run ``tool option -o output.bin input.bin`` in a private temporary directory; return the output.

    Raises :class:`StripToolError` (one-line message) if the tool fails, times out or writes no output.
    Thread-safe: every call has its own directory. The input is called ``input.bin`` in messages.
    ``timeout`` defaults to :data:`STRIP_TIMEOUT`.
    """
    with tempfile.TemporaryDirectory(prefix="slimwheel-strip-") as tmp:
        source, output = Path(tmp, "input.bin"), Path(tmp, "output.bin")
        source.write_bytes(data)
        _run_tool_on_file(tool, option, source, output, timeout)
        return output.read_bytes()


# ----------------------------------------------------------------------------------------------------------
# Stripping
# ----------------------------------------------------------------------------------------------------------

_OPTIONS = {StripLevel.DEBUG: "--strip-debug", StripLevel.UNNEEDED: "--strip-unneeded"}
_STRIPPABLE_ELF_TYPES = (2, 3)  # ET_EXEC, ET_DYN


def _original(data: bytes, reason: str, status: StripStatus = StripStatus.SKIPPED) -> StripResult:
    return StripResult(data=data, status=status, reason=reason, saved=0)


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
            e_type = _elf_header(data).e_type
        except _Malformed:  # pragma: no cover - describe() already parsed the header
            return "unparseable binary"
        if e_type not in _STRIPPABLE_ELF_TYPES:
            kind = _ET_NAMES.get(e_type, f"type {e_type}")
            return f"ELF {kind}: only executables and shared objects are stripped"
    nothing = _nothing_to_strip(info, level)
    if nothing is not None:
        return nothing
    candidates = _tools_for(info, tools if tools is not None else find_strip_tools())
    label = "ELF" if info.format is BinaryFormat.ELF else f"PE {info.machine}"
    if not candidates:
        hint = "install binutils" if info.format is BinaryFormat.ELF else "install binutils or mingw-w64"
        return f"no strip tool for {label} installed ({hint})"
    return info, candidates


def _failure(problems: list[str]) -> str:
    reason = problems[0]
    if len(problems) > 1:
        reason += f" (and {len(problems) - 1} more tool(s) failed)"
    return reason


def strip_binary(data: bytes, name: str, level: StripLevel, tools: StripTools | None = None) -> StripResult:
    """Strip one native binary if that is safe, and return the bytes to ship. Never raises.

    ``tools`` defaults to :func:`find_strip_tools`. Every stripped output is checked with
    :func:`verify_stripped`; if a tool fails or its output does not verify, the next tool is tried, and if
    none succeeds the original bytes are returned with status ``REVERTED`` and the first problem as reason.
    """
    level = StripLevel(level)
    decided = _preflight(data, level, tools)
    if isinstance(decided, str):
        return _original(data, decided)
    info, candidates = decided
    option = _OPTIONS[level]
    problems: list[str] = []
    for tool in candidates:
        what = f"{Path(tool).name} {option}"
        try:
            stripped = _run_tool(tool, option, data)
        except Exception as exc:
            message = _first_line(str(exc)).replace("input.bin", name) or type(exc).__name__
            problems.append(f"{what} failed: {message}")
            continue
        if len(stripped) >= len(data):
            return _original(data, f"{what} saved nothing", StripStatus.UNCHANGED)
        if info.format is BinaryFormat.ELF:
            stripped, realigned = realign_empty_loads(stripped)
            if realigned:
                what += f" (+ {realigned} empty PT_LOAD offset(s) realigned)"
        else:
            stripped = restore_pe_timestamp(data, stripped)
        problem = verify_stripped(data, stripped)
        if problem is not None:
            problems.append(f"{what} broke the file: {problem}")
            continue
        return StripResult(data=stripped, status=StripStatus.STRIPPED, reason=what, saved=len(data) - len(stripped))
    return _original(data, _failure(problems), StripStatus.REVERTED)


def strip_file(
    source: Path, name: str, level: StripLevel, workdir: Path, tools: StripTools | None = None
) -> FileStripResult:
    """:func:`strip_binary` for a file on disk: the tools write into ``workdir``, the checks read the files in
    pieces. The stripped file is ``result.path`` (``None``: keep the original). Never raises."""
    level = StripLevel(level)
    try:
        with FileView(source) as original:
            decided = _preflight(original, level, tools)
            if isinstance(decided, str):
                return FileStripResult(None, StripStatus.SKIPPED, decided, 0)
            info, candidates = decided
            size = len(original)
            option = _OPTIONS[level]
            problems: list[str] = []
            for n, tool in enumerate(candidates):
                what = f"{Path(tool).name} {option}"
                output = workdir / f"{source.name}.{n}.stripped"
                try:
                    _run_tool_on_file(tool, option, source, output)
                except Exception as exc:
                    message = _first_line(str(exc)).replace(str(source), name) or type(exc).__name__
                    problems.append(f"{what} failed: {message}")
                    continue
                stripped_size = output.stat().st_size
                if stripped_size >= size:
                    output.unlink()
                    return FileStripResult(None, StripStatus.UNCHANGED, f"{what} saved nothing", 0)
                if info.format is BinaryFormat.ELF:
                    realigned = _realign_file(output)
                    if realigned:
                        what += f" (+ {realigned} empty PT_LOAD offset(s) realigned)"
                else:
                    output.write_bytes(restore_pe_timestamp(original.read_all(), output.read_bytes()))
                with FileView(output) as stripped:
                    problem = verify_stripped(original, stripped)
                if problem is not None:
                    output.unlink()
                    problems.append(f"{what} broke the file: {problem}")
                    continue
                return FileStripResult(output, StripStatus.STRIPPED, what, size - output.stat().st_size)
    except OSError as exc:
        return FileStripResult(None, StripStatus.REVERTED, f"can't strip: {exc.strerror or exc}", 0)
    return FileStripResult(None, StripStatus.REVERTED, _failure(problems), 0)


def _run_tool_on_file(tool: str, option: str, source: Path, output: Path, timeout: float | None = None) -> None:
    """Run ``tool option -o output source`` in ``output``'s directory (files there are named by their names, so
    the tool's messages don't carry temporary paths); :class:`StripToolError` (one line) if it fails or writes
    nothing. :data:`BUILTIN_ELF_STRIP` runs in this process (:func:`slimwheel.elfstrip.strip_sections`)."""
    if tool == BUILTIN_ELF_STRIP:
        try:
            strip_sections(source, output, option)
        except ElfStripError as exc:
            raise StripToolError(str(exc)) from None
        return
    timeout = STRIP_TIMEOUT if timeout is None else timeout
    out_arg, source_arg = (p.name if p.parent == output.parent else str(p) for p in (output, source))
    try:
        proc = subprocess.run(
            [tool, option, "-o", out_arg, source_arg],
            cwd=output.parent,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "LC_ALL": "C"},
        )
    except subprocess.TimeoutExpired:
        output.unlink(missing_ok=True)
        raise StripToolError(f"timed out after {timeout:g} s") from None
    except OSError as exc:
        raise StripToolError(f"cannot run: {exc}") from None
    if proc.returncode != 0:
        output.unlink(missing_ok=True)
        raise StripToolError(_first_line(proc.stderr) or f"exit status {proc.returncode}")
    if not output.is_file():
        raise StripToolError("no output file written")


def pe_checksum(data: bytes) -> int:
    """The PE optional header's CheckSum of ``data`` (16-bit one's-complement sum, skipping the field, plus length)."""
    (e_lfanew,) = _unpack("<I", data, 0x3C)
    field_at = e_lfanew + 24 + 64  # same place in PE32 and PE32+
    padded = data + b"\0" if len(data) % 2 else data
    words = array.array("H", padded)
    if sys.byteorder == "big":
        words.byteswap()
    total = sum(words) - words[field_at // 2] - words[field_at // 2 + 1]
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return int((total + len(data)) & 0xFFFFFFFF)


def restore_pe_timestamp(original: bytes, stripped: bytes) -> bytes:
    """Put the original TimeDateStamp back into a stripped PE file (GNU strip writes the current time there,
    ignoring SOURCE_DATE_EPOCH, which would make every output different) and refresh a non-zero CheckSum."""
    try:
        (e_lfanew,) = _unpack("<I", original, 0x3C)
        (stripped_lfanew,) = _unpack("<I", stripped, 0x3C)
        (stamp,) = _unpack("<I", original, e_lfanew + 8)
        (old_sum,) = _unpack("<I", original, e_lfanew + 88)
        _unpack("<I", stripped, stripped_lfanew + 88)
    except _Malformed:
        return stripped
    out = bytearray(stripped)
    struct.pack_into("<I", out, stripped_lfanew + 8, stamp)
    if old_sum:
        struct.pack_into("<I", out, stripped_lfanew + 88, pe_checksum(bytes(out)))
    return bytes(out)


def realign_empty_loads(data: bytes) -> tuple[bytes, int]:
    """Give every empty PT_LOAD (``p_filesz == p_memsz == 0``) a file offset congruent to its address.

    Stripping a patchelf-modified library can empty the extra segments patchelf appended and leave their
    ``p_offset`` misaligned; glibc refuses the whole library for that ("ELF load command address/offset not
    page-aligned") although such a segment maps nothing. Moving the offset of an *empty* segment down to the
    nearest congruent value changes nothing that is loaded. Non-empty segments are never touched (a misaligned
    one is left for :func:`verify_stripped` to reject). Returns the new bytes and how many headers changed.
    """
    patches = _realign_patches(data)
    if not patches:
        return data, 0
    out = bytearray(data)
    for at, packed in patches:
        out[at : at + len(packed)] = packed
    return bytes(out), len(patches)


def _realign_file(path: Path) -> int:
    """:func:`realign_empty_loads` in place on a file (only its program headers are read and written)."""
    with FileView(path) as view:
        patches = _realign_patches(view)
    if patches:
        with path.open("r+b") as fh:
            for at, packed in patches:
                os.pwrite(fh.fileno(), packed, at)
    return len(patches)


def _realign_patches(data: Image) -> list[tuple[int, bytes]]:
    """(file offset, new p_offset bytes) for every empty PT_LOAD whose offset is not congruent to its address."""
    try:
        hdr = _elf_header(data)
    except _Malformed:
        return []
    e = hdr.endian
    if hdr.is64:
        (phoff,) = _unpack(e + "Q", data, 32)
        phentsize, phnum = _unpack(e + "HH", data, 54)
        fmt, min_size, field_offset = e + "IIQQQQQQ", 56, 8
    else:
        (phoff,) = _unpack(e + "I", data, 28)
        phentsize, phnum = _unpack(e + "HH", data, 42)
        fmt, min_size, field_offset = e + "IIIIIIII", 32, 4
    if phentsize < min_size or phoff + phnum * phentsize > len(data):
        return []
    patches: list[tuple[int, bytes]] = []
    for i in range(phnum):
        at = phoff + i * phentsize
        if hdr.is64:
            p_type, _flags, p_offset, p_vaddr, _paddr, p_filesz, p_memsz, p_align = _unpack(fmt, data, at)
        else:
            p_type, p_offset, p_vaddr, _paddr, p_filesz, p_memsz, _flags, p_align = _unpack(fmt, data, at)
        if p_type != 1 or p_filesz or p_memsz or p_align <= 1 or (p_offset - p_vaddr) % p_align == 0:
            continue
        new_offset = p_offset - (p_offset - p_vaddr) % p_align
        patches.append((at + field_offset, struct.pack(e + ("Q" if hdr.is64 else "I"), new_offset)))
    return patches


# ----------------------------------------------------------------------------------------------------------
# Verification
# ----------------------------------------------------------------------------------------------------------


def verify_stripped(original: Image, stripped: Image) -> str | None:
    """Check that ``stripped`` loads like ``original``: ``None`` if so, else a one-line problem."""
    fmt = detect_format(original[:4096])
    if fmt is None:
        return "original is not a native binary"
    if detect_format(stripped[:4096]) is not fmt:
        return f"stripped file is no longer {fmt.name}"
    try:
        if fmt is BinaryFormat.ELF:
            return _verify_elf(original, stripped)
        if fmt is BinaryFormat.PE:
            return _verify_pe(original, stripped)
    except Exception as exc:
        return f"verification failed: {type(exc).__name__}: {_first_line(str(exc))}"
    return f"{fmt.name} files cannot be verified"


# ---- ELF --------------------------------------------------------------------------------------------------

# Dynamic tags whose value is an address the loader uses.
_DT_POINTERS = frozenset(
    {
        "DT_PLTGOT", "DT_HASH", "DT_STRTAB", "DT_SYMTAB", "DT_RELA", "DT_INIT", "DT_FINI", "DT_REL",
        "DT_JMPREL", "DT_INIT_ARRAY", "DT_FINI_ARRAY", "DT_PREINIT_ARRAY", "DT_GNU_HASH", "DT_VERSYM",
        "DT_VERDEF", "DT_VERNEED", "DT_RELR",
    }
)  # fmt: skip
_DT_STRINGS = {"DT_NEEDED": "needed", "DT_SONAME": "soname", "DT_RPATH": "rpath", "DT_RUNPATH": "runpath"}
_SHF_ALLOC, _SHF_TLS = 0x2, 0x400


@dataclass(frozen=True)
class _Load:
    offset: int
    vaddr: int
    filesz: int
    memsz: int
    flags: int
    align: int


@dataclass(frozen=True)
class _ElfFacts:
    ident: tuple[Any, ...]  # class, endianness, machine, type, entry
    size: int
    loads: tuple[_Load, ...]
    others: tuple[tuple[str, int, int, int], ...]  # other segments but notes: type, vaddr, memsz, flags
    has_dynamic: bool
    dynamic: dict[str, list[str]]  # DT_NEEDED, DT_SONAME, DT_RPATH, DT_RUNPATH
    pointers: tuple[int, ...]  # addresses named by dynamic tags
    dynsym_count: int | None
    alloc: tuple[tuple[int, int], ...] | None  # [start, end) of allocated sections; None without section headers
    contents: tuple[tuple[int, int], ...]  # (address, size) of allocated sections that have file contents
    header_ranges: tuple[tuple[int, int], ...]  # ELF header and program header table in the file: [start, end)


def _elf_facts(data: Image) -> _ElfFacts:
    from elftools.elf.dynamic import DynamicSegment
    from elftools.elf.elffile import ELFFile
    from elftools.elf.sections import SymbolTableSection

    elf = ELFFile(io.BytesIO(data) if isinstance(data, bytes) else data.stream)
    h = elf.header
    loads: list[_Load] = []
    others: list[tuple[str, int, int, int]] = []
    has_dynamic = False
    dynamic: dict[str, list[str]] = {tag: [] for tag in _DT_STRINGS}
    pointers: list[int] = []
    for seg in elf.iter_segments():
        kind = seg["p_type"]
        if kind == "PT_LOAD":
            loads.append(
                _Load(
                    seg["p_offset"],
                    seg["p_vaddr"],
                    seg["p_filesz"],
                    seg["p_memsz"],
                    seg["p_flags"],
                    seg["p_align"],
                )
            )
            continue
        if kind != "PT_NOTE":
            others.append((str(kind), seg["p_vaddr"], seg["p_memsz"], seg["p_flags"]))
        if kind == "PT_DYNAMIC" and isinstance(seg, DynamicSegment):
            has_dynamic = True
            strtab: int | None = None
            strsz = 0
            for tag in seg.iter_tags():
                name = tag.entry.d_tag
                if name in _DT_STRINGS:
                    dynamic[name].append(str(getattr(tag, _DT_STRINGS[name])))
                elif name in _DT_POINTERS:
                    pointers.append(tag.entry.d_ptr)
                    if name == "DT_STRTAB":
                        strtab = tag.entry.d_ptr
                elif name == "DT_STRSZ":
                    strsz = tag.entry.d_val
            if strtab is not None and strsz:
                pointers.append(strtab + strsz - 1)  # the string table must stay whole
    dynsym_count = None
    alloc: list[tuple[int, int]] | None = [] if elf.num_sections() else None
    contents: list[tuple[int, int]] = []
    for section in elf.iter_sections():
        flags, size, nobits = section["sh_flags"], section["sh_size"], section["sh_type"] == "SHT_NOBITS"
        if alloc is not None and flags & _SHF_ALLOC and size and not (flags & _SHF_TLS and nobits):
            alloc.append((section["sh_addr"], section["sh_addr"] + size))
            if not nobits:
                contents.append((section["sh_addr"], size))
        if dynsym_count is None and section["sh_type"] == "SHT_DYNSYM" and isinstance(section, SymbolTableSection):
            dynsym_count = section.num_symbols()
    ranges = ((0, h["e_ehsize"]), (h["e_phoff"], h["e_phoff"] + h["e_phnum"] * h["e_phentsize"]))
    return _ElfFacts(
        ident=(elf.elfclass, elf.little_endian, h["e_machine"], h["e_type"], h["e_entry"]),
        size=len(data),
        loads=tuple(loads),
        others=tuple(others),
        has_dynamic=has_dynamic,
        dynamic=dynamic,
        pointers=tuple(pointers),
        dynsym_count=dynsym_count,
        alloc=tuple(alloc) if alloc is not None else None,
        contents=tuple(contents),
        header_ranges=ranges,
    )


def _blank_headers(image: bytes, facts: _ElfFacts, offset: int) -> bytes:
    """``image`` (read at file ``offset``) with the ELF header and program header table zeroed.

    strip rewrites those (section header offset, segment offsets), and the loader reads them from the file.
    """
    out = bytearray(image)
    for start, end in facts.header_ranges:
        lo, hi = max(start, offset), min(end, offset + len(image))
        if lo < hi:
            out[lo - offset : hi - offset] = bytes(hi - lo)
    return bytes(out)


_COMPARE = 8 * 1024**2  # loaded contents are compared in pieces of this size


def _load_offset(facts: _ElfFacts, address: int, size: int) -> int | None:
    """The file offset the loader maps ``[address, address + size)`` from; ``None`` if no segment has it all."""
    for load in facts.loads:
        if load.vaddr <= address and address + size <= load.vaddr + load.filesz:
            return load.offset + address - load.vaddr
    return None


def _changed_contents(original: Image, before: _ElfFacts, stripped: Image, after: _ElfFacts) -> str | None:
    """Where the loaded image differs, if it does.

    Compared section by section: bytes that no section covers (e.g. the "X" filler patchelf leaves where it
    moved ``.dynsym`` away from) are nobody's business, and strip zeroes them. A big section is compared in
    :data:`_COMPARE`-byte pieces.
    """
    if before.alloc is None:  # no section headers: whole segments must be identical
        pairs = zip(before.loads, after.loads, strict=True)
        regions = [(old.vaddr, min(old.filesz, new.filesz)) for old, new in pairs]
    else:
        regions = list(before.contents)
    for address, size in regions:
        old_at = _load_offset(before, address, size)
        if old_at is None:
            continue  # not loaded from the file in the original either
        new_at = _load_offset(after, address, size)
        for at in range(0, size, _COMPARE) if new_at is not None else [0]:
            n = min(_COMPARE, size - at)
            old = _blank_headers(original[old_at + at : old_at + at + n], before, old_at + at)
            if new_at is None or _blank_headers(stripped[new_at + at : new_at + at + n], after, new_at + at) != old:
                return f"loaded contents at {address:#x} ({size:#x} bytes) changed"
    return None


def _trimmed_tail_problem(before: _ElfFacts, old: _Load, new: _Load) -> str | None:
    """Why a segment whose size changed is not just missing an unused tail (``None`` if it is).

    GNU strip drops the bytes at the end of a segment that no section covers, such as what patchelf leaves
    behind after moving ``.dynstr``/``.dynsym``. That is harmless if nothing the linker placed and nothing the
    dynamic section points to lies there, and if the segment had no zero-filled (``.bss``) part.
    """
    if old.memsz != old.filesz or new.memsz != new.filesz or new.filesz > old.filesz:
        return "size changed"
    if before.alloc is None:
        return "size changed (no section headers to prove the cut part unused)"
    cut_start, cut_end = old.vaddr + new.memsz, old.vaddr + old.memsz
    for start, end in before.alloc:
        if start < cut_end and cut_start < end:
            return f"size changed, cutting an allocated section at {start:#x}"
    for address in before.pointers:
        if cut_start <= address < cut_end:
            return f"size changed, cutting data at {address:#x} used by the dynamic section"
    return None


def _verify_elf(original: Image, stripped: Image) -> str | None:
    try:
        before = _elf_facts(original)
    except Exception as exc:
        return f"original ELF does not parse: {_first_line(str(exc)) or type(exc).__name__}"
    try:
        after = _elf_facts(stripped)
    except Exception as exc:
        return f"stripped ELF does not parse: {_first_line(str(exc)) or type(exc).__name__}"
    names = ("ELF class", "endianness", "machine", "type", "entry point")
    for what, old_value, new_value in zip(names, before.ident, after.ident, strict=True):
        if old_value != new_value:
            return f"{what} changed from {old_value} to {new_value}"
    for i, load in enumerate(after.loads):
        if load.align > 1 and (load.offset - load.vaddr) % load.align:
            return (
                f"PT_LOAD[{i}] offset {load.offset:#x} and address {load.vaddr:#x} are not congruent modulo "
                f"p_align {load.align:#x} (ELF load command address/offset not page-aligned)"
            )
        if load.offset + load.filesz > after.size:
            end = load.offset + load.filesz
            return f"PT_LOAD[{i}] ends at {end:#x}, past the end of the file ({after.size:#x})"
    if [(s.vaddr, s.flags) for s in before.loads] != [(s.vaddr, s.flags) for s in after.loads]:
        return f"PT_LOAD segments changed ({len(before.loads)} before, {len(after.loads)} after)"
    for i, (old, new) in enumerate(zip(before.loads, after.loads, strict=True)):
        if (old.filesz, old.memsz) != (new.filesz, new.memsz):
            problem = _trimmed_tail_problem(before, old, new)
            if problem is not None:
                return f"PT_LOAD[{i}] at {old.vaddr:#x}: {problem} ({old.memsz:#x} -> {new.memsz:#x} bytes)"
    changed = _changed_contents(original, before, stripped, after)
    if changed is not None:
        return changed
    if before.others != after.others:
        return "program headers other than PT_LOAD/PT_NOTE changed"
    if before.has_dynamic and not after.has_dynamic:
        return "PT_DYNAMIC segment lost"
    if before.dynsym_count is not None and before.dynsym_count != after.dynsym_count:
        return f".dynsym has {after.dynsym_count} symbols instead of {before.dynsym_count}"
    for tag, values in before.dynamic.items():
        if after.dynamic[tag] != values:
            return f"{tag} changed from {values} to {after.dynamic[tag]}"
    if before.pointers != after.pointers:
        return "addresses in the dynamic section changed"
    return None


# ---- PE ---------------------------------------------------------------------------------------------------

_DIR_EXPORT, _DIR_DEBUG = 0, 6
# IMAGE_SCN_ALIGN_* bits only mean something in object files; GNU ld leaves them in images, strip clears them.
_SCN_ALIGN_MASK = 0x00F00000


@dataclass(frozen=True)
class _PeFacts:
    warnings: tuple[str, ...]
    ident: tuple[int, ...]  # Machine, AddressOfEntryPoint, ImageBase
    size_of_image: int
    section_alignment: int
    # sections but the debug ones: name, VirtualAddress, VirtualSize, Characteristics (without alignment bits)
    sections: tuple[tuple[str, int, int, int], ...]
    contents: tuple[bytes, ...]
    debug_end: int  # highest end address of a debug section (0 if none)
    directories: tuple[tuple[int, int], ...]  # all but the security and debug directories
    exports: tuple[tuple[bytes, int, int], ...]  # name, ordinal, address
    imports: tuple[tuple[bytes, tuple[bytes | int | None, ...]], ...]  # DLL, imported names or ordinals
    security: tuple[int, int]  # file offset, size
    size: int


def _pe_exports(data: bytes, hdr: _PeHeaders, limit: int = 1 << 20) -> tuple[tuple[bytes, int, int], ...]:
    """All named exports as (name, ordinal, function RVA); pefile stops at 8192, OpenBLAS has more."""
    if len(hdr.directories) <= _DIR_EXPORT or hdr.directories[_DIR_EXPORT][0] == 0:
        return ()
    at = _pe_rva_to_offset(hdr, hdr.directories[_DIR_EXPORT][0])
    base, nfunctions, nnames, functions, names, ordinals = _unpack("<6I", data, at + 16)
    if nnames > limit or nfunctions > limit:
        raise _Malformed("implausible export directory")
    functions_at = _pe_rva_to_offset(hdr, functions)
    names_at, ordinals_at = _pe_rva_to_offset(hdr, names), _pe_rva_to_offset(hdr, ordinals)
    exports = []
    for i in range(nnames):
        (name_rva,) = _unpack("<I", data, names_at + 4 * i)
        (index,) = _unpack("<H", data, ordinals_at + 2 * i)
        (address,) = _unpack("<I", data, functions_at + 4 * index) if index < nfunctions else (0,)
        exports.append((_cstring(data, _pe_rva_to_offset(hdr, name_rva), 1024), base + index, address))
    return tuple(exports)


def _pe_facts(image: Image) -> _PeFacts:
    import pefile

    data = image if isinstance(image, bytes) else image.read_all()  # pefile parses in memory
    # Same parse as fast_load=False, minus the byte histogram of the whole file: its "Byte 0x00 makes up N%"
    # warnings are about content, not structure (stripping symbols changes them), and cost seconds on big DLLs.
    pe = pefile.PE(data=data, fast_load=True)
    try:
        pe.full_load()
        own = _pe_headers(data)
        if len(own.sections) != len(pe.sections):
            raise _Malformed("section count disagrees with pefile")
        sections, contents = [], []
        debug_end = 0
        for ours, s in zip(own.sections, pe.sections, strict=True):
            if _is_debug_section(ours.name.encode("latin-1")):
                debug_end = max(debug_end, s.VirtualAddress + s.Misc_VirtualSize)
                continue
            flags = s.Characteristics & ~_SCN_ALIGN_MASK
            sections.append((ours.name, s.VirtualAddress, s.Misc_VirtualSize, flags))
            contents.append(s.get_data(length=min(s.SizeOfRawData, s.Misc_VirtualSize or s.SizeOfRawData)))
        oh = pe.OPTIONAL_HEADER
        dirs = oh.DATA_DIRECTORY
        security = (dirs[_DIR_SECURITY].VirtualAddress, dirs[_DIR_SECURITY].Size) if len(dirs) > 4 else (0, 0)
        imports = tuple(
            (entry.dll, tuple(imp.name or imp.ordinal for imp in entry.imports))
            for entry in getattr(pe, "DIRECTORY_ENTRY_IMPORT", [])
        )
        return _PeFacts(
            warnings=tuple(w for w in pe.get_warnings() if "of the file's contents" not in w),
            ident=(pe.FILE_HEADER.Machine, oh.AddressOfEntryPoint, oh.ImageBase),
            size_of_image=oh.SizeOfImage,
            section_alignment=oh.SectionAlignment,
            sections=tuple(sections),
            contents=tuple(contents),
            debug_end=debug_end,
            directories=tuple(
                (d.VirtualAddress, d.Size) for i, d in enumerate(dirs) if i not in (_DIR_SECURITY, _DIR_DEBUG)
            ),
            exports=_pe_exports(data, own),
            imports=imports,
            security=security,
            size=len(data),
        )
    finally:
        pe.close()


def _align_up(value: int, alignment: int) -> int:
    return value if alignment <= 1 else -(-value // alignment) * alignment


def _verify_pe(original: Image, stripped: Image) -> str | None:
    try:
        before = _pe_facts(original)
    except Exception as exc:
        return f"original PE does not parse: {_first_line(str(exc)) or type(exc).__name__}"
    try:
        after = _pe_facts(stripped)
    except Exception as exc:
        return f"stripped PE does not parse: {_first_line(str(exc)) or type(exc).__name__}"
    if len(after.warnings) > len(before.warnings):
        new = [w for w in after.warnings if w not in before.warnings] or list(after.warnings)
        counts = f"{len(after.warnings)} times instead of {len(before.warnings)}"
        return f"pefile warns {counts}: {_first_line(new[0])}"
    for what, old, new_value in zip(
        ("Machine", "AddressOfEntryPoint", "ImageBase"), before.ident, after.ident, strict=True
    ):
        if old != new_value:
            return f"{what} changed from {old:#x} to {new_value:#x}"
    old_names, new_names = [s[0] for s in before.sections], [s[0] for s in after.sections]
    if old_names != new_names:
        return f"sections changed from {old_names} to {new_names}"
    for old_section, new_section in zip(before.sections, after.sections, strict=True):
        if old_section != new_section:
            return f"section {old_section[0]} moved or changed its size or characteristics"
    for (name, *_), old_data, new_data in zip(before.sections, before.contents, after.contents, strict=True):
        if old_data != new_data:
            return f"contents of section {name} changed"
    # Dropping the (discardable, trailing) DWARF sections may shrink the image, not below the kept sections.
    kept_end = max((_align_up(v + s, after.section_alignment) for _, v, s, _ in after.sections), default=0)
    if after.size_of_image != before.size_of_image and not (
        before.debug_end and kept_end <= after.size_of_image <= before.size_of_image
    ):
        return f"SizeOfImage changed from {before.size_of_image:#x} to {after.size_of_image:#x}"
    if before.directories != after.directories:
        return "data directories (exports, imports, relocations, ...) moved"
    if before.exports != after.exports:
        return f"export table changed ({len(before.exports)} names before, {len(after.exports)} after)"
    if [dll for dll, _ in before.imports] != [dll for dll, _ in after.imports]:
        return "imported DLLs changed"
    if before.imports != after.imports:
        return "imported functions changed"
    offset, size = after.security
    if size and offset + size > after.size:
        return "certificate table points past the end of the file"
    return None
