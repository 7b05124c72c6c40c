"""Speaker-independent splits: one seeded, gender-balanced draw of speakers and what is built on it.

Emotion models learn speakers as readily as emotions, so every split here keeps each
speaker in one group only:

- :func:`balanced_draw`: ``count`` speakers drawn with a numpy ``Generator``, dealt per
  gender in turn (F, M, unknown ...) so both genders are represented where possible;
- :func:`speaker_split` / :func:`assign_split`: train / val / test lists of a manifest;
- :func:`choose_val_speakers`: validation speakers for early stopping;
- :func:`corpus_val_speakers`: validation speakers per corpus (multi-corpus training);
- :func:`speaker_folds`: deterministic test folds for speaker-independent cross-validation.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from s2e_lib.errors import InputError

#: The gender key of speakers whose gender is unknown.
UNKNOWN_GENDER = "?"

_RAVDESS_ACTOR = re.compile(r"^Actor_(\d{2})$")


def balanced_draw(
    pool: Iterable[str], genders: dict[str, str], count: int, rng: np.random.Generator
) -> list[str]:
    """Draw ``count`` distinct speakers of ``pool``, alternating genders (in draw order).

    Speakers are grouped by ``genders`` (missing or empty: unknown), each group is
    shuffled by ``rng``, then groups are dealt in turn in sorted gender order until
    ``count`` speakers are drawn or the pool is exhausted.
    """
    if count <= 0:
        return []
    groups: dict[str, list[str]] = {}
    for spk in sorted(set(pool)):
        groups.setdefault(genders.get(spk) or UNKNOWN_GENDER, []).append(spk)
    for group in groups.values():
        rng.shuffle(group)
    order = sorted(groups)
    out: list[str] = []
    while len(out) < count and any(groups.values()):
        for g in order:
            if groups[g] and len(out) < count:
                out.append(groups[g].pop())
    return out


def choose_val_speakers(speakers: Sequence[str], genders: dict[str, str], n: int, seed: int) -> list[str]:
    """Pick ``n`` validation speakers (sorted), alternating genders when both are known."""
    return sorted(balanced_draw(speakers, genders, n, np.random.default_rng(seed)))


def corpus_val_speakers(
    speakers: np.ndarray, corpora: np.ndarray, genders: dict[str, str], n_per_corpus: int, seed: int
) -> list[str]:
    """Validation speakers: ``n_per_corpus`` from each corpus (at most a third of its speakers)."""
    chosen: list[str] = []
    for c in sorted(set(corpora.tolist())):
        pool = sorted(set(speakers[corpora == c].tolist()))
        n = max(1, min(n_per_corpus, len(pool) // 3)) if n_per_corpus and len(pool) >= 2 else 0
        chosen += choose_val_speakers(pool, genders, n, seed)
    return sorted(chosen)


def speaker_folds(speakers: Sequence[str], genders: dict[str, str], n_folds: int = 4) -> list[list[str]]:
    """Split speakers into ``n_folds`` test groups, each with as even a gender mix as possible.

    Deterministic (no seed): speakers are sorted, then each gender's speakers are dealt
    into the folds in consecutive blocks of ``ceil(len / n_folds)``. Empty folds are dropped.
    """
    by_gender: dict[str, list[str]] = {}
    for s in sorted(set(speakers)):
        by_gender.setdefault(genders.get(s) or UNKNOWN_GENDER, []).append(s)
    folds: list[list[str]] = [[] for _ in range(n_folds)]
    for pool in by_gender.values():
        per_fold = int(np.ceil(len(pool) / n_folds))
        for k in range(n_folds):
            folds[k].extend(pool[k * per_fold : (k + 1) * per_fold])
    return [sorted(f) for f in folds if f]


def speaker_split(
    df: pd.DataFrame | Iterable[str],
    n_test: int = 2,
    seed: int = 0,
    test_speakers: Iterable[str] | str | None = None,
    val_speakers: Iterable[str] | str | int | None = None,
    n_val: int = 0,
) -> dict[str, list[str]]:
    """Split speakers into disjoint train / val / test lists (speaker-independent).

    Parameters
    ----------
    df : DataFrame or iterable of str
        A manifest (its ``speaker`` and ``gender`` columns are used) or speaker ids.
    n_test, n_val : int
        Number of test / validation speakers drawn when not given explicitly. Draws
        alternate between genders (:func:`balanced_draw`) so both are represented where possible.
    seed : int
        Seed of the draw; the same seed and speakers give the same split.
    test_speakers, val_speakers : iterable of str or comma-separated str, optional
        Explicit speakers (e.g. ``"M003,W009"``). ``val_speakers`` may also be an int,
        taken as ``n_val``.

    Returns
    -------
    dict
        ``{"train": [...], "val": [...], "test": [...]}``, each sorted.

    Raises
    ------
    InputError
        An explicit speaker is unknown or in two lists, or too few speakers remain for
        training.
    """
    genders: dict[str, str] = {}
    if isinstance(df, pd.DataFrame):
        if "speaker" not in df.columns:
            raise InputError("speaker_split: the table has no 'speaker' column")
        gcol = df["gender"] if "gender" in df.columns else pd.Series([""] * len(df), index=df.index)
        for spk, g in zip(df["speaker"].astype(str), gcol.astype(str), strict=True):
            genders.setdefault(spk, g)
    else:
        for spk in df:
            genders.setdefault(str(spk), guess_gender(str(spk)))
    speakers = sorted(genders)
    if isinstance(val_speakers, int) and not isinstance(val_speakers, bool):
        n_val, val_speakers = int(val_speakers), None

    chosen: dict[str, list[str]] = {}
    for name, given in (("test", test_speakers), ("val", val_speakers)):
        if given is None:
            continue
        listed = _parse_str_list(given)
        unknown = [s for s in listed if s not in genders]
        if unknown:
            raise InputError(
                f"unknown {name} speaker(s): {', '.join(unknown)}; known: {', '.join(speakers) or 'none'}"
            )
        chosen[name] = sorted(set(listed))
    if "test" in chosen and "val" in chosen and set(chosen["test"]) & set(chosen["val"]):
        raise InputError(
            f"speaker(s) in both test and val: {', '.join(sorted(set(chosen['test']) & set(chosen['val'])))}"
        )

    rng = np.random.default_rng(seed)
    remaining = [s for s in speakers if s not in set(chosen.get("test", [])) | set(chosen.get("val", []))]
    for name, count in (("test", n_test), ("val", n_val)):
        if name in chosen:
            continue
        chosen[name] = sorted(balanced_draw(remaining, genders, int(count), rng))
        remaining = [s for s in remaining if s not in chosen[name]]
    if not remaining and speakers:
        raise InputError(
            f"no speakers left for training ({len(speakers)} speakers, "
            f"{len(chosen['test'])} test, {len(chosen['val'])} val)"
        )
    return {"train": sorted(remaining), "val": chosen["val"], "test": chosen["test"]}


def assign_split(df: pd.DataFrame, split: dict[str, list[str]]) -> pd.DataFrame:
    """Return a copy of ``df`` with a ``split`` column from a :func:`speaker_split` result."""
    lookup = {spk: name for name, spks in split.items() for spk in spks}
    out = df.copy()
    out["split"] = out["speaker"].map(lookup).fillna("unused")
    return out


def guess_gender(speaker: str) -> str:
    """The gender a speaker id implies: RAVDESS ``Actor_NN`` (odd = M), MEAD ``M``/``W`` prefixes."""
    m = _RAVDESS_ACTOR.match(speaker)
    if m:
        return "M" if int(m.group(1)) % 2 else "F"
    return {"M": "M", "W": "F", "F": "F"}.get(speaker[:1].upper(), "")


def _parse_str_list(value) -> list[str]:
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return [str(v).strip() for v in value if str(v).strip()]
