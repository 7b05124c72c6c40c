"""Data stage: scan MEAD / RAVDESS into manifests, prepare audio and frames, the sample corpus.

>>> from s2e_lib.data import scan, speaker_split  # doctest: +SKIP
>>> from s2e_lib.data.prepare import prepare  # doctest: +SKIP
>>> df = scan("data/MEAD", emotions=["angry", "neutral"], levels=[3])  # doctest: +SKIP
>>> split = speaker_split(df, n_test=2, seed=0)  # doctest: +SKIP
>>> result = prepare("data/MEAD", "data/prepared/mead", frame_step=5)  # doctest: +SKIP
"""

from s2e_lib.data.manifest import (
    MANIFEST_COLUMNS,
    MEAD_VIEWS,
    assign_split,
    detect_format,
    manifest_table,
    media_duration,
    read_manifest,
    scan,
    speaker_split,
    write_manifest,
)
from s2e_lib.data.prepare import FRAME_COLUMNS, FaceAligner, PrepareResult
from s2e_lib.data.sample import ensure_sample_corpus, make_sample_corpus

__all__ = [
    "FRAME_COLUMNS",
    "MANIFEST_COLUMNS",
    "MEAD_VIEWS",
    "FaceAligner",
    "PrepareResult",
    "assign_split",
    "detect_format",
    "ensure_sample_corpus",
    "make_sample_corpus",
    "manifest_table",
    "media_duration",
    "read_manifest",
    "scan",
    "speaker_split",
    "write_manifest",
]
