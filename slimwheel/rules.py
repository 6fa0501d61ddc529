"""Named, coded pruning rules and the user's --prune/--keep patterns.

Each rule removes one category of file. The default set is conservative: none of its categories is needed to
import a normal package (bytecode is not in it, because deleting shipped .pyc files slows every cold start).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import pathspec

from .categories import DESCRIPTIONS, Category
from .errors import UsageError


@dataclass(frozen=True)
class Rule:
    code: str
    name: str
    category: Category
    default: bool

    @property
    def description(self) -> str:
        return DESCRIPTIONS[self.category]

    def matches(self, category: Category) -> bool:
        return category is self.category


RULES: tuple[Rule, ...] = (
    Rule("SW001", "tests", Category.TESTS, True),
    Rule("SW002", "stubs", Category.STUBS, True),
    Rule("SW003", "headers", Category.HEADERS, True),
    Rule("SW004", "static-libs", Category.STATIC_LIBS, True),
    Rule("SW005", "sources", Category.SOURCES, True),
    Rule("SW006", "docs", Category.DOCS, True),
    Rule("SW007", "debug-files", Category.DEBUG_FILES, True),
    Rule("SW008", "build-config", Category.BUILD_CONFIG, True),
    Rule("SW009", "bytecode", Category.BYTECODE, False),
)
DEFAULT_RULES = tuple(r for r in RULES if r.default)
_BY_KEY = {k: r for r in RULES for k in (r.code.lower(), r.name)}


def select_rules(spec: str | None) -> tuple[Rule, ...]:
    """Parse ``--rules``: comma-separated codes or names; ``default``, ``all``, ``none``; ``-NAME`` removes one.

    ``None`` means the default set. ``"default,-docs,bytecode"`` is the default set without docs, plus bytecode.
    """
    if spec is None:
        return DEFAULT_RULES
    chosen: list[Rule] = []
    for raw in spec.split(","):
        item = raw.strip().lower()
        if not item:
            continue
        if item in ("default", "all", "none"):
            group = {"default": DEFAULT_RULES, "all": RULES, "none": ()}[item]
            chosen.extend(r for r in group if r not in chosen)
            if item == "none":
                chosen.clear()
            continue
        remove = item.startswith("-")
        key = item.lstrip("+-")
        rule = _BY_KEY.get(key)
        if rule is None:
            known = ", ".join(f"{r.code}/{r.name}" for r in RULES)
            raise UsageError(f"unknown rule {raw.strip()!r} in --rules (known: default, all, none, {known})")
        if remove:
            if rule in chosen:
                chosen.remove(rule)
        elif rule not in chosen:
            chosen.append(rule)
    return tuple(r for r in RULES if r in chosen)


def rule_for(category: Category, rules: Iterable[Rule]) -> Rule | None:
    return next((r for r in rules if r.matches(category)), None)


class Patterns:
    """gitignore-style ``--prune`` and ``--keep`` patterns; keep wins."""

    def __init__(self, prune: Iterable[str] = (), keep: Iterable[str] = ()) -> None:
        self.prune_lines = tuple(prune)
        self.keep_lines = tuple(keep)
        try:
            self._prune = pathspec.GitIgnoreSpec.from_lines(self.prune_lines)
            self._keep = pathspec.GitIgnoreSpec.from_lines(self.keep_lines)
        except (ValueError, TypeError) as exc:  # pathspec raises GitWildMatchPatternError, a ValueError
            raise UsageError(f"bad pattern: {exc}") from None

    def pruned_by(self, *paths: str) -> str | None:
        """The --prune pattern that selects any of ``paths`` (archive path, installed path), or None."""
        return self._first(self._prune, self.prune_lines, paths)

    def kept_by(self, *paths: str) -> str | None:
        return self._first(self._keep, self.keep_lines, paths)

    @staticmethod
    def _first(spec: pathspec.GitIgnoreSpec, lines: tuple[str, ...], paths: tuple[str, ...]) -> str | None:
        if not lines:
            return None
        for path in paths:
            result = spec.check_file(path)
            if result.include:
                index = result.index
                return lines[index] if index is not None and 0 <= index < len(lines) else "pattern"
        return None
