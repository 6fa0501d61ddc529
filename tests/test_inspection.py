"""slimwheel.inspection: categories, largest files, native binaries, size tree, JSON and terminal views."""

from __future__ import annotations

import fnmatch
import io
import json
import random
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console

from slimwheel.categories import Category, categorize_entries
from slimwheel.contents import read_wheel
from slimwheel.inspection import (
    SCHEMA_VERSION,
    Inspection,
    TreeNode,
    inspect_wheel,
    renderables,
    to_json,
)
from slimwheel.units import human_size

sys.path.insert(0, str(Path(__file__).parent))

from synth import SynthWheel, compile_shared_lib, demo_wheel
from wheelcache import NUMPY_LINUX, NUMPY_WIN64, ONNXRUNTIME_WIN64, DownloadFailed, RealWheel, fetch

_rng = random.Random(1234)


def _blob(n: int) -> bytes:
    """Incompressible bytes, so compressed sizes stay close to (but not equal to) installed sizes."""
    return _rng.randbytes(n)


DATA = "pkg-1.0.data"
PAYLOAD: dict[str, bytes] = {
    "pkg/__init__.py": b"# init\n" * 500,  # 3500
    "pkg/core.py": b"x = 1\n" * 1000,  # 6000
    "pkg/model.bin": _blob(50_000),
    "pkg/tests/__init__.py": b"",
    "pkg/tests/test_core.py": b"assert 1\n" * 300,  # 2700
    "pkg/sub/deep/deeper/leaf.py": b"y = 2\n" * 50,  # 300
    "pkg/small/a.txt": _blob(100),
    "pkg/small/b.txt": _blob(110),
    "pkg/small/c.txt": _blob(120),
    "pkg/small/big.txt": _blob(20_000),
    "pkg/include/pkg.h": b"int f(void);\n" * 10,  # 130
    "pkg/docs/guide.md": b"# guide\n" * 20,  # 160
    f"{DATA}/scripts/pkg-tool": b"#!python\nprint(1)\n",  # 18
    f"{DATA}/headers/pkg_api.h": b"int g(void);\n",  # 13
}


def _synth() -> SynthWheel:
    return SynthWheel(name="pkg", version="1.0", files=dict(PAYLOAD))


@pytest.fixture(scope="module")
def synth_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _synth().build(tmp_path_factory.mktemp("synth"))


@pytest.fixture(scope="module")
def synth(synth_path: Path) -> Inspection:
    return inspect_wheel(read_wheel(synth_path), top=5)


def _zip_sizes(path: Path) -> dict[str, tuple[int, int]]:
    """archive path → (compressed, installed) straight from the zip's central directory."""
    with zipfile.ZipFile(path) as zf:
        return {i.filename: (i.compress_size, i.file_size) for i in zf.infolist() if not i.is_dir()}


def _walk(node: TreeNode) -> Iterator[TreeNode]:
    yield node
    for child in node.children:
        yield from _walk(child)


def _render(insp: Inspection, *, depth: int = 3, min_share: float = 0.01) -> str:
    console = Console(file=io.StringIO(), record=True, width=120, color_system=None)
    for item in renderables(insp, depth=depth, min_share=min_share):
        console.print(item)
    return console.export_text()


# ----------------------------------------------------------------------------------------------------------
# Synthetic wheel: data
# ----------------------------------------------------------------------------------------------------------


def test_header_fields(synth: Inspection, synth_path: Path) -> None:
    sizes = _zip_sizes(synth_path)
    assert synth.filename == "pkg-1.0-py3-none-any.whl"
    assert (synth.name, synth.version, synth.tags) == ("pkg", "1.0", ["py3-none-any"])
    assert synth.files == len(PAYLOAD) + 3 == len(sizes)  # + METADATA, WHEEL, RECORD
    assert synth.archive_size == synth_path.stat().st_size
    assert synth.installed_size == sum(i for _, i in sizes.values())


def test_categories_counted_and_summed_exactly(synth: Inspection, synth_path: Path) -> None:
    sizes = _zip_sizes(synth_path)
    by_cat = {s.category: s for s in synth.categories}
    expected_installed = {
        Category.DATA: 50_000 + 100 + 110 + 120 + 20_000,
        Category.PYTHON: 3500 + 6000 + 300,
        Category.TESTS: 0 + 2700,
        Category.HEADERS: 130 + 13,
        Category.DOCS: 160,
        Category.SCRIPTS: 18,
    }
    expected_files = {
        Category.DATA: 5,
        Category.PYTHON: 3,
        Category.TESTS: 2,
        Category.HEADERS: 2,
        Category.DOCS: 1,
        Category.SCRIPTS: 1,
        Category.METADATA: 3,
    }
    meta = [p for p in sizes if p.startswith("pkg-1.0.dist-info/")]
    expected_installed[Category.METADATA] = sum(sizes[p][1] for p in meta)
    assert {c: s.files for c, s in by_cat.items()} == expected_files
    assert {c: s.installed for c, s in by_cat.items()} == expected_installed
    # Empty categories are omitted.
    assert Category.NATIVE not in by_cat and Category.STUBS not in by_cat
    # Compressed bytes are the members' compressed sizes in the archive.
    cats = categorize_entries(read_wheel(synth_path))
    for cat, stats in by_cat.items():
        assert stats.compressed == sum(sizes[p][0] for p, c in cats.items() if c is cat)
    assert sum(s.compressed for s in synth.categories) == sum(c for c, _ in sizes.values())
    assert sum(s.installed for s in synth.categories) == synth.installed_size
    # Sorted by installed bytes, largest first.
    installed = [s.installed for s in synth.categories]
    assert installed == sorted(installed, reverse=True)
    assert synth.categories[0].category is Category.DATA


def test_categorize_entries_covers_every_entry(synth_path: Path) -> None:
    wheel = read_wheel(synth_path)
    cats = categorize_entries(wheel)
    assert set(cats) == {e.path for e in wheel.entries}
    assert cats["pkg/tests/test_core.py"] is Category.TESTS
    assert cats["pkg/core.py"] is Category.PYTHON
    assert cats[f"{DATA}/scripts/pkg-tool"] is Category.SCRIPTS
    assert cats[f"{DATA}/headers/pkg_api.h"] is Category.HEADERS
    assert cats["pkg-1.0.dist-info/RECORD"] is Category.METADATA


def test_largest_ordering(synth: Inspection, synth_path: Path) -> None:
    sizes = _zip_sizes(synth_path)
    assert [f.path for f in synth.largest] == [
        "pkg/model.bin",
        "pkg/small/big.txt",
        "pkg/core.py",
        "pkg/__init__.py",
        "pkg/tests/test_core.py",
    ]
    assert [f.installed for f in synth.largest] == [50_000, 20_000, 6000, 3500, 2700]
    assert [f.compressed for f in synth.largest] == [sizes[f.path][0] for f in synth.largest]
    assert synth.largest[4].category is Category.TESTS


def test_top_limits_largest(synth_path: Path) -> None:
    wheel = read_wheel(synth_path)
    assert len(inspect_wheel(wheel, top=2).largest) == 2
    assert inspect_wheel(wheel, top=0).largest == ()
    everything = inspect_wheel(wheel, top=1000).largest
    assert len(everything) == len(wheel.entries)
    assert [f.installed for f in everything] == sorted((f.installed for f in everything), reverse=True)


def test_no_native_files_in_pure_wheel(synth: Inspection) -> None:
    assert synth.native == ()


def test_tree_layout(synth: Inspection) -> None:
    root = synth.tree
    assert root.name == synth.filename
    assert {c.name for c in root.children} == {"pkg", "pkg-1.0.dist-info", "<scripts>", "<headers>"}
    top = {c.name: c for c in root.children}
    assert [c.name for c in top["<scripts>"].children] == ["pkg-tool"]
    assert [c.name for c in top["<headers>"].children] == ["pkg_api.h"]
    pkg = {c.name: c for c in top["pkg"].children}
    assert pkg["small"].files == 4 and pkg["small"].installed == 20_330
    deep = pkg["sub"].children[0].children[0]
    assert (deep.name, deep.files, deep.installed) == ("deeper", 1, 300)
    assert deep.children[0] == TreeNode("leaf.py", 300, deep.compressed, 1, ())


def test_tree_sums_equal_totals_at_every_level(synth: Inspection, synth_path: Path) -> None:
    sizes = _zip_sizes(synth_path)
    root = synth.tree
    assert root.installed == synth.installed_size
    assert root.compressed == sum(c for c, _ in sizes.values())
    assert root.files == synth.files
    for node in _walk(root):
        if node.children:
            assert node.installed == sum(c.installed for c in node.children)
            assert node.compressed == sum(c.compressed for c in node.children)
            assert node.files == sum(c.files for c in node.children)
            keys = [(-c.installed, c.name) for c in node.children]
            assert keys == sorted(keys)
        else:
            assert node.files == 1
    assert sum(1 for n in _walk(root) if not n.children) == synth.files


def test_native_files_from_compiled_code(tmp_path: Path) -> None:
    wheel = demo_wheel(tmp_path / "cc")
    helper = compile_shared_lib(tmp_path / "cc", "libhelper.so", debug=True)
    wheel.files["demo.libs/libhelper.so"] = helper.read_bytes()
    insp = inspect_wheel(read_wheel(wheel.build(tmp_path / "dist")))
    by_path = {n.path: n for n in insp.native}
    ext = next(p for p in by_path if p.startswith("demo/_speedups"))
    assert set(by_path) == {ext, "demo.libs/libhelper.so"}  # the ar archive holding an ELF is not native
    own, vendored = by_path[ext], by_path["demo.libs/libhelper.so"]
    assert (own.format, own.has_debug, own.has_symbols, own.signed, own.vendored) == (
        "elf",
        True,
        True,
        False,
        False,
    )
    assert (vendored.format, vendored.has_debug, vendored.vendored) == ("elf", True, True)
    assert own.machine == vendored.machine != ""
    assert vendored.installed == len(helper.read_bytes())
    by_cat = {s.category: s for s in insp.categories}
    assert by_cat[Category.VENDORED].files == 1
    assert by_cat[Category.NATIVE].files == 1
    assert by_cat[Category.STATIC_LIBS].files == 1
    assert by_cat[Category.STUBS].files == 2  # core.pyi, py.typed
    assert {c.name for c in insp.tree.children} == {
        "demo",
        "demo_extra",
        "demo.libs",
        "demo-1.0.dist-info",
        "<scripts>",
        "<headers>",
        "<data>",
    }
    text = _render(insp)
    assert "vendored" in text and "own" in text and "ELF" in text


# ----------------------------------------------------------------------------------------------------------
# JSON
# ----------------------------------------------------------------------------------------------------------


def _tree_from_json(d: dict[str, object]) -> TreeNode:
    children = d["children"]
    assert isinstance(children, list)
    name, installed, compressed, files = d["name"], d["installed"], d["compressed"], d["files"]
    assert isinstance(name, str) and isinstance(installed, int)
    assert isinstance(compressed, int) and isinstance(files, int)
    return TreeNode(name, installed, compressed, files, tuple(_tree_from_json(c) for c in children))


def test_json_round_trip(synth: Inspection, tmp_path: Path) -> None:
    doc = to_json([synth, synth])
    loaded = json.loads(json.dumps(doc))
    assert loaded == doc
    assert loaded["schema_version"] == SCHEMA_VERSION == 1
    assert len(loaded["wheels"]) == 2
    w = loaded["wheels"][0]
    assert w["filename"] == "pkg-1.0-py3-none-any.whl"
    assert (w["name"], w["version"], w["tags"]) == ("pkg", "1.0", ["py3-none-any"])
    assert (w["archive_size"], w["installed_size"], w["files"]) == (
        synth.archive_size,
        synth.installed_size,
        synth.files,
    )
    assert w["categories"] == [
        {"category": s.category.value, "files": s.files, "compressed": s.compressed, "installed": s.installed}
        for s in synth.categories
    ]
    assert w["categories"][0]["category"] == "data"
    assert [f["path"] for f in w["largest"]] == [f.path for f in synth.largest]
    assert w["largest"][0] == {
        "path": "pkg/model.bin",
        "category": "data",
        "compressed": synth.largest[0].compressed,
        "installed": 50_000,
    }
    assert w["native"] == []
    assert _tree_from_json(w["tree"]) == synth.tree
    assert to_json([]) == {"schema_version": 1, "wheels": []}


def test_json_native_fields(tmp_path: Path) -> None:
    insp = inspect_wheel(read_wheel(demo_wheel(tmp_path / "cc").build(tmp_path / "dist")))
    native = json.loads(json.dumps(to_json([insp])))["wheels"][0]["native"]
    assert len(native) == 1
    assert set(native[0]) == {
        "path",
        "format",
        "machine",
        "has_symbols",
        "has_debug",
        "signed",
        "toolchain",
        "installed",
        "vendored",
    }
    assert native[0]["format"] == "elf" and native[0]["vendored"] is False


# ----------------------------------------------------------------------------------------------------------
# Terminal views
# ----------------------------------------------------------------------------------------------------------


def test_renderables_show_header_tables_and_tree(synth: Inspection) -> None:
    text = _render(synth)
    assert "pkg-1.0-py3-none-any.whl" in text
    assert "py3-none-any" in text
    assert f"{human_size(synth.archive_size)} compressed → {human_size(synth.installed_size)} installed" in text
    assert f"{synth.files} files" in text
    for cat in synth.categories:
        assert cat.category.value in text
    assert "pkg/model.bin" in text
    assert "█" in text and "░" in text
    assert "No native binaries" in text
    share = 50_000 / synth.installed_size * 100
    assert f"{share:.1f}%" in text


def _tree_lines(insp: Inspection, *, depth: int, min_share: float) -> list[str]:
    text = _render(insp, depth=depth, min_share=min_share)
    return text[text.index("Installed tree") :].splitlines()[1:]


def test_tree_depth_limit(synth: Inspection) -> None:
    one = "\n".join(_tree_lines(synth, depth=1, min_share=0.0))
    assert "pkg/" in one and "<scripts>/" in one and "pkg-1.0.dist-info/" in one
    assert "model.bin" not in one and "small/" not in one
    two = "\n".join(_tree_lines(synth, depth=2, min_share=0.0))
    assert "model.bin" in two and "small/" in two and "pkg-tool" in two
    assert "big.txt" not in two and "deep/" not in two
    five = "\n".join(_tree_lines(synth, depth=5, min_share=0.0))
    assert "leaf.py" in five and "big.txt" in five
    assert len(_tree_lines(synth, depth=0, min_share=0.0)) == 1  # only the root


def test_tree_folds_small_children(synth: Inspection) -> None:
    total = synth.installed_size
    # a.txt, b.txt and c.txt are each well under 1% of the total; big.txt is not.
    assert max(110, 120, 100) / total < 0.01 < 20_000 / total
    lines = _tree_lines(synth, depth=3, min_share=0.01)
    text = "\n".join(lines)
    assert "big.txt" in text
    assert "a.txt" not in text and "b.txt" not in text and "c.txt" not in text
    folded = [line for line in lines if "smaller items" in line]
    assert any("… 3 smaller items" in line and human_size(330) in line for line in folded)
    # Nothing folded when min_share is zero.
    unfolded = "\n".join(_tree_lines(synth, depth=3, min_share=0.0))
    assert "smaller items" not in unfolded and "a.txt" in unfolded
    # Everything below the root folds when min_share is above every child.
    all_folded = _tree_lines(synth, depth=3, min_share=0.99)
    assert len(all_folded) == 2 and "… 4 smaller items" in all_folded[1]


def test_tree_single_small_child_not_folded(tmp_path: Path) -> None:
    files = {"pkg/__init__.py": b"", "pkg/big.bin": _blob(100_000), "pkg/tiny.txt": b"x"}
    insp = inspect_wheel(read_wheel(SynthWheel(name="pkg", version="1.0", files=files).build(tmp_path)))
    text = "\n".join(_tree_lines(insp, depth=3, min_share=0.01))
    assert "big.bin" in text
    assert "… 2 smaller items" in text  # __init__.py and tiny.txt fold together
    files.pop("pkg/__init__.py")
    insp = inspect_wheel(read_wheel(SynthWheel(name="pkg", version="1.0", files=files).build(tmp_path / "b")))
    text = "\n".join(_tree_lines(insp, depth=3, min_share=0.01))
    assert "tiny.txt" in text and "… 1 smaller items" not in text


def test_paths_are_not_read_as_markup(tmp_path: Path) -> None:
    files = {"pkg/[red]odd.txt": _blob(5000), "pkg/__init__.py": b""}
    insp = inspect_wheel(read_wheel(SynthWheel(name="pkg", version="1.0", files=files).build(tmp_path)))
    text = _render(insp, depth=3, min_share=0.0)
    assert text.count("[red]odd.txt") == 2  # the largest-files table and the tree


def test_tree_bars_are_proportional(synth: Inspection) -> None:
    lines = _tree_lines(synth, depth=1, min_share=0.0)
    assert lines[0].startswith("██████████")  # the root is 100%
    pkg = next(line for line in lines if line.rstrip().endswith(" pkg/"))
    share = synth.tree.children[0].installed / synth.installed_size
    assert pkg.count("█") == round(share * 10)
    assert pkg.count("█") + pkg.count("░") == 10


def test_renderables_do_not_print(synth: Inspection, capsys: pytest.CaptureFixture[str]) -> None:
    items = renderables(synth)
    assert len(items) == 5
    assert capsys.readouterr() == ("", "")


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (0, "0 B"),
        (999, "999 B"),
        (1000, "1 kB"),
        (512_000, "512 kB"),
        (16_900_000, "16.9 MB"),
        (2_500_000_000, "2.5 GB"),
    ],
)
def test_human_size(n: int, text: str) -> None:
    assert human_size(n) == text


# ----------------------------------------------------------------------------------------------------------
# Real wheels
# ----------------------------------------------------------------------------------------------------------


def _real(spec: RealWheel) -> Path:
    try:
        return fetch(spec)
    except DownloadFailed as exc:  # no network and no cached copy
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def numpy_linux() -> tuple[Path, Inspection]:
    path = _real(NUMPY_LINUX)
    return path, inspect_wheel(read_wheel(path))


@pytest.mark.realwheel
def test_numpy_linux_categories(numpy_linux: tuple[Path, Inspection]) -> None:
    path, insp = numpy_linux
    sizes = _zip_sizes(path)
    by_cat = {s.category: s for s in insp.categories}
    cats = categorize_entries(read_wheel(path))
    vendored = [p for p, c in cats.items() if c is Category.VENDORED]
    assert fnmatch.filter(vendored, "numpy.libs/libscipy_openblas64_*.so")
    assert all(p.startswith("numpy.libs/") for p in vendored)
    assert by_cat[Category.VENDORED].files == len(vendored)
    assert by_cat[Category.TESTS].files > 100 and by_cat[Category.TESTS].installed > 1_000_000
    assert sum(s.installed for s in insp.categories) == insp.installed_size == sum(i for _, i in sizes.values())
    assert sum(s.compressed for s in insp.categories) == sum(c for c, _ in sizes.values())
    assert sum(s.files for s in insp.categories) == insp.files == len(sizes)
    assert insp.tree.installed == insp.installed_size
    assert insp.largest[0].path.startswith("numpy.libs/libscipy_openblas64_")


@pytest.mark.realwheel
def test_numpy_linux_natives(numpy_linux: tuple[Path, Inspection]) -> None:
    _, insp = numpy_linux
    assert insp.native
    assert all(n.format == "elf" and n.machine == "x86_64" for n in insp.native)
    assert any(n.has_symbols and not n.vendored for n in insp.native)
    openblas = next(n for n in insp.native if n.path.startswith("numpy.libs/libscipy_openblas64_"))
    assert openblas.vendored
    assert any(n.path.startswith("numpy/_core/_multiarray_umath") and not n.vendored for n in insp.native)
    shared_objects = [f.path for f in insp.largest if ".so" in f.path]
    assert shared_objects and all(p in {n.path for n in insp.native} for p in shared_objects)


@pytest.mark.realwheel
def test_numpy_linux_rendering(numpy_linux: tuple[Path, Inspection]) -> None:
    _, insp = numpy_linux
    text = _render(insp)
    for name in ("vendored", "native", "tests", "python", "metadata"):
        assert name in text
    assert "█" in text
    assert insp.largest[0].path in text
    assert "numpy.libs/" in text and "smaller items" in text
    assert "ELF x86_64" in text
    assert f"{insp.files:,} files" in text


@pytest.mark.realwheel
def test_numpy_win64_vendored_dlls() -> None:
    insp = inspect_wheel(read_wheel(_real(NUMPY_WIN64)))
    assert insp.native and all(n.format == "pe" for n in insp.native)
    vendored = [n for n in insp.native if n.vendored]
    assert vendored and all(n.path.startswith("numpy.libs/") and n.path.endswith(".dll") for n in vendored)
    assert {s.category: s for s in insp.categories}[Category.VENDORED].files == len(vendored)


@pytest.mark.realwheel
def test_onnxruntime_win64_signed_pe() -> None:
    insp = inspect_wheel(read_wheel(_real(ONNXRUNTIME_WIN64)))
    assert any(n.format == "pe" and n.signed for n in insp.native)
    assert all(n.machine == "x86_64" for n in insp.native)
    assert sum(s.installed for s in insp.categories) == insp.installed_size
    text = _render(insp)
    assert "PE x86_64" in text and "yes" in text
    assert insp.largest[0].path in text
    assert "native" in text and "█" in text
