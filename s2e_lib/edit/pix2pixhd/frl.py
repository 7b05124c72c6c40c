"""Real training pairs for pix2pixHD: the Face Research Lab London Set (neutral → smiling).

The set (DeBruine & Jones 2017, CC BY 4.0, the participants consented to altered use)
photographs 102 adults front-on twice under one studio light: neutral (view 03) and smiling
(view 08). That is the original project's training setup with MEAD's video frames replaced by
still photos: **(neutral face + happy sign) → the same person smiling**. There is no other
emotion in the set, so a model trained here knows ``happy`` (and treats ``neutral`` as "leave
the face as it is").

Layout read (as ``../shared/data/frl_london`` holds it, see its ``SOURCE.md``)::

    <root>/neutral_front/NNN_03.jpg
    <root>/smiling_front/NNN_08.jpg
    <root>/london_info.csv          face_id, face_age, face_gender, face_eth (optional)

:func:`build_frl_pairs` writes two pair folders in the format
:class:`~s2e_lib.edit.pix2pixhd.dataset.PairDataset` reads (``A/``, ``B/``, ``pairs.csv``,
``dataset.json``, ``problems.csv``): ``<out>/train``, ``<out>/validation`` and
``<out>/heldout``, split by person (:func:`heldout_people`, :func:`validation_people`), plus
``<out>/split.csv``. The validation people choose what training cannot (the edit strength a
model's "1" means, :mod:`~s2e_lib.edit.pix2pixhd.calibrate`) so that the held-out people stay
unseen by every choice.

Alignment (:func:`align_pair`): the neutral photo is FFHQ-aligned from its own 68 dlib
landmarks; the smiling photo is first brought onto the neutral one by a similarity transform
of the points a smile does not move (eye corners, nose bridge and base), then cut with the
neutral photo's crop. So A and B differ by the expression, not by where FFHQ's recipe puts
the crop (the recipe uses the mouth corners, which a smile moves).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from s2e_lib.edit.pix2pixhd.build import BuildSettings, _check_previous, save_rgb
from s2e_lib.edit.pix2pixhd.dataset import DATASET_FORMAT, load_rgb
from s2e_lib.edit.pix2pixhd.signs import draw_sign
from s2e_lib.errors import InputError, one_line
from s2e_lib.fileio import atomic_output, output_lock, write_text_atomic

#: Landmarks (dlib 68) that a smile leaves in place: eye corners, nose bridge and nose base.
STABLE_POINTS = [36, 39, 42, 45, 27, 28, 29, 30, 31, 33, 35]
#: People held out by default: every fifth of the sorted ids (21 of the set's 102).
HELDOUT_EVERY = 5
#: Validation people by default: every fourth of the remaining sorted ids (21 of 81, leaving 60
#: to train on).
VALIDATION_EVERY = 4
#: The pair folders :func:`build_frl_pairs` writes, in order.
PARTS = ("train", "validation", "heldout")
#: The columns of each folder's ``pairs.csv``.
PAIR_COLUMNS = ["name", "a", "b", "speaker", "view", "emotion", "level", "weight", "source_a", "source_b"]
#: The set's credit, written into every dataset.json and checkpoint trained on it.
FRL_CREDIT = (
    "Face Research Lab London Set (L. DeBruine and B. Jones, 2017, doi:10.6084/m9.figshare.5047666.v5), "
    "CC BY 4.0; participants consented to use of their images in original or altered forms"
)


def read_frl(root: str | os.PathLike) -> pd.DataFrame:
    """The people of an FRL London folder with both views.

    Parameters
    ----------
    root : path
        Folder with ``neutral_front/NNN_03.jpg`` and ``smiling_front/NNN_08.jpg``.

    Returns
    -------
    DataFrame
        ``person`` (the 3-digit id), ``neutral``, ``smiling`` (paths), and ``age``, ``sex``,
        ``ethnicity`` when ``london_info.csv`` is there. Sorted by person.

    Raises
    ------
    InputError
        The folder or a view folder is missing, or no person has both views.
    """
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"{root}: FRL London folder not found")
    views = {"neutral": ("neutral_front", "_03"), "smiling": ("smiling_front", "_08")}
    found: dict[str, dict[str, Path]] = {}
    for view, (folder, suffix) in views.items():
        where = root / folder
        if not where.is_dir():
            raise InputError(f"{where}: not found (expected the FRL London layout, see docs/pix2pixhd.md)")
        for path in sorted(where.glob(f"*{suffix}.jpg")):
            person = path.stem[: -len(suffix)]
            found.setdefault(person, {})[view] = path
    rows = [
        {"person": person, "neutral": paths["neutral"], "smiling": paths["smiling"]}
        for person, paths in sorted(found.items())
        if len(paths) == 2
    ]
    if not rows:
        raise InputError(
            f"{root}: no person has both a neutral (NNN_03.jpg) and a smiling (NNN_08.jpg) photo"
        )
    people = pd.DataFrame(rows)
    info = root / "london_info.csv"
    if info.is_file():
        meta = pd.read_csv(info, dtype={"face_id": str})
        meta = meta.rename(
            columns={"face_id": "person", "face_age": "age", "face_gender": "sex", "face_eth": "ethnicity"}
        )
        meta["person"] = meta["person"].str.zfill(3)
        people = people.merge(meta, on="person", how="left")
    return people


def heldout_people(people, every: int = HELDOUT_EVERY) -> list[str]:
    """Every ``every``-th person of the sorted ids, starting with the first: a split by person
    that does not depend on a random generator (21 of FRL's 102 with ``every=5``)."""
    ids = sorted(str(p) for p in people)
    if every < 2:
        raise InputError(f"holdout: every {every} would hold out everyone; use 2 or more")
    return ids[::every]


def validation_people(people, heldout: list[str] | set[str], every: int = VALIDATION_EVERY) -> list[str]:
    """Every ``every``-th person of the sorted ids that are not held out, starting with the
    first (21 of FRL's 81 training people with ``every=4``); ``every=0`` gives none."""
    if every == 0:
        return []
    if every < 2:
        raise InputError(
            f"validation: every {every} would leave nobody to train on; use 0 (none) or 2 or more"
        )
    held = set(heldout)
    return [p for p in sorted(str(p) for p in people) if p not in held][::every]


def _landmarks(image: np.ndarray, where: str) -> np.ndarray:
    from s2e_lib.face import largest_face

    return largest_face(image, where=where).landmarks


def align_pair(
    neutral: np.ndarray, smiling: np.ndarray, size: int, method: str = "ffhq", where: str = "pair"
) -> tuple[np.ndarray, np.ndarray, float]:
    """Cut the same aligned square out of a person's neutral and smiling photos.

    Parameters
    ----------
    neutral, smiling : numpy.ndarray
        RGB photos of one person.
    size : int
        Side of the crops.
    method : {"ffhq", "ffhq-face", "five-point"}
        :func:`s2e_lib.face.align.alignment_matrix` recipe, applied to the neutral photo.
    where : str
        Name used in error messages.

    Returns
    -------
    a, b : numpy.ndarray
        Neutral and smiling crops, RGB uint8 ``size``².
    residual : float
        Root-mean-square distance (in crop pixels) left between the two photos' stable
        points after the similarity fit: how well the pair lines up.
    """
    lm_n = _landmarks(neutral, f"{where} (neutral)")
    lm_s = _landmarks(smiling, f"{where} (smiling)")
    crop, full, residual = pair_matrices(lm_n, lm_s, size, method)
    return _warp(neutral, crop, size), _warp(smiling, full, size), residual


def pair_matrices(
    neutral_landmarks: np.ndarray, smiling_landmarks: np.ndarray, size: int, method: str = "ffhq"
) -> tuple[np.ndarray, np.ndarray, float]:
    """The 2×3 matrices cutting a pair's shared crop (see :func:`align_pair`).

    Returns
    -------
    neutral_matrix, smiling_matrix : numpy.ndarray
        Photo pixels → crop pixels for the neutral and the smiling photo.
    residual : float
        RMS distance (crop pixels) between the two photos' stable points after the fit.
    """
    from s2e_lib.face.align import alignment_matrix, similarity_transform, transform_points

    lm_n, lm_s = np.asarray(neutral_landmarks), np.asarray(smiling_landmarks)
    to_neutral = similarity_transform(lm_s[STABLE_POINTS], lm_n[STABLE_POINTS])
    crop = alignment_matrix(lm_n, size, method)
    # smiling photo → neutral photo → crop, as one 2×3 matrix
    full = (np.vstack([crop, [0, 0, 1]]) @ np.vstack([to_neutral, [0, 0, 1]]))[:2]
    moved = transform_points(lm_s[STABLE_POINTS], full) - transform_points(lm_n[STABLE_POINTS], crop)
    return crop, full, float(np.sqrt((moved**2).sum(1).mean()))


def _warp(image: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    """``align_face``'s resampling: area averaging when shrinking strongly, else bilinear."""
    import cv2

    from s2e_lib.face.align import _downscaled_warp

    if np.sqrt(abs(np.linalg.det(matrix[:, :2]))) < 0.5:
        return _downscaled_warp(image, matrix, size)
    return cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


@dataclass
class FRLReport:
    """What :func:`build_frl_pairs` did."""

    out: Path
    train: Path
    heldout: Path
    validation: Path
    split: pd.DataFrame
    problems: pd.DataFrame
    written: int = 0
    skipped: int = 0


def build_frl_pairs(
    root: str | os.PathLike,
    out: str | os.PathLike,
    size: int = 128,
    condition: str = "sign",
    position: str = "corner",
    align_method: str = "ffhq-face",
    holdout_every: int = HELDOUT_EVERY,
    validation_every: int = VALIDATION_EVERY,
    people: int | None = None,
    progress: bool = True,
) -> FRLReport:
    """Write FRL London (neutral + happy condition → smiling) pairs, split by person.

    Parameters
    ----------
    root : path
        The FRL London folder (:func:`read_frl`).
    out : path
        Output folder: ``train/``, ``validation/`` and ``heldout/`` pair folders and
        ``split.csv``. Rerunning with the same settings resumes; different settings, or a
        different split of the same people, are refused.
    size : int
        Side of the aligned crops.
    condition, position : str
        As :class:`~s2e_lib.edit.pix2pixhd.build.BuildSettings` (the sign, or one-hot label
        planes; the sign in a corner or, as the original, at the centre).
    align_method : {"ffhq-face", "ffhq", "five-point"}
        Default ``ffhq-face``: FFHQ's square tightened to the face, so a 128-px model sees
        the mouth at about 40 px (at FFHQ's framing 20 px; a model trained so at 128 px drew
        no smile on held-out people, docs/pix2pixhd.md).
    holdout_every : int
        Hold out every n-th person (:func:`heldout_people`).
    validation_every : int
        Of the others, every n-th is a validation person (:func:`validation_people`; 0: none,
        ``validation/`` is then empty).
    people : int, optional
        Use only the first ``people`` ids (a quick run); the split is made over all of them
        first, so a person is held out or not whatever this is.
    progress : bool
        Show a tqdm bar.

    Returns
    -------
    FRLReport
        Folders, the split (person, part, age, sex, ethnicity, alignment residual) and the
        people that could not be used (no face found, unreadable photo).
    """
    everyone = read_frl(root)
    held = set(heldout_people(everyone["person"], holdout_every))
    checking = set(validation_people(everyone["person"], held, validation_every))
    people = everyone if people is None else everyone.head(int(people)).copy()
    out = Path(out)
    settings = BuildSettings(
        condition=condition, size=size, position=position, emotions=("happy",), align=True,
        align_method=align_method,
    )  # fmt: skip
    people["part"] = [
        "heldout" if p in held else "validation" if p in checking else "train" for p in people["person"]
    ]

    with output_lock(out):
        previous = out / "split.csv"  # a resumed build keeps the residuals measured before
        before = pd.read_csv(previous, dtype={"person": str}) if previous.is_file() else None
        if before is not None:
            parts = dict(zip(before["person"], before["part"], strict=True))
            moved = [
                p
                for p, part in zip(people["person"], people["part"], strict=True)
                if parts.get(p, part) != part
            ]
            if moved:
                raise InputError(
                    f"{previous}: a different split of the same people was built here (person {moved[0]} was "
                    f"{parts[moved[0]]}); use a new --out folder"
                )
        for part in PARTS:
            folder = out / part
            _check_previous(folder, settings)
            (folder / "A").mkdir(parents=True, exist_ok=True)
            (folder / "B").mkdir(exist_ok=True)
            write_text_atomic(
                folder / "dataset.json",
                json.dumps(
                    {
                        "format": DATASET_FORMAT,
                        "prepared": str(root),
                        "source": "frl_london",
                        "credit": FRL_CREDIT,
                        "settings": settings.to_dict(),
                    },
                    indent=2,
                ),
            )
        records: dict[str, list[dict]] = {part: [] for part in PARTS}
        problems: list[dict] = []
        residuals: dict[str, float] = (
            before.set_index("person")["residual_px"].dropna().to_dict() if before is not None else {}
        )
        written = skipped = 0
        for row in tqdm(people.itertuples(), total=len(people), desc="FRL pairs", disable=not progress):
            folder = out / row.part
            name = f"{row.person}_front_happy.png"
            a_path, b_path = folder / "A" / name, folder / "B" / name
            if a_path.is_file() and b_path.is_file():
                skipped += 1
            else:
                try:
                    a, b, residuals[row.person] = align_pair(
                        load_rgb(row.neutral), load_rgb(row.smiling), size, align_method, where=row.person
                    )
                except InputError as exc:  # no face found: a problem to report, not a crash
                    problems.append({"path": str(row.neutral), "problem": one_line(exc)})
                    continue
                save_rgb(draw_sign(a, "happy", position, 1.0) if condition == "sign" else a, a_path)
                save_rgb(b, b_path)
                written += 1
            records[row.part].append(
                {
                    "name": name, "a": f"A/{name}", "b": f"B/{name}", "speaker": row.person, "view": "front",
                    "emotion": "happy", "level": np.nan, "weight": 1.0, "source_a": str(Path(row.neutral).resolve()),
                    "source_b": str(Path(row.smiling).resolve()),
                }
            )  # fmt: skip
        for part, rows in records.items():
            with atomic_output(out / part / "pairs.csv") as tmp:
                pd.DataFrame(rows, columns=PAIR_COLUMNS).to_csv(tmp, index=False)
            members = set(people.person[people.part == part])
            part_problems = [p for p in problems if Path(p["path"]).stem[:-3] in members]
            with atomic_output(out / part / "problems.csv") as tmp:
                pd.DataFrame(part_problems, columns=["path", "problem"]).to_csv(tmp, index=False)
        split = people.drop(columns=["neutral", "smiling"]).copy()
        split["residual_px"] = split["person"].map(residuals)
        with atomic_output(out / "split.csv") as tmp:
            split.to_csv(tmp, index=False)
    if not records["train"]:
        raise InputError(f"{root}: no training pair could be made ({len(problems)} problem(s))")
    return FRLReport(
        out, out / "train", out / "heldout", out / "validation", split, pd.DataFrame(problems, columns=["path", "problem"]),
        written, skipped,
    )  # fmt: skip


__all__ = [
    "FRLReport",
    "FRL_CREDIT",
    "align_pair",
    "pair_matrices",
    "build_frl_pairs",
    "heldout_people",
    "validation_people",
    "read_frl",
]
