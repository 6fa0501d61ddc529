"""Minimise a set of items against an oracle: hierarchical probabilistic delta debugging.

This module knows nothing about wheels, files or processes. It sees *items* (strings), their *weights* (ints,
e.g. bytes) and an *oracle* that says whether a candidate set of kept items "passes". Items form a tree through
their ``/``-separated keys: ``"a/b/c.py"`` lies in group ``"a/b/"``, which lies in group ``"a/"``.

Guarantees
==========

* Every set this module returns as a result was **passed by the oracle** (the one exception, documented on each
  method, is the fallback "full set" returned when nothing passed at all). Monotonicity ("a superset of a passing
  set passes") is assumed only to choose *which* candidates to try, never to accept one: a result is always a
  set that was actually run and passed. A failure is just a failure.
* ``required`` items are part of every candidate the oracle sees.
* The same candidate is never run twice (a cache keyed by the candidate set, or by :func:`candidate_key` when
  a string key is wanted for a persistent cache).
* ``Budget`` (number of runs, deadline) is checked before each run; when it is spent the methods stop cleanly
  and return the best verified set. The last ``2 * jobs`` runs of a ``max_runs`` budget are not speculated.
* With ``jobs > 1`` candidates are evaluated speculatively in a thread pool, but results are applied along the
  deterministic decision path, so a deterministic oracle gives the same result for every ``jobs``.

Algorithm: hierarchical, probabilistic delta debugging
======================================================

:meth:`Reducer.reduce_hierarchical` walks the tree level by level from the top, like HDD (Misherghi & Su, ICSE
2006): at depth *d* the *units* are the children (sub-groups and items) of the groups that survived depth
*d - 1*; removing a unit removes all its items. Inside a level it runs a **probabilistic delta debugging** in
the spirit of ProbDD (Wang et al., "Probabilistic Delta Debugging", FSE 2021), chosen over a tuned ddmin because:

* it is built for the common case here — *most* units are removable (about 85% of a wheel's files) — while
  ddmin starts from "keep one half" tests that nearly always fail and then needs about one run per item anyway
  (997 runs vs 1,042 for one-at-a-time on numpy);
* it needs no tuning of chunk sizes: the size of each deletion follows from the current estimate of how many
  units are needed, so it tries big deletions when those are likely to pass and single units when they are not;
* its probabilities directly say how likely a candidate is to pass, which is what the speculative parallel
  executor needs to decide which of the next candidates to run ahead of time;
* weights fit naturally: it maximises the expected number of *bytes* removed, so heavy units go first.

The model, per level. Each unit is needed with a prior probability *q*, independently. What the runs have
taught is kept exactly, as a list of disjoint *constraints* — sets of units known to contain at least one needed
unit (a deletion that failed) — plus a pool of *free* units with no such knowledge. Each step deletes the set
``D`` with the largest expected gain ``weight(D) * P(deleting D passes)``, where ``D`` is either a prefix of the
free pool or a proper prefix of one constraint (units ordered heaviest first), and ``P`` is the exact posterior
under the model::

    P(D ⊆ free passes)  = (1-q)^|D|
    P(D ⊂ F passes)     = (1-q)^|D| * (1 - (1-q)^|F-D|) / (1 - (1-q)^|F|)

A deletion that passes removes ``D`` (and shrinks any constraint it cut into). One that fails becomes a new
constraint; if ``D`` was part of a constraint ``F``, ``D`` replaces ``F`` (``D`` explains the failure of ``F``)
and ``F - D`` goes back to the free pool. So the constraints stay disjoint, and a constraint of size one means
"this unit is needed" (under monotonicity: every other unit of the failed deletion was removed later). The level
is done when the free pool is empty and every constraint has size one — each surviving unit then failed to be
deleted, alone or as the last survivor of a failed deletion. Units whose parent group survived the level above
start inside that parent's constraint ("one of my children is needed"): a group with a single child costs no
run at all, and deletions never mix children of different parents until a failure frees them.

Differences from the paper's ProbDD: the paper keeps one probability per unit and updates it multiplicatively
after each failure; here the probabilities are computed exactly from the disjoint constraints (so "one of these
two is needed" is not overcounted), *q* is re-estimated from what the level has shown so far (maximum a
posteriori under a weak prior, counting failed deletions as "at least one needed"), and the gain is weighted.

:meth:`Reducer.certify` then makes the result 1-minimal item by item: it tries removing each remaining item,
heaviest first — at least one failing run per kept item is unavoidable for a proof. After the hierarchical pass
this costs up to one more run per kept item: the level's own single-unit runs were made against larger sets (or
skipped, when a unit was the last survivor of a failed deletion), and only runs against the final set prove it.
:meth:`Reducer.repair` grows a failing set (e.g. derived from a trace) by trying candidate supersets in order.

Parallelism: every algorithm is a deterministic state machine (candidate → result → next state). With
``jobs > 1`` the executor expands the tree of possible futures best-first by the model's probabilities and runs
the most likely next candidates ahead of time; it always follows the path of actual results, so the result does
not depend on ``jobs``. Runs on branches not taken are counted in :attr:`Stats.wasted`.

:func:`classic_ddmin` is Zeller & Hildebrandt's ddmin, kept **only as a comparison baseline** for tests and
benchmarks.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import math
import time
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Protocol

__all__ = [
    "Budget",
    "BudgetExhausted",
    "CacheKey",
    "Oracle",
    "ProgressEvent",
    "Reducer",
    "Stats",
    "candidate_key",
    "classic_ddmin",
    "expansions",
]

CacheKey = frozenset[str] | str

#: Prior probability that a unit is needed, before a level has shown anything (re-estimated as runs come in).
PRIOR_NEEDED = 0.2
#: Weight of that prior, in units' worth of evidence.
PRIOR_STRENGTH = 4.0
_Q_MIN, _Q_MAX = 0.01, 0.95


class Oracle(Protocol):
    """Says whether a candidate passes. May be slow (a subprocess); must be thread-safe when ``jobs > 1``."""

    def __call__(self, kept: frozenset[str], /) -> bool: ...


class BudgetExhausted(Exception):
    """:meth:`Reducer.test` needed a run but the budget (runs or deadline) is spent."""


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


def candidate_key(kept: Iterable[str]) -> str:
    """A stable string key for a candidate: sha256 of its items, sorted, joined by ``"\\n"`` (for persistent caches)."""
    data = "\n".join(sorted(kept)).encode("utf-8", "surrogatepass")
    return hashlib.sha256(data).hexdigest()


def _same_set(kept: frozenset[str]) -> CacheKey:
    return kept


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


# --------------------------------------------------------------------------------------------------------------
# State machines. Each algorithm is a chain of immutable states: ``candidate`` is the next set to run (None once
# finished), ``advance(passed)`` is the state after that result, ``result`` is the current verified set (None if
# nothing is verified yet) and ``p_pass`` the model's estimate that ``candidate`` passes (for speculation only).
# --------------------------------------------------------------------------------------------------------------


class _Machine(ABC):
    p_pass: float = 0.5

    @property
    @abstractmethod
    def candidate(self) -> frozenset[str] | None: ...

    @property
    @abstractmethod
    def result(self) -> frozenset[str] | None: ...

    @abstractmethod
    def advance(self, passed: bool) -> _Machine: ...

    def remaining(self) -> tuple[int, bool]:
        """An estimate of the runs left (for progress displays, never for decisions) and whether more may follow
        that the estimate can't see (a lower bound)."""
        return 1, True


class _Finished(_Machine):
    def __init__(self, result: frozenset[str] | None) -> None:
        self._result = result

    @property
    def candidate(self) -> None:
        return None

    @property
    def result(self) -> frozenset[str] | None:
        return self._result

    def advance(self, passed: bool) -> _Machine:
        raise AssertionError("a finished machine has no candidate")

    def remaining(self) -> tuple[int, bool]:
        return 0, False


class _StartCheck(_Machine):
    """Run the start set first (free when the cache knows it passed), then hand over to the real algorithm."""

    p_pass = 0.9

    def __init__(self, start: frozenset[str], then: Callable[[frozenset[str]], _Machine]) -> None:
        self._start = start
        self._then = then

    @property
    def candidate(self) -> frozenset[str]:
        return self._start

    @property
    def result(self) -> None:
        return None

    def advance(self, passed: bool) -> _Machine:
        return self._then(self._start) if passed else _Finished(None)


@dataclass(frozen=True)
class _Level:
    """One level of the tree, fixed while the level is reduced."""

    depth: int
    items: Mapping[str, frozenset[str]]  # unit -> its removable items
    weight: Mapping[str, int]  # unit -> effective weight (each item counts at least 1)
    rank: Mapping[str, int]  # unit -> position, heaviest first then by name
    prior: float


def _estimate_q(prior: float, needed: int, removed: int, sizes: Iterable[int]) -> float:
    """Estimate the probability that a unit is needed (EM-style fixed point): a Beta prior, the units known to be
    needed or removed, and each open constraint of size ``s`` counted as its expected number of needed units given
    "at least one"."""
    a = prior * PRIOR_STRENGTH
    b = (1.0 - prior) * PRIOR_STRENGTH
    counts = Counter(sizes)
    total = a + b + needed + removed + sum(s * c for s, c in counts.items())
    q = min(max(prior, _Q_MIN), _Q_MAX)
    for _ in range(50):
        expected = sum(c * s * q / (1.0 - (1.0 - q) ** s) for s, c in counts.items())
        new = min(max((a + needed + expected) / total, _Q_MIN), _Q_MAX)
        if abs(new - q) < 1e-5:
            return new
        q = new
    return q


class _LevelState:
    """ProbDD-style reduction of one level: free pool, disjoint constraints, units known needed."""

    __slots__ = (
        "_candidate",
        "constraints",
        "deletion",
        "free",
        "kept",
        "level",
        "needed",
        "p_pass",
        "q",
        "removed",
        "source",
    )

    def __init__(
        self,
        level: _Level,
        kept: frozenset[str],
        free: tuple[str, ...],
        constraints: Iterable[tuple[str, ...]],
        needed: frozenset[str],
        removed: int,
    ) -> None:
        self.level = level
        self.kept = kept
        self.free = free
        open_constraints: list[tuple[str, ...]] = []
        new_needed: list[str] = []
        for constraint in constraints:
            if len(constraint) >= 2:
                open_constraints.append(constraint)
            elif len(constraint) == 1:
                new_needed.append(constraint[0])
            # An empty constraint contradicts monotonicity (all of a failed deletion was removed piecewise): drop it.
        self.constraints = tuple(open_constraints)
        self.needed = needed | frozenset(new_needed)
        self.removed = removed
        self.q = _estimate_q(level.prior, len(self.needed), removed, (len(c) for c in self.constraints))
        self._candidate: frozenset[str] | None = None
        self.deletion: tuple[str, ...] | None
        self.source: int
        self.deletion, self.source, self.p_pass = self._choose()

    def _choose(self) -> tuple[tuple[str, ...] | None, int, float]:
        """The deletion with the largest expected gain: a prefix of the free pool or a proper prefix of a constraint."""
        keep = 1.0 - self.q
        weight = self.level.weight
        best_gain = 0.0
        best: tuple[tuple[str, ...] | None, int, float] = (None, -1, 0.0)
        remaining = sum(weight[u] for u in self.free)
        total, p = 0, 1.0
        for k, unit in enumerate(self.free, 1):
            w = weight[unit]
            total += w
            remaining -= w
            p *= keep
            if total * p > best_gain:
                best_gain, best = total * p, (self.free[:k], -1, p)
            elif (total + remaining) * p <= best_gain:
                break  # no longer prefix can beat it: its gain is below (all the weight) * (a smaller p)
        for index, constraint in enumerate(self.constraints):
            size = len(constraint)
            denominator = 1.0 - keep**size
            total, p_deleted = 0, 1.0
            for k in range(1, size):
                total += weight[constraint[k - 1]]
                p_deleted *= keep
                p = p_deleted * (1.0 - keep ** (size - k)) / denominator
                if total * p > best_gain:
                    best_gain, best = total * p, (constraint[:k], index, p)
        return best

    @property
    def done(self) -> bool:
        return self.deletion is None

    @property
    def candidate(self) -> frozenset[str] | None:
        if self.deletion is None:
            return None
        if self._candidate is None:
            items = self.level.items
            self._candidate = self.kept.difference(*(items[u] for u in self.deletion))
        return self._candidate

    def advance(self, passed: bool) -> _LevelState:
        deletion = self.deletion
        assert deletion is not None
        gone = frozenset(deletion)
        constraints = list(self.constraints)
        free = self.free
        if passed:
            candidate = self.candidate
            assert candidate is not None
            if self.source == -1:
                free = tuple(u for u in free if u not in gone)
            else:
                constraints[self.source] = tuple(u for u in constraints[self.source] if u not in gone)
            return _LevelState(self.level, candidate, free, constraints, self.needed, self.removed + len(deletion))
        if self.source == -1:
            free = tuple(u for u in free if u not in gone)
            constraints.append(deletion)
        else:
            rank = self.level.rank
            freed = [u for u in constraints[self.source] if u not in gone]
            free = tuple(sorted((*free, *freed), key=rank.__getitem__))
            constraints[self.source] = deletion
        return _LevelState(self.level, self.kept, free, constraints, self.needed, self.removed)


class _Hierarchical(_Machine):
    def __init__(self, owner: Reducer, state: _LevelState) -> None:
        self._owner = owner
        self._state = state
        self.p_pass = state.p_pass

    @property
    def candidate(self) -> frozenset[str] | None:
        return self._state.candidate

    @property
    def result(self) -> frozenset[str]:
        return self._state.kept

    def remaining(self) -> tuple[int, bool]:
        # About q·n·log2(n/(q·n)) runs for n free units of which a fraction q is needed, plus a binary search per
        # open constraint; deeper levels are unknown until this one ends.
        state = self._state
        n = len(state.free)
        needed = max(1.0, state.q * n)
        runs = needed * max(1.0, math.log2(max(n / needed, 1.0)) + 1.0) if n else 0.0
        runs += sum(math.ceil(math.log2(len(c))) for c in state.constraints)
        return max(1, math.ceil(runs)), True

    def advance(self, passed: bool) -> _Machine:
        state = self._state.advance(passed)
        if not state.done:
            return _Hierarchical(self._owner, state)
        return self._owner._hierarchy_from(state.kept, state.level.depth + 1)


class _Certify(_Machine):
    """Try removing each item of ``order`` in turn; ``strict`` repeats passes until one removes nothing."""

    def __init__(
        self,
        order: tuple[str, ...],
        index: int,
        kept: frozenset[str],
        *,
        strict: bool,
        removed_in_pass: bool = False,
        tried: int = 0,
        removed: int = 0,
    ) -> None:
        self._order = order
        self._index = index
        self._kept = kept
        self._strict = strict
        self._removed_in_pass = removed_in_pass
        self._tried = tried
        self._removed = removed
        self.p_pass = (removed + 0.5) / (tried + 4.0)

    @staticmethod
    def start(order: tuple[str, ...], kept: frozenset[str], strict: bool) -> _Machine:
        return _Certify(order, 0, kept, strict=strict)._settle()

    def _settle(self) -> _Machine:
        if self._index < len(self._order):
            return self
        if self._strict and self._removed_in_pass:
            order = tuple(item for item in self._order if item in self._kept)
            return _Certify(order, 0, self._kept, strict=True, tried=self._tried, removed=self._removed)._settle()
        return _Finished(self._kept)

    @property
    def candidate(self) -> frozenset[str]:
        return self._kept - {self._order[self._index]}

    def remaining(self) -> tuple[int, bool]:
        return len(self._order) - self._index, self._strict

    @property
    def result(self) -> frozenset[str]:
        return self._kept

    def advance(self, passed: bool) -> _Machine:
        kept = self.candidate if passed else self._kept
        return _Certify(
            self._order,
            self._index + 1,
            kept,
            strict=self._strict,
            removed_in_pass=self._removed_in_pass or passed,
            tried=self._tried + 1,
            removed=self._removed + passed,
        )._settle()


class _Repair(_Machine):
    p_pass = 0.3

    def __init__(self, candidates: tuple[frozenset[str], ...], index: int = 0) -> None:
        self._candidates = candidates
        self._index = index

    @property
    def candidate(self) -> frozenset[str]:
        return self._candidates[self._index]

    def remaining(self) -> tuple[int, bool]:
        return len(self._candidates) - self._index, False  # at most

    @property
    def result(self) -> None:
        return None

    def advance(self, passed: bool) -> _Machine:
        if passed:
            return _Finished(self._candidates[self._index])
        if self._index + 1 < len(self._candidates):
            return _Repair(self._candidates, self._index + 1)
        return _Finished(None)


class _Node:
    """A node of the speculation tree: a machine state and its (memoised) successors."""

    __slots__ = ("children", "key", "machine")

    def __init__(self, machine: _Machine) -> None:
        self.machine = machine
        self.children: dict[bool, _Node] = {}
        self.key: CacheKey | None = None  # the cache key of the machine's candidate, once computed

    def child(self, passed: bool) -> _Node:
        node = self.children.get(passed)
        if node is None:
            node = self.children[passed] = _Node(self.machine.advance(passed))
        return node


class _Best:
    """The lightest passing set offered so far (ties: fewer items, then the first in sorted order); until one is
    offered, the full set, unverified."""

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


@dataclass
class _InFlight:
    seq: int
    candidate: frozenset[str]
    future: Future[bool]


# --------------------------------------------------------------------------------------------------------------


class Reducer:
    """Minimise a set of weighted items against an oracle; see the module docstring for the algorithms.

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
        cache: MutableMapping[CacheKey, bool] | None = None,
        cache_key: Callable[[frozenset[str]], CacheKey] | None = None,
    ) -> None:
        if jobs < 1:
            raise ValueError(f"jobs must be at least 1, not {jobs}")
        self._weights: dict[str, int] = dict(items)
        negative = [item for item, w in self._weights.items() if w < 0]
        if negative:
            raise ValueError(f"negative weight for {negative[0]!r}")
        self._oracle = oracle
        self.jobs = jobs
        self.budget = budget if budget is not None else Budget()
        self._required = frozenset(required)
        self._full = frozenset(self._weights) | self._required
        self._total = self.weight(self._full)
        self._progress = progress
        self._cache: MutableMapping[CacheKey, bool] = cache if cache is not None else {}
        self._key = cache_key if cache_key is not None else _same_set
        self.stats = Stats()
        self._started = 0  # oracle calls started (the budget counts these)
        self._best = _Best(self._full, self._total)  # over every run, speculative ones included
        self._path_best = _Best(self._full, self._total)  # over the runs on decision paths: the same for any jobs
        self._timing_depth = 0
        self._parts: dict[str, list[str]] = {}
        self._current: _Machine | None = None  # the machine being driven, for :meth:`remaining`

    # -- public properties --------------------------------------------------------------------------------------

    @property
    def best(self) -> frozenset[str]:
        """The lightest set the oracle passed so far (speculative runs included, so with ``jobs > 1`` it may be
        lighter than what the methods return); the full set, unverified, while nothing has passed."""
        return self._best.kept

    @property
    def best_verified(self) -> bool:
        """Whether :attr:`best` was passed by the oracle (False only while nothing has passed)."""
        return self._best.verified

    @property
    def full(self) -> frozenset[str]:
        return self._full

    @property
    def required(self) -> frozenset[str]:
        return self._required

    @property
    def total_weight(self) -> int:
        return self._total

    def remaining(self) -> tuple[int, bool] | None:
        """An estimate of the runs left in the method being run (None between methods) and whether it is only a
        lower bound. For progress displays: the algorithms don't know their future exactly."""
        machine = self._current
        return machine.remaining() if machine is not None else None

    def weight(self, kept: Iterable[str]) -> int:
        weights = self._weights
        return sum(weights.get(item, 0) for item in kept)

    # -- running candidates -------------------------------------------------------------------------------------

    def test(self, kept: Iterable[str], phase: str) -> bool:
        """Whether ``kept`` (plus the required items) passes: from the cache, or one oracle run counted under
        ``phase``. A pass updates :attr:`best`. Raises :class:`BudgetExhausted` if a run is needed but not allowed."""
        candidate = self._complete(kept)
        with self._timed():
            known = self._lookup(candidate)
            if known is not None:
                self.stats.cached += 1
            else:
                if not self.budget.allows(self._started):
                    raise BudgetExhausted(f"budget spent after {self._started} runs")
                self._started += 1
                known = bool(self._oracle(candidate))
                self._record(candidate, phase, known)
            self._on_path(candidate, known)
            return known

    def try_candidate(self, kept: frozenset[str]) -> bool:
        """Like :meth:`test` (phase ``"try"``), but a spent budget gives False: True means "proved to pass"."""
        try:
            return self.test(kept, "try")
        except BudgetExhausted:
            return False

    # -- algorithms ---------------------------------------------------------------------------------------------

    def reduce_hierarchical(self, start: Iterable[str] | None = None) -> frozenset[str]:
        """Reduce ``start`` (default: all items) level by level; see the module docstring.

        Returns the reduced set, which the oracle passed. If ``start`` itself fails, returns the lightest set that
        passed in this reducer's earlier calls (ignoring speculative runs, so that ``jobs`` cannot change it), or
        the full set, unverified, if none did. When the budget runs out, returns the lighter of the reduction so
        far and :attr:`best` (the full set, unverified, if nothing passed)."""
        begin = self._start_set(start)
        with self._timed():
            machine = self._drive(_StartCheck(begin, lambda kept: self._hierarchy_from(kept, 1)), "hierarchical")
            return self._conclude(machine)

    def certify(self, start: Iterable[str] | None = None, *, strict: bool = False) -> frozenset[str]:
        """Make ``start`` 1-minimal: try removing each remaining (non-required) item once, heaviest first.

        With a monotone oracle the result is 1-minimal (removing any single item fails). With ``strict=True``,
        passes repeat until one removes nothing, so every kept item failed against the final set itself, whatever
        the oracle. Same return rules as :meth:`reduce_hierarchical`."""
        begin = self._start_set(start)
        order = tuple(sorted(begin - self._required, key=lambda item: (-self._weights.get(item, 0), item)))
        with self._timed():
            machine = self._drive(_StartCheck(begin, lambda kept: _Certify.start(order, kept, strict)), "certify")
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
            return self._drive(_Repair(tuple(candidates)), "repair").result

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

    def _conclude(self, machine: _Machine) -> frozenset[str]:
        result = machine.result
        if machine.candidate is not None:  # stopped by the budget: the best verified set may be the better answer
            if result is None or (self._best.verified and self._best.weight < self.weight(result)):
                return self._best.kept
            return result
        # The start failed: the best on decision paths, not over speculative runs, so that jobs cannot change it.
        return self._path_best.kept if result is None else result

    def _on_path(self, candidate: frozenset[str], passed: bool) -> None:
        """A result the decision path used (as opposed to a speculative one that may stay unused)."""
        if passed:
            self._path_best.offer(candidate, self.weight(candidate))

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

    def _lookup(self, candidate: frozenset[str]) -> bool | None:
        known = self._cache.get(self._key(candidate))
        if known is not None and known:
            self._best.offer(candidate, self.weight(candidate))  # e.g. a pass remembered by a persistent cache
        return known

    def _record(self, candidate: frozenset[str], phase: str, passed: bool) -> None:
        self._cache[self._key(candidate)] = passed
        stats = self.stats
        stats.runs += 1
        stats.per_phase[phase] = stats.per_phase.get(phase, 0) + 1
        if passed:
            stats.passes += 1
            self._best.offer(candidate, self.weight(candidate))
        else:
            stats.fails += 1
        if self._progress is not None:
            best = self._best
            event = ProgressEvent(
                phase, stats.runs, best.weight, len(best.kept), self._total, passed, self.weight(candidate)
            )
            self._progress(event)

    def _hierarchy_from(self, kept: frozenset[str], depth: int) -> _Machine:
        """The hierarchical machine positioned at the first level (from ``depth`` down) that has anything to try."""
        prior = PRIOR_NEEDED
        while True:
            state = self._level_state(kept, depth, prior)
            if state is None:
                return _Finished(kept)
            if not state.done:
                return _Hierarchical(self, state)
            depth += 1

    def _level_state(self, kept: frozenset[str], depth: int, prior: float) -> _LevelState | None:
        """The units at ``depth`` and the starting knowledge about them, or None when no item is that deep."""
        members: dict[str, list[str]] = {}
        parent_of: dict[str, str] = {}
        for item in kept - self._required:
            parts = self._parts.get(item)
            if parts is None:
                parts = self._parts[item] = item.split("/")
            if len(parts) < depth:
                continue
            unit = item if len(parts) == depth else "/".join(parts[:depth]) + "/"
            members.setdefault(unit, []).append(item)
            if depth > 1:
                parent_of[unit] = "/".join(parts[: depth - 1]) + "/"
        if not members:
            return None
        weights = self._weights
        unit_items = {unit: frozenset(its) for unit, its in members.items()}
        unit_weight = {unit: sum(max(weights.get(item, 0), 1) for item in its) for unit, its in members.items()}
        order = sorted(members, key=lambda unit: (-unit_weight[unit], unit))
        rank = {unit: i for i, unit in enumerate(order)}
        level = _Level(depth, unit_items, unit_weight, rank, prior)
        if depth == 1:
            return _LevelState(level, kept, tuple(order), (), frozenset(), 0)
        # Every group that survived the level above was shown to be needed: one of its children is needed.
        children: dict[str, list[str]] = {}
        for unit in order:
            children.setdefault(parent_of[unit], []).append(unit)
        constraints = [tuple(units) for _, units in sorted(children.items())]
        return _LevelState(level, kept, (), constraints, frozenset(), 0)

    # -- the executor -------------------------------------------------------------------------------------------

    def _drive(self, machine: _Machine, phase: str) -> _Machine:
        """Run ``machine`` to the end or until the budget is spent; returns its last state."""
        try:
            return self._drive_machine(machine, phase)
        finally:
            self._current = None

    def _drive_machine(self, machine: _Machine, phase: str) -> _Machine:
        if self.jobs == 1:
            while (candidate := machine.candidate) is not None:
                self._current = machine
                known = self._lookup(candidate)
                if known is None:
                    if not self.budget.allows(self._started):
                        break
                    self._started += 1
                    known = bool(self._oracle(candidate))
                    self._record(candidate, phase, known)
                else:
                    self.stats.cached += 1
                self._on_path(candidate, known)
                machine = machine.advance(known)
            return machine
        return self._drive_parallel(machine, phase)

    def _drive_parallel(self, machine: _Machine, phase: str) -> _Machine:
        root = _Node(machine)
        in_flight: dict[CacheKey, _InFlight] = {}
        submitted: set[CacheKey] = set()
        used: set[CacheKey] = set()
        seq = itertools.count()
        pool = ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="slimwheel-reduce")
        try:
            while (candidate := root.machine.candidate) is not None:
                self._current = root.machine
                key = self._node_key(root, candidate)
                known = self._lookup(candidate)
                if known is not None:
                    if key in submitted:
                        used.add(key)
                    else:
                        self.stats.cached += 1
                    self._on_path(candidate, known)
                    root = root.child(known)
                    continue
                self._speculate(root, in_flight, submitted, seq, pool)
                if key not in in_flight and not in_flight:
                    break  # the budget does not allow this run (when runs are in flight, the workers may be full)
                done, _ = wait([f.future for f in in_flight.values()], return_when=FIRST_COMPLETED)
                self._collect(in_flight, phase, only={id(f) for f in done})
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        # Speculative runs still going: wait for them (they were started; their answers go into the cache).
        wait([f.future for f in in_flight.values()])
        self._collect(in_flight, phase, only=None)
        pool.shutdown(wait=True)
        self.stats.wasted += len(submitted - used)
        return root.machine

    def _speculate(
        self,
        root: _Node,
        in_flight: dict[CacheKey, _InFlight],
        submitted: set[CacheKey],
        seq: Iterator[int],
        pool: ThreadPoolExecutor,
    ) -> None:
        """Fill free workers with the most probable upcoming candidates (best-first over the decision tree)."""
        free = self.jobs - len(in_flight)
        heap: list[tuple[float, int, _Node]] = [(-1.0, 0, root)]
        order = itertools.count(1)
        expanded = 0
        while heap and free > 0 and expanded < 16 * self.jobs:
            neg_p, _, node = heapq.heappop(heap)
            expanded += 1
            candidate = node.machine.candidate
            if candidate is None:
                continue
            key = self._node_key(node, candidate)
            known = self._cache.get(key)
            if known is not None:
                heapq.heappush(heap, (neg_p, next(order), node.child(known)))
                continue
            if key not in in_flight:
                if not self.budget.allows(self._started) or (node is not root and not self._may_speculate()):
                    return
                self._started += 1
                in_flight[key] = _InFlight(next(seq), candidate, pool.submit(self._oracle, candidate))
                submitted.add(key)
                free -= 1
            p_pass = min(max(node.machine.p_pass, 0.01), 0.99)
            heapq.heappush(heap, (neg_p * p_pass, next(order), node.child(True)))
            heapq.heappush(heap, (neg_p * (1.0 - p_pass), next(order), node.child(False)))

    def _node_key(self, node: _Node, candidate: frozenset[str]) -> CacheKey:
        if node.key is None:
            node.key = self._key(candidate)
        return node.key

    def _may_speculate(self) -> bool:
        """Near the end of a run budget, runs go to the decision path only (speculation would waste them)."""
        max_runs = self.budget.max_runs
        return max_runs is None or max_runs - self._started > 2 * self.jobs

    def _collect(self, in_flight: dict[CacheKey, _InFlight], phase: str, only: set[int] | None) -> None:
        """Record finished runs, in submission order."""
        finished = [
            (key, run)
            for key, run in in_flight.items()
            if (only is None or id(run.future) in only) and run.future.done()
        ]
        for key, run in sorted(finished, key=lambda kr: kr[1].seq):
            del in_flight[key]
            self._record(run.candidate, phase, bool(run.future.result()))


# --------------------------------------------------------------------------------------------------------------
# COMPARISON BASELINE ONLY — not used by slimwheel itself.
# --------------------------------------------------------------------------------------------------------------


def classic_ddmin(reducer: Reducer, start: Iterable[str] | None = None, *, subsets: bool = True) -> frozenset[str]:
    """**Baseline for tests and benchmarks**: Zeller & Hildebrandt's ddmin (TSE 2002) on the flat, sorted list of
    removable items, through ``reducer.test`` (phase ``"ddmin"``, so the cache, budget and counts are shared).

    Split the current list into ``n`` chunks. If keeping only one chunk passes, continue with it and ``n = 2``;
    else if removing one chunk passes, continue with the rest and ``n - 1``; else double ``n`` (up to the number of
    items) or stop. As in common implementations (picire, the Debugging Book), the complements are tried starting
    after the last one removed rather than from the first, and ``subsets=False`` skips the "keep one chunk" tests
    (which nearly always fail when many items are needed). Returns the last passing set, or ``reducer.best`` if
    the start fails or the budget runs out before it could be run.
    """
    required = reducer.required
    begin = reducer.full if start is None else frozenset(start) | required
    current = sorted(begin - required)
    try:
        if not reducer.test(begin, "ddmin"):
            return reducer.best
    except BudgetExhausted:
        return reducer.best
    try:
        n, offset = 2, 0
        while len(current) >= 2:
            size = len(current)
            bounds = [size * i // n for i in range(n + 1)]
            chunks = [current[bounds[i] : bounds[i + 1]] for i in range(n)]
            if subsets:
                kept_chunk = next((chunk for chunk in chunks if reducer.test(chunk, "ddmin")), None)
                if kept_chunk is not None:
                    current, n, offset = kept_chunk, 2, 0
                    continue
            for step in range(n):
                i = (offset + step) % n
                complement = [item for j, chunk in enumerate(chunks) if j != i for item in chunk]
                if reducer.test(complement, "ddmin"):
                    current, n, offset = complement, max(n - 1, 2), i
                    break
            else:
                if n >= size:
                    break
                n, offset = min(2 * n, size), 0
    except BudgetExhausted:
        pass
    return frozenset(current) | required
