"""One editor interface: every editor's ``edit`` matches the protocol, and the pipeline hands
the faces it already detected to the editor."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from s2e_lib.edit.base import Editor, EditResult
from s2e_lib.edit.ials.editor import IALSEditor
from s2e_lib.edit.pix2pixhd.editor import Pix2PixHDEditor
from s2e_lib.edit.warp import WarpEditor
from s2e_lib.pipeline.run import Pipeline, RunConfig


def _shape(function) -> list[tuple[str, inspect._ParameterKind, object]]:
    return [(p.name, p.kind, p.default) for p in inspect.signature(function).parameters.values()]


@pytest.mark.parametrize("editor_class", [WarpEditor, Pix2PixHDEditor, IALSEditor])
def test_every_editor_has_the_protocol_signature(editor_class):
    protocol = _shape(Editor.edit)
    own = _shape(editor_class.edit)
    # the protocol's parameters, same names, kinds and defaults, in the same order ...
    assert own[: len(protocol)] == protocol
    assert [name for name, *_ in protocol] == ["self", "image", "emotion", "strength", "faces"]
    # ... and anything more is an optional keyword (the warp editor's all_faces / where)
    for name, kind, default in own[len(protocol) :]:
        assert kind is inspect.Parameter.KEYWORD_ONLY and default is not inspect.Parameter.empty, name


class _StubEditor:
    name = "stub"

    def __init__(self):
        self.calls: list[dict] = []

    def edit(self, image, emotion, strength=1.0, *, faces=None):
        self.calls.append({"emotion": emotion, "strength": strength, "faces": faces})
        return EditResult(image=np.array(image, copy=True), info={"editor": self.name})


def test_pipeline_passes_the_detected_faces_to_the_editor(tmp_path, monkeypatch):
    from s2e_lib.demo import astronaut_photo

    photo = astronaut_photo(tmp_path / "face")
    pipeline = Pipeline(RunConfig(strength=1.0, identity=False, summary_figure=False))
    stub = _StubEditor()
    assert isinstance(stub, Editor)
    pipeline._editor = stub
    probabilities = {"angry": 0.05, "neutral": 0.05, "fear": 0.05, "happy": 0.8, "sad": 0.05}
    monkeypatch.setattr(pipeline, "classify", lambda audio_path: (None, probabilities))
    result = pipeline.run_pair(tmp_path / "speech.wav", photo, tmp_path / "out")
    assert result["emotion"] == "happy"
    detected = pipeline.photo(photo).faces
    assert detected and len(stub.calls) == 1
    call = stub.calls[0]
    assert call["emotion"] == "happy" and call["strength"] == 1.0
    assert call["faces"] == detected[:1] and call["faces"][0] is detected[0]


def test_first_face_is_refused_when_too_small_like_largest_face():
    from s2e_lib.edit.base import first_face
    from s2e_lib.errors import InputError
    from s2e_lib.face.detect import Face

    assert first_face(None) is None and first_face([]) is None
    big = Face((10.0, 10.0, 210.0, 210.0), np.zeros((68, 2)))
    assert first_face([big, Face((0.0, 0.0, 5.0, 5.0), np.zeros((68, 2)))]) is big
    with pytest.raises(InputError, match="image: face is too small"):
        first_face([Face((0.0, 0.0, 20.0, 20.0), np.zeros((68, 2)))])
