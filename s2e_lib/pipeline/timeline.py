"""Emotion over time: sliding-window speech emotion, smoothing, and a face that follows it.

Decisions (docs/pipeline.md):

- Windows of ``window_s`` seconds every ``hop_s`` seconds are classified by the speech
  model; the per-window probabilities are smoothed over time with a Gaussian of
  ``smooth_s`` seconds (standard deviation) and renormalised.
- The animated face shows, at each video frame, the smoothed top emotion with strength
  ``auto_strength(p) × min(1, margin / MARGIN_FULL)`` where ``margin`` is the gap between
  the top two probabilities. The strength is therefore continuous in time and falls to 0
  exactly where the top emotion changes, so the face passes through its neutral pose
  instead of jumping between expressions.
- Frames are rendered once per distinct (emotion, strength rounded to 0.02) and reused.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from s2e_lib.pipeline.strength import auto_strength

MARGIN_FULL = 0.15


@dataclass
class Timeline:
    """Per-window emotion probabilities of one recording."""

    times: np.ndarray  # window centres (s)
    raw: np.ndarray  # (n_windows, n_labels)
    smoothed: np.ndarray  # (n_windows, n_labels)
    labels: list[str]
    duration: float

    def top(self) -> list[str]:
        return [self.labels[i] for i in self.smoothed.argmax(axis=1)]

    def at(self, t: float) -> np.ndarray:
        """Smoothed probabilities at time ``t`` (linear interpolation between windows)."""
        return np.array([np.interp(t, self.times, self.smoothed[:, j]) for j in range(len(self.labels))])

    def to_records(self) -> list[dict]:
        return [
            {
                "time": round(float(t), 3),
                "emotion": self.labels[int(p.argmax())],
                **{label: round(float(v), 4) for label, v in zip(self.labels, p, strict=True)},
            }
            for t, p in zip(self.times, self.smoothed, strict=True)
        ]


def smooth_probabilities(probabilities: np.ndarray, hop_s: float, smooth_s: float) -> np.ndarray:
    """Gaussian smoothing along time (``smooth_s`` = std in seconds), rows renormalised."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if smooth_s <= 0 or probabilities.shape[0] < 2:
        return probabilities.copy()
    from scipy.ndimage import gaussian_filter1d

    smoothed = gaussian_filter1d(probabilities, sigma=smooth_s / hop_s, axis=0, mode="nearest")
    return smoothed / smoothed.sum(axis=1, keepdims=True)


def emotion_timeline(
    audio: np.ndarray, sr: int, model, window_s: float = 2.0, hop_s: float = 0.5, smooth_s: float = 1.0
) -> Timeline:
    """Classify sliding windows of ``audio`` with ``model`` and smooth over time."""
    times, probs = model.predict_windows(audio, sr, window_s, hop_s)
    probs = np.asarray(probs, dtype=np.float64)
    return Timeline(
        np.asarray(times, dtype=np.float64),
        probs,
        smooth_probabilities(probs, hop_s, smooth_s),
        list(model.labels),
        audio.size / sr,
    )


def expression_at(probabilities: np.ndarray, labels: list[str]) -> tuple[str, float]:
    """(emotion, strength) shown for smoothed ``probabilities`` (see module docstring)."""
    order = np.argsort(probabilities)[::-1]
    top, second = probabilities[order[0]], probabilities[order[1]] if len(order) > 1 else 0.0
    emotion = labels[int(order[0])]
    strength = auto_strength(dict(zip(labels, probabilities, strict=True)))
    strength *= min(1.0, (top - second) / MARGIN_FULL)
    return emotion, float(round(strength / 0.02) * 0.02)


def expression_track(timeline: Timeline, fps: float) -> list[tuple[float, str, float]]:
    """(time, emotion, strength) for every video frame over the recording."""
    n_frames = max(1, int(np.ceil(timeline.duration * fps)))
    track = []
    for i in range(n_frames):
        t = i / fps
        emotion, strength = expression_at(timeline.at(t), timeline.labels)
        track.append((t, emotion, strength))
    return track


def render_track(
    image: np.ndarray,
    track: list[tuple[float, str, float]],
    editor,
    progress: bool = True,
) -> list[np.ndarray]:
    """Edit ``image`` for every frame of ``track`` (renders each distinct expression once;
    the face is detected once, before the first edit, and handed to every edit)."""
    from tqdm.auto import tqdm

    cache: dict[tuple[str, float], np.ndarray] = {}
    frames = []
    faces = None
    for _, emotion, strength in tqdm(track, desc="animate", unit="frame", disable=not progress):
        key = ("neutral", 0.0) if strength <= 0 or emotion == "neutral" else (emotion, strength)
        if key not in cache:
            if key == ("neutral", 0.0):
                cache[key] = image
            else:
                if faces is None:
                    from s2e_lib.face.detect import detect_faces

                    faces = detect_faces(image)
                cache[key] = editor.edit(image, emotion, strength, faces=faces).image
        frames.append(cache[key])
    return frames
