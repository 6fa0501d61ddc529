"""The ``--html`` page on big wheels: its size, and how long headless Chromium takes to draw it (issue: torch's
12k files must give a page of at most 2 MB that renders in at most 2 s).

For each wheel (torch 2.13.0 CPU from ``/opt/wheels`` or ``$SLIMWHEEL_BENCH_TORCH``; numpy and onnxruntime from the
tests' wheel cache):

* ``slimwheel shrink WHEEL -w OUT --html PAGE -q`` (default rules) and ``slimwheel inspect WHEEL --html PAGE``,
  once each (wall time recorded; the page is what is measured);
* the page's size in bytes, and its number of files;
* ``--runs`` loads of the page from disk in one headless Chromium with the network off (``tests/browser.py``), a
  fresh navigation each: *script done* is ``performance.now()`` when the page's script has drawn the treemap and
  the table (time since the navigation started: reading, parsing, laying out, building the SVG); *painted* is the
  same clock at the first animation frame after that (the browser has laid out and painted it); *wall* is
  Selenium's ``get`` until the page says it painted. Medians, with min and max; no console error is allowed.

``--screenshot FILE`` also saves numpy's before/after page as a PNG (the README's and docs' figure). Results go to
``results/html.json`` and ``results/html.md`` with the commit, date, machine and command.

    .venv/bin/python benchmarks/bench_html.py --runs 5 --screenshot docs/images/numpy-report.png
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import wheelcache
from browser import console_errors, open_browser
from machine import machine_info

REPO = Path(__file__).resolve().parent.parent
TORCH = Path(
    os.environ.get("SLIMWHEEL_BENCH_TORCH", "/opt/wheels/torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl")
)
MAX_BYTES = 2 * 10**6
MAX_RENDER_MS = 2000.0


def slimwheel(*args: str) -> float:
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "slimwheel", *args], capture_output=True, text=True, cwd=REPO)
    if proc.returncode != 0:
        raise SystemExit(f"slimwheel {' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return time.perf_counter() - started


def load(driver: Any, page: Path) -> dict[str, float]:
    """One fresh load of ``page``: script done, painted (ms since navigation start), wall (s)."""
    driver.get("about:blank")
    driver.get_log("browser")
    started = time.perf_counter()
    driver.get(page.resolve().as_uri())
    deadline = time.monotonic() + 60
    while driver.execute_script("return document.body && document.body.getAttribute('data-painted')") != "1":
        if time.monotonic() > deadline:
            raise SystemExit(f"{page}: never painted; console: {console_errors(driver)}")
        time.sleep(0.01)
    wall = time.perf_counter() - started
    errors = console_errors(driver)
    if errors:
        raise SystemExit(f"{page}: console errors: {errors}")
    done, painted = driver.execute_script(
        "return [window.slimwheelTreemap.renderedMs, window.slimwheelTreemap.paintedMs]"
    )
    return {"script_ms": float(done), "painted_ms": float(painted), "wall_s": wall}


def summary(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def measure(driver: Any, name: str, page: Path, files: int, command_s: float, runs: int) -> dict[str, Any]:
    loads = [load(driver, page) for _ in range(runs)]
    result = {
        "page": name,
        "bytes": page.stat().st_size,
        "files": files,
        "command_s": round(command_s, 2),
        "script_ms": summary([x["script_ms"] for x in loads]),
        "painted_ms": summary([x["painted_ms"] for x in loads]),
        "wall_s": summary([x["wall_s"] for x in loads]),
        "runs": loads,
    }
    result["within_targets"] = result["bytes"] <= MAX_BYTES and result["painted_ms"]["median"] <= MAX_RENDER_MS
    print(
        f"{name}: {result['bytes']:,} bytes, {files} files, painted in {result['painted_ms']['median']:.0f} ms "
        f"(script {result['script_ms']['median']:.0f} ms, wall {result['wall_s']['median']:.2f} s)",
        flush=True,
    )
    return result


def files_in(page: Path) -> int:
    text = page.read_text(encoding="utf-8")
    start = text.index('id="treemap-data">') + len('id="treemap-data">')
    data = json.loads(text[start : text.index("</script>", start)])
    return len(data["items"])


def markdown(info: dict[str, Any], results: list[dict[str, Any]]) -> str:
    lines = [
        "# The --html page: size and render time",
        "",
        f"{info['date']}, commit {info['commit']}, {info['cpu']} ({info['cores']} cores), Python {info['python']}, "
        f"load at start {info['loadavg_start']}, {info['chromium']}. Command: `{info['command']}`",
        "",
        "Headless Chromium (Debian's, driven by Selenium, network off), fresh navigation per run; medians "
        "(min–max). *painted*: ms from navigation start to the first frame after the page's script drew the "
        "treemap and table; *script*: ms until the script was done. Targets: ≤ 2 MB, painted ≤ 2 s.",
        "",
        "| page | files | size | painted ms | script ms | wall s | slimwheel s | within targets |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        p, s, w = r["painted_ms"], r["script_ms"], r["wall_s"]
        lines.append(
            f"| {r['page']} | {r['files']:,} | {r['bytes'] / 1e6:.2f} MB | {p['median']:.0f} ({p['min']:.0f}–"
            f"{p['max']:.0f}) | {s['median']:.0f} ({s['min']:.0f}–{s['max']:.0f}) | {w['median']:.2f} "
            f"({w['min']:.2f}–{w['max']:.2f}) | {r['command_s']:.1f} | {'yes' if r['within_targets'] else 'NO'} |"
        )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-torch", action="store_true", help="skip torch (a shrink of it takes about a minute)")
    parser.add_argument("--screenshot", type=Path, help="save numpy's before/after page as this PNG")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "html.json")
    args = parser.parse_args()
    info = machine_info()
    info["chromium"] = subprocess.run(["chromium", "--version"], capture_output=True, text=True).stdout.strip()
    wheels = [("numpy", wheelcache.fetch(wheelcache.NUMPY_LINUX))]
    wheels.append(("onnxruntime", wheelcache.fetch(wheelcache.ONNXRUNTIME_LINUX)))
    if not args.no_torch:
        if not TORCH.exists():
            raise SystemExit(f"{TORCH}: no torch wheel (set SLIMWHEEL_BENCH_TORCH, or --no-torch)")
        wheels.append(("torch", TORCH))
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="slimwheel-bench-html-") as tmp, open_browser(1400, 1000) as driver:
        work = Path(tmp)
        for name, wheel in wheels:
            shrink_page, inspect_page = work / f"{name}-shrink.html", work / f"{name}-inspect.html"
            shrink_s = slimwheel("shrink", str(wheel), "-w", str(work / "out"), "--html", str(shrink_page), "-q")
            inspect_s = slimwheel("inspect", str(wheel), "--html", str(inspect_page))
            for kind, page, seconds in (("shrink", shrink_page, shrink_s), ("inspect", inspect_page, inspect_s)):
                results.append(measure(driver, f"{name} {kind}", page, files_in(page), seconds, args.runs))
            if name == "numpy" and args.screenshot is not None:
                load(driver, shrink_page)
                args.screenshot.parent.mkdir(parents=True, exist_ok=True)
                driver.save_screenshot(str(args.screenshot))
                print(f"screenshot: {args.screenshot}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"machine": info, "results": results}, indent=2) + "\n")
    args.out.with_suffix(".md").write_text(markdown(info, results))
    print(f"results: {args.out} and {args.out.with_suffix('.md')}")
    return 0 if all(r["within_targets"] for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
