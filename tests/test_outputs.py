"""slimwheel.outputs: report and lock files written through symlinks, FIFOs and devices, never renamed over them;
``--json -`` on standard output; usual permissions."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from synth import SynthWheel

from slimwheel.lock import Lock, LockError, WheelIdentity, read_lock, write_lock
from slimwheel.outputs import is_stdout, write_output


@pytest.fixture()
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def test_a_new_file_gets_the_usual_permissions(tmp_path: Path, umask_022: None) -> None:
    target = tmp_path / "report.json"
    write_output(target, b"{}\n")
    assert target.read_bytes() == b"{}\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644  # not mkstemp's 0o600
    assert os.listdir(tmp_path) == ["report.json"]  # no temporary file left behind


def test_a_replaced_file_keeps_its_mode(tmp_path: Path, umask_022: None) -> None:
    target = tmp_path / "report.json"
    target.write_text("old")
    target.chmod(0o640)
    inode = target.stat().st_ino
    write_output(target, b"new")
    assert target.read_bytes() == b"new" and stat.S_IMODE(target.stat().st_mode) == 0o640
    assert target.stat().st_ino != inode  # replaced atomically, not truncated in place


def test_a_symlink_is_written_through_never_replaced(tmp_path: Path) -> None:
    real = tmp_path / "real" / "report.json"
    real.parent.mkdir()
    real.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(real)
    chain = tmp_path / "chain.json"
    chain.symlink_to(link)  # a symlink to a symlink
    write_output(chain, b"new")
    assert chain.is_symlink() and link.is_symlink()
    assert real.read_bytes() == b"new"
    assert sorted(os.listdir(real.parent)) == ["report.json"]  # the temporary file sat beside the target


def test_a_dangling_symlink_creates_its_target(tmp_path: Path) -> None:
    link = tmp_path / "link.json"
    link.symlink_to(tmp_path / "target.json")
    write_output(link, b"x")
    assert link.is_symlink() and (tmp_path / "target.json").read_bytes() == b"x"


@contextmanager
def fifo_reader(path: Path) -> Iterator[list[bytes]]:
    """A FIFO at ``path`` with a thread reading everything written to it into the list yielded."""
    os.mkfifo(path)
    received: list[bytes] = []

    def read() -> None:
        with open(path, "rb") as fifo:
            received.append(fifo.read())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    yield received
    reader.join(timeout=30)
    assert not reader.is_alive()


def test_a_fifo_is_written_in_place(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    with fifo_reader(fifo) as received:
        write_output(fifo, b"through the pipe\n" * 10_000)  # more than a pipe buffer holds
    assert received == [b"through the pipe\n" * 10_000]
    assert stat.S_ISFIFO(fifo.stat().st_mode)  # still a FIFO: nothing was renamed over it
    assert os.listdir(tmp_path) == ["pipe"]


def test_a_symlink_to_a_fifo_and_a_character_device(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    link = tmp_path / "stdout-like"
    with fifo_reader(fifo) as received:
        link.symlink_to(fifo)  # like /dev/stdout -> /proc/self/fd/1 -> pipe
        write_output(link, b"data")
    assert received == [b"data"] and link.is_symlink() and stat.S_ISFIFO(fifo.stat().st_mode)
    null = tmp_path / "null"
    null.symlink_to("/dev/null")
    write_output(null, b"discarded")
    assert null.is_symlink() and stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_a_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(IsADirectoryError):
        write_output(tmp_path, b"x")


def test_dash_means_standard_output() -> None:
    assert is_stdout("-") and not is_stdout("./-") and not is_stdout(Path("report.json"))


def small_lock() -> Lock:
    identity = WheelIdentity("demo-1.0-py3-none-any.whl", "demo", "1.0", "py3-none-any", "0" * 64)
    return Lock(identity, "", {"demo/tests/test_x.py": "SW001 tests"}, (), (), ("demo/__init__.py",))


def test_write_lock_through_a_symlink_and_a_fifo(tmp_path: Path) -> None:
    real = tmp_path / "locks" / "demo.lock"
    real.parent.mkdir()
    link = tmp_path / "demo.lock"
    link.symlink_to(real)
    write_lock(link, small_lock())
    assert link.is_symlink() and read_lock(real) == small_lock()
    fifo = tmp_path / "lock-pipe"
    with fifo_reader(fifo) as received:
        write_lock(fifo, small_lock())
    assert b'"demo/tests/test_x.py" = "SW001 tests"' in received[0] and stat.S_ISFIFO(fifo.stat().st_mode)
    with pytest.raises(LockError, match="can't write the lock file"):
        write_lock(tmp_path, small_lock())  # a directory


# -- through the command line -------------------------------------------------------------------------------------


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "slimwheel", *args], capture_output=True, text=True, cwd=cwd, timeout=300
    )


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    files = {"pkg/__init__.py": b"X = 1\n", "pkg/tests/test_x.py": b"def test(): pass\n"}
    return SynthWheel(name="pkg", version="1.0", files=files).build(tmp_path_factory.mktemp("wheel"))


@pytest.mark.parametrize("command", ["shrink", "inspect"])
def test_json_dash_is_standard_output_and_the_report_goes_to_standard_error(
    command: str, wheel: Path, tmp_path: Path
) -> None:
    extra = ["-w", "out"] if command == "shrink" else []
    proc = run(command, str(wheel), *extra, "--json", "-", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)  # nothing but the JSON on standard output
    assert data["schema_version"] == 1 and len(data["wheels"]) == 1
    assert wheel.name in proc.stderr  # the human report
    assert not (tmp_path / "-").exists()


def test_json_through_a_symlink_and_a_fifo_from_the_command_line(wheel: Path, tmp_path: Path) -> None:
    real = tmp_path / "reports" / "r.json"
    real.parent.mkdir()
    (tmp_path / "link.json").symlink_to(real)
    proc = run("shrink", str(wheel), "-w", "out", "-q", "--json", "link.json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "link.json").is_symlink() and json.loads(real.read_text())["schema_version"] == 1
    with fifo_reader(tmp_path / "pipe") as received:
        proc = run("inspect", str(wheel), "--json", "pipe", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(received[0])["wheels"][0]["name"] == "pkg" and stat.S_ISFIFO((tmp_path / "pipe").stat().st_mode)
