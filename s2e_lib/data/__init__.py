"""Data stage: scan MEAD / RAVDESS into manifests, prepare audio and frames.

The synthetic sample corpus lives in :mod:`s2e_lib.sample` (it sits above the face editor);
:mod:`s2e_lib.data.survey` summarises speech corpora (clips, speakers, durations, loudness).

>>> from s2e_lib.data import scan, speaker_split  # doctest: +SKIP
>>> from s2e_lib.data.prepare import prepare  # doctest: +SKIP
>>> df = scan("data/MEAD", emotions=["angry", "neutral"], levels=[3])  # doctest: +SKIP
>>> split = speaker_split(df, n_test=2, seed=0)  # doctest: +SKIP
>>> result = prepare("data/MEAD", "data/prepared/mead", frame_step=5)  # doctest: +SKIP
"""

from s2e_lib.data.manifest import (
    MANIFEST_COLUMNS,
    MEAD_VIEWS,
    detect_format,
    manifest_table,
    media_duration,
    read_manifest,
    scan,
    write_manifest,
)
from s2e_lib.data.prepare import FRAME_COLUMNS, FaceAligner, PrepareResult
from s2e_lib.data.splits import (
    assign_split,
    balanced_draw,
    choose_val_speakers,
    corpus_val_speakers,
    speaker_folds,
    speaker_split,
)

__all__ = [
    "FRAME_COLUMNS",
    "MANIFEST_COLUMNS",
    "MEAD_VIEWS",
    "FaceAligner",
    "PrepareResult",
    "assign_split",
    "balanced_draw",
    "choose_val_speakers",
    "corpus_val_speakers",
    "detect_format",
    "manifest_table",
    "media_duration",
    "read_manifest",
    "scan",
    "speaker_folds",
    "speaker_split",
    "write_manifest",
]
