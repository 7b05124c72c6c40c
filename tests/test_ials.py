"""IALS: the StyleGAN-1 generator's layout, directions, conditioning, edit loop, inversion, recipes."""

from __future__ import annotations

import json
import math
from collections import OrderedDict

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from s2e_lib.edit.ials import directions as D
from s2e_lib.edit.ials.invert import InversionConfig, invert, load_code, save_inversion
from s2e_lib.edit.ials.recipes import get_recipe, recipe_table
from s2e_lib.edit.ials.stylegan1 import EqualConv2d, Generator, StyleGANConfig
from s2e_lib.emotions import IALS_LAMBDA1, IALS_ORIGINAL_SETTINGS, MISSION_EMOTIONS
from s2e_lib.errors import InputError
from s2e_lib.fileio import OutputExistsError


@pytest.fixture(scope="module")
def ffhq_generator() -> Generator:
    return Generator(StyleGANConfig.ffhq1024())


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    g = Generator(StyleGANConfig.small(resolution=16, channels=16, fused_min_resolution=8)).eval()
    g.requires_grad_(False)
    with torch.no_grad():
        avg = g.mapping(torch.randn(500, 512)).mean(0)
    return g, avg


class LinearClassifier(torch.nn.Module):
    """A fixed differentiable 'classifier': logit of class 1 = ⟨v, image⟩, class 0 = 0."""

    def __init__(self, resolution: int, seed: int):
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.register_buffer("v", torch.randn(1, 3, resolution, resolution, generator=gen) / resolution)

    def forward(self, image):
        score = (image * self.v).sum(dim=(1, 2, 3))
        return torch.stack([torch.zeros_like(score), score], dim=1)


# --- generator layout -------------------------------------------------------------------


def test_ffhq1024_state_dict_equals_json_spec(shared_data, ffhq_generator):
    spec = json.loads(
        (shared_data / "ials_pretrain" / "stylegan1_ffhq1024_state_dict_shapes.json").read_text()
    )
    ours = {k: list(v.shape) for k, v in ffhq_generator.state_dict().items()}
    assert list(ours) == list(spec)
    assert ours == spec


def test_ffhq1024_compact_layout(ffhq_generator):
    """The spec's fingerprint, checked without ../shared (users' CI has no such folder)."""
    sd = ffhq_generator.state_dict()
    assert len(sd) == 116
    assert sum(v.numel() for v in sd.values()) == 26_212_091
    assert ffhq_generator.num_ws == 18
    assert sd["g_synthesis.blocks.4x4.const"].shape == (1, 512, 4, 4)
    assert sd["g_synthesis.blocks.64x64.conv0_up.weight"].shape == (256, 512, 3, 3)
    assert sd["g_synthesis.blocks.1024x1024.conv1.weight"].shape == (16, 16, 3, 3)
    assert sd["g_synthesis.torgb.weight"].shape == (3, 16, 1, 1)
    assert sd["g_synthesis.blocks.128x128.epi1.style_mod.lin.weight"].shape == (256, 512)
    kernels = [k for k in sd if k.endswith("intermediate.kernel")]
    assert len(kernels) == 8  # every upsampling block, 8x8 … 1024x1024
    assert torch.allclose(sd[kernels[0]].sum(), torch.tensor(1.0))
    assert [k for k in sd if k.startswith("g_mapping")] == [
        f"g_mapping.dense{i}.{p}" for i in range(8) for p in ("weight", "bias")
    ]


def test_fused_upsampling_is_flipped_nearest_conv():
    torch.manual_seed(1)
    fused = EqualConv2d(4, 5, 3, upsample=True, fused_min_resolution=1)
    plain = EqualConv2d(4, 5, 3, upsample=True, fused_min_resolution=10**6)
    state = fused.state_dict()
    state["weight"] = state["weight"].flip(2, 3)
    plain.load_state_dict(state)
    x = torch.randn(2, 4, 8, 8)
    assert fused(x).shape == (2, 5, 16, 16)
    assert torch.allclose(fused(x), plain(x), atol=1e-5)


def test_saved_and_reloaded_state_dict_reproduces_outputs(tmp_path, tiny):
    g, _ = tiny
    w = g.broadcast(g.mapping(torch.randn(2, 512)))
    path = tmp_path / "weight.pkl"
    torch.save(OrderedDict(g.state_dict()), path)
    g2 = Generator(g.config)
    g2.load_state_dict(torch.load(path, weights_only=True))
    with torch.no_grad():
        out1, out2 = g.synthesis(w), g2.synthesis(w)
    assert out1.shape == (2, 3, 16, 16)
    assert torch.equal(out1, out2)
    assert out1.std() > 0.01  # not a constant image


def test_noise_fixed_unless_randomized(tiny):
    g, _ = tiny
    noisy = Generator(g.config)
    noisy.load_state_dict(g.state_dict())
    with torch.no_grad():
        for name, param in noisy.named_parameters():
            if name.endswith("noise.weight"):
                param.fill_(0.5)
        w = noisy.broadcast(noisy.mapping(torch.randn(1, 512)))
        fixed = noisy.synthesis(w)
        assert torch.equal(noisy.synthesis(w), fixed)
        assert not torch.allclose(noisy.synthesis(w, randomize_noise=True), fixed)
        assert not torch.allclose(g.synthesis(w), fixed)  # the noise weights matter


def test_synthesis_rejects_wrong_code_shape(tiny):
    g, _ = tiny
    with pytest.raises(ValueError, match="W\\+"):
        g.synthesis(torch.zeros(1, 18, 512))


# --- directions ---------------------------------------------------------------------------


def _code(g, seed=0):
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        return g.broadcast(g.mapping(torch.randn(1, 512, generator=gen)))[0]


def test_instance_specific_direction_raises_target_logit(tiny):
    g, _ = tiny
    clf = LinearClassifier(g.resolution, seed=3)
    w = _code(g)
    s = D.instance_specific_direction(w, g.synthesis, clf)
    assert s.shape == (512,)
    assert s.norm().item() == pytest.approx(1.0, abs=1e-5)
    with torch.no_grad():
        base = clf(g.synthesis(w[None]))[0, 1]
        up = clf(g.synthesis(D.step(w, s, 0.05)[None]))[0, 1]
        down = clf(g.synthesis(D.step(w, s, -0.05)[None]))[0, 1]
    assert up > base > down
    away = D.instance_specific_direction(w, g.synthesis, clf, target=0)
    assert torch.allclose(away, -s, atol=1e-5)  # two-class CE with a zero logit: opposite gradients


def test_mix_endpoints():
    a, s = D.unit(torch.randn(512)), D.unit(torch.randn(512))
    assert torch.allclose(D.mix(a, s, 1.0), a)
    assert torch.allclose(D.mix(a, s, 0.0), s)
    assert torch.allclose(D.mix(a, s, 0.3), 0.3 * a + 0.7 * s)


def test_conditioned_directions_are_orthogonal_to_conditions():
    torch.manual_seed(0)
    p, c1, c2, c3 = (torch.randn(512) for _ in range(4))
    c2 = c2 + 2 * c1  # strongly correlated conditions, as attribute directions are
    r1 = D.condition_one(p, c1)
    assert abs(float(r1 @ D.unit(c1))) < 1e-5
    r2 = D.condition_two(p, c1, c2)
    assert abs(float(r2 @ D.unit(c1))) < 1e-5
    assert abs(float(r2 @ D.unit(c2))) < 1e-5
    assert r2.norm().item() == pytest.approx(1.0, abs=1e-5)
    assert torch.allclose(D.condition_many(p, [c1, c2]), r2, atol=1e-5)
    r3 = D.condition_many(p, [c1, c2, c3])
    assert max(abs(float(r3 @ D.unit(c))) for c in (c1, c2, c3)) < 1e-5
    assert float(r2 @ D.unit(p)) > 0  # still points the primary way


def test_ials_direction_is_disentangled_from_condition(tiny):
    g, _ = tiny
    smile, young = LinearClassifier(g.resolution, 1), LinearClassifier(g.resolution, 2)
    a_smile, a_young = D.unit(torch.randn(512)), D.unit(torch.randn(512))
    w = _code(g)
    r = D.ials_direction(w, g.synthesis, smile, a_smile, 0.5, [(young, a_young)], lambda2=0.3)
    d_young = D.mix(a_young, D.instance_specific_direction(w, g.synthesis, young), 0.3)
    assert abs(float(r @ a_young)) < 1e-5
    assert abs(float(r @ D.unit(d_young))) < 1e-5
    d_smile = D.mix(a_smile, D.instance_specific_direction(w, g.synthesis, smile), 0.5)
    assert float(r @ D.unit(d_smile)) > 0.5


def test_edit_loop_moves_w_by_step_times_n(tiny):
    g, _ = tiny
    w = _code(g)
    d = D.unit(torch.randn(512))
    codes = D.edit_loop(w, lambda _w: d, step_size=-0.1, n_steps=7)
    assert len(codes) == 8
    assert torch.allclose(codes[-1] - w, (-0.1 * 7) * d.expand_as(w), atol=1e-5)
    # with directions recomputed at each code, every step still has length |step|
    clf = LinearClassifier(g.resolution, seed=5)
    codes = D.edit_loop(w, lambda c: D.instance_specific_direction(c, g.synthesis, clf), 0.2, 3)
    steps = [(b - a).norm(dim=1) for a, b in zip(codes, codes[1:], strict=False)]
    for s in steps:
        assert torch.allclose(s, torch.full_like(s, 0.2), atol=1e-5)
    with torch.no_grad():
        logits = [clf(g.synthesis(c[None]))[0, 1].item() for c in codes]
    assert logits == sorted(logits)  # each step raises the target logit


def test_average_direction_points_toward_target(tiny):
    g, _ = tiny
    clf = LinearClassifier(g.resolution, seed=7)
    gen = torch.Generator().manual_seed(1)

    def sample(n):
        with torch.no_grad():
            return g.broadcast(g.mapping(torch.randn(n, 512, generator=gen)))

    for target in (1, 0):
        a = D.average_direction(sample, g.synthesis, clf, n_samples=4, batch=4, target=target, progress=False)
        w = _code(g, 9)
        with torch.no_grad():
            base = clf(g.synthesis(w[None]))[0, 1]
            moved = clf(g.synthesis(D.step(w, a, 0.1)[None]))[0, 1]
        assert (moved > base) == bool(target)


def test_cosine_matrix():
    names, m = D.cosine_matrix({"a": np.ones(4), "b": -np.ones(4), "c": np.array([1.0, -1, 0, 0])})
    assert names == ["a", "b", "c"]
    assert np.allclose(np.diag(m), 1)
    assert m[0, 1] == pytest.approx(-1)
    assert m[0, 2] == pytest.approx(0)


# --- inversion -----------------------------------------------------------------------------


def test_inversion_lowers_loss_by_a_large_factor(tiny, tmp_path):
    g, avg = tiny
    target = g.synthesis(_code(g, seed=4)[None])
    result = invert(g, target, avg, config=InversionConfig(iterations=40, lr=0.05), progress=False)
    assert result.wplus.shape == (g.num_ws, 512)
    assert len(result.losses["total"]) == 41
    assert result.loss_reduction > 10, result.losses["total"][::10]
    assert result.reconstruction.shape == (16, 16, 3) and result.reconstruction.dtype == np.uint8
    paths = save_inversion(result, tmp_path / "code.npy")
    assert np.load(paths["code"]).shape == (g.num_ws, 512)
    assert paths["reconstruction"].is_file() and paths["loss"].read_text().startswith("iteration,total")
    assert torch.allclose(load_code(paths["code"], g.num_ws), result.wplus)
    with pytest.raises(OutputExistsError):
        save_inversion(result, tmp_path / "code.npy")


def test_inversion_with_perceptual_loss(tiny):
    from s2e_lib.nn.vgg import VGGFeatures

    g, avg = tiny
    torch.manual_seed(0)
    vgg = VGGFeatures("vgg16", ("relu1_1", "relu1_2", "pool2", "relu4_2"))
    target = (np.random.default_rng(0).random((24, 24, 3)) * 255).astype(np.uint8)  # resized to 16²
    result = invert(g, target, avg, vgg=vgg, config=InversionConfig(iterations=12, lr=0.05), progress=False)
    assert result.losses["perceptual"][0] > 0
    assert result.losses["total"][-1] < result.losses["total"][0]


def test_load_code_rejects_wrong_shape(tmp_path):
    np.save(tmp_path / "bad.npy", np.zeros((3, 7), np.float32))
    with pytest.raises(InputError, match="bad.npy"):
        load_code(tmp_path / "bad.npy")
    with pytest.raises(InputError, match="not found"):
        load_code(tmp_path / "none.npy")


# --- recipes ---------------------------------------------------------------------------------


def test_original_recipe_reproduces_the_lambda1_table():
    for emotion, lam in IALS_LAMBDA1.items():
        r = get_recipe(emotion, "original")
        assert r.lambda1 == lam
        assert r.primary == IALS_ORIGINAL_SETTINGS["primary_attribute"]
        assert r.conditions == (IALS_ORIGINAL_SETTINGS["condition_attribute"],)
        assert (r.lambda2, r.step, r.n_steps) == (0.3, -0.1, 10)


def test_default_recipe_signs_and_strength():
    assert get_recipe("happy").step > 0
    for emotion in ("sad", "angry", "fear", "neutral"):
        assert get_recipe(emotion).step < 0
    assert get_recipe("netural").neutralize
    assert get_recipe("happy", strength=2.0).step == pytest.approx(2 * get_recipe("happy").step)
    assert get_recipe("sad", strength=0).total_move == 0
    assert {"young", "male"} <= set(get_recipe("sad").conditions)
    assert not get_recipe("fear").expressible and get_recipe("happy").expressible
    assert [row["emotion"] for row in recipe_table()] == list(MISSION_EMOTIONS)
    with pytest.raises(InputError, match="recipe"):
        get_recipe("happy", "best")
    with pytest.raises(Exception, match="disgusted"):
        get_recipe("disgusted")


def test_recipe_total_move_is_step_times_n():
    r = get_recipe("angry", strength=0.5)
    assert r.total_move == pytest.approx(abs(r.step) * r.n_steps)
    assert math.isclose(r.step, 0.5 * get_recipe("angry").step)


def test_truncation_pulls_toward_the_average(tiny):
    from s2e_lib.edit.ials.stylegan1 import truncate

    g, avg = tiny
    w = g.mapping(torch.randn(3, 512))
    t = truncate(w, avg, 0.5)
    assert torch.allclose(t, 0.5 * w + 0.5 * avg)
    assert torch.allclose(truncate(w, avg, 0.0), avg.expand_as(w))
    with torch.no_grad():
        z = torch.randn(1, 512)
        assert g(z, truncation=0.5, avg_w=avg).shape == (1, 3, 16, 16)


@pytest.mark.parametrize("c", [0.0, 0.3, 0.7, 0.95])
def test_original_lambda1_signs_along_the_smiling_direction(c):
    """The original recipe's step along a: happy (λ1 = 100.5) moves away from smiling,
    angry (λ1 = −100) toward it, whatever the instance direction (cos c with a)."""
    a = torch.zeros(512)
    a[0] = 1.0
    s = torch.zeros(512)
    s[0], s[1] = c, math.sqrt(1 - c * c)
    for emotion, expected in (("happy", -1), ("angry", 1)):
        r = get_recipe(emotion, "original")
        along = r.step * float(D.unit(D.mix(a, s, r.lambda1)) @ a)
        assert np.sign(along) == expected, (emotion, c, along)


# --- faithfulness to IALS's released code (issue 14) --------------------------------------


def test_instance_norm_eps_is_1e5_like_nn_instancenorm2d(tiny, ffhq_generator):
    from s2e_lib.edit.ials.stylegan1 import INSTANCE_NORM_EPS, InstanceNorm

    assert INSTANCE_NORM_EPS == 1e-5
    torch.manual_seed(0)
    x = torch.randn(2, 5, 8, 8) * 1e-3  # small activations: ε matters
    layer = InstanceNorm()
    assert torch.equal(layer(x), F.instance_norm(x, eps=1e-5))  # torch's own kernel, bit for bit
    assert torch.equal(layer(x), torch.nn.InstanceNorm2d(5, eps=1e-5)(x))  # as the original code
    assert not torch.allclose(layer(x), F.instance_norm(x, eps=1e-8), atol=1e-3)
    g, _ = tiny
    norms = [m for m in g.modules() if isinstance(m, InstanceNorm)]
    assert len(norms) == 2 * (g.config.log2_resolution - 1)
    assert all(m.eps == 1e-5 for m in norms)
    for m in ffhq_generator.modules():
        if isinstance(m, (InstanceNorm, torch.nn.InstanceNorm2d)):
            assert m.eps == 1e-5


class SaturatedClassifier(torch.nn.Module):
    """Constant logits: the gradient w.r.t. the image is exactly zero."""

    def forward(self, image):
        return (image * 0.0).sum(dim=(1, 2, 3))[:, None] + torch.tensor([[0.0, 50.0]])


def test_saturated_classifier_fallback_is_warned_and_reported(tiny):
    from s2e_lib.edit.ials.directions import SaturatedClassifierWarning
    from s2e_lib.edit.ials.editor import IALSModels
    from s2e_lib.edit.ials.recipes import EditRecipe

    g, avg = tiny
    a = {n: D.unit(torch.randn(512)) for n in ("smiling", "young")}
    models = IALSModels(
        g, avg, {"smiling": SaturatedClassifier(), "young": LinearClassifier(g.resolution, 2)}, a
    )
    recipe = EditRecipe("happy", conditions=("young",), lambda1=-100.0, lambda2=0.3, step=0.1, n_steps=2)
    fallbacks: list[dict] = []
    with pytest.warns(SaturatedClassifierWarning, match="smiling.*vanishing gradient"):
        codes = models.trajectory(_code(g), recipe, fallbacks=fallbacks)
    assert fallbacks == [
        {"step": k, "attribute": "smiling", "reason": "vanishing gradient"} for k in range(2)
    ]
    # the fallback is the attribute-level direction (λ = 1), not −a from λ1·a with s = 0
    d = D.unit(codes[1][0] - codes[0][0])
    assert float(d @ a["smiling"]) > 0
    assert all(torch.isfinite(c).all() for c in codes)


def test_editor_info_lists_fallbacks(tiny):
    from s2e_lib.edit.ials.directions import SaturatedClassifierWarning
    from s2e_lib.edit.ials.editor import IALSEditor, IALSModels

    g, avg = tiny
    names = ("smiling", "young", "male")
    classifiers = {n: LinearClassifier(g.resolution, i) for i, n in enumerate(names)}
    classifiers["smiling"] = SaturatedClassifier()
    models = IALSModels(g, avg, classifiers, {n: D.unit(torch.randn(512)) for n in names})
    editor = IALSEditor(models=models, iterations=2, progress=False)
    crop = (np.random.default_rng(0).random((16, 16, 3)) * 255).astype(np.uint8)
    with pytest.warns(SaturatedClassifierWarning):
        result = editor.edit_aligned(crop, "happy")
    steps = get_recipe("happy").n_steps
    assert result.info["fallbacks"] == [
        {"step": k, "attribute": "smiling", "reason": "vanishing gradient"} for k in range(steps)
    ]


def test_non_finite_gradient_is_reported():
    assert D.gradient_problem(torch.tensor([1.0, float("nan")])) == "non-finite gradient"
    assert D.gradient_problem(torch.tensor([float("inf"), 0.0])) == "non-finite gradient"
    assert D.gradient_problem(torch.zeros(3)) == "vanishing gradient"
    assert D.gradient_problem(torch.ones(3)) is None
    # float64 norm 1.7e-25 (above the 1e-30 floor) but float32 squares underflow: its float32
    # "unit" vector would have length ~1e-13 and the sample almost no weight in an average
    tiny_grad = torch.full((3,), 1e-25)
    assert "vanishing gradient" in D.gradient_problem(tiny_grad)
    assert D.gradient_problem(torch.full((512,), 1e-10)) is None  # small but representable


def _noisy(g):
    noisy = Generator(g.config)
    noisy.load_state_dict(g.state_dict())
    with torch.no_grad():
        for name, param in noisy.named_parameters():
            if name.endswith("noise.weight"):
                param.fill_(0.5)
    return noisy.eval().requires_grad_(False)


def test_original_recipe_redraws_noise_per_forward_fixed_noise_optional(tiny):
    from s2e_lib.edit.ials.editor import IALSEditor, IALSModels

    g, avg = tiny
    models = IALSModels(_noisy(g), avg, {}, {})
    w = _code(g)
    original = IALSEditor(models=models, recipe="original", progress=False)
    assert original.noise == "random" and original.inversion.randomize_noise
    with torch.no_grad():
        assert not torch.allclose(original.models.render(w), original.models.render(w))
    for editor in (
        IALSEditor(models=models, recipe="original", noise="fixed", progress=False),
        IALSEditor(models=models, progress=False),
    ):
        assert editor.noise == "fixed" and not editor.inversion.randomize_noise
        with torch.no_grad():
            assert torch.equal(editor.models.render(w), editor.models.render(w))
    assert not models.randomize_noise  # the caller's models are not changed
    with pytest.raises(InputError, match="noise"):
        IALSEditor(models=models, noise="sometimes")


def test_original_inversion_redraws_noise(tiny, monkeypatch):
    g, avg = _noisy(tiny[0]), tiny[1]
    calls = []
    real = Generator.synthesis

    def spy(self, wplus, randomize_noise=False):
        calls.append(randomize_noise)
        return real(self, wplus, randomize_noise)

    monkeypatch.setattr(Generator, "synthesis", spy)
    target = (np.random.default_rng(1).random((16, 16, 3)) * 255).astype(np.uint8)
    invert(g, target, avg, config=InversionConfig.original(iterations=3), progress=False)
    assert calls == [True] * 4
    calls.clear()
    invert(g, target, avg, config=InversionConfig(iterations=3), progress=False)
    assert calls == [False] * 4


def test_vgg_target_is_pil_bilinear_256():
    from PIL import Image

    from s2e_lib.edit.ials.invert import vgg_target_image

    photo = (np.random.default_rng(2).random((1024, 1024, 3)) * 255).astype(np.uint8)
    expected = np.array(Image.fromarray(photo).resize((256, 256), Image.BILINEAR))
    got = vgg_target_image(photo, 256)
    assert got.shape == (1, 3, 256, 256)
    assert torch.equal(got, torch.from_numpy(expected).permute(2, 0, 1)[None].float() / 127.5 - 1)


def test_original_inversion_feeds_raw_images_to_vgg(tiny):
    from PIL import Image

    from s2e_lib.nn.vgg import VGGFeatures

    g, avg = tiny
    torch.manual_seed(0)
    vgg = VGGFeatures("vgg16", ("relu1_1", "relu1_2"))
    seen: list[torch.Tensor] = []
    hook = vgg.features[0].register_forward_pre_hook(lambda _m, args: seen.append(args[0].detach().clone()))
    photo = (np.random.default_rng(3).random((64, 64, 3)) * 255).astype(np.uint8)
    config = InversionConfig.original(iterations=1, vgg_size=8, randomize_noise=False)
    result = invert(g, photo, avg, vgg=vgg, config=config, progress=False)
    hook.remove()
    assert vgg.normalize_input  # the caller's module is untouched
    target = np.array(Image.fromarray(photo).resize((8, 8), Image.BILINEAR))
    assert torch.equal(seen[0], torch.from_numpy(target).permute(2, 0, 1)[None].float() / 127.5 - 1)
    with torch.no_grad():
        generated = g.synthesis(avg.expand(g.num_ws, -1)[None])
    assert torch.allclose(seen[1], F.avg_pool2d(generated, 2), atol=1e-6)  # raw [-1, 1], pooled
    assert seen[1].min() < 0  # not mapped to [0, 1]
    assert result.losses["perceptual"][0] > 0
    # s2e's default keeps the ImageNet-normalised [0, 1] input
    seen.clear()
    hook = vgg.features[0].register_forward_pre_hook(lambda _m, args: seen.append(args[0].detach().clone()))
    invert(g, photo, avg, vgg=vgg, config=InversionConfig(iterations=1, vgg_size=8), progress=False)
    hook.remove()
    mean, std = vgg.mean, vgg.std
    assert torch.allclose(seen[1], (F.avg_pool2d((generated + 1) / 2, 2) - mean) / std, atol=1e-5)
