"""Speculative parallel driving: run the most likely next candidates ahead of time on several workers.

Every algorithm is a deterministic state machine (:mod:`slimwheel.machines`): candidate → verdict → next state.
:class:`Speculator` expands the tree of possible futures best-first by the machines' ``p_pass`` and keeps ``jobs``
workers busy with the most probable candidates nobody has a verdict for. It only ever *advances* along the path of
actual verdicts, so the result does not depend on ``jobs``.

Guarantees
==========

* The decision path is the one :class:`slimwheel.drive.Driver` takes: the same candidates, the same verdicts.
* A candidate (by cache key) is run at most once: a key in flight is never submitted again, and one with a
  verdict in the cache not at all.
* Every run goes through the ledger's budget; the last ``2 * jobs`` runs of a ``max_runs`` budget are not
  speculated. Runs are recorded in submission order; runs still going when the path ends are waited for and
  recorded. Runs whose verdict the path never used are counted in ``Stats.wasted``.
* On an exception (Ctrl-C, an oracle error) queued runs are cancelled and the exception propagates.

What it must not know: wheels, files and processes; which algorithm a machine is; how verdicts are cached.
"""

from __future__ import annotations

import heapq
import itertools
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass

from .drive import Driver
from .ledger import CacheKey, Ledger
from .machines import Machine

__all__ = ["Speculator"]


class _Node:
    """A node of the speculation tree: a machine state and its (memoised) successors."""

    __slots__ = ("children", "key", "machine")

    def __init__(self, machine: Machine) -> None:
        self.machine = machine
        self.children: dict[bool, _Node] = {}
        self.key: CacheKey | None = None  # the cache key of the machine's candidate, once computed

    def child(self, passed: bool) -> _Node:
        node = self.children.get(passed)
        if node is None:
            node = self.children[passed] = _Node(self.machine.advance(passed))
        return node

    def key_in(self, ledger: Ledger, candidate: frozenset[str]) -> CacheKey:
        if self.key is None:
            self.key = ledger.key(candidate)
        return self.key


@dataclass
class _InFlight:
    seq: int
    candidate: frozenset[str]
    future: Future[bool]


class Speculator(Driver):
    """The parallel driver: :meth:`run` is :meth:`Driver.run` with ``jobs`` workers running ahead."""

    def __init__(self, jobs: int) -> None:
        super().__init__()
        self.jobs = jobs

    def run(self, machine: Machine, phase: str, ledger: Ledger) -> Machine:
        return _Flight(self, ledger, phase).follow(_Node(machine))


class _Flight:
    """One :meth:`Speculator.run`: the worker pool and the runs in flight, submitted and used."""

    def __init__(self, owner: Speculator, ledger: Ledger, phase: str) -> None:
        self._owner = owner
        self._jobs = owner.jobs
        self._ledger = ledger
        self._phase = phase
        self._in_flight: dict[CacheKey, _InFlight] = {}
        self._submitted: set[CacheKey] = set()
        self._used: set[CacheKey] = set()
        self._seq = itertools.count()
        self._pool = ThreadPoolExecutor(max_workers=self._jobs, thread_name_prefix="slimwheel-reduce")

    def follow(self, root: _Node) -> Machine:
        """Advance ``root`` along actual verdicts, keeping the workers busy; returns the last state."""
        ledger = self._ledger
        try:
            while (candidate := root.machine.candidate) is not None:
                self._owner.current = root.machine
                key = root.key_in(ledger, candidate)
                known = ledger.lookup(candidate, key)
                if known is not None:
                    if key in self._submitted:
                        self._used.add(key)
                    else:
                        ledger.stats.cached += 1
                    ledger.on_path(candidate, known)
                    root = root.child(known)
                    continue
                self._speculate(root)
                if key not in self._in_flight and not self._in_flight:
                    break  # the budget does not allow this run (when runs are in flight, the workers may be full)
                done, _ = wait([f.future for f in self._in_flight.values()], return_when=FIRST_COMPLETED)
                self._collect(only={id(f) for f in done})
        except BaseException:
            self._pool.shutdown(wait=False, cancel_futures=True)
            raise
        # Speculative runs still going: wait for them (they were started; their answers go into the cache).
        wait([f.future for f in self._in_flight.values()])
        self._collect(only=None)
        self._pool.shutdown(wait=True)
        ledger.stats.wasted += len(self._submitted - self._used)
        return root.machine

    def _speculate(self, root: _Node) -> None:
        """Fill free workers with the most probable upcoming candidates (best-first over the decision tree)."""
        ledger, in_flight = self._ledger, self._in_flight
        free = self._jobs - len(in_flight)
        heap: list[tuple[float, int, _Node]] = [(-1.0, 0, root)]
        order = itertools.count(1)
        expanded = 0
        while heap and free > 0 and expanded < 16 * self._jobs:
            neg_p, _, node = heapq.heappop(heap)
            expanded += 1
            candidate = node.machine.candidate
            if candidate is None:
                continue
            key = node.key_in(ledger, candidate)
            known = ledger.peek(key)
            if known is not None:
                heapq.heappush(heap, (neg_p, next(order), node.child(known)))
                continue
            if key not in in_flight:
                if (node is not root and not self._may_speculate()) or not ledger.start():
                    return
                future = self._pool.submit(ledger.oracle, candidate)
                in_flight[key] = _InFlight(next(self._seq), candidate, future)
                self._submitted.add(key)
                free -= 1
            p_pass = min(max(node.machine.p_pass, 0.01), 0.99)
            heapq.heappush(heap, (neg_p * p_pass, next(order), node.child(True)))
            heapq.heappush(heap, (neg_p * (1.0 - p_pass), next(order), node.child(False)))

    def _may_speculate(self) -> bool:
        """Near the end of a run budget, runs go to the decision path only (speculation would waste them)."""
        max_runs = self._ledger.budget.max_runs
        return max_runs is None or max_runs - self._ledger.started > 2 * self._jobs

    def _collect(self, only: set[int] | None) -> None:
        """Record finished runs, in submission order."""
        finished = [
            (key, run)
            for key, run in self._in_flight.items()
            if (only is None or id(run.future) in only) and run.future.done()
        ]
        for key, run in sorted(finished, key=lambda kr: kr[1].seq):
            del self._in_flight[key]
            self._ledger.record(run.candidate, key, self._phase, bool(run.future.result()))
