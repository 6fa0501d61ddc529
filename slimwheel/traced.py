"""What a trial's traced run showed about the wheels' own code, and what that says about a group of files.

Guarantees: built only from a traced run that passed; the answers are about that run alone (code the run did not
reach is unknown, and counts as not used). A *group* is a set of item keys, e.g. the files a stub would replace;
"outside" means code in any other file, the check script, or C (caller ``""``).

What it must not know: wheels, stubs, checks and processes. It sees item keys and the pairs the tracer recorded
(:class:`slimwheel.trace.Trace`).
"""

from __future__ import annotations

from collections.abc import Iterable, Set
from dataclasses import dataclass
from functools import cached_property

from .trace import Trace

__all__ = ["TracedRun"]


@dataclass(frozen=True)
class TracedRun:
    """The union of the traces of one traced run (every process, every check)."""

    calls: frozenset[tuple[str, str]]  # (callee, caller) item keys
    touched: frozenset[str]  # item keys the run touched
    accesses: frozenset[tuple[str, str]]  # (module, caller) item keys: attribute lookups

    @staticmethod
    def of(traces: Iterable[Trace], items: Set[str]) -> TracedRun:
        """The facts of ``traces``, with touched files limited to ``items``."""
        traces = list(traces)
        return TracedRun(
            calls=frozenset().union(*(t.calls for t in traces)),
            touched=frozenset(set().union(*(t.files for t in traces)).intersection(items)),
            accesses=frozenset().union(*(t.accesses for t in traces)),
        )

    def ran(self) -> set[str]:
        """Files whose code ran: a function of theirs was called, or the run touched them."""
        return {callee for callee, _ in self.calls} | self.touched

    def used_from_outside(self, group: Set[str]) -> bool:
        """Whether code outside ``group`` called a function of one of its files (a stub would then fail)."""
        callers = self._index[0]
        return any(caller not in group for callee in group for caller in callers.get(callee, ()))

    def looked_up_from_outside(self, group: Set[str]) -> bool:
        """Whether code outside ``group`` looked up an attribute of one of its modules."""
        return any(module in group and caller not in group for module, caller in self.accesses)

    def calls_out(self, group: Set[str]) -> bool:
        """Whether code in ``group`` called a function outside it."""
        callees = self._index[1]
        return any(callee not in group for caller in group for callee in callees.get(caller, ()))

    @cached_property
    def _index(self) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
        """``calls`` indexed both ways (callee → callers, caller → callees), built once: a traced torch run
        records about a hundred thousand pairs, and every stub candidate looks up its own files."""
        callers: dict[str, set[str]] = {}
        callees: dict[str, set[str]] = {}
        for callee, caller in self.calls:
            callers.setdefault(callee, set()).add(caller)
            callees.setdefault(caller, set()).add(callee)
        return callers, callees
