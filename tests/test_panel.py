"""The quickstart panel, driven through its widgets in Python (no browser; see tests/browser/
for the same in JupyterLab): errors hide the old result and name the picked file, the editor
menu offers only editors that can run, auto strength shows the strength used, and the
emotion override reaches the edit."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from s2e_lib.pipeline.panel import FROM_THE_VOICE, QuickstartPanel, editor_availability


@pytest.fixture(scope="module")
def voices(sample_corpus) -> dict[str, Path]:
    from s2e_lib.demo import pick_utterances

    return pick_utterances(sample_corpus)


@pytest.fixture(scope="module")
def astronaut(tmp_path_factory) -> Path:
    from s2e_lib.demo import astronaut_photo

    return astronaut_photo(tmp_path_factory.mktemp("face"))


@pytest.fixture(scope="module")
def warm_pipeline():
    """One loaded warp pipeline for every panel of this module (models load once)."""
    from s2e_lib.pipeline.run import Pipeline, RunConfig

    return Pipeline(RunConfig(editor="warp", overwrite=True)).warm_up()


@pytest.fixture()
def panel(voices, astronaut, warm_pipeline, tmp_path) -> QuickstartPanel:
    made = QuickstartPanel(
        {f"sample {k}": v for k, v in voices.items()}, {"astronaut": astronaut}, tmp_path / "panel"
    )
    made.audio.value = voices["angry"]
    made._pipelines["warp"] = warm_pipeline
    return made


def _upload(name: str, content: bytes) -> tuple[dict, ...]:
    """What ipywidgets' FileUpload holds after the user picked one file."""
    picked = {"name": name, "type": "", "size": len(content), "content": memoryview(content)}
    return ({**picked, "last_modified": datetime.now(timezone.utc)},)


def test_error_hides_the_previous_result_and_names_the_picked_file(panel):
    first = panel.show()
    assert first is not None and panel.error is None
    assert panel.image.layout.display != "none" and panel.image.value[:8] == b"\x89PNG\r\n\x1a\n"

    panel.face_upload.value = _upload("holiday notes.txt", b"not an image at all")  # runs at once

    assert panel.result is None
    assert panel.image.layout.display == "none" and panel.image.value == b""
    assert panel.error.startswith("error: holiday notes.txt: ")
    assert "holiday notes.txt" in panel.status.value and "error" in panel.status.value
    assert str(panel.upload_dir) not in panel.status.value  # never the temporary upload path
    assert panel.face.label == "uploaded: holiday notes.txt"

    panel.face.value = panel.face.options[0][1]  # back to the astronaut: the result returns
    assert panel.result is not None and panel.error is None
    assert panel.image.layout.display != "none" and panel.image.value


def test_upload_of_the_same_name_twice_keeps_both(panel, astronaut):
    panel.face_upload.value = _upload("face.png", astronaut.read_bytes())
    assert panel.result is not None and Path(panel.result["face"]).name == "face.png"
    panel.face_upload.value = _upload("face.png", b"broken")
    assert panel.error.startswith("error: face.png: ")
    stored = [value for label, value in panel.face.options if label == "uploaded: face.png"]
    assert len(stored) == 2 and stored[0] != stored[1] and stored[0].read_bytes() == astronaut.read_bytes()


def test_editor_menu_offers_only_editors_that_can_run(s2e_home, monkeypatch, voices, astronaut, tmp_path):
    monkeypatch.delenv("S2E_IALS_PRETRAIN", raising=False)
    panel = QuickstartPanel({"v": voices["angry"]}, {"f": astronaut}, tmp_path / "p", editor="pix2pixhd")
    assert [value for _, value in panel.editor.options] == ["warp"]
    assert panel.editor.value == "warp"  # the requested editor cannot run: the default instead
    note = panel.editor_note.value
    assert "pix2pixHD — unavailable: needs a checkpoint" in note
    assert "IALS — unavailable: needs IALS weights" in note
    assert str(s2e_home / "models" / "pix2pixhd" / "generator.pt") in note

    checkpoint = tmp_path / "generator.pt"
    checkpoint.write_bytes(b"")
    panel = QuickstartPanel(
        {"v": voices["angry"]}, {"f": astronaut}, tmp_path / "p", editor="pix2pixhd", checkpoint=checkpoint
    )
    assert [value for _, value in panel.editor.options] == ["warp", "pix2pixhd"]
    assert panel.editor.value == "pix2pixhd"
    assert "pix2pixHD" not in panel.editor_note.value and "IALS" in panel.editor_note.value


def test_ials_is_available_only_with_every_file_it_loads(tmp_path):
    from s2e_lib.edit.ials.pretrain import Pretrain
    from s2e_lib.edit.ials.recipes import get_recipe
    from s2e_lib.emotions import MISSION_EMOTIONS

    pre = Pretrain(tmp_path / "pretrain")
    assert "pretrain not found" in editor_availability(pretrain=pre.root)["ials"]
    files = [pre.generator_path, pre.avg_code_path, pre.vgg_path]
    for attribute in {a for e in MISSION_EMOTIONS for a in get_recipe(e).attributes}:
        files += [pre.classifier_path(attribute), pre.direction_path(attribute)]
    for path in files:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
    assert editor_availability(pretrain=pre.root)["ials"] is None
    files[-1].unlink()
    assert editor_availability(pretrain=pre.root)["ials"] == f"needs IALS weights ({files[-1]} not found)"


def test_auto_strength_slider_shows_the_strength_used_and_is_disabled(panel):
    assert panel.auto.value and panel.strength.disabled
    result = panel.show()
    assert result["strength_mode"] == "auto"
    assert panel.strength.value == pytest.approx(result["strength"])
    assert panel.strength.value != 1.0  # not the slider's initial value: the one used
    assert panel.strength.disabled
    assert f"strength {result['strength']:.2f} (auto)" in panel.status.value

    panel.auto.value = False
    assert not panel.strength.disabled
    panel.strength.value = 0.5  # the slider re-runs the edit
    assert panel.result["strength"] == 0.5 and panel.result["strength_mode"] == "fixed"
    assert "strength 0.50 (fixed)" in panel.status.value

    panel.auto.value = True  # back to auto: re-run, the slider shows the automatic strength again
    assert panel.strength.disabled
    assert panel.result["strength_mode"] == "auto"
    assert panel.strength.value == pytest.approx(result["strength"])


def test_override_emotion_is_the_emotion_edited(panel):
    assert panel.emotion.label == FROM_THE_VOICE and panel.emotion.value == ""
    heard = panel.show()
    heard_image = panel.image.value
    voice_emotion = max(heard["probabilities"], key=heard["probabilities"].get)
    assert heard["emotion"] == voice_emotion
    chosen = next(e for e in ("happy", "sad") if e != voice_emotion)

    panel.emotion.value = chosen  # re-runs
    result = panel.result
    assert result["emotion"] == chosen
    assert result["probabilities"] == heard["probabilities"]  # the voice's, unchanged
    assert json.loads(Path(result["outputs"]["result.json"]).read_text())["emotion"] == chosen
    assert f"face {chosen} (override)" in panel.status.value
    assert panel.image.value != heard_image  # the figure shown is the new edit

    panel.emotion.value = ""
    assert panel.result["emotion"] == voice_emotion


def test_the_results_warnings_are_shown(panel, astronaut, tmp_path):
    """A photo cropped through the mouth: the edit keeps the mouth, and the panel says so
    under the result (and nothing when there is nothing to say)."""
    import numpy as np
    from PIL import Image

    # one warning line per warning of the result, none of its own (the synthetic sample voice
    # may or may not be heard with confidence: an "uncertain" warning is the model's to give)
    assert panel.show() is not None
    assert panel.status.value.count("s2e-warning") == len(panel.result.get("warnings", []))
    assert "edge cuts" not in panel.status.value
    cropped = tmp_path / "cropped portrait.png"
    Image.fromarray(np.asarray(Image.open(astronaut).convert("RGB"))[:146]).save(cropped)
    panel.face_upload.value = _upload(cropped.name, cropped.read_bytes())
    assert panel.result is not None and panel.error is None
    assert panel.status.value.count("s2e-warning") == len(panel.result["warnings"]) >= 1
    assert "warning: the photo&#x27;s edge cuts the face (jaw, mouth)" in panel.status.value


def _button_label(upload) -> str:
    """What JupyterLab writes on a FileUpload button (ipywidgets 8: ``f"{description} ({len(value)})"``)."""
    return f"{upload.description} ({len(upload.value)})"


def test_upload_button_names_the_uploaded_file_while_it_is_selected(panel, astronaut):
    assert _button_label(panel.face_upload) == "upload face (0)"
    panel.face_upload.value = _upload("my portrait.png", astronaut.read_bytes())
    assert panel.result is not None and panel.face.label == "uploaded: my portrait.png"
    assert _button_label(panel.face_upload) == "uploaded: my portrait.png (1)"  # not "(0)"
    assert "my portrait.png" in panel.face_upload.tooltip
    assert _button_label(panel.audio_upload) == "upload voice (0)"  # the other button: nothing uploaded

    shown = panel.image.value
    panel.face.value = panel.face.options[0][1]  # the menu moves off the upload: the button says so
    assert panel.face.label == "astronaut"
    assert _button_label(panel.face_upload) == "upload face (0)" and not panel.face_upload.tooltip
    assert panel.result is not None and panel.image.value

    # the same file picked again is a change: it is stored again, selected and run
    panel.face_upload.value = _upload("my portrait.png", astronaut.read_bytes())
    assert panel.face.label == "uploaded: my portrait.png" and panel.result is not None
    assert panel.image.value == shown
    assert [label for label, _ in panel.face.options].count("uploaded: my portrait.png") == 2
    assert _button_label(panel.face_upload) == "uploaded: my portrait.png (1)"


def test_an_unreadable_upload_is_one_readable_line(panel):
    """Garbage named .m4a: the panel names the file and the problem, not FFmpeg's error number."""
    panel.audio_upload.value = _upload("voice memo.m4a", bytes(range(256)) * 12)
    assert panel.result is None
    assert panel.error == (
        "error: voice memo.m4a: not a readable audio file (invalid data found when processing input)"
    )
    assert "Errno" not in panel.status.value and "1094995529" not in panel.status.value
