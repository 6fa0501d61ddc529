"""Fuzzing the wheel reader: whatever the bytes, ``read_wheel`` returns a safe Wheel or raises BadWheel.

Three sources of input: arbitrary bytes (some shaped to get past the first zip checks), byte-level mutations
of a valid small wheel (flips, overwrites, header fields set to edge values, truncation, splices), and
well-formed archives whose member names are random text (``..``, ``/``, ``\\``, ``:``, NUL, any unicode).
When the reader accepts an input, every entry path must be relative and free of ``..``, and RECORD must
really match the contents.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import re
import struct
import tempfile
import zipfile
from functools import cache
from pathlib import Path, PurePosixPath

import pytest
import synth
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from synth import SynthWheel

from slimwheel.contents import Wheel, read_wheel
from slimwheel.errors import BadWheel

NAME = "x-1.0-py3-none-any.whl"
DI = "x-1.0.dist-info"

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def wheel_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One file, rewritten by every example (the name is what makes it a wheel for read_wheel)."""
    return tmp_path_factory.mktemp("fuzz") / NAME


@cache
def base_wheel(compression: int) -> bytes:
    """A valid small ``x`` 1.0 wheel, built once per compression method."""
    wheel = SynthWheel(
        name="x",
        version="1.0",
        files={
            "x/__init__.py": b"from x.core import f\n",
            "x/core.py": b"def f():\n    return 'hello, ' * 8\n",
            "x/data.txt": b"0123456789" * 20,
            "x-1.0.data/scripts/tool": b"#!python\nimport x\n",
        },
    )
    with tempfile.TemporaryDirectory() as tmp:
        return wheel.build(Path(tmp), compression=compression).read_bytes()


BASES = [zipfile.ZIP_DEFLATED, zipfile.ZIP_STORED]


def record_offsets(data: bytes) -> list[int]:
    """Start of every local header, central directory header and EOCD record: where the fields that matter are."""
    out = []
    for sig in (b"PK\x03\x04", b"PK\x01\x02", b"PK\x05\x06"):
        pos = data.find(sig)
        while pos >= 0:
            out.append(pos)
            pos = data.find(sig, pos + 1)
    return sorted(out)


# ----------------------------------------------------------------------------------------------------
# The property
# ----------------------------------------------------------------------------------------------------


def assert_safe_path(path: str) -> None:
    """Relative, no ``..`` (or ``.``/empty) component, no backslash, NUL or Windows drive."""
    assert not PurePosixPath(path).is_absolute(), path
    assert "\\" not in path and "\x00" not in path, path
    assert not re.match(r"[A-Za-z]:", path), path  # a Windows drive ("C:/x", or drive-relative "C:x")
    components = path.split("/")
    assert not {"..", ".", ""} & set(components), path


def assert_record_verified(wheel: Wheel) -> None:
    """An independent RECORD check: every entry but RECORD and signatures has a matching row, and no row dangles."""
    record_path = f"{wheel.dist_info}/RECORD"
    text = wheel.by_path[record_path].data.decode("utf-8")
    rows = {r[0]: r for r in csv.reader(io.StringIO(text, newline="")) if r}
    exempt = {record_path, f"{wheel.dist_info}/RECORD.jws", f"{wheel.dist_info}/RECORD.p7s"}
    for entry in wheel.entries:
        if entry.path in exempt:
            continue
        assert entry.path in rows, f"{entry.path} not in RECORD"
        _path, hash_, size = rows[entry.path]
        algorithm, _, expected = hash_.partition("=")
        digest = base64.urlsafe_b64encode(hashlib.new(algorithm, entry.data).digest()).rstrip(b"=").decode()
        assert digest == expected, f"{entry.path}: RECORD hash does not match"
        assert size in ("", str(len(entry.data))), f"{entry.path}: RECORD size does not match"
    for path in rows:
        assert path in wheel.by_path or path.endswith("/"), f"RECORD lists {path}, not in the archive"


def read_or_refuse(path: Path, data: bytes) -> Wheel | None:
    """The fuzzing property: BadWheel (one line) or a Wheel that is safe to rewrite; anything else fails."""
    path.write_bytes(data)
    try:
        wheel = read_wheel(path)
    except BadWheel as exc:
        assert "\n" not in str(exc) and str(exc).startswith(f"{NAME}: ")
        return None
    for entry in wheel.entries:
        assert_safe_path(entry.path)
    assert_record_verified(wheel)
    return wheel


# ----------------------------------------------------------------------------------------------------
# (1) arbitrary bytes
# ----------------------------------------------------------------------------------------------------

eocd_shaped = st.builds(
    lambda body, fields, comment: (
        b"PK\x03\x04" + body + b"PK\x05\x06" + fields + struct.pack("<H", len(comment)) + comment
    ),
    st.binary(max_size=512),
    st.binary(min_size=16, max_size=16),
    st.binary(max_size=8),
)
arbitrary_bytes = st.one_of(
    st.binary(max_size=2048),
    st.binary(max_size=2048).map(lambda b: b"PK\x03\x04" + b),
    eocd_shaped,
)


@FUZZ
@given(data=arbitrary_bytes)
@example(data=b"")
@example(data=b"PK")
@example(data=b"PK\x05\x06" + bytes(18))  # an empty zip
def test_arbitrary_bytes(wheel_path: Path, data: bytes) -> None:
    read_or_refuse(wheel_path, data)


# ----------------------------------------------------------------------------------------------------
# (2) mutations of a valid wheel
# ----------------------------------------------------------------------------------------------------

EDGE_VALUES = [0, 1, 2, 0x7F, 0xFF, 0x100, 0x7FFF, 0xFFFF, 0x10000, 0x7FFFFFFF, 0xFFFFFFFF]

offsets = st.integers(min_value=0, max_value=1 << 16)
operation = st.one_of(
    st.tuples(st.just("flip"), offsets, st.integers(min_value=1, max_value=255)),
    st.tuples(st.just("overwrite"), offsets, st.binary(min_size=1, max_size=8)),
    # a header field (record start + 0..45) set to an edge value, 2 or 4 bytes wide
    st.tuples(
        st.just("field"),
        st.integers(min_value=0, max_value=1000),
        st.integers(min_value=0, max_value=45),
        st.sampled_from(EDGE_VALUES),
        st.sampled_from([2, 4]),
    ),
    st.tuples(st.just("truncate"), offsets),
    st.tuples(st.just("splice"), offsets, st.integers(min_value=0, max_value=64), st.binary(max_size=64)),
    # a chunk of the archive copied elsewhere in it (duplicated headers, names, payloads)
    st.tuples(st.just("copy"), offsets, st.integers(min_value=1, max_value=128), offsets),
)


def apply(data: bytes, op: tuple[object, ...]) -> bytes:
    """One mutation; offsets wrap around the current length."""
    buf = bytearray(data)
    n = len(buf)
    if not n:
        return data
    match op:
        case ("flip", int(offset), int(xor)):
            buf[offset % n] ^= xor
        case ("overwrite", int(offset), bytes(chunk)):
            buf[offset % n : offset % n + len(chunk)] = chunk
        case ("field", int(which), int(field_offset), int(value), int(width)):
            starts = record_offsets(data) or [0]
            at = starts[which % len(starts)] + field_offset
            packed = value.to_bytes(8, "little")[:width]
            if at + width <= n:
                buf[at : at + width] = packed
        case ("truncate", int(offset)):
            del buf[offset % n :]
        case ("splice", int(offset), int(delete), bytes(insert)):
            buf[offset % n : offset % n + delete] = insert
        case ("copy", int(src), int(length), int(dst)):
            chunk = bytes(buf[src % n : src % n + length])
            buf[dst % n : dst % n] = chunk
        case _:
            raise AssertionError(f"unknown mutation {op!r}")
    return bytes(buf)


@FUZZ
@given(base=st.sampled_from(BASES), ops=st.lists(operation, min_size=1, max_size=4))
def test_mutated_wheel(wheel_path: Path, base: int, ops: list[tuple[object, ...]]) -> None:
    data = base_wheel(base)
    for op in ops:
        data = apply(data, op)
    read_or_refuse(wheel_path, data)


@pytest.mark.parametrize("base", BASES, ids=["deflated", "stored"])
def test_base_wheel_is_accepted(wheel_path: Path, base: int) -> None:
    """The mutation test means something only if the unmutated wheel is read fine."""
    wheel = read_or_refuse(wheel_path, base_wheel(base))
    assert wheel is not None
    assert "x/core.py" in wheel.by_path


# ----------------------------------------------------------------------------------------------------
# (3) random member names
# ----------------------------------------------------------------------------------------------------

name_alphabet = st.one_of(
    st.sampled_from(list("./\\:\x00aAz09-_ ,\"'\n")),
    st.sampled_from(["..", "../", "/..", "x:", "C:", "C:/", "\\\\", "./", "x-1.0.dist-info/", "x-1.0.data/"]),
    st.characters(codec="utf-8"),  # any code point a UTF-8 name can hold (no lone surrogates)
)
member_name = st.lists(name_alphabet, min_size=0, max_size=12).map("".join)
raw_member_name = st.binary(max_size=24)


def dist_info_members() -> list[tuple[str, bytes]]:
    return [
        (f"{DI}/METADATA", b"Metadata-Version: 2.1\nName: x\nVersion: 1.0\n"),
        (f"{DI}/WHEEL", b"Wheel-Version: 1.0\nGenerator: fuzz\nRoot-Is-Purelib: true\nTag: py3-none-any\n"),
    ]


def archive_with_names(names: list[str | bytes]) -> tuple[bytes, set[str]]:
    """A well-formed wheel whose payload members have ``names`` (stored raw), each listed in a correct RECORD.

    RECORD lists each name as zipfile shows it (decoded as UTF-8 for str, cp437 for bytes, cut at a NUL), so
    that only the name itself can make the reader refuse. Returns the archive and the full stored names.
    """
    decoded = [n if isinstance(n, str) else n.decode("cp437") for n in names]
    members = [(f"placeholder/{i}", f"content {i}\n".encode()) for i in range(len(names))]
    meta = dist_info_members()
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for name, (_, content) in zip(decoded, members, strict=True):
        writer.writerow([name.partition("\x00")[0], synth.record_hash(content), len(content)])
    for path, content in meta:
        writer.writerow([path, synth.record_hash(content), len(content)])
    writer.writerow([f"{DI}/RECORD", "", ""])
    data = synth.raw_zip_bytes([*members, *meta, (f"{DI}/RECORD", out.getvalue().encode("utf-8"))])
    for i, name in enumerate(names):
        data = synth.rename_entry(data, f"placeholder/{i}", name)
    return data, {*decoded, *(p for p, _ in meta), f"{DI}/RECORD"}


def check_names(wheel_path: Path, names: list[str | bytes]) -> None:
    data, stored = archive_with_names(names)
    wheel = read_or_refuse(wheel_path, data)
    if wheel is not None:
        # what the reader calls an entry is exactly a stored name (nothing cut at a NUL or rewritten)
        assert {e.path for e in wheel.entries} <= stored


@FUZZ
@given(names=st.lists(member_name, min_size=1, max_size=4))
@example(names=["x/ok.py", "x/ok.py\x00/../../evil"])
@example(names=["x/ok.py\x00../../evil"])
@example(names=["../evil.py"])
@example(names=["C:evil.py"])
@example(names=["x\\..\\..\\evil.py"])
@example(names=["x/ok.py"])
def test_random_member_names(wheel_path: Path, names: list[str]) -> None:
    check_names(wheel_path, list(names))


@FUZZ
@given(names=st.lists(raw_member_name, min_size=1, max_size=3))
def test_random_raw_member_names(wheel_path: Path, names: list[bytes]) -> None:
    check_names(wheel_path, list(names))


def test_plain_names_are_accepted(wheel_path: Path) -> None:
    """The name test means something only if ordinary names pass."""
    data, _ = archive_with_names(["x/__init__.py", "x/sub/mod.py", "x/ü.txt", "x/odd, name.txt"])
    wheel = read_or_refuse(wheel_path, data)
    assert wheel is not None
    assert "x/ü.txt" in wheel.by_path


# ----------------------------------------------------------------------------------------------------
# Regressions found by fuzzing
# ----------------------------------------------------------------------------------------------------


def test_regression_nul_in_member_name(wheel_path: Path) -> None:
    """zipfile cuts ``ZipInfo.filename`` at a NUL: ``x/ok.py\\0../../evil`` was accepted as ``x/ok.py``."""
    data, _ = archive_with_names(["x/ok.py\x00../../evil"])
    wheel_path.write_bytes(data)
    with pytest.raises(BadWheel, match="contains a NUL character"):
        read_wheel(wheel_path)


def test_regression_version_needed_too_high(wheel_path: Path) -> None:
    """A central header asking for zip version 25.5 made zipfile raise NotImplementedError, which escaped.

    Found by test_mutated_wheel: ``ops=[("field", 97, 4, 0x7FFFFFFF, 4)]`` on the deflated base wheel.
    """
    data = bytearray(base_wheel(zipfile.ZIP_DEFLATED))
    central = data.find(b"PK\x01\x02")
    data[central + 6 : central + 8] = (0xFF).to_bytes(2, "little")  # version needed to extract: 25.5
    wheel_path.write_bytes(bytes(data))
    with pytest.raises(BadWheel, match=r"zip file version 25\.5"):
        read_wheel(wheel_path)
