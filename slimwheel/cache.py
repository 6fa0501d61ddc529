"""What slimwheel keeps in its cache directory (``--cache-dir``, default ``~/.cache/slimwheel``), and clearing it.

Sections, each a folder: ``journals/`` (run journals for ``--resume``, :mod:`slimwheel.journal`), ``envs/`` (check
environments, :class:`slimwheel.sandbox.Environment`), ``wheels/`` (wheels ``slimwheel build`` downloaded) and
``builds/`` (wheels it built from source). This module only measures and deletes folders: it knows nothing of
what is inside them. Anything else in the cache directory is left alone.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

#: Section folder → what it holds.
SECTIONS: dict[str, str] = {
    "journals": "run journals (--resume)",
    "envs": "check environments",
    "wheels": "downloaded wheels (build)",
    "builds": "wheels built from source (build)",
}
#: What ``slimwheel cache --clear`` accepts: one section, or every one.
CLEARABLE = ("journals", "envs", "wheels", "builds", "all")


@dataclass(frozen=True)
class Usage:
    section: str
    description: str
    count: int  # journals: files; envs and builds: folders; wheels: *.whl files
    bytes: int


def _size(path: Path) -> int:
    """Bytes of the files under ``path`` (symbolic links not followed, counted by their own size)."""
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                continue  # deleted meanwhile
    return total


def _count(section: str, folder: Path) -> int:
    if section == "journals":
        return sum(1 for p in folder.glob("*.jsonl") if p.is_file())
    if section == "wheels":
        return sum(1 for p in folder.rglob("*.whl") if p.is_file())
    return sum(1 for p in folder.iterdir() if p.is_dir())


def usage(cache_dir: Path) -> list[Usage]:
    """Every section's count and bytes (0 for a section that doesn't exist)."""
    found: list[Usage] = []
    for section, description in SECTIONS.items():
        folder = Path(cache_dir) / section
        exists = folder.is_dir()
        count = _count(section, folder) if exists else 0
        found.append(Usage(section, description, count, _size(folder) if exists else 0))
    return found


def clear(cache_dir: Path, what: str) -> list[Usage]:
    """Delete the section ``what`` (or ``all`` of them); returns what they held before."""
    if what not in CLEARABLE:
        raise ValueError(f"unknown cache section {what!r}")
    sections = set(SECTIONS) if what == "all" else {what}
    before = [u for u in usage(cache_dir) if u.section in sections]
    _remove(Path(cache_dir) / section for section in sorted(sections))
    return before


def _remove(folders: Iterable[Path]) -> None:
    for folder in folders:
        if folder.is_symlink():
            folder.unlink()
        elif folder.is_dir():
            shutil.rmtree(folder)
