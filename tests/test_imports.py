"""The static import scan: what Python sources import at import time, and the import closure of a set of items."""

from __future__ import annotations

from slimwheel.imports import ImportGraph, ImportStatement, executed_imports, imported_from, resolve


def test_imported_from_resolves_relative_imports_and_skips_function_bodies() -> None:
    sources = {
        "pkg/__init__.py": b"from . import heavy\nfrom .lib import helper\nfrom .sub.inner import x as y\n",
        "pkg/sub/__init__.py": b"from .. import lib\nfrom ..lib.deep import z\n",
        "pkg/sub/mod.py": b"from . import inner\ntry:\n    from pkg.tried import t\nexcept ImportError:\n    pass\n",
        "pkg/lazy.py": b"def f():\n    from pkg.lazyonly import g\n    return g\n"
        b"class C:\n    from pkg.inclass import k\n",
        "pkg/dotted.py": b"import pkg.a.b\nimport pkg.single\nimport os.path as osp\n",
        "pkg/broken.py": b"from . import (\n",
        "pkg/notes.txt": b"from pkg.fake import nothing\n",
        "top.py": b"from .x import y\n",  # beyond the top-level package: ignored
    }
    found = imported_from(sources)
    assert found == {
        "pkg.lib": {"pkg/__init__.py"},
        "pkg.sub.inner": {"pkg/__init__.py"},
        "pkg.lib.deep": {"pkg/sub/__init__.py"},
        "pkg.sub": {"pkg/sub/mod.py"},
        "pkg.tried": {"pkg/sub/mod.py"},
        "pkg.inclass": {"pkg/lazy.py"},  # class bodies run at import
        "pkg.a": {"pkg/dotted.py"},  # import pkg.a.b needs a real pkg.a
        "pkg": {"pkg/__init__.py", "pkg/sub/__init__.py", "pkg/dotted.py"},  # import pkg.single binds pkg
        "os": {"pkg/dotted.py"},
    }


def test_executed_imports_and_resolution() -> None:
    source = (
        b"import a.b as ab, c\nfrom .x import y\nfrom .w import *\nfrom .. import z\nif True:\n    from q import r\n"
    )
    assert executed_imports(source, "pkg.sub.mod", False) == [
        ImportStatement("a.b"),
        ImportStatement("c"),
        ImportStatement("pkg.sub.x", ("y",), from_import=True),
        ImportStatement("pkg.sub.w", ("*",), from_import=True),
        ImportStatement("pkg", ("z",), from_import=True),
        ImportStatement("q", ("r",), from_import=True),
    ]
    assert ImportStatement("pkg.sub.x", ("y", "*"), True).modules() == ["pkg.sub.x", "pkg.sub.x.y"]
    assert resolve(1, None, "pkg.sub", True) == "pkg.sub"
    assert resolve(2, "w", "pkg.sub.mod", False) == "pkg.w"
    assert resolve(3, "w", "pkg.sub.mod", False) is None
    assert executed_imports(b"def f(:\n import x", "m", False) == []


def test_import_closure_follows_module_level_imports_transitively() -> None:
    items = {
        "app/__init__.py": b"from . import core\n",
        "app/core.py": b"from app.util import helper\nimport app.native\n",
        "app/util/__init__.py": b"",
        "app/util/helper.py": b"def f():\n    import app.lazy\n",
        "app/native.cpython-311-x86_64-linux-gnu.so": b"\x7fELF",
        "app/lazy.py": b"",
        "app/cli.py": b"import app.core\n",
        "app/data/x.txt": b"from app import lazy",
    }
    graph = ImportGraph(items)
    assert graph.closure({"app/core.py"}) == {
        "app/core.py",
        "app/__init__.py",  # its package runs first (and imports core again)
        "app/util/__init__.py",
        "app/util/helper.py",  # ``from app.util import helper``: a submodule
        "app/native.cpython-311-x86_64-linux-gnu.so",
    }
    assert "app/lazy.py" not in graph.closure(set(items) - {"app/lazy.py"})  # imported inside a function only
    assert graph.closure({"app/data/x.txt"}) == {"app/data/x.txt"}  # not Python
