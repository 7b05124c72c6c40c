"""The offline sample corpus: a small synthetic MEAD-layout corpus the project makes itself.

Every later stage must run on a fresh machine without MEAD, so the project generates a
tiny corpus with the MEAD layout (``<speaker>/audio/<emotion>/level_<n>/<nnn>.m4a`` and
``<speaker>/video/front/<emotion>/level_<n>/<nnn>.mp4``), deterministic from a seed.

- :mod:`s2e_lib.sample.voice`: the source-filter speech synthesiser (voices, prosody per
  emotion and level, sentences);
- :mod:`s2e_lib.sample.face`: the video frames (scikit-image's ``astronaut`` photo, posed
  by the warp editor when it is importable);
- :mod:`s2e_lib.sample.corpus`: writing the takes (:func:`make_sample_corpus`,
  :func:`ensure_sample_corpus`).

This is synthetic data, never real emotion data: numbers measured on it say that code
runs and learns, not how well it hears people.

>>> from s2e_lib.sample import ensure_sample_corpus  # doctest: +SKIP
>>> corpus = ensure_sample_corpus()  # data/sample, generated if absent  # doctest: +SKIP
"""

from s2e_lib.sample.corpus import INFO_FILE, README, SAMPLE_VERSION, ensure_sample_corpus, make_sample_corpus
from s2e_lib.sample.face import base_face, expression_renderer, face_frames
from s2e_lib.sample.voice import (
    BURST_BANDS,
    FORMANT_BANDWIDTHS,
    FRICATIVE_BANDS,
    LEVEL_STRENGTH,
    ONSETS,
    PROSODY,
    SR,
    VOWELS,
    EmotionProsody,
    Speaker,
    formant_sos,
    make_speakers,
    prosody_for,
    synthesize,
    utterance_text,
)

__all__ = [
    "BURST_BANDS",
    "FORMANT_BANDWIDTHS",
    "FRICATIVE_BANDS",
    "INFO_FILE",
    "LEVEL_STRENGTH",
    "ONSETS",
    "PROSODY",
    "README",
    "SAMPLE_VERSION",
    "SR",
    "VOWELS",
    "EmotionProsody",
    "Speaker",
    "base_face",
    "ensure_sample_corpus",
    "expression_renderer",
    "face_frames",
    "formant_sos",
    "make_sample_corpus",
    "make_speakers",
    "prosody_for",
    "synthesize",
    "utterance_text",
]
