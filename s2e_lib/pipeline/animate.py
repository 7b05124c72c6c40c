"""``s2e run --timeline``: emotion per sliding window, a plot, and a face that follows the voice.

Streams: the recording is decoded once into float32 (no length limit; 230 MB per hour),
classified window by window, and the animation is rendered, composed and encoded (GIF
and MP4) one frame at a time, so memory does not grow with the number of frames.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np

from s2e_lib.fileio import atomic_output, check_output, write_text_atomic
from s2e_lib.pipeline.run import Pipeline, RunConfig, face_box, versions
from s2e_lib.pipeline.timeline import emotion_timeline, expression_track, iter_track_faces

#: Longest side of the animation frames (px); the full photo is scaled down to it.
ANIMATION_SIDE = 384
STRIP_HEIGHT = 34


def compose_frame(
    face: np.ndarray, probabilities: np.ndarray, labels: list[str], emotion: str, strength: float, t: float
) -> np.ndarray:
    """The face with a strip under it: one coloured bar per label, and the shown emotion."""
    import cv2

    from s2e_lib.viz.pipeline import EMOTION_COLORS

    height, width = face.shape[:2]
    strip = np.full((STRIP_HEIGHT, width, 3), 255, dtype=np.uint8)
    slot = width / len(labels)
    for j, label in enumerate(labels):
        color = EMOTION_COLORS.get(label, "#2ca02c").lstrip("#")
        rgb = tuple(int(color[i : i + 2], 16) for i in (0, 2, 4))
        x0 = int(j * slot + 2)
        x1 = int(x0 + (slot - 4) * float(probabilities[j]))
        cv2.rectangle(strip, (x0, 18), (max(x0 + 1, x1), STRIP_HEIGHT - 3), rgb, thickness=-1)
        cv2.putText(strip, label[:7], (x0, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (40, 40, 40), 1, cv2.LINE_AA)
    frame = np.vstack([face[..., :3], strip])
    caption = f"{t:4.1f}s {emotion} x{strength:.2f}"
    cv2.putText(frame, caption, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(frame, caption, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    return frame


#: Points (min/max pairs) the waveform of timeline.png is drawn with, whatever the length.
WAVEFORM_POINTS = 20_000


def waveform_envelope(audio: np.ndarray, sr: int, points: int = WAVEFORM_POINTS) -> tuple[np.ndarray, float]:
    """``(envelope, rate)``: the min and max of each block of ``audio``, interleaved, at
    ``rate`` values per second; the audio itself when it is short enough. Plotting an
    hour's 57.6 M samples would cost gigabytes; the envelope draws the same picture."""
    audio = np.asarray(audio).reshape(-1)
    if audio.size <= points:
        return audio, float(sr)
    block = int(np.ceil(2 * audio.size / points))
    n = audio.size // block
    blocks = audio[: n * block].reshape(n, block)
    envelope = np.empty(2 * n, dtype=np.float32)
    envelope[0::2], envelope[1::2] = blocks.min(axis=1), blocks.max(axis=1)
    return envelope, 2.0 * sr / block


def _downscale(image: np.ndarray, side: int) -> np.ndarray:
    import cv2

    scale = side / max(image.shape[:2])
    if scale >= 1:
        return image
    size = (int(round(image.shape[1] * scale)), int(round(image.shape[0] * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def run_timeline(
    audio_path: str | os.PathLike,
    face_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    config: RunConfig | None = None,
    window_s: float = 2.0,
    hop_s: float = 0.5,
    smooth_s: float = 1.0,
    fps: float = 10.0,
    pipeline: Pipeline | None = None,
    progress: bool = True,
) -> dict:
    """Write timeline.json, timeline.png, animation.gif, animation.mp4 and result.json to ``out_dir``."""
    import matplotlib.pyplot as plt

    from s2e_lib.audio.io import load_audio
    from s2e_lib.face import load_image
    from s2e_lib.media import GifWriter, Mp4Writer
    from s2e_lib.viz.pipeline import timeline_figure

    pipeline = pipeline or Pipeline(config)
    config = pipeline.config
    out_dir = Path(out_dir)
    names = ("result.json", "timeline.json", "timeline.png", "animation.gif", "animation.mp4")
    outputs = {name: out_dir / name for name in names}
    for path in outputs.values():
        check_output(path, overwrite=config.overwrite)
    seconds: dict[str, float] = {}

    tick = time.perf_counter()
    audio = load_audio(audio_path)  # float32, one array, no clip limit: the timeline streams
    probabilities = {
        k: float(v) for k, v in pipeline.model.predict_proba(audio, sr=16000, path=audio_path).items()
    }
    timeline = emotion_timeline(
        audio, 16000, pipeline.model, window_s=window_s, hop_s=hop_s, smooth_s=smooth_s
    )
    seconds["speech_emotion"] = time.perf_counter() - tick

    tick = time.perf_counter()
    image = load_image(face_path)
    box = face_box(image, margin=0.9)
    if box is not None:  # animate the face region, not the whole photo
        image = image[box[1] : box[3], box[0] : box[2]]
    image = _downscale(image, ANIMATION_SIDE)
    track = expression_track(timeline, fps)
    if pipeline.fixed_strength is not None:  # a fixed strength scales the auto curve
        track = [(t, e, round(s * pipeline.fixed_strength, 2)) for t, e, s in track]
    faces = iter_track_faces(image, track, pipeline.editor, progress=progress)
    shown = timeline.at_many(np.array([t for t, _, _ in track]))
    with (
        GifWriter(outputs["animation.gif"], fps=fps, overwrite=config.overwrite) as gif,
        Mp4Writer(
            outputs["animation.mp4"], fps=fps, audio=audio, sr=16000, overwrite=config.overwrite
        ) as mp4,
    ):  # one frame at a time: render, compose, encode into both files
        for face, (t, e, s), p in zip(faces, track, shown, strict=True):
            frame = compose_frame(face, p, timeline.labels, e, s, t)
            gif.write(frame)
            mp4.write(frame)
    n_frames = gif.n_frames
    seconds["animate"] = time.perf_counter() - tick

    tick = time.perf_counter()
    envelope, envelope_rate = waveform_envelope(audio, 16000)
    figure = timeline_figure(
        timeline.times,
        timeline.smoothed,
        timeline.labels,
        raw=timeline.raw,
        audio=envelope,
        sr=envelope_rate,
    )
    with atomic_output(outputs["timeline.png"], overwrite=config.overwrite) as tmp:
        figure.savefig(tmp, dpi=100, format="png", pil_kwargs={"compress_level": 1})
    plt.close(figure)
    write_text_atomic(
        outputs["timeline.json"],
        json.dumps(
            {
                "window_s": window_s,
                "hop_s": hop_s,
                "smooth_s": smooth_s,
                "fps": fps,
                "labels": timeline.labels,
                "windows": timeline.to_records(),
                "frames": [{"time": round(t, 3), "emotion": e, "strength": s} for t, e, s in track],
            },
            indent=1,
        ),
        overwrite=config.overwrite,
    )
    seconds["write"] = time.perf_counter() - tick
    seconds["total"] = sum(seconds.values())

    emotion = max(probabilities, key=probabilities.get)
    result = {
        "audio": str(Path(audio_path).resolve()),
        "face": str(Path(face_path).resolve()),
        "emotion": emotion,
        "probabilities": probabilities,
        "timeline_emotions": sorted(set(timeline.top())),
        "n_windows": int(len(timeline.times)),
        "n_frames": n_frames,
        "strength": pipeline.fixed_strength if pipeline.fixed_strength is not None else "auto",
        "strength_mode": "fixed" if pipeline.fixed_strength is not None else "auto",
        "editor": config.editor,
        "identity_distance": None,
        "seconds": {k: round(v, 4) for k, v in seconds.items()},
        "outputs": {k: str(v) for k, v in outputs.items()},
        "versions": versions(),
    }
    write_text_atomic(outputs["result.json"], json.dumps(result, indent=2), overwrite=config.overwrite)
    return result
