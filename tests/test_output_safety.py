"""Outputs stay inside --out, user folders are never taken over, odd file names survive.

Regression tests for "Hardening round 2" (must-fix 2, 4 and 7), driving the `s2e` CLI.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pandas as pd
import pytest
from _data_trees import tiny_mead, tree_state  # noqa: F401 (fixture)
from _pix2pixhd_tree import make_prepared_tree

from s2e_lib.cli import main
from s2e_lib.data.manifest import read_manifest, write_manifest
from s2e_lib.data.prepare import is_prepared_tree
from s2e_lib.errors import InputError
from s2e_lib.fileio import path_inside, safe_name


def _run(args, capsys):
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err.strip()


def _assert_one_line_error(code, err, *needles):
    assert code == 2, f"exit {code}, stderr: {err}"
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines and lines[-1].startswith("error:"), err
    assert "Traceback" not in err
    for needle in needles:
        assert str(needle) in err, f"{needle!r} not in {err!r}"


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


# --- safe_name / path_inside ------------------------------------------------------------


def test_safe_name_and_path_inside(tmp_path):
    for plain in ("M003", "front", "001", "level_3", "Actor_01", "03-01", "é voix"):
        assert safe_name(plain) == plain  # ordinary names pass unchanged
    for bad in (
        "../../X",
        "001/../../../../Y",
        "..",
        ".",
        "",
        "a\x00b",
        "a\nb",
        "x\udcffy",
        "C:\\x",
        ".hidden",
    ):
        name = safe_name(bad)
        assert name and "/" not in name and "\\" not in name and ".." not in name
        assert not name.startswith(".") and all(ord(c) >= 32 for c in name)
        name.encode("utf-8")  # always writable as UTF-8
        assert safe_name(bad) == name  # deterministic
    assert safe_name("a/b") != safe_name("a_b")  # a changed name never collides with a plain one
    assert len(safe_name("x" * 400).encode()) <= 200
    assert path_inside(tmp_path, "a", "b") == (tmp_path / "a" / "b").resolve()
    with pytest.raises(InputError, match="outside the output folder"):
        path_inside(tmp_path / "out", "..", "x")
    with pytest.raises(InputError, match="outside"):
        path_inside(tmp_path / "out", "/etc/passwd")


# --- 2: pix2pixhd build-dataset with a crafted frames.csv ------------------------------


def test_crafted_frames_csv_writes_nothing_outside_out(tmp_path, capsys):
    work = tmp_path / "a" / "b" / "c" / "work"  # deep enough that every escape lands in tmp_path
    prepared = make_prepared_tree(work / "prepared")
    frames = pd.read_csv(prepared / "frames.csv", dtype=str)
    frames.loc[frames["speaker"] == "M001", "speaker"] = "../../X"
    frames.loc[frames["utterance"] == "001", "utterance"] = "001/../../../../Y"
    frames.to_csv(prepared / "frames.csv", index=False)
    out = work / "out"
    before = _files(tmp_path)
    code, _, err = _run(["pix2pixhd", "build-dataset", "--prepared", prepared, "--out", out], capsys)
    assert code in (0, 2), err  # 2: W002 has no neutral frames (a problem row, not a crash)
    assert "Traceback" not in err
    new = _files(tmp_path) - before
    assert new, "nothing was written"
    outside = [p for p in new if not (tmp_path / p).resolve().is_relative_to(out.resolve())]
    assert outside == [], outside
    names = sorted(p.name for p in (out / "A").iterdir())
    assert names and all(".." not in n for n in names)
    pairs = pd.read_csv(out / "pairs.csv", dtype=str)
    assert set(pairs["speaker"]) == {"../../X"}  # the data keeps its values; only names are safe
    assert all(
        (out / a).is_file() and (out / b).is_file() for a, b in zip(pairs["a"], pairs["b"], strict=True)
    )


# --- 2: manifests pointing outside their folder ----------------------------------------


def _manifest(folder: Path, audio_path: str, videos: str = "{}") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "manifest.csv"
    pd.DataFrame(
        [
            {
                "corpus": "mead",
                "speaker": "M001",
                "gender": "M",
                "emotion": "happy",
                "level": 1,
                "utterance": "001",
                "audio_path": audio_path,
                "videos": videos,
                "duration": 1.0,
            }
        ]
    ).to_csv(path, index=False)
    return path


def test_manifest_with_escaping_audio_path_is_refused(tmp_path, capsys):
    manifest = _manifest(tmp_path / "data", "../../etc/passwd")
    with pytest.raises(InputError, match=r"manifest.csv: row 1: audio_path '../../etc/passwd' lies outside"):
        read_manifest(manifest)
    code, _, err = _run(["ser", "eval", "--data", manifest], capsys)
    _assert_one_line_error(code, err, manifest, "row 1", "../../etc/passwd")
    assert len(err.splitlines()) == 1


def test_manifest_paths_inside_its_roots_are_kept(tmp_path):
    folder = tmp_path / "data"
    (folder / "audio").mkdir(parents=True)
    inside = folder / "audio" / "a.wav"
    # absolute inside the folder: kept; relative with a harmless ..: kept
    assert read_manifest(_manifest(folder, str(inside)))["audio_path"][0] == str(inside)
    assert read_manifest(_manifest(folder, "audio/../audio/a.wav"))["audio_path"][0].endswith("a.wav")
    # absolute outside, or a video escaping: refused
    with pytest.raises(InputError, match="row 1: audio_path '/etc/passwd'"):
        read_manifest(_manifest(folder, "/etc/passwd"))
    with pytest.raises(InputError, match="row 1: video front"):
        read_manifest(_manifest(folder, "audio/a.wav", json.dumps({"front": "../../x.mp4"})))
    # write_manifest declares the corpus root of paths outside its folder: they read back
    df = pd.read_csv(_manifest(tmp_path / "corpus", "a.wav"), dtype={"utterance": str})
    df["audio_path"] = str(tmp_path / "corpus" / "a.wav")
    df["videos"] = [{}]
    df.attrs["root"] = str(tmp_path / "corpus")
    written = write_manifest(df, tmp_path / "elsewhere" / "manifest.csv")
    assert read_manifest(written)["audio_path"][0] == str(tmp_path / "corpus" / "a.wav")


# --- 4: prepare never takes over a user's folder ---------------------------------------


def _prepare_args(root, out):
    return ["prepare", "mead", "--root", root, "--out", out, "--speakers", "W001", "--emotions", "happy,neutral",
            "--frames", "first", "--max-frames", "1"]  # fmt: skip


def test_prepare_refuses_a_non_empty_unmarked_folder(tiny_mead, s2e_home, capsys):  # noqa: F811
    mine = s2e_home / "data" / "mydata"
    (mine / "frames" / "W001").mkdir(parents=True)
    (mine / "manifest.csv").write_text("my own manifest\n")
    (mine / "problems.csv").write_text("my own notes\n")
    (mine / "frames" / "W001" / "keep.png").write_bytes(b"not a frame")
    before = tree_state(mine)
    contents = {p: (mine / p).read_bytes() for p in before if (mine / p).is_file()}
    code, _, err = _run(_prepare_args(tiny_mead, mine), capsys)
    _assert_one_line_error(code, err, mine, "not an s2e prepare folder (no prepare_params.json)")
    assert tree_state(mine) == before
    assert {p: (mine / p).read_bytes() for p in contents} == contents
    # a prepare_params.json that is not ours does not count as the marker
    (mine / "prepare_params.json").write_text('{"format": "something-else"}')
    code, _, err = _run(_prepare_args(tiny_mead, mine), capsys)
    _assert_one_line_error(code, err, "not an s2e prepare folder")
    assert (mine / "manifest.csv").read_text() == "my own manifest\n"


def test_prepare_resumes_its_own_marked_folder(tiny_mead, tmp_path, capsys):  # noqa: F811
    out = tmp_path / "prepared"
    code, first, err = _run(_prepare_args(tiny_mead, out), capsys)
    assert code == 0, err
    assert is_prepared_tree(out)
    assert json.loads((out / "prepare_params.json").read_text())["format"] == "s2e-prepare"
    code, second, err = _run(_prepare_args(tiny_mead, out), capsys)
    assert code == 0, err
    assert "prepared 0, skipped 4" in second, second
    # a tree marked by an older version (no "format" key) is still resumed
    params = json.loads((out / "prepare_params.json").read_text())
    params.pop("format")
    (out / "prepare_params.json").write_text(json.dumps(params))
    assert is_prepared_tree(out)
    code, third, err = _run(_prepare_args(tiny_mead, out), capsys)
    assert code == 0 and "skipped 4" in third, err
    # an empty folder is fine too
    (tmp_path / "empty").mkdir()
    code, _, err = _run(_prepare_args(tiny_mead, tmp_path / "empty"), capsys)
    assert code == 0, err


# --- 7: file names that are not UTF-8 ---------------------------------------------------


def _odd_name_folder(tmp_path: Path) -> Path:
    voices = tmp_path / "voices"
    voices.mkdir()
    try:
        fd = os.open(os.fsencode(voices) + b"/x\xffy.wav", os.O_WRONLY | os.O_CREAT, 0o644)
    except (OSError, UnicodeError):
        pytest.skip("this filesystem refuses file names that are not UTF-8")
    os.write(fd, b"RIFF\x00\x00not audio at all")
    os.close(fd)
    (voices / "broken.wav").write_bytes(b"RIFF\x00\x00not audio either")
    return voices


def _face(tmp_path: Path) -> Path:
    from PIL import Image
    from skimage import data

    face = tmp_path / "face.png"
    Image.fromarray(data.astronaut()).save(face)
    return face


def _summary_rows(path: Path) -> list[dict]:
    with path.open(encoding="utf-8", errors="surrogateescape", newline="") as fh:
        return list(csv.DictReader(fh))


def _terminal_like_stderr() -> None:
    """Let captured stderr escape what it cannot encode, as Python's own stderr does
    (``errors="backslashreplace"``), so the test sees what a terminal would. Called in
    the test body: capture is set up again between fixtures and the test."""
    import sys

    sys.stderr.reconfigure(errors="backslashreplace")


def test_batch_with_non_utf8_file_name_writes_summary(tmp_path, capsys):
    _terminal_like_stderr()
    voices = _odd_name_folder(tmp_path)
    out = tmp_path / "batch"
    code, _, err = _run(["run", "--audio", voices, "--face", _face(tmp_path), "--out-dir", out], capsys)
    assert code == 2, err  # both recordings are broken: their rows fail, the batch finishes
    assert "Traceback" not in err and "UnicodeEncodeError" not in err
    assert "x\\xffy.wav" in err  # printed with an escape of the byte
    raw = (out / "summary.csv").read_bytes()
    assert b"x\xffy.wav" in raw  # the original bytes of the name, not lost or mangled
    rows = _summary_rows(out / "summary.csv")
    assert [Path(r["audio"]).name for r in rows] == ["broken.wav", "x\udcffy.wav"]
    assert [r["status"] for r in rows] == ["failed", "failed"]
    # pair folders are named safely (valid UTF-8, one component) inside the output folder
    for r in rows:
        folder = Path(r["out_dir"])
        assert folder.parent == out and os.fsdecode(folder.name).encode("utf-8")
    # a second run into the same folder still rewrites its summary (it reads the old one back)
    code, _, err = _run(["run", "--audio", voices, "--face", _face(tmp_path), "--out-dir", out], capsys)
    assert code == 2 and "already exists" not in err and "Unicode" not in err, err
    assert b"x\xffy.wav" in (out / "summary.csv").read_bytes()


@pytest.mark.slow
def test_batch_with_non_utf8_file_name_end_to_end(tmp_path, capsys):
    _terminal_like_stderr()
    import soundfile as sf

    from s2e_lib import sample

    voices = _odd_name_folder(tmp_path)
    voice = sample.synthesize(sample.make_speakers(1, seed=0)[0], "happy", 3, 1)
    os.unlink(os.fsencode(voices) + b"/x\xffy.wav")
    sf.write(tmp_path / "v.wav", voice, 16000)
    os.rename(os.fsencode(tmp_path / "v.wav"), os.fsencode(voices) + b"/x\xffy.wav")
    out = tmp_path / "batch"
    code, _, err = _run(["run", "--audio", voices, "--face", _face(tmp_path), "--out-dir", out], capsys)
    assert code == 2, err  # broken.wav fails; the odd name is processed
    rows = {Path(r["audio"]).name: r for r in _summary_rows(out / "summary.csv")}
    assert rows["x\udcffy.wav"]["status"] == "ok" and rows["broken.wav"]["status"] == "failed"
    result = json.loads((Path(rows["x\udcffy.wav"]["out_dir"]) / "result.json").read_text(encoding="utf-8"))
    assert result["audio"].endswith("x\udcffy.wav")
