"""Verification of a stripped PE file: does it load like the original?

:func:`verify_pe` compares Machine, entry point and ImageBase; every section but the DWARF ones (name, address,
size, characteristics, contents); SizeOfImage (which may shrink by the dropped trailing DWARF sections only); the
data directories, every named export and every imported function; and the certificate table must lie inside the
file. pefile must not warn about the stripped file more often than about the original.

Two readers, on purpose. pefile reads the file as the loader sees it (section data at the adjusted raw pointer,
imports with their ordinals, ...) and its warnings are a rule of their own, which no comparison of facts replaces;
so it has to parse the whole file anyway (in memory: only PE files are read whole), and everything it reads right
is taken from it. :mod:`.pe` supplies what pefile gets wrong for this purpose: long GNU ld section names (pefile
keeps the raw ``/4``) and exports past pefile's cap of 8,192 names (OpenBLAS has 9,360). Timing, numpy 1.26's
38 MB OpenBLAS DLL: pefile's full parse 0.53 s, this module's reading beside it 0.04 s.

What it must not know: how the file was stripped, ELF, wheels or archives.
"""

from __future__ import annotations

from dataclasses import dataclass

from .pe import DIR_DEBUG, DIR_SECURITY, pe_exports, pe_headers
from .reading import Image, Malformed, first_line, is_debug_section, parse_both

# IMAGE_SCN_ALIGN_* bits only mean something in object files; GNU ld leaves them in images, strip clears them.
_SCN_ALIGN_MASK = 0x00F00000


@dataclass(frozen=True)
class PeFacts:
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


def pe_facts(image: Image) -> PeFacts:
    import pefile

    data = image if isinstance(image, bytes) else image.read_all()  # pefile parses in memory
    # Same parse as fast_load=False, minus the byte histogram of the whole file: its "Byte 0x00 makes up N%"
    # warnings are about content, not structure (stripping symbols changes them), and cost seconds on big DLLs.
    pe = pefile.PE(data=data, fast_load=True)
    try:
        pe.full_load()
        own = pe_headers(data)
        if len(own.sections) != len(pe.sections):
            raise Malformed("section count disagrees with pefile")
        sections, contents = [], []
        debug_end = 0
        for ours, s in zip(own.sections, pe.sections, strict=True):
            if is_debug_section(ours.name.encode("latin-1")):
                debug_end = max(debug_end, s.VirtualAddress + s.Misc_VirtualSize)
                continue
            flags = s.Characteristics & ~_SCN_ALIGN_MASK
            sections.append((ours.name, s.VirtualAddress, s.Misc_VirtualSize, flags))
            contents.append(s.get_data(length=min(s.SizeOfRawData, s.Misc_VirtualSize or s.SizeOfRawData)))
        oh = pe.OPTIONAL_HEADER
        dirs = oh.DATA_DIRECTORY
        security = (dirs[DIR_SECURITY].VirtualAddress, dirs[DIR_SECURITY].Size) if len(dirs) > 4 else (0, 0)
        imports = tuple(
            (entry.dll, tuple(imp.name or imp.ordinal for imp in entry.imports))
            for entry in getattr(pe, "DIRECTORY_ENTRY_IMPORT", [])
        )
        return PeFacts(
            warnings=tuple(w for w in pe.get_warnings() if "of the file's contents" not in w),
            ident=(pe.FILE_HEADER.Machine, oh.AddressOfEntryPoint, oh.ImageBase),
            size_of_image=oh.SizeOfImage,
            section_alignment=oh.SectionAlignment,
            sections=tuple(sections),
            contents=tuple(contents),
            debug_end=debug_end,
            directories=tuple(
                (d.VirtualAddress, d.Size) for i, d in enumerate(dirs) if i not in (DIR_SECURITY, DIR_DEBUG)
            ),
            exports=pe_exports(data, own),
            imports=imports,
            security=security,
            size=len(data),
        )
    finally:
        pe.close()


def _align_up(value: int, alignment: int) -> int:
    return value if alignment <= 1 else -(-value // alignment) * alignment


def _section_problem(before: PeFacts, after: PeFacts) -> str | None:
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
    return None


def verify_pe(original: Image, stripped: Image) -> str | None:
    """``None`` if ``stripped`` loads like ``original``, else a one-line problem."""
    facts = parse_both(pe_facts, original, stripped, "PE")
    if isinstance(facts, str):
        return facts
    before, after = facts
    if len(after.warnings) > len(before.warnings):
        new = [w for w in after.warnings if w not in before.warnings] or list(after.warnings)
        counts = f"{len(after.warnings)} times instead of {len(before.warnings)}"
        return f"pefile warns {counts}: {first_line(new[0])}"
    for what, old, new_value in zip(
        ("Machine", "AddressOfEntryPoint", "ImageBase"), before.ident, after.ident, strict=True
    ):
        if old != new_value:
            return f"{what} changed from {old:#x} to {new_value:#x}"
    problem = _section_problem(before, after)
    if problem is not None:
        return problem
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
