"""``slimwheel diff``'s report: a :class:`~slimwheel.diff.WheelDiff` (or two directories' :class:`SetDiff`) as
schema-versioned JSON and as rich views.

:func:`to_json` and :func:`set_json` are the ``--json`` documents (``schema_version`` 1); :func:`renderables` and
:func:`set_renderables` the tables the command prints: totals, categories, directories, growers, shrinkers, added
and removed files.

Guarantees: nothing here prints, reads a stream or exits: text goes through the caller's ``safe``, and no path is
ever wrapped or cut (:class:`~slimwheel.console.NameTable`).
Must not know: zip files, how paths are matched or sizes summed (:mod:`slimwheel.diff`), the command line.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rich.console import Group, RenderableType
from rich.text import Text

from .console import Field, NameTable, plural
from .diff import (
    SCHEMA_VERSION,
    Amount,
    FileDiff,
    GateResult,
    GroupDiff,
    Measure,
    SetDiff,
    Side,
    Status,
    WheelDiff,
    WheelSummary,
    change_percent,
    change_ratio,
)
from .units import human_size

__all__ = ["renderables", "set_json", "set_renderables", "to_json"]


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
    return {"old": old, "new": new, "delta": new - old, "percent": change_ratio(old, new)}


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
                (f"{_signed(b - a)} ({change_percent(a, b)})", _style(b - a)),
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
                (f"{_signed(b - a)} ({change_percent(a, b)})", _style(b - a)),
            )
        )
    return [*groups, last]
