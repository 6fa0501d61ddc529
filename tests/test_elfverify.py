"""Tests for the structural checks of slimwheel.binaries.elfverify (what pyelftools used to check while parsing).

Each test builds a real shared library with gcc, strips it with ``strip --strip-unneeded``, corrupts exactly one
header structure of the *stripped* copy with :mod:`struct` and expects :func:`verify_stripped` to name the problem,
while the uncorrupted stripped copy verifies. Offsets are located with pyelftools, independently of the reader
under test.
"""

from __future__ import annotations

import io
import shutil
import struct
import subprocess
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

from slimwheel.binaries import verify_stripped

SHT_PROGBITS, SHT_DYNSYM, SHT_REL, SHT_RELR = 1, 11, 9, 19
SHF_COMPRESSED = 0x800
NO_OFFSET = 1 << 63

LIB_SOURCE = textwrap.dedent(
    """
    #include <string.h>
    static const char banner[] = "libverify";
    int verify_answer(void) { return 42; }
    int (*verify_pointer)(void) = verify_answer;  /* a relocation in .rela.dyn */
    const char *verify_banner = banner;
    size_t verify_length(const char *s) { return strlen(s) + (size_t)verify_pointer(); }  /* .rela.plt */
    """
)
VERSION_SCRIPT = "VERIFY_1 { global: verify_*; local: *; };\n"  # gives .gnu.version_d
BLOB_SIZE = 3 * 1024**2 // 2  # longer than elfverify._MAX_STRING (1 MiB), without a NUL
BLOB_SOURCE = f"const char verify_blob[{BLOB_SIZE}] = {{[0 ... {BLOB_SIZE - 1}] = 'A'}};\n"

# Offsets of the fields in a section header (ELF64, ELF32) and their struct format letter.
_SHDR = {
    "sh_name": ((0, "I"), (0, "I")),
    "sh_type": ((4, "I"), (4, "I")),
    "sh_flags": ((8, "Q"), (8, "I")),
    "sh_offset": ((24, "Q"), (16, "I")),
    "sh_size": ((32, "Q"), (20, "I")),
    "sh_link": ((40, "I"), (24, "I")),
    "sh_entsize": ((56, "Q"), (36, "I")),
}
_PHDR = {"p_offset": ((8, "Q"), (4, "I"))}
_E_SHSTRNDX = (62, 50)


@dataclass(frozen=True)
class Pair:
    original: bytes
    stripped: bytes


class Corrupt:
    """A mutable copy of a stripped ELF file with header field setters (offsets found with pyelftools)."""

    def __init__(self, data: bytes) -> None:
        self.data = bytearray(data)
        self.elf = ELFFile(io.BytesIO(data))
        self.is64 = self.elf.elfclass == 64
        self.endian = "<" if self.elf.little_endian else ">"
        self.names = [s.name for s in self.elf.iter_sections()]

    def index(self, name: str) -> int:
        if name not in self.names:
            pytest.skip(f"this compiler's library has no {name} section")
        return self.names.index(name)

    def _field(self, table: dict[str, tuple[tuple[int, str], ...]], field: str) -> tuple[int, str]:
        at, letter = table[field][0 if self.is64 else 1]
        return at, self.endian + letter

    def shdr(self, name: str, field: str) -> int:
        at, fmt = self._field(_SHDR, field)
        base = self.elf["e_shoff"] + self.index(name) * self.elf["e_shentsize"]
        value: int = struct.unpack_from(fmt, self.data, base + at)[0]
        return value

    def set_shdr(self, name: str, field: str, value: int) -> None:
        at, fmt = self._field(_SHDR, field)
        struct.pack_into(fmt, self.data, self.elf["e_shoff"] + self.index(name) * self.elf["e_shentsize"] + at, value)

    def set_dynamic_phdr(self, field: str, value: int) -> None:
        """Set a field of the PT_DYNAMIC program header."""
        at, fmt = self._field(_PHDR, field)
        index = next(i for i, seg in enumerate(self.elf.iter_segments()) if seg["p_type"] == "PT_DYNAMIC")
        struct.pack_into(fmt, self.data, self.elf["e_phoff"] + index * self.elf["e_phentsize"] + at, value)

    def set_shstrndx(self, value: int) -> None:
        struct.pack_into(self.endian + "H", self.data, _E_SHSTRNDX[0 if self.is64 else 1], value)

    def sh_type(self, name: str) -> int:
        return self.shdr(name, "sh_type")

    def label(self, name: str) -> str:
        """How elfverify names the section in its message."""
        return f"{name} (section {self.index(name)}) (type {self.sh_type(name):#x})"


def _gcc(directory: Path, out: str, source: str, *flags: str) -> Path:
    src = directory / (out.replace(".", "_") + ".c")
    src.write_text(source)
    subprocess.run(["gcc", *flags, "-o", out, src.name], cwd=directory, check=True, capture_output=True, text=True)
    return directory / out


def _strip(lib: Path) -> Pair:
    out = lib.with_name(lib.name + ".stripped")
    subprocess.run(["strip", "--strip-unneeded", "-o", str(out), str(lib)], check=True, capture_output=True)
    return Pair(lib.read_bytes(), out.read_bytes())


def _build(tmp: Path, out: str, source: str, *flags: str) -> Pair:
    if shutil.which("gcc") is None or shutil.which("strip") is None:
        pytest.skip("gcc and strip are needed to build ELF samples")
    try:
        lib = _gcc(tmp, out, source, "-shared", "-fPIC", "-O1", "-g", *flags)
    except subprocess.CalledProcessError as exc:
        pytest.skip(f"gcc cannot build {out}: {exc.stderr.strip().splitlines()[-1:]}")
    pair = _strip(lib)
    assert verify_stripped(pair.original, pair.stripped) is None  # the uncorrupted stripped copy verifies
    return pair


@pytest.fixture(scope="module")
def lib(tmp_path_factory: pytest.TempPathFactory) -> Pair:
    """x86-64 (or the host's) library with .hash and .gnu.hash, symbol versions, .rela.dyn and .rela.plt."""
    d = tmp_path_factory.mktemp("elfverify")
    (d / "verify.map").write_text(VERSION_SCRIPT)
    return _build(d, "libverify.so", LIB_SOURCE, "-Wl,--hash-style=both", "-Wl,--version-script=verify.map")


@pytest.fixture(scope="module")
def relr_lib(tmp_path_factory: pytest.TempPathFactory) -> Pair:
    """The same library with its relative relocations packed into .relr.dyn (binutils 2.38 and later)."""
    d = tmp_path_factory.mktemp("elfverify_relr")
    return _build(d, "libverify_relr.so", LIB_SOURCE, "-Wl,-z,pack-relative-relocs")


@pytest.fixture(scope="module")
def lib32(tmp_path_factory: pytest.TempPathFactory) -> Pair:
    """ELF32 (i386: REL relocations), linked without libc since this machine may have no 32-bit one."""
    d = tmp_path_factory.mktemp("elfverify32")
    return _build(
        d,
        "libverify32.so",
        LIB_SOURCE.replace("#include <string.h>", "#include <stddef.h>\nsize_t strlen(const char *);"),
        "-m32",
        "-nostdlib",
    )


@pytest.fixture(scope="module")
def blob_lib(tmp_path_factory: pytest.TempPathFactory) -> Pair:
    """A library holding 1.5 MiB of 'A' (no NUL) in .rodata."""
    d = tmp_path_factory.mktemp("elfverify_blob")
    return _build(d, "libverify_blob.so", BLOB_SOURCE, "-Wl,-soname,libverify_blob.so")  # a DT_SONAME string


def _verify(pair: Pair, corrupt: Corrupt) -> str | None:
    assert bytes(corrupt.data) != pair.stripped, "the corruption changed nothing"
    return verify_stripped(pair.original, bytes(corrupt.data))


def _expect(pair: Pair, corrupt: Corrupt, fragment: str) -> None:
    problem = _verify(pair, corrupt)
    assert problem is not None, f"corruption not noticed (expected {fragment!r})"
    assert problem.startswith("stripped ELF does not parse: "), problem
    assert fragment in problem, problem


# ----------------------------------------------------------------------------------------------------------
# Section links of the right type
# ----------------------------------------------------------------------------------------------------------

# (section, what it must link to); it is made to link to a section of another type.
_LINKS = [
    (".dynsym", "strings"),  # symbol table -> string table
    (".gnu.version_d", "strings"),  # version definitions -> string table
    (".gnu.version_r", "strings"),  # version needs -> string table
    (".hash", "symbols"),
    (".gnu.hash", "symbols"),
    (".gnu.version", "symbols"),
    (".dynamic", "strings"),  # string table, NOBITS or nothing
]


@pytest.mark.parametrize(("section", "wants"), _LINKS, ids=[name for name, _ in _LINKS])
def test_link_to_a_section_of_the_wrong_type(lib: Pair, section: str, wants: str) -> None:
    c = Corrupt(lib.stripped)
    target = ".dynstr" if wants == "symbols" else ".dynsym"  # a string table where a symbol table belongs, or back
    c.set_shdr(section, "sh_link", c.index(target))
    _expect(lib, c, f"{c.label(section)} links to section {c.index(target)} of type {c.sh_type(target):#x}, not ")


def test_link_past_the_section_header_table(lib: Pair) -> None:
    c = Corrupt(lib.stripped)
    c.set_shdr(".dynsym", "sh_link", 0xFFFF)
    _expect(lib, c, "the header of section 65535 lies past the end of the file")


# ----------------------------------------------------------------------------------------------------------
# Whole symbol-table entries, relocation entry sizes
# ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("field", "change", "fragment"), [
    ("sh_size", 1, "holds no whole number of 24-byte entries"),
    ("sh_size", -5, "holds no whole number of 24-byte entries"),
    ("sh_entsize", None, "holds no whole number of 0-byte entries"),
], ids=["size+1", "size-5", "entsize0"])  # fmt: skip
def test_symbol_table_without_whole_entries(lib: Pair, field: str, change: int | None, fragment: str) -> None:
    c = Corrupt(lib.stripped)
    if not c.is64:
        fragment = fragment.replace("24-byte", "16-byte")
    c.set_shdr(".dynsym", field, 0 if change is None else c.shdr(".dynsym", field) + change)
    assert c.sh_type(".dynsym") == SHT_DYNSYM
    _expect(lib, c, f"{c.label('.dynsym')} {fragment}")


@pytest.mark.parametrize(("section", "entsize"), [(".rela.dyn", 16), (".rela.dyn", 0), (".rela.plt", 48)])
def test_rela_entries_of_the_wrong_size(lib: Pair, section: str, entsize: int) -> None:
    c = Corrupt(lib.stripped)
    assert c.shdr(section, "sh_entsize") == 24
    c.set_shdr(section, "sh_entsize", entsize)
    _expect(lib, c, f"{c.label(section)} has relocation entries of {entsize} bytes")


def test_rel_entries_of_the_wrong_size(lib: Pair) -> None:
    """A RELA section retyped SHT_REL: its 24-byte entries are not the 16 bytes an ELF64 REL entry has."""
    c = Corrupt(lib.stripped)
    c.set_shdr(".rela.dyn", "sh_type", SHT_REL)
    _expect(lib, c, "(type 0x9) has relocation entries of 24 bytes")


def test_rel_entries_of_the_wrong_size_elf32(lib32: Pair) -> None:
    c = Corrupt(lib32.stripped)
    assert not c.is64 and c.shdr(".rel.dyn", "sh_entsize") == 8
    c.set_shdr(".rel.dyn", "sh_entsize", 12)
    _expect(lib32, c, f"{c.label('.rel.dyn')} has relocation entries of 12 bytes")


@pytest.mark.parametrize("entsize", [4, 16])
def test_relr_entries_of_the_wrong_size(relr_lib: Pair, entsize: int) -> None:
    c = Corrupt(relr_lib.stripped)
    assert c.sh_type(".relr.dyn") == SHT_RELR and c.shdr(".relr.dyn", "sh_entsize") == 8
    c.set_shdr(".relr.dyn", "sh_entsize", entsize)
    _expect(relr_lib, c, f"(type 0x13) has relocation entries of {entsize} bytes")


# ----------------------------------------------------------------------------------------------------------
# Hash tables and compression headers inside the file
# ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("section", [".hash", ".gnu.hash"])
def test_hash_table_running_past_the_end(lib: Pair, section: str) -> None:
    """The header points at the ELF header, whose first word (the magic) is a huge bucket count."""
    c = Corrupt(lib.stripped)
    c.set_shdr(section, "sh_offset", 0)
    _expect(lib, c, f"{c.label(section)} has a hash table that runs past the end of the file")


@pytest.mark.parametrize("section", [".hash", ".gnu.hash"])
def test_hash_table_header_past_the_end(lib: Pair, section: str) -> None:
    c = Corrupt(lib.stripped)
    c.set_shdr(section, "sh_offset", len(c.data) - 4)  # not even the counts fit
    _expect(lib, c, f"structure at {len(c.data) - 4:#x} runs past the end of the file")


def test_compression_header_past_the_end(lib: Pair) -> None:
    c = Corrupt(lib.stripped)
    c.set_shdr(".comment", "sh_flags", c.shdr(".comment", "sh_flags") | SHF_COMPRESSED)
    c.set_shdr(".comment", "sh_offset", len(c.data) - 8)
    _expect(lib, c, f"{c.label('.comment')} has a compression header past the end of the file")


def test_compression_header_inside_the_file_is_structurally_fine(lib: Pair) -> None:
    """The control: the same flag on a section whose header fits is no structural problem (.comment is not loaded)."""
    c = Corrupt(lib.stripped)
    c.set_shdr(".comment", "sh_flags", c.shdr(".comment", "sh_flags") | SHF_COMPRESSED)
    assert _verify(lib, c) is None


# ----------------------------------------------------------------------------------------------------------
# The section name table header
# ----------------------------------------------------------------------------------------------------------


def test_section_name_table_header_past_the_end(lib: Pair) -> None:
    c = Corrupt(lib.stripped)
    c.set_shstrndx(0xFFFE)
    _expect(lib, c, "the header of the section name table lies past the end of the file")


def test_section_names_at_an_impossible_offset(lib: Pair) -> None:
    c = Corrupt(lib.stripped)
    c.set_shdr(".shstrtab", "sh_offset", NO_OFFSET)
    _expect(lib, c, f"section 0 has its name at {NO_OFFSET:#x}")


# ----------------------------------------------------------------------------------------------------------
# The dynamic section: DT_NULL inside the file, and where its strings are found
# ----------------------------------------------------------------------------------------------------------


def test_dynamic_section_without_dt_null(lib: Pair) -> None:
    c = Corrupt(lib.stripped)
    c.set_dynamic_phdr("p_offset", len(c.data) - 8)  # not one whole entry left
    _expect(lib, c, f"the dynamic section at {len(c.data) - 8:#x} has no DT_NULL before the end of the file")


@pytest.mark.parametrize("target", ["", ".bss"], ids=["SHT_NULL", "SHT_NOBITS"])
def test_dynamic_section_linking_to_no_string_table(lib: Pair, target: str) -> None:
    """SHT_NULL and SHT_NOBITS are allowed links, but then there are no strings for DT_NEEDED and DT_SONAME."""
    c = Corrupt(lib.stripped)
    c.set_shdr(".dynamic", "sh_link", c.index(target))
    _expect(lib, c, "no string table for the dynamic section at ")


def test_dynamic_strings_at_an_impossible_offset(lib: Pair) -> None:
    c = Corrupt(lib.stripped)
    c.set_shdr(".dynstr", "sh_offset", NO_OFFSET)
    _expect(lib, c, "a dynamic string at 0x80000000000")


def test_dynamic_strings_past_the_end_of_the_file(lib: Pair) -> None:
    """.dynstr past the end: every DT_NEEDED reads empty, which the comparison (not the parse) reports."""
    c = Corrupt(lib.stripped)
    c.set_shdr(".dynstr", "sh_offset", len(c.data) + 0x1000)
    problem = _verify(lib, c)
    assert problem is not None and problem.startswith("DT_NEEDED changed from ['libc.so.6"), problem


def test_dynamic_string_that_does_not_end(blob_lib: Pair) -> None:
    c = Corrupt(blob_lib.stripped)
    blob = bytes(c.data).find(b"A" * 4096)
    assert blob >= 0
    c.set_shdr(".dynstr", "sh_offset", blob)
    _expect(blob_lib, c, "does not end")


def test_dynamic_strings_found_through_dt_strtab_without_a_dynamic_section_header(lib: Pair) -> None:
    """Without an SHT_DYNAMIC section header the strings come from DT_STRTAB in a PT_LOAD: still verifies."""
    c = Corrupt(lib.stripped)
    c.set_shdr(".dynamic", "sh_type", SHT_PROGBITS)
    c.set_shdr(".dynstr", "sh_offset", NO_OFFSET)  # the section is not what is read
    assert _verify(lib, c) is None
