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


# --- direction files and latent codes (no weights needed) ----------------------------------


def plot_direction_cosines(data, datasets=("ffhq", "celebahq"), methods=("interfacegan", "ganspace", "ours")):
    """Cosine heat maps between attribute directions: one row per dataset, one column per
    method (``data``: :class:`~s2e_lib.edit.ials.geometry.DirectionData`)."""
    import matplotlib.pyplot as plt

    from s2e_lib.edit.ials.geometry import cosines

    panels = [(d, m) for d in datasets for m in methods if data.get(m, d)]
    rows = [d for d in datasets if any(p[0] == d for p in panels)]
    cols = [m for m in methods if any(p[1] == m for p in panels)]
    fig, axes = plt.subplots(len(rows), len(cols), figsize=(4.4 * len(cols), 3.9 * len(rows)), squeeze=False)
    for i, dataset in enumerate(rows):
        for j, method in enumerate(cols):
            ax = axes[i, j]
            if not data.get(method, dataset):
                ax.axis("off")
                continue
            names, matrix = cosines(data.get(method, dataset))
            plot_cosines(names, matrix, title=f"{method} · {dataset}", ax=ax)
    fig.suptitle(f"cosine between attribute directions ({data.label})", fontsize=10)
    fig.tight_layout()
    return fig


def plot_method_agreement(rows: list[dict], chance: float | None = None, ax=None):
    """Bars: per attribute, the cosine between each pair of methods' directions
    (``rows`` from :func:`~s2e_lib.edit.ials.geometry.method_agreement`); a band at ±2×chance."""
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(7, 3.6))[1]
    attrs = list(dict.fromkeys(r["attribute"] for r in rows))
    pairs = list(dict.fromkeys(r["pair"] for r in rows))
    width = 0.8 / max(len(pairs), 1)
    for k, pair in enumerate(pairs):
        values = {r["attribute"]: r["cosine"] for r in rows if r["pair"] == pair}
        xs = [i + (k - (len(pairs) - 1) / 2) * width for i, a in enumerate(attrs) if a in values]
        ax.bar(xs, [values[a] for a in attrs if a in values], width, label=pair)
    if chance:
        ax.axhspan(-2 * chance, 2 * chance, color="0.85", zorder=0, label="random vectors (±2 sd)")
    ax.axhline(0, color="black", lw=0.6)
    ax.set_xticks(range(len(attrs)), attrs)
    ax.set_ylim(-0.2, 1.0)
    ax.set_ylabel("cosine")
    ax.set_title("do the three methods agree on each attribute's direction?")
    ax.legend(fontsize=8)
    return ax


def plot_edit_leakage(names: list[str], edits: dict[str, np.ndarray], primary: str, ax=None):
    """Bars: the change of each attribute's projection per unit step of an edit of
    ``primary``, one group per attribute, one bar per edit direction (``edits``: label →
    row of :func:`~s2e_lib.edit.ials.geometry.leakage_matrix` for ``primary``)."""
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(7, 3.6))[1]
    width = 0.8 / max(len(edits), 1)
    others = [i for i, n in enumerate(names) if n != primary]
    for k, (label, row) in enumerate(edits.items()):
        xs = [j + (k - (len(edits) - 1) / 2) * width for j in range(len(others))]
        ax.bar(xs, [row[i] for i in others], width, label=label)
    ax.axhline(0, color="black", lw=0.6)
    ax.set_xticks(range(len(others)), [names[i] for i in others])
    ax.set_ylabel("change of projection per unit step")
    ax.set_title(f"a {primary} edit also moves ...")
    ax.legend(fontsize=8)
    return ax


def plot_layer_distances(distances: dict[str, np.ndarray], ax=None):
    """Distance of every W+ row of each code from the average code (a W code is flat)."""
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(6, 3.4))[1]
    for name, d in distances.items():
        ax.plot(range(len(d)), d, marker="o", ms=3, label=name)
    ax.set_xlabel("W+ row (0-1: 4², coarse ... 16-17: 1024², fine)")
    ax.set_ylabel("‖w_row − avg_code‖")
    ax.set_title("how far each style row is from the average face")
    ax.legend(fontsize=8)
    return ax


def plot_code_pca(result, names: list[str], layers: list[int], ax=None):
    """W+ rows on their first two principal components, coloured by code, labelled by row."""
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(5.5, 4.5))[1]
    codes = list(dict.fromkeys(names))
    for code in codes:
        idx = [i for i, n in enumerate(names) if n == code]
        ax.scatter(result.scores[idx, 0], result.scores[idx, 1], s=18, label=code)
        for i in idx:
            ax.annotate(str(layers[i]), result.scores[i, :2], fontsize=7, alpha=0.7)
    ev = result.explained
    ax.set_xlabel(f"PC1 ({100 * ev[0]:.1f} % of the variance)")
    ax.set_ylabel(f"PC2 ({100 * ev[1]:.1f} %)" if len(ev) > 1 else "PC2")
    ax.set_title("W+ rows of the real codes (numbers: row)")
    ax.legend(fontsize=8)
    return ax


def plot_edit_scores(paths: dict[str, np.ndarray], names: list[str], step: float, primary: str):
    """One panel per edit direction: every attribute's score along the steps of a
    ``primary`` edit (``paths``: label → (n_steps + 1, k) from
    :func:`~s2e_lib.edit.ials.geometry.edit_scores`)."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(paths), figsize=(4.2 * len(paths), 3.4), sharey=True, squeeze=False)
    for ax, (label, path) in zip(axes[0], paths.items(), strict=True):
        x = np.arange(len(path)) * step
        for k, name in enumerate(names):
            ax.plot(x, path[:, k], lw=2.5 if name == primary else 1.2, label=name)
        ax.set_title(label, fontsize=9)
        ax.set_xlabel(f"distance moved along the {primary} edit")
    axes[0, 0].set_ylabel("score ⟨w − avg, a⟩ (mean over rows)")
    axes[0, -1].legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_recipe_cosines(recipes: dict[str, tuple[float, float]], bound: float | None = None, ax=None):
    """cos(step, a) of instance-aware steps as a function of ``c = cos(a, s)``.

    ``recipes``: label → (λ1, step sign or size). ``bound``: an upper bound on the mean of
    ``c`` (a dashed line, the region left of it shaded)."""
    import matplotlib.pyplot as plt

    from s2e_lib.edit.ials.geometry import recipe_step_cosine

    ax = ax or plt.subplots(figsize=(6.5, 4))[1]
    c = np.linspace(-0.99, 0.99, 199)
    for label, (lam, step) in recipes.items():
        ax.plot(c, recipe_step_cosine(c, lam, step), label=label)
    if bound is not None:
        ax.axvspan(-1, bound, color="0.92", zorder=0)
        ax.axvline(bound, color="0.5", ls="--", lw=1, label=f"mean c ≤ {bound:.2f}")
    ax.axhline(0, color="black", lw=0.6)
    ax.set_xlim(-1, 1)
    ax.set_ylim(-1.05, 1.05)
    ax.set_xlabel("c = cos(a, s): attribute-level vs instance-specific direction")
    ax.set_ylabel("cos(step, a)  (+1: more of the attribute)")
    ax.set_title("where an instance-aware step points")
    ax.legend(fontsize=7, loc="lower left")
    return ax


def plot_instance_angles(rows: list[dict], title: str = "instance-specific vs attribute-level", ax=None):
    """Angle between ``s`` and ``a`` at each code, per attribute (``rows`` from
    :func:`~s2e_lib.edit.ials.geometry.instance_angles`), with the λ mixes' angles."""
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(6, 3.4))[1]
    attrs = list(dict.fromkeys(r["attribute"] for r in rows))
    mix_keys = [k for k in (rows[0] if rows else {}) if k.startswith("angle(a,mix")]
    for i, attr in enumerate(attrs):
        mine = [r for r in rows if r["attribute"] == attr]
        ax.scatter([i - 0.1] * len(mine), [r["angle(a,s)"] for r in mine], color="C0", s=16)
        for k, key in enumerate(mix_keys):
            ax.scatter([i + 0.1] * len(mine), [r[key] for r in mine], color=f"C{k + 1}", s=16, marker="x")
    ax.scatter([], [], color="C0", label="angle(a, s)")
    for k, key in enumerate(mix_keys):
        ax.scatter(
            [], [], color=f"C{k + 1}", marker="x", label=key.replace("angle(a,mix ", "mix ").rstrip(")")
        )
    ax.axhline(90, color="0.6", lw=0.8, ls=":")
    ax.set_xticks(range(len(attrs)), attrs)
    ax.set_ylim(0, 180)
    ax.set_ylabel("angle to a (degrees)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    return ax
