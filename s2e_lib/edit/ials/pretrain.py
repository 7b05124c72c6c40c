"""Find and load the files of a user's IALS ``pretrain/`` folder, unchanged.

Layout (as IALS releases it)::

    pretrain/
      stylegan/ffhq/weight.pkl               StyleGAN-1 generator (state dict of Sequential(g_mapping, g_synthesis))
      stylegan/ffhq/avg_code.npy             mean w, (512,)
      classifier/<attr>/weight.pkl           ResNet-18 attribute classifiers (backbone.* + extra_layer.*)
      vgg/imagenet_vgg16.pth                 torchvision VGG-16 state dict
      attr_level_direction/<method>/<dataset>/<attr>.npy   (1, 512) unit directions
      real_latent_code/*.npy                 W+ codes (18, 512) of real faces

Everything tensor-valued is read with ``torch.load(weights_only=True)``. A missing file
raises :class:`~s2e_lib.errors.MissingResourceError` naming the file, what it is, and
where the folder must come from.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import torch

from s2e_lib.edit.ials.classifier import AttributeClassifier
from s2e_lib.edit.ials.stylegan1 import Generator, StyleGANConfig
from s2e_lib.errors import InputError, MissingResourceError, one_line
from s2e_lib.nn.vgg import VGGFeatures, load_problem, load_vgg_features
from s2e_lib.paths import project_paths

IALS_URL = "https://github.com/yxuhan/IALS"
DIRECTION_METHODS: tuple[str, ...] = ("interfacegan", "ganspace", "ours")
#: The VGG-16 layers IALS's inversion loss compares.
INVERSION_VGG_LAYERS: tuple[str, ...] = ("relu1_1", "relu1_2", "pool2", "relu4_2")


def download_hint(root: str | os.PathLike) -> str:
    """One sentence telling the user what to download and where to put it."""
    return (
        f"download the 'pretrain' folder linked from the IALS README ({IALS_URL}) and put it at {root} "
        "(or pass --pretrain DIR / set S2E_IALS_PRETRAIN)"
    )


def load_state_dict(path: str | os.PathLike, what: str, allow_pickle: bool = False) -> dict:
    """Read a torch-saved state dict with ``weights_only=True``.

    ``allow_pickle=True`` falls back to full unpickling for a file that stores a whole
    module (only for files you trust: unpickling runs code).
    """
    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, AttributeError, TypeError) as exc:
        if not allow_pickle:
            raise InputError(
                f"{path}: {what} is not a plain state dict readable with weights_only=True "
                f"({load_problem(exc)}); if you trust the file, pass allow_pickle=True"
            ) from None
        state = torch.load(path, map_location="cpu", weights_only=False)
    if isinstance(state, torch.nn.Module):
        state = state.state_dict()
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise InputError(f"{path}: {what} holds a {type(state).__name__}, expected a state dict")
    return state


def load_into(module: torch.nn.Module, state: dict, path: Path, what: str) -> None:
    """``module.load_state_dict(state)`` strictly, with a one-line error naming the first mismatch."""
    own = module.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    if missing or unexpected:
        detail = f"missing {missing[0]}" if missing else f"unexpected {unexpected[0]}"
        raise InputError(
            f"{path}: not an IALS {what} ({len(missing)} keys missing, {len(unexpected)} unexpected; {detail})"
        )
    for key, value in own.items():
        if tuple(state[key].shape) != tuple(value.shape):
            raise InputError(
                f"{path}: {what} key {key} has shape {tuple(state[key].shape)}, expected {tuple(value.shape)}"
            )
    module.load_state_dict(state)


class Pretrain:
    """A user's IALS ``pretrain/`` folder.

    Parameters
    ----------
    root : path, optional
        The folder (default: ``$S2E_IALS_PRETRAIN`` or ``models/ials/pretrain``).
    dataset : {"ffhq", "celebahq"}
        Which generator / average code / directions to use.
    allow_pickle : bool
        Allow files that are not plain state dicts (full pickles): only for trusted files.

    Examples
    --------
    >>> pre = Pretrain("~/IALS/pretrain")           # doctest: +SKIP
    >>> g = pre.load_generator()                      # doctest: +SKIP
    >>> a = pre.load_direction("smiling")            # doctest: +SKIP
    """

    def __init__(
        self, root: str | os.PathLike | None = None, dataset: str = "ffhq", allow_pickle: bool = False
    ):
        self.root = Path(root).expanduser() if root is not None else project_paths().ials_pretrain
        self.dataset = dataset
        self.allow_pickle = allow_pickle

    def __repr__(self) -> str:
        return f"Pretrain({str(self.root)!r}, dataset={self.dataset!r})"

    # --- paths ------------------------------------------------------------------------

    @property
    def generator_path(self) -> Path:
        return self.root / "stylegan" / self.dataset / "weight.pkl"

    @property
    def avg_code_path(self) -> Path:
        return self.root / "stylegan" / self.dataset / "avg_code.npy"

    @property
    def vgg_path(self) -> Path:
        return self.root / "vgg" / "imagenet_vgg16.pth"

    def classifier_path(self, attribute: str) -> Path:
        return self.root / "classifier" / attribute / "weight.pkl"

    def direction_path(
        self, attribute: str, method: str = "interfacegan", dataset: str | None = None
    ) -> Path:
        return self.root / "attr_level_direction" / method / (dataset or self.dataset) / f"{attribute}.npy"

    def real_code_paths(self) -> list[Path]:
        return sorted((self.root / "real_latent_code").glob("*.npy"))

    def require(self, path: Path, what: str) -> Path:
        """``path`` if it is a file, else MissingResourceError naming it and the download."""
        if not self.root.is_dir():
            raise MissingResourceError(
                f"{self.root}: IALS pretrain folder not found; {download_hint(self.root)}"
            )
        if not path.is_file():
            raise MissingResourceError(
                f"{path}: {what} not found in the IALS pretrain folder; {download_hint(self.root)}"
            )
        return path

    def available_attributes(self, method: str = "interfacegan") -> list[str]:
        folder = self.root / "attr_level_direction" / method / self.dataset
        return sorted(p.stem for p in folder.glob("*.npy"))

    def has_classifier(self, attribute: str) -> bool:
        return self.classifier_path(attribute).is_file()

    # --- loaders ------------------------------------------------------------------------

    def load_generator(self, device: str | torch.device = "cpu") -> Generator:
        """The FFHQ-1024 (or CelebA-HQ) StyleGAN-1 generator with IALS's weights, in eval mode."""
        path = self.require(self.generator_path, "StyleGAN generator weights")
        state = load_state_dict(path, "StyleGAN generator", self.allow_pickle)
        config = config_from_state_dict(state, path)
        generator = Generator(config)
        load_into(generator, state, path, "StyleGAN-1 generator")
        return generator.eval().requires_grad_(False).to(device)

    def load_avg_code(self) -> torch.Tensor:
        """Mean w (512,)."""
        path = self.require(self.avg_code_path, "average W code")
        return torch.from_numpy(_load_npy(path).reshape(-1))

    def load_classifier(self, attribute: str, device: str | torch.device = "cpu") -> AttributeClassifier:
        """The ResNet-18 classifier for ``attribute``, in eval mode."""
        path = self.require(self.classifier_path(attribute), f"{attribute} attribute classifier")
        model = AttributeClassifier()
        load_into(
            model,
            load_state_dict(path, f"{attribute} classifier", self.allow_pickle),
            path,
            "attribute classifier",
        )
        return model.eval().requires_grad_(False).to(device)

    def load_vgg(self, device: str | torch.device = "cpu") -> VGGFeatures:
        """VGG-16 features for IALS's inversion loss (relu1_1, relu1_2, pool2, relu4_2)."""
        path = self.require(self.vgg_path, "VGG-16 weights")
        return load_vgg_features(VGGFeatures("vgg16", INVERSION_VGG_LAYERS), path).eval().to(device)

    def load_direction(
        self, attribute: str, method: str = "interfacegan", dataset: str | None = None
    ) -> torch.Tensor:
        """Attribute-level direction (512,), normalised (positive = attribute present)."""
        path = self.require(
            self.direction_path(attribute, method, dataset), f"{method} direction for {attribute}"
        )
        v = torch.from_numpy(_load_npy(path).reshape(-1))
        return v / v.norm().clamp_min(1e-12)

    def load_real_code(self, name: str) -> torch.Tensor:
        """A W+ code (18, 512) from ``real_latent_code/<name>.npy``."""
        path = self.require(self.root / "real_latent_code" / f"{Path(name).stem}.npy", "real latent code")
        return torch.from_numpy(_load_npy(path))


def config_from_state_dict(state: dict, path: Path | str = "state dict") -> StyleGANConfig:
    """The generator architecture a state dict was saved from (FFHQ-1024 for IALS's file).

    Resolution from the number of synthesis blocks, channel cap from the 4×4 constant,
    ``fmap_base`` from the last block's channels, latent size and mapping depth from the
    dense layers. (The fused-upsampling threshold is not stored: StyleGAN-1's 128 is used.)
    """
    try:
        blocks = sorted(
            {k.split(".")[2] for k in state if k.startswith("g_synthesis.blocks.")},
            key=lambda r: int(r.split("x")[0]),
        )
        log2 = len(blocks) + 1
        fmap_max = int(state[f"g_synthesis.blocks.{blocks[0]}.const"].shape[1])
        last = int(state["g_synthesis.torgb.weight"].shape[1])
        latent = int(state["g_mapping.dense0.weight"].shape[1])
        mapping_layers = sum(1 for k in state if k.startswith("g_mapping.dense") and k.endswith(".weight"))
    except (KeyError, IndexError, ValueError, AttributeError):
        raise InputError(
            f"{path}: not a StyleGAN-1 generator state dict (g_mapping.* / g_synthesis.* keys)"
        ) from None
    fmap_base = last * 2 ** (log2 - 1)  # the smallest base giving these channels
    return StyleGANConfig(
        resolution=2**log2,
        latent_size=latent,
        fmap_base=fmap_base,
        fmap_max=fmap_max,
        mapping_layers=mapping_layers,
    )


def _load_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False).astype(np.float32)
    except (ValueError, OSError) as exc:
        raise InputError(f"{path}: not a readable .npy array ({one_line(exc)})") from None
