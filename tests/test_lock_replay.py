"""Locks end to end: learn with a check (``--save-lock``), replay with zero check runs (``--lock``), ``--verify``.

A synthetic ``calc`` wheel (a compiled extension that gets stripped, a start-up module the trial replaces by a
stub, a console script the check does not need, a module only a second check needs) shows the exact contract:
replaying a lock on the wheel it was learned on writes the very same bytes without running the check, the lock
text is stable, ``--verify`` runs each check exactly once and writes nothing when one fails, and every misuse is a
one-line usage error. Real numpy 2.4.6 then shows the point of locks: a lock learned on the manylinux wheel with a
linalg/fft check, replayed onto the win_amd64 and win32 wheels of the same version (which can't run here), gives
wheels that install with pip and uv, keep every signed PE file byte for byte, and keep what the check needs.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pefile
import pytest
import wheelcache
from smoke_checks import NUMPY_CHECK
from synth import EXT_SUFFIX, SynthWheel, compile_extension, compile_shared_lib, native_tag
from test_real_wheels import UV, UV_PLATFORMS, check_installed, natives, open_pe, pip_command, run
from test_trial_real import pip_target
from wheelcache import NUMPY_LINUX, NUMPY_WIN32, NUMPY_WIN64, ONNXRUNTIME_LINUX, SCIPY_LINUX, RealWheel

from slimwheel import shrink as pipeline
from slimwheel.binaries import describe
from slimwheel.check import Check
from slimwheel.cli import main
from slimwheel.contents import read_wheel
from slimwheel.errors import ExitCode
from slimwheel.licences import KEPT_REASON, licence_paths
from slimwheel.lock import Lock, WheelIdentity, locks_for_wheels, read_lock, write_lock
from slimwheel.lockmap import path_signature
from slimwheel.options import CheckOptions, Learn, Replay, ShrinkOptions
from slimwheel.trial import TrialOptions

MB = 1_000_000

# ---- the synthetic calc wheel ---------------------------------------------------------------------------------

INIT = b"from . import core\nfrom . import startup_only\n"
CORE = b"from calc._fast import add\n\n\ndef compute():\n    return add(40, 2)\n"
STARTUP_ONLY = b"def helper():\n    return 'imported at start-up, never used'\n" + b"# padding\n" * 300
EXTRA = b"VALUE = 7\n"
CLI = b"import calc\n\n\ndef main():\n    print(calc.core.compute())\n    return 0\n"

# Each check appends its name to a counter file first thing, so every run of it is counted, passing or not.
CHECK_CORE = """\
with open({counter!r}, "a") as fh:
    fh.write("{name}\\n")
import calc
assert calc.core.compute() == 42, calc.core.compute()
"""
CHECK_EXTRA = CHECK_CORE + "import calc.extra\nassert calc.extra.VALUE == 7\n"


def calc_files(tmp: Path) -> dict[str, bytes]:
    ext = compile_extension(tmp / "ext", "_fast")  # with -g: stripping it saves bytes
    helper = compile_shared_lib(tmp / "lib", "libhelper.so")
    return {
        "calc/__init__.py": INIT,
        "calc/core.py": CORE,
        f"calc/_fast{EXT_SUFFIX}": ext.read_bytes(),
        "calc/startup_only.py": STARTUP_ONLY,
        "calc/extra.py": EXTRA,
        "calc/cli.py": CLI,
        "calc/data/unused.bin": bytes(range(256)) * 32,
        "calc/tests/__init__.py": b"",
        "calc/tests/test_calc.py": b"import calc\n\n\ndef test_compute():\n    assert calc.core.compute() == 42\n",
        "calc/docs/guide.md": b"# calc\n\nCall `calc.core.compute()`.\n",
        "calc.libs/libhelper.so": helper.read_bytes(),
    }


def calc_wheel(tmp: Path, dist: Path, version: str = "1.0") -> Path:
    wheel = SynthWheel(
        name="calc",
        version=version,
        tag=native_tag(),
        purelib=False,
        files=calc_files(tmp),
        modes={f"calc/_fast{EXT_SUFFIX}": 0o755},
        entry_points={"console_scripts": {"calc-cli": "calc.cli:main"}},
    )
    return wheel.build(dist)


def helper_wheel(dist: Path) -> Path:
    return SynthWheel(
        name="helperpkg",
        version="0.1",
        files={
            "helperpkg/__init__.py": b"from .used import VALUE\n",
            "helperpkg/used.py": b"VALUE = 7\n",
            "helperpkg/unused.py": b"X = 1\n" * 100,
        },
    ).build(dist)


# ---- running the command line ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str


def slimwheel(capsys: pytest.CaptureFixture[str] | None, *args: object) -> Result:
    """``slimwheel ARGS`` in this process (the check environment cache makes a subprocess pointless)."""
    if capsys is not None:
        capsys.readouterr()
    code = main([str(a) for a in args])
    if capsys is None:
        return Result(code, "", "")
    captured = capsys.readouterr()
    return Result(code, captured.out, captured.err)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def members(path: Path | str) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {i.filename: zf.read(i) for i in zf.infolist() if not i.is_dir()}


def report_of(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text())
    (wheel,) = data["wheels"]
    return wheel  # type: ignore[no-any-return]


def written(directory: Path) -> list[Path]:
    return sorted(directory.iterdir()) if directory.exists() else []


@dataclass(frozen=True)
class Learned:
    wheel: Path  # the input
    input_sha: str
    lock: Path
    output: Path  # the wheel shrunk with the check
    report: dict[str, Any]
    counter: Path
    check: Path  # CHECK_CORE, counting into `counter` as "core"
    check_extra: Path  # CHECK_EXTRA, counting as "extra": also needs calc/extra.py
    cache: Path


@pytest.fixture(scope="module")
def learned(tmp_path_factory: pytest.TempPathFactory, lock_cache: Path) -> Learned:
    """``shrink calc --check core.py --save-lock calc.lock -w learned``, once for the module."""
    tmp = tmp_path_factory.mktemp("calc")
    wheel = calc_wheel(tmp / "build", tmp / "dist")
    counter = tmp / "counter.txt"
    check = tmp / "core.py"
    check.write_text(CHECK_CORE.format(counter=str(counter), name="core"))
    check_extra = tmp / "extra.py"
    check_extra.write_text(CHECK_EXTRA.format(counter=str(counter), name="extra"))
    lock, out, report = tmp / "locks" / "calc.lock", tmp / "learned", tmp / "learned.json"
    args = ["shrink", "-q", wheel, "--check", check, "--cache-dir", lock_cache, "-w", out, "--json", report]
    result = slimwheel(None, *args, "--save-lock", lock)
    assert result.code == 0
    return Learned(
        wheel, digest(wheel), lock, out / wheel.name, report_of(report), counter, check, check_extra, lock_cache
    )


@pytest.fixture(scope="session")
def lock_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Check environments for the whole run: the same directory test_trial_real's ``trial_cache`` uses, so the
    environments are built once per run whichever module gets there first (also across xdist workers)."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent
    cache = root / "trial-cache"
    cache.mkdir(exist_ok=True)
    return cache


def counts(counter: Path) -> dict[str, int]:
    lines = counter.read_text().split() if counter.exists() else []
    return {name: lines.count(name) for name in sorted(set(lines))}


# ---- 1. learn, then replay on the same wheel: the same bytes ---------------------------------------------------


def test_the_learned_lock_says_what_the_check_decided(learned: Learned) -> None:
    lock = read_lock(learned.lock)
    assert lock.wheel.filename == learned.wheel.name and lock.wheel.sha256 == learned.input_sha
    assert lock.check == Check.script(learned.check).fingerprint()
    assert [(s.module, s.stub_path, s.replaces) for s in lock.stubs] == [
        ("calc.startup_only", "calc/startup_only.py", ("calc/startup_only.py",))
    ]
    assert lock.stripped == (f"calc/_fast{EXT_SUFFIX}",)
    assert {"calc/extra.py", "calc/cli.py", "calc/data/unused.bin", "calc.libs/libhelper.so"} <= set(lock.removed)
    assert lock.removed["calc/tests/test_calc.py"].startswith("SW001")  # the rule's reason, not the check's
    assert {"calc/__init__.py", "calc/core.py"} <= set(lock.kept)
    # every file of the wheel in exactly one place
    listed = [*lock.removed, *(p for s in lock.stubs for p in s.replaces), *lock.stripped, *lock.kept]
    assert sorted(listed) == sorted(members(learned.wheel)) and len(listed) == len(set(listed))
    assert learned.report["check"] is not None and learned.report["lock"]["action"] == "saved"
    assert learned.report["dropped_entry_points"]  # calc-cli went with calc/cli.py


def test_replay_on_the_same_wheel_writes_the_same_bytes(
    learned: Learned, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "replay.json"
    result = slimwheel(capsys, "shrink", learned.wheel, "--lock", learned.lock, "-w", tmp_path / "wh", "--json", report)
    assert result.code == 0, result.err
    replayed = tmp_path / "wh" / learned.wheel.name
    assert replayed.read_bytes() == learned.output.read_bytes()
    data = report_of(report)
    assert data["check"] is None
    lock = data["lock"]
    assert lock["action"] == "replayed" and lock["coverage"] == 1.0 and lock["mapped"] == lock["total"] > 0
    assert lock["unmapped"] == [] and lock["unknown"] == [] and lock["notes"] == [] and lock["verified"] is None
    assert "no check runs" in result.out
    # the stub the trial wrote and the stub the replay wrote are the same module
    stub = members(replayed)["calc/startup_only.py"]
    assert b"__slimwheel_stub__ = True" in stub and b"calc.startup_only" in stub


def test_lock_text_is_sorted_and_stable(learned: Learned, tmp_path: Path) -> None:
    text = learned.lock.read_text()
    again = tmp_path / "again.lock"
    args = ["shrink", "-q", learned.wheel, "--check", learned.check, "--cache-dir", learned.cache]
    assert slimwheel(None, *args, "-w", tmp_path / "wh", "--save-lock", again).code == 0
    assert again.read_text() == text
    assert (tmp_path / "wh" / learned.wheel.name).read_bytes() == learned.output.read_bytes()
    # sorted: [removed] keys and each array, one path per line
    lines = text.splitlines()
    removed = lines[lines.index("[removed]") + 1 : lines.index("", lines.index("[removed]"))]
    assert removed == sorted(removed) and len(removed) == len(read_lock(learned.lock).removed)
    for key in ("stripped = [", "kept = ["):
        start = lines.index(key) + 1
        items = lines[start : lines.index("]", start)]
        assert items == sorted(items) and all(line.startswith('    "') and line.endswith('",') for line in items)
    assert text.endswith("\n") and "\r" not in text


# ---- 2. zero check runs on replay, exactly one per check with --verify ---------------------------------------


def test_replay_runs_no_check_and_verify_runs_each_check_once(
    learned: Learned, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert counts(learned.counter).get("core", 0) >= 4  # learning ran the check (baseline runs at least)
    before = counts(learned.counter)
    assert slimwheel(capsys, "shrink", learned.wheel, "--lock", learned.lock, "-w", tmp_path / "plain").code == 0
    assert counts(learned.counter) == before

    also = tmp_path / "also.py"  # a second check that passes on the lock's result
    also.write_text(CHECK_CORE.format(counter=str(learned.counter), name="also"))
    report = tmp_path / "verified.json"
    args = ["shrink", learned.wheel, "--lock", learned.lock, "--verify", "--check", learned.check, "--check", also]
    result = slimwheel(capsys, *args, "--cache-dir", learned.cache, "-w", tmp_path / "wh", "--json", report)
    assert result.code == 0, result.err
    after = counts(learned.counter)
    assert {k: after.get(k, 0) - before.get(k, 0) for k in ("core", "also", "extra")} == {
        "core": 1,
        "also": 1,
        "extra": 0,
    }
    data = report_of(report)
    assert data["lock"]["verified"] is True and data["check"] is None and data["lock"]["coverage"] == 1.0
    assert "verified by one check run" in result.out
    assert (tmp_path / "wh" / learned.wheel.name).read_bytes() == learned.output.read_bytes()


# ---- 3. --verify: a check the lock's result fails --------------------------------------------------------------


def test_verify_failure_exits_4_and_writes_nothing(
    learned: Learned, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = counts(learned.counter)
    out, report = tmp_path / "wh", tmp_path / "report.json"
    args = ["shrink", learned.wheel, "--lock", learned.lock, "--verify", "--check", learned.check_extra]
    result = slimwheel(capsys, *args, "--cache-dir", learned.cache, "-w", out, "--json", report)
    assert result.code == ExitCode.CHECK_FAILED and result.code == 4
    (line,) = result.err.strip().splitlines()
    assert line.startswith("slimwheel: error: --verify:") and "extra.py" in line and "calc.extra" in line, line
    assert written(out) == [] and not report.exists()
    assert digest(learned.wheel) == learned.input_sha
    after = counts(learned.counter)
    assert after.get("extra", 0) - before.get("extra", 0) == 1 and after.get("core") == before.get("core")
    # the same check, learned with, gives a lock that verifies
    assert "calc/extra.py" in read_lock(learned.lock).removed


# ---- 4. usage errors: exit 2, one line -------------------------------------------------------------------------


def corrupt(text: str) -> str:
    """The lock with one kept path turned into a parent-directory escape."""
    return text.replace('    "calc/core.py",', '    "calc/../core.py",', 1)


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("verify-without-lock", "--verify needs --lock and a check"),
        ("lock-and-save-lock", "--lock replays a lock and --save-lock learns one"),
        ("lock-and-check", "with --lock, the check only runs with --verify"),
        ("verify-without-check", "--verify needs --lock and a check"),
        ("no-lock-for-project", "no lock for calc in"),
        ("corrupt-lock", "'kept' lists 'calc/../core.py', which contains '..'"),
        ("not-toml", "not valid TOML"),
        ("other-version", "the lock was learned on calc 1.0"),
        ("missing-lock", "no such lock file"),
    ],
)
def test_usage_errors(
    case: str, message: str, learned: Learned, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wheel, lock, out = learned.wheel, learned.lock, tmp_path / "wh"
    check = ["--check", str(learned.check), "--cache-dir", str(learned.cache)]
    where = ""
    if case == "verify-without-lock":
        args = [wheel, "--verify", *check]
    elif case == "lock-and-save-lock":
        args = [wheel, "--lock", lock, "--save-lock", tmp_path / "new.lock"]
    elif case == "lock-and-check":
        args = [wheel, "--lock", lock, *check]
    elif case == "verify-without-check":
        args = [wheel, "--lock", lock, "--verify"]
    elif case == "no-lock-for-project":
        other = tmp_path / "locks"
        other.mkdir()
        helper = helper_wheel(tmp_path / "dist")
        assert slimwheel(None, "shrink", "-q", helper, "-w", tmp_path / "h", "--save-lock", other / "x.lock").code == 0
        args = [wheel, "--lock", other]
    elif case == "corrupt-lock":
        bad = tmp_path / "calc.lock"
        text = corrupt(lock.read_text())
        bad.write_text(text)
        number = text.splitlines().index('    "calc/../core.py",') + 1
        where = f"{bad}:{number}: "
        args = [wheel, "--lock", bad]
    elif case == "not-toml":
        bad = tmp_path / "calc.lock"
        text = lock.read_text()
        lines = text.splitlines()
        lines[lines.index("[files]")] = "[files"
        bad.write_text("\n".join(lines) + "\n")
        where = f"{bad}:{lines.index('[files') + 1}: "
        args = [wheel, "--lock", bad]
    elif case == "other-version":
        newer = calc_wheel(tmp_path / "build", tmp_path / "dist", version="1.1")
        args = [newer, "--lock", lock]
        wheel = newer
    else:
        args = [wheel, "--lock", tmp_path / "nowhere.lock"]
    before = digest(wheel)
    lock_text = lock.read_text()
    result = slimwheel(capsys, "shrink", *args, "-w", out)
    assert result.code == ExitCode.BAD_INPUT and result.code == 2, result
    (line,) = result.err.strip().splitlines()
    assert line.startswith(f"slimwheel: error: {where}"), line
    assert message in line, line
    assert not [p for p in written(out) if p.suffix == ".whl"]
    assert digest(wheel) == before and lock.read_text() == lock_text
    assert not (tmp_path / "new.lock").exists()


# ---- 5. several wheels: one <project>.lock each ----------------------------------------------------------------


def test_save_lock_for_several_wheels_and_replay_the_directory(
    learned: Learned, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dist = tmp_path / "dist"
    dist.mkdir()
    (dist / learned.wheel.name).write_bytes(learned.wheel.read_bytes())
    helper = helper_wheel(dist)
    both = tmp_path / "both.py"
    both.write_text("import calc, helperpkg\nassert calc.core.compute() + helperpkg.VALUE == 49\n")
    locks, learned_dir = tmp_path / "locks", tmp_path / "learned"
    args = ["shrink", "-q", dist, "--check", both, "--cache-dir", learned.cache, "--save-lock", locks]
    assert slimwheel(capsys, *args, "-w", learned_dir).code == 0  # WHEEL: a directory of wheels
    assert sorted(p.name for p in locks.iterdir()) == ["calc.lock", "helperpkg.lock"]
    helper_lock = read_lock(locks / "helperpkg.lock")
    assert set(helper_lock.removed) == {"helperpkg/unused.py"}
    assert helper_lock.check == read_lock(locks / "calc.lock").check == Check.script(both).fingerprint()

    report = tmp_path / "replay.json"
    args = ["shrink", "-q", learned.wheel, helper, "--lock", locks, "-w", tmp_path / "wh", "--json", report]
    result = slimwheel(capsys, *args)
    assert result.code == 0, result.err
    for name in (learned.wheel.name, helper.name):
        assert (tmp_path / "wh" / name).read_bytes() == (learned_dir / name).read_bytes(), name
    wheels = json.loads(report.read_text())["wheels"]
    assert [Path(w["lock"]["file"]).name for w in wheels] == ["calc.lock", "helperpkg.lock"]
    assert all(w["lock"]["coverage"] == 1.0 and w["check"] is None for w in wheels)


# ---- a synthetic build for another platform: what doesn't map is kept, not guessed -----------------------------


def test_replay_onto_another_platform_keeps_what_does_not_map(
    learned: Learned, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """calc 1.0 for win_amd64: the extension is a .pyd, the vendored helper exists as two DLLs (one signature,
    two files: ambiguous), and a module exists only there. It can't run here, so only the lock can shrink it."""
    files = calc_files(tmp_path / "build")
    for linux_only in (f"calc/_fast{EXT_SUFFIX}", "calc.libs/libhelper.so"):
        del files[linux_only]
    pyd = "calc/_fast.cp311-win_amd64.pyd"
    dlls = ["calc.libs/helper.dll", "calc.libs/libhelper-0123456789abcdef0123456789abcdef.dll"]
    files[pyd] = b"not really a PE file: the lock maps it by its name\n"
    for dll in dlls:
        files[dll] = f"{dll}\n".encode()
    files["calc/win_only.py"] = b"WINDOWS = True\n"
    source = SynthWheel(
        name="calc",
        version="1.0",
        tag="cp311-cp311-win_amd64",
        purelib=False,
        files=files,
        entry_points={"console_scripts": {"calc-cli": "calc.cli:main"}},
    ).build(tmp_path / "dist")
    report = tmp_path / "report.json"
    result = slimwheel(capsys, "shrink", source, "--lock", learned.lock, "-w", tmp_path / "wh", "--json", report)
    assert result.code == 0, result.err
    data = report_of(report)
    lock = data["lock"]
    assert data["check"] is None and any("mapped onto cp311-cp311-win_amd64" in note for note in lock["notes"])
    assert lock["unmapped"] == ["calc.libs/libhelper.so"]  # two DLLs could be it: neither is removed
    assert lock["unknown"] == ["calc/win_only.py"]
    assert lock["mapped"] == lock["total"] - 1 and lock["coverage"] == round((lock["total"] - 1) / lock["total"], 4)

    before, after = members(source), members(tmp_path / "wh" / source.name)
    for kept in (*dlls, "calc/win_only.py", pyd, "calc/__init__.py", "calc/core.py"):
        assert after[kept] == before[kept], kept
    for removed in ("calc/extra.py", "calc/cli.py", "calc/data/unused.bin", "calc/tests/test_calc.py"):
        assert removed in before and removed not in after, removed
    assert b"__slimwheel_stub__ = True" in after["calc/startup_only.py"]
    # calc-cli was the only entry point: entry_points.txt goes rather than staying empty
    assert "calc-1.0.dist-info/entry_points.txt" in before and "calc-1.0.dist-info/entry_points.txt" not in after
    # the same decisions as the learned output, path for path, apart from what the lock could not decide
    learned_signatures = {path_signature(p) for p in members(learned.output)}
    undecided = {*dlls, "calc/win_only.py"}
    assert {p for p in after if path_signature(p) not in learned_signatures} == undecided


# ---- 6. real numpy: learned on manylinux, replayed onto win_amd64 and win32 --------------------------------------


@dataclass(frozen=True)
class NumpyLock:
    lock: Path
    output: Path  # numpy manylinux shrunk with the check
    check: Path
    seconds: float


@pytest.fixture(scope="module")
def numpy_lock(tmp_path_factory: pytest.TempPathFactory, lock_cache: Path) -> NumpyLock:
    tmp = tmp_path_factory.mktemp("numpy-learn")
    check = tmp / "numpy_check.py"
    check.write_text(NUMPY_CHECK)
    lock = tmp / "numpy.lock"
    options = CheckOptions(trial=TrialOptions(checks=(Check.script(check),), jobs=2), cache_dir=lock_cache)
    (tmp / "out").mkdir()
    (report,) = pipeline.run([wheelcache.fetch(NUMPY_LINUX)], tmp / "out", ShrinkOptions(), Learn(options, (lock,)))
    assert report.check is not None and not report.check.interrupted and report.output is not None
    assert report.lock is not None and report.lock.action == "saved"
    return NumpyLock(lock, Path(report.output), check, report.check.seconds)


@dataclass(frozen=True)
class Replayed:
    input: Path
    output: Path
    report: dict[str, Any]
    seconds: float


@pytest.fixture(scope="module")
def replayed(numpy_lock: NumpyLock, tmp_path_factory: pytest.TempPathFactory) -> Callable[[RealWheel], Replayed]:
    """``replayed(spec)``: ``shrink SPEC --lock numpy.lock`` through the command line, once per wheel."""
    memo: dict[RealWheel, Replayed] = {}

    def get(spec: RealWheel) -> Replayed:
        if spec not in memo:
            source = wheelcache.fetch(spec)
            out = tmp_path_factory.mktemp(f"replay-{spec.platform}")
            report = out / "report.json"
            started = time.perf_counter()
            args = ["shrink", "-q", source, "--lock", numpy_lock.lock, "-w", out / "wh", "--json", report]
            assert slimwheel(None, *args).code == 0
            memo[spec] = Replayed(source, out / "wh" / source.name, report_of(report), time.perf_counter() - started)
        return memo[spec]

    return get


def signed_pe(data: bytes) -> bool:
    """Authenticode-signed, independently of slimwheel: pefile's security data directory is not empty."""
    pe = open_pe(data)
    try:
        security = pe.OPTIONAL_HEADER.DATA_DIRECTORY[pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_SECURITY"]]
        return bool(security.VirtualAddress and security.Size)
    finally:
        pe.close()


WINDOWS = [pytest.param(s, id=s.platform, marks=pytest.mark.realwheel) for s in (NUMPY_WIN64, NUMPY_WIN32)]


@pytest.mark.parametrize("spec", WINDOWS)
def test_numpy_lock_replays_onto_windows_wheels(
    spec: RealWheel,
    numpy_lock: NumpyLock,
    replayed: Callable[[RealWheel], Replayed],
    tmp_path: Path,
    record_property: Callable[[str, object], None],
) -> None:
    r = replayed(spec)
    lock = r.report["lock"]
    before, after = members(r.input), members(r.output)
    learned_out = members(numpy_lock.output)
    learned_in = members(wheelcache.fetch(NUMPY_LINUX))
    record_property(
        "slimwheel-numbers",
        f"numpy lock linux -> {spec.platform}: coverage {lock['coverage']:.4f} ({lock['mapped']}/{lock['total']}), "
        f"{len(lock['unmapped'])} unmapped, {len(lock['unknown'])} unknown, "
        f"{r.input.stat().st_size / MB:.2f} MB -> {r.output.stat().st_size / MB:.2f} MB "
        f"({len(before)} -> {len(after)} files) in {r.seconds:.1f} s, 0 check runs",
    )
    assert r.report["check"] is None and lock["action"] == "replayed"
    assert lock["coverage"] == 1.0 and lock["unmapped"] == [], lock["unmapped"]  # README: 100 % onto both
    assert any("mapped onto" in note for note in lock["notes"])

    # kept, not guessed: what the lock doesn't know is in the input and in the output
    for path in lock["unknown"]:
        assert path in before and path in after, path
    for path in lock["unmapped"]:  # a lock path: its counterparts (same signature) are all kept
        assert path in learned_in
        twins = [p for p in before if path_signature(p) == path_signature(path)]
        assert all(p in after for p in twins), (path, twins)

    # the same decisions as on Linux, file for file: the output's signatures are the learned output's, plus the
    # files the lock doesn't know (and so keeps)
    learned_signatures = {path_signature(p) for p in learned_out}
    extra = {p for p in after if path_signature(p) not in learned_signatures} - set(lock["unknown"])
    assert extra == set(), sorted(extra)
    # numpy.random went exactly as on Linux (removed or stubbed)
    random_here = {path_signature(p) for p in after if p.startswith("numpy/random/")}
    assert random_here == {path_signature(p) for p in learned_out if p.startswith("numpy/random/")}
    assert [p for p in before if p.startswith("numpy/random/") and p.endswith(".pyd")]
    assert not [p for p in after if p.startswith("numpy/random/") and p.endswith(".pyd")]

    # the extension modules the check needs are there
    tag = "cp311-win_amd64" if spec is NUMPY_WIN64 else "cp311-win32"
    for module in ("numpy/_core/_multiarray_umath", "numpy/linalg/_umath_linalg", "numpy/fft/_pocketfft_umath"):
        assert f"{module}.{tag}.pyd" in after, module
    for package in ("numpy", "numpy/_core", "numpy/linalg", "numpy/fft"):
        assert f"{package}/__init__.py" in after
    if spec is NUMPY_WIN64:
        assert [p for p in after if p.startswith("numpy.libs/libscipy_openblas64_") and p.endswith(".dll")]

    # every PE file parses; every signed one is byte-identical (found by pefile and by slimwheel alike)
    pe_in, pe_out = natives(r.input), natives(r.output)
    assert pe_out and all(data[:2] == b"MZ" for data in pe_out.values())
    for data in pe_out.values():
        open_pe(data).close()
    signed = sorted(name for name, data in pe_in.items() if signed_pe(data))
    assert signed == sorted(name for name, data in pe_in.items() if (info := describe(data)) and info.signed)
    if spec is NUMPY_WIN64:  # delvewheel's copy of the MSVC runtime: unknown to the Linux lock, so kept as it is
        assert len(signed) == 1 and signed[0].startswith("numpy.libs/msvcp140") and signed[0] in lock["unknown"]
    for name in signed:
        assert pe_out.get(name) == pe_in[name], f"signed {name} was modified or removed"

    # RECORD hashes, then pip and uv install it for its platform
    unpacked = run([sys.executable, "-m", "wheel", "unpack", "--dest", tmp_path / "unpacked", r.output])
    assert unpacked.returncode == 0, unpacked.stderr
    pip = run([*pip_command(spec, tmp_path / "pip"), r.output])
    assert pip.returncode == 0, pip.stdout + pip.stderr
    check_installed(tmp_path / "pip", r.output)
    uv: list[str | Path] = [UV, "pip", "install", "--no-deps", "--offline", "--no-cache", "--no-config"]
    uv += ["--python", sys.executable, "--target", tmp_path / "uv", "--python-platform", UV_PLATFORMS[spec.platform]]
    installed = run([*uv, r.output])
    assert installed.returncode == 0, installed.stdout + installed.stderr
    check_installed(tmp_path / "uv", r.output)


@pytest.mark.realwheel
def test_numpy_lock_replays_onto_its_own_wheel(
    numpy_lock: NumpyLock,
    replayed: Callable[[RealWheel], Replayed],
    tmp_path: Path,
    record_property: Callable[[str, object], None],
) -> None:
    r = replayed(NUMPY_LINUX)
    lock = r.report["lock"]
    assert lock["coverage"] == 1.0 and lock["unmapped"] == [] and lock["unknown"] == [] and lock["notes"] == []
    assert r.report["check"] is None
    assert r.output.read_bytes() == numpy_lock.output.read_bytes()
    record_property(
        "slimwheel-numbers",
        f"numpy lock linux -> linux: byte-identical in {r.seconds:.1f} s with 0 check runs "
        f"(learning with the check took {numpy_lock.seconds:.1f} s of check runs)",
    )
    # installed by pip, the replayed wheel passes the check in an interpreter that sees only the target
    target = pip_target(tmp_path / "target", r.output)
    code = f"import sys; sys.path.insert(0, {str(target)!r}); exec(open({str(numpy_lock.check)!r}).read())"
    proc = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code + "\nprint(np.__file__)"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert "eigvalsh" in proc.stdout and str(target) in proc.stdout.splitlines()[-1]


@pytest.mark.realwheel
def test_verify_refuses_a_wheel_the_check_interpreter_cannot_run(
    numpy_lock: NumpyLock, lock_cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = wheelcache.fetch(NUMPY_WIN64)
    args = ["shrink", source, "--lock", numpy_lock.lock, "--verify", "--check", numpy_lock.check]
    result = slimwheel(capsys, *args, "--cache-dir", lock_cache, "-w", tmp_path / "wh")
    assert written(tmp_path / "wh") == []
    assert result.code == ExitCode.BAD_INPUT, result.err  # like `shrink --check` on it: not a failed check
    assert "does not fit the check's interpreter" in result.err


def test_a_build_tag_does_not_hide_the_lock_of_the_same_platform(tmp_path: Path) -> None:
    for tag in ("cp311-cp311-linux_x86_64", "cp311-cp311-win_amd64"):
        identity = WheelIdentity(f"calc-1.0-{tag}.whl", "calc", "1.0", tag, "0" * 64)
        write_lock(tmp_path / f"calc-{tag}.lock", Lock(identity, "", {}, (), (), ("calc/__init__.py",)))
    (chosen,) = locks_for_wheels([Path("calc-1.0-1-cp311-cp311-win_amd64.whl")], [tmp_path])
    assert chosen[0].wheel.tag == "cp311-cp311-win_amd64"


# ---- committed locks were learned before licence files were protected: replaying them keeps those files ------

RECIPE_LOCKS = Path(__file__).resolve().parent.parent / "recipes" / "locks"


@pytest.mark.realwheel
@pytest.mark.parametrize(
    ("spec", "lock_name"),
    [
        pytest.param(NUMPY_LINUX, "numpy.lock", id="numpy"),
        pytest.param(ONNXRUNTIME_LINUX, "onnxruntime.lock", id="onnxruntime"),
        pytest.param(SCIPY_LINUX, "scipy.lock", id="scipy"),
    ],
)
def test_an_old_lock_that_removes_licence_files_keeps_them(
    spec: RealWheel, lock_name: str, tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    source = wheelcache.fetch(spec)
    licences = licence_paths(read_wheel(source))
    # The committed lock as it was learned before licence files were protected: the ones outside the dist-info
    # (which was never removed) listed as removed, like the trial removed them.
    current = read_lock(RECIPE_LOCKS / lock_name)
    assert not set(current.removed) & licences, f"the committed {lock_name} removes licence files: relearn it"
    removes = sorted(path for path in current.kept if path in licences and ".dist-info/" not in path)
    assert removes, f"{source.name} has no licence file outside its dist-info: this test needs another wheel"
    lock = dataclasses.replace(
        current,
        removed={**current.removed, **dict.fromkeys(removes, "not needed by the check (an old lock)")},
        kept=tuple(path for path in current.kept if path not in removes),
    )
    lock_file = tmp_path / lock_name
    write_lock(lock_file, lock)
    (tmp_path / "wh").mkdir()
    (report,) = pipeline.run([source], tmp_path / "wh", ShrinkOptions(), Replay(((lock, lock_file),)))
    assert report.lock is not None and report.output is not None
    before, after = members(source), members(report.output)
    assert {path: after.get(path) for path in licences} == {path: before[path] for path in licences}
    (note,) = [n for n in report.lock.notes if "licence" in n]
    assert note.startswith(f"kept {len(removes)} licence/notice file(s) the lock removes: ") and "relearn" in note
    kept = {k.path: k.reason for k in report.kept}
    assert all(kept[path].startswith(f"{KEPT_REASON} (the lock removes it: ") for path in removes)
    record_property(
        "slimwheel-numbers",
        f"{lock_name} replayed onto {source.name}: {len(removes)} licence files the lock removes kept "
        f"({', '.join(removes)}); {len(licences)} licence files in, {len(licences)} out",
    )


def test_a_lock_on_another_build_of_the_wheel_warns_unless_verified(
    learned: Learned, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same files zipped again (other bytes, same name and tag): the replay says nothing proves it works and
    points to --verify; the wheel the lock was learned on, or a verified replay, gets no such warning."""
    rebuilt = tmp_path / "dist" / learned.wheel.name
    rebuilt.parent.mkdir()
    with zipfile.ZipFile(learned.wheel) as src, zipfile.ZipFile(rebuilt, "w", zipfile.ZIP_STORED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info), compress_type=zipfile.ZIP_STORED)
    assert digest(rebuilt) != learned.input_sha

    same = slimwheel(capsys, "shrink", learned.wheel, "--lock", learned.lock, "-w", tmp_path / "same")
    other = slimwheel(capsys, "shrink", rebuilt, "--lock", learned.lock, "-w", tmp_path / "other")
    assert same.code == other.code == 0, other.err
    warning = "nothing proves the result works"
    assert warning not in same.out
    said = " ".join(other.out.split())  # a warning may wrap at the console's width
    assert "learned on another build" in said and warning in said and "--verify" in said
    args = ["--lock", learned.lock, "--verify", "--check", learned.check, "--cache-dir", learned.cache]
    verified = slimwheel(capsys, "shrink", rebuilt, *args, "-w", tmp_path / "verified")
    assert verified.code == 0, verified.err
    assert warning not in verified.out and "verified by one check run" in verified.out
