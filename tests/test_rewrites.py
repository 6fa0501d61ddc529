"""Python rewrites (``--minify``, ``--bytecode-only``) end to end, and the guards that keep them safe.

Through ``python -m slimwheel shrink`` on a small synthetic wheel, ``rwpkg``, whose ``helptext`` module has a
docstring that *another* module (``cli``) reads at run time: the check passes only if ``helptext`` keeps it. So
with ``--minify`` the trial must restore ``helptext`` (and say so) while every other kept module is minified, its
licence header kept; with ``--bytecode-only`` every importable module becomes ``.pyc`` (the wheel retagged for
this Python), scripts and licence files stay as they were. Both outputs are unpacked, installed (pip, uv) and
checked again. Around that: a wheel for another Python refused, the warning when no check proves the rewrites, a
lock learned with ``--bytecode-only`` that does not count the sources as removed, and the confirmation's fallback
to the set without rewrites (end to end with a check steered by a run counter, and on :meth:`Trial.confirm` and
:meth:`Trial.try_rewrites` with a fake oracle).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from synth import SynthWheel

from slimwheel.errors import ExitCode
from slimwheel.rewrite import Rewrite
from slimwheel.stubs import Replacement, StubCandidate
from slimwheel.trial import Trial, TrialOptions

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="checks run on Linux")

UV = Path(sys.executable).with_name("uv")
PY = f"{sys.version_info.major}.{sys.version_info.minor}"
CP = f"cp{sys.version_info.major}{sys.version_info.minor}"

HEADER = b"# Copyright (c) 2024 The rwpkg Authors\n# SPDX-License-Identifier: BSD-3-Clause\n\n"
SCRIPT = "rwpkg-1.0.data/scripts/rwtool.py"
MODULES: dict[str, bytes] = {
    "rwpkg/__init__.py": HEADER
    + b'''"""rwpkg: a small package whose Python files slimwheel rewrites."""
from . import core, startup_only
from .core import answer

VERSION = "1.0"  # the version, as a comment the minifier drops
''',
    "rwpkg/core.py": HEADER
    + b'''"""Core computations, documented at length so that minifying pays."""
from .util import double


def answer(scale: int = 1) -> int:
    """The answer to everything, computed the long way round.

    Scaled by ``scale``.
    """
    # doubling twenty-one: the traditional method
    return double(21) * scale
''',
    "rwpkg/util.py": HEADER
    + b'''"""Helpers."""


def double(x: int) -> int:
    """Twice ``x``."""
    return 2 * x
''',
    "rwpkg/helptext.py": HEADER
    + b'''"""usage: rwtool [--answer]

Print the answer. The command line's help is this very docstring, read by rwpkg.cli.
"""

OPTIONS = ("--answer",)  # what the command line accepts
''',
    # It reads another module's docstring; its own text holds __doc__, so the minifier leaves it alone anyway.
    "rwpkg/cli.py": HEADER
    + b'''"""The command line."""
from . import helptext
from .core import answer


def main() -> str:
    assert "usage" in (helptext.__doc__ or ""), "rwpkg.helptext lost its docstring"
    return f"{answer()} {helptext.OPTIONS[0]}"
''',
    # Imported at start-up, never used: a stub candidate.
    "rwpkg/startup_only.py": HEADER
    + b'''"""Imported by rwpkg, used by nobody."""


def unused() -> str:
    """Never called."""
    return "unused"
'''
    + b"# padding\n" * 200,
}
# A licence text by its name; a dist-info licence (PEP 639); a Python file METADATA declares a licence file.
LICENCES: dict[str, bytes] = {
    "rwpkg/LICENSE.txt": b"BSD-3-Clause\n\nCopyright (c) 2024 The rwpkg Authors\n",
    "rwpkg-1.0.dist-info/licenses/LICENSE": b"BSD-3-Clause\n",
    "rwpkg/notices.py": b'"""Third-party notices, as a module."""\n\nNOTICES = """zlib: Copyright J. Gailly"""\n',
}
METADATA = "License-File: LICENSE\nLicense-File: rwpkg/notices.py\n"
FILES: dict[str, bytes] = {
    **MODULES,
    **LICENCES,
    SCRIPT: b'#!python\n"""The rwtool script."""\nimport rwpkg\n\nprint("tool", rwpkg.answer())\n',
}
CHECK = """\
import json, shutil, subprocess, sys
steer = {steer!r}
if steer:  # a run counter outside every tree, and the runs that fail on purpose
    config = json.load(open(steer))
    with open(config["counter"], "a+") as fh:
        fh.seek(0)
        run = int(fh.read() or 0) + 1
        fh.seek(0)
        fh.truncate()
        fh.write(str(run))
    if run in config.get("fail_at", []):
        raise SystemExit("spurious failure on run %d" % run)
import rwpkg.cli
assert rwpkg.cli.main() == "42 --answer", rwpkg.cli.main()
tool = shutil.which("rwtool.py")
assert tool, "rwtool.py is not on PATH"
out = subprocess.run([sys.executable, tool], capture_output=True, text=True, check=True).stdout
assert out == "tool 42\\n", out
print("ok")
"""


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "slimwheel", *map(str, args)], capture_output=True, text=True, timeout=300
    )


def build(dest: Path, tag: str = "py3-none-any") -> Path:
    return SynthWheel(name="rwpkg", version="1.0", tag=tag, files=FILES, metadata_extra=METADATA).build(dest)


def members(path: Path | str) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {i.filename: zf.read(i) for i in zf.infolist()}


def wheel_lines(wheel: Path) -> list[str]:
    return members(wheel)["rwpkg-1.0.dist-info/WHEEL"].decode().splitlines()


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("dist"))


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Check environments and journals, shared by this module's tests."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def check(tmp_path_factory: pytest.TempPathFactory) -> Path:
    script = tmp_path_factory.mktemp("check") / "check_rwpkg.py"
    script.write_text(CHECK.format(steer=""))
    return script


def shrink(wheel: Path, out: Path, *args: str | Path) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """``slimwheel shrink`` into ``out/wh``, its JSON report read back."""
    report = out / "report.json"
    proc = run("shrink", wheel, "-w", out / "wh", "--json", report, "-j", "1", *args)
    assert proc.returncode == 0, proc.stderr
    return proc, json.loads(report.read_text())["wheels"][0]


def checked(wheel: Path, out: Path, check: Path, cache: Path, *args: str | Path) -> tuple[str, dict[str, Any]]:
    proc, report = shrink(wheel, out, "--check", check, "--cache-dir", cache, *args)
    assert report["check"] is not None
    return proc.stdout, report


def unpacks(wheel: Path, tmp: Path) -> None:
    """``wheel unpack`` checks every RECORD hash and size."""
    proc = subprocess.run(
        [sys.executable, "-m", "wheel", "unpack", "-d", str(tmp / "unpacked"), str(wheel)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr


def install(wheel: Path, target: Path, *, uv: bool = False) -> Path:
    if uv:
        command = [str(UV), "pip", "install", "--offline", "--no-cache", "--python", sys.executable]
    else:
        command = [sys.executable, "-m", "pip", "install", "-q", "--no-index", "--disable-pip-version-check"]
    proc = subprocess.run([*command, "--no-deps", "--target", str(target), str(wheel)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return target


def passes_installed(target: Path, check: Path) -> None:
    """The check, run against the installed tree only (its scripts on PATH), passes."""
    env = {
        "PATH": os.pathsep.join([str(target / "bin"), os.environ.get("PATH", os.defpath)]),
        "PYTHONPATH": str(target),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    proc = subprocess.run([sys.executable, "-s", str(check)], capture_output=True, text=True, env=env, cwd=target)
    assert proc.returncode == 0 and proc.stdout == "ok\n", proc.stderr


def py_files(files: dict[str, bytes]) -> set[str]:
    return {p for p in files if p.endswith(".py") and ".dist-info/" not in p}


# ---- --minify with a check: the file whose rewrite fails is restored ---------------------------------------------


def test_minify_restores_the_file_whose_docstring_another_module_reads(
    wheel: Path, check: Path, cache: Path, tmp_path: Path
) -> None:
    stdout, report = checked(wheel, tmp_path, check, cache, "--minify", "--no-stubs")
    out = Path(report["output"])
    assert out.name == wheel.name  # minified source runs anywhere the original did: no retagging
    before, after = members(wheel), members(out)
    assert py_files(after) == py_files(before)
    assert after["rwpkg/helptext.py"] == before["rwpkg/helptext.py"]  # restored: its rewrite failed the check
    assert after["rwpkg/cli.py"] == before["rwpkg/cli.py"]  # reads __doc__: the minifier leaves it alone
    assert after[SCRIPT] == before[SCRIPT]  # scripts are not importable modules: never rewritten
    for path in LICENCES:
        assert after[path] == before[path]
    minified = sorted(set(MODULES) - {"rwpkg/helptext.py", "rwpkg/cli.py"})
    for path in minified:
        assert after[path].startswith(HEADER.rstrip(b"\n") + b"\n"), path  # the licence header, byte for byte
        assert len(after[path]) < len(before[path]) and b'"""' not in after[path], after[path].decode()
        compile(after[path], path, "exec")
    check_json = report["check"]
    assert check_json["restored"] == ["rwpkg/helptext.py"]
    assert check_json["rewritten"] == {"minified": len(minified)}
    assert check_json["rewrite_saved"] == sum(len(before[p]) - len(after[p]) for p in minified)
    assert check_json["runs"] >= check_json["phases"]["rewrite"] >= 2 and not check_json["notes"]
    assert "kept as it was (its rewrite failed the check)" in stdout and "rwpkg/helptext.py" in stdout
    assert f"Python rewritten: {len(minified)} files minified" in stdout and "verified by the check" in stdout
    assert not any("without a check" in w for w in report["warnings"])

    unpacks(out, tmp_path)
    passes_installed(install(out, tmp_path / "pip"), check)
    passes_installed(install(out, tmp_path / "uv", uv=True), check)


# ---- --bytecode-only with a check: sourceless .pyc beside where the sources were, the wheel retagged -------------


def test_bytecode_only_replaces_modules_by_pyc_and_retags_the_wheel(
    wheel: Path, check: Path, cache: Path, tmp_path: Path
) -> None:
    stdout, report = checked(wheel, tmp_path, check, cache, "--bytecode-only", "--no-stubs")
    out = Path(report["output"])
    assert out.name == f"rwpkg-1.0-{CP}-none-any.whl"
    assert [line for line in wheel_lines(out) if line.startswith("Tag:")] == [f"Tag: {CP}-none-any"]
    before, after = members(wheel), members(out)
    compiled = sorted(MODULES)
    assert py_files(after) == {"rwpkg/notices.py", SCRIPT}  # a declared licence file, and a script
    for path in compiled:
        pyc = after[path + "c"]
        assert pyc[:4] == importlib_magic()  # this interpreter's bytecode, beside where the source was
    assert not any("__pycache__" in p for p in after)
    for path in [*LICENCES, SCRIPT]:
        assert after[path] == before[path]
    check_json = report["check"]
    assert check_json["rewritten"] == {"compiled": len(compiled)} and check_json["restored"] == []
    assert not any(r["path"].endswith(".py") for r in report["removed"])  # superseded, not removed
    assert f"Python rewritten: {len(compiled)} files compiled" in stdout

    unpacks(out, tmp_path)
    target = install(out, tmp_path / "pip")
    passes_installed(target, check)
    cached = sorted(p.name for p in (target / "rwpkg").rglob("__pycache__/*"))
    assert cached == [f"notices.{sys.implementation.cache_tag}.pyc"]  # pip compiled the one source left, no module
    assert sorted(p.name for p in (target / "rwpkg").glob("*.py")) == ["notices.py"]
    assert (target / "bin" / "rwtool.py").read_bytes().endswith(before[SCRIPT].split(b"\n", 1)[1])


def importlib_magic() -> bytes:
    import importlib.util

    return importlib.util.MAGIC_NUMBER


def test_a_file_restored_is_reported_even_when_no_rewrite_was_kept(cache: Path, tmp_path: Path) -> None:
    files = {
        "rwpkg/__init__.py": b"",
        "rwpkg/helptext.py": MODULES["rwpkg/helptext.py"],
        "rwpkg/cli.py": b"from . import helptext\nassert 'usage' in helptext.__doc__\n",
    }
    lonely = SynthWheel(name="rwpkg", version="1.0", files=files).build(tmp_path / "dist")
    script = tmp_path / "check_cli.py"
    script.write_text("import rwpkg.cli\n")
    _, report = checked(lonely, tmp_path, script, cache, "--minify", "--no-stubs")
    assert report["check"]["phases"]["rewrite"] == 1 and report["check"]["rewritten"] == {}
    assert members(report["output"])["rwpkg/helptext.py"] == files["rwpkg/helptext.py"]
    assert report["check"]["restored"] == ["rwpkg/helptext.py"]


# ---- --bytecode-only on a wheel for another Python: refused, one line, nothing written ---------------------------


@pytest.mark.parametrize("with_check", [False, True], ids=["no-check", "check"])
def test_bytecode_only_refuses_a_wheel_for_another_python(
    with_check: bool, check: Path, cache: Path, tmp_path: Path
) -> None:
    other = 10 if sys.version_info.minor != 10 else 12
    foreign = build(tmp_path / "dist", tag=f"py3{other}-none-any")
    out = tmp_path / "wh"
    args = ("--check", check, "--cache-dir", cache) if with_check else ()
    proc = run("shrink", foreign, "-w", out, "--bytecode-only", *args)
    assert proc.returncode == ExitCode.BAD_INPUT, proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("slimwheel: error: --bytecode-only:") and "--python" in line and f"3.{other}" in line
    assert "Traceback" not in proc.stderr + proc.stdout
    assert not out.exists() or not any(out.iterdir())


# ---- without a check: the rewrites are applied, and the report says nothing proved them -------------------------


def test_minify_without_a_check_warns(wheel: Path, tmp_path: Path) -> None:
    proc, report = shrink(wheel, tmp_path, "--minify")
    warning = "--minify: Python files rewritten without a check to prove them"
    assert warning in report["warnings"] and report["check"] is None
    assert "rewritten without a check to prove them" in proc.stdout
    after = members(report["output"])
    assert after["rwpkg/helptext.py"] != members(wheel)["rwpkg/helptext.py"]  # nothing restored it: unproven


# ---- --save-lock with --bytecode-only: the lock keeps the sources; replayed without the flag, they ship ----------


def test_a_lock_learned_with_bytecode_only_keeps_the_sources(
    wheel: Path, check: Path, cache: Path, tmp_path: Path
) -> None:
    lock_file = tmp_path / "rwpkg.lock"
    _, report = checked(wheel, tmp_path / "learn", check, cache, "--bytecode-only", "--save-lock", lock_file)
    assert report["check"]["stubs"] == ["rwpkg.startup_only (1 file replaced)"]
    assert report["check"]["rewritten"] == {"compiled": len(MODULES) - 1}  # all but the stubbed module
    learned = members(report["output"])
    assert Path(report["output"]).name == f"rwpkg-1.0-{CP}-none-any.whl" and "rwpkg/core.pyc" in learned
    lock = tomllib.loads(lock_file.read_text())
    assert not any(path.endswith(".py") for path in lock["removed"]), lock["removed"]
    assert set(lock["files"]["kept"]) >= set(MODULES) - {"rwpkg/startup_only.py"}  # sources: the flag's doing
    assert not any(path.endswith(".pyc") for path in lock["files"]["kept"])
    assert [stub["module"] for stub in lock["stub"]] == ["rwpkg.startup_only"]

    _, replayed = shrink(wheel, tmp_path / "replay", "--lock", lock_file)
    out = Path(replayed["output"])
    assert out.name == wheel.name  # no bytecode, no retagging
    before, after = members(wheel), members(out)
    assert py_files(after) == py_files(before)
    for path in set(MODULES) - {"rwpkg/startup_only.py"}:
        assert after[path] == before[path]
    assert b"slimwheel" in after["rwpkg/startup_only.py"]  # the stub the lock recorded
    passes_installed(install(out, tmp_path / "pip"), check)


# ---- the confirmation's safety net: a failed confirmation drops the rewrites, keeps the stubs -------------------


def test_a_failed_confirmation_of_the_rewrites_falls_back_to_the_stubbed_set_without_them(
    wheel: Path, cache: Path, tmp_path: Path
) -> None:
    steer, counter = tmp_path / "steer.json", tmp_path / "runs"
    script = tmp_path / "check_steered.py"
    script.write_text(CHECK.format(steer=str(steer)))

    def set_steer(**values: Any) -> None:
        steer.write_text(json.dumps({"counter": str(counter), **values}))
        counter.write_text("0")

    set_steer()
    _, calibration = checked(wheel, tmp_path / "calibrate", script, cache, "--minify")
    assert calibration["check"]["phases"]["confirm"] == 3 and not calibration["check"]["notes"]
    assert calibration["check"]["rewritten"] and calibration["check"]["stubs"]
    first_confirmation = int(counter.read_text()) - 2
    set_steer(fail_at=[first_confirmation])

    _, report = checked(wheel, tmp_path / "steered", script, cache, "--minify")
    summary = report["check"]
    assert int(counter.read_text()) > first_confirmation  # the spurious failure did happen
    assert any("failed a confirmation run" in note for note in summary["notes"]), summary["notes"]
    assert summary["phases"]["confirm"] == 1 + 3  # the rewritten set failed once; the set without them passed 3
    assert summary["stubs"] == ["rwpkg.startup_only (1 file replaced)"]  # not the next step down (no stubs)
    assert summary["rewritten"] == {} and summary["rewrite_saved"] == 0
    # helptext's rewrite failed in the rewrite phase: it is still reported as kept as it was (all files are now)
    assert summary["restored"] == ["rwpkg/helptext.py"]
    before, after = members(wheel), members(report["output"])
    for path in set(MODULES) - {"rwpkg/startup_only.py"}:
        assert after[path] == before[path]
    assert after["rwpkg/startup_only.py"] == members(calibration["output"])["rwpkg/startup_only.py"]  # the stub
    set_steer()
    passes_installed(install(Path(report["output"]), tmp_path / "pip"), script)


# ---- Trial.try_rewrites and Trial.confirm against a fake oracle --------------------------------------------------


@dataclass
class FakeOracle:
    """Stands in for :class:`slimwheel.oracle.CheckOracle`: ``fails(files, replacements)`` decides a run."""

    items: dict[str, bytes]
    fails: Callable[[frozenset[str], tuple[Replacement, ...]], bool]
    required: frozenset[str] = frozenset()
    runs: dict[str, int] = field(default_factory=dict)
    calls: list[tuple[str, frozenset[str], tuple[str, ...]]] = field(default_factory=list)
    journal_note: None = None

    @property
    def weights(self) -> dict[str, int]:
        return {k: len(v) for k, v in self.items.items()}

    def _run(self, files: frozenset[str], stubs: tuple[Replacement, ...], phase: str) -> bool:
        self.runs[phase] = self.runs.get(phase, 0) + 1
        self.calls.append((phase, files, tuple(s.module for s in stubs)))
        return not self.fails(files, stubs)

    def evaluate(self, files: frozenset[str], stubs: tuple[Replacement, ...] = (), *, phase: str) -> bool:
        return self._run(files, stubs, phase)

    def run_checks(self, files: frozenset[str], stubs: Any = (), *, phase: str) -> list[bool]:
        return [self._run(files, tuple(stubs), phase)]

    def verdict(self, results: list[bool]) -> bool:
        return all(results)


ITEMS = {f"pkg/m{i}.py": b"'''doc'''\nX = 1\n" for i in range(8)} | {
    "pkg/__init__.py": b"",
    "pkg/heavy.py": b"Y = 2\n",
    "pkg/LICENSE": b"MIT\n",
}
STUB = StubCandidate("pkg.heavy", frozenset({"pkg/heavy.py"}), "pkg/heavy.py", weight=5)
NEEDS_DOC = "pkg/m5.py"


def minified_all(keys: frozenset[str]) -> list[Rewrite]:
    return [Rewrite(k, k, b"X=1\n", "minified") for k in sorted(keys) if k.endswith(".py")]


def fake_trial(
    monkeypatch: pytest.MonkeyPatch,
    fails: Callable[[frozenset[str], tuple[Replacement, ...]], bool],
    rewrites: Callable[[frozenset[str]], list[Rewrite]] | None = minified_all,
) -> tuple[Trial, FakeOracle]:
    oracle = FakeOracle(dict(ITEMS), fails, required=frozenset({"pkg/LICENSE"}))
    monkeypatch.setattr("slimwheel.trial.CheckOracle", lambda *args, **kwargs: oracle)
    options = TrialOptions(checks=(), confirm_runs=3)
    trial = Trial(None, ITEMS, oracle.required, options, journal=Path("unused"), rewrites=rewrites)  # type: ignore[arg-type]
    return trial, oracle


def rewritten_keys(stubs: tuple[Replacement, ...]) -> set[str]:
    return {s.key for s in stubs if isinstance(s, Rewrite)}


def test_try_rewrites_accepts_what_passed_together_and_rejects_the_rest(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[frozenset[str]] = []

    def rewrites(keys: frozenset[str]) -> list[Rewrite]:
        asked.append(keys)
        return minified_all(keys)

    trial, oracle = fake_trial(monkeypatch, lambda _, stubs: NEEDS_DOC in rewritten_keys(stubs), rewrites)
    kept = frozenset(ITEMS)
    accepted, rejected = trial.try_rewrites(kept, [STUB])
    assert asked == [kept - {"pkg/heavy.py", "pkg/LICENSE"}]  # never the stubbed module, never a required file
    assert rejected == [NEEDS_DOC]
    assert [r.key for r in accepted] == sorted(kept - {"pkg/heavy.py", "pkg/LICENSE", NEEDS_DOC})
    # every run had the stubs and the kept set; the accepted rewrites passed as a whole, in one run
    assert all(files == kept and "pkg.heavy" in modules for _, files, modules in oracle.calls)
    assert ("rewrite", kept, ("pkg.heavy", *(r.module for r in accepted))) in oracle.calls
    assert oracle.runs == {"rewrite": len(oracle.calls)} and len(oracle.calls) <= 6


def test_try_rewrites_with_no_candidates_makes_no_run(monkeypatch: pytest.MonkeyPatch) -> None:
    trial, oracle = fake_trial(monkeypatch, lambda *_: False, lambda keys: [])
    assert trial.try_rewrites(frozenset(ITEMS), []) == ([], [])
    assert oracle.calls == []


@pytest.mark.parametrize(
    ("failing", "expected"),
    [
        ("nothing", "rewrites"),
        ("rewrites", "stubs"),  # the rewritten set fails a confirmation: the same set and stubs without them
        ("stubs", "kept"),  # ... and with the stubs too: the kept set alone
        ("kept", "everything"),
    ],
)
def test_confirm_falls_back_one_step_at_a_time(monkeypatch: pytest.MonkeyPatch, failing: str, expected: str) -> None:
    kept = frozenset(ITEMS) - {"pkg/m7.py"}
    rewrites = minified_all(frozenset({"pkg/m0.py", "pkg/m1.py"}))
    order = ["rewrites", "stubs", "kept", "everything"]

    def fails(files: frozenset[str], stubs: tuple[Replacement, ...]) -> bool:
        step = "rewrites" if rewritten_keys(stubs) else "stubs" if stubs else "kept" if files == kept else "everything"
        return order.index(step) <= order.index(failing) if failing != "nothing" else False

    trial, oracle = fake_trial(monkeypatch, fails)
    steps = {
        "rewrites": (kept, [STUB], rewrites),
        "stubs": (kept, [STUB], []),
        "kept": (kept, [], []),
        "everything": (frozenset(ITEMS), [], []),
    }
    assert trial.confirm(kept, [STUB], rewrites) == steps[expected]
    given_up = order.index(expected)
    assert oracle.runs == {"confirm": given_up + 3}  # one failing run per step given up, then three that pass
    assert len(trial.notes) == given_up


def test_confirm_without_rewrites_starts_at_the_stubbed_set(monkeypatch: pytest.MonkeyPatch) -> None:
    trial, oracle = fake_trial(monkeypatch, lambda *_: False)
    kept = frozenset(ITEMS)
    assert trial.confirm(kept, [STUB]) == (kept, [STUB], [])
    assert [modules for _, _, modules in oracle.calls] == [("pkg.heavy",)] * 3
