"""Stub modules for parts of a package that it imports at start-up but the check never uses.

A package often imports some of its own subpackages when it is imported (``torch`` imports ``torch.testing``), so
deleting such a subpackage breaks ``import torch`` even when the check never touches it. Instead, the subpackage can
be replaced by a small stub module: importing it succeeds, and any use of it raises an :class:`ImportError` that
names the module, says slimwheel removed it and tells the user to reinstall the package.

A stub only helps when the start-up code binds the module without using it (``from . import heavy``); a package that
imports names from it (``from .heavy import f``) still fails, so every candidate must be proven by running the check.

Only a Python module can be stubbed: a shared library that is not an extension module (``libfoo.so`` loaded with
``ctypes`` or by the dynamic loader, which exports no ``PyInit_libfoo``) is never replaced by a ``.py`` stub; it can
only be removed like any other file. :func:`is_extension_module` decides that from the file's bytes, in one place.

A stub never replaces a licence or notice file (:func:`slimwheel.licences.is_licence_path`, and any item the caller
passes as ``never_replace``): when a stubbed package directory holds one, it stays beside the stub.

Everything else here is a pure function over item keys (installed paths such as ``"numpy/random/__init__.py"``,
always ``/``-separated): finding candidates (:func:`stub_candidates`, :func:`stub_candidate`), writing the stub
(:func:`stub_source`) and applying it to a mapping of item contents (:func:`apply_stub`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from .licences import is_licence_path

DEFAULT_REASON = "removed by slimwheel because the check did not use it"

# Suffixes of files that Python can import as a module (sources, sourceless bytecode, extension modules).
_IMPORTABLE = (".py", ".pyc", ".so", ".pyd")
# Suffixes of files that belong to a module without being importable themselves.
_COMPANIONS = (".pyi",)
# Suffixes of native files that Python imports as extension modules (when they really are: is_extension_module).
NATIVE_MODULE_SUFFIXES = (".so", ".pyd")


def is_extension_module(key: str, data: bytes) -> bool:
    """Whether a native module file (``pkg/_fast.cpython-311-x86_64-linux-gnu.so``, ``pkg/_fast.pyd``) really is a
    CPython extension module: Python can import it only if it exports ``PyInit_<name>`` (``<name>`` = the file name up
    to its first dot). A cheap search of the bytes for ``PyInit_<name>`` followed by the NUL that ends the name in
    ELF ``.dynstr``, PE export and Mach-O string tables; no parse. A non-ASCII name (exported as ``PyInitU_...``)
    counts as a module. Files without a native module suffix are not extension modules.
    """
    filename = key.rpartition("/")[2]
    if not filename.endswith(NATIVE_MODULE_SUFFIXES):
        return False
    name = filename.split(".", 1)[0]
    if not name.isascii():
        return True
    return b"PyInit_" + name.encode("ascii") + b"\0" in data


def not_extension_modules(items: Mapping[str, bytes]) -> frozenset[str]:
    """The items named like native modules (``.so``/``.pyd``) that are not extension modules (plain libraries)."""
    return frozenset(
        key
        for key, data in items.items()
        if key.endswith(NATIVE_MODULE_SUFFIXES) and not is_extension_module(key, data)
    )


class Replacement(Protocol):
    """What a candidate tree can take in place of some items: a stub (:class:`StubCandidate`), or a Python file
    rewritten smaller (:class:`slimwheel.rewrite.Rewrite`). ``module`` names it in the trial's journal."""

    @property
    def module(self) -> str: ...
    @property
    def replaces(self) -> frozenset[str]: ...
    @property
    def stub_key(self) -> str: ...
    @property
    def source(self) -> bytes: ...


@dataclass(frozen=True)
class StubCandidate:
    """A module or subpackage that can be replaced by a stub.

    ``replaces`` holds the item keys the stub replaces: every item under the directory of a package, or the files
    of a single module (source, bytecode, extension module, type stub). ``stub_key`` is the item the stub is written
    to: ``"<dir>/__init__.py"`` for a package, ``"<parent>/<name>.py"`` for a module. ``weight`` is the number of
    bytes saved: the weights of the replaced items minus the length of :attr:`source`. ``package_name`` is the
    distribution the stub tells the user to reinstall (empty: the top-level name of ``module``).
    """

    module: str
    replaces: frozenset[str]
    stub_key: str
    weight: int
    package_name: str = ""

    @property
    def is_package(self) -> bool:
        return self.stub_key.endswith("/__init__.py")

    @property
    def source(self) -> bytes:
        """The stub's source, as :func:`stub_source` writes it for this candidate's module and package."""
        return stub_source(self.module, package_name=self.package_name or self.module.split(".", 1)[0])


def _check_module_name(module: str) -> list[str]:
    parts = module.split(".")
    if not all(part.isidentifier() for part in parts):
        raise ValueError(f"not a dotted module name: {module!r}")
    return parts


def stub_source(module: str, *, package_name: str, reason: str = DEFAULT_REASON) -> bytes:
    """The Python source of a stub for ``module``, which belongs to the distribution ``package_name``.

    Importing the stub succeeds. Looking up any public name on it (``module.f``, ``from module import f``) raises
    :class:`ImportError` naming the module, slimwheel and the package to reinstall. Lookups of names starting with
    ``_`` raise :class:`AttributeError` with the same message instead, because tools probe such names with
    ``hasattr`` and must keep working (``__wrapped__`` in ``inspect.unwrap``, ``_fields`` in ``pydoc``,
    ``_repr_html_`` in IPython); ``from module import _name`` then fails with Python's own "cannot import name".
    ``__all__`` is empty, so ``from module import *`` imports nothing. When the stub is loaded as a package (written
    to ``__init__.py``) its ``__path__`` is emptied, so importing a submodule fails with
    :class:`ModuleNotFoundError`. The stub carries the marker attribute ``__slimwheel_stub__ = True``.
    """
    _check_module_name(module)
    if "slimwheel" not in reason.lower():
        reason = f"{reason} (stubbed out by slimwheel)"
    explanation = f"{module} was {reason}; reinstall {package_name} to use it"
    doc = f"Stub left by slimwheel: {explanation}."
    lines = [
        "# Generated by slimwheel: this module was replaced by a stub.",
        f"__doc__ = {doc!r}",
        "__slimwheel_stub__ = True",
        "__all__ = []",
        "if '__path__' in globals():",
        "    __path__ = []  # a package stub has no submodules",
        f"_SLIMWHEEL_STUB_MESSAGE = {explanation!r}",
        "",
        "",
        "def __getattr__(name):",
        "    message = 'cannot use ' + __name__ + '.' + name + ': ' + _SLIMWHEEL_STUB_MESSAGE",
        "    if name.startswith('_'):",
        "        raise AttributeError(message)  # probed: __wrapped__ (inspect), _fields (pydoc), _repr_html_",
        "    raise ImportError(message, name=__name__)",
        "",
    ]
    return "\n".join(lines).encode("utf-8")


# -- finding candidates ----------------------------------------------------------------------------------------


def _is_module_file(filename: str, name: str, suffixes: tuple[str, ...]) -> bool:
    """Whether ``filename`` is a file of module ``name`` with one of ``suffixes``.

    Accepts ``name.py`` and ``name.<tag>.so`` (extension modules carry at most one dot-free ABI tag).
    """
    if not filename.startswith(name + "."):
        return False
    rest = filename[len(name) :]
    for suffix in suffixes:
        if rest == suffix:
            return True
        if suffix in (".so", ".pyd") and rest.endswith(suffix):
            tag = rest[1 : -len(suffix)]
            if tag and "." not in tag:
                return True
    return False


def _is_cached_bytecode(filename: str, name: str) -> bool:
    """Whether ``filename`` (inside ``__pycache__``) is bytecode of module ``name``: ``name.<tag>[.opt-N].pyc``."""
    if not (filename.startswith(name + ".") and filename.endswith(".pyc")):
        return False
    tags = filename[len(name) + 1 : -len(".pyc")].split(".")
    return 1 <= len(tags) <= 2 and all(tags) and (len(tags) == 1 or tags[1].startswith("opt-"))


class _Tree:
    """The importable layout of a set of item keys. ``never_replace`` items (and licence files) are left out of what a
    stub replaces; ``not_modules`` (plain shared libraries named like extension modules) are never importable."""

    def __init__(
        self, items: Iterable[str], never_replace: Iterable[str] = (), not_modules: Iterable[str] = ()
    ) -> None:
        self.never_replace = frozenset(never_replace)
        self.not_modules = frozenset(not_modules)
        self.keys = sorted(key for key in items if not self._outside_packages(key))
        self.dirs: dict[str, list[str]] = {}  # directory -> file names directly in it
        for key in self.keys:
            directory, _, filename = key.rpartition("/")
            self.dirs.setdefault(directory, []).append(filename)

    @staticmethod
    def _outside_packages(key: str) -> bool:
        top = key.split("/", 1)[0]
        return top.endswith((".dist-info", ".data"))

    def is_regular_package(self, directory: str) -> bool:
        return any(_is_module_file(f, "__init__", _IMPORTABLE) for f in self.dirs.get(directory, ()))

    def replaceable(self, key: str) -> bool:
        return key not in self.never_replace and not is_licence_path(key)

    def package_files(self, directory: str) -> frozenset[str]:
        prefix = directory + "/"
        return frozenset(key for key in self.keys if key.startswith(prefix) and self.replaceable(key))

    def module_files(self, parent: str, name: str) -> frozenset[str]:
        files = {
            f"{parent}/{f}"
            for f in self.dirs.get(parent, ())
            if _is_module_file(f, name, _IMPORTABLE + _COMPANIONS) and f"{parent}/{f}" not in self.not_modules
        }
        if not any(_is_module_file(f.rpartition("/")[2], name, _IMPORTABLE) for f in files):
            return frozenset()  # only a .pyi, or a plain shared library: not an importable module
        cache = f"{parent}/__pycache__"
        files.update(f"{cache}/{f}" for f in self.dirs.get(cache, ()) if _is_cached_bytecode(f, name))
        return frozenset(f for f in files if self.replaceable(f))


def _candidate(tree: _Tree, weights: Mapping[str, int], module: str, package_name: str) -> StubCandidate | None:
    parts = _check_module_name(module)
    if len(parts) < 2 or any(part.startswith("__") for part in parts):
        return None
    parent = "/".join(parts[:-1])
    if not tree.is_regular_package(parent):
        return None  # a top-level module, or a module inside a namespace package
    directory = "/".join(parts)
    if tree.is_regular_package(directory):
        replaces, stub_key = tree.package_files(directory), f"{directory}/__init__.py"
    else:
        replaces, stub_key = tree.module_files(parent, parts[-1]), f"{directory}.py"
    if not replaces:
        return None
    saved = sum(weights[key] for key in replaces) - len(stub_source(module, package_name=package_name))
    return StubCandidate(module, replaces, stub_key, saved, package_name)


def stub_candidate(
    items: Mapping[str, int],
    module: str,
    *,
    package_name: str | None = None,
    never_replace: Iterable[str] = (),
    not_modules: Iterable[str] = (),
) -> StubCandidate | None:
    """The stub candidate for ``module`` in ``items`` (item key -> weight), whatever the check uses.

    ``None`` when ``module`` is a top-level module or package, has a component starting with ``__``, lives in a
    namespace package, or has no importable file in ``items`` (``not_modules``: items named like extension modules
    that are plain shared libraries, see :func:`not_extension_modules`). The weight may be negative for a small
    module. ``package_name`` (default: the top-level name of ``module``) is the distribution the stub's message names.
    The candidate never replaces licence files nor ``never_replace`` items.
    """
    tree = _Tree(items, never_replace, not_modules)
    return _candidate(tree, items, module, package_name or module.split(".", 1)[0])


def _covers(names: frozenset[str], module: str) -> bool:
    """Whether ``module`` or one of its submodules is in ``names``."""
    prefix = module + "."
    return module in names or any(name.startswith(prefix) for name in names)


def _under(names: frozenset[str], module: str) -> bool:
    """Whether ``module`` or one of its ancestors is in ``names``."""
    parts = module.split(".")
    return any(".".join(parts[:n]) in names for n in range(1, len(parts) + 1))


def stub_candidates(
    items: Mapping[str, int],
    imported_at_startup: Iterable[str],
    used: Iterable[str],
    *,
    protected: Iterable[str] = (),
    package_name: str | None = None,
    never_replace: Iterable[str] = (),
    not_modules: Iterable[str] = (),
) -> list[StubCandidate]:
    """Modules that the package imports at start-up and the check does not use, as stub candidates.

    ``items`` maps the item keys currently kept to their weights; ``imported_at_startup`` and ``used`` are dotted
    module names (``sys.modules`` after importing the package, and the modules the check needs). A module counts
    as used when it or any of its submodules is in ``used``; it is protected when it, a submodule or an ancestor is
    in ``protected``. For every module imported at start-up the outermost enclosing module that is neither used nor
    protected becomes the candidate (``numpy.random`` rather than ``numpy.random._generator``), so no candidate is
    nested in another. Never proposed: top-level modules and packages, names with a component starting with ``__``
    (``numpy.__config__``), modules inside a namespace package, ``*.dist-info``/``*.data`` files, modules without
    an importable file in ``items``, and stubs that would not save any bytes. Sorted by weight, heaviest first.
    ``package_name`` (default: the top-level module name) is the distribution the stubs' messages name.
    ``never_replace`` items and licence files are never among a candidate's ``replaces``; ``not_modules`` (plain
    shared libraries named like extension modules) never make a module stubbable.
    """
    tree = _Tree(items, never_replace, not_modules)
    used_names = frozenset(used)
    protected_names = frozenset(protected)
    chosen: dict[str, StubCandidate | None] = {}
    for module in sorted(set(imported_at_startup)):
        try:
            parts = _check_module_name(module)
        except ValueError:
            continue
        for depth in range(2, len(parts) + 1):
            enclosing = ".".join(parts[:depth])
            if _under(protected_names, enclosing):
                break
            if _covers(used_names, enclosing) or _covers(protected_names, enclosing):
                continue
            if enclosing not in chosen:
                chosen[enclosing] = _candidate(tree, items, enclosing, package_name or parts[0])
            if chosen[enclosing] is not None:
                break  # the outermost stubbable module; otherwise (e.g. in a namespace package) look deeper
    found = [c for c in chosen.values() if c is not None and c.weight > 0]
    return sorted(found, key=lambda c: (-c.weight, c.module))


def apply_stub(items: Mapping[str, bytes], candidate: StubCandidate, package_name: str) -> dict[str, bytes]:
    """A new item -> content mapping: the items ``candidate`` replaces removed, its stub written at ``stub_key``.

    The stub names ``package_name`` (the distribution), which may differ from the one the candidate was sized with.
    """
    result = {key: content for key, content in items.items() if key not in candidate.replaces}
    result[candidate.stub_key] = stub_source(candidate.module, package_name=package_name)
    return result


# -- what start-up code takes from a module -------------------------------------------------------------------


def blocked_candidates(candidates: Iterable[StubCandidate], imports: Mapping[str, set[str]]) -> set[str]:
    """The modules of ``candidates`` that code outside them imports names or submodules from at import time.

    ``imports`` is :func:`slimwheel.imports.imported_from` of the Python files the check actually ran: parsed once
    by the caller, however many rounds of candidates it asks about (parsing torch's sources takes seconds).
    """
    blocked: set[str] = set()
    for candidate in candidates:
        prefix = candidate.module + "."
        for target, importers in imports.items():
            if (target == candidate.module or target.startswith(prefix)) and importers - candidate.replaces:
                blocked.add(candidate.module)
                break
    return blocked
