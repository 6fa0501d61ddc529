"""Tests for slimwheel.binaries.elfstrip, the built-in streamed ELF section stripper, and for how binaries uses it.

Samples are built with the machine's gcc: shared objects and executables, with and without ``-g``, with TLS
variables, ELF32 (``-m32``, linked without libc) when the compiler can, and big-endian copies made by swapping every
header and symbol table of the little-endian ones (no big-endian compiler here: the stripper only reads headers and
symbol tables, so ``strip(swap(x)) == swap(strip(x))`` must hold byte for byte).
"""

from __future__ import annotations

import io
import os
import random
import shutil
import struct
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

from slimwheel.binaries import (
    BUILTIN_ELF_STRIP,
    StripLevel,
    StripStatus,
    StripTools,
    elfstrip,
    find_strip_tools,
    strip_binary,
    strip_file,
    verify_stripped,
)
from slimwheel.binaries import tools as strip_tools
from slimwheel.binaries.elfstrip import ElfStripError, StripMode, strip_sections

try:
    import synth
except ImportError:  # pragma: no cover - depends on how pytest was started
    sys.path.insert(0, str(Path(__file__).parent))
    import synth

DEBUG, UNNEEDED = StripMode.DEBUG, StripMode.UNNEEDED
PT_LOAD, PT_TLS = 1, 7
SHF_ALLOC, SHF_INFO_LINK = 0x2, 0x40

LIB_SOURCE = textwrap.dedent(
    """
    __thread int slimwheel_counter = 5;
    static __thread char slimwheel_buffer[200];
    static int helper(int x) { return 3 * x; }
    int slimwheel_add(int a, int b) {
        slimwheel_buffer[a & 127] = (char)a;
        return a + b + slimwheel_counter - 5 + slimwheel_buffer[a & 127] - (char)a;
    }
    int slimwheel_triple(int x) { return helper(x); }
    """
)
PLAIN_LIB_SOURCE = "static int h(int x) { return 3 * x; }\nint slimwheel_add(int a, int b) { return a + b; }\n"
PLAIN_LIB_SOURCE += "int slimwheel_triple(int x) { return h(x); }\n"
PROGRAM_SOURCE = textwrap.dedent(
    """
    #include <stdio.h>
    static __thread int calls = 40;
    static int twice(int x) { return 2 * x; }
    int main(void) { calls += 2; printf("answer=%d tls=%d\\n", twice(21), calls); return 0; }
    """
)
# A non-allocated section with a relocation: with --emit-relocs, .rela.slimwheel.meta points at it (sh_info).
EMIT_RELOCS_SOURCE = textwrap.dedent(
    """
    int slimwheel_add(int a, int b) { return a + b; }
    __asm__(".section .slimwheel.meta,\\"\\",@progbits\\n.quad slimwheel_add\\n.previous\\n");
    """
)


# ----------------------------------------------------------------------------------------------------------
# Samples
# ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    path: Path
    kind: str  # "lib" (loadable, exports slimwheel_add/triple), "exe" (runnable), "ext", "foreign" (not loadable)
    debug: bool  # built with -g

    @property
    def name(self) -> str:
        return self.path.name


def gcc(directory: Path, out: str, source: str, *flags: str) -> Path:
    src = directory / (out.replace(".", "_") + ".c")
    src.write_text(source)
    subprocess.run(["gcc", *flags, "-o", out, src.name], cwd=directory, check=True, capture_output=True, text=True)
    return directory / out


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Sample]:
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed")
    d = tmp_path_factory.mktemp("elfstrip")
    lib = ("-shared", "-fPIC", "-O1")
    found = {
        "tls_lib_g": Sample(gcc(d, "libtls_g.so", LIB_SOURCE, *lib, "-g"), "lib", True),
        "tls_lib": Sample(gcc(d, "libtls.so", LIB_SOURCE, *lib), "lib", False),
        "plain_lib_g": Sample(gcc(d, "libplain_g.so", PLAIN_LIB_SOURCE, *lib, "-g"), "lib", True),
        "exe_g": Sample(gcc(d, "prog_g", PROGRAM_SOURCE, "-O1", "-g"), "exe", True),
        "exe": Sample(gcc(d, "prog", PROGRAM_SOURCE, "-O1"), "exe", False),
        "pie_exe_g": Sample(gcc(d, "prog_pie_g", PROGRAM_SOURCE, "-O1", "-g", "-fPIE", "-pie"), "exe", True),
        "ext_g": Sample(synth.compile_extension(d / "ext", debug=True), "ext", True),
    }
    try:  # ELF32: this machine may have no 32-bit libc, so link without it (not loadable, but strippable)
        lib32 = gcc(d, "libtls32_g.so", LIB_SOURCE, "-m32", "-nostdlib", *lib, "-g")
    except subprocess.CalledProcessError:
        pass
    else:
        found["lib32_g"] = Sample(lib32, "foreign", True)
    return found


def sample(samples: dict[str, Sample], key: str) -> Sample:
    if key not in samples:
        pytest.skip(f"{key}: gcc -m32 cannot build 32-bit shared objects here")
    return samples[key]


ALL_SAMPLES = ["tls_lib_g", "tls_lib", "plain_lib_g", "exe_g", "exe", "pie_exe_g", "ext_g", "lib32_g"]


# ----------------------------------------------------------------------------------------------------------
# ELF helpers (independent of the code under test)
# ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Layout:
    endian: str
    is64: bool
    phoff: int
    phentsize: int
    phnum: int
    shoff: int
    shentsize: int
    shnum: int
    shstrndx: int

    @property
    def shdr(self) -> str:  # name, type, flags, addr, offset, size, link, info, addralign, entsize
        return self.endian + ("IIQQQQIIQQ" if self.is64 else "IIIIIIIIII")

    @property
    def phdr(self) -> str:
        return self.endian + ("IIQQQQQQ" if self.is64 else "IIIIIIII")

    def section(self, data: bytes, index: int) -> list[int]:
        return list(struct.unpack_from(self.shdr, data, self.shoff + index * self.shentsize))

    def segments(self, data: bytes) -> list[tuple[int, int, int, int]]:
        """(p_type, p_offset, p_filesz, p_memsz)"""
        out = []
        for i in range(self.phnum):
            f = struct.unpack_from(self.phdr, data, self.phoff + i * self.phentsize)
            out.append((f[0], f[2], f[5], f[6]) if self.is64 else (f[0], f[1], f[4], f[5]))
        return out


def layout(data: bytes) -> Layout:
    is64, e = data[4] == 2, "<" if data[5] == 1 else ">"
    if is64:
        phoff, shoff = struct.unpack_from(e + "QQ", data, 32)
        phentsize, phnum, shentsize, shnum, shstrndx = struct.unpack_from(e + "HHHHH", data, 54)
    else:
        phoff, shoff = struct.unpack_from(e + "II", data, 28)
        phentsize, phnum, shentsize, shnum, shstrndx = struct.unpack_from(e + "HHHHH", data, 42)
    return Layout(e, is64, phoff, phentsize, phnum, shoff, shentsize, shnum, shstrndx)


def section_names(data: bytes) -> list[str]:
    """Section names read straight from the headers (pyelftools parses some sections' contents on the way)."""
    lay = layout(data)
    names_at = lay.section(data, lay.shstrndx)[4]
    out = []
    for i in range(lay.shnum):
        at = names_at + lay.section(data, i)[0]
        out.append(data[at : data.index(b"\0", at)].decode())
    return out


def section_contents(data: bytes) -> dict[str, bytes]:
    """Name -> file contents of every section that has some."""
    lay = layout(data)
    out = {}
    for i, name in enumerate(section_names(data)):
        sh = lay.section(data, i)
        if i and sh[1] != 8:  # not SHT_NOBITS
            out[name] = data[sh[4] : sh[4] + sh[5]]
    return out


def index_of(data: bytes, name: str) -> int:
    return section_names(data).index(name)


def patch_section(data: bytes, index: int, **changes: int) -> bytes:
    fields = ("name", "type", "flags", "addr", "offset", "size", "link", "info", "addralign", "entsize")
    lay = layout(data)
    values = dict(zip(fields, lay.section(data, index), strict=True))
    values.update(changes)
    out = bytearray(data)
    struct.pack_into(lay.shdr, out, lay.shoff + index * lay.shentsize, *(values[f] for f in fields))
    return bytes(out)


def patch_header(data: bytes, **changes: int) -> bytes:
    """Rewrite e_shoff / e_phnum / e_shnum / e_shstrndx of a little-endian ELF64."""
    out = bytearray(data)
    fields = {"e_shoff": ("<Q", 40), "e_phnum": ("<H", 56), "e_shnum": ("<H", 60), "e_shstrndx": ("<H", 62)}
    for field, (fmt, at) in fields.items():
        if field in changes:
            struct.pack_into(fmt, out, at, changes[field])
    return bytes(out)


def blank_section_fields(data: bytes) -> bytes:
    """``data`` with e_shoff, e_shnum and e_shstrndx zeroed: the only ELF header fields strip may change."""
    out = bytearray(data)
    lay = layout(data)
    for at, size in ((40, 8), (60, 4)) if lay.is64 else ((32, 4), (48, 4)):
        out[at : at + size] = bytes(size)
    return bytes(out)


def to_big_endian(data: bytes) -> bytes:
    """A little-endian ELF with its ELF header, program headers, section headers and symbol tables byte-swapped.

    Nothing else is swapped (so the result is not loadable), but that is all the stripper reads."""
    lay = layout(data)
    assert lay.endian == "<"
    out = bytearray(data)
    out[5] = 2
    ehdr = "HHIQQQIHHHHHH" if lay.is64 else "HHIIIIIHHHHHH"
    struct.pack_into(">" + ehdr, out, 16, *struct.unpack_from("<" + ehdr, data, 16))

    def swap(fmt: str, at: int) -> None:
        struct.pack_into(">" + fmt, out, at, *struct.unpack_from("<" + fmt, data, at))

    for i in range(lay.phnum):
        swap(lay.phdr[1:], lay.phoff + i * lay.phentsize)
    for i in range(lay.shnum):
        swap(lay.shdr[1:], lay.shoff + i * lay.shentsize)
        sh = lay.section(data, i)
        if sh[1] in (2, 11):  # SHT_SYMTAB, SHT_DYNSYM
            sym = "IBBHQQ" if lay.is64 else "IIIBBH"
            for at in range(sh[4], sh[4] + sh[5], struct.calcsize(sym)):
                swap(sym, at)
    return bytes(out)


def strip_to_bytes(source: Path, mode: StripMode, tmp: Path) -> bytes:
    output = tmp / f"{source.name}.{mode.name.lower()}.out"
    strip_sections(source, output, mode)
    return output.read_bytes()


def gnu_strip(source: Path, mode: StripMode, tmp: Path) -> bytes | None:
    tool = shutil.which("strip")
    if tool is None or "GNU" not in subprocess.run([tool, "--version"], capture_output=True, text=True).stdout:
        return None
    output = tmp / f"{source.name}.gnu.out"
    subprocess.run([tool, mode.value, "-o", str(output), str(source)], check=True, capture_output=True)
    return output.read_bytes()


def check_loads(s: Sample, path: Path) -> None:
    """The stripped file still works: the library loads and answers, the program runs, the extension imports."""
    if s.kind == "exe":
        path.chmod(0o755)
        assert subprocess.run([path], capture_output=True, text=True, check=True).stdout == "answer=42 tls=42\n"
        return
    if s.kind == "lib":
        code = f"""
            import ctypes
            lib = ctypes.CDLL({str(path)!r})
            tls = ctypes.c_int.in_dll(lib, "slimwheel_counter").value if {"tls" in s.name!r} else 5
            print(lib.slimwheel_add(2, 40), lib.slimwheel_triple(5), tls)
            """
        expected = ["42", "15", "5"]
    elif s.kind == "ext":
        module = path.name.split(".")[0]
        code = f"""
            import importlib.util
            spec = importlib.util.spec_from_file_location({module!r}, {str(path)!r})
            mod = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(mod)
            print(mod.add(2, 40))
            """
        expected = ["42"]
    else:
        return
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == expected


def readelf_sections(path: Path) -> str | None:
    tool = shutil.which("readelf")
    if tool is None:
        return None
    return subprocess.run([tool, "-SW", str(path)], capture_output=True, text=True, check=True).stdout


# ----------------------------------------------------------------------------------------------------------
# Stripping real files
# ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", [DEBUG, UNNEEDED])
@pytest.mark.parametrize("key", ALL_SAMPLES)
def test_strip_real_builds(samples: dict[str, Sample], key: str, mode: StripMode, tmp_path: Path) -> None:
    s = sample(samples, key)
    original = s.path.read_bytes()
    if mode is DEBUG and not s.debug:
        with pytest.raises(ElfStripError, match=r"^no debug sections to remove$"):
            strip_sections(s.path, tmp_path / "out", mode)
        assert not (tmp_path / "out").exists()
        return
    out_path = tmp_path / s.name
    strip_sections(s.path, out_path, mode)
    stripped = out_path.read_bytes()
    assert os.stat(out_path).st_mode == os.stat(s.path).st_mode

    # Nothing loaded changed: program headers byte-identical, every segment's file image identical, and the
    # ELF header differs only in the section header table fields.
    before = layout(original)
    ph = slice(before.phoff, before.phoff + before.phnum * before.phentsize)
    assert stripped[ph] == original[ph]
    assert blank_section_fields(stripped)[:64] == blank_section_fields(original)[:64]
    segments = before.segments(original)
    assert any(t == PT_TLS for t, *_ in segments) is ("tls" in s.name or s.kind == "exe")
    loaded_end = max(offset + filesz for _, offset, filesz, _ in segments)
    assert blank_section_fields(stripped)[:loaded_end] == blank_section_fields(original)[:loaded_end]
    assert verify_stripped(original, stripped) is None

    names = section_names(stripped)
    assert section_contents(stripped) == {n: c for n, c in section_contents(original).items() if n in names}
    assert not [n for n in names if n.startswith((".debug", ".zdebug", ".rela.debug"))]
    assert (".symtab" in names) is (mode is DEBUG)
    assert (".strtab" in names) is (mode is DEBUG)
    assert [n for n in section_names(original) if n not in names], "something was removed"
    listing = readelf_sections(out_path)
    if listing is not None:
        assert ".debug_" not in listing and "readelf: Warning" not in listing
        assert (".symtab" in listing) is (mode is DEBUG)

    elf = ELFFile(io.BytesIO(stripped))
    for section in elf.iter_sections():  # the links were renumbered: every link names the right kind of section
        if section["sh_type"] in ("SHT_SYMTAB", "SHT_DYNSYM"):
            assert elf.get_section(section["sh_link"])["sh_type"] == "SHT_STRTAB"
        if section["sh_type"] in ("SHT_RELA", "SHT_REL"):
            assert elf.get_section(section["sh_link"])["sh_type"] == "SHT_DYNSYM"
    if mode is DEBUG:  # .symtab still names its symbols through the (renumbered) .strtab
        symtab = elf.get_section_by_name(".symtab")
        assert symtab is not None
        assert {"slimwheel_add", "main", "PyInit__speedups"} & {sym.name for sym in symtab.iter_symbols()}

    # close to what GNU strip does (it also rebuilds .shstrtab, hence the little difference)
    gnu = gnu_strip(s.path, mode, tmp_path)
    if gnu is not None:
        assert len(gnu) <= len(stripped) <= len(gnu) * 1.03 + 256, (len(stripped), len(gnu))
    check_loads(s, out_path)

    with pytest.raises(ElfStripError):  # stripping again finds nothing more to do
        strip_sections(out_path, tmp_path / "again", mode)


@pytest.mark.parametrize("mode", [DEBUG, UNNEEDED])
@pytest.mark.parametrize("key", ["tls_lib_g", "exe_g", "lib32_g"])
def test_big_endian_strips_exactly_like_little_endian(
    samples: dict[str, Sample], key: str, mode: StripMode, tmp_path: Path
) -> None:
    s = sample(samples, key)
    little = strip_to_bytes(s.path, mode, tmp_path)
    big_input = tmp_path / f"be-{s.name}"
    big_input.write_bytes(to_big_endian(s.path.read_bytes()))
    big = strip_to_bytes(big_input, mode, tmp_path)
    assert big == to_big_endian(little)
    assert ELFFile(io.BytesIO(big)).little_endian is False
    assert (".symtab" in section_names(big)) is (mode is DEBUG)


def test_links_and_infos_are_renumbered(tmp_path: Path) -> None:
    # --emit-relocs leaves non-allocated relocation sections: .rela.slimwheel.meta (sh_info: .slimwheel.meta,
    # sh_link: .symtab). Rename .comment, just before them, to .debug_x: removing it renumbers every later section.
    lib = gcc(tmp_path, "libmeta.so", EMIT_RELOCS_SOURCE, "-shared", "-fPIC", "-O1", "-Wl,--emit-relocs")
    original = lib.read_bytes()
    lay = layout(original)
    comment, symtab, strtab = (index_of(original, n) for n in (".comment", ".symtab", ".strtab"))
    assert section_names(original)[comment + 1 : comment + 3] == [".slimwheel.meta", ".rela.slimwheel.meta"]
    data = bytearray(original)
    name_at = lay.section(original, lay.shstrndx)[4] + lay.section(original, comment)[0]
    assert data[name_at : name_at + 9] == b".comment\0"
    data[name_at : name_at + 8] = b".debug_x"
    # ld wrote section symbols for .comment and the rest; make them absolute, or the index check refuses
    sym = lay.section(original, symtab)
    for at in range(sym[4], sym[4] + sym[5], 24):
        if comment <= struct.unpack_from("<H", data, at + 6)[0] < 0xFF00:
            struct.pack_into("<H", data, at + 6, 0xFFF1)
    # and SHF_INFO_LINK on .strtab pointing at .symtab: its sh_info is then a section index, and must follow
    source = tmp_path / "libmeta-patched.so"
    source.write_bytes(patch_section(bytes(data), strtab, flags=SHF_INFO_LINK, info=symtab))

    out = tmp_path / "out.so"
    strip_sections(source, out, DEBUG)
    stripped = out.read_bytes()
    assert verify_stripped(source.read_bytes(), stripped) is None
    names = section_names(stripped)
    assert ".debug_x" not in names and names.index(".symtab") == symtab - 1
    after = layout(stripped)
    meta, rela_meta = names.index(".slimwheel.meta"), names.index(".rela.slimwheel.meta")
    assert meta == comment
    assert after.section(stripped, rela_meta)[6:8] == [symtab - 1, meta]  # sh_link and sh_info followed
    assert after.section(stripped, symtab - 1)[6] == strtab - 1  # .symtab's sh_link followed
    assert after.section(stripped, strtab - 1)[6:8] == [0, symtab - 1]  # SHF_INFO_LINK sh_info followed
    assert after.shstrndx == names.index(".shstrtab") == lay.shstrndx - 1
    relocated = ELFFile(io.BytesIO(stripped)).get_section_by_name(".rela.slimwheel.meta")
    assert [r["r_offset"] for r in relocated.iter_relocations()] == [0]
    proc = subprocess.run(
        [sys.executable, "-c", f"import ctypes; print(ctypes.CDLL({str(out)!r}).slimwheel_add(40, 2))"],
        capture_output=True,
        text=True,
    )
    assert proc.stdout.strip() == "42", proc.stderr


def test_what_segments_or_kept_sections_cover_stays_in_place(samples: dict[str, Sample], tmp_path: Path) -> None:
    original = samples["tls_lib_g"].path.read_bytes()
    lay = layout(original)
    debug_info = lay.section(original, index_of(original, ".debug_info"))
    # A segment whose file image is .debug_info (say, a note a tool pointed at it): those bytes must stay.
    stack = [i for i, (t, *_) in enumerate(lay.segments(original)) if t == 0x6474E551]  # PT_GNU_STACK
    covered = bytearray(original)
    struct.pack_into("<QQQQQ", covered, lay.phoff + stack[0] * lay.phentsize + 8, debug_info[4], 0, 0, debug_info[5], 0)
    source = tmp_path / "segment.so"
    source.write_bytes(bytes(covered))
    out = strip_to_bytes(source, UNNEEDED, tmp_path)
    assert out[debug_info[4] : debug_info[4] + debug_info[5]] == original[debug_info[4] : debug_info[4] + debug_info[5]]
    assert len(out) < len(original) and verify_stripped(bytes(covered), out) is None

    # A kept section that starts inside the loaded part and runs past it stays where it is, whole.
    loaded_end = max(off + size for _, off, size, _ in lay.segments(original))
    comment = index_of(original, ".comment")
    straddling = patch_section(original, comment, offset=loaded_end - 8)
    source.write_bytes(straddling)
    out = strip_to_bytes(source, UNNEEDED, tmp_path)
    assert layout(out).section(out, comment)[4] == loaded_end - 8
    assert section_contents(out)[".comment"] == section_contents(straddling)[".comment"]
    assert verify_stripped(straddling, out) is None


def test_a_failed_write_leaves_no_output(
    samples: dict[str, Sample], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full_disk(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(elfstrip, "_copy", full_disk)
    with pytest.raises(OSError, match="No space left"):
        strip_sections(samples["tls_lib_g"].path, tmp_path / "out.so", UNNEEDED)
    assert list(tmp_path.iterdir()) == []


def test_output_may_not_be_the_input(samples: dict[str, Sample], tmp_path: Path) -> None:
    path = tmp_path / "lib.so"
    shutil.copy(samples["tls_lib_g"].path, path)
    with pytest.raises(ElfStripError, match="the output file is the input file"):
        strip_sections(path, path, UNNEEDED)
    assert path.read_bytes() == samples["tls_lib_g"].path.read_bytes()


# ----------------------------------------------------------------------------------------------------------
# Refusals
# ----------------------------------------------------------------------------------------------------------


def refused(data: bytes, mode: StripMode, tmp_path: Path) -> str:
    source, output = tmp_path / "in.so", tmp_path / "out.so"
    source.write_bytes(data)
    with pytest.raises(ElfStripError) as info:
        strip_sections(source, output, mode)
    assert not output.exists()
    message = str(info.value)
    assert "\n" not in message and message
    return message


def test_refuses_removing_a_section_before_an_allocated_one(samples: dict[str, Sample], tmp_path: Path) -> None:
    data = samples["tls_lib_g"].path.read_bytes()
    # .note.gnu.build-id (section 1) becomes a non-allocated .debug_info: removing it would renumber everything
    # after it, and .dynsym's st_shndx values can't follow (they are loaded bytes).
    debug_info = layout(data).section(data, index_of(data, ".debug_info"))
    data = patch_section(data, 1, name=debug_info[0], flags=0)
    message = refused(data, DEBUG, tmp_path)
    assert message.startswith(".debug_info (section 1) would be removed before allocated")
    assert "section indices the dynamic symbols use would change" in message


def test_refuses_a_kept_section_linking_to_a_removed_one(samples: dict[str, Sample], tmp_path: Path) -> None:
    data = samples["tls_lib_g"].path.read_bytes()
    data = patch_section(data, index_of(data, ".comment"), link=index_of(data, ".debug_info"))
    for mode in (DEBUG, UNNEEDED):
        assert refused(data, mode, tmp_path).startswith(".comment (section ")
        assert refused(data, mode, tmp_path).endswith(
            f"refers to .debug_info (section {index_of(data, '.debug_info')}), which would be removed"
        )
    # --emit-relocs: the kept .rela.text & co. use .symtab, so --strip-unneeded may not remove it
    lib = gcc(tmp_path, "libmeta.so", EMIT_RELOCS_SOURCE, "-shared", "-fPIC", "-O1", "-g", "-Wl,--emit-relocs")
    symtab = index_of(lib.read_bytes(), ".symtab")
    message = refused(lib.read_bytes(), UNNEEDED, tmp_path)
    assert message.startswith(".rela.") and message.endswith(
        f"refers to .symtab (section {symtab}), which would be removed"
    )


def test_refuses_symbols_whose_section_index_would_change(samples: dict[str, Sample], tmp_path: Path) -> None:
    original = samples["tls_lib_g"].path.read_bytes()
    lay = layout(original)
    symtab = index_of(original, ".symtab")
    sh = lay.section(original, symtab)
    first_debug = min(i for i, n in enumerate(section_names(original)) if n.startswith(".debug"))
    entry = sh[4] + 3 * sh[9]  # a symbol of .symtab: st_shndx at +6
    for shndx, what in [
        (first_debug, f"section {first_debug}"),
        (symtab, f"section {symtab}"),
        (0xFFFF, "an extended"),
    ]:
        data = bytearray(original)
        struct.pack_into("<H", data, entry + 6, shndx)
        message = refused(bytes(data), DEBUG, tmp_path)
        assert message.startswith(f"symbol 3 of .symtab (section {symtab}) refers to {what}")
        # --strip-unneeded removes .symtab: its symbols don't matter
        (tmp_path / "in.so").write_bytes(bytes(data))
        strip_sections(tmp_path / "in.so", tmp_path / "ok.so", UNNEEDED)
    # an index below the first removed section, or a reserved one (SHN_ABS), does not move
    data = bytearray(original)
    struct.pack_into("<H", data, entry + 6, first_debug - 1)
    struct.pack_into("<H", data, entry + 24 + 6, 0xFFF1)
    (tmp_path / "in.so").write_bytes(bytes(data))
    strip_sections(tmp_path / "in.so", tmp_path / "ok.so", DEBUG)

    # a real case: --emit-relocs makes ld write section symbols for the debug sections
    lib = gcc(tmp_path, "libmeta.so", EMIT_RELOCS_SOURCE, "-shared", "-fPIC", "-O1", "-g", "-Wl,--emit-relocs")
    assert " of .symtab (section " in refused(lib.read_bytes(), DEBUG, tmp_path)


def test_refuses_groups_extended_numbering_and_bad_headers(samples: dict[str, Sample], tmp_path: Path) -> None:
    data = samples["tls_lib_g"].path.read_bytes()
    comment = index_of(data, ".comment")
    cases = {
        "section groups are not supported": patch_section(data, comment, type=17),
        "extended section numbering": patch_header(data, e_shnum=0),
        "extended section numbering (SHN_XINDEX)": patch_header(data, e_shstrndx=0xFFFF),
        "bad section name table index 65280": patch_header(data, e_shstrndx=0xFF00),
        "extended program header numbering (PN_XNUM)": patch_header(data, e_phnum=0xFFFF),
        "bad section name table index 0": patch_header(data, e_shstrndx=0),
        "no section header table": patch_header(data, e_shoff=0),
        "section header table runs past the end of the file": patch_header(data, e_shoff=len(data) - 64),
        "the section name table is not a string table": patch_header(data, e_shstrndx=comment),
        "not an ELF file": b"\x7fELG" + data[4:],
        "ELF type 1: only executables and shared objects are stripped": data[:16] + b"\x01" + data[17:],
    }
    for expected, broken in cases.items():
        assert refused(broken, DEBUG, tmp_path).startswith(expected), expected
    obj = gcc(tmp_path, "obj.o", PLAIN_LIB_SOURCE, "-c", "-g")
    assert refused(obj.read_bytes(), UNNEEDED, tmp_path).startswith("ELF type 1")


def test_refuses_when_nothing_would_be_saved(samples: dict[str, Sample], tmp_path: Path) -> None:
    data = samples["tls_lib_g"].path.read_bytes()
    # .comment wants a 512 KiB file alignment: the padding costs more than the debug sections save
    data = patch_section(data, index_of(data, ".comment"), addralign=0x80000)
    assert refused(data, DEBUG, tmp_path).startswith("nothing would be saved")
    plain = samples["tls_lib"].path.read_bytes()
    assert refused(plain, DEBUG, tmp_path) == "no debug sections to remove"


def test_garbage_only_ever_raises_elfstriperror(samples: dict[str, Sample], tmp_path: Path) -> None:
    """Mutated headers: either a clean refusal, or an output that keeps every loaded byte and program header."""
    original = samples["tls_lib_g"].path.read_bytes()
    lay = layout(original)
    regions = [(0, 64), (lay.phoff, lay.phoff + lay.phnum * lay.phentsize), (lay.shoff, len(original))]
    rng = random.Random(20240605)
    outcomes = {"refused": 0, "stripped": 0}
    for n in range(300):
        data = bytearray(original)
        for _ in range(rng.randint(1, 4)):
            start, end = rng.choice(regions)
            data[rng.randrange(start, end)] = rng.randrange(256)
        if n % 10 == 0:
            data = data[: rng.randrange(len(data))]
        source, output = tmp_path / "in.so", tmp_path / "out.so"
        source.write_bytes(bytes(data))
        output.unlink(missing_ok=True)
        mode = rng.choice([DEBUG, UNNEEDED])
        try:
            strip_sections(source, output, mode)
        except ElfStripError as exc:
            assert "\n" not in str(exc)
            assert not output.exists()
            outcomes["refused"] += 1
            continue
        outcomes["stripped"] += 1
        stripped = output.read_bytes()
        mutated = layout(bytes(data))
        ph = slice(mutated.phoff, mutated.phoff + mutated.phnum * mutated.phentsize)
        assert stripped[ph] == bytes(data)[ph]
        loaded_end = max([off + size for _, off, size, _ in mutated.segments(bytes(data)) if size] or [0])
        assert blank_section_fields(stripped)[:loaded_end] == blank_section_fields(bytes(data))[:loaded_end]
        assert len(stripped) < len(data)
    assert outcomes["refused"] and outcomes["stripped"], outcomes


def test_memory_stays_bounded_on_a_big_file(samples: dict[str, Sample], tmp_path: Path) -> None:
    objcopy = shutil.which("objcopy")
    if objcopy is None:
        pytest.skip("objcopy is not installed")
    blob = tmp_path / "blob"
    blob.write_bytes(os.urandom(1024) * (96 * 1024))  # 96 MiB of debug "data"
    big = tmp_path / "libbig.so"
    subprocess.run(
        [objcopy, "--add-section", f".debug_big={blob}", str(samples["tls_lib_g"].path), str(big)], check=True
    )
    blob.unlink()
    assert big.stat().st_size > 96 * 1024**2
    code = textwrap.dedent(
        """
        import os, re, sys
        from pathlib import Path
        from slimwheel.binaries.elfstrip import strip_sections
        if sys.argv[3] == "chunks":
            del os.copy_file_range  # the plain pread/write loop
        strip_sections(Path(sys.argv[1]), Path(sys.argv[2]), "--strip-unneeded")
        with open("/proc/self/status") as status:
            print(re.search(r"VmHWM:\\s+(\\d+) kB", status.read()).group(1))
        """
    )
    outputs = []
    for how in ("kernel", "chunks"):
        out = tmp_path / f"{how}.so"
        proc = subprocess.run(
            [sys.executable, "-c", code, str(big), str(out), how], capture_output=True, text=True, check=True
        )
        peak_mib = int(proc.stdout) / 1024
        assert peak_mib < 48, f"{how}: {peak_mib:.0f} MiB peak for a {big.stat().st_size / 1024**2:.0f} MiB file"
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]
    assert len(outputs[0]) < 64 * 1024 and ".debug_big" not in section_names(outputs[0])
    assert verify_stripped(big.read_bytes(), outputs[0]) is None


# ----------------------------------------------------------------------------------------------------------
# In binaries: candidate order and fallback
# ----------------------------------------------------------------------------------------------------------


@pytest.fixture
def fresh_tool_cache() -> Iterator[None]:
    find_strip_tools.cache_clear()
    yield
    find_strip_tools.cache_clear()


def test_builtin_candidate_sits_between_gnu_and_llvm_strip(
    fresh_tool_cache: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    found = find_strip_tools()
    if not found.elf:
        pytest.skip("no strip tool for ELF installed")
    assert found.elf.count(BUILTIN_ELF_STRIP) == 1
    at = found.elf.index(BUILTIN_ELF_STRIP)
    assert all("llvm" not in Path(t).name for t in found.elf[:at])
    assert all("llvm" in Path(t).name for t in found.elf[at + 1 :])
    assert BUILTIN_ELF_STRIP not in found.pe

    find_strip_tools.cache_clear()
    monkeypatch.setattr(strip_tools.shutil, "which", lambda name: None)
    assert find_strip_tools() == StripTools(elf=(), pe=())  # no tools at all: no built-in either


def test_explicitly_empty_tools_still_mean_no_tool(samples: dict[str, Sample]) -> None:
    data = samples["tls_lib_g"].path.read_bytes()
    result = strip_binary(data, "lib.so", StripLevel.UNNEEDED, StripTools(elf=(), pe=()))
    assert (
        result.status is StripStatus.SKIPPED and result.reason == "no strip tool for ELF installed (install binutils)"
    )


FAKE_GNU_STRIP = """#!{python}
# Strips like the real thing, then shrinks PT_TLS p_memsz by 0x38, as binutils 2.40 did to libtorch_cpu.so.
import struct, sys
from pathlib import Path
from slimwheel.binaries.elfstrip import strip_sections
option, _, output, source = sys.argv[1:]
Path(output).parent.joinpath("fake-strip-ran").write_text("yes")
strip_sections(Path(output).parent / source if not source.startswith("/") else Path(source), Path(output), option)
data = bytearray(Path(output).read_bytes())
phoff, = struct.unpack_from("<Q", data, 32)
phentsize, phnum = struct.unpack_from("<HH", data, 54)
for i in range(phnum):
    at = phoff + i * phentsize
    if struct.unpack_from("<I", data, at)[0] == 7:
        memsz, = struct.unpack_from("<Q", data, at + 40)
        struct.pack_into("<Q", data, at + 40, max(memsz - 0x38, 0))
Path(output).write_bytes(data)
"""


def fake_gnu_strip(directory: Path) -> str:
    path = directory / "bin" / "strip"
    path.parent.mkdir()
    path.write_text(FAKE_GNU_STRIP.format(python=sys.executable))
    path.chmod(0o755)
    return str(path)


def test_builtin_is_used_when_gnu_strip_breaks_tls(samples: dict[str, Sample], tmp_path: Path) -> None:
    s = samples["tls_lib_g"]
    original = s.path.read_bytes()
    fake = fake_gnu_strip(tmp_path)
    tools = StripTools(elf=(fake, BUILTIN_ELF_STRIP, "/nonexistent/llvm-strip"), pe=())

    # the fake's output is what the verifier must reject
    (tmp_path / "bin" / "lib.so").write_bytes(original)
    subprocess.run([fake, "--strip-unneeded", "-o", "broken.so", "lib.so"], cwd=tmp_path / "bin", check=True)
    broken = (tmp_path / "bin" / "broken.so").read_bytes()
    assert verify_stripped(original, broken) == "program headers other than PT_LOAD/PT_NOTE changed"

    for level in (StripLevel.DEBUG, StripLevel.UNNEEDED):
        result = strip_binary(original, "pkg/libtls.so", level, tools)
        assert result.status is StripStatus.STRIPPED, result.reason
        assert result.reason == f"slimwheel-elfstrip --strip-{level.value}"
        assert verify_stripped(original, result.data) is None and result.saved == len(original) - len(result.data)

        work = tmp_path / f"work-{level.value}"
        work.mkdir()
        on_disk = strip_file(s.path, "pkg/libtls.so", level, work, tools)
        assert on_disk.status is StripStatus.STRIPPED and on_disk.reason == result.reason
        assert on_disk.path is not None and on_disk.path.read_bytes() == result.data
        assert (work / "fake-strip-ran").exists()
        assert sorted(p.name for p in work.iterdir() if p.name != "fake-strip-ran") == [on_disk.path.name]
        check_loads(s, on_disk.path)


def test_builtin_refusal_is_reported_and_the_next_tool_tried(samples: dict[str, Sample], tmp_path: Path) -> None:
    data = samples["tls_lib_g"].path.read_bytes()
    data = patch_section(data, index_of(data, ".comment"), type=17)  # SHT_GROUP: the built-in refuses
    alone = strip_binary(data, "pkg/lib.so", StripLevel.UNNEEDED, StripTools(elf=(BUILTIN_ELF_STRIP,), pe=()))
    assert alone.status is StripStatus.REVERTED and alone.data is data
    assert alone.reason.startswith("slimwheel-elfstrip --strip-unneeded failed: section groups are not supported")

    work = tmp_path / "work"
    work.mkdir()
    (tmp_path / "in.so").write_bytes(data)
    fake = fake_gnu_strip(tmp_path)
    both = strip_file(
        tmp_path / "in.so", "pkg/lib.so", StripLevel.UNNEEDED, work, StripTools((fake, BUILTIN_ELF_STRIP), ())
    )
    assert both.status is StripStatus.REVERTED and both.path is None
    assert both.reason.startswith("strip --strip-unneeded")  # the first problem, then a count
    assert both.reason.endswith("(and 1 more tool(s) failed)")
    assert list(work.iterdir()) == [work / "fake-strip-ran"]
