"""A deploy set: the wheels of a requirements closure, shrunk together, written as a wheelhouse that installs offline.

Guarantees: the wheels come from pip (:func:`slimwheel.fetch.download_closure`: pip resolves and downloads, for the
target platform); once they are written, the output directory holds every one of them and a pinned
``requirements.txt`` with a ``--hash`` for each file (:mod:`slimwheel.wheelhouse`), so that
``pip install --no-index --find-links DIR --require-hashes -r DIR/requirements.txt`` needs no network. With an
install target, pip installs the written wheels there and :class:`SetSummary` carries the size pip made.
Identical native libraries vendored by two wheels are listed (wheels can't share files: report only).

It must not know how a wheel is shrunk (:mod:`slimwheel.shrink`), how pip is driven (:mod:`slimwheel.fetch`,
:mod:`slimwheel.wheelhouse`) or how a single wheel's report is laid out (:mod:`slimwheel.report`); it lays out only
what belongs to the set as a whole: per distribution and in total, budgets on the total.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from packaging.utils import canonicalize_name, parse_wheel_filename
from rich.console import Group, RenderableType
from rich.text import Text

from .console import Field, NameTable
from .fetch import Target, download_closure
from .report import Safe, WheelReport
from .units import human_size
from .wheelhouse import Duplicate, InstalledSize, duplicate_libraries, install_target, write_requirements


def index_arguments(
    index_url: str | None, extra_index_urls: Sequence[str], find_links: Sequence[str], no_index: bool
) -> list[str]:
    """pip's index options, as the user gave them."""
    args = ["--index-url", index_url] if index_url else []
    args += [arg for url in extra_index_urls for arg in ("--extra-index-url", url)]
    args += [arg for link in find_links for arg in ("--find-links", link)]
    return args + (["--no-index"] if no_index else [])


def resolve(
    requirements: Sequence[str],
    requirement_files: Sequence[Path],
    target: Target,
    cache_dir: Path,
    index_args: Sequence[str] = (),
) -> list[Path]:
    """The wheels of the requirements' closure for ``target``, downloaded (or built, for this machine) by pip into
    the cache (``CACHE/wheels/sets``), where a second run finds them."""
    return download_closure(
        requirements, requirement_files, cache_dir / "wheels" / "sets", target, index_args=index_args
    )


@dataclass(frozen=True)
class Distribution:
    """One distribution of the set: its wheel before and after, and what pip installed of it (if it did)."""

    name: str
    version: str
    compressed_before: int
    compressed_after: int
    installed_before: int
    installed_after: int
    pip_installed: int | None
    unused_by_check: bool


@dataclass(frozen=True)
class SetSummary:
    """What the set weighs, per distribution and in total; where its requirements file and install went."""

    distributions: list[Distribution]
    requirements_file: str | None = None
    target_dir: str | None = None
    pip_installed: int | None = None  # every file pip put in the target, bytecode it compiled included
    duplicates: list[Duplicate] = field(default_factory=list)
    installed_budget: int | None = None  # --max-installed-size

    @property
    def installed(self) -> int:
        """The set's installed size: as pip installed it when it did, else the files' sizes in the wheels."""
        if self.pip_installed is not None:
            return self.pip_installed
        return sum(d.installed_after for d in self.distributions)

    @property
    def over_budget(self) -> bool:
        return self.installed_budget is not None and self.installed > self.installed_budget

    def over_budget_messages(self) -> list[str]:
        if not self.over_budget or self.installed_budget is None:
            return []
        how = "as pip installed it" if self.pip_installed is not None else "its files' sizes"
        return [
            f"over budget: the set installs to {human_size(self.installed)} ({how}), over --max-installed-size "
            f"{human_size(self.installed_budget)}"
        ]

    def to_json(self) -> dict[str, object]:
        return {
            "requirements_file": self.requirements_file,
            "target": self.target_dir,
            "distributions": [vars(d) for d in self.distributions],
            "pip_installed": self.pip_installed,
            "installed": self.installed,
            "installed_budget": self.installed_budget,
            "over_installed_budget": self.over_budget,
            "duplicates": [
                {
                    "sha256": d.sha256,
                    "size": d.size,
                    "wasted": d.wasted,
                    "copies": [{"wheel": c.wheel.name, "path": c.path} for c in d.copies],
                }
                for d in self.duplicates
            ],
        }

    def renderable(self, safe: Safe) -> RenderableType:
        """The set's table (distribution names never wrapped: :class:`~slimwheel.console.NameTable`), then one
        line per path (never wrapped either), duplicate and budget."""
        pip = self.pip_installed is not None
        note = any(d.unused_by_check for d in self.distributions)
        fields = [
            Field("wheel"),
            Field("installed"),
            *((Field("pip installed"),) if pip else ()),
            *((Field("note", "left", flex=True),) if note else ()),
        ]
        table = NameTable("deploy set", ["distribution"], fields)
        for d in self.distributions:
            table.add_row(
                [safe(f"{d.name} {d.version}")],
                [
                    safe(f"{human_size(d.compressed_before)} → {human_size(d.compressed_after)}"),
                    safe(f"{human_size(d.installed_before)} → {human_size(d.installed_after)}"),
                    *((human_size(d.pip_installed) if d.pip_installed is not None else "",) if pip else ()),
                    *(("unused by the check" if d.unused_by_check else "",) if note else ()),
                ],
            )
        lines: list[RenderableType] = [table]
        if self.pip_installed is not None and self.target_dir is not None:
            lines.append(_line(safe(f"  installed by pip into {self.target_dir}: {human_size(self.pip_installed)}")))
        for dup in self.duplicates:
            where = ", ".join(f"{c.wheel.name}:{c.path}" for c in dup.copies)
            copies = f"{human_size(dup.size)}, {len(dup.copies)} copies"
            lines.append(_line(safe(f"  duplicate library ({copies}): {where}"), "yellow"))
        if self.requirements_file is not None:
            lines.append(_line(safe(f"  pinned with hashes in {self.requirements_file} (installs offline)"), "dim"))
        if self.installed_budget is not None:
            over = self.over_budget
            verdict = "OVER BUDGET" if over else "within budget"
            lines.append(
                Text(
                    f"  {verdict}: installs to {human_size(self.installed)} of {human_size(self.installed_budget)}",
                    style="bold red" if over else "green",
                )
            )
        return Group(*lines)


def _line(text: str, style: str = "") -> Text:
    """A line that names paths: never wrapped (the console prints it whole, however long), as in the report."""
    return Text(text, style=style, no_wrap=True, overflow="ignore")


def complete(
    reports: Sequence[WheelReport],
    *,
    requirements: bool,
    install_dir: Path | None,
    target: Target,
    installed_budget: int | None,
) -> SetSummary:
    """The set after its wheels were written: ``requirements.txt`` beside them (``requirements``: the inputs came
    from requirements), installed into ``install_dir`` (if given), duplicates found, per distribution sizes."""
    written = [Path(r.output) for r in reports if r.output is not None]
    requirements_file = write_requirements(written, written[0].parent) if requirements and written else None
    installed: InstalledSize | None = None
    if install_dir is not None and written:
        installed = install_target(written, install_dir, pip_args=target.pip_args())
    by_name = installed.by_name() if installed is not None else {}
    distributions = []
    for r in reports:
        name, version, _, _ = parse_wheel_filename(Path(r.output or r.input).name)
        pip = by_name.get(canonicalize_name(name))
        distributions.append(
            Distribution(
                name=str(name),
                version=str(version),
                compressed_before=r.before.archive,
                compressed_after=r.after.archive,
                installed_before=r.before.total.installed,
                installed_after=r.after.total.installed,
                pip_installed=None if pip is None else pip.size,
                unused_by_check=r.unused_by_check,
            )
        )
    return SetSummary(
        distributions=distributions,
        requirements_file=None if requirements_file is None else str(requirements_file),
        target_dir=None if install_dir is None else str(install_dir),
        pip_installed=None if installed is None else installed.total,
        duplicates=duplicate_libraries(written) if len(written) > 1 else [],
        installed_budget=installed_budget,
    )
