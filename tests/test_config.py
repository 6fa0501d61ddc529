"""[tool.slimwheel] for `shrink` and `inspect`: discovery, validation, relative paths, and merging with argparse."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from slimwheel.cli import build_parser
from slimwheel.config import (
    COMMAND_LINE,
    DEFAULT,
    ConfigError,
    Settings,
    explicit_dests,
    merge,
    project_settings,
)
from slimwheel.errors import ExitCode
from slimwheel.recipe import load_recipe
from slimwheel.rules import select_rules

PYPROJECT = """\
[project]
name = "firmware"

[tool.slimwheel.shrink]
select = ["default", "bytecode"]
ignore = ["docs"]
prune = ["x/"]
strip = "debug"
stubs = false
compress-level = 12
max-size = "5 MB"
recompress = true
max-total-size = 20000
wheel-dir = "dist/slim"

[tool.slimwheel.check]
scripts = ["checks/smoke.py"]
commands = ["python checks/smoke.py --quick"]
requirements = ["onnx"]
wheels = ["wheels/helper-1.0-py3-none-any.whl"]
same-output = true
timeout = 30
max-runs = 200
minimal = true
trace = false
python = "python3.10"

[tool.slimwheel.inspect]
top = 30
depth = 4
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project with the full pyproject.toml and the files it names."""
    root = tmp_path / "proj"
    write(root / "pyproject.toml", PYPROJECT)
    write(root / "checks" / "smoke.py", "import calc\n")
    write(root / "wheels" / "helper-1.0-py3-none-any.whl", "")
    return root


def shrink_args(argv: list[str], settings: Settings) -> tuple[argparse.Namespace, dict[str, str]]:
    """What cli.main does: parse, then fill in from the pyproject what the command line left out."""
    parser = build_parser()
    args = parser.parse_args(argv)
    return args, merge(args, settings, explicit_dests(parser, argv))


# ------------------------------------------------------------------------------------------------ validation


def test_every_key_reaches_its_option(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(project)
    args, sources = shrink_args(["shrink", "a.whl"], project_settings("shrink", Path.cwd()))
    assert args.rules == "default,bytecode,-docs"
    assert (args.prune, args.keep, args.strip, args.no_stubs) == (["x/"], [], "debug", True)
    assert (args.compress_level, args.max_size, args.recompress, args.max_total_size) == (12, 5_000_000, True, 20000)
    assert args.wheel_dir == project / "dist" / "slim"
    assert args.check == [project / "checks" / "smoke.py"]
    assert args.check_cmd == [f"python {project / 'checks' / 'smoke.py'} --quick"]
    assert (args.with_requirements, args.with_wheel) == (["onnx"], [project / "wheels" / "helper-1.0-py3-none-any.whl"])
    assert (args.same_output, args.timeout, args.max_runs, args.minimal, args.no_trace) == (True, 30.0, 200, True, True)
    assert args.python == Path("python3.10")  # a command name, looked up on PATH: not made a path
    assert sources["strip"] == "pyproject.toml:8"
    assert sources["rules"] == "pyproject.toml:5, pyproject.toml:6"
    assert sources["check"] == "pyproject.toml:17"
    assert (sources["wheels"], sources["jobs"]) == (COMMAND_LINE, DEFAULT)
    inspect_args = build_parser().parse_args(["inspect", "a.whl"])
    merge(inspect_args, project_settings("inspect", Path.cwd()), {"command", "wheels"})
    assert (inspect_args.top, inspect_args.depth) == (30, 4)


SHRINK = "[tool.slimwheel.shrink]\n"
CHECK = "[tool.slimwheel.check]\n"


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (SHRINK + "strp = 'debug'", "tool.slimwheel.shrink.strp: unknown key; did you mean 'strip'?"),
        (CHECK + "max_runs = 3", "tool.slimwheel.check.max_runs: unknown key; did you mean 'max-runs'?"),
        ("[tool.slimwheel.inspect]\ndepht = 3", "tool.slimwheel.inspect.depht: unknown key; did you mean 'depth'?"),
        ("[tool.slimwheel]\ninspcet = {}", "tool.slimwheel.inspcet: unknown key; did you mean 'inspect'?"),
        (SHRINK + "rules = 'all'", "tool.slimwheel.shrink.rules: unknown key; write select = [...] and ignore = [...]"),
        (CHECK + "no-trace = true", "tool.slimwheel.check.no-trace: unknown key; write trace = false (known: "),
        (CHECK + "with = ['onnx']", "tool.slimwheel.check.with: unknown key; write requirements = [...] (known: "),
        (SHRINK + "trace = false", "tool.slimwheel.shrink.trace: unknown key (known: prune, keep, select"),
    ],
)
def test_unknown_key_names_line_and_close_match(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, table: str, message: str
) -> None:
    write(tmp_path / "pyproject.toml", table + "\n")
    monkeypatch.chdir(tmp_path)
    for command in ("shrink", "inspect"):  # the whole table is validated, whichever command reads it
        with pytest.raises(ConfigError) as info:
            project_settings(command, tmp_path)
        assert info.value.message.startswith(f"pyproject.toml:2: {message}")
        assert info.value.exit_code == ExitCode.BAD_INPUT


@pytest.mark.parametrize(
    ("line_text", "message"),
    [
        ('timeout = "30"', 'timeout: expected a number of seconds, got a string ("30")'),
        ("timeout = 0", "timeout: expected a positive number of seconds, not 0"),
        ("max-runs = 1.5", "max-runs: expected a positive whole number, got a float (1.5)"),
        ("minimal = 1", "minimal: expected true or false, got an integer (1)"),
        ('scripts = "a.py"', 'scripts: expected an array of strings, got a string ("a.py"); write ["a.py"]'),
        ("lock = 'x.lock'", "lock: a lock belongs to one recipe: set it in the recipe's [check] table"),
    ],
)
def test_wrong_type_is_one_line_with_the_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, line_text: str, message: str
) -> None:
    write(tmp_path / "pyproject.toml", f"[project]\nname = 'x'\n\n[tool.slimwheel.check]\n{line_text}\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as info:
        project_settings("shrink", tmp_path)
    assert info.value.message == f"pyproject.toml:5: tool.slimwheel.check.{message}"


@pytest.mark.parametrize(
    ("line_text", "message"),
    [
        ("top = 0", "tool.slimwheel.inspect.top: expected a positive whole number, not 0"),
        ("depth = true", "tool.slimwheel.inspect.depth: expected a positive whole number, got a boolean (true)"),
        ("top = '5'", 'tool.slimwheel.inspect.top: expected a positive whole number, got a string ("5")'),
    ],
)
def test_inspect_values_are_validated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, line_text: str, message: str
) -> None:
    write(tmp_path / "pyproject.toml", f"[tool.slimwheel.inspect]\n{line_text}\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as info:
        project_settings("inspect", tmp_path)
    assert info.value.message == f"pyproject.toml:2: {message}"


def test_invalid_toml_is_a_config_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "pyproject.toml", "[tool.slimwheel\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=r"pyproject\.toml:1: invalid TOML: "):
        project_settings("shrink", tmp_path)


# ------------------------------------------------------------------------------------------- finding the file


def test_found_from_a_subdirectory_upward(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    deep = project / "src" / "pkg"
    deep.mkdir(parents=True)
    write(project / "src" / "pyproject.toml", '[project]\nname = "inner"\n')  # no [tool.slimwheel]: skipped
    monkeypatch.chdir(deep)
    settings = project_settings("shrink", Path.cwd())
    assert settings.pyproject == project / "pyproject.toml"
    assert settings.values["strip"].source == f"{project / 'pyproject.toml'}:8"  # outside the cwd: absolute
    assert settings.values["strip"].key == "tool.slimwheel.shrink.strip"


def test_no_pyproject_leaves_every_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = project_settings("shrink", tmp_path, pyproject=write(tmp_path / "pyproject.toml", "[project]\n"))
    assert not settings.values
    args, sources = shrink_args(["shrink", "a.whl"], settings)
    assert args == build_parser().parse_args(["shrink", "a.whl"])
    assert {dest for dest, source in sources.items() if source != DEFAULT} == {"command", "wheels"}


def test_unknown_command_is_a_programming_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="'build'"):
        project_settings("build", tmp_path)


# ------------------------------------------------------------------------------------------- relative paths


def test_relative_paths_are_relative_to_the_pyproject(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    elsewhere = project.parent / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # not where the pyproject is
    settings = project_settings("shrink", elsewhere, pyproject=project / "pyproject.toml")
    assert settings.values["check"].value == [project / "checks" / "smoke.py"]
    assert settings.values["with_wheel"].value == [project / "wheels" / "helper-1.0-py3-none-any.whl"]
    assert settings.values["wheel_dir"].value == project / "dist" / "slim"
    assert settings.values["check_cmd"].value == [f"python {project / 'checks' / 'smoke.py'} --quick"]


def test_python_with_a_slash_is_a_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "pyproject.toml", "[tool.slimwheel.check]\npython = '.venv/bin/python'\n")
    monkeypatch.chdir(tmp_path)
    assert project_settings("shrink", tmp_path).values["python"].value == tmp_path / ".venv" / "bin" / "python"


def test_a_missing_check_script_is_reported_when_used(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (project / "checks" / "smoke.py").unlink()
    monkeypatch.chdir(project)
    settings = project_settings("shrink", project)  # loading is fine: the check may not be used
    with pytest.raises(ConfigError) as info:
        shrink_args(["shrink", "a.whl"], settings)
    missing = project / "checks" / "smoke.py"
    assert info.value.message == f"pyproject.toml:17: tool.slimwheel.check.scripts[0]: {missing} does not exist"
    args, _ = shrink_args(["shrink", "a.whl", "--check-cmd", "true"], settings)  # not used: no error
    assert args.check == []


# -------------------------------------------------------------------------------------- the command line wins


def test_command_line_wins(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(project)
    settings = project_settings("shrink", project)
    args, sources = shrink_args(
        ["shrink", "a.whl", "--strip=none", "--comp", "3", "-wout", "--prune", "y/", "--with", "numpy"], settings
    )
    assert (args.strip, args.compress_level, args.wheel_dir, args.prune) == ("none", 3, Path("out"), ["y/"])
    assert args.with_requirements == ["numpy"]  # replaced, not added to
    assert all(sources[d] == COMMAND_LINE for d in ("strip", "compress_level", "wheel_dir", "prune"))
    assert (args.max_size, sources["max_size"]) == (5_000_000, "pyproject.toml:11")  # not given: the pyproject's


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--no-rules"], {"rules": None, "no_rules": True}),
        (["--rules", "tests"], {"rules": "tests", "no_rules": False}),
        (["--check-cmd", "true"], {"check": [], "check_cmd": ["true"]}),
        (["--lock", "locks/"], {"check": [], "check_cmd": []}),  # a replay runs no check
        (["--lock", "locks/", "--verify"], {"check_cmd": ["python {smoke} --quick"]}),
    ],
)
def test_one_choice_pairs_come_from_one_place(
    project: Path, monkeypatch: pytest.MonkeyPatch, argv: list[str], expected: dict[str, object]
) -> None:
    monkeypatch.chdir(project)
    args, _ = shrink_args(["shrink", "a.whl", *argv], project_settings("shrink", project))
    smoke = str(project / "checks" / "smoke.py")
    for dest, value in expected.items():
        if isinstance(value, list):
            value = [v.replace("{smoke}", smoke) for v in value]
        assert getattr(args, dest) == value, dest


def test_merged_lists_are_copies(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(project)
    settings = project_settings("shrink", project)
    args, _ = shrink_args(["shrink", "a.whl"], settings)
    args.prune.append("z/")
    assert settings.values["prune"].value == ["x/"]


# ---------------------------------------------------------------------------------------- explicit_dests


def small_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tool")
    parser.add_argument("--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run")
    run.add_argument("inputs", nargs="+")
    run.add_argument("-o", "--output", default="out")
    run.add_argument("--level", type=int, default=9)
    run.add_argument("--tag", action="append", default=[])
    run.add_argument("--fast", action="store_true")
    run.add_argument("--color", action=argparse.BooleanOptionalAction, default=True)
    run.set_defaults(handler="run")
    sub.add_parser("list")
    return parser


@pytest.mark.parametrize(
    ("argv", "explicit"),
    [
        (["run", "a"], {"command", "inputs"}),
        (["run", "a", "--level", "9"], {"command", "inputs", "level"}),  # given, even if equal to the default
        (["run", "a", "--lev=3", "-ox", "--tag", "t"], {"command", "inputs", "level", "output", "tag"}),
        (["--verbose", "run", "a", "--fast", "--no-color"], {"verbose", "command", "inputs", "fast", "color"}),
        (["list"], {"command"}),
    ],
)
def test_explicit_dests_of_a_small_parser(argv: list[str], explicit: set[str]) -> None:
    parser = small_parser()
    args = parser.parse_args(argv)
    assert explicit_dests(parser, argv) == explicit
    assert parser.parse_args(argv) == args  # the parser itself keeps its defaults


def test_explicit_dests_reads_sys_argv_when_argv_is_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.argv", ["tool", "run", "a", "--fast"])
    assert explicit_dests(small_parser(), None) == {"command", "inputs", "fast"}


def test_explicit_dests_of_slimwheel(monkeypatch: pytest.MonkeyPatch) -> None:
    argv = ["shrink", "a.whl", "--comp", "5", "--check-cmd", "true", "--with", "x", "-j", "2", "--no-trace"]
    assert explicit_dests(build_parser(), argv) == {
        "command", "wheels", "compress_level", "check_cmd", "with_requirements", "jobs", "no_trace",
    }  # fmt: skip


# -------------------------------------------------------------------------------------------- build still works


def test_build_accepts_the_shrink_only_keys_and_ignores_them(project: Path) -> None:
    recipe = write(project / "recipes" / "demo.toml", 'platforms = ["linux_x86_64"]\n[package]\nproject = "six"\n')
    resolved = load_recipe(recipe, project_defaults=project / "pyproject.toml").for_platform("linux_x86_64")
    assert (resolved.strip.value, resolved.compress_level, resolved.max_size, resolved.stubs) == (
        "debug", 12, 5_000_000, False,
    )  # fmt: skip
    assert resolved.check_scripts == (project / "checks" / "smoke.py",)
    assert resolved.rules == select_rules("default,bytecode,-docs")  # what `shrink` gets as --rules
