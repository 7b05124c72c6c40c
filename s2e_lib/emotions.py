"""Canonical emotion labels, their aliases, and the original project's per-emotion tables.

Every stage speaks the same label set. MEAD folder names are the canonical spelling
(``angry``, ``contempt``, ``disgusted``, ``fear``, ``happy``, ``neutral``, ``sad``,
``surprised``); RAVDESS adds ``calm``. :func:`parse_emotion` maps any accepted alias
(``netural`` as the original project wrote it, ``fearful``, ``disgust``, ``surprise``,
``happiness``...) to the canonical label and raises :class:`UnknownEmotionError` otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable

from s2e_lib.errors import S2EError

#: The five emotions the product hears and shows (the original project's mission).
MISSION_EMOTIONS: tuple[str, ...] = ("angry", "neutral", "fear", "happy", "sad")

#: MEAD's eight emotions (folder names).
MEAD_EMOTIONS: tuple[str, ...] = (
    "angry",
    "contempt",
    "disgusted",
    "fear",
    "happy",
    "neutral",
    "sad",
    "surprised",
)

#: RAVDESS emotion codes (the ``EE`` field of ``03-01-EE-II-SS-RR-AA.wav``).
RAVDESS_CODES: dict[str, str] = {
    "01": "neutral",
    "02": "calm",
    "03": "happy",
    "04": "sad",
    "05": "angry",
    "06": "fear",
    "07": "disgusted",
    "08": "surprised",
}

#: Every canonical label known to the project.
ALL_EMOTIONS: tuple[str, ...] = MEAD_EMOTIONS + ("calm",)

ALIASES: dict[str, str] = {
    "netural": "neutral",  # spelling used by the original project
    "neural": "neutral",
    "neu": "neutral",
    "anger": "angry",
    "ang": "angry",
    "mad": "angry",
    "fearful": "fear",
    "afraid": "fear",
    "scared": "fear",
    "fea": "fear",
    "happiness": "happy",
    "hap": "happy",
    "joy": "happy",
    "sadness": "sad",
    "unhappy": "sad",
    "disgust": "disgusted",
    "dis": "disgusted",
    "surprise": "surprised",
    "sur": "surprised",
    "contemptuous": "contempt",
    "con": "contempt",
}


class UnknownEmotionError(S2EError, ValueError):
    """Raised for a label that is neither canonical nor a known alias."""


def parse_emotion(label: str, allowed: Iterable[str] | None = None) -> str:
    """Return the canonical label for ``label`` (case and whitespace insensitive).

    Parameters
    ----------
    label : str
        An emotion name such as ``"Happy"``, ``"netural"`` or ``"fearful"``.
    allowed : iterable of str, optional
        Canonical labels accepted in this context (default: all known labels).

    Raises
    ------
    UnknownEmotionError
        If the label is unknown or not in ``allowed``.
    """
    allowed = tuple(allowed) if allowed is not None else ALL_EMOTIONS
    key = str(label).strip().lower().replace("-", "_")
    canonical = key if key in ALL_EMOTIONS else ALIASES.get(key)
    if canonical is None:
        raise UnknownEmotionError(f"unknown emotion {label!r}; expected one of: {', '.join(allowed)}")
    if canonical not in allowed:
        raise UnknownEmotionError(
            f"emotion {label!r} ({canonical}) is not supported here; expected one of: {', '.join(allowed)}"
        )
    return canonical


def parse_emotions(labels: str | Iterable[str], allowed: Iterable[str] | None = None) -> list[str]:
    """Parse a comma-separated string or an iterable of labels, keeping order, dropping repeats."""
    if isinstance(labels, str):
        labels = [part for part in labels.split(",") if part.strip()]
    out: list[str] = []
    for label in labels:
        canonical = parse_emotion(label, allowed)
        if canonical not in out:
            out.append(canonical)
    return out


#: (arousal, valence) of each emotion in [-1, 1]: approximate positions on Russell's
#: circumplex (Russell 1980, "A circumplex model of affect"), set by hand. Used only as the
#: targets of an auxiliary training head (``TrainConfig.arousal_valence``), which asks the
#: representation to place angry next to fear (both aroused, negative) and sad far from
#: both; only the ordering matters, not the exact numbers.
AROUSAL_VALENCE: dict[str, tuple[float, float]] = {
    "angry": (0.8, -0.7),
    "fear": (0.7, -0.8),
    "happy": (0.6, 0.8),
    "surprised": (0.8, 0.3),
    "disgusted": (0.3, -0.7),
    "contempt": (0.1, -0.5),
    "neutral": (-0.2, 0.0),
    "calm": (-0.6, 0.3),
    "sad": (-0.6, -0.7),
}


#: What a caption says of an edit that changed nothing (strength 0 at two decimals).
UNCHANGED = "unchanged"


def describe_edit(emotion: str, strength: float) -> str:
    """What a caption says an edited face shows: ``"angry x0.60"``; ``"neutral"``; and
    :data:`UNCHANGED` when the strength is 0 at two decimals (``--strength 0``, or the top two
    emotions too close to tell apart): the photo itself, so no emotion is claimed."""
    if emotion == "neutral":
        return "neutral"
    if round(float(strength), 2) <= 0:
        return UNCHANGED
    return f"{emotion} x{strength:.2f}"


# --- the original project's tables, kept as data ------------------------------------

#: pix2pixHD condition "signs" of the original project (drawn with OpenCV, BGR colours):
#: shape, colour, size (radius or half-side, px at 512²-ish frames) and thickness
#: (-1 = filled). Source: the original project's dataset script, summarised in
#: ``docs/pix2pixhd.md``.
SIGNS: dict[str, dict] = {
    "angry": {"shape": "circle", "color_bgr": (255, 255, 255), "size": 60, "thickness": -1},
    "neutral": {"shape": "circle", "color_bgr": (255, 255, 255), "size": 60, "thickness": 2},
    "fear": {"shape": "square", "color_bgr": (255, 255, 255), "size": 50, "thickness": -1},
    "happy": {"shape": "square", "color_bgr": (0, 0, 255), "size": 60, "thickness": -1},
    "sad": {"shape": "circle", "color_bgr": (0, 0, 255), "size": 60, "thickness": -1},
}

#: IALS λ1 per emotion as the original project used it (attr1 = smiling, attr2 = young,
#: λ2 = 0.3, step −0.1, 10 steps). λ1 mixes attribute-level and instance-specific
#: directions, so ±100 extrapolates the mix rather than setting a strength.
IALS_LAMBDA1: dict[str, float] = {
    "angry": -100.0,
    "neutral": 1.2,
    "fear": -1.0,
    "sad": 0.2,
    "happy": 100.5,
}

#: The rest of the original IALS recipe, shared by every emotion.
IALS_ORIGINAL_SETTINGS: dict[str, object] = {
    "primary_attribute": "smiling",
    "condition_attribute": "young",
    "lambda2": 0.3,
    "step": -0.1,
    "n_steps": 10,
}
