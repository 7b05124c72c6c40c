"""The common editor interface and the registry of editors by name."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from s2e_lib.errors import InputError, S2EError

if TYPE_CHECKING:
    from s2e_lib.face.detect import Face


@dataclass
class EditResult:
    """An edited photo plus what the editor wants to report (timings, codes, ...)."""

    image: np.ndarray
    info: dict[str, Any] = field(default_factory=dict)


def edit_warnings(info: dict[str, Any]) -> list[str]:
    """What a result must tell the user about an edit's ``info`` (empty when nothing):
    features the photo's edge cuts and eyes hidden by dark lenses, which the warp editor
    keeps as they are, and eyes that show no white, whose upper lids it does not raise."""
    warnings = []
    cut = info.get("cut_by_border") or []
    if cut:
        warnings.append(
            f"the photo's edge cuts the face ({', '.join(cut)}): those features were kept as they are"
        )
    hidden = info.get("hidden_eyes") or []
    if hidden:
        warnings.append(
            f"no eye white visible ({', '.join(hidden)}: dark lenses?): the lids were kept as they are"
        )
    kept = info.get("lids_kept") or []
    if kept:
        warnings.append(
            f"no eye white to uncover ({', '.join(kept)}: downcast, closed, blurred or turned away): "
            "its upper lid was not raised"
        )
    return warnings


def face_count_warnings(found: int, edited: int, all_faces: bool) -> list[str]:
    """What the result must say when the photo held faces that were left unedited."""
    if edited >= found:
        return []
    if all_faces:
        return [f"{found} faces found; {edited} edited (the others are too small to edit)"]
    return [f"{found} faces found; only the largest was edited (--all-faces edits every face)"]


@runtime_checkable
class Editor(Protocol):
    """Changes the expression of the face in an RGB uint8 photo.

    ``edit`` returns the full photo (same size and mode), with the face showing
    ``emotion`` (a canonical label) at ``strength`` (0 = unchanged, 1 = default).
    ``faces`` are the faces already detected in ``image`` (what
    :func:`s2e_lib.face.detect_faces` returns, largest first); the editor edits the
    first (the warp editor may edit all of them) and detects itself when it is ``None``
    or empty.
    """

    name: str

    def edit(
        self, image: np.ndarray, emotion: str, strength: float = 1.0, *, faces: list[Face] | None = None
    ) -> EditResult: ...


def first_face(faces: list[Face] | None, where: str = "image") -> Face | None:
    """The face an editor aligns: the first of ``faces`` (detected, largest first), refused
    as :func:`s2e_lib.face.largest_face` refuses it when too small; ``None`` (detect it
    yourself) when no faces are given."""
    if not faces:
        return None
    from s2e_lib.face.detect import MIN_FACE_PX

    face = faces[0]
    if face.width < MIN_FACE_PX:
        raise InputError(
            f"{where}: face is too small ({face.width:.0f} px wide; at least {MIN_FACE_PX} px needed)"
        )
    return face


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
