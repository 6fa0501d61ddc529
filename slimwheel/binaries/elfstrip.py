"""A streamed, built-in ELF section stripper: removes debug sections (and the symbol table) from an ELF executable
or shared object without ever holding the file in memory.

What it guarantees, when :func:`strip_sections` returns:

* every byte up to the end of everything the loader or the dynamic linker can see is copied unchanged: the ELF
  header (except ``e_shoff``, ``e_shnum`` and ``e_shstrndx``, which describe the new section header table), the
  program header table, the file image of every segment, every ``SHF_ALLOC`` section, and any kept section whose
  data starts before that point. Program headers are never rewritten, so no segment, offset or size changes;
* after that point come the kept non-allocated sections that were there (in their original order, each at an
  offset aligned to its ``sh_addralign``), then a new section header table. Section indices of kept sections are
  renumbered, and ``sh_link`` (and ``sh_info`` of ``SHT_REL``/``SHT_RELA`` and ``SHF_INFO_LINK`` sections) follow;
* memory stays bounded: headers are read by :mod:`.elf` (the ELF reader all of :mod:`slimwheel.binaries`
  shares), section names come from the section name string table alone, data is copied in :data:`CHUNK`-byte
  pieces (or in the kernel, by ``os.copy_file_range``), and a symbol table is scanned in pieces. A 400 MB library
  costs a few MB, not 400;
* whenever it cannot prove the result equivalent it raises :class:`ElfStripError` (one line) and writes nothing:
  a removed section would shift the index of a section some symbol refers to (any ``SHF_ALLOC`` section after a
  removed one, or, at ``--strip-debug``, a ``.symtab`` symbol whose ``st_shndx`` would change), a kept section
  links to a removed one, section groups, extended section/program header numbering (``SHN_XINDEX``,
  ``SHN_LORESERVE``, ``PN_XNUM``), malformed headers, or nothing to save.

Bytes after the last kept section that no section describes (trailing data appended to the file) are dropped, as
GNU strip does. The section name string table is kept as it is (names of removed sections stay in it).

What it must not know: it knows ELF only (ELF32/ELF64, little and big endian, ``ET_EXEC``/``ET_DYN``). Nothing
about wheels, archives, external strip tools or how its output is verified: the caller verifies the output like any
strip tool's.
"""

from __future__ import annotations

import os
import shutil
import struct
from collections.abc import Iterable
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import BinaryIO

from .elf import (
    ET_DYN,
    ET_EXEC,
    PN_XNUM,
    SHN_LORESERVE,
    SHN_XINDEX,
    SHT_DYNSYM,
    SHT_GROUP,
    SHT_REL,
    SHT_RELA,
    SHT_STRTAB,
    SHT_SYMTAB,
    SHT_SYMTAB_SHNDX,
    ElfHeader,
    ElfSection,
    read_header,
    read_sections,
    read_segments,
)
from .reading import FileView, Malformed

__all__ = ["CHUNK", "ElfStripError", "StripMode", "strip_sections"]

#: Bytes copied (or symbol table bytes scanned) per step.
CHUNK = 1024 * 1024

_MAX_NAMES = 16 * 1024 * 1024  # a section name string table bigger than this is not a real one
_MAX_ALIGN = 1024 * 1024  # nor is a non-allocated section that wants a bigger file alignment
_DEBUG_PREFIXES = (b".debug", b".zdebug", b".gnu.debuglto_", b".gnu.linkonce.wi.", b".line", b".stab", b".gdb_index")


class ElfStripError(Exception):
    """The file cannot be stripped safely (or is not a strippable ELF file); the message is one line."""


class StripMode(StrEnum):
    """What to remove, named after the GNU strip options that remove the same sections."""

    DEBUG = "--strip-debug"
    UNNEEDED = "--strip-unneeded"


@dataclass(frozen=True)
class _Plan:
    header: ElfHeader
    sections: tuple[ElfSection, ...]
    kept: tuple[ElfSection, ...]
    keep_end: int  # bytes [0, keep_end) are copied unchanged
    moved: tuple[tuple[ElfSection, int], ...]  # kept sections after keep_end and their new offsets, in file order
    shoff: int  # new section header table
    new_index: dict[int, int]
    size: int  # of the output


def strip_sections(source: Path, output: Path, mode: StripMode | str) -> None:
    """Write ``source`` without its debug sections (``--strip-debug``), and without its symbol table as well
    (``--strip-unneeded``), to ``output`` (file mode copied). Raises :class:`ElfStripError` (one line) and leaves no
    ``output`` if that cannot be done safely; see the module docstring for what is guaranteed."""
    mode = StripMode(mode)
    if output.exists() and os.path.samefile(source, output):
        raise ElfStripError("the output file is the input file")
    with FileView(source) as view:
        plan = _plan(view, mode)
        try:
            with open(output, "wb") as dst:
                _write(view.stream, dst, plan)
            shutil.copymode(source, output)
        except BaseException:
            output.unlink(missing_ok=True)
            raise


# ----------------------------------------------------------------------------------------------------------
# Reading
# ----------------------------------------------------------------------------------------------------------


def _read(view: FileView, size: int, offset: int, what: str) -> bytes:
    """Exactly ``size`` bytes at ``offset``; the file's size is checked first (a bogus size reads nothing)."""
    if offset + size > len(view):
        raise ElfStripError(f"{what} runs past the end of the file")
    data = view[offset : offset + size]
    if len(data) != size:  # pragma: no cover - the file shrank under us
        raise ElfStripError(f"{what} runs past the end of the file")
    return data


def _header(view: FileView) -> ElfHeader:
    """The ELF header of a file this stripper can work on (:func:`.elf.read_header` plus its own limits)."""
    hdr = read_header(view)
    is64, e_type = hdr.is64, hdr.e_type
    if e_type not in (ET_EXEC, ET_DYN):
        raise ElfStripError(f"ELF type {e_type}: only executables and shared objects are stripped")
    if hdr.e_shoff == 0:
        raise ElfStripError("no section header table")
    if hdr.e_shnum == 0 or hdr.e_shstrndx == SHN_XINDEX:
        raise ElfStripError("extended section numbering (SHN_XINDEX) is not supported")
    if hdr.e_shstrndx == 0 or hdr.e_shstrndx >= min(hdr.e_shnum, SHN_LORESERVE):
        raise ElfStripError(f"bad section name table index {hdr.e_shstrndx}")
    if hdr.e_phnum == PN_XNUM:
        raise ElfStripError("extended program header numbering (PN_XNUM) is not supported")
    if hdr.e_shentsize < (64 if is64 else 40) or (hdr.e_phnum and hdr.e_phentsize < (56 if is64 else 32)):
        raise ElfStripError("bad section or program header entry size")
    if hdr.e_ehsize < (64 if is64 else 52) or hdr.e_ehsize > len(view):
        raise ElfStripError("bad ELF header size")
    return hdr


def _sections(view: FileView, hdr: ElfHeader) -> tuple[ElfSection, ...]:
    """The section headers, with names from a section name table that must be a sane string table."""
    sections = read_sections(view, hdr, max_names=_MAX_NAMES)
    names = sections[hdr.e_shstrndx]
    if names.sh_type != SHT_STRTAB:
        raise ElfStripError("the section name table is not a string table")
    if names.sh_size > _MAX_NAMES:
        raise ElfStripError(f"section name table too big ({names.sh_size:#x} bytes)")
    if names.sh_offset + names.sh_size > len(view):
        raise ElfStripError("section name table runs past the end of the file")
    sections = (replace(sections[0], name=b""), *sections[1:])
    for s in sections:
        if s.index and s.sh_name >= names.sh_size:
            raise ElfStripError(f"section {s.index} has a name outside the section name table")
        if s.file_size and s.sh_offset + s.sh_size > len(view):
            raise ElfStripError(f"{s.label()} runs past the end of the file")
    return sections


def _is_debug(section: ElfSection) -> bool:
    return not section.alloc and section.name.startswith(_DEBUG_PREFIXES)


def _symbol_section_indices(view: FileView, hdr: ElfHeader, table: ElfSection) -> Iterable[tuple[int, int]]:
    """(symbol number, st_shndx) of every symbol of a symbol table, read :data:`CHUNK` bytes at a time."""
    minimum = 24 if hdr.is64 else 16
    entsize = table.sh_entsize or minimum
    if entsize < minimum:
        raise ElfStripError(f"{table.label()} has a bad sh_entsize {entsize}")
    at = 6 if hdr.is64 else 14  # st_shndx within an entry
    fmt = f"{hdr.endian}{at}xH{entsize - at - 2}x"
    count = table.sh_size // entsize
    per_chunk = max(1, CHUNK // entsize)
    for first in range(0, count, per_chunk):
        n = min(per_chunk, count - first)
        data = _read(view, n * entsize, table.sh_offset + first * entsize, table.label())
        for number, (shndx,) in enumerate(struct.iter_unpack(fmt, data), start=first):
            yield number, shndx


# ----------------------------------------------------------------------------------------------------------
# Deciding
# ----------------------------------------------------------------------------------------------------------


def _removed(sections: tuple[ElfSection, ...], shstrndx: int, mode: StripMode) -> set[int]:
    removed = {s.index for s in sections if _is_debug(s)}
    if mode is StripMode.UNNEEDED:
        removed |= {s.index for s in sections if not s.alloc and s.sh_type in (SHT_SYMTAB, SHT_SYMTAB_SHNDX)}
    # relocations for removed sections (nothing relocates a relocation section: one pass is enough)
    removed |= {s.index for s in sections if not s.alloc and s.sh_type in (SHT_REL, SHT_RELA) and s.sh_info in removed}
    if mode is StripMode.UNNEEDED:
        for symtab in [s for s in sections if s.index in removed and s.sh_type == SHT_SYMTAB]:
            link = symtab.sh_link
            if not 0 < link < len(sections) or link == shstrndx or link in removed:
                continue
            strtab = sections[link]
            if strtab.alloc or strtab.sh_type != SHT_STRTAB:
                continue
            users = [s for s in sections if s.index not in removed and s.index != link and link in _links(s)]
            if not users:
                removed.add(link)
    removed.discard(0)
    return removed


def _links(section: ElfSection) -> tuple[int, ...]:
    """The section indices a section header refers to."""
    links = [section.sh_link] if section.sh_link else []
    if section.info_is_index and section.sh_info:
        links.append(section.sh_info)
    return tuple(links)


def _check(view: FileView, hdr: ElfHeader, sections: tuple[ElfSection, ...], removed: set[int]) -> None:
    first = min(removed)
    for s in sections:
        if s.sh_type == SHT_GROUP:
            raise ElfStripError(f"section groups are not supported ({s.label()} is SHT_GROUP)")
        if s.alloc and s.index > first:
            raise ElfStripError(
                f"{sections[first].label()} would be removed before allocated {s.label()}: "
                "section indices the dynamic symbols use would change"
            )
    if hdr.e_shstrndx in removed:
        raise ElfStripError(f"the section name table {sections[hdr.e_shstrndx].label()} would be removed")
    for s in sections:
        if s.index in removed:
            continue
        for link in _links(s):
            if link >= len(sections):
                raise ElfStripError(f"{s.label()} refers to section {link}, which does not exist")
            if link in removed:
                raise ElfStripError(f"{s.label()} refers to {sections[link].label()}, which would be removed")
    # Symbols name their section by index: no kept symbol table may refer to a section whose index changes.
    # (.dynsym is loaded and cannot be rewritten; .symtab is not rewritten either.)
    tables = [s for s in sections if s.index not in removed and s.sh_type in (SHT_SYMTAB, SHT_DYNSYM)]
    for table in tables:
        for number, shndx in _symbol_section_indices(view, hdr, table):
            if shndx == SHN_XINDEX or first <= shndx < SHN_LORESERVE:
                what = "an extended section index" if shndx == SHN_XINDEX else f"section {shndx}"
                raise ElfStripError(f"symbol {number} of {table.label()} refers to {what}, whose index would change")


def _align(value: int, alignment: int) -> int:
    return -(-value // alignment) * alignment


def _plan(view: FileView, mode: StripMode) -> _Plan:
    file_size = len(view)
    try:
        hdr = _header(view)
        if hdr.e_phoff + hdr.e_phnum * hdr.e_phentsize > file_size:  # even an empty one
            raise ElfStripError("program header table runs past the end of the file")
        segments = [(s.p_type, s.p_offset, s.p_filesz) for s in read_segments(view, hdr)]
        sections = _sections(view, hdr)
    except Malformed as exc:
        raise ElfStripError(str(exc)) from None
    except struct.error as exc:  # pragma: no cover - every read is length-checked first
        raise ElfStripError(f"malformed ELF headers: {exc}") from None
    removed = _removed(sections, hdr.e_shstrndx, mode)
    if not removed:
        what = "debug sections" if mode is StripMode.DEBUG else "debug sections or symbol table"
        raise ElfStripError(f"no {what} to remove")
    _check(view, hdr, sections, removed)

    # Everything the loader can see stays where it is, byte for byte.
    keep_end = max(hdr.e_ehsize, hdr.e_phoff + hdr.e_phnum * hdr.e_phentsize if hdr.e_phnum else 0)
    for _type, offset, filesz in segments:
        if filesz:
            if offset + filesz > file_size:
                raise ElfStripError(f"a segment at {offset:#x} runs past the end of the file")
            keep_end = max(keep_end, offset + filesz)
    for s in sections:
        if s.alloc and s.file_size:
            keep_end = max(keep_end, s.sh_offset + s.file_size)
    kept = tuple(s for s in sections if s.index not in removed)
    grown = True
    while grown:  # a kept section that starts in the kept part stays in place, whole
        grown = False
        for s in kept:
            if s.file_size and s.sh_offset < keep_end < s.sh_offset + s.file_size:
                keep_end, grown = s.sh_offset + s.file_size, True

    moved: list[tuple[ElfSection, int]] = []
    position = keep_end
    for s in sorted((s for s in kept[1:] if s.sh_offset >= keep_end), key=lambda s: (s.sh_offset, s.index)):
        alignment = max(1, s.sh_addralign)
        if alignment > _MAX_ALIGN:
            raise ElfStripError(f"{s.label()} has an implausible alignment {alignment:#x}")
        if s.file_size:
            position = _align(position, alignment)
        moved.append((s, position))
        position += s.file_size
    shoff = _align(position, 8 if hdr.is64 else 4)
    size = shoff + len(kept) * hdr.e_shentsize
    if size >= file_size:
        raise ElfStripError(f"nothing would be saved ({file_size:,} -> {size:,} bytes)")
    new_index = {s.index: i for i, s in enumerate(kept)}
    return _Plan(hdr, sections, kept, keep_end, tuple(moved), shoff, new_index, size)


# ----------------------------------------------------------------------------------------------------------
# Writing
# ----------------------------------------------------------------------------------------------------------


def _copy(src: BinaryIO, dst: BinaryIO, offset: int, size: int) -> None:
    """Append ``size`` bytes of ``src`` from ``offset`` to ``dst`` (at its current position)."""
    dst.flush()
    out_fd, in_fd = dst.fileno(), src.fileno()
    done = 0
    try:
        while done < size:  # in the kernel: no user-space buffer at all
            n = os.copy_file_range(in_fd, out_fd, min(size - done, 64 * CHUNK), offset + done)
            if n <= 0:
                break
            done += n
    except (AttributeError, OSError):  # no copy_file_range here, or not between these files
        pass
    dst.seek(0, os.SEEK_END)
    while done < size:
        data = os.pread(in_fd, min(CHUNK, size - done), offset + done)
        if not data:
            raise ElfStripError("the file got shorter while it was being stripped")
        dst.write(data)
        done += len(data)


def _section_header(plan: _Plan, s: ElfSection, offsets: dict[int, int]) -> bytes:
    """``s``'s header entry in the output: its new offset, and its links to the new section indices."""
    link = plan.new_index[s.sh_link] if s.sh_link else 0
    info = plan.new_index[s.sh_info] if s.info_is_index and s.sh_info else s.sh_info
    offset = offsets.get(s.index, s.sh_offset)
    fields = (s.sh_name, s.sh_type, s.sh_flags, s.sh_addr, offset, s.sh_size, link, info, s.sh_addralign, s.sh_entsize)
    fmt = plan.header.shdr_format
    return struct.pack(fmt, *fields) + s.raw[struct.calcsize(fmt) :]


def _write(src: BinaryIO, dst: BinaryIO, plan: _Plan) -> None:
    hdr = plan.header
    _copy(src, dst, 0, plan.keep_end)
    position = plan.keep_end
    offsets: dict[int, int] = {}
    for s, offset in plan.moved:
        if offset > position:
            dst.write(bytes(offset - position))
        offsets[s.index] = offset
        _copy(src, dst, s.sh_offset, s.file_size)
        position = offset + s.file_size
    dst.write(bytes(plan.shoff - position))
    dst.write(b"".join(_section_header(plan, s, offsets) for s in plan.kept))
    e = hdr.endian
    if hdr.is64:
        dst.seek(40)
        dst.write(struct.pack(e + "Q", plan.shoff))
        dst.seek(60)
    else:
        dst.seek(32)
        dst.write(struct.pack(e + "I", plan.shoff))
        dst.seek(48)
    dst.write(struct.pack(e + "HH", len(plan.kept), plan.new_index[hdr.e_shstrndx]))
    dst.flush()
    if dst.seek(0, os.SEEK_END) != plan.size:  # pragma: no cover - a bug, not a property of the input
        raise ElfStripError(f"wrote {dst.tell():,} bytes instead of {plan.size:,}")
