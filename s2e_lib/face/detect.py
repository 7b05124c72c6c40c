"""Face detection and 68-point landmarks (dlib), with the detector run on a small copy.

The HOG detector's cost grows with the pixel count, so it runs on a copy whose longest
side is at most :data:`DETECT_SIDE` (faces in portraits are large); the landmark
predictor then runs on the full-resolution photo inside the scaled-up box. Small photos
are upsampled once so faces down to ~40 px are found. When the small copy of a large
photo shows no face, a copy of up to :data:`LARGE_DETECT_SIDE` px is searched too: in a
4032 × 3024 phone picture the small copy missed faces up to 264 px wide (the astronaut's
88 px face is found at full size in about a second).

Tilted heads. dlib's frontal detector and its 68-point predictor were trained on faces
within about ±30° of upright. On scikit-image's astronaut turned by 40° the landmarks'
mean error is 0.045 IOD, by 45° 0.17 IOD (an eye placed on the cheek, the mouth points
scattered), and from 50° on no face is found. So a face whose eye line is tilted more
than :data:`ROLL_REFINE_DEG` is looked at again in an upright copy of its surroundings and
its landmarks are mapped back; and when the upright photo shows no face at all, copies
turned by :data:`SEARCH_TURNS` are searched (a head lying on a pillow, a phone photo
without its EXIF orientation), keeping only confident detections
(:data:`TURNED_MIN_SCORE`) there.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from s2e_lib.errors import InputError
from s2e_lib.face import models
from s2e_lib.face.io import to_rgb

#: Longest side of the copy the detector sees.
DETECT_SIDE = 640
#: Longest side of the second, larger copy searched when the small one shows no face: a
#: face small in a large photo (a person across the room in a 12-megapixel phone picture).
LARGE_DETECT_SIDE = 4096
#: Faces narrower than this (pixels in the original photo) are refused for editing.
MIN_FACE_PX = 64
#: A face whose eye line is tilted more than this (degrees) gets its landmarks again from an
#: upright copy of its surroundings.
ROLL_REFINE_DEG = 20.0
#: Turns (degrees, counter-clockwise on screen) of the photo searched when upright shows no face.
SEARCH_TURNS = (45.0, -45.0, 90.0, -90.0, 135.0, -135.0, 180.0)
#: Detector score a face found only in a turned copy needs (upright ones need > 0).
TURNED_MIN_SCORE = 0.3
#: A face other than the best-scoring one whose HOG score is below this must be confirmed
#: by dlib's CNN detector: HOG's weak detections include patterns on clothes and walls,
#: which would count as faces (and be warped with ``--all-faces``).
CONFIRM_BELOW = 0.3
#: Width (pixels) a weak detection's box is scaled to for the CNN (it finds faces ≥ 80 px).
CONFIRM_BOX_PX = 120

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


def roll_degrees(landmarks: np.ndarray) -> float:
    """Tilt of the eye line in degrees (positive: the image-right eye is lower)."""
    dx, dy = landmarks[EYE_L].mean(0) - landmarks[EYE_R].mean(0)
    return float(np.degrees(np.arctan2(dy, dx)))


def _turn(image: np.ndarray, degrees: float) -> tuple[np.ndarray, np.ndarray]:
    """``image`` turned by ``degrees`` (counter-clockwise on screen) on a canvas that holds
    all of it, and the 2×3 affine map from the turned copy back to ``image``."""
    import cv2

    height, width = image.shape[:2]
    forward = cv2.getRotationMatrix2D((width / 2, height / 2), degrees, 1.0)
    cos, sin = abs(forward[0, 0]), abs(forward[0, 1])
    size = (int(np.ceil(height * sin + width * cos)), int(np.ceil(height * cos + width * sin)))
    forward[:, 2] += (size[0] - width) / 2, (size[1] - height) / 2
    turned = cv2.warpAffine(image, forward, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return turned, cv2.invertAffineTransform(forward)


def _mapped(face: Face, back: np.ndarray, offset: tuple[float, float], shape: tuple[int, ...]) -> Face:
    """``face`` found in a turned copy, in the coordinates of the photo of ``shape``."""
    left, top, right, bottom = face.box
    corners = np.array([[left, top], [right, top], [right, bottom], [left, bottom]])
    points = (
        np.vstack([face.landmarks, corners]) @ back[:, :2].T + back[:, 2] + np.asarray(offset, np.float64)
    )
    landmarks, corners = points[:68], points[68:]
    (x0, y0), (x1, y1) = corners.min(0), corners.max(0)
    height, width = shape[:2]
    box = (max(0.0, x0), max(0.0, y0), min(float(width), x1), min(float(height), y1))
    return Face(box=box, landmarks=landmarks, score=face.score)


def _upright(rgb: np.ndarray, face: Face) -> Face:
    """``face`` with landmarks predicted in an upright copy of its surroundings (a tilted head)."""
    roll = roll_degrees(face.landmarks)
    if abs(roll) <= ROLL_REFINE_DEG:
        return face
    centre = face.landmarks.mean(0)
    half = 1.2 * max(face.width, face.height, 1.0)
    x0, y0 = (max(0, int(v)) for v in centre - half)
    x1, y1 = int(min(rgb.shape[1], centre[0] + half)), int(min(rgb.shape[0], centre[1] + half))
    turned, back = _turn(np.ascontiguousarray(rgb[y0:y1, x0:x1]), roll)
    found = _detect_upright(turned, upsample=None, detect_side=DETECT_SIDE)
    if not found:
        return face
    candidates = [_mapped(f, back, (x0, y0), rgb.shape) for f in found]
    best = min(candidates, key=lambda f: float(np.linalg.norm(f.landmarks.mean(0) - centre)))
    if np.linalg.norm(best.landmarks.mean(0) - centre) > 0.5 * half:
        return face  # another face of the crop, not this one
    return Face(box=best.box, landmarks=best.landmarks, score=face.score)


def _confirmed(rgb: np.ndarray, faces: list[Face]) -> list[Face]:
    """``faces`` without the weak secondary detections dlib's CNN detector does not confirm.

    The best-scoring face is always kept (a weak but real single face stays editable); any
    other face scoring under :data:`CONFIRM_BELOW` is kept only if the CNN detector finds a
    face of about its size and place in a crop around it.
    """
    import cv2

    if len(faces) < 2:
        return faces
    best = max(faces, key=lambda f: f.score)
    kept = []
    for face in faces:
        if face is best or face.score >= CONFIRM_BELOW:
            kept.append(face)
            continue
        scale = CONFIRM_BOX_PX / max(face.width, 1.0)
        pad = 0.5 * max(face.width, face.height)
        x0, y0 = max(0, int(face.box[0] - pad)), max(0, int(face.box[1] - pad))
        x1, y1 = min(rgb.shape[1], int(face.box[2] + pad)), min(rgb.shape[0], int(face.box[3] + pad))
        crop = cv2.resize(
            rgb[y0:y1, x0:x1], (max(1, round((x1 - x0) * scale)), max(1, round((y1 - y0) * scale)))
        )
        centre = ((np.array(face.box[:2]) + face.box[2:]) / 2 - (x0, y0)) * scale
        for found in models.cnn_detector()(np.ascontiguousarray(crop), 0):
            rect = found.rect
            width = rect.right() - rect.left()
            middle = np.array([(rect.left() + rect.right()) / 2, (rect.top() + rect.bottom()) / 2])
            if np.linalg.norm(middle - centre) < 0.35 * CONFIRM_BOX_PX and 0.5 < width / CONFIRM_BOX_PX < 2:
                kept.append(face)
                break
    return kept


def _detect_upright(rgb: np.ndarray, upsample: int | None, detect_side: int) -> list[Face]:
    """Faces found by the HOG detector in ``rgb`` as it is (no turning, no refinement)."""
    import cv2

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
        # landmarks from the detector's own box, even where it reaches past the edge: in a
        # box clipped to the photo, dlib squeezed the whole face into the visible part
        # (an eye cut by the edge was placed on the nose)
        landmarks = landmarks_for_box(rgb, box)
        box = (max(0.0, box[0]), max(0.0, box[1]), min(float(width), box[2]), min(float(height), box[3]))
        faces.append(Face(box=box, landmarks=landmarks, score=float(score)))
    return faces


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
        Sorted by box area, largest first; empty when no face is found. A tilted face's
        landmarks come from an upright copy (module notes); boxes are axis-aligned in
        ``image``. Weak secondary detections are kept only when dlib's CNN detector
        confirms them (:data:`CONFIRM_BELOW`).
    """
    rgb = to_rgb(image)
    faces = _confirmed(rgb, _detect_upright(rgb, upsample, detect_side))
    longest = max(rgb.shape[:2])
    if not faces and longest > detect_side:  # the face may be small in a large photo
        faces = _confirmed(rgb, _detect_upright(rgb, 0, min(longest, LARGE_DETECT_SIDE)))
    faces = [_upright(rgb, f) for f in faces]
    for degrees in SEARCH_TURNS if not faces else ():
        turned, back = _turn(rgb, degrees)
        found = [f for f in _detect_upright(turned, upsample, detect_side) if f.score >= TURNED_MIN_SCORE]
        faces = [_upright(rgb, _mapped(f, back, (0.0, 0.0), rgb.shape)) for f in found]
        if faces:
            break
    faces.sort(key=lambda f: f.area, reverse=True)
    return faces


def largest_face(
    image: np.ndarray, where: str = "image", min_face: int = MIN_FACE_PX, faces: list[Face] | None = None
) -> Face:
    """The largest face of ``image``; :class:`InputError` naming ``where`` if none or too small.

    ``faces``: the photo's faces if already detected (largest first, as :func:`detect_faces`).
    """
    faces = detect_faces(image) if faces is None else faces
    if not faces:
        raise InputError(f"{where}: no face found")
    face = faces[0]
    if face.width < min_face:
        raise InputError(
            f"{where}: face is too small ({face.width:.0f} px wide; at least {min_face} px needed)"
        )
    return face
