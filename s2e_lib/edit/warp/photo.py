"""Photographic consistency: the photo's grain, blur and white balance on synthesized pixels.

Pixels the editor makes up (a dark gap between parted lips, eye white uncovered by a
raised lid, closed lips over a wide-open mouth) are rendered clean and sharp. Pasted as
they are, they look pasted: a real photo has sensor / JPEG noise, some optical or
resampling blur, and a colour cast. :func:`photo_stats` measures the three in the face
region, :func:`match_photo` gives them to synthesized pixels, and :func:`composite`
pastes the result with Poisson blending (``cv2.seamlessClone``) where the region is large
enough, so no seam remains at its edge.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: ITU-R BT.601 luminance weights of R, G, B (what every warp module means by luminance).
LUMA = np.array([0.299, 0.587, 0.114], np.float32)
#: Immerkær's noise-estimation kernel (the difference of two Laplacians: blind to
#: smooth shading and straight edges, sensitive to pixel noise).
_NOISE_KERNEL = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)


@dataclass(frozen=True)
class PhotoStats:
    """What a synthesized pixel needs to look like the photo around it.

    Attributes
    ----------
    noise : float
        Standard deviation of the photo's pixel noise (grey levels), per channel.
    blur : float
        Gaussian blur (sigma, px) of the photo's sharpest edges, beyond a pixel-sharp edge.
    white : numpy.ndarray
        Per-channel gains of the photo's white balance (gray-world over the face,
        normalized to mean 1): a synthesized neutral colour is multiplied by them.
    shadow : numpy.ndarray or None
        Per-channel exponents of the photo's own shading on skin (:func:`shadow_exponents`),
        or None where the face shows too little shading to measure them.
    shadow_share : float
        How far :meth:`shadow_tint` trusts ``shadow`` over a prior (0…1, from the face's
        spread of lightness).
    """

    noise: float
    blur: float
    white: np.ndarray
    shadow: np.ndarray | None = None
    shadow_share: float = 0.0

    def shadow_tint(self, prior) -> np.ndarray:
        """Per-channel exponents for darkening this photo's skin: its own shading's
        (:attr:`shadow`), blended with ``prior`` by :attr:`shadow_share`, and never cooler than
        ``prior`` (red darkens at most as much, blue at least as much).

        Skin's shadows are warmer than its lit parts (light scattered under the skin); a face
        whose darker skin measures cooler than the prior is darker for another reason (stubble,
        nostrils and pigment under an even studio light: the FRL London photos measure R 0.91–1.12,
        B 0.85–1.09, while their real smiles' creases measure 0.86 / 1.10), so there the prior
        stands.
        """
        prior = np.asarray(prior, np.float32)
        if self.shadow is None or self.shadow_share <= 0:
            return prior
        tint = self.shadow_share * self.shadow + (1.0 - self.shadow_share) * prior
        tint[0], tint[2] = min(tint[0], prior[0]), max(tint[2], prior[2])
        tint[1] = (LUMA @ prior - LUMA[0] * tint[0] - LUMA[2] * tint[2]) / LUMA[1]  # luminance as the prior's
        return tint.astype(np.float32)


def estimate_noise(gray: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Pixel-noise sigma of a grayscale image (Immerkær 1996, "Fast noise variance estimation").

    Pixels on strong edges are left out (their Laplacian is structure, not noise), and so
    are pixels outside ``mask`` when given.
    """
    import cv2

    g = np.asarray(gray, np.float32)
    if min(g.shape) < 8:
        return 0.0
    response = np.abs(cv2.filter2D(g, -1, _NOISE_KERNEL, borderType=cv2.BORDER_REFLECT))[1:-1, 1:-1]
    gx = cv2.Sobel(g, cv2.CV_32F, 1, 0)[1:-1, 1:-1]
    gy = cv2.Sobel(g, cv2.CV_32F, 0, 1)[1:-1, 1:-1]
    grad = np.hypot(gx, gy)
    keep = grad <= np.percentile(grad, 60)
    if mask is not None:
        keep &= np.asarray(mask, bool)[1:-1, 1:-1]
    if keep.sum() < 16:
        return 0.0
    return float(np.sqrt(np.pi / 2) * response[keep].mean() / 6.0)


def estimate_blur(gray: np.ndarray) -> float:
    """Blur sigma (px) of a grayscale patch from its sharpest edges.

    A step of height C blurred by a Gaussian of sigma s has a steepest slope of
    C / (sqrt(2 pi) s): per strong edge pixel, C is the local range (11×11) and the slope
    the gradient magnitude; a pixel-sharp edge reads about 0.9 px (sampling, the Sobel
    kernel and a 0.5 px pre-blur against noise), which is removed in quadrature.
    """
    import cv2

    g = np.asarray(gray, np.float32)
    if min(g.shape) < 12:
        return 0.0
    g = cv2.GaussianBlur(g, (0, 0), 0.5)  # tames noise; accounted for below
    gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3) / 8.0
    gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3) / 8.0
    slope = np.hypot(gx, gy)
    kernel = np.ones((11, 11), np.uint8)
    contrast = cv2.dilate(g, kernel) - cv2.erode(g, kernel)
    strong = (contrast > 25) & (slope >= np.percentile(slope, 98))
    if strong.sum() < 8:
        return 0.0
    sigma = np.median(contrast[strong] / (np.sqrt(2 * np.pi) * np.maximum(slope[strong], 1e-3)))
    return float(np.sqrt(max(0.0, sigma**2 - 0.9**2)))


#: Range of each channel's shading exponent (:func:`shadow_exponents`): the 11 portraits, the
#: three in ``../shared`` and 26 FRL London photos measure R 0.35–1.12, G 0.96–1.31, B 0.83–2.23.
SHADOW_EXPONENT_RANGE = (np.array([0.3, 0.8, 0.7]), np.array([1.2, 1.4, 2.4]))
#: Spread (sd of log luminance) of a face's skin below which its shading is not measured,
#: and the spread from which it is trusted fully.
SHADOW_MIN_SPREAD, SHADOW_FULL_SPREAD = 0.05, 0.15


def shadow_exponents(rgb: np.ndarray, landmarks: np.ndarray) -> tuple[np.ndarray | None, float]:
    """How the photo's own skin changes colour as it darkens: ``(exponents, share)``.

    Over the skin of the lower face (the jaw line from landmark 1 to 15, closed along the
    nose's base; the mouth left out) each channel's log is regressed on the log luminance (the
    5–95th percentiles of lightness, where neither highlights nor the darkest hair or nostrils
    weigh): a shadow that darkens luminance by a factor ``f`` darkens channel ``c`` by
    ``f ** exponent[c]``. A warm, graded film still measures about (0.5, 1.28, 2.1): its
    shadows are orange, and a shadow in the studio colours of the smile library's creases
    (0.86, 1.05, 1.10) read there as a grey stain at 2x (round 19). A grey photo measures
    (1, 1, 1). Under an even studio light the spread is mostly stubble, nostrils and pigment,
    not shading (the FRL London photos measure R 0.91–1.12, B 0.85–1.09), so
    :meth:`PhotoStats.shadow_tint` keeps only what is warmer than its prior. The
    exponents are clipped to :data:`SHADOW_EXPONENT_RANGE` and scaled so that luminance
    darkens by ``f``; ``share`` (0…1) is how far to trust them, from the face's spread of
    lightness (:data:`SHADOW_MIN_SPREAD`, :data:`SHADOW_FULL_SPREAD`). ``(None, 0.0)``
    when the face is too small or too evenly lit to measure.
    """
    import cv2

    from s2e_lib.edit.warp.landmarks import FaceFrame

    pts = np.asarray(landmarks, np.float64)
    x0, y0 = np.maximum(np.floor(pts.min(0)).astype(int), 0)
    x1, y1 = np.ceil(pts.max(0)).astype(int) + 1
    patch = rgb[y0:y1, x0:x1]
    if patch.size == 0:
        return None, 0.0
    local = pts - (x0, y0)
    lower_face = np.zeros(patch.shape[:2], np.uint8)
    cv2.fillPoly(lower_face, [np.round(np.vstack([local[1:16], local[[35, 33, 31]]])).astype(np.int32)], 1)
    mouth = np.zeros_like(lower_face)
    cv2.fillConvexPoly(mouth, cv2.convexHull(np.round(local[48:60]).astype(np.int32)), 1)
    iod = FaceFrame.from_landmarks(pts).iod
    mouth = cv2.dilate(mouth, np.ones((int(0.15 * iod) | 1,) * 2, np.uint8))
    pixels = patch[(lower_face > 0) & (mouth == 0)].astype(np.float64) + 4.0
    if len(pixels) < 200:
        return None, 0.0
    log_luma = np.log(pixels @ LUMA.astype(np.float64))
    lo, hi = np.percentile(log_luma, [5, 95])
    keep = (log_luma >= lo) & (log_luma <= hi)
    x = log_luma[keep] - log_luma[keep].mean()
    spread = float(x.std())
    if not spread >= SHADOW_MIN_SPREAD:
        return None, 0.0
    channels = np.log(pixels[keep])
    slopes = (x @ (channels - channels.mean(0))) / float(x @ x)
    slopes = np.clip(slopes, *SHADOW_EXPONENT_RANGE)
    slopes = slopes / float(LUMA @ slopes)
    share = float(np.clip((spread - SHADOW_MIN_SPREAD) / (SHADOW_FULL_SPREAD - SHADOW_MIN_SPREAD), 0, 1))
    return slopes.astype(np.float32), share


def photo_stats(rgb: np.ndarray, landmarks: np.ndarray) -> PhotoStats:
    """Noise, blur, white balance and shading colour of the face of ``rgb`` (68 dlib landmarks)."""
    import cv2

    pts = np.asarray(landmarks, np.float64)
    x0, y0 = np.maximum(np.floor(pts.min(0)).astype(int), 0)
    x1, y1 = np.ceil(pts.max(0)).astype(int) + 1
    patch = rgb[y0:y1, x0:x1]
    if patch.size == 0:
        return PhotoStats(0.0, 0.0, np.ones(3, np.float32))
    gray = patch.astype(np.float32) @ LUMA
    # noise on skin: inside the face outline, away from eyes, brows and mouth
    skin = np.zeros(gray.shape, np.uint8)
    hull = cv2.convexHull(np.round(pts - (x0, y0)).astype(np.int32))
    cv2.fillConvexPoly(skin, hull, 1)
    for part in (slice(17, 22), slice(22, 27), slice(36, 42), slice(42, 48), slice(48, 60)):
        part_hull = cv2.convexHull(np.round(pts[part] - (x0, y0)).astype(np.int32))
        cv2.fillConvexPoly(skin, part_hull, 0)
    noise = estimate_noise(gray, skin > 0)
    eyes = pts[36:48]
    ex0, ey0 = np.maximum(np.floor(eyes.min(0) - 4).astype(int), 0)
    ex1, ey1 = np.ceil(eyes.max(0) + 4).astype(int)
    eye_patch = rgb[ey0:ey1, ex0:ex1].astype(np.float32) @ LUMA
    blur = estimate_blur(eye_patch)
    mean = patch.reshape(-1, 3).astype(np.float64)[skin.reshape(-1) > 0].mean(0)
    # the skin's own hue is not a colour cast: compare with a typical skin's channel ratios
    reference = np.array([1.25, 0.95, 0.80])
    white = (mean / max(mean.mean(), 1.0)) / reference
    white = np.clip(white / white.mean(), 0.8, 1.25)
    shadow, share = shadow_exponents(rgb, pts)
    return PhotoStats(
        noise=noise, blur=min(blur, 4.0), white=white.astype(np.float32), shadow=shadow, shadow_share=share
    )


def match_photo(
    synth: np.ndarray, stats: PhotoStats, seed: int = 0, white_balance: bool = False
) -> np.ndarray:
    """Give a clean synthesized float RGB patch the photo's blur, noise (and colour cast).

    Parameters
    ----------
    synth : numpy.ndarray
        (H, W, 3) float32 synthesized pixels.
    stats : PhotoStats
        From :func:`photo_stats`.
    seed : int
        Seed of the noise (edits are deterministic).
    white_balance : bool
        Also multiply by the photo's white-balance gains (for colours not sampled from the
        photo itself; colours taken from the photo already carry its cast).
    """
    import cv2

    out = np.asarray(synth, np.float32)
    if white_balance:
        out = out * stats.white
    if stats.blur > 0.3:
        out = cv2.GaussianBlur(out, (0, 0), stats.blur)
    if stats.noise > 0.2:
        rng = np.random.default_rng(seed)
        # mostly luminance grain, a little chroma (as after demosaicking / JPEG)
        luma = rng.normal(0.0, stats.noise, out.shape[:2]).astype(np.float32)
        chroma = rng.normal(0.0, 0.35 * stats.noise, out.shape).astype(np.float32)
        out = out + luma[..., None] + chroma
    return out


def composite(
    img: np.ndarray,
    synth: np.ndarray,
    alpha: np.ndarray,
    stats: PhotoStats,
    seed: int = 0,
    poisson: bool = True,
):
    """Paste ``synth`` (float RGB, clean) onto ``img`` (float RGB) where ``alpha`` (0…1) says.

    The synthesized pixels first get the photo's blur and grain (:func:`match_photo`);
    regions of at least 36 px (with a 6 px margin inside ``img``) are then pasted by Poisson blending (``cv2.seamlessClone``,
    normal clone) of the alpha composite, which removes any remaining seam at the mask's
    edge; smaller ones, and all with ``poisson=False``, are alpha-blended. (Pixels already
    matched to the skin around them need no Poisson step, and it drains a lip's colour:
    seen at 2x on a small face, pink lips came out grey-violet.)
    """
    import cv2

    a = np.clip(np.asarray(alpha, np.float32), 0, 1)
    if a.max() < 0.02:
        return img
    matched = match_photo(synth, stats, seed)
    blended = img * (1 - a[..., None]) + matched * a[..., None]
    if not poisson:
        return blended
    # seamlessClone erodes its mask before solving: give the region a margin of photo pixels
    margin = 6
    mask = cv2.dilate((a > 0.02).astype(np.uint8) * 255, np.ones((2 * margin + 1,) * 2, np.uint8))
    ys, xs = np.nonzero(mask)
    h, w = mask.shape
    bx0, bx1, by0, by1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
    if (a > 0.5).sum() < 36 or bx0 < 1 or by0 < 1 or bx1 > w - 1 or by1 > h - 1:
        return blended
    src8 = np.clip(blended + 0.5, 0, 255).astype(np.uint8)
    dst8 = np.clip(img + 0.5, 0, 255).astype(np.uint8)
    # seamlessClone places the mask's bounding box with its centre (x + w // 2, y + h // 2) here
    centre = (int(bx0) + int(bx1 - bx0) // 2, int(by0) + int(by1 - by0) // 2)
    try:
        cloned = cv2.seamlessClone(
            src8, dst8, mask.copy(), centre, cv2.NORMAL_CLONE
        )  # it writes into the mask.astype(np.float32)
    except cv2.error:  # pragma: no cover - degenerate masks
        return blended
    # keep the float precision of the untouched pixels
    return np.where((mask > 0)[..., None], cloned, img)


def lips_sealed(rgb: np.ndarray, landmarks: np.ndarray) -> bool:
    """Whether the lips between dlib's inner-lip points are closed although the points part.

    dlib places the inner lips of full, closed lips apart (on 4 of the FRL set's 102 neutral
    faces by 0.06–0.10 IOD, as open as a talking mouth), and a closed mouth taken for an open
    one gets no teeth and no smile. Between parted lips a photo shows the mouth's inside: a
    dark cavity or teeth, which are paler (less red) than the lips. Between closed lips it
    shows lip, as red or redder than the lips' outer part (the moist inner lip). So: sealed
    when under 5 % of the pixels inside the inner contour are cavity (20 CIELAB L below the
    lips' median) or teeth (lighter than the lips and 8 a* less red), and the inside is at
    least 3 a* redder than the lips. Of the FRL set's 42 smiles open by dlib's points (dark lips
    included), the astronaut's and the open mouths of the portraits tried, none is taken for
    sealed.
    """
    import cv2

    from s2e_lib.edit.warp.geometry import _poly_mask

    pts = np.asarray(landmarks, np.float64)
    x0, y0 = np.maximum(np.floor(pts[48:60].min(0)).astype(int) - 2, 0)
    x1, y1 = np.ceil(pts[48:60].max(0)).astype(int) + 3
    patch = np.asarray(rgb[y0:y1, x0:x1], np.float32) / 255.0
    if patch.ndim != 3 or min(patch.shape[:2]) < 4:
        return False
    lab = cv2.cvtColor(patch, cv2.COLOR_RGB2LAB)
    shape = patch.shape[:2]
    inner = _poly_mask(shape, pts[60:68] - (x0, y0)) > 0.5
    grown = cv2.dilate(inner.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    lips = (_poly_mask(shape, pts[48:60] - (x0, y0)) > 0.5) & ~grown
    if inner.sum() < 8 or lips.sum() < 8:
        return False
    light, red = lab[..., 0], lab[..., 1]
    lip_l, lip_a = float(np.median(light[lips])), float(np.median(red[lips]))
    cavity = light[inner] < lip_l - 20.0
    teeth = (red[inner] < lip_a - 8.0) & (light[inner] > lip_l)
    return bool((cavity | teeth).mean() < 0.05 and np.median(red[inner]) >= lip_a + 3.0)
