"""Tiny synthetic emotional-speech corpora for the SER tests (MEAD layout, wav, 16 kHz).

The voices are the sample corpus's source-filter synthesiser (:mod:`s2e_lib.sample`),
which a voice-activity detector hears as speech: each emotion has its own pitch level,
movement, rate and voice quality, and each speaker shifts pitch and formants, so a
classifier must generalise across speakers to score on a held-out one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from s2e_lib.audio import write_wav
from s2e_lib.emotions import MISSION_EMOTIONS
from s2e_lib.sample import Speaker, synthesize

SR = 16_000
SPEAKERS = {"M001": 110.0, "W001": 200.0, "M002": 130.0, "W002": 230.0}


def synth_clip(
    emotion: str, base_f0: float, rng: np.random.Generator, seconds: float | None = None
) -> np.ndarray:
    """One take of the sample corpus's source-filter voice (speech to a voice-activity
    detector) with base pitch ``base_f0``; ``seconds`` cuts it short."""
    male = base_f0 < 160
    speaker = Speaker(
        speaker_id=f"{'M' if male else 'W'}{int(base_f0):03d}",
        gender="M" if male else "F",
        f0=float(base_f0),
        formant_scale=1.0 if male else 1.17,
    )
    y = synthesize(speaker, emotion, 2, int(rng.integers(1, 40)), seed=int(rng.integers(0, 10_000)))
    if seconds is not None:
        y = y[: int(seconds * SR)]
    return y.astype(np.float32)


def make_corpus(root: Path, takes: int = 6, speakers: dict[str, float] | None = None, seed: int = 0) -> Path:
    """Write ``<root>/<speaker>/audio/<emotion>/level_1/<nnn>.wav`` and return ``root``."""
    rng = np.random.default_rng(seed)
    for speaker, f0 in (speakers or SPEAKERS).items():
        for emotion in MISSION_EMOTIONS:
            folder = root / speaker / "audio" / emotion / "level_1"
            folder.mkdir(parents=True, exist_ok=True)
            for k in range(takes):
                write_wav(folder / f"{k + 1:03d}.wav", synth_clip(emotion, f0, rng))
    return root
