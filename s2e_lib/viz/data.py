"""Plots of the data stage: corpus counts, durations, clips (waveform, spectrogram, MFCC), frames."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from s2e_lib.emotions import MISSION_EMOTIONS


def _ordered(values, order=MISSION_EMOTIONS) -> list[str]:
    values = list(dict.fromkeys(values))
    return [v for v in order if v in values] + sorted(v for v in values if v not in order)


def plot_counts(df: pd.DataFrame, ax=None, title: str = "Takes per speaker and emotion"):
    """Seaborn heatmap of the number of takes per speaker (rows) and emotion (columns)."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    table = pd.crosstab(df["speaker"], df["emotion"])
    table = table[_ordered(table.columns)]
    if ax is None:
        _, ax = plt.subplots(figsize=(1.2 * len(table.columns) + 2, 0.35 * len(table) + 1.5))
    sns.heatmap(table, annot=True, fmt="d", cmap="Blues", cbar=False, ax=ax)
    ax.set_title(title)
    ax.set_xlabel("emotion")
    ax.set_ylabel("speaker")
    return ax


def plot_durations(df: pd.DataFrame, ax=None, bins: int = 30):
    """Histogram of take durations (seconds), stacked by emotion."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    data = df.dropna(subset=["duration"])
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.2))
    sns.histplot(
        data,
        x="duration",
        hue="emotion",
        hue_order=_ordered(data["emotion"]),
        multiple="stack",
        bins=bins,
        ax=ax,
    )
    ax.set_xlabel("duration (s)")
    ax.set_title(f"Take durations (median {data['duration'].median():.2f} s, n={len(data)})")
    return ax


def plot_clips(clips: dict[str, np.ndarray], sr: int = 16_000, n_mfcc: int = 13):
    """One column per clip (label -> audio): waveform, log-mel spectrogram, MFCC."""
    import librosa
    import librosa.display
    import matplotlib.pyplot as plt

    n = len(clips)
    fig, axes = plt.subplots(3, n, figsize=(3.2 * n, 7), squeeze=False, sharey="row")
    for col, (label, audio) in enumerate(clips.items()):
        t = np.arange(len(audio)) / sr
        axes[0, col].plot(t, audio, lw=0.4)
        axes[0, col].set_title(label)
        axes[0, col].set_xlim(0, t[-1] if len(t) else 1)
        mel = librosa.power_to_db(librosa.feature.melspectrogram(y=audio, sr=sr, n_mels=64), ref=np.max)
        librosa.display.specshow(mel, sr=sr, x_axis="time", y_axis="mel", ax=axes[1, col])
        # c0 (the frame's level) left out: it dwarfs the shape coefficients on one colour scale
        mfcc = librosa.feature.mfcc(y=audio, sr=sr, n_mfcc=n_mfcc + 1)[1:]
        librosa.display.specshow(mfcc, sr=sr, x_axis="time", ax=axes[2, col])
        for row in range(3):
            axes[row, col].set_xlabel("time (s)" if row == 2 else "")
            if col:
                axes[row, col].set_ylabel("")
    axes[0, 0].set_ylabel("amplitude")
    axes[1, 0].set_ylabel("mel (Hz)")
    axes[2, 0].set_ylabel(f"MFCC 1-{n_mfcc}")
    fig.tight_layout()
    return fig


def contact_sheet(
    frames: pd.DataFrame,
    root: str | os.PathLike,
    n: int = 15,
    cols: int = 5,
    thumb: int = 128,
    label: str = "{speaker} {emotion} L{level} #{frame_index}",
):
    """A grid of up to ``n`` frames (rows of ``frames.csv``, paths relative to ``root``).

    Frames are picked evenly across emotions (one per emotion in turn) so every emotion
    shows up.
    """
    import cv2
    import matplotlib.pyplot as plt

    root = Path(root)
    picked = _spread(frames, n)
    rows = max(1, int(np.ceil(len(picked) / cols)))
    fig, axes = plt.subplots(rows, cols, figsize=(2.1 * cols, 2.3 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, (_, row) in zip(axes.ravel(), picked.iterrows(), strict=False):
        image = cv2.imread(str(root / row["path"]))
        if image is None:
            ax.set_title("unreadable", fontsize=8)
            continue
        image = cv2.resize(
            cv2.cvtColor(image, cv2.COLOR_BGR2RGB), (thumb, thumb), interpolation=cv2.INTER_AREA
        )
        ax.imshow(image)
        ax.set_title(label.format(**row.to_dict()), fontsize=8)
    fig.tight_layout()
    return fig


def _spread(frames: pd.DataFrame, n: int) -> pd.DataFrame:
    """Up to ``n`` rows, round-robin over emotions, evenly spaced within each emotion."""
    if frames.empty:
        return frames
    by_emotion = {e: g for e, g in frames.groupby("emotion", sort=False)}
    per = int(np.ceil(n / len(by_emotion)))
    queues = []
    for emotion in _ordered(by_emotion):
        g = by_emotion[emotion]
        idx = np.unique(np.linspace(0, len(g) - 1, min(per, len(g))).round().astype(int))
        queues.append([g.iloc[i] for i in idx])
    picked = []
    for i in range(per):
        for q in queues:
            if i < len(q) and len(picked) < n:
                picked.append(q[i])
    return pd.DataFrame(picked)


# --- corpus survey (s2e_lib.data.survey) --------------------------------------------------


def plot_corpus_emotions(clips: pd.DataFrame, ax=None, title: str = "Clips per emotion and corpus"):
    """Grouped bar chart of clips per corpus (x) and emotion (bars), a survey table's rows.

    An emotion a corpus lacks leaves a gap in its group: class balance and missing classes
    at one glance.
    """
    import matplotlib.pyplot as plt
    import seaborn as sns

    order = sorted(clips["corpus"].unique())
    if ax is None:
        _, ax = plt.subplots(figsize=(1.9 * len(order) + 3, 3.6))
    sns.countplot(clips, x="corpus", hue="emotion", order=order, hue_order=_ordered(clips["emotion"]), ax=ax)
    ax.set_title(title)
    ax.set_ylabel("clips")
    ax.legend(title="emotion", bbox_to_anchor=(1.01, 1), loc="upper left", frameon=False)
    return ax


def plot_corpus_durations(clips: pd.DataFrame, bins: int = 30):
    """One duration histogram per corpus (each on its own scale), with its median and total hours."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    data = clips.dropna(subset=["duration"])
    order = sorted(data["corpus"].unique())
    fig, axes = plt.subplots(1, max(1, len(order)), figsize=(3.2 * max(1, len(order)), 2.9), squeeze=False)
    for ax, corpus in zip(axes[0], order, strict=False):
        these = data[data["corpus"] == corpus]["duration"]
        sns.histplot(x=these, bins=bins, ax=ax, color="C0")
        ax.axvline(these.median(), color="C3", lw=1.2)
        ax.set_title(f"{corpus}: {these.sum() / 3600:.2f} h, median {these.median():.2f} s", fontsize=9)
        ax.set_xlabel("clip duration (s)")
    for ax in axes[0][1:]:
        ax.set_ylabel("")
    fig.tight_layout()
    return fig


def plot_loudness_by_emotion(
    clips: pd.DataFrame,
    column: str = "loudness_lufs",
    ax=None,
    title: str = "Loudness per emotion (BS.1770 integrated, whole clip)",
):
    """Box plots of a level column (``loudness_lufs`` or ``active_level_dbfs``) per corpus
    (x) and emotion (boxes)."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    data = clips.dropna(subset=[column])
    order = sorted(data["corpus"].unique())
    if ax is None:
        _, ax = plt.subplots(figsize=(1.9 * len(order) + 3, 3.8))
    sns.boxplot(
        data,
        x="corpus",
        y=column,
        hue="emotion",
        order=order,
        hue_order=_ordered(data["emotion"]),
        fliersize=1.5,
        linewidth=0.8,
        ax=ax,
    )
    ax.set_ylabel("LUFS" if column == "loudness_lufs" else "dBFS" if column.endswith("dbfs") else column)
    ax.set_title(title)
    ax.legend(title="emotion", bbox_to_anchor=(1.01, 1), loc="upper left", frameon=False)
    return ax


def plot_speakers(clips: pd.DataFrame):
    """Left: speakers per corpus, stacked by gender (``f``, ``m``, unknown); right: clips per
    speaker in each corpus (one dot per speaker)."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    order = sorted(clips["corpus"].unique())
    speakers = clips.drop_duplicates(["corpus", "speaker"]).copy()
    speakers["gender"] = speakers["gender"].fillna("").replace({"f": "female", "m": "male", "": "not given"})
    table = pd.crosstab(speakers["corpus"], speakers["gender"]).reindex(order).fillna(0)
    table = table[[g for g in ("female", "male", "not given") if g in table.columns]]
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.4), gridspec_kw={"width_ratios": [1, 1.3]})
    colours = {"female": "C1", "male": "C0", "not given": "0.7"}
    table.plot.bar(stacked=True, ax=axes[0], color=[colours[g] for g in table.columns], rot=0)
    axes[0].set_title("Speakers per corpus")
    axes[0].set_ylabel("speakers")
    axes[0].legend(frameon=False, loc="upper right")
    per = clips.groupby(["corpus", "speaker"]).size().rename("clips").reset_index()
    sns.stripplot(per, x="corpus", y="clips", order=order, ax=axes[1], size=4, jitter=0.25)
    axes[1].set_title("Clips per speaker")
    axes[1].set_ylabel("clips")
    fig.tight_layout()
    return fig
