"""Zip members read lazily and streamed, with bounded memory; it knows nothing about wheels.

* :class:`Archive` keeps the input file open and reads it with ``pread`` (thread-safe, no shared file position).
  Nothing reads the whole archive: the central directory is parsed by :mod:`zipfile` from the open file, every
  local header is read and checked on its own, and a member's payload is read in :data:`CHUNK` pieces.
* :func:`iter_member` inflates one member chunk by chunk. It never inflates past the member's declared size (a
  member that would is refused at that byte, as a zip bomb), checks the CRC at the end, and holds at most one
  chunk of input and one of output.
* Content sources: :class:`Memory` (bytes held), :class:`DiskFile` (a file on disk, e.g. an extracted or
  stripped library) and :class:`MemberContent` (a member of the archive, inflated again on every read, with the
  same checks). :class:`ArchiveSlice` is a member's stored DEFLATE payload, copied chunk by chunk by the writer.
"""

from __future__ import annotations

import os
import shutil
import struct
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from .errors import BadWheel, OutputError

CHUNK = 1 << 20  # bytes read or inflated at a time
_LOCAL_HEADER = struct.Struct("<IHHHHHIIIHH")
_LOCAL_SIG = 0x04034B50
STORED, DEFLATED = 0, 8


class Archive:
    """An open input file, read with ``pread``; :meth:`check_unchanged` notices a file replaced or rewritten."""

    def __init__(self, path: Path, source: str) -> None:
        self.path, self.source = path, source
        self.file: BinaryIO = open(path, "rb")  # noqa: SIM115 - closed by close(), lives as long as the entries
        st = os.fstat(self.file.fileno())
        self.size = st.st_size
        self._stamp = (st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev)

    def pread(self, offset: int, size: int) -> bytes:
        return os.pread(self.file.fileno(), size, offset)

    def check_unchanged(self) -> None:
        try:
            st = os.stat(self.path)
        except OSError as exc:
            raise BadWheel(self.source, f"can't be read any more: {exc.strerror or exc}") from None
        if (st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev) != self._stamp:
            raise BadWheel(self.source, "changed on disk while slimwheel was reading it")

    def close(self) -> None:
        self.file.close()


@dataclass(frozen=True)
class Member:
    """One file member, its local header checked against the central directory."""

    name: str
    method: int
    crc: int
    compress_size: int
    file_size: int
    data_offset: int


def data_offset(source: str, archive: Archive, info: zipfile.ZipInfo) -> int:
    """Check a member's local header against its central directory record; return where its payload starts."""
    name, offset = info.filename, info.header_offset
    head = archive.pread(offset, _LOCAL_HEADER.size) if offset >= 0 else b""
    if offset < 0 or len(head) < _LOCAL_HEADER.size:
        raise BadWheel(source, f"entry {name!r} points outside the archive (truncated?)")
    (sig, _version, flags, method, _time, _date, crc, csize, usize, name_len, extra_len) = _LOCAL_HEADER.unpack(head)
    if sig != _LOCAL_SIG:
        raise BadWheel(source, f"entry {name!r} has no valid local header (corrupt archive)")
    name_start = offset + _LOCAL_HEADER.size
    central_name = info.orig_filename.encode("utf-8" if info.flag_bits & 0x800 else "cp437", "surrogateescape")
    raw_name = archive.pread(name_start, name_len)
    if raw_name != central_name or (flags & 0x800) != (info.flag_bits & 0x800):
        raise BadWheel(source, f"entry {name!r}: local header name disagrees with the central directory")
    if method != info.compress_type or (flags & 0x1):
        raise BadWheel(source, f"entry {name!r}: local header disagrees with the central directory")
    if not flags & 0x8:  # without a data descriptor the local header carries the real values
        if crc != info.CRC:
            raise BadWheel(source, f"entry {name!r}: local header CRC disagrees with the central directory")
        if csize != 0xFFFFFFFF and (csize, usize) != (info.compress_size, info.file_size):
            raise BadWheel(source, f"entry {name!r}: local header sizes disagree with the central directory")
    start: int = name_start + name_len + extra_len
    if start + info.compress_size > archive.size:
        raise BadWheel(source, f"entry {name!r} runs past the end of the archive (truncated?)")
    return start


def iter_member(archive: Archive, m: Member, chunk: int = CHUNK) -> Iterator[bytes]:
    """The member's content, chunk by chunk; :class:`BadWheel` on corruption, a CRC mismatch or more output than
    declared (inflation stops one byte past the declared size)."""
    source, name = archive.source, m.name
    crc = produced = 0
    if m.method == STORED:
        if m.compress_size != m.file_size:
            raise BadWheel(source, f"entry {name!r} is stored with a size that disagrees with its header")
        for at in range(0, m.file_size, chunk):
            data = archive.pread(m.data_offset + at, min(chunk, m.file_size - at))
            crc = zlib.crc32(data, crc)
            yield data
    else:
        inflater = zlib.decompressobj(-15)
        pos, pending = 0, b""
        while not inflater.eof:
            if not pending:
                if pos >= m.compress_size:
                    break
                pending = archive.pread(m.data_offset + pos, min(chunk, m.compress_size - pos))
                pos += len(pending)
                if not pending:
                    break
            try:
                out = inflater.decompress(pending, min(chunk, m.file_size - produced + 1))
            except zlib.error as exc:
                raise BadWheel(source, f"entry {name!r} is corrupt ({exc})") from None
            stalled = not out and len(inflater.unconsumed_tail) == len(pending) and not inflater.eof
            pending = inflater.unconsumed_tail
            produced += len(out)
            if produced > m.file_size:
                raise BadWheel(source, f"entry {name!r} inflates to more than its declared size (a zip bomb?)")
            if out:
                crc = zlib.crc32(out, crc)
                yield out
            if stalled:
                break
        if produced != m.file_size or not inflater.eof:
            raise BadWheel(source, f"entry {name!r} is truncated or corrupt")
    if crc != m.crc:
        raise BadWheel(source, f"entry {name!r} fails its CRC check (corrupt archive)")


def ensure_free_space(directory: Path, needed: int, what: str) -> None:
    """Refuse to write ``needed`` bytes into ``directory`` unless that leaves 64 MiB free (``OutputError``)."""
    free = shutil.disk_usage(directory).free
    if needed + (64 << 20) > free:
        raise OutputError(
            f"not enough disk space in {directory} for {what}: {needed} bytes needed, {free} free "
            "(set TMPDIR to a larger disk)"
        )


# ---- content sources ---------------------------------------------------------------------------------------


class Memory:
    """Content held in memory."""

    __slots__ = ("blob",)

    def __init__(self, blob: bytes) -> None:
        self.blob = blob

    @property
    def size(self) -> int:
        return len(self.blob)

    @property
    def file(self) -> Path | None:
        return None

    def read(self) -> bytes:
        return self.blob

    def chunks(self, chunk: int = CHUNK) -> Iterator[bytes]:
        view = memoryview(self.blob)
        for at in range(0, len(view), chunk):
            yield bytes(view[at : at + chunk])


class DiskFile:
    """Content in a file on disk (an extracted member, a stripped library); the file must not change."""

    __slots__ = ("_size", "path")

    def __init__(self, path: Path, size: int) -> None:
        self.path, self._size = path, size

    @property
    def size(self) -> int:
        return self._size

    @property
    def file(self) -> Path | None:
        return self.path

    def read(self) -> bytes:
        return self.path.read_bytes()

    def chunks(self, chunk: int = CHUNK) -> Iterator[bytes]:
        with self.path.open("rb") as fh:
            while block := fh.read(chunk):
                yield block


class MemberContent:
    """Content that stays in the archive: inflated (and checked) again on every read."""

    __slots__ = ("archive", "member")

    def __init__(self, archive: Archive, member: Member) -> None:
        self.archive, self.member = archive, member

    @property
    def size(self) -> int:
        return self.member.file_size

    @property
    def file(self) -> Path | None:
        return None

    def read(self) -> bytes:
        return b"".join(iter_member(self.archive, self.member))

    def chunks(self, chunk: int = CHUNK) -> Iterator[bytes]:
        return iter_member(self.archive, self.member, chunk)


Content = Memory | DiskFile | MemberContent


@dataclass(frozen=True)
class ArchiveSlice:
    """A member's DEFLATE payload as stored in the archive, to be copied unchanged."""

    archive: Archive
    offset: int
    length: int
    crc: int

    def chunks(self, chunk: int = CHUNK) -> Iterator[bytes]:
        self.archive.check_unchanged()
        for at in range(0, self.length, chunk):
            block = self.archive.pread(self.offset + at, min(chunk, self.length - at))
            if not block:
                raise BadWheel(self.archive.source, "changed on disk while slimwheel was reading it")
            yield block
