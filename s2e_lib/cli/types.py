"""Click parameter types shared by the ``s2e`` commands."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

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
            except (TypeError, ValueError) as exc:
                option = param.opts[0] if param is not None and param.opts else "value"
                kind = _KINDS.get(self.item)
                detail = f"is not {kind}" if kind else (str(exc) or "is not valid")
                raise InputError(f"{option}: {part!r} {detail}") from None
        return out


def _option_name(param) -> str:
    """``--hop`` for an option, ``FILE`` for an argument, ``value`` without a parameter."""
    if param is None:
        return "value"
    if getattr(param, "opts", None) and param.param_type_name == "option":
        return max(param.opts, key=len)  # the long form: --hop, not -h
    return (param.name or "value").upper()


def _number(value: float) -> str:
    return f"{value:g}"


class FiniteFloat(click.ParamType):
    """A float that is finite (no NaN, no inf) and, optionally, within ``[min, max]``.

    ``min_open=True`` makes the lower bound exclusive (``> min``). A bad value raises
    :class:`~s2e_lib.errors.InputError`, printed as one line naming the option:
    ``error: --hop: must be a finite number > 0 (got -1.0)`` (exit 2). Unlike
    ``click.FloatRange``, ``nan`` and ``inf`` are refused.
    """

    name = "float"

    def __init__(self, min: float | None = None, max: float | None = None, min_open: bool = False) -> None:
        self.min = min
        self.max = max
        self.min_open = min_open

    def _rule(self) -> str:
        parts = []
        if self.min is not None:
            parts.append(f"{'>' if self.min_open else '>='} {_number(self.min)}")
        if self.max is not None:
            parts.append(f"<= {_number(self.max)}")
        return "must be a finite number" + (" " + " and ".join(parts) if parts else "")

    def convert(self, value, param, ctx) -> float:
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise InputError(f"{_option_name(param)}: {self._rule()} (got {value!r})") from None
        low_ok = self.min is None or (number > self.min if self.min_open else number >= self.min)
        high_ok = self.max is None or number <= self.max
        if not (math.isfinite(number) and low_ok and high_ok):
            raise InputError(f"{_option_name(param)}: {self._rule()} (got {number!r})")
        return number

    def get_metavar(self, param, ctx=None) -> str:  # ctx: click >= 8.2
        return "FLOAT"


class PositiveInt(click.ParamType):
    """An integer ``>= 1`` and, optionally, ``<= max``; a bad value is one line naming the option:
    ``error: --epochs: must be an integer >= 1 (got 0)`` (exit 2)."""

    name = "integer"

    def __init__(self, max: int | None = None) -> None:
        self.max = max

    def _rule(self) -> str:
        return "must be an integer >= 1" + (f" and <= {self.max}" if self.max is not None else "")

    def convert(self, value, param, ctx) -> int:
        if isinstance(value, bool):
            value = str(value)
        try:
            number = int(value) if isinstance(value, int) else int(str(value).strip())
        except (TypeError, ValueError):
            raise InputError(f"{_option_name(param)}: {self._rule()} (got {value!r})") from None
        if number < 1 or (self.max is not None and number > self.max):
            raise InputError(f"{_option_name(param)}: {self._rule()} (got {number})")
        return number

    def get_metavar(self, param, ctx=None) -> str:
        return "INTEGER"


def writable_image_suffixes() -> dict[str, str]:
    """Suffix -> Pillow format name, for every format Pillow can write (``.png`` -> ``PNG``)."""
    from PIL import Image

    Image.init()
    return {ext: fmt for ext, fmt in Image.registered_extensions().items() if fmt in Image.SAVE}


class ImageOut(click.ParamType):
    """An output image path whose suffix is a format Pillow can write (``.png``, ``.jpg``, ...).

    Checked when the command line is read, so a typo like ``--out edited.pgn`` fails before
    any work: ``error: --out: edited.pgn: '.pgn' is not an image format (use .png or .jpg)``.
    """

    name = "path"

    def convert(self, value, param, ctx) -> str:
        text = str(value)
        suffix = Path(text).suffix.lower()
        if suffix not in writable_image_suffixes():
            what = f"{suffix!r} is not an image format" if suffix else "has no image suffix"
            raise InputError(f"{_option_name(param)}: {text}: {what} (use .png or .jpg)")
        return text

    def get_metavar(self, param, ctx=None) -> str:
        return "PATH"


#: Devices torch can train on here: ``cpu``, ``cuda``, ``cuda:N``, ``mps``.
_DEVICE_PATTERN = r"cpu|cuda(:\d+)?|mps"


class Device(click.ParamType):
    """A torch device name (``cpu``, ``cuda``, ``cuda:1``, ``mps``) that exists on this machine."""

    name = "device"

    def convert(self, value, param, ctx) -> str:
        import re

        text = str(value).strip().lower()
        option = _option_name(param)
        if not re.fullmatch(_DEVICE_PATTERN, text):
            raise InputError(f"{option}: {value!r} is not a device (use cpu, cuda, cuda:N or mps)")
        import torch

        if text.startswith("cuda"):
            count = torch.cuda.device_count() if torch.cuda.is_available() else 0
            index = int(text.split(":")[1]) if ":" in text else 0
            if index >= count:
                found = f"{count} CUDA device(s)" if count else "no CUDA device"
                raise InputError(f"{option}: {text} is not available ({found} on this machine)")
        elif text == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
            raise InputError(f"{option}: mps is not available on this machine")
        return text
