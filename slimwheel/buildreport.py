"""``slimwheel build``'s table and JSON: one row per recipe and platform, and per distribution of a deploy set.

Made of the wheel reports of the build's outcomes (:mod:`slimwheel.report` lays out each wheel and its JSON; this
module nests them). The outcomes are given as :class:`BuildOutcome` (what :class:`slimwheel.build.PlatformBuild`
has), since the build imports this module and not the other way round. Nothing here prints: the views are rich
objects for the caller to print, their text passed through the caller's ``safe``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import PurePath
from typing import Protocol

from packaging.utils import InvalidWheelFilename, parse_wheel_filename
from rich import box
from rich.console import Group, RenderableType
from rich.text import Text

from .console import Field, NameTable, plural
from .report import Safe, WheelReport, path_line, wheel_json
from .units import human_size

# ---- slimwheel build: one row per recipe and platform (and per distribution of a deploy set) -------------------


class BuildOutcome(Protocol):
    """What the build table and JSON show of one recipe on one platform (a :class:`slimwheel.build.PlatformBuild`,
    which this module does not import: the build imports this module)."""

    @property
    def recipe(self) -> str: ...
    @property
    def platform(self) -> str: ...
    @property
    def mode(self) -> str: ...  # "check", "lock", "lock-verified", "relearned", "rules" or "failed"
    @property
    def budget(self) -> int | None: ...  # of each wheel
    @property
    def report(self) -> WheelReport | None: ...  # a recipe's one wheel
    @property
    def distributions(self) -> Sequence[WheelReport]: ...  # a deploy set's wheels
    @property
    def requirements_file(self) -> PurePath | None: ...  # a deploy set's wheels pinned with their hashes
    @property
    def note(self) -> str: ...
    @property
    def error(self) -> str | None: ...
    @property
    def over_budget(self) -> bool: ...


#: How each build mode is shown in the build table, and its line in the table's legend.
BUILD_MODES: dict[str, tuple[str, str]] = {
    "check": ("check (lock learned)", "check: trial deletion ran here and saved the lock"),
    "lock": ("lock replayed", "lock: the lock replayed with no check runs, what didn't map kept (never guessed)"),
    "lock-verified": (
        "lock replayed, verified",
        "lock replayed, verified: the lock replayed, then one check run passed on the result",
    ),
    "relearned": (
        "relearned (lock failed on this build)",
        "relearned: the lock failed the check on this build, so trial deletion ran here",
    ),
    "rules": ("rules only", "rules: rules and stripping only"),
}


def _how(mode: str) -> Text:
    if mode == "failed":
        return Text("failed", style="red")
    return Text(BUILD_MODES[mode][0] if mode in BUILD_MODES else mode.replace("-", " "))


def build_table(results: Sequence[BuildOutcome], *, safe: Safe = str) -> RenderableType:
    """One row per recipe and platform: sizes before/after, the budget, how it was shrunk; a deploy set has one row
    per distribution (how each was shrunk: a distribution with no lock to replay got the rules only), then one of
    its totals. Its legend lists the ways present in the table."""
    sets = any(r.distributions for r in results)
    rows = [(r, report, _row_mode(r, report)) for r in results for report in r.distributions]
    modes = list(dict.fromkeys(m for m in [*(r.mode for r in results), *(m for _, _, m in rows)] if m in BUILD_MODES))
    table = NameTable(
        "slimwheel build",
        ["recipe", "platform", *(["distribution"] if sets else [])],
        [
            Field("before"),
            Field("after"),
            Field("budget"),
            Field("how", "left", flex=True),
            Field("notes", "left", flex=True),
        ],
        caption="\n".join(BUILD_MODES[m][1] for m in modes) or None,
        box=box.HEAVY_HEAD,
    )
    for r in results:
        budget = human_size(r.budget) if r.budget is not None else safe("—")
        if r.distributions:
            for each in r.distributions:
                notes = _lock_note(each, "unused by the check" if each.unused_by_check else "")
                figures = [*_size_cells(each, r.budget, budget), _how(_row_mode(r, each)), Text(safe(notes))]
                table.add_row([r.recipe, r.platform, _distribution(each)], figures)
            _set_total_row(table, r, safe)
            continue
        report = r.report
        names = [r.recipe, r.platform, *([_distribution(report) if report else safe("—")] if sets else [])]
        if report is None:
            table.add_row(names, [safe("—"), safe("—"), budget, _how("failed"), Text(r.error or "")])
            continue
        notes = _lock_note(report, r.note)
        if report.check is not None:
            notes = f"{plural(report.check.total_runs, 'check run')}; {notes}".rstrip("; ")
        table.add_row(names, [*_size_cells(report, r.budget, budget), _how(r.mode), Text(safe(notes))])
    pinned = [
        path_line(f"  {r.recipe} [{r.platform}]: pinned with hashes in ", safe(str(r.requirements_file)), safe, "dim")
        for r in results
        if r.requirements_file is not None
    ]
    return Group(table, *pinned) if pinned else table


def _row_mode(r: BuildOutcome, report: WheelReport) -> str:
    """How one distribution of a set was shrunk: the set's way, but the rules only where no lock was replayed."""
    if r.mode in ("lock", "lock-verified") and (report.lock is None or report.lock.action != "replayed"):
        return "rules"
    return r.mode


def _distribution(report: WheelReport) -> str:
    """``name version`` of a wheel's file name."""
    filename = PurePath(report.output or report.input).name
    try:
        name, version, _, _ = parse_wheel_filename(filename)
    except InvalidWheelFilename:
        return filename
    return f"{name} {version}"


def _size_cells(report: WheelReport, budget: int | None, shown_budget: str) -> list[RenderableType]:
    after = Text(human_size(report.after.archive))
    if budget is not None:
        after = Text(f"{after} OVER", style="red") if report.over_budget else Text(str(after), style="green")
    return [human_size(report.before.archive), after, shown_budget]


def _lock_note(report: WheelReport, note: str) -> str:
    if report.lock is not None and report.lock.action == "replayed":
        return f"{report.lock.coverage:.0%} of the lock mapped; {note}".rstrip("; ")
    return note


def _set_total_row(table: NameTable, r: BuildOutcome, safe: Safe) -> None:
    """A deploy set's totals: its wheels before and after, its check runs (once for the set), where it is pinned."""
    reports = r.distributions
    check = next((report.check for report in reports if report.check is not None), None)
    notes = [plural(check.total_runs, "check run")] if check is not None else []
    notes += [r.note] if r.note else []
    notes += ["pinned with hashes"] if r.requirements_file is not None else []
    how = _how("failed") if r.error else _how(r.mode)
    text = Text(safe("; ".join(notes)))
    if r.error:
        text = Text.assemble(text, "; " if notes else "", Text(safe(r.error), style="red"))
    before = human_size(sum(report.before.archive for report in reports))
    after = human_size(sum(report.after.archive for report in reports))
    table.add_row([r.recipe, r.platform, safe(f"all {len(reports)}")], [before, after, safe("—"), how, text])


def build_json(results: Sequence[BuildOutcome]) -> dict[str, object]:
    """Every build: ``report`` is a recipe's one wheel, ``reports`` every wheel written (a deploy set's
    distributions, sorted by file name), ``requirements_file`` where a set's wheels are pinned with their hashes."""
    return {
        "schema_version": 1,
        "builds": [
            {
                "recipe": r.recipe,
                "platform": r.platform,
                "mode": r.mode,
                "budget": r.budget,
                "over_budget": r.over_budget,
                "note": r.note,
                "error": r.error,
                "report": wheel_json(r.report) if r.report is not None else None,
                "reports": [
                    {**wheel_json(report), "distribution": _distribution(report), "mode": _row_mode(r, report)}
                    for report in (r.distributions or ([r.report] if r.report is not None else []))
                ],
                "requirements_file": str(r.requirements_file) if r.requirements_file is not None else None,
            }
            for r in results
        ],
    }
