"""``s2e run --timeline``: emotion per sliding window, a plot, and a face that follows the voice.

Outputs: ``animation.mp4`` (the main one: H.264 at the face's resolution, at most
:data:`MAX_VIDEO_SIDE` px, with the voice as AAC), ``timeline.png``, ``timeline.json``,
``result.json`` and, when asked (``--gif``), ``animation.gif`` (at most
:data:`GIF_MAX_SIDE` px and :data:`GIF_MAX_FPS` frames per second, on a palette that keeps
the emotion colours exact).

Streams: the recording is decoded once into float32 (no length limit; 230 MB per hour),
classified window by window, and every frame is rendered (from a cache of edits, see
:class:`~s2e_lib.pipeline.timeline.ExpressionRenderer`), composed and encoded before the
next one, so memory does not grow with the number of frames.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

import numpy as np

from s2e_lib.emotions import UNCHANGED, describe_edit
from s2e_lib.fileio import atomic_output, check_output, write_text_atomic
from s2e_lib.pipeline.run import Pipeline, RunConfig, face_box, versions
from s2e_lib.pipeline.timeline import (
    DEFAULT_HOP_S,
    DEFAULT_SMOOTH_S,
    DEFAULT_WINDOW_S,
    ExpressionRenderer,
    Timeline,
    emotion_timeline,
    expression_track,
)

#: Longest side of the MP4's face (px): the face region keeps its resolution up to this.
MAX_VIDEO_SIDE = 720
#: Longest side of the GIF's face (px) and its highest frame rate.
GIF_MAX_SIDE = 320
GIF_MAX_FPS = 10.0
#: Margin around the face box of the animated region (× the face's width, each side).
FACE_MARGIN = 0.9
#: Opacity of the box behind the caption.
CAPTION_BOX_ALPHA = 0.6
#: Text and background colours of the frames (kept exact in the GIF palette too).
TEXT_RGB = (255, 255, 255)
LABEL_RGB = (40, 40, 40)
STRIP_RGB = (255, 255, 255)
TRACK_RGB = (228, 228, 228)
MAX_STRENGTH = 1.5
#: The caption over a frame whose strength is 0: the photo itself, no emotion claimed.


def _font(size: int):
    from PIL import ImageFont

    return ImageFont.load_default(size=size)


class FrameComposer:
    """Frames of one width: the face, a caption on a semi-opaque box in its top-left corner
    (time, the shown emotion with its colour swatch, the strength), and a strip under it
    with one bar per label in the plots' colours (:func:`s2e_lib.viz.pipeline.emotion_rgb`).

    The strip's background is drawn once; per frame only the bars and the caption change.
    The composed height is even (H.264 with yuv420p needs even sizes) when the face's is.
    """

    def __init__(self, width: int, labels: list[str]):
        from PIL import Image, ImageDraw

        from s2e_lib.viz.pipeline import emotion_rgb

        self.width = int(width)
        self.labels = list(labels)
        self.colors = {label: emotion_rgb(label) for label in self.labels}
        self.label_size = int(np.clip(round(self.width / 32), 9, 22))
        self.caption_size = int(np.clip(round(self.width / 24), 10, 28))
        pad = max(2, self.label_size // 3)
        self.bar_top = pad + self.label_size + pad // 2
        self.bar_bottom = self.bar_top + max(4, int(self.label_size * 0.8))
        height = self.bar_bottom + pad
        self.strip_height = height + height % 2
        self.slot = self.width / len(self.labels)
        self.bar_pad = max(2, int(self.slot * 0.06))
        strip = Image.new("RGB", (self.width, self.strip_height), STRIP_RGB)
        draw = ImageDraw.Draw(strip)
        font = _font(self.label_size)
        for j, label in enumerate(self.labels):
            x0, x1 = self._bar_span(j)
            draw.rectangle([x0, self.bar_top, x1 - 1, self.bar_bottom - 1], fill=TRACK_RGB)
            draw.text((x0, pad), label, fill=LABEL_RGB, font=font)
        self.strip = np.asarray(strip).copy()
        self.caption_font = _font(self.caption_size)
        widest = max([*(f"{label} x1.50" for label in self.labels), UNCHANGED], key=len)
        text_width = self.caption_font.getlength(f"0000.0 s  {widest}")
        self.margin = max(2, self.caption_size // 4)
        self.swatch = self.caption_size
        self.box_height = self.caption_size + 2 * self.margin
        self.box_width = int(self.margin * 3 + self.swatch + text_width)

    @staticmethod
    def shown(emotion: str, strength: float) -> str:
        """What the caption says the face shows: ``"angry x0.60"``; ``"neutral"``; and
        :data:`UNCHANGED` when the strength is 0 at the caption's two decimals (the top two
        emotions too close to tell apart, or ``--strength 0``): the photo itself, so no
        emotion is claimed."""
        return describe_edit(emotion, strength)

    def caption(self, emotion: str, strength: float, t: float) -> str:
        """The caption's text: time and :meth:`shown`."""
        return f"{t:6.1f} s  {self.shown(emotion, strength)}"

    def swatch_color(self, emotion: str, strength: float) -> tuple[int, int, int]:
        """The caption swatch's colour: the emotion's, grey for an unchanged face."""
        if self.shown(emotion, strength) == UNCHANGED:
            return TRACK_RGB
        return self.colors.get(emotion, self.colors[self.labels[0]])

    def _bar_span(self, j: int) -> tuple[int, int]:
        return int(round(j * self.slot)) + self.bar_pad, int(round((j + 1) * self.slot)) - self.bar_pad

    def compose(
        self, face: np.ndarray, probabilities: np.ndarray, emotion: str, strength: float, t: float
    ) -> np.ndarray:
        """One RGB frame: ``face`` (H×width×3) over the strip, with the caption."""
        from PIL import Image, ImageDraw

        height = face.shape[0]
        frame = np.empty((height + self.strip_height, self.width, 3), dtype=np.uint8)
        frame[:height] = face[..., :3]
        strip = frame[height:]
        strip[:] = self.strip
        for j, label in enumerate(self.labels):
            x0, x1 = self._bar_span(j)
            filled = x0 + int(round((x1 - x0) * float(np.clip(probabilities[j], 0.0, 1.0))))
            strip[self.bar_top : self.bar_bottom, x0 : max(x0 + 1, filled)] = self.colors[label]

        box_w, box_h = min(self.box_width, self.width), min(self.box_height, height)
        box = frame[:box_h, :box_w]
        box[:] = (box.astype(np.uint16) * round(256 * (1 - CAPTION_BOX_ALPHA)) >> 8).astype(np.uint8)
        m, sw = self.margin, self.swatch
        image = Image.fromarray(box)
        ImageDraw.Draw(image).text(
            (2 * m + sw, box_h / 2),
            self.caption(emotion, strength, t),
            fill=TEXT_RGB,
            font=self.caption_font,
            anchor="lm",
        )
        box[:] = np.asarray(image)
        top = max(0, (box_h - sw) // 2)
        box[top : top + sw, m : m + sw] = self.swatch_color(emotion, strength)
        return frame

    def palette_colors(self) -> list[tuple[int, int, int]]:
        """Colours a GIF palette must keep exact: every label's, the text's and the strip's."""
        return [*self.colors.values(), TEXT_RGB, LABEL_RGB, STRIP_RGB, TRACK_RGB, (0, 0, 0)]


def compose_frame(
    face: np.ndarray, probabilities: np.ndarray, labels: list[str], emotion: str, strength: float, t: float
) -> np.ndarray:
    """The face with a caption and a strip of per-label bars (see :class:`FrameComposer`)."""
    return FrameComposer(face.shape[1], labels).compose(face, probabilities, emotion, strength, t)


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
    size = (max(2, int(round(image.shape[1] * scale))), max(2, int(round(image.shape[0] * scale))))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def animation_face(image: np.ndarray, face=None, side: int = MAX_VIDEO_SIDE) -> np.ndarray:
    """The region the animation shows: the photo cropped around ``face`` (the whole photo
    when it is mostly face), at its own resolution up to ``side`` px, cut to even sizes."""
    box = face_box(image, face, margin=FACE_MARGIN) if face is not None else None
    if box is not None:
        image = image[box[1] : box[3], box[0] : box[2]]
    image = _downscale(image[..., :3], side)
    height, width = image.shape[:2]
    return np.ascontiguousarray(image[: height - height % 2, : width - width % 2])


def gif_step(fps: float) -> int:
    """Every how many video frames one goes into the GIF (at most :data:`GIF_MAX_FPS`)."""
    return max(1, math.ceil(fps / GIF_MAX_FPS - 1e-9))


def write_animation(
    face: np.ndarray,
    timeline: Timeline,
    track: list[tuple[float, str, float]],
    editor,
    mp4_path: str | os.PathLike,
    audio: np.ndarray | None = None,
    sr: int = 16000,
    fps: float = 10.0,
    gif_path: str | os.PathLike | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> dict:
    """Render ``track`` on ``face`` and encode it, frame by frame, into ``mp4_path`` (with
    ``audio`` as AAC) and, when given, ``gif_path``; nothing is kept per frame.

    Returns ``{"n_frames", "gif_frames", "gif_fps", "edits_rendered", "video_size", "gif_size"}``
    (sizes as [width, height] of the whole frame).
    """
    import contextlib

    import cv2
    from tqdm.auto import tqdm

    from s2e_lib.media import GifWriter, Mp4Writer, gif_palette

    renderer = ExpressionRenderer(face, editor)
    video = FrameComposer(face.shape[1], timeline.labels)
    small_face = _downscale(face, GIF_MAX_SIDE)
    gif_size = (small_face.shape[1], small_face.shape[0])
    small = FrameComposer(gif_size[0], timeline.labels) if gif_path is not None else None
    step = gif_step(fps)
    shown = timeline.at_many(np.array([t for t, _, _ in track]))
    gif = None
    with contextlib.ExitStack() as stack:
        mp4 = stack.enter_context(Mp4Writer(mp4_path, fps=fps, audio=audio, sr=sr, overwrite=overwrite))
        frames = zip(track, shown, strict=True)
        for i, ((t, emotion, strength), p) in enumerate(
            tqdm(frames, total=len(track), desc="animate", unit="frame", disable=not progress)
        ):
            edited = renderer.face(emotion, strength)
            mp4.write(video.compose(edited, p, emotion, strength, t))
            if small is None or i % step:
                continue
            if edited is face or small_face is face:  # the photo, or a face already small enough
                reduced = small_face if edited is face else edited
            else:
                reduced = cv2.resize(edited, gif_size, interpolation=cv2.INTER_AREA)
            frame = small.compose(reduced, p, emotion, strength, t)
            if gif is None:  # the palette: this first frame's colours plus the exact labels'
                palette = gif_palette(frame, keep=small.palette_colors())
                gif = stack.enter_context(
                    GifWriter(gif_path, fps=fps / step, overwrite=overwrite, palette=palette)
                )
            gif.write(frame)
    height = face.shape[0] + video.strip_height
    return {
        "n_frames": mp4.n_frames,
        "gif_frames": gif.n_frames if gif is not None else 0,
        "gif_fps": round(fps / step, 3) if gif is not None else None,
        "edits_rendered": renderer.edits,
        "video_size": [int(face.shape[1]), int(height)],
        "gif_size": [gif_size[0], gif_size[1] + small.strip_height] if small is not None else None,
    }


def run_timeline(
    audio_path: str | os.PathLike,
    face_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    config: RunConfig | None = None,
    window_s: float = DEFAULT_WINDOW_S,
    hop_s: float = DEFAULT_HOP_S,
    smooth_s: float = DEFAULT_SMOOTH_S,
    fps: float = 10.0,
    pipeline: Pipeline | None = None,
    progress: bool = True,
    gif: bool = False,
) -> dict:
    """Write animation.mp4, timeline.png, timeline.json, result.json and, with ``gif``,
    animation.gif to ``out_dir``; returns the result (also in result.json).

    The face is checked (decoded, a face found) before any speech work.
    """
    import matplotlib.pyplot as plt

    from s2e_lib.audio.io import load_audio
    from s2e_lib.ser.predict import check_speech
    from s2e_lib.viz.pipeline import timeline_figure

    pipeline = pipeline or Pipeline(config)
    config = pipeline.config
    out_dir = Path(out_dir)
    names = ["result.json", "timeline.json", "timeline.png", "animation.mp4"] + (
        ["animation.gif"] if gif else []
    )
    outputs = {name: out_dir / name for name in names}
    for path in outputs.values():
        check_output(path, overwrite=config.overwrite)
    seconds: dict[str, float] = {}

    tick = time.perf_counter()
    photo = pipeline.check_face(face_path)  # "no face found" must not wait for the speech work
    face = animation_face(photo.image, photo.faces[0])
    seconds["load_face"] = time.perf_counter() - tick

    tick = time.perf_counter()
    audio = load_audio(audio_path)  # float32, one array, no clip limit: the timeline streams
    spans = check_speech(audio, 16000, audio_path)  # the recording's speech (None past one clip)
    timeline = emotion_timeline(
        audio,
        16000,
        pipeline.model,
        window_s=window_s,
        hop_s=hop_s,
        smooth_s=smooth_s,
        spans=spans,
        adapt=config.adapt,
    )
    if config.adapt:  # the profile the windows were heard against: the recording's own speech
        profile = pipeline.model.profile
        pipeline.use_profile(profile, f"the {profile.n_clips} speech windows of this recording")
    probabilities = timeline.overall()
    seconds["speech_emotion"] = time.perf_counter() - tick

    tick = time.perf_counter()
    track = expression_track(timeline, fps)
    if pipeline.fixed_strength is not None:  # a fixed strength scales the auto curve
        track = [
            (t, e, round(min(MAX_STRENGTH, s * pipeline.fixed_strength) / 0.02) * 0.02) for t, e, s in track
        ]
    animation = write_animation(
        face,
        timeline,
        track,
        pipeline.editor,
        outputs["animation.mp4"],
        audio=audio,
        sr=16000,
        fps=fps,
        gif_path=outputs.get("animation.gif"),
        overwrite=config.overwrite,
        progress=progress,
    )
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
        speech_spans=timeline.speech_spans,
        title=f"{Path(audio_path).name}: emotion heard over time "
        f"({timeline.duration:.0f} s; {window_s:g} s windows every {hop_s:g} s)",
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
                "speech_spans": [[round(float(a), 3), round(float(b), 3)] for a, b in timeline.speech_spans],
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
        **animation,
        "strength": pipeline.fixed_strength if pipeline.fixed_strength is not None else "auto",
        "strength_mode": "fixed" if pipeline.fixed_strength is not None else "auto",
        "editor": config.editor,
        "identity_distance": None,
        "seconds": {k: round(v, 4) for k, v in seconds.items()},
        "outputs": {k: str(v) for k, v in outputs.items()},
        "versions": versions(),
    }
    result.update(pipeline.profile_record())
    write_text_atomic(outputs["result.json"], json.dumps(result, indent=2), overwrite=config.overwrite)
    return result
