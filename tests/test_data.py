"""Data stage: scanning MEAD / RAVDESS trees, manifests, speaker splits."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from _data_trees import copy_tree, make_ravdess_tree, tiny_mead  # noqa: F401 (fixture)

from s2e_lib.data import (
    MANIFEST_COLUMNS,
    assign_split,
    detect_format,
    read_manifest,
    scan,
    speaker_split,
    write_manifest,
)
from s2e_lib.errors import InputError


@pytest.fixture()
def broken_mead(tiny_mead, tmp_path):  # noqa: F811
    """The tiny tree with the usual real-world damage."""
    root = copy_tree(tiny_mead, tmp_path / "MEAD")
    # the original project's spelling of neutral, in audio and video
    for sub in ("audio", "video/front"):
        (root / "M001" / sub / "neutral").rename(root / "M001" / sub / "netural")
    # a corrupt and an empty audio file
    (root / "M001/audio/angry/level_3/003.m4a").write_bytes(b"\x00\x00\x00\x18ftypM4A garbage" * 20)
    (root / "M001/audio/sad/level_3/003.m4a").write_bytes(b"")
    # an actor whose video archive was never unpacked
    import shutil

    shutil.rmtree(root / "W001" / "video")
    # an unknown folder
    (root / "M001/audio/bored/level_1").mkdir(parents=True)
    return root


def test_scan_mead_sample_tree(tiny_mead):  # noqa: F811
    df = scan(tiny_mead)
    assert list(df.columns) == list(MANIFEST_COLUMNS)
    assert detect_format(tiny_mead) == "mead"
    # 2 speakers x (4 emotions x 2 utterances at level 3 + neutral 2 utterances at level 1)
    assert len(df) == 20
    assert set(df["emotion"]) == {"angry", "neutral", "fear", "happy", "sad"}
    assert set(df.loc[df.emotion == "neutral", "level"]) == {1}
    assert set(df["gender"]) == {"M", "F"}
    assert df.loc[df.speaker == "W001", "gender"].eq("F").all()
    assert df["utterance"].isin(["001", "002"]).all()
    assert (df["duration"] > 1.0).all() and (df["duration"] < 5.0).all()
    assert all(set(v) == {"front"} for v in df["videos"])
    assert df.attrs["problems"] == []


def test_scan_mead_reports_missing_and_broken_parts(broken_mead):
    df = scan(broken_mead, views=["front", "left_30"])
    problems = pd.DataFrame(df.attrs["problems"])
    errors = dict(zip(problems["path"], problems["error"], strict=True))
    # netural is read as neutral
    m_neutral = df[(df.speaker == "M001") & (df.emotion == "neutral")]
    assert len(m_neutral) == 2 and m_neutral["audio_path"].str.contains("/netural/").all()
    assert all("front" in v and "/netural/" in v["front"] for v in m_neutral["videos"])
    # the corrupt and the empty files are reported and left out
    corrupt = str(broken_mead / "M001/audio/angry/level_3/003.m4a")
    empty = str(broken_mead / "M001/audio/sad/level_3/003.m4a")
    assert corrupt in errors and "not a readable audio file (invalid data" in errors[corrupt]
    assert empty in errors and "empty" in errors[empty]
    assert not df["audio_path"].isin([corrupt, empty]).any()
    # W001 lost its video folder: audio kept, reported; a requested view missing is reported
    assert str(broken_mead / "W001" / "video") in errors
    assert str(broken_mead / "M001" / "video" / "left_30") in errors
    assert (df.speaker == "W001").sum() == 10
    assert all(v == {} for v in df.loc[df.speaker == "W001", "videos"])
    assert str(broken_mead / "M001/audio/bored") in errors
    assert set(problems["stage"]) == {"scan"}


def test_scan_filters(tiny_mead):  # noqa: F811
    df = scan(tiny_mead, emotions="angry,netural", levels=[3], speakers=["W001"], durations=False)
    assert set(df["emotion"]) == {"angry"}  # neutral exists only at level 1
    assert set(df["speaker"]) == {"W001"}
    assert df["duration"].isna().all()
    df = scan(tiny_mead, emotions=["neutral"], levels="1", durations=False)
    assert len(df) == 4 and set(df["level"]) == {1}
    everything = scan(tiny_mead, emotions=None, durations=False)
    assert len(everything) == 20
    missing = scan(tiny_mead, speakers="M001,M999", durations=False)
    assert set(missing["speaker"]) == {"M001"}
    assert any("M999" in p["error"] for p in missing.attrs["problems"])
    with pytest.raises(InputError, match="unknown emotion"):
        scan(tiny_mead, emotions=["bored"])
    with pytest.raises(InputError, match="level"):
        scan(tiny_mead, levels=["high"])


def test_scan_bad_roots(tmp_path):
    with pytest.raises(InputError, match="not found"):
        scan(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="neither a MEAD"):
        scan(tmp_path / "empty")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(InputError, match="not a folder"):
        scan(tmp_path / "file.txt")
    with pytest.raises(InputError, match="format"):
        scan(tmp_path, format="crema")


def test_scan_ravdess_tree(tmp_path):
    root = make_ravdess_tree(tmp_path / "RAVDESS")
    assert detect_format(root) == "ravdess"
    df = scan(root)
    problems = pd.DataFrame(df.attrs["problems"])
    # mission emotions only: neutral (1 level) and angry, sad (2 levels), 2 statements
    assert set(df["emotion"]) == {"neutral", "angry", "sad"}
    per_actor = df.groupby("speaker").size().to_dict()
    assert per_actor == {"Actor_01": 10, "Actor_02": 10}  # the corrupt extra take left out
    assert dict(df.groupby("speaker")["gender"].first()) == {"Actor_01": "M", "Actor_02": "F"}
    assert set(df["level"]) == {1, 2}
    assert set(df["utterance"]) == {"01-01", "02-01"}
    assert (df["corpus"] == "ravdess").all()
    assert df["duration"].between(0.49, 0.51).all()
    errors = dict(zip(problems["path"], problems["error"], strict=True))
    assert any(p.endswith("notes.wav") for p in errors)
    assert any(p.endswith("03-01-05-02-02-02-02.wav") for p in errors)
    assert "calm" in set(scan(root, emotions=None)["emotion"])
    with pytest.raises(InputError, match="looks like a RAVDESS tree, not MEAD"):
        scan(root, format="mead")
    assert not any("03-02-" in p for p in scan(root, emotions=None)["audio_path"])  # song ignored


def test_manifest_roundtrip(tiny_mead, tmp_path):  # noqa: F811
    df = scan(tiny_mead)
    path = write_manifest(df, tmp_path / "out" / "manifest.csv")
    back = read_manifest(path)
    assert list(back.columns) == list(MANIFEST_COLUMNS)
    assert back["utterance"].tolist() == df["utterance"].tolist()  # "001" stays a string
    assert back["audio_path"].tolist() == df["audio_path"].tolist()
    assert back["videos"].tolist() == df["videos"].tolist()
    assert back["level"].dtype.kind == "i"
    np.testing.assert_allclose(back["duration"], df["duration"], rtol=1e-6)
    # paths under the manifest's folder are stored relative, so the tree can move
    inner = df.copy()
    inner["audio_path"] = [str(tmp_path / "out" / "audio" / f"{i}.wav") for i in range(len(df))]
    write_manifest(inner, tmp_path / "out" / "manifest.csv")
    text = (tmp_path / "out" / "manifest.csv").read_text()
    assert ",audio/0.wav," in text
    assert read_manifest(tmp_path / "out" / "manifest.csv")["audio_path"][0] == str(
        tmp_path / "out/audio/0.wav"
    )


def test_read_manifest_errors(tmp_path):
    with pytest.raises(InputError, match="not found"):
        read_manifest(tmp_path / "none.csv")
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
    with pytest.raises(InputError, match="missing columns"):
        read_manifest(tmp_path / "bad.csv")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(InputError, match="not a manifest"):
        read_manifest(tmp_path / "empty.csv")


def _speakers_table(n_m=4, n_f=4):
    rows = [{"speaker": f"M{i:03d}", "gender": "M"} for i in range(1, n_m + 1)]
    rows += [{"speaker": f"W{i:03d}", "gender": "F"} for i in range(1, n_f + 1)]
    return pd.DataFrame(rows * 3)  # several takes per speaker


def test_speaker_split_disjoint_balanced_deterministic():
    df = _speakers_table()
    splits = [speaker_split(df, n_test=2, n_val=2, seed=s) for s in range(6)]
    for split in splits:
        groups = [set(split[k]) for k in ("train", "val", "test")]
        assert sum(len(g) for g in groups) == 8
        assert set.union(*groups) == set(df["speaker"])
        assert not (groups[0] & groups[1] or groups[0] & groups[2] or groups[1] & groups[2])
        assert {s[0] for s in split["test"]} == {"M", "W"}  # one of each gender
        assert {s[0] for s in split["val"]} == {"M", "W"}
    assert speaker_split(df, n_test=2, n_val=2, seed=3) == splits[3]
    assert len({tuple(s["test"]) for s in splits}) > 1  # the seed matters
    tagged = assign_split(df, splits[0])
    assert tagged.groupby("speaker")["split"].nunique().eq(1).all()


def test_speaker_split_explicit_lists():
    df = _speakers_table()
    split = speaker_split(df, test_speakers="M003,W002", val_speakers=["M001"])
    assert split["test"] == ["M003", "W002"] and split["val"] == ["M001"]
    assert "M003" not in split["train"] and len(split["train"]) == 5
    assert speaker_split(["M001", "W001", "M002"], n_test=1, val_speakers=1, seed=0)["train"]
    with pytest.raises(InputError, match="unknown test speaker"):
        speaker_split(df, test_speakers="M042")
    with pytest.raises(InputError, match="both test and val"):
        speaker_split(df, test_speakers="M001", val_speakers="M001")
    with pytest.raises(InputError, match="no speakers left"):
        speaker_split(df, n_test=8)


@pytest.mark.shared
def test_scan_and_split_real_ravdess(shared_data):
    df = scan(shared_data / "ravdess16k")
    assert df.attrs["problems"] == []
    assert df["speaker"].nunique() == 16
    assert len(df) == 16 * (4 + 4 * 2 * 4 + 0)  # 4 neutral + 4 emotions x 2 levels x 4 takes
    assert df.groupby("emotion").size().to_dict() == {
        "angry": 128,
        "fear": 128,
        "happy": 128,
        "neutral": 64,
        "sad": 128,
    }
    assert not df["duration"].isna().any() and math.isclose(df["duration"].median(), 3.6, abs_tol=0.5)
    split = speaker_split(df, n_test=4, n_val=2, seed=0)
    test_genders = df.drop_duplicates("speaker").set_index("speaker").loc[split["test"], "gender"]
    assert sorted(test_genders) == ["F", "F", "M", "M"]


def test_one_line_error_helper():
    from s2e_lib.errors import one_line

    assert one_line(ValueError("  first line  \nsecond line")) == "first line"
    assert one_line(RuntimeError()) == "RuntimeError"
    assert one_line(ValueError("x" * 500)) == "x" * 200
    assert one_line(ValueError("abcdef"), limit=3) == "abc"


def test_comma_list_option_type(capsys):
    import click

    from s2e_lib.cli import main as s2e
    from s2e_lib.cli.types import CommaList

    option = click.Option(["--levels"])
    assert CommaList(int, strip_prefix="level_").convert(" 1, level_3,,", option, None) == [1, 3]
    assert CommaList().convert(" a ,, b ", option, None) == ["a", "b"]
    assert CommaList().convert("", option, None) == []
    assert CommaList(float).convert(["0.5"], option, None) == ["0.5"]  # already converted
    with pytest.raises(InputError, match=r"--levels: 'x' is not an integer"):
        CommaList(int).convert("1,x", option, None)
    capsys.readouterr()
    assert s2e(["prepare", "mead", "--root", "nowhere", "--out", "nowhere", "--levels", "1,x"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "error: --levels: 'x' is not an integer"


def test_default_device():
    import torch

    from s2e_lib.nn import default_device

    assert default_device() == ("cuda" if torch.cuda.is_available() else "cpu")


def test_data_and_ser_import_no_upper_layer():
    """data and ser sit below the editors, the sample corpus, viz and the pipeline."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import s2e_lib.data, s2e_lib.data.prepare, s2e_lib.data.splits, s2e_lib.data.video\n"
        "import s2e_lib.ser, s2e_lib.ser.train, s2e_lib.ser.evaluate, s2e_lib.ser.crosscorpus\n"
        "upper = ('s2e_lib.edit', 's2e_lib.sample', 's2e_lib.viz', 's2e_lib.pipeline', 's2e_lib.cli')\n"
        "print(sorted(m for m in sys.modules if m.startswith(upper)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
