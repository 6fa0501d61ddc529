"""Ctrl-C that is never lost: the request is remembered as well as raised.

Python turns SIGINT into a :class:`KeyboardInterrupt` in the main thread, between two bytecodes. Raised where an
exception can't travel (a destructor, a weakref callback, a finaliser), it is printed and dropped, and a trial
would carry on as if nothing had happened. :func:`install` (called once by the command line) keeps Python's
behaviour and also records the request; :func:`raise_if_requested` raises it again where a long operation starts
its next step (the check oracle, before each check run). An inherited "ignore SIGINT" is respected.

It knows signals only: nothing of trials, checks or wheels.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType

_requested = threading.Event()


def _on_sigint(signum: int, frame: FrameType | None) -> None:
    _requested.set()
    signal.default_int_handler(signum, frame)


def install() -> None:
    """Remember every SIGINT from now on (main thread only; a no-op where SIGINT is ignored or not available)."""
    if not hasattr(signal, "SIGINT") or threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _on_sigint)


def raise_if_requested() -> None:
    """Raise :class:`KeyboardInterrupt` if Ctrl-C was pressed, even if the first one was swallowed."""
    if _requested.is_set():
        raise KeyboardInterrupt


def reset() -> None:
    """Forget a request (for a caller that handled it and goes on, and for tests)."""
    _requested.clear()
