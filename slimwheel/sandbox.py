"""Run a user's check against a candidate set of a wheel's files: fast, and isolated from the developer's Python.

``slimwheel shrink numpy.whl --check run_model.py`` runs the check many times, each time against a different
*candidate*: a subset of the wheel's items (see :mod:`slimwheel.trace` for keys and the tree layout). This
module runs one candidate:

* :class:`Environment` — a virtual environment made once and cached, holding the check's other requirements; the
  check never sees the developer's site-packages (or the user site, or the project directory).
* :class:`Sandbox` — stages all items once (``master/``), compiles their bytecode once, then lays out each
  candidate tree with hard links (about a millisecond per hundred files) and runs the check against it with the
  tree first on ``PYTHONPATH``/``PATH``, in an empty working directory, in its own process group (a timeout kills
  the whole group, grandchildren included), optionally traced (:mod:`slimwheel.trace`).

Costs measured on numpy (PITFALLS.md): a ``pip install --target`` per candidate costs seconds; a hard-linked tree
with warm bytecode costs what the check itself costs. The pieces that make it so: files are linked, not copied;
bytecode is compiled once with timestamps that hard links preserve, so no run recompiles anything; a finished
check is noticed at once through a pidfd instead of a polling ``wait``.

What a check is (:class:`~slimwheel.check.Check`) is :mod:`slimwheel.check`; which wheels an interpreter accepts is
:mod:`slimwheel.tags`. Apart from :meth:`Environment.require_compatible`, this module knows
items (keys → bytes), not wheels: what a candidate holds, and what a result means for a wheel, is its callers'
business (:mod:`slimwheel.trial`, :mod:`slimwheel.shrink`).

POSIX only (process groups, hard links; ``/proc/self/maps`` for traces on Linux). The module imports on Windows,
so that everything else in slimwheel (rules, stripping, lock replay) runs there, but :func:`checks_run_here` is
false and :meth:`Environment.create` — where every check run starts — refuses with one line that says what to do.

Longer than most modules (about 700 lines), on purpose: the environment and the sandbox are the two halves of the
POSIX-only code (``fcntl`` locks; process groups and pidfds), which ``tests/test_portability.py`` confines to this
file (``POSIX_MODULES_ALLOWED``). Moving :class:`Environment` to a module of its own is the next split, together
with that list.
"""

from __future__ import annotations

import configparser
import contextlib
import errno
import hashlib
import itertools
import json
import os
import re
import select
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.tags import Tag

from .check import WINDOWS_CHECKS, Check, CheckError, checks_run_here
from .contents import Wheel
from .tags import fits, interpreter_tags
from .trace import Trace, bootstrap_dir, bytecode_source, key_path, read_traces

if sys.platform != "win32":  # on Windows checks don't run (see checks_run_here), and nothing else needs it
    import fcntl

__all__ = ["OUTPUT_LIMIT", "Environment", "RunResult", "Sandbox"]

#: Bytes of stdout and of stderr kept per run: the first quarter and the last three quarters.
OUTPUT_LIMIT = 64 * 1024
#: Format of a cached environment; bump it to make every cached environment be rebuilt.
_ENV_FORMAT = 1
_MARKER = "slimwheel-env.json"
#: A script's first line that an installer rewrites to the environment's interpreter (``#!python``, ``#!pythonw``).
_SCRIPT_SHEBANG = re.compile(rb"^#!pythonw?(?=\s|$)")
_ENTRY_POINT = re.compile(r"^\s*(?P<module>[\w.]+)\s*:\s*(?P<attr>[\w.]+)\s*(\[[^\]]*\])?\s*$")
_DROPPED_VARIABLES = frozenset({"VIRTUAL_ENV", "__PYVENV_LAUNCHER__", "SLIMWHEEL_TRACE_DIR", "SLIMWHEEL_TRACE_CALLS"})


@dataclass(frozen=True)
class RunResult:
    """One run of a check. ``returncode`` is None when the check could not start or was killed on timeout."""

    passed: bool
    returncode: int | None
    stdout: str
    stderr: str
    seconds: float
    timed_out: bool
    trace: Trace | None


def _clean_environ() -> dict[str, str]:
    """``os.environ`` without what would make a Python process look at the developer's environment."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PYTHON") and k not in _DROPPED_VARIABLES}


def _last_error_line(*outputs: str) -> str:
    lines = [line.strip() for output in outputs for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("ERROR:") or "Error:" in line]
    return (errors or lines or ["no output"])[-1]


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


_PROBE = r"""
import json, os, struct, sys, sysconfig
print(json.dumps({
    "executable": os.path.realpath(sys.executable),
    "version": sys.version,
    "version_info": list(sys.version_info[:3]),
    "implementation": sys.implementation.name,
    "cache_tag": sys.implementation.cache_tag,
    "ext_suffix": sysconfig.get_config_var("EXT_SUFFIX") or "",
    "py_debug": sysconfig.get_config_var("Py_DEBUG"),
    "has_refcount": hasattr(sys, "gettotalrefcount"),
    "gil_disabled": bool(sysconfig.get_config_var("Py_GIL_DISABLED")),
    "platform": sysconfig.get_platform(),
    "pointer_bits": struct.calcsize("P") * 8,
    "purelib": sysconfig.get_path("purelib"),
    "scripts": sysconfig.get_path("scripts"),
    "prefix": sys.prefix,
    "base_prefix": getattr(sys, "base_prefix", sys.prefix),
    "libc": os.confstr("CS_GNU_LIBC_VERSION") if "CS_GNU_LIBC_VERSION" in getattr(os, "confstr_names", {}) else None,
}))
"""


def _probe(python: Path) -> dict[str, Any]:
    """Facts about an interpreter, asked from the interpreter itself (isolated mode)."""
    try:
        proc = subprocess.run(
            [str(python), "-I", "-c", _PROBE], capture_output=True, text=True, env=_clean_environ(), timeout=120
        )
    except OSError as exc:
        raise CheckError(f"can't run the check interpreter {python}: {exc.strerror or exc}") from None
    except subprocess.TimeoutExpired:
        raise CheckError(f"the check interpreter {python} did not answer within 120 s") from None
    if proc.returncode != 0:
        raise CheckError(f"{python} is not a usable Python 3 interpreter: {_last_error_line(proc.stderr)}")
    try:
        info = json.loads(proc.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        raise CheckError(f"{python} is not a usable Python 3 interpreter (unexpected answer)") from None
    if not isinstance(info, dict):
        raise CheckError(f"{python} is not a usable Python 3 interpreter (unexpected answer)")
    return info


def _pip_command(python: Path) -> list[str]:
    """A pip that installs into the environment of ``python``: ours (``pip --python``), else the env's own."""
    try:
        from importlib.metadata import PackageNotFoundError, version

        from packaging.version import Version

        if Version(version("pip")) >= Version("22.3"):
            return [sys.executable, "-m", "pip", "--python", str(python)]
    except (PackageNotFoundError, ValueError):
        pass
    proc = subprocess.run(
        [str(python), "-m", "ensurepip", "--default-pip"], capture_output=True, text=True, env=_clean_environ()
    )
    if proc.returncode != 0:
        raise CheckError(f"can't install pip into the check environment: {_last_error_line(proc.stderr, proc.stdout)}")
    return [str(python), "-m", "pip"]


class Environment:
    """A venv made once (cached under a cache dir keyed by the interpreter's path+version and the extra
    requirements) in which checks run; never the developer's site-packages.

    Made with ``python -m venv --without-pip`` (no system site packages): about 50 ms, plus pip's time when
    there are requirements. The wheel being shrunk is *not* installed here: each candidate tree provides it.
    """

    def __init__(self, root: Path, key: str, info: Mapping[str, Any]) -> None:
        self.root = root
        self.key = key
        self.info = dict(info)
        self.bin_dir = Path(info["scripts"])
        self.python = self.bin_dir / "python"
        self.site_packages = Path(info["purelib"])
        self._tags: frozenset[str] | None = None

    def __repr__(self) -> str:
        return f"Environment({str(self.root)!r}, python {self.version})"

    @property
    def version(self) -> str:
        return ".".join(str(part) for part in self.info["version_info"])

    @classmethod
    def create(
        cls,
        cache_dir: Path,
        python: Path | None = None,
        requirements: Sequence[str] = (),
        wheels: Sequence[Path] = (),
    ) -> Environment:
        """The cached environment for ``python`` (default: this interpreter) with ``requirements`` and ``wheels``
        installed; built on first use (safe when several processes ask at once), then reused.

        On Windows, where checks don't run, :class:`CheckError` (:data:`WINDOWS_CHECKS`) before anything else."""
        if not checks_run_here():
            raise CheckError(WINDOWS_CHECKS)
        base = Path(python) if python is not None else Path(sys.executable)
        info = _probe(base)
        wheel_ids = []
        for wheel in wheels:
            try:
                with open(wheel, "rb") as handle:
                    digest = hashlib.file_digest(handle, "sha256").hexdigest()
            except OSError as exc:
                raise CheckError(f"can't read wheel {wheel}: {exc.strerror or exc}") from None
            wheel_ids.append([Path(wheel).name, digest])
        material = {
            "format": _ENV_FORMAT,
            "interpreter": info["executable"],
            "version": info["version"],
            "requirements": list(requirements),
            "wheels": wheel_ids,
        }
        key = hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()
        major, minor = info["version_info"][:2]
        name = f"{str(info['implementation'])[:2]}{major}{minor}-{key[:16]}"
        envs = Path(cache_dir) / "envs"
        try:
            envs.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CheckError(f"can't create the cache directory {envs}: {exc.strerror or exc}") from None
        root = envs / name
        with _locked(envs / f"{name}.lock"):
            env = cls._load(root, key)
            if env is None:
                env = cls._build(root, base, key, material, requirements, wheels)
        return env

    @classmethod
    def _load(cls, root: Path, key: str) -> Environment | None:
        try:
            marker = json.loads((root / _MARKER).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(marker, dict) or marker.get("key") != key or not isinstance(marker.get("info"), dict):
            return None
        env = cls(root, key, marker["info"])
        return env if env.python.exists() else None

    @classmethod
    def _build(
        cls,
        root: Path,
        base: Path,
        key: str,
        material: Mapping[str, Any],
        requirements: Sequence[str],
        wheels: Sequence[Path],
    ) -> Environment:
        shutil.rmtree(root, ignore_errors=True)  # a build that stopped half-way
        proc = subprocess.run(
            [str(base), "-m", "venv", "--without-pip", str(root)], capture_output=True, text=True, env=_clean_environ()
        )
        if proc.returncode != 0:
            raise CheckError(
                f"can't create the check environment with {base}: {_last_error_line(proc.stderr, proc.stdout)}"
            )
        info = _probe(root / "bin" / "python")
        env = cls(root, key, info)
        to_install = [*requirements, *(str(Path(w).resolve()) for w in wheels)]
        if to_install:
            command = [
                *_pip_command(env.python),
                "install",
                "--disable-pip-version-check",
                "--no-input",
                "--no-warn-script-location",
                "--progress-bar",
                "off",
                *to_install,
            ]
            proc = subprocess.run(command, capture_output=True, text=True, env=_clean_environ())
            if proc.returncode != 0:
                names = ", ".join(Path(item).name if item in map(str, wheels) else item for item in to_install)
                raise CheckError(
                    f"installing {names} into the check environment failed: "
                    f"{_last_error_line(proc.stderr, proc.stdout)}"
                )
        marker = {"key": key, "material": dict(material), "info": info, "created": time.time()}
        temporary = root / f"{_MARKER}.tmp"
        temporary.write_text(json.dumps(marker, indent=1), encoding="utf-8")
        temporary.replace(root / _MARKER)  # last: the marker says the environment is complete
        return env

    def tags(self) -> frozenset[str]:
        """The wheel tags (``cp311-cp311-manylinux_2_17_x86_64`` ...) the environment's interpreter accepts."""
        if self._tags is None:
            self._tags = interpreter_tags(self.info)
        return self._tags

    def supports(self, tags: Iterable[Tag | str]) -> bool:
        """Whether a wheel with these tags installs for the environment's interpreter (:func:`~.tags.fits`)."""
        return fits(tags, self.tags())

    def require_compatible(self, wheel: Wheel) -> None:
        """Raise :class:`CheckError` if ``wheel`` can't be installed for the environment's interpreter."""
        if not self.supports(wheel.tags):
            raise CheckError(
                f"{wheel.filename} can't run on the check interpreter (Python {self.version}, "
                f"{self.info['implementation']}, {self.info['platform']}); check it with a matching Python"
            )


def _script_text(data: bytes, python: Path) -> bytes:
    """A ``#!python`` script's content with its first line pointing at ``python``, as an installer writes it."""
    if not _SCRIPT_SHEBANG.match(data):
        return data
    _first, newline, rest = data.partition(b"\n")
    executable = os.fsencode(python)
    if len(executable) <= 120 and b" " not in executable:
        return b"#!" + executable + newline + rest
    # Too long (or spaced) for the kernel's #! line: the same /bin/sh trampoline installers use.
    return b"#!/bin/sh\n'''exec' " + shlex.quote(str(python)).encode() + b' "$0" "$@"\n' + b"' '''\n" + rest


def _entry_point_wrapper(module: str, attr: str, python: Path) -> bytes:
    root = attr.split(".")[0]
    return (
        f"#!{python}\nimport sys\nfrom {module} import {root}\n"
        f"if __name__ == '__main__':\n    sys.exit({attr}())\n".encode()
    )


def _ancestors(relative: str) -> list[str]:
    parts = relative.split("/")[:-1]
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def _read_capped(path: Path) -> str:
    try:
        size = path.stat().st_size
        with open(path, "rb") as handle:
            if size <= OUTPUT_LIMIT:
                data = handle.read()
            else:
                head = handle.read(OUTPUT_LIMIT // 4)
                handle.seek(size - (OUTPUT_LIMIT - len(head)))
                tail = handle.read()
                data = head + f"\n[... {size - len(head) - len(tail)} bytes left out ...]\n".encode() + tail
    except OSError:
        return ""
    return data.decode("utf-8", "replace")


def _wait_for_exit(proc: subprocess.Popen[bytes], timeout: float) -> bool:
    """Whether ``proc`` exited within ``timeout``; it is left unreaped (a zombie) when possible, so its process
    group can still be killed safely. A pidfd wakes up as soon as it exits (``Popen.wait`` polls with growing
    sleeps of up to 50 ms)."""
    try:
        pidfd = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        return True
    try:
        readable, _, _ = select.select([pidfd], [], [], max(timeout, 0.0))
        return bool(readable)
    finally:
        os.close(pidfd)


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


@dataclass(frozen=True)
class _Staged:
    """Where one item's files live, as (master path, path in a tree): the item's own file and its bytecode; the
    entry point wrappers it brings (placed unless a script of the same name is kept); the directories they need."""

    files: tuple[tuple[str, str], ...]
    wrappers: tuple[tuple[str, str], ...]
    directories: tuple[str, ...]


class Sandbox:
    """Candidate trees as an install would lay them out, built by hard links from one staged master copy.

    ``work_dir`` holds ``master/`` (every item, read-only, with compiled bytecode), ``trees/<n>/`` (candidates)
    and ``runs/`` (each run's empty working directory, output and traces, deleted after the run). :meth:`stage`
    once, then :meth:`tree`, :meth:`run` and :meth:`discard` from any number of threads.
    """

    def __init__(self, env: Environment, work_dir: Path) -> None:
        self.env = env
        self.work_dir = Path(os.path.abspath(work_dir))
        self.master = self.work_dir / "master"
        self._trees = self.work_dir / "trees"
        self._runs = self.work_dir / "runs"
        self._staged: dict[str, _Staged] = {}
        self._generated: dict[str, str] = {}  # key of a generated file in a tree → the item it comes from
        self._lock = threading.Lock()
        self._counter = itertools.count()
        self._link = True  # False once hard links failed (another file system): copy instead
        self._bootstrap: Path | None = None

    @property
    def items(self) -> frozenset[str]:
        return frozenset(self._staged)

    def stage(self, files: Mapping[str, bytes], modes: Mapping[str, int] | None = None) -> None:
        """Write every item (key → content) into ``master/``, then compile the bytecode of its Python files once.

        Scripts (``<scripts>/...``) are executable and get a ``#!python`` first line rewritten to the environment's
        interpreter, as an installer does; a kept ``*.dist-info/entry_points.txt`` brings its console scripts.
        Files are made read-only: every tree shares them.
        """
        modes = modes or {}
        self._staged = {}
        self._generated = {}
        shutil.rmtree(self.master, ignore_errors=True)
        self.master.mkdir(parents=True)
        paths: dict[str, str] = {}
        for key, data in files.items():
            relative = key_path(key)
            target = self.master / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            mode = modes.get(key, 0o644)
            if key.startswith("<scripts>/"):
                data = _script_text(data, self.env.python)
                mode |= 0o755
            target.write_bytes(data)
            target.chmod((mode & 0o555) | 0o444)
            paths[key] = relative
        extra: dict[str, list[tuple[str, str]]] = {}
        for source, relative in self._compile(paths):
            extra.setdefault(source, []).append((str(self.master / relative), relative))
        wrappers: dict[str, list[tuple[str, str]]] = {}
        for source, relative in self._entry_points(files):
            wrappers.setdefault(source, []).append((str(self.master / relative), "bin/" + relative.rsplit("/", 1)[1]))
        for key, relative in paths.items():
            own = ((str(self.master / relative), relative), *extra.get(key, []))
            added = tuple(wrappers.get(key, []))
            directories = sorted({d for _, rel in (*own, *added) for d in _ancestors(rel)})
            self._staged[key] = _Staged(own, added, tuple(directories))

    def _compile(self, paths: Mapping[str, str]) -> list[tuple[str, str]]:
        """Compile ``site/`` with the environment's Python; return (source item, bytecode path) pairs."""
        site = self.master / "site"
        if not any(key.endswith(".py") and rel.startswith("site/") for key, rel in paths.items()):
            return []
        command = [str(self.env.python), "-m", "compileall", "-q", "-j", "0"]
        command += ["--invalidation-mode", "timestamp", str(site)]  # not checked-hash, even with SOURCE_DATE_EPOCH
        # A file that does not compile (a Python 2 leftover) is not an error: Python will fail on it, or not.
        subprocess.run(command, capture_output=True, env=_clean_environ(), cwd=self.work_dir)
        by_path = {rel: key for key, rel in paths.items()}
        pairs = []
        for directory, _dirs, names in os.walk(site):
            if os.path.basename(directory) != "__pycache__":
                continue
            for name in names:
                absolute = os.path.join(directory, name)
                relative = os.path.relpath(absolute, self.master).replace(os.sep, "/")
                source = bytecode_source(relative)
                if relative in by_path or source not in by_path:
                    continue  # shipped by the wheel (an item itself), or not ours
                os.chmod(absolute, 0o444)
                pairs.append((by_path[source], relative))
        return pairs

    def _entry_points(self, files: Mapping[str, bytes]) -> list[tuple[str, str]]:
        """Console scripts of each staged top-level ``entry_points.txt``: (item, wrapper path in master) pairs.

        The wrappers are written to ``master/generated/<n>/<name>``; :meth:`tree` links them into ``bin/``."""
        pairs = []
        for index, (key, data) in enumerate(sorted(files.items())):
            if not (key.endswith(".dist-info/entry_points.txt") and key.count("/") == 1):
                continue
            parser = configparser.RawConfigParser(delimiters=("=",), interpolation=None)
            parser.optionxform = str  # type: ignore[assignment,method-assign]
            try:
                parser.read_string(data.decode("utf-8"))
            except (configparser.Error, UnicodeDecodeError):
                continue  # pip would refuse the wheel; the check will say so
            for group in ("console_scripts", "gui_scripts"):
                if not parser.has_section(group):
                    continue
                for name, value in parser.items(group):
                    match = _ENTRY_POINT.match(value)
                    if match is None or not name or "/" in name or name.startswith("."):
                        continue
                    relative = f"generated/{index}/{name}"
                    target = self.master / relative
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(_entry_point_wrapper(match["module"], match["attr"], self.env.python))
                    target.chmod(0o555)
                    pairs.append((key, relative))
                    self._generated[f"<scripts>/{name}"] = key
        return pairs

    def tree(self, kept: Iterable[str], overrides: Mapping[str, bytes] | None = None) -> Path:
        """A fresh directory holding only the ``kept`` items (and their bytecode), hard-linked from ``master/``.

        ``overrides`` (item key → content) are written into the tree as new files, replacing a kept item of the
        same key; they need not be staged items (e.g. a stub module). They get no precompiled bytecode.
        """
        overrides = overrides or {}
        with self._lock:
            number = next(self._counter)
        root = self._trees / str(number)
        root.mkdir(parents=True)
        prefix = str(root) + "/"
        staged = []
        directories = {"site", "bin"}
        for key in kept:
            if key in overrides:
                continue
            try:
                item = self._staged[key]
            except KeyError:
                raise KeyError(f"{key!r} is not a staged item") from None
            staged.append(item)
            directories.update(item.directories)
        written = {key: key_path(key) for key in overrides}
        for relative in written.values():
            directories.update(_ancestors(relative))
        for directory in sorted(directories):  # parents sort before their children
            os.mkdir(prefix + directory)
        for item in staged:
            for source, relative in item.files:
                self._place(source, prefix + relative)
        for key, relative in written.items():
            data = overrides[key]
            executable = key.startswith("<scripts>/")
            with open(prefix + relative, "wb") as handle:
                handle.write(_script_text(data, self.env.python) if executable else data)
            if executable:
                os.chmod(prefix + relative, 0o755)
        for item in staged:
            for source, relative in item.wrappers:  # a script shipped in the wheel wins over a generated one
                if not os.path.lexists(prefix + relative):
                    self._place(source, prefix + relative)
        return root

    def _place(self, source: str, target: str) -> None:
        if self._link:
            try:
                os.link(source, target)
                return
            except OSError as exc:
                if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EACCES):
                    raise
                self._link = False
        shutil.copy2(source, target)  # keeps the mtime, so the bytecode stays valid

    def discard(self, tree: Path) -> None:
        """Delete a tree made by :meth:`tree`."""
        tree = Path(tree)
        if tree.parent != self._trees:
            raise ValueError(f"{tree} is not a tree of this sandbox")
        shutil.rmtree(tree, ignore_errors=True)

    def _environ(self, tree: Path, trace_dir: Path | None, calls: bool = False) -> dict[str, str]:
        environ = _clean_environ()
        python_path = [str(tree / "site")]
        if trace_dir is not None:
            with self._lock:
                if self._bootstrap is None:
                    directory = bootstrap_dir(self.work_dir)
                    # Its bytecode, once: compiling it in every traced process would cost ~5 ms each.
                    command = [str(self.env.python), "-m", "compileall", "-q", str(directory)]
                    subprocess.run(command, capture_output=True, env=_clean_environ())
                    self._bootstrap = directory
            python_path.insert(0, str(self._bootstrap))
            environ["SLIMWHEEL_TRACE_DIR"] = str(trace_dir)
            if calls:
                environ["SLIMWHEEL_TRACE_CALLS"] = "1"
        environ["PYTHONPATH"] = os.pathsep.join(python_path)
        environ["PYTHONNOUSERSITE"] = "1"
        environ["PYTHONDONTWRITEBYTECODE"] = "1"
        environ["PATH"] = os.pathsep.join(
            [str(tree / "bin"), str(self.env.bin_dir), os.environ.get("PATH", os.defpath)]
        )
        environ["VIRTUAL_ENV"] = str(self.env.root)
        return environ

    def run(self, tree: Path, check: Check, *, timeout: float, trace: bool = False, calls: bool = False) -> RunResult:
        """Run ``check`` against ``tree``: passed means exit status 0 within ``timeout`` seconds.

        ``trace``: record what the check's Python processes touch (:class:`~slimwheel.trace.Trace`); ``calls``
        (with ``trace``): also which files' functions they call, and from where (slower: ``sys.settrace``).

        The check runs in a fresh empty directory, with stdin closed, in a new session; when it ends (or times
        out) every process left in its process group is killed. Processes that leave the group (``setsid``,
        daemons) escape this.
        """
        self._runs.mkdir(parents=True, exist_ok=True)
        run_dir = Path(tempfile.mkdtemp(prefix="run-", dir=self._runs))
        try:
            return self._run(tree, check, timeout, trace, calls, run_dir)
        finally:
            shutil.rmtree(run_dir, ignore_errors=True)

    def _run(self, tree: Path, check: Check, timeout: float, trace: bool, calls: bool, run_dir: Path) -> RunResult:
        cwd = run_dir / "cwd"
        cwd.mkdir()
        trace_dir = run_dir / "trace" if trace else None
        if trace_dir is not None:
            trace_dir.mkdir()
        environ = self._environ(tree, trace_dir, calls)
        argv = list(check.argv)
        if argv[0] == "python":
            argv[0] = str(self.env.python)
        out_path, err_path = run_dir / "stdout", run_dir / "stderr"
        started = time.monotonic()
        with open(out_path, "wb") as out, open(err_path, "wb") as err:  # files, not pipes: nothing can block
            try:
                proc = subprocess.Popen(
                    argv,
                    cwd=cwd,
                    env=environ,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=err,
                    start_new_session=True,
                )
            except OSError as exc:
                return RunResult(
                    passed=False,
                    returncode=None,
                    stdout="",
                    stderr=f"can't start {argv[0]}: {exc.strerror or exc}",
                    seconds=time.monotonic() - started,
                    timed_out=False,
                    trace=None,
                )
            exited = False
            try:
                exited = _wait_for_exit(proc, timeout)
                seconds = time.monotonic() - started
            finally:
                _kill_group(proc.pid)  # on timeout the whole group; after an exit, whatever it left running
                proc.wait()
        traced = self._items_trace(read_traces(trace_dir, tree)) if trace_dir is not None else None
        returncode = proc.returncode if exited else None
        return RunResult(
            passed=exited and returncode == 0,
            returncode=returncode,
            stdout=_read_capped(out_path),
            stderr=_read_capped(err_path),
            seconds=seconds,
            timed_out=not exited,
            trace=traced,
        )

    def _items_trace(self, trace: Trace) -> Trace:
        """Only staged items: a generated file counts as the item it comes from (a wrapper → entry_points.txt)."""
        files = {key for key in trace.files if key in self._staged}
        files.update(self._generated[key] for key in trace.files if key in self._generated)
        return Trace(
            files=frozenset(files),
            directories=trace.directories,
            raw_paths=trace.raw_paths,
            modules=trace.modules,
            processes=trace.processes,
            calls=frozenset(
                (callee, caller if caller in self._staged else "")
                for callee, caller in trace.calls
                if callee in self._staged
            ),
            accesses=frozenset(
                (module, caller if caller in self._staged else "")
                for module, caller in trace.accesses
                if module in self._staged
            ),
        )
