"""Which files to remove from a wheel, and why; what is kept for safety; how metadata follows.

A plan is decided from the wheel's entries alone (no files are touched): rules and --prune patterns propose
removals, --keep patterns veto them, then safety checks put back what an import would miss:

* a module that a kept module imports at module level (so ``import pkg`` keeps working),
* the ``__init__.py`` of a package that still has kept files (else Python imports it as a namespace package),
* never anything under ``*.dist-info`` (RECORD and entry_points.txt are rewritten instead), except an
  ``entry_points.txt`` whose every entry point was dropped: it is removed rather than written empty,
* never a licence or notice file (:mod:`slimwheel.licences`): every one is listed under ``kept`` with its reason, and
  a ``--prune`` pattern that matches one adds a plan warning (``--keep`` is never needed for them).
"""

from __future__ import annotations

import configparser
import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from .categories import Category
from .contents import Wheel, module_name
from .imports import executed_imports, package_inits
from .licences import KEPT_REASON, licence_paths
from .rules import Patterns, Rule, rule_for

EMPTIED_ENTRY_POINTS = "every entry point in it was dropped"


@dataclass
class Plan:
    remove: dict[str, str] = field(default_factory=dict)  # archive path → reason (rule code/name or --prune pattern)
    kept: dict[str, str] = field(default_factory=dict)  # archive path → why a proposed removal was kept
    replaced: dict[str, bytes] = field(default_factory=dict)  # archive path → new content (entry_points.txt)
    dropped_entry_points: list[str] = field(default_factory=list)  # "group: name = target"
    warnings: list[str] = field(default_factory=list)  # for the report (e.g. --prune matching a licence file)

    def copy(self) -> Plan:
        """A plan of its own to add removals to: later stages never change an earlier stage's plan."""
        return Plan(
            dict(self.remove),
            dict(self.kept),
            dict(self.replaced),
            list(self.dropped_entry_points),
            list(self.warnings),
        )


def make_plan(wheel: Wheel, categories: Mapping[str, Category], rules: Iterable[Rule], patterns: Patterns) -> Plan:
    rules = tuple(rules)
    plan = Plan()
    licences = licence_paths(wheel)
    for entry in wheel.entries:
        _, installed = wheel.location(entry.path)
        rule = rule_for(categories[entry.path], rules)
        reason = f"{rule.code} {rule.name}" if rule else None
        pattern = patterns.pruned_by(entry.path, installed)
        if pattern is not None:
            reason = f"--prune {pattern}"
        if entry.path in licences:
            plan.kept[entry.path] = f"{KEPT_REASON} (would be removed by {reason})" if reason else KEPT_REASON
            if pattern is not None:
                plan.warnings.append(
                    f"--prune {pattern} matches licence file {entry.path}: licence and notice files are never removed"
                )
            continue
        if reason is None or wheel.is_metadata(entry.path):
            continue
        keep = patterns.kept_by(entry.path, installed)
        if keep is not None:
            plan.kept[entry.path] = f"--keep {keep} (would be removed by {reason})"
        else:
            plan.remove[entry.path] = reason
    _keep_needed(wheel, plan)
    refresh_entry_points(wheel, plan)
    return plan


def refresh_entry_points(wheel: Wheel, plan: Plan) -> None:
    """Recompute which entry points the plan's removals break (after more removals were added to it)."""
    path = f"{wheel.dist_info}/entry_points.txt"
    plan.replaced.pop(path, None)
    plan.remove.pop(path, None)
    plan.dropped_entry_points.clear()
    _fix_entry_points(wheel, plan)


def _modules(wheel: Wheel) -> dict[str, str]:
    """dotted module name → archive path, for importable files."""
    found: dict[str, str] = {}
    for entry in wheel.entries:
        scheme, installed = wheel.location(entry.path)
        if scheme in ("purelib", "platlib"):
            mod = module_name(installed)
            if mod and (mod not in found or installed.endswith(".py")):
                found[mod] = entry.path
    return found


def _keep_needed(wheel: Wheel, plan: Plan) -> None:
    """Put back removed files that kept code needs at import time, until nothing changes."""
    if not plan.remove:
        return
    modules = _modules(wheel)
    path_to_module = {p: m for m, p in modules.items()}
    scanned: set[str] = set()
    changed = True
    while changed:
        changed = False
        removed_modules = {path_to_module[p] for p in plan.remove if p in path_to_module}
        names = sorted({m.rsplit(".", 1)[-1] for m in removed_modules})
        mentions = re.compile(rb"\b(?:" + b"|".join(re.escape(n.encode()) for n in names) + rb")\b")
        for entry in wheel.entries:
            path = entry.path
            if path in plan.remove or path in scanned or not path.endswith(".py") or path not in path_to_module:
                continue
            scanned.add(path)
            if not removed_modules or not _imports_mention(entry.data, mentions):
                continue
            statements = executed_imports(entry.data, path_to_module[path], path.endswith("__init__.py"))
            for target in (module for statement in statements for module in statement.modules()):
                for mod in _prefixes(target):
                    needed = modules.get(mod)
                    if needed and needed in plan.remove:
                        reason = plan.remove.pop(needed)
                        plan.kept[needed] = f"imported at module level by {path} (would be removed by {reason})"
                        scanned.discard(needed)
                        changed = True
        changed |= _keep_package_inits(wheel, plan, path_to_module)


def _keep_package_inits(wheel: Wheel, plan: Plan, path_to_module: Mapping[str, str]) -> bool:
    """Put back the removed ``__init__.py`` of every package that keeps a file (:func:`package_inits`)."""
    paths = [entry.path for entry in wheel.entries]
    needed = package_inits((path for path in paths if path not in plan.remove), paths)
    changed = False
    for path in list(plan.remove):
        if path in needed and path in path_to_module:
            reason = plan.remove.pop(path)
            plan.kept[path] = f"__init__.py of a package that keeps other files (would be removed by {reason})"
            changed = True
    return changed


def _package_dirs(installed_paths: Iterable[str]) -> set[str]:
    """Every directory that holds at least one of ``installed_paths`` (at any depth)."""
    dirs: set[str] = set()
    for path in installed_paths:
        parent = PurePosixPath(path).parent
        while str(parent) != "." and str(parent) not in dirs:
            dirs.add(str(parent))
            parent = parent.parent
    return dirs


# An import statement, with a parenthesised or backslash-continued name list (a cheap filter before ast.parse).
_IMPORT_STATEMENT = re.compile(
    rb"^[ \t]*(?:from[ \t]+[\w.]+[ \t]+import[ \t]*(?:\([^)]*\)|(?:[^\n\\]|\\[\s\S])*)"
    rb"|import[ \t]+(?:[^\n\\]|\\[\s\S])*)",
    re.MULTILINE,
)


def _imports_mention(source: bytes, names: re.Pattern[bytes]) -> bool:
    """Whether any import statement in ``source`` names one of ``names`` (parsing follows only if so)."""
    return any(names.search(m.group(0)) for m in _IMPORT_STATEMENT.finditer(source))


def _prefixes(dotted: str) -> list[str]:
    parts = dotted.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


def _fix_entry_points(wheel: Wheel, plan: Plan) -> None:
    """Drop entry points whose module this plan removes; rewrite entry_points.txt when any is dropped, or remove
    it when none is left."""
    path = f"{wheel.dist_info}/entry_points.txt"
    entry = wheel.by_path.get(path)
    if entry is None or not plan.remove:
        return
    modules = _modules(wheel)
    importable = [wheel.location(e.path) for e in wheel.entries]
    dirs_before = _package_dirs(installed for scheme, installed in importable if scheme in ("purelib", "platlib"))
    dirs_after = _package_dirs(
        installed
        for e, (scheme, installed) in zip(wheel.entries, importable, strict=True)
        if scheme in ("purelib", "platlib") and e.path not in plan.remove
    )
    parser = configparser.ConfigParser(delimiters=("=",), interpolation=None, strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    try:
        parser.read_string(entry.data.decode("utf-8"))
    except (configparser.Error, UnicodeDecodeError):
        return  # unreadable: leave it as it is
    dropped = False
    for group in parser.sections():
        for name, target in list(parser.items(group)):
            mod = target.split(":", 1)[0].strip()
            providers = [modules[m] for m in _prefixes(mod) if m in modules]
            module_gone = bool(providers) and any(p in plan.remove for p in providers)
            # a namespace package (a directory without __init__.py) is gone when none of its files is left
            as_dir = mod.replace(".", "/")
            namespace_gone = mod not in modules and as_dir in dirs_before and as_dir not in dirs_after
            if module_gone or namespace_gone:
                parser.remove_option(group, name)
                plan.dropped_entry_points.append(f"{group}: {name} = {target.strip()}")
                dropped = True
        if not parser.items(group):
            parser.remove_section(group)
    if dropped and not parser.sections():
        plan.remove[path] = EMPTIED_ENTRY_POINTS
    elif dropped:
        out = io.StringIO()
        for group in parser.sections():
            out.write(f"[{group}]\n")
            for name, target in parser.items(group):
                out.write(f"{name} = {target}\n")
            out.write("\n")
        plan.replaced[path] = out.getvalue().encode("utf-8")
