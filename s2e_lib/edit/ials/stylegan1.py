"""StyleGAN-1 generator (mapping + synthesis) with the state-dict layout of IALS's weights.

IALS stores its FFHQ-1024 generator as the state dict of
``Sequential(g_mapping, g_synthesis)``; :class:`Generator` has exactly those keys and
shapes at :meth:`StyleGANConfig.ffhq1024` (116 tensors, 26.2 M values), so a user's
``stylegan/ffhq/weight.pkl`` loads unchanged. Smaller configs (resolution, channel cap)
give the same architecture for tests and CPU demos.

Layer names follow the paper (Karras et al., "A Style-Based Generator Architecture for
GANs", 2019) and the PyTorch port the weights were converted with:

- ``g_mapping``: pixel norm, ``dense0`` … ``dense7`` (leaky ReLU 0.2, lr multiplier 0.01).
- ``g_synthesis.blocks.<r>x<r>``: the 4×4 block starts from ``const`` + ``bias``; later
  blocks upsample with ``conv0_up`` (nearest ×2 + 3×3 conv, or from 128² on a fused
  transposed conv) followed by the [1, 2, 1] binomial blur ``intermediate``. Each conv is
  followed by an epilogue: noise → leaky ReLU → instance norm → style modulation (AdaIN).
- ``g_synthesis.torgb``: 1×1 conv to RGB at the final resolution (output ≈ [-1, 1]).

Equalised learning rate: weights are stored unscaled and multiplied at run time by
``w_mul = gain · fan_in^-0.5 · lrmul`` (biases by ``lrmul``).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

SQRT2 = math.sqrt(2.0)


@dataclass(frozen=True)
class StyleGANConfig:
    """Architecture of a StyleGAN-1 generator.

    Parameters
    ----------
    resolution : int
        Output side (a power of two ≥ 4); 1024 for FFHQ.
    latent_size : int
        Size of z and w (512 for FFHQ).
    fmap_base, fmap_max : int
        Channels at stage s are ``min(fmap_base / 2**s, fmap_max)``.
    mapping_layers : int
        Dense layers of the mapping network.
    mapping_lrmul : float
        Learning-rate multiplier of the mapping network (0.01).
    fused_min_resolution : int
        Blocks producing this resolution or more use the fused transposed-conv upsampling
        (128 in StyleGAN-1; lower it to exercise that path in small test models).
    """

    resolution: int = 1024
    latent_size: int = 512
    fmap_base: int = 8192
    fmap_max: int = 512
    mapping_layers: int = 8
    mapping_lrmul: float = 0.01
    fused_min_resolution: int = 128

    def __post_init__(self):
        log2 = int(round(math.log2(self.resolution)))
        if self.resolution < 4 or 2**log2 != self.resolution:
            raise ValueError(f"resolution must be a power of two >= 4, got {self.resolution}")

    @classmethod
    def ffhq1024(cls) -> StyleGANConfig:
        """The FFHQ-1024 generator IALS ships."""
        return cls()

    @classmethod
    def small(
        cls, resolution: int = 32, channels: int = 32, fused_min_resolution: int = 16
    ) -> StyleGANConfig:
        """A small generator (same code paths, fused upsampling included) for tests and CPU demos."""
        return cls(
            resolution=resolution,
            fmap_base=channels * 8,
            fmap_max=channels,
            fused_min_resolution=fused_min_resolution,
        )

    @property
    def log2_resolution(self) -> int:
        return int(round(math.log2(self.resolution)))

    @property
    def num_ws(self) -> int:
        """Rows of a W+ code (18 at 1024²): two style inputs per block."""
        return 2 * self.log2_resolution - 2

    def channels(self, stage: int) -> int:
        return min(int(self.fmap_base / 2.0**stage), self.fmap_max)


# --- equalised-lr layers ------------------------------------------------------------


class EqualLinear(nn.Module):
    """Dense layer with equalised learning rate."""

    def __init__(self, in_features: int, out_features: int, gain: float = SQRT2, lrmul: float = 1.0):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lrmul)
        self.bias = nn.Parameter(torch.zeros(out_features))
        self.w_mul = gain * in_features**-0.5 * lrmul
        self.b_mul = lrmul

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.w_mul, self.bias * self.b_mul)


class BlurLayer(nn.Module):
    """3×3 binomial low-pass filter ([1, 2, 1] ⊗ [1, 2, 1] / 16), applied per channel."""

    def __init__(self):
        super().__init__()
        k = torch.tensor([1.0, 2.0, 1.0])
        kernel = k[:, None] * k[None, :]
        self.register_buffer("kernel", (kernel / kernel.sum())[None, None])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kernel = self.kernel.expand(x.shape[1], -1, -1, -1)
        return F.conv2d(x, kernel, padding=1, groups=x.shape[1])


class EqualConv2d(nn.Module):
    """Conv with equalised lr; optionally upsampling ×2 then blurring (``conv0_up``).

    With ``upsample``, outputs of ``fused_min_resolution`` or more use StyleGAN's fused
    upscale-conv: a stride-2 transposed conv whose 4×4 kernel is the 3×3 kernel summed
    over its four 1-pixel shifts. That equals nearest ×2 then a conv with the spatially
    flipped kernel (transposed-conv semantics, as the weights were trained in TF), so the
    two paths are not interchangeable for a given weight: which one runs is fixed by the
    resolution, exactly as in StyleGAN-1.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        gain: float = SQRT2,
        upsample: bool = False,
        fused_min_resolution: int = 128,
    ):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.w_mul = gain * (in_channels * kernel_size**2) ** -0.5
        self.padding = kernel_size // 2
        self.upsample = upsample
        self.fused_min_resolution = fused_min_resolution
        if upsample:
            self.intermediate = BlurLayer()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = self.weight * self.w_mul
        if not self.upsample:
            return F.conv2d(x, weight, self.bias, padding=self.padding)
        if 2 * x.shape[-1] >= self.fused_min_resolution:
            w = F.pad(weight.permute(1, 0, 2, 3), (1, 1, 1, 1))
            w = w[:, :, 1:, 1:] + w[:, :, :-1, 1:] + w[:, :, 1:, :-1] + w[:, :, :-1, :-1]
            x = F.conv_transpose2d(x, w, stride=2, padding=1)
        else:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
            x = F.conv2d(x, weight, padding=self.padding)
        x = self.intermediate(x)
        return x + self.bias.view(1, -1, 1, 1)


# --- synthesis pieces -------------------------------------------------------------------


class PixelNorm(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + 1e-8)


class NoiseLayer(nn.Module):
    """Adds per-pixel Gaussian noise scaled by a learned per-channel ``weight``.

    A fixed noise map (seeded, not saved in the state dict) is used unless the forward
    pass asks for fresh noise: inversion and editing need a deterministic generator.
    """

    def __init__(self, channels: int, resolution: int, seed: int):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(channels))
        gen = torch.Generator().manual_seed(seed)
        self.register_buffer(
            "fixed_noise", torch.randn(1, 1, resolution, resolution, generator=gen), persistent=False
        )
        self.randomize = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.randomize:
            noise = torch.randn(x.shape[0], 1, x.shape[2], x.shape[3], device=x.device, dtype=x.dtype)
        else:
            noise = self.fixed_noise
        return x + self.weight.view(1, -1, 1, 1) * noise


#: ε of every instance norm in the synthesis network: IALS's PyTorch generator uses
#: ``nn.InstanceNorm2d`` (ε = 1e-5), not StyleGAN-TF's 1e-8; with 1e-8 the generator's
#: images and the edited codes drift measurably from the original code's.
INSTANCE_NORM_EPS = 1e-5


class InstanceNorm(nn.Module):
    """Per-sample, per-channel normalisation over H×W: torch's own instance-norm kernel, as
    the original code's ``nn.InstanceNorm2d(eps=1e-5)`` (no parameters, so no state-dict
    keys). A hand-written mean / rsqrt differs from it by rounding: 132–134 dB PSNR against
    the original generator's images, where this is bit-identical."""

    def __init__(self, eps: float = INSTANCE_NORM_EPS):
        super().__init__()
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.instance_norm(x, eps=self.eps)


class StyleMod(nn.Module):
    """AdaIN style modulation: ``x · (1 + scale(w)) + bias(w)`` per channel."""

    def __init__(self, latent_size: int, channels: int):
        super().__init__()
        self.lin = EqualLinear(latent_size, 2 * channels, gain=1.0)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        style = self.lin(w).view(-1, 2, x.shape[1], 1, 1)
        return x * (style[:, 0] + 1.0) + style[:, 1]


class LayerEpilogue(nn.Module):
    """noise → leaky ReLU → instance norm (``top_epi``), then style modulation."""

    def __init__(self, channels: int, latent_size: int, resolution: int, seed: int):
        super().__init__()
        self.top_epi = nn.Sequential(
            OrderedDict(
                [
                    ("noise", NoiseLayer(channels, resolution, seed)),
                    ("activation", nn.LeakyReLU(0.2)),
                    ("instance_norm", InstanceNorm()),
                ]
            )
        )
        self.style_mod = StyleMod(latent_size, channels)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return self.style_mod(self.top_epi(x), w)


class InputBlock(nn.Module):
    """4×4 block: learned constant + bias, epilogue, 3×3 conv, epilogue."""

    def __init__(self, channels: int, latent_size: int):
        super().__init__()
        self.const = nn.Parameter(torch.ones(1, channels, 4, 4))
        self.bias = nn.Parameter(torch.ones(channels))
        self.epi1 = LayerEpilogue(channels, latent_size, 4, seed=0)
        self.conv = EqualConv2d(channels, channels, 3)
        self.epi2 = LayerEpilogue(channels, latent_size, 4, seed=1)

    def forward(self, ws: torch.Tensor) -> torch.Tensor:
        x = self.const.expand(ws.shape[0], -1, -1, -1) + self.bias.view(1, -1, 1, 1)
        x = self.epi1(x, ws[:, 0])
        return self.epi2(self.conv(x), ws[:, 1])


class SynthesisBlock(nn.Module):
    """Upsampling block: ``conv0_up`` (×2, blur), epilogue, ``conv1``, epilogue."""

    def __init__(
        self, in_channels: int, out_channels: int, latent_size: int, resolution: int, fused_min: int
    ):
        super().__init__()
        level = int(round(math.log2(resolution)))
        self.conv0_up = EqualConv2d(
            in_channels, out_channels, 3, upsample=True, fused_min_resolution=fused_min
        )
        self.epi1 = LayerEpilogue(out_channels, latent_size, resolution, seed=2 * level)
        self.conv1 = EqualConv2d(out_channels, out_channels, 3)
        self.epi2 = LayerEpilogue(out_channels, latent_size, resolution, seed=2 * level + 1)

    def forward(self, x: torch.Tensor, ws: torch.Tensor) -> torch.Tensor:
        x = self.epi1(self.conv0_up(x), ws[:, 0])
        return self.epi2(self.conv1(x), ws[:, 1])


# --- the two networks -------------------------------------------------------------------


class MappingNetwork(nn.Sequential):
    """z (N, 512) → w (N, 512): pixel norm then dense layers with leaky ReLU."""

    def __init__(self, config: StyleGANConfig):
        layers: list[tuple[str, nn.Module]] = [("pixel_norm", PixelNorm())]
        for i in range(config.mapping_layers):
            layers.append(
                (f"dense{i}", EqualLinear(config.latent_size, config.latent_size, lrmul=config.mapping_lrmul))
            )
            layers.append((f"dense{i}_act", nn.LeakyReLU(0.2)))
        super().__init__(OrderedDict(layers))


class SynthesisNetwork(nn.Module):
    """W+ (N, num_ws, 512) → image (N, 3, R, R) in about [-1, 1]; block i reads rows 2i, 2i+1."""

    def __init__(self, config: StyleGANConfig):
        super().__init__()
        blocks: list[tuple[str, nn.Module]] = []
        channels = config.channels(1)
        for level in range(2, config.log2_resolution + 1):
            res = 2**level
            out_channels = config.channels(level - 1)
            if level == 2:
                block: nn.Module = InputBlock(out_channels, config.latent_size)
            else:
                block = SynthesisBlock(
                    channels, out_channels, config.latent_size, res, config.fused_min_resolution
                )
            blocks.append((f"{res}x{res}", block))
            channels = out_channels
        self.torgb = EqualConv2d(channels, 3, 1, gain=1.0)
        self.blocks = nn.ModuleDict(OrderedDict(blocks))

    def forward(self, ws: torch.Tensor) -> torch.Tensor:
        x = None
        for i, block in enumerate(self.blocks.values()):
            rows = ws[:, 2 * i : 2 * i + 2]
            x = block(rows) if i == 0 else block(x, rows)
        return self.torgb(x)


class Generator(nn.Module):
    """StyleGAN-1 generator whose state dict matches IALS's ``Sequential(g_mapping, g_synthesis)``.

    Parameters
    ----------
    config : StyleGANConfig, optional
        Architecture (default: FFHQ 1024).

    Examples
    --------
    >>> g = Generator(StyleGANConfig.small())
    >>> w = g.mapping(torch.randn(2, 512))          # (2, 512)
    >>> img = g.synthesis(g.broadcast(w))           # (2, 3, 32, 32)
    """

    def __init__(self, config: StyleGANConfig | None = None):
        super().__init__()
        self.config = config or StyleGANConfig.ffhq1024()
        self.g_mapping = MappingNetwork(self.config)
        self.g_synthesis = SynthesisNetwork(self.config)

    @property
    def num_ws(self) -> int:
        return self.config.num_ws

    @property
    def resolution(self) -> int:
        return self.config.resolution

    def mapping(self, z: torch.Tensor) -> torch.Tensor:
        """z (N, 512) → w (N, 512)."""
        return self.g_mapping(z)

    def broadcast(self, w: torch.Tensor) -> torch.Tensor:
        """w (N, 512) → W+ (N, num_ws, 512) with the same row everywhere."""
        return w.unsqueeze(1).expand(-1, self.num_ws, -1)

    def synthesis(self, wplus: torch.Tensor, randomize_noise: bool = False) -> torch.Tensor:
        """W+ (N, num_ws, 512) or (num_ws, 512) → image (N, 3, R, R), about [-1, 1]."""
        if wplus.dim() == 2:
            wplus = wplus.unsqueeze(0)
        if wplus.shape[1:] != (self.num_ws, self.config.latent_size):
            raise ValueError(
                f"expected W+ of shape (N, {self.num_ws}, {self.config.latent_size}), got {tuple(wplus.shape)}"
            )
        for module in self.modules():
            if isinstance(module, NoiseLayer):
                module.randomize = randomize_noise
        return self.g_synthesis(wplus)

    def forward(
        self, z: torch.Tensor, truncation: float = 1.0, avg_w: torch.Tensor | None = None
    ) -> torch.Tensor:
        """z → image, with the truncation trick ``w = avg + ψ (w − avg)`` when ``avg_w`` is given."""
        w = self.mapping(z)
        if avg_w is not None and truncation != 1.0:
            w = truncate(w, avg_w, truncation)
        return self.synthesis(self.broadcast(w))


def truncate(w: torch.Tensor, avg_w: torch.Tensor, psi: float = 0.5) -> torch.Tensor:
    """Truncation trick as IALS uses it: ``ψ·w + (1 − ψ)·avg`` (ψ = 0.5 by default)."""
    return psi * w + (1.0 - psi) * avg_w.to(w)


def to_uint8(image: torch.Tensor):
    """Generator output (3, H, W) or (1, 3, H, W) in [-1, 1] → RGB uint8 (H, W, 3) numpy array."""
    if image.dim() == 4:
        image = image[0]
    x = ((image.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return x.permute(1, 2, 0).cpu().numpy()


def from_uint8(image, device=None) -> torch.Tensor:
    """RGB uint8 (H, W, 3) array → tensor (1, 3, H, W) in [-1, 1]."""
    x = torch.as_tensor(image, device=device).permute(2, 0, 1).float()
    return (x / 127.5 - 1.0).unsqueeze(0)
