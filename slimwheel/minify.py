"""Python sources rewritten smaller by python-minifier, keeping what code that introspects itself relies on.

:func:`minified` rewrites one file; :func:`minify_sources` rewrites the ``.py`` items of a mapping (in worker
processes when asked) and returns only those that changed. The lead's trial check is the proof that a rewritten
file still works; this module only avoids the rewrites that are known to break, cheaply.

What a rewrite does (the options are listed, each with its reason, in :func:`_minify_text`): docstrings and other
literal statements go (what ``python -OO`` does to docstrings, which libraries are expected to survive), comments
and layout go, and function argument and return annotations and module/local variable annotations go. Nothing
else: no name is renamed, no literal hoisted, no ``assert`` or ``if __debug__`` removed, positional-only
parameters stay positional-only, class attribute annotations always stay (dataclasses, ``NamedTuple``,
``TypedDict``, pydantic, attrs read them), and the minifier's other "safe" rewrites are off (on torch they saved
0.16% of the bytes for 10% more time).

What a rewrite keeps: the file's **leading comment block** — every line before the first code token (shebang,
encoding cookie, licence header, blank lines between them), byte for byte, on top of the minified code: BSD-style
licences ask that source redistributions keep their notice.

A file is left alone (``None``) when

* it is not UTF-8 (no cookie, or a ``utf-8`` cookie; a BOM is fine), is not valid Python, or the minifier fails;
* it is a licence or notice file (:func:`slimwheel.licences.is_licence_path`, or ``keep`` of :func:`minify_sources`
  for files METADATA declares);
* its text shows that it reads docstrings or source at run time (:data:`NEEDS_SOURCE`): ``__doc__``,
  ``getsource``/``getsourcelines``/``findsource``/``getcomments``/``getdoc`` (``inspect``, ``pydoc``),
  ``jit.script``/``@script`` (TorchScript compiles functions from their source), ``docopt`` (a docstring is the
  command line), and ``# type:`` signature/variable comments other than ``# type: ignore`` (TorchScript reads them);
* a docstring of it is a template (``${NAME}``, ``%(name)s``): a decorator fills it in at import time, and the
  filled text is read again (``numpy.ma`` looks for words in the docstring of ``numpy.fromfunction``, which
  ``numpy._core.overrides`` fills in; with it minified, ``import numpy.ma`` fails an assertion);
* the result would not be smaller, or does not compile;
* python-minifier would write grammar the target Python can't read (below).

A file whose text shows that it reads annotations (:data:`READS_ANNOTATIONS`: ``get_type_hints``,
``__annotations__``, ``get_annotations``, ``signature(``, ``singledispatch``, ``.register``, ``pydantic``,
``fastapi``, ``typer``, ``beartype``, ``typeguard``, ``typechecked``, ``torch``) is still minified, but keeps
every annotation: docstrings and layout are all such code does not look at. ``torch`` is in the list because
TorchScript compiles any function or ``nn.Module`` it reaches from that function's source, whose annotations
give the types.

These lists are a cheap filter, not a proof: code in one file may read the docstrings, source or annotations of
another (``torch.jit.script(other.f)``, ``functools.singledispatch`` registration in a third module, ``fire``
building help from docstrings). The trial's check catches those; the lead restores the original of a file whose
minified form fails it.

python-minifier has no target-version option: it parses with, and prints the grammar of, the interpreter running
it. On Python 3.12+ it may print PEP 701 f-strings (quotes reused inside the braces), which Python 3.11 can't
read; so a file with f-strings is left alone when the running interpreter is 3.12+ and ``python`` (the oldest
version the result must run on) is older than 3.12. Everything else it prints, it read from the source.

Pure: bytes in, bytes out; no files, no subprocesses (``jobs > 1`` uses worker processes, still pure).
"""

from __future__ import annotations

import ast
import inspect
import re
import sys
import tokenize
from collections.abc import Collection, Iterable, Mapping
from io import BytesIO
from typing import Any

import python_minifier
from python_minifier import RemoveAnnotationsOptions

from .licences import is_licence_path

__all__ = ["NEEDS_SOURCE", "READS_ANNOTATIONS", "leading_comments", "minified", "minify_sources"]

#: Text that shows a file reads its docstrings or its source at run time: such a file is left alone.
NEEDS_SOURCE: tuple[bytes, ...] = (
    b"__doc__",  # docstrings read or composed (numpy's add_newdoc, decorators that append to them)
    b"getsource",  # inspect.getsource, getsourcelines, getsourcefile
    b"findsource",
    b"getcomments",
    b"getdoc",  # inspect.getdoc, pydoc
    b"jit.script",  # torch.jit.script, torch.jit.script_method: TorchScript compiles from source
    b"@script",
    b"docopt",  # the module docstring is the command line
    # Comments another module reads from this file's source: torch's config modules mark keys with
    # `# @compile_ignored`, which torch.utils._config_module finds with inspect.getsource (the torch.compile cache
    # key leaves those keys out). A check can't see the difference, so such a file is never minified.
    b"@compile_ignored",
)
#: ``# type: (int) -> str`` or ``x = []  # type: List[int]`` — type comments TorchScript reads from the source.
_TYPE_COMMENT = re.compile(rb"#\s*type:(?!\s*ignore\b)")

# A docstring holding a template (`${ARRAY_FUNCTION_LIKE}`, `%(name)s`) is filled in at import time by a decorator,
# and the filled text is read again (numpy.ma checks words in numpy.fromfunction's): the file is left alone.
_TEMPLATE = re.compile(r"\$\{\w+\}|%\(\w+\)s")
_DOCUMENTED = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)

#: Text that shows a file reads annotations at run time: such a file is minified but keeps all its annotations.
READS_ANNOTATIONS: tuple[bytes, ...] = (
    b"get_type_hints",
    b"__annotations__",
    b"get_annotations",
    b"signature(",  # inspect.signature shows annotations; callers may dispatch on them
    b"singledispatch",  # functools.singledispatch registers implementations by their first argument's annotation
    b".register",  # ... and the registration may be in another module than the dispatcher
    b"pydantic",  # validate_call and friends
    b"fastapi",
    b"typer",
    b"beartype",
    b"typeguard",
    b"typechecked",
    b"torch",  # TorchScript types a function it compiles by the annotations in its source
)

# python-minifier prints PEP 701 f-strings when running on 3.12+ (python_minifier.expression_printer).
_RUNNING = (sys.version_info.major, sys.version_info.minor)
_PEP701 = (3, 12)
_ACCEPTED = frozenset(inspect.signature(python_minifier.minify).parameters)


def leading_comments(source: bytes) -> bytes:
    """The lines of ``source`` before its first code token, byte for byte: shebang, encoding cookie, licence
    header and the blank lines among them (trailing blank lines dropped). Empty when the file starts with code."""
    end = 0
    kept = 0
    for line in source.splitlines(keepends=True):
        stripped = line.strip()
        if stripped.startswith(b"\xef\xbb\xbf"):  # a BOM before the first line's text
            stripped = stripped[3:].strip()
        if stripped and not stripped.startswith(b"#"):
            break
        end += len(line)
        if stripped:
            kept = end
    return source[:kept]


def minified(key: str, source: bytes, python: tuple[int, int] | None = None) -> bytes | None:
    """``source`` (the file installed at item key ``key``) minified, its leading comment block on top; None when the
    file must be left alone (see the module docstring). ``python``: the oldest Python (major, minor) the result must
    run on; None: the running interpreter's."""
    if is_licence_path(key) or any(marker in source for marker in NEEDS_SOURCE) or _TYPE_COMMENT.search(source):
        return None
    text = _decoded(source)
    if text is None:
        return None
    target = python or _RUNNING
    try:
        tree = ast.parse(text, key)
        fstrings = _RUNNING >= _PEP701 > target
        for node in ast.walk(tree):
            if fstrings and isinstance(node, ast.JoinedStr):
                return None
            if isinstance(node, _DOCUMENTED) and _TEMPLATE.search(ast.get_docstring(node, clean=False) or ""):
                return None
        keep_annotations = any(marker in source for marker in READS_ANNOTATIONS)
        code = _minify_text(text, key, keep_annotations)
        header = leading_comments(source)
        if header and not header.endswith((b"\n", b"\r")):
            header += b"\n"
        result = header + code.encode("utf-8")
        if len(result) >= len(source):
            return None
        compile(result, key, "exec", dont_inherit=True)
    except (Exception, RecursionError):  # SyntaxError, the minifier's UnstableMinification, deep nesting, ...
        return None
    return result


def _decoded(source: bytes) -> str | None:
    """The text of a UTF-8 source (a ``utf-8`` cookie or none; a BOM is dropped), else None."""
    try:
        encoding, _ = tokenize.detect_encoding(BytesIO(source).readline)
        if encoding not in ("utf-8", "utf-8-sig"):
            return None  # the minified text would be written in UTF-8 under another cookie
        return source.decode("utf-8-sig")
    except (SyntaxError, UnicodeDecodeError):
        return None


def _minify_text(text: str, key: str, keep_annotations: bool) -> str:
    """python-minifier with the options that keep behaviour; each option says why."""
    annotations = RemoveAnnotationsOptions(
        remove_variable_annotations=not keep_annotations,  # module/local `x: int = 1`: only get_type_hints(module)
        remove_return_annotations=not keep_annotations,  # read only by introspection (READS_ANNOTATIONS)
        remove_argument_annotations=not keep_annotations,  # same; singledispatch and validators are in the list
        remove_class_attribute_annotations=False,  # dataclasses, NamedTuple, TypedDict, pydantic, attrs need them
    )
    options: dict[str, Any] = dict(
        remove_annotations=annotations,
        # Off: the transforms below that python-minifier calls safe. On torch they saved 0.16% of the bytes and
        # cost 10% of the time; each is one more rewrite a reader of tracebacks has to map back.
        remove_pass=False,
        combine_imports=False,
        remove_object_base=False,
        remove_explicit_return_none=False,
        remove_builtin_exception_brackets=False,
        constant_folding=False,
        remove_dead_branches=False,
        # The point: docstrings and bare literal statements go (the minifier itself keeps them in a module that
        # reads `__doc__`; NEEDS_SOURCE has left such a file alone already).
        remove_literal_statements=True,
        hoist_literals=False,  # would add module globals and change how constants are shared
        rename_locals=False,  # locals(), keyword arguments, frame inspection and error messages see names
        rename_globals=False,  # every module global is public to someone (from m import *, getattr, pickle)
        convert_posargs_to_args=False,  # `def f(self, /, **kw)` would then reject kw['self']; signatures change
        preserve_shebang=False,  # the leading comment block, shebang included, is put back verbatim by the caller
        remove_asserts=False,  # asserts are behaviour (they raise); only -O may drop them
        remove_debug=False,  # `if __debug__:` blocks are behaviour too
        prefer_single_line=False,  # no difference in size; one statement a line keeps tracebacks readable
    )
    # An option older python-minifier releases lack is a transform they never make: leave it out.
    code: str = python_minifier.minify(text, filename=key, **{k: v for k, v in options.items() if k in _ACCEPTED})
    return code


def _one(item: tuple[str, bytes, tuple[int, int] | None]) -> bytes | None:
    return minified(*item)


def minify_sources(
    items: Mapping[str, bytes],
    *,
    keep: Collection[str] = (),
    python: tuple[int, int] | None = None,
    jobs: int = 1,
) -> dict[str, bytes]:
    """The ``.py`` items of ``items`` that :func:`minified` rewrites, key → new bytes (unchanged ones are absent).
    ``keep``: keys never rewritten (licence files METADATA declares). ``jobs`` > 1: that many worker processes."""
    keys = [key for key in items if key.endswith(".py") and key not in keep]
    work = [(key, items[key], python) for key in keys]
    results: Iterable[bytes | None]
    if jobs > 1 and len(work) > 1:
        # Imported here: concurrent.futures.process imports multiprocessing, which on Windows needs _winapi at
        # import time; slimwheel's modules import on any platform (tests/test_portability.py).
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=jobs) as pool:
            # Big files first, so one large file does not finish last on its own; small chunks balance the load.
            order = sorted(range(len(work)), key=lambda i: -len(work[i][1]))
            out = pool.map(_one, [work[i] for i in order], chunksize=4)
            by_index = dict(zip(order, out, strict=True))
            results = [by_index[i] for i in range(len(work))]
    else:
        results = map(_one, work)
    return {key: new for key, new in zip(keys, results, strict=True) if new is not None}
