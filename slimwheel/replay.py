"""Locks in the pipeline: what a shrink decided, saved as a lock; a lock replayed on a prepared wheel.

A lock file's format and its mapping across platform tags are :mod:`slimwheel.lock`'s; this module turns a
:class:`~slimwheel.prepared.Prepared` wheel into a lock (:func:`learned_lock`, :func:`saved`) and a lock into
removals and stubs on top of the rules (:func:`replayed`), with no check run. Licence and notice files are never
written as removed, and a replay keeps them even when the lock removes them (learned before they were protected).
Each function returns a new value; none changes the wheel it is given.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from . import __version__
from .binaries import StripStatus
from .contents import Entry
from .imports import package_inits
from .licences import KEPT_REASON
from .lock import Lock, StubRecord, WheelIdentity, write_lock
from .lockmap import map_lock
from .plan import Plan
from .prepared import Prepared, rewritten
from .report import LockSummary
from .stubs import stub_source


def learned_lock(p: Prepared, check: str, created_by: str) -> Lock:
    """What shrinking ``p`` decided, as a lock: removals with reasons, stubs, stripped files, everything else kept.
    A licence or notice file is never written as removed or stub-replaced (it is listed as kept)."""
    licences = p.licences
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


def saved(p: Prepared, path: Path, *, check: str) -> Prepared:
    """Write what shrinking ``p`` decided to the lock file ``path``; ``p`` with that said in its report."""
    lock = learned_lock(p, check, f"slimwheel {__version__}")
    write_lock(path, lock)
    removals = len(lock.removed) + sum(len(s.replaces) for s in lock.stubs)
    summary = LockSummary(file=str(path), action="saved", learned_on=p.path.name, mapped=removals, total=removals)
    return replace(p, lock=summary)


def replayed(p: Prepared, lock: Lock, lock_file: Path, *, verified: bool = False) -> Prepared:
    """``p`` with a lock (learned on this wheel, or on the same version for another platform tag) applied: its
    mapped removals and stubs on top of the rules; what did not map is kept and reported. No check runs.
    A lock learned on another build of the same wheel (same tag, other bytes) gets a warning, unless the result
    is ``verified`` by a check run afterwards."""
    identity = WheelIdentity.of(p.path)
    warnings = p.warnings
    if not verified and identity.tag == lock.wheel.tag and identity.sha256 != lock.wheel.sha256:
        warnings += (
            f"the lock {lock_file} was learned on another build of {identity.filename} (its sha256 differs): "
            "nothing proves the result works; add --verify with the check (--check/--check-cmd)",
        )
    mapped = map_lock(lock, identity, [e.path for e in p.wheel.entries])
    plan = p.plan.copy()
    stubbed = {stub.stub_path: stub_source(stub.module, package_name=p.wheel.name) for stub in mapped.stubs}
    licences_removed = _remove_mapped(p, plan, mapped.stubs, mapped.removed)
    _keep_package_inits(p, plan, stubbed)
    present = {e.path for e in p.entries}
    new = rewritten(
        p,
        plan,
        {path: source for path, source in stubbed.items() if path in present},
        [Entry(path, source, 0o644) for path, source in stubbed.items() if path not in present],
    )
    summary = LockSummary(
        file=str(lock_file),
        action="replayed",
        learned_on=lock.wheel.filename,
        mapped=mapped.mapped,
        total=mapped.total,
        unmapped=list(mapped.unmapped),
        unknown=[path for path in mapped.unknown if path not in plan.remove],  # the rules may remove them
        notes=[*mapped.notes, *_licence_note(licences_removed)],
    )
    stubs = tuple(replace(s, replaces=tuple(x for x in s.replaces if x not in p.licences)) for s in mapped.stubs)
    return replace(new, warnings=warnings, stubs=stubs, lock=summary)


def _remove_mapped(
    p: Prepared, plan: Plan, stubs: tuple[StubRecord, ...], removed: Mapping[str, str]
) -> dict[str, str]:
    """Add the lock's stub-replaced and removed files to ``plan`` (a copy of ``p.plan``); licence and notice files
    are kept instead, listed in ``plan.kept``. Returns those licence files and what the lock would have done."""
    by_path = p.wheel.by_path
    licences_removed: dict[str, str] = {}  # licence files the lock removes (learned before they were protected)
    for stub in stubs:
        for path in stub.replaces:
            if path in p.licences:
                licences_removed[path] = f"stubbed: {stub.module}"
            elif path != stub.stub_path and path in by_path and path not in plan.remove:
                plan.remove[path] = f"stubbed: {stub.module} (from the lock)"
    for path, reason in removed.items():
        if path in p.licences:
            licences_removed[path] = reason
        elif path in by_path and path not in plan.remove and not p.wheel.is_metadata(path):
            plan.remove[path] = f"{reason} (from the lock)"
    for path, reason in licences_removed.items():
        plan.kept[path] = f"{KEPT_REASON} (the lock removes it: {reason})"
    return licences_removed


def _keep_package_inits(p: Prepared, plan: Plan, stubbed: Mapping[str, bytes]) -> None:
    """Never fragile: a package that keeps a file keeps its ``__init__.py`` (else it turns namespace and "works")."""
    installed = {p.wheel.location(e.path)[1]: e.path for e in p.wheel.entries}
    kept_installed = [name for name, path in installed.items() if path not in plan.remove]
    present = {e.path for e in p.entries}
    for init in package_inits(kept_installed, installed):
        path = installed[init]
        if path in plan.remove and path in present and path not in stubbed:
            plan.kept[path] = (
                f"__init__.py of a package that keeps other files (the lock removed it: {plan.remove.pop(path)})"
            )


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
