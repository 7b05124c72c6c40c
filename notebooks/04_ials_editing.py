# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

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
from s2e_lib.edit.ials.classifier import ATTRIBUTES
from s2e_lib.edit.ials.editor import edit_rows
from s2e_lib.emotions import parse_emotions
from s2e_lib.paths import project_paths
from s2e_lib.viz import ials as viz

torch.manual_seed(seed)
if smoke:
    iterations, steps, resolution = min(iterations, 25), min(steps, 3), min(resolution, 32)
emotion_list = parse_emotions(emotions)
device = "cuda" if torch.cuda.is_available() else "cpu"

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
paths = project_paths()
pre = Pretrain(pretrain_dir) if pretrain_dir else Pretrain()
real = pre.generator_path.is_file() and not smoke
shared_pre = Pretrain(paths.shared / "data" / "ials_pretrain")
direction_source = pre if (pre.root / "attr_level_direction").is_dir() else shared_pre

if real:
    models = IALSModels.from_pretrain(pre, device=device)
    label = "IALS FFHQ-1024 weights"
else:
    real_dirs = {}
    for attr in ("smiling", "young", "male"):
        path = direction_source.direction_path(attr)
        if path.is_file():
            real_dirs[attr] = direction_source.load_direction(attr)
    models = IALSModels.random(StyleGANConfig.small(resolution, 32, 32), directions=real_dirs, seed=seed)
    torch.set_num_threads(1)  # models this small run fastest single-threaded (thread contention otherwise)
    label = f"UNTRAINED {resolution}² generator — for the mechanics only"
    print(
        "attribute directions:", "IALS's (from " + str(direction_source.root) + ")" if real_dirs else "random"
    )
print(label)
print(f"generator: {models.generator.resolution}², {models.generator.num_ws} style rows")


# %% [markdown]
# ## Attribute-level directions and how entangled they are
#
# IALS ships attribute directions in W space from three methods: InterFaceGAN (normals of
# linear SVM boundaries), GANSpace (principal components) and IALS's own ("ours": the
# average of instance-specific directions over ~500 samples). Their pairwise cosines show
# the entanglement the conditioning has to undo: a large |cos(smiling, young)| means a
# naive smile edit also changes apparent age.


# %%
def attribute_directions(source, method):
    out = {}
    for attr in ATTRIBUTES:
        path = source.direction_path(attr, method)
        if path.is_file():
            out[attr] = source.load_direction(attr, method)
    return out


methods = [m for m in ("interfacegan", "ganspace", "ours") if attribute_directions(direction_source, m)]
if methods:
    fig, axes = plt.subplots(1, len(methods), figsize=(4.6 * len(methods), 4))
    for ax, method in zip(np.atleast_1d(axes), methods, strict=False):
        names, cos = D.cosine_matrix(attribute_directions(direction_source, method))
        viz.plot_cosines(names, cos, title=method, ax=ax)
    plt.tight_layout()
else:
    names, cos = D.cosine_matrix(models.directions)
    viz.plot_cosines(names, cos, title="random directions (no IALS data found)")

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
# - The generator, classifiers and VGG load IALS's files unchanged; the whole pipeline
#   (inversion → instance-aware, conditioned directions → edit loop → grids) runs on any
#   StyleGAN-1 size, which is how this notebook runs on a CPU without the weights.
# - The conditioned direction is orthogonal to the condition directions by construction;
#   every step moves each W+ row by exactly the step size.
# - Latent editing with IALS's attributes can express *happy* and *neutral*, hint at
#   *sad*/*angry*, and cannot express *fear*; the warp editor and pix2pixHD cover the rest.
#   `s2e ials invert` / `s2e ials edit` run the same steps from the command line.
