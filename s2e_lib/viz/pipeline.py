"""Figures of the end-to-end pipeline: the summary panel and the emotion timeline."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

#: One colour per mission emotion, used by every pipeline figure.
EMOTION_COLORS = {
    "angry": "#d62728",
    "neutral": "#7f7f7f",
    "fear": "#9467bd",
    "happy": "#ffbf00",
    "sad": "#1f77b4",
}


def _color(label: str) -> str:
    return EMOTION_COLORS.get(label, "#2ca02c")


def summary_figure(
    original: np.ndarray,
    edited: np.ndarray,
    probabilities: Mapping[str, float],
    emotion: str,
    strength: float,
    title: str = "",
):
    """Input | edited | probability bars, as one matplotlib Figure."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(12, 4.2), gridspec_kw={"width_ratios": [1, 1, 1.1]})
    for ax, image, name in (
        (axes[0], original, "input"),
        (axes[1], edited, f"edited: {emotion} ×{strength:.2f}"),
    ):
        ax.imshow(image if image.ndim == 3 else image, cmap=None if image.ndim == 3 else "gray")
        ax.set_title(name)
        ax.axis("off")
    labels = list(probabilities)
    values = [probabilities[k] for k in labels]
    bars = axes[2].barh(labels, values, color=[_color(k) for k in labels])
    for bar, value in zip(bars, values, strict=True):
        axes[2].text(min(value + 0.02, 0.9), bar.get_y() + bar.get_height() / 2, f"{value:.2f}", va="center")
    axes[2].set_xlim(0, 1)
    axes[2].invert_yaxis()
    axes[2].set_xlabel("probability")
    axes[2].set_title("voice emotion")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def timeline_figure(
    times: Sequence[float],
    probabilities: np.ndarray,
    labels: Sequence[str],
    raw: np.ndarray | None = None,
    audio: np.ndarray | None = None,
    sr: int = 16000,
):
    """Emotion probabilities over time (smoothed lines, raw as faint dots), waveform on top."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    rows = 2 if audio is not None else 1
    fig, axes = plt.subplots(
        rows,
        1,
        figsize=(11, 2.2 + 2.3 * rows),
        sharex=True,
        squeeze=False,
        gridspec_kw={"height_ratios": [1, 2.5] if rows == 2 else [1]},
    )
    axes = axes[:, 0]
    if audio is not None:
        t_audio = np.arange(audio.size) / sr
        axes[0].plot(t_audio, audio, color="0.3", linewidth=0.5)
        axes[0].set_ylabel("waveform")
    ax = axes[-1]
    for j, label in enumerate(labels):
        ax.plot(times, probabilities[:, j], color=_color(label), label=label, linewidth=2)
        if raw is not None:
            ax.scatter(times, raw[:, j], color=_color(label), s=6, alpha=0.35)
    ax.set_ylim(0, 1)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("probability")
    ax.legend(loc="upper right", ncol=len(labels), fontsize=8)
    fig.tight_layout()
    return fig
