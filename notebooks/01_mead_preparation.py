# %% [markdown]
# # 01 · The speech corpora, and MEAD preparation
#
# Every later notebook starts from a **manifest**: one row per take (a speaker saying one
# sentence in one emotion at one intensity level), with its audio, its videos and its
# duration. This notebook has two parts.
#
# **Part 1 · The real corpora.** When the real emotional-speech corpora sit beside the
# checkout (`../shared/data`: RAVDESS, ASED, nEMO, TurEV, EMOVO, 16 kHz, with labels and
# their terms of use), it surveys them: how many clips, hours and speakers each has, how
# long the clips are, how the emotions are balanced, how loud each emotion is, and under
# which licence each may be used. These are the corpora the speech-emotion classifier of
# notebook 02 is trained and judged on, so the figures here explain its training choices.
# Without them (a user's fresh clone) the notebook says so and goes on to Part 2.
#
# **Part 2 · Preparing a corpus in MEAD's layout.** We scan a MEAD tree (or RAVDESS: same
# code path), split the speakers so that test speakers are never heard in training, and
# **prepare** it: 16 kHz mono wavs for the speech-emotion classifier and face frames
# (optionally FFHQ-aligned) for the face editors. Without MEAD on disk this part uses the
# project's **synthetic sample corpus** (`s2e sample`), generated offline if absent:
# synthetic voices whose pitch, range, rate, loudness and voice quality follow the textbook
# correlates of each emotion, and the scikit-image astronaut photo with each expression
# drawn by the warp editor. It is **not real emotion data**: figures on it say that the
# code runs, not how well it hears people.
#
# The command-line equivalent of Part 2 is
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
jobs = 1  # worker processes for the preparation and the survey; 1 runs in this process
shared_data = None  # folder of real speech corpora (ravdess16k, ased16k ...); None: ../shared/data
survey_clips = None  # at most this many clips per corpus in the survey; None: all of them (smoke: 8)

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

# %% [markdown]
# ## Part 1 · The real corpora
#
# `find_corpora` lists the speech corpora in the shared folder (a folder with a
# `manifest.csv`, or a RAVDESS / MEAD tree); `survey_corpora` reads them with the same
# scanners the speech-emotion classifier uses (`s2e_lib.ser.dataset.scan_corpora`) and
# measures every clip once: sample rate, channels, format and duration from the file, and
# two levels from the samples: the **BS.1770 integrated loudness** of the whole clip
# (LUFS, `pyloudnorm`), and the project's **active-speech level** (dBFS, the level every
# clip is normalised to before the classifier's features). The measures are cached per
# clip in the project's cache folder, so a rerun takes a second. Every emotion a corpus
# has is kept here (RAVDESS's calm, disgusted and surprised too); the classifier uses the
# five mission emotions.

# %%
import time

from IPython.display import Markdown, display

from s2e_lib.data.survey import (
    corpus_info,
    corpus_summary,
    emotion_summary,
    find_corpora,
    missing_emotions,
    survey_corpora,
)
from s2e_lib.viz.data import (
    plot_corpus_durations,
    plot_corpus_emotions,
    plot_loudness_by_emotion,
    plot_speakers,
)

shared_root = Path(shared_data) if shared_data else paths.shared / "data"
real_corpora = find_corpora(shared_root)
if survey_clips is None and smoke:
    survey_clips = 8
clips = None
if real_corpora:
    print(f"{len(real_corpora)} speech corpora in {shared_root}: {', '.join(real_corpora)}")
    started = time.perf_counter()
    clips = survey_corpora(real_corpora.values(), max_per_corpus=survey_clips, n_jobs=jobs)
    print(f"{len(clips)} clips surveyed in {time.perf_counter() - started:.1f} s")
    if survey_clips:
        print(
            f"(a sample of at most {survey_clips} clips per corpus: the figures below are not the corpora's)"
        )
else:
    print(
        f"No speech corpora in {shared_root} (a fresh clone has none): Part 1 is skipped and "
        "Part 2 runs on the sample corpus. Set shared_data to a folder of corpora to survey them."
    )

# %% [markdown]
# ### Size, speakers, durations, formats and terms
#
# One row per corpus (shown transposed). `hours` is the audio in the corpus, `median_s`,
# `min_s` and `max_s` the clip durations, `missing` the mission emotions it has no clip
# of, `loudness_lufs` the median clip's loudness. In the full survey the five corpora hold
# 3,978 clips, about 3 hours, from 71 speakers in five languages: a small amount of data by
# the standards of speech models, which is why the classifier starts from compact
# features and small networks (notebook 02) rather than from a large network trained from
# scratch.

# %%
if clips is not None:
    summary = corpus_summary(clips)
    display(summary.T)
    print(
        f"all corpora: {int(summary.clips.sum())} clips, {int(summary.speakers.sum())} speakers, "
        f"{summary.hours.sum():.2f} h"
    )

# %% [markdown]
# ### Class balance: clips per emotion
#
# The classifier's loss is weighted so that every corpus, and every emotion inside it,
# counts the same (`s2e_lib.ser.train`); these counts show why. RAVDESS has half as many
# neutral clips as any other emotion (neutral was recorded at one intensity only), ASED's
# classes differ by a few dozen clips, nEMO and EMOVO are balanced by design, and **TurEV
# has no neutral and no fear**: a classifier trained on it alone could never say
# "neutral", and its scores are computed over the three emotions it has. TurEV is also
# the one corpus whose licence forbids derivatives (below), so notebook 02 uses it for
# evaluation only.

# %%
if clips is not None:
    plot_corpus_emotions(clips)
    plt.show()
    per_emotion = emotion_summary(clips)
    order = per_emotion.emotion.unique()
    counts = per_emotion.pivot(index="emotion", columns="corpus", values="clips")
    display(counts.reindex(order).fillna(0).astype(int))
    for corpus, missing in missing_emotions(clips).items():
        print(f"{corpus} has no {', '.join(missing)}")

# %% [markdown]
# ### Clip durations
#
# Sentences last 2–4 s (RAVDESS's two statements about 3.6 s, ASED's 2–4 s, nEMO's about
# 2.4 s, EMOVO's from 1.3 s to a few long ones up to 14 s), while TurEV's clips are single
# words of about one second. Features that average over a clip see far less
# speech in a TurEV word, one reason it is the corpus the classifier scores lowest on
# (docs/ser.md).

# %%
if clips is not None:
    plot_corpus_durations(clips)
    plt.show()

# %% [markdown]
# ### Loudness per emotion
#
# Box plots of each clip's integrated loudness, per corpus and emotion, and below, each
# emotion's median relative to the same corpus's neutral median (LU; a difference of
# 1 LU is 1 dB). Two things stand out in the full survey:
#
# - **Emotion changes loudness, by a different amount in every corpus.** RAVDESS's angry
#   clips are about 18 LU louder than its neutral ones, ASED's about 10 LU, EMOVO's about
#   6 LU, and nEMO's emotions lie within 1 LU of each other. A classifier that learned
#   "loud = angry" from RAVDESS would fail on nEMO, and on any speaker who is simply
#   close to the microphone.
# - **Recording level differs between corpora by more than between emotions.** RAVDESS's
#   median clip sits near −38 LUFS, the self-recorded ASED and TurEV near −22 LUFS.
#
# So the classifier never sees the level: every clip is brought to one active-speech
# level (−26 dBFS) before its features are computed (`s2e_lib.audio.speech`), so a gain
# change does not change its label (docs/ser.md). Emotion must then be heard in pitch,
# rhythm and voice quality. The active-speech level (second table) tells the same story
# as BS.1770 loudness, within about 1 dB.

# %%
if clips is not None:
    plot_loudness_by_emotion(clips)
    plt.show()
    for column in ("loudness_vs_neutral", "active_vs_neutral"):
        display(per_emotion.pivot(index="emotion", columns="corpus", values=column).reindex(order))

# %% [markdown]
# ### Speakers
#
# Speakers, not clips, are the unit a classifier must generalise over: a model that has
# heard a voice in training recognises the voice as much as the emotion. ASED has the
# most speakers (34) but very uneven ones (4 to 70 clips each: the corpus kept only
# recordings its judges accepted); RAVDESS, nEMO and EMOVO have 6 to 16 speakers with
# (nearly) equal shares; TurEV's six speakers have 68 to 111 clips each and no genders.
# With so few speakers per corpus, the project scores a recipe by **leave-one-corpus-out**
# evaluation (train on the other corpora, test on the whole held-out one: other speakers,
# another language, another microphone), and splits within a corpus by speaker, never by
# clip.

# %%
if clips is not None:
    plot_speakers(clips)
    plt.show()

# %% [markdown]
# ### Terms of use
#
# Each corpus's language and terms, as its `SOURCE.md` (or the shared README) states
# them. All five are for research and non-commercial use; **TurEV's CC BY-NC-ND** allows
# no derivatives, so no shipped model is trained on it (it is test-only in notebook 02,
# and the shipped classifier's model card lists the corpora it was trained on).

# %%
if clips is not None:
    lines = []
    for source in real_corpora.values():
        info = corpus_info(source)
        terms = f"{info['language']}, {info['licence'] or 'no terms found'}"
        lines.append(f"- **{info['corpus']}** ({terms}): {info['terms']}")
    display(Markdown("\n".join(lines)))

# %% [markdown]
# ## Part 2 · Preparing a corpus in MEAD's layout (the sample corpus)
#
# MEAD, the audio-visual corpus the original project trained its face editors on, is not
# among the shared corpora, so this part runs on the synthetic sample corpus laid out as
# MEAD is, unless `mead_root` names a real MEAD (or RAVDESS) tree.

# %%
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
