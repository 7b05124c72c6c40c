"""Tiny synthetic emotional-speech corpora for the SER tests (MEAD layout, wav, 16 kHz).

Each emotion has its own pitch level, pitch movement, loudness and brightness, and
each speaker shifts pitch and formants, so a classifier must generalise across
speakers to score on a held-out one. Generating 4 speakers × 5 emotions × 6 takes
takes well under a second.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from s2e_lib.audio import write_wav
from s2e_lib.emotions import MISSION_EMOTIONS

SR = 16_000
# emotion -> (f0 ratio to the speaker's base, pitch glide per second, amplitude, brightness 0..1)
STYLE = {
    "angry": (1.5, 0.0, 0.6, 0.9),
    "neutral": (1.0, 0.0, 0.2, 0.3),
    "fear": (1.8, 0.6, 0.15, 0.6),
    "happy": (1.4, -0.4, 0.4, 0.6),
    "sad": (0.8, -0.2, 0.08, 0.1),
}
SPEAKERS = {"M001": 110.0, "W001": 200.0, "M002": 130.0, "W002": 230.0}


def synth_clip(emotion: str, base_f0: float, rng: np.random.Generator, seconds: float = 1.2) -> np.ndarray:
    ratio, glide, amp, bright = STYLE[emotion]
    t = np.arange(int(seconds * SR)) / SR
    f0 = base_f0 * ratio * (1 + glide * t / seconds) * (1 + 0.02 * rng.standard_normal())
    phase = 2 * np.pi * np.cumsum(f0 * np.ones_like(t)) / SR
    y = np.zeros_like(t)
    for h in range(1, 15):
        y += (bright ** (h / 4)) / h * np.sin(h * phase + rng.uniform(0, 2 * np.pi))
    envelope = np.clip(np.sin(np.pi * t / seconds) * 1.5, 0, 1) * (1 + 0.3 * np.sin(2 * np.pi * 4 * t))
    y = amp * rng.uniform(0.8, 1.2) * envelope * y / np.abs(y).max()
    y += 0.002 * rng.standard_normal(t.size)
    pad = np.zeros(int(0.15 * SR))
    return np.concatenate([pad, y, pad]).astype(np.float32)


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
