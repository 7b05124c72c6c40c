"""``s2e pix2pixhd``: build neutral → emotion pairs from prepared frames, and train."""

from __future__ import annotations

import click

from s2e_lib.cli.types import CommaList, Device, PositiveInt


@click.group("pix2pixhd")
def pix2pixhd() -> None:
    """pix2pixHD sign-conditioned expression editing: dataset, training.

    Edit a photo with a trained run: s2e edit --editor pix2pixhd --checkpoint RUN/generator.pt
    """


@pix2pixhd.command("build-dataset")
@click.option(
    "--prepared", required=True, type=click.Path(path_type=str), help="Prepared tree with frames.csv."
)
@click.option(
    "--out", required=True, type=click.Path(path_type=str), help="Output folder (A/, B/, pairs.csv)."
)
@click.option("--condition", type=click.Choice(["sign", "label"]), default="sign", show_default=True)
@click.option(
    "--size", type=PositiveInt(4096), default=256, show_default=True, help="Side of the square crops."
)
@click.option(
    "--position",
    type=click.Choice(["corner", "center", "top-left", "top-right", "bottom-left", "bottom-right"]),
    default="corner",
    show_default=True,
    help="Where the sign goes (center = the original, covers the mouth).",
)
@click.option("--level-scale", is_flag=True, help="Scale the condition by intensity level (level / 3).")
@click.option("--emotions", default="angry,neutral,fear,happy,sad", show_default=True)
@click.option("--align", is_flag=True, help="Align frames not aligned by `s2e prepare` (dlib, FFHQ crop).")
@click.option(
    "--max-per-take", type=PositiveInt(), default=None, help="At most this many target frames per take."
)
@click.option("--speakers", type=CommaList(), default=None, help="Comma-separated speakers to keep.")
@click.option(
    "--views", type=CommaList(), default=None, help="Comma-separated camera views to keep (e.g. front)."
)
def build_dataset_command(
    prepared, out, condition, size, position, level_scale, emotions, align, max_per_take, speakers, views
):
    """Pair neutral and emotional frames of the same speaker and view into A/ and B/.

    Rerunning with the same settings resumes; problems go to OUT/problems.csv (exit 2
    when there are any).
    """
    from s2e_lib.edit.pix2pixhd.build import build_dataset
    from s2e_lib.emotions import parse_emotions

    report = build_dataset(
        prepared,
        out,
        condition=condition,
        size=size,
        position=position,
        level_scale=level_scale,
        emotions=parse_emotions(emotions),
        align=align,
        max_per_take=max_per_take,
        speakers=speakers or None,
        views=views or None,
    )
    counts = report.pairs["emotion"].value_counts().to_dict()
    click.echo(
        f"{len(report.pairs)} pairs in {report.out} ({report.written} written, {report.skipped} already there): "
        + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
    )
    if len(report.problems):
        click.echo(f"{len(report.problems)} problem(s), see {report.out / 'problems.csv'}", err=True)
        return 2
    return 0


@pix2pixhd.command("train")
@click.option("--data", required=True, type=click.Path(path_type=str), help="Folder from build-dataset.")
@click.option("--out", required=True, type=click.Path(path_type=str), help="Run folder (checkpoints, logs).")
@click.option("--config", "preset", type=click.Choice(["tiny", "paper"]), default="tiny", show_default=True)
@click.option(
    "--steps", type=PositiveInt(10_000_000), default=None, help="Total steps (default: the preset's)."
)
@click.option("--resume", is_flag=True, help="Continue from OUT/checkpoint.pt.")
@click.option(
    "--size", type=PositiveInt(4096), default=None, help="Training resolution (default: the preset's)."
)
@click.option("--batch-size", type=PositiveInt(4096), default=None)
@click.option(
    "--vgg-weights", type=click.Path(path_type=str), default=None, help="torchvision vgg19 state dict."
)
@click.option("--checkpoint-every", type=PositiveInt(), default=None, help="Steps between checkpoints.")
@click.option("--seed", type=click.IntRange(0, 2**32 - 1), default=None)
@click.option(
    "--device", type=Device(), default=None, help="cpu, cuda or cuda:N (default: cuda when available)."
)
@click.option("--threads", type=click.IntRange(1, 256), default=None, help="torch CPU threads.")
@click.option("--residual", is_flag=True, help="G outputs input + correction (not in the paper).")
@click.option("--no-hflip", is_flag=True, help="No horizontal-flip augmentation.")
@click.option("--vflip", is_flag=True, help="Vertical-flip augmentation (the original used it).")
@click.option("--rot90", is_flag=True, help="90-degree rotation augmentation (the original used it).")
def train_command(
    data,
    out,
    preset,
    steps,
    resume,
    size,
    batch_size,
    vgg_weights,
    checkpoint_every,
    seed,
    device,
    threads,
    residual,
    no_hflip,
    vflip,
    rot90,
):
    """Train pix2pixHD; writes OUT/checkpoint.pt, OUT/generator.pt, OUT/losses.csv, OUT/samples/."""
    import torch

    from s2e_lib.edit.pix2pixhd.config import get_config
    from s2e_lib.edit.pix2pixhd.train import train

    if threads:
        torch.set_num_threads(threads)
    if vgg_weights:  # before the run folder is created or locked
        _check_vgg_weights(vgg_weights)

    config = get_config(
        preset,
        size=size,
        batch_size=batch_size,
        vgg_weights=vgg_weights,
        checkpoint_every=checkpoint_every,
        seed=seed,
        residual=residual or None,
        hflip=False if no_hflip else None,
        vflip=vflip or None,
        rot90=rot90 or None,
    )
    result = train(data, out, config, resume=resume, steps=steps, device=device)
    click.echo(result.vgg_note)
    last = result.losses.iloc[-1].to_dict() if len(result.losses) else {}
    l1 = f", L1 to target {last['L1']:.4f}" if "L1" in last else ""
    click.echo(
        f"step {result.step} in {result.run} ({result.seconds_per_step:.3f} s/step{l1}); "
        f"edit with: s2e edit --editor pix2pixhd --checkpoint {result.run / 'generator.pt'}"
    )
    return 0


def _check_vgg_weights(path: str) -> None:
    """Read --vgg-weights safely (tensors only) and check its first layer's keys, so a wrong
    or malicious file is one line naming it before any work."""
    from s2e_lib.errors import S2EError
    from s2e_lib.nn.vgg import VGGFeatures, load_vgg_features

    try:
        load_vgg_features(VGGFeatures("vgg19", ("relu1_1",)), path)
    except S2EError as exc:
        raise type(exc)(f"--vgg-weights: {exc}") from None
