import numpy as np
from PIL import Image

from s2e_lib.audio.io import load_audio
from s2e_lib.media import write_gif, write_mp4


def _frames(n=12, h=48, w=62):
    return [np.full((h, w, 3), i * 20, dtype=np.uint8) for i in range(n)]


def test_write_gif_frames_and_loop(tmp_path):
    path = write_gif(_frames(), tmp_path / "a.gif", fps=12)
    with Image.open(path) as im:
        assert im.n_frames == 12
        assert im.size == (62, 48)


def test_write_mp4_with_audio_roundtrip(tmp_path):
    import av

    sr = 16000
    t = np.arange(sr) / sr
    tone = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    path = write_mp4(_frames(n=10, h=47, w=61), tmp_path / "a.mp4", fps=10, audio=tone, sr=sr)
    with av.open(str(path)) as container:
        kinds = sorted(s.type for s in container.streams)
        assert kinds == ["audio", "video"]
        video = container.streams.video[0]
        n = sum(1 for _ in container.decode(video))
    assert n == 10
    decoded = load_audio(path)
    assert abs(decoded.size - sr) < 0.1 * sr
    assert 0.15 < np.sqrt(np.mean(decoded[2000:-2000] ** 2)) < 0.3  # the tone survived AAC
    assert not list(tmp_path.glob(".*part*"))


def test_writers_stream_from_a_generator(tmp_path):
    """Frames can come one at a time (a generator); an unchanged frame is still one GIF frame."""
    from s2e_lib.media import GifWriter, Mp4Writer

    frames = _frames(n=6)
    frames.insert(3, frames[2].copy())
    path = write_gif((f for f in frames), tmp_path / "g.gif", fps=10)
    with Image.open(path) as im:
        assert im.n_frames == 7
        for i, expected in enumerate(frames):
            im.seek(i)
            assert np.abs(np.asarray(im.convert("RGB")).astype(int) - expected).max() <= 2
    with GifWriter(tmp_path / "h.gif") as gif, Mp4Writer(tmp_path / "h.mp4", audio=np.zeros(8000)) as mp4:
        for frame in frames:
            gif.write(frame)
            mp4.write(frame)
    assert gif.n_frames == mp4.n_frames == 7 and (tmp_path / "h.mp4").stat().st_size > 0


def test_writers_leave_nothing_on_failure(tmp_path):
    import pytest

    with pytest.raises(ValueError, match="no frames"):
        write_mp4(iter(()), tmp_path / "empty.mp4")
    with pytest.raises(ValueError, match="one size"):
        write_gif([np.zeros((8, 8, 3), np.uint8), np.zeros((9, 8, 3), np.uint8)], tmp_path / "bad.gif")
    assert list(tmp_path.iterdir()) == []
