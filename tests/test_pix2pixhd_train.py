"""pix2pixHD training: overfitting one pair, checkpoints and resume, the editor, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from _pix2pixhd_tree import make_prepared_tree

from s2e_lib.cli import main
from s2e_lib.edit.base import EditResult, get_editor
from s2e_lib.edit.pix2pixhd import Pix2PixHDEditor
from s2e_lib.edit.pix2pixhd.build import build_dataset
from s2e_lib.edit.pix2pixhd.checkpoint import load_checkpoint, load_generator
from s2e_lib.edit.pix2pixhd.config import get_config
from s2e_lib.edit.pix2pixhd.train import train
from s2e_lib.errors import InputError, MissingResourceError


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    return make_prepared_tree(tmp_path_factory.mktemp("prepared"))


@pytest.fixture(scope="module")
def one_pair(prepared, tmp_path_factory):
    out = tmp_path_factory.mktemp("one_pair")
    build_dataset(prepared, out, size=32, emotions=["angry"], views=["left_30"], progress=False)
    return out


@pytest.fixture(scope="module")
def label_pairs(prepared, tmp_path_factory):
    out = tmp_path_factory.mktemp("label_pairs")
    build_dataset(
        prepared, out, condition="label", size=16, speakers=["M001"], views=["front"], progress=False
    )
    return out


def small(**overrides):
    base = dict(size=32, ngf=16, n_downsampling=2, n_blocks=1, ndf=8, n_layers_d=2, num_d=1, hflip=False)
    return get_config("tiny", **{**base, **overrides})


def test_tiny_model_overfits_one_pair(one_pair, tmp_path):
    config = small(steps=150, decay_steps=0, log_every=1, sample_every=75, checkpoint_every=1000)
    result = train(one_pair, tmp_path / "run", config, progress=False)
    l1 = result.losses["L1"].to_numpy()
    assert len(l1) == 150
    assert l1[-10:].mean() < 0.5 * l1[:3].mean(), (l1[:3], l1[-10:])
    assert "off" in result.vgg_note
    run = tmp_path / "run"
    assert {p.name for p in (run / "samples").iterdir()} == {"step_0000075.png", "step_0000150.png"}
    assert (run / "checkpoint.pt").is_file() and (run / "generator.pt").is_file()
    meta = json.loads((run / "run.json").read_text())
    assert meta["step"] == 150 and meta["device"] == "cpu" and meta["seconds_per_step"] > 0


def test_resume_continues_with_the_same_losses(label_pairs, tmp_path):
    config = small(size=16, steps=8, decay_steps=4, log_every=1, checkpoint_every=3, hflip=True, batch_size=2)
    straight = train(label_pairs, tmp_path / "straight", config, progress=False)
    first = train(label_pairs, tmp_path / "resumed", config, stop_after=5, progress=False)
    assert first.step == 5 and load_checkpoint(tmp_path / "resumed" / "checkpoint.pt")["step"] == 5
    with pytest.raises(InputError, match="--resume"):
        train(label_pairs, tmp_path / "resumed", config, progress=False)
    resumed = train(label_pairs, tmp_path / "resumed", resume=True, progress=False)
    assert resumed.step == 8
    columns = ["step", "lr", "G_GAN", "G_feat", "G_L1", "D_real", "D_fake", "L1"]
    pd.testing.assert_frame_equal(straight.losses[columns], resumed.losses[columns], check_exact=True)
    assert straight.losses["lr"].iloc[-1] < config.lr  # the linear decay happened
    g1, _ = load_generator(tmp_path / "straight" / "generator.pt", "cpu")
    g2, meta = load_generator(tmp_path / "resumed", "cpu")
    assert meta["step"] == 8 and meta["data"]["condition"] == "label"
    for (k, a), (_, b) in zip(g1.state_dict().items(), g2.state_dict().items(), strict=True):
        assert torch.equal(a, b), k
    # extending a finished run
    longer = train(label_pairs, tmp_path / "resumed", resume=True, steps=9, progress=False)
    assert longer.step == 9 and longer.losses["step"].tolist() == list(range(1, 10))
    # a last phase with another pixel L1 weight: the run's G_L1 follows it and the run keeps it
    sharper = train(label_pairs, tmp_path / "resumed", resume=True, steps=10, lambda_l1=2.5, progress=False)
    last = sharper.losses.iloc[-1]
    assert last["G_L1"] == pytest.approx(2.5 * last["L1"], rel=1e-4)
    assert load_checkpoint(tmp_path / "resumed" / "checkpoint.pt")["config"]["lambda_l1"] == 2.5
    assert straight.losses.iloc[-1]["G_L1"] == pytest.approx(
        config.lambda_l1 * straight.losses.iloc[-1]["L1"], rel=1e-4
    )


def test_editor_missing_checkpoint_is_a_precise_error(tmp_path, s2e_home):
    missing = tmp_path / "nope" / "generator.pt"
    with pytest.raises(MissingResourceError, match="nope/generator.pt: pix2pixHD checkpoint not found"):
        Pix2PixHDEditor(checkpoint=missing)
    with pytest.raises(MissingResourceError, match="models/pix2pixhd/generator.pt.*default location"):
        get_editor("pix2pixhd")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"junk")
    with pytest.raises(InputError, match="junk.pt: not a readable pix2pixHD checkpoint"):
        Pix2PixHDEditor(checkpoint=junk)


def test_editor_edits_crops_with_a_trained_run(label_pairs, tmp_path):
    train(label_pairs, tmp_path / "run", small(size=16, steps=2, log_every=1), progress=False)
    editor = get_editor("pix2pixhd", checkpoint=tmp_path / "run" / "generator.pt", device="cpu")
    assert editor.condition == "label" and editor.size == 16
    crop = np.random.default_rng(0).integers(0, 255, (40, 40, 3), dtype=np.uint8)
    happy = editor.edit_crop(crop, "happy")
    assert happy.shape == crop.shape and happy.dtype == np.uint8
    assert not np.array_equal(happy, editor.edit_crop(crop, "sad"))  # the condition matters
    half = editor.edit_crop(crop, "happy", strength=0.5)  # blended halfway to the output
    assert np.abs(half.astype(int) - crop).mean() < np.abs(happy.astype(int) - crop).mean()
    unchanged = editor.edit(crop, "happy", strength=0.0)
    assert isinstance(unchanged, EditResult) and np.array_equal(unchanged.image, crop)
    with pytest.raises(Exception, match="surprised"):
        editor.edit_crop(crop, "surprised")


def test_cli_build_dataset_and_train(prepared, tmp_path, capsys):
    pairs = tmp_path / "pairs"
    code = main(
        ["pix2pixhd", "build-dataset", "--prepared", str(prepared), "--out", str(pairs), "--size", "32"]
    )
    assert code == 2  # W002 has no neutral frames: a problem, reported
    out = capsys.readouterr()
    assert "pairs in" in out.out and "problems.csv" in out.err
    train_args = ["pix2pixhd", "train", "--data", str(pairs), "--out", str(tmp_path / "run"), "--steps", "2"]
    code = main([*train_args, "--size", "32", "--vflip", "--rot90", "--residual", "--threads", "1"])
    assert code == 0 and (tmp_path / "run" / "generator.pt").is_file()
    assert "generator.pt" in capsys.readouterr().out
    config = json.loads((tmp_path / "run" / "run.json").read_text())["config"]
    assert (config["size"], config["vflip"], config["rot90"], config["residual"]) == (32, True, True, True)
    code = main(train_args)
    assert code == 2 and "--resume" in capsys.readouterr().err
    code = main([*train_args[:-1], "3", "--resume", "--lambda-l1", "30"])  # a last phase with less L1
    assert code == 0 and json.loads((tmp_path / "run" / "run.json").read_text())["config"]["lambda_l1"] == 30
    capsys.readouterr()
    code = main(
        ["pix2pixhd", "build-dataset", "--prepared", str(tmp_path / "absent"), "--out", str(tmp_path / "x")]
    )
    assert code == 2 and "absent: prepared data folder not found" in capsys.readouterr().err


def test_editor_aligns_edits_and_pastes_back_a_photo(one_pair, tmp_path):
    skdata = pytest.importorskip("skimage.data")
    train(one_pair, tmp_path / "run", small(steps=1), progress=False)
    editor = Pix2PixHDEditor(checkpoint=tmp_path / "run", device="cpu")
    assert editor.condition == "sign"
    photo = skdata.astronaut()
    result = editor.edit(photo, "angry")
    assert result.image.shape == photo.shape and result.image.dtype == np.uint8
    changed = np.abs(result.image.astype(int) - photo).sum(axis=2) > 0
    ys, xs = np.nonzero(changed)
    assert changed.any() and changed.mean() < 0.5  # only the face region is replaced
    assert 30 < ys.mean() < 300 and 100 < xs.mean() < 350  # the astronaut's face, upper middle
    crop = result.info["crop"]
    assert result.info["emotion"] == "angry" and crop.shape[0] == crop.shape[1] >= 32  # the face's own size


def test_s2e_edit_with_the_pix2pixhd_editor(one_pair, tmp_path, capsys):
    skdata = pytest.importorskip("skimage.data")
    pytest.importorskip("s2e_lib.cli.face")
    from PIL import Image

    train(one_pair, tmp_path / "run", small(steps=1), progress=False)
    photo = tmp_path / "astronaut.png"
    Image.fromarray(skdata.astronaut()).save(photo)
    out = tmp_path / "angry.png"
    args = ["edit", "--editor", "pix2pixhd", "--face", str(photo), "--emotion", "angry", "--out", str(out)]
    code = main([*args, "--checkpoint", str(tmp_path / "run" / "generator.pt")])
    assert code == 0 and out.is_file()
    assert np.asarray(Image.open(out)).shape == (512, 512, 3)
    capsys.readouterr()
    code = main([*args, "--checkpoint", str(tmp_path / "absent.pt"), "--overwrite"])
    assert code == 2 and "absent.pt: pix2pixHD checkpoint not found" in capsys.readouterr().err


def test_parameters_instance_norm_cancels_are_left_out_of_updates(label_pairs, tmp_path):
    """Biases before instance norm, and first-layer weights on the constant label planes, change
    nothing G computes; the trainer keeps them fixed (so runs that round differently agree)."""
    from s2e_lib.edit.pix2pixhd.train import Pix2PixHDTrainer, norm_cancelled

    config = small(size=16, steps=3, log_every=1)
    trainer = Pix2PixHDTrainer(config, 8, "cpu")  # 3 RGB + 5 label planes
    cancelled = norm_cancelled(trainer.generator, 8)
    names = {id(p): n for n, p in trainer.generator.named_parameters()}
    found = {(names[id(p)], first) for p, first in cancelled}
    assert ("c7s1.1.bias", 0) in found and ("c7s1.1.weight", 3) in found
    assert ("to_rgb.1.bias", 0) not in found  # followed by tanh: it matters
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    x = torch.cat([x, torch.zeros(2, 5, 16, 16)], 1)
    x[:, 3 + 2] = 1.0  # one-hot label planes
    trainer.generator.eval()
    with torch.no_grad():
        before = trainer.generator(x)
        for parameter, first in cancelled:  # perturb only what instance norm removes
            if first:
                parameter[:, first:] += 0.5
            else:
                parameter += 0.5
        after = trainer.generator(x)
    assert torch.allclose(before, after, atol=1e-4)
    train(label_pairs, tmp_path / "run", config, progress=False)
    start = Pix2PixHDTrainer(config, 8, "cpu")  # same seed: the initial weights
    trained = load_checkpoint(tmp_path / "run")["G"]
    initial = start.generator.state_dict()
    assert torch.equal(trained["c7s1.1.bias"], initial["c7s1.1.bias"])
    assert torch.equal(trained["c7s1.1.weight"][:, 3:], initial["c7s1.1.weight"][:, 3:])
    assert not torch.equal(trained["c7s1.1.weight"][:, :3], initial["c7s1.1.weight"][:, :3])
