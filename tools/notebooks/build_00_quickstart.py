"""Build notebooks/00_quickstart.ipynb (run from the repository root)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tools.nbtools import write_notebook  # noqa: E402

CELLS = [
    (
        "md",
        """
# 00 · Quickstart: voice → emotion → face

The whole product in one notebook. A recording goes through the speech-emotion model
(MFCC-family features into a small PyTorch network, trained on RAVDESS speakers), the top
emotion and the model's confidence choose an expression and a strength, and an editor
changes the face in a photo to match.

**Parameters** (papermill `parameters` cell):
- `audio` — a recording (any format PyAV reads). Empty: a level-3 *angry* utterance of the
  synthetic sample corpus (generated offline on first use; it is synthetic speech, never
  real emotion data).
- `face` — a photo with a face. Empty: scikit-image's *astronaut* (public domain, NASA).
- `editor` — `warp` (offline FACS landmark warp, the default), `pix2pixhd` (needs a trained
  checkpoint), `ials` (needs IALS's `pretrain/` folder).
- `strength` — `"auto"` (from the classifier's confidence) or a number in 0…1.5.
- `smoke` — small, fast run for CI.

The same job from a terminal: `s2e run --audio A --face F --out-dir outputs/run`.
""",
    ),
    (
        "params",
        """
audio = ""  # empty: a sample-corpus utterance
face = ""  # empty: scikit-image's astronaut
editor = "warp"
strength = "auto"
smoke = False
""",
    ),
    (
        "code",
        """
%matplotlib inline
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import Audio, Image, display

from s2e_lib.audio import load_audio
from s2e_lib.data.sample import ensure_sample_corpus
from s2e_lib.demo import astronaut_photo, concatenate, pick_utterances
from s2e_lib.paths import project_paths
from s2e_lib.pipeline.run import Pipeline, RunConfig

out = project_paths().outputs / "quickstart"
corpus = ensure_sample_corpus()
samples = pick_utterances(corpus)
audio = Path(audio) if audio else samples["angry"]
face = Path(face) if face else astronaut_photo(out)
print("voice:", audio)
print("face: ", face)
""",
    ),
    ("md", "## Listen\n\nThe pipeline hears 16 kHz mono; any input is decoded and resampled in-process."),
    (
        "code",
        """
voice = load_audio(audio)
display(Audio(voice, rate=16000))
print(f"{voice.size / 16000:.2f} s")
""",
    ),
    (
        "md",
        """
## Run the pipeline

`Pipeline` loads the speech model and the editor once; `run_pair` classifies the voice,
picks the strength, edits the face, measures identity preservation (dlib's face-descriptor
distance; < 0.6 is the same person by dlib's convention) and writes `result.json`,
`edited.png` and `summary.png`.
""",
    ),
    (
        "code",
        """
pipeline = Pipeline(RunConfig(editor=editor, strength=strength, overwrite=True))
result = pipeline.run_pair(audio, face, out / "single")
pd.Series(result["probabilities"], name="probability").sort_values(ascending=False).to_frame()
""",
    ),
    (
        "code",
        """
print(f"emotion {result['emotion']}, strength {result['strength']} ({result['strength_mode']}), "
      f"identity distance {result['identity_distance']}")
display(Image(filename=result["outputs"]["summary.png"]))
pd.Series(result["seconds"], name="seconds").to_frame().T
""",
    ),
    (
        "md",
        """
## One voice per emotion

The same face driven by a sample utterance of each mission emotion. On the synthetic
corpus the model may well be wrong: it was trained on human actors, and the sample voices
are a source–filter synthesiser.
""",
    ),
    (
        "code",
        """
rows = []
chosen = dict(list(samples.items())[:2]) if smoke else samples
fig, axes = plt.subplots(1, len(chosen), figsize=(3.2 * len(chosen), 3.6))
for ax, (spoken, path) in zip(axes, chosen.items()):
    r = pipeline.run_pair(path, face, out / f"voice_{spoken}")
    rows.append({"spoken": spoken, "heard": r["emotion"], "confidence": r["confidence"],
                 "strength": r["strength"], "identity_distance": r["identity_distance"]})
    ax.imshow(plt.imread(r["outputs"]["edited.png"]))
    ax.set_title(f"spoken {spoken}\\nheard {r['emotion']} ×{r['strength']:.2f}")
    ax.axis("off")
plt.tight_layout()
pd.DataFrame(rows)
""",
    ),
    (
        "md",
        """
## Emotion over time

For a recording longer than a few seconds, the model classifies sliding windows, the
probabilities are smoothed over time, and the face follows the voice: the strength falls to
zero where the top emotion changes, so the face passes through neutral instead of jumping.
Here: the sample utterances one after another.
""",
    ),
    (
        "code",
        """
from s2e_lib.pipeline.animate import run_timeline

long_audio = concatenate(list(chosen.values()), out / "concatenated.wav")
timeline = run_timeline(long_audio, face, out / "timeline", pipeline=pipeline, window_s=1.5, hop_s=0.25,
                        smooth_s=0.5, fps=4 if smoke else 10, progress=False)
display(Image(filename=timeline["outputs"]["timeline.png"]))
display(Image(filename=timeline["outputs"]["animation.gif"]))
print("MP4 with the voice:", timeline["outputs"]["animation.mp4"])
""",
    ),
    (
        "md",
        """
## Try it yourself

Pick a voice and a face (or upload your own), choose the editor and the strength, and press
**Run**. The slider re-runs the edit when *auto strength* is off.
""",
    ),
    (
        "code",
        """
from s2e_lib.viz.widgets import QuickstartPanel

panel = QuickstartPanel({f"sample {k}": v for k, v in samples.items()}, {"astronaut": face}, out / "panel",
                        editor=editor)
display(panel.widget)
if smoke:  # exercise the panel's logic without a browser
    panel.auto.value = False
    panel.strength.value = 0.5
    assert panel.run()["strength"] == 0.5
""",
    ),
]

if __name__ == "__main__":
    write_notebook(ROOT / "notebooks" / "00_quickstart.ipynb", CELLS)
