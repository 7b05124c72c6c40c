"""Numpy-only audio feature primitives, numerically equal to their librosa 0.11 counterparts.

Inference uses these instead of :mod:`librosa` so that a cold start does not pay for importing
librosa, numba and :mod:`scipy.signal`. Each function documents the librosa call it reproduces;
``tests/test_audio_dsp.py`` checks the equality. Only :func:`resample` differs from librosa: it
uses FFmpeg's resampler through PyAV.

Conventions follow librosa: spectrograms are ``(n_bins, n_frames)``, per-frame features are
``(1, n_frames)``, and float32 input gives float32 output wherever librosa does so.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import numpy as np

__all__ = [
    "dct_ortho",
    "delta",
    "fft_frequencies",
    "frame_signal",
    "log_mel_spectrogram",
    "mel_filterbank",
    "mfcc",
    "power_to_db",
    "resample",
    "rms_from_spectrogram",
    "spectral_centroid",
    "spectral_contrast",
    "spectral_flatness",
    "spectral_rolloff",
    "stft_magnitude",
    "yin",
    "zero_crossing_rate",
]

#: Frames processed at once by the chunked transforms (bounds temporary memory).
_CHUNK_FRAMES = 128
#: Frames per chunk in :func:`yin` (small blocks keep the FFT buffers in cache).
_YIN_CHUNK_FRAMES = 64
#: Frames per mel projection in :func:`log_mel_spectrogram`.
_MEL_BLOCK_FRAMES = 2048


def _float_dtype(x: np.ndarray) -> np.dtype:
    """float32 for float32 input (and narrower), float64 otherwise."""
    return np.dtype(np.float32) if x.dtype in (np.float16, np.float32) else np.dtype(np.float64)


def frame_signal(y: np.ndarray, frame_length: int, hop_length: int) -> np.ndarray:
    """Slice a signal into overlapping frames, without copying.

    Like ``librosa.util.frame(y, frame_length=frame_length, hop_length=hop_length)`` but with
    frames on the second-to-last axis: ``out[..., t, :] == y[..., t * hop_length : t * hop_length
    + frame_length]``.

    Parameters
    ----------
    y : np.ndarray [shape=(..., n)]
        Signal, framed along the last axis.
    frame_length : int > 0
        Samples per frame.
    hop_length : int > 0
        Samples between the starts of consecutive frames.

    Returns
    -------
    frames : np.ndarray [shape=(..., n_frames, frame_length)]
        A read-only strided view of ``y``; ``n_frames = 1 + (n - frame_length) // hop_length``.

    Raises
    ------
    ValueError
        If the signal is shorter than one frame or a length is not positive.
    """
    if frame_length < 1 or hop_length < 1:
        raise ValueError(f"frame_length={frame_length} and hop_length={hop_length} must be positive")
    y = np.asarray(y)
    if y.shape[-1] < frame_length:
        raise ValueError(f"signal of length {y.shape[-1]} is shorter than frame_length={frame_length}")
    return np.lib.stride_tricks.sliding_window_view(y, frame_length, axis=-1)[..., ::hop_length, :]


def fft_frequencies(sr: float, n_fft: int) -> np.ndarray:
    """Centre frequencies of the ``1 + n_fft // 2`` FFT bins (``librosa.fft_frequencies``)."""
    return np.fft.rfftfreq(n=n_fft, d=1.0 / sr)


@functools.lru_cache(maxsize=16)
def _stft_window(win_length: int, n_fft: int) -> np.ndarray:
    """Periodic Hann window of ``win_length`` zero-padded (centred) to ``n_fft``, float64."""
    n = np.arange(win_length, dtype=np.float64)
    window = 0.5 - 0.5 * np.cos(2.0 * np.pi * n / win_length)
    out = np.zeros(n_fft, dtype=np.float64)
    lpad = (n_fft - win_length) // 2
    out[lpad : lpad + win_length] = window
    out.setflags(write=False)
    return out


def stft_magnitude(
    y: np.ndarray, n_fft: int = 512, hop_length: int = 160, win_length: int = 400, center: bool = True
) -> np.ndarray:
    """Magnitude of the short-time Fourier transform with a Hann window.

    Equal to ``np.abs(librosa.stft(y, n_fft=n_fft, hop_length=hop_length, win_length=win_length,
    center=center, window="hann", pad_mode="constant"))``. Frames are transformed in chunks, so
    memory beyond the output stays bounded for long signals.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        Mono signal.
    n_fft : int
        FFT size.
    hop_length : int
        Samples between frames.
    win_length : int <= n_fft
        Length of the (periodic) Hann window, zero-padded to ``n_fft`` in the middle.
    center : bool
        Zero-pad ``n_fft // 2`` samples on both sides so frame ``t`` is centred at
        ``t * hop_length``.

    Returns
    -------
    S : np.ndarray [shape=(1 + n_fft // 2, n_frames)]
        float32 for float32 input, else float64.
    """
    y = np.asarray(y)
    n_frames, chunks = _stft_chunks(y, n_fft, hop_length, win_length, center)
    out = np.empty((n_fft // 2 + 1, n_frames), dtype=_float_dtype(y))
    for start, stop, magnitude in chunks:
        out[:, start:stop] = magnitude.T
    return out


def _stft_chunks(y: np.ndarray, n_fft: int, hop_length: int, win_length: int, center: bool):
    """``(n_frames, iterator of (start, stop, |STFT| of frames start:stop as (frames, bins)))``."""
    if y.ndim != 1:
        raise ValueError(f"expected a mono (1-D) signal, got shape {y.shape}")
    if not 0 < win_length <= n_fft:
        raise ValueError(f"win_length={win_length} must be in (0, n_fft={n_fft}]")
    dtype = _float_dtype(y)
    if center:
        y = np.pad(y, (n_fft // 2, n_fft // 2), mode="constant")
    frames = frame_signal(y, n_fft, hop_length)
    window = _stft_window(win_length, n_fft)
    n_frames = frames.shape[0]

    def chunks():
        for start in range(0, n_frames, _CHUNK_FRAMES):
            stop = min(start + _CHUNK_FRAMES, n_frames)
            # float64 transform (like librosa: window is float64), magnitude in the input precision
            yield start, stop, np.abs(np.fft.rfft(frames[start:stop] * window, axis=-1)).astype(dtype)

    return n_frames, chunks()


def _hz_to_mel(frequencies: np.ndarray) -> np.ndarray:
    """Slaney mel scale (``librosa.hz_to_mel(htk=False)``)."""
    frequencies = np.asarray(frequencies, dtype=np.float64)
    f_sp = 200.0 / 3
    mels = frequencies / f_sp
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    log_t = frequencies >= min_log_hz
    mels = np.where(
        log_t, min_log_mel + np.log(np.maximum(frequencies, min_log_hz) / min_log_hz) / logstep, mels
    )
    return mels


def _mel_to_hz(mels: np.ndarray) -> np.ndarray:
    """Inverse of :func:`_hz_to_mel` (``librosa.mel_to_hz(htk=False)``)."""
    mels = np.asarray(mels, dtype=np.float64)
    f_sp = 200.0 / 3
    freqs = f_sp * mels
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    log_t = mels >= min_log_mel
    freqs[log_t] = min_log_hz * np.exp(logstep * (mels[log_t] - min_log_mel))
    return freqs


@functools.lru_cache(maxsize=16)
def _mel_filterbank_cached(sr: float, n_fft: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    fftfreqs = fft_frequencies(sr, n_fft)
    mel_f = _mel_to_hz(np.linspace(_hz_to_mel(fmin), _hz_to_mel(fmax), n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = np.subtract.outer(mel_f, fftfreqs)
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper)).astype(np.float32)
    enorm = 2.0 / (mel_f[2 : n_mels + 2] - mel_f[:n_mels])
    weights *= enorm[:, None]
    weights.setflags(write=False)
    return weights


def mel_filterbank(
    sr: float, n_fft: int, n_mels: int = 64, fmin: float = 0.0, fmax: float | None = None
) -> np.ndarray:
    """Mel filterbank with Slaney's mel scale and area normalisation.

    Equal to ``librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)``
    (``htk=False``, ``norm="slaney"``). Results are cached.

    Parameters
    ----------
    sr : float
        Sample rate.
    n_fft : int
        FFT size.
    n_mels : int
        Number of mel bands.
    fmin, fmax : float
        Frequency range; ``fmax=None`` means ``sr / 2``.

    Returns
    -------
    M : np.ndarray [shape=(n_mels, 1 + n_fft // 2), dtype=float32]
        Read-only (shared by the cache); copy it before modifying.
    """
    fmax = float(sr) / 2 if fmax is None else float(fmax)
    return _mel_filterbank_cached(float(sr), int(n_fft), int(n_mels), float(fmin), fmax)


def power_to_db(
    S: np.ndarray,
    ref: float | Callable[[np.ndarray], float] = 1.0,
    amin: float = 1e-10,
    top_db: float | None = 80.0,
) -> np.ndarray:
    """Power spectrogram to decibels, ``10 * log10(S / ref)``, clipped ``top_db`` below the peak.

    Equal to ``librosa.power_to_db(S, ref=ref, amin=amin, top_db=top_db)`` for real ``S``.

    Parameters
    ----------
    S : np.ndarray
        Non-negative power values.
    ref : float or callable
        Reference power; a callable (e.g. ``np.max``) is applied to ``S``.
    amin : float > 0
        Floor applied to ``S`` and ``ref`` before the logarithm.
    top_db : float >= 0 or None
        Clip to ``max(S_db) - top_db``; ``None`` disables clipping.

    Returns
    -------
    S_db : np.ndarray
        Same shape as ``S``.
    """
    if amin <= 0:
        raise ValueError("amin must be strictly positive")
    S = np.asarray(S)
    ref_value = ref(S) if callable(ref) else np.abs(ref)
    log_spec = 10.0 * np.log10(np.maximum(amin, S))
    log_spec -= 10.0 * np.log10(np.maximum(amin, ref_value))
    if top_db is not None:
        if top_db < 0:
            raise ValueError("top_db must be non-negative")
        log_spec = np.maximum(log_spec, log_spec.max() - top_db)
    return log_spec


@functools.lru_cache(maxsize=16)
def dct_ortho(n_mfcc: int, n_mels: int) -> np.ndarray:
    """Orthonormal DCT-II basis, truncated to its first ``n_mfcc`` rows.

    ``dct_ortho(n_mfcc, n_mels) @ x`` equals ``scipy.fft.dct(x, type=2, norm="ortho", axis=0)
    [:n_mfcc]``.

    Returns
    -------
    D : np.ndarray [shape=(n_mfcc, n_mels), dtype=float64]
        Read-only (cached).
    """
    n = np.arange(n_mels, dtype=np.float64)
    k = np.arange(n_mfcc, dtype=np.float64)[:, None]
    basis = np.cos(np.pi * k * (2.0 * n + 1.0) / (2.0 * n_mels)) * math.sqrt(2.0 / n_mels)
    basis[0] *= math.sqrt(0.5)
    basis.setflags(write=False)
    return basis


def mfcc(S_db: np.ndarray, n_mfcc: int = 20) -> np.ndarray:
    """Mel-frequency cepstral coefficients of a log-power mel spectrogram.

    Equal to ``librosa.feature.mfcc(S=S_db, n_mfcc=n_mfcc)`` (DCT-II, ``norm="ortho"``, no
    liftering).

    Parameters
    ----------
    S_db : np.ndarray [shape=(n_mels, n_frames)]
        Log-power mel spectrogram, e.g. ``power_to_db(mel_filterbank(...) @ S**2)``.
    n_mfcc : int <= n_mels
        Number of coefficients.

    Returns
    -------
    M : np.ndarray [shape=(n_mfcc, n_frames)]
        float32 for float32 input, else float64.
    """
    S_db = np.asarray(S_db)
    n_mfcc = min(int(n_mfcc), S_db.shape[-2])
    return (dct_ortho(n_mfcc, S_db.shape[-2]) @ S_db).astype(_float_dtype(S_db), copy=False)


@functools.lru_cache(maxsize=16)
def _savgol_operator(width: int, order: int) -> np.ndarray:
    """``E[t] @ x[0:width]``: the ``order``-th derivative at ``t`` of the least-squares
    polynomial of degree ``order`` through ``x[0:width]`` (``scipy.signal.savgol_filter``)."""
    t = np.arange(width, dtype=np.float64)
    vander = t[:, None] ** np.arange(order + 1)  # (width, order + 1), coefficients low → high
    fit = np.linalg.pinv(vander)  # (order + 1, width)
    # d^order/dt^order of sum_k c_k t^k, evaluated at each t.
    deriv = np.zeros((width, order + 1))
    for k in range(order, order + 1):  # polyorder == order, but keep the general form
        deriv[:, k] = math.factorial(k) / math.factorial(k - order) * t ** (k - order)
    operator = deriv @ fit
    operator.setflags(write=False)
    return operator


def delta(data: np.ndarray, width: int = 9, order: int = 1) -> np.ndarray:
    """Delta features: a Savitzky-Golay estimate of the derivative along the last axis.

    Equal to ``librosa.feature.delta(data, width=width, order=order, axis=-1)`` (``mode="interp"``:
    the first and last ``width // 2`` frames take the derivative of the polynomial fitted to the
    first / last ``width`` frames).

    Parameters
    ----------
    data : np.ndarray [shape=(..., t)]
        Input features, e.g. MFCCs.
    width : int, odd, >= 3, <= t
        Frames in the smoothing window.
    order : int > 0
        Derivative order (1 for deltas, 2 for delta-deltas).

    Returns
    -------
    delta_data : np.ndarray [shape=(..., t)]
        float32 for float32 input, else float64.
    """
    data = np.atleast_1d(np.asarray(data))
    n = data.shape[-1]
    if width < 3 or width % 2 != 1:
        raise ValueError("width must be an odd integer >= 3")
    if width > n:
        raise ValueError(f"width={width} cannot exceed data.shape[-1]={n}")
    if order <= 0 or not isinstance(order, (int, np.integer)):
        raise ValueError("order must be a positive integer")
    operator = _savgol_operator(int(width), int(order))
    half = width // 2
    x = data.astype(np.float64, copy=False)
    out = np.empty(data.shape, dtype=np.float64)
    # Interior: a correlation with the centre row of the operator.
    centre = operator[half]
    interior = np.zeros(data.shape[:-1] + (n - 2 * half,))
    for m in range(width):
        interior += centre[m] * x[..., m : n - width + 1 + m]
    out[..., half : n - half] = interior
    # Edges: the fitted polynomial over the first / last `width` frames.
    out[..., :half] = x[..., :width] @ operator[:half].T
    out[..., n - half :] = x[..., n - width :] @ operator[width - half :].T
    return out.astype(_float_dtype(data), copy=False)


def rms_from_spectrogram(S: np.ndarray, frame_length: int) -> np.ndarray:
    """Root-mean-square energy per frame, from a magnitude spectrogram.

    Equal to ``librosa.feature.rms(S=S, frame_length=frame_length)``.

    Parameters
    ----------
    S : np.ndarray [shape=(1 + frame_length // 2, n_frames)]
        Magnitude spectrogram.
    frame_length : int
        The ``n_fft`` that produced ``S``.

    Returns
    -------
    rms : np.ndarray [shape=(1, n_frames), dtype=float32]
    """
    S = np.asarray(S)
    if S.shape[-2] != frame_length // 2 + 1:
        raise ValueError(f"S.shape[-2]={S.shape[-2]} does not match frame_length={frame_length}")
    x = np.square(np.abs(S) if np.iscomplexobj(S) else S, dtype=np.float32)
    x[..., 0, :] *= 0.5
    if frame_length % 2 == 0:
        x[..., -1, :] *= 0.5
    power = 2 * np.sum(x, axis=-2, keepdims=True) / frame_length**2
    return np.sqrt(power)


def _check_spectrogram(S: np.ndarray, name: str) -> np.ndarray:
    S = np.asarray(S)
    if np.iscomplexobj(S):
        raise ValueError(f"{name} is only defined with real-valued input")
    if np.any(S < 0):
        raise ValueError(f"{name} is only defined with non-negative energies")
    return S


def spectral_centroid(S: np.ndarray, sr: float, n_fft: int) -> np.ndarray:
    """Spectral centroid per frame: the magnitude-weighted mean frequency.

    Equal to ``librosa.feature.spectral_centroid(S=S, sr=sr, n_fft=n_fft)``.

    Parameters
    ----------
    S : np.ndarray [shape=(1 + n_fft // 2, n_frames)]
        Magnitude spectrogram.
    sr : float
        Sample rate.
    n_fft : int
        FFT size that produced ``S``.

    Returns
    -------
    centroid : np.ndarray [shape=(1, n_frames), dtype=float64]
    """
    S = _check_spectrogram(S, "Spectral centroid")
    freq = fft_frequencies(sr, n_fft)[:, None]
    length = np.sum(np.abs(S).astype(np.float64), axis=-2, keepdims=True)
    length[length < np.finfo(_float_dtype(S)).tiny] = 1.0
    normed = (S / length).astype(S.dtype, copy=False)
    return np.sum(freq * normed, axis=-2, keepdims=True)


def spectral_rolloff(S: np.ndarray, sr: float, n_fft: int, roll_percent: float = 0.85) -> np.ndarray:
    """Roll-off frequency per frame: the lowest bin centre below which ``roll_percent`` of the
    spectral magnitude lies.

    Equal to ``librosa.feature.spectral_rolloff(S=S, sr=sr, n_fft=n_fft, roll_percent=...)``.

    Parameters
    ----------
    S : np.ndarray [shape=(1 + n_fft // 2, n_frames)]
        Magnitude spectrogram.
    sr : float
        Sample rate.
    n_fft : int
        FFT size that produced ``S``.
    roll_percent : float in (0, 1)
        Fraction of the total magnitude.

    Returns
    -------
    rolloff : np.ndarray [shape=(1, n_frames), dtype=float64]
    """
    if not 0.0 < roll_percent < 1.0:
        raise ValueError("roll_percent must lie in the range (0, 1)")
    S = _check_spectrogram(S, "Spectral rolloff")
    freq = fft_frequencies(sr, n_fft)
    total_energy = np.cumsum(S, axis=-2)
    threshold = roll_percent * total_energy[..., -1:, :]
    reached = total_energy >= threshold
    # First bin where the threshold is reached (freq is increasing, so this is the nanmin).
    first = np.argmax(reached, axis=-2)[..., None, :]
    rolloff = freq[first]
    # librosa yields NaN when no bin reaches the threshold (e.g. NaN input).
    return np.where(np.any(reached, axis=-2, keepdims=True), rolloff, np.nan)


def spectral_flatness(S: np.ndarray, amin: float = 1e-10, power: float = 2.0) -> np.ndarray:
    """Spectral flatness per frame: geometric over arithmetic mean of ``S ** power``.

    Equal to ``librosa.feature.spectral_flatness(S=S, amin=amin, power=power)``.

    Parameters
    ----------
    S : np.ndarray [shape=(n_bins, n_frames)]
        Magnitude spectrogram.
    amin : float > 0
        Floor on ``S ** power``.
    power : float > 0
        Exponent applied to ``S``.

    Returns
    -------
    flatness : np.ndarray [shape=(1, n_frames)]
    """
    if amin <= 0:
        raise ValueError("amin must be strictly positive")
    S = _check_spectrogram(S, "Spectral flatness")
    S_thresh = np.maximum(amin, S**power)
    gmean = np.exp(np.mean(np.log(S_thresh), axis=-2, keepdims=True))
    amean = np.mean(S_thresh, axis=-2, keepdims=True)
    return gmean / amean


def spectral_contrast(
    S: np.ndarray,
    sr: float,
    n_fft: int,
    fmin: float = 200.0,
    n_bands: int = 6,
    quantile: float = 0.02,
    linear: bool = False,
) -> np.ndarray:
    """Spectral contrast: peak-to-valley level difference in octave bands.

    Equal to ``librosa.feature.spectral_contrast(S=S, sr=sr, n_fft=n_fft, fmin=fmin,
    n_bands=n_bands, quantile=quantile, linear=linear)``.

    Parameters
    ----------
    S : np.ndarray [shape=(1 + n_fft // 2, n_frames)]
        Magnitude spectrogram.
    sr : float
        Sample rate.
    n_fft : int
        FFT size that produced ``S``.
    fmin : float > 0
        Upper edge of the first band; each further band spans an octave.
    n_bands : int > 0
        Number of octave bands (``n_bands + 1`` rows, the first covering ``[0, fmin]``).
    quantile : float in (0, 1)
        Fraction of each band's bins averaged for its peak and valley.
    linear : bool
        Return ``peak - valley`` instead of the difference in dB.

    Returns
    -------
    contrast : np.ndarray [shape=(n_bands + 1, n_frames), dtype=float64]
    """
    S = np.asarray(S)
    freq = fft_frequencies(sr, n_fft)
    if len(freq) != S.shape[-2]:
        raise ValueError(f"S.shape[-2]={S.shape[-2]} does not match n_fft={n_fft}")
    if n_bands < 1 or not isinstance(n_bands, (int, np.integer)):
        raise ValueError("n_bands must be a positive integer")
    if not 0.0 < quantile < 1.0:
        raise ValueError("quantile must lie in the range (0, 1)")
    if fmin <= 0:
        raise ValueError("fmin must be a positive number")
    octa = np.zeros(n_bands + 2)
    octa[1:] = fmin * (2.0 ** np.arange(0, n_bands + 1))
    if np.any(octa[:-1] >= 0.5 * sr):
        raise ValueError("Frequency band exceeds Nyquist. Reduce either fmin or n_bands.")

    shape = list(S.shape)
    shape[-2] = n_bands + 1
    valley = np.zeros(shape)
    peak = np.zeros_like(valley)
    for k, (f_low, f_high) in enumerate(zip(octa[:-1], octa[1:], strict=True)):
        current_band = np.logical_and(freq >= f_low, freq <= f_high)
        idx = np.flatnonzero(current_band)
        if k > 0:
            current_band[idx[0] - 1] = True
        if k == n_bands:
            current_band[idx[-1] + 1 :] = True
        sub_band = S[..., current_band, :]
        if k < n_bands:
            sub_band = sub_band[..., :-1, :]
        n_take = max(int(np.rint(quantile * np.sum(current_band))), 1)
        sortedr = np.sort(sub_band, axis=-2)
        valley[..., k, :] = np.mean(sortedr[..., :n_take, :], axis=-2)
        peak[..., k, :] = np.mean(sortedr[..., -n_take:, :], axis=-2)
    if linear:
        return peak - valley
    return power_to_db(peak) - power_to_db(valley)


def zero_crossing_rate(
    y: np.ndarray, frame_length: int = 2048, hop_length: int = 512, center: bool = True
) -> np.ndarray:
    """Fraction of sign changes per frame.

    Equal to ``librosa.feature.zero_crossing_rate(y, frame_length=frame_length,
    hop_length=hop_length, center=center)``: edge padding when centred, values with
    ``|y| <= 1e-10`` count as positive, and the first sample of each frame is never a crossing.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        Mono signal.
    frame_length : int
        Samples per frame.
    hop_length : int
        Samples between frames.
    center : bool
        Pad ``frame_length // 2`` samples on both sides by repeating the edge values.

    Returns
    -------
    zcr : np.ndarray [shape=(1, n_frames), dtype=float64]
    """
    y = np.asarray(y)
    if center:
        y = np.pad(y, (frame_length // 2, frame_length // 2), mode="edge")
    # Sign per sample (True = negative), tiny values as zero, then crossings between neighbours.
    negative = np.signbit(y) & (np.abs(y) > 1e-10)
    crossing = negative[1:] != negative[:-1]
    # crossings[j] is between samples j and j + 1; frame t covers samples t*hop .. t*hop + L - 1.
    counts = np.concatenate(([0], np.cumsum(crossing, dtype=np.int64)))
    starts = np.arange(0, len(y) - frame_length + 1, hop_length)
    if len(starts) == 0:
        raise ValueError(f"signal of length {len(y)} is shorter than frame_length={frame_length}")
    n_cross = counts[starts + frame_length - 1] - counts[starts]
    return (n_cross / frame_length)[None, :]


def _next_fast_len_real(n: int) -> int:
    """Smallest 5-smooth integer >= n (``scipy.fft.next_fast_len(n, real=True)``)."""
    best = 1 << max(n - 1, 0).bit_length()
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            m = p35
            while m < n:
                m *= 2
            best = min(best, m)
            p35 *= 3
        p5 *= 5
    return best


def _parabolic_shifts(x: np.ndarray) -> np.ndarray:
    """Per-lag parabolic-interpolation offsets along the last axis (librosa's stencil)."""
    shifts = np.zeros_like(x)
    left, mid, right = x[..., :-2], x[..., 1:-1], x[..., 2:]
    a = right + left - 2 * mid
    b = (right - left) / 2
    ok = np.abs(b) < np.abs(a)
    with np.errstate(divide="ignore", invalid="ignore"):
        shifts[..., 1:-1] = np.where(ok, -b / np.where(ok, a, 1), 0)
    return shifts


def _yin_frames(frames: np.ndarray, min_period: int, max_period: int) -> np.ndarray:
    """Cumulative mean normalised difference for frames ``(n, L)``: ``(n, max - min + 1)``."""
    # Lags up to max_period only need frame_length + max_period points to avoid circular
    # wrap-around (librosa pads to 2 * frame_length - 1; the lags kept are the same up to
    # rounding). numpy's float32 FFT is several times slower than its float64 one: transform in
    # float64, then continue in the frames' precision as librosa does.
    n_pad = _next_fast_len_real(frames.shape[-1] + max_period)
    spectrum = np.fft.rfft(frames.astype(np.float64), n=n_pad, axis=-1)
    powspec = np.square(spectrum.real) + np.square(spectrum.imag)
    acf = np.fft.irfft(powspec, n=n_pad, axis=-1)[..., : max_period + 1].astype(frames.dtype)
    energy = np.cumsum(np.square(frames[..., :max_period]), axis=-1)
    energy[..., 0] = 0
    diff = 2 * (acf[..., 0:1] - acf[..., 1 : max_period + 1]) - energy
    numerator = diff[..., min_period - 1 :]
    k_range = np.arange(1, max_period + 1)
    cumulative_mean = np.cumsum(diff, axis=-1) / k_range
    denominator = cumulative_mean[..., min_period - 1 : max_period]
    return numerator / (denominator + np.finfo(denominator.dtype).tiny)


def yin(
    y: np.ndarray,
    fmin: float,
    fmax: float,
    sr: float = 16000,
    frame_length: int = 2048,
    win_length: int | None = None,
    hop_length: int | None = None,
    trough_threshold: float = 0.1,
    center: bool = True,
    pad_mode: str = "constant",
) -> np.ndarray:
    """Fundamental frequency per frame with the YIN algorithm.

    Equal to ``librosa.yin(y, fmin=fmin, fmax=fmax, sr=sr, frame_length=frame_length,
    hop_length=hop_length, trough_threshold=trough_threshold, center=center, pad_mode=pad_mode)``:
    cumulative mean normalised difference (via FFT autocorrelation), the first trough below
    ``trough_threshold`` (else the global minimum), refined by parabolic interpolation.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        Mono signal.
    fmin, fmax : float
        Search range in Hz; ``0 < fmin < fmax <= sr / 2`` and ``sr / fmin < frame_length - 1``.
    sr : float
        Sample rate.
    frame_length : int
        Samples per analysis frame.
    win_length : None
        Ignored (deprecated in librosa 0.11, kept for call compatibility).
    hop_length : int or None
        Samples between frames; default ``frame_length // 4``.
    trough_threshold : float
        Absolute threshold on the normalised difference.
    center : bool
        Pad ``frame_length // 2`` samples on both sides (with ``pad_mode``).
    pad_mode : str
        ``np.pad`` mode for centring.

    Returns
    -------
    f0 : np.ndarray [shape=(n_frames,), dtype=float64]
        Hz.
    """
    del win_length  # deprecated and without effect in librosa 0.11
    if fmax > sr / 2:
        raise ValueError(f"fmax={fmax:.3f} cannot exceed Nyquist frequency {sr / 2}")
    if fmin >= fmax:
        raise ValueError(f"fmin={fmin:.3f} must be less than fmax={fmax:.3f}")
    if fmin <= 0:
        raise ValueError(f"fmin={fmin:.3f} must be strictly positive")
    if sr / fmin >= frame_length - 1:
        raise ValueError(f"fmin={fmin:.3f} is too small for frame_length={frame_length} and sr={sr}")
    if hop_length is None:
        hop_length = frame_length // 4
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"expected a mono (1-D) signal, got shape {y.shape}")
    if not np.issubdtype(y.dtype, np.floating):
        raise ValueError("audio data must be floating-point")
    if center:
        y = np.pad(y, (frame_length // 2, frame_length // 2), mode=pad_mode)
    frames = frame_signal(y, frame_length, hop_length)
    min_period = int(np.floor(sr / fmax))
    max_period = min(int(np.ceil(sr / fmin)), frame_length - 1)

    n_frames = frames.shape[0]
    f0 = []
    for start in range(0, n_frames, _YIN_CHUNK_FRAMES):
        stop = min(start + _YIN_CHUNK_FRAMES, n_frames)
        d = _yin_frames(frames[start:stop], min_period, max_period)  # (n, lags)
        shifts = _parabolic_shifts(d)
        is_trough = np.zeros(d.shape, dtype=bool)
        is_trough[:, 1:-1] = (d[:, 1:-1] < d[:, :-2]) & (d[:, 1:-1] <= d[:, 2:])
        is_trough[:, -1] = d[:, -1] < d[:, -2]
        is_trough[:, 0] = d[:, 0] < d[:, 1]
        below = is_trough & (d < trough_threshold)
        period = np.argmax(below, axis=-1)
        none_below = ~np.any(below, axis=-1)
        period[none_below] = np.argmin(d[none_below], axis=-1)
        refined = min_period + period + np.take_along_axis(shifts, period[:, None], axis=-1)[:, 0]
        f0.append(sr / refined)
    return np.concatenate(f0)


def log_mel_spectrogram(
    y: np.ndarray,
    sr: int = 16000,
    n_fft: int = 512,
    hop_length: int = 160,
    win_length: int = 400,
    n_mels: int = 64,
    fmin: float = 50.0,
    fmax: float = 8000.0,
) -> np.ndarray:
    """Natural-log mel power spectrogram, ``log(mel @ |STFT|**2 + 1e-6)``.

    Equal to ``np.log(librosa.feature.melspectrogram(y=y, sr=sr, n_fft=n_fft, win_length=win_length,
    hop_length=hop_length, n_mels=n_mels, fmin=fmin, fmax=fmax, power=2.0) + 1e-6)``. Computed in
    chunks of frames: the full linear spectrogram is never held in memory.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        Mono signal.
    sr : int
        Sample rate.
    n_fft, hop_length, win_length : int
        STFT parameters (see :func:`stft_magnitude`); frames are centred.
    n_mels : int
        Number of mel bands.
    fmin, fmax : float
        Mel frequency range.

    Returns
    -------
    log_mel : np.ndarray [shape=(n_mels, n_frames), dtype=float32]
    """
    y = np.asarray(y, dtype=np.float32)
    fb_t = mel_filterbank(sr, n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax).T
    n_frames, chunks = _stft_chunks(y, n_fft, hop_length, win_length, center=True)
    out = np.empty((n_mels, n_frames), dtype=np.float32)
    # Gather the small FFT chunks into larger blocks so the mel projection is a few big matrix
    # products rather than many small ones (BLAS threading overhead).
    block = np.empty((min(_MEL_BLOCK_FRAMES, n_frames), n_fft // 2 + 1), dtype=np.float32)
    block_start = filled = 0
    for start, stop, magnitude in chunks:
        np.square(magnitude, out=block[filled : filled + stop - start])
        filled += stop - start
        if filled + _CHUNK_FRAMES > len(block) or stop == n_frames:
            out[:, block_start : block_start + filled] = (block[:filled] @ fb_t).T
            block_start += filled
            filled = 0
    out += np.float32(1e-6)
    return np.log(out, out=out)


def resample(y: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """Change the sample rate of a mono signal with FFmpeg's resampler (PyAV).

    Not bit-equal to ``librosa.resample``; the output has ``~len(y) * target_sr / orig_sr``
    samples. Returns ``y`` as float32 unchanged when the rates are equal.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        Mono signal.
    orig_sr, target_sr : int
        Sample rates in Hz.

    Returns
    -------
    y_hat : np.ndarray [shape=(m,), dtype=float32]
    """
    y = np.asarray(y, dtype=np.float32)
    if y.ndim != 1:
        raise ValueError(f"expected a mono (1-D) signal, got shape {y.shape}")
    if int(orig_sr) == int(target_sr):
        return y
    if len(y) == 0:
        return y.copy()
    import av  # PyAV; imported lazily since only resampling needs it

    frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(y[None, :]), format="flt", layout="mono")
    frame.sample_rate = int(orig_sr)
    resampler = av.AudioResampler(format="flt", layout="mono", rate=int(target_sr))
    chunks = [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
    chunks += [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]
    if not chunks:
        return np.zeros(0, dtype=np.float32)
    return np.concatenate(chunks).astype(np.float32, copy=False)
