"""The corpus survey (s2e_lib.data.survey): counts, durations, loudness, formats, cache, terms, plots."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from s2e_lib.data import survey as survey_module
from s2e_lib.data import write_manifest
from s2e_lib.data.survey import (
    corpus_info,
    corpus_summary,
    emotion_summary,
    find_corpora,
    integrated_loudness,
    licence_tag,
    measure_clip,
    measure_clips,
    missing_emotions,
    survey_corpora,
)
from s2e_lib.errors import InputError
from tests._data_trees import make_ravdess_tree
from tests._ser_data import make_corpus, synth_clip

SR = 16_000
GAIN_6DB = 10 ** (6 / 20)


def _voice(seconds: float, seed: int) -> np.ndarray:
    """A synthetic voice exactly ``seconds`` long (padded with silence if short), peak 0.2."""
    rng = np.random.default_rng(seed)
    y = synth_clip("neutral", 140.0, rng)
    n = int(round(seconds * SR))
    y = np.pad(y, (0, max(0, n - len(y))))[:n]
    return (0.2 * y / np.max(np.abs(y))).astype(np.float32)


def _manifest_corpus(root, name: str = "alpha") -> dict:
    """A manifest corpus: 2 speakers x (neutral, angry, sad) x 2 takes of 1.0 s and 2.0 s.

    Every angry take is its speaker's neutral take 6 dB louder; sad takes equal neutral ones.
    """
    folder = root / name
    rows = []
    for s, (speaker, gender) in enumerate((("a1", "f"), ("a2", "m"))):
        for take, seconds in enumerate((1.0, 2.0)):
            voice = _voice(seconds, seed=10 * s + take)
            for emotion, gain in (("neutral", 1.0), ("angry", GAIN_6DB), ("sad", 1.0)):
                path = folder / speaker / f"{emotion}_{take}.flac"
                path.parent.mkdir(parents=True, exist_ok=True)
                sf.write(path, voice * gain, SR, subtype="PCM_16")
                rows.append(
                    {
                        "corpus": name,
                        "speaker": speaker,
                        "gender": gender,
                        "emotion": emotion,
                        "level": 1,
                        "utterance": f"{emotion}_{take}",
                        "audio_path": str(path),
                        "videos": {},
                        "duration": seconds,
                    }
                )
    write_manifest(pd.DataFrame(rows), folder / "manifest.csv")
    (folder / "SOURCE.md").write_text(
        "# Alpha - training copy\n\nLanguage Testish. Two speakers.\n\n"
        "Licence as stated by the authors: Creative Commons CC BY-NC-SA 4.0:\n"
        "attribution, non-commercial, share-alike.\n\n## Selection\nAll files.\n"
    )
    return {"folder": folder, "clips": len(rows), "seconds": 2 * 3 * (1.0 + 2.0)}


@pytest.fixture()
def corpora(tmp_path):
    """A folder of corpora: a manifest corpus, a MEAD tree (5 emotions x 1 take), a face folder."""
    root = tmp_path / "corpora"
    alpha = _manifest_corpus(root)
    make_corpus(root / "beta", takes=1, speakers={"M001": 110.0})
    (root / "faces").mkdir()
    (root / "faces" / "01.jpg").write_bytes(b"not a corpus")
    return {"root": root, "alpha": alpha}


def test_find_corpora_lists_speech_corpora_only(corpora, tmp_path):
    found = find_corpora(corpora["root"])
    assert list(found) == ["alpha", "beta"]
    assert found["alpha"].name == "manifest.csv"
    assert found["beta"] == corpora["root"] / "beta"
    assert find_corpora(tmp_path / "absent") == {}
    make_ravdess_tree(tmp_path / "more" / "ravdess")
    assert list(find_corpora(tmp_path / "more")) == ["ravdess"]


def test_survey_counts_durations_and_loudness(corpora, tmp_path):
    clips = survey_corpora(
        find_corpora(corpora["root"]).values(), cache_dir=tmp_path / "cache", progress=False
    )
    assert len(clips) == corpora["alpha"]["clips"] + 5
    assert (clips["error"] == "").all()
    assert set(clips["corpus"]) == {"alpha", "mead"}
    assert set(clips.loc[clips.corpus == "alpha", "source"]) == {
        str(corpora["alpha"]["folder"] / "manifest.csv")
    }

    summary = corpus_summary(clips)
    alpha = summary.loc["alpha"]
    assert alpha["clips"] == 12 and alpha["speakers"] == 2
    assert (alpha["female"], alpha["male"]) == (1, 1)
    assert alpha["clips_per_speaker"] == "6–6"
    assert alpha["emotions"] == "angry, neutral, sad"
    assert alpha["missing"] == "fear, happy"
    assert alpha["hours"] == pytest.approx(corpora["alpha"]["seconds"] / 3600, abs=1e-3)
    assert (alpha["min_s"], alpha["median_s"], alpha["max_s"]) == (1.0, 1.5, 2.0)
    assert alpha["sample_rates"] == "16000" and alpha["channels"] == "1"
    assert alpha["formats"] == "FLAC PCM_16"
    assert (alpha["language"], alpha["licence"]) == ("Testish", "CC BY-NC-SA 4.0")
    assert summary.loc["mead", "missing"] == "" and summary.loc["mead", "formats"] == "WAV PCM_16"
    assert missing_emotions(clips) == {"alpha": ["fear", "happy"]}

    per = emotion_summary(clips).set_index(["corpus", "emotion"])
    assert per.loc[("alpha", "angry"), "clips"] == 4
    assert per.loc[("alpha", "angry"), "share"] == pytest.approx(1 / 3, abs=1e-3)
    assert per.loc[("alpha", "angry"), "minutes"] == pytest.approx(2 * 3.0 / 60, abs=0.01)
    # the angry takes are the neutral ones 6 dB louder: 6 LU louder in BS.1770 and active level
    assert per.loc[("alpha", "angry"), "loudness_vs_neutral"] == pytest.approx(6.0, abs=0.1)
    assert per.loc[("alpha", "angry"), "active_vs_neutral"] == pytest.approx(6.0, abs=0.1)
    assert per.loc[("alpha", "sad"), "loudness_vs_neutral"] == pytest.approx(0.0, abs=0.05)
    alpha_clips = clips[clips.corpus == "alpha"].set_index(["speaker", "utterance"])
    for speaker in ("alpha/a1", "alpha/a2"):  # prefixed: several corpora
        for take in (0, 1):
            loud = alpha_clips.loc[(speaker, f"angry_{take}"), "loudness_lufs"]
            quiet = alpha_clips.loc[(speaker, f"neutral_{take}"), "loudness_lufs"]
            assert loud - quiet == pytest.approx(6.0, abs=0.05)


def test_loudness_of_a_reference_sine(tmp_path):
    """BS.1770: a 997 Hz sine of peak amplitude A reads 20 log10(A) - 3.01 LUFS (mono)."""
    t = np.arange(3 * SR) / SR
    path = tmp_path / "sine.wav"
    sf.write(path, 0.1 * np.sin(2 * np.pi * 997 * t), SR, subtype="FLOAT")
    row = measure_clip(path)
    assert row["loudness_lufs"] == pytest.approx(-20.0 - 3.01, abs=0.1)
    assert row["peak_dbfs"] == pytest.approx(-20.0, abs=0.01)
    assert row["active_level_dbfs"] == pytest.approx(-20.0 - 3.01, abs=0.05)  # a sine's power is A²/2
    assert row["duration"] == 3.0 and row["error"] == ""


def test_formats_short_silent_and_broken_clips(tmp_path):
    stereo = tmp_path / "stereo.wav"
    sf.write(stereo, np.full((44_100, 2), 0.05, np.float32) * np.sin(np.arange(44_100))[:, None], 44_100)
    row = measure_clip(stereo)
    assert (row["sample_rate"], row["channels"], row["duration"]) == (44_100, 2, 1.0)
    assert row["format"] == "WAV PCM_16" and math.isfinite(row["loudness_lufs"])

    short = tmp_path / "short.wav"
    sf.write(short, _voice(0.3, 0), SR)  # shorter than one 400 ms gating block
    row = measure_clip(short)
    assert row["duration"] == pytest.approx(0.3) and math.isnan(row["loudness_lufs"])
    assert math.isfinite(row["active_level_dbfs"])

    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(SR, np.float32), SR)
    row = measure_clip(silent)
    assert math.isnan(row["loudness_lufs"]) and math.isnan(row["active_level_dbfs"])
    assert math.isnan(integrated_loudness(np.zeros((SR, 6)), SR))  # six channels mixed, silent

    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF\x00\x00garbage" * 10)
    table = measure_clips([stereo, broken, tmp_path / "gone.wav"], cache_dir=False, progress=False)
    assert list(table["path"]) == [str(stereo), str(broken), str(tmp_path / "gone.wav")]
    assert table.loc[0, "error"] == ""
    assert table.loc[1, "error"] and table.loc[2, "error"]
    assert table.loc[1:, "duration"].isna().all()


def test_m4a_is_read_through_pyav(sample_corpus):
    path = next(sample_corpus.rglob("*.m4a"))
    row = measure_clip(path)
    assert row["error"] == "" and row["channels"] == 1 and row["sample_rate"] > 0
    assert "aac" in row["format"].lower() and row["duration"] > 0.5
    assert math.isfinite(row["loudness_lufs"])


def test_cache_reuses_measures_and_notices_changed_files(corpora, tmp_path, monkeypatch):
    sources = list(find_corpora(corpora["root"]).values())
    cache = tmp_path / "cache"
    first = survey_corpora(sources, cache_dir=cache, progress=False)
    assert len(list(cache.glob("v*.csv"))) == 1

    def refuse(path):
        raise AssertionError(f"{path} measured again")

    monkeypatch.setattr(survey_module, "measure_clip", refuse)
    again = survey_corpora(sources, cache_dir=cache, progress=False)
    pd.testing.assert_frame_equal(first, again)

    monkeypatch.undo()
    changed = corpora["alpha"]["folder"] / "a1" / "neutral_0.flac"
    audio, sr = sf.read(changed, dtype="float32")
    sf.write(changed, audio * GAIN_6DB, sr, subtype="PCM_16")
    calls = []
    real = survey_module.measure_clip
    monkeypatch.setattr(survey_module, "measure_clip", lambda p: calls.append(p) or real(p))
    third = survey_corpora(sources, cache_dir=cache, progress=False)
    assert calls == [str(changed)]
    row = third["audio_path"].astype(str) == str(changed)
    assert (third.loc[row, "loudness_lufs"] - first.loc[row, "loudness_lufs"]).iloc[0] == pytest.approx(
        6.0, abs=0.05
    )


def test_a_damaged_cache_is_measured_again(corpora, tmp_path):
    sources = list(find_corpora(corpora["root"]).values())
    cache = tmp_path / "cache"
    first = survey_corpora(sources, cache_dir=cache, progress=False)
    for file in cache.glob("v*.csv"):
        file.write_text("path,size\n\x00garbage")
    again = survey_corpora(sources, cache_dir=cache, progress=False)
    pd.testing.assert_frame_equal(first, again)


def test_sample_per_corpus_is_spread_over_emotions(corpora, tmp_path):
    sources = find_corpora(corpora["root"]).values()
    clips = survey_corpora(sources, max_per_corpus=3, cache_dir=False, progress=False)
    counts = clips.groupby("corpus").size()
    assert counts.to_dict() == {"alpha": 3, "mead": 3}
    assert clips.loc[clips.corpus == "alpha", "emotion"].nunique() == 3  # one of each of its three
    assert clips["error"].eq("").all()
    same = survey_corpora(sources, max_per_corpus=3, cache_dir=False, progress=False)
    assert list(same["audio_path"]) == list(clips["audio_path"])  # seeded


def test_emotions_filter_and_bad_sources(corpora, tmp_path):
    clips = survey_corpora(
        [corpora["alpha"]["folder"] / "manifest.csv"], emotions=["angry"], cache_dir=False, progress=False
    )
    assert set(clips["emotion"]) == {"angry"} and len(clips) == 4
    with pytest.raises(InputError, match="not found"):
        survey_corpora([tmp_path / "nothing"], progress=False)
    with pytest.raises(InputError):
        survey_corpora([], progress=False)


def test_corpus_info_from_source_md_and_readme(corpora, tmp_path):
    info = corpus_info(corpora["alpha"]["folder"] / "manifest.csv")
    assert info["corpus"] == "alpha" and info["language"] == "Testish"
    assert info["licence"] == "CC BY-NC-SA 4.0" and info["terms"].startswith("Licence as stated")

    top = tmp_path / "shared"
    make_ravdess_tree(top / "data" / "ravdess16k")
    (top / "README.md").write_text(
        "# shared\n\n## data/ravdess16k/\nRAVDESS speech (Livingstone & Russo 2018, CC BY-NC-SA 4.0),\n"
        "actors 01-16.\n\nMore text.\n\n## data/other/\nCC BY 4.0\n"
    )
    info = corpus_info(top / "data" / "ravdess16k")
    assert info["language"] == "English" and info["licence"] == "CC BY-NC-SA 4.0"
    assert info["terms"] == "RAVDESS speech (Livingstone & Russo 2018, CC BY-NC-SA 4.0), actors 01-16."
    assert corpus_info(tmp_path / "unknown") == {
        "corpus": "unknown",
        "language": "",
        "licence": "",
        "terms": "",
    }


@pytest.mark.parametrize(
    "text, tag",
    [
        ("Creative Commons CC BY-NC-ND 4.0 (README)", "CC BY-NC-ND 4.0"),
        ("licensed CC BY 4.0, consent for altered use", "CC BY 4.0"),
        ("treat as research use with citation", "research use"),
        ("no terms given", ""),
    ],
)
def test_licence_tag(text, tag):
    assert licence_tag(text) == tag


def test_survey_plots(corpora):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from s2e_lib.viz.data import (
        plot_corpus_durations,
        plot_corpus_emotions,
        plot_loudness_by_emotion,
        plot_speakers,
    )

    clips = survey_corpora(find_corpora(corpora["root"]).values(), cache_dir=False, progress=False)
    ax = plot_corpus_emotions(clips)
    heights = sorted(int(p.get_height()) for p in ax.patches if p.get_height() > 0)
    assert heights == [1] * 5 + [4] * 3  # mead: one take of each of 5; alpha: 4 of each of 3
    fig = plot_corpus_durations(clips)
    assert [a.get_title().split(":")[0] for a in fig.axes] == ["alpha", "mead"]
    ax = plot_loudness_by_emotion(clips)
    assert ax.get_ylabel() == "LUFS" and [t.get_text() for t in ax.get_xticklabels()] == ["alpha", "mead"]
    fig = plot_speakers(clips)
    assert len(fig.axes) == 2
    plt.close("all")


@pytest.mark.shared
def test_survey_of_the_shared_corpora(shared_data, tmp_path):
    found = find_corpora(shared_data)
    assert {"ravdess16k", "ased16k", "nemo16k", "turev16k", "emovo16k"} <= set(found)
    assert "frl_london" not in found and "ials_pretrain" not in found
    clips = survey_corpora(found.values(), max_per_corpus=24, cache_dir=tmp_path / "cache", progress=False)
    assert (clips["error"] == "").all()
    summary = corpus_summary(clips)
    assert (summary["sample_rates"] == "16000").all() and (summary["channels"] == "1").all()
    assert summary.loc["turev", "missing"] == "neutral, fear"
    assert summary.loc["ravdess", "licence"] == "CC BY-NC-SA 4.0"
    assert summary.loc["turev", "licence"] == "CC BY-NC-ND 4.0"
    assert summary.loc["ased", "language"] == "Amharic"
    # RAVDESS: angry is far louder than neutral (the shared README's "loud = angry" caveat)
    ravdess = survey_corpora(
        [found["ravdess16k"]], emotions=["angry", "neutral"], cache_dir=tmp_path / "cache", progress=False
    )
    assert len(ravdess) == 128 + 64 and ravdess["speaker"].nunique() == 16
    gap = emotion_summary(ravdess).set_index("emotion").loc["angry", "loudness_vs_neutral"]
    assert gap > 10


def test_a_corpus_reached_through_a_symlink_keeps_its_source(tmp_path):
    import pandas as pd

    from s2e_lib.data.survey import _sources_of

    real = tmp_path / "real" / "corpus"
    real.mkdir(parents=True)
    (real / "a.wav").write_bytes(b"")
    link = tmp_path / "linked"
    link.symlink_to(real)
    manifest = link / "manifest.csv"
    assert _sources_of(pd.Series([str(real / "a.wav")]), [str(manifest)]) == [str(manifest)]
    assert _sources_of(pd.Series([str(tmp_path / "other.wav")]), [str(manifest)]) == [""]
