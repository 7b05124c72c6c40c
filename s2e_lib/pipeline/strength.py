"""How strongly to edit the face, from how sure the speech model is.

Decision (documented in docs/pipeline.md): the edit strength follows the classifier's
*margin over chance* rather than its raw top probability, so the same rule works for
any number of labels:

    confidence = (p_top - 1/K) / (1 - 1/K)            in [0, 1]
    strength   = MIN + (MAX - MIN) * confidence         MIN = 0.35, MAX = 1.2

A near-chance prediction (p_top ≈ 1/K) gives a mild 0.35 edit, a certain one 1.2.
When the recording's MEAD intensity level is known (``.../level_<n>/...`` in its path),
the strength is scaled by ``LEVEL_SCALE[n]`` (level 1 mild, level 3 strong) and clipped
to the editors' range [0, 1.5].
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

MIN_STRENGTH = 0.35
MAX_STRENGTH = 1.2
STRENGTH_RANGE = (0.0, 1.5)
LEVEL_SCALE: dict[int, float] = {1: 0.75, 2: 1.0, 3: 1.2}

_LEVEL_RE = re.compile(r"(?:^|[/\\])level_(\d)(?:[/\\]|$)")


def confidence_from_probabilities(probabilities: Mapping[str, float]) -> float:
    """Margin of the top probability over chance, scaled to [0, 1]."""
    values = list(probabilities.values())
    if not values:
        raise ValueError("no probabilities")
    k = len(values)
    if k == 1:
        return 1.0
    top = max(values)
    chance = 1.0 / k
    return float(min(1.0, max(0.0, (top - chance) / (1.0 - chance))))


def level_from_path(path: str | Path | None) -> int | None:
    """The MEAD intensity level in a path like ``M003/audio/happy/level_3/001.m4a``."""
    if path is None:
        return None
    match = _LEVEL_RE.search(str(path))
    return int(match.group(1)) if match else None


def auto_strength(probabilities: Mapping[str, float], level: int | None = None) -> float:
    """Edit strength from the classifier's confidence (and the MEAD level when known)."""
    confidence = confidence_from_probabilities(probabilities)
    strength = MIN_STRENGTH + (MAX_STRENGTH - MIN_STRENGTH) * confidence
    if level is not None:
        strength *= LEVEL_SCALE.get(level, 1.0)
    low, high = STRENGTH_RANGE
    return float(round(min(high, max(low, strength)), 3))


def parse_strength(value: str | float) -> float | None:
    """``"auto"`` → None; a number in [0, 1.5] → float; anything else raises ValueError."""
    if isinstance(value, str) and value.strip().lower() == "auto":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"strength must be 'auto' or a number in [0, 1.5], got {value!r}") from None
    low, high = STRENGTH_RANGE
    if not low <= number <= high:
        raise ValueError(f"strength must be in [{low}, {high}], got {number}")
    return number
