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
# # 01 · MEAD preparation
#
# Every later notebook starts from a **manifest**: one row per take (a speaker saying one
# sentence in one emotion at one intensity level), with its audio, its videos and its
# duration. Here we scan a MEAD tree (or RAVDESS: same code path), look at what is in it,
# split the speakers so that test speakers are never heard in training, and **prepare**
# it: 16 kHz mono wavs for the speech-emotion classifier and face frames (optionally
# FFHQ-aligned) for the face editors.
#
# Without MEAD on disk the notebook uses the project's **synthetic sample corpus**
# (`s2e sample`), generated offline if absent: synthetic voices whose pitch, range, rate,
# loudness and voice quality follow the textbook correlates of each emotion, and the
# scikit-image astronaut photo with each expression drawn by the warp editor. It is
# **not real emotion data**: figures on it say that the code runs, not how well it hears
# people.
#
# The command-line equivalent of this notebook is
# `s2e prepare mead --root data/MEAD --out data/prepared/mead --test-speakers M003,W009`.

# %% tags=["parameters"]
smoke = False  # a seconds-long run for tests: one frame per video, two speakers prepared
mead_root = None  # a MEAD (or RAVDESS) root; None: the sample corpus (generated if absent)
emotions = ["angry", "neutral", "fear", "happy", "sad"]  # the emotions scanned and prepared
levels = None  # e.g. [3] for the strongest takes only (the original project used level 3)
views = ["front"]  # MEAD camera views whose videos are used; None: every view present
frame_step = 5  # keep every N-th video frame
frames = "all"  # or "first", "middle", "last" (with max_frames)
max_frames = None  # at most this many frames per video; None: no limit
align = False  # align every frame's face to an FFHQ crop (dlib, slower)
test_speakers = None  # e.g. M003,W009 as one string; None: drawn (gender-balanced)
n_test = 2  # test speakers drawn when test_speakers is None
seed = 0  # seed of the speaker draw
out_dir = None  # None: data/prepared/(corpus name), outputs/smoke/... in smoke mode
jobs = 1  # worker processes for the preparation; 1 runs in this process

# %%
# %matplotlib inline
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from s2e_lib.audio import load_audio
from s2e_lib.data import assign_split, scan, speaker_split
from s2e_lib.data.prepare import FaceAligner, prepare
from s2e_lib.paths import project_paths
from s2e_lib.sample import ensure_sample_corpus
from s2e_lib.viz.data import contact_sheet, plot_clips, plot_counts, plot_durations

paths = project_paths()
root = ensure_sample_corpus() if mead_root is None else Path(mead_root)
if smoke:  # one frame per video, and (below) only two speakers are prepared
    frames, max_frames = "middle", 1
if out_dir is None:
    out_dir = (
        (paths.outputs / "smoke" / f"prepared_{root.name}") if smoke else paths.data / "prepared" / root.name
    )
print("corpus:", root)
print("prepared tree:", out_dir)

# %% [markdown]
# ## 1 · Scan: the manifest
#
# `scan` reads the folder layout only (plus each audio file's duration). Missing parts
# (an actor whose `video.tar` was never unpacked, a view that is absent, a corrupt file)
# do not stop it: they are collected in `df.attrs["problems"]`. The original project's
# spelling `netural` is read as `neutral`.

# %%
df = scan(root, emotions=emotions, levels=levels, views=views)
scan_problems = pd.DataFrame(df.attrs["problems"], columns=["path", "stage", "error"])
print(
    f"{len(df)} takes, {df.speaker.nunique()} speakers, {df.duration.sum() / 60:.1f} min of audio, "
    f"{len(scan_problems)} problems"
)
df.head()

# %% [markdown]
# How balanced is it? MEAD records ~30 sentences per emotion and level, and neutral only at level 1.

# %%
fig, axes = plt.subplots(
    1, 2, figsize=(13, 0.32 * df.speaker.nunique() + 2.5), gridspec_kw={"width_ratios": [1, 1.3]}
)
plot_counts(df, ax=axes[0])
plot_durations(df, ax=axes[1])
plt.tight_layout()

# %% [markdown]
# ## 2 · Speaker-independent split
#
# A classifier that has heard a speaker in training recognises the voice as much as the
# emotion, so test (and validation) speakers are held out entirely. The draw alternates
# genders, is deterministic for a seed, and explicit lists are accepted.

# %%
split = speaker_split(df, n_test=n_test, seed=seed, test_speakers=test_speakers)
df = assign_split(df, split)
pd.crosstab(df["split"], df["gender"])

# %%
{name: ", ".join(members) for name, members in split.items()}

# %% [markdown]
# ## 3 · What the emotions sound like
#
# One take per emotion from the same speaker: the waveform (loudness and rhythm), the
# log-mel spectrogram (pitch harmonics, formants, fricative noise) and the 13 MFCCs the
# classifier of notebook 02 starts from. On the sample corpus, angry is loud and bright,
# sad slow, soft and dark, fear high and irregular, happy high with a wide range.

# %%
speaker = df["speaker"].iloc[0]
clips = {}
for emotion in emotions:
    rows = df[(df.speaker == speaker) & (df.emotion == emotion)].sort_values("level")
    if len(rows):
        row = rows.iloc[-1]
        clips[f"{emotion} (L{row.level})"] = load_audio(row.audio_path)
plot_clips(clips)
plt.show()

# %% [markdown]
# ## 4 · Prepare: wavs and frames
#
# `prepare` decodes every take with PyAV in-process (no system ffmpeg), writes 16 kHz mono
# wavs, extracts every `frame_step`-th frame of the chosen views (optionally aligned to an
# FFHQ crop by the face stage) and writes `manifest.csv`, `frames.csv` and
# `problems.csv`. It is **resumable**: a second run with the same parameters skips every
# take already done, and each file is written under a temporary name and renamed.

# %%
transform = FaceAligner(size=256) if align else None
speakers = df.groupby("gender")["speaker"].first().tolist() if smoke else None
options = dict(
    emotions=emotions,
    levels=levels,
    views=views,
    speakers=speakers,
    frame_step=frame_step,
    frames=frames,
    max_frames=max_frames,
    frame_transform=transform,
    jobs=jobs,
)
result = prepare(root, out_dir, **options)
print(result.summary())
print(f"{result.audio_seconds:.0f} s of audio decoded in {result.seconds:.1f} s")
again = prepare(root, out_dir, **options, progress=False)
print("second run:", again.summary())

# %% [markdown]
# A contact sheet of extracted frames, round-robin over emotions (the pix2pixHD notebook pairs neutral and emotional frames of the same speaker).

# %%
contact_sheet(result.frames, out_dir, n=10 if smoke else 20)
plt.show()

# %% [markdown]
# ## 5 · Problems
#
# Everything that was skipped, from scanning and from preparation (also in `problems.csv`).

# %%
result.problems if len(result.problems) else "no problems"

# %% [markdown]
# ## Next
#
# `notebooks/02_speech_emotion_classifier` trains on `manifest.csv` (or scans a root
# itself) with the speaker split above; `03_pix2pixhd_sign_editing` builds neutral /
# emotion pairs from `frames.csv`. With real MEAD: unpack each actor's `audio.tar` and
# `video.tar` into `data/MEAD/<actor>/` and set `mead_root = "data/MEAD"`.
