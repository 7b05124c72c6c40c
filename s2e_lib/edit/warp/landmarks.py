"""Landmark targets: the face frame (IOD units), mouth relaxation, recipe displacements."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from s2e_lib.edit.warp.recipes import (
    OPEN_MOUTH,
    PARTING_AUS,
    RECIPES,
    TOOTHY_SMILE,
    recipe_field,
    saturate,
    within_anatomy,
)
from s2e_lib.emotions import parse_emotion
from s2e_lib.errors import InputError

#: Largest strength accepted (the recipes are tuned for 1; 1.5 is intense, see ``saturate``).
MAX_STRENGTH = 1.5
EMOTIONS = tuple(RECIPES)
#: The lens a spectacle frame is assumed to hold around each eye (face frame, IOD units):
#: an ellipse of these half axes, centred this far below the eye's centre.
LENS_HALF_WIDTH, LENS_HALF_HEIGHT, LENS_DROP = 0.36, 0.26, 0.03

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


def relax_mouth(
    face_pts: np.ndarray, weight: float = 1.0, min_gap: float = 0.015, keep_open: float = 0.0
) -> np.ndarray:
    """Bring the mouth towards rest in face coordinates: jaw closes, corners level.

    Parameters
    ----------
    face_pts : numpy.ndarray
        (68, 2) landmarks in the face frame (IOD units).
    weight : float
        0 = unchanged, 1 = fully at rest.
    min_gap : float
        Lip gap (IOD) kept when closing an open mouth, so the warp stays invertible.
    keep_open : float
        Share of the opening left open (0: closed down to ``min_gap``).
    """
    pts = face_pts.copy()
    gaps = pts[_LOWER_INNER, 1] - pts[_UPPER_INNER, 1]
    gap = float(max(0.0, gaps.max() - min_gap))
    if gap > 0:
        close = weight * gap * (1.0 - float(np.clip(keep_open, 0.0, 1.0)))
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


def smile_lift(face_pts: np.ndarray) -> float:
    """How far (IOD) the lip corners sit above the middle of the inner lips (face-frame points)."""
    return float((face_pts[62, 1] + face_pts[66, 1]) / 2 - face_pts[[48, 54], 1].mean())


def toothy_smile(landmarks: np.ndarray) -> bool:
    """An open mouth smiling (its corners no more than :data:`~s2e_lib.edit.warp.recipes.TOOTHY_SMILE`
    below the upper inner lip): recipes that relax the mouth close it completely."""
    if mouth_gap(landmarks) < OPEN_MOUTH:
        return False
    pts = FaceFrame.from_landmarks(landmarks).to_face(landmarks)
    return float(pts[[48, 54], 1].mean() - pts[62, 1]) <= TOOTHY_SMILE


def mouth_gap(landmarks: np.ndarray) -> float:
    """The inner lips' largest vertical gap, in inter-ocular distances."""
    frame = FaceFrame.from_landmarks(landmarks)
    pts = frame.to_face(landmarks)
    return float(max(0.0, (pts[_LOWER_INNER, 1] - pts[_UPPER_INNER, 1]).max()))


def close_inner_lips(landmarks: np.ndarray) -> np.ndarray:
    """``landmarks`` with a closed mouth: the lower inner lip (67–65) moved onto the upper (61–63).

    For closed lips that dlib parts (:func:`~s2e_lib.edit.warp.photo.lips_sealed`) the upper
    inner points sit on the line where the lips meet and the lower ones drift onto the lower
    lip's moist inner part (4 FRL neutral faces looked at).
    """
    out = np.asarray(landmarks, np.float64).copy()
    out[_LOWER_INNER] = out[_UPPER_INNER]
    return out


def uncross_inner_lips(landmarks: np.ndarray) -> np.ndarray:
    """``landmarks`` whose inner lips no longer cross: a lower inner point above its upper
    partner (face frame) goes with it to where the two meet, halfway.

    dlib crosses the inner lips of a closed mouth, slightly on most (up to 0.03 IOD on 30 of
    102 FRL neutral faces) and by 0.10 IOD under a moustache (FRL 096). A recipe that parts
    the lips by a set amount then opened such a mouth only by what was left over: 096's
    smile parted nothing, so it got no teeth and half the corner lift.
    """
    out = np.asarray(landmarks, np.float64).copy()
    face = FaceFrame.from_landmarks(out).to_face(out)  # "above" is along the face's own axis
    crossed = face[_LOWER_INNER, 1] < face[_UPPER_INNER, 1]
    for up, low in zip(np.array(_UPPER_INNER)[crossed], np.array(_LOWER_INNER)[crossed], strict=True):
        out[up] = out[low] = (out[up] + out[low]) / 2
    return out


#: Facial features that move as a whole (iBUG 68-point index ranges).
FEATURES: dict[str, range] = {
    "jaw": range(0, 17),
    "right brow": range(17, 22),
    "left brow": range(22, 27),
    "nose": range(27, 36),
    "right eye": range(36, 42),
    "left eye": range(42, 48),
    "mouth": range(48, 68),
}
#: A feature with a landmark closer than this (IOD units) to the photo's edge, or beyond
#: it, is cut by the border: about the largest displacement of a region at strength 1.
BORDER_MARGIN = 0.15


def freeze_cut_features(
    source: np.ndarray, target: np.ndarray, shape: tuple[int, ...], margin: float = BORDER_MARGIN
) -> tuple[np.ndarray, list[str]]:
    """Keep in place every feature that the photo's border cuts (or nearly cuts).

    A face cropped at the chin, or with one eye at the edge of the photo, has landmarks
    that dlib placed outside the picture. Moving such a feature would pull in pixels from
    beyond the border (mirrored copies of the edge) and paint lids or lip gaps where there
    is no eye or mouth to see: the visible part of the face is edited, the cut feature
    stays as it is.

    Parameters
    ----------
    source, target : numpy.ndarray
        (68, 2) landmarks before and after the edit, image pixels.
    shape : tuple
        The photo's shape (height, width, ...).
    margin : float
        Distance from the edge, in inter-ocular distances, under which a landmark counts
        as cut.

    Returns
    -------
    target : numpy.ndarray
        ``target`` with the cut features' landmarks back at ``source``.
    cut : list of str
        Names of the frozen features (keys of :data:`FEATURES`), in that order.
    """
    source = np.asarray(source, np.float64)
    target = np.array(target, np.float64)
    pad = margin * FaceFrame.from_landmarks(source).iod
    height, width = shape[:2]
    inside = (
        (source[:, 0] >= pad)
        & (source[:, 1] >= pad)
        & (source[:, 0] <= width - 1 - pad)
        & (source[:, 1] <= height - 1 - pad)
    )
    cut = [name for name, index in FEATURES.items() if not inside[list(index)].all()]
    return keep_features(source, target, cut), cut


def keep_features(source: np.ndarray, target: np.ndarray, names: list[str]) -> np.ndarray:
    """``target`` with the landmarks of the named :data:`FEATURES` back at ``source``."""
    target = np.array(target, np.float64)
    for name in names:
        target[list(FEATURES[name])] = np.asarray(source, np.float64)[list(FEATURES[name])]
    return target


def target_landmarks(
    landmarks: np.ndarray,
    emotion: str,
    strength: float = 1.0,
    *,
    rigid_eyes: bool = False,
    mouth_field: np.ndarray | None = None,
) -> np.ndarray:
    """Where the 68 landmarks go for ``emotion`` at ``strength`` (image coordinates).

    Parameters
    ----------
    landmarks : numpy.ndarray
        (68, 2) source landmarks in image pixels.
    emotion : str
        Any accepted emotion name (see :data:`~s2e_lib.edit.warp.recipes.RECIPES`).
    strength : float
        0 … 1.5; displacements scale with :func:`~s2e_lib.edit.warp.recipes.saturate`
        (the mouth relaxation with ``min(strength, 1)``).
    rigid_eyes : bool
        The face wears glasses, whose frames must not bend: lids (inside the lenses) and
        brows move half as far, and a lowered brow stops above the frame's top rim.
    mouth_field : numpy.ndarray, optional
        (20, 2) displacement of the mouth points 48–67 at strength 1 (face frame), used
        instead of the recipe's mouth when the photo's mouth is closed: a measured real
        smile (:attr:`~s2e_lib.edit.warp.exemplars.ExemplarLibrary.smile_field`) that parts
        the lips over the upper teeth.
    """
    emotion = _emotion(emotion)
    strength = _strength(strength)
    frame = FaceFrame.from_landmarks(landmarks)
    pts = frame.to_face(landmarks)
    recipe = RECIPES[emotion]
    is_open = mouth_gap(landmarks) >= OPEN_MOUTH
    closing = (
        recipe.relax_mouth and recipe.keep_open < 1 and not recipe.bares_teeth and toothy_smile(landmarks)
    )
    field = recipe_field(
        emotion, strength, mouth_open=is_open, without=PARTING_AUS if closing else frozenset()
    )
    if mouth_field is not None and not is_open:
        whole = np.zeros((68, 2))
        whole[48:68] = mouth_field
        field[48:68] = within_anatomy(whole)[48:68] * saturate(strength)
    if recipe.relax_mouth:
        keep = recipe.keep_open if is_open and not closing else 0.0
        pts = relax_mouth(pts, weight=min(1.0, strength), keep_open=keep)
    else:
        # a mouth already smiling / open has less room to go: scale the mouth's displacement down
        field[48:68] *= float(np.clip(1.0 - max(0.0, smile_lift(pts)) / 0.25, 0.3, 1.0))
    rest = frame.to_face(landmarks)
    field[48:68] = follow_mouth_axis(field[48:68], rest)
    if rigid_eyes:  # lids move inside the lenses, less; brows less
        field[36:48] *= 0.5
        field[17:27] *= 0.5
    closure = min(MAX_LID_CLOSURE_INTENSE, MAX_LID_CLOSURE * saturate(strength))
    pts = limit_lid_closure(pts + field, rest, closure)
    pts = limit_lid_raise(keep_brows_above_eyes(pts, rest), rest)
    if rigid_eyes:  # a lowered brow stops above the frame's top rim
        for brow, eye in ((range(17, 22), slice(36, 42)), (range(22, 27), slice(42, 48))):
            rim = rest[eye, 1].mean() + LENS_DROP - LENS_HALF_HEIGHT - 0.05
            for i in brow:
                pts[i, 1] = min(pts[i, 1], max(rest[i, 1], rim))
    return frame.to_image(pts)


def follow_mouth_axis(mouth_field: np.ndarray, rest: np.ndarray) -> np.ndarray:
    """The mouth's displacement (20, 2), turned to the mouth's own axis and foreshortened per side.

    The recipes are written for a frontal mouth parallel to the eye line. A mouth tilted
    against the eyes gets the displacement rotated onto its corner-to-corner axis, and on
    a turned head the far half of the mouth (narrower in the photo) moves sideways less,
    so a smile lifts both corners alike along the face's axis instead of into a smirk.
    """
    axis = rest[54] - rest[48]
    angle = float(np.clip(np.arctan2(axis[1], axis[0]), -0.35, 0.35))
    c, s = np.cos(angle), np.sin(angle)
    turned = mouth_field @ np.array([[c, s], [-s, c]])
    centre = rest[[51, 57, 62, 66]].mean(0)
    half = np.array([centre[0] - rest[48, 0], rest[54, 0] - centre[0]])
    if half.min() > 0:
        ratio = np.clip(half / half.mean(), 0.75, 1.25)
        side = np.where(rest[48:68, 0] < centre[0], ratio[0], ratio[1])
        turned[:, 0] *= side
    return turned


#: Lids close an eye by at most this share of its resting opening at strength 1, and by
#: at most ``MAX_LID_CLOSURE_INTENSE`` at any strength. The recipes' lid moves are written
#: in inter-ocular distances, but resting openings differ twofold between faces (0.08 IOD
#: for narrow or smiling eyes, 0.15 for wide ones): the same droop that narrows a wide eye
#: to 45 % closed a narrow one and crossed its lids at 1.5.
MAX_LID_CLOSURE, MAX_LID_CLOSURE_INTENSE = 0.6, 0.7
#: Upper and lower lid landmarks facing each other (iBUG 68-point markup).
LID_PAIRS = ((37, 41), (38, 40), (43, 47), (44, 46))


def limit_lid_closure(pts: np.ndarray, rest: np.ndarray, share: float = MAX_LID_CLOSURE) -> np.ndarray:
    """Cap how far each eye narrows: per lid pair, at most ``share`` of its resting opening.

    Only the closing parts of the moves count (upper lid down, lower lid up), and both are
    scaled by the same factor, so a squint keeps its mix of lowered and raised lid (face
    coordinates, IOD units).
    """
    pts = pts.copy()
    for i, j in LID_PAIRS:
        opening = max(0.0, float(rest[j, 1] - rest[i, 1]))  # a closed eye cannot close further
        down = max(0.0, float(pts[i, 1] - rest[i, 1]))
        up = max(0.0, float(rest[j, 1] - pts[j, 1]))
        if down + up <= share * opening:
            continue
        keep = share * opening / (down + up)
        if down > 0:
            pts[i, 1] = rest[i, 1] + keep * down
        if up > 0:
            pts[j, 1] = rest[j, 1] - keep * up
    return pts


#: An upper lid rises by at most this share of its eye's resting opening (AU5 on a
#: narrow eye would otherwise more than double it: "bug eyes").
MAX_LID_RAISE = 0.35


def limit_lid_raise(pts: np.ndarray, rest: np.ndarray, share: float = MAX_LID_RAISE) -> np.ndarray:
    """Cap each upper lid's rise at ``share`` of the eye's resting opening (face coordinates)."""
    pts = pts.copy()
    for upper, lower in (([37, 38], [41, 40]), ([43, 44], [47, 46])):
        opening = float(np.mean(rest[lower, 1] - rest[upper, 1]))
        for i in upper:
            pts[i, 1] = max(pts[i, 1], rest[i, 1] - share * max(opening, 0.0))
    return pts


def eye_widths(landmarks: np.ndarray) -> np.ndarray:
    """(2,) corner-to-corner widths of the right and left eye (image pixels)."""
    landmarks = np.asarray(landmarks, np.float64)
    return np.array(
        [np.linalg.norm(landmarks[39] - landmarks[36]), np.linalg.norm(landmarks[45] - landmarks[42])]
    )


#: Eye-width ratios (narrower / wider eye) between which a turned head's ratio images fade
#: out: FRL London's frontal photos ≥ 0.95; a three-quarter view 0.57.
TURNED_HEAD = (0.6, 0.85)


def frontal_share(landmarks: np.ndarray) -> float:
    """1 for a face seen from the front, falling to 0 as the head turns (:data:`TURNED_HEAD`).

    The smile library's ratio images were taken from the front: on a head turned away,
    their creases are squeezed into the far half of the face and drawn as thin lines along
    the nose's profile.
    """
    widths = eye_widths(landmarks)
    ratio = float(widths.min() / max(widths.max(), 1e-6))
    lo, hi = TURNED_HEAD
    return float(np.clip((ratio - lo) / (hi - lo), 0.0, 1.0))


def keep_upper_lids(source: np.ndarray, target: np.ndarray, names: list[str]) -> np.ndarray:
    """``target`` with the upper lids of the named eyes (``"right eye"``, ``"left eye"``) not
    risen above ``source`` (image pixels; a lid may still lower, or move with the face)."""
    target = np.array(target, np.float64)
    source = np.asarray(source, np.float64)
    frame = FaceFrame.from_landmarks(source)
    for name in names:
        for i in {"right eye": (37, 38), "left eye": (43, 44)}[name]:
            rise = float((source[i] - target[i]) @ frame.ey)
            if rise > 0:
                target[i] = target[i] + rise * frame.ey
    return target


def keep_brows_above_eyes(
    pts: np.ndarray, rest: np.ndarray, share: float = 0.45, floor: float = 0.06
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
