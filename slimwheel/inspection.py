"""``slimwheel inspect``: where the bytes of a wheel are.

:func:`inspect_wheel` turns a :class:`~slimwheel.contents.Wheel` into plain data (:class:`Inspection`):
bytes per category, the largest files, every native binary and the installed tree with aggregated sizes.
:func:`to_json` serialises that data (``--json``) and :func:`renderables` turns it into rich objects for the
terminal; nothing here prints or knows the stream: text goes through the caller's ``safe`` (what the stream can
show, :meth:`slimwheel.console.AppConsole.safe`), and no path or file name is ever wrapped or cut (long ones get
a line of their own, :class:`~slimwheel.console.NameTable`).

The categories are :func:`slimwheel.categories.categorize_entries`'s, the same the shrink pipeline uses; nothing
in the pipeline imports this module, which is only the ``inspect`` command's view of a wheel.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from rich import box
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from .archive import Memory, ensure_free_space
from .binaries import BinaryInfo, FileView, describe, detect_format
from .categories import DESCRIPTIONS, Category, categorize_entries
from .console import Field, FirstThatFits, NameTable, plural
from .contents import HEAD, Entry, Wheel
from .units import human_size

__all__ = [
    "SCHEMA_VERSION",
    "CategoryStats",
    "FileStats",
    "Inspection",
    "NativeFile",
    "TreeNode",
    "inspect_wheel",
    "renderables",
    "size_tree",
    "to_json",
]

#: Version of the ``--json`` document; bumped on any incompatible change.
SCHEMA_VERSION = 1

#: Schemes installed into site-packages; the others go under a ``<scheme>`` pseudo root in the tree.
_SITE_SCHEMES = frozenset({"purelib", "platlib"})
_FORMAT_NAMES = {"elf": "ELF", "pe": "PE", "macho": "Mach-O"}
_BAR_WIDTH = 10
_BAR_FULL, _BAR_EMPTY = "█", "░"


@dataclass(frozen=True)
class CategoryStats:
    category: Category
    files: int
    compressed: int  # sum of the members' compressed sizes in the archive
    installed: int  # sum of the files' uncompressed sizes


@dataclass(frozen=True)
class FileStats:
    path: str  # archive path
    category: Category
    compressed: int
    installed: int
    location: str = ""  # install path: relative to site-packages, or "<scheme>/…" for scripts, headers and data


@dataclass(frozen=True)
class NativeFile:
    path: str  # archive path
    format: str  # "elf", "pe" or "macho"
    machine: str
    has_symbols: bool
    has_debug: bool
    signed: bool
    toolchain: str | None
    installed: int
    vendored: bool  # bundled by auditwheel/delocate/delvewheel rather than built by the project


@dataclass(frozen=True)
class TreeNode:
    """A file (no children) or a directory with the sizes of everything below it, children largest first."""

    name: str
    installed: int
    compressed: int
    files: int
    children: tuple[TreeNode, ...] = ()


@dataclass(frozen=True)
class Inspection:
    filename: str
    name: str
    version: str
    tags: list[str]
    archive_size: int
    installed_size: int
    files: int
    categories: tuple[CategoryStats, ...]  # installed bytes descending; empty categories are omitted
    largest: tuple[FileStats, ...]  # the top files by installed size
    native: tuple[NativeFile, ...]  # every ELF/PE/Mach-O file, largest first
    tree: TreeNode  # installed layout; non-site-packages schemes under "<scripts>", "<headers>", "<data>"
    every_file: tuple[FileStats, ...] = ()  # every file, in archive order (not in the JSON: ``--html`` draws it)


# ----------------------------------------------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------------------------------------------


def describe_entry(entry: Entry) -> BinaryInfo | None:
    """:func:`describe` of an entry without holding a big file in memory: content that stays in the archive is
    written to a temporary file first (only when its first bytes are a native binary's magic)."""
    if detect_format(entry.head(HEAD)) is None:
        return None
    if isinstance(entry.content, Memory):
        return describe(entry.data)
    if entry.file is not None:
        with FileView(entry.file) as view:
            return describe(view)
    with tempfile.NamedTemporaryFile(prefix="slimwheel-inspect-") as tmp:
        ensure_free_space(Path(tempfile.gettempdir()), entry.size, f"inspecting {entry.path}")
        for block in entry.chunks():
            tmp.write(block)
        tmp.flush()
        with FileView(Path(tmp.name)) as view:
            return describe(view)


def inspect_wheel(wheel: Wheel, *, top: int = 20) -> Inspection:
    """Everything ``slimwheel inspect`` reports about one wheel; ``top`` is how many largest files to keep."""
    categories = categorize_entries(wheel)
    per_category: dict[Category, list[int]] = {}  # category → [files, compressed, installed]
    files: list[FileStats] = []
    native: list[NativeFile] = []
    for entry in wheel.entries:
        category = categories[entry.path]
        compressed = wheel.compressed_sizes[entry.path]
        stats = per_category.setdefault(category, [0, 0, 0])
        stats[0] += 1
        stats[1] += compressed
        stats[2] += entry.size
        scheme, where = wheel.location(entry.path)
        where = where if scheme in _SITE_SCHEMES else f"<{scheme}>/{where}"
        files.append(FileStats(entry.path, category, compressed, entry.size, where))
        info = describe_entry(entry)
        if info is not None:
            native.append(
                NativeFile(
                    path=entry.path,
                    format=str(info.format),
                    machine=info.machine,
                    has_symbols=info.has_symbols,
                    has_debug=info.has_debug,
                    signed=info.signed,
                    toolchain=info.toolchain,
                    installed=entry.size,
                    vendored=category is Category.VENDORED,
                )
            )
    every_file = tuple(files)
    order = list(Category)
    category_stats = sorted(
        (CategoryStats(cat, n, c, i) for cat, (n, c, i) in per_category.items()),
        key=lambda s: (-s.installed, order.index(s.category)),
    )
    files.sort(key=lambda f: (-f.installed, f.path))
    native.sort(key=lambda n: (-n.installed, n.path))
    return Inspection(
        filename=wheel.filename,
        name=str(wheel.name),
        version=str(wheel.version),
        tags=sorted(str(t) for t in wheel.tags),
        archive_size=wheel.archive_size,
        installed_size=wheel.installed_size,
        files=len(wheel.entries),
        categories=tuple(category_stats),
        largest=tuple(files[: max(top, 0)]),
        native=tuple(native),
        tree=_build_tree(wheel),
        every_file=every_file,
    )


class _Dir:
    def __init__(self) -> None:
        self.dirs: dict[str, _Dir] = {}
        self.files: list[TreeNode] = []

    def node(self, name: str) -> TreeNode:
        children = [d.node(n) for n, d in self.dirs.items()] + self.files
        children.sort(key=lambda c: (-c.installed, c.name))
        return TreeNode(
            name=name,
            installed=sum(c.installed for c in children),
            compressed=sum(c.compressed for c in children),
            files=sum(c.files for c in children),
            children=tuple(children),
        )


def _build_tree(wheel: Wheel) -> TreeNode:
    root = _Dir()
    for entry in wheel.entries:
        scheme, installed = wheel.location(entry.path)
        parts = PurePosixPath(installed).parts
        if scheme not in _SITE_SCHEMES:
            parts = (f"<{scheme}>", *parts)
        here = root
        for part in parts[:-1]:
            here = here.dirs.setdefault(part, _Dir())
        here.files.append(TreeNode(parts[-1], entry.size, wheel.compressed_sizes[entry.path], 1))
    return root.node(wheel.filename)


# ----------------------------------------------------------------------------------------------------------
# JSON
# ----------------------------------------------------------------------------------------------------------


def _tree_json(node: TreeNode) -> dict[str, object]:
    return {
        "name": node.name,
        "installed": node.installed,
        "compressed": node.compressed,
        "files": node.files,
        "children": [_tree_json(c) for c in node.children],
    }


def _inspection_json(insp: Inspection) -> dict[str, object]:
    return {
        "filename": insp.filename,
        "name": insp.name,
        "version": insp.version,
        "tags": list(insp.tags),
        "archive_size": insp.archive_size,
        "installed_size": insp.installed_size,
        "files": insp.files,
        "categories": [
            {
                "category": str(s.category),
                "files": s.files,
                "compressed": s.compressed,
                "installed": s.installed,
            }
            for s in insp.categories
        ],
        "largest": [
            {
                "path": f.path,
                "category": str(f.category),
                "compressed": f.compressed,
                "installed": f.installed,
            }
            for f in insp.largest
        ],
        "native": [
            {
                "path": n.path,
                "format": n.format,
                "machine": n.machine,
                "has_symbols": n.has_symbols,
                "has_debug": n.has_debug,
                "signed": n.signed,
                "toolchain": n.toolchain,
                "installed": n.installed,
                "vendored": n.vendored,
            }
            for n in insp.native
        ],
        "tree": _tree_json(insp.tree),
    }


def to_json(items: list[Inspection]) -> dict[str, object]:
    """The ``--json`` document: ``{"schema_version": 1, "wheels": [...]}``, only plain JSON types inside."""
    return {"schema_version": SCHEMA_VERSION, "wheels": [_inspection_json(i) for i in items]}


# ----------------------------------------------------------------------------------------------------------
# Terminal
# ----------------------------------------------------------------------------------------------------------


Safe = Callable[[str], str]


def _same(text: str) -> str:
    return text


def _share(part: int, total: int) -> float:
    return part / total if total > 0 else 0.0


def _bar(share: float, width: int = _BAR_WIDTH) -> str:
    filled = min(width, max(0, round(share * width)))
    return _BAR_FULL * filled + _BAR_EMPTY * (width - filled)


def _percent(share: float) -> str:
    return f"{share * 100:.1f}%"


def _yes_no(flag: bool) -> Text:
    return Text("yes", style="yellow") if flag else Text("no", style="dim")


def _header(insp: Inspection, safe: Safe) -> Group:
    text = Text()
    text.append(f"{insp.name} {insp.version}", style="cyan")
    text.append(safe(f"  ·  {', '.join(insp.tags)}"))
    text.append(safe(f"  ·  {human_size(insp.archive_size)} compressed → "))
    text.append(f"{human_size(insp.installed_size)} installed", style="bold")
    text.append(safe(f"  ·  {plural(insp.files, 'file')}"))
    return Group(Text(insp.filename, style="bold", no_wrap=True, overflow="ignore"), text)  # the name never wraps


def _category_table(insp: Inspection, safe: Safe, *, described: bool) -> Table:
    table = Table(title="Bytes by category", title_justify="left", box=box.SIMPLE_HEAD)
    table.add_column("Category", style="bold", no_wrap=True)
    for header in ("Files", "Compressed", "Installed", "Share"):
        table.add_column(header, justify="right", no_wrap=True)
    table.add_column("", no_wrap=True, style="green")
    if described:
        table.add_column("What", style="dim", no_wrap=True)
    for s in insp.categories:
        share = _share(s.installed, insp.installed_size)
        cells = [str(s.category), f"{s.files:,}", human_size(s.compressed), human_size(s.installed), _percent(share)]
        cells.append(safe(_bar(share)))
        if described:
            cells.append(DESCRIPTIONS.get(s.category, ""))
        table.add_row(*cells)
    return table


def _categories(insp: Inspection, safe: Safe) -> RenderableType:
    """The category table with a "What" column where it fits; elsewhere the descriptions follow it as prose."""
    legend = [
        Text(f"  {s.category}: {DESCRIPTIONS[s.category]}", style="dim")
        for s in insp.categories
        if DESCRIPTIONS.get(s.category)
    ]
    narrow = Group(_category_table(insp, safe, described=False), *legend)
    return FirstThatFits(_category_table(insp, safe, described=True), narrow)


def _largest_table(insp: Inspection, safe: Safe) -> NameTable:
    table = NameTable(
        f"Largest {plural(len(insp.largest), 'file')}",
        ["Path"],
        [Field("Installed"), Field("Compressed"), Field("Share"), Field("Category", "left")],
        box=box.SIMPLE_HEAD,
    )
    for f in insp.largest:
        share = _percent(_share(f.installed, insp.installed_size))
        table.add_row([f.path], [human_size(f.installed), human_size(f.compressed), share, str(f.category)])
    return table


def _native_table(insp: Inspection, safe: Safe) -> RenderableType:
    if not insp.native:
        return Text("No native binaries (ELF, PE or Mach-O).", style="dim")
    table = NameTable(
        f"Native binaries ({len(insp.native)})",
        ["Path"],
        [
            Field("Installed"),
            Field("Format", "left"),
            Field("Symbols", "left"),
            Field("Debug", "left"),
            Field("Signed", "left"),
            Field("Origin", "left"),
            Field("Toolchain", "left", flex=True),
        ],
        box=box.SIMPLE_HEAD,
    )
    for n in insp.native:
        table.add_row(
            [n.path],
            [
                human_size(n.installed),
                f"{_FORMAT_NAMES.get(n.format, n.format)} {n.machine}",
                _yes_no(n.has_symbols),
                _yes_no(n.has_debug),
                Text("yes", style="green") if n.signed else Text("no", style="dim"),
                Text("vendored", style="magenta") if n.vendored else Text("own"),
                Text(safe(n.toolchain or "")),
            ],
        )
    return table


class _TreeLabel:
    """A node of the size tree: bar, size, share and name on one line where they fit, else the figures on one
    line and the name, whole, on the next."""

    def __init__(self, name: str, installed: int, total: int, style: str, safe: Safe) -> None:
        share = _share(installed, total)
        self.figures = Text()
        self.figures.append(safe(_bar(share)), style="green")
        self.figures.append(f" {human_size(installed):>9} {_percent(share):>6}  ")
        self.name = Text(safe(name) if name.startswith("…") else name, style=style, no_wrap=True, overflow="ignore")

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        line = Text.assemble(self.figures, self.name, no_wrap=True, overflow="ignore")
        if line.cell_len <= options.max_width:
            yield line
        else:
            yield self.figures
            yield self.name

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement(self.figures.cell_len, self.figures.cell_len + self.name.cell_len)


def _add_children(branch: Tree, node: TreeNode, total: int, levels: int, min_share: float, safe: Safe) -> None:
    if levels <= 0:
        return
    shown: list[TreeNode] = []
    small: list[TreeNode] = []
    for child in node.children:
        (small if _share(child.installed, total) < min_share else shown).append(child)
    if len(small) == 1:  # folding one item into "… 1 smaller items" would hide it for nothing
        shown, small = list(node.children), []
    for child in shown:
        if child.children:
            sub = branch.add(_TreeLabel(child.name + "/", child.installed, total, "bold blue", safe))
            _add_children(sub, child, total, levels - 1, min_share, safe)
        else:
            branch.add(_TreeLabel(child.name, child.installed, total, "", safe))
    if small:
        folded = sum(c.installed for c in small)
        branch.add(_TreeLabel(f"… {len(small)} smaller items", folded, total, "dim", safe))


def size_tree(insp: Inspection, *, depth: int = 3, min_share: float = 0.01, safe: Safe = _same) -> Tree:
    """The installed tree as a rich Tree: ``depth`` levels below the root, small children folded together.

    Each node shows a bar and its share of the whole wheel. Children below ``min_share`` of the total are
    folded into one "… N smaller items" node (a single small child is shown as itself).
    """
    root = insp.tree
    tree = Tree(_TreeLabel(f"{root.name} (installed)", root.installed, root.installed, "bold", safe))
    _add_children(tree, root, root.installed, depth, min_share, safe)
    return tree


def renderables(
    insp: Inspection, *, depth: int = 3, min_share: float = 0.01, safe: Safe = _same
) -> list[RenderableType]:
    """What ``slimwheel inspect`` shows for one wheel, as rich objects for the caller to print; ``safe`` makes
    text showable on the caller's stream (default: unchanged)."""
    return [
        _header(insp, safe),
        _categories(insp, safe),
        _largest_table(insp, safe),
        _native_table(insp, safe),
        Group(Text("Installed tree", style="italic"), size_tree(insp, depth=depth, min_share=min_share, safe=safe)),
    ]
