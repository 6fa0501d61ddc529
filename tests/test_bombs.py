"""Zip-bomb limits that bound memory and disk (issue 9): each one refuses a generated bomb, each is configurable.

* whole-archive ratio (``--max-archive-ratio``): a valid 1.1 MB wheel of 1,000 × 1 MiB of zeros, which the per-entry
  ratio check never sees (its entries are not over 1 MiB), is refused before anything is inflated, at a small RSS;
* total declared size (``--max-unpacked-size``);
* declared size vs. real size while streaming: inflation stops one byte past the declared size;
* free disk space before a member is extracted (and before a big file is stripped).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from collections import namedtuple
from pathlib import Path

import pytest
import synth
from measured import MEASURED
from synth import SynthWheel

from slimwheel import archive as archive_module
from slimwheel.archive import Archive, Member, iter_member
from slimwheel.contents import Limits, read_wheel
from slimwheel.errors import BadWheel, OutputError

MIB = 1024**2


def run_measured(*args: str | Path, cwd: Path) -> tuple[subprocess.CompletedProcess[str], int]:
    """(the finished ``slimwheel ARGS``, its peak RSS in bytes)."""
    env = {k: v for k, v in os.environ.items() if k not in ("SLIMWHEEL_DEBUG", "PYTHONWARNINGS")}
    proc = subprocess.run(
        [sys.executable, "-c", MEASURED, *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    lines = [line for line in proc.stderr.splitlines() if line.startswith("MAXRSS_KIB ")]
    assert lines, proc.stderr
    return proc, int(lines[-1].split()[1]) * 1024


@pytest.fixture(scope="module")
def zeros_bomb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A valid wheel (RECORD and all) of 1,000 files of 1 MiB of zeros: 1.1 MB on disk, 1 GiB unpacked."""
    zeros = bytes(MIB)
    wheel = SynthWheel(name="bomb", version="1.0")
    wheel.files = {f"bomb/zeros{i:04}.bin": zeros for i in range(1000)}
    wheel.files["bomb/__init__.py"] = b""
    return wheel.build(tmp_path_factory.mktemp("bomb"))


def test_the_zeros_bomb_is_small_and_valid(zeros_bomb: Path) -> None:
    assert zeros_bomb.stat().st_size < 2 * MIB
    with zipfile.ZipFile(zeros_bomb) as zf:
        assert sum(i.file_size for i in zf.infolist()) > 1000 * MIB
        assert max(i.file_size for i in zf.infolist()) <= MIB  # under the per-entry ratio check's floor


def test_archive_ratio_refuses_the_zeros_bomb(zeros_bomb: Path) -> None:
    with pytest.raises(BadWheel, match=r"over the archive ratio limit of 100:1 \(a zip bomb\?\)"):
        read_wheel(zeros_bomb)


def test_archive_ratio_is_configurable(zeros_bomb: Path) -> None:
    wheel = read_wheel(zeros_bomb, limits=Limits(max_archive_ratio=2000))
    try:
        assert wheel.installed_size >= 1000 * MIB
    finally:
        wheel.close()


@pytest.mark.parametrize("command", ["inspect", "shrink"])
def test_cli_refuses_the_zeros_bomb_with_little_memory(zeros_bomb: Path, tmp_path: Path, command: str) -> None:
    args = [command, zeros_bomb] + (["-w", tmp_path / "out"] if command == "shrink" else [])
    proc, maxrss = run_measured(*args, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "archive ratio limit" in proc.stderr
    assert maxrss <= 200 * MIB, f"peak RSS {maxrss / MIB:.0f} MiB"
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_cli_max_archive_ratio_option(zeros_bomb: Path, tmp_path: Path) -> None:
    proc, _ = run_measured("inspect", zeros_bomb, "--max-archive-ratio", "2000", "--json", "-", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr


def test_total_size_limit(zeros_bomb: Path, tmp_path: Path) -> None:
    with pytest.raises(BadWheel, match=r"declares more than 524288000 uncompressed bytes \(a zip bomb\?\)"):
        read_wheel(zeros_bomb, limits=Limits(max_total_size=500 * MIB, max_archive_ratio=10**6))
    proc, _ = run_measured(
        "inspect", zeros_bomb, "--max-unpacked-size", "500MiB", "--max-archive-ratio", "2000", cwd=tmp_path
    )
    assert proc.returncode == 2
    assert "declares more than" in proc.stderr


def _lying_member(tmp_path: Path, real: int, declared: int) -> tuple[Archive, Member]:
    """An archive whose one member inflates to ``real`` bytes of zeros but declares ``declared``."""
    data = synth.raw_zip_bytes([("big.bin", bytes(real))])
    path = tmp_path / "lying.zip"
    path.write_bytes(synth.set_declared_size(data, "big.bin", declared))
    arch = Archive(path, path.name)
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("big.bin")
    start = archive_module.data_offset(path.name, arch, info)
    return arch, Member("big.bin", info.compress_type, info.CRC, info.compress_size, info.file_size, start)


def test_inflation_stops_at_the_declared_size(tmp_path: Path) -> None:
    arch, member = _lying_member(tmp_path, real=64 * MIB, declared=100_000)
    produced = 0
    with pytest.raises(BadWheel, match="inflates to more than its declared size"):
        for block in iter_member(arch, member):
            produced += len(block)
    arch.close()
    assert produced <= 100_000  # nothing past the declared size was handed out ...


def test_inflation_never_buffers_past_the_declared_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """... and zlib was never asked for more than the rest of the declared size plus one byte."""
    arch, member = _lying_member(tmp_path, real=64 * MIB, declared=100_000)
    asked: list[int] = []
    real_decompressobj = archive_module.zlib.decompressobj

    class Spy:
        def __init__(self) -> None:
            self.inner = real_decompressobj(-15)

        def decompress(self, data: bytes, max_length: int = 0) -> bytes:
            asked.append(max_length)
            return self.inner.decompress(data, max_length)

        def __getattr__(self, name: str) -> object:
            return getattr(self.inner, name)

    monkeypatch.setattr(archive_module.zlib, "decompressobj", lambda wbits: Spy())
    with pytest.raises(BadWheel):
        list(iter_member(arch, member))
    arch.close()
    assert asked and all(0 < n <= 100_001 for n in asked)
    assert len(asked) < 50


DiskUsage = namedtuple("DiskUsage", "total used free")


def _native_wheel(tmp_path: Path) -> Path:
    wheel = synth.demo_wheel(tmp_path)
    return wheel.build(tmp_path / "in")


def test_disk_space_is_checked_before_extracting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wheel = _native_wheel(tmp_path)
    workdir = tmp_path / "work"
    workdir.mkdir()
    monkeypatch.setattr(archive_module.shutil, "disk_usage", lambda path: DiskUsage(10**9, 10**9, 1000))
    with pytest.raises(OutputError, match=r"not enough disk space in .* for extracting demo/_speedups"):
        read_wheel(wheel, workdir=workdir, extract=lambda path, head: head.startswith(b"\x7fELF"))
    assert not list(workdir.iterdir())
    # nothing to extract: no disk needed, no check
    read_wheel(wheel, workdir=workdir, extract=None).close()


def test_shrink_refuses_when_the_temporary_disk_is_full(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from slimwheel.options import RulesOnly, ShrinkOptions
    from slimwheel.shrink import run

    wheel = _native_wheel(tmp_path)
    monkeypatch.setattr(archive_module.shutil, "disk_usage", lambda path: DiskUsage(10**9, 10**9, 1000))
    with pytest.raises(OutputError, match="not enough disk space"):
        run([wheel], tmp_path / "out", ShrinkOptions(), RulesOnly())
    assert not (tmp_path / "out" / wheel.name).exists()


def test_real_free_space_passes(tmp_path: Path) -> None:
    assert shutil.disk_usage(tmp_path).free > 64 * MIB  # the check's margin; the other tests fake a full disk
    archive_module.ensure_free_space(tmp_path, 1, "a test")
