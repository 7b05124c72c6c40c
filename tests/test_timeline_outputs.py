"""``s2e run --timeline`` outputs: the MP4 (video + the voice) is the main one, the GIF only
with ``--gif`` (smaller, at most 10 fps); the voice's speech is shaded in the plot."""

from __future__ import annotations

import json

import numpy as np
import pytest

from s2e_lib.pipeline.animate import GIF_MAX_FPS, GIF_MAX_SIDE, MAX_VIDEO_SIDE

SR = 16_000


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    from s2e_lib.audio import write_wav
    from s2e_lib.demo import astronaut_photo
    from s2e_lib.sample.voice import make_speakers, synthesize

    folder = tmp_path_factory.mktemp("timeline_inputs")
    speaker = make_speakers(2)[0]
    voice = np.concatenate(
        [synthesize(speaker, "happy", 3, 0), np.zeros(4000, np.float32), synthesize(speaker, "sad", 3, 1)]
    )
    return write_wav(folder / "voice.wav", voice), astronaut_photo(folder), voice.size / SR


@pytest.fixture(scope="module")
def pipeline():
    from s2e_lib.pipeline.run import Pipeline, RunConfig

    return Pipeline(RunConfig(overwrite=False))


def test_streamed_mp4_decodes_with_video_and_voice_of_the_right_duration(tmp_path):
    """The writer alone (a stand-in editor, a made-up timeline): H.264 + AAC, both streams
    as long as the recording, every frame decodable, the edits cached."""
    import av

    from s2e_lib.pipeline.animate import write_animation
    from s2e_lib.pipeline.timeline import Timeline, expression_track

    class Brighter:
        calls = 0

        def edit(self, image, emotion, strength, *, faces=None):
            from types import SimpleNamespace

            Brighter.calls += 1
            return SimpleNamespace(image=np.clip(image + 80 * strength, 0, 255).astype(np.uint8))

    seconds, fps = 6.3, 10
    labels = ["angry", "neutral", "fear", "happy", "sad"]
    times = np.arange(1.0, 6.0, 0.5)
    raw = np.tile([0.05, 0.05, 0.05, 0.8, 0.05], (times.size, 1))
    raw[times > 3.5] = [0.8, 0.05, 0.05, 0.05, 0.05]
    timeline = Timeline(times, raw, raw, labels, seconds)
    track = expression_track(timeline, fps)
    face = np.full((301, 251, 3), 90, np.uint8)[:300, :250]
    voice = (0.2 * np.sin(np.arange(int(seconds * SR)) * 0.05)).astype(np.float32)
    info = write_animation(
        face, timeline, track, Brighter(), tmp_path / "a.mp4", audio=voice, sr=SR, fps=fps, progress=False
    )
    assert info["n_frames"] == len(track) == 63 and info["gif_frames"] == 0
    assert info["edits_rendered"] == Brighter.calls <= 2 * 15
    with av.open(str(tmp_path / "a.mp4")) as container:
        video, sound = container.streams.video[0], container.streams.audio[0]
        assert (video.codec_context.name, sound.codec_context.name) == ("h264", "aac")
        assert [video.width, video.height] == info["video_size"] and video.width == 250
        assert float(video.duration * video.time_base) == pytest.approx(seconds, abs=0.15)
        assert float(sound.duration * sound.time_base) == pytest.approx(seconds, abs=0.1)
        assert sum(1 for _ in container.decode(video)) == 63


@pytest.mark.slow
def test_mp4_is_the_output_and_the_gif_is_off_by_default(inputs, pipeline, tmp_path):
    import av

    from s2e_lib.pipeline.animate import run_timeline

    audio, face, seconds = inputs
    result = run_timeline(audio, face, tmp_path / "tl", pipeline=pipeline, fps=5, progress=False)
    assert sorted(p.name for p in (tmp_path / "tl").iterdir() if not p.name.startswith(".")) == [
        "animation.mp4",
        "result.json",
        "timeline.json",
        "timeline.png",
    ]
    assert "animation.gif" not in result["outputs"] and result["gif_frames"] == 0
    width, height = result["video_size"]
    assert width % 2 == 0 and height % 2 == 0 and max(width, height - 60) <= MAX_VIDEO_SIDE
    with av.open(result["outputs"]["animation.mp4"]) as container:
        video, sound = container.streams.video[0], container.streams.audio[0]
        assert (video.codec_context.name, sound.codec_context.name) == ("h264", "aac")
        assert (video.width, video.height) == (width, height)
        assert float(video.duration * video.time_base) == pytest.approx(seconds, abs=0.25)
        assert float(sound.duration * sound.time_base) == pytest.approx(seconds, abs=0.1)
        assert sum(1 for _ in container.decode(video)) == result["n_frames"] == int(np.ceil(seconds * 5))
    timeline = json.loads((tmp_path / "tl" / "timeline.json").read_text())
    assert timeline["speech_spans"] and all(0 <= a < b <= seconds + 0.01 for a, b in timeline["speech_spans"])
    assert all(0 <= w["speech"] <= 1 for w in timeline["windows"])
    assert result["edits_rendered"] <= 2 * 16  # two emotions' strength grids at most


@pytest.mark.slow
def test_gif_when_asked_is_small_and_at_most_ten_fps(inputs, pipeline, tmp_path):
    from PIL import Image

    from s2e_lib.pipeline.animate import run_timeline

    audio, face, _ = inputs
    result = run_timeline(audio, face, tmp_path / "tl", pipeline=pipeline, fps=25, gif=True, progress=False)
    with Image.open(result["outputs"]["animation.gif"]) as gif:
        assert gif.n_frames == result["gif_frames"] == int(np.ceil(result["n_frames"] / 3))
        assert gif.info["duration"] >= 1000 / GIF_MAX_FPS
        assert max(gif.size[0], gif.size[1] - 40) <= GIF_MAX_SIDE
        assert list(gif.size) == result["gif_size"]
    assert result["gif_fps"] <= GIF_MAX_FPS


def test_cli_passes_gif_only_when_asked(inputs, tmp_path, monkeypatch):
    from s2e_lib.cli import main
    from s2e_lib.pipeline import animate

    calls = []

    def fake_run_timeline(audio, face, out_dir, **options):
        calls.append(options)
        return {
            "emotion": "happy",
            "probabilities": {"happy": 1.0},
            "strength": "auto",
            "strength_mode": "auto",
            "editor": "warp",
            "identity_distance": None,
            "outputs": {},
        }

    monkeypatch.setattr(animate, "run_timeline", fake_run_timeline)
    audio, face, _ = inputs
    args = ["run", "--timeline", "--audio", str(audio), "--face", str(face)]
    assert main([*args, "--out-dir", str(tmp_path / "a")]) == 0
    assert main([*args, "--out-dir", str(tmp_path / "b"), "--gif"]) == 0
    assert [c["gif"] for c in calls] == [False, True]
