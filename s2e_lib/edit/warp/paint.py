"""Appearance: a dark gap between parted lips, closed lips, covered teeth, an uncovered eye.

Nothing here draws teeth: parted lips show a real mouth from the exemplar library
(:mod:`s2e_lib.edit.warp.exemplars`) or, without it, a dark interior, and a mouth that was
open in the photo keeps its own teeth (warped with the lips). Every synthesized pixel gets
the photo's grain and blur (:mod:`s2e_lib.edit.warp.photo`).
"""

from __future__ import annotations

import numpy as np

from s2e_lib.edit.warp.geometry import _poly_mask, smooth_closed
from s2e_lib.edit.warp.landmarks import FaceFrame
from s2e_lib.edit.warp.photo import LUMA

#: Uncovered eye white is at least this times the cheeks' luminance (eyes in shade still
#: show white), and darkened by this much right under the lid (its shadow and lashes).
SCLERA_MIN_LUMA, SCLERA_LID_SHADE = 1.05, 0.15
#: Radius of an iris in inter-ocular distances (11.7 mm of a 62 mm adult distance).
IRIS_RADIUS = 0.094
#: How much the lash line drawn along a raised upper lid darkens the pixels under it.
LASH_LINE_DARKENING = 0.3


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


def _smoothstep(x):
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def _lip_curves(inner: np.ndarray, frame: FaceFrame):
    """The inner upper and lower lip lines (corner to corner) as y(x) in the face frame, sorted by x."""
    contour = frame.to_face(smooth_closed(inner))  # 6 points a segment: 0 = corner 60, 24 = corner 64
    upper = contour[:25]
    lower = np.vstack([contour[24:], contour[:1]])
    return upper[np.argsort(upper[:, 0])], lower[np.argsort(lower[:, 0])]


def _interior_colour(rgb_src: np.ndarray, src: np.ndarray, skin: np.ndarray) -> np.ndarray:
    """The colour of the inside of this photo's mouth: the darkest pixels along its lip line
    (or inside its opening), no brighter than 15 % of the skin; carries the photo's cast."""
    pts = src[60:68]
    x0, y0 = np.maximum(np.floor(pts.min(0) - 1).astype(int), 0)
    x1, y1 = np.ceil(pts.max(0) + 2).astype(int)
    patch = rgb_src[y0:y1, x0:x1].reshape(-1, 3).astype(np.float32)
    skin = np.asarray(skin, np.float32)
    if len(patch) < 4:
        return skin * 0.2
    luma = patch @ LUMA
    dark = np.median(patch[luma <= np.percentile(luma, 10)], axis=0)
    # a mouth's inside is a shadow of the skin's hue: keep the darkest pixels' cast, cap their level
    cap = 0.15 * float(skin.mean())
    return dark * min(1.0, cap / max(float(dark.mean()), 1.0))


#: Each lip's edges from corner to corner (dlib's 68 points): outer edge, inner edge.
LIP_EDGES = {
    "upper": ((48, 49, 50, 51, 52, 53, 54), (48, 61, 62, 63, 54)),
    "lower": ((48, 59, 58, 57, 56, 55, 54), (48, 67, 66, 65, 54)),
}
#: Share of a lip's thickness, from its inner edge, that is drawn again in full by
#: :func:`resample_lips`; from there to the outer edge it fades back to the warp.
LIP_RESAMPLED_FULLY = 0.6
#: Share of a closed lip's thickness, from the lip line, that :func:`resample_lips` skips:
#: the dark crease where the lips meet, which on a parted lip would read as a drawn outline.
LIP_LINE_CREASE = 0.12


def _edge_curve(face_pts: np.ndarray, x: np.ndarray) -> np.ndarray:
    """y at ``x`` along a lip edge given corner to corner (face frame; x made non-decreasing)."""
    xs = np.maximum.accumulate(face_pts[:, 0])
    return np.interp(x, xs, face_pts[:, 1])


def resample_lips(img, rgb_src, src, dst, origin, lips=("upper", "lower")):
    """Each lip drawn again from the photo's own lip, point for point in lip coordinates.

    Where a closed mouth parts, the smooth warp (a spline evaluated on a grid) draws the new
    opening out of the few pixels along the photo's lip line, and that stretch leaks a grid cell
    into the lips: a lip's fine vertical lines become streaks across it (seen at 2x on
    happy, angry and fear). Here every pixel of a target lip takes the photo's pixel at the same
    place *in the lip*: ``along`` the share of the way from corner to corner, ``across`` the
    share of the way from the lip's inner edge to its outer edge. A lip is thinned or widened
    as a whole, and its gloss and lines keep their shape.

    The resampled lip replaces the warp's over the inner :data:`LIP_RESAMPLED_FULLY` of its
    thickness and fades out towards the outer edge, where the warp is exact (the edge's points
    are its control points). The opening itself is left to the mouth interior.

    Parameters
    ----------
    img : numpy.ndarray
        Float32 RGB window of the warped photo whose top-left pixel is ``origin``.
    rgb_src : numpy.ndarray
        The photo before the warp (full size).
    src, dst : numpy.ndarray
        (68, 2) landmarks before and after the warp (full-size pixels).
    origin : array-like
        (x, y) of the window in the full photo.
    lips : tuple of str
        Which lips (``"upper"``, ``"lower"``).
    """
    import cv2

    frame = FaceFrame.from_landmarks(src)  # one coordinate frame for both faces
    origin = np.asarray(origin, np.float64)
    out = img
    for lip in lips:
        outer, inner = (list(e) for e in LIP_EDGES[lip])
        pts = dst[outer + inner] - origin
        x0, y0 = np.maximum(np.floor(pts.min(0)).astype(int) - 2, 0)
        x1, y1 = np.minimum(np.ceil(pts.max(0)).astype(int) + 3, (img.shape[1], img.shape[0]))
        if x1 - x0 < 3 or y1 - y0 < 3:
            continue
        ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float64)
        f = frame.to_face(np.stack([xs, ys], -1) + origin)
        fx, fy = f[..., 0], f[..., 1]
        t_out, t_in = frame.to_face(dst[outer]), frame.to_face(dst[inner])
        s_out, s_in = frame.to_face(src[outer]), frame.to_face(src[inner])
        left, right = t_out[0, 0], t_out[-1, 0]
        if right - left < 1e-6:
            continue
        along = (fx - left) / (right - left)
        y_in, y_out = _edge_curve(t_in, fx), _edge_curve(t_out, fx)
        thick = y_out - y_in  # signed: the upper lip's outer edge lies above its inner edge
        ok = np.abs(thick) > 1e-6
        across = np.where(ok, (fy - y_in) / np.where(ok, thick, 1.0), -1.0)
        sx = s_out[0, 0] + np.clip(along, 0, 1) * (s_out[-1, 0] - s_out[0, 0])
        sy_in, sy_out = _edge_curve(s_in, sx), _edge_curve(s_out, sx)
        sy = sy_in + (LIP_LINE_CREASE + (1 - LIP_LINE_CREASE) * np.clip(across, 0, 1)) * (sy_out - sy_in)
        back = frame.to_image(np.stack([sx, sy], -1)).astype(np.float32)
        drawn = cv2.remap(
            rgb_src, back[..., 0], back[..., 1], interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
        ).astype(np.float32)
        px = np.abs(thick) * frame.iod  # the lip's thickness here, in pixels
        weight = (
            np.clip(across * px + 0.5, 0, 1)  # one antialiased pixel at the inner edge
            * (1.0 - _smoothstep((across - LIP_RESAMPLED_FULLY) / (1.0 - LIP_RESAMPLED_FULLY)))
            * _smoothstep(px / 3.0)  # nothing to draw where the lip thins to its corner
            * ((along > 0) & (along < 1))
        )[..., None].astype(np.float32)
        window = out[y0:y1, x0:x1]
        out[y0:y1, x0:x1] = window + weight * (drawn - window)
    return out


def _paint_gap(img, dst, src_mask_warped, rgb_src, src, skin, iod, origin, stats):
    """Where the lips parted beyond the photo's own opening, show the dark inside of a mouth.

    No teeth are drawn (a closed mouth in the photo gives no evidence of them): the gap is
    the photo's own darkest lip-line colour, darkest in the middle of the gap and in the
    corners, a little lighter just under the upper lip's edge (light grazing the upper
    teeth, deep in shadow), laid out in lip coordinates so it follows the lips' curve.
    Composited with the photo's grain and blur (:func:`~s2e_lib.edit.warp.photo.composite`).
    """
    import cv2

    from s2e_lib.edit.warp.photo import composite

    inner = dst[60:68] - origin
    gap = float(np.linalg.norm(inner[6] - inner[2]))  # 66 - 62
    if gap < 0.02 * iod:
        return img
    shape = img.shape[:2]
    frame = FaceFrame.from_landmarks(dst - origin)
    poly = _poly_mask(shape, smooth_closed(inner), blur=0.01 * iod)
    cavity = poly * (1.0 - src_mask_warped)
    if src_mask_warped.max() > 0.05:  # the mouth was open: ignore slivers along its old edge
        k = max(3, int(0.04 * iod) | 1)
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
    au = np.clip(np.abs(fx - cx) / half, 0, 1)
    y_top = np.interp(fx, upper[:, 0], upper[:, 1]).astype(np.float32)
    y_bot = np.interp(fx, lower[:, 0], lower[:, 1]).astype(np.float32)
    v = np.clip((fy - y_top) / np.maximum(y_bot - y_top, 1e-3), 0, 1)
    base = _interior_colour(rgb_src, src, skin)
    # darkest in the middle of the gap and in the corners; the lips' inner edges catch a little light
    shade = (1.0 - 0.3 * np.abs(2 * v - 1) ** 2) * (1.0 - 0.4 * au**2)
    shade += 0.6 * np.exp(-0.5 * (v / 0.15) ** 2) * (1 - au)  # just under the upper lip
    synth = base[None, None, :] * shade[..., None]
    return composite(img, synth, np.clip(cavity, 0, 1), stats, seed=1)


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


def _close_lips(img, dst, src, rgb_src, iod, origin, stats):
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
    # the photo's own fine texture (lip lines, pores) rides on the painted lips
    import cv2

    detail = img - cv2.GaussianBlur(img, (0, 0), max(1.0, 0.03 * iod))
    lip = colour[None, None, :] * shade[..., None] + detail
    # a little of the photo's texture shows through; grain and blur as the photo's
    from s2e_lib.edit.warp.photo import composite

    return composite(img, lip, 0.85 * mask, stats, seed=2)


def _cover_teeth(img, dst, src_mouth_warped, rgb_src, src, iod, origin, stats):
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
    from s2e_lib.edit.warp.photo import match_photo

    a = stray[..., None]
    return img * (1 - a) + match_photo(np.broadcast_to(colour, img.shape), stats, seed=3) * a


def iris_circle(rgb: np.ndarray, eye: np.ndarray, iod: float) -> tuple[np.ndarray, float] | None:
    """Centre (x, y) and radius of an eye's iris, from the darkness inside its six landmarks.

    The centre is the darkness-weighted centroid of the eye's pixels (iris and pupil are the
    darkest part of an open eye), the radius a typical iris's, 0.094 inter-ocular distances
    (11.7 mm over 62 mm), at most the eye's half height plus its lid cover. None when the eye
    shows too few pixels or no dark part (closed, hidden).
    """
    eye = np.asarray(eye, np.float64)
    x0, y0 = np.maximum(np.floor(eye.min(0)).astype(int), 0)
    x1, y1 = np.ceil(eye.max(0)).astype(int) + 1
    patch = np.asarray(rgb[y0:y1, x0:x1], np.float32)
    if patch.size == 0:
        return None
    inside = _poly_mask(patch.shape[:2], eye - (x0, y0)) > 0.5
    if inside.sum() < 12:
        return None
    luma = patch @ LUMA
    values = luma[inside]
    dark = np.clip(np.percentile(values, 60) - luma, 0, None) * inside
    if dark.sum() <= 0 or np.percentile(values, 90) - np.percentile(values, 10) < 15:
        return None
    ys, xs = np.mgrid[0 : patch.shape[0], 0 : patch.shape[1]]
    centre = np.array([(xs * dark).sum(), (ys * dark).sum()]) / dark.sum() + (x0, y0)
    return centre, IRIS_RADIUS * iod


def _uncovered_iris(rgb_src, src_eye, shift, iod, origin, shape):
    """(alpha, pixels) of the iris's arc a raised lid uncovers: the eye moves rigidly by
    ``shift``; inside the iris circle the pixels are the iris's own lower half mirrored
    about its centre (an iris is close to radially symmetric), outside it alpha is 0."""
    import cv2

    found = iris_circle(rgb_src, src_eye, iod)
    if found is None:
        return None, None
    centre, radius = found
    ys, xs = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float32)
    tx, ty = xs + np.float32(origin[0]), ys + np.float32(origin[1])  # target image coordinates
    sx, sy = tx - np.float32(shift[0]), ty - np.float32(shift[1])  # where that point was
    r = np.hypot(sx - centre[0], sy - centre[1])
    alpha = np.clip(radius - r + 0.5, 0, 1).astype(np.float32)
    alpha *= (sy < centre[1]).astype(np.float32)  # only the upper arc is ever uncovered
    mirrored_y = np.float32(2 * centre[1]) - sy
    src_f = np.asarray(rgb_src, np.float32)
    pixels = cv2.remap(src_f, sx, mirrored_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    # where the mirror image falls outside the visible eye (the lower lid covers the iris's
    # bottom too) the iris's own median colour stands in
    eye = np.asarray(src_eye, np.float64)
    x0, y0 = np.maximum(np.floor(eye.min(0)).astype(int) - 1, 0)
    x1, y1 = np.ceil(eye.max(0)).astype(int) + 2
    visible = np.zeros(src_f.shape[:2], np.float32)
    visible[y0:y1, x0:x1] = _poly_mask((y1 - y0, x1 - x0), eye - (x0, y0))
    seen = cv2.remap(visible, sx, mirrored_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    gy, gx = np.mgrid[y0:y1, x0:x1]
    own = (visible[y0:y1, x0:x1] > 0.5) & (np.hypot(gx - centre[0], gy - centre[1]) < radius)
    if own.sum() < 4:
        return None, None
    median = np.median(src_f[y0:y1, x0:x1][own], axis=0)
    seen = np.clip(seen, 0, 1)[..., None]
    return alpha, pixels * seen + median * (1 - seen)


def _paint_sclera(img, dst, src_eye_warped, rgb_src, src, iod, origin, stats):
    """Fill eye area uncovered by a raised lid: the iris's own hidden arc (mirrored from its
    lower half, :func:`_uncovered_iris`) and, around it, the colour of the eye's own sclera."""
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
        # (feathered across the line: a hard edge there drew a seam in the eye white at 2x)
        side = ((xs - c0[0]) * normal[0] + (ys - c0[1]) * normal[1]) / max(float(np.hypot(*normal)), 1e-6)
        upper = np.clip(0.5 + side / max(1.0, 0.03 * iod), 0, 1).astype(np.float32)
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
        luma = patch @ LUMA
        bright = patch[luma >= np.percentile(luma, 90)]
        sclera = np.median(bright, axis=0)
        # keep whites white even when the photo's eyes are in shade
        skin_luma = float(_skin_tone(rgb_src, src) @ LUMA)
        floor = min(235.0, SCLERA_MIN_LUMA * skin_luma)
        sclera_luma = float(sclera @ LUMA)
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
        shade = (1.0 - SCLERA_LID_SHADE * (1.0 - below)) * (1.0 - 0.15 * across**2)
        from s2e_lib.edit.warp.photo import match_photo

        a = np.clip(new, 0, 1)[..., None]
        fill = match_photo(sclera * shade[..., None], stats, seed=4)
        corners = [sl.start, sl.start + 3]
        shift = (dst[corners] - src[corners]).mean(0)
        iris_a, iris_px = _uncovered_iris(rgb_src, src[sl], shift, iod, origin, shape)
        if iris_a is not None:  # the iris's own arc where it was under the lid, shaded like the white
            b = iris_a[..., None]
            fill = fill * (1 - b) + iris_px * (1.0 - SCLERA_LID_SHADE * (1.0 - below))[..., None] * b
        img = img * (1 - a) + fill * a
        opened = (opened or []) + [lid]
    if opened:  # the raised lid carries its lashes: a dark line along the new upper lid
        import cv2

        line = np.zeros(shape, np.float32)
        thickness = max(1, int(round(0.02 * iod)))
        for upper in opened:
            # on the lid's margin, not over the white: shifted up by half the line's width
            pts = np.round((upper - (0.0, 0.5 * thickness)) * 4).astype(np.int32)
            cv2.polylines(line, [pts], False, 1.0, thickness=thickness, lineType=cv2.LINE_AA, shift=2)
        line = cv2.GaussianBlur(line, (0, 0), max(0.5, 0.01 * iod))
        img = img * (1.0 - LASH_LINE_DARKENING * np.clip(line, 0, 1))[..., None]
    return img
