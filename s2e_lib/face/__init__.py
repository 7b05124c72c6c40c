"""Faces: loading photos, dlib landmarks, FFHQ alignment, paste-back and identity.

>>> from s2e_lib.face import load_image, detect_faces, align_face, paste_back
>>> image = load_image("photo.jpg")                       # doctest: +SKIP
>>> face = detect_faces(image)[0]                         # .box, .landmarks (68, 2)
>>> aligned = align_face(image, size=1024, method="ffhq", face=face)
>>> restored = paste_back(image, aligned.image, aligned)  # ≈ image
"""

from s2e_lib.face.align import (
    FFHQ_5POINT_TEMPLATE_1024,
    METHODS,
    AlignedFace,
    align_face,
    alignment_matrix,
    feather_mask,
    paste_back,
    transform_points,
)
from s2e_lib.face.detect import MIN_FACE_PX, Face, detect_faces, landmarks_for_box, largest_face
from s2e_lib.face.identity import SAME_PERSON, face_descriptor, identity_distance
from s2e_lib.face.io import load_image, read_image, restore_mode, save_image, to_rgb

__all__ = [
    "FFHQ_5POINT_TEMPLATE_1024",
    "METHODS",
    "MIN_FACE_PX",
    "SAME_PERSON",
    "AlignedFace",
    "Face",
    "align_face",
    "alignment_matrix",
    "detect_faces",
    "face_descriptor",
    "feather_mask",
    "identity_distance",
    "landmarks_for_box",
    "largest_face",
    "load_image",
    "paste_back",
    "read_image",
    "restore_mode",
    "save_image",
    "to_rgb",
    "transform_points",
]
