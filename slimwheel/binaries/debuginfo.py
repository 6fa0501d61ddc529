"""Debug symbols kept on the side: an ELF file's GNU build-id (:func:`build_id`), its debug information and symbol
table copied into a separate file before it is stripped (``objcopy --only-keep-debug``), and optionally a
``.gnu_debuglink`` from the stripped file to that copy (:class:`SideDebug`).

What it guarantees: the separate file is made from the original, unstripped file, once, and only when asked for
(:meth:`SideDebug.file`: the strip tools ran first, or a debuglink needs its CRC); it lies in the strip's working
directory under ``<file name>.debug`` (the name a ``.gnu_debuglink`` records), and where it goes next is the
caller's business. Anything that goes wrong is one :class:`~.tools.StripToolError` with a one-line message. Adding
a debuglink adds one non-allocated section and changes nothing that is loaded: the stripped file is verified
after it (:mod:`.stripping`). What it must not know: wheels, archives, where the debug files end up.
"""

from __future__ import annotations

import struct
from pathlib import Path

from . import tools as _tools
from .elf import PN_XNUM, PT_NOTE, read_header, read_sections, read_segments
from .model import DebugFile
from .reading import FileView, Image, Malformed, first_line

SHT_NOTE = 7
NT_GNU_BUILD_ID = 3
_MAX_NOTES = 1 << 16  # bytes of one note section or segment read for a build-id


def build_id(data: Image) -> str | None:
    """The GNU build-id of an ELF file in lower-case hex (``None`` if it has none, or is no ELF file): the
    ``NT_GNU_BUILD_ID`` note of its note sections, else of its ``PT_NOTE`` segments. Bounds-checked; never raises
    on a malformed file."""
    try:
        hdr = read_header(data)
        sections = read_sections(data, hdr)
        count = sections[0].sh_info if hdr.e_phnum == PN_XNUM and sections else hdr.e_phnum
        segments = read_segments(data, hdr, count)
    except Malformed:
        return None
    notes = [(s.sh_offset, s.sh_size, s.sh_addralign) for s in sections if s.sh_type == SHT_NOTE]
    notes += [(p.p_offset, p.p_filesz, p.p_align) for p in segments if p.p_type == PT_NOTE]
    for offset, size, align in notes:
        found = _build_id_in(data[offset : offset + min(size, _MAX_NOTES)], hdr.endian, 8 if align == 8 else 4)
        if found is not None:
            return found
    return None


def _build_id_in(notes: bytes, endian: str, align: int) -> str | None:
    """The build-id among the notes (namesz, descsz, type, name, desc; each padded to ``align``), if any."""
    at = 0
    while at + 12 <= len(notes):
        namesz, descsz, note_type = struct.unpack_from(endian + "III", notes, at)
        desc_at = at + 12 + -(-namesz // align) * align
        if desc_at + descsz > len(notes):
            return None
        if note_type == NT_GNU_BUILD_ID and notes[at + 12 : at + 12 + namesz] == b"GNU\0" and descsz >= 2:
            return notes[desc_at : desc_at + descsz].hex()
        at = desc_at + -(-descsz // align) * align
    return None


class SideDebug:
    """The separate debug file of one ELF file being stripped: made from ``source`` on first use, in
    ``workdir/<source name>.debug.d/<name's file name>.debug``, with the first of ``objcopy`` tools that works."""

    def __init__(self, source: Path, name: str, workdir: Path, objcopy: tuple[str, ...]) -> None:
        self.source, self.objcopy = source, objcopy
        file_name = name.rsplit("/", 1)[-1].replace("\0", "_") or "binary"
        self.path = workdir / f"{source.name}.debug.d" / f"{file_name}.debug"
        self._made: DebugFile | str | None = None
        self._tool = ""  # the objcopy that made the debug file, which also adds the link

    def file(self) -> DebugFile:
        """The debug file, made on the first call; :class:`~.tools.StripToolError` if no tool can make it (the
        same error again on later calls)."""
        if self._made is None:
            self._made = self._make()
        if isinstance(self._made, str):
            raise _tools.StripToolError(self._made)
        return self._made

    def _make(self) -> DebugFile | str:
        if not self.objcopy:
            return "no objcopy installed (install binutils, or LLVM's llvm-objcopy)"
        self.path.parent.mkdir(exist_ok=True)
        problems = []
        for tool in self.objcopy:
            try:
                _tools.run_objcopy(tool, ["--only-keep-debug"], self.source, self.path)
            except _tools.StripToolError as exc:
                problems.append(f"{Path(tool).name} --only-keep-debug failed: {first_line(str(exc))}")
                continue
            self._tool = tool
            with FileView(self.source) as original:
                return DebugFile(self.path, build_id(original), self.path.stat().st_size)
        return problems[0]

    def link(self, stripped: Path) -> None:
        """Add a ``.gnu_debuglink`` to the debug file (its name and CRC) to ``stripped``, in place."""
        debug = self.file()
        linked = stripped.with_name(stripped.name + ".linked")
        _tools.run_objcopy(self._tool, [f"--add-gnu-debuglink={debug.path}"], stripped, linked)
        linked.replace(stripped)
