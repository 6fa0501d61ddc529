"""The release-pipeline recipes in docs/ci.md, extracted from the file and run as a CI system would run them."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
from synth import demo_wheel

REPO = Path(__file__).resolve().parent.parent
DOC = (REPO / "docs" / "ci.md").read_text(encoding="utf-8")
BIN = Path(sys.executable).parent


def block(marker: str) -> str:
    """The fenced code block right after ``<!-- marker -->`` in docs/ci.md."""
    match = re.search(rf"<!-- {re.escape(marker)} -->\s*```\w*\n(.*?)```", DOC, re.DOTALL)
    assert match, f"docs/ci.md has no block marked {marker}"
    return match.group(1)


def run_shell(command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run(["bash", "-c", command], cwd=cwd, env=environ, capture_output=True, text=True)


@pytest.mark.skipif(shutil.which("auditwheel", path=str(BIN)) is None, reason="auditwheel not installed")
def test_cibuildwheel_repair_wheel_command_for_linux(tmp_path: Path) -> None:
    """cibuildwheel substitutes {wheel} and {dest_dir} and runs each command in turn: so do we, with a real
    C-extension wheel, real auditwheel, and the slimwheel on PATH."""
    config = tomllib.loads(block("cibuildwheel-linux"))
    commands = config["tool"]["cibuildwheel"]["linux"]["repair-wheel-command"]
    built = demo_wheel(tmp_path).build(tmp_path / "built")
    dest = tmp_path / "dest"
    dest.mkdir()
    for command in commands:
        result = run_shell(command.replace("{wheel}", str(built)).replace("{dest_dir}", str(dest)), tmp_path)
        assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
    (wheel,) = dest.glob("*.whl")
    assert "manylinux" in wheel.name  # auditwheel's tag survived slimwheel's repacking
    assert not (dest / "repaired").exists()
    report = json.loads((dest / "slimwheel.json").read_text())
    assert report["wheels"][0]["after"]["compressed"] < report["wheels"][0]["before"]["compressed"]
    names = zipfile.ZipFile(wheel).namelist()
    assert not any("/tests/" in n for n in names)  # pruned
    unpacked = subprocess.run([sys.executable, "-m", "wheel", "unpack", "-d", str(tmp_path / "u"), str(wheel)])
    assert unpacked.returncode == 0


def test_cibuildwheel_budget_failure_is_exit_code_3(tmp_path: Path) -> None:
    config = tomllib.loads(block("cibuildwheel-linux"))
    shrink_command = next(
        c for c in config["tool"]["cibuildwheel"]["linux"]["repair-wheel-command"] if "slimwheel" in c
    )
    repaired = tmp_path / "dest" / "repaired"
    demo_wheel(tmp_path).build(repaired)
    command = shrink_command.replace("{dest_dir}", str(tmp_path / "dest")).replace("--max-size 5MB", "--max-size 1KB")
    result = run_shell(command, tmp_path)
    assert result.returncode == 3, result.stderr
    assert list((tmp_path / "dest").glob("*.whl"))  # written anyway: CI can upload it for inspection


def test_github_actions_job_is_valid_and_runs_slimwheel_build() -> None:
    yaml = pytest.importorskip("yaml")
    workflow = yaml.safe_load(block("github-actions"))
    steps = workflow["jobs"]["build"]["steps"]
    runs = [step["run"] for step in steps if "run" in step]
    build = next(r for r in runs if r.startswith("slimwheel build"))
    # the command line parses with slimwheel's own parser (recipes/*.toml left to the shell)
    from slimwheel.cli import build_parser

    args = build_parser().parse_args(build.split()[1:])
    assert args.command == "build" and args.platform == ["all"] and args.json == Path("wheelhouse/build.json")
    upload = next(step for step in steps if "upload-artifact" in step.get("uses", ""))
    assert upload["if"] == "always()"  # the wheels are kept even when the budget step fails


def test_exit_code_table_matches_the_code() -> None:
    from slimwheel.errors import ExitCode

    documented = {int(m) for m in re.findall(r"^\| (\d+) \|", DOC, re.MULTILINE)}
    assert documented == {int(code) for code in ExitCode}
