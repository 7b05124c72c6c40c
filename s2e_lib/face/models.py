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
    """dlib's HOG + linear SVM frontal face detector.

    dlib builds it from data compiled into the library, which takes 0.3–0.37 s on this
    project's 2-core machine (a quarter of what a cold ``s2e run`` spends above the bare
    import of torch and dlib); saved with dlib's own ``save``, the same detector loads in
    about 1 ms. So the first process saves it in the cache folder
    (:func:`detector_cache_path`, one file per dlib version, written atomically) and later
    ones load it; a missing, unreadable or foreign file is rebuilt, and a cache folder that
    cannot be written to only costs the 0.3 s.
    """
    dlib = _dlib()
    cached = detector_cache_path()
    if cached is not None and cached.is_file():
        try:
            loaded = dlib.fhog_object_detector(str(cached))
        except RuntimeError:  # truncated, or not a detector dlib can read
            loaded = None
        if loaded is not None and _is_frontal(loaded):
            return loaded
    built = dlib.get_frontal_face_detector()
    if cached is not None:
        _save_detector(built, cached)
    return built


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


#: What dlib's frontal face detector is: five HOG filters (front, left, right, front rotated
#: left and right) over an 80 × 80 window.
FRONTAL_DETECTORS, FRONTAL_WINDOW = 5, (80, 80)


def _is_frontal(found) -> bool:
    return (
        found.num_detectors == FRONTAL_DETECTORS
        and (
            found.detection_window_width,
            found.detection_window_height,
        )
        == FRONTAL_WINDOW
    )


def detector_cache_path() -> Path | None:
    """Where :func:`detector` keeps dlib's frontal detector (``<cache>/dlib/``, named with
    dlib's version), or None when no cache folder can be named."""
    try:
        from s2e_lib.paths import project_paths

        version = getattr(_dlib(), "__version__", "unknown")
        return project_paths().cache / "dlib" / f"frontal_face_detector-{version}.svm"
    except Exception:  # pragma: no cover - no home folder at all: build it every time
        return None


def _save_detector(built, path: Path) -> None:
    from s2e_lib.fileio import atomic_output

    try:
        with atomic_output(path, own_output=True) as tmp:
            built.save(str(tmp))
    except (OSError, RuntimeError):  # a read-only or full cache folder: build it next time too
        pass
