"""Figures of the end-to-end pipeline: the summary panel and the emotion timeline."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from s2e_lib.emotions import describe_edit

#: One colour per mission emotion, used by every pipeline figure.
EMOTION_COLORS = {
    "angry": "#d62728",
    "neutral": "#7f7f7f",
    "fear": "#9467bd",
    "happy": "#ffbf00",
    "sad": "#1f77b4",
}


#: Colour of a label outside the mission emotions.
OTHER_COLOR = "#2ca02c"


def _color(label: str) -> str:
    return EMOTION_COLORS.get(label, OTHER_COLOR)


def emotion_rgb(label: str) -> tuple[int, int, int]:
    """The colour of ``label`` in every pipeline figure, as 0–255 RGB (the animation's
    caption, bars and GIF palette use these exact values)."""
    value = _color(label).lstrip("#")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


def summary_image(
    original: np.ndarray,
    edited: np.ndarray,
    probabilities: Mapping[str, float],
    emotion: str,
    strength: float,
    title: str = "",
    height: int = 360,
) -> np.ndarray:
    """Input | edited | probability bars, as one RGB uint8 image.

    Drawn with Pillow rather than matplotlib: ``s2e run`` then never imports matplotlib,
    which saves ~0.7 s of every cold start and ~0.3 s per pair.
    """
    from PIL import Image, ImageDraw, ImageFont

    def panel(image: np.ndarray) -> Image.Image:
        im = Image.fromarray(np.ascontiguousarray(image[..., :3]) if image.ndim == 3 else image).convert(
            "RGB"
        )
        return im.resize((max(1, round(im.width * height / im.height)), height), Image.LANCZOS)

    left, right = panel(original), panel(edited)
    bars_width, pad, head = 420, 16, 56
    width = left.width + right.width + bars_width + 4 * pad
    canvas = Image.new("RGB", (width, height + head + pad), "white")
    draw = ImageDraw.Draw(canvas)
    big, small = ImageFont.load_default(size=20), ImageFont.load_default(size=16)
    if title:
        draw.text((width // 2, 4), title, fill=(30, 30, 30), font=small, anchor="mt")
    x = pad
    for im, caption in ((left, "input"), (right, f"edited: {describe_edit(emotion, strength)}")):
        canvas.paste(im, (x, head))
        draw.text((x + im.width // 2, head - 6), caption, fill=(30, 30, 30), font=big, anchor="mb")
        x += im.width + pad
    x += pad
    draw.text((x + bars_width // 2, head - 6), "voice emotion", fill=(30, 30, 30), font=big, anchor="mb")
    labels = list(probabilities)
    row = height / max(1, len(labels))
    label_width, bar_room = 80, bars_width - 80 - 50
    for i, label in enumerate(labels):
        y = head + i * row + row / 2
        value = float(probabilities[label])
        draw.text((x + label_width - 8, y), label, fill=(30, 30, 30), font=small, anchor="rm")
        x0 = x + label_width
        draw.rectangle(
            [x0, y - row * 0.3, x0 + max(1.0, bar_room * value), y + row * 0.3], fill=_color(label)
        )
        draw.text((x0 + bar_room * value + 6, y), f"{value:.2f}", fill=(30, 30, 30), font=small, anchor="lm")
    draw.line([x + label_width, head, x + label_width, head + height], fill=(120, 120, 120), width=1)
    return np.asarray(canvas)


def timeline_figure(
    times: Sequence[float],
    probabilities: np.ndarray,
    labels: Sequence[str],
    raw: np.ndarray | None = None,
    audio: np.ndarray | None = None,
    sr: float = 16000,
    speech_spans: np.ndarray | None = None,
    title: str | None = None,
):
    """Emotion probabilities over time (smoothed lines, raw as faint dots), waveform on top.

    ``speech_spans`` ((start, stop) seconds) are shaded in every panel; the legend sits
    under the plot so it never covers the curves.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    rows = 2 if audio is not None else 1
    fig, axes = plt.subplots(
        rows,
        1,
        figsize=(11, 2.9 + 2.3 * rows),
        sharex=True,
        squeeze=False,
        gridspec_kw={"height_ratios": [1, 2.5] if rows == 2 else [1]},
    )
    axes = axes[:, 0]
    shaded = speech_spans is not None and len(speech_spans) > 0
    for axis in axes if shaded else ():
        spans = np.asarray(speech_spans, dtype=float).reshape(-1, 2)
        axis.broken_barh(
            [(a, b - a) for a, b in spans],
            (0, 1),
            transform=axis.get_xaxis_transform(),  # full height whatever the y range
            facecolor="0.88",
            edgecolor="none",
            zorder=0,
        )
    if audio is not None:
        t_audio = np.arange(audio.size) / sr
        axes[0].plot(t_audio, audio, color="0.3", linewidth=0.5)
        axes[0].set_ylabel("waveform")
    ax = axes[-1]
    handles = []
    for j, label in enumerate(labels):
        (line,) = ax.plot(times, probabilities[:, j], color=_color(label), label=label, linewidth=2)
        handles.append(line)
        if raw is not None:
            ax.scatter(times, raw[:, j], color=_color(label), s=6, alpha=0.35)
    if shaded:
        handles.append(Patch(facecolor="0.88", edgecolor="0.6", label="speech detected"))
    ax.set_ylim(0, 1)
    ax.set_xlim(
        0, max(float(np.max(times)) if len(times) else 0.0, audio.size / sr if audio is not None else 0.0)
    )
    ax.set_xlabel("time (s)")
    ax.set_ylabel("probability")
    legend_title = "smoothed probability" + (" (dots: per window)" if raw is not None else "")
    ax.legend(
        handles=handles,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.14),
        ncol=len(handles),
        fontsize=10,
        title=legend_title,
        title_fontsize=9,
        frameon=False,
    )
    fig.suptitle(title or "Emotion heard in the voice over time", fontsize=13)
    fig.tight_layout()
    return fig
