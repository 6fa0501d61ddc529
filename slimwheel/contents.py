"""A wheel read safely: its entries, metadata, install locations and sizes.

Reading is strict, because slimwheel rewrites what it reads: every problem an installer could trip over later
(a path escaping the install root, a local header that disagrees with the central directory, a RECORD that
does not match, a zip bomb) is refused here with one clear line, before anything is written. So is a wheel whose
file name disagrees with what it says inside (a renamed wheel): the name's tags, compressed sets expanded, must be
exactly WHEEL's ``Tag:`` lines, and its project name and version must equal METADATA's once normalised (a build
tag in the name is allowed) — the output keeps the input's file name, so a mismatch would ship under a false name.

Memory is bounded by the stream, not by the wheel (issue 9). The central directory and every local header are
checked first; the zip-bomb limits (:class:`Limits`: per-entry size and ratio, total size, whole-archive ratio)
are decided on them before anything is inflated. Then each member is inflated once, chunk by chunk
(:mod:`slimwheel.archive`), never past its declared size, and checked on the fly (CRC-32, RECORD hash). Only
``.dist-info`` files (up to :data:`HOLD` bytes) are held in memory, plus the first :data:`HEAD` bytes of every
member; members the caller asks for are extracted to files (after a free-space check); all other content stays in
the archive, which stays open and is inflated again when something reads it (:class:`Entry`). The module is over
500 lines because it keeps every check a wheel must pass to be read, and the entry model, in one place.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import re
import stat
import struct
import zipfile
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from email.parser import HeaderParser
from functools import cached_property
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from packaging.tags import Tag, parse_tag
from packaging.utils import (
    InvalidWheelFilename,
    NormalizedName,
    canonicalize_name,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from .archive import (
    CHUNK,
    DEFLATED,
    Archive,
    ArchiveSlice,
    Content,
    DiskFile,
    Member,
    MemberContent,
    Memory,
    data_offset,
    ensure_free_space,
    iter_member,
)
from .errors import BadWheel
from .records import SIGNATURE_FILES, RecordError, RecordRow, hash_string, parse_record

DATA_SCHEMES = ("purelib", "platlib", "headers", "scripts", "data")
HOLD = 4 * 1024**2  # .dist-info files up to this size are held in memory; other content is streamed
HEAD = 64  # first bytes of every member kept for categorizing
PARALLEL_READ = 16 * 1024**2  # members over this size are read on worker threads, beside the rest
_EOCD_SIG = b"PK\x05\x06"
_DRIVE = re.compile(r"^[A-Za-z]:")


@dataclass(frozen=True)
class Limits:
    """Zip-bomb limits. Sizes are uncompressed bytes. Every limit is checked on the central directory, before
    any member is inflated; inflation then stops at each member's declared size."""

    max_total_size: int = 8 * 1024**3
    max_entry_size: int = 4 * 1024**3
    max_entries: int = 500_000
    max_ratio: int = 1000  # uncompressed / compressed, checked for entries over ratio_floor bytes
    ratio_floor: int = 1024**2
    max_archive_ratio: int = 100  # declared uncompressed total / archive size, checked over archive_ratio_floor
    archive_ratio_floor: int = 100 * 1024**2


@dataclass(frozen=True)
class RawDeflate:
    """An entry's payload exactly as the archive stores it (DEFLATE), so an unchanged entry can be copied."""

    payload: bytes
    crc: int

    @property
    def length(self) -> int:
        return len(self.payload)

    def chunks(self, chunk: int = CHUNK) -> Iterator[bytes]:
        for at in range(0, len(self.payload), chunk):
            yield self.payload[at : at + chunk]


Raw = RawDeflate | ArchiveSlice


class Entry:
    """One file of a wheel: archive path, unix permission bits and its content, which lives in memory, in a file
    on disk or in the input archive (inflated again when read). ``data`` holds the whole content in memory: code
    that handles big files uses ``size``, ``head``, ``chunks()`` and ``file`` instead."""

    __slots__ = ("_crc", "_head", "_sha256", "content", "mode", "path", "raw")

    def __init__(
        self,
        path: str,
        data: bytes | Content = b"",
        mode: int = 0o644,
        raw: Raw | None = None,
        *,
        head: bytes | None = None,
        sha256: str | None = None,
    ) -> None:
        self.path, self.mode, self.raw = path, mode, raw
        self.content: Content = Memory(data) if isinstance(data, bytes) else data
        self._head, self._sha256, self._crc = head, sha256, raw.crc if raw is not None else None

    @property
    def data(self) -> bytes:
        return self.content.read()

    @property
    def size(self) -> int:
        return self.content.size

    @property
    def file(self) -> Path | None:
        """The file on disk that holds the content, if there is one."""
        return self.content.file

    def head(self, n: int = HEAD) -> bytes:
        """The first ``n`` bytes (up to :data:`HEAD` of them without reading the content again)."""
        if isinstance(self.content, Memory):
            return self.content.blob[:n]
        if self._head is not None and (n <= len(self._head) or len(self._head) >= self.size):
            return self._head[:n]
        for block in self.content.chunks(max(n, 1)):
            return block[:n]
        return b""

    def chunks(self, chunk: int = CHUNK) -> Iterator[bytes]:
        return self.content.chunks(chunk)

    def digests(self) -> tuple[str, int]:
        """(RECORD's ``sha256=...`` digest, CRC-32) of the content, streamed once and remembered."""
        if self._sha256 is None or self._crc is None:
            h, crc = hashlib.sha256(), 0
            for block in self.chunks():
                h.update(block)
                crc = zlib.crc32(block, crc)
            self._sha256, self._crc = hash_string(h), crc
        return self._sha256, self._crc

    def with_data(self, data: bytes) -> Entry:
        """The same entry with new content (the stored payload no longer applies)."""
        return Entry(self.path, data, self.mode)

    def without_raw(self) -> Entry:
        """The same entry, to be compressed again rather than copied as stored."""
        if self.raw is None:
            return self
        entry = Entry(self.path, self.content, self.mode, head=self._head, sha256=self._sha256)
        entry._crc = self._crc
        return entry

    def with_file(self, path: Path, size: int) -> Entry:
        """The same entry with its content in the file ``path`` (the stored payload no longer applies)."""
        return Entry(self.path, DiskFile(path, size), self.mode)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Entry):
            return NotImplemented
        return (self.path, self.mode, self.size) == (other.path, other.mode, other.size) and self.data == other.data

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Entry({self.path!r}, <{self.size} bytes>, {self.mode:#o})"


@dataclass(frozen=True)
class Wheel:
    """A wheel that passed every check of :func:`read_wheel`."""

    source: Path
    filename: str
    name: NormalizedName
    version: Version
    tags: frozenset[Tag]
    dist_info: str
    root_is_purelib: bool
    entries: tuple[Entry, ...]
    compressed_sizes: dict[str, int]
    archive_size: int
    warnings: tuple[str, ...] = ()
    archive: Archive | None = field(default=None, repr=False, compare=False)

    @property
    def data_dir(self) -> str:
        return self.dist_info[: -len(".dist-info")] + ".data"

    @cached_property
    def by_path(self) -> dict[str, Entry]:
        return {e.path: e for e in self.entries}

    @property
    def installed_size(self) -> int:
        return sum(e.size for e in self.entries)

    def text(self, path: str) -> str:
        return self.by_path[path].data.decode("utf-8")

    def location(self, path: str) -> tuple[str, str]:
        """(install scheme, path relative to that scheme's directory) of an archive path."""
        return install_location(path, self.data_dir, self.root_is_purelib)

    def is_metadata(self, path: str) -> bool:
        return path.startswith(self.dist_info + "/")

    def close(self) -> None:
        """Close the input file (entries whose content stays in the archive can't be read afterwards)."""
        if self.archive is not None:
            self.archive.close()


def install_location(path: str, data_dir: str, root_is_purelib: bool) -> tuple[str, str]:
    if path.startswith(data_dir + "/"):
        scheme, _, rest = path[len(data_dir) + 1 :].partition("/")
        return scheme, rest
    return ("purelib" if root_is_purelib else "platlib"), path


Extract = Callable[[str, bytes], bool]


def read_wheel(
    path: Path | str,
    *,
    limits: Limits | None = None,
    allow_bad_record: bool = False,
    workdir: Path | None = None,
    extract: Extract | None = None,
) -> Wheel:
    """Read and validate a wheel; raise :class:`BadWheel` with one clear line for anything unsafe or inconsistent.

    Memory stays bounded by the stream, not the wheel: members are inflated chunk by chunk to be checked (CRC,
    declared size, RECORD hash). Only ``.dist-info`` files up to :data:`HOLD` bytes are held in memory; a member
    for which ``extract(path, first bytes)`` is true is written to a file in ``workdir`` (after a free-space check);
    every other member stays in the archive, which is kept open (:meth:`Wheel.close`) and inflated again on demand.
    """
    path = Path(path)
    limits = limits or Limits()
    source = path.name
    try:
        name, version, _build, tags = parse_wheel_filename(path.name)
    except InvalidWheelFilename as exc:
        raise BadWheel(source, f"not a valid wheel file name ({exc})") from None
    try:
        archive = Archive(path, source)
    except IsADirectoryError:
        raise BadWheel(source, "is a directory, not a wheel file") from None
    except OSError as exc:
        raise BadWheel(source, f"can't be read: {exc.strerror or exc}") from None
    try:
        infos = _central_directory(source, archive)
        members = _members(source, archive, infos, limits)
        paths = [m.name for m, _ in members]
        dist_info, root_is_purelib = _check_metadata(source, paths, name, version, tags, dict(members), archive)
        rows, by_path = _parse_record(source, archive, dict(members), dist_info)
        hold = {path for path in paths if path.startswith(dist_info + "/")}
        entries, problems = _stream_entries(archive, members, by_path, hold, workdir, extract)
        warnings: list[str] = []
        _record_verdict(source, problems, rows, paths, dist_info, allow_bad_record, warnings)
    except BaseException:
        archive.close()
        raise
    return Wheel(
        source=path,
        filename=path.name,
        name=name,
        version=version,
        tags=tags,
        dist_info=dist_info,
        root_is_purelib=root_is_purelib,
        entries=tuple(entries),
        compressed_sizes={m.name: m.compress_size for m, _ in members},
        archive_size=archive.size,
        warnings=tuple(warnings),
        archive=archive,
    )


def _central_directory(source: str, archive: Archive) -> list[zipfile.ZipInfo]:
    size = archive.size
    if archive.pread(0, 2) != b"PK":
        raise BadWheel(source, "not a zip archive")
    tail_start = max(0, size - 65557)
    tail = archive.pread(tail_start, size - tail_start)
    eocd = tail.rfind(_EOCD_SIG)
    if eocd < 0:
        raise BadWheel(source, "truncated or corrupt zip archive (no end-of-central-directory record)")
    if eocd + 22 > len(tail):
        raise BadWheel(source, "truncated zip archive")
    (comment_length,) = struct.unpack_from("<H", tail, eocd + 20)
    if eocd + 22 + comment_length != len(tail):
        raise BadWheel(source, "trailing data after the end of the zip archive")
    try:
        archive.file.seek(0)
        with zipfile.ZipFile(archive.file) as zf:
            infos = zf.infolist()
    except NotImplementedError as exc:  # zipfile: "zip file version 25.5"
        raise BadWheel(source, f"unsupported zip feature ({exc})") from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError, struct.error) as exc:
        raise BadWheel(source, f"corrupt zip archive ({exc})") from None
    if not infos:
        raise BadWheel(source, "empty zip archive")
    return infos


def _check_name(source: str, name: str) -> None:
    if "\\" in name:
        raise BadWheel(source, f"entry {name!r} contains a backslash")
    if "\x00" in name:
        raise BadWheel(source, f"entry {name!r} contains a NUL character")
    if name.startswith("/"):
        raise BadWheel(source, f"entry {name!r} is an absolute path")
    if _DRIVE.match(name):
        raise BadWheel(source, f"entry {name!r} starts with a drive letter")
    parts = name.rstrip("/").split("/")
    if ".." in parts:
        raise BadWheel(source, f"entry {name!r} contains '..'")
    if any(p in ("", ".") for p in parts):
        raise BadWheel(source, f"entry {name!r} has an empty or '.' path component")


def _members(source: str, archive: Archive, infos: list[zipfile.ZipInfo], limits: Limits) -> list[tuple[Member, int]]:
    """Every check the central directory and the local headers allow, before anything is inflated; the file
    members (directories dropped) with their unix mode."""
    if len(infos) > limits.max_entries:
        raise BadWheel(source, f"has {len(infos)} entries, more than the limit of {limits.max_entries}")
    seen: set[str] = set()
    declared_total = 0
    for info in infos:
        _check_name(source, info.orig_filename)  # zipfile cuts .filename at a NUL; the stored name is checked
        if info.filename in seen:
            raise BadWheel(source, f"duplicate entry {info.filename!r}")
        seen.add(info.filename)
        if info.flag_bits & 0x1:
            raise BadWheel(source, f"entry {info.filename!r} is encrypted")
        if info.create_system == 3 and stat.S_ISLNK(info.external_attr >> 16):
            raise BadWheel(source, f"entry {info.filename!r} is a symbolic link")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise BadWheel(source, f"entry {info.filename!r} uses unsupported compression method {info.compress_type}")
        if info.file_size > limits.max_entry_size:
            raise BadWheel(source, f"entry {info.filename!r} declares {info.file_size} bytes, over the entry limit")
        if info.file_size > limits.ratio_floor and info.file_size > limits.max_ratio * max(info.compress_size, 1):
            raise BadWheel(
                source,
                f"entry {info.filename!r} compresses {info.file_size // max(info.compress_size, 1)}:1, "
                f"over the ratio limit of {limits.max_ratio}:1 (a zip bomb?)",
            )
        declared_total += info.file_size
        if declared_total > limits.max_total_size:
            raise BadWheel(source, f"declares more than {limits.max_total_size} uncompressed bytes (a zip bomb?)")
    if declared_total > limits.archive_ratio_floor and declared_total > limits.max_archive_ratio * archive.size:
        raise BadWheel(
            source,
            f"declares {declared_total} uncompressed bytes in a {archive.size}-byte archive "
            f"({declared_total // max(archive.size, 1)}:1), over the archive ratio limit of "
            f"{limits.max_archive_ratio}:1 (a zip bomb?)",
        )
    files = {name for name in seen if not name.endswith("/")}
    for name in seen:
        parent = name.rstrip("/").rpartition("/")[0]
        while parent:
            if parent in files:
                raise BadWheel(source, f"{parent!r} is both a file and a directory")
            parent = parent.rpartition("/")[0]

    members: list[tuple[Member, int]] = []
    spans: list[tuple[int, int, str]] = []
    for info in infos:
        start = data_offset(source, archive, info)
        spans.append((info.header_offset, start + info.compress_size, info.filename))
        if info.is_dir():
            if info.file_size:
                raise BadWheel(source, f"directory entry {info.filename!r} has content")
            continue
        mode = (info.external_attr >> 16) & 0o777 if info.create_system == 3 else 0
        member = Member(info.filename, info.compress_type, info.CRC, info.compress_size, info.file_size, start)
        members.append((member, mode or 0o644))
    spans.sort()
    for (_, end, name), (next_start, _, next_name) in itertools.pairwise(spans):
        if end > next_start:
            raise BadWheel(source, f"entries {name!r} and {next_name!r} overlap (a zip bomb?)")
    return members


def _stream_entries(
    archive: Archive,
    members: list[tuple[Member, int]],
    rows: dict[str, RecordRow],
    hold: set[str],
    workdir: Path | None,
    extract: Extract | None,
) -> tuple[list[Entry], dict[str, str]]:
    """Inflate every member once, chunk by chunk: CRC, declared size and RECORD hash checked on the fly; content
    held (``hold``, small), extracted to ``workdir`` (``extract``) or left in the archive. The RECORD problems.

    Members over :data:`PARALLEL_READ` bytes are read on worker threads while this thread reads the rest in
    order (inflating and hashing release the GIL): in big wheels a few members are most of the bytes (torch's two
    largest libraries are 83% of its 1.09 GB). The entries come back in archive order either way."""
    results: list[tuple[Entry, str | None] | None] = [None] * len(members)
    big = [i for i, (m, _) in enumerate(members) if m.file_size > PARALLEL_READ]
    big.sort(key=lambda i: -members[i][0].file_size)

    def read(index: int) -> tuple[Entry, str | None]:
        m, mode = members[index]
        return _stream_entry(archive, index, m, mode, rows.get(m.name), m.name in hold, workdir, extract)

    with ThreadPoolExecutor(max_workers=max(1, min(len(big), os.cpu_count() or 1)), thread_name_prefix="read") as pool:
        futures = {i: pool.submit(read, i) for i in big}
        failed, error = len(members), None  # the first problem in archive order is the one reported
        try:
            for index in range(len(members)):
                if index not in futures:
                    try:
                        results[index] = read(index)
                    except BadWheel as exc:
                        failed, error = index, exc
                        break
            for index in sorted(i for i in futures if i < failed):
                results[index] = futures[index].result()
        finally:
            for future in futures.values():
                future.cancel()
        if error is not None:
            raise error
    entries: list[Entry] = []
    problems: dict[str, str] = {}
    for result in results:
        assert result is not None
        entry, problem = result
        entries.append(entry)
        if problem:
            problems[entry.path] = problem
    return entries, problems


def _stream_entry(
    archive: Archive,
    index: int,
    m: Member,
    mode: int,
    row: RecordRow | None,
    hold: bool,
    workdir: Path | None,
    extract: Extract | None,
) -> tuple[Entry, str | None]:
    """One member inflated once: its entry, and what is wrong with its RECORD row (``None``: nothing)."""
    algorithm = row.algorithm if row is not None else None
    hashes = [hashlib.sha256()] + ([hashlib.new(algorithm)] if algorithm and algorithm != "sha256" else [])
    head, held = b"", bytearray()
    keep = hold and m.file_size <= HOLD
    out: BinaryIO | None = None
    target = None
    try:
        for block in iter_member(archive, m):
            if not head:
                head = block[:HEAD]
                if not keep and workdir is not None and extract is not None and extract(m.name, head):
                    ensure_free_space(workdir, m.file_size, f"extracting {m.name}")
                    target = workdir / f"member-{index}.bin"
                    out = target.open("wb")
            for h in hashes:
                h.update(block)
            if keep:
                held += block
            elif out is not None:
                out.write(block)
    finally:
        if out is not None:
            out.close()
    sha256 = hash_string(hashes[0])
    raw = ArchiveSlice(archive, m.data_offset, m.compress_size, m.crc) if m.method == DEFLATED else None
    content: bytes | Content
    if keep:
        content = bytes(held)
    elif target is not None:
        content = DiskFile(target, m.file_size)
    else:
        content = MemberContent(archive, m)
    entry = Entry(m.name, content, mode, raw, head=head, sha256=sha256)
    problem = None
    if row is not None:
        problem = row.check_hashed({h.name: hash_string(h) for h in hashes}.get, m.file_size)
    return entry, problem or None


def _check_metadata(
    source: str,
    paths: list[str],
    name: NormalizedName,
    version: Version,
    tags: frozenset[Tag],
    members: dict[Member, int],
    archive: Archive,
) -> tuple[str, bool]:
    tops = {path.split("/", 1)[0] for path in paths}
    dist_infos = sorted(t for t in tops if t.endswith(".dist-info"))
    if not dist_infos:
        raise BadWheel(source, "has no .dist-info directory")
    if len(dist_infos) > 1:
        raise BadWheel(source, f"has several .dist-info directories: {', '.join(dist_infos)}")
    dist_info = dist_infos[0]
    stem = dist_info[: -len(".dist-info")]
    di_name, _, di_version = stem.rpartition("-")
    try:
        if canonicalize_name(di_name) != name or Version(di_version) != version:
            raise BadWheel(source, f"{dist_info} does not match the file name's {name} {version}")
    except InvalidVersion:
        raise BadWheel(source, f"{dist_info} has an invalid version") from None
    for data_dir in sorted(t for t in tops if t.endswith(".data")):
        if data_dir != stem + ".data":
            raise BadWheel(source, f"unexpected data directory {data_dir!r} (expected {stem}.data)")
    by_path = {m.name: m for m in members}
    for required in ("METADATA", "WHEEL", "RECORD"):
        if f"{dist_info}/{required}" not in by_path:
            raise BadWheel(source, f"{dist_info}/{required} is missing")
    for path in paths:
        if path.startswith(stem + ".data/"):
            scheme = path.split("/")[1]
            if scheme not in DATA_SCHEMES or path.count("/") < 2:
                raise BadWheel(source, f"{path!r} is not under a known .data scheme ({', '.join(DATA_SCHEMES)})")
    wheel_bytes = MemberContent(archive, by_path[f"{dist_info}/WHEEL"]).read()
    metadata_bytes = MemberContent(archive, by_path[f"{dist_info}/METADATA"]).read()
    try:
        wheel_text = wheel_bytes.decode("utf-8")
        metadata_text = metadata_bytes.decode("utf-8")
    except UnicodeDecodeError:
        raise BadWheel(source, f"{dist_info}/WHEEL or METADATA is not UTF-8") from None
    wheel_meta = HeaderParser().parsestr(wheel_text)
    wheel_version = (wheel_meta.get("Wheel-Version") or "").strip()
    if not re.fullmatch(r"1(\.\d+)?", wheel_version):
        raise BadWheel(source, f"{dist_info}/WHEEL has unsupported Wheel-Version {wheel_version!r}")
    purelib = (wheel_meta.get("Root-Is-Purelib") or "").strip().lower()
    if purelib not in ("true", "false"):
        raise BadWheel(source, f"{dist_info}/WHEEL has no valid Root-Is-Purelib")
    _check_tags(source, dist_info, wheel_meta.get_all("Tag") or [], tags)
    metadata = HeaderParser().parsestr(metadata_text)
    md_name, md_version = (metadata.get("Name") or "").strip(), (metadata.get("Version") or "").strip()
    try:
        if canonicalize_name(md_name) != name or Version(md_version) != version:
            raise BadWheel(source, f"METADATA says {md_name} {md_version}, the file name says {name} {version}")
    except InvalidVersion:
        raise BadWheel(source, f"METADATA has an invalid version {md_version!r}") from None
    return dist_info, purelib == "true"


def _check_tags(source: str, dist_info: str, tag_lines: list[str], tags: frozenset[Tag]) -> None:
    """The file name's tags (compressed sets expanded) must be exactly the ``Tag:`` lines of WHEEL: a wheel renamed
    to another platform would otherwise be written out under its new name with its old ``Tag:`` lines inside."""
    declared: set[Tag] = set()
    for line in tag_lines:
        try:
            declared |= parse_tag(line.strip())
        except ValueError:
            raise BadWheel(source, f"{dist_info}/WHEEL has an invalid Tag line {line.strip()!r}") from None
    if declared != tags:
        named = ", ".join(sorted(str(t) for t in tags))
        listed = ", ".join(sorted(str(t) for t in declared)) or "no tags"
        raise BadWheel(
            source, f"the file name says tags {named} but {dist_info}/WHEEL lists {listed} (a renamed wheel?)"
        )


def _parse_record(
    source: str, archive: Archive, members: dict[Member, int], dist_info: str
) -> tuple[list[RecordRow], dict[str, RecordRow]]:
    """RECORD's rows, in order and by path (the last row of a path listed twice)."""
    record_path = f"{dist_info}/RECORD"
    member = next(m for m in members if m.name == record_path)
    try:
        rows = parse_record(MemberContent(archive, member).read().decode("utf-8"))
    except (RecordError, UnicodeDecodeError, ValueError) as exc:  # ValueError: int() of a size like "²"
        raise BadWheel(source, f"{record_path}: {exc}") from None
    return rows, {row.path: row for row in rows}


def _record_verdict(
    source: str,
    hash_problems: dict[str, str],
    rows: list[RecordRow],
    paths: list[str],
    dist_info: str,
    allow_bad_record: bool,
    warnings: list[str],
) -> None:
    """Refuse (or, overridden, warn about) a RECORD that does not match the archive: rows listed twice, files
    not listed, ``hash_problems`` (found while streaming), rows naming files that are not there."""
    record_path = f"{dist_info}/RECORD"
    problems: list[str] = []
    listed: set[str] = set()
    for row in rows:
        if row.path in listed:
            problems.append(f"{row.path!r} is listed twice in RECORD")
        listed.add(row.path)
    exempt = {record_path} | {f"{dist_info}/{s}" for s in SIGNATURE_FILES}
    for path in paths:
        if path in exempt:
            continue
        if path not in listed:
            problems.append(f"{path!r} is not listed in RECORD")
        elif path in hash_problems:
            problems.append(f"{path!r} {hash_problems[path]}")
    present = set(paths)
    for path in dict.fromkeys(row.path for row in rows):
        if path not in present and not path.endswith("/"):
            problems.append(f"RECORD lists {path!r}, which is not in the archive")
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        if not allow_bad_record:
            raise BadWheel(
                source, f"RECORD check failed: {problems[0]}{more}; pass --allow-bad-record to proceed anyway"
            )
        warnings.append(f"RECORD check failed and was overridden: {problems[0]}{more}")


def module_name(installed_path: str) -> str | None:
    """The dotted module an installed path provides (``a/b/__init__.py`` → ``a.b``), or None."""
    p = PurePosixPath(installed_path)
    stem = p.name.split(".", 1)[0]
    suffix = p.name[len(stem) :]
    if not stem.isidentifier():
        return None
    if suffix == ".py" or (
        suffix.endswith((".so", ".pyd")) and suffix.startswith((".cpython", ".cp", ".abi3", ".so", ".pyd"))
    ):
        parts = [*p.parent.parts, stem] if stem != "__init__" else list(p.parent.parts)
        if parts and all(part.isidentifier() for part in parts):
            return ".".join(parts)
    return None
