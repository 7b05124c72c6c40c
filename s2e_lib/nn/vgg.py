"""VGG feature stacks with torchvision's layer indices, so ``features.<i>.weight`` keys of a
torchvision ``vgg16`` / ``vgg19`` state dict load unchanged.

No weights ship with the project: :func:`load_vgg_features` reads a user's file (e.g. IALS's
``vgg/imagenet_vgg16.pth`` or torchvision's ``vgg19-dcbb9e9d.pth``) and keeps only the
``features.*`` entries.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from s2e_lib.errors import InputError, MissingResourceError

# torchvision's configurations "D" (VGG-16) and "E" (VGG-19); "M" is a 2×2 max-pool.
CONFIGS: dict[str, list] = {
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "vgg19": [
        64,
        64,
        "M",
        128,
        128,
        "M",
        256,
        256,
        256,
        256,
        "M",
        512,
        512,
        512,
        512,
        "M",
        512,
        512,
        512,
        512,
        "M",
    ],
}

#: ImageNet normalisation used by torchvision's VGG weights (inputs in [0, 1]).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def make_features(arch: str = "vgg16") -> nn.Sequential:
    """The ``features`` Sequential of torchvision's VGG (same module indices)."""
    layers: list[nn.Module] = []
    in_channels = 3
    for value in CONFIGS[arch]:
        if value == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers.append(nn.Conv2d(in_channels, value, kernel_size=3, padding=1))
            layers.append(nn.ReLU(inplace=True))
            in_channels = value
    return nn.Sequential(*layers)


def layer_index(arch: str, name: str) -> int:
    """Index in ``features`` of a layer named like the papers do.

    ``relu{block}_{conv}`` (e.g. ``relu4_2``) or ``pool{block}`` (e.g. ``pool2``).
    """
    block, conv, index = 1, 0, 0
    for value in CONFIGS[arch]:
        if value == "M":
            if name == f"pool{block}":
                return index
            block, conv, index = block + 1, 0, index + 1
        else:
            conv += 1
            if name == f"relu{block}_{conv}":
                return index + 1
            index += 2
    raise ValueError(f"{arch} has no layer {name!r}")


class VGGFeatures(nn.Module):
    """Returns the activations of chosen named layers of a VGG ``features`` stack.

    Parameters
    ----------
    arch : {"vgg16", "vgg19"}
    layers : sequence of str
        Layer names, e.g. ``("relu1_1", "relu1_2", "pool2", "relu4_2")``.
    normalize_input : bool
        If true, inputs are images in [0, 1] and ImageNet normalisation is applied.
    """

    def __init__(
        self,
        arch: str = "vgg16",
        layers=("relu1_1", "relu2_1", "relu3_1", "relu4_1"),
        normalize_input: bool = True,
    ):
        super().__init__()
        self.arch = arch
        self.layer_names = tuple(layers)
        self.indices = [layer_index(arch, name) for name in self.layer_names]
        self.features = make_features(arch)[: max(self.indices) + 1]
        for module in self.features:
            if isinstance(module, nn.ReLU):
                module.inplace = False  # we return intermediate activations
        self.normalize_input = normalize_input
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        if self.normalize_input:
            x = (x - self.mean) / self.std
        wanted = {index: i for i, index in enumerate(self.indices)}
        outputs: list[torch.Tensor | None] = [None] * len(self.indices)
        for index, module in enumerate(self.features):
            x = module(x)
            if index in wanted:
                outputs[wanted[index]] = x
        return outputs  # type: ignore[return-value]


def load_problem(exc: BaseException) -> str:
    """Why ``torch.load(..., weights_only=True)`` refused a file, in a few words.

    A file holding Python objects (a pickled module, or a malicious pickle) is described as
    such, naming the refused global; torch's own advice to retry without ``weights_only``
    is never repeated (that would run the file's code). Anything else (a truncated or
    foreign file) gives the exception's first line.
    """
    import re

    text = str(exc)
    if "Weights only load failed" in text or "weights_only" in text:
        found = re.search(r"GLOBAL ([\w.]+)", text)
        what = f" ({found.group(1)})" if found else ""
        return f"it holds Python objects{what}, not only tensors; refused, as loading it could run code"
    first = text.strip().splitlines()[0].strip()[:120] if text.strip() else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def load_vgg_features(module: VGGFeatures, path: str | os.PathLike) -> VGGFeatures:
    """Load the ``features.*`` part of a torchvision VGG state dict from ``path``."""
    path = Path(path)
    if not path.is_file():
        raise MissingResourceError(f"{path}: VGG weights not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a pickle of Python objects, a truncated or foreign file
        raise InputError(f"{path}: not readable VGG weights ({load_problem(exc)})") from None
    if not isinstance(state, dict):
        raise InputError(
            f"{path}: not a torchvision {module.arch} state dict (holds a {type(state).__name__})"
        )
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    features = {k[len("features.") :]: v for k, v in state.items() if k.startswith("features.")}
    own = module.features.state_dict()
    missing = [k for k in own if k not in features]
    if missing:
        raise MissingResourceError(
            f"{path}: not a torchvision {module.arch} state dict (missing features.{missing[0]})"
        )
    module.features.load_state_dict({k: features[k] for k in own})
    return module
