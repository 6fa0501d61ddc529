"""slimwheel's rules / strip / lock path runs on Windows; only checks (the sandbox) need POSIX.

* An AST scan of every module in ``slimwheel/`` but the check-running ones (:data:`POSIX_MODULES_ALLOWED`) fails
  on any POSIX-only import, call, constant or ``subprocess`` argument (:data:`POSIX_ONLY_IMPORTS` and friends).
  The scan is a function over a directory, and is shown to catch a bad module in a temporary copy.
* Every module imports with the POSIX-only standard modules missing and ``sys.platform == "win32"`` (the
  sandbox included: it is imported by the shrink pipeline even when no check runs).
* On Windows, asking for a check run fails with one line that says to replay a lock learned on Linux.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from slimwheel.check import WINDOWS_CHECKS, CheckError, checks_run_here
from slimwheel.sandbox import Environment

PACKAGE = Path(__file__).resolve().parent.parent / "slimwheel"

#: Modules that run checks, and so may use POSIX: process groups, ``fcntl`` locks, pidfds, hard links
#: (sandbox.py); the tracer that runs inside the check's processes and reads ``/proc/self/maps`` (_tracehook.py)
#: and the reader of its output (trace.py). Every other module — rules, strip, lock replay, the CLI — must not.
#: None of the others needs POSIX today: binaries/tools.py runs ``strip`` tools through plain ``subprocess.run``, and
#: the atomic writes in writer.py / lock.py / cli.py use ``os.replace`` and ``os.fsync``, which Windows has.
POSIX_MODULES_ALLOWED = frozenset({"sandbox.py", "trace.py", "_tracehook.py"})

#: Standard modules that don't exist on Windows.
POSIX_ONLY_IMPORTS = frozenset({"fcntl", "resource", "pwd", "grp", "termios", "tty", "pty", "syslog", "posix"})

#: ``os`` functions and constants missing on Windows. Not listed, on purpose: ``os.link`` (Windows has it, for
#: NTFS; a caller must handle OSError on any file system anyway), ``os.symlink`` (exists; needs a privilege, so
#: a caller needs a fallback on POSIX too), ``os.chmod`` (exists; only the read-only bit means anything),
#: ``os.kill`` (exists; terminates the process), ``os.replace`` / ``os.fsync`` (exist).
POSIX_ONLY_OS = frozenset(
    {
        "killpg", "setsid", "getsid", "getpgid", "setpgid", "getpgrp", "setpgrp", "fork", "forkpty", "wait3",
        "wait4", "WNOHANG", "mkfifo", "mknod", "geteuid", "getuid", "getegid", "getgid", "getgroups", "setuid",
        "seteuid", "setgid", "chown", "lchown", "fchown", "fchmod", "lchmod", "sync", "statvfs", "fstatvfs",
        "pidfd_open",
        "sched_getaffinity", "getloadavg", "nice", "pipe2", "ttyname", "O_NOFOLLOW", "O_DIRECTORY", "O_CLOEXEC",
        "O_NONBLOCK",
    }
)  # fmt: skip

#: ``signal`` names missing on Windows (it has SIGINT, SIGTERM, SIGABRT, SIGFPE, SIGILL, SIGSEGV, SIGBREAK).
POSIX_ONLY_SIGNAL = frozenset(
    {
        "SIGKILL", "SIGHUP", "SIGQUIT", "SIGALRM", "SIGUSR1", "SIGUSR2", "SIGCHLD", "SIGPIPE", "SIGSTOP", "SIGCONT",
        "alarm", "setitimer", "pthread_kill", "pthread_sigmask", "siginterrupt", "sigwait",
    }
)  # fmt: skip

#: ``select`` calls missing on Windows (``select.select`` exists, for sockets only).
POSIX_ONLY_SELECT = frozenset({"poll", "epoll", "kqueue", "devpoll"})

#: ``subprocess.Popen``/``run`` arguments that are POSIX only (ignored or refused on Windows).
POSIX_ONLY_KEYWORDS = frozenset(
    {"preexec_fn", "start_new_session", "process_group", "pass_fds", "user", "group", "extra_groups", "umask"}
)

_ATTRIBUTES = {"os": POSIX_ONLY_OS, "signal": POSIX_ONLY_SIGNAL, "select": POSIX_ONLY_SELECT}
_SUBPROCESS_CALLS = frozenset({"Popen", "run", "call", "check_call", "check_output"})


def posix_only_uses(directory: Path, allowed: frozenset[str] = POSIX_MODULES_ALLOWED) -> list[str]:
    """``file:line: what`` for every POSIX-only use in the ``*.py`` files of ``directory`` but ``allowed``."""
    found: list[str] = []
    for path in sorted(directory.rglob("*.py")):  # subpackages too (``binaries/elf.py``)
        name = path.relative_to(directory).as_posix()
        if name not in allowed:
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            found += [f"{name}:{line}: {what}" for line, what in _uses(tree)]
    return found


def _uses(tree: ast.Module) -> list[tuple[int, str]]:
    aliases: dict[str, str] = {}  # local name → module (import os as o; from subprocess import Popen)
    uses: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for name in node.names:
                aliases[name.asname or name.name] = name.name
                if name.name.split(".")[0] in POSIX_ONLY_IMPORTS:
                    uses.append((node.lineno, f"import {name.name}"))
        elif isinstance(node, ast.ImportFrom) and node.module is not None and node.level == 0:
            if node.module.split(".")[0] in POSIX_ONLY_IMPORTS:
                uses.append((node.lineno, f"from {node.module} import ..."))
            for name in node.names:
                aliases[name.asname or name.name] = f"{node.module}.{name.name}"
                if name.name in _ATTRIBUTES.get(node.module, ()):
                    uses.append((node.lineno, f"from {node.module} import {name.name}"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            module = aliases.get(node.value.id, node.value.id)
            if node.attr in _ATTRIBUTES.get(module, ()):
                uses.append((node.lineno, f"{module}.{node.attr}"))
        elif isinstance(node, ast.Call) and _is_subprocess_call(node.func, aliases):
            uses += [(node.lineno, f"subprocess {k.arg}=") for k in node.keywords if k.arg in POSIX_ONLY_KEYWORDS]
    return sorted(uses)


def _is_subprocess_call(func: ast.expr, aliases: dict[str, str]) -> bool:
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
        return aliases.get(func.value.id, func.value.id) == "subprocess" and func.attr in _SUBPROCESS_CALLS
    if isinstance(func, ast.Name):
        return aliases.get(func.id, "").removeprefix("subprocess.") in _SUBPROCESS_CALLS
    return False


# ---- the scan ------------------------------------------------------------------------------------------------


def test_no_module_outside_the_sandbox_uses_a_posix_only_api() -> None:
    assert posix_only_uses(PACKAGE) == []


def test_only_the_allowed_modules_use_posix_and_the_scan_sees_the_sandbox_do_it() -> None:
    assert {p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py")} >= POSIX_MODULES_ALLOWED  # no stale
    users = {line.split(":", 1)[0] for line in posix_only_uses(PACKAGE, frozenset())}
    assert "sandbox.py" in users and users <= POSIX_MODULES_ALLOWED


def test_the_scan_catches_a_posix_only_import_added_to_a_module(tmp_path: Path) -> None:
    copy = tmp_path / "slimwheel"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    plan = copy / "plan.py"
    plan.write_text(plan.read_text(encoding="utf-8") + "\nimport fcntl\n", encoding="utf-8")
    (line,) = posix_only_uses(copy)
    assert line.startswith("plan.py:") and line.endswith(": import fcntl")


@pytest.mark.parametrize(
    ("source", "expect"),
    [
        ("import resource as r\n", "import resource"),
        ("from pwd import getpwnam\n", "from pwd import ..."),
        ("import os\nos.killpg(1, 9)\n", "os.killpg"),
        ("import os as o\no.setsid()\n", "os.setsid"),
        ("from os import getuid\n", "from os import getuid"),
        ("import os\nos.statvfs('/')\n", "os.statvfs"),
        ("import signal\nsignal.SIGKILL\n", "signal.SIGKILL"),
        ("import subprocess\nsubprocess.Popen(['x'], start_new_session=True)\n", "subprocess start_new_session="),
        ("from subprocess import run\nrun(['x'], preexec_fn=print)\n", "subprocess preexec_fn="),
        ("import select\nselect.epoll()\n", "select.epoll"),
    ],
)
def test_the_scan_catches_each_kind_of_use(tmp_path: Path, source: str, expect: str) -> None:
    (tmp_path / "bad.py").write_text(source)
    (tmp_path / "good.py").write_text("import os\nos.replace('a', 'b')\nos.link('a', 'b')\nos.kill(1, 15)\n")
    assert posix_only_uses(tmp_path) == [f"bad.py:{source.count(chr(10))}: {expect}"]


# ---- importing on Windows ------------------------------------------------------------------------------------


def test_every_module_imports_without_the_posix_only_modules() -> None:
    """As on Windows: POSIX-only modules missing, ``sys.platform == "win32"`` (a fresh interpreter)."""
    blocked = sorted(POSIX_ONLY_IMPORTS - {"posix"})  # os itself is built on posix here
    program = textwrap.dedent(f"""\
        import importlib, pkgutil, sys
        sys.modules.update(dict.fromkeys({blocked!r}))
        sys.platform = "win32"
        import slimwheel
        found = pkgutil.walk_packages(slimwheel.__path__, "slimwheel.")
        names = [m.name for m in found if m.name != "slimwheel.__main__"]
        for name in names:
            importlib.import_module(name)
        from slimwheel.check import checks_run_here
        print(len(names), checks_run_here())
        """)
    proc = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    count, runs_checks = proc.stdout.split()
    modules = [
        p for p in PACKAGE.rglob("*.py") if p.relative_to(PACKAGE).as_posix() not in ("__init__.py", "__main__.py")
    ]
    assert int(count) == len(modules) and runs_checks == "False"


# ---- checks on Windows ---------------------------------------------------------------------------------------


def test_a_check_on_windows_is_one_line_pointing_to_lock_and_verify(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert checks_run_here() == sys.platform.startswith(("linux", "darwin", "freebsd"))
    monkeypatch.setattr(sys, "platform", "win32")
    assert not checks_run_here()
    with pytest.raises(CheckError) as info:
        Environment.create(tmp_path / "cache")
    message = info.value.message
    assert message == WINDOWS_CHECKS and "\n" not in message
    assert message.startswith("checks (--check/--check-cmd) run on Linux")
    assert "--lock" in message and "--verify" in message
    assert not (tmp_path / "cache").exists()  # refused before anything was made
