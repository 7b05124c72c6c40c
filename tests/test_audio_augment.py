"""Tests of s2e_lib.audio.augment: determinism, lengths, dtypes and behaviour of each primitive."""

from __future__ import annotations

import numpy as np
import pytest

from s2e_lib.audio import augment as A

SR = 16_000


def tone(freq: float, dur: float = 1.0, amp: float = 0.3) -> np.ndarray:
    t = np.arange(int(dur * SR)) / SR
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def speechlike(dur: float = 1.0, seed: int = 0) -> np.ndarray:
    """Bursts of modulated harmonics with silence between them (half the clip silent)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(dur * SR)) / SR
    x = sum(np.sin(2 * np.pi * 140 * k * t + rng.uniform(0, 6)) / k for k in range(1, 12))
    x *= 0.5 * (1 + np.sin(2 * np.pi * 4 * t))  # syllable-rate envelope
    x[(t % 0.5) >= 0.25] = 0.0
    return (0.2 * x / np.abs(x).max()).astype(np.float32)


def level_db(y: np.ndarray, x: np.ndarray) -> float:
    """Level of y relative to x, measured away from the edges."""
    mid = slice(len(x) // 4, 3 * len(x) // 4)
    return 20 * np.log10(np.sqrt(np.mean(y[mid] ** 2)) / np.sqrt(np.mean(x[mid] ** 2)))


def frame_active_power(x: np.ndarray) -> float:
    n = int(0.025 * SR)
    p = np.mean(x[: len(x) // n * n].astype(np.float64).reshape(-1, n) ** 2, axis=1)
    return float(p[p >= p.max() / 1000].mean())


def need_codec(codec: str) -> None:
    if A.codec_encoder(codec) is None:
        pytest.skip(f"PyAV has no encoder for {codec}")


# name -> (function(audio, rng), is_random, expected length factor)
PRIMITIVES = {
    "gain": (lambda x, rng: A.apply_gain(x, -7.5), False, 1.0),
    "noise white": (lambda x, rng: A.add_noise(x, 12.0, rng, "white"), True, 1.0),
    "noise pink": (lambda x, rng: A.add_noise(x, 12.0, rng, "pink"), True, 1.0),
    "noise brown": (lambda x, rng: A.add_noise(x, 12.0, rng, "brown"), True, 1.0),
    "bandpass": (lambda x, rng: A.bandpass(x, 300, 3400), False, 1.0),
    "lowpass": (lambda x, rng: A.lowpass(x, 3000), False, 1.0),
    "mp3": (lambda x, rng: A.codec_roundtrip(x, "mp3", 32), False, 1.0),
    "aac": (lambda x, rng: A.codec_roundtrip(x, "aac", 32), False, 1.0),
    "opus": (lambda x, rng: A.codec_roundtrip(x, "opus", 24), False, 1.0),
    "amr": (lambda x, rng: A.codec_roundtrip(x, "amr", 7.4), False, 1.0),
    "agc": (lambda x, rng: A.automatic_gain_control(x), False, 1.0),
    "clip": (lambda x, rng: A.clip_peaks(x, 6.0), False, 1.0),
    "phone": (lambda x, rng: A.phone_channel(x, rng)[0], True, 1.0),
    "room": (lambda x, rng: A.room_reverb(x, 0.5, rng), True, 1.0),
    "speed 0.9": (lambda x, rng: A.speed(x, 0.9), False, 1 / 0.9),
    "speed 1.1": (lambda x, rng: A.speed(x, 1.1), False, 1 / 1.1),
    "pitch": (lambda x, rng: A.pitch_shift(x, 2.0), False, 1.0),
}


@pytest.mark.parametrize("name", list(PRIMITIVES))
def test_primitive_contract(name: str) -> None:
    if name in A.CODECS:
        need_codec(name)
    fn, is_random, length_factor = PRIMITIVES[name]
    x = speechlike()
    y1 = fn(x, np.random.default_rng(1))
    y2 = fn(x.copy(), np.random.default_rng(1))
    assert y1.dtype == np.float32
    assert np.all(np.isfinite(y1))
    assert np.array_equal(y1, y2)
    if length_factor == 1.0:
        assert len(y1) == len(x)
    else:
        assert abs(len(y1) - len(x) * length_factor) <= 0.01 * len(x) * length_factor
    assert not np.array_equal(y1, x)
    if is_random:
        assert not np.array_equal(y1, fn(x, np.random.default_rng(2)))


def test_gain_is_exact_and_unclipped() -> None:
    x = tone(440, amp=0.8)
    y = A.apply_gain(x, 6.0206)
    np.testing.assert_allclose(y, 2 * x, rtol=1e-5, atol=0)
    assert np.abs(y).max() > 1.5  # float gain, no clipping
    np.testing.assert_allclose(A.apply_gain(x, -20.0), 0.1 * x, rtol=1e-5)


@pytest.mark.parametrize("color", ["white", "pink", "brown"])
def test_noise_snr_against_active_power(color: str) -> None:
    x = speechlike()
    y = A.add_noise(x, 10.0, np.random.default_rng(3), color)
    snr = 10 * np.log10(frame_active_power(x) / np.mean((y.astype(np.float64) - x) ** 2))
    assert abs(snr - 10.0) < 0.5
    # the silence in the clip does not count: against the whole-clip power the SNR is ~3 dB lower
    whole = 10 * np.log10(np.mean(x.astype(np.float64) ** 2) / np.mean((y.astype(np.float64) - x) ** 2))
    assert whole < 8.5


def test_noise_colors_differ_in_spectrum() -> None:
    rng = np.random.default_rng(0)
    slopes = {}
    for color in ("white", "pink", "brown"):
        spec = np.abs(np.fft.rfft(A.colored_noise(SR, rng, color))) ** 2
        f = np.fft.rfftfreq(SR, 1 / SR)
        low, high = spec[(f > 100) & (f < 200)].mean(), spec[(f > 3200) & (f < 6400)].mean()
        slopes[color] = 10 * np.log10(low / high)
    assert abs(slopes["white"]) < 2
    assert 10 < slopes["pink"] < 17  # ~3 dB/octave over ~5 octaves
    assert 25 < slopes["brown"] < 35  # ~6 dB/octave
    with pytest.raises(ValueError, match="purple"):
        A.add_noise(speechlike(), 10, rng, "purple")


def test_telephone_band() -> None:
    low, keep = tone(100), tone(1000)
    assert level_db(A.bandpass(low, 300, 3400), low) < -30
    assert abs(level_db(A.bandpass(keep, 300, 3400), keep)) < 1


def test_lowpass() -> None:
    high, keep = tone(6000), tone(1000)
    assert level_db(A.lowpass(high, 3000), high) < -30
    assert abs(level_db(A.lowpass(keep, 3000), keep)) < 1


@pytest.mark.parametrize(("codec", "kbps"), [("mp3", 32), ("aac", 32), ("opus", 24)])
def test_codec_roundtrip_two_tone(codec: str, kbps: int) -> None:
    need_codec(codec)
    x = (tone(1000, amp=0.4) + tone(300, amp=0.4)).astype(np.float32)
    y = A.codec_roundtrip(x, codec, kbps)
    assert len(y) == len(x) and y.dtype == np.float32
    assert np.abs(y).max() <= 1.0
    assert np.corrcoef(x, y)[0, 1] > 0.9


def test_codec_unknown() -> None:
    with pytest.raises(ValueError, match="flac"):
        A.codec_roundtrip(tone(440), "flac", 32)


def test_align_to_removes_delay() -> None:
    x = (0.1 * np.random.default_rng(0).standard_normal(SR // 2)).astype(np.float32)
    delayed = np.concatenate([np.zeros(1105, np.float32), x])
    np.testing.assert_array_equal(A.align_to(delayed, x), x)
    advanced = x[300:]
    y = A.align_to(advanced, x)
    np.testing.assert_array_equal(y[300:], x[300:])
    assert not y[:300].any()


def test_room_reverb_lengthens_decay() -> None:
    rng = np.random.default_rng(0)
    x = np.zeros(SR, np.float32)
    x[3200:4000] = 0.3 * rng.standard_normal(800).astype(np.float32)  # 50 ms burst at 0.2 s
    y = A.room_reverb(x, 0.6, np.random.default_rng(5))
    tail = slice(4400, 9600)  # 25 ms to 350 ms after the burst
    assert np.sum(x[tail] ** 2) == 0
    assert np.sum(y[tail] ** 2) / np.sum(y**2) > 0.01
    # aligned to the direct path: nothing arrives long before the burst
    assert np.sum(y[:3100] ** 2) / np.sum(y**2) < 1e-3
    np.testing.assert_allclose(np.sqrt(np.mean(y**2)), np.sqrt(np.mean(x**2)), rtol=1e-4)
    # a longer RT60 in the same room leaves more energy in the tail
    y_long = A.room_reverb(x, 0.9, np.random.default_rng(5))
    assert np.sum(y_long[tail] ** 2) > np.sum(y[tail] ** 2)


def peak_hz(y: np.ndarray) -> float:
    n = 1 << 20
    spec = np.abs(np.fft.rfft(y * np.hanning(len(y)), n))
    return float(np.argmax(spec) * SR / n)


def test_speed_changes_pitch_and_length() -> None:
    x = tone(440)
    y = A.speed(x, 1.1)
    assert abs(peak_hz(y) - 484.0) < 2.0
    assert abs(len(y) - len(x) / 1.1) <= 0.01 * len(x)
    assert abs(peak_hz(A.speed(x, 0.9)) - 396.0) < 2.0


def test_pitch_shift_keeps_length() -> None:
    x = tone(440)
    y = A.pitch_shift(x, 12.0)
    assert len(y) == len(x)
    assert abs(peak_hz(y) - 880.0) < 5.0


def test_augment_deterministic_and_seeded() -> None:
    x = speechlike()
    outs = []
    for seed in range(6):
        y1, applied1 = A.augment(x, SR, A.AugmentConfig(), seed)
        y2, applied2 = A.augment(x.copy(), SR, A.AugmentConfig(), seed)
        assert y1.dtype == np.float32 and np.all(np.isfinite(y1))
        assert np.array_equal(y1, y2) and y1.tobytes() == y2.tobytes() and applied1 == applied2
        if not any(a.startswith("speed") for a in applied1):
            assert len(y1) == len(x)
        outs.append(y1)
    assert not all(len(a) == len(outs[0]) and np.array_equal(a, outs[0]) for a in outs[1:])
    y_seq, _ = A.augment(x, SR, A.AugmentConfig(), (3, 17))
    assert np.array_equal(y_seq, A.augment(x, SR, A.AugmentConfig(), [3, 17])[0])


def test_augment_full_chain() -> None:
    x = speechlike()
    cfg = A.AugmentConfig(
        p_gain=1, p_noise=1, p_band=1, p_codec=1, p_room=1, p_speed=1, p_pitch=1, codecs=("mp3",)
    )
    need_codec("mp3")
    y, applied = A.augment(x, SR, cfg, 7)
    kinds = [a.split()[0] for a in applied]
    assert kinds[:4] == ["speed", "pitch", "room", "noise"]
    assert kinds[4] in ("telephone", "low-pass") and kinds[5:] == ["codec", "gain"]
    factor = float(applied[0].split()[1])
    assert abs(len(y) - len(x) / factor) <= 0.01 * len(x)
    assert np.array_equal(y, A.augment(x, SR, cfg, 7)[0])
    assert not np.array_equal(y[: len(x) // 2], A.augment(x, SR, cfg, 8)[0][: len(x) // 2])
    y0, none = A.augment(x, SR, A.AugmentConfig(0, p_noise=0, p_band=0, p_codec=0, p_room=0, p_speed=0), 1)
    assert none == [] and np.array_equal(y0, x)


def test_augment_config_roundtrip() -> None:
    cfg = A.AugmentConfig(p_gain=0.1, codecs=("opus",), rt60_s=(0.3, 0.4))
    d = cfg.to_dict()
    assert A.AugmentConfig.from_dict({**d, "ignored": 1}) == cfg
    import json

    assert A.AugmentConfig.from_dict(json.loads(json.dumps(d))) == cfg
    with pytest.raises(ValueError):
        A.AugmentConfig(p_noise=1.5)
    with pytest.raises(ValueError, match="wav"):
        A.AugmentConfig(codecs=("wav",))


EXPECTED_CONDITIONS = [
    "clean",
    "gain -20 dB",
    "gain +20 dB",
    "noise 20 dB",
    "noise 10 dB",
    "telephone 300-3400 Hz",
    "low-pass 3 kHz",
    "mp3 32k",
    "aac 32k",
    "opus 24k",
    "phone AGC + AMR-NB 7.4k",
    "clipped 6 dB over",
    "room rt60 0.5 s",
    "speed 0.9",
    "speed 1.1",
]


def test_robustness_conditions() -> None:
    assert list(A.ROBUSTNESS_CONDITIONS) == EXPECTED_CONDITIONS
    x = speechlike()
    for name in EXPECTED_CONDITIONS:
        codec = name.split()[0]
        if codec in A.CODECS and A.codec_encoder(codec) is None:
            continue
        y = A.apply_condition(name, x, SR, seed=4)
        assert y.dtype == np.float32 and np.all(np.isfinite(y)), name
        assert np.array_equal(y, A.apply_condition(name, x, SR, seed=4)), name
        if name.startswith("speed"):
            factor = float(name.split()[1])
            assert abs(len(y) - len(x) / factor) <= 0.01 * len(x), name
        else:
            assert len(y) == len(x), name
        assert np.array_equal(y, x) == (name == "clean"), name
    np.testing.assert_allclose(A.apply_condition("gain +20 dB", x, SR), 10 * x, rtol=1e-5)
    with pytest.raises(ValueError, match="gain 99 dB"):
        A.apply_condition("gain 99 dB", x, SR)


def test_amr_is_narrowband() -> None:
    need_codec("amr")
    speechband, high = tone(700, amp=0.4), tone(5000, amp=0.4)
    y = A.codec_roundtrip(speechband, "amr", 12.2)
    assert len(y) == len(speechband) and np.corrcoef(speechband, y)[0, 1] > 0.8
    # 8 kHz sampling: nothing above 4 kHz survives
    assert level_db(A.codec_roundtrip(high, "amr", 12.2), high) < -30


def test_agc_flattens_a_shout_and_a_whisper() -> None:
    quiet = tone(300, 1.0, amp=0.01)
    loud = tone(300, 1.0, amp=0.5)
    x = np.concatenate([quiet, loud])
    y = A.automatic_gain_control(x, SR, target_dbfs=-20.0)
    assert len(y) == len(x) and y.dtype == np.float32
    before = level_db(x[SR:], x[:SR])  # 34 dB apart
    after = level_db(y[SR:], y[:SR])
    assert before > 33 and abs(after) < 3
    # the steady part sits at the target: a sine's RMS
    rms_db = 20 * np.log10(np.sqrt(np.mean(y[SR + SR // 2 :] ** 2)))
    assert abs(rms_db - (-20.0)) < 1.0
    # the gain is capped: digital silence stays silent, a very quiet tone gains at most 24 dB
    assert not np.any(A.automatic_gain_control(np.zeros(SR, np.float32)))
    faint = tone(300, 1.0, amp=1e-4)
    assert level_db(A.automatic_gain_control(faint), faint) <= 24.01


def test_clip_peaks_keeps_the_peak_and_flattens_the_top() -> None:
    x = tone(200, amp=0.3)
    y = A.clip_peaks(x, 6.0)
    assert np.isclose(np.abs(y).max(), np.abs(x).max(), rtol=1e-5)
    flat = np.mean(np.isclose(np.abs(y), np.abs(y).max(), rtol=1e-4))
    assert flat > 0.3  # driven 6 dB over: the top third of every cycle is flat
    assert np.mean(np.isclose(np.abs(x), np.abs(x).max(), rtol=1e-4)) < 0.05


def test_phone_chain_in_augment_and_stream_kept_without_it() -> None:
    need_codec("amr")
    x = speechlike()
    cfg = A.AugmentConfig(**A.PHONE_AUGMENTATION)
    y, applied = A.augment(x, SR, cfg, 5)
    assert "phone" in applied and any(a.startswith("amr-nb") for a in applied)
    assert not any(a.startswith(("codec", "telephone", "low-pass")) for a in applied)
    assert np.array_equal(y, A.augment(x, SR, cfg, 5)[0])
    # nothing above the telephone band is left
    spectrum = np.abs(np.fft.rfft(y)) ** 2
    freqs = np.fft.rfftfreq(len(y), 1 / SR)
    assert spectrum[freqs > 4000].sum() < 1e-3 * spectrum.sum()
    # p_phone = 0 (the default) draws nothing: the default chain's output is as before
    explicit = A.AugmentConfig(p_phone=0.0)
    for seed in range(4):
        assert np.array_equal(
            A.augment(x, SR, explicit, seed)[0], A.augment(x, SR, A.AugmentConfig(), seed)[0]
        )


def test_a_pyav_without_amr_warns_once_and_still_makes_a_phone_copy(monkeypatch):
    """PyAV 18.1.1's wheels lack AMR-NB: the phone copy keeps AGC and the band, says so once."""
    import warnings

    monkeypatch.setattr(A, "codec_encoder", lambda codec: None if codec == "amr" else "x")
    A.amr_encoder.cache_clear()
    try:
        rng = np.random.default_rng(0)
        x = (0.1 * rng.normal(size=SR)).astype(np.float32)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            y, applied = A.phone_channel(x, np.random.default_rng(1))
            A.phone_channel(x, np.random.default_rng(2))
        amr_warnings = [w for w in caught if "AMR-NB" in str(w.message)]
        assert len(amr_warnings) == 1 and "av!=18.1.1" in str(amr_warnings[0].message)
        assert not any(a.startswith("amr") for a in applied)
        assert y.shape == x.shape and np.isfinite(y).all()
    finally:
        A.amr_encoder.cache_clear()
