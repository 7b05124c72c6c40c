"""pix2pixHD networks and losses: shapes at small sizes, gradients, schedule, overfitting."""

from __future__ import annotations

import pytest
import torch

from s2e_lib.edit.pix2pixhd.config import PRESETS, get_config, learning_rate, phase
from s2e_lib.edit.pix2pixhd.model import (
    GlobalGenerator,
    LocalEnhancer,
    MultiscaleDiscriminator,
    NLayerDiscriminator,
    build_generator,
    build_vgg_loss,
    count_parameters,
    feature_matching_loss,
    lsgan_loss,
)
from s2e_lib.edit.pix2pixhd.train import Pix2PixHDTrainer
from s2e_lib.errors import InputError
from s2e_lib.nn.vgg import make_features


def test_global_generator_shapes():
    torch.manual_seed(0)
    g = GlobalGenerator(in_channels=8, ngf=4, n_downsampling=3, n_blocks=2)
    x = torch.randn(2, 8, 32, 48)
    y = g(x)
    assert y.shape == (2, 3, 32, 48)
    assert y.abs().max() <= 1.0  # tanh output
    assert g.features(x).shape == (2, 4, 32, 48)
    # the paper's layer widths: c7s1-ngf, d(2ngf), ..., R(ngf·2^n)
    assert g.down[-1][0].out_channels == 32 and g.res[0].conv_block[1].in_channels == 32


def test_local_enhancer_shapes_and_parameter_split():
    torch.manual_seed(0)
    g = LocalEnhancer(in_channels=3, ngf=4, n_downsampling_global=2, n_blocks_global=1, n_blocks=1)
    x = torch.randn(1, 3, 32, 32)
    assert g(x).shape == (1, 3, 32, 32)
    assert g.forward_global(torch.randn(1, 3, 16, 16)).shape == (1, 3, 16, 16)
    n_global, n_local = len(g.global_parameters()), len(g.local_parameters())
    assert n_global + n_local == len(list(g.parameters())) and n_global > 0 and n_local > 0
    with pytest.raises(ValueError):
        build_generator(3, ngf=8, local_enhancer=True, ngf_local=8)


def test_discriminator_shapes():
    d = NLayerDiscriminator(in_channels=6, ndf=8, n_layers=3)
    feats = d(torch.randn(1, 6, 64, 64))
    assert len(feats) == 5  # first, 2 strided, 1 stride-1, output
    assert [f.shape[1] for f in feats] == [8, 16, 32, 64, 1]
    assert feats[-1].shape[-1] == 11  # 64 -> 33 -> 17 -> 9 -> 10 -> 11 (4x4 kernels, padding 2)
    md = MultiscaleDiscriminator(in_channels=6, ndf=8, n_layers=2, num_d=3)
    out = md(torch.randn(1, 6, 64, 64))
    assert len(out) == 3 and all(len(scale) == 4 for scale in out)
    sides = [scale[-1].shape[-1] for scale in out]
    assert sides[0] > sides[1] > sides[2]  # the pyramid: full, 1/2, 1/4


def test_losses_compute_and_backpropagate():
    torch.manual_seed(0)
    g = GlobalGenerator(3, ngf=4, n_downsampling=2, n_blocks=1)
    d = MultiscaleDiscriminator(6, ndf=4, n_layers=2, num_d=2)
    x, y = torch.randn(1, 3, 32, 32), torch.randn(1, 3, 32, 32)
    fake = g(x)
    pred_fake, pred_real = d(torch.cat([x, fake], 1)), d(torch.cat([x, y], 1))
    loss_g = lsgan_loss(pred_fake, True) + feature_matching_loss(pred_fake, pred_real, 10.0)
    loss_g.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in g.parameters())
    assert g.c7s1[1].weight.grad.abs().sum() > 0
    # real features are detached: feature matching sends no gradient through the real branch
    assert float(feature_matching_loss(pred_real, pred_real, 10.0).detach()) == 0.0
    loss_d = 0.5 * (
        lsgan_loss(d(torch.cat([x, fake.detach()], 1)), False) + lsgan_loss(d(torch.cat([x, y], 1)), True)
    )
    d.zero_grad()
    loss_d.backward()
    assert all(p.grad is not None for p in d.parameters())
    # LSGAN: a perfect prediction costs nothing
    ones = [[torch.zeros(1), torch.ones(1, 1, 4, 4)]]
    assert float(lsgan_loss(ones, True)) == 0.0 and float(lsgan_loss(ones, False)) == 1.0


def test_vgg_loss_with_user_weights_and_clear_note_without(tmp_path):
    loss, note = build_vgg_loss(None)
    assert loss is None and "off" in note
    loss, note = build_vgg_loss(tmp_path / "missing.pth")
    assert loss is None and "missing.pth" in note and "not found" in note
    torch.manual_seed(0)
    torch.save(
        {f"features.{k}": v for k, v in make_features("vgg19").state_dict().items()}, tmp_path / "vgg19.pth"
    )
    loss, note = build_vgg_loss(tmp_path / "vgg19.pth", weight=10.0)
    assert loss is not None and "on" in note
    fake = torch.zeros(1, 3, 32, 32, requires_grad=True)
    value = loss(fake, torch.ones(1, 3, 32, 32))
    assert float(value.detach()) > 0
    value.backward()
    assert fake.grad.abs().sum() > 0
    assert all(p.grad is None for p in loss.vgg.parameters())  # VGG stays frozen


def test_presets_and_schedule():
    paper = PRESETS["paper"]
    assert paper.local_enhancer and paper.ngf == 64 and paper.ngf_local == 32 and paper.n_blocks == 9
    assert (paper.lr, paper.beta1, paper.beta2) == (2e-4, 0.5, 0.999) and paper.num_d == 3
    cfg = get_config("tiny", steps=100, decay_steps=50)
    assert learning_rate(cfg, 0) == learning_rate(cfg, 49) == cfg.lr
    assert learning_rate(cfg, 75) == pytest.approx(cfg.lr / 2)
    assert learning_rate(cfg, 100) == 0.0
    local = get_config("tiny", local_enhancer=True, ngf=16, ngf_local=8, global_steps=10, fix_global_steps=5)
    assert [phase(local, s) for s in (0, 9, 10, 14, 15)] == ["global", "global", "local", "local", "joint"]
    assert phase(cfg, 0) == "single"
    with pytest.raises(InputError):
        get_config("huge")
    with pytest.raises(InputError):
        get_config("tiny", size=62)  # not a multiple of 2**n_downsampling
    g, _ = Pix2PixHDTrainer(get_config("tiny"), 3, "cpu").generator, None
    assert count_parameters(g) < 200_000  # small enough for a CPU


def test_local_enhancer_phases_train_the_right_parts():
    cfg = get_config(
        "tiny", size=32, local_enhancer=True, ngf=8, ngf_local=4, n_downsampling=1, n_blocks=1, n_blocks_local=1,
        ndf=4, n_layers_d=1, num_d=1, global_steps=1, fix_global_steps=1,
    )  # fmt: skip
    trainer = Pix2PixHDTrainer(cfg, 3, "cpu")
    x, y = torch.rand(1, 3, 32, 32) * 2 - 1, torch.rand(1, 3, 32, 32) * 2 - 1
    g = trainer.generator

    def snapshot():
        return [p.detach().clone() for p in g.global_parameters()], [
            p.detach().clone() for p in g.local_parameters()
        ]

    def changed(before, after):
        return any(not torch.equal(a, b) for a, b in zip(before, after, strict=True))

    g0, l0 = snapshot()
    trainer.step(x, y, "global")  # G1 alone: G2 untouched
    g1, l1 = snapshot()
    assert changed(g0, g1) and not changed(l0, l1)
    trainer.step(x, y, "local")  # G2 with G1 frozen
    g2, l2 = snapshot()
    assert not changed(g1, g2) and changed(l1, l2)
    trainer.step(x, y, "joint")
    g3, l3 = snapshot()
    assert changed(g2, g3) and changed(l2, l3)


def test_label_planes_reach_the_generator_despite_instance_norm():
    torch.manual_seed(0)
    image = torch.randn(1, 3, 16, 16)
    happy, sad = torch.zeros(1, 2, 16, 16), torch.zeros(1, 2, 16, 16)
    happy[:, 0], sad[:, 1] = 1.0, 1.0
    plain = GlobalGenerator(5, ngf=4, n_downsampling=2, n_blocks=1)  # labels as mere input channels
    assert torch.allclose(plain(torch.cat([image, happy], 1)), plain(torch.cat([image, sad], 1)), atol=1e-5)
    labelled = GlobalGenerator(5, ngf=4, n_downsampling=2, n_blocks=1, n_labels=2)
    diff = labelled(torch.cat([image, happy], 1)) - labelled(torch.cat([image, sad], 1))
    assert diff.abs().mean() > 1e-3


def test_residual_generator_starts_as_the_identity_and_learns():
    torch.manual_seed(0)
    x = torch.rand(1, 8, 32, 32) * 2 - 1
    for g in (
        GlobalGenerator(8, ngf=4, n_downsampling=2, n_blocks=1, n_labels=5, residual=True),
        LocalEnhancer(
            8, ngf=4, n_downsampling_global=2, n_blocks_global=1, n_blocks=1, n_labels=5, residual=True
        ),
    ):
        assert torch.equal(g(x), x[:, :3])
    trainer = Pix2PixHDTrainer(get_config("tiny", size=32, residual=True, n_blocks=1, num_d=1), 3, "cpu")
    y = torch.rand(1, 3, 32, 32) * 2 - 1
    first = trainer.step(x[:, :3], y)["L1"]
    assert first == pytest.approx(float((x[:, :3] - y).abs().mean()), abs=1e-6)
    trainer.step(x[:, :3], y)
    assert not torch.equal(trainer.generator(x[:, :3]), x[:, :3])  # the correction is trained
