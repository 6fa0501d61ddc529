"""Small synthetic wheels for tests, built from scratch.

This module deliberately imports nothing from ``slimwheel``: fixtures must stay independent of the code under
test. It offers three layers:

* :class:`SynthWheel` writes a valid wheel (METADATA, WHEEL, entry_points.txt, RECORD with correct hashes)
  from a dict of files, with a ``mutate`` hook to break it on purpose;
* :func:`compile_extension` / :func:`compile_shared_lib` compile real native code with the machine's gcc, and
  :func:`demo_wheel` assembles the realistic ``demo`` package used across the test suite;
* :func:`raw_zip` and the byte-level helpers (:func:`set_local_name`, :func:`set_declared_size`,
  :func:`set_flag_bits`, :func:`make_symlink`, :func:`truncate`, :func:`append_trailing`,
  :func:`duplicate_entry`, ...) craft hostile archives by patching the zip structures directly.

Zip layout reminder (all integers little-endian; see APPNOTE.TXT section 4.3)::

    [local file header 1][name][extra][file data 1][data descriptor 1]?
    ...
    [central directory header 1][name][extra][comment]
    ...
    [end of central directory record][archive comment]
"""

from __future__ import annotations

import base64
import copy
import csv
import hashlib
import io
import stat
import struct
import subprocess
import sys
import sysconfig
import warnings
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "EXT_SUFFIX",
    "CentralEntry",
    "Entry",
    "LocalHeader",
    "SynthWheel",
    "ZipLayout",
    "append_trailing",
    "compile_extension",
    "compile_shared_lib",
    "corrupt_data",
    "demo_wheel",
    "duplicate_entry",
    "make_symlink",
    "native_tag",
    "normalize_name",
    "parse_zip",
    "raw_zip",
    "raw_zip_bytes",
    "read_record",
    "record_hash",
    "rename_entry",
    "replace_data",
    "set_declared_size",
    "set_flag_bits",
    "set_local_name",
    "set_method",
    "truncate",
]

#: One archive member as handed to ``mutate``: (archive path, content, unix mode).
Entry = tuple[str, bytes, int]

EXT_SUFFIX: str = sysconfig.get_config_var("EXT_SUFFIX") or ".so"

#: Every member gets this timestamp so that building the same wheel twice gives identical bytes.
FIXED_DATE_TIME = (2024, 1, 1, 0, 0, 0)

DEFAULT_MODE = 0o644
SCRIPT_MODE = 0o755


# ----------------------------------------------------------------------------------------------------
# Names, hashes, tags
# ----------------------------------------------------------------------------------------------------


def normalize_name(name: str) -> str:
    """Name as used in wheel file names: lowercase, each run of ``-``, ``_``, ``.`` becomes one ``_``."""
    out: list[str] = []
    for ch in name.lower():
        if ch in "-_.":
            if not out or out[-1] != "_":
                out.append("_")
        else:
            out.append(ch)
    return "".join(out)


def record_hash(data: bytes) -> str:
    """The RECORD hash field: ``sha256=`` + urlsafe base64 of the digest without ``=`` padding."""
    digest = hashlib.sha256(data).digest()
    return "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def expand_tags(tag: str) -> list[str]:
    """Expand a compressed tag set: ``py2.py3-none-any`` -> ``["py2-none-any", "py3-none-any"]``."""
    parts = tag.split("-")
    if len(parts) != 3:
        raise ValueError(f"tag must be python-abi-platform, got {tag!r}")
    pythons, abis, platforms = (p.split(".") for p in parts)
    return [f"{py}-{abi}-{plat}" for py in pythons for abi in abis for plat in platforms]


def native_tag() -> str:
    """The most specific tag of the running interpreter, e.g. ``cp311-cp311-linux_x86_64``.

    It matches :data:`EXT_SUFFIX`, so a wheel with an extension from :func:`compile_extension` installs here.
    """
    py = f"cp{sys.version_info.major}{sys.version_info.minor}"
    abi = py + ("t" if sysconfig.get_config_var("Py_GIL_DISABLED") else "")
    platform = sysconfig.get_platform().replace("-", "_").replace(".", "_")
    return f"{py}-{abi}-{platform}"


def read_record(wheel: Path | bytes) -> list[list[str]]:
    """Parse the RECORD of a wheel (path or zip bytes) with the csv module; one list of fields per row."""
    source = io.BytesIO(wheel) if isinstance(wheel, bytes) else wheel
    with zipfile.ZipFile(source) as zf:
        name = next(n for n in zf.namelist() if n.endswith(".dist-info/RECORD") and n.count("/") == 1)
        text = zf.read(name).decode("utf-8")
    return [row for row in csv.reader(io.StringIO(text)) if row]


# ----------------------------------------------------------------------------------------------------
# Writing zips
# ----------------------------------------------------------------------------------------------------


def _external_attr(name: str, mode: int) -> int:
    """Unix mode in the high 16 bits; a regular file unless the mode has a file type or the name ends in /."""
    if name.endswith("/"):
        return ((stat.S_IFDIR | (mode & 0o7777)) << 16) | 0x10  # 0x10 = MS-DOS directory attribute
    if stat.S_IFMT(mode) == 0:
        mode |= stat.S_IFREG
    return mode << 16


def _zip_entries(entries: Iterable[Entry], compression: int, comment: bytes = b"") -> bytes:
    buf = io.BytesIO()
    with warnings.catch_warnings():
        # Duplicate names are legal in a zip and are exactly what some hostile-input tests want.
        warnings.filterwarnings("ignore", message="Duplicate name", category=UserWarning)
        with zipfile.ZipFile(buf, "w") as zf:
            for name, data, mode in entries:
                info = zipfile.ZipInfo(name, date_time=FIXED_DATE_TIME)
                info.compress_type = compression
                info.create_system = 3  # unix, so that external_attr's high word is meaningful
                info.external_attr = _external_attr(name, mode)
                zf.writestr(info, data)
            zf.comment = comment
    return buf.getvalue()


def raw_zip_bytes(
    members: Iterable[tuple[str, bytes]],
    *,
    compression: int = zipfile.ZIP_DEFLATED,
    modes: dict[str, int] | None = None,
    comment: bytes = b"",
) -> bytes:
    """A zip with arbitrary member names (``../x``, ``/abs``, ``a\\b``, duplicates...), in memory.

    Names are stored as given (zipfile only cuts them at a NUL byte; use :func:`rename_entry` for raw bytes).
    """
    modes = modes or {}
    return _zip_entries(((name, data, modes.get(name, DEFAULT_MODE)) for name, data in members), compression, comment)


def raw_zip(
    dest: Path,
    members: Iterable[tuple[str, bytes]],
    *,
    compression: int = zipfile.ZIP_DEFLATED,
    modes: dict[str, int] | None = None,
    comment: bytes = b"",
) -> Path:
    """Write :func:`raw_zip_bytes` to ``dest`` (a file path; parent directories are created) and return it."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(raw_zip_bytes(members, compression=compression, modes=modes, comment=comment))
    return dest


# ----------------------------------------------------------------------------------------------------
# SynthWheel
# ----------------------------------------------------------------------------------------------------


@dataclass
class SynthWheel:
    """A wheel described by its files; :meth:`build` adds METADATA, WHEEL, entry_points.txt and RECORD.

    ``files`` maps archive paths (relative to the wheel root, ``{data_dir}/scripts/x`` allowed) to content.
    ``modes`` overrides the default 0o644 (0o755 under ``{data_dir}/scripts/``).
    """

    name: str = "demo"
    version: str = "1.0"
    tag: str = "py3-none-any"
    purelib: bool = True
    files: dict[str, bytes] = field(default_factory=dict)
    modes: dict[str, int] = field(default_factory=dict)
    entry_points: dict[str, dict[str, str]] | None = None
    metadata_extra: str = ""

    def _stem(self) -> str:
        return f"{normalize_name(self.name)}-{self.version.replace('-', '_')}"

    def dist_info(self) -> str:
        return f"{self._stem()}.dist-info"

    def data_dir(self) -> str:
        return f"{self._stem()}.data"

    def filename(self) -> str:
        return f"{self._stem()}-{self.tag}.whl"

    def mode_of(self, path: str) -> int:
        if path in self.modes:
            return self.modes[path]
        if path.startswith(f"{self.data_dir()}/scripts/"):
            return SCRIPT_MODE
        return DEFAULT_MODE

    def metadata_text(self) -> str:
        text = f"Metadata-Version: 2.1\nName: {self.name}\nVersion: {self.version}\n"
        if self.metadata_extra:
            text += self.metadata_extra if self.metadata_extra.endswith("\n") else self.metadata_extra + "\n"
        return text

    def wheel_text(self) -> str:
        lines = [
            "Wheel-Version: 1.0",
            "Generator: synth",
            f"Root-Is-Purelib: {'true' if self.purelib else 'false'}",
        ]
        lines += [f"Tag: {t}" for t in expand_tags(self.tag)]
        return "\n".join(lines) + "\n"

    def entry_points_text(self) -> str:
        assert self.entry_points is not None
        chunks = []
        for group, items in self.entry_points.items():
            body = "".join(f"{key} = {value}\n" for key, value in items.items())
            chunks.append(f"[{group}]\n{body}")
        return "\n".join(chunks)

    def entries(self, *, record: bool = True) -> list[Entry]:
        """Final member list in archive order: package files, then ``.dist-info`` with RECORD last.

        A generated METADATA/WHEEL/entry_points.txt is skipped when ``files`` already provides one; a RECORD
        in ``files`` is ignored (use ``mutate`` in :meth:`build` to replace it).
        """
        di = self.dist_info() + "/"
        payload = [(p, d, self.mode_of(p)) for p, d in self.files.items() if not p.startswith(di)]
        meta = [(p, d, self.mode_of(p)) for p, d in self.files.items() if p.startswith(di)]
        generated = {di + "METADATA": self.metadata_text(), di + "WHEEL": self.wheel_text()}
        if self.entry_points is not None:
            generated[di + "entry_points.txt"] = self.entry_points_text()
        for path, text in generated.items():
            if path not in self.files:
                meta.append((path, text.encode("utf-8"), DEFAULT_MODE))
        entries = payload + meta
        record_path = di + "RECORD"
        entries = [e for e in entries if e[0] != record_path]
        if record:
            out = io.StringIO()
            writer = csv.writer(out, lineterminator="\n")
            for path, data, _mode in entries:
                if not path.endswith("/"):  # directory entries are not listed
                    writer.writerow([path, record_hash(data), len(data)])
            writer.writerow([record_path, "", ""])
            entries.append((record_path, out.getvalue().encode("utf-8"), DEFAULT_MODE))
        return entries

    def build(
        self,
        dest_dir: Path,
        *,
        compression: int = zipfile.ZIP_DEFLATED,
        record: bool = True,
        mutate: Callable[[list[Entry]], list[Entry]] | None = None,
    ) -> Path:
        """Write the wheel into ``dest_dir`` (created if needed) under :meth:`filename`; return its path.

        ``mutate`` receives the final (path, data, mode) list, RECORD included, and returns the list to zip:
        change content after hashing, drop or duplicate members, add traversal names, etc. A mode without file
        type bits is stored as a regular file (``S_IFREG``); pass e.g. ``stat.S_IFLNK | 0o777`` to override.
        """
        entries = self.entries(record=record)
        if mutate is not None:
            entries = mutate(entries)
        dest_dir.mkdir(parents=True, exist_ok=True)
        path = dest_dir / self.filename()
        path.write_bytes(_zip_entries(entries, compression))
        return path


# ----------------------------------------------------------------------------------------------------
# Parsing and patching zip structures
# ----------------------------------------------------------------------------------------------------

# Local file header, 30 bytes + name + extra, then the file data:
#   0 signature 0x04034b50 (4) | 4 version needed (2) | 6 general purpose flags (2) | 8 compression method (2)
#  10 mod time (2) | 12 mod date (2) | 14 crc-32 (4) | 18 compressed size (4) | 22 uncompressed size (4)
#  26 name length (2) | 28 extra length (2) | 30 name | 30+n extra
_LFH_SIG = 0x04034B50
_LFH = struct.Struct("<IHHHHHIIIHH")

# Central directory file header, 46 bytes + name + extra + comment:
#   0 signature 0x02014b50 (4) | 4 version made by (2; high byte = create_system, 3 = unix)
#   6 version needed (2) | 8 flags (2) | 10 method (2) | 12 mod time (2) | 14 mod date (2) | 16 crc-32 (4)
#  20 compressed size (4) | 24 uncompressed size (4) | 28 name length (2) | 30 extra length (2)
#  32 comment length (2) | 34 disk number start (2) | 36 internal attributes (2)
#  38 external attributes (4; high word = unix mode) | 42 local header offset (4) | 46 name, extra, comment
_CDH_SIG = 0x02014B50
_CDH = struct.Struct("<IHHHHHHIIIHHHHHII")

# End of central directory record, 22 bytes + comment:
#   0 signature 0x06054b50 (4) | 4 number of this disk (2) | 6 disk where the central directory starts (2)
#   8 entries on this disk (2) | 10 total entries (2) | 12 central directory size (4)
#  16 central directory offset (4) | 20 comment length (2) | 22 comment
_EOCD_SIG = 0x06054B50
_EOCD = struct.Struct("<IHHHHIIH")

assert (_LFH.size, _CDH.size, _EOCD.size) == (30, 46, 22)

FLAG_ENCRYPTED = 0x1
FLAG_DATA_DESCRIPTOR = 0x8
FLAG_UTF8 = 0x800


@dataclass
class LocalHeader:
    """A local file header plus everything up to the next record (file data and any data descriptor)."""

    offset: int
    version_needed: int
    flags: int
    method: int
    mtime: int
    mdate: int
    crc: int
    compressed_size: int
    uncompressed_size: int
    name: bytes
    extra: bytes
    body: bytes

    def pack(self) -> bytes:
        head = _LFH.pack(
            _LFH_SIG,
            self.version_needed,
            self.flags,
            self.method,
            self.mtime,
            self.mdate,
            self.crc,
            self.compressed_size,
            self.uncompressed_size,
            len(self.name),
            len(self.extra),
        )
        return head + self.name + self.extra + self.body


@dataclass
class CentralEntry:
    version_made_by: int
    version_needed: int
    flags: int
    method: int
    mtime: int
    mdate: int
    crc: int
    compressed_size: int
    uncompressed_size: int
    disk_start: int
    internal_attr: int
    external_attr: int
    local_offset: int
    name: bytes
    extra: bytes
    comment: bytes
    local: LocalHeader | None  # None when local_offset points nowhere sensible

    def pack(self) -> bytes:
        head = _CDH.pack(
            _CDH_SIG,
            self.version_made_by,
            self.version_needed,
            self.flags,
            self.method,
            self.mtime,
            self.mdate,
            self.crc,
            self.compressed_size,
            self.uncompressed_size,
            len(self.name),
            len(self.extra),
            len(self.comment),
            self.disk_start,
            self.internal_attr,
            self.external_attr,
            self.local_offset,
        )
        return head + self.name + self.extra + self.comment


@dataclass
class ZipLayout:
    """A parsed archive that :meth:`pack` re-serialises with every offset recomputed.

    Several central entries may share one :class:`LocalHeader` (overlapping members); bytes before the first
    local header, between the central directory and the EOCD, and after the EOCD comment are kept verbatim.
    """

    prefix: bytes
    locals: list[LocalHeader]
    central: list[CentralEntry]
    gap: bytes  # between the central directory and the EOCD (e.g. zip64 records; not fixed up)
    disk_fields: tuple[int, int]  # (this disk, central directory disk)
    comment: bytes
    trailing: bytes

    def pack(self) -> bytes:
        out = bytearray(self.prefix)
        new_offset: dict[int, int] = {}
        for local in self.locals:
            new_offset[id(local)] = len(out)
            out += local.pack()
        cd_start = len(out)
        for entry in self.central:
            if entry.local is not None:
                entry.local_offset = new_offset[id(entry.local)]
            out += entry.pack()
        cd_size = len(out) - cd_start
        out += self.gap
        count = len(self.central)
        out += _EOCD.pack(_EOCD_SIG, *self.disk_fields, count, count, cd_size, cd_start, len(self.comment))
        out += self.comment + self.trailing
        return bytes(out)

    def find(self, name: str | bytes | int) -> CentralEntry:
        """Central entry by index (central directory order) or by name (first match; str is UTF-8 encoded)."""
        if isinstance(name, int):
            return self.central[name]
        raw = name.encode("utf-8") if isinstance(name, str) else name
        for entry in self.central:
            if entry.name == raw:
                return entry
        raise KeyError(f"no member named {name!r}")

    def local_of(self, name: str | bytes | int) -> LocalHeader:
        local = self.find(name).local
        if local is None:
            raise ValueError(f"member {name!r} has no local header")
        return local


def _find_eocd(data: bytes) -> int:
    """Offset of the EOCD: the one whose comment runs exactly to the end, else the last signature found."""
    sig = struct.pack("<I", _EOCD_SIG)
    lowest = max(0, len(data) - _EOCD.size - 0xFFFF)
    pos = data.rfind(sig, lowest)
    fallback = pos
    while pos >= 0:
        if pos + _EOCD.size <= len(data):
            comment_len = struct.unpack_from("<H", data, pos + 20)[0]
            if pos + _EOCD.size + comment_len == len(data):
                return pos
        pos = data.rfind(sig, lowest, pos)
    if fallback < 0 or fallback + _EOCD.size > len(data):
        raise ValueError("no end of central directory record")
    return fallback


def parse_zip(data: bytes) -> ZipLayout:
    """Parse an archive's records with ``struct``. Zip64 archives are not supported."""
    eocd = _find_eocd(data)
    _sig, disk, cd_disk, _n_disk, total, cd_size, cd_offset, comment_len = _EOCD.unpack_from(data, eocd)
    if total == 0xFFFF or cd_size == 0xFFFFFFFF or cd_offset == 0xFFFFFFFF:
        raise ValueError("zip64 archives are not supported")
    # Bytes prepended to the archive (self-extractor stubs) shift everything: offsets are relative to the zip.
    concat = eocd - cd_size - cd_offset
    if concat < 0:
        raise ValueError("central directory offset/size point outside the file")
    cd_start = cd_offset + concat

    central: list[CentralEntry] = []
    pos = cd_start
    for _ in range(total):
        (sig, made_by, needed, flags, method, mtime, mdate, crc, csize, usize, n_len, e_len, c_len,
         disk_start, internal, external, local_offset) = _CDH.unpack_from(data, pos)  # fmt: skip
        if sig != _CDH_SIG:
            raise ValueError(f"bad central directory signature at {pos}")
        start = pos + _CDH.size
        name = data[start : start + n_len]
        extra = data[start + n_len : start + n_len + e_len]
        comment = data[start + n_len + e_len : start + n_len + e_len + c_len]
        entry = CentralEntry(
            made_by, needed, flags, method, mtime, mdate, crc, csize, usize,
            disk_start, internal, external, local_offset, name, extra, comment, None,
        )  # fmt: skip
        central.append(entry)
        pos = start + n_len + e_len + c_len
    gap = data[pos:eocd]

    offsets = sorted({e.local_offset + concat for e in central})
    locals_by_offset: dict[int, LocalHeader] = {}
    for i, off in enumerate(offsets):
        end = offsets[i + 1] if i + 1 < len(offsets) else cd_start
        if off + _LFH.size > end or _LFH.unpack_from(data, off)[0] != _LFH_SIG:
            continue  # entry points at garbage: leave it dangling (its bytes stay in the previous body)
        _sig, needed, flags, method, mtime, mdate, crc, csize, usize, n_len, e_len = _LFH.unpack_from(data, off)
        start = off + _LFH.size
        name = data[start : start + n_len]
        extra = data[start + n_len : start + n_len + e_len]
        locals_by_offset[off] = LocalHeader(
            off, needed, flags, method, mtime, mdate, crc, csize, usize, name, extra, b""
        )
    ordered = [locals_by_offset[o] for o in offsets if o in locals_by_offset]
    # Each body runs to the next valid local header, so bytes at a dangling offset are kept, not lost.
    first = ordered[0].offset if ordered else cd_start
    for i, local in enumerate(ordered):
        end = ordered[i + 1].offset if i + 1 < len(ordered) else cd_start
        header_len = _LFH.size + len(local.name) + len(local.extra)
        local.body = data[local.offset + header_len : end]
    for entry in central:
        entry.local = locals_by_offset.get(entry.local_offset + concat)
    comment = data[eocd + _EOCD.size : eocd + _EOCD.size + comment_len]
    trailing = data[eocd + _EOCD.size + comment_len :]
    return ZipLayout(data[:first], ordered, central, gap, (disk, cd_disk), comment, trailing)


def _as_name(name: str | bytes) -> bytes:
    return name.encode("utf-8") if isinstance(name, str) else name


def set_local_name(zip_bytes: bytes, index: int | str, new_name: str | bytes) -> bytes:
    """Give one member's local header a different name from its central directory entry.

    ``index`` is the position in the central directory (or a member name). Lengths may differ: all following
    offsets are rewritten. zipfile then refuses to read the member ("File name in directory ... differ").
    """
    layout = parse_zip(zip_bytes)
    layout.local_of(index).name = _as_name(new_name)
    return layout.pack()


def rename_entry(zip_bytes: bytes, name: str | int, new_name: str | bytes) -> bytes:
    """Rename a member in both headers, consistently.

    A ``str`` is UTF-8 encoded and sets/clears the UTF-8 flag (0x800) to match; ``bytes`` are stored raw (NUL,
    invalid UTF-8, ...) with the flags untouched (combine with :func:`set_flag_bits` if needed).
    """
    layout = parse_zip(zip_bytes)
    entry = layout.find(name)
    records: list[LocalHeader | CentralEntry] = [entry] + ([entry.local] if entry.local else [])
    for rec in records:
        rec.name = _as_name(new_name)
        if isinstance(new_name, str):
            rec.flags = (rec.flags & ~FLAG_UTF8) | (0 if new_name.isascii() else FLAG_UTF8)
    return layout.pack()


def set_declared_size(
    zip_bytes: bytes, name: str | int, uncompressed_size: int, *, compressed_size: int | None = None
) -> bytes:
    """Make a member lie about its uncompressed size (local header offset 22, central offset 24).

    The data is untouched, so the real size differs from ``ZipInfo.file_size``: the zip-bomb case. Optionally
    lie about the compressed size too (local 18, central 20), which misdirects readers that trust it.
    """
    if not 0 <= uncompressed_size < 0xFFFFFFFF or not 0 <= (compressed_size or 0) < 0xFFFFFFFF:
        raise ValueError("sizes must fit in 32 bits (0xFFFFFFFF would mean zip64)")
    layout = parse_zip(zip_bytes)
    entry = layout.find(name)
    records: list[LocalHeader | CentralEntry] = [entry] + ([entry.local] if entry.local else [])
    for rec in records:
        rec.uncompressed_size = uncompressed_size
        if compressed_size is not None:
            rec.compressed_size = compressed_size
    return layout.pack()


def set_flag_bits(zip_bytes: bytes, name: str | int, bits: int, *, clear: int = 0) -> bytes:
    """OR ``bits`` into (and clear ``clear`` from) the general purpose flags of both headers.

    ``bits=0x1`` marks the member encrypted; zipfile then asks for a password.
    """
    layout = parse_zip(zip_bytes)
    entry = layout.find(name)
    records: list[LocalHeader | CentralEntry] = [entry] + ([entry.local] if entry.local else [])
    for rec in records:
        rec.flags = (rec.flags | bits) & ~clear
    return layout.pack()


def set_method(zip_bytes: bytes, name: str | int, method: int) -> bytes:
    """Change the method number in both headers without recompressing (e.g. 99 = AES, 14 = LZMA)."""
    layout = parse_zip(zip_bytes)
    entry = layout.find(name)
    records: list[LocalHeader | CentralEntry] = [entry] + ([entry.local] if entry.local else [])
    for rec in records:
        rec.method = method
    return layout.pack()


def make_symlink(zip_bytes: bytes, name: str | int, *, target: bytes | None = None) -> bytes:
    """Turn a member into a unix symlink: central external_attr high word = S_IFLNK|0o777, create_system = 3.

    The member's data is the link target; pass ``target`` to replace it (e.g. ``b"../../etc/passwd"``).
    """
    if target is not None:
        zip_bytes = replace_data(zip_bytes, name, target)
    layout = parse_zip(zip_bytes)
    entry = layout.find(name)
    entry.version_made_by = (3 << 8) | (entry.version_made_by & 0xFF)
    entry.external_attr = ((stat.S_IFLNK | 0o777) << 16) | (entry.external_attr & 0xFFFF)
    return layout.pack()


def replace_data(zip_bytes: bytes, name: str | int, data: bytes) -> bytes:
    """Replace a member's content (recompressed with its method, CRC and sizes updated); all else is kept."""
    layout = parse_zip(zip_bytes)
    entry = layout.find(name)
    fresh = parse_zip(_zip_entries([("x", data, DEFAULT_MODE)], entry.method)).central[0]
    assert fresh.local is not None
    for rec in [entry] + ([entry.local] if entry.local else []):
        rec.crc, rec.compressed_size, rec.uncompressed_size = (
            fresh.crc,
            fresh.compressed_size,
            fresh.uncompressed_size,
        )
    if entry.local is not None:
        entry.local.body = fresh.local.body
    return layout.pack()


def corrupt_data(zip_bytes: bytes, name: str | int, *, at: int = 0) -> bytes:
    """Flip the bits of one stored byte (``at`` within the compressed data): the CRC no longer matches."""
    layout = parse_zip(zip_bytes)
    local = layout.local_of(name)
    if not local.body:
        raise ValueError("member has no data to corrupt")
    body = bytearray(local.body)
    body[at] ^= 0xFF
    local.body = bytes(body)
    return layout.pack()


def duplicate_entry(zip_bytes: bytes, name: str | int, data: bytes | None = None) -> bytes:
    """Append a second member with the same name (and attributes): same content, or ``data`` if given.

    zipfile allows reading this; its ``getinfo``/``read`` return the LAST member of that name.
    """
    layout = parse_zip(zip_bytes)
    original = layout.find(name)
    if original.local is None:
        raise ValueError("member has no local header")
    entry = copy.deepcopy(original)  # copies the local header with it
    assert entry.local is not None
    layout.locals.append(entry.local)
    layout.central.append(entry)
    packed = layout.pack()
    if data is None:
        return packed
    return replace_data(packed, len(layout.central) - 1, data)


def truncate(zip_bytes: bytes, n: int) -> bytes:
    """Keep the first ``n`` bytes (negative ``n`` drops ``-n`` bytes from the end), like a cut download."""
    return zip_bytes[:n]


def append_trailing(zip_bytes: bytes, junk: bytes) -> bytes:
    """Junk after the EOCD that its comment length does not cover (zipfile tolerates it; strict readers
    don't)."""
    return zip_bytes + junk


# ----------------------------------------------------------------------------------------------------
# Native code
# ----------------------------------------------------------------------------------------------------

#: Default extension source; ``@MODULE@`` is replaced by the module name (also in custom bodies).
EXTENSION_SOURCE = r"""
#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* Static data and helpers: with -g they add local symbols and DWARF that strip can remove. */
static const char demo_banner[] = "@MODULE@: compiled by tests/synth.py";
static const unsigned int demo_primes[32] = {
    2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53,
    59, 61, 67, 71, 73, 79, 83, 89, 97, 101, 103, 107, 109, 113, 127, 131,
};
static unsigned long demo_calls;

static unsigned long demo_mix(unsigned long h, unsigned long v) {
    return (h ^ v) * demo_primes[v % 32u] + 0x9e3779b9ul;
}

static PyObject *demo_add(PyObject *self, PyObject *args) {
    long a, b;
    (void)self;
    if (!PyArg_ParseTuple(args, "ll", &a, &b)) {
        return NULL;
    }
    demo_calls++;
    return PyLong_FromLong(a + b);
}

static PyObject *demo_checksum(PyObject *self, PyObject *args) {
    const char *buf;
    Py_ssize_t len, i;
    unsigned long h = 0;
    (void)self;
    if (!PyArg_ParseTuple(args, "y#", &buf, &len)) {
        return NULL;
    }
    for (i = 0; i < len; i++) {
        h = demo_mix(h, (unsigned char)buf[i]);
    }
    demo_calls++;
    return PyLong_FromUnsignedLong(h);
}

static PyObject *demo_calls_made(PyObject *self, PyObject *unused) {
    (void)self;
    (void)unused;
    return PyLong_FromUnsignedLong(demo_calls);
}

static PyMethodDef demo_methods[] = {
    {"add", demo_add, METH_VARARGS, "add(a, b) -> a + b"},
    {"checksum", demo_checksum, METH_VARARGS, "checksum(data: bytes) -> int"},
    {"calls", demo_calls_made, METH_NOARGS, "number of calls so far"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef demo_module = {
    PyModuleDef_HEAD_INIT, "@MODULE@", "Synthetic extension module for slimwheel tests.", -1, demo_methods,
};

PyMODINIT_FUNC PyInit_@MODULE@(void) {
    PyObject *m = PyModule_Create(&demo_module);
    if (m != NULL && PyModule_AddStringConstant(m, "BANNER", demo_banner) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
"""

SHARED_LIB_SOURCE = r"""
/* A plain shared library (no Python): one exported answer, plus static data and a local helper. */
static const char helper_banner[] = "libhelper from tests/synth.py";
static const int helper_table[16] = {1, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233, 377, 610, 987};

static int helper_pick(int i) { return helper_table[i & 15]; }

int helper_answer(void) { return 42; }

int helper_fib(int i) { return helper_pick(i); }

const char *helper_name(void) { return helper_banner; }
"""

# Compiling takes a noticeable fraction of a second and is deterministic: reuse outputs within a process.
_compiled: dict[tuple[str, tuple[str, ...]], bytes] = {}


def _gcc(tmp: Path, stem: str, source: str, flags: list[str], out_name: str) -> Path:
    tmp.mkdir(parents=True, exist_ok=True)
    src = tmp / f"{stem}.c"
    src.write_text(source, encoding="utf-8")
    out = tmp / out_name
    key = (source, (*flags, out_name))
    if key not in _compiled:
        cmd = ["gcc", *flags, src.name, "-o", out.name]
        try:
            proc = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True, check=False)
        except FileNotFoundError as exc:
            raise RuntimeError("gcc is required to compile synthetic native code") from exc
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr}")
        _compiled[key] = out.read_bytes()
    else:
        out.write_bytes(_compiled[key])
        out.chmod(0o755)
    return out


def compile_extension(tmp: Path, module: str = "_speedups", body: str = EXTENSION_SOURCE, debug: bool = True) -> Path:
    """Compile a real CPython extension ``<module><EXT_SUFFIX>`` in ``tmp`` and return its path.

    The default body defines ``add(a, b)`` (``PyArg_ParseTuple "ll"``), ``checksum(data)``, ``calls()`` and a
    ``BANNER`` constant. ``debug`` adds ``-g`` (DWARF sections for strip to remove).
    """
    source = body.replace("@MODULE@", module)
    include = sysconfig.get_paths()["include"]
    flags = ["-shared", "-fPIC", *(["-g"] if debug else []), "-O1", f"-I{include}"]
    return _gcc(tmp, module, source, flags, module + EXT_SUFFIX)


def compile_shared_lib(tmp: Path, name: str = "libhelper.so", debug: bool = True) -> Path:
    """Compile a plain C shared library exporting ``int helper_answer(void)`` (42); SONAME is ``name``."""
    stem = name.split(".", 1)[0]
    flags = ["-shared", "-fPIC", *(["-g"] if debug else []), "-O1", f"-Wl,-soname,{name}"]
    return _gcc(tmp, stem, SHARED_LIB_SOURCE, flags, name)


# ----------------------------------------------------------------------------------------------------
# The demo package
# ----------------------------------------------------------------------------------------------------


def _ar_archive(members: dict[str, bytes]) -> bytes:
    """A minimal System V ``ar`` archive (what a static library is)."""
    out = bytearray(b"!<arch>\n")
    for name, data in members.items():
        # name/16 mtime/12 uid/6 gid/6 mode/8 size/10 then "`\n": 60 bytes; members are 2-byte aligned.
        header = f"{name + '/':<16}{0:<12}{0:<6}{0:<6}{644:<8}{len(data):<10}`\n"
        out += header.encode("ascii") + data
        if len(data) % 2:
            out += b"\n"
    return bytes(out)


_INIT_EXT = '''"""demo: a small package built by tests/synth.py."""

from demo._speedups import add
from demo.core import greet

__all__ = ["add", "greet"]
'''

_INIT_PURE = '''"""demo: a small package built by tests/synth.py."""

from demo.core import add, greet

__all__ = ["add", "greet"]
'''

_CORE = '''"""Pure-Python core of demo."""


def add(a: int, b: int) -> int:
    return a + b


def greet(name: str) -> str:
    return f"hello, {name}"
'''

_CORE_PYI = """def add(a: int, b: int) -> int: ...
def greet(name: str) -> str: ...
"""

_CLI = '''"""Command line entry point of demo."""

import sys

from demo import add


def main() -> int:
    print(add(2, 3))
    return 0


if __name__ == "__main__":
    sys.exit(main())
'''

_TEST_CORE = '''"""Tests shipped inside the package (a pruning tool removes them)."""

from demo import add, greet


def test_add() -> None:
    assert add(2, 3) == 5


def test_greet() -> None:
    assert greet("x") == "hello, x"


def main() -> int:
    test_add()
    test_greet()
    print("ok")
    return 0
'''

_HEADER = """#ifndef DEMO_H
#define DEMO_H
long demo_add(long a, long b);
#endif
"""

_GUIDE = """# demo guide

Call `demo.add(2, 3)` to get `5`. This file is documentation: a pruning tool may remove it.
"""

_EXAMPLE = """from demo import add

print(add(40, 2))
"""

_TABLE = "id,name,value\n1,alpha,0.5\n2,beta,1.5\n3,gamma,2.5\n"

_TOOL = """#!python
from demo.cli import main

raise SystemExit(main())
"""


def demo_wheel(tmp: Path, *, with_extension: bool = True) -> SynthWheel:
    """The realistic ``demo`` 1.0 wheel used across the test suite (not built yet: call ``.build(dir)``).

    The extension is compiled in ``tmp / "synth-ext"``, so ``tmp`` itself stays free for outputs. With the
    extension the tag is :func:`native_tag` (here ``cp311-cp311-linux_x86_64``) and Root-Is-Purelib is false;
    without it, ``py3-none-any`` and purelib. The console script ``demo-tests`` points into ``demo/tests``,
    so it must go when tests are pruned.
    """
    wheel = SynthWheel(name="demo", version="1.0")
    data = wheel.data_dir()
    files: dict[str, bytes] = {
        "demo/__init__.py": (_INIT_EXT if with_extension else _INIT_PURE).encode(),
        "demo/core.py": _CORE.encode(),
        "demo/core.pyi": _CORE_PYI.encode(),
        "demo/cli.py": _CLI.encode(),
        "demo/py.typed": b"",
        "demo/tests/__init__.py": b"",
        "demo/tests/test_core.py": _TEST_CORE.encode(),
        "demo/include/demo.h": _HEADER.encode(),
        "demo/src/speedups.c": EXTENSION_SOURCE.replace("@MODULE@", "_speedups").encode(),
        "demo/docs/guide.md": _GUIDE.encode(),
        "demo/examples/example.py": _EXAMPLE.encode(),
        "demo/data/table.csv": _TABLE.encode(),
        "demo/lib/libdemo.a": _ar_archive({"core.o": b"\x7fELF" + bytes(range(60))}),
        "demo/odd, name.txt": b"a file whose name has a comma\n",
        "demo/données/ñ.txt": "non-ASCII path: données/ñ\n".encode(),
        f"{data}/scripts/demo-tool": _TOOL.encode(),
        f"{data}/data/share/demo/readme.txt": b"installed under <prefix>/share/demo\n",
        f"{data}/headers/demo_api.h": _HEADER.encode(),
        f"{data}/purelib/demo_extra/__init__.py": b'"""Installed to purelib from the .data directory."""\n',
    }
    wheel.modes[f"{data}/scripts/demo-tool"] = SCRIPT_MODE
    if with_extension:
        so = compile_extension(tmp / "synth-ext", "_speedups")
        files[f"demo/_speedups{EXT_SUFFIX}"] = so.read_bytes()
        wheel.modes[f"demo/_speedups{EXT_SUFFIX}"] = 0o755
        wheel.tag = native_tag()
        wheel.purelib = False
    wheel.files = files
    wheel.entry_points = {
        "console_scripts": {
            "demo-cli": "demo.cli:main",
            "demo-tests": "demo.tests.test_core:main",
        }
    }
    return wheel
