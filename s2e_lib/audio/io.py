"""Decode any audio (wav, m4a/AAC, mp3, flac, the audio track of an mp4) in-process.

PyAV (FFmpeg's libraries bundled in the wheel) does the decoding and resampling, so no
system ``ffmpeg`` is needed. Everything downstream works on 16 kHz mono float32.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from s2e_lib.errors import InputError, one_line
from s2e_lib.fileio import atomic_output, require_file

#: The project's working sample rate (Hz).
SAMPLE_RATE = 16_000


class AudioDecodeError(InputError):
    """The file is not decodable audio (corrupt, empty, or has no audio stream)."""


def load_audio(
    path: str | os.PathLike,
    sr: int = SAMPLE_RATE,
    offset: float = 0.0,
    duration: float | None = None,
) -> np.ndarray:
    """Load ``path`` as mono float32 at ``sr`` Hz.

    Integer formats give samples in [-1, 1]; float formats (32-bit float WAV) keep their
    values, including peaks beyond ±1, so that a gain change is exactly a gain change (the
    speech-emotion features normalise the level; nothing is silently clipped).

    Parameters
    ----------
    path : path-like
        Any file with an audio stream that FFmpeg reads.
    sr : int
        Target sample rate.
    offset, duration : float
        Seconds to skip at the start, and seconds to keep (None = to the end).

    Raises
    ------
    InputError
        The file is missing or a directory.
    AudioDecodeError
        The file cannot be decoded or holds no audio samples.
    """
    import av

    path = require_file(path, "audio file")
    chunks: list[np.ndarray] = []
    try:
        with av.open(str(path)) as container:
            streams = [s for s in container.streams if s.type == "audio"]
            if not streams:
                raise AudioDecodeError(f"{path}: no audio stream")
            resampler = av.AudioResampler(format="flt", layout="mono", rate=sr)
            for frame in container.decode(streams[0]):
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().reshape(-1))
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().reshape(-1))
    except AudioDecodeError:
        raise
    except (av.error.FFmpegError, ValueError, OSError, EOFError) as exc:
        raise AudioDecodeError(f"{path}: cannot decode audio ({one_line(exc)})") from None
    if not chunks:
        raise AudioDecodeError(f"{path}: no audio samples (empty or corrupt file)")
    audio = np.concatenate(chunks).astype(np.float32, copy=False)
    start = int(round(offset * sr))
    stop = None if duration is None else start + int(round(duration * sr))
    audio = audio[start:stop]
    if audio.size == 0:
        raise AudioDecodeError(f"{path}: no audio samples in the requested range")
    return audio


def write_wav(
    path: str | os.PathLike,
    audio: np.ndarray,
    sr: int = SAMPLE_RATE,
    overwrite: bool = True,
    own_output: bool = False,
) -> Path:
    """Write mono float audio as 16-bit PCM wav, atomically (see ``fileio.atomic_output``)."""
    import soundfile as sf

    audio = np.asarray(audio, dtype=np.float32).reshape(-1)
    with atomic_output(path, overwrite=overwrite, own_output=own_output) as tmp:
        sf.write(str(tmp), np.clip(audio, -1.0, 1.0), sr, subtype="PCM_16", format="WAV")
    return Path(path)
