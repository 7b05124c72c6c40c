"""``s2e sample`` (the offline sample corpus) and ``s2e prepare mead|ravdess``."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from s2e_lib.cli.types import CommaList
from s2e_lib.errors import InputError

#: Intensity levels: integers, ``level_3`` accepted for ``3``.
LEVELS = CommaList(int, strip_prefix="level_")


@click.command("sample")
@click.option(
    "--out",
    "out",
    type=click.Path(path_type=Path),
    default=None,
    help="Folder to create [default: data/sample].",
)
@click.option(
    "--seed",
    type=click.IntRange(0, 2**32 - 1),
    default=0,
    show_default=True,
    help="Seed of every random choice.",
)
@click.option(
    "--speakers",
    "n_speakers",
    type=click.IntRange(1, 40),
    default=6,
    show_default=True,
    help="Synthetic speakers (M/W alternating).",
)
@click.option(
    "--utterances",
    type=click.IntRange(1, 50),
    default=2,
    show_default=True,
    help="Utterances per emotion and level.",
)
@click.option(
    "--levels", type=LEVELS, default="1,2,3", show_default=True, help="Intensity levels, comma-separated."
)
@click.option("--emotions", default=None, help="Emotions, comma-separated [default: the mission five].")
@click.option("--no-video", is_flag=True, help="Audio only (no front-view mp4).")
@click.option("--fps", type=click.IntRange(1, 60), default=10, show_default=True, help="Video frame rate.")
@click.option(
    "--size",
    "video_size",
    type=click.IntRange(64, 1024),
    default=256,
    show_default=True,
    help="Video frame size (square, px).",
)
@click.option(
    "--expression",
    type=click.Choice(["auto", "warp", "none"]),
    default="auto",
    show_default=True,
    help="Draw each emotion on the face with the warp editor (auto: when available).",
)
@click.option(
    "--jobs", type=click.IntRange(1, 64), default=1, show_default=True, help="Parallel worker processes."
)
@click.option("--overwrite", is_flag=True, help="Replace an existing sample corpus made by s2e.")
def sample(
    out,
    seed,
    n_speakers,
    utterances,
    levels,
    emotions,
    no_video,
    fps,
    video_size,
    expression,
    jobs,
    overwrite,
):
    """Generate the synthetic MEAD-layout sample corpus (m4a audio, front mp4 video).

    Fully offline and deterministic from --seed. The voices are synthesised and the
    face is scikit-image's astronaut photo: it is never real emotion data.
    """
    from s2e_lib.emotions import MISSION_EMOTIONS, parse_emotions
    from s2e_lib.paths import project_paths
    from s2e_lib.sample import make_sample_corpus

    out = out if out is not None else project_paths().sample
    start = time.perf_counter()
    make_sample_corpus(
        out,
        seed=seed,
        n_speakers=n_speakers,
        utterances=utterances,
        levels=tuple(levels or (1, 2, 3)),
        emotions=tuple(parse_emotions(emotions)) if emotions else MISSION_EMOTIONS,
        video=not no_video,
        video_size=video_size,
        fps=fps,
        expression=expression,
        overwrite=overwrite,
        progress=True,
        n_jobs=jobs,
    )
    n_audio = sum(1 for _ in out.glob("*/audio/*/level_*/*.m4a"))
    n_video = sum(1 for _ in out.glob("*/video/*/*/level_*/*.mp4"))
    click.echo(
        f"sample corpus: {out} ({n_speakers} speakers, {n_audio} audio, {n_video} video, "
        f"{time.perf_counter() - start:.1f} s) - synthetic, not real emotion data"
    )


@click.command("prepare")
@click.argument("corpus", type=click.Choice(["mead", "ravdess", "auto"], case_sensitive=False))
@click.option(
    "--root",
    type=click.Path(path_type=Path),
    default=None,
    help="Corpus root [default: data/MEAD or data/RAVDESS].",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=None,
    help="Prepared tree [default: data/prepared/<corpus>].",
)
@click.option(
    "--emotions",
    default=None,
    help="Comma-separated emotions [default: the mission five]; 'all' keeps every one.",
)
@click.option("--levels", type=LEVELS, default=None, help="Comma-separated intensity levels [default: all].")
@click.option(
    "--views",
    type=CommaList(),
    default="front",
    show_default=True,
    help="Comma-separated MEAD camera views; 'all' for every view.",
)
@click.option(
    "--speakers", type=CommaList(), default=None, help="Comma-separated speakers to keep [default: all]."
)
@click.option(
    "--frame-step",
    type=click.IntRange(1, 10_000),
    default=5,
    show_default=True,
    help="Keep every N-th video frame.",
)
@click.option(
    "--frames",
    "frames",
    type=click.Choice(["all", "first", "middle", "last"]),
    default="all",
    show_default=True,
    help="Which stepped frames to keep.",
)
@click.option(
    "--max-frames", type=click.IntRange(1, 100_000), default=None, help="At most K frames per video."
)
@click.option("--image-format", type=click.Choice(["png", "jpg"]), default="png", show_default=True)
@click.option("--align", is_flag=True, help="Align each frame's face to an FFHQ crop (face stage, dlib).")
@click.option(
    "--align-size",
    type=click.IntRange(64, 2048),
    default=256,
    show_default=True,
    help="Aligned crop size (px).",
)
@click.option("--align-method", type=click.Choice(["ffhq", "five-point"]), default="ffhq", show_default=True)
@click.option("--no-audio", is_flag=True, help="Skip the audio.")
@click.option("--no-video", is_flag=True, help="Skip the video frames.")
@click.option(
    "--test-speakers", default=None, help="Explicit test speakers, e.g. M003,W009 (writes splits.json)."
)
@click.option("--val-speakers", default=None, help="Explicit validation speakers.")
@click.option(
    "--n-test",
    type=click.IntRange(0, 1000),
    default=None,
    help="Draw N test speakers (gender-balanced) and write splits.json.",
)
@click.option(
    "--n-val",
    type=click.IntRange(0, 1000),
    default=0,
    show_default=True,
    help="Validation speakers drawn along with --n-test.",
)
@click.option(
    "--seed",
    type=click.IntRange(0, 2**32 - 1),
    default=0,
    show_default=True,
    help="Seed of the speaker split.",
)
@click.option(
    "--jobs",
    type=click.IntRange(1, 256),
    default=1,
    show_default=True,
    help="Local worker processes (without --scheduler).",
)
@click.option(
    "--scheduler",
    envvar="S2E_DASK_SCHEDULER",
    show_envvar=True,
    default=None,
    metavar="ADDRESS",
    help="Run the takes on a Dask cluster: tcp://host:8786, or local:N for N local worker "
    "processes; 'none' runs locally. Corpus and --out must be on a filesystem every worker "
    "mounts at the same path.",
)
def prepare(
    corpus,
    root,
    out,
    emotions,
    levels,
    views,
    speakers,
    frame_step,
    frames,
    max_frames,
    image_format,
    align,
    align_size,
    align_method,
    no_audio,
    no_video,
    test_speakers,
    val_speakers,
    n_test,
    n_val,
    seed,
    jobs,
    scheduler,
):
    """Prepare MEAD or RAVDESS: manifest.csv, 16 kHz wavs, video frames, frames.csv, problems.csv.

    Resumable: takes already prepared with the same parameters are skipped. Broken or
    missing files are listed in <out>/problems.csv and the run goes on. The source tree
    is only read. Exit status 2 when some takes failed. With --scheduler the takes run on
    a Dask cluster (docs/scale.md); an unreachable scheduler is an error before any work.
    """
    from s2e_lib.data.manifest import manifest_table
    from s2e_lib.data.prepare import FaceAligner, replace_atomic
    from s2e_lib.data.prepare import prepare as run_prepare
    from s2e_lib.data.splits import assign_split, speaker_split
    from s2e_lib.errors import MissingResourceError
    from s2e_lib.paths import project_paths

    corpus = corpus.lower()
    paths = project_paths()
    if root is None:
        if corpus == "auto":
            raise InputError("prepare auto: pass --root")
        root = paths.data / {"mead": "MEAD", "ravdess": "RAVDESS"}[corpus]
    if out is None:
        out = paths.data / "prepared" / (corpus if corpus != "auto" else Path(root).name)
    transform = None
    if align:
        try:
            from s2e_lib.face import models as face_models
        except ImportError as exc:
            raise MissingResourceError(f"--align needs the face stage (s2e_lib.face): {exc}") from None
        try:
            face_models.detector()
            face_models.predictor68()
        except Exception as exc:
            raise MissingResourceError(f"--align: the dlib face models cannot be loaded ({exc})") from None
        transform = FaceAligner(size=align_size, method=align_method)

    result = run_prepare(
        root,
        out,
        format=corpus,
        emotions=_emotion_filter(emotions),
        levels=levels or None,
        views=None if [v.lower() for v in views] == ["all"] else views or None,
        speakers=speakers or None,
        frame_step=frame_step,
        frames=frames,
        max_frames=max_frames,
        image_format=image_format,
        frame_transform=transform,
        audio=not no_audio,
        video=not no_video,
        jobs=jobs,
        progress=True,
        scheduler=scheduler if scheduler is not None else "",
    )
    if len(result.manifest) and (test_speakers or val_speakers or n_test is not None):
        split = speaker_split(
            result.manifest,
            n_test=n_test or 0,
            seed=seed,
            test_speakers=test_speakers,
            val_speakers=val_speakers,
            n_val=n_val,
        )
        with replace_atomic(Path(out) / "splits.json") as tmp:
            tmp.write_text(json.dumps({"seed": seed, **split}, indent=2) + "\n", encoding="utf-8")
        with replace_atomic(Path(out) / "manifest.csv") as tmp:
            manifest_table(assign_split(result.manifest, split), base=Path(out).absolute()).to_csv(
                tmp, index=False
            )
    click.echo(result.summary())
    if len(result.problems):
        click.echo(f"problems listed in {Path(out) / 'problems.csv'}", err=True)
    return 2 if result.failed else 0


def _emotion_filter(text: str | None):
    from s2e_lib.emotions import MISSION_EMOTIONS

    if text is None or not text.strip():
        return MISSION_EMOTIONS
    return None if text.strip().lower() == "all" else text
