"""Cross builds: a recipe's ``cross-file`` makes ``slimwheel build`` compile a source tree for linux_aarch64 on this
x86-64 machine (slimwheel.crossbuild), and the wheel it writes runs under emulation.

The project is a small meson-python one with a real C extension (what numpy's no-BLAS build does at scale, in 8
minutes; this one takes seconds). Skipped, with the reason, where the cross compiler, qemu-user or Debian's arm64
packages can't be had; with ``CI`` set (``.ci/run`` installs them) a missing piece fails instead.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import wheelcache
from synth import demo_wheel

from slimwheel.crossbuild import CrossBuildError, retag
from slimwheel.emulator import EmulatorError
from slimwheel.emulator import prepare as prepare_emulator
from slimwheel.fetch import FetchError, obtain
from slimwheel.recipe import load_recipe

REPO = Path(__file__).resolve().parent.parent
CROSS_FILE = REPO / "recipes" / "cross" / "aarch64-linux-gnu-py3.11.ini"
CACHE = wheelcache.CACHE.parent / "emulation"  # shared with test_emulation.py: the emulator and the cross root

PYPROJECT = """\
[build-system]
requires = ["meson-python>=0.15"]
build-backend = "mesonpy"

[project]
name = "fastmod"
version = "1.0"
"""
MESON_BUILD = """\
project('fastmod', 'c', version: '1.0')
py = import('python').find_installation(pure: false)
py.extension_module('_fast', 'fastmod/_fast.c', install: true, subdir: 'fastmod')
py.install_sources('fastmod/__init__.py', subdir: 'fastmod')
"""
SOURCE = """\
#include <Python.h>
static PyObject *add(PyObject *self, PyObject *args) {
    long a, b;
    if (!PyArg_ParseTuple(args, "ll", &a, &b)) return NULL;
    return PyLong_FromLong(a + b);
}
static PyObject *machine(PyObject *self, PyObject *args) {
#if defined(__aarch64__)
    return PyUnicode_FromString("aarch64");
#else
    return PyUnicode_FromString("other");
#endif
}
static PyMethodDef methods[] = {
    {"add", add, METH_VARARGS, NULL}, {"machine", machine, METH_NOARGS, NULL}, {NULL, NULL, 0, NULL}};
static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_fast", NULL, -1, methods};
PyMODINIT_FUNC PyInit__fast(void) { return PyModule_Create(&module); }
"""


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"cross builds are required in CI: {reason}")
    pytest.skip(reason)


def _project(tmp: Path) -> Path:
    project = tmp / "fastmod-src"
    (project / "fastmod").mkdir(parents=True)
    (project / "pyproject.toml").write_text(PYPROJECT, encoding="utf-8")
    (project / "meson.build").write_text(MESON_BUILD, encoding="utf-8")
    (project / "fastmod" / "__init__.py").write_text("from ._fast import add, machine\n", encoding="utf-8")
    (project / "fastmod" / "_fast.c").write_text(SOURCE, encoding="utf-8")
    return project


def _recipe(tmp: Path, platform_name: str = "linux_aarch64") -> Path:
    recipe = tmp / "fastmod.toml"
    recipe.write_text(
        f'name = "fastmod"\npython-version = "3.11"\nplatforms = ["{platform_name}"]\n\n[package.source]\n'
        f'sdist = "fastmod-src"\ncross-file = {json.dumps(str(CROSS_FILE))}\n',
        encoding="utf-8",
    )
    return recipe


def test_a_cross_built_wheel_is_aarch64_and_runs_under_emulation(tmp_path: Path) -> None:
    if sys.platform != "linux" or platform.machine() != "x86_64" or sys.version_info[:2] != (3, 11):
        pytest.skip("cross builds run on x86-64 Linux under CPython 3.11 (the recipe's Python)")
    if shutil.which("aarch64-linux-gnu-gcc") is None:
        _unavailable("aarch64-linux-gnu-gcc not found (apt-get install gcc-aarch64-linux-gnu g++-aarch64-linux-gnu)")
    if shutil.which("qemu-aarch64-static") is None:
        _unavailable("qemu-aarch64-static not found (apt-get install qemu-user-static)")
    try:
        python = prepare_emulator("aarch64", "3.11", CACHE).python
    except EmulatorError as exc:
        _unavailable(f"can't prepare the arm64 sysroot: {exc}")
    _project(tmp_path)
    command = [sys.executable, "-m", "slimwheel", "build", str(_recipe(tmp_path)), "--cache-dir", str(CACHE)]
    command += ["-w", str(tmp_path / "out"), "--json", str(tmp_path / "build.json")]
    proc = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (wheel,) = (tmp_path / "out").glob("*.whl")
    assert wheel.name == "fastmod-1.0-cp311-cp311-linux_aarch64.whl"
    with zipfile.ZipFile(wheel) as archive:
        assert "Tag: cp311-cp311-linux_aarch64" in archive.read("fastmod-1.0.dist-info/WHEEL").decode()
        extension = archive.read("fastmod/_fast.cpython-311-aarch64-linux-gnu.so")
    assert extension[:4] == b"\x7fELF" and int.from_bytes(extension[18:20], "little") == 183  # EM_AARCH64
    unpacked = subprocess.run([sys.executable, "-m", "wheel", "unpack", "-d", str(tmp_path / "u"), str(wheel)])
    assert unpacked.returncode == 0  # RECORD (rewritten by the re-tag, then by the writer) matches

    # installed for aarch64 by the host's pip, then imported and called by the emulated CPython
    site = tmp_path / "site"
    pip = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--only-binary=:all:", "--platform"]
    pip += ["linux_aarch64", "--python-version", "3.11", "--target", str(site), str(wheel)]
    subprocess.run(pip, check=True)
    run = subprocess.run(
        [str(python), "-c", "import fastmod; print(fastmod.add(2, 40), fastmod.machine())"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(site)},
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["42", "aarch64"]


def test_retag_refuses_a_wheel_not_built_for_the_target(tmp_path: Path) -> None:
    """A cross file that was not used gives an x86-64 extension: never re-tagged aarch64, one line instead."""
    wheel = demo_wheel(tmp_path, with_extension=True).build(tmp_path / "dist")
    with pytest.raises(CrossBuildError) as info:
        retag(wheel, "aarch64", "linux_aarch64")
    assert "not built for aarch64 (demo/_speedups.cpython-311-x86_64-linux-gnu.so" in info.value.message
    assert "was the cross file used?" in info.value.message and "\n" not in info.value.message
    assert wheel.is_file()  # left as it was
    pure = demo_wheel(tmp_path / "pure", with_extension=False).build(tmp_path / "pure-dist")
    with pytest.raises(CrossBuildError, match=r"no native file at all"):
        retag(pure, "aarch64", "linux_aarch64")


def test_a_cross_file_for_a_platform_it_cant_build_is_refused(tmp_path: Path) -> None:
    _project(tmp_path)
    pr = load_recipe(_recipe(tmp_path, "win_amd64")).for_platform("win_amd64")
    assert pr.package.cross_file == CROSS_FILE  # type: ignore[union-attr]
    with pytest.raises(FetchError) as info:
        obtain(pr, tmp_path / "out", cache_dir=tmp_path / "cache")
    assert info.value.message == (
        "fastmod for win_amd64: a cross-file build makes wheels for linux_aarch64, not win_amd64"
    )
    assert not (tmp_path / "cache").exists()  # refused before anything was prepared
