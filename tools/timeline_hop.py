"""How closely an emotion timeline follows the voice, for several window hops (developer tool).

    .venv/bin/python tools/timeline_hop.py --hops 0.5,1.0

Each test recording is one speaker's clips of a corpus in ``../shared/data``, shuffled and
joined until a minute is filled, so the emotion changes with every clip (every 1-4 s: harder
to follow than speech). The shipped model's timeline (``emotion_timeline``, 2 s windows,
1 s smoothing) is read every 0.1 s and its top emotion compared with the label of the clip
being spoken there; the wall time of the timeline is printed beside it. Figures in
docs/pipeline.md ("Timeline hop").
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from s2e_lib.audio.io import load_audio
from s2e_lib.paths import project_paths
from s2e_lib.pipeline.timeline import emotion_timeline
from s2e_lib.ser.predict import load_model

#: (corpus folder, speaker): TurEV was never trained on; EMOVO and ASED were (default.pt).
RECORDINGS = [("turev16k", "1157"), ("turev16k", "1984"), ("emovo16k", "f1"), ("ased16k", "S19")]
SAMPLE_RATE = 16000


def joined_clips(folder, speaker: str, labels, seconds: float = 60.0, seed: int = 0):
    """(audio, per-sample label) of one speaker's clips in a random order, about ``seconds`` long."""
    table = pd.read_csv(folder / "manifest.csv")
    table = table[(table["speaker"].astype(str) == speaker) & table["emotion"].isin(labels)]
    pieces, per_sample = [], []
    for _, row in table.sample(frac=1, random_state=seed).iterrows():
        clip = load_audio(folder / row["audio_path"], sr=SAMPLE_RATE)
        pieces.append(clip)
        per_sample.append(np.full(clip.size, row["emotion"], dtype=object))
        if sum(p.size for p in pieces) > seconds * SAMPLE_RATE:
            break
    return np.concatenate(pieces), np.concatenate(per_sample)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shared", default=str(project_paths().shared / "data"))
    parser.add_argument("--hops", default="0.5,1.0")
    args = parser.parse_args()
    model = load_model()
    rows = []
    for corpus, speaker in RECORDINGS:
        folder = Path(args.shared) / corpus
        if not (folder / "manifest.csv").is_file():
            print(f"skipped {corpus}: {folder} not found")
            continue
        audio, truth = joined_clips(folder, speaker, model.labels)
        times = np.arange(0, audio.size / SAMPLE_RATE, 0.1)
        said = truth[np.minimum((times * SAMPLE_RATE).astype(int), truth.size - 1)]
        for hop in (float(h) for h in args.hops.split(",")):
            start = time.perf_counter()
            timeline = emotion_timeline(audio, SAMPLE_RATE, model, window_s=2.0, hop_s=hop, smooth_s=1.0)
            seconds = time.perf_counter() - start
            shown = np.asarray(timeline.labels)[timeline.at_many(times).argmax(1)]
            rows.append(
                {
                    "corpus": corpus,
                    "speaker": speaker,
                    "hop_s": hop,
                    "agreement": round(float(np.mean(shown == said)), 3),
                    "seconds": round(seconds, 1),
                }
            )
            print(json.dumps(rows[-1]), flush=True)
    for hop in sorted({r["hop_s"] for r in rows}):
        mine = [r for r in rows if r["hop_s"] == hop]
        print(
            f"hop {hop} s: agreement mean {np.mean([r['agreement'] for r in mine]):.3f}, "
            f"timeline seconds {sum(r['seconds'] for r in mine):.1f}"
        )


if __name__ == "__main__":
    main()
