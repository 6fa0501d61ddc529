"""The wheelhouse of a deploy set: pinned requirements that pip and uv install offline (and refuse when a wheel
changed), the installed size, duplicated native libraries.

The set is a real closure (``requests==2.32.3`` for this machine) from the package index: out of reach, the tests
that need it skip on a developer's machine and fail when ``CI`` is set (:func:`wheelcache.missing`).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.utils import parse_wheel_filename
from wheelcache import missing

from slimwheel.errors import ExitCode
from slimwheel.fetch import FetchError, Target, download_closure
from slimwheel.wheelhouse import (
    REQUIREMENTS,
    LibraryCopy,
    WheelhouseError,
    duplicate_libraries,
    install_target,
    write_requirements,
)

UV = Path(sys.executable).with_name("uv")
CLOSURE = {"requests", "certifi", "charset-normalizer", "idna", "urllib3"}


@dataclass(frozen=True)
class House:
    directory: Path
    wheels: list[Path]
    requirements: Path


def closure(requirements: Sequence[str], dest: Path, target: Target) -> list[Path]:
    try:
        return download_closure(requirements, [], dest, target)
    except FetchError as exc:
        missing(f"closure of {list(requirements)} for {target}: {exc}")


@pytest.fixture(scope="module")
def house(tmp_path_factory: pytest.TempPathFactory) -> House:
    directory = tmp_path_factory.mktemp("house")
    wheels = closure(["requests==2.32.3"], directory, Target())
    return House(directory, wheels, write_requirements(wheels, directory))


def offline_env() -> Mapping[str, str]:
    """No pip or uv settings from the environment (``PIP_FIND_LINKS``, indexes...): only the wheelhouse counts."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}


def install(installer: str, directory: Path, target: Path) -> subprocess.CompletedProcess[str]:
    """The offline install the requirements file's header tells users to run."""
    common = ["--no-index", "--find-links", str(directory), "--require-hashes", "-r", str(directory / REQUIREMENTS)]
    if installer == "pip":
        cmd = [sys.executable, "-m", "pip", "install", "--disable-pip-version-check", *common, "--target", str(target)]
    else:
        cmd = [str(UV), "pip", "install", "--no-cache", "--python", sys.executable, *common, "--target", str(target)]
    return subprocess.run(cmd, capture_output=True, text=True, env=offline_env())


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---------------------------------------------------------------------------------------------- requirements


def test_requirements_pin_every_wheel_by_version_and_hash(house: House) -> None:
    assert house.requirements == house.directory / "requirements.txt"
    lines = house.requirements.read_text(encoding="utf-8").splitlines()
    comments = [line for line in lines if line.startswith("#")]
    assert comments[0].startswith("# Written by slimwheel") and any("--require-hashes" in c for c in comments)
    expected = []
    for wheel in sorted(house.wheels, key=lambda w: parse_wheel_filename(w.name)[0]):
        name, version, _, _ = parse_wheel_filename(wheel.name)
        expected.append(f"{name}=={version} --hash=sha256:{sha256(wheel)}")
    assert [line for line in lines if not line.startswith("#")] == expected
    assert {line.split("==")[0] for line in expected} == CLOSURE


@pytest.mark.parametrize("installer", ["pip", "uv"])
def test_the_wheelhouse_installs_offline(house: House, tmp_path: Path, installer: str) -> None:
    target = tmp_path / "site"
    proc = install(installer, house.directory, target)
    assert proc.returncode == 0, proc.stderr
    installed = {parse_wheel_filename(f"{d.name.removesuffix('.dist-info')}-py3-none-any.whl")[0]
                 for d in target.glob("*.dist-info")}  # fmt: skip
    assert installed == CLOSURE
    code = f"import sys; sys.path.insert(0, {str(target)!r}); import requests; print(requests.__version__)"
    run = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True)
    assert run.stdout.strip() == "2.32.3", run.stderr


@pytest.mark.parametrize("installer", ["pip", "uv"])
def test_a_tampered_wheel_is_refused(house: House, tmp_path: Path, installer: str) -> None:
    tampered = tmp_path / "house"
    shutil.copytree(house.directory, tampered)
    victim = next(tampered.glob("certifi-*.whl"))
    data = bytearray(victim.read_bytes())
    assert data[:4] == b"PK\x03\x04"
    data[10] ^= 0x01  # one bit of the first member's modification time: still a valid wheel, same contents
    victim.write_bytes(bytes(data))
    with zipfile.ZipFile(victim) as archive:
        assert archive.testzip() is None  # only the hash can tell
    proc = install(installer, tampered, tmp_path / "site")
    assert proc.returncode != 0
    output = (proc.stdout + proc.stderr).lower()
    assert ("do not match the hashes" if installer == "pip" else "hash mismatch") in output, output
    assert not (tmp_path / "site" / "requests").exists()  # nothing installed
    assert install(installer, house.directory, tmp_path / "untouched").returncode == 0  # the original still installs


def test_two_wheels_of_one_distribution_share_a_line(tmp_path: Path) -> None:
    linux = tmp_path / "demo-1.0-cp311-cp311-manylinux_2_28_x86_64.whl"
    windows = tmp_path / "demo-1.0-cp311-cp311-win_amd64.whl"
    other = tmp_path / "Other_Name-2.0-py3-none-any.whl"
    for path in (linux, windows, other):
        path.write_bytes(path.name.encode())
    text = write_requirements([windows, other, linux], tmp_path).read_text()
    hashes = " ".join(f"--hash=sha256:{h}" for h in sorted([sha256(linux), sha256(windows)]))
    assert [line for line in text.splitlines() if not line.startswith("#")] == [
        f"demo==1.0 {hashes}",
        f"other-name==2.0 --hash=sha256:{sha256(other)}",
    ]


def test_what_write_requirements_refuses(tmp_path: Path) -> None:
    one = tmp_path / "demo-1.0-py3-none-any.whl"
    two = tmp_path / "demo-2.0-py3-none-any.whl"
    elsewhere = tmp_path / "sub" / "far-1.0-py3-none-any.whl"
    elsewhere.parent.mkdir()
    for path in (one, two, elsewhere):
        path.write_bytes(b"x")
    cases = [
        ([one, two], "demo: a deploy set can't hold two versions of one distribution (1.0, 2.0)"),
        ([one, elsewhere], f"{elsewhere} is not in {tmp_path}: requirements.txt there pins only wheels it holds"),
        ([tmp_path / "notawheel.zip"], "not a wheel file name"),
        ([], "no wheels to pin in requirements.txt"),
    ]
    for wheels, message in cases:
        with pytest.raises(WheelhouseError) as info:
            write_requirements(wheels, tmp_path)
        assert message in info.value.message and info.value.exit_code == ExitCode.BAD_INPUT
    assert not (tmp_path / REQUIREMENTS).exists()


def test_requirements_replace_a_file_atomically_but_never_a_symlink_or_fifo(tmp_path: Path) -> None:
    wheel = tmp_path / "demo-1.0-py3-none-any.whl"
    wheel.write_bytes(b"x")
    path = tmp_path / REQUIREMENTS
    path.write_text("stale\n")
    os.chmod(path, 0o640)
    write_requirements([wheel], tmp_path)
    assert "demo==1.0 --hash=sha256:" in path.read_text() and "stale" not in path.read_text()
    assert (path.stat().st_mode & 0o777) == 0o640  # replaced, its mode kept
    assert sorted(p.name for p in tmp_path.iterdir()) == [wheel.name, REQUIREMENTS]  # no temporary file left
    elsewhere = tmp_path / "elsewhere.txt"
    elsewhere.write_text("keep me\n")
    path.unlink()
    path.symlink_to(elsewhere)
    with pytest.raises(WheelhouseError, match="not a regular file"):
        write_requirements([wheel], tmp_path)
    assert path.is_symlink() and elsewhere.read_text() == "keep me\n"
    path.unlink()
    os.mkfifo(path)  # writing to it would block: refused before opening
    with pytest.raises(WheelhouseError, match=r"requirements\.txt: not a regular file"):
        write_requirements([wheel], tmp_path)


# -------------------------------------------------------------------------------------------- installed size


def files_under(*roots: Path) -> list[Path]:
    return [p for root in roots for p in root.rglob("*") if p.is_file() and not p.is_symlink()]


def test_install_target_measures_every_distribution_with_its_bytecode(house: House, tmp_path: Path) -> None:
    target = tmp_path / "site"
    size = install_target(house.wheels, target)
    by_name = size.by_name()
    assert set(by_name) == CLOSURE and all(d.size > 0 and d.files > 0 for d in size.distributions)
    assert size.total == sum(p.stat().st_size for p in files_under(target))
    assert size.total >= sum(d.size for d in size.distributions)
    requests = by_name["requests"]
    own = files_under(target / "requests", target / "requests-2.32.3.dist-info")
    pycs = [p for p in own if p.suffix == ".pyc"]
    assert pycs and all(p.parent.name == "__pycache__" for p in pycs)  # pip compiled the bytecode
    assert (requests.version, requests.files) == ("2.32.3", len(own))
    assert requests.size == sum(p.stat().st_size for p in own)
    assert requests.bytecode == sum(p.stat().st_size for p in pycs) > 0
    with pytest.raises(WheelhouseError, match="must be a new or empty directory"):
        install_target(house.wheels, target)


def test_install_target_for_a_foreign_platform_needs_its_pip_options(tmp_path: Path) -> None:
    windows = Target(("win_amd64",), "3.11")
    wheels = closure(["charset-normalizer==3.4.2"], tmp_path / "wheels", windows)
    with pytest.raises(WheelhouseError) as info:
        install_target(wheels, tmp_path / "refused")
    log = tmp_path / "pip-install-refused.log"
    assert info.value.message.endswith(f"is not a supported wheel on this platform. (full log: {log})")
    assert log.is_file() and "\n" not in info.value.message
    size = install_target(wheels, tmp_path / "site", pip_args=windows.pip_args())
    libraries = list((tmp_path / "site" / "charset_normalizer").glob("*.pyd"))
    assert libraries and size.by_name()["charset-normalizer"].size >= sum(p.stat().st_size for p in libraries)


# ---------------------------------------------------------------------------------------------- duplicates


def make_wheel(path: Path, members: Mapping[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def test_duplicate_libraries(tmp_path: Path) -> None:
    shared = os.urandom(3 << 20)  # bigger than one hashing chunk
    same_size = os.urandom(4096)
    a = make_wheel(
        tmp_path / "a-1.0-cp311-cp311-linux_x86_64.whl",
        {"a/libshared.so": shared, "a/_ext.cpython-311-x86_64-linux-gnu.so": same_size, "a/twice.so": b"t" * 64},
    )
    b = make_wheel(
        tmp_path / "b-1.0-cp311-cp311-linux_x86_64.whl",
        {
            "b.libs/libshared-1a2b3c4d.so.1.0": shared,  # the same bytes, under another name
            "b/_ext.pyd": os.urandom(4096),  # the same size, other bytes
            "b/data.bin": shared,  # the same bytes, but not a native library
        },
    )
    c = make_wheel(tmp_path / "c-1.0-py3-none-any.whl", {"c/one.so": b"t" * 64, "c/two.so": b"t" * 64})
    duplicates = duplicate_libraries([a, b, c])
    assert len(duplicates) == 2
    first, second = duplicates  # most wasted bytes first
    assert (first.sha256, first.size, first.wasted) == (hashlib.sha256(shared).hexdigest(), len(shared), len(shared))
    assert first.copies == (LibraryCopy(a, "a/libshared.so"), LibraryCopy(b, "b.libs/libshared-1a2b3c4d.so.1.0"))
    assert second.copies == (LibraryCopy(a, "a/twice.so"), LibraryCopy(c, "c/one.so"), LibraryCopy(c, "c/two.so"))
    assert second.wasted == 128
    assert duplicate_libraries([c]) == []  # copies within one wheel only: not vendored by two wheels
    assert duplicate_libraries([b, c]) == []
    broken = tmp_path / "broken-1.0-py3-none-any.whl"
    broken.write_bytes(b"not a zip")
    with pytest.raises(WheelhouseError, match=r"broken-1\.0-py3-none-any\.whl: can't read the wheel"):
        duplicate_libraries([a, broken])
