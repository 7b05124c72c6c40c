"""Paired training data for pix2pixHD: (neutral frame + emotion condition) → emotional frame.

:func:`build_dataset` reads a prepared tree (``<prepared>/frames.csv`` written by
``s2e prepare``) and writes an A/B folder pair plus a manifest::

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

:class:`PairDataset` serves the pairs to PyTorch with flips and 90° rotation.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image
from tqdm.auto import tqdm

from s2e_lib.edit.pix2pixhd.signs import (
    CONDITIONS,
    POSITIONS,
    draw_sign,
    image_to_tensor,
    label_channels,
    level_weight,
)
from s2e_lib.emotions import MISSION_EMOTIONS, parse_emotions
from s2e_lib.errors import InputError
from s2e_lib.fileio import atomic_output, write_text_atomic

FRAME_COLUMNS = ("speaker", "view", "emotion", "level", "utterance", "frame_index", "position", "path")
DATASET_FORMAT = "s2e-pix2pixhd-pairs/1"


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


# --- reading and pairing ----------------------------------------------------------------


def read_frames(prepared: str | os.PathLike) -> pd.DataFrame:
    """Read ``<prepared>/frames.csv`` and check its columns.

    Raises
    ------
    InputError
        When the folder or the file is missing, or a column is absent.
    """
    prepared = Path(prepared)
    path = prepared / "frames.csv"
    if not prepared.is_dir():
        raise InputError(f"{prepared}: prepared data folder not found")
    if not path.is_file():
        raise InputError(f"{path}: not found (run `s2e prepare ... --frames` first)")
    try:
        frames = pd.read_csv(path, dtype={"speaker": str, "view": str, "emotion": str, "utterance": str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not a readable CSV ({exc})") from None
    missing = [c for c in FRAME_COLUMNS if c not in frames.columns]
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(missing)}")
    if "aligned" not in frames.columns:
        frames["aligned"] = False
    frames["aligned"] = frames["aligned"].astype(str).str.lower().isin(("true", "1", "yes"))
    frames["level"] = pd.to_numeric(frames["level"], errors="coerce")
    frames["position"] = pd.to_numeric(frames["position"], errors="coerce")
    frames["frame_index"] = pd.to_numeric(frames["frame_index"], errors="coerce").fillna(0).astype(int)
    return frames


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
    """File name shared by a pair's A and B images."""
    level = "x" if pd.isna(row["level"]) else int(row["level"])
    utt = str(row["utterance"]) or "na"
    return f"{row['speaker']}_{row['view']}_{row['emotion']}_l{level}_{utt}_{int(row['frame_index']):05d}.png"


# --- images -----------------------------------------------------------------------------


def load_rgb(path: str | os.PathLike) -> np.ndarray:
    """An image file as RGB uint8 (H, W, 3); InputError naming the file if unreadable."""
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: cannot read image ({exc})") from None


def save_rgb(image: np.ndarray, path: str | os.PathLike) -> None:
    with atomic_output(path) as tmp:
        Image.fromarray(image).save(tmp, format="PNG")


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
        raise InputError(f"{previous}: unreadable ({exc}); use a new --out folder") from None
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

    out.mkdir(parents=True, exist_ok=True)
    _check_previous(out, settings)
    write_text_atomic(
        out / "dataset.json",
        json.dumps(
            {"format": DATASET_FORMAT, "prepared": str(prepared), "settings": settings.to_dict()}, indent=2
        ),
    )
    (out / "A").mkdir(exist_ok=True)
    (out / "B").mkdir(exist_ok=True)

    records, written, skipped = [], 0, 0
    cache: dict[str, np.ndarray] = {}
    for _, row in tqdm(pairs.iterrows(), total=len(pairs), desc="pairs", disable=not progress):
        name = pair_name(row)
        a_path, b_path = out / "A" / name, out / "B" / name
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


# --- the torch dataset -------------------------------------------------------------------


def read_pairs(root: str | os.PathLike) -> tuple[pd.DataFrame, dict]:
    """``pairs.csv`` and the settings of a built pair folder."""
    root = Path(root)
    meta_path, pairs_path = root / "dataset.json", root / "pairs.csv"
    if not root.is_dir():
        raise InputError(f"{root}: pair dataset folder not found")
    for path in (meta_path, pairs_path):
        if not path.is_file():
            raise InputError(f"{path}: not found (build the pairs with `s2e pix2pixhd build-dataset`)")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    pairs = pd.read_csv(pairs_path, dtype={"speaker": str, "view": str, "utterance": str, "utterance_a": str})
    if pairs.empty:
        raise InputError(f"{pairs_path}: no pairs")
    return pairs, meta["settings"]


def augment(image: np.ndarray, hflip: bool = False, vflip: bool = False, rot90: bool = False) -> np.ndarray:
    """Horizontal / vertical flip and 90° counter-clockwise rotation of an (H, W, C) array."""
    if hflip:
        image = image[:, ::-1]
    if vflip:
        image = image[::-1]
    if rot90:
        image = np.rot90(image)
    return np.ascontiguousarray(image)


class PairDataset(torch.utils.data.Dataset):
    """Pairs of a built folder as tensors in [-1, 1].

    ``dataset[i]`` returns ``{"input", "target", "index"}`` without augmentation;
    ``dataset[(i, hflip, vflip, rot90)]`` applies those (the training sampler decides
    them from the step number, so a resumed run sees the same batches).

    Parameters
    ----------
    root : path
        Output of :func:`build_dataset`.
    speakers : iterable of str, optional
        Keep only these speakers (for a held-out split).
    """

    def __init__(self, root: str | os.PathLike, speakers: Iterable[str] | None = None):
        self.root = Path(root)
        pairs, self.settings = read_pairs(self.root)
        if speakers is not None:
            pairs = pairs[pairs["speaker"].isin([str(s) for s in speakers])]
            if pairs.empty:
                raise InputError(f"{self.root}: no pairs of speakers {', '.join(map(str, speakers))}")
        self.pairs = pairs.reset_index(drop=True)
        self.condition = self.settings["condition"]
        self.emotions = tuple(self.settings["emotions"])
        self.size = int(self.settings["size"])

    def __len__(self) -> int:
        return len(self.pairs)

    @property
    def input_channels(self) -> int:
        return 3 + (len(self.emotions) if self.condition == "label" else 0)

    def images(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """The A and B images of pair ``index`` (RGB uint8)."""
        row = self.pairs.iloc[index]
        return load_rgb(self.root / row["a"]), load_rgb(self.root / row["b"])

    def __getitem__(self, item) -> dict:
        index, hflip, vflip, rot90 = item if isinstance(item, tuple) else (item, False, False, False)
        a, b = self.images(int(index))
        a, b = augment(a, hflip, vflip, rot90), augment(b, hflip, vflip, rot90)
        x = image_to_tensor(a)
        if self.condition == "label":
            row = self.pairs.iloc[int(index)]
            x = torch.cat([x, label_channels(row["emotion"], a.shape, self.emotions, float(row["weight"]))])
        return {"input": x, "target": image_to_tensor(b), "index": int(index)}


class StepBatchSampler(torch.utils.data.Sampler):
    """Batches of ``(index, hflip, vflip, rot90)`` determined by the step number alone.

    Step ``s`` uses positions ``s*batch_size ...`` of a sequence of per-epoch
    permutations seeded by ``(seed, epoch)``; augmentation flags come from a generator
    seeded by ``(seed, step)``. Starting at ``start_step`` therefore gives exactly the
    batches an uninterrupted run would have seen.
    """

    def __init__(
        self,
        n: int,
        batch_size: int,
        start_step: int,
        end_step: int,
        seed: int = 0,
        hflip: bool = True,
        vflip: bool = False,
        rot90: bool = False,
    ):
        self.n, self.batch_size = n, batch_size
        self.start_step, self.end_step, self.seed = start_step, end_step, seed
        self.hflip, self.vflip, self.rot90 = hflip, vflip, rot90
        self._perms: dict[int, torch.Tensor] = {}

    def __len__(self) -> int:
        return max(0, self.end_step - self.start_step)

    def _index(self, k: int) -> int:
        epoch = k // self.n
        if epoch not in self._perms:
            self._perms = {
                epoch: torch.randperm(
                    self.n, generator=torch.Generator().manual_seed(self.seed * 100003 + epoch)
                )
            }
        return int(self._perms[epoch][k % self.n])

    def batch(self, step: int) -> list[tuple[int, bool, bool, bool]]:
        g = torch.Generator().manual_seed(self.seed * 1000003 + step + 1)
        flags = torch.rand(self.batch_size, 3, generator=g) < 0.5
        out = []
        for i in range(self.batch_size):
            h, v, r = (bool(f) for f in flags[i])
            out.append(
                (
                    self._index(step * self.batch_size + i),
                    h and self.hflip,
                    v and self.vflip,
                    r and self.rot90,
                )
            )
        return out

    def __iter__(self):
        for step in range(self.start_step, self.end_step):
            yield self.batch(step)
