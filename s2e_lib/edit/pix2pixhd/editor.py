"""Inference: a trained pix2pixHD generator as an :class:`~s2e_lib.edit.base.Editor`.

The face is aligned (``s2e_lib.face.align_face``, the recipe the training pairs used),
the crop gets the target emotion's condition (sign or label channels) and goes through
the generator, and the output is blended back into the photo with ``paste_back``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from PIL import Image

from s2e_lib.edit.base import EditResult, first_face
from s2e_lib.edit.pix2pixhd.checkpoint import load_generator
from s2e_lib.edit.pix2pixhd.config import default_device
from s2e_lib.edit.pix2pixhd.signs import condition_input, sign_geometry, tensor_to_image
from s2e_lib.emotions import parse_emotion
from s2e_lib.errors import InputError, MissingResourceError
from s2e_lib.paths import project_paths

if TYPE_CHECKING:
    from s2e_lib.face.detect import Face


def default_checkpoint() -> Path:
    """Where the editor looks without ``checkpoint=``: ``models/pix2pixhd/generator.pt``."""
    return project_paths().models / "pix2pixhd" / "generator.pt"


def sign_fade(emotion: str, shape: tuple[int, int], position: str) -> np.ndarray:
    """Weight (H, W) of the generator's change around a corner sign: 0 on the sign and up to a
    third of its size beyond its edge, rising linearly to 1 at one size beyond it.

    A sign in a corner is not part of the face, so what the generator does to erase it is no
    change to the photo; nor is its spill. The generator's erasing (taking the sign's colour
    away) reaches past the sign: on 21 validation FRL people (the cpu smile recipe, 128 px) the
    mean |change| was 16 (0-255) 2-4 px beyond the square's edge, 8-9 from 4 to 12 px and 4.5 at
    24 px, against 5.6 on the cheeks. Cut off 3 px beyond the edge (before 2026-12-07) it left
    a teal stroke beside the left brow of the photo.
    """
    (x, y), half = sign_geometry(emotion, shape, position)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    beyond = np.maximum(np.abs(xx - x), np.abs(yy - y)) - half
    start = half / 3.0
    return np.clip((beyond - start) / max(half - start, 1e-6), 0.0, 1.0).astype(np.float32)


class Pix2PixHDEditor:
    """Change a face's expression with a trained pix2pixHD generator.

    Parameters
    ----------
    checkpoint : path, optional
        ``generator.pt`` / ``checkpoint.pt`` of a run, the run folder, or NVIDIA
        pix2pixHD's ``latest_net_G.pth`` (detected; see :mod:`.nvidia`). Default
        :func:`default_checkpoint`.
    device : str, optional
        Default: CUDA when available.
    align_method : str, optional
        Override the alignment recipe stored with the training data.
    detail : bool
        When the face in the photo is larger than the model's crop, upsample the generator's
        *change* (output − input at the model's size) and add it to the photo's own crop,
        instead of pasting the upsampled output: the face keeps the photo's resolution
        wherever the model changed nothing. Not in pix2pixHD (which works at the photo's
        size); ``False`` pastes the generator's picture as it is.
    face_only : bool
        With ``detail``, add the change only on the face (:func:`s2e_lib.face.align.face_region_mask`:
        the landmarks' hull and the lower forehead, feathered), not on hair, ears or background.
        Not in pix2pixHD. What the generator changes there is no part of an expression: on
        the 21 held-out FRL London people it moved the edit *away* from the real smile outside
        the face (mean |edit − real| 19.15 against 18.87 for the input) and toward it inside
        (mouth 12.49 against 13.40), see docs/pix2pixhd.md.
    strength_scale : float, optional
        What a requested strength is multiplied by before it reaches the model. Default: the
        scale ``s2e pix2pixhd calibrate`` stored in the checkpoint (chosen on validation
        people: as large as a real expression, but never so large that the edit is further
        from the real photos than the input), else 1.

    A model trained without a ``neutral`` condition (FRL London pairs know only ``happy``)
    returns the face unchanged for ``neutral``: no expression change is what neutral asks.

    Raises
    ------
    MissingResourceError
        When no checkpoint exists at the given (or default) path.
    """

    name = "pix2pixhd"

    def __init__(
        self,
        checkpoint: str | os.PathLike | None = None,
        device: str | None = None,
        align_method: str | None = None,
        detail: bool = True,
        face_only: bool = True,
        strength_scale: float | None = None,
    ):
        path = Path(checkpoint) if checkpoint else default_checkpoint()
        if not path.exists():
            how = "" if checkpoint else " (no --checkpoint given; this is the default location)"
            raise MissingResourceError(
                f"{path}: pix2pixHD checkpoint not found{how}; train one with "
                f"`s2e pix2pixhd train --data PAIRS --out RUN` and pass --checkpoint RUN/generator.pt"
            )
        self.checkpoint = path
        self.device = torch.device(device) if device else default_device()
        self.generator, self.meta = load_generator(path, self.device)
        data = self.meta["data"]
        self.condition = data["condition"]
        self.emotions = tuple(data["emotions"])
        self.position = data.get("position", "corner")
        self.level_scale = bool(data.get("level_scale", False))
        self.size = int(self.meta["config"]["size"])
        self.align_method = align_method or data.get("align_method", "ffhq")
        self.detail = bool(detail)
        self.face_only = bool(face_only)
        self.calibration = self.meta.get("calibration")
        if strength_scale is None:
            strength_scale = (self.calibration or {}).get("strength_scale", 1.0)
        if not 0 <= float(strength_scale) <= 4:  # 0: a model that calibrated to no change
            raise InputError(f"{path}: strength scale {strength_scale} outside [0, 4]")
        self.strength_scale = float(strength_scale)

    def _weights(self, strength: float) -> tuple[float, float]:
        """(condition weight, pixel blend) for a strength: a level-scaled model takes the
        strength as its condition; otherwise the output is blended with the input. The strength
        is first multiplied by :attr:`strength_scale`."""
        strength = float(strength) * self.strength_scale
        if self.level_scale:
            return float(np.clip(strength, 0.0, 1.0)), 1.0
        return 1.0, float(strength)

    @torch.no_grad()
    def edit_crop(self, crop: np.ndarray, emotion: str, strength: float = 1.0) -> np.ndarray:
        """Edit an already aligned RGB uint8 face crop (any square size); returns the same size."""
        if crop.ndim != 3 or crop.shape[2] != 3:
            raise InputError(f"expected an RGB image (H, W, 3), got shape {crop.shape}")
        emotion = parse_emotion(emotion, allowed=self.emotions)
        side = crop.shape[0]
        small = (
            crop
            if side == self.size
            else np.asarray(Image.fromarray(crop).resize((self.size, self.size), Image.Resampling.LANCZOS))
        )
        weight, blend = self._weights(strength)
        x = condition_input(small, emotion, self.condition, self.position, weight, self.emotions)
        out = tensor_to_image(self.generator(x[None].to(self.device))[0])
        if blend != 1.0:
            out = (
                np.clip(small.astype(np.float32) + blend * (out.astype(np.float32) - small), 0, 255)
                .round()
                .astype(np.uint8)
            )
        if not self.detail:
            if side == self.size:
                return out
            return np.asarray(Image.fromarray(out).resize((crop.shape[1], side), Image.Resampling.LANCZOS))
        # the change, not the picture, goes back up: the photo keeps its own detail where the
        # generator changed nothing
        change = out.astype(np.float32) - small.astype(np.float32)
        if self.condition == "sign" and self.position != "center":
            change *= sign_fade(emotion, small.shape, self.position)[..., None]
        if side != self.size:
            change = np.stack(
                [
                    np.asarray(
                        Image.fromarray(change[..., c]).resize(
                            (crop.shape[1], side), Image.Resampling.BICUBIC
                        )
                    )
                    for c in range(3)
                ],
                axis=-1,
            )
        return np.clip(crop.astype(np.float32) + change, 0, 255).round().astype(np.uint8)

    def _crop_side(self, face: Face) -> int:
        """The aligned crop's side: the model's size, or (``detail``) the face's own size in
        the photo, up to 1024 px, so the change is added at the photo's resolution."""
        if not self.detail:
            return max(self.size, 32)
        from s2e_lib.face.align import alignment_matrix

        scale = float(
            np.sqrt(abs(np.linalg.det(alignment_matrix(face.landmarks, self.size, self.align_method)[:, :2])))
        )
        return int(np.clip(round(self.size / max(scale, 1e-6)), max(self.size, 32), 1024))

    def edit(
        self, image: np.ndarray, emotion: str, strength: float = 1.0, *, faces: list[Face] | None = None
    ) -> EditResult:
        """Align the face of ``image`` (the first of ``faces`` from ``s2e_lib.face.detect_faces``,
        else the largest one detected), edit it to ``emotion`` and paste it back."""
        from s2e_lib.face import align_face, largest_face, paste_back

        known = self.emotions if "neutral" in self.emotions else (*self.emotions, "neutral")
        emotion = parse_emotion(emotion, allowed=known)
        start = time.perf_counter()
        if strength == 0 or emotion not in self.emotions:
            meta = {"editor": self.name, "emotion": emotion, "strength": 0.0}
            if emotion not in self.emotions:
                meta["note"] = "the model has no neutral condition: the face is left as it is"
            return EditResult(np.array(image, copy=True), meta)
        face = first_face(faces) or largest_face(image)
        aligned = align_face(image, size=self._crop_side(face), method=self.align_method, face=face)
        edited = self.edit_crop(aligned.image, emotion, strength)
        if self.detail:  # add the change: pixels the model left alone are not resampled
            mask = None
            if self.face_only:
                from s2e_lib.face.align import face_region_mask, feather_mask

                mask = face_region_mask(edited.shape[:2], aligned.landmarks) * feather_mask(edited.shape[0])
            result = paste_back(
                image, edited.astype(np.float32) - aligned.image, aligned, mask=mask, change=True
            )
        else:
            result = paste_back(image, edited, aligned)
        return EditResult(
            result,
            {
                "editor": self.name,
                "emotion": emotion,
                "strength": float(strength),
                "model_strength": round(float(strength) * self.strength_scale, 4),
                "checkpoint": str(self.checkpoint),
                "step": int(self.meta["step"]),
                "condition": self.condition,
                "crop": edited,
                "seconds": round(time.perf_counter() - start, 3),
            },
        )
