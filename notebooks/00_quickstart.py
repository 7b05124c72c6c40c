# %% [markdown]
# # 00 · Quickstart: voice → emotion → face
#
# The whole product in one notebook. A recording goes through the speech-emotion model
# (MFCC-family features into a small PyTorch network, trained on RAVDESS speakers), the top
# emotion and the model's confidence choose an expression and a strength, and an editor
# changes the face in a photo to match.
#
# **Parameters** (papermill `parameters` cell):
# - `audio` — a recording (any format PyAV reads). Empty: a level-3 *angry* utterance of the
#   synthetic sample corpus (generated offline on first use; it is synthetic speech, never
#   real emotion data).
# - `face` — a photo with a face. Empty: scikit-image's *astronaut* (public domain, NASA).
# - `editor` — `warp` (offline FACS landmark warp, the default), `pix2pixhd` (needs a trained
#   checkpoint), `ials` (needs IALS's `pretrain/` folder).
# - `strength` — `"auto"` (from the classifier's confidence) or a number in 0…1.5.
# - `smoke` — small, fast run for CI.
#
# The same job from a terminal: `s2e run --audio A --face F --out-dir outputs/run`.

# %% tags=["parameters"]
audio = ""  # empty: a sample-corpus utterance
face = ""  # empty: scikit-image's astronaut
editor = "warp"  # warp, pix2pixhd or ials
strength = "auto"  # "auto" or a number in 0 to 1.5
smoke = False  # True: fewer voices, fewer frames (CI)

# %%
# %matplotlib inline
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import Audio, Image, Video, display
from tqdm.auto import tqdm

from s2e_lib.audio import load_audio
from s2e_lib.demo import astronaut_photo, concatenate, pick_utterances
from s2e_lib.paths import project_paths
from s2e_lib.pipeline.run import Pipeline, RunConfig
from s2e_lib.sample import ensure_sample_corpus

out = project_paths().outputs / "quickstart"
corpus = ensure_sample_corpus()
samples = pick_utterances(corpus)
audio = Path(audio) if audio else samples["angry"]
face = Path(face) if face else astronaut_photo(out)
print("voice:", audio)
print("face: ", face)

# %% [markdown]
# ## Listen
#
# The pipeline hears 16 kHz mono; any input is decoded and resampled in-process.

# %%
voice = load_audio(audio)
display(Audio(voice, rate=16000))
print(f"{voice.size / 16000:.2f} s")

# %% [markdown]
# ## Run the pipeline
#
# `Pipeline` loads the speech model and the editor once; `run_pair` classifies the voice,
# picks the strength, edits the face, measures identity preservation (dlib's face-descriptor
# distance; < 0.6 is the same person by dlib's convention) and writes `result.json`,
# `edited.png` and `summary.png`.

# %%
pipeline = Pipeline(RunConfig(editor=editor, strength=strength, overwrite=True))
result = pipeline.run_pair(audio, face, out / "single")
pd.Series(result["probabilities"], name="probability").sort_values(ascending=False).to_frame()

# %%
print(
    f"emotion {result['emotion']}, strength {result['strength']} ({result['strength_mode']}), "
    f"identity distance {result['identity_distance']}"
)
display(Image(filename=result["outputs"]["summary.png"]))
pd.Series(result["seconds"], name="seconds").to_frame().T

# %% [markdown]
# ## One voice per emotion
#
# The same face driven by a sample utterance of each mission emotion. On the synthetic
# corpus the model may well be wrong: it was trained on human actors, and the sample voices
# are a source–filter synthesiser.

# %%
rows = []
chosen = dict(list(samples.items())[:2]) if smoke else samples
fig, axes = plt.subplots(1, len(chosen), figsize=(3.2 * len(chosen), 3.6))
for ax, (spoken, path) in tqdm(list(zip(axes, chosen.items(), strict=False)), desc="voices", unit="voice"):
    r = pipeline.run_pair(path, face, out / f"voice_{spoken}")
    rows.append(
        {
            "spoken": spoken,
            "heard": r["emotion"],
            "confidence": r["confidence"],
            "strength": r["strength"],
            "identity_distance": r["identity_distance"],
        }
    )
    ax.imshow(plt.imread(r["outputs"]["edited.png"]))
    ax.set_title(f"spoken {spoken}\nheard {r['emotion']} ×{r['strength']:.2f}")
    ax.axis("off")
plt.tight_layout()
pd.DataFrame(rows)

# %% [markdown]
# ## Emotion over time
#
# For a recording longer than a few seconds, the model classifies sliding windows, the
# probabilities are smoothed over time, and the face follows the voice: the strength falls to
# zero where the top emotion changes, so the face passes through neutral instead of jumping.
# Here: the sample utterances one after another.

# %%
from s2e_lib.pipeline.animate import run_timeline

long_audio = concatenate(list(chosen.values()), out / "concatenated.wav")
timeline = run_timeline(
    long_audio,
    face,
    out / "timeline",
    pipeline=pipeline,
    window_s=1.5,
    hop_s=0.25,
    smooth_s=0.5,
    fps=4 if smoke else 10,
    progress=True,  # a bar per step: the windows classified, the frames drawn
)
display(Image(filename=timeline["outputs"]["timeline.png"]))
# the animation (H.264 with the voice), embedded so it plays in JupyterLab and in the executed copy
display(Video(timeline["outputs"]["animation.mp4"], embed=True, width=360))

# %% [markdown]
# ## Try it yourself
#
# Pick a voice and a face, or upload your own: the result follows every change.
# - **editor** lists the editors that can run on this machine; the others are greyed out
#   beside it with what they need (a pix2pixHD checkpoint, IALS's weights).
# - **emotion** — *from the voice* (the classifier's top emotion), or an emotion of your choice
#   for the face (the probabilities shown stay the voice's).
# - **auto strength** — the strength comes from the classifier's confidence; the slider is then
#   disabled and shows the strength used. Untick it to set the strength with the slider.
#
# An error (a file that is not a recording or has no face) hides the previous result and names
# the file. In the browser, `make test-browser` checks all of this.

# %%
from s2e_lib.pipeline.panel import QuickstartPanel

panel = QuickstartPanel(
    {f"sample {k}": v for k, v in samples.items()},
    {"astronaut": face},
    out / "panel",
    editor=editor,
    strength=strength,
)
display(panel.widget)
panel.show()
if smoke:  # exercise the panel's logic without a browser: the widgets' callbacks re-run it
    panel.auto.value = False
    panel.strength.value = 0.5
    assert panel.result["strength"] == 0.5 and not panel.strength.disabled
