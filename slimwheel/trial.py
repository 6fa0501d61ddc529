"""Trial deletion: remove every file the user's check does not need, and prove it by running the check.

The phases, each counted in runs:

1. **baseline** — the check must pass with every file (several times: a flaky check is refused, and the
   durations set the timeout) and must *fail* with none of them (else it does not exercise the wheels);
2. **trace** — one run under a tracer that records what the process opens, imports, maps and lists;
3. **verify** — the traced set is tried as it is; if it fails, **repair** grows it (files in listed
   directories, then sibling files, parent directories, ... everything) until it passes;
4. **reduce** (no usable trace) — hierarchical delta debugging over directories, from everything;
5. **certify** (``--minimal``) — try removing each kept file, biggest first, until every kept file is needed;
6. **stubs** — subpackages that are imported at start-up but not needed by the check are replaced by small
   modules that raise a clear ImportError when used; a stub is kept only when the check passes with it;
7. **confirm** — the final set must pass several more times; if not, fall back to the last set that did.

The package ``__init__.py`` of every directory that keeps a file is always kept (deleting it would turn the
package into a namespace package and "pass" by accident). The ``required`` items (every ``*.dist-info`` file and
every licence or notice file, as the caller decides) are in every candidate tree and never replaced by a stub. A
shared library that is not an extension module (:func:`slimwheel.stubs.is_extension_module`) is never stubbed.

Every verdict on a candidate lives in the journal (:class:`slimwheel.journal.Journal`), keyed by the files it
really holds (:meth:`Trial.files_for`) and its stubs: no candidate is checked twice, ``--resume`` reuses them all,
and as the reducer's cache it makes ``--max-runs`` count check runs. The searches (:mod:`slimwheel.reduce`,
:mod:`slimwheel.grouptest`) know nothing about files; this module turns their item sets into candidate trees
(:class:`slimwheel.sandbox.Sandbox`) and check runs into their oracle. It must not know zip archives, wheel files,
their metadata or the command line: it sees items (install keys and bytes) and checks.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from .check import Check
from .errors import SlimwheelError
from .eta import Estimate
from .grouptest import GroupTest
from .imports import ImportGraph, package_inits
from .journal import Journal
from .reduce import Budget, Reducer, candidate_key, expansions
from .sandbox import RunResult, Sandbox
from .stubs import StubCandidate, blocked_candidates, not_extension_modules, stub_candidates
from .trace import path_key
from .traced import TracedRun

# A path inside a candidate tree as a traceback prints it (…/trees/12/site/pkg/data/x.txt) and a missing module.
_TREE_PATH = re.compile(r"/trees/\d+/((?:site|bin|data|headers)/[^\s'\"\],:]+)")
_MISSING_MODULE = re.compile(r"No module named '([\w.]+)'|cannot import name '(\w+)' from '([\w.]+)'")


# The failure rate predicted for stub candidates whose attributes the traced run looked up from outside them.
LOOKED_UP_FAILURE_RATE = 0.7
# ... and for every candidate when there is no traced run to skip the ones that can't work (numpy: 5 of 11 fail).
UNTRACED_FAILURE_RATE = 0.4

# Phases whose runs --max-runs does not limit: they decide whether the check can be used and confirm the result.
_FIXED_PHASES = frozenset({"baseline", "confirm"})


class CheckFailed(SlimwheelError):
    """The check can't be used: it fails with the original wheels, passes without them, or is flaky."""


@dataclass(frozen=True)
class TrialOptions:
    checks: tuple[Check, ...]
    same_output: bool = False
    timeout: float | None = None  # seconds per run; None: adaptive from the baseline runs
    jobs: int = 1
    max_runs: int | None = None
    minimal: bool = False
    trace: bool = True
    stubs: bool = True
    resume: bool = False
    baseline_runs: int = 3
    confirm_runs: int = 3


@dataclass(frozen=True)
class TrialEvent:
    """Progress, sent after every check run."""

    phase: str
    runs: int
    kept_bytes: int
    total_bytes: int
    elapsed: float
    eta: float | None = None  # seconds left, estimated (None: no estimate yet)
    eta_is_lower_bound: bool = True  # later phases may add runs the estimate can't foresee


@dataclass
class TrialResult:
    kept: frozenset[str]  # item keys that stay (stubbed packages' files excluded)
    stubs: list[StubCandidate] = field(default_factory=list)
    runs: dict[str, int] = field(default_factory=dict)  # per phase
    seconds: float = 0.0
    timeout: float = 0.0
    interrupted: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def total_runs(self) -> int:
        return sum(self.runs.values())


class Trial:
    """One trial-deletion session over the staged items of one or more wheels: :meth:`run` goes through the phases
    (:meth:`baseline`; :meth:`traced_start` for trace, verify and repair; reduce and certify by the reducer;
    :meth:`try_stubs`; :meth:`confirm`), and :meth:`evaluate` is the check run they share, as the searches' oracle."""

    def __init__(
        self,
        sandbox: Sandbox,
        items: Mapping[str, bytes],
        required: Iterable[str],
        options: TrialOptions,
        *,
        journal: Path,
        startup_modules: Callable[[], set[str]] | None = None,
        progress: Callable[[TrialEvent], None] | None = None,
    ) -> None:
        self.sandbox = sandbox
        self.items = dict(items)
        self.weights = {k: len(v) for k, v in self.items.items()}
        self.required = frozenset(required) & set(self.items)
        self.options = options
        self.journal = journal
        self.progress = progress
        self.startup_modules = startup_modules
        self.started = time.monotonic()
        self.runs: dict[str, int] = {}
        self.phase = "baseline"
        self.timeout = options.timeout or 600.0
        self.expected: dict[str, str] = {}
        self._lock = threading.Lock()
        self.notes: list[str] = []
        self._journal = Journal(journal)  # every verdict (loaded with --resume, and recorded since): the only cache
        self._open_journal()
        self._kept_bytes = sum(self.weights.values())
        self._failures: dict[str, str] = {}  # candidate key → what its failing run printed
        self._estimate = Estimate(options)
        self._imports: ImportGraph | None = None  # built before blind reduction starts (in this thread: ast.parse
        # from several threads at once trips CPython 3.11's "AST constructor recursion depth mismatch")
        self.traced: TracedRun | None = None  # what the traced run showed, if it passed

    def _open_journal(self) -> None:
        """Prune old journals (:mod:`slimwheel.journal`); with ``resume``, take the verdicts this journal holds (its
        name covers every input that can change a verdict), else start it empty."""
        held = self._journal.start(resume=self.options.resume)
        if self.options.resume and held:
            plural = "s" if held != 1 else ""
            self.notes.append(f"--resume: continuing from {held} check result{plural} in the journal")
        elif self.options.resume:
            self.notes.append(
                "--resume: no journal for these wheels, checks and options (one of them changed?); started afresh"
            )

    # -- running the check ---------------------------------------------------------------------------------------

    def files_for(self, kept: Iterable[str]) -> frozenset[str]:
        """The files a candidate really holds: the kept items, the required ones, every package ``__init__.py``
        above them and, during blind reduction, the static import closure of the kept Python files (what they
        import at import time would only fail the run: the search needn't spend runs learning it)."""
        kept = set(kept) | self.required
        if self.phase == "reduce" and self._imports is not None:
            kept = set(self._imports.closure(kept))
        return frozenset(kept | package_inits(kept, self.items))

    def candidate_key(self, kept: frozenset[str]) -> str:
        """The journal key of the reducer's candidate ``kept``: that of the files it really holds, as
        :meth:`evaluate` keys them (so the reducer finds in the journal what any earlier run decided)."""
        return candidate_key(self.files_for(kept))

    def run_checks(
        self,
        files: frozenset[str],
        overrides: Mapping[str, bytes] | None = None,
        *,
        trace: bool = False,
        calls: bool = False,
    ) -> list[RunResult]:
        """Run every check against a candidate tree; stop at the first failure."""
        started = time.monotonic()
        tree = self.sandbox.tree(files, overrides=overrides or {})
        try:
            results = []
            for check in self.options.checks:
                result = self.sandbox.run(tree, check, timeout=self.timeout, trace=trace, calls=calls)
                results.append(result)
                if not self._passed(check, result):
                    break
            return results
        finally:
            self.sandbox.discard(tree)
            self._estimate.timed(time.monotonic() - started)

    def _passed(self, check: Check, result: RunResult) -> bool:
        if not result.passed:
            return False
        return not (
            self.options.same_output and check.label in self.expected and result.stdout != self.expected[check.label]
        )

    def _verdict(self, results: list[RunResult]) -> bool:
        """Whether every check ran and passed (with ``same_output``, printing what it printed in the baseline)."""
        return len(results) == len(self.options.checks) and all(
            self._passed(c, r) for c, r in zip(self.options.checks, results, strict=False)
        )

    def evaluate(self, files: frozenset[str], stubs: tuple[StubCandidate, ...] = (), *, phase: str) -> bool:
        """The oracle: does the check pass with exactly ``files`` (plus stubs)? Looked up in the journal first;
        a run's verdict is journaled."""
        key = candidate_key([*files, *(f"stub:{s.module}" for s in stubs)])
        known = self._journal.get(key)
        if known is not None:
            return known
        files, overrides = _with_stubs(files, stubs)
        results = self.run_checks(files, overrides)
        passed = self._verdict(results)
        self._journal.record(key, passed, phase)
        with self._lock:
            if not passed:
                self._failures[key] = "\n".join(r.stderr + "\n" + r.stdout for r in results)
            self.runs[phase] = self.runs.get(phase, 0) + 1
            if passed:
                self._kept_bytes = min(self._kept_bytes, sum(self.weights.get(f, 0) for f in files))
        self._report(phase)
        return passed

    def _report(self, phase: str) -> None:
        if self.progress is not None:
            eta, lower = self._estimate.seconds_left(phase, self.runs)
            self.progress(
                TrialEvent(
                    phase,
                    sum(self.runs.values()),
                    self._kept_bytes,
                    sum(self.weights.values()),
                    time.monotonic() - self.started,
                    eta,
                    lower,
                )
            )

    def _count(self, phase: str) -> None:
        with self._lock:
            self.runs[phase] = self.runs.get(phase, 0) + 1
        self._report(phase)

    # -- phases --------------------------------------------------------------------------------------------------

    def baseline(self) -> None:
        """The check passes with everything (repeatably) and fails with nothing; set the timeout."""
        everything = frozenset(self.items)
        durations: list[float] = []
        for i in range(self.options.baseline_runs):
            results = self.run_checks(everything)
            self._count("baseline")
            last = results[-1]
            if not self._all_passed(results):
                check = self.options.checks[len(results) - 1]
                what = "timed out" if last.timed_out else f"exited {last.returncode}"
                tail = (last.stderr.strip().splitlines() or last.stdout.strip().splitlines() or ["(no output)"])[-1]
                prefix = "is flaky: it passed, then" if i else "fails with the original wheels:"
                raise CheckFailed(f"check {check.label} {prefix} {what}; last line: {tail}")
            for check, r in zip(self.options.checks, results, strict=True):
                if i == 0:
                    self.expected[check.label] = r.stdout
                elif self.options.same_output and r.stdout != self.expected[check.label]:
                    raise CheckFailed(
                        f"check {check.label} prints different output on each run; --same-output can't work"
                    )
            durations.append(sum(r.seconds for r in results))
        if self.options.timeout is None:
            self.timeout = max(10.0, 5 * max(durations) + 2)
        results = self.run_checks(frozenset(self.required))
        self._count("baseline")
        if self._all_passed(results):
            raise CheckFailed(
                "the check passes even without the wheels' files: it does not exercise them (is the package also "
                "installed in the check's environment through --with?)"
            )

    def traced_start(self, reducer: Reducer) -> frozenset[str] | None:
        """Run once under the tracer, then verify (and if needed repair) the traced set."""
        results = self.run_checks(frozenset(self.items), trace=True, calls=True)
        self._count("trace")
        if not self._all_passed(results):  # a check that dislikes sys.settrace? Trace files only
            results = self.run_checks(frozenset(self.items), trace=True)
            self._count("trace")
        traces = [r.trace for r in results if r.trace is not None]
        if not self._all_passed(results) or not traces:
            self.notes.append("the traced run did not pass; reducing without a trace")
            return None
        self.traced = TracedRun.of(traces, self.items.keys())
        listed = set().union(*(t.directories for t in traces))
        start = self.files_for(self.traced.touched)
        self.phase = "verify"
        if reducer.test(start, "verify"):
            return start
        named = self.named_in(self._failures.get(candidate_key(start), ""))
        with_named = start | named
        with_listed = with_named | {k for k in self.items if str(PurePosixPath(k).parent) in listed}
        candidates = [frozenset(with_named), frozenset(with_listed), *expansions(with_listed, self.items)]
        self.phase = "repair"
        repaired = reducer.repair(start, [self.files_for(c) for c in candidates])
        if repaired is None:
            self.notes.append("the traced set could not be repaired; reducing without a trace")
        return repaired

    def _all_passed(self, results: list[RunResult]) -> bool:
        return len(results) == len(self.options.checks) and all(r.passed for r in results)

    def named_in(self, output: str) -> set[str]:
        """Items that a failing run's output names: paths inside a candidate tree, and missing modules."""
        named: set[str] = set()
        for match in _TREE_PATH.finditer(output):
            key = path_key(match.group(1))
            if key is not None:
                named |= {k for k in self.items if k == key or k.startswith(key + "/")}
        for match in _MISSING_MODULE.finditer(output):
            module = match.group(1) or f"{match.group(3)}.{match.group(2)}"
            as_path = module.replace(".", "/")
            named |= {
                k
                for k in self.items
                if k in (f"{as_path}.py", f"{as_path}/__init__.py")
                or (k.startswith(as_path + ".") and k.endswith((".so", ".pyd")))
            }
        return named

    def run(self) -> TrialResult:
        self.baseline()
        budget = Budget(max_runs=self.options.max_runs)
        reducer = Reducer(
            self.weights,
            lambda kept: self.evaluate(self.files_for(kept), phase=self.phase),
            jobs=self.options.jobs,
            budget=budget,
            required=self.required,
            cache=self._journal,
            cache_key=self.candidate_key,
        )
        self._estimate.search = reducer
        kept = frozenset(self.items)
        stubs: list[StubCandidate] = []
        interrupted = False
        try:
            start = self.traced_start(reducer) if self.options.trace else None
            if start is None:
                self._imports = ImportGraph(self.items)
                self.phase = "reduce"
                start = reducer.reduce_hierarchical()
            kept = self.files_for(start)
            if self.options.minimal:
                self.phase = "certify"
                kept = self.files_for(reducer.certify(kept))
            if self.options.stubs:
                self.phase = "stubs"
                stubs = self.try_stubs(kept)
        except KeyboardInterrupt:
            interrupted = True
            kept = self.files_for(reducer.best) if reducer.best_verified else frozenset(self.items)
            stubs = []
        if not interrupted:
            kept, stubs = self.confirm(kept, stubs)
        return TrialResult(
            kept=kept,
            stubs=stubs,
            runs=dict(self.runs),
            seconds=time.monotonic() - self.started,
            timeout=self.timeout,
            interrupted=interrupted,
            notes=self.notes,
        )

    def try_stubs(self, kept: frozenset[str]) -> list[StubCandidate]:
        """The stubs to keep, proven by adaptive group testing (:mod:`slimwheel.grouptest`): candidates that can't
        work are skipped without a run (:meth:`workable_stubs`), the others are tried in two parts
        (:meth:`stub_order`), many at a time, a failing group split until the culprit is found. A part's search
        runs its sets together with what the earlier part accepted, and accepts only sets that passed: the
        returned stubs passed as a whole, in one run, with ``kept``."""
        if self.startup_modules is None:
            return []
        modules = self.startup_modules()
        self._count("stubs")
        candidates = self.workable_stubs(kept, modules)
        if not candidates:
            return []
        by_module = {c.module: c for c in candidates}
        spent = sum(n for phase, n in self.runs.items() if phase not in _FIXED_PHASES)
        left = None if self.options.max_runs is None else max(0, self.options.max_runs - spent)
        accepted: frozenset[str] = frozenset()
        first = 0.0 if self.traced is not None else UNTRACED_FAILURE_RATE  # traced: the known failures were skipped
        for part, expected in zip(self.stub_order(candidates), (first, LOOKED_UP_FAILURE_RATE), strict=True):

            def oracle(stubbed: frozenset[str], before: frozenset[str] = accepted) -> bool:
                return self.evaluate(kept, tuple(by_module[m] for m in sorted(stubbed | before)), phase="stubs")

            search = GroupTest([c.module for c in part], oracle, expected_failures=expected, max_runs=left)
            self._estimate.search = search
            result = search.run()
            left = None if left is None else max(0, left - result.runs)
            # Every set the search accepted passed together with ``accepted``: so does the union.
            accepted |= frozenset(result.accepted)
        return [c for c in candidates if c.module in accepted]

    def stub_order(self, candidates: list[StubCandidate]) -> tuple[list[StubCandidate], list[StubCandidate]]:
        """``candidates`` in two parts, each in the order in which to group-test it: the ones nothing predicts to
        fail, then those whose attributes code outside them looked up in the traced run (``mod.f``,
        ``isinstance(x, mod.C)``, a lookup from C code): most of those fail, but not all (a lookup that a stub
        answers the same, code that catches the error), so they are tried, after the others, in small groups.

        In the first part, a candidate whose own code called into the rest of the wheels (a module body that
        registers something, as ``torch._logging.registrations`` does) may do something at import that the check
        relies on: such *active* candidates go last, so a failing group's binary search ends among them and the
        quiet ones pass in big groups. Within each part candidates are sorted by module name, so a package's
        neighbours (which may need each other stubbed) share a group.
        """
        traced = self.traced
        looked_up = [c for c in candidates if traced is not None and traced.looked_up_from_outside(c.replaces)]
        rest = [c for c in candidates if c not in looked_up]
        active = [c for c in rest if traced is not None and traced.calls_out(c.replaces)]
        quiet = [c for c in rest if c not in active]
        by_name = sorted(quiet, key=lambda c: c.module) + sorted(active, key=lambda c: c.module)
        return by_name, sorted(looked_up, key=lambda c: c.module)

    def workable_stubs(self, kept: frozenset[str], modules: set[str]) -> list[StubCandidate]:
        """Stub candidates among ``modules`` (imported at start-up) that might work, without a run.

        Skipped: candidates that start-up code takes names from (the sources that ran, when a traced run shows
        them; else every kept source) and candidates whose functions are called from outside them. A skipped
        package is looked into: one of its submodules may still be stubbable (``numpy.linalg`` is imported
        from, but ``numpy.linalg._umath_linalg`` is only bound by ``numpy.linalg`` itself).
        """
        weights = {k: self.weights[k] for k in kept}
        traced = self.traced
        ran = traced.ran() if traced is not None else kept
        sources = {k: self.items[k] for k in kept & ran if k.endswith(".py")}
        skipped: set[str] = set()
        libraries = not_extension_modules({k: self.items[k] for k in kept})
        while True:
            candidates = stub_candidates(
                weights, modules, skipped, protected=(), never_replace=self.required, not_modules=libraries
            )
            blocked = blocked_candidates(candidates, sources)
            unworkable = {
                c.module
                for c in candidates
                if c.module in blocked or (traced is not None and traced.used_from_outside(c.replaces))
            }
            if not unworkable:
                return candidates
            skipped |= unworkable

    def confirm(self, kept: frozenset[str], stubs: list[StubCandidate]) -> tuple[frozenset[str], list[StubCandidate]]:
        """The final set must pass ``confirm_runs`` more times (uncached); else fall back step by step."""
        for candidate, candidate_stubs in ((kept, stubs), (kept, []), (frozenset(self.items), [])):
            files, overrides = _with_stubs(candidate, candidate_stubs)
            ok = True
            for _ in range(self.options.confirm_runs):
                results = self.run_checks(files, overrides)
                self._count("confirm")
                if not self._verdict(results):
                    ok = False
                    break
            if ok:
                return candidate, candidate_stubs
            self.notes.append("the final set failed a confirmation run (a flaky check?); falling back to a larger set")
        return frozenset(self.items), []


def _with_stubs(files: frozenset[str], stubs: Iterable[StubCandidate]) -> tuple[frozenset[str], dict[str, bytes]]:
    """A candidate tree with stubs: the files left (without those the stubs replace) and the stubs' sources."""
    stubs = tuple(stubs)
    overrides = {s.stub_key: s.source for s in stubs}
    return frozenset(files - {k for s in stubs for k in s.replaces} - set(overrides)), overrides


def default_jobs() -> int:
    return max(1, os.cpu_count() or 1)
