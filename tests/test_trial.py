"""Trial deletion end to end on a synthetic wheel whose needed set is known exactly.

The package ``app`` needs: its ``__init__`` and ``core``; a data file it opens; a flag file it only stats
(invisible to the tracer); a shared library it loads with ctypes and, through it, a second library that only
the dynamic loader opens (DT_NEEDED); a subpackage whose ``__init__.py`` must survive (namespace trap). It
imports ``app.startup_only`` at start-up without using it (a stub candidate), and ships lots of unused files.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from synth import SynthWheel, native_tag

from slimwheel import shrink as pipeline
from slimwheel.check import Check
from slimwheel.errors import SlimwheelError
from slimwheel.options import CheckOptions, Learn, ShrinkOptions
from slimwheel.trial import TrialOptions

INIT = b"""from . import core
from . import startup_only
"""
CORE = b"""import ctypes, os
HERE = os.path.dirname(__file__)
LIBS = os.path.join(HERE, "..", "app.libs")

def compute():
    with open(os.path.join(HERE, "data", "needed.txt")) as fh:
        base = int(fh.read())
    bonus = 1 if os.path.exists(os.path.join(HERE, "data", "flag.txt")) else 0
    top = ctypes.CDLL(os.path.join(LIBS, "libtop.so"))
    return base + top.top_answer() + bonus
"""
CHECK = """import app, app.sub.mod
assert app.core.compute() == 100 + 43 + 1, app.core.compute()
assert app.sub.mod.VALUE == app.sub.OFFSET + 1
print("ok", app.core.compute())
"""
NEEDED = {
    "app/__init__.py",
    "app/core.py",
    "app/data/needed.txt",
    "app/data/flag.txt",
    "app.libs/libtop.so",
    "app.libs/libdep.so",
    "app/sub/__init__.py",
    "app/sub/mod.py",
}


def gcc(tmp: Path, name: str, source: str, *extra: str) -> Path:
    src = tmp / f"{name}.c"
    src.write_text(source)
    out = tmp / name
    cmd = ["gcc", "-shared", "-fPIC", "-O1", f"-Wl,-soname,{name}", str(src), "-o", str(out), *extra]
    subprocess.run(cmd, check=True, capture_output=True)
    return out


@pytest.fixture(scope="module")
def app_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("app")
    dep = gcc(tmp, "libdep.so", "int dep_answer(void) { return 42; }\n")
    top = gcc(
        tmp,
        "libtop.so",
        "int dep_answer(void);\nint top_answer(void) { return dep_answer() + 1; }\n",
        f"-L{tmp}",
        "-l:libdep.so",
        "-Wl,-rpath,$ORIGIN",
    )
    files: dict[str, bytes] = {
        "app/__init__.py": INIT,
        "app/core.py": CORE,
        "app/startup_only.py": b"def helper():\n    return 'unused'\n" + b"# padding\n" * 400,
        "app/data/needed.txt": b"100",
        "app/data/flag.txt": b"",
        "app/data/unused.bin": bytes(range(256)) * 64,
        "app/sub/__init__.py": b"OFFSET = 1\n",
        "app/sub/mod.py": b"from . import OFFSET\nVALUE = OFFSET + 1\n",
        "app.libs/libtop.so": top.read_bytes(),
        "app.libs/libdep.so": dep.read_bytes(),
    }
    for i in range(30):  # unused modules in a few directories
        files[f"app/extras/group{i % 3}/mod{i}.py"] = f"X = {i}\n".encode() * 50
    files["app/extras/__init__.py"] = b""
    wheel = SynthWheel(name="app", version="1.0", tag=native_tag(), purelib=False, files=files)
    return wheel.build(tmp / "dist")


@pytest.fixture(scope="module")
def check_script(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("check") / "run_app.py"
    path.write_text(CHECK)
    return path


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


def checked(wheel: Path, out: Path | None, cache: Path, checks: tuple[Check, ...], **trial: object) -> list[object]:
    options = CheckOptions(trial=TrialOptions(checks=checks, jobs=2, **trial), cache_dir=cache)  # type: ignore[arg-type]
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    return pipeline.run([wheel], out, ShrinkOptions(), Learn(options))  # type: ignore[return-value]


def installed_keys(report: object) -> set[str]:
    import zipfile

    with zipfile.ZipFile(report.output) as zf:  # type: ignore[attr-defined]
        return {n for n in zf.namelist() if ".dist-info/" not in n}


def test_traced_result_keeps_exactly_what_is_needed_and_stubs_startup_module(
    app_wheel: Path, check_script: Path, cache_dir: Path, tmp_path: Path
) -> None:
    (report,) = checked(app_wheel, tmp_path / "wh", cache_dir, (Check.script(check_script),))
    kept = installed_keys(report)
    # flag.txt is only stat'ed, so the traced set fails; repair adds back its directory (with unused.bin)
    assert kept == NEEDED | {"app/startup_only.py", "app/data/unused.bin"}  # the stub sits where the module was
    check = report.check  # type: ignore[attr-defined]
    print("trial runs per phase:", check.runs)
    assert check.stubs == ["app.startup_only (1 file replaced)"]
    unneeded = [r for r in report.removed if r.reason.startswith("not needed by the check")]
    assert unneeded and check.removed == len(unneeded)  # a stubbed file is a stub, not a removal
    assert check.runs["baseline"] == 4 and check.runs["trace"] == 1
    assert check.runs.get("verify", 0) + check.runs.get("repair", 0) <= 4  # flag.txt is invisible to the trace
    assert check.runs["confirm"] == 3
    # the output wheel, installed by pip into a fresh target, passes the check too
    target = tmp_path / "target"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-index",
            "--target",
            str(target),
            report.output,
        ],
        check=True,
    )  # type: ignore[attr-defined]
    code = f"import sys; sys.path.insert(0, {str(target)!r}); exec(open({str(check_script)!r}).read())"
    proc = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.startswith("ok 144"), proc.stderr
    stub = subprocess.run(
        [
            sys.executable,
            "-I",
            "-c",
            f"import sys; sys.path.insert(0, {str(target)!r}); import app; app.startup_only.helper()",
        ],
        capture_output=True,
        text=True,
    )
    assert stub.returncode != 0 and "slimwheel" in stub.stderr and "ImportError" in stub.stderr


def test_minimal_certifies_every_kept_file(
    app_wheel: Path, check_script: Path, cache_dir: Path, tmp_path: Path
) -> None:
    (report,) = checked(app_wheel, tmp_path, cache_dir, (Check.script(check_script),), minimal=True)
    assert installed_keys(report) == NEEDED | {"app/startup_only.py"}
    runs = report.check.runs  # type: ignore[attr-defined]
    print("trial runs per phase (--minimal):", runs)
    assert runs["certify"] <= len(NEEDED) + 2


def test_blind_reduction_and_minimal_find_the_same_set(
    app_wheel: Path, check_script: Path, cache_dir: Path, tmp_path: Path
) -> None:
    (report,) = checked(
        app_wheel, tmp_path, cache_dir, (Check.script(check_script),), trace=False, stubs=False, minimal=True
    )
    assert installed_keys(report) == NEEDED | {"app/startup_only.py"}
    runs = report.check.runs  # type: ignore[attr-defined]
    assert "trace" not in runs and runs["reduce"] > 0
    assert report.check.total_runs < 2 * 45  # type: ignore[attr-defined]


def test_resume_reuses_the_journal(app_wheel: Path, check_script: Path, cache_dir: Path, tmp_path: Path) -> None:
    first = checked(app_wheel, None, cache_dir, (Check.script(check_script),), trace=False, stubs=False)
    again = checked(app_wheel, None, cache_dir, (Check.script(check_script),), trace=False, stubs=False, resume=True)
    # every candidate on the decision path comes from the journal; at most a speculative run or two is new
    assert first[0].check.runs["reduce"] > 10  # type: ignore[attr-defined]
    assert again[0].check.runs.get("reduce", 0) <= 2  # type: ignore[attr-defined]
    assert installed_after(first) == installed_after(again)


def installed_after(reports: list[object]) -> dict[str, object]:
    return json.loads(json.dumps([r.after.by_category for r in reports], default=str))  # type: ignore[attr-defined]


def test_check_failing_with_the_original_wheel_is_refused(app_wheel: Path, cache_dir: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import app\nraise SystemExit('broken check: wrong answer')\n")
    with pytest.raises(SlimwheelError, match="fails with the original wheels: exited 1; last line: broken check"):
        checked(app_wheel, None, cache_dir, (Check.script(bad),))


def test_check_passing_without_the_wheel_is_refused(app_wheel: Path, cache_dir: Path, tmp_path: Path) -> None:
    idle = tmp_path / "idle.py"
    idle.write_text("print('I test nothing')\n")
    with pytest.raises(SlimwheelError, match="passes even without the wheels"):
        checked(app_wheel, None, cache_dir, (Check.script(idle),))


def test_flaky_check_is_refused(app_wheel: Path, cache_dir: Path, tmp_path: Path) -> None:
    counter = tmp_path / "count"
    flaky = tmp_path / "flaky.py"
    flaky.write_text(
        f"import app, pathlib\np = pathlib.Path({str(counter)!r})\nn = int(p.read_text()) if p.exists() else 0\n"
        "p.write_text(str(n + 1))\nraise SystemExit(1 if n == 1 else 0)\n"
    )
    with pytest.raises(SlimwheelError, match="is flaky"):
        checked(app_wheel, None, cache_dir, (Check.script(flaky),))


def test_hanging_candidate_is_killed_and_counted_as_failure(app_wheel: Path, cache_dir: Path, tmp_path: Path) -> None:
    hang = tmp_path / "hang.py"
    hang.write_text(
        "import os, time, app\n"
        "if not os.path.exists(os.path.join(os.path.dirname(app.__file__), 'data', 'unused.bin')):\n"
        "    time.sleep(3600)\n"
        "print(app.core.compute())\n"
    )
    (report,) = checked(app_wheel, None, cache_dir, (Check.script(hang),), timeout=3.0, stubs=False)
    assert "app/data/unused.bin" not in {r.path for r in report.removed}  # type: ignore[attr-defined]
    assert report.check.timeout == 3.0  # type: ignore[attr-defined]


def test_repair_starts_from_files_named_in_the_error(app_wheel: Path, cache_dir: Path, tmp_path: Path) -> None:
    # `cat` is not Python, so the tracer can't see it read needed.txt; its error message names the file
    script = tmp_path / "cat_check.py"
    script.write_text(
        "import os, subprocess, app\n"
        "path = os.path.join(os.path.dirname(app.__file__), 'data', 'needed.txt')\n"
        "out = subprocess.run(['cat', path], capture_output=True, text=True)\n"
        "if out.returncode:\n    raise SystemExit(out.stderr)\n"
        "assert out.stdout == '100'\n"
    )
    (report,) = checked(app_wheel, tmp_path / "wh", cache_dir, (Check.script(script),), stubs=False)
    kept = installed_keys(report)
    assert "app/data/needed.txt" in kept and "app/data/unused.bin" not in kept and "app/data/flag.txt" not in kept
    runs = report.check.runs  # type: ignore[attr-defined]
    assert runs["verify"] == 1 and runs["repair"] <= 2, runs  # the named file first (+ one speculative run)


def test_named_in_maps_tree_paths_and_missing_modules(tmp_path: Path) -> None:
    from slimwheel.trial import Trial

    items = {"app/data/x.txt": b"", "app/sub/__init__.py": b"", "app/sub/m.py": b"", "app/fast.cpython-311.so": b""}
    trial = Trial.__new__(Trial)
    trial.items = items
    output = (
        "cat: /tmp/slimwheel-trial-1/trees/7/site/app/data/x.txt: No such file or directory\n"
        "ModuleNotFoundError: No module named 'app.sub'\n"
        "ImportError: cannot import name 'fast' from 'app' (/tmp/x/trees/8/site/app/__init__.py)\n"
    )
    assert trial.named_in(output) == {"app/data/x.txt", "app/sub/__init__.py", "app/fast.cpython-311.so"}


def test_same_output_keeps_files_that_only_change_what_the_check_prints(
    app_wheel: Path, cache_dir: Path, tmp_path: Path
) -> None:
    script = tmp_path / "prints.py"
    script.write_text(
        "import os, app\nprint(app.core.compute(), os.path.exists(os.path.join(os.path.dirname(app.__file__), "
        "'data', 'unused.bin')))\n"
    )
    loose = checked(app_wheel, None, cache_dir, (Check.script(script),), stubs=False)
    strict = checked(app_wheel, None, cache_dir, (Check.script(script),), stubs=False, same_output=True)
    assert "app/data/unused.bin" in {r.path for r in loose[0].removed}  # type: ignore[attr-defined]
    assert "app/data/unused.bin" not in {r.path for r in strict[0].removed}  # type: ignore[attr-defined]


def test_max_runs_stops_early_with_a_verified_result(
    app_wheel: Path, check_script: Path, cache_dir: Path, tmp_path: Path
) -> None:
    (report,) = checked(
        app_wheel, tmp_path, cache_dir, (Check.script(check_script),), trace=False, stubs=False, max_runs=3
    )
    runs = report.check.runs  # type: ignore[attr-defined]
    assert runs["reduce"] <= 3 and runs["confirm"] == 3
    assert installed_keys(report) >= NEEDED


def test_interrupt_keeps_the_best_verified_result(
    app_wheel: Path, check_script: Path, cache_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from slimwheel.trial import Trial

    original = Trial.evaluate
    calls = {"n": 0}

    def interrupted(self: Trial, *args: object, **kwargs: object) -> bool:
        calls["n"] += 1
        if calls["n"] > 6:
            raise KeyboardInterrupt
        return original(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Trial, "evaluate", interrupted)
    (report,) = checked(app_wheel, tmp_path, cache_dir, (Check.script(check_script),), trace=False, stubs=False)
    assert report.check.interrupted  # type: ignore[attr-defined]
    assert installed_keys(report) >= NEEDED  # whatever was kept had passed the check


def test_several_wheels_are_reduced_together(app_wheel: Path, cache_dir: Path, tmp_path: Path) -> None:
    helper = SynthWheel(
        name="helperpkg",
        version="0.1",
        files={
            "helperpkg/__init__.py": b"from .used import VALUE\n",
            "helperpkg/used.py": b"VALUE = 7\n",
            "helperpkg/unused.py": b"X = 1\n" * 100,
        },
    ).build(tmp_path / "dist")
    script = tmp_path / "both.py"
    script.write_text("import app, helperpkg\nassert app.core.compute() + helperpkg.VALUE == 151\n")
    options = CheckOptions(trial=TrialOptions(checks=(Check.script(script),), jobs=2, stubs=False), cache_dir=cache_dir)
    (tmp_path / "wh").mkdir()
    reports = pipeline.run([app_wheel, helper], tmp_path / "wh", ShrinkOptions(), Learn(options))
    assert [Path(r.output).name for r in reports] == [app_wheel.name, helper.name]  # type: ignore[arg-type]
    assert {r.path for r in reports[1].removed} == {"helperpkg/unused.py"}
    assert "app/extras/__init__.py" in {r.path for r in reports[0].removed}
    assert reports[0].check is reports[1].check or reports[0].check == reports[1].check


def test_progress_events_carry_an_eta(app_wheel: Path, check_script: Path, cache_dir: Path) -> None:
    from slimwheel.cli import progress_line
    from slimwheel.trial import TrialEvent

    events: list[TrialEvent] = []
    options = CheckOptions(
        trial=TrialOptions(checks=(Check.script(check_script),), jobs=1, trace=False, stubs=False, minimal=True),
        cache_dir=cache_dir,
    )
    pipeline.run([app_wheel], None, ShrinkOptions(), Learn(options), events.append)
    assert [e.runs for e in events] == list(range(1, len(events) + 1))
    assert events[0].eta is not None and events[0].eta_is_lower_bound  # the baseline can't see the search
    certify = [e for e in events if e.phase == "certify"]
    assert certify and all(e.eta is not None and not e.eta_is_lower_bound for e in certify)
    confirm = [e for e in events if e.phase == "confirm"]
    assert [e.eta == 0 for e in confirm] == [False, False, True]  # one run per confirmation left, then none
    # the estimate in certify counts down with the items left to try
    assert certify[-1].eta is not None and certify[0].eta is not None and certify[-1].eta <= certify[0].eta * 1.5
    line = progress_line(events[-1])
    assert line.startswith("confirm: ") and "removed " in line and "ETA ~0 s" in line


# ---- licence files and plain shared libraries ------------------------------------------------------------------

LIC_INIT = b"""import ctypes, os
from . import core
from . import heavy
try:  # a plain shared library loaded at start-up, which the check never calls
    PLAIN = ctypes.CDLL(os.path.join(os.path.dirname(__file__), "libplain.so"))
except OSError:
    PLAIN = None
"""
LIC_CHECK = "import app\nassert app.core.compute() == 42\nprint('ok')\n"
# The licence and notice files of the licensed app wheel; the check opens none of them.
APP_LICENCES = {
    "app/LICENSE",
    "app/ThirdPartyNotices.txt",
    "app/heavy/LICENSE",  # in a package the trial replaces by a stub
    "app/extras/COPYING_X.txt",  # beside modules the check does not need
    "app/data/README-NOTICE",
    "app-1.0.dist-info/licenses/LICENSE",
}


@pytest.fixture(scope="module")
def licensed_app(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(wheel, check script): app imports its core, a heavy subpackage it never uses and a plain .so."""
    from synth import compile_shared_lib

    tmp = tmp_path_factory.mktemp("licensed")
    files: dict[str, bytes] = {path: f"licence text of {path}\n".encode() for path in APP_LICENCES}
    files |= {
        "app/__init__.py": LIC_INIT,
        "app/core.py": b"def compute():\n    return 41 + 1\n",
        "app/heavy/__init__.py": b"from .impl import helper\n",
        "app/heavy/impl.py": b"def helper():\n    return 1\n" + b"# padding\n" * 500,
        "app/libplain.so": compile_shared_lib(tmp / "lib", "libplain.so").read_bytes(),
        "app/extras/__init__.py": b"",
        "app/extras/unused.py": b"X = 1\n" * 200,
        "app/data/table.csv": b"a,b\n" * 100,
    }
    wheel = SynthWheel(
        name="app", version="1.0", tag=native_tag(), purelib=False, files=files, metadata_extra="License-File: LICENSE"
    ).build(tmp / "dist")
    check = tmp / "check_app.py"
    check.write_text(LIC_CHECK)
    return wheel, check


def members_of(path: object) -> dict[str, bytes]:
    import zipfile

    with zipfile.ZipFile(str(path)) as zf:
        return {i.filename: zf.read(i) for i in zf.infolist() if not i.is_dir()}


def test_trial_keeps_licence_files_and_never_stubs_a_plain_library(
    licensed_app: tuple[Path, Path], cache_dir: Path, tmp_path: Path
) -> None:
    wheel, check = licensed_app
    (report,) = checked(wheel, tmp_path, cache_dir, (Check.script(check),))
    before, after = members_of(wheel), members_of(report.output)  # type: ignore[attr-defined]
    for path in APP_LICENCES:
        assert after.get(path) == before[path], f"{path} was removed or changed"
    assert not APP_LICENCES & {r.path for r in report.removed}  # type: ignore[attr-defined]
    assert {"app/extras/unused.py", "app/data/table.csv"} <= {r.path for r in report.removed}  # type: ignore[attr-defined]
    # app.heavy is stubbed; its licence stays beside the stub
    assert report.check.stubs == ["app.heavy (2 files replaced)"]  # type: ignore[attr-defined]
    assert b"__slimwheel_stub__ = True" in after["app/heavy/__init__.py"] and "app/heavy/impl.py" not in after
    # the plain library is no module: never a .py stub; the traced run opened it, so it stays (stripped)
    assert "app/libplain.py" not in after and after["app/libplain.so"].startswith(b"\x7fELF")


def test_minimal_removes_an_unneeded_plain_library_as_a_file(
    licensed_app: tuple[Path, Path], cache_dir: Path, tmp_path: Path
) -> None:
    wheel, check = licensed_app
    (report,) = checked(wheel, tmp_path, cache_dir, (Check.script(check),), minimal=True)
    after = members_of(report.output)  # type: ignore[attr-defined]
    assert set(after) >= APP_LICENCES
    removed = {r.path: r.reason for r in report.removed}  # type: ignore[attr-defined]
    assert removed["app/libplain.so"].startswith("not needed by the check")
    assert "app/libplain.py" not in after and not any("libplain" in s for s in report.check.stubs)  # type: ignore[attr-defined]


# app.consts and app.kinds are imported at start-up and never *called*, but their attributes are used (a constant,
# a class in isinstance): the traced run records the lookups, so both are tried last, one by one; app.quiet and
# app.noisy are stubbable and tried first, together; app.noisy registers itself with app.registry at import (it
# calls into the package), which the check does not rely on.
ACCESS_FILES: dict[str, bytes] = {
    "app/__init__.py": b"from . import registry, core, consts, kinds, quiet, noisy\n",
    "app/registry.py": b"NAMES = []\n\ndef register(name):\n    NAMES.append(name)\n",
    "app/core.py": b"""from . import consts, kinds

def make():
    return kinds.Marker()

def compute(x):
    assert isinstance(x, kinds.Marker)
    return consts.BASE + 1
""",
    "app/consts.py": b"BASE = 41\n" + b"# padding\n" * 300,
    "app/kinds.py": b"class Marker:\n    pass\n" + b"# padding\n" * 300,
    "app/quiet.py": b"def unused():\n    return 0\n" + b"# padding\n" * 300,
    "app/noisy.py": b"from . import registry\nregistry.register('noisy')\n" + b"# padding\n" * 300,
}
ACCESS_CHECK = "import app\nassert app.core.compute(app.core.make()) == 42\nprint('ok')\n"


def test_stubs_try_modules_whose_attributes_are_used_last_and_group_the_rest(cache_dir: Path, tmp_path: Path) -> None:
    wheel = SynthWheel(name="app", version="1.0", tag="py3-none-any", purelib=True, files=ACCESS_FILES)
    check = tmp_path / "check_access.py"
    check.write_text(ACCESS_CHECK)
    (report,) = checked(wheel.build(tmp_path / "dist"), tmp_path / "out", cache_dir, (Check.script(check),))
    stubs = report.check.stubs  # type: ignore[attr-defined]
    assert sorted(stubs) == ["app.noisy (1 file replaced)", "app.quiet (1 file replaced)"]
    # one run to list the start-up modules, one run for app.quiet and app.noisy together, then one run for each
    # looked-up module (each fails with the two accepted stubs)
    assert report.check.runs["stubs"] == 4, report.check.runs  # type: ignore[attr-defined]
    assert report.check.runs["confirm"] == 3  # type: ignore[attr-defined]


def test_tracer_records_module_attribute_lookups_with_their_callers(tmp_path: Path) -> None:
    from slimwheel.trace import bootstrap_dir, read_traces

    tree = tmp_path / "tree"
    files = {**ACCESS_FILES, "app/deep/__init__.py": b"", "app/deep/inner.py": b"Y = 1\n"}
    for key, data in files.items():
        (tree / "site" / key).parent.mkdir(parents=True, exist_ok=True)
        (tree / "site" / key).write_bytes(data)
    traces = tmp_path / "traces"
    traces.mkdir()
    env = {
        "PYTHONPATH": f"{bootstrap_dir(tmp_path)}:{tree / 'site'}",
        "SLIMWHEEL_TRACE_DIR": str(traces),
        "SLIMWHEEL_TRACE_CALLS": "1",
    }
    script = (
        ACCESS_CHECK
        + "import app.deep.inner\nassert app.deep.inner.Y == 1\n"  # a chain: app, app.deep, app.deep.inner
        + "names = [getattr(m, n) for m in (app.quiet, app.noisy, app.registry) for n in dir(m)]\n"  # a scanner
    )
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    trace = read_traces(traces, tree)
    accesses = trace.accesses
    assert ("app/kinds.py", "app/core.py") in accesses and ("app/consts.py", "app/core.py") in accesses
    assert ("app/core.py", "") in accesses  # app.core.compute looked up by the check script
    assert ("app/core.py", "") in trace.calls  # ... and called
    # bound by app/__init__.py and looked into only by a line that scans several modules: no use of its own
    assert not any(module in ("app/quiet.py", "app/noisy.py") for module, _ in accesses)
    assert ("app/deep/inner.py", "") in accesses  # a chain of packages on one line is no scanner
    # `from . import registry` in app/noisy.py looks registry up on app through the import system: the lookup is
    # app/noisy.py's, not the import system's (which would read as "outside the tree")
    assert ("app/__init__.py", "app/noisy.py") in accesses and ("app/registry.py", "app/noisy.py") in accesses
