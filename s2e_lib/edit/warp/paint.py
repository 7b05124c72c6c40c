"""Appearance painting: mouth interior and teeth, closed lips, covered teeth, uncovered sclera."""

from __future__ import annotations

import numpy as np

from s2e_lib.edit.warp.geometry import _poly_mask, smooth_closed
from s2e_lib.edit.warp.landmarks import FaceFrame


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
