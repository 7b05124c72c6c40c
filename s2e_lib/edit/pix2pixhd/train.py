"""Training pix2pixHD on a built pair folder: one step, the resumable loop.

A run folder holds::

    checkpoint.pt   G, D, both Adam states, the AMP scaler, step, config (for --resume)
    generator.pt    G and what inference needs (condition, size, emotions), small
    losses.csv      one row per logged step
    run.json        config, data settings, timings, the latest losses
    samples/        step_<n>.png grids: input | output | target rows

Everything a step does depends only on the seed and the step number (batches come from
:class:`~s2e_lib.edit.pix2pixhd.dataset.StepBatchSampler`), so on a CPU a resumed run
reproduces the losses of an uninterrupted one. Checkpoints are written atomically
every ``checkpoint_every`` steps, at the end, and on Ctrl-C (:mod:`.checkpoint`); the
config and presets live in :mod:`.config`.

Under ``torchrun`` the same loop runs data-parallel: every process takes its slice of each
step's global batch (:class:`ShardedStepSampler`), G and D run inside
DistributedDataParallel, and rank 0 alone logs and writes (``docs/scale.md``).
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import pandas as pd
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from s2e_lib.edit.pix2pixhd.checkpoint import (
    load_checkpoint,
    load_generator,
    read_resume_state,
    save_checkpoint,
)
from s2e_lib.edit.pix2pixhd.config import (
    PRESETS,
    TrainConfig,
    build_models,
    config_from_dict,
    default_device,
    get_config,
    learning_rate,
    phase,
)
from s2e_lib.edit.pix2pixhd.dataset import PairDataset, StepBatchSampler
from s2e_lib.edit.pix2pixhd.model import (
    LocalEnhancer,
    build_vgg_loss,
    check_size,
    downsample,
    feature_matching_loss,
    lsgan_loss,
)
from s2e_lib.errors import InputError
from s2e_lib.fileio import atomic_output, output_lock, write_text_atomic
from s2e_lib.nn.distributed import (
    DistContext,
    all_reduce_mean,
    barrier,
    distributed_session,
    world_size,
    wrap_ddp,
)

LOSS_COLUMNS = (
    "step",
    "phase",
    "lr",
    "G_GAN",
    "G_feat",
    "G_VGG",
    "G_L1",
    "D_real",
    "D_fake",
    "L1",
    "seconds",
)


# --- one step ----------------------------------------------------------------------------


def amp_settings(
    device_type: str, amp: bool, bf16_supported: bool, forced_dtype: torch.dtype | None = None
) -> tuple[bool, torch.dtype, bool]:
    """Mixed precision of a training step: ``(autocast on, its dtype, grad scaler on)``.

    With ``amp`` on CUDA: bfloat16 autocast where the GPU supports it (no scaler needed),
    else float16 with a :class:`torch.amp.GradScaler`. Off on other devices, unless
    ``forced_dtype`` asks for autocast in that dtype on whatever device (the CPU tests force
    the CUDA branches this way: bfloat16, and float16 with the scaler).
    """
    if forced_dtype is not None:
        return True, forced_dtype, forced_dtype == torch.float16
    if not amp or device_type != "cuda":
        return False, torch.float32, False
    dtype = torch.bfloat16 if bf16_supported else torch.float16
    return True, dtype, dtype == torch.float16


def norm_cancelled(module: torch.nn.Module, in_channels: int = 3) -> list[tuple[torch.nn.Parameter, int]]:
    """The parameters whose effect instance norm removes exactly, as ``(parameter, first input
    channel)`` pairs (0: the whole parameter).

    A convolution followed by a non-affine :class:`~torch.nn.InstanceNorm2d` adds its bias as
    a per-channel constant, which the norm subtracts again; likewise the weights a first
    convolution applies to constant one-hot label planes (input channels 3 … of the label
    condition). Their true gradient is zero, but Adam divides the gradient's rounding noise
    by its own size and moves them by about the learning rate every step: a random walk that
    changes nothing the network computes, yet makes two runs that round differently (another
    thread count, or several torchrun processes) end with different checkpoints. The trainer
    leaves them out of every update.
    """
    cancelled: list[tuple[torch.nn.Parameter, int]] = []
    for sequence in module.modules():
        if not isinstance(sequence, torch.nn.Sequential):
            continue
        layers = list(sequence)
        for layer, following in zip(layers, layers[1:], strict=False):
            convolution = isinstance(layer, torch.nn.Conv2d | torch.nn.ConvTranspose2d)
            if not (convolution and isinstance(following, torch.nn.InstanceNorm2d)) or following.affine:
                continue
            if layer.bias is not None:
                cancelled.append((layer.bias, 0))
            if in_channels > 3 and isinstance(layer, torch.nn.Conv2d) and layer.in_channels == in_channels:
                cancelled.append((layer.weight, 3))
    return cancelled


def _drop_cancelled(cancelled: list[tuple[torch.nn.Parameter, int]]) -> None:
    for parameter, first in cancelled:
        if parameter.grad is None:
            continue
        if first == 0:
            parameter.grad = None  # Adam skips a parameter without gradient
        else:
            parameter.grad[:, first:] = 0.0


class Pix2PixHDTrainer:
    """G, D, their optimisers and losses; :meth:`step` does one G update and one D update.

    Parameters
    ----------
    config : TrainConfig
    in_channels : int
        Generator input channels (3 for signs, 3 + n_emotions for labels).
    device : torch.device, optional
    """

    def __init__(
        self,
        config: TrainConfig,
        in_channels: int,
        device: torch.device | None = None,
        amp_dtype: torch.dtype | None = None,
    ):
        self.config = config
        self.in_channels = in_channels
        self.device = torch.device(device) if device is not None else default_device()
        torch.manual_seed(config.seed)  # every process of a torchrun job builds the same models
        self.generator, self.discriminator = build_models(config, in_channels)
        self.generator.to(self.device)
        self.discriminator.to(self.device)
        betas = (config.beta1, config.beta2)
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=config.lr, betas=betas)
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=config.lr, betas=betas)
        self.vgg, self.vgg_note = build_vgg_loss(
            config.vgg_weights, config.lambda_vgg, config.vgg_imagenet_norm
        )
        if self.vgg is not None:
            self.vgg.to(self.device)
        bf16 = self.device.type == "cuda" and torch.cuda.is_bf16_supported()
        self.use_amp, self.amp_dtype, use_scaler = amp_settings(
            self.device.type, bool(config.amp), bf16, amp_dtype
        )
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=use_scaler)
        # Under torchrun, D (and G, per training phase) run inside DistributedDataParallel.
        self.world_size = world_size()
        self._parallel_d = wrap_ddp(self.discriminator, self.device)
        self._cancelled_g = norm_cancelled(self.generator, in_channels)
        self._cancelled_d = norm_cancelled(self.discriminator)
        self._parallel_g: tuple[str, torch.nn.Module] | None = None
        self.step_count = 0

    def set_lr(self, lr: float) -> None:
        for opt in (self.opt_g, self.opt_d):
            for group in opt.param_groups:
                group["lr"] = lr

    def _freeze_global(self, frozen: bool) -> None:
        if isinstance(self.generator, LocalEnhancer):
            self.generator.global_generator.requires_grad_(not frozen)

    def generate(self, x: torch.Tensor, which: str = "single") -> torch.Tensor:
        if which == "global":
            return self.generator.forward_global(x)
        return self.generator(x)

    def _generator_for(self, step_phase: str) -> torch.nn.Module:
        """The module a training forward of ``step_phase`` goes through: G (or G1 alone in the
        ``global`` phase), wrapped in DDP when several processes train. The wrapper is rebuilt
        when the phase changes, after G1 is frozen or unfrozen (DDP only reduces the
        gradients of parameters that required them when it was built)."""
        if self._parallel_g is not None and self._parallel_g[0] == step_phase:
            return self._parallel_g[1]
        self._parallel_g = None  # drop the old wrapper (and its gradient hooks) first
        module = self.generator.global_generator if step_phase == "global" else self.generator
        # In the joint phase G2 uses G1's features, not G1's own output layer.
        unused = step_phase == "joint" and isinstance(self.generator, LocalEnhancer)
        self._parallel_g = (step_phase, wrap_ddp(module, self.device, find_unused_parameters=unused))
        return self._parallel_g[1]

    def step(self, x: torch.Tensor, y: torch.Tensor, step_phase: str = "single") -> dict[str, float]:
        """One G update then one D update on a batch; returns the losses as floats.

        Under torchrun ``x`` and ``y`` are this process's share of the global batch; the
        gradients are averaged over the processes (DDP) and the returned losses are the
        means over the processes, i.e. the losses of the global batch.
        """
        c = self.config
        x, y = x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)
        if x.shape[-1] != c.size or x.shape[-2] != c.size:
            x = F.interpolate(x, size=(c.size, c.size), mode="bilinear", align_corners=False, antialias=True)
            y = F.interpolate(y, size=(c.size, c.size), mode="bilinear", align_corners=False, antialias=True)
        if step_phase == "global":
            x, y = downsample(x), downsample(y)
        self._freeze_global(step_phase == "local")
        generator = self._generator_for(step_phase)
        self.generator.train()
        self.discriminator.train()
        n = x.shape[0]
        with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.use_amp):
            fake = generator(x)
            # D's own loss: fake (detached) and real pairs in one forward, so D's DDP wrapper
            # sees one forward and one backward per step (instance norm: samples independent).
            pairs = torch.cat([torch.cat([x, fake.detach()], 1), torch.cat([x, y], 1)], 0)
            pred_pairs = self._parallel_d(pairs)
            pred_fake_pool = [[f[:n] for f in scale] for scale in pred_pairs]
            pred_real = [[f[n:] for f in scale] for scale in pred_pairs]
            # G's adversarial loss through a frozen D: gradients reach G only.
            self.discriminator.requires_grad_(False)
            try:
                pred_fake = self.discriminator(torch.cat([x, fake], 1))
            finally:
                self.discriminator.requires_grad_(True)
            loss_d_fake = lsgan_loss(pred_fake_pool, False)
            loss_d_real = lsgan_loss(pred_real, True)
            loss_g_gan = lsgan_loss(pred_fake, True)
            loss_g_feat = feature_matching_loss(pred_fake, pred_real, c.lambda_feat)
            loss_g_vgg = self.vgg(fake, y) if self.vgg is not None else torch.zeros((), device=self.device)
            loss_g_l1 = F.l1_loss(fake.float(), y.float()) * c.lambda_l1
            loss_g = loss_g_gan + loss_g_feat + loss_g_vgg + loss_g_l1
            loss_d = 0.5 * (loss_d_fake + loss_d_real)

        self.opt_g.zero_grad(set_to_none=True)
        self.scaler.scale(loss_g).backward()
        _drop_cancelled(self._cancelled_g)
        self.scaler.step(self.opt_g)
        self.opt_d.zero_grad(set_to_none=True)
        self.scaler.scale(loss_d).backward()
        _drop_cancelled(self._cancelled_d)
        self.scaler.step(self.opt_d)
        self.scaler.update()
        self.step_count += 1
        values = torch.stack(
            [
                loss_g_gan.detach().float(),
                loss_g_feat.detach().float(),
                loss_g_vgg.detach().float(),
                loss_g_l1.detach().float(),
                loss_d_real.detach().float(),
                loss_d_fake.detach().float(),
                F.l1_loss(fake.detach().float(), y.float()),
            ]
        )
        values = all_reduce_mean(values).cpu().tolist()
        return dict(zip(("G_GAN", "G_feat", "G_VGG", "G_L1", "D_real", "D_fake", "L1"), values, strict=True))

    @torch.no_grad()
    def sample(self, x: torch.Tensor, step_phase: str = "single") -> torch.Tensor:
        """Generator outputs for a batch (at the phase's resolution), in [-1, 1], on CPU."""
        c = self.config
        x = x.to(self.device)
        if x.shape[-1] != c.size:
            x = F.interpolate(x, size=(c.size, c.size), mode="bilinear", align_corners=False, antialias=True)
        if step_phase == "global":
            x = downsample(x)
        with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.use_amp):
            return self.generate(x, step_phase).float().cpu()

    def state_dict(self) -> dict:
        return {
            "step": self.step_count,
            "G": self.generator.state_dict(),
            "D": self.discriminator.state_dict(),
            "opt_G": self.opt_g.state_dict(),
            "opt_D": self.opt_d.state_dict(),
            "scaler": self.scaler.state_dict(),
        }

    def load_state_dict(self, state: dict) -> None:
        self.generator.load_state_dict(state["G"])
        self.discriminator.load_state_dict(state["D"])
        self.opt_g.load_state_dict(state["opt_G"])
        self.opt_d.load_state_dict(state["opt_D"])
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self.step_count = int(state["step"])


@torch.no_grad()
def predict_pairs(
    checkpoint: str | os.PathLike,
    dataset: PairDataset,
    indices=None,
    device: str | torch.device | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Inputs, generator outputs and targets (each ``(N, C, H, W)`` in [-1, 1]) for some pairs.

    ``indices`` default to the first eight pairs. Pairs are resized to the size the
    generator was trained at.
    """
    generator, meta = load_generator(checkpoint, device)
    size = int(meta["config"]["size"])
    indices = list(range(min(8, len(dataset)))) if indices is None else list(indices)
    batch = torch.utils.data.default_collate([dataset[int(i)] for i in indices])
    x, y = batch["input"], batch["target"]
    if x.shape[-1] != size:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
        y = F.interpolate(y, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    device = next(generator.parameters()).device
    outputs = torch.cat([generator(x[i : i + 1].to(device)).float().cpu() for i in range(len(x))])
    return x, outputs, y


# --- the loop ----------------------------------------------------------------------------


class ShardedStepSampler(torch.utils.data.Sampler):
    """This process's share of every global batch of a :class:`StepBatchSampler`.

    Process ``rank`` of ``world_size`` takes the ``rank``-th contiguous slice of
    ``batch_size / world_size`` items of each step's batch. The global batch of a step is
    the same whatever the number of processes (unlike ``DistributedSampler``, which splits
    the dataset per epoch so that the global batches change with the number of processes):
    a run resumed with another number of processes continues with the same batches, and a
    run on N processes matches a one-process run on the same global batch.
    """

    def __init__(self, sampler: StepBatchSampler, rank: int = 0, world_size: int = 1):
        if sampler.batch_size % world_size:
            raise ValueError(f"batch size {sampler.batch_size} is not a multiple of {world_size} processes")
        self.sampler, self.rank, self.world_size = sampler, rank, world_size
        self.per_process = sampler.batch_size // world_size

    def __len__(self) -> int:
        return len(self.sampler)

    def __iter__(self):
        first = self.rank * self.per_process
        for batch in self.sampler:
            yield batch[first : first + self.per_process]


@dataclass
class TrainResult:
    """Where a run is and what it logged."""

    run: Path
    step: int
    losses: pd.DataFrame
    vgg_note: str
    seconds_per_step: float


def _read_log(path: Path, up_to: int, log: Callable[[str], None] | None = None) -> list[dict]:
    if not path.is_file():
        return []
    try:
        df = pd.read_csv(path, float_precision="round_trip")
        return df[df["step"] <= up_to].to_dict("records")
    except Exception as exc:  # a damaged log must not block training: start it again
        if log:
            log(f"ignored unreadable loss log {path} ({type(exc).__name__})")
        return []


def _write_log(path: Path, rows: list[dict]) -> None:
    with atomic_output(path) as tmp:
        pd.DataFrame(rows, columns=list(LOSS_COLUMNS)).to_csv(tmp, index=False)


def train(
    data: str | os.PathLike,
    out: str | os.PathLike,
    config: TrainConfig | None = None,
    resume: bool = False,
    steps: int | None = None,
    stop_after: int | None = None,
    device: str | torch.device | None = None,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
    lambda_l1: float | None = None,
) -> TrainResult:
    """Train (or continue training) pix2pixHD on a pair folder.

    Parameters
    ----------
    data : path
        Output of :func:`~s2e_lib.edit.pix2pixhd.dataset.build_dataset`.
    out : path
        Run folder. An existing ``checkpoint.pt`` there is refused unless ``resume``.
    config : TrainConfig, optional
        Default: the ``tiny`` preset. Ignored when resuming (the checkpoint's is used).
    resume : bool
        Continue from ``out/checkpoint.pt`` (starts fresh when there is none).
    lambda_l1 : float, optional
        The pixel L1 weight, replacing the preset's or, when resuming, the checkpoint's (a
        last phase that weighs the discriminators more; stored with the run from then on).
    steps : int, optional
        Override the total number of steps (also when resuming).
    stop_after : int, optional
        Stop (with a checkpoint) once this step is reached, as if interrupted.
    device : str or torch.device, optional
        Default: CUDA when available.
    progress : bool
        Show a tqdm bar.
    log : callable, optional
        Receives one-line notes (an unreadable ``checkpoint.pt`` ignored on resume: training
        restarts from step 0 with the run's recorded configuration). Default: stderr.

    The run holds an exclusive lock on ``out`` (a second ``train`` into it stops with
    "busy: …").

    Under ``torchrun`` (several processes; see ``docs/scale.md``) every process trains on
    its share of each global batch of ``config.batch_size`` pairs (which must be a multiple
    of the number of processes), gradients are averaged by DistributedDataParallel, and
    only rank 0 locks ``out``, logs, shows progress and writes checkpoints. The batches of a
    step depend only on the seed and the step number, so a run resumed with another number
    of processes sees the same global batches.
    """
    out = Path(out)
    dataset = PairDataset(data)
    with distributed_session(device) as session:
        lock = output_lock(out) if session.is_main else contextlib.nullcontext()
        with lock:
            result = _train(
                dataset,
                data,
                out,
                config,
                resume,
                steps,
                stop_after,
                session,
                progress,
                log or _stderr,
                lambda_l1,
            )
        barrier()  # the other processes return once rank 0 has written the run's files
        if not session.is_main:
            result.losses = _read_losses(out / "losses.csv")
        return result


def _read_losses(path: Path) -> pd.DataFrame:
    if path.is_file():
        return pd.read_csv(path, float_precision="round_trip")
    return pd.DataFrame(columns=list(LOSS_COLUMNS))


def _train(
    dataset: PairDataset,
    data: str | os.PathLike,
    out: Path,
    config: TrainConfig | None,
    resume: bool,
    steps: int | None,
    stop_after: int | None,
    session: DistContext,
    progress: bool,
    log: Callable[[str], None],
    lambda_l1: float | None = None,
) -> TrainResult:
    main = session.is_main
    if not main:
        log = _quiet
    checkpoint_path = out / "checkpoint.pt"
    state = None
    if checkpoint_path.is_file():
        if not resume:
            raise InputError(
                f"{out}: already holds a checkpoint; pass --resume to continue or use a new --out"
            )
        state = read_resume_state(checkpoint_path, log)
        if state is None:  # damaged: restart with the configuration recorded in run.json
            config = _recorded_config(out / "run.json") or config
        else:
            config = config_from_dict(state["config"])
        for key in ("condition", "emotions"):
            if state is not None and state["data"].get(key) != dataset.settings.get(key):
                raise InputError(
                    f"{data}: {key} differs from the run being resumed ({state['data'].get(key)})"
                )
    config = config or get_config("tiny")
    if steps is not None:
        config = replace(config, steps=int(steps))
    if lambda_l1 is not None:
        config = replace(config, lambda_l1=float(lambda_l1))
    if config.batch_size % session.world_size:
        world, fits = session.world_size, -(-config.batch_size // session.world_size) * session.world_size
        hint = (
            "the run being resumed keeps its batch: resume it with a number of processes that divides it"
            if checkpoint_path.is_file()
            else f"pass --batch-size {fits}, or another multiple of {world}"
        )
        raise InputError(
            f"batch size {config.batch_size} is the global batch and must be a multiple of the "
            f"{world} torchrun processes ({hint})"
        )
    trainer = Pix2PixHDTrainer(config, dataset.input_channels, session.device)
    if state is not None:
        trainer.load_state_dict(state)
        del state
    start = trainer.step_count
    log_path = out / "losses.csv"
    if main:
        out.mkdir(parents=True, exist_ok=True)
        (out / "samples").mkdir(exist_ok=True)
        _write_log(log_path, _read_log(log_path, start, log))

    end = config.steps if stop_after is None else min(config.steps, int(stop_after))
    sampler = ShardedStepSampler(
        StepBatchSampler(
            len(dataset),
            config.batch_size,
            start,
            end,
            config.seed,
            config.hflip,
            config.vflip,
            config.rot90,
            config.crop_jitter,
            config.color_jitter,
        ),
        session.rank,
        session.world_size,
    )
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_sampler=sampler,
        num_workers=config.num_workers,
        pin_memory=trainer.device.type == "cuda",
        persistent_workers=False,
    )
    picks = sorted({round(i * (len(dataset) - 1) / 3) for i in range(4)})  # spread over emotions
    sample_batch = torch.utils.data.default_collate([dataset[i] for i in picks]) if main else None

    def record(last: dict, seconds: float) -> None:
        write_text_atomic(
            out / "run.json",
            json.dumps(
                {
                    "config": asdict(config),
                    "data": dataset.settings,
                    "data_path": str(data),
                    "pairs": len(dataset),
                    "step": trainer.step_count,
                    "device": str(trainer.device),
                    "processes": session.world_size,
                    "amp": trainer.use_amp,
                    "vgg": trainer.vgg_note,
                    "seconds_per_step": seconds,
                    "last": last,
                },
                indent=2,
            ),
        )

    def write_samples(step_phase: str) -> None:
        from s2e_lib.viz.pix2pixhd import save_sample_grid

        outputs = trainer.sample(sample_batch["input"], step_phase)
        save_sample_grid(
            sample_batch["input"],
            outputs,
            sample_batch["target"],
            out / "samples" / f"step_{trainer.step_count:07d}.png",
        )

    last: dict = {}
    timed_steps, timed_seconds = 0, 0.0
    bar = tqdm(total=end, initial=start, desc="pix2pixHD", disable=not (progress and main), unit="step")
    log_file = open(log_path, "a", newline="", encoding="utf-8") if main else None  # noqa: SIM115
    try:
        writer = csv.DictWriter(log_file, fieldnames=list(LOSS_COLUMNS)) if main else None
        for batch in loader:
            step = trainer.step_count
            step_phase = phase(config, step)
            lr = learning_rate(config, step)
            trainer.set_lr(lr)
            t0 = time.perf_counter()
            losses = trainer.step(batch["input"], batch["target"], step_phase)
            seconds = time.perf_counter() - t0
            if step > start:  # the first step includes one-off set-up costs
                timed_steps, timed_seconds = timed_steps + 1, timed_seconds + seconds
            done = trainer.step_count
            last = {"step": done, "phase": step_phase, "lr": lr, **losses, "seconds": round(seconds, 4)}
            if not main:
                continue
            if done % config.log_every == 0 or done == end:
                writer.writerow(last)
                log_file.flush()
            if done % config.sample_every == 0 or done == end:
                write_samples(step_phase)
            if done % config.checkpoint_every == 0 or done == end:
                save_checkpoint(trainer, out, dataset.settings)
                record(last, timed_seconds / max(timed_steps, 1))
            bar.update(1)
            bar.set_postfix(
                L1=f"{losses['L1']:.3f}", D=f"{losses['D_real'] + losses['D_fake']:.3f}", phase=step_phase
            )
    except KeyboardInterrupt:
        if main and trainer.step_count > start:
            save_checkpoint(trainer, out, dataset.settings)
            record(last, timed_seconds / max(timed_steps, 1))
        raise
    finally:
        bar.close()
        if log_file is not None:
            log_file.close()
    if main and trainer.step_count == start and not checkpoint_path.is_file():
        save_checkpoint(trainer, out, dataset.settings)
    losses_df = _read_losses(log_path) if main else pd.DataFrame(columns=list(LOSS_COLUMNS))
    return TrainResult(
        out, trainer.step_count, losses_df, trainer.vgg_note, timed_seconds / max(timed_steps, 1)
    )


#: The FRL smile recipe for 2 CPU cores (docs/pix2pixhd.md): the ``cpu`` preset's 3,000 steps,
#: a warm restart of the learning rate to 6,000, then 2,000 steps with pixel L1 at 30, where the
#: discriminators weigh more and the smile sharpens. Each phase is (end step, pixel L1 weight or
#: None to keep the run's).
CPU_SMILE_PHASES: tuple[tuple[int, float | None], ...] = ((3000, None), (6000, None), (8000, 30.0))


def train_phases(
    data: str | os.PathLike,
    out: str | os.PathLike,
    config: TrainConfig,
    phases: tuple[tuple[int, float | None], ...] = CPU_SMILE_PHASES,
    **kwargs,
) -> TrainResult:
    """Train in phases, each continuing the run in ``out`` to a later step.

    Each phase is :func:`train` with ``resume=True``, ``steps`` = its end step (so the learning
    rate restarts and decays again over the config's last ``decay_steps``) and, when given, a
    new pixel L1 weight. A phase the run has already reached does nothing, so calling this
    again after an interruption continues where the run stopped. ``kwargs`` go to
    :func:`train` (``device``, ``progress``, ``log``). Returns the last phase's result.
    """
    ends = [int(end) for end, _ in phases]
    if not phases or ends != sorted(set(ends)):
        raise InputError(f"training phases {phases}: their end steps must increase")
    result = None
    for end, lambda_l1 in phases:
        result = train(data, out, config, resume=True, steps=end, lambda_l1=lambda_l1, **kwargs)
    return result


def _recorded_config(path: Path) -> TrainConfig | None:
    """The configuration in a run's ``run.json``, or None when absent or unreadable."""
    try:
        return config_from_dict(json.loads(path.read_text(encoding="utf-8"))["config"])
    except Exception:
        return None


def _stderr(line: str) -> None:
    print(line, file=sys.stderr)


def _quiet(line: str) -> None:
    """The log of processes other than rank 0: rank 0 reports for the job."""


__all__ = [
    "CPU_SMILE_PHASES",
    "PRESETS",
    "Pix2PixHDTrainer",
    "ShardedStepSampler",
    "TrainConfig",
    "TrainResult",
    "amp_settings",
    "norm_cancelled",
    "build_models",
    "check_size",
    "get_config",
    "learning_rate",
    "load_checkpoint",
    "load_generator",
    "train_phases",
    "phase",
    "predict_pairs",
    "save_checkpoint",
    "train",
]
