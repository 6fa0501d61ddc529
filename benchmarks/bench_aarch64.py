"""Benchmark the aarch64 story on this x86-64 machine: the TFLite model check run under emulation (qemu-user).

The issue's targets, each measured here:

* **stock wheels** — tflite-runtime 2.14.0 (``manylinux_2_34_aarch64``) and numpy 1.26.4 (``manylinux2014_aarch64``)
  as one deploy set, shrunk against ``recipes/checks/tflite_mlp.py`` with ``--same-output``, the check run by
  Debian's arm64 CPython 3.11 under qemu-user: ≤ 14 MB for the two wheels together (16.55 MB unshrunk);
* **no-BLAS numpy** (``--numpy-noblas WHEEL``: numpy 1.26.4 cross-compiled without BLAS for aarch64 by
  ``slimwheel build recipes/numpy-noblas.toml --platform linux_aarch64``, the wheel it left in the cache's
  ``builds/`` before shrinking) with the same tflite-runtime: ≤ 4.0 MB together, at compress level 12 as the x86-64
  story;
* **one emulated check cycle ≤ 3 s**: the check script run ``--cycles`` times by the emulated interpreter on the
  original wheels (installed once with pip ``--target``), the median wall time; and the trial's runs past the
  baselines (≤ 3 for a verified result where a lock is replayed, as on x86-64);
* **numpy 2.4.6's aarch64 lock learned on x86-64**: ``slimwheel build recipes/numpy.toml --platform linux_aarch64``
  with the emulator prepared: the share of the lock's removals mapped (≥ 95%) and the check verified under
  emulation in one run.

For every shrunk set the output wheels are installed with pip ``--target`` and the check is run on them under
emulation, outside slimwheel: its stdout must be the stock wheels' (the model's output unchanged).

Single runs of each ``shrink``/``build`` command (each takes minutes emulated); the cycle is a median. Writes
``benchmarks/results/aarch64.{json,md}`` with the machine, commit, date and command (benchmarks/machine.py).

Example (the emulator is prepared into the cache if it isn't there yet)::

    .venv/bin/python benchmarks/bench_aarch64.py --numpy-noblas wheelhouse/numpy-1.26.4-cp311-cp311-linux_aarch64.whl
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS = HERE / "results"
sys.path.insert(0, str(HERE))

from machine import machine_info  # noqa: E402  (benchmarks/machine.py)

MB = 1_000_000
CHECK = REPO / "recipes" / "checks" / "tflite_mlp.py"
TFLITE = "tflite-runtime==2.14.0"
NUMPY = "numpy==1.26.4"
TARGET = ["--platform", "manylinux_2_34_aarch64", "--platform", "manylinux2014_aarch64", "--python-version", "3.11"]
GOAL_STOCK = 14 * MB
GOAL_NOBLAS = int(4.0 * MB)
GOAL_CYCLE = 3.0


def slimwheel(*args: str, cwd: Path) -> tuple[subprocess.CompletedProcess[str], float]:
    command = [sys.executable, "-m", "slimwheel", *args]
    started = time.monotonic()
    proc = subprocess.run(command, capture_output=True, text=True, cwd=cwd)
    wall = time.monotonic() - started
    if proc.returncode != 0:
        raise SystemExit(f"{shlex.join(command)} exited {proc.returncode}:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    return proc, wall


def prepare(cache: Path, scratch: Path) -> tuple[Path, float]:
    proc, wall = slimwheel("emulator", "prepare", "aarch64", "--python", "3.11", "--cache-dir", str(cache), cwd=scratch)
    python = Path(proc.stdout.rsplit("--python ", 1)[1].split()[0])
    return python, wall


def download(dest: Path) -> list[Path]:
    """The stock aarch64 wheels (pip reuses those already in ``dest``)."""
    command = [sys.executable, "-m", "pip", "download", "-q", "--only-binary=:all:", "--no-deps", *TARGET]
    subprocess.run([*command, TFLITE, NUMPY, "-d", str(dest)], check=True)
    return [next(dest.glob("tflite_runtime-2.14.0-*.whl")), next(dest.glob("numpy-1.26.4-*aarch64*.whl"))]


def install(wheels: list[Path], target: Path) -> None:
    command = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--only-binary=:all:", *TARGET]
    command += ["--platform", "linux_aarch64"]  # a wheel built from source here is tagged linux_aarch64
    subprocess.run([*command, "--target", str(target), *map(str, wheels)], check=True)


def run_check(python: Path, site: Path, cwd: Path) -> tuple[str, float]:
    """The check under emulation on the wheels installed in ``site``: its stdout and wall time."""
    env = {**os.environ, "PYTHONPATH": str(site)}
    started = time.monotonic()
    proc = subprocess.run([str(python), "-s", str(CHECK)], capture_output=True, text=True, cwd=cwd, env=env)
    wall = time.monotonic() - started
    if proc.returncode != 0:
        raise SystemExit(f"the check failed under emulation on {site}:\n{proc.stderr[-2000:]}")
    return proc.stdout, wall


def shrink_set(
    name: str, inputs: list[str], extra: list[str], python: Path, cache: Path, scratch: Path
) -> dict[str, Any]:
    out, report = scratch / name, scratch / f"{name}.json"
    args = ["shrink", *inputs, "--check", str(CHECK), "--same-output", "--python", str(python), "-j", "2"]
    args += ["--cache-dir", str(cache), "-w", str(out), "--json", str(report), "-q", *extra]
    _, wall = slimwheel(*args, cwd=scratch)
    document = json.loads(report.read_text())
    checks = [w["check"] for w in document["wheels"] if w["check"] is not None]
    phases = checks[0]["phases"] if checks else {}
    return {
        "command": shlex.join(["slimwheel", *args]),
        "wall_seconds": round(wall, 1),
        "compressed_before": document["total"]["before"]["compressed"],
        "compressed_after": document["total"]["after"]["compressed"],
        "installed_before": document["total"]["before"]["installed"],
        "installed_after": document["total"]["after"]["installed"],
        "wheels": {Path(w["output"]).name: w["after"]["compressed"] for w in document["wheels"]},
        "check_runs": checks[0]["runs"] if checks else 0,
        "phases": phases,
        "runs_past_baseline": sum(v for k, v in phases.items() if k != "baseline"),
        "check_seconds": checks[0]["seconds"] if checks else 0,
        "notes": checks[0]["notes"] if checks else [],
        "outputs": sorted(str(w["output"]) for w in document["wheels"]),
    }


def lock_on_aarch64(cache: Path, scratch: Path) -> dict[str, Any]:
    report = scratch / "numpy-build.json"
    args = ["build", str(REPO / "recipes" / "numpy.toml"), "--platform", "linux_aarch64", "--cache-dir", str(cache)]
    args += ["-w", str(scratch / "numpy-build"), "--json", str(report)]
    _, wall = slimwheel(*args, cwd=scratch)
    (outcome,) = json.loads(report.read_text())["builds"]
    wheel = outcome["report"]
    return {
        "command": shlex.join(["slimwheel", *args]),
        "wall_seconds": round(wall, 1),
        "mode": outcome["mode"],
        "note": outcome["note"],
        "coverage": wheel["lock"]["coverage"],
        "mapped": wheel["lock"]["mapped"],
        "total": wheel["lock"]["total"],
        "verified": wheel["lock"]["verified"],
        "compressed_before": wheel["before"]["compressed"],
        "compressed_after": wheel["after"]["compressed"],
    }


def markdown(data: dict[str, Any]) -> str:
    m = data["machine"]
    lines = [
        "# aarch64 under emulation (benchmarks/bench_aarch64.py)",
        "",
        f"- date {m['date']}, commit {m['commit']}, {m['cpu']} ({m['cores']} cores), load {m['loadavg_start']}",
        f"- command: `{m['command']}`",
        f"- emulator: {data['emulator']['python']} (prepare: {data['emulator']['prepare_seconds']} s)",
        "",
        "| what | before | after | target | met | check runs (past baselines) | wall |",
        "|---|---|---|---|---|---|---|",
    ]
    for key, goal in (("stock", GOAL_STOCK), ("noblas", GOAL_NOBLAS)):
        r = data.get(key)
        if r is None:
            lines.append(f"| {key} | not measured | | ≤ {goal / MB:.2f} MB | | | |")
            continue
        met = "yes" if r["compressed_after"] <= goal else "no"
        lines.append(
            f"| {key}: tflite-runtime + numpy | {r['compressed_before'] / MB:.2f} MB"
            f" | {r['compressed_after'] / MB:.2f} MB"
            f" | ≤ {goal / MB:.2f} MB | {met} | {r['check_runs']} ({r['runs_past_baseline']}) | {r['wall_seconds']} s |"
        )
    c = data["cycle"]
    lines += [
        "",
        f"One emulated check cycle (the check on the stock wheels, median of {len(c['all'])}): **{c['median']:.2f} s**"
        f" (target ≤ {GOAL_CYCLE} s: {'met' if c['median'] <= GOAL_CYCLE else 'not met'}); all: {c['all']}.",
    ]
    lock = data["lock"]
    lines += [
        "",
        f"numpy 2.4.6 lock learned on x86-64, on the aarch64 wheel: {lock['mapped']}/{lock['total']} removals mapped "
        f"({lock['coverage']:.1%}), mode `{lock['mode']}`, verified {lock['verified']}, "
        f"{lock['compressed_before'] / MB:.2f} → {lock['compressed_after'] / MB:.2f} MB in {lock['wall_seconds']} s.",
        "",
        "Model output of every shrunk set, installed with pip and run under emulation outside slimwheel, compared "
        f"with the stock wheels': {data['outputs_unchanged']}.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--numpy-noblas", type=Path, help="numpy 1.26.4 built without BLAS for linux_aarch64")
    parser.add_argument("--cache-dir", type=Path, default=Path.home() / ".cache" / "slimwheel")
    parser.add_argument("--cycles", type=int, default=5)
    args = parser.parse_args()
    data: dict[str, Any] = {"machine": machine_info()}
    with tempfile.TemporaryDirectory(prefix="bench-aarch64-") as temporary:
        scratch = Path(temporary)
        python, prepare_seconds = prepare(args.cache_dir, scratch)
        data["emulator"] = {"python": str(python), "prepare_seconds": round(prepare_seconds, 1)}
        stock = download(args.cache_dir / "wheels" / "aarch64-story")
        original = scratch / "site-original"
        install(stock, original)
        reference, _ = run_check(python, original, scratch)  # the first run also warms the page cache
        walls = [run_check(python, original, scratch)[1] for _ in range(args.cycles)]
        data["cycle"] = {"median": round(statistics.median(walls), 2), "all": [round(w, 2) for w in walls]}
        data["reference_output"] = reference
        data["stock"] = shrink_set("stock", [TFLITE, NUMPY, *TARGET], [], python, args.cache_dir, scratch)
        if args.numpy_noblas:
            inputs = [str(stock[0]), str(args.numpy_noblas.resolve())]
            data["noblas"] = shrink_set("noblas", inputs, ["--compress-level", "12"], python, args.cache_dir, scratch)
        unchanged = True
        for key in ("stock", "noblas"):
            if key in data:
                site = scratch / f"site-{key}"
                install([Path(p) for p in data[key]["outputs"]], site)
                output, _ = run_check(python, site, scratch)
                data[key]["output_unchanged"] = output == reference
                unchanged = unchanged and output == reference
        data["outputs_unchanged"] = unchanged
        data["lock"] = lock_on_aarch64(args.cache_dir, scratch)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "aarch64.json").write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    (RESULTS / "aarch64.md").write_text(markdown(data), encoding="utf-8")
    print(markdown(data))


if __name__ == "__main__":
    main()
