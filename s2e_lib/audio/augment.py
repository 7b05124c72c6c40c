"""Seeded, reproducible waveform augmentation for speech-emotion training and robustness tests.

All functions take and return mono float32 audio (16 kHz by default, nominally in
``[-1, 1]``). Two layers:

Primitives
    Pure functions with explicit parameters, deterministic given their arguments;
    randomness enters only through an explicit ``rng: np.random.Generator``:
    :func:`apply_gain`, :func:`add_noise`, :func:`bandpass`, :func:`lowpass`,
    :func:`codec_roundtrip`, :func:`room_reverb`, :func:`speed`, :func:`pitch_shift`,
    :func:`automatic_gain_control`, :func:`clip_peaks`, and the phone chain
    :func:`phone_channel` built from them.
    Each keeps the input length (except :func:`speed`) and only clips where the
    real-world operation clips (after a codec round trip; not after gain, which models
    a float WAV).
Random chain
    :func:`augment` draws a chain of primitives from :class:`AugmentConfig` with a seed
    (same seed: byte-identical output) and reports what it applied.

:data:`ROBUSTNESS_CONDITIONS` names single-change conditions ("change only one thing")
for a robustness table; :func:`apply_condition` applies one by name.

Heavy libraries (``audiomentations``, ``pyroomacoustics``, ``librosa``, ``av``) are
imported inside the functions, so importing this module is cheap.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields
from functools import lru_cache, partial

import numpy as np

from s2e_lib.audio import dsp
from s2e_lib.audio.io import SAMPLE_RATE
from s2e_lib.audio.speech import active_level_dbfs

#: Noise colours of :func:`add_noise` and their power-spectrum exponent (PSD ~ 1/f**beta).
NOISE_COLORS: dict[str, float] = {"white": 0.0, "pink": 1.0, "brown": 2.0}

#: Codecs of :func:`codec_roundtrip`: container format, candidate encoders, encoder rate
#: (``None``: the input's rate).
CODECS: dict[str, tuple[str, tuple[str, ...], int | None]] = {
    "mp3": ("mp3", ("libmp3lame", "mp3"), None),
    "aac": ("adts", ("aac",), None),
    "opus": ("ogg", ("libopus", "opus"), 48_000),
    # the narrowband mobile-phone codec (3GPP AMR-NB, 8 kHz; modes 4.75-12.2 kbit/s)
    "amr": ("amr", ("libopencore_amrnb",), 8_000),
}

#: AMR-NB's eight modes (kbit/s); :func:`phone_channel` draws one.
AMR_MODES_KBPS = (4.75, 5.15, 5.9, 6.7, 7.4, 7.95, 10.2, 12.2)

#: :class:`AugmentConfig` overrides of the phone copies (``TrainConfig.phone_copies``): every draw
#: goes through :func:`phone_channel`, half of them over background noise at 5-25 dB SNR.
PHONE_AUGMENTATION: dict = {
    "p_phone": 1.0,
    "p_noise": 0.5,
    "snr_db": (5.0, 25.0),
    "p_band": 0.0,
    "p_codec": 0.0,
    "p_room": 0.2,
    "p_speed": 0.2,
    "p_gain": 0.5,
}

#: Telephone band of :func:`augment` and the robustness conditions (Hz).
TELEPHONE_BAND = (300.0, 3400.0)

_ALIGN_SEARCH = 4000  # samples searched either side when aligning a codec's output


def _as_audio(audio: np.ndarray) -> np.ndarray:
    x = np.asarray(audio, dtype=np.float32)
    if x.ndim != 1:
        raise ValueError(f"expected mono 1-D audio, got shape {x.shape}")
    return x


def _finite(x: np.ndarray) -> np.ndarray:
    return np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32, copy=False)


# --------------------------------------------------------------------------------------
# primitives


def apply_gain(audio: np.ndarray, db: float) -> np.ndarray:
    """Scale by ``db`` decibels, without clipping (a float WAV's gain).

    Parameters
    ----------
    audio : np.ndarray
        Mono float audio.
    db : float
        Gain in dB (``+6.0206`` doubles the amplitude).

    Returns
    -------
    np.ndarray
        float32, same length; may exceed ``[-1, 1]``.
    """
    x = _as_audio(audio)
    return (x * np.float32(10.0 ** (db / 20.0))).astype(np.float32)


def active_power(audio: np.ndarray, sr: int = SAMPLE_RATE) -> float:
    """Mean power of the active-speech frames (0 for silence): the power behind
    :func:`s2e_lib.audio.speech.active_level_dbfs`, the project's one speech-level definition."""
    level = active_level_dbfs(audio, sr)
    return float(10.0 ** (level / 10.0)) if np.isfinite(level) else 0.0


def colored_noise(n: int, rng: np.random.Generator, color: str = "white") -> np.ndarray:
    """Unit-power noise with a ``1/f**beta`` power spectrum (white 0, pink 1, brown 2).

    Parameters
    ----------
    n : int
        Number of samples.
    rng : np.random.Generator
        Source of randomness.
    color : {"white", "pink", "brown"}
        Noise colour.

    Returns
    -------
    np.ndarray
        float64 noise of mean power 1 (zero mean for coloured noise).
    """
    if color not in NOISE_COLORS:
        raise ValueError(f"unknown noise color {color!r}; expected one of {', '.join(NOISE_COLORS)}")
    white = rng.standard_normal(n)
    beta = NOISE_COLORS[color]
    if beta == 0.0 or n < 2:
        noise = white
    else:
        spec = np.fft.rfft(white)
        f = np.arange(spec.size, dtype=np.float64)
        f[0] = 1.0
        spec *= f ** (-beta / 2.0)
        spec[0] = 0.0
        noise = np.fft.irfft(spec, n)
    power = float(np.mean(noise**2))
    return noise / np.sqrt(power) if power > 0 else noise


def add_noise(
    audio: np.ndarray,
    snr_db: float,
    rng: np.random.Generator,
    color: str = "white",
    sr: int = SAMPLE_RATE,
) -> np.ndarray:
    """Add white/pink/brown noise at an SNR relative to the active-speech power.

    The SNR is ``active_power(audio) / mean(noise**2)`` (see :func:`active_power`), so
    silence in the clip does not change its meaning. Not clipped (digital mixing).

    Parameters
    ----------
    audio : np.ndarray
        Mono float audio.
    snr_db : float
        Signal-to-noise ratio in dB.
    rng : np.random.Generator
        Source of the noise.
    color : {"white", "pink", "brown"}
        Noise colour (power spectrum ``1/f**0``, ``1/f``, ``1/f**2``).
    sr : int
        Sample rate (for the 25 ms frames of the active power).

    Returns
    -------
    np.ndarray
        float32, same length. A silent input is returned unchanged (a copy).
    """
    x = _as_audio(audio)
    noise = colored_noise(x.size, rng, color)
    power = active_power(x, sr)
    if power <= 0.0:
        return x.copy()
    noise *= np.sqrt(power / 10.0 ** (snr_db / 10.0))
    return _finite(x + noise)


def _butterworth(audio: np.ndarray, sr: int, kind: str, **params: float) -> np.ndarray:
    """audiomentations' Butterworth filter with fixed (frozen) parameters, zero phase."""
    from audiomentations import BandPassFilter, LowPassFilter

    x = _as_audio(audio)
    if x.size == 0:
        return x.copy()
    if kind == "bandpass":
        low, high = params["low_hz"], params["high_hz"]
        t = BandPassFilter(
            min_center_freq=(low + high) / 2, max_center_freq=(low + high) / 2, zero_phase=True
        )
        freq = {"center_freq": (low + high) / 2, "bandwidth": high - low}
    else:
        t = LowPassFilter(
            min_cutoff_freq=params["cutoff_hz"], max_cutoff_freq=params["cutoff_hz"], zero_phase=True
        )
        freq = {"cutoff_freq": params["cutoff_hz"]}
    # fixed parameters instead of randomize_parameters(), which draws from the global RNGs
    t.parameters = {"should_apply": True, "rolloff": int(params["rolloff"]), **freq}
    y = t.apply(np.ascontiguousarray(x), sample_rate=sr)
    return _finite(np.asarray(y, dtype=np.float32))


def bandpass(
    audio: np.ndarray, low_hz: float, high_hz: float, sr: int = SAMPLE_RATE, rolloff_db: int = 48
) -> np.ndarray:
    """Zero-phase Butterworth band-pass (e.g. telephone 300–3400 Hz).

    Parameters
    ----------
    audio : np.ndarray
        Mono float audio.
    low_hz, high_hz : float
        Band edges (-6 dB points of the zero-phase filter).
    sr : int
        Sample rate.
    rolloff_db : int
        Roll-off in dB/octave, a multiple of 12 (applied forward and backward).

    Returns
    -------
    np.ndarray
        float32, same length.
    """
    if not 0 < low_hz < high_hz:
        raise ValueError(f"need 0 < low_hz < high_hz, got {low_hz}, {high_hz}")
    return _butterworth(audio, sr, "bandpass", low_hz=low_hz, high_hz=high_hz, rolloff=rolloff_db)


def lowpass(audio: np.ndarray, cutoff_hz: float, sr: int = SAMPLE_RATE, rolloff_db: int = 48) -> np.ndarray:
    """Zero-phase Butterworth low-pass.

    Parameters
    ----------
    audio : np.ndarray
        Mono float audio.
    cutoff_hz : float
        Cut-off frequency (-6 dB point of the zero-phase filter).
    sr : int
        Sample rate.
    rolloff_db : int
        Roll-off in dB/octave, a multiple of 12.

    Returns
    -------
    np.ndarray
        float32, same length.
    """
    if cutoff_hz <= 0:
        raise ValueError(f"cutoff_hz must be positive, got {cutoff_hz}")
    return _butterworth(audio, sr, "lowpass", cutoff_hz=cutoff_hz, rolloff=rolloff_db)


def codec_encoder(codec: str) -> str | None:
    """The PyAV encoder used for ``codec`` ("mp3", "aac", "opus"), or None if PyAV lacks one."""
    import av

    if codec not in CODECS:
        raise ValueError(f"unknown codec {codec!r}; expected one of {', '.join(CODECS)}")
    for name in CODECS[codec][1]:
        try:
            av.Codec(name, "w")
        except Exception:  # PyAV raises several kinds for a missing encoder
            continue
        return name
    return None


@lru_cache(maxsize=1)
def amr_encoder() -> str | None:
    """PyAV's AMR-NB encoder, or None with one warning: some PyAV wheels (18.1.1) ship without
    ``libopencore_amrnb``, and a phone copy is then only AGC, clipping and the telephone band."""
    name = codec_encoder("amr")
    if name is None:
        import warnings

        warnings.warn(
            "this PyAV build has no AMR-NB encoder: phone augmentation runs without the codec "
            "(pip install 'av!=18.1.1' restores it; the project's figures were measured with it)",
            RuntimeWarning,
            stacklevel=2,
        )
    return name


def _frames_to_array(frames: list) -> np.ndarray:
    parts = [f.to_ndarray().reshape(-1) for f in frames]
    return np.concatenate(parts).astype(np.float32) if parts else np.zeros(0, dtype=np.float32)


def align_to(signal: np.ndarray, reference: np.ndarray, search: int = _ALIGN_SEARCH) -> np.ndarray:
    """Shift ``signal`` to best match ``reference`` (FFT cross-correlation), then trim/pad.

    Parameters
    ----------
    signal : np.ndarray
        Delayed/advanced copy (e.g. a decoded codec output with encoder priming).
    reference : np.ndarray
        The original.
    search : int
        Largest shift searched, in samples, either way.

    Returns
    -------
    np.ndarray
        float32 of ``len(reference)``: ``out[i] = signal[i + lag]``, zero outside.
    """
    y = np.asarray(signal, dtype=np.float32)
    r = np.asarray(reference, dtype=np.float32)
    n = r.size
    lag = 0
    if y.size and n and np.any(r):
        size = 1 << int(np.ceil(np.log2(y.size + n)))
        xc = np.fft.irfft(np.fft.rfft(y, size) * np.conj(np.fft.rfft(r, size)), size)
        lags = np.arange(-min(search, n - 1), min(search, y.size - 1) + 1)
        lag = int(lags[np.argmax(xc[lags % size])])
    out = np.zeros(n, dtype=np.float32)
    lo, hi = max(0, -lag), min(n, y.size - lag)
    if hi > lo:
        out[lo:hi] = y[lo + lag : hi + lag]
    return out


def codec_roundtrip(audio: np.ndarray, codec: str, bitrate_kbps: float, sr: int = SAMPLE_RATE) -> np.ndarray:
    """Encode with a lossy codec in memory (PyAV), decode, align to the input, clip.

    mp3 (``libmp3lame``, MP3 container) and aac (FFmpeg's native ``aac``, ADTS) encode at
    ``sr``; opus (``libopus``, Ogg) encodes at 48 kHz (PyAV's resampler converts both
    ways). The decoded signal is aligned to the input by cross-correlation (removing the
    encoder delay/priming, ±4000 samples searched), trimmed/zero-padded to the input
    length and clipped to ``[-1, 1]``, as a decoder writing PCM would.

    Parameters
    ----------
    audio : np.ndarray
        Mono float audio.
    codec : {"mp3", "aac", "opus", "amr"}
        Codec.
    bitrate_kbps : float
        Target bit rate in kbit/s.
    sr : int
        Sample rate of ``audio`` and of the output.

    Returns
    -------
    np.ndarray
        float32, same length, in ``[-1, 1]``.

    Raises
    ------
    RuntimeError
        If PyAV has no encoder for ``codec``.
    """
    import av

    x = _as_audio(audio)
    if x.size == 0:
        return x.copy()
    fmt, _, rate = CODECS[codec] if codec in CODECS else (None, (), None)
    encoder = codec_encoder(codec)
    if encoder is None:
        raise RuntimeError(f"PyAV has no encoder for {codec!r} (tried {', '.join(CODECS[codec][1])})")
    rate = int(rate or sr)
    src = np.clip(x, -1.0, 1.0)  # PCM input to an encoder is full-scale bounded

    buf = io.BytesIO()
    with av.open(buf, mode="w", format=fmt) as container:
        stream = container.add_stream(encoder, rate=rate)
        stream.layout = "mono"
        stream.bit_rate = int(round(bitrate_kbps * 1000))
        ctx = stream.codec_context
        resampler = av.AudioResampler(
            format=ctx.format.name, layout="mono", rate=rate, frame_size=ctx.frame_size or None
        )
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(src[None, :]), format="flt", layout="mono")
        frame.sample_rate = sr
        pts = 0
        for f in list(resampler.resample(frame)) + list(resampler.resample(None)):
            f.pts = pts
            pts += f.samples
            for packet in stream.encode(f):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)

    buf.seek(0)
    out_resampler = av.AudioResampler(format="flt", layout="mono", rate=sr)
    frames = []
    with av.open(buf, mode="r") as container:
        for f in container.decode(audio=0):
            f.pts = None
            frames.extend(out_resampler.resample(f))
    frames.extend(out_resampler.resample(None))
    decoded = _frames_to_array(frames)
    return np.clip(_finite(align_to(decoded, x)), -1.0, 1.0)


def automatic_gain_control(
    audio: np.ndarray,
    sr: int = SAMPLE_RATE,
    target_dbfs: float = -18.0,
    max_gain_db: float = 24.0,
    attack_s: float = 0.01,
    release_s: float = 0.25,
    frame_s: float = 0.01,
) -> np.ndarray:
    """A phone's automatic gain control: the level follows a fast envelope towards a target.

    The RMS of 10 ms frames is smoothed with a one-pole follower (fast ``attack_s`` when the
    level rises, slow ``release_s`` when it falls), and every frame gets the gain that brings
    the envelope to ``target_dbfs``, at most ``max_gain_db`` (so pauses and quiet words are
    raised with their noise, as on a phone), interpolated per sample. It flattens the loudness
    contour within an utterance: shouted and quiet words come out at similar levels.

    Parameters
    ----------
    audio : np.ndarray
        Mono float audio.
    sr : int
        Sample rate.
    target_dbfs : float
        Level the envelope is brought to (dBFS RMS).
    max_gain_db : float
        Largest gain (dB); cuts are unlimited.
    attack_s, release_s : float
        Time constants of the envelope follower (s).
    frame_s : float
        Frame of the RMS envelope (s).

    Returns
    -------
    np.ndarray
        float32, same length, not clipped.
    """
    x = _as_audio(audio)
    hop = max(1, int(round(frame_s * sr)))
    n_frames = -(-x.size // hop)
    if n_frames == 0:
        return x.copy()
    padded = np.pad(x.astype(np.float64), (0, n_frames * hop - x.size))
    rms = np.sqrt(np.mean(padded.reshape(n_frames, hop) ** 2, axis=1) + 1e-12)
    up = np.exp(-frame_s / attack_s)
    down = np.exp(-frame_s / release_s)
    env = np.empty_like(rms)
    level = rms[0]
    for i, r in enumerate(rms):
        coeff = up if r > level else down
        level = coeff * level + (1.0 - coeff) * r
        env[i] = level
    gain_db = np.minimum(target_dbfs - 20.0 * np.log10(env + 1e-12), max_gain_db)
    centres = (np.arange(n_frames) + 0.5) * hop
    gain = 10.0 ** (np.interp(np.arange(x.size), centres, gain_db) / 20.0)
    return _finite(x * gain).astype(np.float32)


def clip_peaks(audio: np.ndarray, overdrive_db: float) -> np.ndarray:
    """Hard clipping of a recording driven ``overdrive_db`` past full scale.

    The signal is scaled so its peak sits ``overdrive_db`` above 1.0, clipped to ``[-1, 1]``
    and scaled back so its peak is the input's: the waveform is flattened as by an overloaded
    microphone preamplifier or a phone's ADC, the peak level kept.
    """
    x = _as_audio(audio)
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    if peak <= 0.0:
        return x.copy()
    drive = 10.0 ** (overdrive_db / 20.0) / peak
    return (np.clip(x * drive, -1.0, 1.0) * peak).astype(np.float32)


def phone_channel(
    audio: np.ndarray, rng: np.random.Generator, sr: int = SAMPLE_RATE
) -> tuple[np.ndarray, list[str]]:
    """A random mobile-phone recording chain: AGC, clipping, telephone band, AMR-NB.

    Automatic gain control (:func:`automatic_gain_control`, probability 0.7, target -26 to
    -14 dBFS), hard clipping (:func:`clip_peaks`, probability 0.3, 1-9 dB over), the
    300-3400 Hz band and an AMR-NB round trip at 8 kHz in one of its eight modes
    (:func:`codec_roundtrip`; the codec and band every narrowband call has). Returns the audio
    and what was applied.
    """
    y = _as_audio(audio)
    applied: list[str] = []
    if rng.random() < 0.7:
        target = float(rng.uniform(-26.0, -14.0))
        y = automatic_gain_control(y, sr, target_dbfs=target)
        applied.append(f"agc {target:.0f}dBFS")
    if rng.random() < 0.3:
        over = float(rng.uniform(1.0, 9.0))
        y = clip_peaks(y, over)
        applied.append(f"clip +{over:.1f}dB")
    y = bandpass(y, *TELEPHONE_BAND, sr=sr)
    kbps = float(AMR_MODES_KBPS[int(rng.integers(len(AMR_MODES_KBPS)))])
    if amr_encoder() is not None:
        y = codec_roundtrip(y, "amr", kbps, sr)
        applied.append(f"amr-nb {kbps}k")
    return y.astype(np.float32, copy=False), applied


def room_reverb(
    audio: np.ndarray, rt60_s: float, rng: np.random.Generator, sr: int = SAMPLE_RATE
) -> np.ndarray:
    """Reverberate in a random shoebox room (pyroomacoustics) with a given RT60.

    Room 3–8 m × 3–7 m × 2.5–3.5 m, source and microphone at random positions at least
    0.5 m from every wall (and 0.5 m apart), wall absorption from ``pra.inverse_sabine``.
    The room impulse response is computed with pyroomacoustics' hybrid simulator (image
    sources up to order 3 plus ray tracing for the late tail, seeded from ``rng``; pure
    image sources of the order Sabine asks for take seconds in small live rooms). The
    wet signal is aligned to the direct path (the direct-path delay is removed), cut to
    the input length and rescaled to the input's RMS. Not clipped.

    Parameters
    ----------
    audio : np.ndarray
        Mono float audio.
    rt60_s : float
        Reverberation time in seconds (0.2–0.9 is typical of rooms).
    rng : np.random.Generator
        Source of the room geometry and of the ray tracer's seed.
    sr : int
        Sample rate.

    Returns
    -------
    np.ndarray
        float32, same length.

    Notes
    -----
    Seeds pyroomacoustics' global generators (``pra.random.seed``), so concurrent calls
    from several threads of one process are not reproducible.
    """
    import pyroomacoustics as pra

    x = _as_audio(audio)
    if rt60_s <= 0:
        raise ValueError(f"rt60_s must be positive, got {rt60_s}")
    dim = np.array([rng.uniform(3.0, 8.0), rng.uniform(3.0, 7.0), rng.uniform(2.5, 3.5)])
    margin = 0.5
    source = rng.uniform(margin, dim - margin)
    mic = rng.uniform(margin, dim - margin)
    while np.linalg.norm(source - mic) < margin:
        mic = rng.uniform(margin, dim - margin)
    seeds = rng.integers(0, 2**31 - 1, size=2)
    if x.size == 0:
        return x.copy()

    absorption, _ = pra.inverse_sabine(rt60_s, dim)
    pra.random.seed(numpy=int(seeds[0]), libroom=int(seeds[1]))
    room = pra.ShoeBox(
        dim, fs=sr, materials=pra.Material(absorption), max_order=3, ray_tracing=True, air_absorption=False
    )
    room.set_ray_tracing(receiver_radius=0.5, n_rays=5000, energy_thres=1e-5)
    room.add_source(source)
    room.add_microphone(mic)
    room.compute_rir()
    rir = np.asarray(room.rir[0][0], dtype=np.float64)

    # the direct path arrives after d/c plus pyroomacoustics' fractional-delay filter's half length
    c = float(getattr(room, "c", pra.constants.get("c")))
    delay = (
        int(np.floor(np.linalg.norm(source - mic) / c * sr + 0.5))
        + pra.constants.get("frac_delay_length") // 2
    )
    size = 1 << int(np.ceil(np.log2(x.size + rir.size)))
    wet = np.fft.irfft(np.fft.rfft(x, size) * np.fft.rfft(rir, size), size)[delay : delay + x.size]
    rms_in = float(np.sqrt(np.mean(x.astype(np.float64) ** 2)))
    rms_wet = float(np.sqrt(np.mean(wet**2)))
    if rms_wet > 0:
        wet *= rms_in / rms_wet
    return _finite(wet.astype(np.float32))


def speed(audio: np.ndarray, factor: float, sr: int = SAMPLE_RATE) -> np.ndarray:
    """Kaldi-style speed perturbation: tempo and pitch change together by ``factor``.

    The audio is treated as recorded at ``sr * factor`` and resampled to ``sr`` with
    PyAV's (FFmpeg swresample) resampler; the output has about ``len / factor`` samples.

    Parameters
    ----------
    audio : np.ndarray
        Mono float audio.
    factor : float
        Speed factor (1.1: 10 % faster and higher). ``sr * factor`` is rounded to whole Hz.
    sr : int
        Sample rate.

    Returns
    -------
    np.ndarray
        float32 of ``round(len / factor)`` samples (approximately).
    """
    x = _as_audio(audio)
    if factor <= 0:
        raise ValueError(f"factor must be positive, got {factor}")
    in_rate = int(round(sr * factor))
    if x.size == 0 or in_rate == sr:
        return x.copy()
    return _finite(dsp.resample(x, in_rate, sr))


def pitch_shift(audio: np.ndarray, semitones: float, sr: int = SAMPLE_RATE) -> np.ndarray:
    """Shift the pitch by ``semitones`` keeping the duration (librosa phase vocoder).

    Parameters
    ----------
    audio : np.ndarray
        Mono float audio.
    semitones : float
        Shift in semitones (negative: lower).
    sr : int
        Sample rate.

    Returns
    -------
    np.ndarray
        float32, same length.
    """
    import librosa

    x = _as_audio(audio)
    if x.size == 0 or semitones == 0:
        return x.copy()
    y = librosa.effects.pitch_shift(x, sr=sr, n_steps=float(semitones))
    out = np.zeros(x.size, dtype=np.float32)
    out[: min(x.size, y.size)] = y[: x.size]
    return _finite(out)


# --------------------------------------------------------------------------------------
# random training chain


@dataclass(frozen=True)
class AugmentConfig:
    """Probabilities and ranges of :func:`augment`'s random chain.

    Attributes
    ----------
    p_gain, gain_db : float, (float, float)
        Probability of a gain, uniform in ``gain_db`` (dB).
    p_noise, snr_db : float, (float, float)
        Probability of additive noise (white/pink/brown equally likely), SNR uniform in
        ``snr_db`` (dB, against the active-speech power).
    p_band : float
        Probability of band limiting: half the time telephone 300–3400 Hz, otherwise a
        low-pass with cut-off uniform in 2500–4000 Hz.
    p_codec, codecs, bitrate_kbps : float, tuple of str, (int, int)
        Probability of a codec round trip, the codec (uniform among ``codecs``) and the
        integer bit rate (kbit/s, uniform in the inclusive range).
    p_room, rt60_s : float, (float, float)
        Probability of room reverberation, RT60 uniform in ``rt60_s`` (s).
    p_speed, speed : float, (float, float)
        Probability of speed perturbation, factor uniform in ``speed``.
    p_pitch, semitones : float, (float, float)
        Probability of a pitch shift, uniform in ``semitones``.
    p_phone : float
        Probability of a mobile-phone chain (:func:`phone_channel`: AGC, clipping, telephone
        band, AMR-NB) in place of the band limit and the codec. Drawn only when above 0, so
        configurations without it keep their random streams (and cached features).
    """

    p_gain: float = 0.5
    gain_db: tuple[float, float] = (-20.0, 20.0)
    p_noise: float = 0.4
    snr_db: tuple[float, float] = (5.0, 30.0)
    p_band: float = 0.3
    p_codec: float = 0.3
    codecs: tuple[str, ...] = ("mp3", "aac", "opus")
    bitrate_kbps: tuple[int, int] = (24, 64)
    p_room: float = 0.3
    rt60_s: tuple[float, float] = (0.2, 0.9)
    p_speed: float = 0.3
    speed: tuple[float, float] = (0.9, 1.1)
    p_pitch: float = 0.0
    semitones: tuple[float, float] = (-2.0, 2.0)
    p_phone: float = 0.0

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, list):  # from JSON
                object.__setattr__(self, f.name, tuple(value))
            if f.name.startswith("p_") and not 0.0 <= float(value) <= 1.0:
                raise ValueError(f"{f.name} must be a probability in [0, 1], got {value}")
        unknown = [c for c in self.codecs if c not in CODECS]
        if unknown:
            raise ValueError(f"unknown codecs {unknown}; expected some of {', '.join(CODECS)}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> AugmentConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def augment(
    audio: np.ndarray,
    sr: int = SAMPLE_RATE,
    config: AugmentConfig | None = None,
    seed: int | Sequence[int] = 0,
) -> tuple[np.ndarray, list[str]]:
    """Apply a random, seeded chain of augmentations.

    Order: speed, pitch → room → noise → band limit → codec → gain (last: a microphone's
    level); a phone chain (``p_phone``) takes the place of the band limit and the codec. Same ``seed``: byte-identical output.

    Parameters
    ----------
    audio : np.ndarray
        Mono float audio.
    sr : int
        Sample rate.
    config : AugmentConfig, optional
        Probabilities and ranges (defaults: ``AugmentConfig()``).
    seed : int or sequence of int
        Seed of ``np.random.default_rng`` (e.g. ``(epoch, clip_index)``).

    Returns
    -------
    audio_out : np.ndarray
        float32; the input length unless speed perturbation was applied.
    applied : list of str
        What was done, in order, e.g. ``["room rt60=0.41", "noise pink 12.3dB"]``.
    """
    cfg = config or AugmentConfig()
    rng = np.random.default_rng(seed)
    y = _as_audio(audio).copy()
    applied: list[str] = []

    if rng.random() < cfg.p_speed:
        factor = float(rng.uniform(*cfg.speed))
        y = speed(y, factor, sr)
        applied.append(f"speed {factor:.3f}")
    if rng.random() < cfg.p_pitch:
        steps = float(rng.uniform(*cfg.semitones))
        y = pitch_shift(y, steps, sr)
        applied.append(f"pitch {steps:+.2f}st")
    if rng.random() < cfg.p_room:
        rt60 = float(rng.uniform(*cfg.rt60_s))
        y = room_reverb(y, rt60, rng, sr)
        applied.append(f"room rt60={rt60:.2f}")
    if rng.random() < cfg.p_noise:
        color = str(rng.choice(list(NOISE_COLORS)))
        snr = float(rng.uniform(*cfg.snr_db))
        y = add_noise(y, snr, rng, color, sr)
        applied.append(f"noise {color} {snr:.1f}dB")
    if cfg.p_phone and rng.random() < cfg.p_phone:
        y, steps = phone_channel(y, rng, sr)
        applied += ["phone"] + steps
    elif rng.random() < cfg.p_band:
        if rng.random() < 0.5:
            y = bandpass(y, *TELEPHONE_BAND, sr=sr)
            applied.append(f"telephone {TELEPHONE_BAND[0]:.0f}-{TELEPHONE_BAND[1]:.0f}Hz")
        else:
            cutoff = float(rng.uniform(2500.0, 4000.0))
            y = lowpass(y, cutoff, sr)
            applied.append(f"low-pass {cutoff:.0f}Hz")
    if cfg.codecs and rng.random() < cfg.p_codec and "phone" not in applied:
        codec = str(cfg.codecs[int(rng.integers(len(cfg.codecs)))])
        kbps = int(rng.integers(int(cfg.bitrate_kbps[0]), int(cfg.bitrate_kbps[1]) + 1))
        y = codec_roundtrip(y, codec, kbps, sr)
        applied.append(f"codec {codec} {kbps}k")
    if rng.random() < cfg.p_gain:
        db = float(rng.uniform(*cfg.gain_db))
        y = apply_gain(y, db)
        applied.append(f"gain {db:+.1f}dB")
    return y.astype(np.float32, copy=False), applied


# --------------------------------------------------------------------------------------
# robustness conditions


def _clean(audio: np.ndarray, sr: int, rng: np.random.Generator) -> np.ndarray:
    return _as_audio(audio).copy()


def _gain(audio: np.ndarray, sr: int, rng: np.random.Generator, *, db: float) -> np.ndarray:
    return apply_gain(audio, db)


def _noise(audio: np.ndarray, sr: int, rng: np.random.Generator, *, snr_db: float) -> np.ndarray:
    return add_noise(audio, snr_db, rng, "white", sr)


def _band(
    audio: np.ndarray, sr: int, rng: np.random.Generator, *, low_hz: float, high_hz: float
) -> np.ndarray:
    return bandpass(audio, low_hz, high_hz, sr)


def _low(audio: np.ndarray, sr: int, rng: np.random.Generator, *, cutoff_hz: float) -> np.ndarray:
    return lowpass(audio, cutoff_hz, sr)


def _codec(audio: np.ndarray, sr: int, rng: np.random.Generator, *, codec: str, kbps: float) -> np.ndarray:
    return codec_roundtrip(audio, codec, kbps, sr)


def _phone(audio: np.ndarray, sr: int, rng: np.random.Generator, *, kbps: float) -> np.ndarray:
    y = bandpass(automatic_gain_control(audio, sr, target_dbfs=-20.0), *TELEPHONE_BAND, sr=sr)
    return codec_roundtrip(y, "amr", kbps, sr) if amr_encoder() is not None else y


def _clipped(audio: np.ndarray, sr: int, rng: np.random.Generator, *, overdrive_db: float) -> np.ndarray:
    return clip_peaks(audio, overdrive_db)


def _room(audio: np.ndarray, sr: int, rng: np.random.Generator, *, rt60_s: float) -> np.ndarray:
    return room_reverb(audio, rt60_s, rng, sr)


def _speed(audio: np.ndarray, sr: int, rng: np.random.Generator, *, factor: float) -> np.ndarray:
    return speed(audio, factor, sr)


#: Single-change conditions of the robustness table: ``name -> f(audio, sr, rng)``
#: (module-level partials, so they pickle for worker processes).
ROBUSTNESS_CONDITIONS: dict[str, Callable[[np.ndarray, int, np.random.Generator], np.ndarray]] = {
    "clean": _clean,
    "gain -20 dB": partial(_gain, db=-20.0),
    "gain +20 dB": partial(_gain, db=20.0),
    "noise 20 dB": partial(_noise, snr_db=20.0),
    "noise 10 dB": partial(_noise, snr_db=10.0),
    "telephone 300-3400 Hz": partial(_band, low_hz=TELEPHONE_BAND[0], high_hz=TELEPHONE_BAND[1]),
    "low-pass 3 kHz": partial(_low, cutoff_hz=3000.0),
    "mp3 32k": partial(_codec, codec="mp3", kbps=32),
    "aac 32k": partial(_codec, codec="aac", kbps=32),
    "opus 24k": partial(_codec, codec="opus", kbps=24),
    "phone AGC + AMR-NB 7.4k": partial(_phone, kbps=7.4),
    "clipped 6 dB over": partial(_clipped, overdrive_db=6.0),
    "room rt60 0.5 s": partial(_room, rt60_s=0.5),
    "speed 0.9": partial(_speed, factor=0.9),
    "speed 1.1": partial(_speed, factor=1.1),
}


def apply_condition(
    name: str, audio: np.ndarray, sr: int = SAMPLE_RATE, seed: int | Sequence[int] = 0
) -> np.ndarray:
    """Apply the robustness condition ``name`` (a key of :data:`ROBUSTNESS_CONDITIONS`).

    Parameters
    ----------
    name : str
        Condition name, e.g. ``"noise 10 dB"``.
    audio : np.ndarray
        Mono float audio.
    sr : int
        Sample rate.
    seed : int or sequence of int
        Seed of the condition's randomness (noise, room).

    Returns
    -------
    np.ndarray
        float32 audio.

    Raises
    ------
    ValueError
        For an unknown condition name.
    """
    try:
        fn = ROBUSTNESS_CONDITIONS[name]
    except KeyError:
        raise ValueError(
            f"unknown robustness condition {name!r}; expected one of {', '.join(ROBUSTNESS_CONDITIONS)}"
        ) from None
    return fn(audio, sr, np.random.default_rng(seed))
