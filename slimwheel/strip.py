"""The strip stage: the native entries of a wheel stripped on disk, in parallel, each one verified.

What a strip may do to one file, and how that is checked, is :mod:`slimwheel.binaries`' business; this module
decides which entries are stripped (the native and vendored categories), in what order (largest first, so the
slowest start early) and how many at once: files over :data:`BIG_STRIP` one at a time, since a strip tool holds the
whole file in memory (so does objcopy, which copies the debug symbols of a stripped ELF file aside with
``--debug-symbols``: in the same turn, into ``workdir``; :mod:`slimwheel.debugsyms` moves them to their directory).
It knows entries and categories, not archives, plans or checks.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .archive import ensure_free_space
from .binaries import (
    BinaryFormat,
    DebugRequest,
    FileStripResult,
    StripLevel,
    StripStatus,
    StripTools,
    detect_format,
    find_objcopy_tools,
    find_strip_tools,
    strip_file,
)
from .categories import Category
from .contents import Entry
from .errors import UsageError
from .options import ShrinkOptions

NATIVE = (Category.NATIVE, Category.VENDORED)
BIG_STRIP = 64 * 1024**2  # strip tools load the whole file: files over this size are stripped one at a time


def strip_entries(
    entries: list[Entry], categories: Mapping[str, Category], options: ShrinkOptions, workdir: Path
) -> tuple[list[Entry], dict[str, FileStripResult]]:
    """``entries`` with the native ones stripped (in ``workdir``), and what happened to each native entry."""
    natives = [e for e in entries if categories.get(e.path) in NATIVE]
    if options.strip is StripLevel.NONE or not natives:
        return entries, {}
    tools = find_strip_tools()
    debug = _debug_request(natives, options)
    natives.sort(key=lambda e: -e.size)
    one_big_at_a_time = threading.Lock()
    with ThreadPoolExecutor(max_workers=options.jobs or os.cpu_count() or 1) as pool:
        futures = {
            e.path: pool.submit(_strip_one, e, options.strip, tools, workdir, one_big_at_a_time, debug) for e in natives
        }
        results = {path: f.result() for path, f in futures.items()}
    out = []
    for e in entries:
        result = results.get(e.path)
        if result is not None and result.status is StripStatus.STRIPPED and result.path is not None:
            e = e.with_file(result.path, e.size - result.saved)
        out.append(e)
    return out, dict(sorted(results.items()))


def _debug_request(natives: list[Entry], options: ShrinkOptions) -> DebugRequest | None:
    """What ``--debug-symbols`` asks of the strip tools; :class:`UsageError` if there are ELF files to keep the
    symbols of and no objcopy to do it."""
    if options.debug_symbols is None:
        return None
    objcopy = find_objcopy_tools()
    if not objcopy and any(detect_format(e.head()) is BinaryFormat.ELF for e in natives):
        raise UsageError("--debug-symbols needs objcopy: install binutils (or LLVM's llvm-objcopy)")
    return DebugRequest(objcopy, link=options.debuglink)


def missing_tool_warnings(results: Mapping[str, FileStripResult]) -> list[str]:
    """One warning per kind of binary that could not be stripped for lack of a tool (not a failure)."""
    reasons = sorted({r.reason for r in results.values() if r.reason.startswith("no strip tool")})
    return [
        f"{reason}: {sum(r.reason == reason for r in results.values())} file(s) left unstripped" for reason in reasons
    ]


def _strip_one(
    entry: Entry, level: StripLevel, tools: StripTools, workdir: Path, big: threading.Lock, debug: DebugRequest | None
) -> FileStripResult:
    """Strip one native entry from its extracted file (written out first if it was held in memory)."""
    source = entry.file
    if source is None:
        source = workdir / f"held-{hashlib.sha256(entry.path.encode()).hexdigest()[:16]}.bin"
        with source.open("wb") as fh:
            for block in entry.chunks():
                fh.write(block)
    if entry.size <= BIG_STRIP:
        return strip_file(source, entry.path, level, workdir, tools, debug)
    with big:
        ensure_free_space(workdir, entry.size * (2 if debug else 1), f"stripping {entry.path}")
        return strip_file(source, entry.path, level, workdir, tools, debug)
