"""Recipes: TOML files that say, per package, how to get a wheel and how to shrink it, per target platform.

A recipe (``recipes/numpy.toml``) names the package (a project on an index, a local wheel, a source build, or
requirements whose closure is a deploy set of wheels), the shrink options (the same as ``slimwheel shrink``'s), the
check that trial deletion runs, and per-platform overrides in ``[platform.NAME]`` tables. ``[tool.slimwheel]`` in a
``pyproject.toml`` gives project-wide defaults for the ``shrink`` and ``check`` keys. The schema is documented in
``docs/recipes.md``.

:func:`load_recipe` reads and validates a recipe (every platform it lists); :meth:`Recipe.for_platform` resolves
it for one platform into a :class:`PlatformRecipe`, everything a build needs. Every error is a
:class:`RecipeError` of one line that names the file, the line and the key:
``recipes/numpy.toml:14: shrink.strip: 'fast' is not one of none, debug, unneeded``.

What each key takes is :mod:`slimwheel.settings` (the schema, shared with ``[tool.slimwheel]``); this module is
the recipe model: the target platforms, what a recipe's tables are, and their layering (``[tool.slimwheel]``
defaults, then the recipe's own tables, then its ``[platform.NAME]`` table, key by key). It reads files and
checks that the ones a recipe names exist; it must not fetch, build or shrink anything (:mod:`slimwheel.fetch`,
:mod:`slimwheel.build`) nor know the command line.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from .binaries import StripLevel
from .errors import RecipeError as RecipeError  # part of this module's interface: load_recipe raises it
from .rules import Patterns, Rule, select_rules
from .settings import (
    CHECK,
    PACKAGE,
    SHRINK,
    SOURCE,
    Entry,
    Node,
    anchored_commands,
    entries,
    load_project_table,
    not_a_file,
    read_document,
    rules_spec,
)
from .tags import HOST_PYTHON as HOST_PYTHON
from .tags import PLATFORMS as PLATFORMS
from .tags import PYTHON_VERSION, parse_glibc, pip_platforms, unknown_platform
from .tags import parse_python_version as parse_python_version
from .tags import platform_info as platform_info
from .tomlfile import kind_and_value, toml_string

# ------------------------------------------------------------------------------------------------- the results


@dataclass(frozen=True)
class ProjectSpec:
    """Download ``project`` from the package index; ``specifier`` is a PEP 440 specifier, ``""`` for any version."""

    project: str
    specifier: str = ""


@dataclass(frozen=True)
class LocalWheel:
    path: Path


@dataclass(frozen=True)
class SourceBuild:
    """Build a wheel from source with ``pip wheel``: from a requirement on the index, or a local sdist/tree."""

    requirement: str | None
    sdist: Path | None
    env: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    config_settings: Mapping[str, str | tuple[str, ...]] = field(default_factory=lambda: MappingProxyType({}))
    cross_file: Path | None = None  # a Meson cross file: build for the recipe's platform on this machine


@dataclass(frozen=True)
class RequirementSet:
    """A deploy set: the wheels of ``requirements`` (pip requirement specifiers) and of everything they need, as pip
    resolves them for the platform; shrunk together, with one lock per distribution in the recipe's lock directory."""

    requirements: tuple[str, ...]


Package = ProjectSpec | LocalWheel | SourceBuild | RequirementSet


@dataclass(frozen=True)
class PlatformRecipe:
    """One recipe resolved for one platform: everything a build needs. Paths are absolute."""

    recipe: str
    source_file: Path
    platform: str
    python_version: str
    package: Package
    glibc: tuple[int, int] | None = None  # the newest C library of a Linux target; None: the platform's default
    prune: tuple[str, ...] = ()
    keep: tuple[str, ...] = ()
    select: tuple[str, ...] = ()  # rule codes/names and default/all/none; empty = the default set
    ignore: tuple[str, ...] = ()  # rule codes/names removed from the selection
    strip: StripLevel = StripLevel.UNNEEDED
    stubs: bool = True
    minify: bool = False
    bytecode_only: bool = False
    compress_level: int = 9
    max_size: int | None = None
    check_scripts: tuple[Path, ...] = ()
    check_commands: tuple[str, ...] = ()
    requirements: tuple[str, ...] = ()
    with_wheels: tuple[Path, ...] = ()
    same_output: bool = False
    lock: Path | None = None  # a file; for a RequirementSet, a directory of <project>.lock files

    @property
    def is_set(self) -> bool:
        """The recipe names requirements (a deploy set of wheels), not one package."""
        return isinstance(self.package, RequirementSet)

    @property
    def rules(self) -> tuple[Rule, ...]:
        """The rules ``select`` and ``ignore`` choose (what ``--rules`` would)."""
        return select_rules(rules_spec(self.select, self.ignore))

    @property
    def patterns(self) -> Patterns:
        return Patterns(self.prune, self.keep)

    @property
    def has_check(self) -> bool:
        return bool(self.check_scripts or self.check_commands)


_KINDS = ("project", "wheel", "requirements", "source")
_ONE_OF = "use exactly one of project, wheel, requirements, source"
_TOP_KEYS = ("name", "python-version", "glibc", "platforms", "package", "shrink", "check", "platform")
_PLATFORM_KEYS = ("python-version", "glibc", "package", "shrink", "check")


# ----------------------------------------------------------------------------------------------------- layers


@dataclass(frozen=True)
class _Layer:
    """One source of settings: ``[tool.slimwheel]``, the recipe's own tables, or one ``[platform.NAME]`` table."""

    python_version: Entry | None = None
    glibc: Entry | None = None
    package_node: Node | None = None
    package: Mapping[str, Entry] = field(default_factory=dict)
    source: Mapping[str, Entry] = field(default_factory=dict)
    shrink: Mapping[str, Entry] = field(default_factory=dict)
    check: Mapping[str, Entry] = field(default_factory=dict)


def _python_version(node: Node) -> str:
    if isinstance(node.value, float):
        raise node.error(f'expected a string, got {kind_and_value(node.value)}; quote it: python-version = "3.11"')
    text = node.string()
    if not PYTHON_VERSION.fullmatch(text):
        raise node.error(f"{text!r} is not MAJOR.MINOR of a Python 3, like '3.11'")
    return text


def _glibc(node: Node) -> tuple[int, int]:
    if isinstance(node.value, float):
        raise node.error(f'expected a string, got {kind_and_value(node.value)}; quote it: glibc = "2.34"')
    try:
        return parse_glibc(node.string())
    except RecipeError as exc:
        raise node.error(exc.message) from None


def _layer(tables: Mapping[str, Node]) -> _Layer:
    python = tables.get("python-version")
    glibc = tables.get("glibc")
    package: dict[str, Entry] = {}
    source: dict[str, Entry] = {}
    package_node = tables.get("package")
    if package_node is not None:
        nodes = package_node.table((*PACKAGE, "source"))
        kinds = [k for k in nodes if k in _KINDS]
        if len(kinds) > 1:
            raise nodes[kinds[1]].error(f"can't be combined with {kinds[0]}; {_ONE_OF}")
        for key, child in nodes.items():
            if key == "source":
                source = entries(child, SOURCE)
                if "requirement" in source and "sdist" in source:
                    raise source["sdist"].node.error("can't be combined with requirement; use one of them")
                package[key] = Entry(None, child)
            else:
                package[key] = Entry(PACKAGE[key](child), child)
    check_node = tables.get("check")
    check = entries(check_node, CHECK) if check_node is not None else {}
    shrink_node = tables.get("shrink")
    return _Layer(
        python_version=Entry(_python_version(python), python) if python is not None else None,
        glibc=Entry(_glibc(glibc), glibc) if glibc is not None else None,
        package_node=package_node,
        package=package,
        source=source,
        shrink=entries(shrink_node, SHRINK) if shrink_node is not None else {},
        check=check,
    )


# ------------------------------------------------------------------------------------------------------ recipe


@dataclass(frozen=True)
class Recipe:
    """A validated recipe. ``platforms`` is what ``--platform all`` builds."""

    name: str
    path: Path
    platforms: tuple[str, ...]
    python_version: str  # the recipe's python-version, or this interpreter's
    _base: _Layer = field(repr=False, compare=False)
    _overrides: Mapping[str, _Layer] = field(repr=False, compare=False)
    _defaults: _Layer | None = field(default=None, repr=False, compare=False)

    def for_platform(self, platform: str, python_version: str | None = None) -> PlatformRecipe:
        """The recipe for ``platform`` (any known platform, listed or not); ``python_version`` wins over the recipe.

        Checks that the files it names exist (check scripts and wheels, a local wheel, an sdist).
        """
        return self._resolve(platform, python_version, check_files=True)

    def _resolve(self, platform: str, python_version: str | None, *, check_files: bool) -> PlatformRecipe:
        if platform not in PLATFORMS:
            raise RecipeError(f"{self.path}: {unknown_platform(platform)}")
        layers = [layer for layer in (self._defaults, self._base, self._overrides.get(platform)) if layer is not None]

        def pick(section: str, key: str) -> Entry | None:
            found = None
            for layer in layers:
                found = getattr(layer, section).get(key, found)
            return found

        def value(section: str, key: str, default: Any) -> Any:
            setting = pick(section, key)
            return default if setting is None else setting.value

        if python_version is not None:
            parse_python_version(python_version)
        else:
            python_version = next((x.python_version.value for x in reversed(layers) if x.python_version), HOST_PYTHON)
        glibc_entry = next((x.glibc for x in reversed(layers) if x.glibc), None)
        if glibc_entry is not None:
            try:
                pip_platforms(platform, glibc_entry.value)
            except RecipeError as exc:
                raise glibc_entry.node.error(exc.message) from None
        package = self._package(layers, check_files)
        lock = pick("check", "lock")
        if isinstance(package, RequirementSet) and lock is not None:
            _lock_directory(lock)
        if check_files:
            for section, key in (("check", "scripts"), ("check", "wheels")):
                setting = pick(section, key)
                for path, element in zip(
                    setting.value if setting else (), setting.elements if setting else (), strict=True
                ):
                    if not path.is_file():
                        raise element.error(not_a_file(path))
        return PlatformRecipe(
            recipe=self.name,
            source_file=self.path,
            platform=platform,
            python_version=python_version,
            glibc=glibc_entry.value if glibc_entry is not None else None,
            package=package,
            prune=value("shrink", "prune", ()),
            keep=value("shrink", "keep", ()),
            select=value("shrink", "select", ()),
            ignore=value("shrink", "ignore", ()),
            strip=value("shrink", "strip", StripLevel.UNNEEDED),
            stubs=value("shrink", "stubs", True),
            minify=value("shrink", "minify", False),
            bytecode_only=value("shrink", "bytecode-only", False),
            compress_level=value("shrink", "compress-level", 9),
            max_size=value("shrink", "max-size", None),
            check_scripts=value("check", "scripts", ()),
            check_commands=anchored_commands(pick("check", "commands")),
            requirements=value("check", "requirements", ()),
            with_wheels=value("check", "wheels", ()),
            same_output=value("check", "same-output", False),
            lock=lock.value if lock is not None else None,
        )

    def _package(self, layers: list[_Layer], check_files: bool) -> Package:
        package: dict[str, Entry] = {}
        source: dict[str, Entry] = {}
        where: Node | None = None
        for layer in layers:
            kinds = {k for k in _KINDS if k in layer.package}
            if kinds and kinds != {k for k in _KINDS if k in package}:
                package, source = {}, {}  # a platform switching to another kind of package replaces it
            package.update(layer.package)
            source.update(layer.source)
            where = layer.package_node or where
        kind = next((k for k in _KINDS if k in package), None)
        if kind is None:
            problem = "set one of project, wheel, requirements or a [package.source] table"
            if where is None:
                raise RecipeError(f"{self.path}: package: missing; add a [package] table and {problem}")
            raise where.error(problem)
        if "version" in package and kind != "project":
            raise package["version"].node.error(f"applies only to project, not to {kind}")
        if kind == "project":
            version = package.get("version")
            return ProjectSpec(package["project"].value, version.value if version else "")
        if kind == "wheel":
            setting = package["wheel"]
            if check_files and not setting.value.is_file():
                raise setting.node.error(not_a_file(setting.value))
            return LocalWheel(setting.value)
        if kind == "requirements":
            return RequirementSet(package["requirements"].value)
        if "requirement" in source and "sdist" in source:  # one from the recipe, the other from a platform table
            raise source["sdist"].node.error("can't be combined with requirement; use one of them")
        if "requirement" not in source and "sdist" not in source:
            raise package["source"].node.error("set requirement or sdist")
        sdist = source.get("sdist")
        if sdist is not None and check_files and not sdist.value.exists():
            raise sdist.node.error(f"{sdist.value} does not exist")
        requirement = source.get("requirement")
        env = source.get("env")
        settings = source.get("config-settings")
        cross = source.get("cross-file")
        if cross is not None and check_files and not cross.value.is_file():
            raise cross.node.error(not_a_file(cross.value))
        return SourceBuild(
            requirement=requirement.value if requirement else None,
            sdist=sdist.value if sdist else None,
            cross_file=cross.value if cross else None,
            env=env.value if env else MappingProxyType({}),
            config_settings=settings.value if settings else MappingProxyType({}),
        )


def _lock_directory(lock: Entry) -> None:
    """A deploy set's lock is a directory (one ``<project>.lock`` per distribution), never one lock file."""
    path: Path = lock.value
    if path.is_file() or path.suffix == ".lock":
        written = str(lock.node.value).rstrip("/\\")
        instead = written.removesuffix(".lock") if written.endswith(".lock") else f"{written}.d"
        raise lock.node.error(
            "with requirements, the lock is a directory of one <project>.lock per distribution, not a file; "
            f"write lock = {toml_string(instead + '/')}"
        )


# ----------------------------------------------------------------------------------------------------- loading


def load_recipe(path: Path, *, project_defaults: Path | None = None) -> Recipe:
    """Read and validate the recipe at ``path``, with defaults from ``project_defaults`` (a ``pyproject.toml``).

    Every platform the recipe lists is resolved once, so an error in any of them is reported here. Files the
    recipe names are not required to exist yet (:meth:`Recipe.for_platform` checks them). No defaults are looked
    up unless ``project_defaults`` is given (see :func:`find_project_defaults`).
    """
    path = Path(path)
    doc, data = read_document(path)
    root = Node(doc, (), data)
    top = root.table(_TOP_KEYS)
    name = path.stem
    if "name" in top:
        name = top["name"].string()
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
            raise top["name"].error(f"{name!r} must be letters, digits, '.', '_' or '-' (it names output files)")
    if "platforms" not in top:
        raise root.error('platforms: missing; list the platforms to build, e.g. platforms = ["linux_x86_64"]')
    platforms_node = top["platforms"]
    if isinstance(platforms_node.value, dict):
        raise platforms_node.error(
            "expected an array of platform names, got a table; per-platform overrides go in [platform.NAME] tables"
        )
    platforms: list[str] = []
    for item in platforms_node.items():
        platform = item.string()
        if platform not in PLATFORMS:
            raise item.error(unknown_platform(platform))
        if platform in platforms:
            raise item.error(f"{platform!r} is listed twice")
        platforms.append(platform)
    if not platforms:
        raise platforms_node.error("must list at least one platform")
    overrides: dict[str, _Layer] = {}
    if "platform" in top:
        section = top["platform"]
        if not isinstance(section.value, dict):
            raise section.error(
                f"expected [platform.NAME] tables of overrides, got {kind_and_value(section.value)}; "
                "the platforms to build are listed in platforms = [...]"
            )
        for platform, node in section.table(PLATFORMS, what="platform").items():
            overrides[platform] = _layer(node.table(_PLATFORM_KEYS))
    base = _layer(top)
    recipe = Recipe(
        name=name,
        path=path,
        platforms=tuple(platforms),
        python_version=base.python_version.value if base.python_version else HOST_PYTHON,
        _base=base,
        _overrides=MappingProxyType(overrides),
        _defaults=_load_defaults(Path(project_defaults)) if project_defaults is not None else None,
    )
    for platform in recipe.platforms:
        recipe._resolve(platform, None, check_files=False)
    return recipe


def _load_defaults(path: Path) -> _Layer | None:
    table = load_project_table(path)
    if table is None:
        return None
    return _Layer(
        shrink={key: s for key, s in table.get("shrink", {}).items() if key in SHRINK},
        check={key: s for key, s in table.get("check", {}).items() if key in CHECK},
    )


def find_project_defaults(start: Path) -> Path | None:
    """The nearest ``pyproject.toml`` with a ``[tool.slimwheel]`` table in ``start`` or above it, if any."""
    start = Path(start).absolute()
    directory = start if start.is_dir() else start.parent
    for candidate in (directory, *directory.parents):
        pyproject = candidate / "pyproject.toml"
        if pyproject.is_file():
            _, data = read_document(pyproject)
            tool = data.get("tool")
            if isinstance(tool, dict) and "slimwheel" in tool:
                return pyproject
    return None
