"""The release-pipeline recipes in docs/ci.md, extracted from the file and run as cibuildwheel and GitHub Actions
would run them: the Linux parts for real, the Windows parts checked for shape (they run only on a Windows runner).

slimwheel is installed into its own venv by the documented commands, from this checkout (the test's
``ci/slimwheel.txt`` names it); that venv lives under a ``HOME`` shared by the tests of this module, so the
second install is a quick reinstall.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from synth import demo_wheel

REPO = Path(__file__).resolve().parent.parent
DOC = (REPO / "docs" / "ci.md").read_text(encoding="utf-8")
BIN = Path(sys.executable).parent

# What the tests change in a documented command, and why. Nothing else is changed.
CONTAINER_ONLY = {
    "/opt/python/cp311-cp311/bin/python": (sys.executable, "the manylinux image's Python 3.11; no container here"),
    "/host": ("", "cibuildwheel mounts the host's / at /host in the container; here host paths are host paths"),
}
# Workflow steps that can't run here, by what they use or run, and why.
SKIPPED_STEPS = {
    "actions/checkout": "the test's project directory stands for the checkout",
    "actions/setup-python": "this interpreter (3.11, on PATH as python) stands for the runner's Python",
    "actions/upload-artifact": "nothing to upload to; the test checks the files the upload would take",
    "cibuildwheel": "needs Docker and the manylinux image; test_cibuildwheel_linux runs its Linux configuration",
}


def block(marker: str) -> str:
    """The fenced code block right after ``<!-- marker -->`` in docs/ci.md."""
    match = re.search(rf"<!-- {re.escape(marker)} -->\s*```\w*\n(.*?)```", DOC, re.DOTALL)
    assert match, f"docs/ci.md has no block marked {marker}"
    return match.group(1)


def cibuildwheel_format(command: str | list[str], **values: str) -> str:
    """What cibuildwheel runs for an option: a list joined with `` && ``, then each ``{name}`` it knows replaced
    (one not preceded by ``#``; ``#{name}`` is a literal ``{name}``); unknown ``{...}`` are left alone."""
    text = " && ".join(command) if isinstance(command, list) else command
    for name, value in values.items():
        literal = value.replace("\\", "\\\\")  # re.sub reads backslashes in the replacement
        text = re.sub(rf"(?<!#)\{{{re.escape(name)}\}}", literal, text).replace(f"#{{{name}}}", f"{{{name}}}")
    for documented, (replacement, _reason) in CONTAINER_ONLY.items():
        text = text.replace(documented, replacement)
    return text


def run_shell(shell: str, command: str, cwd: Path, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, **env, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run([shell, "-c", command], cwd=cwd, env=environ, capture_output=True, text=True)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("home")


def make_project(root: Path) -> Path:
    """A project as the docs assume it: ``ci/slimwheel.txt`` (naming this checkout) and a check script."""
    (root / "ci").mkdir(parents=True)
    (root / "ci" / "slimwheel.txt").write_text(f"{REPO}\n")
    (root / "checks").mkdir()
    (root / "checks" / "smoke.py").write_text("import demo\nassert demo.core.add(2, 3) == 5\n")
    return root


def linux_table() -> dict[str, Any]:
    table: dict[str, Any] = tomllib.loads(block("cibuildwheel"))["tool"]["cibuildwheel"]["linux"]
    return table


@pytest.mark.skipif(shutil.which("auditwheel", path=str(BIN)) is None, reason="auditwheel not installed")
@pytest.mark.slow
def test_cibuildwheel_linux(tmp_path: Path, home: Path) -> None:
    """before-all, the learn command and the repair command, substituted and run as cibuildwheel would, on a real
    C-extension wheel with real auditwheel."""
    linux = linux_table()
    project = make_project(tmp_path / "project")
    reports = tmp_path / "workspace" / "slimwheel-reports"
    reports.mkdir(parents=True)
    env = {"HOME": str(home), "SLIMWHEEL_REPORTS": str(reports)}
    assert linux["environment-pass"] == ["SLIMWHEEL_REPORTS"]
    result = run_shell("sh", cibuildwheel_format(linux["before-all"], project=str(project)), project, env)
    assert result.returncode == 0, result.stderr
    assert (home / "slimwheel" / "bin" / "slimwheel").exists()

    built = demo_wheel(tmp_path).build(tmp_path / "built")
    (project / "wheelhouse").mkdir()
    shutil.copy(built, project / "wheelhouse")
    result = run_shell("sh", block("learn-lock"), project, env)  # learned on Linux, then committed
    assert result.returncode == 0, result.stdout + result.stderr
    assert (project / "recipes" / "locks" / "demo.lock").is_file()

    dest = tmp_path / "repaired_wheel"  # a fresh temporary directory, as cibuildwheel makes one per build
    dest.mkdir()
    command = cibuildwheel_format(
        linux["repair-wheel-command"], wheel=str(built), dest_dir=str(dest), project=str(project)
    )
    result = run_shell("sh", command, project, env)
    assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"

    (wheel,) = dest.glob("*.whl")  # exactly one wheel: what cibuildwheel requires of the repair step
    assert "manylinux" in wheel.name  # auditwheel's tag survived slimwheel's repacking
    assert sorted(p.name for p in dest.iterdir()) == [wheel.name]  # no report, no leftover directory
    report = json.loads((reports / f"{built.name.removesuffix('.whl')}.json").read_text())
    (entry,) = report["wheels"]
    assert entry["after"]["compressed"] < entry["before"]["compressed"]
    assert entry["lock"]["action"] == "replayed"  # the committed lock, zero check runs
    names = zipfile.ZipFile(wheel).namelist()
    assert not any("/tests/" in n for n in names)  # pruned
    unpacked = subprocess.run([sys.executable, "-m", "wheel", "unpack", "-d", str(tmp_path / "u"), str(wheel)])
    assert unpacked.returncode == 0


@pytest.mark.slow
def test_cibuildwheel_budget_failure_is_exit_code_3(tmp_path: Path, home: Path) -> None:
    linux = linux_table()
    project = make_project(tmp_path / "project")
    env = {"HOME": str(home), "SLIMWHEEL_REPORTS": str(tmp_path)}
    if not (home / "slimwheel" / "bin" / "slimwheel").exists():
        assert (
            run_shell("sh", cibuildwheel_format(linux["before-all"], project=str(project)), project, env).returncode
            == 0
        )
    shrink = next(c for c in linux["repair-wheel-command"] if "slimwheel shrink" in c)
    shrink = shrink.replace(" --lock {project}/recipes/locks/", "").replace("--max-size 5MB", "--max-size 1KB")
    built = demo_wheel(tmp_path).build(tmp_path / "dest" / "repaired")
    command = cibuildwheel_format(shrink, wheel=str(built), dest_dir=str(tmp_path / "dest"), project=str(project))
    result = run_shell("sh", command, project, env)
    assert result.returncode == 3, result.stderr
    assert list((tmp_path / "dest").glob("*.whl"))  # written anyway: CI can upload it for inspection


def test_windows_configuration_matches_linux() -> None:
    """Not runnable here: the same platforms, options, lock and budget as Linux, slimwheel from its own venv."""
    config = tomllib.loads(block("cibuildwheel"))["tool"]["cibuildwheel"]
    windows = config["windows"]
    assert windows["archs"] == ["AMD64", "x86"]  # win_amd64 and win32
    assert "venv %USERPROFILE%\\slimwheel" in windows["before-all"]
    assert "pip install" not in config.get("before-build", "")  # never into the Python the wheels are for
    linux_shrink = next(c for c in linux_table()["repair-wheel-command"] if "slimwheel shrink" in c)
    windows_shrink = next(c for c in windows["repair-wheel-command"] if "slimwheel shrink" in c)
    for option in ("--lock", "--max-size", "--json"):
        assert option in linux_shrink and option in windows_shrink
    assert "{project}\\recipes\\locks\\" in windows_shrink and "{project}/recipes/locks/" in linux_shrink
    assert "{dest_dir}" not in windows_shrink.split("--json")[1]  # the report is not lost with dest_dir
    from slimwheel.cli import build_parser

    argv = windows_shrink.split(" do ", 1)[1].split()[1:]
    args = build_parser().parse_args([a.strip('"') for a in argv])
    assert args.max_size == 5_000_000 and args.lock == [Path("{project}\\recipes\\locks\\")]


def workflow_steps(marker: str) -> list[tuple[str, dict[str, Any], dict[str, str]]]:
    """(job name, step, environment) of every step of a documented workflow, in order."""
    yaml = pytest.importorskip("yaml")
    workflow = yaml.safe_load(block(marker))
    steps = []
    for name, job in workflow["jobs"].items():
        steps += [(name, step, dict(job.get("env", {}))) for step in job["steps"]]
    return steps


def run_workflow(marker: str, project: Path, home: Path, expressions: Mapping[str, str]) -> list[str]:
    """Run the ``run:`` steps of a documented workflow in order, under bash with ``-e`` as GitHub's runner does;
    skip the others for a reason listed in SKIPPED_STEPS. Returns what was run or skipped, for the test to see."""
    log = []
    for job, step, env in workflow_steps(marker):
        what = step.get("uses", step.get("run", ""))
        reason = next((why for key, why in SKIPPED_STEPS.items() if key in what), None)
        if reason is not None:
            log.append(f"skipped {job}: {what.splitlines()[0]} ({reason})")
            continue
        assert "run" in step, f"a step that is neither run nor skipped for a reason: {step}"
        assert "${{" not in step["run"], "expressions belong in env:, where this test substitutes them"
        values = {
            key: re.sub(r"\$\{\{\s*([\w.]+)\s*\}\}", lambda m: expressions[m.group(1)], value)
            for key, value in env.items()
        }
        result = run_shell("bash", "set -e\n" + step["run"], project, {"HOME": str(home), **values})
        assert result.returncode == 0, f"{step['run']}\n{result.stdout}\n{result.stderr}"
        log.append(f"ran {job}: {step['run'].splitlines()[0]}")
    return log


def test_github_actions_wheels_workflow(tmp_path: Path, home: Path) -> None:
    project = make_project(tmp_path / "project")
    expressions = {"github.workspace": str(project), "matrix.os": "ubuntu-latest"}
    log = run_workflow("github-actions-wheels", project, home, expressions)
    assert [line.split(" ", 1)[0] for line in log] == ["skipped", "skipped", "ran", "skipped", "skipped", "skipped"]
    assert (project / "slimwheel-reports").is_dir()  # where the Linux container writes through /host
    yaml = pytest.importorskip("yaml")
    workflow = yaml.safe_load(block("github-actions-wheels"))
    assert workflow["defaults"]["run"]["shell"] == "bash"  # the same steps on the Windows leg (Git Bash)
    assert workflow["jobs"]["wheels"]["strategy"]["matrix"]["os"] == ["ubuntu-latest", "windows-latest"]
    uploads = [s for _, s, _ in workflow_steps("github-actions-wheels") if "upload-artifact" in s.get("uses", "")]
    assert [u["with"]["path"] for u in uploads] == ["wheelhouse/*.whl", "slimwheel-reports/"]
    assert all(u["if"] == "always()" for u in uploads)  # kept even when the budget fails the build step


@pytest.mark.slow
def test_github_actions_recipes_workflow(tmp_path: Path, home: Path) -> None:
    """The recipes job, run step by step in a project whose recipe names a local wheel (nothing is downloaded)."""
    project = make_project(tmp_path / "project")
    built = demo_wheel(tmp_path).build(project / "wheels")
    (project / "recipes").mkdir()
    (project / "recipes" / "demo.toml").write_text(
        f'platforms = ["linux_x86_64"]\n[package]\nwheel = "../wheels/{built.name}"\n[shrink]\nmax-size = "1 MB"\n'
    )
    log = run_workflow("github-actions", project, home, {})
    assert [line.split(" ", 1)[0] for line in log] == ["skipped", "skipped", "ran", "ran", "skipped"]
    (wheel,) = (project / "wheelhouse").glob("*.whl")
    report = json.loads((project / "slimwheel-reports" / "build.json").read_text())
    (entry,) = report["builds"]
    assert (entry["platform"], entry["over_budget"], entry["error"]) == ("linux_x86_64", False, None)
    assert entry["report"]["after"]["compressed"] == wheel.stat().st_size


def test_exit_code_table_matches_the_code() -> None:
    from slimwheel.errors import ExitCode

    documented = {int(m) for m in re.findall(r"^\| (\d+) \|", DOC, re.MULTILINE)}
    assert documented == {int(code) for code in ExitCode}


def test_the_doc_says_what_was_run_and_what_was_not() -> None:
    text = " ".join(DOC.split())
    assert "runs only on a real Windows runner" in text or "run only on a real Windows runner" in text
    for documented in CONTAINER_ONLY:
        assert f"`{documented}`" in text  # each replacement the tests make is named in the doc
