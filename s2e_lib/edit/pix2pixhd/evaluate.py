"""Measuring a pix2pixHD expression model on held-out people.

:func:`evaluate_heldout` edits each held-out person's neutral **photo** with
:class:`~s2e_lib.edit.pix2pixhd.editor.Pix2PixHDEditor` (the path ``s2e edit`` takes) and
compares the result with the same person's real photo of the expression:

- **at the model's resolution**, in the pair's aligned crop (the neutral photo's FFHQ crop;
  the real expression photo brought onto it as the pair builder does): pixel L1 and two
  perceptual distances, DSSIM ((1 − SSIM) / 2, Wang et al. 2004) and the expression judge's
  feature distance (:meth:`s2e_lib.face.judge.FERJudge.feature_distance`), each beside the
  **identity baseline** (the neutral crop as it is);
- **on the whole photo**: what the two expression judges (:mod:`s2e_lib.face.judge`,
  :mod:`s2e_lib.face.judge_human`) name, on the edit and on the real photo, and the dlib
  identity distance from the neutral photo (the real photo's distance beside it, for scale).

The pairs' ``source_a`` / ``source_b`` columns (absolute paths written by
:func:`~s2e_lib.edit.pix2pixhd.frl.build_frl_pairs`) name the photos.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from s2e_lib.edit.pix2pixhd.dataset import load_rgb, read_pairs
from s2e_lib.errors import InputError


@dataclass
class HeldoutReport:
    """Per-pair measurements and their means (:func:`evaluate_heldout`).

    Attributes
    ----------
    rows : DataFrame
        One row per pair: speaker, emotion, ``l1`` / ``l1_identity``, ``dssim`` /
        ``dssim_identity``, ``feature`` / ``feature_identity``, ``fer_edit`` /
        ``fer_real`` / ``fer_input`` (the first judge's top label), the same with ``human_``
        when the second judge is installed, ``identity`` (edit vs neutral photo) and
        ``identity_real``.
    summary : dict
        Means, and per judge the rate at which it names the target emotion on the edits, on
        the real photos and on the unedited inputs, and ``ratio`` = edits ÷ real photos.
    edits : dict
        speaker → (neutral crop, edited crop, real crop), RGB uint8 at the model's size, for
        figures.
    """

    rows: pd.DataFrame
    summary: dict
    edits: dict = field(default_factory=dict)


def dssim(a: np.ndarray, b: np.ndarray) -> float:
    """Structural dissimilarity (1 − SSIM) / 2 of two RGB uint8 images (0 = identical)."""
    from skimage.metrics import structural_similarity

    return float((1.0 - structural_similarity(a, b, channel_axis=-1, data_range=255)) / 2.0)


def l1(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of two uint8 images on a 0–1 scale."""
    return float(np.abs(a.astype(np.float32) - b.astype(np.float32)).mean() / 255.0)


def evaluate_heldout(
    checkpoint: str | os.PathLike,
    data: str | os.PathLike,
    strength: float = 1.0,
    limit: int | None = None,
    progress: bool = True,
) -> HeldoutReport:
    """Edit every held-out neutral photo and measure it against the real expression photo.

    Parameters
    ----------
    checkpoint : path
        A run's ``generator.pt`` (or anything :class:`Pix2PixHDEditor` loads).
    data : path
        A pair folder whose ``pairs.csv`` has ``source_a`` / ``source_b`` photo paths
        (``<out>/heldout`` of :func:`~s2e_lib.edit.pix2pixhd.frl.build_frl_pairs`).
    strength : float
        Edit strength.
    limit : int, optional
        Only the first ``limit`` pairs (a smoke run).
    progress : bool
        Show a tqdm bar.

    Returns
    -------
    HeldoutReport
    """
    from s2e_lib.edit.pix2pixhd.editor import Pix2PixHDEditor
    from s2e_lib.edit.pix2pixhd.frl import pair_matrices
    from s2e_lib.face import judge, judge_human, largest_face
    from s2e_lib.face.identity import identity_distance

    pairs = read_photo_pairs(data)
    if limit is not None:
        pairs = pairs.head(int(limit))
    editor = Pix2PixHDEditor(checkpoint)
    size = editor.size
    fer = judge.FERJudge()
    human = judge_human.HumanEmotionJudge() if judge_human.available() else None
    rows, edits = [], {}
    for row in tqdm(pairs.itertuples(), total=len(pairs), desc="held-out people", disable=not progress):
        neutral, real = load_rgb(row.source_a), load_rgb(row.source_b)
        face_n = largest_face(neutral, where=str(row.source_a))
        face_r = largest_face(real, where=str(row.source_b))
        edited = editor.edit(neutral, row.emotion, strength, faces=[face_n]).image
        crop_m, real_m, _ = pair_matrices(face_n.landmarks, face_r.landmarks, size, editor.align_method)
        a, out, b = (
            aligned_crop(x, m, size) for x, m in ((neutral, crop_m), (edited, crop_m), (real, real_m))
        )
        box = judge.dlib_box(neutral, fer.grow)
        record = {
            "speaker": row.speaker,
            "emotion": row.emotion,
            "l1": l1(out, b),
            "l1_identity": l1(a, b),
            "dssim": dssim(out, b),
            "dssim_identity": dssim(a, b),
            "feature": fer.feature_distance(edited, _onto(real, real_m, crop_m, neutral.shape), box),
            "feature_identity": fer.feature_distance(
                neutral, _onto(real, real_m, crop_m, neutral.shape), box
            ),
            "fer_edit": fer.top(edited)[0],
            "fer_real": fer.top(real)[0],
            "fer_input": fer.top(neutral)[0],
            "identity": identity_distance(neutral, edited, face_a=face_n),
            "identity_real": identity_distance(neutral, real, face_a=face_n, face_b=face_r),
        }
        if human is not None:
            record.update(
                {
                    "human_edit": human.top(edited)[0],
                    "human_real": human.top(real)[0],
                    "human_input": human.top(neutral)[0],
                }
            )
        rows.append(record)
        edits[row.speaker] = (a, out, b)
    table = pd.DataFrame(rows)
    summary = summarize(table)
    summary["strength"] = float(strength)
    summary["strength_scale"] = editor.strength_scale
    return HeldoutReport(table, summary, edits)


def read_photo_pairs(data: str | os.PathLike) -> pd.DataFrame:
    """A pair folder's table, refused when it has no pairs or no photo paths
    (``source_a`` / ``source_b``, written by :func:`~s2e_lib.edit.pix2pixhd.frl.build_frl_pairs`)."""
    pairs, _ = read_pairs(data)  # refuses an empty folder
    missing = [c for c in ("source_a", "source_b") if c not in pairs.columns]
    if missing:
        raise InputError(f"{Path(data) / 'pairs.csv'}: no {missing[0]} column (photo paths of the pairs)")
    return pairs


def aligned_crop(image: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    """``image`` cut with an alignment ``matrix`` to ``size`` px (area filter, borders reflected)."""
    import cv2

    return cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REFLECT)


def _onto(real: np.ndarray, real_matrix: np.ndarray, neutral_matrix: np.ndarray, shape) -> np.ndarray:
    """The real expression photo moved onto the neutral photo's frame (so one face box fits both)."""
    import cv2

    from s2e_lib.face.align import invert_affine

    full = np.vstack([invert_affine(neutral_matrix), [0, 0, 1]]) @ np.vstack([real_matrix, [0, 0, 1]])
    return cv2.warpAffine(
        real, full[:2], (shape[1], shape[0]), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
    )


def summarize(rows: pd.DataFrame) -> dict:
    """Means of the distances and each judge's hit rates (see :class:`HeldoutReport`)."""
    summary: dict = {"pairs": int(len(rows))}
    for key in ("l1", "l1_identity", "dssim", "dssim_identity", "feature", "feature_identity"):
        summary[key] = float(rows[key].mean())
    summary["identity"] = float(rows["identity"].mean())
    summary["identity_real"] = float(rows["identity_real"].mean())
    for judge in ("fer", "human"):
        if f"{judge}_edit" not in rows:
            continue
        hits = {
            kind: float((rows[f"{judge}_{kind}"] == rows["emotion"]).mean())
            for kind in ("edit", "real", "input")
        }
        hits["ratio"] = hits["edit"] / hits["real"] if hits["real"] > 0 else float("nan")
        summary[judge] = hits
    return summary


def format_summary(summary: dict) -> str:
    """The summary as a few lines a person reads (``s2e pix2pixhd evaluate``)."""
    lines = [
        f"{summary['pairs']} held-out pairs; edit vs real photo (identity baseline: the input as it is)"
        + (
            f"; strength {summary['strength']:g} x scale {summary['strength_scale']:g}"
            if summary.get("strength_scale", 1.0) != 1.0
            else ""
        ),
        f"  L1            {summary['l1']:.4f}  (baseline {summary['l1_identity']:.4f})",
        f"  DSSIM         {summary['dssim']:.4f}  (baseline {summary['dssim_identity']:.4f})",
        f"  feature dist. {summary['feature']:.4f}  (baseline {summary['feature_identity']:.4f})",
        f"  identity      {summary['identity']:.3f}  (real photo {summary['identity_real']:.3f})",
    ]
    names = {"fer": "FER2013 judge (fer)", "human": "second judge (Human)"}
    for judge, name in names.items():
        if judge in summary:
            hits = summary[judge]
            lines.append(
                f"  {name}: names the target on {hits['edit']:.0%} of edits, {hits['real']:.0%} of real "
                f"photos, {hits['input']:.0%} of inputs (edits/real {hits['ratio']:.2f})"
            )
    return "\n".join(lines)


__all__ = ["HeldoutReport", "dssim", "evaluate_heldout", "format_summary", "l1", "summarize"]
