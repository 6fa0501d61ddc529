"""Recipes → slim wheels for each platform: fetch or build the wheel, shrink it, hold it to its budget.

For each recipe, the platforms whose wheels can run here go first: there the check runs (trial deletion) and
the learned result is saved to the recipe's lock. The other platforms (Windows on a Linux machine) replay that
lock, mapped onto their own file names, on top of the rules — never guessing: what does not map is kept, and
the report says so. Without a check, or without a lock for a platform that can't run here, only the rules apply.

Where the check runs and the lock is current, the lock is replayed with no check run only on the very wheel file it
was learned on (same sha256). On another build of the same version (a wheel rebuilt from source, a re-upload) the
result is checked once ("lock-verified"); if that run fails, the check learns again and the lock is saved anew
("relearned"). Checks never run on Windows (:func:`slimwheel.sandbox.checks_run_here`): there every platform
replays the lock.

A recipe that names ``requirements`` builds a deploy set: pip resolves the closure for each platform
(:func:`slimwheel.fetch.download_closure`, into ``CACHE/wheels/sets``) and all its wheels are shrunk in one
:func:`slimwheel.shrink.run`. The recipe's lock is then a directory with one ``<project>.lock`` per distribution
(:func:`slimwheel.lock.lock_paths_for`, :func:`~slimwheel.lock.locks_for_wheels`). Where the check runs, the set
learns together (and saves every lock) unless every distribution has a current lock of its version, which is then
replayed (verified, or relearned, as above, when a wheel is another build than the lock's). Elsewhere each
distribution replays its own lock, and one with no lock of its version gets the rules only (a replay never
guesses; the note names them). Each platform's wheels are pinned with their sha256 in
``requirements-RECIPE-PLATFORM.txt`` in the output directory, written once every platform of the recipe is done
(so that a pure wheel two platforms share is pinned as it was finally written; if a later platform wrote it again
with other bytes, the build whose pins that breaks fails and names it).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from packaging.utils import parse_wheel_filename

from .check import checks_fingerprint, checks_run_here
from .emulator import emulated_architecture, emulated_by
from .emulator import find as find_emulator
from .errors import SlimwheelError, VerifyFailed
from .fetch import Target, download_closure, obtain
from .lock import Lock, WheelIdentity, lock_paths_for, locks_for_wheels, read_lock
from .options import CheckOptions, Learn, Replay, RulesOnly, ShrinkOptions, check_options, default_cache_dir
from .recipe import PlatformRecipe, Recipe, RequirementSet, SourceBuild
from .report import WheelReport
from .shrink import run
from .tags import parse_python_version, pip_platforms, wheel_runs_here
from .trial import TrialEvent
from .wheelhouse import write_requirements


@dataclass(frozen=True)
class BuildOptions:
    output_dir: Path
    platforms: tuple[str, ...] | None = None  # None: every platform each recipe lists
    python_version: str | None = None  # None: each recipe's own
    cache_dir: Path | None = None  # downloads, builds, check environments (default: slimwheel's cache)
    relearn: bool = False  # run the check even when a lock for this version exists
    verify: bool = False  # after replaying a lock on a platform that runs here, run the check once
    jobs: int | None = None


@dataclass
class PlatformBuild:
    """The outcome for one recipe on one platform: its wheel's report, or a deploy set's, one per distribution."""

    recipe: str
    platform: str
    mode: str  # "check", "lock", "lock-verified", "relearned", "rules" or "failed"
    budget: int | None  # of each wheel
    report: WheelReport | None = None  # the one wheel of a recipe that names a package
    note: str = ""
    error: str | None = None
    distributions: list[WheelReport] = field(default_factory=list)  # a deploy set's wheels, sorted by file name
    requirements_file: Path | None = None  # a deploy set's wheels pinned with their hashes

    @property
    def reports(self) -> list[WheelReport]:
        """Every wheel written: the set's distributions, or the one wheel."""
        if self.distributions:
            return list(self.distributions)
        return [self.report] if self.report is not None else []

    @property
    def over_budget(self) -> bool:
        return any(r.over_budget for r in self.reports)


Progress = Callable[[str], None]


def build(recipes: Sequence[Recipe], options: BuildOptions, progress: Progress | None = None) -> list[PlatformBuild]:
    """Build every recipe for its platforms (or ``options.platforms``); failures are reported, not raised."""
    cache = options.cache_dir or default_cache_dir()
    results: list[PlatformBuild] = []
    for recipe in recipes:
        fetched: list[tuple[PlatformRecipe, list[Path], str | None]] = []
        for platform in options.platforms or recipe.platforms:
            try:
                pr = recipe.for_platform(platform, options.python_version)
            except SlimwheelError as exc:
                results.append(PlatformBuild(recipe.name, platform, "failed", None, error=exc.message))
                continue
            if progress:
                progress(f"{recipe.name} [{pr.platform}]: getting the {'wheels' if pr.is_set else 'wheel'}")
            try:
                fetched.append((pr, _wheels_for(pr, cache), None))
            except SlimwheelError as exc:
                fetched.append((pr, [], exc.message))
        # Platforms that run here first: they learn the lock the others replay.
        fetched.sort(key=lambda f: not (f[1] and all(wheel_runs_here(w) for w in f[1])))
        sets: list[tuple[PlatformBuild, dict[Path, str | None]]] = []
        for pr, wheels, error in fetched:
            if not wheels:
                results.append(PlatformBuild(recipe.name, pr.platform, "failed", pr.max_size, error=error))
                continue
            if progress:
                shown = f"{len(wheels)} wheels" if pr.is_set else wheels[0].name
                progress(f"{recipe.name} [{pr.platform}]: shrinking {shown}")
            try:
                if pr.is_set:
                    result = _build_set(pr, wheels, options, cache, progress)
                    sets.append((result, _digests(result.distributions)))
                else:
                    result = _build_one(pr, wheels[0], options, cache, progress)
            except SlimwheelError as exc:
                result = PlatformBuild(recipe.name, pr.platform, "failed", pr.max_size, error=exc.message)
            results.append(result)
        for result, written in sets:
            _pin(result, written, options.output_dir)
    return results


def _wheels_for(pr: PlatformRecipe, cache: Path) -> list[Path]:
    """The recipe's wheel, or a deploy set's: the closure of its requirements for the platform, resolved by pip."""
    if not isinstance(pr.package, RequirementSet):
        return [_wheel_for(pr, cache)]
    major, minor = parse_python_version(pr.python_version)
    target = Target(
        platforms=pip_platforms(pr.platform, pr.glibc),
        python_version=f"{major}.{minor}",
        implementation="cp",
        abis=(f"cp{major}{minor}",),  # pip adds abi3 and none (pure wheels) itself, as for a single wheel
    )
    return download_closure(pr.package.requirements, [], cache / "wheels" / "sets", target)


def _wheel_for(pr: PlatformRecipe, cache: Path) -> Path:
    """The recipe's wheel: downloaded (pip reuses one already in the folder), taken as it is, or built from source
    — once per (source, environment, config settings, Python): a later build reuses the wheel built before."""
    package = pr.package
    if not isinstance(package, SourceBuild):
        return obtain(pr, cache / "wheels" / pr.platform)
    key = hashlib.sha256()
    for part in (package.requirement or "", pr.python_version, sys.version, json.dumps(sorted(package.env.items()))):
        key.update(part.encode() + b"\0")
    if package.cross_file is not None:  # a cross build: the target and the cross file's bytes
        key.update(pr.platform.encode() + b"\0" + package.cross_file.read_bytes())
    key.update(json.dumps(sorted((k, v) for k, v in package.config_settings.items()), default=list).encode())
    if package.sdist is not None:
        source = package.sdist
        if source.is_file():
            with source.open("rb") as handle:
                key.update(hashlib.file_digest(handle, "sha256").digest())
        else:  # a source tree: not cached (its files can change under the same name)
            return obtain(pr, cache / "builds" / "uncached", cache_dir=cache)
    folder = cache / "builds" / key.hexdigest()[:20]
    built = sorted(folder.glob("*.whl")) if folder.is_dir() else []
    if len(built) == 1 and zipfile.is_zipfile(built[0]):
        return built[0]
    for stale in built:  # several, or one cut short by a crash: build again
        stale.unlink()
    return obtain(pr, folder, cache_dir=cache)


def _build_one(
    pr: PlatformRecipe, wheel: Path, options: BuildOptions, cache: Path, progress: Progress | None
) -> PlatformBuild:
    checker = _where_checks_run(pr, [wheel], cache)
    return _noted_emulation(_build_wheel(pr, wheel, options, cache, progress, checker), checker)


def _noted_emulation(result: PlatformBuild, checker: tuple[bool, Path | None]) -> PlatformBuild:
    """The build's note says when its check ran under emulation."""
    can_check, python = checker
    if can_check and python is not None and result.mode in ("check", "lock-verified", "relearned"):
        where = f"checked under emulation ({emulated_by(python) or 'qemu-user'})"
        result.note = f"{result.note}; {where}" if result.note else where
    return result


def _build_wheel(
    pr: PlatformRecipe,
    wheel: Path,
    options: BuildOptions,
    cache: Path,
    progress: Progress | None,
    checker: tuple[bool, Path | None],
) -> PlatformBuild:
    shrink_options = shrink_options_of(pr, options.jobs)
    out = options.output_dir
    has_check = pr.has_check
    can_check, python = checker
    lock = _usable_lock(pr, wheel)
    checks = check_options_of(pr, cache, options.jobs, python)
    # A lock learned with another check (the recipe's scripts changed) is stale: relearn it where the check runs.
    stale = lock is not None and has_check and lock.check != checks_fingerprint(checks.trial.checks)
    result = PlatformBuild(pr.recipe, pr.platform, "rules", pr.max_size)
    if can_check and (options.relearn or lock is None or stale):
        result.mode, (result.report,) = "check", _learn(pr, [wheel], options, shrink_options, checks, progress)
        if pr.lock is None:
            result.note = "no lock in the recipe: not saved"
    elif lock is not None and pr.lock is not None:
        if can_check and WheelIdentity.of(wheel).sha256 != lock.wheel.sha256:
            return _verify_or_relearn(result, pr, [wheel], [(lock, pr.lock)], options, shrink_options, checks, progress)
        verify = checks if options.verify and can_check else None
        (report,) = run([wheel], out, shrink_options, Replay(((lock, pr.lock),), verify))
        result.mode, result.report = ("lock-verified" if verify else "lock"), report
        if has_check and not can_check:
            result.note = "can't run here"
        if stale:
            result.note = "the lock was learned with another check: build a platform that runs it to relearn"
    else:
        (result.report,) = run([wheel], out, shrink_options, RulesOnly())
        if has_check and not can_check:
            result.note = "can't run here, no lock yet"
        elif not has_check:
            result.note = "no check in the recipe"
    return result


def _learn(
    pr: PlatformRecipe,
    wheels: list[Path],
    options: BuildOptions,
    shrink_options: ShrinkOptions,
    checks: CheckOptions,
    progress: Progress | None,
    *,
    save: bool = True,
) -> list[WheelReport]:
    """Trial deletion against the recipe's check, all the wheels together; the result is saved to the recipe's lock
    (if it names one, and ``save``): the lock file, or a set's lock directory, one ``<project>.lock`` per
    distribution."""

    def on_event(event: TrialEvent) -> None:
        if progress:
            progress(f"{pr.recipe} [{pr.platform}]: {event.phase}, {event.runs} check runs")

    saves: tuple[Path | None, ...] = (pr.lock,)
    if not save:
        saves = ()
    elif pr.is_set:
        saves = tuple(lock_paths_for(wheels, f"{pr.lock}{os.sep}")) if pr.lock is not None else ()
    return run(wheels, options.output_dir, shrink_options, Learn(checks, saves), on_event)


def _verify_or_relearn(
    result: PlatformBuild,
    pr: PlatformRecipe,
    wheels: list[Path],
    locks: list[tuple[Lock, Path]],
    options: BuildOptions,
    shrink_options: ShrinkOptions,
    checks: CheckOptions,
    progress: Progress | None,
) -> PlatformBuild:
    """A lock learned on another binary (a rebuilt wheel of the same version, or the wheel of another architecture
    whose check runs here under emulation) is not trusted blindly where the check runs: replay it and run the check
    once; if that fails, learn again (and save the new lock — except under emulation: the lock stays the one
    learned natively, which the other platforms replay). A set's locks are replayed and checked together, and
    relearned together."""
    emulated = checks.python is not None and emulated_by(checks.python) is not None
    other, learned_on = next(
        (w, lock.wheel)
        for w, (lock, _) in zip(wheels, locks, strict=True)
        if WheelIdentity.of(w).sha256 != lock.wheel.sha256
    )
    origin = f"another build of {_this(pr, other)}"
    if learned_on.tag != WheelIdentity.of(other).tag:  # the wheel of another platform: name it
        origin = learned_on.filename
    if progress:
        progress(f"{pr.recipe} [{pr.platform}]: the lock was learned on {origin}: verifying it")
    try:
        reports = run(wheels, options.output_dir, shrink_options, Replay(tuple(locks), checks))
        result.mode = "lock-verified"
        result.note = f"learned on {origin}: the check passed on the result"
    except VerifyFailed:
        reports = _learn(pr, wheels, options, shrink_options, checks, progress, save=not emulated)
        result.mode = "relearned"
        done = "learned for this platform (the lock is not replaced)" if emulated else "relearned and saved"
        result.note = f"the lock, learned on {origin}, failed the check: {done}"
    if pr.is_set:
        result.distributions = reports
    else:
        (result.report,) = reports
    return result


def _this(pr: PlatformRecipe, wheel: Path) -> str:
    return f"{parse_wheel_filename(wheel.name)[0]}'s wheel" if pr.is_set else "this wheel"


def _usable_lock(pr: PlatformRecipe, wheel: Path) -> Lock | None:
    """The recipe's lock if it exists and was learned on this project version (else it is relearned or unused)."""
    if pr.lock is None or not pr.lock.exists():
        return None
    lock = read_lock(pr.lock)
    name, version, _, _ = parse_wheel_filename(wheel.name)
    return lock if lock.wheel.name == name and lock.wheel.version == str(version) else None


# ------------------------------------------------------------------------------------------------- deploy sets


def _build_set(
    pr: PlatformRecipe, wheels: list[Path], options: BuildOptions, cache: Path, progress: Progress | None
) -> PlatformBuild:
    checker = _where_checks_run(pr, wheels, cache)
    return _noted_emulation(_build_set_here(pr, wheels, options, cache, progress, checker), checker)


def _build_set_here(
    pr: PlatformRecipe,
    wheels: list[Path],
    options: BuildOptions,
    cache: Path,
    progress: Progress | None,
    checker: tuple[bool, Path | None],
) -> PlatformBuild:
    """A deploy set's wheels shrunk together: learned where the check runs (every lock saved), each distribution's
    lock replayed elsewhere (rules only for one without a lock of its version), the rules only without either."""
    shrink_options = shrink_options_of(pr, options.jobs)
    out = options.output_dir
    has_check = pr.has_check
    can_check, python = checker
    checks = check_options_of(pr, cache, options.jobs, python)
    locks = _set_locks(pr, wheels)
    unlocked = [w for w, lock in zip(wheels, locks, strict=True) if lock is None]
    found = [lock for lock in locks if lock is not None]
    stale = has_check and any(lock.check != checks_fingerprint(checks.trial.checks) for lock, _ in found)
    result = PlatformBuild(pr.recipe, pr.platform, "rules", pr.max_size)
    if can_check and (options.relearn or unlocked or stale):
        result.mode, result.distributions = "check", _learn(pr, wheels, options, shrink_options, checks, progress)
        if pr.lock is None:
            result.note = "no lock in the recipe: not saved"
    elif can_check:  # every distribution has a current lock of its version
        if any(WheelIdentity.of(w).sha256 != lock.wheel.sha256 for w, (lock, _) in zip(wheels, found, strict=True)):
            return _verify_or_relearn(result, pr, wheels, found, options, shrink_options, checks, progress)
        verify = checks if options.verify else None
        result.distributions = run(wheels, out, shrink_options, Replay(tuple(found), verify))
        result.mode = "lock-verified" if verify else "lock"
    elif found:
        replayed = iter(run([w for w in wheels if w not in unlocked], out, shrink_options, Replay(tuple(found))))
        ruled = iter(run(unlocked, out, shrink_options, RulesOnly()) if unlocked else [])
        result.distributions = [next(ruled) if w in unlocked else next(replayed) for w in wheels]
        result.mode = "lock"
        notes = ["can't run here"] if has_check else []
        if unlocked:
            notes.append(f"no lock for {_names(unlocked)}: rules only for {'it' if len(unlocked) == 1 else 'them'}")
        if stale:
            notes.append("the locks were learned with another check: build a platform that runs it to relearn")
        result.note = "; ".join(notes)
    else:
        result.distributions = run(wheels, out, shrink_options, RulesOnly())
        result.note = "can't run here, no lock yet" if has_check else "no check in the recipe"
    return result


def _set_locks(pr: PlatformRecipe, wheels: Sequence[Path]) -> list[tuple[Lock, Path] | None]:
    """Each wheel's lock in the recipe's lock directory, if it has one learned on its project version."""
    if pr.lock is None or not pr.lock.is_dir():
        return [None] * len(wheels)
    named = {read_lock(f).wheel.name for f in pr.lock.glob("*.lock")}
    versions = {w: (str(name), str(version)) for w in wheels for name, version, _, _ in [parse_wheel_filename(w.name)]}
    locked = [w for w in wheels if versions[w][0] in named]
    chosen = dict(zip(locked, locks_for_wheels(locked, [pr.lock]), strict=True))
    return [
        chosen[w] if w in chosen and (chosen[w][0].wheel.name, chosen[w][0].wheel.version) == versions[w] else None
        for w in wheels
    ]


def _names(wheels: Sequence[Path]) -> str:
    return ", ".join(parse_wheel_filename(w.name)[0] for w in wheels)


def _digests(reports: Sequence[WheelReport]) -> dict[Path, str | None]:
    """The sha256 of each wheel written, as it was written."""
    return {Path(r.output): _digest_of(Path(r.output)) for r in reports if r.output is not None}


def _pin(result: PlatformBuild, written: dict[Path, str | None], output_dir: Path) -> None:
    """``requirements-RECIPE-PLATFORM.txt``: the set's wheels pinned with their hashes, once every platform of the
    recipe is written; a wheel another platform wrote again with other bytes fails this platform's build."""
    if result.error is not None or not written:
        return
    changed = [path for path, digest in written.items() if _digest_of(path) != digest]
    if changed:
        result.mode = "failed"
        result.error = (
            f"{changed[0].name} was written again by another platform's build, with other bytes: build the "
            "platforms into separate output directories (-w)"
        )
        return
    name = f"requirements-{result.recipe}-{result.platform}.txt"
    try:
        result.requirements_file = write_requirements(list(written), output_dir, name)
    except SlimwheelError as exc:
        result.mode, result.error = "failed", exc.message


def _digest_of(path: Path) -> str | None:
    try:
        with open(path, "rb") as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest()
    except OSError:
        return None


# ----------------------------------------------------------------------------------------------------- options


def shrink_options_of(pr: PlatformRecipe, jobs: int | None) -> ShrinkOptions:
    return ShrinkOptions(
        rules=pr.rules,
        patterns=pr.patterns,
        strip=pr.strip,
        compress_level=pr.compress_level,
        jobs=jobs,
        budget=pr.max_size,
        minify=pr.minify,
        bytecode_only=pr.bytecode_only,
    )


def _where_checks_run(pr: PlatformRecipe, wheels: Sequence[Path], cache: Path) -> tuple[bool, Path | None]:
    """Whether the recipe's check can run on ``wheels`` here, and with which interpreter: None for the one
    slimwheel runs on, or the emulated CPython ``slimwheel emulator prepare`` made (under this cache) for their
    architecture, when they can't run natively. Never on Windows (:func:`checks_run_here`)."""
    if not pr.has_check or not checks_run_here():
        return False, None
    if all(wheel_runs_here(w) for w in wheels):
        return True, None
    architecture = emulated_architecture(pr.platform)
    python = find_emulator(architecture, pr.python_version, cache) if architecture else None
    return python is not None, python


def check_options_of(pr: PlatformRecipe, cache: Path, jobs: int | None, python: Path | None = None) -> CheckOptions:
    """The recipe's check; ``python``: the interpreter that runs it (an emulated one), None for this one's kind."""
    return check_options(
        python=python,
        scripts=pr.check_scripts,
        commands=pr.check_commands,
        same_output=pr.same_output,
        jobs=jobs,
        stubs=pr.stubs,
        requirements=pr.requirements,
        with_wheels=pr.with_wheels,
        cache_dir=cache,
    )
