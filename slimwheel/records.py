"""RECORD files: parse, hash, verify and write (the wheel spec's ``path,algorithm=digest,size`` rows)."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass

# hashlib algorithms the wheel spec accepts in RECORD (md5 and sha1 are explicitly forbidden).
ACCEPTED_ALGORITHMS = frozenset(
    {"sha224", "sha256", "sha384", "sha512", "sha3_256", "sha3_384", "sha3_512", "blake2b", "blake2s"}
)
SIGNATURE_FILES = frozenset({"RECORD.jws", "RECORD.p7s"})


class RecordError(ValueError):
    """A RECORD file or row that does not follow the wheel spec."""


@dataclass(frozen=True)
class RecordRow:
    path: str
    hash: str | None  # "sha256=<urlsafe-b64 digest without padding>"
    size: int | None

    @property
    def algorithm(self) -> str | None:
        """The row's hash algorithm when the wheel spec accepts it, else None."""
        algorithm = (self.hash or "").partition("=")[0]
        return algorithm if algorithm in ACCEPTED_ALGORITHMS else None

    def check(self, data: bytes) -> str | None:
        """None when ``data`` matches this row, else a one-line description of the mismatch."""
        return self.check_hashed(lambda algorithm: digest(data, algorithm), len(data))

    def check_hashed(self, hashed: Callable[[str], str | None], size: int) -> str | None:
        """:meth:`check` for content hashed elsewhere (streamed): ``hashed(algorithm)`` is its digest string."""
        if self.hash is None:
            return "has no hash in RECORD"
        algorithm = self.hash.partition("=")[0]
        if algorithm not in ACCEPTED_ALGORITHMS:
            return f"uses hash algorithm {algorithm!r}, which the wheel spec does not accept"
        if hashed(algorithm) != self.hash:
            return "content does not match its RECORD hash"
        if self.size is not None and self.size != size:
            return f"is {size} bytes but RECORD says {self.size}"
        return None


def digest(data: bytes, algorithm: str = "sha256") -> str:
    return hash_string(hashlib.new(algorithm, data))


def hash_string(h: hashlib._Hash) -> str:
    """RECORD's ``algorithm=<urlsafe-b64 digest without padding>`` of a finished hash object."""
    return f"{h.name}=" + base64.urlsafe_b64encode(h.digest()).rstrip(b"=").decode("ascii")


def parse_record(text: str) -> list[RecordRow]:
    """Parse a RECORD file; raise RecordError on a malformed row."""
    rows: list[RecordRow] = []
    try:
        for lineno, fields in enumerate(csv.reader(io.StringIO(text, newline="")), start=1):
            if not fields:
                continue
            if len(fields) != 3:
                raise RecordError(f"RECORD line {lineno} has {len(fields)} fields, expected 3")
            path, hash_, size = fields
            if not path:
                raise RecordError(f"RECORD line {lineno} has an empty path")
            if hash_ and "=" not in hash_:
                raise RecordError(f"RECORD line {lineno} has a malformed hash {hash_!r}")
            if size and not (size.isascii() and size.isdigit()):
                raise RecordError(f"RECORD line {lineno} has a malformed size {size!r}")
            rows.append(RecordRow(path, hash_ or None, int(size) if size else None))
    except csv.Error as exc:
        raise RecordError(f"RECORD is not valid CSV: {exc}") from exc
    return rows


def format_record(rows: Iterable[RecordRow]) -> bytes:
    """RECORD text for ``rows`` (commas and quotes in names are quoted by the csv module)."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\n")
    for row in rows:
        writer.writerow([row.path, row.hash or "", "" if row.size is None else str(row.size)])
    return out.getvalue().encode("utf-8")


def record_for(files: Iterable[tuple[str, bytes]], record_path: str) -> bytes:
    """A complete RECORD for ``files`` (path, data) in the given order, listing itself last as ``RECORD,,``."""
    return record_from_digests(((path, digest(data), len(data)) for path, data in files), record_path)


def record_from_digests(files: Iterable[tuple[str, str, int]], record_path: str) -> bytes:
    """:func:`record_for` from (path, ``sha256=...`` digest, size) rows, for content that is not in memory."""
    rows = [RecordRow(path, hashed, size) for path, hashed, size in files]
    rows.append(RecordRow(record_path, None, None))
    return format_record(rows)
