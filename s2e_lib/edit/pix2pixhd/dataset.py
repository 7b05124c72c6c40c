"""Loading pix2pixHD's paired training data (built by :mod:`.build`) for PyTorch.

:func:`read_pairs` reads a built folder's ``pairs.csv`` and ``dataset.json``;
:class:`PairDataset` serves the pairs as tensors with flips and 90° rotation, in the
batches :class:`StepBatchSampler` derives from the step number alone.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image

from s2e_lib.edit.pix2pixhd.signs import image_to_tensor, label_channels
from s2e_lib.errors import InputError, one_line

DATASET_FORMAT = "s2e-pix2pixhd-pairs/1"


def load_rgb(path: str | os.PathLike) -> np.ndarray:
    """An image file as RGB uint8 (H, W, 3); InputError naming the file if unreadable."""
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: cannot read image ({one_line(exc)})") from None


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


def jitter_pair(
    a: np.ndarray, b: np.ndarray, grow: float, x: float, y: float, gains: tuple[float, float, float]
) -> tuple[np.ndarray, np.ndarray]:
    """The same resize-and-crop and colour gain for both images of a pair.

    Parameters
    ----------
    a, b : numpy.ndarray
        RGB uint8 images of one size.
    grow : float
        Enlarge by ``1 + grow`` (pix2pixHD's load size over its crop size), then cut the
        original size at the relative offset ``(x, y)`` in [0, 1].
    gains : tuple of 3 float
        Per-channel multipliers.
    """
    h, w = a.shape[:2]
    big_w, big_h = max(w, round(w * (1 + grow))), max(h, round(h * (1 + grow)))
    left, top = round(x * (big_w - w)), round(y * (big_h - h))
    gain = np.asarray(gains, np.float32)
    out = []
    for image in (a, b):
        if (big_w, big_h) != (w, h):
            image = np.asarray(Image.fromarray(image).resize((big_w, big_h), Image.Resampling.BILINEAR))
            image = image[top : top + h, left : left + w]
        out.append(np.clip(image.astype(np.float32) * gain, 0, 255).round().astype(np.uint8))
    return out[0], out[1]


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
        index, hflip, vflip, rot90, *jitter = item if isinstance(item, tuple) else (item, False, False, False)
        a, b = self.images(int(index))
        a, b = augment(a, hflip, vflip, rot90), augment(b, hflip, vflip, rot90)
        if jitter:
            a, b = jitter_pair(a, b, *jitter)
        x = image_to_tensor(a)
        if self.condition == "label":
            row = self.pairs.iloc[int(index)]
            x = torch.cat([x, label_channels(row["emotion"], a.shape, self.emotions, float(row["weight"]))])
        return {"input": x, "target": image_to_tensor(b), "index": int(index)}


class StepBatchSampler(torch.utils.data.Sampler):
    """Batches of ``(index, hflip, vflip, rot90)`` determined by the step number alone
    (plus ``crop_jitter, x, y, gains`` for :func:`jitter_pair` when jitter is on).

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
        crop_jitter: float = 0.0,
        color_jitter: float = 0.0,
    ):
        self.n, self.batch_size = n, batch_size
        self.start_step, self.end_step, self.seed = start_step, end_step, seed
        self.hflip, self.vflip, self.rot90 = hflip, vflip, rot90
        self.crop_jitter, self.color_jitter = float(crop_jitter), float(color_jitter)
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
        jitter = self.crop_jitter > 0 or self.color_jitter > 0
        draws = torch.rand(self.batch_size, 5, generator=g).tolist() if jitter else None
        out = []
        for i in range(self.batch_size):
            h, v, r = (bool(f) for f in flags[i])
            item = (
                self._index(step * self.batch_size + i),
                h and self.hflip,
                v and self.vflip,
                r and self.rot90,
            )
            if draws is not None:
                x, y, *c = draws[i]
                gains = tuple(1.0 + self.color_jitter * (2 * u - 1) for u in c)
                item = (*item, self.crop_jitter, x, y, gains)
            out.append(item)
        return out

    def __iter__(self):
        for step in range(self.start_step, self.end_step):
            yield self.batch(step)
