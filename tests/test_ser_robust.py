"""Speech emotion that hears emotion, not the microphone: level invariance, the VAD gate,
multi-corpus training with a missing label, leave-one-corpus-out evaluation, cold imports."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from _ser_data import SR, make_corpus, synth_clip

from s2e_lib.audio import FeatureConfig, write_wav
from s2e_lib.audio.features import extract, stats_dim
from s2e_lib.audio.io import load_audio
from s2e_lib.audio.speech import active_level_dbfs, normalize_level, speech_spans
from s2e_lib.cli import main
from s2e_lib.emotions import MISSION_EMOTIONS
from s2e_lib.errors import InputError
from s2e_lib.ser import check_speech, load_model
from s2e_lib.ser.checkpoint import read_checkpoint
from s2e_lib.ser.train import balanced_weights, masked_cross_entropy


def _voices(n: int = 10, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    emotions = list(MISSION_EMOTIONS)
    return [synth_clip(emotions[i % 5], [110.0, 210.0, 140.0, 240.0][i % 4], rng) for i in range(n)]


# --- level ---------------------------------------------------------------------------------


def test_active_level_follows_gain_exactly_and_normalisation_undoes_it():
    clip = _voices(1)[0]
    base = active_level_dbfs(clip)
    for gain_db in (-30.0, -7.5, 12.0):
        scaled = clip * np.float32(10 ** (gain_db / 20))
        assert active_level_dbfs(scaled) == pytest.approx(base + gain_db, abs=1e-3)
        normalised, applied = normalize_level(scaled)
        assert applied == pytest.approx(-26.0 - base - gain_db, abs=1e-3)
        assert active_level_dbfs(normalised) == pytest.approx(-26.0, abs=1e-3)


def test_stats_features_do_not_depend_on_the_recording_level():
    config = FeatureConfig(kind="stats")
    for clip in _voices(3, seed=1):
        ref = extract(clip, SR, config)
        assert ref.shape == (stats_dim(config),)
        for gain_db in (-30.0, 20.0):
            other = extract(clip * np.float32(10 ** (gain_db / 20)), SR, config)
            np.testing.assert_allclose(other, ref, rtol=1e-3, atol=1e-3)


def test_float_wav_keeps_samples_beyond_full_scale(tmp_path):
    import soundfile as sf

    clip = _voices(1)[0] * np.float32(8.0)
    assert np.abs(clip).max() > 1.0
    sf.write(tmp_path / "loud.wav", clip, SR, subtype="FLOAT")
    np.testing.assert_allclose(load_audio(tmp_path / "loud.wav"), clip, atol=1e-6)


def test_a_phase_inverted_stereo_channel_does_not_cancel_the_voice(tmp_path):
    """Stereo is mixed as FFmpeg mixes it, (L + R) / √2, except when one channel is the
    other inverted: that mix is silence (the clip was refused as "no speech"), so the
    louder channel is kept. One silent channel still mixes."""
    import soundfile as sf

    clip = _voices(1)[0]
    noise = np.random.default_rng(3).normal(0, 0.05, clip.size).astype(np.float32)
    cases = {
        "inverted": (np.stack([clip, -clip], 1), clip),
        "independent": (np.stack([clip, noise], 1), (clip + noise) / np.sqrt(2)),
        "one_silent": (np.stack([np.zeros_like(clip), clip], 1), clip / np.sqrt(2)),
    }
    for name, (stereo, expected) in cases.items():
        sf.write(tmp_path / f"{name}.wav", stereo, SR, subtype="FLOAT")
        np.testing.assert_allclose(load_audio(tmp_path / f"{name}.wav"), expected, atol=1e-6, err_msg=name)
    assert speech_spans(load_audio(tmp_path / "inverted.wav"), SR)


def test_a_dc_offset_changes_nothing_the_model_hears():
    """A constant offset (a cheap sound card's DC) is removed before the level is measured:
    half the level plus an offset of 0.3 gives the features of the clean clip. A clip whose
    mean is speech's own (a fraction of a percent of its RMS) is left exactly as it is, as
    the shipped model was trained."""
    from s2e_lib.audio.speech import remove_dc_offset

    speech = _voices(1, seed=5)[0]
    speech = speech - np.float32(speech.mean()) + np.float32(0.002 * np.sqrt(np.mean(speech**2)))
    assert np.array_equal(remove_dc_offset(speech), speech)
    config = FeatureConfig(kind="stats")
    for voice in _voices(2, seed=4):
        clip = voice - np.float32(voice.mean())  # a clean recording: no offset of its own
        shifted = clip * np.float32(0.5) + np.float32(0.3)
        np.testing.assert_allclose(
            extract(shifted, SR, config), extract(clip, SR, config), rtol=1e-3, atol=1e-3
        )
        assert speech_spans(shifted, SR) == speech_spans(clip, SR)


def _gain_check(model, clips):
    labels, worst = [], 0.0
    for clip in clips:
        ref = model.predict_proba(clip, SR)
        row = [max(ref, key=ref.get)]
        for gain_db in (-30, -20, -10, 10, 20):
            probs = model.predict_proba(clip * np.float32(10 ** (gain_db / 20)), SR)
            row.append(max(probs, key=probs.get))
            worst = max(worst, max(abs(probs[k] - ref[k]) for k in ref))
        labels.append(row)
    labels = np.array(labels)
    agreement = float(np.mean(labels[:, 1:] == labels[:, :1]))
    return agreement, worst


@pytest.mark.slow
def test_shipped_model_gives_the_same_label_at_any_gain():
    model = load_model()
    agreement, worst = _gain_check(model, _voices(10, seed=2))
    assert agreement >= 0.98
    assert worst <= 0.05


@pytest.mark.slow
def test_shipped_speaker_model_gives_the_same_label_at_any_gain():
    """The speaker-centred model with a profile made at 0 dB, each clip at -30..+20 dB."""
    model = load_model(speaker_centred=True)
    assert model.speaker_centred
    clips = _voices(10, seed=2)
    model.use_profile(model.profile_of([model.clip_features(c) for c in clips]))
    agreement, worst = _gain_check(model, clips)
    assert agreement >= 0.98
    assert worst <= 0.05


@pytest.mark.slow
@pytest.mark.shared
def test_shipped_model_gain_invariance_on_a_corpus_it_never_heard(shared_data):
    """TurEV is never part of the shipped model (its licence forbids it): held-out clips."""
    import pandas as pd

    root = shared_data / "turev16k"
    table = pd.read_csv(root / "manifest.csv").sort_values("audio_path")
    paths = [root / p for p in table["audio_path"].iloc[::20]][:30]
    model = load_model()
    agreement, worst = _gain_check(model, [load_audio(p) for p in paths])
    assert agreement >= 0.98
    assert worst <= 0.05


# --- voice activity ------------------------------------------------------------------------


def test_vad_refuses_silence_noise_and_music():
    rng = np.random.default_rng(0)
    t = np.arange(3 * SR) / SR
    chords = sum(np.sin(2 * np.pi * f * t) for f in (261.6, 329.6, 392.0, 523.3)) * (
        0.5 + 0.5 * np.sign(np.sin(2 * np.pi * 2 * t))
    )
    cases = {
        "silence": np.zeros(3 * SR, dtype=np.float32),
        "dither": (rng.normal(0, 1e-5, 3 * SR)).astype(np.float32),
        "white noise": (0.1 * rng.normal(size=3 * SR)).astype(np.float32),
        "hum": (0.3 * np.sin(2 * np.pi * 50 * t)).astype(np.float32),
        "music": (0.1 * chords).astype(np.float32),
    }
    for name, audio in cases.items():
        with pytest.raises(InputError, match=f"{name}: no speech found"):
            check_speech(audio, SR, name)


def _loudest(clip: np.ndarray, seconds: float) -> np.ndarray:
    n = int(seconds * SR)
    energy = np.convolve(clip.astype(np.float64) ** 2, np.ones(n), "valid")
    start = int(np.argmax(energy))
    return clip[start : start + n]


def test_the_gate_accepts_short_shouted_and_noisy_words_and_refuses_noise():
    from s2e_lib.audio.speech import energy_speech_span

    rng = np.random.default_rng(7)
    voices = _voices(6, seed=11)
    # a 0.4 s shouted word driven into clipping, between 0.1 s of phone hiss on either side
    for clip in voices[:3]:
        word = _loudest(clip, 0.4)
        shout = np.clip(word / np.abs(word).max() * 2.5, -1, 1)
        hiss = 0.003 * rng.normal(size=(2, SR // 10))
        shout = np.concatenate([hiss[0], shout, hiss[1]]).astype(np.float32)
        assert energy_speech_span(shout) is not None
        check_speech(shout, SR, "help.wav")
    # a word at 10 dB SNR over babble (four other voices at once)
    n = 2 * SR
    babble = sum(np.pad(v, (0, max(0, n - v.size)))[:n] for v in _voices(4, seed=12))
    for clip in voices[3:]:
        word = np.pad(_loudest(clip, 0.6), (int(0.7 * SR), 0))
        word = np.pad(word, (0, n - word.size))
        gain = np.sqrt(np.mean(word**2) / np.mean(babble**2) / 10 ** (10 / 10))
        check_speech((word + gain * babble).astype(np.float32), SR, "go.wav")
    # a word at 10 dB SNR over white noise: the fallback alone hears it
    word = np.pad(_loudest(voices[0], 0.5), (SR // 2, SR // 2))
    noisy = word + np.sqrt(np.mean(word**2) / 10) * rng.normal(size=word.size)
    assert energy_speech_span(noisy.astype(np.float32)) is not None
    # pure noise of any colour, steady or in bursts, has no voiced sound above its floor
    t = np.arange(3 * SR) / SR
    bursts = np.sign(np.sin(2 * np.pi * 2 * t)) > 0
    noises = {
        "white": rng.normal(size=3 * SR),
        "brown": np.cumsum(rng.normal(size=3 * SR)),
        "bursts": rng.normal(size=3 * SR) * bursts,
        "pink bursts": np.cumsum(rng.normal(size=3 * SR)) * bursts,
    }
    for name, noise in noises.items():
        audio = (0.1 * noise / np.abs(noise).max()).astype(np.float32)
        assert energy_speech_span(audio) is None, name
        with pytest.raises(InputError, match=f"{name}.wav: no speech found"):
            check_speech(audio, SR, f"{name}.wav")


def test_a_word_the_detector_misses_is_classified_with_a_warning(monkeypatch):
    from s2e_lib.ser import predict as predict_module

    clip = _voices(1, seed=13)[0]
    word = _loudest(clip, 0.5)
    monkeypatch.setattr(predict_module, "speech_spans", lambda audio, sr=SR: [])  # the detector hears nothing
    spans = check_speech(word, SR, "word.wav")
    assert len(spans) == 1 and spans[0][1] - spans[0][0] >= 0.3 * SR
    warnings = predict_module.audio_warnings(word)
    assert any("voice-activity detector heard no speech" in w for w in warnings)
    probs = load_model().predict_proba(word, SR, "word.wav")
    assert abs(sum(probs.values()) - 1) < 1e-5


def test_vad_accepts_quiet_clear_speech():
    clip = _voices(1, seed=3)[0]
    quiet = clip / np.abs(clip).max() * np.float32(10 ** (-60 / 20))  # peak -60 dBFS
    check_speech(quiet, SR, "quiet.wav")
    assert speech_spans(quiet)
    model = load_model()
    loud = model.predict_proba(clip, SR)
    soft = model.predict_proba(quiet, SR)
    assert max(soft, key=soft.get) == max(loud, key=loud.get)


def test_features_use_the_detected_speech_only():
    clip, other = _voices(2, seed=4)
    rng = np.random.default_rng(1)
    noise = [0.001 * rng.normal(size=SR).astype(np.float32) for _ in range(2)]
    padded = np.concatenate([noise[0], clip, noise[1]])
    config = FeatureConfig(kind="stats")
    ref = extract(clip, SR, config)
    # a second of room noise on each side barely moves the features; another utterance moves them far
    assert np.linalg.norm(extract(padded, SR, config) - ref) < 0.15 * np.linalg.norm(
        extract(other, SR, config) - ref
    )


# --- multi-corpus training -----------------------------------------------------------------


def test_masked_loss_gives_absent_labels_no_gradient_and_smooths_over_present_ones():
    logits = torch.randn(4, 5, requires_grad=True)
    target = torch.tensor([0, 3, 4, 0])
    mask = torch.tensor([[1, 0, 0, 1, 1]] * 4, dtype=torch.bool)  # no neutral, no fear
    loss = masked_cross_entropy(logits, target, mask, torch.ones(4), label_smoothing=0.1)
    loss.backward()
    assert torch.all(logits.grad[:, 1:3] == 0)
    assert torch.all(logits.grad[:, [0, 3, 4]].abs().sum(dim=1) > 0)
    full = torch.ones(4, 5, dtype=torch.bool)
    reference = torch.nn.functional.cross_entropy(logits.detach(), target, label_smoothing=0.1)
    assert masked_cross_entropy(logits.detach(), target, full, torch.ones(4), 0.1) == pytest.approx(
        float(reference), rel=1e-5
    )


def test_balanced_weights_give_each_corpus_and_label_equal_mass():
    labels = np.array([0] * 10 + [1] * 30 + [0] * 5 + [2] * 5 + [3] * 50)
    groups = np.array(["a"] * 40 + ["b"] * 60)
    w = balanced_weights(labels, groups)
    assert w.mean() == pytest.approx(1.0)
    assert w[groups == "a"].sum() == pytest.approx(w[groups == "b"].sum())
    b = groups == "b"
    for c in (0, 2, 3):
        assert w[b & (labels == c)].sum() == pytest.approx(w[b].sum() / 3)


def _drop(root, emotions):
    import shutil

    for speaker in root.iterdir():
        for e in emotions:
            shutil.rmtree(speaker / "audio" / e, ignore_errors=True)
    return root


@pytest.fixture(scope="module")
def two_corpora(tmp_path_factory):
    root = tmp_path_factory.mktemp("two")
    full = make_corpus(root / "full", takes=4, speakers={"M001": 110.0, "W001": 205.0, "M002": 135.0})
    partial = _drop(
        make_corpus(
            root / "partial", takes=4, speakers={"M011": 100.0, "W011": 225.0, "W012": 190.0}, seed=5
        ),
        ["neutral", "fear"],
    )
    return full, partial


@pytest.mark.slow
def test_train_on_two_corpora_one_missing_labels(two_corpora, tmp_path, capsys, s2e_home):
    full, partial = two_corpora
    out = tmp_path / "multi.pt"
    args = ["ser", "train", "--data", str(full), "--data", str(partial), "--epochs", "8", "--ensemble", "1"]
    assert main([*args, "--out", str(out)]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["n_clips"] == 3 * 5 * 4 + 3 * 3 * 4
    payload = read_checkpoint(out)
    assert payload["data"]["corpus"] == ["full", "partial"]  # two MEAD folders: named by folder
    assert payload["data"]["corpus_labels"]["full"] == list(MISSION_EMOTIONS)
    assert payload["data"]["corpus_labels"]["partial"] == ["angry", "happy", "sad"]
    assert set(payload["data"]["per_corpus"]) == {"full", "partial"}
    assert all(s.startswith(("full/", "partial/")) for s in payload["data"]["train_speakers"])
    assert payload["feature_config"]["version"] == 2


@pytest.mark.slow
def test_loco_cli_reports_every_held_out_corpus(two_corpora, tmp_path, capsys, s2e_home):
    full, partial = two_corpora
    third = make_corpus(tmp_path / "third", takes=3, speakers={"M021": 120.0, "W021": 215.0}, seed=9)
    out = tmp_path / "report"
    args = ["ser", "eval", "--loco", "--data", str(full), "--data", str(partial), "--data", str(third)]
    args += ["--test-only", "partial", "--ensemble", "1", "--augment-copies", "1", "--out", str(out)]
    assert main(args) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(result["loco"]) == {"full", "third"}
    assert set(result["test_only"]) == {"partial"}
    for s in result["loco"].values():
        assert 0.0 <= s["balanced_accuracy"] <= 1.0 and s["n"] > 0
    assert result["selection"]["worst_balanced_accuracy"] <= result["selection"]["mean_balanced_accuracy"]
    assert (out / "report.md").read_text().startswith("| held-out corpus")
    assert (out / "confusion.png").stat().st_size > 1000
    assert main(args) == 2  # the report exists: never overwritten
    assert "exists" in capsys.readouterr().err


def test_loco_needs_two_corpora(two_corpora, capsys, s2e_home):
    full, _ = two_corpora
    assert main(["ser", "eval", "--loco", "--data", str(full)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: --loco needs at least two corpora")


def test_bad_option_values_are_one_line_errors(two_corpora, tmp_path, capsys, s2e_home):
    full, _ = two_corpora
    assert main(["ser", "train", "--data", str(full), "--epochs", "0", "--out", str(tmp_path / "x.pt")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: --epochs: must be an integer >= 1 and <= 100000 (got 0)"]
    assert not (tmp_path / "x.pt").exists()


# --- cold start ----------------------------------------------------------------------------


def test_inference_imports_neither_librosa_nor_scipy_signal(tmp_path):
    clip = write_wav(tmp_path / "a.wav", _voices(1)[0])
    code = (
        "import sys\n"
        "from s2e_lib.ser import load_model\n"
        f"load_model().predict_file({str(clip)!r})\n"
        "bad = [m for m in ('librosa', 'scipy.signal', 'sklearn', 'numba', 'pandas') if m in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""


@pytest.mark.slow
def test_robustness_table_scores_each_single_change(two_corpora, tmp_path):
    from s2e_lib.ser.crosscorpus import cross_corpus_report, load_corpora, loco_markdown
    from s2e_lib.ser.train import TrainConfig

    full, partial = two_corpora
    config = TrainConfig(model="mlp", epochs=4, n_models=1, model_options={"hidden": [16]})
    features = FeatureConfig(kind="stats")
    data = load_corpora(
        [full, partial], features, config, cache_dir=tmp_path, progress=False, max_per_corpus=20
    )
    conditions = ["clean", "gain +20 dB", "telephone 300-3400 Hz"]
    report = cross_corpus_report(
        data,
        config,
        features,
        robustness=True,
        robustness_conditions=conditions,
        robustness_per_corpus=8,
        cache_dir=tmp_path,
    )
    rows = report["robustness"]
    assert [(r["condition"], r["corpus"]) for r in rows] == [
        (c, k) for k in ("full", "partial") for c in conditions
    ]
    by = {(r["condition"], r["corpus"]): r for r in rows}
    for corpus in ("full", "partial"):
        assert by[("clean", corpus)]["agreement"] == 1.0
        assert by[("gain +20 dB", corpus)]["agreement"] == 1.0  # level-normalised features
        assert by[("clean", corpus)]["n"] == 8
    assert "telephone 300-3400 Hz" in loco_markdown(report)


def test_egemaps_equals_opensmile_and_imports_no_pandas():
    import opensmile

    from s2e_lib.audio.features import egemaps

    clip = _voices(1, seed=5)[0]
    smile = opensmile.Smile(
        feature_set=opensmile.FeatureSet.eGeMAPSv02, feature_level=opensmile.FeatureLevel.Functionals
    )
    reference = smile.process_signal(clip, SR).to_numpy().reshape(-1)
    np.testing.assert_allclose(egemaps(clip, SR), reference, rtol=1e-6)
    code = "import sys; from s2e_lib.audio.features import egemaps; import numpy as np\n"
    code += "egemaps(np.random.default_rng(0).normal(0, 0.1, 16000).astype('float32'))\n"
    code += "print('pandas' in sys.modules, 'opensmile' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "False"]


def test_truncated_resume_state_is_ignored_not_fatal(tmp_path):
    from s2e_lib.ser import TrainConfig, fit

    rng = np.random.default_rng(0)
    feats = [rng.normal(size=12).astype(np.float32) for _ in range(40)]
    labels = np.arange(40) % 5
    state = tmp_path / "run.state.pt"
    state.write_bytes(b"PK\x03\x04 truncated by kill -9")
    config = TrainConfig(model="mlp", epochs=3, model_options={"hidden": [8]})
    result = fit(
        feats[:30], labels[:30], feats[30:], labels[30:], 5, config, state_path=state, progress=False
    )
    assert [h["epoch"] for h in result.history] == [0, 1, 2]
    assert not state.exists()


def test_heavy_clipping_is_reported_as_a_warning(tmp_path):
    from s2e_lib.ser.predict import audio_warnings

    clip = _voices(1, seed=6)[0]
    assert audio_warnings(clip / np.abs(clip).max() * np.float32(0.5)) == []
    clipped = np.clip(clip / np.abs(clip).max() * np.float32(8.0), -1.0, 1.0)
    warnings = audio_warnings(clipped)
    assert len(warnings) == 1 and warnings[0].startswith("heavy clipping:")
    result = load_model().predict_file(write_wav(tmp_path / "clipped.wav", clipped))
    assert result["warnings"] == warnings or result["warnings"][0].startswith("heavy clipping:")


def test_speech_spans_from_the_check_are_reused_with_identical_features():
    clip = _voices(1, seed=7)[0]
    spans = check_speech(clip, SR, "clip.wav")
    assert spans and all(0 <= a < b <= clip.size for a, b in spans)
    config = FeatureConfig(kind="stats")
    np.testing.assert_array_equal(extract(clip, SR, config, spans), extract(clip, SR, config))


@pytest.mark.slow
@pytest.mark.shared
def test_multi_corpus_leave_one_out_with_emovo_reports_calibration(shared_data, tmp_path):
    """EMOVO (Italian) is a fifth corpus: it scans from its manifest with all five emotions,
    trains beside RAVDESS, and the leave-one-corpus-out report calibrates on both."""
    from s2e_lib.ser.crosscorpus import cross_corpus_report, load_corpora, loco_markdown
    from s2e_lib.ser.train import TrainConfig

    config = TrainConfig(model="mlp", epochs=6, n_models=1, augment=False, model_options={"hidden": [32]})
    features = FeatureConfig(kind="stats")
    sources = [shared_data / "ravdess16k", shared_data / "emovo16k" / "manifest.csv"]
    data = load_corpora(sources, features, config, cache_dir=tmp_path, progress=False, max_per_corpus=60)
    assert set(data.corpora) == {"ravdess", "emovo"}
    assert data.present["emovo"] == list(MISSION_EMOTIONS)
    report = cross_corpus_report(data, config, features, cache_dir=tmp_path)
    assert set(report["loco"]) == {"ravdess", "emovo"}
    calibration = report["calibration"]
    assert calibration["temperature"] > 0 and set(calibration["ece_after"]) == {"ravdess", "emovo", "all"}
    assert calibration["ece_after"]["all"] <= calibration["ece_before"]["all"] + 0.02
    assert "emovo" in loco_markdown(report) and "ECE" in loco_markdown(report)
