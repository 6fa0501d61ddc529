"""The pipeline: wheel in → contents → plan → strip → writer → report. Read it top to bottom."""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from .binaries import StripLevel, StripResult, StripStatus, find_strip_tools, strip_binary
from .categories import Category
from .contents import Entry, Limits, Wheel, read_wheel
from .errors import OutputError
from .inspection import categorize_entries
from .plan import Plan, make_plan
from .records import SIGNATURE_FILES
from .report import CheckSummary, LeftAlone, Removed, Snapshot, Stripped, WheelReport
from .rules import DEFAULT_RULES, Patterns, Rule
from .writer import write_wheel

NATIVE = (Category.NATIVE, Category.VENDORED)


@dataclass(frozen=True)
class ShrinkOptions:
    rules: tuple[Rule, ...] = DEFAULT_RULES
    patterns: Patterns = field(default_factory=Patterns)
    strip: StripLevel = StripLevel.UNNEEDED
    compress_level: int = 9
    jobs: int | None = None
    allow_bad_record: bool = False
    limits: Limits = field(default_factory=Limits)
    budget: int | None = None  # --max-size, in bytes


def output_path(wheel_path: Path, output_dir: Path) -> Path:
    """Where the slimmed wheel goes: the input's own file name inside ``output_dir``; never the input itself."""
    dest = output_dir / wheel_path.name
    if dest.exists() and dest.resolve() == wheel_path.resolve():
        raise OutputError(f"{wheel_path.name}: the output would overwrite the input; choose another -w directory")
    return dest


def prepare_output_dir(output_dir: Path) -> None:
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"can't create output directory {output_dir}: {exc.strerror or exc}") from None
    if not output_dir.is_dir() or not os.access(output_dir, os.W_OK | os.X_OK):
        raise OutputError(f"output directory {output_dir} is not writable")


@dataclass
class Prepared:
    """A wheel read, planned and stripped: everything but the trial deletion and the writing."""

    path: Path
    dest: Path | None
    wheel: Wheel
    categories: dict[str, Category]
    plan: Plan
    entries: list[Entry]
    strip_results: dict[str, StripResult]
    warnings: list[str]
    started: float


def prepare(wheel_path: Path, output_dir: Path | None, options: ShrinkOptions) -> Prepared:
    """contents → plan (rules) → strip."""
    started = time.perf_counter()
    dest = output_path(wheel_path, output_dir) if output_dir is not None else None
    wheel = read_wheel(wheel_path, limits=options.limits, allow_bad_record=options.allow_bad_record)
    categories = categorize_entries(wheel)
    plan = make_plan(wheel, categories, options.rules, options.patterns)
    warnings = list(wheel.warnings)
    entries = _apply(wheel, plan, warnings)
    entries, strip_results = _strip(entries, categories, options)
    warnings.extend(_missing_tool_warnings(strip_results))
    return Prepared(wheel_path, dest, wheel, categories, plan, entries, strip_results, warnings, started)


def shrink(wheel_path: Path, output_dir: Path | None, options: ShrinkOptions) -> WheelReport:
    """Slim one wheel into ``output_dir`` (``None``: a dry run that writes nothing) and report what changed."""
    return finish(prepare(wheel_path, output_dir, options), options)


def finish(p: Prepared, options: ShrinkOptions, check: CheckSummary | None = None) -> WheelReport:
    """writer → report."""
    wheel, categories, plan = p.wheel, p.categories, p.plan
    written = write_wheel(p.entries, wheel.dist_info, p.dest, compress_level=options.compress_level, jobs=options.jobs)
    after_sizes = {m.path: m.size for m in written.members}
    return WheelReport(
        input=str(p.path),
        output=str(p.dest) if p.dest else None,
        before=Snapshot.of(
            wheel.archive_size, categories, wheel.compressed_sizes, {e.path: e.size for e in wheel.entries}
        ),
        after=Snapshot.of(written.size, categories, written.compressed_sizes, after_sizes),
        removed=[
            Removed(path, reason, categories[path].value, wheel.compressed_sizes[path], wheel.by_path[path].size)
            for path, reason in sorted(plan.remove.items())
        ],
        stripped=[
            Stripped(path, r.saved + len(r.data), len(r.data), r.reason)
            for path, r in p.strip_results.items()
            if r.status is StripStatus.STRIPPED and path not in plan.remove
        ],
        skipped=[
            LeftAlone(path, f"{r.status.value}: {r.reason}")
            for path, r in p.strip_results.items()
            if r.status is not StripStatus.STRIPPED and path not in plan.remove
        ],
        kept=[LeftAlone(path, why) for path, why in sorted(plan.kept.items())],
        dropped_entry_points=plan.dropped_entry_points,
        warnings=p.warnings,
        seconds=time.perf_counter() - p.started,
        budget=options.budget,
        check=check,
    )


def _apply(wheel: Wheel, plan: Plan, warnings: list[str]) -> list[Entry]:
    """The wheel's entries minus the plan's removals, with replaced metadata, without stale signatures."""
    signatures = {f"{wheel.dist_info}/{name}" for name in SIGNATURE_FILES}
    entries: list[Entry] = []
    for entry in wheel.entries:
        if entry.path in plan.remove:
            continue
        if entry.path in signatures:
            warnings.append(f"dropped {entry.path}: a signature over the old RECORD is invalid after any change")
            continue
        replacement = plan.replaced.get(entry.path)
        entries.append(entry.with_data(replacement) if replacement is not None else entry)
    return entries


def _missing_tool_warnings(results: dict[str, StripResult]) -> list[str]:
    """One warning per kind of binary that could not be stripped for lack of a tool (not a failure)."""
    reasons = sorted({r.reason for r in results.values() if r.reason.startswith("no strip tool")})
    return [
        f"{reason}: {sum(r.reason == reason for r in results.values())} file(s) left unstripped" for reason in reasons
    ]


def _strip(
    entries: list[Entry], categories: dict[str, Category], options: ShrinkOptions
) -> tuple[list[Entry], dict[str, StripResult]]:
    natives = [e for e in entries if categories.get(e.path) in NATIVE]
    if options.strip is StripLevel.NONE or not natives:
        return entries, {}
    tools = find_strip_tools()
    # Largest first, so the slowest strips start early and the pool stays busy.
    natives.sort(key=lambda e: -e.size)
    with ThreadPoolExecutor(max_workers=options.jobs or os.cpu_count() or 1) as pool:
        futures = {e.path: pool.submit(strip_binary, e.data, e.path, options.strip, tools) for e in natives}
        results = {path: f.result() for path, f in futures.items()}
    out = [
        e.with_data(results[e.path].data) if e.path in results and results[e.path].status is StripStatus.STRIPPED else e
        for e in entries
    ]
    return out, dict(sorted(results.items()))
