"""What Python sources import when they are imported: module-level import statements, resolved to absolute names.

Static and conservative: the statements that run at import time (module level, and inside ``if``/``try``/``with``/
``class`` bodies — not inside functions) whatever their conditions. Used to keep the packages that code outside
them imports (:mod:`slimwheel.plan`), to skip stubs that can't work (:mod:`slimwheel.stubs`) and to keep the
import closure of a candidate together during blind trial deletion (:mod:`slimwheel.trial`). It is also the one home
of the rule that a package keeping any file keeps its ``__init__.py`` (:func:`package_inits`). Item keys are
installed paths with ``/`` (``numpy/linalg/_linalg.py``); see :mod:`slimwheel.trace`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath

# Suffixes of extension modules: ``name.<tag>.so`` / ``name.pyd`` / ``name.so``.
_EXTENSION_SUFFIXES = (".so", ".pyd")


@dataclass(frozen=True)
class ImportStatement:
    """One executed import: ``import a.b`` (``names`` empty) or ``from a.b import x, y`` (``from_import``)."""

    module: str
    names: tuple[str, ...] = ()
    from_import: bool = False

    def modules(self) -> list[str]:
        """The modules this statement may load: the module, and for ``from m import x`` also ``m.x`` (a name
        may be a submodule)."""
        return [self.module, *(f"{self.module}.{name}" for name in self.names if name != "*")]


def source_module(key: str) -> tuple[str, bool] | None:
    """The dotted module of a ``.py`` item key and whether it is a package's ``__init__``; None if not importable."""
    if not key.endswith(".py"):
        return None
    parts = key[: -len(".py")].split("/")
    is_package = parts[-1] == "__init__"
    if is_package:
        parts = parts[:-1]
    return (".".join(parts), is_package) if parts and all(p.isidentifier() for p in parts) else None


def resolve(level: int, target: str | None, module: str, is_package: bool) -> str | None:
    """The absolute module of ``from <level dots><target> import`` written in ``module``; None if it reaches above
    the top-level package."""
    if not level:
        return target or None
    package = module.split(".") if is_package else module.split(".")[:-1]
    if level - 1 >= len(package):
        return None
    base = package[: len(package) - (level - 1)]
    return ".".join([*base, target] if target else base) or None


def _executed(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    for node in body:
        yield node
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue  # runs when called, not at import
        for field in ("body", "orelse", "finalbody"):
            inner = getattr(node, field, None)
            if isinstance(inner, list):
                yield from _executed([n for n in inner if isinstance(n, ast.stmt)])
        for handler in getattr(node, "handlers", None) or ():
            yield from _executed(handler.body)


def executed_imports(source: bytes, module: str, is_package: bool) -> list[ImportStatement]:
    """The import statements of ``source`` (the code of ``module``) that run when it is imported; [] if it
    does not parse."""
    if b"import" not in source:
        return []
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    found: list[ImportStatement] = []
    for node in _executed(tree.body):
        if isinstance(node, ast.Import):
            found.extend(ImportStatement(alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = resolve(node.level, node.module, module, is_package)
            if base:
                found.append(ImportStatement(base, tuple(alias.name for alias in node.names), from_import=True))
    return found


def imported_from(sources: Mapping[str, bytes]) -> dict[str, set[str]]:
    """Modules that the import-time code of ``sources`` (item key → Python source) takes names or submodules from.

    For each absolute module ``M``: the item keys whose import-time code runs ``from M import x`` or
    ``import M.x``. A stub of ``M`` (or of a package above it) fails such code.
    """
    found: dict[str, set[str]] = {}
    for key, source in sources.items():
        located = source_module(key)
        if located is None:
            continue
        for statement in executed_imports(source, *located):
            if statement.from_import:
                found.setdefault(statement.module, set()).add(key)
            elif "." in statement.module:  # ``import a.b.c`` needs a real package ``a.b`` with ``c`` in it
                found.setdefault(statement.module.rsplit(".", 1)[0], set()).add(key)
    return found


class ImportGraph:
    """Which items each Python item loads when imported, transitively: the static import closure of a set."""

    def __init__(self, items: Mapping[str, bytes]) -> None:
        self._files: dict[str, set[str]] = {}  # module name → its item keys (source, extension, package init)
        for key in items:
            name = _module_of(key)
            if name is not None:
                self._files.setdefault(name, set()).add(key)
        self._edges: dict[str, frozenset[str]] = {}
        for key, source in items.items():
            located = source_module(key)
            if located is None:
                continue
            loaded: set[str] = set()
            for statement in executed_imports(source, *located):
                for name in statement.modules():
                    loaded |= self._module_and_packages(name)
            loaded |= self._module_and_packages(located[0])  # importing a module runs its packages' __init__
            loaded.discard(key)
            if loaded:
                self._edges[key] = frozenset(loaded)

    def _module_and_packages(self, name: str) -> set[str]:
        parts = name.split(".")
        found: set[str] = set()
        for n in range(1, len(parts) + 1):
            found |= self._files.get(".".join(parts[:n]), set())
        return found

    def closure(self, kept: Iterable[str]) -> frozenset[str]:
        """``kept`` plus every item its Python items import at import time, transitively."""
        result = set(kept)
        stack = list(result)
        while stack:
            for loaded in self._edges.get(stack.pop(), ()):
                if loaded not in result:
                    result.add(loaded)
                    stack.append(loaded)
        return frozenset(result)


def _module_of(key: str) -> str | None:
    """The module an item key provides: ``a/b.py`` and ``a/b.cpython-311-x86_64-linux-gnu.so`` → ``a.b``,
    ``a/b/__init__.py`` → ``a.b``."""
    located = source_module(key)
    if located is not None:
        return located[0]
    path = PurePosixPath(key)
    if not path.name.endswith(_EXTENSION_SUFFIXES):
        return None
    stem = path.name.split(".", 1)[0]
    parts = [*path.parent.parts, stem] if stem != "__init__" else list(path.parent.parts)
    return ".".join(parts) if parts and all(p.isidentifier() for p in parts) else None


def package_inits(kept: Iterable[str], available: Iterable[str]) -> set[str]:
    """The rule, in one place: a package that keeps any file keeps its ``__init__.py``, and so do its parent
    packages (else Python imports it as a namespace package, and it "works" without its code). Given the kept
    paths and every path there is (archive paths or installed ones alike), the ``__init__.py`` paths to keep."""
    there = set(available)
    needed: set[str] = set()
    for path in kept:
        parent = PurePosixPath(path).parent
        while str(parent) not in (".", ""):
            init = f"{parent}/__init__.py"
            if init in there:
                needed.add(init)
            parent = parent.parent
    return needed
