"""slimwheel.stubs: stub modules for parts of a package imported at start-up but unused by the check.

The stubs are exercised for real: a small package tree is written to disk, a stub applied to it, and a fresh
interpreter imports the result and reports what every probe did. The ``realwheel`` test does the same on numpy.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from slimwheel.imports import imported_from
from slimwheel.stubs import (
    StubCandidate,
    apply_stub,
    blocked_candidates,
    stub_candidate,
    stub_candidates,
    stub_source,
)

# -- helpers ---------------------------------------------------------------------------------------------------

PKG: dict[str, bytes] = {
    "pkg/__init__.py": b"from . import heavy, light\nfrom .util import helper\n",
    "pkg/heavy/__init__.py": b"from ._impl import compute\n",
    "pkg/heavy/_impl.py": b"def compute():\n    return 42\n" + b"# padding\n" * 5000,
    "pkg/light.py": b"def double(x):\n    return 2 * x\n",
    "pkg/util.py": b"def helper():\n    return 'help'\n",
    "pkg-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: pkg\nVersion: 1.0\n",
    "pkg-1.0.dist-info/RECORD": b"",
}


def write_tree(root: Path, items: Mapping[str, bytes]) -> Path:
    for key, content in items.items():
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return root


def weights(items: Mapping[str, bytes]) -> dict[str, int]:
    return {key: len(content) for key, content in items.items()}


def run_python(tree: Path, code: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in an isolated interpreter (no site-packages, writes no bytecode), ``tree`` first on the path."""
    script = f"import sys\nsys.path.insert(0, {str(tree)!r})\n" + textwrap.dedent(code)
    return subprocess.run([sys.executable, "-I", "-B", "-c", script], capture_output=True, text=True, timeout=120)


def startup_modules(tree: Path, package: str) -> list[str]:
    result = run_python(tree, f"import {package}\nprint(' '.join(sorted(sys.modules)))")
    assert result.returncode == 0, result.stderr
    return [m for m in result.stdout.split() if m.split(".")[0] == package]


# Every probe runs in the same interpreter; each reports the exception type and message (or "ok").
PROBES = r"""
import copy, inspect, json, pickle, pydoc, typing

def probe(code):
    try:
        exec(code, {})
    except BaseException as exc:
        return [type(exc).__name__, str(exc)]
    return ["ok", ""]

codes = {
    "import": "import pkg",
    "light": "import pkg; assert pkg.light.double(2) == 4 and pkg.helper() == 'help'",
    "attribute": "import pkg; pkg.heavy.anything",
    "call": "import pkg; pkg.heavy.compute()",
    "from_import": "from pkg.heavy import x",
    "getattr_default": "import pkg; getattr(pkg.heavy, 'x', None)",
    "submodule": "import pkg.heavy._impl",
    "star": "from pkg.heavy import *",
    "marker": "import pkg; assert pkg.heavy.__slimwheel_stub__ is True and pkg.heavy.__all__ == []",
    "hasattr": "import pkg; assert not hasattr(pkg.heavy, '__wrapped__') and not hasattr(pkg.heavy, '__version__')",
    "dunder_message": "import pkg; pkg.heavy.__version__",
    "private_probes": "import pkg; assert not any(hasattr(pkg.heavy, n) for n in ('_repr_html_', '_fields', '_x'))",
    "private_from_import": "from pkg.heavy import _private",
    "getmembers": "import inspect, pkg; inspect.getmembers(pkg.heavy)",
    "isclass": "import inspect, pkg; assert not inspect.isclass(pkg.heavy) and inspect.ismodule(pkg.heavy)",
    "unwrap": "import inspect, pkg; assert inspect.unwrap(pkg.heavy) is pkg.heavy",
    "pickle": "import pickle, pkg; pickle.dumps(pkg.heavy)",
    "copy": "import copy, pkg; copy.deepcopy(pkg.heavy)",
    "pydoc": "import pydoc, pkg; assert 'pkg.heavy' in pydoc.render_doc(pkg.heavy)",
    "type_hints": "import typing, pkg; assert typing.get_type_hints(pkg.heavy) == {}",
    "reload": "import importlib, pkg; importlib.reload(pkg.heavy)",
}
print(json.dumps({name: probe(code) for name, code in codes.items()}))
"""


# -- stub_source -----------------------------------------------------------------------------------------------


def test_stub_source_is_valid_python_with_marker_and_message() -> None:
    source = stub_source("numpy.random", package_name="numpy")
    namespace: dict[str, object] = {"__name__": "numpy.random"}
    exec(compile(source, "stub.py", "exec"), namespace)
    assert namespace["__slimwheel_stub__"] is True
    assert namespace["__all__"] == []
    assert "__path__" not in namespace  # only a stub loaded as a package gets an (empty) __path__
    getattr_ = namespace["__getattr__"]
    assert callable(getattr_)
    with pytest.raises(ImportError) as info:
        getattr_("default_rng")
    message = str(info.value)
    assert "numpy.random.default_rng" in message and "slimwheel" in message and "reinstall numpy" in message
    assert info.value.name == "numpy.random"
    with pytest.raises(AttributeError, match="slimwheel"):
        getattr_("__wrapped__")


def test_stub_source_custom_reason_still_names_slimwheel() -> None:
    source = stub_source("a.b", package_name="a-dist", reason="dropped for the firmware image").decode()
    assert "dropped for the firmware image" in source and "slimwheel" in source and "reinstall a-dist" in source
    quoted = stub_source("a.b", package_name="a", reason="removed by slimwheel '''\"\\ ünïcode").decode()
    compile(quoted, "stub.py", "exec")


def test_stub_source_rejects_non_module_names() -> None:
    for bad in ("", "a..b", "a/b", "1a.b", "a.b-c"):
        with pytest.raises(ValueError):
            stub_source(bad, package_name="a")


# -- real imports of a stubbed package -------------------------------------------------------------------------


def test_package_stub_with_real_imports(tmp_path: Path) -> None:
    original = write_tree(tmp_path / "original", PKG)
    startup = startup_modules(original, "pkg")
    assert {"pkg", "pkg.heavy", "pkg.heavy._impl", "pkg.light", "pkg.util"} <= set(startup)

    candidates = stub_candidates(weights(PKG), startup, used=["pkg.light", "pkg.util"])
    assert [c.module for c in candidates] == ["pkg.heavy"]
    (candidate,) = candidates
    assert candidate.replaces == {"pkg/heavy/__init__.py", "pkg/heavy/_impl.py"}
    assert candidate.stub_key == "pkg/heavy/__init__.py" and candidate.is_package
    stubbed = apply_stub(PKG, candidate, "pkg")
    assert candidate.weight == len(PKG["pkg/heavy/__init__.py"]) + len(PKG["pkg/heavy/_impl.py"]) - len(
        stubbed["pkg/heavy/__init__.py"]
    )

    tree = write_tree(tmp_path / "stubbed", stubbed)
    result = run_python(tree, PROBES)
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout)
    ok = [name for name in outcome if outcome[name][0] == "ok"]
    assert ok == [
        "import",
        "light",
        "star",
        "marker",
        "hasattr",
        "private_probes",
        "getmembers",
        "isclass",
        "unwrap",
        "pydoc",
        "type_hints",
        "reload",
    ], outcome
    for name in ("attribute", "call", "from_import", "getattr_default"):
        kind, message = outcome[name]
        assert kind == "ImportError", outcome[name]
        assert "slimwheel" in message and "pkg.heavy" in message and "reinstall pkg" in message
    assert outcome["from_import"][1].startswith("cannot use pkg.heavy.x:")
    assert outcome["submodule"][0] == "ModuleNotFoundError" and "pkg.heavy._impl" in outcome["submodule"][1]
    # private names raise AttributeError, which Python turns into its own "cannot import name" for `from ... import`
    assert outcome["private_from_import"][0] == "ImportError" and "_private" in outcome["private_from_import"][1]
    assert outcome["dunder_message"][0] == "AttributeError" and "slimwheel" in outcome["dunder_message"][1]
    # modules can't be pickled or copied; the stub must not turn that into an ImportError
    for name in ("pickle", "copy"):
        assert outcome[name][0] == "TypeError", outcome[name]


def test_module_stub_with_real_imports(tmp_path: Path) -> None:
    items = {
        **PKG,
        "pkg/light.pyi": b"def double(x: int) -> int: ...\n",
        "pkg/__pycache__/light.cpython-311.pyc": b"\0" * 100,
        "pkg/__pycache__/light.cpython-311.opt-1.pyc": b"\0" * 100,
        "pkg/__pycache__/lightning.cpython-311.pyc": b"\0" * 100,
        "pkg/lightning.py": b"",
    }
    candidate = stub_candidate(weights(items), "pkg.light")
    assert candidate is not None and not candidate.is_package
    assert candidate.stub_key == "pkg/light.py"
    assert candidate.replaces == {
        "pkg/light.py",
        "pkg/light.pyi",
        "pkg/__pycache__/light.cpython-311.pyc",
        "pkg/__pycache__/light.cpython-311.opt-1.pyc",
    }
    tree = write_tree(tmp_path, apply_stub(items, candidate, "pkg"))
    result = run_python(
        tree,
        """
        import pkg, pkg.lightning
        assert pkg.light.__slimwheel_stub__ and not hasattr(pkg.light, '__path__')
        for code in ('pkg.light.double(2)', 'import pkg.light.sub'):
            try:
                exec(code)
            except ImportError as exc:
                print(type(exc).__name__, exc)
        """,
    )
    assert result.returncode == 0, result.stderr
    first, second = result.stdout.splitlines()
    assert first.startswith("ImportError cannot use pkg.light.double: pkg.light was removed by slimwheel")
    assert second.startswith("ModuleNotFoundError") and "not a package" in second


def test_apply_stub_returns_a_new_mapping() -> None:
    before = dict(PKG)
    candidate = stub_candidate(weights(PKG), "pkg.heavy")
    assert candidate is not None
    after = apply_stub(PKG, candidate, "pkg")
    assert before == PKG
    assert set(after) == set(PKG) - {"pkg/heavy/_impl.py"}
    assert after["pkg/heavy/__init__.py"] == stub_source("pkg.heavy", package_name="pkg")
    assert all(after[key] == PKG[key] for key in after if key != "pkg/heavy/__init__.py")
    assert candidate.source == after["pkg/heavy/__init__.py"]  # sized and written for the same package name
    renamed = apply_stub(PKG, candidate, "pkg-distribution")["pkg/heavy/__init__.py"]
    assert b"reinstall pkg-distribution to use it" in renamed


def test_candidate_source_names_the_distribution() -> None:
    (candidate,) = stub_candidates(weights(PKG), ["pkg", "pkg.heavy"], [], package_name="pkg-dist")
    assert candidate.package_name == "pkg-dist"
    assert candidate.source == stub_source("pkg.heavy", package_name="pkg-dist")
    replaced = len(PKG["pkg/heavy/__init__.py"]) + len(PKG["pkg/heavy/_impl.py"])
    assert candidate.weight == replaced - len(candidate.source)
    assert stub_candidate(weights(PKG), "pkg.heavy", package_name="pkg-dist") == candidate


# -- stub_candidates -------------------------------------------------------------------------------------------

SO = "cpython-311-x86_64-linux-gnu.so"
ITEMS: dict[str, int] = {
    "top/__init__.py": 5_000,
    "top/__init__.pyi": 5_000,
    "top/_tester.py": 6_000,
    "top/__config__.py": 9_000,
    "top/big/__init__.py": 1_000,
    "top/big/_gen.py": 50_000,
    f"top/big/_ext.{SO}": 900_000,
    "top/big/lib/libbig.a": 100_000,
    "top/mid/__init__.py": 2_000,
    "top/mid/used.py": 30_000,
    "top/mid/unused.py": 40_000,
    f"top/mid/native.{SO}": 300_000,
    "top/mid/native.pyi": 3_000,
    "top/mid/deep/__init__.py": 100,
    "top/mid/deep/a.py": 20_000,
    "top/mid/deep/b.py": 20_000,
    "top/tiny.py": 50,
    "top/nsdir/mod.py": 70_000,  # no __init__: a namespace package inside a regular one
    "top/only_stub.pyi": 80_000,  # a type stub without a module
    "top/prot/__init__.py": 1_000,
    "top/prot/x.py": 60_000,
    "top-1.0.dist-info/RECORD": 10_000,
    "top-1.0.data/purelib/top/extra.py": 10_000,
    "other.py": 8_000,
}
STARTUP = [
    "top",
    "top._tester",
    "top.__config__",
    "top.big",
    "top.big._gen",
    "top.big._ext",
    "top.mid",
    "top.mid.used",
    "top.mid.unused",
    "top.mid.native",
    "top.mid.deep",
    "top.mid.deep.a",
    "top.tiny",
    "top.nsdir",
    "top.nsdir.mod",
    "top.only_stub",
    "top.prot",
    "top.prot.x",
    "top.missing",
    "top.extra",
    "other",
    "sys",
    "top-1.0.dist-info",
]


def test_candidates_outermost_unused_sorted_by_weight() -> None:
    found = stub_candidates(ITEMS, STARTUP, used=["top.mid.used", "top"], protected=["top.prot"])
    by_name = {c.module: c for c in found}
    assert [c.module for c in found] == [
        "top.big",
        "top.mid.native",
        "top.mid.deep",
        "top.mid.unused",
        "top._tester",
    ]
    assert [c.weight for c in found] == sorted((c.weight for c in found), reverse=True)
    big = by_name["top.big"]  # outermost: the package, not its modules; data files under it go too
    assert big.replaces == {"top/big/__init__.py", "top/big/_gen.py", f"top/big/_ext.{SO}", "top/big/lib/libbig.a"}
    assert big.stub_key == "top/big/__init__.py"
    assert big.weight == 1_051_000 - len(stub_source("top.big", package_name="top"))
    native = by_name["top.mid.native"]  # an extension module and its type stub, replaced by a .py stub
    assert native.replaces == {f"top/mid/native.{SO}", "top/mid/native.pyi"}
    assert native.stub_key == "top/mid/native.py"
    # top.mid.deep is stubbed whole although only top.mid.deep.a was imported at start-up
    assert by_name["top.mid.deep"].replaces == {"top/mid/deep/__init__.py", "top/mid/deep/a.py", "top/mid/deep/b.py"}


def test_candidates_exclusions() -> None:
    found = {c.module for c in stub_candidates(ITEMS, STARTUP, used=["top.mid.used"], protected=["top.prot"])}
    assert "top.mid" not in found  # used through a submodule
    assert "top.mid.unused" in found  # a sibling of a used module is not used
    assert not {"top", "other"} & found  # top-level packages and modules
    assert "top.__config__" not in found  # dunder names
    assert not {"top.nsdir", "top.nsdir.mod"} & found  # a namespace package and the modules in it
    assert not {"top.prot", "top.prot.x"} & found  # protected, and inside protected
    assert "top.tiny" not in found  # the stub would be larger than the module
    assert not {"top.only_stub", "top.missing", "top.extra"} & found  # no importable file in the kept items
    assert not any(
        key.startswith(("top-1.0.dist-info", "top-1.0.data"))
        for c in stub_candidates(ITEMS, STARTUP, [])
        for key in c.replaces
    )


def test_candidates_protection_reaches_down_and_up() -> None:
    assert stub_candidates(ITEMS, STARTUP, used=[], protected=["top"]) == []
    found = {c.module for c in stub_candidates(ITEMS, STARTUP, used=[], protected=["top.mid.deep.a"])}
    assert "top.mid" not in found and "top.mid.deep" not in found and "top.mid.deep.a" not in found
    assert {"top.mid.unused", "top.mid.native", "top.big"} <= found


def test_candidates_are_never_nested() -> None:
    for used in ([], ["top.mid.used"], ["top.big._gen"], ["top.mid.deep.a", "top.big"]):
        found = stub_candidates(ITEMS, STARTUP, used=used)
        names = [c.module for c in found]
        assert not any(a != b and b.startswith(a + ".") for a in names for b in names), names
        replaced = [key for c in found for key in c.replaces]
        assert len(replaced) == len(set(replaced))
        assert all(isinstance(c, StubCandidate) and c.weight > 0 for c in found)


def test_package_with_extension_init_and_sourceless_modules() -> None:
    items = {
        "top/__init__.pyc": 1_000,
        f"top/sub/__init__.{SO}": 200_000,
        "top/sub/x.pyc": 5_000,
        "top/mod.pyd": 9_000,
        "top/mod.cp311-win_amd64.pyd": 90_000,
    }
    found = {c.module: c for c in stub_candidates(items, ["top", "top.sub", "top.sub.x", "top.mod"], used=[])}
    assert found["top.sub"].replaces == {f"top/sub/__init__.{SO}", "top/sub/x.pyc"}
    assert found["top.mod"].replaces == {"top/mod.pyd", "top/mod.cp311-win_amd64.pyd"}
    assert stub_candidate(items, "top") is None
    assert stub_candidate(items, "top.__main__") is None


# -- a real wheel ----------------------------------------------------------------------------------------------


@pytest.mark.realwheel
def test_numpy_with_random_and_polynomial_stubbed(
    tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    from wheelcache import NUMPY_LINUX, fetch

    with zipfile.ZipFile(fetch(NUMPY_LINUX)) as wheel:
        wheel.extractall(tmp_path)
        sizes = {info.filename: info.file_size for info in wheel.infolist() if not info.is_dir()}

    startup = startup_modules(tmp_path, "numpy")
    subpackages = sorted(
        {m for m in startup if m.count(".") == 1 and any(k.startswith(m.replace(".", "/") + "/") for k in sizes)}
    )
    eager = {"numpy.random", "numpy.polynomial"} & set(startup)
    record_property(
        "slimwheel-numbers",
        f"stubs numpy 2.4.6: {len(startup)} numpy modules at start-up, subpackages {', '.join(subpackages)}; "
        f"random/polynomial imported eagerly: {sorted(eager) or 'no'}",
    )

    for module in ("numpy.random", "numpy.polynomial"):
        candidate = stub_candidate(sizes, module)
        assert candidate is not None and candidate.is_package and candidate.weight > 500_000
        for key in candidate.replaces:
            (tmp_path / key).unlink()
        (tmp_path / candidate.stub_key).write_bytes(stub_source(module, package_name="numpy"))

    result = run_python(
        tmp_path,
        """
        import numpy as np
        assert np.__file__.startswith(sys.path[0])
        a = np.array([[3.0, 1.0], [1.0, 2.0]])
        assert np.allclose(np.linalg.solve(a, [9.0, 8.0]), [2.0, 3.0])
        assert np.allclose(np.fft.fft(np.ones(4)), [4, 0, 0, 0])
        for code in ('np.random.default_rng', 'from numpy.random import default_rng', 'np.polynomial.Polynomial'):
            try:
                exec(code)
            except ImportError as exc:
                print(exc)
            else:
                print('no error:', code)
        """,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 3 and all("slimwheel" in line and "reinstall numpy" in line for line in lines), lines
    assert lines[0].startswith("cannot use numpy.random.default_rng: numpy.random was removed by slimwheel")
    assert lines[2].startswith("cannot use numpy.polynomial.Polynomial: numpy.polynomial was removed")


# -- candidates that start-up code takes names from ------------------------------------------------------------


def test_blocked_candidates_are_those_start_up_code_takes_names_from() -> None:
    items = {
        "pkg/__init__.py": b"from . import heavy, lib\nfrom .lib import helper\n",
        "pkg/heavy/__init__.py": b"from .inner import big\n",
        "pkg/heavy/inner.py": b"big = 1\n",
        "pkg/lib/__init__.py": b"def helper():\n    return 1\n",
        "pkg/lib/extra.py": b"E = 1\n",
    }
    candidates = stub_candidates(
        weights(items) | {k: 10_000 for k in items}, ["pkg.heavy", "pkg.heavy.inner", "pkg.lib"], ()
    )
    assert {c.module for c in candidates} == {"pkg.heavy", "pkg.lib"}
    # pkg.heavy imports from itself only: a stub of it works; pkg/__init__ takes ``helper`` from pkg.lib: it can't
    assert blocked_candidates(candidates, imported_from(items)) == {"pkg.lib"}
    assert (
        blocked_candidates(candidates, imported_from({k: v for k, v in items.items() if k != "pkg/__init__.py"}))
        == set()
    )
