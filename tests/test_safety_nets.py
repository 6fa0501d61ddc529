"""The safety nets of trial deletion, each shown to hold by a test that fails when the net is broken.

* **confirm**: a check that fails a confirmation run makes slimwheel fall back to a larger verified set, say so,
  and write a wheel that passes the check (installed by pip); a check that fails once during the search too.
* **Ctrl-C**: a real SIGINT to the ``slimwheel`` process group mid-search: exit 130, the best verified set is
  written (files removed, and it passes the check), no check process is left alive, and ``--resume`` finishes
  with fewer runs than a fresh run and the same bytes as an uninterrupted run.
* **the journal key**: every input that can change a verdict changes the journal, so ``--resume`` never reuses
  a verdict of another check, interpreter, environment, option or wheel; journals are pruned; ``slimwheel cache``.
* **real wheels in CI**: a wheel that can't be downloaded fails the test when ``CI`` is set, never skips it.

The check (:data:`CHECK`) is steered by a JSON file outside every candidate tree: a run counter decides which runs
fail spuriously, and each run may record its pid and the pid of a child it leaves running.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any, cast

import pytest
import wheelcache
from synth import SynthWheel

from slimwheel import shrink as pipeline
from slimwheel.binaries import StripLevel
from slimwheel.check import Check
from slimwheel.cli import main
from slimwheel.journal import MAX_AGE, JournalInputs, journal_key, prune_journals
from slimwheel.options import CheckOptions, Learn, ShrinkOptions
from slimwheel.report import WheelReport
from slimwheel.rules import Patterns
from slimwheel.sandbox import Sandbox
from slimwheel.trial import Trial, TrialOptions
from slimwheel.units import human_size

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="checks run on Linux; reads /proc")

NEEDED = {
    "netpkg/__init__.py",
    "netpkg/core.py",
    "netpkg/data/needed.txt",
    "netpkg/sub/__init__.py",
    "netpkg/sub/mod.py",
    *(f"netpkg/extras/group{g}/table.txt" for g in range(4)),
}
CORE = b"""import os
from .sub import mod
HERE = os.path.dirname(__file__)

def read(*parts):
    with open(os.path.join(HERE, *parts)) as fh:
        return int(fh.read())

def compute():
    return read("data", "needed.txt") + mod.VALUE + sum(read("extras", f"group{g}", "table.txt") for g in range(4))
"""
CHECK = """\
import fcntl, json, os, subprocess, time
config = json.load(open({config!r}))
with open(config["counter"], "a+") as fh:  # the run counter, outside every candidate tree
    fcntl.flock(fh, fcntl.LOCK_EX)
    fh.seek(0)
    run = int(fh.read() or 0) + 1
    fh.seek(0)
    fh.truncate()
    fh.write(str(run))
if config.get("pids"):  # leave a child running: only the sandbox's kill of the whole process group ends it
    child = subprocess.Popen(["sleep", "60"])
    record = os.path.join(config["pids"], str(os.getpid()))
    with open(record + ".part", "w") as fh:  # renamed when complete: an interrupt may land between open and write
        fh.write(str(child.pid))
    os.rename(record + ".part", record)
time.sleep(config.get("sleep", 0))
import netpkg
if run in config.get("fail_at", []):
    raise SystemExit("spurious failure on run %d" % run)
assert netpkg.core.compute() == 42, netpkg.core.compute()
print("ok")
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """netpkg: 9 files the check needs (5 of them data files, which no static analysis finds), a module imported
    at start-up only (a stub candidate), 66 files nobody needs."""
    files = {
        "netpkg/__init__.py": b"from . import core\nfrom . import startup_only\n",
        "netpkg/core.py": CORE,
        "netpkg/startup_only.py": b"def helper():\n    return 'unused'\n" + b"# padding\n" * 300,
        "netpkg/data/needed.txt": b"40",
        "netpkg/sub/__init__.py": b"",
        "netpkg/sub/mod.py": b"VALUE = 2\n",
    }
    for i in range(48):
        files[f"netpkg/extras/group{i % 4}/mod{i}.py"] = f"X = {i}\n".encode() * 40
    for g in range(4):
        files[f"netpkg/extras/group{g}/table.txt"] = b"0"
        files[f"netpkg/extras/group{g}/spare.txt"] = b"1" * 500
        files[f"netpkg/extras/group{g}/notes.txt"] = b"2" * 300
    for i in range(6):
        files[f"netpkg/data/unused{i}.bin"] = bytes([i]) * 2000
    return SynthWheel(name="netpkg", version="1.0", files=files).build(tmp_path_factory.mktemp("dist"))


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Check environments and journals, shared by this module's tests."""
    return tmp_path_factory.mktemp("cache")


@dataclasses.dataclass
class Steered:
    """The check script and the file outside every tree that steers it."""

    script: Path
    config: Path
    counter: Path

    def set(self, **values: Any) -> None:
        """New settings (``fail_at``: run numbers that fail; ``sleep``; ``pids``: a directory); counter reset."""
        self.config.write_text(json.dumps({"counter": str(self.counter), **values}))
        self.counter.write_text("0")

    @property
    def runs(self) -> int:
        return int(self.counter.read_text() or 0)


@pytest.fixture
def steered(tmp_path: Path) -> Steered:
    config = tmp_path / "steer.json"
    script = tmp_path / "check_netpkg.py"
    script.write_text(CHECK.format(config=str(config)))
    check = Steered(script, config, tmp_path / "runs")
    check.set()
    return check


def shrink_checked(
    wheel: Path,
    out: Path | None,
    cache: Path,
    checks: tuple[Check, ...],
    *,
    shrink: ShrinkOptions | None = None,
    python: Path | None = None,
    requirements: tuple[str, ...] = (),
    with_wheels: tuple[Path, ...] = (),
    **trial: Any,
) -> WheelReport:
    options = CheckOptions(
        trial=TrialOptions(checks=checks, jobs=1, **trial),
        python=python,
        requirements=requirements,
        with_wheels=with_wheels,
        cache_dir=cache,
    )
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    (report,) = pipeline.run([wheel], out, shrink or ShrinkOptions(), Learn(options))
    return report


def members(path: Path | str) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {i.filename: zf.read(i) for i in zf.infolist() if ".dist-info/" not in i.filename}


def passes_when_installed(wheel: Path | str, steered: Steered, tmp: Path) -> None:
    """pip installs ``wheel`` into a fresh target; the check, run against only that, passes (no spurious fails)."""
    steered.set()
    target = tmp / "target"
    pip = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--disable-pip-version-check"]
    subprocess.run([*pip, "--target", str(target), str(wheel)], check=True)
    code = f"import sys; sys.path.insert(0, {str(target)!r}); exec(open({str(steered.script)!r}).read())"
    proc = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, cwd=tmp)
    assert proc.returncode == 0 and proc.stdout == "ok\n", proc.stderr


# ---- confirm: the final set must pass more runs, else a larger verified set ships --------------------------------


@pytest.mark.parametrize("failing", [(0,), (0, 1)], ids=["first-confirmation", "first-two-confirmations"])
def test_a_failed_confirmation_falls_back_to_a_larger_verified_set(
    failing: tuple[int, ...], wheel: Path, cache: Path, steered: Steered, tmp_path: Path
) -> None:
    check = (Check.script(steered.script),)
    calibration = shrink_checked(wheel, None, cache, check)  # how many runs come before the confirmation
    assert calibration.check is not None and calibration.check.stubs == ["netpkg.startup_only (1 file replaced)"]
    assert calibration.check.runs["confirm"] == 3 and not calibration.check.notes
    first_confirmation = steered.runs - 2
    steered.set(fail_at=[first_confirmation + i for i in failing])

    report = shrink_checked(wheel, tmp_path / "wh", cache, check)
    assert report.check is not None and report.output is not None
    assert any("failed a confirmation run" in note for note in report.check.notes), report.check.notes
    assert steered.runs > first_confirmation + max(failing)  # the spurious failures did happen
    assert report.check.stubs == []  # the stubbed set failed: the same files without stubs, or everything
    after, before = members(report.output), members(wheel)
    assert after["netpkg/startup_only.py"] == before["netpkg/startup_only.py"]
    if failing == (0,):  # the reduced set without stubs passed three more runs: it ships
        assert set(after) == set(members(calibration.output or wheel)) - {r.path for r in calibration.removed}
        assert len(report.removed) == len(calibration.removed) > 40
    else:  # that failed too: everything ships
        assert after == before and report.removed == []
    passes_when_installed(report.output, steered, tmp_path)


@pytest.mark.parametrize("fail_at", [5, 9])
def test_a_check_failing_once_during_the_search_still_gives_a_working_wheel(
    fail_at: int, wheel: Path, cache: Path, steered: Steered, tmp_path: Path
) -> None:
    """Runs 1-4 are the baseline (a spurious failure there refuses the check as flaky); 5 is the full set that
    starts the blind search, the others are deletions tried during it."""
    steered.set(fail_at=[fail_at])
    report = shrink_checked(wheel, tmp_path / "wh", cache, (Check.script(steered.script),), trace=False)
    assert report.check is not None and report.output is not None and not report.check.interrupted
    assert steered.runs > fail_at  # the spurious failure did happen
    assert set(members(report.output)) >= NEEDED
    assert report.check.notes == []  # the search's result was verified: no confirmation run had to catch it
    if fail_at == 5:  # the search's start failed: nothing it could build on, everything is kept
        assert report.check.runs["reduce"] == 1 and set(members(report.output)) == set(members(wheel))
    else:  # a deletion failed: that part is kept, the search goes on
        assert report.check.runs["reduce"] > 10 and len(report.removed) > 30
    passes_when_installed(report.output, steered, tmp_path)


# ---- Ctrl-C: a real SIGINT mid-search, then --resume ------------------------------------------------------------


def alive(pid: int) -> bool:
    """Whether ``pid`` is a running process (a zombie waiting for its reaper counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def wait_for_reduction(journals: Path, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    """Poll the journal until it shows a verified reduction: a second passing candidate (the first is the full set
    that starts the blind search)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "slimwheel ended before the search was under way"
        lines = [line for path in journals.glob("*.jsonl") for line in path.read_text().splitlines()]
        if sum(json.loads(line)["passed"] for line in lines if line.endswith("}")) >= 2:
            return
        time.sleep(0.02)
    raise AssertionError("no verified reduction in the journal")


def wait_for_next_check(pids: Path, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    """Wait until one more check run has started (and left its child running)."""
    started = len(list(pids.glob("[0-9]*[0-9]")))
    deadline = time.monotonic() + timeout
    while len(list(pids.glob("[0-9]*[0-9]"))) == started:
        assert proc.poll() is None and time.monotonic() < deadline, "no further check run started"
        time.sleep(0.005)


@dataclasses.dataclass
class CliRun:
    code: int
    check: dict[str, Any]  # the JSON report's "check" section
    wheel: Path  # the written wheel


def start_shrink(wheel: Path, script: Path, tmp: Path, name: str, *extra: str) -> subprocess.Popen[bytes]:
    """``slimwheel shrink`` in a subprocess, in a session (a process group) of its own; output in ``tmp/name``."""
    args = [wheel, "--check", script, "--cache-dir", tmp / "cache", "--no-trace", "--no-stubs", *extra]
    args += ["-w", tmp / name, "--json", tmp / f"{name}.json"]
    environ = {k: v for k, v in os.environ.items() if k != "SOURCE_DATE_EPOCH"}
    # SIGINT as a user's terminal has it: a shell runs background jobs (CI runners often do) with SIGINT ignored,
    # which every child inherits and which slimwheel rightly respects; the test restores the default first.
    start = "import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    start += "sys.argv = ['slimwheel', *sys.argv[1:]]; runpy.run_module('slimwheel', run_name='__main__')"
    command = [sys.executable, "-c", start, "shrink", *map(str, args)]
    return subprocess.Popen(
        command, cwd=tmp, env=environ, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
    )


def finish_shrink(proc: subprocess.Popen[bytes], tmp: Path, name: str) -> CliRun:
    _, err = proc.communicate(timeout=120)
    assert proc.returncode in (0, 130), err.decode()
    (report,) = json.loads((tmp / f"{name}.json").read_text())["wheels"]
    return CliRun(proc.returncode, report["check"], Path(report["output"]))


def test_sigint_writes_the_best_verified_set_and_resume_finishes_the_same(
    wheel: Path, steered: Steered, tmp_path: Path
) -> None:
    pids = tmp_path / "pids"
    pids.mkdir()
    steered.set(sleep=0.1, pids=str(pids))  # slower runs, each leaving a child running
    proc = start_shrink(wheel, steered.script, tmp_path, "cut", "-j", "1")
    wait_for_reduction(tmp_path / "cache" / "journals", proc)
    wait_for_next_check(pids, proc)  # so that the interrupt lands while a check runs
    os.killpg(os.getpgid(proc.pid), signal.SIGINT)
    cut = finish_shrink(proc, tmp_path, "cut")
    assert cut.code == 130 and cut.check["interrupted"] is True and "confirm" not in cut.check["phases"]
    assert cut.check["removed"] > 0  # the best verified set, not everything
    # a check interrupted before its record was complete leaves a ``.part`` file: its own pid is still known
    checks = {int(p.name.removesuffix(".part")): int(p.read_text() or 0) for p in pids.iterdir()}
    left = [pid for pid in [*checks, *checks.values()] if pid and alive(pid)]
    assert checks and not left  # no check process left
    passes_when_installed(cut.wheel, steered, tmp_path / "cut-installed")

    steered.set()
    resumed = finish_shrink(
        start_shrink(wheel, steered.script, tmp_path, "resumed", "-j", "1", "--resume"), tmp_path, "resumed"
    )
    resumed_runs = steered.runs
    steered.set()
    fresh = finish_shrink(start_shrink(wheel, steered.script, tmp_path, "fresh", "-j", "1"), tmp_path, "fresh")
    print(
        "check runs: interrupted",
        cut.check["phases"],
        "resumed",
        resumed.check["phases"],
        "fresh",
        fresh.check["phases"],
    )
    assert resumed.code == fresh.code == 0
    assert [n for n in resumed.check["notes"] if n.startswith("--resume: continuing from")], resumed.check["notes"]
    assert resumed_runs < steered.runs and resumed.check["runs"] < fresh.check["runs"]
    assert resumed.wheel.read_bytes() == fresh.wheel.read_bytes()
    assert fresh.check["removed"] > cut.check["removed"]  # the interrupt did land mid-search


# ---- the journal key: any input that can change a verdict means no reuse -----------------------------------------

BASE_INPUTS = JournalInputs(
    files=(("netpkg/__init__.py", "a" * 64), ("netpkg/core.py", "b" * 64)),
    checks=("check-identity",),
    interpreter="/usr/bin/python3.11 3.11.7",
    requirements=("six",),
    with_wheels=("c" * 64,),
    same_output=False,
    timeout=None,
    rules=("SW001", "SW002"),
    prune=("docs/",),
    keep=("docs/keep.txt",),
    strip="unneeded",
)
CHANGED_INPUTS: dict[str, Any] = {
    "files": (("netpkg/__init__.py", "a" * 64), ("netpkg/core.py", "d" * 64)),
    "checks": ("check-identity", "another-check"),
    "interpreter": "/usr/bin/python3.11 3.11.8",
    "requirements": ("six", "attrs"),
    "with_wheels": ("e" * 64,),
    "same_output": True,
    "timeout": 30.0,
    "rules": ("SW001",),
    "prune": ("docs/", "tests/"),
    "keep": (),
    "strip": "debug",
}


def test_every_field_of_the_journal_inputs_is_in_the_key() -> None:
    assert set(CHANGED_INPUTS) == {f.name for f in dataclasses.fields(JournalInputs)}
    base = journal_key(BASE_INPUTS)
    keys = {
        name: journal_key(dataclasses.replace(BASE_INPUTS, **{name: value})) for name, value in CHANGED_INPUTS.items()
    }
    assert base not in keys.values() and len(set(keys.values())) == len(keys), keys
    # order doesn't matter where it changes nothing; it does for the checks, which run in order
    shuffled = dataclasses.replace(BASE_INPUTS, files=BASE_INPUTS.files[::-1], rules=("SW002", "SW001"))
    assert journal_key(shuffled) == base
    two = dataclasses.replace(BASE_INPUTS, checks=("x", "y"))
    assert journal_key(two) != journal_key(dataclasses.replace(two, checks=("y", "x")))


@pytest.fixture(scope="module")
def keyed(wheel: Path, cache: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, WheelReport]:
    """(check script, helper wheel, report of the fresh run whose journal the cases try to resume)."""
    tmp = tmp_path_factory.mktemp("keyed")
    script = tmp / "check.py"
    script.write_text("import netpkg\nassert netpkg.core.compute() == 42\nprint('ok')\n")
    helper = SynthWheel(name="helperpkg", version="0.1", files={"helperpkg/__init__.py": b"X = 1\n"}).build(tmp)
    report = shrink_checked(wheel, None, cache, (Check.script(script),), stubs=False)
    return script, helper, report


def other_interpreter(tmp: Path) -> Path:
    """Another interpreter: a copy of this one (same version, another path)."""
    base = Path(os.path.realpath(getattr(sys, "_base_executable", sys.executable)))
    copy = tmp / "bin" / base.name
    copy.parent.mkdir(parents=True)
    copy.write_bytes(base.read_bytes())
    copy.chmod(0o755)
    return copy


CASES = [
    "nothing",
    "wheel",
    "check-script",
    "check-command",
    "python",
    "with",
    "with-wheel",
    "same-output",
    "timeout",
    "rules",
    "patterns",
    "strip",
]


def variant(case: str, wheel: Path, script: Path, helper: Path, tmp: Path) -> tuple[Path, dict[str, Any]]:
    """The wheel and the options of a resumed run that changes one input (``nothing``: the same run again)."""
    options: dict[str, Any] = {"checks": (Check.script(script),)}
    if case == "wheel":  # one unused file changed
        files = members(wheel) | {"netpkg/data/unused0.bin": b"changed"}
        wheel = SynthWheel(name="netpkg", version="1.0", files=files).build(tmp / "dist")
    elif case == "check-command":
        options["checks"] = (Check(("python", str(script.resolve()), "--verbose"), script.name),)
    elif case == "python":
        options["python"] = other_interpreter(tmp)
    elif case == "with":
        options["requirements"] = (str(helper),)
    elif case == "with-wheel":
        options["with_wheels"] = (helper,)
    elif case in ("same-output", "timeout"):
        options[{"same-output": "same_output", "timeout": "timeout"}[case]] = True if case == "same-output" else 30.0
    elif case in ("rules", "patterns", "strip"):  # none of them changes a file of netpkg: only the key sees them
        shrink = {
            "rules": ShrinkOptions(rules=()),
            "patterns": ShrinkOptions(patterns=Patterns(["nothing/matches/"])),
            "strip": ShrinkOptions(strip=StripLevel.NONE),
        }
        options["shrink"] = shrink[case]
    return wheel, options


@pytest.mark.parametrize("case", CASES)
def test_resume_reuses_the_journal_only_when_nothing_changed(
    case: str, wheel: Path, cache: Path, keyed: tuple[Path, Path, WheelReport], tmp_path: Path
) -> None:
    script, helper, fresh = keyed
    assert fresh.check is not None and fresh.check.runs["verify"] == 1
    original = script.read_text()
    if case == "check-script":
        script.write_text(original + "# edited\n")
    try:
        source, options = variant(case, wheel, script, helper, tmp_path)
        checks = options.pop("checks")
        report = shrink_checked(source, None, cache, checks, stubs=False, resume=True, **options)
    finally:
        script.write_text(original)
    assert report.check is not None
    notes = [n for n in report.check.notes if n.startswith("--resume")]
    if case == "nothing":
        assert notes and notes == ["--resume: continuing from 1 check result in the journal"], notes
        assert "verify" not in report.check.runs  # the verdict came from the journal
    else:
        assert notes and notes[0].startswith("--resume: no journal"), notes
        assert report.check.runs["verify"] == fresh.check.runs["verify"]  # run again, as in a fresh run


def test_the_reducer_takes_its_verdicts_from_the_journal(
    wheel: Path, cache: Path, steered: Steered, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The journal is the reducer's cache, keyed by the files a candidate really holds: resuming a finished blind
    search, the reducer asks its oracle (``Trial.evaluate``) nothing, so even ``--max-runs 1`` finishes it."""
    check = (Check.script(steered.script),)
    fresh = shrink_checked(wheel, None, cache, check, trace=False, stubs=False)
    asked: list[str] = []
    evaluate = Trial.evaluate

    def counted(self: Trial, *args: Any, **kwargs: Any) -> bool:
        asked.append(kwargs["phase"])
        return evaluate(self, *args, **kwargs)

    monkeypatch.setattr(Trial, "evaluate", counted)
    steered.set()
    resumed = shrink_checked(wheel, None, cache, check, trace=False, stubs=False, resume=True, max_runs=1)
    assert fresh.check is not None and resumed.check is not None
    assert fresh.check.runs["reduce"] > 10
    assert asked == [] and "reduce" not in resumed.check.runs
    assert steered.runs == resumed.check.runs["baseline"] + resumed.check.runs["confirm"]
    assert {r.path for r in resumed.removed} == {r.path for r in fresh.removed}


# ---- journals are pruned; `slimwheel cache` shows and clears the cache -------------------------------------------

DAY = 24 * 3600.0


def journal_file(directory: Path, name: str, size: int, age_days: float, now: float) -> Path:
    path = directory / f"{name}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    os.utime(path, (now - age_days * DAY, now - age_days * DAY))
    return path


def test_journals_are_pruned_by_age_then_oldest_first_by_size(tmp_path: Path) -> None:
    now = time.time()
    old = journal_file(tmp_path, "old", 10, 31, now)
    kept_old = journal_file(tmp_path, "in-use", 10, 40, now)
    a, b, c = (journal_file(tmp_path, name, 400, age, now) for name, age in (("a", 3), ("b", 2), ("c", 1)))
    other = tmp_path / "notes.txt"
    other.write_text("not a journal")
    os.utime(other, (now - 90 * DAY, now - 90 * DAY))
    assert prune_journals(tmp_path, keep=[kept_old], now=now, max_age=MAX_AGE, max_bytes=10**9) == [old]  # too old
    assert prune_journals(tmp_path, keep=[kept_old], now=now, max_bytes=1000) == [a]  # the oldest, till <= 1000 B
    assert sorted(tmp_path.iterdir()) == sorted([kept_old, b, c, other])
    assert prune_journals(tmp_path, keep=[kept_old], now=now, max_bytes=1000) == []


def test_a_trial_prunes_old_journals_when_it_starts(tmp_path: Path) -> None:
    now = time.time()
    journals = tmp_path / "journals"
    stale = journal_file(journals, "stale", 10, 31, now)
    recent = journal_file(journals, "recent", 10, 29, now)
    resumed = journal_file(journals, "resumed", 0, 45, now)
    resumed.write_text('{"key": "k", "passed": true, "phase": "verify"}\n{"key": "cut')
    os.utime(resumed, (now - 45 * DAY, now - 45 * DAY))
    options = TrialOptions(checks=(), resume=True)
    trial = Trial(cast(Sandbox, None), {}, (), options, journal=resumed)
    assert not stale.exists() and recent.exists() and resumed.exists()  # the journal in use is never pruned
    assert trial.notes == ["--resume: continuing from 1 check result in the journal"]  # a cut line is ignored
    fresh = Trial(
        cast(Sandbox, None), {}, (), dataclasses.replace(options, resume=False), journal=journals / "new.jsonl"
    )
    assert fresh.notes == [] and (journals / "new.jsonl").read_text() == "" and not resumed.exists()


def fake_cache(root: Path) -> dict[str, int]:
    """A cache directory with every section; returns the bytes written per section."""
    (root / "journals").mkdir(parents=True)
    (root / "journals" / "a.jsonl").write_bytes(b"j" * 100)
    (root / "journals" / "b.jsonl").write_bytes(b"j" * 50)
    env = root / "envs" / "cp311-0123456789abcdef"
    (env / "bin").mkdir(parents=True)
    (env / "slimwheel-env.json").write_bytes(b"e" * 1000)
    (env / "bin" / "python").symlink_to(sys.executable)  # counted by its own size, not the interpreter's
    (root / "envs" / "cp311-0123456789abcdef.lock").write_bytes(b"")
    (root / "wheels" / "linux_x86_64").mkdir(parents=True)
    (root / "wheels" / "linux_x86_64" / "numpy-2.4.6-cp311-cp311-linux_x86_64.whl").write_bytes(b"w" * 3000)
    (root / "builds" / "abc").mkdir(parents=True)
    (root / "builds" / "abc" / "x.whl").write_bytes(b"b" * 200)
    (root / "unrelated.txt").write_text("left alone")
    link = len(os.fsencode(sys.executable))
    return {"journals": 150, "envs": 1000 + link, "wheels": 3000, "builds": 200}


def test_cache_command_shows_and_clears_each_part(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "cache"
    sizes = fake_cache(root)
    assert main(["cache", "--cache-dir", str(root)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"{root}: {human_size(sum(sizes.values()))}"
    rows = {line.split()[0]: line.split()[1:4] for line in lines[1:]}
    counts = {"journals": "2", "envs": "1", "wheels": "1", "builds": "1"}
    assert rows == {name: [counts[name], *human_size(size).split()] for name, size in sizes.items()}

    assert main(["cache", "--cache-dir", str(root), "--clear", "journals"]) == 0
    assert capsys.readouterr().out == "cleared journals: 2 (150 B) of run journals (--resume)\n"
    assert not (root / "journals").exists() and (root / "envs").is_dir()
    assert main(["cache", "--cache-dir", str(root), "--clear", "envs"]) == 0
    assert not (root / "envs").exists() and (root / "wheels").is_dir() and Path(sys.executable).exists()
    assert main(["cache", "--cache-dir", str(root), "--clear"]) == 0  # everything
    assert sorted(p.name for p in root.iterdir()) == ["unrelated.txt"]
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main(["cache", "--cache-dir", str(root), "--clear", "everything"])
    assert exit_info.value.code == 2 and "invalid choice" in capsys.readouterr().err


# ---- real wheels: a download failure fails in CI, never skips ----------------------------------------------------


def outcome_of(call: Any) -> BaseException | None:
    try:
        call()
    except BaseException as exc:  # a skip, a failure and an error are all outcomes to compare
        return exc
    return None


def test_a_wheel_that_cant_be_downloaded_fails_in_ci_instead_of_skipping(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from test_binaries import wheel_members
    from test_inspection import _real

    def no_network(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        assert cmd[3] == "download"
        return subprocess.CompletedProcess(cmd, 1, "", "ERROR: No matching distribution (no network)")

    monkeypatch.setattr(wheelcache, "CACHE", tmp_path)
    monkeypatch.setattr(subprocess, "run", no_network)  # what wheelcache.fetch calls
    spec = wheelcache.RealWheel("numpy", "2.4.6", "win_amd64")
    monkeypatch.delenv("CI", raising=False)
    assert isinstance(outcome_of(lambda: wheelcache.fetch(spec)), wheelcache.DownloadFailed)
    assert isinstance(outcome_of(lambda: _real(spec)), pytest.skip.Exception)  # on a developer's machine: a skip
    for ci in ("true", "1"):
        monkeypatch.setenv("CI", ci)
        for call in (lambda: wheelcache.fetch(spec), lambda: _real(spec), lambda: list(wheel_members(spec, (".dll",)))):
            outcome = outcome_of(call)
            assert isinstance(outcome, pytest.fail.Exception), outcome
            assert "pip download numpy-2.4.6-win_amd64-py3.11 failed" in str(outcome) and "CI" in str(outcome)
    monkeypatch.setenv("CI", "")  # set but empty: not CI
    assert isinstance(outcome_of(lambda: wheelcache.fetch(spec)), wheelcache.DownloadFailed)
