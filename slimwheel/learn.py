"""Trial deletion in the pipeline: prepared wheels held to the user's check, and the result turned into removals.

The search itself is :mod:`slimwheel.trial`'s (it knows items and check runs, not wheels). This module lays the
prepared wheels out as the items an install creates (:class:`Items`: one key per installed file, with the wheel and
archive path it came from), keys the trial's journal on every input that can change a verdict, runs the trial in a
sandbox, and maps its kept set and stubs back onto each wheel (:func:`learn`). :func:`verify` runs the check once on
wheels as they will be written (after a lock replay). Dist-info, licence and notice files are in every candidate
and never removed. It returns new values; the prepared wheels it is given are not changed.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from .bytecode import check_interpreter, wheel_python_version
from .check import Check, CheckError
from .console import plural
from .contents import Entry, Wheel, module_name
from .emulator import emulated_by
from .errors import UsageError
from .journal import JournalInputs, journal_key, journal_path
from .lock import StubRecord
from .options import CheckOptions, ShrinkOptions
from .prepared import Prepared, retagged, rewritten
from .report import CheckSummary
from .rewrite import Rewrite, RewriteOptions, rewrites
from .sandbox import Environment, Sandbox
from .tags import fits
from .trace import item_key, key_path
from .trial import Trial, TrialEvent, TrialResult, default_jobs


@dataclass
class Items:
    """The installed files of several wheels, keyed as the trial sees them, and where each came from."""

    data: dict[str, bytes] = field(default_factory=dict)
    modes: dict[str, int] = field(default_factory=dict)
    where: dict[str, tuple[int, str]] = field(default_factory=dict)  # item key → (wheel index, archive path)
    required: set[str] = field(default_factory=set)

    @staticmethod
    def of(prepared: list[Prepared]) -> Items:
        items = Items()
        for index, p in enumerate(prepared):
            keys = item_keys(p.wheel)
            for entry in p.entries:
                if entry.path == f"{p.wheel.dist_info}/RECORD":
                    continue
                key = keys.get(entry.path) or _new_key(p.wheel, entry.path)  # or a stub a lock replay added
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


def item_keys(wheel: Wheel) -> dict[str, str]:
    """Archive path → item key of every file an install of ``wheel`` creates (all but ``RECORD``); raises
    :class:`CheckError` for a file that can't be laid out, or two that install to the same place."""
    record = f"{wheel.dist_info}/RECORD"
    keys: dict[str, str] = {}
    owners: dict[str, str] = {}
    for entry in wheel.entries:
        if entry.path == record:
            continue
        key = _new_key(wheel, entry.path)
        if key in owners:
            raise CheckError(f"{wheel.filename}: {owners[key]!r} and {entry.path!r} install to the same file")
        owners[key] = entry.path
        keys[entry.path] = key
    return keys


def _new_key(wheel: Wheel, path: str) -> str:
    """The item key of a file at ``path`` (an entry of ``wheel``, or a stub added beside its entries), checked to be
    a safe place in a candidate tree."""
    key = item_key(*wheel.location(path))
    try:
        key_path(key)
    except ValueError:
        raise CheckError(f"{wheel.filename}: {path!r} can't be laid out as an installed file") from None
    return key


def learn(
    prepared: list[Prepared],
    options: ShrinkOptions,
    checks: CheckOptions,
    progress: Callable[[TrialEvent], None] | None = None,
) -> tuple[list[Prepared], CheckSummary]:
    """Trial deletion over the prepared wheels together (every check run tests the bytes that will ship): each
    wheel with what the check did not need removed or stubbed, and what the trial did."""
    items = Items.of(prepared)
    env = check_environment(prepared, checks)
    if options.bytecode_only:  # bytecode for the check's Python: it must be the wheels' Python
        for p in prepared:
            check_interpreter(wheel_python_version(p.wheel.filename), env.python)
    identity = items.identity(options, checks, env)
    with tempfile.TemporaryDirectory(prefix="slimwheel-trial-") as work:
        sandbox = Sandbox(env, Path(work))
        sandbox.stage(items.data, items.modes)
        trial = Trial(
            sandbox,
            items.data,
            items.required,
            checks.trial,
            journal=journal_path(checks.cache_dir, identity),
            startup_modules=_startup_modules(sandbox, items),
            rewrites=_rewrites(items, rewrite_options(options, env.python, env.version)),
            progress=progress,
        )
        result = trial.run()
    label = ", ".join(c.label for c in checks.trial.checks)
    applied = _applied(prepared, items, result, label, ".".join(env.version.split(".")[:2]))
    summary = _summary(items, result, checks)
    emulator = emulated_by(env.info["executable"])
    if emulator is not None:
        summary = replace(summary, notes=[*summary.notes, f"ran under emulation ({emulator}): slower than native"])
    return applied, summary


def rewrite_options(options: ShrinkOptions, python: Path, version: str) -> RewriteOptions:
    """What ``--minify`` and ``--bytecode-only`` ask for, with ``python`` (of ``version``) compiling."""
    major, minor = (int(part) for part in version.split(".")[:2])
    return RewriteOptions(
        minify=options.minify,
        bytecode=python if options.bytecode_only else None,
        python=(major, minor),
        jobs=options.jobs or default_jobs(),
    )


def _rewrites(items: Items, options: RewriteOptions) -> Callable[[frozenset[str]], list[Rewrite]] | None:
    """The trial's source of rewrite candidates for a kept set (None: no rewrite asked for)."""
    if not options.any:
        return None
    return lambda keys: rewrites(items.data, keys, options, keep=items.required)


def rewritten_unverified(p: Prepared, options: ShrinkOptions, python: Path, version: str) -> Prepared:
    """``p`` with every importable Python file rewritten as ``--minify``/``--bytecode-only`` ask, unproven (no
    check): the report says so."""
    ropts = rewrite_options(options, python, version)
    if not ropts.any:
        return p
    items = Items.of([p])
    done = rewrites(items.data, frozenset(items.data) - items.required, ropts, keep=items.required)
    result = TrialResult(kept=frozenset(items.data), rewrites=done)
    return _applied([p], items, result, "", version)[0]


def _startup_modules(sandbox: Sandbox, items: Items) -> Callable[[], set[str]]:
    """What importing the wheels' top-level packages loads (asked for by the trial only if it needs it)."""
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

    return startup_modules


def check_environment(prepared: list[Prepared], checks: CheckOptions) -> Environment:
    """The check's environment, once every wheel is known to fit its interpreter."""
    env = Environment.create(checks.cache_dir, checks.python, checks.requirements, checks.with_wheels)
    supported = env.tags()
    for p in prepared:
        if not fits(p.wheel.tags, supported):
            raise CheckError(f"{p.wheel.filename} does not fit the check's interpreter {env.python}; use --python")
    return env


@dataclass
class _PerWheel:
    """What the trial's result means for one wheel."""

    removals: dict[str, str] = field(default_factory=dict)
    replaced: dict[str, bytes] = field(default_factory=dict)
    added: list[Entry] = field(default_factory=list)
    stubs: list[StubRecord] = field(default_factory=list)
    superseded: set[str] = field(default_factory=set)  # sources replaced by their bytecode (added)


def _applied(prepared: list[Prepared], items: Items, result: TrialResult, label: str, version: str) -> list[Prepared]:
    """The trial's kept set, stubs and rewrites as removals, replaced entries and new entries, per wheel; a wheel
    whose sources became bytecode is retagged for Python ``version``."""
    per = [_PerWheel() for _ in prepared]
    stubbed = {key: stub.module for stub in result.stubs for key in stub.replaces}
    stub_files = {stub.stub_key: stub for stub in result.stubs}
    for key, (index, path) in items.where.items():
        if key in items.required:  # dist-info, licence and notice files: in every candidate, never removed
            continue
        if key in stub_files:
            per[index].replaced[path] = stub_files[key].source
        elif key in stubbed:
            per[index].removals[path] = f"stubbed: {stubbed[key]} (replaced by a module that raises ImportError)"
        elif key not in result.kept:
            per[index].removals[path] = f"not needed by the check ({label})"
    for stub in result.stubs:
        first = min(stub.replaces)
        index, sample = items.where[first]
        if stub.stub_key in items.where:
            stub_path = items.where[stub.stub_key][1]
        else:  # a stub for an extension-only module: a new file beside it
            stub_path = sample[: len(sample) - len(first)] + stub.stub_key
            per[index].added.append(Entry(stub_path, stub.source, 0o644))
        replaces = tuple(sorted(items.where[k][1] for k in stub.replaces if k in items.where))
        per[index].stubs.append(StubRecord(stub.module, stub_path, replaces))
    for rewrite in result.rewrites:
        index, path = items.where[rewrite.key]
        if rewrite.new_key == rewrite.key:
            per[index].replaced[path] = rewrite.data
        else:
            new_path = path[: len(path) - len(rewrite.key)] + rewrite.new_key
            per[index].superseded.add(path)
            per[index].added.append(Entry(new_path, rewrite.data, items.modes.get(rewrite.key, 0o644) or 0o644))
    out = []
    for p, mine in zip(prepared, per, strict=True):
        plan = p.plan.copy()
        plan.remove.update(mine.removals)
        new = rewritten(p, plan, mine.replaced, mine.added, mine.superseded)
        if mine.superseded:
            new = retagged(new, version)
        out.append(replace(new, stubs=(*p.stubs, *mine.stubs)))
    return out


def _summary(items: Items, result: TrialResult, checks: CheckOptions) -> CheckSummary:
    """What the trial did, for every wheel's report; files counted as removed are those the check did not need
    (stub-replaced files are counted as stubs)."""
    stubbed = {key for stub in result.stubs for key in stub.replaces} | {stub.stub_key for stub in result.stubs}
    skipped = items.required | stubbed | result.kept
    unneeded = sum(1 for key in items.where if key not in skipped)
    rewritten: dict[str, int] = {}
    for rewrite in result.rewrites:
        rewritten[rewrite.how] = rewritten.get(rewrite.how, 0) + 1
    return CheckSummary(
        checks=[c.label for c in checks.trial.checks],
        runs=result.runs,
        seconds=result.seconds,
        timeout=result.timeout,
        removed=unneeded,
        stubs=[f"{s.module} ({plural(len(s.replaces), 'file')} replaced)" for s in result.stubs],
        interrupted=result.interrupted,
        notes=result.notes,
        rewritten=rewritten,
        rewrite_saved=sum(len(items.data[r.key]) - len(r.data) for r in result.rewrites),
        restored=[items.where[key][1] for key in result.restored],
    )


def verify(prepared: list[Prepared], checks: CheckOptions) -> list[str]:
    """Run each check once on the wheels as they will be written (after a lock replay): the failures, or []."""
    items = Items.of(prepared)
    env = check_environment(prepared, checks)
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
