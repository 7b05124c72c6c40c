"""Thin-plate geometry: the spline, anchors, region of interest, backward map, eye override, curves."""

from __future__ import annotations

import numpy as np

from s2e_lib.edit.warp.landmarks import FaceFrame

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


def spline_map(
    ctrl_to: np.ndarray, ctrl_from: np.ndarray, x0: int, y0: int, w: int, h: int, step: int, scale: float
) -> tuple[np.ndarray, np.ndarray]:
    """Per pixel of the window (x0, y0, w, h): the point (x, y) it comes from.

    A thin-plate spline takes ``ctrl_to`` onto ``ctrl_from`` (fitted on the offsets, in units
    of ``1 / scale`` pixels); it is evaluated on a grid every ``step`` pixels and upsampled
    bilinearly.
    """
    import cv2

    ctrl_to = np.asarray(ctrl_to, np.float64) * scale
    ctrl_from = np.asarray(ctrl_from, np.float64) * scale
    model = tps_fit(ctrl_to, ctrl_from - ctrl_to, regularization=1e-4)
    gx = np.arange(x0, x0 + w + step, step, dtype=np.float64)
    gy = np.arange(y0, y0 + h + step, step, dtype=np.float64)
    grid = np.stack(np.meshgrid(gx, gy), -1).reshape(-1, 2)
    offset = (tps_apply(model, grid * scale) / scale).reshape(len(gy), len(gx), 2).astype(np.float32)
    # upsample the coarse offsets: grid node k sits at pixel k*step of the window
    big = cv2.resize(offset, (len(gx) * step, len(gy) * step), interpolation=cv2.INTER_LINEAR)
    shift = (step - 1) / 2.0
    m = np.float32([[1, 0, shift], [0, 1, shift]])
    big = cv2.warpAffine(big, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    xs, ys = np.meshgrid(np.arange(x0, x0 + w, dtype=np.float32), np.arange(y0, y0 + h, dtype=np.float32))
    return xs + big[..., 0], ys + big[..., 1]


def backward_map(
    src: np.ndarray, dst: np.ndarray, anchors: np.ndarray, roi, iod: float, step: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per output pixel of the ROI, the source pixel (x, y) maps, from a TPS dst → src."""
    x0, y0, x1, y1 = roi
    return spline_map(
        np.vstack([dst, anchors]), np.vstack([src, anchors]), x0, y0, x1 - x0, y1 - y0, step, 1.0 / iod
    )


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


#: Share of a widened eye's extra opening filled by stretching the eye's own pixels. 0: an
#: eyeball does not stretch when the lid rises, so the iris keeps its size and roundness
#: (round 9: 0.5 enlarged the iris of unseen faces by up to 1.25× — "doll eyes"); the
#: uncovered band is the iris's own hidden arc and eye white (paint._paint_sclera).
EYE_STRETCH_SHARE = 0.0
#: Largest vertical stretch of an eye's own pixels.
EYE_STRETCH_MAX = 1.25


def _eye_override(map_x, map_y, src, dst, roi, iod):
    """Inside each target eye, replace the warp by a rigid shift (the eyeball does not stretch),
    or, where the upper lid rose, by a moderate vertical stretch from the lower lid
    (:data:`EYE_STRETCH_SHARE`), so a widened eye shows its own white, not only a painted one."""
    origin = np.array(roi[:2], np.float64)
    for sl, corners, upper, lower in (
        (slice(36, 42), [36, 39], [37, 38], [40, 41]),
        (slice(42, 48), [42, 45], [43, 44], [46, 47]),
    ):
        sy, sx, o = _window(dst[sl], origin, iod, map_x.shape)
        shape = (sy.stop - sy.start, sx.stop - sx.start)
        if min(shape) <= 0:
            continue
        poly = dst[sl] - o
        centre = poly.mean(0)
        mask = _poly_mask(shape, centre + (poly - centre) * 1.05, blur=0.01 * iod)
        shift = (dst[corners] - src[corners]).mean(0)
        axis = src[corners[1]] - src[corners[0]]
        ex = axis / max(float(np.linalg.norm(axis)), 1e-6)
        ey = np.array([-ex[1], ex[0]])
        open_src = float((src[lower].mean(0) - src[upper].mean(0)) @ ey)
        open_dst = float((dst[lower].mean(0) - dst[upper].mean(0)) @ ey)
        stretch = 1.0
        if open_src > 0.02 * iod and open_dst > open_src:
            stretch = min(EYE_STRETCH_MAX, 1.0 + EYE_STRETCH_SHARE * (open_dst / open_src - 1.0))
        xs, ys = np.meshgrid(
            np.arange(shape[1], dtype=np.float32) + np.float32(o[0] - shift[0]),
            np.arange(shape[0], dtype=np.float32) + np.float32(o[1] - shift[1]),
        )
        if stretch > 1.0:  # pull rows above the (shifted) lower lid towards it
            base = dst[lower].mean(0) - shift
            h = (xs - base[0]) * ey[0] + (ys - base[1]) * ey[1]
            squeeze = np.float32(1.0 / stretch - 1.0) * np.minimum(h, 0.0)
            xs, ys = xs + squeeze * np.float32(ey[0]), ys + squeeze * np.float32(ey[1])
        map_x[sy, sx] = mask * xs + (1 - mask) * map_x[sy, sx]
        map_y[sy, sx] = mask * ys + (1 - mask) * map_y[sy, sx]
        _keep_eye_inside(map_x, map_y, src, dst, sl, upper, lower, ey, sy, sx, o, iod)
        _slide_lowered_lid(map_x, map_y, src, dst, sl, ey, sy, sx, o, iod)
    return map_x, map_y


#: Height (IOD) above a lowered upper lid over which the lid's own slide hands over to the spline.
LID_SLIDE_BAND = 0.15
#: Height (IOD) above the lid margin that slides unstretched: the lashes.
LASH_ZONE = 0.05


def _upper_arc(points: np.ndarray, centre: np.ndarray, ex: np.ndarray, ey: np.ndarray, u: np.ndarray):
    """The upper lid's curve (corner, lids, corner of a 6-point eye) as v(u) in a frame at ``centre``."""
    arc = smooth_closed(points)[: 3 * 6 + 1] - centre
    au, av = arc @ ex, arc @ ey
    order = np.argsort(au)
    return np.interp(u, au[order], av[order]).astype(np.float32)


def _slide_lowered_lid(map_x, map_y, src, dst, sl, ey, sy, sx, o, iod) -> None:
    """A lowered upper lid slides down over the eye, lashes and all (in place).

    A pixel on the target lid shows the source lid (its lash line), so the lid covers the
    iris, which stays where it was; the lid margin and lashes (:data:`LASH_ZONE`) slide
    unstretched, and the skin above them is stretched evenly up to :data:`LID_SLIDE_BAND`
    above the lid, where the spline's map takes over, continuously. Before
    (round 16) only the pixels that would have sampled the eye took a slide, blended with the
    spline's map elsewhere: at 2x, sad's lids showed a second, ghost lash line near the inner
    corner and a catchlight smeared along the new lid on unseen portraits.
    """
    import cv2

    shape = map_x[sy, sx].shape
    if min(shape) <= 0:
        return
    ex = np.array([ey[1], -ey[0]])
    centre = dst[sl].mean(0)
    ys, xs = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float32)
    xs, ys = xs + np.float32(o[0]), ys + np.float32(o[1])
    u = (xs - centre[0]) * ex[0] + (ys - centre[1]) * ex[1]
    v = (xs - centre[0]) * ey[0] + (ys - centre[1]) * ey[1]
    arc_dst, arc_src = _upper_arc(dst[sl], centre, ex, ey, u), _upper_arc(src[sl], centre, ex, ey, u)
    drop = arc_dst - arc_src  # > 0 where the lid came down
    if float(drop.max()) < 0.01 * iod:
        return
    band = np.float32(LID_SLIDE_BAND * iod)
    h = arc_dst - v  # height above the target lid
    corners = (dst[[sl.start, sl.start + 3]] - centre) @ ex
    within = (u >= corners.min()) & (u <= corners.max())
    weight = np.where((h >= 0) & (h <= band) & within, 1.0, 0.0).astype(np.float32)
    weight *= np.clip(drop / np.float32(0.01 * iod), 0, 1)
    if float(weight.max()) <= 0:
        return
    weight = cv2.GaussianBlur(weight, (0, 0), max(0.5, 0.004 * iod))  # no stair-step at the band's edge

    def at(vv):  # image point (u, vv) of the eye's frame
        return (
            np.float32(centre[0]) + u * np.float32(ex[0]) + vv * np.float32(ey[0]),
            np.float32(centre[1]) + u * np.float32(ex[1]) + vv * np.float32(ey[1]),
        )

    lashes = np.float32(LASH_ZONE * iod)
    lid_x, lid_y = at(arc_src - np.minimum(h, lashes))  # lid margin and lashes slide unstretched
    top_x, top_y = at(arc_dst - band)  # where the band ends: the spline's map takes over there
    wx, wy = map_x[sy, sx].copy(), map_y[sy, sx].copy()
    px, py = (top_x - np.float32(o[0])).astype(np.float32), (top_y - np.float32(o[1])).astype(np.float32)
    tx = cv2.remap(wx, px, py, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    ty = cv2.remap(wy, px, py, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    t = np.clip((h - lashes) / (band - lashes), 0, 1)  # the skin above them stretches evenly
    fx = lid_x + t * (tx - lid_x)
    fy = lid_y + t * (ty - lid_y)
    map_x[sy, sx] = weight * fx + (1 - weight) * wx
    map_y[sy, sx] = weight * fy + (1 - weight) * wy


def _keep_eye_inside(map_x, map_y, src, dst, sl, upper, lower, ey, sy, sx, o, iod) -> None:
    """Skin outside the target eye never shows the eye's contents.

    Where a lid moves down a lot (sadness's droop), the spline between the lowered upper lid
    and the fixed lower lid overshoots, and skin around the eye sampled the source iris: a
    split iris, a second piece of it under the lower lid. Such pixels take the motion of the
    lid on their side instead (the lid slides, lashes and all), in place, where the map landed
    inside the source eye (``map_x``/``map_y`` are changed in place).
    """
    import cv2

    shape = map_x[sy, sx].shape
    # dlib's lower lid often sits above the visible eye's lower edge: the outline is grown
    # downwards (there the replacement is the lower lid's small motion, harmless on skin)
    src_eye = _poly_mask(shape, smooth_closed(src[sl]) - o)  # round lids, not dlib's chords
    k = max(3, int(0.08 * iod) | 1)
    grown = cv2.dilate(src_eye, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    gy, gx = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float32)
    mid = src[sl].mean(0) - o
    below_src = ((gx - mid[0]) * ey[0] + (gy - mid[1]) * ey[1]) > 0
    src_eye = np.where(below_src, grown, src_eye).astype(np.float32)
    lands = cv2.remap(
        src_eye,
        map_x[sy, sx] - np.float32(o[0]),
        map_y[sy, sx] - np.float32(o[1]),
        cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0,
    )
    target = _poly_mask(shape, dst[sl] - o, blur=0.006 * iod)
    bad = np.clip(lands - target, 0, 1)
    if bad.max() < 0.05:
        return
    bad = cv2.GaussianBlur(bad, (0, 0), max(0.5, 0.01 * iod))
    ys, xs = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float32)
    xs, ys = xs + np.float32(o[0]), ys + np.float32(o[1])
    centre = dst[sl].mean(0)
    ex = np.array([ey[1], -ey[0]])
    u = (xs - centre[0]) * ex[0] + (ys - centre[1]) * ex[1]
    above = ((xs - centre[0]) * ey[0] + (ys - centre[1]) * ey[1]) < 0
    corners = [sl.start, sl.start + 3]

    def along(points):  # each lid's displacement, interpolated from corner to corner along the eye
        idx = [corners[0], *points, corners[1]]
        pu = (dst[idx] - centre) @ ex
        order = np.argsort(pu)
        d = dst[idx] - src[idx]
        return [np.interp(u, pu[order], d[order, k]).astype(np.float32) for k in (0, 1)]

    (lx, ly) = along(lower)

    # above the eye the lid slides on its own curve: a pixel h above the target lid shows what
    # was h above the source lid (dlib's straight chords cut into a round lid: a straight
    # displacement sampled eye white there, a light wedge at the inner corner)
    v = (xs - centre[0]) * ey[0] + (ys - centre[1]) * ey[1]
    v_src = _upper_arc(src[sl], centre, ex, ey, u) - (_upper_arc(dst[sl], centre, ex, ey, u) - v)
    ax = np.float32(centre[0]) + u * np.float32(ex[0]) + v_src * np.float32(ey[0])
    ay = np.float32(centre[1]) + u * np.float32(ex[1]) + v_src * np.float32(ey[1])
    fx = np.where(above, ax, xs - lx)
    fy = np.where(above, ay, ys - ly)
    map_x[sy, sx] = bad * fx + (1 - bad) * map_x[sy, sx]
    map_y[sy, sx] = bad * fy + (1 - bad) * map_y[sy, sx]


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
