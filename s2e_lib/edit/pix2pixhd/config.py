"""pix2pixHD training configuration: :class:`TrainConfig`, the named presets, the learning-rate
schedule and training phases, and the models a config builds."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import torch

from s2e_lib.edit.pix2pixhd.model import MultiscaleDiscriminator, build_generator
from s2e_lib.errors import InputError
from s2e_lib.nn import default_device as nn_default_device


@dataclass
class TrainConfig:
    """Model sizes, losses, schedule and bookkeeping of a training run.

    Attributes
    ----------
    name : str
        Preset it came from (``tiny``, ``paper`` or ``original``).
    size : int
        Training resolution; pairs of another size are resized on the fly.
    ngf, n_downsampling, n_blocks : int
        Global generator G1 (paper: 64, 4, 9).
    local_enhancer : bool
        Add G2 (then ``ngf == 2 * ngf_local``; G1 works at ``size / 2``).
    residual : bool
        Not in the paper: G outputs input + correction (keeps the input's colours; see
        :class:`~s2e_lib.edit.pix2pixhd.model.GlobalGenerator`).
    ngf_local, n_blocks_local : int
        G2 (paper: 32, 3).
    ndf, n_layers_d, num_d : int
        Multi-scale discriminator (paper: 64, 3, 3).
    lambda_feat, lambda_vgg : float
        Feature-matching and VGG weights (paper: 10, 10).
    lambda_l1 : float
        Pixel L1 weight: not in pix2pixHD (0 for ``paper``); the ``tiny`` preset uses it
        as a cheap stand-in for the perceptual loss.
    vgg_weights : str or None
        torchvision ``vgg19`` state dict; without it the perceptual loss is skipped.
    vgg_imagenet_norm : bool
        Feed VGG-19 ImageNet-normalised [0, 1] images. Off by default: NVIDIA's code feeds
        the raw [-1, 1] images (the input its λ_vgg 10 was used with).
    steps, decay_steps : int
        Total steps; the learning rate is constant, then decays linearly to 0 over the
        last ``decay_steps``.
    global_steps, fix_global_steps : int
        Local enhancer only: G1 alone at half resolution for ``global_steps``, then G2
        with G1 frozen for ``fix_global_steps``, then both jointly.
    lr, beta1, beta2 : float
        Adam (paper: 2e-4, 0.5, 0.999).
    batch_size : int
    checkpoint_every, sample_every, log_every : int
        Steps between checkpoints, sample grids and loss-log rows.
    seed : int
    hflip, vflip, rot90 : bool
        Augmentation (horizontal flip by default; the original also used the others).
    crop_jitter : float
        pix2pixHD's ``resize_and_crop``: both images of a pair enlarged by this fraction
        and cut at the same random offset (0: off).
    color_jitter : float
        Both images of a pair multiplied by the same random per-channel gain in
        1 ± this (0: off); helps a small set of people carry over to other skin tones and
        lighting.
    amp : bool
        Mixed precision on CUDA (bf16 where supported, else fp16 with a grad scaler).
    num_workers : int
        DataLoader workers.
    """

    name: str = "tiny"
    size: int = 64
    ngf: int = 16
    n_downsampling: int = 2
    n_blocks: int = 2
    local_enhancer: bool = False
    residual: bool = False
    ngf_local: int = 8
    n_blocks_local: int = 1
    ndf: int = 16
    n_layers_d: int = 2
    num_d: int = 2
    lambda_feat: float = 10.0
    lambda_vgg: float = 10.0
    lambda_l1: float = 10.0
    vgg_weights: str | None = None
    vgg_imagenet_norm: bool = False
    steps: int = 400
    decay_steps: int = 200
    global_steps: int = 0
    fix_global_steps: int = 0
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    batch_size: int = 1
    checkpoint_every: int = 200
    sample_every: int = 100
    log_every: int = 10
    seed: int = 0
    hflip: bool = True
    vflip: bool = False
    rot90: bool = False
    crop_jitter: float = 0.0
    color_jitter: float = 0.0
    amp: bool = True
    num_workers: int = 0

    def __post_init__(self) -> None:
        if self.local_enhancer and self.ngf != 2 * self.ngf_local:
            raise InputError(
                f"config: local enhancer needs ngf == 2 * ngf_local (got {self.ngf}, {self.ngf_local})"
            )
        if self.steps < 1 or self.batch_size < 1:
            raise InputError(
                f"config: steps ({self.steps}) and batch_size ({self.batch_size}) must be positive"
            )
        multiple = 2 ** (self.n_downsampling + (1 if self.local_enhancer else 0))
        if self.size % multiple:
            raise InputError(f"config: size {self.size} must be a multiple of {multiple}")


#: Named presets. ``paper`` is pix2pixHD's 1024² face setting: G1 + local enhancer,
#: 3 × 3-layer discriminators, batch 1, VGG loss when weights are given. ``original`` is
#: the original project's NVIDIA pix2pixHD options (and what ``import-nvidia`` assumes).
PRESETS: dict[str, TrainConfig] = {
    "tiny": TrainConfig(),
    "paper": TrainConfig(
        name="paper",
        size=1024,
        ngf=64,
        n_downsampling=4,
        n_blocks=9,
        local_enhancer=True,
        ngf_local=32,
        n_blocks_local=3,
        ndf=64,
        n_layers_d=3,
        num_d=3,
        lambda_l1=0.0,
        steps=300_000,
        decay_steps=100_000,
        global_steps=100_000,
        fix_global_steps=20_000,
        checkpoint_every=5_000,
        sample_every=1_000,
        log_every=100,
        num_workers=4,
    ),
    # A CPU preset (not in the paper): 128², a residual G1 (3 downsamplings, 4 blocks, 24
    # filters), two 3-layer discriminators, batch 4, pixel L1 at pix2pix's weight of 100 beside
    # the GAN losses (at 10 the discriminators win within 250 steps and G answers with a
    # high-frequency pattern over the whole face). On FRL
    # London's 81 training people it learnt a visible smile in 24 minutes on 2 cores (60 people,
    # the default split since: 18.5 minutes); CPU_SMILE_PHASES (train.py) continue it
    # (docs/pix2pixhd.md, "Real pairs").
    "cpu": TrainConfig(
        name="cpu",
        size=128,
        ngf=24,
        n_downsampling=3,
        n_blocks=4,
        residual=True,
        ndf=24,
        n_layers_d=3,
        num_d=2,
        lambda_l1=100.0,
        crop_jitter=0.06,
        color_jitter=0.1,
        steps=3000,
        decay_steps=1500,
        batch_size=4,
        checkpoint_every=250,
        sample_every=250,
        log_every=25,
    ),
    # The original project's options (NVIDIA's code): --netG global --ngf 32
    # --n_downsample_global 4 --n_blocks_global 9 --norm instance --label_nc 0 --no_instance,
    # 3 → 3 channels; D --ndf 32 --n_layers_D 3 --num_D 2, LSGAN, λ_feat 10, VGG loss on.
    "original": TrainConfig(
        name="original",
        size=512,
        ngf=32,
        n_downsampling=4,
        n_blocks=9,
        local_enhancer=False,
        ndf=32,
        n_layers_d=3,
        num_d=2,
        lambda_feat=10.0,
        lambda_vgg=10.0,
        lambda_l1=0.0,
        steps=200_000,
        decay_steps=100_000,
        checkpoint_every=5_000,
        sample_every=1_000,
        log_every=100,
        num_workers=4,
    ),
}


def config_from_dict(recorded: dict) -> TrainConfig:
    """A :class:`TrainConfig` stored in a checkpoint or ``run.json``. Runs recorded before
    ``vgg_imagenet_norm`` existed fed VGG-19 ImageNet-normalised images, so they resume so."""
    return TrainConfig(**{"vgg_imagenet_norm": True, **recorded})


def get_config(name: str = "tiny", **overrides) -> TrainConfig:
    """A preset (``tiny``, ``cpu``, ``paper`` or ``original``) with some fields replaced."""
    if name not in PRESETS:
        raise InputError(f"unknown config {name!r}; expected one of: {', '.join(PRESETS)}")
    known = {f.name for f in fields(TrainConfig)}
    unknown = [k for k in overrides if k not in known]
    if unknown:
        raise InputError(f"unknown config field(s): {', '.join(unknown)}")
    return replace(PRESETS[name], **{k: v for k, v in overrides.items() if v is not None})


def learning_rate(config: TrainConfig, step: int) -> float:
    """Constant ``lr``, then linear decay to 0 over the last ``decay_steps`` steps."""
    decay_start = config.steps - config.decay_steps
    if config.decay_steps <= 0 or step < decay_start:
        return config.lr
    return config.lr * max(0.0, 1.0 - (step - decay_start) / config.decay_steps)


def phase(config: TrainConfig, step: int) -> str:
    """``global`` (G1 alone at ½ size), ``local`` (G2, G1 frozen), ``joint``; or ``single``."""
    if not config.local_enhancer:
        return "single"
    if step < config.global_steps:
        return "global"
    if step < config.global_steps + config.fix_global_steps:
        return "local"
    return "joint"


def default_device() -> torch.device:
    """:func:`s2e_lib.nn.default_device` as a ``torch.device``."""
    return torch.device(nn_default_device())


def build_models(config: TrainConfig, in_channels: int) -> tuple[torch.nn.Module, MultiscaleDiscriminator]:
    """G (G1, or G1 + G2) and the multi-scale D (which sees condition + image)."""
    generator = build_generator(
        in_channels,
        config.ngf,
        config.n_downsampling,
        config.n_blocks,
        config.local_enhancer,
        config.ngf_local,
        config.n_blocks_local,
        n_labels=in_channels - 3,  # label condition: one-hot planes after the RGB
        residual=config.residual,
    )
    discriminator = MultiscaleDiscriminator(in_channels + 3, config.ndf, config.n_layers_d, config.num_d)
    return generator, discriminator
