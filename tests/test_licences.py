"""Licence and notice files are never removed: not by a rule, a ``--prune`` pattern, a lock, a check or a stub.

A synthetic ``lic`` wheel holds one licence file per name pattern (in places rules remove: ``docs/``, ``tests/``,
``.md``), a PEP 639 ``License-File:`` that no name pattern matches, ``*.dist-info/licenses/`` files, and modules
named like licences (``license.py``), which are code, not licence texts. Each layer is checked on its own (the
plan, the lock replay, the learned lock, the stubs, the final net before writing), and end to end; trial deletion
with a check that never opens a licence file runs in tests/test_trial.py.
"""

from __future__ import annotations

import zipfile
from dataclasses import replace
from pathlib import Path

import pytest
from synth import SynthWheel, compile_extension, compile_shared_lib

from slimwheel.categories import categorize_entries
from slimwheel.contents import read_wheel
from slimwheel.licences import (
    KEPT_REASON,
    LicenceFileLost,
    declared_licence_files,
    is_licence_path,
    licence_files,
    licence_paths,
)
from slimwheel.lock import Lock, StubRecord, read_lock, write_lock
from slimwheel.options import Replay, RulesOnly, ShrinkOptions
from slimwheel.plan import make_plan
from slimwheel.prepared import prepare
from slimwheel.replay import learned_lock
from slimwheel.rules import DEFAULT_RULES, Patterns
from slimwheel.shrink import finish, run
from slimwheel.stubs import is_extension_module, not_extension_modules, stub_candidate, stub_candidates

DIST_INFO = "lic-1.0.dist-info"
# Every licence or notice file of the lic wheel, with the rule that would remove it (None: no rule touches it).
LICENCES: dict[str, str | None] = {
    "lic/LICENSE": None,
    "lic/LICENCE.txt": None,
    "lic/sub/license.txt": None,
    "lic/COPYING": None,
    "lic/vendor/COPYING_QHULL.txt": None,
    "lic/integrate/LICENSE_DOP": None,
    "lic/NOTICE": None,
    "lic/AUTHORS.rst": "SW006 docs",
    "lic/ThirdPartyNotices.txt": None,
    "lic/docs/LLVM-NOTICE.txt": "SW006 docs",
    "lic/random/LICENSE.md": "SW006 docs",
    "lic/tests/LICENSE": "SW001 tests",
    "lic/third_party/LICENSES/zlib.txt": None,
    "lic/legal/terms-of-use.txt": None,  # only METADATA's License-File says so
    f"{DIST_INFO}/licenses/LICENSE": None,
    f"{DIST_INFO}/licenses/vendored/bsd.txt": None,
    f"{DIST_INFO}/EXTRA_TERMS": None,  # License-File: EXTRA_TERMS, resolved against the dist-info directory
}
NOT_LICENCES = {
    "lic/__init__.py": b"",
    "lic/license.py": b"LICENSE = 'MIT'\n",  # a module: code, not a licence text
    "lic/notices.py": b"def notices():\n    return []\n",
    "lic/random/__init__.py": b"",
    "lic/data/table.csv": b"a,b\n1,2\n",
    "lic/docs/guide.md": b"# guide\n",
    "lic/tests/test_x.py": b"def test():\n    pass\n",
}
METADATA = "License-Expression: MIT\nLicense-File: LICENSE\nLicense-File: lic/legal/terms-of-use.txt\n"
METADATA += "License-File: EXTRA_TERMS\nLicense-File: vendored/bsd.txt\n"


def lic_wheel(dist: Path, *, version: str = "1.0") -> Path:
    files = {path: f"licence text of {path}\n".encode() for path in LICENCES}
    files.update(NOT_LICENCES)
    return SynthWheel(name="lic", version=version, files=files, metadata_extra=METADATA).build(dist)


def names(path: Path | str) -> set[str]:
    with zipfile.ZipFile(path) as zf:
        return {n for n in zf.namelist() if not n.endswith("/")}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return lic_wheel(tmp_path_factory.mktemp("lic"))


# ---- the predicate -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "LICENSE",
        "pkg/LICENSE",
        "pkg/license.txt",
        "pkg/Licence.rst",
        "pkg/LICENSE.md",
        "pkg/LICENSE_DOP",
        "pkg/LICENSES_bundled.txt",
        "pkg/COPYING",
        "pkg/copying.lib",
        "pkg/spatial/qhull_src/COPYING_QHULL.txt",
        "pkg/NOTICE",
        "pkg/notice.txt",
        "pkg/AUTHORS",
        "pkg/authors.md",
        "pkg/ThirdPartyNotices.txt",
        "pkg/LLVM-NOTICE.TXT",
        "pkg/third_party/licenses/zlib.txt",
        "pkg/LICENSES/apache-2.0",
        "pkg/Licenses/x/y.html",
        "pkg-1.0.dist-info/licenses/LICENSE.txt",
        "pkg-1.0.dist-info/licenses/numpy/_core/src/multiarray/dragon4_LICENSE.txt",
    ],
)
def test_licence_names(path: str) -> None:
    assert is_licence_path(path)


@pytest.mark.parametrize(
    "path",
    [
        "pkg/license.py",
        "pkg/licenses.py",
        "pkg/licenses/__init__.py",  # packaging.licenses: a package of code
        "pkg/licenses/_spdx.py",
        "pkg/__pycache__/license.cpython-311.pyc",
        "pkg/license.pyi",
        "pkg/notice.cpython-311-x86_64-linux-gnu.so",
        "pkg/copying.pyd",
        "pkg/README.md",
        "pkg/unlicensed.txt",
        "pkg/my_license_helper.txt",
        "pkg/licenses/",  # a directory entry
        "pkg/data/notices_of_change.json.py",
    ],
)
def test_not_licence_names(path: str) -> None:
    assert not is_licence_path(path)


def test_license_file_fields_resolve_against_licenses_dir_dist_info_and_as_given() -> None:
    declared = declared_licence_files("Name: x\nLicense-File: a/B.txt\nLicense-File: ../escape\n", "x-1.dist-info")
    assert declared == {"x-1.dist-info/licenses/a/B.txt", "x-1.dist-info/a/B.txt", "a/B.txt"}
    paths = ["a/B.txt", "x-1.dist-info/licenses/a/B.txt", "a/C.txt", "a/code.py"]
    assert licence_files(paths, "x-1.dist-info", "License-File: a/B.txt\nLicense-File: a/code.py\n") == {
        "a/B.txt",
        "x-1.dist-info/licenses/a/B.txt",
        "a/code.py",  # declared by the package itself: a licence file whatever its suffix
    }


def test_licence_paths_of_the_wheel(wheel: Path) -> None:
    assert licence_paths(read_wheel(wheel)) == set(LICENCES)


# ---- the plan: rules and --prune -----------------------------------------------------------------------------


def test_plan_keeps_every_licence_file_with_its_reason(wheel: Path) -> None:
    w = read_wheel(wheel)
    plan = make_plan(w, categorize_entries(w), DEFAULT_RULES, Patterns())
    assert not set(LICENCES) & set(plan.remove)
    for path, rule in LICENCES.items():
        assert plan.kept[path] == (f"{KEPT_REASON} (would be removed by {rule})" if rule else KEPT_REASON), path
    # the rules still remove what is not a licence
    assert {"lic/docs/guide.md", "lic/tests/test_x.py"} <= set(plan.remove)
    assert plan.warnings == []


def test_shrink_with_rules_ships_every_licence_file(wheel: Path, tmp_path: Path) -> None:
    (report,) = run([wheel], tmp_path, ShrinkOptions(), RulesOnly())
    out = names(report.output or "")
    assert set(LICENCES) <= out
    assert {"lic/license.py", "lic/notices.py"} <= out  # kept anyway: no rule removes Python modules
    assert {"lic/docs/guide.md", "lic/tests/test_x.py"}.isdisjoint(out)
    kept = {k.path: k.reason for k in report.kept}
    assert set(LICENCES) <= set(kept) and kept["lic/random/LICENSE.md"].endswith("(would be removed by SW006 docs)")
    assert not {r.path for r in report.removed} & set(LICENCES)


def test_prune_on_a_licence_file_keeps_it_and_warns(wheel: Path, tmp_path: Path) -> None:
    options = ShrinkOptions(patterns=Patterns(prune=("lic/NOTICE", "*.txt", "lic/license.py")))
    (report,) = run([wheel], tmp_path, options, RulesOnly())
    out = names(report.output or "")
    assert set(LICENCES) <= out
    assert "lic/license.py" not in out  # a module named license is pruned like any module
    txt = sorted(p for p in LICENCES if p.endswith(".txt"))
    expected = ["--prune lic/NOTICE matches licence file lic/NOTICE: licence and notice files are never removed"]
    expected += [f"--prune *.txt matches licence file {p}: licence and notice files are never removed" for p in txt]
    assert sorted(w for w in report.warnings if w.startswith("--prune")) == sorted(expected)
    kept = {k.path: k.reason for k in report.kept}
    assert kept["lic/NOTICE"] == f"{KEPT_REASON} (would be removed by --prune lic/NOTICE)"


# ---- locks: an old lock that removes licence files; a learned lock never does --------------------------------


def test_replaying_an_old_lock_keeps_its_licence_files_and_says_so(wheel: Path, tmp_path: Path) -> None:
    lock_file = tmp_path / "lic.lock"
    run([wheel], None, ShrinkOptions(), RulesOnly((lock_file,)))
    lock = read_lock(lock_file)
    assert not set(lock.removed) & set(LICENCES) and set(LICENCES) <= set(lock.kept)
    # as every lock learned before licences were protected: it removes them, one through a stub
    gone = ["lic/LICENSE", "lic/random/LICENSE.md", "lic/ThirdPartyNotices.txt"]
    stub = StubRecord("lic.random", "lic/random/__init__.py", ("lic/random/__init__.py", "lic/random/LICENSE.md"))
    old = replace(
        lock,
        removed={**lock.removed, **dict.fromkeys(gone[::2], "not needed by the check (x.py)")},
        stubs=(stub,),
        kept=tuple(p for p in lock.kept if p not in gone and p != "lic/random/__init__.py"),
    )
    write_lock(lock_file, old)
    (tmp_path / "wh").mkdir()
    (report,) = run([wheel], tmp_path / "wh", ShrinkOptions(), Replay(((read_lock(lock_file), lock_file),)))
    out = names(report.output or "")
    assert set(LICENCES) <= out
    assert report.lock is not None
    (note,) = [n for n in report.lock.notes if "licence" in n]
    assert note.startswith("kept 3 licence/notice file(s) the lock removes: ") and "relearn the lock" in note
    assert all(path in note for path in gone)
    kept = {k.path: k.reason for k in report.kept}
    assert kept["lic/LICENSE"] == f"{KEPT_REASON} (the lock removes it: not needed by the check (x.py))"
    assert kept["lic/random/LICENSE.md"] == f"{KEPT_REASON} (the lock removes it: stubbed: lic.random)"
    with zipfile.ZipFile(report.output or "") as zf:  # the stub went in, the licence stayed beside it
        assert b"__slimwheel_stub__" in zf.read("lic/random/__init__.py")


def test_learned_lock_never_lists_a_licence_file_as_removed(wheel: Path) -> None:
    p = prepare(wheel, None, ShrinkOptions())
    # whatever a layer above did wrong, the lock it learns keeps licence files
    plan = p.plan.copy()
    plan.remove["lic/COPYING"] = "not needed by the check (x.py)"
    stub = StubRecord("lic.random", "lic/random/__init__.py", ("lic/random/LICENSE.md", "lic/random/__init__.py"))
    try:
        lock = learned_lock(replace(p, plan=plan, stubs=(stub,)), check="", created_by="test")
    finally:
        p.close()
    assert "lic/COPYING" not in lock.removed and "lic/COPYING" in lock.kept
    assert lock.stubs[0].replaces == ("lic/random/__init__.py",) and "lic/random/LICENSE.md" in lock.kept
    assert isinstance(lock, Lock)


# ---- the last safety net: nothing is written without every licence file ----------------------------------------


def test_finish_refuses_to_write_a_wheel_without_a_licence_file(wheel: Path, tmp_path: Path) -> None:
    p = prepare(wheel, tmp_path, ShrinkOptions())
    p = replace(p, entries=[e for e in p.entries if e.path != "lic/integrate/LICENSE_DOP"])
    with pytest.raises(LicenceFileLost, match="lic/integrate/LICENSE_DOP would be missing from the output"):
        finish(p, ShrinkOptions())
    assert not (tmp_path / wheel.name).exists()


# ---- stubs --------------------------------------------------------------------------------------------------


def test_a_stubbed_package_leaves_its_licence_files_beside_the_stub() -> None:
    items = {
        "pkg/__init__.py": 10,
        "pkg/heavy/__init__.py": 5000,
        "pkg/heavy/impl.py": 5000,
        "pkg/heavy/LICENSE": 1000,
        "pkg/heavy/terms.txt": 1000,
    }
    (candidate,) = stub_candidates(items, ["pkg.heavy"], [], never_replace={"pkg/heavy/terms.txt"})
    assert candidate.replaces == {"pkg/heavy/__init__.py", "pkg/heavy/impl.py"}
    assert candidate.weight == 10_000 - len(candidate.source)
    single = stub_candidate({"pkg/__init__.py": 1, "pkg/m.py": 5000, "pkg/LICENSE": 10}, "pkg.m")
    assert single is not None and single.replaces == {"pkg/m.py"}


def test_only_extension_modules_are_stubbable(tmp_path: Path) -> None:
    ext = compile_extension(tmp_path / "ext", "_fast").read_bytes()
    lib = compile_shared_lib(tmp_path / "lib", "libplain.so").read_bytes()
    items = {
        "pkg/__init__.py": b"",
        "pkg/_fast.cpython-311-x86_64-linux-gnu.so": ext,
        "pkg/libplain.so": lib,
        "pkg/_renamed.cpython-311-x86_64-linux-gnu.so": lib,  # named like a module, but no PyInit__renamed
        "pkg/_other.pyd": ext,  # exports PyInit__fast, not PyInit__other
    }
    assert is_extension_module("pkg/_fast.cpython-311-x86_64-linux-gnu.so", ext)
    assert not is_extension_module("pkg/libplain.so", lib)
    assert not is_extension_module("pkg/_fast.txt", ext)
    libraries = not_extension_modules(items)
    assert libraries == {"pkg/libplain.so", "pkg/_renamed.cpython-311-x86_64-linux-gnu.so", "pkg/_other.pyd"}
    weights = {k: len(v) for k, v in items.items()}
    startup = ["pkg._fast", "pkg.libplain", "pkg._renamed", "pkg._other"]
    assert {c.module for c in stub_candidates(weights, startup, [])} == set(startup)  # by name alone: all
    chosen = stub_candidates(weights, startup, [], not_modules=libraries)
    assert [(c.module, c.stub_key) for c in chosen] == [("pkg._fast", "pkg/_fast.py")]
    assert stub_candidate(weights, "pkg.libplain", not_modules=libraries) is None
