"""Trial deletion (``shrink --check``) on real wheels: numpy with a linalg/fft check, onnxruntime running a model.

Each test shrinks a real wheel against a check script it writes itself, then proves the result outside slimwheel:
``pip install --target`` into a fresh directory and the same check in a fresh interpreter that sees nothing but
that directory (a ``venv --without-pip``, so not even this virtual environment's numpy can stand in).

The check environments live in one cache directory per test run (shared by pytest-xdist workers), so each is
built once.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath

import pytest
import wheelcache
from smoke_checks import NUMPY_CHECK, ONNX_CHECK, build_model
from wheelcache import NUMPY_LINUX, ONNXRUNTIME_LINUX

from slimwheel import shrink as pipeline
from slimwheel.check import Check
from slimwheel.contents import read_wheel
from slimwheel.licences import licence_paths
from slimwheel.options import CheckOptions, Learn, ShrinkOptions
from slimwheel.report import WheelReport
from slimwheel.trial import TrialOptions

pytestmark = pytest.mark.realwheel

MB = 1_000_000
#: The README's figure for onnxruntime 1.31.1 manylinux with the Gemm + Relu model check (after trial deletion).
ONNX_EXPECTED = 11.68 * MB
#: Phases that run in every trial whatever the result: they are not part of "runs until verified".
FIXED_PHASES = frozenset({"baseline", "stubs", "confirm"})


@pytest.fixture(scope="session")
def trial_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache directory (check environments, journals) for the whole run, shared by xdist workers."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent
    cache = root / "trial-cache"
    cache.mkdir(exist_ok=True)
    return cache


@pytest.fixture(scope="session")
def bare_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An interpreter without any third-party package: a fresh ``venv --without-pip``."""
    root = tmp_path_factory.mktemp("bare-venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    python = root / "bin" / "python"
    probe = subprocess.run([str(python), "-I", "-c", "import numpy"], capture_output=True)
    assert probe.returncode != 0, "the bare interpreter must not see any numpy"
    return python


def pip_target(target: Path, *wheels: Path | str) -> Path:
    cmd = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--disable-pip-version-check"]
    subprocess.run([*cmd, "--target", str(target), *map(str, wheels)], check=True)
    return target


def run_check(python: Path, target: Path, check: Path) -> subprocess.CompletedProcess[str]:
    """The check in an isolated interpreter that sees only ``target`` (and the standard library)."""
    code = f"import sys; sys.path.insert(0, {str(target)!r}); exec(open({str(check)!r}).read())"
    return subprocess.run([str(python), "-I", "-c", code], capture_output=True, text=True, cwd=target.parent)


def shrink_checked(
    wheel: Path, out: Path, cache: Path, check: Path, with_wheels: tuple[Path, ...] = (), **options: bool
) -> WheelReport:
    trial = TrialOptions(checks=(Check.script(check),), jobs=2, **options)
    check_options = CheckOptions(trial=trial, with_wheels=with_wheels, cache_dir=cache)
    out.mkdir(parents=True, exist_ok=True)
    (report,) = pipeline.run([wheel], out, ShrinkOptions(), Learn(check_options))
    return report


def names(path: Path | str) -> set[str]:
    with zipfile.ZipFile(path) as zf:
        return {info.filename for info in zf.infolist() if not info.is_dir()}


def assert_licences_kept(source: Path, output: Path, record_property: Callable[[str, object], None]) -> None:
    """Every licence or notice file of ``source`` is in ``output``, byte for byte, though the check opens none."""
    licences = licence_paths(read_wheel(source))
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(output) as zout:
        out = set(zout.namelist())
        kept = {name for name in licences if name in out and zout.read(name) == zin.read(name)}
    outside = sorted(p for p in licences if ".dist-info/" not in p)
    record_property(
        "slimwheel-numbers",
        f"{source.name} with a check: {len(licences)} licence/notice files in, {len(kept)} out ({', '.join(outside)})",
    )
    assert outside and kept == licences, sorted(licences - kept)


def runs_until_verified(report: WheelReport) -> int:
    assert report.check is not None
    return sum(n for phase, n in report.check.runs.items() if phase not in FIXED_PHASES)


def test_numpy_linalg_fft_check_keeps_only_what_it_needs(
    trial_cache: Path,
    bare_python: Path,
    shrunk: Callable[[wheelcache.RealWheel], object],
    tmp_path: Path,
    record_property: Callable[[str, object], None],
) -> None:
    source = wheelcache.fetch(NUMPY_LINUX)
    rules_only = shrunk(NUMPY_LINUX).report  # type: ignore[attr-defined]
    check = tmp_path / "numpy_check.py"
    check.write_text(NUMPY_CHECK)

    report = shrink_checked(source, tmp_path / "out", trial_cache, check)
    assert report.check is not None and report.output is not None
    runs = report.check.runs
    print("numpy trial runs per phase:", runs, f"in {report.check.seconds:.1f} s")
    assert runs["baseline"] >= 2 and runs["confirm"] >= 1
    assert runs_until_verified(report) <= 3, runs  # the trace, its verification, at most one repair
    assert not report.check.interrupted

    after, rules = report.after.total, rules_only.after.total
    record_property(
        "slimwheel-numbers",
        f"numpy trial: {report.before.archive / MB:.2f} MB -> rules only {rules_only.after.archive / MB:.2f} MB -> "
        f"with check {report.after.archive / MB:.2f} MB ({rules.files} -> {after.files} files, "
        f"installed {rules.installed / MB:.1f} -> {after.installed / MB:.1f} MB), runs {runs}",
    )
    # Almost all bytes are in OpenBLAS and _multiarray_umath, which the check needs; the file count shows the rest.
    assert report.after.archive <= 0.9 * rules_only.after.archive
    assert after.installed <= 0.9 * rules.installed
    assert after.files <= 0.5 * rules.files

    out = Path(report.output)
    unpacked = subprocess.run(
        [sys.executable, "-m", "wheel", "unpack", "-d", str(tmp_path / "unpacked"), str(out)],
        capture_output=True,
        text=True,
    )
    assert unpacked.returncode == 0, unpacked.stderr

    kept, original = names(out), names(source)
    for package in ("numpy/linalg/", "numpy/fft/"):
        assert f"{package}__init__.py" in kept
        assert any(n.startswith(package) and n.endswith(".so") for n in kept), f"no extension module of {package}"
    random_so = {n for n in original if n.startswith("numpy/random/") and n.endswith(".so")}
    assert random_so and not random_so & kept
    for name in kept:
        for parent in PurePosixPath(name).parents:
            init = f"{parent}/__init__.py"
            if str(parent) != "." and init in original:
                assert init in kept, f"{name} is kept but {init} is not"
    dist_info = {n for n in original if n.startswith("numpy-2.4.6.dist-info/")}
    assert dist_info and dist_info <= kept
    assert_licences_kept(source, out, record_property)

    # The result works outside slimwheel, exactly like the original.
    slim = run_check(bare_python, pip_target(tmp_path / "slim", out), check)
    assert slim.returncode == 0, slim.stderr
    full = run_check(bare_python, pip_target(tmp_path / "full", source), check)
    assert full.returncode == 0, full.stderr
    assert slim.stdout == full.stdout and "eigvalsh" in slim.stdout


def test_onnxruntime_runs_a_model_after_trial_deletion(
    trial_cache: Path, bare_python: Path, tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    model, weights = build_model(tmp_path)
    check = tmp_path / "onnx_check.py"
    check.write_text(ONNX_CHECK.format(model=str(model), weights=str(weights)))
    source, numpy_wheel = wheelcache.fetch(ONNXRUNTIME_LINUX), wheelcache.fetch(NUMPY_LINUX)

    report = shrink_checked(source, tmp_path / "out", trial_cache, check, with_wheels=(numpy_wheel,))
    assert report.check is not None and report.output is not None
    out = Path(report.output)
    kept = names(out)
    line = (
        f"onnxruntime trial: {source.stat().st_size / MB:.2f} MB -> {out.stat().st_size / MB:.2f} MB "
        f"(issue target <= 12 MB), {len(names(source))} -> {len(kept)} files, runs {report.check.runs} "
        f"in {report.check.seconds:.1f} s"
    )
    print(line)
    record_property("slimwheel-numbers", line)
    # README: 23.75 -> 11.65 MB; 11.68 MB since every licence and notice file is kept
    assert out.stat().st_size == pytest.approx(ONNX_EXPECTED, rel=0.02), out.stat().st_size
    assert any(n.startswith("onnxruntime/capi/onnxruntime_pybind11_state") for n in kept)
    assert_licences_kept(source, out, record_property)
    # a plain shared library (no PyInit_) is never replaced by a .py stub
    assert not [n for n in kept if n.startswith("onnxruntime/capi/lib") and n.endswith(".py")]

    target = pip_target(tmp_path / "target", out, numpy_wheel)
    result = run_check(bare_python, target, check)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("onnxruntime 1.31.1 ")


def test_numpy_blind_reduction_needs_few_runs_per_file(
    trial_cache: Path, tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    """Without a trace (a non-Python check, or --no-trace) the reduction keeps each candidate's static import
    closure together, so it spends far fewer runs than files (issue target: at most 0.4 x the files)."""
    source = wheelcache.fetch(NUMPY_LINUX)
    check = tmp_path / "numpy_check.py"
    check.write_text(NUMPY_CHECK)
    report = shrink_checked(source, tmp_path / "out", trial_cache, check, trace=False, stubs=False)
    assert report.check is not None
    runs = report.check.runs
    files_in = report.after.total.files + report.check.removed  # the files the trial started from
    searched = runs_until_verified(report)
    record_property(
        "slimwheel-numbers",
        f"numpy --no-trace: {searched} runs for {files_in} files ({searched / files_in:.2f} x), "
        f"{report.after.total.files} files kept, {report.after.archive / MB:.2f} MB",
    )
    assert "trace" not in runs and searched <= 0.4 * files_in, runs
    assert report.after.total.files <= 0.5 * files_in
