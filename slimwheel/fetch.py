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

Which wheels fit a platform, and which can run on this machine, is :mod:`slimwheel.tags`; this module only asks
it (a wheel pip hands back must fit the recipe's target, and a source build must target this machine). It never
looks inside a wheel: a wheel here is a file name.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename

from .errors import SlimwheelError
from .recipe import LocalWheel, PlatformRecipe, ProjectSpec, SourceBuild
from .tags import fits, parse_python_version, platform_info, runs_here, target_tags


class FetchError(SlimwheelError):
    """A wheel could not be downloaded, built or found."""


# -------------------------------------------------------------------------------------------------------- pip


def _pip(python: Path | str, *args: str) -> list[str]:
    return [str(python), "-m", "pip", *args, "--disable-pip-version-check", "--no-input", "--progress-bar", "off"]


def _run(
    cmd: list[str], *, dest: Path, log_name: str, what: str, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run pip; on failure write its whole output to ``dest/log_name`` and raise a one-line :class:`FetchError`."""
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, errors="replace", env=dict(env) if env is not None else None
        )
    except OSError as exc:
        raise FetchError(f"{what}: can't run {cmd[0]}: {exc.strerror or exc}") from None
    if proc.returncode != 0:
        log = _write_log(dest, log_name, cmd, proc)
        raise FetchError(f"{what} failed: {_summary(proc.stdout, proc.stderr)} (full log: {log})")
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
    spec: ProjectSpec, platform: str, python_version: str, dest: Path, *, index_args: Sequence[str] = ()
) -> Path:
    """Download the wheel of ``spec`` for ``platform`` and CPython ``python_version`` into ``dest``; return it.

    ``index_args`` are passed to pip as they are (``--index-url URL``, ``--find-links DIR``...).
    """
    major, minor = parse_python_version(python_version)
    dest = _prepare(dest)
    requirement = f"{spec.project}{spec.specifier}"
    platform_args = [arg for name in platform_info(platform).pip_platforms for arg in ("--platform", name)]
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
    _check_wheel(wheel, spec.project, platform, f"{major}.{minor}", what)
    return wheel


def build_from_source(
    build: SourceBuild, dest: Path, *, python: Path | None = None, index_args: Sequence[str] = ()
) -> Path:
    """Build a wheel of ``build`` into ``dest`` with ``pip wheel`` run by ``python`` (default: this interpreter).

    The wheel is for the machine this runs on. ``build.env`` is added to the environment of pip (and so of the
    build backend and the compiler); each ``build.config_settings`` entry becomes ``--config-settings KEY=VALUE``
    (once per value for several values). pip's cache is not used: it would hand back a wheel built earlier with
    other flags.
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
    settings = [
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


def _check_wheel(wheel: Path, project: str | None, platform: str, python_version: str, what: str) -> None:
    name, _, _, tags = parse_wheel_filename(wheel.name)
    if project is not None and name != canonicalize_name(project):
        raise FetchError(f"{what}: got {wheel.name}, a wheel of {name}, not of {canonicalize_name(project)}")
    if not fits(tags, target_tags(platform, python_version)):
        shown = ", ".join(sorted(str(t) for t in tags))
        raise FetchError(f"{what}: {wheel.name} ({shown}) is not for {platform} and CPython {python_version}")


def obtain(recipe: PlatformRecipe, dest: Path, *, python: Path | None = None, index_args: Sequence[str] = ()) -> Path:
    """The input wheel of ``recipe``: downloaded or built into ``dest``, or its local wheel as it is.

    Every wheel is checked to fit the recipe's platform and Python version. A source build runs here, so it is
    refused for a platform this machine can't run; ``python`` is the interpreter that builds it.
    """
    package = recipe.package
    what = f"{recipe.recipe} for {recipe.platform}"
    if isinstance(package, ProjectSpec):
        return download(package, recipe.platform, recipe.python_version, dest, index_args=index_args)
    if isinstance(package, LocalWheel):
        if not package.path.is_file():
            problem = "is not a file" if package.path.exists() else "does not exist"
            raise FetchError(f"{what}: the wheel {package.path} {problem}")
        _check_wheel(package.path, None, recipe.platform, recipe.python_version, what)
        return package.path
    if not runs_here(recipe.platform):
        raise FetchError(
            f"{what}: a source build makes a wheel for this machine, which can't run {recipe.platform} wheels; "
            f"build on a {recipe.platform} machine, or use project or wheel for it"
        )
    wheel = build_from_source(package, dest, python=python, index_args=index_args)
    _check_wheel(wheel, None, recipe.platform, recipe.python_version, what)
    return wheel
