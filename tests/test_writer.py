"""The writer: canonical order, fresh RECORD, reproducible bytes, timestamps, modes, ZIP64, atomic output."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from slimwheel import writer
from slimwheel.contents import Entry, RawDeflate, read_wheel
from slimwheel.records import digest, parse_record
from slimwheel.writer import canonical_members, write_wheel

DI = "demo-1.0.dist-info"
META = [
    Entry(f"{DI}/METADATA", b"Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n"),
    Entry(f"{DI}/WHEEL", b"Wheel-Version: 1.0\nGenerator: t\nRoot-Is-Purelib: true\nTag: py3-none-any\n"),
]


def entries(extra: list[Entry] | None = None) -> list[Entry]:
    return [
        Entry("demo/z.py", b"z = 1\n"),
        Entry("demo/a.py", b"a = 1\n"),
        *META,
        Entry(f"{DI}/RECORD", b"stale,,\n"),
        Entry(f"{DI}/RECORD.jws", b"signature"),
        Entry("demo/tool.sh", b"#!/bin/sh\n", 0o755),
        *(extra or []),
    ]


def unpack_ok(path: Path, tmp: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "wheel", "unpack", "-d", str(tmp / "unpacked"), str(path)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr


def test_canonical_members_order_and_fresh_record() -> None:
    members = canonical_members(entries(), DI)
    paths = [m.path for m in members]
    assert paths == [
        "demo/a.py",
        "demo/tool.sh",
        "demo/z.py",
        f"{DI}/METADATA",
        f"{DI}/WHEEL",
        f"{DI}/RECORD",
    ]
    rows = parse_record(members[-1].data.decode())
    assert [r.path for r in rows] == paths
    assert rows[-1].hash is None and rows[-1].size is None
    for row, member in zip(rows[:-1], members[:-1], strict=True):
        assert row.hash == digest(member.data) and row.size == len(member.data)


def test_written_wheel_is_valid_and_reproducible(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    a = write_wheel(entries(), DI, tmp_path / "demo-1.0-py3-none-any.whl")
    (tmp_path / "b").mkdir()
    b = write_wheel(entries(), DI, tmp_path / "b" / "demo-1.0-py3-none-any.whl", jobs=1)
    assert a.path and b.path
    assert a.path.read_bytes() == b.path.read_bytes()
    assert a.size == a.path.stat().st_size
    with zipfile.ZipFile(a.path) as zf:
        infos = zf.infolist()
        assert zf.testzip() is None
    assert all(not i.is_dir() for i in infos)
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
    assert all(i.compress_type == zipfile.ZIP_DEFLATED for i in infos)
    modes = {i.filename: (i.external_attr >> 16) & 0o777 for i in infos}
    assert modes["demo/tool.sh"] == 0o755 and modes["demo/a.py"] == 0o644
    assert f"{DI}/RECORD.jws" not in modes  # a signature over the old RECORD is dropped
    read_wheel(a.path)  # our own strict reader accepts it, RECORD included
    unpack_ok(a.path, tmp_path)


def test_source_date_epoch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")  # 2023-11-14 22:13:20 UTC
    w = write_wheel(entries(), DI, tmp_path / "demo-1.0-py3-none-any.whl")
    assert w.path
    with zipfile.ZipFile(w.path) as zf:
        assert {i.date_time for i in zf.infolist()} == {(2023, 11, 14, 22, 13, 20)}
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "0")  # zip can't store dates before 1980: clamped
    w = write_wheel(entries(), DI, tmp_path / "demo-1.0-py3-none-any.whl")
    with zipfile.ZipFile(tmp_path / "demo-1.0-py3-none-any.whl") as zf:
        assert {i.date_time for i in zf.infolist()} == {(1980, 1, 1, 0, 0, 0)}


def test_output_is_identical_for_any_thread_count(tmp_path: Path) -> None:
    rng = random.Random(7)
    words = [bytes(rng.choices(b"abcdefghij", k=8)) for _ in range(500)]
    big = b" ".join(rng.choice(words) for _ in range(1_200_000))  # ~10 MB, compressible
    many = [Entry(f"demo/m{i}.txt", big[i * 1000 : i * 1000 + 5000]) for i in range(50)]
    outs = []
    for jobs in (1, 2, 4):
        d = tmp_path / str(jobs)
        d.mkdir()
        w = write_wheel(entries([Entry("demo/big.txt", big), *many]), DI, d / "demo-1.0-py3-none-any.whl", jobs=jobs)
        assert w.path
        outs.append(w.path.read_bytes())
    assert outs[0] == outs[1] == outs[2]
    with zipfile.ZipFile(tmp_path / "1" / "demo-1.0-py3-none-any.whl") as zf:
        assert zf.read("demo/big.txt") == big
        info = zf.getinfo("demo/big.txt")
        assert info.compress_size < len(big) // 2


def test_unchanged_deflate_payload_is_copied_not_recompressed(tmp_path: Path) -> None:
    import zlib

    data = b"hello " * 1000
    comp = zlib.compressobj(1, zlib.DEFLATED, -15)
    payload = comp.compress(data) + comp.flush()
    raw = Entry("demo/copied.txt", data, 0o644, RawDeflate(payload, zlib.crc32(data)))
    w = write_wheel(entries([raw]), DI, tmp_path / "demo-1.0-py3-none-any.whl", compress_level=9)
    assert w.compressed_sizes["demo/copied.txt"] == len(payload)
    changed = write_wheel(entries([raw.with_data(data)]), DI, None, compress_level=9)
    assert changed.compressed_sizes["demo/copied.txt"] < len(payload)  # level 9 beats level 1 when recompressed
    smallest = write_wheel(entries([raw.with_data(data)]), DI, None, compress_level=12)
    assert smallest.compressed_sizes["demo/copied.txt"] <= changed.compressed_sizes["demo/copied.txt"]
    assert changed.path is None and changed.size > 0
    # --recompress: the unchanged entry is compressed again at the level asked for, and reads back the same
    (tmp_path / "re").mkdir()
    again = write_wheel(
        entries([raw]), DI, tmp_path / "re" / "demo-1.0-py3-none-any.whl", compress_level=9, recompress=True
    )
    assert again is not None and again.path is not None
    assert again.compressed_sizes["demo/copied.txt"] == changed.compressed_sizes["demo/copied.txt"]
    with zipfile.ZipFile(again.path) as zf:
        assert zf.read("demo/copied.txt") == data
    unpack_ok(again.path, tmp_path)


def test_zip64_structures_are_valid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Force ZIP64 on small data (a 4 GiB test would be too slow): sizes, offsets and the entry count."""
    monkeypatch.setattr(writer, "ZIP64_LIMIT", 200)
    monkeypatch.setattr(writer, "ZIP64_COUNT", 4)
    payload = [Entry(f"demo/m{i}.py", (f"x = {i}\n" * 100).encode()) for i in range(6)]
    w = write_wheel(entries(payload), DI, tmp_path / "demo-1.0-py3-none-any.whl")
    assert w.path
    blob = w.path.read_bytes()
    assert b"PK\x06\x06" in blob and b"PK\x06\x07" in blob  # ZIP64 end record and locator
    with zipfile.ZipFile(w.path) as zf:
        assert zf.testzip() is None
        assert len(zf.infolist()) == len(canonical_members(entries(payload), DI))
        assert zf.read("demo/m5.py") == payload[5].data
    read_wheel(w.path)
    unpack_ok(w.path, tmp_path)


def test_many_entries_need_zip64_count(tmp_path: Path) -> None:
    many = [Entry(f"demo/d{i // 1000}/f{i}.py", b"") for i in range(70_000)]
    w = write_wheel(entries(many), DI, tmp_path / "demo-1.0-py3-none-any.whl", compress_level=1)
    assert w.path
    with zipfile.ZipFile(w.path) as zf:
        assert len(zf.infolist()) == 70_000 + 6
    assert len(read_wheel(w.path).entries) == 70_006


def test_failure_leaves_nothing_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dest = tmp_path / "demo-1.0-py3-none-any.whl"
    dest.write_bytes(b"previous output")

    def boom(*args: object) -> bytes:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(writer, "_deflate", boom)
    with pytest.raises(RuntimeError):
        write_wheel(entries(), DI, dest)
    assert dest.read_bytes() == b"previous output"  # the old file is intact, not half-replaced
    assert sorted(os.listdir(tmp_path)) == [dest.name]  # no temp file left


def test_non_ascii_and_comma_names_round_trip(tmp_path: Path) -> None:
    odd = [Entry("demo/odd, name.txt", b"comma"), Entry("demo/données/ñ.txt", b"accent")]
    w = write_wheel(entries(odd), DI, tmp_path / "demo-1.0-py3-none-any.whl")
    assert w.path
    wheel = read_wheel(w.path)
    assert wheel.by_path["demo/données/ñ.txt"].data == b"accent"
    assert wheel.by_path["demo/odd, name.txt"].data == b"comma"
    unpack_ok(w.path, tmp_path)
    assert (tmp_path / "unpacked" / "demo-1.0" / "demo" / "odd, name.txt").read_bytes() == b"comma"


def test_record_gives_an_empty_file_its_size_zero(tmp_path: Path) -> None:
    # An empty field would mean "size unknown": the wheel spec's RECORD has the size of every file, 0 included.
    w = write_wheel(entries([Entry("demo/empty.txt", b"")]), DI, tmp_path / "demo-1.0-py3-none-any.whl")
    assert w.path
    with zipfile.ZipFile(w.path) as zf:
        lines = zf.read(f"{DI}/RECORD").decode().splitlines()
    assert "demo/empty.txt,sha256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU,0" in lines
    assert lines[-1] == f"{DI}/RECORD,,"
    assert all(line.rsplit(",", 1)[1].isdigit() for line in lines[:-1]), lines  # every file has a size
