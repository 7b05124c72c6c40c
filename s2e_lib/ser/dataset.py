"""Labelled speech clips for training and evaluation: a MEAD root, a RAVDESS root or a manifest CSV."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from s2e_lib.data.manifest import read_manifest, scan
from s2e_lib.emotions import MISSION_EMOTIONS, parse_emotion
from s2e_lib.errors import InputError


def scan_speech(root: str | os.PathLike, emotions=MISSION_EMOTIONS, speakers=None) -> pd.DataFrame:
    """One row per take with an audio file, for ``emotions`` (default the mission five).

    Parameters
    ----------
    root : path-like
        A MEAD root (``<actor>/audio/<emotion>/level_<n>/<nnn>.m4a``), a RAVDESS root
        (``Actor_XX/03-01-EE-II-SS-RR-AA.wav``) or a manifest CSV (``s2e prepare``).
    emotions : iterable of str
        Labels to keep.
    speakers : iterable of str, optional
        Speakers to keep.

    Returns
    -------
    pandas.DataFrame
        The data stage's manifest columns (``corpus, speaker, gender, emotion, level,
        utterance, audio_path, ...``), sorted by speaker, emotion, level, utterance.
    """

    root = Path(root)
    if not root.exists():
        raise InputError(f"{root}: data path not found")
    emotions = tuple(parse_emotion(e) for e in emotions)
    if root.is_file():
        if root.suffix.lower() != ".csv":
            raise InputError(f"{root}: expected a corpus folder or a manifest .csv")
        df = read_manifest(root)
        df = df[df["emotion"].map(parse_emotion).isin(emotions)]
        if speakers:
            df = df[df["speaker"].astype(str).isin([str(s) for s in speakers])]
    else:
        df = scan(root, emotions=emotions, speakers=list(speakers) if speakers else None, durations=False)
    df = df[df["audio_path"].notna() & (df["audio_path"].astype(str) != "")].copy()
    if df.empty:
        raise InputError(f"{root}: no audio of the emotions {', '.join(emotions)} found")
    df["speaker"] = df["speaker"].astype(str)
    df["emotion"] = df["emotion"].map(parse_emotion)
    return df.sort_values(["speaker", "emotion", "level", "utterance"]).reset_index(drop=True)


def scan_corpora(sources, emotions=MISSION_EMOTIONS) -> pd.DataFrame:
    """Several corpora in one table, for multi-corpus training and leave-one-corpus-out evaluation.

    Parameters
    ----------
    sources : sequence of path-like
        Corpus folders (MEAD, RAVDESS) or manifest CSVs, as :func:`scan_speech` takes.
    emotions : iterable of str

    Returns
    -------
    pandas.DataFrame
        :func:`scan_speech` rows of every source, with ``corpus`` set (the manifest's
        ``corpus`` column or the scanner's; sources that share a name are named after
        their folders instead), and ``speaker`` prefixed ``<corpus>/`` when there are several
        corpora, so speakers of different corpora never merge.
    """
    tables = []
    for source in sources:
        df = scan_speech(source, emotions=emotions)
        df.attrs = {}
        if "corpus" not in df:
            df["corpus"] = ""
        df["corpus"] = df["corpus"].astype(str).replace("", _folder_name(source))
        tables.append(df)
    names = [sorted(set(t["corpus"])) for t in tables]
    flat = [n for group in names for n in group]
    for table, group, source in zip(tables, names, sources, strict=True):
        if any(flat.count(n) > 1 for n in group):  # e.g. two MEAD folders: name them by folder
            table["corpus"] = _folder_name(source)
    out = pd.concat(tables, ignore_index=True)
    if out["corpus"].nunique() > 1:
        out["speaker"] = out["corpus"] + "/" + out["speaker"].astype(str)
    out.attrs["sources"] = [str(s) for s in sources]
    return out


def corpus_label_masks(df: pd.DataFrame, labels) -> tuple[np.ndarray, dict[str, list[str]]]:
    """Per row, which of ``labels`` its corpus has; and each corpus's labels.

    Returns
    -------
    masks : np.ndarray of bool, shape (len(df), len(labels))
    present : dict
        Corpus name -> its labels, in ``labels`` order.
    """
    labels = list(labels)
    corpus = df["corpus"].astype(str).to_numpy()
    present = {
        c: [label for label in labels if label in set(df.loc[corpus == c, "emotion"])]
        for c in sorted(set(corpus))
    }
    masks = np.array([[label in present[c] for label in labels] for c in corpus], dtype=bool).reshape(
        -1, len(labels)
    )
    return masks, present


def _folder_name(source) -> str:
    """A corpus name for ``source``: its folder's name (a manifest's parent folder)."""
    path = Path(source)
    return (path.parent.name if path.suffix.lower() == ".csv" else path.name) or "corpus"
