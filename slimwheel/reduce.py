"""Minimise a set of items against an oracle: hierarchical probabilistic delta debugging.

This module knows nothing about wheels, files or processes, and must not: it sees *items* (strings), their
*weights* (ints, e.g. bytes) and an *oracle* that says whether a candidate set of kept items "passes". Items form a
tree through their ``/``-separated keys: ``"a/b/c.py"`` lies in group ``"a/b/"``, which lies in group ``"a/"``.

Guarantees
==========

* Every set this module returns as a result was **passed by the oracle** (the one exception, documented on each
  method, is the fallback "full set" returned when nothing passed at all). Monotonicity ("a superset of a passing
  set passes") is assumed only to choose *which* candidates to try, never to accept one: a result is always a
  set that was actually run and passed. A failure is just a failure.
* ``required`` items are part of every candidate the oracle sees.
* The same candidate is never run twice (a cache keyed by the candidate set, or by ``cache_key`` — e.g.
  :func:`candidate_key` — when a persistent cache such as a trial's journal is passed in).
* ``Budget`` (number of runs, deadline) is checked before each run; when it is spent the methods stop cleanly
  and return the best verified set. The last ``2 * jobs`` runs of a ``max_runs`` budget are not speculated.
* With ``jobs > 1`` candidates are evaluated speculatively in a thread pool, but results are applied along the
  deterministic decision path, so a deterministic oracle gives the same result for every ``jobs``.

The pieces, picire-style
========================

* :mod:`slimwheel.machines` — the algorithms, as deterministic state machines: :meth:`Reducer.reduce_hierarchical`
  (HDD levels with a ProbDD-style search inside each; the module docstring explains the model and why),
  :meth:`Reducer.certify` (1-minimal item by item) and :meth:`Reducer.repair` (grow a failing set);
* :mod:`slimwheel.ledger` — the pluggable verdict cache, the budget, the counts and the best set so far;
* :mod:`slimwheel.drive` — the serial driver; :mod:`slimwheel.speculate` — the parallel one, which overrides its one
  method: it runs the most likely next candidates ahead of time and follows the path of actual results, so the
  result does not depend on ``jobs``. Runs on branches not taken are counted in :attr:`Stats.wasted`.

This module is the public face: :class:`Reducer` checks its inputs, starts the machines and concludes their results.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager

from .drive import Driver
from .ledger import Budget, BudgetExhausted, CacheKey, Ledger, Oracle, ProgressEvent, Stats, VerdictCache
from .machines import Certify, Hierarchy, Machine, Repair, StartCheck
from .speculate import Speculator

__all__ = [
    "Budget",
    "BudgetExhausted",
    "CacheKey",
    "Oracle",
    "ProgressEvent",
    "Reducer",
    "Stats",
    "VerdictCache",
    "candidate_key",
    "expansions",
]


def candidate_key(kept: Iterable[str]) -> str:
    """A stable string key for a candidate: sha256 of its items, sorted, joined by ``"\\n"`` (for persistent caches)."""
    data = "\n".join(sorted(kept)).encode("utf-8", "surrogatepass")
    return hashlib.sha256(data).hexdigest()


def expansions(kept: Iterable[str], universe: Iterable[str]) -> list[frozenset[str]]:
    """Growing supersets of ``kept`` within ``universe``, for :meth:`Reducer.repair` when a set derived from a trace
    fails: first everything in the groups that directly contain a kept item (its siblings), then everything in the
    groups one level up, ..., finally the whole universe. Only the sets that differ from the previous one are listed.
    """
    kept_set = frozenset(kept)
    all_items = frozenset(universe) | kept_set
    depth = max((item.count("/") for item in kept_set), default=0)
    result: list[frozenset[str]] = []
    previous = kept_set
    for d in range(depth, 0, -1):
        prefixes = {_prefix(item, d) for item in kept_set if item.count("/") >= d}
        grown = previous | {item for item in all_items if item.count("/") >= d and _prefix(item, d) in prefixes}
        if grown != previous:
            result.append(grown)
            previous = grown
    if all_items != previous:
        result.append(all_items)
    return result


def _prefix(item: str, depth: int) -> str:
    """The group of ``item`` at ``depth`` (``"a/b/"`` for depth 2 of ``"a/b/c/d"``)."""
    return "/".join(item.split("/")[:depth]) + "/"


class Reducer:
    """Minimise a set of weighted items against an oracle; see the module docstring.

    ``items`` maps each item to its weight. ``required`` items are in every candidate and never tried for removal
    (they need not be in ``items``; their weight is then 0). ``cache`` maps a candidate's key — the candidate set
    itself, or ``cache_key(candidate)`` (e.g. :func:`candidate_key` for a persistent cache) — to its result, and
    may be shared between reducers. Methods are not re-entrant: call them from one thread.
    """

    def __init__(
        self,
        items: Mapping[str, int],
        oracle: Oracle,
        *,
        jobs: int = 1,
        budget: Budget | None = None,
        required: Iterable[str] = (),
        progress: Callable[[ProgressEvent], None] | None = None,
        cache: VerdictCache | None = None,
        cache_key: Callable[[frozenset[str]], CacheKey] | None = None,
    ) -> None:
        if jobs < 1:
            raise ValueError(f"jobs must be at least 1, not {jobs}")
        weights: dict[str, int] = dict(items)
        negative = [item for item, w in weights.items() if w < 0]
        if negative:
            raise ValueError(f"negative weight for {negative[0]!r}")
        self.jobs = jobs
        self.budget = budget if budget is not None else Budget()
        self._weights = weights
        self._required = frozenset(required)
        self._full = frozenset(weights) | self._required
        self._ledger = Ledger(
            weights, self._full, oracle, budget=self.budget, cache=cache, cache_key=cache_key, progress=progress
        )
        self._hierarchy = Hierarchy(weights, self._required)
        self._driver = Driver() if jobs == 1 else Speculator(jobs)
        self._timing_depth = 0

    # -- public properties --------------------------------------------------------------------------------------

    @property
    def stats(self) -> Stats:
        return self._ledger.stats

    @property
    def best(self) -> frozenset[str]:
        """The lightest set the oracle passed so far (speculative runs included, so with ``jobs > 1`` it may be
        lighter than what the methods return); the full set, unverified, while nothing has passed."""
        return self._ledger.best.kept

    @property
    def best_verified(self) -> bool:
        """Whether :attr:`best` was passed by the oracle (False only while nothing has passed)."""
        return self._ledger.best.verified

    @property
    def full(self) -> frozenset[str]:
        return self._full

    @property
    def required(self) -> frozenset[str]:
        return self._required

    @property
    def total_weight(self) -> int:
        return self._ledger.total

    def remaining(self) -> tuple[int, bool] | None:
        """An estimate of the runs left in the method being run (None between methods) and whether it is only a
        lower bound. For progress displays: the algorithms don't know their future exactly."""
        machine = self._driver.current
        return machine.remaining() if machine is not None else None

    def weight(self, kept: Iterable[str]) -> int:
        return self._ledger.weight(kept)

    # -- running candidates -------------------------------------------------------------------------------------

    def test(self, kept: Iterable[str], phase: str) -> bool:
        """Whether ``kept`` (plus the required items) passes: from the cache, or one oracle run counted under
        ``phase``. A pass updates :attr:`best`. Raises :class:`BudgetExhausted` if a run is needed but not allowed."""
        candidate = self._complete(kept)
        with self._timed():
            known = self._ledger.decide(candidate, phase)
            if known is None:
                raise BudgetExhausted(f"budget spent after {self._ledger.started} runs")
            return known

    def try_candidate(self, kept: frozenset[str]) -> bool:
        """Like :meth:`test` (phase ``"try"``), but a spent budget gives False: True means "proved to pass"."""
        try:
            return self.test(kept, "try")
        except BudgetExhausted:
            return False

    # -- algorithms ---------------------------------------------------------------------------------------------

    def reduce_hierarchical(self, start: Iterable[str] | None = None) -> frozenset[str]:
        """Reduce ``start`` (default: all items) level by level; see :mod:`slimwheel.machines`.

        Returns the reduced set, which the oracle passed. If ``start`` itself fails, returns the lightest set that
        passed in this reducer's earlier calls (ignoring speculative runs, so that ``jobs`` cannot change it), or
        the full set, unverified, if none did. When the budget runs out, returns the lighter of the reduction so
        far and :attr:`best` (the full set, unverified, if nothing passed)."""
        begin = self._start_set(start)
        with self._timed():
            machine = self._drive(StartCheck(begin, self._hierarchy.machine), "hierarchical")
            return self._conclude(machine)

    def certify(self, start: Iterable[str] | None = None, *, strict: bool = False) -> frozenset[str]:
        """Make ``start`` 1-minimal: try removing each remaining (non-required) item once, heaviest first.

        With a monotone oracle the result is 1-minimal (removing any single item fails). With ``strict=True``,
        passes repeat until one removes nothing, so every kept item failed against the final set itself, whatever
        the oracle. Same return rules as :meth:`reduce_hierarchical`."""
        begin = self._start_set(start)
        order = tuple(sorted(begin - self._required, key=lambda item: (-self._weights.get(item, 0), item)))
        with self._timed():
            machine = self._drive(StartCheck(begin, lambda kept: Certify.start(order, kept, strict)), "certify")
            return self._conclude(machine)

    def minimize(self, start: Iterable[str] | None = None) -> frozenset[str]:
        """:meth:`reduce_hierarchical`, then :meth:`certify` on its result."""
        return self.certify(self.reduce_hierarchical(start))

    def repair(self, failing: frozenset[str], extra_candidates: Sequence[frozenset[str]]) -> frozenset[str] | None:
        """Grow a failing set until it passes: try ``failing | extra`` for each of ``extra_candidates`` in order
        (pass either the supersets or just what to add) and return the first that passes, or None if none does
        (or the budget runs out first). See :func:`expansions` for a ready-made list of growing supersets."""
        base = self._complete(failing)
        candidates: list[frozenset[str]] = []
        for extra in extra_candidates:
            candidate = self._complete(base | extra)
            if candidate not in candidates:
                candidates.append(candidate)
        if not candidates:
            return None
        with self._timed():
            return self._drive(Repair(tuple(candidates)), "repair").result

    # -- internals ----------------------------------------------------------------------------------------------

    def _start_set(self, start: Iterable[str] | None) -> frozenset[str]:
        begin = self._full if start is None else self._complete(start)
        unknown = begin - self._full
        if unknown:
            raise ValueError(f"start has {len(unknown)} unknown item(s), e.g. {min(unknown)!r}")
        return begin

    def _complete(self, kept: Iterable[str]) -> frozenset[str]:
        candidate = kept if isinstance(kept, frozenset) else frozenset(kept)
        return candidate if self._required <= candidate else candidate | self._required

    def _drive(self, machine: Machine, phase: str) -> Machine:
        """Run ``machine`` to the end or until the budget is spent (serially, or speculatively with ``jobs > 1``)."""
        return self._driver.drive(machine, phase, self._ledger)

    def _conclude(self, machine: Machine) -> frozenset[str]:
        result = machine.result
        best = self._ledger.best
        if machine.candidate is not None:  # stopped by the budget: the best verified set may be the better answer
            if result is None or (best.verified and best.weight < self.weight(result)):
                return best.kept
            return result
        # The start failed: the best on decision paths, not over speculative runs, so that jobs cannot change it.
        return self._ledger.path_best.kept if result is None else result

    @contextmanager
    def _timed(self) -> Iterator[None]:
        self._timing_depth += 1
        begin = time.monotonic()
        try:
            yield
        finally:
            self._timing_depth -= 1
            if self._timing_depth == 0:
                self.stats.seconds += time.monotonic() - begin
