"""ELF: the one reader of ELF headers, program headers and section headers, and what is said from them alone.

Everything in :mod:`slimwheel.binaries` that looks into an ELF file reads it here: :func:`describe_elf`, the
verification (:mod:`.elfverify`), :func:`realign_empty_loads` and the streamed stripper (:mod:`.elfstrip`). The
reader works on bytes or on a :class:`~.reading.FileView` and reads the ELF header, the program header table and
the section header table (plus the section name table), never section contents: a 400 MB library costs a few
``pread`` calls. Anything that does not fit raises :class:`~.reading.Malformed` with a one-line message; how strict
to be beyond that (extended numbering, types, sizes) is the caller's business.

Why not pyelftools, which the verification used until issue 10: one reader instead of three (this one, pyelftools
and the stripper's own), and speed. Collecting the verification facts of libtorch_cpu.so (434 MB) took pyelftools
85 ms (92 ms for its stripped output), this reader 0.5 ms; ``verify_stripped`` of the pair went from 0.71 s to
0.51 s (the rest is comparing 340 MB of loaded contents); for numpy's ``_multiarray_umath`` (10 MB) the facts went
from 5.9 ms to 0.5 ms (best of 5, warm page cache). Both read the headers only, from the file on disk, so memory
stayed bounded either way (53-57 MiB peak for the whole process). The checks pyelftools made implicitly while
building its section objects are made explicitly in :mod:`.elfverify`.

What it must not know: strip tools, PE or Mach-O, wheels or archives.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

from .model import BinaryFormat, BinaryInfo
from .reading import FileView, Image, Malformed, is_debug_section

ELF_MAGIC = b"\x7fELF"
ET_NAMES = {0: "none", 1: "relocatable", 2: "executable", 3: "shared object", 4: "core"}
ET_EXEC, ET_DYN = 2, 3
PT_LOAD, PT_DYNAMIC, PT_NOTE = 1, 2, 4
SHT_NULL, SHT_SYMTAB, SHT_STRTAB, SHT_RELA, SHT_HASH, SHT_DYNAMIC, SHT_NOBITS, SHT_REL = 0, 2, 3, 4, 5, 6, 8, 9
SHT_DYNSYM, SHT_GROUP, SHT_SYMTAB_SHNDX = 11, 17, 18
SHF_ALLOC, SHF_INFO_LINK, SHF_TLS = 0x2, 0x40, 0x400
SHN_LORESERVE, SHN_XINDEX = 0xFF00, 0xFFFF
PN_XNUM = 0xFFFF

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
class ElfHeader:
    endian: str  # "<" or ">"
    is64: bool
    e_type: int
    e_machine: int
    e_entry: int
    e_phoff: int
    e_shoff: int
    e_ehsize: int
    e_phentsize: int
    e_phnum: int
    e_shentsize: int
    e_shnum: int
    e_shstrndx: int

    @property
    def shdr_format(self) -> str:  # name, type, flags, addr, offset, size, link, info, addralign, entsize
        return self.endian + ("IIQQQQIIQQ" if self.is64 else "IIIIIIIIII")

    @property
    def phdr_format(self) -> str:  # in file order: the ELF64 and ELF32 entries place p_flags differently
        return self.endian + ("IIQQQQQQ" if self.is64 else "IIIIIIII")

    @property
    def word(self) -> str:  # an address or offset
        return "Q" if self.is64 else "I"


@dataclass(frozen=True)
class ElfSegment:
    at: int  # file offset of this program header entry
    p_type: int
    p_flags: int
    p_offset: int
    p_vaddr: int
    p_filesz: int
    p_memsz: int
    p_align: int


@dataclass(frozen=True)
class ElfSection:
    index: int
    raw: bytes  # the whole header entry (e_shentsize bytes)
    name: bytes  # from the section name table; empty if it has none
    sh_name: int
    sh_type: int
    sh_flags: int
    sh_addr: int
    sh_offset: int
    sh_size: int
    sh_link: int
    sh_info: int
    sh_addralign: int
    sh_entsize: int

    @property
    def alloc(self) -> bool:
        return bool(self.sh_flags & SHF_ALLOC)

    @property
    def file_size(self) -> int:
        return 0 if self.sh_type == SHT_NOBITS else self.sh_size

    @property
    def info_is_index(self) -> bool:
        return self.sh_type in (SHT_REL, SHT_RELA) or bool(self.sh_flags & SHF_INFO_LINK)

    def label(self) -> str:
        return f"{self.name.decode('utf-8', 'replace') or '(unnamed)'} (section {self.index})"


def read_header(data: Image) -> ElfHeader:
    ident = data[:64]
    if len(ident) < 52 or ident[:4] != ELF_MAGIC:
        raise Malformed("not an ELF file")
    if ident[4] not in (1, 2) or ident[5] not in (1, 2):
        raise Malformed("bad ELF class or data encoding")
    is64, e = ident[4] == 2, "<" if ident[5] == 1 else ">"
    if is64 and len(ident) < 64:
        raise Malformed("ELF header runs past the end of the file")
    # type, machine, version, entry, phoff, shoff, flags, ehsize, phentsize, phnum, shentsize, shnum, shstrndx
    fields = struct.unpack_from(e + ("HHIQQQIHHHHHH" if is64 else "HHIIIIIHHHHHH"), ident, 16)
    e_type, e_machine, _, entry, phoff, shoff, _, ehsize, phentsize, phnum, shentsize, shnum, shstrndx = fields
    return ElfHeader(
        e, is64, e_type, e_machine, entry, phoff, shoff, ehsize, phentsize, phnum, shentsize, shnum, shstrndx
    )


def read_segments(data: Image, hdr: ElfHeader, count: int | None = None) -> tuple[ElfSegment, ...]:
    """The program headers (``count`` of them; ``e_phnum`` unless the caller resolved ``PN_XNUM``)."""
    count = hdr.e_phnum if count is None else count
    if not count:
        return ()
    if hdr.e_phentsize < (56 if hdr.is64 else 32):
        raise Malformed("bad program header entry size")
    end = hdr.e_phoff + count * hdr.e_phentsize
    if end > len(data):
        raise Malformed("program header table runs past the end of the file")
    table = data[hdr.e_phoff : end]
    segments = []
    for i in range(count):
        fields = struct.unpack_from(hdr.phdr_format, table, i * hdr.e_phentsize)
        if hdr.is64:
            p_type, flags, offset, vaddr, _paddr, filesz, memsz, align = fields
        else:
            p_type, offset, vaddr, _paddr, filesz, memsz, flags, align = fields
        segments.append(
            ElfSegment(hdr.e_phoff + i * hdr.e_phentsize, p_type, flags, offset, vaddr, filesz, memsz, align)
        )
    return tuple(segments)


def read_sections(data: Image, hdr: ElfHeader, max_names: int | None = None) -> tuple[ElfSection, ...]:
    """The section headers with their names; empty for a file without a section header table.

    Extended numbering is resolved through section 0. Names come from the section name table if it lies inside
    the file (and is at most ``max_names`` bytes); otherwise every name is empty.
    """
    if hdr.e_shoff == 0:
        return ()
    if hdr.e_shentsize < (64 if hdr.is64 else 40):
        raise Malformed("bad e_shentsize")
    count, strndx = hdr.e_shnum, hdr.e_shstrndx
    if count == 0 or strndx == SHN_XINDEX:  # extended numbering: the real values live in section 0
        first = struct.unpack(hdr.shdr_format, _table(data, hdr, 1)[: struct.calcsize(hdr.shdr_format)])
        count = count or first[5]
        if strndx == SHN_XINDEX:
            strndx = first[6]
    table = _table(data, hdr, count)
    raws = [table[i * hdr.e_shentsize : (i + 1) * hdr.e_shentsize] for i in range(count)]
    fields = [struct.unpack_from(hdr.shdr_format, raw) for raw in raws]
    names = b""
    if 0 < strndx < count:
        names_off, names_size = fields[strndx][4], fields[strndx][5]
        if names_off + names_size <= len(data) and (max_names is None or names_size <= max_names):
            names = data[names_off : names_off + names_size]
    return tuple(
        ElfSection(i, raw, _name(names, f[0]), *f) for i, (raw, f) in enumerate(zip(raws, fields, strict=True))
    )


def _table(data: Image, hdr: ElfHeader, count: int) -> bytes:
    end = hdr.e_shoff + count * hdr.e_shentsize
    if end > len(data):
        raise Malformed("section header table runs past the end of the file")
    return data[hdr.e_shoff : end]


def _name(names: bytes, offset: int) -> bytes:
    if offset >= len(names):
        return b""
    end = names.find(b"\0", offset)
    return names[offset : end if end >= 0 else len(names)]


def names_index(hdr: ElfHeader, sections: tuple[ElfSection, ...]) -> int:
    """Index of the section name table (``SHN_XINDEX`` resolved through section 0)."""
    return sections[0].sh_link if hdr.e_shstrndx == SHN_XINDEX and sections else hdr.e_shstrndx


# ----------------------------------------------------------------------------------------------------------
# What the headers say
# ----------------------------------------------------------------------------------------------------------


def elf_machine(hdr: ElfHeader) -> str:
    name = _ELF_MACHINES.get(hdr.e_machine)
    if name is None:
        return f"elf-machine-{hdr.e_machine}"
    if hdr.is64:
        name = _ELF_MACHINES_64.get(name, name)
    elif name == "riscv":
        name = "riscv32"
    return "ppc64le" if name == "ppc64" and hdr.endian == "<" else name


def describe_elf(data: Image) -> BinaryInfo:
    hdr = read_header(data)
    sections = read_sections(data, hdr)
    return BinaryInfo(
        format=BinaryFormat.ELF,
        machine=elf_machine(hdr),
        has_symbols=any(s.sh_type == SHT_SYMTAB or s.name == b".symtab" for s in sections),
        has_debug=any(is_debug_section(s.name) for s in sections),
        signed=False,
        toolchain=None,
    )


# ----------------------------------------------------------------------------------------------------------
# Realigning emptied PT_LOADs
# ----------------------------------------------------------------------------------------------------------


def realign_empty_loads(data: bytes) -> tuple[bytes, int]:
    """Give every empty PT_LOAD (``p_filesz == p_memsz == 0``) a file offset congruent to its address.

    Stripping a patchelf-modified library can empty the extra segments patchelf appended and leave their
    ``p_offset`` misaligned; glibc refuses the whole library for that ("ELF load command address/offset not
    page-aligned") although such a segment maps nothing. Moving the offset of an *empty* segment down to the
    nearest congruent value changes nothing that is loaded. Non-empty segments are never touched (a misaligned
    one is left for :func:`~slimwheel.binaries.verify_stripped` to reject). Returns the new bytes and how many
    headers changed.
    """
    patches = _realign_patches(data)
    if not patches:
        return data, 0
    out = bytearray(data)
    for at, packed in patches:
        out[at : at + len(packed)] = packed
    return bytes(out), len(patches)


def realign_file(path: Path) -> int:
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
        hdr = read_header(data)
        segments = read_segments(data, hdr)
    except Malformed:
        return []
    field_offset = 8 if hdr.is64 else 4  # of p_offset in an entry
    patches: list[tuple[int, bytes]] = []
    for s in segments:
        if (
            s.p_type != PT_LOAD
            or s.p_filesz
            or s.p_memsz
            or s.p_align <= 1
            or (s.p_offset - s.p_vaddr) % s.p_align == 0
        ):
            continue
        new_offset = s.p_offset - (s.p_offset - s.p_vaddr) % s.p_align
        patches.append((s.at + field_offset, struct.pack(hdr.endian + hdr.word, new_offset)))
    return patches
