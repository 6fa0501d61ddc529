"""A wheel read, planned and stripped: where every mode of the pipeline starts (wheel in → contents → plan → strip).

:func:`prepare` reads the wheel (:mod:`slimwheel.contents`), categorises its entries, plans the removals by rule
(:mod:`slimwheel.plan`) and strips the native files (:mod:`slimwheel.strip`). A :class:`Prepared` is a value: the
later stages (the trial, a lock replay) never change one, they make a new one with :func:`rewritten` or
:func:`dataclasses.replace`. What it holds on disk — the input archive, kept open, and a private temporary
directory with the extracted and stripped native files — goes with :meth:`Prepared.close`.

Memory: native files are extracted to that directory while the wheel is read (strip tools work on files);
everything else stays in the input archive and is inflated again when the writer reads it.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from .binaries import FileStripResult, StripLevel, detect_format
from .bytecode import retagged_filename, retagged_wheel_file
from .categories import Category, categorize_entries
from .contents import Entry, Wheel, read_wheel
from .errors import OutputError
from .licences import licence_paths
from .lock import StubRecord
from .options import ShrinkOptions
from .outputs import writable_directory
from .plan import Plan, make_plan, refresh_entry_points
from .records import SIGNATURE_FILES
from .report import LockSummary
from .strip import missing_tool_warnings, strip_entries


def output_path(wheel_path: Path, output_dir: Path) -> Path:
    """Where the slimmed wheel goes: the input's own file name inside ``output_dir``; never the input itself."""
    dest = output_dir / wheel_path.name
    if dest.exists() and dest.resolve() == wheel_path.resolve():
        raise OutputError(f"{wheel_path.name}: the output would overwrite the input; choose another -w directory")
    return dest


def prepare_output_dir(output_dir: Path) -> None:
    writable_directory(output_dir, "output directory")


@dataclass(frozen=True)
class Prepared:
    """A wheel read, planned and stripped: everything but the trial deletion or lock replay, and the writing."""

    path: Path
    dest: Path | None
    wheel: Wheel
    categories: Mapping[str, Category]
    plan: Plan
    entries: list[Entry]
    strip_results: Mapping[str, FileStripResult]
    warnings: tuple[str, ...]
    started: float
    licences: frozenset[str]  # archive paths of the licence and notice files: never removed
    stubs: tuple[StubRecord, ...] = ()  # stubs the trial or the lock put in
    lock: LockSummary | None = None
    workdir: tempfile.TemporaryDirectory[str] | None = field(default=None, repr=False, compare=False)

    def close(self) -> None:
        """Close the input wheel and delete the extracted and stripped files (again: a no-op)."""
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
    try:
        categories = categorize_entries(wheel)
        plan = make_plan(wheel, categories, options.rules, options.patterns)
        warnings = [*wheel.warnings, *plan.warnings]
        entries = _apply(wheel, plan, warnings)
        _discard_removed(wheel, plan, categories, keep_debug_files=options.debug_symbols is not None)
        entries, strip_results = strip_entries(entries, categories, options, Path(workdir.name))
        warnings.extend(missing_tool_warnings(strip_results))
    except BaseException:
        wheel.close()
        workdir.cleanup()
        raise
    return Prepared(
        wheel_path,
        dest,
        wheel,
        categories,
        plan,
        entries,
        strip_results,
        tuple(warnings),
        started,
        licence_paths(wheel),
        workdir=workdir,
    )


def rewritten(
    p: Prepared,
    plan: Plan,
    replaced: Mapping[str, bytes],
    added: list[Entry],
    superseded: Collection[str] = (),
) -> Prepared:
    """``p`` after more removals, given as ``plan`` (a copy of ``p.plan`` with them added): entry points refreshed,
    ``replaced`` contents (stubs, minified sources) written, ``added`` files (stubs of extension-only modules,
    bytecode) appended, ``superseded`` entries (sources whose bytecode is added) left out without being removals
    (a lock learned from the result keeps them: the bytecode is ``--bytecode-only``'s doing, not the check's)."""
    refresh_entry_points(p.wheel, plan)
    new_data = {**replaced, **plan.replaced}  # stubs, and entry_points.txt recomputed
    entries = [
        e.with_data(new_data[e.path]) if e.path in new_data else e
        for e in p.entries
        if e.path not in plan.remove and e.path not in superseded
    ]
    categories = {**p.categories, **{entry.path: Category.PYTHON for entry in added}}
    return replace(p, plan=plan, entries=entries + added, categories=categories)


def _looks_native(path: str, head: bytes) -> bool:
    """Whether a member is extracted to a file while the wheel is read: what may be a native binary."""
    return detect_format(head) is not None


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


def _discard_removed(
    wheel: Wheel, plan: Plan, categories: Mapping[str, Category], *, keep_debug_files: bool = False
) -> None:
    """Delete the extracted files of removed entries (their disk space is needed for stripping); with
    ``keep_debug_files`` (``--debug-symbols``), not those of debug files, which are copied aside when written."""
    for path in plan.remove:
        if keep_debug_files and categories.get(path) is Category.DEBUG_FILES:
            continue
        file = wheel.by_path[path].file
        if file is not None:
            file.unlink(missing_ok=True)


def retagged(p: Prepared, version: str) -> Prepared:
    """``p`` whose sources became bytecode for Python ``version`` (``"3.11"``): the wheel's tags say so (its
    file name, and the ``Tag:`` lines of its ``WHEEL`` file)."""
    wheel_file = f"{p.wheel.dist_info}/WHEEL"
    entries = [
        e.with_data(retagged_wheel_file(e.data.decode("utf-8"), version).encode("utf-8")) if e.path == wheel_file else e
        for e in p.entries
    ]
    dest = None if p.dest is None else p.dest.with_name(retagged_filename(p.dest.name, version))
    return replace(p, entries=entries, dest=dest)
