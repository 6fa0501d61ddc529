"""Get the wheel a recipe names: download it for a target platform, build it from source, or take a local file.

pip does the work, always as a subprocess (``python -m pip``), never imported. Its output is captured; when it
fails, the full log goes to a file in the destination directory and :class:`FetchError` says, in one line, what
pip's last error was and where that log is.

* :func:`download` — ``pip download --only-binary=:all: --no-deps`` for an explicit platform, Python version and
  ABI, so a Windows wheel can be fetched on Linux. A wheel already in the destination is reused (pip checks the
  index, finds the file already there, and doesn't download it again).
* :func:`build_from_source` — ``pip wheel`` from a requirement (only that project is built from source; its build
  dependencies may be wheels) or a local sdist/source tree, with extra environment variables (``CFLAGS``...) and
  ``--config-settings`` for the build backend. It builds for the machine it runs on.
* :func:`obtain` — one :class:`~slimwheel.recipe.PlatformRecipe`'s wheel, whichever of the three it names.
* :func:`download_closure` — the wheels of requirements and of everything they need (a deploy set), for a
  :class:`Target` in pip's own terms (``--platform``, ``--python-version``, ``--implementation``, ``--abi``): pip
  resolves, never slimwheel. A foreign target is ``pip download --only-binary=:all:`` (a project with no wheel
  for it is a one-line error naming it); this machine is ``pip wheel``, which builds what has only an sdist.

Which wheels fit a platform, and which can run on this machine, is :mod:`slimwheel.tags`; this module only asks
it (a wheel pip hands back must fit the recipe's target, and a source build must target this machine) — except
for a :class:`Target`'s tags, which follow pip's reading of its options (:func:`target_accepts`). It never looks
inside a wheel: a wheel here is a file name.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.tags import Tag, compatible_tags, cpython_tags, generic_tags, interpreter_name, mac_platforms, sys_tags
from packaging.utils import canonicalize_name, parse_wheel_filename

from .crossbuild import ARCHITECTURES as CROSS_ARCHITECTURES
from .crossbuild import CrossRoot, architecture_of, retag
from .crossbuild import prepare as prepare_cross
from .errors import SlimwheelError
from .recipe import LocalWheel, PlatformRecipe, ProjectSpec, RequirementSet, SourceBuild
from .tags import (
    HOST_PYTHON,
    Glibc,
    fits,
    parse_python_version,
    pip_platforms,
    runs_here,
    target_tags,
    wheel_tags,
)


class FetchError(SlimwheelError):
    """A wheel could not be downloaded, built or found."""


# -------------------------------------------------------------------------------------------------------- pip


def _pip(python: Path | str, *args: str) -> list[str]:
    return [str(python), "-m", "pip", *args, "--disable-pip-version-check", "--no-input", "--progress-bar", "off"]


def _run(
    cmd: list[str],
    *,
    dest: Path,
    log_name: str,
    what: str,
    env: Mapping[str, str] | None = None,
    explain: Callable[[str], str | None] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run pip; on failure write its whole output to ``dest/log_name`` and raise a one-line :class:`FetchError`.

    ``explain(stderr)`` may turn a failure it recognises into a better message than pip's last error line.
    """
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, errors="replace", env=dict(env) if env is not None else None
        )
    except OSError as exc:
        raise FetchError(f"{what}: can't run {cmd[0]}: {exc.strerror or exc}") from None
    if proc.returncode != 0:
        log = _write_log(dest, log_name, cmd, proc)
        reason = (explain and explain(proc.stderr)) or f"{what} failed: {_summary(proc.stdout, proc.stderr)}"
        raise FetchError(f"{reason} (full log: {log})")
    return proc


def _write_log(dest: Path, name: str, cmd: Sequence[str], proc: subprocess.CompletedProcess[str]) -> Path:
    log = dest / name
    text = f"$ {' '.join(cmd)}\n# exit code {proc.returncode}\n\n## stdout\n{proc.stdout}\n## stderr\n{proc.stderr}"
    try:
        log.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise FetchError(f"can't write the pip log {log}: {exc.strerror or exc}") from None
    return log


_COMPILER_ERROR = re.compile(r"^\s*(\S+?:\d+(?::\d+)?: (?:fatal )?error: .+)$")


def _summary(stdout: str, stderr: str) -> str:
    """pip's last ``ERROR:`` line (or last line), with a compiler's first error when a build failed."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("ERROR:")]
    useful = [line for line in lines if not line.startswith(("[notice]", "WARNING:", "note:", "hint:"))]
    summary = (errors or useful or lines or ["no output"])[-1].removeprefix("ERROR:").strip()
    compiler = next((m.group(1) for m in map(_COMPILER_ERROR.match, (stdout + stderr).splitlines()) if m), None)
    if compiler and compiler not in summary:
        summary = f"{summary}; first compiler error: {compiler}"
    return summary if len(summary) <= 400 else summary[:397] + "..."


def _reported_wheel(output: str, prefixes: Iterable[str], dest: Path) -> Path | None:
    """The wheel pip says it saved (or found) in ``dest``, from its own output."""
    for line in reversed(output.splitlines()):
        text = line.strip()
        for prefix in prefixes:
            if text.startswith(prefix):
                name = re.split(r"\s", text.removeprefix(prefix).strip(), maxsplit=1)[0]
                wheel = dest / Path(name).name
                if wheel.suffix == ".whl" and wheel.is_file():
                    return wheel
    return None


def _snapshot(dest: Path) -> dict[str, tuple[int, int]]:
    return {p.name: (p.stat().st_mtime_ns, p.stat().st_size) for p in dest.glob("*.whl")}


def _prepare(dest: Path) -> Path:
    dest = Path(dest).absolute()
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FetchError(f"can't create {dest}: {exc.strerror or exc}") from None
    return dest


# ------------------------------------------------------------------------------------------------ the API


def download(
    spec: ProjectSpec,
    platform: str,
    python_version: str,
    dest: Path,
    *,
    index_args: Sequence[str] = (),
    glibc: Glibc = None,
) -> Path:
    """Download the wheel of ``spec`` for ``platform`` and CPython ``python_version`` into ``dest``; return it.

    ``index_args`` are passed to pip as they are (``--index-url URL``, ``--find-links DIR``...); ``glibc`` is the
    newest C library of a Linux target (:func:`slimwheel.tags.pip_platforms`).
    """
    major, minor = parse_python_version(python_version)
    dest = _prepare(dest)
    requirement = f"{spec.project}{spec.specifier}"
    platform_args = [arg for name in pip_platforms(platform, glibc) for arg in ("--platform", name)]
    cmd = _pip(
        sys.executable,
        "download",
        "--only-binary=:all:",
        "--no-deps",
        *platform_args,
        "--python-version",
        f"{major}.{minor}",
        "--implementation",
        "cp",
        "--abi",
        f"cp{major}{minor}",
        "--dest",
        str(dest),
        *index_args,
        requirement,
    )
    what = f"pip download {requirement} for {platform} (Python {major}.{minor})"
    log_name = f"pip-download-{canonicalize_name(spec.project)}-{platform}-py{major}{minor}.log"
    proc = _run(cmd, dest=dest, log_name=log_name, what=what)
    wheel = _reported_wheel(proc.stdout, ("Saved ", "File was already downloaded "), dest)
    if wheel is None:
        log = _write_log(dest, log_name, cmd, proc)
        raise FetchError(f"{what}: pip reported success but no wheel was found in {dest} (full log: {log})")
    _check_wheel(wheel, spec.project, platform, f"{major}.{minor}", what, glibc)
    return wheel


def build_from_source(
    build: SourceBuild,
    dest: Path,
    *,
    python: Path | None = None,
    index_args: Sequence[str] = (),
    cross: CrossRoot | None = None,
) -> Path:
    """Build a wheel of ``build`` into ``dest`` with ``pip wheel`` run by ``python`` (default: this interpreter).

    The wheel is for the machine this runs on, or with ``cross`` (a prepared :class:`~slimwheel.crossbuild.CrossRoot`)
    compiled by the recipe's Meson cross file (``setup-args=--cross-file``, after the root's constants), still tagged
    for this machine (:func:`slimwheel.crossbuild.retag` re-tags it). ``build.env`` is added to the environment of
    pip (and so of the build backend and the compiler); each ``build.config_settings`` entry becomes
    ``--config-settings KEY=VALUE`` (once per value for several values). pip's cache is not used: it would hand back
    a wheel built earlier with other flags.
    """
    dest = _prepare(dest)
    name: str
    if build.requirement is not None:
        try:
            name = canonicalize_name(Requirement(build.requirement).name)
        except InvalidRequirement as exc:
            raise FetchError(f"can't build {build.requirement!r}: not a valid requirement: {exc}") from None
        args = ["--no-binary", name, build.requirement]  # only this project from source, not its build tools
        what = f"pip wheel {build.requirement}"
    elif build.sdist is not None:
        if not build.sdist.exists():
            raise FetchError(f"can't build {build.sdist}: it does not exist")
        name = str(canonicalize_name(re.split(r"-\d", build.sdist.name, maxsplit=1)[0])) or "sdist"
        args = [str(build.sdist)]
        what = f"pip wheel {build.sdist}"
    else:
        raise FetchError("a source build needs a requirement or an sdist")
    settings: list[str] = []
    if cross is not None and build.cross_file is not None:
        for machine_file in (cross.constants, build.cross_file):
            settings += ["--config-settings", f"setup-args=--cross-file={machine_file}"]
    settings += [
        arg
        for key, value in build.config_settings.items()
        for item in ((value,) if isinstance(value, str) else value)
        for arg in ("--config-settings", f"{key}={item}")
    ]
    cmd = _pip(python or sys.executable, "wheel", "--no-deps", "--no-cache-dir", "--wheel-dir", str(dest))
    cmd += [*settings, *index_args, *args]
    before = _snapshot(dest)
    proc = _run(cmd, dest=dest, log_name=f"pip-wheel-{name}.log", what=what, env={**os.environ, **build.env})
    wheel = _built_wheel(proc.stdout, dest) or _changed_wheel(before, dest)
    if wheel is None:
        log = _write_log(dest, f"pip-wheel-{name}.log", cmd, proc)
        raise FetchError(f"{what}: pip reported success but no new wheel was found in {dest} (full log: {log})")
    return wheel


def _built_wheel(output: str, dest: Path) -> Path | None:
    """The wheel pip built, from its ``Created wheel for x: filename=x-1.0-....whl size=...`` line."""
    for match in re.finditer(r"filename=(\S+\.whl)", output):
        if (dest / match.group(1)).is_file():
            return dest / match.group(1)
    return None


def _changed_wheel(before: Mapping[str, tuple[int, int]], dest: Path) -> Path | None:
    changed = [name for name, state in _snapshot(dest).items() if before.get(name) != state]
    return dest / changed[0] if len(changed) == 1 else None


def _check_wheel(
    wheel: Path, project: str | None, platform: str, python_version: str, what: str, glibc: Glibc = None
) -> None:
    name, _, _, tags = parse_wheel_filename(wheel.name)
    if project is not None and name != canonicalize_name(project):
        raise FetchError(f"{what}: got {wheel.name}, a wheel of {name}, not of {canonicalize_name(project)}")
    if not fits(tags, target_tags(platform, python_version, glibc)):
        shown = ", ".join(sorted(str(t) for t in tags))
        raise FetchError(f"{what}: {wheel.name} ({shown}) is not for {platform} and CPython {python_version}")


def obtain(
    recipe: PlatformRecipe,
    dest: Path,
    *,
    python: Path | None = None,
    index_args: Sequence[str] = (),
    cache_dir: Path | None = None,
) -> Path:
    """The input wheel of ``recipe``: downloaded or built into ``dest``, or its local wheel as it is.

    Every wheel is checked to fit the recipe's platform and Python version. A source build runs here, so it is
    refused for a platform this machine can't run, unless it names a cross file (:mod:`slimwheel.crossbuild`,
    whose root is prepared under ``cache_dir``); ``python`` is the interpreter that builds it.
    """
    package = recipe.package
    what = f"{recipe.recipe} for {recipe.platform}"
    if isinstance(package, ProjectSpec):
        return download(
            package, recipe.platform, recipe.python_version, dest, index_args=index_args, glibc=recipe.glibc
        )
    if isinstance(package, LocalWheel):
        if not package.path.is_file():
            problem = "is not a file" if package.path.exists() else "does not exist"
            raise FetchError(f"{what}: the wheel {package.path} {problem}")
        _check_wheel(package.path, None, recipe.platform, recipe.python_version, what, recipe.glibc)
        return package.path
    if isinstance(package, RequirementSet):  # several wheels: download_closure gets them (slimwheel.build)
        raise FetchError(f"{what}: requirements name a deploy set of wheels, not one wheel: use download_closure")
    cross = None
    if package.cross_file is not None:
        architecture = architecture_of(recipe.platform)
        if architecture is None:
            known = ", ".join(f"linux_{a}" for a in CROSS_ARCHITECTURES)
            raise FetchError(f"{what}: a cross-file build makes wheels for {known}, not {recipe.platform}")
        cross = prepare_cross(architecture, recipe.python_version, cache_dir or dest)
    elif not runs_here(recipe.platform):
        raise FetchError(
            f"{what}: a source build makes a wheel for this machine, which can't run {recipe.platform} wheels; "
            f"build on a {recipe.platform} machine, name a cross-file for it, or use project or wheel for it"
        )
    wheel = build_from_source(package, dest, python=python, index_args=index_args, cross=cross)
    if cross is not None:
        wheel = retag(wheel, cross.architecture, recipe.platform)
    _check_wheel(wheel, None, recipe.platform, recipe.python_version, what, recipe.glibc)
    return wheel


# ------------------------------------------------------------------------------------ a closure, for a target


@dataclass(frozen=True)
class Target:
    """Where a deploy set will be installed, in pip's terms; what is not given is this interpreter's.

    ``platforms`` are pip ``--platform`` values as pip reads them (``manylinux_2_28_x86_64`` selects wheels tagged
    exactly that, ``manylinux2014_x86_64`` also the older manylinux2010 and manylinux1 ones, ``macosx_11_0_arm64``
    also older macOS versions); ``python_version`` is MAJOR.MINOR (``"3.11"``); ``implementation`` is pip's
    ``--implementation`` (``"cp"``); ``abis`` are pip's ``--abi`` values.
    """

    platforms: tuple[str, ...] = ()
    python_version: str | None = None
    implementation: str | None = None
    abis: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.python_version is not None:
            parse_python_version(self.python_version)  # RecipeError, one line, for anything but "3.11"-like
        for value in (*self.platforms, *self.abis, self.implementation or "x"):
            if not re.fullmatch(r"[A-Za-z0-9_.]+", value):
                raise FetchError(f"{value!r} is not a pip platform, implementation or ABI tag")

    @property
    def is_host(self) -> bool:
        """This machine: no platform named, and Python version, implementation and ABI (if given) this
        interpreter's. A named platform is never this machine: pip then selects wheels tagged for that platform
        only, not all this machine accepts."""
        host_abi = next(iter(sys_tags())).abi
        return (
            not self.platforms
            and self.python_version in (None, HOST_PYTHON)
            and self.implementation in (None, interpreter_name())
            and (not self.abis or set(self.abis) - {"abi3", "none"} == {host_abi})
        )

    def pip_args(self) -> list[str]:
        """pip's options that select this target's wheels (none for this machine), with ``--only-binary=:all:``,
        which pip requires with them."""
        if self.is_host:
            return []
        args = ["--only-binary=:all:"]
        args += [arg for platform in self.platforms for arg in ("--platform", platform)]
        args += ["--python-version", self.python_version] if self.python_version else []
        args += ["--implementation", self.implementation] if self.implementation else []
        args += [arg for abi in self.abis for arg in ("--abi", abi)]
        return args

    def __str__(self) -> str:
        if self.is_host:
            return "this machine"
        implementation = self.implementation or interpreter_name()
        python = f"{_IMPLEMENTATIONS.get(implementation, implementation)} {self.python_version or HOST_PYTHON}"
        abis = f" (ABI {', '.join(self.abis)})" if self.abis else ""
        return f"{', '.join(self.platforms) or 'this platform'}, {python}{abis}"


_IMPLEMENTATIONS = {"cp": "CPython", "pp": "PyPy", "py": "any Python", "ip": "IronPython", "jy": "Jython"}
_LEGACY_MANYLINUX = {"manylinux2014": ("manylinux2010", "manylinux1"), "manylinux2010": ("manylinux1",)}


def target_accepts(target: Target) -> frozenset[Tag]:
    """The wheel tags pip selects for ``target``: pip's own reading of its options (its ``get_supported``),
    computed with packaging. This machine: :func:`packaging.tags.sys_tags`."""
    if target.is_host:
        return frozenset(sys_tags())
    version = parse_python_version(target.python_version) if target.python_version else sys.version_info[:2]
    implementation = target.implementation or interpreter_name()
    interpreter = f"{implementation}{version[0]}{version[1]}"
    platforms = _pip_platforms(target.platforms) if target.platforms else None  # None: this machine's
    abis = list(target.abis) or None  # None: what packaging derives for the version (pip does the same)
    if implementation == "cp":
        tags = [*cpython_tags(version, abis, platforms)]
    else:
        tags = [*generic_tags(interpreter, abis, platforms)]
    return frozenset([*tags, *compatible_tags(version, interpreter, platforms)])


def _pip_platforms(platforms: Iterable[str]) -> list[str]:
    """pip's expansion of ``--platform`` values: older macOS versions; manylinux2014 → 2010 → 1."""
    expanded: list[str] = []
    for name in platforms:
        prefix, _, arch = name.partition("_")
        mac = re.fullmatch(r"(.+)_(\d+)_(\d+)_(.+)", name) if name.startswith("macosx") else None
        if mac:
            versions = mac_platforms((int(mac.group(2)), int(mac.group(3))), mac.group(4))
            new = [f"{mac.group(1)}_{tag.removeprefix('macosx_')}" for tag in versions]
        elif prefix == "manylinux2010" or (prefix == "manylinux2014" and arch in ("i686", "x86_64")):
            new = [name, *(f"{older}_{arch}" for older in _LEGACY_MANYLINUX[prefix])]
        else:
            new = [name]
        expanded += [tag for tag in new if tag not in expanded]
    return expanded


def download_closure(
    requirements: Sequence[str],
    requirement_files: Sequence[Path],
    dest: Path,
    target: Target,
    *,
    index_args: Sequence[str] = (),
) -> list[Path]:
    """The wheels of ``requirements`` (pip requirement specifiers), of the requirements files and of all they
    depend on, for ``target``, in ``dest``; sorted by file name.

    pip resolves the closure. A foreign target is ``pip download --only-binary=:all:`` with the target's options:
    a requirement with no wheel for it is a :class:`FetchError` naming it. This machine is ``pip wheel``, which
    builds a wheel from an sdist where there is no wheel. Files already in ``dest`` are reused, not downloaded
    again; the list holds exactly the wheels pip reported for this closure (from its output), never other files of
    ``dest``. Each is checked to fit ``target`` (:func:`target_accepts`). ``index_args`` go to pip as they are.
    """
    if not requirements and not requirement_files:
        raise FetchError("nothing to download: no requirements and no requirements files")
    for requirement in requirements:
        if not requirement.strip() or requirement.lstrip().startswith("-"):
            raise FetchError(f"{requirement!r} is not a requirement (pip options go in the index arguments)")
    for path in requirement_files:
        if not Path(path).is_file():
            raise FetchError(f"requirements file {path} {'is not a file' if Path(path).exists() else 'does not exist'}")
    dest = _prepare(dest)
    inputs = [*(arg for path in requirement_files for arg in ("-r", str(Path(path).absolute()))), *requirements]
    shown = [*requirements, *(f"-r {path}" for path in requirement_files)]
    listed = ", ".join(shown[:3]) + (f" and {len(shown) - 3} more" if len(shown) > 3 else "")
    slug = re.sub(r"[^\w.-]+", "_", "-".join([*target.platforms, target.python_version or "", *target.abis]))
    if target.is_host:
        what, log_name = f"pip wheel {listed} (with dependencies)", "pip-wheel-closure.log"
        cmd = _pip(sys.executable, "wheel", "--wheel-dir", str(dest), *index_args, *inputs)
        explain: Callable[[str], str | None] | None = None
    else:
        what, log_name = f"pip download {listed} (with dependencies) for {target}", f"pip-download-closure-{slug}.log"
        cmd = _pip(sys.executable, "download", "--dest", str(dest), *target.pip_args(), *index_args, *inputs)
        explain = partial(_no_wheel, target=target)
    proc = _run(cmd, dest=dest, log_name=log_name, what=what, explain=explain)
    wheels = _reported_wheels(proc.stdout, dest)
    missing = [wheel.name for wheel in wheels if not wheel.is_file()]
    if not wheels or missing:
        log = _write_log(dest, log_name, cmd, proc)
        found = f"{missing[0]} is not in {dest}" if missing else f"no wheel pip saved in {dest} is named in its output"
        raise FetchError(f"{what}: pip reported success, but {found} (full log: {log})")
    accepted = target_accepts(target)
    for wheel in wheels:
        tags = wheel_tags(wheel)
        if not fits(tags, accepted):
            shown_tags = ", ".join(sorted(str(tag) for tag in tags))
            raise FetchError(f"{what}: pip handed back {wheel.name} ({shown_tags}), which is not for {target}")
    return sorted(wheels, key=lambda wheel: wheel.name)


_SAVED = re.compile(r"^\s*(?:Saved|File was already downloaded)\s+(.+\.whl)\s*$")


def _reported_wheels(output: str, dest: Path) -> list[Path]:
    """Every wheel pip says it saved, found already in ``dest``, or built (``Created wheel ... filename=``)."""
    names: set[str] = set()
    for line in output.splitlines():
        saved = _SAVED.match(line)
        if saved:
            names.add(Path(saved.group(1)).name)
        names.update(re.findall(r"filename=(\S+\.whl)", line))
    return [dest / name for name in sorted(names)]


_NOT_FOUND = re.compile(
    r"Could not find a version that satisfies the requirement (?P<req>.+?)(?: \(from (?P<parent>[^()]+)\))? "
    r"\(from versions: (?P<versions>[^()]*)\)\s*$",
    re.MULTILINE,
)


def _no_wheel(stderr: str, target: Target) -> str | None:
    """pip found no wheel for a requirement (``--only-binary=:all:``): one line naming it and what to do."""
    found = list(_NOT_FOUND.finditer(stderr))
    if not found:
        return None
    match = found[-1]
    needed = f" (needed by {match['parent']})" if match["parent"] else ""
    versions = [v for v in match["versions"].split(", ") if v and v != "none"]
    if versions:
        shown = ", ".join(versions[-5:])
        why, fix = f"versions that have one: {shown}", "pin one of those, build it on that platform"
    else:
        why, fix = "sdist only, or no such release", "build it on that platform"
    fix += ", or pass --find-links DIR with a wheel you built"
    return f"{match['req']}{needed} has no wheel for {target} ({why}): {fix}"
