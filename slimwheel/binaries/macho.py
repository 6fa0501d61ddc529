"""Mach-O: what a thin or universal Mach-O file says about itself (machine, symbol table, DWARF segment).

Mach-O files are described, never modified: nothing in :mod:`slimwheel.binaries` strips or verifies them. The
reader is bounds-checked (:class:`~.reading.Malformed`) and reads the load commands only. What it must not know:
ELF, PE, strip tools, wheels or archives.
"""

from __future__ import annotations

from .model import BinaryFormat, BinaryInfo
from .reading import Image, Malformed, unpack

MACHO_THIN = {
    b"\xfe\xed\xfa\xce": (">", False),  # MH_MAGIC, big-endian 32-bit
    b"\xce\xfa\xed\xfe": ("<", False),  # MH_CIGAM, little-endian 32-bit
    b"\xfe\xed\xfa\xcf": (">", True),  # MH_MAGIC_64
    b"\xcf\xfa\xed\xfe": ("<", True),  # MH_CIGAM_64
}
# FAT_MAGIC, FAT_MAGIC_64 -> 64-bit offsets; universal headers are always big-endian.
MACHO_FAT = {b"\xca\xfe\xba\xbe": False, b"\xca\xfe\xba\xbf": True}
# A Java class file also starts with CAFEBABE, followed by its version (>= 45); a universal binary has a small
# number of architectures there. ``file(1)`` uses the same cut-off.
MAX_FAT_ARCHS = 20


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
    endian, is64 = MACHO_THIN[data[offset : offset + 4]]
    cputype, _, _, ncmds, _, _ = unpack(endian + "iIIIII", data, offset + 4)
    at = offset + (32 if is64 else 28)
    has_symbols = has_debug = False
    for _ in range(min(ncmds, 65536)):
        cmd, size = unpack(endian + "II", data, at)
        if cmd == _LC_SYMTAB:
            has_symbols = has_symbols or unpack(endian + "I", data, at + 12)[0] > 0
        elif cmd in (_LC_SEGMENT, _LC_SEGMENT_64):
            has_debug = has_debug or unpack("16s", data, at + 8)[0].rstrip(b"\0") == b"__DWARF"
        if size < 8:
            raise Malformed("bad load command size")
        at += size
    return (
        _MACHO_CPUS.get(cputype & 0xFFFFFFFF, f"macho-cpu-{cputype & 0xFFFFFFFF:#x}"),
        has_symbols,
        has_debug,
    )


def describe_macho(data: Image) -> BinaryInfo:
    magic = data[:4]
    if magic in MACHO_THIN:
        machine, has_symbols, has_debug = _macho_thin(data, 0)
    else:
        is64 = MACHO_FAT[magic]
        (nfat,) = unpack(">I", data, 4)
        if not 0 < nfat <= MAX_FAT_ARCHS:
            raise Malformed("not a universal binary")
        machines, has_symbols, has_debug = [], False, False
        for i in range(nfat):
            if is64:
                _, _, slice_at, _, _, _ = unpack(">iiQQII", data, 8 + 32 * i)
            else:
                _, _, slice_at, _, _ = unpack(">iiIII", data, 8 + 20 * i)
            m, s, d = _macho_thin(data, slice_at)
            machines.append(m)
            has_symbols, has_debug = has_symbols or s, has_debug or d
        machine = "+".join(machines)
    return BinaryInfo(BinaryFormat.MACHO, machine, has_symbols, has_debug, signed=False, toolchain=None)
