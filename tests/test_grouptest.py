"""The adaptive group test (slimwheel.grouptest) against synthetic oracles, like tests/test_reduce.py does."""

from __future__ import annotations

import hashlib
import itertools
import math
import random
from collections.abc import Callable

import pytest

from slimwheel.grouptest import GroupTest, GroupTestResult, group_size


def names(n: int) -> list[str]:
    return [f"c{i:03d}" for i in range(n)]


def failing(bad: set[str]) -> Callable[[frozenset[str]], bool]:
    """Each candidate in ``bad`` fails whatever it is applied with; the others always pass."""
    return lambda applied: not (applied & bad)


def run(candidates: list[str], oracle: Callable[[frozenset[str]], bool], **options: object) -> GroupTestResult:
    calls: list[frozenset[str]] = []

    def counted(applied: frozenset[str]) -> bool:
        assert applied not in calls, f"the same set was run twice: {sorted(applied)}"
        calls.append(applied)
        return oracle(applied)

    result = GroupTest(candidates, counted, **options).run()  # type: ignore[arg-type]
    assert result.runs == len(calls) == len(result.history)
    return result


def assert_proven(result: GroupTestResult) -> None:
    """Every set the accepted candidates grew through, and the final one, was run and passed as a whole."""
    passed = {applied for applied, ok in result.history if ok}
    if result.accepted:
        assert result.verified and frozenset(result.accepted) in passed
    growth = [applied for applied, ok in result.history if ok]
    for smaller, larger in itertools.pairwise(growth):
        assert smaller < larger, "an accepted set shrank or was replaced"


def bound(n: int, d: int) -> float:
    """d·log2(n/d) + d (Hwang's generalised binary splitting with d known), plus what not knowing d costs: up to
    about three runs per failure (a failing group run, a binary search over more than n/d candidates, the run
    that passes what is left) and the final pass. Measured worst cases: ≈ d·log2(n/d) + d + 2.9·d."""
    return 1 if d == 0 else d * math.log2(n / d) + 4 * d + 1


def test_group_size_follows_hwang() -> None:
    assert group_size(0, 0.0) == 0
    assert group_size(50, 0.0) == 50  # no failure expected: everything at once
    assert group_size(50, 1.0) == 50
    assert group_size(64, 4.0) == 8  # 2^floor(log2((64 - 4 + 1) / 4)) = 2^3
    assert group_size(6, 4.0) == 1  # m <= 2d - 2: one at a time


@pytest.mark.parametrize("n", range(0, 10))
def test_every_failing_set_is_found_exactly_within_the_bound(n: int) -> None:
    items = names(n)
    for d in range(n + 1):
        for bad in itertools.combinations(items, d):
            result = run(items, failing(set(bad)))
            assert set(result.rejected) == set(bad) and set(result.accepted) == set(items) - set(bad)
            assert not result.untested
            assert result.runs <= bound(n, d), (n, bad, result.runs)
            assert_proven(result)


def test_large_sets_with_few_failures_stay_within_the_bound_and_beat_one_at_a_time() -> None:
    rng = random.Random(7)
    for n in (16, 33, 61, 90, 128):
        for d in (0, 1, 2, 3, n // 16, n // 8):
            total = 0
            for _ in range(25):
                items = names(n)
                bad = set(rng.sample(items, d))
                result = run(items, failing(bad))
                assert set(result.rejected) == bad
                assert result.runs <= bound(n, d), (n, d, result.runs)
                total += result.runs
            assert total / 25 < n, "group testing must pay when failures are few"
    assert run(names(90), failing(set())).runs == 1  # nothing fails: one run decides all


def test_many_failures_cost_at_most_about_twice_one_at_a_time() -> None:
    rng = random.Random(11)
    for n in (8, 20, 40):
        for d in (n // 2, 3 * n // 4, n):
            bad = set(rng.sample(names(n), d))
            result = run(names(n), failing(bad))
            assert set(result.rejected) == bad and result.runs <= 2.5 * n + 1, (n, d, result.runs)


def test_a_pair_that_fails_only_together_keeps_one_of_them() -> None:
    items = names(12)
    a, b = items[2], items[9]
    result = run(items, lambda applied: not {a, b} <= applied)
    assert len({a, b} & set(result.accepted)) == 1 and len(result.rejected) == 1
    assert set(result.accepted) | set(result.rejected) == set(items)
    assert_proven(result)


def test_a_candidate_that_passes_only_with_another_is_accepted_when_they_share_a_group() -> None:
    items = names(8)
    needy, helper = items[3], items[4]  # neighbours: the first group (everything) holds both
    result = run(items, lambda applied: needy not in applied or helper in applied)
    assert result.accepted == tuple(items) and result.runs == 1


def test_a_candidate_failing_with_what_was_accepted_before_is_rejected() -> None:
    items = names(10)
    late = items[7]  # passes alone, fails with anything accepted before it
    result = run(items, lambda applied: late not in applied or applied == {late}, expected_failures=0.3)
    assert late in result.rejected
    assert_proven(result)


def deterministic_chaos(seed: int, rate: float) -> Callable[[frozenset[str]], bool]:
    """Pass or fail at random per *set* (not monotone, any interactions), but the same answer for the same set."""

    def oracle(applied: frozenset[str]) -> bool:
        digest = hashlib.sha256(f"{seed}:{','.join(sorted(applied))}".encode()).digest()
        return digest[0] / 256 >= rate

    return oracle


@pytest.mark.parametrize("seed", range(40))
def test_every_accepted_set_passed_as_a_whole_whatever_the_oracle_does(seed: int) -> None:
    items = names(5 + seed % 20)
    result = run(items, deterministic_chaos(seed, rate=0.3 + 0.01 * seed), expected_failures=(seed % 5) / 10)
    assert_proven(result)
    assert set(result.accepted) | set(result.rejected) == set(items) and not result.untested
    if not result.accepted:
        assert not result.verified


def test_same_input_same_runs_and_result() -> None:
    items = names(40)
    oracle = deterministic_chaos(3, rate=0.2)
    first, second = run(items, oracle, expected_failures=0.1), run(items, oracle, expected_failures=0.1)
    assert first == second


def test_budget_stops_with_a_proven_result_and_reports_what_is_left() -> None:
    items = names(30)
    bad = {items[0], items[11], items[25]}
    result = run(items, failing(bad), max_runs=4)
    assert result.runs == 4 and result.untested
    assert not set(result.accepted) & bad
    assert_proven(result)
    stopped = run(items, failing(bad), allows=lambda runs: runs < 2)
    assert stopped.runs == 2 and stopped.untested


def test_the_order_is_kept_and_candidates_must_be_distinct() -> None:
    items = ["z", "a", "m"]
    result = run(items, failing({"a"}))
    assert result.accepted == ("z", "m") and result.rejected == ("a",)
    with pytest.raises(ValueError):
        GroupTest(["a", "a"], failing(set()))


def test_remaining_is_an_estimate_that_falls_to_zero() -> None:
    search = GroupTest(names(16), failing({"c003"}), expected_failures=0.1)
    before, _ = search.remaining()
    result = search.run()
    assert before >= 1 and search.remaining() == (0.0, True) and result.rejected == ("c003",)
