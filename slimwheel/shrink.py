"""The pipeline: wheel in → contents → plan → strip → (trial or lock) → writer → report. Read it top to bottom.

:func:`run` is the one entry, for the command line and for recipes alike: it prepares every input
(:mod:`slimwheel.prepared`: read, plan by rule, strip), applies the mode (:mod:`slimwheel.options`: rules only,
learn with the check in :mod:`slimwheel.learn`, or replay a lock in :mod:`slimwheel.replay`), and writes each
wheel with :func:`finish`. Each stage returns a new value; none changes what an earlier stage made.

Licence and notice files (:mod:`slimwheel.licences`) are never removed: the plan keeps them, the trial counts them
as required, a lock replay keeps them even when the lock removes them, and :func:`finish` refuses to write a wheel
that lacks any of them (an internal error: a bug, never a silently non-compliant wheel).

It knows the stages and their order; it does not know zip files (the reader and writer do), check runs (the trial
does) or lock files (the lock module does).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from .binaries import StripStatus
from .bytecode import check_interpreter, wheel_python_version
from .categories import Category
from .check import checks_fingerprint
from .debugsyms import keep_debug_symbols
from .errors import VerifyFailed
from .learn import learn, rewritten_unverified, verify
from .licences import ensure_licences_kept, licence_paths
from .options import Learn, Mode, Replay, RulesOnly, ShrinkOptions
from .prepared import Prepared, prepare
from .records import SIGNATURE_FILES
from .replay import replayed, saved
from .report import (
    CheckSummary,
    DebugSymbols,
    Fate,
    FileFate,
    LeftAlone,
    Removed,
    Snapshot,
    Stripped,
    WheelReport,
    removal_fate,
)
from .trial import TrialEvent
from .writer import WrittenWheel, write_wheel

_SITE_SCHEMES = frozenset({"purelib", "platlib"})


def run(
    inputs: Sequence[Path],
    output_dir: Path | None,
    options: ShrinkOptions,
    mode: Mode,
    progress: Callable[[TrialEvent], None] | None = None,
) -> list[WheelReport]:
    """Shrink ``inputs`` into ``output_dir`` (``None``: a dry run that writes nothing) in ``mode``; one report per
    input, in order. Rules only: one wheel after the other. Learning: all inputs together, against one check.
    Replaying: ``mode.locks[i]`` on input ``i``; with ``mode.verify``, nothing is written if the check fails."""
    if isinstance(mode, RulesOnly):
        return [_rules_only(path, output_dir, options, _nth(mode.save_locks, i)) for i, path in enumerate(inputs)]
    prepared: list[Prepared] = []
    try:
        for path in inputs:
            prepared.append(prepare(path, output_dir, options))
        check: CheckSummary | None = None
        if isinstance(mode, Replay):
            done = _replay(prepared, mode, options)
        else:
            done, check = _learn(prepared, options, mode, progress)
        return [finish(p, options, check) for p in done]
    finally:
        for p in prepared:
            p.close()


def _nth(paths: Sequence[Path | None], index: int) -> Path | None:
    return paths[index] if index < len(paths) else None


def _rules_only(path: Path, output_dir: Path | None, options: ShrinkOptions, save_lock: Path | None) -> WheelReport:
    p = prepare(path, output_dir, options)
    try:
        if save_lock is not None:
            p = saved(p, save_lock, check="")
        return finish(_unproven_rewrites(p, options), options)
    finally:
        p.close()


def _unproven_rewrites(p: Prepared, options: ShrinkOptions, *, verified: bool = False) -> Prepared:
    """``--minify``/``--bytecode-only`` without a trial: every Python file rewritten, compiled by ``--python`` (else
    this interpreter) for the wheel's Python; unless one check run follows (``verified``), the report warns that
    no check proved them."""
    if not (options.minify or options.bytecode_only):
        return p
    python = options.python or Path(sys.executable)
    if options.bytecode_only:
        version = check_interpreter(wheel_python_version(p.wheel.filename), python).version
    else:
        version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    done = rewritten_unverified(p, options, python, version)
    if verified:
        return done
    what = " and ".join(
        flag for flag, on in (("--minify", options.minify), ("--bytecode-only", options.bytecode_only)) if on
    )
    return replace(done, warnings=(*done.warnings, f"{what}: Python files rewritten without a check to prove them"))


def _replay(prepared: list[Prepared], mode: Replay, options: ShrinkOptions) -> list[Prepared]:
    """The lock of each wheel replayed on it, with no check run; with ``verify``, one run of the check first."""
    done = [
        _unproven_rewrites(
            replayed(p, lock, lock_file, verified=mode.verify is not None), options, verified=mode.verify is not None
        )
        for p, (lock, lock_file) in zip(prepared, mode.locks, strict=True)
    ]
    if mode.verify is None:
        return done
    failures = verify(done, mode.verify)
    if failures:
        raise VerifyFailed(f"--verify: the lock's result fails the check, nothing written: {failures[0]}")
    return [replace(p, lock=replace(p.lock, verified=True)) if p.lock is not None else p for p in done]


def _learn(
    prepared: list[Prepared], options: ShrinkOptions, mode: Learn, progress: Callable[[TrialEvent], None] | None
) -> tuple[list[Prepared], CheckSummary]:
    """Trial deletion against the check; each result saved as a lock where asked, unless the search was
    interrupted (an interrupted search is not a result worth replaying)."""
    done, summary = learn(prepared, options, mode.checks, progress)
    if not summary.interrupted:
        fingerprint = checks_fingerprint(mode.checks.trial.checks)
        for i, p in enumerate(done):
            lock = _nth(mode.save_locks, i)
            if lock is not None:
                done[i] = saved(p, lock, check=fingerprint)
    return done, summary


def finish(p: Prepared, options: ShrinkOptions, check: CheckSummary | None = None) -> WheelReport:
    """writer → report. The last safety net first: every licence and notice file of the input is in the output.
    With ``--debug-symbols``, the debug files of what the output ships (and of the debug files it removed) are
    kept aside first (:mod:`slimwheel.debugsyms`)."""
    wheel, categories, plan = p.wheel, p.categories, p.plan
    ensure_licences_kept(wheel.filename, licence_paths(wheel), (e.path for e in p.entries))
    debug: DebugSymbols | None = None
    debug_warnings: list[str] = []
    try:
        if options.debug_symbols is not None:
            removed_debug = [wheel.by_path[path] for path in plan.remove if categories[path] is Category.DEBUG_FILES]
            debug, debug_warnings = keep_debug_symbols(
                options.debug_symbols, p.entries, p.strip_results, removed_debug, write=p.dest is not None
            )
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
    unused = check is not None and all(wheel.is_metadata(e.path) or e.path in p.licences for e in p.entries)
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
        warnings=[*p.warnings, *debug_warnings],
        seconds=time.perf_counter() - p.started,
        budget=options.budget,
        check=check,
        lock=p.lock,
        unused_by_check=unused,
        debug_symbols=debug,
        files=file_fates(p, written, check),
    )


def file_fates(p: Prepared, written: WrittenWheel, check: CheckSummary | None = None) -> list[FileFate]:
    """Every file of the input and of the output, in that order, with what happened to it and why (the per-file
    listing of the report: ``--html`` draws it)."""
    wheel, plan = p.wheel, p.plan
    after = {m.path: m for m in written.members}
    stubs = {s.stub_path: s.module for s in p.stubs}
    restored = set(check.restored) if check is not None else set()
    signatures = {f"{wheel.dist_info}/{name}" for name in SIGNATURE_FILES}
    record = f"{wheel.dist_info}/RECORD"

    def location(path: str) -> str:
        scheme, rel = wheel.location(path)
        return rel if scheme in _SITE_SCHEMES else f"<{scheme}>/{rel}"

    def category(path: str) -> str:
        return p.categories.get(path, Category.METADATA).value

    fates: list[FileFate] = []
    for entry in wheel.entries:
        path = entry.path
        out = after.get(path)
        rule = ""
        strip = p.strip_results.get(path)
        if path in plan.remove:
            reason = plan.remove[path]
            fate, rule = removal_fate(reason)
        elif path in stubs:
            fate, reason = Fate.STUB, f"stub for {stubs[path]}: raises ImportError naming slimwheel if used"
        elif out is None and path in signatures:
            fate, reason = Fate.METADATA, "a signature over the old RECORD: invalid after any change, dropped"
        elif out is None:
            fate, reason = Fate.REWRITTEN, "replaced by its bytecode (--bytecode-only)"
        elif strip is not None and strip.status is StripStatus.STRIPPED:
            fate, reason = Fate.STRIPPED, strip.reason
        elif path in plan.kept:
            fate, reason = Fate.KEPT_FOR_SAFETY, plan.kept[path]
        elif path == record:
            fate, reason = Fate.METADATA, "rewritten: lists the output's files"
        elif path in restored:
            fate, reason = Fate.KEPT, "kept as it was: its rewrite failed the check"
        elif out.size != entry.size and wheel.is_metadata(path):
            fate, reason = Fate.METADATA, "rewritten (entry points or tags)"
        elif out.size != entry.size:
            fate, reason = Fate.REWRITTEN, "rewritten (--minify)"
        else:
            fate, reason = Fate.KEPT, ""
        fates.append(
            FileFate(
                path,
                location(path),
                category(path),
                fate,
                reason,
                entry.size,
                out.size if out is not None else 0,
                wheel.compressed_sizes.get(path, 0),
                out.compressed_size if out is not None else 0,
                out is not None,
                rule,
            )
        )
    before = set(wheel.by_path)
    for m in written.members:
        if m.path in before:
            continue
        if m.path in stubs:
            fate, reason = Fate.STUB, f"stub for {stubs[m.path]}: raises ImportError naming slimwheel if used"
        elif m.path.endswith(".pyc"):
            fate, reason = Fate.ADDED, "bytecode written by --bytecode-only"
        else:
            fate, reason = Fate.ADDED, "added by slimwheel"
        fates.append(
            FileFate(m.path, location(m.path), category(m.path), fate, reason, 0, m.size, 0, m.compressed_size, True)
        )
    return fates
