"""Entries → a canonical, reproducible wheel.

:func:`canonical_members` is the pure heart: it drops stale RECORD/signature files, orders entries (sorted,
``.dist-info`` last, RECORD last) and computes a fresh RECORD. :func:`write_wheel` serialises that list with
this module's own small zip writer, so that every byte is decided here: one fixed timestamp
(``SOURCE_DATE_EPOCH`` or 1980-01-01), modes from the input, no directory entries, DEFLATE, ZIP64 only when
needed, an unchanged DEFLATE payload copied as it was (chunk by chunk from the input file) instead of recompressed.

Memory is bounded by the stream, not by the wheel. An entry up to :data:`LIBDEFLATE_MAX` bytes is deflated with
libdeflate (the ``deflate`` package) in one call, which needs the whole entry and its output in memory: at the
same level it is about 1% smaller and several times faster than zlib, and levels 10-12 go further. Those calls run
in parallel threads (libdeflate releases the GIL) a bounded window ahead of the write position. A bigger entry is
deflated by zlib (at most level 6 unless a level over 9 is asked for: see :func:`_zlib_level`) in
:data:`ZLIB_PIECE`-byte pieces, each primed with the previous 32 KiB and ended with a sync
flush (the last one finished): the pieces form one valid DEFLATE stream (as pigz makes them), are compressed in
parallel, and are spooled to an anonymous temporary file beside the destination until their turn to be written.
Those entries start first, since they are the slowest. Pieces and calls are fixed by the content, never by the
number of threads, so the bytes never depend on it; a wheel without entries over the bound is byte-identical to
what the one-call writer made before.
The file appears atomically: it is written beside its destination and renamed into place.
"""

from __future__ import annotations

import os
import struct
import tempfile
import threading
import time
import zlib
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, BinaryIO, Protocol

import deflate

from .contents import Entry
from .errors import OutputError
from .records import SIGNATURE_FILES, record_from_digests

MAX_LEVEL = 12  # libdeflate's levels: 0 (stored blocks) .. 12 (slowest, smallest)
ZIP64_LIMIT = 0xFFFFFFFF  # sizes/offsets at or above this need ZIP64 (module-level so tests can lower it)
ZIP64_COUNT = 0xFFFF
_EPOCH_1980 = 315532800
LIBDEFLATE_MAX = 64 * 1024**2  # entries up to this size: one libdeflate call; bigger ones: zlib pieces
ZLIB_PIECE = 8 * 1024**2  # uncompressed bytes per zlib piece of a big entry
WINDOW = 64 * 1024**2  # bytes of libdeflate work submitted ahead of the write position (bounds memory)
_DICT = 32 * 1024  # DEFLATE's window: each zlib piece is primed with the previous piece's last 32 KiB


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
    record = record_from_digests(((e.path, e.digests()[0], e.size) for e in kept), record_path)
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
        members = [m.without_raw() for m in members]
    dos_time, dos_date = _dos_datetime(source_date_epoch() if epoch is None else epoch)
    if dest is None:
        sink = _Counter()
        written = _serialize(members, sink, compress_level, dos_time, dos_date, jobs, None)
        return WrittenWheel(None, sink.tell(), written)
    dest = Path(dest)
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    except OSError as exc:
        raise OutputError(f"can't write to {dest.parent}: {exc.strerror or exc}") from None
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh:
            written = _serialize(members, fh, compress_level, dos_time, dos_date, jobs, dest.parent)
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


def _deflate_entry(entry: Entry, level: int) -> tuple[bytes, int]:
    """One libdeflate call on the whole entry: (payload, CRC-32)."""
    data = entry.data
    return _deflate(data, level), zlib.crc32(data)


def _deflate_piece(data: bytes, zdict: bytes, level: int, final: bool) -> bytes:
    """One piece of a big entry's DEFLATE stream: primed with ``zdict``; sync-flushed, or finished if ``final``."""
    compressor = zlib.compressobj(_zlib_level(level), zlib.DEFLATED, -15, 8, zlib.Z_DEFAULT_STRATEGY, zdict or b"")
    return compressor.compress(data) + compressor.flush(zlib.Z_FINISH if final else zlib.Z_SYNC_FLUSH)


def _zlib_level(level: int) -> int:
    """zlib's level for the pieces of a big entry: at most 6 unless more than 9 is asked for. Measured on
    libtorch_cpu.so: zlib 9 costs 76 s/GiB of CPU for a ratio of 0.3126, zlib 6 42 s/GiB for 0.3141 (libdeflate 9
    in one call: 30.5 s/GiB, 0.3112)."""
    return 9 if level > 9 else min(level, 6)


def _pieces(blocks: Iterable[bytes], size: int) -> Iterator[bytes]:
    """``blocks`` cut again into pieces of exactly ``size`` bytes (the last one shorter)."""
    buffer = bytearray()
    for block in blocks:
        if not buffer and len(block) == size:
            yield block  # a file read in pieces already: no copy
            continue
        buffer += block
        while len(buffer) >= size:
            yield bytes(buffer[:size])
            del buffer[:size]
    if buffer:
        yield bytes(buffer)


@dataclass
class _Spooled:
    """A compressed payload waiting in a temporary file."""

    file: IO[bytes]
    length: int
    crc: int


def _deflate_big(
    entry: Entry, level: int, pool: ThreadPoolExecutor, spool_dir: Path | None, permits: threading.Semaphore
) -> _Spooled:
    """Deflate a big entry in zlib pieces on ``pool`` into a temporary file; a piece in flight holds one of the
    ``permits`` (shared by all big entries, so their memory is bounded together)."""
    spool = tempfile.TemporaryFile(dir=spool_dir)  # noqa: SIM115 - closed by the writer once copied
    in_flight: deque[Future[bytes]] = deque()
    length = 0

    def drain_one() -> None:
        nonlocal length
        try:
            out = in_flight.popleft().result()
        finally:
            permits.release()
        spool.write(out)
        length += len(out)

    try:
        crc, zdict = 0, b""
        pieces = _pieces(entry.chunks(ZLIB_PIECE), ZLIB_PIECE)
        piece = next(pieces, b"")
        while True:
            following = next(pieces, None)
            crc = zlib.crc32(piece, crc)
            while not permits.acquire(blocking=not in_flight):
                drain_one()
            in_flight.append(pool.submit(_deflate_piece, piece, zdict, level, following is None))
            zdict = piece[-_DICT:]
            if following is None:
                break
            piece = following
        while in_flight:
            drain_one()
        spool.flush()
        spool.seek(0)
        return _Spooled(spool, length, crc)
    except BaseException:
        for future in in_flight:
            future.cancel()
            permits.release()
        spool.close()
        raise


class _Jobs:
    """What each member's payload will be: copied, deflated in one call (a window ahead of the writer), or
    deflated in pieces (big entries, started at once, largest first)."""

    def __init__(
        self, members: list[Entry], level: int, pool: ThreadPoolExecutor, jobs: int, spool_dir: Path | None
    ) -> None:
        self.members, self.level, self.pool = members, level, pool
        self.small: dict[int, Future[tuple[bytes, int]]] = {}
        self.big: dict[int, Future[_Spooled]] = {}
        self.next, self.ahead_bytes = 0, 0
        big = [i for i, m in enumerate(members) if m.raw is None and m.size > LIBDEFLATE_MAX]
        self.drivers = ThreadPoolExecutor(max_workers=max(1, len(big)), thread_name_prefix="slimwheel-big")
        permits = threading.Semaphore(jobs + 1)  # zlib pieces in flight, all big entries together
        for i in sorted(big, key=lambda i: -members[i].size):
            self.big[i] = self.drivers.submit(_deflate_big, members[i], level, pool, spool_dir, permits)

    def _submit_ahead(self, position: int) -> None:
        while self.next < len(self.members):
            entry = self.members[self.next]
            if entry.raw is None and self.next not in self.big:
                if self.next > position and self.ahead_bytes + entry.size > WINDOW:
                    return
                self.small[self.next] = self.pool.submit(_deflate_entry, entry, self.level)
                self.ahead_bytes += entry.size
            self.next += 1

    def payload(self, index: int) -> tuple[Iterator[bytes], int, int, IO[bytes] | None]:
        """(payload chunks, length, CRC, a spool file to close afterwards) of member ``index``."""
        entry = self.members[index]
        if entry.raw is not None:
            return entry.raw.chunks(), entry.raw.length, entry.raw.crc, None
        if index in self.big:
            spooled = self.big.pop(index).result()
            return _file_chunks(spooled.file), spooled.length, spooled.crc, spooled.file
        self._submit_ahead(index)
        payload, crc = self.small.pop(index).result()
        self.ahead_bytes -= entry.size
        self._submit_ahead(index)
        return iter((payload,)), len(payload), crc, None

    def close(self) -> None:
        for future in self.big.values():
            future.cancel()
        self.drivers.shutdown(wait=True)
        for future in self.big.values():
            if future.done() and not future.cancelled() and future.exception() is None:
                future.result().file.close()


def _file_chunks(fh: IO[bytes], chunk: int = 1 << 20) -> Iterator[bytes]:
    while block := fh.read(chunk):
        yield block


def _serialize(
    members: list[Entry],
    out: BinaryIO | _Sink,
    level: int,
    dos_time: int,
    dos_date: int,
    jobs: int | None,
    spool_dir: Path | None,
) -> tuple[Member, ...]:
    central: list[bytes] = []
    written: list[Member] = []
    workers = jobs or os.cpu_count() or 1
    with ThreadPoolExecutor(max_workers=workers) as pool:
        plan = _Jobs(members, level, pool, workers, spool_dir)
        try:
            for index, entry in enumerate(members):
                chunks, length, crc, spool = plan.payload(index)
                offset = out.tell()
                local, cdir = _headers(entry, crc, length, offset, dos_time, dos_date)
                out.write(local)
                try:
                    for block in chunks:
                        out.write(block)
                finally:
                    if spool is not None:
                        spool.close()
                central.append(cdir)
                written.append(Member(entry.path, entry.size, length, entry.mode))
        finally:
            plan.close()
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
