"""What a check touched: item keys, the layout of a candidate tree, and reading the traces of a traced run.

*Items* are the installed files of a wheel, keyed by a ``/``-separated string: purelib/platlib files by their
installed path (``numpy/linalg/_linalg.py``), files of the other install schemes under a pseudo-root
(``<scripts>/f2py``, ``<data>/share/x``, ``<headers>/x.h``). A candidate tree lays them out as an install
would: ``site/`` (on ``PYTHONPATH``), ``bin/`` (on ``PATH``), ``data/`` and ``headers/``.

A traced run (:meth:`slimwheel.sandbox.Sandbox.run` with ``trace=True``) puts :func:`bootstrap_dir` first on
``PYTHONPATH``; its ``sitecustomize`` (the module :mod:`slimwheel._tracehook`) records what every Python process
of the check opens, imports, maps and lists, and writes one JSON file per process. :func:`read_traces` merges them
into a :class:`Trace` of item keys. A trace is a hint, never a proof: it misses what a run did not exercise and
what a process did without an audit event (``os.stat``, a native library reading a file itself).
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = [
    "TREE_ROOTS",
    "Trace",
    "bootstrap_dir",
    "bytecode_source",
    "item_key",
    "key_path",
    "path_key",
    "read_traces",
]

#: Subdirectory of a candidate tree → prefix of the keys of the items that live there.
TREE_ROOTS: dict[str, str] = {"site": "", "bin": "<scripts>/", "data": "<data>/", "headers": "<headers>/"}
_SCHEME_PREFIX = {"purelib": "", "platlib": "", "scripts": "<scripts>/", "data": "<data>/", "headers": "<headers>/"}
_PREFIX_ROOT = {prefix: root for root, prefix in TREE_ROOTS.items() if prefix}


def item_key(scheme: str, installed: str) -> str:
    """The key of the file an install puts at ``installed`` inside the directory of ``scheme``."""
    try:
        return _SCHEME_PREFIX[scheme] + installed
    except KeyError:
        raise ValueError(f"unknown install scheme {scheme!r}") from None


def key_path(key: str) -> str:
    """The path of an item inside a candidate tree (``numpy/x.py`` → ``site/numpy/x.py``); ValueError if unsafe."""
    root, rest = "site", key
    if key.startswith("<"):
        prefix, sep, rest = key.partition(">/")
        root = _PREFIX_ROOT.get(prefix + sep, "")
        if not root:
            raise ValueError(f"item key {key!r} has an unknown pseudo-root")
    parts = rest.split("/")
    if any(part in ("", ".", "..") for part in parts) or "\x00" in rest:
        raise ValueError(f"item key {key!r} is not a safe relative path")
    return f"{root}/{rest}"


def path_key(relative: str) -> str | None:
    """The item key of a path relative to a candidate tree (``bin/f2py`` → ``<scripts>/f2py``), or None."""
    root, sep, rest = relative.partition("/")
    if not sep or not rest or root not in TREE_ROOTS:
        return None
    return TREE_ROOTS[root] + rest


def _directory_key(relative: str) -> str | None:
    """The key of a directory of a tree, like an item's: ``site/pkg/data`` → ``pkg/data``, ``bin`` → ``<scripts>``
    and ``site`` → ``""`` (so a file's directory key is ``key.rpartition("/")[0]``)."""
    if relative in TREE_ROOTS:
        return TREE_ROOTS[relative].rstrip("/")
    return path_key(relative)


def bytecode_source(relative: str) -> str | None:
    """``d/__pycache__/m.cpython-311[.opt-1].pyc`` → ``d/m.py`` (the file a bytecode cache stands for)."""
    directory, _, name = relative.rpartition("/")
    parent, _, cache = directory.rpartition("/")
    if cache != "__pycache__" or not name.endswith(".pyc"):
        return None
    stem = name[: -len(".pyc")]
    base, dot, last = stem.rpartition(".")
    if dot and last.startswith("opt-"):
        stem = base
    stem, dot, _tag = stem.rpartition(".")
    if not dot or not stem:
        return None
    return f"{parent}/{stem}.py" if parent else f"{stem}.py"


@dataclass(frozen=True)
class Trace:
    """What the Python processes of one run touched inside the candidate tree.

    ``files``: item keys opened, imported (a module's bytecode cache counts as its source ``.py``), mapped by the
    dynamic loader, or started as programs. Keys of files the run created or of generated files (bytecode, entry
    point wrappers) may appear here too; :meth:`slimwheel.sandbox.Sandbox.run` keeps only staged items.
    ``directories``: directories the program listed, keyed like items (``pkg/data``, ``<scripts>``; the ``site``
    root is ``""``); the import system's own listings are not counted. ``raw_paths``: distinct paths recorded,
    inside the tree or not. ``modules``: names of the modules imported. ``processes``: how many processes wrote a
    trace. ``calls`` (when asked for): pairs (item key of a file whose function was called, item key of the
    calling function's file, ``""`` when outside the tree or called from C); module bodies are not counted.
    ``accesses`` (with ``calls``): lookups of a module's attributes, as pairs (item key of the module's file —
    ``__init__.py`` for a package, the ``.so`` of an extension module —, item key of the file whose code looked the
    attribute up, ``""`` outside the tree); lookups by the import system count for the code that ran the import.
    """

    files: frozenset[str]
    directories: frozenset[str]
    raw_paths: int
    modules: frozenset[str] = frozenset()
    processes: int = 0
    calls: frozenset[tuple[str, str]] = frozenset()
    accesses: frozenset[tuple[str, str]] = frozenset()


def bootstrap_dir(work_dir: Path) -> Path:
    """A directory (inside ``work_dir``) holding the tracer as ``sitecustomize.py``; put it first on PYTHONPATH.

    The tracer records only when ``SLIMWHEEL_TRACE_DIR`` names a directory, and imports any ``sitecustomize`` it
    shadows. Safe to call from several threads.
    """
    source = resources.files("slimwheel").joinpath("_tracehook.py").read_text(encoding="utf-8")
    directory = work_dir / "trace-bootstrap"
    target = directory / "sitecustomize.py"
    try:
        if target.read_text(encoding="utf-8") == source:
            return directory
    except OSError:
        pass
    directory.mkdir(parents=True, exist_ok=True)
    temporary = directory / f".sitecustomize.{os.getpid()}.{threading.get_ident()}.tmp"
    temporary.write_text(source, encoding="utf-8")
    temporary.replace(target)
    return directory


def _strings(record: dict[str, Any], field: str) -> list[str]:
    values = record.get(field)
    return [v for v in values if isinstance(v, str)] if isinstance(values, list) else []


def _pairs(record: dict[str, Any], field: str) -> set[tuple[str, str]]:
    values = record.get(field)
    return {
        (pair[0], pair[1])
        for pair in (values if isinstance(values, list) else [])
        if isinstance(pair, list) and len(pair) == 2 and all(isinstance(p, str) for p in pair)
    }


@dataclass
class _Records:
    """The per-process trace records of one run, merged (paths as the processes saw them)."""

    paths: set[str] = field(default_factory=set)
    listed: set[str] = field(default_factory=set)
    programs: set[str] = field(default_factory=set)
    modules: set[str] = field(default_factory=set)
    call_paths: set[tuple[str, str]] = field(default_factory=set)
    access_paths: set[tuple[str, str]] = field(default_factory=set)
    processes: int = 0

    @staticmethod
    def read(trace_dir: Path) -> _Records:
        merged = _Records()
        for trace_file in sorted(trace_dir.glob("*.json")) if trace_dir.is_dir() else []:
            try:
                record = json.loads(trace_file.read_bytes())
            except (OSError, ValueError):
                continue
            if not isinstance(record, dict):
                continue
            merged.processes += 1
            for name in ("opened", "module_files", "mapped"):
                merged.paths.update(_strings(record, name))
            merged.listed.update(_strings(record, "listed"))
            merged.programs.update(_strings(record, "programs"))
            merged.modules.update(_strings(record, "modules"))
            merged.call_paths |= _pairs(record, "calls")
            merged.access_paths |= _pairs(record, "accesses")
        return merged


class _Tree:
    """Recorded paths seen from one candidate tree: which of them are in it, as tree-relative paths."""

    def __init__(self, tree: Path) -> None:
        self.tree = tree
        self.roots = {os.path.normpath(os.path.abspath(tree)), os.path.realpath(tree)}
        self.bin_dir = os.path.join(os.path.realpath(tree), "bin")
        self._keys: dict[str, str] = {}

    def relative(self, path: str) -> str | None:
        path = os.path.normpath(path)
        if not any(path.startswith(root + os.sep) or path == root for root in self.roots):
            return None
        resolved = os.path.realpath(path)
        for root in self.roots:
            if resolved.startswith(root + os.sep):
                return resolved[len(root) + 1 :].replace(os.sep, "/")
            if resolved == root:
                return ""
        return None

    def source_key(self, path: str) -> str:
        """The item key of a code object's file (a source path, in the tree or not); ``""`` if outside."""
        if path not in self._keys:
            rel = self.relative(path) if path.startswith("/") else None
            self._keys[path] = (path_key(rel) or "") if rel is not None else ""
        return self._keys[path]

    def files(self, records: _Records) -> set[str]:
        """Item keys of the files opened, mapped or run (a ``.pyc`` counts for its source)."""
        files: set[str] = set()
        for path in records.paths | {p for p in records.programs if "/" in p}:
            rel = self.relative(path)
            if rel is None or not os.path.isfile(path):
                continue
            key = path_key(rel)
            if key is not None:
                files.add(key)
            source = bytecode_source(rel)
            if source is not None and source.startswith("site/") and os.path.isfile(os.path.join(self.tree, source)):
                key = path_key(source)
                if key is not None:
                    files.add(key)
        for program in records.programs:
            if "/" not in program and os.path.isfile(os.path.join(self.bin_dir, program)):
                files.add(TREE_ROOTS["bin"] + program)
        return files

    def directories(self, records: _Records) -> set[str]:
        """Item keys of the directories listed."""
        directories: set[str] = set()
        for path in records.listed:
            rel = self.relative(path)
            if rel is None or not os.path.isdir(path):
                continue
            key = _directory_key(rel)
            if key is not None:
                directories.add(key)
        return directories


def read_traces(trace_dir: Path, tree: Path) -> Trace:
    """Merge the per-process traces in ``trace_dir`` into the item keys of ``tree`` they touched.

    Call it while ``tree`` still exists: a recorded path counts only if it is a file (or, for listings, a
    directory) of the tree. Paths outside the tree are ignored; unreadable trace files (a process killed while
    writing) are skipped.
    """
    records = _Records.read(trace_dir)
    seen = _Tree(tree)
    files, directories = seen.files(records), seen.directories(records)
    calls = {(seen.source_key(callee), seen.source_key(caller)) for callee, caller in records.call_paths}
    accesses = {(seen.source_key(module), seen.source_key(caller)) for module, caller in records.access_paths}
    return Trace(
        files=frozenset(files),
        directories=frozenset(directories),
        raw_paths=len(records.paths | records.listed | records.programs),
        modules=frozenset(records.modules),
        processes=records.processes,
        calls=frozenset((callee, caller) for callee, caller in calls if callee),
        accesses=frozenset((module, caller) for module, caller in accesses if module),
    )
