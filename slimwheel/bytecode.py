"""Sourceless bytecode: a wheel's ``pkg/mod.py`` replaced by ``pkg/mod.pyc``, compiled by one chosen interpreter.

CPython imports a module from a ``.pyc`` that sits where its ``.py`` would be (not in ``__pycache__``) when there is
no ``.py`` beside it (``SourcelessFileLoader``), for packages (``__init__.pyc``) and for ``python -m pkg``
(``__main__.pyc``) alike. Such bytecode runs only on the CPython version (``X.Y``) that compiled it, so:

* :func:`check_interpreter` refuses an interpreter that is not CPython, or whose ``X.Y`` is not the wheel's;
* :func:`retagged` (tags), :func:`retagged_filename` and :func:`retagged_wheel_file` (the ``Tag:`` lines of the
  ``WHEEL`` file) re-tag the wheel so that installers offer it to that version only: every python tag becomes
  ``cpXY``; an ``abi3`` ABI tag becomes ``cpXY`` too, because CPython 3.12 also accepts ``cp311-abi3`` wheels (abi3
  is forward compatible, 3.11 bytecode is not), while ``cp311-none-<plat>`` and ``cp311-cpXY-<plat>`` are accepted
  by 3.11 only. ``py3-none-any`` and ``py2.py3-none-any`` become ``cp311-none-any``; ``cp38-abi3-linux_x86_64``
  becomes ``cp311-cp311-linux_x86_64`` (its ``.abi3.so`` files still load on 3.11).

:func:`compile_sources` compiles in one subprocess of the interpreter, with ``py_compile`` and
``UNCHECKED_HASH`` pycs (no timestamps: the same source gives the same bytes) under ``PYTHONHASHSEED=0`` (set
constants are marshalled in hash order). Each code object's file name is the item key (``numpy/linalg/x.py``), so a
traceback names the installed file. A file the interpreter can't compile stays source and is reported.

:func:`bytecode_keys` says which files to compile: ``.py`` modules Python would import (every directory and the
file stem an identifier), never licence files, never files outside the import path (scripts, data, headers: their
``<scripts>/``-style item keys or ``*.data/scripts/`` archive paths) or in ``*.dist-info``, never ``.pyi`` stubs.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from packaging.utils import parse_wheel_filename

from .errors import SlimwheelError
from .licences import is_licence_path

__all__ = [
    "BytecodeError",
    "Compiled",
    "Interpreter",
    "bytecode_keys",
    "check_interpreter",
    "compile_sources",
    "describe_interpreter",
    "interpreter_magic",
    "pyc_key",
    "retagged",
    "retagged_filename",
    "retagged_wheel_file",
    "wheel_python_version",
]

_OPTION = "--bytecode-only"


class BytecodeError(SlimwheelError):
    """The wheel can't be turned into bytecode with this interpreter (wrong version, not CPython, won't run)."""


@dataclass(frozen=True)
class Interpreter:
    """What an interpreter said about itself: ``implementation`` (``cpython``), ``version`` (``"3.11"``) and the
    magic number of its pycs (:data:`importlib.util.MAGIC_NUMBER`)."""

    path: Path
    implementation: str
    version: str
    magic: bytes


@dataclass(frozen=True)
class Compiled:
    """The result of :func:`compile_sources`: ``pyc`` maps a source's key (``a/b/mod.py``) to the bytes of its
    ``.pyc`` (to be stored at :func:`pyc_key`); ``failed`` maps each source that stays source to the one-line
    reason the interpreter gave."""

    pyc: dict[str, bytes] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------- which files


def pyc_key(key: str) -> str:
    """Where the bytecode of ``key`` goes: ``a/b/mod.py`` → ``a/b/mod.pyc`` (beside it, not in ``__pycache__``)."""
    if not key.endswith(".py"):
        raise ValueError(f"not a Python source: {key!r}")
    return key + "c"


_NOT_IMPORTED = re.compile(r"[^/]+\.data/(?!purelib/|platlib/)")
_DATA_LIB = re.compile(r"^[^/]+\.data/(?:purelib|platlib)/")


def bytecode_keys(keys: Iterable[str], never: Collection[str] = ()) -> list[str]:
    """The keys (item keys or archive paths) of the ``.py`` modules to compile, in the order given: importable
    modules only, never licence files or ``never`` (licence files METADATA declares)."""
    chosen = []
    for key in keys:
        if not key.endswith(".py") or key in never or is_licence_path(key) or key.startswith("<"):
            continue
        if _NOT_IMPORTED.match(key):
            continue  # <name>.data/scripts/, data/, headers/: not on the import path; scripts stay source
        parts = _DATA_LIB.sub("", key).split("/")
        if any(part.endswith(".dist-info") for part in parts[:-1]):
            continue
        if all(part.isidentifier() for part in parts[:-1]) and parts[-1][: -len(".py")].isidentifier():
            chosen.append(key)
    return chosen


# -------------------------------------------------------------------------------------------- the interpreter

_DESCRIBE = (
    "import importlib.util, json, sys; print(json.dumps({'implementation': sys.implementation.name, "
    "'version': '%d.%d' % sys.version_info[:2], 'magic': importlib.util.MAGIC_NUMBER.hex()}))"
)


def _environment() -> dict[str, str]:
    """The subprocess environment: no ``PYTHON*`` settings of ours (``PYTHONOPTIMIZE`` would change the code),
    string hashing fixed (frozenset constants are marshalled in iteration order)."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("PYTHON")}
    env["PYTHONHASHSEED"] = "0"
    return env


def _run(python: Path, args: list[str], stdin: str | None = None) -> str:
    try:
        proc = subprocess.run(
            [str(python), "-S", "-s", *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=_environment(),
            check=False,
        )
    except OSError as error:
        raise BytecodeError(f"{_OPTION}: can't run {python}: {error.strerror or error}") from None
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"])[-1]
        raise BytecodeError(f"{_OPTION}: {python} failed: {last}")
    return proc.stdout


def describe_interpreter(python: Path) -> Interpreter:
    """Ask ``python`` what it is (one subprocess)."""
    try:
        info = json.loads(_run(python, ["-c", _DESCRIBE]))
        return Interpreter(python, str(info["implementation"]), str(info["version"]), bytes.fromhex(info["magic"]))
    except (ValueError, KeyError, TypeError):
        raise BytecodeError(f"{_OPTION}: {python} did not say what Python it is") from None


def interpreter_magic(python: Path) -> tuple[str, bytes]:
    """``python``'s ``X.Y`` version and the magic number its pycs start with."""
    found = describe_interpreter(python)
    return found.version, found.magic


def check_interpreter(python_version_of_wheel: str | None, python: Path) -> Interpreter:
    """``python`` described, or :class:`BytecodeError` when its bytecode would not suit the wheel: not CPython, or
    not the wheel's ``X.Y`` (``python_version_of_wheel``, from :func:`wheel_python_version`; None: any)."""
    found = describe_interpreter(python)
    wanted = f"CPython {python_version_of_wheel}" if python_version_of_wheel else "CPython"
    if found.implementation != "cpython":
        raise BytecodeError(
            f"{_OPTION}: {python} is {found.implementation} {found.version}, not CPython; "
            f"pass --python with a {wanted} interpreter"
        )
    if python_version_of_wheel is not None and found.version != python_version_of_wheel:
        raise BytecodeError(
            f"{_OPTION}: the wheel is for CPython {python_version_of_wheel} but {python} is {found.version}; "
            f"pass --python with a {python_version_of_wheel} interpreter"
        )
    return found


# -------------------------------------------------------------------------------------------------- compiling

_COMPILE = r"""
import json, py_compile, sys
failed = {}
for index, dfile in json.load(sys.stdin):
    try:
        py_compile.compile(
            f"{index}.py", cfile=f"{index}.pyc", dfile=dfile, doraise=True, optimize=OPTIMIZE,
            invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
        )
    except Exception as error:
        message = getattr(error, "exc_value", None) or error
        failed[index] = f"{type(message).__name__}: {message}"
print(json.dumps(failed))
"""


def compile_sources(
    sources: Mapping[str, bytes], python: Path, *, optimize: int = 0, debug_ranges: bool = True
) -> Compiled:
    """The ``.pyc`` of each source (key → bytes), all compiled by ``python`` in one subprocess; the sources that
    don't compile are in :attr:`Compiled.failed`. ``optimize``: as ``python -O`` (1: no asserts; 2: nor
    docstrings); 0 keeps behaviour. ``debug_ranges=False``: as ``python -X no_debug_ranges`` (3.11+): no column
    ranges, so tracebacks lose their ``^^^`` markers; on torch's modules the pycs compress 26% smaller."""
    if not sources:
        return Compiled()
    keys = list(sources)
    with tempfile.TemporaryDirectory(prefix="slimwheel-bytecode-") as work:
        root = Path(work)
        for index, key in enumerate(keys):
            (root / f"{index}.py").write_bytes(sources[key])
        script = _COMPILE.replace("OPTIMIZE", str(int(optimize)))
        listing = json.dumps([[index, key] for index, key in enumerate(keys)])
        flags = [] if debug_ranges else ["-X", "no_debug_ranges"]
        command = [*flags, "-c", f"import os; os.chdir({str(root)!r})\n{script}"]
        failures = json.loads(_run(python, command, listing))
        result = Compiled()
        for index, key in enumerate(keys):
            reason = failures.get(str(index))
            if reason is not None:
                result.failed[key] = " ".join(str(reason).split())
            else:
                result.pyc[key] = (root / f"{index}.pyc").read_bytes()
    return result


# ------------------------------------------------------------------------------------------------------- tags


def _version_parts(version: str) -> tuple[int, int]:
    match = re.fullmatch(r"(\d+)\.(\d+)", version)
    if match is None:
        raise ValueError(f"not a Python version X.Y: {version!r}")
    return int(match[1]), int(match[2])


def _retag_python(tag: str, abis: list[str], version: str) -> None:
    """Raise :class:`BytecodeError` unless python tag ``tag`` (with ``abis``) admits CPython ``version``."""
    major, minor = _version_parts(version)
    exact = {"py3", f"py{major}{minor}", f"cp{major}{minor}"} if major == 3 else {f"cp{major}{minor}"}
    if tag in exact:
        return
    older = re.fullmatch(r"cp3(\d+)", tag)
    if older and "abi3" in abis and major == 3 and int(older[1]) <= minor:
        return
    raise BytecodeError(f"{_OPTION}: a wheel tagged {tag}-{'.'.join(abis)} is not for CPython {version}")


def retagged(tags: str, version: str) -> str:
    """A compressed tag triple (``py2.py3-none-any``) for a wheel holding CPython ``version`` (``"3.11"``) bytecode:
    python tags → ``cp311``, ``abi3`` → ``cp311``, other ABI tags and platforms unchanged."""
    pythons, abi_part, platforms = tags.split("-")
    abis = abi_part.split(".")
    usable = []
    for tag in pythons.split("."):
        try:
            _retag_python(tag, abis, version)
            usable.append(tag)
        except BytecodeError:
            continue  # py2 in py2.py3, pp310 beside cp310: those interpreters just lose the wheel
    if not usable:
        _retag_python(pythons.split(".")[0], abis, version)  # raises, naming the wheel's tag
    major, minor = _version_parts(version)
    cp = f"cp{major}{minor}"
    new_abis = list(dict.fromkeys(cp if abi == "abi3" else abi for abi in abis))
    for abi in new_abis:
        if abi not in ("none", cp) and not abi.startswith(cp):  # cp311d, cp311t: still this version
            raise BytecodeError(f"{_OPTION}: a wheel tagged {tags} is not for CPython {version}")
    return f"{cp}-{'.'.join(new_abis)}-{platforms}"


def retagged_filename(filename: str, version: str) -> str:
    """A wheel's file name with :func:`retagged` tags: ``x-1.0-py3-none-any.whl`` → ``x-1.0-cp311-none-any.whl``."""
    parse_wheel_filename(filename)  # InvalidWheelFilename for a name that isn't one
    stem = filename[: -len(".whl")]
    head, pythons, abis, platforms = stem.rsplit("-", 3)
    return f"{head}-{retagged(f'{pythons}-{abis}-{platforms}', version)}.whl"


def retagged_wheel_file(text: str, version: str) -> str:
    """The text of a ``WHEEL`` metadata file with its ``Tag:`` lines re-tagged (:func:`retagged`, duplicates
    dropped, tags for other interpreters dropped, in the first one's place and with its line ending); every other
    byte unchanged."""
    lines = text.splitlines(keepends=True)
    tag_lines = [i for i, line in enumerate(lines) if line.startswith("Tag:")]
    if not tag_lines:
        raise BytecodeError(f"{_OPTION}: the WHEEL file has no Tag lines")
    new_tags: list[str] = []
    refusals: list[BytecodeError] = []
    for i in tag_lines:
        try:
            new_tags.append(retagged(lines[i][len("Tag:") :].strip(), version))
        except BytecodeError as error:  # py2-none-any beside py3-none-any: py2 just loses the wheel
            refusals.append(error)
    if not new_tags:
        raise refusals[0]
    new_tags = list(dict.fromkeys(new_tags))
    first = lines[tag_lines[0]]
    ending = first[len(first.rstrip("\r\n")) :]
    block = (ending or "\n").join(f"Tag: {tag}" for tag in new_tags) + ending
    out = []
    for i, line in enumerate(lines):
        if i == tag_lines[0]:
            out.append(block)
        elif i not in tag_lines:
            out.append(line)
    result = "".join(out)
    if ending and not text.endswith(("\n", "\r")) and result.endswith(ending):
        result = result[: -len(ending)]  # the file ended without a line break: so does the new one
    return result


def wheel_python_version(filename: str) -> str | None:
    """The one CPython ``X.Y`` a wheel is for (``cp311-cp311-...`` → ``"3.11"``), or None when it is for several
    (``py3``, ``cp38-abi3``)."""
    tags = parse_wheel_filename(filename)[3]
    versions = set()
    for tag in tags:
        match = re.fullmatch(r"(?:cp|py)3(\d+)", tag.interpreter)
        if match is None or tag.abi == "abi3":
            return None
        versions.add(f"3.{match[1]}")
    return versions.pop() if len(versions) == 1 else None
