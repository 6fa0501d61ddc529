"""PE: the reader of PE headers, and what is said from them alone (machine, symbols, DWARF, signature, toolchain).

What it guarantees: :func:`pe_headers` reads the DOS, COFF and optional headers, the data directories and the
section table (long GNU ld section names resolved through the COFF string table), bounds-checked, from bytes or a
:class:`~.reading.FileView`, without reading section contents; :func:`describe_pe` never reads more than the
headers, the Rich header area and the import directory's DLL names. :func:`restore_pe_timestamp` and
:func:`pe_checksum` repair what GNU strip changes in a header.

The verification (:mod:`.peverify`) reads PE files with pefile as well, and says why. pefile is not used here
because it reads the whole file into memory and, fully loaded, takes 9 ms (onnxruntime_providers_shared.dll) to
5.9 s (onnxruntime_pybind11_state.pyd, 20 MB) per file, where :func:`describe_pe` takes 0.10-0.30 ms (median
0.16 ms) on each of the 173 DLLs and .pyd files of the numpy, scipy and onnxruntime win_amd64/win32 wheels of the
tests; :func:`~.detect.describe` runs on every file of every wheel inspected. Two things only this reader gets
right are used by the verification too: long section names (pefile keeps the raw ``/4``) and exports past
pefile's cap of 8,192 names (OpenBLAS has 9,360): :func:`pe_exports`.

What it must not know: ELF or Mach-O, strip tools, wheels or archives.
"""

from __future__ import annotations

import array
import struct
import sys
from dataclasses import dataclass

from .model import BinaryFormat, BinaryInfo
from .reading import Image, Malformed, cstring, is_debug_section, unpack

_PE_MACHINES = {
    0x014C: "i386",
    0x8664: "x86_64",
    0xAA64: "aarch64",
    0xA641: "arm64ec",
    0x01C0: "arm",
    0x01C4: "arm",
    0x0200: "ia64",
}
DIR_EXPORT, DIR_IMPORT, DIR_SECURITY, DIR_DEBUG = 0, 1, 4, 6
# Sections only GNU ld emits as separate sections (MSVC's link.exe merges them into .rdata/.data).
_GNU_LD_SECTIONS = frozenset({".CRT", ".idata", ".edata", ".bss", ".xdata"})
_MSVC_RUNTIMES = (b"vcruntime", b"msvcp1", b"ucrtbased")


@dataclass(frozen=True)
class PeSection:
    name: str
    virtual_size: int
    virtual_address: int
    raw_size: int
    raw_pointer: int


@dataclass(frozen=True)
class PeHeaders:
    e_lfanew: int
    machine: int
    symbol_table: int
    number_of_symbols: int
    linker_version: tuple[int, int]
    directories: tuple[tuple[int, int], ...]  # (VirtualAddress, Size); the security one holds a file offset
    sections: tuple[PeSection, ...]


def pe_headers(data: Image) -> PeHeaders:
    if len(data) < 0x40 or data[:2] != b"MZ":
        raise Malformed("too short for a DOS header")
    (e_lfanew,) = unpack("<I", data, 0x3C)
    if data[e_lfanew : e_lfanew + 4] != b"PE\0\0":
        raise Malformed("no PE signature")
    coff = e_lfanew + 4
    machine, nsections, _, symtab, nsyms, opt_size, _ = unpack("<HHIIIHH", data, coff)
    opt = coff + 20
    (magic,) = unpack("<H", data, opt)
    if magic == 0x10B:  # PE32
        dir_count_at, dirs_at = opt + 92, opt + 96
    elif magic == 0x20B:  # PE32+
        dir_count_at, dirs_at = opt + 108, opt + 112
    else:
        raise Malformed(f"unknown optional header magic {magic:#x}")
    major, minor = unpack("<BB", data, opt + 2)
    directories: list[tuple[int, int]] = []
    if dir_count_at + 4 <= opt + opt_size:
        (ndirs,) = unpack("<I", data, dir_count_at)
        ndirs = min(ndirs, 16, max(0, (opt + opt_size - dirs_at) // 8))
        directories = [(a, b) for a, b in (unpack("<II", data, dirs_at + 8 * i) for i in range(ndirs))]
    sec_at = opt + opt_size
    if sec_at + 40 * nsections > len(data):
        raise Malformed("section table runs past the end of the file")
    strtab = symtab + 18 * nsyms if symtab else 0
    sections = []
    for i in range(nsections):
        raw_name, vsize, vaddr, rsize, rptr = unpack("<8sIIII", data, sec_at + 40 * i)
        sections.append(PeSection(_section_name(data, raw_name, strtab), vsize, vaddr, rsize, rptr))
    return PeHeaders(e_lfanew, machine, symtab, nsyms, (major, minor), tuple(directories), tuple(sections))


def _section_name(data: Image, raw: bytes, strtab: int) -> str:
    """Section name, resolving GNU ld's ``/<offset>`` long names through the COFF string table."""
    name = raw.rstrip(b"\0")
    if strtab and name[:1] == b"/" and name[1:].isdigit():
        long_name = cstring(data, strtab + int(name[1:]), 256)
        if long_name:
            name = long_name
    return name.decode("latin-1")


def _rva_to_offset(hdr: PeHeaders, rva: int) -> int:
    for s in hdr.sections:
        if s.virtual_address <= rva < s.virtual_address + max(s.virtual_size, s.raw_size):
            return rva - s.virtual_address + s.raw_pointer
    return -1


def pe_exports(data: bytes, hdr: PeHeaders, limit: int = 1 << 20) -> tuple[tuple[bytes, int, int], ...]:
    """All named exports as (name, ordinal, function RVA); pefile stops at 8192, OpenBLAS has more."""
    if len(hdr.directories) <= DIR_EXPORT or hdr.directories[DIR_EXPORT][0] == 0:
        return ()
    at = _rva_to_offset(hdr, hdr.directories[DIR_EXPORT][0])
    base, nfunctions, nnames, functions, names, ordinals = unpack("<6I", data, at + 16)
    if nnames > limit or nfunctions > limit:
        raise Malformed("implausible export directory")
    functions_at = _rva_to_offset(hdr, functions)
    names_at, ordinals_at = _rva_to_offset(hdr, names), _rva_to_offset(hdr, ordinals)
    exports = []
    for i in range(nnames):
        (name_rva,) = unpack("<I", data, names_at + 4 * i)
        (index,) = unpack("<H", data, ordinals_at + 2 * i)
        (address,) = unpack("<I", data, functions_at + 4 * index) if index < nfunctions else (0,)
        exports.append((cstring(data, _rva_to_offset(hdr, name_rva), 1024), base + index, address))
    return tuple(exports)


def _imported_dlls(data: Image, hdr: PeHeaders, limit: int = 4096) -> list[bytes]:
    if len(hdr.directories) <= DIR_IMPORT or hdr.directories[DIR_IMPORT][0] == 0:
        return []
    at = _rva_to_offset(hdr, hdr.directories[DIR_IMPORT][0])
    names: list[bytes] = []
    while at >= 0 and at + 20 <= len(data) and len(names) < limit:
        original_thunk, _, _, name_rva, first_thunk = unpack("<IIIII", data, at)
        if not (original_thunk or name_rva or first_thunk):
            break
        names.append(cstring(data, _rva_to_offset(hdr, name_rva), 256))
        at += 20
    return names


# ----------------------------------------------------------------------------------------------------------
# What the headers say
# ----------------------------------------------------------------------------------------------------------


def _toolchain(data: Image, hdr: PeHeaders, has_symbols: bool, has_debug: bool) -> str:
    if has_symbols or has_debug:
        return "mingw"
    # MSVC's link.exe always writes a "Rich" header between the DOS stub and the PE header; GNU ld never does.
    if b"Rich" in data[0x40 : hdr.e_lfanew]:
        return "msvc"
    if _GNU_LD_SECTIONS & {s.name for s in hdr.sections}:
        return "mingw"
    if hdr.linker_version[0] == 2:  # GNU ld writes the binutils version (2.x); so do some other linkers
        dlls = [d.lower() for d in _imported_dlls(data, hdr)]
        if not any(d.startswith(_MSVC_RUNTIMES) for d in dlls):
            return "mingw"
    return "msvc"


def describe_pe(data: Image) -> BinaryInfo:
    hdr = pe_headers(data)
    has_symbols = hdr.symbol_table != 0 and hdr.number_of_symbols != 0
    has_debug = any(is_debug_section(s.name.encode("latin-1")) for s in hdr.sections)
    return BinaryInfo(
        format=BinaryFormat.PE,
        machine=_PE_MACHINES.get(hdr.machine, f"pe-machine-{hdr.machine:#06x}"),
        has_symbols=has_symbols,
        has_debug=has_debug,
        signed=len(hdr.directories) > DIR_SECURITY and hdr.directories[DIR_SECURITY][1] != 0,
        toolchain=_toolchain(data, hdr, has_symbols, has_debug),
    )


# ----------------------------------------------------------------------------------------------------------
# Repairing what GNU strip changes in the headers
# ----------------------------------------------------------------------------------------------------------


def pe_checksum(data: bytes) -> int:
    """The PE optional header's CheckSum of ``data`` (16-bit one's-complement sum, skipping the field, plus length)."""
    (e_lfanew,) = unpack("<I", data, 0x3C)
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
        (e_lfanew,) = unpack("<I", original, 0x3C)
        (stripped_lfanew,) = unpack("<I", stripped, 0x3C)
        (stamp,) = unpack("<I", original, e_lfanew + 8)
        (old_sum,) = unpack("<I", original, e_lfanew + 88)
        unpack("<I", stripped, stripped_lfanew + 88)
    except Malformed:
        return stripped
    out = bytearray(stripped)
    struct.pack_into("<I", out, stripped_lfanew + 8, stamp)
    if old_sum:
        struct.pack_into("<I", out, stripped_lfanew + 88, pe_checksum(bytes(out)))
    return bytes(out)
