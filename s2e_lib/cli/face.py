"""``s2e align`` and ``s2e edit``: FFHQ crops and expression edits of a photo's face."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import click

from s2e_lib.cli.types import CommaList, FiniteFloat, ImageOut, PositiveInt
from s2e_lib.emotions import MISSION_EMOTIONS


@click.command()
@click.option("--face", "face_path", required=True, type=click.Path(), help="Photo with a face.")
@click.option("--out", required=True, type=ImageOut(), help="Aligned crop to write (PNG/JPEG).")
@click.option(
    "--size", default=1024, show_default=True, type=PositiveInt(4096), help="Side of the crop in pixels."
)
@click.option(
    "--method",
    default="ffhq",
    show_default=True,
    type=click.Choice(["ffhq", "five-point"]),
    help="FFHQ 68-landmark recipe or the original project's 5-point template.",
)
@click.option("--overwrite", is_flag=True, help="Replace OUT if it exists.")
@click.option(
    "--json", "as_json", is_flag=True, help="Print a JSON object (with the matrix) as the last line."
)
def align(face_path: str, out: str, size: int, method: str, overwrite: bool, as_json: bool) -> None:
    """Detect the largest face in FACE and write its aligned square crop to OUT."""
    from s2e_lib.face import align_face, largest_face, load_image, save_image
    from s2e_lib.fileio import check_output

    start = time.perf_counter()
    check_output(out, overwrite=overwrite)
    image = load_image(face_path)
    face = largest_face(image, where=face_path)
    aligned = align_face(image, size=size, method=method, face=face)
    save_image(aligned.image, out, overwrite=True)
    if as_json:
        record = {
            "face": face_path,
            "out": str(out),
            "method": aligned.method,
            "size": aligned.size,
            "box": [round(v, 1) for v in face.box],
            "matrix": [[round(float(v), 6) for v in row] for row in aligned.matrix],
            "seconds": round(time.perf_counter() - start, 3),
        }
        click.echo(json.dumps(record))
    else:
        click.echo(str(out))


def _save_like(image, out: str, source: str) -> None:
    """Save ``image``; a CMYK source gives a CMYK output when the format can hold it (JPEG, TIFF)."""
    from PIL import Image

    from s2e_lib.face import save_image
    from s2e_lib.face.io import VIDEO_SUFFIXES
    from s2e_lib.fileio import atomic_output

    cmyk = False
    if Path(source).suffix.lower() not in VIDEO_SUFFIXES:  # a video's frame is RGB
        with Image.open(source) as im:
            cmyk = im.mode == "CMYK"
    if cmyk and Path(out).suffix.lower() in (".jpg", ".jpeg", ".tif", ".tiff"):
        with atomic_output(out, overwrite=True) as tmp:
            Image.fromarray(image).convert("CMYK").save(tmp)
        return
    save_image(image, out, overwrite=True)


def _grid_strength(text: str) -> float:
    """One --strengths column: a finite number in 0..2 (ValueError otherwise)."""
    try:
        value = float(text)
    except ValueError:
        raise ValueError("is not a number") from None
    if not (math.isfinite(value) and 0 <= value <= 2):
        raise ValueError("must be a finite number >= 0 and <= 2")
    return value


@click.command()
@click.option("--face", "face_path", required=True, type=click.Path(), help="Photo with a face.")
@click.option(
    "--emotion", default=None, help="Target emotion (any accepted name). With --grid: comma-separated rows."
)
@click.option(
    "--strength",
    default=1.0,
    show_default=True,
    type=FiniteFloat(0, 2),
    help="0 = unchanged, 1 = default, 1.5 = exaggerated (at most 2).",
)
@click.option(
    "--editor",
    "editor_name",
    default="warp",
    show_default=True,
    type=click.Choice(["warp", "pix2pixhd", "ials"]),
)
@click.option("--out", required=True, type=ImageOut(), help="Edited photo (or grid) to write.")
@click.option("--checkpoint", type=click.Path(), default=None, help="pix2pixHD generator checkpoint.")
@click.option("--pretrain", type=click.Path(), default=None, help="IALS pretrain/ folder.")
@click.option("--grid", is_flag=True, help="Write a labelled grid: rows emotions, columns strengths.")
@click.option(
    "--strengths",
    type=CommaList(_grid_strength),
    default="0,0.5,1,1.5",
    show_default=True,
    help="Grid columns (each 0..2).",
)
@click.option(
    "--tile",
    type=click.IntRange(64, 1024),
    default=192,
    show_default=True,
    help="Grid cell side in pixels (larger to look closely).",
)
@click.option("--all-faces", is_flag=True, help="Edit every face, not only the largest (warp editor).")
@click.option("--overwrite", is_flag=True, help="Replace OUT if it exists.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object as the last stdout line.")
def edit(
    face_path: str,
    emotion: str | None,
    strength: float,
    editor_name: str,
    out: str,
    checkpoint: str | None,
    pretrain: str | None,
    grid: bool,
    strengths: list[float],
    tile: int,
    all_faces: bool,
    overwrite: bool,
    as_json: bool,
) -> int:
    """Change the expression of the face in FACE to EMOTION and write the photo to OUT."""
    from s2e_lib.edit import edit_warnings, face_count_warnings, get_editor
    from s2e_lib.emotions import parse_emotion, parse_emotions
    from s2e_lib.errors import InputError
    from s2e_lib.face import (
        detect_faces,
        identity_distance,
        largest_face,
        read_image,
        restore_mode,
        save_image,
        to_rgb,
    )
    from s2e_lib.face.mesh import blendshape_record
    from s2e_lib.fileio import check_output

    start = time.perf_counter()
    if not grid and not emotion:
        raise InputError("--emotion is required (or use --grid)")
    # emotions are checked before any image is read or model loaded
    if grid:
        rows = parse_emotions(emotion) if emotion else list(MISSION_EMOTIONS)
    else:
        emotion = parse_emotion(emotion)
    check_output(out, overwrite=overwrite)
    options = {}
    if checkpoint is not None:
        options["checkpoint"] = checkpoint
    if pretrain is not None:
        options["pretrain"] = pretrain
    native = read_image(face_path)
    rgb = to_rgb(native, face_path)
    faces = detect_faces(rgb)
    face = largest_face(rgb, where=face_path, faces=faces)
    editor = get_editor(editor_name, **options)
    if grid:
        from s2e_lib.viz.face import edit_grid

        image = edit_grid(rgb, editor, rows, strengths, face=face, tile=tile)
        save_image(image, out, overwrite=True)
        record = {
            "grid": str(out),
            "emotions": rows,
            "strengths": strengths,
            "editor": editor_name,
        }
    else:
        if editor_name == "warp":
            result = editor.edit(
                native,
                emotion,
                strength,
                faces=faces if all_faces else [face],
                all_faces=all_faces,
                where=face_path,
            )
            edited = result.image
        else:
            result = editor.edit(rgb, emotion, strength)
            edited = restore_mode(to_rgb(result.image, check_size=False), native)
        _save_like(edited, out, face_path)
        distance = identity_distance(rgb, to_rgb(edited), face_a=face)
        record = {
            "face": face_path,
            "out": str(out),
            "emotion": emotion,
            "strength": strength,
            "editor": editor_name,
            "identity_distance": round(distance, 4),
            "faces_found": len(faces),
            "faces_edited": int(result.info.get("n_faces", 1)),
            "timings_ms": result.info.get("timings_ms"),
        }
        if result.info.get("model_strength", strength) != strength:  # a calibrated pix2pixHD model
            record["model_strength"] = result.info["model_strength"]
        record["warnings"] = edit_warnings(result.info) + face_count_warnings(
            len(faces), record["faces_edited"], all_faces
        )
        record["blendshapes"] = blendshape_record(rgb, to_rgb(edited), emotion, strength, face.box)
        if record["blendshapes"].get("warning"):
            record["warnings"].append(record["blendshapes"]["warning"])
    record["seconds"] = round(time.perf_counter() - start, 3)
    if as_json:
        click.echo(json.dumps(record))
    else:
        for warning in record.get("warnings", []):
            click.echo(f"warning: {face_path}: {warning}", err=True)
        click.echo(str(Path(out)))
    return 0
