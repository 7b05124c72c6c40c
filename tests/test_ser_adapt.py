"""Speaker adaptation: speaker-centred training, voice profiles, predict --profile/--adapt."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from _ser_data import make_corpus

from s2e_lib.audio import FeatureConfig
from s2e_lib.cli import main
from s2e_lib.errors import InputError
from s2e_lib.ser import load_model
from s2e_lib.ser.adapt import VoiceProfile, centre_by_speaker, centre_views, speaker_means
from s2e_lib.ser.checkpoint import read_checkpoint
from s2e_lib.ser.train import TrainConfig, check_centrable


def test_centring_removes_each_speakers_mean_and_nothing_else():
    rng = np.random.default_rng(0)
    speakers = np.array(["a"] * 4 + ["b"] * 6)
    offset = np.where(speakers == "a", 5.0, -3.0)[:, None]
    features = list(rng.normal(size=(10, 3)) + offset)
    centred = centre_by_speaker(features, speakers)
    for s in ("a", "b"):
        rows = np.stack([c for c, k in zip(centred, speakers, strict=True) if k == s])
        np.testing.assert_allclose(rows.mean(axis=0), 0.0, atol=1e-6)
    # differences between one speaker's clips are kept exactly
    np.testing.assert_allclose(centred[1] - centred[0], features[1] - features[0], rtol=1e-5)
    assert centred[0].dtype == np.float32
    # each augmented copy is centred on the same copy's speaker means
    view = [f + 10.0 for f in features]
    clean, (copy,) = centre_views(features, [view], speakers)
    np.testing.assert_allclose(np.stack(copy), np.stack(clean), atol=1e-5)


def test_centring_refuses_mismatched_or_sequence_input():
    with pytest.raises(ValueError, match="2 feature vectors but 3 speakers"):
        speaker_means([np.zeros(3), np.zeros(3)], ["a", "b", "c"])
    with pytest.raises(InputError, match="vector features"):
        speaker_means([np.zeros((4, 7))], ["a"])
    with pytest.raises(InputError, match="speaker-centred training needs vector features"):
        check_centrable(TrainConfig(model="crnn", speaker_centred=True), FeatureConfig(kind="logmel"))


def test_voice_profile_round_trip_warnings_and_bad_files(tmp_path):
    fc = FeatureConfig(kind="stats")
    profile = VoiceProfile.from_features([np.ones(4), 3 * np.ones(4)], fc, ["a.wav", "b.wav"])
    np.testing.assert_allclose(profile.mean, 2.0)
    assert profile.warnings and "2 clip(s)" in profile.warnings[0]
    old = os.umask(0o027)
    try:
        path = profile.save(tmp_path / "me.npz")
    finally:
        os.umask(old)
    assert (path.stat().st_mode & 0o777) == 0o640  # the user's umask
    with np.load(path, allow_pickle=False) as data:  # no pickles inside
        assert set(data.files) == {"mean", "meta"}
    back = VoiceProfile.load(path)
    np.testing.assert_array_equal(back.mean, profile.mean)
    assert (back.n_clips, back.feature_config, back.files) == (2, fc, ["a.wav", "b.wav"])
    with pytest.raises(Exception, match="already exists"):
        profile.save(path)
    profile.check(fc)
    with pytest.raises(InputError, match="made with features 'stats'.*uses 'egemaps'"):
        profile.check(FeatureConfig(kind="egemaps"))
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip")
    with pytest.raises(InputError, match=f"{junk}: not a voice profile"):
        VoiceProfile.load(junk)
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    with pytest.raises(InputError, match="not a voice profile"):
        VoiceProfile.load(tmp_path / "other.npz")
    with pytest.raises(InputError, match="no such voice profile"):
        VoiceProfile.load(tmp_path / "absent.npz")
    with pytest.raises(InputError, match="at least one clip"):
        VoiceProfile.from_features([], fc)


def _has_speech(model, path) -> bool:
    try:
        model.file_features(path)
    except InputError:
        return False
    return True


@pytest.fixture(scope="module")
def speaker_model(tmp_path_factory):
    """A tiny speaker-centred MLP on stats features, trained through the CLI."""
    root = tmp_path_factory.mktemp("adapt")
    corpus = make_corpus(root / "corpus", takes=3, speakers={"M001": 110.0, "W001": 205.0, "M002": 135.0})
    out = root / "speaker.pt"
    args = ["ser", "train", "--data", str(corpus), "--features", "stats", "--speaker-centred"]
    assert main([*args, "--epochs", "6", "--ensemble", "1", "--augment-copies", "0", "--out", str(out)]) == 0
    return corpus, out


@pytest.mark.slow
def test_speaker_centred_model_needs_and_uses_a_voice_profile(speaker_model, tmp_path, capsys):
    corpus, checkpoint = speaker_model
    assert read_checkpoint(checkpoint)["train_config"]["speaker_centred"] is True
    model = load_model(checkpoint)
    every = sorted(str(p) for p in (corpus / "W001").rglob("*.wav"))
    clips = [c for c in every if _has_speech(model, c)]
    assert len(clips) >= 12
    capsys.readouterr()

    # without a profile: one line, exit 2, before any clip is read
    assert main(["ser", "predict", "--model", str(checkpoint), clips[0]]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "needs --profile" in err[0] and err[0].startswith("error: ")
    assert (
        main(["ser", "predict", "--model", str(checkpoint), "--adapt", "--profile", "x.npz", clips[0]]) == 2
    )
    assert "give one" in capsys.readouterr().err

    # a profile from the speaker's clips, then predictions relative to it
    profile_path = tmp_path / "w001.npz"
    assert main(["ser", "profile", "--model", str(checkpoint), "--out", str(profile_path), *clips]) == 0
    made = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert made["n_clips"] == len(clips) and made["warnings"] == []
    args = ["ser", "predict", "--model", str(checkpoint), "--json"]
    assert main([*args, "--profile", str(profile_path), *clips[:3]]) == 0
    with_profile = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    assert main([*args, "--adapt", *clips]) == 0
    adapted = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    assert len(with_profile) == 3 and len(adapted) == len(clips)
    for a, b in zip(with_profile, adapted[:3], strict=True):  # same clips, same profile
        assert a["file"] == b["file"]
        for label, p in a["probabilities"].items():
            assert p == pytest.approx(b["probabilities"][label], abs=1e-5)

    # the probabilities are the model's on (clip features - profile mean)
    profile = VoiceProfile.load(profile_path)
    feats = model.file_features(clips[0])[0]
    logits = model.model(torch.from_numpy(np.stack(feats) - profile.mean).float())
    expected = torch.softmax(logits, dim=1).detach().numpy().mean(axis=0)
    got = [with_profile[0]["probabilities"][label] for label in model.labels]
    np.testing.assert_allclose(got, expected, atol=1e-5)

    # a folder stands for its audio files; a missing input is one line before any work
    from_folder = tmp_path / "folder.npz"
    status = main(
        ["ser", "profile", "--model", str(checkpoint), "--out", str(from_folder), str(corpus / "W001")]
    )
    assert status == (0 if len(clips) == len(every) else 2)  # a clip without speech is named, then skipped
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["n_clips"] == len(clips)
    np.testing.assert_allclose(
        VoiceProfile.load(from_folder).mean, VoiceProfile.load(profile_path).mean, rtol=1e-5
    )
    missing = tmp_path / "absent.wav"
    assert (
        main(
            [
                "ser",
                "profile",
                "--model",
                str(checkpoint),
                "--out",
                str(tmp_path / "m.npz"),
                str(missing),
                clips[0],
            ]
        )
        == 2
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: {missing}: audio file not found"] and not (tmp_path / "m.npz").exists()

    # a profile from another feature kind is refused by name
    VoiceProfile.from_features([np.zeros(88)] * 6, FeatureConfig(kind="egemaps")).save(tmp_path / "eg.npz")
    assert main([*args, "--profile", str(tmp_path / "eg.npz"), clips[0]]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(tmp_path / "eg.npz") in err[0] and "egemaps" in err[0]


@pytest.mark.slow
def test_eval_adapts_to_every_speaker_and_profile_refuses_an_unadapted_model(speaker_model, tmp_path, capsys):
    corpus, checkpoint = speaker_model
    capsys.readouterr()
    status = main(["ser", "eval", "--data", str(corpus), "--model", str(checkpoint)])
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert status == (2 if result["n_skipped"] else 0)  # a clip without speech is skipped, by name
    assert result["speaker_centred"] is True and result["n"] + result["n_skipped"] == 45
    assert set(result["per_speaker"]) == {"M001", "W001", "M002"}
    # a speaker with a single clip has no profile to be heard against: skipped by name, the others scored
    import shutil

    lone = tmp_path / "lone"
    shutil.copytree(corpus / "M001", lone / "M001")
    shutil.copytree(corpus / "W001", lone / "W001")
    for wav in sorted((lone / "W001").rglob("*.wav"))[1:]:
        wav.unlink()
    assert main(["ser", "eval", "--data", str(lone), "--model", str(checkpoint)]) == 2
    captured = capsys.readouterr()
    result = json.loads(captured.out.strip().splitlines()[-1])
    assert set(result["per_speaker"]) == {"M001"} and result["n_skipped"] >= 1
    assert "speaker W001: adapting to the speaker needs at least 2 recordings" in captured.err
    # a plain model has no use for a profile: refused before any work, nothing written
    plain = tmp_path / "plain.pt"
    args = ["ser", "train", "--data", str(corpus), "--features", "stats", "--epochs", "2"]
    assert main([*args, "--ensemble", "1", "--augment-copies", "0", "--out", str(plain)]) == 0
    capsys.readouterr()
    clip = str(next((corpus / "M001").rglob("*.wav")))
    out = tmp_path / "p.npz"
    assert main(["ser", "profile", "--model", str(plain), "--out", str(out), clip]) == 2
    assert "not a speaker-centred model" in capsys.readouterr().err
    assert not out.exists()
    assert main(["ser", "predict", "--model", str(plain), "--adapt", clip]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a speaker-centred model" in err[0]


@pytest.mark.slow
def test_run_hears_the_voice_relative_to_the_voice_profile(speaker_model, tmp_path, capsys):
    from PIL import Image
    from skimage import data

    corpus, checkpoint = speaker_model
    model = load_model(checkpoint)
    clips = [c for c in sorted(str(p) for p in (corpus / "M001").rglob("*.wav")) if _has_speech(model, c)]
    profile_path = tmp_path / "m001.npz"
    model.profile_of([model.file_features(c)[0] for c in clips], clips).save(profile_path)
    face = tmp_path / "face.png"
    Image.fromarray(data.astronaut()).save(face)
    base = ["run", "--audio", clips[0], "--face", str(face), "--model", str(checkpoint), "--json"]

    # a speaker-centred model without a profile, or a file that is not a profile: one line, no folder
    for extra, message in (
        ([], "needs a voice profile"),
        (["--voice-profile", str(face)], "not a voice profile"),
    ):
        out = tmp_path / f"refused{len(extra)}"
        assert main([*base, *extra, "--out-dir", str(out)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], err
        assert not out.exists()

    assert main([*base, "--voice-profile", str(profile_path), "--out-dir", str(tmp_path / "ok")]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    model.use_profile(VoiceProfile.load(profile_path))
    expected = model.predict_file(clips[0])["probabilities"]
    assert result["probabilities"] == pytest.approx(expected, abs=1e-5)
    assert result["voice_profile"] == {"path": str(profile_path), "n_clips": len(clips)}


@pytest.mark.slow
def test_timeline_windows_are_heard_against_the_voice_profile(speaker_model):
    from s2e_lib.audio.io import load_audio
    from s2e_lib.pipeline.timeline import emotion_timeline, recording_speech_spans, spans_within

    corpus, checkpoint = speaker_model
    model = load_model(checkpoint)
    clips = [c for c in sorted(str(p) for p in (corpus / "W001").rglob("*.wav")) if _has_speech(model, c)]
    model.use_profile(model.profile_of([model.file_features(c)[0] for c in clips]))
    audio = np.concatenate([load_audio(c) for c in clips[:4]])
    timeline = emotion_timeline(audio, 16000, model, window_s=2.0, hop_s=1.0, workers=1)
    spans = spans_within(recording_speech_spans(audio, 16000), 0, 2 * 16000)
    window = model.features(audio[: 2 * 16000], 16000, spans) - model.profile.mean
    expected = torch.softmax(model.model(torch.from_numpy(window)[None].float()), 1).detach().numpy()[0]
    np.testing.assert_allclose(timeline.raw[0], expected, atol=1e-5)
    model.use_profile(None)
    with pytest.raises(InputError, match="needs a voice profile"):
        emotion_timeline(audio, 16000, model, window_s=2.0, hop_s=1.0, workers=1)


@pytest.mark.slow
def test_run_adapt_hears_a_batch_against_its_own_recordings(speaker_model, tmp_path, capsys):
    from PIL import Image
    from skimage import data

    corpus, checkpoint = speaker_model
    model = load_model(checkpoint)
    clips = [c for c in sorted(str(p) for p in (corpus / "M002").rglob("*.wav")) if _has_speech(model, c)][:6]
    folder = tmp_path / "takes"
    folder.mkdir()
    for k, clip in enumerate(clips):
        (folder / f"take{k}.wav").write_bytes(open(clip, "rb").read())
    face = tmp_path / "face.png"
    Image.fromarray(data.astronaut()).save(face)
    base = ["run", "--face", str(face), "--model", str(checkpoint), "--strength", "0.5"]

    # one recording cannot be its own profile; --adapt with --voice-profile is ambiguous
    single = tmp_path / "single"
    assert main([*base, "--audio", str(folder / "take0.wav"), "--adapt", "--out-dir", str(single)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "at least 2 recordings" in err[0]
    assert not single.exists()
    assert (
        main([*base, "--audio", str(folder), "--adapt", "--voice-profile", str(face), "--out-dir", "x"]) == 2
    )
    assert "give one" in capsys.readouterr().err

    out = tmp_path / "batch"
    assert main([*base, "--audio", str(folder), "--adapt", "--out-dir", str(out)]) == 0
    capsys.readouterr()
    results = {
        Path(r["audio"]).name: r for r in (json.loads(p.read_text()) for p in out.rglob("result.json"))
    }
    assert len(results) == len(clips)
    expected = model.predict_files(sorted(folder.iterdir()), adapt=True)
    for e in expected:
        got = results[Path(e["file"]).name]
        assert got["voice_profile"] == {
            "path": f"the {len(clips)} recordings of this run",
            "n_clips": len(clips),
        }
        assert got["probabilities"] == pytest.approx(e["probabilities"], abs=1e-5)


@pytest.mark.slow
def test_timeline_adapt_uses_the_recordings_own_speech_windows(speaker_model):
    from s2e_lib.audio.io import load_audio
    from s2e_lib.pipeline.timeline import emotion_timeline, recording_speech_spans, spans_within

    corpus, checkpoint = speaker_model
    model = load_model(checkpoint)
    clips = [c for c in sorted(str(p) for p in (corpus / "W001").rglob("*.wav")) if _has_speech(model, c)]
    audio = np.concatenate([load_audio(c) for c in clips[:5]])
    timeline = emotion_timeline(audio, 16000, model, window_s=2.0, hop_s=1.0, workers=1, adapt=True)
    spans = recording_speech_spans(audio, 16000)
    starts = [int(round(t * 16000)) - 16000 for t in timeline.times]
    windows = [model.features(audio[s : s + 32000], 16000, spans_within(spans, s, s + 32000)) for s in starts]
    voiced = [w for w, share in zip(windows, timeline.speech, strict=True) if share >= 0.5]
    np.testing.assert_allclose(model.profile.mean, np.mean(voiced, axis=0), rtol=1e-4, atol=1e-4)
    assert model.profile.n_clips == len(voiced) < len(windows) + 1
    expected = torch.softmax(model.model(torch.from_numpy(np.stack(windows) - model.profile.mean).float()), 1)
    np.testing.assert_allclose(timeline.raw, expected.detach().numpy(), atol=1e-5)


@pytest.mark.slow
def test_demo_line_of_the_adapted_model(tmp_path):
    import re

    from _ser_data import synth_clip

    from s2e_lib.audio import write_wav
    from s2e_lib.demo import describe_adapted
    from s2e_lib.emotions import MISSION_EMOTIONS

    rng = np.random.default_rng(3)
    voices = {e: write_wav(tmp_path / f"{e}.wav", synth_clip(e, 200.0, rng)) for e in MISSION_EMOTIONS}
    line = describe_adapted(voices)
    assert line.startswith("heard against the speaker's voice profile (s2e ser predict --adapt): ")
    found = re.findall(r"(\w+) → (\w+) \((0\.\d\d|1\.00)\)", line)
    assert [spoken for spoken, _, _ in found] == list(MISSION_EMOTIONS)
    assert all(heard in MISSION_EMOTIONS for _, heard, _ in found)
