"""Face detection and 68-point landmarks (dlib), with the detector run on a small copy.

The HOG detector's cost grows with the pixel count, so it runs on a copy whose longest
side is at most :data:`DETECT_SIDE` (faces in portraits are large); the landmark
predictor then runs on the full-resolution photo inside the scaled-up box. Small photos
are upsampled once so faces down to ~40 px are found.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from s2e_lib.errors import InputError
from s2e_lib.face import models
from s2e_lib.face.io import to_rgb

#: Longest side of the copy the detector sees.
DETECT_SIDE = 640
#: Faces narrower than this (pixels in the original photo) are refused for editing.
MIN_FACE_PX = 64

# iBUG 68-point index groups (subject's right = image left for a frontal face).
JAW = slice(0, 17)
BROW_R, BROW_L = slice(17, 22), slice(22, 27)
NOSE = slice(27, 36)
EYE_R, EYE_L = slice(36, 42), slice(42, 48)
MOUTH_OUTER, MOUTH_INNER = slice(48, 60), slice(60, 68)


@dataclass
class Face:
    """One detected face.

    Attributes
    ----------
    box : tuple of float
        (left, top, right, bottom) in pixels of the photo it was found in.
    landmarks : numpy.ndarray
        (68, 2) float (x, y) in the iBUG 300-W order.
    score : float
        Detector confidence (higher is surer).
    """

    box: tuple[float, float, float, float]
    landmarks: np.ndarray
    score: float = 0.0

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]

    @property
    def area(self) -> float:
        return self.width * self.height

    @property
    def interocular(self) -> float:
        """Distance between the two eye centres (the unit of the warp recipes)."""
        return float(np.linalg.norm(self.landmarks[EYE_L].mean(0) - self.landmarks[EYE_R].mean(0)))


def landmarks_for_box(image: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    """The 68 landmarks predicted inside ``box`` (left, top, right, bottom) of an RGB image."""
    import dlib

    rect = dlib.rectangle(*(int(round(v)) for v in box))
    shape = models.predictor68()(image, rect)
    return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)


def detect_faces(
    image: np.ndarray, upsample: int | None = None, detect_side: int = DETECT_SIDE
) -> list[Face]:
    """Find faces and their 68 landmarks, largest first.

    Parameters
    ----------
    image : numpy.ndarray
        A photo (RGB, gray or RGBA; any bit depth), e.g. from :func:`load_image`.
    upsample : int, optional
        Detector upsampling passes on the small copy (default: 1 when the copy is
        under 400 px, else 0).
    detect_side : int
        Longest side of the copy the detector runs on.

    Returns
    -------
    list of Face
        Sorted by box area, largest first; empty when no face is found.
    """
    import cv2

    rgb = to_rgb(image)
    height, width = rgb.shape[:2]
    scale = min(1.0, detect_side / max(height, width))
    small = (
        rgb
        if scale == 1.0
        else cv2.resize(rgb, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA)
    )
    if upsample is None:
        upsample = 1 if max(small.shape[:2]) < 400 else 0
    rects, scores, _ = models.detector().run(small, upsample, 0.0)
    faces = []
    for rect, score in zip(rects, scores, strict=True):
        box = (
            rect.left() / scale,
            rect.top() / scale,
            (rect.right() + 1) / scale,
            (rect.bottom() + 1) / scale,
        )
        box = (max(0.0, box[0]), max(0.0, box[1]), min(float(width), box[2]), min(float(height), box[3]))
        faces.append(Face(box=box, landmarks=landmarks_for_box(rgb, box), score=float(score)))
    faces.sort(key=lambda f: f.area, reverse=True)
    return faces


def largest_face(image: np.ndarray, where: str = "image", min_face: int = MIN_FACE_PX) -> Face:
    """The largest face of ``image``; :class:`InputError` naming ``where`` if none or too small."""
    faces = detect_faces(image)
    if not faces:
        raise InputError(f"{where}: no face found")
    face = faces[0]
    if face.width < min_face:
        raise InputError(
            f"{where}: face is too small ({face.width:.0f} px wide; at least {min_face} px needed)"
        )
    return face
