"""End to end: strength rules, timeline maths, `s2e run` single / batch / timeline, result schema."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from PIL import Image

from s2e_lib.cli import main
from s2e_lib.demo import astronaut_photo, concatenate, pick_utterances
from s2e_lib.fileio import OutputExistsError
from s2e_lib.pipeline.run import RESULT_KEYS, Pipeline, RunConfig, run_batch
from s2e_lib.pipeline.strength import (
    auto_strength,
    confidence_from_probabilities,
    level_from_path,
    parse_strength,
)
from s2e_lib.pipeline.timeline import Timeline, expression_at, expression_track, smooth_probabilities

LABELS = ["angry", "neutral", "fear", "happy", "sad"]


def test_confidence_and_auto_strength():
    uniform = dict.fromkeys(LABELS, 0.2)
    assert confidence_from_probabilities(uniform) == pytest.approx(0.0)
    sure = {**dict.fromkeys(LABELS, 0.0), "happy": 1.0}
    assert confidence_from_probabilities(sure) == pytest.approx(1.0)
    mild, strong = auto_strength(uniform), auto_strength(sure)
    assert mild == pytest.approx(0.35) and strong == pytest.approx(1.2)
    middle = {**dict.fromkeys(LABELS, 0.1), "happy": 0.6}
    assert mild < auto_strength(middle) < strong
    assert auto_strength(middle, level=1) < auto_strength(middle) < auto_strength(middle, level=3)
    assert auto_strength(sure, level=3) <= 1.5


def test_level_and_strength_parsing():
    assert level_from_path("M003/audio/happy/level_3/001.m4a") == 3
    assert level_from_path("clips/happy.wav") is None
    assert parse_strength("auto") is None and parse_strength("0.7") == 0.7
    for bad in ("strong", "2.0", "-1"):
        with pytest.raises(ValueError):
            parse_strength(bad)


def test_smoothing_renormalises_and_expression_passes_through_neutral():
    raw = np.zeros((20, 5))
    raw[:10, 0], raw[10:, 3] = 1.0, 1.0  # angry then happy
    raw = 0.9 * raw + 0.02
    smoothed = smooth_probabilities(raw, hop_s=0.5, smooth_s=1.0)
    assert np.allclose(smoothed.sum(axis=1), 1.0)
    assert smoothed[9, 0] < raw[9, 0]  # the edge is softened
    timeline = Timeline(np.arange(20) * 0.5 + 1.0, raw, smoothed, LABELS, duration=11.0)
    track = expression_track(timeline, fps=10)
    assert len(track) == 110
    emotions = [e for _, e, _ in track]
    assert emotions[0] == "angry" and emotions[-1] == "happy"
    switch = next(i for i, e in enumerate(emotions) if e == "happy")
    assert track[switch][2] <= 0.2 and track[switch - 1][2] <= 0.2  # strength near 0 at the switch
    assert max(s for _, _, s in track) >= 0.9
    emotion, strength = expression_at(np.array([0.5, 0.5, 0, 0, 0]), LABELS)
    assert strength == 0.0


@pytest.fixture(scope="module")
def pipeline():
    return Pipeline(RunConfig(overwrite=False))


@pytest.fixture(scope="module")
def face_photo(tmp_path_factory):
    return astronaut_photo(tmp_path_factory.mktemp("face"))


def test_run_pair_writes_result_image_and_summary(pipeline, sample_corpus, face_photo, tmp_path):
    audio = pick_utterances(sample_corpus)["happy"]
    result = pipeline.run_pair(audio, face_photo, tmp_path / "out")
    assert set(RESULT_KEYS) <= set(result)
    on_disk = json.loads((tmp_path / "out" / "result.json").read_text())
    assert on_disk["emotion"] == result["emotion"] in LABELS
    assert sum(on_disk["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)
    assert on_disk["emotion"] == max(on_disk["probabilities"], key=on_disk["probabilities"].get)
    assert 0.0 <= on_disk["strength"] <= 1.5 and on_disk["strength_mode"] == "auto"
    assert on_disk["level"] == 3 and on_disk["editor"] == "warp"
    assert {"speech_emotion", "edit", "total"} <= set(on_disk["seconds"])
    assert on_disk["versions"]["s2e_lib"]
    edited = Image.open(tmp_path / "out" / "edited.png")
    assert edited.size == Image.open(face_photo).size and edited.mode == "RGB"
    assert Image.open(tmp_path / "out" / "summary.png").size[0] > 600
    if result["emotion"] != "neutral":
        assert not np.array_equal(np.asarray(edited), np.asarray(Image.open(face_photo)))
    assert result["identity_distance"] is None or 0.0 < result["identity_distance"] < 1.5
    with pytest.raises(OutputExistsError):
        pipeline.run_pair(audio, face_photo, tmp_path / "out")


def test_run_says_which_features_the_photos_edge_cut(pipeline, sample_corpus, face_photo, tmp_path):
    """A portrait cropped through the mouth is edited above it, and the result says so."""
    photo = np.asarray(Image.open(face_photo).convert("RGB"))
    cropped = tmp_path / "cropped.png"
    Image.fromarray(photo[:146]).save(cropped)  # the astronaut's chin and lower lip cut off
    clean = pipeline.run_pair(
        pick_utterances(sample_corpus)["fear"], face_photo, tmp_path / "whole", emotion="fear"
    )
    assert not any("edge cuts" in w for w in clean["warnings"])
    result = pipeline.run_pair(
        pick_utterances(sample_corpus)["fear"], cropped, tmp_path / "out", emotion="fear"
    )
    assert any("edge cuts the face" in w and "mouth" in w for w in result["warnings"])


def test_batch_with_one_bad_file(pipeline, sample_corpus, face_photo, tmp_path):
    voices = tmp_path / "voices"
    voices.mkdir()
    picks = pick_utterances(sample_corpus)
    for emotion in ("angry", "sad"):
        (voices / f"{emotion}.m4a").write_bytes(picks[emotion].read_bytes())
    (voices / "broken.wav").write_bytes(b"RIFF\x00\x00not audio at all")
    results = run_batch(voices, face_photo, tmp_path / "batch", pipeline=pipeline, progress=False)
    assert [r.ok for r in results] == [True, False, True]  # sorted: angry, broken, sad
    rows = list(csv.DictReader((tmp_path / "batch" / "summary.csv").open()))
    assert [row["status"] for row in rows] == ["ok", "failed", "ok"]
    assert "broken.wav" in rows[1]["error"]
    assert (tmp_path / "batch" / "angry.m4a" / "edited.png").exists()


def test_cli_run_json_and_batch_exit_code(sample_corpus, face_photo, tmp_path, capsys):
    audio = pick_utterances(sample_corpus)["sad"]
    code = main(
        [
            "run",
            "--audio",
            str(audio),
            "--face",
            str(face_photo),
            "--out-dir",
            str(tmp_path / "one"),
            "--strength",
            "0.8",
            "--json",
        ]
    )
    assert code == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["strength"] == 0.8 and result["strength_mode"] == "fixed"
    voices = tmp_path / "v"
    voices.mkdir()
    (voices / "ok.m4a").write_bytes(audio.read_bytes())
    (voices / "silent.wav").write_bytes(b"")
    code = main(["run", "--audio", str(voices), "--face", str(face_photo), "--out-dir", str(tmp_path / "b")])
    assert code == 2
    assert "silent.wav" in capsys.readouterr().err


@pytest.mark.slow
def test_timeline_on_long_recording(pipeline, sample_corpus, face_photo, tmp_path):
    import av

    from s2e_lib.pipeline.animate import run_timeline

    picks = pick_utterances(sample_corpus)
    long_audio = concatenate([picks["angry"], picks["neutral"], picks["happy"]], tmp_path / "long.wav")
    result = run_timeline(
        long_audio,
        face_photo,
        tmp_path / "tl",
        pipeline=pipeline,
        window_s=1.5,
        hop_s=0.5,
        smooth_s=0.5,
        fps=4,
        progress=False,
        gif=True,
    )
    timeline = json.loads((tmp_path / "tl" / "timeline.json").read_text())
    assert timeline["labels"] == LABELS and len(timeline["windows"]) == result["n_windows"] >= 5
    times = [w["time"] for w in timeline["windows"]]
    assert times == sorted(times)
    for window in timeline["windows"]:
        assert sum(window[label] for label in LABELS) == pytest.approx(1.0, abs=1e-3)
    with Image.open(tmp_path / "tl" / "animation.gif") as gif:
        assert gif.n_frames == result["n_frames"] == len(timeline["frames"])
    with av.open(str(tmp_path / "tl" / "animation.mp4")) as container:
        assert sorted(s.type for s in container.streams) == ["audio", "video"]
    assert (tmp_path / "tl" / "timeline.png").stat().st_size > 10_000


def test_the_summary_shows_the_face_unless_it_fills_the_photo(face_photo):
    """A speaker filling half the width of a tall photo is shown cropped to the face (at the
    old 0.6 rule the whole photo was shown and the face was a quarter of the panel high); a
    tight portrait is shown whole."""
    from s2e_lib.face import detect_faces
    from s2e_lib.pipeline.run import face_box

    photo = np.asarray(Image.open(face_photo).convert("RGB"))
    face = detect_faces(photo)[0]
    x0, y0, x1, y1 = (int(v) for v in face.box)
    side = x1 - x0
    tall = photo[max(0, y0 - side) : y1 + side + side // 5, x0 - side // 7 : x1 + side // 7]  # box: ~70 %
    box = face_box(tall)
    assert box is not None
    left, top, right, bottom = box
    assert (right - left) * (bottom - top) < 0.8 * tall.shape[0] * tall.shape[1]
    tight = photo[y0 - side // 8 : y1 + side // 8, x0 - side // 8 : x1 + side // 8]
    assert face_box(tight) is None


def test_summary_image_claims_no_emotion_for_an_unchanged_face():
    from s2e_lib.emotions import UNCHANGED, describe_edit
    from s2e_lib.viz.pipeline import summary_image

    face = np.full((64, 48, 3), 128, np.uint8)
    probs = {"angry": 0.4, "neutral": 0.1, "fear": 0.1, "happy": 0.38, "sad": 0.02}
    at_zero = [summary_image(face, face, probs, e, 0.0) for e in ("angry", "happy")]
    assert np.array_equal(at_zero[0], at_zero[1])  # "edited: unchanged", whichever emotion won
    assert not np.array_equal(at_zero[0], summary_image(face, face, probs, "angry", 0.5))
    assert describe_edit("angry", 0.004) == UNCHANGED and describe_edit("angry", 0.6) == "angry x0.60"
    assert describe_edit("neutral", 0.0) == "neutral"
