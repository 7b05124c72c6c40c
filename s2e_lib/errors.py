"""Errors meant for the user: the CLI prints them as one line and exits with code 2."""

from __future__ import annotations

import contextlib
import re


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
    """The first line of ``exc``'s message, trimmed to ``limit`` characters (its type name when empty).

    An error number in front (``"[Errno 1094995529] Invalid data ..."``, as OSError and PyAV
    write them) is dropped: it means nothing to a user, the words after it do.
    """
    text = _ERRNO_PREFIX.sub("", str(exc).strip())
    return (text.splitlines()[0].strip() if text else type(exc).__name__)[:limit]


_ERRNO_PREFIX = re.compile(r"^\[Errno -?\d+\]\s*")


def media_problem(exc: BaseException, kind: str = "media") -> str:
    """What went wrong reading a file with PyAV (FFmpeg), in words a user reads.

    ``kind`` is what the file should hold (``"audio"``, ``"video"``, ``"media"``). The result
    names the problem without FFmpeg's error number or the path (the caller puts the path in
    front): ``"not a readable audio file (invalid data found when processing input)"`` for
    garbage named ``.m4a``, ``"the video file is cut short (it ends early)"`` for a truncated one.
    Errors that are not PyAV's are described by their first line.
    """
    name = type(exc).__name__ if type(exc).__module__ == "av.error" else ""
    reason = getattr(exc, "strerror", None) if name else None
    reason = (reason or one_line(exc)).strip().rstrip(".")
    reason = reason[:1].lower() + reason[1:] if reason[1:2].islower() else reason
    if name == "InvalidDataError":
        return f"not a readable {kind} file ({reason})"
    if name in ("DemuxerNotFoundError", "ProtocolNotFoundError"):
        return f"not a readable {kind} file (FFmpeg does not know its format)"
    if name == "DecoderNotFoundError":
        return f"cannot decode {kind} (this FFmpeg has no decoder for its codec)"
    if name in ("PatchWelcomeError", "NotImplementedError", "ExperimentalError"):
        return f"cannot decode {kind} (it uses a feature FFmpeg does not support: {reason})"
    if name == "EOFError" or (not name and isinstance(exc, EOFError)):
        return f"the {kind} file is cut short (it ends early)"
    if isinstance(exc, FileNotFoundError):
        return "file not found"
    if isinstance(exc, IsADirectoryError):
        return "is a folder, not a file"
    if isinstance(exc, PermissionError):
        return "permission denied (cannot read it)"
    if isinstance(exc, MemoryError):
        return f"cannot decode {kind} (out of memory)"
    if reason.startswith("error number "):  # FFmpeg's text for a code it has no words for
        return f"cannot decode {kind} (FFmpeg failed: {reason})"
    return f"cannot decode {kind} ({reason})"


def user_message(exc: BaseException) -> str | None:
    """One line for the user about ``exc`` when it is a problem with an input rather than a
    bug: an :class:`S2EError`'s message, or a PyAV (FFmpeg) error that escaped unwrapped,
    described by :func:`media_problem` after the file it names. ``None`` for anything else."""
    if isinstance(exc, S2EError):
        return str(exc)
    if type(exc).__module__ == "av.error":
        filename = getattr(exc, "filename", None)
        return f"{filename}: {media_problem(exc)}" if filename else media_problem(exc)
    return None


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
