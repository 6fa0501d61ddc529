"""What a file in a wheel is: one category per file, decided from its install path and its first bytes.

:func:`categorize` decides one file; :func:`categorize_entries` every entry of a wheel — the one place that maps
a wheel's entries to categories, shared by the shrink pipeline and ``slimwheel inspect``. Nothing here
reads an archive beyond an entry's first bytes, or knows how a category is shown (that is
:mod:`slimwheel.inspection` and :mod:`slimwheel.report`) or what is done with it (:mod:`slimwheel.rules`).
"""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import PurePosixPath

from .contents import Wheel


class Category(StrEnum):
    METADATA = "metadata"
    NATIVE = "native"  # the package's own extension modules and shared libraries
    VENDORED = "vendored"  # shared libraries bundled by auditwheel/delvewheel in *.libs/ or .dylibs/
    PYTHON = "python"
    BYTECODE = "bytecode"
    STUBS = "stubs"
    HEADERS = "headers"
    STATIC_LIBS = "static-libs"
    DEBUG_FILES = "debug-files"
    SOURCES = "sources"
    BUILD_CONFIG = "build-config"
    TESTS = "tests"
    DOCS = "docs"
    SCRIPTS = "scripts"
    DATA = "data"


DESCRIPTIONS: dict[Category, str] = {
    Category.METADATA: ".dist-info files",
    Category.NATIVE: "extension modules and shared libraries",
    Category.VENDORED: "shared libraries vendored by auditwheel/delvewheel (*.libs/)",
    Category.PYTHON: "Python source (.py)",
    Category.BYTECODE: "compiled bytecode (.pyc, __pycache__)",
    Category.STUBS: "type stubs (.pyi, py.typed)",
    Category.HEADERS: "C/C++ headers",
    Category.STATIC_LIBS: "static and import libraries (.a, .lib, .exp)",
    Category.DEBUG_FILES: "separate debug files (.pdb, .debug, .dSYM)",
    Category.SOURCES: "sources (.c, .cpp, .pyx, .pxd, .f, ...)",
    Category.BUILD_CONFIG: "build configuration (pkg-config, CMake, .ini for builds)",
    Category.TESTS: "test suites (tests/, test/, conftest.py)",
    Category.DOCS: "documentation and examples",
    Category.SCRIPTS: "scripts installed to bin/",
    Category.DATA: "other data files",
}

TEST_DIRS = frozenset({"tests", "test"})
DOC_DIRS = frozenset({"doc", "docs", "example", "examples"})
_HEADER_EXT = frozenset({".h", ".hh", ".hpp", ".hxx", ".h++", ".cuh", ".inl", ".tcc"})
_SOURCE_EXT = frozenset(
    {
        ".c",
        ".cc",
        ".cpp",
        ".cxx",
        ".c++",
        ".cu",
        ".mm",
        ".pyx",
        ".pxd",
        ".pxi",
        ".f",
        ".for",
        ".f77",
        ".f90",
        ".f95",
        ".f03",
        ".f08",
        ".rs",
        ".go",
        ".src",
        ".swg",
        ".i",
    }
)
_STATIC_EXT = frozenset({".a", ".lib", ".exp"})
_DEBUG_EXT = frozenset({".pdb", ".debug", ".dwp", ".dwo"})
_DOC_EXT = frozenset({".md", ".rst"})
_BUILD_EXT = frozenset({".pc", ".cmake"})
_NATIVE_MAGIC = (
    b"\x7fELF",
    b"MZ",
    b"\xcf\xfa\xed\xfe",
    b"\xce\xfa\xed\xfe",
    b"\xca\xfe\xba\xbe",
    b"\xbe\xba\xfe\xca",
)
_NATIVE_EXT = frozenset({".so", ".pyd", ".dll", ".dylib"})


def is_vendored_dir(top: str) -> bool:
    """auditwheel writes ``<pkg>.libs/``, delocate ``<pkg>/.dylibs/``, delvewheel ``<pkg>.libs/`` too."""
    return top.endswith(".libs") or top == ".dylibs"


_TEST_EXECUTABLE = re.compile(r"(test_\w+|\w+_test|\w+Tests?)(\.exe)?")


def is_test_executable(name: str, head: bytes) -> bool:
    """A native test program (torch ships ``bin/test_api``, ``bin/TCPStoreTest``): an executable, not a library
    or extension module (no ``.so``/``.pyd``/``.dll`` suffix), named like a test. Never imported."""
    return head.startswith((b"\x7fELF", b"MZ")) and _TEST_EXECUTABLE.fullmatch(name) is not None


def looks_native(name: str, head: bytes) -> bool:
    suffixes = PurePosixPath(name).suffixes
    if any(s in _NATIVE_EXT for s in suffixes) or ".so." in name:
        return head.startswith(_NATIVE_MAGIC) or not head
    return head.startswith(_NATIVE_MAGIC[:1])  # an ELF without the usual suffix (e.g. an executable)


def categorize(scheme: str, installed: str, head: bytes, *, is_metadata: bool = False) -> Category:
    """The category of a file, given its install scheme, its path relative to that scheme and its first bytes."""
    if is_metadata:
        return Category.METADATA
    path = PurePosixPath(installed)
    name = path.name.lower()
    suffix = path.suffix.lower()
    dirs = [d.lower() for d in path.parts[:-1]]
    if scheme == "headers":
        return Category.HEADERS
    if scheme == "scripts":
        return Category.SCRIPTS
    if any(d in TEST_DIRS for d in dirs) or name == "conftest.py" or is_test_executable(path.name, head):
        return Category.TESTS
    if any(d in DOC_DIRS for d in dirs) or (suffix in _DOC_EXT):
        return Category.DOCS
    vendored_dir = (dirs and is_vendored_dir(dirs[0])) or ".dylibs" in dirs
    if vendored_dir and looks_native(name, head):
        return Category.VENDORED
    if suffix in (".pyc", ".pyo") or "__pycache__" in dirs:
        return Category.BYTECODE
    if suffix == ".py":
        return Category.PYTHON
    if suffix == ".pyi" or name == "py.typed":
        return Category.STUBS
    if suffix in _HEADER_EXT:
        return Category.HEADERS
    if suffix in _STATIC_EXT:
        return Category.STATIC_LIBS
    if suffix in _DEBUG_EXT or any(d.endswith(".dsym") for d in dirs):
        return Category.DEBUG_FILES
    if looks_native(name, head):
        return Category.NATIVE
    if suffix in _SOURCE_EXT:
        return Category.SOURCES
    if suffix in _BUILD_EXT or "pkgconfig" in dirs or "cmake" in dirs or (suffix == ".ini" and "lib" in dirs):
        return Category.BUILD_CONFIG
    return Category.DATA


def categorize_entries(wheel: Wheel) -> dict[str, Category]:
    """The category of every entry of ``wheel``, by archive path."""
    result: dict[str, Category] = {}
    for entry in wheel.entries:
        scheme, installed = wheel.location(entry.path)
        result[entry.path] = categorize(scheme, installed, entry.head(4), is_metadata=wheel.is_metadata(entry.path))
    return result
