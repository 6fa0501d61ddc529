"""The synthetic-wheel builder must itself be right, checked against real tools (wheel, pip, uv, gcc)."""

from __future__ import annotations

import csv
import ctypes
import importlib.util
import io
import os
import stat
import subprocess
import sys
import warnings
import zipfile
from pathlib import Path

import pytest
import synth
from synth import EXT_SUFFIX, SynthWheel

PY = sys.executable
UV = Path(sys.executable).parent / "uv"
SO_NAME = f"demo/_speedups{EXT_SUFFIX}"


@pytest.fixture(scope="module")
def demo_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("demo")
    return synth.demo_wheel(tmp / "build").build(tmp / "dist")


@pytest.fixture(scope="module")
def demo_bytes(demo_path: Path) -> bytes:
    return demo_path.read_bytes()


def small_zip(compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    return synth.raw_zip_bytes(
        [("a.txt", b"hello world " * 100), ("b.txt", b"bbb"), ("c/ü.txt", b"ccc")], compression=compression
    )


def open_zip(data: bytes) -> zipfile.ZipFile:
    return zipfile.ZipFile(io.BytesIO(data))


def run(
    cmd: list[str | Path], *, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, check=False, env=env, cwd=cwd)


# ------------------------------------------------------------------------------------------------------------
# Names, METADATA, WHEEL, RECORD
# ------------------------------------------------------------------------------------------------------------


def test_names_are_normalised() -> None:
    w = SynthWheel(name="My.Cool--Pkg_x", version="2.0-1", tag="py2.py3-none-any")
    assert synth.normalize_name("My.Cool--Pkg_x") == "my_cool_pkg_x"
    assert w.dist_info() == "my_cool_pkg_x-2.0_1.dist-info"
    assert w.data_dir() == "my_cool_pkg_x-2.0_1.data"
    assert w.filename() == "my_cool_pkg_x-2.0_1-py2.py3-none-any.whl"
    default = SynthWheel()
    assert (default.dist_info(), default.data_dir(), default.filename()) == (
        "demo-1.0.dist-info",
        "demo-1.0.data",
        "demo-1.0-py3-none-any.whl",
    )


def test_metadata_wheel_and_entry_points(tmp_path: Path) -> None:
    w = SynthWheel(
        name="Some.Pkg",
        tag="py2.py3-none-any.manylinux1_x86_64",
        purelib=False,
        files={"some_pkg/__init__.py": b""},
        entry_points={"console_scripts": {"a": "x:main"}, "gui_scripts": {"b": "y:run"}},
        metadata_extra="Requires-Dist: packaging\n\nLong description.",
    )
    with zipfile.ZipFile(w.build(tmp_path)) as zf:
        meta = zf.read("some_pkg-1.0.dist-info/METADATA").decode()
        wheel = zf.read("some_pkg-1.0.dist-info/WHEEL").decode()
        eps = zf.read("some_pkg-1.0.dist-info/entry_points.txt").decode()
    assert meta.startswith("Metadata-Version: 2.1\nName: Some.Pkg\nVersion: 1.0\nRequires-Dist: packaging\n")
    assert meta.endswith("Long description.\n")
    assert wheel.splitlines() == [
        "Wheel-Version: 1.0",
        "Generator: synth",
        "Root-Is-Purelib: false",
        "Tag: py2-none-any",
        "Tag: py2-none-manylinux1_x86_64",
        "Tag: py3-none-any",
        "Tag: py3-none-manylinux1_x86_64",
    ]
    assert eps == "[console_scripts]\na = x:main\n\n[gui_scripts]\nb = y:run\n"


def test_record_lists_every_member_with_correct_hash(demo_bytes: bytes) -> None:
    with open_zip(demo_bytes) as zf:
        names = zf.namelist()
        record_text = zf.read("demo-1.0.dist-info/RECORD").decode()
        contents = {n: zf.read(n) for n in names}
    rows = list(csv.reader(io.StringIO(record_text)))
    assert rows == synth.read_record(demo_bytes)
    assert names[-1] == "demo-1.0.dist-info/RECORD"
    assert rows[-1] == ["demo-1.0.dist-info/RECORD", "", ""]
    assert record_text.endswith("demo-1.0.dist-info/RECORD,,\n")
    assert [r[0] for r in rows] == names
    for path, digest, size in rows[:-1]:
        assert digest == synth.record_hash(contents[path]), path
        assert int(size) == len(contents[path]), path
    assert '\n"demo/odd, name.txt",sha256=' in record_text  # csv quoting
    assert "\ndemo/données/ñ.txt,sha256=" in record_text
    # the urlsafe-base64, unpadded form
    assert synth.record_hash(b"") == "sha256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU"


def test_demo_wheel_layout(demo_bytes: bytes) -> None:
    with open_zip(demo_bytes) as zf:
        names = set(zf.namelist())
        wheel = zf.read("demo-1.0.dist-info/WHEEL").decode()
        eps = zf.read("demo-1.0.dist-info/entry_points.txt").decode()
        infos = {i.filename: i for i in zf.infolist()}
        tests_src = zf.read("demo/tests/test_core.py").decode()
        init_src = zf.read("demo/__init__.py").decode()
    expected = {
        "demo/__init__.py",
        "demo/core.py",
        "demo/cli.py",
        "demo/tests/__init__.py",
        "demo/tests/test_core.py",
        "demo/py.typed",
        "demo/core.pyi",
        "demo/include/demo.h",
        "demo/src/speedups.c",
        "demo/docs/guide.md",
        "demo/examples/example.py",
        "demo/data/table.csv",
        "demo/lib/libdemo.a",
        "demo/odd, name.txt",
        "demo/données/ñ.txt",
        "demo-1.0.data/scripts/demo-tool",
        "demo-1.0.data/data/share/demo/readme.txt",
        "demo-1.0.data/headers/demo_api.h",
        "demo-1.0.data/purelib/demo_extra/__init__.py",
        SO_NAME,
        "demo-1.0.dist-info/METADATA",
        "demo-1.0.dist-info/WHEEL",
        "demo-1.0.dist-info/entry_points.txt",
        "demo-1.0.dist-info/RECORD",
    }
    assert names == expected
    assert "Root-Is-Purelib: false\n" in wheel
    assert f"Tag: {synth.native_tag()}\n" in wheel
    assert "demo-cli = demo.cli:main\n" in eps
    assert "demo-tests = demo.tests.test_core:main\n" in eps
    assert "def main()" in tests_src
    assert "demo._speedups" in init_src
    # unix modes, create_system = 3
    for name, info in infos.items():
        mode = info.external_attr >> 16
        assert info.create_system == 3
        assert stat.S_ISREG(mode), name
        executable = name in ("demo-1.0.data/scripts/demo-tool", SO_NAME)
        assert stat.S_IMODE(mode) == (0o755 if executable else 0o644), name
    assert infos["demo/données/ñ.txt"].flag_bits & synth.FLAG_UTF8


def test_pure_demo_wheel(tmp_path: Path) -> None:
    w = synth.demo_wheel(tmp_path, with_extension=False)
    assert (w.tag, w.purelib) == ("py3-none-any", True)
    assert not any(p.endswith(".so") for p in w.files)
    assert list(tmp_path.iterdir()) == []  # nothing compiled
    assert w.build(tmp_path).name == "demo-1.0-py3-none-any.whl"


def test_build_is_deterministic_and_honours_compression(tmp_path: Path) -> None:
    w = SynthWheel(files={"demo/__init__.py": b"x = 1\n" * 50})
    a = w.build(tmp_path / "a").read_bytes()
    b = w.build(tmp_path / "b").read_bytes()
    assert a == b
    stored = w.build(tmp_path / "s", compression=zipfile.ZIP_STORED)
    with zipfile.ZipFile(stored) as zf:
        assert {i.compress_type for i in zf.infolist()} == {zipfile.ZIP_STORED}
    with open_zip(a) as zf:
        assert {i.compress_type for i in zf.infolist()} == {zipfile.ZIP_DEFLATED}


def test_record_false_and_mutate(tmp_path: Path) -> None:
    w = SynthWheel(files={"demo/__init__.py": b"x = 1\n"})
    with zipfile.ZipFile(w.build(tmp_path / "norecord", record=False)) as zf:
        assert "demo-1.0.dist-info/RECORD" not in zf.namelist()
        assert "demo-1.0.dist-info/METADATA" in zf.namelist()

    seen: list[synth.Entry] = []

    def mutate(entries: list[synth.Entry]) -> list[synth.Entry]:
        seen.extend(entries)
        out = [(p, b"x = 2\n" if p == "demo/__init__.py" else d, m) for p, d, m in entries]
        return [*out, ("../evil.py", b"", stat.S_IFLNK | 0o777)]

    path = w.build(tmp_path / "mutated", mutate=mutate)
    assert [p for p, _, _ in seen][-1] == "demo-1.0.dist-info/RECORD"
    with zipfile.ZipFile(path) as zf:
        assert zf.read("demo/__init__.py") == b"x = 2\n"
        assert stat.S_ISLNK(zf.getinfo("../evil.py").external_attr >> 16)
    row = next(r for r in synth.read_record(path) if r[0] == "demo/__init__.py")
    assert row[1] == synth.record_hash(b"x = 1\n")  # RECORD describes the original content


# ------------------------------------------------------------------------------------------------------------
# Real installers
# ------------------------------------------------------------------------------------------------------------


def test_wheel_unpack_accepts_valid_and_rejects_mutated(demo_path: Path, tmp_path: Path) -> None:
    ok = run([PY, "-m", "wheel", "unpack", "-d", tmp_path / "ok", demo_path])
    assert ok.returncode == 0, ok.stderr
    root = tmp_path / "ok" / "demo-1.0"
    assert (root / "demo" / "odd, name.txt").read_bytes() == b"a file whose name has a comma\n"
    assert (root / "demo" / "données" / "ñ.txt").read_text(encoding="utf-8") == "non-ASCII path: données/ñ\n"

    def tamper(entries: list[synth.Entry]) -> list[synth.Entry]:
        return [(p, d + b"# tampered\n" if p == "demo/core.py" else d, m) for p, d, m in entries]

    bad = SynthWheel(files={"demo/core.py": b"x = 1\n"}).build(tmp_path / "bad", mutate=tamper)
    res = run([PY, "-m", "wheel", "unpack", "-d", tmp_path / "out", bad])
    assert res.returncode != 0
    assert "demo/core.py" in res.stdout + res.stderr


def check_installed(target: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(target)}
    res = run([PY, "-c", "import demo; print(demo.add(2, 3))"], env=env, cwd=target)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "5"
    assert (target / "demo" / "odd, name.txt").is_file()
    assert (target / "demo" / "données" / "ñ.txt").is_file()
    assert (target / "demo_extra" / "__init__.py").is_file()
    tool = target / "bin" / "demo-tool"
    assert tool.is_file() and os.access(tool, os.X_OK)
    assert (target / "bin" / "demo-cli").is_file()


def test_pip_install_target(demo_path: Path, tmp_path: Path) -> None:
    target = tmp_path / "site"
    args = ["-m", "pip", "install", "-q", "--no-deps", "--no-index", "--disable-pip-version-check"]
    res = run([PY, *args, "--target", target, demo_path])
    assert res.returncode == 0, res.stderr
    check_installed(target)


def test_uv_install_target(demo_path: Path, tmp_path: Path) -> None:
    target = tmp_path / "site"
    args = ["pip", "install", "--no-deps", "--offline", "--no-cache", "--python"]
    res = run([UV, *args, PY, "--target", target, demo_path])
    assert res.returncode == 0, res.stderr
    check_installed(target)


# ------------------------------------------------------------------------------------------------------------
# Native code
# ------------------------------------------------------------------------------------------------------------


def load_extension(path: Path, module: str) -> object:
    spec = importlib.util.spec_from_file_location(module, path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_compile_extension_is_real(tmp_path: Path) -> None:
    so = synth.compile_extension(tmp_path / "dbg")
    assert so.name == "_speedups" + EXT_SUFFIX
    data = so.read_bytes()
    assert data[:4] == b"\x7fELF"
    assert b".debug_info" in data and b".symtab" in data
    mod = load_extension(so, "_speedups")
    assert mod.add(2, 3) == 5  # type: ignore[attr-defined]
    assert isinstance(mod.checksum(b"abc"), int)  # type: ignore[attr-defined]

    other = synth.compile_extension(tmp_path / "nodbg", module="_other", debug=False)
    assert other.name == "_other" + EXT_SUFFIX
    assert b".debug_info" not in other.read_bytes()
    assert load_extension(other, "_other").add(40, 2) == 42  # type: ignore[attr-defined]


def test_compile_shared_lib(tmp_path: Path) -> None:
    lib = synth.compile_shared_lib(tmp_path)
    assert lib.name == "libhelper.so"
    assert b".debug_info" in lib.read_bytes()
    assert ctypes.CDLL(str(lib)).helper_answer() == 42
    plain = synth.compile_shared_lib(tmp_path / "plain", name="libplain.so", debug=False)
    assert b".debug_info" not in plain.read_bytes()
    assert ctypes.CDLL(str(plain)).helper_answer() == 42


# ------------------------------------------------------------------------------------------------------------
# Hostile archives
# ------------------------------------------------------------------------------------------------------------


def test_parse_and_pack_round_trip(demo_bytes: bytes) -> None:
    assert synth.parse_zip(demo_bytes).pack() == demo_bytes
    commented = synth.raw_zip_bytes([("a", b"1")], comment=b"hello")
    assert synth.parse_zip(commented).pack() == commented
    junk = synth.append_trailing(commented, b"JUNK")
    assert synth.parse_zip(junk).trailing == b"JUNK"
    assert synth.parse_zip(junk).pack() == junk


def test_raw_zip_keeps_hostile_names(tmp_path: Path) -> None:
    names = ["../evil.py", "/abs/path.py", "a\\b.py", "C:/win.py", "dup.txt", "dup.txt", "dir/"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        path = synth.raw_zip(tmp_path / "sub" / "x.zip", [(n, b"x") for n in names], modes={"a\\b.py": 0o600})
    with zipfile.ZipFile(path) as zf:
        assert zf.namelist() == names
        assert stat.S_IMODE(zf.getinfo("a\\b.py").external_attr >> 16) == 0o600
        assert zf.getinfo("dir/").is_dir()


@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_set_local_name(compression: int) -> None:
    data = small_zip(compression)
    for new in ("z.txt", "a-much-longer-local-name.txt", b"../x"):  # equal, longer, bytes
        bad = synth.set_local_name(data, 0, new)
        layout = synth.parse_zip(bad)
        assert layout.central[0].name == b"a.txt"
        assert layout.local_of(0).name == (new.encode() if isinstance(new, str) else new)
        with open_zip(bad) as zf:
            assert zf.namelist() == ["a.txt", "b.txt", "c/ü.txt"]
            with pytest.raises(zipfile.BadZipFile, match="differ"):
                zf.read("a.txt")
            assert zf.read("b.txt") == b"bbb"  # later offsets were rewritten
            assert zf.read("c/ü.txt") == b"ccc"
            assert zf.testzip() == "a.txt"


@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_set_declared_size(compression: int) -> None:
    data = small_zip(compression)
    bomb = synth.set_declared_size(data, "a.txt", 10**9)
    layout = synth.parse_zip(bomb)
    assert layout.find("a.txt").uncompressed_size == 10**9
    assert layout.local_of("a.txt").uncompressed_size == 10**9
    with open_zip(bomb) as zf:
        assert zf.getinfo("a.txt").file_size == 10**9
        assert len(zf.read("a.txt")) == 1200  # the real size
    small = synth.set_declared_size(data, "a.txt", 10)
    with open_zip(small) as zf, pytest.raises(zipfile.BadZipFile):
        zf.read("a.txt")


def test_set_flag_bits_encrypted() -> None:
    bad = synth.set_flag_bits(small_zip(), "b.txt", synth.FLAG_ENCRYPTED)
    layout = synth.parse_zip(bad)
    assert layout.find("b.txt").flags & 1 and layout.local_of("b.txt").flags & 1
    with open_zip(bad) as zf:
        assert zf.getinfo("b.txt").flag_bits & 1
        with pytest.raises(RuntimeError, match="encrypted"):
            zf.read("b.txt")
        assert zf.read("a.txt") == b"hello world " * 100
    cleared = synth.set_flag_bits(bad, "b.txt", 0, clear=synth.FLAG_ENCRYPTED)
    with open_zip(cleared) as zf:
        assert zf.read("b.txt") == b"bbb"


def test_make_symlink() -> None:
    link = synth.make_symlink(small_zip(), "b.txt")
    with open_zip(link) as zf:
        info = zf.getinfo("b.txt")
        assert stat.S_ISLNK(info.external_attr >> 16)
        assert stat.S_IMODE(info.external_attr >> 16) == 0o777
        assert info.create_system == 3
        assert not stat.S_ISLNK(zf.getinfo("a.txt").external_attr >> 16)
    escaping = synth.make_symlink(small_zip(), "c/ü.txt", target=b"../../etc/passwd")
    with open_zip(escaping) as zf:
        assert zf.read("c/ü.txt") == b"../../etc/passwd"
        assert zf.testzip() is None


def test_truncate() -> None:
    data = small_zip()
    for n in (len(data) // 2, -1, 10):
        with pytest.raises(zipfile.BadZipFile):
            open_zip(synth.truncate(data, n))
    assert synth.truncate(data, 10) == data[:10]


def test_append_trailing() -> None:
    data = small_zip()
    junk = synth.append_trailing(data, b"\x00JUNK" * 20)
    assert junk.startswith(data) and len(junk) == len(data) + 100
    with open_zip(junk) as zf:  # zipfile is lenient about it
        assert zf.testzip() is None
        assert zf.comment == b""


def test_duplicate_entry() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        same = synth.duplicate_entry(small_zip(), "b.txt")
        other = synth.duplicate_entry(small_zip(), "b.txt", b"second copy")
    with open_zip(same) as zf:
        assert zf.namelist() == ["a.txt", "b.txt", "c/ü.txt", "b.txt"]
        assert zf.testzip() is None
    with open_zip(other) as zf:
        first, second = (i for i in zf.infolist() if i.filename == "b.txt")
        assert zf.open(first).read() == b"bbb"
        assert zf.open(second).read() == b"second copy"
        assert zf.read("b.txt") == b"second copy"  # zipfile keeps the last one


def test_rename_entry_raw_bytes() -> None:
    renamed = synth.rename_entry(small_zip(), "b.txt", b"ev\x00il.txt")
    assert synth.parse_zip(renamed).find(1).name == b"ev\x00il.txt"
    with open_zip(renamed) as zf:
        assert "ev" in zf.namelist()  # zipfile cuts names at NUL
        assert zf.read("ev") == b"bbb"
    utf8 = synth.rename_entry(small_zip(), "a.txt", "ü/../../x.txt")
    with open_zip(utf8) as zf:
        assert zf.getinfo("ü/../../x.txt").flag_bits & synth.FLAG_UTF8
        assert zf.read("ü/../../x.txt") == b"hello world " * 100
    ascii_again = synth.rename_entry(small_zip(), "c/ü.txt", "c/u.txt")
    with open_zip(ascii_again) as zf:
        assert not zf.getinfo("c/u.txt").flag_bits & synth.FLAG_UTF8
        assert zf.read("c/u.txt") == b"ccc"


def test_set_method_corrupt_and_replace() -> None:
    with open_zip(synth.set_method(small_zip(), "a.txt", 99)) as zf, pytest.raises(NotImplementedError):
        zf.read("a.txt")
    corrupted = synth.corrupt_data(small_zip(zipfile.ZIP_STORED), "a.txt", at=3)
    with open_zip(corrupted) as zf:
        assert zf.testzip() == "a.txt"
        with pytest.raises(zipfile.BadZipFile, match="CRC"):
            zf.read("a.txt")
    replaced = synth.replace_data(small_zip(), "a.txt", b"new content")
    with open_zip(replaced) as zf:
        assert zf.testzip() is None
        assert zf.read("a.txt") == b"new content"
        assert zf.read("c/ü.txt") == b"ccc"
