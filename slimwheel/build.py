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
"""

from __future__ import annotations

import hashlib
import json
import sys
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import parse_wheel_filename

from .check import checks_fingerprint, checks_run_here
from .errors import SlimwheelError, VerifyFailed
from .fetch import obtain
from .lock import Lock, WheelIdentity, read_lock
from .options import CheckOptions, Learn, Replay, RulesOnly, ShrinkOptions, check_options, default_cache_dir
from .recipe import PlatformRecipe, Recipe, SourceBuild
from .report import WheelReport
from .shrink import run
from .tags import wheel_runs_here
from .trial import TrialEvent


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
    """The outcome for one recipe on one platform."""

    recipe: str
    platform: str
    mode: str  # "check", "lock", "lock-verified", "relearned", "rules" or "failed"
    budget: int | None
    report: WheelReport | None = None
    note: str = ""
    error: str | None = None

    @property
    def over_budget(self) -> bool:
        return self.report is not None and self.report.over_budget


Progress = Callable[[str], None]


def build(recipes: Sequence[Recipe], options: BuildOptions, progress: Progress | None = None) -> list[PlatformBuild]:
    """Build every recipe for its platforms (or ``options.platforms``); failures are reported, not raised."""
    cache = options.cache_dir or default_cache_dir()
    results: list[PlatformBuild] = []
    for recipe in recipes:
        fetched: list[tuple[PlatformRecipe, Path | None, str | None]] = []
        for platform in options.platforms or recipe.platforms:
            try:
                pr = recipe.for_platform(platform, options.python_version)
            except SlimwheelError as exc:
                results.append(PlatformBuild(recipe.name, platform, "failed", None, error=exc.message))
                continue
            if progress:
                progress(f"{recipe.name} [{pr.platform}]: getting the wheel")
            try:
                fetched.append((pr, _wheel_for(pr, cache), None))
            except SlimwheelError as exc:
                fetched.append((pr, None, exc.message))
        # Platforms that run here first: they learn the lock the others replay.
        fetched.sort(key=lambda f: not (f[1] is not None and wheel_runs_here(f[1])))
        for pr, wheel, error in fetched:
            if wheel is None:
                results.append(PlatformBuild(recipe.name, pr.platform, "failed", pr.max_size, error=error))
                continue
            if progress:
                progress(f"{recipe.name} [{pr.platform}]: shrinking {wheel.name}")
            try:
                results.append(_build_one(pr, wheel, options, cache, progress))
            except SlimwheelError as exc:
                results.append(PlatformBuild(recipe.name, pr.platform, "failed", pr.max_size, error=exc.message))
    return results


def _wheel_for(pr: PlatformRecipe, cache: Path) -> Path:
    """The recipe's wheel: downloaded (pip reuses one already in the folder), taken as it is, or built from source
    — once per (source, environment, config settings, Python): a later build reuses the wheel built before."""
    package = pr.package
    if not isinstance(package, SourceBuild):
        return obtain(pr, cache / "wheels" / pr.platform)
    key = hashlib.sha256()
    for part in (package.requirement or "", pr.python_version, sys.version, json.dumps(sorted(package.env.items()))):
        key.update(part.encode() + b"\0")
    key.update(json.dumps(sorted((k, v) for k, v in package.config_settings.items()), default=list).encode())
    if package.sdist is not None:
        source = package.sdist
        if source.is_file():
            with source.open("rb") as handle:
                key.update(hashlib.file_digest(handle, "sha256").digest())
        else:  # a source tree: not cached (its files can change under the same name)
            return obtain(pr, cache / "builds" / "uncached")
    folder = cache / "builds" / key.hexdigest()[:20]
    built = sorted(folder.glob("*.whl")) if folder.is_dir() else []
    if len(built) == 1 and zipfile.is_zipfile(built[0]):
        return built[0]
    for stale in built:  # several, or one cut short by a crash: build again
        stale.unlink()
    return obtain(pr, folder)


def _build_one(
    pr: PlatformRecipe, wheel: Path, options: BuildOptions, cache: Path, progress: Progress | None
) -> PlatformBuild:
    shrink_options = shrink_options_of(pr, options.jobs)
    out = options.output_dir
    runs_here = wheel_runs_here(wheel)
    has_check = pr.has_check
    can_check = has_check and runs_here and checks_run_here()
    lock = _usable_lock(pr, wheel)
    checks = check_options_of(pr, cache, options.jobs)
    # A lock learned with another check (the recipe's scripts changed) is stale: relearn it where the check runs.
    stale = lock is not None and has_check and lock.check != checks_fingerprint(checks.trial.checks)
    result = PlatformBuild(pr.recipe, pr.platform, "rules", pr.max_size)
    if can_check and (options.relearn or lock is None or stale):
        result.mode, result.report = "check", _learn(pr, wheel, options, shrink_options, checks, progress)
        if pr.lock is None:
            result.note = "no lock in the recipe: not saved"
    elif lock is not None and pr.lock is not None:
        if can_check and WheelIdentity.of(wheel).sha256 != lock.wheel.sha256:
            return _verify_or_relearn(result, pr, wheel, (lock, pr.lock), options, shrink_options, checks, progress)
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
    wheel: Path,
    options: BuildOptions,
    shrink_options: ShrinkOptions,
    checks: CheckOptions,
    progress: Progress | None,
) -> WheelReport:
    """Trial deletion against the recipe's check; the result is saved to the recipe's lock (if it names one)."""

    def on_event(event: TrialEvent) -> None:
        if progress:
            progress(f"{pr.recipe} [{pr.platform}]: {event.phase}, {event.runs} check runs")

    (report,) = run([wheel], options.output_dir, shrink_options, Learn(checks, (pr.lock,)), on_event)
    return report


def _verify_or_relearn(
    result: PlatformBuild,
    pr: PlatformRecipe,
    wheel: Path,
    lock: tuple[Lock, Path],
    options: BuildOptions,
    shrink_options: ShrinkOptions,
    checks: CheckOptions,
    progress: Progress | None,
) -> PlatformBuild:
    """A lock learned on another binary (a rebuilt wheel of the same version) is not trusted blindly where the
    check runs: replay it and run the check once; if that fails, learn again (and save the new lock)."""
    if progress:
        progress(f"{pr.recipe} [{pr.platform}]: the lock was learned on another build of {wheel.name}: verifying it")
    try:
        (report,) = run([wheel], options.output_dir, shrink_options, Replay((lock,), checks))
    except VerifyFailed:
        result.mode, result.report = "relearned", _learn(pr, wheel, options, shrink_options, checks, progress)
        result.note = "the lock, learned on another build of this wheel, failed the check: relearned and saved"
        return result
    result.mode, result.report = "lock-verified", report
    result.note = "learned on another build of this wheel: the check passed on the result"
    return result


def _usable_lock(pr: PlatformRecipe, wheel: Path) -> Lock | None:
    """The recipe's lock if it exists and was learned on this project version (else it is relearned or unused)."""
    if pr.lock is None or not pr.lock.exists():
        return None
    lock = read_lock(pr.lock)
    name, version, _, _ = parse_wheel_filename(wheel.name)
    return lock if lock.wheel.name == name and lock.wheel.version == str(version) else None


def shrink_options_of(pr: PlatformRecipe, jobs: int | None) -> ShrinkOptions:
    return ShrinkOptions(
        rules=pr.rules,
        patterns=pr.patterns,
        strip=pr.strip,
        compress_level=pr.compress_level,
        jobs=jobs,
        budget=pr.max_size,
    )


def check_options_of(pr: PlatformRecipe, cache: Path, jobs: int | None) -> CheckOptions:
    return check_options(
        scripts=pr.check_scripts,
        commands=pr.check_commands,
        same_output=pr.same_output,
        jobs=jobs,
        stubs=pr.stubs,
        requirements=pr.requirements,
        with_wheels=pr.with_wheels,
        cache_dir=cache,
    )
