"""Speech features: the original recipe's 216-vector, log-mel sequences, statistics, the cache."""

from __future__ import annotations

import numpy as np
import pytest

from s2e_lib.audio import FeatureConfig, extract, extract_file, extract_files, original_recipe, write_wav
from s2e_lib.audio.features import ORIGINAL_FRAMES, cache_key, stats_dim

SR = 16_000


def tone(seconds: float, f0: float = 180.0, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    y = 0.3 * np.sin(2 * np.pi * f0 * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t)) + 0.01 * rng.standard_normal(
        t.size
    )
    return y.astype(np.float32)


def test_original_recipe_is_216_frames_and_matches_librosa():
    import librosa

    audio = tone(3.5)
    vec = original_recipe(audio, SR)
    assert vec.shape == (ORIGINAL_FRAMES,) == (216,)
    assert vec.dtype == np.float32
    # the recipe: 44.1 kHz, 2.5 s from 0.5 s, 13 MFCCs averaged over the coefficients
    y = librosa.resample(audio, orig_sr=SR, target_sr=44_100)[int(0.5 * 44_100) : int(3.0 * 44_100)]
    expected = np.mean(librosa.feature.mfcc(y=y, sr=44_100, n_mfcc=13), axis=0)
    np.testing.assert_allclose(vec, expected, rtol=1e-4, atol=1e-3)


def test_original_recipe_zero_pads_short_clips():
    vec = original_recipe(tone(1.5), SR)  # only 1.0 s after the 0.5 s offset
    assert vec.shape == (216,)
    assert np.all(vec[100:] == 0) and np.any(vec[:80] != 0)


def test_features_are_deterministic_and_shaped():
    audio = tone(2.0)
    logmel = extract(audio, SR, FeatureConfig(kind="logmel", trim_db=0))
    assert logmel.shape == (64, 201)
    np.testing.assert_array_equal(logmel, extract(audio, SR, FeatureConfig(kind="logmel", trim_db=0)))
    stats_config = FeatureConfig(kind="stats")
    stats = extract(audio, SR, stats_config)
    assert stats.shape == (stats_dim(stats_config),)
    assert np.all(np.isfinite(stats))
    np.testing.assert_array_equal(stats, extract(audio, SR, stats_config))


def test_features_resample_other_rates():
    audio = tone(2.0)
    import librosa

    at_44k = librosa.resample(audio, orig_sr=SR, target_sr=44_100)
    a = extract(audio, SR, FeatureConfig(trim_db=0))
    b = extract(at_44k, 44_100, FeatureConfig(trim_db=0))
    assert a.shape == b.shape
    assert np.abs(a - b).mean() < 0.5


def test_trimming_removes_leading_silence():
    audio = np.concatenate([np.zeros(SR, dtype=np.float32), tone(1.0)])
    trimmed = extract(audio, SR, FeatureConfig())
    untrimmed = extract(audio, SR, FeatureConfig(trim_db=0))
    assert trimmed.shape[1] < untrimmed.shape[1] - 80


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="unknown feature kind"):
        FeatureConfig(kind="wavelets")


def test_cache_is_keyed_by_file_and_parameters(tmp_path, monkeypatch):
    wav = write_wav(tmp_path / "a.wav", tone(1.0))
    cache = tmp_path / "cache"
    config = FeatureConfig(kind="stats")
    first = extract_file(wav, config, cache_dir=cache)
    assert len(list(cache.rglob("*.npy"))) == 1
    # a cached value is returned without decoding the audio again
    import s2e_lib.audio.features as features

    monkeypatch.setattr(features, "load_audio", lambda *a, **k: pytest.fail("audio decoded despite cache"))
    np.testing.assert_array_equal(first, extract_file(wav, config, cache_dir=cache))
    monkeypatch.undo()
    assert cache_key(wav, config) != cache_key(wav, FeatureConfig(kind="stats", n_mfcc=20))
    write_wav(wav, tone(1.0, f0=300.0))  # the file changes: new key, new features
    second = extract_files([wav], config, cache_dir=cache, progress=False)[0]
    assert not np.allclose(first, second)
    assert len(list(cache.rglob("*.npy"))) == 2


def test_speed_perturbation_scales_duration_and_pitch(tmp_path):
    from s2e_lib.audio.features import speed_perturb

    audio = tone(2.0, f0=200.0)
    faster = speed_perturb(audio, 1.25)
    assert abs(faster.size - audio.size / 1.25) <= 2
    spectrum = np.abs(np.fft.rfft(faster))
    peak_hz = np.argmax(spectrum) * SR / faster.size
    assert abs(peak_hz - 250.0) < 5.0
    wav = write_wav(tmp_path / "a.wav", audio)
    config = FeatureConfig(kind="logmel", trim_db=0)
    plain = extract_file(wav, config, cache_dir=tmp_path / "c")
    fast = extract_file(wav, config, cache_dir=tmp_path / "c", speed=1.25)
    assert fast.shape[1] < plain.shape[1] and len(list((tmp_path / "c").rglob("*.npy"))) == 2


def test_nonsilent_span_matches_librosa_trim():
    import librosa

    from s2e_lib.audio.features import nonsilent_span

    rng = np.random.default_rng(3)
    for _ in range(12):
        n = int(rng.integers(3000, 30000))
        y = (rng.standard_normal(n) * 0.3).astype(np.float32)
        y[: int(rng.integers(0, n // 3))] *= 0.002  # quiet lead-in
        y[n - int(rng.integers(1, n // 3)) :] *= 0.01  # quiet tail
        _, (start, stop) = librosa.effects.trim(y, top_db=30, frame_length=400, hop_length=160)
        assert nonsilent_span(y, 30) == (start, stop)
