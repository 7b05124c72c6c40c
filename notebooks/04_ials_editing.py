# %% [markdown]
# # 04 · IALS latent editing on StyleGAN
#
# The original project's second approach to changing a face's expression: **IALS**
# (Han, Yang, Fu, *Disentangled Face Attribute Editing via Instance-Aware Latent Space
# Search*, IJCAI 2021). A photo is *inverted* into StyleGAN-1's W+ space (an 18×512 code
# the FFHQ generator turns back into the face), then the code is moved along an
# attribute direction — here *smiling* — while the directions of attributes that should
# stay put (*young*, *male*) are projected out, so the edit changes the expression and
# not the apparent age or gender.
#
# IALS's twist is the **instance-aware direction** `λ·a + (1−λ)·s`: a mix of the global
# attribute-level direction `a` (InterFaceGAN's) and the direction `s` a classifier's
# gradient takes *at this face*. This notebook shows every step: inversion, the
# directions, the edit loop, the original project's recipe and ours.
#
# **Without the weights** (IALS's StyleGAN, classifiers and VGG are a separate download) the
# first part still works on what *is* real: IALS's attribute-direction files and W+ codes
# of real faces (`../shared/data/ials_pretrain`, or your own `pretrain/`): how entangled the
# directions are, what editing one attribute does to the others, where real codes lie, and
# where an instance-aware step can point. `s2e ials check --pretrain DIR` checks a
# downloaded folder file by file (names, shapes, dtypes, sha256).
#
# **Parameters**: `pretrain_dir` (IALS's `pretrain/` folder; absent → a small randomly
# initialised generator, *untrained, for the mechanics only*), `face` (a photo; default
# one of ../shared's portraits when real weights are present), `emotions`, `lambda1`,
# `lambda2`, `steps`, `step_size` (of the happy recipe; the others scale with it), `iterations`, `resolution` (of the untrained
# generator), `seed`, `smoke`.

# %% tags=["parameters"]
smoke = False  # a seconds-long run for tests: fewer iterations and steps, a 32 px stand-in
pretrain_dir = None  # IALS's pretrain/ folder; None: $S2E_IALS_PRETRAIN, else models/ials/pretrain if present
face = None  # a photo; None → ../shared/data/faces/01 with real weights, a generated face otherwise
emotions = "angry,neutral,fear,happy,sad"  # the edit grid's rows (comma-separated)
lambda1 = 0.75  # mix of attribute-level (1) and instance-specific (0) direction, primary attribute
lambda2 = 0.75  # the same for the condition attributes
steps = 10  # edit steps along each direction
step_size = 0.1  # of the happy recipe; the other recipes scale with it
iterations = 300  # W+ inversion iterations
resolution = 64  # of the untrained demo generator
seed = 0  # seed of the stand-in generator and the inversion

# %%
# %matplotlib inline
import dataclasses

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from IPython.display import display

from s2e_lib.edit.ials import (
    IALSModels,
    InversionConfig,
    Pretrain,
    StyleGANConfig,
    get_recipe,
    invert,
    recipe_table,
)
from s2e_lib.edit.ials import directions as D
from s2e_lib.edit.ials import geometry as G
from s2e_lib.edit.ials.editor import edit_rows
from s2e_lib.emotions import IALS_LAMBDA1, parse_emotions
from s2e_lib.paths import project_paths
from s2e_lib.viz import ials as viz

torch.manual_seed(seed)
if smoke:
    iterations, steps, resolution = min(iterations, 25), min(steps, 3), min(resolution, 32)
emotion_list = parse_emotions(emotions)
device = "cuda" if torch.cuda.is_available() else "cpu"

# %% [markdown]
# ## What is real without the weights: IALS's direction files and latent codes
#
# IALS's `pretrain/` folder holds, next to the networks, the **attribute-level
# directions** of five attributes (smiling, male, young, pose, eyeglasses) in StyleGAN-1's
# 512-D W space, from three methods — InterFaceGAN (normals of linear SVMs trained on
# labelled samples), GANSpace (principal components of W, picked and signed by hand) and
# IALS's own "ours" (the average of ~500 instance-specific classifier-gradient
# directions) — for the FFHQ and CelebA-HQ generators, the generators' **average codes**,
# and **W+ codes of real faces** (18×512, inverted by seeprettyface for IALS's README).
# None of this needs a generator: it is linear algebra on the released numbers.
#
# We read them from `pretrain_dir` (or `$S2E_IALS_PRETRAIN` / `models/ials/pretrain`) when
# it holds them, else from `../shared/data/ials_pretrain`; with neither, a **synthetic**
# stand-in of random numbers (labelled as such) keeps the cells running.

# %%
paths = project_paths()
pre = Pretrain(pretrain_dir) if pretrain_dir else Pretrain()
data = G.load_direction_data(pre.root) or G.load_direction_data(paths.shared / "data" / "ials_pretrain")
if data is None:
    data = G.synthetic_direction_data(seed)
print(data.label)
print(
    f"{sum(len(v) for v in data.directions.values())} direction files "
    f"({', '.join(f'{m}/{d}: {len(v)}' for (m, d), v in data.directions.items())}); "
    f"average codes: {', '.join(data.avg_codes)}; W+ codes: {', '.join(data.codes)}"
)
interfacegan, ours_dirs = data.get("interfacegan"), data.get("ours")
avg_code = data.avg_codes["ffhq"]


def tagged(ax):
    """Mark a figure drawn from the synthetic stand-in as such."""
    if data.synthetic:
        ax.set_title(f"SYNTHETIC (no IALS files) · {ax.get_title()}", color="firebrick")
    return ax


# %% [markdown]
# ### Cosines between attribute directions: which attributes entangle
#
# Two edits are independent, to first order, when their directions are orthogonal. The
# cosine of two unit directions is also how far a unit step along one moves a code's
# projection on the other. Random unit vectors in 512-D have cosines of ±0.044 (one
# standard deviation), so anything beyond ±0.1 is structure.
#
# On IALS's files: **GANSpace**'s directions are orthogonal by construction (principal
# components). **InterFaceGAN**'s FFHQ directions are nearly so — the largest pairs are
# smiling–male (−0.11: smiling is learnt partly as "less male") and young–eyeglasses
# (−0.10); on CelebA-HQ male–eyeglasses is +0.27. IALS's own averaged directions are the
# most entangled: smiling–male −0.31 on FFHQ (−0.28 on CelebA-HQ) — averaging classifier
# gradients inherits the classifiers' and the data's correlations, which is exactly why
# IALS conditions its edits.

# %%
viz.plot_direction_cosines(data)
plt.show()
for method in ("interfacegan", "ganspace", "ours"):
    if data.get(method):
        pairs = G.strongest_pairs(data.get(method))
        print(f"{method:12s} strongest pairs (ffhq):", "; ".join(f"{a}–{b} {c:+.2f}" for a, b, c in pairs))

# %% [markdown]
# ### Do the three methods agree on an attribute?
#
# If "smiling" were one well-defined direction in W, the three methods would find nearly
# the same vector. They do not: on IALS's files **pose** agrees best (cosines 0.61–0.80),
# **smiling** and **young** only 0.24–0.34, eyeglasses 0.07–0.52. All are far above chance,
# so each method finds *a* smiling direction, but they are different mixtures of the
# smile with whatever correlates with it in each method's samples. Which direction an
# edit uses is a modelling choice, not a fact about faces.

# %%
agreement = pd.DataFrame(G.method_agreement(data))
tagged(viz.plot_method_agreement(G.method_agreement(data), chance=G.chance_cosine()))
plt.show()
agreement.pivot(index="attribute", columns="pair", values="cosine").round(3)

# %% [markdown]
# ### Editing one attribute moves the projections on the others
#
# A step of length 1 along the smiling direction changes a code's projection on every
# other attribute's direction by their cosine. IALS's remedy is *conditioning*: project
# the condition attributes' directions out of the edit (`condition_many`). The bars below
# are those changes for a smiling edit: the plain InterFaceGAN direction, conditioned on
# young + male (this project's default recipe), conditioned on all four others, and
# IALS's averaged direction plain. The table's `kept` column is how much of the smile
# step survives conditioning (1 = nothing lost).

# %%
edits, kept = {}, []
for method, dirs in (("interfacegan", interfacegan), ("ours", ours_dirs)):
    if "smiling" not in dirs:
        continue
    for label, cond in (("plain", None), ("| young, male", ("young", "male")), ("| all others", "others")):
        names, matrix = G.leakage_matrix(dirs, cond)
        row = matrix[names.index("smiling")]
        edits[f"{method} {label}"] = row
        kept.append(
            {"direction": f"{method} {label}", "kept": row[names.index("smiling")]}
            | {f"→ {n}": row[i] for i, n in enumerate(names) if n != "smiling"}
        )
tagged(viz.plot_edit_leakage(names, {k: v for k, v in edits.items() if "all others" not in k}, "smiling"))
plt.show()
pd.DataFrame(kept).set_index("direction").round(3)

# %% [markdown]
# ### Real latent codes: where they lie
#
# A StyleGAN **W** code is one 512-vector used by all 18 style inputs; inversions of real
# photos use **W+**, a separate vector per row. The table gives, per code, how far its rows
# are from the average face (the generator's `avg_code`), how much its rows differ from
# one another (`row spread`: 0 for a W code) and the mean cosine between consecutive rows'
# offsets (1 for a W code), and its scores on the InterFaceGAN directions (projection of
# `w − avg_code`; the SVMs' offsets are not released, so the average face is the zero).
#
# On IALS's codes: `avg_latent` is `avg_code` on every row (to 0.02); the two real faces'
# rows are 2–10 units from the average, farthest in the middle rows (7–9, the 32²–64²
# blocks: features and expression) and closest at the coarse and finest rows, and their
# consecutive rows are nearly unrelated (cosine ≈ 0.1). These W+ codes are far from the W
# manifold, the place the attribute directions were learnt on — one reason edits of
# inverted photos are less clean than edits of generated faces.

# %%
display(pd.DataFrame(G.code_table(data)).set_index("code").round(3))
tagged(viz.plot_layer_distances(G.layer_distances(data.codes, avg_code)))
plt.show()

# %% [markdown]
# The first principal components of all the real codes' rows: no few directions explain
# them (the leading components each hold a few per cent of the variance), and the
# outlying points are single middle rows (the numbers) of one face — rows carry
# idiosyncratic offsets rather than a shared "face" direction.

# %%
rows, row_codes, row_layers = G.code_rows(data.real_codes)
code_pca = G.pca(rows, k=5)
print("explained variance of the first components:", np.round(code_pca.explained, 3))
print(
    "|cos| of PC1 with the attribute directions:",
    {a: round(abs(float(code_pca.components[0] @ v)), 2) for a, v in interfacegan.items()},
)
tagged(viz.plot_code_pca(code_pca, row_codes, row_layers))
plt.show()

# %% [markdown]
# ### A smiling edit of a real code, seen through every attribute
#
# Ten steps of 0.1 along smiling from the first real code (IALS's and the original
# project's step size), with all five attribute scores along the way. With the plain
# directions the other scores drift by the cosines above (with IALS's averaged direction
# "male" falls by 0.31 per unit of smile); conditioned on young and male those two stay
# flat, and the remaining drift (pose, eyeglasses) is what was not conditioned on. (A
# linear score is what the directions can promise; what the *image* does needs the
# generator.)

# %%
first_code = next(iter(data.real_codes))
paths_by_edit = {}
for method, dirs in (("interfacegan", interfacegan), ("ours", ours_dirs)):
    if "smiling" in dirs:
        for label, cond in (("plain", ()), ("| young, male", ("young", "male"))):
            paths_by_edit[f"{method} {label}"] = G.edit_scores(
                data.codes[first_code], dirs, avg_code, "smiling", cond, step=0.1, n_steps=10
            )
viz.plot_edit_scores(paths_by_edit, list(interfacegan), 0.1, "smiling")
plt.suptitle(f"{first_code}: smiling +0.1 × 10 ({data.label})", fontsize=9, y=1.02)
plt.show()

# %% [markdown]
# ### Instance-aware directions: where a step can point
#
# IALS mixes the attribute-level direction `a` with the instance-specific `s` (the
# direction a smiling classifier's gradient takes at *this* face): `d = λ·a + (1−λ)·s`.
# Whether a step along `d` adds or removes a smile depends on λ, on the step's sign and on
# `c = cos(a, s)`, which needs the generator and classifier to measure. The curves show
# `cos(step, a)` against `c` for our default (λ = 0.75, step +) and the original project's
# λ1 per emotion (all with step −0.1): the original *happy* recipe (λ1 = 100.5) steps
# *away* from smiling for every `c`, *angry* (λ1 = −100) *toward* it.
#
# One bound on `c` is real without weights: IALS's "ours" direction is the normalised
# mean of instance-specific directions, so the *average* `c` of IALS's samples against
# InterFaceGAN's smiling direction is at most cos(ours, interfacegan) (dashed line; on
# IALS's files 0.34, the cosine of two directions 70° apart): on average a face's smiling
# gradient and InterFaceGAN's smiling direction have little in common. For every c left of
# the line, λ = 0.75 keeps the step within about 20° of `a`, while the mix's instance part
# adapts it to the face.

# %%
bound = G.instance_cosine_bound(data, "smiling")
curves = {"ours, happy: λ1 = 0.75, step +": (0.75, 1.0)}
curves |= {f"original {e}: λ1 = {lam:g}, step −": (lam, -1.0) for e, lam in IALS_LAMBDA1.items()}
tagged(viz.plot_recipe_cosines(curves, bound=bound))
plt.show()
if bound is not None:
    c_grid = np.linspace(-1, bound, 400)
    worst = np.degrees(np.arccos(np.clip(G.mix_cosine(c_grid, 0.75), -1, 1))).max()
    print(
        f"mean c ≤ {bound:.3f} (the cosine of {np.degrees(np.arccos(bound)):.0f}°); for any c ≤ {bound:.2f} "
        f"the λ = 0.75 mix stays within {worst:.0f}° of a"
    )

# %% [markdown]
# ## Models: IALS's weights, or an untrained stand-in
#
# With IALS's `pretrain/` folder we load its StyleGAN-1 FFHQ-1024 generator, ResNet-18
# attribute classifiers and VGG-16 unchanged (the generator's state dict matches the
# release key for key). Without it, the same code runs on a small **randomly
# initialised** generator and random classifiers: the images are noise-like textures and
# the classifier "attributes" are arbitrary, so everything below then demonstrates the
# *mechanics* (shapes, losses, orthogonality, step lengths), not editing quality.

# %%
real = pre.generator_path.is_file() and not smoke

if real:
    models = IALSModels.from_pretrain(pre, device=device)
    label = "IALS FFHQ-1024 weights"
else:
    real_dirs = {a: torch.from_numpy(interfacegan[a]).float() for a in ("smiling", "young", "male")}
    models = IALSModels.random(StyleGANConfig.small(resolution, 32, 32), directions=real_dirs, seed=seed)
    torch.set_num_threads(1)  # models this small run fastest single-threaded (thread contention otherwise)
    label = f"UNTRAINED {resolution}² generator — for the mechanics only"
    print("attribute directions:", data.label)
print(label)
print(f"generator: {models.generator.resolution}², {models.generator.num_ws} style rows")


# %% [markdown]
# ## Instance-specific vs attribute-level directions at codes
#
# With a generator and classifiers, `c = cos(a, s)` can be measured: at each code, one
# classifier-gradient step gives `s`, and we compare it with `a` and the λ = 0.75 mix.
# With IALS's weights the codes are the real W+ codes above. Without them the stand-in's
# *untrained* classifiers give arbitrary gradients, so the angles below (near 90°, as
# for random vectors) only show the mechanics.

# %%
if real:
    angle_codes = data.real_codes
else:
    with torch.no_grad():
        z = torch.randn(2 if smoke else 8, 512, generator=torch.Generator().manual_seed(seed))
        sampled = models.generator.broadcast(models.generator.mapping(z))
    angle_codes = {f"sample{i}": w.numpy() for i, w in enumerate(sampled)}
angles = pd.DataFrame(
    G.instance_angles(models, angle_codes, ("smiling", "young", "male"), progress=not smoke)
)
viz.plot_instance_angles(angles.to_dict("records"), title=f"instance-specific vs attribute-level · {label}")
plt.show()
angles.groupby("attribute")[["angle(a,s)", "angle(a,mix λ=0.75)"]].agg(["mean", "min", "max"]).round(1)

# %% [markdown]
# ## GAN inversion
#
# Every W+ row starts at the average code; Adam (lr 0.01) minimises the summed squared
# error of the images plus that of VGG-16 features (relu1_1, relu1_2, pool2, relu4_2) at
# 256². With real weights the input is an FFHQ-aligned photo; with the untrained
# generator it is an image the generator itself made from a random code (so a perfect
# reconstruction exists).

# %%
if real:
    from s2e_lib.face import align_face, load_image

    face_path = face or sorted((paths.shared / "data" / "faces").iterdir())[0]
    target = align_face(load_image(face_path), size=models.generator.resolution).image
else:
    with torch.no_grad():
        w_true = models.generator.broadcast(models.generator.mapping(torch.randn(1, 512)))[0]
    target = models.image(w_true)
result = invert(
    models.generator,
    target,
    models.avg_code,
    vgg=models.vgg,
    config=InversionConfig(iterations=iterations),
    progress=not smoke,
)
print(
    f"loss {result.losses['total'][0]:.4g} -> {result.losses['total'][-1]:.4g} "
    f"({result.loss_reduction:.1f}x lower after {iterations} iterations)"
)
viz.plot_inversion_loss(result.losses)
viz.plot_pair(
    {
        "input": result.target,
        "reconstruction": result.reconstruction,
        "start (average code)": models.image(models.avg_code.expand(models.generator.num_ws, -1)),
    },
    title=label,
)
plt.show()

# %% [markdown]
# ## Emotion → edit recipes
#
# IALS has five attributes: smiling, male, young, pose, eyeglasses. Only *smiling* is an
# expression, so latent editing with IALS can show **happy** (a smile) and **neutral**
# (remove a smile) and at best hint at **sad** / **angry** (an unsmiling, closed mouth);
# **fear**'s widened eyes and raised brows are not reachable with these directions. The
# recipes say so (`expressible`).
#
# The original project used one recipe for every emotion — smiling conditioned on young,
# λ2 = 0.3, step −0.1, 10 steps — and varied only λ1 (angry −100, neutral 1.2, fear −1,
# sad 0.2, happy 100.5). λ1 mixes two directions that both point toward "smiling"; at ±100
# it extrapolates to ≈ ±(a − s), their *difference*, so it does not set an emotion's
# strength. Our default picks the direction's **sign** per emotion, keeps λ inside [0, 1]
# and conditions on young *and* male.

# %%
table = pd.DataFrame(recipe_table("default")).set_index("emotion")
table_original = pd.DataFrame(recipe_table("original")).set_index("emotion")
display(table[["primary", "conditions", "lambda1", "lambda2", "step", "n_steps", "expressible", "note"]])
display(table_original[["primary", "conditions", "lambda1", "lambda2", "step", "n_steps"]])

# %% [markdown]
# ## What direction does each recipe actually take?
#
# At the inverted code we compute each recipe's first edit direction and compare it with
# the attribute-level smiling direction `a`: the cosine says how much of the step is
# "more smile" (+1), "less smile" (−1), or something else (≈ 0). The step's sign is
# applied. With the untrained classifiers the instance-specific part is arbitrary, which
# is exactly where the original λ1 = ±100 recipes end up pointing.

# %%
w0 = result.wplus
rows = []
for name in ("original", "default"):
    for emotion in emotion_list:
        r = get_recipe(emotion, name)
        conditions = [(models.classifiers[c], models.directions[c]) for c in r.conditions]
        d = D.ials_direction(
            w0,
            models.render,
            models.classifiers[r.primary],
            models.directions[r.primary],
            r.lambda1,
            conditions,
            r.lambda2,
        )
        cos = float(np.sign(r.step) * (d @ models.directions["smiling"]))
        rows.append(
            {"recipe": name, "emotion": emotion, "lambda1": r.lambda1, "cos(step, smiling)": round(cos, 3)}
        )
pd.DataFrame(rows).pivot(index="emotion", columns="recipe", values="cos(step, smiling)")

# %% [markdown]
# ## Edit grids: five emotions × steps
#
# Each row starts from the inverted code and takes `steps` steps, recomputing the
# instance-aware, conditioned direction at the current code before each step (IALS's
# loop). First our default recipes with this notebook's λ1, λ2, step size and count,
# then the original project's recipes. (The untrained stand-in takes 10× longer steps so
# that anything is visible at all.)

# %%
every = max(1, steps // 5)
# the default recipes are written for a 0.1 happy step; signs stay per emotion. The untrained
# generator barely reacts to steps of that size, so its demo takes 10x longer steps.
demo_gain = 1.0 if real else 10.0
strength = demo_gain * step_size / 0.1
ours = edit_rows(
    models,
    w0,
    emotion_list,
    "default",
    strength=strength,
    every=every,
    overrides={"lambda1": lambda1, "lambda2": lambda2, "n_steps": steps},
)
header = [f"step {min(i * every, steps)}" for i in range(max(len(r) for r in ours.values()))]
grid_ours = viz.compose_grid(ours, cell=128, header=header, title=f"ours (default recipe) · {label}")
viz.show_grid(grid_ours, width=10)
plt.show()

# %%
original = edit_rows(
    models, w0, emotion_list, "original", strength=demo_gain, every=every, overrides={"n_steps": steps}
)
grid_original = viz.compose_grid(
    original, cell=128, header=header, title=f"original project's recipe · {label}"
)
viz.show_grid(grid_original, width=10)
plt.show()

# %% [markdown]
# ## Original recipe vs ours, side by side
#
# The last step of each emotion under both recipes, with the smiling classifier's
# probability before and after (meaningful only with IALS's classifiers).

# %%
side = {f"{e}": [original[e][-1], ours[e][-1]] for e in emotion_list}
viz.show_grid(viz.compose_grid(side, cell=128, header=["original", "ours"], title=label), width=5)
p0 = models.probability("smiling", w0)
summary = []
for name in ("original", "default"):
    for emotion in emotion_list:
        if name == "original":
            r = dataclasses.replace(get_recipe(emotion, name, demo_gain), n_steps=steps)
        else:
            r = dataclasses.replace(
                get_recipe(emotion, name, strength), n_steps=steps, lambda1=lambda1, lambda2=lambda2
            )
        codes = models.trajectory(w0, r)
        summary.append(
            {
                "recipe": name,
                "emotion": emotion,
                "p_smiling_before": round(p0, 3),
                "p_smiling_after": round(models.probability("smiling", codes[-1]), 3),
                "moved_in_W": round(float((codes[-1] - w0).norm(dim=1).mean()), 3),
            }
        )
pd.DataFrame(summary)

# %% [markdown]
# ## Take-aways
#
# - Without any weights, IALS's released numbers already show the problem it solves:
#   attribute directions overlap (IALS's own smiling–male −0.31), three methods disagree on
#   what "smiling" is (cosines 0.24–0.34), and a plain edit drags the other attributes by
#   those cosines; conditioning removes the drag at the cost of a few per cent of the edit.
# - The real W+ codes are far from the W manifold (rows nearly unrelated), and the
#   original project's λ1 = ±100 recipes point the step against the intended sign.
# - The generator, classifiers and VGG load IALS's files unchanged; the whole pipeline
#   (inversion → instance-aware, conditioned directions → edit loop → grids) runs on any
#   StyleGAN-1 size, which is how this notebook runs on a CPU without the weights.
# - The conditioned direction is orthogonal to the condition directions by construction;
#   every step moves each W+ row by exactly the step size.
# - Latent editing with IALS's attributes can express *happy* and *neutral*, hint at
#   *sad*/*angry*, and cannot express *fear*; the warp editor and pix2pixHD cover the rest.
#   `s2e ials invert` / `s2e ials edit` run the same steps from the command line.
