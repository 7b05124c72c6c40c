"""Identity: dlib's 128-d face descriptor and the distance between two faces' descriptors."""

from __future__ import annotations

import numpy as np

from s2e_lib.errors import InputError
from s2e_lib.face import models
from s2e_lib.face.detect import Face, detect_faces
from s2e_lib.face.io import load_image, to_rgb

#: dlib's threshold: descriptors closer than this are the same person (99.38% on LFW).
SAME_PERSON = 0.6


def _as_image(image, where: str) -> np.ndarray:
    if isinstance(image, np.ndarray):
        return to_rgb(image, where)
    return load_image(image)


def face_descriptor(image, face: Face | None = None, where: str = "image") -> np.ndarray:
    """dlib's 128-d descriptor of the (largest) face in ``image`` (array or path)."""
    import dlib

    rgb = _as_image(image, where)
    if face is None:
        faces = detect_faces(rgb)
        if not faces:
            raise InputError(f"{where if isinstance(image, np.ndarray) else image}: no face found")
        face = faces[0]
    rect = dlib.rectangle(*(int(round(v)) for v in face.box))
    points = [dlib.point(int(round(x)), int(round(y))) for x, y in face.landmarks]
    shape = dlib.full_object_detection(rect, points)
    return np.asarray(models.descriptor_model().compute_face_descriptor(rgb, shape), dtype=np.float64)


def box_overlap(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    """Intersection over union of two (left, top, right, bottom) boxes."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


#: A face found in the edited photo is ``face_a`` itself when their boxes overlap this much.
SAME_PLACE = 0.3


def identity_distance(a, b, face_a: Face | None = None, face_b: Face | None = None) -> float:
    """Euclidean distance between the dlib descriptors of a face in ``a`` and the same face in ``b``.

    Parameters
    ----------
    a, b : numpy.ndarray or path
        Two photos (e.g. a face before and after an edit).
    face_a, face_b : Face, optional
        Faces already detected in ``a`` / ``b`` (saves a detection each); by default the
        largest face of ``a``. When ``b`` has ``a``'s size (an edit of it), ``face_b`` is
        the face of ``b`` in ``face_a``'s place, not ``b``'s largest: in a group photo the
        largest face after an edit can be someone else. When no face is found there (a
        strong edit can defeat the detector), ``a``'s face box is used with landmarks
        re-predicted in ``b``. Photos of different sizes compare their largest faces.

    Returns
    -------
    float
        Below 0.6 means the same person by dlib's convention; 0 for identical faces.
    """
    from s2e_lib.face.detect import landmarks_for_box

    img_a, img_b = _as_image(a, "image a"), _as_image(b, "image b")
    if face_a is None:
        faces = detect_faces(img_a)
        if not faces:
            raise InputError(f"{a if not isinstance(a, np.ndarray) else 'image a'}: no face found")
        face_a = faces[0]
    if face_b is None:
        faces = detect_faces(img_b)
        if img_b.shape == img_a.shape:
            here = max(faces, key=lambda f: box_overlap(f.box, face_a.box), default=None)
            if here is None or box_overlap(here.box, face_a.box) < SAME_PLACE:
                here = Face(box=face_a.box, landmarks=landmarks_for_box(img_b, face_a.box))
            faces = [here]
        if not faces:
            raise InputError(f"{b if not isinstance(b, np.ndarray) else 'image b'}: no face found")
        face_b = faces[0]
    da = face_descriptor(img_a, face_a)
    db = face_descriptor(img_b, face_b)
    return float(np.linalg.norm(da - db))
