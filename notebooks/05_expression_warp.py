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
# # 05 · Expression editing with facial action units (the warp editor)
#
# The offline face editor: no trained weights, only dlib's landmark model. We find the
# face and its 68 landmarks, align it the FFHQ way, then change its expression by moving
# the landmarks the way the facial muscles would (FACS action units) and warping the
# photo smoothly to follow. The editor invents as little as it can: a closed mouth stays
# closed or barely parted (no painted teeth), an open mouth keeps its own teeth, glasses
# stay rigid, folds are faint luminance shading, and the few synthesized pixels (a dark
# gap between the lips, eye white under a raised lid) get the photo's grain and blur.
# Finally we check that the person is still the same person (dlib's identity distance)
# and play with the strength.
#
# Everything here calls `s2e_lib.face`, `s2e_lib.edit.warp` and `s2e_lib.viz.face`; the
# same edit is `s2e edit --face IMG --emotion happy --out OUT.png` on the command line.

# %% tags=["parameters"]
smoke = False  # True runs a quick version
face_path = ""  # a photo with a face, empty for the scikit-image astronaut
strength = 1.0  # 0 is unchanged, 1 the default, 1.5 intense
emotions = ["neutral", "happy", "sad", "angry", "fear"]  # rows of the grids

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import skimage.data

from s2e_lib.edit.warp import RECIPES, WarpEditor
from s2e_lib.face import align_face, detect_faces, identity_distance, load_image, paste_back
from s2e_lib.viz.face import edit_grid, plot_alignment, plot_identity, plot_landmarks

image = load_image(face_path) if face_path else skimage.data.astronaut()
strengths = [0.0, 1.0] if smoke else [0.0, 0.5, 1.0, 1.5]  # 0 shows the original
if smoke:
    emotions = emotions[:3]
image.shape

# %% [markdown]
# ## 1 · Landmarks
#
# dlib's HOG detector (run on a copy at most 640 px wide) and its 68-point predictor (on the full photo).

# %%
faces = detect_faces(image)
face = faces[0]
print(
    f"{len(faces)} face(s); box {tuple(round(v) for v in face.box)}, inter-ocular distance {face.interocular:.1f} px"
)
plot_landmarks(image, faces)
plt.show()

# %% [markdown]
# ## 2 · Alignment
#
# Two crops: the FFHQ recipe (eye and mouth centres define an oriented square) and the
# original project's 5-point similarity onto the FFHQ template. Both keep the matrix, so
# an edited crop can be pasted back: the round trip below should be nearly lossless.

# %%
aligned = [
    align_face(image, size=256 if smoke else 1024, method=m, face=face) for m in ("ffhq", "five-point")
]
plot_alignment(image, aligned)
plt.show()
for a in aligned:
    back = paste_back(image, a.image, a)
    print(
        f"{a.method:10s} paste-back mean abs error {np.abs(back.astype(int) - image).mean():.3f} grey levels"
    )

# %% [markdown]
# ## 3 · Emotions as recipes of action units
#
# Each emotion is an EMFACS prototype (Ekman & Friesen): a few action units with
# intensities, each a displacement of some landmarks in inter-ocular units, plus faint
# shading cues the geometry cannot carry. A photo whose mouth is closed gets the variants
# that keep it closed or barely parted (closed-lip smile 6+12, anger with pressed lips
# 4+7+23+24, fear with a narrow dark gap 1+2+4+5+20+25, sadness 1+4+15+17); a photo whose
# mouth is already open gets `open_aus`, which warps its own teeth with the lips.

# %%
pd.DataFrame(
    [
        {
            "emotion": e,
            "action units (closed mouth)": ", ".join(f"{k} {v:g}" for k, v in r.aus.items()),
            "open mouth": ", ".join(f"{k} {v:g}" for k, v in (r.open_aus or {}).items()) or "same",
            "shading": ", ".join(r.appearance),
            "source": r.source,
        }
        for e, r in RECIPES.items()
    ]
)

# %% [markdown]
# Strength saturates: displacements scale with `tanh(1.1 s) / tanh(1.1)`, so 0.5 is a
# mild expression, 1 the default and 1.5 an intense one, not a 1.5× distortion.

# %%
from s2e_lib.edit.warp.recipes import saturate

s = np.linspace(0, 1.5, 31)
plt.figure(figsize=(4, 3))
plt.plot(s, s, ":", label="linear")
plt.plot(s, [saturate(v) for v in s], label="displacement scale")
plt.xlabel("strength")
plt.legend()
plt.show()

# %% [markdown]
# ## 4 · The edit grid
#
# Rows are emotions; the first column is the original photo, then strengths 0.5, 1 and
# 1.5. The second grid is matplotlib's Grace Hopper sample: she wears glasses, which the
# editor finds (edge energy along the frame's bridge and rims) and keeps rigid.

# %%
from s2e_lib.edit.warp.glasses import glasses_evidence
from s2e_lib.edit.warp.photo import photo_stats

editor = WarpEditor()
tile = 150 if smoke else 220
grid = edit_grid(image, editor, emotions, strengths, face=face, tile=tile)
plt.figure(figsize=(3 * len(strengths), 3 * len(emotions)))
plt.imshow(grid)
plt.axis("off")
plt.title("original | " + " | ".join(f"strength {s:g}" for s in strengths[1:]))
plt.show()
stats = photo_stats(image, face.landmarks)
print(
    f"photo noise {stats.noise:.1f} grey levels, blur {stats.blur:.2f} px, "
    f"glasses: {glasses_evidence(image, face.landmarks)}"
)

# %%
import matplotlib.cbook

hopper = load_image(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
hopper_face = detect_faces(hopper)[0]
print("glasses:", glasses_evidence(hopper, hopper_face.landmarks))
if not smoke:
    grid = edit_grid(hopper, editor, emotions, strengths, face=hopper_face, tile=tile)
    plt.figure(figsize=(3 * len(strengths), 3 * len(emotions)))
    plt.imshow(grid)
    plt.axis("off")
    plt.show()

# %% [markdown]
# ## 5 · Is it still the same person?
#
# dlib's 128-d descriptor distance between the input and each edit (below 0.6 = same
# person by dlib's convention; our goal is at most 0.35 on average).

# %%
edits = {e: editor.edit(image, e, strength, faces=[face]) for e in emotions}
distances = {e: identity_distance(image, r.image, face_a=face) for e, r in edits.items()}
print(
    {e: round(d, 3) for e, d in distances.items()}, "mean", round(float(np.mean(list(distances.values()))), 3)
)
print({e: r.info["timings_ms"]["total_ms"] for e, r in edits.items()}, "ms per edit")
plot_identity(distances)
plt.show()

# %% [markdown]
# ## 6 · Try the strength
#
# Move the slider (in JupyterLab; a static run shows only the widget's description).

# %%
import ipywidgets as widgets

from s2e_lib.viz.face import face_crop_box

box = face_crop_box(face, image.shape)


def show(emotion="happy", strength=1.0):
    out = editor.edit(image, emotion, strength, faces=[face]).image
    plt.figure(figsize=(4, 4))
    plt.imshow(out[box[1] : box[3], box[0] : box[2]])
    plt.axis("off")
    plt.show()


slider = widgets.interactive(
    show,
    {"manual": False},
    emotion=widgets.Dropdown(options=list(RECIPES), value="happy"),
    strength=widgets.FloatSlider(value=strength, min=0.0, max=1.5, step=0.1),
)
slider if not smoke else type(slider).__name__
