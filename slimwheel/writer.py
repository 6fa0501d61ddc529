"""Entries → a canonical, reproducible wheel.

:func:`canonical_members` is the pure heart: it drops stale RECORD/signature files, orders entries (sorted,
``.dist-info`` last, RECORD last) and computes a fresh RECORD. :func:`write_wheel` serialises that list with
this module's own small zip writer, so that every byte is decided here: one fixed timestamp
(``SOURCE_DATE_EPOCH`` or 1980-01-01), modes from the input, no directory entries, DEFLATE, ZIP64 only when
needed, an unchanged DEFLATE payload copied as it was instead of recompressed. Entries are deflated with
libdeflate (the ``deflate`` package): at the same level it is about 1% smaller and several times faster than
zlib, and levels 10-12 go further. Entries are compressed in parallel threads (libdeflate releases the GIL),
largest first; each entry is one call, so the bytes never depend on the number of threads.
The file appears atomically: it is written beside its destination and renamed into place.
"""

from __future__ import annotations

import os
import struct
import tempfile
import time
import zlib
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO, Protocol

import deflate

from .contents import Entry
from .errors import OutputError
from .records import SIGNATURE_FILES, record_for

MAX_LEVEL = 12  # libdeflate's levels: 0 (stored blocks) .. 12 (slowest, smallest)
ZIP64_LIMIT = 0xFFFFFFFF  # sizes/offsets at or above this need ZIP64 (module-level so tests can lower it)
ZIP64_COUNT = 0xFFFF
_EPOCH_1980 = 315532800


@dataclass(frozen=True)
class Member:
    """An entry as it will be stored."""

    path: str
    size: int
    compressed_size: int
    mode: int


@dataclass(frozen=True)
class WrittenWheel:
    path: Path | None  # None for a dry run
    size: int
    members: tuple[Member, ...]

    @property
    def compressed_sizes(self) -> dict[str, int]:
        return {m.path: m.compressed_size for m in self.members}


def canonical_members(entries: Sequence[Entry], dist_info: str) -> list[Entry]:
    """The wheel's final entry list: sorted, dist-info last, a fresh RECORD last. Pure."""
    record_path = f"{dist_info}/RECORD"
    stale = {record_path} | {f"{dist_info}/{s}" for s in SIGNATURE_FILES}
    kept = [e for e in entries if e.path not in stale and not e.path.endswith("/")]
    paths = [e.path for e in kept]
    if len(set(paths)) != len(paths):
        raise ValueError("duplicate paths in wheel entries")
    kept.sort(key=lambda e: (e.path.startswith(dist_info + "/"), e.path))
    record = record_for([(e.path, e.data) for e in kept], record_path)
    return [*kept, Entry(record_path, record, 0o644)]


def source_date_epoch() -> int:
    """SOURCE_DATE_EPOCH when set (clamped to zip's 1980..2107 range), else 1980-01-01 00:00:00 UTC."""
    value = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    try:
        epoch = int(value) if value else _EPOCH_1980
    except ValueError:
        epoch = _EPOCH_1980
    return min(max(epoch, _EPOCH_1980), 4354819199)


def write_wheel(
    entries: Sequence[Entry],
    dist_info: str,
    dest: Path | None,
    *,
    compress_level: int = 9,
    epoch: int | None = None,
    jobs: int | None = None,
    recompress: bool = False,
) -> WrittenWheel:
    """Write ``entries`` as a canonical wheel at ``dest`` atomically (``dest=None``: measure only, write nothing).

    Entries read from a wheel and left unchanged keep their DEFLATE stream (copied, not recompressed) unless
    ``recompress``: then every entry is compressed at ``compress_level``."""
    if not 0 <= compress_level <= MAX_LEVEL:
        raise ValueError(f"compress_level must be 0..{MAX_LEVEL}")
    members = canonical_members(entries, dist_info)
    if recompress:
        members = [replace(m, raw=None) if m.raw is not None else m for m in members]
    dos_time, dos_date = _dos_datetime(source_date_epoch() if epoch is None else epoch)
    if dest is None:
        sink = _Counter()
        written = _serialize(members, sink, compress_level, dos_time, dos_date, jobs)
        return WrittenWheel(None, sink.tell(), written)
    dest = Path(dest)
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    except OSError as exc:
        raise OutputError(f"can't write to {dest.parent}: {exc.strerror or exc}") from None
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh:
            written = _serialize(members, fh, compress_level, dos_time, dos_date, jobs)
            size = fh.tell()
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise OutputError(f"can't write {dest}: {exc.strerror or exc}") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return WrittenWheel(dest, size, written)


class _Sink(Protocol):
    def write(self, data: bytes, /) -> int: ...
    def tell(self) -> int: ...


class _Counter:
    def __init__(self) -> None:
        self.n = 0

    def write(self, data: bytes, /) -> int:
        self.n += len(data)
        return len(data)

    def tell(self) -> int:
        return self.n


def _dos_datetime(epoch: int) -> tuple[int, int]:
    t = time.gmtime(epoch)
    return (t.tm_hour << 11) | (t.tm_min << 5) | (t.tm_sec // 2), ((t.tm_year - 1980) << 9) | (
        t.tm_mon << 5
    ) | t.tm_mday


def _deflate(data: bytes, level: int) -> bytes:
    return bytes(deflate.deflate_compress(data, level))


def _payload_job(entry: Entry, level: int, pool: ThreadPoolExecutor) -> tuple[Future[bytes] | bytes, int]:
    """The entry's stored payload (copied, or being deflated) and its CRC."""
    if entry.raw is not None:
        return entry.raw.payload, entry.raw.crc
    return pool.submit(_deflate, entry.data, level), zlib.crc32(entry.data)


def _serialize(
    members: list[Entry], out: BinaryIO | _Sink, level: int, dos_time: int, dos_date: int, jobs: int | None
) -> tuple[Member, ...]:
    central: list[bytes] = []
    written: list[Member] = []
    with ThreadPoolExecutor(max_workers=jobs or os.cpu_count() or 1) as pool:
        # Submit the largest entries first so the longest compressions start early; write in canonical order.
        order = sorted(range(len(members)), key=lambda i: -members[i].size)
        pending = dict(zip(order, (_payload_job(members[i], level, pool) for i in order), strict=True))
        for index, entry in enumerate(members):
            job, crc = pending.pop(index)
            payload = job if isinstance(job, bytes) else job.result()
            offset = out.tell()
            local, cdir = _headers(entry, crc, len(payload), offset, dos_time, dos_date)
            out.write(local)
            out.write(payload)
            central.append(cdir)
            written.append(Member(entry.path, entry.size, len(payload), entry.mode))
    cd_offset = out.tell()
    for c in central:
        out.write(c)
    cd_size = out.tell() - cd_offset
    out.write(_end_records(len(central), cd_size, cd_offset))
    return tuple(written)


def _headers(entry: Entry, crc: int, csize: int, offset: int, dos_time: int, dos_date: int) -> tuple[bytes, bytes]:
    name = entry.path.encode("utf-8")
    flags = 0x800 if not entry.path.isascii() else 0
    usize = entry.size
    big_sizes = usize >= ZIP64_LIMIT or csize >= ZIP64_LIMIT
    # Local header: with ZIP64, both sizes are 0xFFFFFFFF and the extra field carries both (APPNOTE 4.5.3).
    local_extra = struct.pack("<HHQQ", 0x0001, 16, usize, csize) if big_sizes else b""
    needed = 45 if (big_sizes or offset >= ZIP64_LIMIT) else 20
    lu, lc = (0xFFFFFFFF, 0xFFFFFFFF) if big_sizes else (usize, csize)
    local = (
        struct.pack(
            "<IHHHHHIIIHH",
            0x04034B50,
            needed,
            flags,
            zlib.DEFLATED,
            dos_time,
            dos_date,
            crc,
            lc,
            lu,
            len(name),
            len(local_extra),
        )
        + name
        + local_extra
    )
    # Central header: only the fields that overflow go into the ZIP64 extra, in the fixed order.
    fields: list[int] = []
    cu, cc, co = usize, csize, offset
    if usize >= ZIP64_LIMIT:
        fields.append(usize)
        cu = 0xFFFFFFFF
    if csize >= ZIP64_LIMIT:
        fields.append(csize)
        cc = 0xFFFFFFFF
    if offset >= ZIP64_LIMIT:
        fields.append(offset)
        co = 0xFFFFFFFF
    cextra = struct.pack(f"<HH{len(fields)}Q", 0x0001, 8 * len(fields), *fields) if fields else b""
    external = ((0o100000 | (entry.mode & 0o7777)) << 16) & 0xFFFFFFFF
    cdir = (
        struct.pack(
            "<IHHHHHHIIIHHHHHII",
            0x02014B50,
            (3 << 8) | needed,
            needed,
            flags,
            zlib.DEFLATED,
            dos_time,
            dos_date,
            crc,
            cc,
            cu,
            len(name),
            len(cextra),
            0,
            0,
            0,
            external,
            co,
        )
        + name
        + cextra
    )
    return local, cdir


def _end_records(count: int, cd_size: int, cd_offset: int) -> bytes:
    out = b""
    if count >= ZIP64_COUNT or cd_size >= ZIP64_LIMIT or cd_offset >= ZIP64_LIMIT:
        eocd64_offset = cd_offset + cd_size
        out += struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, (3 << 8) | 45, 45, 0, 0, count, count, cd_size, cd_offset)
        out += struct.pack("<IIQI", 0x07064B50, 0, eocd64_offset, 1)
    out += struct.pack(
        "<IHHHHIIH",
        0x06054B50,
        0,
        0,
        min(count, 0xFFFF),
        min(count, 0xFFFF),
        min(cd_size, 0xFFFFFFFF),
        min(cd_offset, 0xFFFFFFFF),
        0,
    )
    return out
