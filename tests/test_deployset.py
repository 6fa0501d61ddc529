"""Deploy sets through the command line: requirements in (positional or ``-r FILE``), pip resolving the closure for
a target platform, every wheel shrunk (by the rules, or together against one check), a wheelhouse out that pip and
uv install offline, ``--target`` and ``--max-installed-size``, duplicated libraries, and the usage errors.

Needs the package index: a closure that can't be downloaded skips on a developer's machine and fails when ``CI`` is
set (:func:`wheelcache.missing`). Downloads go to one cache directory per test session (``--cache-dir``), so each
closure is downloaded once per session; the onnxruntime set (41 MB) is shrunk against its check once per module.
The tests at the end hold bugs these tests found in the command line (fixed since).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from packaging.utils import canonicalize_name, parse_wheel_filename
from synth import SynthWheel, compile_shared_lib, native_tag
from wheelcache import missing

from slimwheel.errors import ExitCode
from slimwheel.fetch import FetchError
from slimwheel.licences import licence_files
from slimwheel.wheelhouse import REQUIREMENTS

pytestmark = pytest.mark.realwheel

REPO = Path(__file__).resolve().parent.parent
UV = Path(sys.executable).with_name("uv")
LINUX = ("--platform", "manylinux_2_28_x86_64", "--python-version", "3.11")
REQUESTS_CLOSURE = {"requests", "certifi", "charset-normalizer", "idna", "urllib3"}
ORT_CLOSURE = {"onnxruntime", "numpy", "flatbuffers", "packaging", "protobuf"}
ORT_UNUSED = {"flatbuffers", "packaging", "protobuf"}  # what onnx_gemm_relu.py never imports
ORT_CHECK = REPO / "recipes" / "checks" / "onnx_gemm_relu.py"
ISSUE_TARGET = 24_000_000  # the issue's (and the README's) target for the whole onnxruntime closure, compressed


# ---------------------------------------------------------------------------------------------------- helpers


def slimwheel(*args: object, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m slimwheel ...`` as users run it, 80 columns wide: lines that name paths must still be whole."""
    env = {**os.environ, "COLUMNS": "80"}
    return subprocess.run(
        [sys.executable, "-m", "slimwheel", *(str(a) for a in args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=600,
    )


def shrink_set(*args: object) -> subprocess.CompletedProcess[str]:
    """``slimwheel shrink`` of a deploy set: when pip can't download the closure (the index out of reach) the test
    skips, or fails in CI; any other outcome is the test's to judge."""
    proc = slimwheel("shrink", *args)
    if proc.returncode == ExitCode.BAD_INPUT and "pip download" in proc.stderr and "(full log:" in proc.stderr:
        missing(f"the deploy set's closure could not be downloaded: {proc.stderr.strip()}")
    return proc


def one_error_line(proc: subprocess.CompletedProcess[str]) -> str:
    """The single line a refused command writes on standard error (never a traceback)."""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    return lines[0]


def offline_env() -> Mapping[str, str]:
    """No pip or uv settings from the environment or pip's configuration files (``find-links``, extra indexes):
    only the wheelhouse counts."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    return {**env, "PIP_CONFIG_FILE": os.devnull, "UV_NO_CONFIG": "1"}


def install_offline(installer: str, house: Path, target: Path) -> subprocess.CompletedProcess[str]:
    """The offline install the wheelhouse's requirements.txt tells users to run, into ``--target`` (this machine
    is a manylinux_2_28 x86_64 one with CPython 3.11, what the sets are for)."""
    common = ["--no-index", "--find-links", str(house), "--require-hashes", "-r", str(house / REQUIREMENTS)]
    if installer == "pip":
        cmd = [sys.executable, "-m", "pip", "install", "--disable-pip-version-check", *common]
    else:
        cmd = [str(UV), "pip", "install", "--no-cache", "--python", sys.executable, *common]
    return subprocess.run([*cmd, "--target", str(target)], capture_output=True, text=True, env=offline_env())


def names(directory: Path) -> dict[str, Path]:
    """The wheels of a directory by canonical distribution name."""
    return {str(parse_wheel_filename(w.name)[0]): w for w in directory.glob("*.whl")}


def pinned(requirements: Path) -> list[str]:
    return [line for line in requirements.read_text(encoding="utf-8").splitlines() if not line.startswith("#")]


def unpacks(wheel: Path, dest: Path) -> None:
    """``wheel unpack`` checks every member against RECORD's hash and size."""
    proc = subprocess.run(
        [sys.executable, "-m", "wheel", "unpack", "-d", str(dest), str(wheel)], capture_output=True, text=True
    )
    assert proc.returncode == 0, f"{wheel.name}: {proc.stderr}"


def regular_bytes(root: Path) -> int:
    return sum(p.lstat().st_size for p in root.rglob("*") if p.is_file() and not p.is_symlink())


@pytest.fixture(scope="session")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One ``--cache-dir`` for the session: each closure downloaded once, one check environment."""
    return tmp_path_factory.mktemp("slimwheel-cache")


@dataclass(frozen=True)
class Shrunk:
    out: Path
    proc: subprocess.CompletedProcess[str]
    report: dict[str, Any]


@pytest.fixture(scope="module")
def requests_set(cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Shrunk:
    """``requests==2.32.3`` for manylinux_2_28 / CPython 3.11, rules only."""
    scratch = tmp_path_factory.mktemp("requests-set")
    out, report = scratch / "out", scratch / "report.json"
    proc = shrink_set("requests==2.32.3", *LINUX, "-w", out, "--cache-dir", cache, "--json", report)
    assert proc.returncode == 0, proc.stderr
    return Shrunk(out, proc, json.loads(report.read_text()))


@pytest.fixture(scope="module")
def ort_set(cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Shrunk:
    """The issue's set: ``onnxruntime==1.31.1`` for manylinux_2_28 / CPython 3.11 against onnx_gemm_relu.py,
    installed with ``--target`` under a budget it keeps."""
    scratch = tmp_path_factory.mktemp("ort-set")
    out, report = scratch / "out", scratch / "report.json"
    args = ["onnxruntime==1.31.1", *LINUX, "-w", out, "--check", ORT_CHECK, "--cache-dir", cache, "--json", report]
    proc = shrink_set(*args, "--target", scratch / "target", "--max-installed-size", "1GB")
    assert proc.returncode == 0, proc.stderr
    return Shrunk(out, proc, json.loads(report.read_text()))


# ------------------------------------------------------------------------------------ requirements → wheelhouse


def test_requirements_give_a_wheelhouse_that_installs_offline(requests_set: Shrunk, tmp_path: Path) -> None:
    out = requests_set.out
    wheels = names(out)
    assert set(wheels) == REQUESTS_CLOSURE
    assert sorted(p.name for p in out.iterdir()) == sorted([*(w.name for w in wheels.values()), REQUIREMENTS])
    charset = parse_wheel_filename(wheels["charset-normalizer"].name)[3]
    assert "manylinux_2_28_x86_64" in {t.platform for t in charset} and {t.interpreter for t in charset} == {"cp311"}
    assert len(pinned(out / REQUIREMENTS)) == 5
    for wheel in wheels.values():
        unpacks(wheel, tmp_path / "unpacked")
    document = requests_set.report
    assert {canonicalize_name(d["name"]) for d in document["set"]["distributions"]} == REQUESTS_CLOSURE
    assert document["set"]["requirements_file"] == str(out / REQUIREMENTS)
    assert f"pinned with hashes in {out / REQUIREMENTS}" in requests_set.proc.stdout
    for installer in ("pip", "uv"):
        target = tmp_path / installer
        proc = install_offline(installer, out, target)
        assert proc.returncode == 0, f"{installer}: {proc.stderr}"
        installed = {canonicalize_name(d.name.removesuffix(".dist-info").rpartition("-")[0])
                     for d in target.glob("*.dist-info")}  # fmt: skip
        assert installed == REQUESTS_CLOSURE, installer
        code = f"import sys; sys.path.insert(0, {str(target)!r}); import requests; print(requests.__file__)"
        run = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True)
        assert run.returncode == 0 and run.stdout.startswith(str(target)), run.stderr


def test_a_requirements_file_gives_the_same_set_as_positional_requirements(cache: Path, tmp_path: Path) -> None:
    requirements = tmp_path / "requirements.in"
    requirements.write_text("# the same two as on the command line\nrequests==2.32.3\ncertifi\n")
    from_file = shrink_set("-r", requirements, *LINUX, "-w", tmp_path / "file", "--cache-dir", cache)
    assert from_file.returncode == 0, from_file.stderr
    positional = shrink_set("requests==2.32.3", "certifi", *LINUX, "-w", tmp_path / "args", "--cache-dir", cache)
    assert positional.returncode == 0, positional.stderr
    assert set(names(tmp_path / "file")) == REQUESTS_CLOSURE  # certifi is in requests' closure anyway
    assert pinned(tmp_path / "file" / REQUIREMENTS) == pinned(tmp_path / "args" / REQUIREMENTS)  # same bytes too


# ------------------------------------------------------------------------------------------- against a check


def test_the_onnxruntime_set_shrunk_against_its_check(ort_set: Shrunk, tmp_path: Path) -> None:
    document = ort_set.report
    by_name = {str(canonicalize_name(d["name"])): d for d in document["set"]["distributions"]}
    assert set(by_name) == ORT_CLOSURE and by_name["onnxruntime"]["version"] == "1.31.1"
    assert {name for name, d in by_name.items() if d["unused_by_check"]} == ORT_UNUSED
    for name in ("numpy", "onnxruntime"):
        assert by_name[name]["compressed_after"] < by_name[name]["compressed_before"], name
    wheels = names(ort_set.out)
    assert set(wheels) == ORT_CLOSURE
    total = sum(w.stat().st_size for w in wheels.values())
    assert total == document["total"]["after"]["compressed"] <= ISSUE_TARGET
    inputs = {str(parse_wheel_filename(Path(w["input"]).name)[0]): Path(w["input"]) for w in document["wheels"]}
    licensed: set[str] = set()
    for name in ORT_UNUSED:  # only metadata and licences are left, and all of them
        with zipfile.ZipFile(inputs[name]) as before, zipfile.ZipFile(wheels[name]) as after:
            dist_info = next(p.split("/")[0] for p in before.namelist() if p.endswith(".dist-info/METADATA"))
            metadata = before.read(f"{dist_info}/METADATA").decode()
            licences = licence_files(before.namelist(), dist_info, metadata)
            kept = set(after.namelist())
        assert licences <= kept, name
        licensed |= {name} if licences else set()
        assert {f"{dist_info}/METADATA", f"{dist_info}/RECORD"} <= kept, name
        assert all(p.startswith(f"{dist_info}/") or p in licences for p in kept), name
    assert licensed == {"packaging", "protobuf"}  # flatbuffers ships none
    for wheel in wheels.values():
        unpacks(wheel, tmp_path / "unpacked")
    assert "unused by the check" in ort_set.proc.stdout


@pytest.mark.parametrize("installer", ["pip", "uv"])
def test_the_onnxruntime_set_installs_offline_and_passes_its_check(
    ort_set: Shrunk, tmp_path: Path, installer: str
) -> None:
    target = tmp_path / "site"
    proc = install_offline(installer, ort_set.out, target)
    assert proc.returncode == 0, proc.stderr
    # -S: no site-packages of this interpreter, so numpy and onnxruntime can only come from the installed set
    env = {**offline_env(), "PYTHONPATH": str(target)}
    run = subprocess.run([sys.executable, "-S", ORT_CHECK], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert run.returncode == 0 and run.stdout.startswith("onnxruntime [["), run.stderr


# ------------------------------------------------------------------------------------- --target and budgets


def test_the_installed_size_is_what_pip_put_in_the_target(ort_set: Shrunk) -> None:
    summary = ort_set.report["set"]
    target = Path(summary["target"])
    assert summary["pip_installed"] == summary["installed"] == regular_bytes(target)
    assert summary["installed_budget"] == 1_000_000_000 and summary["over_installed_budget"] is False
    assert all(d["pip_installed"] for d in summary["distributions"])
    assert sum(d["pip_installed"] for d in summary["distributions"]) <= summary["pip_installed"]
    assert "within budget" in ort_set.proc.stdout and "over budget" not in ort_set.proc.stderr.lower()


def test_a_set_over_its_installed_budget_exits_3(cache: Path, tmp_path: Path) -> None:
    target, report = tmp_path / "target", tmp_path / "report.json"
    args = ["requests==2.32.3", *LINUX, "-w", tmp_path / "out", "--cache-dir", cache, "--json", report]
    proc = shrink_set(*args, "--target", target, "--max-installed-size", "1KB")
    assert proc.returncode == ExitCode.OVER_BUDGET, proc.stderr
    line = one_error_line(proc)
    summary = json.loads(report.read_text())["set"]
    assert line.startswith("slimwheel: over budget: the set installs to ") and "(as pip installed it)" in line
    assert line.endswith("over --max-installed-size 1 kB") and summary["over_installed_budget"] is True
    assert summary["pip_installed"] == regular_bytes(target) > 1000
    assert "OVER BUDGET" in proc.stdout


# ------------------------------------------------------------------------------------------------ usage errors


@pytest.fixture(scope="module")
def pure_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("pure")
    return SynthWheel("plain", files={"plain/__init__.py": b"X = 1\n"}).build(directory)


TARGET_OPTIONS = "--platform, --python-version, --implementation, --abi and the index options choose what pip"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param([], "nothing to shrink: give wheel files, requirements (numpy==2.4.6) or -r FILE", id="none"),
        pytest.param(["WHEEL", "--platform", "manylinux_2_28_x86_64"], TARGET_OPTIONS, id="platform-with-wheels"),
        pytest.param(["WHEEL", "--no-index"], TARGET_OPTIONS, id="index-with-wheels"),
        pytest.param(["not a req!!"], "'not a req!!' is neither a wheel file, a directory of wheels nor", id="junk"),
        pytest.param(
            ["requests==2.32.3", "--dry-run", "--target", "TARGET"],
            "--target installs the written wheels; --dry-run writes none",
            id="target-dry-run",
        ),
    ],
)
def test_usage_errors_are_one_line_before_anything_is_touched(
    args: list[str], message: str, pure_wheel: Path, tmp_path: Path
) -> None:
    out, target = tmp_path / "out", tmp_path / "target"
    given = [{"WHEEL": str(pure_wheel), "TARGET": str(target)}.get(a, a) for a in args]
    proc = slimwheel("shrink", *given, "-w", out, "--cache-dir", tmp_path / "cache")
    assert proc.returncode == ExitCode.BAD_INPUT, proc.stderr
    assert one_error_line(proc).startswith(f"slimwheel: error: {message}")
    assert not out.exists() and not target.exists() and not (tmp_path / "cache").exists()


def test_a_requirement_with_no_wheel_for_the_target_is_one_line(tmp_path: Path) -> None:
    out, cache = tmp_path / "out", tmp_path / "cache"
    proc = slimwheel("shrink", "docopt==0.6.2", *LINUX, "-w", out, "--cache-dir", cache)
    line = one_error_line(proc)
    if "has no wheel" not in line:
        missing(f"the index is out of reach: {line}")
    assert proc.returncode == FetchError.exit_code == ExitCode.BAD_INPUT
    log = cache / "wheels" / "sets" / "pip-download-closure-manylinux_2_28_x86_64-3.11.log"
    assert line == (
        "slimwheel: error: docopt==0.6.2 has no wheel for manylinux_2_28_x86_64, CPython 3.11 (sdist only, or no "
        "such release): build it on that platform, or pass --find-links DIR with a wheel you built "
        f"(full log: {log})"
    )
    assert log.is_file() and not out.exists()


# -------------------------------------------------------------------------------------------------- duplicates


def test_a_library_vendored_by_two_wheels_is_reported(tmp_path: Path) -> None:
    library = compile_shared_lib(tmp_path / "build").read_bytes()
    tag = native_tag()
    first = SynthWheel("alpha", tag=tag, purelib=False, files={"alpha/__init__.py": b"", "alpha/libhelper.so": library})
    second = SynthWheel("beta", tag=tag, purelib=False,
                        files={"beta/__init__.py": b"", "beta.libs/libhelper-0a1b2c3d.so": library})  # fmt: skip
    wheels = [first.build(tmp_path / "in"), second.build(tmp_path / "in")]
    out, target, report = tmp_path / "out", tmp_path / "target", tmp_path / "report.json"
    proc = slimwheel("shrink", *wheels, "-w", out, "--target", target, "--json", report)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(report.read_text())["set"]
    assert summary["requirements_file"] is None and not (out / REQUIREMENTS).exists()  # wheel files: no pins
    assert summary["pip_installed"] == regular_bytes(target)
    (duplicate,) = summary["duplicates"]
    copies = [(c["wheel"], c["path"]) for c in duplicate["copies"]]
    assert copies == [(wheels[0].name, "alpha/libhelper.so"), (wheels[1].name, "beta.libs/libhelper-0a1b2c3d.so")]
    assert duplicate["wasted"] == duplicate["size"] > 0
    where = f"{wheels[0].name}:alpha/libhelper.so, {wheels[1].name}:beta.libs/libhelper-0a1b2c3d.so"
    assert "duplicate library (" in proc.stdout and f"2 copies): {where}" in proc.stdout


# ------------------------------------------------------------------------- bugs these tests found (now fixed)


def test_a_target_that_is_not_empty_is_refused_before_anything_is_written(pure_wheel: Path, tmp_path: Path) -> None:
    target = tmp_path / "target"
    target.mkdir()
    (target / "something").write_text("already here\n")
    proc = slimwheel("shrink", pure_wheel, "-w", tmp_path / "out", "--target", target)
    assert proc.returncode == ExitCode.BAD_INPUT
    assert one_error_line(proc).endswith("the install target must be a new or empty directory")
    assert not (tmp_path / "out").exists() and [p.name for p in target.iterdir()] == ["something"]


def test_wheel_files_of_another_platform_install_into_a_target(tmp_path: Path) -> None:
    wheel = SynthWheel("winonly", tag="cp311-cp311-win_amd64", purelib=False, files={"winonly/__init__.py": b"X = 1\n"})
    target = tmp_path / "target"
    proc = slimwheel("shrink", wheel.build(tmp_path / "in"), "-w", tmp_path / "out", "--target", target,
                     "--platform", "win_amd64", "--python-version", "3.11")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert (target / "winonly" / "__init__.py").is_file()


def test_a_direct_reference_is_a_requirement(pure_wheel: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    reference = f"plain @ {pure_wheel.as_uri()}"
    proc = slimwheel("shrink", reference, "--no-index", "-w", out, "--cache-dir", tmp_path / "cache")
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in out.iterdir()) == [pure_wheel.name, REQUIREMENTS]


def test_a_set_with_a_refused_wheel_gets_no_pins_and_no_install(tmp_path: Path) -> None:
    links = tmp_path / "links"
    SynthWheel("good", files={"good/__init__.py": b"X = 1\n"}, metadata_extra="Requires-Dist: bad==1.0").build(links)
    SynthWheel("bad", files={"bad/__init__.py": b"Y = 2\n"}).build(
        links, mutate=lambda entries: [(p, d + b"#" if p == "bad/__init__.py" else d, m) for p, d, m in entries]
    )  # its RECORD no longer matches
    out, target, report = tmp_path / "out", tmp_path / "target", tmp_path / "report.json"
    args = ["good==1.0", "--no-index", "--find-links", links, "-w", out, "--cache-dir", tmp_path / "cache"]
    proc = slimwheel("shrink", *args, "--target", target, "--json", report)
    assert proc.returncode == ExitCode.BAD_INPUT
    assert "bad-1.0-py3-none-any.whl: RECORD check failed" in proc.stderr
    assert not (out / REQUIREMENTS).exists() and not target.exists()
    assert json.loads(report.read_text())["set"]["requirements_file"] is None
