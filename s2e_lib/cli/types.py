"""Click parameter types shared by the ``s2e`` commands."""

from __future__ import annotations

from collections.abc import Callable

import click

from s2e_lib.errors import InputError

_KINDS = {str: "a string", int: "an integer", float: "a number"}


class CommaList(click.ParamType):
    """A comma-separated option value as a list: items stripped, empty items dropped.

    ``item`` converts each item (``str``, ``int``, ``float`` or any callable raising
    ``ValueError``); ``strip_prefix`` is removed from each item first (``"level_3"`` -> ``"3"``).
    A bad item raises :class:`~s2e_lib.errors.InputError`, which the CLI prints as one line
    ``error: --OPTION: 'x' is not an integer`` (exit 2). An empty value gives ``[]``.
    """

    name = "text"  # the metavar in --help, as for a plain string option

    def __init__(self, item: Callable = str, strip_prefix: str = "") -> None:
        self.item = item
        self.strip_prefix = strip_prefix

    def convert(self, value, param, ctx) -> list:
        if isinstance(value, list | tuple):
            return list(value)
        out = []
        for part in str(value).split(","):
            part = part.strip().removeprefix(self.strip_prefix) if self.strip_prefix else part.strip()
            if not part:
                continue
            try:
                out.append(self.item(part))
            except (TypeError, ValueError):
                option = param.opts[0] if param is not None and param.opts else "value"
                kind = _KINDS.get(self.item, "valid")
                raise InputError(f"{option}: {part!r} is not {kind}") from None
        return out
