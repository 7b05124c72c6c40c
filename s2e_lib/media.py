"""Writing animations: GIF (Pillow) and MP4 with the voice muxed in (PyAV: H.264 + AAC).

Both writers are atomic (temp file, then rename) and take frames as RGB uint8 arrays of
one size. They stream: :class:`GifWriter` and :class:`Mp4Writer` encode each frame as it
is written and keep only the previous one, so an hour-long animation costs no more memory
than a second of it (``s2e run --timeline`` renders and writes frame by frame).
:func:`write_gif` and :func:`write_mp4` take a list or any iterable of frames.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path

import numpy as np

from s2e_lib.audio.io import SAMPLE_RATE
from s2e_lib.fileio import atomic_output


class _FrameWriter:
    """An atomic output written one RGB frame at a time (a context manager).

    On a clean exit the file is finished and renamed onto ``path``; on an exception, or
    when no frame was written (``ValueError``), the temporary file is removed.
    """

    def __init__(self, path: str | os.PathLike, overwrite: bool = True):
        self.path = Path(path)
        self.n_frames = 0
        self._size: tuple[int, int] | None = None
        self._stack = contextlib.ExitStack()
        self.tmp = self._stack.enter_context(atomic_output(path, overwrite=overwrite))

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is None:
            try:
                if self.n_frames == 0:
                    raise ValueError("no frames to write")
                self._finish()
            except BaseException as error:
                self._discard()
                self._stack.__exit__(type(error), error, error.__traceback__)
                raise
            self._stack.__exit__(None, None, None)
        else:
            self._discard()
            self._stack.__exit__(exc_type, exc, tb)
        return False

    def _check(self, frame: np.ndarray) -> np.ndarray:
        frame = np.asarray(frame)
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] < 3:
            raise ValueError("frames must be uint8 RGB arrays of one size")
        if self._size is None:
            self._size = frame.shape[:2]
        elif frame.shape[:2] != self._size:
            raise ValueError("frames must be uint8 RGB arrays of one size")
        return np.ascontiguousarray(frame[..., :3])

    def write(self, frame: np.ndarray) -> None:
        self._write(self._check(frame))
        self.n_frames += 1

    def _write(self, frame: np.ndarray) -> None:
        raise NotImplementedError

    def _finish(self) -> None:
        raise NotImplementedError

    def _discard(self) -> None:
        """Release open handles after a failure (the temporary file is then removed)."""


class GifWriter(_FrameWriter):
    """An endlessly looping GIF at ``fps``, written frame by frame.

    The first frame is written whole; each later frame only as the rectangle that changed
    since the previous one (with its own adaptive palette), as Pillow's own writer does.
    Every frame written is one GIF frame (an unchanged frame is a 1-pixel update).
    """

    def __init__(self, path: str | os.PathLike, fps: float = 10.0, overwrite: bool = True):
        super().__init__(path, overwrite)
        self.duration_ms = max(20, int(round(1000.0 / fps)))
        self._file = open(self.tmp, "wb")  # noqa: SIM115 (closed in _finish / _discard)
        self._previous: np.ndarray | None = None

    def _write(self, frame: np.ndarray) -> None:
        from PIL import GifImagePlugin, Image

        if self._previous is None:
            image = Image.fromarray(frame).convert("P", palette=Image.Palette.ADAPTIVE)
            header, _ = GifImagePlugin.getheader(image, None, {"loop": 0, "duration": self.duration_ms})
            chunks = [*header, *GifImagePlugin.getdata(image, (0, 0), duration=self.duration_ms)]
        else:
            changed = np.any(frame != self._previous, axis=2)
            rows, cols = np.flatnonzero(changed.any(axis=1)), np.flatnonzero(changed.any(axis=0))
            if rows.size:
                top, bottom, left, right = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
            else:  # unchanged: a 1-pixel update keeps one GIF frame per frame
                top, bottom, left, right = 0, 1, 0, 1
            patch = Image.fromarray(np.ascontiguousarray(frame[top:bottom, left:right]))
            patch = patch.convert("P", palette=Image.Palette.ADAPTIVE)
            chunks = GifImagePlugin.getdata(
                patch, (int(left), int(top)), duration=self.duration_ms, include_color_table=True
            )
        for chunk in chunks:
            self._file.write(chunk)
        self._previous = frame

    def _finish(self) -> None:
        self._file.write(b";")
        self._file.close()

    def _discard(self) -> None:
        self._file.close()


class Mp4Writer(_FrameWriter):
    """An H.264 MP4 at ``fps``, written frame by frame, with mono ``audio`` (float, clipped
    to [-1, 1]) encoded as AAC alongside the frames (interleaved, never copied whole).

    Odd frame sizes are padded to even (H.264 with yuv420p needs even sizes).
    """

    def __init__(
        self,
        path: str | os.PathLike,
        fps: float = 10.0,
        audio: np.ndarray | None = None,
        sr: int = SAMPLE_RATE,
        overwrite: bool = True,
        crf: int = 23,
    ):
        import av

        super().__init__(path, overwrite)
        self.fps = fps
        self.sr = sr
        self.crf = crf
        self.audio = None if audio is None else np.asarray(audio).reshape(-1)
        self._audio_done = 0
        self._container = av.open(str(self.tmp), mode="w", format="mp4")
        self._video = self._audio_stream = None
        self._pad = (0, 0)

    def _open_streams(self, height: int, width: int) -> None:
        self._pad = (height % 2, width % 2)
        video = self._container.add_stream("libx264", rate=Fraction(self.fps).limit_denominator(1000))
        video.width, video.height = width + self._pad[1], height + self._pad[0]
        video.pix_fmt = "yuv420p"
        video.options = {"crf": str(self.crf), "preset": "veryfast"}
        self._video = video
        if self.audio is not None:
            self._audio_stream = self._container.add_stream("aac", rate=self.sr)
            self._audio_stream.layout = "mono"

    def _write(self, frame: np.ndarray) -> None:
        import av

        if self._video is None:
            self._open_streams(*frame.shape[:2])
        pad_h, pad_w = self._pad
        if pad_h or pad_w:
            frame = np.pad(frame, ((0, pad_h), (0, pad_w), (0, 0)), mode="edge")
        for packet in self._video.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
            self._container.mux(packet)
        # the voice up to the end of this frame, so the file interleaves audio and video
        self._encode_audio_until(int(round((self.n_frames + 1) / self.fps * self.sr)))

    def _encode_audio_until(self, stop: int) -> None:
        if self._audio_stream is None:
            return
        stop = min(stop, self.audio.size)
        if stop > self._audio_done:
            _encode_audio(self._container, self._audio_stream, self.audio, self.sr, self._audio_done, stop)
            self._audio_done = stop

    def _finish(self) -> None:
        for packet in self._video.encode():
            self._container.mux(packet)
        if self._audio_stream is not None:
            self._encode_audio_until(self.audio.size)
            for packet in self._audio_stream.encode(None):
                self._container.mux(packet)
        self._container.close()

    def _discard(self) -> None:
        with contextlib.suppress(Exception):
            self._container.close()


def write_gif(
    frames: Iterable[np.ndarray], path: str | os.PathLike, fps: float = 10.0, overwrite: bool = True
) -> Path:
    """Write an endlessly looping GIF of RGB frames at ``fps`` (see :class:`GifWriter`)."""
    with GifWriter(path, fps=fps, overwrite=overwrite) as writer:
        for frame in frames:
            writer.write(frame)
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
            for packet in stream.encode(None):
                container.mux(packet)
    return Path(path)


def write_mp4(
    frames: Iterable[np.ndarray],
    path: str | os.PathLike,
    fps: float = 10.0,
    audio: np.ndarray | None = None,
    sr: int = SAMPLE_RATE,
    overwrite: bool = True,
    crf: int = 23,
) -> Path:
    """Write an H.264 MP4 of RGB frames, with mono ``audio`` (float in [-1, 1]) as AAC.

    Odd frame sizes are padded to even (H.264 with yuv420p needs even sizes); see
    :class:`Mp4Writer`.
    """
    with Mp4Writer(path, fps=fps, audio=audio, sr=sr, overwrite=overwrite, crf=crf) as writer:
        for frame in frames:
            writer.write(frame)
    return Path(path)


def _encode_audio(
    container, stream, audio: np.ndarray, sr: int, start: int = 0, stop: int | None = None
) -> None:
    """Encode ``audio[start:stop]`` (clipped to [-1, 1], 1024 samples a frame) into ``stream``.

    The caller flushes the encoder (``stream.encode(None)``) after the last piece.
    """
    import av

    audio = audio.reshape(-1)
    stop = audio.size if stop is None else stop
    chunk = 1024
    for first in range(start, stop, chunk):
        piece = np.clip(audio[first : min(stop, first + chunk)], -1.0, 1.0).astype(np.float32).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(piece, format="flt", layout="mono")
        frame.sample_rate = sr
        frame.pts = first
        frame.time_base = Fraction(1, sr)
        for packet in stream.encode(frame):
            container.mux(packet)
