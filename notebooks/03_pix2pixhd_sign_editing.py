# %% [markdown]
# # 03 · pix2pixHD sign editing
#
# The original project's first approach to showing an emotion on a face: a
# **pix2pixHD** generator (Wang et al., 2018) learns to turn *a neutral photo of a person
# plus an emotion condition* into *that person's photo showing the emotion*. The condition
# was a **sign**, one of five shapes drawn on the neutral frame; here it can also be a set of
# one-hot **label** channels.
#
# The original trained on MEAD's video frames. This notebook trains on **real pairs that sit
# beside the checkout**: the Face Research Lab London Set (`../shared/data/frl_london`,
# DeBruine & Jones 2017, CC BY 4.0, the participants consented to altered use): 102 adults
# photographed neutral and smiling under one studio light. That is *(neutral face + happy
# sign) → the same person smiling*: one emotion, real people. We hold out 21 people and set
# 21 more aside for validation, train on the other 60 (the `cpu` preset and two more phases,
# about 50 minutes on 2 cores in full mode; it resumes where it stopped), choose on the
# validation people what the model's "strength 1" means, and only then look at the held-out
# people: input, output, real smile, with distances and two expression judges. Without the
# set, the notebook falls back to the synthetic sample corpus (labelled as such: it shows the
# machinery, not a result).
#
# **Parameters** (papermill): `frl` (the FRL London folder; `None` finds
# `../shared/data/frl_london`), `prepared` (a prepared MEAD tree instead, `s2e prepare`),
# `condition` (`"sign"` or `"label"`), `position` (`"corner"` or the original `"center"`),
# `size` (`None`: the `cpu` preset's 128 px), `steps` (`None`: the FRL smile recipe, 8,000
# steps in three phases; a number: one phase of the `cpu` preset), `seed`, `threads` (torch CPU
# threads), `strength` (of the edits shown; 1 is the calibrated size), `smoke` (a seconds-long
# run for tests).

# %% tags=["parameters"]
smoke = False  # a seconds-long run for tests (32 px, a few people, 20 steps)
frl = None  # FRL London folder; None: ../shared/data/frl_london when it is there
prepared = None  # a prepared MEAD tree (frames.csv) to train on instead
condition = "sign"  # "sign" (the original) or "label" (one-hot channels)
position = "corner"  # where the sign goes: "corner" or the original "center"
size = None  # training crop side; None: the cpu preset's 128 (the paper trains at 1024)
steps = None  # None: the FRL smile recipe (3000 + 3000 + 2000 steps); a number: one cpu-preset phase
seed = 0  # seed of the training run
threads = 2  # torch CPU threads
strength = 1.0  # edit strength for the held-out people and the new photo

# %%
# %matplotlib inline
import tempfile
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import display

from s2e_lib.edit.pix2pixhd.config import get_config
from s2e_lib.edit.pix2pixhd.dataset import PairDataset
from s2e_lib.edit.pix2pixhd.signs import sign_sheet
from s2e_lib.edit.pix2pixhd.train import CPU_SMILE_PHASES, train_phases
from s2e_lib.paths import project_paths
from s2e_lib.viz.pix2pixhd import plot_losses, plot_pairs, plot_signs

torch.set_num_threads(threads)
torch.manual_seed(seed)
paths = project_paths()
if frl is None and prepared is None and (paths.shared / "data" / "frl_london").is_dir():
    frl = paths.shared / "data" / "frl_london"
source = "frl" if frl is not None and prepared is None else "prepared" if prepared is not None else "sample"
preset = get_config("cpu")
size = size or (32 if smoke else preset.size)
if smoke:
    phases = ((10, None), (20, 30.0))
elif steps is None:
    phases = CPU_SMILE_PHASES if frl is not None and prepared is None else ((preset.steps, None),)
else:
    phases = ((int(steps), None),)
steps = phases[-1][0]
# build_frl_pairs' default split: every 5th person held out, every 4th of the others validation
split_tag = "h5v4"
# a smoke run starts from scratch in a temporary folder; a real run resumes in outputs/
work = (
    Path(tempfile.mkdtemp(prefix="s2e_p2p_smoke_"))
    if smoke
    else paths.outputs / "pix2pixhd" / f"notebook_{source}"
)
device = "cuda" if torch.cuda.is_available() else "cpu"
print(f"pairs from: {source} | work folder: {work} | device: {device} | {size} px, {steps} steps")

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
# ## Pairs
#
# **FRL London.** For each person, the neutral photo is aligned from its own dlib landmarks
# with FFHQ's recipe tightened to the face (`ffhq-face`: FFHQ's square at 0.65 of its side,
# brows to chin, so a 128-px crop shows the mouth at about 40 px instead of 20), and the
# smiling photo is brought onto it by the points a smile does not move (eye corners, nose):
# the two crops differ by the expression, not by the framing (`s2e_lib.edit.pix2pixhd.frl`;
# the same as `s2e pix2pixhd build-frl`). Every fifth person of the sorted ids is held out: 21
# people the model never sees, men and women, white, black, East and West Asian. Of the
# others, every fourth is a **validation** person (21): not trained on, used only to choose
# the edit strength below, so that no choice is made on the held-out people. Where a
# photo ends at the chin, the crop's bottom rows are filled by reflection, in the input and
# the target alike.
#
# **Without the set** the pairs come from a prepared tree (`prepared`), or from the synthetic
# sample corpus (the NASA astronaut photo warped into each expression): that checks the
# machinery learns, not that it works on people.

# %%
start = time.perf_counter()
heldout = None
if source == "frl":
    from s2e_lib.edit.pix2pixhd.frl import build_frl_pairs

    report = build_frl_pairs(
        frl,
        work / f"frl_{split_tag}_{condition}_{position}_{size}",
        size=size,
        condition=condition,
        position=position,
        people=10 if smoke else None,
        progress=not smoke,
    )
    data, heldout, validation = report.train, report.heldout, report.validation
    split = report.split
    print(
        f"{(split.part == 'train').sum()} training, {(split.part == 'validation').sum()} validation and "
        f"{(split.part == 'heldout').sum()} held-out people "
        f"in {time.perf_counter() - start:.1f} s; pair alignment residual "
        f"{split.residual_px.median():.2f} px (median, {size}-px crops)"
    )
    if "ethnicity" in split:
        display(split.groupby(["part", "sex", "ethnicity"]).size().unstack(fill_value=0))
else:
    from s2e_lib.edit.pix2pixhd.build import build_dataset

    if prepared is None:
        from s2e_lib.data.prepare import FaceAligner, prepare
        from s2e_lib.sample import ensure_sample_corpus

        result = prepare(
            ensure_sample_corpus(),
            work / "prepared_aligned",
            views=["front"],
            speakers=["M001"] if smoke else None,
            frame_step=5,
            max_frames=1 if smoke else 4,
            frame_transform=FaceAligner(size=max(size, 64)),
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
        progress=not smoke,
    )
    data = report.out
    print(
        f"{len(report.pairs)} pairs in {time.perf_counter() - start:.1f} s; {len(report.problems)} problem(s)"
    )

# %%
dataset = PairDataset(data)
plot_pairs(dataset, n=5)
plt.show()

# %% [markdown]
# ## Training
#
# The `cpu` preset shrinks pix2pixHD to what two CPU cores train in about 17 minutes: 128²
# crops, G1 with 3 downsamplings, 4 residual blocks and 24 filters, two 3-layer PatchGAN
# discriminators, batch 4, pix2pixHD's resize-and-crop and a colour gain applied alike to both
# images of a pair. The losses are pix2pixHD's (least-squares GAN and discriminator feature
# matching, λ = 10) plus a pixel L1 at pix2pix's weight of 100, standing in for the VGG-19
# perceptual loss, whose weights are not shipped (at a weight of 10 the discriminators won
# within 250 steps and the generator covered the face with a high-frequency pattern). Its generator is **residual** (not in the paper): it outputs *input
# + a correction* whose last layer starts at zero, so it begins as the identity and only has
# to learn the change, and it keeps each person's colours.
#
# On FRL the preset's 3,000 steps are the first of three phases (`CPU_SMILE_PHASES`): a warm
# restart of the learning rate to 6,000 steps, then 2,000 steps with the pixel L1 weight cut
# from 100 to 30, so the discriminators weigh more and the smile sharpens (docs/pix2pixhd.md
# measures each). The run folder keeps a checkpoint (G, D, both Adam states, the step) written
# atomically every 250 steps, so rerunning this cell continues where it stopped.

# %%
config = get_config(
    "cpu",
    size=size,
    steps=phases[0][0],
    decay_steps=min(preset.decay_steps, phases[0][0] // 2),  # each phase decays over its last 1,500
    seed=seed,
    log_every=max(1, min(preset.log_every, phases[0][0] // 10)),
    sample_every=max(1, min(preset.sample_every, phases[0][0] // 2)),
    checkpoint_every=max(1, min(preset.checkpoint_every, phases[0][0] // 2)),
    batch_size=2 if smoke else preset.batch_size,
)
# the FRL folders name the split (held out every 5th, validation every 4th): a folder built or
# trained before the validation people existed is never resumed with a different split
run = work / (
    f"run_frl_{split_tag}_{condition}_{position}_{size}"
    if source == "frl"
    else f"run_{source}_{condition}_{position}_{size}"
)
result = train_phases(data, run, config, phases, progress=True)
print(result.vgg_note)
print(
    f"step {result.step}: "
    + (
        f"{result.seconds_per_step:.3f} s/step on {device}"
        if result.seconds_per_step
        else "the run had already finished (resumed, nothing to train)"
    )
)
plot_losses(result.losses)
plt.show()

# %% [markdown]
# ## What "strength 1" means, chosen on validation people
#
# Pixel L1 makes the generator predict the *average* change of 60 people's smiles, closed-lip
# and toothy alike: a weaker smile than anyone's. So its change, added at strength 1,
# under-shoots a real smile. `calibrate_strength` edits each validation person at a grid of
# strengths and measures the size of the smile with a third instrument, MediaPipe's
# `mouthSmile` blendshapes (not the judges used below), and picks the strength at which the
# edits' mean reaches the real smiles' mean. The scale is stored in a copy of the checkpoint
# (`generator_calibrated.pt`, as `s2e pix2pixhd calibrate` writes it); from then on the
# editor's strength 1 means "the size of a real smile".

# %%
checkpoint = run / "generator.pt"
if heldout is not None:
    from s2e_lib.edit.pix2pixhd.calibrate import calibrate_strength, format_calibration, save_calibrated

    calibration = calibrate_strength(
        checkpoint,
        validation,
        grid=(1.0, 2.0) if smoke else (0.75, 1.0, 1.125, 1.25, 1.375, 1.5, 1.75, 2.0),
        progress=not smoke,
    )
    print(format_calibration(calibration))
    checkpoint = save_calibrated(checkpoint, calibration, run / "generator_calibrated.pt", overwrite=True)
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.plot(list(calibration.curve), list(calibration.curve.values()), "o-", label="edits")
    ax.axhline(calibration.target, color="k", ls="--", label="real smiles")
    ax.axvline(calibration.strength_scale, color="C3", ls=":", label="chosen")
    ax.set(xlabel="model strength", ylabel="mouthSmile (mean)", title="Validation people")
    ax.legend()
    plt.show()

# %% [markdown]
# ## Held-out people
#
# Each held-out person's neutral **photo** goes through the editor exactly as `s2e edit
# --editor pix2pixhd --checkpoint RUN/generator_calibrated.pt` sends it (align, draw the sign, run G,
# put the change back into the photo at its own resolution), and is compared with the same
# person's real smile:
#
# - **L1** and two perceptual distances in the aligned crop: **DSSIM** (structural
#   dissimilarity) and the **feature distance** of an expression network (LPIPS's recipe on
#   the FER2013 judge's layers), each beside the *identity baseline*: the input as it is. A
#   model that learned nothing stays at the baseline; one that draws the smile gets below it.
# - What two independent expression judges (FER2013 networks from `fer` and from
#   `@vladmandic/human`) name on the edit, beside what they name on the real smile: closed-lip
#   smiles are hard for them, so the real photos set the bar.
# - The **identity distance** (dlib's face descriptor) between the neutral photo and the edit;
#   the real smile's distance is shown for scale (0.6 is dlib's "another person").

# %%
if heldout is not None:
    from s2e_lib.edit.pix2pixhd.evaluate import evaluate_heldout, format_summary
    from s2e_lib.viz.pix2pixhd import plot_heldout

    evaluation = evaluate_heldout(checkpoint, heldout, strength=strength, progress=not smoke)
    print(format_summary(evaluation.summary))
    plot_heldout(evaluation, n=len(evaluation.rows) if smoke else 8)
    plt.show()
    display(evaluation.rows.round(3))
else:
    from s2e_lib.edit.pix2pixhd.train import predict_pairs
    from s2e_lib.viz.pix2pixhd import plot_results

    picks = np.linspace(0, len(dataset) - 1, min(6, len(dataset))).astype(int)
    inputs, outputs, targets = predict_pairs(checkpoint, dataset, picks)
    plot_results(inputs, outputs, targets, titles=[f"{dataset.pairs.emotion[i]}" for i in picks])
    plt.show()
    l1 = (outputs - targets).abs().mean().item() / 2
    unchanged = (inputs[:, :3] - targets).abs().mean().item() / 2
    print(f"mean absolute error to the target: {l1:.3f} (input as it is: {unchanged:.3f}; 0-1 range)")

# %% [markdown]
# ## Editing a new photo
#
# `Pix2PixHDEditor` is the editor behind `s2e edit --editor pix2pixhd --checkpoint
# RUN/generator.pt`. A model trained on FRL knows `happy` (and leaves a face as it is for
# `neutral`); the other emotions are refused with the list of what it knows. The photos
# here are the three in `../shared/data/faces` when present, else scikit-image's astronaut.

# %%
from s2e_lib.edit.base import get_editor
from s2e_lib.face.io import load_image

editor = get_editor("pix2pixhd", checkpoint=checkpoint)
faces_dir = paths.shared / "data" / "faces"
photos = (
    sorted(p for p in faces_dir.glob("*") if p.suffix.lower() in {".jpg", ".jpeg", ".png"})
    if faces_dir.is_dir()
    else []
)
if not photos:
    from skimage import data as skdata

    images = {"astronaut": skdata.astronaut()}
else:
    images = {p.stem: load_image(p) for p in photos[: 1 if smoke else 3]}
emotion = "happy" if "happy" in editor.emotions else editor.emotions[0]
fig, axes = plt.subplots(len(images), 2, figsize=(6, 3 * len(images)), squeeze=False)
for row, (name, image) in zip(axes, images.items(), strict=True):
    edited = editor.edit(image, emotion, strength=strength).image
    row[0].imshow(image)
    row[0].set_title(name)
    row[1].imshow(edited)
    row[1].set_title(f"{emotion} (strength {strength})")
    for ax in row:
        ax.axis("off")
plt.show()

# %% [markdown]
# ## Continuing on a GPU
#
# The same code trains the paper's model: `--config paper` is G1 (64 filters, 4
# downsamplings, 9 residual blocks) plus the local enhancer (32 filters, 3 blocks), three
# 3-layer PatchGAN discriminators, Adam 2e-4 / (0.5, 0.999) with linear decay, G1 alone
# at half size first, then G2 with G1 frozen, then both; mixed precision on CUDA. With
# FRL London, or with MEAD (see `docs/pix2pixhd.md`):
#
# ```bash
# s2e pix2pixhd build-frl --root ../shared/data/frl_london --out outputs/pix2pixhd/frl_512 --size 512
# s2e pix2pixhd train --data outputs/pix2pixhd/frl_512/train --out outputs/pix2pixhd/frl_paper \
#     --config paper --size 512 --vgg-weights models/vgg19-dcbb9e9d.pth
# s2e pix2pixhd evaluate --checkpoint outputs/pix2pixhd/frl_paper/generator.pt \
#     --data outputs/pix2pixhd/frl_512/heldout
# # MEAD: all five emotions
# s2e prepare mead --root data/MEAD --out data/prepared/mead --views front --align --align-size 512
# s2e pix2pixhd build-dataset --prepared data/prepared/mead --out outputs/pix2pixhd/pairs_512 --size 512
# s2e pix2pixhd train --data outputs/pix2pixhd/pairs_512 --out outputs/pix2pixhd/paper_512 \
#     --config paper --size 512 --vgg-weights models/vgg19-dcbb9e9d.pth
# s2e edit --editor pix2pixhd --checkpoint outputs/pix2pixhd/paper_512/generator.pt \
#     --face photo.jpg --emotion happy --out happy.png
# ```
#
# The VGG-19 weights are torchvision's `vgg19` state dict (any file with `features.*`
# keys); without them the perceptual loss is skipped with a note.
