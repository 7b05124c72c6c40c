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
# # 03 · pix2pixHD sign editing
#
# The original project's first approach to showing an emotion on a face: a
# **pix2pixHD** generator (Wang et al., 2018) learns to turn *a neutral frame of a person
# plus an emotion condition* into *that person's frame showing the emotion*. The
# condition was a **sign**, one of five shapes drawn on the neutral frame; here it can
# also be a set of one-hot **label** channels.
#
# This notebook walks the whole path on the offline sample corpus (or your prepared MEAD
# tree): the signs → neutral/emotion pairs → a short CPU training run → what the
# generator makes of held pairs and of a new photo → how to continue on a GPU.
#
# **Parameters** (papermill): `prepared` (a tree made by `s2e prepare`; `None` prepares
# the sample corpus here), `condition` (`"sign"` or `"label"`), `position` (`"corner"`
# or the original `"center"`), `size` (training crop side), `steps`, `align` (FFHQ face
# crops), `seed`, `threads` (torch CPU threads), `residual` (a generator that outputs
# input + correction, not in the paper), `smoke` (a seconds-long run for tests).

# %% tags=["parameters"]
smoke = False  # a seconds-long run for tests (32 px, 20 steps)
prepared = None  # a prepared tree with frames.csv; None: the sample corpus, prepared here
condition = "sign"  # "sign" (the original) or "label" (one-hot channels)
position = "corner"  # where the sign goes: "corner" or the original "center"
size = 64  # training crop side (the tiny config); the paper trains at 1024
steps = 600  # training steps of the generator and discriminators
align = True  # FFHQ-align frames with dlib before pairing
seed = 0  # seed of the training run
threads = 1  # torch CPU threads: the tiny model gains little from more, and a shared CPU loses
residual = False  # True: G outputs input + correction (not in the paper; keeps colours and identity)

# %%
# %matplotlib inline
import tempfile
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch

from s2e_lib.edit.pix2pixhd.build import build_dataset
from s2e_lib.edit.pix2pixhd.config import get_config
from s2e_lib.edit.pix2pixhd.dataset import PairDataset
from s2e_lib.edit.pix2pixhd.signs import sign_sheet
from s2e_lib.edit.pix2pixhd.train import predict_pairs, train
from s2e_lib.paths import project_paths
from s2e_lib.viz.pix2pixhd import plot_losses, plot_pairs, plot_results, plot_signs

if smoke:
    size, steps = 32, 20
torch.set_num_threads(threads)
torch.manual_seed(seed)
# a smoke run starts from scratch in a temporary folder; a real run resumes in outputs/
work = (
    Path(tempfile.mkdtemp(prefix="s2e_p2p_smoke_"))
    if smoke
    else project_paths().outputs / "pix2pixhd" / "notebook"
)
device = "cuda" if torch.cuda.is_available() else "cpu"
print("work folder:", work, "| device:", device)

# %% [markdown]
# ## The five signs
#
# The original drew these with OpenCV at the centre of the frame (colours in BGR in its
# code, shown here in RGB): angry a filled white circle, neutral a white ring, fear a
# filled white square, happy a filled red square, sad a filled red circle. A sign at the
# centre covers the nose and mouth — exactly what the generator has to change — so this
# project puts it in a corner by default. Sizes scale with the frame (they were drawn at
# about 512²).

# %%
plot_signs(sign_sheet(size=256, position="center"), title="The original signs (centre of a 256² frame)")
plt.show()

# %% [markdown]
# ## Pairs from prepared frames
#
# `s2e prepare` extracts frames of each take (`frames.csv`: speaker, view, emotion,
# level, utterance, relative position in the take). The pair builder matches every
# emotional frame **B** with a **neutral** frame **A** of the *same speaker and camera
# view* — from the same utterance id when the speaker has a neutral take of it, else any
# neutral take — at the nearest relative position. Neutral frames are never borrowed
# from another speaker. A gets the target emotion's sign (or, for `label`, the emotion
# becomes input channels).
#
# The sample corpus is synthetic (the NASA astronaut photo, warped into each expression,
# with head motion): it checks that the machinery learns, not that it works on people.

# %%
start = time.perf_counter()
if prepared is None:
    from s2e_lib.data.prepare import FaceAligner, prepare
    from s2e_lib.sample import ensure_sample_corpus

    sample = ensure_sample_corpus()
    speakers = ["M001"] if smoke else None
    result = prepare(
        sample,
        work / ("prepared_aligned" if align else "prepared"),
        views=["front"],
        speakers=speakers,
        frame_step=5,
        max_frames=1 if smoke else 4,
        frame_transform=FaceAligner(size=max(size, 64)) if align else None,
        audio=False,
        progress=False,
    )
    print(result.summary())
    prepared = result.out
report = build_dataset(
    prepared,
    work / f"pairs_{condition}_{position}_{size}",
    condition=condition,
    size=size,
    position=position,
    progress=False,
)
print(
    f"{len(report.pairs)} pairs ({report.written} new) in {time.perf_counter() - start:.1f} s;",
    f"{len(report.problems)} problem(s)",
)
report.pairs.groupby(["emotion", "match"]).size().unstack(fill_value=0)

# %%
dataset = PairDataset(report.out)
plot_pairs(dataset, n=5)
plt.show()

# %% [markdown]
# ## Training
#
# The `tiny` config shrinks every width and depth (G1 with 2 downsamplings and 2
# residual blocks, two 2-layer discriminators) so a few hundred steps run on a CPU. The
# losses are pix2pixHD's — least-squares GAN and discriminator feature matching (λ = 10)
# — plus a pixel L1 standing in for the VGG-19 perceptual loss, whose weights are not
# shipped. The run folder keeps a checkpoint (G, D, both Adam states, the step) written
# atomically, so rerunning this cell continues where it stopped.
#
# With `residual = True` the generator outputs *input + a correction* whose last layer
# starts at zero, so it begins as the identity and only has to learn the change. That is
# not in the paper; it exists because the paper's generator normalises its first layer
# (instance norm), which makes it blind to the input's overall colour and contrast — fine
# for the label maps pix2pixHD was built for, costly when the input is a photo of the
# same person.

# %%
config = get_config(
    "tiny",
    size=size,
    steps=steps,
    decay_steps=steps // 2,
    seed=seed,
    residual=residual,
    log_every=max(1, steps // 100),
    sample_every=max(steps // 4, 1),
    checkpoint_every=max(steps // 4, 1),
)
run = work / (f"run_{condition}_{position}_{size}" + ("_residual" if residual else ""))
result = train(report.out, run, config, resume=True, steps=steps, progress=not smoke)
print(result.vgg_note)
print(f"step {result.step}: {result.seconds_per_step:.3f} s/step on {device}")
plot_losses(result.losses)
plt.show()

# %% [markdown]
# ## What the generator makes
#
# Top row: the input (neutral frame + condition); middle: the generator's output; bottom:
# the real frame of that emotion. On the sample corpus the expression lives in a few
# pixels of the mouth and brows, so expect the broad face first and the expression last.
# The paper's generator, after 600 CPU steps, draws an average face in an average colour
# (a frame's own tint is lost, see above); the residual one keeps each input's colours.

# %%
picks = np.linspace(0, len(dataset) - 1, min(6, len(dataset))).astype(int)
inputs, outputs, targets = predict_pairs(run / "generator.pt", dataset, picks)
titles = [f"{dataset.pairs.emotion[i]}" for i in picks]
plot_results(inputs, outputs, targets, titles=titles)
plt.show()
l1 = (outputs - targets).abs().mean().item() / 2
unchanged = (inputs[:, :3] - targets).abs().mean().item() / 2
print(f"mean absolute error to the target: {l1:.3f} (input as it is: {unchanged:.3f}; 0-1 range)")

# %% [markdown]
# ## Editing a photo
#
# `Pix2PixHDEditor` is the editor behind `s2e edit --editor pix2pixhd --checkpoint
# RUN/generator.pt`: it aligns the face, draws the sign (or sets the label), runs the
# generator and pastes the crop back. A model trained a few hundred steps on one
# synthetic face shows the machinery, not a result.

# %%
from skimage import data as skdata

from s2e_lib.edit.base import get_editor
from s2e_lib.emotions import MISSION_EMOTIONS

editor = get_editor("pix2pixhd", checkpoint=run / "generator.pt")
photo = skdata.astronaut()
emotions = MISSION_EMOTIONS[:2] if smoke else MISSION_EMOTIONS
edits = {emotion: editor.edit(photo, emotion) for emotion in emotions}
fig, axes = plt.subplots(1, len(edits) + 1, figsize=(2.6 * (len(edits) + 1), 2.8))
axes[0].imshow(photo[:260, 100:360])
axes[0].set_title("photo")
for ax, (emotion, res) in zip(axes[1:], edits.items(), strict=True):
    ax.imshow(res.image[:260, 100:360])
    ax.set_title(emotion)
for ax in axes:
    ax.axis("off")
plt.show()

# %% [markdown]
# ## Continuing on a GPU
#
# The same code trains the paper's model: `--config paper` is G1 (64 filters, 4
# downsamplings, 9 residual blocks) plus the local enhancer (32 filters, 3 blocks), three
# 3-layer PatchGAN discriminators, Adam 2e-4 / (0.5, 0.999) with linear decay, G1 alone
# at half size first, then G2 with G1 frozen, then both; mixed precision on CUDA. With
# MEAD (see `docs/pix2pixhd.md`):
#
# ```bash
# s2e prepare mead --root data/MEAD --out data/prepared/mead --views front --align --align-size 512
# s2e pix2pixhd build-dataset --prepared data/prepared/mead --out outputs/pix2pixhd/pairs_512 --size 512
# s2e pix2pixhd train --data outputs/pix2pixhd/pairs_512 --out outputs/pix2pixhd/paper_512 \
#     --config paper --size 512 --vgg-weights models/vgg19-dcbb9e9d.pth
# s2e pix2pixhd train --data outputs/pix2pixhd/pairs_512 --out outputs/pix2pixhd/paper_512 --resume
# s2e edit --editor pix2pixhd --checkpoint outputs/pix2pixhd/paper_512/generator.pt \
#     --face photo.jpg --emotion happy --out happy.png
# ```
#
# The VGG-19 weights are torchvision's `vgg19` state dict (any file with `features.*`
# keys); without them the perceptual loss is skipped with a note.
