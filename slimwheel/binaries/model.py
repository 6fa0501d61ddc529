"""The vocabulary of :mod:`slimwheel.binaries`: formats, strip levels and statuses, and the records it returns.

Plain values only: it must not know how files are read, described, stripped or verified.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path


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
class DebugFile:
    """The separate debug file made for a stripped ELF file (``objcopy --only-keep-debug``), in the strip's working
    directory: its GNU build-id (hex; ``None`` if the file has none) and size."""

    path: Path
    build_id: str | None
    size: int


@dataclass(frozen=True)
class DebugRequest:
    """Keep the debug symbols of stripped ELF files aside with these objcopy tools (best first); ``link``: add a
    ``.gnu_debuglink`` to the stripped file (which changes the shipped bytes)."""

    objcopy: tuple[str, ...]
    link: bool = False


@dataclass(frozen=True)
class FileStripResult:
    """What :func:`strip_file` decided: ``path`` is the stripped file to ship (``None``: ship the original)."""

    path: Path | None
    status: StripStatus
    reason: str
    saved: int
    debug: DebugFile | None = None  # asked for (DebugRequest) and made: the stripped file's debug symbols
    debug_problem: str | None = None  # asked for, stripped, but the debug file could not be made: why
