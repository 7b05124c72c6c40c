"""Errors meant for the user: the CLI prints them as one line and exits with code 2."""

from __future__ import annotations

import contextlib


class S2EError(Exception):
    """A problem with the user's input or environment, reported as one clear line.

    The message should name the file (when there is one) and the problem, e.g.
    ``"data/x.wav: no speech found (peak level -62 dBFS)"``.
    """

    exit_code = 2


class InputError(S2EError):
    """A bad input file or argument (missing, unreadable, corrupt, wrong kind)."""


class MissingResourceError(S2EError):
    """A model, weights file or data folder the user must provide is absent."""


def one_line(exc: BaseException, limit: int = 200) -> str:
    """The first line of ``exc``'s message, trimmed to ``limit`` characters (its type name when empty)."""
    text = str(exc).strip()
    return (text.splitlines()[0].strip() if text else type(exc).__name__)[:limit]


@contextlib.contextmanager
def deferred_interrupt():
    """Hold Ctrl-C (SIGINT) back while native code that calls Python back runs, then raise it.

    A ``KeyboardInterrupt`` raised inside a ctypes callback (openSMILE's sink) is printed and
    swallowed by ctypes, and the work ran on to exit 0. Inside this block SIGINT is only
    recorded; on leaving it, a recorded SIGINT becomes ``KeyboardInterrupt`` (so the command
    still stops with ``error: interrupted``, exit 130). Outside the main thread, where signal
    handlers cannot be set, it does nothing.
    """
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if received and previous not in (signal.SIG_IGN, None):
            if callable(previous) and previous is not signal.default_int_handler:
                previous(signal.SIGINT, None)
            else:
                raise KeyboardInterrupt
