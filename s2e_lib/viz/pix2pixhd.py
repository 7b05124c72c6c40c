"""Figures for the pix2pixHD stage: the signs, A/B pairs, loss curves, result grids.

:func:`sample_grid` / :func:`save_sample_grid` need only numpy and PIL (training calls
them); the plotting functions import matplotlib when called.
"""

from __future__ import annotations

import os

import numpy as np
import torch
from PIL import Image

from s2e_lib.face.io import save_image


def _to_uint8(batch: torch.Tensor, size: int | None = None) -> list[np.ndarray]:
    """(N, C, H, W) in [-1, 1] → list of RGB uint8 (first three channels), resized to ``size``."""
    images = []
    for t in batch:
        rgb = (
            t[:3]
            .detach()
            .float()
            .cpu()
            .clamp(-1, 1)
            .add(1)
            .mul(127.5)
            .round()
            .byte()
            .permute(1, 2, 0)
            .numpy()
        )
        if size is not None and rgb.shape[0] != size:
            rgb = np.asarray(Image.fromarray(rgb).resize((size, size), Image.Resampling.BILINEAR))
        images.append(rgb)
    return images


def sample_grid(
    inputs: torch.Tensor, outputs: torch.Tensor, targets: torch.Tensor, pad: int = 2
) -> np.ndarray:
    """One column per example, rows input | output | target, as an RGB uint8 array.

    Inputs with label channels show their image part; outputs of another size (the
    half-resolution G1 phase) are resized to the targets' size.
    """
    size = targets.shape[-1]
    rows = [_to_uint8(inputs, size), _to_uint8(outputs, size), _to_uint8(targets, size)]
    n = len(rows[0])
    grid = np.full((3 * size + 4 * pad, n * size + (n + 1) * pad, 3), 255, np.uint8)
    for r, row in enumerate(rows):
        for c, image in enumerate(row):
            y, x = pad + r * (size + pad), pad + c * (size + pad)
            grid[y : y + size, x : x + size] = image
    return grid


def save_sample_grid(
    inputs: torch.Tensor, outputs: torch.Tensor, targets: torch.Tensor, path: str | os.PathLike
) -> None:
    """Write :func:`sample_grid` as a PNG (atomically)."""
    save_image(sample_grid(inputs, outputs, targets), path, overwrite=True, format="PNG")


def plot_signs(signs: dict[str, np.ndarray], title: str = "The five signs"):
    """A row of sign images keyed by emotion."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(signs), figsize=(2.2 * len(signs), 2.6))
    for ax, (emotion, image) in zip(np.atleast_1d(axes), signs.items(), strict=True):
        ax.imshow(image)
        ax.set_title(emotion)
        ax.axis("off")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_pairs(dataset, indices=None, n: int = 5):
    """A (top) and B (bottom) of some pairs of a :class:`PairDataset`."""
    import matplotlib.pyplot as plt

    indices = (
        list(indices)
        if indices is not None
        else list(np.linspace(0, len(dataset) - 1, min(n, len(dataset))).astype(int))
    )
    fig, axes = plt.subplots(2, len(indices), figsize=(2.2 * len(indices), 4.6), squeeze=False)
    for col, index in enumerate(indices):
        a, b = dataset.images(int(index))
        row = dataset.pairs.iloc[int(index)]
        axes[0, col].imshow(a)
        axes[0, col].set_title(
            f"A {row['speaker']}/{row['view']}\n→ {row['emotion']} (w={row['weight']:.2f})", fontsize=8
        )
        axes[1, col].imshow(b)
        axes[1, col].set_title(f"B {row['emotion']} l{row['level']}", fontsize=8)
        for ax in axes[:, col]:
            ax.axis("off")
    fig.tight_layout()
    return fig


def plot_losses(losses, columns=("G_GAN", "G_feat", "G_VGG", "G_L1", "D_real", "D_fake", "L1")):
    """Training curves from ``losses.csv`` (a DataFrame), one panel per loss group."""
    import matplotlib.pyplot as plt

    groups = {
        "generator": [c for c in ("G_GAN", "G_feat", "G_VGG", "G_L1") if c in columns],
        "discriminator": [c for c in ("D_real", "D_fake") if c in columns],
        "L1 to target": [c for c in ("L1",) if c in columns],
    }
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.4))
    for ax, (title, cols) in zip(axes, groups.items(), strict=True):
        for col in cols:
            if col in losses and losses[col].abs().sum() > 0:
                ax.plot(losses["step"], losses[col], label=col)
        ax.set_title(title)
        ax.set_xlabel("step")
        if ax.lines:
            ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_results(inputs: torch.Tensor, outputs: torch.Tensor, targets: torch.Tensor, titles=None):
    """Rows input / output / target for a batch."""
    import matplotlib.pyplot as plt

    size = targets.shape[-1]
    rows = [_to_uint8(inputs, size), _to_uint8(outputs, size), _to_uint8(targets, size)]
    n = len(rows[0])
    fig, axes = plt.subplots(3, n, figsize=(2.2 * n, 6.8), squeeze=False)
    for r, (name, images) in enumerate(zip(("input", "output", "target"), rows, strict=True)):
        for c, image in enumerate(images):
            axes[r, c].imshow(image)
            axes[r, c].axis("off")
            if c == 0:
                axes[r, c].set_title(name, loc="left", fontsize=9)
            elif r == 0 and titles is not None:
                axes[r, c].set_title(titles[c], fontsize=8)
        if r == 0 and titles is not None:
            axes[0, 0].set_title(f"input: {titles[0]}", loc="left", fontsize=8)
    fig.tight_layout()
    return fig


def plot_heldout(report, n: int = 6, scale: float = 2.0):
    """Held-out people: rows neutral input / model's edit / real photo, one column each.

    ``report`` is :func:`s2e_lib.edit.pix2pixhd.evaluate.evaluate_heldout`'s; titles give
    the person and what the first judge names on the edit and on the real photo.
    """
    import matplotlib.pyplot as plt

    rows = report.rows.head(n)
    fig, axes = plt.subplots(3, len(rows), figsize=(scale * len(rows), scale * 3.1), squeeze=False)
    for col, row in enumerate(rows.itertuples()):
        images = report.edits[row.speaker]
        for r, (image, label) in enumerate(zip(images, ("input", "edit", "real"), strict=True)):
            ax = axes[r, col]
            ax.imshow(image)
            ax.set_xticks([])
            ax.set_yticks([])
            if col == 0:
                ax.set_ylabel(label)
        axes[0, col].set_title(f"{row.speaker}", fontsize=9)
        axes[1, col].set_title(f"judge: {row.fer_edit}", fontsize=8)
        axes[2, col].set_title(f"judge: {row.fer_real}", fontsize=8)
    fig.tight_layout()
    return fig
