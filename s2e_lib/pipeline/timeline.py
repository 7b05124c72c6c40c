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
- Frames are rendered once per distinct (emotion, strength rounded to 0.02) and reused
  (the last :data:`RENDER_CACHE` of them are kept), and produced one at a time
  (:func:`iter_track_faces`): a timeline holds per-window probabilities, never every frame.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from s2e_lib.pipeline.strength import auto_strength

MARGIN_FULL = 0.15
#: Rendered expressions kept for reuse (384-px faces: about 0.45 MB each).
RENDER_CACHE = 96


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
        return self.at_many(np.array([t]))[0]

    def at_many(self, ts: np.ndarray) -> np.ndarray:
        """Smoothed probabilities at every time in ``ts``, shape (len(ts), n_labels)."""
        ts = np.asarray(ts, dtype=np.float64)
        return np.stack(
            [np.interp(ts, self.times, self.smoothed[:, j]) for j in range(len(self.labels))], axis=1
        )

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
    times = np.arange(n_frames) / fps
    probabilities = timeline.at_many(times)
    return [(float(t), *expression_at(p, timeline.labels)) for t, p in zip(times, probabilities, strict=True)]


def render_track(
    image: np.ndarray,
    track: list[tuple[float, str, float]],
    editor,
    progress: bool = True,
) -> list[np.ndarray]:
    """Edit ``image`` for every frame of ``track``, as a list (see :func:`iter_track_faces`,
    which yields them one at a time)."""
    return list(iter_track_faces(image, track, editor, progress=progress))


def iter_track_faces(
    image: np.ndarray,
    track: list[tuple[float, str, float]],
    editor,
    progress: bool = True,
    cache_size: int = RENDER_CACHE,
) -> Iterator[np.ndarray]:
    """Yield ``image`` edited for each frame of ``track``, one frame at a time.

    Each distinct expression is rendered once while it stays among the last ``cache_size``
    used; the face is detected once, before the first edit, and handed to every edit.
    Yielded arrays are shared between frames: treat them as read-only.
    """
    from tqdm.auto import tqdm

    cache: OrderedDict[tuple[str, float], np.ndarray] = OrderedDict()
    faces = None
    for _, emotion, strength in tqdm(track, desc="animate", unit="frame", disable=not progress):
        key = ("neutral", 0.0) if strength <= 0 or emotion == "neutral" else (emotion, strength)
        if key == ("neutral", 0.0):
            yield image
            continue
        if key in cache:
            cache.move_to_end(key)
        else:
            if faces is None:
                from s2e_lib.face.detect import detect_faces

                faces = detect_faces(image)
            cache[key] = editor.edit(image, emotion, strength, faces=faces).image
            if len(cache) > cache_size:
                cache.popitem(last=False)
        yield cache[key]
