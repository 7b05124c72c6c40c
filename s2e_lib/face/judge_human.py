"""A second, independent FER2013 judge: the ``emotion`` model of the npm package ``@vladmandic/human``.

``@vladmandic/human`` (MIT licence, Vladimir Mandic) ships ``models/emotion.json`` +
``models/emotion.bin``: a TensorFlow.js graph model converted from Octavio Arriaga's
``face_classification`` (MIT), the *big* Xception variant trained on FER2013 (32/64-channel
stem, two separable residual blocks of 128 and 256 channels, a 3×3 convolution to the seven
classes, global average pooling, softmax; 205 k parameters, batch normalisation folded into
the convolutions by the converter). It is another network with other weights than the
mini-Xception of :mod:`s2e_lib.face.judge` (``fer``), so the two disagree where an edit is
ambiguous. The graph is re-implemented here in PyTorch (:class:`BigXception`) and its weights
read from the two files; tfjs is never needed. Checked against TensorFlow.js 4 itself
(``@tensorflow/tfjs``, CPU backend, the graph loaded from the same files) on three face crops:
the seven probabilities agree within 2.4e-7.

Install: ``make install`` unpacks the two files and the package's licence from
``npm pack @vladmandic/human@3.3.6`` into ``<venv>/share/s2e/human-emotion``; elsewhere set
``S2E_HUMAN_MODELS`` to a folder holding them. Like the first judge it only *measures* edits
(``tools/judge_warp.py``), it never drives one.

Input as Human prepares it: the face crop resized to 64×64, grey = 0.2989 R + 0.587 G + 0.114 B
in 0…1, then (grey − 0.5) × 2. The crop is :func:`s2e_lib.face.judge.fer_crop`'s (dlib's face
box grown like a Haar box), so both judges see the same pixels.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from s2e_lib.errors import MissingResourceError
from s2e_lib.face.judge import FERJudge
from s2e_lib.nn import default_device

#: Output order of Human's oarriaga models (``src/gear/emotion.ts``), the same as fer's.
LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
#: npm package the files come from (``make install``).
NPM_PACKAGE = "@vladmandic/human@3.3.6"
_P = "StatefulPartitionedCall/model_1/"


def models_dir() -> Path:
    """Where ``emotion.json`` / ``emotion.bin`` are looked for."""
    env = os.environ.get("S2E_HUMAN_MODELS")
    return Path(env) if env else Path(sys.prefix) / "share" / "s2e" / "human-emotion"


def available() -> bool:
    d = models_dir()
    return (d / "emotion.json").is_file() and (d / "emotion.bin").is_file()


def read_graph_weights(folder: Path | None = None) -> dict[str, np.ndarray]:
    """The graph model's weights by name (float32 / int32 arrays in the manifest's shapes)."""
    folder = Path(folder or models_dir())
    try:
        spec = json.loads((folder / "emotion.json").read_text())
        manifest = spec["weightsManifest"]
    except (OSError, ValueError, KeyError) as exc:
        raise MissingResourceError(
            f"{folder / 'emotion.json'}: Human's emotion model is missing or unreadable "
            f"(make install, or npm pack {NPM_PACKAGE} and set S2E_HUMAN_MODELS): {exc}"
        ) from None
    out: dict[str, np.ndarray] = {}
    for group in manifest:
        data = b"".join((folder / p).read_bytes() for p in group["paths"])
        offset = 0
        for w in group["weights"]:
            if "quantization" in w:
                raise MissingResourceError(f"{folder}: quantized weights are not supported ({w['name']})")
            dtype = {"float32": np.float32, "int32": np.int32}[w["dtype"]]
            n = int(np.prod(w["shape"])) if w["shape"] else 1
            out[w["name"]] = np.frombuffer(data, dtype, n, offset).reshape(w["shape"])
            offset += n * 4
        if offset != len(data):
            raise MissingResourceError(f"{folder}: {len(data)} bytes of weights, the manifest names {offset}")
    return out


def _same_pad(x: torch.Tensor, k: int, s: int, value: float = 0.0) -> torch.Tensor:
    """TensorFlow's SAME padding (the extra pixel, if any, after)."""
    h = x.shape[-1]
    out = -(-h // s)
    total = max((out - 1) * s + k - h, 0)
    return F.pad(x, (total // 2, total - total // 2, total // 2, total - total // 2), value=value)


class SeparableBlock(nn.Module):
    """Two depthwise-separable 3×3 convolutions (ReLU between), a 3×3/2 max-pool, plus a strided 1×1 shortcut."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.depthwise1 = nn.Conv2d(cin, cin, 3, groups=cin, bias=False)
        self.pointwise1 = nn.Conv2d(cin, cout, 1)
        self.depthwise2 = nn.Conv2d(cout, cout, 3, groups=cout, bias=False)
        self.pointwise2 = nn.Conv2d(cout, cout, 1)
        self.shortcut = nn.Conv2d(cin, cout, 1, stride=2)

    def forward(self, x: torch.Tensor, pre_relu: bool) -> torch.Tensor:
        y = F.relu(x) if pre_relu else x
        y = F.relu(self.pointwise1(self.depthwise1(_same_pad(y, 3, 1))))
        y = self.pointwise2(self.depthwise2(_same_pad(y, 3, 1)))
        y = F.max_pool2d(_same_pad(y, 3, 2, value=float("-inf")), 3, 2)
        return y + self.shortcut(x)


class BigXception(nn.Module):
    """oarriaga's big_XCEPTION as converted in Human's ``emotion.json`` (returns logits)."""

    def __init__(self, n_classes: int = 7):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, stride=2)
        self.conv2 = nn.Conv2d(32, 64, 3)
        self.block2 = SeparableBlock(64, 128)
        self.block3 = SeparableBlock(128, 256)
        self.classifier = nn.Conv2d(256, n_classes, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.conv2(F.relu(self.conv1(x))))
        x = self.block2(x, pre_relu=False)
        x = self.block3(x, pre_relu=True)
        return self.classifier(_same_pad(x, 3, 1)).mean(dim=(2, 3))


def load_big_xception(folder: Path | None = None) -> BigXception:
    """The network with the graph model's weights (every tensor of the file used, shapes checked)."""
    w = read_graph_weights(folder)
    model = BigXception()

    def conv(module: nn.Conv2d, kernel: str, bias: str | None, depthwise: bool = False):
        k = torch.from_numpy(np.array(w.pop(kernel)))
        # TF: (kh, kw, in, out) or depthwise (kh, kw, in, multiplier) → torch (out, in/groups, kh, kw)
        k = k.permute(2, 3, 0, 1) if depthwise else k.permute(3, 2, 0, 1)
        if tuple(k.shape) != tuple(module.weight.shape):
            raise MissingResourceError(f"Human emotion model: {kernel} has shape {tuple(k.shape)}")
        module.weight.data.copy_(k)
        if bias is not None:
            module.bias.data.copy_(torch.from_numpy(np.array(w.pop(bias))))

    conv(model.conv1, _P + "conv2d_1/Conv2D_weights", _P + "conv2d_1/Conv2D_bn_offset")
    conv(model.conv2, _P + "conv2d_2/Conv2D_weights", _P + "conv2d_2/Conv2D_bn_offset")
    conv(model.block2.shortcut, _P + "conv2d_3/Conv2D_weights", _P + "conv2d_3/Conv2D_bn_offset")
    conv(model.block3.shortcut, _P + "conv2d_4/Conv2D_weights", _P + "conv2d_4/Conv2D_bn_offset")
    for block, (dw1, dw2), (sep1, sep2) in (
        (model.block2, ("unknown_9", "unknown_15"), (1, 2)),
        (model.block3, ("unknown_26", "unknown_32"), (3, 4)),
    ):
        conv(block.depthwise1, dw1, None, depthwise=True)
        conv(block.depthwise2, dw2, None, depthwise=True)
        for module, k in ((block.pointwise1, sep1), (block.pointwise2, sep2)):
            name = f"{_P}separable_conv2d_{k}/separable_conv2d"
            conv(module, name + "_weights", name + "_bn_offset")
    conv(model.classifier, "unknown_43", "unknown_44")
    w.pop(_P + "global_average_pooling2d_1/Mean/reduction_indices", None)
    if w:
        raise MissingResourceError(f"Human emotion model: unused weights {sorted(w)}")
    return model.eval()


class HumanEmotionJudge(FERJudge):
    """Human's FER2013 big-Xception as a second judge; the same interface as :class:`FERJudge`."""

    labels = LABELS

    def __init__(self, grow: float = 0.24, device: str | None = None, folder: Path | None = None):
        self.grow = float(grow)
        self.device = device or default_device()
        self.model = load_big_xception(folder).to(self.device)
