"""Bounds-checked reading of one whole file, held in memory (``bytes``) or on disk behind a :class:`FileView`.

What it guarantees: a :class:`FileView` answers the few ``bytes`` operations the format readers use (``len``,
indexing, slicing, ``find``) with one ``pread`` each, so parsing a 400 MB library reads its headers, not the file;
:func:`unpack` raises :class:`Malformed` (never :class:`struct.error`) for a structure that does not fit in the
file; :func:`parse_both` turns a reader's failure on the original or the stripped file into the one-line "does not
parse" problem the verifications report. What it must not know: any file format, strip tool, wheel or archive.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO, TypeVar, overload


class Malformed(Exception):
    """Internal: the header structures do not fit in the data (the message is one line)."""


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


def unpack(fmt: str, data: Image, offset: int) -> tuple[Any, ...]:
    size = struct.calcsize(fmt)
    if offset < 0 or offset + size > len(data):
        raise Malformed(f"structure at {offset:#x} runs past the end of the file")
    return struct.unpack(fmt, data[offset : offset + size])


def cstring(data: Image, offset: int, limit: int = 4096) -> bytes:
    """NUL-terminated string at ``offset`` (at most ``limit`` bytes); empty if out of range."""
    if offset < 0 or offset >= len(data):
        return b""
    end = data.find(b"\0", offset, offset + limit)
    return data[offset : end if end >= 0 else min(len(data), offset + limit)]


def is_debug_section(name: bytes) -> bool:
    """A DWARF section, by the name ELF and (GNU ld's) PE files give it."""
    return name.startswith((b".debug_", b".zdebug_"))


def first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return ""


_Facts = TypeVar("_Facts")


def parse_both(
    parse: Callable[[Image], _Facts], original: Image, stripped: Image, kind: str
) -> tuple[_Facts, _Facts] | str:
    """``parse`` of the original and the stripped file, or which of them does not parse and why (one line)."""
    facts = []
    for which, image in (("original", original), ("stripped", stripped)):
        try:
            facts.append(parse(image))
        except Exception as exc:
            return f"{which} {kind} does not parse: {first_line(str(exc)) or type(exc).__name__}"
    return facts[0], facts[1]
