"""The accounts of one reducer's oracle runs: the verdict cache, the run budget, the counts and the best set so far.

Guarantees
==========

* A candidate is looked up in the cache, by its key, before it is run: a verdict the cache holds is never asked
  of the oracle again, and every verdict the oracle gives is stored under the candidate's key.
* The budget is asked before every run and counts every run started (speculative ones included); a verdict from
  the cache costs nothing.
* :attr:`Ledger.best` is the lightest set that passed, over every run and every pass the cache remembered;
  :attr:`Ledger.path_best` only over the results the decision path used, so that speculation cannot change it.
* One :class:`ProgressEvent` after every run recorded, in the order they are recorded.

What it must not know: wheels, files, processes, threads, and the algorithms that choose the candidates. It sees
candidates (sets of item names), their weights and verdicts. The cache is pluggable (:class:`VerdictCache`): a
dict, or a persistent store such as a trial's journal, with keys from ``cache_key``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = [
    "Best",
    "Budget",
    "BudgetExhausted",
    "CacheKey",
    "Ledger",
    "Oracle",
    "ProgressEvent",
    "Stats",
    "VerdictCache",
]

CacheKey = frozenset[str] | str


class Oracle(Protocol):
    """Says whether a candidate passes. May be slow (a subprocess); must be thread-safe when ``jobs > 1``."""

    def __call__(self, kept: frozenset[str], /) -> bool: ...


class VerdictCache(Protocol):
    """Where a reducer looks verdicts up and stores them, by key (a dict; a trial's journal). Its keys are whatever
    the reducer's ``cache_key`` makes: the candidate set itself by default, a string for a persistent cache."""

    def get(self, key: Any, /) -> bool | None: ...

    def __setitem__(self, key: Any, passed: bool, /) -> None: ...


class BudgetExhausted(Exception):
    """:meth:`slimwheel.reduce.Reducer.test` needed a run but the budget (runs or deadline) is spent."""


@dataclass
class Budget:
    """Limits on oracle runs: at most ``max_runs`` runs, none started at or after ``deadline`` (``time.monotonic()``).

    A run already started when the deadline passes is waited for (the oracle is responsible for its own timeout).
    """

    max_runs: int | None = None
    deadline: float | None = None

    def allows(self, started: int) -> bool:
        if self.max_runs is not None and started >= self.max_runs:
            return False
        return self.deadline is None or time.monotonic() < self.deadline


@dataclass
class Stats:
    """What the oracle cost. ``runs`` counts oracle calls (including speculative ones), ``cached`` the candidates
    answered from the cache, ``wasted`` the speculative runs whose answer the decision path never used, and
    ``seconds`` the wall-clock time spent in the reducer's methods."""

    runs: int = 0
    cached: int = 0
    passes: int = 0
    fails: int = 0
    per_phase: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    wasted: int = 0


@dataclass(frozen=True)
class ProgressEvent:
    """Sent after every oracle result. Weights are of whole candidate sets, required items included."""

    phase: str
    runs: int
    best_weight: int
    best_size: int
    total_weight: int
    passed: bool | None = None
    candidate_weight: int | None = None


class Best:
    """The lightest passing set offered so far (ties: fewer items, then the first in sorted order); until one is
    offered, the full set, unverified. The choice does not depend on the order of the offers."""

    __slots__ = ("kept", "verified", "weight")

    def __init__(self, full: frozenset[str], weight: int) -> None:
        self.kept = full
        self.weight = weight
        self.verified = False

    def offer(self, candidate: frozenset[str], weight: int) -> None:
        if self.verified:
            old, new = (self.weight, len(self.kept)), (weight, len(candidate))
            if new > old or (new == old and sorted(candidate) >= sorted(self.kept)):
                return
        self.kept, self.weight, self.verified = candidate, weight, True


def _same_set(kept: frozenset[str]) -> CacheKey:
    return kept


class Ledger:
    """Runs candidates through the cache, the budget and the oracle, and keeps the accounts (see the module
    docstring). Drivers (:mod:`slimwheel.drive`, :mod:`slimwheel.speculate`) decide *when* to run what."""

    def __init__(
        self,
        weights: Mapping[str, int],
        full: frozenset[str],
        oracle: Oracle,
        *,
        budget: Budget,
        cache: VerdictCache | None = None,
        cache_key: Callable[[frozenset[str]], CacheKey] | None = None,
        progress: Callable[[ProgressEvent], None] | None = None,
    ) -> None:
        self._weights = weights
        self.oracle = oracle
        self.budget = budget
        self._cache: VerdictCache = cache if cache is not None else {}
        self.key: Callable[[frozenset[str]], CacheKey] = cache_key if cache_key is not None else _same_set
        self._progress = progress
        self.total = self.weight(full)
        self.stats = Stats()
        self.started = 0  # oracle calls started (the budget counts these)
        self.best = Best(full, self.total)  # over every run, speculative ones included
        self.path_best = Best(full, self.total)  # over the runs on decision paths: the same for any jobs

    def weight(self, kept: Iterable[str]) -> int:
        weights = self._weights
        return sum(weights.get(item, 0) for item in kept)

    def peek(self, key: CacheKey) -> bool | None:
        """The cached verdict for ``key``, if any (for looking ahead: nothing is counted)."""
        return self._cache.get(key)

    def lookup(self, candidate: frozenset[str], key: CacheKey) -> bool | None:
        """The cached verdict for ``candidate``; a remembered pass counts for :attr:`best` (e.g. from a persistent
        cache)."""
        known = self._cache.get(key)
        if known:
            self.best.offer(candidate, self.weight(candidate))
        return known

    def start(self) -> bool:
        """Whether the budget allows one more run; if so, it is counted as started."""
        if not self.budget.allows(self.started):
            return False
        self.started += 1
        return True

    def decide(self, candidate: frozenset[str], phase: str) -> bool | None:
        """The verdict on a candidate of the decision path: from the cache, or from one oracle run (recorded under
        ``phase``); None when a run is needed and the budget does not allow it."""
        key = self.key(candidate)
        known = self.lookup(candidate, key)
        if known is None:
            if not self.start():
                return None
            known = bool(self.oracle(candidate))
            self.record(candidate, key, phase, known)
        else:
            self.stats.cached += 1
        self.on_path(candidate, known)
        return known

    def record(self, candidate: frozenset[str], key: CacheKey, phase: str, passed: bool) -> None:
        """An oracle run's verdict: cached, counted, offered as the best, reported."""
        self._cache[key] = passed
        stats = self.stats
        stats.runs += 1
        stats.per_phase[phase] = stats.per_phase.get(phase, 0) + 1
        if passed:
            stats.passes += 1
            self.best.offer(candidate, self.weight(candidate))
        else:
            stats.fails += 1
        if self._progress is not None:
            best = self.best
            event = ProgressEvent(
                phase, stats.runs, best.weight, len(best.kept), self.total, passed, self.weight(candidate)
            )
            self._progress(event)

    def on_path(self, candidate: frozenset[str], passed: bool) -> None:
        """A result the decision path used (as opposed to a speculative one that may stay unused)."""
        if passed:
            self.path_best.offer(candidate, self.weight(candidate))
