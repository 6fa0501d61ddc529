"""recipes/ai-edge-litert.toml, the LiteRT deploy set: it loads for its three platforms with a budget each, its
committed locks (recipes/locks/ai-edge-litert/) cover every pinned distribution of the closure, and replaying them
with no check run on the real wheels of linux_x86_64, linux_aarch64 and win_amd64 maps every removal whose file the
wheel has, writes valid wheels within the platform's budget and keeps every licence file. On linux_x86_64 the
replayed set, installed by pip from the written wheels alone, passes the recipe's check (checks/litert_mlp.py).

The wheels are the pinned ones of :mod:`wheelcache` (downloaded once into the tests' cache): one that can't be had
skips a test on a developer's machine and fails it when ``CI`` is set, never a skip there. The locks are replayed
with slimwheel's own API (``slimwheel.shrink.run``), as ``slimwheel build`` replays them on a platform that can't
run the check; this module must not know what the locks remove, nor the sizes they reach: budgets come from the
recipe, expectations from the wheels themselves.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import wheelcache
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename
from wheelcache import DownloadFailed, RealWheel

from slimwheel.build import shrink_options_of
from slimwheel.licences import is_licence_path
from slimwheel.lock import locks_for_wheels, read_lock
from slimwheel.options import Replay
from slimwheel.recipe import PlatformRecipe, RequirementSet, load_recipe
from slimwheel.report import WheelReport
from slimwheel.shrink import run

REPO = Path(__file__).resolve().parent.parent
RECIPE = REPO / "recipes" / "ai-edge-litert.toml"
PLATFORMS = ("linux_x86_64", "linux_aarch64", "win_amd64")
MB = 1_000_000

PURE = (
    wheelcache.LITERT_BACKPORTS_STRENUM,
    wheelcache.LITERT_FLATBUFFERS,
    wheelcache.LITERT_TQDM,
    wheelcache.LITERT_TYPING_EXTENSIONS,
)
# The wheels pip resolves for each platform from the recipe's pinned closure (test_the_test_wheels_are_the_pins).
WHEELS: dict[str, tuple[RealWheel, ...]] = {
    "linux_x86_64": (
        wheelcache.LITERT_LINUX,
        wheelcache.NUMPY_LINUX,
        wheelcache.LITERT_ML_DTYPES_LINUX,
        wheelcache.LITERT_PROTOBUF_LINUX,
        *PURE,
    ),
    "linux_aarch64": (
        wheelcache.LITERT_AARCH64,
        wheelcache.NUMPY_AARCH64,
        wheelcache.LITERT_ML_DTYPES_AARCH64,
        wheelcache.LITERT_PROTOBUF_AARCH64,
        *PURE,
    ),
    "win_amd64": (
        wheelcache.LITERT_WIN64,
        wheelcache.NUMPY_WIN64,
        wheelcache.LITERT_ML_DTYPES_WIN64,
        wheelcache.LITERT_PROTOBUF_WIN64,
        *PURE,
    ),
}


def pins(pr: PlatformRecipe) -> dict[str, str]:
    """The recipe's requirements as {canonical name: pinned version} (each must be ``==X``)."""
    assert isinstance(pr.package, RequirementSet)
    pinned: dict[str, str] = {}
    for requirement in map(Requirement, pr.package.requirements):
        (spec,) = requirement.specifier
        assert spec.operator == "==", requirement
        pinned[canonicalize_name(requirement.name)] = spec.version
    return pinned


def names_in(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        return archive.namelist()


def licences_in(wheel: Path) -> set[str]:
    return {name for name in names_in(wheel) if is_licence_path(name)}


# ----------------------------------------------------------------------------------------------- the recipe


def test_the_recipe_loads_for_its_three_platforms() -> None:
    recipe = load_recipe(RECIPE)
    assert tuple(recipe.platforms) == PLATFORMS
    budgets = {}
    for platform in PLATFORMS:
        pr = recipe.for_platform(platform)  # raises if the check script is missing
        assert pr.python_version == "3.11" and pr.same_output
        assert [script.name for script in pr.check_scripts] == ["litert_mlp.py"]
        assert all(script.is_file() for script in pr.check_scripts)
        assert pr.check_scripts[0].with_name("tflite_mlp.py").is_file()  # what litert_mlp.py runs
        assert pins(pr)["ai-edge-litert"] == "2.3.0"
        assert pr.max_size is not None
        budgets[platform] = pr.max_size
        # one committed lock per pinned distribution, learned on the pinned version, with the recipe's check
        assert pr.lock is not None and pr.lock.is_dir()
        locks = {read_lock(f).wheel.name: read_lock(f) for f in sorted(pr.lock.glob("*.lock"))}
        assert {name: lock.wheel.version for name, lock in locks.items()} == pins(pr)
        assert len({lock.check for lock in locks.values()}) == 1
    assert len(set(budgets.values())) == 3, budgets  # a budget measured for each platform


@pytest.mark.parametrize("platform", PLATFORMS)
def test_the_test_wheels_are_the_pins(platform: str) -> None:
    pr = load_recipe(RECIPE).for_platform(platform)
    assert {canonicalize_name(w.project): w.version for w in WHEELS[platform]} == pins(pr)


# ------------------------------------------------------------------------------------------ replaying the locks


@dataclass(frozen=True)
class Replayed:
    pr: PlatformRecipe
    inputs: list[Path]
    reports: list[WheelReport]
    output_dir: Path


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Replayed]:
    """The recipe's committed locks replayed (no check run) on one platform's real wheels, once per platform."""
    done: dict[str, Replayed] = {}

    def get(platform: str) -> Replayed:
        if platform not in done:
            try:
                inputs = [wheelcache.fetch(spec) for spec in WHEELS[platform]]
            except DownloadFailed as exc:
                pytest.skip(str(exc))
            pr = load_recipe(RECIPE).for_platform(platform)
            assert pr.lock is not None
            locks = locks_for_wheels(inputs, [pr.lock])
            for wheel, (lock, _) in zip(inputs, locks, strict=True):
                name, version, _, _ = parse_wheel_filename(wheel.name)
                assert (lock.wheel.name, lock.wheel.version) == (str(name), str(version)), wheel.name
            out = tmp_path_factory.mktemp(f"litert-{platform}")
            reports = run(inputs, out, shrink_options_of(pr, None), Replay(tuple(locks)))
            done[platform] = Replayed(pr, inputs, reports, out)
        return done[platform]

    return get


@pytest.mark.realwheel
@pytest.mark.slow
@pytest.mark.parametrize("platform", PLATFORMS)
def test_the_locks_replay_within_budget(
    platform: str,
    replayed: Callable[[str], Replayed],
    tmp_path: Path,
    record_property: Callable[[str, object], None],
) -> None:
    result = replayed(platform)
    budget = result.pr.max_size
    assert budget is not None and len(result.reports) == len(result.inputs) == 8
    mapped = total = 0
    for wheel, report in zip(result.inputs, result.reports, strict=True):
        lock = report.lock
        assert lock is not None and lock.action == "replayed", wheel.name
        assert report.check is None  # no check run
        mapped, total = mapped + lock.mapped, total + lock.total
        # Every removal of the lock whose file this wheel has was mapped: what didn't map names files it lacks
        # (x86-64-only files of ai-edge-litert on the other platforms), never an ambiguity left in the wheel.
        assert not set(lock.unmapped) & set(names_in(wheel)), (wheel.name, lock.unmapped)
        # Measured: 100% everywhere but ai-edge-litert off x86-64, 83/90 (its 7 x86-64-only files).
        name = parse_wheel_filename(wheel.name)[0]
        least = 83 / 90 if name == "ai-edge-litert" and platform != "linux_x86_64" else 1.0
        assert lock.coverage >= least, (wheel.name, lock.coverage, lock.unmapped)
        assert report.output is not None
        output = Path(report.output)
        assert not report.over_budget and output.stat().st_size <= budget, (output.name, budget)
        assert licences_in(output) == licences_in(wheel), output.name  # every licence file kept
        unpacked = subprocess.run(
            [sys.executable, "-m", "wheel", "unpack", "-d", str(tmp_path / output.name), str(output)],
            capture_output=True,
            text=True,
        )
        assert unpacked.returncode == 0, (output.name, unpacked.stderr)
    assert mapped > 0
    before = sum(r.before.archive for r in result.reports)
    after = sum(r.after.archive for r in result.reports)
    assert after < before
    record_property(
        "slimwheel-numbers",
        f"recipe ai-edge-litert (lock replay) {platform}: {before / MB:.1f} -> {after / MB:.1f} MB, "
        f"{mapped}/{total} removals mapped, biggest wheel {max(r.after.archive for r in result.reports) / MB:.2f} MB "
        f"(budget {budget / MB:.1f} MB)",
    )


@pytest.mark.realwheel
@pytest.mark.slow
def test_the_replayed_set_installed_by_pip_passes_the_check(
    replayed: Callable[[str], Replayed], tmp_path: Path
) -> None:
    """linux_x86_64: pip installs the set from the written wheels alone, and the recipe's check passes on it."""
    result = replayed("linux_x86_64")
    package = result.pr.package
    assert isinstance(package, RequirementSet)
    target = tmp_path / "site"
    env = {key: value for key, value in os.environ.items() if not key.startswith("PIP_")}
    install = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--isolated",  # no pip.conf or PIP_* settings: the written wheels and nothing else
            "install",
            "--quiet",
            "--no-index",
            "--find-links",
            str(result.output_dir),
            "--target",
            str(target),
            *package.requirements,
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    assert install.returncode == 0, install.stderr
    (script,) = result.pr.check_scripts
    # The check, then where LiteRT and numpy were imported from: the install, not this interpreter's packages.
    probe = (
        "import runpy, sys\n"
        f"runpy.run_path({str(script)!r}, run_name='__main__')\n"
        "import ai_edge_litert, numpy\n"
        "print(ai_edge_litert.__file__, numpy.__file__, file=sys.stderr)\n"
    )
    checked = subprocess.run(
        [sys.executable, "-s", "-c", probe],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(target), "PYTHONNOUSERSITE": "1"},
        timeout=120,
    )
    assert checked.returncode == 0, checked.stderr[-3000:]
    assert checked.stdout.startswith("tflite model output "), checked.stdout
    imported_from = checked.stderr.strip().splitlines()[-1].split()
    assert all(Path(path).is_relative_to(target) for path in imported_from), imported_from
