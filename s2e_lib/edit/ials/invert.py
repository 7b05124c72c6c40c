"""GAN inversion to W+ as IALS does it: optimise an 18×512 code so G reproduces a face.

Recipe (IALS's ``gan_inversion.py``): start every W+ row at the average code, Adam with
lr 0.01, loss = summed squared error between images (at the generator's resolution,
values in [-1, 1]) + summed squared error between VGG-16 features (relu1_1, relu1_2,
pool2, relu4_2) at 256², 100–1000 iterations. Faces should be aligned like FFHQ first
(:func:`s2e_lib.face.align_face`).

Two ways to feed VGG (:attr:`InversionConfig.vgg_input`):

``"raw"`` (IALS, :meth:`InversionConfig.original`)
    raw [-1, 1] images; the VGG target is the target photo PIL-bilinear resized to 256²,
    the generated image is average-pooled to 256².
``"imagenet"`` (s2e's default)
    both images average-pooled to 256², mapped to [0, 1] and ImageNet-normalised (what
    the VGG weights were trained on).
"""

from __future__ import annotations

import copy
import csv
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from tqdm.auto import tqdm

from s2e_lib.edit.ials.stylegan1 import Generator, from_uint8, to_uint8
from s2e_lib.errors import InputError, one_line
from s2e_lib.face.io import save_image
from s2e_lib.fileio import atomic_output


@dataclass
class InversionConfig:
    """Settings of :func:`invert` (defaults: s2e's; :meth:`original` for IALS's exact recipe).

    Parameters
    ----------
    iterations : int
        Adam steps (IALS: 100–1000).
    lr : float
        Adam learning rate.
    pixel_weight, perceptual_weight : float
        Weights of the summed squared pixel error and the summed squared VGG-feature error.
    vgg_size : int
        Side the images are resized to for VGG (256; capped at the generator's resolution).
    vgg_input : {"imagenet", "raw"}
        ``"raw"``: VGG sees raw [-1, 1] images and its target is the target photo
        PIL-bilinear resized to ``vgg_size`` (IALS). ``"imagenet"``: both images are
        average-pooled, mapped to [0, 1] and ImageNet-normalised by the VGG module.
    randomize_noise : bool
        Fresh generator noise on every forward pass (IALS) instead of the fixed maps.
    """

    iterations: int = 500
    lr: float = 0.01
    pixel_weight: float = 1.0
    perceptual_weight: float = 1.0
    vgg_size: int = 256
    vgg_input: str = "imagenet"
    randomize_noise: bool = False

    def __post_init__(self):
        if self.vgg_input not in VGG_INPUTS:
            raise InputError(
                f"unknown vgg_input {self.vgg_input!r}; expected one of: {', '.join(VGG_INPUTS)}"
            )

    @classmethod
    def original(cls, **overrides) -> InversionConfig:
        """IALS's own settings: raw [-1, 1] VGG inputs, PIL-bilinear VGG target,
        per-forward noise (``overrides`` replace any field)."""
        return replace(cls(vgg_input="raw", randomize_noise=True), **overrides)


VGG_INPUTS: tuple[str, ...] = ("imagenet", "raw")


@dataclass
class InversionResult:
    """What :func:`invert` found.

    Attributes
    ----------
    wplus : Tensor (num_ws, 512)
    losses : dict of str → list of float
        Per iteration: ``total``, ``pixel``, ``perceptual`` (the loss *before* each step,
        plus a final entry for the returned code).
    reconstruction, target : ndarray (R, R, 3) uint8
    """

    wplus: torch.Tensor
    losses: dict[str, list[float]]
    reconstruction: np.ndarray
    target: np.ndarray
    config: InversionConfig = field(default_factory=InversionConfig)

    @property
    def loss_reduction(self) -> float:
        """Initial total loss / final total loss."""
        return self.losses["total"][0] / max(self.losses["total"][-1], 1e-30)


def prepare_target(image: np.ndarray | torch.Tensor, resolution: int, device) -> torch.Tensor:
    """RGB uint8 (H, W, 3) or a [-1, 1] tensor → (1, 3, R, R) in [-1, 1] on ``device``."""
    if isinstance(image, np.ndarray):
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise InputError(f"expected an RGB uint8 image (H, W, 3), got {image.dtype} {image.shape}")
        x = from_uint8(image, device)
    else:
        x = image.to(device).float()
        x = x.unsqueeze(0) if x.dim() == 3 else x
    if x.shape[-1] != resolution or x.shape[-2] != resolution:
        x = F.interpolate(
            x, size=(resolution, resolution), mode="bilinear", align_corners=False, antialias=True
        )
    return x


def inversion_loss(
    image: torch.Tensor,
    target: torch.Tensor,
    vgg: torch.nn.Module | None,
    target_features: list[torch.Tensor] | None,
    config: InversionConfig,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(total, pixel, perceptual) summed squared errors for one generated ``image``."""
    pixel = (image - target).pow(2).sum()
    perceptual = torch.zeros((), device=image.device)
    if vgg is not None and config.perceptual_weight:
        raw = config.vgg_input == "raw"
        for a, b in zip(vgg(_vgg_input(image, config.vgg_size, raw)), target_features, strict=True):
            perceptual = perceptual + (a - b).pow(2).sum()
    return config.pixel_weight * pixel + config.perceptual_weight * perceptual, pixel, perceptual


def _vgg_input(image: torch.Tensor, size: int, raw: bool = False) -> torch.Tensor:
    """Generated image → VGG input: average-pooled to ``size`` (IALS: ``avg_pool2d(·, 4)``
    at 1024²), kept in [-1, 1] when ``raw``, else mapped to [0, 1]."""
    x = image if raw else (image + 1.0) / 2.0
    size = min(size, x.shape[-1])
    if x.shape[-1] != size:
        x = F.adaptive_avg_pool2d(x, size)
    return x


def vgg_target_image(image: np.ndarray, size: int = 256) -> torch.Tensor:
    """IALS's VGG target: the RGB uint8 photo PIL-bilinear resized to ``size``², as a
    (1, 3, size, size) tensor in [-1, 1] (``transforms.Resize((256, 256))`` then ``2x − 1``)."""
    resized = np.array(Image.fromarray(image).resize((size, size), Image.BILINEAR))
    return from_uint8(resized)


def raw_vgg(vgg: torch.nn.Module) -> torch.nn.Module:
    """``vgg`` fed raw inputs: a shallow copy (same weights) with its ImageNet
    normalisation switched off when it has one (:class:`s2e_lib.nn.vgg.VGGFeatures`)."""
    if getattr(vgg, "normalize_input", False):
        vgg = copy.copy(vgg)
        vgg.normalize_input = False
    return vgg


def invert(
    generator: Generator,
    image: np.ndarray | torch.Tensor,
    init: torch.Tensor,
    vgg: torch.nn.Module | None = None,
    config: InversionConfig | None = None,
    progress: bool = True,
) -> InversionResult:
    """Find a W+ code whose image matches ``image`` (IALS's optimisation).

    Parameters
    ----------
    generator : Generator
        Its weights stay fixed; the fixed noise maps are used unless
        ``config.randomize_noise``.
    image : ndarray (H, W, 3) uint8 or Tensor in [-1, 1]
        An FFHQ-aligned face (resized to the generator's resolution if needed).
    init : Tensor (512,) or (num_ws, 512)
        Start code: the average w (IALS) broadcast to every row, or a W+ code.
    vgg : module, optional
        Returns a list of features (e.g. ``Pretrain.load_vgg()``): of images in [0, 1]
        for ``vgg_input="imagenet"``; of raw [-1, 1] images for ``"raw"`` (a
        ``VGGFeatures``'s own ImageNet normalisation is then bypassed). Without it only
        the pixel loss is used.
    config : InversionConfig, optional
    progress : bool
        Show a tqdm bar with the current loss.

    Returns
    -------
    InversionResult
    """
    config = config or InversionConfig()
    device = next(generator.parameters()).device
    generator.requires_grad_(False)
    target = prepare_target(image, generator.resolution, device)
    init = torch.as_tensor(init, dtype=torch.float32, device=device)
    wplus = (
        init.expand(generator.num_ws, -1) if init.dim() == 1 else init.reshape(generator.num_ws, -1)
    ).clone()
    wplus.requires_grad_(True)
    target_features = None
    if vgg is not None and config.perceptual_weight:
        vgg = vgg.to(device).eval().requires_grad_(False)
        if config.vgg_input == "raw":
            vgg = raw_vgg(vgg)
            size = min(config.vgg_size, generator.resolution)
            photo = image if isinstance(image, np.ndarray) else to_uint8(target)
            vgg_target = vgg_target_image(photo, size).to(device)
        else:
            vgg_target = _vgg_input(target, config.vgg_size)
        with torch.no_grad():
            target_features = [f.detach() for f in vgg(vgg_target)]
    optimizer = torch.optim.Adam([wplus], lr=config.lr)
    losses: dict[str, list[float]] = {"total": [], "pixel": [], "perceptual": []}

    def record(total, pixel, perceptual):
        losses["total"].append(float(total))
        losses["pixel"].append(float(pixel))
        losses["perceptual"].append(float(perceptual))

    bar = tqdm(range(config.iterations), desc="invert", disable=not progress, leave=False)
    for _ in bar:
        total, pixel, perceptual = inversion_loss(
            generator.synthesis(wplus[None], randomize_noise=config.randomize_noise),
            target,
            vgg,
            target_features,
            config,
        )
        optimizer.zero_grad(set_to_none=True)
        total.backward()
        optimizer.step()
        record(total.detach(), pixel.detach(), perceptual.detach())
        bar.set_postfix(loss=f"{losses['total'][-1]:.4g}")
    with torch.no_grad():
        final = generator.synthesis(wplus[None], randomize_noise=config.randomize_noise)
        record(*inversion_loss(final, target, vgg, target_features, config))
    return InversionResult(
        wplus=wplus.detach(),
        losses=losses,
        reconstruction=to_uint8(final),
        target=to_uint8(target),
        config=config,
    )


def save_inversion(
    result: InversionResult, path: str | os.PathLike, overwrite: bool = False
) -> dict[str, Path]:
    """Write the code (``path``, .npy (num_ws, 512) float32) and, beside it,
    ``<stem>_reconstruction.png`` and ``<stem>_loss.csv``. Returns the paths by name."""

    path = Path(path)
    if path.suffix != ".npy":
        raise InputError(f"{path}: the code is written as .npy; give a path ending in .npy")
    paths = {
        "code": path,
        "reconstruction": path.with_name(f"{path.stem}_reconstruction.png"),
        "loss": path.with_name(f"{path.stem}_loss.csv"),
    }
    with atomic_output(paths["code"], overwrite=overwrite) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, result.wplus.cpu().numpy().astype(np.float32))
    save_image(result.reconstruction, paths["reconstruction"], overwrite=True)
    with atomic_output(paths["loss"], overwrite=True) as tmp:
        with open(tmp, "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["iteration", *result.losses])
            for i, row in enumerate(zip(*result.losses.values(), strict=True)):
                writer.writerow([i, *(f"{v:.6g}" for v in row)])
    return paths


def load_code(path: str | os.PathLike, num_ws: int = 18, latent_size: int = 512) -> torch.Tensor:
    """Read a W+ code (num_ws, 512) from .npy (a single w (512,) is broadcast)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: latent code not found")
    try:
        code = np.load(path, allow_pickle=False).astype(np.float32)
    except (ValueError, OSError) as exc:
        raise InputError(f"{path}: not a readable .npy array ({one_line(exc)})") from None
    code = code.reshape(-1, code.shape[-1]) if code.ndim else code
    if code.shape[-1] != latent_size or code.shape[0] not in (1, num_ws):
        raise InputError(f"{path}: expected a W+ code of shape ({num_ws}, {latent_size}), got {code.shape}")
    return torch.from_numpy(np.broadcast_to(code, (num_ws, latent_size)).copy())


__all__ = ["InversionConfig", "InversionResult", "invert", "save_inversion", "load_code"]
