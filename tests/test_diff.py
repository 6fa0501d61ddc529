"""``slimwheel diff OLD NEW``: size changes between two wheels, path matching across versions and platform tags,
``--max-growth`` as a CI gate (exit 3), bad input (exit 2), JSON, 80-column and cp1252 output; on synthetic wheels
built here and on real numpy wheels (across platform tags, across versions, and against its own shrunk output)."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
import wheelcache
from synth import SynthWheel

from slimwheel.categories import Category
from slimwheel.cli import main
from slimwheel.contents import read_wheel
from slimwheel.diff import (
    SCHEMA_VERSION,
    Amount,
    Limit,
    Measure,
    Status,
    WheelDiff,
    diff_signature,
    diff_wheels,
    gate,
    match_paths,
    pair_wheels,
    parse_limit,
    treemap_rows,
)
from slimwheel.diffreport import to_json
from slimwheel.errors import UsageError

LINUX_SO = ".cpython-311-x86_64-linux-gnu.so"
WIN_PYD = ".cp311-win_amd64.pyd"
NUMPY_126_LINUX = wheelcache.RealWheel("numpy", "1.26.4", "manylinux2014_x86_64")


def noise(n: int, seed: int) -> bytes:
    """Incompressible bytes: compressed sizes follow installed sizes."""
    return random.Random(seed).randbytes(n)


def elf(n: int, seed: int) -> bytes:
    return b"\x7fELF" + noise(n, seed)


def pe(n: int, seed: int) -> bytes:
    return b"MZ" + noise(n, seed)


# ----------------------------------------------------------------------------------------------------------
# Matching paths
# ----------------------------------------------------------------------------------------------------------


def test_signature_ignores_version_platform_tag_and_vendored_hash() -> None:
    assert diff_signature("numpy-2.4.5.dist-info/METADATA") == diff_signature("numpy-2.4.6.dist-info/METADATA")
    assert diff_signature("Foo_Bar-1.0.data/scripts/x") == diff_signature("foo_bar-2.0rc1.data/scripts/x.exe")
    assert diff_signature(f"pkg/_ext{LINUX_SO}") == diff_signature(f"pkg/_ext{WIN_PYD}")
    assert diff_signature("pkg.libs/libfoo-ab12cd34.so.1.2") == diff_signature(
        "pkg.libs/libfoo-0123456789abcdef0123456789abcdef.dll"
    )
    assert diff_signature("pkg/a.py") != diff_signature("pkg/b.py")
    assert diff_signature("numpy-2.4.6.dist-info/METADATA") != diff_signature("scipy-2.4.6.dist-info/METADATA")


def test_exact_path_first_then_signature_for_the_rest() -> None:
    """Two old paths share a signature; one of them is in NEW as it is, so the other pairs by signature."""
    old = ["pkg/_ext.abi3.so", f"pkg/_ext{LINUX_SO}", "pkg/a.py", "demo-1.0.dist-info/METADATA"]
    new = ["pkg/_ext.abi3.so", f"pkg/_ext{WIN_PYD}", "pkg/a.py", "demo-1.1.dist-info/METADATA", "pkg/new.py"]
    m = match_paths(old, new)
    assert m.exact == ("pkg/_ext.abi3.so", "pkg/a.py")
    assert sorted(m.by_signature) == [
        ("demo-1.0.dist-info/METADATA", "demo-1.1.dist-info/METADATA"),
        (f"pkg/_ext{LINUX_SO}", f"pkg/_ext{WIN_PYD}"),
    ]
    assert (m.removed, m.added, m.ambiguous) == ((), ("pkg/new.py",), ())


def test_ambiguous_signature_is_never_guessed() -> None:
    old = [f"pkg/_ext{LINUX_SO}", "pkg/_ext.abi3.so", "pkg/keep.py"]
    new = [f"pkg/_ext{WIN_PYD}", "pkg/keep.py"]
    m = match_paths(old, new)
    assert m.by_signature == ()
    assert m.removed == ("pkg/_ext.abi3.so", f"pkg/_ext{LINUX_SO}")
    assert m.added == (f"pkg/_ext{WIN_PYD}",)
    (amb,) = m.ambiguous
    assert (amb.signature, amb.old, amb.new) == ("ext:pkg/_ext", m.removed, m.added)


# ----------------------------------------------------------------------------------------------------------
# Synthetic wheels
# ----------------------------------------------------------------------------------------------------------


def _v1() -> SynthWheel:
    return SynthWheel(
        name="demo",
        version="1.0",
        files={
            "demo/__init__.py": b"VERSION = '1.0'\n",
            "demo/grows.bin": noise(10_000, 1),
            "demo/shrinks.bin": noise(20_000, 2),
            "demo/same.bin": noise(5_000, 3),
            "demo/gone.py": b"x = 1\n" * 200,
            "demo/sub/deep/data.txt": b"hello\n" * 50,
        },
    )


def _v2() -> SynthWheel:
    return SynthWheel(
        name="demo",
        version="1.1",
        files={
            "demo/__init__.py": b"VERSION = '1.1'\n",
            "demo/grows.bin": noise(14_000, 1),
            "demo/shrinks.bin": noise(12_000, 2),
            "demo/same.bin": noise(5_000, 3),
            "demo/new.txt": noise(3_000, 4),
            "demo/sub/deep/data.txt": b"hello\n" * 50,
        },
    )


@pytest.fixture(scope="module")
def versions(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("versions")
    return _v1().build(tmp / "old"), _v2().build(tmp / "new")


def _diff(old: Path, new: Path) -> WheelDiff:
    a, b = read_wheel(old), read_wheel(new)
    try:
        return diff_wheels(a, b)
    finally:
        a.close()
        b.close()


def _zip_sizes(path: Path) -> dict[str, tuple[int, int]]:
    with zipfile.ZipFile(path) as zf:
        return {i.filename: (i.compress_size, i.file_size) for i in zf.infolist()}


def _by_path(d: WheelDiff) -> dict[str, tuple[Status, str]]:
    return {f.path: (f.status, f.match) for f in d.files}


def test_growth_shrink_added_removed_and_dist_info_renamed_by_version(versions: tuple[Path, Path]) -> None:
    old, new = versions
    d = _diff(old, new)
    files = _by_path(d)
    assert files["demo/grows.bin"] == (Status.CHANGED, "exact")
    assert files["demo/shrinks.bin"] == (Status.CHANGED, "exact")
    assert files["demo/same.bin"] == (Status.UNCHANGED, "exact")
    assert files["demo/new.txt"] == (Status.ADDED, "")
    assert files["demo/gone.py"] == (Status.REMOVED, "")
    # the dist-info directory is renamed with the version: its files are matched by signature, not added/removed
    assert files["demo-1.1.dist-info/WHEEL"] == (Status.UNCHANGED, "signature")
    assert files["demo-1.1.dist-info/METADATA"] == (Status.CHANGED, "signature")
    assert not any(p.startswith("demo-1.0.dist-info/") for p in files)
    assert {(f.old.path, f.new.path) for f in d.renamed if f.old and f.new} >= {
        ("demo-1.0.dist-info/WHEEL", "demo-1.1.dist-info/WHEEL")
    }
    old_sizes, new_sizes = _zip_sizes(old), _zip_sizes(new)
    grows = next(f for f in d.files if f.path == "demo/grows.bin")
    assert grows.delta(Measure.INSTALLED) == 4_000
    assert grows.delta(Measure.COMPRESSED) == new_sizes["demo/grows.bin"][0] - old_sizes["demo/grows.bin"][0] > 0
    assert d.growers(Measure.INSTALLED)[0].path == "demo/grows.bin"
    assert d.shrinkers(Measure.INSTALLED)[0].path == "demo/shrinks.bin"
    assert [f.path for f in d.biggest(Status.ADDED, Measure.COMPRESSED)] == ["demo/new.txt"]
    assert [f.path for f in d.biggest(Status.REMOVED, Measure.COMPRESSED)] == ["demo/gone.py"]


def test_totals_categories_and_directories_add_up(versions: tuple[Path, Path]) -> None:
    old, new = versions
    d = _diff(old, new)
    for side, path in ((d.old, old), (d.new, new)):
        sizes = _zip_sizes(path)
        assert side.archive == path.stat().st_size
        assert side.total == Amount(len(sizes), sum(c for c, _ in sizes.values()), sum(i for _, i in sizes.values()))
    for groups in (d.categories, d.top_directories):
        assert sum((g.old for g in groups), Amount()) == d.old.total
        assert sum((g.new for g in groups), Amount()) == d.new.total
    tops = {g.key: g for g in d.top_directories}
    assert set(tops) == {"demo/", "demo-1.1.dist-info/"}  # OLD's dist-info is summed under NEW's name
    assert tops["demo/"].delta.installed == 4_000 - 8_000 + 3_000 - 1_200
    assert tops["demo/"].delta.files == 0
    seconds = {g.key: g for g in d.second_directories}
    assert set(seconds) == {"demo/sub/"} and seconds["demo/sub/"].delta == Amount()
    cats = {g.key: g for g in d.categories}
    assert cats[str(Category.PYTHON)].delta.files == -1  # demo/gone.py
    assert cats[str(Category.DATA)].delta.installed == 4_000 - 8_000 + 3_000


def test_treemap_rows_list_every_file_once(versions: tuple[Path, Path]) -> None:
    d = _diff(*versions)
    rows = list(treemap_rows(d, Measure.INSTALLED))
    assert [r.path for r in rows] == [f.path for f in d.files]
    assert sum(r.old for r in rows) == d.old.total.installed
    assert sum(r.new for r in rows) == d.new.total.installed
    by = {r.path: r for r in rows}
    assert (by["demo/new.txt"].old, by["demo/new.txt"].status) == (0, Status.ADDED)
    assert (by["demo/gone.py"].new, by["demo/gone.py"].status) == (0, Status.REMOVED)
    assert by["demo-1.1.dist-info/WHEEL"].old_path == "demo-1.0.dist-info/WHEEL"
    assert by["demo/grows.bin"].old_path is None


def _platform_wheels(tmp: Path) -> tuple[Path, Path]:
    common = {"pkg/__init__.py": b"from . import _ext\n"}
    linux = SynthWheel(
        name="pkg",
        version="2.0",
        tag="cp311-cp311-manylinux_2_28_x86_64",
        purelib=False,
        files={
            **common,
            f"pkg/_ext{LINUX_SO}": elf(30_000, 5),
            "pkg.libs/libblas-ab12cd34.so.3.1": elf(50_000, 6),
            f"pkg/_a{LINUX_SO}": elf(1_000, 7),  # ambiguous: two old files with the signature ext:pkg/_a
            "pkg/_a.abi3.so": elf(1_000, 8),
        },
    )
    windows = SynthWheel(
        name="pkg",
        version="2.0",
        tag="cp311-cp311-win_amd64",
        purelib=False,
        files={
            **common,
            f"pkg/_ext{WIN_PYD}": pe(20_000, 9),
            "pkg.libs/libblas-0123456789abcdef0123456789abcdef.dll": pe(60_000, 10),
            f"pkg/_a{WIN_PYD}": pe(1_000, 11),
        },
    )
    return linux.build(tmp / "linux"), windows.build(tmp / "windows")


def test_platform_tags_so_vs_pyd_and_ambiguous_signatures(tmp_path: Path) -> None:
    linux, windows = _platform_wheels(tmp_path)
    d = _diff(linux, windows)
    files = _by_path(d)
    assert files[f"pkg/_ext{WIN_PYD}"] == (Status.CHANGED, "signature")
    assert files["pkg.libs/libblas-0123456789abcdef0123456789abcdef.dll"] == (Status.CHANGED, "signature")
    assert files["pkg/__init__.py"] == (Status.UNCHANGED, "exact")
    ext = next(f for f in d.files if f.path == f"pkg/_ext{WIN_PYD}")
    assert ext.old is not None and ext.old.path == f"pkg/_ext{LINUX_SO}"
    assert ext.delta(Measure.INSTALLED) == (20_000 + 2) - (30_000 + 4)
    assert ext.new is not None and ext.old.category == ext.new.category == Category.NATIVE
    # the ambiguous signature: nothing guessed, counted as removed and added
    assert files[f"pkg/_a{WIN_PYD}"] == (Status.ADDED, "")
    assert files[f"pkg/_a{LINUX_SO}"] == (Status.REMOVED, "")
    assert files["pkg/_a.abi3.so"] == (Status.REMOVED, "")
    (amb,) = d.ambiguous
    assert amb.signature == "ext:pkg/_a" and len(amb.old) == 2 and len(amb.new) == 1
    doc = to_json(d)
    counts = doc["counts"]
    assert isinstance(counts, dict)
    assert (counts["added"], counts["removed"], counts["matched_by_signature"], counts["ambiguous_signatures"]) == (
        1,
        2,
        2,
        1,
    )
    assert counts["changed"] + counts["unchanged"] == len(d.files) - 3


# ----------------------------------------------------------------------------------------------------------
# The gate
# ----------------------------------------------------------------------------------------------------------


def test_parse_limit() -> None:
    assert parse_limit("2MB") == Limit("2MB", bytes=2_000_000)
    assert parse_limit("1.5MiB").bytes == 1_572_864
    assert parse_limit("5%") == Limit("5%", percent=5.0)
    assert parse_limit("0.5 %").percent == 0.5
    for bad in ("5x", "%", "-1MB", "five%", ""):
        with pytest.raises(UsageError):
            parse_limit(bad)


def test_gate_boundaries(versions: tuple[Path, Path]) -> None:
    d = _diff(*versions)
    growth = d.new.total.installed - d.old.total.installed
    assert growth != 0
    inverse = _diff(versions[1], versions[0])  # NEW → OLD grows where OLD → NEW shrinks
    grows = d if growth > 0 else inverse
    g = grows.new.total.installed - grows.old.total.installed
    assert not gate(grows, Limit("x", bytes=g), Measure.INSTALLED).exceeded
    over = gate(grows, Limit("x", bytes=g - 1), Measure.INSTALLED)
    assert over.exceeded and over.over_by == 1
    old = grows.old.total.installed
    pct = g / old * 100
    assert not gate(grows, Limit("x", percent=pct + 0.01), Measure.INSTALLED).exceeded
    assert gate(grows, Limit("x", percent=pct - 0.01), Measure.INSTALLED).exceeded
    shrinks = inverse if grows is d else d
    assert not gate(shrinks, Limit("0", bytes=0), Measure.INSTALLED).exceeded


# ----------------------------------------------------------------------------------------------------------
# The command line
# ----------------------------------------------------------------------------------------------------------

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Run:
    def run(*args: str) -> tuple[int, str, str]:
        code = main(["diff", *args])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


@pytest.fixture(scope="module")
def growing(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """OLD and NEW where NEW's archive is bigger (by a known number of bytes)."""
    tmp = tmp_path_factory.mktemp("growing")
    old = SynthWheel(name="grow", version="1.0", files={"grow/a.bin": noise(40_000, 20)}).build(tmp / "o")
    new = SynthWheel(name="grow", version="1.1", files={"grow/a.bin": noise(50_000, 20)}).build(tmp / "n")
    return old, new


def test_max_growth_size_pass_and_fail(growing: tuple[Path, Path], cli: Run) -> None:
    old, new = growing
    growth = new.stat().st_size - old.stat().st_size
    assert growth > 10_000
    code, out, err = cli(str(old), str(new), "--max-growth", str(growth))
    assert code == 0, err
    assert err == "" and "within --max-growth" in out
    code, out, err = cli(str(old), str(new), "--max-growth", str(growth - 1))
    assert code == 3
    (line,) = err.splitlines()
    assert line.startswith("slimwheel: size regression: archive grew ") and "1 B over --max-growth" in line
    code, _, err = cli(str(old), str(new), "--max-growth", "1MB")
    assert code == 0, err
    code, _, err = cli(str(old), str(new), "--max-growth", "1kB")
    assert code == 3 and len(err.splitlines()) == 1


def test_max_growth_percent_pass_and_fail(growing: tuple[Path, Path], cli: Run) -> None:
    old, new = growing
    pct = (new.stat().st_size - old.stat().st_size) / old.stat().st_size * 100
    code, _, err = cli(str(old), str(new), "--max-growth", f"{pct + 0.1:.2f}%")
    assert code == 0, err
    code, _, err = cli(str(old), str(new), "--max-growth", f"{pct - 0.1:.2f}%")
    assert code == 3
    (line,) = err.splitlines()
    assert "over --max-growth" in line and f"{pct - 0.1:.2f}%" in line


def test_max_growth_by_installed(growing: tuple[Path, Path], cli: Run) -> None:
    """--by installed gates on installed bytes, not on the archive's."""
    old, new = growing
    o, n = read_wheel(old), read_wheel(new)
    growth = n.installed_size - o.installed_size
    o.close()
    n.close()
    assert growth >= 10_000
    code, _, err = cli(str(old), str(new), "--by", "installed", "--max-growth", str(growth))
    assert code == 0, err
    code, _, err = cli(str(old), str(new), "--by", "installed", "--max-growth", str(growth - 1))
    assert code == 3 and err.startswith("slimwheel: size regression: installed size grew ")
    archive_growth = new.stat().st_size - old.stat().st_size
    code, _, _ = cli(str(old), str(new), "--max-growth", str(archive_growth))
    assert code == 0


def test_shrinking_never_trips_the_gate(growing: tuple[Path, Path], cli: Run) -> None:
    old, new = growing
    code, out, err = cli(str(new), str(old), "--max-growth", "0")
    assert code == 0, err
    assert "archive shrank" in out


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda tmp: tmp / "missing-1.0-py3-none-any.whl", "can't be read"),
        (lambda tmp: _write(tmp / "notes.txt", b"hello"), "not a valid wheel file name"),
        (lambda tmp: _write(tmp / "fake-1.0-py3-none-any.whl", b"not a zip at all"), "not a zip archive"),
        (lambda tmp: _mkdir(tmp / "adir"), "must both be wheel files, or both directories"),
        (lambda tmp: _mkdir(tmp / "dir-1.0-py3-none-any.whl"), "is a directory, not a wheel file"),
    ],
)
def test_bad_input_is_exit_2_with_one_line(
    make: Callable[[Path], Path], words: str, growing: tuple[Path, Path], tmp_path: Path, cli: Run
) -> None:
    bad = make(tmp_path)
    for args in ((str(bad), str(growing[1])), (str(growing[0]), str(bad))):
        code, out, err = cli(*args)
        assert code == 2, err
        (line,) = err.splitlines()
        assert line.startswith("slimwheel: error: ") and words in line and "Traceback" not in err
        assert out == ""


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _mkdir(path: Path) -> Path:
    path.mkdir()
    return path


def test_bad_max_growth_is_a_usage_error(growing: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["diff", str(growing[0]), str(growing[1]), "--max-growth", "5 parsecs"])
    assert exc.value.code == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert "can't read growth '5 parsecs'" in line


def test_json_file_and_stdout(versions: tuple[Path, Path], tmp_path: Path, cli: Run) -> None:
    old, new = versions
    target = tmp_path / "diff.json"
    code, out, err = cli(str(old), str(new), "--json", str(target), "--max-growth", "50%", "--top", "1")
    assert code == 0, err
    doc = json.loads(target.read_text("utf-8"))
    assert doc["schema_version"] == SCHEMA_VERSION == 1
    assert set(doc) == {
        "schema_version",
        "old",
        "new",
        "measure",
        "totals",
        "counts",
        "categories",
        "directories",
        "growers",
        "shrinkers",
        "added",
        "removed",
        "renamed",
        "ambiguous",
        "gate",
    }
    assert doc["old"]["filename"] == old.name and doc["new"]["version"] == "1.1"
    assert doc["totals"]["archive"] == {
        "old": old.stat().st_size,
        "new": new.stat().st_size,
        "delta": new.stat().st_size - old.stat().st_size,
        "percent": round((new.stat().st_size - old.stat().st_size) / old.stat().st_size * 100, 3),
    }
    assert [g["path"] for g in doc["growers"]] == ["demo/grows.bin"]  # --top 1
    assert doc["growers"][0]["delta"]["installed"] == 4_000
    assert doc["growers"][0]["old"]["path"] == "demo/grows.bin" and doc["growers"][0]["match"] == "exact"
    assert [f["path"] for f in doc["added"]] == ["demo/new.txt"] and doc["added"][0]["old"] is None
    assert [f["path"] for f in doc["removed"]] == ["demo/gone.py"] and doc["removed"][0]["new"] is None
    assert {"old": "demo-1.0.dist-info/WHEEL", "new": "demo-1.1.dist-info/WHEEL"} in doc["renamed"]
    assert doc["gate"]["limit"] == "50%" and doc["gate"]["exceeded"] is False
    assert {c["category"] for c in doc["categories"]} >= {"python", "data", "metadata"}
    assert "demo/" in {d["path"] for d in doc["directories"]["top"]}
    assert "by category" in out
    code, out, err = cli(str(old), str(new), "--json", "-")
    assert code == 0
    assert json.loads(out)["schema_version"] == 1  # the JSON alone on standard output
    assert "by category" in err  # the tables on standard error


LONG_DIR = "pkg/" + "/".join(f"a_rather_long_directory_name_{i}" for i in range(3))
ACCENTED = "pkg/données/résumé_é.txt"
CJK = "pkg/データ/ファイル.txt"


@pytest.fixture(scope="module")
def unicode_wheels(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("unicode")
    files = {ACCENTED: noise(3_000, 30), f"{LONG_DIR}/module_with_a_long_name.py": b"x = 1\n" * 500}
    old = SynthWheel(name="pkg", version="1.0", files=files).build(tmp / "o")
    more = {**files, ACCENTED: noise(9_000, 30), CJK: noise(2_000, 31), f"{LONG_DIR}/added.py": b"y = 2\n" * 900}
    new = SynthWheel(name="pkg", version="2.0", files=more).build(tmp / "n")
    return old, new


def _run_subprocess(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "slimwheel", "diff", *args],
        capture_output=True,
        env={**os.environ, **env},
        cwd=cwd,
        timeout=120,
    )


@pytest.mark.parametrize("encoding", ["cp1252", "utf-8"])
def test_80_columns_log_and_cp1252(encoding: str, unicode_wheels: tuple[Path, Path], tmp_path: Path) -> None:
    """Piped (not a terminal), 80 columns: every line fits unless it is a path alone; no path is wrapped;
    cp1252 shows what it can (é) and falls back for the rest (``?``, ``->``), without a traceback."""
    old, new = unicode_wheels
    proc = _run_subprocess(
        [str(old), str(new), "--max-growth", "1B", "--json", "d.json"],
        {"COLUMNS": "80", "PYTHONIOENCODING": encoding},
        tmp_path,
    )
    out, err = proc.stdout.decode(encoding), proc.stderr.decode(encoding)
    assert proc.returncode == 3, err
    assert "Traceback" not in err and "internal error" not in err
    assert len(err.splitlines()) == 1 and "over --max-growth 1B" in err
    doc = json.loads((tmp_path / "d.json").read_text("utf-8"))
    assert CJK in {f["path"] for f in doc["added"]}  # the JSON file is UTF-8 whatever the console
    shown_cjk = CJK if encoding == "utf-8" else "pkg/???/????.txt"  # cp1252 has no kana
    paths = [ACCENTED, shown_cjk, f"{LONG_DIR}/added.py", old.name, new.name]
    lines = out.splitlines()
    for p in paths:
        assert any(p in line for line in lines), (p, out)
    assert ("→" if encoding == "utf-8" else "->") in out
    for line in lines:
        stripped = line.strip().removeprefix("-> ").removeprefix("→ ")
        assert len(line.rstrip()) <= 80 or stripped in paths or "(was " in line, line


# ----------------------------------------------------------------------------------------------------------
# Directories of wheels
# ----------------------------------------------------------------------------------------------------------


def test_pair_wheels_by_project_then_platform() -> None:
    old = [
        "demo-1.0-py3-none-any.whl",
        "pkg-2.0-cp311-cp311-manylinux_2_28_x86_64.whl",
        "pkg-2.0-cp311-cp311-win_amd64.whl",
        "gone-1.0-py3-none-any.whl",
    ]
    new = [
        "Demo-1.1-py3-none-any.whl",
        "pkg-2.1-cp311-cp311-manylinux_2_28_x86_64.whl",
        "pkg-2.1-cp311-cp311-win_amd64.whl",
        "pkg-2.1-cp311-cp311-macosx_11_0_arm64.whl",
        "fresh-0.1-py3-none-any.whl",
    ]
    p = pair_wheels(old, new)
    assert p.pairs == (
        ("demo-1.0-py3-none-any.whl", "Demo-1.1-py3-none-any.whl"),
        ("pkg-2.0-cp311-cp311-manylinux_2_28_x86_64.whl", "pkg-2.1-cp311-cp311-manylinux_2_28_x86_64.whl"),
        ("pkg-2.0-cp311-cp311-win_amd64.whl", "pkg-2.1-cp311-cp311-win_amd64.whl"),
    )
    assert p.removed == ("gone-1.0-py3-none-any.whl",)
    assert p.added == ("fresh-0.1-py3-none-any.whl", "pkg-2.1-cp311-cp311-macosx_11_0_arm64.whl")


def test_directories_pair_wheels_and_gate_on_the_sums(
    versions: tuple[Path, Path], growing: tuple[Path, Path], tmp_path: Path, cli: Run
) -> None:
    old_dir, new_dir = tmp_path / "old", tmp_path / "new"
    old_dir.mkdir()
    new_dir.mkdir()
    for source, target in (
        (versions[0], old_dir),
        (growing[0], old_dir),
        (versions[1], new_dir),
        (growing[1], new_dir),
    ):
        (target / source.name).write_bytes(source.read_bytes())
    only_old = SynthWheel(name="gone", version="1.0", files={"gone.py": b"x = 1\n"}).build(old_dir)
    only_new = SynthWheel(name="fresh", version="0.1", files={"fresh.py": noise(7_000, 40)}).build(new_dir)
    old_total = sum(p.stat().st_size for p in old_dir.glob("*.whl"))
    new_total = sum(p.stat().st_size for p in new_dir.glob("*.whl"))
    growth = new_total - old_total
    assert growth > 0
    target = tmp_path / "d.json"
    code, out, err = cli(str(old_dir), str(new_dir), "--json", str(target), "--max-growth", str(growth))
    assert code == 0, err
    doc = json.loads(target.read_text("utf-8"))
    assert doc["schema_version"] == 1
    assert [(d["old"]["filename"], d["new"]["filename"]) for d in doc["diffs"]] == [
        (versions[0].name, versions[1].name),
        (growing[0].name, growing[1].name),
    ]
    assert [w["filename"] for w in doc["removed_wheels"]] == [only_old.name]
    assert [w["filename"] for w in doc["added_wheels"]] == [only_new.name]
    assert doc["totals"]["archive"]["old"] == old_total and doc["totals"]["archive"]["new"] == new_total
    assert doc["totals"]["wheels"] == {"old": 3, "new": 3, "delta": 0, "percent": 0.0}
    assert doc["gate"]["exceeded"] is False
    assert only_new.name in out and "total: 2 pairs compared, 1 removed, 1 added" in out
    code, _, err = cli(str(old_dir), str(new_dir), "--max-growth", str(growth - 1))
    assert code == 3 and "1 B over --max-growth" in err


# ----------------------------------------------------------------------------------------------------------
# Real wheels
# ----------------------------------------------------------------------------------------------------------


def _real(spec: wheelcache.RealWheel) -> Path:
    try:
        return wheelcache.fetch(spec)
    except wheelcache.DownloadFailed as exc:
        pytest.skip(str(exc))


def _check_sums(d: WheelDiff) -> None:
    for groups in (d.categories, d.top_directories):
        assert sum((g.old for g in groups), Amount()) == d.old.total
        assert sum((g.new for g in groups), Amount()) == d.new.total
    statuses = [f.status for f in d.files]
    in_both = sum(s in (Status.CHANGED, Status.UNCHANGED) for s in statuses)
    assert in_both + statuses.count(Status.REMOVED) == d.old.total.files
    assert in_both + statuses.count(Status.ADDED) == d.new.total.files


def test_numpy_across_platform_tags() -> None:
    linux, windows = _real(wheelcache.NUMPY_LINUX), _real(wheelcache.NUMPY_WIN64)
    d = _diff(linux, windows)
    _check_sums(d)
    pairs = {f.old.path: f.new.path for f in d.renamed if f.old and f.new}
    umath = "numpy/_core/_multiarray_umath"
    assert pairs[f"{umath}{LINUX_SO}"] == f"{umath}{WIN_PYD}"
    blas = [new for old, new in pairs.items() if old.startswith("numpy.libs/libscipy_openblas64_")]
    assert len(blas) == 1 and blas[0].endswith(".dll")
    exts = [p for p in pairs if p.endswith(LINUX_SO)]
    assert len(exts) >= 15
    assert not [f for f in d.with_status(Status.REMOVED) if f.path.endswith(LINUX_SO)]  # every extension matched
    assert d.old.archive == linux.stat().st_size and d.new.archive == windows.stat().st_size
    assert all(f.match == "exact" for f in d.files if f.path.endswith(".py"))


def test_numpy_across_versions() -> None:
    old, new = _real(NUMPY_126_LINUX), _real(wheelcache.NUMPY_LINUX)
    d = _diff(old, new)
    _check_sums(d)
    files = _by_path(d)
    assert files["numpy-2.4.6.dist-info/METADATA"] == (Status.CHANGED, "signature")
    for name in ("WHEEL", "RECORD"):
        assert files[f"numpy-2.4.6.dist-info/{name}"] == (Status.CHANGED, "signature")
    gone = {p: status for p, (status, _) in files.items() if p.startswith("numpy-1.26.4.dist-info/")}
    assert set(gone.values()) <= {Status.REMOVED}  # only files numpy 2 no longer has keep OLD's path
    # numpy 2 moved numpy/core to numpy/_core: the old files are removed, the new ones added
    assert any(f.path.startswith("numpy/core/") for f in d.with_status(Status.REMOVED))
    assert any(f.path.startswith("numpy/_core/") for f in d.with_status(Status.ADDED))
    doc = to_json(d, top=5)
    assert len(doc["growers"]) == 5 and len(doc["shrinkers"]) == 5  # type: ignore[arg-type]
    tops = {g.key for g in d.top_directories}
    assert {"numpy/", "numpy.libs/", "numpy-2.4.6.dist-info/"} <= tops
    assert "numpy-1.26.4.dist-info/" not in tops


def test_numpy_against_its_own_shrunk_output(shrunk: Callable[[wheelcache.RealWheel], object]) -> None:
    try:
        result = shrunk(wheelcache.NUMPY_LINUX)
    except wheelcache.DownloadFailed as exc:
        pytest.skip(str(exc))
    source, output, report = result.input, result.output, result.report  # type: ignore[attr-defined]
    d = _diff(source, output)
    _check_sums(d)
    assert d.with_status(Status.ADDED) == [] and d.renamed == [] and d.ambiguous == ()
    assert {f.path for f in d.with_status(Status.REMOVED)} == {r.path for r in report.removed}
    assert d.old.archive == report.before.archive and d.new.archive == report.after.archive
    assert d.new.total.installed == report.after.total.installed
    stripped = {s.path: s for s in report.stripped}
    for f in d.with_status(Status.CHANGED):
        if f.path in stripped:
            assert f.delta(Measure.INSTALLED) == -stripped[f.path].saved
    assert d.growers(Measure.INSTALLED) == [f for f in d.growers(Measure.INSTALLED) if f.path.endswith("RECORD")]
    verdict = gate(d, parse_limit("0"))
    assert not verdict.exceeded and verdict.growth < 0
