"""Source builds for another architecture on this machine: ``linux_aarch64`` wheels cross-compiled on x86-64 Linux.

A recipe's ``[package.source] cross-file`` names a Meson cross file (``recipes/cross/aarch64-linux-gnu-py3.11.ini``:
Debian's cross GCC, the target's properties, and ``python = cross_root / 'bin' / 'python3.11-aarch64'``). The build
then needs what that file points at, which :func:`prepare` makes under the cache directory::

    cross/aarch64-py3.11/include/python3.11/     Debian arm64's CPython headers, with the arm64 pyconfig.h
    cross/aarch64-py3.11/sysconfig/              Debian arm64's sysconfig data (its include path pointing above)
    cross/aarch64-py3.11/bin/python3.11-aarch64  this machine's CPython 3.11 reporting arm64's sysconfig
    cross/aarch64-py3.11/constants.ini           [constants] cross_root = '...': given to Meson first

``--cross-file constants.ini --cross-file RECIPE_FILE``: Meson reads the constants of the first file in the second
(numpy 1.26.4's vendored Meson has no ``@DIRNAME@``, so the path can't be relative to the cross file). The target
Python is a wrapper, as crossenv does it: Meson asks it for the extension suffix
(``.cpython-311-aarch64-linux-gnu.so``) and the include directory, and runs build-time code generators with it (pure
Python, the same on either architecture); no emulator takes part in a build.

The wheel pip builds is tagged for this machine (meson-python reads the platform of the interpreter running the
backend; telling it otherwise through ``_PYTHON_HOST_PLATFORM`` would also make pip install the build tools for the
target). :func:`retag` checks that every ELF file in it is for the target machine (a cross file that was not used
is a one-line error, never a mistagged wheel) and then re-tags it with ``wheel tags --platform-tag``.

Must not know: recipes, the command line, shrinking.
"""

from __future__ import annotations

import platform
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from shlex import quote

from .binaries.elf import ELF_MAGIC, elf_machine, read_header
from .binaries.reading import Malformed
from .emulator import EmulatorError, unpack_debian_packages
from .errors import SlimwheelError
from .tags import parse_python_version

__all__ = ["ARCHITECTURES", "CrossBuildError", "CrossRoot", "architecture_of", "prepare", "retag"]

#: Architectures slimwheel cross-compiles for (named as :func:`slimwheel.binaries.elf.elf_machine` names an ELF
#: file's machine): name → (Debian architecture, GNU triplet).
ARCHITECTURES = {"aarch64": ("arm64", "aarch64-linux-gnu")}

_MARKER = "slimwheel-cross.txt"

#: The target Python of a cross file (see the module docstring): ``ROOT/bin/python3.11-aarch64``.
_WRAPPER = """#!/bin/sh
# The target Python of a Meson cross file, made by slimwheel (slimwheel.crossbuild): this machine's CPython
# {version} reporting Debian {debian}'s CPython {version} through sysconfig (extension suffix, headers, platform).
root=$(cd "$(dirname "$0")/.." && pwd)
_PYTHON_HOST_PLATFORM=linux-{arch}
_PYTHON_SYSCONFIGDATA_NAME={data}
PYTHONPATH=$root/sysconfig${{PYTHONPATH:+:$PYTHONPATH}}
export _PYTHON_HOST_PLATFORM _PYTHON_SYSCONFIGDATA_NAME PYTHONPATH
exec {python} "$@"
"""


class CrossBuildError(SlimwheelError):
    """A cross build can't be prepared or its result is not for the target; the message says why, in one line."""


@dataclass(frozen=True)
class CrossRoot:
    root: Path
    constants: Path  # the Meson machine file naming cross_root, given before the recipe's cross file
    architecture: str


def architecture_of(platform_name: str) -> str | None:
    """The architecture slimwheel can cross-compile a platform's wheels for (``linux_aarch64`` → ``aarch64``)."""
    architecture = platform_name.removeprefix("linux_")
    return architecture if platform_name.startswith("linux_") and architecture in ARCHITECTURES else None


def prepare(architecture: str, python_version: str, cache_dir: Path) -> CrossRoot:
    """The cross root for ``architecture`` and CPython ``python_version`` under ``cache_dir``, made if needed.

    The build runs on this interpreter, which must be that CPython version (its sysconfig is swapped for the
    target's); the cross compiler must be installed (``apt-get install gcc-aarch64-linux-gnu
    g++-aarch64-linux-gnu``)."""
    if architecture not in ARCHITECTURES:
        raise CrossBuildError(f"can't cross-compile for {architecture!r}; known: {', '.join(ARCHITECTURES)}")
    debian, triplet = ARCHITECTURES[architecture]
    major, minor = parse_python_version(python_version)
    version = f"{major}.{minor}"
    if sys.platform != "linux" or platform.machine() != "x86_64":
        raise CrossBuildError("cross builds run on x86-64 Linux (Debian or Ubuntu) only")
    if sys.implementation.name != "cpython" or sys.version_info[:2] != (major, minor):
        raise CrossBuildError(
            f"a cross build for CPython {version} runs on CPython {version}; slimwheel runs on "
            f"{sys.implementation.name} {sys.version_info[0]}.{sys.version_info[1]}"
        )
    for tool in (f"{triplet}-gcc", f"{triplet}-g++"):
        if shutil.which(tool) is None:
            raise CrossBuildError(f"{tool} not found; install it with: apt-get install gcc-{triplet} g++-{triplet}")
    root = Path(cache_dir).absolute() / "cross" / f"{architecture}-py{version}"
    constants = root / "constants.ini"
    python = Path(sys.executable).resolve()
    marker = root / _MARKER
    if marker.is_file() and marker.read_text(encoding="utf-8") == f"{python}\n" and constants.is_file():
        return CrossRoot(root, constants, architecture)
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    sysroot = root / "sysroot"
    try:
        unpack_debian_packages(debian, [f"libpython{version}-dev", f"libpython{version}-minimal"], cache_dir, sysroot)
    except EmulatorError as exc:
        raise CrossBuildError(exc.message) from None
    data = sysroot / "usr" / "lib" / f"python{version}" / f"_sysconfigdata__{triplet}.py"
    pyconfig = sysroot / "usr" / "include" / triplet / f"python{version}" / "pyconfig.h"
    if not data.is_file() or not pyconfig.is_file():
        raise CrossBuildError(f"Debian's {debian} CPython {version} packages held no sysconfig data or pyconfig.h")
    include = root / "include" / f"python{version}"
    shutil.copytree(sysroot / "usr" / "include" / f"python{version}", include)
    # Debian's pyconfig.h picks the one of the compiler's architecture from <TRIPLET/python3.X/pyconfig.h>, which a
    # cross compiler does not search: the target's takes its place.
    shutil.copyfile(pyconfig, include / "pyconfig.h")
    name = f"_sysconfigdata__linux_{triplet}"
    (root / "sysconfig").mkdir()
    text = data.read_text(encoding="utf-8").replace(f"'/usr/include/python{version}'", repr(str(include)))
    (root / "sysconfig" / f"{name}.py").write_text(text, encoding="utf-8")
    wrapper = root / "bin" / f"python{version}-{architecture}"
    wrapper.parent.mkdir()
    wrapper.write_text(
        _WRAPPER.format(version=version, debian=debian, arch=architecture, data=name, python=quote(str(python))),
        encoding="utf-8",
    )
    wrapper.chmod(0o755)
    shutil.rmtree(sysroot)
    constants.write_text(f"[constants]\ncross_root = {str(root)!r}\n", encoding="utf-8")
    marker.write_text(f"{python}\n", encoding="utf-8")
    return CrossRoot(root, constants, architecture)


def _foreign_elf(wheel: Path, architecture: str) -> tuple[int, list[str]]:
    """How many ELF members ``wheel`` has, and those that are not for ``architecture`` (or not readable)."""
    count, wrong = 0, []
    with zipfile.ZipFile(wheel) as archive:
        for info in archive.infolist():
            with archive.open(info) as member:
                head = member.read(64)
            if head[:4] != ELF_MAGIC:
                continue
            count += 1
            try:
                machine = elf_machine(read_header(head))
            except Malformed:
                machine = None
            if machine != architecture:
                wrong.append(info.filename)
    return count, wrong


def retag(wheel: Path, architecture: str, platform_tag: str) -> Path:
    """``wheel`` (built on this machine by a cross build) re-tagged ``platform_tag``, once every ELF file in it is
    found to be for ``architecture``; the new wheel replaces it in its directory (``wheel tags --remove``)."""
    count, wrong = _foreign_elf(wheel, architecture)
    if wrong or not count:
        shown = wrong[0] if wrong else "no native file at all"
        raise CrossBuildError(
            f"{wheel.name}: not built for {architecture} ({shown}{' and more' if len(wrong) > 1 else ''}): "
            "was the cross file used?"
        )
    command = [sys.executable, "-m", "wheel", "tags", "--remove", "--platform-tag", platform_tag, str(wheel)]
    proc = subprocess.run(command, capture_output=True, text=True)
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    if proc.returncode != 0 or not lines:
        raise CrossBuildError(f"wheel tags failed on {wheel.name}: {(proc.stderr.strip().splitlines() or ['?'])[-1]}")
    return wheel.parent / lines[-1].strip()
