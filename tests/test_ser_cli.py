"""``s2e ser train / eval / predict``: the JSON contracts and the bad-input behaviour."""

from __future__ import annotations

import json

import numpy as np
import pytest
from _ser_data import SR, make_corpus, synth_clip

from s2e_lib.audio import write_wav
from s2e_lib.cli import main
from s2e_lib.emotions import MISSION_EMOTIONS
from s2e_lib.ser import load_model

# every test here needs the module's `trained` checkpoint (a ~30 s training run)
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A small MLP checkpoint trained through the CLI on a synthetic 4-speaker corpus."""
    root = tmp_path_factory.mktemp("cli")
    corpus = make_corpus(root / "corpus", takes=4)
    out = root / "model.pt"
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = main(
            [
                "ser",
                "train",
                "--data",
                str(corpus),
                "--model",
                "mlp",
                # the synthetic voices differ only in prosody and spectrum; the shipped recipe's
                # GE2E voice embedding adds 256 dimensions of speaker identity to 64 clips
                "--features",
                "stats+egemaps",
                "--epochs",
                "40",
                "--ensemble",
                "2",
                "--augment-copies",
                "1",
                "--test-speakers",
                "W002",
                "--out",
                str(out),
            ]
        )
    assert code == 0
    return corpus, out, buf.getvalue()


def run(capsys, *args):
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_train_writes_a_checkpoint_and_reports_held_out_scores(trained):
    corpus, out, stdout = trained
    summary = json.loads(stdout.strip().splitlines()[-1])
    assert summary["path"] == str(out) and out.exists()
    assert summary["n"] == 20 and 0.0 <= summary["accuracy"] <= 1.0
    model = load_model(out)
    assert model.labels == list(MISSION_EMOTIONS)
    assert model.metadata["data"]["test_speakers"] == ["W002"]
    assert "W002" not in model.metadata["data"]["train_speakers"]
    assert not list(out.parent.glob(".model.pt.train*")), "training work folder left behind"


def test_train_refuses_to_overwrite(trained, capsys):
    corpus, out, _ = trained
    code, _, err = run(capsys, "ser", "train", "--data", str(corpus), "--model", "mlp", "--out", str(out))
    assert code == 2 and "already exists" in err and len(err.strip().splitlines()) == 1


def test_eval_last_line_is_the_json_contract(trained, capsys):
    corpus, out, _ = trained
    code, stdout, _ = run(capsys, "ser", "eval", "--data", str(corpus), "--model", str(out))
    assert code == 0
    result = json.loads(stdout.strip().splitlines()[-1])
    assert result["labels"] == list(MISSION_EMOTIONS)
    assert result["n"] == 4 * 5 * 4
    confusion = np.array(result["confusion"])
    assert confusion.shape == (5, 5) and confusion.sum() == result["n"]
    assert confusion.sum(axis=1).tolist() == [16] * 5  # rows are the true labels
    assert result["accuracy"] == pytest.approx(np.trace(confusion) / confusion.sum())
    assert 0 <= result["balanced_accuracy"] <= 1
    assert set(result["per_speaker"]) == {"M001", "M002", "W001", "W002"}
    assert result["accuracy"] > 0.4  # chance is 0.2


def test_eval_closed_set_among_chosen_labels_and_among_the_data_labels(trained, capsys, tmp_path):
    import shutil

    corpus, out, _ = trained
    code, stdout, _ = run(capsys, "ser", "eval", "--data", str(corpus), "--model", str(out))
    open_set = json.loads(stdout.strip().splitlines()[-1])
    assert "closed_set" not in open_set  # the data has all five emotions
    code, stdout, _ = run(
        capsys, "ser", "eval", "--data", str(corpus), "--model", str(out), "--labels", "angry,happy,sad"
    )
    assert code == 0
    closed = json.loads(stdout.strip().splitlines()[-1])
    assert closed["labels"] == ["angry", "happy", "sad"] and closed["n"] == 3 * 16
    confusion = np.array(closed["confusion"])
    assert confusion.shape == (3, 3) and confusion.sum() == closed["n"]
    # choosing among fewer emotions can only turn wrong answers on these clips into right ones
    index = {label: i for i, label in enumerate(open_set["labels"])}
    rows = [index[label] for label in ("angry", "happy", "sad")]
    open_correct = sum(open_set["confusion"][i][i] for i in rows)
    assert np.trace(confusion) >= open_correct
    # a corpus with three of the five emotions gets closed-set scores beside the open-set ones
    three = tmp_path / "three"
    shutil.copytree(corpus, three)
    for folder in three.glob("*/audio/*"):
        if folder.name in ("neutral", "fear"):
            shutil.rmtree(folder)
    code, stdout, _ = run(capsys, "ser", "eval", "--data", str(three), "--model", str(out))
    result = json.loads(stdout.strip().splitlines()[-1])
    assert result["labels"] == list(MISSION_EMOTIONS) and result["n"] == 48
    assert result["closed_set"]["labels"] == ["angry", "happy", "sad"]
    assert result["closed_set"]["confusion"] == closed["confusion"]
    assert result["closed_set"]["accuracy"] >= result["accuracy"]


def test_eval_refuses_unknown_labels_before_any_work(trained, capsys):
    corpus, out, _ = trained
    code, stdout, err = run(
        capsys, "ser", "eval", "--data", str(corpus), "--model", str(out), "--labels", "angry,bored"
    )
    assert code == 2 and "bored" in err and err.strip().startswith("error:")
    assert len(err.strip().splitlines()) == 1


def test_predict_json_lines(trained, capsys, tmp_path):
    _, out, _ = trained
    a = write_wav(tmp_path / "a.wav", synth_clip("angry", 120.0, np.random.default_rng(1)))
    b = write_wav(tmp_path / "b.wav", synth_clip("sad", 210.0, np.random.default_rng(2)))
    code, stdout, _ = run(capsys, "ser", "predict", str(a), str(b), "--model", str(out), "--json")
    assert code == 0
    lines = [json.loads(line) for line in stdout.strip().splitlines()]
    assert [line["file"] for line in lines] == [str(a), str(b)]
    for line in lines:
        assert set(line["probabilities"]) == set(MISSION_EMOTIONS)
        assert sum(line["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)
        assert line["emotion"] == max(line["probabilities"], key=line["probabilities"].get)
    code, stdout, _ = run(capsys, "ser", "predict", str(a), "--model", str(out))
    assert code == 0 and stdout.startswith(str(a))


def test_a_folder_of_voice_memos_in_apple_and_phone_formats(trained, capsys, tmp_path):
    """A folder is searched for what phones and Macs record (AIFF, CAF, 3GP), not only WAV/M4A."""
    import av

    _, out, _ = trained
    clip = synth_clip("happy", 180.0, np.random.default_rng(5))
    pcm = (np.clip(clip, -1, 1) * 32767).astype(np.int16)[None]
    for name, container, codec in (
        ("memo.aiff", "aiff", "pcm_s16be"),
        ("memo.caf", "caf", "pcm_s16le"),
        ("memo.3gp", "3gp", "aac"),
    ):
        with av.open(str(tmp_path / name), "w", format=container) as sink:
            stream = sink.add_stream(codec, rate=SR)
            stream.layout = "mono"
            frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
            frame.sample_rate = SR
            for packet in [*stream.encode(frame), *stream.encode(None)]:
                sink.mux(packet)
    (tmp_path / "notes.txt").write_text("not a recording")
    code, stdout, _ = run(capsys, "ser", "predict", str(tmp_path), "--model", str(out), "--json")
    assert code == 0
    assert sorted(json.loads(line)["file"].rsplit("/", 1)[-1] for line in stdout.strip().splitlines()) == [
        "memo.3gp",
        "memo.aiff",
        "memo.caf",
    ]


def test_bad_inputs_exit_2_one_line_each_and_others_still_processed(trained, capsys, tmp_path):
    _, out, _ = trained
    good = write_wav(tmp_path / "good.wav", synth_clip("happy", 150.0, np.random.default_rng(3)))
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk")
    silent = write_wav(tmp_path / "silent.wav", np.zeros(2 * SR, dtype=np.float32))
    hiss = write_wav(
        tmp_path / "hiss.wav", 1e-4 * np.random.default_rng(0).standard_normal(2 * SR).astype(np.float32)
    )
    short = write_wav(
        tmp_path / "short.wav",
        synth_clip("angry", 120.0, np.random.default_rng(4), seconds=0.05)[: int(0.2 * SR)],
    )
    missing = tmp_path / "missing.wav"
    files = [corrupt, good, silent, hiss, short, missing]
    code, stdout, err = run(capsys, "ser", "predict", *map(str, files), "--model", str(out), "--json")
    assert code == 2
    assert [json.loads(line)["file"] for line in stdout.strip().splitlines()] == [str(good)]
    errors = err.strip().splitlines()
    assert len(errors) == 5
    for path, line in zip([corrupt, silent, hiss, short, missing], errors, strict=False):
        assert line.startswith("error: ") and str(path) in line
    assert "too short" in errors[3] and "no speech" in errors[1] and "no speech" in errors[2]


def test_long_recordings_are_windowed(trained):
    _, out, _ = trained
    model = load_model(out)
    rng = np.random.default_rng(5)
    long = np.concatenate([synth_clip("angry", 120.0, rng) for _ in range(8)])  # ~12 s
    probs = model.predict_proba(long, SR)
    assert set(probs) == set(MISSION_EMOTIONS) and sum(probs.values()) == pytest.approx(1.0, abs=1e-4)
    times, window_probs = model.predict_windows(long, SR, window_s=3.0, hop_s=1.0)
    assert window_probs.shape == (len(times), 5)
    assert times[0] == pytest.approx(1.5) and times[-1] == pytest.approx(long.size / SR - 1.5)
    assert np.all(np.diff(times) > 0)
    np.testing.assert_allclose(window_probs.sum(axis=1), 1.0, atol=1e-4)


def test_train_refuses_an_unknown_feature_kind_before_any_work(tmp_path, capsys):
    out = tmp_path / "model.pt"
    assert main(["ser", "train", "--data", str(tmp_path), "--features", "mfcc", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: --features: unknown feature kind 'mfcc'")
    assert not out.exists()


def test_train_refuses_mixup_of_sequences_before_any_work(tmp_path, capsys):
    out = tmp_path / "model.pt"
    code, _, err = run(
        capsys,
        "ser",
        "train",
        "--data",
        str(tmp_path),
        "--model",
        "crnn",
        "--mixup",
        "0.4",
        "--out",
        str(out),
    )
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: mixup mixes feature vectors")
    assert not out.exists()


@pytest.mark.slow
def test_train_with_the_domain_shift_recipes_stores_them(tmp_path, capsys):
    from s2e_lib.ser.checkpoint import read_checkpoint

    corpus = make_corpus(tmp_path / "corpus", takes=2)
    out = tmp_path / "model.pt"
    code, stdout, _ = run(
        capsys,
        "ser", "train", "--data", str(corpus), "--model", "mlp", "--features", "stats",
        "--epochs", "3", "--ensemble", "1", "--augment-copies", "0",
        "--phone-copies", "1", "--mixup", "0.4", "--adversarial", "0.5", "--arousal-valence", "0.5",
        "--out", str(out),
    )  # fmt: skip
    assert code == 0, stdout
    config = read_checkpoint(out)["train_config"]
    assert (config["phone_copies"], config["mixup"], config["adversarial"], config["arousal_valence"]) == (
        1, 0.4, 0.5, 0.5,
    )  # fmt: skip
    model = load_model(out)
    assert model.labels == list(MISSION_EMOTIONS)
