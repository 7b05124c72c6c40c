"""NVIDIA pix2pixHD checkpoints: the positional key map, round trips, loading, import, VGG input."""

from __future__ import annotations

import re

import pytest
import torch

from s2e_lib.edit.pix2pixhd.config import PRESETS, build_models, get_config
from s2e_lib.edit.pix2pixhd.nvidia import (
    detect_kind,
    infer_config,
    nvidia_to_s2e,
    s2e_to_nvidia,
)
from s2e_lib.errors import InputError


def small(local: bool = False, **overrides):
    sizes = dict(size=32, ngf=8, n_downsampling=2, n_blocks=2, ndf=8, n_layers_d=3, num_d=2)
    if local:
        sizes.update(local_enhancer=True, ngf=8, ngf_local=4, n_blocks_local=2)
    sizes.update(overrides)
    return get_config("original", **sizes)


def models(config, seed=0):
    torch.manual_seed(seed)
    g, d = build_models(config, 3)
    return g.eval(), d.eval()


def test_global_generator_keys_follow_nvidia_layout_and_round_trip():
    config = small()
    n, nb = config.n_downsampling, config.n_blocks
    g, _ = models(config)
    nv = s2e_to_nvidia(g.state_dict(), "global", config)
    expected = {"model.1"}
    expected |= {f"model.{4 + 3 * i}" for i in range(n)}
    expected |= {f"model.{4 + 3 * n + b}.conv_block.{k}" for b in range(nb) for k in (1, 5)}
    expected |= {f"model.{4 + 3 * n + nb + 3 * i}" for i in range(n)}
    expected |= {f"model.{5 + 6 * n + nb}"}
    assert {k.rpartition(".")[0] for k in nv} == expected
    assert "model.1.weight" in nv and "model.10.conv_block.1.weight" in nv  # 4 + 3·2 + 0
    assert nv["model.1.weight"].shape == (8, 3, 7, 7)
    assert nv[f"model.{4 + 3 * n + nb}.weight"].shape == (32, 16, 3, 3)  # ConvTranspose2d: in, out
    assert nv[f"model.{5 + 6 * n + nb}.weight"].shape == (3, 8, 7, 7)
    assert detect_kind(nv) == "global"

    fresh, _ = models(config, seed=1)
    fresh.load_state_dict(nvidia_to_s2e(nv, "global", config))  # strict: nothing missing or extra
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        assert torch.equal(fresh(x), g(x))
    # sizes read off the tensors alone
    inferred = infer_config(nv)
    assert (inferred.ngf, inferred.n_downsampling, inferred.n_blocks, inferred.local_enhancer) == (
        8,
        2,
        2,
        False,
    )
    assert nvidia_to_s2e(nv).keys() == g.state_dict().keys()


def test_local_enhancer_round_trip_leaves_global_to_rgb_at_init():
    config = small(local=True)
    nbl = config.n_blocks_local
    g, _ = models(config)
    nv = s2e_to_nvidia(g.state_dict(), "local", config)
    assert detect_kind(nv) == "local"
    assert {
        "model1_1.1.weight",
        "model1_1.4.weight",
        f"model1_2.{nbl}.weight",
        f"model1_2.{nbl + 4}.weight",
    } <= set(nv)
    assert {f"model1_2.{b}.conv_block.{k}.weight" for b in range(nbl) for k in (1, 5)} <= set(nv)
    n, nb = config.n_downsampling, config.n_blocks
    assert f"model.{5 + 6 * n + nb}.weight" not in nv  # NVIDIA's enhancer has no G1 output layer
    assert not any(re.match(r"model1_[3-9]|model2_", k) for k in nv)

    fresh, _ = models(config, seed=1)
    result = fresh.load_state_dict(nvidia_to_s2e(nv, "local", config), strict=False)
    assert result.unexpected_keys == []
    assert sorted(result.missing_keys) == [
        "global_generator.to_rgb.1.bias",
        "global_generator.to_rgb.1.weight",
    ]
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        assert torch.equal(fresh(x), g(x))
    inferred = infer_config(nv)
    assert (inferred.local_enhancer, inferred.ngf_local, inferred.n_blocks_local) == (True, 4, 2)


def test_two_scale_discriminator_round_trip_reverses_scales():
    config = small()
    _, d = models(config)
    nv = s2e_to_nvidia(d.state_dict(), "discriminator", config)
    assert set(nv) == {
        f"scale{s}_layer{j}.0.{leaf}" for s in range(2) for j in range(5) for leaf in ("weight", "bias")
    }
    # NVIDIA's scale{num_D-1} sees the full-resolution image, like s2e's discriminators.0
    assert torch.equal(nv["scale1_layer0.0.weight"], d.discriminators[0].blocks[0][0].weight)
    assert torch.equal(nv["scale0_layer0.0.weight"], d.discriminators[1].blocks[0][0].weight)
    assert detect_kind(nv) == "discriminator"

    _, fresh = models(config, seed=1)
    fresh.load_state_dict(nvidia_to_s2e(nv, "discriminator", config))
    x = torch.rand(1, 6, 32, 32) * 2 - 1
    with torch.no_grad():
        for a, b in zip(fresh(x), d(x), strict=True):
            for fa, fb in zip(a, b, strict=True):
                assert torch.equal(fa, fb)
    inferred = infer_config(None, nv)
    assert (inferred.ndf, inferred.n_layers_d, inferred.num_d) == (8, 3, 2)
    # the flat layout (NVIDIA's --no_ganFeat_loss): layer{s}.{k}
    flat = {}
    for key, value in nv.items():
        s, j, leaf = re.match(r"scale(\d+)_layer(\d+)\.0\.(\w+)", key).groups()
        j = int(j)
        flat[f"layer{s}.{0 if j == 0 else 2 + 3 * (j - 1)}.{leaf}"] = value
    assert nvidia_to_s2e(flat, "discriminator", config).keys() == d.state_dict().keys()


def test_mismatched_or_foreign_state_dicts_are_refused():
    config = small()
    g, _ = models(config)
    nv = s2e_to_nvidia(g.state_dict(), "global", config)
    with pytest.raises(InputError, match="shape|outside"):
        nvidia_to_s2e(nv, "global", small(ngf=16))
    with pytest.raises(InputError, match="outside the pix2pixHD map"):
        nvidia_to_s2e({**nv, "model.2.running_mean": torch.zeros(8)}, "global", config)
    with pytest.raises(InputError, match="not a local"):
        nvidia_to_s2e(nv, "local", config)
    with pytest.raises(InputError, match="residual"):
        s2e_to_nvidia(g.state_dict(), "global", small(residual=True))
    assert detect_kind({"c7s1.1.weight": torch.zeros(1)}) is None


def test_original_preset_matches_the_original_project_options():
    c = PRESETS["original"]
    assert (c.ngf, c.n_downsampling, c.n_blocks, c.local_enhancer, c.residual) == (32, 4, 9, False, False)
    assert (c.ndf, c.n_layers_d, c.num_d, c.lambda_feat, c.lambda_vgg) == (32, 3, 2, 10.0, 10.0)
    assert c.lambda_l1 == 0.0 and not c.vgg_imagenet_norm


# --- a structural twin of NVIDIA's networks.py (the nn.Sequential layouts, re-typed) ---


def _nv_resblock(dim):
    block = torch.nn.Module()
    block.conv_block = torch.nn.Sequential(
        torch.nn.ReflectionPad2d(1), torch.nn.Conv2d(dim, dim, 3), torch.nn.InstanceNorm2d(dim), torch.nn.ReLU(True),
        torch.nn.ReflectionPad2d(1), torch.nn.Conv2d(dim, dim, 3), torch.nn.InstanceNorm2d(dim),
    )  # fmt: skip
    block.forward = lambda x: x + block.conv_block(x)
    return block


def _nv_global_layers(ngf, n, nb):
    nn = torch.nn
    layers = [nn.ReflectionPad2d(3), nn.Conv2d(3, ngf, 7), nn.InstanceNorm2d(ngf), nn.ReLU(True)]
    for i in range(n):
        m = 2**i
        layers += [nn.Conv2d(ngf * m, ngf * m * 2, 3, 2, 1), nn.InstanceNorm2d(ngf * m * 2), nn.ReLU(True)]
    layers += [_nv_resblock(ngf * 2**n) for _ in range(nb)]
    for i in range(n):
        m = 2 ** (n - i)
        layers += [
            nn.ConvTranspose2d(ngf * m, ngf * m // 2, 3, 2, 1, 1),
            nn.InstanceNorm2d(ngf * m // 2),
            nn.ReLU(True),
        ]
    layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, 3, 7), nn.Tanh()]
    return layers


def test_key_map_matches_nvidia_sequential_layout():
    nn = torch.nn
    config = small(local=True)
    g, _ = models(config)
    twin = nn.Module()
    twin.model = nn.Sequential(*_nv_global_layers(8, 2, 2)[:-3])
    twin.model1_1 = nn.Sequential(
        nn.ReflectionPad2d(3), nn.Conv2d(3, 4, 7), nn.InstanceNorm2d(4), nn.ReLU(True),
        nn.Conv2d(4, 8, 3, 2, 1), nn.InstanceNorm2d(8), nn.ReLU(True),
    )  # fmt: skip
    twin.model1_2 = nn.Sequential(
        *[_nv_resblock(8) for _ in range(2)],
        nn.ConvTranspose2d(8, 4, 3, 2, 1, 1), nn.InstanceNorm2d(4), nn.ReLU(True),
        nn.ReflectionPad2d(3), nn.Conv2d(4, 3, 7), nn.Tanh(),
    )  # fmt: skip
    twin.load_state_dict(s2e_to_nvidia(g.state_dict(), "local", config))  # strict
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    half = torch.nn.functional.avg_pool2d(x, 3, 2, 1, count_include_pad=False)
    with torch.no_grad():
        assert torch.equal(twin.model1_2(twin.model1_1(x) + twin.model(half)), g(x))

    config = small()
    g, _ = models(config)
    twin_g = nn.Module()
    twin_g.model = nn.Sequential(*_nv_global_layers(8, 2, 2))
    twin_g.load_state_dict(s2e_to_nvidia(g.state_dict(), "global", config))
    with torch.no_grad():
        assert torch.equal(twin_g.model(x), g(x))


# --- loading NVIDIA files where s2e loads pix2pixHD checkpoints ------------------------------


def test_editor_and_loader_detect_a_raw_nvidia_generator(tmp_path):
    import numpy as np

    from s2e_lib.edit.pix2pixhd import Pix2PixHDEditor
    from s2e_lib.edit.pix2pixhd.checkpoint import load_checkpoint, load_generator

    config = small()
    g, d = models(config)
    torch.save(s2e_to_nvidia(g.state_dict(), "global", config), tmp_path / "latest_net_G.pth")
    torch.save(s2e_to_nvidia(d.state_dict(), "discriminator", config), tmp_path / "latest_net_D.pth")
    state = load_checkpoint(tmp_path / "latest_net_G.pth")
    assert state["source"] == "nvidia-pix2pixhd" and state["data"]["position"] == "center"
    assert (state["config"]["ngf"], state["config"]["n_downsampling"], state["config"]["size"]) == (8, 2, 512)
    loaded, meta = load_generator(tmp_path / "latest_net_G.pth", "cpu")
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        assert torch.equal(loaded(x), g(x))
    editor = Pix2PixHDEditor(checkpoint=tmp_path / "latest_net_G.pth", device="cpu")
    assert editor.condition == "sign" and editor.position == "center"
    crop = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    assert editor.edit_crop(crop, "happy").shape == crop.shape
    with pytest.raises(InputError, match="NVIDIA pix2pixHD discriminator"):
        load_checkpoint(tmp_path / "latest_net_D.pth")
    torch.save({"foo.weight": torch.zeros(1)}, tmp_path / "other.pth")
    with pytest.raises(InputError, match="not an s2e pix2pixHD checkpoint"):
        load_checkpoint(tmp_path / "other.pth")


def test_cli_import_nvidia_writes_an_s2e_checkpoint(tmp_path, capsys):
    from s2e_lib.cli import main
    from s2e_lib.edit.pix2pixhd.checkpoint import GENERATOR_FORMAT, load_generator

    config = small(local=True)
    g, d = models(config)
    torch.save(s2e_to_nvidia(g.state_dict(), "local", config), tmp_path / "latest_net_G.pth")
    torch.save(s2e_to_nvidia(d.state_dict(), "discriminator", config), tmp_path / "latest_net_D.pth")
    out = tmp_path / "ckpt.pt"
    args = ["pix2pixhd", "import-nvidia", "--generator", str(tmp_path / "latest_net_G.pth")]
    args += ["--discriminator", str(tmp_path / "latest_net_D.pth"), "--config", "original", "--size", "64"]
    assert main([*args, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "global + local enhancer" in printed and "ngf 8 (preset 32)" in printed
    state = torch.load(out, weights_only=True)
    assert state["format"] == GENERATOR_FORMAT and state["config"]["name"] == "original"
    assert state["config"]["local_enhancer"] and state["config"]["size"] == 64
    assert (state["config"]["ndf"], state["config"]["num_d"]) == (8, 2)
    _, fresh_d = models(config, seed=1)
    fresh_d.load_state_dict(state["D"])
    loaded, _ = load_generator(out, "cpu")
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        assert torch.equal(loaded(x), g(x))
    assert main([*args, "--out", str(out)]) == 2  # exists: refused without --overwrite
    capsys.readouterr()
    assert main(["pix2pixhd", "import-nvidia", "--generator", str(out), "--out", str(tmp_path / "x.pt")]) == 2
    assert "--generator" in (err := capsys.readouterr().err) and "not an NVIDIA pix2pixHD generator" in err
    bad = ["--generator", str(tmp_path / "latest_net_D.pth"), "--out", str(tmp_path / "y.pt")]
    assert main(["pix2pixhd", "import-nvidia", *bad]) == 2
    assert "holds a discriminator network" in capsys.readouterr().err


# --- point 6: VGG-19 gets raw [-1, 1] images, as in NVIDIA's code -----------------------------


def test_vgg_loss_receives_the_raw_image_by_default(tmp_path):
    from s2e_lib.edit.pix2pixhd.model import build_vgg_loss
    from s2e_lib.nn.vgg import make_features

    torch.manual_seed(0)
    weights = tmp_path / "vgg19.pth"
    torch.save({f"features.{k}": v for k, v in make_features("vgg19").state_dict().items()}, weights)
    fake, real = torch.rand(1, 3, 16, 16) * 2 - 1, torch.rand(1, 3, 16, 16) * 2 - 1

    def first_conv_inputs(loss):
        seen = []
        hook = loss.vgg.features[0].register_forward_hook(lambda m, args, out: seen.append(args[0].detach()))
        loss(fake, real)
        hook.remove()
        return seen

    loss, note = build_vgg_loss(weights)
    assert not loss.imagenet_norm and not loss.vgg.normalize_input and "raw [-1, 1]" in note
    seen = first_conv_inputs(loss)
    assert torch.equal(seen[0], fake) and torch.equal(seen[1], real)
    assert not get_config("tiny").vgg_imagenet_norm and not get_config("paper").vgg_imagenet_norm
    from s2e_lib.edit.pix2pixhd.train import Pix2PixHDTrainer

    trainer = Pix2PixHDTrainer(small(vgg_weights=str(weights)), 3, torch.device("cpu"))
    assert trainer.vgg is not None and not trainer.vgg.imagenet_norm and "raw" in trainer.vgg_note
    trainer = Pix2PixHDTrainer(
        small(vgg_weights=str(weights), vgg_imagenet_norm=True), 3, torch.device("cpu")
    )
    assert trainer.vgg.imagenet_norm

    normed, note = build_vgg_loss(weights, imagenet_norm=True)
    assert "ImageNet" in note
    seen = first_conv_inputs(normed)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    assert torch.allclose(seen[0], ((fake + 1) / 2 - mean) / std, atol=1e-6)


def test_runs_recorded_before_the_option_keep_the_normalised_vgg_input():
    from dataclasses import asdict

    from s2e_lib.edit.pix2pixhd.config import config_from_dict

    old = asdict(get_config("tiny"))
    del old["vgg_imagenet_norm"]
    assert config_from_dict(old).vgg_imagenet_norm
    assert not config_from_dict(asdict(get_config("tiny"))).vgg_imagenet_norm


@pytest.mark.slow
def test_s2e_edit_takes_an_nvidia_generator(tmp_path, capsys):
    skdata = pytest.importorskip("skimage.data")
    pytest.importorskip("s2e_lib.cli.face")
    from PIL import Image

    from s2e_lib.cli import main

    config = small()
    g, _ = models(config)
    torch.save(s2e_to_nvidia(g.state_dict(), "global", config), tmp_path / "latest_net_G.pth")
    photo = tmp_path / "astronaut.png"
    Image.fromarray(skdata.astronaut()).save(photo)
    out = tmp_path / "happy.png"
    args = ["edit", "--editor", "pix2pixhd", "--face", str(photo), "--emotion", "happy", "--out", str(out)]
    assert main([*args, "--checkpoint", str(tmp_path / "latest_net_G.pth")]) == 0
    assert out.is_file()
