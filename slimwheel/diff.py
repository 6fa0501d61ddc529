"""``slimwheel diff``: what changed in size between two wheels, file by file, and where.

:func:`diff_wheels` turns two read wheels (:class:`~slimwheel.contents.Wheel`, OLD and NEW) into plain data
(:class:`WheelDiff`): every file matched, added or removed with its compressed and installed bytes on each side;
totals (archive, compressed members, installed); sums per category (:mod:`slimwheel.categories`, each side's file
in its own category) and per directory (top level and second level). :func:`gate` decides a ``--max-growth``
budget and :func:`treemap_rows` yields the per-file rows (path, old size, new size, status) an HTML treemap colours
by growth. Two directories of wheels are a :class:`SetDiff`: their file names paired by project
(:func:`pair_wheels`), a :class:`WheelDiff` per pair, the wheels of one side only, and sums over each side. Its
JSON and rich views are :mod:`slimwheel.diffreport`'s.

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
* Nothing here prints, reads a stream or exits.

Must not know: zip files (the wheels come read, through :func:`slimwheel.contents.read_wheel`), the command line,
how a report is laid out (:mod:`slimwheel.diffreport`) or how an HTML page is drawn (that is the renderer's, fed by
:func:`treemap_rows`).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from packaging.utils import InvalidWheelFilename, parse_wheel_filename

from .categories import Category, categorize_entries
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
    "change_percent",
    "change_ratio",
    "diff_signature",
    "diff_wheels",
    "gate",
    "match_paths",
    "pair_wheels",
    "parse_limit",
    "summarize",
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
        grew = f"{what} {how} {human_size(abs(self.growth))} ({change_percent(self.old, self.new)})"
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


def change_ratio(old: int, new: int) -> float | None:
    """The change from ``old`` to ``new`` in percent of ``old`` (None when ``old`` is 0)."""
    return None if old == 0 else round((new - old) / old * 100, 3)


def change_percent(old: int, new: int) -> str:
    """``+12.5%``, ``-3.0%``, or ``new`` when there was nothing before."""
    ratio = change_ratio(old, new)
    return "new" if ratio is None else f"{ratio:+.1f}%"
