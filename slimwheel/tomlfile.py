"""A TOML file read with line numbers for its keys: the locator, the syntax-error message, quoting a string.

:mod:`tomllib` gives a document's values but not where they are. Recipes, ``[tool.slimwheel]`` tables and locks
name the line of every problem (``recipes/numpy.toml:14: shrink.strip: ...``), so this module supplies what the
messages need:

* :class:`KeyLines`: the line of every key, table header and array element of a text tomllib has accepted,
  addressed by key path (``("shrink", "strip")``, ``("stub", 2, "replaces", 0)``); a key that does not appear in
  the text (it was inherited or is missing) falls back to its nearest enclosing key or table;
* :func:`decode` and :func:`syntax_problem`: the line of the first byte that is not UTF-8, and what tomllib's
  error says and where, taken apart so that each caller words them;
* :func:`toml_string`: a string as a TOML basic string, on one line, that tomllib reads back exactly;
  :func:`dotted` names a key path the same way; :func:`kind` and :func:`kind_and_value` say what a value is.

It is a leaf: standard library only. It knows TOML, not what a document means (no recipes, locks, wheels).
"""

from __future__ import annotations

import bisect
import contextlib
import re
import tomllib
from dataclasses import dataclass
from datetime import date, datetime, time

Key = tuple[str | int, ...]
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_SCALAR = re.compile(r"[^,\]}\n#]*")


# -- where keys are in the text -----------------------------------------------------------------------------------


class KeyLines:
    """The line of every key, table header and array element of a TOML text that tomllib has accepted.

    An array of tables counts its tables: ``("stub", 0)`` is the first ``[[stub]]``. An array counts its elements:
    ``("files", "kept", 3)`` is the fourth string of ``kept``.
    """

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


# -- reading ------------------------------------------------------------------------------------------------------


class NotUtf8(ValueError):
    """Bytes that are not UTF-8 text; ``line`` is the line of the first byte that is not."""

    def __init__(self, line: int) -> None:
        super().__init__(f"not UTF-8 text (line {line})")
        self.line = line


def decode(raw: bytes) -> str:
    """``raw`` as UTF-8 text (TOML files are UTF-8); :class:`NotUtf8` naming the line otherwise."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NotUtf8(raw[: exc.start].count(b"\n") + 1) from None


# -- syntax errors --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SyntaxProblem:
    """Why and where tomllib refused a text, taken apart from its message."""

    problem: str  # tomllib's own words, without the position: "Invalid value"
    line: int | None  # None: the parser ran into the end of the text (the caller picks the line to name)
    column: int | None

    @property
    def position(self) -> str:
        """``column 8``, or ``at the end of the file``."""
        return f"column {self.column}" if self.column is not None else "at the end of the file"


_POSITION = re.compile(r"(.*) \(at line (\d+), column (\d+)\)", re.DOTALL)


def syntax_problem(exc: tomllib.TOMLDecodeError) -> SyntaxProblem:
    """What ``exc`` says: ``Invalid value (at line 3, column 8)`` or ``Unclosed array (at end of document)``."""
    message = str(exc)
    found = _POSITION.fullmatch(message)
    if found:
        return SyntaxProblem(found[1], int(found[2]), int(found[3]))
    return SyntaxProblem(message.removesuffix(" (at end of document)"), None, None)


# -- writing values and keys in messages ----------------------------------------------------------------------------

_SHORT_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def toml_string(text: str) -> str:
    """``text`` as a TOML basic string that :mod:`tomllib` reads back exactly.

    Quotes, backslashes and every character that is not printable (control characters, line and paragraph
    separators, non-breaking and zero-width spaces, unassigned code points) are escaped, so each string stays on
    its line and is visible in a diff; other non-ASCII characters are written as they are (UTF-8).
    """
    out = ['"']
    for char in text:
        escape = _SHORT_ESCAPES.get(char)
        if escape is not None:
            out.append(escape)
        elif char.isprintable():
            out.append(char)
        elif ord(char) <= 0xFFFF:
            out.append(f"\\u{ord(char):04X}")
        else:
            out.append(f"\\U{ord(char):08X}")
    out.append('"')
    return "".join(out)


def dotted(key: Key) -> str:
    """A key path as a message names it: ``shrink.strip``, ``check.scripts[2]``, ``platform."odd name"``."""
    text = ""
    for part in key:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            name = part if _BARE_KEY.fullmatch(part) else toml_string(part)
            text += f".{name}" if text else name
    return text


_KINDS: tuple[tuple[type | tuple[type, ...], str], ...] = (
    (bool, "a boolean"),  # before int: a bool is an int
    (int, "an integer"),
    (float, "a float"),
    (str, "a string"),
    (list, "an array"),
    (dict, "a table"),
    ((datetime, date, time), "a date/time"),
)


def kind(value: object) -> str:
    """What a TOML value is: ``a boolean``, ``an integer``, ``a table``..."""
    return next((name for types, name in _KINDS if isinstance(value, types)), type(value).__name__)


def kind_and_value(value: object) -> str:
    """What a TOML value is, and the value unless it is an array or a table: ``a string ("fast")``."""
    if isinstance(value, list | dict):
        return kind(value)
    if isinstance(value, bool):
        shown = str(value).lower()
    elif isinstance(value, str):
        shown = toml_string(value)
    else:
        shown = str(value)
    return f"{kind(value)} ({shown})"
