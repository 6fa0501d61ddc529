"""What a shrink did: sizes before → after by category, removed/stripped/left-alone files; as rich views and JSON."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import PurePosixPath

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from .categories import Category
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


@dataclass(frozen=True)
class CheckSummary:
    """What trial deletion against the user's check did (shared by the wheels reduced together)."""

    checks: list[str]
    runs: dict[str, int]  # per phase
    seconds: float
    timeout: float
    removed: int  # files removed because the check did not need them
    stubs: list[str]  # "module (N files replaced)"
    interrupted: bool = False
    notes: list[str] = field(default_factory=list)

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

    @property
    def over_budget(self) -> bool:
        return self.budget is not None and self.after.archive > self.budget


def to_json(reports: Sequence[WheelReport], *, total_budget: int | None = None) -> dict[str, object]:
    wheels = []
    for r in reports:
        wheels.append(
            {
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
                    "interrupted": r.check.interrupted,
                    "notes": r.check.notes,
                },
                "lock": None if r.lock is None else {**asdict(r.lock), "coverage": round(r.lock.coverage, 4)},
            }
        )
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


def renderables(report: WheelReport, *, top: int = 12) -> list[RenderableType]:
    out: list[RenderableType] = []
    b, a = report.before, report.after
    title = Text.assemble(
        (report.input, "bold"),
        f"  {human_size(b.archive)} → ",
        (human_size(a.archive), "bold green"),
        f" ({_delta(b.archive, a.archive)}), installed {human_size(b.total.installed)} → "
        f"{human_size(a.total.installed)}, files {b.total.files} → {a.total.files}",
    )
    out.append(title)
    if report.output:
        out.append(Text(f"  written to {report.output}", style="dim"))
    table = _table("by category", ("category", "files", "compressed", "installed", "saved"), left=("category",))
    for cat in sorted(set(b.by_category) | set(a.by_category), key=lambda c: -b.by_category.get(c, Sizes()).installed):
        x, y = b.by_category.get(cat, Sizes()), a.by_category.get(cat, Sizes())
        table.add_row(
            cat,
            f"{x.files} → {y.files}",
            f"{human_size(x.compressed)} → {human_size(y.compressed)}",
            f"{human_size(x.installed)} → {human_size(y.installed)}",
            human_size(x.installed - y.installed) if x.installed != y.installed else "",
        )
    out.append(table)
    if report.removed:
        out.append(_removed_by_directory(report.removed, top))
    if report.stripped:
        t = _table(
            f"stripped ({len(report.stripped)} files)",
            ("file", "before", "after", "saved", "how"),
            left=("file", "how"),
        )
        for s in sorted(report.stripped, key=lambda s: -s.saved)[:top]:
            t.add_row(s.path, human_size(s.before), human_size(s.after), human_size(s.saved), s.how)
        if len(report.stripped) > top:
            rest = report.stripped[top:]
            t.add_row(
                f"… {len(rest)} more",
                "",
                "",
                human_size(sum(s.saved for s in sorted(report.stripped, key=lambda s: -s.saved)[top:])),
                "",
            )
        out.append(t)
    for heading, items in (("not stripped", report.skipped), ("kept for safety", report.kept)):
        if items:
            out.append(_reasons_table(heading, items, top))
    if report.check is not None:
        c = report.check
        phases = ", ".join(f"{phase} {n}" for phase, n in c.runs.items())
        out.append(
            Text(
                f"  check {', '.join(c.checks)}: {c.total_runs} runs ({phases}) in {c.seconds:.1f} s, "
                f"timeout {c.timeout:.0f} s; {c.removed} files removed as unneeded"
                + (" — INTERRUPTED, best verified result so far" if c.interrupted else ""),
                style="cyan",
            )
        )
        for stub in c.stubs:
            out.append(Text(f"  stubbed (raises ImportError naming slimwheel if used): {stub}", style="cyan"))
        for note in c.notes:
            out.append(Text(f"  note: {note}", style="yellow"))
    if report.lock is not None:
        out.extend(_lock_lines(report.lock))
    for ep in report.dropped_entry_points:
        out.append(Text(f"  entry point dropped (its module was removed): {ep}", style="yellow"))
    for w in report.warnings:
        out.append(Text(f"  warning: {w}", style="yellow"))
    if report.budget is not None:
        style = "bold red" if report.over_budget else "green"
        verdict = "OVER BUDGET" if report.over_budget else "within budget"
        out.append(Text(f"  {verdict}: {human_size(a.archive)} of {human_size(report.budget)}", style=style))
    return out


def _table(title: str, columns: Sequence[str], *, left: Sequence[str]) -> Table:
    """A borderless table whose columns are right-aligned numbers except those named in ``left``."""
    table = Table(title=title, title_justify="left", show_edge=False, pad_edge=False)
    for col in columns:
        table.add_column(col, justify="left" if col in left else "right")
    return table


def _removed_by_directory(removed: Iterable[Removed], top: int) -> RenderableType:
    groups: dict[str, list[Removed]] = defaultdict(list)
    for r in removed:
        groups[str(PurePosixPath(r.path).parent)].append(r)
    t = _table(
        f"removed, by directory ({len(groups)} directories)",
        ("directory", "files", "installed", "compressed", "why"),
        left=("directory", "why"),
    )
    ordered = sorted(groups.items(), key=lambda kv: -sum(r.installed for r in kv[1]))
    for directory, items in ordered[:top]:
        reasons = sorted({r.reason for r in items})
        t.add_row(
            directory + "/",
            str(len(items)),
            human_size(sum(r.installed for r in items)),
            human_size(sum(r.compressed for r in items)),
            ", ".join(reasons[:3]) + (" …" if len(reasons) > 3 else ""),
        )
    if len(ordered) > top:
        rest = [r for _, items in ordered[top:] for r in items]
        t.add_row(
            f"… {len(ordered) - top} more directories",
            str(len(rest)),
            human_size(sum(r.installed for r in rest)),
            human_size(sum(r.compressed for r in rest)),
            "",
        )
    return t


def _reasons_table(heading: str, items: Sequence[LeftAlone], top: int) -> RenderableType:
    by_reason: dict[str, list[str]] = defaultdict(list)
    for item in items:
        by_reason[item.reason].append(item.path)
    t = _table(f"{heading} ({len(items)} files)", ("why", "files", "examples"), left=("why", "examples"))
    for reason, paths in sorted(by_reason.items(), key=lambda kv: -len(kv[1]))[:top]:
        t.add_row(reason, str(len(paths)), ", ".join(sorted(paths)[:2]) + (" …" if len(paths) > 2 else ""))
    return t


def total_renderable(reports: Sequence[WheelReport], total_budget: int | None) -> RenderableType:
    before = sum(r.before.archive for r in reports)
    after = sum(r.after.archive for r in reports)
    ib = sum(r.before.total.installed for r in reports)
    ia = sum(r.after.total.installed for r in reports)
    lines: list[RenderableType] = [
        Text.assemble(
            ("total", "bold"),
            f"  {len(reports)} wheels: {human_size(before)} → ",
            (human_size(after), "bold green"),
            f" ({_delta(before, after)}), installed {human_size(ib)} → {human_size(ia)}",
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


def _lock_lines(lock: LockSummary, shown: int = 10) -> list[RenderableType]:
    if lock.action == "saved":
        return [Text(f"  lock saved to {lock.file} ({lock.total} removals)", style="cyan")]
    lines: list[RenderableType] = [
        Text(
            f"  lock {lock.file} (learned on {lock.learned_on}) replayed: {lock.mapped}/{lock.total} removals "
            f"mapped ({lock.coverage:.1%}), no check runs"
            + ("" if lock.verified is None else "; verified by one check run" if lock.verified else "; CHECK FAILED"),
            style="cyan" if lock.verified is not False else "red",
        )
    ]
    for heading, paths in (("not mapped (kept)", lock.unmapped), ("unknown to the lock (kept)", lock.unknown)):
        if paths:
            more = f" … and {len(paths) - shown} more" if len(paths) > shown else ""
            lines.append(Text(f"  {heading}: {', '.join(paths[:shown])}{more}", style="yellow"))
    lines.extend(Text(f"  note: {note}", style="yellow") for note in lock.notes)
    return lines
