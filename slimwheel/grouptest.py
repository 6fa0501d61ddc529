"""Adaptive group testing: find which candidates can be *applied together*, in few oracle runs.

This module knows nothing about wheels, stubs or processes. It sees *candidates* (strings) in an order and an
*oracle* that says whether applying a set of them "passes". Applying nothing is assumed to pass (the caller has
proven it). The result is a set of accepted candidates that **passed as a whole** — the very set was run and
passed — and the rejected ones.

Algorithm: Hwang's generalised binary splitting with an estimated number of failures
====================================================================================

The accepted set only ever grows by a group ``G`` after the oracle passed ``accepted ∪ G`` with exactly the
accepted set of that moment; so every accepted set, and the final one, passed as a whole, whatever the
candidates do to each other (a pair that fails only together, a candidate that needs another one).

Each step takes the next ``k`` pending candidates as a group and runs ``accepted ∪ group``:

* it passes: the whole group is accepted (one run for ``k`` candidates);
* it fails: a binary search inside the failing set ``S`` finds one culprit: run ``accepted ∪ first half``; if
  that passes, the half is accepted, and ``accepted ∪ second half`` *is* the set that just failed (no run needed);
  if it fails, the second half goes back to the pending list untested and the search goes on in the first half.
  A failing set of one candidate rejects it: it fails together with everything accepted.

The group size follows Hwang (1972): with ``m`` candidates pending and ``d`` failures expected among them, groups
of ``2^⌊log2((m - d + 1) / d)⌋`` (everything when no failure is expected, one by one when ``m ≤ 2d - 2``). With
``d`` known, that needs at most ``log2 C(n, d) + d`` runs, about ``d·log2(n/d) + 1.4·d``. Here ``d`` is not known:
it is estimated from the ``expected_failures`` rate the caller predicts and what the runs have shown so far
(failures found / candidates that were part of a run, with the prediction weighted like ``PRIOR_WEIGHT``
candidates). With at most one failure expected the whole pending list is one group: with no failure predicted the
first run tries every candidate at once, and when the prediction is right one run decides all.

It pays when failures are few: with ``d`` failures among ``n``, one run for ``d = 0`` and at most
``d·log2(n/d) + 4d + 1`` (measured, tests/test_grouptest.py; typically ``d·log2(n/d) + 2d``) against ``n`` one at a
time: not knowing ``d`` costs up to about three runs per failure over Hwang's bound (a failing group run, a binary
search over more than ``n/d`` candidates, the run that passes what is left). When most candidates fail it costs up
to about 2.2 times one-at-a-time (the estimate must first learn that failures are common).

Order matters: candidates that may depend on each other should be neighbours, so they share a group (a failing
split rarely separates them), and candidates likely to fail should be together, so the others pass as big groups.

Determinism: the same candidates, order and oracle give the same runs and the same result.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

__all__ = ["GroupTest", "GroupTestResult", "group_size"]

#: How many candidates' worth of evidence the caller's predicted failure rate counts for.
PRIOR_WEIGHT = 1.0


def group_size(pending: int, expected: float) -> int:
    """Hwang's group size for ``pending`` candidates of which ``expected`` are expected to fail."""
    if pending <= 0:
        return 0
    if expected <= 1:
        return pending  # at most one failure expected: everything at once (a pass decides all)
    if pending <= 2 * expected - 2:
        return 1
    alpha = math.floor(math.log2(max(1.0, (pending - expected + 1) / expected)))
    return max(1, min(pending, int(2**alpha)))


@dataclass
class GroupTestResult:
    """``accepted``: the candidates that passed together (in the order given); ``rejected``: those that failed
    (each together with what was accepted when it was tried); ``untested``: left undecided because the budget ran
    out; ``runs``: oracle calls; ``verified``: the accepted set passed as a whole (always, unless nothing was
    accepted: the empty set is the caller's, not proven here)."""

    accepted: tuple[str, ...]
    rejected: tuple[str, ...]
    untested: tuple[str, ...] = ()
    runs: int = 0
    verified: bool = False
    history: list[tuple[frozenset[str], bool]] = field(default_factory=list)  # every oracle call, in order


class GroupTest:
    """One adaptive group test over ``candidates`` (in that order) against ``oracle``.

    ``oracle(applied)`` says whether applying exactly ``applied`` passes. ``expected_failures`` is the predicted
    failure rate (0 to 1) of a candidate; ``max_runs`` caps the oracle calls (None: no cap); ``allows(runs)``, if
    given, is asked before every run too (a deadline). The oracle is called one set at a time, never twice on the
    same set.
    """

    def __init__(
        self,
        candidates: Sequence[str],
        oracle: Callable[[frozenset[str]], bool],
        *,
        expected_failures: float = 0.0,
        max_runs: int | None = None,
        allows: Callable[[int], bool] | None = None,
    ) -> None:
        if len(set(candidates)) != len(candidates):
            raise ValueError("candidates must be distinct")
        self.pending: list[str] = list(candidates)
        self.order = {c: i for i, c in enumerate(candidates)}
        self.oracle = oracle
        self.prior = min(1.0, max(0.0, expected_failures))
        self.max_runs = max_runs
        self.allows = allows
        self.accepted: list[str] = []
        self.rejected: list[str] = []
        self.runs = 0
        self.tried: set[str] = set()  # candidates that were part of a run
        self.verified = False
        self.history: list[tuple[frozenset[str], bool]] = []

    # -- estimates -------------------------------------------------------------------------------------------------

    def failure_rate(self) -> float:
        """The estimated failure rate of a pending candidate: the prediction, updated by what the runs showed."""
        return (len(self.rejected) + self.prior * PRIOR_WEIGHT) / (len(self.tried) + PRIOR_WEIGHT)

    def expected_failures(self) -> float:
        return self.failure_rate() * len(self.pending)

    def remaining(self) -> tuple[float, bool]:
        """Runs still expected (about ``d·log2(m/d) + d``), and True: a guess, never a bound."""
        m, d = len(self.pending), self.expected_failures()
        if m == 0:
            return 0.0, True
        if d < 1:
            return 1.0 + d * math.log2(m + 1), True
        return d * math.log2(max(1.0, m / d)) + d + 1, True

    # -- the search ------------------------------------------------------------------------------------------------

    def _test(self, group: Sequence[str]) -> bool | None:
        """Run ``accepted ∪ group``; None when the budget is spent."""
        if self.max_runs is not None and self.runs >= self.max_runs:
            return None
        if self.allows is not None and not self.allows(self.runs):
            return None
        applied = frozenset(self.accepted) | frozenset(group)
        self.runs += 1
        self.tried.update(group)
        passed = bool(self.oracle(applied))
        self.history.append((applied, passed))
        return passed

    def _accept(self, group: Sequence[str]) -> None:
        self.accepted.extend(group)
        self.verified = True
        taken = set(group)
        self.pending = [c for c in self.pending if c not in taken]

    def _find_culprit(self, failing: list[str]) -> bool:
        """``accepted ∪ failing`` failed: binary search for one candidate that fails with the accepted ones.
        Returns False if the budget ran out."""
        while len(failing) > 1:
            half = failing[: (len(failing) + 1) // 2]
            passed = self._test(half)
            if passed is None:
                return False
            if passed:
                self._accept(half)
                failing = failing[len(half) :]  # accepted ∪ failing is the set that just failed
            else:
                failing = half  # the other half goes back to the pending list, untested
        culprit = failing[0]
        self.rejected.append(culprit)
        self.pending.remove(culprit)
        return True

    def run(self) -> GroupTestResult:
        while self.pending:
            size = group_size(len(self.pending), self.expected_failures())
            group = self.pending[:size]
            passed = self._test(group)
            if passed is None:
                break
            if passed:
                self._accept(group)
            elif not self._find_culprit(group):
                break
        return self.result()

    def result(self) -> GroupTestResult:
        def ordered(items: list[str]) -> tuple[str, ...]:
            return tuple(sorted(items, key=self.order.__getitem__))

        return GroupTestResult(
            accepted=ordered(self.accepted),
            rejected=ordered(self.rejected),
            untested=ordered(self.pending),
            runs=self.runs,
            verified=self.verified,
            history=list(self.history),
        )
