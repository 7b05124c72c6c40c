"""IALS figures: edit grids (emotions × steps) as images, inversion loss, direction cosines."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from s2e_lib.face.io import save_image

_PLAIN = str.maketrans({"²": "^2", "—": "-", "–": "-", "·": "|", "λ": "lambda", "×": "x", "−": "-"})


def _plain(text: str) -> str:
    """Text PIL's default font can draw (it lacks ², —, λ ...)."""
    return str(text).translate(_PLAIN).encode("ascii", "replace").decode()


def compose_grid(
    rows: dict[str, list[np.ndarray]],
    cell: int = 256,
    label_width: int = 90,
    header: list[str] | None = None,
    title: str | None = None,
) -> np.ndarray:
    """Tile images into one RGB uint8 grid: one labelled row per key, one column per image.

    Parameters
    ----------
    rows : dict label → list of RGB uint8 images
        E.g. emotion → images along its edit (step 0 … n). Shorter rows are left blank.
    cell : int
        Side each image is resized to.
    header : list of str, optional
        Column captions (e.g. ``["step 0", "step 2", ...]``).
    title : str, optional
        A line of text on top (e.g. "untrained, for the mechanics only").
    """
    if not rows:
        raise ValueError("no rows to draw")
    n_cols = max(len(images) for images in rows.values())
    top = (20 if title else 0) + (18 if header else 0)
    width, height = label_width + n_cols * cell, top + len(rows) * cell
    canvas = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(canvas)
    if title:
        draw.text((4, 3), _plain(title), fill=(180, 0, 0))
    if header:
        for j, text in enumerate(header[:n_cols]):
            draw.text((label_width + j * cell + 4, top - 16), _plain(text), fill="black")
    for i, (label, images) in enumerate(rows.items()):
        y = top + i * cell
        draw.text((4, y + cell // 2 - 6), _plain(label), fill="black")
        for j, image in enumerate(images):
            tile = (
                Image.fromarray(np.asarray(image, dtype=np.uint8))
                .convert("RGB")
                .resize((cell, cell), Image.LANCZOS)
            )
            canvas.paste(tile, (label_width + j * cell, y))
    return np.asarray(canvas)


def save_grid(grid: np.ndarray, path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Write a grid image atomically (refusing to overwrite unless asked)."""
    return save_image(grid, path, overwrite=overwrite)


def plot_inversion_loss(losses: dict[str, list[float]], ax=None):
    """Inversion loss per iteration (log scale), total and its parts."""
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(6, 3.5))[1]
    for name, values in losses.items():
        if any(values):
            ax.plot(values, label=name)
    ax.set_yscale("log")
    ax.set_xlabel("iteration")
    ax.set_ylabel("summed squared error")
    ax.set_title("GAN inversion loss")
    ax.legend()
    return ax


def plot_pair(images: dict[str, np.ndarray], title: str | None = None):
    """Images side by side with captions (e.g. input vs reconstruction)."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(images), figsize=(3 * len(images), 3.2))
    for ax, (name, image) in zip(np.atleast_1d(axes), images.items(), strict=True):
        ax.imshow(image)
        ax.set_title(name)
        ax.axis("off")
    if title:
        fig.suptitle(title)
    return fig


def plot_cosines(
    names: list[str], matrix: np.ndarray, title: str = "cosine between attribute directions", ax=None
):
    """Heat map of pairwise cosines between directions."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    ax = ax or plt.subplots(figsize=(4.5, 4))[1]
    sns.heatmap(
        matrix,
        annot=True,
        fmt=".2f",
        vmin=-1,
        vmax=1,
        cmap="coolwarm",
        xticklabels=names,
        yticklabels=names,
        ax=ax,
    )
    ax.tick_params(axis="y", rotation=0)
    ax.set_title(title)
    return ax


def show_grid(grid: np.ndarray, title: str | None = None, width: float = 12.0):
    """Display a composed grid with matplotlib."""
    import matplotlib.pyplot as plt

    h, w = grid.shape[:2]
    fig, ax = plt.subplots(figsize=(width, width * h / w))
    ax.imshow(grid)
    ax.axis("off")
    if title:
        ax.set_title(title)
    return fig
