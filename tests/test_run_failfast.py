"""`s2e run` checks every input before any speech work, leaves no folder for a failed
pair, and edits one or all faces of a group photo (saying how many it found)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from s2e_lib.cli import main
from s2e_lib.emotions import MISSION_EMOTIONS
from s2e_lib.pipeline.run import Pipeline, RunConfig, run_batch, take_name


class FakeModel:
    """Stands in for the speech model: hears ``emotion``, records every call."""

    def __init__(self, emotion: str, calls: list[str]):
        self.emotion, self.calls = emotion, calls
        self.labels = list(MISSION_EMOTIONS)
        self.speaker_centred = False

    def predict_proba(self, audio, sr=16000, path=None):
        self.calls.append(f"predict {path}")
        return {k: (0.8 if k == self.emotion else 0.05) for k in self.labels}


@pytest.fixture()
def spy_model(monkeypatch):
    """Replaces the speech-model loader; ``calls`` lists loads and predictions in order."""
    import s2e_lib.ser

    calls: list[str] = []

    def load_model(path=None):
        calls.append("load")
        return FakeModel("happy", calls)

    monkeypatch.setattr(s2e_lib.ser, "load_model", load_model)
    return calls


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    from skimage import data

    from s2e_lib.sample import make_speakers, synthesize

    root = tmp_path_factory.mktemp("failfast")
    voice = np.asarray(synthesize(make_speakers(2)[1], "happy", 3, utterance=1, seed=1), dtype=np.float32)
    sf.write(root / "voice.wav", voice, 16000)
    sf.write(root / "silent.wav", np.zeros(32000, dtype=np.float32), 16000)  # decodable, no speech
    (root / "broken.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt garbage")
    astronaut = data.astronaut()
    Image.fromarray(astronaut).save(root / "face.png")
    Image.fromarray(np.full((200, 200, 3), 180, dtype=np.uint8)).save(root / "no_face.png")
    Image.fromarray(np.concatenate([astronaut, astronaut[:, ::-1]], axis=1)).save(root / "two_faces.png")
    return root


def _run(args, capsys):
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("timeline", [False, True], ids=["single", "timeline"])
def test_no_face_is_reported_before_the_speech_model_loads(files, spy_model, tmp_path, capsys, timeline):
    out = tmp_path / "out"
    args = ["run", "--audio", files / "voice.wav", "--face", files / "no_face.png", "--out-dir", out]
    code, _, err = _run(args + (["--timeline"] if timeline else []), capsys)
    assert code == 2 and err.strip() == f"error: {files / 'no_face.png'}: no face found"
    assert spy_model == []  # the speech model was never loaded
    assert not out.exists()  # and nothing was created


def test_bad_audio_is_reported_before_the_speech_model_loads(files, spy_model, tmp_path, capsys):
    out = tmp_path / "out"
    code, _, err = _run(
        ["run", "--audio", files / "broken.wav", "--face", files / "face.png", "--out-dir", out], capsys
    )
    assert code == 2 and "broken.wav" in err and err.startswith("error:")
    assert spy_model == [] and not out.exists()


def test_single_pair_checks_the_face_before_classifying(files, spy_model, monkeypatch, tmp_path):
    order: list[str] = []
    check_face = Pipeline.check_face

    def spy_check_face(self, path):
        order.append("check_face")
        return check_face(self, path)

    monkeypatch.setattr(Pipeline, "check_face", spy_check_face)
    pipeline = Pipeline(RunConfig(identity=False, summary_figure=False))
    pipeline._model = FakeModel("happy", order)
    result = pipeline.run_pair(files / "voice.wav", files / "face.png", tmp_path / "out")
    assert order[0] == "check_face" and order[-1].startswith("predict")
    assert result["emotion"] == "happy" and result["faces_found"] == 1 and result["faces_edited"] == 1


def test_batch_checks_every_input_first_and_leaves_no_folder_for_failed_pairs(
    files, spy_model, tmp_path, capsys
):
    voices, faces = tmp_path / "voices", tmp_path / "faces"
    voices.mkdir(), faces.mkdir()
    for name in ("voice.wav", "broken.wav"):
        (voices / name).write_bytes((files / name).read_bytes())
    for name in ("face.png", "no_face.png"):
        (faces / name).write_bytes((files / name).read_bytes())
    out = tmp_path / "batch"
    code, _, err = _run(["run", "--audio", voices, "--face", faces, "--out-dir", out], capsys)
    assert code == 2
    # the two bad inputs are named once each, before any prediction
    assert f"{voices / 'broken.wav'}: not a readable audio file (invalid data found" in err
    assert f"{faces / 'no_face.png'}: no face found (skipping its 2 pairs)" in err
    assert spy_model == ["load", f"predict {voices / 'voice.wav'}"]  # only the good pair was worked on
    folders = sorted(p.name for p in out.iterdir() if p.is_dir())
    assert folders == ["voice.wav__face.png"]  # no folder for the three failed pairs
    assert (out / "voice.wav__face.png" / "result.json").exists()
    rows = (out / "summary.csv").read_text().splitlines()[1:]
    assert sum(",failed," in row for row in rows) == 3 and sum(",ok," in row for row in rows) == 1


def test_pair_failing_during_the_work_leaves_no_folder(files, tmp_path):
    """silent.wav passes the header check but has no speech: the real model refuses it."""
    voices = tmp_path / "voices"
    voices.mkdir()
    for name in ("voice.wav", "silent.wav"):
        (voices / name).write_bytes((files / name).read_bytes())
    out = tmp_path / "batch"
    pipeline = Pipeline(RunConfig(identity=False, summary_figure=False))
    results = run_batch(voices, files / "face.png", out, pipeline=pipeline, progress=False)
    assert [(r.ok, bool(r.error)) for r in results] == [(False, True), (True, False)]  # silent, voice
    assert "silent.wav" in results[0].error
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["voice.wav"]


def test_run_reports_faces_found_and_edits_all_faces_on_request(files, spy_model, tmp_path, capsys):
    photo = files / "two_faces.png"
    base = ["run", "--audio", files / "voice.wav", "--face", photo, "--strength", "1", "--json"]
    code, out, err = _run([*base, "--out-dir", tmp_path / "largest"], capsys)
    assert code == 0, err
    largest = json.loads(out.strip().splitlines()[-1])
    assert largest["faces_found"] == 2 and largest["faces_edited"] == 1 and largest["all_faces"] is False
    assert any("only the largest" in w for w in largest["warnings"])
    code, out, err = _run([*base, "--all-faces", "--out-dir", tmp_path / "all"], capsys)
    assert code == 0, err
    every = json.loads(out.strip().splitlines()[-1])
    assert every["faces_found"] == 2 and every["faces_edited"] == 2 and every["warnings"] == []
    original = np.asarray(Image.open(photo), dtype=np.int16)
    half = original.shape[1] // 2
    for result, changed_halves in ((largest, 1), (every, 2)):
        edited = np.asarray(Image.open(result["outputs"]["edited.png"]), dtype=np.int16)
        diff = np.abs(edited - original).sum(axis=2)
        assert int(diff[:, :half].any()) + int(diff[:, half:].any()) == changed_halves


def test_edit_says_how_many_faces_it_found_and_edited(files, tmp_path, capsys):
    """`s2e edit` reports faces like `s2e run`: a group photo's unedited faces are a warning."""
    photo = files / "two_faces.png"
    base = ["edit", "--face", photo, "--emotion", "sad"]
    code, out, err = _run([*base, "--out", tmp_path / "largest.png", "--json"], capsys)
    assert code == 0, err
    largest = json.loads(out.strip().splitlines()[-1])
    assert largest["faces_found"] == 2 and largest["faces_edited"] == 1
    assert largest["warnings"] == [
        "2 faces found; only the largest was edited (--all-faces edits every face)"
    ]
    code, out, err = _run([*base, "--out", tmp_path / "plain.png"], capsys)
    assert code == 0 and f"warning: {photo}: 2 faces found; only the largest" in err
    code, out, err = _run([*base, "--all-faces", "--out", tmp_path / "all.png", "--json"], capsys)
    every = json.loads(out.strip().splitlines()[-1])
    assert code == 0 and every["faces_edited"] == 2 and every["warnings"] == []


def test_all_faces_needs_the_warp_editor(files, tmp_path, capsys):
    code, _, err = _run(
        [
            "run",
            "--audio",
            files / "voice.wav",
            "--face",
            files / "face.png",
            "--editor",
            "pix2pixhd",
            "--all-faces",
            "--out-dir",
            tmp_path / "o",
        ],
        capsys,
    )
    assert code == 2 and err.strip().startswith("error: --all-faces") and "warp" in err
    assert not (tmp_path / "o").exists()


def test_take_names():
    assert take_name("data/sample/W001/audio/angry/level_3/001.m4a") == "W001 angry level 3, take 001"
    assert (
        take_name("RAVDESS/Actor_12/03-01-05-02-01-02-12.wav")
        == "RAVDESS actor 12 angry (strong), statement 1 take 2"
    )
    assert take_name("/tmp/clip.wav") == "clip.wav"


def test_demo_says_which_voice_produced_which_emotion():
    from s2e_lib.demo import describe_timeline, describe_voice

    result = {"emotion": "fear", "probabilities": {"fear": 0.3512, "angry": 0.3}, "strength": 0.6149}
    assert describe_voice("angry", result) == "sample angry voice → heard fear (0.35) → fear x0.61"
    frames = [{"emotion": e} for e in ("angry", "angry", "neutral", "neutral", "happy")]
    assert describe_timeline({"frames": frames}) == "angry → neutral → happy"
