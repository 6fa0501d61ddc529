"""Benchmark ``slimwheel shrink`` against ``wheel unpack`` + ``wheel pack`` of the same wheel, then check the output.

For each of ``--runs`` rounds it runs, as subprocesses and interleaved (the order rotates every round, so neither
side always runs first on a warm page cache):

* ``slimwheel shrink WHEEL -w OUT --json REPORT -q`` (default rules, strip unneeded), plus any ``--variant``;
* the baseline: ``python -m wheel unpack WHEEL -d TMP`` then ``python -m wheel pack TMP/NAME-VER -d OUT``.

It records wall times (median, min, max, and the ratio of medians to the baseline), the report's before/after
archive and installed sizes and file counts, bytes removed per category and saved by stripping. Then it installs
the output (``pip install --no-deps --no-compile --target T``), measures the installed tree, and runs a smoke test
in a fresh ``python -I`` that puts only ``T`` (and, for torch, a directory with torch's pure-Python dependencies)
on ``sys.path``: numpy solves a linear system, round-trips an FFT and draws seeded random numbers; torch runs a
forward/backward pass and checks autograd against the analytic gradient. The same smoke test runs on the original
wheel, and the two results must be identical.

Examples::

    .venv/bin/python benchmarks/bench_shrink.py --numpy --runs 5
    .venv/bin/python benchmarks/bench_shrink.py --torch --runs 3 --variant level6="--compress-level 6"
    .venv/bin/python benchmarks/bench_shrink.py --wheel dist/foo-1.0-py3-none-any.whl --no-smoke

Results go to ``benchmarks/results/NAME.json`` and ``NAME.md`` (``--out`` to choose).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import io
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import textwrap
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS = HERE / "results"
TORCH_WHEEL = Path(
    os.environ.get("SLIMWHEEL_BENCH_TORCH", "/opt/wheels/torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl")
)
# What torch imports at start-up (its Requires-Dist without setuptools, plus what those need).
TORCH_DEPS = ("filelock", "typing_extensions", "sympy", "networkx", "jinja2", "fsspec", "mpmath", "markupsafe")
BASELINE = "wheel unpack+pack"
SLIMWHEEL = "slimwheel"
MB = 1_000_000


@dataclass(frozen=True)
class Preset:
    name: str
    smoke: str | None  # key into SMOKE
    deps: tuple[str, ...] = ()
    targets: dict[str, float] = field(default_factory=dict)


PRESETS = {
    "numpy": Preset("numpy", "numpy", targets={"compressed_max_bytes": 14.3 * MB}),
    "torch": Preset(
        "torch",
        "torch",
        deps=TORCH_DEPS,
        targets={"installed_max_bytes": 450 * MB, "time_ratio_max": 1.0},
    ),
}

# Each smoke test prints one JSON line of results that must not depend on where the package was installed.
SMOKE = {
    "numpy": textwrap.dedent(
        """
        import json, sys
        sys.path[:0] = PATHS
        import numpy as np
        assert np.__file__.startswith(PATHS[0]), np.__file__
        rng = np.random.default_rng(20240601)
        a = rng.standard_normal((300, 300)) + 300 * np.eye(300)
        b = rng.standard_normal(300)
        x = np.linalg.solve(a, b)
        residual = float(np.abs(a @ x - b).max())
        assert residual < 1e-9, residual
        inv_ok = bool(np.allclose(np.linalg.inv(a) @ a, np.eye(300), atol=1e-10))
        signal = rng.standard_normal(4096)
        spectrum = np.fft.rfft(signal)
        roundtrip = float(np.abs(np.fft.irfft(spectrum, n=4096) - signal).max())
        assert roundtrip < 1e-12, roundtrip
        parseval = float(abs((np.abs(np.fft.fft(signal)) ** 2).sum() / 4096 - (signal ** 2).sum()))
        assert parseval < 1e-6, parseval
        tone = np.sin(2 * np.pi * 50 * np.arange(1024) / 1024)
        peak = int(np.argmax(np.abs(np.fft.rfft(tone))))
        assert peak == 50, peak
        np.random.seed(0)
        legacy = np.random.rand(3).tolist()
        draws = np.random.default_rng(0).integers(0, 1000, 5).tolist()
        normal_mean = float(np.random.default_rng(1).normal(size=200_000).mean())
        assert abs(normal_mean) < 0.01, normal_mean
        print(json.dumps({
            "version": np.__version__, "solve_residual_ok": residual < 1e-9, "inv_ok": inv_ok,
            "x_sum": round(float(x.sum()), 12), "fft_roundtrip_ok": roundtrip < 1e-12, "fft_peak": peak,
            "legacy_rand": legacy, "pcg64_integers": draws, "normal_mean": round(normal_mean, 12),
        }))
        """
    ),
    "torch": textwrap.dedent(
        """
        import json, sys, warnings
        sys.path[:0] = PATHS
        warnings.simplefilter("ignore")  # "Failed to initialize NumPy": numpy is not installed, on purpose
        import torch
        assert torch.__file__.startswith(PATHS[0]), torch.__file__
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1)).double()
        x = torch.randn(64, 8, dtype=torch.float64)
        y = torch.randn(64, 1, dtype=torch.float64)
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        # The last layer's gradient, by hand: d/dW mean((h W^T + b - y)^2) = 2/N (h W^T + b - y)^T h.
        with torch.no_grad():
            h = torch.tanh(model[0](x))
            err = model[2](h) - y
            grad_w = 2 / x.shape[0] * err.T @ h
        analytic_ok = bool(torch.allclose(model[2].weight.grad, grad_w, atol=1e-12))
        assert analytic_ok
        w = torch.randn(8, 3, dtype=torch.float64, requires_grad=True)
        gradcheck_ok = bool(torch.autograd.gradcheck(lambda w: torch.tanh(x @ w).sum(), (w,)))
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        losses = []
        for _ in range(20):
            opt.zero_grad()
            step_loss = torch.nn.functional.mse_loss(model(x), y)
            step_loss.backward()
            opt.step()
            losses.append(step_loss.item())
        assert losses[-1] < losses[0], losses
        conv = torch.nn.functional.conv2d(torch.ones(1, 1, 5, 5), torch.ones(1, 1, 3, 3))
        assert conv.shape == (1, 1, 3, 3) and float(conv.sum()) == 81.0
        print(json.dumps({
            "version": torch.__version__, "loss": round(loss.item(), 12), "analytic_grad_ok": analytic_ok,
            "gradcheck_ok": gradcheck_ok, "loss_after_20_sgd_steps": round(losses[-1], 12),
            "matmul": torch.arange(6.0).reshape(2, 3).matmul(torch.ones(3)).tolist(),
        }))
        """
    ),
}


# ----------------------------------------------------------------------------------------------------------
# Inputs and environment
# ----------------------------------------------------------------------------------------------------------


def resolve_wheel(path: Path | None, *, numpy: bool = False, torch: bool = False) -> Path:
    if numpy:
        sys.path.insert(0, str(REPO / "tests"))
        from wheelcache import NUMPY_LINUX, fetch

        return fetch(NUMPY_LINUX)
    if torch:
        if not TORCH_WHEEL.is_file():
            raise SystemExit(f"torch wheel not found at {TORCH_WHEEL} (set SLIMWHEEL_BENCH_TORCH)")
        return TORCH_WHEEL
    if path is None:
        raise SystemExit("give --wheel PATH, --numpy or --torch")
    return path


def _run_text(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def machine_info() -> dict[str, Any]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    with contextlib.suppress(OSError, IndexError):
        mem = Path("/proc/meminfo").read_text().splitlines()[0].split(":", 1)[1].strip()
    # Whatever else is using the CPU right now (command names only): the machine is shared.
    busy = [
        line.split(None, 1)
        for line in _run_text(["ps", "-eo", "pcpu,comm", "--sort=-pcpu", "--no-headers"]).splitlines()[:6]
    ]
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cores": os.cpu_count(),
        "cpu": cpu,
        "memory": mem,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "loadavg": [round(x, 2) for x in os.getloadavg()],
        "busiest_processes": [{"cpu_percent": p[0], "command": p[1]} for p in busy if len(p) == 2],
        "strip": _run_text(["strip", "--version"]).splitlines()[:1],
        "llvm_strip": _run_text(["llvm-strip", "--version"]).splitlines()[1:2],
        "wheel": _run_text([sys.executable, "-m", "wheel", "version"]),
    }


def slimwheel_source_info(package: Path = REPO / "slimwheel") -> dict[str, Any]:
    """Which slimwheel was measured: commit, files changed since it, and a hash of the package's sources."""
    digest = hashlib.sha256()
    for path in sorted(package.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    dirty = _run_text(["git", "-C", str(REPO), "status", "--porcelain", "--", "slimwheel"]).splitlines()
    return {
        "commit": _run_text(["git", "-C", str(REPO), "rev-parse", "HEAD"]),
        "uncommitted": [line.strip() for line in dirty],
        "sources_sha256": digest.hexdigest()[:16],
    }


# ----------------------------------------------------------------------------------------------------------
# Timed commands
# ----------------------------------------------------------------------------------------------------------


def _timed(cmd: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd)
    elapsed = time.perf_counter() - start
    if proc.returncode not in (0, 3):  # 3: over a --max-size budget, still written
        raise SystemExit(f"command failed ({proc.returncode}): {shlex.join(cmd)}\n{proc.stderr[-3000:]}")
    return elapsed


def snapshot_slimwheel(work: Path, source: str) -> dict[str, str]:
    """Copy the slimwheel package aside and return an environment that runs that copy.

    ``source`` is ``head`` (the package as committed, read with ``git archive``) or ``worktree`` (the files as
    they are now). Others may edit the work tree while a long benchmark runs; every round still measures the
    same code, and with ``head`` never a half-edited file.
    """
    target = work / "snapshot"
    target.mkdir()
    if source == "head":
        archive = subprocess.run(
            ["git", "-C", str(REPO), "archive", "--format=tar", "HEAD", "slimwheel"], capture_output=True, check=True
        ).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(target, filter="data")
    else:
        shutil.copytree(REPO / "slimwheel", target / "slimwheel", ignore=shutil.ignore_patterns("__pycache__"))
    env = {**os.environ, "PYTHONPATH": str(target)}
    probe = [sys.executable, "-c", "import slimwheel; print(slimwheel.__file__)"]
    where = subprocess.run(probe, capture_output=True, text=True, env=env, cwd=work).stdout.strip()
    if not where.startswith(str(target)):
        raise SystemExit(f"the snapshot is not the slimwheel that runs ({where}); use --no-snapshot")
    return env


def run_slimwheel(
    wheel: Path, work: Path, extra: list[str], env: dict[str, str] | None
) -> tuple[float, Path, dict[str, Any]]:
    out = work / "out"
    report = work / "report.json"
    cmd = [sys.executable, "-m", "slimwheel", "shrink", str(wheel), "-w", str(out), "--json", str(report), "-q"]
    seconds = _timed([*cmd, *extra], env, cwd=work)  # not the repository: "-m" puts the cwd first on sys.path
    data = json.loads(report.read_text())
    return seconds, out / wheel.name, data


def run_baseline(wheel: Path, work: Path) -> tuple[float, dict[str, float]]:
    unpacked, out = work / "unpacked", work / "out"
    out.mkdir(parents=True)
    unpack = _timed([sys.executable, "-m", "wheel", "unpack", str(wheel), "-d", str(unpacked)])
    (tree,) = list(unpacked.iterdir())
    pack = _timed([sys.executable, "-m", "wheel", "pack", str(tree), "-d", str(out)])
    return unpack + pack, {"unpack": unpack, "pack": pack, "output_bytes": next(out.iterdir()).stat().st_size}


def stats(values: list[float]) -> dict[str, Any]:
    return {
        "median": round(statistics.median(values), 3),
        "min": round(min(values), 3),
        "max": round(max(values), 3),
        "runs": [round(v, 3) for v in values],
    }


# ----------------------------------------------------------------------------------------------------------
# Install and smoke test
# ----------------------------------------------------------------------------------------------------------


def pip_install(wheel: Path, target: Path) -> float:
    cmd = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-compile", "--target", str(target)]
    start = time.perf_counter()
    proc = subprocess.run([*cmd, str(wheel)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"pip install {wheel.name} failed:\n{proc.stderr[-3000:]}")
    return time.perf_counter() - start


def tree_size(root: Path) -> dict[str, int]:
    files = total = 0
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            path = Path(dirpath, name)
            if path.is_file() and not path.is_symlink():
                files += 1
                total += path.stat().st_size
    return {"files": files, "bytes": total}


def ensure_deps(deps: tuple[str, ...], target: Path) -> None:
    if not deps or (target / ".complete").exists():
        return
    cmd = [sys.executable, "-m", "pip", "install", "-q", "--target", str(target), *deps]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"installing {', '.join(deps)} failed:\n{proc.stderr[-3000:]}")
    (target / ".complete").write_text(" ".join(deps) + "\n")


def smoke(kind: str, paths: list[Path]) -> tuple[dict[str, Any], float]:
    code = f"PATHS = {[str(p) for p in paths]!r}\n{SMOKE[kind]}"
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-I", "-B", "-c", code], capture_output=True, text=True, timeout=900)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        return {"ok": False, "error": proc.stderr.strip()[-3000:]}, elapsed
    return {"ok": True, **json.loads(proc.stdout.strip().splitlines()[-1])}, elapsed


# ----------------------------------------------------------------------------------------------------------
# Report
# ----------------------------------------------------------------------------------------------------------


def summarize_report(data: dict[str, Any]) -> dict[str, Any]:
    wheel = data["wheels"][0]
    removed: dict[str, dict[str, int]] = defaultdict(lambda: {"files": 0, "compressed": 0, "installed": 0})
    for r in wheel["removed"]:
        bucket = removed[r["category"]]
        bucket["files"] += 1
        bucket["compressed"] += r["compressed"]
        bucket["installed"] += r["installed"]
    stripped = sorted(wheel["stripped"], key=lambda s: -s["saved"])
    return {
        "before": {k: wheel["before"][k] for k in ("compressed", "installed", "files")},
        "after": {k: wheel["after"][k] for k in ("compressed", "installed", "files")},
        "removed_by_category": dict(sorted(removed.items(), key=lambda kv: -kv[1]["installed"])),
        "stripped": {
            "files": len(stripped),
            "saved_installed": sum(s["saved"] for s in stripped),
            "largest": [{k: s[k] for k in ("path", "before", "after", "saved", "how")} for s in stripped[:10]],
        },
        "not_stripped": wheel["skipped"],
        "kept_for_safety": len(wheel["kept"]),
        "warnings": wheel["warnings"],
        "internal_seconds": wheel["seconds"],
    }


def _mb(n: float) -> str:
    return f"{n / MB:.2f} MB"


def markdown(result: dict[str, Any]) -> str:
    t = result["timing"]
    base = t[BASELINE]["median"]
    lines = [
        f"# {result['wheel_name']}",
        "",
        f"{result['machine']['date']}, {result['machine']['cores']} cores ({result['machine']['cpu']}), "
        f"load average at start {result['machine']['loadavg']}; {result['runs']} interleaved runs each.",
        "",
        "| command | median s | min s | max s | ratio to baseline (medians) | median of per-round ratios |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, s in t.items():
        ratio = s["median"] / base
        lines.append(
            f"| {name} | {s['median']:.1f} | {s['min']:.1f} | {s['max']:.1f} | {ratio:.2f}× | "
            f"{result['round_ratios'].get(name, 1.0):.2f}× |"
        )
    lines += ["", "| size | before | after |", "|---|---:|---:|"]
    for variant, summary in result["variants"].items():
        b, a = summary["before"], summary["after"]
        label = "" if variant == SLIMWHEEL else f" ({variant})"
        lines.append(f"| wheel (compressed){label} | {_mb(b['compressed'])} | {_mb(a['compressed'])} |")
        if variant == SLIMWHEEL:
            lines.append(f"| installed (sum of files){label} | {_mb(b['installed'])} | {_mb(a['installed'])} |")
            lines.append(f"| files | {b['files']} | {a['files']} |")
    inst = result.get("install")
    if inst:
        for variant, entry in inst["outputs"].items():
            label = "" if variant == SLIMWHEEL else f" ({variant})"
            lines.append(
                f"| `pip install --target` tree{label} | {_mb(inst['original']['tree']['bytes'])} | "
                f"{_mb(entry['tree']['bytes'])} |"
            )
    main = result["variants"][SLIMWHEEL]
    lines += [
        "",
        "Removed by category (installed bytes): "
        + ", ".join(
            f"{cat} {_mb(v['installed'])} ({v['files']} files)" for cat, v in main["removed_by_category"].items()
        )
        + ".",
    ]
    lines.append(
        f"Stripping saved {_mb(main['stripped']['saved_installed'])} installed in {main['stripped']['files']} files; "
        f"not stripped: {len(main['not_stripped'])}."
    )
    if inst:
        for variant, entry in inst["outputs"].items():
            lines.append(
                f"Smoke test of the {variant} output: {'passed' if entry['smoke'].get('ok') else 'FAILED'}, "
                f"results identical to the original wheel's: {entry['same_as_original']}."
            )
    if result["targets"]:
        commands = list(result["targets"])
        lines += [
            "",
            "| target | limit | " + " | ".join(commands) + " |",
            "|---|---:|" + "---:|" * len(commands),
        ]
        names = dict.fromkeys(n for checks in result["targets"].values() for n in checks)
        for name in names:
            limit = next(c[name]["limit"] for c in result["targets"].values() if name in c)
            cells = []
            for command in commands:
                check = result["targets"][command].get(name)
                cells.append("" if check is None else f"{check['measured']} ({'met' if check['met'] else 'NOT met'})")
            lines.append(f"| {name} | {limit} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def check_targets(preset: Preset | None, result: dict[str, Any]) -> dict[str, Any]:
    """Each preset target, measured for every slimwheel command: {command: {target: {limit, measured, met}}}."""
    if preset is None:
        return {}
    out: dict[str, Any] = {}
    smoked = result.get("install", {}).get("outputs", {})
    for command, summary in result["variants"].items():
        checks: dict[str, Any] = {}
        for name, limit in preset.targets.items():
            if name == "compressed_max_bytes":
                measured = summary["after"]["compressed"]
                checks[name] = {"limit": int(limit), "measured": measured, "met": measured <= limit}
            elif name == "installed_max_bytes":
                measured = summary["after"]["installed"]
                checks[name] = {"limit": int(limit), "measured": measured, "met": measured <= limit}
            elif name == "time_ratio_max":
                ratio = result["timing"][command]["median"] / result["timing"][BASELINE]["median"]
                checks[name] = {"limit": limit, "measured": round(ratio, 3), "met": ratio <= limit}
        if command in smoked:
            ok = bool(smoked[command]["smoke"].get("ok")) and bool(smoked[command]["same_as_original"])
            checks["installs_and_works"] = {"limit": "smoke test passes, same results", "measured": ok, "met": ok}
        out[command] = checks
    return out


# ----------------------------------------------------------------------------------------------------------
# Main
# ----------------------------------------------------------------------------------------------------------


def parse_variant(text: str) -> tuple[str, list[str]]:
    name, sep, args = text.partition("=")
    if not sep or not name or name in (SLIMWHEEL, BASELINE):
        raise argparse.ArgumentTypeError(f"expected NAME=ARGS (e.g. level6='--compress-level 6'), not {text!r}")
    return name, shlex.split(args)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--wheel", type=Path, help="any wheel")
    which.add_argument("--numpy", action="store_true", help="numpy 2.4.6 manylinux x86_64 (the tests' cache)")
    which.add_argument("--torch", action="store_true", help=f"torch 2.13.0 CPU ({TORCH_WHEEL})")
    parser.add_argument("--runs", type=int, default=3, help="rounds; each runs every command once (default 3)")
    parser.add_argument(
        "--variant",
        type=parse_variant,
        action="append",
        default=[],
        metavar="NAME=ARGS",
        help="also time slimwheel with these extra arguments, interleaved with the rest; repeatable",
    )
    parser.add_argument("--out", type=Path, help="JSON result file (default benchmarks/results/NAME.json)")
    parser.add_argument("--workdir", type=Path, help="scratch directory (default: a new one in the temp dir)")
    parser.add_argument("--deps-dir", type=Path, help="where torch's dependencies are installed (kept; reused)")
    parser.add_argument("--no-smoke", action="store_true", help="skip installing and smoke-testing the output")
    parser.add_argument(
        "--smoke",
        action="append",
        metavar="VARIANT",
        help=f"install and smoke-test this command's output ('{SLIMWHEEL}', a --variant NAME or 'all'; "
        f"repeatable; default {SLIMWHEEL})",
    )
    parser.add_argument("--no-baseline", action="store_true", help="time slimwheel only")
    parser.add_argument(
        "--source",
        choices=["head", "worktree", "live"],
        default="head",
        help="which slimwheel to time: a copy of the last commit (default), a copy of the work tree taken at the "
        "start, or the work tree itself as it changes",
    )
    args = parser.parse_args(argv)
    args.smoke = args.smoke or [SLIMWHEEL]

    preset = PRESETS["numpy"] if args.numpy else PRESETS["torch"] if args.torch else None
    wheel = resolve_wheel(args.wheel, numpy=args.numpy, torch=args.torch).resolve()
    name = preset.name if preset else wheel.name.split("-")[0]
    out_json = args.out or RESULTS / f"{name}.json"
    if not out_json.is_absolute() and not out_json.parent.exists() and (HERE / out_json.parent).is_dir():
        out_json = HERE / out_json  # "--out results/x.json" from the repository root
    work = Path(tempfile.mkdtemp(prefix="slimwheel-bench-", dir=args.workdir))
    commands: list[str] = [*([] if args.no_baseline else [BASELINE]), SLIMWHEEL, *(v for v, _ in args.variant)]
    extra = dict(args.variant)
    machine = machine_info()
    env = None if args.source == "live" else snapshot_slimwheel(work, args.source)
    source = slimwheel_source_info() | {"measured": args.source}
    if env is not None:
        source["measured_copy_sha256"] = slimwheel_source_info(work / "snapshot" / "slimwheel")["sources_sha256"]
    print(f"{wheel.name}: {args.runs} rounds of {', '.join(commands)}; scratch {work}", file=sys.stderr)

    times: dict[str, list[float]] = {c: [] for c in commands}
    baseline_parts: list[dict[str, float]] = []
    reports: dict[str, dict[str, Any]] = {}
    loads: list[float] = []
    keep = work / "keep"
    keep.mkdir()
    try:
        for i in range(args.runs):
            order = commands[i % len(commands) :] + commands[: i % len(commands)]
            for command in order:
                scratch = work / f"run-{i}-{command.replace(' ', '_')}"
                scratch.mkdir()
                loads.append(os.getloadavg()[0])
                if command == BASELINE:
                    seconds, parts = run_baseline(wheel, scratch)
                    baseline_parts.append(parts)
                else:
                    seconds, output, report = run_slimwheel(wheel, scratch, extra.get(command, []), env)
                    reports[command] = report
                    (keep / command).mkdir(exist_ok=True)
                    shutil.copy2(output, keep / command / output.name)
                times[command].append(seconds)
                print(f"round {i + 1}: {command}: {seconds:.2f} s", file=sys.stderr)
                shutil.rmtree(scratch)

        result: dict[str, Any] = {
            "wheel": str(wheel),
            "wheel_name": wheel.name,
            "runs": args.runs,
            "order": "rotating: round i starts with command i mod n",
            "machine": machine,
            "loadavg_1min_before_each_run": {"median": round(statistics.median(loads), 2), "max": round(max(loads), 2)},
            "slimwheel": source,
            "commands": {
                BASELINE: "python -m wheel unpack WHEEL -d TMP && python -m wheel pack TMP/NAME-VER -d OUT",
                SLIMWHEEL: "python -m slimwheel shrink WHEEL -w OUT --json REPORT -q",
                **{v: f"... {shlex.join(a)}" for v, a in args.variant},
            },
            "timing": {c: stats(v) for c, v in times.items()},
            "variants": {c: summarize_report(r) for c, r in reports.items()},
        }
        if baseline_parts:
            result["baseline_parts"] = {
                "unpack": stats([p["unpack"] for p in baseline_parts]),
                "pack": stats([p["pack"] for p in baseline_parts]),
                "output_bytes": baseline_parts[0]["output_bytes"],
            }
            base = times[BASELINE]
            result["round_ratios"] = {
                c: round(statistics.median(t / b for t, b in zip(v, base, strict=True)), 3) for c, v in times.items()
            }
        else:
            result["round_ratios"] = {}

        if not args.no_smoke and preset is not None and preset.smoke:
            smoked = [c for c in commands if c != BASELINE and ("all" in args.smoke or c in args.smoke)]
            outputs = {c: keep / c / wheel.name for c in smoked}
            result["install"] = install_and_smoke(preset, wheel, outputs, work, args.deps_dir)
        result["targets"] = check_targets(preset, result) if baseline_parts else {}
    finally:
        shutil.rmtree(work, ignore_errors=True)

    out_json.parent.mkdir(parents=True, exist_ok=True)
    out_json.write_text(json.dumps(result, indent=2) + "\n")
    if baseline_parts:
        out_json.with_suffix(".md").write_text(markdown(result))
        print(markdown(result))
    print(f"wrote {out_json}", file=sys.stderr)
    return 0


def install_and_smoke(
    preset: Preset, original: Path, outputs: dict[str, Path], work: Path, deps_dir: Path | None
) -> dict[str, Any]:
    """Install the original and each output into its own target directory; measure it; run the smoke test."""
    assert preset.smoke is not None
    deps = deps_dir or Path(tempfile.gettempdir()) / f"slimwheel-bench-deps-{preset.name}"
    ensure_deps(preset.deps, deps)
    extra_paths = [deps] if preset.deps else []
    result: dict[str, Any] = {"deps_dir": str(deps) if preset.deps else None, "outputs": {}}
    for label, wheel in [("original", original), *outputs.items()]:
        target = work / "install" / label
        seconds = pip_install(wheel, target)
        tree = tree_size(target)  # before the smoke test (which writes no bytecode anyway: -B)
        outcome, smoke_seconds = smoke(preset.smoke, [target, *extra_paths])
        entry = {
            "pip_seconds": round(seconds, 2),
            "tree": tree,
            "smoke": outcome,
            "smoke_seconds": round(smoke_seconds, 2),
        }
        if label == "original":
            result["original"] = entry
        else:
            entry["same_as_original"] = outcome == result["original"]["smoke"]
            result["outputs"][label] = entry
        print(f"{label}: installed {entry['tree']}, smoke ok={outcome.get('ok')}", file=sys.stderr)
        shutil.rmtree(target)
    return result


if __name__ == "__main__":
    sys.exit(main())
