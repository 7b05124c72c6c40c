"""Data stage: the synthetic sample corpus (determinism, acoustic correlates, learnability, CLI)."""

from __future__ import annotations

import hashlib
import importlib.util
import json

import librosa
import numpy as np
import pytest

from s2e_lib.audio import load_audio
from s2e_lib.cli import main as s2e
from s2e_lib.data import scan, speaker_split
from s2e_lib.data.video import read_frames
from s2e_lib.errors import InputError
from s2e_lib.sample import (
    INFO_FILE,
    SAMPLE_VERSION,
    ensure_sample_corpus,
    make_sample_corpus,
    make_speakers,
    synthesize,
)

SMALL = {
    "n_speakers": 2,
    "utterances": 1,
    "levels": (3,),
    "emotions": ("angry", "neutral"),
    "expression": "none",
}


def _decoded_digest(root):
    """Hash of every decoded audio sample and video pixel (container metadata excluded)."""
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.m4a")):
        h.update(str(path.relative_to(root)).encode())
        h.update(load_audio(path).tobytes())
    for path in sorted(root.rglob("*.mp4")):
        h.update(str(path.relative_to(root)).encode())
        for _, image in read_frames(path):
            h.update(image.tobytes())
    return h.hexdigest()


def test_synthesis_is_deterministic_and_varied():
    spk = make_speakers(4, seed=0)
    a = synthesize(spk[0], "happy", 2, 1, seed=0)
    np.testing.assert_array_equal(a, synthesize(spk[0], "happy", 2, 1, seed=0))
    assert a.dtype == np.float32 and 1.0 < len(a) / 16000 < 3.5 and np.abs(a).max() <= 1.0
    others = [
        synthesize(spk[0], "happy", 2, 1, seed=1),
        synthesize(spk[2], "happy", 2, 1),
        synthesize(spk[0], "happy", 2, 2),
    ]
    for b in others:
        assert len(b) != len(a) or not np.allclose(a, b)


@pytest.mark.slow
def test_sample_corpus_is_deterministic(tmp_path):
    one = make_sample_corpus(tmp_path / "one", seed=3, **SMALL)
    two = make_sample_corpus(tmp_path / "two", seed=3, **SMALL)
    other = make_sample_corpus(tmp_path / "other", seed=4, **SMALL)
    files = sorted(str(p.relative_to(one)) for p in one.rglob("*") if p.is_file())
    assert files == sorted(str(p.relative_to(two)) for p in two.rglob("*") if p.is_file())
    assert "README.txt" in files and INFO_FILE in files
    assert _decoded_digest(one) == _decoded_digest(two)
    assert _decoded_digest(one) != _decoded_digest(other)
    assert not list(tmp_path.glob(".*part*"))  # built under a temporary name, then renamed
    with pytest.raises(InputError, match="already exists"):
        make_sample_corpus(tmp_path / "one", seed=3, **SMALL)


def _f0_rms(audio):
    f0 = librosa.yin(audio, fmin=60, fmax=600, sr=16000, frame_length=1024)
    rms = librosa.feature.rms(y=audio)[0]
    voiced = rms > 0.3 * rms.max()
    f0 = f0[: len(voiced)][voiced[: len(f0)]]
    return (
        float(np.median(f0)),
        float(np.std(12 * np.log2(f0 / np.median(f0)))),
        float(np.sqrt(np.mean(audio**2))),
    )


def test_emotions_carry_their_acoustic_correlates():
    male, female = make_speakers(2, seed=0)
    stats = {}
    for emotion in ("neutral", "angry", "happy", "sad", "fear"):
        runs = [_f0_rms(synthesize(male, emotion, 3, u)) for u in (1, 2, 3)]
        durations = [len(synthesize(male, emotion, 3, u)) / 16000 for u in (1, 2, 3)]
        stats[emotion] = np.mean(runs, axis=0).tolist() + [np.mean(durations)]
    f0 = {e: s[0] for e, s in stats.items()}
    spread = {e: s[1] for e, s in stats.items()}
    loud = {e: s[2] for e, s in stats.items()}
    dur = {e: s[3] for e, s in stats.items()}
    assert f0["sad"] < f0["neutral"] < f0["angry"] < f0["fear"]
    assert f0["happy"] > 1.15 * f0["neutral"]
    assert spread["happy"] > spread["neutral"] > spread["sad"]
    assert loud["angry"] > loud["happy"] > loud["neutral"] > loud["sad"]
    assert dur["sad"] > dur["neutral"] > dur["angry"]
    # level scales the effect; women speak higher than men
    f0_levels = [_f0_rms(synthesize(male, "angry", lv, 1))[0] for lv in (1, 2, 3)]
    assert f0_levels[0] < f0_levels[1] < f0_levels[2]
    assert _f0_rms(synthesize(female, "neutral", 1, 1))[0] > 1.25 * f0["neutral"]


def test_default_sample_corpus_layout(sample_corpus):
    info = json.loads((sample_corpus / INFO_FILE).read_text())
    assert info["synthetic"] is True
    assert "NOT REAL EMOTION DATA" in (sample_corpus / "README.txt").read_text()
    df = scan(sample_corpus)
    assert df.attrs["problems"] == []
    assert df["speaker"].nunique() == 6 and set(df["gender"]) == {"M", "F"}
    counts = df.groupby("emotion").size()
    assert counts.nunique() == 1 and counts.iloc[0] == 36  # balanced: 6 speakers x 6 takes
    assert set(df.loc[df.emotion != "neutral", "level"]) == {1, 2, 3}
    assert all(set(v) == {"front"} for v in df["videos"])
    assert df["duration"].between(1.0, 4.0).all()
    # the expression hook: the warp editor draws each emotion once the face stage exists
    has_warp = importlib.util.find_spec("s2e_lib.edit.warp") is not None
    assert info["expression"].startswith("warp") == has_warp
    assert ensure_sample_corpus(sample_corpus) == sample_corpus  # reused, not rebuilt


def test_sample_corpus_is_learnable_on_held_out_speakers(sample_corpus):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    df = scan(sample_corpus, durations=False)
    feats = []
    for path in df["audio_path"]:
        mfcc = librosa.feature.mfcc(y=load_audio(path), sr=16000, n_mfcc=13)
        feats.append(np.concatenate([mfcc.mean(axis=1), mfcc.std(axis=1)]))
    X, y = np.array(feats), df["emotion"].to_numpy()
    split = speaker_split(df, n_test=2, seed=0)
    train = df["speaker"].isin(split["train"]).to_numpy()
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(X[train], y[train])
    accuracy = (clf.predict(X[~train]) == y[~train]).mean()
    assert accuracy > 0.6, accuracy  # chance is 0.2
    assert accuracy < 1.0 or len(y[~train]) < 20  # not trivially separable clips


def test_cli_sample(tmp_path, capsys):
    out = tmp_path / "sample"
    args = [
        "sample",
        "--out",
        str(out),
        "--speakers",
        "1",
        "--utterances",
        "1",
        "--levels",
        "3",
        "--no-video",
    ]
    assert s2e(args) == 0
    assert "synthetic, not real emotion data" in capsys.readouterr().out
    assert len(list(out.rglob("*.m4a"))) == 5 and not list(out.rglob("*.mp4"))
    assert s2e(args) == 2
    assert "already exists" in capsys.readouterr().err
    assert s2e([*args, "--overwrite", "--emotions", "sad,netural"]) == 0
    assert sorted(p.name for p in (out / "M001" / "audio").iterdir()) == ["neutral", "sad"]
    user = tmp_path / "mine"
    (user / "x").mkdir(parents=True)
    assert s2e(["sample", "--out", str(user), "--overwrite"]) == 2
    assert "not a sample corpus" in capsys.readouterr().err
    with pytest.raises(InputError, match="not a sample corpus"):
        ensure_sample_corpus(user)
    assert (user / "x").is_dir()


def test_ensure_sample_corpus_regenerates_old_versions(tmp_path):
    small = {**SMALL, "video": False}
    path = ensure_sample_corpus(tmp_path / "s", **small)
    info = json.loads((path / INFO_FILE).read_text())
    assert info["version"] == SAMPLE_VERSION
    assert ensure_sample_corpus(path, **small) == path
    info["version"] = 0
    (path / INFO_FILE).write_text(json.dumps(info))
    (path / "stale.txt").write_text("from an old generator")
    ensure_sample_corpus(path, **small)
    assert json.loads((path / INFO_FILE).read_text())["version"] == SAMPLE_VERSION
    assert not (path / "stale.txt").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
