"""Recipes: TOML files that say, per package, how to get a wheel and how to shrink it, per target platform.

A recipe (``recipes/numpy.toml``) names the package (a project on an index, a local wheel, or a source build), the
shrink options (the same as ``slimwheel shrink``'s), the check that trial deletion runs, and per-platform
overrides in ``[platform.NAME]`` tables. ``[tool.slimwheel]`` in a ``pyproject.toml`` gives project-wide defaults
for the ``shrink`` and ``check`` keys. The schema is documented in ``docs/recipes.md``.

:func:`load_recipe` reads and validates a recipe (every platform it lists); :meth:`Recipe.for_platform` resolves
it for one platform into a :class:`PlatformRecipe`, everything a build needs. Every error is a
:class:`RecipeError` of one line that names the file, the line and the key:
``recipes/numpy.toml:14: shrink.strip: 'fast' is not one of none, debug, unneeded``.
"""

from __future__ import annotations

import bisect
import contextlib
import difflib
import os
import re
import shlex
import sys
import tomllib
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import InvalidName, InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from .binaries import StripLevel
from .errors import SlimwheelError, UsageError
from .rules import RULES, Patterns, Rule, select_rules
from .sandbox import Check
from .units import parse_size
from .writer import MAX_LEVEL


class RecipeError(UsageError):
    """A recipe or ``[tool.slimwheel]`` table that can't be used; the message names the file, line and key."""


# --------------------------------------------------------------------------------------------------- platforms


@dataclass(frozen=True)
class Platform:
    """A target platform: the pip ``--platform`` values that select its wheels, most preferred first."""

    name: str
    pip_platforms: tuple[str, ...]
    description: str


def _linux(arch: str, oldest_minor: int, newest_minor: int = 28) -> tuple[str, ...]:
    """manylinux_2_28 down to the oldest glibc a wheel may target, with the legacy aliases, then plain linux_*."""
    legacy = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}
    tags: list[str] = []
    for minor in range(newest_minor, oldest_minor - 1, -1):
        tags.append(f"manylinux_2_{minor}_{arch}")
        if minor in legacy and (arch in ("x86_64", "i686") or minor == 17):
            tags.append(f"{legacy[minor]}_{arch}")
    tags.append(f"linux_{arch}")
    return tuple(tags)


PLATFORMS: Mapping[str, Platform] = MappingProxyType(
    {
        p.name: p
        for p in (
            Platform("linux_x86_64", _linux("x86_64", 5), "Linux, x86-64, glibc ≥ 2.28 (manylinux_2_28 and older)"),
            Platform("linux_aarch64", _linux("aarch64", 17), "Linux, ARM64, glibc ≥ 2.28 (manylinux_2_28 and older)"),
            Platform("win_amd64", ("win_amd64",), "Windows, x86-64"),
            Platform("win32", ("win32",), "Windows, 32-bit x86"),
            Platform("macosx_arm64", ("macosx_11_0_arm64",), "macOS ≥ 11 on Apple silicon (arm64 and universal2)"),
        )
    }
)

HOST_PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"


def platform_info(name: str) -> Platform:
    """The known platform ``name``; a :class:`RecipeError` listing the known ones otherwise."""
    try:
        return PLATFORMS[name]
    except KeyError:
        raise RecipeError(_unknown_platform(name)) from None


def parse_python_version(text: str) -> tuple[int, int]:
    """``"3.11"`` → ``(3, 11)``; anything but MAJOR.MINOR of a Python 3 is a :class:`RecipeError`."""
    match = _PYTHON_VERSION.fullmatch(text)
    if not match:
        raise RecipeError(f"python version {text!r} is not MAJOR.MINOR of a Python 3, like '3.11'")
    return 3, int(match.group(1))


_PYTHON_VERSION = re.compile(r"3\.(0|[1-9]\d*)")


def _known_platforms() -> str:
    return "known platforms: " + ", ".join(PLATFORMS)


# ------------------------------------------------------------------------------------------------- the results


@dataclass(frozen=True)
class ProjectSpec:
    """Download ``project`` from the package index; ``specifier`` is a PEP 440 specifier, ``""`` for any version."""

    project: str
    specifier: str = ""


@dataclass(frozen=True)
class LocalWheel:
    path: Path


@dataclass(frozen=True)
class SourceBuild:
    """Build a wheel from source with ``pip wheel``: from a requirement on the index, or a local sdist/tree."""

    requirement: str | None
    sdist: Path | None
    env: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    config_settings: Mapping[str, str | tuple[str, ...]] = field(default_factory=lambda: MappingProxyType({}))


Package = ProjectSpec | LocalWheel | SourceBuild


@dataclass(frozen=True)
class PlatformRecipe:
    """One recipe resolved for one platform: everything a build needs. Paths are absolute."""

    recipe: str
    source_file: Path
    platform: str
    python_version: str
    package: Package
    prune: tuple[str, ...] = ()
    keep: tuple[str, ...] = ()
    select: tuple[str, ...] = ()  # rule codes/names and default/all/none; empty = the default set
    ignore: tuple[str, ...] = ()  # rule codes/names removed from the selection
    strip: StripLevel = StripLevel.UNNEEDED
    stubs: bool = True
    compress_level: int = 9
    max_size: int | None = None
    check_scripts: tuple[Path, ...] = ()
    check_commands: tuple[str, ...] = ()
    requirements: tuple[str, ...] = ()
    with_wheels: tuple[Path, ...] = ()
    same_output: bool = False
    lock: Path | None = None

    @property
    def rules(self) -> tuple[Rule, ...]:
        """The rules ``select`` and ``ignore`` choose (what ``--rules`` would)."""
        return select_rules(rules_spec(self.select, self.ignore))

    @property
    def patterns(self) -> Patterns:
        return Patterns(self.prune, self.keep)

    @property
    def has_check(self) -> bool:
        return bool(self.check_scripts or self.check_commands)


def rules_spec(select: Sequence[str], ignore: Sequence[str]) -> str:
    """``select`` and ``ignore`` as the ``--rules`` value they stand for: ``default,bytecode,-docs``."""
    return ",".join((*(select or ("default",)), *(f"-{name}" for name in ignore)))


# ------------------------------------------------------------------------------------ where keys are in the text

Key = tuple[str | int, ...]
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_SCALAR = re.compile(r"[^,\]}\n#]*")


class _KeyLines:
    """The line of every key, table header and array element of a TOML text that tomllib has accepted."""

    def __init__(self, text: str) -> None:
        self._text = text
        self._newlines = [i for i, c in enumerate(text) if c == "\n"]
        self._pos = 0
        self._arrays: dict[Key, int] = {}
        self.lines: dict[Key, int] = {}
        with contextlib.suppress(IndexError, AssertionError, AttributeError, tomllib.TOMLDecodeError):
            self._document()  # text tomllib accepted; should anything surprise the scanner, keep what it found

    def line_of(self, key: Key) -> int | None:
        """The line of ``key``, or of the nearest enclosing table or key that appears in the text."""
        while key:
            if key in self.lines:
                return self.lines[key]
            key = key[:-1]
        return None

    def _line(self) -> int:
        return bisect.bisect_left(self._newlines, self._pos) + 1

    def _record(self, key: Key, line: int, start: int = 1) -> None:
        for i in range(start, len(key) + 1):
            self.lines.setdefault(key[:i], line)

    def _skip(self, newlines: bool) -> None:
        t = self._text
        while self._pos < len(t):
            c = t[self._pos]
            if c in " \t\r" or (newlines and c == "\n"):
                self._pos += 1
            elif c == "#":
                end = t.find("\n", self._pos)
                self._pos = len(t) if end < 0 else end
            else:
                return

    def _document(self) -> None:
        t = self._text
        table: Key = ()
        while True:
            self._skip(newlines=True)
            if self._pos >= len(t):
                return
            line = self._line()
            if t.startswith("[[", self._pos):
                self._pos += 2
                keys = self._key()
                self._skip(newlines=False)
                self._pos += 2
                index = self._arrays.get(keys, 0)
                self._arrays[keys] = index + 1
                table = (*keys, index)
                self._record(table, line)
            elif t[self._pos] == "[":
                self._pos += 1
                table = self._key()
                self._skip(newlines=False)
                self._pos += 1
                self._record(table, line)
            else:
                self._pair(table)

    def _pair(self, table: Key) -> None:
        line = self._line()
        key = (*table, *self._key())
        self._skip(newlines=False)
        self._pos += 1  # "="
        self._record(key, line, start=len(table) + 1)
        self._value(key)

    def _key(self) -> Key:
        t = self._text
        parts: list[str | int] = []
        while True:
            self._skip(newlines=False)
            start = self._pos
            if t[start] in "\"'":
                self._string()
                parts.append(tomllib.loads(f"k = {t[start : self._pos]}")["k"])
            else:
                match = _BARE_KEY.match(t, start)
                assert match is not None
                parts.append(match.group())
                self._pos = match.end()
            self._skip(newlines=False)
            if t[self._pos] != ".":
                return tuple(parts)
            self._pos += 1

    def _string(self) -> None:
        t = self._text
        quote = t[self._pos]
        if t.startswith(quote * 3, self._pos):
            i = self._pos + 3
            while not t.startswith(quote * 3, i):
                i += 2 if quote == '"' and t[i] == "\\" else 1
            for _ in range(2):  # up to two quotes may end the content right before the closing delimiter
                if t.startswith(quote * 4, i):
                    i += 1
            self._pos = i + 3
            return
        i = self._pos + 1
        while t[i] != quote:
            i += 2 if quote == '"' and t[i] == "\\" else 1
        self._pos = i + 1

    def _value(self, key: Key) -> None:
        self._skip(newlines=False)
        t = self._text
        c = t[self._pos]
        if c in "\"'":
            self._string()
        elif c == "[":
            self._pos += 1
            index = 0
            while True:
                self._skip(newlines=True)
                if t[self._pos] == "]":
                    self._pos += 1
                    return
                self.lines.setdefault((*key, index), self._line())
                self._value((*key, index))
                self._skip(newlines=True)
                if t[self._pos] == ",":
                    self._pos += 1
                index += 1
        elif c == "{":
            self._pos += 1
            while True:
                self._skip(newlines=True)
                if t[self._pos] == "}":
                    self._pos += 1
                    return
                if t[self._pos] == ",":
                    self._pos += 1
                    continue
                self._pair(key)
        else:
            match = _SCALAR.match(t, self._pos)
            assert match is not None
            self._pos = match.end()


def _dotted(key: Key) -> str:
    text = ""
    for part in key:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            name = part if _BARE_KEY.fullmatch(part) else '"' + part.replace("\\", "\\\\").replace('"', '\\"') + '"'
            text += f".{name}" if text else name
    return text


# ------------------------------------------------------------------------------------------ values with origins


@dataclass(frozen=True)
class _Doc:
    """A TOML file being validated: its name as the user gave it, the directory relative paths start from."""

    file: Path
    base: Path
    lines: _KeyLines


@dataclass(frozen=True)
class _Node:
    """A value of a TOML document and where it is."""

    doc: _Doc
    key: Key
    value: object

    @property
    def name(self) -> str:
        return _dotted(self.key)

    @property
    def where(self) -> str:
        """``FILE:LINE`` of this value (``FILE`` alone if the line is unknown)."""
        line = self.doc.lines.line_of(self.key)
        return f"{self.doc.file}:{line}" if line is not None else str(self.doc.file)

    def error(self, problem: str) -> RecipeError:
        return RecipeError(f"{self.where}: {self.name}: {problem}" if self.key else f"{self.where}: {problem}")

    def child(self, key: str | int, value: object) -> _Node:
        return _Node(self.doc, (*self.key, key), value)

    def table(self, known: Collection[str] | None, *, what: str = "key") -> dict[str, _Node]:
        """The entries of a table; ``known`` are the keys allowed (None: any key)."""
        if not isinstance(self.value, dict):
            raise self.error(f"expected a table, got {_kind(self.value)}")
        nodes: dict[str, _Node] = {}
        for key, value in self.value.items():
            node = self.child(key, value)
            if known is not None and key not in known:
                raise node.error(f"unknown {what}{_key_hint(key, known)} (known: {', '.join(known)})")
            nodes[key] = node
        return nodes

    def items(self) -> list[_Node]:
        if isinstance(self.value, str):
            raise self.error(f"expected an array of strings, got {_kind(self.value)}; write [{_toml_str(self.value)}]")
        if not isinstance(self.value, list):
            raise self.error(f"expected an array, got {_kind(self.value)}")
        return [self.child(i, v) for i, v in enumerate(self.value)]

    def string(self, *, empty: bool = False) -> str:
        if not isinstance(self.value, str):
            raise self.error(f"expected a string, got {_kind(self.value)}")
        if not empty and not self.value.strip():
            raise self.error("must not be empty")
        return self.value

    def strings(self) -> tuple[str, ...]:
        return tuple(item.string() for item in self.items())

    def boolean(self) -> bool:
        if not isinstance(self.value, bool):
            raise self.error(f"expected true or false, got {_kind(self.value)}")
        return self.value

    def path(self) -> Path:
        """A path; relative ones are relative to the directory of the file it is written in."""
        text = self.string()
        return (self.doc.base / text).resolve() if not os.path.isabs(text) else Path(text)


def _kind(value: object) -> str:
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, str):
        return f"a string ({_toml_str(value)})"
    if isinstance(value, int):
        return f"an integer ({value})"
    if isinstance(value, float):
        return f"a float ({value})"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return f"a date/time ({value})"


def _toml_str(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


# `slimwheel shrink` options written as keys of a table that has the key for them under another name
_OPTION_KEYS = {
    "rules": "select = [...] and ignore = [...]",
    "no-rules": 'select = ["none"]',
    "no-stubs": "stubs = false",
    "no-trace": "trace = false",
    "check": "scripts = [...]",
    "check-cmd": "commands = [...]",
    "with": "requirements = [...]",
    "with-wheel": "wheels = [...]",
}


def _key_hint(key: str, known: Collection[str]) -> str:
    instead = _OPTION_KEYS.get(key)
    if instead is not None and instead.split()[0] in known:
        return f"; write {instead}"
    return _did_you_mean(key, known)


def _did_you_mean(word: str, known: Collection[str]) -> str:
    lowered = {k.lower(): k for k in known}
    close = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.6)
    return f"; did you mean {lowered[close[0]]!r}?" if close else ""


# -------------------------------------------------------------------------------------------- key validators

_RULE_KEYS = {rule.code.lower(): rule for rule in RULES} | {rule.name: rule for rule in RULES}
_RULE_WORDS = ("default", "all", "none", *(rule.code for rule in RULES), *(rule.name for rule in RULES))


def _patterns(node: _Node) -> tuple[str, ...]:
    patterns = []
    for item in node.items():
        pattern = item.string()
        try:
            Patterns([pattern])
        except UsageError as exc:
            raise item.error(exc.message) from None
        patterns.append(pattern)
    return tuple(patterns)


def _rule_item(item: _Node, *, groups: bool) -> str:
    word = item.string().strip()
    if "," in word:
        split = ", ".join(_toml_str(w.strip()) for w in word.split(",") if w.strip())
        raise item.error(f"one rule per item: write [{split}]")
    known = _RULE_WORDS if groups else _RULE_WORDS[3:]
    if word.lower() in (w.lower() for w in known):
        return word
    if groups and word.startswith(("-", "+")):
        hint = f"; to drop a rule, list {word[1:]!r} in ignore"
    else:
        hint = _did_you_mean(word, known)
    raise item.error(f"unknown rule {word!r}{hint} (known: {', '.join(known)})")


def _select(node: _Node) -> tuple[str, ...]:
    return tuple(_rule_item(item, groups=True) for item in node.items())


def _ignore(node: _Node) -> tuple[str, ...]:
    return tuple(_rule_item(item, groups=False) for item in node.items())


def _strip(node: _Node) -> StripLevel:
    levels = [level.value for level in StripLevel]
    value = node.string()
    if value not in levels:
        raise node.error(f"{value!r} is not one of {', '.join(levels)}{_did_you_mean(value, levels)}")
    return StripLevel(value)


def _bool(node: _Node) -> bool:
    return node.boolean()


def _compress_level(node: _Node) -> int:
    value = node.value
    if isinstance(value, bool) or not isinstance(value, int):
        raise node.error(f"expected a whole number 0..{MAX_LEVEL}, got {_kind(value)}")
    if not 0 <= value <= MAX_LEVEL:
        raise node.error(f"compress level must be 0..{MAX_LEVEL}, not {value}")
    return value


def _max_size(node: _Node) -> int:
    value = node.value
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise node.error(f"a size can't be negative ({value})")
        return value
    if not isinstance(value, str):
        raise node.error(f'expected a size such as "14.3 MB" or a number of bytes, got {_kind(value)}')
    try:
        return parse_size(value)
    except UsageError as exc:
        raise node.error(exc.message) from None


def _paths(node: _Node) -> tuple[Path, ...]:
    return tuple(item.path() for item in node.items())


def _path(node: _Node) -> Path:
    return node.path()


def _commands(node: _Node) -> tuple[str, ...]:
    commands = []
    for item in node.items():
        command = item.string()
        try:
            Check.command(command)  # what --check-cmd accepts
        except SlimwheelError as exc:
            raise item.error(exc.message) from None
        commands.append(command)
    return tuple(commands)


def _anchor_command(command: str, base: Path) -> str:
    """Arguments naming files that exist (now) relative to the recipe's directory become absolute paths."""
    argv = shlex.split(command)
    changed = False
    for i, arg in enumerate(argv):
        if arg.startswith("-") or os.path.isabs(arg) or (i == 0 and "/" not in arg):
            continue
        if (base / arg).exists():
            argv[i] = str((base / arg).resolve())
            changed = True
    return shlex.join(argv) if changed else command


def _strings(node: _Node) -> tuple[str, ...]:
    return node.strings()


def _project(node: _Node) -> str:
    name = node.string()
    try:
        canonicalize_name(name, validate=True)
    except InvalidName:
        raise node.error(f"{name!r} is not a valid project name") from None
    return name


def _specifier(node: _Node) -> str:
    text = node.string(empty=True).strip()
    try:
        return str(SpecifierSet(text))
    except InvalidSpecifier:
        try:
            Version(text)
            hint = f"; did you mean '=={text}'?"
        except InvalidVersion:
            hint = ""
        raise node.error(f"{text!r} is not a PEP 440 version specifier such as '==2.4.6' or '>=2,<3'{hint}") from None


def _wheel(node: _Node) -> Path:
    path = node.path()
    try:
        parse_wheel_filename(path.name)
    except InvalidWheelFilename:
        raise node.error(f"{path.name!r} is not a wheel file name (NAME-VERSION-PYTHON-ABI-PLATFORM.whl)") from None
    return path


def _requirement(node: _Node) -> str:
    text = node.string()
    try:
        Requirement(text)
    except InvalidRequirement as exc:
        raise node.error(f"{text!r} is not a valid requirement: {str(exc).splitlines()[0]}") from None
    return text


def _env(node: _Node) -> Mapping[str, str]:
    env = {}
    for name, value in node.table(None).items():
        if not name or "=" in name or "\0" in name:
            raise value.error("not a valid environment variable name")
        env[name] = value.string(empty=True)
    return MappingProxyType(env)


def _config_settings(node: _Node) -> Mapping[str, str | tuple[str, ...]]:
    settings: dict[str, str | tuple[str, ...]] = {}
    for name, value in node.table(None).items():
        if not name or "=" in name:
            raise value.error("a config setting name must not be empty or contain '='")
        if isinstance(value.value, list):
            settings[name] = tuple(item.string(empty=True) for item in value.items())
        elif isinstance(value.value, str):
            settings[name] = value.value
        else:
            raise value.error(f"expected a string or an array of strings, got {_kind(value.value)}")
    return MappingProxyType(settings)


Validator = Callable[[_Node], object]
_SHRINK: Mapping[str, Validator] = {
    "prune": _patterns,
    "keep": _patterns,
    "select": _select,
    "ignore": _ignore,
    "strip": _strip,
    "stubs": _bool,
    "compress-level": _compress_level,
    "max-size": _max_size,
}
_CHECK: Mapping[str, Validator] = {
    "scripts": _paths,
    "commands": _commands,
    "requirements": _strings,
    "wheels": _paths,
    "same-output": _bool,
    "lock": _path,
}
_PACKAGE: Mapping[str, Validator] = {"project": _project, "version": _specifier, "wheel": _wheel}
_SOURCE: Mapping[str, Validator] = {
    "requirement": _requirement,
    "sdist": _path,
    "env": _env,
    "config-settings": _config_settings,
}
_KINDS = ("project", "wheel", "source")
_TOP_KEYS = ("name", "python-version", "platforms", "package", "shrink", "check", "platform")
_PLATFORM_KEYS = ("python-version", "package", "shrink", "check")


def _positive_int(node: _Node) -> int:
    value = node.value
    if isinstance(value, bool) or not isinstance(value, int):
        raise node.error(f"expected a positive whole number, got {_kind(value)}")
    if value < 1:
        raise node.error(f"expected a positive whole number, not {value}")
    return value


def _seconds(node: _Node) -> float:
    value = node.value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise node.error(f"expected a number of seconds, got {_kind(value)}")
    if not value > 0:
        raise node.error(f"expected a positive number of seconds, not {value}")
    return float(value)


def _interpreter(node: _Node) -> Path:
    """A Python interpreter: a command name (``python3.10``, looked up on PATH) or a path."""
    text = node.string()
    return Path(text) if "/" not in text and "\\" not in text else node.path()


# [tool.slimwheel] in a pyproject.toml: the recipe's [shrink] and [check] keys (defaults for `build` and options
# of `slimwheel shrink`), keys only `slimwheel shrink` has (build ignores them), and [tool.slimwheel.inspect].
_PROJECT_TABLES: Mapping[str, Mapping[str, Validator]] = {
    "shrink": {**_SHRINK, "recompress": _bool, "max-total-size": _max_size, "wheel-dir": _path},
    "check": {
        **_CHECK,
        "timeout": _seconds,
        "max-runs": _positive_int,
        "minimal": _bool,
        "trace": _bool,
        "python": _interpreter,
    },
    "inspect": {"top": _positive_int, "depth": _positive_int},
}


# ----------------------------------------------------------------------------------------------------- layers


@dataclass(frozen=True)
class _Setting:
    value: Any
    node: _Node

    @property
    def elements(self) -> list[_Node]:
        return self.node.items() if isinstance(self.node.value, list) else []


@dataclass(frozen=True)
class _Layer:
    """One source of settings: ``[tool.slimwheel]``, the recipe's own tables, or one ``[platform.NAME]`` table."""

    python_version: _Setting | None = None
    package_node: _Node | None = None
    package: Mapping[str, _Setting] = field(default_factory=dict)
    source: Mapping[str, _Setting] = field(default_factory=dict)
    shrink: Mapping[str, _Setting] = field(default_factory=dict)
    check: Mapping[str, _Setting] = field(default_factory=dict)


def _settings(node: _Node, validators: Mapping[str, Validator]) -> dict[str, _Setting]:
    return {key: _Setting(validators[key](child), child) for key, child in node.table(validators).items()}


def _python_version(node: _Node) -> str:
    if isinstance(node.value, float):
        raise node.error(f'expected a string, got {_kind(node.value)}; quote it: python-version = "3.11"')
    text = node.string()
    if not _PYTHON_VERSION.fullmatch(text):
        raise node.error(f"{text!r} is not MAJOR.MINOR of a Python 3, like '3.11'")
    return text


def _layer(tables: Mapping[str, _Node]) -> _Layer:
    python = tables.get("python-version")
    package: dict[str, _Setting] = {}
    source: dict[str, _Setting] = {}
    package_node = tables.get("package")
    if package_node is not None:
        nodes = package_node.table((*_PACKAGE, "source"))
        kinds = [k for k in nodes if k in _KINDS]
        if len(kinds) > 1:
            raise nodes[kinds[1]].error(f"can't be combined with {kinds[0]}; use exactly one of project, wheel, source")
        for key, child in nodes.items():
            if key == "source":
                source = _settings(child, _SOURCE)
                if "requirement" in source and "sdist" in source:
                    raise source["sdist"].node.error("can't be combined with requirement; use one of them")
                package[key] = _Setting(None, child)
            else:
                package[key] = _Setting(_PACKAGE[key](child), child)
    check_node = tables.get("check")
    check = _settings(check_node, _CHECK) if check_node is not None else {}
    shrink_node = tables.get("shrink")
    return _Layer(
        python_version=_Setting(_python_version(python), python) if python is not None else None,
        package_node=package_node,
        package=package,
        source=source,
        shrink=_settings(shrink_node, _SHRINK) if shrink_node is not None else {},
        check=check,
    )


# ------------------------------------------------------------------------------------------------------ recipe


@dataclass(frozen=True)
class Recipe:
    """A validated recipe. ``platforms`` is what ``--platform all`` builds."""

    name: str
    path: Path
    platforms: tuple[str, ...]
    python_version: str  # the recipe's python-version, or this interpreter's
    _base: _Layer = field(repr=False, compare=False)
    _overrides: Mapping[str, _Layer] = field(repr=False, compare=False)
    _defaults: _Layer | None = field(default=None, repr=False, compare=False)

    def for_platform(self, platform: str, python_version: str | None = None) -> PlatformRecipe:
        """The recipe for ``platform`` (any known platform, listed or not); ``python_version`` wins over the recipe.

        Checks that the files it names exist (check scripts and wheels, a local wheel, an sdist).
        """
        return self._resolve(platform, python_version, check_files=True)

    def _resolve(self, platform: str, python_version: str | None, *, check_files: bool) -> PlatformRecipe:
        if platform not in PLATFORMS:
            raise RecipeError(f"{self.path}: {_unknown_platform(platform)}")
        layers = [layer for layer in (self._defaults, self._base, self._overrides.get(platform)) if layer is not None]

        def pick(section: str, key: str) -> _Setting | None:
            found = None
            for layer in layers:
                found = getattr(layer, section).get(key, found)
            return found

        def value(section: str, key: str, default: Any) -> Any:
            setting = pick(section, key)
            return default if setting is None else setting.value

        if python_version is not None:
            parse_python_version(python_version)
        else:
            python_version = next((x.python_version.value for x in reversed(layers) if x.python_version), HOST_PYTHON)
        package = self._package(layers, check_files)
        if check_files:
            for section, key in (("check", "scripts"), ("check", "wheels")):
                setting = pick(section, key)
                for path, element in zip(
                    setting.value if setting else (), setting.elements if setting else (), strict=True
                ):
                    if not path.is_file():
                        raise element.error(_not_a_file(path))
        return PlatformRecipe(
            recipe=self.name,
            source_file=self.path,
            platform=platform,
            python_version=python_version,
            package=package,
            prune=value("shrink", "prune", ()),
            keep=value("shrink", "keep", ()),
            select=value("shrink", "select", ()),
            ignore=value("shrink", "ignore", ()),
            strip=value("shrink", "strip", StripLevel.UNNEEDED),
            stubs=value("shrink", "stubs", True),
            compress_level=value("shrink", "compress-level", 9),
            max_size=value("shrink", "max-size", None),
            check_scripts=value("check", "scripts", ()),
            check_commands=_anchored_commands(pick("check", "commands")),
            requirements=value("check", "requirements", ()),
            with_wheels=value("check", "wheels", ()),
            same_output=value("check", "same-output", False),
            lock=value("check", "lock", None),
        )

    def _package(self, layers: list[_Layer], check_files: bool) -> Package:
        package: dict[str, _Setting] = {}
        source: dict[str, _Setting] = {}
        where: _Node | None = None
        for layer in layers:
            kinds = {k for k in _KINDS if k in layer.package}
            if kinds and kinds != {k for k in _KINDS if k in package}:
                package, source = {}, {}  # a platform switching to another kind of package replaces it
            package.update(layer.package)
            source.update(layer.source)
            where = layer.package_node or where
        kind = next((k for k in _KINDS if k in package), None)
        if kind is None:
            problem = "set one of project, wheel or a [package.source] table"
            if where is None:
                raise RecipeError(f"{self.path}: package: missing; add a [package] table and {problem}")
            raise where.error(problem)
        if "version" in package and kind != "project":
            raise package["version"].node.error(f"applies only to project, not to {kind}")
        if kind == "project":
            version = package.get("version")
            return ProjectSpec(package["project"].value, version.value if version else "")
        if kind == "wheel":
            setting = package["wheel"]
            if check_files and not setting.value.is_file():
                raise setting.node.error(_not_a_file(setting.value))
            return LocalWheel(setting.value)
        if "requirement" in source and "sdist" in source:  # one from the recipe, the other from a platform table
            raise source["sdist"].node.error("can't be combined with requirement; use one of them")
        if "requirement" not in source and "sdist" not in source:
            raise package["source"].node.error("set requirement or sdist")
        sdist = source.get("sdist")
        if sdist is not None and check_files and not sdist.value.exists():
            raise sdist.node.error(f"{sdist.value} does not exist")
        requirement = source.get("requirement")
        env = source.get("env")
        settings = source.get("config-settings")
        return SourceBuild(
            requirement=requirement.value if requirement else None,
            sdist=sdist.value if sdist else None,
            env=env.value if env else MappingProxyType({}),
            config_settings=settings.value if settings else MappingProxyType({}),
        )


def _anchored_commands(setting: _Setting | None) -> tuple[str, ...]:
    if setting is None:
        return ()
    return tuple(_anchor_command(command, setting.node.doc.base) for command in setting.value)


def _not_a_file(path: Path) -> str:
    return f"{path} {'is not a file' if path.exists() else 'does not exist'}"


def _unknown_platform(name: str) -> str:
    return f"unknown platform {name!r}{_did_you_mean(name, PLATFORMS)} ({_known_platforms()})"


# ----------------------------------------------------------------------------------------------------- loading


def _read(path: Path) -> tuple[_Doc, dict[str, Any]]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise RecipeError(f"{path}: can't read: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise RecipeError(f"{path}:{line}: not UTF-8 text (TOML files must be UTF-8)") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RecipeError(_syntax_error(path, text, str(exc))) from None
    return _Doc(path, path.absolute().parent, _KeyLines(text)), data


def _syntax_error(path: Path, text: str, message: str) -> str:
    match = re.fullmatch(r"(.*) \(at line (\d+), column (\d+)\)", message, re.DOTALL)
    if match:
        problem, line, where = match.group(1), match.group(2), f"column {match.group(3)}"
    else:
        problem = message.removesuffix(" (at end of document)")
        line, where = str(text.count("\n") + (0 if text.endswith("\n") else 1)), "at the end of the file"
    problem = problem[:1].lower() + problem[1:]
    hint = ""
    if "('platforms'," in problem:
        hint = "; per-platform overrides go in [platform.NAME] tables, platforms is the list of platforms to build"
    return f"{path}:{line}: invalid TOML: {problem} ({where}){hint}"


def load_recipe(path: Path, *, project_defaults: Path | None = None) -> Recipe:
    """Read and validate the recipe at ``path``, with defaults from ``project_defaults`` (a ``pyproject.toml``).

    Every platform the recipe lists is resolved once, so an error in any of them is reported here. Files the
    recipe names are not required to exist yet (:meth:`Recipe.for_platform` checks them). No defaults are looked
    up unless ``project_defaults`` is given (see :func:`find_project_defaults`).
    """
    path = Path(path)
    doc, data = _read(path)
    root = _Node(doc, (), data)
    top = root.table(_TOP_KEYS)
    name = path.stem
    if "name" in top:
        name = top["name"].string()
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
            raise top["name"].error(f"{name!r} must be letters, digits, '.', '_' or '-' (it names output files)")
    if "platforms" not in top:
        raise root.error('platforms: missing; list the platforms to build, e.g. platforms = ["linux_x86_64"]')
    platforms_node = top["platforms"]
    if isinstance(platforms_node.value, dict):
        raise platforms_node.error(
            "expected an array of platform names, got a table; per-platform overrides go in [platform.NAME] tables"
        )
    platforms: list[str] = []
    for item in platforms_node.items():
        platform = item.string()
        if platform not in PLATFORMS:
            raise item.error(_unknown_platform(platform))
        if platform in platforms:
            raise item.error(f"{platform!r} is listed twice")
        platforms.append(platform)
    if not platforms:
        raise platforms_node.error("must list at least one platform")
    overrides: dict[str, _Layer] = {}
    if "platform" in top:
        section = top["platform"]
        if not isinstance(section.value, dict):
            raise section.error(
                f"expected [platform.NAME] tables of overrides, got {_kind(section.value)}; "
                "the platforms to build are listed in platforms = [...]"
            )
        for platform, node in section.table(PLATFORMS, what="platform").items():
            overrides[platform] = _layer(node.table(_PLATFORM_KEYS))
    base = _layer(top)
    recipe = Recipe(
        name=name,
        path=path,
        platforms=tuple(platforms),
        python_version=base.python_version.value if base.python_version else HOST_PYTHON,
        _base=base,
        _overrides=MappingProxyType(overrides),
        _defaults=_load_defaults(Path(project_defaults)) if project_defaults is not None else None,
    )
    for platform in recipe.platforms:
        recipe._resolve(platform, None, check_files=False)
    return recipe


def _load_defaults(path: Path) -> _Layer | None:
    table = load_project_table(path)
    if table is None:
        return None
    return _Layer(
        shrink={key: s for key, s in table.get("shrink", {}).items() if key in _SHRINK},
        check={key: s for key, s in table.get("check", {}).items() if key in _CHECK},
    )


ProjectTable = Mapping[str, Mapping[str, _Setting]]


def load_project_table(path: Path, *, display: Path | None = None) -> ProjectTable | None:
    """``[tool.slimwheel]`` of the ``pyproject.toml`` at ``path``, validated: table name → key → setting
    (``None`` if the file has no such table). Relative paths are made absolute against the file's directory.

    The one home of the ``[tool.slimwheel]`` schema, for ``build`` (project defaults of recipes) and for
    :mod:`slimwheel.config` (``shrink`` and ``inspect``). ``display`` names the file in messages (default ``path``).
    """
    doc, data = _read(path)
    if display is not None:
        doc = _Doc(display, doc.base, doc.lines)
    tool = data.get("tool")
    if not isinstance(tool, dict) or "slimwheel" not in tool:
        return None
    node = _Node(doc, ("tool", "slimwheel"), tool["slimwheel"])
    table = {name: _settings(child, _PROJECT_TABLES[name]) for name, child in node.table(_PROJECT_TABLES).items()}
    lock = table.get("check", {}).get("lock")
    if lock is not None:
        raise lock.node.error("a lock belongs to one recipe: set it in the recipe's [check] table")
    return table


def find_project_defaults(start: Path) -> Path | None:
    """The nearest ``pyproject.toml`` with a ``[tool.slimwheel]`` table in ``start`` or above it, if any."""
    start = Path(start).absolute()
    directory = start if start.is_dir() else start.parent
    for candidate in (directory, *directory.parents):
        pyproject = candidate / "pyproject.toml"
        if pyproject.is_file():
            _, data = _read(pyproject)
            tool = data.get("tool")
            if isinstance(tool, dict) and "slimwheel" in tool:
                return pyproject
    return None
