"""Wheel tags: which ones an interpreter or a target platform accepts, and whether a wheel fits.

A wheel installs where one of its tags (``cp311-cp311-manylinux_2_17_x86_64``, ``py3-none-any``) is accepted:
:func:`fits`. The accepted tags come from one of three places:

* :func:`interpreter_tags` — an interpreter described by what it reported about itself (the check environment's
  Python, :class:`slimwheel.sandbox.Environment`), which need not be the one running slimwheel;
* :func:`target_tags` — a recipe's target platform and CPython version (what pip's ``--platform``,
  ``--python-version`` and ``--abi`` select), so a Windows wheel can be judged on Linux;
* this interpreter (:func:`packaging.tags.sys_tags`): :func:`runs_here` and :func:`wheel_runs_here` say what can
  run (and so be checked or built) on this machine.

packaging computes every tag list; this module only says which list applies. It runs nothing and knows nothing
of environments, downloads or wheel contents: a wheel is its file name, or the tags it declares.

It is also the one home of the platforms slimwheel knows (:data:`PLATFORMS`: a name such as ``win_amd64`` and the
pip ``--platform`` values that select its wheels) and of reading a Python version (``"3.11"``); recipes name both.
"""

from __future__ import annotations

import re
import struct
import sys
import sysconfig
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from packaging import tags as packaging_tags
from packaging.tags import Tag, compatible_tags, cpython_tags, mac_platforms, sys_tags
from packaging.utils import InvalidWheelFilename, parse_wheel_filename

from .errors import BadWheel, RecipeError, did_you_mean

__all__ = [
    "fits",
    "interpreter_tags",
    "pip_platforms",
    "runs_here",
    "target_tags",
    "wheel_fits",
    "wheel_runs_here",
    "wheel_tags",
]

#: A target's newest C library, ``(2, 34)`` for glibc 2.34; None: the platform's default (manylinux_2_28).
Glibc = tuple[int, int] | None


def fits(wheel_tags: Iterable[Tag | str], accepted: Iterable[Tag | str]) -> bool:
    """Whether a wheel tagged ``wheel_tags`` installs where ``accepted`` tags are: one tag in common is enough."""
    names = {str(tag) for tag in accepted}
    return any(str(tag) in names for tag in wheel_tags)


def wheel_tags(wheel: Path) -> frozenset[Tag]:
    """The tags in a wheel's file name; :class:`~slimwheel.errors.BadWheel` if it is not a wheel's name."""
    try:
        return parse_wheel_filename(wheel.name)[3]
    except InvalidWheelFilename:
        raise BadWheel(str(wheel), "not a wheel file name (NAME-VERSION-PYTHON-ABI-PLATFORM.whl)") from None


# ------------------------------------------------------------------------------------------- an interpreter


def interpreter_tags(info: Mapping[str, Any]) -> frozenset[str]:
    """The wheel tags an interpreter accepts, from what it reported about itself: ``version_info``,
    ``implementation``, ``platform`` (:func:`sysconfig.get_platform`), ``pointer_bits``, ``py_debug``,
    ``has_refcount``, ``gil_disabled`` and ``ext_suffix`` (see :data:`slimwheel.sandbox._PROBE`)."""
    major, minor = int(info["version_info"][0]), int(info["version_info"][1])
    version = (major, minor)
    ours = sysconfig.get_platform() == info["platform"] and struct.calcsize("P") * 8 == info["pointer_bits"]
    # Same OS and architecture as this process: the same machine, so this process's platform tags (manylinux
    # and musllinux levels come from the C library, which both share). Otherwise only the generic platform tag.
    platforms = list(packaging_tags.platform_tags()) if ours else _foreign_platforms(info)
    tags: list[Tag] = []
    if info["implementation"] == "cpython":
        debug = info["py_debug"] or (info["py_debug"] is None and info["has_refcount"])
        threading_flag = "t" if version >= (3, 13) and info["gil_disabled"] else ""
        abis = [f"cp{major}{minor}{threading_flag}{'d' if debug else ''}"]
        if debug:
            abis.append(f"cp{major}{minor}{threading_flag}")
        tags += cpython_tags(version, abis, platforms)
        interpreter = f"cp{major}{minor}"
    else:
        short = {"pypy": "pp", "ironpython": "ip", "jython": "jy"}.get(info["implementation"], info["implementation"])
        interpreter = f"{short}{major}{minor}"
        parts = str(info["ext_suffix"]).split(".")
        soabi = parts[1] if len(parts) >= 3 else ""
        if soabi.startswith("pypy"):
            soabi = "-".join(soabi.split("-")[:2])
        elif soabi.startswith("graalpy"):
            soabi = "-".join(soabi.split("-")[:3])
        abis = [re.sub(r"[-.]", "_", soabi)] if soabi else []
        tags += packaging_tags.generic_tags(interpreter, abis, platforms)
    tags += compatible_tags(version, interpreter, platforms)
    return frozenset(str(tag) for tag in tags)


def _foreign_platforms(info: Mapping[str, Any]) -> list[str]:
    """Platform tags of an interpreter of another architecture (an emulated one, :mod:`slimwheel.emulator`): the
    generic tag, and on glibc Linux the manylinux tags its C library (``libc``: ``"glibc 2.36"``) accepts."""
    generic = re.sub(r"[-.]", "_", str(info["platform"]))
    match = re.fullmatch(r"glibc (\d+)\.(\d+)", str(info.get("libc") or ""))
    arch = generic.removeprefix("linux_")
    if not generic.startswith("linux_") or match is None or int(match.group(1)) != 2:
        return [generic]
    return list(_linux(arch, 5 if arch in ("x86_64", "i686") else 17, int(match.group(2))))


# ------------------------------------------------------------------------------------------- the platforms


@dataclass(frozen=True)
class Platform:
    """A target platform: the pip ``--platform`` values that select its wheels, most preferred first."""

    name: str
    pip_platforms: tuple[str, ...]
    description: str


def _linux(arch: str, oldest_minor: int, newest_minor: int = 28) -> tuple[str, ...]:
    """manylinux_2_28 down to the oldest glibc a wheel may target, with the legacy aliases, then plain linux_*."""
    legacy = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}
    tags: list[str] = []
    for minor in range(newest_minor, oldest_minor - 1, -1):
        tags.append(f"manylinux_2_{minor}_{arch}")
        if minor in legacy and (arch in ("x86_64", "i686") or minor == 17):
            tags.append(f"{legacy[minor]}_{arch}")
    tags.append(f"linux_{arch}")
    return tuple(tags)


PLATFORMS: Mapping[str, Platform] = MappingProxyType(
    {
        p.name: p
        for p in (
            Platform("linux_x86_64", _linux("x86_64", 5), "Linux, x86-64, glibc ≥ 2.28 (manylinux_2_28 and older)"),
            Platform("linux_aarch64", _linux("aarch64", 17), "Linux, ARM64, glibc ≥ 2.28 (manylinux_2_28 and older)"),
            Platform("win_amd64", ("win_amd64",), "Windows, x86-64"),
            Platform("win32", ("win32",), "Windows, 32-bit x86"),
            Platform("macosx_arm64", ("macosx_11_0_arm64",), "macOS ≥ 11 on Apple silicon (arm64 and universal2)"),
        )
    }
)

HOST_PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"


def platform_info(name: str) -> Platform:
    """The known platform ``name``; a :class:`RecipeError` listing the known ones otherwise."""
    try:
        return PLATFORMS[name]
    except KeyError:
        raise RecipeError(unknown_platform(name)) from None


def parse_python_version(text: str) -> tuple[int, int]:
    """``"3.11"`` → ``(3, 11)``; anything but MAJOR.MINOR of a Python 3 is a :class:`RecipeError`."""
    match = PYTHON_VERSION.fullmatch(text)
    if not match:
        raise RecipeError(f"python version {text!r} is not MAJOR.MINOR of a Python 3, like '3.11'")
    return 3, int(match.group(1))


PYTHON_VERSION = re.compile(r"3\.(0|[1-9]\d*)")


def _known_platforms() -> str:
    return "known platforms: " + ", ".join(PLATFORMS)


def unknown_platform(name: str) -> str:
    return f"unknown platform {name!r}{did_you_mean(name, PLATFORMS)} ({_known_platforms()})"


# ---------------------------------------------------------------------------------------- a target platform


def pip_platforms(platform: str, glibc: Glibc = None) -> tuple[str, ...]:
    """pip's ``--platform`` values for ``platform``, most preferred first. ``glibc`` (Linux platforms only) is the
    newest C library the target has: wheels for a newer one are never chosen; None keeps the platform's default
    (manylinux_2_28, which the oldest devices still in service have). A :class:`RecipeError` for another platform."""
    info = platform_info(platform)
    if glibc is None:
        return info.pip_platforms
    if not platform.startswith("linux_") or glibc[0] != 2:
        raise RecipeError(f"glibc {glibc[0]}.{glibc[1]} can't apply to {platform}: only to Linux platforms, as 2.N")
    arch = platform.removeprefix("linux_")
    return _linux(arch, 5 if arch in ("x86_64", "i686") else 17, max(glibc[1], 17))


def parse_glibc(text: str) -> tuple[int, int]:
    """``"2.34"`` → ``(2, 34)``; a :class:`RecipeError` for anything else."""
    match = re.fullmatch(r"2\.(1[7-9]|[2-9]\d)", text)
    if not match:
        raise RecipeError(f"glibc {text!r} is not a glibc version a wheel can target, like '2.34' (2.17 or newer)")
    return 2, int(match.group(1))


def _expanded_platforms(platform: str, glibc: Glibc = None) -> list[str]:
    """The platform tags pip accepts for ``platform``: a macOS ``--platform`` also accepts older versions."""
    tags: list[str] = []
    for name in pip_platforms(platform, glibc):
        match = re.fullmatch(r"macosx_(\d+)_(\d+)_(\w+)", name)
        new = mac_platforms((int(match.group(1)), int(match.group(2))), match.group(3)) if match else [name]
        tags.extend(t for t in new if t not in tags)
    return tags


def target_tags(platform: str, python_version: str, glibc: Glibc = None) -> frozenset[Tag]:
    """Every wheel tag a CPython ``python_version`` on ``platform`` (with C library ``glibc``) accepts: what pip's
    target options select."""
    version = parse_python_version(python_version)
    interpreter = f"cp{version[0]}{version[1]}"
    platforms = _expanded_platforms(platform, glibc)
    return frozenset(
        [
            *cpython_tags(version, [interpreter], platforms),
            *compatible_tags(version, interpreter, platforms),
        ]
    )


def wheel_fits(wheel: Path, platform: str, python_version: str, glibc: Glibc = None) -> bool:
    """Whether ``wheel`` installs on ``platform`` (with C library ``glibc``) under CPython ``python_version``."""
    return fits(wheel_tags(wheel), target_tags(platform, python_version, glibc))


# --------------------------------------------------------------------------------------------- this machine


def runs_here(platform: str) -> bool:
    """Whether wheels built for ``platform`` can run on this machine, under this interpreter.

    Only platform-specific tags count: a pure ``py3-none-any`` wheel runs anywhere and says nothing about it.
    """
    specific = {tag for tag in target_tags(platform, HOST_PYTHON) if tag.platform != "any"}
    return fits(specific, sys_tags())


def wheel_runs_here(wheel: Path) -> bool:
    """Whether this interpreter can install and run ``wheel`` (its tags meet :func:`packaging.tags.sys_tags`)."""
    return fits(wheel_tags(wheel), sys_tags())
