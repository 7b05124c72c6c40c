"""The action-unit warp editor: FACS displacements on dlib's 68 landmarks, a smooth warp,
and the appearance cues geometry cannot give (mouth interior, eye whites, folds, furrows).

Works offline on any photo with only dlib's landmark model. Per face:

1. Landmarks (dlib; detection on a downscaled copy).
2. Target landmarks: the mouth is first brought to rest (:func:`relax_mouth`, so a
   smiling photo can turn sad), then the emotion's recipe of action units
   (:mod:`s2e_lib.edit.au_recipes`) is added, in inter-ocular units, times ``strength``.
3. Geometry: a thin-plate spline from target to source landmarks, pinned by fixed
   anchors around the face and on the border of a region of interest, gives a backward
   map evaluated on a coarse grid and upsampled; only that region is resampled, so
   hair, background and image size stay as they were. Inside the eyes the map is a
   rigid shift, so a raised lid uncovers new sclera instead of stretching the iris.
4. Appearance: newly opened mouth → dark cavity with teeth laid out along the lips'
   curves; a wide-open mouth closed → closed lips; newly opened eye → sclera; shading strokes (multiplicative, as in expression ratio images, Liu, Shan
   & Zhang 2001) for nasolabial folds, cheek raise, crow's feet, glabellar furrows,
   forehead wrinkles, the lip line and the chin.

>>> from s2e_lib.edit.warp import WarpEditor
>>> result = WarpEditor().edit(image, "happy", strength=1.0)  # doctest: +SKIP
>>> result.image.shape == image.shape                          # doctest: +SKIP
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from s2e_lib.edit.au_recipes import RECIPES, recipe_field
from s2e_lib.edit.base import EditResult
from s2e_lib.emotions import parse_emotion
from s2e_lib.errors import InputError
from s2e_lib.face.detect import MIN_FACE_PX, Face, detect_faces
from s2e_lib.face.io import restore_mode, to_rgb

#: Largest strength accepted (the recipes are tuned for 1; 1.5 exaggerates).
MAX_STRENGTH = 1.5
EMOTIONS = tuple(RECIPES)

# --- face frame ----------------------------------------------------------------------


@dataclass(frozen=True)
class FaceFrame:
    """Origin at the eye midpoint, x from image-left eye to image-right eye, y down the face, unit IOD."""

    origin: np.ndarray
    ex: np.ndarray
    ey: np.ndarray
    iod: float

    @classmethod
    def from_landmarks(cls, landmarks: np.ndarray) -> FaceFrame:
        left, right = landmarks[36:42].mean(0), landmarks[42:48].mean(0)
        iod = float(np.linalg.norm(right - left))
        ex = (right - left) / iod
        ey = np.array([-ex[1], ex[0]])
        return cls(origin=(left + right) / 2, ex=ex, ey=ey, iod=iod)

    def to_face(self, points: np.ndarray) -> np.ndarray:
        rel = np.asarray(points, np.float64) - self.origin
        return np.stack([rel @ self.ex, rel @ self.ey], axis=-1) / self.iod

    def to_image(self, points: np.ndarray) -> np.ndarray:
        p = np.asarray(points, np.float64)
        return self.origin + self.iod * (p[..., :1] * self.ex + p[..., 1:2] * self.ey)

    def vector(self, d: np.ndarray) -> np.ndarray:
        """A displacement in face units → image pixels."""
        d = np.asarray(d, np.float64)
        return self.iod * (d[..., :1] * self.ex + d[..., 1:2] * self.ey)


# --- target landmarks ----------------------------------------------------------------

_UPPER_INNER, _LOWER_INNER = [61, 62, 63], [67, 66, 65]


def relax_mouth(face_pts: np.ndarray, weight: float = 1.0, min_gap: float = 0.015) -> np.ndarray:
    """Bring the mouth towards rest in face coordinates: jaw closes, corners level.

    Parameters
    ----------
    face_pts : numpy.ndarray
        (68, 2) landmarks in the face frame (IOD units).
    weight : float
        0 = unchanged, 1 = fully at rest.
    min_gap : float
        Lip gap (IOD) kept when closing an open mouth, so the warp stays invertible.
    """
    pts = face_pts.copy()
    gaps = pts[_LOWER_INNER, 1] - pts[_UPPER_INNER, 1]
    gap = float(max(0.0, gaps.max() - min_gap))
    if gap > 0:
        close = weight * gap
        for idx, share in {
            65: 1.0,
            66: 1.0,
            67: 1.0,
            55: 0.9,
            56: 0.9,
            57: 0.9,
            58: 0.9,
            59: 0.9,
            8: 0.75,
            7: 0.7,
            9: 0.7,
            6: 0.55,
            10: 0.55,
            5: 0.35,
            11: 0.35,
            4: 0.15,
            12: 0.15,
        }.items():
            pts[idx, 1] -= close * share
    mid = (pts[62] + pts[66]) / 2
    for side, (corner, inner, near) in {
        "r": (48, 60, (49, 59, 61, 67)),
        "l": (54, 64, (53, 55, 63, 65)),
    }.items():
        offset = pts[corner, 1] - mid[1]
        target = np.clip(offset, 0.0, 0.05)
        shift = weight * (target - offset)
        if shift == 0:
            continue
        inward = 0.35 * abs(shift) * (1 if side == "r" else -1) if shift > 0 else 0.0
        pts[corner] += (inward, shift)
        pts[inner] += (inward, shift)
        for idx in near:
            pts[idx] += (0.4 * inward, 0.4 * shift)
    return pts


def target_landmarks(landmarks: np.ndarray, emotion: str, strength: float = 1.0) -> np.ndarray:
    """Where the 68 landmarks go for ``emotion`` at ``strength`` (image coordinates).

    Parameters
    ----------
    landmarks : numpy.ndarray
        (68, 2) source landmarks in image pixels.
    emotion : str
        Any accepted emotion name (see :data:`~s2e_lib.edit.au_recipes.RECIPES`).
    strength : float
        0 … 1.5; scales every displacement (and the mouth relaxation up to 1).
    """
    emotion = _emotion(emotion)
    strength = _strength(strength)
    frame = FaceFrame.from_landmarks(landmarks)
    pts = frame.to_face(landmarks)
    recipe = RECIPES[emotion]
    field = recipe_field(emotion, strength)
    if recipe.relax_mouth:
        pts = relax_mouth(pts, weight=min(1.0, strength))
    else:
        # a mouth already smiling / open has less room to go: scale the mouth's displacement down
        smile = max(0.0, float((pts[62, 1] + pts[66, 1]) / 2 - pts[[48, 54], 1].mean()))
        field[48:68] *= float(np.clip(1.0 - smile / 0.25, 0.3, 1.0))
    pts = keep_brows_above_eyes(pts + field, frame.to_face(landmarks))
    return frame.to_image(pts)


def keep_brows_above_eyes(
    pts: np.ndarray, rest: np.ndarray, share: float = 0.3, floor: float = 0.06
) -> np.ndarray:
    """A lowered brow stops above the upper lid (face coordinates, IOD units).

    Each brow point keeps at least ``share`` of its resting height above its eye's upper
    lid (and at least ``floor``): strong AU4 otherwise drags brow skin into the eye.
    """
    pts = pts.copy()
    for brow, lid in ((range(17, 22), [37, 38]), (range(22, 27), [43, 44])):
        top_rest, top = rest[lid, 1].min(), pts[lid, 1].min()
        for i in brow:
            limit = top - max(floor, share * (top_rest - rest[i, 1]))
            if pts[i, 1] > limit:
                pts[i, 1] = limit
    return pts


def _emotion(emotion: str) -> str:
    return parse_emotion(emotion, allowed=EMOTIONS)


def _strength(strength: float) -> float:
    s = float(strength)
    if not np.isfinite(s) or s < 0 or s > MAX_STRENGTH:
        raise InputError(f"strength must be between 0 and {MAX_STRENGTH}, got {strength}")
    return s


# --- thin-plate spline ---------------------------------------------------------------


def _tps_kernel(r2: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        k = r2 * np.log(r2)
    return np.nan_to_num(k, nan=0.0, posinf=0.0, neginf=0.0)


def tps_fit(src: np.ndarray, dst: np.ndarray, regularization: float = 1e-3):
    """Fit a 2-D thin-plate spline taking ``src`` (N, 2) points onto ``dst`` (N, 2)."""
    n = len(src)
    d2 = ((src[:, None, :] - src[None, :, :]) ** 2).sum(-1)
    k = _tps_kernel(d2) + regularization * np.eye(n)
    p = np.hstack([np.ones((n, 1)), src])
    a = np.zeros((n + 3, n + 3))
    a[:n, :n], a[:n, n:], a[n:, :n] = k, p, p.T
    b = np.zeros((n + 3, 2))
    b[:n] = dst
    coef = np.linalg.solve(a, b)
    return src, coef


def tps_apply(model, points: np.ndarray) -> np.ndarray:
    """Evaluate a fitted thin-plate spline at (M, 2) points."""
    centres, coef = model
    n = len(centres)
    d2 = ((points[:, None, :] - centres[None, :, :]) ** 2).sum(-1)
    return _tps_kernel(d2) @ coef[:n] + coef[n] + points @ coef[n + 1 :]


# --- the per-face edit ---------------------------------------------------------------


def _roi(landmarks: np.ndarray, frame: FaceFrame, shape: tuple[int, int]) -> tuple[int, int, int, int]:
    """The region resampled: the face plus a margin (x0, y0, x1, y1), clipped to the image."""
    ring = frame.to_image(np.array([[-1.5, -1.3], [1.5, -1.3], [-1.5, 2.6], [1.5, 2.6]]))
    pts = np.vstack([landmarks, ring])
    x0, y0 = np.floor(pts.min(0)).astype(int)
    x1, y1 = np.ceil(pts.max(0)).astype(int)
    h, w = shape
    return max(0, x0), max(0, y0), min(w, x1), min(h, y1)


def _anchors(src: np.ndarray, frame: FaceFrame, roi: tuple[int, int, int, int]) -> np.ndarray:
    """Fixed points: a ring around the face (forehead, temples, below the jaw) and the ROI border."""
    fp = frame.to_face(src)
    centre = fp[[27, 30, 33, 8]].mean(0)
    ring = []
    for i in range(0, 17, 2):
        d = fp[i] - centre
        ring.append(fp[i] + 0.32 * d / np.linalg.norm(d))
    brow_top = fp[17:27, 1].min()
    for x in np.linspace(fp[17, 0] - 0.1, fp[26, 0] + 0.1, 6):
        ring.append([x, brow_top - 0.45])
    ring = frame.to_image(np.array(ring))
    x0, y0, x1, y1 = roi
    n = 6
    border = [(x, y) for x in np.linspace(x0, x1 - 1, n) for y in (y0, y1 - 1)]
    border += [(x, y) for y in np.linspace(y0, y1 - 1, n)[1:-1] for x in (x0, x1 - 1)]
    return np.vstack([ring, np.array(border, np.float64)])


def _poly_mask(shape: tuple[int, int], points: np.ndarray, blur: float = 0.0) -> np.ndarray:
    import cv2

    mask = np.zeros(shape, np.float32)
    cv2.fillPoly(mask, [np.round(points * 4).astype(np.int32)], 1.0, lineType=cv2.LINE_AA, shift=2)
    if blur > 0.3:
        mask = cv2.GaussianBlur(mask, (0, 0), blur)
    return mask


def backward_map(
    src: np.ndarray, dst: np.ndarray, anchors: np.ndarray, roi, iod: float, step: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per output pixel of the ROI, the source pixel (x, y) maps, from a TPS dst → src."""
    import cv2

    x0, y0, x1, y1 = roi
    scale = 1.0 / iod
    ctrl_dst = np.vstack([dst, anchors]) * scale
    ctrl_src = np.vstack([src, anchors]) * scale
    model = tps_fit(ctrl_dst, ctrl_src - ctrl_dst, regularization=1e-4)
    gx = np.arange(x0, x1 + step, step, dtype=np.float64)
    gy = np.arange(y0, y1 + step, step, dtype=np.float64)
    grid = np.stack(np.meshgrid(gx, gy), -1).reshape(-1, 2)
    offset = (tps_apply(model, grid * scale) / scale).reshape(len(gy), len(gx), 2).astype(np.float32)
    w, h = x1 - x0, y1 - y0
    # upsample the coarse offsets: grid node k sits at pixel k*step of the ROI
    big = cv2.resize(offset, (len(gx) * step, len(gy) * step), interpolation=cv2.INTER_LINEAR)
    shift = (step - 1) / 2.0
    m = np.float32([[1, 0, shift], [0, 1, shift]])
    big = cv2.warpAffine(big, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    xs, ys = np.meshgrid(np.arange(x0, x1, dtype=np.float32), np.arange(y0, y1, dtype=np.float32))
    return xs + big[..., 0], ys + big[..., 1]


def _window(points: np.ndarray, origin: np.ndarray, iod: float, shape: tuple[int, ...]):
    """Row/column slices (ROI coordinates) around ``points`` with a 0.15 IOD margin, and their origin."""
    margin = 0.15 * iod
    lo = np.maximum(np.floor(points.min(0) - origin - margin).astype(int), 0)
    hi = np.ceil(points.max(0) - origin + margin).astype(int)
    hi = np.minimum(hi, [shape[1], shape[0]])
    return slice(lo[1], hi[1]), slice(lo[0], hi[0]), origin + lo


def _eye_rings(src: np.ndarray, dst: np.ndarray, frame: FaceFrame) -> tuple[np.ndarray, np.ndarray]:
    """Virtual points just outside each eye's lids and inner corner, moving with the lid (half
    for the lower lid and corner, most of the way for the upper lid): they keep the skin
    around the eye attached to it when brows and lids move."""
    fs, fd = frame.to_face(src), frame.to_face(dst)
    offsets = {
        40: (0.0, 0.10),
        41: (0.0, 0.10),
        46: (0.0, 0.10),
        47: (0.0, 0.10),
        39: (0.08, 0.02),
        42: (-0.08, 0.02),
        37: (0.0, -0.06),
        38: (0.0, -0.06),
        43: (0.0, -0.06),
        44: (0.0, -0.06),
    }
    # lower-lid and corner skin follows its lid half-way, the upper lid's skin most of the way
    follow = {37: 0.8, 38: 0.8, 43: 0.8, 44: 0.8}
    ring_s = np.array([fs[i] + o for i, o in offsets.items()])
    ring_d = np.array([fs[i] + o + follow.get(i, 0.5) * (fd[i] - fs[i]) for i, o in offsets.items()])
    return frame.to_image(ring_s), frame.to_image(ring_d)


def _eye_override(map_x, map_y, src, dst, roi, iod):
    """Inside each target eye, replace the warp by a rigid shift (the eyeball does not stretch)."""
    origin = np.array(roi[:2], np.float64)
    for sl, corners in ((slice(36, 42), [36, 39]), (slice(42, 48), [42, 45])):
        sy, sx, o = _window(dst[sl], origin, iod, map_x.shape)
        shape = (sy.stop - sy.start, sx.stop - sx.start)
        if min(shape) <= 0:
            continue
        poly = dst[sl] - o
        centre = poly.mean(0)
        mask = _poly_mask(shape, centre + (poly - centre) * 1.05, blur=0.01 * iod)
        shift = (dst[corners] - src[corners]).mean(0)
        xs, ys = np.meshgrid(
            np.arange(shape[1], dtype=np.float32) + np.float32(o[0] - shift[0]),
            np.arange(shape[0], dtype=np.float32) + np.float32(o[1] - shift[1]),
        )
        map_x[sy, sx] = mask * xs + (1 - mask) * map_x[sy, sx]
        map_y[sy, sx] = mask * ys + (1 - mask) * map_y[sy, sx]
    return map_x, map_y


def _shading_gain(skin: np.ndarray) -> float:
    """Folds and furrows deepen more on dark skin: a multiplicative shadow there changes few
    grey levels, while on a real face the fold's shadow contrasts with its lit rim."""
    luma = float(np.asarray(skin, np.float64) @ np.array([0.299, 0.587, 0.114]))
    return float(np.clip(150.0 / max(luma, 1.0), 1.0, 1.6))


def _skin_tone(rgb: np.ndarray, src: np.ndarray) -> np.ndarray:
    """Median colour of the cheeks (a patch under each eye)."""
    samples = []
    for a, b in ((41, 31), (46, 35)):
        p = (src[a] * 0.4 + src[b] * 0.6).astype(int)
        r = max(2, int(0.04 * np.linalg.norm(src[36] - src[45])))
        patch = rgb[max(0, p[1] - r) : p[1] + r, max(0, p[0] - r) : p[0] + r]
        if patch.size:
            samples.append(patch.reshape(-1, 3))
    return np.median(np.vstack(samples), axis=0) if samples else np.array([180.0, 140.0, 120.0])


def smooth_closed(points: np.ndarray, per_segment: int = 6) -> np.ndarray:
    """A closed Catmull-Rom curve through ``points`` (so an 8-point lip contour is round, not polygonal)."""
    p = np.asarray(points, np.float64)
    n = len(p)
    t = np.linspace(0, 1, per_segment, endpoint=False)[:, None]
    out = []
    for i in range(n):
        p0, p1, p2, p3 = p[i - 1], p[i], p[(i + 1) % n], p[(i + 2) % n]
        out.append(
            0.5
            * (
                (2 * p1)
                + (-p0 + p2) * t
                + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t**2
                + (-p0 + 3 * p1 - 3 * p2 + p3) * t**3
            )
        )
    return np.vstack(out)


def _curve(points: np.ndarray, n: int = 12) -> np.ndarray:
    """A quadratic Bézier through start, control, end (3 points) sampled at n points."""
    t = np.linspace(0, 1, n)[:, None]
    p0, p1, p2 = points
    return (1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t**2 * p2


def _strokes(recipe_appearance: dict, tf: np.ndarray, strength: float):
    """Shading strokes in face coordinates: lists of (polyline (N,2), weight, thickness, kind)."""
    strokes = []
    look = {k: v * strength for k, v in recipe_appearance.items()}
    for sign, (nose_wing, corner, eye_in, eye_out, low_lid) in (
        (1, (31, 48, 39, 36, 41)),
        (-1, (35, 54, 42, 45, 46)),
    ):
        if look.get("nasolabial"):
            a = tf[nose_wing] + (-0.05 * sign, -0.05)
            c = tf[corner] + (-0.08 * sign, 0.11)
            m = (a + c) / 2 + (-0.06 * sign, 0.0)
            strokes.append((_curve(np.array([a, m, c])), 0.4 * look["nasolabial"], 0.05, "dark"))
            apex = (tf[low_lid] + tf[corner]) / 2 + (-0.06 * sign, -0.06)
            strokes.append(
                (np.array([apex, apex + (-0.06 * sign, 0.02)]), 0.22 * look["nasolabial"], 0.14, "light")
            )
        if look.get("smile_corners"):
            c = tf[corner]
            hook = np.array([c + (0.01 * sign, 0.01), c + (-0.035 * sign, -0.02), c + (-0.05 * sign, -0.06)])
            strokes.append((hook, 0.4 * look["smile_corners"], 0.03, "dark"))
        if look.get("brows"):
            brow = tf[17:22] if sign > 0 else tf[22:27]
            strokes.append((brow + (0.0, 0.01), 0.3 * look["brows"], 0.06, "dark"))
        if look.get("cheek"):
            lid = tf[[eye_out, low_lid, low_lid - 1 if sign > 0 else low_lid + 1, eye_in]]
            arc = lid + (0.0, 0.09)
            strokes.append((arc, 0.22 * look["cheek"], 0.03, "dark"))
        if look.get("crows_feet"):
            o = tf[eye_out]
            for dy0, dy1 in ((-0.04, -0.10), (0.0, 0.0), (0.04, 0.10)):
                strokes.append(
                    (
                        np.array([o + (-0.07 * sign, dy0), o + (-0.19 * sign, dy1)]),
                        0.22 * look["crows_feet"],
                        0.02,
                        "dark",
                    )
                )
        if look.get("under_eye"):
            lid = tf[[eye_out, low_lid, low_lid - 1 if sign > 0 else low_lid + 1, eye_in]] + (0.0, 0.13)
            strokes.append((lid, 0.18 * look["under_eye"], 0.05, "dark"))
        if look.get("brow_shadow"):
            band = np.vstack(
                [
                    tf[17:22] if sign > 0 else tf[22:27],
                    tf[[39, 38, 37, 36]] if sign > 0 else tf[[45, 44, 43, 42]],
                ]
            )
            strokes.append((band, 0.18 * look["brow_shadow"], 0.0, "fill"))
    mid_brow = (tf[21] + tf[22]) / 2
    if look.get("glabella"):
        # short, slightly bowed furrows between the brows (not ruled lines up the forehead)
        for dx in (-0.05, 0.05):
            a, c = mid_brow + (dx, 0.05), mid_brow + (dx * 1.25, -0.15)
            m = (a + c) / 2 + (dx * 0.25, 0.0)
            strokes.append((_curve(np.array([a, m, c]), 8), 0.32 * look["glabella"], 0.03, "dark"))
    if look.get("nose_bridge"):
        top = tf[27] + (0.0, 0.02)
        strokes.append(
            (
                np.array([top + (-0.09, 0.0), top + (0.0, -0.015), top + (0.09, 0.0)]),
                0.3 * look["nose_bridge"],
                0.025,
                "dark",
            )
        )
    if look.get("forehead"):
        brow_top = tf[17:27, 1].min()
        for k, (dy, half) in enumerate(((-0.13, 0.34), (-0.24, 0.30), (-0.35, 0.24))):
            y = brow_top + dy
            cx = mid_brow[0]
            arc = np.array([[cx - half, y + 0.03], [cx, y - 0.025], [cx + half, y + 0.03]])
            strokes.append((_curve(arc), (0.22 - 0.05 * k) * look["forehead"], 0.022, "dark"))
    if look.get("lip_line"):
        strokes.append((tf[[60, 61, 62, 63, 64]], 0.45 * look["lip_line"], 0.022, "dark"))
    if look.get("mentolabial"):
        c = tf[57] + (0.0, 0.07)
        arc = np.array([c + (-0.17, -0.03), c + (0.0, 0.02), c + (0.17, -0.03)])
        strokes.append((_curve(arc), 0.3 * look["mentolabial"], 0.05, "dark"))
    return strokes


def _shade(
    out: np.ndarray, strokes, frame: FaceFrame, origin: tuple[int, int], gain: float = 1.0
) -> np.ndarray:
    import cv2

    full_shape = out.shape[:2]
    # shading is smooth: draw and blur it at most ~160 px per IOD, then upsample
    scale = min(1.0, 160.0 / frame.iod)
    shape = (max(1, round(full_shape[0] * scale)), max(1, round(full_shape[1] * scale)))
    dark = np.zeros(shape, np.float32)
    fill = np.zeros(shape, np.float32)
    light = np.zeros(shape, np.float32)
    iod = frame.iod * scale
    for line, weight, thickness, kind in strokes:
        pts = (frame.to_image(line) - origin) * scale
        pts_i = np.round(pts * 4).astype(np.int32)
        if kind == "fill":
            layer = np.zeros(shape, np.float32)
            cv2.fillPoly(layer, [pts_i], float(weight), lineType=cv2.LINE_AA, shift=2)
            np.maximum(fill, layer, out=fill)
            continue
        target = dark if kind == "dark" else light
        layer = np.zeros(shape, np.float32)
        cv2.polylines(
            layer,
            [pts_i],
            False,
            float(weight),
            thickness=max(1, int(round(thickness * iod))),
            lineType=cv2.LINE_AA,
            shift=2,
        )
        np.maximum(target, layer, out=target)
    dark = cv2.GaussianBlur(dark, (0, 0), max(0.7, 0.028 * iod))
    if fill.any():
        dark = np.maximum(dark, cv2.GaussianBlur(fill, (0, 0), max(1.0, 0.06 * iod)))
    if light.any():
        light = cv2.GaussianBlur(light, (0, 0), max(1.0, 0.07 * iod))
    if scale < 1.0:
        size = (full_shape[1], full_shape[0])
        dark = cv2.resize(dark, size, interpolation=cv2.INTER_LINEAR)
        light = cv2.resize(light, size, interpolation=cv2.INTER_LINEAR)
    img = out.astype(np.float32)
    # shadows on skin are warm: red is absorbed least (expression-ratio images show the same)
    img *= 1.0 - np.clip(gain * dark, 0, 0.7)[..., None] * np.array([0.8, 1.0, 1.05], np.float32)
    img += (255.0 - img) * np.clip(light, 0, 0.5)[..., None]
    return img


#: Edges between teeth, from the midline outwards (IOD units): central and lateral incisors,
#: canines, premolars (average adult widths ≈ 8.5, 6.5, 7.5, 7 mm for a ≈ 63 mm IOD, seen
#: foreshortened along the dental arch).
_TOOTH_EDGES = np.array([0.0, 0.125, 0.215, 0.29, 0.35, 0.40])


def _tooth_gaps(dx: np.ndarray, iod: float, depth=0.08) -> np.ndarray:
    """A multiplicative row of soft gaps between teeth at horizontal offsets ``dx`` (px)."""
    d = np.abs(dx) / iod
    dist = np.min(np.abs(d[..., None] - _TOOTH_EDGES), axis=-1)
    width = max(0.006, 0.8 / iod)  # at least ~1 px
    return 1.0 - depth * np.exp(-0.5 * (dist / width) ** 2)


def _smoothstep(x):
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def _lip_curves(inner: np.ndarray, frame: FaceFrame):
    """The inner upper and lower lip lines (corner to corner) as y(x) in the face frame, sorted by x."""
    contour = frame.to_face(smooth_closed(inner))  # 6 points a segment: 0 = corner 60, 24 = corner 64
    upper = contour[:25]
    lower = np.vstack([contour[24:], contour[:1]])
    return upper[np.argsort(upper[:, 0])], lower[np.argsort(lower[:, 0])]


def _paint_mouth(img, dst, src_mask_warped, recipe, strength, skin, iod, origin):
    """Paint a mouth cavity (and teeth) where the target lips opened beyond the source's.

    Everything is laid out in lip coordinates: across the mouth ``u`` (-1 … 1 corner to
    corner) and down the opening ``v`` (0 at the upper lip's inner edge, 1 at the lower
    lip's), both in the face frame, so the teeth follow the lips' curvature and tilt. The
    upper teeth end in a soft, slightly scalloped smile arc, are shaded by the upper lip
    and recede into the dark corridors at the mouth corners; lower teeth (when the recipe
    shows them) sit low, mostly behind the lower lip, in shadow.
    """
    import cv2

    inner = dst[60:68] - origin
    gap = float(np.linalg.norm(inner[6] - inner[2]))  # 66 - 62
    if gap < 0.03 * iod:
        return img
    shape = img.shape[:2]
    frame = FaceFrame.from_landmarks(dst - origin)
    poly = _poly_mask(shape, smooth_closed(inner), blur=0.015 * iod)
    cavity = poly * (1.0 - src_mask_warped)
    if src_mask_warped.max() > 0.05:  # the mouth was open: ignore slivers along its old edge
        k = max(3, int(0.05 * iod) | 1)
        cavity = cv2.morphologyEx(
            cavity, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
        )
        cavity = cv2.GaussianBlur(cavity, (0, 0), max(0.5, 0.01 * iod))
    if cavity.max() < 0.05:
        return img
    upper, lower = _lip_curves(inner, frame)
    ys, xs = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float32)
    fp = frame.to_face(np.stack([xs, ys], -1).reshape(-1, 2)).reshape(*shape, 2).astype(np.float32)
    fx, fy = fp[..., 0], fp[..., 1]
    left, right = upper[0, 0], upper[-1, 0]
    cx, half = (left + right) / 2, max(1e-3, (right - left) / 2)
    u = np.clip((fx - cx) / half, -1, 1)
    au = np.abs(u)
    y_top = np.interp(fx, upper[:, 0], upper[:, 1]).astype(np.float32)
    y_bot = np.interp(fx, lower[:, 0], lower[:, 1]).astype(np.float32)
    height = np.maximum(y_bot - y_top, 1e-3)
    v = (fy - y_top) / height
    px = 1.0 / iod  # one pixel in face units

    skin_luma = float(np.asarray(skin, np.float32) @ np.array([0.299, 0.587, 0.114], np.float32))
    lum = float(np.clip(skin.mean() / 170.0, 0.35, 1.2))
    # the cavity: dark and warm, darkest deep in the middle and in the corridors at the corners
    cavity_rgb = np.array([62.0, 24.0, 28.0], np.float32) * lum
    depth = (0.75 + 0.25 * np.abs(2 * np.clip(v, 0, 1) - 1)) * (1.0 - 0.45 * au**2)
    colour = cavity_rgb * depth[..., None]

    teeth = recipe.appearance.get("teeth", 0.0) * min(1.0, strength)
    lower_share = recipe.appearance.get("lower_teeth", 0.0) * min(1.0, strength)
    # teeth are bright but not brighter than the photo allows: scaled to its exposure
    teeth_luma = float(np.clip(0.5 * skin_luma + 115.0, 150.0, 218.0))
    teeth_rgb = np.array([1.0, 0.965, 0.9], np.float32) * teeth_luma / 0.97
    # bared, clenched teeth show their interdental gaps more than a smile's
    gaps = _tooth_gaps((fx - cx) * iod, iod, depth=(0.05 + 0.2 * au) * (1.0 + 2.0 * lower_share))
    across = 1.0 - 0.4 * au**2  # the dental arch turns away from the light towards the corners
    # teeth in shade take the mouth's warm reflected light, not grey
    shadow_rgb = np.array([120.0, 72.0, 66.0], np.float32) * lum
    soft = max(1.2 * px, 0.012) / np.maximum(height, 1e-3)  # edge width in v units
    if lower_share > 0:  # drawn first: the upper teeth overlap them
        top_lower = 1.0 - lower_share
        a_lo = _smoothstep((v - top_lower) / soft + 0.5) * (1.0 - _smoothstep((au - 0.6) / 0.25))
        low = (0.72 * across * gaps)[..., None]  # behind and under the upper teeth: in shadow
        tooth = teeth_rgb * low + shadow_rgb * (1 - low)
        colour = colour * (1 - a_lo[..., None]) + tooth * a_lo[..., None]
    if teeth > 0:
        # incisal edge: a smile arc between the lips, a little higher at each tooth's corners
        scallop = (1.0 - gaps) / (
            (0.05 + 0.2 * au) * (1.0 + 2.0 * lower_share)
        )  # 0 inside a tooth, 1 at a gap
        edge = teeth * (0.92 + 0.08 * (1 - au**2)) - 0.04 * scallop
        a_up = (1.0 - _smoothstep((v - edge) / soft + 0.5)) * (1.0 - _smoothstep((au - 0.72) / 0.25))
        # the upper lip shades the top of the teeth; the lip's edge casts a darker line
        lip_shadow = 0.62 + 0.38 * _smoothstep(v / max(0.05, 0.45 * teeth))
        lip_shadow *= 1.0 - 0.25 * np.exp(-0.5 * (v / np.maximum(0.02, 2 * soft)) ** 2)
        light = (lip_shadow * across * gaps)[..., None]
        tooth = teeth_rgb * light + shadow_rgb * (1 - light)
        if lower_share > 0:  # clenched: a dark seam where the upper teeth meet the lower
            seam = np.exp(-0.5 * ((v - edge) / np.maximum(soft, 0.04)) ** 2) * (1 - au)
            a_up = np.maximum(a_up, seam)
            tooth = tooth * (1.0 - 0.6 * seam)[..., None]
        colour = colour * (1 - a_up[..., None]) + tooth * a_up[..., None]
    a = np.clip(cavity, 0, 1)[..., None]
    return img * (1 - a) + colour * a


def _lip_colour(rgb_src: np.ndarray, src: np.ndarray) -> np.ndarray | None:
    """Median colour of the source's lips (the reddest half of the ring between outer and inner lip)."""
    bx0, by0 = np.maximum(np.floor(src[48:60].min(0)).astype(int), 0)
    bx1, by1 = np.ceil(src[48:60].max(0)).astype(int) + 1
    box = (by1 - by0, bx1 - bx0)
    ring = np.maximum(_poly_mask(box, src[48:60] - (bx0, by0)) - _poly_mask(box, src[60:68] - (bx0, by0)), 0)
    patch = rgb_src[by0:by1, bx0:bx1].astype(np.float32)
    ring = ring[: patch.shape[0], : patch.shape[1]] > 0.5
    if ring.sum() < 4:
        return None
    px = patch[ring]
    red = px[:, 0] - px[:, 1]
    return np.median(px[red >= np.median(red)], axis=0)


def _close_lips(img, dst, src, rgb_src, iod, origin):
    """Closing a wide-open mouth leaves a thin, stretched lip band (and squeezed teeth): paint
    closed lips over it, in the photo's lip colour, shaded (upper lip darker, a soft highlight
    on the lower lip), with a dark line where the lips meet that deepens towards the corners."""
    colour = _lip_colour(rgb_src, src)
    if colour is None:
        return img
    shape = img.shape[:2]
    frame = FaceFrame.from_landmarks(dst - origin)
    lips = frame.to_face(dst[48:68] - origin)
    # the smile stretched the lips thin: give them a resting thickness around the lip line
    inner = lips[12:20]
    line_y = inner[[1, 2, 3, 5, 6, 7], 1].mean()
    outer = lips[:12].copy()
    upper_ix, lower_ix = [1, 2, 3, 4, 5], [7, 8, 9, 10, 11]
    outer[upper_ix, 1] = np.minimum(outer[upper_ix, 1], line_y - np.array([0.07, 0.09, 0.08, 0.09, 0.07]))
    outer[lower_ix, 1] = np.maximum(outer[lower_ix, 1], line_y + np.array([0.07, 0.10, 0.11, 0.10, 0.07]))
    contour = smooth_closed(frame.to_image(outer))
    mask = _poly_mask(shape, contour, blur=0.025 * iod)
    if mask.max() < 0.05:
        return img
    ys, xs = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float32)
    fp = frame.to_face(np.stack([xs, ys], -1).reshape(-1, 2)).reshape(*shape, 2)
    fx, fy = fp[..., 0], fp[..., 1]
    left, right = outer[0, 0], outer[6, 0]
    au = np.clip(np.abs(fx - (left + right) / 2) / max(1e-3, (right - left) / 2), 0, 1)
    line = np.interp(fx, np.sort(inner[[0, 1, 2, 3, 4], 0]), inner[np.argsort(inner[[0, 1, 2, 3, 4], 0]), 1])
    d = (fy - line) / 0.1  # -1 at the top of the upper lip, +1 at the bottom of the lower lip
    shade = np.where(d < 0, 0.86 + 0.06 * np.clip(-d, 0, 1), 1.0 + 0.08 * np.exp(-(((d - 0.45) / 0.3) ** 2)))
    seam = np.exp(-0.5 * (d / 0.12) ** 2) * (0.25 + 0.2 * au) * (1.0 - _smoothstep((au - 0.8) / 0.2))
    shade = shade * (1.0 - seam) * (1.0 - 0.15 * au**2)
    lip = colour[None, None, :] * shade[..., None]
    a = (0.85 * mask)[..., None]  # a little of the photo's texture shows through
    return img * (1 - a) + lip * a


def _cover_teeth(img, dst, src_mouth_warped, rgb_src, src, iod, origin):
    """Where a closing mouth squeezed the source's mouth interior outside the target opening, show lip."""
    if src_mouth_warped.max() < 0.05:
        return img
    shape = img.shape[:2]
    closed = np.linalg.norm(dst[66] - dst[62]) < 0.03 * iod
    inside = 0.0 if closed else _poly_mask(shape, smooth_closed(dst[60:68] - origin))
    stray = np.clip(src_mouth_warped * (1.0 - inside) * 1.5, 0, 1)
    if stray.max() < 0.05:
        return img
    import cv2

    stray = cv2.GaussianBlur(stray, (0, 0), max(0.6, 0.015 * iod))
    bx0, by0 = np.maximum(np.floor(src[48:60].min(0)).astype(int), 0)
    bx1, by1 = np.ceil(src[48:60].max(0)).astype(int) + 1
    box = (by1 - by0, bx1 - bx0)
    lips = (
        np.maximum(_poly_mask(box, src[48:60] - (bx0, by0)) - _poly_mask(box, src[60:68] - (bx0, by0)), 0)
        > 0.5
    )
    patch = rgb_src[by0:by1, bx0:bx1]
    lips = lips[: patch.shape[0], : patch.shape[1]]
    colour = (
        np.median(patch[lips], axis=0).astype(np.float32) * 0.9 if lips.any() else img.reshape(-1, 3).mean(0)
    )
    a = stray[..., None]
    return img * (1 - a) + colour * a


def _paint_sclera(img, dst, src_eye_warped, rgb_src, src, iod, origin):
    """Fill eye area uncovered by a raised lid with the colour of the eye's own sclera."""
    shape = img.shape[:2]
    opened = False
    frame = FaceFrame.from_landmarks(src)
    for sl, lid in ((slice(36, 42), [37, 38]), (slice(42, 48), [43, 44])):
        rise = float(np.mean((src[lid] - dst[lid]) @ frame.ey)) / iod
        if rise < 0.015:  # the upper lid did not rise: nothing is uncovered
            continue
        contour = smooth_closed(dst[sl] - origin)  # lids are arcs, not polylines
        poly = _poly_mask(shape, contour, blur=0.012 * iod)
        # only a raised upper lid uncovers white: keep the half above the line through the corners
        c0, c1 = dst[sl][0] - origin, dst[sl][3] - origin
        normal = np.array([c1[1] - c0[1], c0[0] - c1[0]])  # points up the face for a frontal eye
        ys, xs = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float32)
        upper = ((xs - c0[0]) * normal[0] + (ys - c0[1]) * normal[1]) > 0
        new = poly * (1.0 - src_eye_warped) * upper
        if new.max() < 0.05:
            continue
        s = src[sl]
        x0, y0 = np.floor(s.min(0)).astype(int)
        x1, y1 = np.ceil(s.max(0)).astype(int) + 1
        x0, y0 = max(0, x0), max(0, y0)
        inside = _poly_mask((y1 - y0, x1 - x0), s - (x0, y0)) > 0.5
        patch = rgb_src[y0:y1, x0:x1][inside].astype(np.float32)
        if len(patch) < 4:
            continue
        luma = patch @ np.array([0.299, 0.587, 0.114], np.float32)
        bright = patch[luma >= np.percentile(luma, 90)]
        sclera = np.median(bright, axis=0)
        # keep whites white even when the photo's eyes are in shade
        skin_luma = float(_skin_tone(rgb_src, src) @ np.array([0.299, 0.587, 0.114]))
        floor = min(235.0, 1.15 * skin_luma)
        sclera_luma = float(sclera @ np.array([0.299, 0.587, 0.114]))
        if sclera_luma < floor:
            sclera = sclera * (floor / max(sclera_luma, 1.0))
        sclera = np.clip(sclera, 0, 245)
        # a real eye white is not flat: the lid and lashes shade its top, and it darkens
        # towards the corners as the eyeball curves away
        lid = contour[: 3 * 6 + 1]  # corner → upper lid → corner (smooth_closed: 6 points a segment)
        order = np.argsort(lid[:, 0])
        lid_y = np.interp(xs[0], lid[order, 0], lid[order, 1])[None, :]
        below = np.clip((ys - lid_y) / max(1.0, 0.05 * iod), 0, 1)
        mid_x, half_w = (c0[0] + c1[0]) / 2, max(1.0, abs(c1[0] - c0[0]) / 2)
        across = np.clip(np.abs(xs - mid_x) / half_w, 0, 1)
        shade = (0.78 + 0.22 * below) * (1.0 - 0.18 * across**2)
        a = np.clip(new, 0, 1)[..., None]
        img = img * (1 - a) + (sclera * shade[..., None]) * a
        opened = (opened or []) + [lid]
    if opened:  # the raised lid carries its lashes: a dark line along the new upper lid
        import cv2

        line = np.zeros(shape, np.float32)
        for upper in opened:
            pts = np.round(upper * 4).astype(np.int32)
            cv2.polylines(
                line,
                [pts],
                False,
                1.0,
                thickness=max(1, int(round(0.035 * iod))),
                lineType=cv2.LINE_AA,
                shift=2,
            )
        line = cv2.GaussianBlur(line, (0, 0), max(0.5, 0.01 * iod))
        img = img * (1.0 - 0.45 * np.clip(line, 0, 1))[..., None]
    return img


def warp_face(
    rgb: np.ndarray, landmarks: np.ndarray, emotion: str, strength: float = 1.0, grid_step: int | None = None
):
    """Edit one face of an RGB uint8 photo in place of a copy; returns (image, target landmarks, timings).

    Parameters
    ----------
    rgb : numpy.ndarray
        RGB uint8 photo.
    landmarks : numpy.ndarray
        (68, 2) landmarks of the face to edit.
    emotion, strength
        As for :meth:`WarpEditor.edit`.
    grid_step : int, optional
        Spacing in pixels of the grid the spline is evaluated on (default ~IOD/12).
    """
    import cv2

    t0 = time.perf_counter()
    emotion, strength = _emotion(emotion), _strength(strength)
    src = np.asarray(landmarks, np.float64)
    dst = target_landmarks(src, emotion, strength)
    frame = FaceFrame.from_landmarks(src)
    tframe = FaceFrame.from_landmarks(dst)
    roi = _roi(np.vstack([src, dst]), frame, rgb.shape[:2])
    x0, y0, x1, y1 = roi
    anchors = _anchors(src, frame, roi)
    step = grid_step or int(np.clip(frame.iod / 12, 2, 12))
    t1 = time.perf_counter()
    ring_src, ring_dst = _eye_rings(src, dst, frame)
    # mid-lip points keep each lip's body on the lip when the mouth opens or closes
    pairs = np.array([[50, 61], [51, 62], [52, 63], [58, 67], [57, 66], [56, 65]])
    ring_src = np.vstack([ring_src, src[pairs].mean(1)])
    ring_dst = np.vstack([ring_dst, dst[pairs].mean(1)])
    map_x, map_y = backward_map(
        np.vstack([src, ring_src]), np.vstack([dst, ring_dst]), anchors, roi, frame.iod, step
    )
    map_x, map_y = _eye_override(map_x, map_y, src, dst, roi, frame.iod)
    warped = cv2.remap(rgb, map_x, map_y, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    img = warped.astype(np.float32)
    # where did the source mouth / eyes land? (sampled through the same map)
    # masks drawn in ROI coordinates (the ROI holds the source face too), sampled with the
    # map shifted to ROI coordinates: no full-size buffers for huge photos
    full = (y1 - y0, x1 - x0)
    local = src - (x0, y0)
    map_x, map_y = map_x - np.float32(x0), map_y - np.float32(y0)
    src_mouth = _poly_mask(full, local[60:68])
    src_eyes = np.maximum(_poly_mask(full, local[36:42]), _poly_mask(full, local[42:48]))
    # shrink the source eye so its lash line counts as uncovered when a lid rises
    k = max(3, int(0.03 * frame.iod) | 1)
    src_eyes = cv2.erode(src_eyes, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    src_eyes = cv2.GaussianBlur(src_eyes, (0, 0), max(0.5, 0.008 * frame.iod))
    mouth_w = cv2.remap(
        src_mouth, map_x, map_y, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT
    )
    eyes_w = cv2.remap(src_eyes, map_x, map_y, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    del map_x, map_y
    recipe = RECIPES[emotion]
    skin = _skin_tone(rgb, src)
    origin = np.array([x0, y0], np.float64)
    if np.linalg.norm(src[66] - src[62]) < 0.03 * frame.iod:
        mouth_w = np.zeros_like(mouth_w)  # a closed source mouth has no interior worth keeping
    if strength > 0:
        sy, sx, o = _window(dst[48:68], origin, frame.iod, img.shape)
        img[sy, sx] = _cover_teeth(img[sy, sx], dst, mouth_w[sy, sx], rgb, src, frame.iod, o)
        if mouth_w.max() > 0.05 and np.linalg.norm(dst[66] - dst[62]) < 0.03 * frame.iod:
            img[sy, sx] = _close_lips(img[sy, sx], dst, src, rgb, frame.iod, o)
        img[sy, sx] = _paint_mouth(img[sy, sx], dst, mouth_w[sy, sx], recipe, strength, skin, frame.iod, o)
        sy, sx, o = _window(dst[36:48], origin, frame.iod, img.shape)
        img[sy, sx] = _paint_sclera(img[sy, sx], dst, eyes_w[sy, sx], rgb, src, frame.iod, o)
        strokes = _strokes(recipe.appearance, tframe.to_face(dst), min(strength, MAX_STRENGTH))
        if strokes:
            img = _shade(img, strokes, tframe, (x0, y0), gain=_shading_gain(skin))
    t2 = time.perf_counter()
    out = rgb.copy()
    out[y0:y1, x0:x1] = np.clip(img + 0.5, 0, 255).astype(np.uint8)
    t3 = time.perf_counter()
    timings = {"align_ms": (t1 - t0) * 1e3, "warp_ms": (t2 - t1) * 1e3, "paste_ms": (t3 - t2) * 1e3}
    return out, dst, timings


def _single_threaded_blas():
    """The spline's systems are ~100×100: BLAS threads only add start-up and contention there."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        import contextlib

        return contextlib.nullcontext()
    return threadpool_limits(1, user_api="blas")


class WarpEditor:
    """The FACS action-unit warp editor (offline, CPU, no trained weights).

    Parameters
    ----------
    min_face : int
        Faces narrower than this many pixels are refused.
    grid_step : int, optional
        Spline evaluation grid spacing in pixels (default: about IOD/12).
    """

    name = "warp"

    def __init__(self, min_face: int = MIN_FACE_PX, grid_step: int | None = None, **_ignored):
        self.min_face = int(min_face)
        self.grid_step = grid_step

    def edit(
        self,
        image: np.ndarray,
        emotion: str,
        strength: float = 1.0,
        *,
        faces: list[Face] | None = None,
        all_faces: bool = False,
        where: str = "image",
    ) -> EditResult:
        """Change the expression of the largest face (or all faces) of ``image``.

        Parameters
        ----------
        image : numpy.ndarray
            The photo: H×W gray, H×W×3 RGB or H×W×4 RGBA, 8 or 16 bits.
        emotion : str
            Any accepted emotion name (``happy``, ``sad``, ``angry``, ``fear``, ``neutral``,
            ``surprised``, ``disgusted``, ``contempt``, aliases such as ``fearful``).
        strength : float
            0 (unchanged) … 1 (default, a clear expression) … 1.5 (exaggerated).
        faces : list of Face, optional
            Faces already detected in ``image`` (skips detection).
        all_faces : bool
            Edit every face found instead of only the largest.
        where : str
            Name of the input used in error messages (e.g. its path).

        Returns
        -------
        EditResult
            ``image`` with the same shape and dtype as the input; ``info`` holds
            ``emotion``, ``strength``, ``editor``, ``n_faces``, ``landmarks`` /
            ``target_landmarks`` (of the first face edited) and ``timings_ms``.

        Raises
        ------
        InputError
            No face, a face smaller than ``min_face`` px, a bad strength.
        UnknownEmotionError
            An emotion name that is not known.
        """
        emotion, strength = _emotion(emotion), _strength(strength)
        start = time.perf_counter()
        rgb = to_rgb(image, where)
        if faces is None:
            faces = detect_faces(rgb)
        detect_ms = (time.perf_counter() - start) * 1e3
        if not faces:
            raise InputError(f"{where}: no face found")
        faces = sorted(faces, key=lambda f: f.area, reverse=True)
        if faces[0].width < self.min_face:
            raise InputError(
                f"{where}: face is too small ({faces[0].width:.0f} px wide; at least {self.min_face} px needed)"
            )
        chosen = [f for f in faces if f.width >= self.min_face] if all_faces else faces[:1]
        out = rgb
        timings = {"detect_ms": detect_ms, "align_ms": 0.0, "warp_ms": 0.0, "paste_ms": 0.0}
        targets = []
        for face in chosen:
            with _single_threaded_blas():
                out, dst, t = warp_face(out, face.landmarks, emotion, strength, self.grid_step)
            targets.append(dst)
            for k, v in t.items():
                timings[k] += v
        t = time.perf_counter()
        result = restore_mode(out, image)
        timings["paste_ms"] += (time.perf_counter() - t) * 1e3
        timings = {k: round(v, 2) for k, v in timings.items()}
        timings["total_ms"] = round((time.perf_counter() - start) * 1e3, 2)
        info = {
            "emotion": emotion,
            "strength": strength,
            "editor": self.name,
            "n_faces": len(chosen),
            "face_box": [round(v, 1) for v in chosen[0].box],
            "landmarks": chosen[0].landmarks,
            "target_landmarks": targets[0],
            "recipe": dict(RECIPES[emotion].aus),
            "timings_ms": timings,
        }
        return EditResult(image=result, info=info)
