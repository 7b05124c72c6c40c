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
# the landmarks the way the facial muscles would (FACS action units), warping the photo
# smoothly to follow, and painting what a warp cannot make: a mouth interior, eye whites,
# folds and furrows. Finally we check that the person is still the same person
# (dlib's identity distance) and play with the strength.
#
# Everything here calls `s2e_lib.face`, `s2e_lib.edit.warp` and `s2e_lib.viz.face`; the
# same edit is `s2e edit --face IMG --emotion happy --out OUT.png` on the command line.

# %% tags=["parameters"]
smoke = False
face_path = None  # a photo with a face; None: scikit-image's astronaut
strength = 1.0  # 0: unchanged, 1: default, 1.5: exaggerated
emotions = ["neutral", "happy", "sad", "angry", "fear"]

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import skimage.data

from s2e_lib.edit.warp import RECIPES, WarpEditor
from s2e_lib.face import align_face, detect_faces, identity_distance, load_image, paste_back
from s2e_lib.viz.face import edit_grid, plot_alignment, plot_identity, plot_landmarks

image = skimage.data.astronaut() if face_path is None else load_image(face_path)
strengths = [0.0, 1.0] if smoke else [0.0, 0.5, 1.0, 1.5]
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
# intensities, each a displacement of some landmarks in inter-ocular units, plus the
# appearance cues the geometry cannot carry.

# %%
pd.DataFrame(
    [
        {
            "emotion": e,
            "action units": ", ".join(f"{k} {v:g}" for k, v in r.aus.items()),
            "appearance": ", ".join(r.appearance),
            "source": r.source,
        }
        for e, r in RECIPES.items()
    ]
)

# %% [markdown]
# ## 4 · The edit grid
#
# Rows are emotions, columns strengths (0 = the input).

# %%
editor = WarpEditor()
grid = edit_grid(image, editor, emotions, strengths, face=face, tile=160 if smoke else 220)
plt.figure(figsize=(3 * len(strengths), 3 * len(emotions)))
plt.imshow(grid)
plt.axis("off")
plt.show()

# %% [markdown]
# ## 5 · Is it still the same person?
#
# dlib's 128-d descriptor distance between the input and each edit (below 0.6 = same
# person by dlib's convention; our goal is at most 0.4 on average).

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
