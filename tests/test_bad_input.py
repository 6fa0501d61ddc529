"""Hostile and broken inputs: the reader refuses each with one clear line, and the CLI exits 2 and writes nothing.

Every case in :data:`CASES` is checked twice: through :func:`slimwheel.contents.read_wheel` (a one-line
:class:`BadWheel` naming the problem) and through a real ``python -m slimwheel shrink`` subprocess (exit code 2,
exactly one ``slimwheel: error:`` line on stderr, no traceback, the input's bytes unchanged and no file written
anywhere). Archive members with hostile paths carry :data:`TOKEN` in their name, so that any file an extraction
bug would leave behind can be searched for by name.
"""

from __future__ import annotations

import copy
import csv
import hashlib
import io
import os
import random
import re
import struct
import subprocess
import sys
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import synth
from synth import SynthWheel

from slimwheel.contents import Limits, read_wheel
from slimwheel.errors import BadWheel

TOKEN = "slimwheel_pwned"
MB = 1_000_000  # what the CLI's "1MB" means (decimal units)
DI = "demo-1.0.dist-info"
DATA = "demo-1.0.data"


# ----------------------------------------------------------------------------------------------------
# Building inputs
# ----------------------------------------------------------------------------------------------------


def small_wheel(**overrides: Any) -> SynthWheel:
    """A valid pure-Python ``demo`` 1.0 wheel with two modules (``overrides``: SynthWheel fields)."""
    files = {"demo/__init__.py": b"from demo.core import add\n", "demo/core.py": b"def add(a, b):\n    return a + b\n"}
    return replace(SynthWheel(name="demo", version="1.0", files=files), **overrides)


def good_bytes(tmp: Path, **overrides: Any) -> bytes:
    return small_wheel(**overrides).build(tmp / "build").read_bytes()


def write(dest: Path, data: bytes) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(data)
    return dest


WHEEL_NAME = "demo-1.0-py3-none-any.whl"

Maker = Callable[[Path], Path]


def patched(patch: Callable[[bytes], bytes], *, name: str = WHEEL_NAME, **overrides: Any) -> Maker:
    """A maker: build the small wheel (in a scratch dir), pass its bytes through ``patch``, write ``dir/name``."""

    def make(dest: Path) -> Path:
        return write(dest / name, patch(good_bytes(dest.parent / "scratch", **overrides)))

    return make


def mutated(mutate: Callable[[list[synth.Entry]], list[synth.Entry]], **overrides: Any) -> Maker:
    """A maker: build the small wheel with a ``mutate`` hook over its final (path, data, mode) member list."""

    def make(dest: Path) -> Path:
        return small_wheel(**overrides).build(dest, mutate=mutate)

    return make


def with_files(extra: dict[str, bytes], *, compression: int = zipfile.ZIP_DEFLATED) -> Maker:
    """A maker: the small wheel plus ``extra`` files (listed in RECORD with correct hashes)."""

    def make(dest: Path) -> Path:
        wheel = small_wheel()
        wheel.files = {**wheel.files, **extra}
        return wheel.build(dest, compression=compression)

    return make


def drop(path: str) -> Callable[[list[synth.Entry]], list[synth.Entry]]:
    return lambda entries: [e for e in entries if e[0] != path]


def replace_content(path: str, data: bytes) -> Callable[[list[synth.Entry]], list[synth.Entry]]:
    """Change a member after RECORD was computed."""
    return lambda entries: [(p, data if p == path else d, m) for p, d, m in entries]


def edit_record(edit: Callable[[list[list[str]]], list[list[str]]]) -> Callable[[list[synth.Entry]], list[synth.Entry]]:
    def mutate(entries: list[synth.Entry]) -> list[synth.Entry]:
        out = []
        for p, d, m in entries:
            if p == f"{DI}/RECORD":
                rows = [r for r in csv.reader(io.StringIO(d.decode())) if r]
                buf = io.StringIO()
                csv.writer(buf, lineterminator="\n").writerows(edit(rows))
                d = buf.getvalue().encode()
            out.append((p, d, m))
        return out

    return mutate


def set_size_field(path: str, size: str) -> Callable[[list[list[str]]], list[list[str]]]:
    return lambda rows: [[r[0], r[1], size] if r[0] == path else r for r in rows]


def raw_text(dest: Path, name: str, text: str) -> Path:
    return write(dest / name, text.encode())


def renamed(name: str) -> Maker:
    """The valid small wheel saved under another file name."""
    return patched(lambda b: b, name=name)


def truncated(n: int) -> Maker:
    """The first ``n`` bytes (negative: all but the last ``-n``)."""
    return patched(lambda b: synth.truncate(b, n))


def random_bytes(dest: Path) -> Path:
    data = random.Random(1234).randbytes(4096)
    return write(dest / WHEEL_NAME, b"\x00" + data)  # never starts with "PK"


def stored_corrupt(dest: Path) -> Path:
    stored = small_wheel().build(dest.parent / "scratch", compression=zipfile.ZIP_STORED).read_bytes()
    return write(dest / WHEEL_NAME, synth.corrupt_data(stored, "demo/core.py", at=3))


def deflated_corrupt(dest: Path) -> Path:
    return write(dest / WHEEL_NAME, synth.corrupt_data(good_bytes(dest.parent / "scratch"), "demo/core.py", at=2))


def version_needed(value: int) -> Callable[[bytes], bytes]:
    """Set "version needed to extract" in the first central directory header."""

    def patch(data: bytes) -> bytes:
        at = data.find(b"PK\x01\x02") + 6
        return data[:at] + value.to_bytes(2, "little") + data[at + 2 :]

    return patch


def local_header(name: bytes, data: bytes) -> bytes:
    """A STORED local file header for ``name`` followed by ``data``."""
    head = struct.pack(
        "<IHHHHHIIIHH", 0x04034B50, 20, 0, 0, 0, 0x21, zlib.crc32(data), len(data), len(data), len(name), 0
    )
    return head + name + data


def nested_overlap(dest: Path) -> Path:
    """A STORED member whose content is itself a complete member, listed a second time in the central directory."""
    inner_name, inner = b"demo/inner.py", b"print('inner')\n"
    wheel = small_wheel()
    wheel.files = {**wheel.files, "demo/outer.bin": local_header(inner_name, inner)}
    layout = synth.parse_zip(wheel.build(dest.parent / "scratch", compression=zipfile.ZIP_STORED).read_bytes())
    outer = layout.find("demo/outer.bin")
    assert outer.local is not None
    inner_entry = copy.deepcopy(outer)
    inner_entry.local = None  # keep the hand-set offset when packing
    inner_entry.name = inner_name
    inner_entry.crc = zlib.crc32(inner)
    inner_entry.compressed_size = inner_entry.uncompressed_size = len(inner)
    inner_entry.local_offset = outer.local_offset + 30 + len(outer.local.name) + len(outer.local.extra)
    layout.central.append(inner_entry)  # central entries follow all local headers: no offset moves
    return write(dest / WHEEL_NAME, layout.pack())


def shared_local_header(rename: bool) -> Maker:
    """Two central entries pointing at one local header (the second one optionally under another name)."""

    def make(dest: Path) -> Path:
        layout = synth.parse_zip(good_bytes(dest.parent / "scratch"))
        second = copy.copy(layout.find("demo/core.py"))  # shallow: shares the LocalHeader object
        if rename:
            second.name = b"demo/other.py"
        layout.central.append(second)
        return write(dest / WHEEL_NAME, layout.pack())

    return make


def zeros_bomb(dest: Path) -> Path:
    """A 50 MB entry of zeros, which deflates to about 50 KB: over the default 1000:1 ratio limit."""
    return with_files({"demo/zeros.bin": bytes(50 * 1024 * 1024)})(dest)


def incompressible(n: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(n)


def make_dir_input(dest: Path) -> Path:
    path = dest / WHEEL_NAME
    path.mkdir(parents=True)
    (path / "inside.txt").write_text("a directory, not a wheel\n")
    return path


def nonexistent(dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    return dest / WHEEL_NAME


def with_nul_name(dest: Path) -> Path:
    """A member whose stored name has a NUL: zipfile cuts the name there, so the reader must look at the raw name."""
    data = synth.rename_entry(
        good_bytes(dest.parent / "scratch"), "demo/core.py", f"demo/core.py\x00/../../{TOKEN}_nul"
    )
    return write(dest / WHEEL_NAME, data)


def with_backslash_traversal(dest: Path) -> Path:
    return with_files({f"..\\..\\{TOKEN}_bs_dotdot.py": b"x = 1\n"})(dest)


# ----------------------------------------------------------------------------------------------------
# The cases
# ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    id: str
    make: Maker  # builds the input inside the given directory and returns its path
    expect: str  # a regular expression the one-line message must contain
    limits: Limits | None = None  # for read_wheel; the CLI gets ``cli_args``
    cli_args: tuple[str, ...] = ()
    hostile: bool = False  # an archive path that must never turn into a file


ONE_MB_LIMITS = Limits(max_total_size=MB, max_entry_size=MB)  # what --max-unpacked-size 1MB sets

CASES: list[Case] = [
    # not a zip
    Case("not-zip-random-bytes", random_bytes, "not a zip archive"),
    Case("not-zip-text-file", lambda d: raw_text(d, WHEEL_NAME, "just some text\nnot a wheel\n"), "not a zip archive"),
    Case("not-zip-empty-file", lambda d: write(d / WHEEL_NAME, b""), "not a zip archive"),
    # truncated (a cut download)
    *(Case(f"truncated-keep-first-{n}", truncated(n), "truncated") for n in (4, 30, 200)),
    *(Case(f"truncated-drop-last-{n}", truncated(-n), "truncated") for n in (23, 10, 1)),
    Case("truncated-at-half", patched(lambda b: b[: len(b) // 2]), "truncated"),
    # corrupt payload
    Case("crc-fails-stored", stored_corrupt, "fails its CRC check"),
    Case("corrupt-deflate-payload", deflated_corrupt, r"corrupt|CRC|declared size"),
    # file name
    Case("filename-foo.zip", renamed("foo.zip"), "not a valid wheel file name"),
    Case("filename-foo-1.0.whl", renamed("foo-1.0.whl"), "not a valid wheel file name"),
    Case("filename-no-platform-tag", renamed("foo-1.0-py3-none.whl"), "not a valid wheel file name"),
    # dist-info layout
    Case(
        "missing-dist-info",
        lambda d: synth.raw_zip(d / WHEEL_NAME, [("demo/__init__.py", b"x = 1\n")]),
        r"has no \.dist-info directory",
    ),
    Case(
        "two-dist-info-dirs",
        with_files({"other-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: other\nVersion: 1.0\n"}),
        r"several \.dist-info directories",
    ),
    Case("dist-info-version-not-file-name", renamed("demo-2.0-py3-none-any.whl"), "does not match the file name"),
    Case("dist-info-name-not-file-name", renamed("other-1.0-py3-none-any.whl"), "does not match the file name"),
    *(Case(f"missing-{f}", mutated(drop(f"{DI}/{f}")), rf"{DI}/{f} is missing") for f in ("METADATA", "WHEEL")),
    Case("missing-RECORD", lambda d: small_wheel().build(d, record=False), rf"{DI}/RECORD is missing"),
    # WHEEL and METADATA contents
    Case(
        "wheel-version-2",
        with_files({f"{DI}/WHEEL": b"Wheel-Version: 2.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}),
        "unsupported Wheel-Version '2.0'",
    ),
    Case(
        "wheel-version-missing",
        with_files({f"{DI}/WHEEL": b"Root-Is-Purelib: true\nTag: py3-none-any\n"}),
        "unsupported Wheel-Version ''",
    ),
    Case(
        "wheel-root-is-purelib-missing",
        with_files({f"{DI}/WHEEL": b"Wheel-Version: 1.0\nTag: py3-none-any\n"}),
        "no valid Root-Is-Purelib",
    ),
    Case(
        "metadata-name-mismatch",
        with_files({f"{DI}/METADATA": b"Metadata-Version: 2.1\nName: other\nVersion: 1.0\n"}),
        "METADATA says other 1.0",
    ),
    Case(
        "metadata-version-mismatch",
        with_files({f"{DI}/METADATA": b"Metadata-Version: 2.1\nName: demo\nVersion: 1.1\n"}),
        "METADATA says demo 1.1",
    ),
    # the file name against WHEEL's Tag lines (a renamed wheel)
    Case(
        "renamed-to-another-platform",
        renamed("demo-1.0-cp312-cp312-win_amd64.whl"),
        rf"the file name says tags cp312-cp312-win_amd64 but {DI}/WHEEL lists py3-none-any \(a renamed wheel\?\)",
    ),
    Case(
        "wheel-tag-lines-missing",
        with_files({f"{DI}/WHEEL": b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\n"}),
        rf"the file name says tags py3-none-any but {DI}/WHEEL lists no tags",
    ),
    Case(
        "wheel-tag-line-extra",
        with_files(
            {f"{DI}/WHEEL": b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\nTag: py2-none-any\n"}
        ),
        rf"{DI}/WHEEL lists py2-none-any, py3-none-any",
    ),
    Case(
        "wheel-tag-line-invalid",
        with_files({f"{DI}/WHEEL": b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none\n"}),
        rf"{DI}/WHEEL has an invalid Tag line 'py3-none'",
    ),
    # RECORD
    Case(
        "record-hash-mismatch",
        mutated(replace_content("demo/core.py", b"def add(a, b):\n    return a - b\n")),
        "'demo/core.py' content does not match its RECORD hash",
    ),
    Case(
        "record-size-mismatch",
        mutated(edit_record(set_size_field("demo/core.py", "999"))),
        "'demo/core.py' is 32 bytes but RECORD says 999",
    ),
    Case(
        "record-missing-file",
        mutated(edit_record(lambda rows: [r for r in rows if r[0] != "demo/core.py"])),
        "'demo/core.py' is not listed in RECORD",
    ),
    Case("record-lists-absent-file", mutated(drop("demo/core.py")), "RECORD lists 'demo/core.py', which is not in"),
    Case(
        "record-row-two-fields",
        mutated(edit_record(lambda rows: [r[:2] if r[0] == "demo/core.py" else r for r in rows])),
        r"RECORD line \d+ has 2 fields, expected 3",
    ),
    Case(
        "record-row-bad-hash",
        mutated(edit_record(lambda rows: [[r[0], "nohash", r[2]] if r[0] == "demo/core.py" else r for r in rows])),
        "malformed hash 'nohash'",
    ),
    Case(
        # regression: "²".isdigit() is true but int("²") raises ValueError, which escaped read_wheel
        "record-row-superscript-size",
        mutated(edit_record(set_size_field("demo/core.py", "²"))),
        rf"{DI}/RECORD: .*'²'",
    ),
    # hostile archive paths
    Case("path-dotdot", with_files({f"../../{TOKEN}_dotdot.py": b"x = 1\n"}), "contains '..'", hostile=True),
    Case(
        "path-dotdot-inside",
        with_files({f"demo/../../{TOKEN}_inner.py": b"x = 1\n"}),
        "contains '..'",
        hostile=True,
    ),
    Case("path-absolute", with_files({f"/etc/{TOKEN}_abs": b"x\n"}), "is an absolute path", hostile=True),
    Case("path-drive-letter-slash", with_files({f"C:/{TOKEN}_drive": b"x\n"}), "drive letter", hostile=True),
    Case("path-drive-letter-relative", with_files({f"C:{TOKEN}_drive_rel": b"x\n"}), "drive letter", hostile=True),
    Case("path-backslash", with_files({f"a\\{TOKEN}_bs.py": b"x = 1\n"}), "contains a backslash", hostile=True),
    Case("path-backslash-dotdot", with_backslash_traversal, "contains a backslash", hostile=True),
    # regression: zipfile cuts a name at NUL, so the reader's NUL check never fired and the member was accepted
    Case("path-nul-byte", with_nul_name, "contains a NUL character", hostile=True),
    Case(
        "duplicate-names", patched(lambda b: synth.duplicate_entry(b, "demo/core.py")), "duplicate entry 'demo/core.py'"
    ),
    Case(
        "local-header-name-differs",
        patched(lambda b: synth.set_local_name(b, "demo/core.py", f"demo/{TOKEN}_local.py")),
        "local header name disagrees with the central directory",
        hostile=True,
    ),
    Case(
        "symlink-entry",
        patched(lambda b: synth.make_symlink(b, "demo/core.py", target=b"../../../etc/passwd")),
        "'demo/core.py' is a symbolic link",
    ),
    Case("encrypted-flag", patched(lambda b: synth.set_flag_bits(b, "demo/core.py", 0x1)), "is encrypted"),
    Case(
        "compression-lzma",
        patched(lambda b: synth.set_method(b, "demo/core.py", zipfile.ZIP_LZMA)),
        "unsupported compression method 14",
    ),
    Case(
        "compression-unknown-99",
        patched(lambda b: synth.set_method(b, "demo/core.py", 99)),
        "unsupported compression method 99",
    ),
    # zip bombs
    Case(
        "bomb-declared-smaller-than-inflated",
        lambda d: write(
            d / WHEEL_NAME,
            synth.set_declared_size(
                good_bytes(d.parent / "scratch", files={"demo/__init__.py": b"", "demo/big.txt": bytes(100_000)}),
                "demo/big.txt",
                1000,
            ),
        ),
        "inflates to more than its declared size",
    ),
    Case(
        "bomb-declared-huge-entry",
        patched(lambda b: synth.set_declared_size(b, "demo/core.py", 3 * 1024**3)),
        r"declares 3221225472 bytes, over the entry limit",
        limits=ONE_MB_LIMITS,
        cli_args=("--max-unpacked-size", "1MB"),
    ),
    Case(
        "bomb-declared-huge-default-limits",
        patched(lambda b: synth.set_declared_size(b, "demo/core.py", 3 * 1024**3)),
        r"over the ratio limit of 1000:1",
    ),
    Case(
        "bomb-total-over-limit",
        with_files({"demo/a.bin": incompressible(700_000, 1), "demo/b.bin": incompressible(700_000, 2)}),
        rf"declares more than {MB} uncompressed bytes",
        limits=ONE_MB_LIMITS,
        cli_args=("--max-unpacked-size", "1MB"),
    ),
    Case("bomb-ratio-50MB-zeros", zeros_bomb, r"'demo/zeros\.bin' compresses \d+:1, over the ratio limit"),
    Case("overlap-nested-member", nested_overlap, "overlap"),
    Case("overlap-shared-local-header", shared_local_header(rename=False), "duplicate entry 'demo/core.py'"),
    Case(
        "overlap-shared-local-header-renamed",
        shared_local_header(rename=True),
        "local header name disagrees with the central directory",
    ),
    # archive framing
    # regression (found by fuzzing): zipfile raised NotImplementedError for "version needed" above 6.3
    Case(
        "zip-version-needed-25.5", patched(version_needed(0xFF)), r"unsupported zip feature \(zip file version 25\.5\)"
    ),
    Case("file-and-directory", with_files({"demo/core.py/inner.py": b"x = 1\n"}), "'demo/core.py' is both a file and"),
    Case("trailing-data", patched(lambda b: synth.append_trailing(b, b"junk after the archive")), "trailing data"),
    Case(
        "data-dir-unknown-scheme",
        with_files({f"{DATA}/bogus/thing.txt": b"x\n"}),
        rf"'{DATA}/bogus/thing\.txt' is not under a known \.data scheme",
    ),
    # not a file
    Case("input-does-not-exist", nonexistent, "can't be read: No such file or directory"),
    Case("input-is-a-directory", make_dir_input, "is a directory, not a wheel file"),
]

CASE_PARAMS = [pytest.param(c, id=c.id) for c in CASES]


# ----------------------------------------------------------------------------------------------------
# Helpers for the CLI checks
# ----------------------------------------------------------------------------------------------------


def run_cli(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("SLIMWHEEL_DEBUG", "PYTHONWARNINGS")}
    return subprocess.run(
        [sys.executable, "-m", "slimwheel", *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def tree(root: Path) -> dict[str, str]:
    """Every path under ``root`` (relative) → a sha256 for files, or its kind; symlinks are not followed."""
    out: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            rel = str(path.relative_to(root))
            if path.is_symlink():
                out[rel] = "symlink"
            elif path.is_dir():
                out[rel] = "dir"
            else:
                out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def sha256_of(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def assert_one_error_line(proc: subprocess.CompletedProcess[str], expect: str) -> str:
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got: {proc.stderr!r}"
    line = lines[0]
    assert line.strip(), "the error line is empty"
    assert line.startswith("slimwheel: error:"), line
    assert re.search(expect, line), f"{expect!r} not in {line!r}"
    return line


def assert_nothing_written(tmp_path: Path, before: dict[str, str], out: Path) -> None:
    """tmp_path is as it was, except that the output directory may now exist, empty."""
    after = tree(tmp_path)
    out_rel = str(out.relative_to(tmp_path))
    changed = {k for k in before if after.get(k) != before[k]}
    new = set(after) - set(before)
    assert not changed, f"changed or removed: {sorted(changed)}"
    assert new <= {out_rel}, f"unexpected new files: {sorted(new - {out_rel})}"
    if out.is_dir() and out_rel not in before:
        assert not any(out.iterdir()), f"the output directory is not empty: {list(out.iterdir())}"


def assert_no_hostile_files(tmp_path: Path) -> None:
    for root in (tmp_path, tmp_path.parent):
        leaked = [p for p in root.rglob(f"*{TOKEN}*")]
        assert not leaked, f"a hostile archive path became a file: {leaked}"
    assert not Path("/etc", f"{TOKEN}_abs").exists()


def record_problems(wheel_file: Path) -> list[str]:
    """Independent RECORD check of a written wheel: every member listed with the right hash and size, no extra."""
    problems = []
    with zipfile.ZipFile(wheel_file) as zf:
        names = [n for n in zf.namelist() if not n.endswith("/")]
        record_name = next(n for n in names if n.endswith(".dist-info/RECORD") and n.count("/") == 1)
        rows = {r[0]: r for r in synth.read_record(wheel_file)}
        for name in names:
            row = rows.pop(name, None)
            if row is None:
                problems.append(f"{name} not in RECORD")
            elif name != record_name:
                data = zf.read(name)
                if row[1:] != [synth.record_hash(data), str(len(data))]:
                    problems.append(f"{name}: RECORD row {row} is wrong")
        problems += [f"RECORD lists {p}, not in the archive" for p in rows]
    return problems


# ----------------------------------------------------------------------------------------------------
# Tests
# ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASE_PARAMS)
def test_read_wheel_refuses(case: Case, tmp_path: Path) -> None:
    bad = case.make(tmp_path / "in")
    before = sha256_of(bad)
    with pytest.raises(BadWheel) as info:
        read_wheel(bad, limits=case.limits)
    message = str(info.value)
    assert "\n" not in message and "\r" not in message
    assert message.startswith(f"{bad.name}: "), message
    assert re.search(case.expect, message), f"{case.expect!r} not in {message!r}"
    assert sha256_of(bad) == before
    if case.hostile:
        assert_no_hostile_files(tmp_path)


@pytest.mark.parametrize("case", CASE_PARAMS)
def test_cli_refuses(case: Case, tmp_path: Path) -> None:
    bad = case.make(tmp_path / "in")
    out = tmp_path / "out"
    before = tree(tmp_path)
    input_hash = sha256_of(bad)
    proc = run_cli("shrink", bad, "-w", out, *case.cli_args, cwd=tmp_path)
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    line = assert_one_error_line(proc, case.expect)
    assert bad.name in line
    assert sha256_of(bad) == input_hash
    assert_nothing_written(tmp_path, before, out)
    if case.hostile:
        assert_no_hostile_files(tmp_path)


RECORD_OVERRIDABLE = [
    c
    for c in CASES
    if c.id in {"record-hash-mismatch", "record-size-mismatch", "record-missing-file", "record-lists-absent-file"}
]


# ``wheel unpack`` checks hashes and unlisted files, but not sizes or rows for missing files.
WHEEL_TOOL_REFUSES = {"record-hash-mismatch", "record-missing-file"}


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in RECORD_OVERRIDABLE])
def test_allow_bad_record_proceeds_and_writes_a_correct_record(case: Case, tmp_path: Path) -> None:
    bad = case.make(tmp_path / "in")
    wheel = read_wheel(bad, allow_bad_record=True)
    assert any(re.search(case.expect, w) and "overridden" in w for w in wheel.warnings), wheel.warnings

    if case.id in WHEEL_TOOL_REFUSES:
        # the real wheel tool refuses this input, which shows that it verifies RECORD ...
        refused = subprocess.run(
            [sys.executable, "-m", "wheel", "unpack", str(bad), "-d", str(tmp_path / "unpacked-input")],
            capture_output=True,
            text=True,
            check=False,
        )
        assert refused.returncode != 0, refused.stdout
    # ... and accepts the output
    out = tmp_path / "out"
    input_hash = sha256_of(bad)
    proc = run_cli("shrink", bad, "-w", out, "--allow-bad-record", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert sha256_of(bad) == input_hash
    written = out / bad.name
    assert [p.name for p in out.iterdir()] == [bad.name]
    assert record_problems(written) == []
    unpacked = subprocess.run(
        [sys.executable, "-m", "wheel", "unpack", str(written), "-d", str(tmp_path / "unpacked")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert unpacked.returncode == 0, unpacked.stderr
    assert (tmp_path / "unpacked" / "demo-1.0" / "demo" / "__init__.py").is_file()
    read_wheel(written)  # and slimwheel itself reads its output strictly


def test_allow_bad_record_does_not_excuse_a_malformed_record(tmp_path: Path) -> None:
    case = next(c for c in CASES if c.id == "record-row-two-fields")
    bad = case.make(tmp_path / "in")
    with pytest.raises(BadWheel, match="has 2 fields"):
        read_wheel(bad, allow_bad_record=True)


def test_nul_in_member_name_regression(tmp_path: Path) -> None:
    """Regression: ``demo/core.py\\0/../../x`` was read as ``demo/core.py`` and accepted."""
    bad = with_nul_name(tmp_path / "in")
    with pytest.raises(BadWheel, match="contains a NUL character"):
        read_wheel(bad)


def test_superscript_record_size_regression(tmp_path: Path) -> None:
    """Regression: a RECORD size of ``²`` passed ``str.isdigit`` and then crashed ``int()`` with ValueError."""
    bad = mutated(edit_record(set_size_field("demo/core.py", "²")))(tmp_path / "in")
    with pytest.raises(BadWheel, match="RECORD"):
        read_wheel(bad)


# ---- bad output locations (the input is fine) ------------------------------------------------------


@pytest.fixture
def good_input(tmp_path: Path) -> Path:
    path = small_wheel().build(tmp_path / "in")
    read_wheel(path)  # the input itself is fine: only the output location is wrong
    return path


def test_unwritable_output_dir(good_input: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    out.chmod(0o500)
    try:
        probe = out / "probe"
        try:
            probe.write_bytes(b"")
        except PermissionError:
            pass
        else:
            probe.unlink()
            pytest.skip("chmod 0o500 does not stop this user from writing (running as root?)")
        before = tree(tmp_path)
        input_hash = sha256_of(good_input)
        proc = run_cli("shrink", good_input, "-w", out, cwd=tmp_path)
        assert proc.returncode == 2, proc.stderr
        assert_one_error_line(proc, "not writable")
        assert sha256_of(good_input) == input_hash
        assert tree(tmp_path) == before
    finally:
        out.chmod(0o755)


def test_output_dir_is_the_input_dir(good_input: Path, tmp_path: Path) -> None:
    before = tree(tmp_path)
    proc = run_cli("shrink", good_input, "-w", good_input.parent, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert_one_error_line(proc, "would overwrite the input")
    assert tree(tmp_path) == before  # input untouched, no temporary file left beside it


def test_output_dir_is_the_input_dir_spelled_differently(good_input: Path, tmp_path: Path) -> None:
    before = tree(tmp_path)
    proc = run_cli("shrink", good_input, "-w", "./in/../in/", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert_one_error_line(proc, "would overwrite the input")
    assert tree(tmp_path) == before


def test_output_dir_is_a_regular_file(good_input: Path, tmp_path: Path) -> None:
    out = write(tmp_path / "out", b"I am a file\n")
    before = tree(tmp_path)
    proc = run_cli("shrink", good_input, "-w", out, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert_one_error_line(proc, r"output directory .*out")
    assert tree(tmp_path) == before


# ---- several inputs, one bad -----------------------------------------------------------------------


@pytest.mark.parametrize("bad_first", [True, False], ids=["bad-first", "bad-last"])
def test_one_bad_input_among_several(tmp_path: Path, bad_first: bool) -> None:
    good = small_wheel().build(tmp_path / "in")
    bad = write(
        tmp_path / "in" / "other-1.0-py3-none-any.whl",
        synth.corrupt_data(
            small_wheel(name="other").build(tmp_path / "scratch", compression=zipfile.ZIP_STORED).read_bytes(),
            "demo/core.py",
        ),
    )
    hashes = {p: sha256_of(p) for p in (good, bad)}
    out = tmp_path / "out"
    inputs = [bad, good] if bad_first else [good, bad]
    proc = run_cli("shrink", *inputs, "-w", out, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    line = assert_one_error_line(proc, "fails its CRC check")
    assert bad.name in line and good.name not in line
    assert {p: sha256_of(p) for p in (good, bad)} == hashes
    assert sorted(p.name for p in out.iterdir()) == [good.name]
    assert record_problems(out / good.name) == []
    read_wheel(out / good.name)


def test_max_total_size_alone_refuses_a_declared_huge_entry(tmp_path: Path) -> None:
    """``Limits(max_total_size=...)`` on its own also stops a member that lies about being huge."""
    bad = patched(lambda b: synth.set_declared_size(b, "demo/core.py", 3 * 1024**3))(tmp_path / "in")
    with pytest.raises(BadWheel, match=r"zip bomb"):
        read_wheel(bad, limits=Limits(max_total_size=MB))
    size = 200 * 1024  # under the 1 MiB ratio floor, so only the total limit can refuse it
    bad = patched(lambda b: synth.set_declared_size(b, "demo/core.py", size))(tmp_path / "in2")
    with pytest.raises(BadWheel, match=r"declares more than 100000 uncompressed bytes"):
        read_wheel(bad, limits=Limits(max_total_size=100_000))
