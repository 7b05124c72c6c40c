"""Building pix2pixHD's paired training data: (neutral frame + emotion condition) → emotional frame.

:func:`build_dataset` reads a prepared tree (``<prepared>/frames.csv`` written by
``s2e prepare``, read with :func:`s2e_lib.data.frames.read_frames`) and writes an A/B
folder pair plus a manifest::

    <out>/A/<name>.png      neutral frame of actor X, view V (with the sign drawn, for
                            the ``sign`` condition)
    <out>/B/<name>.png      frame of actor X, view V showing the emotion
    <out>/pairs.csv         one row per pair (who, which frames, condition weight)
    <out>/dataset.json      the settings (condition, size, sign position, ...)
    <out>/problems.csv      frames that could not be used, and why

Pairing (:func:`pair_frames`): for every frame B of an emotion, A is a neutral frame of
the same speaker and view, from the same utterance id when the speaker has one, at the
nearest relative position in the take. Neutral is never borrowed from another speaker
or view. The build is resumable: pairs whose two files exist are skipped.

:class:`~s2e_lib.edit.pix2pixhd.dataset.PairDataset` serves the pairs to PyTorch.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from tqdm.auto import tqdm

from s2e_lib.data.frames import read_frames
from s2e_lib.edit.pix2pixhd.dataset import DATASET_FORMAT, load_rgb
from s2e_lib.edit.pix2pixhd.signs import CONDITIONS, POSITIONS, draw_sign, level_weight
from s2e_lib.emotions import MISSION_EMOTIONS, parse_emotions
from s2e_lib.errors import InputError, one_line
from s2e_lib.face.io import save_image
from s2e_lib.fileio import atomic_output, output_lock, path_inside, safe_name, write_text_atomic


@dataclass
class BuildSettings:
    """How pairs are made and drawn; stored in ``dataset.json`` and in checkpoints.

    Attributes
    ----------
    condition : {"sign", "label"}
    size : int
        Side of the square crops written to A/ and B/.
    position : str
        Where the sign goes (``corner`` = top-left, or ``center`` as in the original).
    level_scale : bool
        Scale the condition by the intensity level (sign opacity / label value =
        level / 3); off means every pair gets the full condition.
    emotions : tuple of str
        Target emotions (neutral included: neutral → another neutral frame).
    align : bool
        Align frames not already aligned with ``s2e_lib.face.align_face``; otherwise
        they are centre-cropped to a square.
    align_method : str
        ``align_face`` method (``ffhq`` or ``five-point``).
    max_per_take : int or None
        Use at most this many evenly spaced B frames of each take.
    """

    condition: str = "sign"
    size: int = 256
    position: str = "corner"
    level_scale: bool = False
    emotions: tuple[str, ...] = MISSION_EMOTIONS
    align: bool = False
    align_method: str = "ffhq"
    max_per_take: int | None = None

    def __post_init__(self) -> None:
        if self.condition not in CONDITIONS:
            raise InputError(
                f"unknown condition {self.condition!r}; expected one of: {', '.join(CONDITIONS)}"
            )
        if self.position not in POSITIONS:
            raise InputError(
                f"unknown sign position {self.position!r}; expected one of: {', '.join(POSITIONS)}"
            )
        if int(self.size) < 8:
            raise InputError(f"size {self.size} is too small (at least 8 pixels)")
        self.size = int(self.size)
        self.emotions = tuple(parse_emotions(self.emotions, allowed=MISSION_EMOTIONS))

    def to_dict(self) -> dict:
        d = asdict(self)
        d["emotions"] = list(self.emotions)
        return d


@dataclass
class BuildReport:
    """What :func:`build_dataset` did."""

    out: Path
    pairs: pd.DataFrame
    problems: pd.DataFrame
    written: int = 0
    skipped: int = 0
    settings: dict = field(default_factory=dict)


# --- pairing ----------------------------------------------------------------------------


def _evenly(rows: pd.DataFrame, n: int | None) -> pd.DataFrame:
    if n is None or len(rows) <= n:
        return rows
    keep = np.unique(np.round(np.linspace(0, len(rows) - 1, n)).astype(int))
    return rows.iloc[keep]


def pair_frames(
    frames: pd.DataFrame, emotions: Iterable[str] = MISSION_EMOTIONS, max_per_take: int | None = None
) -> tuple[pd.DataFrame, list[dict]]:
    """Match every emotional frame B with a neutral frame A of the same speaker and view.

    A comes from the same utterance id when the speaker has neutral frames of it
    (``match = "utterance"``), otherwise from any neutral take (``match = "position"``);
    within the candidates, the nearest relative position wins (ties: first utterance,
    first frame). For neutral targets, A is another neutral frame when there is one.

    Returns
    -------
    pairs : DataFrame
        speaker, view, emotion, level, utterance, frame_index, position, path (B) and
        utterance_a, frame_index_a, position_a, path_a, aligned_a, aligned, match.
    problems : list of dict
        ``{"path": ..., "problem": ...}`` for groups without neutral frames.
    """
    emotions = tuple(emotions)
    frames = frames.copy()
    frames["position"] = frames["position"].fillna(0.5)
    frames["utterance"] = frames["utterance"].fillna("").astype(str)
    frames = frames.sort_values(
        ["speaker", "view", "emotion", "level", "utterance", "frame_index"], kind="stable"
    )
    rows: list[dict] = []
    problems: list[dict] = []
    for (speaker, view), group in frames.groupby(["speaker", "view"], sort=True):
        neutral = group[group["emotion"] == "neutral"]
        targets = group[group["emotion"].isin(emotions)]
        if targets.empty:
            continue
        if neutral.empty:
            problems.append(
                {
                    "path": f"{speaker}/{view}",
                    "problem": f"no neutral frames of speaker {speaker} view {view}; "
                    f"{len(targets)} frame(s) unpaired",
                }
            )
            continue
        take_keys = ["emotion", "level", "utterance"]
        for _, take in targets.groupby(take_keys, sort=True):
            for _, b in _evenly(take, max_per_take).iterrows():
                candidates = neutral
                if b["emotion"] == "neutral" and len(neutral) > 1:
                    candidates = neutral[neutral["path"] != b["path"]]
                if candidates.empty:  # every neutral row is this very frame
                    problems.append(
                        {
                            "path": str(b["path"]),
                            "problem": "no other neutral frame to pair it with; unpaired",
                        }
                    )
                    continue
                same = (
                    candidates[candidates["utterance"] == b["utterance"]]
                    if b["utterance"]
                    else candidates[:0]
                )
                pool, match = (same, "utterance") if len(same) else (candidates, "position")
                distance = (pool["position"] - b["position"]).abs().to_numpy()
                a = pool.iloc[int(np.argmin(distance))]
                rows.append(
                    {
                        "speaker": speaker,
                        "view": view,
                        "emotion": b["emotion"],
                        "level": b["level"],
                        "utterance": b["utterance"],
                        "frame_index": int(b["frame_index"]),
                        "position": float(b["position"]),
                        "path": b["path"],
                        "aligned": bool(b["aligned"]),
                        "utterance_a": a["utterance"],
                        "frame_index_a": int(a["frame_index"]),
                        "position_a": float(a["position"]),
                        "path_a": a["path"],
                        "aligned_a": bool(a["aligned"]),
                        "match": match,
                    }
                )
    columns = [
        "speaker", "view", "emotion", "level", "utterance", "frame_index", "position", "path", "aligned",
        "utterance_a", "frame_index_a", "position_a", "path_a", "aligned_a", "match",
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=columns), problems


def pair_name(row) -> str:
    """File name shared by a pair's A and B images.

    Its parts come from ``frames.csv``: each goes through :func:`s2e_lib.fileio.safe_name`,
    so a crafted field (``../../x``) can never name a file outside the output folder.
    """
    level = "x" if pd.isna(row["level"]) else int(row["level"])
    utt = str(row["utterance"]) or "na"
    parts = [safe_name(row["speaker"]), safe_name(row["view"]), safe_name(row["emotion"])]
    return f"{'_'.join(parts)}_l{level}_{safe_name(utt)}_{int(row['frame_index']):05d}.png"


# --- images -----------------------------------------------------------------------------


def save_rgb(image: np.ndarray, path: str | os.PathLike) -> None:
    save_image(image, path, overwrite=True, format="PNG")


def square_crop(image: np.ndarray, size: int) -> np.ndarray:
    """Centre-crop to a square and resize to ``size``×``size`` (area filter when shrinking)."""
    h, w = image.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    crop = image[top : top + side, left : left + side]
    if side == size:
        return np.ascontiguousarray(crop)
    return np.asarray(Image.fromarray(crop).resize((size, size), Image.Resampling.LANCZOS))


def prepare_frame(
    path: Path, size: int, aligned: bool, align: bool, align_method: str = "ffhq"
) -> np.ndarray:
    """Read one frame and bring it to ``size``: aligned frames are resized, others are
    aligned with ``s2e_lib.face.align_face`` (``align=True``) or centre-cropped."""
    image = load_rgb(path)
    if aligned or not align:
        return square_crop(image, size)
    from s2e_lib.face import align_face  # the face stage; only needed when aligning here

    return align_face(image, size=size, method=align_method).image


# --- building ----------------------------------------------------------------------------


def _check_previous(out: Path, settings: BuildSettings) -> None:
    previous = out / "dataset.json"
    if not previous.is_file():
        return
    try:
        old = json.loads(previous.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"{previous}: unreadable ({one_line(exc)}); use a new --out folder") from None
    old_settings = old.get("settings", {})
    new_settings = settings.to_dict()
    changed = [k for k in new_settings if old_settings.get(k) != new_settings[k]]
    if changed:
        raise InputError(
            f"{out}: built earlier with different settings ({', '.join(changed)}); use a new --out folder"
        )


def build_dataset(
    prepared: str | os.PathLike,
    out: str | os.PathLike,
    condition: str = "sign",
    size: int = 256,
    position: str = "corner",
    level_scale: bool = False,
    emotions: Iterable[str] = MISSION_EMOTIONS,
    align: bool = False,
    align_method: str = "ffhq",
    max_per_take: int | None = None,
    speakers: Iterable[str] | None = None,
    views: Iterable[str] | None = None,
    progress: bool = True,
) -> BuildReport:
    """Write the A/B pair folders, ``pairs.csv``, ``dataset.json`` and ``problems.csv``.

    Parameters
    ----------
    prepared : path
        A prepared tree with ``frames.csv`` (paths in it are relative to ``prepared``).
    out : path
        Output folder; rerunning with the same settings resumes (existing pairs are
        kept), different settings are refused.
    condition, size, position, level_scale, emotions, align, align_method, max_per_take
        See :class:`BuildSettings`.
    speakers, views : iterable of str, optional
        Keep only these speakers / camera views.
    progress : bool
        Show a tqdm bar.

    Returns
    -------
    BuildReport
    """
    prepared = Path(prepared)
    out = Path(out)
    settings = BuildSettings(
        condition, size, position, level_scale, tuple(emotions), align, align_method, max_per_take
    )
    frames = read_frames(prepared)
    if speakers is not None:
        frames = frames[frames["speaker"].isin([str(s) for s in speakers])]
    if views is not None:
        frames = frames[frames["view"].isin([str(v) for v in views])]
    pairs, problems = pair_frames(frames, settings.emotions, settings.max_per_take)
    if pairs.empty:
        detail = f" ({problems[0]['problem']})" if problems else ""
        raise InputError(f"{prepared / 'frames.csv'}: no neutral/emotion pairs could be made{detail}")

    with output_lock(out):  # one writer per dataset folder (as s2e run)
        _check_previous(out, settings)
        write_text_atomic(
            out / "dataset.json",
            json.dumps(
                {"format": DATASET_FORMAT, "prepared": str(prepared), "settings": settings.to_dict()},
                indent=2,
            ),
        )
        (out / "A").mkdir(exist_ok=True)
        (out / "B").mkdir(exist_ok=True)

        records, written, skipped = [], 0, 0
        cache: dict[str, np.ndarray] = {}
        for _, row in tqdm(pairs.iterrows(), total=len(pairs), desc="pairs", disable=not progress):
            name = pair_name(row)
            a_path, b_path = path_inside(out, "A", name), path_inside(out, "B", name)
            weight = level_weight(row["level"]) if settings.level_scale else 1.0
            if not (a_path.is_file() and b_path.is_file()):
                try:
                    if row["path_a"] not in cache:
                        cache.clear()  # neutral frames repeat in runs; keep only the last one
                        cache[row["path_a"]] = prepare_frame(
                            prepared / row["path_a"],
                            settings.size,
                            row["aligned_a"],
                            settings.align,
                            settings.align_method,
                        )
                    neutral = cache[row["path_a"]]
                    target = prepare_frame(
                        prepared / row["path"],
                        settings.size,
                        row["aligned"],
                        settings.align,
                        settings.align_method,
                    )
                except Exception as exc:  # a bad frame is a problem to report, not a crash
                    message = str(exc) if isinstance(exc, InputError) else f"{type(exc).__name__}: {exc}"
                    problems.append({"path": str(row["path"]), "problem": message})
                    continue
                a_image = (
                    draw_sign(neutral, row["emotion"], settings.position, weight)
                    if settings.condition == "sign"
                    else neutral
                )
                save_rgb(a_image, a_path)
                save_rgb(target, b_path)
                written += 1
            else:
                skipped += 1
            record = row.to_dict()
            record.update({"name": name, "a": f"A/{name}", "b": f"B/{name}", "weight": weight})
            record["source_a"] = record.pop("path_a")
            record["source_b"] = record.pop("path")
            records.append(record)

        first = ["name", "a", "b", "speaker", "view", "emotion", "level", "weight"]
        manifest = pd.DataFrame(records)
        if not manifest.empty:
            manifest = manifest[first + [c for c in manifest.columns if c not in first]]
        problems_df = pd.DataFrame(problems, columns=["path", "problem"])
        with atomic_output(out / "pairs.csv") as tmp:
            manifest.to_csv(tmp, index=False)
        with atomic_output(out / "problems.csv") as tmp:
            problems_df.to_csv(tmp, index=False)
        return BuildReport(out, manifest, problems_df, written, skipped, settings.to_dict())


__all__ = [
    "BuildReport",
    "BuildSettings",
    "build_dataset",
    "pair_frames",
    "pair_name",
    "prepare_frame",
    "read_frames",
    "save_rgb",
    "square_crop",
]
