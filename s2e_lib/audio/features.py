"""Speech features for emotion recognition: the original recipe, log-mel sequences, MFCC statistics.

Everything starts from 16 kHz mono float32 audio (:func:`s2e_lib.audio.load_audio`).
Three kinds, chosen by :class:`FeatureConfig.kind`:

``original``
    The original project's vector, reproduced exactly: 13 MFCCs at 44.1 kHz of the
    2.5 s that start 0.5 s into the clip, averaged over the coefficients, giving one
    number per frame: 216 frames, zero-padded when the clip is shorter.
``logmel``
    A log-mel spectrogram sequence ``(n_mels, n_frames)`` (25 ms windows, 10 ms hop) of
    the clip with leading/trailing silence trimmed. Models add deltas and per-utterance
    normalisation themselves, so augmentation can act on the raw spectrogram.
``egemaps`` / ``stats+egemaps`` / ``stats+egemaps+ge2e`` / ``stats+egemaps+ge2e-layers``
    The 88 eGeMAPS functionals (openSMILE), alone or after ``stats``; ``+ge2e`` appends the
    256-dimensional utterance embedding of a pretrained GE2E voice encoder
    (:mod:`s2e_lib.audio.voice_encoder`), ``+ge2e-layers`` the embedding and the mean and
    standard deviation of the encoder's LSTM layers 2 and 3 (1,280 values,
    :func:`~s2e_lib.audio.voice_encoder.layer_statistics`). All on the version-2 front end.
``whisper`` / ``stats+egemaps+ge2e-layers+whisper``
    The mean and standard deviation over frames of a Whisper encoder's layers 2–4
    (:attr:`FeatureConfig.whisper`: multilingual base, 3,072 values, or tiny.en, 2,304;
    :func:`s2e_lib.audio.whisper_encoder.layer_statistics`) of the same level-normalised
    speech, alone or after ``stats+egemaps+ge2e-layers``.
``stats``
    Pooled statistics (mean and standard deviation over time) of MFCCs, their deltas,
    RMS energy, spectral contrast, spectral centroid/rolloff/flatness and zero-crossing
    rate: one fixed-length vector per clip.

:func:`extract_files` computes features for many files in parallel with a progress bar
and caches each one on disk, keyed by the file's identity (path, size, mtime) and the
feature parameters, so experiments re-run without decoding audio again.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

from s2e_lib.audio import augment as aug
from s2e_lib.audio import dsp, whisper_encoder
from s2e_lib.audio.io import SAMPLE_RATE, load_audio
from s2e_lib.audio.speech import (
    TARGET_LEVEL_DBFS,
    normalize_level,
    speech_only,
    speech_spans,
)
from s2e_lib.errors import MissingResourceError, deferred_interrupt
from s2e_lib.paths import project_paths

#: Bump when a feature computation changes, to invalidate caches.
FEATURES_VERSION = 3

#: Frames of the original recipe's vector (2.5 s at 44.1 kHz, hop 512, centred frames).
ORIGINAL_FRAMES = 216


@dataclass(frozen=True)
class FeatureConfig:
    """Parameters of a feature extractor (stored in checkpoints; must match at load time).

    Attributes
    ----------
    kind : {"logmel", "stats", "original", "egemaps", "stats+egemaps", "stats+egemaps+ge2e", \
"stats+egemaps+ge2e-layers"}
        Which feature (see the module docstring).
    sr : int
        Working sample rate of the input audio.
    n_mels : int
        Mel bands of ``logmel``.
    n_mfcc : int
        MFCCs of ``stats``.
    n_fft, win_length, hop_length : int
        STFT parameters (samples at ``sr``) of ``logmel`` and ``stats``.
    fmin, fmax : float
        Mel filterbank range (Hz).
    trim_db : float
        Leading/trailing audio quieter than this many dB below the peak is trimmed
        (``logmel``/``stats``); 0 disables trimming.
    pitch : bool
        ``stats`` also holds pitch (YIN f0) and loudness-dynamics statistics.
    version : int
        The feature pipeline. ``2`` (the default): the clip is brought to ``level_dbfs``
        active-speech level (:mod:`s2e_lib.audio.speech`), only what Silero VAD marks as speech
        is kept (``vad``), every value is relative to the utterance (no MFCC c0 mean, no
        absolute log-RMS or level), and everything is computed with numpy
        (:mod:`s2e_lib.audio.dsp`, equal to librosa within 1e-4) so inference never imports
        librosa. ``1``: the first release's features (librosa, absolute levels, energy
        trimming); kept so that older checkpoints load and compute what they were trained on.
    level_dbfs : float
        Active-speech level every clip is scaled to (version 2).
    vad : bool
        Keep only the speech found by the voice-activity detector (version 2; falls back to
        energy trimming when the detector finds under 0.3 s, e.g. in heavily noised training copies).
    whisper : {"base", "tiny.en"}
        The Whisper encoder of the ``*whisper`` kinds (:data:`s2e_lib.audio.whisper_encoder.MODELS`):
        multilingual base (512 wide; the default since issue 25's third round: leave-one-corpus-out
        linear probes over four corpora in four languages, layers 2-4, mean 0.480 / worst corpus
        0.440 against 0.410 / 0.360 for tiny.en; docs/ser.md) or the English-only tiny.en (384
        wide, the first Whisper-fed model's). A stored configuration without it is ``tiny.en``
        (:meth:`from_dict`), so older checkpoints compute what they were trained on.
    """

    kind: str = "logmel"
    sr: int = SAMPLE_RATE
    n_mels: int = 64
    n_mfcc: int = 40
    n_fft: int = 512
    win_length: int = 400
    hop_length: int = 160
    fmin: float = 50.0
    fmax: float = 8000.0
    trim_db: float = 30.0
    pitch: bool = True
    version: int = 2
    level_dbfs: float = -26.0
    vad: bool = True
    whisper: str = "base"

    def __post_init__(self) -> None:
        if self.kind not in FEATURE_KINDS:
            raise ValueError(
                f"unknown feature kind {self.kind!r}; expected one of {', '.join(FEATURE_KINDS)}"
            )
        if self.kind in VECTOR_KINDS_V2 and self.version < 2:
            raise ValueError(f"feature kind {self.kind!r} needs feature version 2")
        if self.version not in (1, 2):
            raise ValueError(f"unknown feature version {self.version!r}; expected 1 or 2")
        if self.whisper not in whisper_encoder.MODELS:
            raise ValueError(
                f"unknown Whisper model {self.whisper!r}; expected one of {', '.join(whisper_encoder.MODELS)}"
            )

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> FeatureConfig:
        """Rebuild a stored configuration; one stored without ``version`` is version 1, one
        without ``whisper`` used tiny.en."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values.setdefault("version", 1)
        values.setdefault("whisper", "tiny.en")
        return cls(**values)

    @property
    def frames_per_second(self) -> float:
        return self.sr / self.hop_length

    def key(self) -> str:
        """A short hash of the parameters (and :data:`FEATURES_VERSION`) for cache keys."""
        text = json.dumps({**self.to_dict(), "cache_version": FEATURES_VERSION}, sort_keys=True)
        return hashlib.sha1(text.encode()).hexdigest()[:12]


FEATURE_KINDS: tuple[str, ...] = (
    "logmel",
    "stats",
    "original",
    "egemaps",
    "stats+egemaps",
    "stats+egemaps+ge2e",
    "stats+egemaps+ge2e-layers",
    "whisper",
    "stats+egemaps+ge2e-layers+whisper",
)
#: Fixed-length vector kinds that exist only on the version-2 front end.
VECTOR_KINDS_V2: tuple[str, ...] = (
    "egemaps",
    "stats+egemaps",
    "stats+egemaps+ge2e",
    "stats+egemaps+ge2e-layers",
    "whisper",
    "stats+egemaps+ge2e-layers+whisper",
)

#: Length of the eGeMAPS v02 functionals vector.
EGEMAPS_DIM = 88

_OPENSMILE_LIB = None


def _opensmile_lib():
    """openSMILE's ctypes wrapper (``opensmile/core/lib.py``) loaded on its own.

    Importing the ``opensmile`` package pulls in pandas, audinterface and audobject
    (~0.4 s of every cold start) only to build the same calls; the wrapper itself needs
    ctypes and numpy. :func:`egemaps` is tested equal to ``opensmile.Smile``.
    """
    global _OPENSMILE_LIB
    if _OPENSMILE_LIB is None:
        import importlib.util

        spec = importlib.util.find_spec("opensmile")
        if spec is None or not spec.submodule_search_locations:
            raise MissingResourceError("eGeMAPS features need openSMILE: pip install opensmile")
        root = Path(list(spec.submodule_search_locations)[0]) / "core"
        lib_spec = importlib.util.spec_from_file_location("_s2e_opensmile_lib", root / "lib.py")
        module = importlib.util.module_from_spec(lib_spec)
        lib_spec.loader.exec_module(module)
        _OPENSMILE_LIB = (module, root / "config")
    return _OPENSMILE_LIB


def egemaps(audio: np.ndarray, sr: int = SAMPLE_RATE) -> np.ndarray:
    """The 88 eGeMAPS v02 functionals (openSMILE; Eyben et al. 2016), float32.

    The field's standard minimal paralinguistic set: pitch, jitter, shimmer, loudness,
    HNR, formants, spectral slope and MFCC functionals. Computed on the version-2 front end
    (level-normalised speech), so its loudness values are relative too. Runs openSMILE's
    eGeMAPSv02 configuration exactly as ``opensmile.Smile(FeatureSet.eGeMAPSv02,
    FeatureLevel.Functionals).process_signal`` does (16-bit samples, external source and
    sink), through the ``opensmile`` wheel's own library.
    """
    lib, config_root = _opensmile_lib()
    samples = np.asarray(audio, dtype=np.float32).reshape(-1) * 32768
    pcm = np.clip(samples, -32768, 32767).astype(np.int16)
    options = {
        "source": str(config_root / "shared" / "standard_external_wave_input.conf.inc"),
        "sink": str(config_root / "shared" / "standard_external_data_output_single.conf.inc"),
        "sinkLevel": "func",
        "sampleRate": int(sr),
        "nBits": 16,
    }
    rows: list[np.ndarray] = []
    failures: list[BaseException] = []

    def sink(data, meta) -> None:
        try:
            rows.append(np.array(data, copy=True))
        except BaseException as exc:  # ctypes would print and swallow it
            failures.append(exc)

    smile = lib.OpenSMILE()
    smile.initialize(
        config_file=str(config_root / "egemaps" / "v02" / "eGeMAPSv02.conf"), options=options, loglevel=0
    )
    try:
        with deferred_interrupt():  # Ctrl-C inside openSMILE's callback must not be swallowed
            smile.external_sink_set_callback_ex("extsink", sink)
            smile.external_audio_source_write_data("extsource", pcm.tobytes())
            smile.external_audio_source_set_eoi("extsource")
            smile.run()
    finally:
        smile.free()
    if failures:
        raise failures[0]
    if not rows:
        return np.zeros(EGEMAPS_DIM, dtype=np.float32)
    values = np.asarray(rows[0], dtype=np.float64).reshape(-1)
    return np.nan_to_num(values.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)


def original_recipe(audio: np.ndarray, sr: int = SAMPLE_RATE) -> np.ndarray:
    """The original project's feature: mean over 13 MFCCs per frame, 216 frames.

    Equivalent to ``librosa.load(path, sr=44100, offset=0.5, duration=2.5)`` followed by
    ``np.mean(librosa.feature.mfcc(y=y, sr=44100, n_mfcc=13), axis=0)``, zero-padded to
    216 values.

    Parameters
    ----------
    audio : np.ndarray
        Mono audio.
    sr : int
        Its sample rate (resampled to 44.1 kHz here).

    Returns
    -------
    np.ndarray, shape (216,), float32
    """
    import librosa

    target = 44_100
    y = np.asarray(audio, dtype=np.float32)
    if sr != target:
        y = librosa.resample(y, orig_sr=sr, target_sr=target)
    y = y[int(0.5 * target) : int(3.0 * target)]
    out = np.zeros(ORIGINAL_FRAMES, dtype=np.float32)
    if y.size == 0:
        return out
    values = np.mean(librosa.feature.mfcc(y=y, sr=target, n_mfcc=13), axis=0)
    out[: min(values.size, ORIGINAL_FRAMES)] = values[:ORIGINAL_FRAMES]
    return out


def nonsilent_span(
    audio: np.ndarray, top_db: float = 30.0, frame_length: int = 400, hop_length: int = 160
) -> tuple[int, int]:
    """(start, stop) samples of the part louder than ``top_db`` below the loudest frame.

    The same rule as ``librosa.effects.trim`` (centred RMS frames, zero padding, dB relative
    to the maximum frame), written in numpy so that inference does not import
    ``librosa.effects`` (which pulls in scikit-learn: ~0.6 s of a cold start).
    """
    padded = np.pad(audio.astype(np.float64), frame_length // 2)
    n_frames = 1 + (padded.size - frame_length) // hop_length
    power = (
        np.convolve(padded**2, np.ones(frame_length), mode="valid")[::hop_length][:n_frames] / frame_length
    )
    amin = 1e-10
    db = 10.0 * np.log10(np.maximum(amin, power)) - 10.0 * np.log10(max(amin, power.max()))
    loud = np.flatnonzero(db > -top_db)
    if loud.size == 0:
        return 0, 0
    return int(loud[0] * hop_length), int(min(audio.size, (loud[-1] + 1) * hop_length))


def trim_silence(audio: np.ndarray, top_db: float = 30.0, min_samples: int = 4800) -> np.ndarray:
    """Trim leading/trailing audio quieter than ``top_db`` below the peak (keeps ≥ ``min_samples``)."""
    if top_db <= 0 or audio.size <= min_samples:
        return audio
    start, stop = nonsilent_span(audio, top_db)
    if stop - start < min_samples:
        centre = (start + stop) // 2
        start = max(0, min(centre - min_samples // 2, audio.size - min_samples))
        return audio[start : start + min_samples]
    return audio[start:stop]


def log_mel(audio: np.ndarray, sr: int = SAMPLE_RATE, config: FeatureConfig | None = None) -> np.ndarray:
    """Log-mel spectrogram (dB-like natural log of power), shape ``(n_mels, n_frames)``, float32."""
    import librosa

    config = config or FeatureConfig()
    y = _at_rate(audio, sr, config.sr)
    mel = librosa.feature.melspectrogram(
        y=y,
        sr=config.sr,
        n_fft=config.n_fft,
        win_length=config.win_length,
        hop_length=config.hop_length,
        n_mels=config.n_mels,
        fmin=config.fmin,
        fmax=config.fmax,
        power=2.0,
    )
    return np.log(mel + 1e-6).astype(np.float32)


def mfcc_stats(audio: np.ndarray, sr: int = SAMPLE_RATE, config: FeatureConfig | None = None) -> np.ndarray:
    """Pooled statistics vector (mean and std over time of MFCC, ΔMFCC, RMS, contrast, ...)."""
    import librosa

    config = config or FeatureConfig(kind="stats")
    y = _at_rate(audio, sr, config.sr)
    stft_kw = {"n_fft": config.n_fft, "hop_length": config.hop_length, "win_length": config.win_length}
    spec = np.abs(librosa.stft(y, **stft_kw))
    power = spec**2
    mel = librosa.feature.melspectrogram(
        S=power, sr=config.sr, n_mels=config.n_mels, fmin=config.fmin, fmax=config.fmax
    )
    mfcc = librosa.feature.mfcc(S=librosa.power_to_db(mel), n_mfcc=config.n_mfcc)
    width = min(9, mfcc.shape[1] - (1 - mfcc.shape[1] % 2)) if mfcc.shape[1] >= 3 else 0
    delta = librosa.feature.delta(mfcc, width=width) if width >= 3 else np.zeros_like(mfcc)
    rms = librosa.feature.rms(S=spec, frame_length=config.n_fft)
    log_rms = np.log(rms + 1e-5)
    contrast = librosa.feature.spectral_contrast(S=spec, sr=config.sr, fmin=100.0, n_bands=5)
    centroid = librosa.feature.spectral_centroid(S=spec, sr=config.sr) / 1000.0
    rolloff = librosa.feature.spectral_rolloff(S=spec, sr=config.sr) / 1000.0
    flatness = librosa.feature.spectral_flatness(S=spec)
    zcr = librosa.feature.zero_crossing_rate(y, frame_length=config.win_length, hop_length=config.hop_length)
    n = min(m.shape[1] for m in (mfcc, rms, contrast, zcr))
    frames = np.concatenate(
        [m[:, :n] for m in (mfcc, delta, log_rms, contrast, centroid, rolloff, flatness, zcr)]
    )
    out = [frames.mean(axis=1), frames.std(axis=1)]
    if config.pitch:
        out.append(prosody_stats(y, config.sr, log_rms[0], config.hop_length))
    return np.concatenate(out).astype(np.float32)


def prosody_stats(y: np.ndarray, sr: int, log_rms: np.ndarray, hop_length: int = 160) -> np.ndarray:
    """Pitch and loudness-dynamics statistics (12 values), largely independent of the speaker's register.

    YIN f0 on frames within 25 dB of the loudest (voiced speech): spread of log f0
    (std, 10-90 % range, mean absolute change), its mean relative to the median, slope;
    voiced fraction; loudness range, peak-over-mean, rise rate; speaking-rate proxy.
    """
    import librosa

    f0 = librosa.yin(y, fmin=60.0, fmax=500.0, sr=sr, frame_length=1024, hop_length=hop_length)
    n = min(f0.size, log_rms.size)
    f0, level = f0[:n], log_rms[:n] * (20 / np.log(10))  # dB
    voiced = level > level.max() - 25.0
    out = np.zeros(12, dtype=np.float32)
    if voiced.sum() >= 3:
        lf0 = np.log2(f0[voiced])
        out[0] = lf0.std()
        out[1] = np.percentile(lf0, 90) - np.percentile(lf0, 10)
        out[2] = np.abs(np.diff(lf0)).mean()
        out[3] = lf0.mean() - np.median(lf0)
        out[4] = np.polyfit(np.arange(lf0.size) / 100.0, lf0, 1)[0]
        out[5] = voiced.mean()
    out[6] = np.percentile(level, 95) - np.percentile(level, 20)
    out[7] = level.max() - level[voiced].mean() if voiced.any() else 0.0
    out[8] = np.clip(np.diff(level), 0, None).mean() if n > 1 else 0.0
    changes = np.abs(np.diff(voiced.astype(int))).sum() if n > 1 else 0
    out[9] = changes / max(n / 100.0, 1e-3)
    out[10] = np.percentile(level, 95)  # absolute level (recording dependent)
    out[11] = np.std(np.diff(level)) if n > 1 else 0.0
    return out


def stats_dim(config: FeatureConfig) -> int:
    """Length of the ``stats`` vector for ``config``."""
    per_frame = 2 * config.n_mfcc + 1 + 6 + 1 + 1 + 1 + 1
    means = per_frame if config.version == 1 else per_frame - 2  # v2: no c0 or log-RMS mean
    return means + per_frame + (12 if config.pitch else 0)


def relative_stats(
    audio: np.ndarray, sr: int = SAMPLE_RATE, config: FeatureConfig | None = None
) -> np.ndarray:
    """The version-2 ``stats`` vector: utterance-relative MFCC/spectral/prosody statistics (numpy only).

    Per frame: 40 MFCC and their deltas, log RMS, spectral contrast (6), centroid,
    roll-off, flatness and zero-crossing rate. Pooled: the mean of every row except MFCC c0
    and log RMS (absolute energy), and the standard deviation of every row; then 12 prosody
    values (:func:`relative_prosody`). Input: a clip already at the working rate,
    level-normalised and reduced to speech (:func:`prepare_speech`).
    """
    config = config or FeatureConfig(kind="stats")
    y = np.asarray(audio, dtype=np.float32).reshape(-1)
    spec = dsp.stft_magnitude(
        y, n_fft=config.n_fft, hop_length=config.hop_length, win_length=config.win_length
    )
    mel = dsp.mel_filterbank(config.sr, config.n_fft, config.n_mels, config.fmin, config.fmax) @ (spec**2)
    mfcc = dsp.mfcc(dsp.power_to_db(mel), n_mfcc=config.n_mfcc)
    width = min(9, mfcc.shape[1] - (1 - mfcc.shape[1] % 2)) if mfcc.shape[1] >= 3 else 0
    delta = dsp.delta(mfcc, width=width) if width >= 3 else np.zeros_like(mfcc)
    log_rms = np.log(dsp.rms_from_spectrogram(spec, frame_length=config.n_fft) + 1e-5)
    contrast = dsp.spectral_contrast(spec, config.sr, config.n_fft, fmin=100.0, n_bands=5)
    centroid = dsp.spectral_centroid(spec, config.sr, config.n_fft) / 1000.0
    rolloff = dsp.spectral_rolloff(spec, config.sr, config.n_fft) / 1000.0
    flatness = dsp.spectral_flatness(spec)
    zcr = dsp.zero_crossing_rate(y, frame_length=config.win_length, hop_length=config.hop_length)
    rows = (mfcc, delta, log_rms, contrast, centroid, rolloff, flatness, zcr)
    n = min(m.shape[-1] for m in rows)
    frames = np.concatenate([np.atleast_2d(m)[:, :n] for m in rows]).astype(np.float64)
    means = frames.mean(axis=1)
    absolute = [0, 2 * config.n_mfcc]  # MFCC c0 and log RMS
    out = [np.delete(means, absolute), frames.std(axis=1)]
    if config.pitch:
        f0 = dsp.yin(y, fmin=60.0, fmax=500.0, sr=config.sr, frame_length=1024, hop_length=config.hop_length)
        out.append(relative_prosody(f0, log_rms[0]))
    return np.concatenate(out).astype(np.float32)


def relative_prosody(f0: np.ndarray, log_rms: np.ndarray) -> np.ndarray:
    """Pitch and loudness-dynamics statistics (12 values), all relative to the utterance.

    Frames within 25 dB of the loudest are voiced: spread of log2 f0 (std, 10-90 %
    range, mean absolute change), its mean relative to the median, slope; voiced
    fraction; loudness range, peak over the voiced mean, rise rate; voicing changes per
    second; loudness of the top 5 % over the median; loudness-change spread.
    """
    n = min(f0.size, log_rms.size)
    f0, level = f0[:n], log_rms[:n] * (20 / np.log(10))  # dB
    out = np.zeros(12, dtype=np.float32)
    if n == 0:
        return out
    voiced = level > level.max() - 25.0
    if voiced.sum() >= 3:
        lf0 = np.log2(f0[voiced])
        out[0] = lf0.std()
        out[1] = np.percentile(lf0, 90) - np.percentile(lf0, 10)
        out[2] = np.abs(np.diff(lf0)).mean()
        out[3] = lf0.mean() - np.median(lf0)
        t = np.arange(lf0.size) / 100.0
        t = t - t.mean()
        out[4] = float(t @ (lf0 - lf0.mean()) / max(float(t @ t), 1e-12))  # least-squares slope
        out[5] = voiced.mean()
    out[6] = np.percentile(level, 95) - np.percentile(level, 20)
    out[7] = level.max() - level[voiced].mean() if voiced.any() else 0.0
    out[8] = np.clip(np.diff(level), 0, None).mean() if n > 1 else 0.0
    changes = np.abs(np.diff(voiced.astype(int))).sum() if n > 1 else 0
    out[9] = changes / max(n / 100.0, 1e-3)
    out[10] = np.percentile(level, 95) - np.median(level)
    out[11] = np.std(np.diff(level)) if n > 1 else 0.0
    return out


#: Under this much detected speech (seconds) a clip falls back to energy trimming.
MIN_VAD_SECONDS = 0.3


def prepare_speech(
    audio: np.ndarray,
    sr: int = SAMPLE_RATE,
    config: FeatureConfig | None = None,
    spans: list[tuple[int, int]] | None = None,
) -> np.ndarray:
    """Version-2 front end: resample, normalise the active-speech level (a DC offset
    removed first), keep the speech.

    Returns the clip at ``config.sr``, scaled to ``config.level_dbfs``, reduced to the spans
    Silero VAD marks as speech (``config.vad``); when the detector finds under
    :data:`MIN_VAD_SECONDS` (training copies drowned in noise), leading and trailing
    silence is trimmed by energy instead. ``spans`` are speech spans already found on this
    clip by :func:`s2e_lib.audio.speech.speech_spans` (at ``config.sr``), so a caller that
    has run the detector (the speech check before a prediction) does not run it twice.
    """
    config = config or FeatureConfig()
    y = np.asarray(audio, dtype=np.float32).reshape(-1)
    if sr != config.sr:
        y = dsp.resample(y, sr, config.sr)
    y, _ = normalize_level(y, config.sr, config.level_dbfs)  # also removes a DC offset
    if config.vad:
        if spans is None:
            spans = speech_spans(y, config.sr, normalize=False)
        speech = speech_only(y, spans)
        if speech.size >= MIN_VAD_SECONDS * config.sr:
            return speech
    return trim_silence(y, config.trim_db)


def extract(
    audio: np.ndarray,
    sr: int = SAMPLE_RATE,
    config: FeatureConfig | None = None,
    spans: list[tuple[int, int]] | None = None,
) -> np.ndarray:
    """Compute the feature ``config.kind`` of one clip (see the module docstring).

    ``spans``: speech spans already detected on the clip (see :func:`prepare_speech`);
    used only when the clip is at ``config.sr`` and normalised to the detector's level.
    """
    config = config or FeatureConfig()
    audio = np.asarray(audio, dtype=np.float32).reshape(-1)
    if config.kind == "original":
        return original_recipe(audio, sr)
    if config.version >= 2:
        if sr != config.sr or config.level_dbfs != TARGET_LEVEL_DBFS:
            spans = None
        y = prepare_speech(audio, sr, config, spans)
        if config.kind == "logmel":
            return dsp.log_mel_spectrogram(
                y,
                sr=config.sr,
                n_fft=config.n_fft,
                hop_length=config.hop_length,
                win_length=config.win_length,
                n_mels=config.n_mels,
                fmin=config.fmin,
                fmax=config.fmax,
            )
        if config.kind == "egemaps":
            return egemaps(y, config.sr)
        if config.kind == "stats+egemaps":
            return np.concatenate([relative_stats(y, config.sr, config), egemaps(y, config.sr)])
        if config.kind == "stats+egemaps+ge2e":
            from s2e_lib.audio.voice_encoder import embed_utterance

            return np.concatenate(
                [relative_stats(y, config.sr, config), egemaps(y, config.sr), embed_utterance(y)]
            )
        if config.kind == "stats+egemaps+ge2e-layers":
            from s2e_lib.audio.voice_encoder import layer_statistics

            return np.concatenate(
                [relative_stats(y, config.sr, config), egemaps(y, config.sr), layer_statistics(y)]
            )
        if config.kind == "whisper":
            return whisper_encoder.layer_statistics(
                _at_rate(y, config.sr, whisper_encoder.SAMPLE_RATE), model=config.whisper
            )
        if config.kind == "stats+egemaps+ge2e-layers+whisper":
            from s2e_lib.audio import voice_encoder

            return np.concatenate(
                [
                    relative_stats(y, config.sr, config),
                    egemaps(y, config.sr),
                    voice_encoder.layer_statistics(y),
                    whisper_encoder.layer_statistics(
                        _at_rate(y, config.sr, whisper_encoder.SAMPLE_RATE), model=config.whisper
                    ),
                ]
            )
        return relative_stats(y, config.sr, config)
    audio = _at_rate(audio, sr, config.sr)
    audio = trim_silence(audio, config.trim_db)
    if config.kind == "logmel":
        return log_mel(audio, config.sr, config)
    return mfcc_stats(audio, config.sr, config)


def feature_cache_dir() -> Path:
    """Default cache folder: ``<cache>/features`` (:attr:`s2e_lib.paths.ProjectPaths.cache`)."""
    return project_paths().cache / "features"


@dataclass(frozen=True)
class Transform:
    """A seeded waveform change applied before the features: an augmentation draw or a named condition.

    Attributes
    ----------
    kind : {"augment", "condition"}
        ``augment``: one random draw of :func:`s2e_lib.audio.augment.augment` with the
        :class:`~s2e_lib.audio.augment.AugmentConfig` whose JSON is ``spec``;
        ``condition``: the single change ``spec`` of
        :data:`s2e_lib.audio.augment.ROBUSTNESS_CONDITIONS` (``"gain -20 dB"``, ``"mp3 32k"``, ...).
    spec : str
    seed : tuple of int
        Seed of the draw (:func:`clip_seed` gives one per clip and copy).
    """

    kind: str
    spec: str
    seed: tuple = (0,)

    def key(self) -> str:
        return f"{self.kind}:{self.spec}:{'-'.join(str(int(s)) for s in self.seed)}"

    def __call__(self, audio: np.ndarray, sr: int) -> np.ndarray:
        if self.kind == "augment":
            config = aug.AugmentConfig.from_dict(json.loads(self.spec)) if self.spec else aug.AugmentConfig()
            return aug.augment(audio, sr, config, list(self.seed))[0]
        if self.kind == "condition":
            return aug.apply_condition(self.spec, audio, sr, list(self.seed))
        raise ValueError(f"unknown transform kind {self.kind!r}")


def clip_seed(path: str | os.PathLike, copy: int, seed: int = 0) -> tuple[int, int, int]:
    """A seed for copy ``copy`` of one clip: the same on every machine (it hashes the file name,
    not the folder it lives in)."""
    import zlib

    return (int(seed), zlib.crc32(Path(path).name.encode()), int(copy))


def cache_key(
    path: str | os.PathLike, config: FeatureConfig, speed: float = 1.0, transform: Transform | None = None
) -> str:
    """Key of one file's features: resolved path, size, mtime, the feature parameters (speed, transform)."""
    path = Path(path).resolve()
    stat = path.stat()
    ident = f"{path}|{stat.st_size}|{stat.st_mtime_ns}|{config.key()}"
    if speed != 1.0:
        ident += f"|speed={speed:g}"
    if transform is not None:
        ident += f"|{transform.key()}"
    return hashlib.sha1(ident.encode()).hexdigest()


def speed_perturb(audio: np.ndarray, speed: float, sr: int = SAMPLE_RATE) -> np.ndarray:
    """Play ``audio`` ``speed`` times faster (tempo, pitch and formants scale together), as
    Kaldi's speed perturbation (:func:`s2e_lib.audio.augment.speed`)."""
    if speed == 1.0:
        return audio
    return aug.speed(audio, speed, sr)


def extract_file(
    path: str | os.PathLike,
    config: FeatureConfig | None = None,
    cache_dir: str | os.PathLike | None = None,
    speed: float = 1.0,
    transform: Transform | None = None,
) -> np.ndarray:
    """Load ``path`` (any format) and return its features, reading/writing the disk cache.

    ``cache_dir=None`` uses :func:`feature_cache_dir`; pass ``False`` to disable caching.
    ``speed`` != 1 computes the features of a speed-perturbed copy, ``transform`` those of an
    augmented or otherwise changed copy (training augmentation, robustness tests).
    """
    config = config or FeatureConfig()
    cache = None
    if cache_dir is not False:
        cache = _cache_path(
            Path(cache_dir) if cache_dir else feature_cache_dir(), path, config, speed, transform
        )
        if cache.exists():
            try:
                return np.load(cache, allow_pickle=False)
            except (OSError, ValueError):
                pass  # a damaged cache entry: recompute
    audio = load_audio(path, sr=config.sr)
    if speed != 1.0:
        audio = speed_perturb(audio, speed, config.sr)
    if transform is not None:
        audio = transform(audio, config.sr)
    features = extract(audio, config.sr, config)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(f".{os.getpid()}.tmp.npy")
        np.save(tmp, features)
        os.replace(tmp, cache)
    return features


def extract_files(
    paths: Sequence[str | os.PathLike],
    config: FeatureConfig | None = None,
    cache_dir: str | os.PathLike | None = None,
    n_jobs: int = 1,
    progress: bool = True,
    speed: float = 1.0,
    transforms: Sequence[Transform | None] | None = None,
    desc: str | None = None,
    scheduler: str | None = None,
    executor: Executor | None = None,
) -> list[np.ndarray]:
    """Features of many files, in order, with one tqdm bar and the disk cache.

    The files run in this process (``n_jobs=1``), in ``n_jobs`` local processes, or on a
    Dask cluster: ``scheduler`` (an address or ``local:N``; None reads
    ``S2E_DASK_SCHEDULER``, ``""`` forces local) or an open ``executor`` (see
    :mod:`s2e_lib.parallel`). Fewer than 8 files always run here. On Dask, the files and
    the cache folder are passed as absolute paths and must be on a filesystem every
    worker mounts at the same place. ``transforms`` gives each file's :class:`Transform`
    (or None). Raises the first :class:`~s2e_lib.errors.InputError` (naming the file) of
    a bad file.
    """
    from tqdm.auto import tqdm

    from s2e_lib.parallel import executor_scope, progress_bar, resolve_scheduler, run_ordered

    config = config or FeatureConfig()
    paths = [str(p) for p in paths]
    transforms = list(transforms) if transforms is not None else [None] * len(paths)
    if len(transforms) != len(paths):
        raise ValueError(f"extract_files: {len(transforms)} transforms for {len(paths)} files")
    desc = desc or f"features ({config.kind})"
    address = resolve_scheduler(scheduler) if executor is None else None
    if len(paths) < 8 or (executor is None and address is None and n_jobs == 1):
        return [
            extract_file(p, config, cache_dir, speed, t)
            for p, t in tqdm(
                zip(paths, transforms, strict=True),
                total=len(paths),
                desc=desc,
                disable=not progress,
                unit="clip",
            )
        ]
    # resolved here, not in the workers: their working folder and S2E_* may differ
    paths = [os.path.abspath(p) for p in paths]
    if cache_dir is not False:
        cache_dir = str(Path(cache_dir or feature_cache_dir()).absolute())
    features: list[np.ndarray | None] = [None] * len(paths)
    todo: list[int] = []
    bar = progress_bar(len(paths), desc, "clip", progress)
    try:
        # cached clips are read here: a round trip through a pool or a cluster costs more
        for index, (path, transform) in enumerate(zip(paths, transforms, strict=True)):
            features[index] = _read_cached(path, config, cache_dir, speed, transform)
            if features[index] is None:
                todo.append(index)
            else:
                bar.update()
        if todo:
            with executor_scope(executor, "" if address is None else address, n_jobs) as runner:
                computed = run_ordered(
                    runner,
                    extract_file,
                    ((paths[i], config, cache_dir, speed, transforms[i]) for i in todo),
                    bar=bar,
                )
            for index, value in zip(todo, computed, strict=True):
                features[index] = value
    finally:
        bar.close()
    return features


def _cache_path(
    folder: Path, path: str | os.PathLike, config: FeatureConfig, speed: float, transform: Transform | None
) -> Path:
    return folder / config.key() / f"{cache_key(path, config, speed, transform)}.npy"


def _read_cached(
    path: str, config: FeatureConfig, cache_dir: str | bool, speed: float, transform: Transform | None
) -> np.ndarray | None:
    """The cached features of one clip, or None (no cache, not cached yet, unreadable, missing file)."""
    if cache_dir is False:
        return None
    try:
        return np.load(_cache_path(Path(cache_dir), path, config, speed, transform), allow_pickle=False)
    except (OSError, ValueError):
        return None


def _at_rate(audio: np.ndarray, sr: int, target: int) -> np.ndarray:
    audio = np.asarray(audio, dtype=np.float32).reshape(-1)
    if sr == target:
        return audio
    import librosa  # only when a rate really changes: inference runs at 16 kHz throughout

    return librosa.resample(audio, orig_sr=sr, target_sr=target).astype(np.float32)
