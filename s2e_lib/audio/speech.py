"""Where the speech is, and how loud it is: active-speech level, level normalisation, voice activity.

The speech-emotion model must hear emotion, not the microphone's gain. Every clip is
therefore brought to one **active-speech level** before any feature is computed, and
features are computed on the parts a real voice-activity detector marks as speech.

Active-speech level
    The power mean of the 25 ms frames (10 ms hop) within 30 dB of the loudest frame, in
    dBFS. Frames are chosen relative to the clip's own loudest frame, so the choice does
    not depend on the gain: scaling a clip by ``g`` shifts its level by exactly
    ``20 log10 g`` dB, and :func:`normalize_level` undoes any gain exactly (up to float
    rounding). This is the definition the project's corpus notes use; BS.1770 loudness
    (``pyloudnorm``) would need ``scipy.signal`` at inference, which costs a second of cold
    start, and gating on the clip's own peak measures speech rather than pauses just as well.

Voice activity
    `Silero VAD <https://github.com/snakers4/silero-vad>`_ (the ``silero-vad`` wheel ships
    its model; nothing is downloaded). It runs on the level-normalised clip, so its
    decisions do not depend on the recording level either, and quiet but clear speech
    (peak -60 dBFS) is heard as well as loud speech. Silence, noise and music give no
    speech spans; :func:`speech_only` concatenates the spans that are speech.
"""

from __future__ import annotations

import threading

import numpy as np

from s2e_lib.audio.io import SAMPLE_RATE

#: Every clip is scaled to this active-speech level (dBFS) before features are computed.
TARGET_LEVEL_DBFS = -26.0
#: Frames more than this many dB below the loudest frame are not active speech.
ACTIVE_WINDOW_DB = 30.0
#: Below this active level the clip is digital silence: there is nothing to normalise.
DIGITAL_SILENCE_DBFS = -110.0

#: Silero VAD settings (probability threshold, shortest speech, shortest pause, padding).
VAD_THRESHOLD = 0.5
VAD_MIN_SPEECH_S = 0.15
VAD_MIN_SILENCE_S = 0.10
VAD_PAD_S = 0.03


def frame_power(
    audio: np.ndarray, sr: int = SAMPLE_RATE, frame_s: float = 0.025, hop_s: float = 0.010
) -> np.ndarray:
    """Mean power of each ``frame_s`` frame every ``hop_s`` seconds, float64, shape (n_frames,).

    Computed in float32 on strided views, ``chunk`` frames at a time, so memory stays
    proportional to the number of frames, not to the number of samples.
    """
    frame = max(1, int(round(frame_s * sr)))
    hop = max(1, int(round(hop_s * sr)))
    audio = np.asarray(audio, dtype=np.float32).reshape(-1)
    if audio.size < frame:
        audio = np.pad(audio, (0, frame - audio.size))
    n = 1 + (audio.size - frame) // hop
    out = np.empty(n, dtype=np.float64)
    chunk = 4096
    for first in range(0, n, chunk):
        last = min(n, first + chunk)
        segment = audio[first * hop : (last - 1) * hop + frame]
        frames = np.lib.stride_tricks.sliding_window_view(segment, frame)[::hop]
        out[first:last] = np.einsum("ij,ij->i", frames, frames, dtype=np.float64) / frame
    return out


def active_level_dbfs(audio: np.ndarray, sr: int = SAMPLE_RATE, window_db: float = ACTIVE_WINDOW_DB) -> float:
    """Active-speech level of a clip in dBFS (see the module docstring).

    Returns ``-inf`` for digital silence (every sample zero).
    """
    power = frame_power(audio, sr)
    peak = float(power.max()) if power.size else 0.0
    if peak <= 0.0:
        return float("-inf")
    active = power[power >= peak * 10.0 ** (-window_db / 10.0)]
    return float(10.0 * np.log10(active.mean()))


#: A clip whose mean exceeds this share of its (mean-free) RMS carries a DC offset: a faulty
#: sound card or microphone. Speech itself averages out: 0.1 % of the RMS in the median
#: TurEV clip, at most 2 %; the shipped model was trained on clips left as they are.
DC_OFFSET_SHARE = 0.1


def remove_dc_offset(audio: np.ndarray) -> np.ndarray:
    """``audio`` without its mean when that mean is a DC offset (:data:`DC_OFFSET_SHARE`),
    else unchanged: an offset counted as level and scaled the voice down by it."""
    audio = np.asarray(audio, dtype=np.float32)
    if not audio.size:
        return audio
    mean = float(audio.mean(dtype=np.float64))
    spread = float(np.sqrt(np.mean(np.square(audio - mean, dtype=np.float64))))
    if abs(mean) > DC_OFFSET_SHARE * spread:
        return audio - np.float32(mean)
    return audio


def normalize_level(
    audio: np.ndarray, sr: int = SAMPLE_RATE, target_dbfs: float = TARGET_LEVEL_DBFS
) -> tuple[np.ndarray, float]:
    """Scale ``audio`` to ``target_dbfs`` active-speech level, after removing a DC offset
    (:func:`remove_dc_offset`: an offset would count as level and scale the voice down).

    Returns
    -------
    audio : np.ndarray, float32
        The scaled clip (not clipped: float samples may exceed ±1 on loud peaks, which the
        features do not mind). Digital silence is returned unchanged.
    gain_db : float
        The gain applied (0 for digital silence).
    """
    audio = remove_dc_offset(np.asarray(audio, dtype=np.float32).reshape(-1))
    level = active_level_dbfs(audio, sr)
    if not np.isfinite(level) or level < DIGITAL_SILENCE_DBFS:
        return audio, 0.0
    gain_db = target_dbfs - level
    return (audio * np.float32(10.0 ** (gain_db / 20.0))).astype(np.float32, copy=False), float(gain_db)


_VAD_LOCK = threading.Lock()
_VAD_MODEL = None


def _vad_model():
    """Silero VAD's TorchScript model from the ``silero-vad`` wheel, loaded once per process."""
    global _VAD_MODEL
    with _VAD_LOCK:
        if _VAD_MODEL is None:
            from silero_vad import load_silero_vad

            _VAD_MODEL = load_silero_vad()
        return _VAD_MODEL


def speech_spans(
    audio: np.ndarray,
    sr: int = SAMPLE_RATE,
    threshold: float = VAD_THRESHOLD,
    min_speech_s: float = VAD_MIN_SPEECH_S,
    min_silence_s: float = VAD_MIN_SILENCE_S,
    pad_s: float = VAD_PAD_S,
    normalize: bool = True,
) -> list[tuple[int, int]]:
    """``(start, stop)`` sample spans of speech found by Silero VAD.

    Parameters
    ----------
    audio : np.ndarray
        Mono audio at ``sr`` (16 kHz; Silero also takes 8 kHz).
    threshold : float
        Speech probability above which a 32 ms window is speech.
    min_speech_s, min_silence_s, pad_s : float
        Shortest speech span kept, shortest pause that splits spans, padding added to each span.
    normalize : bool
        Bring the clip to :data:`TARGET_LEVEL_DBFS` first, so the decisions do not depend on
        the recording level (quiet speech counts as speech).

    Returns
    -------
    list of (int, int)
        Empty when the clip holds no speech (silence, noise, music).
    """
    import torch
    from silero_vad import get_speech_timestamps

    audio = np.asarray(audio, dtype=np.float32).reshape(-1)
    if normalize:
        audio, _ = normalize_level(audio, sr)
    if not np.any(audio):
        return []
    # Silero's network expects samples within [-1, 1]; level-normalised speech peaks may exceed it
    peak = float(np.max(np.abs(audio)))
    if peak > 1.0:
        audio = audio / peak
    model = _vad_model()
    with torch.inference_mode(), _VAD_LOCK:
        stamps = get_speech_timestamps(
            torch.from_numpy(np.ascontiguousarray(audio)),
            model,
            threshold=threshold,
            sampling_rate=sr,
            min_speech_duration_ms=int(min_speech_s * 1000),
            min_silence_duration_ms=int(min_silence_s * 1000),
            speech_pad_ms=int(pad_s * 1000),
        )
        model.reset_states()
    return [(int(s["start"]), int(s["end"])) for s in stamps]


def speech_only(audio: np.ndarray, spans: list[tuple[int, int]]) -> np.ndarray:
    """The samples of ``spans``, concatenated (float32)."""
    audio = np.asarray(audio, dtype=np.float32).reshape(-1)
    if not spans:
        return audio[:0]
    return np.concatenate([audio[a:b] for a, b in spans]).astype(np.float32, copy=False)


def speech_seconds(spans: list[tuple[int, int]], sr: int = SAMPLE_RATE) -> float:
    """Total duration of ``spans`` in seconds."""
    return float(sum(b - a for a, b in spans)) / sr


#: The energy fallback (:func:`energy_speech_span`): a sound must rise this many dB above the
#: clip's floor (10th-percentile frame), its frames within :data:`FALLBACK_WINDOW_DB` of the
#: loudest count, and they must last :data:`FALLBACK_MIN_S`.
FALLBACK_CONTRAST_DB = 9.0
FALLBACK_WINDOW_DB = 25.0
FALLBACK_MIN_S = 0.10
#: Voicing: a 40 ms frame is voiced when the autocorrelation of its whitened spectrum peaks
#: above this within a voice's pitch range (70–500 Hz; noise of any colour peaks at 0.11–0.13,
#: clean speech at 0.2–0.5, speech at 10 dB SNR in white noise at 0.18–0.24 in its loudest quarter);
#: a quarter of the loud frames (3 at least) must be voiced.
FALLBACK_VOICING = 0.17


def _voicing(frames: np.ndarray, sr: int) -> np.ndarray:
    """Per frame: the autocorrelation peak in 70–500 Hz of the spectrally whitened frame.

    Whitening (the power spectrum divided by its smoothed envelope) removes the colour of
    any noise, which would otherwise correlate at short lags (brown noise), and keeps the
    harmonics of a voice.
    """
    n = frames.shape[1]
    power = np.abs(np.fft.rfft(frames, 2 * n, axis=1)) ** 2
    kernel = np.ones(15) / 15
    envelope = np.apply_along_axis(lambda p: np.convolve(p, kernel, mode="same"), 1, power) + 1e-12
    ac = np.fft.irfft(power / envelope, axis=1)[:, :n]
    lo, hi = int(sr / 500), min(int(sr / 70), n - 1)
    lags = ac[:, lo:hi] / np.maximum(ac[:, :1], 1e-20)
    return lags.max(axis=1)


def energy_speech_span(audio: np.ndarray, sr: int = SAMPLE_RATE) -> tuple[int, int] | None:
    """The span of a loud, voiced sound the voice-activity detector missed, or None.

    Silero VAD can hear nothing in a half-second shouted word that fills the whole clip, or in
    a word over loud background noise: both are speech to a user. This fallback takes the
    frames that rise above the clip's own floor (so stationary noise, hum and dither have
    none) and accepts them only when a quarter of them are voiced: periodic at a voice's pitch
    (70–500 Hz) once the spectrum is whitened, which noise of any colour and a chord's mixed
    periods are not (:data:`FALLBACK_VOICING`).

    Returns ``(start, stop)`` samples covering those frames (50 ms margin), or None.
    """
    y = np.asarray(audio, dtype=np.float32).reshape(-1)
    y, _ = normalize_level(y, sr)
    hop, frame = int(0.010 * sr), int(0.025 * sr)
    db = 10 * np.log10(np.maximum(frame_power(y, sr), 1e-20))
    peak, floor = float(db.max()), float(np.percentile(db, 10))
    if peak - floor < FALLBACK_CONTRAST_DB:
        return None
    active = np.flatnonzero((db >= peak - FALLBACK_WINDOW_DB) & (db >= floor + 0.5 * FALLBACK_CONTRAST_DB))
    if active.size * 0.010 < FALLBACK_MIN_S:
        return None
    width = int(0.040 * sr)  # nearly three periods of the lowest pitch
    y = np.pad(y, (0, max(0, width - y.size)))
    starts = np.clip(active * hop + frame // 2 - width // 2, 0, y.size - width)
    frames = np.stack([y[s : s + width] for s in starts]).astype(np.float64)
    frames = frames * np.hanning(frames.shape[1])
    voiced = _voicing(frames, sr) >= FALLBACK_VOICING
    if voiced.sum() < max(3, 0.25 * active.size):
        return None
    margin = int(0.05 * sr)
    start = max(0, int(active[0]) * hop - margin)
    stop = min(y.size, int(active[-1]) * hop + frame + margin)
    return start, stop
