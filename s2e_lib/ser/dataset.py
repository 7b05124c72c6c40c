"""Labelled speech clips for training and evaluation: a MEAD root, a RAVDESS root or a manifest CSV."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

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
    from s2e_lib.data import read_manifest, scan

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
