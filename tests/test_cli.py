"""End to end through the command line on the synthetic demo wheel (with a real gcc-built extension), and on a
wheel of long paths: any encoding, 80 or 200 columns, a log rather than a terminal, output flags."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path, PurePosixPath

import pytest
from synth import EXT_SUFFIX, SynthWheel, compile_shared_lib, demo_wheel, native_tag

from slimwheel.build import PlatformBuild
from slimwheel.buildreport import build_table
from slimwheel.console import make_console
from slimwheel.report import Snapshot, WheelReport

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
    assert run("-V").stdout == proc.stdout


def test_no_strip_tool_is_a_warning_not_a_failure(demo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from slimwheel import shrink as shrink_module
    from slimwheel import strip as strip_module
    from slimwheel.binaries import StripTools
    from slimwheel.options import RulesOnly, ShrinkOptions

    monkeypatch.setattr(strip_module, "find_strip_tools", lambda: StripTools(elf=(), pe=()))
    (report,) = shrink_module.run([demo], tmp_path, ShrinkOptions(), RulesOnly())
    assert report.stripped == []
    assert report.warnings == ["no strip tool for ELF installed (install binutils): 1 file(s) left unstripped"]
    assert (tmp_path / demo.name).exists()


def test_unwritable_output_directory_exit_2(demo: Path, tmp_path: Path) -> None:
    # /proc refuses new directories even for root, unlike a chmod'ed directory
    proc = run("shrink", str(demo), "-w", "/proc/slimwheel-out")
    assert proc.returncode == 2
    assert proc.stderr.startswith("slimwheel: error: can't create output directory /proc/slimwheel-out")
    assert len(proc.stderr.strip().splitlines()) == 1


# ---- encodings, widths, logs -------------------------------------------------------------------------------------

LONG_DIR = "longpkg/_core/tests/data/a_rather_long_directory_of_test_fixtures"
LONG_SO = f"longpkg/_core/_multiarray_umath_with_a_long_name{EXT_SUFFIX}"


@pytest.fixture(scope="module")
def long_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel of long paths: a native library to strip, tests and docs to remove, a non-ASCII file name."""
    tmp = tmp_path_factory.mktemp("long")
    lib = compile_shared_lib(tmp, "libhelper_with_a_rather_long_soname_for_tests.so").read_bytes()
    files = {
        "longpkg/__init__.py": b"from . import _core\n",
        "longpkg/_core/__init__.py": b"X = 1\n" * 200,
        LONG_SO: lib,
        "longpkg.libs/libhelper_with_a_rather_long_soname_for_tests.so": lib,
        "longpkg/docs/reference/a_long_chapter_about_everything_in_this_package.md": b"# doc\n" * 300,
        "longpkg/données/naïve_ünïcode_name.txt": b"data\n" * 50,
    }
    for i in range(4):
        files[f"{LONG_DIR}/test_a_long_module_name_for_fixture_{i}.py"] = b"def test(): pass\n" * (20 + i)
    wheel = SynthWheel(name="longpkg", version="1.0", tag=native_tag(), purelib=False, files=files)
    return wheel.build(tmp / "dist")


def run_bytes(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "slimwheel", *args],
        capture_output=True,
        cwd=cwd,
        env={**os.environ, **env},
        timeout=300,
    )


def rules_only_recipe(root: Path, wheel: Path) -> Path:
    recipe = root / "longpkg.toml"
    recipe.write_text(
        textwrap.dedent(f"""\
            name = "longpkg"
            platforms = ["linux_x86_64"]

            [package]
            wheel = "{wheel}"

            [shrink]
            max-size = "1 kB"
            """)
    )
    return recipe


COMMANDS = {
    "inspect": (["inspect", "{wheel}", "--json", "r.json"], 0),
    "shrink": (["shrink", "{wheel}", "-w", "out", "-v", "--json", "r.json", "--max-size", "1kB"], 3),
    "build": (["build", "{recipe}", "-w", "out", "--json", "r.json", "--cache-dir", "cache"], 3),
    "rules": (["rules"], 0),
}


@pytest.mark.parametrize("encoding", ["cp1252", "ascii", "utf-8"])
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_in_every_encoding(command: str, encoding: str, long_wheel: Path, tmp_path: Path) -> None:
    """A Windows CI job with piped output writes cp1252: every command works, falls back to ASCII renderings for
    what the encoding lacks, writes its JSON and holds its budget (exit 3)."""
    template, code = COMMANDS[command]
    recipe = rules_only_recipe(tmp_path, long_wheel)
    args = [a.format(wheel=long_wheel, recipe=recipe) for a in template]
    proc = run_bytes(*args, cwd=tmp_path, env={"PYTHONIOENCODING": encoding, "COLUMNS": "80"})
    stdout, stderr = proc.stdout.decode(encoding), proc.stderr.decode(encoding)  # each stream in its encoding
    assert proc.returncode == code, stderr
    assert "internal error" not in stderr and "Traceback" not in stderr
    if command != "rules":
        assert json.loads((tmp_path / "r.json").read_text("utf-8"))["schema_version"] == 1
    if code == 3:
        assert "over budget" in stderr
    if command in ("inspect", "shrink"):
        arrow = "→" if encoding == "utf-8" else "->"
        assert arrow in stdout
    if command == "inspect":
        assert ("données" in stdout) == (encoding != "ascii")  # cp1252 can show it, ascii shows "donn?es"


def _whole_on_a_line(text: str, names: list[str]) -> list[str]:
    """The names that don't appear whole on one line of ``text``."""
    lines = text.splitlines()
    return [name for name in names if not any(name in line for line in lines)]


@pytest.mark.parametrize("columns", ["80", "200"])
def test_no_path_is_wrapped_at_80_or_200_columns(columns: str, long_wheel: Path, tmp_path: Path) -> None:
    env = {"COLUMNS": columns, "PYTHONIOENCODING": "utf-8"}
    shrink_args = ["shrink", str(long_wheel), "-w", "out", "--json", "r.json", "--keep", "**/tests/**"]
    proc = run_bytes(*shrink_args, cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout.decode()
    (report,) = json.loads((tmp_path / "r.json").read_text())["wheels"]
    directories = sorted({str(PurePosixPath(r["path"]).parent) + "/" for r in report["removed"]})
    stripped = [s["path"] for s in report["stripped"]]
    kept = sorted(k["path"] for k in report["kept"])[:2]
    assert directories and LONG_SO in stripped and kept
    assert _whole_on_a_line(text, [str(long_wheel), report["output"], *directories, *stripped, *kept]) == []
    proc = run_bytes("inspect", str(long_wheel), "--json", "i.json", cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout.decode()
    (insp,) = json.loads((tmp_path / "i.json").read_text())["wheels"]
    names = [n["path"] for n in insp["native"]] + [f["path"] for f in insp["largest"]]
    assert LONG_SO in names
    assert _whole_on_a_line(text, [long_wheel.name, *names]) == []
    width = int(columns)
    for line in text.splitlines():  # only a name alone may run past the console's width
        assert len(line.rstrip()) <= width or line.strip() in names or line.strip() == long_wheel.name, line


def test_build_table_modes_legend_and_names_at_80_columns() -> None:
    def result(recipe: str, platform: str, mode: str, budget: int | None = 2000) -> PlatformBuild:
        report = WheelReport(
            f"{recipe}.whl", f"out/{recipe}.whl", Snapshot(5000, {}), Snapshot(1500, {}), budget=budget
        )
        return PlatformBuild(recipe, platform, mode, budget, report, note="a note that is long enough to wrap a bit")

    results = [
        result("onnxruntime-genai-extensions", "manylinux_2_28_x86_64", "lock-verified"),
        result("onnxruntime-genai-extensions", "macosx_11_0_arm64", "relearned", 1000),
        result("tflite-runtime", "win_amd64", "some-future-mode"),
        PlatformBuild("tflite-runtime", "linux_aarch64", "failed", None, error="no wheel for this platform"),
    ]
    for width in (80, 200):
        stream = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", write_through=True)
        make_console(stream, width=width).show(build_table(results))
        text = stream.buffer.getvalue().decode()  # type: ignore[attr-defined]
        names = ["onnxruntime-genai-extensions", "manylinux_2_28_x86_64", "macosx_11_0_arm64", "linux_aarch64"]
        assert _whole_on_a_line(text, names) == [], text
        flat = " ".join(text.split())
        assert "lock replayed, verified" in flat and "relearned (lock failed" in flat and "on this build)" in flat
        assert "some future mode" in flat and "failed" in flat and "1.5 kB OVER" in flat
        if width == 200:  # room for every label on one line
            assert "relearned (lock failed on this build)" in text
        assert "check: trial deletion" not in flat  # no "check" row: its legend line is not shown
        assert "then one check run passed" in flat  # the legend of the modes that are
    with_check = [result("calc", "linux_x86_64", "check"), result("calc", "win_amd64", "lock")]
    stream = io.TextIOWrapper(io.BytesIO(), encoding="ascii", write_through=True)
    make_console(stream, width=80).show(build_table(with_check, safe=make_console(stream).safe))
    flat = " ".join(stream.buffer.getvalue().decode("ascii").split())  # type: ignore[attr-defined]
    assert "trial deletion ran here" in flat and "what didn't map kept" in flat and "relearned" not in flat
    lock_only = [result("calc", "linux_x86_64", "lock"), result("calc", "win_amd64", "lock")]
    stream = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", write_through=True)
    make_console(stream, width=80).show(build_table(lock_only))
    flat = " ".join(stream.buffer.getvalue().decode().split())  # type: ignore[attr-defined]
    assert "lock replayed" in flat and "trial deletion" not in flat and "rules:" not in flat


def test_quiet_broken_budget_still_says_so_on_stderr(demo: Path, tmp_path: Path) -> None:
    proc = run("shrink", str(demo), "-w", str(tmp_path), "--max-size", "1kB", "-q")
    assert proc.returncode == 3
    assert "over budget" in proc.stderr and demo.name in proc.stderr and "1 kB" in proc.stderr
    assert "1 wheel:" in proc.stdout and "1 wheels" not in proc.stdout


def test_verbose_lists_every_removed_file_with_its_reason(demo: Path, tmp_path: Path) -> None:
    proc = run("shrink", str(demo), "-w", str(tmp_path / "wh"), "-v", "--json", str(tmp_path / "r.json"))
    assert proc.returncode == 0, proc.stderr
    removed = json.loads((tmp_path / "r.json").read_text())["wheels"][0]["removed"]
    lines = proc.stdout.splitlines()
    for r in removed:
        assert any(r["path"] in line and r["reason"] in line for line in lines), r
    assert run("shrink", str(demo), "-w", str(tmp_path / "wh"), "-q").stdout.count("\n") == 1  # not without -v


def test_inspect_inputs_and_json_forms(demo: Path, tmp_path: Path) -> None:
    missing = run("inspect", str(tmp_path / "nope.whl"))
    expected = f"slimwheel: error: {tmp_path / 'nope.whl'}: can't be read: No such file or directory"
    assert missing.returncode == 2 and missing.stderr.strip() == expected  # not "not a valid wheel file name"
    directory = run("inspect", str(demo.parent), "--json", str(tmp_path / "d.json"))  # a directory, like shrink
    assert directory.returncode == 0, directory.stderr
    assert json.loads((tmp_path / "d.json").read_text())["wheels"][0]["filename"] == demo.name
    assert demo.name in directory.stdout  # --json FILE: the tables too
    for args in (["inspect", str(demo), "--json"], ["inspect", "--json", str(demo)]):  # the old flag, deprecated
        old = run(*args)
        assert old.returncode == 0, old.stderr
        assert json.loads(old.stdout)["wheels"][0]["name"] == "demo"
        assert old.stderr.count("\n") == 1 and "deprecated" in old.stderr and "--json -" in old.stderr


def test_check_progress_in_a_log_is_plain_lines(tmp_path: Path) -> None:
    """Not a terminal (a CI log): progress shows as plain lines while the check runs, with no control codes."""
    files = {"tiny/__init__.py": b"from . import core\n", "tiny/core.py": b"X = 1\n", "tiny/extra.py": b"Y = 2\n"}
    wheel = SynthWheel(name="tiny", version="1.0", files=files).build(tmp_path / "dist")
    check = tmp_path / "check.py"
    check.write_text("import tiny\nassert tiny.core.X == 1\n")
    proc = run(
        "shrink", str(wheel), "-w", str(tmp_path / "wh"), "--check", str(check), "--cache-dir",
        str(tmp_path / "cache"), "-j", "2", "--no-stubs",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "\x1b" not in proc.stdout + proc.stderr and "\r" not in proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "preparing the check environment …"
    phases = [line for line in lines if line.startswith("baseline: ")]
    assert phases and "check run" in phases[0] and "ETA" in phases[0]
    assert any(line.startswith("confirm: ") for line in lines)


def test_a_closed_standard_output_is_one_line_not_an_internal_error(demo: Path) -> None:
    """``slimwheel inspect --json - | head -c 10``: the reader leaves early; slimwheel says so in one line."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "slimwheel", "inspect", *[str(demo)] * 40, "--json", "-"],  # far more than a pipe holds
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.read(10)
    proc.stdout.close()  # like head: it read what it wanted and went away
    err = proc.stderr.read().decode()
    code = proc.wait(timeout=60)
    assert "Traceback" not in err and "internal error" not in err and "Exception ignored" not in err, err
    # Linux may report the early close to the writer (exit 2 and one line) or end the write short without an
    # error (then there is nothing to say): never a traceback or an internal error.
    if code != 0:
        assert code == 2, err
        last = "slimwheel: error: standard output was closed before everything was written"
        assert err.strip().splitlines()[-1] == last


def test_a_broken_pipe_inside_a_command_is_exit_2_and_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from slimwheel import cli, cli_rules

    def closed(*args: object) -> int:
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(cli_rules, "execute", closed)
    assert cli.main(["rules"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == "slimwheel: error: standard output was closed before everything was written"
