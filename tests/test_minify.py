"""slimwheel.minify: Python sources minified, with licence headers, docstring readers and annotations respected.

Each minified file is executed (or imported by a fresh interpreter) to show it still does what it did; the
``realwheel`` test minifies every module of numpy's wheel and runs numpy from the result.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path
from typing import Any

import pytest

import slimwheel.minify as minify_module
from slimwheel.minify import leading_comments, minified, minify_sources

HEADER = (
    b"#!/usr/bin/env python3\n"
    b"# -*- coding: utf-8 -*-\n"
    b"# Copyright (c) 2021, Example Authors.  All rights reserved.\n"
    b"#\n"
    b"# Redistribution and use in source and binary forms, with or without modification, are permitted\n"
    b"# provided that the following conditions are met: ...   (spacing kept  exactly)\r\n"
    b"\n"
    b"#   Redistributions of source code must retain the above copyright notice.\n"
)

BODY = textwrap.dedent(
    '''
    """The module's docstring, which is long enough to matter when it is removed from the file."""

    import math  # a comment after code is not part of the header


    def area(radius: float, *, scale: int = 1) -> float:
        """The area of a circle of ``radius``, times ``scale``: a docstring that minification removes."""
        # a comment inside the function
        result: float = math.pi * radius**2
        return result * scale


    class Shape:
        """A class with only a docstring and a method."""

        def name(self) -> str:
            """Its name."""
            return type(self).__name__
    '''
).encode()


def run(source: bytes, key: str = "pkg/mod.py") -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": "minified"}
    exec(compile(source, key, "exec", dont_inherit=True), namespace)
    return namespace


# -- one file ---------------------------------------------------------------------------------------------------


def test_licence_header_is_kept_verbatim_and_docstrings_go() -> None:
    source = HEADER + BODY
    out = minified("pkg/mod.py", source)
    assert out is not None and len(out) < len(source) * 0.75
    assert out.startswith(HEADER)  # byte for byte, \r\n and spacing included
    rest = out[len(HEADER) :]
    for gone in (b"docstring", b"Its name", b"a comment", b"#"):
        assert gone not in rest
    ns = run(out)
    assert ns.get("__doc__") is None and ns["area"].__doc__ is None and ns["Shape"].__doc__ is None
    assert ns["area"](2.0, scale=3) == pytest.approx(12 * 3.141592653589793)
    assert ns["Shape"]().name() == "Shape"
    assert ns["area"].__annotations__ == {}  # argument and return annotations removed


def test_leading_comments() -> None:
    assert leading_comments(HEADER + BODY) == HEADER
    assert leading_comments(b"import os\n# not a header\n") == b""
    assert leading_comments(b"\xef\xbb\xbf# bom\n\nx = 1\n") == b"\xef\xbb\xbf# bom\n"
    assert leading_comments(b"\n\n# late\n\n\nx = 1\n") == b"\n\n# late\n"


def test_file_without_header_and_shebang_only() -> None:
    out = minified("pkg/m.py", BODY)
    assert out is not None and out.startswith(b"import math")
    script = b"#!/usr/bin/python\n" + BODY
    out = minified("pkg/s.py", script)
    assert out is not None and out.startswith(b"#!/usr/bin/python\nimport math") and out.count(b"#!") == 1


@pytest.mark.parametrize(
    "marker",
    [
        b"print(__doc__)\n",
        b"import inspect\nSRC = inspect.getsource(area)\n",
        b"from inspect import getsourcelines\n",
        b"import torch\nf = torch.jit.script(area)\n",
        b"from torch.jit import script\n@script\ndef g(x):\n    return x\n",
        b"from docopt import docopt\n",
        b"def h(x, y):\n    # type: (int, str) -> str\n    return y\n",
        # torch's config modules: torch.utils._config_module reads these comments with inspect.getsource
        b"# @compile_ignored: debug only\nverbose = False\n",
    ],
)
def test_files_that_read_docstrings_or_source_are_left_alone(marker: bytes) -> None:
    assert minified("pkg/mod.py", BODY + marker) is None


@pytest.mark.parametrize("template", ["${ARRAY_FUNCTION_LIKE}", "%(klass)s"])
def test_files_with_docstring_templates_are_left_alone(template: str) -> None:
    source = BODY + f'def filled(x):\n    """Like {template}."""\n    return x\n'.encode()
    assert minified("pkg/mod.py", source) is None
    assert minified("pkg/mod.py", BODY + b"LOG = '%(name)s ${HOME}'\n") is not None  # only docstrings count


def test_type_ignore_comments_do_not_block_minification() -> None:
    assert minified("pkg/mod.py", BODY + b"x = 1  # type: ignore[assignment]\ny = 2  #type:ignore\n") is not None


@pytest.mark.parametrize(
    "reader",
    [
        b"from typing import get_type_hints\nHINTS = get_type_hints(area)\n",
        b"from functools import singledispatch\n@singledispatch\ndef show(x: object) -> str:\n    return 'o'\n"
        b"@show.register\ndef _(x: int) -> str:\n    return 'i'\nSHOWN = show(1)\n",
        b"import inspect\nSIG = str(inspect.signature(area))\n",
    ],
)
def test_files_that_read_annotations_keep_them(reader: bytes) -> None:
    original = run(BODY + reader)
    out = minified("pkg/mod.py", BODY + reader)
    assert out is not None and b"docstring" not in out
    ns = run(out)
    assert ns["area"].__annotations__ == {"radius": float, "scale": int, "return": float}
    for name in ("HINTS", "SHOWN", "SIG"):
        assert ns.get(name) == original.get(name)


def test_dataclass_namedtuple_and_typeddict_keep_their_fields() -> None:
    source = textwrap.dedent(
        '''
        """Records."""
        import dataclasses
        from dataclasses import dataclass, field
        from typing import NamedTuple, TypedDict


        @dataclass(frozen=True)
        class Point:
            """A point."""

            x: int
            y: int = 0
            tags: list[str] = field(default_factory=list)


        class Pair(NamedTuple):
            """A pair."""

            left: str
            right: str = "r"


        class Options(TypedDict, total=False):
            """Options."""

            verbose: bool


        class Plain:
            count: int = 3
            label: str
        '''
    ).encode()
    out = minified("pkg/records.py", source)
    assert out is not None and b"A point" not in out
    ns = run(out)
    point = ns["Point"](1, tags=["a"])
    assert (point.x, point.y, point.tags) == (1, 0, ["a"])
    assert [f.name for f in ns["dataclasses"].fields(point)] == ["x", "y", "tags"]
    assert ns["Pair"]("l") == ("l", "r") and ns["Pair"]._fields == ("left", "right")
    assert ns["Options"].__annotations__ == {"verbose": bool}
    assert ns["Plain"].__annotations__ == {"count": int, "label": str} and ns["Plain"].count == 3


def test_behaviour_that_must_not_change() -> None:
    source = textwrap.dedent(
        """
        class Registry(object):
            def update(self, other=(), /, **kwargs):
                return sorted(kwargs)

        def checked(x):
            assert x > 0, "positive"
            if __debug__:
                x += 0
            local_name = x
            return locals()

        CONSTANT = 'a long string literal used once' + '!'
        """
    ).encode()
    out = minified("pkg/beh.py", source + b"# " + b"padding " * 40 + b"\n")
    assert out is not None
    ns = run(out)
    assert ns["Registry"]().update(self=1) == ["self"]  # positional-only kept: `self` may be a keyword
    assert ns["checked"](2) == {"x": 2, "local_name": 2}  # no renamed locals
    with pytest.raises(AssertionError, match="positive"):
        ns["checked"](-1)  # asserts kept
    assert set(ns) - {"__builtins__"} == {"__name__", "Registry", "checked", "CONSTANT"}  # no hoisted literals


@pytest.mark.parametrize(
    "source",
    [
        b"def broken(:\n    pass\n" + b"# padding\n" * 20,
        b"x = '\xff\xfe not utf-8'\n" + b"# padding\n" * 20,
        b"# -*- coding: latin-1 -*-\nx = 'caf\xe9'\n" + b"# padding\n" * 20,
        b"# only comments\n# and nothing else\n",
        b"x=1",  # nothing to gain
    ],
    ids=["syntax-error", "not-utf8", "latin1-cookie", "only-comments", "not-smaller"],
)
def test_files_left_alone(source: bytes) -> None:
    assert minified("pkg/mod.py", source) is None


def test_licence_files_are_left_alone() -> None:
    assert minified("pkg/LICENSE", BODY) is None  # by name (not a module, but never rewritten)
    out = minify_sources({"pkg/mod.py": BODY, "pkg/declared.py": BODY}, keep={"pkg/declared.py"})
    assert set(out) == {"pkg/mod.py"}


def test_result_must_compile(monkeypatch: pytest.MonkeyPatch) -> None:
    # A minifier bug that printed invalid code would be caught by the compile check.
    monkeypatch.setattr(minify_module, "_minify_text", lambda text, key, keep: "def broken(:\n")
    assert minified("pkg/mod.py", BODY) is None


def test_pep701_fstrings_refused_for_an_older_target(monkeypatch: pytest.MonkeyPatch) -> None:
    source = BODY + b"def greet(name):\n    return f'hello {name}'\n"
    assert minified("pkg/mod.py", source, python=(3, 11)) is not None
    # python-minifier running on 3.12+ may print f-strings Python 3.11 can't read.
    monkeypatch.setattr(minify_module, "_RUNNING", (3, 12))
    assert minified("pkg/mod.py", source, python=(3, 11)) is None
    assert minified("pkg/mod.py", source, python=(3, 12)) is not None
    assert minified("pkg/mod.py", BODY, python=(3, 11)) is not None  # no f-string: no problem


def test_minify_sources_returns_only_changed_python_files() -> None:
    items = {
        "pkg/__init__.py": b"",
        "pkg/mod.py": HEADER + BODY,
        "pkg/doc.py": BODY + b"print(__doc__)\n",
        "pkg/types.pyi": BODY,
        "pkg/data.txt": BODY,
    }
    serial = minify_sources(items)
    assert set(serial) == {"pkg/mod.py"}
    assert minify_sources(items, jobs=2) == serial


# -- a real wheel -------------------------------------------------------------------------------------------------


@pytest.mark.realwheel
@pytest.mark.slow
def test_numpy_minified_still_works(tmp_path: Path, record_property: Any) -> None:
    from wheelcache import NUMPY_LINUX, DownloadFailed, fetch

    try:
        wheel_path = fetch(NUMPY_LINUX)
    except DownloadFailed as error:
        pytest.skip(str(error))
    with zipfile.ZipFile(wheel_path) as wheel:
        wheel.extractall(tmp_path)
        # numpy's own modules, not its test suites (half the Python bytes, and nothing the check below imports):
        # the minifier's cost is per byte, and this test is one of the suite's longest
        sources = {
            name: wheel.read(name)
            for name in wheel.namelist()
            if name.endswith(".py") and "/tests/" not in name and "/testing/" not in name
        }
    out = minify_sources(sources, jobs=os.cpu_count() or 1)

    for key, new in out.items():
        compile(new, key, "exec", dont_inherit=True)
        header = leading_comments(sources[key])
        assert new.startswith(header)
    before = sum(map(len, sources.values()))
    after = before - sum(len(sources[k]) for k in out) + sum(map(len, out.values()))
    record_property("slimwheel-numbers", f"minify numpy 2.4.6: {len(out)}/{len(sources)} files, {after / before:.3f}")
    assert len(out) > 0.8 * len(sources)
    assert after <= 0.7 * before

    for key, new in out.items():
        (tmp_path / key).write_bytes(new)
    check = """
        import numpy as np
        assert np.__file__.startswith(sys.argv[1]), np.__file__
        a = np.array([[3.0, 1.0], [1.0, 2.0]])
        assert np.allclose(np.linalg.solve(a, [9.0, 8.0]), [2.0, 3.0])
        assert np.allclose(np.fft.fft(np.ones(4)), [4, 0, 0, 0])
        assert np.polynomial.Polynomial([1, 2])(3) == 7
        assert np.random.default_rng(0).integers(10, size=3).shape == (3,)
        assert np.ma.masked_array([1, 2], mask=[0, 1]).sum() == 1
        print("ok")
    """
    proc = subprocess.run(
        [sys.executable, "-B", "-c", "import sys\n" + textwrap.dedent(check), str(tmp_path)],
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-3000:]
