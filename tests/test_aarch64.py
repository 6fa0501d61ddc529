"""linux_aarch64 wheels without emulation (issue 12): stripped with a tool that reads aarch64 ELF, verified, and
shrunk by the x86_64 lock, mapped.

Debian's x86 ``strip`` lists the generic ``elf64-little`` target but can't recognise an aarch64 file; it is left out
for aarch64 files (:func:`slimwheel.binaries.tools.tools_for`), not tried and reported as a failure. Here the
aarch64 files are stripped by ``aarch64-linux-gnu-strip`` (Debian's ``binutils-aarch64-linux-gnu``), which CI
installs; llvm-strip 14 lays the segments patchelf appended out at offsets not congruent to their addresses modulo
64 KiB, and the verifier refuses its output. Every stripped file is verified again here with pyelftools.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import wheelcache
from conftest import Shrunk
from elftools.elf.dynamic import DynamicSection
from elftools.elf.elffile import ELFFile

from slimwheel.binaries import tools as strip_tools
from slimwheel.binaries.model import BinaryFormat, BinaryInfo, StripLevel, StripStatus, StripTools
from slimwheel.binaries.stripping import strip_binary
from slimwheel.build import BuildOptions, build
from slimwheel.lock import WheelIdentity, read_lock
from slimwheel.lockmap import map_lock, path_signature
from slimwheel.recipe import load_recipe

REPO = Path(__file__).resolve().parent.parent
AARCH64 = (wheelcache.NUMPY_AARCH64, wheelcache.NUMPY_126_AARCH64)
X86_STRIP, A64_STRIP, LLVM_STRIP = "/x/strip", "/x/aarch64-linux-gnu-strip", "/x/llvm-strip"
_TARGETS = {
    X86_STRIP: frozenset({"elf64-x86-64", "elf32-i386", "elf64-little", "pei-x86-64"}),
    A64_STRIP: frozenset({"elf64-littleaarch64", "elf64-bigaarch64", "elf64-little"}),
    LLVM_STRIP: frozenset(),
}
# The only reasons an aarch64 library of these wheels may stay as it is (libgfortran has no symbol table; GNU strip
# keeps the layout of the two patchelf'ed linalg modules, whose stripped copies come out no smaller).
_LEFT_ALONE = ("skipped: no symbol table or debug sections", "unchanged: aarch64-linux-gnu-strip --strip-unneeded")


def _info(machine: str) -> BinaryInfo:
    return BinaryInfo(BinaryFormat.ELF, machine, has_symbols=True, has_debug=False, signed=False, toolchain=None)


@pytest.fixture
def fake_targets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(strip_tools, "_tool_targets", lambda tool: _TARGETS[tool])


@pytest.mark.usefixtures("fake_targets")
def test_a_binutils_strip_that_cant_read_the_machine_is_left_out() -> None:
    tools = StripTools(elf=(X86_STRIP, A64_STRIP, strip_tools.BUILTIN_ELF_STRIP, LLVM_STRIP), pe=())
    builtin = strip_tools.BUILTIN_ELF_STRIP
    assert strip_tools.tools_for(_info("aarch64"), tools) == (A64_STRIP, builtin, LLVM_STRIP)
    assert strip_tools.tools_for(_info("x86_64"), tools) == (X86_STRIP, builtin, LLVM_STRIP)
    assert strip_tools.tools_for(_info("sparc64"), tools) == tools.elf  # a machine we know no target of: try all


@pytest.mark.usefixtures("fake_targets")
def test_no_tool_for_the_machine_is_a_skip_that_says_what_to_install() -> None:
    elf = _aarch64_library()
    result = strip_binary(elf, "lib.so", StripLevel.UNNEEDED, StripTools(elf=(X86_STRIP,), pe=()))
    assert result.status is StripStatus.SKIPPED
    assert result.reason == "no strip tool for ELF aarch64 installed (install binutils-aarch64-linux-gnu or llvm)"


def _aarch64_library() -> bytes:
    with zipfile.ZipFile(_wheel(wheelcache.NUMPY_AARCH64)) as archive:
        return archive.read("numpy/_core/_operand_flag_tests.cpython-311-aarch64-linux-gnu.so")


def _wheel(spec: wheelcache.RealWheel) -> Path:
    try:
        return wheelcache.fetch(spec)
    except wheelcache.DownloadFailed as exc:
        pytest.skip(str(exc))


def test_path_signatures_match_across_architectures() -> None:
    pairs = [
        ("numpy/_core/_simd.cpython-311-x86_64-linux-gnu.so", "numpy/_core/_simd.cpython-311-aarch64-linux-gnu.so"),
        ("numpy.libs/libscipy_openblas64_-32a4b2a6.so", "numpy.libs/libscipy_openblas64_-7220728c.so"),
        ("numpy.libs/libgfortran-040039e1-0352e75f.so.5.0.0", "numpy.libs/libgfortran-daac5196-038a5e3c.so.5.0.0"),
    ]
    for x86, arm in pairs:
        assert path_signature(x86) == path_signature(arm), (x86, arm)


@pytest.mark.realwheel
def test_the_x86_64_lock_maps_onto_the_aarch64_wheel() -> None:
    wheel = _wheel(wheelcache.NUMPY_AARCH64)
    lock = read_lock(REPO / "recipes" / "locks" / "numpy.lock")
    assert "x86_64" in lock.wheel.tag
    with zipfile.ZipFile(wheel) as archive:
        mapped = map_lock(lock, WheelIdentity.of(wheel), archive.namelist())
    assert mapped.coverage >= 0.95 and mapped.mapped == mapped.total, mapped.unmapped  # 100 % here
    assert not mapped.unknown and not mapped.ambiguous and not mapped.unmapped_stripped
    assert "numpy.libs/libscipy_openblas64_-7220728c.so" in mapped.stripped


def _segments(elf: ELFFile) -> list[Any]:
    return [s.header for s in elf.iter_segments()]


def _dynamic(elf: ELFFile) -> list[tuple[str, object]]:
    found: list[tuple[str, object]] = []
    for section in elf.iter_sections():
        if isinstance(section, DynamicSection):
            for tag in section.iter_tags():
                value = getattr(tag, tag.entry.d_tag[3:].lower(), None) if tag.entry.d_tag in _NAMED else None
                found.append((tag.entry.d_tag, value if value is not None else tag.entry.d_val))
    return found


_NAMED = {"DT_NEEDED", "DT_SONAME", "DT_RPATH", "DT_RUNPATH"}


def _pyelftools_problem(original: Path, stripped: Path) -> str | None:
    """An independent check that ``stripped`` loads like ``original``: program headers, alignment, dynamic section,
    dynamic symbols (pyelftools, not slimwheel's reader)."""
    with original.open("rb") as a, stripped.open("rb") as b:
        before, after = ELFFile(a), ELFFile(b)
        if (before["e_machine"], after["e_machine"]) != ("EM_AARCH64", "EM_AARCH64"):
            return "not aarch64"
        old, new = _segments(before), _segments(after)
        if [s.p_type for s in old] != [s.p_type for s in new]:
            return "program headers differ"
        for o, n in zip(old, new, strict=True):
            if n.p_type == "PT_LOAD":
                # GNU strip may cut a tail no section covers (what patchelf left behind): sections checked below
                trimmed = o.p_memsz == o.p_filesz and n.p_memsz == n.p_filesz <= o.p_memsz
                if (o.p_vaddr, o.p_flags, o.p_align) != (n.p_vaddr, n.p_flags, n.p_align) or not (
                    o.p_memsz == n.p_memsz or trimmed
                ):
                    return f"PT_LOAD at {o.p_vaddr:#x} changed"
                if n.p_align > 1 and (n.p_offset - n.p_vaddr) % n.p_align:
                    return f"PT_LOAD at {n.p_vaddr:#x}: p_offset {n.p_offset:#x} not congruent modulo p_align"
                if n.p_offset + n.p_filesz > stripped.stat().st_size:
                    return f"PT_LOAD at {n.p_vaddr:#x} runs past the end of the file"
            elif (o.p_vaddr, o.p_memsz) != (n.p_vaddr, n.p_memsz):
                return f"{o.p_type} changed"
        loads = [h for h in new if h.p_type == "PT_LOAD"]
        for section in before.iter_sections():
            h = section.header
            if not h.sh_flags & 2 or h.sh_type == "SHT_NOBITS" or not h.sh_size:  # SHF_ALLOC, with file bytes
                continue
            load = next((x for x in loads if x.p_vaddr <= h.sh_addr < x.p_vaddr + x.p_filesz), None)
            if load is None or h.sh_addr + h.sh_size > load.p_vaddr + load.p_filesz:
                return f"{section.name} is no longer loaded whole"
            b.seek(load.p_offset + h.sh_addr - load.p_vaddr)
            if b.read(h.sh_size) != section.data():
                return f"{section.name} changed"
        if _dynamic(before) != _dynamic(after):
            return "dynamic section differs"
        symbols = [elf.get_section_by_name(".dynsym") for elf in (before, after)]
        if any(s is None for s in symbols) or symbols[0].num_symbols() != symbols[1].num_symbols():
            return "dynamic symbols differ"
    return None


@pytest.fixture(scope="module")
def aarch64_strip() -> str | None:
    tool = shutil.which("aarch64-linux-gnu-strip")
    if tool is None and wheelcache.in_ci():
        pytest.fail("aarch64-linux-gnu-strip missing: CI must install binutils-aarch64-linux-gnu", pytrace=False)
    return tool


@pytest.mark.realwheel
@pytest.mark.slow
@pytest.mark.parametrize("spec", AARCH64, ids=lambda s: s.key)
def test_aarch64_wheel_is_stripped_and_every_stripped_file_verifies(
    spec: wheelcache.RealWheel,
    shrunk: Callable[[wheelcache.RealWheel], Shrunk],
    aarch64_strip: str | None,
    tmp_path: Path,
    record_property: Callable[[str, object], None],
) -> None:
    _wheel(spec)
    result = shrunk(spec)
    report = result.report
    assert report.after.archive < report.before.archive and report.after.total.installed < report.before.total.installed
    assert len(report.stripped) >= 15
    for left in report.skipped:
        assert "Unable to recognise" not in left.reason, left  # the x86 strip is never tried on aarch64
        if aarch64_strip is not None and (left.path.endswith(".so") or ".so." in left.path):
            assert left.reason.startswith(_LEFT_ALONE), left
    if aarch64_strip is not None:
        assert all(s.how.startswith("aarch64-linux-gnu-strip --strip-unneeded") for s in report.stripped)
        assert any(".libs/libopenblas" in s.path or ".libs/libscipy_openblas" in s.path for s in report.stripped)
    before, after = tmp_path / "before", tmp_path / "after"
    with zipfile.ZipFile(result.input) as original, zipfile.ZipFile(result.output) as slim:
        for s in report.stripped:
            original.extract(s.path, before)
            slim.extract(s.path, after)
            assert (after / s.path).stat().st_size == s.after < s.before
            assert _pyelftools_problem(before / s.path, after / s.path) is None, s.path
    unpacked = subprocess.run(
        [sys.executable, "-m", "wheel", "unpack", "-d", str(tmp_path / "u"), str(result.output)],
        capture_output=True,
        text=True,
    )
    assert unpacked.returncode == 0, unpacked.stderr
    record_property(
        "slimwheel-numbers",
        f"aarch64 {spec.key}: {report.before.archive / 1e6:.2f} -> {report.after.archive / 1e6:.2f} MB,"
        f" {len(report.stripped)} stripped",
    )


@pytest.mark.realwheel
@pytest.mark.slow
def test_numpy_recipe_builds_linux_aarch64_by_replaying_the_x86_64_lock(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    folder = cache / "wheels" / "linux_aarch64"
    folder.mkdir(parents=True)
    source = _wheel(wheelcache.NUMPY_AARCH64)
    (folder / source.name).hardlink_to(source)
    (tmp_path / "out").mkdir()
    options = BuildOptions(output_dir=tmp_path / "out", cache_dir=cache, platforms=("linux_aarch64",))
    (r,) = build([load_recipe(REPO / "recipes" / "numpy.toml")], options)
    assert r.error is None and r.report is not None and r.report.lock is not None, r.error
    assert (r.mode, r.note) == ("lock", "can't run here")
    assert r.report.lock.coverage >= 0.95 and not r.over_budget
    assert Path(r.report.output).name == source.name


@pytest.mark.realwheel
def test_a_strip_that_breaks_the_64k_alignment_is_refused(tmp_path: Path) -> None:
    """llvm-strip 14 moves the segments patchelf appended to offsets not congruent to their addresses modulo
    p_align (64 KiB on aarch64): the loader would refuse the file, and so does the verifier."""
    llvm = shutil.which("llvm-strip")
    if llvm is None:
        pytest.skip("llvm-strip not installed")
    name = "numpy/linalg/lapack_lite.cpython-311-aarch64-linux-gnu.so"
    with zipfile.ZipFile(_wheel(wheelcache.NUMPY_126_AARCH64)) as archive:
        original = archive.read(name)
    stripped = strip_tools.run_tool(llvm, "--strip-unneeded", original)
    (tmp_path / "a.so").write_bytes(original)
    (tmp_path / "b.so").write_bytes(stripped)
    if _pyelftools_problem(tmp_path / "a.so", tmp_path / "b.so") is None:
        pytest.skip("this llvm-strip keeps the alignment")
    assert "not congruent modulo p_align" in (_pyelftools_problem(tmp_path / "a.so", tmp_path / "b.so") or "")
    result = strip_binary(original, name, StripLevel.UNNEEDED, StripTools(elf=(llvm,), pe=()))
    assert result.status is StripStatus.REVERTED and result.data == original
    assert "not congruent modulo p_align 0x10000" in result.reason, result.reason
