"""Glasses: found by edge energy along the lines where a frame sits, kept rigid by the warp.

A spectacle frame crosses places where skin is smooth: the bridge of the nose between
the eyes and the cheek just under each eye (the lower rims). Along those lines, a frame
is a long straight-ish edge, so the vertical derivative averaged *along* the line keeps
its strength (a coherent edge), while skin texture and pores average out. The face is
resampled into its own frame (x along the eyes, y down the face, unit = inter-ocular
distance), each band's coherent edge profile is compared with the band's texture, and
glasses are declared when the bridge and at least one lower rim stand out, or the bridge
alone stands out clearly (frames with light or thin lower rims). Measured on the six test
faces (nine versions each) and on frames drawn on them: bare nose bridges score ≤ 3.2,
lower lids and cheeks ≤ 4.5 below the rim bands' start; dark drawn frames ≥ 7.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from s2e_lib.edit.warp.landmarks import LENS_DROP, LENS_HALF_HEIGHT, LENS_HALF_WIDTH, FaceFrame, eye_widths
from s2e_lib.edit.warp.photo import LUMA

#: Resampling resolution of the face patch (pixels per inter-ocular distance).
_PX_PER_IOD = 100
#: A band "stands out" when its strongest coherent edge is this many times its texture.
THRESHOLD = 4.5
#: A bridge this strong is a frame on its own (thin or light lower rims, cat-eye frames).
BRIDGE_ALONE = 6.0
#: The nose-bridge band in face coordinates (x0, x1, y0, y1), IOD units.
_BRIDGE = (-0.09, 0.09, -0.32, 0.12)


def _bands(face_pts: np.ndarray) -> dict[str, tuple[float, float, float, float]]:
    """Bridge and lower-rim bands; a rim band starts a little below its eye's lower lid
    (the lid's own lashes and crease are not a frame)."""
    bands = {"bridge": _BRIDGE}
    for name, eye, lower in (("rim_left", slice(36, 42), [40, 41]), ("rim_right", slice(42, 48), [46, 47])):
        cx = float(face_pts[eye, 0].mean())
        lid = float(face_pts[lower, 1].max())
        bands[name] = (cx - 0.16, cx + 0.16, lid + 0.1, lid + 0.4)
    return bands


@dataclass(frozen=True)
class GlassesEvidence:
    """Per band, the coherent-edge score; ``present`` is the decision."""

    scores: dict[str, float]
    present: bool


def _face_patch(rgb: np.ndarray, frame: FaceFrame, extent=(-1.0, 1.0, -0.6, 0.6)) -> tuple[np.ndarray, tuple]:
    """Grayscale face patch resampled in face coordinates (rows: y down the face)."""
    import cv2

    x0, x1, y0, y1 = extent
    xs = np.linspace(x0, x1, int((x1 - x0) * _PX_PER_IOD))
    ys = np.linspace(y0, y1, int((y1 - y0) * _PX_PER_IOD))
    grid = np.stack(np.meshgrid(xs, ys), -1)
    pts = frame.to_image(grid).astype(np.float32)
    gray = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY).astype(np.float32)
    # a small face is upsampled by the remap: blur first when it is downsampled instead
    if frame.iod > 1.5 * _PX_PER_IOD:
        gray = cv2.GaussianBlur(gray, (0, 0), 0.5 * frame.iod / _PX_PER_IOD)
    patch = cv2.remap(gray, pts[..., 0], pts[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return patch, (xs, ys)


def glasses_evidence(rgb: np.ndarray, landmarks: np.ndarray) -> GlassesEvidence:
    """Look for a spectacle frame on the face with these 68 landmarks (RGB uint8 photo)."""
    import cv2

    frame = FaceFrame.from_landmarks(np.asarray(landmarks, np.float64))
    patch, (xs, ys) = _face_patch(rgb, frame)
    bands = _bands(frame.to_face(landmarks))
    patch = cv2.GaussianBlur(patch, (0, 0), 1.0)
    gy = cv2.Sobel(patch, cv2.CV_32F, 0, 1, ksize=3) / 8.0
    face_texture = float(np.median(np.abs(gy)))
    scores = {}
    for name, (bx0, bx1, by0, by1) in bands.items():
        cols = (xs >= bx0) & (xs <= bx1)
        rows = (ys >= by0) & (ys <= by1)
        band = gy[np.ix_(rows, cols)]
        if band.size == 0:
            scores[name] = 0.0
            continue
        coherent = np.abs(band.mean(1))  # per row: the edge averaged along the line
        # grey levels per px; floored by the face's texture (clipped, flat skin has none)
        texture = max(float(np.median(np.abs(band))), 0.5 * face_texture) + 0.15
        scores[name] = round(float(coherent.max()) / texture, 2)
    standing = {k for k, v in scores.items() if v >= THRESHOLD}
    present = scores["bridge"] >= BRIDGE_ALONE or (
        "bridge" in standing and bool(standing & {"rim_left", "rim_right"})
    )
    return GlassesEvidence(scores=scores, present=bool(present))


def has_glasses(rgb: np.ndarray, landmarks: np.ndarray) -> bool:
    """True when a spectacle frame is seen on the face (see :func:`glasses_evidence`)."""
    return glasses_evidence(rgb, landmarks).present


def frame_anchors(landmarks: np.ndarray) -> np.ndarray:
    """Image points along where the frame sits (lens outlines and bridge), to be held fixed."""
    frame = FaceFrame.from_landmarks(np.asarray(landmarks, np.float64))
    fp = frame.to_face(landmarks)
    points = []
    for eye in (slice(36, 42), slice(42, 48)):
        cx, cy = fp[eye].mean(0)
        for t in np.linspace(0, 2 * np.pi, 12, endpoint=False):
            points.append((cx + LENS_HALF_WIDTH * np.cos(t), cy + LENS_DROP + LENS_HALF_HEIGHT * np.sin(t)))
    points.append((0.0, fp[36:48, 1].mean() - 0.05))
    return frame.to_image(np.array(points))


#: An eye whose brightest pixels (95th percentile) stay under this share of the cheek's
#: luminance shows no eye white at all: it is behind a dark lens (or a patch). Measured on
#: the test faces: visible eyes 0.53–2.15 (Grace Hopper's clear lenses 0.53 and 0.76),
#: sunglasses drawn on the astronaut 0.10, a 50 % tinted lens 0.60.
HIDDEN_EYE_BRIGHTNESS = 0.35


def hidden_eyes(rgb: np.ndarray, landmarks: np.ndarray) -> list[str]:
    """Names (``"right eye"``, ``"left eye"``) of the eyes a dark lens hides.

    An edit must not open or close an eye it cannot see: a raised lid would paint eye
    white onto the lens. The eye's outline is filled and its 95th-percentile luminance
    compared with a patch of cheek 0.4 IOD below it (:data:`HIDDEN_EYE_BRIGHTNESS`).
    """
    landmarks = np.asarray(landmarks, np.float64)
    iod = FaceFrame.from_landmarks(landmarks).iod
    gray = np.asarray(rgb, np.float32) @ LUMA
    hidden = []
    for name, eye in (("right eye", landmarks[36:42]), ("left eye", landmarks[42:48])):
        found = _eye_and_cheek(gray, eye, iod)
        if found is None:
            continue
        inside, cheek = found
        if np.percentile(inside, 95) < HIDDEN_EYE_BRIGHTNESS * max(float(np.median(cheek)), 1.0):
            hidden.append(name)
    return hidden


def _eye_and_cheek(image: np.ndarray, eye: np.ndarray, iod: float):
    """(pixels inside the eye's outline, pixels of a cheek patch 0.4 IOD below it) of ``image``
    (H×W or H×W×C), or None when either shows too few pixels (an eye outside the photo)."""
    import cv2

    height, width = image.shape[:2]
    x0, y0 = np.maximum(np.floor(eye.min(0)).astype(int), 0)
    x1, y1 = np.ceil(eye.max(0)).astype(int) + 1
    region = image[y0:y1, x0:x1]
    if region.size == 0:
        return None
    mask = np.zeros(region.shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.round(eye - (x0, y0)).astype(np.int32)], 1)
    centre = eye.mean(0)
    r = max(2, int(round(0.08 * iod)))
    sy, sx = int(round(centre[1] + 0.4 * iod)), int(round(centre[0]))
    cheek = image[max(0, sy - r) : min(height, sy + r), max(0, sx - r) : min(width, sx + r)]
    inside = region[mask > 0]
    if len(inside) < 4 or cheek.size == 0:
        return None
    return inside, cheek.reshape(-1, *image.shape[2:])


#: An eye whose brightest pixels (90th percentile, Lab) carry at least this share of the
#: cheek's chroma shows no eye white: a downcast or closed eye (lashes and lid cover it),
#: a narrowed one, or one blurred into the skin. Measured: FRL London's 102 neutral faces
#: 0.07–0.58 (median 0.25), Biden's hooded eyes in shade 0.55 / 0.71; downcast and closed
#: eyes of unseen portraits 1.13–1.98, a blurred 65-px-IOD eye 2.87.
NO_WHITE_CHROMA = 0.8
#: An eye narrower than this share of the other is foreshortened: the head is turned
#: away from it (FRL London frontal photos ≥ 0.95; a three-quarter view 0.57).
FORESHORTENED_EYE = 0.7


def eyes_without_white(rgb: np.ndarray, landmarks: np.ndarray) -> list[str]:
    """Names (``"right eye"``, ``"left eye"``) of the eyes whose upper lid must not rise.

    A raised upper lid uncovers eye white (:func:`~s2e_lib.edit.warp.paint._paint_sclera`
    takes its colour from the eye's brightest pixels). Where the photo shows no white to
    take it from, that white would be invented and looks painted at 2×: a bright crescent
    under the old lash line on a downcast or closed eye, a grey stroke on a blurred one.
    Such an eye keeps its upper lid (brows and mouth still carry the expression). An eye
    shows no white when its brightest pixels are as coloured as the cheek
    (:data:`NO_WHITE_CHROMA`); the far eye of a head turned away (:data:`FORESHORTENED_EYE`)
    is a sliver between the nose and the face's outline, with background inside its outline.
    A grey photo's eyes count as showing white (no chroma to compare).
    """
    import cv2

    landmarks = np.asarray(landmarks, np.float64)
    iod = FaceFrame.from_landmarks(landmarks).iod
    image = np.asarray(rgb, np.float32) / 255.0
    widths = eye_widths(landmarks)
    names = []
    for k, (name, eye) in enumerate((("right eye", landmarks[36:42]), ("left eye", landmarks[42:48]))):
        if widths[k] < FORESHORTENED_EYE * max(widths):
            names.append(name)
            continue
        found = _eye_and_cheek(image, eye, iod)
        if found is None:
            continue
        lab, cheek_lab = (cv2.cvtColor(px[:, None, :], cv2.COLOR_RGB2LAB)[:, 0] for px in found)
        bright = lab[lab[:, 0] >= np.percentile(lab[:, 0], 90)]
        chroma = float(np.hypot(*np.median(bright[:, 1:], axis=0)))
        cheek_chroma = float(np.hypot(*np.median(cheek_lab[:, 1:], axis=0)))
        if cheek_chroma >= 1.0 and chroma >= NO_WHITE_CHROMA * cheek_chroma:
            names.append(name)
    return names
