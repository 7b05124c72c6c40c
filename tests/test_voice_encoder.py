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
