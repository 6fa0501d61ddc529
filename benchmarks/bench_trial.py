"""Benchmark trial deletion (``slimwheel shrink --check``) on real wheels, with the alternatives side by side.

numpy 2.4.6 manylinux with a check that uses ``linalg`` (solve, eigvalsh, det) and ``fft`` (fft/ifft round trip):

1. **configurations** — ``slimwheel shrink --check`` as a subprocess (``-j`` = all cores), interleaved in a
   rotating order for ``--repeats`` rounds: the default (trace → verify → repair), ``--minimal`` (certify every kept
   file) and ``--no-trace`` (blind hierarchical reduction), plus the rules-only ``shrink`` for the sizes. Per
   configuration: check runs per phase (from ``--json``), runs after the baselines until a set was verified, total
   runs, wall time of the whole command, the trial's own seconds, output size and file count.
2. **search strategies, same items, same oracle** — in-process, on the items the trial sees (the wheel's files
   after the rules and stripping), with :class:`slimwheel.trial.Trial` as the oracle (``Trial.evaluate``: a
   hard-linked tree and a real check run per candidate), ``jobs=1`` so every run is on the decision path and runs
   can be compared: the blind hierarchical reduction, then ``certify`` on its result (1-minimal); one-at-a-time
   deletion (``Reducer.certify`` from the full set: try removing each item once, heaviest first); classic ddmin
   (``tests/classic_ddmin.py``). Each strategy gets a fresh oracle cache. One-at-a-time and ddmin can be
   capped (``--one-max-runs``, ``--ddmin-max-runs``); a capped strategy is **extrapolated** by replaying it
   against a model oracle (passes iff the candidate contains the 1-minimal set found above) — the report shows
   how many of the real runs the model predicted correctly, and labels every extrapolated figure.
3. **cost of one check cycle** — ``--cycles`` interleaved rounds of: hard-linked tree of all items + run (the
   trial's cycle), the same for the verified set, ``unzip`` of the rules-only wheel + run, and
   ``pip install --no-deps --target`` of the rules-only wheel + run. Medians of each part.

onnxruntime 1.31.1 manylinux with a check that runs a Gemm+Relu model built here with ``onnx`` (numpy provided to
the check environment with ``--with-wheel``): size before / rules only / after, runs and wall time, what the two
big shared libraries weigh; the output is installed with pip into a fresh target and the check run there.

Examples::

    .venv/bin/python benchmarks/bench_trial.py
    .venv/bin/python benchmarks/bench_trial.py --repeats 1 --cycles 5 --ddmin-max-runs 60 --one-max-runs 60
    .venv/bin/python benchmarks/bench_trial.py --only numpy-configs,onnxruntime

Results: ``benchmarks/results/trial-numpy.{md,json}`` and ``trial-onnxruntime.{md,json}`` (``--out`` to choose).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS = HERE / "results"
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(HERE))

import wheelcache  # noqa: E402  (tests/wheelcache.py: pinned real wheels, downloaded once)
from classic_ddmin import classic_ddmin  # noqa: E402  (tests/classic_ddmin.py: the comparison baseline)
from machine import machine_info  # noqa: E402  (benchmarks/machine.py)
from smoke_checks import NUMPY_CHECK, ONNX_CHECK, build_model  # noqa: E402  (tests/smoke_checks.py)

from slimwheel.check import Check  # noqa: E402
from slimwheel.imports import package_inits  # noqa: E402
from slimwheel.learn import Items  # noqa: E402
from slimwheel.options import ShrinkOptions  # noqa: E402
from slimwheel.prepared import prepare  # noqa: E402
from slimwheel.reduce import Budget, Reducer  # noqa: E402
from slimwheel.sandbox import Environment, Sandbox  # noqa: E402
from slimwheel.trial import Trial, TrialOptions  # noqa: E402

MB = 1_000_000
SECTIONS = ("numpy-configs", "strategies", "cycles", "onnxruntime")
CONFIGS: dict[str, list[str]] = {
    "trace (default)": [],
    "--minimal": ["--minimal"],
    "--no-trace": ["--no-trace"],
    "--no-trace -j 1": ["--no-trace", "-j", "1"],  # the same without speculative runs: does speculation pay?
}
FIXED_PHASES = frozenset({"baseline", "stubs", "confirm"})

# ---- small helpers ------------------------------------------------------------------------------------------------


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def mb(n: float) -> str:
    return f"{n / MB:.2f} MB"


def names(path: Path) -> set[str]:
    with zipfile.ZipFile(path) as zf:
        return {i.filename for i in zf.infolist() if not i.is_dir()}


def cli(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "slimwheel", *map(str, args)]


@dataclass
class CliRun:
    seconds: float
    report: dict[str, Any]
    output: Path
    names: set[str]


def run_cli(cmd: list[str], output_dir: Path, report_path: Path) -> CliRun:
    shutil.rmtree(output_dir, ignore_errors=True)
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}{proc.stdout[-3000:]}")
    report = json.loads(report_path.read_text())["wheels"][0]
    output = Path(report["output"])
    return CliRun(seconds, report, output, names(output))


def bare_python(directory: Path) -> Path:
    """A Python without third-party packages, for running a check against a pip-installed target."""
    if not (directory / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(directory)], check=True)
    return directory / "bin" / "python"


def pip_target(target: Path, *wheels: Path) -> None:
    cmd = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--disable-pip-version-check"]
    subprocess.run([*cmd, "--target", str(target), *map(str, wheels)], check=True, capture_output=True)


def run_isolated(python: Path, target: Path, check: Path) -> subprocess.CompletedProcess[str]:
    code = f"import sys; sys.path.insert(0, {str(target)!r}); exec(open({str(check)!r}).read())"
    return subprocess.run([str(python), "-I", "-c", code], capture_output=True, text=True, cwd=target.parent)


# ---- 1. configurations of the CLI ------------------------------------------------------------------------------


def bench_configs(wheel: Path, check: Path, cache: Path, scratch: Path, repeats: int) -> dict[str, Any]:
    rules = run_cli(
        cli("shrink", wheel, "-w", scratch / "rules", "--json", scratch / "rules.json", "-q"),
        scratch / "rules",
        scratch / "rules.json",
    )
    # One untimed run builds the check environment, so no configuration pays for it.
    warm = cli("shrink", wheel, "--dry-run", "--check", check, "--cache-dir", cache, "--json", scratch / "warm.json")
    subprocess.run([*warm, "-q", "--max-runs", "1"], capture_output=True)
    runs: dict[str, list[CliRun]] = {name: [] for name in CONFIGS}
    order = list(CONFIGS)
    for round_ in range(repeats):
        rotated = order[round_ % len(order) :] + order[: round_ % len(order)]
        for name in rotated:
            out, js = scratch / f"cfg{order.index(name)}", scratch / f"cfg{order.index(name)}.json"
            cmd = cli("shrink", wheel, "-w", out, "--check", check, "--cache-dir", cache, "--json", js, "-q")
            result = run_cli([*cmd, *CONFIGS[name]], out, js)
            runs[name].append(result)
            phases = result.report["check"]["phases"]
            print(f"  [{round_ + 1}/{repeats}] {name}: {result.seconds:.1f} s, runs {phases}", flush=True)
    items_after_rules = rules.report["after"]["files"]
    configs: dict[str, Any] = {}
    for name, results in runs.items():
        phases = [r.report["check"]["phases"] for r in results]
        configs[name] = {
            "wall_seconds": [round(r.seconds, 2) for r in results],
            "wall_median": round(median([r.seconds for r in results]), 2),
            "trial_seconds_median": round(median([r.report["check"]["seconds"] for r in results]), 2),
            "phases": phases,
            "total_runs_median": median([sum(p.values()) for p in phases]),
            "runs_until_verified_median": median(
                [sum(n for k, n in p.items() if k not in FIXED_PHASES and k != "certify") for p in phases]
            ),
            "output_bytes": results[-1].output.stat().st_size,
            "output_files": results[-1].report["after"]["files"],
            "installed_bytes": results[-1].report["after"]["installed"],
            "same_files_every_round": all(r.names == results[0].names for r in results),
            "stubs": results[-1].report["check"]["stubs"],
        }
    baseline_names = runs["trace (default)"][0].names
    for name, results in runs.items():
        configs[name]["same_files_as_default"] = results[0].names == baseline_names
    return {
        "input_bytes": wheel.stat().st_size,
        "rules_only": {
            "bytes": rules.output.stat().st_size,
            "files": items_after_rules,
            "installed_bytes": rules.report["after"]["installed"],
            "wall_seconds": round(rules.seconds, 2),
            "path": str(rules.output),
        },
        "configs": configs,
        "kept_default": sorted(baseline_names),
    }


# ---- 2. search strategies on the same items with the same oracle -----------------------------------------------


@dataclass
class Session:
    """The trial's items staged once in a sandbox, and fresh oracles (each with its own cache) on top of it."""

    sandbox: Sandbox
    items: dict[str, bytes]
    required: frozenset[str]
    check: Check
    work: Path
    timeout: float | None = None  # None until the baseline has set it, as the trial does
    expected: dict[str, str] = field(default_factory=dict)
    baseline_runs: dict[str, int] = field(default_factory=dict)

    def trial(self, name: str) -> Trial:
        options = TrialOptions(checks=(self.check,), jobs=1, timeout=self.timeout)
        trial = Trial(
            self.sandbox, self.items, self.required, options, journal=self.work / "journals" / f"{name}.jsonl"
        )
        trial.oracle.expected = dict(self.expected)
        return trial


@contextlib.contextmanager
def session(wheel: Path, check: Path, cache: Path, work: Path) -> Iterator[Session]:
    """What :func:`slimwheel.learn.learn` sets up for one wheel: rules + strip, items, env, sandbox."""
    p = prepare(wheel, None, ShrinkOptions())
    try:
        laid_out = Items.of([p])  # the items the trial sees: dist-info and licence files required
    finally:
        p.close()
    items, required = laid_out.data, frozenset(laid_out.required)
    env = Environment.create(cache / "envs")
    sandbox = Sandbox(env, work / "sandbox")
    sandbox.stage(items, laid_out.modes)
    s = Session(sandbox, items, required, Check.script(check), work)
    base = s.trial("baseline")
    base.baseline()  # passes with everything, fails with nothing; sets the timeout as the trial would
    s.timeout, s.expected = base.oracle.timeout, dict(base.oracle.expected)
    s.baseline_runs = dict(base.oracle.runs)
    try:
        yield s
    finally:
        shutil.rmtree(work / "sandbox", ignore_errors=True)


@dataclass
class Outcome:
    name: str
    runs: int
    seconds: float
    kept: frozenset[str]
    run_seconds: list[float]
    decisions: list[bool]
    finished: bool


def run_strategy(
    s: Session, name: str, algorithm: Callable[[Reducer, Trial], frozenset[str]], max_runs: int | None = None
) -> Outcome:
    """Run one search strategy from scratch (fresh cache) with ``jobs=1`` against the real check."""
    trial = s.trial(name)
    durations: list[float] = []
    decisions: list[bool] = []

    def oracle(kept: frozenset[str]) -> bool:
        started = time.perf_counter()
        passed = trial.evaluate(trial.oracle.files_for(kept), phase=name)
        durations.append(time.perf_counter() - started)
        decisions.append(passed)
        return passed

    reducer = Reducer(
        {k: len(v) for k, v in s.items.items()}, oracle, jobs=1, budget=Budget(max_runs=max_runs), required=s.required
    )
    started = time.perf_counter()
    kept = algorithm(reducer, trial)
    seconds = time.perf_counter() - started
    # Check runs, as the trial counts them: candidates that differ only by an __init__.py the trial adds back anyway
    # are one candidate for the trial (its own cache), though the reducer asked twice.
    runs = trial.oracle.runs.get(name, 0)
    finished = max_runs is None or reducer.stats.runs < max_runs
    print(f"  {name}: {runs} check runs in {seconds:.1f} s{'' if finished else ' (capped)'}", flush=True)
    return Outcome(name, runs, seconds, trial.oracle.files_for(kept), durations, decisions, finished)


def simulate(
    s: Session, needed: frozenset[str], algorithm: Callable[[Reducer], frozenset[str]]
) -> tuple[int, list[bool]]:
    """The same strategy against a model oracle: a candidate passes iff it keeps every item of ``needed``."""
    helper = s.trial("model")  # only for files_for (package __init__ files and required items); never runs
    decisions: list[bool] = []
    seen: set[frozenset[str]] = set()  # distinct candidates, as the trial would run them

    def oracle(kept: frozenset[str]) -> bool:
        files = helper.oracle.files_for(kept)
        passed = needed <= files
        decisions.append(passed)
        seen.add(files)
        return passed

    reducer = Reducer({k: len(v) for k, v in s.items.items()}, oracle, jobs=1, required=s.required)
    algorithm(reducer)
    return len(seen), decisions


def bench_strategies(
    s: Session, one_max_runs: int | None, ddmin_max_runs: int | None
) -> tuple[dict[str, Any], frozenset[str]]:
    files_for = s.trial("files-for").oracle.files_for  # package __init__ files and required items, as trials add them
    hierarchical: dict[str, Any] = {}

    def hier_then_certify(reducer: Reducer, trial: Trial) -> frozenset[str]:
        hierarchical["kept"] = reducer.reduce_hierarchical()
        hierarchical["runs"] = sum(trial.oracle.runs.values())
        return reducer.certify(hierarchical["kept"])

    blind = run_strategy(s, "hierarchical+certify", hier_then_certify)
    needed = blind.kept
    one = run_strategy(s, "one-at-a-time", lambda r, _: r.certify(), one_max_runs)
    ddmin = run_strategy(s, "classic ddmin", lambda r, _: classic_ddmin(r), ddmin_max_runs)

    outcomes = (blind, one, ddmin)
    implied = package_inits(needed - {k for k in needed if k.endswith("/__init__.py")}, s.items)
    must_fail = needed - s.required - implied  # each needs its own failing run in a proof of 1-minimality
    pass_s = median([t for o in outcomes for t, ok in zip(o.run_seconds, o.decisions, strict=True) if ok])
    fail_s = median([t for o in outcomes for t, ok in zip(o.run_seconds, o.decisions, strict=True) if not ok])
    result: dict[str, Any] = {
        "items": len(s.items),
        "required_items": len(s.required),
        "timeout": s.timeout,
        "median_run_seconds": round(median([t for o in outcomes for t in o.run_seconds]), 3),
        "median_passing_run_seconds": round(pass_s, 3),
        "median_failing_run_seconds": round(fail_s, 3),
        "needed_1_minimal": len(needed),
        "needed_bytes": sum(len(s.items[k]) for k in needed),
        "needed_without_required_and_implied_inits": len(must_fail),
        "hierarchical": {
            "runs": hierarchical["runs"],
            "kept": len(files_for(hierarchical["kept"])),
            "model_runs": simulate(s, needed, lambda r: r.reduce_hierarchical())[0],
        },
        "hierarchical+certify": {
            "runs": blind.runs,
            "seconds": round(blind.seconds, 1),
            "kept": len(blind.kept),
            "model_runs": simulate(s, needed, lambda r: r.certify(r.reduce_hierarchical()))[0],
        },
    }
    strategies: tuple[tuple[Outcome, Callable[[Reducer], frozenset[str]]], ...] = (
        (one, lambda r: r.certify()),
        (ddmin, classic_ddmin),
    )
    for outcome, algorithm in strategies:
        model_runs, model_decisions = simulate(s, needed, algorithm)
        agree = sum(a == b for a, b in zip(outcome.decisions, model_decisions, strict=False))
        entry: dict[str, Any] = {
            "runs": outcome.runs,
            "seconds": round(outcome.seconds, 1),
            "finished": outcome.finished,
            "kept": len(outcome.kept) if outcome.finished else None,
            "same_set_as_1_minimal": (outcome.kept == needed) if outcome.finished else None,
            "model_runs": model_runs,
            "model_agreed_on_first_runs": f"{agree}/{len(outcome.decisions)}",
        }
        if not outcome.finished:
            passes = sum(model_decisions)
            entry["extrapolated_runs"] = model_runs
            entry["extrapolated_passes"] = passes
            entry["extrapolated_seconds"] = round(passes * pass_s + (model_runs - passes) * fail_s, 1)
        result[outcome.name] = entry
    return result, needed


# ---- 3. the cost of one check cycle ----------------------------------------------------------------------------


LINKED_ALL = "hard-linked tree + run (all items after rules)"


def bench_cycles(s: Session, rules_wheel: Path, verified: frozenset[str], rounds: int) -> dict[str, Any]:
    """Interleaved rounds of the four ways to get a candidate in front of the check, each followed by one run."""
    sandbox, root = s.sandbox, s.work / "alt-tree"
    parts: dict[str, dict[str, list[float]]] = {}

    def record(name: str, prepare_s: float, run_s: float, passed: bool) -> None:
        if not passed:
            raise SystemExit(f"cycle {name!r}: the check failed")
        entry = parts.setdefault(name, {"prepare": [], "run": [], "total": []})
        entry["prepare"].append(prepare_s)
        entry["run"].append(run_s)
        entry["total"].append(prepare_s + run_s)

    def linked(name: str, files: frozenset[str]) -> None:
        t0 = time.perf_counter()
        tree = sandbox.tree(files)
        t1 = time.perf_counter()
        result = sandbox.run(tree, s.check, timeout=s.timeout or 600.0)
        t2 = time.perf_counter()
        sandbox.discard(tree)
        t3 = time.perf_counter()
        record(name, (t1 - t0) + (t3 - t2), t2 - t1, result.passed)

    def installed(name: str, install: Callable[[Path], None]) -> None:
        shutil.rmtree(root, ignore_errors=True)
        (root / "bin").mkdir(parents=True)
        t0 = time.perf_counter()
        install(root / "site")
        t1 = time.perf_counter()
        result = sandbox.run(root, s.check, timeout=s.timeout or 600.0)  # the same runner, environment and PYTHONPATH
        t2 = time.perf_counter()
        shutil.rmtree(root, ignore_errors=True)
        t3 = time.perf_counter()
        record(name, (t1 - t0) + (t3 - t2), t2 - t1, result.passed)

    def unzip(site: Path) -> None:
        with zipfile.ZipFile(rules_wheel) as zf:
            zf.extractall(site)

    cycles: dict[str, Callable[[str], None]] = {
        LINKED_ALL: lambda name: linked(name, frozenset(s.items)),
        "hard-linked tree + run (verified set)": lambda name: linked(name, verified),
        "unzip + run": lambda name: installed(name, unzip),
        "pip install --target + run": lambda name: installed(name, lambda site: pip_target(site, rules_wheel)),
    }
    order = list(cycles)
    for round_ in range(rounds):
        for name in order[round_ % len(order) :] + order[: round_ % len(order)]:
            cycles[name](name)
        print(f"  cycle round {round_ + 1}/{rounds}", flush=True)
    fastest = median(parts[LINKED_ALL]["total"])
    out: dict[str, Any] = {"rounds": rounds, "wheel_for_unzip_and_pip": rules_wheel.name}
    for name in order:
        p = parts[name]
        out[name] = {
            "median_total": round(median(p["total"]), 3),
            "median_prepare": round(median(p["prepare"]), 3),
            "median_run": round(median(p["run"]), 3),
            "min_total": round(min(p["total"]), 3),
            "max_total": round(max(p["total"]), 3),
            "ratio_to_linked_all": round(median(p["total"]) / fastest, 2),
        }
    return out


# ---- 4. onnxruntime --------------------------------------------------------------------------------------------


def bench_onnxruntime(cache: Path, scratch: Path, repeats: int) -> dict[str, Any]:
    wheel, numpy_wheel = wheelcache.fetch(wheelcache.ONNXRUNTIME_LINUX), wheelcache.fetch(wheelcache.NUMPY_LINUX)
    model, weights = build_model(scratch)
    check = scratch / "onnx_check.py"
    check.write_text(ONNX_CHECK.format(model=str(model), weights=str(weights)))
    rules = run_cli(
        cli("shrink", wheel, "-w", scratch / "ort-rules", "--json", scratch / "ort-rules.json", "-q"),
        scratch / "ort-rules",
        scratch / "ort-rules.json",
    )
    base = cli("shrink", wheel, "--check", check, "--with-wheel", numpy_wheel, "--cache-dir", cache, "-q")
    subprocess.run([*base, "--dry-run", "--max-runs", "1"], capture_output=True)  # builds the environment
    results = []
    for i in range(repeats):
        js = scratch / "ort.json"
        results.append(run_cli([*base, "-w", str(scratch / "ort-out"), "--json", str(js)], scratch / "ort-out", js))
        print(f"  [{i + 1}/{repeats}] onnxruntime: {results[-1].seconds:.1f} s", flush=True)
    last = results[-1]
    with zipfile.ZipFile(wheel) as zf:
        members = sorted(zf.infolist(), key=lambda i: -i.compress_size)
        total_compressed = sum(i.compress_size for i in members)
        biggest = [
            {
                "path": i.filename,
                "installed": i.file_size,
                "compressed": i.compress_size,
                "kept": i.filename in last.names,
            }
            for i in members[:3]
        ]
    with zipfile.ZipFile(last.output) as zf:
        kept_members = sorted(zf.infolist(), key=lambda i: -i.compress_size)
        kept_biggest = [{"path": i.filename, "compressed": i.compress_size} for i in kept_members[:3]]
        kept_compressed = sum(i.compress_size for i in kept_members)
    target = scratch / "ort-target"
    shutil.rmtree(target, ignore_errors=True)
    pip_target(target, last.output, numpy_wheel)
    proc = run_isolated(bare_python(scratch / "bare"), target, check)
    return {
        "input_bytes": wheel.stat().st_size,
        "input_files": len(names(wheel)),
        "rules_only_bytes": rules.output.stat().st_size,
        "rules_only_files": rules.report["after"]["files"],
        "output_bytes": last.output.stat().st_size,
        "output_files": len(last.names),
        "installed_before": last.report["before"]["installed"],
        "installed_after": last.report["after"]["installed"],
        "phases": [r.report["check"]["phases"] for r in results],
        "wall_seconds": [round(r.seconds, 2) for r in results],
        "trial_seconds": [r.report["check"]["seconds"] for r in results],
        "biggest_members_of_input": biggest,
        "input_compressed_members_total": total_compressed,
        "biggest_members_of_output": kept_biggest,
        "output_compressed_members_total": kept_compressed,
        "stubs": last.report["check"]["stubs"],
        "pip_installed_check": {
            "returncode": proc.returncode,
            "stdout": proc.stdout.strip(),
            "stderr": proc.stderr[-500:],
        },
    }


# ---- reports ---------------------------------------------------------------------------------------------------


def yes(ok: bool) -> str:
    return "**yes**" if ok else "**no**"


def carried_note(data: dict[str, Any]) -> list[str]:
    lines = []
    for key, origin in data.get("carried_over", {}).items():
        lines += [
            f"Section `{key}` was not rerun: it is carried over from {origin.get('date')} (commit "
            f"{origin.get('commit') or 'not recorded'}, command {origin.get('command') or 'not recorded'}).",
            "",
        ]
    return lines


def numpy_markdown(data: dict[str, Any]) -> str:
    m = data["machine"]
    lines = [
        f"# Trial deletion on {data['wheel']}",
        "",
        f"{m['date']}, {m['cores']} cores ({m['cpu']}), {m['platform']}, Python {m['python']}; "
        f"load average at start {m['loadavg_start']}, at end {m.get('loadavg_end')}. Generated by "
        "`benchmarks/bench_trial.py`; the check uses `linalg` (solve, eigvalsh, det) and `fft` (fft/ifft).",
        "",
    ]
    lines += carried_note(data)
    targets: list[tuple[str, str, str, bool]] = []
    c = data.get("configs")
    if c:
        rules = c["rules_only"]
        lines += [
            f"## Configurations ({len(next(iter(c['configs'].values()))['wall_seconds'])} interleaved rounds, "
            "`-j` = all cores)",
            "",
            f"Input {mb(c['input_bytes'])}; rules only: {mb(rules['bytes'])}, {rules['files']} files, "
            f"{mb(rules['installed_bytes'])} installed ({rules['wall_seconds']} s).",
            "",
            "| configuration | runs until verified | total runs (median) | runs per phase (first round) | wall s "
            "(median) | wall s (all) | trial s (median) | output | files | installed | same files as default |",
            "|---|---:|---:|---|---:|---|---:|---:|---:|---:|---|",
        ]
        for name, r in c["configs"].items():
            lines.append(
                f"| {name} | {r['runs_until_verified_median']:g} | {r['total_runs_median']:g} | "
                f"{', '.join(f'{k} {v}' for k, v in r['phases'][0].items())} | {r['wall_median']} | "
                f"{', '.join(map(str, r['wall_seconds']))} | {r['trial_seconds_median']} | {mb(r['output_bytes'])} | "
                f"{r['output_files']} | {mb(r['installed_bytes'])} | {r['same_files_as_default']} |"
            )
        lines += [
            "",
            "Runs until verified: the runs after the baselines until a set passed (trace + verify + repair, or the "
            "blind reduction), without the fixed phases (baseline, stubs, confirm) and without `certify`. "
            "Runs with `-j 2` include speculative runs whose answer the decision path did not use.",
            "",
        ]
        d, mi, nt = c["configs"]["trace (default)"], c["configs"]["--minimal"], c["configs"]["--no-trace"]
        stub_runs = median([p.get("stubs", 0) for p in d["phases"]])
        lines += [
            f"The stubs phase took {stub_runs:g} of the default's {d['total_runs_median']:g} runs (median); stubs "
            f"kept: {', '.join(d.get('stubs') or []) or 'none'}.",
            "",
        ]
        limit = 0.4 * rules["files"]
        reduce_runs = median([p.get("reduce", 0) for p in nt["phases"]])
        targets += [
            (
                "default: runs until verified",
                "≤ 3",
                f"{d['runs_until_verified_median']:g}",
                d["runs_until_verified_median"] <= 3,
            ),
            ("--minimal: total runs", "≤ 110", f"{mi['total_runs_median']:g}", mi["total_runs_median"] <= 110),
            ("--minimal: wall time", "≤ 45 s", f"{mi['wall_median']} s", mi["wall_median"] <= 45),
            (
                "--no-trace: reduce runs (-j 2)",
                f"≤ 0.4 × {rules['files']} = {limit:.0f}",
                f"{reduce_runs:g} (total {nt['total_runs_median']:g})",
                reduce_runs <= limit,
            ),
        ]
    s = data.get("strategies")
    if s:
        lines += [
            "## Search strategies: same items, same oracle (`Trial.evaluate`), `jobs=1`",
            "",
            f"{s['items']} items after the rules ({s['required_items']} dist-info files always kept); the 1-minimal "
            f"set found by hierarchical + certify has {s['needed_1_minimal']} items ({mb(s['needed_bytes'])}), "
            f"{s['needed_without_required_and_implied_inits']} of them neither dist-info nor a package `__init__.py` "
            "that the trial adds back anyway (so any proof of 1-minimality needs at least that many failing runs). "
            f"Median check run {s['median_run_seconds']} s (passing {s['median_passing_run_seconds']} s, failing "
            f"{s['median_failing_run_seconds']} s; timeout {s['timeout']} s). Each strategy starts with an "
            "empty cache. *Model* = the same strategy replayed against an oracle that passes iff the candidate "
            "keeps the 1-minimal set (monotone, instant).",
            "",
            "Runs are check runs (distinct candidates); the model agreement counts the strategy's oracle calls, "
            "cached ones included. The strategies ran one after the other (not interleaved), so their seconds also "
            "reflect the machine's load at the time; the run counts are exact.",
            "",
            "| strategy | runs | runs / items | × hierarchical + certify | seconds | kept | model runs | notes |",
            "|---|---:|---:|---:|---:|---:|---:|---|",
        ]
        ref = s["hierarchical+certify"]["runs"]

        def row(name: str, e: dict[str, Any], note: str) -> str:
            seconds = e.get("seconds", "")
            return (
                f"| {name} | {e['runs']} | {e['runs'] / s['items']:.2f} | {e['runs'] / ref:.2f} | {seconds} | "
                f"{e['kept'] if e.get('kept') is not None else '–'} | {e['model_runs']} | {note} |"
            )

        lines.append(row("hierarchical (blind)", s["hierarchical"], ""))
        lines.append(row("hierarchical + certify", s["hierarchical+certify"], "1-minimal"))
        for name in ("one-at-a-time", "classic ddmin"):
            e = s[name]
            if e["finished"]:
                note = (
                    f"same set as 1-minimal: {e['same_set_as_1_minimal']}; "
                    f"model agreed on {e['model_agreed_on_first_runs']} calls"
                )
                lines.append(row(name, e, note))
            else:
                lines.append(row(f"{name} (**capped**)", e, f"model agreed on {e['model_agreed_on_first_runs']} calls"))
                lines.append(
                    f"| {name} (**extrapolated** from the model) | ~{e['extrapolated_runs']} | "
                    f"{e['extrapolated_runs'] / s['items']:.2f} | {e['extrapolated_runs'] / ref:.2f} | "
                    f"~{e['extrapolated_seconds']} | | | {e['extrapolated_passes']} passing × "
                    f"{s['median_passing_run_seconds']} s + "
                    f"{e['extrapolated_runs'] - e['extrapolated_passes']} failing × "
                    f"{s['median_failing_run_seconds']} s (medians of the real runs) |"
                )
        hier = s["hierarchical"]["runs"]
        lines += [
            "",
            f"Blind hierarchical reduction, `jobs=1`: {hier} runs = {hier / s['items']:.2f} × items. These are the "
            "algorithms alone, every item tried on its own; `shrink --no-trace` also keeps each candidate's static "
            "import closure together (see the configurations above), which this comparison leaves out.",
            "",
        ]
        targets.append(
            (
                "the blind algorithm alone, no import closure (jobs=1)",
                f"≤ 0.4 × {s['items']} = {0.4 * s['items']:.0f}",
                str(hier),
                hier <= 0.4 * s["items"],
            )
        )
    cy = data.get("cycles")
    if cy:
        lines += [
            f"## One check cycle ({cy['rounds']} interleaved rounds, medians)",
            "",
            f"unzip and pip install use the rules-only wheel `{cy['wheel_for_unzip_and_pip']}` (the same files as "
            "the all-items tree). *prepare* = building and deleting the tree.",
            "",
            "| cycle | total s | prepare s | run s | min–max total s | × linked tree |",
            "|---|---:|---:|---:|---|---:|",
        ]
        for name, e in cy.items():
            if isinstance(e, dict):
                lines.append(
                    f"| {name} | {e['median_total']} | {e['median_prepare']} | {e['median_run']} | "
                    f"{e['min_total']}–{e['max_total']} | {e['ratio_to_linked_all']} |"
                )
        lines += [
            "",
            "PITFALLS.md quotes pip + run 5.4 s, unzip + run 2.5–4 s, hard-linked tree 0.7 s, warm bytecode 0.36 s.",
            "",
        ]
        linked = cy[LINKED_ALL]["median_total"]
        targets.append(("one check cycle (tree + run)", "≤ 0.5 s", f"{linked} s", linked <= 0.5))
    if targets:
        lines += ["## Targets", "", "| target | limit | measured | met |", "|---|---|---|---|"]
        lines += [f"| {a} | {b} | {m_} | {yes(ok)} |" for a, b, m_, ok in targets]
        lines.append("")
    data["targets"] = [{"target": a, "limit": b, "measured": m_, "met": ok} for a, b, m_, ok in targets]
    return "\n".join(lines)


def onnx_markdown(data: dict[str, Any]) -> str:
    m, o = data["machine"], data["onnxruntime"]
    ok = o["output_bytes"] <= 12 * MB
    lines = [
        "# Trial deletion on onnxruntime-1.31.1-cp311-cp311-manylinux_2_28_x86_64.whl",
        "",
        f"{m['date']}, {m['cores']} cores ({m['cpu']}), {m['platform']}, Python {m['python']}; "
        f"load average at start {m['loadavg_start']}. Generated by `benchmarks/bench_trial.py`. The check loads a "
        "Gemm+Relu model (built with `onnx`) with `InferenceSession(..., providers=['CPUExecutionProvider'])` and "
        "compares its output with numpy; numpy comes from `--with-wheel`.",
        "",
        "| | wheel | files |",
        "|---|---:|---:|",
        f"| input | {mb(o['input_bytes'])} | {o['input_files']} |",
        f"| rules only | {mb(o['rules_only_bytes'])} | {o['rules_only_files']} |",
        f"| with the check | {mb(o['output_bytes'])} | {o['output_files']} |",
        "",
        f"Installed {mb(o['installed_before'])} → {mb(o['installed_after'])}. Runs per phase: {o['phases'][0]}; "
        f"wall {', '.join(map(str, o['wall_seconds']))} s (trial {', '.join(map(str, o['trial_seconds']))} s). "
        f"Stubs: {o['stubs'] or 'none'}.",
        "",
        "Biggest members of the input (compressed):",
        "",
        "| member | installed | compressed | kept |",
        "|---|---:|---:|---|",
    ]
    lines += [
        f"| {b['path']} | {mb(b['installed'])} | {mb(b['compressed'])} | {b['kept']} |"
        for b in o["biggest_members_of_input"]
    ]
    big = o["biggest_members_of_output"][0]
    lines += [
        "",
        f"In the output, `{big['path']}` is {mb(big['compressed'])} of {mb(o['output_compressed_members_total'])} "
        f"compressed ({100 * big['compressed'] / o['output_compressed_members_total']:.1f}%): the wheel cannot "
        "get much smaller by deleting files; only by changing that library.",
        "",
        f"pip-installed output + numpy in a fresh target, check in an isolated interpreter: exit "
        f"{o['pip_installed_check']['returncode']}, `{o['pip_installed_check']['stdout']}`.",
        "",
        "| target | limit | measured | met |",
        "|---|---|---|---|",
        f"| wheel size with the check | ≤ 12 MB | {mb(o['output_bytes'])} | {yes(ok)} |",
        "",
    ]
    data["targets"] = [{"target": "wheel size", "limit": "<= 12 MB", "measured": o["output_bytes"], "met": ok}]
    return "\n".join(lines)


# ---- main ------------------------------------------------------------------------------------------------------


def carry_over(data: dict[str, Any], previous: Path) -> None:
    """Sections this run skipped (``--only``) are kept from the previous results, with the machine and commit they
    were measured on, so a partial rerun does not drop them."""
    if not previous.exists():
        return
    old = json.loads(previous.read_text())
    for key in ("configs", "strategies", "cycles"):
        if key not in data and key in old:
            data[key] = old[key]
            data.setdefault("carried_over", {})[key] = old.get("carried_over", {}).get(key) or {
                k: old["machine"].get(k) for k in ("date", "commit", "command")
            }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="rounds of the CLI configurations (default 3)")
    parser.add_argument("--cycles", type=int, default=20, help="rounds of the check-cycle comparison (default 20)")
    parser.add_argument("--one-max-runs", type=int, default=None, help="cap one-at-a-time (default: no cap)")
    parser.add_argument("--ddmin-max-runs", type=int, default=None, help="cap classic ddmin (default: no cap)")
    parser.add_argument("--onnx-repeats", type=int, default=3)
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated sections of {', '.join(SECTIONS)}")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    parser.add_argument(
        "--render", action="store_true", help="only rewrite the .md files from the .json files in --out"
    )
    args = parser.parse_args(argv)
    sections = set(args.only.split(","))
    unknown = sections - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections: {', '.join(sorted(unknown))}")

    if args.render:
        for name, render in (("trial-numpy", numpy_markdown), ("trial-onnxruntime", onnx_markdown)):
            source = args.out / f"{name}.json"
            if source.exists():
                (args.out / f"{name}.md").write_text(render(json.loads(source.read_text())))
        return 0
    machine = machine_info()
    scratch = Path(tempfile.mkdtemp(prefix="bench-trial-"))
    cache = scratch / "cache"
    args.out.mkdir(parents=True, exist_ok=True)
    try:
        wheel = wheelcache.fetch(wheelcache.NUMPY_LINUX)
        check = scratch / "numpy_check.py"
        check.write_text(NUMPY_CHECK)
        data: dict[str, Any] = {"machine": machine, "wheel": wheel.name}
        if "numpy-configs" in sections:
            print("numpy: CLI configurations", flush=True)
            data["configs"] = bench_configs(wheel, check, cache, scratch, args.repeats)
        if sections & {"strategies", "cycles"}:
            with session(wheel, check, cache, scratch / "session") as s:
                needed: frozenset[str] | None = None
                if "strategies" in sections:
                    print("numpy: search strategies (jobs=1)", flush=True)
                    data["strategies"], needed = bench_strategies(s, args.one_max_runs, args.ddmin_max_runs)
                if "cycles" in sections:
                    print("numpy: check cycles", flush=True)
                    rules_wheel = Path(data["configs"]["rules_only"]["path"]) if "configs" in data else None
                    if rules_wheel is None:
                        out = scratch / "rules"
                        subprocess.run(cli("shrink", wheel, "-w", out, "-q"), check=True, capture_output=True)
                        rules_wheel = next(out.glob("*.whl"))
                    verified = needed or frozenset(
                        n for n in (data.get("configs") or {}).get("kept_default", []) if n in s.items
                    )
                    if not verified:
                        verified = frozenset(s.items)
                    data["cycles"] = bench_cycles(s, rules_wheel, s.trial("v").oracle.files_for(verified), args.cycles)
        if len(data) > 2:
            data.get("configs", {}).pop("kept_default", None)
            data.get("configs", {}).get("rules_only", {}).pop("path", None)
            machine["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
            carry_over(data, args.out / "trial-numpy.json")
            (args.out / "trial-numpy.md").write_text(numpy_markdown(data))
            (args.out / "trial-numpy.json").write_text(json.dumps(data, indent=1) + "\n")
            print((args.out / "trial-numpy.md").read_text())
        if "onnxruntime" in sections:
            print("onnxruntime", flush=True)
            ort = {"machine": machine_info(), "onnxruntime": bench_onnxruntime(cache, scratch, args.onnx_repeats)}
            (args.out / "trial-onnxruntime.md").write_text(onnx_markdown(ort))
            (args.out / "trial-onnxruntime.json").write_text(json.dumps(ort, indent=1) + "\n")
            print((args.out / "trial-onnxruntime.md").read_text())
    finally:
        if args.keep:
            print(f"scratch kept in {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
