"""The per-face warp and :class:`WarpEditor`."""

from __future__ import annotations

import time

import numpy as np

from s2e_lib.edit.base import EditResult
from s2e_lib.edit.warp import exemplars
from s2e_lib.edit.warp.geometry import (
    _anchors,
    _eye_override,
    _eye_rings,
    _poly_mask,
    _roi,
    _window,
    backward_map,
)
from s2e_lib.edit.warp.glasses import eyes_without_white, frame_anchors, glasses_evidence, hidden_eyes
from s2e_lib.edit.warp.landmarks import (
    FEATURES,
    FaceFrame,
    _emotion,
    _strength,
    close_inner_lips,
    freeze_cut_features,
    frontal_share,
    keep_features,
    keep_upper_lids,
    mouth_gap,
    target_landmarks,
    uncross_inner_lips,
)
from s2e_lib.edit.warp.paint import (
    _close_lips,
    _cover_teeth,
    _paint_gap,
    _paint_sclera,
    _skin_tone,
    resample_lips,
)
from s2e_lib.edit.warp.photo import lips_sealed, photo_stats
from s2e_lib.edit.warp.recipes import OPEN_MOUTH, RECIPES, saturate
from s2e_lib.edit.warp.shading import SHADOW_TINT, _shade, _shading_gain, _strokes
from s2e_lib.errors import InputError, MissingResourceError
from s2e_lib.face.detect import MIN_FACE_PX, Face, detect_faces
from s2e_lib.face.io import restore_mode, to_rgb

#: Smallest Jacobian determinant the backward map may have (below: the warp nearly folds).
MIN_JACOBIAN = 0.05
#: A face whose eyes are closer than this (px) is edited on an upsampled copy of its region
#: (:func:`_warp_small_face`): at 36 px the lids, the lip gap and the teeth are a few pixels
#: wide, and masks and lines drawn at that size came out as dashed outlines round the teeth
#: and an iris pushed onto the lid (a 112-px portrait at 2x).
MIN_EDIT_IOD = 64.0
#: Largest upsampling factor (a 64-px face, the smallest edited, has an IOD of about 25 px).
MAX_UPSAMPLE = 4.0
#: Inner lips parted at least this far (IOD) are checked for lips that dlib parted but the
#: photo shows closed (:func:`~s2e_lib.edit.warp.photo.lips_sealed`).
SEALED_CHECK_GAP = 0.03


def jacobian_min(
    map_x: np.ndarray, map_y: np.ndarray, step: int = 1, ignore: np.ndarray | None = None
) -> float:
    """Smallest determinant of the backward map's Jacobian (≤ 0: the warp folds over).

    ``ignore`` (a boolean mask of the map's shape) leaves out pixels that are painted over
    anyway (a newly opened mouth: its pixels all come from the thin closed lip line).
    """
    mx, my = map_x[::step, ::step], map_y[::step, ::step]
    if min(mx.shape) < 2:
        return 1.0
    dxx, dxy = np.gradient(mx, step, axis=1), np.gradient(mx, step, axis=0)
    dyx, dyy = np.gradient(my, step, axis=1), np.gradient(my, step, axis=0)
    det = dxx * dyy - dxy * dyx
    if ignore is not None:
        det = det[~ignore[::step, ::step]]
    return float(det.min()) if det.size else 1.0


def warp_face(
    rgb: np.ndarray,
    landmarks: np.ndarray,
    emotion: str,
    strength: float = 1.0,
    grid_step: int | None = None,
    glasses: bool | None = None,
    report: dict | None = None,
    *,
    upsample: bool = True,
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
    glasses : bool, optional
        Whether the face wears glasses (default: detected,
        :func:`~s2e_lib.edit.warp.glasses.glasses_evidence`); their frames are kept rigid.
    report : dict, optional
        Filled with what was decided: ``glasses``, ``mouth_open`` (the photo's own),
        ``displacement_scale`` (< 1 where the warp had to be softened to stay folding-free),
        ``upsampled`` (the factor, for a face edited on an upsampled copy).
    upsample : bool
        Edit a face whose eyes are closer than :data:`MIN_EDIT_IOD` px on an upsampled copy
        of its region (:func:`_warp_small_face`).
    """
    import cv2

    t0 = time.perf_counter()
    emotion, strength = _emotion(emotion), _strength(strength)
    src = np.asarray(landmarks, np.float64)
    if upsample and strength > 0 and FaceFrame.from_landmarks(src).iod < MIN_EDIT_IOD:
        return _warp_small_face(rgb, src, emotion, strength, grid_step, glasses, report)
    if strength > 0:
        src = uncross_inner_lips(src)
    if strength > 0 and mouth_gap(src) >= SEALED_CHECK_GAP and lips_sealed(rgb, src):
        src = close_inner_lips(src)  # dlib parted closed lips: they get the closed mouth's recipe
    if glasses is None:
        glasses = strength > 0 and glasses_evidence(rgb, src).present
    closed = mouth_gap(src) < OPEN_MOUTH
    # parted lips get real teeth, a smile real creases too, a closing mouth real closed lips,
    # from the exemplar library (exemplars.py)
    real_mouth = RECIPES[emotion].real_mouth
    library = _smile_library() if strength > 0 else None
    smile = library is not None and emotion == "happy"
    mouth_field = exemplars.SMILE_GAIN * library.smile_field[48:68] if smile and closed else None
    dst = target_landmarks(src, emotion, strength, rigid_eyes=glasses, mouth_field=mouth_field)
    dst, cut = freeze_cut_features(src, dst, rgb.shape)
    # an eye behind a dark lens (or hair, a patch) keeps its lids: a raised lid painted white on it
    behind_lenses = hidden_eyes(rgb, src) if strength > 0 else []
    dst = keep_features(src, dst, behind_lenses)
    # an eye that shows no white to stretch (downcast, closed, blurred, turned away) keeps its upper lid
    no_white = [e for e in eyes_without_white(rgb, src) if e not in behind_lenses] if strength > 0 else []
    held = keep_upper_lids(src, dst, no_white)
    lids_kept = [e for e in no_white if not np.allclose(held[list(FEATURES[e])], dst[list(FEATURES[e])])]
    dst = held
    frame = FaceFrame.from_landmarks(src)
    roi = _roi(np.vstack([src, dst]), frame, rgb.shape[:2])
    x0, y0, x1, y1 = roi
    anchors = _anchors(src, frame, roi)
    if glasses:  # the frame's outline and bridge stay where they are
        anchors = np.vstack([anchors, frame_anchors(src)])
    step = grid_step or int(np.clip(frame.iod / 12, 2, 12))
    picks: list[int] = []
    upper_lip = False  # the exemplar's upper lip was blended in
    t1 = time.perf_counter()
    # mid-lip points keep each lip's body on the lip when the mouth opens or closes
    pairs = np.array([[50, 61], [51, 62], [52, 63], [58, 67], [57, 66], [56, 65]])
    target, scale = dst, 1.0
    # the opening's margin spans two cells of the Jacobian's grid: its central differences reach
    # one cell across, and taken across the opening's edge they read the new mouth's stretch as
    # a fold (round 13: a 0.02-IOD margin shrank 64 % of the FRL smiles, 40 % to 0.64 or less,
    # always one cell beside the opening; the map there is healthy, smallest determinant 0.27–0.39)
    k_open = max(int(round(0.02 * frame.iod)), 2 * max(1, step // 2) + 1)
    for _ in range(5):  # shrink the displacement until the warp is folding-free
        ring_src, ring_dst = _eye_rings(src, target, frame)
        if glasses:
            ring_src, ring_dst = ring_src[:0], ring_dst[:0]
        ring_src = np.vstack([ring_src, src[pairs].mean(1)])
        ring_dst = np.vstack([ring_dst, target[pairs].mean(1)])
        map_x, map_y = backward_map(
            np.vstack([src, ring_src]), np.vstack([target, ring_dst]), anchors, roi, frame.iod, step
        )
        # (checked before the eyes' rigid shift, whose edge hides the old lid on purpose, and
        # outside the target mouth opening, which is painted where it is new)
        opening = _poly_mask((y1 - y0, x1 - x0), target[60:68] - (x0, y0)) > 0
        opening = (
            cv2.dilate(opening.astype(np.uint8), np.ones((3, 3), np.uint8), iterations=max(1, k_open)) > 0
        )
        if jacobian_min(map_x, map_y, max(1, step // 2), ignore=opening) >= MIN_JACOBIAN:
            break
        target, scale = src + 0.8 * (target - src), 0.8 * scale
    map_x, map_y = _eye_override(map_x, map_y, src, target, roi, frame.iod)
    dst = target
    tframe = FaceFrame.from_landmarks(dst)
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
    slit_w = mouth_w  # where the photo's own lip line / opening landed
    if np.linalg.norm(src[66] - src[62]) < 0.03 * frame.iod:
        mouth_w = np.zeros_like(mouth_w)  # a closed source mouth has no interior worth keeping
    if strength > 0:
        stats = photo_stats(rgb, src)
        sy, sx, o = _window(dst[48:68], origin, frame.iod, img.shape)
        opened = np.linalg.norm(dst[66] - dst[62]) - np.linalg.norm(src[66] - src[62])
        if closed and opened > 0.02 * frame.iod:  # the lips part: each keeps its own texture
            img[sy, sx] = resample_lips(img[sy, sx], rgb, src, dst, o)
        img[sy, sx] = _cover_teeth(img[sy, sx], dst, mouth_w[sy, sx], rgb, src, frame.iod, o, stats)
        if mouth_w.max() > 0.05 and np.linalg.norm(dst[66] - dst[62]) < 0.03 * frame.iod:
            shut = exemplars.pick_closed_mouth(rgb, src, library) if library is not None else None
            if shut is not None:  # (a window that holds the lips at rest and the skin around them)
                rest = exemplars.resting_lips(dst)[48:60]
                wy, wx, wo = _window(rest + 0.4 * (rest - rest.mean(0)), origin, frame.iod, img.shape)
                img[wy, wx] = exemplars.transfer_closed_mouth(
                    img[wy, wx], dst, wo, shut, rgb, src, stats, library
                )
            else:
                img[sy, sx] = _close_lips(img[sy, sx], dst, src, rgb, frame.iod, o, stats)
        # an open mouth keeps its own interior, warped with the lips; where a closed one parts,
        # it shows a real mouth from the exemplar library (happy, angry, fear) or a dark gap
        picks = exemplars.choose_exemplars(rgb, src, library) if smile else []
        teeth = (
            exemplars.pick_mouth(rgb, src, library, target=dst)
            if library is not None and real_mouth and closed
            else None
        )
        if teeth is not None and opened > 0.02 * frame.iod:
            # the opening first goes dark: what the exemplar's teeth leave uncovered near the lips
            # is shadow, not the photo's lip line stretched open (a pink rim round the teeth at 2x)
            img[sy, sx] = _paint_gap(img[sy, sx], dst, slit_w[sy, sx], rgb, src, skin, frame.iod, o, stats)
            upper_lip = recipe.real_upper_lip
            if upper_lip:  # a real upper lip over the teeth (the photo's own lower lip)
                lip = dst[48:60]
                wy, wx, wo = _window(lip + 0.5 * (lip - lip.mean(0)), origin, frame.iod, img.shape)
                img[wy, wx] = exemplars.transfer_smiling_mouth(
                    img[wy, wx], dst, wo, teeth, rgb, src, stats, library
                )
            img[sy, sx] = exemplars.transfer_mouth(img[sy, sx], dst, o, teeth, rgb, src, stats, library)
        elif not mouth_w.any() and opened > 0.02 * frame.iod:
            img[sy, sx] = _paint_gap(img[sy, sx], dst, slit_w[sy, sx], rgb, src, skin, frame.iod, o, stats)
        sy, sx, o = _window(dst[36:48], origin, frame.iod, img.shape)
        img[sy, sx] = _paint_sclera(img[sy, sx], dst, eyes_w[sy, sx], rgb, src, frame.iod, o, stats)
        if smile:  # real creases instead of drawn folds (the library holds smiles only)
            sy, sx, o = _window(dst, origin, frame.iod, img.shape)
            keep_out = exemplars.lens_mask(img[sy, sx].shape[:2], dst, o) if glasses else None
            lab, _ = exemplars.skin_measure(rgb, src)
            img[sy, sx] = exemplars.apply_ratio(
                img[sy, sx],
                dst,
                o,
                exemplars.RATIO_GAIN * saturate(strength) * frontal_share(src),
                picks,
                lab,
                keep_out=keep_out,
                library=library,
                tint=stats.shadow_tint(exemplars.RATIO_SHADOW_TINT),
            )
        strokes = _strokes(recipe.appearance, tframe.to_face(dst), saturate(strength)) if not smile else []
        if strokes:
            img = _shade(
                img, strokes, tframe, (x0, y0), gain=_shading_gain(skin), tint=stats.shadow_tint(SHADOW_TINT)
            )
    t2 = time.perf_counter()
    out = rgb.copy()
    out[y0:y1, x0:x1] = np.clip(img + 0.5, 0, 255).astype(np.uint8)
    t3 = time.perf_counter()
    timings = {"align_ms": (t1 - t0) * 1e3, "warp_ms": (t2 - t1) * 1e3, "paste_ms": (t3 - t2) * 1e3}
    if report is not None:
        report.update(
            glasses=bool(glasses),
            mouth_open=mouth_gap(src) >= OPEN_MOUTH,
            displacement_scale=scale,
            cut_by_border=cut,
            hidden_eyes=behind_lenses,
            lids_kept=lids_kept,
            exemplars=[str(library.ids[k]) for k in picks] if library is not None and smile else [],
            teeth_from=str(library.ids[teeth]) if library is not None and teeth is not None else None,
            upper_lip_from=str(library.ids[teeth]) if upper_lip else None,
        )
    return out, dst, timings


def _warp_small_face(rgb, landmarks, emotion, strength, grid_step, glasses, report):
    """:func:`warp_face` for a face with eyes closer than :data:`MIN_EDIT_IOD` px.

    The face's region (the warp's own region of interest, :func:`_roi`, grown by 0.6 IOD: room
    for the target landmarks' region, and a landmark near the crop's edge is then near the
    photo's edge too) is upsampled (bicubic) until the eyes are
    :data:`MIN_EDIT_IOD` px apart, edited there, and only the *change* is brought back (area
    averaging) and added to the photo: pixels the edit did not touch keep their exact values.
    """
    import cv2

    frame = FaceFrame.from_landmarks(landmarks)
    factor = min(MAX_UPSAMPLE, MIN_EDIT_IOD / frame.iod)
    height, width = rgb.shape[:2]
    pad = int(np.ceil(0.6 * frame.iod))
    x0, y0, x1, y1 = _roi(landmarks, frame, (height, width))
    x0, y0, x1, y1 = max(0, x0 - pad), max(0, y0 - pad), min(width, x1 + pad), min(height, y1 + pad)
    crop = np.ascontiguousarray(rgb[y0:y1, x0:x1])
    size = (max(1, int(round((x1 - x0) * factor))), max(1, int(round((y1 - y0) * factor))))
    scale = np.array([size[0] / (x1 - x0), size[1] / (y1 - y0)])
    up = cv2.resize(crop, size, interpolation=cv2.INTER_CUBIC)
    to_up = lambda p: (p - (x0, y0) + 0.5) * scale - 0.5  # noqa: E731 - pixel centres map to centres
    step = max(1, int(round(grid_step * factor))) if grid_step else None
    edited, dst, timings = warp_face(
        up, to_up(landmarks), emotion, strength, step, glasses, report, upsample=False
    )
    t = time.perf_counter()
    change = cv2.resize(
        edited.astype(np.float32) - up.astype(np.float32), (x1 - x0, y1 - y0), interpolation=cv2.INTER_AREA
    )
    out = rgb.copy()
    out[y0:y1, x0:x1] = np.clip(crop.astype(np.float32) + change + 0.5, 0, 255).astype(np.uint8)
    timings["paste_ms"] += (time.perf_counter() - t) * 1e3
    if report is not None:
        report["upsampled"] = round(float(factor), 3)
    return out, (dst + 0.5) / scale - 0.5 + (x0, y0), timings


def _smile_library():
    """The smile exemplar library, or None (with a warning) when it is not installed."""
    try:
        return exemplars.load_library()
    except MissingResourceError as exc:  # pragma: no cover - the library ships with the package
        import warnings

        warnings.warn(f"no real teeth or creases (a dark gap, drawn folds instead): {exc}", stacklevel=3)
        return None


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
            ``target_landmarks`` (of the first face edited), ``cut_by_border`` (features
            the photo's edge cuts, kept in place: :func:`freeze_cut_features`),
            ``exemplars`` (the FRL ids whose ratio images a smile used), ``teeth_from`` (the
            FRL id whose mouth parted lips show, or None), ``upper_lip_from`` (the FRL id whose
            upper lip a parted closed mouth took, or None) and ``timings_ms``.

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
        targets, reports = [], []
        for face in chosen:
            report: dict = {}
            with _single_threaded_blas():
                out, dst, t = warp_face(out, face.landmarks, emotion, strength, self.grid_step, report=report)
            targets.append(dst)
            reports.append(report)
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
            "glasses": reports[0].get("glasses", False),
            "mouth_open": reports[0].get("mouth_open", False),
            "cut_by_border": reports[0].get("cut_by_border", []),
            "hidden_eyes": reports[0].get("hidden_eyes", []),
            "lids_kept": reports[0].get("lids_kept", []),
            "upsampled": reports[0].get("upsampled", 1.0),
            "exemplars": reports[0].get("exemplars", []),
            "teeth_from": reports[0].get("teeth_from"),
            "upper_lip_from": reports[0].get("upper_lip_from"),
            "timings_ms": timings,
        }
        return EditResult(image=result, info=info)
