"""``s2e run``: voice → emotion → face, end to end (single pair, batch, or timeline)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from s2e_lib.cli.types import FiniteFloat
from s2e_lib.errors import InputError
from s2e_lib.pipeline.timeline import DEFAULT_HOP_S, DEFAULT_SMOOTH_S, DEFAULT_WINDOW_S


@click.command()
@click.option(
    "--audio",
    "audio",
    required=True,
    type=click.Path(path_type=Path),
    help="A recording, or a folder of them.",
)
@click.option(
    "--face",
    "face",
    required=True,
    type=click.Path(path_type=Path),
    help="A face photo, or a folder of them.",
)
@click.option("--editor", type=click.Choice(["warp", "pix2pixhd", "ials"]), default="warp", show_default=True)
@click.option("--all-faces", is_flag=True, help="Edit every face, not only the largest (warp editor).")
@click.option(
    "--strength",
    default="auto",
    show_default=True,
    help="'auto' (from the classifier's confidence and the MEAD level) or a number in 0..1.5.",
)
@click.option(
    "--model",
    type=click.Path(path_type=Path),
    default=None,
    help="Speech-emotion checkpoint (default: the shipped model).",
)
@click.option(
    "--voice-profile",
    type=click.Path(path_type=Path),
    default=None,
    help="The speaker's voice profile (s2e ser profile): hear the voice relative to their usual voice.",
)
@click.option(
    "--adapt",
    is_flag=True,
    help="The recordings are one speaker in several moods: hear each against the profile of them "
    "all (a folder of 2+ recordings, or a --timeline's own speech; one mood throughout reads as "
    "average).",
)
@click.option("--checkpoint", type=click.Path(path_type=Path), default=None, help="pix2pixHD checkpoint.")
@click.option("--pretrain", type=click.Path(path_type=Path), default=None, help="IALS pretrain/ folder.")
@click.option("--out-dir", required=True, type=click.Path(path_type=Path, file_okay=False))
@click.option(
    "--timeline",
    is_flag=True,
    help="Emotion over time: plot + the face following the voice (MP4 with the voice muxed in).",
)
@click.option(
    "--gif", is_flag=True, help="With --timeline: also write animation.gif (at most 320 px and 10 fps)."
)
@click.option(
    "--window",
    "window_s",
    type=FiniteFloat(0, 60, min_open=True),
    default=DEFAULT_WINDOW_S,
    show_default=True,
    help="Timeline window (s, > 0, at most 60).",
)
@click.option(
    "--hop",
    "hop_s",
    type=FiniteFloat(0, 60, min_open=True),
    default=DEFAULT_HOP_S,
    show_default=True,
    help="Timeline hop (s, > 0, at most 60; 0.5 follows emotion no better and costs twice the time: "
    "docs/pipeline.md).",
)
@click.option(
    "--smooth",
    "smooth_s",
    type=FiniteFloat(0, 60),
    default=DEFAULT_SMOOTH_S,
    show_default=True,
    help="Timeline smoothing (s, Gaussian std; 0 = none).",
)
@click.option(
    "--fps",
    type=FiniteFloat(0, 60, min_open=True),
    default=10.0,
    show_default=True,
    help="Timeline animation frame rate (at most 60).",
)
@click.option(
    "--max-seconds",
    type=FiniteFloat(0, min_open=True),
    default=600.0,
    show_default=True,
    help="Refuse longer recordings (checked before decoding; --timeline streams and has no limit).",
)
@click.option("--overwrite", is_flag=True, help="Replace existing outputs.")
@click.option(
    "--resume",
    is_flag=True,
    help="Skip pairs an earlier run into OUT_DIR completed and redo the ones it left incomplete "
    "(the default for folders; with two files: reuse a complete result).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON line.")
def run(
    audio,
    face,
    editor,
    all_faces,
    strength,
    model,
    voice_profile,
    adapt,
    checkpoint,
    pretrain,
    out_dir,
    timeline,
    gif,
    window_s,
    hop_s,
    smooth_s,
    fps,
    max_seconds,
    overwrite,
    resume,
    as_json,
) -> int:
    """Hear the emotion in AUDIO and change the face in FACE to match.

    Writes OUT_DIR/result.json, edited.png and summary.png (for folders: one sub-folder
    per pair and OUT_DIR/summary.csv). With --timeline: timeline.json, timeline.png,
    animation.mp4 (the voice muxed in) and, with --gif, animation.gif.

    Every input is checked before any speech work: the photo decoded and a face found in
    it, the recording's header read (for folders: every file first, then the work).
    """
    from s2e_lib.pipeline.run import Pipeline, RunConfig, plan_batch, run_plan
    from s2e_lib.pipeline.strength import parse_strength

    try:
        parse_strength(strength)
    except ValueError as exc:
        raise InputError(f"--strength: {exc}") from None
    if resume and overwrite:
        raise InputError("--resume keeps completed outputs and --overwrite replaces them: pass one")
    if all_faces and editor != "warp":
        raise InputError(f"--all-faces: only the warp editor edits several faces, not {editor}")
    if all_faces and timeline:
        raise InputError("--all-faces: the timeline animates the largest face only")
    for path, what in ((audio, "audio"), (face, "face image")):
        if not path.exists():
            raise InputError(f"{path}: {what} not found")
    config = RunConfig(
        editor=editor,
        strength=strength,
        model=str(model) if model else None,
        checkpoint=str(checkpoint) if checkpoint else None,
        pretrain=str(pretrain) if pretrain else None,
        overwrite=overwrite,
        max_seconds=None if timeline else max_seconds,
        all_faces=all_faces,
        voice_profile=str(voice_profile) if voice_profile else None,
        adapt=adapt,
    )
    if timeline and (not audio.is_file() or not face.is_file()):
        raise InputError("--timeline takes one audio file and one face image")
    pipeline = Pipeline(config)  # reads the voice profile: refused now when it is not one
    # every input is checked before any model loads: the face first (decoded, a face found),
    # then the recording's header (decodable, not too long)
    if timeline:
        pipeline.check_face(face)
        pipeline.check_audio(audio)
    else:
        plan = plan_batch(audio, face, out_dir, pipeline)
        for path, problem in plan.problems.items():  # reported now, before the work on the others
            n = sum(path in (p.audio, p.face) for p in plan.pairs)
            click.echo(_printable(f"error: {problem} (skipping its {n} pair{'s' * (n > 1)})"), err=True)
    _load_editor(pipeline)
    if voice_profile or adapt:
        _ = pipeline.model  # the profile must fit the model: said now, not once per pair
    if adapt and not timeline:
        pipeline.adapt_to(p.audio for p in plan.pairs if not p.error)
    if timeline:
        from s2e_lib.fileio import output_lock
        from s2e_lib.pipeline.animate import run_timeline

        with output_lock(out_dir):  # one run at a time per output folder
            result = run_timeline(
                audio,
                face,
                out_dir,
                window_s=window_s,
                hop_s=hop_s,
                smooth_s=smooth_s,
                fps=fps,
                pipeline=pipeline,
                gif=gif,
            )
        _report(result, as_json)
        return 0
    results = run_plan(plan, pipeline, resume=True if resume else None)
    if plan.single:
        _report(results[0].result, as_json)
        return 0
    failed = [r for r in results if not r.ok]
    refused = {(str(p.audio), str(p.face)) for p in plan.refused}
    for r in failed:
        if (r.audio, r.face) not in refused:
            click.echo(_printable(f"error: {r.audio} + {r.face}: {r.error}"), err=True)
    summary = {
        "pairs": len(results),
        "ok": len(results) - len(failed),
        "failed": len(failed),
        "resumed": sum(r.resumed for r in results),
        "summary_csv": str(out_dir / "summary.csv"),
    }
    click.echo(
        json.dumps(summary)
        if as_json
        else f"{summary['ok']}/{summary['pairs']} pairs done ({summary['resumed']} from an earlier run), "
        f"{summary['failed']} failed -> {summary['summary_csv']}"
    )
    return 2 if failed else 0


def _load_editor(pipeline) -> None:
    """Load the editor before any pair, so a bad --checkpoint or --pretrain is reported as
    that option's problem (not as the first face's)."""
    from s2e_lib.errors import S2EError

    try:
        _ = pipeline.editor
    except S2EError as exc:
        option = {"pix2pixhd": "--checkpoint", "ials": "--pretrain"}.get(pipeline.config.editor, "--editor")
        raise type(exc)(f"{option}: {exc}") from None


def _report(result: dict, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(result))
        return
    probs = ", ".join(
        f"{k} {v:.2f}" for k, v in sorted(result["probabilities"].items(), key=lambda kv: -kv[1])
    )
    click.echo(f"emotion: {result['emotion']}  ({probs})")
    click.echo(f"strength: {_strength_text(result)}, editor: {result['editor']}")
    for warning in result.get("warnings", []):
        click.echo(f"note: {warning}")
    if result.get("identity_distance") is not None:
        click.echo(f"identity distance: {result['identity_distance']:.3f}")
    for name, path in result["outputs"].items():
        click.echo(f"  {name:14s} {path}")


def _strength_text(result: dict) -> str:
    """``x0.61 (from the voice's confidence)`` or ``x0.80 (fixed by --strength)``; a timeline's
    strength follows the voice."""
    strength, mode = result["strength"], result["strength_mode"]
    if isinstance(strength, int | float):
        how = "from the voice's confidence" if mode == "auto" else "fixed by --strength"
        return f"x{strength:.2f} ({how})"
    return "follows the voice over time (auto)"


def _printable(text: str) -> str:
    """``text`` with undecodable file-name bytes (surrogate escapes) shown as ``\\xff``."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
