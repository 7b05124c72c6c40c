"""The common editor interface and the registry of editors by name."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from s2e_lib.errors import S2EError


@dataclass
class EditResult:
    """An edited photo plus what the editor wants to report (timings, codes, ...)."""

    image: np.ndarray
    info: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Editor(Protocol):
    """Changes the expression of the face in an RGB uint8 photo.

    ``edit`` returns the full photo (same size and mode), with the face showing
    ``emotion`` (a canonical label) at ``strength`` (0 = unchanged, 1 = default).
    """

    name: str

    def edit(self, image: np.ndarray, emotion: str, strength: float = 1.0) -> EditResult: ...


#: name -> "module:factory"; factories take keyword options (checkpoint=..., pretrain=...).
EDITORS: dict[str, str] = {
    "warp": "s2e_lib.edit.warp:WarpEditor",
    "pix2pixhd": "s2e_lib.edit.pix2pixhd:Pix2PixHDEditor",
    "ials": "s2e_lib.edit.ials:IALSEditor",
}


def get_editor(name: str, **options: Any) -> Editor:
    """Build the editor called ``name`` with ``options`` (e.g. ``checkpoint=...``)."""
    key = name.strip().lower()
    if key not in EDITORS:
        raise S2EError(f"unknown editor {name!r}; expected one of: {', '.join(EDITORS)}")
    module_name, factory_name = EDITORS[key].split(":")
    module = importlib.import_module(module_name)
    factory = getattr(module, factory_name)
    return factory(**options)
