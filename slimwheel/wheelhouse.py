"""A deploy set's output directory (the wheelhouse): its pinned requirements, its installed size, its duplicates.

What it guarantees:

* :func:`write_requirements` — ``requirements.txt`` in the wheelhouse pins every wheel of the set by version and by
  the sha256 of its file, one line per distribution (sorted by canonical name; two wheels of one distribution, such
  as two platform builds, share a line with both hashes). ``pip install --no-index --find-links DIR
  --require-hashes -r DIR/requirements.txt`` (or ``uv pip install`` with the same options) then installs exactly
  these files, offline, and refuses any that changed. Every wheel it pins must be in the wheelhouse itself. The
  file is replaced atomically (:func:`~slimwheel.outputs.write_output`); a symlink, FIFO, device or directory
  where it goes is refused, never written through.
* :func:`install_target` — what the set weighs once installed: ``pip install --no-index --no-deps --target`` into
  an empty directory (with pip's default bytecode compilation, as users get it), then the bytes of every regular
  file there, in total and per distribution (its installed ``RECORD``, with the ``.pyc`` files pip compiled).
* :func:`duplicate_libraries` — native libraries (``.so``, ``.pyd``, ``.dll``, ``.dylib``) with the same bytes
  vendored by two or more wheels of the set: reported, never removed.

What it must not know: checks, plans, stripping, and how the wheels were obtained (pip's target options reach
:func:`install_target` as plain arguments). It reads a wheel's name and version from its file name (packaging);
the only zip reading is :func:`duplicate_libraries` listing and hashing native libraries, streamed in chunks.
pip runs as a subprocess, as in :mod:`slimwheel.fetch`, whose one-line errors and log files it shares.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import re
import stat
import sys
import zipfile
import zlib
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from packaging.utils import InvalidWheelFilename, NormalizedName, canonicalize_name, parse_wheel_filename

from .errors import SlimwheelError
from .fetch import FetchError, _pip, _run
from .outputs import write_output

__all__ = [
    "REQUIREMENTS",
    "Duplicate",
    "InstalledDistribution",
    "InstalledSize",
    "LibraryCopy",
    "WheelhouseError",
    "duplicate_libraries",
    "install_target",
    "write_requirements",
]

#: The file name of the pinned requirements in a wheelhouse.
REQUIREMENTS = "requirements.txt"

_CHUNK = 1 << 20


class WheelhouseError(SlimwheelError):
    """The wheelhouse can't be written, installed or read."""


def _sha256(stream: IO[bytes]) -> str:
    digest = hashlib.sha256()
    while chunk := stream.read(_CHUNK):
        digest.update(chunk)
    return digest.hexdigest()


def _name_version(wheel: Path) -> tuple[NormalizedName, str]:
    try:
        name, version, _, _ = parse_wheel_filename(wheel.name)
    except InvalidWheelFilename:
        raise WheelhouseError(f"{wheel}: not a wheel file name (NAME-VERSION-PYTHON-ABI-PLATFORM.whl)") from None
    return name, str(version)


# ------------------------------------------------------------------------------------------ requirements.txt


_HEADER = """\
# Written by slimwheel: every wheel of this deploy set, pinned by version and sha256.
# Install offline from this directory (pip refuses any file whose hash differs):
#   pip install --no-index --find-links DIR --require-hashes -r DIR/requirements.txt
#   uv pip install --no-index --find-links DIR --require-hashes -r DIR/requirements.txt
"""


def requirements_text(wheels: Iterable[Path]) -> str:
    """The text of ``requirements.txt`` for ``wheels``: ``name==version --hash=sha256:...`` per distribution."""
    versions: dict[NormalizedName, set[str]] = defaultdict(set)
    hashes: dict[NormalizedName, set[str]] = defaultdict(set)
    for wheel in wheels:
        name, version = _name_version(wheel)
        versions[name].add(version)
        try:
            with open(wheel, "rb") as stream:
                hashes[name].add(_sha256(stream))
        except OSError as exc:
            raise WheelhouseError(f"{wheel}: can't read the wheel ({exc.strerror or exc})") from None
    lines = [_HEADER]
    for name in sorted(versions):
        if len(versions[name]) > 1:
            shown = ", ".join(sorted(versions[name]))
            raise WheelhouseError(f"{name}: a deploy set can't hold two versions of one distribution ({shown})")
        pins = " ".join(f"--hash=sha256:{digest}" for digest in sorted(hashes[name]))
        lines.append(f"{name}=={versions[name].pop()} {pins}\n")
    return "".join(lines)


def write_requirements(wheels: Sequence[Path], dest: Path, name: str = REQUIREMENTS) -> Path:
    """Write ``dest/requirements.txt`` (or ``dest/NAME``) pinning ``wheels`` (all in ``dest``) as the module
    docstring says; return it."""
    if not wheels:
        raise WheelhouseError(f"{dest}: no wheels to pin in {name}")
    home = Path(dest).resolve()
    for wheel in wheels:
        if Path(wheel).resolve().parent != home:
            raise WheelhouseError(f"{wheel} is not in {dest}: {name} there pins only wheels it holds")
    path = Path(dest) / name
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        mode = None
    except OSError as exc:
        raise WheelhouseError(f"{path}: can't write it ({exc.strerror or exc})") from None
    if mode is not None and not stat.S_ISREG(mode):
        raise WheelhouseError(f"{path}: not a regular file (a symlink, directory, FIFO or device); not replacing it")
    text = requirements_text(wheels).replace(f"DIR/{REQUIREMENTS}", f"DIR/{name}")
    try:
        write_output(path, text.encode("utf-8"))
    except OSError as exc:
        raise WheelhouseError(f"{path}: can't write it ({exc.strerror or exc})") from None
    return path


# ----------------------------------------------------------------------------------------------- installed


@dataclass(frozen=True)
class InstalledDistribution:
    """One distribution installed by :func:`install_target`: the bytes of its files (``bytecode`` of them in the
    ``.pyc`` files pip compiled) and how many files."""

    name: NormalizedName
    version: str
    size: int
    bytecode: int
    files: int


@dataclass(frozen=True)
class InstalledSize:
    """What a set weighs installed: every regular file of the target directory (``total``), and each
    distribution's own files (sorted by name). ``total`` is at least the sum of the distributions'."""

    total: int
    distributions: tuple[InstalledDistribution, ...]

    def by_name(self) -> Mapping[str, InstalledDistribution]:
        return {dist.name: dist for dist in self.distributions}


def install_target(
    wheels: Sequence[Path], target: Path, *, python: Path | None = None, pip_args: Sequence[str] = ()
) -> InstalledSize:
    """Install ``wheels`` with ``python -m pip install --no-index --no-deps --target TARGET`` (default: this
    interpreter) into ``target``, which must be new or empty, and measure it.

    pip compiles bytecode (its default) with ``python``, so ``.pyc`` files are of that Python's version.
    ``pip_args`` go to pip as they are: for wheels of another platform, pip's target options
    (:meth:`slimwheel.fetch.Target.pip_args`), without which pip refuses them. A failure is one line, pip's full
    output in ``pip-install-<target name>.log`` beside ``target``.
    """
    if not wheels:
        raise WheelhouseError(f"{target}: no wheels to install")
    target = Path(target).absolute()
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise WheelhouseError(f"{target}: the install target must be a new or empty directory")
    cmd = _pip(python or sys.executable, "install", "--no-index", "--no-deps", "--target", str(target))
    cmd += [*pip_args, *(str(Path(wheel).absolute()) for wheel in wheels)]
    try:
        _run(cmd, dest=target.parent, log_name=f"pip-install-{target.name}.log", what=f"pip install --target {target}")
    except FetchError as exc:
        raise WheelhouseError(exc.message) from None
    return measure(target)


def measure(target: Path) -> InstalledSize:
    """The sizes of what pip installed in ``target`` (``--target``): see :class:`InstalledSize`."""
    total = sum(size for _, size in _regular_files(target))
    distributions = [_distribution(record, target) for record in sorted(target.glob("*.dist-info/RECORD"))]
    return InstalledSize(total, tuple(sorted(distributions, key=lambda dist: dist.name)))


def _regular_files(root: Path) -> Iterable[tuple[Path, int]]:
    for directory, _, names in os.walk(root):
        for name in names:
            path = Path(directory, name)
            info = path.lstat()
            if stat.S_ISREG(info.st_mode):
                yield path, info.st_size


def _distribution(record: Path, target: Path) -> InstalledDistribution:
    """One distribution's files: its RECORD's paths (``../../bin/x``, relative to pip's temporary site-packages,
    is ``bin/x`` under the target) and the bytecode of its ``.py`` files."""
    stem = record.parent.name.removesuffix(".dist-info")
    name, _, version = stem.partition("-")
    paths: set[Path] = set()
    try:
        rows = record.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as exc:
        raise WheelhouseError(f"{record}: can't read it ({exc.strerror or exc})") from None
    for line in rows:
        entry = _record_path(line)
        if not entry:
            continue
        relative = re.sub(r"^(\.\./)+", "", posixpath.normpath(entry))
        path = target / relative
        paths.add(path)
        if path.suffix == ".py":
            paths.update(path.parent.glob(f"__pycache__/{path.stem}.*.pyc"))
    size = bytecode = files = 0
    for path in paths:
        try:
            info = path.lstat()
        except OSError:
            continue
        if stat.S_ISREG(info.st_mode):
            size += info.st_size
            files += 1
            bytecode += info.st_size if path.suffix == ".pyc" else 0
    return InstalledDistribution(canonicalize_name(name), version, size, bytecode, files)


def _record_path(line: str) -> str:
    """The path of a RECORD row (CSV: a path with a comma is quoted)."""
    if line.startswith('"'):
        end = line.find('",', 1)
        return line[1:end].replace('""', '"') if end > 0 else ""
    return line.rsplit(",", 2)[0] if line.count(",") >= 2 else ""


# ---------------------------------------------------------------------------------------------- duplicates


_NATIVE = re.compile(r"\.(?:so(?:\.[0-9]+)*|pyd|dll|dylib)$", re.IGNORECASE)


@dataclass(frozen=True)
class LibraryCopy:
    """One copy of a native library: the wheel and its path inside."""

    wheel: Path
    path: str


@dataclass(frozen=True)
class Duplicate:
    """The same native library (same sha256) in two or more wheels of a set; ``wasted`` is the size of the copies
    beyond the first."""

    sha256: str
    size: int
    copies: tuple[LibraryCopy, ...]

    @property
    def wasted(self) -> int:
        return self.size * (len(self.copies) - 1)


def duplicate_libraries(wheels: Sequence[Path]) -> list[Duplicate]:
    """Native libraries with identical bytes vendored by two or more of ``wheels``, most wasted bytes first.

    Only libraries of a size found in two wheels are hashed (streamed, chunk by chunk).
    """
    members = {Path(wheel): _native_members(wheel) for wheel in wheels}
    wheels_of_size: dict[int, set[Path]] = defaultdict(set)
    for wheel, infos in members.items():
        for info in infos:
            wheels_of_size[info.file_size].add(wheel)
    copies: dict[tuple[str, int], list[LibraryCopy]] = defaultdict(list)
    for wheel, infos in members.items():
        candidates = [info for info in infos if len(wheels_of_size[info.file_size]) > 1]
        for info, digest in zip(candidates, _members_sha256(wheel, candidates), strict=True):
            copies[(digest, info.file_size)].append(LibraryCopy(wheel, info.filename))
    found = [
        Duplicate(digest, size, tuple(sorted(places, key=lambda copy: (copy.wheel.name, copy.path))))
        for (digest, size), places in copies.items()
        if len({copy.wheel for copy in places}) > 1
    ]
    return sorted(found, key=lambda dup: (-dup.wasted, dup.sha256))


def _native_members(wheel: Path) -> list[zipfile.ZipInfo]:
    try:
        with zipfile.ZipFile(wheel) as archive:
            return [info for info in archive.infolist() if not info.is_dir() and _NATIVE.search(info.filename)]
    except (OSError, zipfile.BadZipFile) as exc:
        raise WheelhouseError(f"{wheel}: can't read the wheel ({getattr(exc, 'strerror', None) or exc})") from None


def _members_sha256(wheel: Path, infos: Sequence[zipfile.ZipInfo]) -> list[str]:
    """The sha256 of each of ``infos`` in ``wheel``, each member streamed in chunks."""
    if not infos:
        return []
    digests: list[str] = []
    try:
        with zipfile.ZipFile(wheel) as archive:
            for info in infos:
                with archive.open(info) as stream:
                    digests.append(_sha256(stream))
    except (OSError, zipfile.BadZipFile, zlib.error, RuntimeError, NotImplementedError) as exc:
        raise WheelhouseError(f"{wheel}: can't read its native libraries ({exc})") from None
    return digests
