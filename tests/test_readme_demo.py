"""The README's printout of `make demo` has the lines the demo prints now (modulo numbers, paths
and the emotions heard), so a new or changed line cannot leave it stale. The demo's code runs
as in `make demo`; only its slow parts (each `s2e run`, the speaker-centred model, notebook
00) are replaced by stand-ins that write what they would."""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from s2e_lib.emotions import MISSION_EMOTIONS

REPO = Path(__file__).resolve().parents[1]
MARKER = "<!-- make-demo-printout:"


def readme_printout() -> list[str]:
    """The code block after the README's marker comment."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    assert MARKER in text, "the README lost the marker before the make demo printout"
    block = re.search(r"```\n(.*?)```", text[text.index(MARKER) :], flags=re.S)
    assert block, "no code block after the marker"
    return block.group(1).splitlines()


def shape(line: str) -> str:
    """``line`` with what changes from run to run replaced: paths, emotions, numbers, the
    length of a chain of emotions, runs of spaces."""
    line = re.sub(r"\S*/\S*", "PATH", line)
    line = re.sub(r"\b(?:" + "|".join(MISSION_EMOTIONS) + r")\b", "E", line)
    line = re.sub(r"\d+(?:\.\d+)?", "N", line)
    line = re.sub(r"E(?: → E)+", "E → …", line)
    return re.sub(r"\s+", " ", line).strip()


@pytest.fixture()
def demo_printout(sample_corpus, tmp_path, monkeypatch, capsys) -> list[str]:
    """What ``python -m s2e_lib.demo`` prints, with stand-ins for its slow parts."""
    import s2e_lib.ser
    import s2e_lib.workbook
    from s2e_lib import demo

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("S2E_OUTPUTS", str(tmp_path / "outputs"))
    monkeypatch.setattr(demo, "ensure_sample_corpus", lambda: sample_corpus)
    heard = dict(zip(MISSION_EMOTIONS, ["angry", "sad", "fear", "angry", "neutral"], strict=True))

    def s2e_run(args: list[str]) -> int:
        out = Path(args[args.index("--out-dir") + 1])
        out.mkdir(parents=True, exist_ok=True)
        if "--timeline" in args:
            frames = [{"emotion": e, "strength": s} for e, s in (("angry", 0.5), ("sad", 0.0), ("fear", 0.4))]
            (out / "timeline.json").write_text(json.dumps({"frames": frames}))
            for name in ("timeline.png", "animation.mp4"):
                (out / name).write_bytes(b"")
            return 0
        spoken = Path(args[args.index("--audio") + 1]).parts[-3]
        emotion = heard[spoken]
        result = {"emotion": emotion, "probabilities": {emotion: 0.51}, "strength": 0.83}
        (out / "result.json").write_text(json.dumps(result))
        (out / "summary.png").write_bytes(b"")
        return 0

    class SpeakerCentred:
        def predict_files(self, files, adapt=False):
            emotions = [heard[Path(f).parts[-3]] for f in files]
            return [{"emotion": e, "probabilities": {e: 0.4}} for e in emotions]

    def notebooks(names, **_kwargs):
        output = tmp_path / "outputs" / "notebooks" / f"{names[0]}.ipynb"
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text("{}")
        return [SimpleNamespace(output=output)]

    monkeypatch.setattr(demo, "_quiet_s2e", s2e_run)
    monkeypatch.setattr(s2e_lib.ser, "load_model", lambda **_kwargs: SpeakerCentred())
    monkeypatch.setattr(s2e_lib.workbook, "run_notebooks", notebooks)
    capsys.readouterr()
    assert demo.main() == 0
    return capsys.readouterr().out.splitlines()


def test_readme_shows_the_lines_make_demo_prints(demo_printout):
    printed = [shape(line) for line in demo_printout]
    shown = [shape(line) for line in readme_printout()]
    assert shown == printed, (
        "README.md's make demo printout is stale: run `make demo` and paste what it prints"
    )


def test_the_demo_prints_paths_relative_to_where_it_runs(demo_printout):
    assert demo_printout[0] == "face: outputs/demo/astronaut.png"
    assert "  quickstart notebook        outputs/notebooks/00_quickstart.ipynb" in demo_printout
    # a strength-0 frame shows the photo unchanged: the timeline line names no emotion for it
    assert "the five voices in a row → the face shows angry → fear" in demo_printout


def test_shape_keeps_what_a_stale_printout_would_change():
    assert shape("sample angry voice → heard sad (0.30) → sad x0.34   (sample/W003/audio/a.m4a)") == (
        "sample E voice → heard E (N) → E xN PATH"
    )
    assert shape("the face shows angry → sad → fear") == shape("the face shows happy → sad")
    assert shape("sample angry voice → heard sad (0.30)") != shape("sample angry voice → heard sad 0.30")
