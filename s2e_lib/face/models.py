"""dlib's detector, landmark predictor and face descriptor, loaded once on first use.

The weights ship in the ``face_recognition_models`` wheel. It is located with
:func:`importlib.util.find_spec` and never imported: its ``__init__`` imports
``pkg_resources``, which is deprecated and slow to import.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

from s2e_lib.errors import MissingResourceError

PREDICTOR_68 = "shape_predictor_68_face_landmarks.dat"
DESCRIPTOR = "dlib_face_recognition_resnet_model_v1.dat"
CNN_DETECTOR = "mmod_human_face_detector.dat"


@functools.lru_cache(maxsize=1)
def models_dir() -> Path:
    """The folder holding dlib's ``.dat`` files inside ``face_recognition_models``."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise MissingResourceError(
            "face_recognition_models is not installed (pip install face_recognition_models)"
        )
    return Path(list(spec.submodule_search_locations)[0]) / "models"


def model_path(name: str) -> Path:
    path = models_dir() / name
    if not path.is_file():
        raise MissingResourceError(f"{path}: dlib model file is missing (reinstall face_recognition_models)")
    return path


def _dlib():
    try:
        import dlib
    except ImportError:  # pragma: no cover - dlib-bin is a core dependency
        raise MissingResourceError("dlib is not installed (pip install dlib-bin)") from None
    return dlib


@functools.lru_cache(maxsize=1)
def detector():
    """dlib's HOG + linear SVM frontal face detector."""
    return _dlib().get_frontal_face_detector()


@functools.lru_cache(maxsize=1)
def predictor68():
    """dlib's 68-point shape predictor (iBUG 300-W markup)."""
    return _dlib().shape_predictor(str(model_path(PREDICTOR_68)))


@functools.lru_cache(maxsize=1)
def descriptor_model():
    """dlib's ResNet face descriptor (128-d; < 0.6 Euclidean = same person)."""
    return _dlib().face_recognition_model_v1(str(model_path(DESCRIPTOR)))


@functools.lru_cache(maxsize=1)
def cnn_detector():
    """dlib's CNN (max-margin object detection) face detector: slower than the HOG one
    (about 1 s per 512 px photo on a CPU), used only to confirm weak detections."""
    return _dlib().cnn_face_detection_model_v1(str(model_path(CNN_DETECTOR)))
