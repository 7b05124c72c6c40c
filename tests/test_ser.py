"""SER models, training (loss falls, beats chance on unseen speakers), resume, checkpoints."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from _ser_data import make_corpus

from s2e_lib.audio import FeatureConfig, extract_files
from s2e_lib.audio.features import stats_dim
from s2e_lib.emotions import MISSION_EMOTIONS
from s2e_lib.errors import InputError
from s2e_lib.ser import (
    CheckpointError,
    ModelConfig,
    TrainConfig,
    build_model,
    fit,
    load_checkpoint,
    save_checkpoint,
)
from s2e_lib.ser.dataset import scan_speech
from s2e_lib.ser.models import CRNN
from s2e_lib.ser.train import labels_of, predict_logits, scores


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_corpus(tmp_path_factory.mktemp("ser_corpus"), takes=8)


@pytest.fixture(scope="module")
def stats_data(corpus, tmp_path_factory):
    df = scan_speech(corpus)
    feats = extract_files(
        df["audio_path"], FeatureConfig(kind="stats"), cache_dir=tmp_path_factory.mktemp("c"), progress=False
    )
    return df, feats, labels_of(df["emotion"])


def test_models_output_logits_per_label():
    x = torch.randn(3, 216)
    for name in ("linear", "mlp"):
        model = build_model(ModelConfig(name), 216, 5).eval()
        assert model(x).shape == (3, 5)
    crnn = build_model(ModelConfig("crnn", {"channels": [4, 8, 8, 8], "rnn_hidden": 8}), 64, 5).eval()
    assert crnn(torch.randn(2, 64, 123), torch.tensor([123, 90])).shape == (2, 5)


def test_crnn_ignores_padding():
    torch.manual_seed(0)
    model = CRNN(n_mels=32, n_classes=5, channels=(4, 8, 8, 8), rnn_hidden=8).eval()
    clip = torch.randn(1, 32, 80)
    padded = torch.cat([clip, torch.zeros(1, 32, 40)], dim=2)
    with torch.no_grad():
        alone = model(clip)
        batched = model(padded, torch.tensor([80]))
    # equal up to the delta filter's edge (replicated vs zero frames past the end)
    torch.testing.assert_close(alone, batched, atol=2e-3, rtol=1e-2)
    assert not torch.allclose(alone, model(padded), atol=2e-3)  # unmasked padding does change it


@pytest.mark.slow
def test_training_learns_and_generalises_to_an_unseen_speaker(stats_data):
    df, feats, y = stats_data
    test = (df["speaker"] == "W002").to_numpy()
    val = (df["speaker"] == "M002").to_numpy()
    fit_idx = np.flatnonzero(~test & ~val)
    config = TrainConfig(model="mlp", epochs=60, lr=3e-3, patience=60, seed=0)
    result = fit(
        [feats[i] for i in fit_idx],
        y[fit_idx],
        [feats[i] for i in np.flatnonzero(val)],
        y[val],
        5,
        config,
        progress=False,
    )
    losses = [h["train_loss"] for h in result.history]
    assert losses[-1] < 0.6 * losses[0]
    logits = predict_logits(result.model, [feats[i] for i in np.flatnonzero(test)])
    s = scores(y[test], logits.argmax(1).numpy(), 5)
    assert s["accuracy"] >= 0.5, s  # chance is 0.2
    assert np.array(s["confusion"]).sum() == test.sum()


def test_crnn_training_loss_falls(corpus, tmp_path):
    df = scan_speech(corpus, speakers=["M001", "W001"])
    df = df[df["utterance"].isin(["001", "002"])]
    feats = extract_files(df["audio_path"], FeatureConfig(), cache_dir=tmp_path, progress=False)
    y = labels_of(df["emotion"])
    config = TrainConfig(
        model="crnn",
        epochs=5,
        lr=5e-3,
        batch_size=16,
        model_options={"channels": [4, 8, 16, 16], "rnn_hidden": 16},
    )
    result = fit(feats, y, [], [], 5, config, progress=False)
    losses = [h["train_loss"] for h in result.history]
    assert losses[-1] < losses[0]


@pytest.mark.slow
def test_training_is_deterministic_and_resumes_after_interrupt(stats_data, tmp_path, monkeypatch):
    df, feats, y = stats_data
    config = TrainConfig(model="mlp", epochs=6, seed=3, patience=100)
    args = (feats[:60], y[:60], feats[60:], y[60:], 5, config)
    straight = fit(*args, progress=False)
    again = fit(*args, progress=False)
    assert [h["train_loss"] for h in straight.history] == [h["train_loss"] for h in again.history]

    import sys

    train_module = sys.modules["s2e_lib.ser.train"]

    real_save = train_module._save_state
    calls = {"n": 0}

    def interrupting_save(*a, **k):
        real_save(*a, **k)
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt

    state = tmp_path / "run.state.pt"
    monkeypatch.setattr(train_module, "_save_state", interrupting_save)
    with pytest.raises(KeyboardInterrupt):
        fit(*args, state_path=state, progress=False)
    assert state.exists()
    monkeypatch.setattr(train_module, "_save_state", real_save)
    resumed = fit(*args, state_path=state, progress=False)
    assert not state.exists()
    assert [h["epoch"] for h in resumed.history] == list(range(6))
    np.testing.assert_allclose(
        [h["train_loss"] for h in resumed.history], [h["train_loss"] for h in straight.history], rtol=1e-5
    )
    for key, value in straight.model.state_dict().items():
        torch.testing.assert_close(resumed.model.state_dict()[key], value)


N_STATS = stats_dim(FeatureConfig(kind="stats"))


def _small_model():
    torch.manual_seed(0)
    model = build_model(ModelConfig("mlp", {"hidden": [8]}), N_STATS, 5)
    model.fit_normalization(torch.randn(20, N_STATS))
    return model.eval()


def test_checkpoint_round_trip(tmp_path):
    model = _small_model()
    path = save_checkpoint(
        tmp_path / "m.pt",
        [model],
        MISSION_EMOTIONS,
        FeatureConfig(kind="stats"),
        ModelConfig("mlp", {"hidden": [8]}),
        N_STATS,
        data={"n_clips": 20},
        metrics={"test": {"accuracy": 0.5}},
    )
    raw = torch.load(path, weights_only=True)
    assert raw["labels"] == list(MISSION_EMOTIONS) and raw["library_version"]
    loaded, payload = load_checkpoint(
        path, labels=MISSION_EMOTIONS, feature_config=FeatureConfig(kind="stats")
    )
    x = torch.randn(4, N_STATS)
    torch.testing.assert_close(loaded(x), model(x))
    assert payload["metrics"]["test"]["accuracy"] == 0.5
    assert payload["data"]["n_clips"] == 20


def test_half_precision_weights_halve_the_file_and_keep_the_predictions(tmp_path):
    torch.manual_seed(1)
    model = build_model(ModelConfig("mlp", {"hidden": [256, 128]}), N_STATS, 5)
    model.fit_normalization(torch.randn(50, N_STATS) * 30 + 100)
    model.eval()
    common = (
        MISSION_EMOTIONS,
        FeatureConfig(kind="stats"),
        ModelConfig("mlp", {"hidden": [256, 128]}),
        N_STATS,
    )
    full = save_checkpoint(tmp_path / "full.pt", [model], *common)
    half = save_checkpoint(tmp_path / "half.pt", [model], *common, weights_dtype="float16")
    assert half.stat().st_size < 0.6 * full.stat().st_size
    raw = torch.load(half, weights_only=True)
    assert raw["weights_dtype"] == "float16"
    assert {v.dtype for v in raw["state_dicts"][0].values() if v.dim() >= 2} == {torch.float16}
    assert all(v.dtype != torch.float16 for v in raw["state_dicts"][0].values() if v.dim() < 2)
    loaded, _ = load_checkpoint(half)
    assert {p.dtype for p in loaded.parameters()} == {torch.float32}
    x = torch.randn(64, N_STATS) * 30 + 100
    with torch.no_grad():
        p_half, p_full = torch.softmax(loaded(x), 1), torch.softmax(model(x), 1)
    assert float((p_half - p_full).abs().max()) < 5e-3
    assert torch.equal(p_half.argmax(1), p_full.argmax(1)) or float((p_half - p_full).abs().max()) < 1e-3
    with pytest.raises(ValueError, match="weights_dtype"):
        save_checkpoint(tmp_path / "bad.pt", [model], *common, weights_dtype="int8")


def test_ensemble_checkpoint_averages_members(tmp_path):
    members = [_small_model(), build_model(ModelConfig("mlp", {"hidden": [8]}), N_STATS, 5).eval()]
    path = save_checkpoint(
        tmp_path / "e.pt",
        members,
        MISSION_EMOTIONS,
        FeatureConfig(kind="stats"),
        ModelConfig("mlp", {"hidden": [8]}),
        N_STATS,
    )
    loaded, _ = load_checkpoint(path)
    x = torch.randn(4, N_STATS)
    expected = torch.stack([torch.softmax(m(x), 1) for m in members]).mean(0)
    torch.testing.assert_close(torch.softmax(loaded(x), 1), expected)


def test_mismatched_checkpoints_are_refused(tmp_path):
    path = save_checkpoint(
        tmp_path / "m.pt",
        [_small_model()],
        MISSION_EMOTIONS,
        FeatureConfig(kind="stats"),
        ModelConfig("mlp", {"hidden": [8]}),
        N_STATS,
    )
    with pytest.raises(CheckpointError, match="labels"):
        load_checkpoint(path, labels=["angry", "happy"])
    with pytest.raises(CheckpointError, match="feature configuration.*n_mfcc"):
        load_checkpoint(path, feature_config=FeatureConfig(kind="stats", n_mfcc=13))
    payload = torch.load(path, weights_only=True)
    payload["model_config"]["options"] = {"hidden": [16]}
    torch.save(payload, tmp_path / "bad_shape.pt")
    with pytest.raises(CheckpointError, match="weights do not fit"):
        load_checkpoint(tmp_path / "bad_shape.pt")
    payload["model_config"]["options"] = {"hidden": [8]}
    payload["feature_config"]["pitch"] = False  # e.g. made by an older feature version
    torch.save(payload, tmp_path / "old_features.pt")
    with pytest.raises(CheckpointError, match="expects 192 inputs but its feature configuration gives 180"):
        load_checkpoint(tmp_path / "old_features.pt")
    payload["feature_config"]["pitch"] = True
    payload["feature_config"]["kind"] = "logmel"
    torch.save(payload, tmp_path / "bad_kind.pt")
    with pytest.raises(CheckpointError, match="needs 'stats' features"):
        load_checkpoint(tmp_path / "bad_kind.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="junk.pt"):
        load_checkpoint(tmp_path / "junk.pt")
    with pytest.raises(InputError, match="missing.pt"):
        load_checkpoint(tmp_path / "missing.pt")


def test_inference_does_not_import_training_code():
    """Loading the predictor (what the pipeline does) never imports the training module."""
    code = (
        "import sys, s2e_lib.ser.predict, s2e_lib.ser.infer; "
        "print('s2e_lib.ser.train' in sys.modules, 's2e_lib.ser.evaluate' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
    from s2e_lib.ser.infer import predict_logits as home

    assert predict_logits is home  # the old name still works
