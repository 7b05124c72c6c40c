"""``make demo``: the main job on embedded defaults, with nothing downloaded.

1. builds the synthetic sample corpus if missing (``data/sample``);
2. runs ``s2e run`` on one level-3 sample utterance of each mission emotion against
   scikit-image's astronaut photo, with the shipped speech model and the warp editor;
3. concatenates those utterances and runs ``s2e run --timeline`` on the result
   (timeline plot and an MP4 with the voice);
4. executes notebook 00 into ``outputs/notebooks/``;
5. prints which voice produced which emotion and strength, and the paths of what it made.

Outputs go to ``outputs/demo/`` and are replaced on every run.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
import time
from pathlib import Path

import numpy as np

from s2e_lib.emotions import MISSION_EMOTIONS
from s2e_lib.paths import project_paths
from s2e_lib.sample import ensure_sample_corpus


def astronaut_photo(folder: Path) -> Path:
    """scikit-image's astronaut (public domain, NASA) as a PNG, the demo's face."""
    from PIL import Image
    from skimage import data

    path = folder / "astronaut.png"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(data.astronaut()).save(path)
    return path


def pick_utterances(corpus: Path, speaker: str | None = None, level: int = 3) -> dict[str, Path]:
    """One sample utterance per mission emotion (same speaker, strongest level)."""
    speakers = sorted(p.name for p in corpus.iterdir() if p.is_dir())
    speaker = speaker or speakers[-1]
    chosen = {}
    for emotion in MISSION_EMOTIONS:
        emotion_level = 1 if emotion == "neutral" else level
        files = sorted((corpus / speaker / "audio" / emotion / f"level_{emotion_level}").glob("*.m4a"))
        if not files:
            raise FileNotFoundError(f"{corpus}: no {emotion} level_{emotion_level} audio for {speaker}")
        chosen[emotion] = files[0]
    return chosen


def concatenate(files: list[Path], out: Path, gap_s: float = 0.4) -> Path:
    from s2e_lib.audio import load_audio, write_wav

    gap = np.zeros(int(gap_s * 16000), dtype=np.float32)
    pieces = []
    for path in files:
        pieces += [load_audio(path), gap]
    return write_wav(out, np.concatenate(pieces))


def describe_voice(spoken: str, result: dict) -> str:
    """``sample angry voice → heard fear (0.35) → fear x0.61``: what the voice said, what
    the model heard (with its probability) and the expression the face got."""
    heard = result["emotion"]
    probability = result["probabilities"][heard]
    return f"sample {spoken} voice → heard {heard} ({probability:.2f}) → {heard} x{result['strength']:.2f}"


def describe_adapted(utterances: dict[str, Path]) -> str:
    """What the speaker-centred model hears in the same voices, each against the profile of
    all of them (``s2e ser predict --adapt``): ``angry → angry (0.62), ...``."""
    from s2e_lib.ser import load_model

    results = load_model(speaker_centred=True).predict_files(list(utterances.values()), adapt=True)
    heard = ", ".join(
        f"{spoken} → {r['emotion']} ({r['probabilities'][r['emotion']]:.2f})"
        for spoken, r in zip(utterances, results, strict=True)
    )
    return f"heard against the speaker's voice profile (s2e ser predict --adapt): {heard}"


def describe_timeline(timeline: dict) -> str:
    """The emotions the timeline's face showed, in order (repeats merged), e.g.
    ``fear → neutral → happy``. Frames of strength 0 show the photo unchanged (their caption
    says ``unchanged``) and name no emotion."""
    shown = [frame["emotion"] for frame in timeline.get("frames", []) if frame.get("strength", 1) > 0]
    runs = [e for i, e in enumerate(shown) if i == 0 or e != shown[i - 1]]
    return " → ".join(runs) if runs else "(no frames)"


def shown_path(path: Path) -> str:
    """``path`` as the demo prints it: relative to the current folder when inside it (``make
    demo`` from the repository root prints ``outputs/demo/...``), else absolute."""
    path = Path(path).absolute()
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _quiet_s2e(args: list[str]) -> int:
    """Run one ``s2e`` command in-process with its stdout kept out of the demo's summary
    (errors still reach stderr)."""
    from s2e_lib.cli import main as s2e

    with contextlib.redirect_stdout(io.StringIO()):
        return s2e(args)


def main() -> int:
    from s2e_lib.workbook import run_notebooks

    start = time.perf_counter()
    paths = project_paths()
    out = paths.outputs / "demo"
    out.mkdir(parents=True, exist_ok=True)
    corpus = ensure_sample_corpus()
    face = astronaut_photo(out)
    made: list[tuple[str, Path]] = [("sample corpus", corpus)]

    utterances = pick_utterances(corpus)
    print(f"face: {shown_path(face)}")
    for emotion, audio in utterances.items():
        target = out / f"voice_{emotion}"
        code = _quiet_s2e(
            ["run", "--audio", str(audio), "--face", str(face), "--out-dir", str(target), "--overwrite"]
        )
        if code != 0:
            print(f"demo: s2e run failed for {audio}", file=sys.stderr)
            return code
        result = json.loads((target / "result.json").read_text(encoding="utf-8"))
        print(f"{describe_voice(emotion, result)}   ({audio.relative_to(corpus.parent)})")
        made.append((f"{emotion} voice → face", target / "summary.png"))

    print(describe_adapted(utterances))

    long_audio = concatenate(list(utterances.values()), out / "voices_concatenated.wav")
    timeline_dir = out / "timeline"
    code = _quiet_s2e(
        [
            "run",
            "--timeline",
            "--audio",
            str(long_audio),
            "--face",
            str(face),
            "--out-dir",
            str(timeline_dir),
            "--window",
            "1.5",
            "--hop",
            "0.25",
            "--smooth",
            "0.5",
            "--overwrite",
        ]
    )
    if code != 0:
        return code
    timeline = json.loads((timeline_dir / "timeline.json").read_text(encoding="utf-8"))
    print(f"the five voices in a row → the face shows {describe_timeline(timeline)}")
    made += [
        ("timeline plot", timeline_dir / "timeline.png"),
        ("animation (GIF)", timeline_dir / "animation.gif"),
        ("animation (MP4 + voice)", timeline_dir / "animation.mp4"),
    ]

    for run in run_notebooks(["00_quickstart"], smoke=False, progress=False):
        made.append(("quickstart notebook", run.output))

    print(f"\ndemo finished in {time.perf_counter() - start:.0f} s; made:")
    for what, path in made:
        if path.exists():  # optional outputs (e.g. a GIF) are listed only when made
            print(f"  {what:26s} {shown_path(path)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
