"""Python files rewritten smaller — minified source (``--minify``) or sourceless bytecode (``--bytecode-only``) —
as replacements a candidate tree can take, and what they mean for one wheel.

A :class:`Rewrite` replaces one installed ``.py`` item: by its minified text at the same key, or by its bytecode
at ``KEY.pyc`` beside where the source was (``pkg/mod.py`` → ``pkg/mod.pyc``: the layout CPython imports without
a source), or both (the bytecode of the minified text). With a check, the trial proves them like stubs (every
rewrite kept passed the check together with all the others; a file whose rewrite fails is restored from the
original and listed); without one they are applied unproven, and the report says so.

:func:`rewrites` makes them for a set of items; the transforms are :mod:`slimwheel.minify` and
:mod:`slimwheel.bytecode`. Licence and notice files are never rewritten, and neither is anything that is not an
importable ``.py`` (:func:`slimwheel.bytecode.bytecode_keys`: scripts under ``*.data/``, type stubs, ``.py``
files in directories that are not packages' names). It must not know zip files, check runs or the
command line.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

from .bytecode import bytecode_keys, compile_sources, pyc_key
from .minify import minify_sources


@dataclass(frozen=True)
class Rewrite:
    """One ``.py`` item (``key``) replaced by ``data`` at ``new_key``; ``how`` is ``minified``, ``compiled`` or
    ``minified+compiled``. Satisfies :class:`slimwheel.stubs.Replacement`."""

    key: str
    new_key: str
    data: bytes
    how: str

    @property
    def module(self) -> str:
        """Its name in the trial's journal: what was done to which file, and the result's digest."""
        return f"{self.how}:{self.key}:{hashlib.sha256(self.data).hexdigest()[:16]}"

    @property
    def replaces(self) -> frozenset[str]:
        return frozenset({self.key})

    @property
    def stub_key(self) -> str:
        return self.new_key

    @property
    def source(self) -> bytes:
        return self.data


@dataclass(frozen=True)
class RewriteOptions:
    """``minify``: python-minifier's rewrite; ``bytecode``: the interpreter whose bytecode replaces the sources."""

    minify: bool = False
    bytecode: Path | None = None
    python: tuple[int, int] | None = None  # the oldest Python the minified text must run on
    jobs: int = 1

    @property
    def any(self) -> bool:
        return self.minify or self.bytecode is not None


def rewrites(
    items: Mapping[str, bytes], keys: Collection[str], options: RewriteOptions, *, keep: Collection[str] = ()
) -> list[Rewrite]:
    """The rewrites of the ``.py`` items among ``keys`` (never those in ``keep``, nor licence files), by key."""
    sources = {k: items[k] for k in bytecode_keys(sorted(keys), never=keep)}
    minified = minify_sources(sources, python=options.python, jobs=options.jobs) if options.minify else {}
    if options.bytecode is None:
        return [Rewrite(k, k, data, "minified") for k, data in minified.items()]
    compiled = compile_sources({k: minified.get(k, data) for k, data in sources.items()}, options.bytecode).pyc
    return [
        Rewrite(k, pyc_key(k), data, "minified+compiled" if k in minified else "compiled")
        for k, data in compiled.items()
    ] + [Rewrite(k, k, data, "minified") for k, data in minified.items() if k not in compiled]
