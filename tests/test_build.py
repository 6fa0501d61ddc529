"""`slimwheel build` end to end on a recipe the test writes: learn the lock where the check runs, replay it on a
platform that can't run here, hold budgets (exit 3), report failures per platform (exit 2), JSON; a lock replayed
where the check runs is verified by one check run when the wheel is another build than the one it was learned on,
and relearned when that run fails."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from synth import SynthWheel, native_tag

from slimwheel.build import BuildOptions, PlatformBuild, build
from slimwheel.lock import read_lock
from slimwheel.recipe import load_recipe

PACKAGE = {
    "calc/__init__.py": b"from . import core\n",
    "calc/core.py": b"def add(a, b):\n    return a + b\n",
    "calc/unused.py": b"UNUSED = 1\n",
    "calc/data/big.bin": bytes(range(256)) * 400,
    "calc/tests/test_core.py": b"def test_add():\n    pass\n",
}
CHECK = "import calc\nassert calc.core.add(2, 3) == 5\nprint('ok')\n"


def make_wheel(directory: Path, tag: str, extra: dict[str, bytes] | None = None) -> Path:
    wheel = SynthWheel(name="calc", version="1.0")
    wheel.files = {**PACKAGE, **(extra or {})}
    wheel.tag = tag
    wheel.purelib = tag == "py3-none-any"
    return wheel.build(directory)


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    """A recipe for calc 1.0: a Linux (this machine's tag) and a win_amd64 wheel, a check and a lock path."""
    root = tmp_path / "proj"
    (root / "checks").mkdir(parents=True)
    (root / "checks" / "calc_check.py").write_text(CHECK)
    linux = make_wheel(root / "wheels", native_tag())
    windows = make_wheel(root / "wheels", "cp311-cp311-win_amd64", {"calc/win_only.py": b"W = 1\n"})
    (root / "calc.toml").write_text(
        textwrap.dedent(f"""\
            name = "calc"
            platforms = ["linux_x86_64", "win_amd64"]

            [package]
            wheel = "wheels/{linux.name}"

            [shrink]
            max-size = "50 kB"

            [check]
            scripts = ["checks/calc_check.py"]
            lock = "locks/calc.lock"

            [platform.win_amd64.package]
            wheel = "wheels/{windows.name}"
            """)
    )
    return root


def slimwheel(*args: object, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "slimwheel", *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=600
    )


def builds(report: Path) -> dict[str, dict[str, object]]:
    data = json.loads(report.read_text())
    assert data["schema_version"] == 1
    return {b["platform"]: b for b in data["builds"]}


def test_learn_on_linux_then_replay_everywhere(project: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = slimwheel("build", "calc.toml", "-w", "out", "--json", "b1.json", "--cache-dir", cache, cwd=project)
    assert first.returncode == 0, first.stderr
    result = builds(project / "b1.json")
    linux, windows = result["linux_x86_64"], result["win_amd64"]
    assert linux["mode"] == "check" and windows["mode"] == "lock"
    assert (project / "locks" / "calc.lock").is_file()
    assert windows["note"] == "can't run here"
    lock = windows["report"]["lock"]  # type: ignore[index]
    assert lock["coverage"] == 1.0 and lock["unknown"] == ["calc/win_only.py"]  # kept, not guessed
    for name in ("calc/unused.py", "calc/data/big.bin"):  # learned on Linux, removed on Windows too
        assert any(r["path"] == name for r in windows["report"]["removed"])  # type: ignore[index]
    assert "slimwheel build" in first.stdout and "lock replayed" in first.stdout

    # The lock is up to date now: a second build replays it everywhere, with no check runs at all.
    second = slimwheel("build", "calc.toml", "-w", "out2", "--json", "b2.json", "--cache-dir", cache, cwd=project)
    assert second.returncode == 0, second.stderr
    again = builds(project / "b2.json")
    assert {b["mode"] for b in again.values()} == {"lock"}
    assert all(b["report"]["check"] is None for b in again.values())  # type: ignore[index]
    for platform in ("linux_x86_64", "win_amd64"):  # the same bytes as the first build
        (wheel,) = [Path(p) for p in [result[platform]["report"]["output"]]]  # type: ignore[index]
        assert (project / "out2" / wheel.name).read_bytes() == (project / wheel).read_bytes()

    # --relearn runs the check again where it can run.
    third = slimwheel(
        "build", "calc.toml", "--platform", "linux_x86_64", "-w", "out3", "--relearn", "--json", "b3.json",
        "--cache-dir", cache, cwd=project,
    )  # fmt: skip
    assert third.returncode == 0, third.stderr
    assert builds(project / "b3.json")["linux_x86_64"]["mode"] == "check"


def test_broken_budget_exits_3_and_keeps_the_wheels(project: Path, tmp_path: Path) -> None:
    recipe = project / "calc.toml"
    recipe.write_text(recipe.read_text().replace('max-size = "50 kB"', 'max-size = "1 kB"'))
    proc = slimwheel("build", recipe, "-w", "out", "--json", "b.json", "--cache-dir", tmp_path / "c", cwd=project)
    assert proc.returncode == 3, proc.stderr
    assert "OVER" in proc.stdout
    assert all(b["over_budget"] for b in builds(project / "b.json").values())
    assert len(list((project / "out").glob("*.whl"))) == 2


def test_a_failing_platform_is_reported_and_the_others_still_build(project: Path, tmp_path: Path) -> None:
    recipe = project / "calc.toml"
    text = recipe.read_text()  # a well-formed name of a wheel that isn't there
    recipe.write_text(text.replace("wheels/calc-1.0-cp311-cp311-win_amd64", "wheels/calc-9.9-cp311-cp311-win_amd64"))
    proc = slimwheel("build", recipe, "-w", "out", "--json", "b.json", "--cache-dir", tmp_path / "c", cwd=project)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    result = builds(project / "b.json")
    assert result["linux_x86_64"]["mode"] == "check" and result["linux_x86_64"]["error"] is None
    assert result["win_amd64"]["mode"] == "failed"
    error = str(result["win_amd64"]["error"])
    assert "calc.toml" in error and "calc-9.9" in error
    errors = [line for line in proc.stderr.splitlines() if line.startswith("slimwheel: error:")]
    assert len(errors) == 1 and "win_amd64" in errors[0]


def test_bad_recipe_is_one_line_naming_file_and_line(project: Path) -> None:
    recipe = project / "calc.toml"
    recipe.write_text(recipe.read_text().replace('max-size = "50 kB"', 'max-size = "fifty"'))
    proc = slimwheel("build", recipe, "-w", "out", cwd=project)
    assert proc.returncode == 2
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("slimwheel: error:") and "calc.toml:" in line and "max-size" in line
    assert not (project / "out").exists()


def test_project_defaults_come_from_pyproject(project: Path, tmp_path: Path) -> None:
    """[tool.slimwheel] in the project's pyproject.toml supplies what the recipe leaves out."""
    recipe = project / "calc.toml"
    recipe.write_text(recipe.read_text().replace('[shrink]\nmax-size = "50 kB"\n', ""))
    (project / "pyproject.toml").write_text('[tool.slimwheel.shrink]\nmax-size = "1 kB"\n')
    proc = slimwheel(
        "build", recipe, "--platform", "linux_x86_64", "-w", "out", "--json", "b.json", "--cache-dir", tmp_path / "c",
        cwd=project,
    )  # fmt: skip
    assert proc.returncode == 3, proc.stderr  # the project's budget applies
    assert builds(project / "b.json")["linux_x86_64"]["budget"] == 1000


def test_a_changed_check_relearns_the_lock(project: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = slimwheel("build", "calc.toml", "-w", "o1", "--cache-dir", cache, cwd=project)
    assert first.returncode == 0, first.stderr
    learned = (project / "locks" / "calc.lock").read_text()
    script = project / "checks" / "calc_check.py"
    script.write_text(script.read_text() + "assert calc.core.add(1, 1) == 2\n")
    # Windows alone can't relearn: the stale lock is used, and the table says so
    alone = slimwheel(
        "build", "calc.toml", "--platform", "win_amd64", "-w", "o2", "--json", "b2.json", "--cache-dir", cache,
        cwd=project,
    )  # fmt: skip
    assert alone.returncode == 0, alone.stderr
    assert "learned with another check" in str(builds(project / "b2.json")["win_amd64"]["note"])
    # With Linux in the build, the check runs again there and the new lock is what Windows replays
    both = slimwheel("build", "calc.toml", "-w", "o3", "--json", "b3.json", "--cache-dir", cache, cwd=project)
    assert both.returncode == 0, both.stderr
    result = builds(project / "b3.json")
    assert result["linux_x86_64"]["mode"] == "check" and result["win_amd64"]["mode"] == "lock"
    assert result["win_amd64"]["note"] == "can't run here"
    relearned = (project / "locks" / "calc.lock").read_text()
    assert relearned != learned and relearned.replace(_check_line(relearned), "") == learned.replace(
        _check_line(learned), ""
    )  # same decisions; only the check's fingerprint changed


def _check_line(lock_text: str) -> str:
    (line,) = [ln for ln in lock_text.splitlines() if ln.startswith("check = ")]
    return line


def test_a_source_build_is_built_once_per_flags(tmp_path: Path) -> None:
    """Rebuilding from a recipe reuses the wheel built from the same source, environment and settings."""
    from test_fetch import make_sdist

    project = tmp_path / "src"
    project.mkdir()
    make_sdist(project)
    recipe = project / "tiny.toml"
    recipe.write_text(
        'platforms = ["linux_x86_64"]\n[package.source]\nsdist = "tinyext-0.1.tar.gz"\nenv = { CFLAGS = "-g0" }\n'
    )
    cache = tmp_path / "cache"

    def build_once(out: str) -> None:
        proc = slimwheel("build", recipe, "-w", out, "--cache-dir", cache, cwd=project)
        assert proc.returncode == 0, proc.stderr
        assert len(list((project / out).glob("tinyext-0.1-*.whl"))) == 1

    build_once("o1")
    (first,) = (cache / "builds").glob("*/tinyext-*.whl")
    stamp = first.stat().st_mtime_ns
    build_once("o2")
    assert first.stat().st_mtime_ns == stamp  # reused, not rebuilt
    recipe.write_text(recipe.read_text().replace('CFLAGS = "-g0"', 'CFLAGS = "-g0 -Os"'))
    build_once("o3")
    assert len(list((cache / "builds").glob("*/tinyext-*.whl"))) == 2  # other flags: another build


def test_unknown_platform_is_a_usage_error_before_anything_runs(project: Path) -> None:
    proc = slimwheel("build", "calc.toml", "--platform", "win64", "-w", "out", cwd=project)
    assert proc.returncode == 2
    (line,) = proc.stderr.strip().splitlines()
    assert "unknown platform 'win64'" in line and "win_amd64" in line
    assert not (project / "out").exists() and not (project / "locks").exists()


# ---- a lock replayed where the check runs: verified on another build of the wheel, relearned if it fails ----------


def counting_check(project: Path, tmp_path: Path) -> Path:
    """Make the recipe's check append a line to a file per run (before the lock is learned, so it stays current)."""
    counter = tmp_path / "runs.txt"
    script = project / "checks" / "calc_check.py"
    script.write_text(f"with open({str(counter)!r}, 'a') as f:\n    f.write('run\\n')\n" + CHECK)
    return counter


def runs(counter: Path) -> int:
    runs = len(counter.read_text().splitlines()) if counter.exists() else 0
    counter.unlink(missing_ok=True)
    return runs


def build_here(project: Path, cache: Path, out: str, *platforms: str) -> dict[str, PlatformBuild]:
    """``slimwheel build calc.toml`` in this process (its JSON's "mode" is PlatformBuild.mode)."""
    (project / out).mkdir()  # as the CLI does
    options = BuildOptions(output_dir=project / out, platforms=platforms or ("linux_x86_64",), cache_dir=cache)
    return {r.platform: r for r in build([load_recipe(project / "calc.toml")], options)}


def rebuild_linux_wheel(project: Path, core: bytes) -> Path:
    """Another build of calc 1.0 for this machine: same file name, other bytes."""
    wheel = make_wheel(project / "wheels", native_tag(), {"calc/core.py": core})
    assert read_lock(project / "locks" / "calc.lock").wheel.sha256 != hashlib.sha256(wheel.read_bytes()).hexdigest()
    return wheel


@pytest.fixture()
def learned(project: Path, tmp_path: Path) -> tuple[Path, Path]:
    """The project with its lock learned on the Linux wheel; (check run counter, check cache)."""
    counter, cache = counting_check(project, tmp_path), tmp_path / "cache"
    first = build_here(project, cache, "o1")["linux_x86_64"]
    assert first.mode == "check" and first.error is None and runs(counter) > 1, first.error
    assert "calc/unused.py" in read_lock(project / "locks" / "calc.lock").removed
    return counter, cache


def test_the_same_wheel_replays_the_lock_with_no_check_run(project: Path, learned: tuple[Path, Path]) -> None:
    counter, cache = learned
    result = build_here(project, cache, "o2")["linux_x86_64"]
    assert (result.mode, result.error, result.note) == ("lock", None, "")
    assert runs(counter) == 0
    assert result.report is not None and result.report.lock is not None and result.report.lock.verified is None


def test_another_build_that_passes_is_verified_by_one_check_run(project: Path, learned: tuple[Path, Path]) -> None:
    counter, cache = learned
    lock_before = (project / "locks" / "calc.lock").read_text()
    rebuild_linux_wheel(project, PACKAGE["calc/core.py"] + b"# rebuilt with other flags\n")
    result = build_here(project, cache, "o2")["linux_x86_64"]
    assert (result.mode, result.error) == ("lock-verified", None)
    assert runs(counter) == 1
    assert result.report is not None and result.report.lock is not None and result.report.lock.verified is True
    assert any(r.path == "calc/unused.py" for r in result.report.removed)  # the lock's removals still apply
    assert (project / "locks" / "calc.lock").read_text() == lock_before  # verified, not relearned


def test_another_build_that_fails_the_lock_is_relearned_and_saved(project: Path, learned: tuple[Path, Path]) -> None:
    counter, cache = learned
    # This build's core needs calc/unused.py, which the lock removes: its result fails the check.
    wheel = rebuild_linux_wheel(project, b"from . import unused\n" + PACKAGE["calc/core.py"])
    result = build_here(project, cache, "o2", "linux_x86_64", "win_amd64")
    linux, windows = result["linux_x86_64"], result["win_amd64"]
    assert (linux.mode, linux.error) == ("relearned", None)
    assert runs(counter) > 1  # the failed verification, then the trial
    assert linux.report is not None and linux.report.check is not None
    assert not any(r.path == "calc/unused.py" for r in linux.report.removed)
    lock = read_lock(project / "locks" / "calc.lock")
    assert lock.wheel.sha256 == hashlib.sha256(wheel.read_bytes()).hexdigest()  # the new lock was saved
    assert "calc/unused.py" not in lock.removed and "calc/unused.py" in lock.kept
    assert windows.mode == "lock" and windows.report is not None  # Windows replays the relearned lock
    assert not any(r.path == "calc/unused.py" for r in windows.report.removed)
    # The lock now matches this wheel: the next build replays it with no check run.
    assert build_here(project, cache, "o3")["linux_x86_64"].mode == "lock" and runs(counter) == 0


def test_on_windows_the_lock_is_replayed_with_no_check_even_for_a_wheel_that_runs_there(
    project: Path, learned: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Checks don't run on Windows: another build there replays the lock as it is, and says the check can't run."""
    counter, cache = learned
    rebuild_linux_wheel(project, b"from . import unused\n" + PACKAGE["calc/core.py"])
    monkeypatch.setattr(sys, "platform", "win32")
    result = build_here(project, cache, "o2")["linux_x86_64"]
    assert (result.mode, result.note, result.error) == ("lock", "can't run here", None)
    assert runs(counter) == 0
