"""Project settings for ``slimwheel shrink`` and ``slimwheel inspect`` from ``[tool.slimwheel]`` in pyproject.toml.

Where: the nearest ``pyproject.toml`` with a ``[tool.slimwheel]`` table, in the current directory or above it
(:func:`slimwheel.recipe.find_project_defaults`, the same file ``slimwheel build`` reads).

Layout: the tables ``slimwheel build`` already reads as project defaults of its recipes, plus one for ``inspect``.
Each key is validated as in a recipe (:func:`slimwheel.settings.load_project_table` is the one home of the schema)::

    [tool.slimwheel.shrink]          # slimwheel shrink; the recipe's [shrink] keys for build
    select = ["default", "bytecode"] # --rules default,bytecode   (select = ["none"]: --no-rules)
    ignore = ["docs"]                # --rules ...,-docs
    prune = ["x/"]                   # --prune, one per item        keep = [...]: --keep
    strip = "debug"                  # --strip
    stubs = false                    # --no-stubs
    compress-level = 12              # --compress-level
    max-size = "5 MB"                # --max-size
    minify = true                    # --minify
    bytecode-only = true             # --bytecode-only
    recompress = true                # --recompress          } only `slimwheel shrink` has these;
    max-total-size = "20 MB"         # --max-total-size      } build accepts and ignores them
    max-installed-size = "250 MB"    # --max-installed-size  }
    wheel-dir = "dist/slim"          # -w/--wheel-dir        }

    [tool.slimwheel.check]           # slimwheel shrink's check; the recipe's [check] keys for build
    scripts = ["checks/smoke.py"]    # --check                      commands = [...]: --check-cmd
    requirements = ["onnx"]          # --with                       wheels = [...]: --with-wheel
    same-output = true               # --same-output
    timeout = 30                     # --timeout (seconds)   }
    max-runs = 200                   # --max-runs            } only `slimwheel shrink` has these;
    minimal = true                   # --minimal             } build accepts and ignores them
    trace = false                    # --no-trace            }
    python = "python3.10"            # --python: a command name or a path }

    [tool.slimwheel.inspect]
    top = 30                         # --top
    depth = 4                        # --depth

Relative paths (``scripts``, ``wheels``, ``wheel-dir``, a ``python`` with a slash, and file arguments of
``commands`` that exist) are relative to the pyproject.toml's directory, whatever the current directory is.

Precedence, option by option: **the command line > [tool.slimwheel] > the built-in default**. An option given on
the command line replaces the pyproject's value as a whole (``--prune`` does not add to ``prune``). Two pairs of
options are one choice each: ``--rules``/``--no-rules`` (``select``/``ignore``), and ``--check``/``--check-cmd``
(``scripts``/``commands``): either one on the command line drops both from the pyproject. ``--lock`` without
``--verify`` runs no check, so the pyproject's check is not used then either.

Every problem is a :class:`ConfigError` (exit code 2) of one line naming the file, the line and the key:
``pyproject.toml:3: tool.slimwheel.shrink.strp: unknown key; did you mean 'strip'? (known: prune, ...)``.
It validates no key itself (that is :mod:`slimwheel.settings`, shared with recipes) and runs nothing: it turns
validated values into what argparse would have given and says where each came from.

How the command line uses this module (``cli.main``)::

    parser = build_parser()
    args = parser.parse_args(argv)
    ...
    if args.command in COMMANDS:                           # inside the try: a ConfigError exits 2
        settings = project_settings(args.command, Path.cwd())
        sources = merge(args, settings, explicit_dests(parser, argv))  # fills args in place
        # sources: dest -> "command line" | "pyproject.toml:LINE" | "default"
"""

from __future__ import annotations

import argparse
import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from .errors import RecipeError, UsageError
from .recipe import find_project_defaults
from .settings import Entry, anchored_commands, load_project_table, not_a_file, rules_spec

COMMAND_LINE = "command line"
DEFAULT = "default"
COMMANDS = ("shrink", "inspect")


class ConfigError(UsageError):
    """A ``[tool.slimwheel]`` table that can't be used; the message names the file, the line and the key."""


@dataclass(frozen=True)
class Setting:
    """One option's value from ``[tool.slimwheel]``: in the form argparse gives it for ``dest``, and where it is."""

    dest: str
    value: object
    source: str  # "pyproject.toml:12"
    key: str  # "tool.slimwheel.shrink.strip"
    _files: Entry | None = field(default=None, repr=False, compare=False)  # paths that must be files

    def check_files(self) -> None:
        """Raise a :class:`ConfigError` naming the line if a check script or wheel it names is not a file."""
        if self._files is None:
            return
        for path, element in zip(self._files.value, self._files.elements, strict=True):
            if not Path(path).is_file():
                raise ConfigError(element.error(not_a_file(path)).message)


@dataclass(frozen=True)
class Settings:
    """What ``[tool.slimwheel]`` sets for one command: argparse dest → :class:`Setting`."""

    command: str
    pyproject: Path | None  # the file read; None if no pyproject.toml with [tool.slimwheel] was found
    values: Mapping[str, Setting] = field(default_factory=lambda: MappingProxyType({}))


Convert = Callable[[Entry], object]


def _as_list(setting: Entry) -> object:
    return list(setting.value)


def _negated(setting: Entry) -> object:
    return not setting.value


def _plain(setting: Entry) -> object:
    return setting.value


def _strip_value(setting: Entry) -> object:
    return setting.value.value  # StripLevel -> "debug", as --strip gives it


def _commands(setting: Entry) -> object:
    return list(anchored_commands(setting))


# table → key → (argparse dest, how the validated value becomes what argparse would give)
_OPTIONS: Mapping[str, Mapping[str, Mapping[str, tuple[str, Convert]]]] = {
    "shrink": {
        "shrink": {
            "prune": ("prune", _as_list),
            "keep": ("keep", _as_list),
            "strip": ("strip", _strip_value),
            "stubs": ("no_stubs", _negated),
            "compress-level": ("compress_level", _plain),
            "max-size": ("max_size", _plain),
            "recompress": ("recompress", _plain),
            "minify": ("minify", _plain),
            "bytecode-only": ("bytecode_only", _plain),
            "max-installed-size": ("max_installed_size", _plain),
            "max-total-size": ("max_total_size", _plain),
            "wheel-dir": ("wheel_dir", _plain),
        },
        "check": {
            "scripts": ("check", _as_list),
            "commands": ("check_cmd", _commands),
            "requirements": ("with_requirements", _as_list),
            "wheels": ("with_wheel", _as_list),
            "same-output": ("same_output", _plain),
            "timeout": ("timeout", _plain),
            "max-runs": ("max_runs", _plain),
            "minimal": ("minimal", _plain),
            "trace": ("no_trace", _negated),
            "python": ("python", _plain),
        },
    },
    "inspect": {"inspect": {"top": ("top", _plain), "depth": ("depth", _plain)}},
}
_MUST_BE_FILES = frozenset({"check", "with_wheel"})
_ONE_CHOICE = (frozenset({"rules", "no_rules"}), frozenset({"check", "check_cmd"}))


def project_settings(command: str, start: Path, *, pyproject: Path | None = None) -> Settings:
    """The settings ``[tool.slimwheel]`` gives ``command`` (``"shrink"`` or ``"inspect"``).

    The file is ``pyproject`` if given, else the nearest ``pyproject.toml`` with a ``[tool.slimwheel]`` table in
    ``start`` or above it. The whole table is validated, whichever command asks. Files are named relative to the
    current directory in sources and messages when they are inside it.
    """
    if command not in _OPTIONS:
        raise ValueError(f"no [tool.slimwheel] settings for {command!r}; one of {', '.join(_OPTIONS)}")
    try:
        path = pyproject if pyproject is not None else find_project_defaults(start)
        table = load_project_table(path, display=_display(path)) if path is not None else None
    except RecipeError as exc:
        raise ConfigError(exc.message) from None
    if table is None:
        return Settings(command, path)
    values: dict[str, Setting] = {}
    for name, keys in _OPTIONS[command].items():
        section = table.get(name, {})
        for key, setting in section.items():
            if key in keys:
                dest, convert = keys[key]
                files = setting if dest in _MUST_BE_FILES else None
                values[dest] = Setting(dest, convert(setting), setting.node.where, setting.node.name, files)
        rules = _rules(section) if name == "shrink" else None
        if rules is not None:
            values["rules"] = rules
    return Settings(command, path, MappingProxyType(values))


def _rules(section: Mapping[str, Entry]) -> Setting | None:
    """``select`` and ``ignore`` as the ``--rules`` value they stand for."""
    given = [section[key] for key in ("select", "ignore") if key in section]
    if not given:
        return None
    select, ignore = section.get("select"), section.get("ignore")
    spec = rules_spec(select.value if select else (), ignore.value if ignore else ())
    return Setting("rules", spec, ", ".join(s.node.where for s in given), given[0].node.name)


def _display(path: Path) -> Path:
    """``path`` relative to the current directory if it is inside it (``pyproject.toml``), else absolute."""
    absolute = Path(path).absolute()
    try:
        return absolute.relative_to(Path.cwd())
    except ValueError:
        return absolute


def merge(args: argparse.Namespace, settings: Settings, explicit: set[str]) -> dict[str, str]:
    """Fill ``args`` in place with ``settings`` for every option not in ``explicit`` (the dests given on the
    command line, see :func:`explicit_dests`); return dest → where its value came from: ``"command line"``,
    ``"pyproject.toml:LINE"`` or ``"default"``, for every dest of ``args``.

    Raises a :class:`ConfigError` if a check script or wheel the pyproject names, and that is used, is not a file.
    """
    skip = set(explicit)
    for group in _ONE_CHOICE:
        if group & explicit:
            skip |= group
    if "lock" in explicit and "verify" not in explicit:  # a lock replay without --verify runs no check
        skip |= {"check", "check_cmd"}
    sources = {dest: COMMAND_LINE if dest in explicit else DEFAULT for dest in vars(args)}
    for dest, setting in settings.values.items():
        if dest in skip or not hasattr(args, dest):
            continue
        setting.check_files()
        value = setting.value
        setattr(args, dest, list(value) if isinstance(value, list) else value)
        sources[dest] = setting.source
    return sources


def explicit_dests(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> set[str]:
    """The dests of the options (and positionals) given in ``argv``, which ``parser`` has already accepted.

    ``argv`` is parsed again by a copy of ``parser`` whose every default is ``argparse.SUPPRESS``: only what the
    command line names ends up in the namespace. So abbreviations (``--comp 5``), ``-wDIR``, ``--opt=value`` and
    subcommands count like argparse counts them. ``argv`` None means ``sys.argv[1:]``, as for ``parse_args``.
    """
    probe = copy.deepcopy(parser)
    _suppress_defaults(probe)
    return set(vars(probe.parse_args(None if argv is None else list(argv))))


def _suppress_defaults(parser: argparse.ArgumentParser) -> None:
    parser._defaults.clear()  # set_defaults()
    for action in parser._actions:
        action.default = argparse.SUPPRESS
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                _suppress_defaults(sub)
