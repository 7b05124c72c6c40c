"""Shading strokes (folds, furrows, wrinkles): faint, widely feathered luminance shadows whose depth
is limited by the skin's own texture (no painted bars)."""

from __future__ import annotations

import numpy as np

from s2e_lib.edit.warp.geometry import _curve
from s2e_lib.edit.warp.landmarks import FaceFrame
from s2e_lib.edit.warp.photo import LUMA

#: Deepest darkening any shading may apply (where the skin's own texture allows it).
MAX_DARKENING = 0.15
#: Folds the expression itself forms (the nasolabial furrow of a smile, the bunching between
#: lowered brows, the chin boss) appear on smooth young skin too: their darkening is not
#: capped by the skin's texture, only by this.
FOLD_DARKENING = 0.10
#: A shadow on skin is redder than the lit skin (light scattered under the skin returns
#: reddened): per-channel exponents of the darkening factor (R, G, B).
SHADOW_TINT = np.array([0.8, 1.0, 1.15], np.float32)


def _shading_gain(skin: np.ndarray) -> float:
    """Folds and furrows deepen more on dark skin: a multiplicative shadow there changes few
    grey levels, while on a real face the fold's shadow contrasts with its lit rim."""
    luma = float(np.asarray(skin, np.float64) @ LUMA)
    return float(np.clip(150.0 / max(luma, 1.0), 1.0, 1.6))


def _strokes(recipe_appearance: dict, tf: np.ndarray, strength: float):
    """Shading strokes in face coordinates: lists of (polyline (N,2), weight, thickness, kind)."""
    strokes = []
    look = {k: v * strength for k, v in recipe_appearance.items()}
    for sign, (nose_wing, corner, eye_out) in (
        (1, (31, 48, 36)),
        (-1, (35, 54, 45)),
    ):
        if look.get("nasolabial"):
            a = tf[nose_wing] + (-0.05 * sign, -0.05)
            c = tf[corner] + (-0.08 * sign, 0.11)
            m = (a + c) / 2 + (-0.06 * sign, 0.0)
            strokes.append((_curve(np.array([a, m, c])), 0.4 * look["nasolabial"], 0.05, "fold"))
        if look.get("smile_corners"):
            c = tf[corner]
            hook = np.array([c + (0.01 * sign, 0.01), c + (-0.035 * sign, -0.02), c + (-0.05 * sign, -0.06)])
            strokes.append((hook, 0.4 * look["smile_corners"], 0.03, "fold"))
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
    mid_brow = (tf[21] + tf[22]) / 2
    if look.get("glabella"):
        # short, slightly bowed furrows between the brows (not ruled lines up the forehead)
        for dx in (-0.05, 0.05):
            a, c = mid_brow + (dx, 0.05), mid_brow + (dx * 1.25, -0.15)
            m = (a + c) / 2 + (dx * 0.25, 0.0)
            strokes.append((_curve(np.array([a, m, c]), 8), 0.32 * look["glabella"], 0.03, "fold"))
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
    if look.get("mentolabial"):
        c = tf[57] + (0.0, 0.07)
        arc = np.array([c + (-0.17, -0.03), c + (0.0, 0.02), c + (0.17, -0.03)])
        strokes.append((_curve(arc), 0.3 * look["mentolabial"], 0.05, "fold"))
    return strokes


def _shade(
    out: np.ndarray,
    strokes,
    frame: FaceFrame,
    origin: tuple[int, int],
    gain: float = 1.0,
    tint=SHADOW_TINT,
) -> np.ndarray:
    """Darken (multiply the luminance of) the skin along the strokes, faintly.

    The strokes are drawn, then feathered widely (a fold is a soft shadow, not a line).
    Wrinkles (kind ``dark``: forehead lines, crow's feet) are capped by the skin's own
    texture around each pixel: on smooth skin they can only be faint, on lined or shaded
    skin deeper (between 3 % and :data:`MAX_DARKENING`). Folds the expression forms
    (kind ``fold``) darken up to :data:`FOLD_DARKENING` on any skin. The shadow multiplies
    the photo's own pixels, slightly more in blue than in red (:data:`SHADOW_TINT`), as
    skin's shadows are warmer than its lit parts: equal scaling of the three channels
    read as a grey-green stain on warm skin, and a shadow of a chosen colour as a painted
    blotch. The editor passes the photo's own shading colour as ``tint``
    (:meth:`~s2e_lib.edit.warp.photo.PhotoStats.shadow_tint`, round 19).
    """
    import cv2

    full_shape = out.shape[:2]
    # shading is smooth: draw and blur it at most ~160 px per IOD, then upsample
    scale = min(1.0, 160.0 / frame.iod)
    shape = (max(1, round(full_shape[0] * scale)), max(1, round(full_shape[1] * scale)))
    dark = np.zeros(shape, np.float32)
    fold = np.zeros(shape, np.float32)
    fill = np.zeros(shape, np.float32)
    iod = frame.iod * scale
    for line, weight, thickness, kind in strokes:
        pts = (frame.to_image(line) - origin) * scale
        layer = np.zeros(shape, np.float32)
        if kind == "fill":
            cv2.fillPoly(
                layer, [np.round(pts * 4).astype(np.int32)], float(weight), lineType=cv2.LINE_AA, shift=2
            )
            np.maximum(fill, layer, out=fill)
            continue
        cv2.polylines(
            layer,
            [np.round(pts * 4).astype(np.int32)],
            False,
            float(weight),
            thickness=max(1, int(round(thickness * iod))),
            lineType=cv2.LINE_AA,
            shift=2,
        )
        target = fold if kind == "fold" else dark
        np.maximum(target, layer, out=target)
    if not dark.any() and not fold.any() and not fill.any():
        return out.astype(np.float32)
    dark = cv2.GaussianBlur(dark, (0, 0), max(1.0, 0.045 * iod))
    fold = cv2.GaussianBlur(fold, (0, 0), max(1.0, 0.045 * iod))
    if fill.any():  # a cast shadow: broad and soft
        dark = np.maximum(dark, cv2.GaussianBlur(fill, (0, 0), max(1.0, 0.07 * iod)))
    small = cv2.resize(out.astype(np.float32), (shape[1], shape[0]), interpolation=cv2.INTER_AREA)
    luma = small @ LUMA
    sigma = max(1.0, 0.08 * iod)
    mean = cv2.GaussianBlur(luma, (0, 0), sigma)
    std = np.sqrt(np.maximum(cv2.GaussianBlur(luma * luma, (0, 0), sigma) - mean * mean, 0))
    cap = np.clip(2.5 * std / np.maximum(mean, 1.0), 0.03, MAX_DARKENING)
    darkening = np.maximum(np.minimum(gain * 0.4 * dark, cap), np.minimum(gain * 0.4 * fold, FOLD_DARKENING))
    factor = 1.0 - darkening
    if scale < 1.0:
        factor = cv2.resize(factor, (full_shape[1], full_shape[0]), interpolation=cv2.INTER_LINEAR)
    return out.astype(np.float32) * factor[..., None] ** np.asarray(tint, np.float32)
