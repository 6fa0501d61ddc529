"""Count oracle runs of the minimisers in ``slimwheel.reduce`` on synthetic package trees.

Each shape is a tree of weighted items with a hidden "needed" set; the oracle passes iff every needed item is kept
(monotone, deterministic, instant), so the only cost measured is the number of oracle runs. Columns:

* ``one-at-a-time``: try removing each item in turn, heaviest first (the naive loop; = number of items + 1);
* ``classic ddmin``: Zeller & Hildebrandt's ddmin on the flat item list (``tests/classic_ddmin.py``);
* ``ddmin ∇-only``: the same without the "keep one chunk" tests (complements only, as in the Debugging Book);
* ``hierarchical``: ``Reducer.reduce_hierarchical`` (levels of the tree, probabilistic DD inside each level);
* ``hier + certify``: the same followed by ``Reducer.certify`` (1-minimal item by item), total runs;
* ``runs j=4``, ``wasted j=4``, ``speed-up j=4``: hierarchical + certify with ``jobs=4`` when each run sleeps
  3 ms: all runs, the speculative runs whose answer was not used, and wall time with ``jobs=1`` / with ``jobs=4``.

Every result is checked: it passes and, for hierarchical + certify, equals the needed set.

Examples::

    .venv/bin/python benchmarks/bench_reduce.py
    .venv/bin/python benchmarks/bench_reduce.py --seeds 5 --no-parallel
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from classic_ddmin import classic_ddmin  # tests/classic_ddmin.py: the comparison baseline

from slimwheel.reduce import Reducer


@dataclass(frozen=True)
class Shape:
    items: dict[str, int]
    needed: frozenset[str]
    required: frozenset[str] = frozenset()


def _weight(rng: random.Random, scale: float = 1.0) -> int:
    return max(1, int(rng.lognormvariate(8.0, 1.5) * scale))


def tree(seed: int) -> dict[str, int]:
    """10 dirs x 10 subdirs x 10 files, lognormal weights."""
    rng = random.Random(seed)
    return {f"d{a}/s{b}/f{c}.py": _weight(rng) for a in range(10) for b in range(10) for c in range(10)}


def clustered(seed: int) -> Shape:
    """15% needed: 3 dirs, 5 subdirs in each, every file of those subdirs."""
    rng = random.Random(seed + 1000)
    needed = {
        f"d{a}/s{b}/f{c}.py" for a in rng.sample(range(10), 3) for b in rng.sample(range(10), 5) for c in range(10)
    }
    return Shape(tree(seed), frozenset(needed))


def clustered_partial(seed: int) -> Shape:
    """15% needed: 5 dirs, 6 subdirs in each, 5 of the 10 files in each."""
    rng = random.Random(seed + 2000)
    needed = {
        f"d{a}/s{b}/f{c}.py"
        for a in rng.sample(range(10), 5)
        for b in rng.sample(range(10), 6)
        for c in rng.sample(range(10), 5)
    }
    return Shape(tree(seed), frozenset(needed))


def scattered(seed: int) -> Shape:
    """15% needed, uniformly at random (adversarial for a hierarchy)."""
    items = tree(seed)
    return Shape(items, frozenset(random.Random(seed + 3000).sample(sorted(items), 150)))


# (directory, number of files, number needed, weight scale); subdirectories named like numpy 2.x's.
_NUMPY_LAYOUT = [
    ("numpy", 32, 16, 1.0),
    ("numpy/_core", 86, 50, 3.0),
    ("numpy/_core/include/numpy", 46, 0, 1.0),
    ("numpy/_core/include/numpy/random", 4, 0, 1.0),
    ("numpy/_core/lib", 3, 0, 5.0),
    ("numpy/_core/lib/pkgconfig", 1, 0, 0.1),
    ("numpy/_core/tests", 90, 0, 2.0),
    ("numpy/_core/tests/data", 40, 0, 2.0),
    ("numpy/_core/tests/examples/cython", 3, 0, 0.5),
    ("numpy/_core/tests/examples/limited_api", 4, 0, 0.5),
    ("numpy/_utils", 6, 4, 1.0),
    ("numpy/_typing", 18, 0, 1.0),
    ("numpy/_pyinstaller", 3, 0, 0.5),
    ("numpy/_pyinstaller/tests", 3, 0, 0.5),
    ("numpy/char", 3, 0, 0.5),
    ("numpy/compat", 3, 0, 0.5),
    ("numpy/core", 22, 0, 0.5),
    ("numpy/ctypeslib", 3, 0, 0.5),
    ("numpy/doc", 1, 0, 1.0),
    ("numpy/f2py", 40, 0, 1.0),
    ("numpy/f2py/_backends", 5, 0, 1.0),
    ("numpy/f2py/tests", 60, 0, 1.0),
    ("numpy/f2py/tests/src", 120, 0, 0.3),
    ("numpy/fft", 10, 5, 1.0),
    ("numpy/fft/tests", 3, 0, 1.0),
    ("numpy/lib", 62, 34, 1.0),
    ("numpy/lib/tests", 40, 0, 2.0),
    ("numpy/lib/tests/data", 20, 0, 1.0),
    ("numpy/linalg", 10, 5, 4.0),
    ("numpy/linalg/tests", 5, 0, 1.0),
    ("numpy/ma", 12, 0, 1.0),
    ("numpy/ma/tests", 10, 0, 1.0),
    ("numpy/matrixlib", 5, 3, 1.0),
    ("numpy/matrixlib/tests", 8, 0, 1.0),
    ("numpy/polynomial", 16, 9, 1.0),
    ("numpy/polynomial/tests", 10, 0, 1.0),
    ("numpy/random", 32, 16, 4.0),
    ("numpy/random/_examples/cffi", 2, 0, 0.5),
    ("numpy/random/_examples/cython", 4, 0, 0.5),
    ("numpy/random/_examples/numba", 2, 0, 0.5),
    ("numpy/random/lib", 1, 0, 2.0),
    ("numpy/random/tests", 14, 0, 1.0),
    ("numpy/random/tests/data", 15, 0, 1.0),
    ("numpy/rec", 3, 0, 0.5),
    ("numpy/strings", 3, 0, 0.5),
    ("numpy/testing", 6, 0, 1.0),
    ("numpy/testing/_private", 5, 0, 1.0),
    ("numpy/testing/tests", 2, 0, 1.0),
    ("numpy/tests", 30, 0, 1.0),
    ("numpy/typing", 4, 0, 1.0),
    ("numpy/typing/tests", 4, 0, 1.0),
    ("numpy/typing/tests/data/fail", 35, 0, 0.3),
    ("numpy/typing/tests/data/misc", 5, 0, 0.3),
    ("numpy/typing/tests/data/pass", 25, 0, 0.3),
    ("numpy/typing/tests/data/reveal", 35, 0, 0.3),
    ("numpy.libs", 3, 3, 200.0),
]
_NUMPY_DIST_INFO = ["METADATA", "WHEEL", "RECORD", "LICENSE.txt", "entry_points.txt"]


def numpy_like(seed: int) -> Shape:
    """1,042 items laid out like numpy 2.x's wheel; 145 needed in a handful of directories; dist-info required."""
    rng = random.Random(seed + 4000)
    items: dict[str, int] = {}
    needed: set[str] = set()
    for directory, count, n_needed, scale in _NUMPY_LAYOUT:
        names = [f"{directory}/m{i:03d}.py" for i in range(count)]
        for name in names:
            items[name] = _weight(rng, scale)
        needed.update(rng.sample(names, n_needed))
    required = {f"numpy-2.4.6.dist-info/{name}" for name in _NUMPY_DIST_INFO}
    for name in required:
        items[name] = _weight(rng, 0.2)
    return Shape(items, frozenset(needed), frozenset(required))


SHAPES: dict[str, Callable[[int], Shape]] = {
    "clustered (1000, 15%)": clustered,
    "clustered-partial (1000, 15%)": clustered_partial,
    "scattered (1000, 15%)": scattered,
    "numpy-like (1042)": numpy_like,
}


def oracle_for(needed: frozenset[str], delay: float = 0.0) -> Callable[[frozenset[str]], bool]:
    def oracle(kept: frozenset[str]) -> bool:
        if delay:
            time.sleep(delay)
        return needed <= kept

    return oracle


def one_at_a_time(shape: Shape) -> int:
    """The naive loop: runs = 1 (the start) + one per item."""
    reducer = Reducer(shape.items, oracle_for(shape.needed), required=shape.required)
    kept = reducer.full
    reducer.test(kept, "naive")
    for item in sorted(kept - shape.required, key=lambda i: (-shape.items[i], i)):
        if reducer.test(kept - {item}, "naive"):
            kept = kept - {item}
    assert kept == shape.needed | shape.required
    return reducer.stats.runs


def measure(shape: Shape, parallel: bool) -> dict[str, float]:
    oracle = oracle_for(shape.needed)
    full_needed = shape.needed | shape.required
    row: dict[str, float] = {"items": len(shape.items), "needed": len(shape.needed)}
    row["one-at-a-time"] = one_at_a_time(shape)

    for column, subsets in (("classic ddmin", True), ("ddmin ∇-only", False)):
        reducer = Reducer(shape.items, oracle, required=shape.required)
        result = classic_ddmin(reducer, subsets=subsets)
        assert result == full_needed, "ddmin finds the needed set of a monotone oracle"
        row[column] = reducer.stats.runs

    reducer = Reducer(shape.items, oracle, required=shape.required)
    result = reducer.reduce_hierarchical()
    assert oracle(result) and full_needed <= result
    row["hierarchical"] = reducer.stats.runs
    row["hier kept"] = len(result - shape.required)
    result = reducer.certify(result)
    assert result == full_needed
    row["hier + certify"] = reducer.stats.runs

    if parallel:
        elapsed = {}
        for jobs in (1, 4):
            reducer = Reducer(shape.items, oracle_for(shape.needed, delay=0.003), required=shape.required, jobs=jobs)
            begin = time.monotonic()
            result = reducer.minimize()
            elapsed[jobs] = time.monotonic() - begin
            assert result == full_needed
        row["runs j=4"] = reducer.stats.runs
        row["wasted j=4"] = reducer.stats.wasted
        row["speed-up j=4"] = elapsed[1] / elapsed[4]
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=3, help="random trees per shape (the table shows means)")
    parser.add_argument("--no-parallel", action="store_true", help="skip the jobs=4 timing column")
    args = parser.parse_args()

    columns = [
        "items",
        "needed",
        "one-at-a-time",
        "classic ddmin",
        "ddmin ∇-only",
        "hierarchical",
        "hier kept",
        "hier + certify",
    ]
    if not args.no_parallel:
        columns += ["runs j=4", "wasted j=4", "speed-up j=4"]
    print(f"oracle runs, mean over {args.seeds} seed(s)\n")
    print("| shape | " + " | ".join(columns) + " |")
    print("|---|" + "---:|" * len(columns))
    for name, make in SHAPES.items():
        rows = [measure(make(seed), not args.no_parallel) for seed in range(args.seeds)]
        means = [statistics.fmean(row[c] for row in rows) for c in columns]
        print(
            f"| {name} | "
            + " | ".join(
                f"{m:.2f}" if c.startswith("speed") else f"{m:.0f}" for c, m in zip(columns, means, strict=True)
            )
            + " |"
        )


if __name__ == "__main__":
    main()
