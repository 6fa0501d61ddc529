"""``--debug-symbols DIR`` (and ``--debuglink``): the debug symbols of stripped ELF files kept on the side, where gdb
and debuginfod look them up, while the wheels stay byte for byte what they are without the flag.

gdb is the judge: ``info line FUNCTION`` of a static function in the stripped library fails without the debug file
and names a source line with it (``set debug-file-directory DIR`` for the build-id tree; beside the library for a
``.gnu_debuglink``). The real wheel is MarkupSafe 2.1.5 for manylinux2014 x86-64 (28 kB): its
``_speedups`` extension ships DWARF and a build-id, as wheels built by setuptools in the manylinux images do. It is
downloaded once into the test wheel cache; a download failure skips on a developer's machine and fails in CI
(:func:`wheelcache.missing`); so does a missing gdb.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sysconfig
import zipfile
from pathlib import Path

import pytest
import wheelcache
from synth import EXT_SUFFIX, EXTENSION_SOURCE, SynthWheel, compile_extension, native_tag
from wheelcache import DownloadFailed, RealWheel

from slimwheel import cli
from slimwheel.binaries import (
    DebugRequest,
    FileView,
    StripLevel,
    StripStatus,
    build_id,
    find_objcopy_tools,
    strip_file,
)
from slimwheel.debugsyms import _archive_relative, _write
from slimwheel.errors import OutputError, UsageError
from slimwheel.options import RulesOnly, ShrinkOptions
from slimwheel.report import WheelReport, to_json
from slimwheel.shrink import run

MARKUPSAFE = RealWheel("markupsafe", "2.1.5", "manylinux_2_17_x86_64")
EXT = f"dbgdemo/_speedups{EXT_SUFFIX}"
LINE = re.compile(r'^Line \d+ of "', re.MULTILINE)

pytestmark = pytest.mark.skipif(not shutil.which("gcc"), reason="needs gcc")


def _need(tool: str) -> None:
    """Skip without ``tool`` on a developer's machine; fail in CI, which installs it (``.ci/run``)."""
    if shutil.which(tool) is None:
        if wheelcache.in_ci():
            pytest.fail(f"{tool} is not installed (CI is set: .ci/run installs it)", pytrace=False)
        pytest.skip(f"{tool} is not installed")


def gdb_info_line(library: Path, function: str, debug_dir: Path) -> str:
    """What ``info line FUNCTION`` says about ``library`` with ``debug_dir`` as gdb's debug-file-directory."""
    _need("gdb")
    setting, command = f"set debug-file-directory {debug_dir}", f"info line {function}"
    proc = subprocess.run(
        ["gdb", "-nx", "-batch", "-iex", setting, "-ex", command, str(library)],
        capture_output=True,
        text=True,
        errors="replace",
        timeout=120,
    )
    return proc.stdout + proc.stderr


def member(wheel: Path, path: str, dest: Path) -> Path:
    """``path`` of ``wheel`` written to ``dest/<its file name>``."""
    dest.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel) as zf:
        out = dest / Path(path).name
        out.write_bytes(zf.read(path))
    return out


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def ext_wheel(tmp: Path, library: Path, extra: dict[str, bytes] | None = None) -> Path:
    files = {"dbgdemo/__init__.py": b"from dbgdemo._speedups import add\n", EXT: library.read_bytes()}
    wheel = SynthWheel(name="dbgdemo", tag=native_tag(), purelib=False, files={**files, **(extra or {})})
    return wheel.build(tmp / "dist")


def shrink(wheel: Path, out: Path, **options: object) -> WheelReport:
    out.mkdir(parents=True, exist_ok=True)
    return run([wheel], out, ShrinkOptions(**options), RulesOnly())[0]  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def ext(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return compile_extension(tmp_path_factory.mktemp("ext"))  # -g, with gcc's default --build-id


@pytest.fixture(scope="module")
def dbg_wheel(ext: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ext_wheel(tmp_path_factory.mktemp("wheel"), ext)


# ---- the build-id tree ----------------------------------------------------------------------------------------


def test_synthetic_extension_through_the_command_line(
    dbg_wheel: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli.main(["shrink", str(dbg_wheel), "-w", "plain", "--no-project"]) == 0
    argv = ["shrink", str(dbg_wheel), "-w", "out", "--debug-symbols", "dbg", "--json", "r.json", "--no-project"]
    capsys.readouterr()
    assert cli.main(argv) == 0
    human = capsys.readouterr().out
    out, plain = tmp_path / "out" / dbg_wheel.name, tmp_path / "plain" / dbg_wheel.name
    assert sha256(out) == sha256(plain)  # the wheel is the same with and without --debug-symbols

    stripped = member(out, EXT, tmp_path / "lib")
    with FileView(stripped) as view:  # a debuginfod-style lookup: the build-id of the shipped file names the path
        bid = build_id(view)
    assert bid is not None and re.fullmatch(r"[0-9a-f]{40}", bid)
    notes = subprocess.run(["readelf", "-n", str(stripped)], capture_output=True, text=True, errors="replace").stdout
    assert f"Build ID: {bid}" in notes
    debug_file = tmp_path / "dbg" / ".build-id" / bid[:2] / f"{bid[2:]}.debug"
    assert debug_file.is_file()

    assert "not defined" in gdb_info_line(stripped, "demo_add", tmp_path / "empty")
    assert LINE.search(gdb_info_line(stripped, "demo_add", tmp_path / "dbg"))

    report = json.loads((tmp_path / "r.json").read_text())["wheels"][0]
    assert report["debug_symbols"] == {
        "dir": "dbg",
        "files": [
            {
                "path": EXT,
                "debug_file": f".build-id/{bid[:2]}/{bid[2:]}.debug",
                "build_id": bid,
                "size": debug_file.stat().st_size,
            }
        ],
    }
    assert re.search(r"debug symbols kept in dbg: 1 file \([\d.]+ kB\)", human)
    assert "warning" not in human


def test_no_key_without_the_flag(dbg_wheel: Path, tmp_path: Path) -> None:
    report = shrink(dbg_wheel, tmp_path)
    assert report.debug_symbols is None
    assert "debug_symbols" not in to_json([report])["wheels"][0]  # type: ignore[index]


def test_real_wheel_from_pypi(tmp_path: Path) -> None:
    try:
        wheel = wheelcache.fetch(MARKUPSAFE)
    except DownloadFailed as exc:  # pragma: no cover - offline machine without a warm cache
        pytest.skip(str(exc))
    so = "markupsafe/_speedups.cpython-311-x86_64-linux-gnu.so"
    kept = shrink(wheel, tmp_path / "out", debug_symbols=tmp_path / "dbg")
    plain = shrink(wheel, tmp_path / "plain")
    assert [s.path for s in kept.stripped] == [so]
    assert sha256(Path(str(kept.output))) == sha256(Path(str(plain.output)))
    assert kept.debug_symbols is not None
    (entry,) = kept.debug_symbols.files
    assert entry.build_id == "d5a4efd6f9875f9433a7a19207ca06189a0f6db1"  # readelf -n of the original
    assert (tmp_path / "dbg" / entry.debug_file).is_file()
    stripped = member(Path(str(kept.output)), so, tmp_path / "lib")
    assert "not defined" in gdb_info_line(stripped, "escape_unicode", tmp_path / "empty")
    assert LINE.search(gdb_info_line(stripped, "escape_unicode", tmp_path / "dbg"))


# ---- --debuglink ------------------------------------------------------------------------------------------------


def test_debuglink_is_verified_and_gdb_follows_it(dbg_wheel: Path, tmp_path: Path) -> None:
    report = shrink(dbg_wheel, tmp_path / "out", debug_symbols=tmp_path / "dbg", debuglink=True)
    (stripped_entry,) = report.stripped
    assert stripped_entry.how.endswith(" + .gnu_debuglink")  # the verifier accepted the linked file
    stripped = member(Path(str(report.output)), EXT, tmp_path / "lib")
    dump = subprocess.run(
        ["readelf", "-p", ".gnu_debuglink", str(stripped)], capture_output=True, text=True, errors="replace"
    ).stdout
    assert f"_speedups{EXT_SUFFIX}.debug" in dump
    assert report.debug_symbols is not None
    kept = tmp_path / "dbg" / report.debug_symbols.files[0].debug_file
    # No build-id lookup (an empty debug-file-directory): only the link, whose CRC gdb checks, can find it.
    assert "not defined" in gdb_info_line(stripped, "demo_add", tmp_path / "empty")
    shutil.copyfile(kept, stripped.with_name(f"_speedups{EXT_SUFFIX}.debug"))
    assert LINE.search(gdb_info_line(stripped, "demo_add", tmp_path / "empty"))


def test_debuglink_needs_debug_symbols(dbg_wheel: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli.main(["shrink", str(dbg_wheel), "-w", "out", "--debuglink", "--no-project"]) == 2
    assert not (tmp_path / "out").exists()


# ---- files without a build-id, refused strips, removed debug files -------------------------------------------------


def test_no_build_id_goes_by_name_and_sha256_with_a_warning(tmp_path: Path) -> None:
    src = tmp_path / "ext.c"
    src.write_text(EXTENSION_SOURCE.replace("@MODULE@", "_speedups"))
    library = tmp_path / f"_speedups{EXT_SUFFIX}"
    flags = ["-shared", "-fPIC", "-g", "-O1", "-Wl,--build-id=none", f"-I{sysconfig.get_paths()['include']}"]
    subprocess.run(["gcc", *flags, str(src), "-o", str(library)], check=True)
    with FileView(library) as view:
        assert build_id(view) is None
    report = shrink(ext_wheel(tmp_path, library), tmp_path / "out", debug_symbols=tmp_path / "dbg")
    shipped = member(Path(str(report.output)), EXT, tmp_path / "lib")
    name = f"_speedups{EXT_SUFFIX}-{sha256(shipped)[:16]}.debug"
    assert report.debug_symbols is not None
    assert [(f.path, f.debug_file, f.build_id) for f in report.debug_symbols.files] == [(EXT, name, None)]
    assert (tmp_path / "dbg" / name).is_file() and not (tmp_path / "dbg" / ".build-id").exists()
    assert any(w.startswith(f"{EXT} has no GNU build-id") and name in w for w in report.warnings)


@pytest.mark.parametrize("link", [False, True])
def test_a_refused_strip_keeps_no_debug_file(
    dbg_wheel: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, link: bool
) -> None:
    """The verifier refuses every output: the original ships, and no debug file is written (with ``--debuglink``
    one was made for the link's CRC, in the working directory: it must not reach DIR either)."""
    import slimwheel.binaries.stripping as stripping

    monkeypatch.setattr(stripping, "verify_stripped", lambda original, stripped: "refused by the test")
    report = shrink(dbg_wheel, tmp_path / "out", debug_symbols=tmp_path / "dbg", debuglink=link)
    assert not report.stripped and report.skipped[0].reason.startswith("reverted:")
    assert report.debug_symbols is not None and report.debug_symbols.files == []
    assert not [p for p in (tmp_path / "dbg").rglob("*") if p.is_file()]


@pytest.mark.parametrize("refused", [False, True])
def test_strip_file_makes_a_debug_file_only_for_a_verified_strip(
    ext: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, refused: bool
) -> None:
    import slimwheel.binaries.stripping as stripping

    if refused:
        monkeypatch.setattr(stripping, "verify_stripped", lambda original, stripped: "refused by the test")
    request = DebugRequest(find_objcopy_tools())
    result = strip_file(ext, EXT, StripLevel.UNNEEDED, tmp_path, debug=request)
    assert (result.status is StripStatus.STRIPPED) is not refused
    assert (result.debug is None) is refused
    if result.debug is not None:
        with FileView(ext) as view:
            assert result.debug.build_id == build_id(view) and result.debug.path.is_file()


def test_removed_debug_files_are_copied_under_their_archive_path(ext: Path, tmp_path: Path) -> None:
    objcopy = find_objcopy_tools()[0]
    elf_debug = tmp_path / "ext.debug"
    subprocess.run([objcopy, "--only-keep-debug", str(ext), str(elf_debug)], check=True)
    extra = {
        "dbgdemo/_speedups.pdb": b"Microsoft C/C++ MSF 7.00\r\n\x1aDS" + bytes(range(200)),
        "dbgdemo/.debug/_speedups.so.debug": elf_debug.read_bytes(),
        "dbgdemo/obj/speedups.dwo": b"\x7fELF" + b"\0" * 60,
    }
    wheel = ext_wheel(tmp_path, ext, extra)
    report = shrink(wheel, tmp_path / "out", debug_symbols=tmp_path / "dbg")
    assert {r.path for r in report.removed} >= set(extra)
    assert report.debug_symbols is not None
    kept = {f.path: f for f in report.debug_symbols.files}
    for path, data in extra.items():
        assert kept[path].debug_file == path and (tmp_path / "dbg" / path).read_bytes() == data
    with FileView(ext) as view:
        assert kept["dbgdemo/.debug/_speedups.so.debug"].build_id == build_id(view)
    assert kept["dbgdemo/_speedups.pdb"].build_id is None
    with zipfile.ZipFile(str(report.output)) as zf:
        assert not set(extra) & set(zf.namelist())


def test_dry_run_writes_nothing(dbg_wheel: Path, tmp_path: Path) -> None:
    report = run([dbg_wheel], None, ShrinkOptions(debug_symbols=tmp_path / "dbg"), RulesOnly())[0]
    assert report.debug_symbols is not None and not report.debug_symbols.written
    assert len(report.debug_symbols.files) == 1 and not (tmp_path / "dbg").exists()


def test_no_objcopy_is_a_usage_error(dbg_wheel: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import slimwheel.strip

    monkeypatch.setattr(slimwheel.strip, "find_objcopy_tools", lambda: ())
    with pytest.raises(UsageError, match="--debug-symbols needs objcopy"):
        shrink(dbg_wheel, tmp_path / "out", debug_symbols=tmp_path / "dbg")


# ---- names stay inside DIR ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "inside"),
    [
        ("pkg/x.pdb", "pkg/x.pdb"),
        ("../../etc/x.debug", "etc/x.debug"),
        ("/abs/./x.dwo", "abs/x.dwo"),
        ("a\\..\\b:c.pdb", "a_.._b_c.pdb"),
        ("../..", None),
    ],
)
def test_archive_paths_are_sanitized(path: str, inside: str | None) -> None:
    assert _archive_relative(path) == inside


def test_a_symlink_inside_dir_does_not_lead_out(tmp_path: Path) -> None:
    directory, outside = tmp_path / "dbg", tmp_path / "outside"
    directory.mkdir()
    outside.mkdir()
    (directory / "pkg").symlink_to(outside)
    with pytest.raises(OutputError, match="leads outside"):
        _write(directory, "pkg/sub/x.pdb", [b"data"])
    assert list(outside.iterdir()) == []
    _write(directory, "other/x.pdb", [b"data"])  # atomically: no temporary file left behind
    assert [p.name for p in (directory / "other").iterdir()] == ["x.pdb"]
    assert (directory / "other" / "x.pdb").stat().st_mode & 0o777 == 0o644
