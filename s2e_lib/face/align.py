"""FFHQ-style face alignment and pasting an edited crop back into the photo.

Two recipes, both returning the 2×3 affine ``matrix`` (original pixels → crop pixels)
so an edited crop goes back exactly where it came from:

- ``"ffhq"``: the FFHQ dataset recipe (Karras et al. 2019, ``ffhq-dataset``'s
  ``recreate_aligned_images``) from 68 landmarks: eye and mouth centres define an
  oriented square around the face, which is resampled to ``size``².
- ``"five-point"``: the original project's alignment: a least-squares similarity
  transform (Umeyama 1991) of five points (eye corners, nose base) onto the FFHQ
  5-point template, :data:`FFHQ_5POINT_TEMPLATE_1024`.
- ``"ffhq-face"``: FFHQ's square tightened to the face (:func:`face_quad`), for models that
  work at small sizes (the FRL London pix2pixHD).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from s2e_lib.errors import InputError
from s2e_lib.face.detect import Face, largest_face
from s2e_lib.face.io import to_rgb

#: The FFHQ 5-point template at 1024², (x, y) in dlib's 5-point order (image-right eye
#: outer then inner corner, image-left eye outer then inner corner, nose base). Copied
#: from the original project's ``ffhq_5point_template_1024.npy``.
FFHQ_5POINT_TEMPLATE_1024 = np.array(
    [
        [686.77227723, 488.62376238],
        [586.77227723, 493.59405941],
        [337.91089109, 488.38613861],
        [437.95049505, 493.51485149],
        [513.58415842, 678.5049505],
    ]
)

#: The 68-point landmarks that correspond to dlib's 5 points (same order as the template).
FIVE_FROM_68 = [45, 42, 36, 39, 33]

METHODS = ("ffhq", "five-point", "ffhq-face")


@dataclass
class AlignedFace:
    """An aligned face crop and how to get back to the photo.

    Attributes
    ----------
    image : numpy.ndarray
        The crop, RGB uint8, ``size`` × ``size``.
    matrix : numpy.ndarray
        2×3 affine mapping original-photo pixels to crop pixels.
    size : int
        Side of the crop in pixels.
    method : str
        ``"ffhq"`` or ``"five-point"``.
    face : Face
        The face (in original-photo coordinates) the crop was made from.
    """

    image: np.ndarray
    matrix: np.ndarray
    size: int
    method: str
    face: Face

    @property
    def landmarks(self) -> np.ndarray:
        """The face's 68 landmarks in crop coordinates."""
        return transform_points(self.face.landmarks, self.matrix)


def transform_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Apply a 2×3 affine ``matrix`` to (N, 2) points."""
    points = np.asarray(points, dtype=np.float64)
    return points @ matrix[:, :2].T + matrix[:, 2]


def invert_affine(matrix: np.ndarray) -> np.ndarray:
    """The inverse of a 2×3 affine matrix."""
    full = np.vstack([matrix, [0.0, 0.0, 1.0]])
    return np.linalg.inv(full)[:2]


def ffhq_quad(landmarks: np.ndarray) -> np.ndarray:
    """The FFHQ oriented square (4 corners: top-left, bottom-left, bottom-right, top-right)."""
    lm = np.asarray(landmarks, dtype=np.float64)
    eye_left, eye_right = lm[36:42].mean(0), lm[42:48].mean(0)
    eye_avg = (eye_left + eye_right) * 0.5
    eye_to_eye = eye_right - eye_left
    mouth_avg = (lm[48] + lm[54]) * 0.5
    eye_to_mouth = mouth_avg - eye_avg
    x = eye_to_eye - np.flipud(eye_to_mouth) * [-1, 1]
    x /= np.hypot(*x)
    x *= max(np.hypot(*eye_to_eye) * 2.0, np.hypot(*eye_to_mouth) * 1.8)
    y = np.flipud(x) * [-1, 1]
    c = eye_avg + eye_to_mouth * 0.1
    return np.stack([c - x - y, c - x + y, c + x + y, c + x - y])


#: ``"ffhq-face"``: FFHQ's square scaled by this, around :data:`FACE_CENTRE`.
FACE_ZOOM = 0.65
#: ``"ffhq-face"``'s centre: this far from the eyes' midpoint towards the mouth's.
FACE_CENTRE = 0.5


def face_quad(landmarks: np.ndarray, zoom: float = FACE_ZOOM, centre: float = FACE_CENTRE) -> np.ndarray:
    """FFHQ's oriented square tightened to the face (brows to chin), corners as :func:`ffhq_quad`.

    Same orientation and scale rule as FFHQ, ``zoom`` times the side, centred ``centre`` of the
    way from the eyes to the mouth: at 128 px the mouth spans about 40 px instead of 20, which
    is what a small model needs to learn a mouth's change.
    """
    lm = np.asarray(landmarks, dtype=np.float64)
    quad = ffhq_quad(lm)
    x, y = (quad[3] - quad[0]) / 2 * zoom, (quad[1] - quad[0]) / 2 * zoom
    eye_avg = (lm[36:42].mean(0) + lm[42:48].mean(0)) * 0.5
    c = eye_avg + ((lm[48] + lm[54]) * 0.5 - eye_avg) * centre
    return np.stack([c - x - y, c - x + y, c + x + y, c + x - y])


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (rotation, uniform scale, shift) src → dst as 2×3 (Umeyama 1991)."""
    src, dst = np.asarray(src, np.float64), np.asarray(dst, np.float64)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    cov = d.T @ s / len(src)
    u, sig, vt = np.linalg.svd(cov)
    sign = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[1, 1] = -1
    rot = u @ sign @ vt
    scale = np.trace(np.diag(sig) @ sign) / s.var(0).sum()
    shift = mu_d - scale * rot @ mu_s
    return np.hstack([scale * rot, shift[:, None]])


def alignment_matrix(landmarks: np.ndarray, size: int = 1024, method: str = "ffhq") -> np.ndarray:
    """The 2×3 matrix taking photo pixels to a ``size``² crop for ``method``."""
    if method in ("ffhq", "ffhq-face"):
        quad = ffhq_quad(landmarks) if method == "ffhq" else face_quad(landmarks)
        dst = np.array([[0, 0], [0, size], [size, size]], dtype=np.float64)
        return _affine_from_3(quad[:3], dst)
    if method in ("five-point", "five_point", "5point"):
        template = FFHQ_5POINT_TEMPLATE_1024 * (size / 1024.0)
        return similarity_transform(np.asarray(landmarks)[FIVE_FROM_68], template)
    raise InputError(f"unknown alignment method {method!r}; expected one of: {', '.join(METHODS)}")


def _affine_from_3(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    a = np.hstack([src, np.ones((3, 1))])
    return np.linalg.solve(a, dst).T


def align_face(
    image: np.ndarray, size: int = 1024, method: str = "ffhq", face: Face | None = None
) -> AlignedFace:
    """Crop and align the (largest) face of ``image`` to a ``size``² square.

    Parameters
    ----------
    image : numpy.ndarray
        The photo (any layout :func:`~s2e_lib.face.io.to_rgb` accepts).
    size : int
        Side of the output crop (FFHQ: 1024).
    method : {"ffhq", "five-point", "ffhq-face"}
        The FFHQ 68-landmark recipe or the original project's 5-point similarity.
    face : Face, optional
        A face from :func:`detect_faces`; detected (largest) when omitted.

    Returns
    -------
    AlignedFace
        The crop, the photo→crop matrix, the size, the method and the face. Regions
        outside the photo are filled by reflection, as FFHQ does.
    """
    import cv2

    if int(size) < 32:
        raise InputError(f"alignment size must be at least 32 px, got {size}")
    size = int(size)
    rgb = to_rgb(image)
    face = face if face is not None else largest_face(rgb)
    matrix = alignment_matrix(face.landmarks, size, method)
    scale = np.sqrt(abs(np.linalg.det(matrix[:, :2])))
    interp = cv2.INTER_AREA if scale < 0.5 else cv2.INTER_CUBIC if scale > 1 else cv2.INTER_LINEAR
    if scale < 0.5:  # strong downscale: pre-shrink so INTER_AREA-like averaging happens
        crop = _downscaled_warp(rgb, matrix, size)
    else:
        crop = cv2.warpAffine(rgb, matrix, (size, size), flags=interp, borderMode=cv2.BORDER_REFLECT)
    method = method if method in ("ffhq", "ffhq-face") else "five-point"
    return AlignedFace(image=crop, matrix=matrix, size=size, method=method, face=face)


def _downscaled_warp(rgb: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    """Warp for a strong downscale: shrink with area averaging first so detail does not alias."""
    import cv2

    scale = np.sqrt(abs(np.linalg.det(matrix[:, :2])))
    factor = max(1, int(1.0 / scale / 1.5))
    height, width = rgb.shape[:2]
    sw, sh = max(1, width // factor), max(1, height // factor)
    small = cv2.resize(rgb, (sw, sh), interpolation=cv2.INTER_AREA)
    sx, sy = sw / width, sh / height
    # small pixel p' relates to original pixel p by p + 0.5 = (p' + 0.5) / s
    to_orig = np.array([[1 / sx, 0, 0.5 / sx - 0.5], [0, 1 / sy, 0.5 / sy - 0.5]])
    m = matrix[:, :2] @ to_orig[:, :2]
    m = np.hstack([m, (matrix[:, :2] @ to_orig[:, 2] + matrix[:, 2])[:, None]])
    return cv2.warpAffine(small, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def face_region_mask(
    shape: tuple[int, int],
    landmarks: np.ndarray,
    grow: float = 0.15,
    forehead: float = 0.3,
    soft: float = 0.1,
) -> np.ndarray:
    """A float32 mask of the face (1) against hair, ears, neck and background (0).

    The convex hull of the 68 landmarks with the brows raised by ``forehead`` inter-ocular
    distances (IOD; the lower forehead), grown by ``grow`` IOD and feathered by a Gaussian of
    ``soft`` IOD, so an edit confined to it fades out before the face's outline.

    Parameters
    ----------
    shape : (int, int)
        Height and width of the mask.
    landmarks : numpy.ndarray
        (68, 2) dlib landmarks in the mask's pixel coordinates.
    grow, forehead, soft : float
        Sizes in IOD, as above.
    """
    import cv2

    pts = np.asarray(landmarks, dtype=np.float64)
    iod = float(np.linalg.norm(pts[36:42].mean(0) - pts[42:48].mean(0)))
    up = pts[27] - pts[8]
    up = up / max(float(np.linalg.norm(up)), 1e-6)
    brows = pts[17:27] + forehead * iod * up
    hull = cv2.convexHull(np.round(np.vstack([pts, brows]) * 4).astype(np.int32))
    mask = np.zeros(shape, np.uint8)
    cv2.fillConvexPoly(mask, hull, 1, shift=2)
    radius = max(1, int(round(grow * iod)))
    mask = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1)))
    sigma = max(0.5, soft * iod)
    return np.clip(cv2.GaussianBlur(mask.astype(np.float32), (0, 0), sigma), 0.0, 1.0)


def feather_mask(size: int, feather: float = 0.1, shape: str = "rect") -> np.ndarray:
    """A float32 ``size``² mask, 1 inside and ramping smoothly to 0 over ``feather``·size at the edges."""
    ramp = max(1.0, feather * size)
    coords = np.arange(size, dtype=np.float32) + 0.5
    edge = np.minimum(coords, size - coords)
    if shape == "ellipse":
        yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
        r = np.hypot((xx - size / 2) / (size / 2), (yy - size / 2) / (size / 2))
        dist = (1.0 - r) * size / 2
    else:
        dist = np.minimum(edge[None, :], edge[:, None])
    t = np.clip(dist / ramp, 0.0, 1.0)
    return (t * t * (3 - 2 * t)).astype(np.float32)


def paste_back(
    original: np.ndarray,
    edited_crop: np.ndarray,
    aligned: AlignedFace,
    mask: np.ndarray | None = None,
    feather: float = 0.1,
    change: bool = False,
) -> np.ndarray:
    """Blend an edited crop back into the original photo without seams.

    Parameters
    ----------
    original : numpy.ndarray
        The photo the crop came from (its layout and dtype are kept).
    edited_crop : numpy.ndarray
        The edited crop, RGB; any square size (it is rescaled to ``aligned.size``).
    aligned : AlignedFace
        What :func:`align_face` returned for ``original``.
    mask : numpy.ndarray, optional
        Crop-space weights in [0, 1] (e.g. only the edited region); default a square
        mask feathered over ``feather``·size at the edges.
    feather : float
        Width of the soft edge as a fraction of the crop side.
    change : bool
        ``edited_crop`` is a float (H, W, 3) *change* (edited − aligned crop) that is warped
        back and added, weighted by the mask: pixels the edit did not change stay exactly as
        they were (no resampling of the photo).

    Returns
    -------
    numpy.ndarray
        The photo with the crop's content blended in, same shape and dtype as ``original``.
    """
    import cv2

    from s2e_lib.face.io import restore_mode

    rgb = to_rgb(original)
    height, width = rgb.shape[:2]
    edited = np.asarray(edited_crop, np.float32) if change else to_rgb(edited_crop, check_size=False)
    matrix = aligned.matrix
    if edited.shape[0] != aligned.size or edited.shape[1] != aligned.size:
        s = np.diag([edited.shape[1] / aligned.size, edited.shape[0] / aligned.size])
        matrix = np.hstack([s @ matrix[:, :2], (s @ matrix[:, 2])[:, None]])
    if mask is None:
        mask = feather_mask(edited.shape[0], feather)
    elif mask.shape[:2] != edited.shape[:2]:
        mask = cv2.resize(
            mask.astype(np.float32), (edited.shape[1], edited.shape[0]), interpolation=cv2.INTER_LINEAR
        )
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    border = cv2.BORDER_CONSTANT if change else cv2.BORDER_REPLICATE  # no change outside the crop
    back = cv2.warpAffine(edited, matrix, (width, height), flags=flags, borderMode=border, borderValue=0)
    alpha = cv2.warpAffine(
        mask.astype(np.float32),
        matrix,
        (width, height),
        flags=flags,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0,
    )
    alpha = alpha[..., None]
    if change:  # ``edited_crop`` is a signed difference to add, not a picture to blend
        out = rgb.astype(np.float32) + back * alpha
    else:
        out = rgb.astype(np.float32) * (1 - alpha) + back.astype(np.float32) * alpha
    out = np.clip(out.round(), 0, 255).astype(np.uint8)
    return restore_mode(out, original)
