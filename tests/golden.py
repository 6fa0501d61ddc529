"""Golden outputs: what slimwheel writes for a fixed set of inputs and commands, recorded once, compared always.

Every refactor must leave these identical (issue 10): the output wheel's SHA-256 and the SHA-256 of the JSON
report with timings dropped and paths reduced to file names. The cases cover the three ways the pipeline runs —
rules only, replaying a shipped lock (on the platform it was learned on and mapped onto Windows) and learning with
a check (``-j 1``, so no speculative run changes the counts) — plus ``inspect --json``.

``python tests/golden.py --record [SLIMWHEEL_SOURCE_DIR]`` runs every case with slimwheel from the given source
tree (by default this checkout) and writes ``tests/golden.json``. Inputs are the demo wheels (compiled in a fixed
directory, so their DWARF is reproducible on this machine), pinned real wheels from the tests' cache, and torch
2.13.0+cpu from ``/opt/wheels`` where that file exists (it is not on PyPI: its case is skipped elsewhere, and
says so). Outputs also depend on the strip tools installed; their versions are recorded beside the hashes, and
a machine with other tools skips the comparison.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
GOLDEN = HERE / "golden.json"
RECIPES = REPO / "recipes"
TORCH_CPU = Path("/opt/wheels/torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl")
DEMOS = ("demo-ext", "demo-pure")
# Keys whose values are wall times (or come from them): dropped before hashing.
_TIMINGS = frozenset({"seconds", "wall", "estimate", "elapsed", "started", "finished", "check_seconds"})

DEMO_CHECK = """\
import demo
from demo import _speedups
assert demo.core.add(2, 3) == 5
assert _speedups.add(2, 3) == 5
"""


@dataclass(frozen=True)
class Case:
    """One golden case: a command on one input. ``args`` may hold ``{lock}``/``{check}``-style placeholders for
    files of this repository (``{recipes}``) or written by :func:`run` (``{demo_check}``)."""

    name: str
    input: str  # a demo name, a wheelcache constant, or "TORCH_CPU"
    command: str  # "shrink" or "inspect"
    args: tuple[str, ...] = ()


CASES = (
    *(Case(f"rules/{w}", w, "shrink") for w in (*DEMOS, "NUMPY_LINUX", "NUMPY_WIN64", "NUMPY_WIN32")),
    *(Case(f"rules/{w}", w, "shrink") for w in ("ONNXRUNTIME_LINUX", "ONNXRUNTIME_WIN64", "SCIPY_LINUX")),
    Case("rules-level-debug/NUMPY_LINUX", "NUMPY_LINUX", "shrink", ("--strip", "debug", "--compress-level", "6")),
    *(
        Case(f"lock/{w}", w, "shrink", ("--lock", "{recipes}/locks/numpy.lock"))
        for w in ("NUMPY_LINUX", "NUMPY_WIN64", "NUMPY_WIN32")
    ),
    Case("lock/ONNXRUNTIME_WIN64", "ONNXRUNTIME_WIN64", "shrink", ("--lock", "{recipes}/locks/onnxruntime.lock")),
    Case("lock/SCIPY_LINUX", "SCIPY_LINUX", "shrink", ("--lock", "{recipes}/locks/scipy.lock")),
    Case("lock/TORCH_CPU", "TORCH_CPU", "shrink", ("--lock", "{recipes}/locks/torch-cpu.lock")),
    Case("check/demo-ext", "demo-ext", "shrink", ("--check", "{demo_check}", "-j", "1")),
    Case(
        "check/NUMPY_LINUX",
        "NUMPY_LINUX",
        "shrink",
        ("--check", "{recipes}/checks/numpy_linalg_fft.py", "-j", "1", "--save-lock", "{work}/learned.lock"),
    ),
    Case("inspect/NUMPY_LINUX", "NUMPY_LINUX", "inspect"),
    Case("inspect/demo-ext", "demo-ext", "inspect"),
)


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _normalise(value: object) -> object:
    """Timings dropped, absolute paths reduced to their file names."""
    if isinstance(value, dict):
        return {k: _normalise(v) for k, v in value.items() if k not in _TIMINGS}
    if isinstance(value, list):
        return [_normalise(v) for v in value]
    if isinstance(value, str) and os.path.isabs(value):
        return Path(value).name
    return value


def report_hash(report: Path) -> str:
    text = json.dumps(_normalise(json.loads(report.read_text(encoding="utf-8"))), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def demo_input(case: str) -> Path:
    """The demo wheel, built in a fixed per-user directory (the compiler records its directory in DWARF)."""
    sys.path.insert(0, str(HERE))
    import synth

    base = Path(tempfile.gettempdir()) / f"slimwheel-golden-{os.getuid()}"
    base.mkdir(exist_ok=True)
    out = base / case
    mine = Path(tempfile.mkdtemp(prefix=f"{case}-", dir=base))  # a copy of our own: others rebuild ``out``
    with open(base / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        shutil.rmtree(out, ignore_errors=True)
        # synth reuses what this process compiled before, in another directory (other DWARF): compile afresh here.
        compiled = dict(synth._compiled)
        synth._compiled.clear()
        try:
            built = synth.demo_wheel(base, with_extension=case == "demo-ext").build(out)
        finally:
            synth._compiled.update(compiled)
        return Path(shutil.copy2(built, mine / built.name))


def input_of(case: Case) -> Path:
    """The case's input wheel (``FileNotFoundError`` for torch where /opt/wheels does not have it)."""
    if case.input in DEMOS:
        return demo_input(case.input)
    if case.input == "TORCH_CPU":
        if not TORCH_CPU.is_file():
            raise FileNotFoundError(f"{TORCH_CPU} (not on PyPI; this case runs where that file is)")
        return TORCH_CPU
    sys.path.insert(0, str(HERE))
    import wheelcache

    return wheelcache.fetch(getattr(wheelcache, case.input))


def run(case: Case, wheel: Path, work: Path, source: Path | None = None) -> dict[str, str]:
    """Run one case in ``work``: the hashes of what it wrote (output wheel, normalised report, learned lock)."""
    out, report = work / "out", work / "report.json"
    (work / "demo_check.py").write_text(DEMO_CHECK, encoding="utf-8")
    places = {"recipes": str(RECIPES), "demo_check": str(work / "demo_check.py"), "work": str(work)}
    args = [a.format(**places) for a in case.args]
    env = {k: v for k, v in os.environ.items() if k not in ("SOURCE_DATE_EPOCH", "PYTHONPATH", "CI")}
    env["SLIMWHEEL_CACHE"] = str(work / "cache")  # no journal of an earlier run is reused
    if source is not None:
        env["PYTHONPATH"] = str(source)
    cmd = [sys.executable, "-m", "slimwheel", case.command, str(wheel), "--json", str(report), *args]
    if case.command == "shrink":
        cmd[4:4] = ["-q", "-w", str(out)]
    proc = subprocess.run(cmd, env=env, cwd=work, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{case.name}: exit {proc.returncode}: {proc.stderr.strip()[-2000:]}")
    result = {"report": report_hash(report)}
    if case.command == "shrink":
        result["output"] = sha256(out / wheel.name)
    if (work / "learned.lock").exists():
        result["lock"] = sha256(work / "learned.lock")
    return result


def tool_versions() -> dict[str, str]:
    found: dict[str, str] = {}
    for tool in ("strip", "llvm-strip"):
        path = shutil.which(tool)
        if path:
            proc = subprocess.run([path, "--version"], capture_output=True, text=True, check=False)
            found[tool] = (proc.stdout.splitlines() or [""])[0]
    return found


def record(source: Path | None) -> None:
    cases: dict[str, dict[str, str]] = {}
    for case in CASES:
        try:
            wheel = input_of(case)
        except FileNotFoundError as exc:
            print(f"{case.name}: not recorded: {exc}", flush=True)
            continue
        with tempfile.TemporaryDirectory() as tmp:
            cases[case.name] = {"input": sha256(wheel), **run(case, wheel, Path(tmp), source)}
        print(case.name, cases[case.name], flush=True)
    data = {"tools": tool_versions(), "cases": cases}
    GOLDEN.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--record"]:
        record(Path(sys.argv[2]) if len(sys.argv) > 2 else None)
    else:
        print(__doc__)
