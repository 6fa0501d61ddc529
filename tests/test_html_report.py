"""``--html``: the per-file listing it draws, the page's data, and the page itself in a real headless Chromium.

The browser tests open the page from disk with the network off (:mod:`browser`) and check what a user does:
the page loads without console errors, the treemap has a tile for each top-level directory, a click zooms, the
search box filters the table, a header sorts it; each saves a screenshot under pytest's temporary directory
(its path is printed). Without Chromium they skip, except in CI (``CI`` set), where they fail.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import wheelcache
from browser import browser_or_skip, console_errors
from synth import SynthWheel, demo_wheel

from slimwheel.htmlreport import inspect_page, shrink_html
from slimwheel.report import Fate, WheelReport, removal_fate
from slimwheel.treemap import Column, Item, Key, Page, Tile, page_data, render


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "slimwheel", *args], capture_output=True, text=True, cwd=cwd, timeout=300
    )


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("demo")
    return demo_wheel(tmp, with_extension=True).build(tmp / "dist")


@pytest.fixture(scope="module")
def demo_report(demo: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """The demo wheel shrunk by the command line with ``--html`` and ``--json``: the page and the JSON report."""
    out = tmp_path_factory.mktemp("html")
    proc = run("shrink", str(demo), "-w", str(out / "wh"), "--json", str(out / "r.json"), "--html", str(out / "r.html"))
    assert proc.returncode == 0, proc.stderr
    return out / "r.html", json.loads((out / "r.json").read_text())


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with browser_or_skip() as driver:
        yield driver


def _embedded(page: Path) -> dict[str, Any]:
    text = page.read_text(encoding="utf-8")
    match = re.search(r'<script type="application/json" id="treemap-data">(.*?)</script>', text, re.S)
    assert match is not None
    data: dict[str, Any] = json.loads(match.group(1))
    return data


# ----------------------------------------------------------------------------------------------------------
# The per-file listing and the page's data (no browser)
# ----------------------------------------------------------------------------------------------------------


def _check_listing(report: WheelReport) -> None:
    """Every file of the input once, every file of the output once, with sizes and fates that add up to the
    report's own figures."""
    before = [f for f in report.files if f.fate is not Fate.ADDED]
    after = [f for f in report.files if f.written]
    assert not any(f.written for f in report.files if f.fate.value.startswith(("removed", "stubbed")))
    assert len({f.path for f in report.files}) == len(report.files)
    assert len(before) == report.before.total.files
    assert sum(f.before for f in before) == report.before.total.installed
    assert sum(f.after for f in report.files) == report.after.total.installed
    assert sum(f.compressed_after for f in report.files) == report.after.total.compressed
    removed = {f.path: f for f in report.files if f.after == 0 and f.fate.value.startswith(("removed", "stubbed"))}
    assert set(removed) == {r.path for r in report.removed}
    assert all(removed[r.path].reason == r.reason for r in report.removed)
    stripped = {f.path: f for f in report.files if f.fate is Fate.STRIPPED}
    assert {s.path: (s.before, s.after) for s in report.stripped} == {
        p: (f.before, f.after) for p, f in stripped.items()
    }
    safety = {f.path for f in report.files if f.fate is Fate.KEPT_FOR_SAFETY}
    assert safety == {k.path for k in report.kept} - set(stripped)
    assert len(after) == report.after.total.files


def test_removal_reasons_map_to_fates() -> None:
    """The reasons the plan, the trial and a lock replay write, as fates (and rule codes)."""
    assert removal_fate("SW001 tests") == (Fate.REMOVED_BY_RULE, "SW001")
    assert removal_fate("SW006 docs (from the lock)") == (Fate.REMOVED_BY_RULE, "SW006")
    assert removal_fate("--prune **/*.txt") == (Fate.REMOVED_BY_PATTERN, "")
    assert removal_fate("not needed by the check (check.py)") == (Fate.REMOVED_BY_CHECK, "")
    assert removal_fate("not needed by the check (check.py) (from the lock)") == (Fate.REMOVED_BY_CHECK, "")
    stub = "stubbed: tiny.extra (replaced by a module that raises ImportError)"
    assert removal_fate(stub) == (Fate.STUBBED, "")
    assert removal_fate("every entry point in it was dropped") == (Fate.REMOVED, "")


def test_the_listing_of_the_demo_wheel_adds_up(demo: Path, tmp_path: Path) -> None:
    from slimwheel.options import RulesOnly, ShrinkOptions
    from slimwheel.shrink import run as shrink

    (report,) = shrink([demo], tmp_path, ShrinkOptions(), RulesOnly())
    _check_listing(report)
    fates = {f.path: f for f in report.files}
    assert fates["demo/tests/test_core.py"].fate is Fate.REMOVED_BY_RULE and fates["demo/tests/test_core.py"].rule
    assert fates["demo/__init__.py"].fate is Fate.KEPT
    assert fates["demo-1.0.dist-info/RECORD"].fate is Fate.METADATA
    assert any(f.fate is Fate.STRIPPED for f in report.files)  # the extension module
    scripts = [f for f in report.files if f.path.startswith("demo-1.0.data/scripts/")]
    assert scripts and all(f.location.startswith("<scripts>/") for f in scripts)


def test_the_listing_of_rewrites_adds_up(demo: Path) -> None:
    """--minify: Python files rewritten in place; --bytecode-only: sources replaced by bytecode files, added."""
    from slimwheel.options import RulesOnly, ShrinkOptions
    from slimwheel.shrink import run as shrink

    (minified,) = shrink([demo], None, ShrinkOptions(minify=True), RulesOnly())
    _check_listing(minified)
    core = next(f for f in minified.files if f.path == "demo/core.py")
    assert core.fate is Fate.REWRITTEN and core.written and 0 < core.after < core.before
    (compiled,) = shrink([demo], None, ShrinkOptions(bytecode_only=True), RulesOnly())
    _check_listing(compiled)
    fates = {f.path: f for f in compiled.files}
    assert fates["demo/core.py"].fate is Fate.REWRITTEN and not fates["demo/core.py"].written
    assert fates["demo/core.pyc"].fate is Fate.ADDED and fates["demo/core.pyc"].before == 0
    page = shrink_html([compiled])
    assert "bytecode written by --bytecode-only" in page and "replaced by its bytecode" in page


def test_check_fates_in_the_listing_and_on_the_page(tmp_path: Path) -> None:
    """A shrink with a check: what the check did not need is ``removed-by-check`` on the page, with its reason."""
    files = {"tiny/__init__.py": b"from . import core\n", "tiny/core.py": b"X = 1\n", "tiny/extra.py": b"Y = 2\n" * 50}
    wheel = SynthWheel(name="tiny", version="1.0", files=files).build(tmp_path / "dist")
    check = tmp_path / "check.py"
    check.write_text("import tiny\nassert tiny.core.X == 1\n")
    page = tmp_path / "tiny.html"
    proc = run(
        "shrink", str(wheel), "-w", str(tmp_path / "wh"), "--check", str(check), "--cache-dir",
        str(tmp_path / "cache"), "-j", "2", "--no-stubs", "--html", str(page), "-q",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    data = _embedded(page)
    keys = [label for label, _ in data["keys"]]
    (extra,) = [row for row in data["items"] if row[1] == "extra.py"]
    tiles_before, tiles_after = extra[3], extra[4]
    assert keys[tiles_before[1]] == "removed: not needed by the check" and tiles_after == []
    assert data["strings"][extra[2]].startswith("not needed by the check")
    assert "the check" in page.read_text()  # the check's facts: runs, phases, time


def test_page_data_is_compact_and_checked() -> None:
    keys = (Key("a", "A", "#f00"), Key("b", "B", "#00f"))
    items = [
        Item(("w", "pkg", "x.py"), ((Tile(10, "a"),), (Tile(5, "b"),)), "why", ("t", 3)),
        Item(("w", "pkg", "sub", "y.py"), ((Tile(7, "a"), Tile(2, "b")), ()), "why", ("t", 4)),
    ]
    page = Page("t", ("before", "after"), keys, items, columns=(Column("kind"), Column("n", "number")))
    data = page_data(page)
    assert data["dirs"] == [[-1, "all"], [0, "w"], [1, "pkg"], [2, "sub"]]  # each directory once
    assert data["strings"] == ["why", "t"]  # repeated strings once
    assert data["items"] == [[2, "x.py", 0, [10, 0], [5, 1], 1, 3], [3, "y.py", 0, [7, 0, 2, 1], [], 1, 4]]
    with pytest.raises(ValueError, match="unknown key"):
        page_data(Page("t", ("p",), keys, [Item(("w", "f"), ((Tile(1, "zzz"),),))]))
    with pytest.raises(ValueError, match="tile lists"):
        page_data(Page("t", ("p", "q"), keys, [Item(("w", "f"), ((Tile(1, "a"),),))]))
    html = render(page)
    assert "default-src 'none'" in html  # the page can't make a request
    links = re.findall(r"""\b(?:src|href|url)\s*[=(]\s*["']?([^"')\s>]*)""", html)
    assert links == ["data:,"]  # nothing to load: the one link is the empty icon, inline
    assert (
        "</script>"
        not in render(Page("t", ("p",), keys, [Item(("w", "</script>"), ((Tile(1, "a"),),))]))
        .split('<script type="application/json" id="treemap-data">')[1]
        .split("</script>")[0]
    )


def test_bad_html_targets_are_one_line_errors(demo: Path, tmp_path: Path) -> None:
    proc = run("shrink", str(demo), "--dry-run", "--html", "-")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "--html needs a file name" in proc.stderr
    proc = run("inspect", str(demo), "--html", str(tmp_path / "missing" / "x.html"))
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "can't write HTML report" in proc.stderr
    assert "Traceback" not in proc.stderr


# ----------------------------------------------------------------------------------------------------------
# In the browser
# ----------------------------------------------------------------------------------------------------------


def _open(driver: Any, page: Path) -> None:
    driver.get_log("browser")  # forget the previous page's messages
    driver.get(page.resolve().as_uri())
    deadline = time.monotonic() + 20
    while driver.execute_script("return document.body.getAttribute('data-ready')") != "1":
        assert time.monotonic() < deadline, f"{page}: the page never finished rendering: {console_errors(driver)}"
        time.sleep(0.05)
    assert console_errors(driver) == []


_TOP_TILES = """
const t = window.slimwheelTreemap;
const panel = document.querySelector('.panel[data-panel="' + arguments[0] + '"]');
return Array.from(panel.querySelectorAll('rect[data-depth="1"]')).map(r => t.nodes[+r.dataset.n].name);
"""


def _top_tiles(driver: Any, panel: int = 0) -> list[str]:
    names: list[str] = driver.execute_script(_TOP_TILES, panel)
    return names


def _screenshot(driver: Any, path: Path) -> None:
    driver.save_screenshot(str(path))
    assert path.stat().st_size > 10_000
    print(f"screenshot: {path}")


def _rows(driver: Any) -> list[str]:
    texts: list[str] = driver.execute_script(
        "return Array.from(document.querySelectorAll('#table tbody tr td.path')).map(td => td.textContent.trim())"
    )
    return texts


def test_demo_page_in_the_browser(browser: Any, demo_report: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    page, report = demo_report
    _open(browser, page)
    (wheel,) = report["wheels"]
    data = _embedded(page)
    names = _top_level(page)  # the top-level directories of the wheel
    assert {"demo", "demo-1.0.dist-info", "<scripts>", "<data>", "<headers>"} <= names
    assert set(_top_tiles(browser, 0)) >= names  # a tile for each top-level directory, before
    after = set(_top_tiles(browser, 1))
    assert "demo" in after and "demo-1.0.dist-info" in after
    crumbs = browser.find_element("id", "crumbs").text
    assert crumbs.endswith(PurePosixPath(wheel["input"]).name)
    total_rows = int(browser.find_element("id", "rowcount").text.split(" of ")[1].split()[0])
    assert total_rows == len(data["items"])

    # clicking a tile zooms into its top-level directory
    rect = browser.execute_script(
        "const t = window.slimwheelTreemap; return Array.from(document.querySelectorAll("
        "'.panel[data-panel=\"0\"] rect[data-depth=\"1\"]')).find(r => t.nodes[+r.dataset.n].name === 'demo');"
    )
    from selenium.webdriver.common.action_chains import ActionChains  # installed: the browser fixture ran

    ActionChains(browser).move_to_element(rect).click().perform()  # lands on a file inside: zooms into demo/
    assert browser.execute_script("return window.slimwheelTreemap.zoom()").endswith("/demo")
    assert browser.find_element("id", "crumbs").text.endswith("/demo")
    inside = set(_top_tiles(browser, 0))
    assert {"tests", "docs", "core.py"} <= inside and "demo-1.0.dist-info" not in inside
    zoomed_rows = _rows(browser)
    assert zoomed_rows and all("/demo/" in row for row in zoomed_rows)

    # the search box filters the table (under the zoomed directory)
    search = browser.find_element("id", "search")
    search.send_keys("speedups")
    rows = _rows(browser)
    assert rows and len(rows) < len(zoomed_rows) and all("speedups" in row for row in rows)
    assert "matching" in browser.find_element("id", "rowcount").text
    search.clear()
    search.send_keys("removed by rule")  # the fate column is searched too
    assert _rows(browser) and all("/demo/" in r for r in _rows(browser))

    # a header sorts the table: the "before" column, largest first (the default), then smallest first
    search.clear()
    browser.execute_script("document.getElementById('search').dispatchEvent(new Event('input'))")
    sizes = (
        "return Array.from(document.querySelectorAll('#table tbody tr'))"
        ".map(tr => window.slimwheelTreemap.items[+tr.dataset.item].size[0])"
    )
    largest_first = browser.execute_script(sizes)
    assert largest_first == sorted(largest_first, reverse=True) and largest_first[0] > largest_first[-1]
    browser.find_element("css selector", '#table th[data-col="1"]').click()
    smallest_first = browser.execute_script(sizes)
    assert smallest_first == sorted(smallest_first) and smallest_first[0] < smallest_first[-1]

    # hovering a tile shows its path, sizes and reason
    browser.execute_script(
        "const r = document.querySelector('.panel[data-panel=\"0\"] rect.leaf');"
        "const b = r.getBoundingClientRect();"
        "r.dispatchEvent(new MouseEvent('mousemove', {bubbles: true, clientX: b.x + 1, clientY: b.y + 1}));"
    )
    tip = browser.find_element("id", "tip")
    assert tip.is_displayed() and "before:" in tip.text and "after:" in tip.text

    # the breadcrumb zooms out again
    browser.find_element("css selector", "#crumbs a:last-of-type").click()
    assert set(_top_tiles(browser, 0)) >= names
    assert console_errors(browser) == []
    _screenshot(browser, tmp_path / "demo-report.png")


def _layout_is_a_partition(driver: Any, panel: int) -> None:
    """The top tiles of a panel do not overlap and their areas follow their bytes (squarified layout)."""
    tiles = driver.execute_script(
        "const t = window.slimwheelTreemap, p = arguments[0];"
        "return Array.from(document.querySelectorAll('.panel[data-panel=\"' + p + '\"] rect[data-depth=\"1\"]'))"
        ".map(r => [+r.getAttribute('x'), +r.getAttribute('y'), +r.getAttribute('width'),"
        " +r.getAttribute('height'), t.nodes[+r.dataset.n].size[p]]);",
        panel,
    )
    assert tiles
    total_bytes = sum(t[4] for t in tiles)
    total_area = sum(t[2] * t[3] for t in tiles)
    for _, _, w, h, size in tiles:
        if size / total_bytes > 0.01:
            assert abs(w * h / total_area - size / total_bytes) < 0.01
    for i, (x, y, w, h, _) in enumerate(tiles):
        for x2, y2, w2, h2, _ in tiles[i + 1 :]:
            overlap = max(0, min(x + w, x2 + w2) - max(x, x2)) * max(0, min(y + h, y2 + h2) - max(y, y2))
            assert overlap < 0.5


@pytest.mark.realwheel
@pytest.mark.parametrize("spec", [wheelcache.NUMPY_LINUX, wheelcache.ONNXRUNTIME_LINUX], ids=lambda s: s.project)
def test_real_wheels_before_after_and_inspect_in_the_browser(
    browser: Any, shrunk: Any, spec: wheelcache.RealWheel, tmp_path: Path
) -> None:
    """A real wheel shrunk with the default rules: the page renders without errors, draws every top-level
    directory, and is a fair squarified layout; inspect's page too."""
    from slimwheel.contents import read_wheel
    from slimwheel.inspection import inspect_wheel
    from slimwheel.treemap import render as render_page

    done = shrunk(spec)
    _check_listing(done.report)
    page = tmp_path / f"{spec.project}.html"
    page.write_text(shrink_html([done.report]), encoding="utf-8")
    _open(browser, page)
    tops = _top_level(page)
    assert spec.project in tops and f"{spec.project}-{spec.version}.dist-info" in tops
    assert set(_top_tiles(browser, 0)) >= tops
    _layout_is_a_partition(browser, 0)
    _layout_is_a_partition(browser, 1)
    legend = browser.find_element("id", "legend").text
    rules = {f.reason.split(" (")[0] for f in done.report.files if f.fate is Fate.REMOVED_BY_RULE}
    assert rules and all(f"removed by {rule}" in legend for rule in rules)  # "removed by SW006 docs"
    if spec is wheelcache.NUMPY_LINUX:
        assert "stripped: bytes saved" in legend and "numpy.libs" in tops
    _screenshot(browser, tmp_path / f"{spec.project}-report.png")

    wheel = read_wheel(done.input)
    try:
        inspection = inspect_wheel(wheel)
    finally:
        wheel.close()
    page = tmp_path / f"{spec.project}-inspect.html"
    page.write_text(render_page(inspect_page([inspection])), encoding="utf-8")
    _open(browser, page)
    assert set(_top_tiles(browser, 0)) >= _top_level(page)
    _layout_is_a_partition(browser, 0)
    _screenshot(browser, tmp_path / f"{spec.project}-inspect.png")


def _top_level(page: Path) -> set[str]:
    """The top-level directories of the (one) wheel on ``page`` that hold any bytes before."""
    data = _embedded(page)
    holding: set[int] = set()
    parents = [row[0] for row in data["dirs"]]
    for row in data["items"]:
        if sum(row[3][0::2]) > 0:
            d = row[0]
            while d > 1:
                holding.add(d)
                d = parents[d]
    return {data["dirs"][d][1] for d in holding if parents[d] == 1}


def test_several_wheels_are_one_tile_each(browser: Any, demo: Path, tmp_path: Path) -> None:
    """Two wheels (one installed with --target, as a deploy set is): one page, one tile per distribution, and
    the size pip installed among the totals."""
    other = SynthWheel(name="other", version="2.0", files={"other/__init__.py": b"Z = 3\n" * 200}).build(
        tmp_path / "dist"
    )
    page = tmp_path / "set.html"
    proc = run(
        "shrink", str(demo), str(other), "-w", str(tmp_path / "wh"), "--target", str(tmp_path / "site"),
        "--html", str(page), "-q",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    _open(browser, page)
    assert set(_top_tiles(browser, 0)) == {demo.name, other.name}
    assert browser.find_element("id", "crumbs").text == "2 wheels"
    facts = browser.find_element("id", "facts").text
    assert "as pip installs it" in facts and "not measured" not in facts
    _screenshot(browser, tmp_path / "set-report.png")


def test_shrink_page_facts(demo_report: tuple[Path, dict[str, Any]]) -> None:
    """Totals, by category and budgets are on the page with the report's numbers."""
    page, report = demo_report
    text = page.read_text(encoding="utf-8")
    (wheel,) = report["wheels"]
    from slimwheel.units import human_size

    assert f"{human_size(wheel['before']['compressed'])} → {human_size(wheel['after']['compressed'])}" in text
    assert "installed, by category" in text and "<h3>sizes</h3>" in text
    for category, sizes in wheel["before"]["by_category"].items():
        after = wheel["after"]["by_category"].get(category, {"installed": 0})["installed"]
        assert f"<th>{category}</th><td>{human_size(sizes['installed'])} → {human_size(after)}" in text


def test_diff_page_in_the_browser(
    browser: Any, demo: Path, demo_report: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    """``slimwheel diff OLD NEW --html``: the demo wheel against its shrink output, OLD and NEW side by side,
    coloured by growth; every file removed by the shrink is a "removed" tile of OLD only, NEW is drawn smaller."""
    _, report = demo_report
    (wheel,) = report["wheels"]
    page = tmp_path / "diff.html"
    proc = run("diff", str(demo), wheel["output"], "--html", str(page))
    assert proc.returncode == 0, proc.stderr
    data = _embedded(page)
    assert data["panels"] == ["old", "new"]
    removed = [label for label, _ in data["keys"]].index("removed (only in OLD)")
    gone = [row for row in data["items"] if row[3][1::2] == [removed]]
    assert len(gone) == len(wheel["removed"]) and not any(row[4] for row in gone)  # in OLD only
    _open(browser, page)
    assert browser.find_element("id", "crumbs").text.endswith(f"{demo.name} → {Path(wheel['output']).name}")
    assert {"demo", "demo-1.0.dist-info"} <= set(_top_tiles(browser, 0))  # one wheel: opened zoomed into it
    areas = browser.execute_script(
        "return Array.from(document.querySelectorAll('.panel')).map(p => Array.from("
        "p.querySelectorAll('rect[data-depth=\"1\"]')).reduce((a, r) => a + (+r.getAttribute('width')) * "
        "(+r.getAttribute('height')), 0))"
    )
    assert len(areas) == 2 and 0 < areas[1] < areas[0]  # drawn to scale: NEW is smaller
    _screenshot(browser, tmp_path / "diff-report.png")
