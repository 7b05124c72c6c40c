"""Plots of the speech emotion stage (notebook 02): data balance, features, curves, confusions."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: The label every figure of a smoke run carries (:func:`mark_smoke`).
SMOKE_LABEL = "smoke run (tiny data, a few epochs): not a result"


def mark_smoke(fig=None, label: str = SMOKE_LABEL):
    """Label ``fig`` (default: the current figure) as a smoke-run figure.

    The label goes above any existing suptitle, in red, and a faint "SMOKE RUN" watermark
    crosses the figure, so a saved or shared copy cannot pass for a result.
    """
    import matplotlib.pyplot as plt

    fig = fig if fig is not None else plt.gcf()
    existing = fig._suptitle.get_text() if fig._suptitle is not None else ""
    if existing:
        fig.suptitle(existing, y=0.99)
        fig.text(0.5, 1.0, label, ha="center", va="bottom", color="C3", fontsize=10, weight="bold")
    else:
        fig.suptitle(label, color="C3", fontsize=10, weight="bold")
        if not fig.get_constrained_layout():  # make room for it above the axes' titles
            fig.tight_layout()
    fig.text(
        0.5,
        0.5,
        "SMOKE RUN",
        ha="center",
        va="center",
        rotation=20,
        fontsize=48,
        color="C3",
        alpha=0.12,
        weight="bold",
        zorder=100,
    )
    return fig


def plot_class_balance(df, by: str = "emotion", hue: str | None = "speaker", ax=None):
    """Bar chart of clips per label (stacked by ``hue`` when given)."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.5))
    if hue and hue in df:
        table = df.groupby([by, hue]).size().unstack(fill_value=0)
        table.plot.bar(stacked=True, ax=ax, legend=len(table.columns) <= 12, width=0.8)
        if len(table.columns) <= 12:
            ax.legend(fontsize=7, ncol=2, title=hue)
    else:
        df[by].value_counts().sort_index().plot.bar(ax=ax)
    ax.set_ylabel("clips")
    ax.set_title(f"clips per {by}")
    return ax


def plot_mfcc_examples(clips: dict[str, np.ndarray], sr: int = 16_000, n_mfcc: int = 13):
    """For each label: the clip's MFCCs (image) and the original recipe's 216-value vector."""
    import librosa
    import matplotlib.pyplot as plt

    from s2e_lib.audio.features import original_recipe

    hop = 512  # librosa's default hop, for MFCCs here and in the original recipe
    fig, axes = plt.subplots(2, len(clips), figsize=(3.2 * len(clips), 5), squeeze=False)
    for col, (label, audio) in enumerate(clips.items()):
        mfcc = librosa.feature.mfcc(y=audio, sr=sr, n_mfcc=n_mfcc, hop_length=hop)
        duration = mfcc.shape[1] * hop / sr
        axes[0, col].imshow(
            mfcc, aspect="auto", origin="lower", cmap="magma", extent=(0, duration, -0.5, n_mfcc - 0.5)
        )
        axes[0, col].set_title(f"{label}: {n_mfcc} MFCCs")
        axes[0, col].set_xlabel("time (s)")
        recipe = original_recipe(audio, sr)
        # 2.5 s from 0.5 s at 44.1 kHz: one value per 512-sample hop
        axes[1, col].plot(0.5 + np.arange(recipe.size) * hop / 44_100, recipe, lw=0.8)
        axes[1, col].set_title("original recipe (216)")
        axes[1, col].set_xlabel("time (s)")
    axes[0, 0].set_ylabel("coefficient")
    axes[1, 0].set_ylabel("mean over 13 MFCCs")
    fig.tight_layout()
    return fig


def plot_history(histories: Sequence[Sequence[dict]] | Sequence[dict], title: str = ""):
    """Training loss, validation loss and validation balanced accuracy per epoch (one line per member)."""
    import matplotlib.pyplot as plt

    if histories and isinstance(histories[0], dict):
        histories = [histories]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    for k, history in enumerate(histories):
        epochs = [h["epoch"] for h in history]
        axes[0].plot(epochs, [h["train_loss"] for h in history], color=f"C{k}", label=f"train (member {k})")
        if history and "val_loss" in history[0]:
            axes[0].plot(
                epochs, [h["val_loss"] for h in history], "--", color=f"C{k}", label=f"validation ({k})"
            )
            axes[1].plot(epochs, [h["val_balanced_accuracy"] for h in history], color=f"C{k}")
    axes[0].set_xlabel("epoch")
    axes[0].set_ylabel("cross-entropy")
    axes[0].legend(fontsize=7)
    axes[1].set_xlabel("epoch")
    axes[1].set_ylabel("validation balanced accuracy")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_confusion(confusion, labels: Sequence[str], title: str = ""):
    """Seaborn heatmaps of a confusion matrix (rows true, columns predicted): counts and row-normalised."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    confusion = np.asarray(confusion)
    rows = confusion.sum(axis=1, keepdims=True)
    normalised = np.divide(confusion, rows, out=np.zeros_like(confusion, dtype=float), where=rows > 0)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    sns.heatmap(
        confusion,
        annot=True,
        fmt="d",
        cmap="Blues",
        xticklabels=labels,
        yticklabels=labels,
        ax=axes[0],
        cbar=False,
    )
    sns.heatmap(
        normalised,
        annot=True,
        fmt=".2f",
        cmap="Blues",
        vmin=0,
        vmax=1,
        xticklabels=labels,
        yticklabels=labels,
        ax=axes[1],
    )
    for ax, what in zip(axes, ("counts", "row-normalised (recall)"), strict=False):
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.tick_params(axis="y", rotation=0)  # upright names never run into the axis label
        ax.set_title(what)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_group_accuracy(table, by: str = "speaker", ax=None, title: str | None = None):
    """Accuracy per ``by`` group of a prediction table (columns ``emotion``, ``predicted``, ``by``)."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3))
    acc = (table["emotion"] == table["predicted"]).groupby(table[by]).mean()
    acc.plot.bar(ax=ax, color="C2")
    ax.axhline(1 / max(table["emotion"].nunique(), 1), color="grey", ls=":", label="chance")
    ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy")
    ax.set_title(title or f"accuracy per {by}")
    ax.legend()
    return ax


def plot_error(audio: np.ndarray, sr: int, true: str, probs: dict[str, float], ax=None):
    """Waveform-free view of one clip for listening: log-mel spectrogram (time in seconds,
    frequency in Hz on a mel scale) and the predicted probabilities."""
    import librosa
    import librosa.display
    import matplotlib.pyplot as plt

    hop = 512
    fig, axes = plt.subplots(1, 2, figsize=(10, 2.8), gridspec_kw={"width_ratios": [3, 1]})
    mel = librosa.power_to_db(
        librosa.feature.melspectrogram(y=audio, sr=sr, n_mels=64, hop_length=hop), ref=np.max
    )
    image = librosa.display.specshow(
        mel, sr=sr, hop_length=hop, x_axis="time", y_axis="mel", cmap="magma", ax=axes[0]
    )
    fig.colorbar(image, ax=axes[0], format="%+.0f dB", pad=0.01)
    axes[0].set_title(f"true: {true}")
    axes[0].set_xlabel("time (s)")
    axes[0].set_ylabel("frequency (Hz)")
    labels = list(probs)
    colors = ["C3" if k == true else "C0" for k in labels]
    axes[1].barh(labels, [probs[k] for k in labels], color=colors)
    axes[1].set_xlim(0, 1)
    axes[1].set_title("predicted")
    fig.tight_layout()
    return fig
