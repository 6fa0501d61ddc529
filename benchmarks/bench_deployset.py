"""Benchmark a deploy set: the issue's target, onnxruntime 1.31.1's whole closure for manylinux_2_28 x86_64 and
CPython 3.11, shrunk together against ``recipes/checks/onnx_gemm_relu.py``.

The target: the closure ≤ 24 MB compressed, installing offline with pip and with uv, the check passing on the
installed set, and the command's wall time ≤ 60 s once the downloads are cached.

One warm-up run first (it fills the download cache and the check environment; its time is reported separately as
the first run), then ``--runs`` timed runs one after another (sequential, not interleaved: there is one command),
each with a fresh output directory and ``--target``. Each run's wall time, per distribution sizes before/after
(compressed, installed, as pip installed it), pip's installed total and the check runs are recorded. Then the last
run's wheelhouse is installed offline with pip and with uv into fresh directories, and the check runs against each
(``python -S``, ``PYTHONPATH`` the installed set). Writes ``benchmarks/results/deployset.{json,md}`` with the
machine, commit, date and command (benchmarks/machine.py).

Example::

    .venv/bin/python benchmarks/bench_deployset.py --runs 3

``--src DIR`` runs slimwheel from DIR (``PYTHONPATH``) instead of this checkout; ``--cache-dir`` reuses a cache
(the first run then has nothing to download).
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

REQUIREMENT = "onnxruntime==1.31.1"
TARGET = ("--platform", "manylinux_2_28_x86_64", "--python-version", "3.11")
CHECK = REPO / "recipes" / "checks" / "onnx_gemm_relu.py"
MB = 1_000_000
GOAL_COMPRESSED = 24 * MB
GOAL_SECONDS = 60.0


def command(out: Path, target: Path, report: Path, cache: Path) -> list[str]:
    return [
        sys.executable, "-m", "slimwheel", "shrink", REQUIREMENT, *TARGET, "-w", str(out), "--check", str(CHECK),
        "--target", str(target), "--json", str(report), "--cache-dir", str(cache), "-q",
    ]  # fmt: skip


def shrink(scratch: Path, cache: Path, src: Path) -> dict[str, Any]:
    """One run in a fresh scratch directory: its wall time and what its JSON report says about the set."""
    scratch.mkdir(parents=True)
    out, target, report = scratch / "out", scratch / "target", scratch / "report.json"
    cmd = command(out, target, report, cache)
    env = {**os.environ, "PYTHONPATH": str(src)}
    started = time.monotonic()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=scratch)
    wall = time.monotonic() - started
    if proc.returncode != 0:
        raise SystemExit(f"{shlex.join(cmd)} exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    document = json.loads(report.read_text())
    summary = document["set"]
    checks = {w["check"]["runs"] for w in document["wheels"] if w["check"] is not None}
    return {
        "wall_seconds": round(wall, 2),
        "check_runs": max(checks) if checks else 0,
        "compressed_before": document["total"]["before"]["compressed"],
        "compressed_after": document["total"]["after"]["compressed"],
        "installed_before": document["total"]["before"]["installed"],
        "installed_after": document["total"]["after"]["installed"],
        "pip_installed": summary["pip_installed"],
        "distributions": summary["distributions"],
        "duplicates": summary["duplicates"],
        "out": str(out),
        "loadavg_after": round(os.getloadavg()[0], 2),
    }


def offline_env() -> dict[str, str]:
    """No pip/uv settings from the environment or pip's configuration files: only the wheelhouse counts."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    return {**env, "PIP_CONFIG_FILE": os.devnull, "UV_NO_CONFIG": "1"}


def install_and_check(installer: str, house: Path, scratch: Path) -> dict[str, Any]:
    """The offline install the wheelhouse's requirements.txt documents, then the check on the installed set."""
    target = scratch / f"site-{installer}"
    common = ["--no-index", "--find-links", str(house), "--require-hashes", "-r", str(house / "requirements.txt")]
    if installer == "pip":
        cmd = [sys.executable, "-m", "pip", "install", "--disable-pip-version-check", *common]
    else:
        cmd = [str(Path(sys.executable).with_name("uv")), "pip", "install", "--no-cache", "--python", sys.executable]
        cmd += common
    started = time.monotonic()
    proc = subprocess.run([*cmd, "--target", str(target)], capture_output=True, text=True, env=offline_env())
    result: dict[str, Any] = {
        "installed": proc.returncode == 0,
        "install_seconds": round(time.monotonic() - started, 2),
        "install_error": proc.stderr.strip()[-500:] if proc.returncode else None,
        "check_passed": False,
        "check_output": None,
    }
    if proc.returncode == 0:
        env = {**offline_env(), "PYTHONPATH": str(target)}  # -S: nothing from this interpreter's site-packages
        run = subprocess.run([sys.executable, "-S", str(CHECK)], capture_output=True, text=True, cwd=scratch, env=env)
        result["check_passed"] = run.returncode == 0
        result["check_output"] = (run.stdout if run.returncode == 0 else run.stderr).strip()[-500:]
    return result


def summarise(first: dict[str, Any], runs: list[dict[str, Any]], installs: dict[str, Any]) -> dict[str, Any]:
    walls = [r["wall_seconds"] for r in runs]
    last = runs[-1]
    sizes = {(r["compressed_after"], r["pip_installed"]) for r in runs}
    median = statistics.median(walls)
    return {
        "first_run_seconds": first["wall_seconds"],
        "wall_seconds": {"median": median, "min": min(walls), "max": max(walls), "all": walls},
        "check_runs": [r["check_runs"] for r in runs],
        "sizes_identical_across_runs": len(sizes) == 1,
        "compressed_before": last["compressed_before"],
        "compressed_after": last["compressed_after"],
        "installed_before": last["installed_before"],
        "installed_after": last["installed_after"],
        "pip_installed": last["pip_installed"],
        "goals": {
            "compressed_at_most_24MB": last["compressed_after"] <= GOAL_COMPRESSED,
            "installs_offline_with_pip": installs["pip"]["installed"],
            "installs_offline_with_uv": installs["uv"]["installed"],
            "check_passes_on_installed_set": all(i["check_passed"] for i in installs.values()),
            "median_wall_at_most_60s": median <= GOAL_SECONDS,
        },
    }


def markdown(data: dict[str, Any]) -> str:
    m, s = data["machine"], data["summary"]
    n = len(data["runs"])
    wall = s["wall_seconds"]
    lines = [
        "# Deploy set: onnxruntime 1.31.1 for manylinux_2_28 x86_64, CPython 3.11, against onnx_gemm_relu.py",
        "",
        f"{m['date']}, commit {m['commit']}, {m['cores']} cores ({m['cpu']}), {m['platform']}, Python {m['python']}; "
        f"load average at start {m['loadavg_start']}, at end {m.get('loadavg_end')} (a shared machine: wall times "
        "follow its load; sizes and run counts don't). Generated by `benchmarks/bench_deployset.py`:",
        "",
        f"    {m['command']}",
        "",
        f"Each run: `{data['shrink_command']}` (slimwheel from `{data['src']}`"
        + (f": {data['src_label']}" if data.get("src_label") else "")
        + ").",
        "",
        f"Medians of {n} sequential runs (one after another, not interleaved), each with a fresh output directory and "
        f"`--target`, after one warm-up run that filled the download cache and the check environment (the first "
        f"run: {s['first_run_seconds']} s).",
        "",
        "| goal | target | measured | met |",
        "|---|---|---|---|",
        f"| whole closure, compressed | ≤ 24 MB | {s['compressed_after'] / MB:.2f} MB (from "
        f"{s['compressed_before'] / MB:.2f} MB) | {_yes(s['goals']['compressed_at_most_24MB'])} |",
        f"| wall time, downloads cached | ≤ 60 s | median {wall['median']} s (min {wall['min']}, max {wall['max']}) "
        f"| {_yes(s['goals']['median_wall_at_most_60s'])} |",
        f"| installs offline with pip | yes | {_install(data['installs']['pip'])} | "
        f"{_yes(s['goals']['installs_offline_with_pip'])} |",
        f"| installs offline with uv | yes | {_install(data['installs']['uv'])} | "
        f"{_yes(s['goals']['installs_offline_with_uv'])} |",
        f"| check passes on the installed set | pip and uv | "
        f"pip {_pass(data['installs']['pip'])}, uv {_pass(data['installs']['uv'])} | "
        f"{_yes(s['goals']['check_passes_on_installed_set'])} |",
        "",
        f"Check runs per run: {', '.join(map(str, s['check_runs']))}. Installed: "
        f"{s['installed_before'] / MB:.1f} MB → {s['installed_after'] / MB:.1f} MB (files' sizes), "
        f"{s['pip_installed'] / MB:.1f} MB as pip installed it with `--target` (bytecode included). Sizes identical "
        f"across runs: {_yes(s['sizes_identical_across_runs'])}.",
        "",
        "| distribution | wheel before | wheel after | installed before | installed after | pip installed | note |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for d in data["runs"][-1]["distributions"]:
        lines.append(
            f"| {d['name']} {d['version']} | {_mb(d['compressed_before'])} | {_mb(d['compressed_after'])} | "
            f"{_mb(d['installed_before'])} | {_mb(d['installed_after'])} | {_mb(d['pip_installed'])} | "
            f"{'unused by the check' if d['unused_by_check'] else ''} |"
        )
    lines += [
        "",
        "| run | wall s | check runs | compressed after | pip installed | load after |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, r in [("first (warm-up)", data["first"]), *((str(i + 1), r) for i, r in enumerate(data["runs"]))]:
        lines.append(
            f"| {name} | {r['wall_seconds']} | {r['check_runs']} | {_mb(r['compressed_after'])} | "
            f"{_mb(r['pip_installed'])} | {r['loadavg_after']} |"
        )
    return "\n".join(lines) + "\n"


def _mb(n: int | None) -> str:
    return "" if n is None else f"{n / 1000:.1f} kB" if n < MB else f"{n / MB:.2f} MB"


def _yes(flag: bool) -> str:
    return "yes" if flag else "**no**"


def _install(result: dict[str, Any]) -> str:
    return f"installed in {result['install_seconds']} s" if result["installed"] else "**failed**"


def _pass(result: dict[str, Any]) -> str:
    return "passed" if result["check_passed"] else "**failed**"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="timed runs after the warm-up (default 3)")
    parser.add_argument("--cache-dir", type=Path, help="the --cache-dir of every run (default: a new one)")
    parser.add_argument("--src", type=Path, default=REPO, help="run slimwheel from this directory (PYTHONPATH)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--src-label", help="what --src holds (e.g. 'a copy of the working tree'), for the report")
    parser.add_argument("--render", action="store_true", help="only rewrite deployset.md from deployset.json")
    args = parser.parse_args(argv)
    data: dict[str, Any]
    if args.render:
        data = json.loads((args.out / "deployset.json").read_text())
        if args.src_label:
            data["src_label"] = args.src_label
            (args.out / "deployset.json").write_text(json.dumps(data, indent=1) + "\n")
        (args.out / "deployset.md").write_text(markdown(data))
        return 0
    data = {"machine": machine_info(), "src": str(args.src), "src_label": args.src_label}
    placeholders = command(Path("OUT"), Path("TARGET"), Path("REPORT.json"), Path("CACHE"))
    data["shrink_command"] = shlex.join(["slimwheel", *placeholders[3:]])
    with tempfile.TemporaryDirectory(prefix="bench-deployset-") as tmp:
        scratch = Path(tmp)
        cache = args.cache_dir or scratch / "cache"
        print("first run (fills the download cache) ...", flush=True)
        data["first"] = shrink(scratch / "first", cache, args.src)
        print(f"  {data['first']['wall_seconds']} s", flush=True)
        data["runs"] = []
        for i in range(args.runs):
            print(f"run {i + 1}/{args.runs} ...", flush=True)
            data["runs"].append(shrink(scratch / f"run-{i + 1}", cache, args.src))
            print(f"  {data['runs'][-1]['wall_seconds']} s", flush=True)
        house = Path(data["runs"][-1]["out"])
        data["installs"] = {installer: install_and_check(installer, house, scratch) for installer in ("pip", "uv")}
    data["summary"] = summarise(data["first"], data["runs"], data["installs"])
    data["machine"]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "deployset.json").write_text(json.dumps(data, indent=1) + "\n")
    (args.out / "deployset.md").write_text(markdown(data))
    print((args.out / "deployset.md").read_text())
    return 0 if all(data["summary"]["goals"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
