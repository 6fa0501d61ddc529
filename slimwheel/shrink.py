"""The pipeline: wheel in → contents → plan → strip → writer → report. Read it top to bottom."""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from .binaries import StripLevel, StripResult, StripStatus, find_strip_tools, strip_binary
from .categories import Category
from .contents import Entry, Limits, Wheel, module_name, read_wheel
from .errors import OutputError, UsageError
from .inspection import categorize_entries
from .plan import Plan, make_plan, refresh_entry_points
from .records import SIGNATURE_FILES
from .report import CheckSummary, LeftAlone, Removed, Snapshot, Stripped, WheelReport
from .rules import DEFAULT_RULES, Patterns, Rule
from .sandbox import Check, CheckError, Environment, Sandbox
from .trace import item_key
from .trial import Trial, TrialEvent, TrialOptions, TrialResult
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


# ---- trial deletion against the user's check ---------------------------------------------------------------


def default_cache_dir() -> Path:
    base = os.environ.get("SLIMWHEEL_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "slimwheel"
    )
    return Path(base)


@dataclass(frozen=True)
class CheckOptions:
    trial: TrialOptions
    python: Path | None = None
    requirements: tuple[str, ...] = ()
    with_wheels: tuple[Path, ...] = ()
    cache_dir: Path = field(default_factory=default_cache_dir)


@dataclass
class _Items:
    """The installed files of several wheels, keyed as the trial sees them, and where each came from."""

    data: dict[str, bytes] = field(default_factory=dict)
    modes: dict[str, int] = field(default_factory=dict)
    where: dict[str, tuple[int, str]] = field(default_factory=dict)  # item key → (wheel index, archive path)
    required: set[str] = field(default_factory=set)

    @staticmethod
    def of(prepared: list[Prepared]) -> _Items:
        items = _Items()
        for index, p in enumerate(prepared):
            for entry in p.entries:
                if entry.path == f"{p.wheel.dist_info}/RECORD":
                    continue
                key = item_key(*p.wheel.location(entry.path))
                if key in items.where:
                    other = prepared[items.where[key][0]].wheel.filename
                    raise UsageError(f"{key} is installed by both {other} and {p.wheel.filename}")
                items.data[key], items.modes[key], items.where[key] = entry.data, entry.mode, (index, entry.path)
                if p.wheel.is_metadata(entry.path):
                    items.required.add(key)
        return items

    def identity(self, checks: CheckOptions, env: Environment) -> str:
        h = hashlib.sha256()
        for key in sorted(self.data):
            h.update(key.encode() + b"\0" + hashlib.sha256(self.data[key]).digest())
        for check in checks.trial.checks:
            h.update(check.identity().encode())
        h.update(f"{env.python}|{checks.trial.same_output}|{sorted(checks.requirements)}".encode())
        return h.hexdigest()[:32]

    def top_level(self) -> list[str]:
        tops = {k.split("/", 1)[0] for k in self.data if k.count("/") == 1 and k.endswith("/__init__.py")}
        tops |= {k[: -len(".py")] for k in self.data if "/" not in k and k.endswith(".py")}
        return sorted(t for t in tops if t.isidentifier())


def shrink_with_check(
    paths: list[Path],
    output_dir: Path | None,
    options: ShrinkOptions,
    checks: CheckOptions,
    progress: Callable[[TrialEvent], None] | None = None,
) -> list[WheelReport]:
    """Shrink several wheels together: rules and stripping first, then trial deletion against the check
    (so every check run tests the bytes that will ship), then write each wheel."""
    prepared = [prepare(path, output_dir, options) for path in paths]
    items = _Items.of(prepared)
    env = Environment.create(checks.cache_dir, checks.python, checks.requirements, checks.with_wheels)
    supported = env.tags()
    for p in prepared:
        if not {str(t) for t in p.wheel.tags} & supported:
            raise CheckError(f"{p.wheel.filename} does not fit the check's interpreter {env.python}; use --python")
    identity = items.identity(checks, env)
    with tempfile.TemporaryDirectory(prefix="slimwheel-trial-") as work:
        sandbox = Sandbox(env, Path(work))
        sandbox.stage(items.data, items.modes)
        tops = items.top_level()
        startup = Check.command(f"python -c 'import {', '.join(tops)}'") if tops else None

        def startup_modules() -> set[str]:
            if startup is None:
                return set()
            tree = sandbox.tree(items.data)
            try:
                result = sandbox.run(tree, startup, timeout=600, trace=True)
            finally:
                sandbox.discard(tree)
            files = result.trace.files if result.passed and result.trace else frozenset()
            return {m for m in (module_name(k) for k in files) if m}

        trial = Trial(
            sandbox,
            items.data,
            items.required,
            checks.trial,
            journal=checks.cache_dir / "journals" / f"{identity}.jsonl",
            startup_modules=startup_modules,
            progress=progress,
        )
        result = trial.run()
    summary = _apply_trial(prepared, items, result, checks)
    return [finish(p, options, summary) for p in prepared]


def _apply_trial(prepared: list[Prepared], items: _Items, result: TrialResult, checks: CheckOptions) -> CheckSummary:
    """Turn the trial's kept set and stubs into removals, replaced entries and new stub entries per wheel."""
    label = ", ".join(c.label for c in checks.trial.checks)
    stubbed = {key: stub.module for stub in result.stubs for key in stub.replaces}
    stub_files = {stub.stub_key: stub for stub in result.stubs}
    removals: list[dict[str, str]] = [{} for _ in prepared]
    replaced: list[dict[str, bytes]] = [{} for _ in prepared]
    added: list[list[Entry]] = [[] for _ in prepared]
    for key, (index, path) in items.where.items():
        if key in stub_files:
            replaced[index][path] = stub_files[key].source
        elif key in stubbed:
            removals[index][path] = f"stubbed: {stubbed[key]} (replaced by a module that raises ImportError)"
        elif key not in result.kept and key not in items.required:
            removals[index][path] = f"not needed by the check ({label})"
    for stub in result.stubs:
        if stub.stub_key in items.where:
            continue
        index, sample = items.where[next(iter(sorted(stub.replaces)))]  # a stub for an extension-only module
        prefix = sample[: len(sample) - len(next(iter(sorted(stub.replaces))))]
        added[index].append(Entry(prefix + stub.stub_key, stub.source, 0o644))
    for index, p in enumerate(prepared):
        p.plan.remove.update(removals[index])
        refresh_entry_points(p.wheel, p.plan)
        new_data = {**replaced[index], **p.plan.replaced}  # stubs, and entry_points.txt recomputed
        entries = [
            e.with_data(new_data[e.path]) if e.path in new_data else e for e in p.entries if e.path not in p.plan.remove
        ]
        for entry in added[index]:
            p.categories[entry.path] = Category.PYTHON
        p.entries = entries + added[index]
    return CheckSummary(
        checks=[c.label for c in checks.trial.checks],
        runs=result.runs,
        seconds=result.seconds,
        timeout=result.timeout,
        removed=sum(len(r) for r in removals) - len(stubbed),
        stubs=[f"{s.module} ({len(s.replaces)} files replaced)" for s in result.stubs],
        interrupted=result.interrupted,
        notes=result.notes,
    )
