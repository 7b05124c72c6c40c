"""``s2e ials``: IALS latent editing on StyleGAN-1 (invert a face, edit a code into a grid)."""

from __future__ import annotations

import click

from s2e_lib.cli.types import FiniteFloat, ImageOut, PositiveInt
from s2e_lib.emotions import MISSION_EMOTIONS

PRETRAIN_HELP = "IALS's pretrain/ folder (default: $S2E_IALS_PRETRAIN or models/ials/pretrain)."


@click.group()
def ials() -> None:
    """IALS instance-aware latent editing on StyleGAN-1 FFHQ (needs IALS's pretrain/ folder)."""


@ials.command("invert")
@click.option("--pretrain", type=click.Path(file_okay=False), default=None, help=PRETRAIN_HELP)
@click.option("--face", "face_path", required=True, type=click.Path(dir_okay=False), help="Face photo.")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Where the W+ code goes (.npy).")
@click.option(
    "--iters", default=500, show_default=True, type=PositiveInt(100_000), help="Inversion iterations."
)
@click.option(
    "--lr",
    default=0.01,
    show_default=True,
    type=FiniteFloat(0, 10, min_open=True),
    help="Adam learning rate.",
)
@click.option("--no-align", is_flag=True, help="The photo is already an FFHQ-aligned crop.")
@click.option("--overwrite", is_flag=True, help="Replace an existing output.")
def invert_cmd(pretrain, face_path, out, iters, lr, no_align, overwrite) -> None:
    """Invert the face in FACE to a W+ code (18×512); also writes <out>_reconstruction.png and <out>_loss.csv."""
    from s2e_lib.edit.ials import IALSModels, InversionConfig, invert, save_inversion
    from s2e_lib.face import align_face, load_image
    from s2e_lib.fileio import check_output, require_file

    check_output(out, overwrite)
    require_file(face_path, "face photo")
    models = IALSModels.from_pretrain(pretrain, attributes=(), with_vgg=True)
    image = load_image(face_path)
    crop = image if no_align else align_face(image, size=models.generator.resolution).image
    result = invert(
        models.generator,
        crop,
        models.avg_code,
        vgg=models.vgg,
        config=InversionConfig(iterations=iters, lr=lr),
    )
    paths = save_inversion(result, out, overwrite=overwrite)
    click.echo(
        f"loss {result.losses['total'][0]:.4g} -> {result.losses['total'][-1]:.4g} ({iters} iterations)"
    )
    for name, path in paths.items():
        click.echo(f"{name:15s} {path}")


@ials.command("edit")
@click.option("--pretrain", type=click.Path(file_okay=False), default=None, help=PRETRAIN_HELP)
@click.option(
    "--code", required=True, type=click.Path(dir_okay=False), help="W+ code (.npy) from `s2e ials invert`."
)
@click.option(
    "--emotion",
    required=True,
    help=f"Emotion(s), comma-separated, or 'all' ({', '.join(MISSION_EMOTIONS)}).",
)
@click.option("--recipe", type=click.Choice(["default", "original"]), default="default", show_default=True)
@click.option(
    "--strength",
    default=1.0,
    show_default=True,
    type=FiniteFloat(0, 10),
    help="Scales the step size (0..10).",
)
@click.option("--every", default=2, show_default=True, type=PositiveInt(1000), help="Show every n-th step.")
@click.option("--out", required=True, type=ImageOut(), help="Grid image (.png), emotions × steps.")
@click.option("--overwrite", is_flag=True, help="Replace an existing output.")
def edit_cmd(pretrain, code, emotion, recipe, strength, every, out, overwrite) -> None:
    """Edit a W+ code toward EMOTION(s); write a grid of the steps (one row per emotion)."""
    from s2e_lib.edit.ials import IALSModels, get_recipe, load_code
    from s2e_lib.edit.ials.editor import edit_rows
    from s2e_lib.emotions import parse_emotions
    from s2e_lib.fileio import check_output
    from s2e_lib.viz.ials import compose_grid, save_grid

    check_output(out, overwrite)
    emotions = (
        list(MISSION_EMOTIONS)
        if emotion.strip().lower() == "all"
        else parse_emotions(emotion, MISSION_EMOTIONS)
    )
    attributes = tuple(dict.fromkeys(a for e in emotions for a in get_recipe(e, recipe).attributes))
    models = IALSModels.from_pretrain(pretrain, attributes=attributes, with_vgg=False)
    wplus = load_code(code, models.generator.num_ws)
    rows = edit_rows(models, wplus, emotions, recipe=recipe, strength=strength, every=every)
    n = max(len(r) for r in rows.values())
    steps = [get_recipe(e, recipe).n_steps for e in emotions]
    header = [f"step {min(i * every, max(steps))}" for i in range(n)]
    save_grid(
        compose_grid(rows, header=header, title=f"IALS, recipe {recipe}, strength {strength}"), out, overwrite
    )
    click.echo(f"grid           {out}")


@ials.command("check")
@click.option(
    "--pretrain",
    type=click.Path(file_okay=True),
    default=None,
    help="The folder to check (default: $S2E_IALS_PRETRAIN or models/ials/pretrain).",
)
@click.option(
    "--require-weights",
    is_flag=True,
    help="Missing weight files (generators, classifiers, VGG-16) are errors, not notes.",
)
@click.option("--no-weights", is_flag=True, help="Do not load the weight files present (faster).")
def check_cmd(pretrain, require_weights, no_weights) -> int:
    """Check every file of IALS's pretrain/ folder: name, shape, dtype, sha256.

    One line per problem (`error: DIR/file: problem`) on stderr, a note per missing
    optional weight file, and a summary; exit 2 when anything is wrong, 0 when the
    required data files are all right.
    """
    import sys

    from s2e_lib.edit.ials.check import check_pretrain
    from s2e_lib.paths import project_paths

    root = pretrain if pretrain is not None else project_paths().ials_pretrain
    report = check_pretrain(
        root, require_weights=require_weights, weights=not no_weights, progress=sys.stderr.isatty()
    )
    for problem in report.problems:
        click.echo(_printable(f"error: {problem}"), err=True)
    for note in report.notes:
        click.echo(_printable(f"note: {note}"))
    click.echo(_printable(report.summary()))
    return 0 if report.ok else 2


def _printable(text: str) -> str:
    """``text`` with undecodable file-name bytes shown as ``\\xff``."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
