"""The tracer that runs *inside* check processes; :func:`slimwheel.trace.bootstrap_dir` copies this file there.

It is not imported by slimwheel itself. Copied as ``sitecustomize.py`` into a directory that is put first on
``PYTHONPATH``, it is imported by every Python process of a check (children inherit ``PYTHONPATH``), and:

* when ``SLIMWHEEL_TRACE_DIR`` is set, installs an audit hook that records, into sets, the paths the process opens
  (``open``, which also covers the source or bytecode of every module imported from files), the files of
  extension modules (``import``) and ``ctypes`` libraries, the directories it lists (``os.listdir``,
  ``os.scandir``, ``glob.glob``; the import system's own listings are left out) and the programs it starts; at exit
  (``atexit``, and a wrapper of ``os._exit`` for forked children) it adds every module's ``__file__`` and the files
  the dynamic loader mapped (``/proc/self/maps``: libraries loaded as dependencies raise no audit event) and writes
  it all to ``<SLIMWHEEL_TRACE_DIR>/<pid>.json``;
* when ``SLIMWHEEL_TRACE_CALLS=1`` too, records with ``sys.settrace`` (call events only) which files' functions
  are called and from which file (module bodies excluded), to tell a module that is merely imported from one
  whose code is used; and which modules' attributes are looked up from which file (``mod.f``, ``mod.Class`` in an
  ``isinstance``, ``from mod import x``, a lookup from C code such as an extension module's ``getattr``): every
  module imported from outside the interpreter's own directories gets, as it is created, a subclass of the module
  type whose ``__getattribute__`` records the lookup (dunder names, and ``_private`` names that don't exist, which
  a stub answers the same way, are not recorded; nor are the lookups of a line that looks into several modules, a
  scanner that adapts to what a module holds);
* always imports the ``sitecustomize`` it shadows, if one would have been found later on ``sys.path``.

It must run on any Python 3 the check may use (audit hooks need 3.8), import little, and keep the hook cheap:
one dictionary lookup for uninteresting events.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing would double the start-up cost of a traced run
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

TRACE_DIR_VARIABLE = "SLIMWHEEL_TRACE_DIR"
TRACE_CALLS_VARIABLE = "SLIMWHEEL_TRACE_CALLS"

_opened: set[str] = set()  # absolute paths opened (files, bytecode, ctypes libraries, extension modules)
_listed: set[str] = set()  # absolute paths of directories listed
_programs: set[str] = set()  # programs started: a path, or a bare name looked up on PATH
_modules: set[str] = set()  # names of modules imported
_calls: set[tuple[str, str]] = set()  # (file of a called function, file of its caller); module bodies left out
# (file, line) of code that looked up attributes of modules -> the files of those modules
_access_sites: dict[tuple[str, int], set[str]] = {}
#: A line that looked up attributes of this many unrelated modules or more is a scanner (``for m in modules:
#: getattr(m, n)``, ``dir()`` walks): it adapts to what a module holds, so its lookups say nothing about one module's
#: use. A chain (``torch.backends.cudnn.f``: a package, its subpackage, its module) counts as one.
SCANNER_MODULES = 3
_SITE_CAP = 64  # modules remembered per line: enough to tell a scanner
_trace_dir = ""


def _absolute(path: object) -> str | None:
    if type(path) is not str:
        if isinstance(path, bytes):
            path = os.fsdecode(path)
        elif isinstance(path, os.PathLike):
            path = os.fspath(path)
            if isinstance(path, bytes):
                path = os.fsdecode(path)
        if not isinstance(path, str):
            return None  # a file descriptor
    if path.startswith("/"):
        return path
    try:
        return os.path.join(os.getcwd(), path)
    except OSError:  # the working directory was deleted
        return None


def _on_open(args: tuple[Any, ...]) -> None:
    path = args[0]
    if type(path) is str and path.startswith("/"):  # the common case, kept short
        _opened.add(path)
        return
    absolute = _absolute(path)
    if absolute is not None:
        _opened.add(absolute)


def _on_import(args: tuple[Any, ...]) -> None:
    _modules.add(args[0])
    if args[1] is not None:  # an extension module's file
        _on_open(args[1:])


def _on_dlopen(args: tuple[Any, ...]) -> None:
    name = args[0]
    if isinstance(name, bytes):
        name = os.fsdecode(name)
    if isinstance(name, str) and "/" in name:
        _on_open((name,))  # a bare library name is found by the loader: /proc/self/maps shows where


def _on_listdir(args: tuple[Any, ...]) -> None:
    # The import system lists every directory it searches; those listings are not the program's.
    try:
        caller = sys._getframe(2).f_code.co_filename
    except ValueError:  # called from C with no Python caller
        caller = ""
    if caller.startswith("<frozen importlib"):
        return
    path = args[0] if args else None
    absolute = _absolute("." if path is None else path)
    if absolute is not None:
        _listed.add(absolute)


def _on_glob(args: tuple[Any, ...]) -> None:
    pattern = args[0]
    if isinstance(pattern, bytes):
        pattern = os.fsdecode(pattern)
    if not isinstance(pattern, str):
        return
    root = args[2] if len(args) > 2 and args[2] is not None else None
    parts = []
    for part in pattern.split("/"):
        if any(c in part for c in "*?["):
            break
        parts.append(part)
    base = "/".join(parts) or ("/" if pattern.startswith("/") else ".")
    if root is not None and not base.startswith("/"):
        base = os.path.join(os.fsdecode(root) if isinstance(root, bytes) else str(root), base)
    absolute = _absolute(base)
    if absolute is not None:
        _listed.add(absolute)


def _program(program: object) -> None:
    if isinstance(program, bytes):
        program = os.fsdecode(program)
    elif isinstance(program, os.PathLike):
        program = os.fsdecode(os.fspath(program))
    if not isinstance(program, str) or not program:
        return
    if "/" in program:
        absolute = _absolute(program)
        if absolute is not None:
            _programs.add(absolute)
    else:
        _programs.add(program)


def _on_popen(args: tuple[Any, ...]) -> None:  # subprocess.Popen: executable, args, cwd, env
    executable, argv = args[0], args[1]
    if executable is None and isinstance(argv, (list, tuple)) and argv:
        executable = argv[0]
    elif executable is None:
        executable = argv
    _program(executable)


def _on_exec(args: tuple[Any, ...]) -> None:  # os.exec / os.posix_spawn: path, argv, env
    _program(args[0])


def _on_spawn(args: tuple[Any, ...]) -> None:  # os.spawn: mode, path, args, env
    _program(args[1])


def _on_system(args: tuple[Any, ...]) -> None:  # os.system: command
    command = args[0]
    if isinstance(command, bytes):
        command = os.fsdecode(command)
    if isinstance(command, str) and command.split():
        _program(command.split()[0])


_HANDLERS: dict[str, Callable[[tuple[Any, ...]], None]] = {
    "open": _on_open,
    "import": _on_import,
    "ctypes.dlopen": _on_dlopen,
    "os.listdir": _on_listdir,
    "os.scandir": _on_listdir,
    "glob.glob": _on_glob,
    "glob.glob/2": _on_glob,
    "subprocess.Popen": _on_popen,
    "os.exec": _on_exec,
    "os.posix_spawn": _on_exec,
    "os.spawn": _on_spawn,
    "os.system": _on_system,
}


def _hook(event: str, args: tuple[Any, ...]) -> None:
    handler = _HANDLERS.get(event)
    if handler is not None:
        try:  # noqa: SIM105  (contextlib.suppress costs more, and this runs for every event)
            handler(args)
        except Exception:  # never let tracing change what the check does
            pass


def _on_call(frame: Any, event: str, arg: object) -> None:
    """``sys.settrace`` function: 'call' events only (it returns None, so no line events follow)."""
    code = frame.f_code
    if code.co_name != "<module>":
        caller = frame.f_back
        _calls.add((code.co_filename, caller.f_code.co_filename if caller is not None else ""))


_module_type = type(sys)
_module_getattribute = _module_type.__getattribute__


def _record_access(module: object, name: str) -> None:
    """Record that ``module``'s attribute was looked up, by the code that did it: the frame that called
    ``__getattribute__`` or, when that is the import system (``from pkg import sub`` looks ``sub`` up on ``pkg``), the
    code that ran the import statement — a package's own ``from .sub import x`` is then an inside use."""
    try:
        path = _module_getattribute(module, "__dict__").get("__file__")
        if type(path) is str:
            frame = sys._getframe(2)
            importing = False
            while frame.f_back is not None and frame.f_code.co_filename.startswith("<frozen importlib"):
                frame, importing = frame.f_back, True
            # During an import (the import system, an extension module's init in C) a line may look into many
            # modules: that is no scanner, so such lookups get a site of their own, never cut off.
            site = (frame.f_code.co_filename, -1 if importing else frame.f_lineno)
            modules = _access_sites.get(site)
            if modules is None:
                _access_sites[site] = {path}
            elif site[1] == -1 or len(modules) < _SITE_CAP:
                modules.add(path)
    except Exception:  # never let tracing change what the check does
        pass


class _WatchedModule(_module_type):  # type: ignore[misc,valid-type]
    """A module whose attribute lookups from outside are recorded (its own code reads its globals directly)."""

    __slots__ = ()

    def __getattribute__(self, name: str) -> Any:
        try:
            value = _module_getattribute(self, name)
        except AttributeError:
            if name[:1] != "_":  # a stub raises ImportError here, not AttributeError: that changes behaviour
                _record_access(self, name)
            raise
        if name[:2] != "__":
            _record_access(self, name)
        return value


def _watch_modules() -> None:
    """Make every module created by the import system from outside the interpreter's own directories a
    :class:`_WatchedModule` (wrapping ``module_from_spec``, which ``_load_unlocked`` calls for every import)."""
    bootstrap = sys.modules.get("_frozen_importlib")
    real = getattr(bootstrap, "module_from_spec", None)
    if real is None:
        return
    own = tuple({os.path.join(p, "") for p in (sys.prefix, sys.base_prefix, sys.exec_prefix) if p})

    def module_from_spec(spec: Any) -> Any:
        module = real(spec)
        try:
            origin = getattr(spec, "origin", None)
            if (
                type(module) is _module_type
                and isinstance(origin, str)
                and origin.startswith("/")
                and not origin.startswith(own)
            ):
                module.__class__ = _WatchedModule
        except Exception:
            pass
        return module

    bootstrap.module_from_spec = module_from_spec  # type: ignore[union-attr]


def _unrelated(paths: set[str]) -> int:
    """How many of the module files ``paths`` are not the ``__init__.py`` of a package that holds another of them."""

    def holds_another(path: str) -> bool:
        prefix = os.path.dirname(path) + os.sep
        return path.endswith(os.sep + "__init__.py") and any(p != path and p.startswith(prefix) for p in paths)

    return sum(1 for path in paths if not holds_another(path))


def _read_proc_file(path: str) -> str:
    chunks = []
    fd = os.open(path, os.O_RDONLY)
    try:
        while True:
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(fd)
    return b"".join(chunks).decode("utf-8", "surrogateescape")


def _mapped_files() -> list[str]:
    """Files the dynamic loader mapped into this process: ``/proc/self/maps`` lines with an inode and a path."""
    try:
        text = _read_proc_file("/proc/self/maps")
    except OSError:  # not Linux
        return []
    files = set()
    for line in text.splitlines():
        fields = line.split(None, 5)
        if len(fields) == 6 and fields[4] != "0" and fields[5].startswith("/"):
            path = fields[5]
            if path.endswith(" (deleted)"):
                path = path[: -len(" (deleted)")]
            files.add(path)
    return sorted(files)


def _module_files() -> list[str]:
    files = set()
    for module in list(sys.modules.values()):
        namespace = getattr(module, "__dict__", None)  # not getattr(module, "__file__"): no module __getattr__
        path = namespace.get("__file__") if isinstance(namespace, dict) else None
        if isinstance(path, str):
            files.add(os.path.abspath(path))
    argv0 = sys.argv[0] if getattr(sys, "argv", None) else ""
    if isinstance(argv0, str) and argv0 not in ("", "-c", "-m") and os.path.isfile(argv0):
        files.add(os.path.abspath(argv0))
    return sorted(files)


def _dump() -> None:
    modules = _modules | set(sys.modules)  # before importing json (a forked child re-initialises the import lock)
    import json

    try:
        cwd = os.getcwd()
    except OSError:
        cwd = ""
    record = {
        "pid": os.getpid(),
        "cwd": cwd,
        "opened": sorted(_opened.copy()),
        "listed": sorted(_listed.copy()),
        "programs": sorted(_programs.copy()),
        "modules": sorted(modules),
        "module_files": _module_files(),
        "mapped": _mapped_files(),
        "calls": sorted(_calls.copy()),
        "accesses": sorted(
            {
                (path, site[0])
                for site, paths in list(_access_sites.items())
                if site[1] == -1 or _unrelated(paths) < SCANNER_MODULES
                for path in paths
            }
        ),
    }
    data = json.dumps(record).encode("ascii")  # ensure_ascii: file names that are not UTF-8 survive as escapes
    name = os.path.join(_trace_dir, str(os.getpid()))
    fd = os.open(name + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.replace(name + ".tmp", name + ".json")


def _dump_quietly() -> None:
    try:  # noqa: SIM105  (importing contextlib would be the only reason to)
        _dump()
    except Exception:
        pass


def install(trace_dir: str, calls: bool) -> None:
    """Start recording; write the trace when the process exits. ``calls``: also record which files' functions
    are called, and from which files (``sys.settrace``: slower, so only when asked for)."""
    global _trace_dir
    if not hasattr(sys, "addaudithook"):  # Python < 3.8
        return
    import atexit

    _trace_dir = trace_dir
    sys.addaudithook(_hook)
    if calls:
        import threading

        sys.settrace(_on_call)
        threading.settrace(_on_call)
        _watch_modules()
    atexit.register(_dump_quietly)
    real_exit = os._exit

    def _exit(code: int) -> None:  # os._exit skips atexit: forked children (multiprocessing) end this way
        _dump_quietly()
        real_exit(code)

    os._exit = _exit  # type: ignore[assignment]


def chain() -> None:
    """Import the ``sitecustomize`` module that this one shadows, if any, as Python would have."""
    import importlib.machinery  # cheap; importlib.util is not, and is only needed when there is something to chain

    here = os.path.dirname(os.path.abspath(__file__))
    later = []
    seen = False
    for entry in sys.path:
        if seen:
            later.append(entry)
        elif os.path.abspath(entry or ".") == here:
            seen = True
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", later)
    if spec is None or spec.loader is None:
        return
    import importlib.util

    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)


def main() -> None:
    trace_dir = os.environ.get(TRACE_DIR_VARIABLE)
    if trace_dir:
        install(trace_dir, os.environ.get(TRACE_CALLS_VARIABLE) == "1")
    chain()


if __name__ == "sitecustomize":
    main()
