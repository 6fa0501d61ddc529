"""How long a trial has left: an estimate for progress displays, never used for a decision.

Guarantees: the estimate is the runs still expected — the fixed ones (baseline runs, the trace, listing the
start-up modules for stubs, the confirmations) plus what the current search says it has left — times the median
duration of the last 20 check runs; and it says when it is only a lower bound (later phases may add runs it can't
foresee). No estimate before the first run has been timed. Thread-safe: runs may be timed from several threads.

What it must not know: wheels, checks, processes, and how the search works — a search is anything with a
``remaining()`` method (:class:`slimwheel.reduce.Reducer`, :class:`slimwheel.grouptest.GroupTest`).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Protocol

__all__ = ["PHASES", "Estimate", "Plan", "Search"]

#: A trial's phases in the order they run (``repair`` and ``reduce`` are alternatives to a passing ``verify``).
PHASES = ("baseline", "trace", "verify", "repair", "reduce", "certify", "stubs", "confirm")


class Search(Protocol):
    """A search that can estimate the runs it has left, and whether that is a lower bound (None: between steps)."""

    def remaining(self) -> tuple[float, bool] | None: ...


class Plan(Protocol):
    """What a trial will do (:class:`slimwheel.trial.TrialOptions`)."""

    @property
    def baseline_runs(self) -> int: ...

    @property
    def confirm_runs(self) -> int: ...

    @property
    def jobs(self) -> int: ...

    @property
    def trace(self) -> bool: ...

    @property
    def minimal(self) -> bool: ...

    @property
    def stubs(self) -> bool: ...


class Estimate:
    """The seconds a trial has left (see the module docstring)."""

    def __init__(self, plan: Plan) -> None:
        self._plan = plan
        self._durations: list[float] = []
        self._lock = threading.Lock()
        self.search: Search | None = None  # the search running now

    def timed(self, seconds: float) -> None:
        """One check run took ``seconds``."""
        with self._lock:
            self._durations.append(seconds)

    def seconds_left(self, phase: str, runs: Mapping[str, int]) -> tuple[float | None, bool]:
        """Seconds left during ``phase``, given the runs made so far per phase, and whether later phases may add
        runs the estimate can't foresee."""
        with self._lock:
            durations = sorted(self._durations[-20:])
        if not durations:
            return None, True
        per_run = durations[len(durations) // 2]
        plan = self._plan
        position = PHASES.index(phase) if phase in PHASES else 0
        left, lower = 0.0, False
        if phase == "baseline":
            left += max(0, plan.baseline_runs + 1 - runs.get("baseline", 0))
            left, lower = left + (2 if plan.trace else 0), True
        search = self.search
        estimate = search.remaining() if search is not None and phase not in ("baseline", "confirm") else None
        if estimate is not None:
            search_left, open_ended = estimate
            left += search_left / (plan.jobs if phase == "certify" else 1)
            lower = lower or open_ended
        if plan.minimal and position < PHASES.index("certify"):
            lower = True
        if plan.stubs and position < PHASES.index("stubs"):
            left, lower = left + 1, True
        left += max(0, plan.confirm_runs - (runs.get("confirm", 0) if phase == "confirm" else 0))
        return left * per_run, lower
