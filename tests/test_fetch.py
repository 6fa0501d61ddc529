"""Fetching: real pip downloads for foreign platforms, and real source builds of a tiny C extension made here.

The downloads need the package index (PyPI); the source builds need ``gcc`` (and the index, for setuptools in
pip's isolated build environment).
"""

from __future__ import annotations

import io
import json
import platform
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile
from packaging.tags import Tag, sys_tags
from packaging.utils import parse_wheel_filename

from slimwheel.errors import ExitCode
from slimwheel.fetch import FetchError, build_from_source, download, obtain
from slimwheel.recipe import HOST_PYTHON, PLATFORMS, LocalWheel, PlatformRecipe, ProjectSpec, SourceBuild
from slimwheel.tags import runs_here, target_tags, wheel_fits, wheel_runs_here

HOST_IS_LINUX_X86_64 = sys.platform == "linux" and platform.machine() == "x86_64"
needs_gcc = pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc to compile a C extension")
needs_linux_x86_64 = pytest.mark.skipif(not HOST_IS_LINUX_X86_64, reason="builds and runs a linux_x86_64 wheel")


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("downloads")


def platforms_of(wheel: Path) -> set[str]:
    return {tag.platform for tag in parse_wheel_filename(wheel.name)[3]}


# ------------------------------------------------------------------------------------------------- downloads


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("win32", {"win32"}),
        ("win_amd64", {"win_amd64"}),
        ("linux_x86_64", {"manylinux_2_17_x86_64", "manylinux2014_x86_64"}),
    ],
)
def test_download_a_binary_wheel_for_a_platform(cache: Path, target: str, expected: set[str]) -> None:
    wheel = download(ProjectSpec("markupsafe", "==3.0.2"), target, "3.11", cache / target)
    assert wheel.parent == cache / target and wheel.is_file()
    name, version, _, tags = parse_wheel_filename(wheel.name)
    assert (name, str(version)) == ("markupsafe", "3.0.2")
    assert {(t.interpreter, t.abi) for t in tags} == {("cp311", "cp311")}
    assert platforms_of(wheel) == expected
    assert zipfile.ZipFile(wheel).testzip() is None
    assert wheel_fits(wheel, target, "3.11")
    assert not wheel_fits(wheel, target, "3.12")
    assert wheel_runs_here(wheel) == (target == "linux_x86_64" and HOST_IS_LINUX_X86_64 and HOST_PYTHON == "3.11")


def test_a_downloaded_wheel_is_reused(cache: Path) -> None:
    dest = cache / "reuse"
    first = download(ProjectSpec("markupsafe", "==3.0.2"), "win_amd64", "3.11", dest)
    stat = first.stat()
    again = download(ProjectSpec("markupsafe", "==3.0.2"), "win_amd64", "3.11", dest)
    assert again == first
    assert (again.stat().st_mtime_ns, again.stat().st_ino) == (stat.st_mtime_ns, stat.st_ino)  # not downloaded again
    other = download(ProjectSpec("markupsafe", "==3.0.2"), "win32", "3.11", dest)  # same directory, other platform
    assert other != first and platforms_of(other) == {"win32"}
    assert sorted(p.name for p in dest.iterdir()) == sorted([first.name, other.name])  # no logs when all went well


def test_a_pure_wheel_fits_every_platform(cache: Path) -> None:
    wheel = download(ProjectSpec("six", "==1.17.0"), "win32", "3.11", cache / "pure")
    assert wheel.name == "six-1.17.0-py2.py3-none-any.whl"
    assert all(wheel_fits(wheel, p, "3.11") for p in PLATFORMS)
    assert wheel_runs_here(wheel)


def test_nothing_matches(cache: Path) -> None:
    dest = cache / "nothing"
    with pytest.raises(FetchError) as info:
        download(ProjectSpec("markupsafe", "==99.0"), "win32", "3.11", dest)
    log = dest / "pip-download-markupsafe-win32-py311.log"
    assert info.value.message == (
        "pip download markupsafe==99.0 for win32 (Python 3.11) failed: "
        f"No matching distribution found for markupsafe==99.0 (full log: {log})"
    )
    assert "\n" not in str(info.value) and info.value.exit_code == ExitCode.BAD_INPUT
    text = log.read_text()
    assert "--platform win32" in text and "--abi cp311" in text and "Could not find a version" in text
    # markupsafe 3.0.2 has no wheel for CPython 3.5
    with pytest.raises(FetchError, match=r"^pip download markupsafe==3\.0\.2 for win32 \(Python 3\.5\) failed: No "):
        download(ProjectSpec("markupsafe", "==3.0.2"), "win32", "3.5", dest)


def test_obtain_a_project_and_a_local_wheel(cache: Path, tmp_path: Path) -> None:
    def recipe(package: ProjectSpec | LocalWheel, target: str, python: str = "3.11") -> PlatformRecipe:
        return PlatformRecipe("demo", tmp_path / "demo.toml", target, python, package)

    wheel = obtain(recipe(ProjectSpec("markupsafe", "==3.0.2"), "win32"), cache / "win32")
    assert platforms_of(wheel) == {"win32"}
    assert obtain(recipe(LocalWheel(wheel), "win32"), tmp_path / "unused") == wheel
    assert not (tmp_path / "unused").exists()
    with pytest.raises(FetchError) as info:
        obtain(recipe(LocalWheel(wheel), "win_amd64"), tmp_path)
    assert info.value.message == (
        f"demo for win_amd64: {wheel.name} (cp311-cp311-win32) is not for win_amd64 and CPython 3.11"
    )
    with pytest.raises(FetchError, match=r"is not for win32 and CPython 3\.12$"):
        obtain(recipe(LocalWheel(wheel), "win32", "3.12"), tmp_path)
    missing = tmp_path / "six-1.0-py3-none-any.whl"
    with pytest.raises(FetchError) as info:
        obtain(recipe(LocalWheel(missing), "win32"), tmp_path)
    assert info.value.message == f"demo for win32: the wheel {missing} does not exist"


# ------------------------------------------------------------------------------------------------ platforms


def test_target_tags() -> None:
    win32 = target_tags("win32", "3.11")
    assert {Tag("cp311", "cp311", "win32"), Tag("cp311", "abi3", "win32"), Tag("cp38", "abi3", "win32")} <= win32
    assert Tag("py3", "none", "any") in win32
    assert Tag("cp312", "cp312", "win32") not in win32 and Tag("cp311", "cp311", "win_amd64") not in win32
    linux = target_tags("linux_x86_64", "3.12")
    for plat in ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64", "manylinux1_x86_64"):
        assert Tag("cp312", "cp312", plat) in linux
    assert Tag("cp312", "cp312", "manylinux_2_34_x86_64") not in linux  # newer than the devices' glibc
    mac = target_tags("macosx_arm64", "3.11")
    assert Tag("cp311", "cp311", "macosx_11_0_universal2") in mac
    assert Tag("cp311", "cp311", "macosx_14_0_arm64") not in mac


def test_runs_here() -> None:
    host = {tag.platform for tag in sys_tags()}
    assert runs_here("linux_x86_64") == HOST_IS_LINUX_X86_64
    assert runs_here("win32") == ("win32" in host)
    assert runs_here("win_amd64") == ("win_amd64" in host)
    assert runs_here("linux_aarch64") == (sys.platform == "linux" and platform.machine() == "aarch64")
    assert sum(runs_here(p) for p in PLATFORMS) <= 2  # pure wheels run anywhere; they do not count


# ---------------------------------------------------------------------------------------------- source builds

BACKEND = '''\
"""setuptools, recording the config settings it was given into the wheel."""
import json
from pathlib import Path

from setuptools import build_meta as _setuptools
from setuptools.build_meta import *  # noqa: F403


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    settings = dict(config_settings or {})
    mine = {key: settings.pop(key) for key in list(settings) if key.startswith("tinyext-")}
    Path("tinyext", "_config_settings.json").write_text(json.dumps(mine, sort_keys=True))
    return _setuptools.build_wheel(wheel_directory, settings or None, metadata_directory)
'''

SPEED_C = """\
#include <Python.h>
#ifndef TINYEXT_MARK
#define TINYEXT_MARK 0
#endif
static PyObject *mark(PyObject *self, PyObject *args) { return PyLong_FromLong(TINYEXT_MARK); }
static PyMethodDef methods[] = {{"mark", mark, METH_NOARGS, NULL}, {NULL, NULL, 0, NULL}};
static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_speed", NULL, -1, methods};
PyMODINIT_FUNC PyInit__speed(void) { return PyModule_Create(&module); }
"""


def make_sdist(directory: Path, version: str = "0.1", c_source: str = SPEED_C) -> Path:
    """tinyext-VERSION.tar.gz: a package with one C extension, built by setuptools behind an in-tree backend."""
    root = f"tinyext-{version}"
    files = {
        "pyproject.toml": '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "recording_backend"\n'
        'backend-path = ["_backend"]\n',
        "_backend/recording_backend.py": BACKEND,
        "setup.py": "from setuptools import Extension, setup\n"
        f'setup(name="tinyext", version="{version}", packages=["tinyext"],\n'
        '      package_data={"tinyext": ["_config_settings.json"]},\n'
        '      ext_modules=[Extension("tinyext._speed", ["src/speed.c"])])\n',
        "tinyext/__init__.py": "",
        "src/speed.c": c_source,
        "PKG-INFO": f"Metadata-Version: 2.1\nName: tinyext\nVersion: {version}\n",
    }
    sdist = directory / f"{root}.tar.gz"
    with tarfile.open(sdist, "w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{root}/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return sdist


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny sdist built once, with CFLAGS (no debug info, a define) and config settings."""
    if shutil.which("gcc") is None:
        pytest.skip("needs gcc to compile a C extension")
    work = tmp_path_factory.mktemp("source")
    build = SourceBuild(
        requirement=None,
        sdist=make_sdist(work),
        env={"CFLAGS": "-g0 -Os -DTINYEXT_MARK=42"},
        config_settings={"tinyext-flavour": "tiny", "tinyext-defines": ("A=1", "B=2")},
    )
    return build_from_source(build, work / "out")


@needs_gcc
@needs_linux_x86_64
def test_build_from_source_with_env_and_config_settings(built: Path, tmp_path: Path) -> None:
    name, version, _, tags = parse_wheel_filename(built.name)
    assert (name, str(version)) == ("tinyext", "0.1")
    assert {(t.interpreter, t.platform) for t in tags} == {(f"cp{HOST_PYTHON.replace('.', '')}", "linux_x86_64")}
    assert wheel_runs_here(built) and wheel_fits(built, "linux_x86_64", HOST_PYTHON)
    with zipfile.ZipFile(built) as zf:
        (ext,) = [n for n in zf.namelist() if n.endswith(".so")]
        data = zf.read(ext)
        recorded = json.loads(zf.read("tinyext/_config_settings.json"))
        zf.extractall(tmp_path / "site")
    assert data[:4] == b"\x7fELF"
    # the config settings reached the backend, a repeated key as a list
    assert recorded == {"tinyext-defines": ["A=1", "B=2"], "tinyext-flavour": "tiny"}
    # the env reached the compiler: this interpreter compiles extensions with -g, the recipe's -g0 won ...
    assert "-g" in (sysconfig.get_config_var("CFLAGS") or "").split()
    with open(tmp_path / "site" / ext, "rb") as fh:
        sections = {s.name for s in ELFFile(fh).iter_sections()}
    assert ".text" in sections and not any(s.startswith(".debug_") for s in sections)
    # ... and so did the define
    out = subprocess.run(
        [sys.executable, "-c", "import tinyext._speed as s; print(s.mark())"],
        cwd=tmp_path / "site",
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "42"


@needs_gcc
@needs_linux_x86_64
def test_obtain_a_source_build(tmp_path: Path) -> None:
    """obtain() builds a local sdist for the platform that runs here (the wheel lands in the destination)."""
    sdist = make_sdist(tmp_path, version="0.3")
    recipe = PlatformRecipe("tiny", tmp_path / "tiny.toml", "linux_x86_64", HOST_PYTHON, SourceBuild(None, sdist))
    wheel = obtain(recipe, tmp_path / "out")
    assert wheel.parent == tmp_path / "out" and wheel.name.startswith("tinyext-0.3-")
    with zipfile.ZipFile(wheel) as zf:
        assert json.loads(zf.read("tinyext/_config_settings.json")) == {}
    # a recipe for another Python version than the one building: the wheel doesn't fit, and obtain says so
    other = "3.12" if HOST_PYTHON != "3.12" else "3.13"
    with pytest.raises(FetchError, match=rf"is not for linux_x86_64 and CPython {other}$"):
        obtain(PlatformRecipe("tiny", tmp_path / "tiny.toml", "linux_x86_64", other, recipe.package), tmp_path / "o2")


def test_a_source_build_is_refused_for_a_foreign_platform(tmp_path: Path) -> None:
    sdist = tmp_path / "tinyext-0.1.tar.gz"
    foreign = next(p for p in ("win32", "win_amd64", "linux_aarch64") if not runs_here(p))
    recipe = PlatformRecipe("tiny", tmp_path / "tiny.toml", foreign, HOST_PYTHON, SourceBuild(None, sdist))
    with pytest.raises(FetchError) as info:
        obtain(recipe, tmp_path / "out")
    assert info.value.message == (
        f"tiny for {foreign}: a source build makes a wheel for this machine, which can't run {foreign} wheels; "
        f"build on a {foreign} machine, name a cross-file for it, or use project or wheel for it"
    )
    assert not (tmp_path / "out").exists()


@needs_gcc
def test_a_failing_build_is_one_line_with_the_compiler_error(tmp_path: Path) -> None:
    sdist = make_sdist(tmp_path, version="0.2", c_source=SPEED_C + "this is not C;\n")
    with pytest.raises(FetchError) as info:
        build_from_source(SourceBuild(None, sdist), tmp_path / "out")
    log = tmp_path / "out" / "pip-wheel-tinyext.log"
    message = info.value.message
    assert message.startswith(f"pip wheel {sdist} failed: ")
    assert "first compiler error: src/speed.c:9:1: error: unknown type name" in message
    assert message.endswith(f"(full log: {log})") and "\n" not in str(info.value)
    assert "this is not C" in log.read_text()


def test_build_from_a_requirement_on_the_index(tmp_path: Path) -> None:
    """Only the project itself is built from source (--no-binary NAME): its build tools come as wheels."""
    build = SourceBuild("six==1.17.0", None, {"SOURCE_DATE_EPOCH": "1000000000"}, {})
    wheel = build_from_source(build, tmp_path / "out")
    assert wheel == tmp_path / "out" / "six-1.17.0-py2.py3-none-any.whl"
    # built here, not the wheel from the index: the build honoured the recipe's SOURCE_DATE_EPOCH (2001-09-09)
    assert {info.date_time for info in zipfile.ZipFile(wheel).infolist()} == {(2001, 9, 9, 1, 46, 40)}
    with pytest.raises(FetchError) as info:
        build_from_source(SourceBuild(None, tmp_path / "missing-1.0.tar.gz"), tmp_path / "out")
    assert info.value.message == f"can't build {tmp_path / 'missing-1.0.tar.gz'}: it does not exist"
