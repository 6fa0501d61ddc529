"""slimwheel.console: text for any encoding, progress for terminals and logs, tables whose names never wrap."""

from __future__ import annotations

import io
import sys

import pytest
from rich.console import Console
from rich.text import Text

from slimwheel.console import (
    Field,
    LogProgress,
    NameTable,
    make_console,
    plural,
    progress_display,
    safe_streams,
    safe_text,
)

SYMBOLS = "3 → 2 █░ … — · ≥ ×"


@pytest.mark.parametrize(
    ("encoding", "expected"),
    [
        ("utf-8", SYMBOLS),
        ("cp1252", "3 -> 2 #. … — · >= ×"),  # cp1252 has …, —, · and ×; not →, █, ░ or ≥
        ("ascii", "3 -> 2 #. ... - - >= x"),
    ],
)
def test_safe_text_falls_back_only_where_the_encoding_cannot(encoding: str, expected: str) -> None:
    assert safe_text(SYMBOLS, encoding) == expected
    expected.encode(encoding)  # and the result can be written


def test_safe_text_unknown_characters_become_question_marks() -> None:
    assert safe_text("données/数据.txt", "ascii") == "donn?es/??.txt"
    assert safe_text("données/数据.txt", "cp1252") == "données/??.txt"


def _stream(encoding: str) -> io.TextIOWrapper:
    return io.TextIOWrapper(io.BytesIO(), encoding=encoding, errors="strict", write_through=True)


@pytest.mark.parametrize("encoding", ["ascii", "cp1252"])
def test_safe_streams_never_raise_and_are_restored(encoding: str, monkeypatch: pytest.MonkeyPatch) -> None:
    out, err = _stream(encoding), _stream(encoding)
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "stderr", err)
    with pytest.raises(UnicodeEncodeError):
        print("a → b")  # the defect this guards against
    with safe_streams():
        print("a → b █ 数")
        print("c ≥ d", file=sys.stderr)
        console = make_console()
        console.print("rich: e → f")
    assert out.errors == "strict" and err.errors == "strict"  # put back on the way out
    written = out.buffer.getvalue().decode(encoding)  # type: ignore[attr-defined]
    assert "a -> b # ?" in written and "rich: e -> f" in written
    assert "c >= d" in err.buffer.getvalue().decode(encoding)  # type: ignore[attr-defined]


def test_console_knows_its_stream() -> None:
    ascii_console = make_console(_stream("ascii"))
    assert ascii_console.safe("a → b") == "a -> b" and not ascii_console.utf
    assert not ascii_console.interactive  # a BytesIO is no terminal
    utf = make_console(_stream("utf-8"))
    assert utf.safe("a → b") == "a → b" and utf.utf


def test_plural() -> None:
    assert [plural(n, "wheel") for n in (0, 1, 2, 1500)] == ["0 wheels", "1 wheel", "2 wheels", "1,500 wheels"]
    assert plural(1, "directory", "directories") == "1 directory"
    assert plural(3, "directory", "directories") == "3 directories"
    assert plural(1, "check run") == "1 check run"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_log_progress_prints_phases_at_once_and_else_one_line_per_interval() -> None:
    stream = _stream("ascii")
    clock = FakeClock()
    progress = LogProgress(make_console(stream), interval=10.0, clock=clock)
    progress.update("baseline: 1 check run → x", phase="baseline")
    for runs in range(2, 6):  # within the interval: nothing
        clock.now += 1
        progress.update(f"baseline: {runs} check runs", phase="baseline")
    clock.now += 10  # 14 s after the last line: one line, then quiet again
    progress.update("baseline: 6 check runs", phase="baseline")
    progress.update("baseline: 7 check runs", phase="baseline")
    progress.update("search: 8 check runs", phase="search")  # a new phase: at once
    clock.now += 3
    progress.update("calc [linux]: getting the wheel")  # no phase given: the text less its numbers
    progress.update("calc [linux]: baseline, 1 check run")
    progress.update("calc [linux]: baseline, 2 check runs")
    text = stream.buffer.getvalue().decode("ascii")  # type: ignore[attr-defined]
    assert text.splitlines() == [
        "baseline: 1 check run -> x",
        "baseline: 6 check runs",
        "search: 8 check runs",
        "calc [linux]: getting the wheel",
        "calc [linux]: baseline, 1 check run",
    ]
    assert "\x1b" not in text and "\r" not in text


def test_progress_display_off_a_terminal_is_a_log() -> None:
    stream = _stream("utf-8")
    with progress_display(make_console(stream), "preparing …", interval=10.0) as display:
        assert isinstance(display, LogProgress)
        display.update("baseline: 1 check run", phase="baseline")
    text = stream.buffer.getvalue().decode()  # type: ignore[attr-defined]
    assert text == "preparing …\nbaseline: 1 check run\n"


LONG = "numpy/_core/tests/data/a_rather_long_directory_name/_multiarray_umath.cpython-311-x86_64-linux-gnu.so"


def _name_table() -> NameTable:
    table = NameTable(
        "files",
        ["file"],
        [Field("size"), Field("how", "left"), Field("why", "left", flex=True)],
        caption="a caption · with a dot",
    )
    table.add_row([LONG], ["12.3 MB", "strip --strip-unneeded", "the check did not need it " * 3])
    table.add_row(["short.py"], ["1 kB", "removed", "SW001 tests"])
    table.add_row([Text("[red]odd.txt")], ["2 kB", "removed", "markup in a name is shown as it is"])
    return table


def _render(renderable: object, width: int, encoding: str = "utf-8") -> str:
    stream = _stream(encoding)
    console = make_console(stream, width=width)
    console.show(renderable)  # type: ignore[arg-type]
    return stream.buffer.getvalue().decode(encoding)  # type: ignore[attr-defined]


@pytest.mark.parametrize("width", [40, 80, 200])
def test_name_table_never_wraps_a_name(width: int) -> None:
    text = _render(_name_table(), width)
    lines = text.splitlines()
    for name in (LONG, "short.py", "[red]odd.txt"):
        assert any(name in line for line in lines), (name, text)
    assert "a caption" in text
    if width == 40:  # too narrow for the figures: they are squeezed, the names are not
        return
    assert "strip --strip-unneeded" in text
    if width == 200:  # one row a line, the names beside their figures
        assert any(LONG in line and "12.3 MB" in line for line in lines)
    else:  # the names on lines of their own, the figures below, no line but the long name over the width
        assert any(line == LONG for line in lines)
        assert all(len(line.rstrip()) <= width for line in lines if LONG not in line)


def test_name_table_lays_out_in_ascii_too() -> None:
    text = _render(_name_table(), 80, "ascii")
    assert LONG in text.splitlines() and "a caption - with a dot" in text


def test_name_table_rows_need_every_cell() -> None:
    with pytest.raises(ValueError, match="one cell per name"):
        NameTable("t", ["a"], [Field("b")]).add_row(["x"], [])


def test_show_keeps_lines_whole_where_print_would_not() -> None:
    line = Text("x" * 100 + " " + "y" * 10, no_wrap=True, overflow="ignore")
    plain = Console(file=io.StringIO(), width=80)
    plain.print(line)
    assert len(plain.file.getvalue().splitlines()) > 1  # type: ignore[attr-defined]
    assert _render(line, 80).splitlines() == ["x" * 100 + " " + "y" * 10]


def test_show_with_nothing_is_an_empty_line() -> None:
    stream = _stream("utf-8")
    console = make_console(stream)
    console.show(Text("a"))
    console.show()
    console.show(Text("b"))
    assert stream.buffer.getvalue() == b"a\n\nb\n"  # type: ignore[attr-defined]
