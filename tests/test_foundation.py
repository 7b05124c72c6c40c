"""The foundation: labels, paths, safe writing, CLI, packaging consistency."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the tomli backport (the dev extra installs it)
    import tomli as tomllib

from s2e_lib import emotions
from s2e_lib.cli import main
from s2e_lib.fileio import OutputExistsError, atomic_output, check_output
from s2e_lib.paths import project_paths

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    "label, expected",
    [
        ("happy", "happy"),
        ("Netural", "neutral"),
        (" fearful ", "fear"),
        ("disgust", "disgusted"),
        ("surprise", "surprised"),
        ("ANGER", "angry"),
        ("calm", "calm"),
    ],
)
def test_parse_emotion_aliases(label, expected):
    assert emotions.parse_emotion(label) == expected


def test_parse_emotion_rejects_unknown_and_disallowed():
    with pytest.raises(emotions.UnknownEmotionError, match="unknown emotion 'bored'"):
        emotions.parse_emotion("bored")
    with pytest.raises(emotions.UnknownEmotionError, match="not supported"):
        emotions.parse_emotion("contempt", allowed=emotions.MISSION_EMOTIONS)


def test_parse_emotions_list():
    assert emotions.parse_emotions("happy, netural,happy,sad") == ["happy", "neutral", "sad"]


def test_original_tables_cover_mission_emotions():
    assert set(emotions.SIGNS) == set(emotions.MISSION_EMOTIONS)
    assert set(emotions.IALS_LAMBDA1) == set(emotions.MISSION_EMOTIONS)
    assert emotions.IALS_LAMBDA1["angry"] == -100.0 and emotions.IALS_LAMBDA1["happy"] == 100.5
    assert emotions.SIGNS["happy"]["color_bgr"] == (0, 0, 255)
    assert emotions.SIGNS["neutral"]["thickness"] == 2
    assert set(emotions.RAVDESS_CODES.values()) <= set(emotions.ALL_EMOTIONS)


def test_paths_follow_s2e_home(s2e_home):
    paths = project_paths()
    assert paths.home == s2e_home.resolve()
    assert paths.data == s2e_home.resolve() / "data"
    assert paths.outputs == s2e_home.resolve() / "outputs"


def test_atomic_output_leaves_nothing_on_error(tmp_path):
    target = tmp_path / "out.txt"
    with pytest.raises(RuntimeError):
        with atomic_output(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("boom")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []
    with atomic_output(target) as tmp:
        tmp.write_text("whole")
    assert target.read_text() == "whole"


def test_check_output_refuses_overwrite_and_user_data(s2e_home):
    existing = s2e_home / "x.png"
    existing.write_text("x")
    with pytest.raises(OutputExistsError, match="--overwrite"):
        check_output(existing)
    assert check_output(existing, overwrite=True) == existing
    user = s2e_home / "data" / "mine.wav"
    user.parent.mkdir()
    user.write_text("precious")
    with pytest.raises(OutputExistsError, match="never overwritten"):
        check_output(user, overwrite=True)
    assert user.read_text() == "precious"


def test_cli_help_lists_stages(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in ("doctor", "notebooks"):
        assert command in out


def test_cli_unknown_command_fails(capsys):
    assert main(["no-such-command"]) != 0


def test_doctor_json(capsys):
    assert main(["doctor", "--json"]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["packages"]["torch"].startswith("2.")
    assert report["dlib_models"]["available"] is True
    assert "shape_predictor_68_face_landmarks.dat" in report["dlib_models"]["files"]
    assert set(report["paths"]) >= {"data", "models", "outputs"}


def test_s2e_entry_point_runs():
    proc = subprocess.run([sys.executable, "-m", "s2e_lib.cli", "doctor"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "dlib models" in proc.stdout


def _requirement_name(req: str) -> str:
    return re.split(r"[<>=!~\[ ;]", req, maxsplit=1)[0].strip().lower().replace("_", "-")


def test_environment_yml_names_every_runtime_dependency():
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    deps = {_requirement_name(d) for d in pyproject["project"]["dependencies"]}
    env_text = (REPO / "environment.yml").read_text().lower().replace("_", "-")
    env_names = {
        _requirement_name(line.strip()[2:]) for line in env_text.splitlines() if line.strip().startswith("- ")
    }
    missing = deps - env_names
    assert not missing, f"environment.yml lacks: {sorted(missing)}"
    assert "python=3.11" in env_text and "-e .[notebooks]" in env_text


def test_torch_is_pinned_in_constraints_and_no_torchvision():
    constraints = (REPO / "constraints.txt").read_text()
    assert "torch==2.13.0" in constraints
    pyproject = (REPO / "pyproject.toml").read_text()
    assert "torchvision" not in pyproject


def test_ci_runs_the_readme_test_command():
    assert "make test" in (REPO / ".ci" / "run").read_text()
    assert "make test" in (REPO / "README.md").read_text()


def test_atomic_outputs_honour_the_umask(tmp_path):
    import os

    from s2e_lib.fileio import atomic_output

    old = os.umask(0o027)
    try:
        with atomic_output(tmp_path / "out.txt") as tmp:
            tmp.write_text("x")
    finally:
        os.umask(old)
    assert (tmp_path / "out.txt").stat().st_mode & 0o777 == 0o640
