"""``--html FILE``: what ``slimwheel shrink`` did, or what ``slimwheel inspect`` found, as one self-contained page.

:func:`shrink_page` turns the shrink reports (:class:`slimwheel.report.WheelReport`, with their per-file listing
:attr:`~slimwheel.report.WheelReport.files`) and a deploy set's summary into a :class:`slimwheel.treemap.Page`:
before and after side by side, one tile per distribution, then directories, then files; area = installed bytes;
colour = the file's fate (kept, removed by each rule, by a ``--prune`` pattern or by the check, replaced by a
stub, stripped — what stripping saved is a tile of its own —, rewritten, kept for safety, metadata). Below:
totals, the check, budgets, locks and warnings, and the table of every file with its fate and reason.
:func:`inspect_page` does the same for ``inspect`` (one panel, coloured by category), and :func:`diff_page` for
``diff`` (OLD and NEW side by side, coloured by growth). :func:`write_html` writes the page atomically
(:func:`slimwheel.outputs.write_output`).

Guarantees: the page works offline and opens from disk (:mod:`slimwheel.treemap`); a file that can't be written
is an :class:`~slimwheel.errors.OutputError` of one line.
Must not know: zip files, how a shrink is done or how a diff matches paths — it renders the reports' data, nothing
else.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from .categories import DESCRIPTIONS, Category
from .console import plural
from .diff import Measure, SetDiff, Status, WheelDiff, treemap_rows
from .errors import OutputError
from .inspection import Inspection
from .outputs import write_output
from .report import Fate, FileFate, Sizes, WheelReport
from .treemap import Column, Facts, Item, Key, Page, Tile, render
from .units import human_size

if TYPE_CHECKING:
    from .deployset import SetSummary

__all__ = ["FATE_KEYS", "diff_page", "inspect_page", "shrink_page", "write_html"]

#: The colour and legend label of each fate; rules get a colour each (:data:`RULE_COLOURS`).
FATE_KEYS: dict[str, tuple[str, str]] = {
    Fate.KEPT: ("kept", "#9dc3e6"),
    Fate.KEPT_FOR_SAFETY: ("kept for safety (licence, __init__, import, --keep)", "#2e6ca4"),
    Fate.STRIPPED: ("stripped: what is left", "#6fb7b0"),
    "strip-saved": ("stripped: bytes saved", "#f2c14e"),
    Fate.REWRITTEN: ("rewritten Python: what is left", "#93d3a2"),
    "rewrite-saved": ("rewritten Python: bytes saved", "#f7e08a"),
    Fate.METADATA: ("metadata rewritten", "#b8c0c8"),
    Fate.STUB: ("stub module", "#c5b3e6"),
    Fate.ADDED: ("added (bytecode)", "#5cb85c"),
    Fate.REMOVED_BY_CHECK: ("removed: not needed by the check", "#d64541"),
    Fate.STUBBED: ("removed: replaced by a stub", "#8e44ad"),
    Fate.REMOVED_BY_PATTERN: ("removed: --prune pattern", "#e377c2"),
    Fate.REMOVED: ("removed (other)", "#7f4f24"),
}
RULE_COLOURS = (
    "#f28e2b",
    "#c85a1e",
    "#ffb55a",
    "#a6611a",
    "#e8743b",
    "#ffd199",
    "#8c4a12",
    "#f5a25d",
    "#d9822b",
    "#b86b3a",
)
CATEGORY_COLOURS: dict[Category, str] = {
    Category.METADATA: "#b8c0c8",
    Category.NATIVE: "#4e79a7",
    Category.VENDORED: "#2c4f7c",
    Category.PYTHON: "#59a14f",
    Category.BYTECODE: "#8cd17d",
    Category.STUBS: "#b6992d",
    Category.HEADERS: "#f1ce63",
    Category.STATIC_LIBS: "#e15759",
    Category.DEBUG_FILES: "#ff9d9a",
    Category.SOURCES: "#f28e2b",
    Category.BUILD_CONFIG: "#ffbe7d",
    Category.TESTS: "#b07aa1",
    Category.DOCS: "#d4a6c8",
    Category.SCRIPTS: "#499894",
    Category.DATA: "#86bcb6",
}
_FATE_LABELS: dict[Fate, str] = {
    Fate.KEPT: "kept",
    Fate.KEPT_FOR_SAFETY: "kept for safety",
    Fate.STRIPPED: "stripped",
    Fate.REWRITTEN: "rewritten",
    Fate.METADATA: "metadata",
    Fate.STUB: "stub",
    Fate.ADDED: "added",
    Fate.REMOVED_BY_RULE: "removed by rule",
    Fate.REMOVED_BY_PATTERN: "removed by --prune",
    Fate.REMOVED_BY_CHECK: "removed by the check",
    Fate.STUBBED: "replaced by a stub",
    Fate.REMOVED: "removed",
}
_REMOVALS = frozenset(
    {Fate.REMOVED_BY_RULE, Fate.REMOVED_BY_PATTERN, Fate.REMOVED_BY_CHECK, Fate.STUBBED, Fate.REMOVED}
)


def write_html(target: str | os.PathLike[str], document: str) -> None:
    """The page to ``target``, atomically (never to standard output: a page is a file to open)."""
    try:
        write_output(target, document.encode("utf-8"))
    except OSError as exc:
        raise OutputError(f"can't write HTML report {os.fspath(target)}: {exc.strerror or exc}") from None


def _tree_path(wheel: str, location: str) -> tuple[str, ...]:
    return (wheel, *PurePosixPath(location).parts)


def _delta(before: int, after: int) -> str:
    return f" ({(after - before) / before * 100:+.1f}%)" if before else ""


def _from_to(before: int, after: int) -> str:
    return f"{human_size(before)} → {human_size(after)}{_delta(before, after)}"


# ----------------------------------------------------------------------------------------------------------
# shrink
# ----------------------------------------------------------------------------------------------------------


def _rule_keys(reports: Sequence[WheelReport]) -> dict[str, Key]:
    """One key per rule code that removed something: ``rule:SW001`` labelled ``removed by SW001 tests``."""
    names: dict[str, str] = {}
    for report in reports:
        for f in report.files:
            if f.fate is Fate.REMOVED_BY_RULE and f.rule not in names:
                words = f.reason.split()
                names[f.rule] = " ".join(words[:2]) if len(words) > 1 else f.rule
    return {
        code: Key(f"rule:{code}", f"removed by {names[code]}", RULE_COLOURS[i % len(RULE_COLOURS)])
        for i, code in enumerate(sorted(names))
    }


def _fate_key(f: FileFate) -> str:
    return f"rule:{f.rule}" if f.fate is Fate.REMOVED_BY_RULE else f.fate.value


def _tiles(f: FileFate) -> tuple[tuple[Tile, ...], tuple[Tile, ...]]:
    """A file's tiles before and after. What stripping (or a rewrite) saved is a tile of its own, beside what is
    left; a removed file is one tile before and none after."""
    key = _fate_key(f)
    if f.fate in _REMOVALS:
        return (Tile(f.before, key),), ()
    saved = f.before - f.after
    if f.fate in (Fate.STRIPPED, Fate.REWRITTEN) and f.after > 0 and saved > 0:
        extra = "strip-saved" if f.fate is Fate.STRIPPED else "rewrite-saved"
        return (Tile(f.after, key), Tile(saved, extra)), (Tile(f.after, key),)
    before = (Tile(f.before, key),) if f.fate is not Fate.ADDED else ()
    after = (Tile(f.after, key),) if f.written else ()
    return before, after


def _shrink_items(report: WheelReport) -> list[Item]:
    wheel = Path(report.input).name
    return [
        Item(
            _tree_path(wheel, f.location),
            _tiles(f),
            f.reason,
            (
                f"{_FATE_LABELS[f.fate]} ({f.rule})" if f.rule else _FATE_LABELS[f.fate],
                f.category,
                f.compressed_before,
                f.compressed_after,
            ),
        )
        for f in report.files
    ]


def _totals(reports: Sequence[WheelReport], summary: SetSummary | None) -> Facts:
    before = sum(r.before.archive for r in reports)
    after = sum(r.after.archive for r in reports)
    ib = sum(r.before.total.installed for r in reports)
    ia = sum(r.after.total.installed for r in reports)
    fb = sum(r.before.total.files for r in reports)
    fa = sum(r.after.total.files for r in reports)
    lines = [
        ("compressed (the wheel files)", _from_to(before, after)),
        ("installed (the files' sizes)", _from_to(ib, ia)),
        ("files", f"{fb} → {fa}"),
    ]
    if summary is not None and summary.pip_installed is not None:
        lines.append(("as pip installs it (with the bytecode it compiles)", human_size(summary.pip_installed)))
    else:
        lines.append(("as pip installs it", "not measured: shrink a deploy set with --target to install it"))
    if len(reports) > 1:
        for r in reports:
            lines.append((Path(r.input).name, _from_to(r.before.archive, r.after.archive)))
    return Facts("totals" if len(reports) > 1 else "sizes", tuple(lines))


def _by_category(reports: Sequence[WheelReport]) -> Facts:
    before: dict[str, Sizes] = {}
    after: dict[str, Sizes] = {}
    for r in reports:
        for cat, s in r.before.by_category.items():
            before[cat] = before.get(cat, Sizes()) + s
        for cat, s in r.after.by_category.items():
            after[cat] = after.get(cat, Sizes()) + s
    order = sorted(set(before) | set(after), key=lambda c: -before.get(c, Sizes()).installed)
    lines = tuple(
        (cat, _from_to(before.get(cat, Sizes()).installed, after.get(cat, Sizes()).installed)) for cat in order
    )
    return Facts("installed, by category", lines)


def _check_facts(reports: Sequence[WheelReport]) -> Facts | None:
    check = next((r.check for r in reports if r.check is not None), None)
    if check is None:
        return None
    lines = [
        ("checks", ", ".join(check.checks) or "none"),
        ("runs", f"{check.total_runs} ({', '.join(f'{phase} {n}' for phase, n in check.runs.items())})"),
        ("time", f"{check.seconds:.1f} s (timeout {check.timeout:.0f} s a run)"),
        ("removed as unneeded", plural(check.removed, "file")),
        ("stubs", "; ".join(check.stubs) or "none"),
    ]
    if check.rewritten:
        how = ", ".join(f"{plural(n, 'file')} {what}" for what, n in sorted(check.rewritten.items()))
        lines.append(("Python rewritten", f"{how}, {human_size(check.rewrite_saved)} saved"))
    if check.restored:
        lines.append(("rewrites that failed the check", plural(len(check.restored), "file")))
    alert = set()
    if check.interrupted:
        lines.append(("interrupted", "yes: the best verified result so far"))
        alert.add("interrupted")
    lines.extend((f"note {i}", note) for i, note in enumerate(check.notes, 1))
    return Facts("the check", tuple(lines), frozenset(alert))


def _budget_facts(reports: Sequence[WheelReport], total_budget: int | None, summary: SetSummary | None) -> Facts | None:
    lines: list[tuple[str, str]] = []
    alert: set[str] = set()
    for r in reports:
        if r.budget is not None:
            label = f"--max-size {Path(r.input).name}"
            lines.append((label, f"{human_size(r.after.archive)} of {human_size(r.budget)}"))
            if r.over_budget:
                alert.add(label)
    if total_budget is not None:
        total = sum(r.after.archive for r in reports)
        lines.append(("--max-total-size", f"{human_size(total)} of {human_size(total_budget)}"))
        if total > total_budget:
            alert.add("--max-total-size")
    if summary is not None and summary.installed_budget is not None:
        lines.append(
            ("--max-installed-size", f"{human_size(summary.installed)} of {human_size(summary.installed_budget)}")
        )
        if summary.over_budget:
            alert.add("--max-installed-size")
    if not lines:
        return None
    return Facts("budgets" + (": OVER" if alert else ": within"), tuple(lines), frozenset(alert))


def _lock_and_warnings(reports: Sequence[WheelReport]) -> list[Facts]:
    locks: list[tuple[str, str]] = []
    warnings: list[tuple[str, str]] = []
    for r in reports:
        name = Path(r.input).name
        if r.lock is not None:
            what = f"{r.lock.action} {r.lock.file}"
            if r.lock.action != "saved":
                what += f": {r.lock.mapped}/{r.lock.total} removals mapped ({r.lock.coverage:.1%})"
                if r.lock.verified is not None:
                    what += ", verified by one check run" if r.lock.verified else ", CHECK FAILED"
            locks.append((name, what))
        warnings.extend((name, w) for w in r.warnings)
        warnings.extend((name, f"entry point dropped: {ep}") for ep in r.dropped_entry_points)
        if r.unused_by_check:
            warnings.append((name, "not used by the check: only its metadata and licence files are kept"))
    out = []
    if locks:
        out.append(Facts("locks", tuple(locks)))
    if warnings:
        out.append(Facts("warnings", tuple(warnings)))
    return out


def shrink_page(
    reports: Sequence[WheelReport], *, total_budget: int | None = None, summary: SetSummary | None = None
) -> Page:
    """The page of ``slimwheel shrink --html``: before and after, one tile per wheel (see the module docstring)."""
    rule_keys = _rule_keys(reports)
    keys: list[Key] = []
    for fate, (label, colour) in FATE_KEYS.items():
        keys.append(Key(fate, label, colour))
        if fate == Fate.KEPT_FOR_SAFETY:  # the rules' colours after the kept ones, before the other removals
            keys.extend(rule_keys.values())
    items = [item for r in reports for item in _shrink_items(r)]
    before = sum(r.before.archive for r in reports)
    after = sum(r.after.archive for r in reports)
    if len(reports) == 1:
        title = f"slimwheel: {Path(reports[0].input).name}"
    else:
        title = f"slimwheel: {plural(len(reports), 'wheel')}" + (" (deploy set)" if summary is not None else "")
    dry = all(r.output is None for r in reports)
    subtitle = f"{_from_to(before, after)} compressed" + (" — dry run: nothing was written" if dry else "")
    facts = [_totals(reports, summary), _by_category(reports)]
    facts += [f for f in (_check_facts(reports), _budget_facts(reports, total_budget, summary)) if f is not None]
    facts += _lock_and_warnings(reports)
    return Page(
        title=title,
        subtitle=subtitle,
        panels=("before", "after"),
        keys=tuple(keys),
        items=items,
        root=plural(len(reports), "wheel"),
        columns=(Column("fate"), Column("category"), Column("compressed before", "bytes"), Column("after", "bytes")),
        note_title="reason",
        facts=tuple(facts),
    )


# ----------------------------------------------------------------------------------------------------------
# inspect
# ----------------------------------------------------------------------------------------------------------


def inspect_page(inspections: Sequence[Inspection]) -> Page:
    """The page of ``slimwheel inspect --html``: installed bytes by category, one tile per wheel."""
    keys = tuple(Key(c.value, f"{c.value}: {DESCRIPTIONS[c]}", CATEGORY_COLOURS[c]) for c in Category)
    items = [
        Item(
            _tree_path(i.filename, f.location or f.path),
            ((Tile(f.installed, f.category.value),),),
            "",
            (
                f.category.value,
                f.compressed,
            ),
        )
        for i in inspections
        for f in i.every_file
    ]
    facts = []
    for i in inspections:
        lines = [
            ("distribution", f"{i.name} {i.version}"),
            ("tags", ", ".join(i.tags)),
            ("compressed", human_size(i.archive_size)),
            ("installed", human_size(i.installed_size)),
            ("files", str(i.files)),
            ("native binaries", str(len(i.native))),
        ]
        lines += [(s.category.value, f"{human_size(s.installed)} in {plural(s.files, 'file')}") for s in i.categories]
        facts.append(Facts(i.filename, tuple(lines)))
    title = f"slimwheel inspect: {inspections[0].filename}" if len(inspections) == 1 else "slimwheel inspect"
    total = sum(i.installed_size for i in inspections)
    return Page(
        title=title,
        subtitle=f"{plural(len(inspections), 'wheel')}, {human_size(total)} installed",
        panels=("installed",),
        keys=keys,
        items=items,
        root=plural(len(inspections), "wheel"),
        columns=(Column("category"), Column("compressed", "bytes")),
        note_title="note",
        facts=tuple(facts),
    )


# ----------------------------------------------------------------------------------------------------------
# diff
# ----------------------------------------------------------------------------------------------------------

#: A diff's colours: by how a file changed between OLD and NEW.
GROWTH_KEYS = (
    Key("unchanged", "unchanged", "#c9d3df"),
    Key("grew", "grew", "#d9534f"),
    Key("shrank", "shrank", "#5cb85c"),
    Key("added", "added (only in NEW)", "#8e1b1b"),
    Key("removed", "removed (only in OLD)", "#2f7d8c"),
    Key("changed", "changed, same size", "#f0ad4e"),
)


def _growth_key(status: Status, old: int, new: int) -> str:
    if status is Status.CHANGED:
        return "grew" if new > old else "shrank" if new < old else "changed"
    return str(status)


def diff_page(diff: WheelDiff | SetDiff, measure: Measure = Measure.COMPRESSED) -> Page:
    """The page of ``slimwheel diff --html``: OLD and NEW side by side, one tile per distribution, area = bytes
    (``measure``), colour = how each file changed; the table lists every file with both sizes and the change."""
    diffs = diff.diffs if isinstance(diff, SetDiff) else (diff,)
    items: list[Item] = []
    for d in diffs:
        top = d.new.name if isinstance(diff, SetDiff) else f"{d.old.filename} → {d.new.filename}"
        for row in treemap_rows(d, measure):
            key = _growth_key(row.status, row.old, row.new)
            old_tiles = (Tile(row.old, key),) if row.status is not Status.ADDED else ()
            new_tiles = (Tile(row.new, key),) if row.status is not Status.REMOVED else ()
            note = f"was {row.old_path}" if row.old_path else ""
            items.append(
                Item(
                    (top, *row.path.split("/")),
                    (old_tiles, new_tiles),
                    note,
                    (key, row.new - row.old),
                )
            )
    old_total, new_total = diff.size(measure, new=False), diff.size(measure, new=True)
    what = "compressed" if measure is Measure.COMPRESSED else "installed"
    lines = [(f"{what} (OLD → NEW)", _from_to(old_total, new_total))]
    for d in diffs:
        lines.append((d.new.name, _from_to(d.size(measure, new=False), d.size(measure, new=True))))
    if isinstance(diff, SetDiff):
        lines += [(f"only in OLD: {w.name}", human_size(w.size(measure))) for w in diff.removed]
        lines += [(f"only in NEW: {w.name}", human_size(w.size(measure))) for w in diff.added]
    title = (
        f"slimwheel diff: {diffs[0].old.filename} → {diffs[0].new.filename}" if len(diffs) == 1 else "slimwheel diff"
    )
    return Page(
        title=title,
        subtitle=f"{_from_to(old_total, new_total)} {what}",
        panels=("old", "new"),
        keys=GROWTH_KEYS,
        items=items,
        root=plural(len(diffs), "wheel"),
        columns=(Column("change"), Column("delta (bytes)", "number")),
        note_title="note",
        facts=(Facts("sizes", tuple(lines)),),
    )


def diff_html(diff: WheelDiff | SetDiff, measure: Measure = Measure.COMPRESSED) -> str:
    """:func:`diff_page` rendered."""
    return render(diff_page(diff, measure))


def shrink_html(
    reports: Sequence[WheelReport], *, total_budget: int | None = None, summary: SetSummary | None = None
) -> str:
    """:func:`shrink_page` rendered."""
    return render(shrink_page(reports, total_budget=total_budget, summary=summary))


def inspect_html(inspections: Sequence[Inspection]) -> str:
    """:func:`inspect_page` rendered."""
    return render(inspect_page(inspections))
