"""Issue 9: memory bounded by the stream, not by the wheel.

* Golden outputs: ``slimwheel shrink`` writes the same bytes and the same report as before the streaming rewrite —
  the rules-only cases of ``tests/test_golden.py`` were first recorded with the last commit before it.
* Big entries (over :data:`slimwheel.writer.LIBDEFLATE_MAX`) are deflated in zlib pieces that form one valid
  DEFLATE stream, whatever the number of threads.
* Members are read lazily: content stays in the archive or on disk, never all in memory.
"""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import pytest
import synth
from measured import MEASURED

from slimwheel import contents, writer
from slimwheel.archive import DiskFile, MemberContent
from slimwheel.contents import Entry, read_wheel
from slimwheel.errors import BadWheel
from slimwheel.writer import write_wheel

# ---- big entries: zlib pieces -------------------------------------------------------------------------------


def _noise(size: int, seed: int = 1) -> bytes:
    """Compressible but not trivially so: random words from a small vocabulary."""
    import random

    rng = random.Random(seed)
    words = [bytes(rng.randrange(97, 123) for _ in range(rng.randrange(2, 9))) for _ in range(500)]
    out = bytearray()
    while len(out) < size:
        out += b" ".join(rng.choices(words, k=1000)) + b"\n"
    return bytes(out[:size])


def _written(tmp_path: Path, name: str, entries: list[Entry], jobs: int) -> Path:
    dest = tmp_path / name
    write_wheel(entries, "demo-1.0.dist-info", dest, jobs=jobs)
    return dest


@pytest.mark.parametrize("size", [3 * 2**20, 3 * 2**20 + 1, 4 * 2**20])
def test_big_entries_form_one_valid_deflate_stream(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: int) -> None:
    monkeypatch.setattr(writer, "LIBDEFLATE_MAX", 2**20)
    monkeypatch.setattr(writer, "ZLIB_PIECE", 2**20)
    big, small = _noise(size), _noise(5000, seed=2)
    entries = [
        Entry("demo/big.bin", big),
        Entry("demo/small.txt", small),
        Entry("demo-1.0.dist-info/METADATA", b"Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n"),
    ]
    one = _written(tmp_path, "one.whl", entries, jobs=1)
    four = _written(tmp_path, "four.whl", entries, jobs=4)
    assert one.read_bytes() == four.read_bytes()  # pieces are fixed by the content, never by the threads
    with zipfile.ZipFile(one) as zf:
        assert zf.testzip() is None  # CRC-32 of every member
        info = zf.getinfo("demo/big.bin")
        assert zf.read(info) == big
        payload_start = info.header_offset + 30 + len(info.filename)
        payload = one.read_bytes()[payload_start : payload_start + info.compress_size]
    inflater = zlib.decompressobj(-15)
    assert inflater.decompress(payload) == big and inflater.eof and not inflater.unused_data  # one stream, ended
    # the pieces cost little against one zlib call at the same level (6 for the default 9)
    assert info.compress_size < 1.01 * (len(zlib.compress(big, 6)) - 6) + 100


def test_entries_up_to_the_bound_use_one_libdeflate_call(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = _noise(2**20)
    monkeypatch.setattr(writer, "LIBDEFLATE_MAX", 2**20)
    at_bound = _written(tmp_path, "a.whl", [Entry("demo/x.bin", data)], jobs=2)
    with zipfile.ZipFile(at_bound) as zf:
        assert zf.getinfo("demo/x.bin").compress_size == len(writer._deflate(data, 9))
    monkeypatch.setattr(writer, "LIBDEFLATE_MAX", 2**20 - 1)
    over = _written(tmp_path, "b.whl", [Entry("demo/x.bin", data)], jobs=2)
    with zipfile.ZipFile(over) as zf:
        assert zf.read("demo/x.bin") == data
        assert zf.getinfo("demo/x.bin").compress_size != len(writer._deflate(data, 9))


# ---- lazy reading -------------------------------------------------------------------------------------------


def test_members_stay_in_the_archive_or_on_disk(tmp_path: Path) -> None:
    built = synth.demo_wheel(tmp_path).build(tmp_path / "in")
    reference = {i.filename: zipfile.ZipFile(built).read(i) for i in zipfile.ZipFile(built).infolist()}
    work = tmp_path / "work"
    work.mkdir()
    wheel = read_wheel(built, workdir=work, extract=lambda path, head: head.startswith(b"\x7fELF"))
    try:
        kinds = {e.path: type(e.content).__name__ for e in wheel.entries}
        assert {k for p, k in kinds.items() if p.endswith(".so")} == {"DiskFile"}
        assert {k for p, k in kinds.items() if p.startswith("demo/") and not p.endswith(".so")} == {"MemberContent"}
        assert {k for p, k in kinds.items() if p.startswith(wheel.dist_info)} == {"Memory"}
        for entry in wheel.entries:
            assert entry.data == reference[entry.path]
            assert entry.head(4) == reference[entry.path][:4]
        extracted = [e.file for e in wheel.entries if isinstance(e.content, DiskFile)]
        assert extracted and all(f is not None and f.parent == work for f in extracted)
    finally:
        wheel.close()


def test_big_members_read_beside_the_rest_keep_archive_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    built = synth.demo_wheel(tmp_path).build(tmp_path / "in")
    sequential = read_wheel(built)
    monkeypatch.setattr(contents, "PARALLEL_READ", 64)  # most members now go to the worker threads
    parallel = read_wheel(built)
    try:
        assert [e.path for e in parallel.entries] == [e.path for e in sequential.entries]
        assert [(e.digests(), e.mode, e.head(), e.data) for e in parallel.entries] == [
            (e.digests(), e.mode, e.head(), e.data) for e in sequential.entries
        ]
    finally:
        sequential.close()
        parallel.close()


@pytest.mark.parametrize("parallel", [True, False], ids=["parallel", "sequential"])
def test_the_first_corrupt_member_in_archive_order_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, parallel: bool
) -> None:
    built = synth.demo_wheel(tmp_path, with_extension=False).build(tmp_path / "in")
    infos = zipfile.ZipFile(built).infolist()
    # An early member read on this thread, a later, bigger one on a worker thread: both corrupt.
    small, big = next((a, b) for a, b in itertools.pairwise(infos) if b.file_size > a.file_size)
    blob = synth.corrupt_data(synth.corrupt_data(built.read_bytes(), big.filename), small.filename)
    built.write_bytes(blob)
    monkeypatch.setattr(contents, "PARALLEL_READ", small.file_size if parallel else 1 << 30)
    with pytest.raises(BadWheel, match=re.escape(repr(small.filename))):
        read_wheel(built)


def test_a_member_changed_after_reading_is_refused(tmp_path: Path) -> None:
    built = synth.demo_wheel(tmp_path, with_extension=False).build(tmp_path / "in")
    wheel = read_wheel(built)
    try:
        entry = wheel.by_path["demo/core.py"]
        assert isinstance(entry.content, MemberContent)
        blob = bytearray(built.read_bytes())
        m = entry.content.member
        blob[m.data_offset] ^= 0xFF
        built.write_bytes(bytes(blob))
        with pytest.raises(BadWheel):
            _ = entry.data
        with pytest.raises(BadWheel, match="changed on disk"):
            write_wheel(list(wheel.entries), wheel.dist_info, tmp_path / "out.whl")
    finally:
        wheel.close()


def test_a_big_member_is_never_held_in_memory(tmp_path: Path) -> None:
    """A wheel with a 160 MiB library (stored, so the input is quick to make): inspect and shrink stay far below
    what holding it would cost (the interpreter and imports alone take ~60 MiB)."""
    lib = synth.compile_shared_lib(tmp_path / "lib").read_bytes()
    block = os.urandom(2**20)
    path = tmp_path / "big.so"
    with path.open("wb") as fh:
        fh.write(lib)
        for _ in range(160):
            fh.write(block)
    wheel = synth.SynthWheel(name="big", version="1.0", tag=synth.native_tag(), purelib=False)
    wheel.files = {"big/__init__.py": b"", "big/libbig.so": path.read_bytes()}
    built = wheel.build(tmp_path / "in", compression=zipfile.ZIP_STORED)
    del wheel
    for args in (["inspect", built], ["shrink", built, "-w", tmp_path / "out", "--compress-level", "1"]):
        proc = subprocess.run(
            [sys.executable, "-c", MEASURED, *map(str, args)], cwd=tmp_path, capture_output=True, text=True, check=False
        )
        assert proc.returncode == 0, proc.stderr
        maxrss = int(proc.stderr.split("MAXRSS_KIB ")[-1].split()[0]) * 1024
        assert maxrss < 140 * 2**20, f"{args[0]}: peak RSS {maxrss / 2**20:.0f} MiB"
    with zipfile.ZipFile(tmp_path / "out" / built.name) as zf:
        assert zf.testzip() is None
        assert zf.getinfo("big/libbig.so").file_size <= path.stat().st_size
