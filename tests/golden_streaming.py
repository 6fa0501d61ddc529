"""Golden outputs of ``slimwheel shrink`` recorded before the streaming rewrite (issue 9), and the code to compare.

``python tests/golden_streaming.py --record [SLIMWHEEL_SOURCE_DIR]`` runs ``slimwheel shrink`` (from the given
source tree, by default this checkout) on every golden input and writes ``tests/golden_streaming.json``: per case,
the input's SHA-256, the output wheel's SHA-256 and the SHA-256 of the JSON report with timings dropped and paths
reduced to file names. Inputs are the demo wheels (compiled in a fixed directory, so that their DWARF is
reproducible on this machine) and pinned real wheels from the tests' cache. Outputs also depend on the strip tools
installed; the recorded tool versions are kept beside the hashes.
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
from pathlib import Path

HERE = Path(__file__).resolve().parent
GOLDEN = HERE / "golden_streaming.json"
REAL = ("NUMPY_LINUX", "NUMPY_WIN64", "NUMPY_WIN32", "ONNXRUNTIME_LINUX")
DEMOS = ("demo-ext", "demo-pure")


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _normalise(value: object) -> object:
    if isinstance(value, dict):
        return {
            k: (Path(v).name if k in ("input", "output") and isinstance(v, str) else _normalise(v))
            for k, v in value.items()
            if k != "seconds"
        }
    if isinstance(value, list):
        return [_normalise(v) for v in value]
    return value


def report_hash(report: Path) -> str:
    text = json.dumps(_normalise(json.loads(report.read_text(encoding="utf-8"))), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def demo_input(case: str) -> Path:
    """The demo wheel, built in a fixed per-user directory (the compiler records its directory in DWARF)."""
    sys.path.insert(0, str(HERE))
    from synth import demo_wheel

    base = Path(tempfile.gettempdir()) / f"slimwheel-golden-{os.getuid()}"
    base.mkdir(exist_ok=True)
    out = base / case
    with open(base / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        shutil.rmtree(out, ignore_errors=True)
        return demo_wheel(base, with_extension=case == "demo-ext").build(out)


def real_input(case: str) -> Path:
    sys.path.insert(0, str(HERE))
    import wheelcache

    return wheelcache.fetch(getattr(wheelcache, case))


def run_shrink(wheel: Path, work: Path, source: Path | None = None) -> tuple[str, str]:
    """(output sha256, normalised report sha256) of ``slimwheel shrink WHEEL`` with default options."""
    out, report = work / "out", work / "report.json"
    env = {k: v for k, v in os.environ.items() if k not in ("SOURCE_DATE_EPOCH", "PYTHONPATH")}
    if source is not None:
        env["PYTHONPATH"] = str(source)
    cmd = [sys.executable, "-m", "slimwheel", "shrink", str(wheel), "-w", str(out), "--json", str(report), "-q"]
    subprocess.run(cmd, check=True, env=env, cwd=work, stdin=subprocess.DEVNULL)
    return sha256(out / wheel.name), report_hash(report)


def _tool_versions() -> dict[str, str]:
    found: dict[str, str] = {}
    for tool in ("strip", "llvm-strip"):
        path = shutil.which(tool)
        if path:
            proc = subprocess.run([path, "--version"], capture_output=True, text=True, check=False)
            found[tool] = (proc.stdout.splitlines() or [""])[0]
    return found


def record(source: Path | None) -> None:
    cases: dict[str, dict[str, str]] = {}
    for case in (*DEMOS, *REAL):
        wheel = demo_input(case) if case in DEMOS else real_input(case)
        with tempfile.TemporaryDirectory() as tmp:
            output, report = run_shrink(wheel, Path(tmp), source)
        cases[case] = {"input": sha256(wheel), "output": output, "report": report}
        print(case, cases[case], flush=True)
    GOLDEN.write_text(json.dumps({"tools": _tool_versions(), "cases": cases}, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--record"]:
        record(Path(sys.argv[2]) if len(sys.argv) > 2 else None)
    else:
        print(__doc__)
