"""Shared test fixtures: ``tests/`` on ``sys.path``, and real wheels shrunk once per test run.

Real wheels are 6-35 MB, so each is shrunk (with default options) once per run and the result reused: the
``run_once`` cache lives in the base temporary directory that all pytest-xdist workers of a run share, behind a
file lock, so a wheel is shrunk once even when its tests land on different workers.
"""

from __future__ import annotations

import fcntl
import os
import pickle
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

TESTS = Path(__file__).resolve().parent
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

import wheelcache  # noqa: E402  (needs tests/ on sys.path)

RunOnce = Callable[[str, Callable[[Path], Any]], Any]


@pytest.fixture(scope="session")
def run_once(tmp_path_factory: pytest.TempPathFactory) -> RunOnce:
    """``run_once(key, build)``: the picklable result of ``build(directory)``, computed once per test run."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # xdist workers' base temp dirs live side by side in the run's own directory
    root = root / "run-once"
    root.mkdir(exist_ok=True)
    memo: dict[str, Any] = {}

    def run(key: str, build: Callable[[Path], Any]) -> Any:
        if key not in memo:
            done = root / key / "result.pickle"
            with open(root / f"{key}.lock", "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                if not done.exists():
                    shutil.rmtree(done.parent, ignore_errors=True)  # a build that failed half-way
                    done.parent.mkdir()
                    result = build(done.parent)
                    done.with_suffix(".tmp").write_bytes(pickle.dumps(result))
                    done.with_suffix(".tmp").replace(done)
            memo[key] = pickle.loads(done.read_bytes())
        return memo[key]

    return run


@dataclass(frozen=True)
class Shrunk:
    input: Path
    output: Path
    report: Any  # slimwheel.report.WheelReport


@pytest.fixture(scope="session")
def shrunk(run_once: RunOnce) -> Callable[[wheelcache.RealWheel], Shrunk]:
    """``shrunk(spec)``: the real wheel ``spec`` shrunk with default options, without SOURCE_DATE_EPOCH."""
    from slimwheel.options import RulesOnly, ShrinkOptions
    from slimwheel.shrink import run

    def build(spec: wheelcache.RealWheel, directory: Path) -> Any:
        source = wheelcache.fetch(spec)
        with pytest.MonkeyPatch.context() as mp:
            mp.delenv("SOURCE_DATE_EPOCH", raising=False)
            return run([source], directory, ShrinkOptions(), RulesOnly())[0]

    def get(spec: wheelcache.RealWheel) -> Shrunk:
        report = run_once(f"shrunk-{spec.key}", lambda directory: build(spec, directory))
        return Shrunk(Path(report.input), Path(report.output), report)

    return get


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Show the numbers tests record with ``record_property("slimwheel-numbers", line)``, also from xdist workers."""
    lines = {
        value: None
        for reports in terminalreporter.stats.values()
        for report in reports
        for key, value in getattr(report, "user_properties", ())
        if key == "slimwheel-numbers"
    }
    if lines:
        terminalreporter.section("slimwheel numbers")
        for line in sorted(lines):
            terminalreporter.write_line(line)
