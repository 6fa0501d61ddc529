"""The keys of recipes and ``[tool.slimwheel]`` tables, each with its validator; values that know their line.

A recipe's ``[shrink]`` and ``[check]`` tables and ``[tool.slimwheel]`` in a ``pyproject.toml`` take the same keys,
validated the same way: this module is the one home of every key's validator (:data:`SHRINK`, :data:`CHECK`, the
recipe's :data:`PACKAGE` and :data:`SOURCE`, and the keys only ``[tool.slimwheel]`` has, which
:func:`load_project_table` reads). A value is read as a :class:`Node`, which knows its file and key path (and so
its line, by :class:`slimwheel.tomlfile.KeyLines`); a validated one is an :class:`Entry`, which keeps its node so
that a later problem (a check script that does not exist) still names the line. Every problem is a
:class:`RecipeError` of one line, ``FILE:LINE: KEY: PROBLEM``:
``pyproject.toml:3: tool.slimwheel.shrink.strip: 'fast' is not one of none, debug, unneeded``.

It must not know how a recipe is put together (its platforms, its layers of tables, resolving it for a platform:
:mod:`slimwheel.recipe`) nor how ``slimwheel shrink`` merges ``[tool.slimwheel]`` with its command line
(:mod:`slimwheel.config`); it fetches, builds and runs nothing.
"""

from __future__ import annotations

import os
import shlex
import tomllib
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import InvalidName, InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from .binaries import StripLevel
from .check import Check
from .errors import RecipeError, SlimwheelError, UsageError, did_you_mean
from .rules import RULES, Patterns
from .tomlfile import Key, KeyLines, NotUtf8, decode, dotted, kind_and_value, syntax_problem, toml_string
from .units import parse_size
from .writer import MAX_LEVEL

# ------------------------------------------------------------------------------------------ values with origins


@dataclass(frozen=True)
class Doc:
    """A TOML file being validated: its name as the user gave it, the directory relative paths start from."""

    file: Path
    base: Path
    lines: KeyLines


@dataclass(frozen=True)
class Node:
    """A value of a TOML document and where it is."""

    doc: Doc
    key: Key
    value: object

    @property
    def name(self) -> str:
        return dotted(self.key)

    @property
    def where(self) -> str:
        """``FILE:LINE`` of this value (``FILE`` alone if the line is unknown)."""
        line = self.doc.lines.line_of(self.key)
        return f"{self.doc.file}:{line}" if line is not None else str(self.doc.file)

    def error(self, problem: str) -> RecipeError:
        return RecipeError(f"{self.where}: {self.name}: {problem}" if self.key else f"{self.where}: {problem}")

    def child(self, key: str | int, value: object) -> Node:
        return Node(self.doc, (*self.key, key), value)

    def table(self, known: Collection[str] | None, *, what: str = "key") -> dict[str, Node]:
        """The entries of a table; ``known`` are the keys allowed (None: any key)."""
        if not isinstance(self.value, dict):
            raise self.error(f"expected a table, got {kind_and_value(self.value)}")
        nodes: dict[str, Node] = {}
        for key, value in self.value.items():
            node = self.child(key, value)
            if known is not None and key not in known:
                raise node.error(f"unknown {what}{_key_hint(key, known)} (known: {', '.join(known)})")
            nodes[key] = node
        return nodes

    def items(self) -> list[Node]:
        if isinstance(self.value, str):
            raise self.error(
                f"expected an array of strings, got {kind_and_value(self.value)}; write [{toml_string(self.value)}]"
            )
        if not isinstance(self.value, list):
            raise self.error(f"expected an array, got {kind_and_value(self.value)}")
        return [self.child(i, v) for i, v in enumerate(self.value)]

    def string(self, *, empty: bool = False) -> str:
        if not isinstance(self.value, str):
            raise self.error(f"expected a string, got {kind_and_value(self.value)}")
        if not empty and not self.value.strip():
            raise self.error("must not be empty")
        return self.value

    def strings(self) -> tuple[str, ...]:
        return tuple(item.string() for item in self.items())

    def boolean(self) -> bool:
        if not isinstance(self.value, bool):
            raise self.error(f"expected true or false, got {kind_and_value(self.value)}")
        return self.value

    def path(self) -> Path:
        """A path; relative ones are relative to the directory of the file it is written in."""
        text = self.string()
        return (self.doc.base / text).resolve() if not os.path.isabs(text) else Path(text)


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
    return did_you_mean(key, known)


# ----------------------------------------------------------------------------------------------------- reading


def read_document(path: Path) -> tuple[Doc, dict[str, Any]]:
    """Read the TOML file at ``path``: its :class:`Doc` (its keys' lines) and its data; :class:`RecipeError` if it
    can't be read or is not TOML."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise RecipeError(f"{path}: can't read: {exc.strerror or exc}") from None
    try:
        text = decode(raw)
    except NotUtf8 as exc:
        raise RecipeError(f"{path}:{exc.line}: not UTF-8 text (TOML files must be UTF-8)") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RecipeError(_syntax_error(path, text, exc)) from None
    return Doc(path, path.absolute().parent, KeyLines(text)), data


def _syntax_error(path: Path, text: str, exc: tomllib.TOMLDecodeError) -> str:
    syntax = syntax_problem(exc)
    line = syntax.line or text.count("\n") + (0 if text.endswith("\n") else 1)  # at the end: the last line
    problem = syntax.problem[:1].lower() + syntax.problem[1:]
    hint = ""
    if "('platforms'," in problem:
        hint = "; per-platform overrides go in [platform.NAME] tables, platforms is the list of platforms to build"
    return f"{path}:{line}: invalid TOML: {problem} ({syntax.position}){hint}"


# ----------------------------------------------------------------------------------- the [shrink] and [check] keys

_RULE_WORDS = ("default", "all", "none", *(rule.code for rule in RULES), *(rule.name for rule in RULES))


def _patterns(node: Node) -> tuple[str, ...]:
    patterns = []
    for item in node.items():
        pattern = item.string()
        try:
            Patterns([pattern])
        except UsageError as exc:
            raise item.error(exc.message) from None
        patterns.append(pattern)
    return tuple(patterns)


def _rule_item(item: Node, *, groups: bool) -> str:
    word = item.string().strip()
    if "," in word:
        split = ", ".join(toml_string(w.strip()) for w in word.split(",") if w.strip())
        raise item.error(f"one rule per item: write [{split}]")
    known = _RULE_WORDS if groups else _RULE_WORDS[3:]
    if word.lower() in (w.lower() for w in known):
        return word
    if groups and word.startswith(("-", "+")):
        hint = f"; to drop a rule, list {word[1:]!r} in ignore"
    else:
        hint = did_you_mean(word, known)
    raise item.error(f"unknown rule {word!r}{hint} (known: {', '.join(known)})")


def _select(node: Node) -> tuple[str, ...]:
    return tuple(_rule_item(item, groups=True) for item in node.items())


def _ignore(node: Node) -> tuple[str, ...]:
    return tuple(_rule_item(item, groups=False) for item in node.items())


def _strip(node: Node) -> StripLevel:
    levels = [level.value for level in StripLevel]
    value = node.string()
    if value not in levels:
        raise node.error(f"{value!r} is not one of {', '.join(levels)}{did_you_mean(value, levels)}")
    return StripLevel(value)


def _compress_level(node: Node) -> int:
    value = node.value
    if isinstance(value, bool) or not isinstance(value, int):
        raise node.error(f"expected a whole number 0..{MAX_LEVEL}, got {kind_and_value(value)}")
    if not 0 <= value <= MAX_LEVEL:
        raise node.error(f"compress level must be 0..{MAX_LEVEL}, not {value}")
    return value


def _max_size(node: Node) -> int:
    value = node.value
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise node.error(f"a size can't be negative ({value})")
        return value
    if not isinstance(value, str):
        raise node.error(f'expected a size such as "14.3 MB" or a number of bytes, got {kind_and_value(value)}')
    try:
        return parse_size(value)
    except UsageError as exc:
        raise node.error(exc.message) from None


def _paths(node: Node) -> tuple[Path, ...]:
    return tuple(item.path() for item in node.items())


def _commands(node: Node) -> tuple[str, ...]:
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


# A key's validator: its value, checked and converted (a StripLevel, a size in bytes, absolute paths), or an error.
Validator = Callable[[Node], object]
# The keys of a recipe's [shrink] and [check] tables.
SHRINK: Mapping[str, Validator] = {
    "prune": _patterns,
    "keep": _patterns,
    "select": _select,
    "ignore": _ignore,
    "strip": _strip,
    "stubs": Node.boolean,
    "compress-level": _compress_level,
    "max-size": _max_size,
    "minify": Node.boolean,
    "bytecode-only": Node.boolean,
}
CHECK: Mapping[str, Validator] = {
    "scripts": _paths,
    "commands": _commands,
    "requirements": Node.strings,
    "wheels": _paths,
    "same-output": Node.boolean,
    "lock": Node.path,
}

# ----------------------------------------------------------------------------------------- the package's keys


def _project(node: Node) -> str:
    name = node.string()
    try:
        canonicalize_name(name, validate=True)
    except InvalidName:
        raise node.error(f"{name!r} is not a valid project name") from None
    return name


def _specifier(node: Node) -> str:
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


def _wheel(node: Node) -> Path:
    path = node.path()
    try:
        parse_wheel_filename(path.name)
    except InvalidWheelFilename:
        raise node.error(f"{path.name!r} is not a wheel file name (NAME-VERSION-PYTHON-ABI-PLATFORM.whl)") from None
    return path


def _requirement(node: Node) -> str:
    text = node.string()
    try:
        Requirement(text)
    except InvalidRequirement as exc:
        raise node.error(f"{text!r} is not a valid requirement: {str(exc).splitlines()[0]}") from None
    return text


def _requirements(node: Node) -> tuple[str, ...]:
    """A deploy set's requirements: pip requirement specifiers, at least one."""
    items = node.items()
    if not items:
        raise node.error('must list at least one requirement, such as requirements = ["onnxruntime==1.31.1"]')
    return tuple(_requirement(item) for item in items)


def _env(node: Node) -> Mapping[str, str]:
    env = {}
    for name, value in node.table(None).items():
        if not name or "=" in name or "\0" in name:
            raise value.error("not a valid environment variable name")
        env[name] = value.string(empty=True)
    return MappingProxyType(env)


def _config_settings(node: Node) -> Mapping[str, str | tuple[str, ...]]:
    settings: dict[str, str | tuple[str, ...]] = {}
    for name, value in node.table(None).items():
        if not name or "=" in name:
            raise value.error("a config setting name must not be empty or contain '='")
        if isinstance(value.value, list):
            settings[name] = tuple(item.string(empty=True) for item in value.items())
        elif isinstance(value.value, str):
            settings[name] = value.value
        else:
            raise value.error(f"expected a string or an array of strings, got {kind_and_value(value.value)}")
    return MappingProxyType(settings)


# The keys of a recipe's [package] table (and of [package.source]).
PACKAGE: Mapping[str, Validator] = {
    "project": _project,
    "version": _specifier,
    "wheel": _wheel,
    "requirements": _requirements,
}
SOURCE: Mapping[str, Validator] = {
    "requirement": _requirement,
    "sdist": Node.path,
    "cross-file": Node.path,
    "env": _env,
    "config-settings": _config_settings,
}


# ------------------------------------------------------------------------------ keys only [tool.slimwheel] has


def _positive_int(node: Node) -> int:
    value = node.value
    if isinstance(value, bool) or not isinstance(value, int):
        raise node.error(f"expected a positive whole number, got {kind_and_value(value)}")
    if value < 1:
        raise node.error(f"expected a positive whole number, not {value}")
    return value


def _seconds(node: Node) -> float:
    value = node.value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise node.error(f"expected a number of seconds, got {kind_and_value(value)}")
    if not value > 0:
        raise node.error(f"expected a positive number of seconds, not {value}")
    return float(value)


def _interpreter(node: Node) -> Path:
    """A Python interpreter: a command name (``python3.10``, looked up on PATH) or a path."""
    text = node.string()
    return Path(text) if "/" not in text and "\\" not in text else node.path()


# [tool.slimwheel] in a pyproject.toml: the recipe's [shrink] and [check] keys (defaults for `build` and options
# of `slimwheel shrink`), keys only `slimwheel shrink` has (build ignores them), and [tool.slimwheel.inspect].
_PROJECT_TABLES: Mapping[str, Mapping[str, Validator]] = {
    "shrink": {
        **SHRINK,
        "recompress": Node.boolean,
        "max-total-size": _max_size,
        "max-installed-size": _max_size,
        "wheel-dir": Node.path,
    },
    "check": {
        **CHECK,
        "timeout": _seconds,
        "max-runs": _positive_int,
        "minimal": Node.boolean,
        "trace": Node.boolean,
        "python": _interpreter,
    },
    "inspect": {"top": _positive_int, "depth": _positive_int},
}


# ---------------------------------------------------------------------------------------------------- entries


@dataclass(frozen=True)
class Entry:
    """A validated key: its value, and the node it was read from (for messages that come later)."""

    value: Any
    node: Node

    @property
    def elements(self) -> list[Node]:
        return self.node.items() if isinstance(self.node.value, list) else []


def entries(node: Node, validators: Mapping[str, Validator]) -> dict[str, Entry]:
    """The keys of the table ``node``, each validated by its validator; an unknown key is an error."""
    return {key: Entry(validators[key](child), child) for key, child in node.table(validators).items()}


def anchored_commands(setting: Entry | None) -> tuple[str, ...]:
    """The check commands of ``setting``, their file arguments anchored to the directory of the file (see
    :func:`_anchor_command`)."""
    if setting is None:
        return ()
    return tuple(_anchor_command(command, setting.node.doc.base) for command in setting.value)


def not_a_file(path: Path) -> str:
    """Why ``path``, named as a check script, a wheel or a local wheel, can't be used."""
    return f"{path} {'is not a file' if path.exists() else 'does not exist'}"


def rules_spec(select: Sequence[str], ignore: Sequence[str]) -> str:
    """``select`` and ``ignore`` as the ``--rules`` value they stand for: ``default,bytecode,-docs``."""
    return ",".join((*(select or ("default",)), *(f"-{name}" for name in ignore)))


ProjectTable = Mapping[str, Mapping[str, Entry]]


def load_project_table(path: Path, *, display: Path | None = None) -> ProjectTable | None:
    """``[tool.slimwheel]`` of the ``pyproject.toml`` at ``path``, validated: table name → key → setting
    (``None`` if the file has no such table). Relative paths are made absolute against the file's directory.

    The one home of the ``[tool.slimwheel]`` schema, for ``build`` (project defaults of recipes) and for
    :mod:`slimwheel.config` (``shrink`` and ``inspect``). ``display`` names the file in messages (default ``path``).
    """
    doc, data = read_document(path)
    if display is not None:
        doc = Doc(display, doc.base, doc.lines)
    tool = data.get("tool")
    if not isinstance(tool, dict) or "slimwheel" not in tool:
        return None
    node = Node(doc, ("tool", "slimwheel"), tool["slimwheel"])
    table = {name: entries(child, _PROJECT_TABLES[name]) for name, child in node.table(_PROJECT_TABLES).items()}
    lock = table.get("check", {}).get("lock")
    if lock is not None:
        raise lock.node.error("a lock belongs to one recipe: set it in the recipe's [check] table")
    return table
