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
7. **rewrite** (``--minify``, ``--bytecode-only``) — the kept Python files are replaced by their minified text or
   their bytecode (:mod:`slimwheel.rewrite`), group-tested like stubs: a file whose rewrite fails the check keeps
   its original (listed as restored);
8. **confirm** — the final set must pass several more times; if not, fall back to the last set that did.

The package ``__init__.py`` of every directory that keeps a file is always kept (deleting it would turn the
package into a namespace package and "pass" by accident). The ``required`` items (every ``*.dist-info`` file and
every licence or notice file, as the caller decides) are in every candidate tree and never replaced by a stub. A
shared library that is not an extension module (:func:`slimwheel.stubs.is_extension_module`) is never stubbed.

The phases ask the check oracle (:class:`slimwheel.oracle.CheckOracle`) whether a candidate passes: it runs the
checks in the sandbox, journals every verdict (no candidate is checked twice, ``--resume`` reuses them all, and as
the reducer's cache the journal makes ``--max-runs`` count check runs) and counts and reports the runs. The searches
(:mod:`slimwheel.reduce`, :mod:`slimwheel.grouptest`) know nothing about files; this module decides which item sets
they search, in which order, and what each phase makes of their answers. It must not know zip archives, wheel files,
their metadata or the command line, nor how a check is run or a verdict kept: it sees items (install keys and
bytes), what the traced run showed, and the oracle's verdicts.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from .check import Check
from .errors import SlimwheelError
from .eta import Estimate
from .grouptest import GroupTest
from .imports import ImportGraph, imported_from
from .oracle import CheckOracle, TrialEvent
from .reduce import Budget, Reducer, expansions
from .rewrite import Rewrite
from .sandbox import Sandbox
from .stubs import Replacement, StubCandidate, blocked_candidates, not_extension_modules, stub_candidates
from .trace import path_key
from .traced import TracedRun

__all__ = ["CheckFailed", "Trial", "TrialEvent", "TrialOptions", "TrialResult", "default_jobs"]

# A path inside a candidate tree as a traceback prints it (…/trees/12/site/pkg/data/x.txt) and a missing module.
_TREE_PATH = re.compile(r"/trees/\d+/((?:site|bin|data|headers)/[^\s'\"\],:]+)")
_MISSING_MODULE = re.compile(r"No module named '([\w.]+)'|cannot import name '(\w+)' from '([\w.]+)'")


# The failure rate predicted for stub candidates whose attributes the traced run looked up from outside them.
LOOKED_UP_FAILURE_RATE = 0.7
# ... and for every candidate when there is no traced run to skip the ones that can't work (numpy: 5 of 11 fail).
UNTRACED_FAILURE_RATE = 0.4

# A rewritten Python file seldom fails where the original passed (docstring-driven code, source read at run time):
# most rewrites pass in a few big groups.
REWRITE_FAILURE_RATE = 0.002

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


@dataclass
class TrialResult:
    kept: frozenset[str]  # item keys that stay (stubbed packages' files excluded)
    stubs: list[StubCandidate] = field(default_factory=list)
    rewrites: list[Rewrite] = field(default_factory=list)  # kept Python files replaced by smaller forms
    restored: list[str] = field(default_factory=list)  # item keys whose rewrite failed the check: kept as they were
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
    :meth:`try_stubs`; :meth:`confirm`), asking the check oracle (:class:`slimwheel.oracle.CheckOracle`) whether a
    candidate passes; :meth:`evaluate` is the question every search asks."""

    def __init__(
        self,
        sandbox: Sandbox,
        items: Mapping[str, bytes],
        required: Iterable[str],
        options: TrialOptions,
        *,
        journal: Path,
        startup_modules: Callable[[], set[str]] | None = None,
        rewrites: Callable[[frozenset[str]], list[Rewrite]] | None = None,
        progress: Callable[[TrialEvent], None] | None = None,
    ) -> None:
        self.options = options
        self._estimate = Estimate(options)
        self.oracle = CheckOracle(
            sandbox,
            items,
            required,
            options.checks,
            same_output=options.same_output,
            timeout=options.timeout or 600.0,
            journal=journal,
            resume=options.resume,
            estimate=self._estimate,
            progress=progress,
        )
        self.items, self.weights, self.required = self.oracle.items, self.oracle.weights, self.oracle.required
        self.startup_modules = startup_modules
        self.rewrites = rewrites
        self.phase = "baseline"
        self.notes: list[str] = [] if self.oracle.journal_note is None else [self.oracle.journal_note]
        self.traced: TracedRun | None = None  # what the traced run showed, if it passed

    def evaluate(self, files: frozenset[str], stubs: tuple[Replacement, ...] = (), *, phase: str) -> bool:
        """Does the check pass with exactly ``files`` (plus stubs)? :meth:`slimwheel.oracle.CheckOracle.evaluate`;
        every search asks it here, the reducer and the stubs' group tests alike."""
        return self.oracle.evaluate(files, stubs, phase=phase)

    def _enter(self, phase: str, closure: ImportGraph | None = None) -> None:
        """Start ``phase``; candidates hold the static import closure of their files only while ``closure`` is
        given (blind reduction)."""
        self.phase = phase
        self.oracle.closure = closure

    # -- phases --------------------------------------------------------------------------------------------------

    def baseline(self) -> None:
        """The check passes with everything (repeatably) and fails with nothing; set the timeout."""
        everything = frozenset(self.items)
        durations: list[float] = []
        for i in range(self.options.baseline_runs):
            results = self.oracle.run_checks(everything, phase="baseline")
            last = results[-1]
            if not self.oracle.all_passed(results):
                check = self.options.checks[len(results) - 1]
                what = "timed out" if last.timed_out else f"exited {last.returncode}"
                tail = (last.stderr.strip().splitlines() or last.stdout.strip().splitlines() or ["(no output)"])[-1]
                prefix = "is flaky: it passed, then" if i else "fails with the original wheels:"
                raise CheckFailed(f"check {check.label} {prefix} {what}; last line: {tail}")
            for check, r in zip(self.options.checks, results, strict=True):
                if i == 0:
                    self.oracle.expected[check.label] = r.stdout
                elif self.options.same_output and r.stdout != self.oracle.expected[check.label]:
                    raise CheckFailed(
                        f"check {check.label} prints different output on each run; --same-output can't work"
                    )
            durations.append(sum(r.seconds for r in results))
        if self.options.timeout is None:
            self.oracle.timeout = max(10.0, 5 * max(durations) + 2)
        results = self.oracle.run_checks(self.required, phase="baseline")
        if self.oracle.all_passed(results):
            raise CheckFailed(
                "the check passes even without the wheels' files: it does not exercise them (is the package also "
                "installed in the check's environment through --with?)"
            )

    def traced_start(self, reducer: Reducer) -> frozenset[str] | None:
        """Run once under the tracer, then verify (and if needed repair) the traced set."""
        everything = frozenset(self.items)
        results = self.oracle.run_checks(everything, phase="trace", trace=True, calls=True)
        if not self.oracle.all_passed(results):  # a check that dislikes sys.settrace? Trace files only
            results = self.oracle.run_checks(everything, phase="trace", trace=True)
        traces = [r.trace for r in results if r.trace is not None]
        if not self.oracle.all_passed(results) or not traces:
            self.notes.append("the traced run did not pass; reducing without a trace")
            return None
        self.traced = TracedRun.of(traces, self.items.keys())
        listed = set().union(*(t.directories for t in traces))
        start = self.oracle.files_for(self.traced.touched)
        self._enter("verify")
        if reducer.test(start, "verify"):
            return start
        named = self.named_in(self.oracle.failure_output(start))
        with_named = start | named
        with_listed = with_named | {k for k in self.items if str(PurePosixPath(k).parent) in listed}
        candidates = [frozenset(with_named), frozenset(with_listed), *expansions(with_listed, self.items)]
        self._enter("repair")
        repaired = reducer.repair(start, [self.oracle.files_for(c) for c in candidates])
        if repaired is None:
            self.notes.append("the traced set could not be repaired; reducing without a trace")
        return repaired

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
            lambda kept: self.evaluate(self.oracle.files_for(kept), phase=self.phase),
            jobs=self.options.jobs,
            budget=budget,
            required=self.required,
            cache=self.oracle.journal,
            cache_key=self.oracle.candidate_key,
        )
        self._estimate.search = reducer
        kept = frozenset(self.items)
        stubs: list[StubCandidate] = []
        rewritten: list[Rewrite] = []
        restored: list[str] = []
        interrupted = False
        try:
            start = self.traced_start(reducer) if self.options.trace else None
            if start is None:
                # The import graph is built here, before the search starts: ast.parse from several threads at once
                # trips CPython 3.11's "AST constructor recursion depth mismatch".
                self._enter("reduce", closure=ImportGraph(self.items))
                start = reducer.reduce_hierarchical()
            kept = self.oracle.files_for(start)
            if self.options.minimal:
                self._enter("certify")
                kept = self.oracle.files_for(reducer.certify(kept))
            if self.options.stubs:
                self._enter("stubs")
                stubs = self.try_stubs(kept)
            if self.rewrites is not None:
                self._enter("rewrite")
                rewritten, restored = self.try_rewrites(kept, stubs)
        except KeyboardInterrupt:
            interrupted = True
            kept = self.oracle.files_for(reducer.best) if reducer.best_verified else frozenset(self.items)
            stubs, rewritten, restored = [], [], []
        if not interrupted:
            kept, stubs, rewritten = self.confirm(kept, stubs, rewritten)
        return TrialResult(
            kept=kept,
            stubs=stubs,
            rewrites=rewritten,
            restored=restored,
            runs=dict(self.oracle.runs),
            seconds=time.monotonic() - self.oracle.started,
            timeout=self.oracle.timeout,
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
        self.oracle.count("stubs")
        candidates = self.workable_stubs(kept, modules)
        if not candidates:
            return []
        by_module = {c.module: c for c in candidates}
        spent = sum(n for phase, n in self.oracle.runs.items() if phase not in _FIXED_PHASES)
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
        imports = imported_from({k: self.items[k] for k in kept & ran if k.endswith(".py")})
        skipped: set[str] = set()
        libraries = not_extension_modules({k: self.items[k] for k in kept})
        while True:
            candidates = stub_candidates(
                weights, modules, skipped, protected=(), never_replace=self.required, not_modules=libraries
            )
            blocked = blocked_candidates(candidates, imports)
            unworkable = {
                c.module
                for c in candidates
                if c.module in blocked or (traced is not None and traced.used_from_outside(c.replaces))
            }
            if not unworkable:
                return candidates
            skipped |= unworkable

    def try_rewrites(self, kept: frozenset[str], stubs: list[StubCandidate]) -> tuple[list[Rewrite], list[str]]:
        """The rewrites of the kept Python files (not those stubs replace) that passed the check together, with
        ``kept`` and ``stubs``, by adaptive group testing in key order (a package's files share a group); and the
        item keys whose rewrite was rejected (restored from the original)."""
        if self.rewrites is None:
            return [], []
        stubbed = {k for s in stubs for k in s.replaces} | {s.stub_key for s in stubs}
        candidates = self.rewrites(frozenset(kept - stubbed - self.required))
        if not candidates:
            return [], []
        by_key = {r.key: r for r in candidates}
        spent = sum(n for phase, n in self.oracle.runs.items() if phase not in _FIXED_PHASES)
        left = None if self.options.max_runs is None else max(0, self.options.max_runs - spent)

        def oracle(accepted: frozenset[str]) -> bool:
            return self.evaluate(kept, (*stubs, *(by_key[k] for k in sorted(accepted))), phase="rewrite")

        search = GroupTest(sorted(by_key), oracle, expected_failures=REWRITE_FAILURE_RATE, max_runs=left)
        self._estimate.search = search
        result = search.run()
        return [by_key[k] for k in sorted(result.accepted)], sorted(result.rejected)

    def confirm(
        self, kept: frozenset[str], stubs: list[StubCandidate], rewrites: list[Rewrite] | None = None
    ) -> tuple[frozenset[str], list[StubCandidate], list[Rewrite]]:
        """The final set must pass ``confirm_runs`` more times (uncached); else fall back step by step: without
        the rewrites, without the stubs, everything."""
        rewrites = rewrites or []
        steps: list[tuple[frozenset[str], list[StubCandidate], list[Rewrite]]] = [
            *([(kept, stubs, rewrites)] if rewrites else []),
            (kept, stubs, []),
            (kept, [], []),
            (frozenset(self.items), [], []),
        ]
        for candidate, candidate_stubs, candidate_rewrites in steps:
            confirmations = (  # lazily: the first failure ends them
                self.oracle.run_checks(candidate, [*candidate_stubs, *candidate_rewrites], phase="confirm")
                for _ in range(self.options.confirm_runs)
            )
            if all(self.oracle.verdict(results) for results in confirmations):
                return candidate, candidate_stubs, candidate_rewrites
            self.notes.append("the final set failed a confirmation run (a flaky check?); falling back to a larger set")
        return frozenset(self.items), [], []


def default_jobs() -> int:
    return max(1, os.cpu_count() or 1)
