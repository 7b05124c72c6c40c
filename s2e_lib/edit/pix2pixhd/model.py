"""pix2pixHD (Wang et al., CVPR 2018) in one file: generators, discriminators, losses.

Layer names follow the paper: the global generator G1 is ``c7s1-64, d128, d256, d512,
d1024, R1024 ×9, u512, u256, u128, u64, c7s1-3``; the local enhancer G2 has its own
full-resolution front end whose features are summed with G1's last feature map, then
residual blocks, upsampling and an output convolution. The discriminator is a
multi-scale PatchGAN (``C64-C128-C256-C512`` at three pyramid levels) trained with the
least-squares GAN loss; the generator also gets a discriminator feature-matching loss
and, when VGG-19 weights are supplied, a perceptual loss.

Every width and depth is a constructor argument, so the same code builds a model of a
few thousand parameters for CPU tests and the paper's 180 M-parameter generator.
Images are tensors in [-1, 1].
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from s2e_lib.errors import MissingResourceError

# --- building blocks ------------------------------------------------------------------


def c7s1(in_channels: int, out_channels: int) -> nn.Sequential:
    """7×7 stride-1 convolution, reflection padding, instance norm, ReLU (``c7s1-k``)."""
    return nn.Sequential(
        nn.ReflectionPad2d(3),
        nn.Conv2d(in_channels, out_channels, kernel_size=7),
        nn.InstanceNorm2d(out_channels),
        nn.ReLU(True),
    )


def down(in_channels: int, out_channels: int) -> nn.Sequential:
    """3×3 stride-2 convolution, instance norm, ReLU (``dk``)."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=2, padding=1),
        nn.InstanceNorm2d(out_channels),
        nn.ReLU(True),
    )


def up(in_channels: int, out_channels: int) -> nn.Sequential:
    """3×3 stride-½ transposed convolution, instance norm, ReLU (``uk``); doubles H and W."""
    return nn.Sequential(
        nn.ConvTranspose2d(in_channels, out_channels, kernel_size=3, stride=2, padding=1, output_padding=1),
        nn.InstanceNorm2d(out_channels),
        nn.ReLU(True),
    )


def to_rgb(in_channels: int, out_channels: int = 3) -> nn.Sequential:
    """The final ``c7s1-3`` with tanh."""
    return nn.Sequential(
        nn.ReflectionPad2d(3), nn.Conv2d(in_channels, out_channels, kernel_size=7), nn.Tanh()
    )


class ResnetBlock(nn.Module):
    """``Rk``: two 3×3 convolutions with reflection padding and instance norm, plus the input."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv_block = nn.Sequential(
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, kernel_size=3),
            nn.InstanceNorm2d(channels),
            nn.ReLU(True),
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, kernel_size=3),
            nn.InstanceNorm2d(channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


def zero_last_conv(block: nn.Sequential) -> None:
    """Zero the last convolution of ``block`` (a residual generator starts as the identity)."""
    conv = [m for m in block if isinstance(m, nn.Conv2d)][-1]
    nn.init.zeros_(conv.weight)
    nn.init.zeros_(conv.bias)


def add_residual(x: torch.Tensor, correction: torch.Tensor) -> torch.Tensor:
    """The input's RGB (its first channels) plus a correction, clamped to [-1, 1]."""
    return (x[:, : correction.shape[1]] + correction).clamp(-1, 1)


def downsample(x: torch.Tensor) -> torch.Tensor:
    """The pyramid step used by G2 and the multi-scale D: 3×3 average pool, stride 2."""
    return F.avg_pool2d(x, kernel_size=3, stride=2, padding=1, count_include_pad=False)


# --- generators -----------------------------------------------------------------------


class GlobalGenerator(nn.Module):
    """G1: ``c7s1-ngf``, ``n_downsampling`` × ``d``, ``n_blocks`` × ``R``, mirror ``u``, ``c7s1-3``.

    Parameters
    ----------
    in_channels : int
        Channels of the condition (3 for an image with a sign, 3 + n_emotions for labels).
    out_channels : int
        Channels of the output image.
    ngf : int
        Width of the first layer (64 in the paper); doubles at every downsampling.
    n_downsampling : int
        Number of stride-2 convolutions (4 in the paper). Input sides must be divisible
        by ``2 ** n_downsampling``.
    n_blocks : int
        Residual blocks at the bottleneck (9 in the paper).
    n_labels : int
        The last ``n_labels`` input channels are constant one-hot label planes; they
        are concatenated to the input like any channel and also modulate the
        bottleneck (0 = no label).
    residual : bool
        Not in the paper: output = input RGB + a correction (clamped to [-1, 1]), the
        correction's last conv starting at zero, so the generator starts as the identity
        and only learns the change. Instance norm makes the paper's generator blind to
        the input's global colour and contrast; the residual path keeps them.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int = 3,
        ngf: int = 64,
        n_downsampling: int = 4,
        n_blocks: int = 9,
        n_labels: int = 0,
        residual: bool = False,
    ):
        super().__init__()
        self.n_downsampling = n_downsampling
        self.n_labels = n_labels
        self.residual = residual
        self.c7s1 = c7s1(in_channels, ngf)
        self.down = nn.Sequential(*[down(ngf * 2**i, ngf * 2 ** (i + 1)) for i in range(n_downsampling)])
        width = ngf * 2**n_downsampling
        # A constant input plane only adds a per-channel constant after the first conv,
        # which instance norm removes; so a global label also scales and shifts the
        # bottleneck features (FiLM), where it survives normalisation.
        self.label_film = nn.Linear(n_labels, 2 * width) if n_labels else None
        self.res = nn.Sequential(*[ResnetBlock(width) for _ in range(n_blocks)])
        self.up = nn.Sequential(
            *[up(ngf * 2 ** (i + 1), ngf * 2**i) for i in reversed(range(n_downsampling))]
        )
        self.to_rgb = to_rgb(ngf, out_channels)
        if residual:
            zero_last_conv(self.to_rgb)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The last feature map before ``c7s1-3`` (``ngf`` channels, input resolution)."""
        h = self.down(self.c7s1(x))
        if self.label_film is not None:
            label = x[:, -self.n_labels :].mean(dim=(2, 3))
            gamma, beta = self.label_film(label)[:, :, None, None].chunk(2, dim=1)
            h = h * (1 + gamma) + beta
        return self.up(self.res(h))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.to_rgb(self.features(x))
        return add_residual(x, out) if self.residual else out


class LocalEnhancer(nn.Module):
    """G2 wrapped around G1, generating at twice G1's resolution.

    G1 (``global_generator``) sees the input downsampled by 2; G2's front end
    (``c7s1-ngf``, ``d(2·ngf)``) sees the full-resolution input; the two feature maps
    are summed, then ``n_blocks`` residual blocks, ``u(ngf)`` and ``c7s1-3`` follow.
    In the paper G1 has ``ngf = 64`` and G2 ``ngf = 32``, so the widths match.

    Parameters
    ----------
    in_channels, out_channels : int
        As for :class:`GlobalGenerator`.
    ngf : int
        G2's width (32 in the paper); G1's width is ``2 * ngf``.
    n_downsampling_global, n_blocks_global : int
        G1's depth (4 and 9 in the paper).
    n_blocks : int
        G2's residual blocks (3 in the paper).
    n_labels : int
        Label planes at the end of the input (given to G1, see :class:`GlobalGenerator`).
    residual : bool
        Input RGB + correction, for G1 alone and for G2 (see :class:`GlobalGenerator`).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int = 3,
        ngf: int = 32,
        n_downsampling_global: int = 4,
        n_blocks_global: int = 9,
        n_blocks: int = 3,
        n_labels: int = 0,
        residual: bool = False,
    ):
        super().__init__()
        self.residual = residual
        self.global_generator = GlobalGenerator(
            in_channels, out_channels, ngf * 2, n_downsampling_global, n_blocks_global, n_labels, residual
        )
        self.front = nn.Sequential(c7s1(in_channels, ngf), down(ngf, ngf * 2))
        self.res = nn.Sequential(*[ResnetBlock(ngf * 2) for _ in range(n_blocks)])
        self.up = up(ngf * 2, ngf)
        self.to_rgb = to_rgb(ngf, out_channels)
        if residual:
            zero_last_conv(self.to_rgb)
        self.n_downsampling = n_downsampling_global + 1

    def global_parameters(self) -> list[nn.Parameter]:
        return list(self.global_generator.parameters())

    def local_parameters(self) -> list[nn.Parameter]:
        own = {id(p) for p in self.global_generator.parameters()}
        return [p for p in self.parameters() if id(p) not in own]

    def forward_global(self, x_half: torch.Tensor) -> torch.Tensor:
        """G1 alone on a half-resolution input (the first training phase)."""
        return self.global_generator(x_half)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        g1 = self.global_generator.features(downsample(x))
        out = self.to_rgb(self.up(self.res(self.front(x) + g1)))
        return add_residual(x, out) if self.residual else out


# --- discriminators -------------------------------------------------------------------


class NLayerDiscriminator(nn.Module):
    """A PatchGAN: ``C(ndf)`` without norm, ``n_layers - 1`` stride-2 ``C`` with instance
    norm, one stride-1 ``C``, and a 1-channel output conv; 4×4 kernels, leaky ReLU 0.2.

    ``forward`` returns every block's output (for feature matching); the last is the
    patch prediction.
    """

    def __init__(self, in_channels: int, ndf: int = 64, n_layers: int = 3):
        super().__init__()
        pad = math.ceil((4 - 1) / 2)
        blocks = [nn.Sequential(nn.Conv2d(in_channels, ndf, 4, 2, pad), nn.LeakyReLU(0.2, True))]
        width = ndf
        for n in range(1, n_layers + 1):
            previous, width = width, min(width * 2, 512)
            stride = 2 if n < n_layers else 1
            blocks.append(
                nn.Sequential(
                    nn.Conv2d(previous, width, 4, stride, pad),
                    nn.InstanceNorm2d(width),
                    nn.LeakyReLU(0.2, True),
                )
            )
        blocks.append(nn.Sequential(nn.Conv2d(width, 1, 4, 1, pad)))
        self.blocks = nn.ModuleList(blocks)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = []
        for block in self.blocks:
            x = block(x)
            features.append(x)
        return features


class MultiscaleDiscriminator(nn.Module):
    """``num_d`` PatchGANs on the image pyramid (full, ½, ¼, ...).

    ``forward`` returns, per scale (finest first), the list of that discriminator's
    block outputs.
    """

    def __init__(self, in_channels: int, ndf: int = 64, n_layers: int = 3, num_d: int = 3):
        super().__init__()
        self.n_layers = n_layers
        self.discriminators = nn.ModuleList(
            [NLayerDiscriminator(in_channels, ndf, n_layers) for _ in range(num_d)]
        )

    def forward(self, x: torch.Tensor) -> list[list[torch.Tensor]]:
        outputs = []
        for i, d in enumerate(self.discriminators):
            if i:
                x = downsample(x)
            outputs.append(d(x))
        return outputs


# --- losses ---------------------------------------------------------------------------


def lsgan_loss(predictions: list[list[torch.Tensor]], target_is_real: bool) -> torch.Tensor:
    """Least-squares GAN loss, summed over the discriminator scales.

    Parameters
    ----------
    predictions : list of list of Tensor
        :class:`MultiscaleDiscriminator` output; the last tensor of each scale is used.
    target_is_real : bool
        Regress towards 1 (real) or 0 (fake).
    """
    loss = 0.0
    for features in predictions:
        pred = features[-1].float()
        target = torch.ones_like(pred) if target_is_real else torch.zeros_like(pred)
        loss = loss + F.mse_loss(pred, target)
    return loss


def feature_matching_loss(
    fake: list[list[torch.Tensor]], real: list[list[torch.Tensor]], weight: float = 10.0
) -> torch.Tensor:
    """L1 between D's intermediate features on fake and real pairs (real detached).

    Each scale is weighted ``1 / num_d`` and each layer ``4 / (n_layers + 1)`` as in the
    reference implementation, times ``weight`` (λ_FM = 10).
    """
    num_d = len(fake)
    loss = 0.0
    for fake_scale, real_scale in zip(fake, real, strict=True):
        n_layers = len(fake_scale) - 2  # blocks = n_layers + 2 (first, n_layers, output)
        layer_weight = 4.0 / (n_layers + 1)
        for f, r in zip(fake_scale[:-1], real_scale[:-1], strict=True):
            loss = loss + (1.0 / num_d) * layer_weight * F.l1_loss(f.float(), r.detach().float())
    return loss * weight


#: VGG-19 layers and weights of the perceptual loss (pix2pixHD's ``VGGLoss``).
VGG_LAYERS: tuple[str, ...] = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
VGG_WEIGHTS: tuple[float, ...] = (1.0 / 32, 1.0 / 16, 1.0 / 8, 1.0 / 4, 1.0)


class VGGLoss(nn.Module):
    """Perceptual loss: weighted L1 between VGG-19 activations of output and target.

    Inputs are images in [-1, 1]. As in NVIDIA's code they go to VGG-19 as they are
    (``imagenet_norm=False``, the default); with ``imagenet_norm=True`` they are mapped
    to [0, 1] and ImageNet-normalised first, the statistics torchvision's weights were
    trained with (the loss is then about 2.25× smaller). Target activations are detached.
    """

    def __init__(self, weights_path: str | os.PathLike, weight: float = 10.0, imagenet_norm: bool = False):
        super().__init__()
        from s2e_lib.nn.vgg import VGGFeatures, load_vgg_features

        self.imagenet_norm = imagenet_norm
        self.vgg = load_vgg_features(
            VGGFeatures("vgg19", VGG_LAYERS, normalize_input=imagenet_norm), weights_path
        )
        self.vgg.eval()
        self.weight = weight

    def vgg_input(self, image: torch.Tensor) -> torch.Tensor:
        """What VGG-19 is given for a [-1, 1] image: the image itself, or [0, 1] (then
        normalised inside the VGG module) with ``imagenet_norm``."""
        return (image.float() + 1) / 2 if self.imagenet_norm else image.float()

    def forward(self, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        fake_features = self.vgg(self.vgg_input(fake))
        with torch.no_grad():
            real_features = self.vgg(self.vgg_input(real))
        loss = 0.0
        for w, f, r in zip(VGG_WEIGHTS, fake_features, real_features, strict=True):
            loss = loss + w * F.l1_loss(f, r)
        return loss * self.weight


def build_vgg_loss(
    weights_path: str | os.PathLike | None, weight: float = 10.0, imagenet_norm: bool = False
) -> tuple[VGGLoss | None, str]:
    """The perceptual loss if ``weights_path`` holds VGG-19 weights, else ``None``.

    ``imagenet_norm``: see :class:`VGGLoss` (off = raw [-1, 1] inputs, as NVIDIA's code).
    Returns ``(loss_or_None, note)``; the note says why the loss is off when it is.
    """
    if not weights_path or weight <= 0:
        return None, "VGG perceptual loss off (no VGG-19 weights given; pass vgg_weights=... to enable)"
    inputs = "ImageNet-normalised inputs" if imagenet_norm else "raw [-1, 1] inputs, as NVIDIA's code"
    try:
        loss = VGGLoss(weights_path, weight, imagenet_norm)
        return loss, f"VGG-19 perceptual loss on ({weights_path}; {inputs})"
    except MissingResourceError as exc:
        return None, f"VGG perceptual loss off: {exc}"


# --- whole-model helpers --------------------------------------------------------------


def build_generator(
    in_channels: int,
    ngf: int = 64,
    n_downsampling: int = 4,
    n_blocks: int = 9,
    local_enhancer: bool = False,
    ngf_local: int = 32,
    n_blocks_local: int = 3,
    n_labels: int = 0,
    residual: bool = False,
) -> nn.Module:
    """G1 alone, or G1 + G2 when ``local_enhancer`` (then ``ngf`` is G1's width, which
    must be ``2 * ngf_local``). ``n_labels``: one-hot label planes at the end of the input;
    ``residual``: input + correction (not in the paper, see :class:`GlobalGenerator`)."""
    if local_enhancer:
        if ngf != 2 * ngf_local:
            raise ValueError(f"local enhancer needs ngf == 2 * ngf_local (got {ngf} and {ngf_local})")
        return LocalEnhancer(
            in_channels, 3, ngf_local, n_downsampling, n_blocks, n_blocks_local, n_labels, residual
        )
    return GlobalGenerator(in_channels, 3, ngf, n_downsampling, n_blocks, n_labels, residual)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def required_multiple(generator: nn.Module) -> int:
    """Input sides must be multiples of this number."""
    return 2 ** int(generator.n_downsampling)


def check_size(size: int | Sequence[int], generator: nn.Module) -> None:
    sides = [size] if isinstance(size, int) else list(size)
    multiple = required_multiple(generator)
    for side in sides:
        if side % multiple:
            raise ValueError(
                f"image side {side} is not a multiple of {multiple} (2 ** generator downsamplings)"
            )
