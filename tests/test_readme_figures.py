"""README's benchmark figures are the result files' figures: each one is recomputed from ``benchmarks/results/``
(written by the benchmark scripts, stamped with commit, date, machine and command) and must stand in README.md as
it is formatted there. A benchmark re-run that changes a figure fails this test until README says the new one."""

from __future__ import annotations

import json
import re
import statistics
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"
README = " ".join((REPO / "README.md").read_text(encoding="utf-8").split())  # lines folded: figures may wrap
MB = 1_000_000


def result(name: str) -> Any:
    return json.loads((RESULTS / name).read_text(encoding="utf-8"))


def mb(n: float) -> str:
    return f"{n / MB:.2f}"


def stands(text: str) -> None:
    assert text in README, f"README.md does not say {text!r} (benchmarks/results/ do)"


@pytest.mark.parametrize(
    "name", ["recipes.json", "memory.json", "trial-torch.json", "trial-numpy.json", "deployset.json"]
)
def test_result_files_say_where_they_come_from(name: str) -> None:
    machine = result(name)["machine"]
    assert machine["date"].startswith("20") and machine["cores"]
    if name != "trial-numpy.json":  # bench_trial.py's stamp predates the commit/command fields
        assert machine["commit"] and "bench_" in machine["command"], machine


def test_recipe_table_and_lock_mapping() -> None:
    by = {(r["recipe"], p["platform"]): p for r in result("recipes.json")["recipes"] for p in r["platforms"]}
    rows = {
        "numpy": ("linux_x86_64", "win_amd64", "win32"),
        "onnxruntime": ("linux_x86_64", "win_amd64"),
        "scipy": ("linux_x86_64", "win_amd64"),
        "numpy-noblas": ("linux_x86_64",),
        "tflite-runtime": ("linux_x86_64",),
    }
    for recipe, platforms in rows.items():
        cells = " / ".join(f"{mb(by[recipe, p]['before'])} → {mb(by[recipe, p]['after'])}" for p in platforms)
        stands(f"| {' / '.join(platforms)} | {cells} MB |")
        for p in platforms:
            assert by[recipe, p]["licences_in"] == by[recipe, p]["licences_out"]
    win64, win32 = by["numpy", "win_amd64"]["lock"], by["numpy", "win32"]["lock"]
    assert win64["mapped"] == win64["total"] == win32["mapped"] == win32["total"]
    stands(f"maps {win64['mapped']}/{win64['total']} removals onto win_amd64")
    stands(f"maps 100 % of its {win64['total']} removals")
    scipy = by["scipy", "win_amd64"]["lock"]
    stands(f"scipy 1.17.1 {scipy['coverage']:.1%}".replace("%", " %") + f" ({scipy['mapped']}/{scipy['total']})")


def test_trial_figures() -> None:
    numpy = result("trial-numpy.json")["configs"]["configs"]
    default = numpy["trace (default)"]
    stubs = statistics.median(phases["stubs"] for phases in default["phases"])
    stands(f"**{default['total_runs_median']}** ({stubs} of them stubs; target ≤ 16)")
    stands(f"| {default['wall_median']} s | {mb(default['output_bytes'])} MB wheel, {default['output_files']} files")
    minimal = numpy["--minimal"]
    stands(f"**{minimal['total_runs_median']}** (target ≤ 110) | **{minimal['wall_median']:.1f} s**")
    torch = result("trial-torch.json")["after"]
    stands(f"**{mb(torch['after']['compressed'])} MB**")
    stands(f"**{torch['after']['installed'] / MB:.1f} MB**")
    stands(f"**{torch['runs']} check runs**")
    stands(f"{torch['phases']['stubs']} of them stubs")
    stands(f"{torch['wall_seconds']:.0f} s for the whole command and {torch['trial_seconds']:.0f} s for the trial")


def test_memory_table() -> None:
    memory = result("memory.json")
    cpu, cuda = (memory["wheels"][w]["summary"] for w in ("torch-cpu", "torch-cuda"))
    stands(f"**{cpu['shrink']['own'] / MB:.0f} MB** (target ≤ 300")
    stands(f"**{cpu['shrink']['tree_peak'] / MB:,.0f} MB** (target ≤ 1.0 GB)")
    stands(f"The largest process is now GNU strip's first attempt ({cpu['shrink']['largest_process'] / MB:.0f} MB)")
    stands(f"**{cpu['wall_ratio']:.2f}×** (target ≤ 0.6×)")
    stands(f"**{cuda['shrink']['own'] / MB:.0f} MB** (target ≤ 300)")
    stands(f"**{cuda['shrink']['tree_peak'] / MB:,.0f} MB** (target ≤ 1.0 GB; 3.83 GB before)")
    stands(f"**{cuda['wall_ratio']:.2f}×** (target ≤ 0.6×)")
    stands(f"went from 0.82× (measured at load ~4) to {cuda['wall_ratio']:.2f}×")
    inspect = max(cpu["inspect"]["own"], cuda["inspect"]["own"])
    stands(f"**{inspect / MB:.0f} MB** (target ≤ 200")
    bomb = statistics.median(r["own"] for r in memory["bomb"]["runs"]["bomb-shrink"])
    stands(f"**{bomb / MB:.0f} MB** (target ≤ 200; accepted")


def test_rules_and_strip_table() -> None:
    numpy, torch = result("numpy.json"), result("torch.json")
    for data in (numpy, torch):
        before, after = data["variants"]["slimwheel"]["before"], data["variants"]["slimwheel"]["after"]
        stands(f"{mb(before['compressed'])} → ")
        stands(f"{mb(after['compressed'])} MB")
        stands(f"{before['files']} → {after['files']}")
    assert re.search(r"\*\*0\.\d\d×\*\*", README)


def test_story_figures() -> None:
    story = (RESULTS / "story.md").read_text(encoding="utf-8")
    level12 = re.search(r"numpy no-BLAS: `--check`, level 12 \| .*? \| \*\*([\d.]+) MB\*\* .*? \| (\d+) \(", story)
    default = re.search(r"numpy no-BLAS: `--check`, level 9 \(default\) \| .*? \| \*\*([\d.]+) MB\*\*", story)
    alone = re.search(r"no-BLAS\), MLP train \+ infer: `--check`, level 12 \| .*? \| \*\*([\d.]+) MB\*\*", story)
    stock = re.search(r"2\.4\.6 stock\), MLP train \+ infer: `--check`, level 12 \| .*? \| \*\*([\d.]+) MB\*\*", story)
    assert level12 and default and alone and stock, "results/story.md changed its layout"
    stands(f"**{level12[1]} MB** of wheels in total at `--compress-level 12`, {default[1]} MB at the default level")
    stands(f"{level12[2]} check runs")
    stands(f"**{alone[1]} MB** (target ≤ 3.2 MB)")
    stands(f"({stock[1]} MB: OpenBLAS")


def test_deploy_set() -> None:
    summary = result("deployset.json")["summary"]
    runs = set(summary["check_runs"])
    assert len(runs) == 1 and all(summary["goals"].values()), summary
    stands(f"{mb(summary['compressed_before'])} → **{mb(summary['compressed_after'])} MB**")
    stands(f"{runs.pop()} check runs, **{summary['wall_seconds']['median']} s**")
    stands(f"medians of {len(summary['wall_seconds']['all'])} sequential runs")


def test_python_rewrites() -> None:
    runs = {r["name"]: r for r in result("rewrites.json")["runs"]}
    compiled, plain = runs["torch --bytecode-only"]["pip_installed"], runs["torch"]["pip_installed"]
    stands(f"**{compiled / MB:.2f} MB** instead of {plain / MB:.2f} MB")
    stands(f"the wheel grows to {mb(runs['torch --bytecode-only']['compressed'])} MB")
    stands(f"with `--minify` the wheel is {mb(runs['torch --minify']['compressed'])} MB")
    stands(f"**{mb(runs['story --minify']['compressed'])} MB**")
    stands(f"{mb(runs['story --minify, level 12']['compressed'])} MB at `--compress-level 12`")


def test_aarch64_story_under_emulation() -> None:
    data = result("aarch64.json")
    assert data["machine"]["commit"] and "bench_aarch64" in data["machine"]["command"]
    stock, noblas = data["stock"], data["noblas"]
    stands(f"16.55 → **{mb(stock['compressed_after'])} MB** (target ≤ 14)")
    assert mb(stock["compressed_before"]) == "16.55" and stock["compressed_after"] <= 14 * MB
    stands(f"{mb(noblas['compressed_before'])} → **{mb(noblas['compressed_after'])} MB** (target ≤ 4.0)")
    assert noblas["compressed_after"] <= 4 * MB
    assert data["outputs_unchanged"] and stock["output_unchanged"] and noblas["output_unchanged"]
    stands(f"One emulated check cycle: **{data['cycle']['median']:.2f} s** (target ≤ 3)")
    assert data["cycle"]["median"] == statistics.median(data["cycle"]["all"]) and data["cycle"]["median"] <= 3
    lock = data["lock"]
    assert lock["mode"] == "lock-verified" and lock["verified"] is True
    stands(f"maps {lock['mapped']}/{lock['total']} removals onto the aarch64 wheel and passes the check")


def test_html_report_figures() -> None:
    data = result("html.json")
    assert data["machine"]["commit"] and "bench_html" in data["machine"]["command"]
    pages = {p["page"]: p for p in data["results"]}
    torch, numpy = pages["torch shrink"], pages["numpy shrink"]
    stands(
        f"({torch['files']:,} files) is {torch['bytes'] / MB:.2f} MB and is painted in "
        f"{torch['painted_ms']['median']:.0f} ms"
    )
    stands(f"numpy's in {numpy['painted_ms']['median']:.0f} ms")
    assert torch["bytes"] <= 2 * MB and torch["painted_ms"]["median"] <= 2000
