"""The geometry of IALS's direction files and latent codes (no weights): leakage of edits,
agreement of methods, W+ code statistics, PCA, the instance-aware mix; on generated
numbers, and opt-in on ../shared/data/ials_pretrain."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import torch

from s2e_lib.edit.ials import IALSModels, StyleGANConfig
from s2e_lib.edit.ials import directions as D
from s2e_lib.edit.ials import geometry as G
from s2e_lib.edit.ials.classifier import ATTRIBUTES


def random_directions(seed=0, k=5, dim=512):
    rng = np.random.default_rng(seed)
    m = rng.normal(size=(k, dim))
    m[1] -= 6 * m[0] / np.linalg.norm(m[0])  # smiling and male entangled
    return {a: G._unit(v) for a, v in zip(ATTRIBUTES[:k], m, strict=True)}


def test_leakage_is_the_cosine_and_conditioning_removes_it():
    dirs = random_directions()
    names, plain = G.leakage_matrix(dirs)
    _, cos = G.cosines(dirs)
    assert np.allclose(plain, cos)
    assert plain[0, 1] < -0.2  # the entangled pair
    _, others = G.leakage_matrix(dirs, "others")
    off = others - np.diag(np.diag(others))
    assert np.abs(off).max() < 1e-10
    for i, name in enumerate(names):  # the diagonal: what is left of a_i outside the others' span
        rest = np.stack([dirs[n] for n in names if n != name], axis=1)
        residual = dirs[name] - rest @ np.linalg.lstsq(rest, dirs[name], rcond=None)[0]
        assert others[i, i] == pytest.approx(np.linalg.norm(residual), abs=1e-9)
    _, cond = G.leakage_matrix(dirs, ("young", "male"))
    s = names.index("smiling")
    assert abs(cond[s, names.index("male")]) < 1e-10 and abs(cond[s, names.index("young")]) < 1e-10
    assert abs(cond[s, names.index("pose")]) > 1e-4  # pose was not conditioned on
    # the male edit is conditioned on young only (not on itself)
    assert abs(cond[names.index("male"), names.index("young")]) < 1e-10
    assert cond[names.index("male"), names.index("male")] > 0.99


def test_conditioned_equals_the_torch_implementation():
    dirs = random_directions(3)
    p, c = dirs["smiling"], [dirs["young"], dirs["male"]]
    expected = D.condition_many(torch.tensor(p), [torch.tensor(v) for v in c]).double().numpy()
    assert np.allclose(G.conditioned(p, c), expected, atol=1e-6)
    two = D.condition_two(torch.tensor(p), torch.tensor(c[0]), torch.tensor(c[1])).double().numpy()
    assert np.allclose(G.conditioned(p, c), two, atol=1e-6)
    assert np.allclose(G.conditioned(p, []), p)


def test_mix_cosine_matches_vectors_and_limits():
    rng = np.random.default_rng(1)
    a = G._unit(rng.normal(size=512))
    for c in (-0.6, 0.0, 0.3, 0.9):
        ortho = G._unit(rng.normal(size=512) - (rng.normal(size=512) @ a) * a)
        ortho = G._unit(ortho - (ortho @ a) * a)
        s = c * a + np.sqrt(1 - c * c) * ortho
        for lam in (-100, -1, 0, 0.2, 0.75, 1, 1.2, 100.5):
            d = lam * a + (1 - lam) * s
            assert G.mix_cosine(c, lam) == pytest.approx(G._unit(d) @ a, abs=1e-9)
        assert G.mix_cosine(c, 1e9) == pytest.approx(np.sqrt((1 - c) / 2), abs=1e-6)
        assert G.mix_cosine(c, 0.0) == pytest.approx(c)


def test_the_original_recipes_point_against_their_intent():
    c = np.linspace(-0.99, 0.99, 199)
    assert (G.recipe_step_cosine(c, 100.5, -0.1) < 0).all()  # happy: away from smiling
    assert (G.recipe_step_cosine(c, -100.0, -0.1) > 0).all()  # angry: toward smiling
    assert (G.recipe_step_cosine(c, 0.75, 0.1) > 0.9).all()  # ours, happy


def test_instance_cosine_bound_bounds_the_mean_agreement():
    rng = np.random.default_rng(2)
    a = G._unit(rng.normal(size=512))
    s = np.stack([G._unit(0.4 * a + G._unit(rng.normal(size=512))) for _ in range(300)])
    ours = G._unit(s.mean(0))
    data = G.DirectionData(
        {("ours", "ffhq"): {"smiling": ours}, ("interfacegan", "ffhq"): {"smiling": a}}, {}, {}, "test"
    )
    bound = G.instance_cosine_bound(data, "smiling")
    assert bound == pytest.approx(ours @ a)
    assert (s @ a).mean() <= bound + 1e-12
    assert G.instance_cosine_bound(data, "young") is None


def test_code_statistics_pca_and_edit_scores():
    rng = np.random.default_rng(3)
    avg = rng.normal(scale=0.1, size=512)
    w_code = np.repeat((avg + rng.normal(size=512))[None], 18, axis=0)  # a W code: 18 equal rows
    wplus = avg + rng.normal(size=(18, 512))
    dirs = random_directions(4)
    data = G.DirectionData(
        {("interfacegan", "ffhq"): dirs}, {"ffhq": avg}, {"w": w_code, "wplus": wplus}, "t"
    )
    table = {r["code"]: r for r in G.code_table(data)}
    assert table["w"]["row spread"] == pytest.approx(0, abs=1e-9)
    assert table["w"]["adjacent-row cos"] == pytest.approx(1.0)
    assert abs(table["wplus"]["adjacent-row cos"]) < 0.2
    assert table["w"]["smiling score"] == pytest.approx((w_code[0] - avg) @ dirs["smiling"])
    dist = G.layer_distances(data.codes, avg)["wplus"]
    assert dist.shape == (18,) and table["wplus"]["farthest row"] == int(dist.argmax())

    rows, codes, layers = G.code_rows(data.codes)
    assert rows.shape == (36, 512) and codes[18] == "wplus" and layers[17] == 17
    result = G.pca(rows, k=4)
    assert np.allclose(result.components @ result.components.T, np.eye(4), atol=1e-9)
    assert np.allclose(result.scores, (rows - result.mean) @ result.components.T)
    assert (np.diff(result.explained) <= 1e-12).all() and 0 < result.explained.sum() <= 1

    names = list(dirs)
    plain = G.edit_scores(wplus, dirs, avg, "smiling", step=0.1, n_steps=10)
    assert plain.shape == (11, 5)
    assert np.allclose(plain[-1] - plain[0], [dirs["smiling"] @ dirs[n] for n in names])
    cond = G.edit_scores(wplus, dirs, avg, "smiling", ("young", "male"), step=0.1, n_steps=10)
    assert np.allclose(cond[:, names.index("male")], cond[0, names.index("male")])
    assert np.allclose(cond[:, names.index("young")], cond[0, names.index("young")])
    kept = G.leakage_matrix(dirs, ("young", "male"))[1][0, 0]
    assert cond[-1, 0] - cond[0, 0] == pytest.approx(kept) and 0.9 < kept < 1


def test_load_direction_data_reads_a_pretrain_folder(tmp_path):
    assert G.load_direction_data(tmp_path) is None
    rng = np.random.default_rng(5)
    for attr in ("smiling", "male"):
        path = tmp_path / "attr_level_direction" / "interfacegan" / "ffhq" / f"{attr}.npy"
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, 3 * rng.normal(size=(1, 512)))
    (tmp_path / "stylegan" / "ffhq").mkdir(parents=True)
    np.save(tmp_path / "stylegan" / "ffhq" / "avg_code.npy", rng.normal(size=512).astype(np.float32))
    (tmp_path / "real_latent_code").mkdir()
    np.save(tmp_path / "real_latent_code" / "real1.npy", rng.normal(size=(18, 512)).astype(np.float32))
    np.save(tmp_path / "real_latent_code" / "avg_latent.npy", np.zeros((18, 512), np.float32))
    data = G.load_direction_data(tmp_path)
    assert not data.synthetic and data.label == f"IALS's files in {tmp_path}"
    assert list(data.directions) == [("interfacegan", "ffhq")]
    assert np.linalg.norm(data.get()["smiling"]) == pytest.approx(1.0)
    assert list(data.codes) == ["avg_latent", "real1"] and list(data.real_codes) == ["real1"]
    assert data.get("ours") == {}
    (tmp_path / "real_latent_code" / "bad.npy").write_bytes(b"junk")
    from s2e_lib.errors import InputError

    with pytest.raises(InputError, match="bad.npy: not a readable .npy array"):
        G.load_direction_data(tmp_path)


def test_synthetic_stand_in_is_labelled_and_shaped():
    data = G.synthetic_direction_data(0)
    assert data.synthetic and data.label.startswith("SYNTHETIC")
    assert set(data.directions) == {(m, d) for m in G.METHODS for d in G.DATASETS}
    _, cos = G.cosines(data.get("ganspace"))
    assert np.allclose(cos, np.eye(5), atol=1e-9)
    assert G.cosines(data.get())[1][0, 1] < -0.2
    assert all(w.shape == (18, 512) for w in data.codes.values())


def test_instance_angles_on_the_untrained_stand_in():
    models = IALSModels.random(StyleGANConfig.small(16, 16, 128), seed=0)
    with torch.no_grad():
        codes = models.generator.broadcast(models.generator.mapping(torch.randn(2, 512)))
    rows = G.instance_angles(models, {f"s{i}": w.numpy() for i, w in enumerate(codes)}, progress=False)
    assert len(rows) == 2 * 3
    for row in rows:
        if row["saturated"]:
            continue
        assert row["angle(a,s)"] == pytest.approx(np.degrees(np.arccos(row["cos(a,s)"])))
        assert 0 <= row["angle(a,mix λ=0.75)"] < 30  # λ = 0.75 stays close to a
        assert 0 <= row["p(attribute)"] <= 1


def test_plots_draw(tmp_path):
    import matplotlib.pyplot as plt

    from s2e_lib.viz import ials as viz

    data = G.synthetic_direction_data(1)
    figures = [viz.plot_direction_cosines(data)]
    ax = viz.plot_method_agreement(G.method_agreement(data), chance=G.chance_cosine())
    assert len(ax.patches) >= 15
    names, matrix = G.leakage_matrix(data.get())
    viz.plot_edit_leakage(names, {"plain": matrix[0]}, "smiling")
    viz.plot_layer_distances(G.layer_distances(data.codes, data.avg_codes["ffhq"]))
    rows, codes, layers = G.code_rows(data.real_codes)
    viz.plot_code_pca(G.pca(rows), codes, layers)
    path = G.edit_scores(data.codes["synthetic1"], data.get(), data.avg_codes["ffhq"], "smiling")
    figures.append(viz.plot_edit_scores({"plain": path}, names, 0.1, "smiling"))
    ax = viz.plot_recipe_cosines({"ours": (0.75, 1.0), "happy": (100.5, -1.0)}, bound=0.3)
    assert len(ax.lines) >= 3
    viz.plot_instance_angles(
        [{"code": "x", "attribute": "smiling", "angle(a,s)": 80.0, "angle(a,mix λ=0.75)": 18.0}]
    )
    figures[0].savefig(tmp_path / "cos.png")
    assert (tmp_path / "cos.png").stat().st_size > 1000
    plt.close("all")


def test_shared_directions_and_codes(shared_data):
    """Opt-in: the figures notebook 04 reports on IALS's files."""
    root = shared_data / "ials_pretrain"
    if not root.is_dir():
        pytest.skip("../shared/data/ials_pretrain is absent")
    data = G.load_direction_data(root)
    assert len(data.get("ours", "celebahq")) == 2 and len(data.get()) == 5
    pairs = G.strongest_pairs(data.get())
    assert pairs[0][:2] == ("smiling", "male") and pairs[0][2] == pytest.approx(-0.113, abs=1e-3)
    assert G.cosines(data.get("ours"))[1][0, 1] == pytest.approx(-0.312, abs=1e-3)
    _, ganspace = G.cosines(data.get("ganspace"))
    assert np.allclose(ganspace, np.eye(5), atol=1e-3)
    agreement = {(r["attribute"], r["pair"]): r["cosine"] for r in G.method_agreement(data)}
    assert agreement[("smiling", "interfacegan · ours")] == pytest.approx(0.345, abs=1e-3)
    assert G.instance_cosine_bound(data, "smiling") == pytest.approx(0.345, abs=1e-3)
    table = {r["code"]: r for r in G.code_table(data)}
    assert table["avg_latent"]["mean distance"] < 0.2
    assert 5 < table["real1"]["mean distance"] < 7 and table["real1"]["adjacent-row cos"] < 0.2
