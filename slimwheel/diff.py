"""``slimwheel diff``: what changed in size between two wheels, file by file, and where.

:func:`diff_wheels` turns two read wheels (:class:`~slimwheel.contents.Wheel`, OLD and NEW) into plain data
(:class:`WheelDiff`): every file matched, added or removed with its compressed and installed bytes on each side;
totals (archive, compressed members, installed); sums per category (:mod:`slimwheel.categories`, each side's file
in its own category) and per directory (top level and second level). :func:`to_json` serialises it
(``schema_version``), :func:`renderables` makes rich views of it, :func:`gate` decides a ``--max-growth`` budget
and :func:`treemap_rows` yields the per-file rows (path, old size, new size, status) an HTML treemap colours by
growth. Two directories of wheels are a :class:`SetDiff`: their file names paired by project (:func:`pair_wheels`),
a :class:`WheelDiff` per pair, the wheels of one side only, and sums over each side (:func:`set_json`,
:func:`set_renderables`).

Guarantees:

* Paths are matched in two rounds (:func:`match_paths`): a path present in both wheels is its own counterpart;
  only the remaining ones are matched by :func:`diff_signature` — :func:`slimwheel.lockmap.path_signature` (equal
  for the builds of one file on different platform tags: ``.so`` and ``.pyd``, vendored libraries with their
  hash suffixes) after the version of the ``<name>-<version>.dist-info``/``.data`` directory is dropped, so that
  it also holds across versions. A signature shared by several remaining paths on either side is never guessed:
  those paths stay unmatched (counted as removed and added) and are listed as ambiguous.
* Every file is counted once on each side it exists on: the category sums and the top-level directory sums of
  a side add up to that side's totals, exactly (second-level directories hold only the files below them).
* A file's status is by content: "unchanged" means the same bytes (sha256), "changed" anything else, even at the
  same size.
* Nothing here prints, reads a stream or exits: text goes through the caller's ``safe``, and no path is ever
  wrapped or cut (:class:`~slimwheel.console.NameTable`).

Must not know: zip files (the wheels come read, through :func:`slimwheel.contents.read_wheel`), the command line,
or how an HTML page is drawn (that is the renderer's, fed by :func:`treemap_rows`).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from packaging.utils import InvalidWheelFilename, parse_wheel_filename
from rich.console import Group, RenderableType
from rich.text import Text

from .categories import Category, categorize_entries
from .console import Field, NameTable, plural
from .contents import Wheel
from .errors import BadWheel, UsageError
from .lockmap import path_signature
from .units import human_size, parse_size

__all__ = [
    "SCHEMA_VERSION",
    "Ambiguity",
    "Amount",
    "FileDiff",
    "GateResult",
    "GroupDiff",
    "Limit",
    "Matching",
    "Measure",
    "SetDiff",
    "Side",
    "Status",
    "TreemapRow",
    "WheelDiff",
    "WheelPairs",
    "WheelSummary",
    "diff_signature",
    "diff_wheels",
    "gate",
    "match_paths",
    "pair_wheels",
    "parse_limit",
    "renderables",
    "set_json",
    "set_renderables",
    "summarize",
    "to_json",
    "treemap_rows",
]

#: Version of the ``--json`` document; bumped on any incompatible change.
SCHEMA_VERSION = 1

#: The name of the directory holding files at the root of a wheel, in the directory sums.
ROOT = "."


class Status(StrEnum):
    ADDED = "added"  # only in NEW
    REMOVED = "removed"  # only in OLD
    CHANGED = "changed"  # in both, other content
    UNCHANGED = "unchanged"  # in both, the same content


class Measure(StrEnum):
    """What "size" means: compressed bytes (members; for totals and the gate, the archive file), or installed."""

    COMPRESSED = "compressed"
    INSTALLED = "installed"


# ----------------------------------------------------------------------------------------------------------
# Matching paths
# ----------------------------------------------------------------------------------------------------------

_VERSIONED_TOP = re.compile(r"^(?P<name>[^/]+)-[^-/]+\.(?P<suffix>dist-info|data)(?=/)")


def diff_signature(path: str) -> str:
    """:func:`~slimwheel.lockmap.path_signature` of ``path`` with the version of a leading
    ``<name>-<version>.dist-info``/``.data`` directory dropped: equal for one file across platform tags and
    versions (``numpy-2.4.5.dist-info/METADATA`` and ``numpy-2.4.6.dist-info/METADATA``)."""
    return path_signature(_VERSIONED_TOP.sub(r"\g<name>-*.\g<suffix>", path, count=1))


@dataclass(frozen=True)
class Ambiguity:
    """A signature shared by several paths left unmatched on one side or both: none of them is matched."""

    signature: str
    old: tuple[str, ...]
    new: tuple[str, ...]


@dataclass(frozen=True)
class Matching:
    """OLD paths paired with NEW paths: ``exact`` (same path), ``by_signature`` (old → new), the rest."""

    exact: tuple[str, ...]
    by_signature: tuple[tuple[str, str], ...]
    removed: tuple[str, ...]
    added: tuple[str, ...]
    ambiguous: tuple[Ambiguity, ...]


def match_paths(old_paths: Iterable[str], new_paths: Iterable[str]) -> Matching:
    """Pair ``old_paths`` with ``new_paths``: the same path first, then, among the paths left, the one old and the
    one new path sharing a :func:`diff_signature`. A signature that more than one left-over path has, on either
    side, matches nothing (:class:`Ambiguity`); its paths are removed and added."""
    old, new = sorted(set(old_paths)), sorted(set(new_paths))
    new_set = set(new)
    exact = tuple(p for p in old if p in new_set)
    exact_set = set(exact)
    old_left: dict[str, list[str]] = defaultdict(list)
    new_left: dict[str, list[str]] = defaultdict(list)
    for p in old:
        if p not in exact_set:
            old_left[diff_signature(p)].append(p)
    for p in new:
        if p not in exact_set:
            new_left[diff_signature(p)].append(p)
    pairs: list[tuple[str, str]] = []
    ambiguous: list[Ambiguity] = []
    matched_old: set[str] = set()
    matched_new: set[str] = set()
    for signature in sorted(set(old_left) & set(new_left)):
        olds, news = old_left[signature], new_left[signature]
        if len(olds) == len(news) == 1:
            pairs.append((olds[0], news[0]))
            matched_old.add(olds[0])
            matched_new.add(news[0])
        else:
            ambiguous.append(Ambiguity(signature, tuple(olds), tuple(news)))
    return Matching(
        exact=exact,
        by_signature=tuple(pairs),
        removed=tuple(p for p in old if p not in exact_set and p not in matched_old),
        added=tuple(p for p in new if p not in exact_set and p not in matched_new),
        ambiguous=tuple(ambiguous),
    )


# ----------------------------------------------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Amount:
    """Files and bytes of a set of files on one side."""

    files: int = 0
    compressed: int = 0
    installed: int = 0

    def __add__(self, other: Amount) -> Amount:
        return Amount(self.files + other.files, self.compressed + other.compressed, self.installed + other.installed)

    def __sub__(self, other: Amount) -> Amount:
        return Amount(self.files - other.files, self.compressed - other.compressed, self.installed - other.installed)

    def of(self, measure: Measure) -> int:
        return self.compressed if measure is Measure.COMPRESSED else self.installed


@dataclass(frozen=True)
class Side:
    """One file in one wheel."""

    path: str
    category: Category
    compressed: int
    installed: int

    @property
    def amount(self) -> Amount:
        return Amount(1, self.compressed, self.installed)


@dataclass(frozen=True)
class FileDiff:
    """One file of OLD, NEW or both; ``match`` says how a pair was matched ("exact", "signature"; "" for none)."""

    old: Side | None
    new: Side | None
    match: str
    status: Status

    @property
    def path(self) -> str:
        """The file's path in NEW, or in OLD for a removed file."""
        side = self.new or self.old
        assert side is not None
        return side.path

    def size(self, measure: Measure, *, new: bool) -> int:
        side = self.new if new else self.old
        return 0 if side is None else side.amount.of(measure)

    def delta(self, measure: Measure) -> int:
        return self.size(measure, new=True) - self.size(measure, new=False)


@dataclass(frozen=True)
class GroupDiff:
    """A category or a directory: what its files add up to on each side."""

    key: str
    old: Amount
    new: Amount

    @property
    def delta(self) -> Amount:
        return self.new - self.old


@dataclass(frozen=True)
class WheelSummary:
    filename: str
    name: str
    version: str
    tags: tuple[str, ...]
    archive: int  # the wheel file's bytes
    total: Amount  # members: files, compressed and installed bytes

    def size(self, measure: Measure) -> int:
        """The archive file's bytes (compressed) or the installed bytes."""
        return self.archive if measure is Measure.COMPRESSED else self.total.installed


@dataclass(frozen=True)
class WheelDiff:
    old: WheelSummary
    new: WheelSummary
    files: tuple[FileDiff, ...]  # by path (NEW's, or OLD's for removed files)
    ambiguous: tuple[Ambiguity, ...]
    categories: tuple[GroupDiff, ...]  # by category order
    top_directories: tuple[GroupDiff, ...]  # by path
    second_directories: tuple[GroupDiff, ...]  # by path

    def size(self, measure: Measure, *, new: bool) -> int:
        """A side's archive bytes (compressed) or installed bytes."""
        return (self.new if new else self.old).size(measure)

    def with_status(self, *statuses: Status) -> list[FileDiff]:
        return [f for f in self.files if f.status in statuses]

    def growers(self, measure: Measure, top: int | None = None) -> list[FileDiff]:
        """Files in both wheels that grew on ``measure``, most first."""
        grown = [f for f in self.with_status(Status.CHANGED) if f.delta(measure) > 0]
        grown.sort(key=lambda f: (-f.delta(measure), f.path))
        return grown if top is None else grown[:top]

    def shrinkers(self, measure: Measure, top: int | None = None) -> list[FileDiff]:
        """Files in both wheels that shrank on ``measure``, most first."""
        shrunk = [f for f in self.with_status(Status.CHANGED) if f.delta(measure) < 0]
        shrunk.sort(key=lambda f: (f.delta(measure), f.path))
        return shrunk if top is None else shrunk[:top]

    def biggest(self, status: Status, measure: Measure, top: int | None = None) -> list[FileDiff]:
        """Added or removed files, biggest first."""
        items = self.with_status(status)
        items.sort(key=lambda f: (-max(f.size(measure, new=True), f.size(measure, new=False)), f.path))
        return items if top is None else items[:top]

    @property
    def renamed(self) -> list[FileDiff]:
        """Pairs matched by signature (another path: a version, a platform tag, a hash)."""
        return [f for f in self.files if f.match == "signature"]


def summarize(wheel: Wheel) -> WheelSummary:
    """A wheel's names, tags and sizes."""
    total = Amount(len(wheel.entries), sum(wheel.compressed_sizes.values()), wheel.installed_size)
    return WheelSummary(
        filename=wheel.filename,
        name=str(wheel.name),
        version=str(wheel.version),
        tags=tuple(sorted(str(t) for t in wheel.tags)),
        archive=wheel.archive_size,
        total=total,
    )


def _sides(wheel: Wheel) -> dict[str, Side]:
    categories = categorize_entries(wheel)
    return {e.path: Side(e.path, categories[e.path], wheel.compressed_sizes[e.path], e.size) for e in wheel.entries}


def _same_content(old: Wheel, new: Wheel, old_path: str, new_path: str) -> bool:
    a, b = old.by_path[old_path], new.by_path[new_path]
    return a.size == b.size and a.digests()[0] == b.digests()[0]


def diff_wheels(old: Wheel, new: Wheel) -> WheelDiff:
    """Everything ``slimwheel diff`` reports about OLD → NEW (see the module docstring)."""
    old_sides, new_sides = _sides(old), _sides(new)
    matching = match_paths(old_sides, new_sides)
    files: list[FileDiff] = []
    pairs = [(p, p, "exact") for p in matching.exact] + [(a, b, "signature") for a, b in matching.by_signature]
    for a, b, how in pairs:
        status = Status.UNCHANGED if _same_content(old, new, a, b) else Status.CHANGED
        files.append(FileDiff(old_sides[a], new_sides[b], how, status))
    files.extend(FileDiff(old_sides[p], None, "", Status.REMOVED) for p in matching.removed)
    files.extend(FileDiff(None, new_sides[p], "", Status.ADDED) for p in matching.added)
    files.sort(key=lambda f: (f.path, f.status != Status.REMOVED))
    renames = {old.dist_info: new.dist_info, old.data_dir: new.data_dir}  # a removed file's place in NEW's tree
    top = _groups(files, lambda f, side: _directory(f, side, renames, 1))
    second = _groups(files, lambda f, side: _directory(f, side, renames, 2))
    order = list(Category)
    by_category = _groups(files, lambda f, side: str(side.category))
    categories = sorted(by_category, key=lambda g: order.index(Category(g.key)))
    return WheelDiff(
        old=summarize(old),
        new=summarize(new),
        files=tuple(files),
        ambiguous=matching.ambiguous,
        categories=tuple(categories),
        top_directories=tuple(top),
        second_directories=tuple(g for g in second if g.key.count("/") == 2),
    )


def _directory(f: FileDiff, side: Side, renames: Mapping[str, str], depth: int) -> str:
    """The directory (``a/``, ``a/b/``; :data:`ROOT` for the top level) a file is summed under at ``depth``.
    A file of OLD's dist-info or data directory is summed under NEW's, so a new version is not a new directory."""
    parts = side.path.split("/")[:-1]
    if parts and side is f.old:
        parts[0] = renames.get(parts[0], parts[0])
    if not parts:
        return ROOT + "/"
    return "/".join(parts[:depth]) + "/"


def _groups(files: Sequence[FileDiff], key: Callable[[FileDiff, Side], str]) -> list[GroupDiff]:
    old: dict[str, Amount] = defaultdict(Amount)
    new: dict[str, Amount] = defaultdict(Amount)
    for f in files:
        if f.old is not None:
            old[key(f, f.old)] += f.old.amount
        if f.new is not None:
            new[key(f, f.new)] += f.new.amount
    return [GroupDiff(k, old.get(k, Amount()), new.get(k, Amount())) for k in sorted(set(old) | set(new))]


# ----------------------------------------------------------------------------------------------------------
# Sets of wheels (directories)
# ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WheelPairs:
    """Wheel file names of OLD paired with NEW's by distribution (:func:`pair_wheels`), and the rest."""

    pairs: tuple[tuple[str, str], ...]
    removed: tuple[str, ...]
    added: tuple[str, ...]


def _wheel_key(filename: str) -> tuple[str, frozenset[str]]:
    """(normalized project name, platform tags) of a wheel file name; :class:`BadWheel` if it isn't one."""
    try:
        name, _version, _build, tags = parse_wheel_filename(filename)
    except InvalidWheelFilename as exc:
        raise BadWheel(filename, f"not a valid wheel file name ({exc})") from None
    return str(name), frozenset(t.platform for t in tags)


def pair_wheels(old_names: Iterable[str], new_names: Iterable[str]) -> WheelPairs:
    """Pair wheel file names by project, whatever their versions and tags: the one wheel of a project on each
    side; where a project has several (one per platform), the one with the same platform tags on each side.
    Nothing is guessed: a wheel without a unique counterpart is removed (OLD) or added (NEW)."""
    old, new = sorted(set(old_names)), sorted(set(new_names))
    old_keys, new_keys = {n: _wheel_key(n) for n in old}, {n: _wheel_key(n) for n in new}
    pairs: list[tuple[str, str]] = []
    for project in sorted({k[0] for k in old_keys.values()} & {k[0] for k in new_keys.values()}):
        olds = [n for n in old if old_keys[n][0] == project]
        news = [n for n in new if new_keys[n][0] == project]
        if len(olds) == len(news) == 1:
            pairs.append((olds[0], news[0]))
            continue
        for o in olds:
            same = [n for n in news if new_keys[n] == old_keys[o]]
            if len(same) == 1 and sum(old_keys[x] == old_keys[o] for x in olds) == 1:
                pairs.append((o, same[0]))
    paired_old, paired_new = {a for a, _ in pairs}, {b for _, b in pairs}
    return WheelPairs(
        pairs=tuple(sorted(pairs)),
        removed=tuple(n for n in old if n not in paired_old),
        added=tuple(n for n in new if n not in paired_new),
    )


@dataclass(frozen=True)
class SetDiff:
    """Two sets of wheels (two directories): a :class:`WheelDiff` per pair, and the wheels of one side only."""

    diffs: tuple[WheelDiff, ...]
    removed: tuple[WheelSummary, ...]
    added: tuple[WheelSummary, ...]

    def size(self, measure: Measure, *, new: bool) -> int:
        """A side's archive bytes (compressed) or installed bytes, summed over its wheels."""
        alone = self.added if new else self.removed
        return sum(d.size(measure, new=new) for d in self.diffs) + sum(w.size(measure) for w in alone)

    def files(self, *, new: bool) -> int:
        alone = self.added if new else self.removed
        return sum((d.new if new else d.old).total.files for d in self.diffs) + sum(w.total.files for w in alone)


# ----------------------------------------------------------------------------------------------------------
# The treemap seam
# ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TreemapRow:
    """One file for a treemap coloured by growth: its path (NEW's; OLD's for a removed file), its size on each
    side (0 where it is missing), its status, and its OLD path when that differs (matched by signature)."""

    path: str
    old: int
    new: int
    status: Status
    old_path: str | None = None


def treemap_rows(diff: WheelDiff, measure: Measure = Measure.COMPRESSED) -> Iterator[TreemapRow]:
    """Every file of both wheels once, in path order, sized by ``measure``."""
    for f in diff.files:
        renamed = f.old.path if f.old is not None and f.new is not None and f.old.path != f.new.path else None
        yield TreemapRow(f.path, f.size(measure, new=False), f.size(measure, new=True), f.status, renamed)


# ----------------------------------------------------------------------------------------------------------
# The gate: --max-growth
# ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Limit:
    """A growth budget: bytes (``2MB``, ``1.5MiB``) or a percentage of OLD (``5%``)."""

    text: str
    bytes: int | None = None
    percent: float | None = None

    def allowed(self, old: int) -> int:
        """The most bytes NEW may grow by over ``old``."""
        if self.percent is not None:
            return int(old * self.percent / 100)
        assert self.bytes is not None
        return self.bytes


def parse_limit(text: str) -> Limit:
    """``2MB``, ``1.5MiB``, ``1200`` (bytes) or ``5%``, ``0.5%`` (of OLD); :class:`UsageError` otherwise."""
    stripped = text.strip()
    if stripped.endswith("%"):
        number = stripped[:-1].strip()
        if not re.fullmatch(r"\d+(?:\.\d*)?|\.\d+", number):
            raise UsageError(f"can't read growth {text!r}: use a size (2MB, 1.5MiB) or a percentage (5%)")
        return Limit(stripped, percent=float(number))
    try:
        return Limit(stripped, bytes=parse_size(stripped))
    except UsageError:
        raise UsageError(f"can't read growth {text!r}: use a size (2MB, 1.5MiB) or a percentage (5%)") from None


@dataclass(frozen=True)
class GateResult:
    measure: Measure
    limit: Limit
    old: int
    new: int

    @property
    def growth(self) -> int:
        return self.new - self.old

    @property
    def allowed(self) -> int:
        return self.limit.allowed(self.old)

    @property
    def exceeded(self) -> bool:
        return self.growth > self.allowed

    @property
    def over_by(self) -> int:
        return max(0, self.growth - self.allowed)

    def message(self) -> str:
        """One line: how much NEW grew and by how much that is over the budget (or within it)."""
        what = "archive" if self.measure is Measure.COMPRESSED else "installed size"
        how = "grew" if self.growth > 0 else "shrank" if self.growth < 0 else "did not change"
        grew = f"{what} {how} {human_size(abs(self.growth))} ({_percent(self.old, self.new)})"
        if self.growth == 0:
            grew = f"{what} did not change"
        budget = f"--max-growth {self.limit.text}"
        if self.limit.percent is not None:
            budget += f" = {human_size(self.allowed)}"
        if self.exceeded:
            return f"size regression: {grew}, {human_size(self.over_by)} over {budget}"
        return f"{grew}, within {budget}"

    def to_json(self) -> dict[str, object]:
        return {
            "measure": str(self.measure),
            "limit": self.limit.text,
            "allowed": self.allowed,
            "old": self.old,
            "new": self.new,
            "growth": self.growth,
            "exceeded": self.exceeded,
            "over_by": self.over_by,
        }


def gate(diff: WheelDiff | SetDiff, limit: Limit, measure: Measure = Measure.COMPRESSED) -> GateResult:
    """``--max-growth``: NEW's archive bytes (or installed bytes) against OLD's plus ``limit``; for sets of
    wheels, the sums over every wheel of each side (added and removed wheels included)."""
    return GateResult(measure, limit, diff.size(measure, new=False), diff.size(measure, new=True))


# ----------------------------------------------------------------------------------------------------------
# JSON
# ----------------------------------------------------------------------------------------------------------


def _amount_json(a: Amount) -> dict[str, int]:
    return {"files": a.files, "compressed": a.compressed, "installed": a.installed}


def _group_json(g: GroupDiff) -> dict[str, object]:
    return {"old": _amount_json(g.old), "new": _amount_json(g.new), "delta": _amount_json(g.delta)}


def _side_json(s: Side | None) -> dict[str, object] | None:
    if s is None:
        return None
    return {"path": s.path, "category": str(s.category), "compressed": s.compressed, "installed": s.installed}


def _file_json(f: FileDiff) -> dict[str, object]:
    return {
        "path": f.path,
        "status": str(f.status),
        "match": f.match or None,
        "old": _side_json(f.old),
        "new": _side_json(f.new),
        "delta": {
            "compressed": f.delta(Measure.COMPRESSED),
            "installed": f.delta(Measure.INSTALLED),
        },
    }


def _summary_json(s: WheelSummary) -> dict[str, object]:
    return {
        "filename": s.filename,
        "name": s.name,
        "version": s.version,
        "tags": list(s.tags),
        "archive_size": s.archive,
        **_amount_json(s.total),
    }


def _total_json(old: int, new: int) -> dict[str, object]:
    return {"old": old, "new": new, "delta": new - old, "percent": _ratio(old, new)}


def _ratio(old: int, new: int) -> float | None:
    return None if old == 0 else round((new - old) / old * 100, 3)


def to_json(
    diff: WheelDiff, *, measure: Measure = Measure.COMPRESSED, top: int = 15, gate: GateResult | None = None
) -> dict[str, object]:
    """The ``--json`` document (``schema_version`` 1): totals, categories, directories, the ``top`` growers and
    shrinkers on ``measure``, every added, removed and renamed file, the ambiguous signatures, the gate."""
    counts = {status: len(diff.with_status(status)) for status in Status}
    return {
        "schema_version": SCHEMA_VERSION,
        "old": _summary_json(diff.old),
        "new": _summary_json(diff.new),
        "measure": str(measure),
        "totals": {
            "archive": _total_json(diff.old.archive, diff.new.archive),
            "compressed": _total_json(diff.old.total.compressed, diff.new.total.compressed),
            "installed": _total_json(diff.old.total.installed, diff.new.total.installed),
            "files": _total_json(diff.old.total.files, diff.new.total.files),
        },
        "counts": {
            **{str(status): n for status, n in counts.items()},
            "matched_by_signature": len(diff.renamed),
            "ambiguous_signatures": len(diff.ambiguous),
        },
        "categories": [{"category": g.key, **_group_json(g)} for g in diff.categories],
        "directories": {
            "top": [{"path": g.key, **_group_json(g)} for g in diff.top_directories],
            "second": [{"path": g.key, **_group_json(g)} for g in diff.second_directories],
        },
        "growers": [_file_json(f) for f in diff.growers(measure, top)],
        "shrinkers": [_file_json(f) for f in diff.shrinkers(measure, top)],
        "added": [_file_json(f) for f in diff.biggest(Status.ADDED, measure)],
        "removed": [_file_json(f) for f in diff.biggest(Status.REMOVED, measure)],
        "renamed": [{"old": f.old.path, "new": f.new.path} for f in diff.renamed if f.old and f.new],
        "ambiguous": [{"signature": a.signature, "old": list(a.old), "new": list(a.new)} for a in diff.ambiguous],
        "gate": None if gate is None else gate.to_json(),
    }


def set_json(
    diff: SetDiff, *, measure: Measure = Measure.COMPRESSED, top: int = 15, gate: GateResult | None = None
) -> dict[str, object]:
    """The ``--json`` document for two directories: one :func:`to_json` document (without its own
    ``schema_version``) per pair of wheels, the wheels of one side only, the totals of each side and the gate."""
    pairs = []
    for d in diff.diffs:
        doc = to_json(d, measure=measure, top=top)
        del doc["schema_version"], doc["gate"]
        pairs.append(doc)
    return {
        "schema_version": SCHEMA_VERSION,
        "measure": str(measure),
        "diffs": pairs,
        "removed_wheels": [_summary_json(w) for w in diff.removed],
        "added_wheels": [_summary_json(w) for w in diff.added],
        "totals": {
            "archive": _total_json(diff.size(Measure.COMPRESSED, new=False), diff.size(Measure.COMPRESSED, new=True)),
            "installed": _total_json(diff.size(Measure.INSTALLED, new=False), diff.size(Measure.INSTALLED, new=True)),
            "files": _total_json(diff.files(new=False), diff.files(new=True)),
            "wheels": _total_json(len(diff.diffs) + len(diff.removed), len(diff.diffs) + len(diff.added)),
        },
        "gate": None if gate is None else gate.to_json(),
    }


# ----------------------------------------------------------------------------------------------------------
# Terminal
# ----------------------------------------------------------------------------------------------------------

Safe = Callable[[str], str]


def _same(text: str) -> str:
    return text


def _signed(n: int) -> str:
    return "0 B" if n == 0 else ("+" if n > 0 else "") + human_size(n)


def _signed_count(n: int) -> str:
    return f"{n:+,}" if n else "0"


def _percent(old: int, new: int) -> str:
    ratio = _ratio(old, new)
    return "new" if ratio is None else f"{ratio:+.1f}%"


def _style(delta: int) -> str:
    return "red" if delta > 0 else "green" if delta < 0 else "dim"


def _change(delta: int) -> Text:
    return Text(_signed(delta), style=_style(delta))


_GROUP_FIELDS = [
    Field("files"),
    Field("compressed"),
    Field("change"),
    Field("installed"),
    Field("change"),
]


def _group_table(title: str, name: str, groups: Sequence[GroupDiff], measure: Measure, top: int) -> NameTable:
    """Groups that changed, most changed on ``measure`` first: NEW's sizes and their changes."""
    changed = [g for g in groups if g.old != g.new]
    changed.sort(key=lambda g: (-abs(g.delta.of(measure)), g.key))
    table = NameTable(title, [name], _GROUP_FIELDS)
    for g in changed[:top]:
        d = g.delta
        table.add_row(
            [g.key],
            [
                _signed_count(d.files),
                human_size(g.new.compressed),
                _change(d.compressed),
                human_size(g.new.installed),
                _change(d.installed),
            ],
        )
    if len(changed) > top:
        rest = sum((g.delta for g in changed[top:]), Amount())
        table.add_row(
            [Text(f"... {len(changed) - top} more", style="dim")],
            [_signed_count(rest.files), "", _change(rest.compressed), "", _change(rest.installed)],
        )
    return table


def _file_table(title: str, files: Sequence[FileDiff], measure: Measure) -> NameTable:
    """Files in both wheels: OLD → NEW on ``measure`` and the change in both measures."""
    other = Measure.INSTALLED if measure is Measure.COMPRESSED else Measure.COMPRESSED
    table = NameTable(title, ["path"], [Field(f"old {measure}"), Field("new"), Field("change"), Field(str(other))])
    for f in files:
        name = f.path if f.match != "signature" or f.old is None else f"{f.path}  (was {f.old.path})"
        table.add_row(
            [name],
            [
                human_size(f.size(measure, new=False)),
                human_size(f.size(measure, new=True)),
                _change(f.delta(measure)),
                _change(f.delta(other)),
            ],
        )
    return table


def _listed_table(title: str, files: Sequence[FileDiff], total: int) -> RenderableType:
    """Added or removed files: their sizes and categories (and how many more there are)."""
    table = NameTable(title, ["path"], [Field("compressed"), Field("installed"), Field("category", "left")])
    for f in files:
        side = f.new or f.old
        assert side is not None
        table.add_row([f.path], [human_size(side.compressed), human_size(side.installed), str(side.category)])
    if total > len(files):
        return Group(table, Text(f"... {plural(total - len(files), 'file')} more", style="dim"))
    return table


def _header(diff: WheelDiff, safe: Safe) -> list[RenderableType]:
    o, n = diff.old, diff.new
    lines: list[RenderableType] = [
        Text(o.filename, style="bold", no_wrap=True, overflow="ignore"),
        Text(safe("→ ") + n.filename, style="bold", no_wrap=True, overflow="ignore"),
    ]
    for label, a, b in (
        ("archive", o.archive, n.archive),
        ("installed", o.total.installed, n.total.installed),
    ):
        lines.append(
            Text.assemble(
                safe(f"  {label:<10}{human_size(a):>9} → {human_size(b):>9}  "),
                (f"{_signed(b - a)} ({_percent(a, b)})", _style(b - a)),
            )
        )
    lines.append(
        Text(
            safe(f"  {'files':<10}{o.total.files:>9,} → {n.total.files:>9,}  ")
            + _signed_count(n.total.files - o.total.files)
        )
    )
    counts = {s: len(diff.with_status(s)) for s in Status}
    matched = counts[Status.CHANGED] + counts[Status.UNCHANGED]
    lines.append(
        Text(
            f"  in both   {plural(matched, 'file')}: {counts[Status.CHANGED]:,} changed, "
            f"{len(diff.renamed):,} matched by signature"
        )
    )
    lines.append(Text(f"  added     {plural(counts[Status.ADDED], 'file')}, removed {counts[Status.REMOVED]:,}"))
    if diff.ambiguous:
        paths = sum(len(a.old) + len(a.new) for a in diff.ambiguous)
        lines.append(
            Text(
                safe(
                    f"  {plural(len(diff.ambiguous), 'ambiguous signature')} ({plural(paths, 'path')} not matched: "
                    "counted as removed and added)"
                ),
                style="yellow",
            )
        )
    return lines


def renderables(
    diff: WheelDiff, *, measure: Measure = Measure.COMPRESSED, top: int = 10, safe: Safe = _same
) -> list[RenderableType]:
    """What ``slimwheel diff`` shows, as rich objects for the caller to print; ``top`` rows per table, ordered by
    ``measure``; ``safe`` makes text showable on the caller's stream."""
    out: list[RenderableType] = [Group(*_header(diff, safe))]
    out.append(_group_table("by category", "category", diff.categories, measure, top))
    out.append(_group_table("by directory", "directory", diff.top_directories, measure, top))
    out.append(_group_table("by second-level directory", "directory", diff.second_directories, measure, top))
    for title, files in (
        ("biggest growers", diff.growers(measure, top)),
        ("biggest shrinkers", diff.shrinkers(measure, top)),
    ):
        if files:
            out.append(_file_table(f"{title} ({measure})", files, measure))
    for status, title in ((Status.ADDED, "added"), (Status.REMOVED, "removed")):
        everything = diff.biggest(status, measure)
        if everything:
            heading = f"{title} ({plural(len(everything), 'file')})"
            out.append(_listed_table(heading, everything[:top], len(everything)))
    for a in diff.ambiguous[:top]:
        out.append(Text(safe(f"ambiguous: {a.signature}"), style="yellow", no_wrap=True, overflow="ignore"))
        for label, paths in (("old", a.old), ("new", a.new)):
            for p in paths:
                out.append(Text(f"  {label} {p}", style="dim", no_wrap=True, overflow="ignore"))
    if len(diff.ambiguous) > top:
        out.append(Text(f"... {plural(len(diff.ambiguous) - top, 'ambiguous signature')} more", style="dim"))
    return out


def set_renderables(
    diff: SetDiff, *, measure: Measure = Measure.COMPRESSED, top: int = 10, safe: Safe = _same
) -> list[list[RenderableType]]:
    """What ``slimwheel diff OLD_DIR NEW_DIR`` shows: each pair's :func:`renderables`, then the wheels of one side
    only and the totals of both sides; one group of renderables per section."""
    groups = [renderables(d, measure=measure, top=top, safe=safe) for d in diff.diffs]
    last: list[RenderableType] = []
    for label, wheels in (("only in OLD (removed)", diff.removed), ("only in NEW (added)", diff.added)):
        if wheels:
            table = NameTable(
                f"{label}: {plural(len(wheels), 'wheel')}", ["wheel"], [Field("archive"), Field("installed")]
            )
            for w in wheels:
                table.add_row([w.filename], [human_size(w.archive), human_size(w.total.installed)])
            last.append(table)
    pairs = plural(len(diff.diffs), "pair")
    last.append(Text(f"total: {pairs} compared, {len(diff.removed)} removed, {len(diff.added)} added", style="bold"))
    for label, m in (("archive", Measure.COMPRESSED), ("installed", Measure.INSTALLED)):
        a, b = diff.size(m, new=False), diff.size(m, new=True)
        last.append(
            Text.assemble(
                safe(f"  {label:<10}{human_size(a):>9} → {human_size(b):>9}  "),
                (f"{_signed(b - a)} ({_percent(a, b)})", _style(b - a)),
            )
        )
    return [*groups, last]
