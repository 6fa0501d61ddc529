"""Benchmark the Python rewrites of ``slimwheel shrink`` (``--minify``, ``--bytecode-only``) against a check.

Issue 11's targets, each measured against the same command without the flag (single runs; sizes and run counts are
deterministic, wall times follow the shared machine's load):

- **torch 2.13.0+cpu** with ``recipes/checks/torch_train_infer.py`` and ``recipes/torch-cpu.toml``'s ``[check]``
  requirements (the command of ``bench_trial_torch.py``): ``--bytecode-only`` must install (as pip installs it,
  bytecode compilation on: ``--target``, the report's ``set.pip_installed``) to ≤ 400 MB; ``--minify`` must give
  a wheel ≤ 117 MB. Runs: without a flag, ``--minify``, ``--bytecode-only``; all three with ``--target``.
- **the TFLite story** (``bench_story.py``): numpy 1.26.4 built without BLAS (``recipes/numpy-noblas.toml``; the
  wheel its build left in slimwheel's cache, or ``--numpy-wheel``) + tflite-runtime 2.14.0, shrunk together with
  ``recipes/checks/tflite_mlp.py`` (the model and output of bench_story's generated check) and ``--same-output``,
  ``-j 2``: with ``--minify`` both wheels together must be ≤ 3.10 MB, the model's output unchanged. At the default
  level 9 (story.md's 3.33 MB) and at level 12 (its headline).

Every run is ``python -m slimwheel shrink ... --json REPORT --target DIR`` as a timed subprocess, from a copy of
``slimwheel/`` taken at the start (``--source head``, the default: as last committed, so that others' edits to the
checkout, half-done or experimental, are never measured; ``worktree``: the files as they are), with one cache
directory for all runs (the default: check environments are reused). Recorded per run: wheels compressed, installed
(files' sizes, file count), as pip installed them, check runs per phase (``rewrite`` included), files rewritten
and restored, installed bytes the rewrites saved, wall seconds. Then the check is run again outside slimwheel on
what pip installed (``python -I``, a fresh ``venv --without-pip``, the target directory and, for torch, the
requirements installed once with ``pip --target`` into ``--deps-dir``): it must pass, and for the story print
what it prints on the original wheels installed the same way.

Example (~25 min on 2 cores; torch's runs take 4-8 min each)::

    .venv/bin/python benchmarks/bench_rewrites.py
    .venv/bin/python benchmarks/bench_rewrites.py --only story     # the story's runs alone (~2 min)

Results: ``benchmarks/results/rewrites.{json,md}`` (``--render`` rewrites the ``.md`` from the ``.json``).
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
import tomllib
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS = HERE / "results"
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(HERE))

import wheelcache  # noqa: E402  (tests/wheelcache.py: pinned real wheels, downloaded once)
from bench_shrink import slimwheel_source_info, snapshot_slimwheel  # noqa: E402
from machine import machine_info  # noqa: E402  (benchmarks/machine.py)
from tflite_model import TFLITE_RUNTIME_LINUX  # noqa: E402

MB = 1_000_000
TORCH_WHEEL = Path("/opt/wheels/torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl")
TORCH_CHECK = REPO / "recipes" / "checks" / "torch_train_infer.py"
TORCH_REQUIREMENTS: list[str] = tomllib.loads((REPO / "recipes" / "torch-cpu.toml").read_text())["check"][
    "requirements"
]
#: The no-BLAS numpy that ``slimwheel build recipes/numpy-noblas.toml`` left in the cache (story.json's input).
NUMPY_NOBLAS = Path.home() / ".cache/slimwheel/builds/c637ee71fb0defb0f1b0/numpy-1.26.4-cp311-cp311-linux_x86_64.whl"
STORY_CHECK = REPO / "recipes" / "checks" / "tflite_mlp.py"

#: Issue 11's targets: (run, what is measured, bytes at most, the figure before).
TARGETS: list[tuple[str, str, int, str]] = [
    ("torch --bytecode-only", "pip_installed", 400 * MB, "417.5 MB as pip installs it without the flag"),
    ("torch --minify", "compressed", 117 * MB, "120.45 MB without the flag"),
    ("story --minify", "compressed", int(3.10 * MB), "3.33 MB without the flag (story.md, level 9)"),
]


@dataclass
class Run:
    """One ``shrink`` command: ``group`` is torch or story, ``flags`` what differs between the runs of a group."""

    name: str
    group: str
    wheels: list[Path]
    flags: list[str]
    common: list[str] = field(default_factory=list)


def runs(numpy_wheel: Path, tflite: Path) -> list[Run]:
    withs = [arg for r in TORCH_REQUIREMENTS for arg in ("--with", r)]
    torch_common = ["--check", str(TORCH_CHECK), *withs]
    story_common = ["--check", str(STORY_CHECK), "--same-output", "-j", "2"]
    story = [numpy_wheel, tflite]
    return [
        Run("torch", "torch", [TORCH_WHEEL], [], torch_common),
        Run("torch --minify", "torch", [TORCH_WHEEL], ["--minify"], torch_common),
        Run("torch --bytecode-only", "torch", [TORCH_WHEEL], ["--bytecode-only"], torch_common),
        Run("story", "story", story, [], story_common),
        Run("story --minify", "story", story, ["--minify"], story_common),
        Run("story, level 12", "story", story, ["--compress-level", "12"], story_common),
        Run("story --minify, level 12", "story", story, ["--minify", "--compress-level", "12"], story_common),
    ]


# ---- helpers -------------------------------------------------------------------------------------------------------


def mb(n: float | None) -> str:
    return "" if n is None else f"{n / MB:.2f} MB"


def slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name).strip("-")


def bare_python(directory: Path) -> Path:
    """An interpreter without any third-party package: a fresh ``venv --without-pip``."""
    if not (directory / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(directory)], check=True)
    return directory / "bin" / "python"


def pip_target(target: Path, things: list[str]) -> None:
    """``pip install --no-deps --target`` (bytecode compiled, pip's default)."""
    shutil.rmtree(target, ignore_errors=True)
    cmd = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--disable-pip-version-check"]
    subprocess.run([*cmd, "--target", str(target), *things], check=True, capture_output=True)


def torch_deps(directory: Path) -> Path:
    """torch's check requirements with their dependencies, installed once with pip into ``directory``."""
    if not (directory / ".complete").exists():
        print(f"installing the torch check's requirements into {directory}", flush=True)
        shutil.rmtree(directory, ignore_errors=True)
        cmd = [sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--target"]
        subprocess.run([*cmd, str(directory), *TORCH_REQUIREMENTS], check=True, capture_output=True)
        (directory / ".complete").write_text("\n".join(TORCH_REQUIREMENTS) + "\n")
    return directory


def run_check(python: Path, paths: list[Path], script: Path) -> dict[str, Any]:
    """``script`` run as ``__main__`` by an isolated interpreter that sees only ``paths`` besides the stdlib."""
    code = (
        f"import runpy, sys; sys.path[:0] = {[str(p) for p in paths]!r}; "
        f"runpy.run_path({str(script)!r}, run_name='__main__')"
    )
    proc = subprocess.run([str(python), "-I", "-B", "-c", code], capture_output=True, text=True, cwd=paths[0].parent)
    out: dict[str, Any] = {"returncode": proc.returncode, "stdout": proc.stdout.strip()}
    if proc.returncode != 0:
        out["stderr_tail"] = proc.stderr[-2000:]
    return out


def kind(path: Path) -> str:
    name = path.name
    if ".so" in path.suffixes or name.endswith(".so"):
        return "native (.so)"
    if name.endswith(".pyc"):
        return "bytecode (.pyc)"
    if name.endswith((".py", ".pyi")):
        return "Python source (.py, .pyi)"
    return "other"


def tree(root: Path, top: int = 8) -> dict[str, Any]:
    """Files and bytes under ``root`` (regular files), by kind, and the largest files."""
    files = [p for p in root.rglob("*") if p.is_file() and not p.is_symlink()]
    by_kind: dict[str, dict[str, int]] = {}
    for p in files:
        entry = by_kind.setdefault(kind(p), {"files": 0, "bytes": 0})
        entry["files"] += 1
        entry["bytes"] += p.stat().st_size
    largest = sorted(files, key=lambda p: -p.stat().st_size)[:top]
    return {
        "files": len(files),
        "bytes": sum(p.stat().st_size for p in files),
        "by_kind": dict(sorted(by_kind.items(), key=lambda kv: -kv[1]["bytes"])),
        "largest": [{"path": str(p.relative_to(root)), "bytes": p.stat().st_size} for p in largest],
    }


def wheel_by_kind(paths: list[Path]) -> dict[str, dict[str, int]]:
    """Compressed bytes and files of the wheels' entries, by kind (:func:`kind`)."""
    out: dict[str, dict[str, int]] = {}
    for path in paths:
        with zipfile.ZipFile(path) as zf:
            for i in zf.infolist():
                if not i.is_dir():
                    entry = out.setdefault(kind(Path(i.filename)), {"files": 0, "compressed": 0})
                    entry["files"] += 1
                    entry["compressed"] += i.compress_size
    return out


def wheel_largest(path: Path, top: int = 6) -> list[dict[str, Any]]:
    with zipfile.ZipFile(path) as zf:
        rows = [(i.filename, i.compress_size, i.file_size) for i in zf.infolist() if not i.is_dir()]
    rows.sort(key=lambda r: -r[1])
    return [{"path": p, "compressed": c, "size": s} for p, c, s in rows[:top]]


# ---- one run -------------------------------------------------------------------------------------------------------


def shrink(run: Run, scratch: Path, cache: Path, env: dict[str, str], cwd: Path) -> dict[str, Any]:
    work = scratch / slug(run.name)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    out, report_path, site = work / "out", work / "report.json", work / "site"
    cmd = [sys.executable, "-m", "slimwheel", "shrink", *map(str, run.wheels), "-w", str(out)]
    cmd += [*run.common, *run.flags, "--json", str(report_path), "--target", str(site), "--cache-dir", str(cache)]
    cmd.append("-q")
    print(f"{run.name}: {shlex.join(cmd[3:])}", flush=True)
    load = [round(x, 2) for x in os.getloadavg()]
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd)
    wall = time.perf_counter() - started
    result: dict[str, Any] = {
        "name": run.name,
        "group": run.group,
        "flags": run.flags,
        "command": "slimwheel " + shlex.join(cmd[3:]).replace(f"{REPO}/", ""),
        "returncode": proc.returncode,
        "wall_seconds": round(wall, 1),
        "loadavg_before": load,
    }
    if proc.returncode != 0 or not report_path.exists():
        result["stderr_tail"] = (proc.stderr + proc.stdout)[-3000:]
        print(f"  FAILED ({proc.returncode}) after {wall:.0f} s", flush=True)
        return result
    report = json.loads(report_path.read_text())
    wheels: list[dict[str, Any]] = []
    for w in report["wheels"]:
        output = Path(w["output"])
        wheels.append(
            {
                "input": Path(w["input"]).name,
                "output": output.name,
                "before": {k: w["before"][k] for k in ("compressed", "installed", "files")},
                "after": {k: w["after"][k] for k in ("compressed", "installed", "files")},
                "largest": wheel_largest(output),
            }
        )
    check = report["wheels"][0]["check"] or {}  # shared by the wheels reduced together
    result.update(
        {
            "wheels": wheels,
            "compressed": sum(w["after"]["compressed"] for w in wheels),
            "installed": sum(w["after"]["installed"] for w in wheels),
            "files": sum(w["after"]["files"] for w in wheels),
            "pip_installed": (report.get("set") or {}).get("pip_installed"),
            "compressed_by_kind": wheel_by_kind([Path(w["output"]) for w in report["wheels"]]),
            "check": {
                "runs": check.get("runs"),
                "phases": check.get("phases"),
                "seconds": check.get("seconds"),
                "rewritten": check.get("rewritten", {}),
                "rewrite_saved": check.get("rewrite_saved", 0),
                "restored": check.get("restored", []),
                "stubs": len(check.get("stubs", [])),
                "notes": check.get("notes", []),
            },
            "site": tree(site) if site.is_dir() else None,
        }
    )
    c = result["check"]
    print(
        f"  {mb(result['compressed'])}, installed {mb(result['installed'])} ({result['files']} files), pip "
        f"{mb(result['pip_installed'])}; {c['runs']} runs {c['phases']}; rewritten {c['rewritten']}, restored "
        f"{len(c['restored'])}; {wall:.0f} s",
        flush=True,
    )
    result["_site"] = str(site)
    return result


def prove(result: dict[str, Any], python: Path, extra_paths: list[Path], script: Path, reference: str | None) -> None:
    """Run the check on what pip installed; ``reference``: the stdout it must print (None: only pass)."""
    if "_site" not in result:
        return
    proof = run_check(python, [Path(result["_site"]), *extra_paths], script)
    proof["passed"] = proof["returncode"] == 0
    proof["same_output"] = None if reference is None else proof["passed"] and proof["stdout"] == reference
    result["installed_check"] = proof
    same = "" if reference is None else (", same output" if proof["same_output"] else ", OUTPUT DIFFERS")
    print(f"  check on the pip-installed output: {'passed' if proof['passed'] else 'FAILED'}{same}", flush=True)


# ---- the report ----------------------------------------------------------------------------------------------------


def target_rows(data: dict[str, Any]) -> list[str]:
    by_name = {r["name"]: r for r in data["runs"]}
    lines = []
    for name, measure, limit, before in TARGETS:
        r = by_name.get(name)
        if r is None or r.get(measure) is None:
            lines.append(f"- {name}: {measure} ≤ {mb(limit)} — not measured")
            continue
        value = r[measure]
        met = value <= limit
        base = by_name.get(name.replace(" --minify", "").replace(" --bytecode-only", ""), {}).get(measure)
        now = f" (same command without the flag, this run: {mb(base)})" if base is not None else ""
        how = "as pip installs it" if measure == "pip_installed" else "wheel(s), compressed"
        verdict = "met" if met else f"not met, by {mb(value - limit)}"
        lines.append(
            f"- {name}: {how} ≤ {mb(limit)} (before: {before}) — **{mb(value)}, {verdict}**{now}; "
            f"check on the pip-installed output: {check_word(r)}"
        )
    return lines


def check_word(r: dict[str, Any]) -> str:
    proof = r.get("installed_check")
    if proof is None:
        return "not run"
    word = "passed" if proof["passed"] else "**failed**"
    if proof.get("same_output") is not None:
        word += ", same output" if proof["same_output"] else ", **output differs**"
    return word


def markdown(data: dict[str, Any]) -> str:
    m = data["machine"]
    lines = [
        "# Python rewrites: `--minify` and `--bytecode-only` against a check",
        "",
        f"{m['date']}, commit {m['commit']}, {m['cores']} cores ({m['cpu']}), {m['platform']}, Python {m['python']}; "
        f"load average at start {m['loadavg_start']}, at end {m.get('loadavg_end')}. **Single runs**, one after "
        "the other (sizes, file and run counts are deterministic; wall times follow the shared machine's load). "
        "MB = 10⁶ bytes. Generated by `benchmarks/bench_rewrites.py` (everything in `rewrites.json`):",
        "",
        f"    {m['command']}",
        "",
        f"slimwheel measured: a copy of `slimwheel/` {SOURCES[data['source']['from']]} (commit "
        f"{data['source']['commit'][:7]}, sources sha256 {data['source']['measured_sha256']}; files under "
        f"`slimwheel/` uncommitted at the start: {len(data['source']['uncommitted'])}). "
        f"Cache directory (check environments reused): `{data['cache_dir']}`.",
        "",
        "## Targets (issue 11)",
        "",
        *target_rows(data),
        "",
        "## Runs",
        "",
        "| run | wheel(s) | installed (files) | pip-installed | check runs per phase | rewritten | restored | "
        "rewrite saved | wall s | check on output |",
        "|---|---:|---:|---:|---|---|---:|---:|---:|---|",
    ]
    for r in data["runs"]:
        if "wheels" not in r:
            lines.append(f"| {r['name']} | failed ({r['returncode']}) | | | | | | | {r['wall_seconds']} | |")
            continue
        c = r["check"]
        phases = ", ".join(f"{k} {v}" for k, v in c["phases"].items())
        rewritten = ", ".join(f"{v} {k}" for k, v in c["rewritten"].items()) or "–"
        lines.append(
            f"| {r['name']} | {mb(r['compressed'])} | {mb(r['installed'])} ({r['files']}) | {mb(r['pip_installed'])} "
            f"| {c['runs']}: {phases} | {rewritten} | {len(c['restored'])} | {mb(c['rewrite_saved'])} | "
            f"{r['wall_seconds']} | {check_word(r)} |"
        )
    lines += [
        "",
        "wheel(s): the output wheels' bytes (both wheels together for the story); installed: the sum of their files' "
        "sizes (slimwheel's report); pip-installed: every file `pip install --no-deps --target` put there, the "
        "bytecode pip compiles included (the report's `set.pip_installed`); rewrite saved: installed bytes the "
        "kept rewrites saved; wall: the whole command, `--target`'s pip install included. The check on the output "
        "ran outside slimwheel on the pip-installed directory (`python -I`); for the story its stdout is compared "
        "with the check's stdout on the original wheels installed the same way "
        f"(`{data.get('story_original_stdout', '')}`).",
    ]
    for r in data["runs"]:
        c = r.get("check")
        if c and c["restored"]:
            lines += ["", f"Restored in `{r['name']}` (the rewrite failed the check): " + ", ".join(c["restored"])]
    lines += ["", "## What the wheels are made of (compressed bytes, files)", ""]
    lines += ["| run | " + " | ".join(KINDS) + " |", "|---|" + "---:|" * len(KINDS)]
    for r in data["runs"]:
        if "compressed_by_kind" in r:
            cells = [r["compressed_by_kind"].get(k, {"compressed": 0, "files": 0}) for k in KINDS]
            cell = [f"{c['compressed'] / MB:.3f} MB ({c['files']})" for c in cells]
            lines.append(f"| {r['name']} | " + " | ".join(cell) + " |")
    lines += ["", "## What the installed trees are made of (as pip installed them: bytes, files)", ""]
    lines += ["| run | " + " | ".join(KINDS) + " |", "|---|" + "---:|" * len(KINDS)]
    for r in data["runs"]:
        site = r.get("site")
        if site:
            cells = [site["by_kind"].get(k, {"bytes": 0, "files": 0}) for k in KINDS]
            lines.append(f"| {r['name']} | " + " | ".join(f"{mb(c['bytes'])} ({c['files']})" for c in cells) + " |")
    lines += ["", "Largest entries of the `--minify` wheels (compressed):", ""]
    for r in data["runs"]:
        if "--minify" in r["flags"] and "wheels" in r:
            top = [f for w in r["wheels"] for f in w["largest"][:4]]
            lines.append(f"- {r['name']}: " + ", ".join(f"`{f['path']}` {mb(f['compressed'])}" for f in top))
    lines += ["", "## Commands", ""]
    lines += [f"- {r['name']}: `{r['command']}`" for r in data["runs"]]
    lines += [f"- note: {n}" for n in data.get("notes", [])]
    return "\n".join(lines) + "\n"


SOURCES = {"head": "as last committed (`git archive HEAD`)", "worktree": "as the work tree had it at the start"}
KINDS = ["native (.so)", "Python source (.py, .pyi)", "bytecode (.pyc)", "other"]


# ---- main ----------------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=["torch", "story"], help="run one group only")
    parser.add_argument("--numpy-wheel", type=Path, default=NUMPY_NOBLAS, help="the numpy 1.26.4 no-BLAS wheel")
    parser.add_argument("--cache-dir", type=Path, default=Path.home() / ".cache" / "slimwheel")
    parser.add_argument("--deps-dir", type=Path, default=Path(tempfile.gettempdir()) / "slimwheel-bench-rewrites-deps")
    parser.add_argument("--scratch", type=Path, help="scratch directory, kept (default: a temporary one, deleted)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--source",
        choices=["head", "worktree"],
        default="head",
        help="measure slimwheel as last committed (default) or the work tree's files as they are now",
    )
    parser.add_argument("--render", action="store_true", help="only rewrite rewrites.md from rewrites.json")
    args = parser.parse_args(argv)
    if args.render:
        (args.out / "rewrites.md").write_text(markdown(json.loads((args.out / "rewrites.json").read_text())))
        return 0

    scratch = args.scratch or Path(tempfile.mkdtemp(prefix="slimwheel-bench-rewrites-"))
    scratch.mkdir(parents=True, exist_ok=True)
    data: dict[str, Any] = {"machine": machine_info(), "source": slimwheel_source_info(), "notes": []}
    data["cache_dir"] = str(args.cache_dir)
    try:
        env = snapshot_slimwheel(scratch, args.source)  # the code measured can't change while the runs go on
        data["source"]["from"] = args.source
        data["source"]["measured_sha256"] = slimwheel_source_info(scratch / "snapshot" / "slimwheel")["sources_sha256"]
        python = bare_python(scratch / "bare")
        tflite = wheelcache.fetch(TFLITE_RUNTIME_LINUX)
        todo = [r for r in runs(args.numpy_wheel.resolve(), tflite) if args.only in (None, r.group)]
        deps = [torch_deps(args.deps_dir)] if any(r.group == "torch" for r in todo) else []
        story_reference = None
        if any(r.group == "story" for r in todo):
            original = scratch / "story-original-site"
            pip_target(original, [str(args.numpy_wheel.resolve()), str(tflite)])
            proof = run_check(python, [original], STORY_CHECK)
            if proof["returncode"] != 0:
                raise SystemExit(f"the story's check fails on the original wheels:\n{proof.get('stderr_tail')}")
            story_reference = data["story_original_stdout"] = proof["stdout"]
            # Untimed, as in bench_story.py: makes sure the check environment exists before the timed runs.
            warm = [sys.executable, "-m", "slimwheel", "shrink", *map(str, todo[-1].wheels), "--dry-run", "-q"]
            warm += [*todo[-1].common, "--cache-dir", str(args.cache_dir)]
            subprocess.run(warm, capture_output=True, env=env, cwd=scratch)
        data["runs"] = []
        for run in todo:
            result = shrink(run, scratch, args.cache_dir, env, scratch)
            if run.group == "torch":
                prove(result, python, deps, TORCH_CHECK, None)
            else:
                prove(result, python, [], STORY_CHECK, story_reference)
            result.pop("_site", None)
            with contextlib.suppress(OSError):
                shutil.rmtree(scratch / slug(run.name) / "site")  # torch's is ~400 MB; the numbers are taken
            data["runs"].append(result)
        torch_outputs = {
            r["installed_check"]["stdout"]
            for r in data["runs"]
            if r["group"] == "torch" and "installed_check" in r and r["installed_check"]["passed"]
        }
        if len(torch_outputs) > 1:
            data["notes"].append(f"torch's check printed different outputs across the runs: {sorted(torch_outputs)}")
        data["machine"]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    finally:
        if args.scratch:
            print(f"scratch kept in {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)

    args.out.mkdir(parents=True, exist_ok=True)
    text = json.dumps(data, indent=1).replace(str(scratch), "$SCRATCH").replace(str(Path.home()), "~")
    (args.out / "rewrites.json").write_text(text + "\n")
    (args.out / "rewrites.md").write_text(markdown(json.loads(text)))
    print((args.out / "rewrites.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
