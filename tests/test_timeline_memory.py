"""The timeline's streaming writer: memory flat in the recording's length.

Rendering, composing and encoding (MP4 and GIF) one frame at a time, from a bounded cache
of edits, must not keep frames: the traced peak of the animation stage on a generated
60 s recording stays close to that on 15 s, far below what its 600 frames would take.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

SR = 16_000


def generated_speech(seconds: float) -> np.ndarray:
    """``seconds`` of synthetic speech: one sample speaker's five emotions, repeated."""
    from s2e_lib.sample.voice import make_speakers, synthesize

    speaker = make_speakers(2)[0]
    block = np.concatenate(
        [
            piece
            for i, emotion in enumerate(["angry", "neutral", "happy", "sad", "fear"])
            for piece in (synthesize(speaker, emotion, 3, i), np.zeros(3200, np.float32))
        ]
    )
    return np.resize(block, int(seconds * SR)).astype(np.float32)


@pytest.mark.slow
def test_animation_memory_is_flat_in_length(tmp_path):
    import cv2
    import skimage.data

    from s2e_lib.face import detect_faces
    from s2e_lib.pipeline.animate import MAX_VIDEO_SIDE, animation_face, write_animation
    from s2e_lib.pipeline.run import Pipeline, RunConfig
    from s2e_lib.pipeline.timeline import emotion_timeline, expression_track

    pipeline = Pipeline(RunConfig())
    photo = cv2.resize(skimage.data.astronaut(), (1600, 1600), interpolation=cv2.INTER_CUBIC)
    face = animation_face(photo, detect_faces(photo)[0])
    assert max(face.shape[:2]) == MAX_VIDEO_SIDE  # the largest frames the timeline makes
    peaks, frames = {}, {}
    for seconds in (15, 60):
        voice = generated_speech(seconds)
        timeline = emotion_timeline(voice, SR, pipeline.model, window_s=2.0, hop_s=1.0)
        track = expression_track(timeline, fps=10)
        tracemalloc.start()
        info = write_animation(
            face,
            timeline,
            track,
            pipeline.editor,
            tmp_path / f"{seconds}.mp4",
            audio=voice,
            fps=10,
            gif_path=tmp_path / f"{seconds}.gif",
            progress=False,
        )
        peaks[seconds] = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        frames[seconds] = info["n_frames"]
        frame_mb = info["video_size"][0] * info["video_size"][1] * 3 / 2**20
    assert frames == {15: 150, 60: 600}
    kept_frames_mb = (frames[60] - frames[15]) * frame_mb  # what keeping the frames would add
    growth = peaks[60] - peaks[15]
    summary = f"traced peak {peaks[15]:.0f} MB for 15 s, {peaks[60]:.0f} MB for 60 s"
    print(summary)
    assert growth < 0.1 * kept_frames_mb, summary
    assert peaks[60] < 1.5 * peaks[15] + 16, summary
