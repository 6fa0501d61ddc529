"""An emulated CPython for checks of wheels built for another architecture (``linux_aarch64`` on x86-64 Linux).

``slimwheel emulator prepare aarch64`` makes, under the cache directory::

    emulators/aarch64-py3.11/sysroot/        Debian's arm64 CPython and the libraries it needs (dpkg-deb -x)
    emulators/aarch64-py3.11/lib -> sysroot/usr/lib
    emulators/aarch64-py3.11/bin/python3.11  #!/bin/sh: exec qemu-aarch64-static -L SYSROOT -0 "$0" ... "$@"

and that wrapper is the interpreter to pass as ``--python``. Measured on Debian bookworm x86-64 (qemu 7.2):

* The wrapper passes its own path as the guest's ``argv[0]`` (``-0 "$0"``), so ``sys.executable`` is a file the
  host can run, not the sysroot's arm64 ELF (which the host kernel can only run through binfmt_misc, often absent in
  containers): subprocesses that run ``sys.executable`` work. The ``lib`` link beside ``bin`` is the landmark from
  which CPython finds its standard library (``sys.prefix`` is the emulator's directory).
* So a plain ``python -m venv --without-pip`` works unchanged: the venv's ``bin/python`` is a symlink to the wrapper,
  ``$0`` is the venv's path, CPython finds ``pyvenv.cfg`` beside it and its ``home`` (the wrapper's directory) for
  the standard library. :class:`slimwheel.sandbox.Environment` needs nothing special.
* The standard library is compiled once when preparing (Debian compiles it on installation, ``dpkg-deb -x`` does
  not): without bytecode, ``import ssl, ctypes, venv, json`` takes 5.4 s emulated instead of 2.7 s.
* ``/proc/self/maps`` read by the emulated process is the *guest's* view (qemu-user rewrites it): the arm64
  ``.so`` files the check loaded are listed under their host paths, so the tracer (:mod:`slimwheel._tracehook`)
  sees the wheel's shared libraries as it does natively.
* No ``dpkg --add-architecture arm64``: that changes the system. apt-get runs with a private state directory
  (``emulators/apt-arm64/``: its own package lists for arm64, an empty dpkg status), so nothing outside the cache
  changes, and no root is needed beyond what ``apt-get download`` needs.

Debian (bookworm) hosts: the arm64 packages come from the same mirrors as the host's. Ubuntu serves arm64 from
``ports.ubuntu.com``, which its x86-64 sources don't name: there, ``apt-get update`` fails and prepare says so.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .errors import SlimwheelError
from .tags import parse_python_version

__all__ = [
    "ARCHITECTURES",
    "EmulatorError",
    "Prepared",
    "emulated_architecture",
    "emulated_by",
    "find",
    "prepare",
    "unpack_debian_packages",
]

#: The architectures slimwheel can emulate: name → (Debian architecture, qemu-user binary).
ARCHITECTURES = {"aarch64": ("arm64", "qemu-aarch64-static")}

#: Libraries of Debian bookworm that the interpreter needs beyond its own packages: ssl (libssl3), ctypes
#: (libffi8), pyexpat (libexpat1), zlib, and libstdc++/libgcc_s for C++ extensions (numpy's).
_LIBRARIES = ("libc6", "zlib1g", "libffi8", "libssl3", "libexpat1", "libgcc-s1", "libstdc++6")
_MARKER = "slimwheel-emulator.txt"
_QEMU_NAME = re.compile(rb"\bqemu-([a-z0-9_]+)(?:-static)?\b")


class EmulatorError(SlimwheelError):
    """An emulator can't be prepared here (a missing tool, a failed download); the message says what to do."""


@dataclass(frozen=True)
class Prepared:
    python: Path
    already: bool


def _tool(name: str, hint: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise EmulatorError(f"{name} not found; {hint}")
    return found


def _run(command: list[str], what: str, cwd: Path | None = None) -> None:
    proc = subprocess.run(command, capture_output=True, text=True, cwd=cwd)
    if proc.returncode != 0:
        lines = [line for line in (proc.stderr + proc.stdout).splitlines() if line.strip()]
        errors = [line for line in lines if line.startswith("E:")] or lines or ["no output"]
        raise EmulatorError(f"{what} failed: {errors[-1].strip()}")


def emulated_architecture(platform: str) -> str | None:
    """The architecture to emulate for wheels of a slimwheel platform (``linux_aarch64`` → ``aarch64``), if any."""
    architecture = platform.removeprefix("linux_")
    return architecture if platform.startswith("linux_") and architecture in ARCHITECTURES else None


def _home(architecture: str, version: str, cache_dir: Path) -> Path:
    return Path(cache_dir).absolute() / "emulators" / f"{architecture}-py{version}"


def find(architecture: str, python_version: str, cache_dir: Path) -> Path | None:
    """The emulated interpreter :func:`prepare` made under ``cache_dir`` for ``architecture`` and CPython
    ``python_version``, if it did (and qemu-user is still installed); None otherwise. Prepares nothing."""
    if architecture not in ARCHITECTURES:
        return None
    major, minor = parse_python_version(python_version)
    home = _home(architecture, f"{major}.{minor}", cache_dir)
    python = home / "bin" / f"python{major}.{minor}"
    usable = (home / _MARKER).is_file() and python.is_file() and shutil.which(ARCHITECTURES[architecture][1])
    return python if usable else None


def prepare(architecture: str, python_version: str, cache_dir: Path) -> Prepared:
    """The emulated interpreter for ``architecture`` and CPython ``python_version`` under ``cache_dir``, made if
    it isn't there yet (:class:`EmulatorError` with one line when it can't be)."""
    if architecture not in ARCHITECTURES:
        raise EmulatorError(f"can't emulate {architecture!r}; known: {', '.join(ARCHITECTURES)}")
    major, minor = parse_python_version(python_version)
    version = f"{major}.{minor}"
    debian_arch, qemu_name = ARCHITECTURES[architecture]
    if sys.platform != "linux" or platform.machine() not in ("x86_64", "AMD64"):
        raise EmulatorError("emulators are prepared on x86-64 Linux (Debian or Ubuntu) only")
    home = _home(architecture, version, cache_dir)
    python = home / "bin" / f"python{version}"
    if (home / _MARKER).is_file() and python.is_file():
        _write_cpuinfo(home / "sysroot", architecture)  # emulators prepared before it was written
        return Prepared(python, already=True)
    qemu = _tool(qemu_name, "install it with: apt-get install qemu-user-static")
    home.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{home.name}-", dir=home.parent) as temporary:
        work = Path(temporary)
        packages = [f"python{version}-minimal", f"libpython{version}-minimal", f"libpython{version}-stdlib"]
        sysroot = work / "sysroot"
        unpack_debian_packages(debian_arch, [*packages, *_LIBRARIES], cache_dir, sysroot)
        target = sysroot / "usr" / "bin" / f"python{version}"
        if not target.is_file():
            raise EmulatorError(f"the {debian_arch} packages held no usr/bin/python{version}")
        (work / "lib").symlink_to("sysroot/usr/lib")
        (work / "bin").mkdir()
        _write_wrapper(
            work / "bin" / python.name, qemu, home / "sysroot", home / "sysroot" / "usr" / "bin" / target.name
        )
        _write_cpuinfo(sysroot, architecture)
        shutil.rmtree(home, ignore_errors=True)  # a prepare that stopped half-way
        work.rename(home)
        work.mkdir()  # for TemporaryDirectory's cleanup
    _compile_stdlib(python, home / "sysroot" / "usr" / "lib" / f"python{version}", (major, minor))
    _run([str(python), "-c", "import ssl, ctypes, venv, json"], "the emulated interpreter's first run")
    (home / _MARKER).write_text(f"{architecture} CPython {version} via {qemu}\n", encoding="utf-8")
    return Prepared(python, already=False)


#: One CPU of ``/proc/cpuinfo`` as an arm64 Linux kernel writes it (a Cortex-A76, as in a Raspberry Pi 5).
_ARM64_CPU = """processor\t: {n}
BogoMIPS\t: 108.00
Features\t: fp asimd evtstrm crc32 cpuid
CPU implementer\t: 0x41
CPU architecture: 8
CPU variant\t: 0x4
CPU part\t: 0xd0b
CPU revision\t: 1

"""


def unpack_debian_packages(debian_arch: str, packages: list[str], cache_dir: Path, sysroot: Path) -> None:
    """Download Debian's ``debian_arch`` builds of ``packages`` and unpack them into ``sysroot`` (``dpkg-deb -x``).

    apt-get runs with a private state under ``CACHE/emulators/apt-ARCH`` (its own package lists, an empty dpkg
    status), so nothing outside the cache changes. An :class:`EmulatorError` of one line when it can't be done."""
    apt_get = _tool("apt-get", "this needs a Debian or Ubuntu machine (apt-get, dpkg-deb)")
    dpkg_deb = _tool("dpkg-deb", "this needs a Debian or Ubuntu machine (apt-get, dpkg-deb)")
    state = Path(cache_dir).absolute() / "emulators" / f"apt-{debian_arch}"
    (state / "lists" / "partial").mkdir(parents=True, exist_ok=True)
    (state / "archives" / "partial").mkdir(parents=True, exist_ok=True)
    (state / "status").touch()
    apt = [apt_get, "-q", "-o", f"APT::Architecture={debian_arch}", "-o", f"APT::Architectures::={debian_arch}"]
    apt += ["-o", f"Dir::State::Lists={state / 'lists'}", "-o", f"Dir::State::status={state / 'status'}"]
    apt += ["-o", f"Dir::Cache={state}", "-o", "Debug::NoLocking=1"]
    _run([*apt, "update"], f"apt-get update (package lists for {debian_arch}, kept in {state})")
    sysroot.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".debs-", dir=sysroot.parent) as temporary:
        debs = Path(temporary)
        os.chmod(debs, 0o755)  # apt's _apt user downloads here when it can
        _run([*apt, "download", *packages], f"apt-get download ({debian_arch}: {', '.join(packages)})", debs)
        for deb in sorted(debs.glob("*.deb")):
            _run([dpkg_deb, "-x", str(deb), str(sysroot)], f"dpkg-deb -x {deb.name}")


def _write_cpuinfo(sysroot: Path, architecture: str) -> None:
    """``SYSROOT/proc/cpuinfo`` for the guest: qemu-user 7.2 passes the host's x86 ``/proc/cpuinfo`` through, and
    code that parses it for CPU features crashes (LiteRT's, in ai-edge-litert 2.3.0: a SIGSEGV before any model
    loads). qemu's ``-L`` looks up every path under the sysroot first, so the guest reads this file instead; the
    rest of ``/proc`` (``/proc/self/maps``) is not in the sysroot and still comes from qemu."""
    if architecture != "aarch64":
        return
    path = sysroot / "proc" / "cpuinfo"
    text = "".join(_ARM64_CPU.format(n=n) for n in range(os.cpu_count() or 1))
    if path.is_file() and path.read_text(encoding="ascii") == text:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="ascii")


def _write_wrapper(path: Path, qemu: str, sysroot: Path, target: Path) -> None:
    from shlex import quote

    path.write_text(
        "#!/bin/sh\n"
        "# slimwheel emulator: the guest's argv[0] is this script (or the venv link to it), which the host can run\n"
        f'exec {quote(qemu)} -L {quote(str(sysroot))} -0 "$0" {quote(str(target))} "$@"\n',
        encoding="utf-8",
    )
    path.chmod(0o755)


def _compile_stdlib(python: Path, stdlib: Path, version: tuple[int, int]) -> None:
    """Bytecode for the standard library: by this interpreter when it is the same CPython version (bytecode does not
    depend on the architecture; seconds instead of a minute emulated), else by the emulated one."""
    same = sys.implementation.name == "cpython" and sys.version_info[:2] == version
    compiler = sys.executable if same else str(python)
    command = [compiler, "-m", "compileall", "-q", "-j", "0", "-x", r"/(test|idlelib|lib2to3|tkinter)/", str(stdlib)]
    subprocess.run(command, capture_output=True, env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})


def emulated_by(executable: str | Path) -> str | None:
    """``"qemu-aarch64"`` when ``executable`` (an interpreter's real path) is an emulator wrapper made by
    :func:`prepare`; None for a native interpreter."""
    try:
        with open(executable, "rb") as handle:
            head = handle.read(4096)
    except OSError:
        return None
    if not head.startswith(b"#!"):
        return None
    match = _QEMU_NAME.search(head)
    return f"qemu-{match.group(1).decode()}" if match else None
