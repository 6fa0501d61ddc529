"""Plans: rules, --prune/--keep, safety (module-level imports, package __init__), entry points, dist-info."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from synth import SynthWheel, demo_wheel

from slimwheel.categories import categorize_entries
from slimwheel.contents import read_wheel
from slimwheel.errors import UsageError
from slimwheel.options import RulesOnly, ShrinkOptions
from slimwheel.plan import EMPTIED_ENTRY_POINTS, Plan, make_plan
from slimwheel.rules import DEFAULT_RULES, RULES, Patterns, select_rules
from slimwheel.shrink import run


def plan_for(path: Path, rules: str | None = None, prune: tuple[str, ...] = (), keep: tuple[str, ...] = ()) -> Plan:
    wheel = read_wheel(path)
    return make_plan(wheel, categorize_entries(wheel), select_rules(rules), Patterns(prune, keep))


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("demo")
    return demo_wheel(tmp, with_extension=False).build(tmp / "dist")


def test_default_rules_on_demo(demo: Path) -> None:
    plan = plan_for(demo)
    assert plan.remove == {
        "demo/tests/__init__.py": "SW001 tests",
        "demo/tests/test_core.py": "SW001 tests",
        "demo/core.pyi": "SW002 stubs",
        "demo/py.typed": "SW002 stubs",
        "demo/include/demo.h": "SW003 headers",
        "demo-1.0.data/headers/demo_api.h": "SW003 headers",
        "demo/lib/libdemo.a": "SW004 static-libs",
        "demo/src/speedups.c": "SW005 sources",
        "demo/docs/guide.md": "SW006 docs",
        "demo/examples/example.py": "SW006 docs",
    }
    assert plan.kept == {}
    # the console script whose module lives in demo/tests goes, the other stays
    assert plan.dropped_entry_points == ["console_scripts: demo-tests = demo.tests.test_core:main"]
    text = plan.replaced["demo-1.0.dist-info/entry_points.txt"].decode()
    assert "demo-cli = demo.cli:main" in text and "demo-tests" not in text


def test_no_rules_removes_nothing(demo: Path) -> None:
    plan = plan_for(demo, rules="none")
    assert plan.remove == {} and plan.replaced == {} and plan.dropped_entry_points == []


def test_keep_wins_over_rules_and_prune(demo: Path) -> None:
    plan = plan_for(demo, prune=("*.csv", "demo/docs/"), keep=("demo/docs/", "/demo/data/table.csv"))
    assert "demo/docs/guide.md" not in plan.remove
    assert plan.kept["demo/docs/guide.md"].startswith("--keep demo/docs/ (would be removed by --prune demo/docs/")
    assert "demo/data/table.csv" in plan.kept


def test_prune_matches_archive_and_installed_paths(demo: Path) -> None:
    plan = plan_for(demo, rules="none", prune=("demo_extra/", "share/demo/*.txt"))
    assert plan.remove == {
        "demo-1.0.data/purelib/demo_extra/__init__.py": "--prune demo_extra/",
        "demo-1.0.data/data/share/demo/readme.txt": "--prune share/demo/*.txt",
    }


def test_dist_info_is_never_removed(demo: Path) -> None:
    plan = plan_for(demo, prune=("*",))
    # only an entry_points.txt whose every entry point went is removed (not written empty)
    assert {p: r for p, r in plan.remove.items() if ".dist-info/" in p} == {
        "demo-1.0.dist-info/entry_points.txt": EMPTIED_ENTRY_POINTS
    }


def test_package_init_kept_while_package_keeps_files(tmp_path: Path) -> None:
    plan = plan_for(wheel_with(tmp_path, ""), rules="none", prune=("pkg/tests/__init__.py",))
    assert plan.remove == {}
    assert plan.kept["pkg/tests/__init__.py"].startswith("__init__.py of a package that keeps other files")


def test_package_init_imported_by_a_kept_module_is_kept(demo: Path) -> None:
    plan = plan_for(demo, rules="none", prune=("demo/__init__.py",))
    assert plan.remove == {}
    assert plan.kept["demo/__init__.py"].startswith("imported at module level by demo/cli.py")


def wheel_with(tmp: Path, init: str) -> Path:
    files = {
        "pkg/__init__.py": init.encode(),
        "pkg/tests/__init__.py": b"",
        "pkg/tests/helper.py": b"VALUE = 1\n",
        "pkg/tests/test_x.py": b"def test(): pass\n",
        "pkg/docs/notes.py": b"NOTE = 1\n",
    }
    return SynthWheel(name="pkg", version="2.0", files=files).build(tmp)


def test_module_level_import_of_a_test_module_keeps_it(tmp_path: Path) -> None:
    init = "import sys\ntry:\n    from .tests.helper import VALUE\nexcept ImportError:\n    VALUE = 0\n"
    plan = plan_for(wheel_with(tmp_path, init))
    assert "pkg/tests/helper.py" in plan.kept and "pkg/tests/__init__.py" in plan.kept
    assert plan.kept["pkg/tests/helper.py"].startswith("imported at module level by pkg/__init__.py")
    assert plan.remove == {"pkg/tests/test_x.py": "SW001 tests", "pkg/docs/notes.py": "SW006 docs"}


def test_absolute_and_class_body_imports_count_function_bodies_do_not(tmp_path: Path) -> None:
    init = "class A:\n    import pkg.docs.notes\n\ndef later():\n    from pkg.tests import helper\n"
    plan = plan_for(wheel_with(tmp_path, init))
    assert "pkg/docs/notes.py" in plan.kept
    assert "pkg/tests/helper.py" in plan.remove  # imported only when later() runs


def test_select_rules() -> None:
    assert select_rules(None) == DEFAULT_RULES
    assert select_rules("all") == RULES
    assert select_rules("none") == ()
    chosen = {r.name for r in select_rules("default,-docs,bytecode")}
    assert "docs" not in chosen and "bytecode" in chosen and "tests" in chosen
    assert [r.code for r in select_rules("SW001, stubs")] == ["SW001", "SW002"]
    with pytest.raises(UsageError, match="unknown rule 'nope'"):
        select_rules("nope")


def test_entry_point_to_an_emptied_namespace_package_is_dropped(tmp_path: Path) -> None:
    # numpy's `pkg_config: numpy = numpy._core.lib.pkgconfig` names a directory holding only numpy.pc
    files = {"pkg/__init__.py": b"", "pkg/lib/pkgconfig/pkg.pc": b"Name: pkg\n", "pkg/lib/other/x.dat": b"x"}
    eps = {"pkg_config": {"pkg": "pkg.lib.pkgconfig"}, "other": {"keep": "pkg.lib.other"}}
    wheel = SynthWheel(name="pkg", version="2.0", files=files, entry_points=eps).build(tmp_path)
    plan = plan_for(wheel)
    assert plan.remove == {"pkg/lib/pkgconfig/pkg.pc": "SW008 build-config"}
    assert plan.dropped_entry_points == ["pkg_config: pkg = pkg.lib.pkgconfig"]
    assert b"keep = pkg.lib.other" in plan.replaced["pkg-2.0.dist-info/entry_points.txt"]


def test_native_test_programs_are_tests_but_tools_and_libraries_are_not() -> None:
    from slimwheel.categories import Category, categorize

    elf = b"\x7fELF"
    assert categorize("platlib", "torch/bin/test_api", elf) is Category.TESTS
    assert categorize("platlib", "torch/bin/TCPStoreTest", elf) is Category.TESTS
    assert categorize("platlib", "pkg/bin/run_test.exe", b"MZ\x90\x00") is Category.TESTS
    assert categorize("platlib", "torch/bin/torch_shm_manager", elf) is Category.NATIVE
    assert categorize("platlib", "torch/lib/libtest_utils.so", elf) is Category.NATIVE
    assert categorize("platlib", "pkg/test_helpers.py", b"impo") is Category.PYTHON  # a module, not a program
    assert categorize("platlib", "torch/bin/test_interpreter_async.pt", b"PK\x03\x04") is Category.DATA


@pytest.mark.parametrize(
    "source, expected",
    [
        (b"from .tests import x\n", True),
        (b"from . import tests\n", True),
        (b"from a import (\n    b,\n    tests,\n)\n", True),
        (b"from a import b, \\\n    tests\n", True),
        (b"import a, \\\n    b.tests\n", True),
        (b"def f():\n    from .examples import y\n", True),  # the filter is loose; ast decides what runs at import
        (b"x = 'tests'\nimport os\n", False),
        (b"import contests\n", False),
    ],
)
def test_import_prefilter(source: bytes, expected: bool) -> None:
    import re

    from slimwheel.plan import _imports_mention

    assert _imports_mention(source, re.compile(rb"\b(?:tests|examples)\b")) is expected


def test_an_entry_points_txt_left_empty_is_dropped_not_written_empty(tmp_path: Path) -> None:
    files = {"pkg/__init__.py": b"", "pkg/tests/__init__.py": b"", "pkg/tests/run.py": b"def main():\n    pass\n"}
    eps = {"console_scripts": {"pkg-tests": "pkg.tests.run:main"}, "pytest11": {"pkg": "pkg.tests"}}
    wheel = SynthWheel(name="pkg", version="2.0", files=files, entry_points=eps).build(tmp_path / "dist")
    path = "pkg-2.0.dist-info/entry_points.txt"
    plan = plan_for(wheel)
    assert plan.remove[path] == EMPTIED_ENTRY_POINTS and path not in plan.replaced
    assert sorted(plan.dropped_entry_points) == [
        "console_scripts: pkg-tests = pkg.tests.run:main",
        "pytest11: pkg = pkg.tests",
    ]
    (report,) = run([wheel], tmp_path, ShrinkOptions(), RulesOnly())
    with zipfile.ZipFile(report.output or "") as zf:
        assert path not in zf.namelist()
        record = zf.read("pkg-2.0.dist-info/RECORD").decode()
    assert "entry_points.txt" not in record and "pkg/__init__.py," in record
    assert {r.path: r.reason for r in report.removed}[path] == EMPTIED_ENTRY_POINTS
    # with one entry point left, the file is rewritten as before
    kept = plan_for(wheel, rules="none", prune=("pkg/tests/run.py",))
    assert path not in kept.remove and kept.replaced[path] == b"[pytest11]\npkg = pkg.tests\n\n"
