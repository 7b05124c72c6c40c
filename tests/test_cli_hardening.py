"""Every `s2e` command meets bad input with one clear line on stderr and exit code 2."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from s2e_lib.cli import main


@pytest.fixture(scope="module")
def bad(tmp_path_factory):
    from skimage import data

    root = tmp_path_factory.mktemp("bad")
    files = {
        "missing": root / "missing.wav",
        "folder": root / "a_folder",
        "corrupt_audio": root / "corrupt.wav",
        "silent_audio": root / "silent.wav",
        "short_audio": root / "short.wav",
        "no_face": root / "no_face.png",
        "not_image": root / "not_image.png",
        "face": root / "face.png",
        "blocker": root / "blocker.txt",
    }
    files["folder"].mkdir()
    files["corrupt_audio"].write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt garbage")
    sf.write(files["silent_audio"], np.zeros(32000, dtype=np.float32), 16000)
    rng = np.random.default_rng(0)
    sf.write(files["short_audio"], (0.3 * rng.standard_normal(2400)).astype(np.float32), 16000)
    Image.fromarray(np.full((200, 200, 3), 180, dtype=np.uint8)).save(files["no_face"])
    files["not_image"].write_text("this is not a PNG")
    Image.fromarray(data.astronaut()).save(files["face"])
    files["blocker"].write_text("a file, so nothing can be created below it")
    files["unwritable"] = files["blocker"] / "out"  # even root cannot create a folder under a file
    return files


def _run(args, capsys):
    code = main([str(a) for a in args])
    err = capsys.readouterr().err.strip()
    return code, err


def _assert_clean_error(code, err, *needles):
    assert code == 2, f"exit {code}, stderr: {err}"
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines and lines[-1].startswith("error:"), err
    assert "Traceback" not in err
    for needle in needles:
        assert str(needle) in err, f"{needle!r} not in {err!r}"


CASES = {
    # ser
    "ser predict missing": (lambda f: ["ser", "predict", f["missing"]], "missing"),
    "ser predict folder": (lambda f: ["ser", "predict", f["folder"]], "folder"),
    "ser predict corrupt": (lambda f: ["ser", "predict", f["corrupt_audio"]], "corrupt_audio"),
    "ser predict silent": (lambda f: ["ser", "predict", f["silent_audio"]], "silent_audio"),
    "ser predict short": (lambda f: ["ser", "predict", f["short_audio"]], "short_audio"),
    "ser eval missing": (lambda f: ["ser", "eval", "--data", f["missing"]], "missing"),
    "ser train missing": (
        lambda f: ["ser", "train", "--data", f["missing"], "--out", f["folder"] / "m.pt"],
        "missing",
    ),
    # face
    "align missing": (lambda f: ["align", "--face", f["missing"], "--out", f["folder"] / "a.png"], "missing"),
    "align no face": (lambda f: ["align", "--face", f["no_face"], "--out", f["folder"] / "a.png"], "no_face"),
    "edit not image": (
        lambda f: ["edit", "--face", f["not_image"], "--emotion", "happy", "--out", f["folder"] / "e.png"],
        "not_image",
    ),
    "edit folder": (
        lambda f: ["edit", "--face", f["folder"], "--emotion", "happy", "--out", f["folder"] / "e.png"],
        "folder",
    ),
    "edit no face": (
        lambda f: ["edit", "--face", f["no_face"], "--emotion", "sad", "--out", f["folder"] / "e.png"],
        "no_face",
    ),
    "edit unknown emotion": (
        lambda f: ["edit", "--face", f["face"], "--emotion", "bored", "--out", f["folder"] / "e.png"],
        "bored",
    ),
    "edit unwritable": (
        lambda f: ["edit", "--face", f["face"], "--emotion", "happy", "--out", f["unwritable"] / "e.png"],
        "blocker",
    ),
    # run
    "run missing audio": (
        lambda f: ["run", "--audio", f["missing"], "--face", f["face"], "--out-dir", f["folder"] / "r1"],
        "missing",
    ),
    "run corrupt audio": (
        lambda f: [
            "run",
            "--audio",
            f["corrupt_audio"],
            "--face",
            f["face"],
            "--out-dir",
            f["folder"] / "r2",
        ],
        "corrupt_audio",
    ),
    "run silent audio": (
        lambda f: ["run", "--audio", f["silent_audio"], "--face", f["face"], "--out-dir", f["folder"] / "r3"],
        "silent_audio",
    ),
    "run no face": (
        lambda f: [
            "run",
            "--audio",
            f["short_audio"].with_name("voice.wav"),
            "--face",
            f["no_face"],
            "--out-dir",
            f["folder"] / "r4",
        ],
        "no_face",
    ),
    "run not image": (
        lambda f: [
            "run",
            "--audio",
            f["short_audio"].with_name("voice.wav"),
            "--face",
            f["not_image"],
            "--out-dir",
            f["folder"] / "r5",
        ],
        "not_image",
    ),
    "run bad strength": (
        lambda f: [
            "run",
            "--audio",
            f["silent_audio"],
            "--face",
            f["face"],
            "--strength",
            "max",
            "--out-dir",
            f["folder"] / "r6",
        ],
        "strength",
    ),
    "run unwritable": (
        lambda f: [
            "run",
            "--audio",
            f["short_audio"].with_name("voice.wav"),
            "--face",
            f["face"],
            "--out-dir",
            f["unwritable"],
        ],
        "blocker",
    ),
    # data, editors, workbook
    "prepare missing root": (
        lambda f: ["prepare", "mead", "--root", f["missing"], "--out", f["folder"] / "p"],
        "missing",
    ),
    "sample unwritable": (lambda f: ["sample", "--out", f["unwritable"]], "blocker"),
    "pix2pixhd build missing": (
        lambda f: ["pix2pixhd", "build-dataset", "--prepared", f["missing"], "--out", f["folder"] / "pd"],
        "missing",
    ),
    "pix2pixhd train missing": (
        lambda f: ["pix2pixhd", "train", "--data", f["missing"], "--out", f["folder"] / "pt"],
        "missing",
    ),
    "edit pix2pixhd no checkpoint": (
        lambda f: [
            "edit",
            "--editor",
            "pix2pixhd",
            "--checkpoint",
            f["missing"],
            "--face",
            f["face"],
            "--emotion",
            "happy",
            "--out",
            f["folder"] / "p.png",
        ],
        "missing",
    ),
    "ials invert no pretrain": (
        lambda f: [
            "ials",
            "invert",
            "--pretrain",
            f["missing"],
            "--face",
            f["face"],
            "--out",
            f["folder"] / "c.npy",
        ],
        "missing",
    ),
    "notebooks unknown": (lambda f: ["notebooks", "run", "99_nothing"], "99_nothing"),
}


@pytest.fixture(scope="module")
def voice(bad):
    """A real-sounding voice for the cases whose problem is the face or the output."""
    from s2e_lib.sample import make_speakers, synthesize

    path = bad["short_audio"].with_name("voice.wav")
    audio = synthesize(make_speakers(2)[1], "happy", 3, utterance=1, seed=1)
    sf.write(path, np.asarray(audio, dtype=np.float32), 16000)
    return path


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_bad_input_gives_one_line_and_exit_2(case, bad, voice, capsys):
    build, needle = CASES[case]
    code, err = _run(build(bad), capsys)
    _assert_clean_error(code, err, bad[needle].name if needle in bad else needle)


def test_existing_output_needs_overwrite(bad, capsys, tmp_path):
    out = tmp_path / "edited.png"
    out.write_bytes(b"keep me")
    code, err = _run(["edit", "--face", bad["face"], "--emotion", "happy", "--out", out], capsys)
    _assert_clean_error(code, err, "--overwrite")
    assert out.read_bytes() == b"keep me"


def test_debug_flag_shows_traceback(bad):
    from s2e_lib.errors import S2EError

    with pytest.raises(S2EError, match="not_image"):
        main(
            [
                "--debug",
                "edit",
                "--face",
                str(bad["not_image"]),
                "--emotion",
                "happy",
                "--out",
                str(bad["folder"] / "debug.png"),
            ]
        )
