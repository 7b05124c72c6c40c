"""Data-stage figures: sample corpus generation time, prepare throughput, resume cost."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path


def run() -> dict:
    from s2e_lib.data.prepare import prepare
    from s2e_lib.sample import make_sample_corpus, make_speakers, synthesize

    figures: dict = {}
    speaker = make_speakers(1)[0]
    synthesize(speaker, "angry", 3, 1)  # warm up imports
    start = time.perf_counter()
    n_synth = 0
    for emotion in ("angry", "neutral", "fear", "happy", "sad"):
        for utt in (1, 2):
            audio = synthesize(speaker, emotion, 3, utt)
            n_synth += len(audio)
    seconds = time.perf_counter() - start
    figures["synth_audio_seconds_per_wall_second"] = round(n_synth / 16000 / seconds, 1)

    with tempfile.TemporaryDirectory(prefix="s2e-bench-data-") as tmp:
        tmp = Path(tmp)
        start = time.perf_counter()
        corpus = make_sample_corpus(tmp / "sample", seed=0)
        figures["sample_corpus_generation_seconds"] = round(time.perf_counter() - start, 2)
        figures["sample_corpus_takes"] = sum(1 for _ in corpus.rglob("*.m4a"))

        result = prepare(corpus, tmp / "prepared", frame_step=5, progress=False)
        figures["prepare_takes"] = result.prepared
        figures["prepare_frames"] = len(result.frames)
        figures["prepare_audio_seconds"] = round(result.audio_seconds, 1)
        figures["prepare_wall_seconds"] = round(result.seconds, 2)
        figures["prepare_audio_seconds_per_wall_second"] = round(result.audio_seconds / result.seconds, 1)

        audio_only = prepare(corpus, tmp / "audio_only", video=False, progress=False)
        figures["prepare_audio_only_audio_seconds_per_wall_second"] = round(
            audio_only.audio_seconds / audio_only.seconds, 1
        )
        again = prepare(corpus, tmp / "prepared", frame_step=5, progress=False)
        figures["prepare_resume_seconds"] = round(again.seconds, 2)
        figures["prepare_resume_skipped"] = again.skipped
    return figures
