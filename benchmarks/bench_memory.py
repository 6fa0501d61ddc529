"""Peak memory and wall time of slimwheel on big wheels (issue 9: memory bounded by the stream, not by the wheel).

For each wheel, in interleaved rounds (the order rotates every round):

* ``shrink``: ``slimwheel shrink WHEEL -w OUT --json REPORT -q`` (default rules, ``--strip unneeded``, level 9);
* ``inspect``: ``slimwheel inspect WHEEL --json FILE``;
* ``baseline``: ``python -m wheel unpack`` then ``python -m wheel pack`` (wall times added, peaks the larger);

and once per run the 1,000 × 1 MiB zeros wheel (refused by ``inspect`` and ``shrink``).

Three memory figures per command, because they answer different questions:

* ``tree_peak``: the process tree's peak, sampling ``/proc`` every 50 ms and summing VmRSS over the command and all
  its descendants (strip tools included) — what the machine must have;
* ``largest_process``: the largest single process's peak (what ``/usr/bin/time -v`` reports as "Maximum resident
  set size": ``ru_maxrss`` of the children, i.e. the biggest one, here usually llvm-strip), from ``time -v``;
* ``own``: slimwheel's own process, its ``VmHWM`` (peak RSS since ``exec``) printed at exit by a wrapper that
  runs ``slimwheel.cli.main`` in-process. Not ``getrusage(RUSAGE_SELF).ru_maxrss``: Linux carries the parent's
  peak over ``vfork`` + ``exec`` into it, so a child of a big process reports the parent's size.

The slimwheel package is copied aside at the start (the work tree as it is; others edit it concurrently). Results go
to ``results/memory.json`` and ``results/memory.md`` with the commit, date, machine and command.

    .venv/bin/python benchmarks/bench_memory.py --runs 3 \\
        --wheel torch-cpu=/opt/wheels/torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl \\
        --wheel torch-cuda=/tmp/cuda-torch/torch-2.13.0-cp311-cp311-manylinux_2_28_x86_64.whl
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
import zlib
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from machine import machine_info
from measured import MEASURED  # tests/measured.py: the CLI run in-process, reporting its peak RSS

REPO = Path(__file__).resolve().parent.parent
MIB = 1024**2
TARGETS = {  # bytes (memory) or ratio (wall)
    "shrink.tree_peak": 1000 * 10**6,
    "shrink.own": 300 * 10**6,
    "inspect.own": 200 * 10**6,
    "inspect.tree_peak": 200 * 10**6,
    "bomb.own": 200 * 10**6,
    "wall_ratio": 0.6,
}


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as fh:
                found += [int(x) for x in fh.read().split()]
    except OSError:
        pass
    return found


def _rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _sample_tree(root: int, stop: threading.Event, peaks: dict[str, int]) -> None:
    while not stop.is_set():
        pids, todo = [], [root]
        while todo:
            pid = todo.pop()
            pids.append(pid)
            todo += _children(pid)
        sizes = [_rss(pid) for pid in pids]
        peaks["tree_peak"] = max(peaks.get("tree_peak", 0), sum(sizes))
        peaks["largest_sampled"] = max(peaks.get("largest_sampled", 0), max(sizes, default=0))
        stop.wait(0.05)


def measure(cmd: list[str], env: dict[str, str], cwd: Path, ok: tuple[int, ...] = (0,)) -> dict[str, Any]:
    """Run ``cmd`` under ``/usr/bin/time -v`` while sampling its process tree."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        ["/usr/bin/time", "-v", *cmd], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    peaks: dict[str, int] = {}
    stop = threading.Event()
    sampler = threading.Thread(target=_sample_tree, args=(proc.pid, stop, peaks))
    sampler.start()
    _, stderr = proc.communicate()
    wall = time.perf_counter() - start
    stop.set()
    sampler.join()
    if proc.returncode not in ok:
        raise SystemExit(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{stderr[-3000:]}")
    own = [int(m) * 1024 for m in re.findall(r"^MAXRSS_KIB (\d+)$", stderr, re.MULTILINE)]
    largest = [int(m) * 1024 for m in re.findall(r"Maximum resident set size \(kbytes\): (\d+)", stderr)]
    return {
        "wall": round(wall, 3),
        "tree_peak": peaks.get("tree_peak", 0),
        "largest_process": max(largest, default=0),
        "own": own[-1] if own else None,
        "returncode": proc.returncode,
        "stderr_tail": stderr.strip().splitlines()[-1:] if proc.returncode else [],
    }


def snapshot(work: Path) -> dict[str, str]:
    target = work / "snapshot"
    shutil.copytree(REPO / "slimwheel", target / "slimwheel", ignore=shutil.ignore_patterns("__pycache__"))
    return {**os.environ, "PYTHONPATH": str(target)}


def zeros_bomb(dest: Path) -> Path:
    """The 1,000 × 1 MiB zeros wheel, valid (RECORD hashes and all), 1.1 MB on disk."""
    sys.path.insert(0, str(REPO / "tests"))
    from synth import SynthWheel

    wheel = SynthWheel(name="bomb", version="1.0")
    zeros = bytes(MIB)
    wheel.files = {f"bomb/zeros{i:04}.bin": zeros for i in range(1000)}
    built: Path = wheel.build(dest)
    return built


def run_one(kind: str, wheel: Path, work: Path, env: dict[str, str]) -> dict[str, Any]:
    scratch = Path(tempfile.mkdtemp(dir=work))
    try:
        py = sys.executable
        if kind == "shrink":
            out = scratch / "out"
            cmd = [py, "-c", MEASURED, "shrink", str(wheel), "-w", str(out), "--json", str(scratch / "r.json"), "-q"]
            result = measure(cmd, env, scratch)
            result["output_bytes"] = (out / wheel.name).stat().st_size
            result["report"] = json.loads((scratch / "r.json").read_text())["wheels"][0]["after"]
            return result
        if kind == "inspect":
            return measure([py, "-c", MEASURED, "inspect", str(wheel), "--json", str(scratch / "i.json")], env, scratch)
        if kind in ("bomb-inspect", "bomb-shrink"):
            args = ["inspect", str(wheel)] if kind == "bomb-inspect" else ["shrink", str(wheel), "-w", str(scratch)]
            return measure([py, "-c", MEASURED, *args], env, scratch, ok=(2,))
        unpack = measure([py, "-m", "wheel", "unpack", str(wheel), "-d", str(scratch / "u")], env, scratch)
        (tree,) = list((scratch / "u").iterdir())
        (scratch / "o").mkdir()
        pack = measure([py, "-m", "wheel", "pack", str(tree), "-d", str(scratch / "o")], env, scratch)
        return {
            "wall": round(unpack["wall"] + pack["wall"], 3),
            "unpack": unpack["wall"],
            "pack": pack["wall"],
            "tree_peak": max(unpack["tree_peak"], pack["tree_peak"]),
            "largest_process": max(unpack["largest_process"], pack["largest_process"]),
            "own": None,
        }
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def verify_output(wheel: Path, work: Path, env: dict[str, str]) -> dict[str, Any]:
    """One extra shrink whose output is checked: ``wheel unpack`` (RECORD hashes) and ``pip install --target``."""
    scratch = Path(tempfile.mkdtemp(dir=work))
    try:
        out = scratch / "out"
        subprocess.run(
            [sys.executable, "-m", "slimwheel", "shrink", str(wheel), "-w", str(out), "-q"], env=env, check=True
        )
        output = out / wheel.name
        unpack = subprocess.run(
            [sys.executable, "-m", "wheel", "unpack", str(output), "-d", str(scratch / "u")],
            capture_output=True,
            text=True,
        )
        pip = subprocess.run(
            [sys.executable, "-m", "pip", "install", "--no-deps", "--no-compile", "--isolated", "-q", "--target",
             str(scratch / "t"), str(output)],
            capture_output=True,
            text=True,
        )  # fmt: skip
        return {
            "wheel_unpack_ok": unpack.returncode == 0,
            "pip_install_ok": pip.returncode == 0,
            "big_entries": size_cost(output),
        }
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def size_cost(output: Path) -> list[dict[str, Any]]:
    """For each entry the writer deflated in zlib pieces: its size against one libdeflate call at the same level."""
    import deflate

    from slimwheel.writer import LIBDEFLATE_MAX

    rows = []
    with zipfile.ZipFile(output) as zf:
        for info in zf.infolist():
            if info.file_size <= LIBDEFLATE_MAX or info.filename.endswith("RECORD"):
                continue
            data = zf.read(info)
            started = time.process_time()
            one_call = len(deflate.deflate_compress(data, 9))
            rows.append(
                {
                    "path": info.filename,
                    "size": info.file_size,
                    "zlib_pieces": info.compress_size,
                    "libdeflate_one_call": one_call,
                    "libdeflate_cpu_s": round(time.process_time() - started, 2),
                    "zlib_one_call": len(zlib.compress(data, 9)) - 6,
                    "cost_bytes": info.compress_size - one_call,
                }
            )
            del data
    return rows


def median(rows: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in rows if r.get(key) is not None]
    return statistics.median(values) if values else None


def summarize(runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kind, rows in runs.items():
        out[kind] = {key: median(rows, key) for key in ("wall", "tree_peak", "largest_process", "own")}
        out[kind]["min_wall"] = min(r["wall"] for r in rows)
        out[kind]["max_wall"] = max(r["wall"] for r in rows)
    if "shrink" in out and "baseline" in out:
        out["wall_ratio"] = round(out["shrink"]["wall"] / out["baseline"]["wall"], 3)
        ratios = [s["wall"] / b["wall"] for s, b in zip(runs["shrink"], runs["baseline"], strict=False)]
        out["wall_ratio_median_per_round"] = round(statistics.median(ratios), 3)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--wheel", action="append", default=[], metavar="LABEL=PATH", help="repeatable")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--no-verify", action="store_true")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "memory.json")
    args = parser.parse_args(argv)
    result: dict[str, Any] = {"machine": machine_info(), "wheels": {}}
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
        work = Path(tmp)
        env = snapshot(work)
        bomb = zeros_bomb(work / "bomb")
        bomb_runs: dict[str, list[dict[str, Any]]] = {"bomb-inspect": [], "bomb-shrink": []}
        for label, path in (item.split("=", 1) for item in args.wheel):
            wheel = Path(path)
            kinds = ["shrink", "inspect"] + ([] if args.no_baseline else ["baseline"])
            runs: dict[str, list[dict[str, Any]]] = {k: [] for k in kinds}
            for round_ in range(args.runs):
                order = kinds[round_ % len(kinds) :] + kinds[: round_ % len(kinds)]
                for kind in order:
                    runs[kind].append(run_one(kind, wheel, work, env))
                    print(label, round_, kind, {k: runs[kind][-1][k] for k in ("wall", "tree_peak", "own")}, flush=True)
                for kind in bomb_runs:
                    bomb_runs[kind].append(run_one(kind, bomb, work, env))
            entry: dict[str, Any] = {"path": str(wheel), "bytes": wheel.stat().st_size, "runs": runs}
            entry["summary"] = summarize(runs)
            if not args.no_verify:
                entry["verify"] = verify_output(wheel, work, env)
            result["wheels"][label] = entry
        result["bomb"] = {"runs": bomb_runs, "summary": summarize(bomb_runs)}
    result["targets"] = TARGETS
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    args.out.with_suffix(".md").write_text(markdown(result))
    print(markdown(result))
    return 0


def _mb(n: float | None) -> str:
    return "–" if n is None else f"{n / 10**6:,.0f} MB"


def markdown(result: dict[str, Any]) -> str:
    m = result["machine"]
    lines = [
        "# Memory (issue 9)",
        "",
        f"{m['date']}, commit {m['commit']}, {m['cpu']} ({m['cores']} cores), Python {m['python']}, "
        f"load at start {m['loadavg_start']}. Command: `{m['command']}`",
        "",
        "Medians of interleaved runs. tree = process tree, summed VmRSS sampled every 50 ms; largest = biggest "
        "single process (`/usr/bin/time -v`); own = slimwheel's process (`VmHWM`).",
        "",
        "| wheel | command | wall s (min–max) | tree peak | largest process | own |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for label, entry in result["wheels"].items():
        for kind, s in entry["summary"].items():
            if isinstance(s, dict):
                lines.append(
                    f"| {label} | {kind} | {s['wall']:.1f} ({s['min_wall']:.1f}–{s['max_wall']:.1f}) | "
                    f"{_mb(s['tree_peak'])} | {_mb(s['largest_process'])} | {_mb(s['own'])} |"
                )
        summary = entry["summary"]
        if "wall_ratio" in summary:
            lines.append(
                f"| {label} | shrink / (unpack+pack) | {summary['wall_ratio']:.2f}× "
                f"(per-round median {summary['wall_ratio_median_per_round']:.2f}×) | | | |"
            )
    for kind, s in result["bomb"]["summary"].items():
        if isinstance(s, dict):
            lines.append(
                f"| zeros bomb (1.1 MB, 1,000 × 1 MiB) | {kind} (refused) | {s['wall']:.1f} | {_mb(s['tree_peak'])} | "
                f"{_mb(s['largest_process'])} | {_mb(s['own'])} |"
            )
    lines.append("")
    for label, entry in result["wheels"].items():
        verify = entry.get("verify")
        if not verify:
            continue
        lines.append(
            f"{label}: output passes `wheel unpack` (RECORD hashes): {verify['wheel_unpack_ok']}; "
            f"`pip install --target`: {verify['pip_install_ok']}."
        )
        for row in verify["big_entries"]:
            lines.append(
                f"- `{row['path']}` ({row['size']:,} bytes) deflated in zlib pieces: {row['zlib_pieces']:,} bytes; "
                f"one libdeflate call (level 9) {row['libdeflate_one_call']:,} "
                f"({row['libdeflate_cpu_s']} s CPU, all in memory): cost {row['cost_bytes']:+,} bytes; "
                f"zlib in one call {row['zlib_one_call']:,}."
            )
    lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
