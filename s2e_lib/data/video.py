"""Video frames with PyAV: count them cheaply, choose which to keep, decode only those."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from s2e_lib.errors import InputError, media_problem
from s2e_lib.fileio import require_file
from s2e_lib.media import VideoDecodeError, read_frames

__all__ = [
    "FRAME_SELECTIONS",
    "VideoDecodeError",
    "count_frames",
    "read_frames",
    "select_frames",
    "write_image",
]

#: Which frames of a take to keep (after ``step``): every one, or K at the start, middle or end.
FRAME_SELECTIONS = ("all", "first", "middle", "last")


def count_frames(path: str | os.PathLike) -> int:
    """Number of video frames in ``path``, counted from the container (no decoding).

    Raises
    ------
    VideoDecodeError
        The file cannot be opened or has no video stream.
    """
    import av

    path = require_file(path, "video file")
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise VideoDecodeError(f"{path}: no video stream")
            stream = container.streams.video[0]
            n = sum(1 for packet in container.demux(stream) if packet.size)
    except VideoDecodeError:
        raise
    except (av.error.FFmpegError, ValueError, OSError, EOFError) as exc:
        raise VideoDecodeError(f"{path}: {media_problem(exc, 'video')}") from None
    if n == 0:
        raise VideoDecodeError(f"{path}: no video frames")
    return n


def select_frames(
    n_frames: int, step: int = 1, frames: str = "all", max_frames: int | None = None
) -> list[int]:
    """Indices of the frames to keep out of ``n_frames``.

    Parameters
    ----------
    n_frames : int
        Frames in the video.
    step : int
        Keep every ``step``-th frame (0, step, 2 step, ...).
    frames : {"all", "first", "middle", "last"}
        ``"all"`` keeps every stepped frame (at most ``max_frames``, evenly spread);
        the others keep ``max_frames`` (default 1) stepped frames at that place.
    max_frames : int, optional
        Cap on the number of frames kept.

    Examples
    --------
    >>> select_frames(10, step=2)
    [0, 2, 4, 6, 8]
    >>> select_frames(10, step=2, frames="middle", max_frames=1)
    [4]
    >>> select_frames(30, step=1, frames="all", max_frames=3)
    [0, 14, 29]
    """
    if step < 1:
        raise InputError(f"frame step must be >= 1 (got {step})")
    if frames not in FRAME_SELECTIONS:
        raise InputError(f"unknown frame selection {frames!r}; expected one of {', '.join(FRAME_SELECTIONS)}")
    if max_frames is not None and max_frames < 1:
        raise InputError(f"max frames must be >= 1 (got {max_frames})")
    candidates = list(range(0, max(n_frames, 0), step))
    if not candidates:
        return []
    if frames == "all":
        if max_frames is None or max_frames >= len(candidates):
            return candidates
        picks = np.linspace(0, len(candidates) - 1, max_frames).round().astype(int)
        return [candidates[i] for i in sorted(set(picks.tolist()))]
    k = min(max_frames or 1, len(candidates))
    if frames == "first":
        return candidates[:k]
    if frames == "last":
        return candidates[-k:]
    start = (len(candidates) - k) // 2
    return candidates[start : start + k]


def write_image(path: str | os.PathLike, image: np.ndarray, quality: int = 95) -> Path:
    """Write an RGB uint8 image as png or jpg (from the suffix) to ``path`` directly."""
    import cv2

    path = Path(path)
    params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)] if path.suffix.lower() in (".jpg", ".jpeg") else []
    bgr = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2BGR)
    if not cv2.imwrite(str(path), bgr, params):
        raise InputError(f"{path}: could not write image")
    return path
