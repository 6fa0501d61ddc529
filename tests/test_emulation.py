"""Checks of a linux_aarch64 wheel run on x86-64 under qemu-user (``slimwheel emulator prepare aarch64``).

Skipped, with the reason, when qemu-aarch64-static or the arm64 packages can't be had here; with ``CI`` set (where
``.ci/run`` installs qemu-user-static) a missing piece fails instead.
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

from slimwheel.emulator import EmulatorError, emulated_by, prepare

NUMPY = "numpy==2.4.6"
CHECK = "import numpy\nassert numpy.linalg.inv(numpy.eye(2)).sum() == 2\n"


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"emulation required in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def emulated() -> tuple[Path, Path]:
    """(the emulated interpreter, the cache dir holding it), prepared once and kept beside the tests' wheel cache
    (pytest's own cache is switched off in CI: ``-p no:cacheprovider``)."""
    if sys.platform != "linux" or platform.machine() != "x86_64":
        pytest.skip("emulation is prepared on x86-64 Linux only")
    if shutil.which("qemu-aarch64-static") is None:
        _unavailable("qemu-aarch64-static not found (apt-get install qemu-user-static)")
    cache = wheelcache.CACHE.parent / "emulation"
    try:
        python = prepare("aarch64", "3.11", cache).python
    except EmulatorError as exc:
        _unavailable(f"can't prepare the arm64 sysroot: {exc}")
    return python, cache


def _numpy_wheel(cache: Path) -> Path:
    target = cache / "wheels"
    found = sorted(target.glob("numpy-2.4.6-*aarch64*.whl"))
    if not found:
        command = [sys.executable, "-m", "pip", "download", "-q", "--only-binary=:all:", "--no-deps"]
        command += ["--platform", "manylinux_2_28_aarch64", "--python-version", "3.11", NUMPY, "-d", str(target)]
        proc = subprocess.run(command, capture_output=True, text=True)
        found = sorted(target.glob("numpy-2.4.6-*aarch64*.whl"))
        if proc.returncode != 0 or not found:
            _unavailable(f"can't download the aarch64 numpy wheel: {proc.stderr.strip()[-200:]}")
    return found[0]


def test_prepare_is_idempotent(emulated: tuple[Path, Path]) -> None:
    python, cache = emulated
    again = prepare("aarch64", "3.11", cache)
    assert again.already and again.python == python
    assert emulated_by(python) == "qemu-aarch64"
    proc = subprocess.run(
        [str(python), "-c", "import ssl, ctypes, venv, json, sys, sysconfig; print(sysconfig.get_platform())"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert proc.stdout.strip() == "linux-aarch64"


def test_shrink_aarch64_numpy_under_emulation(emulated: tuple[Path, Path], tmp_path: Path) -> None:
    python, cache = emulated
    wheel = _numpy_wheel(cache)
    check = tmp_path / "check.py"
    check.write_text(CHECK, encoding="utf-8")
    out = tmp_path / "out"
    command = [sys.executable, "-m", "slimwheel", "shrink", str(wheel), "--check", str(check)]
    command += ["--python", str(python), "--cache-dir", str(cache), "-w", str(out)]
    proc = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "ran under emulation (qemu-aarch64)" in proc.stdout
    (result,) = out.glob("*.whl")
    with zipfile.ZipFile(wheel) as before, zipfile.ZipFile(result) as after:
        assert len(after.namelist()) < len(before.namelist())
    unpacked = tmp_path / "unpacked"
    subprocess.run([sys.executable, "-m", "wheel", "unpack", "-d", str(unpacked), str(result)], check=True)


def test_build_verifies_the_x86_lock_on_aarch64_under_emulation(emulated: tuple[Path, Path], tmp_path: Path) -> None:
    """recipes/numpy.toml's lock, learned on x86-64, replayed onto numpy 2.4.6's aarch64 wheel: every removal maps,
    and with the emulator prepared in the build's cache the result is checked once under emulation (not trusted
    blindly), in one check run past the baseline; the recipe's lock file is left as it was."""
    _, cache = emulated
    lock = Path(__file__).parent.parent / "recipes" / "locks" / "numpy.lock"
    before = lock.read_bytes()
    command = [sys.executable, "-m", "slimwheel", "build", "recipes/numpy.toml", "--platform", "linux_aarch64"]
    command += ["--cache-dir", str(cache), "-w", str(tmp_path / "out"), "--json", str(tmp_path / "build.json")]
    proc = subprocess.run(command, capture_output=True, text=True, cwd=lock.parent.parent.parent)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    (outcome,) = json.loads((tmp_path / "build.json").read_text())["builds"]
    assert outcome["mode"] == "lock-verified", outcome["note"]
    assert "checked under emulation (qemu-aarch64)" in outcome["note"]
    assert "learned on numpy-2.4.6-cp311-cp311-manylinux_2_27_x86_64" in outcome["note"]
    report = outcome["report"]
    assert report["lock"]["coverage"] >= 0.95 and report["lock"]["verified"] is True
    print(f"aarch64 numpy 2.4.6 lock under emulation: coverage {report['lock']['coverage']:.4f}, {outcome['note']}")
    assert lock.read_bytes() == before


def test_litert_set_verified_under_emulation(emulated: tuple[Path, Path], tmp_path: Path) -> None:
    """recipes/ai-edge-litert.toml on linux_aarch64: the eight locks learned on x86-64 replayed and the LiteRT model
    check run once under emulation. LiteRT reads ``/proc/cpuinfo`` for CPU features and crashed on the x86 one
    qemu-user passes through: the emulator gives the guest an arm64 one (``SYSROOT/proc/cpuinfo``)."""
    python, cache = emulated
    sysroot = python.parent.parent / "sysroot"
    assert "CPU architecture: 8" in (sysroot / "proc" / "cpuinfo").read_text()
    repo = Path(__file__).parent.parent
    command = [sys.executable, "-m", "slimwheel", "build", "recipes/ai-edge-litert.toml", "--platform"]
    command += ["linux_aarch64", "--cache-dir", str(cache), "-w", str(tmp_path / "out")]
    command += ["--json", str(tmp_path / "build.json")]
    proc = subprocess.run(command, capture_output=True, text=True, cwd=repo)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    (outcome,) = json.loads((tmp_path / "build.json").read_text())["builds"]
    assert outcome["mode"] == "lock-verified" and "checked under emulation (qemu-aarch64)" in outcome["note"]
    assert all(r["lock"]["verified"] for r in outcome["reports"])
