"""IALS pretrain folder loading, precise missing-file errors, the editor and the CLI, on a fake
``pretrain/`` folder built in tmp with IALS's file formats (small generator, random weights)."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest
import torch
from torch import nn

from s2e_lib.cli import main
from s2e_lib.edit.base import EditResult, get_editor
from s2e_lib.edit.ials import AttributeClassifier, IALSEditor, IALSModels, Pretrain, StyleGANConfig
from s2e_lib.edit.ials.pretrain import INVERSION_VGG_LAYERS
from s2e_lib.edit.ials.recipes import get_recipe
from s2e_lib.edit.ials.stylegan1 import Generator, to_uint8
from s2e_lib.errors import InputError, MissingResourceError
from s2e_lib.nn.vgg import VGGFeatures

CONFIG = StyleGANConfig.small(resolution=16, channels=16, fused_min_resolution=128)
ATTRS = ("smiling", "young", "male")


@pytest.fixture(scope="module")
def fake_pretrain(tmp_path_factory):
    """A folder laid out like IALS's ``pretrain/`` with files in IALS's formats."""
    torch.manual_seed(0)
    root = tmp_path_factory.mktemp("ials") / "pretrain"
    g = Generator(CONFIG)
    (root / "stylegan" / "ffhq").mkdir(parents=True)
    seq = nn.Sequential(OrderedDict([("g_mapping", g.g_mapping), ("g_synthesis", g.g_synthesis)]))
    torch.save(
        seq.state_dict(), root / "stylegan" / "ffhq" / "weight.pkl"
    )  # an OrderedDict, as IALS saved it
    with torch.no_grad():
        avg = g.mapping(torch.randn(200, 512)).mean(0)
    np.save(root / "stylegan" / "ffhq" / "avg_code.npy", avg.numpy())
    for attr in ATTRS:
        (root / "classifier" / attr).mkdir(parents=True)
        torch.save(AttributeClassifier().state_dict(), root / "classifier" / attr / "weight.pkl")
        for method in ("interfacegan", "ganspace"):
            folder = root / "attr_level_direction" / method / "ffhq"
            folder.mkdir(parents=True, exist_ok=True)
            np.save(
                folder / f"{attr}.npy",
                np.random.default_rng(len(attr)).normal(size=(1, 512)).astype(np.float32),
            )
    (root / "vgg").mkdir()
    vgg = VGGFeatures("vgg16", INVERSION_VGG_LAYERS)
    state = {f"features.{k}": v for k, v in vgg.features.state_dict().items()}
    state["classifier.6.bias"] = torch.zeros(1000)  # torchvision's full VGG state dict has classifier.* too
    torch.save(state, root / "vgg" / "imagenet_vgg16.pth")
    (root / "real_latent_code").mkdir()
    np.save(root / "real_latent_code" / "real1.npy", g.broadcast(avg[None])[0].numpy())
    return root, g


def test_ials_weight_file_is_readable_with_weights_only(fake_pretrain):
    root, g = fake_pretrain
    state = torch.load(root / "stylegan" / "ffhq" / "weight.pkl", weights_only=True)
    assert isinstance(state, OrderedDict)
    assert list(state) == list(g.state_dict())


def test_pretrain_loads_every_file(fake_pretrain):
    root, g = fake_pretrain
    pre = Pretrain(root)
    loaded = pre.load_generator()
    assert loaded.config == CONFIG
    w = g.broadcast(g.mapping(torch.randn(1, 512)))
    with torch.no_grad():
        assert torch.equal(loaded.synthesis(w), g.synthesis(w))
    assert pre.load_avg_code().shape == (512,)
    direction = pre.load_direction("smiling", "ganspace")
    assert direction.shape == (512,) and direction.norm().item() == pytest.approx(1.0, abs=1e-5)
    assert pre.available_attributes() == sorted(ATTRS)
    clf = pre.load_classifier("young")
    assert clf(torch.zeros(1, 3, 64, 64)).shape == (1, 2)
    vgg = pre.load_vgg()
    assert [f.shape[1] for f in vgg(torch.rand(1, 3, 32, 32))] == [64, 64, 128, 512]
    assert pre.load_real_code("real1").shape == (CONFIG.num_ws, 512)


def test_missing_file_gives_a_precise_error(fake_pretrain, tmp_path):
    root, _ = fake_pretrain
    with pytest.raises(
        MissingResourceError, match="eyeglasses/weight.pkl: eyeglasses attribute classifier not found"
    ) as e:
        Pretrain(root).load_classifier("eyeglasses")
    assert "IALS" in str(e.value) and str(root) in str(e.value)
    with pytest.raises(MissingResourceError, match="IALS pretrain folder not found.*download"):
        Pretrain(tmp_path / "nowhere").load_generator()
    with pytest.raises(MissingResourceError, match="ours/ffhq/smiling.npy"):
        Pretrain(root).load_direction("smiling", "ours")
    with pytest.raises(MissingResourceError, match="eyeglasses"):  # checked before anything is loaded
        IALSModels.from_pretrain(root, attributes=("smiling", "eyeglasses"), device="cpu")


def test_wrong_weights_file_is_named(tmp_path):
    root = tmp_path / "pretrain"
    (root / "stylegan" / "ffhq").mkdir(parents=True)
    torch.save({"foo": torch.zeros(1)}, root / "stylegan" / "ffhq" / "weight.pkl")
    with pytest.raises(InputError, match="weight.pkl: not a StyleGAN-1 generator"):
        Pretrain(root).load_generator()
    (root / "classifier" / "smiling").mkdir(parents=True)
    state = AttributeClassifier().state_dict()
    state["extra_layer.weight"] = torch.zeros(3, 512)
    torch.save(state, root / "classifier" / "smiling" / "weight.pkl")
    with pytest.raises(InputError, match="extra_layer.weight has shape"):
        Pretrain(root).load_classifier("smiling")


def test_editor_on_fake_pretrain(fake_pretrain):
    root, g = fake_pretrain
    editor = get_editor("ials", pretrain=str(root), iterations=3, progress=False, device="cpu")
    assert isinstance(editor, IALSEditor)
    with torch.no_grad():
        crop = to_uint8(g.synthesis(g.broadcast(g.mapping(torch.randn(1, 512)))))
    result = editor.edit_aligned(crop, "happy", strength=1.0)
    assert isinstance(result, EditResult)
    assert result.image.shape == (16, 16, 3) and result.image.dtype == np.uint8
    moved = np.linalg.norm(result.info["wplus"] - result.info["wplus_inverted"], axis=1)
    recipe = get_recipe("happy")
    path_length = abs(recipe.step) * recipe.n_steps  # 10 unit steps of 0.1, directions recomputed
    assert np.all(moved <= path_length + 1e-4) and np.all(moved > 0.5 * path_length)
    assert np.allclose(moved, moved[0])  # every W+ row moves alike
    assert len(result.info["inversion_loss"]) == 4
    assert result.info["recipe"]["lambda1"] == recipe.lambda1


def test_editor_edits_a_real_photo(shared_data):
    """align → invert → edit → generate → paste back on a real portrait (random tiny models)."""
    from s2e_lib.face import load_image

    image = load_image(sorted((shared_data / "faces").iterdir())[0])
    models = IALSModels.random(StyleGANConfig.small(16, 16, 128), seed=0)
    editor = IALSEditor(models=models, iterations=2, progress=False)
    result = editor.edit(image, "sad", strength=0.5)
    assert result.image.shape == image.shape
    assert result.info["edited_crop"].shape == (16, 16, 3)
    assert not np.array_equal(result.image, image)


def test_cli_without_pretrain_says_what_to_download(tmp_path, capsys):
    code = main(["ials", "edit", "--pretrain", str(tmp_path / "none"), "--code", "c.npy", "--emotion", "happy",
                 "--out", str(tmp_path / "g.png")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2
    assert "IALS pretrain folder not found" in err and "download" in err and str(tmp_path / "none") in err


def test_cli_invert_then_edit(fake_pretrain, tmp_path, capsys):
    from PIL import Image

    root, g = fake_pretrain
    with torch.no_grad():
        face = to_uint8(g.synthesis(g.broadcast(g.mapping(torch.randn(1, 512)))))
    Image.fromarray(face).resize((64, 64)).save(tmp_path / "face.png")  # photos must be >= 32 px
    code_path = tmp_path / "code.npy"
    args = ["ials", "invert", "--pretrain", str(root), "--face", str(tmp_path / "face.png"), "--out", str(code_path),
            "--iters", "3", "--no-align"]  # fmt: skip
    assert main(args) == 0
    assert np.load(code_path).shape == (CONFIG.num_ws, 512)
    assert (tmp_path / "code_reconstruction.png").is_file()
    assert main(args) == 2  # refuses to overwrite
    assert "already exists" in capsys.readouterr().err
    grid = tmp_path / "grid.png"
    assert main(["ials", "edit", "--pretrain", str(root), "--code", str(code_path), "--emotion", "happy,sad",
                 "--recipe", "original", "--every", "5", "--out", str(grid)]) == 0  # fmt: skip
    image = np.asarray(Image.open(grid))
    assert image.ndim == 3 and image.shape[0] > 2 * 200  # two rows of 256-pixel cells


def test_full_pickle_needs_explicit_consent(tmp_path):
    root = tmp_path / "pretrain"
    (root / "classifier" / "smiling").mkdir(parents=True)
    torch.save(AttributeClassifier(), root / "classifier" / "smiling" / "weight.pkl")  # a whole module
    with pytest.raises(InputError, match="weights_only=True.*allow_pickle"):
        Pretrain(root).load_classifier("smiling")
    assert Pretrain(root, allow_pickle=True).load_classifier("smiling").extra_layer.out_features == 2


def test_neutral_recipe_leaves_an_unsmiling_face_alone():
    models = IALSModels.random(StyleGANConfig.small(16, 16, 128), seed=0)
    w = models.generator.broadcast(models.avg_code[None])[0]
    p = models.probability("smiling", w)
    with torch.no_grad():  # make the smiling classifier's verdict at w certain, either way
        for sign, expect_still in ((-1.0, True), (1.0, False)):
            layer = models.classifiers["smiling"].extra_layer
            layer.bias.copy_(torch.tensor([0.0, sign * 50.0]))
            codes = models.trajectory(w, get_recipe("neutral"))
            still = all(torch.equal(c, w) for c in codes)
            assert still == expect_still, (sign, p)
    assert len(codes) == get_recipe("neutral").n_steps + 1
