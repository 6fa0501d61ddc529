"""The check oracle of a trial: does the user's check pass with exactly these files (and these stubs)?

Guarantees: a candidate is the set of files it really holds (:meth:`CheckOracle.files_for`: the kept items, the
required ones, every package ``__init__.py`` above them, and while :attr:`CheckOracle.closure` is set the static
import closure of the kept Python files) plus its stubs. :meth:`CheckOracle.evaluate` looks a candidate up in the
journal (:class:`slimwheel.journal.Journal`) first and journals every verdict it runs, so no candidate is checked
twice and ``--resume`` reuses them all; :meth:`CheckOracle.run_checks` runs uncached (a baseline must really run).
The checks run in their order against a fresh tree in the sandbox (:class:`slimwheel.sandbox.Sandbox`), stopping at
the first failure; with ``same_output`` a check passes only if it prints what it printed in the baseline
(:attr:`CheckOracle.expected`). Every run is counted under the phase its caller names and reported as a
:class:`TrialEvent`, with an estimate of the time left (:class:`slimwheel.eta.Estimate`). Thread-safe: the
searches may ask from several threads.

What it must not know: zip archives, wheel files, their metadata, the command line, and the phases — what they try,
in which order, or why; a phase is only a label it counts runs under. It sees items (install keys and bytes),
checks, the sandbox and the journal.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from .check import Check
from .eta import Estimate
from .imports import ImportGraph, package_inits
from .interrupts import raise_if_requested
from .journal import Journal
from .reduce import candidate_key
from .sandbox import RunResult, Sandbox
from .stubs import Replacement

__all__ = ["CheckOracle", "TrialEvent"]


@dataclass(frozen=True)
class TrialEvent:
    """Progress, sent after every check run."""

    phase: str
    runs: int
    kept_bytes: int
    total_bytes: int
    elapsed: float
    eta: float | None = None  # seconds left, estimated (None: no estimate yet)
    eta_is_lower_bound: bool = True  # later phases may add runs the estimate can't foresee


class CheckOracle:
    """The checks run on candidate sets of ``items`` in ``sandbox``, with the journal of their verdicts and the run
    counters (see the module docstring). ``required`` items are in every candidate; ``timeout`` is per run, and
    the caller may change it (and :attr:`expected`) before the search starts."""

    def __init__(
        self,
        sandbox: Sandbox,
        items: Mapping[str, bytes],
        required: Iterable[str],
        checks: tuple[Check, ...],
        *,
        same_output: bool,
        timeout: float,
        journal: Path,
        resume: bool,
        estimate: Estimate,
        progress: Callable[[TrialEvent], None] | None = None,
    ) -> None:
        self.sandbox = sandbox
        self.items = dict(items)
        self.weights = {k: len(v) for k, v in self.items.items()}
        self.required = frozenset(required) & set(self.items)
        self.checks = checks
        self.same_output = same_output
        self.timeout = timeout
        self.expected: dict[str, str] = {}  # check label → what it printed in the baseline
        self.runs: dict[str, int] = {}  # per phase
        self.closure: ImportGraph | None = None  # set: candidates hold the static import closure of their files
        self.started = time.monotonic()
        self._estimate = estimate
        self._progress = progress
        self._lock = threading.Lock()
        self._kept_bytes = sum(self.weights.values())
        self._failures: dict[str, str] = {}  # candidate key → what its failing run printed
        self.journal = Journal(journal)  # every verdict (loaded with --resume, and recorded since): the only cache
        self.journal_note = self._open_journal(resume)

    def _open_journal(self, resume: bool) -> str | None:
        """Prune old journals (:mod:`slimwheel.journal`); with ``resume``, take the verdicts this journal holds (its
        name covers every input that can change a verdict), else start it empty. Returns what to tell the user."""
        held = self.journal.start(resume=resume)
        if resume and held:
            plural = "s" if held != 1 else ""
            return f"--resume: continuing from {held} check result{plural} in the journal"
        if resume:
            return "--resume: no journal for these wheels, checks and options (one of them changed?); started afresh"
        return None

    # -- candidates ----------------------------------------------------------------------------------------------

    def files_for(self, kept: Iterable[str]) -> frozenset[str]:
        """The files a candidate really holds: the kept items, the required ones, every package ``__init__.py``
        above them and, while :attr:`closure` is set (blind reduction), the static import closure of the kept
        Python files (what they import at import time would only fail the run: the search needn't spend runs
        learning it)."""
        kept = set(kept) | self.required
        if self.closure is not None:
            kept = set(self.closure.closure(kept))
        return frozenset(kept | package_inits(kept, self.items))

    def candidate_key(self, kept: frozenset[str]) -> str:
        """The journal key of the reducer's candidate ``kept``: that of the files it really holds, as
        :meth:`evaluate` keys them (so the reducer finds in the journal what any earlier run decided)."""
        return candidate_key(self.files_for(kept))

    def failure_output(self, files: frozenset[str]) -> str:
        """What the failing run of exactly ``files`` (no stubs) printed; ``""`` if none failed."""
        return self._failures.get(candidate_key(files), "")

    # -- running the checks --------------------------------------------------------------------------------------

    def run_checks(
        self,
        files: frozenset[str],
        stubs: Iterable[Replacement] = (),
        *,
        phase: str,
        trace: bool = False,
        calls: bool = False,
    ) -> list[RunResult]:
        """One run of the checks with exactly ``files`` plus ``stubs`` (optionally traced), counted under ``phase`` but
        neither looked up in the journal nor recorded in it (a baseline or a confirmation must really run)."""
        results = self._run(*_with_stubs(files, stubs), trace=trace, calls=calls)
        self.count(phase)
        return results

    def _run(
        self, files: frozenset[str], overrides: Mapping[str, bytes], *, trace: bool = False, calls: bool = False
    ) -> list[RunResult]:
        """Run every check against a candidate tree; stop at the first failure. A Ctrl-C pressed earlier and lost
        (:mod:`slimwheel.interrupts`) is raised before the run."""
        raise_if_requested()
        started = time.monotonic()
        tree = self.sandbox.tree(files, overrides=overrides)
        try:
            results = []
            for check in self.checks:
                result = self.sandbox.run(tree, check, timeout=self.timeout, trace=trace, calls=calls)
                results.append(result)
                if not self._passed(check, result):
                    break
            return results
        finally:
            self.sandbox.discard(tree)
            self._estimate.timed(time.monotonic() - started)

    def _passed(self, check: Check, result: RunResult) -> bool:
        if not result.passed:
            return False
        return not (self.same_output and check.label in self.expected and result.stdout != self.expected[check.label])

    def verdict(self, results: list[RunResult]) -> bool:
        """Whether every check ran and passed (with ``same_output``, printing what it printed in the baseline)."""
        return self._every(results, self._passed)

    def all_passed(self, results: list[RunResult]) -> bool:
        """Whether every check ran and exited successfully, whatever it printed."""
        return self._every(results, lambda _, result: result.passed)

    def _every(self, results: list[RunResult], passed: Callable[[Check, RunResult], bool]) -> bool:
        return len(results) == len(self.checks) and all(
            passed(c, r) for c, r in zip(self.checks, results, strict=False)
        )

    def evaluate(self, files: frozenset[str], stubs: tuple[Replacement, ...] = (), *, phase: str) -> bool:
        """The oracle: does the check pass with exactly ``files`` (plus stubs)? Looked up in the journal first;
        a run's verdict is journaled."""
        key = candidate_key([*files, *(f"stub:{s.module}" for s in stubs)])
        known = self.journal.get(key)
        if known is not None:
            return known
        files, overrides = _with_stubs(files, stubs)
        results = self._run(files, overrides)
        passed = self.verdict(results)
        self.journal.record(key, passed, phase)
        with self._lock:
            if not passed:
                self._failures[key] = "\n".join(r.stderr + "\n" + r.stdout for r in results)
            self.runs[phase] = self.runs.get(phase, 0) + 1
            if passed:
                self._kept_bytes = min(self._kept_bytes, sum(self.weights.get(f, 0) for f in files))
        self._report(phase)
        return passed

    def count(self, phase: str) -> None:
        """One more run in ``phase`` (a run of the checks, or one that lists what they need), reported."""
        with self._lock:
            self.runs[phase] = self.runs.get(phase, 0) + 1
        self._report(phase)

    def _report(self, phase: str) -> None:
        if self._progress is not None:
            eta, lower = self._estimate.seconds_left(phase, self.runs)
            self._progress(
                TrialEvent(
                    phase,
                    sum(self.runs.values()),
                    self._kept_bytes,
                    sum(self.weights.values()),
                    time.monotonic() - self.started,
                    eta,
                    lower,
                )
            )


def _with_stubs(files: frozenset[str], stubs: Iterable[Replacement]) -> tuple[frozenset[str], dict[str, bytes]]:
    """A candidate tree with stubs: the files left (without those the stubs replace) and the stubs' sources."""
    stubs = tuple(stubs)
    overrides = {s.stub_key: s.source for s in stubs}
    return frozenset(files - {k for s in stubs for k in s.replaces} - set(overrides)), overrides
