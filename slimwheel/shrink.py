"""The pipeline: wheel in → contents → plan → strip → writer → report. Read it top to bottom.

Licence and notice files (:mod:`slimwheel.licences`) are never removed: the plan keeps them, the trial counts them
as required, a lock replay keeps them even when the lock removes them, and :func:`finish` refuses to write a wheel
that lacks any of them (an internal error: a bug, never a silently non-compliant wheel).

Memory: :func:`prepare` extracts native files to a private temporary directory while reading (strip tools work
on files), strips them there (files over :data:`BIG_STRIP` one at a time: a strip tool holds the whole file), and
keeps everything else in the input archive; :func:`finish` streams the output and deletes the directory. The trial
(``--check``) still holds the installed files in memory (it stages them into its sandbox). Long (over 500 lines)
because it is the whole pipeline, with its trial, lock and verify variants.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

from packaging.utils import InvalidWheelFilename, parse_wheel_filename

from . import __version__
from .archive import ensure_free_space
from .binaries import FileStripResult, StripLevel, StripStatus, StripTools, detect_format, find_strip_tools, strip_file
from .categories import Category
from .console import plural
from .contents import Entry, Limits, Wheel, module_name, read_wheel
from .errors import BadWheel, OutputError, UsageError, VerifyFailed
from .inspection import categorize_entries
from .journal import JournalInputs, journal_key, journal_path
from .licences import KEPT_REASON, ensure_licences_kept, licence_paths
from .lock import Lock, MappedLock, StubRecord, WheelIdentity, map_lock, read_lock, write_lock
from .plan import Plan, make_plan, refresh_entry_points
from .records import SIGNATURE_FILES
from .report import CheckSummary, LeftAlone, LockSummary, Removed, Snapshot, Stripped, WheelReport
from .rules import DEFAULT_RULES, Patterns, Rule
from .sandbox import Check, CheckError, Environment, Sandbox, checks_fingerprint
from .stubs import stub_source
from .trace import item_key
from .trial import Trial, TrialEvent, TrialOptions, TrialResult, package_inits
from .writer import write_wheel

NATIVE = (Category.NATIVE, Category.VENDORED)
BIG_STRIP = 64 * 1024**2  # strip tools load the whole file: files over this size are stripped one at a time


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
    recompress: bool = False  # also recompress entries that are copied unchanged by default


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
    strip_results: dict[str, FileStripResult]
    warnings: list[str]
    started: float
    stubs: list[StubRecord] = field(default_factory=list)  # archive paths of stubs the trial kept
    lock: LockSummary | None = None
    licences: frozenset[str] = frozenset()  # archive paths of the licence and notice files: never removed
    # extracted and stripped native files; the input wheel stays open until finish() (or close()) is done
    workdir: tempfile.TemporaryDirectory[str] | None = field(default=None, repr=False)

    def close(self) -> None:
        """Close the input wheel and delete the extracted and stripped files."""
        self.wheel.close()
        if self.workdir is not None:
            self.workdir.cleanup()


def prepare(wheel_path: Path, output_dir: Path | None, options: ShrinkOptions) -> Prepared:
    """contents → plan (rules) → strip. Native files are extracted to a private temporary directory while the
    wheel is read (so strip tools work on files); everything else stays in the input archive."""
    started = time.perf_counter()
    dest = output_path(wheel_path, output_dir) if output_dir is not None else None
    workdir = tempfile.TemporaryDirectory(prefix="slimwheel-")
    try:
        extract = None if options.strip is StripLevel.NONE else _looks_native
        wheel = read_wheel(
            wheel_path,
            limits=options.limits,
            allow_bad_record=options.allow_bad_record,
            workdir=Path(workdir.name),
            extract=extract,
        )
    except BaseException:
        workdir.cleanup()
        raise
    p = Prepared(wheel_path, dest, wheel, {}, Plan(), [], {}, [], started, workdir=workdir)
    try:
        p.categories = categorize_entries(wheel)
        p.plan = make_plan(wheel, p.categories, options.rules, options.patterns)
        p.warnings = [*wheel.warnings, *p.plan.warnings]
        entries = _apply(wheel, p.plan, p.warnings)
        _discard_removed(wheel, p.plan)
        p.entries, p.strip_results = _strip(entries, p.categories, options, Path(workdir.name))
        p.warnings.extend(_missing_tool_warnings(p.strip_results))
        p.licences = licence_paths(wheel)
    except BaseException:
        p.close()
        raise
    return p


def _looks_native(path: str, head: bytes) -> bool:
    """Whether a member is extracted to a file while the wheel is read: what may be a native binary."""
    return detect_format(head) is not None


def _discard_removed(wheel: Wheel, plan: Plan) -> None:
    """Delete the extracted files of removed entries (their disk space is needed for stripping)."""
    for path in plan.remove:
        file = wheel.by_path[path].file
        if file is not None:
            file.unlink(missing_ok=True)


def shrink(
    wheel_path: Path, output_dir: Path | None, options: ShrinkOptions, *, save_lock: Path | None = None
) -> WheelReport:
    """Slim one wheel into ``output_dir`` (``None``: a dry run that writes nothing) and report what changed;
    ``save_lock``: also write what the rules decided as a lock."""
    p = prepare(wheel_path, output_dir, options)
    if save_lock is not None:
        save_learned_lock(p, save_lock, check="")
    return finish(p, options)


def shrink_with_lock(
    paths: list[Path],
    output_dir: Path | None,
    options: ShrinkOptions,
    locks: Sequence[tuple[Lock, Path]],
    verify: CheckOptions | None = None,
) -> list[WheelReport]:
    """Shrink wheels by rules, then replay a lock on each (``locks[i]`` for ``paths[i]``) with zero check runs;
    ``verify``: run the check once on the result first, and write nothing if it fails."""
    prepared = [prepare(path, output_dir, options) for path in paths]
    for p, (lock, lock_file) in zip(prepared, locks, strict=True):
        replay_lock(p, lock, lock_file, verified=verify is not None)
    if verify is not None:
        failures = verify_with_check(prepared, verify)
        if failures:
            raise VerifyFailed(f"--verify: the lock's result fails the check, nothing written: {failures[0]}")
        for p in prepared:
            if p.lock is not None:
                p.lock = replace(p.lock, verified=True)
    return [finish(p, options) for p in prepared]


def finish(p: Prepared, options: ShrinkOptions, check: CheckSummary | None = None) -> WheelReport:
    """writer → report. The last safety net first: every licence and notice file of the input is in the output."""
    wheel, categories, plan = p.wheel, p.categories, p.plan
    ensure_licences_kept(wheel.filename, licence_paths(wheel), (e.path for e in p.entries))
    try:
        written = write_wheel(
            p.entries,
            wheel.dist_info,
            p.dest,
            compress_level=options.compress_level,
            jobs=options.jobs,
            recompress=options.recompress,
        )
    finally:
        p.close()
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
            Stripped(path, wheel.by_path[path].size, wheel.by_path[path].size - r.saved, r.reason)
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
        lock=p.lock,
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


def _missing_tool_warnings(results: Mapping[str, FileStripResult]) -> list[str]:
    """One warning per kind of binary that could not be stripped for lack of a tool (not a failure)."""
    reasons = sorted({r.reason for r in results.values() if r.reason.startswith("no strip tool")})
    return [
        f"{reason}: {sum(r.reason == reason for r in results.values())} file(s) left unstripped" for reason in reasons
    ]


def _strip(
    entries: list[Entry], categories: dict[str, Category], options: ShrinkOptions, workdir: Path
) -> tuple[list[Entry], dict[str, FileStripResult]]:
    """Strip the native files (on disk, in ``workdir``), largest first so the slowest start early; files over
    :data:`BIG_STRIP` one at a time, since each strip tool holds the whole file in memory."""
    natives = [e for e in entries if categories.get(e.path) in NATIVE]
    if options.strip is StripLevel.NONE or not natives:
        return entries, {}
    tools = find_strip_tools()
    natives.sort(key=lambda e: -e.size)
    one_big_at_a_time = threading.Lock()
    with ThreadPoolExecutor(max_workers=options.jobs or os.cpu_count() or 1) as pool:
        futures = {
            e.path: pool.submit(_strip_one, e, options.strip, tools, workdir, one_big_at_a_time) for e in natives
        }
        results = {path: f.result() for path, f in futures.items()}
    out = []
    for e in entries:
        result = results.get(e.path)
        if result is not None and result.status is StripStatus.STRIPPED and result.path is not None:
            e = e.with_file(result.path, e.size - result.saved)
        out.append(e)
    return out, dict(sorted(results.items()))


def _strip_one(
    entry: Entry, level: StripLevel, tools: StripTools, workdir: Path, big: threading.Lock
) -> FileStripResult:
    """Strip one native entry from its extracted file (written out first if it was held in memory)."""
    source = entry.file
    if source is None:
        source = workdir / f"held-{hashlib.sha256(entry.path.encode()).hexdigest()[:16]}.bin"
        with source.open("wb") as fh:
            for block in entry.chunks():
                fh.write(block)
    if entry.size <= BIG_STRIP:
        return strip_file(source, entry.path, level, workdir, tools)
    with big:
        ensure_free_space(workdir, entry.size, f"stripping {entry.path}")
        return strip_file(source, entry.path, level, workdir, tools)


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
                if p.wheel.is_metadata(entry.path) or entry.path in p.licences:
                    items.required.add(key)  # in every candidate tree, never counted as removable
        return items

    def identity(self, options: ShrinkOptions, checks: CheckOptions, env: Environment) -> str:
        """The journal key (:func:`slimwheel.journal.journal_key`) of a trial over these items: every input that
        can change a verdict."""
        with_wheels = []
        for wheel in checks.with_wheels:
            with open(wheel, "rb") as handle:
                with_wheels.append(hashlib.file_digest(handle, "sha256").hexdigest())
        return journal_key(
            JournalInputs(
                files=tuple((key, hashlib.sha256(data).hexdigest()) for key, data in self.data.items()),
                checks=tuple(check.identity() for check in checks.trial.checks),
                interpreter=f"{env.info['executable']} {env.info['version']}",
                requirements=checks.requirements,
                with_wheels=tuple(with_wheels),
                same_output=checks.trial.same_output,
                timeout=checks.trial.timeout,
                rules=tuple(rule.code for rule in options.rules),
                prune=options.patterns.prune_lines,
                keep=options.patterns.keep_lines,
                strip=str(options.strip),
            )
        )

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
    save_locks: Sequence[Path | None] = (),
) -> list[WheelReport]:
    """Shrink several wheels together: rules and stripping first, then trial deletion against the check
    (so every check run tests the bytes that will ship), then write each wheel."""
    prepared = [prepare(path, output_dir, options) for path in paths]
    items = _Items.of(prepared)
    env = _check_environment(prepared, checks)
    identity = items.identity(options, checks, env)
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
            journal=journal_path(checks.cache_dir, identity),
            startup_modules=startup_modules,
            progress=progress,
        )
        result = trial.run()
    summary = _apply_trial(prepared, items, result, checks)
    if not result.interrupted:  # an interrupted search is not a result worth replaying
        fingerprint = checks_fingerprint(checks.trial.checks)
        for p, lock_path in zip(prepared, save_locks, strict=False):
            if lock_path is not None:
                save_learned_lock(p, lock_path, check=fingerprint)
    return [finish(p, options, summary) for p in prepared]


def _rewrite_entries(p: Prepared, replaced: Mapping[str, bytes], added: list[Entry]) -> None:
    """``p.entries`` after new removals in ``p.plan.remove``: entry points refreshed, ``replaced`` contents (stubs)
    written, ``added`` files (stubs of extension-only modules) appended."""
    refresh_entry_points(p.wheel, p.plan)
    new_data = {**replaced, **p.plan.replaced}  # stubs, and entry_points.txt recomputed
    entries = [
        e.with_data(new_data[e.path]) if e.path in new_data else e for e in p.entries if e.path not in p.plan.remove
    ]
    for entry in added:
        p.categories[entry.path] = Category.PYTHON
    p.entries = entries + added


def _check_environment(prepared: list[Prepared], checks: CheckOptions) -> Environment:
    """The check's environment, once every wheel is known to fit its interpreter."""
    env = Environment.create(checks.cache_dir, checks.python, checks.requirements, checks.with_wheels)
    supported = env.tags()
    for p in prepared:
        if not {str(t) for t in p.wheel.tags} & supported:
            raise CheckError(f"{p.wheel.filename} does not fit the check's interpreter {env.python}; use --python")
    return env


def _apply_trial(prepared: list[Prepared], items: _Items, result: TrialResult, checks: CheckOptions) -> CheckSummary:
    """Turn the trial's kept set and stubs into removals, replaced entries and new stub entries per wheel."""
    label = ", ".join(c.label for c in checks.trial.checks)
    stubbed = {key: stub.module for stub in result.stubs for key in stub.replaces}
    stub_files = {stub.stub_key: stub for stub in result.stubs}
    removals: list[dict[str, str]] = [{} for _ in prepared]
    replaced: list[dict[str, bytes]] = [{} for _ in prepared]
    added: list[list[Entry]] = [[] for _ in prepared]
    unneeded = 0  # files removed because the check did not need them (stubbed files are counted as stubs)
    for key, (index, path) in items.where.items():
        if key in items.required:  # dist-info, licence and notice files: in every candidate, never removed
            continue
        if key in stub_files:
            replaced[index][path] = stub_files[key].source
        elif key in stubbed:
            removals[index][path] = f"stubbed: {stubbed[key]} (replaced by a module that raises ImportError)"
        elif key not in result.kept:
            removals[index][path] = f"not needed by the check ({label})"
            unneeded += 1
    for stub in result.stubs:
        first = min(stub.replaces)
        index, sample = items.where[first]
        if stub.stub_key in items.where:
            stub_path = items.where[stub.stub_key][1]
        else:  # a stub for an extension-only module: a new file beside it
            stub_path = sample[: len(sample) - len(first)] + stub.stub_key
            added[index].append(Entry(stub_path, stub.source, 0o644))
        replaces = tuple(sorted(items.where[k][1] for k in stub.replaces if k in items.where))
        prepared[index].stubs.append(StubRecord(stub.module, stub_path, replaces))
    for index, p in enumerate(prepared):
        p.plan.remove.update(removals[index])
        _rewrite_entries(p, replaced[index], added[index])
    return CheckSummary(
        checks=[c.label for c in checks.trial.checks],
        runs=result.runs,
        seconds=result.seconds,
        timeout=result.timeout,
        removed=unneeded,
        stubs=[f"{s.module} ({plural(len(s.replaces), 'file')} replaced)" for s in result.stubs],
        interrupted=result.interrupted,
        notes=result.notes,
    )


# ---- locks: what was learned, saved and replayed --------------------------------------------------------------


def learned_lock(p: Prepared, check: str, created_by: str) -> Lock:
    """What shrinking ``p`` decided, as a lock: removals with reasons, stubs, stripped files, everything else kept.
    A licence or notice file is never written as removed or stub-replaced (it is listed as kept)."""
    licences = licence_paths(p.wheel)
    stubs = [replace(s, replaces=tuple(x for x in s.replaces if x not in licences)) for s in p.stubs]
    stubbed = {path for stub in stubs for path in stub.replaces} | {stub.stub_path for stub in stubs}
    removed = {path: reason for path, reason in p.plan.remove.items() if path not in stubbed and path not in licences}
    stripped = tuple(
        sorted(
            path
            for path, r in p.strip_results.items()
            if r.status is StripStatus.STRIPPED and path not in removed and path not in stubbed
        )
    )
    listed = set(removed) | stubbed | set(stripped)
    return Lock(
        wheel=WheelIdentity.of(p.path),
        check=check,
        removed=removed,
        stubs=tuple(sorted(stubs, key=lambda s: s.module)),
        stripped=stripped,
        kept=tuple(sorted(e.path for e in p.wheel.entries if e.path not in listed)),
        created_by=created_by,
    )


def save_learned_lock(p: Prepared, path: Path, *, check: str) -> None:
    lock = learned_lock(p, check, f"slimwheel {__version__}")
    write_lock(path, lock)
    removals = len(lock.removed) + sum(len(s.replaces) for s in lock.stubs)
    p.lock = LockSummary(file=str(path), action="saved", learned_on=p.path.name, mapped=removals, total=removals)


def replay_lock(p: Prepared, lock: Lock, lock_file: Path, *, verified: bool = False) -> MappedLock:
    """Apply a lock (learned on this wheel, or on the same version for another platform tag) to ``p``: its
    mapped removals and stubs on top of the rules; what did not map is kept and reported. No check runs.
    A lock learned on another build of the same wheel (same tag, other bytes) gets a warning, unless the result
    is ``verified`` by a check run afterwards."""
    identity = WheelIdentity.of(p.path)
    if not verified and identity.tag == lock.wheel.tag and identity.sha256 != lock.wheel.sha256:
        p.warnings.append(
            f"the lock {lock_file} was learned on another build of {identity.filename} (its sha256 differs): "
            "nothing proves the result works; add --verify with the check (--check/--check-cmd)"
        )
    mapped = map_lock(lock, identity, [e.path for e in p.wheel.entries])
    by_path = p.wheel.by_path
    stubbed: dict[str, bytes] = {}
    licences_removed: dict[str, str] = {}  # licence files the lock removes (learned before they were protected)
    for stub in mapped.stubs:
        source = stub_source(stub.module, package_name=p.wheel.name)
        stubbed[stub.stub_path] = source
        for path in stub.replaces:
            if path in p.licences:
                licences_removed[path] = f"stubbed: {stub.module}"
            elif path != stub.stub_path and path in by_path and path not in p.plan.remove:
                p.plan.remove[path] = f"stubbed: {stub.module} (from the lock)"
    for path, reason in mapped.removed.items():
        if path in p.licences:
            licences_removed[path] = reason
        elif path in by_path and path not in p.plan.remove and not p.wheel.is_metadata(path):
            p.plan.remove[path] = f"{reason} (from the lock)"
    for path, reason in licences_removed.items():
        p.plan.kept[path] = f"{KEPT_REASON} (the lock removes it: {reason})"
    # Never fragile: a package that keeps a file keeps its __init__.py (else it turns namespace and "works").
    installed = {p.wheel.location(e.path)[1]: e.path for e in p.wheel.entries}
    kept_installed = [name for name, path in installed.items() if path not in p.plan.remove]
    present = {e.path for e in p.entries}
    for init in package_inits(kept_installed, installed):
        path = installed[init]
        if path in p.plan.remove and path in present and path not in stubbed:
            p.plan.kept[path] = (
                f"__init__.py of a package that keeps other files (the lock removed it: {p.plan.remove.pop(path)})"
            )
    _rewrite_entries(
        p,
        {path: source for path, source in stubbed.items() if path in present},
        [Entry(path, source, 0o644) for path, source in stubbed.items() if path not in present],
    )
    p.stubs = [replace(s, replaces=tuple(x for x in s.replaces if x not in p.licences)) for s in mapped.stubs]
    p.lock = LockSummary(
        file=str(lock_file),
        action="replayed",
        learned_on=lock.wheel.filename,
        mapped=mapped.mapped,
        total=mapped.total,
        unmapped=list(mapped.unmapped),
        unknown=[path for path in mapped.unknown if path not in p.plan.remove],  # the rules may remove them
        notes=[*mapped.notes, *_licence_note(licences_removed)],
    )
    return mapped


def _licence_note(licences_removed: Mapping[str, str], shown: int = 5) -> list[str]:
    """The lock-summary note for licence files a lock removes and the replay kept (none: no note)."""
    if not licences_removed:
        return []
    paths = sorted(licences_removed)
    more = f" … and {len(paths) - shown} more" if len(paths) > shown else ""
    return [
        f"kept {len(paths)} licence/notice file(s) the lock removes: {', '.join(paths[:shown])}{more} — licence and "
        "notice files are never removed; relearn the lock"
    ]


def verify_with_check(prepared: list[Prepared], checks: CheckOptions) -> list[str]:
    """Run each check once on the wheels as they will be written (after a lock replay): the failures, or []."""
    items = _Items.of(prepared)
    env = _check_environment(prepared, checks)
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="slimwheel-verify-") as work:
        sandbox = Sandbox(env, Path(work))
        sandbox.stage(items.data, items.modes)
        tree = sandbox.tree(items.data)
        try:
            for check in checks.trial.checks:
                result = sandbox.run(tree, check, timeout=checks.trial.timeout or 600.0)
                if not result.passed:
                    tail = result.stderr.strip().splitlines() or result.stdout.strip().splitlines() or ["(no output)"]
                    what = "timed out" if result.timed_out else f"exited {result.returncode}"
                    failures.append(f"check {check.label} {what}: {tail[-1]}")
        finally:
            sandbox.discard(tree)
    return failures


def lock_paths_for(wheels: Sequence[Path], target: str | Path) -> list[Path]:
    """Where ``--save-lock PATH`` writes each wheel's lock: PATH itself for one wheel (unless it is a directory or
    ends with a slash), else ``PATH/<project>.lock``; ``-`` (standard output) takes one wheel."""
    text = os.fspath(target)
    if text == "-":
        if len(wheels) != 1:
            raise UsageError("--save-lock -: standard output takes the lock of one wheel; give a directory")
        return [Path(text)]
    directory = Path(text).is_dir() or text.endswith(("/", os.sep))
    if len(wheels) == 1 and not directory:
        return [Path(text)]
    names = [_project(w) for w in wheels]
    if len(set(names)) != len(names):
        raise UsageError("--save-lock: two wheels of the same project; shrink them separately")
    return [Path(text) / f"{name}.lock" for name in names]


def locks_for_wheels(wheels: Sequence[Path], sources: Sequence[Path]) -> list[tuple[Lock, Path]]:
    """The lock for each wheel among ``sources`` (files, or directories of ``*.lock``), matched by project name;
    with several locks for one project, the one learned on the same platform tag."""
    found: list[tuple[Lock, Path]] = []
    for source in sources:
        files = sorted(source.glob("*.lock")) if source.is_dir() else [source]
        found += [(read_lock(f), f) for f in files]
    chosen: list[tuple[Lock, Path]] = []
    for wheel in wheels:
        name, version = _wheel_name(wheel)
        matching = [(lock, f) for lock, f in found if lock.wheel.name == name]
        if len(matching) > 1:  # prefer the same version, then the same platform tag
            matching = [(lock, f) for lock, f in matching if lock.wheel.version == version] or matching
        if len(matching) > 1:
            tag = wheel.name.removesuffix(".whl").split("-")[-3:]
            matching = [(lock, f) for lock, f in matching if lock.wheel.tag == "-".join(tag)] or matching
        if not matching:
            raise UsageError(f"no lock for {name} in {', '.join(map(str, sources))}")
        if len(matching) > 1:
            raise UsageError(f"several locks for {name}: {', '.join(str(f) for _, f in matching)}; pass one")
        chosen.append(matching[0])
    return chosen


def _project(wheel: Path) -> str:
    return _wheel_name(wheel)[0]


def _wheel_name(wheel: Path) -> tuple[str, str]:
    """Project and version of a wheel's file name."""
    try:
        name, version, _, _ = parse_wheel_filename(wheel.name)
    except InvalidWheelFilename as exc:
        raise BadWheel(str(wheel), f"not a wheel file name: {exc}") from None
    return str(name), str(version)
