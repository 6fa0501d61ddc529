"""What a shrink did: sizes before → after by category, removed/stripped/left-alone files; as rich views and JSON.

Nothing here prints or knows the stream: the views are rich objects for the caller to print, their text passed
through the caller's ``safe`` (:meth:`slimwheel.console.AppConsole.safe`) so that it can be shown; paths are laid
out so that none is ever wrapped (:class:`~slimwheel.console.NameTable`).

``slimwheel build``'s table and JSON, made of these wheel reports, are :mod:`slimwheel.buildreport`.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import PurePosixPath

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from .categories import Category
from .console import Field, NameTable, plural
from .units import human_size

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Sizes:
    files: int = 0
    compressed: int = 0
    installed: int = 0

    def __add__(self, other: Sizes) -> Sizes:
        return Sizes(self.files + other.files, self.compressed + other.compressed, self.installed + other.installed)


@dataclass(frozen=True)
class Snapshot:
    """A wheel's sizes: the archive's bytes, and per category the members' compressed and installed bytes."""

    archive: int
    by_category: Mapping[str, Sizes]

    @property
    def total(self) -> Sizes:
        return sum(self.by_category.values(), Sizes())

    @staticmethod
    def of(
        archive: int,
        categories: Mapping[str, Category],
        compressed: Mapping[str, int],
        installed: Mapping[str, int],
    ) -> Snapshot:
        by: dict[str, Sizes] = defaultdict(Sizes)
        for path, size in installed.items():
            by[categories.get(path, Category.METADATA).value] += Sizes(1, compressed.get(path, 0), size)
        return Snapshot(archive, dict(sorted(by.items())))


@dataclass(frozen=True)
class Removed:
    path: str
    reason: str
    category: str
    compressed: int
    installed: int


@dataclass(frozen=True)
class Stripped:
    path: str
    before: int
    after: int
    how: str

    @property
    def saved(self) -> int:
        return self.before - self.after


@dataclass(frozen=True)
class LeftAlone:
    path: str
    reason: str


class Fate(StrEnum):
    """What a shrink did to one file (see :func:`removal_fate` for how a removal's reason maps to one)."""

    KEPT = "kept"  # written as it was
    KEPT_FOR_SAFETY = "kept-for-safety"  # a rule or pattern chose it; safety kept it (licence, __init__, import)
    STRIPPED = "stripped"  # a native file written with its symbols stripped
    REWRITTEN = "rewritten"  # a Python file minified (or a source replaced by its bytecode)
    METADATA = "metadata"  # dist-info rewritten (RECORD, entry points, tags) or a stale signature dropped
    STUB = "stub"  # a stub module written in place of what the check did not need
    ADDED = "added"  # a new file (bytecode written by --bytecode-only)
    REMOVED_BY_RULE = "removed-by-rule"
    REMOVED_BY_PATTERN = "removed-by-pattern"  # --prune
    REMOVED_BY_CHECK = "removed-by-check"  # trial deletion: the check did not need it
    STUBBED = "stubbed"  # removed, its module replaced by a stub
    REMOVED = "removed"  # removed for another reason (an entry_points.txt left empty)


_RULE_REASON = re.compile(r"^([A-Z]+[0-9]+) ")
_FROM_LOCK = " (from the lock)"


def removal_fate(reason: str) -> tuple[Fate, str]:
    """The fate of a file removed for ``reason`` (a plan's, the trial's or a lock's words), and the rule code
    (``"SW001"``) when a rule removed it, else ``""``. A lock replay's ``"… (from the lock)"`` counts as the
    reason it quotes."""
    if reason.endswith(_FROM_LOCK):
        reason = reason[: -len(_FROM_LOCK)]
    if reason.startswith("stubbed:"):
        return Fate.STUBBED, ""
    if reason.startswith("not needed by the check"):
        return Fate.REMOVED_BY_CHECK, ""
    if reason.startswith("--prune "):
        return Fate.REMOVED_BY_PATTERN, ""
    rule = _RULE_REASON.match(reason)
    if rule is not None:
        return Fate.REMOVED_BY_RULE, rule.group(1)
    return Fate.REMOVED, ""


@dataclass(frozen=True)
class FileFate:
    """One file of the input or output wheel: where it installs, what happened to it and why, its sizes before and
    after (0 when not in that wheel). It is in the input unless its fate is ``ADDED``, and in the output if
    ``written``."""

    path: str  # archive path
    location: str  # install path: relative to site-packages, or "<scheme>/…" for scripts, headers and data
    category: str
    fate: Fate
    reason: str  # "" for a file kept as it was
    before: int  # installed bytes
    after: int
    compressed_before: int
    compressed_after: int
    written: bool  # in the output wheel
    rule: str = ""  # the rule code for REMOVED_BY_RULE


@dataclass(frozen=True)
class DebugFileKept:
    """One separate debug file kept with ``--debug-symbols``: for the archive ``path`` (a stripped ELF file, or a
    debug file a rule removed), at ``debug_file`` relative to the directory (``/``-separated)."""

    path: str
    debug_file: str
    build_id: str | None
    size: int


@dataclass(frozen=True)
class DebugSymbols:
    """``--debug-symbols DIR``: the debug files of this wheel kept in ``dir`` (``written``: false in a dry run)."""

    dir: str
    files: list[DebugFileKept] = field(default_factory=list)
    written: bool = True


@dataclass(frozen=True)
class CheckSummary:
    """What trial deletion against the user's check did (shared by the wheels reduced together)."""

    checks: list[str]
    runs: dict[str, int]  # per phase
    seconds: float
    timeout: float
    removed: int  # files removed because the check did not need them
    stubs: list[str]  # "module (N files replaced)", "module (1 file replaced)"
    interrupted: bool = False
    notes: list[str] = field(default_factory=list)
    rewritten: dict[str, int] = field(default_factory=dict)  # Python files rewritten, by how ("minified", ...)
    rewrite_saved: int = 0  # installed bytes the rewrites saved
    restored: list[str] = field(default_factory=list)  # files whose rewrite failed the check: kept as they were

    @property
    def total_runs(self) -> int:
        return sum(self.runs.values())


@dataclass(frozen=True)
class LockSummary:
    """A lock saved (``--save-lock``) or replayed (``--lock``) for this wheel."""

    file: str
    action: str  # "saved" or "replayed"
    learned_on: str  # the wheel file the lock was learned on
    mapped: int = 0  # removals (and stub-replaced files) of the lock found in this wheel
    total: int = 0
    unmapped: list[str] = field(default_factory=list)  # lock paths with no (or an ambiguous) counterpart: kept
    unknown: list[str] = field(default_factory=list)  # this wheel's paths the lock doesn't know: kept
    verified: bool | None = None  # --verify: did the check pass on the result (None: not run)
    notes: list[str] = field(default_factory=list)

    @property
    def coverage(self) -> float:
        return self.mapped / self.total if self.total else 1.0


@dataclass
class WheelReport:
    input: str
    output: str | None
    before: Snapshot
    after: Snapshot
    removed: list[Removed] = field(default_factory=list)
    stripped: list[Stripped] = field(default_factory=list)
    skipped: list[LeftAlone] = field(default_factory=list)  # native files not stripped, and why
    kept: list[LeftAlone] = field(default_factory=list)  # files a rule or pattern chose but safety kept
    dropped_entry_points: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0
    budget: int | None = None
    check: CheckSummary | None = None
    lock: LockSummary | None = None
    unused_by_check: bool = False  # a check ran and kept nothing of this wheel but its metadata and licences
    debug_symbols: DebugSymbols | None = None  # --debug-symbols: the debug files kept aside
    files: list[FileFate] = field(default_factory=list)  # every file before and after, with its fate (not in JSON)

    @property
    def over_budget(self) -> bool:
        return self.budget is not None and self.after.archive > self.budget


def to_json(reports: Sequence[WheelReport], *, total_budget: int | None = None) -> dict[str, object]:
    wheels = [wheel_json(r) for r in reports]
    before = sum((r.before.archive for r in reports), 0)
    after = sum((r.after.archive for r in reports), 0)
    return {
        "schema_version": SCHEMA_VERSION,
        "wheels": wheels,
        "total": {
            "before": {"compressed": before, "installed": sum(r.before.total.installed for r in reports)},
            "after": {"compressed": after, "installed": sum(r.after.total.installed for r in reports)},
            "budget": total_budget,
            "over_budget": total_budget is not None and after > total_budget,
        },
    }


def wheel_json(r: WheelReport) -> dict[str, object]:
    return {
        "input": r.input,
        "output": r.output,
        "before": _snapshot_json(r.before),
        "after": _snapshot_json(r.after),
        "removed": [asdict(x) for x in r.removed],
        "stripped": [{**asdict(x), "saved": x.saved} for x in r.stripped],
        "skipped": [asdict(x) for x in r.skipped],
        "kept": [asdict(x) for x in r.kept],
        "dropped_entry_points": r.dropped_entry_points,
        "warnings": r.warnings,
        "seconds": round(r.seconds, 3),
        "budget": r.budget,
        "over_budget": r.over_budget,
        "check": None
        if r.check is None
        else {
            "checks": r.check.checks,
            "runs": r.check.total_runs,
            "phases": r.check.runs,
            "seconds": round(r.check.seconds, 3),
            "timeout": r.check.timeout,
            "removed": r.check.removed,
            "stubs": r.check.stubs,
            "rewritten": r.check.rewritten,
            "rewrite_saved": r.check.rewrite_saved,
            "restored": r.check.restored,
            "interrupted": r.check.interrupted,
            "notes": r.check.notes,
        },
        "lock": None if r.lock is None else {**asdict(r.lock), "coverage": round(r.lock.coverage, 4)},
        "unused_by_check": r.unused_by_check,
        **_debug_symbols_json(r.debug_symbols),
    }


def _debug_symbols_json(d: DebugSymbols | None) -> dict[str, object]:
    """The ``debug_symbols`` key, only when ``--debug-symbols`` was given (reports without it stay as they were)."""
    if d is None:
        return {}
    return {"debug_symbols": {"dir": d.dir, "files": [asdict(f) for f in d.files]}}


def _snapshot_json(s: Snapshot) -> dict[str, object]:
    t = s.total
    return {
        "compressed": s.archive,
        "installed": t.installed,
        "files": t.files,
        "by_category": {k: asdict(v) for k, v in s.by_category.items()},
    }


def _delta(before: int, after: int) -> str:
    if before == 0:
        return ""
    return f"{(after - before) / before * 100:+.1f}%"


Safe = Callable[[str], str]


def _same(text: str) -> str:
    return text


def path_line(prefix: str, path: str, safe: Safe, style: str = "") -> Text:
    """One line that names a path: never wrapped (the console prints it whole, however long)."""
    return Text(safe(prefix) + path, style=style, no_wrap=True, overflow="ignore")


def renderables(
    report: WheelReport, *, top: int = 12, verbose: bool = False, safe: Safe = _same
) -> list[RenderableType]:
    """The report of one wheel as rich objects; ``verbose`` adds every removed file with its reason."""
    b, a = report.before, report.after
    out: list[RenderableType] = [
        Text(report.input, style="bold", no_wrap=True, overflow="ignore"),
        Text.assemble(
            safe(f"  {human_size(b.archive)} → "),
            (human_size(a.archive), "bold green"),
            safe(
                f" ({_delta(b.archive, a.archive)}), installed {human_size(b.total.installed)} → "
                f"{human_size(a.total.installed)}, files {b.total.files} → {a.total.files}"
            ),
        ),
    ]
    if report.output:
        out.append(path_line("  written to ", report.output, safe, "dim"))
    out.append(_category_table(b, a, safe))
    if report.removed:
        out.append(_removed_by_directory(report.removed, top, safe))
        if verbose:
            out.append(removed_files(report, safe=safe))
    if report.stripped:
        out.append(_stripped_table(report.stripped, top, safe))
    if report.debug_symbols is not None:
        out.append(_debug_symbols_line(report.debug_symbols, safe))
    for heading, items in (("not stripped", report.skipped), ("kept for safety", report.kept)):
        if items:
            out.extend(_reasons(heading, items, top, safe))
    if report.unused_by_check:
        out.append(
            Text(
                "  not used by the check: only its metadata and licence files are kept (it still installs and "
                "satisfies what depends on it)",
                style="cyan",
            )
        )
    if report.check is not None:
        out.extend(_check_lines(report.check, safe))
    if report.lock is not None:
        out.extend(_lock_lines(report.lock, safe))
    for ep in report.dropped_entry_points:
        out.append(path_line("  entry point dropped (its module was removed): ", ep, safe, "yellow"))
    for w in report.warnings:
        out.append(Text(safe(f"  warning: {w}"), style="yellow"))
    if report.budget is not None:
        style = "bold red" if report.over_budget else "green"
        verdict = "OVER BUDGET" if report.over_budget else "within budget"
        out.append(Text(f"  {verdict}: {human_size(a.archive)} of {human_size(report.budget)}", style=style))
    return out


def _debug_symbols_line(d: DebugSymbols, safe: Safe) -> Text:
    """``debug symbols kept in DIR: N files (X MB)`` (a dry run says what it would keep)."""
    size = human_size(sum(f.size for f in d.files))
    head = "debug symbols kept in " if d.written else "debug symbols to keep (dry run: none written) in "
    return path_line(f"  {head}", d.dir, safe, "cyan").append(safe(f": {plural(len(d.files), 'file')} ({size})"))


def _category_table(b: Snapshot, a: Snapshot, safe: Safe) -> Table:
    table = number_table("by category", ("category", "files", "compressed", "installed", "saved"), left=("category",))
    for cat in sorted(set(b.by_category) | set(a.by_category), key=lambda c: -b.by_category.get(c, Sizes()).installed):
        x, y = b.by_category.get(cat, Sizes()), a.by_category.get(cat, Sizes())
        table.add_row(
            cat,
            safe(f"{x.files} → {y.files}"),
            safe(f"{human_size(x.compressed)} → {human_size(y.compressed)}"),
            safe(f"{human_size(x.installed)} → {human_size(y.installed)}"),
            human_size(x.installed - y.installed) if x.installed != y.installed else "",
        )
    return table


def number_table(title: str, columns: Sequence[str], *, left: Sequence[str]) -> Table:
    """A borderless table whose columns are right-aligned numbers except those named in ``left``."""
    table = Table(title=title, title_justify="left", show_edge=False, pad_edge=False)
    for col in columns:
        table.add_column(col, justify="left" if col in left else "right", no_wrap=col not in left)
    return table


def _more(count: int, noun: str, safe: Safe, many: str | None = None, *, indent: int = 0) -> Text:
    return Text(safe(" " * indent + f"… {plural(count, noun, many)} more"), style="dim")


def _removed_by_directory(removed: Iterable[Removed], top: int, safe: Safe) -> NameTable:
    groups: dict[str, list[Removed]] = defaultdict(list)
    for r in removed:
        groups[str(PurePosixPath(r.path).parent)].append(r)
    t = NameTable(
        f"removed, by directory ({plural(len(groups), 'directory', 'directories')})",
        ["directory"],
        [Field("files"), Field("installed"), Field("compressed"), Field("why", "left", flex=True)],
    )
    ordered = sorted(groups.items(), key=lambda kv: -sum(r.installed for r in kv[1]))
    for directory, items in ordered[:top]:
        reasons = sorted({r.reason for r in items})
        why = ", ".join(reasons[:3]) + (" …" if len(reasons) > 3 else "")
        t.add_row(
            [directory + "/"],
            [str(len(items)), *_sizes(items), Text(safe(why))],
        )
    if len(ordered) > top:
        rest = [r for _, items in ordered[top:] for r in items]
        t.add_row([_more(len(ordered) - top, "directory", safe, "directories")], [str(len(rest)), *_sizes(rest), ""])
    return t


def _sizes(items: Sequence[Removed]) -> list[str]:
    return [human_size(sum(r.installed for r in items)), human_size(sum(r.compressed for r in items))]


def removed_files(report: WheelReport, *, safe: Safe = _same) -> NameTable:
    """Every removed file with its reason (``--verbose``), in path order."""
    t = NameTable(
        f"removed files ({plural(len(report.removed), 'file')})",
        ["file"],
        [Field("installed"), Field("compressed"), Field("why", "left", flex=True)],
    )
    for r in sorted(report.removed, key=lambda r: r.path):
        t.add_row([r.path], [human_size(r.installed), human_size(r.compressed), Text(safe(r.reason))])
    return t


def _stripped_table(stripped: Sequence[Stripped], top: int, safe: Safe) -> NameTable:
    t = NameTable(
        f"stripped ({plural(len(stripped), 'file')})",
        ["file"],
        [Field("before"), Field("after"), Field("saved"), Field("how", "left", flex=True)],
    )
    ordered = sorted(stripped, key=lambda s: -s.saved)
    for s in ordered[:top]:
        t.add_row([s.path], [human_size(s.before), human_size(s.after), human_size(s.saved), Text(safe(s.how))])
    if len(ordered) > top:
        rest = ordered[top:]
        t.add_row([_more(len(rest), "file", safe)], ["", "", human_size(sum(s.saved for s in rest)), ""])
    return t


def _reasons(heading: str, items: Sequence[LeftAlone], top: int, safe: Safe, shown: int = 2) -> list[RenderableType]:
    """Files grouped by reason: the reason, then a few example paths, one a line."""
    by_reason: dict[str, list[str]] = defaultdict(list)
    for item in items:
        by_reason[item.reason].append(item.path)
    lines: list[RenderableType] = [Text(f"{heading} ({plural(len(items), 'file')})", style="table.title")]
    ordered = sorted(by_reason.items(), key=lambda kv: -len(kv[1]))
    for reason, paths in ordered[:top]:
        lines.append(Text(safe(f"  {reason} ({plural(len(paths), 'file')})")))
        lines.extend(path_line("    ", path, safe, "dim") for path in sorted(paths)[:shown])
        if len(paths) > shown:
            lines.append(_more(len(paths) - shown, "file", safe, indent=4))
    if len(ordered) > top:
        lines.append(_more(len(ordered) - top, "reason", safe, indent=2))
    return lines


def _check_lines(c: CheckSummary, safe: Safe) -> list[RenderableType]:
    phases = ", ".join(f"{phase} {n}" for phase, n in c.runs.items())
    lines: list[RenderableType] = [
        Text(
            safe(
                f"  check {', '.join(c.checks)}: {plural(c.total_runs, 'run')} ({phases}) in {c.seconds:.1f} s, "
                f"timeout {c.timeout:.0f} s; {plural(c.removed, 'file')} removed as unneeded"
                + (" — INTERRUPTED, best verified result so far" if c.interrupted else "")
            ),
            style="cyan",
        )
    ]
    for stub in c.stubs:
        lines.append(path_line("  stubbed (raises ImportError naming slimwheel if used): ", stub, safe, "cyan"))
    if c.rewritten:
        how = ", ".join(f"{plural(n, 'file')} {what}" for what, n in sorted(c.rewritten.items()))
        verified = "verified by the check" if c.checks else "NOT verified: no check ran"
        lines.append(
            Text(safe(f"  Python rewritten: {how}, {human_size(c.rewrite_saved)} saved ({verified})"), style="cyan")
        )
    for path in c.restored:
        lines.append(path_line("  kept as it was (its rewrite failed the check): ", path, safe, "yellow"))
    lines.extend(Text(safe(f"  note: {note}"), style="yellow") for note in c.notes)
    return lines


def total_renderable(reports: Sequence[WheelReport], total_budget: int | None, *, safe: Safe = _same) -> RenderableType:
    before = sum(r.before.archive for r in reports)
    after = sum(r.after.archive for r in reports)
    ib = sum(r.before.total.installed for r in reports)
    ia = sum(r.after.total.installed for r in reports)
    lines: list[RenderableType] = [
        Text.assemble(
            ("total", "bold"),
            safe(f"  {plural(len(reports), 'wheel')}: {human_size(before)} → "),
            (human_size(after), "bold green"),
            safe(f" ({_delta(before, after)}), installed {human_size(ib)} → {human_size(ia)}"),
        )
    ]
    if total_budget is not None:
        over = after > total_budget
        lines.append(
            Text(
                f"  {'OVER BUDGET' if over else 'within budget'}: {human_size(after)} of {human_size(total_budget)}",
                style="bold red" if over else "green",
            )
        )
    return Group(*lines)


def over_budget_messages(reports: Sequence[WheelReport], total_budget: int | None) -> list[str]:
    """One line for each broken budget (``--max-size`` per wheel, ``--max-total-size``), for standard error."""
    lines = [
        f"over budget: {r.output or r.input} is {human_size(r.after.archive)}, over --max-size {human_size(r.budget)}"
        for r in reports
        if r.over_budget and r.budget is not None
    ]
    total = sum(r.after.archive for r in reports)
    if total_budget is not None and total > total_budget:
        lines.append(
            f"over budget: {plural(len(reports), 'wheel')} total {human_size(total)}, over --max-total-size "
            f"{human_size(total_budget)}"
        )
    return lines


def _lock_lines(lock: LockSummary, safe: Safe, shown: int = 10) -> list[RenderableType]:
    if lock.action == "saved":
        return [
            path_line("  lock saved to ", lock.file, safe, "cyan"),
            Text(f"    {plural(lock.total, 'removal')}", style="cyan"),
        ]
    verified = "" if lock.verified is None else "; verified by one check run" if lock.verified else "; CHECK FAILED"
    lines: list[RenderableType] = [
        path_line("  lock replayed: ", lock.file, safe, "cyan"),
        path_line("    learned on ", lock.learned_on, safe, "cyan"),
        Text(
            f"    {lock.mapped}/{plural(lock.total, 'removal')} mapped ({lock.coverage:.1%}), no check runs{verified}",
            style="cyan" if lock.verified is not False else "red",
        ),
    ]
    for heading, paths in (("not mapped (kept)", lock.unmapped), ("unknown to the lock (kept)", lock.unknown)):
        if paths:
            lines.append(Text(f"  {heading}: {plural(len(paths), 'file')}", style="yellow"))
            lines.extend(path_line("    ", p, safe, "yellow") for p in paths[:shown])
            if len(paths) > shown:
                lines.append(_more(len(paths) - shown, "file", safe, indent=4))
    lines.extend(Text(safe(f"  note: {note}"), style="yellow") for note in lock.notes)
    return lines
