"""Writing animations: GIF (Pillow) and MP4 with the voice muxed in (PyAV: H.264 + AAC).

Both writers are atomic (temp file, then rename) and take frames as RGB uint8 arrays of
one size.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import numpy as np

from s2e_lib.audio.io import SAMPLE_RATE
from s2e_lib.fileio import atomic_output


def _check_frames(frames: Sequence[np.ndarray]) -> tuple[int, int]:
    if len(frames) == 0:
        raise ValueError("no frames to write")
    height, width = frames[0].shape[:2]
    for frame in frames:
        if frame.shape[:2] != (height, width) or frame.dtype != np.uint8:
            raise ValueError("frames must be uint8 RGB arrays of one size")
    return height, width


def write_gif(
    frames: Sequence[np.ndarray], path: str | os.PathLike, fps: float = 10.0, overwrite: bool = True
) -> Path:
    """Write an endlessly looping GIF of RGB frames at ``fps``."""
    from PIL import Image

    _check_frames(frames)
    images = [Image.fromarray(np.ascontiguousarray(f[..., :3])) for f in frames]
    duration_ms = max(20, int(round(1000.0 / fps)))
    with atomic_output(path, overwrite=overwrite) as tmp:
        images[0].save(
            tmp,
            format="GIF",
            save_all=True,
            append_images=images[1:],
            duration=duration_ms,
            loop=0,
            optimize=False,
        )
    return Path(path)


def write_m4a(
    path: str | os.PathLike, audio: np.ndarray, sr: int = SAMPLE_RATE, overwrite: bool = True
) -> Path:
    """Encode mono float audio as AAC in an ``.m4a`` (MP4) container, atomically."""
    import av

    with atomic_output(path, overwrite=overwrite) as tmp:
        with av.open(str(tmp), mode="w", format="mp4") as container:
            stream = container.add_stream("aac", rate=sr)
            stream.layout = "mono"
            _encode_audio(container, stream, np.asarray(audio, dtype=np.float32), sr)
    return Path(path)


def write_mp4(
    frames: Sequence[np.ndarray],
    path: str | os.PathLike,
    fps: float = 10.0,
    audio: np.ndarray | None = None,
    sr: int = SAMPLE_RATE,
    overwrite: bool = True,
    crf: int = 23,
) -> Path:
    """Write an H.264 MP4 of RGB frames, with mono ``audio`` (float in [-1, 1]) as AAC.

    Odd frame sizes are padded to even (H.264 with yuv420p needs even sizes).
    """
    import av

    height, width = _check_frames(frames)
    pad_h, pad_w = height % 2, width % 2
    rate = Fraction(fps).limit_denominator(1000)
    with atomic_output(path, overwrite=overwrite) as tmp:
        with av.open(str(tmp), mode="w", format="mp4") as container:
            video = container.add_stream("libx264", rate=rate)
            video.width, video.height = width + pad_w, height + pad_h
            video.pix_fmt = "yuv420p"
            video.options = {"crf": str(crf), "preset": "veryfast"}
            audio_stream = None
            if audio is not None:
                audio_stream = container.add_stream("aac", rate=sr)
                audio_stream.layout = "mono"
            for frame in frames:
                if pad_h or pad_w:
                    frame = np.pad(frame[..., :3], ((0, pad_h), (0, pad_w), (0, 0)), mode="edge")
                av_frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame[..., :3]), format="rgb24")
                for packet in video.encode(av_frame):
                    container.mux(packet)
            for packet in video.encode():
                container.mux(packet)
            if audio_stream is not None:
                _encode_audio(container, audio_stream, np.asarray(audio, dtype=np.float32), sr)
    return Path(path)


def _encode_audio(container, stream, audio: np.ndarray, sr: int) -> None:
    import av

    samples = np.clip(audio.reshape(-1), -1.0, 1.0).astype(np.float32)
    chunk = 1024
    for start in range(0, samples.size, chunk):
        piece = samples[start : start + chunk].reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(piece, format="flt", layout="mono")
        frame.sample_rate = sr
        frame.pts = start
        frame.time_base = Fraction(1, sr)
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode(None):
        container.mux(packet)
