"""Zeller & Hildebrandt's ddmin, **only as a comparison baseline** for tests and benchmarks (slimwheel never uses it).

It runs through :meth:`slimwheel.reduce.Reducer.test`, so the reducer's cache, budget and counts are shared with
the algorithm it is compared against. It knows nothing about wheels.
"""

from __future__ import annotations

from collections.abc import Iterable

from slimwheel.reduce import BudgetExhausted, Reducer

__all__ = ["classic_ddmin"]


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
