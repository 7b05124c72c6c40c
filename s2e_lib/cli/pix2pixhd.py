"""``s2e pix2pixhd``: build neutral → emotion pairs from prepared frames, train, and import
NVIDIA pix2pixHD checkpoints."""

from __future__ import annotations

import click

from s2e_lib.cli.types import CommaList, Device, PositiveInt


@click.group("pix2pixhd")
def pix2pixhd() -> None:
    """pix2pixHD sign-conditioned expression editing: dataset, training, NVIDIA import.

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


@pix2pixhd.command("build-frl")
@click.option(
    "--root",
    required=True,
    type=click.Path(path_type=str),
    help="FRL London folder (neutral_front/NNN_03.jpg, smiling_front/NNN_08.jpg).",
)
@click.option(
    "--out",
    required=True,
    type=click.Path(path_type=str),
    help="Output folder (train/, heldout/, split.csv).",
)
@click.option(
    "--size", type=PositiveInt(4096), default=128, show_default=True, help="Side of the aligned crops."
)
@click.option("--condition", type=click.Choice(["sign", "label"]), default="sign", show_default=True)
@click.option(
    "--position",
    type=click.Choice(["corner", "center", "top-left", "top-right", "bottom-left", "bottom-right"]),
    default="corner",
    show_default=True,
)
@click.option(
    "--align-method",
    type=click.Choice(["ffhq-face", "ffhq", "five-point"]),
    default="ffhq-face",
    show_default=True,
    help="Crop recipe (ffhq-face: FFHQ's square tightened to the face).",
)
@click.option(
    "--holdout-every",
    type=click.IntRange(2, 1000),
    default=5,
    show_default=True,
    help="Hold out every n-th person of the sorted ids (5: 21 of 102).",
)
@click.option(
    "--validation-every",
    type=click.IntRange(0, 1000),
    default=4,
    show_default=True,
    help="Of the others, every n-th person is a validation person (4: 21 of 81; 0: none).",
)
def build_frl_command(root, out, size, condition, position, align_method, holdout_every, validation_every):
    """Real (neutral + happy sign -> smiling) pairs from the FRL London set, split by person.

    Writes OUT/train, OUT/validation and OUT/heldout pair folders (train with `s2e pix2pixhd
    train --data OUT/train --config cpu`, calibrate on OUT/validation, evaluate on
    OUT/heldout) and OUT/split.csv. Rerunning resumes.
    """
    from s2e_lib.edit.pix2pixhd.frl import build_frl_pairs

    report = build_frl_pairs(
        root,
        out,
        size=size,
        condition=condition,
        position=position,
        align_method=align_method,
        holdout_every=holdout_every,
        validation_every=validation_every,
    )
    parts = report.split["part"].value_counts().to_dict()
    click.echo(
        f"{parts.get('train', 0)} training, {parts.get('validation', 0)} validation and "
        f"{parts.get('heldout', 0)} held-out people in {report.out} "
        f"({report.written} pairs written, {report.skipped} already there)"
    )
    if len(report.problems):
        for problem in report.problems.itertuples():
            click.echo(f"error: {problem.path}: {problem.problem}", err=True)
        return 2
    return 0


@pix2pixhd.command("calibrate")
@click.option("--checkpoint", required=True, type=click.Path(path_type=str), help="A run's generator.pt.")
@click.option(
    "--data",
    required=True,
    type=click.Path(path_type=str),
    help="Validation pair folder with photo paths (OUT/validation of build-frl).",
)
@click.option(
    "--out",
    type=click.Path(path_type=str),
    default=None,
    help="The calibrated copy of the checkpoint (default: CHECKPOINT's folder/<name>_calibrated.pt).",
)
@click.option(
    "--strength",
    "grid",
    type=click.FloatRange(0, 2, min_open=True),
    multiple=True,
    help="A strength to try (repeatable; default 0.75 1 1.125 1.25 1.375 1.5 1.75 2).",
)
@click.option("--overwrite", is_flag=True, help="Replace OUT if it exists.")
@click.option("--json", "as_json", is_flag=True, help="Print the calibration as JSON.")
def calibrate_command(checkpoint, data, out, grid, overwrite, as_json):
    """Choose what strength 1 means for a model, on validation people; write a calibrated copy.

    Edits each validation person's neutral photo at a grid of strengths and picks the one at
    which the edits' expression size (MediaPipe blendshapes, e.g. mouthSmile for happy) matches
    the real photos'. The copy carries the scale; `s2e edit --checkpoint COPY` uses it.
    """
    import json

    from s2e_lib.edit.pix2pixhd.calibrate import (
        DEFAULT_GRID,
        calibrate_strength,
        format_calibration,
        save_calibrated,
    )
    from s2e_lib.fileio import check_output, require_file

    source = require_file(checkpoint, "checkpoint")
    out = out or source.with_name(f"{source.stem}_calibrated.pt")
    check_output(out, overwrite=overwrite, suffixes=(".pt",))
    calibration = calibrate_strength(checkpoint, data, grid=tuple(grid) or DEFAULT_GRID)
    written = save_calibrated(checkpoint, calibration, out, overwrite=overwrite)
    click.echo(json.dumps(calibration.to_dict(), indent=2) if as_json else format_calibration(calibration))
    click.echo(f"wrote {written}", err=as_json)
    return 0


@pix2pixhd.command("evaluate")
@click.option("--checkpoint", required=True, type=click.Path(path_type=str), help="A run's generator.pt.")
@click.option(
    "--data",
    required=True,
    type=click.Path(path_type=str),
    help="Held-out pair folder with photo paths (OUT/heldout of build-frl).",
)
@click.option("--strength", type=click.FloatRange(0, 2), default=1.0, show_default=True)
@click.option(
    "--out", type=click.Path(path_type=str), default=None, help="Write the per-person table (.csv)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def evaluate_command(checkpoint, data, strength, out, as_json):
    """Edit held-out people's neutral photos; distances and judges against their real photos."""
    import json

    from s2e_lib.edit.pix2pixhd.evaluate import evaluate_heldout, format_summary
    from s2e_lib.fileio import atomic_output, check_output

    if out:
        check_output(out, suffixes=(".csv",))
    report = evaluate_heldout(checkpoint, data, strength=strength)
    if out:
        with atomic_output(out) as tmp:
            report.rows.to_csv(tmp, index=False)
    click.echo(json.dumps(report.summary, indent=2) if as_json else format_summary(report.summary))
    return 0


@pix2pixhd.command("train")
@click.option("--data", required=True, type=click.Path(path_type=str), help="Folder from build-dataset.")
@click.option("--out", required=True, type=click.Path(path_type=str), help="Run folder (checkpoints, logs).")
@click.option(
    "--config",
    "preset",
    type=click.Choice(["tiny", "cpu", "paper", "original"]),
    default="tiny",
    show_default=True,
)
@click.option(
    "--steps", type=PositiveInt(10_000_000), default=None, help="Total steps (default: the preset's)."
)
@click.option("--resume", is_flag=True, help="Continue from OUT/checkpoint.pt.")
@click.option(
    "--lambda-l1",
    type=click.FloatRange(0, 1000),
    default=None,
    help="Pixel L1 weight, replacing the preset's (or, with --resume, the run's: a last phase with "
    "less L1, docs/pix2pixhd.md).",
)
@click.option(
    "--size", type=PositiveInt(4096), default=None, help="Training resolution (default: the preset's)."
)
@click.option(
    "--batch-size",
    type=PositiveInt(4096),
    default=None,
    help="Global batch: under torchrun it is split over the processes (a multiple of their number; "
    "without this option the preset's batch is raised to the smallest such multiple).",
)
@click.option(
    "--vgg-weights", type=click.Path(path_type=str), default=None, help="torchvision vgg19 state dict."
)
@click.option("--checkpoint-every", type=PositiveInt(), default=None, help="Steps between checkpoints.")
@click.option("--log-every", type=PositiveInt(), default=None, help="Steps between rows of OUT/losses.csv.")
@click.option(
    "--stop-after",
    type=PositiveInt(10_000_000),
    default=None,
    help="Stop with a checkpoint once this step is reached, as if interrupted (--resume continues).",
)
@click.option("--no-amp", is_flag=True, help="No mixed precision on CUDA (default: bf16/fp16 autocast).")
@click.option("--seed", type=click.IntRange(0, 2**32 - 1), default=None)
@click.option(
    "--device", type=Device(), default=None, help="cpu, cuda or cuda:N (default: cuda when available)."
)
@click.option("--threads", type=click.IntRange(1, 256), default=None, help="torch CPU threads.")
@click.option("--residual", is_flag=True, help="G outputs input + correction (not in the paper).")
@click.option("--no-hflip", is_flag=True, help="No horizontal-flip augmentation.")
@click.option("--vflip", is_flag=True, help="Vertical-flip augmentation (the original used it).")
@click.option("--rot90", is_flag=True, help="90-degree rotation augmentation (the original used it).")
@click.option(
    "--vgg-imagenet-norm",
    is_flag=True,
    help="ImageNet-normalise VGG-19's inputs (default: raw [-1, 1] images, as NVIDIA's code).",
)
def train_command(
    data,
    out,
    preset,
    steps,
    resume,
    lambda_l1,
    size,
    batch_size,
    vgg_weights,
    checkpoint_every,
    log_every,
    stop_after,
    no_amp,
    seed,
    device,
    threads,
    residual,
    no_hflip,
    vflip,
    rot90,
    vgg_imagenet_norm,
):
    """Train pix2pixHD; writes OUT/checkpoint.pt, OUT/generator.pt, OUT/losses.csv, OUT/samples/.

    Runs unchanged under torchrun (DDP, one process per GPU: torchrun --nproc_per_node N
    -m s2e_lib.cli pix2pixhd train ...); rank 0 logs and writes. See docs/scale.md.
    """
    import torch

    from s2e_lib.edit.pix2pixhd.config import get_config
    from s2e_lib.edit.pix2pixhd.train import train
    from s2e_lib.nn.distributed import launch_environment

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
        log_every=log_every,
        amp=False if no_amp else None,
        seed=seed,
        residual=residual or None,
        hflip=False if no_hflip else None,
        vflip=vflip or None,
        rot90=rot90 or None,
        vgg_imagenet_norm=vgg_imagenet_norm or None,
    )
    rank, world, _ = launch_environment()
    main_process = rank == 0
    config = _batch_for_processes(config, preset, world, batch_size, out, main_process)
    result = train(
        data,
        out,
        config,
        resume=resume,
        steps=steps,
        stop_after=stop_after,
        device=device,
        progress=main_process,
        lambda_l1=lambda_l1,
    )
    if not main_process:  # rank 0 reports for the job
        return 0
    click.echo(result.vgg_note)
    last = result.losses.iloc[-1].to_dict() if len(result.losses) else {}
    l1 = f", L1 to target {last['L1']:.4f}" if "L1" in last else ""
    click.echo(
        f"step {result.step} in {result.run} ({result.seconds_per_step:.3f} s/step{l1}); "
        f"edit with: s2e edit --editor pix2pixhd --checkpoint {result.run / 'generator.pt'}"
    )
    return 0


def _batch_for_processes(config, preset: str, world: int, batch_size, out: str, main_process: bool):
    """``config`` with its preset's global batch raised to the smallest multiple of the
    ``world`` torchrun processes, when the user gave no --batch-size (``tiny``'s batch of 1
    cannot be split over 2 processes); a --batch-size the user gave is kept (train() refuses
    one that does not split), and so is a run being resumed (its recorded batch is used)."""
    from dataclasses import replace
    from pathlib import Path

    if batch_size is not None or config.batch_size % world == 0 or (Path(out) / "checkpoint.pt").is_file():
        return config
    raised = -(-config.batch_size // world) * world
    if main_process:
        click.echo(
            f"note: --config {preset}'s global batch of {config.batch_size} raised to {raised}, the smallest "
            f"multiple of the {world} torchrun processes (--batch-size sets another)",
            err=True,
        )
    return replace(config, batch_size=raised)


@pix2pixhd.command("import-nvidia")
@click.option("--generator", required=True, type=click.Path(path_type=str), help="NVIDIA's latest_net_G.pth.")
@click.option(
    "--discriminator",
    type=click.Path(path_type=str),
    default=None,
    help="NVIDIA's latest_net_D.pth (stored too, under D).",
)
@click.option(
    "--config",
    "preset",
    type=click.Choice(["original", "paper", "tiny"]),
    default="original",
    show_default=True,
    help="Preset the run used; network sizes are read off the weights.",
)
@click.option(
    "--size",
    type=PositiveInt(4096),
    default=None,
    help="Resolution it was trained at (default: the preset's).",
)
@click.option(
    "--position",
    type=click.Choice(["center", "corner", "top-left", "top-right", "bottom-left", "bottom-right"]),
    default="center",
    show_default=True,
    help="Where the sign was drawn in training (the original: center).",
)
@click.option("--out", required=True, type=click.Path(path_type=str), help="s2e checkpoint to write (.pt).")
@click.option("--overwrite", is_flag=True, help="Replace OUT if it exists.")
def import_nvidia_command(generator, discriminator, preset, size, position, out, overwrite):
    """Convert NVIDIA pix2pixHD weights into an s2e checkpoint for `s2e edit --editor pix2pixhd`.

    (`s2e edit --checkpoint latest_net_G.pth` also works directly, with the original preset.)
    """
    from dataclasses import asdict

    import torch

    from s2e_lib.edit.pix2pixhd.build import BuildSettings
    from s2e_lib.edit.pix2pixhd.config import get_config
    from s2e_lib.edit.pix2pixhd.nvidia import s2e_checkpoint
    from s2e_lib.errors import InputError
    from s2e_lib.fileio import atomic_output, check_output

    check_output(out, overwrite=overwrite)
    base = get_config(preset, size=size)
    states = [_read_nvidia(generator, "--generator")]
    states.append(_read_nvidia(discriminator, "--discriminator") if discriminator else None)
    state = s2e_checkpoint(states[0], states[1], base)
    config = state["config"]
    state["data"] = BuildSettings(condition="sign", size=config["size"], position=position).to_dict()
    if config["size"] != base.size:
        raise InputError(f"--size {base.size} is not a multiple of 2 ** downsamplings; use {config['size']}")
    with atomic_output(out) as tmp:
        torch.save(state, tmp)
    changed = [
        f"{k} {config[k]} (preset {v})" for k, v in asdict(base).items() if k != "size" and config[k] != v
    ]
    kind = "global + local enhancer" if config["local_enhancer"] else "global"
    click.echo(
        f"wrote {out}: {kind} generator, ngf {config['ngf']}, {config['n_downsampling']} downsamplings, "
        f"{config['n_blocks']} blocks"
        + (", with D" if discriminator else "")
        + (f"; sizes from the weights differ from --config {preset}: {', '.join(changed)}" if changed else "")
    )
    click.echo(f"edit with: s2e edit --editor pix2pixhd --checkpoint {out}")
    return 0


def _read_nvidia(path: str, option: str) -> dict:
    """A tensors-only NVIDIA state dict, or one line naming the option."""
    from pathlib import Path

    import torch

    from s2e_lib.errors import InputError, MissingResourceError
    from s2e_lib.nn.vgg import load_problem

    if not Path(path).is_file():
        raise MissingResourceError(f"{option}: {path}: not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise InputError(f"{option}: {path}: not readable ({load_problem(exc)})") from None
    from s2e_lib.edit.pix2pixhd.nvidia import detect_kind

    kind = detect_kind(state)
    wanted = ("discriminator",) if option == "--discriminator" else ("global", "local")
    if kind not in wanted:
        what = "discriminator" if option == "--discriminator" else "generator"
        found = f" (it holds a {kind} network)" if kind else ""
        raise InputError(f"{option}: {path}: not an NVIDIA pix2pixHD {what} state dict{found}")
    return state


def _check_vgg_weights(path: str) -> None:
    """Read --vgg-weights safely (tensors only) and check its first layer's keys, so a wrong
    or malicious file is one line naming it before any work."""
    from s2e_lib.errors import S2EError
    from s2e_lib.nn.vgg import VGGFeatures, load_vgg_features

    try:
        load_vgg_features(VGGFeatures("vgg19", ("relu1_1",)), path)
    except S2EError as exc:
        raise type(exc)(f"--vgg-weights: {exc}") from None
