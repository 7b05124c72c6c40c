"""The sample corpus's faces: scikit-image's ``astronaut`` photo, posed per emotion and speaker.

When the warp editor (:mod:`s2e_lib.edit.warp`) is importable, each emotion's expression
is rendered at a strength set by the level, otherwise every clip shows the neutral photo.
Small per-frame shifts and zooms make frames differ.
"""

from __future__ import annotations

import numpy as np

from s2e_lib.errors import InputError
from s2e_lib.sample.voice import Speaker

_FACE_CROP = (0, 270, 90, 360)  # rows, cols of scikit-image's astronaut around the face


def base_face(size: int = 256) -> np.ndarray:
    """scikit-image's ``astronaut`` photo cropped around the face, RGB uint8 ``size``²."""
    import cv2
    from skimage import data

    r0, r1, c0, c1 = _FACE_CROP
    crop = np.ascontiguousarray(data.astronaut()[r0:r1, c0:c1])
    return cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)


def expression_renderer(mode: str = "auto"):
    """A function ``(image, emotion, strength) -> image`` or None when no editor exists.

    ``mode="auto"`` uses :class:`s2e_lib.edit.warp.WarpEditor` when that module is
    importable (the face stage); ``"none"`` never edits.
    """
    if mode == "none":
        return None
    try:
        from s2e_lib.edit.warp import WarpEditor
    except ImportError:
        if mode == "warp":
            raise InputError("the warp editor (s2e_lib.edit.warp) is not available") from None
        return None
    editor = WarpEditor()

    def render(image: np.ndarray, emotion: str, strength: float) -> np.ndarray:
        if emotion == "neutral" or strength <= 0:
            return image
        return np.asarray(editor.edit(image, emotion, strength=strength).image, dtype=np.uint8)

    return render


def face_frames(
    face: np.ndarray, n_frames: int, speaker: Speaker, rng: np.random.Generator
) -> list[np.ndarray]:
    """``n_frames`` frames of ``face`` with the speaker's framing and slight head motion."""
    import cv2

    size = face.shape[0]
    tint = np.array(speaker.face_tint, np.float32)
    face = np.clip(face.astype(np.float32) * tint, 0, 255).astype(np.uint8)
    phase = rng.uniform(0, 2 * np.pi, size=3)
    frames = []
    for i in range(n_frames):
        a = 2 * np.pi * i / 12.0
        dx = speaker.face_shift[0] + 3.0 * np.sin(a + phase[0])
        dy = speaker.face_shift[1] + 2.0 * np.sin(0.7 * a + phase[1])
        zoom = speaker.face_zoom * (1.0 + 0.02 * np.sin(0.5 * a + phase[2]))
        m = cv2.getRotationMatrix2D((size / 2, size / 2), 0.8 * np.sin(0.9 * a + phase[2]), zoom)
        m[:, 2] += (dx, dy)
        frames.append(cv2.warpAffine(face, m, (size, size), borderMode=cv2.BORDER_REFLECT))
    return frames
