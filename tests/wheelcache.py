"""Real wheels from PyPI, pinned by version and downloaded once into a cache that every test run reuses.

The cache lives in ``$SLIMWHEEL_TEST_CACHE`` (default ``~/.cache/slimwheel-tests/wheels``). Downloads go through
``pip download --only-binary=:all: --no-deps`` for an explicit platform and Python version, so a Windows wheel can be
fetched on Linux. A lock file serialises downloads between pytest-xdist workers.

A wheel that can't be had (no network, no cached copy) raises :class:`DownloadFailed`, which some tests turn into a
skip on a developer's machine; in CI (the ``CI`` environment variable set and not empty) it fails the test instead
(``pytest.fail``, which no ``except DownloadFailed`` or ``except Exception`` catches): a real-wheel test must never
pass in CI by skipping.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

CACHE = Path(os.environ.get("SLIMWHEEL_TEST_CACHE", Path.home() / ".cache" / "slimwheel-tests" / "wheels"))


@dataclass(frozen=True)
class RealWheel:
    project: str
    version: str
    platform: str
    python_version: str = "3.11"
    sha256: str | None = None  # if given, the wheel fetched (or found in the cache) must have this hash

    @property
    def key(self) -> str:
        return f"{self.project}-{self.version}-{self.platform}-py{self.python_version}"


NUMPY_LINUX = RealWheel("numpy", "2.4.6", "manylinux_2_28_x86_64")
NUMPY_WIN64 = RealWheel("numpy", "2.4.6", "win_amd64")
NUMPY_WIN32 = RealWheel("numpy", "2.4.6", "win32")
NUMPY_126_WIN64 = RealWheel("numpy", "1.26.4", "win_amd64")
# linux_aarch64 (issue 12): stripped here with aarch64-linux-gnu-strip (Debian's binutils-aarch64-linux-gnu).
NUMPY_AARCH64 = RealWheel(
    "numpy",
    "2.4.6",
    "manylinux_2_28_aarch64",
    sha256="0ab0a9c4ffb1a6d95ef519fe4247dba8eb6b18ad93999f76b7f657039acabd47",
)
NUMPY_126_AARCH64 = RealWheel(  # its vendored OpenBLAS and libgfortran were patched by patchelf (auditwheel)
    "numpy",
    "1.26.4",
    "manylinux2014_aarch64",
    sha256="7ab55401287bfec946ced39700c053796e7cc0e3acbef09993a9ad2adba6ca6e",
)
ONNXRUNTIME_LINUX = RealWheel("onnxruntime", "1.31.1", "manylinux_2_28_x86_64")
ONNXRUNTIME_AARCH64 = RealWheel(
    "onnxruntime",
    "1.31.1",
    "manylinux_2_28_aarch64",
    sha256="da05378364c44d4407e463982d2bf8d5e4cfea873283757e48beeb41df97b7f3",
)
ONNXRUNTIME_WIN64 = RealWheel("onnxruntime", "1.31.1", "win_amd64")
SCIPY_LINUX = RealWheel("scipy", "1.17.1", "manylinux_2_28_x86_64")
# ai-edge-litert 2.3.0's closure (recipes/ai-edge-litert.toml; numpy is NUMPY_LINUX/NUMPY_AARCH64/NUMPY_WIN64).
LITERT_LINUX = RealWheel("ai-edge-litert", "2.3.0", "manylinux_2_27_x86_64")
LITERT_AARCH64 = RealWheel("ai-edge-litert", "2.3.0", "manylinux_2_27_aarch64")
LITERT_WIN64 = RealWheel("ai-edge-litert", "2.3.0", "win_amd64")
LITERT_ML_DTYPES_LINUX = RealWheel("ml-dtypes", "0.6.0", "manylinux_2_28_x86_64")
LITERT_ML_DTYPES_AARCH64 = RealWheel("ml-dtypes", "0.6.0", "manylinux_2_28_aarch64")
LITERT_ML_DTYPES_WIN64 = RealWheel("ml-dtypes", "0.6.0", "win_amd64")
LITERT_PROTOBUF_LINUX = RealWheel("protobuf", "7.36.2", "manylinux2014_x86_64")  # abi3 wheels, preferred by pip
LITERT_PROTOBUF_AARCH64 = RealWheel("protobuf", "7.36.2", "manylinux2014_aarch64")
LITERT_PROTOBUF_WIN64 = RealWheel("protobuf", "7.36.2", "win_amd64")
LITERT_BACKPORTS_STRENUM = RealWheel("backports.strenum", "1.2.8", "any")  # pure Python: one wheel everywhere
LITERT_FLATBUFFERS = RealWheel("flatbuffers", "25.12.19", "any")
LITERT_TQDM = RealWheel("tqdm", "4.70.1", "any")
LITERT_TYPING_EXTENSIONS = RealWheel("typing-extensions", "4.16.0", "any")

ALL = (
    NUMPY_LINUX,
    NUMPY_WIN64,
    NUMPY_WIN32,
    NUMPY_126_WIN64,
    NUMPY_AARCH64,
    NUMPY_126_AARCH64,
    ONNXRUNTIME_LINUX,
    ONNXRUNTIME_WIN64,
    ONNXRUNTIME_AARCH64,
    SCIPY_LINUX,
)


class DownloadFailed(RuntimeError):
    pass


def fetch(spec: RealWheel) -> Path:
    """Return the path of the cached wheel for ``spec``, downloading it on first use."""
    target = CACHE / spec.key
    target.mkdir(parents=True, exist_ok=True)
    with open(CACHE / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        found = sorted(target.glob("*.whl"))
        if found:
            return _pinned(spec, found[0])
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--only-binary=:all:",
            "--platform",
            spec.platform,
            "--python-version",
            spec.python_version,
            "--implementation",
            "cp",
            "--dest",
            str(target),
            f"{spec.project}=={spec.version}",
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        found = sorted(target.glob("*.whl"))
        if proc.returncode != 0 or not found:
            missing(f"pip download {spec.key} failed: {proc.stderr.strip()[-2000:]}")
        return _pinned(spec, found[0])


def _pinned(spec: RealWheel, wheel: Path) -> Path:
    """``wheel``, after checking its sha256 if ``spec`` pins one (a mismatch is an error, never a skip)."""
    if spec.sha256 is not None:
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        if digest != spec.sha256:
            raise AssertionError(f"{wheel.name}: sha256 {digest}, pinned {spec.sha256} (delete {wheel.parent})")
    return wheel


def in_ci() -> bool:
    return bool(os.environ.get("CI"))


def missing(message: str) -> NoReturn:
    """A pinned wheel can't be had: :class:`DownloadFailed` (a test may skip), or in CI a failed test."""
    if in_ci():
        import pytest

        pytest.fail(f"{message} (CI is set: a real wheel that can't be downloaded fails the run)", pytrace=False)
    raise DownloadFailed(message)


if __name__ == "__main__":  # warm the cache: python tests/wheelcache.py
    for spec in ALL:
        print(fetch(spec))
