"""Decode any audio (wav, m4a/AAC, mp3, flac, the audio track of an mp4) in-process.

PyAV (FFmpeg's libraries bundled in the wheel) does the decoding and resampling, so no
system ``ffmpeg`` is needed. Everything downstream works on 16 kHz mono float32.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from s2e_lib.errors import InputError, media_problem
from s2e_lib.fileio import atomic_output, require_file

#: The project's working sample rate (Hz).
SAMPLE_RATE = 16_000

#: Longest recording a single-clip command (``s2e ser predict``, ``s2e run`` without
#: ``--timeline``) accepts by default, in seconds; ``--max-seconds`` raises it. Decoding a
#: clip costs 64 kB of float32 per second (230 MB per hour), and one clip is meant to hold
#: one utterance; longer recordings belong in ``s2e run --timeline``, which streams.
MAX_CLIP_SECONDS = 600.0


class AudioDecodeError(InputError):
    """The file is not decodable audio (corrupt, empty, or has no audio stream)."""


def _too_long(path, seconds: float | None, limit: float) -> InputError:
    """The one-line refusal; ``seconds`` None = the length is unknown but past the limit."""
    length = f"more than {limit:.0f} s of audio is" if seconds is None else f"{seconds:.0f} s of audio is"
    return InputError(
        f"{path}: {length} longer than the {limit:.0f} s limit of one clip "
        "(use --max-seconds to raise it, or --timeline)"
    )


#: Slack (s) on ``max_seconds``: codec padding must not refuse a clip of exactly the limit.
_LIMIT_SLACK_S = 0.5


#: Highest source sample rate and channel count accepted: studio recorders stop at 384 kHz;
#: a header claiming more (a crafted WAV at 2 GHz) would make the resampler allocate gigabytes.
MAX_SOURCE_RATE = 384_000
MAX_SOURCE_CHANNELS = 64


def _check_stream(path, stream) -> None:
    """Refuse an audio stream whose header states an impossible rate or channel count, before decoding."""
    rate = int(getattr(stream, "sample_rate", 0) or getattr(stream.codec_context, "sample_rate", 0) or 0)
    if rate > MAX_SOURCE_RATE:
        raise AudioDecodeError(
            f"{path}: the header states a sample rate of {rate} Hz, beyond the {MAX_SOURCE_RATE} Hz any recorder uses"
        )
    channels = _channels(stream)
    if channels > MAX_SOURCE_CHANNELS:
        raise AudioDecodeError(
            f"{path}: the header states {channels} channels (at most {MAX_SOURCE_CHANNELS} are read)"
        )


def _stream_seconds(container, stream) -> float | None:
    """Duration (s) the container or stream header states, or None when it states none."""
    if stream.duration is not None and stream.time_base is not None and stream.duration > 0:
        return float(stream.duration * stream.time_base)
    if container.duration is not None and container.duration > 0:
        return container.duration / 1_000_000  # AV_TIME_BASE
    return None


def audio_duration(path: str | os.PathLike) -> float | None:
    """Duration in seconds that ``path``'s header states (nothing is decoded), or None.

    Raises
    ------
    InputError
        The file is missing or a directory.
    AudioDecodeError
        The file cannot be opened or has no audio stream.
    """
    import av

    path = require_file(path, "audio file")
    try:
        with av.open(str(path)) as container:
            streams = [s for s in container.streams if s.type == "audio"]
            if not streams:
                raise AudioDecodeError(f"{path}: no audio stream")
            _check_stream(path, streams[0])
            return _stream_seconds(container, streams[0])
    except AudioDecodeError:
        raise
    except (av.error.FFmpegError, ValueError, OSError, EOFError) as exc:
        raise AudioDecodeError(f"{path}: {media_problem(exc, 'audio')}") from None


def check_clip_length(path: str | os.PathLike, max_seconds: float | None) -> float | None:
    """Refuse ``path`` when its header states more than ``max_seconds`` of audio.

    Cheap (nothing is decoded), for a command to fail before any long work; returns the
    stated duration (None when the header states none: :func:`load_audio` then counts).
    """
    seconds = audio_duration(path)
    if max_seconds is not None and seconds is not None and seconds > max_seconds + _LIMIT_SLACK_S:
        raise _too_long(path, seconds, max_seconds)
    return seconds


def _channels(stream) -> int:
    """Number of channels of a PyAV audio stream (``channels`` left PyAV's codec context in 14)."""
    context = stream.codec_context
    layout = getattr(context, "layout", None)
    return int(getattr(layout, "nb_channels", 0) or getattr(context, "channels", 1) or 1)


class _Buffer:
    """A growing float32 (channels, samples) array: preallocated from the header's duration
    when known, so decoding never holds a list of chunks and their concatenation at once."""

    def __init__(self, capacity: int, channels: int = 1):
        self.data = np.empty((channels, max(capacity, 1024)), dtype=np.float32)
        self.size = 0

    def append(self, samples: np.ndarray) -> None:
        samples = samples.reshape(self.data.shape[0], -1)
        end = self.size + samples.shape[1]
        if end > self.data.shape[1]:  # the header under-stated the length: grow by half
            grown = np.empty((self.data.shape[0], max(end, int(self.data.shape[1] * 1.5))), dtype=np.float32)
            grown[:, : self.size] = self.data[:, : self.size]
            self.data = grown
        self.data[:, self.size : end] = samples
        self.size = end

    def result(self) -> np.ndarray:
        """The samples, mono (:func:`downmix` of two channels)."""
        if self.data.shape[0] > 1:
            return downmix(self.data[:, : self.size])
        if self.size < 0.9 * self.data.shape[1]:  # over-stated: do not keep the slack
            return self.data[0, : self.size].copy()
        return self.data[0, : self.size]


#: A stereo mix quieter than this share of its louder channel has cancelled itself: one
#: channel is the other phase-inverted (a miswired microphone or interface), and the mix
#: is near silence. Independent channels mix to about 0.71 of one, one silent channel to
#: 0.71 too, the same signal in both to 1.41.
CANCELLED_MIX = 0.35


def downmix(channels: np.ndarray) -> np.ndarray:
    """Two channels → mono as FFmpeg mixes them, ``(left + right) / √2``; when that mix
    cancels itself (:data:`CANCELLED_MIX`: one channel phase-inverted), the louder channel."""
    channels = np.asarray(channels, dtype=np.float32)
    mix = (channels[0] + channels[1]) * np.float32(np.sqrt(0.5))
    loudness = np.sqrt(np.mean(np.square(channels, dtype=np.float64), axis=1))
    if (
        loudness.max() > 0
        and np.sqrt(np.mean(np.square(mix, dtype=np.float64))) < CANCELLED_MIX * loudness.max()
    ):
        return np.ascontiguousarray(channels[int(loudness.argmax())])
    return mix


def load_audio(
    path: str | os.PathLike,
    sr: int = SAMPLE_RATE,
    offset: float = 0.0,
    duration: float | None = None,
    max_seconds: float | None = None,
) -> np.ndarray:
    """Load ``path`` as mono float32 at ``sr`` Hz.

    Two-channel recordings are mixed as FFmpeg mixes them, unless one channel is the other
    phase-inverted (then the mix is near silence and the louder channel is kept:
    :func:`downmix`).

    Integer formats give samples in [-1, 1]; float formats (32-bit float WAV) keep their
    values, including peaks beyond ±1, so that a gain change is exactly a gain change (the
    speech-emotion features normalise the level; nothing is silently clipped).

    Samples are decoded straight into one float32 array (sized from the header when it
    states a duration), and decoding stops at the end of the requested range.

    Parameters
    ----------
    path : path-like
        Any file with an audio stream that FFmpeg reads.
    sr : int
        Target sample rate.
    offset, duration : float
        Seconds to skip at the start, and seconds to keep (None = to the end).
    max_seconds : float, optional
        Refuse recordings whose kept part is longer (:data:`MAX_CLIP_SECONDS` for one
        clip). Checked on the header's duration before anything is decoded; when the
        header states none, decoding stops as soon as the limit is passed.

    Raises
    ------
    InputError
        The file is missing or a directory, or longer than ``max_seconds``.
    AudioDecodeError
        The file cannot be decoded or holds no audio samples.
    """
    import av

    path = require_file(path, "audio file")
    start = max(0, int(round(offset * sr)))
    stop = None if duration is None else start + int(round(duration * sr))
    limit = None  # last sample index allowed (absolute), when a limit applies
    if max_seconds is not None:
        limit = start + int(round((max_seconds + _LIMIT_SLACK_S) * sr))
        if stop is not None and stop <= limit:
            limit = None
    try:
        with av.open(str(path)) as container:
            streams = [s for s in container.streams if s.type == "audio"]
            if not streams:
                raise AudioDecodeError(f"{path}: no audio stream")
            _check_stream(path, streams[0])
            stated = _stream_seconds(container, streams[0])
            expected = None if stated is None else int(round(stated * sr))
            if expected is not None and stop is not None:
                expected = min(expected, stop)
            if limit is not None and expected is not None and expected > limit:
                raise _too_long(path, (expected - start) / sr, max_seconds)
            capacity = (expected - start + sr // 10) if expected is not None and expected > start else sr
            if stop is not None:
                capacity = min(capacity, stop - start)
            if limit is not None:
                capacity = min(capacity, limit - start + 1)
            # two channels are kept apart and mixed at the end (see downmix: a phase-inverted
            # channel would cancel the voice in FFmpeg's mix); other layouts are mixed by FFmpeg
            stereo = _channels(streams[0]) == 2
            buffer = _Buffer(capacity, channels=2 if stereo else 1)
            resampler = av.AudioResampler(
                format="fltp" if stereo else "flt", layout="stereo" if stereo else "mono", rate=sr
            )
            position = 0  # samples decoded so far (before the offset cut)

            def take(frames) -> bool:
                """Keep the part of ``frames`` in [start, stop); False once past the end."""
                nonlocal position
                for out in frames:
                    samples = out.to_ndarray().reshape(buffer.data.shape[0], -1)
                    first, last = position, position + samples.shape[1]
                    position = last
                    lo, hi = max(first, start), last if stop is None else min(last, stop)
                    if hi > lo:
                        buffer.append(samples[:, lo - first : hi - first])
                    if limit is not None and position > limit:
                        raise _too_long(path, None, max_seconds)
                    if stop is not None and position >= stop:
                        return False
                return True

            for frame in container.decode(streams[0]):
                if not take(resampler.resample(frame)):
                    break
            else:
                take(resampler.resample(None))
    except InputError:
        raise
    except (av.error.FFmpegError, ValueError, OSError, EOFError) as exc:
        raise AudioDecodeError(f"{path}: {media_problem(exc, 'audio')}") from None
    if position == 0:
        raise AudioDecodeError(f"{path}: no audio samples (empty or corrupt file)")
    if buffer.size == 0:
        raise AudioDecodeError(f"{path}: no audio samples in the requested range")
    return buffer.result()


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
