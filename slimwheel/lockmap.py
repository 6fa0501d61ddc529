"""Carrying a lock over to another build of the same project version: the lock's paths matched to the target's.

A lock learned on one wheel (``numpy-2.4.6-cp311-cp311-manylinux_2_28_x86_64.whl``) can be replayed on the same
version built for other platform tags (``win_amd64``, ``win32``): :func:`map_lock` matches the lock's paths to the
target's by :func:`path_signature`, a key that is equal for the builds of one file on different platforms, and
refuses to guess whenever a key is shared by several paths. The result, a :class:`MappedLock`, lists what is
carried over and what is not (unmapped lock paths, unknown and ambiguous target paths are kept).

It works on archive paths only: it reads no wheel and no zip file, and knows nothing of shrinking, reports or the
command line (no :mod:`slimwheel.contents`, :mod:`slimwheel.shrink` or :mod:`slimwheel.cli`). What a lock is, and
reading and writing one, is :mod:`slimwheel.lock`.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from packaging.utils import canonicalize_name
from packaging.version import Version

from .lock import Lock, LockError, StubRecord, WheelIdentity

# Extension-module ABI tags: "cpython-311-x86_64-linux-gnu", "cpython-311-darwin", "cp311-win_amd64", "abi3",
# "pypy310-pp73-x86_64-linux-gnu", "cpython-313t-...", "graalpy311-...".
_EXT_TAG = re.compile(r"(?:abi\d+|cpython-\d+[a-z]*(?:-\w+)*|cp\d+[a-z]*(?:-\w+)*|(?:pypy|graalpy)\d*[a-z]*(?:-\w+)*)")
_SHARED_SUFFIX = re.compile(r"(?:\.so(?:\.\d+)*|(?:\.\d+)*\.dylib|\.dll)$")
_STATIC_SUFFIX = re.compile(r"(?:\.dll\.a|\.a|\.lib)$")
_HASH_SUFFIX = re.compile(r"-(?:[0-9a-f]{8}|[0-9a-f]{32})$")  # auditwheel (8 hex digits), delvewheel (32)
_MINGW_VERSION = re.compile(r"-\d+$")  # libgfortran-5.dll
_PYC = re.compile(r"^([^.]+)\.[^.]+((?:\.opt-\d+)?)\.pyc$")


def _library_name(name: str, *, dll: bool) -> str:
    """The platform-independent name of a shared or static library file name without its suffix."""
    name = name.lower()
    while True:
        shorter = _HASH_SUFFIX.sub("", name)
        if shorter == name or not shorter:
            break
        name = shorter
    if dll:
        name = _MINGW_VERSION.sub("", name) or name
    if name.startswith("lib") and len(name) > 3:
        name = name[3:]
    return name


def _native(name: str) -> tuple[str, str] | None:
    """(kind, key) for the file name of an extension module or a library outside a vendored folder, else None."""
    lower = name.lower()
    if lower.endswith(".pyd"):
        return "ext", name.split(".", 1)[0]
    if lower.endswith(".so"):
        base = name[: -len(".so")]
        stem, dot, tag = base.partition(".")
        if dot and _EXT_TAG.fullmatch(tag.lower()):
            return "ext", stem
        if not dot and not lower.startswith("lib"):
            return "ext", stem  # a tagless extension module: onnxruntime_pybind11_state.so
    shared = _SHARED_SUFFIX.search(lower)
    if shared:
        return "lib", _library_name(lower[: shared.start()], dll=shared[0] == ".dll")
    static = _STATIC_SUFFIX.search(lower)
    if static:
        stem, dot, tag = lower[: static.start()].partition(".")
        if dot and not _EXT_TAG.fullmatch(tag):
            stem = f"{stem}.{tag}"
        return "static", _library_name(stem, dll=False)
    return None


def _vendored_part(parts: list[str]) -> list[str] | None:
    """The path inside a vendored-library folder (``numpy.libs/``, ``numpy/.libs/``, ``numpy/.dylibs/``)."""
    if len(parts) >= 2 and parts[0].endswith(".libs") and len(parts[0]) > len(".libs"):
        return parts[1:]
    for index, part in enumerate(parts[:-1]):
        if part in (".libs", ".dylibs") and index > 0:
            return parts[index + 1 :]
    return None


def path_signature(path: str) -> str:
    """The key :func:`map_lock` matches paths by: equal for the builds of one file on different platforms.

    A signature is ``<kind>:<key>``:

    - ``ext:<dir>/<module>``: an extension module, whatever its ABI tag: ``_mod.cpython-311-x86_64-linux-gnu.so``,
      ``_mod.cpython-311-aarch64-linux-gnu.so``, ``_mod.cpython-311-darwin.so``, ``_mod.abi3.so``,
      ``_mod.cp311-win_amd64.pyd``, ``_mod.cp311-win32.pyd``, ``_mod.pyd``, and a tagless ``_mod.so`` whose name
      does not start with ``lib``. The module name keeps its case.
    - ``vendored:<name>``: a file in a folder of vendored libraries, whichever tool made it: auditwheel's and
      delvewheel's ``<dist>.libs/``, old delvewheel's and old auditwheel's ``<package>/.libs/``, delocate's
      ``<package>/.dylibs/`` (the folder itself is not part of the key). Library names are normalized as below.
    - ``lib:<dir>/<name>``: a shared library elsewhere (``.so``, ``.so.N.M``, ``.dylib``, ``.N.dylib``, ``.dll``;
      a tagless ``.so`` starting with ``lib``), e.g. ``onnxruntime/capi/libonnxruntime.so.1.31.1`` and
      ``onnxruntime/capi/onnxruntime.dll`` are both ``lib:onnxruntime/capi/onnxruntime``.
    - ``static:<dir>/<name>``: a static or import library (``.a``, ``.lib``, ``.dll.a``):
      ``numpy/_core/lib/libnpymath.a`` and ``numpy/_core/lib/npymath.lib``; an ABI tag is dropped
      (``_umath_tests.cp311-win_amd64.lib``).
    - ``script:<data dir>/scripts/<name>``: a script, without a ``.exe`` suffix (``f2py.exe`` and ``f2py``).
    - ``bytecode:<dir>/__pycache__/<module>[.opt-N]``: a ``.pyc`` file, whatever its interpreter tag.
    - ``file:<path>``: anything else, unchanged (pure Python, data, headers, ``.dist-info`` files).

    Library names are lowercased (Windows file names are case-insensitive); lose their suffix with any version
    (``.so.5.0.0``, ``.5.dylib``, ``.dll``), the hash suffixes auditwheel and delvewheel add (``-ff651d7f``,
    ``-860d95b1c38e637ce4509f5fa24fbf2a``, also two in a row: ``libgfortran-040039e1-0352e75f.so.5.0.0``), a
    MinGW version of a ``.dll`` (``libgfortran-5.dll``) and the ``lib`` prefix: ``libscipy_openblas64_-ff651d7f.so``
    and ``libscipy_openblas64_-860d95b1c38e637ce4509f5fa24fbf2a.dll`` are both ``vendored:scipy_openblas64_``.
    The first component of a path under ``<name>-<version>.dist-info`` or ``.data`` has its name canonicalized.
    """
    parts = path.split("/")
    first = parts[0]
    for suffix in (".dist-info", ".data"):
        if len(parts) > 1 and first.endswith(suffix):
            name, dash, version = first[: -len(suffix)].rpartition("-")
            if dash:
                parts[0] = f"{canonicalize_name(name)}-{version}{suffix}"
    if len(parts) == 3 and parts[0].endswith(".data") and parts[1] == "scripts":
        script = parts[2][: -len(".exe")] if parts[2].lower().endswith(".exe") else parts[2]
        return f"script:{parts[0]}/scripts/{script}"
    vendored = _vendored_part(parts)
    if vendored is not None:
        name = vendored[-1].lower()
        shared = _SHARED_SUFFIX.search(name)
        if shared:
            name = _library_name(name[: shared.start()], dll=shared[0] == ".dll")
        return "vendored:" + "/".join([*(part.lower() for part in vendored[:-1]), name])
    directory = "/".join(parts[:-1])
    prefix = directory + "/" if directory else ""
    native = _native(parts[-1])
    if native is not None:
        return f"{native[0]}:{prefix}{native[1]}"
    if len(parts) > 1 and parts[-2] == "__pycache__":
        pyc = _PYC.match(parts[-1])
        if pyc:
            return f"bytecode:{prefix}{pyc[1]}{pyc[2]}"
    return "file:" + "/".join(parts)


@dataclass(frozen=True)
class MappedLock:
    """A lock's decisions carried over to a target wheel's paths by :func:`map_lock`.

    Every target path the lock does not remove, stub out or strip is kept: the ones the lock also kept, the
    ``unknown`` ones, and the ``ambiguous`` ones. Nothing is guessed: a lock path whose counterpart is missing or
    not unique is listed in ``unmapped`` (or ``unmapped_stripped``) and its counterpart, if any, is kept.
    """

    removed: dict[str, str]  # target path -> reason
    stubs: tuple[StubRecord, ...]  # with target paths
    stripped: frozenset[str]  # target paths to strip
    unmapped: tuple[str, ...]  # lock paths removed or stub-replaced with no unique counterpart in the target
    unknown: tuple[str, ...]  # target paths matching nothing in the lock: kept
    mapped: int  # removals (stub-replaced files included) carried over
    total: int  # removals (stub-replaced files included) in the lock
    notes: tuple[str, ...] = ()  # one-line remarks: another build of the same tag, another platform, ...
    ambiguous: tuple[str, ...] = ()  # target paths kept because their signature is shared (see path_signature)
    unmapped_stripped: tuple[str, ...] = ()  # lock paths stripped with no unique counterpart: left unstripped
    counterparts: dict[str, str] = field(default_factory=dict)  # lock path -> target path, for every mapped one

    @property
    def coverage(self) -> float:
        return self.mapped / self.total if self.total else 1.0


def map_lock(lock: Lock, target: WheelIdentity, target_paths: Iterable[str]) -> MappedLock:
    """Carry ``lock`` over to the wheel ``target`` with the archive paths ``target_paths``.

    The target must be the same project and version (:class:`LockError` otherwise); its tag may differ. Paths
    present in both wheels map to themselves; the others are matched by :func:`path_signature` when exactly one
    lock path and exactly one target path have that signature. Directory entries (``.../``) are ignored.
    """
    notes = _notes(lock.wheel, target)
    decision = _decisions(lock)
    targets = sorted({path for path in target_paths if not path.endswith("/")})
    lock_by_signature = _by_signature(decision)
    counterpart = _counterparts(decision, targets, lock_by_signature)
    unknown, ambiguous = _unmatched(targets, set(counterpart.values()), decision, lock_by_signature)
    removed = {counterpart[path]: reason for path, reason in lock.removed.items() if path in counterpart}
    unmapped = [path for path in lock.removed if path not in counterpart]
    stubs = _carry_stubs(lock.stubs, counterpart, set(targets), unmapped)  # drops the paths of stubs not carried
    return MappedLock(
        removed=dict(sorted(removed.items())),
        stubs=tuple(stubs),
        stripped=frozenset(counterpart[path] for path in lock.stripped if path in counterpart),
        unmapped=tuple(sorted(unmapped)),
        unknown=tuple(unknown),
        mapped=len(removed) + sum(len(stub.replaces) for stub in stubs),
        total=len(lock.removed) + sum(len(stub.replaces) for stub in lock.stubs),
        notes=notes,
        ambiguous=tuple(ambiguous),
        unmapped_stripped=tuple(sorted(path for path in lock.stripped if path not in counterpart)),
        counterparts={path: counterpart[path] for path in sorted(counterpart) if decision[path] != "kept"},
    )


def _notes(learned: WheelIdentity, target: WheelIdentity) -> tuple[str, ...]:
    """The remarks on carrying a lock learned on ``learned`` over to ``target``; :class:`LockError` if it can't be."""
    if learned.name != target.name or Version(learned.version) != Version(target.version):
        raise LockError(
            f"the lock was learned on {learned.name} {learned.version} ({learned.filename}) and can't be applied to"
            f" {target.name} {target.version} ({target.filename}): a lock only carries over to the same project"
            " version"
        )
    if learned.tag == target.tag and learned.sha256 != target.sha256:
        return (
            f"{target.filename} is not the file the lock was learned on (sha256 {target.sha256[:12]}... instead of"
            f" {learned.sha256[:12]}...): same tag, another build; paths mapped by signature",
        )
    if learned.tag != target.tag:
        return (f"the lock was learned on {learned.tag}; mapped onto {target.tag} by path signature",)
    return ()


def _decisions(lock: Lock) -> dict[str, str]:
    """Every lock path with its decision: "removed", "stub", "stripped" or "kept"."""
    decision: dict[str, str] = dict.fromkeys(lock.kept, "kept")
    decision.update(dict.fromkeys(lock.stripped, "stripped"))
    decision.update(dict.fromkeys(lock.removed, "removed"))
    for stub in lock.stubs:
        decision.update(dict.fromkeys(stub.replaces, "stub"))
    return decision


def _by_signature(paths: Iterable[str]) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = defaultdict(list)
    for path in paths:
        groups[path_signature(path)].append(path)
    return dict(groups)


def _counterparts(
    decision: Mapping[str, str], targets: Sequence[str], lock_by_signature: Mapping[str, list[str]]
) -> dict[str, str]:
    """Lock path → target path: the same path if the target has it, else the one target path with the signature of
    the lock path, if no other lock path has that signature either."""
    target_set = set(targets)
    counterpart = {path: path for path in decision if path in target_set}
    matched = set(counterpart.values())
    target_by_signature = _by_signature(targets)
    for signature, lock_paths in lock_by_signature.items():
        target_group = target_by_signature.get(signature, [])
        unique = len(lock_paths) == len(target_group) == 1
        if unique and lock_paths[0] not in counterpart and target_group[0] not in matched:
            counterpart[lock_paths[0]] = target_group[0]
            matched.add(target_group[0])
    return counterpart


def _unmatched(
    targets: Sequence[str], matched: set[str], decision: Mapping[str, str], lock_by_signature: Mapping[str, list[str]]
) -> tuple[list[str], list[str]]:
    """The target paths no lock path maps to: (unknown ones, whose signature no lock path has; ambiguous ones, whose
    signature lock paths share, not all of them kept)."""
    unknown: list[str] = []
    ambiguous: list[str] = []
    for path in targets:
        if path in matched:
            continue
        signature = path_signature(path)
        if signature not in lock_by_signature:
            unknown.append(path)
        elif any(decision[lock_path] != "kept" for lock_path in lock_by_signature[signature]):
            ambiguous.append(path)  # (a signature shared by several paths: a unique pair was matched above)
    return unknown, ambiguous


def _carry_stubs(
    stubs: Iterable[StubRecord], counterpart: dict[str, str], target_set: set[str], unmapped: list[str]
) -> list[StubRecord]:
    """The stubs with target paths. A stub that can't be carried over is dropped whole: its paths are removed from
    ``counterpart`` (the module is kept) and added to ``unmapped``, like the paths a carried stub lost."""
    carried: list[StubRecord] = []
    for stub in stubs:
        replaces = [counterpart[path] for path in stub.replaces if path in counterpart]
        if stub.stub_path in stub.replaces:  # the stub takes the place of a file: the target must have it too
            usable = stub.stub_path in counterpart
            stub_path = counterpart.get(stub.stub_path, stub.stub_path)
        else:  # a new file: it must not overwrite a target file the lock did not decide about
            usable = stub.stub_path not in target_set
            stub_path = stub.stub_path
        if not replaces or not usable:
            unmapped.extend(stub.replaces)  # keep the module whole
            for path in stub.replaces:
                counterpart.pop(path, None)
            continue
        carried.append(StubRecord(stub.module, stub_path, tuple(replaces)))
        unmapped.extend(path for path in stub.replaces if path not in counterpart)
    return carried
