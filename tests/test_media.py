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
