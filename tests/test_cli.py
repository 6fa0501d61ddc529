"""End to end through the command line on the synthetic demo wheel (with a real gcc-built extension)."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from synth import EXT_SUFFIX, demo_wheel

UV = Path(sys.executable).with_name("uv")


def run(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "slimwheel", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=300,
    )


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("demo")
    return demo_wheel(tmp, with_extension=True).build(tmp / "dist")


@pytest.fixture(scope="module")
def shrunk(demo: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, object], str]:
    out = tmp_path_factory.mktemp("out")
    report = out / "report.json"
    proc = run("shrink", str(demo), "-w", str(out / "wh"), "--json", str(report))
    assert proc.returncode == 0, proc.stderr
    return out / "wh" / demo.name, json.loads(report.read_text()), proc.stdout


def test_shrunk_demo_installs_and_works_with_pip(shrunk: tuple[Path, dict[str, object], str], tmp_path: Path) -> None:
    wheel, _, _ = shrunk
    unpack = subprocess.run(
        [sys.executable, "-m", "wheel", "unpack", "-d", str(tmp_path / "u"), str(wheel)],
        capture_output=True,
        text=True,
    )
    assert unpack.returncode == 0, unpack.stderr
    target = tmp_path / "t"
    pip = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-index",
            "--target",
            str(target),
            str(wheel),
        ],
        capture_output=True,
        text=True,
    )
    assert pip.returncode == 0, pip.stderr
    code = (
        f"import sys; sys.path.insert(0, {str(target)!r}); import demo; print(demo.add(2, 3), demo._speedups.__file__)"
    )
    proc = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    result, so_file = proc.stdout.split()
    assert result == "5" and so_file.startswith(str(target))
    assert (target / "bin" / "demo-cli").exists()
    assert not (target / "bin" / "demo-tests").exists()  # its module was a test file: entry point dropped
    assert (target / "bin" / "demo-tool").exists()  # .data/scripts survive
    assert not (target / "demo" / "tests").exists() and (target / "demo" / "data" / "table.csv").exists()


def test_shrunk_demo_installs_with_uv(shrunk: tuple[Path, dict[str, object], str], tmp_path: Path) -> None:
    wheel, _, _ = shrunk
    proc = subprocess.run(
        [
            str(UV),
            "pip",
            "install",
            "--offline",
            "--no-cache",
            "--no-deps",
            "--python",
            sys.executable,
            "--target",
            str(tmp_path / "t"),
            str(wheel),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "t" / "demo" / f"_speedups{EXT_SUFFIX}").exists()


def test_report_json(shrunk: tuple[Path, dict[str, object], str], demo: Path) -> None:
    wheel, data, stdout = shrunk
    assert data["schema_version"] == 1
    (w,) = data["wheels"]  # type: ignore[misc]
    assert w["input"] == str(demo) and w["output"] == str(wheel)
    assert w["before"]["compressed"] == demo.stat().st_size and w["after"]["compressed"] == wheel.stat().st_size
    assert w["after"]["compressed"] < w["before"]["compressed"]
    assert {r["path"] for r in w["removed"]} >= {
        "demo/tests/test_core.py",
        "demo/core.pyi",
        "demo/docs/guide.md",
    }
    (stripped,) = w["stripped"]
    assert stripped["path"] == f"demo/_speedups{EXT_SUFFIX}" and stripped["saved"] > 0
    assert w["dropped_entry_points"] == ["console_scripts: demo-tests = demo.tests.test_core:main"]
    removed = sum(r["installed"] for r in w["removed"])
    metadata_delta = (
        w["before"]["by_category"]["metadata"]["installed"] - w["after"]["by_category"]["metadata"]["installed"]
    )
    assert w["before"]["installed"] - w["after"]["installed"] == removed + stripped["saved"] + metadata_delta
    assert "demo-tests" in stdout and "stripped" in stdout


def test_output_is_byte_identical_across_runs(demo: Path, tmp_path: Path) -> None:
    outs = []
    for n in ("a", "b"):
        proc = run("shrink", str(demo), "-w", str(tmp_path / n), "-q")
        assert proc.returncode == 0, proc.stderr
        outs.append((tmp_path / n / demo.name).read_bytes())
    assert outs[0] == outs[1]


def test_strip_none_keeps_the_extension_identical(demo: Path, tmp_path: Path) -> None:
    proc = run("shrink", str(demo), "-w", str(tmp_path), "--strip", "none", "--no-rules", "-q")
    assert proc.returncode == 0, proc.stderr
    name = f"demo/_speedups{EXT_SUFFIX}"
    with zipfile.ZipFile(demo) as a, zipfile.ZipFile(tmp_path / demo.name) as b:
        assert a.read(name) == b.read(name)
        assert sorted(a.namelist()) == sorted(b.namelist())


def test_dry_run_writes_nothing(demo: Path, tmp_path: Path) -> None:
    out = tmp_path / "wh"
    proc = run("shrink", str(demo), "-w", str(out), "--dry-run")
    assert proc.returncode == 0, proc.stderr
    assert not out.exists()
    assert "dry run: nothing was written" in proc.stdout


def test_budgets_exit_3(demo: Path, tmp_path: Path) -> None:
    proc = run("shrink", str(demo), "-w", str(tmp_path), "--max-size", "1kB")
    assert proc.returncode == 3, proc.stderr
    assert "OVER BUDGET" in proc.stdout
    assert (tmp_path / demo.name).exists()  # the wheel is still written, the pipeline fails
    assert run("shrink", str(demo), "-w", str(tmp_path), "--max-size", "1MB", "-q").returncode == 0
    assert run("shrink", str(demo), "-w", str(tmp_path), "--max-total-size", "1.5kB", "-q").returncode == 3


@pytest.mark.parametrize(
    "args, message",
    [
        (["shrink", "x.whl", "--max-size", "lots"], "can't read size 'lots'"),
        (["shrink", "x.whl", "--compress-level", "13"], "compress level must be 0..12"),
        (["shrink", "x.whl", "--rules", "nope"], "unknown rule 'nope'"),
        (["shrink", "x.whl", "--rules", "tests", "--no-rules"], "can't be used together"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_usage_errors_are_one_line_exit_2(args: list[str], message: str, tmp_path: Path) -> None:
    proc = run(*args, cwd=tmp_path)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in proc.stderr


def test_inspect_json_and_rules(demo: Path) -> None:
    proc = run("inspect", str(demo), "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["schema_version"] == 1 and data["wheels"][0]["name"] == "demo"
    text = run("inspect", str(demo))
    assert text.returncode == 0 and "tests" in text.stdout
    rules = run("rules")
    assert rules.returncode == 0 and "SW001" in rules.stdout and "bytecode" in rules.stdout


def test_version_and_module_entry() -> None:
    proc = run("--version")
    assert proc.returncode == 0 and proc.stdout.startswith("slimwheel ")


def test_no_strip_tool_is_a_warning_not_a_failure(demo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from slimwheel import shrink as shrink_module
    from slimwheel.binaries import StripTools
    from slimwheel.shrink import ShrinkOptions

    monkeypatch.setattr(shrink_module, "find_strip_tools", lambda: StripTools(elf=(), pe=()))
    report = shrink_module.shrink(demo, tmp_path, ShrinkOptions())
    assert report.stripped == []
    assert report.warnings == ["no strip tool for ELF installed (install binutils): 1 file(s) left unstripped"]
    assert (tmp_path / demo.name).exists()


def test_unwritable_output_directory_exit_2(demo: Path, tmp_path: Path) -> None:
    # /proc refuses new directories even for root, unlike a chmod'ed directory
    proc = run("shrink", str(demo), "-w", "/proc/slimwheel-out")
    assert proc.returncode == 2
    assert proc.stderr.startswith("slimwheel: error: can't create output directory /proc/slimwheel-out")
    assert len(proc.stderr.strip().splitlines()) == 1
