"""slimwheel.bytecode: sourceless ``.pyc`` modules, the interpreter that compiles them, and the wheel's new tags.

The bytecode is exercised for real: a small package is compiled, its sources replaced by the ``.pyc`` files, and
a fresh interpreter (``-B``: no ``__pycache__`` written) imports it, runs it with ``-m`` and shows a traceback.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from packaging.tags import compatible_tags, cpython_tags
from packaging.utils import parse_wheel_filename

from slimwheel.bytecode import (
    BytecodeError,
    bytecode_keys,
    check_interpreter,
    compile_sources,
    interpreter_magic,
    pyc_key,
    retagged,
    retagged_filename,
    retagged_wheel_file,
    wheel_python_version,
)
from slimwheel.errors import SlimwheelError

PYTHON = Path(sys.executable)
HERE = f"{sys.version_info.major}.{sys.version_info.minor}"
CP = f"cp{sys.version_info.major}{sys.version_info.minor}"

PKG: dict[str, bytes] = {
    "pkg/__init__.py": b"from .mod import double\nVALUE = 21\n",
    "pkg/mod.py": textwrap.dedent(
        '''
        """A module."""
        KINDS = {"a", "b", "c", "d", "e", "f", "g"}  # a frozenset constant: marshalled in hash order


        def double(x):
            return 2 * x


        def fail():
            raise ValueError("from compiled code")
        '''
    ).encode(),
    "pkg/__main__.py": b"import sys\nfrom . import VALUE, double\nprint('main', double(VALUE))\n",
    "pkg/sub/__init__.py": b"",
    "pkg/sub/deep.py": b"def kinds():\n    from pkg.mod import KINDS\n    return sorted(KINDS)\n",
}


def run_python(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PYTHONPATH"] = str(root)
    return subprocess.run([sys.executable, "-B", *args], env=env, cwd=root.parent, capture_output=True, text=True)


@pytest.fixture
def compiled_tree(tmp_path: Path) -> Path:
    """PKG compiled, laid out sourceless under ``tmp_path/site``."""
    result = compile_sources(PKG, PYTHON)
    assert result.failed == {} and set(result.pyc) == set(PKG)
    root = tmp_path / "site"
    for key, data in result.pyc.items():
        path = root / pyc_key(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


# -- compiling and running ---------------------------------------------------------------------------------------


def test_sourceless_package_imports_and_works(compiled_tree: Path) -> None:
    assert not list(compiled_tree.rglob("*.py")) and not list(compiled_tree.rglob("__pycache__"))
    proc = run_python(
        compiled_tree,
        "-c",
        "import pkg, pkg.mod, pkg.sub.deep; print(pkg.double(pkg.VALUE), pkg.mod.__file__.endswith('mod.pyc'), "
        "pkg.sub.deep.kinds()[:2], pkg.mod.__doc__)",
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["42", "True", "['a',", "'b']", "A", "module."]
    assert not list(compiled_tree.rglob("__pycache__"))


def test_python_dash_m_runs_main_pyc(compiled_tree: Path) -> None:
    proc = run_python(compiled_tree, "-m", "pkg")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "main 42"


def test_traceback_names_the_installed_key(compiled_tree: Path) -> None:
    proc = run_python(compiled_tree, "-c", "import pkg.mod; pkg.mod.fail()")
    assert proc.returncode == 1
    assert 'File "pkg/mod.py", line 11, in fail' in proc.stderr
    assert "ValueError: from compiled code" in proc.stderr


def test_pyc_header_is_hash_based_and_reproducible() -> None:
    first = compile_sources(PKG, PYTHON)
    # A different batch (order, company) and a different hash seed in our environment give the same bytes.
    env_before = os.environ.get("PYTHONHASHSEED")
    os.environ["PYTHONHASHSEED"] = "12345"
    try:
        second = compile_sources({"pkg/mod.py": PKG["pkg/mod.py"], "other.py": b"x = {'p', 'q'}\n"}, PYTHON)
    finally:
        if env_before is None:
            del os.environ["PYTHONHASHSEED"]
        else:
            os.environ["PYTHONHASHSEED"] = env_before
    assert second.pyc["pkg/mod.py"] == first.pyc["pkg/mod.py"]
    assert compile_sources(PKG, PYTHON) == first
    version, magic = interpreter_magic(PYTHON)
    data = first.pyc["pkg/mod.py"]
    assert version == HERE and data[:4] == magic
    assert int.from_bytes(data[4:8], "little") == 0b01  # hash-based, source not checked (UNCHECKED_HASH)


def older_cpython() -> Path | None:
    """A CPython older than 3.11 (whose marshal writes sets in hash order), if this machine has one."""
    for minor in (10, 9, 8):
        candidates = [shutil.which(f"python3.{minor}") or ""]
        candidates += sorted(glob.glob(os.path.expanduser(f"~/.pyenv/versions/3.{minor}.*/bin/python3.{minor}")))
        for candidate in filter(None, candidates):
            probe = subprocess.run([candidate, "-c", "print(1)"], capture_output=True, text=True)
            if probe.returncode == 0 and probe.stdout.strip() == "1":
                return Path(candidate)
    return None


def test_reproducible_on_an_interpreter_that_marshals_sets_in_hash_order() -> None:
    older = older_cpython()
    if older is None:
        pytest.skip("no CPython older than 3.11 here")
    source = {"m.py": b"def f(x):\n    return x in {'alpha', 'beta', 'gamma', 'delta', 'eps', 'zeta'}\n"}
    results = {compile_sources(source, older).pyc["m.py"] for _ in range(4)}
    assert len(results) == 1  # PYTHONHASHSEED=0 in the compiling process


def test_files_that_do_not_compile_stay_source() -> None:
    result = compile_sources({"pkg/ok.py": b"x = 1\n", "pkg/bad.py": b"def broken(:\n"}, PYTHON)
    assert set(result.pyc) == {"pkg/ok.py"}
    assert set(result.failed) == {"pkg/bad.py"}
    assert "SyntaxError" in result.failed["pkg/bad.py"] and "\n" not in result.failed["pkg/bad.py"]


def test_optimize_two_drops_docstrings_and_asserts() -> None:
    source = b'"""Doc."""\nassert False, "kept?"\n'
    plain = compile_sources({"m.py": source}, PYTHON).pyc["m.py"]
    optimized = compile_sources({"m.py": source}, PYTHON, optimize=2).pyc["m.py"]
    assert b"Doc." in plain and b"kept?" in plain
    assert b"Doc." not in optimized and b"kept?" not in optimized


def test_without_debug_ranges_smaller_and_still_runs(tmp_path: Path) -> None:
    full = compile_sources(PKG, PYTHON).pyc["pkg/mod.py"]
    lean = compile_sources(PKG, PYTHON, debug_ranges=False).pyc
    assert len(lean["pkg/mod.py"]) < len(full)
    for key, data in lean.items():
        (tmp_path / "site" / pyc_key(key)).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "site" / pyc_key(key)).write_bytes(data)
    proc = run_python(tmp_path / "site", "-c", "import pkg.mod; pkg.mod.fail()")
    assert 'File "pkg/mod.py", line 11, in fail' in proc.stderr and "ValueError" in proc.stderr


def test_no_sources_no_subprocess() -> None:
    assert compile_sources({}, Path("/nonexistent/python")).pyc == {}


# -- which files -------------------------------------------------------------------------------------------------


def test_bytecode_keys() -> None:
    keys = [
        "pkg/__init__.py",
        "pkg/__main__.py",
        "pkg/mod.py",
        "pkg/mod.pyi",
        "pkg/data.json",
        "top.py",
        "<scripts>/tool.py",
        "<data>/share/x.py",
        "pkg-1.0.data/scripts/tool.py",
        "pkg-1.0.data/purelib/extra/m.py",
        "pkg-1.0.dist-info/x.py",
        "pkg/tests/data-files/fixture.py",
        "pkg/not-a-module.py",
        "pkg/LICENSE.py",  # a code file: not a licence by name, so compiled
        "pkg/declared.py",
    ]
    assert bytecode_keys(keys, never={"pkg/declared.py"}) == [
        "pkg/__init__.py",
        "pkg/__main__.py",
        "pkg/mod.py",
        "top.py",
        "pkg-1.0.data/purelib/extra/m.py",
        "pkg/LICENSE.py",
    ]
    assert pyc_key("a/b/mod.py") == "a/b/mod.pyc"
    with pytest.raises(ValueError):
        pyc_key("a/b/mod.pyi")


# -- the interpreter ---------------------------------------------------------------------------------------------


def test_check_interpreter_accepts_the_matching_version() -> None:
    found = check_interpreter(HERE, PYTHON)
    assert (found.implementation, found.version) == ("cpython", HERE)
    assert check_interpreter(None, PYTHON).version == HERE


def test_version_mismatch_is_refused_in_one_line() -> None:
    with pytest.raises(BytecodeError) as caught:
        check_interpreter("3.10", PYTHON)
    message = caught.value.message
    assert isinstance(caught.value, SlimwheelError) and "\n" not in message
    assert message == (
        f"--bytecode-only: the wheel is for CPython 3.10 but {PYTHON} is {HERE}; pass --python with a 3.10 interpreter"
    )


def test_non_cpython_and_broken_interpreters_are_refused(tmp_path: Path) -> None:
    fake = tmp_path / "pypy3"
    fake.write_text('#!/bin/sh\necho \'{"implementation": "pypy", "version": "3.11", "magic": "00000000"}\'\n')
    fake.chmod(0o755)
    with pytest.raises(BytecodeError, match=r"is pypy 3\.11, not CPython; pass --python with a CPython 3\.11"):
        check_interpreter("3.11", fake)
    broken = tmp_path / "broken"
    broken.write_text("#!/bin/sh\necho 'boom' >&2\nexit 3\n")
    broken.chmod(0o755)
    with pytest.raises(BytecodeError, match="failed: boom"):
        check_interpreter("3.11", broken)
    with pytest.raises(BytecodeError, match="can't run"):
        interpreter_magic(tmp_path / "missing")


# -- tags --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        ("py3-none-any", "cp311-none-any"),
        ("py2.py3-none-any", "cp311-none-any"),
        ("py311-none-any", "cp311-none-any"),
        (
            "cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64",
            "cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64",
        ),
        ("cp38-abi3-linux_x86_64", "cp311-cp311-linux_x86_64"),
        ("cp311-abi3-win_amd64", "cp311-cp311-win_amd64"),
        ("py3-none-win_amd64", "cp311-none-win_amd64"),
    ],
)
def test_retagged(tags: str, expected: str) -> None:
    assert retagged(tags, "3.11") == expected


@pytest.mark.parametrize(
    "tags", ["cp310-cp310-linux_x86_64", "cp312-abi3-linux_x86_64", "py2-none-any", "pp310-pypy310_pp73-any"]
)
def test_retagging_refuses_wheels_for_other_pythons(tags: str) -> None:
    with pytest.raises(BytecodeError, match=r"not for CPython 3\.11"):
        retagged(tags, "3.11")


def test_retagged_wheels_install_on_their_version_only() -> None:
    """Why abi3 becomes cp311: CPython 3.12 accepts cp311-abi3 wheels, whose 3.11 bytecode it can't load."""

    def accepted(version: tuple[int, int], platform: str) -> set[str]:
        interpreter = f"cp{version[0]}{version[1]}"
        tags = [*cpython_tags(version, platforms=[platform]), *compatible_tags(version, interpreter, [platform])]
        return {str(tag) for tag in tags}

    for old in ("py3-none-any", "cp38-abi3-linux_x86_64", "py3-none-linux_x86_64"):
        assert old in accepted((3, 12), "linux_x86_64")  # before: installs on 3.12 too
        new = retagged(old, "3.11")
        assert new in accepted((3, 11), "linux_x86_64")
        assert new not in accepted((3, 12), "linux_x86_64") and new not in accepted((3, 10), "linux_x86_64")
    assert "cp311-abi3-linux_x86_64" in accepted((3, 12), "linux_x86_64")  # what keeping abi3 would have allowed


def test_retagged_filename() -> None:
    assert retagged_filename("pure_pkg-1.0-py2.py3-none-any.whl", "3.11") == "pure_pkg-1.0-cp311-none-any.whl"
    assert (
        retagged_filename("x-2.0-1build-cp38-abi3-linux_x86_64.whl", "3.11")
        == "x-2.0-1build-cp311-cp311-linux_x86_64.whl"
    )
    name = "numpy-2.4.6-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl"
    assert retagged_filename(name, "3.11") == name
    parsed = parse_wheel_filename(retagged_filename("pure_pkg-1.0-py3-none-any.whl", "3.11"))
    assert {str(t) for t in parsed[3]} == {"cp311-none-any"}


def test_retagged_wheel_file_changes_only_tag_lines() -> None:
    text = (
        "Wheel-Version: 1.0\r\n"
        "Generator: bdist_wheel (0.43.0)\r\n"
        "Root-Is-Purelib: true\r\n"
        "Tag: py2-none-any\r\n"
        "Tag: py3-none-any\r\n"
        "Build: 1\r\n"
    )
    assert retagged_wheel_file(text, "3.11") == (
        "Wheel-Version: 1.0\r\nGenerator: bdist_wheel (0.43.0)\r\nRoot-Is-Purelib: true\r\n"
        "Tag: cp311-none-any\r\nBuild: 1\r\n"
    )
    abi3 = (
        "Wheel-Version: 1.0\nRoot-Is-Purelib: false\n"
        "Tag: cp38-abi3-manylinux_2_17_x86_64\nTag: cp38-abi3-manylinux2014_x86_64"
    )
    assert retagged_wheel_file(abi3, "3.11") == (
        "Wheel-Version: 1.0\nRoot-Is-Purelib: false\n"
        "Tag: cp311-cp311-manylinux_2_17_x86_64\nTag: cp311-cp311-manylinux2014_x86_64"
    )
    with pytest.raises(BytecodeError):
        retagged_wheel_file("Wheel-Version: 1.0\n", "3.11")


def test_wheel_python_version() -> None:
    assert wheel_python_version("numpy-2.4.6-cp311-cp311-manylinux_2_28_x86_64.whl") == "3.11"
    assert wheel_python_version("x-1.0-py3-none-any.whl") is None
    assert wheel_python_version("x-1.0-cp38-abi3-linux_x86_64.whl") is None
    assert wheel_python_version(f"x-1.0-{CP}-{CP}-linux_x86_64.whl") == HERE
