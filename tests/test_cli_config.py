"""``[tool.slimwheel]`` through the command line: found from the current directory upward, applied to ``shrink``
and ``inspect``, beaten by command-line options, shown by ``-v``; and ``--save-lock`` to ``-`` or to ``DIR/``."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest
from synth import demo_wheel

from slimwheel.lock import loads


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "slimwheel", *args], capture_output=True, text=True, cwd=cwd, timeout=300
    )


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("demo")
    return demo_wheel(tmp).build(tmp / "dist")


def project(root: Path, body: str) -> Path:
    """A project directory with ``pyproject.toml`` holding ``body`` and a nested working directory."""
    (root / "pyproject.toml").write_text(textwrap.dedent(body), encoding="utf-8")
    work = root / "sub" / "dir"
    work.mkdir(parents=True)
    return work


def names(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as z:
        return set(z.namelist())


SETTINGS = """\
    [project]
    name = "app"

    [tool.slimwheel.shrink]
    prune = ["demo/data/"]
    wheel-dir = "slim"
    max-size = "1 B"

    [tool.slimwheel.inspect]
    top = 1
"""


def test_shrink_takes_the_pyproject_settings_from_above_and_shows_their_source(demo: Path, tmp_path: Path) -> None:
    work = project(tmp_path, SETTINGS)
    proc = run("shrink", str(demo), "-v", "--json", "r.json", cwd=work)
    assert proc.returncode == 3, proc.stderr  # max-size = "1 B" from the pyproject
    out = tmp_path / "slim" / demo.name  # wheel-dir is relative to the pyproject's directory
    assert out.is_file()
    assert not any(n.startswith("demo/data/") for n in names(out))
    assert any(n.startswith("demo/data/") for n in names(demo))
    pyproject = tmp_path / "pyproject.toml"
    assert f"setting prune = ['demo/data/'] ({pyproject}:5)" in proc.stdout
    assert f"setting max-size = 1 ({pyproject}:7)" in proc.stdout
    assert "setting json = 'r.json' (command line)" in proc.stdout
    report = json.loads((work / "r.json").read_text())
    assert report["wheels"][0]["budget"] == 1


def test_the_command_line_wins_and_no_project_ignores_it(demo: Path, tmp_path: Path) -> None:
    work = project(tmp_path, SETTINGS)
    proc = run("shrink", str(demo), "-w", "here", "--max-size", "100MB", "-v", cwd=work)
    assert proc.returncode == 0, proc.stderr
    assert (work / "here" / demo.name).is_file() and not (tmp_path / "slim").exists()
    assert "setting max-size = 100000000 (command line)" in proc.stdout
    assert not any(n.startswith("demo/data/") for n in names(work / "here" / demo.name))  # prune still applies

    proc = run("shrink", str(demo), "-w", "plain", "--no-project", cwd=work)
    assert proc.returncode == 0, proc.stderr
    assert any(n.startswith("demo/data/") for n in names(work / "plain" / demo.name))


def test_a_boolean_from_the_pyproject_can_be_switched_off(demo: Path, tmp_path: Path) -> None:
    work = project(tmp_path, "[tool.slimwheel.shrink]\nrecompress = true\n")
    on = run("shrink", str(demo), "-w", "on", "-v", cwd=work)
    off = run("shrink", str(demo), "-w", "off", "--no-recompress", "-v", cwd=work)
    assert on.returncode == off.returncode == 0, on.stderr + off.stderr
    assert f"setting recompress = True ({tmp_path / 'pyproject.toml'}:2)" in on.stdout
    assert "setting recompress = False (command line)" in off.stdout


def test_inspect_takes_its_settings_and_a_bad_key_is_one_line(demo: Path, tmp_path: Path) -> None:
    work = project(tmp_path, SETTINGS)
    proc = run("inspect", str(demo), "--json", "-", cwd=work)
    assert proc.returncode == 0, proc.stderr
    assert len(json.loads(proc.stdout)["wheels"][0]["largest"]) == 1  # top = 1

    bad = tmp_path / "bad"
    bad.mkdir()
    work = project(bad, "[tool.slimwheel.shrink]\nstrp = 'debug'\n")
    for command in ("shrink", "inspect"):
        proc = run(command, str(demo), cwd=work)
        assert proc.returncode == 2
        line = proc.stderr.strip()
        assert "\n" not in line and "Traceback" not in line
        assert "pyproject.toml:2" in line and "did you mean 'strip'" in line, line


def test_save_lock_to_standard_output_and_to_a_new_directory(demo: Path, tmp_path: Path) -> None:
    proc = run("shrink", str(demo), "-w", "out", "--save-lock", "-", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lock = loads(proc.stdout)  # the lock alone on stdout; the report went to stderr
    assert lock.wheel.filename == demo.name
    assert demo.name in proc.stderr

    proc = run("shrink", str(demo), "-w", "out2", "--save-lock", "locks/", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "locks" / "demo.lock").is_file()  # a trailing slash means a directory, even a new one
