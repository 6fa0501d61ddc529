"""Verification of a stripped ELF file: does it load like the original?

:func:`verify_elf` compares what the loader and the dynamic linker see in the original and the stripped file: ELF
class, endianness, machine, type and entry point; every PT_LOAD (address, flags, sizes, alignment, and a file image
that lies inside the file); the bytes of every allocated section, compared in :data:`COMPARE`-byte pieces; the other
program headers; the dynamic section (``DT_NEEDED``, ``DT_SONAME``, ``DT_RPATH``, ``DT_RUNPATH`` and every address
it names) and the number of dynamic symbols. A segment may only lose a tail that nothing uses (GNU strip trims what
patchelf left behind). Both files are read through :mod:`.elf` (headers) and in pieces (contents): memory stays
bounded for a 400 MB library.

Before comparing, each file must hang together (:func:`elf_facts` raises :class:`~.reading.Malformed`): the ELF
header, the program header table and the section header table inside the file; the section name table's header
too, and no section name at an offset no file has (2**63 and up); symbol tables that link to a string table and
hold a whole number of entries; hash, ``.gnu.version`` and syminfo sections that link to a symbol table, version
definitions and needs to a string table, a dynamic section to a string table (or nothing); REL, RELA and RELR
entries of the size the class dictates; hash tables and compression headers inside the file; and a dynamic
section whose tags end (``DT_NULL``) inside the file and whose strings can be found: in the string table its
SHT_DYNAMIC section links to, else at ``DT_STRTAB`` in a PT_LOAD, else in a section named ``.dynstr``. These are
the checks pyelftools, which read both files until issue 10, made while building its section objects, made
explicit. On 25,200 pairs with randomly corrupted headers (the libraries up to 3 MB of the numpy, scipy,
onnxruntime and tflite wheels of the tests and gcc-built samples, each with its GNU strip, llvm-strip and built-in
stripper outputs) this module and pyelftools accepted and rejected the same pairs (8 rejected for a different
first problem); only the wording of "does not parse" differs. A dynamic string longer than :data:`_MAX_STRING` is
refused (pyelftools read it whole). pyelftools is still imported to name the machine and type in the message when
they changed (``EM_X86_64``, ``ET_DYN``).

What it must not know: how the file was stripped (any tool, or none), PE, wheels or archives.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .elf import (
    PN_XNUM,
    PT_DYNAMIC,
    PT_LOAD,
    PT_NOTE,
    SHF_ALLOC,
    SHF_TLS,
    SHT_DYNAMIC,
    SHT_DYNSYM,
    SHT_HASH,
    SHT_NOBITS,
    SHT_NULL,
    SHT_REL,
    SHT_RELA,
    SHT_STRTAB,
    SHT_SYMTAB,
    ElfHeader,
    ElfSection,
    ElfSegment,
    names_index,
    read_header,
    read_sections,
    read_segments,
)
from .reading import Image, Malformed, parse_both, unpack

#: Loaded contents are compared in pieces of this size.
COMPARE = 8 * 1024**2

# Dynamic tags whose value is an address the loader uses.
_DT_POINTERS = {
    3: "DT_PLTGOT", 4: "DT_HASH", 5: "DT_STRTAB", 6: "DT_SYMTAB", 7: "DT_RELA", 12: "DT_INIT", 13: "DT_FINI",
    17: "DT_REL", 23: "DT_JMPREL", 25: "DT_INIT_ARRAY", 26: "DT_FINI_ARRAY", 32: "DT_PREINIT_ARRAY",
    0x6FFFFEF5: "DT_GNU_HASH", 0x6FFFFFF0: "DT_VERSYM", 0x6FFFFFFC: "DT_VERDEF", 0x6FFFFFFE: "DT_VERNEED",
    36: "DT_RELR",
}  # fmt: skip
_DT_STRINGS = {1: "DT_NEEDED", 14: "DT_SONAME", 15: "DT_RPATH", 29: "DT_RUNPATH"}
_DT_NULL, _DT_STRTAB, _DT_STRSZ = 0, 5, 10
_SHT_LDYNSYM, _SHT_GNU_HASH, _SHT_SYMINFO = 0x6FFFFFF3, 0x6FFFFFF6, 0x6FFFFFFC  # Solaris, GNU, Solaris
_SHT_VERDEF, _SHT_VERNEED, _SHT_VERSYM = 0x6FFFFFFD, 0x6FFFFFFE, 0x6FFFFFFF  # GNU symbol versions
_SHF_COMPRESSED = 0x800
_SHT_RELR = 19
_SYMBOL_TABLES = frozenset({SHT_SYMTAB, SHT_DYNSYM, _SHT_LDYNSYM})
# Section types whose sh_link must name a section of one of these types.
_STRINGS, _SYMBOLS = frozenset({SHT_STRTAB}), frozenset({SHT_SYMTAB, SHT_DYNSYM})
_LINK_TYPES = {
    **dict.fromkeys((*_SYMBOL_TABLES, _SHT_VERDEF, _SHT_VERNEED), _STRINGS),
    **dict.fromkeys((SHT_HASH, _SHT_GNU_HASH, _SHT_SYMINFO, _SHT_VERSYM), _SYMBOLS),
    SHT_DYNAMIC: frozenset({SHT_STRTAB, SHT_NOBITS, SHT_NULL}),
}
_NO_OFFSET = 1 << 63  # no file offset is this big (and seeking there fails)
_MAX_STRING = 1024**2  # a dynamic string longer than this is not one


@dataclass(frozen=True)
class ElfFacts:
    ident: tuple[int, ...]  # class, data encoding, machine, type, entry
    size: int
    loads: tuple[ElfSegment, ...]
    others: tuple[tuple[int, int, int, int], ...]  # other segments but notes: type, vaddr, memsz, flags
    has_dynamic: bool
    dynamic: dict[str, list[str]]  # DT_NEEDED, DT_SONAME, DT_RPATH, DT_RUNPATH
    pointers: tuple[int, ...]  # addresses named by dynamic tags
    dynsym_count: int | None
    alloc: tuple[tuple[int, int], ...] | None  # [start, end) of allocated sections; None without section headers
    contents: tuple[tuple[int, int], ...]  # (address, size) of allocated sections that have file contents
    header_ranges: tuple[tuple[int, int], ...]  # ELF header and program header table in the file: [start, end)


@dataclass(frozen=True)
class _Headers:
    """One file's headers, as :func:`elf_facts` reads them."""

    data: Image
    hdr: ElfHeader
    sections: tuple[ElfSection, ...]
    segments: tuple[ElfSegment, ...]

    def section(self, index: int, what: str) -> ElfSection:
        """Section ``index``; its header may lie past the table's end (a link or name table index that says so)."""
        if index < len(self.sections):
            return self.sections[index]
        hdr = self.hdr
        at, size = hdr.e_shoff + index * hdr.e_shentsize, struct.calcsize(hdr.shdr_format)
        if at + size > len(self.data):
            raise Malformed(f"the header of {what} lies past the end of the file")
        raw = self.data[at : at + size]
        return ElfSection(index, raw, b"", *struct.unpack(hdr.shdr_format, raw))


def elf_facts(data: Image) -> ElfFacts:
    """What :func:`verify_elf` compares; raises :class:`Malformed` (or :class:`UnicodeDecodeError`)."""
    hdr = read_header(data)
    sections = read_sections(data, hdr)
    count = hdr.e_phnum
    if count == PN_XNUM:  # the real number lives in section 0
        if not sections:
            raise Malformed("PN_XNUM program header count without section headers")
        count = sections[0].sh_info
    f = _Headers(data, hdr, sections, read_segments(data, hdr, count))
    _check_sections(f)
    dynamic: dict[str, list[str]] = {tag: [] for tag in _DT_STRINGS.values()}
    pointers: list[int] = []
    for seg in f.segments:
        if seg.p_type == PT_DYNAMIC:
            _read_dynamic(f, seg, dynamic, pointers)
    alloc: list[tuple[int, int]] | None = [] if sections else None
    contents: list[tuple[int, int]] = []
    for s in sections:
        flags, size, nobits = s.sh_flags, s.sh_size, s.sh_type == SHT_NOBITS
        if alloc is not None and flags & SHF_ALLOC and size and not (flags & SHF_TLS and nobits):
            alloc.append((s.sh_addr, s.sh_addr + size))
            if not nobits:
                contents.append((s.sh_addr, size))
    dynsym = next((s for s in sections if s.sh_type == SHT_DYNSYM), None)
    return ElfFacts(
        ident=(64 if hdr.is64 else 32, hdr.endian == "<", hdr.e_machine, hdr.e_type, hdr.e_entry),
        size=len(data),
        loads=tuple(s for s in f.segments if s.p_type == PT_LOAD),
        others=tuple(
            (s.p_type, s.p_vaddr, s.p_memsz, s.p_flags) for s in f.segments if s.p_type not in (PT_LOAD, PT_NOTE)
        ),
        has_dynamic=any(s.p_type == PT_DYNAMIC for s in f.segments),
        dynamic=dynamic,
        pointers=tuple(pointers),
        dynsym_count=dynsym.sh_size // dynsym.sh_entsize if dynsym is not None else None,
        alloc=tuple(alloc) if alloc is not None else None,
        contents=tuple(contents),
        header_ranges=((0, hdr.e_ehsize), (hdr.e_phoff, hdr.e_phoff + hdr.e_phnum * hdr.e_phentsize)),
    )


def _check_sections(f: _Headers) -> None:
    """The section headers hang together (see the module docstring); :class:`Malformed` if they do not."""
    if not f.sections:
        return
    names = f.section(names_index(f.hdr, f.sections), "the section name table")
    for s in f.sections:
        if names.sh_offset + s.sh_name >= _NO_OFFSET:
            raise Malformed(f"section {s.index} has its name at {names.sh_offset + s.sh_name:#x}")
        problem = _section_problem(f, s)
        if problem is not None:
            raise Malformed(f"{s.label()} (type {s.sh_type:#x}) {problem}")


def _section_problem(f: _Headers, s: ElfSection) -> str | None:
    is64 = f.hdr.is64
    if s.sh_flags & _SHF_COMPRESSED and s.sh_offset + (24 if is64 else 12) > len(f.data):
        return "has a compression header past the end of the file"
    expected = _LINK_TYPES.get(s.sh_type)
    if expected is not None:
        linked = f.section(s.sh_link, f"section {s.sh_link}").sh_type
        if linked not in expected:
            return f"links to section {s.sh_link} of type {linked:#x}, not {' or '.join(map(hex, sorted(expected)))}"
    if s.sh_type in _SYMBOL_TABLES and (s.sh_entsize <= 0 or s.sh_size % s.sh_entsize):
        return f"holds no whole number of {s.sh_entsize}-byte entries"
    entry_size = {SHT_REL: 16 if is64 else 8, SHT_RELA: 24 if is64 else 12, _SHT_RELR: 8 if is64 else 4}
    if s.sh_type in entry_size and s.sh_entsize != entry_size[s.sh_type]:
        return f"has relocation entries of {s.sh_entsize} bytes"
    if (s.sh_type == SHT_HASH and s.sh_size) or s.sh_type == _SHT_GNU_HASH:
        counts = unpack(f.hdr.endian + ("II" if s.sh_type == SHT_HASH else "IIII"), f.data, s.sh_offset)
        if s.sh_type == SHT_HASH:
            size = 8 + 4 * (counts[0] + counts[1])  # nbuckets, nchains
        else:  # nbuckets, symoffset, bloom_size, bloom_shift
            size = 16 + (8 if is64 else 4) * counts[2] + 4 * counts[0]
        if s.sh_offset + size > len(f.data):
            return "has a hash table that runs past the end of the file"
    return None


def _dynamic_entries(f: _Headers, seg: ElfSegment) -> Iterator[tuple[int, int]]:
    """(d_tag, d_val) of a PT_DYNAMIC segment up to and including ``DT_NULL`` (which may lie past ``p_filesz``)."""
    if not seg.p_filesz:
        return
    size, fmt = (16, f.hdr.endian + "QQ") if f.hdr.is64 else (8, f.hdr.endian + "II")
    at = seg.p_offset
    while True:
        chunk = f.data[at : at + 4096 * size]
        n = len(chunk) // size
        if n == 0:
            raise Malformed(f"the dynamic section at {seg.p_offset:#x} has no DT_NULL before the end of the file")
        for tag, value in struct.iter_unpack(fmt, chunk[: n * size]):
            yield tag, value
            if tag == _DT_NULL:
                return
        at += n * size


def _read_dynamic(f: _Headers, seg: ElfSegment, dynamic: dict[str, list[str]], pointers: list[int]) -> None:
    """Add the strings and addresses of one PT_DYNAMIC segment to ``dynamic`` and ``pointers``."""
    tags = list(_dynamic_entries(f, seg))
    if not tags:
        return
    string_at = _dynamic_strings(f, seg, tags)
    strtab: int | None = None
    strsz = 0
    for tag, value in tags:
        if tag in _DT_STRINGS:
            dynamic[_DT_STRINGS[tag]].append(string_at(value))
        elif tag in _DT_POINTERS:
            pointers.append(value)
            if tag == _DT_STRTAB:
                strtab = value
        elif tag == _DT_STRSZ:
            strsz = value
    if strtab is not None and strsz:
        pointers.append(strtab + strsz - 1)  # the string table must stay whole


class _Strings:
    """Strings of a dynamic string table at a file offset (``strict``: undecodable UTF-8 raises)."""

    def __init__(self, data: Image, offset: int, strict: bool) -> None:
        self.data, self.offset, self.errors = data, offset, "strict" if strict else "replace"

    def __call__(self, value: int) -> str:
        at = self.offset + value
        if at >= _NO_OFFSET:
            raise Malformed(f"a dynamic string at {at:#x}")
        parts: list[bytes] = []
        while at < len(self.data) and sum(map(len, parts)) < _MAX_STRING:
            block = self.data[at : at + 4096]
            end = block.find(b"\0")
            if end >= 0:
                return (b"".join(parts) + block[:end]).decode("utf-8", self.errors)
            parts.append(block)
            at += len(block)
        if at < len(self.data):
            raise Malformed(f"the dynamic string at {self.offset + value:#x} does not end")
        return ""  # no NUL before the end of the file


def _dynamic_strings(f: _Headers, seg: ElfSegment, tags: list[tuple[int, int]]) -> _Strings:
    """Where the strings of a PT_DYNAMIC segment live: the string table its SHT_DYNAMIC section links to; without
    one, ``DT_STRTAB`` in a PT_LOAD; without that, a section named ``.dynstr``."""
    section = next((s for s in f.sections if s.sh_type == SHT_DYNAMIC and s.sh_offset == seg.p_offset), None)
    if section is not None:
        table: ElfSection | None = f.section(section.sh_link, "the dynamic string table")
    else:
        address = next((value for tag, value in tags if tag == _DT_STRTAB), None)
        if address is not None:
            for load in f.segments:
                if load.p_type == PT_LOAD and load.p_vaddr <= address < load.p_vaddr + load.p_filesz:
                    return _Strings(f.data, address - load.p_vaddr + load.p_offset, strict=True)
        table = next((s for s in reversed(f.sections) if s.name == b".dynstr"), None)
    if table is None or table.sh_type != SHT_STRTAB:
        raise Malformed(f"no string table for the dynamic section at {seg.p_offset:#x}")
    return _Strings(f.data, table.sh_offset, strict=False)


# ----------------------------------------------------------------------------------------------------------
# Comparing
# ----------------------------------------------------------------------------------------------------------


def _blank_headers(image: bytes, facts: ElfFacts, offset: int) -> bytes:
    """``image`` (read at file ``offset``) with the ELF header and program header table zeroed.

    strip rewrites those (section header offset, segment offsets), and the loader reads them from the file.
    """
    out = bytearray(image)
    for start, end in facts.header_ranges:
        lo, hi = max(start, offset), min(end, offset + len(image))
        if lo < hi:
            out[lo - offset : hi - offset] = bytes(hi - lo)
    return bytes(out)


def _load_offset(facts: ElfFacts, address: int, size: int) -> int | None:
    """The file offset the loader maps ``[address, address + size)`` from; ``None`` if no segment has it all."""
    for load in facts.loads:
        if load.p_vaddr <= address and address + size <= load.p_vaddr + load.p_filesz:
            return load.p_offset + address - load.p_vaddr
    return None


def _changed_contents(original: Image, before: ElfFacts, stripped: Image, after: ElfFacts) -> str | None:
    """Where the loaded image differs, if it does.

    Compared section by section: bytes that no section covers (e.g. the "X" filler patchelf leaves where it
    moved ``.dynsym`` away from) are nobody's business, and strip zeroes them. A big section is compared in
    :data:`COMPARE`-byte pieces.
    """
    if before.alloc is None:  # no section headers: whole segments must be identical
        pairs = zip(before.loads, after.loads, strict=True)
        regions = [(old.p_vaddr, min(old.p_filesz, new.p_filesz)) for old, new in pairs]
    else:
        regions = list(before.contents)
    for address, size in regions:
        old_at = _load_offset(before, address, size)
        if old_at is None:
            continue  # not loaded from the file in the original either
        new_at = _load_offset(after, address, size)
        for at in range(0, size, COMPARE) if new_at is not None else [0]:
            n = min(COMPARE, size - at)
            old = _blank_headers(original[old_at + at : old_at + at + n], before, old_at + at)
            if new_at is None or _blank_headers(stripped[new_at + at : new_at + at + n], after, new_at + at) != old:
                return f"loaded contents at {address:#x} ({size:#x} bytes) changed"
    return None


def _trimmed_tail_problem(before: ElfFacts, old: ElfSegment, new: ElfSegment) -> str | None:
    """Why a segment whose size changed is not just missing an unused tail (``None`` if it is).

    GNU strip drops the bytes at the end of a segment that no section covers, such as what patchelf leaves
    behind after moving ``.dynstr``/``.dynsym``. That is harmless if nothing the linker placed and nothing the
    dynamic section points to lies there, and if the segment had no zero-filled (``.bss``) part.
    """
    if old.p_memsz != old.p_filesz or new.p_memsz != new.p_filesz or new.p_filesz > old.p_filesz:
        return "size changed"
    if before.alloc is None:
        return "size changed (no section headers to prove the cut part unused)"
    cut_start, cut_end = old.p_vaddr + new.p_memsz, old.p_vaddr + old.p_memsz
    for start, end in before.alloc:
        if start < cut_end and cut_start < end:
            return f"size changed, cutting an allocated section at {start:#x}"
    for address in before.pointers:
        if cut_start <= address < cut_end:
            return f"size changed, cutting data at {address:#x} used by the dynamic section"
    return None


def _ident_names(ident: tuple[int, ...]) -> tuple[Any, ...]:
    """The header identity as messages have always named it (pyelftools' enumeration names, e.g. ``EM_X86_64``)."""
    from elftools.elf.enums import ENUM_E_MACHINE, ENUM_E_TYPE

    elf_class, little_endian, machine, e_type, entry = ident
    machines = {v: k for k, v in ENUM_E_MACHINE.items() if k != "_default_"}
    types = {v: k for k, v in ENUM_E_TYPE.items() if k != "_default_"}
    return (elf_class, bool(little_endian), machines.get(machine, machine), types.get(e_type, e_type), entry)


def _load_problem(before: ElfFacts, after: ElfFacts) -> str | None:
    """What is wrong with the stripped file's PT_LOAD segments, on their own and against the original's."""
    for i, load in enumerate(after.loads):
        if load.p_align > 1 and (load.p_offset - load.p_vaddr) % load.p_align:
            return (
                f"PT_LOAD[{i}] offset {load.p_offset:#x} and address {load.p_vaddr:#x} are not congruent modulo "
                f"p_align {load.p_align:#x} (ELF load command address/offset not page-aligned)"
            )
        if load.p_offset + load.p_filesz > after.size:
            end = load.p_offset + load.p_filesz
            return f"PT_LOAD[{i}] ends at {end:#x}, past the end of the file ({after.size:#x})"
    if [(s.p_vaddr, s.p_flags) for s in before.loads] != [(s.p_vaddr, s.p_flags) for s in after.loads]:
        return f"PT_LOAD segments changed ({len(before.loads)} before, {len(after.loads)} after)"
    for i, (old, new) in enumerate(zip(before.loads, after.loads, strict=True)):
        if (old.p_filesz, old.p_memsz) != (new.p_filesz, new.p_memsz):
            problem = _trimmed_tail_problem(before, old, new)
            if problem is not None:
                return f"PT_LOAD[{i}] at {old.p_vaddr:#x}: {problem} ({old.p_memsz:#x} -> {new.p_memsz:#x} bytes)"
    return None


def _dynamic_problem(before: ElfFacts, after: ElfFacts) -> str | None:
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


def verify_elf(original: Image, stripped: Image) -> str | None:
    """``None`` if ``stripped`` loads like ``original``, else a one-line problem."""
    facts = parse_both(elf_facts, original, stripped, "ELF")
    if isinstance(facts, str):
        return facts
    before, after = facts
    if before.ident != after.ident:
        names = ("ELF class", "endianness", "machine", "type", "entry point")
        old_ident, new_ident = _ident_names(before.ident), _ident_names(after.ident)
        for what, old_value, new_value in zip(names, old_ident, new_ident, strict=True):
            if old_value != new_value:
                return f"{what} changed from {old_value} to {new_value}"
    problem = _load_problem(before, after) or _changed_contents(original, before, stripped, after)
    if problem is not None:
        return problem
    if before.others != after.others:
        return "program headers other than PT_LOAD/PT_NOTE changed"
    return _dynamic_problem(before, after)
