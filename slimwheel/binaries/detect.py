"""Which native format a file is in (:func:`detect_format`), and what it says about itself (:func:`describe`).

What it guarantees: both recognise ELF, PE and Mach-O from their magic bytes and the format readers of
:mod:`.elf`, :mod:`.pe` and :mod:`.macho`; neither raises, whatever the bytes. What it must not know: strip tools,
verification, wheels or archives.
"""

from __future__ import annotations

import struct

from .elf import ELF_MAGIC, describe_elf
from .macho import MACHO_FAT, MACHO_THIN, MAX_FAT_ARCHS, describe_macho
from .model import BinaryFormat, BinaryInfo
from .pe import describe_pe
from .reading import Image


def detect_format(head: bytes) -> BinaryFormat | None:
    """Recognise a native binary by its magic bytes.

    ``head`` may be just the first bytes of a file. For PE, the ``PE\\0\\0`` signature at ``e_lfanew`` is
    checked when ``head`` is long enough to contain it; otherwise ``MZ`` alone counts.
    """
    if head.startswith(ELF_MAGIC):
        return BinaryFormat.ELF
    if head.startswith(b"MZ"):
        if len(head) < 0x40:
            return BinaryFormat.PE
        (e_lfanew,) = struct.unpack_from("<I", head, 0x3C)
        if e_lfanew + 4 > len(head):
            return BinaryFormat.PE
        return BinaryFormat.PE if head[e_lfanew : e_lfanew + 4] == b"PE\0\0" else None
    magic = head[:4]
    if magic in MACHO_THIN:
        return BinaryFormat.MACHO
    if magic in MACHO_FAT:
        if len(head) < 8:
            return BinaryFormat.MACHO
        (nfat,) = struct.unpack_from(">I", head, 4)
        return BinaryFormat.MACHO if 0 < nfat <= MAX_FAT_ARCHS else None
    return None


def describe(data: Image) -> BinaryInfo | None:
    """Describe a native binary; ``None`` for anything that is not one or cannot be parsed. Never raises."""
    try:
        fmt = detect_format(data[:4096])
        if fmt is BinaryFormat.ELF:
            return describe_elf(data)
        if fmt is BinaryFormat.PE:
            return describe_pe(data)
        if fmt is BinaryFormat.MACHO:
            return describe_macho(data)
    except Exception:
        return None
    return None
