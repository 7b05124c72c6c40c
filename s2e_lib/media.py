"""Reading video frames (PyAV) and writing animations: GIF (Pillow) and MP4 with the voice
muxed in (PyAV: H.264 + AAC).

:func:`read_frames` decodes chosen frames of a video as RGB arrays (the data preparation's
frames, a video given as a face). Both writers are atomic (temp file, then rename) and take frames as RGB uint8 arrays of
one size. They stream: :class:`GifWriter` and :class:`Mp4Writer` encode each frame as it
is written and keep only the previous one, so an hour-long animation costs no more memory
than a second of it (``s2e run --timeline`` renders and writes frame by frame).
:func:`write_gif` and :func:`write_mp4` take a list or any iterable of frames. A GIF on
one fixed palette (:func:`gif_palette`: adaptive, with given colours kept exact) is
smaller and keeps colours that a palette per frame would shift.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Sequence
from fractions import Fraction
from pathlib import Path

import numpy as np

from s2e_lib.audio.io import SAMPLE_RATE
from s2e_lib.errors import InputError, media_problem
from s2e_lib.fileio import atomic_output, require_file


class VideoDecodeError(InputError):
    """The file is not decodable video (corrupt, empty, or has no video stream)."""


#: Largest frame decoded: sides up to 16384 px (as photos) and at most Pillow's
#: decompression-bomb limit of pixels (89.5 Mpx; 8K video is 33 Mpx): a 170 KB file can hold
#: one 12000 x 12000 frame that takes gigabytes and a minute to decode.
MAX_FRAME_SIDE = 16384
MAX_FRAME_PIXELS = 89_478_485


def read_frames(
    path: str | os.PathLike, indices: list[int] | None = None, max_side: int = MAX_FRAME_SIDE
) -> list[tuple[int, np.ndarray]]:
    """Decode the frames at ``indices`` (all when None) of ``path`` as RGB uint8 arrays.

    Returns ``[(index, image), ...]`` in frame order. Decoding stops after the last
    wanted frame and only wanted frames are converted, so memory stays small. A stream
    whose frames are larger than ``max_side`` px a side is refused from its header, before
    any frame is decoded (and a frame larger than the header said, before it is converted).

    Raises
    ------
    VideoDecodeError
        The file cannot be decoded, its frames are too large, or it holds fewer frames than
        asked for.
    """
    import av

    path = require_file(path, "video file")
    wanted = None if indices is None else sorted(set(int(i) for i in indices))
    if wanted is not None and not wanted:
        return []
    out: list[tuple[int, np.ndarray]] = []
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise VideoDecodeError(f"{path}: no video stream")
            stream = container.streams.video[0]
            _check_frame_size(path, stream.codec_context.width, stream.codec_context.height, max_side)
            stream.thread_type = "AUTO"
            keep = set(wanted) if wanted is not None else None
            last = wanted[-1] if wanted is not None else None
            for index, frame in enumerate(container.decode(stream)):
                if keep is None or index in keep:
                    _check_frame_size(path, frame.width, frame.height, max_side)
                    out.append((index, frame.to_ndarray(format="rgb24")))
                if last is not None and index >= last:
                    break
    except VideoDecodeError:
        raise
    except (av.error.FFmpegError, ValueError, OSError, EOFError) as exc:
        raise VideoDecodeError(f"{path}: {media_problem(exc, 'video')}") from None
    if not out:
        raise VideoDecodeError(f"{path}: no decodable video frames")
    if wanted is not None and len(out) < len(wanted):
        got = {i for i, _ in out}
        missing = [i for i in wanted if i not in got]
        raise VideoDecodeError(f"{path}: frames {missing[:5]} could not be decoded (truncated video?)")
    return out


def _check_frame_size(path, width: int, height: int, max_side: int) -> None:
    width, height = int(width or 0), int(height or 0)
    if max(width, height) > max_side or width * height > MAX_FRAME_PIXELS:
        raise VideoDecodeError(
            f"{path}: video frames are too large to decode safely ({width}x{height} px; at most "
            f"{max_side} px a side and {MAX_FRAME_PIXELS / 1e6:.1f} Mpx)"
        )


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
    since the previous one, as Pillow's own writer does. Every frame written is one GIF
    frame (an unchanged frame is a 1-pixel update).

    Parameters
    ----------
    palette : sequence of (r, g, b), optional
        At most 255 colours every frame is mapped to (nearest colour, no dithering), stored
        once as the GIF's global colour table; exact colours in it (e.g. from
        :func:`gif_palette`) come out unchanged. Within a changed rectangle, pixels whose
        palette entry did not change are left transparent (index 255) over the previous
        frame, which LZW stores in a few bits: a talking-head animation then costs a
        fraction of a full frame per frame. Default: each frame or changed rectangle gets
        its own adaptive palette.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        fps: float = 10.0,
        overwrite: bool = True,
        palette: Sequence[Sequence[int]] | None = None,
    ):
        if palette is not None and not 0 < len(palette) <= 255:
            raise ValueError(
                f"a GIF palette holds 1 to 255 colours (one index is transparency), got {len(palette)}"
            )
        super().__init__(path, overwrite)
        self.duration_ms = max(20, int(round(1000.0 / fps)))
        self._n_colors = 0 if palette is None else len(palette)
        self._palette = None if palette is None else _palette_image(palette)
        if palette is not None:  # every 24-bit colour -> its palette entry + 1 (16 MB, mostly untouched)
            packed = _pack_rgb(np.asarray([[tuple(c)[:3] for c in palette]], dtype=np.uint8))[0]
            self._exact_index = np.zeros(1 << 24, dtype=np.uint8)
            self._exact_index[packed[::-1]] = np.arange(len(palette), 0, -1, dtype=np.uint8)  # first wins
        self._file = open(self.tmp, "wb")  # noqa: SIM115 (closed in _finish / _discard)
        self._previous: np.ndarray | None = None

    def _write(self, frame: np.ndarray) -> None:
        if self._palette is None:
            self._write_adaptive(frame)
        else:
            self._write_indexed(frame)

    def _write_adaptive(self, frame: np.ndarray) -> None:
        from PIL import GifImagePlugin, Image

        if self._previous is None:
            image = Image.fromarray(frame).convert("P", palette=Image.Palette.ADAPTIVE)
            header, _ = GifImagePlugin.getheader(image, None, {"loop": 0, "duration": self.duration_ms})
            chunks = [*header, *GifImagePlugin.getdata(image, (0, 0), duration=self.duration_ms)]
        else:
            top, bottom, left, right = _changed_box(np.any(frame != self._previous, axis=2))
            patch = Image.fromarray(np.ascontiguousarray(frame[top:bottom, left:right]))
            patch = patch.convert("P", palette=Image.Palette.ADAPTIVE)
            chunks = GifImagePlugin.getdata(
                patch, (int(left), int(top)), duration=self.duration_ms, include_color_table=True
            )
        self._file.writelines(chunks)
        self._previous = frame

    def _write_indexed(self, frame: np.ndarray) -> None:
        from PIL import GifImagePlugin, Image

        quantized = Image.fromarray(frame).quantize(palette=self._palette, dither=Image.Dither.NONE)
        indices = np.asarray(quantized).copy()
        indices[indices >= self._n_colors] = self._n_colors - 1  # padding repeats the last colour
        # Pillow's palette lookup is nearest per cell of a coarse colour cube, so a colour
        # of the palette itself can land on a neighbour: pixels of exactly a palette colour
        # get that entry
        exact = self._exact_index[_pack_rgb(frame)]  # entry + 1, or 0 for colours not in it
        np.copyto(indices, exact - 1, where=exact > 0)
        if self._previous is None:
            image = Image.fromarray(indices, "P")
            image.putpalette(self._palette.getpalette())
            header, _ = GifImagePlugin.getheader(image, None, {"loop": 0, "duration": self.duration_ms})
            chunks = [*header, *GifImagePlugin.getdata(image, (0, 0), duration=self.duration_ms)]
        else:
            changed = indices != self._previous
            top, bottom, left, right = _changed_box(changed)
            patch = indices[top:bottom, left:right].copy()
            patch[~changed[top:bottom, left:right]] = TRANSPARENT_INDEX
            image = Image.fromarray(patch, "P")
            image.putpalette(self._palette.getpalette())
            chunks = GifImagePlugin.getdata(
                image,
                (int(left), int(top)),
                duration=self.duration_ms,
                transparency=TRANSPARENT_INDEX,
                disposal=1,  # keep this frame under the next one
                include_color_table=False,  # the global table
            )
        self._file.writelines(chunks)
        self._previous = indices

    def _finish(self) -> None:
        self._file.write(b";")
        self._file.close()

    def _discard(self) -> None:
        self._file.close()


def _pack_rgb(rgb: np.ndarray) -> np.ndarray:
    """RGB uint8 pixels (..., 3) as one uint32 each."""
    rgb = rgb[..., :3].astype(np.uint32)
    return (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]


#: Palette index a :class:`GifWriter` with a fixed palette leaves transparent.
TRANSPARENT_INDEX = 255


def _changed_box(changed: np.ndarray) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) around the True pixels of ``changed``; the top-left pixel
    when none changed (a 1-pixel update keeps one GIF frame per frame)."""
    rows, cols = np.flatnonzero(changed.any(axis=1)), np.flatnonzero(changed.any(axis=0))
    if not rows.size:
        return 0, 1, 0, 1
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def _palette_image(colors: Sequence[Sequence[int]]):
    """A 1-pixel ``P`` image holding ``colors`` (at most 256) as its palette, padded with
    the last colour so that no frame pixel maps to an unintended black."""
    from PIL import Image

    colors = [tuple(int(c) for c in color[:3]) for color in colors]
    if not 0 < len(colors) <= 256:
        raise ValueError(f"a palette holds 1 to 256 colours, got {len(colors)}")
    colors += [colors[-1]] * (256 - len(colors))
    image = Image.new("P", (1, 1))
    image.putpalette([value for color in colors for value in color])
    return image


def gif_palette(
    sample: np.ndarray, keep: Sequence[Sequence[int]] = (), colors: int = 255
) -> list[tuple[int, int, int]]:
    """An adaptive palette for a GIF: ``keep`` exactly, the rest median-cut from ``sample``.

    Parameters
    ----------
    sample : np.ndarray
        RGB uint8 image(s) representative of the frames (e.g. the first frame).
    keep : sequence of (r, g, b)
        Colours that must come out unchanged (a plot's emotion colours, text colours):
        an adaptive palette alone merges small areas of colour into their neighbours
        (yellow bars became orange).
    colors : int
        Palette size, at most 255 (:class:`GifWriter` keeps one index for transparency).
    """
    from PIL import Image

    keep = list(dict.fromkeys(tuple(int(c) for c in color[:3]) for color in keep))
    if len(keep) >= colors:
        raise ValueError(f"{len(keep)} colours to keep leave no room in a {colors}-colour palette")
    image = Image.fromarray(np.ascontiguousarray(np.asarray(sample, dtype=np.uint8)[..., :3]))
    adaptive = image.quantize(colors=colors - len(keep), method=Image.Quantize.MEDIANCUT)
    values = adaptive.getpalette()[: 3 * (colors - len(keep))]
    found = [tuple(values[i : i + 3]) for i in range(0, len(values), 3)]
    return keep + [color for color in dict.fromkeys(found) if color not in keep]


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
    frames: Iterable[np.ndarray],
    path: str | os.PathLike,
    fps: float = 10.0,
    overwrite: bool = True,
    palette: Sequence[Sequence[int]] | None = None,
) -> Path:
    """Write an endlessly looping GIF of RGB frames at ``fps`` (see :class:`GifWriter`)."""
    with GifWriter(path, fps=fps, overwrite=overwrite, palette=palette) as writer:
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
