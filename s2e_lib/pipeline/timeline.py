"""Emotion over time: sliding-window speech emotion, smoothing, and a face that follows it.

Decisions (docs/pipeline.md):

- The voice-activity detector runs once over the recording (in
  :data:`VAD_SEGMENT_SECONDS` segments, so memory does not grow with length), as it does
  over a whole clip before one prediction; each window of ``window_s`` seconds every
  ``hop_s`` seconds is then featurised on its share of those speech spans and classified
  by the speech model (windows in parallel threads: openSMILE and numpy release the GIL).
  The per-window probabilities are smoothed over time with a Gaussian of ``smooth_s``
  seconds (standard deviation) and renormalised. The default hop is 1 s: a 0.5 s hop
  followed the emotion of joined clips no better (53.4 % against 53.6 % of 0.1 s steps,
  ``tools/timeline_hop.py``) for twice the feature time.
- The animated face shows, at each video frame, the smoothed top emotion with strength
  ``auto_strength(p) × min(1, margin / MARGIN_FULL)`` where ``margin`` is the gap between
  the top two probabilities. The strength is therefore continuous in time and falls to 0
  exactly where the top emotion changes, so the face passes through its neutral pose
  instead of jumping between expressions.
- Edits are rendered only at strengths on a grid of :data:`EDIT_STEP` and kept in a
  least-recently-used cache keyed by (emotion, grid strength); a frame between two grid
  strengths is the cross-fade of the two cached edits (strength 0 is the photo itself).
  A minute of voice then costs a few dozen edits instead of one per frame, and frames are
  produced one at a time (:func:`iter_track_faces`): a timeline holds per-window
  probabilities, never every frame.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from s2e_lib.errors import InputError
from s2e_lib.pipeline.strength import auto_strength

MARGIN_FULL = 0.15
#: Defaults of ``s2e run --timeline`` (``--window``, ``--hop``, ``--smooth``), seconds.
DEFAULT_WINDOW_S = 2.0
DEFAULT_HOP_S = 1.0
DEFAULT_SMOOTH_S = 1.0
#: Strength grid of the rendered edits; frames in between cross-fade two of them.
EDIT_STEP = 0.1
#: Rendered expressions kept for reuse: every (emotion, grid strength) of five labels
#: (4 × 15 + the photo) fits, about 100 MB for 720-px faces.
RENDER_CACHE = 64
#: The voice-activity detector runs over long recordings in segments this long (seconds).
VAD_SEGMENT_SECONDS = 60.0
#: Windows featurised at once (bounds memory on long recordings).
WINDOW_BATCH = 256


@dataclass
class Timeline:
    """Per-window emotion probabilities of one recording.

    ``speech`` is the share of each window the voice-activity detector marked as speech
    (0…1) and ``speech_spans`` the detected speech as (start, stop) seconds, shape (n, 2);
    both None when unknown.
    """

    times: np.ndarray  # window centres (s)
    raw: np.ndarray  # (n_windows, n_labels)
    smoothed: np.ndarray  # (n_windows, n_labels)
    labels: list[str]
    duration: float
    speech: np.ndarray | None = None
    speech_spans: np.ndarray | None = None

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

    def overall(self) -> dict[str, float]:
        """The recording's label probabilities: the raw window probabilities averaged,
        each window weighted by its speech (all windows alike when none is known)."""
        weights = np.ones(len(self.times)) if self.speech is None else np.asarray(self.speech, float)
        if weights.sum() <= 0:
            weights = np.ones(len(self.times))
        mean = (self.raw * weights[:, None]).sum(axis=0) / weights.sum()
        mean = mean / mean.sum()
        return {label: float(p) for label, p in zip(self.labels, mean, strict=True)}

    def to_records(self) -> list[dict]:
        records = []
        for i, (t, p) in enumerate(zip(self.times, self.smoothed, strict=True)):
            record = {
                "time": round(float(t), 3),
                "emotion": self.labels[int(p.argmax())],
                **{label: round(float(v), 4) for label, v in zip(self.labels, p, strict=True)},
            }
            if self.speech is not None:
                record["speech"] = round(float(self.speech[i]), 3)
            records.append(record)
        return records


def smooth_probabilities(probabilities: np.ndarray, hop_s: float, smooth_s: float) -> np.ndarray:
    """Gaussian smoothing along time (``smooth_s`` = std in seconds), rows renormalised."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if smooth_s <= 0 or probabilities.shape[0] < 2:
        return probabilities.copy()
    # scipy.ndimage.gaussian_filter1d(mode="nearest", truncate=4) in numpy: importing scipy
    # would cost a cold run more than the filtering
    sigma = smooth_s / hop_s
    radius = int(4.0 * sigma + 0.5)
    offsets = np.arange(-radius, radius + 1)
    kernel = np.exp(-0.5 * (offsets / sigma) ** 2)
    kernel /= kernel.sum()
    padded = np.pad(probabilities, ((radius, radius), (0, 0)), mode="edge")
    smoothed = np.zeros_like(probabilities)
    for weight, offset in zip(kernel, range(2 * radius + 1), strict=True):
        smoothed += weight * padded[offset : offset + probabilities.shape[0]]
    return smoothed / smoothed.sum(axis=1, keepdims=True)


def recording_speech_spans(audio: np.ndarray, sr: int, segment_s: float = VAD_SEGMENT_SECONDS) -> np.ndarray:
    """Speech found by the voice-activity detector over a whole recording, as (start, stop)
    sample pairs, shape (n, 2); run segment by segment so memory does not grow with length."""
    from s2e_lib.audio.speech import speech_spans

    audio = np.asarray(audio).reshape(-1)
    segment = max(1, int(segment_s * sr))
    spans: list[tuple[int, int]] = []
    for first in range(0, audio.size, segment):
        spans += [(first + a, first + b) for a, b in speech_spans(audio[first : first + segment], sr)]
    return np.asarray(spans, dtype=np.int64).reshape(-1, 2)


def spans_within(spans: np.ndarray, start: int, stop: int) -> list[tuple[int, int]]:
    """The parts of ``spans`` (sorted (start, stop) samples) inside ``[start, stop)``,
    relative to ``start``."""
    if spans.size == 0:
        return []
    first = int(np.searchsorted(spans[:, 1], start, side="right"))
    last = int(np.searchsorted(spans[:, 0], stop, side="left"))
    return [(max(int(a), start) - start, min(int(b), stop) - start) for a, b in spans[first:last]]


def _workers() -> int:
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, min(4, cores))


def emotion_timeline(
    audio: np.ndarray,
    sr: int,
    model,
    window_s: float = DEFAULT_WINDOW_S,
    hop_s: float = DEFAULT_HOP_S,
    smooth_s: float = DEFAULT_SMOOTH_S,
    spans: np.ndarray | list[tuple[int, int]] | None = None,
    workers: int | None = None,
    adapt: bool = False,
) -> Timeline:
    """Classify sliding windows of ``audio`` with ``model`` and smooth over time.

    Parameters
    ----------
    audio : np.ndarray
        Mono float audio at ``sr``.
    model : EmotionModel
        The speech model (``labels``, ``features(clip, sr, spans)``, ``proba_of_features``;
        a speaker-centred model hears every window against its voice profile).
    spans : array-like of (start, stop) samples, optional
        Speech already detected over the whole recording (e.g. by the speech check);
        found here with :func:`recording_speech_spans` when not given.
    workers : int, optional
        Threads featurising windows (default: the usable cores, at most 4).
    adapt : bool
        (speaker-centred models) first make the voice profile of the recording's own windows
        that are at least half speech, then hear every window against it (the features of
        every window are then held at once: 6 kB each).
    """

    from s2e_lib.ser.predict import window_starts

    audio = np.asarray(audio, dtype=np.float32).reshape(-1)
    if spans is None:
        spans = recording_speech_spans(audio, sr)
    spans = np.asarray(spans, dtype=np.int64).reshape(-1, 2)
    starts = window_starts(audio.size, sr, window_s, hop_s)
    window = min(audio.size, int(round(window_s * sr)))
    within = [spans_within(spans, int(s), int(s) + window) for s in starts]

    def features(i: int) -> np.ndarray:
        return model.features(audio[starts[i] : starts[i] + window], sr, within[i])

    workers = workers or _workers()

    def batch_features(batch: range) -> list[np.ndarray]:
        if workers > 1 and len(batch) > 1:
            from concurrent.futures import ThreadPoolExecutor

            feats = [features(batch[0])]  # in this thread: the feature code's lazy set-up
            with ThreadPoolExecutor(workers) as pool:
                feats += pool.map(features, batch[1:])
            return feats
        return [features(i) for i in batch]

    batches = [range(f, min(len(starts), f + WINDOW_BATCH)) for f in range(0, len(starts), WINDOW_BATCH)]
    speech = np.array([sum(b - a for a, b in w) for w in within], dtype=np.float64) / max(1, window)
    if adapt:  # two passes: the windows' mean first, then every window against it
        stored = [batch_features(b) for b in batches]
        flat = [f for fs in stored for f in fs]
        voiced = [[f] for f, share in zip(flat, speech, strict=True) if share >= 0.5]
        if len(voiced) < 2:
            raise InputError(
                f"--adapt: the recording holds {len(voiced)} window(s) of speech, too few for a voice profile"
            )
        model.use_profile(model.profile_of(voiced))
        probabilities = [model.proba_of_features(fs) for fs in stored]
    else:  # one batch at a time: memory flat in the length
        probabilities = [model.proba_of_features(batch_features(b)) for b in batches]
    probs = np.concatenate(probabilities).astype(np.float64)
    return Timeline(
        ((starts + window / 2) / sr).astype(np.float64),
        probs,
        smooth_probabilities(probs, hop_s, smooth_s),
        list(model.labels),
        audio.size / sr,
        speech=speech,
        speech_spans=spans.astype(np.float64) / sr,
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


class ExpressionRenderer:
    """The photo edited to (emotion, strength), from a cache of edits on a strength grid.

    Edits are rendered at multiples of ``step`` and kept in a least-recently-used cache of
    ``cache_size``; any other strength is the cross-fade of the two grid edits around it
    (strength 0 and ``neutral`` are the photo itself). The face is detected once, before
    the first edit, and handed to every edit. Returned arrays may be shared between calls:
    treat them as read-only.

    Attributes
    ----------
    edits : int
        Edits rendered so far (cache misses).
    """

    def __init__(
        self, image: np.ndarray, editor, cache_size: int = RENDER_CACHE, step: float = EDIT_STEP, faces=None
    ):
        self.image = image
        self.editor = editor
        self.cache_size = max(2, int(cache_size))
        self.step = float(step)
        self.faces = faces
        self.edits = 0
        self._cache: OrderedDict[tuple[str, int], np.ndarray] = OrderedDict()

    def _grid_edit(self, emotion: str, level: int) -> np.ndarray:
        if level <= 0 or emotion == "neutral":
            return self.image
        key = (emotion, level)
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        if self.faces is None:
            from s2e_lib.face.detect import detect_faces

            self.faces = detect_faces(self.image)
        edited = self.editor.edit(self.image, emotion, round(level * self.step, 6), faces=self.faces).image
        self._cache[key] = edited
        self.edits += 1
        if len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return edited

    def face(self, emotion: str, strength: float) -> np.ndarray:
        """The photo showing ``emotion`` at ``strength`` (see the class docstring)."""
        if strength <= 0 or emotion == "neutral":
            return self.image
        position = strength / self.step
        low = int(np.floor(position + 1e-6))
        weight = position - low
        if weight < 1e-3:
            return self._grid_edit(emotion, low)
        if weight > 1 - 1e-3:
            return self._grid_edit(emotion, low + 1)
        import cv2

        below, above = self._grid_edit(emotion, low), self._grid_edit(emotion, low + 1)
        return cv2.addWeighted(below, 1.0 - weight, above, weight, 0.0)


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
    renderer: ExpressionRenderer | None = None,
) -> Iterator[np.ndarray]:
    """Yield ``image`` edited for each frame of ``track``, one frame at a time
    (an :class:`ExpressionRenderer`: grid edits, cached, cross-faded).

    Yielded arrays may be shared between frames: treat them as read-only.
    """
    from tqdm.auto import tqdm

    renderer = renderer or ExpressionRenderer(image, editor, cache_size=cache_size)
    for _, emotion, strength in tqdm(track, desc="animate", unit="frame", disable=not progress):
        yield renderer.face(emotion, strength)
