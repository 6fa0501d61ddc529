"""A wheel's file name must say what the wheel says inside: its tags (WHEEL ``Tag:`` lines), name and version
(METADATA). A renamed wheel is refused with one line naming both sides; what only *looks* different (compressed
tag sets, ``1.0`` and ``1.0.0``, name spelling, a build tag) is accepted.

The hostile variants also run through the CLI in ``test_bad_input.py`` (``CASES``); here are the realistic rename
and the equivalences that must keep working.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from synth import SynthWheel

from slimwheel.contents import read_wheel
from slimwheel.errors import BadWheel

MANYLINUX = "cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64"
FILES = {"numpy/__init__.py": b"VERSION = '2.4.6'\n", "numpy/core.py": b"def add(a, b):\n    return a + b\n"}


def numpy_like(directory: Path, **fields: object) -> Path:
    """A synthetic stand-in for a manylinux numpy 2.4.6 wheel (WHEEL lists both manylinux tags)."""
    wheel = SynthWheel(name="numpy", version="2.4.6", tag=MANYLINUX, purelib=False, files=dict(FILES))
    for key, value in fields.items():
        setattr(wheel, key, value)
    return wheel.build(directory)


def renamed(wheel: Path, name: str) -> Path:
    return wheel.rename(wheel.with_name(name))


def test_a_manylinux_wheel_renamed_to_windows_is_refused_naming_both_tag_sets(tmp_path: Path) -> None:
    bad = renamed(numpy_like(tmp_path), "numpy-2.4.6-cp312-cp312-win_amd64.whl")
    with pytest.raises(BadWheel) as info:
        read_wheel(bad)
    message = str(info.value)
    assert message == (
        "numpy-2.4.6-cp312-cp312-win_amd64.whl: the file name says tags cp312-cp312-win_amd64 but "
        "numpy-2.4.6.dist-info/WHEEL lists cp312-cp312-manylinux2014_x86_64, cp312-cp312-manylinux_2_17_x86_64 "
        "(a renamed wheel?)"
    )


def test_the_cli_refuses_a_renamed_wheel_with_exit_2_and_one_line(tmp_path: Path) -> None:
    bad = renamed(numpy_like(tmp_path / "in"), "numpy-2.4.6-cp312-cp312-win_amd64.whl")
    proc = subprocess.run(
        [sys.executable, "-m", "slimwheel", "shrink", str(bad), "-w", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("slimwheel: error: numpy-2.4.6-cp312-cp312-win_amd64.whl:")
    assert "cp312-cp312-win_amd64" in line and "manylinux_2_17_x86_64" in line
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_a_compressed_tag_set_equal_to_the_tag_lines_is_accepted(tmp_path: Path) -> None:
    wheel = read_wheel(numpy_like(tmp_path))
    assert {str(t) for t in wheel.tags} == {"cp312-cp312-manylinux_2_17_x86_64", "cp312-cp312-manylinux2014_x86_64"}
    assert wheel.warnings == ()


def test_half_of_a_compressed_tag_set_is_refused(tmp_path: Path) -> None:
    """The name claims manylinux2014 too, but WHEEL lists manylinux_2_17 only: not the same set."""
    di = "numpy-2.4.6.dist-info"
    only_one = b"Wheel-Version: 1.0\nRoot-Is-Purelib: false\nTag: cp312-cp312-manylinux_2_17_x86_64\n"
    bad = numpy_like(tmp_path, files={**FILES, f"{di}/WHEEL": only_one})
    with pytest.raises(BadWheel, match=r"WHEEL lists cp312-cp312-manylinux_2_17_x86_64 \(a renamed wheel\?\)"):
        read_wheel(bad)


def test_version_1_0_in_the_name_and_1_0_0_in_metadata_are_equal(tmp_path: Path) -> None:
    metadata = b"Metadata-Version: 2.1\nName: demo\nVersion: 1.0.0\n"
    path = SynthWheel(name="demo", version="1.0", files={"demo.py": b"", "demo-1.0.dist-info/METADATA": metadata})
    wheel = read_wheel(path.build(tmp_path))
    assert str(wheel.version) == "1.0" and wheel.name == "demo"


def test_name_spelling_is_normalised(tmp_path: Path) -> None:
    metadata = b"Metadata-Version: 2.1\nName: Demo.Pkg\nVersion: 1.0\n"
    synth = SynthWheel(name="demo_pkg", version="1.0", files={"demo_pkg.py": b""})
    synth.files["demo_pkg-1.0.dist-info/METADATA"] = metadata
    assert read_wheel(synth.build(tmp_path)).name == "demo-pkg"


@pytest.mark.parametrize(
    ("metadata", "expect"),
    [
        ("Name: other\nVersion: 1.0\n", "METADATA says other 1.0, the file name says demo 1.0"),
        ("Name: demo\nVersion: 1.0.1\n", "METADATA says demo 1.0.1, the file name says demo 1.0"),
    ],
    ids=["name", "version"],
)
def test_metadata_disagreeing_with_the_name_is_refused(tmp_path: Path, metadata: str, expect: str) -> None:
    files = {"demo.py": b"", "demo-1.0.dist-info/METADATA": f"Metadata-Version: 2.1\n{metadata}".encode()}
    with pytest.raises(BadWheel) as info:
        read_wheel(SynthWheel(name="demo", version="1.0", files=files).build(tmp_path))
    assert str(info.value) == f"demo-1.0-py3-none-any.whl: {expect}"


def test_a_build_tag_in_the_name_is_accepted(tmp_path: Path) -> None:
    built = SynthWheel(name="demo", version="1.0", tag=MANYLINUX, purelib=False, files={"demo.py": b""})
    path = renamed(built.build(tmp_path), f"demo-1.0-1-{MANYLINUX}.whl")
    wheel = read_wheel(path)
    assert wheel.filename == f"demo-1.0-1-{MANYLINUX}.whl" and len(wheel.tags) == 2
