"""A wheel read safely: its entries, metadata, install locations and sizes.

Reading is strict, because slimwheel rewrites what it reads: every problem an installer could trip over later
(a path escaping the install root, a local header that disagrees with the central directory, a RECORD that
does not match, a zip bomb) is refused here with one clear line, before anything is written. So is a wheel whose
file name disagrees with what it says inside (a renamed wheel): the name's tags, compressed sets expanded, must be
exactly WHEEL's ``Tag:`` lines, and its project name and version must equal METADATA's once normalised (a build
tag in the name is allowed) — the output keeps the input's file name, so a mismatch would ship under a false name.
"""

from __future__ import annotations

import io
import itertools
import re
import stat
import struct
import zipfile
import zlib
from dataclasses import dataclass, field, replace
from email.parser import HeaderParser
from functools import cached_property
from pathlib import Path, PurePosixPath

from packaging.tags import Tag, parse_tag
from packaging.utils import (
    InvalidWheelFilename,
    NormalizedName,
    canonicalize_name,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from .errors import BadWheel
from .records import SIGNATURE_FILES, RecordError, RecordRow, parse_record

DATA_SCHEMES = ("purelib", "platlib", "headers", "scripts", "data")
_LOCAL_HEADER = struct.Struct("<IHHHHHIIIHH")
_LOCAL_SIG = 0x04034B50
_EOCD_SIG = b"PK\x05\x06"
_DRIVE = re.compile(r"^[A-Za-z]:")


@dataclass(frozen=True)
class Limits:
    """Zip-bomb limits. Sizes are uncompressed bytes."""

    max_total_size: int = 8 * 1024**3
    max_entry_size: int = 4 * 1024**3
    max_entries: int = 500_000
    max_ratio: int = 1000  # uncompressed / compressed, checked for entries over ratio_floor bytes
    ratio_floor: int = 1024**2


@dataclass(frozen=True)
class RawDeflate:
    """An entry's payload exactly as the archive stores it (DEFLATE), so an unchanged entry can be copied."""

    payload: bytes
    crc: int


@dataclass(frozen=True)
class Entry:
    """One file of a wheel: archive path, content and unix permission bits."""

    path: str
    data: bytes
    mode: int = 0o644
    raw: RawDeflate | None = field(default=None, repr=False, compare=False)

    @property
    def size(self) -> int:
        return len(self.data)

    def with_data(self, data: bytes) -> Entry:
        """The same entry with new content (the stored payload no longer applies)."""
        return replace(self, data=data, raw=None)


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


def install_location(path: str, data_dir: str, root_is_purelib: bool) -> tuple[str, str]:
    if path.startswith(data_dir + "/"):
        scheme, _, rest = path[len(data_dir) + 1 :].partition("/")
        return scheme, rest
    return ("purelib" if root_is_purelib else "platlib"), path


def read_wheel(path: Path | str, *, limits: Limits | None = None, allow_bad_record: bool = False) -> Wheel:
    """Read and validate a wheel; raise :class:`BadWheel` with one clear line for anything unsafe or inconsistent."""
    path = Path(path)
    limits = limits or Limits()
    source = path.name
    try:
        name, version, _build, tags = parse_wheel_filename(path.name)
    except InvalidWheelFilename as exc:
        raise BadWheel(source, f"not a valid wheel file name ({exc})") from None
    try:
        blob = path.read_bytes()
    except IsADirectoryError:
        raise BadWheel(source, "is a directory, not a wheel file") from None
    except OSError as exc:
        raise BadWheel(source, f"can't be read: {exc.strerror or exc}") from None

    infos = _central_directory(source, blob)
    warnings: list[str] = []
    entries, compressed_sizes = _read_entries(source, blob, infos, limits)
    dist_info, root_is_purelib = _check_metadata(source, entries, name, version, tags)
    _check_record(source, entries, dist_info, allow_bad_record, warnings)
    return Wheel(
        source=path,
        filename=path.name,
        name=name,
        version=version,
        tags=tags,
        dist_info=dist_info,
        root_is_purelib=root_is_purelib,
        entries=tuple(entries),
        compressed_sizes=compressed_sizes,
        archive_size=len(blob),
        warnings=tuple(warnings),
    )


def _central_directory(source: str, blob: bytes) -> list[zipfile.ZipInfo]:
    if not blob.startswith(b"PK"):
        raise BadWheel(source, "not a zip archive")
    eocd = blob.rfind(_EOCD_SIG, max(0, len(blob) - 65557))
    if eocd < 0:
        raise BadWheel(source, "truncated or corrupt zip archive (no end-of-central-directory record)")
    if eocd + 22 > len(blob):
        raise BadWheel(source, "truncated zip archive")
    (comment_length,) = struct.unpack_from("<H", blob, eocd + 20)
    if eocd + 22 + comment_length != len(blob):
        raise BadWheel(source, "trailing data after the end of the zip archive")
    try:
        with zipfile.ZipFile(io.BytesIO(blob)) as zf:
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


def _read_entries(
    source: str, blob: bytes, infos: list[zipfile.ZipInfo], limits: Limits
) -> tuple[list[Entry], dict[str, int]]:
    if len(infos) > limits.max_entries:
        raise BadWheel(source, f"has {len(infos)} entries, more than the limit of {limits.max_entries}")
    seen: set[str] = set()
    declared_total = 0
    spans: list[tuple[int, int, str]] = []
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

    files = {name for name in seen if not name.endswith("/")}
    for name in seen:
        parent = name.rstrip("/").rpartition("/")[0]
        while parent:
            if parent in files:
                raise BadWheel(source, f"{parent!r} is both a file and a directory")
            parent = parent.rpartition("/")[0]

    entries: list[Entry] = []
    compressed_sizes: dict[str, int] = {}
    for info in infos:
        start, end = _data_span(source, blob, info)
        spans.append((info.header_offset, end, info.filename))
        if info.is_dir():
            if info.file_size:
                raise BadWheel(source, f"directory entry {info.filename!r} has content")
            continue
        payload = blob[start:end]
        data = _inflate(source, info, payload)
        mode = (info.external_attr >> 16) & 0o777 if info.create_system == 3 else 0
        raw = RawDeflate(payload, info.CRC) if info.compress_type == zipfile.ZIP_DEFLATED else None
        entries.append(Entry(info.filename, data, mode or 0o644, raw))
        compressed_sizes[info.filename] = info.compress_size

    spans.sort()
    for (_, end, name), (next_start, _, next_name) in itertools.pairwise(spans):
        if end > next_start:
            raise BadWheel(source, f"entries {name!r} and {next_name!r} overlap (a zip bomb?)")
    return entries, compressed_sizes


def _data_span(source: str, blob: bytes, info: zipfile.ZipInfo) -> tuple[int, int]:
    """Check the local header against the central directory; return the payload's byte range."""
    offset = info.header_offset
    if offset < 0 or offset + _LOCAL_HEADER.size > len(blob):
        raise BadWheel(source, f"entry {info.filename!r} points outside the archive (truncated?)")
    (sig, _version, flags, method, _time, _date, crc, csize, usize, name_len, extra_len) = _LOCAL_HEADER.unpack_from(
        blob, offset
    )
    if sig != _LOCAL_SIG:
        raise BadWheel(source, f"entry {info.filename!r} has no valid local header (corrupt archive)")
    name_start = offset + _LOCAL_HEADER.size
    raw_name = blob[name_start : name_start + name_len]
    central_name = info.orig_filename.encode("utf-8" if info.flag_bits & 0x800 else "cp437", "surrogateescape")
    if raw_name != central_name or (flags & 0x800) != (info.flag_bits & 0x800):
        raise BadWheel(source, f"entry {info.filename!r}: local header name disagrees with the central directory")
    if method != info.compress_type or (flags & 0x1):
        raise BadWheel(source, f"entry {info.filename!r}: local header disagrees with the central directory")
    if not flags & 0x8:  # without a data descriptor the local header carries the real values
        if crc != info.CRC:
            raise BadWheel(source, f"entry {info.filename!r}: local header CRC disagrees with the central directory")
        if csize != 0xFFFFFFFF and (csize, usize) != (info.compress_size, info.file_size):
            raise BadWheel(source, f"entry {info.filename!r}: local header sizes disagree with the central directory")
    start = name_start + name_len + extra_len
    end = start + info.compress_size
    if end > len(blob):
        raise BadWheel(source, f"entry {info.filename!r} runs past the end of the archive (truncated?)")
    return start, end


def _inflate(source: str, info: zipfile.ZipInfo, payload: bytes) -> bytes:
    if info.compress_type == zipfile.ZIP_STORED:
        data = payload
        if len(data) != info.file_size:
            raise BadWheel(source, f"entry {info.filename!r} is stored with a size that disagrees with its header")
    else:
        inflater = zlib.decompressobj(-15)
        try:
            data = inflater.decompress(payload, info.file_size + 1)
        except zlib.error as exc:
            raise BadWheel(source, f"entry {info.filename!r} is corrupt ({exc})") from None
        if len(data) > info.file_size or inflater.unconsumed_tail:
            raise BadWheel(source, f"entry {info.filename!r} inflates to more than its declared size (a zip bomb?)")
        if len(data) != info.file_size or not inflater.eof:
            raise BadWheel(source, f"entry {info.filename!r} is truncated or corrupt")
    if zlib.crc32(data) != info.CRC:
        raise BadWheel(source, f"entry {info.filename!r} fails its CRC check (corrupt archive)")
    return data


def _check_metadata(
    source: str,
    entries: list[Entry],
    name: NormalizedName,
    version: Version,
    tags: frozenset[Tag],
) -> tuple[str, bool]:
    tops = {e.path.split("/", 1)[0] for e in entries}
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
    by_path = {e.path: e for e in entries}
    for required in ("METADATA", "WHEEL", "RECORD"):
        if f"{dist_info}/{required}" not in by_path:
            raise BadWheel(source, f"{dist_info}/{required} is missing")
    for e in entries:
        if e.path.startswith(stem + ".data/"):
            scheme = e.path.split("/")[1]
            if scheme not in DATA_SCHEMES or e.path.count("/") < 2:
                raise BadWheel(source, f"{e.path!r} is not under a known .data scheme ({', '.join(DATA_SCHEMES)})")
    try:
        wheel_text = by_path[f"{dist_info}/WHEEL"].data.decode("utf-8")
        metadata_text = by_path[f"{dist_info}/METADATA"].data.decode("utf-8")
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


def _check_record(
    source: str, entries: list[Entry], dist_info: str, allow_bad_record: bool, warnings: list[str]
) -> None:
    record_path = f"{dist_info}/RECORD"
    by_path = {e.path: e for e in entries}
    try:
        rows = parse_record(by_path[record_path].data.decode("utf-8"))
    except (RecordError, UnicodeDecodeError, ValueError) as exc:  # ValueError: int() of a size like "²"
        raise BadWheel(source, f"{record_path}: {exc}") from None
    problems: list[str] = []
    listed: dict[str, RecordRow] = {}
    for row in rows:
        if row.path in listed:
            problems.append(f"{row.path!r} is listed twice in RECORD")
        listed[row.path] = row
    exempt = {record_path} | {f"{dist_info}/{s}" for s in SIGNATURE_FILES}
    for e in entries:
        if e.path in exempt:
            continue
        listed_row = listed.get(e.path)
        if listed_row is None:
            problems.append(f"{e.path!r} is not listed in RECORD")
            continue
        problem = listed_row.check(e.data)
        if problem:
            problems.append(f"{e.path!r} {problem}")
    for path in listed:
        if path not in by_path and not path.endswith("/"):
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
