"""Driving a reduction: feed a state machine's candidates to the ledger and its verdicts back to the machine.

Guarantees: the machine follows the path of actual verdicts, one candidate at a time, in the calling thread; it
stops when the machine is finished or the budget refuses a run, and returns the machine's last state. While it
runs, :attr:`Driver.current` is the state being driven (for progress estimates), None otherwise.

:class:`Driver` is the serial executor. A parallel one overrides :meth:`Driver.run` only
(:class:`slimwheel.speculate.Speculator`, as picire's ``ParallelDD`` overrides one method of its ``DD``).

What it must not know: wheels, files and processes; which algorithm the machine is; how verdicts are cached or
counted (:class:`slimwheel.ledger.Ledger` does that).
"""

from __future__ import annotations

from .ledger import Ledger
from .machines import Machine

__all__ = ["Driver"]


class Driver:
    """Runs a machine's candidates one at a time, in the calling thread."""

    def __init__(self) -> None:
        self.current: Machine | None = None

    def drive(self, machine: Machine, phase: str, ledger: Ledger) -> Machine:
        """Run ``machine`` to the end or until the budget is spent; returns its last state."""
        try:
            return self.run(machine, phase, ledger)
        finally:
            self.current = None

    def run(self, machine: Machine, phase: str, ledger: Ledger) -> Machine:
        while (candidate := machine.candidate) is not None:
            self.current = machine
            known = ledger.decide(candidate, phase)
            if known is None:
                break
            machine = machine.advance(known)
        return machine
