"""The GE2E voice encoder used as a feature (s2e_lib.audio.voice_encoder)."""

from __future__ import annotations

import numpy as np
import pytest

from s2e_lib.audio import voice_encoder as ve
from s2e_lib.audio.features import FeatureConfig, extract
from s2e_lib.sample.voice import make_speakers, synthesize

SPEAKERS = make_speakers(2)


def synthesize_voice(emotion: str, seed: int) -> np.ndarray:
    return synthesize(SPEAKERS[seed % 2], emotion, 3, 1, seed=seed, sr=16000)


def test_mel_frames_equal_librosa():
    librosa = pytest.importorskip("librosa")
    y = (np.random.default_rng(0).standard_normal(16000 * 2) * 0.05).astype(np.float32)
    ours = ve.mel_frames(y)
    theirs = librosa.feature.melspectrogram(y=y, sr=16000, n_fft=400, hop_length=160, n_mels=40).T
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4 * float(np.abs(theirs).max()))


def test_partial_windows_cover_the_clip_and_pad_short_ones():
    short = ve.partial_windows(np.ones((50, 40), np.float32))
    assert short.shape == (1, 160, 40) and short[0, 50:].sum() == 0
    long = ve.partial_windows(np.ones((400, 40), np.float32))
    assert long.shape == (4, 160, 40)  # starts 0, 80, 160, 240


def test_embedding_is_unit_length_and_tells_voices_apart():
    a = synthesize_voice("happy", seed=1)
    b = synthesize_voice("sad", seed=2)
    ea, ea2, eb = ve.embed_utterance(a), ve.embed_utterance(a.copy()), ve.embed_utterance(b)
    assert ea.shape == (ve.EMBEDDING_DIM,) and ea.dtype == np.float32
    assert abs(float(np.linalg.norm(ea)) - 1.0) < 1e-5
    np.testing.assert_array_equal(ea, ea2)
    assert float(ea @ eb) < float(ea @ ea2)


def test_the_feature_kind_is_level_invariant():
    config = FeatureConfig(kind="stats+egemaps+ge2e")
    clip = synthesize_voice("angry", seed=3)
    base = extract(clip, 16000, config)
    assert base.shape == (192 + 88 + ve.EMBEDDING_DIM,)
    for gain_db in (-30, 20):
        scaled = (clip * 10 ** (gain_db / 20)).astype(np.float32)  # a float WAV: no clipping
        other = extract(scaled, 16000, config)
        emb = slice(-ve.EMBEDDING_DIM, None)
        assert float(base[emb] @ other[emb]) > 0.999


def test_missing_weights_package_is_one_clear_error(monkeypatch):
    import importlib.util

    from s2e_lib.errors import MissingResourceError

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(MissingResourceError, match="pip install resemblyzer"):
        ve.weights_path()


def test_layer_statistics_start_with_the_embedding_and_match_the_stacked_lstm():
    import torch

    clip = synthesize_voice("sad", seed=4)
    stats = ve.layer_statistics(clip)
    assert stats.shape == (ve.LAYER_STATS_DIM,) and stats.dtype == np.float32
    np.testing.assert_allclose(stats[: ve.EMBEDDING_DIM], ve.embed_utterance(clip), atol=1e-6)
    # the three 1-layer LSTMs reproduce the encoder's stacked LSTM, layer by layer
    windows = torch.from_numpy(ve.partial_windows(ve.mel_frames(clip)))
    with torch.inference_mode():
        stacked, _ = ve._encoder().lstm(windows)
        hidden = windows
        for layer in ve._layers():
            hidden, _ = layer(hidden)
        frames = hidden[:, ve.WARMUP_FRAMES :].reshape(-1, ve.HIDDEN)
    torch.testing.assert_close(hidden, stacked, atol=1e-5, rtol=1e-5)
    layer3 = slice(ve.EMBEDDING_DIM + 2 * ve.HIDDEN, ve.EMBEDDING_DIM + 3 * ve.HIDDEN)
    np.testing.assert_allclose(stats[layer3], frames.mean(0).numpy(), atol=1e-6)
    assert np.all(np.isfinite(stats)) and float(stats[ve.EMBEDDING_DIM :].std()) > 0


def test_the_layers_feature_kind_is_level_invariant_and_sized_for_the_checkpoint():
    from s2e_lib.ser.checkpoint import feature_size

    config = FeatureConfig(kind="stats+egemaps+ge2e-layers")
    clip = synthesize_voice("happy", seed=5)
    base = extract(clip, 16000, config)
    assert base.shape == (feature_size(config),) == (192 + 88 + ve.LAYER_STATS_DIM,)
    for gain_db in (-30, 20):
        other = extract((clip * 10 ** (gain_db / 20)).astype(np.float32), 16000, config)
        voice = slice(-ve.LAYER_STATS_DIM, None)
        cosine = float(base[voice] @ other[voice]) / float(
            np.linalg.norm(base[voice]) * np.linalg.norm(other[voice])
        )
        assert cosine > 0.999
