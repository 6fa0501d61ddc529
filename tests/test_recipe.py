"""Recipes: every key, defaults, per-platform overrides, project defaults, paths, and every error message."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from slimwheel.binaries import StripLevel
from slimwheel.errors import ExitCode, UsageError
from slimwheel.recipe import (
    HOST_PYTHON,
    PLATFORMS,
    LocalWheel,
    PlatformRecipe,
    ProjectSpec,
    Recipe,
    RecipeError,
    SourceBuild,
    find_project_defaults,
    load_recipe,
    parse_python_version,
    platform_info,
)
from slimwheel.rules import select_rules
from slimwheel.tags import pip_platforms, wheel_fits

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "recipes.md"

MINIMAL = 'platforms = ["linux_x86_64"]\n\n[package]\nproject = "six"\n'
SHRINK_KEYS = "prune, keep, select, ignore, strip, stubs, compress-level, max-size, minify, bytecode-only"
CHECK_KEYS = "scripts, commands, requirements, wheels, same-output, lock"
RULE_NAMES = "tests, stubs, headers, static-libs, sources, docs, debug-files, build-config, bytecode"
RULE_CODES = ", ".join(f"SW00{i}" for i in range(1, 10))
KNOWN_PLATFORMS = "linux_x86_64, linux_aarch64, win_amd64, win32, macosx_arm64"


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def recipe_file(tmp_path: Path) -> Path:
    return tmp_path / "proj" / "recipes" / "demo.toml"


# ---------------------------------------------------------------------------------------------- a full recipe


FULL = """\
name = "numpy-edge"
python-version = "3.12"
platforms = ["linux_x86_64", "win_amd64", "win32"]

[package]
project = "NumPy"
version = ">=2,<3"

[shrink]
prune = ["numpy/random/_examples/", "*.csv"]
keep = ["numpy/f2py/__init__.py"]
select = ["SW001", "docs", "bytecode"]
ignore = ["SW006"]
strip = "debug"
stubs = false
compress-level = 12
max-size = "14.3 MB"

[check]
scripts = ["checks/linalg.py", "/abs/elsewhere/fft.py"]
commands = ["python checks/linalg.py --quick", "pytest -q missing/dir"]
requirements = ["onnx==1.16.2", "pillow"]
wheels = ["../wheels/helper-1.0-py3-none-any.whl"]
same-output = true
lock = "locks/numpy.lock"
"""


def test_every_key_is_read(recipe_file: Path) -> None:
    write(recipe_file, FULL)
    write(recipe_file.parent / "checks" / "linalg.py", "import numpy\n")
    recipe = load_recipe(recipe_file)
    assert (recipe.name, recipe.path, recipe.platforms, recipe.python_version) == (
        "numpy-edge",
        recipe_file,
        ("linux_x86_64", "win_amd64", "win32"),
        "3.12",
    )
    here = recipe_file.parent
    expected = PlatformRecipe(
        recipe="numpy-edge",
        source_file=recipe_file,
        platform="win32",
        python_version="3.12",
        package=ProjectSpec("NumPy", "<3,>=2"),
        prune=("numpy/random/_examples/", "*.csv"),
        keep=("numpy/f2py/__init__.py",),
        select=("SW001", "docs", "bytecode"),
        ignore=("SW006",),
        strip=StripLevel.DEBUG,
        stubs=False,
        compress_level=12,
        max_size=14_300_000,
        check_scripts=(here / "checks" / "linalg.py", Path("/abs/elsewhere/fft.py")),
        check_commands=(f"python {here / 'checks' / 'linalg.py'} --quick", "pytest -q missing/dir"),
        requirements=("onnx==1.16.2", "pillow"),
        with_wheels=(here.parent / "wheels" / "helper-1.0-py3-none-any.whl",),
        same_output=True,
        lock=here / "locks" / "numpy.lock",
    )
    # load_recipe validated all platforms without requiring files; for_platform checks them
    with pytest.raises(RecipeError, match=r"demo.toml:20: check.scripts\[1\]: /abs/elsewhere/fft.py does not exist"):
        recipe.for_platform("win32")
    write(recipe_file.parent / "fft.py", "")
    write(here.parent / "wheels" / "helper-1.0-py3-none-any.whl", b"PK")
    text = FULL.replace('"/abs/elsewhere/fft.py"', f'"{recipe_file.parent / "fft.py"}"')
    write(recipe_file, text)
    resolved = load_recipe(recipe_file).for_platform("win32")
    assert resolved == PlatformRecipe(
        **{**expected.__dict__, "check_scripts": (here / "checks" / "linalg.py", here / "fft.py")}
    )
    assert resolved.has_check
    assert resolved.rules == select_rules("SW001,docs,bytecode,-SW006")
    assert [r.name for r in resolved.rules] == ["tests", "bytecode"]
    assert resolved.patterns.pruned_by("data/table.csv") == "*.csv"


def test_defaults(recipe_file: Path) -> None:
    write(recipe_file, MINIMAL)
    recipe = load_recipe(recipe_file)
    assert (recipe.name, recipe.platforms, recipe.python_version) == ("demo", ("linux_x86_64",), HOST_PYTHON)
    assert recipe.for_platform("linux_x86_64") == PlatformRecipe(
        recipe="demo",
        source_file=recipe_file,
        platform="linux_x86_64",
        python_version=HOST_PYTHON,
        package=ProjectSpec("six", ""),
        prune=(),
        keep=(),
        select=(),
        ignore=(),
        strip=StripLevel.UNNEEDED,
        stubs=True,
        compress_level=9,
        max_size=None,
        check_scripts=(),
        check_commands=(),
        requirements=(),
        with_wheels=(),
        same_output=False,
        lock=None,
    )
    resolved = recipe.for_platform("linux_x86_64")
    assert resolved.rules == select_rules(None)  # empty select = the default set
    assert not resolved.has_check


def test_glibc_caps_the_linux_wheels_chosen(recipe_file: Path) -> None:
    """``glibc`` (top level or per platform) is the target's newest C library: pip may choose manylinux wheels up to
    it, never newer; without it a Linux platform stops at manylinux_2_28."""
    write(
        recipe_file,
        'platforms = ["linux_x86_64", "linux_aarch64"]\n[package]\nproject = "six"\n'
        '[platform.linux_aarch64]\nglibc = "2.34"\n',
    )
    recipe = load_recipe(recipe_file)
    x86, arm = recipe.for_platform("linux_x86_64"), recipe.for_platform("linux_aarch64")
    assert x86.glibc is None and arm.glibc == (2, 34)
    assert pip_platforms("linux_x86_64", x86.glibc)[0] == "manylinux_2_28_x86_64"
    arm_platforms = pip_platforms("linux_aarch64", arm.glibc)
    assert arm_platforms[:2] == ("manylinux_2_34_aarch64", "manylinux_2_33_aarch64")
    assert "manylinux_2_35_aarch64" not in arm_platforms and "manylinux2014_aarch64" in arm_platforms
    assert arm_platforms[-1] == "linux_aarch64"
    tflite = "tflite_runtime-2.14.0-cp311-cp311-manylinux_2_34_aarch64.whl"
    assert wheel_fits(Path(tflite), "linux_aarch64", "3.11", (2, 34))
    assert not wheel_fits(Path(tflite), "linux_aarch64", "3.11")  # manylinux_2_28 by default
    assert not wheel_fits(Path(tflite), "linux_aarch64", "3.11", (2, 31))


def test_python_version_argument_wins(recipe_file: Path) -> None:
    write(recipe_file, 'python-version = "3.10"\n' + MINIMAL + '[platform.win32]\npython-version = "3.12"\n')
    recipe = load_recipe(recipe_file)
    assert recipe.for_platform("linux_x86_64").python_version == "3.10"
    assert recipe.for_platform("win32").python_version == "3.12"  # a known platform not in `platforms` is fine
    assert recipe.for_platform("win32", "3.13").python_version == "3.13"
    with pytest.raises(RecipeError, match=r"^python version '3\.13\.1' is not MAJOR\.MINOR of a Python 3"):
        recipe.for_platform("win32", "3.13.1")
    with pytest.raises(RecipeError) as info:
        recipe.for_platform("win64")
    assert info.value.message == (
        f"{recipe_file}: unknown platform 'win64'; did you mean 'win_amd64'? (known platforms: {KNOWN_PLATFORMS})"
    )


# --------------------------------------------------------------------------------------------------- overrides


def test_platform_overrides(recipe_file: Path) -> None:
    write(
        recipe_file,
        """\
platforms = ["linux_x86_64", "win_amd64", "win32", "linux_aarch64"]

[package]
project = "numpy"
version = "==2.4.6"

[shrink]
prune = ["a/", "b/"]
max-size = "14.3 MB"
strip = "unneeded"

[check]
requirements = ["onnx"]

[platform.win_amd64]
shrink = { max-size = "12 MB", prune = ["c/"] }
check.same-output = true

[platform.win32.package]
version = "==1.26.4"

[platform.win32.shrink]
strip = "none"

[platform.linux_aarch64.package]
wheel = "wheels/numpy-2.4.6-cp311-cp311-manylinux_2_28_aarch64.whl"
""",
    )
    recipe = load_recipe(recipe_file)
    linux = recipe.for_platform("linux_x86_64")
    win64 = recipe.for_platform("win_amd64")
    win32 = recipe.for_platform("win32")
    assert (linux.max_size, linux.prune, linux.strip, linux.same_output) == (
        14_300_000,
        ("a/", "b/"),
        StripLevel.UNNEEDED,
        False,
    )
    assert (win64.max_size, win64.prune, win64.strip, win64.same_output) == (12_000_000, ("c/",), "unneeded", True)
    assert win64.requirements == ("onnx",)
    assert win64.package == ProjectSpec("numpy", "==2.4.6")
    assert win32.package == ProjectSpec("numpy", "==1.26.4")  # merged: project from the recipe
    assert (win32.strip, win32.max_size) == (StripLevel.NONE, 14_300_000)
    # another kind of package replaces the recipe's (its version does not leak into the wheel)
    wheel = recipe_file.parent / "wheels" / "numpy-2.4.6-cp311-cp311-manylinux_2_28_aarch64.whl"
    assert recipe._resolve("linux_aarch64", None, check_files=False).package == LocalWheel(wheel)
    with pytest.raises(RecipeError) as info:
        recipe.for_platform("linux_aarch64")
    assert info.value.message == f"{recipe_file}:26: platform.linux_aarch64.package.wheel: {wheel} does not exist"
    write(wheel, b"PK")
    assert recipe.for_platform("linux_aarch64").package == LocalWheel(wheel)


def test_source_build_and_its_overrides(recipe_file: Path) -> None:
    write(
        recipe_file,
        """\
platforms = ["linux_x86_64", "linux_aarch64"]

[package.source]
requirement = "numpy==1.26.4"
env = { CFLAGS = "-g0 -Os", LDFLAGS = "-Wl,--strip-all" }

[package.source.config-settings]
setup-args = ["-Dallow-noblas=true", "-Dblas=none"]
"compile-args" = "-j4"

[platform.linux_aarch64.package.source]
env = { CFLAGS = "-O2" }
""",
    )
    recipe = load_recipe(recipe_file)
    x86 = recipe.for_platform("linux_x86_64").package
    arm = recipe.for_platform("linux_aarch64").package
    assert x86 == SourceBuild(
        requirement="numpy==1.26.4",
        sdist=None,
        env={"CFLAGS": "-g0 -Os", "LDFLAGS": "-Wl,--strip-all"},
        config_settings={"setup-args": ("-Dallow-noblas=true", "-Dblas=none"), "compile-args": "-j4"},
    )
    assert isinstance(arm, SourceBuild)
    assert (arm.requirement, dict(arm.env), dict(arm.config_settings)) == (
        "numpy==1.26.4",
        {"CFLAGS": "-O2"},  # a table is replaced as a whole
        dict(x86.config_settings),
    )

    write(recipe_file, 'platforms = ["linux_x86_64"]\n[package.source]\nsdist = "../dist/tiny-0.1.tar.gz"\n')
    recipe = load_recipe(recipe_file)
    sdist = recipe_file.parent.parent / "dist" / "tiny-0.1.tar.gz"
    with pytest.raises(RecipeError) as info:
        recipe.for_platform("linux_x86_64")
    assert info.value.message == f"{recipe_file}:3: package.source.sdist: {sdist} does not exist"
    write(sdist, b"")
    assert recipe.for_platform("linux_x86_64").package == SourceBuild(None, sdist)


# ------------------------------------------------------------------------------------------- project defaults


PYPROJECT = """\
[project]
name = "firmware"

[tool.slimwheel.shrink]
select = ["default", "bytecode"]
compress-level = 12
max-size = "20 MB"
prune = ["x/"]

[tool.slimwheel.check]
scripts = ["checks/common.py"]
requirements = ["onnx"]
"""


def test_project_defaults_precedence(tmp_path: Path, recipe_file: Path) -> None:
    pyproject = write(tmp_path / "proj" / "pyproject.toml", PYPROJECT)
    write(
        recipe_file,
        MINIMAL
        + '[shrink]\nmax-size = "15 MB"\nprune = []\n[platform.win32]\nshrink = { max-size = "10 MB" }\n'
        + 'check = { requirements = ["onnx", "pillow"] }\n',
    )
    recipe = load_recipe(recipe_file, project_defaults=pyproject)
    linux = recipe._resolve("linux_x86_64", None, check_files=False)
    win32 = recipe._resolve("win32", None, check_files=False)
    common = tmp_path / "proj" / "checks" / "common.py"  # relative to the pyproject.toml, not the recipe
    assert (linux.select, linux.compress_level, linux.max_size, linux.prune) == (
        ("default", "bytecode"),
        12,
        15_000_000,
        (),
    )
    assert (linux.check_scripts, linux.requirements) == ((common,), ("onnx",))
    assert (win32.max_size, win32.compress_level, win32.requirements) == (10_000_000, 12, ("onnx", "pillow"))
    assert load_recipe(recipe_file).for_platform("linux_x86_64").compress_level == 9  # no defaults unless given
    with pytest.raises(RecipeError) as info:
        recipe.for_platform("linux_x86_64")
    assert info.value.message == f"{pyproject}:11: tool.slimwheel.check.scripts[0]: {common} does not exist"


def test_pyproject_without_the_table_gives_no_defaults(tmp_path: Path, recipe_file: Path) -> None:
    pyproject = write(tmp_path / "pyproject.toml", '[project]\nname = "x"\n')
    write(recipe_file, MINIMAL)
    assert load_recipe(recipe_file, project_defaults=pyproject).for_platform("linux_x86_64").compress_level == 9


def test_find_project_defaults(tmp_path: Path) -> None:
    top = write(tmp_path / "pyproject.toml", "[tool.slimwheel.shrink]\nstubs = false\n")
    inner = write(tmp_path / "a" / "pyproject.toml", '[project]\nname = "a"\n')  # no [tool.slimwheel]: skipped
    deep = tmp_path / "a" / "b" / "c"
    deep.mkdir(parents=True)
    assert find_project_defaults(deep) == top
    assert find_project_defaults(inner) == top  # a file: its directory
    write(tmp_path / "a" / "b" / "pyproject.toml", "[tool.slimwheel]\n")
    assert find_project_defaults(deep) == tmp_path / "a" / "b" / "pyproject.toml"
    lonely = tmp_path / "x"
    lonely.mkdir()
    found = find_project_defaults(lonely)
    assert found == top
    write(tmp_path / "x" / "pyproject.toml", "[tool.slimwheel\n")
    with pytest.raises(RecipeError, match=r"x/pyproject\.toml:1: invalid TOML: "):
        find_project_defaults(lonely)


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        (
            "[tool.slimwheel.shrink]\nstrip = 'fast'\n",
            2,
            "tool.slimwheel.shrink.strip: 'fast' is not one of none, debug, unneeded",
        ),
        (
            "[tool.slimwheel]\nshrnk = {}\n",
            2,
            "tool.slimwheel.shrnk: unknown key; did you mean 'shrink'? (known: shrink, check, inspect)",
        ),
        (
            "[tool.slimwheel]\nplatforms = ['win32']\n",
            2,
            "tool.slimwheel.platforms: unknown key (known: shrink, check, inspect)",
        ),
        (
            "[tool.slimwheel.check]\nlock = 'x.lock'\n",
            2,
            "tool.slimwheel.check.lock: a lock belongs to one recipe: set it in the recipe's [check] table",
        ),
        (
            "[project]\nname = 'x'\n\n[tool.slimwheel.shrink]\ncompress-level = 13\n",
            5,
            "tool.slimwheel.shrink.compress-level: compress level must be 0..12, not 13",
        ),
        ("[tool]\nslimwheel = 3\n", 2, "tool.slimwheel: expected a table, got an integer (3)"),
    ],
)
def test_project_default_errors(tmp_path: Path, recipe_file: Path, text: str, line: int, message: str) -> None:
    pyproject = write(tmp_path / "pyproject.toml", text)
    write(recipe_file, MINIMAL)
    with pytest.raises(RecipeError) as info:
        load_recipe(recipe_file, project_defaults=pyproject)
    assert info.value.message == f"{pyproject}:{line}: {message}"


# ------------------------------------------------------------------------------------------------------ paths


def test_relative_and_absolute_paths(tmp_path: Path, recipe_file: Path) -> None:
    absolute = write(tmp_path / "elsewhere" / "smoke.py", "")
    write(recipe_file.parent / "checks" / "smoke.py", "")
    write(
        recipe_file,
        f"""\
platforms = ["win32"]
[package]
wheel = "../wheels/six-1.17.0-py2.py3-none-any.whl"
[check]
scripts = ["checks/smoke.py", "{absolute}"]
commands = ["python checks/smoke.py --flag 'two words'", "python -m checks.smoke", "run {absolute}"]
lock = "/var/lib/locks/demo.lock"
""",
    )
    resolved = load_recipe(recipe_file)._resolve("win32", None, check_files=False)
    here = recipe_file.parent
    assert resolved.package == LocalWheel(here.parent / "wheels" / "six-1.17.0-py2.py3-none-any.whl")
    assert resolved.check_scripts == (here / "checks" / "smoke.py", absolute)
    assert resolved.check_commands == (
        f"python {here / 'checks' / 'smoke.py'} --flag 'two words'",  # a file relative to the recipe: absolute
        "python -m checks.smoke",  # not a file: untouched
        f"run {absolute}",
    )
    assert resolved.lock == Path("/var/lib/locks/demo.lock")


def test_paths_are_relative_to_the_recipe_not_the_working_directory(
    tmp_path: Path, recipe_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(recipe_file, MINIMAL + '[check]\nlock = "demo.lock"\n')
    monkeypatch.chdir(tmp_path)
    relative = recipe_file.relative_to(tmp_path)
    recipe = load_recipe(relative)
    assert recipe.path == relative  # as given: messages name it the way the user did
    assert recipe.for_platform("linux_x86_64").lock == recipe_file.parent / "demo.lock"


# ------------------------------------------------------------------------------------------------------ errors

ERRORS: list[tuple[str, str, int | None, str]] = [
    # (id, recipe text, line or None, message after "FILE:LINE: ")
    ("toml-syntax", MINIMAL.replace('"six"', "six"), 4, "invalid TOML: invalid value (column 11)"),
    ("toml-end", 'platforms = ["linux_x86_64"\n', 1, "invalid TOML: unclosed array (at the end of the file)"),
    (
        "toml-platforms-table",
        'platforms = ["win32"]\n[package]\nproject = "six"\n[platforms.win32]\nshrink = {}\n',
        4,
        "invalid TOML: cannot declare ('platforms', 'win32') twice (column 17); per-platform overrides go in "
        "[platform.NAME] tables, platforms is the list of platforms to build",
    ),
    (
        "unknown-top-key",
        "shrnk = {}\n" + MINIMAL,
        1,
        "shrnk: unknown key; did you mean 'shrink'? (known: name, python-version, glibc, platforms, package, "
        "shrink, check, platform)",
    ),
    (
        "unknown-shrink-key",
        MINIMAL + '[shrink]\nstirp = "all"\n',
        6,
        f"shrink.stirp: unknown key; did you mean 'strip'? (known: {SHRINK_KEYS})",
    ),
    (
        "unknown-check-key",
        MINIMAL + '[check]\nscript = ["a.py"]\n',
        6,
        f"check.script: unknown key; did you mean 'scripts'? (known: {CHECK_KEYS})",
    ),
    (
        "unknown-package-key",
        MINIMAL + 'versoin = "==1"\n',
        5,
        "package.versoin: unknown key; did you mean 'version'? (known: project, version, wheel, requirements, source)",
    ),
    (
        "unknown-source-key",
        'platforms = ["win32"]\n[package.source]\nrequirement = "six"\nenviron = {}\n',
        4,
        "package.source.environ: unknown key; did you mean 'env'? (known: requirement, sdist, cross-file, env, "
        "config-settings)",
    ),
    (
        "unknown-platform-section",
        MINIMAL + '[platform.win_64.shrink]\nstrip = "none"\n',
        5,
        f"platform.win_64: unknown platform; did you mean 'win_amd64'? (known: {KNOWN_PLATFORMS})",
    ),
    (
        "unknown-platform-key",
        MINIMAL + '[platform.win32]\nname = "x"\n',
        6,
        "platform.win32.name: unknown key (known: python-version, glibc, package, shrink, check)",
    ),
    ("name-type", "name = 3\n" + MINIMAL, 1, "name: expected a string, got an integer (3)"),
    ("name-empty", 'name = " "\n' + MINIMAL, 1, "name: must not be empty"),
    (
        "name-chars",
        'name = "my recipe"\n' + MINIMAL,
        1,
        "name: 'my recipe' must be letters, digits, '.', '_' or '-' (it names output files)",
    ),
    (
        "glibc-float",
        "glibc = 2.34\n" + MINIMAL,
        1,
        'glibc: expected a string, got a float (2.34); quote it: glibc = "2.34"',
    ),
    (
        "glibc-form",
        'glibc = "2.5"\n' + MINIMAL,
        1,
        "glibc: glibc '2.5' is not a glibc version a wheel can target, like '2.34' (2.17 or newer)",
    ),
    (
        "glibc-not-linux",
        'platforms = ["linux_x86_64", "win32"]\n[package]\nproject = "six"\n[platform.win32]\nglibc = "2.34"\n',
        5,
        "platform.win32.glibc: glibc 2.34 can't apply to win32: only to Linux platforms, as 2.N",
    ),
    (
        "python-version-float",
        "python-version = 3.10\n" + MINIMAL,
        1,
        'python-version: expected a string, got a float (3.1); quote it: python-version = "3.11"',
    ),
    (
        "python-version-form",
        'python-version = "3.11.2"\n' + MINIMAL,
        1,
        "python-version: '3.11.2' is not MAJOR.MINOR of a Python 3, like '3.11'",
    ),
    (
        "python-version-2",
        'python-version = "2.7"\n' + MINIMAL,
        1,
        "python-version: '2.7' is not MAJOR.MINOR of a Python 3, like '3.11'",
    ),
    (
        "platforms-missing",
        '[package]\nproject = "six"\n',
        None,
        'platforms: missing; list the platforms to build, e.g. platforms = ["linux_x86_64"]',
    ),
    (
        "platforms-table",
        '[package]\nproject = "six"\n[platforms.win32]\nshrink = {}\n',
        3,
        "platforms: expected an array of platform names, got a table; per-platform overrides go in "
        "[platform.NAME] tables",
    ),
    (
        "platforms-string",
        'platforms = "win32"\n[package]\nproject = "six"\n',
        1,
        'platforms: expected an array of strings, got a string ("win32"); write ["win32"]',
    ),
    (
        "platforms-empty",
        'platforms = []\n[package]\nproject = "six"\n',
        1,
        "platforms: must list at least one platform",
    ),
    (
        "platforms-unknown",
        'platforms = [\n  "win32",\n  "manylinux_x86_64",\n]\n[package]\nproject = "six"\n',
        3,
        f"platforms[1]: unknown platform 'manylinux_x86_64'; did you mean 'linux_x86_64'? (known platforms: "
        f"{KNOWN_PLATFORMS})",
    ),
    (
        "platforms-twice",
        'platforms = ["win32", "win32"]\n[package]\nproject = "six"\n',
        1,
        "platforms[1]: 'win32' is listed twice",
    ),
    (
        "platforms-not-strings",
        'platforms = [32]\n[package]\nproject = "six"\n',
        1,
        "platforms[0]: expected a string, got an integer (32)",
    ),
    (
        "platform-not-table",
        'platform = ["win32"]\n' + MINIMAL,
        1,
        "platform: expected [platform.NAME] tables of overrides, got an array; the platforms to build are listed "
        "in platforms = [...]",
    ),
    (
        "package-missing",
        'platforms = ["win32"]\n',
        None,
        "package: missing; add a [package] table and set one of project, wheel, requirements or a [package.source] "
        "table",
    ),
    (
        "package-empty",
        'platforms = ["win32"]\n\n[package]\n',
        3,
        "package: set one of project, wheel, requirements or a [package.source] table",
    ),
    (
        "package-not-table",
        'platforms = ["win32"]\npackage = "six"\n',
        2,
        'package: expected a table, got a string ("six")',
    ),
    (
        "package-two-kinds",
        MINIMAL + 'wheel = "six-1.17.0-py2.py3-none-any.whl"\n',
        5,
        "package.wheel: can't be combined with project; use exactly one of project, wheel, requirements, source",
    ),
    (
        "package-project-and-source",
        MINIMAL + "[package.source]\nrequirement = 'six'\n",
        5,
        "package.source: can't be combined with project; use exactly one of project, wheel, requirements, source",
    ),
    (
        "project-name",
        'platforms = ["win32"]\n[package]\nproject = "six six"\n',
        3,
        "package.project: 'six six' is not a valid project name",
    ),
    (
        "project-type",
        'platforms = ["win32"]\n[package]\nproject = ["six"]\n',
        3,
        "package.project: expected a string, got an array",
    ),
    (
        "version-bare",
        MINIMAL + 'version = "2.4.6"\n',
        5,
        "package.version: '2.4.6' is not a PEP 440 version "
        "specifier such as '==2.4.6' or '>=2,<3'; did you mean '==2.4.6'?",
    ),
    (
        "version-garbage",
        MINIMAL + 'version = "latest"\n',
        5,
        "package.version: 'latest' is not a PEP 440 version specifier such as '==2.4.6' or '>=2,<3'",
    ),
    (
        "version-with-wheel",
        'platforms = ["win32"]\n[package]\nwheel = "six-1.17.0-py2.py3-none-any.whl"\nversion = "==1"\n',
        4,
        "package.version: applies only to project, not to wheel",
    ),
    (
        "version-override-on-wheel",
        'platforms = ["win32"]\n[package]\nwheel = "six-1.17.0-py2.py3-none-any.whl"\n'
        '[platform.win32.package]\nversion = "==1"\n',
        5,
        "platform.win32.package.version: applies only to project, not to wheel",
    ),
    (
        "wheel-name",
        'platforms = ["win32"]\n[package]\nwheel = "six.zip"\n',
        3,
        "package.wheel: 'six.zip' is not a wheel file name (NAME-VERSION-PYTHON-ABI-PLATFORM.whl)",
    ),
    (
        "source-both",
        'platforms = ["win32"]\n[package.source]\nrequirement = "six"\nsdist = "six-1.0.tar.gz"\n',
        4,
        "package.source.sdist: can't be combined with requirement; use one of them",
    ),
    (
        "source-both-via-override",
        'platforms = ["win32"]\n[package.source]\nrequirement = "six"\n'
        '[platform.win32.package.source]\nsdist = "six-1.0.tar.gz"\n',
        5,
        "platform.win32.package.source.sdist: can't be combined with requirement; use one of them",
    ),
    (
        "source-neither",
        'platforms = ["win32"]\n[package.source]\nenv = { CFLAGS = "-O2" }\n',
        2,
        "package.source: set requirement or sdist",
    ),
    (
        "source-requirement",
        'platforms = ["win32"]\n[package.source]\nrequirement = "six >>= 1"\n',
        3,
        "package.source.requirement: 'six >>= 1' is not a valid requirement: Expected semicolon (after name with "
        "no version specifier) or end",
    ),
    (
        "source-env-value",
        'platforms = ["win32"]\n[package.source]\nrequirement = "six"\nenv = { CFLAGS = 2 }\n',
        4,
        "package.source.env.CFLAGS: expected a string, got an integer (2)",
    ),
    (
        "source-env-type",
        'platforms = ["win32"]\n[package.source]\nrequirement = "six"\nenv = ["CFLAGS=-O2"]\n',
        4,
        "package.source.env: expected a table, got an array",
    ),
    (
        "source-env-name",
        'platforms = ["win32"]\n[package.source]\nrequirement = "six"\nenv = { "A=B" = "1" }\n',
        4,
        'package.source.env."A=B": not a valid environment variable name',
    ),
    (
        "config-settings-item",
        'platforms = ["win32"]\n[package.source]\nrequirement = "six"\n'
        '[package.source.config-settings]\nsetup-args = [\n  "-Dblas=none",\n  3,\n]\n',
        7,
        "package.source.config-settings.setup-args[1]: expected a string, got an integer (3)",
    ),
    (
        "config-settings-value",
        'platforms = ["win32"]\n[package.source]\nrequirement = "six"\nconfig-settings = { jobs = 4 }\n',
        4,
        "package.source.config-settings.jobs: expected a string or an array of strings, got an integer (4)",
    ),
    (
        "prune-string",
        MINIMAL + '[shrink]\nprune = "docs/**"\n',
        6,
        'shrink.prune: expected an array of strings, got a string ("docs/**"); write ["docs/**"]',
    ),
    (
        "prune-item",
        MINIMAL + '[shrink]\nprune = ["a/", true]\n',
        6,
        "shrink.prune[1]: expected a string, got a boolean (true)",
    ),
    ("keep-empty", MINIMAL + '[shrink]\nkeep = [""]\n', 6, "shrink.keep[0]: must not be empty"),
    (
        "select-unknown",
        MINIMAL + '[shrink]\nselect = ["default", "tets"]\n',
        6,
        "shrink.select[1]: unknown rule "
        f"'tets'; did you mean 'tests'? (known: default, all, none, {RULE_CODES}, {RULE_NAMES})",
    ),
    (
        "select-minus",
        MINIMAL + '[shrink]\nselect = ["-docs"]\n',
        6,
        "shrink.select[0]: unknown rule '-docs'; to "
        f"drop a rule, list 'docs' in ignore (known: default, all, none, {RULE_CODES}, {RULE_NAMES})",
    ),
    (
        "select-comma",
        MINIMAL + '[shrink]\nselect = ["tests,docs"]\n',
        6,
        'shrink.select[0]: one rule per item: write ["tests", "docs"]',
    ),
    (
        "ignore-group",
        MINIMAL + '[shrink]\nignore = [\n  "docs",\n  "default",\n]\n',
        8,
        f"shrink.ignore[1]: unknown rule 'default' (known: {RULE_CODES}, {RULE_NAMES})",
    ),
    ("strip", MINIMAL + '[shrink]\nstrip = "fast"\n', 6, "shrink.strip: 'fast' is not one of none, debug, unneeded"),
    (
        "strip-close",
        MINIMAL + '[shrink]\nstrip = "unneded"\n',
        6,
        "shrink.strip: 'unneded' is not one of none, debug, unneeded; did you mean 'unneeded'?",
    ),
    ("strip-type", MINIMAL + "[shrink]\nstrip = false\n", 6, "shrink.strip: expected a string, got a boolean (false)"),
    ("stubs", MINIMAL + '[shrink]\nstubs = "yes"\n', 6, 'shrink.stubs: expected true or false, got a string ("yes")'),
    (
        "compress-level",
        MINIMAL + "[shrink]\ncompress-level = 13\n",
        6,
        "shrink.compress-level: compress level must be 0..12, not 13",
    ),
    (
        "compress-level-type",
        MINIMAL + '[shrink]\ncompress-level = "9"\n',
        6,
        'shrink.compress-level: expected a whole number 0..12, got a string ("9")',
    ),
    (
        "compress-level-bool",
        MINIMAL + "[shrink]\ncompress-level = true\n",
        6,
        "shrink.compress-level: expected a whole number 0..12, got a boolean (true)",
    ),
    (
        "max-size-unit",
        MINIMAL + '[shrink]\nmax-size = "14.3 XB"\n',
        6,
        "shrink.max-size: can't read size '14.3 XB': use a number with an optional unit (B, kB, MB, GB, KiB, MiB, GiB)",
    ),
    ("max-size-negative", MINIMAL + "[shrink]\nmax-size = -1\n", 6, "shrink.max-size: a size can't be negative (-1)"),
    (
        "max-size-type",
        MINIMAL + "[shrink]\nmax-size = 1.5\n",
        6,
        'shrink.max-size: expected a size such as "14.3 MB" or a number of bytes, got a float (1.5)',
    ),
    (
        "key-after-a-table-belongs-to-it",
        MINIMAL + 'shrink = "small"\n',
        5,
        "package.shrink: unknown key (known: project, version, wheel, requirements, source)",
    ),
    ("shrink-type", 'shrink = "small"\n' + MINIMAL, 1, 'shrink: expected a table, got a string ("small")'),
    (
        "scripts-type",
        MINIMAL + '[check]\nscripts = "smoke.py"\n',
        6,
        'check.scripts: expected an array of strings, got a string ("smoke.py"); write ["smoke.py"]',
    ),
    (
        "commands-quote",
        MINIMAL + '[check]\ncommands = ["python -c \'print(1)"]\n',
        6,
        "check.commands[0]: can't parse the check command \"python -c 'print(1)\": No closing quotation",
    ),
    ("commands-empty", MINIMAL + '[check]\ncommands = [" "]\n', 6, "check.commands[0]: must not be empty"),
    (
        "requirements-item",
        MINIMAL + "[check]\nrequirements = [{ name = 'onnx' }]\n",
        6,
        "check.requirements[0]: expected a string, got a table",
    ),
    ("wheels-item", MINIMAL + "[check]\nwheels = [1]\n", 6, "check.wheels[0]: expected a string, got an integer (1)"),
    (
        "same-output",
        MINIMAL + "[check]\nsame-output = 1\n",
        6,
        "check.same-output: expected true or false, got an integer (1)",
    ),
    ("lock-type", MINIMAL + "[check]\nlock = true\n", 6, "check.lock: expected a string, got a boolean (true)"),
    # where the line comes from: dotted keys, inline tables, multi-line values, strings that look like keys
    ("dotted-key", 'shrink.strip = "fast"\n' + MINIMAL, 1, "shrink.strip: 'fast' is not one of none, debug, unneeded"),
    (
        "inline-table",
        MINIMAL + '[platform.win32]\nshrink = { max-size = "12 MB", strp = "none" }\n',
        6,
        f"platform.win32.shrink.strp: unknown key; did you mean 'strip'? (known: {SHRINK_KEYS})",
    ),
    (
        "dotted-in-platform",
        MINIMAL + '[platform.win32]\npython-version = "3.12"\nshrink.strip = "fast"\n',
        7,
        "platform.win32.shrink.strip: 'fast' is not one of none, debug, unneeded",
    ),
    (
        "after-multiline-strings",
        'platforms = ["linux_x86_64"]\n[package.source]\nrequirement = "six"\n'
        '[package.source.env]\nNOTES = """\n[shrink]\nstrip = "fast"\n"""\nLIT = \'\'\'\nstrip = 1\n\'\'\'\n'
        '"QUOTED.KEY" = "x" # strip = 2\n[shrink]\n# strip = "x"\nstrip = "fast"\n',
        15,
        "shrink.strip: 'fast' is not one of none, debug, unneeded",
    ),
    (
        "quoted-dotted-key",
        'platforms = ["linux_x86_64"]\n[package.source]\nrequirement = "six"\n'
        '[package.source.env]\n"A.B" = "1"\n"C" = 2\n',
        6,
        "package.source.env.C: expected a string, got an integer (2)",
    ),
]


@pytest.mark.parametrize(("text", "line", "message"), [c[1:] for c in ERRORS], ids=[c[0] for c in ERRORS])
def test_error_messages(recipe_file: Path, text: str, line: int | None, message: str) -> None:
    write(recipe_file, text)
    with pytest.raises(RecipeError) as info:
        load_recipe(recipe_file)
    where = f"{recipe_file}:{line}" if line is not None else str(recipe_file)
    assert info.value.message == f"{where}: {message}"
    assert "\n" not in str(info.value)
    assert isinstance(info.value, UsageError)
    assert info.value.exit_code == ExitCode.BAD_INPUT


def test_file_errors(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(RecipeError) as info:
        load_recipe(missing)
    assert info.value.message == f"{missing}: can't read: No such file or directory"
    latin = write(tmp_path / "latin.toml", b'platforms = ["win32"]\nname = "caf\xe9"\n')
    with pytest.raises(RecipeError) as info:
        load_recipe(latin)
    assert info.value.message == f"{latin}:2: not UTF-8 text (TOML files must be UTF-8)"
    with pytest.raises(RecipeError) as info:
        load_recipe(tmp_path)
    assert info.value.message.startswith(f"{tmp_path}: can't read: ")


def test_for_platform_file_errors(recipe_file: Path) -> None:
    write(
        recipe_file,
        MINIMAL + '[check]\nscripts = ["checks"]\nwheels = [\n  "w/a-1-py3-none-any.whl",\n]\n',
    )
    (recipe_file.parent / "checks").mkdir()
    recipe = load_recipe(recipe_file)
    with pytest.raises(RecipeError) as info:
        recipe.for_platform("linux_x86_64")
    assert info.value.message == f"{recipe_file}:6: check.scripts[0]: {recipe_file.parent / 'checks'} is not a file"
    write(recipe_file, MINIMAL + '[check]\nwheels = [\n  "w/a-1-py3-none-any.whl",\n]\n')
    with pytest.raises(RecipeError) as info:
        load_recipe(recipe_file).for_platform("linux_x86_64")
    wheel = recipe_file.parent / "w" / "a-1-py3-none-any.whl"
    assert info.value.message == f"{recipe_file}:7: check.wheels[0]: {wheel} does not exist"


# -------------------------------------------------------------------------------------------------- platforms


def test_platform_table() -> None:
    assert list(PLATFORMS) == ["linux_x86_64", "linux_aarch64", "win_amd64", "win32", "macosx_arm64"]
    linux = platform_info("linux_x86_64").pip_platforms
    assert linux[0] == "manylinux_2_28_x86_64" and linux[-1] == "linux_x86_64"
    assert {"manylinux_2_17_x86_64", "manylinux2014_x86_64", "manylinux_2_5_x86_64", "manylinux1_x86_64"} <= set(linux)
    assert [t for t in linux if t.startswith("manylinux_2_")] == [f"manylinux_2_{m}_x86_64" for m in range(28, 4, -1)]
    arm = platform_info("linux_aarch64").pip_platforms
    assert arm[-3:] == ("manylinux_2_17_aarch64", "manylinux2014_aarch64", "linux_aarch64")
    assert platform_info("win32").pip_platforms == ("win32",)
    with pytest.raises(RecipeError) as info:
        platform_info("windows")
    assert info.value.message == f"unknown platform 'windows' (known platforms: {KNOWN_PLATFORMS})"
    assert parse_python_version("3.11") == (3, 11)
    assert parse_python_version("3.9") == (3, 9)
    for bad in ("3", "3.11.1", "311", "3.011", " 3.11", "4.0"):
        with pytest.raises(RecipeError):
            parse_python_version(bad)


# ------------------------------------------------------------------------------------ the documented examples


def _documented(kind: str) -> list[tuple[str, str]]:
    """(marker argument, TOML text) of every ```toml block in docs/recipes.md preceded by ``<!-- KIND ... -->``."""
    text = DOCS.read_text(encoding="utf-8")
    return re.findall(rf"<!-- {kind}:? ?(\S*) -->\n```toml\n(.*?)```", text, re.DOTALL)


def test_the_documented_recipes_load(tmp_path: Path) -> None:
    examples = _documented("recipe")
    assert [name for name, _ in examples] == [
        "recipes/numpy.toml",
        "recipes/numpy-source.toml",
        "recipes/onnxruntime-set.toml",
        "recipes/mydriver.toml",
    ]
    pyproject = write(tmp_path / "pyproject.toml", _documented("pyproject")[0][1])
    assert find_project_defaults(tmp_path / "recipes") == pyproject
    recipes: dict[str, Recipe] = {}
    for name, text in examples:
        recipes[name] = load_recipe(write(tmp_path / name, text), project_defaults=pyproject)

    numpy = recipes["recipes/numpy.toml"]
    assert (numpy.name, numpy.platforms) == ("numpy", ("linux_x86_64", "win_amd64", "win32"))
    for needed in ("checks/numpy_linalg.py", "checks/numpy_fft.py", "wheels/helper-1.0-py3-none-any.whl"):
        write(tmp_path / "recipes" / needed, "")
    linux, win64, win32 = (numpy.for_platform(p) for p in numpy.platforms)
    assert linux.package == win64.package == ProjectSpec("numpy", "==2.4.6")
    assert win32.package == ProjectSpec("numpy", "==1.26.4")
    assert (linux.max_size, win64.max_size, win32.max_size) == (14_300_000, 12_000_000, 10_000_000)
    assert (linux.strip, win32.strip) == (StripLevel.UNNEEDED, StripLevel.DEBUG)
    assert [r.name for r in linux.rules] == [
        "tests", "stubs", "headers", "static-libs", "sources", "debug-files", "build-config", "bytecode",
    ]  # fmt: skip
    assert linux.check_commands == (f"python {tmp_path / 'recipes' / 'checks' / 'numpy_fft.py'} --quick",)
    assert linux.lock == tmp_path / "recipes" / "locks" / "numpy-2.4.6.lock"

    source = recipes["recipes/numpy-source.toml"].for_platform("linux_aarch64")
    assert source.package == SourceBuild(
        "numpy==1.26.4",
        None,
        {"CFLAGS": "-g0 -Os", "LDFLAGS": "-Wl,--strip-all"},
        {"setup-args": ("-Dallow-noblas=true", "-Dblas=none", "-Dlapack=none")},
    )
    assert (source.compress_level, source.requirements, source.max_size) == (12, ("onnx==1.16.2",), 8_000_000)

    driver = recipes["recipes/mydriver.toml"]
    wheels = tmp_path / "recipes" / "wheels"
    assert [driver._resolve(p, None, check_files=False).package for p in driver.platforms] == [
        LocalWheel(wheels / "mydriver-1.0-cp311-cp311-win_amd64.whl"),
        LocalWheel(wheels / "mydriver-1.0-cp311-cp311-win32.whl"),
    ]


def test_the_documented_pyproject_error(tmp_path: Path, recipe_file: Path) -> None:
    """docs/recipes.md quotes this message."""
    pyproject = write(tmp_path / "pyproject.toml", _documented("pyproject")[0][1].replace("= 12", "= 13"))
    write(recipe_file, MINIMAL)
    with pytest.raises(RecipeError) as info:
        load_recipe(recipe_file, project_defaults=pyproject)
    message = f"{pyproject}:4: tool.slimwheel.shrink.compress-level: compress level must be 0..12, not 13"
    assert info.value.message == message
    assert "pyproject.toml:4: tool.slimwheel.shrink.compress-level: compress level must be 0..12, not 13" in " ".join(
        DOCS.read_text(encoding="utf-8").split()
    )


def test_the_shipped_recipes_load() -> None:
    """Every recipe in the repository's recipes/ directory is valid (files it names may not exist here)."""
    for path in sorted((ROOT / "recipes").glob("*.toml")):
        recipe = load_recipe(path)
        for platform in recipe.platforms:
            assert recipe._resolve(platform, None, check_files=False).platform == platform
