"""Errors meant for the user: the CLI prints them as one line and exits with code 2."""

from __future__ import annotations


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
