"""The console: what slimwheel's output streams can show, and how its text and tables fit them.

One home for four things every command needs:

* **Encodings.** :func:`safe_streams` makes ``sys.stdout`` and ``sys.stderr`` fall back to ASCII renderings
  (``→`` as ``->``, ``█`` as ``#``, ``…`` as ``...``; anything else as ``?``) for the characters their encoding
  can't show, instead of raising :class:`UnicodeEncodeError` (a Windows CI job with piped output writes cp1252).
  :func:`safe_text` applies the same fallbacks to text before it is laid out, so columns stay aligned.
* **Consoles.** :func:`make_console` makes the rich :class:`AppConsole` for a stream; it knows the stream's
  encoding (:meth:`AppConsole.safe`) and whether a person watches it (:attr:`AppConsole.interactive`).
* **Progress.** :func:`progress_display`: a live status line on a terminal; in a log (not a terminal) one plain
  line per phase and at most one line per interval in between, with no control codes.
* **Narrow consoles.** :class:`NameTable` never wraps or cuts its name cells (paths, file names): where the names
  don't fit beside their figures, each name goes on a line of its own above them. :func:`plural` counts nouns.

It knows nothing of wheels, reports or commands.
"""

from __future__ import annotations

import codecs
import re
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal, Protocol, TextIO

from rich import box as rich_box
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.live import Live
from rich.measure import Measurement
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

__all__ = [
    "FALLBACKS",
    "AppConsole",
    "Field",
    "FirstThatFits",
    "LogProgress",
    "NameTable",
    "ProgressSink",
    "make_console",
    "plural",
    "progress_display",
    "safe_streams",
    "safe_text",
]

#: ASCII renderings of the characters slimwheel's output uses, for streams that can't encode them.
FALLBACKS: dict[str, str] = {
    "→": "->",
    "←": "<-",
    "█": "#",
    "░": ".",
    "…": "...",
    "—": "-",
    "–": "-",
    "·": "-",
    "≥": ">=",
    "≤": "<=",
    "×": "x",
    "≈": "~",
    "✓": "ok",
    "✗": "x",
    "•": "*",
    "\u00a0": " ",
}
_ERRORS = "slimwheel-fallback"


def _fallback(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeEncodeError):
        raise error
    return "".join(FALLBACKS.get(c, "?") for c in error.object[error.start : error.end]), error.end


codecs.register_error(_ERRORS, _fallback)


def safe_text(text: str, encoding: str) -> str:
    """``text`` with every character ``encoding`` can't encode replaced by its ASCII rendering (else ``?``)."""
    try:
        text.encode(encoding)
        return text
    except UnicodeEncodeError:
        return text.encode(encoding, errors=_ERRORS).decode(encoding)
    except LookupError:  # an encoding Python doesn't know: be conservative
        return safe_text(text, "ascii")


def is_utf(encoding: str) -> bool:
    return codecs.lookup(encoding).name.startswith("utf") if _known(encoding) else False


def _known(encoding: str) -> bool:
    try:
        codecs.lookup(encoding)
    except LookupError:
        return False
    return True


def stream_encoding(stream: TextIO | None) -> str:
    return (getattr(stream, "encoding", None) or "utf-8").lower()


@contextmanager
def safe_streams() -> Iterator[None]:
    """While inside, ``sys.stdout`` and ``sys.stderr`` write what their encoding can't show as ASCII renderings
    (:data:`FALLBACKS`, else ``?``) rather than raising; their error handling is restored on the way out."""
    restore: list[tuple[TextIO, str]] = []
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        errors = getattr(stream, "errors", None)
        if reconfigure is None or not isinstance(errors, str) or errors == _ERRORS:
            continue
        reconfigure(errors=_ERRORS)
        restore.append((stream, errors))
    try:
        yield
    finally:
        for stream, errors in restore:
            stream.reconfigure(errors=errors)  # type: ignore[attr-defined]


class AppConsole(Console):
    """A rich Console that knows its stream: :meth:`safe` text for its encoding, :attr:`interactive`."""

    def __init__(self, stream: TextIO, *, width: int | None = None) -> None:
        super().__init__(file=stream, highlight=False, width=width)
        self.stream = stream

    def safe(self, text: str) -> str:
        """``text`` as this console's stream can show it (see :func:`safe_text`)."""
        return safe_text(text, self.encoding)

    @property
    def utf(self) -> bool:
        return is_utf(self.encoding)

    @property
    def interactive(self) -> bool:
        """A person watches this stream (a terminal), so a live, redrawn status line can be shown."""
        isatty = getattr(self.stream, "isatty", None)
        try:
            return bool(isatty and isatty())
        except (OSError, ValueError):
            return False

    def show(self, *renderables: RenderableType) -> None:
        """Print each renderable on lines of its own, uncropped: a name longer than the console stays whole on
        its (long) line. (Unlike ``print``, which joins texts and drops their ``no_wrap``.) Nothing: an empty line."""
        self.print(Group(*renderables), crop=False) if renderables else self.print()

    def plain_line(self, text: str) -> None:
        """One line of plain text: no markup, no styles, never wrapped (log-friendly)."""
        self.show(Text(self.safe(text), no_wrap=True, overflow="ignore"))


def make_console(stream: TextIO | None = None, *, stderr: bool = False, width: int | None = None) -> AppConsole:
    """The console for ``stream`` (default: ``sys.stdout``, or ``sys.stderr`` with ``stderr``)."""
    if stream is None:
        stream = sys.stderr if stderr else sys.stdout
    return AppConsole(stream, width=width)


def _one_line(text: Text) -> Text:
    text.no_wrap, text.overflow = True, "ignore"
    return text


def plural(count: int, noun: str, many: str | None = None) -> str:
    """``"1 wheel"``, ``"2 wheels"``, ``"0 wheels"``; ``many`` for irregular plurals (``"directories"``)."""
    return f"{count:,} {noun if count == 1 else many or noun + 's'}"


# -- progress -----------------------------------------------------------------------------------------------------


class ProgressSink(Protocol):
    def update(self, text: str, *, phase: str | None = None) -> None:
        """Show ``text``; ``phase`` names the stage it belongs to (default: ``text`` less its numbers)."""


_NUMBERS = re.compile(r"\b\d+(?:[.,]\d+)*\b")  # whole numbers, not the digits of "linux_x86_64"
_PLURAL = re.compile(r"s\b")


def _phase_of(text: str) -> str:
    """A line's phase: the line less its counts ("baseline, 1 check run" and "baseline, 7 check runs" are one)."""
    return _PLURAL.sub("", _NUMBERS.sub("#", text))


class LogProgress:
    """Progress for a log: a plain line at each new phase, else at most one line per ``interval`` seconds."""

    def __init__(
        self, console: AppConsole, *, interval: float = 10.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.console = console
        self.interval = interval
        self.clock = clock
        self._phase: str | None = None
        self._last = float("-inf")

    def update(self, text: str, *, phase: str | None = None) -> None:
        phase = _phase_of(text) if phase is None else phase
        now = self.clock()
        if phase == self._phase and now - self._last < self.interval:
            return
        self._phase, self._last = phase, now
        self.console.plain_line(text)


class _LiveProgress:
    def __init__(self, console: AppConsole, live: Live) -> None:
        self.console = console
        self.live = live

    def update(self, text: str, *, phase: str | None = None) -> None:
        self.live.update(Text(self.console.safe(text)))


@contextmanager
def progress_display(
    console: AppConsole, first: str, *, interval: float = 10.0, clock: Callable[[], float] = time.monotonic
) -> Iterator[ProgressSink]:
    """A live status line (redrawn, then cleared) on a terminal; :class:`LogProgress` lines anywhere else."""
    if not console.interactive:
        log = LogProgress(console, interval=interval, clock=clock)
        log.update(first)
        yield log
        return
    status = Text(console.safe(first))
    with Live(status, console=console, transient=True, refresh_per_second=4, redirect_stdout=False) as live:
        yield _LiveProgress(console, live)


# -- tables whose names never wrap ----------------------------------------------------------------------------------

Justify = Literal["left", "right", "center"]
_UNBOUNDED = 100_000
_MIN_FLEX = 20  # the least a wrapping text column gets before a narrow console squeezes it further
_MIN_WORD = 8  # ... and on a console too narrow for that, no less than this
_GAP = 3  # between two columns: padding, rule, padding
_INDENT = 2


@dataclass(frozen=True)
class Field:
    """A figure column of a :class:`NameTable`; ``flex`` columns (text) wrap, the others are kept whole."""

    header: str
    justify: Justify = "right"
    style: str = ""
    flex: bool = False


class NameTable:
    """A table led by name columns (paths, file names, recipes) whose cells are never wrapped or cut.

    Where the names fit beside their figures (the text columns, ``flex``, wrapped to no less than
    :data:`_MIN_FLEX`), a plain table. Where they don't, each row's names go on a line of their own, followed by
    the row's figures, indented, in columns shared by all rows (the headers once, on top).
    """

    def __init__(
        self,
        title: str | None,
        names: Sequence[str],
        fields: Sequence[Field],
        *,
        caption: str | None = None,
        box: rich_box.Box = rich_box.HEAVY_HEAD,
    ) -> None:
        self.title = title
        self.names = list(names)
        self.fields = list(fields)
        self.caption = caption
        self.box = box
        self.rows: list[tuple[list[Text], list[RenderableType]]] = []

    def add_row(self, names: Sequence[str | Text], figures: Sequence[RenderableType]) -> None:
        """``names`` are shown as they are (never read as markup); ``figures`` as rich renders them."""
        if len(names) != len(self.names) or len(figures) != len(self.fields):
            raise ValueError("a row needs one cell per name and per field")
        self.rows.append(([n if isinstance(n, Text) else Text(n) for n in names], list(figures)))

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        names, figures = self._natural_widths(console, options)
        flexible = [min(w, _MIN_FLEX) if f.flex else w for w, f in zip(figures, self.fields, strict=True)]
        if sum(names) + sum(flexible) + _GAP * (len(names) + len(figures) - 1) <= options.max_width:
            wide = self._table(with_names=True, encoding=console.encoding)  # the names fit (the text may wrap)
            for row_names, row_figures in self.rows:
                wide.add_row(*row_names, *row_figures)
            yield wide
            return
        if self.title:
            yield Text(safe_text(self.title, console.encoding), style="table.title", no_wrap=True, overflow="ignore")
        widths = self._figure_widths(console, options)
        yield Padding(self._table(with_names=False, widths=widths, header=True), (0, 0, 0, _INDENT), expand=False)
        for row_names, row_figures in self.rows:
            yield _one_line(Text("  ").join(row_names))  # however long: AppConsole.show prints it uncropped
            row = self._table(with_names=False, widths=widths, header=False)
            row.add_row(*row_figures)
            yield Padding(row, (0, 0, 0, _INDENT), expand=False)
        if self.caption:
            yield Text(safe_text(self.caption, console.encoding), style="table.caption")

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement(1, options.max_width)

    def _table(
        self, *, with_names: bool, widths: Sequence[int] | None = None, header: bool = True, encoding: str = "utf-8"
    ) -> Table:
        title = safe_text(self.title, encoding) if self.title and with_names else None
        caption = safe_text(self.caption, encoding) if self.caption and with_names else None
        table = Table(
            title=title,
            title_justify="left",
            caption=caption,
            caption_justify="left",
            show_edge=False,
            pad_edge=False,
            box=self.box,
            show_header=header,
        )
        if with_names:
            for name in self.names:
                table.add_column(name, no_wrap=True, overflow="ignore")
        for index, f in enumerate(self.fields):
            width = widths[index] if widths is not None else None
            table.add_column(f.header, justify=f.justify, style=f.style, no_wrap=not f.flex, width=width)
        return table

    def _natural_widths(self, console: Console, options: ConsoleOptions) -> tuple[list[int], list[int]]:
        """The widths of the name columns and of the figure columns, each as wide as its widest cell."""
        unbounded = options.update_width(_UNBOUNDED)

        def widest(header: str, cells: Sequence[RenderableType]) -> int:
            return max(Measurement.get(console, unbounded, c).maximum for c in [Text(header), *cells])

        names = [widest(h, [row[0][i] for row in self.rows]) for i, h in enumerate(self.names)]
        figures = [widest(f.header, [row[1][i] for row in self.rows]) for i, f in enumerate(self.fields)]
        return names, figures

    def _figure_widths(self, console: Console, options: ConsoleOptions) -> list[int]:
        """The figure columns' widths for the stacked layout: each as wide as its widest cell, the flexible ones
        shrunk (to no less than :data:`_MIN_FLEX` where they can) to fit the console."""
        widths = self._natural_widths(console, options)[1]
        room = options.max_width - _INDENT - _GAP * (len(self.fields) - 1)
        excess = sum(widths) - room
        for floor in (_MIN_FLEX, _MIN_WORD):  # the rightmost text columns give way first
            for i in reversed(range(len(self.fields))):
                if excess > 0 and self.fields[i].flex:
                    cut = min(excess, max(0, widths[i] - floor))
                    widths[i] -= cut
                    excess -= cut
        return widths


class FirstThatFits:
    """The first of several layouts whose natural width fits the console (else the last)."""

    def __init__(self, *choices: RenderableType) -> None:
        if not choices:
            raise ValueError("FirstThatFits needs at least one layout")
        self.choices = choices

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        unbounded = options.update_width(_UNBOUNDED)
        for choice in self.choices[:-1]:
            if Measurement.get(console, unbounded, choice).maximum <= options.max_width:
                yield choice
                return
        yield self.choices[-1]
