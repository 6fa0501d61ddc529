"""Licence and notice files: the files of a wheel that must ship with it, whatever anything else decides.

Licences oblige whoever redistributes a package to pass its licence and notice texts on, so slimwheel never removes
them: no rule, ``--prune`` pattern, lock, check (trial deletion) or stub may, and ``--keep`` is never needed for
them. This module only says *which* files they are; every layer that removes files asks it.

A file is a licence or notice file when

* its file name (any case, any extension) starts with ``LICENSE``/``LICENCE``, ``COPYING``, ``NOTICE``,
  ``AUTHORS`` or ``ThirdPartyNotices``, or contains ``-NOTICE`` (``LICENSE_DOP``, ``COPYING_QHULL.txt``,
  ``license.txt``, ``LLVM-NOTICE.txt``);
* or it lies under a ``licenses/`` (or ``licences/``, ``license/``, ``licence/``) directory, any case, at any
  depth: this covers PEP 639's ``<name>.dist-info/licenses/``;
* or METADATA names it in a PEP 639 ``License-File:`` field; the value is resolved relative to the dist-info's
  ``licenses/`` directory, to the dist-info directory itself (older wheels) and as an archive path as given.

Code is not a licence file by name: a file ending in ``.py``, ``.pyi``, ``.pyc``, ``.pyo``, ``.so``, ``.pyd``,
``.dll`` or ``.dylib`` is never matched by the name or directory rules (``sympy/.../license.py``,
``packaging/licenses/__init__.py`` are modules, and pinning them would pin code, not a licence text). A file that
METADATA names in ``License-File:`` is one whatever its suffix: the package itself declared it.

Pure: paths and METADATA text in, paths out; nothing here reads a zip file.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from email.parser import HeaderParser
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .contents import Wheel

_NAME = re.compile(r"(?:licen[cs]e|copying|notice|authors|thirdpartynotices).*|.*-notice.*", re.IGNORECASE)
_DIRECTORIES = frozenset({"licenses", "licences", "license", "licence"})
_CODE_SUFFIXES = (".py", ".pyi", ".pyc", ".pyo", ".so", ".pyd", ".dll", ".dylib")

KEPT_REASON = "licence or notice file: never removed"


class LicenceFileLost(RuntimeError):
    """A licence or notice file of the input is missing from the output: a bug in slimwheel, never shipped."""


def is_licence_path(path: str) -> bool:
    """Whether an archive path (or an installed path) is a licence or notice file by its name or directory alone."""
    parts = path.rstrip("/").split("/")
    name = parts[-1]
    if not name or path.endswith("/") or name.lower().endswith(_CODE_SUFFIXES):
        return False
    return _NAME.fullmatch(name) is not None or any(d.lower() in _DIRECTORIES for d in parts[:-1])


def declared_licence_files(metadata: str, dist_info: str) -> set[str]:
    """The archive paths a METADATA text's ``License-File:`` fields may refer to (they need not exist)."""
    found: set[str] = set()
    for value in HeaderParser().parsestr(metadata).get_all("License-File") or []:
        given = str(value).strip().replace("\\", "/").lstrip("/")
        if given and ".." not in given.split("/"):
            found |= {f"{dist_info}/licenses/{given}", f"{dist_info}/{given}", given}
    return found


def licence_files(paths: Iterable[str], dist_info: str, metadata: str) -> frozenset[str]:
    """The licence and notice files among a wheel's archive ``paths`` (directory entries are ignored)."""
    files = {p for p in paths if not p.endswith("/")}
    declared = declared_licence_files(metadata, dist_info) & files
    return frozenset({p for p in files if is_licence_path(p)} | declared)


def licence_paths(wheel: Wheel) -> frozenset[str]:
    """The licence and notice files of a wheel, as archive paths."""
    metadata = wheel.by_path.get(f"{wheel.dist_info}/METADATA")
    text = metadata.data.decode("utf-8", errors="replace") if metadata is not None else ""
    return licence_files((e.path for e in wheel.entries), wheel.dist_info, text)


def missing_licences(licences: Iterable[str], output_paths: Iterable[str]) -> list[str]:
    """The licence files that are not among ``output_paths``, sorted (empty: all there)."""
    return sorted(set(licences) - set(output_paths))


def ensure_licences_kept(source: str, licences: Iterable[str], output_paths: Iterable[str]) -> None:
    """Raise :class:`LicenceFileLost` if any of ``licences`` is not among ``output_paths``."""
    missing = missing_licences(licences, output_paths)
    if missing:
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        raise LicenceFileLost(
            f"{source}: licence or notice file {missing[0]}{more} would be missing from the output; "
            "this is a bug in slimwheel, nothing was written"
        )
