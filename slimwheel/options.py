"""What one shrink is asked to do: the options of its stages and its mode, built in one place.

The command line (``shrink``, with ``[tool.slimwheel]`` already merged into its arguments) and recipes (``build``)
both describe a shrink; both build their option objects here, with :func:`check_options` for the check and
:class:`ShrinkOptions` for the rest, and pick one :data:`Mode`:

* :class:`RulesOnly` — rules and stripping (and optionally save what they decided as a lock);
* :class:`Learn` — then trial deletion against the user's check, optionally saving the result as a lock;
* :class:`Replay` — then a lock's removals and stubs, with no check run, or one run with ``verify``.

Plain values only: nothing here reads a wheel or runs anything (building a :class:`~slimwheel.check.Check` only
looks at the script's path).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from .binaries import StripLevel
from .check import Check
from .contents import Limits
from .lock import Lock
from .rules import DEFAULT_RULES, Patterns, Rule
from .trial import TrialOptions, default_jobs


@dataclass(frozen=True)
class ShrinkOptions:
    rules: tuple[Rule, ...] = DEFAULT_RULES
    patterns: Patterns = field(default_factory=Patterns)
    strip: StripLevel = StripLevel.UNNEEDED
    compress_level: int = 9
    jobs: int | None = None
    allow_bad_record: bool = False
    limits: Limits = field(default_factory=Limits)
    budget: int | None = None  # --max-size, in bytes
    recompress: bool = False  # also recompress entries that are copied unchanged by default
    minify: bool = False  # --minify: kept Python files rewritten by python-minifier
    bytecode_only: bool = False  # --bytecode-only: kept Python files replaced by sourceless bytecode
    python: Path | None = None  # the interpreter that compiles --bytecode-only without a check (default: this one)
    debug_symbols: Path | None = None  # --debug-symbols DIR: stripped ELF files' debug symbols kept there
    debuglink: bool = False  # --debuglink: the stripped files get a .gnu_debuglink to them (changes shipped bytes)


def default_cache_dir() -> Path:
    """``$SLIMWHEEL_CACHE``, else ``$XDG_CACHE_HOME/slimwheel``, else ``~/.cache/slimwheel``."""
    base = os.environ.get("SLIMWHEEL_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "slimwheel"
    )
    return Path(base)


@dataclass(frozen=True)
class CheckOptions:
    trial: TrialOptions
    python: Path | None = None
    requirements: tuple[str, ...] = ()
    with_wheels: tuple[Path, ...] = ()
    cache_dir: Path = field(default_factory=default_cache_dir)


def check_options(
    *,
    scripts: tuple[Path, ...] | list[Path] = (),
    commands: tuple[str, ...] | list[str] = (),
    same_output: bool = False,
    timeout: float | None = None,
    jobs: int | None = None,
    max_runs: int | None = None,
    minimal: bool = False,
    trace: bool = True,
    stubs: bool = True,
    resume: bool = False,
    python: Path | None = None,
    requirements: tuple[str, ...] | list[str] = (),
    with_wheels: tuple[Path, ...] | list[Path] = (),
    cache_dir: Path | None = None,
) -> CheckOptions:
    """The check and how the trial runs it, from the command line's or a recipe's settings (scripts first, then
    commands, as given). Raises :class:`~slimwheel.check.CheckError` for a script that is not a file."""
    checks = tuple([Check.script(p) for p in scripts] + [Check.command(c) for c in commands])
    trial = TrialOptions(
        checks=checks,
        same_output=same_output,
        timeout=timeout,
        jobs=jobs or default_jobs(),
        max_runs=max_runs,
        minimal=minimal,
        trace=trace,
        stubs=stubs,
        resume=resume,
    )
    return CheckOptions(
        trial=trial,
        python=python,
        requirements=tuple(requirements),
        with_wheels=tuple(with_wheels),
        cache_dir=cache_dir or default_cache_dir(),
    )


@dataclass(frozen=True)
class RulesOnly:
    """Rules and stripping only. ``save_locks[i]``: also write what they decided for input ``i`` as a lock."""

    save_locks: tuple[Path | None, ...] = ()


@dataclass(frozen=True)
class Learn:
    """Trial deletion against the check, all inputs together. ``save_locks[i]``: write input ``i``'s result as a
    lock (not when the search was interrupted)."""

    checks: CheckOptions
    save_locks: tuple[Path | None, ...] = ()


@dataclass(frozen=True)
class Replay:
    """A lock per input (``locks[i]`` for input ``i``: the lock and its file), no check run; ``verify``: run the
    check once on the result and write nothing if it fails."""

    locks: tuple[tuple[Lock, Path], ...]
    verify: CheckOptions | None = None


Mode = RulesOnly | Learn | Replay
