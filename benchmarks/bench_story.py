"""The story slimwheel exists for, measured: a TFLite model on numpy without BLAS, in as few bytes as it takes.

1. **numpy without BLAS** — numpy 1.26.4 (tflite-runtime 2.14 was built against numpy 1.x) built from its sdist
   with pip and meson-python: no BLAS/LAPACK (numpy's own ``lapack_lite`` instead of OpenBLAS), no SIMD code
   (``disable-optimization``), ``-Os`` with link-time optimisation, no unwind tables, unused sections
   garbage-collected (:data:`NUMPY_BUILD` holds the exact flags). Symbols are left for slimwheel to strip: a
   library it changes is recompressed at its ``--compress-level``, while unchanged entries keep pip's zlib level 6.
   Measured: wall time of the ``pip wheel`` command (the downloads of the sdist and of the build requirements
   included) and the wheel size. The built wheel is installed with ``pip --target`` next to tflite-runtime and must
   pass a smoke test (``linalg.solve``/``inv``/``eigvalsh``/``svd``, an ``rfft`` round trip) and the story's check.
   ``--numpy-wheel`` skips the build and uses a wheel built before.
2. **the story** — ``slimwheel shrink NUMPY TFLITE --check check.py --same-output`` (both wheels reduced together)
   where the check runs a small float32 TFLite model written by ``tests/tflite_model.py`` (fully connected → relu →
   fully connected, no TensorFlow needed) with ``tflite_runtime.interpreter.Interpreter`` on a fixed input, asserts
   the output equals numpy's computation of the same network and prints it rounded. Modes (:data:`MODES`): trace
   with ``--compress-level 12`` (the headline), trace at the default level 9, and ``--minimal`` at level 12; each a
   timed subprocess, after one untimed run that builds the check environment. Also the rules-only ``shrink`` and
   the story with the stock numpy 1.26.4 manylinux wheel, for comparison.
   **Target: ≤ 4 MB for both wheels together (MB = 10⁶ bytes), with the model's output unchanged.**
3. **numpy alone** — a train-and-infer program in plain numpy (a 2-16-1 perceptron trained by gradient descent on
   points inside/outside a circle, then inference on unseen points) as the check, on the no-BLAS wheel and on the
   stock numpy 2.4.6 manylinux wheel (OpenBLAS inside). **Target: ≤ 3.2 MB.**

Every output is proven outside slimwheel: the output wheels are installed with ``pip install --no-deps --target``
into a fresh directory and the check is run by an interpreter that sees nothing else (``venv --without-pip``,
``python -I``); its stdout must be identical to the check's stdout on the original wheels installed the same way.

Examples::

    .venv/bin/python benchmarks/bench_story.py                       # builds numpy (~4 min on 2 cores), then all
    .venv/bin/python benchmarks/bench_story.py --numpy-wheel /tmp/numpy-1.26.4-cp311-cp311-linux_x86_64.whl

Results: ``benchmarks/results/story.{md,json}`` (``--out`` to choose). Needs ``flatbuffers`` (to write the model),
gcc/g++ (to build numpy), network access to PyPI (sdist, build requirements, the pinned wheels).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS = HERE / "results"
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(HERE))

import wheelcache  # noqa: E402  (tests/wheelcache.py: pinned real wheels, downloaded once)
from machine import machine_info as common_machine_info  # noqa: E402  (benchmarks/machine.py)
from tflite_model import NUMPY_126_LINUX, TFLITE_RUNTIME_LINUX, build_tflite_model, check_script  # noqa: E402

MB = 1_000_000
#: slimwheel options of each mode the cases are shrunk in; the first is the headline. Level 12 (libdeflate's
#: slowest) costs little on these sizes; it only applies to entries slimwheel changes (stripped files, stubs).
MODES: dict[str, list[str]] = {
    "level 12": ["--compress-level", "12"],
    "level 9 (default)": [],
    "--minimal, level 12": ["--minimal", "--compress-level", "12"],
}
STORY_TARGET = 4 * MB
NUMPY_ONLY_TARGET = 3.2 * MB

#: How numpy 1.26.4 is built without BLAS and for size (see recipes/numpy-noblas.toml.draft for the variants tried).
NUMPY_BUILD: dict[str, Any] = {
    "requirement": "numpy==1.26.4",
    "setup_args": [
        "-Dblas=none",
        "-Dlapack=none",
        "-Dallow-noblas=true",
        "-Ddisable-optimization=true",
        "-Dtest-simd=[]",
        "-Dbuildtype=minsize",
        "-Db_ndebug=true",
        "-Db_lto=true",
    ],
    "env": {
        "CFLAGS": "-Os -g0 -ffunction-sections -fdata-sections -fno-asynchronous-unwind-tables -fno-unwind-tables",
        "CXXFLAGS": "-Os -g0 -ffunction-sections -fdata-sections -fno-asynchronous-unwind-tables -fno-unwind-tables",
        "LDFLAGS": "-Wl,--gc-sections",  # no --strip-all: slimwheel strips, and so recompresses the libraries
    },
}

NUMPY_SMOKE = """\
import numpy as np

rng = np.random.default_rng(1)
a = rng.standard_normal((200, 200))
b = rng.standard_normal(200)
x = np.linalg.solve(a, b)
assert np.abs(a @ x - b).max() < 1e-9
assert np.allclose(np.linalg.inv(a) @ a, np.eye(200), atol=1e-8)
w = np.linalg.eigvalsh(a + a.T)
u, s, vt = np.linalg.svd(a[:50, :40])
assert np.allclose((u[:, :40] * s) @ vt, a[:50, :40])
t = np.linspace(0.0, 1.0, 1024, endpoint=False)
signal = np.sin(2 * np.pi * 50 * t)
spectrum = np.fft.rfft(signal)
assert int(np.argmax(np.abs(spectrum))) == 50 and np.allclose(np.fft.irfft(spectrum, n=1024), signal)
config = np.show_config(mode="dicts")["Build Dependencies"]
print("numpy", np.__version__, "blas", config["blas"]["name"], "lapack", config["lapack"]["name"])
print("solve residual < 1e-9, eigvalsh", np.round(w[:2], 6).tolist(), "svd ok, rfft peak 50")
"""

MLP_CHECK = (REPO / "recipes" / "checks" / "numpy_mlp_train_infer.py").read_text()

# ---- helpers -------------------------------------------------------------------------------------------------------


def mb(n: float) -> str:
    return f"{n / MB:.2f} MB"


def run(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, **kwargs)


def first_line(cmd: list[str]) -> str:
    with contextlib.suppress(OSError, IndexError):
        return run(cmd).stdout.splitlines()[0].strip()
    return ""


def machine_info() -> dict[str, Any]:
    git = ["git", "--no-optional-locks", "-C", str(REPO)]
    return {
        **common_machine_info(),
        "gcc": first_line(["gcc", "--version"]),
        "pip": first_line([sys.executable, "-m", "pip", "--version"]).split(" from ")[0],
        "slimwheel_commit": first_line([*git, "rev-parse", "--short", "HEAD"]),
        "uncommitted": sorted(
            line[3:] for line in run([*git, "status", "--porcelain", "--untracked-files=no"]).stdout.splitlines()
        ),
    }


def wheel_files(path: Path) -> list[tuple[str, int, int]]:
    """(name, compressed, size) of every file in a wheel, biggest compressed first."""
    with zipfile.ZipFile(path) as zf:
        rows = [(i.filename, i.compress_size, i.file_size) for i in zf.infolist() if not i.is_dir()]
    return sorted(rows, key=lambda r: -r[1])


def bare_python(directory: Path) -> Path:
    """An interpreter without any third-party package: a fresh ``venv --without-pip``."""
    if not (directory / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(directory)], check=True)
    return directory / "bin" / "python"


def pip_target(target: Path, wheels: list[Path]) -> None:
    shutil.rmtree(target, ignore_errors=True)
    cmd = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--disable-pip-version-check"]
    subprocess.run([*cmd, "--target", str(target), *map(str, wheels)], check=True, capture_output=True)


def run_isolated(python: Path, target: Path, script: Path) -> subprocess.CompletedProcess[str]:
    code = f"import sys; sys.path.insert(0, {str(target)!r}); exec(open({str(script)!r}).read())"
    return run([str(python), "-I", "-c", code], cwd=target.parent)


def tree_bytes(root: Path) -> tuple[int, int]:
    files = [p for p in root.rglob("*") if p.is_file() and not p.is_symlink()]
    return len(files), sum(p.stat().st_size for p in files)


# ---- 1. numpy without BLAS -----------------------------------------------------------------------------------------


def build_numpy(directory: Path, jobs: int) -> dict[str, Any]:
    """``pip wheel`` numpy from its sdist with :data:`NUMPY_BUILD`; the wheel cache is off because pip's cache key
    ignores ``-C`` config settings (a cached wheel built with other flags would silently be reused)."""
    directory.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-cache-dir", "--no-deps", "--no-binary", "numpy"]
    cmd += ["-w", str(directory), f"-Ccompile-args=-j{jobs}"]
    cmd += [f"-Csetup-args={arg}" for arg in NUMPY_BUILD["setup_args"]]
    cmd.append(NUMPY_BUILD["requirement"])
    env = {**os.environ, **NUMPY_BUILD["env"]}
    print("building numpy:", " ".join(f"{k}={shlex.quote(v)}" for k, v in NUMPY_BUILD["env"].items()), end=" ")
    print(shlex.join(cmd[2:]), flush=True)
    started = time.perf_counter()
    proc = run(cmd, env=env)
    seconds = time.perf_counter() - started
    (directory / "build.log").write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        raise SystemExit(
            f"numpy build failed ({proc.returncode}), see {directory / 'build.log'}:\n{proc.stderr[-3000:]}"
        )
    (wheel,) = directory.glob("numpy-*.whl")
    shell = " ".join(f"{k}={shlex.quote(v)}" for k, v in NUMPY_BUILD["env"].items())
    return {
        "wheel": str(wheel),
        "bytes": wheel.stat().st_size,
        "seconds": round(seconds, 1),
        "command": f"{shell} pip wheel {shlex.join(cmd[4:])}",
        **NUMPY_BUILD,
    }


def verify_numpy(numpy_wheel: Path, tflite: Path, check: Path, scratch: Path, python: Path) -> dict[str, Any]:
    target = scratch / "verify-site"
    pip_target(target, [numpy_wheel, tflite])
    smoke = scratch / "numpy_smoke.py"
    smoke.write_text(NUMPY_SMOKE)
    result: dict[str, Any] = {}
    for name, script in (("numpy smoke", smoke), ("tflite check", check)):
        proc = run_isolated(python, target, script)
        if proc.returncode != 0:
            raise SystemExit(f"the built numpy fails the {name}:\n{proc.stderr[-3000:]}")
        result[name] = proc.stdout.strip()
    return result


# ---- 2./3. shrinking against a check -------------------------------------------------------------------------------


def shrink(
    name: str, wheels: list[Path], check: Path, scratch: Path, cache: Path, jobs: int, extra: list[str]
) -> dict[str, Any]:
    out, report_path = scratch / "out" / name, scratch / "out" / f"{name}.json"
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, "-m", "slimwheel", "shrink", *map(str, wheels), "-w", str(out), "--json", str(report_path)]
    cmd += ["-q", "-j", str(jobs), *extra]
    if "--check" in extra:
        cmd += ["--cache-dir", str(cache)]
    started = time.perf_counter()
    proc = run(cmd)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"{shlex.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}{proc.stdout[-3000:]}")
    report = json.loads(report_path.read_text())
    per_wheel = []
    for w in report["wheels"]:
        output = Path(w["output"])
        entry: dict[str, Any] = {
            "input": Path(w["input"]).name,
            "before_bytes": w["before"]["compressed"],
            "after_bytes": output.stat().st_size,
            "files_before": w["before"]["files"],
            "files_after": w["after"]["files"],
            "installed_after": w["after"]["installed"],
            "largest_kept": [{"path": p, "compressed": c, "size": s} for p, c, s in wheel_files(output)[:8]],
            "output": str(output),
        }
        if w.get("check"):
            entry["phases"] = w["check"]["phases"]
            entry["check_seconds"] = w["check"]["seconds"]
            entry["stubs"] = w["check"]["stubs"]
            entry["notes"] = w["check"]["notes"]
        per_wheel.append(entry)
    total = sum(w["after_bytes"] for w in per_wheel)
    result = {
        "command": "slimwheel " + shlex.join(cmd[3:]).replace(str(scratch), "$SCRATCH"),
        "wall_seconds": round(seconds, 2),
        "total_before": sum(w["before_bytes"] for w in per_wheel),
        "total_after": total,
        "wheels": per_wheel,
    }
    print(f"  {name} {shlex.join(extra)}: {mb(result['total_before'])} -> {mb(total)} in {seconds:.1f} s", flush=True)
    return result


def prove(result: dict[str, Any], originals: list[Path], check: Path, scratch: Path, python: Path) -> None:
    """Install the originals and the outputs into fresh targets; the check must print the same on both."""
    outputs = [Path(w["output"]) for w in result["wheels"]]
    runs = {}
    for label, wheels in (("original", originals), ("shrunk", outputs)):
        target = scratch / "prove" / label
        pip_target(target, wheels)
        files, size = tree_bytes(target)
        proc = run_isolated(python, target, check)
        runs[label] = {"returncode": proc.returncode, "stdout": proc.stdout, "files": files, "installed_bytes": size}
        if proc.returncode != 0:
            runs[label]["stderr_tail"] = proc.stderr[-2000:]
    result["installed_check"] = {
        "passed": runs["shrunk"]["returncode"] == 0,
        "same_output": runs["shrunk"]["returncode"] == 0 and runs["shrunk"]["stdout"] == runs["original"]["stdout"],
        "stdout": runs["shrunk"]["stdout"],
        "original_stdout": runs["original"]["stdout"],
        "installed": {k: {"files": v["files"], "bytes": v["installed_bytes"]} for k, v in runs.items()},
        **({"stderr_tail": runs["shrunk"]["stderr_tail"]} if "stderr_tail" in runs["shrunk"] else {}),
    }
    verdict = "same output" if result["installed_check"]["same_output"] else "OUTPUT DIFFERS OR FAILS"
    print(f"    installed with pip and checked: {verdict}", flush=True)


def shrink_case(
    name: str,
    wheels: list[Path],
    check: Path,
    scratch: Path,
    cache: Path,
    jobs: int,
    python: Path,
    modes: dict[str, list[str]],
    target: float,
) -> dict[str, Any]:
    case: dict[str, Any] = {"inputs": [{"wheel": w.name, "bytes": w.stat().st_size} for w in wheels]}
    case["input_total"] = sum(w.stat().st_size for w in wheels)
    case["rules_only"] = shrink(f"{name}-rules", wheels, check, scratch, cache, jobs, [])
    base = ["--check", str(check), "--same-output"]
    # Untimed: builds the check environment (a venv under the cache directory) so that no timed run pays for it.
    warm = [sys.executable, "-m", "slimwheel", "shrink", *map(str, wheels), "--dry-run", "-q", *base]
    run([*warm, "--max-runs", "1", "--cache-dir", str(cache), "-w", str(scratch / "out" / "warm")])
    case["modes"] = {}
    for i, (mode, extra) in enumerate(modes.items()):
        result = shrink(f"{name}-mode{i}", wheels, check, scratch, cache, jobs, [*base, *extra])
        result["mode"] = mode
        prove(result, wheels, check, scratch, python)
        result["target_bytes"] = target
        result["target_met"] = result["total_after"] <= target and result["installed_check"]["same_output"]
        case["modes"][mode] = result
    return case


# ---- report --------------------------------------------------------------------------------------------------------


def case_rows(title: str, case: dict[str, Any]) -> list[str]:
    rows = []
    rules = case["rules_only"]
    inputs = " + ".join(f"{w['wheel']} ({mb(w['bytes'])})" for w in case["inputs"])
    rows.append(f"| {title}: input | {inputs} | **{mb(case['input_total'])}** | | |")
    rows.append(f"| {title}: rules + strip only | | {mb(rules['total_after'])} | none | {rules['wall_seconds']} s |")
    for mode, r in case["modes"].items():
        sizes = " + ".join(mb(w["after_bytes"]) for w in r["wheels"])
        phases = r["wheels"][0].get("phases", {})
        ok = "yes" if r["installed_check"]["same_output"] else "**NO**"
        met = "met" if r["target_met"] else "**not met**"
        rows.append(
            f"| {title}: `--check`, {mode} | {sizes} | **{mb(r['total_after'])}** ({met}) | "
            f"{sum(phases.values())} ({', '.join(f'{k} {v}' for k, v in phases.items())}); same output: {ok} | "
            f"{r['wall_seconds']} s |"
        )
    return rows


def headline(case: dict[str, Any]) -> dict[str, Any]:
    first: dict[str, Any] = next(iter(case["modes"].values()))
    return first


def render(data: dict[str, Any]) -> str:
    m = data["machine"]
    lines = [
        "# The story: a TFLite model on numpy without BLAS",
        "",
        f"Measured {m['date']} on {m['cpu']} ({m['cores']} cores, shared; load average {m['loadavg_start']} at the "
        f"start), Python {m['python']}, {m['gcc']}, {m['pip']}, slimwheel {m['slimwheel_commit']}"
        + (f" + uncommitted {', '.join(m['uncommitted'])}" if m["uncommitted"] else "")
        + ". MB = 10⁶ bytes. Written by `benchmarks/bench_story.py`; everything in `story.json`.",
        "",
        "## numpy 1.26.4 without BLAS",
        "",
    ]
    b = data["numpy_build"]
    if b.get("seconds") is not None:
        lines += [f"Built in **{b['seconds']} s** (wall, 2 compile jobs):", "", "```bash", b["command"], "```", ""]
    else:
        lines += [
            f"Given with `--numpy-wheel` ({Path(b['wheel']).name}); build command and flags as in "
            "`NUMPY_BUILD` / `recipes/numpy-noblas.toml.draft`.",
            "",
        ]
    stock = data["stock"]
    lines += [
        "| wheel | bytes |",
        "|---|---:|",
        f"| numpy 1.26.4 stock manylinux (OpenBLAS inside) | {mb(stock['numpy-1.26.4'])} |",
        f"| numpy 1.26.4 built without BLAS | **{mb(b['bytes'])}** |",
        f"| numpy 2.4.6 stock manylinux_2_28 | {mb(stock['numpy-2.4.6'])} |",
        f"| tflite-runtime 2.14.0 manylinux2014 | {mb(stock['tflite-runtime-2.14.0'])} |",
        "",
        "Smoke test of the built wheel (installed with pip next to tflite-runtime): "
        + "; ".join(f"{k}: `{v.splitlines()[-1]}`" for k, v in data["numpy_verified"].items()),
        "",
        "## Results",
        "",
        "| case | wheels after | total | check runs | wall |",
        "|---|---|---:|---|---:|",
    ]
    lines += case_rows("TFLite story, numpy no-BLAS", data["story"])
    lines += case_rows("TFLite story, stock numpy 1.26.4", data["story_stock_numpy"])
    for key, case in data["numpy_only"].items():
        lines += case_rows(f"numpy only ({key}), MLP train + infer", case)
    story = headline(data["story"])
    lines += [
        "",
        f"Targets (headline mode `{story['mode']}`): TFLite story ≤ {mb(STORY_TARGET)} — "
        f"**{'met' if story['target_met'] else 'not met'}** "
        f"({story['total_after']:,} bytes); numpy alone ≤ {mb(NUMPY_ONLY_TARGET)} — "
        + ", ".join(
            f"{key}: **{'met' if headline(c)['target_met'] else 'not met'}** ({headline(c)['total_after']:,} bytes)"
            for key, c in data["numpy_only"].items()
        )
        + ".",
        "",
        "Each output was installed with `pip install --no-deps --target` into a fresh directory and its check run by "
        'an interpreter that sees only that directory; "same output" means its stdout equals the check\'s stdout on '
        "the original wheels installed the same way. The wall times are of the whole `slimwheel shrink` command, "
        "after one untimed run that builds the check environment.",
        "",
        "Check output (TFLite story, shrunk): `" + story["installed_check"]["stdout"].strip() + "`",
        "",
        f"### What the story keeps ({story['mode']}), biggest compressed entries",
        "",
        "| file | compressed | size |",
        "|---|---:|---:|",
    ]
    for w in story["wheels"]:
        for f in w["largest_kept"][:6]:
            lines.append(f"| {f['path']} | {f['compressed']:,} | {f['size']:,} |")
    lines += ["", "Stubbed (start-up imports the check never uses): " + ", ".join(story["wheels"][0].get("stubs", []))]
    lines += ["", "## Commands", ""]
    for title, case in (("story", data["story"]), *((f"numpy only {k}", c) for k, c in data["numpy_only"].items())):
        lines.append(f"- {title}: `{headline(case)['command']}`")
    lines += [f"- notes: {n}" for n in data.get("notes", [])]
    return "\n".join(lines) + "\n"


# ---- main ----------------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--numpy-wheel", type=Path, help="a numpy 1.26.4 no-BLAS wheel built before (skips the build)")
    parser.add_argument("-j", "--jobs", type=int, default=2, help="compile jobs and slimwheel -j (default 2)")
    parser.add_argument("--no-minimal", action="store_true", help="skip the --minimal runs")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--scratch", type=Path, help="scratch directory (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    parser.add_argument("--render", type=Path, metavar="JSON", help="only rewrite story.md from a story.json")
    args = parser.parse_args(argv)
    if args.render:
        (args.out / "story.md").write_text(render(json.loads(args.render.read_text())))
        return 0

    scratch = args.scratch or Path(tempfile.mkdtemp(prefix="slimwheel-story-"))
    scratch.mkdir(parents=True, exist_ok=True)
    cache = scratch / "cache"
    data: dict[str, Any] = {"machine": machine_info(), "notes": []}
    try:
        tflite, numpy_stock = wheelcache.fetch(TFLITE_RUNTIME_LINUX), wheelcache.fetch(NUMPY_126_LINUX)
        numpy2 = wheelcache.fetch(wheelcache.NUMPY_LINUX)
        data["stock"] = {
            "tflite-runtime-2.14.0": tflite.stat().st_size,
            "numpy-1.26.4": numpy_stock.stat().st_size,
            "numpy-2.4.6": numpy2.stat().st_size,
        }
        python = bare_python(scratch / "bare")
        model = scratch / "model.tflite"
        check = scratch / "tflite_check.py"
        check.write_text(check_script(model, build_tflite_model(model)))
        mlp = scratch / "mlp_check.py"
        mlp.write_text(MLP_CHECK)

        if args.numpy_wheel:
            numpy_wheel = args.numpy_wheel.resolve()
            data["numpy_build"] = {"wheel": str(numpy_wheel), "bytes": numpy_wheel.stat().st_size, "seconds": None}
            data["numpy_build"].update(NUMPY_BUILD)
        else:
            data["numpy_build"] = build_numpy(scratch / "numpy-build", args.jobs)
            numpy_wheel = Path(data["numpy_build"]["wheel"])
        print(f"numpy no-BLAS: {mb(numpy_wheel.stat().st_size)}", flush=True)
        data["numpy_verified"] = verify_numpy(numpy_wheel, tflite, check, scratch, python)

        modes = {k: v for k, v in MODES.items() if not (args.no_minimal and "--minimal" in v)}
        print("TFLite story (no-BLAS numpy + tflite-runtime):", flush=True)
        data["story"] = shrink_case(
            "story", [numpy_wheel, tflite], check, scratch, cache, args.jobs, python, modes, STORY_TARGET
        )
        print("TFLite story with the stock numpy 1.26.4:", flush=True)
        data["story_stock_numpy"] = shrink_case(
            "story-stock",
            [numpy_stock, tflite],
            check,
            scratch,
            cache,
            args.jobs,
            python,
            dict([next(iter(MODES.items()))]),
            STORY_TARGET,
        )
        data["numpy_only"] = {}
        for key, wheel in (("numpy 1.26.4 no-BLAS", numpy_wheel), ("numpy 2.4.6 stock", numpy2)):
            print(f"numpy only, MLP train + infer: {key}", flush=True)
            data["numpy_only"][key] = shrink_case(
                f"mlp-{wheel.name[:12]}", [wheel], mlp, scratch, cache, args.jobs, python, modes, NUMPY_ONLY_TARGET
            )
        data["machine"]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
        data["checks"] = {"tflite": check.read_text(), "mlp": MLP_CHECK, "numpy_smoke": NUMPY_SMOKE}
    finally:
        if args.keep or args.scratch:
            print(f"scratch kept in {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)

    args.out.mkdir(parents=True, exist_ok=True)
    text = json.dumps(data, indent=1).replace(str(scratch), "$SCRATCH").replace(str(Path.home()), "~")
    (args.out / "story.json").write_text(text + "\n")
    (args.out / "story.md").write_text(render(json.loads(text)))
    print(f"wrote {args.out / 'story.md'} and story.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
