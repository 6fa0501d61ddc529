"""Deploy-set closures: real pip resolving real requirements from the index, for foreign platforms and this machine.

Needs the package index (PyPI). When it can't be reached a test skips on a developer's machine, and fails when
``CI`` is set (:func:`wheelcache.missing`). The sdist-only project is ``docopt==0.6.2``: PyPI has only
``docopt-0.6.2.tar.gz`` for it (every docopt release is an sdist).
"""

from __future__ import annotations

import io
import os
import sys
import zipfile
from collections.abc import Sequence
from pathlib import Path

import pytest
from packaging.tags import Tag
from packaging.utils import parse_wheel_filename
from wheelcache import missing

import slimwheel.fetch
from slimwheel.errors import ExitCode, RecipeError
from slimwheel.fetch import FetchError, Target, download_closure, target_accepts
from slimwheel.tags import HOST_PYTHON, wheel_runs_here

REQUESTS_CLOSURE = {"requests", "certifi", "charset-normalizer", "idna", "urllib3"}
LINUX = Target(("manylinux_2_28_x86_64",), "3.11")
WIN64 = Target(("win_amd64",), "3.11")
NO_WHEEL_FIX = "build it on that platform, or pass --find-links DIR with a wheel you built"


def closure(
    requirements: Sequence[str],
    dest: Path,
    target: Target,
    *,
    files: Sequence[Path] = (),
    index_args: Sequence[str] = (),
) -> list[Path]:
    """:func:`download_closure` that must succeed: a failure is the index out of reach (skip, or fail in CI)."""
    try:
        return download_closure(requirements, files, dest, target, index_args=index_args)
    except FetchError as exc:
        missing(f"closure of {list(requirements)} for {target}: {exc}")


def names(wheels: Sequence[Path]) -> dict[str, str]:
    return {str(parse_wheel_filename(w.name)[0]): str(parse_wheel_filename(w.name)[1]) for w in wheels}


@pytest.fixture(scope="module")
def docopt_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """docopt 0.6.2 built here from its sdist by a closure for this machine (``pip wheel``)."""
    dest = tmp_path_factory.mktemp("host")
    requirements = dest / "requirements.in"
    requirements.write_text("idna==3.10\n")
    wheels = closure(["docopt==0.6.2"], dest, Target(), files=[requirements])
    assert names(wheels) == {"docopt": "0.6.2", "idna": "3.10"}
    return next(w for w in wheels if w.name.startswith("docopt-"))


# ------------------------------------------------------------------------------------------- foreign targets


@pytest.mark.parametrize("target", [LINUX, WIN64], ids=["manylinux_2_28", "win_amd64"])
def test_the_closure_for_a_foreign_platform(tmp_path: Path, target: Target) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()
    stranger = dest / "six-1.17.0-py2.py3-none-any.whl"  # already there, not part of the closure
    stranger.write_bytes(b"not asked for")
    wheels = closure(["requests==2.32.3"], dest, target)
    assert set(names(wheels)) == REQUESTS_CLOSURE and names(wheels)["requests"] == "2.32.3"
    assert wheels == sorted(wheels, key=lambda w: w.name) and all(w.parent == dest and w.is_file() for w in wheels)
    assert stranger not in wheels
    native = next(w for w in wheels if w.name.startswith("charset_normalizer-"))
    tags = parse_wheel_filename(native.name)[3]
    assert target.platforms[0] in {t.platform for t in tags} and {t.interpreter for t in tags} == {"cp311"}
    assert all(tags & target_accepts(target) for tags in (parse_wheel_filename(w.name)[3] for w in wheels))
    if target is WIN64:
        assert not wheel_runs_here(native)
    # the same destination again: nothing downloaded again, the same closure, still not the stranger
    before = {w.name: (w.stat().st_ino, w.stat().st_mtime_ns) for w in wheels}
    again = closure(["requests==2.32.3"], dest, target)
    assert again == wheels and {w.name: (w.stat().st_ino, w.stat().st_mtime_ns) for w in again} == before
    assert sorted(p.name for p in dest.iterdir()) == sorted([stranger.name, *before])  # no log when all went well


def test_an_sdist_only_requirement_is_one_line_naming_it_and_the_fix(tmp_path: Path, docopt_wheel: Path) -> None:
    dest = tmp_path / "dest"
    with pytest.raises(FetchError) as info:
        download_closure(["docopt==0.6.2"], [], dest, LINUX)
    log = dest / "pip-download-closure-manylinux_2_28_x86_64-3.11.log"
    message = info.value.message
    if "has no wheel" not in message:
        missing(f"the index is out of reach: {message}")
    assert message == (
        "docopt==0.6.2 has no wheel for manylinux_2_28_x86_64, CPython 3.11 (sdist only, or no such release): "
        f"{NO_WHEEL_FIX} (full log: {log})"
    )
    assert "\n" not in str(info.value) and info.value.exit_code == ExitCode.BAD_INPUT
    assert "--platform manylinux_2_28_x86_64 --python-version 3.11" in log.read_text()
    # the fix it gives works: a wheel built elsewhere (here: on this machine; docopt is pure Python)
    built = tmp_path / "built"
    built.mkdir()
    (built / docopt_wheel.name).write_bytes(docopt_wheel.read_bytes())
    wheels = closure(["docopt==0.6.2"], dest, LINUX, index_args=["--find-links", str(built)])
    assert [w.name for w in wheels] == [docopt_wheel.name]


def test_a_dependency_without_a_wheel_names_who_needs_it(tmp_path: Path) -> None:
    links = tmp_path / "links"
    links.mkdir()
    make_wheel(links / "deployme-1.0-py3-none-any.whl", "deployme", "1.0", requires=["docopt==0.6.2"])
    with pytest.raises(FetchError) as info:
        download_closure(["deployme==1.0"], [], tmp_path / "dest", WIN64, index_args=["--find-links", str(links)])
    if "has no wheel" not in info.value.message:
        missing(f"the index is out of reach: {info.value.message}")
    assert info.value.message.startswith(
        f"docopt==0.6.2 (needed by deployme) has no wheel for win_amd64, CPython 3.11 (sdist only, or no such "
        f"release): {NO_WHEEL_FIX} (full log: "
    )


def test_a_version_with_no_wheel_lists_the_ones_that_have_one(tmp_path: Path) -> None:
    with pytest.raises(FetchError) as info:
        download_closure(["charset-normalizer==3.4.2"], [], tmp_path, Target(("win_amd64",), "3.5"))
    if "has no wheel" not in info.value.message:
        missing(f"the index is out of reach: {info.value.message}")
    assert info.value.message.startswith("charset-normalizer==3.4.2 has no wheel for win_amd64, CPython 3.5 (")
    assert "(sdist only" not in info.value.message  # charset-normalizer has older releases with wheels for it


def test_a_wheel_that_does_not_fit_the_target_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The net behind pip: every wheel handed back is checked against the target's tags."""
    links = tmp_path / "links"
    links.mkdir()
    make_wheel(links / "deployme-1.0-py3-none-any.whl", "deployme", "1.0")
    assert [w.name for w in download_closure(["deployme"], [], tmp_path / "d", WIN64, index_args=["--no-index",
        "--find-links", str(links)])] == ["deployme-1.0-py3-none-any.whl"]  # fmt: skip
    monkeypatch.setattr(slimwheel.fetch, "target_accepts", lambda target: frozenset({Tag("cp311", "cp311", "x")}))
    with pytest.raises(FetchError) as info:
        download_closure(["deployme"], [], tmp_path / "d", WIN64, index_args=["--no-index", "--find-links", str(links)])
    assert info.value.message.endswith(
        "pip handed back deployme-1.0-py3-none-any.whl (py3-none-any), which is not for win_amd64, CPython 3.11"
    )


# ------------------------------------------------------------------------------------------------ this machine


def test_the_closure_for_this_machine_builds_sdists(docopt_wheel: Path) -> None:
    assert docopt_wheel.name == "docopt-0.6.2-py2.py3-none-any.whl"  # built by pip wheel from docopt-0.6.2.tar.gz
    assert wheel_runs_here(docopt_wheel) and zipfile.ZipFile(docopt_wheel).testzip() is None
    assert not list(docopt_wheel.parent.glob("*.log"))


# --------------------------------------------------------------------------------------------------- targets


def test_which_targets_are_this_machine() -> None:
    host_abi = f"cp{sys.version_info.major}{sys.version_info.minor}"
    assert Target().is_host and Target(python_version=HOST_PYTHON, implementation="cp").is_host
    assert Target(abis=(host_abi, "abi3")).is_host and Target().pip_args() == [] and str(Target()) == "this machine"
    assert not Target(python_version="3.99").is_host and not Target(abis=("abi3",)).is_host
    assert not Target(implementation="pp").is_host
    assert not Target(("linux_x86_64",)).is_host  # a named platform narrows pip's choice: never this machine
    assert Target(("win_amd64", "win32"), "3.12", "cp", ("cp312",)).pip_args() == [
        "--only-binary=:all:", "--platform", "win_amd64", "--platform", "win32",
        "--python-version", "3.12", "--implementation", "cp", "--abi", "cp312",
    ]  # fmt: skip
    assert str(Target(("win_amd64",), "3.12", abis=("cp312",))) == "win_amd64, CPython 3.12 (ABI cp312)"


def test_target_tags_follow_pip() -> None:
    linux = target_accepts(Target(("manylinux2014_x86_64",), "3.12"))
    for platform in ("manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64"):
        assert Tag("cp312", "cp312", platform) in linux
    assert Tag("cp312", "abi3", "manylinux2014_x86_64") in linux and Tag("py3", "none", "any") in linux
    assert Tag("cp312", "cp312", "manylinux_2_17_x86_64") not in linux  # pip doesn't read the alias that way
    assert Tag("cp311", "cp311", "manylinux2014_x86_64") not in linux
    exact = target_accepts(LINUX)
    assert Tag("cp311", "cp311", "manylinux_2_28_x86_64") in exact
    assert Tag("cp311", "cp311", "manylinux_2_17_x86_64") not in exact  # pip's --platform: that tag only
    mac = target_accepts(Target(("macosx_11_0_arm64",), "3.11"))
    assert (
        Tag("cp311", "cp311", "macosx_10_9_universal2") in mac and Tag("cp311", "cp311", "macosx_12_0_arm64") not in mac
    )
    pypy = target_accepts(Target(("win_amd64",), "3.10", "pp", ("pypy310_pp73",)))
    assert Tag("pp310", "pypy310_pp73", "win_amd64") in pypy and Tag("cp310", "cp310", "win_amd64") not in pypy


def test_bad_input_is_refused_before_pip_runs(tmp_path: Path) -> None:
    with pytest.raises(RecipeError, match=r"python version '3\.x' is not MAJOR\.MINOR"):
        Target(("win_amd64",), "3.x")
    with pytest.raises(FetchError, match="'win amd64' is not a pip platform"):
        Target(("win amd64",))
    cases = [
        (([], []), "nothing to download: no requirements and no requirements files"),
        ((["--index-url=https://example.invalid"], []), "is not a requirement (pip options go in the index arguments)"),
        ((["idna"], [tmp_path / "nope.txt"]), f"requirements file {tmp_path / 'nope.txt'} does not exist"),
        ((["idna"], [tmp_path]), f"requirements file {tmp_path} is not a file"),
    ]
    for (requirements, files), message in cases:
        with pytest.raises(FetchError) as info:
            download_closure(requirements, files, tmp_path / "dest", WIN64)
        assert info.value.message.endswith(message)
    assert not (tmp_path / "dest").exists()


# ----------------------------------------------------------------------------------------------------- helpers


def make_wheel(path: Path, name: str, version: str, *, requires: Sequence[str] = ()) -> Path:
    """A minimal pure wheel: one module, METADATA (with ``Requires-Dist``), WHEEL, RECORD."""
    info = f"{name}-{version}.dist-info"
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    metadata += "".join(f"Requires-Dist: {r}\n" for r in requires)
    files = {
        f"{name}/__init__.py": "",
        f"{info}/METADATA": metadata,
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for member, text in files.items():
            archive.writestr(member, text)
        archive.writestr(f"{info}/RECORD", "".join(f"{m},,\n" for m in [*files, f"{info}/RECORD"]))
    path.write_bytes(buffer.getvalue())
    os.utime(path, (0, 0))
    return path
