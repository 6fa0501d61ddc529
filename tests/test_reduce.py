"""slimwheel.reduce: minimising a set of items against synthetic oracles, counting every oracle run.

The synthetic "package trees" are 10 dirs x 10 subdirs x 10 files with seeded random weights; the needed 15% are
either clustered in a few directories (realistic) or scattered uniformly (adversarial). Oracles record every
candidate they see, so the tests can check what was run, not only what came back.
"""

from __future__ import annotations

import hashlib
import itertools
import random
import threading
import time
import zlib
from collections.abc import Callable, Iterable

import pytest
from classic_ddmin import classic_ddmin
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from slimwheel.reduce import (
    Budget,
    BudgetExhausted,
    ProgressEvent,
    Reducer,
    candidate_key,
    expansions,
)

# -- synthetic trees and oracles -------------------------------------------------------------------------------


def tree(seed: int, dirs: int = 10, subdirs: int = 10, files: int = 10) -> dict[str, int]:
    rng = random.Random(seed)
    return {
        f"d{a}/s{b}/f{c}.py": max(1, int(rng.lognormvariate(8.0, 1.5)))
        for a in range(dirs)
        for b in range(subdirs)
        for c in range(files)
    }


def clustered(seed: int) -> frozenset[str]:
    """150 needed: every file of 5 subdirs in each of 3 dirs."""
    rng = random.Random(seed + 1000)
    return frozenset(
        f"d{a}/s{b}/f{c}.py" for a in rng.sample(range(10), 3) for b in rng.sample(range(10), 5) for c in range(10)
    )


def clustered_partial(seed: int) -> frozenset[str]:
    """150 needed: 5 of the files of 6 subdirs in each of 5 dirs."""
    rng = random.Random(seed + 2000)
    return frozenset(
        f"d{a}/s{b}/f{c}.py"
        for a in rng.sample(range(10), 5)
        for b in rng.sample(range(10), 6)
        for c in rng.sample(range(10), 5)
    )


def scattered(seed: int, items: Iterable[str], count: int = 150) -> frozenset[str]:
    return frozenset(random.Random(seed + 3000).sample(sorted(items), count))


class Recorder:
    """A thread-safe oracle wrapper that remembers every candidate and its answer."""

    def __init__(self, passes: Callable[[frozenset[str]], bool], delay: Callable[[], float] | None = None) -> None:
        self._passes = passes
        self._delay = delay
        self._lock = threading.Lock()
        self.calls: list[tuple[frozenset[str], bool]] = []

    def __call__(self, kept: frozenset[str]) -> bool:
        if self._delay is not None:
            time.sleep(self._delay())
        result = self._passes(kept)
        with self._lock:
            self.calls.append((kept, result))
        return result

    @property
    def runs(self) -> int:
        return len(self.calls)

    @property
    def passed(self) -> set[frozenset[str]]:
        return {kept for kept, ok in self.calls if ok}

    def assert_no_repeats(self) -> None:
        seen = [kept for kept, _ in self.calls]
        assert len(seen) == len(set(seen)), "a candidate was run twice"


def jitter(seed: int, most: float) -> Callable[[], float]:
    """Random delays (up to ``most`` seconds) so that parallel runs finish in a shuffled order."""
    rng = random.Random(seed)
    lock = threading.Lock()

    def delay() -> float:
        with lock:
            return rng.random() * most

    return delay


def superset_of(needed: frozenset[str]) -> Callable[[frozenset[str]], bool]:
    return lambda kept: needed <= kept


def one_at_a_time_runs(items: dict[str, int], needed: frozenset[str]) -> int:
    """The naive baseline: try removing each item in turn (no cache needed: every candidate differs)."""
    oracle = Recorder(superset_of(needed))
    kept = frozenset(items)
    assert oracle(kept)
    for item in sorted(items, key=lambda i: (-items[i], i)):
        if oracle(kept - {item}):
            kept -= {item}
    assert kept == needed
    return oracle.runs


# -- efficiency on package trees -------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [clustered, clustered_partial])
@pytest.mark.parametrize("seed", [0, 1])
def test_clustered_needs_hierarchical_then_certify(shape: Callable[[int], frozenset[str]], seed: int) -> None:
    items = tree(seed)
    needed = shape(seed)
    assert len(needed) == 150

    oracle = Recorder(superset_of(needed))
    reducer = Reducer(items, oracle)
    reduced = reducer.reduce_hierarchical()
    hierarchical_runs = oracle.runs
    assert reduced in oracle.passed and needed <= reduced
    assert hierarchical_runs <= 0.4 * len(items)
    assert reducer.stats.runs == hierarchical_runs == reducer.stats.per_phase["hierarchical"]

    certified = reducer.certify(reduced)
    assert certified == needed  # 1-minimal: exactly the needed set for a monotone oracle
    assert certified in oracle.passed
    oracle.assert_no_repeats()
    total_runs = oracle.runs

    naive = one_at_a_time_runs(items, needed)
    ddmin_oracle = Recorder(superset_of(needed))
    ddmin_result = classic_ddmin(Reducer(items, ddmin_oracle))
    assert ddmin_result == needed
    print(
        f"\n{shape.__name__} seed={seed}: one-at-a-time {naive}, classic ddmin {ddmin_oracle.runs}, "
        f"hierarchical {hierarchical_runs}, hierarchical+certify {total_runs}"
    )
    assert total_runs < naive < ddmin_oracle.runs


def test_scattered_needs_still_beat_one_at_a_time() -> None:
    items = tree(7)
    needed = scattered(7, items)
    oracle = Recorder(superset_of(needed))
    reducer = Reducer(items, oracle)
    reduced = reducer.reduce_hierarchical()
    hierarchical_runs = oracle.runs
    assert needed <= reduced and reduced in oracle.passed
    assert reducer.certify(reduced) == needed
    naive = one_at_a_time_runs(items, needed)
    ddmin_oracle = Recorder(superset_of(needed))
    assert classic_ddmin(Reducer(items, ddmin_oracle), subsets=False) == needed
    print(
        f"\nscattered: one-at-a-time {naive}, ddmin (complements only) {ddmin_oracle.runs}, "
        f"hierarchical {hierarchical_runs}, hierarchical+certify {oracle.runs}"
    )
    assert oracle.runs < naive < ddmin_oracle.runs


def test_most_items_needed_costs_about_one_run_each() -> None:
    items = tree(3, dirs=4, subdirs=5, files=5)
    needed = scattered(3, items, count=90)  # 90% needed: nothing to gain from big deletions
    oracle = Recorder(superset_of(needed))
    reducer = Reducer(items, oracle)
    reduced = reducer.reduce_hierarchical()
    assert oracle.runs <= 1.3 * len(items)  # the item level, plus a little for the levels above
    # certify proves each kept item against the final set: HDD's single-item runs happened against larger sets
    assert reducer.certify(reduced) == needed
    assert oracle.runs <= 1.3 * len(items) + len(needed)


def test_single_child_chains_cost_no_runs() -> None:
    # Each needed file sits at the bottom of a chain of single-child directories: once the top of a chain is
    # shown to be needed, "one of my children is needed" pins every group below it without a run.
    items = {f"p{i}/a/b/c/d/m{i}.py": 10 + i for i in range(8)}
    needed = frozenset({"p2/a/b/c/d/m2.py", "p5/a/b/c/d/m5.py"})
    oracle = Recorder(superset_of(needed))
    reducer = Reducer(items, oracle)
    assert reducer.reduce_hierarchical() == needed
    # Every candidate run is a union of whole top-level groups: nothing below the top level was ever tried.
    tops = [frozenset(item for item in items if item.startswith(f"p{i}/")) for i in range(8)]
    for kept, _ in oracle.calls:
        assert all(top <= kept or not top & kept for top in tops)
    assert oracle.runs <= 12


def test_heaviest_units_are_tried_first() -> None:
    items = {f"lib/small{i}.py": 10 for i in range(20)} | {"huge.so": 10_000_000, "lib/needed.py": 10}
    oracle = Recorder(superset_of(frozenset({"lib/needed.py"})))
    Reducer(items, oracle).reduce_hierarchical()
    assert "huge.so" in oracle.calls[0][0]  # the start
    assert "huge.so" not in oracle.calls[1][0]  # first deletion attempted: the 10 MB item


# -- results are only ever sets that passed ---------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("jobs", [1, 4])
def test_flaky_oracle_never_accepts_an_unpassed_set(seed: int, jobs: int) -> None:
    items = tree(seed, dirs=5, subdirs=5, files=8)
    needed = scattered(seed, items, 30)
    rng = random.Random(seed)
    lock = threading.Lock()

    def flaky(kept: frozenset[str]) -> bool:
        with lock:
            spurious_failure = rng.random() < 0.1
        return needed <= kept and not spurious_failure

    oracle = Recorder(flaky)
    reducer = Reducer(items, oracle, jobs=jobs)
    reduced = reducer.reduce_hierarchical()
    certified = reducer.certify(reduced)
    for result in (reduced, certified, reducer.best):
        assert result in oracle.passed  # it passed at least once...
        assert needed <= result  # ...so a spurious failure only ever kept something
    oracle.assert_no_repeats()


def test_either_a_or_b_needed() -> None:
    items = tree(11, dirs=4, subdirs=4, files=4)
    core = frozenset({"d0/s0/f0.py", "d2/s3/f1.py"})
    a, b = "d1/s1/f1.py", "d3/s2/f3.py"
    oracle = Recorder(lambda kept: core <= kept and (a in kept or b in kept))
    reducer = Reducer(items, oracle)
    reduced = reducer.reduce_hierarchical()
    assert reduced in oracle.passed
    certified = reducer.certify(reduced)
    assert certified in oracle.passed
    assert certified in (core | {a}, core | {b})


def test_non_monotone_oracle_result_passed() -> None:
    items = tree(5, dirs=4, subdirs=4, files=5)
    needed = scattered(5, items, 10)

    def odd(kept: frozenset[str]) -> bool:  # deterministic but not monotone
        digest = hashlib.sha256("\n".join(sorted(kept)).encode()).digest()
        return needed <= kept and (digest[0] % 3 != 0 or kept == frozenset(items))

    oracle = Recorder(odd)
    reducer = Reducer(items, oracle)
    reduced = reducer.reduce_hierarchical()
    certified = reducer.certify(reduced, strict=True)
    assert reduced in oracle.passed and certified in oracle.passed and needed <= certified
    assert all(not odd(certified - {item}) for item in certified)  # strict: 1-minimal against the final set itself


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    names=st.sets(st.from_regex(r"[ab]{1,2}(/[ab]{1,2}){0,3}", fullmatch=True), min_size=1, max_size=25),
    salt=st.integers(0, 1000),
    needed_fraction=st.floats(0, 1),
    jobs=st.sampled_from([1, 3]),
)
def test_any_oracle_any_tree_returns_a_passed_set(
    names: set[str], salt: int, needed_fraction: float, jobs: int
) -> None:
    # Trees with items that are also group names ("a" and "a/b"), deep chains, and an arbitrary deterministic
    # oracle (monotone or not): every result must be a set the oracle passed, identical for jobs=1 and jobs>1.
    items = {name: zlib.crc32(f"{salt}:{name}".encode()) % 50 for name in sorted(names)}
    rng = random.Random(salt)
    needed = frozenset(name for name in sorted(names) if rng.random() < needed_fraction)
    full = frozenset(items)

    def noise(kept: frozenset[str]) -> bool:
        return needed <= kept and (kept == full or hashlib.sha256(f"{salt}{sorted(kept)}".encode()).digest()[0] > 60)

    results = []
    for j in (1, jobs):
        oracle = Recorder(noise)
        reducer = Reducer(items, oracle, jobs=j)
        reduced = reducer.reduce_hierarchical()
        certified = reducer.certify(reduced)
        assert reduced in oracle.passed and certified in oracle.passed and needed <= certified
        assert reducer.best in oracle.passed and reducer.weight(reducer.best) <= reducer.weight(certified)
        oracle.assert_no_repeats()
        results.append((reduced, certified))
    assert results[0] == results[1]


def test_monotone_random_trees_certify_to_the_needed_set() -> None:
    for seed in range(20):
        rng = random.Random(seed)
        items = {
            "/".join(f"g{rng.randrange(3)}" for _ in range(rng.randrange(4))) + f"/x{i}": rng.randrange(0, 1000)
            for i in range(rng.randrange(1, 40))
        }
        needed = frozenset(name for name in items if rng.random() < 0.3)
        oracle = Recorder(superset_of(needed))
        assert Reducer(items, oracle).minimize() == needed
        oracle.assert_no_repeats()


def test_start_that_fails_returns_the_full_set_unverified() -> None:
    items = tree(1, dirs=2, subdirs=2, files=2)
    oracle = Recorder(lambda kept: False)
    reducer = Reducer(items, oracle)
    assert reducer.reduce_hierarchical() == frozenset(items)
    assert not reducer.best_verified
    assert oracle.runs == 1
    assert reducer.certify() == frozenset(items) and oracle.runs == 1  # cached: the start is not run again


@pytest.mark.parametrize("jobs", [1, 4])
def test_start_that_fails_is_not_rescued_by_speculation(jobs: int) -> None:
    # Speculative runs assume the start passes and may find passing sets; they must not change the answer.
    items = tree(2, dirs=3, subdirs=3, files=3)
    full = frozenset(items)
    oracle = Recorder(lambda kept: kept != full)
    reducer = Reducer(items, oracle, jobs=jobs)
    assert reducer.reduce_hierarchical() == full
    assert reducer.best_verified == (jobs > 1)  # speculative passes still count for `best`


def test_unknown_start_items_are_rejected() -> None:
    reducer = Reducer({"a": 1}, lambda kept: True)
    with pytest.raises(ValueError, match="unknown"):
        reducer.reduce_hierarchical({"a", "b"})


# -- budget ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("jobs", [1, 4])
@pytest.mark.parametrize("max_runs", [0, 1, 2, 7, 40, 120])
def test_max_runs_is_respected_and_best_so_far_returned(jobs: int, max_runs: int) -> None:
    items = tree(2, dirs=5, subdirs=5, files=6)
    needed = clustered(2) & items.keys() | scattered(2, items, 5)
    oracle = Recorder(superset_of(needed))
    reducer = Reducer(items, oracle, jobs=jobs, budget=Budget(max_runs=max_runs))
    result = reducer.minimize()
    assert oracle.runs == reducer.stats.runs <= max_runs
    assert needed <= result
    if max_runs == 0:
        assert result == frozenset(items) and not reducer.best_verified
    else:
        assert result in oracle.passed
        assert result == reducer.best
    if max_runs >= 7:
        assert reducer.weight(result) < reducer.total_weight
    if oracle.runs == max_runs:
        with pytest.raises(BudgetExhausted):
            reducer.test(frozenset({"not", "run", "before"}), "extra")
        assert not reducer.try_candidate(frozenset({"not", "run", "before"}))
    else:
        assert result == needed  # finished within the budget


def test_deadline_stops_cleanly() -> None:
    items = tree(4, dirs=5, subdirs=5, files=6)
    needed = scattered(4, items, 20)
    unlimited = Reducer(items, superset_of(needed))
    unlimited.reduce_hierarchical()
    oracle = Recorder(superset_of(needed), delay=lambda: 0.003)
    reducer = Reducer(items, oracle, budget=Budget(deadline=time.monotonic() + 0.1))
    result = reducer.reduce_hierarchical()
    assert 0 < oracle.runs < unlimited.stats.runs  # at most 34 runs of 3 ms fit in 0.1 s; the reduction needs more
    assert result in oracle.passed and result == reducer.best
    assert Reducer(items, oracle, budget=Budget(deadline=time.monotonic() - 1)).reduce_hierarchical() == set(items)


# -- parallel speculation -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1])
def test_jobs_do_not_change_the_result(seed: int) -> None:
    items = tree(seed, dirs=6, subdirs=6, files=6)
    needed = scattered(seed, items, 30) | {f"d1/s{b}/f{c}.py" for b in range(3) for c in range(6)}

    def quirky(kept: frozenset[str]) -> bool:  # deterministic, not monotone
        return needed <= kept and hashlib.sha256(repr(sorted(kept)).encode()).digest()[0] % 5 != 0

    outcomes = []
    for jobs, trial in [(1, 0), *itertools.product((2, 4, 7), range(6))]:
        # Random delays shuffle the order in which parallel runs finish, and sometimes fill every worker with
        # speculative runs from a branch that was not taken.
        oracle = Recorder(quirky, delay=jitter(seed=100 * jobs + trial, most=0.0005))
        reducer = Reducer(items, oracle, jobs=jobs)
        reduced = reducer.reduce_hierarchical()
        certified = reducer.certify(reduced)
        repaired = reducer.repair(needed - {"d1/s0/f0.py"}, [frozenset({"d0/s0/f0.py"}), frozenset(items)])
        oracle.assert_no_repeats()
        assert reducer.stats.runs == oracle.runs
        if jobs == 1:
            assert reducer.stats.wasted == 0
        outcomes.append((reduced, certified, repaired))
    assert all(outcome == outcomes[0] for outcome in outcomes)


def test_speculation_shortens_wall_time() -> None:
    items = tree(0, dirs=4, subdirs=5, files=5)
    needed = scattered(0, items, 15)
    timings = {}
    for jobs in (1, 4):
        oracle = Recorder(superset_of(needed), delay=lambda: 0.003)
        reducer = Reducer(items, oracle, jobs=jobs)
        begin = time.monotonic()
        assert reducer.minimize() == needed
        timings[jobs] = time.monotonic() - begin
        if jobs == 4:
            assert reducer.stats.wasted > 0
            assert reducer.stats.runs - reducer.stats.wasted <= len(items) + 1
    assert timings[4] < 0.8 * timings[1]


# -- cache, required items, progress, repair ----------------------------------------------------------------------


@pytest.mark.parametrize("jobs", [1, 4])
def test_shared_cache_makes_the_second_run_free(jobs: int) -> None:
    items = tree(9, dirs=5, subdirs=5, files=5)
    needed = clustered_partial(9) & items.keys() | scattered(9, items, 8)
    cache: dict[frozenset[str] | str, bool] = {}
    first_oracle = Recorder(superset_of(needed))
    first = Reducer(items, first_oracle, cache=cache, jobs=jobs).minimize()
    assert first_oracle.runs > 0
    second_oracle = Recorder(superset_of(needed))
    second_reducer = Reducer(items, second_oracle, cache=cache, jobs=jobs)
    assert second_reducer.minimize() == first == needed
    assert second_oracle.runs == 0 and second_reducer.stats.runs == 0
    assert second_reducer.stats.cached > 0
    assert second_reducer.best == first  # passes remembered by the cache count as verified


def test_string_cache_keys_for_persistence() -> None:
    items = tree(6, dirs=3, subdirs=3, files=3)
    needed = scattered(6, items, 5)
    cache: dict[frozenset[str] | str, bool] = {}
    oracle = Recorder(superset_of(needed))
    assert Reducer(items, oracle, cache=cache, cache_key=candidate_key).minimize() == needed
    assert len(cache) == oracle.runs
    assert all(isinstance(key, str) and len(key) == 64 for key in cache)
    again = Recorder(superset_of(needed))
    assert Reducer(items, again, cache=dict(cache), cache_key=candidate_key).minimize() == needed
    assert again.runs == 0


def test_candidate_key_is_sha256_of_sorted_items() -> None:
    expected = hashlib.sha256(b"a/b\nc").hexdigest()
    assert candidate_key({"c", "a/b"}) == candidate_key(["a/b", "c"]) == expected


@pytest.mark.parametrize("jobs", [1, 4])
def test_required_items_are_in_every_candidate(jobs: int) -> None:
    items = tree(8, dirs=4, subdirs=4, files=4)
    required = frozenset({"d0/s0/f0.py", "d3/s3/f3.py", "META/RECORD"})  # need not be in items
    needed = scattered(8, items, 10)
    oracle = Recorder(superset_of(needed))
    reducer = Reducer(items, oracle, required=required, jobs=jobs)
    result = reducer.minimize()
    assert result == needed | required
    classic_ddmin(reducer)
    reducer.repair(frozenset(), [frozenset({"d1/s1/f1.py"}), needed])
    reducer.test(frozenset(), "manual")
    assert reducer.try_candidate(frozenset(needed))
    assert all(required <= kept for kept, _ in oracle.calls)
    oracle.assert_no_repeats()


def test_progress_after_every_oracle_result() -> None:
    items = tree(12, dirs=4, subdirs=4, files=4)
    needed = scattered(12, items, 12)
    events: list[ProgressEvent] = []
    oracle = Recorder(superset_of(needed))
    reducer = Reducer(items, oracle, progress=events.append)
    reducer.minimize()
    assert [e.runs for e in events] == list(range(1, oracle.runs + 1))
    assert [e.passed for e in events] == [ok for _, ok in oracle.calls]
    assert {e.phase for e in events} == {"hierarchical", "certify"}
    assert all(e.total_weight == sum(items.values()) for e in events)
    best_weights = [e.best_weight for e in events]
    assert best_weights == sorted(best_weights, reverse=True)
    assert events[-1].best_weight == reducer.weight(needed) and events[-1].best_size == len(needed)
    assert reducer.stats.per_phase["hierarchical"] + reducer.stats.per_phase["certify"] == reducer.stats.runs
    assert reducer.stats.passes + reducer.stats.fails == reducer.stats.runs


@pytest.mark.parametrize("jobs", [1, 3])
def test_repair_returns_the_first_passing_superset(jobs: int) -> None:
    items = tree(13, dirs=3, subdirs=3, files=3)
    needed = frozenset({"d0/s0/f0.py", "d0/s1/f2.py", "d2/s2/f2.py"})
    oracle = Recorder(superset_of(needed))
    reducer = Reducer(items, oracle, jobs=jobs)
    failing = frozenset({"d0/s0/f0.py"})
    candidates = [
        failing | {"d0/s1/f2.py"},  # still misses d2/s2/f2.py
        frozenset({"d2/s2/f2.py"}),  # just the extra: still misses d0/s1/f2.py
        failing | {"d0/s1/f2.py", "d2/s2/f2.py", "d1/s1/f1.py"},  # the first that passes
        frozenset(items),
    ]
    assert reducer.repair(failing, candidates) == candidates[2]
    sequential = [kept for kept, _ in oracle.calls]
    if jobs == 1:
        assert sequential == [candidates[0], failing | candidates[1], candidates[2]]
    assert reducer.repair(failing, candidates[:2]) is None
    assert reducer.repair(failing, []) is None


def test_repair_with_expansions_of_a_trace() -> None:
    items = tree(14, dirs=4, subdirs=4, files=4)
    needed = frozenset({"d0/s0/f0.py", "d0/s0/f3.py", "d0/s2/f1.py", "d3/s1/f1.py"})
    trace = frozenset({"d0/s0/f0.py", "d3/s1/f1.py"})  # the trace missed two files
    grown = expansions(trace, items)
    assert grown[0] == trace | {f"d0/s0/f{c}.py" for c in range(4)} | {f"d3/s1/f{c}.py" for c in range(4)}
    assert grown[-1] == frozenset(items)
    assert all(a < b for a, b in itertools.pairwise(grown))
    oracle = Recorder(superset_of(needed))
    reducer = Reducer(items, oracle)
    repaired = reducer.repair(trace, grown)
    assert repaired == grown[1]  # siblings are not enough (d0/s2/f1.py), the top-level groups are
    assert reducer.certify(repaired) == needed


# -- interruption and errors ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("jobs", [1, 4])
def test_ctrl_c_keeps_the_best_so_far(jobs: int) -> None:
    items = tree(15, dirs=4, subdirs=4, files=4)
    needed = scattered(15, items, 10)
    oracle = Recorder(superset_of(needed))
    calls = 0
    lock = threading.Lock()

    def interrupted(kept: frozenset[str]) -> bool:
        nonlocal calls
        with lock:
            calls += 1
            if calls == 30:
                raise KeyboardInterrupt
        return oracle(kept)

    reducer = Reducer(items, interrupted, jobs=jobs)
    with pytest.raises(KeyboardInterrupt):
        reducer.reduce_hierarchical()
    assert reducer.best_verified and reducer.best in oracle.passed
    assert reducer.weight(reducer.best) < reducer.total_weight


def test_oracle_errors_propagate() -> None:
    def broken(kept: frozenset[str]) -> bool:
        raise RuntimeError("sandbox is gone")

    with pytest.raises(RuntimeError, match="sandbox"):
        Reducer({"a/b": 1, "c": 2}, broken, jobs=2).reduce_hierarchical()


def test_zero_weights_and_odd_names() -> None:
    items = {"a": 0, "a/b": 0, "a/b/": 5, "/abs": 1, "x//y": 0, "": 3, "a/c": 0, "d/e/f": 0}
    needed = frozenset({"a/b/", "x//y", ""})
    oracle = Recorder(superset_of(needed))
    assert Reducer(items, oracle).minimize() == needed
    oracle.assert_no_repeats()


def test_remaining_estimates_follow_the_search() -> None:
    items = {f"d{i // 8}/f{i}": 10 + i for i in range(64)}
    needed = {"d1/f9", "d5/f44"}
    seen: list[tuple[str, tuple[int, bool] | None]] = []
    reducer: Reducer

    def oracle(kept: frozenset[str]) -> bool:
        seen.append(("call", reducer.remaining()))
        return needed <= kept

    reducer = Reducer(items, oracle)
    assert reducer.remaining() is None
    kept = reducer.reduce_hierarchical()
    assert kept == needed and reducer.remaining() is None  # between methods: nothing running
    estimates = [r for _, r in seen]
    assert all(r is not None for r in estimates)
    assert all(r[1] for r in estimates if r is not None)  # hierarchical: lower bounds (deeper levels unseen)
    seen.clear()
    reducer.certify(set(items) - {"d0/f0"})  # 63 items, 1-at-a-time: exact count down
    counts = [r[0] for _, r in seen if r is not None]
    # the start set's run first (1, more to come), then a count down from 63 (cached answers skip runs)
    assert counts[0] == 1 and counts[1] == 63 and sorted(counts[1:], reverse=True) == counts[1:] and counts[-1] <= 2
