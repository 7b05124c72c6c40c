"""Speaker splits (s2e_lib.data.splits): gender balance, determinism per seed, disjointness, folds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from s2e_lib.data.splits import (
    balanced_draw,
    choose_val_speakers,
    corpus_val_speakers,
    speaker_folds,
    speaker_split,
)

MEN = [f"M{i:03d}" for i in range(1, 7)]
WOMEN = [f"W{i:03d}" for i in range(1, 7)]
GENDERS = {**{s: "M" for s in MEN}, **{s: "F" for s in WOMEN}}


def _count(speakers, gender):
    return sum(GENDERS[s] == gender for s in speakers)


@pytest.mark.parametrize("count", [2, 4, 6])
def test_balanced_draw_alternates_genders(count):
    for seed in range(5):
        drawn = balanced_draw(MEN + WOMEN, GENDERS, count, np.random.default_rng(seed))
        assert len(drawn) == len(set(drawn)) == count
        assert _count(drawn, "M") == _count(drawn, "F") == count // 2


def test_balanced_draw_is_deterministic_per_seed_and_order_free():
    one = balanced_draw(MEN + WOMEN, GENDERS, 4, np.random.default_rng(7))
    two = balanced_draw(list(reversed(MEN + WOMEN)), GENDERS, 4, np.random.default_rng(7))
    assert one == two
    draws = {
        tuple(sorted(balanced_draw(MEN + WOMEN, GENDERS, 4, np.random.default_rng(s)))) for s in range(10)
    }
    assert len(draws) > 1  # the seed matters


def test_balanced_draw_edges():
    rng = np.random.default_rng(0)
    assert balanced_draw(MEN, GENDERS, 0, rng) == []
    assert sorted(balanced_draw(MEN[:2], GENDERS, 5, rng)) == MEN[:2]  # pool exhausted
    assert len(balanced_draw(["A", "B", "C"], {}, 2, rng)) == 2  # unknown genders


def test_choose_val_speakers_balanced_and_seeded():
    for seed in range(5):
        val = choose_val_speakers(MEN + WOMEN, GENDERS, 4, seed)
        assert val == sorted(val) and _count(val, "M") == _count(val, "F") == 2
        assert val == choose_val_speakers(MEN + WOMEN, GENDERS, 4, seed)
    assert choose_val_speakers(MEN + WOMEN, GENDERS, 0, 0) == []


def test_corpus_val_speakers_draws_from_every_corpus():
    speakers = np.array(MEN + WOMEN)
    corpora = np.array(["a"] * 3 + ["b"] * 3 + ["a"] * 3 + ["b"] * 3)
    val = corpus_val_speakers(speakers, corpora, GENDERS, 2, seed=0)
    assert {corpora[list(speakers).index(s)] for s in val} == {"a", "b"}
    assert len(val) == 4 and val == corpus_val_speakers(speakers, corpora, GENDERS, 2, seed=0)


def test_speaker_split_disjoint_balanced_and_seeded():
    df = pd.DataFrame({"speaker": MEN + WOMEN, "gender": [GENDERS[s] for s in MEN + WOMEN]})
    for seed in range(5):
        split = speaker_split(df, n_test=2, n_val=2, seed=seed)
        groups = [set(split[k]) for k in ("train", "val", "test")]
        assert set.union(*groups) == set(MEN + WOMEN) and sum(map(len, groups)) == 12
        assert _count(split["test"], "M") == _count(split["test"], "F") == 1
        assert _count(split["val"], "M") == _count(split["val"], "F") == 1
        assert split == speaker_split(df, n_test=2, n_val=2, seed=seed)


@pytest.mark.parametrize("n_folds", [2, 3, 4, 5])
def test_speaker_folds_cover_every_speaker_once(n_folds):
    folds = speaker_folds(MEN + WOMEN, GENDERS, n_folds)
    flat = [s for fold in folds for s in fold]
    assert sorted(flat) == sorted(MEN + WOMEN) and len(flat) == len(set(flat))
    assert all(fold == sorted(fold) for fold in folds)
    assert folds == speaker_folds(list(reversed(MEN + WOMEN)), GENDERS, n_folds)  # no seed, no order


def test_speaker_folds_exact_layout():
    """The layout is part of the results' provenance: sorted, consecutive blocks per gender."""
    assert speaker_folds(MEN + WOMEN, GENDERS, 4) == [
        ["M001", "M002", "W001", "W002"],
        ["M003", "M004", "W003", "W004"],
        ["M005", "M006", "W005", "W006"],
    ]
    assert speaker_folds(["M001", "M002", "W001", "X"], {"M001": "M", "M002": "M", "W001": "F"}, 2) == [
        ["M001", "W001", "X"],
        ["M002"],
    ]
