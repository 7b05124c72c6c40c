"""The per-face warp and :class:`WarpEditor`."""

from __future__ import annotations

import time

import numpy as np

from s2e_lib.edit.base import EditResult
from s2e_lib.edit.warp.geometry import (
    _anchors,
    _eye_override,
    _eye_rings,
    _poly_mask,
    _roi,
    _window,
    backward_map,
)
from s2e_lib.edit.warp.landmarks import MAX_STRENGTH, FaceFrame, _emotion, _strength, target_landmarks
from s2e_lib.edit.warp.paint import _close_lips, _cover_teeth, _paint_mouth, _paint_sclera, _skin_tone
from s2e_lib.edit.warp.recipes import RECIPES
from s2e_lib.edit.warp.shading import _shade, _shading_gain, _strokes
from s2e_lib.errors import InputError
from s2e_lib.face.detect import MIN_FACE_PX, Face, detect_faces
from s2e_lib.face.io import restore_mode, to_rgb


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
