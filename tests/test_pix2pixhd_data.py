"""pix2pixHD conditions and pairs: signs, label channels, pairing rules, the A/B builder."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from _pix2pixhd_tree import make_prepared_tree

from s2e_lib.data.frames import read_frames
from s2e_lib.edit.pix2pixhd.build import build_dataset, pair_frames
from s2e_lib.edit.pix2pixhd.dataset import PairDataset, StepBatchSampler
from s2e_lib.edit.pix2pixhd.signs import (
    condition_input,
    draw_sign,
    input_channels,
    label_channels,
    level_weight,
    sign_geometry,
    sign_sheet,
)
from s2e_lib.emotions import MISSION_EMOTIONS
from s2e_lib.errors import InputError


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    return make_prepared_tree(tmp_path_factory.mktemp("prepared"))


def test_signs_follow_the_original_table_in_rgb():
    sheet = sign_sheet(size=512, position="center", background=0)
    assert set(sheet) == set(MISSION_EMOTIONS)
    c = 256
    assert tuple(sheet["angry"][c, c]) == (255, 255, 255)  # filled white circle
    assert tuple(sheet["neutral"][c, c]) == (0, 0, 0)  # white outline only
    assert tuple(sheet["neutral"][c, c + 60]) == (255, 255, 255)
    assert tuple(sheet["happy"][c, c]) == (255, 0, 0)  # BGR (0, 0, 255) is red
    assert tuple(sheet["sad"][c, c]) == (255, 0, 0)
    # square half-side 50 vs circle radius 60: the corner of the square is filled, the circle's not
    assert tuple(sheet["fear"][c - 48, c - 48]) == (255, 255, 255)
    assert tuple(sheet["angry"][c - 48, c - 48]) == (0, 0, 0)


def test_corner_sign_leaves_the_face_alone_and_scales_with_size():
    image = np.full((256, 256, 3), 100, np.uint8)
    signed = draw_sign(image, "happy")
    changed = np.argwhere((signed != image).any(axis=2))
    assert changed[:, 0].max() < 256 * 0.35 and changed[:, 1].max() < 256 * 0.35  # top-left only
    (x, y), size = sign_geometry("happy", (256, 256), "top-right")
    assert size == 30 and x > 128 and y < 128
    assert sign_geometry("happy", (256, 256), "center")[0] == (128, 128)
    assert np.array_equal(image, np.full((256, 256, 3), 100, np.uint8))  # input untouched
    faint = draw_sign(image, "happy", weight=level_weight(1))
    cx, cy = sign_geometry("happy", (256, 256))[0]
    assert 100 < faint[cy, cx, 0] < signed[cy, cx, 0]
    assert level_weight(3) == 1.0 and level_weight(None) == 1.0
    with pytest.raises(InputError):
        draw_sign(image, "happy", position="middle")


def test_label_condition_channels():
    planes = label_channels("sad", (8, 8), weight=0.5)
    assert planes.shape == (5, 8, 8)
    assert planes[MISSION_EMOTIONS.index("sad")].eq(0.5).all() and planes.sum() == 0.5 * 64
    x = condition_input(np.zeros((8, 8, 3), np.uint8), "sad", condition="label")
    assert x.shape == (input_channels("label"), 8, 8) and x[:3].eq(-1).all()
    assert condition_input(np.zeros((16, 16, 3), np.uint8), "sad").shape == (3, 16, 16)


def test_pairing_matches_speaker_view_utterance_and_position(prepared):
    pairs, problems = pair_frames(read_frames(prepared))
    assert len(pairs) > 0
    # A is always a neutral frame of the same speaker and view
    for _, row in pairs.iterrows():
        parts_b, parts_a = row["path"].split("/"), row["path_a"].split("/")
        assert parts_a[1:4] == [row["speaker"], row["view"], "neutral"]
        assert parts_b[1:3] == parts_a[1:3]
    # W002 has no neutral frames: never paired with M001's neutral, reported instead
    assert "W002" not in set(pairs["speaker"])
    assert len(problems) == 1 and "W002" in problems[0]["problem"]

    def pair(emotion, level, utterance, position, view="front"):
        sel = pairs[
            (pairs["emotion"] == emotion) & (pairs["level"] == level) & (pairs["utterance"] == utterance)
            & (pairs["position"] == position) & (pairs["view"] == view)
        ]  # fmt: skip
        assert len(sel) == 1
        return sel.iloc[0]

    # same utterance id exists: nearest position within it
    p = pair("happy", 1, "001", 0.5)
    assert (p["utterance_a"], p["position_a"], p["match"]) == ("001", 0.5, "utterance")
    p = pair("sad", 2, "002", 0.6)
    assert (p["utterance_a"], p["position_a"]) == ("002", 0.5)
    # no neutral take 005: nearest position over all neutral takes
    p = pair("happy", 3, "005", 0.9)
    assert (p["position_a"], p["match"]) == (1.0, "position")
    p = pair("happy", 3, "005", 0.2)
    assert p["position_a"] == 0.0
    # views are kept apart
    p = pair("angry", 3, "001", 0.3, view="left_30")
    assert "/left_30/neutral/" in p["path_a"]
    # neutral targets get another neutral frame, not themselves
    neutral = pairs[pairs["emotion"] == "neutral"]
    assert len(neutral) == 8 and (neutral["path"] != neutral["path_a"]).all()
    # max_per_take keeps evenly spaced target frames
    few, _ = pair_frames(read_frames(prepared), emotions=["happy"], max_per_take=1)
    assert len(few) == 2  # one per M001 happy take


def test_build_dataset_writes_pairs_and_resumes(prepared, tmp_path):
    out = tmp_path / "pairs"
    report = build_dataset(prepared, out, size=32, progress=False)
    assert report.written == len(report.pairs) > 0 and report.skipped == 0
    manifest = pd.read_csv(out / "pairs.csv", dtype={"utterance": str})
    assert len(manifest) == len(report.pairs)
    assert {"a", "b", "speaker", "view", "emotion", "level", "weight", "source_a", "source_b"} <= set(
        manifest
    )
    row = manifest.iloc[0]
    assert (out / row["a"]).is_file() and (out / row["b"]).is_file()
    problems = pd.read_csv(out / "problems.csv")
    assert problems["path"].tolist() == ["W002/front"]
    settings = json.loads((out / "dataset.json").read_text())["settings"]
    assert settings["condition"] == "sign" and settings["size"] == 32 and settings["position"] == "corner"

    ds = PairDataset(out)
    a, b = ds.images(0)
    assert a.shape == b.shape == (32, 32, 3)
    # the sign is in A's top-left corner, B has none
    assert not np.array_equal(a[:8, :8], b[:8, :8])

    (out / row["b"]).unlink()
    again = build_dataset(prepared, out, size=32, progress=False)
    assert again.written == 1 and again.skipped == len(report.pairs) - 1
    with pytest.raises(InputError, match="different settings"):
        build_dataset(prepared, out, size=64, progress=False)


def test_build_dataset_reports_bad_frames_and_input_errors(prepared, tmp_path):
    with pytest.raises(InputError, match="frames.csv"):
        build_dataset(tmp_path, tmp_path / "x", progress=False)
    broken = tmp_path / "broken"
    make_prepared_tree(broken)
    frames = pd.read_csv(broken / "frames.csv")
    bad = broken / frames.loc[frames["emotion"] == "sad", "path"].iloc[0]
    bad.write_bytes(b"not a png")
    report = build_dataset(broken, tmp_path / "out", size=16, progress=False)
    assert any(str(bad.name) in p and "cannot read image" in q for p, q in report.problems.values)
    assert len(report.pairs) == len(pair_frames(read_frames(broken))[0]) - 1


def test_label_dataset_and_augmentation(prepared, tmp_path):
    out = tmp_path / "labels"
    build_dataset(
        prepared,
        out,
        condition="label",
        size=16,
        level_scale=True,
        emotions=["happy", "neutral"],
        progress=False,
    )
    ds = PairDataset(out)
    assert ds.input_channels == 5
    item = ds[0]
    assert item["input"].shape == (5, 16, 16) and item["target"].shape == (3, 16, 16)
    row = ds.pairs.iloc[0]
    hot = ds.emotions.index(row["emotion"])
    assert torch.allclose(item["input"][3 + hot], torch.full((16, 16), level_weight(row["level"])))
    flipped = ds[(0, True, False, False)]
    assert torch.equal(flipped["target"], item["target"].flip(-1))
    rotated = ds[(0, False, False, True)]
    assert torch.equal(rotated["target"], torch.rot90(item["target"], 1, (1, 2)))
    vflipped = ds[(0, False, True, False)]
    assert torch.equal(vflipped["input"][:3], item["input"][:3].flip(-2))


def test_step_sampler_is_a_function_of_the_step():
    full = list(StepBatchSampler(5, 2, 0, 8, seed=3))
    tail = list(StepBatchSampler(5, 2, 5, 8, seed=3))
    assert full[5:] == tail
    indices = [i for batch in full for (i, *_flags) in batch]
    assert sorted(indices[:5]) == list(range(5))  # each epoch is a permutation
    assert not any(v or r for batch in full for (_, _, v, r) in batch)  # vflip/rot90 off by default


def test_jitter_is_the_same_for_both_images_and_a_function_of_the_step():
    from s2e_lib.edit.pix2pixhd.dataset import jitter_pair

    sampler = StepBatchSampler(5, 2, 0, 6, seed=1, crop_jitter=0.1, color_jitter=0.2)
    batches = list(sampler)
    assert batches[3:] == list(StepBatchSampler(5, 2, 3, 6, seed=1, crop_jitter=0.1, color_jitter=0.2))
    for _index, _h, _v, _r, grow, x, y, gains in (item for batch in batches for item in batch):
        assert grow == 0.1 and 0 <= x <= 1 and 0 <= y <= 1
        assert all(0.8 <= g <= 1.2 for g in gains)
    rng = np.random.default_rng(0)
    a = rng.integers(0, 200, (40, 40, 3), dtype=np.uint8)
    ja, jb = jitter_pair(a, a.copy(), 0.25, 1.0, 0.0, (1.1, 1.0, 0.9))
    assert ja.shape == a.shape and np.array_equal(ja, jb)  # the pair stays a pair
    assert not np.array_equal(ja, a)
    same, _ = jitter_pair(a, a, 0.0, 0.5, 0.5, (1.0, 1.0, 1.0))
    assert np.array_equal(same, a)  # no jitter: unchanged
    assert ja[..., 0].mean() > ja[..., 2].mean()  # the red gain is above the blue one
