"""The reducer's algorithms as deterministic state machines: hierarchical probabilistic DD, certify, repair.

Each algorithm is a chain of immutable states: ``candidate`` is the next set to run (None once finished),
``advance(passed)`` is the state after that result, ``result`` is the current verified set (None if nothing is
verified yet) and ``p_pass`` the model's estimate that ``candidate`` passes (for speculation only). A machine never
runs anything: :mod:`slimwheel.drive` and :mod:`slimwheel.speculate` feed it verdicts.

Guarantees: the same verdicts give the same candidates, whatever runs them; ``result`` is always a set whose
verdict was a pass (or None); ``remaining()`` is an estimate for progress displays, never used for a decision.

What it must not know: wheels, files, processes, oracles, caches, budgets and threads. It sees *items* (strings),
their *weights* (ints) and the tree they form through their ``/``-separated keys: ``"a/b/c.py"`` lies in group
``"a/b/"``, which lies in group ``"a/"``.

Algorithm: hierarchical, probabilistic delta debugging
======================================================

:class:`Hierarchy` walks the tree level by level from the top, like HDD (Misherghi & Su, ICSE 2006): at depth *d*
the *units* are the children (sub-groups and items) of the groups that survived depth *d - 1*; removing a unit
removes all its items. Inside a level it runs a **probabilistic delta debugging** in the spirit of ProbDD (Wang et
al., "Probabilistic Delta Debugging", FSE 2021), chosen over a tuned ddmin because:

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

:class:`Certify` then makes the result 1-minimal item by item: it tries removing each remaining item, heaviest
first — at least one failing run per kept item is unavoidable for a proof. After the hierarchical pass this costs
up to one more run per kept item: the level's own single-unit runs were made against larger sets (or skipped,
when a unit was the last survivor of a failed deletion), and only runs against the final set prove it.
:class:`Repair` grows a failing set (e.g. derived from a trace) by trying candidate supersets in order.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

__all__ = [
    "PRIOR_NEEDED",
    "PRIOR_STRENGTH",
    "Certify",
    "Finished",
    "Hierarchy",
    "Machine",
    "Repair",
    "StartCheck",
]

#: Prior probability that a unit is needed, before a level has shown anything (re-estimated as runs come in).
PRIOR_NEEDED = 0.2
#: Weight of that prior, in units' worth of evidence.
PRIOR_STRENGTH = 4.0
_Q_MIN, _Q_MAX = 0.01, 0.95


class Machine(ABC):
    """One state of an algorithm (see the module docstring)."""

    p_pass: float = 0.5

    @property
    @abstractmethod
    def candidate(self) -> frozenset[str] | None: ...

    @property
    @abstractmethod
    def result(self) -> frozenset[str] | None: ...

    @abstractmethod
    def advance(self, passed: bool) -> Machine: ...

    def remaining(self) -> tuple[int, bool]:
        """An estimate of the runs left (for progress displays, never for decisions) and whether more may follow
        that the estimate can't see (a lower bound)."""
        return 1, True


class Finished(Machine):
    """The end: no candidate; ``result`` is the algorithm's answer (None if nothing was verified)."""

    def __init__(self, result: frozenset[str] | None) -> None:
        self._result = result

    @property
    def candidate(self) -> None:
        return None

    @property
    def result(self) -> frozenset[str] | None:
        return self._result

    def advance(self, passed: bool) -> Machine:
        raise AssertionError("a finished machine has no candidate")

    def remaining(self) -> tuple[int, bool]:
        return 0, False


class StartCheck(Machine):
    """Run the start set first (free when the cache knows it passed), then hand over to the real algorithm."""

    p_pass = 0.9

    def __init__(self, start: frozenset[str], then: Callable[[frozenset[str]], Machine]) -> None:
        self._start = start
        self._then = then

    @property
    def candidate(self) -> frozenset[str]:
        return self._start

    @property
    def result(self) -> None:
        return None

    def advance(self, passed: bool) -> Machine:
        return self._then(self._start) if passed else Finished(None)


@dataclass(frozen=True)
class Level:
    """One level of the tree, fixed while the level is reduced."""

    depth: int
    items: Mapping[str, frozenset[str]]  # unit -> its removable items
    weight: Mapping[str, int]  # unit -> effective weight (each item counts at least 1)
    rank: Mapping[str, int]  # unit -> position, heaviest first then by name
    prior: float


def estimate_q(prior: float, needed: int, removed: int, sizes: Iterable[int]) -> float:
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


class LevelState:
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
        level: Level,
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
        self.q = estimate_q(level.prior, len(self.needed), removed, (len(c) for c in self.constraints))
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

    def advance(self, passed: bool) -> LevelState:
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
            return LevelState(self.level, candidate, free, constraints, self.needed, self.removed + len(deletion))
        if self.source == -1:
            free = tuple(u for u in free if u not in gone)
            constraints.append(deletion)
        else:
            rank = self.level.rank
            freed = [u for u in constraints[self.source] if u not in gone]
            free = tuple(sorted((*free, *freed), key=rank.__getitem__))
            constraints[self.source] = deletion
        return LevelState(self.level, self.kept, free, constraints, self.needed, self.removed)


class Hierarchical(Machine):
    """A level of the hierarchical reduction in progress; the next level starts when this one is done."""

    def __init__(self, hierarchy: Hierarchy, state: LevelState) -> None:
        self._hierarchy = hierarchy
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

    def advance(self, passed: bool) -> Machine:
        state = self._state.advance(passed)
        if not state.done:
            return Hierarchical(self._hierarchy, state)
        return self._hierarchy.machine(state.kept, state.level.depth + 1)


class Hierarchy:
    """The levels of the item tree for the hierarchical machine: which units a level has and what is known about
    them when it starts. ``required`` items are never units."""

    def __init__(self, weights: Mapping[str, int], required: frozenset[str]) -> None:
        self._weights = weights
        self._required = required
        self._parts: dict[str, list[str]] = {}

    def machine(self, kept: frozenset[str], depth: int = 1) -> Machine:
        """The hierarchical machine positioned at the first level (from ``depth`` down) that has anything to try."""
        prior = PRIOR_NEEDED
        while True:
            state = self.level_state(kept, depth, prior)
            if state is None:
                return Finished(kept)
            if not state.done:
                return Hierarchical(self, state)
            depth += 1

    def level_state(self, kept: frozenset[str], depth: int, prior: float) -> LevelState | None:
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
        level = Level(depth, unit_items, unit_weight, rank, prior)
        if depth == 1:
            return LevelState(level, kept, tuple(order), (), frozenset(), 0)
        # Every group that survived the level above was shown to be needed: one of its children is needed.
        children: dict[str, list[str]] = {}
        for unit in order:
            children.setdefault(parent_of[unit], []).append(unit)
        constraints = [tuple(units) for _, units in sorted(children.items())]
        return LevelState(level, kept, (), constraints, frozenset(), 0)


class Certify(Machine):
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
    def start(order: tuple[str, ...], kept: frozenset[str], strict: bool) -> Machine:
        return Certify(order, 0, kept, strict=strict)._settle()

    def _settle(self) -> Machine:
        if self._index < len(self._order):
            return self
        if self._strict and self._removed_in_pass:
            order = tuple(item for item in self._order if item in self._kept)
            return Certify(order, 0, self._kept, strict=True, tried=self._tried, removed=self._removed)._settle()
        return Finished(self._kept)

    @property
    def candidate(self) -> frozenset[str]:
        return self._kept - {self._order[self._index]}

    def remaining(self) -> tuple[int, bool]:
        return len(self._order) - self._index, self._strict

    @property
    def result(self) -> frozenset[str]:
        return self._kept

    def advance(self, passed: bool) -> Machine:
        kept = self.candidate if passed else self._kept
        return Certify(
            self._order,
            self._index + 1,
            kept,
            strict=self._strict,
            removed_in_pass=self._removed_in_pass or passed,
            tried=self._tried + 1,
            removed=self._removed + passed,
        )._settle()


class Repair(Machine):
    """Try growing supersets of a failing set in order; the first that passes is the result."""

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

    def advance(self, passed: bool) -> Machine:
        if passed:
            return Finished(self._candidates[self._index])
        if self._index + 1 < len(self._candidates):
            return Repair(self._candidates, self._index + 1)
        return Finished(None)
