"""Data stage: decoding m4a / mp4 with PyAV, `prepare` (resumable, atomic, problems.csv) and its CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from _data_trees import copy_tree, tiny_mead, tree_state  # noqa: F401 (fixture)

import s2e_lib.data.prepare as prepare_module
from s2e_lib.audio import load_audio
from s2e_lib.cli import main as s2e
from s2e_lib.data import read_manifest, scan
from s2e_lib.data.prepare import prepare
from s2e_lib.data.video import VideoDecodeError, count_frames, read_frames, select_frames
from s2e_lib.errors import InputError
from s2e_lib.parallel import SCHEDULER_ENV
from s2e_lib.sample import make_speakers, synthesize


@pytest.fixture(autouse=True)
def _local_execution(monkeypatch):
    """These tests run the takes locally (one patches a function in this process)."""
    monkeypatch.delenv(SCHEDULER_ENV, raising=False)


def test_decode_m4a_and_mp4(tiny_mead):  # noqa: F811
    m4a = tiny_mead / "W001/audio/happy/level_3/002.m4a"
    mp4 = tiny_mead / "W001/video/front/happy/level_3/002.mp4"
    original = synthesize(make_speakers(2, seed=0)[1], "happy", 3, 2, seed=0)
    audio = load_audio(m4a)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert abs(len(audio) - len(original)) < 2048  # AAC pads at most a couple of frames
    # AAC is lossy but the waveform survives (align on the best lag)
    from scipy.signal import correlate

    n = len(original) - 4096
    xc = correlate(audio[: n + 2048], original[:n], mode="valid", method="fft")
    lag = int(np.argmax(xc))
    assert lag <= 2048
    assert np.corrcoef(audio[lag : lag + n], original[:n])[0, 1] > 0.95
    # the mp4 carries the same take's audio and a 10 fps front video
    assert abs(len(load_audio(mp4)) - len(audio)) < 2048
    n_frames = count_frames(mp4)
    assert n_frames == int(np.ceil(len(original) / 16000 * 10))
    frames = read_frames(mp4, [0, n_frames - 1])
    assert [i for i, _ in frames] == [0, n_frames - 1]
    assert frames[0][1].shape == (256, 256, 3) and frames[0][1].dtype == np.uint8
    assert np.abs(frames[0][1].astype(int) - frames[1][1]).mean() > 1.0  # the head moves
    assert len(read_frames(mp4)) == n_frames


def test_decode_errors(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00\x00\x00\x20ftypisom" + bytes(200))
    with pytest.raises(VideoDecodeError, match="bad.mp4"):
        count_frames(bad)
    with pytest.raises(InputError, match="not found"):
        read_frames(tmp_path / "none.mp4")
    wav = tmp_path / "a.wav"
    sf.write(wav, np.zeros(1600, np.float32), 16000)
    with pytest.raises(VideoDecodeError, match="no video stream"):
        read_frames(wav)


def test_select_frames():
    assert select_frames(10, step=3) == [0, 3, 6, 9]
    assert select_frames(10, step=3, frames="first", max_frames=2) == [0, 3]
    assert select_frames(10, step=3, frames="last", max_frames=2) == [6, 9]
    assert select_frames(11, step=1, frames="middle") == [5]
    assert select_frames(30, frames="all", max_frames=3) == [0, 14, 29]
    assert select_frames(3, step=1, frames="first", max_frames=10) == [0, 1, 2]
    assert select_frames(0) == []
    with pytest.raises(InputError):
        select_frames(10, step=0)
    with pytest.raises(InputError):
        select_frames(10, frames="random")


@pytest.fixture()
def damaged(tiny_mead, tmp_path):  # noqa: F811
    root = copy_tree(tiny_mead, tmp_path / "MEAD")
    (root / "M001/audio/angry/level_3/002.m4a").write_bytes(b"not audio at all" * 50)
    (root / "W001/video/front/sad/level_3/001.mp4").write_bytes(b"\x00\x00\x00\x20ftypisom" + bytes(500))
    return root


def test_prepare_tree_problems_and_source_untouched(damaged, tmp_path):
    before = tree_state(damaged)
    out = tmp_path / "prepared"
    result = prepare(damaged, out, frame_step=4, views=["front", "left_30"], progress=False)
    assert tree_state(damaged) == before  # the source tree is only read
    assert (result.prepared, result.skipped, result.failed) == (19, 0, 1)
    assert "prepared 19, skipped 0 (already done), failed 1" in result.summary()

    problems = pd.read_csv(out / "problems.csv")
    assert list(problems.columns) == ["path", "stage", "error"]
    rows = {
        (Path(p).relative_to(damaged).parts[0], s)
        for p, s in zip(problems["path"], problems["stage"], strict=True)
    }
    assert ("M001", "audio") in rows and ("W001", "video") in rows
    assert problems.loc[problems.stage == "audio", "error"].str.contains("not a readable audio file").all()
    missing_views = problems[problems.error.str.contains("missing video view 'left_30'")]
    assert len(missing_views) == 2 and set(missing_views["stage"]) == {"scan"}

    manifest = read_manifest(out / "manifest.csv")
    assert len(manifest) == 19
    for path, duration in zip(manifest["audio_path"], manifest["duration"], strict=True):
        info = sf.info(path)
        assert info.samplerate == 16000 and info.channels == 1 and info.subtype == "PCM_16"
        assert abs(info.frames / 16000 - duration) < 1e-3
        assert path.startswith(str(out / "audio"))
    assert manifest["source_path"].str.startswith(str(damaged)).all()
    text = (out / "manifest.csv").read_text()
    assert "\naudio/" in text.replace(",audio/", "\naudio/")  # stored relative to <out>

    frames = pd.read_csv(out / "frames.csv", dtype={"utterance": str})
    assert list(frames.columns) == [
        "speaker",
        "view",
        "emotion",
        "level",
        "utterance",
        "frame_index",
        "position",
        "path",
        "aligned",
    ]
    assert frames["position"].between(0, 1).all() and (frames["frame_index"] % 4 == 0).all()
    assert (frames["view"] == "front").all() and not frames["aligned"].any()
    assert all((out / p).is_file() for p in frames["path"])
    assert not ((frames.speaker == "W001") & (frames.emotion == "sad") & (frames.utterance == "001")).any()
    # each good video gave ceil(n_frames / 4) frames
    one = frames[(frames.speaker == "M001") & (frames.emotion == "happy") & (frames.utterance == "001")]
    n = count_frames(damaged / "M001/video/front/happy/level_3/001.mp4")
    assert len(one) == len(range(0, n, 4))
    assert one["path"].iloc[0] == "frames/M001/front/happy/level_3/001/00000.png"
    assert not list(out.rglob("*.part*"))


def test_prepare_resumes_and_redoes_on_new_parameters(tiny_mead, tmp_path):  # noqa: F811
    out = tmp_path / "prepared"
    first = prepare(tiny_mead, out, frames="middle", max_frames=2, speakers="M001", progress=False)
    assert (first.prepared, first.skipped, first.failed) == (10, 0, 0)
    state = tree_state(out / "audio")
    frame_files = sorted(p.name for p in (out / "frames").rglob("*.png"))
    second = prepare(tiny_mead, out, frames="middle", max_frames=2, speakers="M001", progress=False)
    assert (second.prepared, second.skipped, second.failed) == (0, 10, 0)
    assert second.audio_seconds == 0.0
    assert tree_state(out / "audio") == state  # nothing rewritten
    assert sorted(p.name for p in (out / "frames").rglob("*.png")) == frame_files
    pd.testing.assert_frame_equal(second.frames, first.frames)
    pd.testing.assert_frame_equal(
        read_manifest(out / "manifest.csv").drop(columns="videos"), first.manifest.drop(columns="videos")
    )
    # other frame parameters: every take is redone and stale frames disappear
    third = prepare(tiny_mead, out, frames="first", max_frames=1, speakers="M001", progress=False)
    assert (third.prepared, third.skipped) == (10, 0)
    assert len(list((out / "frames").rglob("*.png"))) == 10
    assert set(pd.read_csv(out / "frames.csv")["frame_index"]) == {0}
    # a source that changed is redone
    src = tiny_mead / "M001/audio/angry/level_3/001.m4a"
    copy = copy_tree(tiny_mead, tmp_path / "copy")
    prepare(copy, tmp_path / "p2", speakers="M001", video=False, progress=False)
    (copy / src.relative_to(tiny_mead)).write_bytes(src.read_bytes())  # new mtime
    again = prepare(copy, tmp_path / "p2", speakers="M001", video=False, progress=False)
    assert (again.prepared, again.skipped) == (1, 9)


def test_prepare_is_atomic_under_failure(tiny_mead, tmp_path, monkeypatch):  # noqa: F811
    out = tmp_path / "prepared"
    calls = {"n": 0}
    real = prepare_module.write_image

    def flaky(path, image, quality=95):
        calls["n"] += 1
        if calls["n"] == 7:
            path.write_bytes(b"\x89PNG half a file")
            raise RuntimeError("disk full (injected)")
        return real(path, image, quality)

    monkeypatch.setattr(prepare_module, "write_image", flaky)
    with pytest.raises(RuntimeError, match="injected"):
        prepare(tiny_mead, out, frame_step=10, speakers="W001", progress=False)
    assert not list(out.rglob("*.part*")), "temporary files left behind"
    import cv2

    for png in out.rglob("*.png"):
        assert cv2.imread(str(png)) is not None, f"partial image {png}"
    for wav in out.rglob("*.wav"):
        assert sf.info(wav).frames > 0
    assert not (out / "manifest.csv").exists()  # the run never finished
    # the next run completes and redoes only what was not recorded
    monkeypatch.setattr(prepare_module, "write_image", real)
    result = prepare(tiny_mead, out, frame_step=10, speakers="W001", progress=False)
    assert result.failed == 0 and result.prepared + result.skipped == 10 and result.skipped >= 1


def test_prepare_frame_transform_hook(tiny_mead, tmp_path):  # noqa: F811
    class Half:
        fingerprint = "half:v1"

        def __init__(self):
            self.n = 0

        def __call__(self, image):
            self.n += 1
            if self.n == 2:
                raise ValueError("no face found")
            return image[::2, ::2]

    out = tmp_path / "prepared"
    result = prepare(
        tiny_mead,
        out,
        frames="first",
        max_frames=1,
        speakers="M001",
        emotions="angry",
        frame_transform=Half(),
        progress=False,
    )
    assert result.frames["aligned"].all() and len(result.frames) == 1
    assert (result.problems["stage"] == "align").sum() == 1
    assert "no face found" in result.problems["error"].iloc[0]
    import cv2

    assert cv2.imread(str(out / result.frames["path"].iloc[0])).shape == (128, 128, 3)
    params = json.loads((out / "prepare_params.json").read_text())
    assert params["transform"] == "half:v1"


def test_prepare_refuses_output_inside_source(tiny_mead, tmp_path):  # noqa: F811
    root = copy_tree(tiny_mead, tmp_path / "MEAD")
    with pytest.raises(InputError, match="inside the source tree"):
        prepare(root, root / "prepared", progress=False)
    with pytest.raises(InputError, match="no takes"):
        prepare(root, tmp_path / "out", speakers="M777", progress=False)
    with pytest.raises(InputError, match="frame selection"):
        prepare(root, tmp_path / "out", frames="best", progress=False)


def test_cli_prepare_and_splits(damaged, tmp_path, capsys):
    out = tmp_path / "cli"
    code = s2e(
        [
            "prepare",
            "mead",
            "--root",
            str(damaged),
            "--out",
            str(out),
            "--frames",
            "last",
            "--max-frames",
            "2",
            "--levels",
            "3",
            "--test-speakers",
            "W001",
        ]
    )
    captured = capsys.readouterr()
    assert code == 2  # one take's audio could not be decoded
    assert "prepared 15, skipped 0 (already done), failed 1" in captured.out
    assert "problems.csv" in captured.err
    split = json.loads((out / "splits.json").read_text())
    assert split["test"] == ["W001"] and split["train"] == ["M001"]
    manifest = read_manifest(out / "manifest.csv")
    assert set(manifest["level"]) == {3}
    assert dict(manifest.groupby("speaker")["split"].first()) == {"M001": "train", "W001": "test"}
    same = [
        "prepare",
        "mead",
        "--root",
        str(damaged),
        "--out",
        str(out),
        "--frames",
        "last",
        "--max-frames",
        "2",
    ]
    assert s2e([*same, "--levels", "3"]) == 2
    # done takes are skipped; the take with the broken video is retried, the broken audio fails again
    assert "prepared 1, skipped 14 (already done), failed 1" in capsys.readouterr().out
    assert s2e(["prepare", "mead", "--root", str(damaged), "--out", str(out), "--levels", "3"]) == 2
    assert "prepared 15, skipped 0" in capsys.readouterr().out  # frame parameters changed: redone
    assert s2e(["prepare", "mead", "--root", str(tmp_path / "none"), "--out", str(out)]) == 2
    assert "not found" in capsys.readouterr().err


def test_cli_prepare_align(tiny_mead, tmp_path, capsys):  # noqa: F811
    pytest.importorskip("s2e_lib.face")
    out = tmp_path / "aligned"
    code = s2e(
        [
            "prepare",
            "mead",
            "--root",
            str(tiny_mead),
            "--out",
            str(out),
            "--speakers",
            "W001",
            "--emotions",
            "happy,sad",
            "--frames",
            "middle",
            "--align",
            "--align-size",
            "128",
        ]
    )
    assert code == 0, capsys.readouterr().err
    frames = pd.read_csv(out / "frames.csv")
    assert len(frames) == 4 and frames["aligned"].all()
    import cv2

    assert cv2.imread(str(out / frames["path"].iloc[0])).shape == (128, 128, 3)
    assert scan(tiny_mead, speakers="W001", emotions="happy,sad", durations=False).shape[0] == 4


@pytest.mark.shared
def test_prepare_real_ravdess_subset(shared_data, tmp_path, capsys):
    root = shared_data / "ravdess16k"
    before = tree_state(root / "Actor_02")
    code = s2e(
        [
            "prepare",
            "ravdess",
            "--root",
            str(root),
            "--out",
            str(tmp_path / "rav"),
            "--speakers",
            "Actor_02",
            "--emotions",
            "angry,neutral",
            "--levels",
            "2,1",
        ]
    )
    assert code == 0, capsys.readouterr().err
    assert tree_state(root / "Actor_02") == before
    manifest = read_manifest(tmp_path / "rav" / "manifest.csv")
    assert (
        len(manifest) == 4 + 4 + 4
    )  # neutral (level 1) + angry levels 1 and 2, 2 statements x 2 repetitions
    assert (manifest["gender"] == "F").all() and (manifest["corpus"] == "ravdess").all()
    audio = load_audio(manifest["audio_path"].iloc[0])
    original, sr = sf.read(manifest["source_path"].iloc[0], dtype="float32")
    assert sr == 16000 and len(audio) == len(original)
    np.testing.assert_allclose(audio, original, atol=1e-3)
    assert pd.read_csv(tmp_path / "rav" / "frames.csv").empty


def test_prepare_in_parallel_matches_serial(tiny_mead, tmp_path):  # noqa: F811
    options = {"speakers": "W001", "frames": "first", "max_frames": 2, "progress": False}
    serial = prepare(tiny_mead, tmp_path / "serial", jobs=1, **options)
    parallel = prepare(tiny_mead, tmp_path / "parallel", jobs=2, **options)
    assert (parallel.prepared, parallel.failed) == (10, 0)
    pd.testing.assert_frame_equal(serial.frames, parallel.frames)
    for path in serial.frames["path"]:
        assert (tmp_path / "serial" / path).read_bytes() == (tmp_path / "parallel" / path).read_bytes()
    for a, b in zip(serial.manifest["audio_path"], parallel.manifest["audio_path"], strict=True):
        assert sf.read(a)[0].tolist() == sf.read(b)[0].tolist()
