"""Timeline frames: caption and bars in the plots' colours, GIF palette, edit cache, sizes, plot."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from s2e_lib.media import GifWriter, gif_palette
from s2e_lib.pipeline.animate import (
    CAPTION_BOX_ALPHA,
    GIF_MAX_FPS,
    FrameComposer,
    animation_face,
    gif_step,
)
from s2e_lib.pipeline.timeline import ExpressionRenderer, Timeline, spans_within
from s2e_lib.viz.pipeline import EMOTION_COLORS, emotion_rgb

LABELS = ["angry", "neutral", "fear", "happy", "sad"]


def one_hot(label: str) -> np.ndarray:
    p = np.full(len(LABELS), 0.05)
    p[LABELS.index(label)] = 0.8
    return p


def test_emotion_rgb_is_the_plot_colour():
    assert emotion_rgb("happy") == (0xFF, 0xBF, 0x00)
    for label, hex_color in EMOTION_COLORS.items():
        assert "#" + "".join(f"{c:02x}" for c in emotion_rgb(label)) == hex_color.lower()


@pytest.mark.parametrize("emotion", LABELS)
def test_caption_swatch_and_bars_use_the_plot_colours(emotion):
    face = np.full((270, 246, 3), 128, np.uint8)
    composer = FrameComposer(246, LABELS)
    frame = composer.compose(face, one_hot(emotion), emotion, 0.8, 12.5)
    assert frame.shape == (270 + composer.strip_height, 246, 3) and frame.shape[0] % 2 == 0
    # the swatch in the caption box
    top = (composer.box_height - composer.swatch) // 2
    swatch = frame[top : top + composer.swatch, composer.margin : composer.margin + composer.swatch]
    assert (swatch == emotion_rgb(emotion)).all()
    # every label's bar in the strip, filled in proportion to its probability
    strip = frame[270:]
    row = strip[(composer.bar_top + composer.bar_bottom) // 2]
    for j, label in enumerate(LABELS):
        x0, x1 = composer._bar_span(j)
        filled = (row[x0:x1] == emotion_rgb(label)).all(axis=1).sum()
        expected = round((x1 - x0) * (0.8 if label == emotion else 0.05))
        assert abs(filled - expected) <= 1, label


def test_caption_is_one_semi_opaque_box_without_shadow():
    face = np.full((300, 300, 3), 200, np.uint8)
    composer = FrameComposer(300, LABELS)
    frame = composer.compose(face, one_hot("sad"), "sad", 0.5, 3.0)
    box = frame[: composer.box_height, : composer.box_width]
    darkened = round(200 * (1 - CAPTION_BOX_ALPHA))
    values, counts = np.unique(box.reshape(-1, 3), axis=0, return_counts=True)
    background = values[counts.argmax()]
    assert np.abs(background.astype(int) - darkened).max() <= 1  # the face shows through, darker
    assert (box.min(axis=2) > 200).sum() > 20  # white text on it
    # outside the box the face is untouched: no drop shadow or outline spilling over
    assert (frame[composer.box_height : 300] == 200).all()
    assert (frame[: composer.box_height, composer.box_width : 300] == 200).all()


def test_gif_keeps_the_emotion_colours_exactly(tmp_path):
    """An adaptive palette per frame turned the yellow of *happy* into orange (and every
    other bar's colour into a neighbour); the GIF's palette keeps every label's colour."""
    import cv2
    import skimage.data

    face = cv2.resize(skimage.data.astronaut(), (300, 300), interpolation=cv2.INTER_AREA)
    composer = FrameComposer(300, LABELS)
    rng = np.random.default_rng(0)
    shown = LABELS * 2
    frames = [composer.compose(face, rng.dirichlet(np.ones(5)), e, 1.0, i * 0.1) for i, e in enumerate(shown)]

    def wrong_colours(palette) -> list:
        path = tmp_path / f"{palette is None}.gif"
        with GifWriter(path, fps=10, palette=palette) as gif:
            for frame in frames:
                gif.write(frame)
        top, bar_row = (composer.box_height - composer.swatch) // 2, 300 + composer.bar_top + 1
        wrong = []
        with Image.open(path) as im:
            assert im.n_frames == len(frames)
            for i, emotion in enumerate(shown):
                im.seek(i)
                decoded = np.asarray(im.convert("RGB"))
                swatch = decoded[top + 1, composer.margin + 1]
                bars = [decoded[bar_row, composer._bar_span(j)[0]] for j in range(len(LABELS))]
                for label, color in [(emotion, swatch), *zip(LABELS, bars, strict=True)]:
                    if tuple(int(c) for c in color) != emotion_rgb(label):
                        wrong.append((i, label, tuple(int(c) for c in color)))
        return wrong

    assert wrong_colours(gif_palette(frames[0], keep=composer.palette_colors())) == []
    assert any(label == "happy" for _, label, _ in wrong_colours(None))  # the old way loses yellow


class CountingEditor:
    """Adds 100 × strength to the photo; counts its edits."""

    def __init__(self):
        self.calls = []

    def edit(self, image, emotion, strength, *, faces=None):
        from types import SimpleNamespace

        self.calls.append((emotion, strength))
        return SimpleNamespace(
            image=np.clip(image.astype(np.float32) + 100 * strength, 0, 255).astype(np.uint8)
        )


def test_renderer_edits_once_per_grid_strength_and_cross_fades():
    image = np.full((32, 32, 3), 10, np.uint8)
    editor = CountingEditor()
    renderer = ExpressionRenderer(image, editor, faces=[])
    strengths = [round(s, 2) for s in np.arange(0, 1.01, 0.02)]
    for s in strengths + strengths[::-1] + strengths:
        frame = renderer.face("happy", s)
        assert abs(int(frame[0, 0, 0]) - (10 + 100 * s)) <= 1  # the blend follows the strength
    assert renderer.edits == len(editor.calls) == 10  # 0.1 … 1.0, each rendered once
    assert sorted({s for _, s in editor.calls}) == pytest.approx(np.arange(1, 11) / 10)
    assert renderer.face("neutral", 1.0) is image and renderer.face("sad", 0.0) is image


def test_renderer_cache_is_bounded():
    editor = CountingEditor()
    renderer = ExpressionRenderer(np.zeros((8, 8, 3), np.uint8), editor, cache_size=4, faces=[])
    for s in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.1):
        renderer.face("angry", s)
    assert len(renderer._cache) == 4 and renderer.edits == 7  # 0.1 was evicted and redone


def test_spans_within_and_speech_weighted_overall():
    spans = np.array([[0, 100], [150, 300], [500, 600]])
    assert spans_within(spans, 50, 200) == [(0, 50), (100, 150)]
    assert spans_within(spans, 300, 500) == []
    assert spans_within(np.zeros((0, 2), int), 0, 10) == []
    raw = np.array([[0.9, 0.1], [0.1, 0.9], [0.2, 0.8]])
    timeline = Timeline(np.arange(3.0), raw, raw, ["a", "b"], 3.0, speech=np.array([1.0, 0.0, 0.0]))
    assert timeline.overall()["a"] == pytest.approx(0.9)  # silent windows do not count
    assert Timeline(np.arange(3.0), raw, raw, ["a", "b"], 3.0).overall()["a"] == pytest.approx(0.4)


def test_gif_rate_and_video_size():
    for fps in (4, 10, 12, 25, 60):
        assert fps / gif_step(fps) <= GIF_MAX_FPS
    assert gif_step(10) == 1 and gif_step(25) == 3
    face = animation_face(np.zeros((1301, 1501, 3), np.uint8))
    assert max(face.shape[:2]) <= 720 and face.shape[0] % 2 == 0 and face.shape[1] % 2 == 0
    small = animation_face(np.zeros((281, 247, 3), np.uint8))
    assert small.shape[:2] == (280, 246)  # its own resolution, cut to even sizes


def test_timeline_plot_has_title_outside_legend_and_speech_shading():
    import matplotlib.pyplot as plt
    from matplotlib.collections import PolyCollection

    from s2e_lib.viz.pipeline import timeline_figure

    times = np.arange(1, 20) * 0.5
    probabilities = np.random.default_rng(0).dirichlet(np.ones(5), size=times.size)
    spans = np.array([[0.2, 3.0], [4.0, 8.5]])
    fig = timeline_figure(
        times, probabilities, LABELS, audio=np.zeros(16000 * 10), sr=16000, speech_spans=spans, title="T"
    )
    try:
        assert fig._suptitle.get_text() == "T"
        ax = fig.axes[-1]
        legend = ax.get_legend()
        assert [t.get_text() for t in legend.get_texts()] == [*LABELS, "speech detected"]
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        assert legend.get_window_extent(renderer).y1 < ax.get_window_extent(renderer).y0  # under the data
        for axis in fig.axes:  # speech shaded in every panel
            shading = [c for c in axis.collections if isinstance(c, PolyCollection)]
            assert len(shading) == 1 and len(shading[0].get_paths()) == len(spans)
    finally:
        plt.close(fig)


def test_smoothing_matches_scipy_gaussian_filter():
    """The numpy Gaussian (no scipy import on the timeline's path) is scipy's, mode nearest."""
    from scipy.ndimage import gaussian_filter1d

    from s2e_lib.pipeline.timeline import smooth_probabilities

    rng = np.random.default_rng(0)
    for n, hop_s, smooth_s in ((120, 0.5, 1.0), (4, 0.5, 1.0), (300, 0.25, 0.5), (3, 1.0, 10.0)):
        p = rng.dirichlet(np.ones(5), size=n)
        expected = gaussian_filter1d(p, sigma=smooth_s / hop_s, axis=0, mode="nearest")
        expected /= expected.sum(axis=1, keepdims=True)
        np.testing.assert_allclose(smooth_probabilities(p, hop_s, smooth_s), expected, atol=1e-12)


def test_caption_claims_no_emotion_over_an_unchanged_face():
    """Strength 0 (or below the caption's 0.005) is the photo itself: the caption said
    "angry x0.00"; it says "unchanged", with a grey swatch, whatever the top emotion."""
    face = np.full((240, 240, 3), 128, np.uint8)
    composer = FrameComposer(240, LABELS)
    assert composer.caption("angry", 0.0, 3.0) == "   3.0 s  unchanged"
    assert composer.caption("angry", 0.004, 3.0) == "   3.0 s  unchanged"
    assert composer.caption("angry", 0.02, 3.0) == "   3.0 s  angry x0.02"  # an edit, however small
    assert composer.caption("neutral", 0.7, 3.0) == "   3.0 s  neutral"
    tie = np.array([0.4, 0.05, 0.05, 0.4, 0.1])
    frames = {e: composer.compose(face, tie, e, 0.0, 3.0) for e in ("angry", "happy")}
    assert (frames["angry"] == frames["happy"]).all()  # nothing in the frame names the emotion
    top = (composer.box_height - composer.swatch) // 2
    swatch = frames["angry"][top : top + composer.swatch, composer.margin : composer.margin + composer.swatch]
    assert (swatch != emotion_rgb("angry")).any(axis=-1).all()
    edited = composer.compose(face, tie, "angry", 0.5, 3.0)[: composer.box_height, : composer.box_width]
    assert (edited != frames["angry"][: composer.box_height, : composer.box_width]).any()
    # the longest caption fits its box at the GIF's smallest width too
    small = FrameComposer(160, LABELS)
    for emotion, strength in [("angry", 0.0), ("neutral", 1.0), ("angry", 1.5)]:
        text = small.caption(emotion, strength, 1234.5)
        assert small.caption_font.getlength(text) + 3 * small.margin + small.swatch <= small.box_width
