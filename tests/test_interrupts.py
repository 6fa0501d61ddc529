"""A Ctrl-C is never lost: one swallowed where it landed (a destructor) is raised again before the next check run."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator

import pytest

from slimwheel import interrupts


@pytest.fixture
def installed() -> Iterator[None]:
    before = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    interrupts.reset()
    interrupts.install()
    yield
    signal.signal(signal.SIGINT, before)
    interrupts.reset()


def test_a_swallowed_ctrl_c_is_raised_again(installed: None) -> None:
    interrupts.raise_if_requested()  # nothing pressed: nothing raised
    with contextlib.suppress(KeyboardInterrupt):  # swallowed, as in a destructor or a finaliser
        os.kill(os.getpid(), signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        interrupts.raise_if_requested()
    with pytest.raises(KeyboardInterrupt):  # and again: it stays requested until reset
        interrupts.raise_if_requested()
    interrupts.reset()
    interrupts.raise_if_requested()


def test_the_oracle_raises_a_lost_ctrl_c_before_a_check_run(installed: None) -> None:
    from slimwheel.oracle import CheckOracle

    class NoSandbox:
        def tree(self, *args: object, **kwargs: object) -> None:
            raise AssertionError("a check run started after Ctrl-C")

    oracle = CheckOracle.__new__(CheckOracle)
    oracle.sandbox = NoSandbox()  # type: ignore[assignment]
    with contextlib.suppress(KeyboardInterrupt):
        os.kill(os.getpid(), signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        oracle._run(frozenset(), {})


def test_an_ignored_sigint_stays_ignored() -> None:
    before = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        interrupts.install()
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, before)
