"""Recipes that name ``requirements`` (a deploy set): the schema and its one-line errors, and ``slimwheel build`` of a
real closure (requests 2.32.3 and what it needs) — learned together on Linux with one lock per distribution, each
lock replayable alone by ``slimwheel shrink``, a second build that replays with no check run, Windows replaying the
mapped locks, a distribution with no lock getting the rules only, and the pinned requirements per platform.

The real set needs the package index: a closure pip can't download skips the test on a developer's machine and
fails it when ``CI`` is set (:func:`wheelcache.missing`), never a skip there.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from packaging.utils import parse_wheel_filename
from wheelcache import DownloadFailed, missing

from slimwheel.build import PlatformBuild, _pin
from slimwheel.fetch import FetchError, obtain
from slimwheel.lock import read_lock
from slimwheel.recipe import ProjectSpec, RecipeError, RequirementSet, load_recipe

REQUESTS_CLOSURE = {"requests", "certifi", "charset-normalizer", "idna", "urllib3"}
CHECK = """\
import requests

prepared = requests.Request("GET", "http://x/path", params={"q": "1"}).prepare()
assert prepared.url == "http://x/path?q=1", prepared.url
print(prepared.method, prepared.url)
"""
RECIPE = """\
name = "reqs"
python-version = "3.11"
platforms = ["linux_x86_64", "win_amd64"]

[package]
requirements = ["requests==2.32.3"]

[shrink]
max-size = "1 MB"

[check]
scripts = ["checks/req_check.py"]
lock = "locks/reqs/"
"""
ONE_OF = "use exactly one of project, wheel, requirements, source"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def slimwheel(*args: object, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "slimwheel", *map(str, args)], capture_output=True, text=True, cwd=cwd, env=env
    )


# ------------------------------------------------------------------------------------------------------ schema

SCHEMA_ERRORS: list[tuple[str, str, int, str]] = [
    # (id, what follows platforms = [...], line, message after "FILE:LINE: ")
    (
        "with-project",
        '[package]\nproject = "onnxruntime"\nrequirements = ["onnxruntime==1.31.1"]\n',
        4,
        f"package.requirements: can't be combined with project; {ONE_OF}",
    ),
    (
        "with-source",
        '[package]\nrequirements = ["six"]\n[package.source]\nrequirement = "six"\n',
        4,
        f"package.source: can't be combined with requirements; {ONE_OF}",
    ),
    (
        "with-wheel-in-a-platform",
        '[package]\nrequirements = ["six"]\n[platform.win32.package]\nwheel = "six-1.17.0-py2.py3-none-any.whl"\n'
        'requirements = ["six"]\n',
        6,
        f"platform.win32.package.requirements: can't be combined with wheel; {ONE_OF}",
    ),
    (
        "version",
        '[package]\nrequirements = ["six"]\nversion = "==1"\n',
        4,
        "package.version: applies only to project, not to requirements",
    ),
    (
        "empty",
        "[package]\nrequirements = []\n",
        3,
        'package.requirements: must list at least one requirement, such as requirements = ["onnxruntime==1.31.1"]',
    ),
    (
        "a-string",
        '[package]\nrequirements = "six"\n',
        3,
        'package.requirements: expected an array of strings, got a string ("six"); write ["six"]',
    ),
    (
        "invalid",
        '[package]\nrequirements = [\n  "six",\n  "onnx runtime==1",\n]\n',
        5,
        "package.requirements[1]: 'onnx runtime==1' is not a valid requirement: ...",  # packaging's words follow
    ),
    (
        "lock-file",
        '[package]\nrequirements = ["six"]\n[check]\nlock = "locks/six.lock"\n',
        5,
        "check.lock: with requirements, the lock is a directory of one <project>.lock per distribution, not a "
        'file; write lock = "locks/six/"',
    ),
]


@pytest.mark.parametrize(("text", "line", "message"), [c[1:] for c in SCHEMA_ERRORS], ids=[c[0] for c in SCHEMA_ERRORS])
def test_schema_errors_are_one_line_naming_file_and_line(tmp_path: Path, text: str, line: int, message: str) -> None:
    recipe = write(tmp_path / "set.toml", 'platforms = ["linux_x86_64", "win32"]\n' + text)
    with pytest.raises(RecipeError) as info:
        load_recipe(recipe)
    expected = f"{recipe}:{line}: {message}"
    if expected.endswith("..."):
        assert info.value.message.startswith(expected.removesuffix("...")) and "\n" not in info.value.message
    else:
        assert info.value.message == expected


def test_mixing_requirements_with_project_is_one_line_from_the_command(tmp_path: Path) -> None:
    recipe = write(tmp_path / "set.toml", RECIPE.replace("[package]\n", '[package]\nproject = "requests"\n'))
    proc = slimwheel("build", recipe, "-w", "out", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        f"slimwheel: error: {recipe}:7: package.requirements: can't be combined with project; {ONE_OF}"
    ]
    assert not (tmp_path / "out").exists()


def test_requirements_resolve_per_platform_and_a_platform_may_switch_kind(tmp_path: Path) -> None:
    recipe = write(
        tmp_path / "set.toml",
        RECIPE
        + '[platform.win_amd64.package]\nrequirements = ["requests==2.32.3", "colorama==0.4.6"]\n'
        + '[platform.win32.package]\nproject = "requests"\nversion = "==2.32.3"\n',
    )
    write(tmp_path / "checks" / "req_check.py", CHECK)
    loaded = load_recipe(recipe)
    linux, win64, win32 = (loaded.for_platform(p) for p in ("linux_x86_64", "win_amd64", "win32"))
    assert linux.package == RequirementSet(("requests==2.32.3",)) and linux.is_set
    assert win64.package == RequirementSet(("requests==2.32.3", "colorama==0.4.6"))
    assert win32.package == ProjectSpec("requests", "==2.32.3") and not win32.is_set
    assert linux.lock == tmp_path / "locks" / "reqs"
    with pytest.raises(FetchError, match="deploy set of wheels, not one wheel"):
        obtain(linux, tmp_path / "dl")  # one wheel's API refuses a set: build gets its closure


# --------------------------------------------------------------------------------------------- a real set build


def build_json(project: Path, name: str, *args: object) -> dict[str, dict[str, Any]]:
    """``slimwheel build reqs.toml`` with ``--json NAME``: the builds by platform. A closure pip could not download
    skips the test, or fails it in CI."""
    proc = slimwheel("build", "reqs.toml", "--json", name, *args, cwd=project)
    if proc.returncode == 2 and "pip download" in proc.stderr and "(full log:" in proc.stderr:
        try:
            missing(f"the set's closure could not be downloaded: {proc.stderr.strip()}")
        except DownloadFailed as exc:
            pytest.skip(str(exc))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads((project / name).read_text())
    return {b["platform"]: b for b in data["builds"]}


def by_name(build: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {str(parse_wheel_filename(Path(r["input"]).name)[0]): r for r in build["reports"]}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def learned(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, dict[str, Any]]]:
    """The requests set built for linux_x86_64 (learns, saves the locks) and win_amd64 (replays them):
    (project, cache, builds by platform)."""
    project = tmp_path_factory.mktemp("reqs")
    write(project / "reqs.toml", RECIPE)
    write(project / "checks" / "req_check.py", CHECK)
    cache = tmp_path_factory.mktemp("cache")
    return project, cache, build_json(project, "b1.json", "-w", "out", "--cache-dir", cache)


@pytest.mark.realwheel
def test_the_set_learns_on_linux_and_saves_one_lock_per_distribution(
    learned: tuple[Path, Path, dict[str, dict[str, Any]]],
) -> None:
    project, _, builds = learned
    linux = builds["linux_x86_64"]
    assert (linux["mode"], linux["error"], linux["report"]) == ("check", None, None)
    assert set(by_name(linux)) == REQUESTS_CLOSURE
    locks = project / "locks" / "reqs"
    assert {p.name for p in locks.iterdir()} == {f"{name}.lock" for name in REQUESTS_CLOSURE}
    for name, report in by_name(linux).items():
        lock = read_lock(locks / f"{name}.lock")
        assert lock.wheel.filename == Path(report["input"]).name  # learned on this very wheel
        assert report["lock"]["action"] == "saved" and report["mode"] == "check"
        assert report["check"]["checks"]  # one trial for the whole set
    assert sum(r["after"]["compressed"] for r in linux["reports"]) < sum(
        r["before"]["compressed"] for r in linux["reports"]
    )
    pinned = project / "out" / "requirements-reqs-linux_x86_64.txt"
    assert linux["requirements_file"] == str(Path("out") / pinned.name)
    lines = [line for line in pinned.read_text().splitlines() if not line.startswith("#")]
    assert lines == sorted(
        f"{parse_wheel_filename(Path(r['output']).name)[0]}=={parse_wheel_filename(Path(r['output']).name)[1]} "
        f"--hash=sha256:{sha256(project / r['output'])}"
        for r in linux["reports"]
    )
    assert f"-r DIR/{pinned.name}" in pinned.read_text()


@pytest.mark.realwheel
def test_windows_replays_each_distributions_lock_mapped_onto_its_wheel(
    learned: tuple[Path, Path, dict[str, dict[str, Any]]],
) -> None:
    project, _, builds = learned
    windows = builds["win_amd64"]
    assert (windows["mode"], windows["note"], windows["error"]) == ("lock", "can't run here", None)
    reports = by_name(windows)
    assert set(reports) == REQUESTS_CLOSURE
    assert Path(reports["charset-normalizer"]["input"]).name.endswith("-win_amd64.whl")  # its own native wheel
    for name, report in reports.items():
        assert report["lock"]["action"] == "replayed" and report["lock"]["coverage"] == 1.0, name
        assert Path(report["lock"]["file"]) == project / "locks" / "reqs" / f"{name}.lock"
        assert report["check"] is None and report["mode"] == "lock"
    assert (project / "out" / "requirements-reqs-win_amd64.txt").is_file()


@pytest.mark.realwheel
def test_each_lock_replays_alone_with_slimwheel_shrink(
    learned: tuple[Path, Path, dict[str, dict[str, Any]]],
) -> None:
    project, _, builds = learned
    for name, report in by_name(builds["linux_x86_64"]).items():
        out = project / "alone" / name
        proc = slimwheel("shrink", report["input"], "--lock", f"locks/reqs/{name}.lock", "-w", out, "-q", cwd=project)
        assert proc.returncode == 0, proc.stderr
        (wheel,) = out.glob("*.whl")
        assert wheel.read_bytes() == (project / report["output"]).read_bytes(), name  # what the set build wrote


@pytest.mark.realwheel
def test_a_second_build_replays_every_lock_with_no_check_run(
    learned: tuple[Path, Path, dict[str, dict[str, Any]]],
) -> None:
    project, cache, first = learned
    again = build_json(project, "b2.json", "-w", "out2", "--cache-dir", cache)
    for platform in ("linux_x86_64", "win_amd64"):
        build = again[platform]
        assert build["mode"] == "lock" and build["error"] is None, build
        assert all(r["check"] is None and r["lock"]["action"] == "replayed" for r in build["reports"])
        for report in first[platform]["reports"]:  # the same bytes as the build that learned
            written = Path(report["output"])
            assert (project / "out2" / written.name).read_bytes() == (project / written).read_bytes()
    assert again["linux_x86_64"]["note"] == ""


@pytest.mark.realwheel
def test_a_distribution_without_a_lock_gets_the_rules_only(
    learned: tuple[Path, Path, dict[str, dict[str, Any]]],
) -> None:
    project, cache, _ = learned
    other = project / "partial"
    shutil.copytree(project / "checks", other / "checks")
    shutil.copytree(project / "locks", other / "locks")
    write(other / "reqs.toml", RECIPE)
    (other / "locks" / "reqs" / "idna.lock").unlink()
    proc = slimwheel(
        "build", "reqs.toml", "--platform", "win_amd64", "-w", "out", "--json", "b.json", "--cache-dir", cache,
        cwd=other,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    (windows,) = json.loads((other / "b.json").read_text())["builds"]
    assert windows["mode"] == "lock"
    assert windows["note"] == "can't run here; no lock for idna: rules only for it"
    reports = by_name(windows)
    assert reports["idna"]["lock"] is None and reports["idna"]["mode"] == "rules"
    assert all(reports[n]["lock"]["action"] == "replayed" for n in REQUESTS_CLOSURE - {"idna"})
    # the table: one row per distribution, how each was shrunk, and the set's totals
    table = proc.stdout
    assert all(f"{name} {reports[name]['distribution'].split()[1]}" in table for name in REQUESTS_CLOSURE), table
    assert "rules only" in table and "lock replayed" in table and "all 5" in table
    assert "pinned with hashes in out/requirements-reqs-win_amd64.txt" in table


@pytest.mark.realwheel
def test_a_wheel_written_again_with_other_bytes_fails_the_pins(
    learned: tuple[Path, Path, dict[str, dict[str, Any]]], tmp_path: Path
) -> None:
    """Two platforms write a pure wheel to the same place: pins are written only if it is what each platform wrote."""
    project, _, builds = learned
    wheels = [project / r["output"] for r in builds["linux_x86_64"]["reports"]]
    house = tmp_path / "house"
    house.mkdir()
    for wheel in wheels:
        shutil.copy(wheel, house / wheel.name)
    written: dict[Path, str | None] = {house / w.name: sha256(w) for w in wheels}
    fine = PlatformBuild("reqs", "linux_x86_64", "check", None)
    _pin(fine, written, house)
    assert fine.error is None and fine.requirements_file == house / "requirements-reqs-linux_x86_64.txt"
    written[house / wheels[0].name] = "0" * 64  # another platform wrote it afterwards
    broken = PlatformBuild("reqs", "win_amd64", "lock", None)
    _pin(broken, written, house)
    assert broken.requirements_file is None and not (house / "requirements-reqs-win_amd64.txt").exists()
    assert broken.error == (
        f"{wheels[0].name} was written again by another platform's build, with other bytes: build the platforms "
        "into separate output directories (-w)"
    )


def test_docs_describe_sets() -> None:
    docs = (Path(__file__).resolve().parent.parent / "docs" / "recipes.md").read_text(encoding="utf-8")
    flat = " ".join(docs.split())
    for phrase in (
        "## Deploy sets: `requirements`",
        "one `<project>.lock` per distribution",
        "gets the rules only",
        "requirements-RECIPE-PLATFORM.txt",
        "slimwheel shrink numpy-2.4.6-....whl --lock locks/NAME/numpy.lock",
    ):
        assert phrase in flat, phrase
