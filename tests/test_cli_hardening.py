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


# --- option validation: one line, exit 2, before any work (hardening round 2) ------------


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """Files a hostile tester passes as weights and checkpoints."""
    import os

    import torch

    root = tmp_path_factory.mktemp("hostile")

    class Evil:  # unpickling this would run a shell command
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    files = {"evil": root / "evil_vgg19.pth", "junk": root / "junk_checkpoint.pt"}
    torch.save({"features.0.weight": Evil()}, files["evil"])
    files["junk"].write_bytes(b"not a checkpoint at all")
    return files


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    """A one-pair pix2pixHD dataset, so `pix2pixhd train` gets as far as loading the VGG."""
    from _pix2pixhd_tree import make_prepared_tree

    from s2e_lib.edit.pix2pixhd.build import build_dataset

    prepared = make_prepared_tree(tmp_path_factory.mktemp("prepared"))
    out = tmp_path_factory.mktemp("pairs")
    build_dataset(prepared, out, size=16, emotions=["angry"], views=["left_30"], progress=False)
    return out


def _timeline(f, out, *extra):
    return ["run", "--audio", f["voice"], "--face", f["face"], "--out-dir", out, "--timeline", *extra]


def _edit(f, out, *extra):
    return ["edit", "--face", f["face"], "--emotion", "happy", *extra]


def _train(f, out, *extra):
    return ["pix2pixhd", "train", "--data", f["pairs"], "--out", out / "run", "--size", "16", *extra]


def _ials_edit(f, out, *extra):
    return ["ials", "edit", "--code", f["missing"], "--emotion", "happy", "--out", out / "g.png", *extra]


#: name -> (args from (files, out folder), strings the error must name, strings it must not)
OPTION_CASES = {
    # s2e run --timeline: each once ran for minutes or crashed late
    "run --hop -1": (lambda f, o: _timeline(f, o, "--hop", "-1"), ["--hop", "> 0", "-1"], []),
    "run --window 0": (lambda f, o: _timeline(f, o, "--window", "0"), ["--window", "> 0"], []),
    "run --fps 0": (lambda f, o: _timeline(f, o, "--fps", "0"), ["--fps"], []),
    "run --fps nan": (lambda f, o: _timeline(f, o, "--fps", "nan"), ["--fps", "finite"], []),
    "run --smooth nan": (lambda f, o: _timeline(f, o, "--smooth", "nan"), ["--smooth", "finite"], []),
    "run --fps inf": (lambda f, o: _timeline(f, o, "--fps", "inf"), ["--fps", "finite"], []),
    "run --strength nan": (lambda f, o: _timeline(f, o, "--strength", "nan"), ["--strength"], []),
    # s2e run: a bad checkpoint is the checkpoint's problem, not the face's
    "run bad --checkpoint": (
        lambda f, o: [
            "run",
            "--audio",
            f["voice"],
            "--face",
            f["face"],
            "--editor",
            "pix2pixhd",
            "--checkpoint",
            f["junk"],
            "--out-dir",
            o,
        ],  # fmt: skip
        ["--checkpoint", "junk_checkpoint.pt"],
        ["face.png"],
    ),
    "run missing --checkpoint": (
        lambda f, o: [
            "run",
            "--audio",
            f["voice"],
            "--face",
            f["face"],
            "--editor",
            "pix2pixhd",
            "--checkpoint",
            f["missing"].with_suffix(".pt"),
            "--out-dir",
            o,
        ],  # fmt: skip
        ["--checkpoint", "missing.pt"],
        ["face.png"],
    ),
    # ser train
    "ser train --epochs 0": (
        lambda f, o: ["ser", "train", "--data", f["folder"], "--out", o / "m.pt", "--epochs", "0"],
        ["--epochs", "0"],
        [],
    ),
    "ser train --epochs -1": (
        lambda f, o: ["ser", "train", "--data", f["folder"], "--out", o / "m.pt", "--epochs", "-1"],
        ["--epochs", "-1"],
        [],
    ),
    "ser train --ensemble 0": (
        lambda f, o: ["ser", "train", "--data", f["folder"], "--out", o / "m.pt", "--ensemble", "0"],
        ["--ensemble"],
        [],
    ),
    "ser train --jobs 0": (
        lambda f, o: ["ser", "train", "--data", f["folder"], "--out", o / "m.pt", "--jobs", "0"],
        ["--jobs"],
        [],
    ),
    "ser train --seed -1": (
        lambda f, o: ["ser", "train", "--data", f["folder"], "--out", o / "m.pt", "--seed", "-1"],
        ["--seed"],
        [],
    ),
    # pix2pixhd train
    "pix2pixhd train --checkpoint-every 0": (
        lambda f, o: _train(f, o, "--checkpoint-every", "0"),
        ["--checkpoint-every", "0"],
        [],
    ),
    "pix2pixhd train --device tpu": (lambda f, o: _train(f, o, "--device", "tpu"), ["--device", "tpu"], []),
    "pix2pixhd train --device cuda:99": (
        lambda f, o: _train(f, o, "--device", "cuda:99"),
        ["--device", "cuda:99", "not available"],
        [],
    ),
    "pix2pixhd train --steps 0": (lambda f, o: _train(f, o, "--steps", "0"), ["--steps"], []),
    "pix2pixhd train --size 100000": (lambda f, o: _train(f, o, "--size", "100000"), ["--size", "4096"], []),
    "pix2pixhd train malicious --vgg-weights": (
        lambda f, o: _train(f, o, "--vgg-weights", f["evil"]),
        ["evil_vgg19.pth", "Python objects"],
        ["weights_only", "will likely succeed", "pwned", "Unpickling"],
    ),
    # ials edit: click.FloatRange would accept these
    "ials edit --strength nan": (lambda f, o: _ials_edit(f, o, "--strength", "nan"), ["--strength"], []),
    "ials edit --strength inf": (lambda f, o: _ials_edit(f, o, "--strength", "inf"), ["--strength"], []),
    "ials edit --strength -1": (lambda f, o: _ials_edit(f, o, "--strength", "-1"), ["--strength"], []),
    "ials edit --every 0": (lambda f, o: _ials_edit(f, o, "--every", "0"), ["--every"], []),
    "ials edit --out .xyz": (
        lambda f, o: ["ials", "edit", "--code", f["missing"], "--emotion", "happy", "--out", o / "g.xyz"],
        ["--out", "g.xyz"],
        [],
    ),
    # edit: the output's format is checked before the edit, not after
    "edit --out .xyz": (lambda f, o: _edit(f, o, "--out", o / "x.xyz"), ["--out", "x.xyz", ".xyz"], []),
    "edit --out no suffix": (lambda f, o: _edit(f, o, "--out", o / "nosuffix"), ["--out", "nosuffix"], []),
    "edit --strength nan": (
        lambda f, o: _edit(f, o, "--strength", "nan", "--out", o / "e.png"),
        ["--strength"],
        [],
    ),
    "edit --strengths nan": (
        lambda f, o: _edit(f, o, "--grid", "--strengths", "0,nan", "--out", o / "g.png"),
        ["--strengths", "nan"],
        [],
    ),
    # sizes are capped
    "align --size 100000": (
        lambda f, o: ["align", "--face", f["face"], "--out", o / "a.png", "--size", "100000"],
        ["--size", "4096"],
        [],
    ),
    "align --size 0": (
        lambda f, o: ["align", "--face", f["face"], "--out", o / "a.png", "--size", "0"],
        ["--size"],
        [],
    ),
    "align --out .xyz": (
        lambda f, o: ["align", "--face", f["face"], "--out", o / "a.xyz"],
        ["--out", "a.xyz"],
        [],
    ),
    "pix2pixhd build-dataset --size 100000": (
        lambda f, o: [
            "pix2pixhd",
            "build-dataset",
            "--prepared",
            f["folder"],
            "--out",
            o / "pd",
            "--size",
            "100000",
        ],
        ["--size", "4096"],
        [],
    ),
    # click's own usage errors, in the same one-line form
    "missing option": (lambda f, o: ["run", "--audio", f["voice"], "--out-dir", o], ["--face"], []),
    "bad choice": (
        lambda f, o: _edit(f, o, "--editor", "magic", "--out", o / "e.png"),
        ["--editor", "magic"],
        [],
    ),
    "bad integer": (
        lambda f, o: ["align", "--face", f["face"], "--out", o / "a.png", "--size", "big"],
        ["--size", "big"],
        [],
    ),
    "unknown option": (lambda f, o: _edit(f, o, "--colour", "red", "--out", o / "e.png"), ["--colour"], []),
    # notebooks: an unknown -p key is named with the notebook's parameters, not dropped
    "notebooks unknown -p": (
        lambda f, o: ["notebooks", "run", "00", "-p", "strenght", "1", "--output-dir", o],
        ["strenght", "00_quickstart", "strength"],
        [],
    ),
}


@pytest.mark.parametrize("case", list(OPTION_CASES), ids=list(OPTION_CASES))
def test_bad_option_is_one_line_before_any_work(case, bad, voice, hostile, pairs, tmp_path, capsys):
    build, needles, absent = OPTION_CASES[case]
    files = {**bad, **hostile, "voice": voice, "pairs": pairs}
    out = tmp_path / "out"
    code, err = _run(build(files, out), capsys)
    lines = err.splitlines()
    assert code == 2, f"exit {code}, stderr: {err}"
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for needle in needles:
        assert needle in err, f"{needle!r} not in {err!r}"
    for word in absent:
        assert word not in err, f"{word!r} in {err!r}"
    assert not out.exists() or not any(out.iterdir()), f"{case} wrote {list(out.rglob('*'))}"


def test_option_types_name_the_option_and_refuse_nan():
    import click

    from s2e_lib.cli.types import FiniteFloat, PositiveInt
    from s2e_lib.errors import InputError

    hop = click.Option(["--hop"])
    with pytest.raises(InputError, match=r"^--hop: must be a finite number > 0 \(got -1.0\)$"):
        FiniteFloat(0, min_open=True).convert("-1", hop, None)
    for text in ("nan", "inf", "-inf", "x"):
        with pytest.raises(InputError, match="--hop: must be a finite number"):
            FiniteFloat().convert(text, hop, None)
    assert FiniteFloat(0, 1).convert("1", hop, None) == 1.0
    assert FiniteFloat(0).convert("0", hop, None) == 0.0
    epochs = click.Option(["-e", "--epochs"])
    with pytest.raises(InputError, match=r"^--epochs: must be an integer >= 1 and <= 10 \(got 11\)$"):
        PositiveInt(10).convert("11", epochs, None)
    with pytest.raises(InputError, match="--epochs"):
        PositiveInt().convert("1.5", epochs, None)
    assert PositiveInt().convert("3", epochs, None) == 3


def test_group_without_command_still_shows_help(capsys):
    assert main(["ser"]) == 2
    captured = capsys.readouterr()
    assert "Usage:" in captured.out + captured.err


@pytest.fixture(scope="module")
def garbage(tmp_path_factory):
    """Files named like media that FFmpeg cannot read (what made PyAV say '[Errno 1094995529]')."""
    root = tmp_path_factory.mktemp("garbage")
    rng = np.random.default_rng(3)
    files = {"voice": root / "voice.m4a", "clip": root / "clip.mp4"}
    files["voice"].write_bytes(rng.integers(0, 256, 3000, dtype=np.uint8).tobytes())
    files["clip"].write_bytes(b"this is a text file someone renamed to .mp4\n" * 20)
    return files


def _readable_error(code, err, path, problem):
    assert code == 2, f"exit {code}, stderr: {err}"
    assert err.count("\n") == 0, err  # one line
    assert err == f"error: {path}: {problem}", err
    assert "Errno" not in err and "1094995529" not in err


GARBAGE_CASES = {
    "ser predict": (["ser", "predict", "{voice}"], "voice", "audio"),
    "run audio": (["run", "--audio", "{voice}", "--face", "{face}", "--out-dir", "{out}"], "voice", "audio"),
    "run face video": (
        ["run", "--audio", "{good}", "--face", "{clip}", "--out-dir", "{out}"],
        "clip",
        "video",
    ),
    "edit face video": (
        ["edit", "--face", "{clip}", "--emotion", "happy", "--out", "{out}/e.png"],
        "clip",
        "video",
    ),
}


@pytest.mark.parametrize("case", list(GARBAGE_CASES), ids=list(GARBAGE_CASES))
def test_garbage_named_like_media_is_one_readable_line(case, garbage, bad, voice, tmp_path, capsys):
    args, culprit, kind = GARBAGE_CASES[case]
    where = {"voice": garbage["voice"], "clip": garbage["clip"], "face": bad["face"], "good": voice}
    args = [a.format(**where, out=tmp_path / "out") for a in args]
    code, err = _run(args, capsys)
    problem = f"not a readable {kind} file (invalid data found when processing input)"
    _readable_error(code, err, garbage[culprit], problem)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_a_pyav_error_that_escapes_unwrapped_is_still_one_readable_line(garbage, monkeypatch, capsys):
    """Any command whose PyAV error was not wrapped: exit 2 with the file and the problem, not
    "InvalidDataError: [Errno 1094995529] ..." with exit 1."""
    import av

    import s2e_lib.cli.ser as target

    def open_raw(*_args, **_kwargs):
        av.open(str(garbage["clip"]))  # raises av.error.InvalidDataError, unwrapped

    monkeypatch.setattr(target, "_expand_folders", open_raw)
    code, err = _run(["ser", "predict", garbage["voice"]], capsys)
    problem = "not a readable media file (invalid data found when processing input)"
    _readable_error(code, err, garbage["clip"], problem)


def test_media_problem_words_for_pyav_errors(garbage, tmp_path):
    import av

    from s2e_lib.errors import media_problem, one_line, user_message

    with pytest.raises(av.error.InvalidDataError) as raised:
        av.open(str(garbage["voice"]))
    assert "[Errno 1094995529]" in str(raised.value)  # what PyAV itself says
    assert one_line(raised.value) == f"Invalid data found when processing input: '{garbage['voice']}'"
    assert media_problem(raised.value, "audio") == (
        "not a readable audio file (invalid data found when processing input)"
    )
    assert user_message(raised.value) == (
        f"{garbage['voice']}: not a readable media file (invalid data found when processing input)"
    )
    with pytest.raises(av.error.FileNotFoundError) as raised:
        av.open(str(tmp_path / "gone.m4a"))
    assert media_problem(raised.value, "audio") == "file not found"
    assert media_problem(av.error.EOFError(-541478725, "End of file"), "video") == (
        "the video file is cut short (it ends early)"
    )
    assert media_problem(ValueError("sample rate 0"), "audio") == "cannot decode audio (sample rate 0)"
    assert one_line(OSError(13, "Permission denied", "x.wav")) == "Permission denied: 'x.wav'"
    assert user_message(ValueError("a bug")) is None
