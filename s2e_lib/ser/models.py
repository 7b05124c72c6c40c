"""Speech emotion classifiers: ``linear`` (the original), ``mlp`` and ``crnn``.

Every model maps a batch of features to logits over its labels and carries its own
input normalisation (buffers saved in the checkpoint), so a checkpoint is self-contained.
``forward(x, lengths, with_embedding=True)`` also returns the representation the output
layer reads (training's auxiliary heads attach there; they are not part of the model).

- :class:`LinearClassifier` — the original project's linear layer on the 216-value
  MFCC-mean vector (``FeatureConfig(kind="original")``).
- :class:`MLPClassifier` — pooled MFCC statistics (``kind="stats"``) through a small MLP.
- :class:`CRNN` — log-mel sequences (``kind="logmel"``): per-utterance mean/variance
  normalisation, deltas, four conv blocks, a bidirectional GRU and attention pooling
  over time, so clips of any length are classified as a whole.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
from torch import nn
from torch.nn import functional as F


class Standardize(nn.Module):
    """``(x - mean) / std`` with statistics fitted on training data and stored as buffers."""

    def __init__(self, n_features: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(n_features))
        self.register_buffer("std", torch.ones(n_features))

    @torch.no_grad()
    def fit(self, x: torch.Tensor) -> None:
        self.mean.copy_(x.mean(dim=0))
        self.std.copy_(x.std(dim=0).clamp_min(1e-4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class LinearClassifier(nn.Module):
    """The original project's classifier: one linear layer on a fixed vector."""

    feature_kind = "original"

    def __init__(self, in_features: int, n_classes: int):
        super().__init__()
        self.norm = Standardize(in_features)
        self.fc = nn.Linear(in_features, n_classes)

    def fit_normalization(self, x: torch.Tensor) -> None:
        self.norm.fit(x)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None, with_embedding: bool = False):
        h = self.norm(x)
        return (self.fc(h), h) if with_embedding else self.fc(h)


class MLPClassifier(nn.Module):
    """Pooled statistics → [Linear → BatchNorm → ReLU → Dropout] × len(hidden) → Linear."""

    feature_kind = "stats"

    def __init__(
        self, in_features: int, n_classes: int, hidden: tuple[int, ...] = (256, 128), dropout: float = 0.4
    ):
        super().__init__()
        self.norm = Standardize(in_features)
        layers: list[nn.Module] = [nn.Dropout(dropout / 2)]
        width = in_features
        for h in hidden:
            layers += [nn.Linear(width, h), nn.BatchNorm1d(h), nn.ReLU(inplace=True), nn.Dropout(dropout)]
            width = h
        self.body = nn.Sequential(*layers)
        self.fc = nn.Linear(width, n_classes)

    def fit_normalization(self, x: torch.Tensor) -> None:
        self.norm.fit(x)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None, with_embedding: bool = False):
        h = self.body(self.norm(x))
        return (self.fc(h), h) if with_embedding else self.fc(h)


def _mask(lengths: torch.Tensor | None, n_frames: int, batch: int, device) -> torch.Tensor:
    if lengths is None:
        return torch.ones(batch, n_frames, dtype=torch.bool, device=device)
    return torch.arange(n_frames, device=device)[None, :] < lengths.to(device)[:, None]


def utterance_cmvn(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per-utterance, per-band mean/variance normalisation over valid frames.

    Removes each recording's channel and much of the speaker's spectral colouring.
    ``x``: (batch, bands, frames); ``mask``: (batch, frames) bool.
    """
    m = mask[:, None, :].to(x.dtype)
    n = m.sum(dim=2, keepdim=True).clamp_min(1.0)
    mean = (x * m).sum(dim=2, keepdim=True) / n
    var = (((x - mean) * m) ** 2).sum(dim=2, keepdim=True) / n
    return (x - mean) / (var + 1e-5).sqrt() * m


def deltas(x: torch.Tensor, width: int = 5) -> torch.Tensor:
    """Regression deltas along time (as ``librosa.feature.delta``, edges replicated)."""
    half = width // 2
    kernel = torch.arange(-half, half + 1, dtype=x.dtype, device=x.device)
    kernel = kernel / (kernel**2).sum()
    b, c, t = x.shape
    padded = F.pad(x.reshape(b * c, 1, t), (half, half), mode="replicate")
    return F.conv1d(padded, kernel.flip(0)[None, None, :]).reshape(b, c, t)


class AttentionPooling(nn.Module):
    """Weighted mean over time with learned scores (masked), as in attentive SER models."""

    def __init__(self, dim: int):
        super().__init__()
        self.score = nn.Sequential(nn.Linear(dim, dim // 2), nn.Tanh(), nn.Linear(dim // 2, 1))

    def forward(self, h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        scores = self.score(h).squeeze(-1).masked_fill(~mask, float("-inf"))
        weights = torch.softmax(scores, dim=1)
        return (weights.unsqueeze(-1) * h).sum(dim=1)


class ConvBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, pool: tuple[int, int]):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(c_out)
        self.pool = nn.MaxPool2d(pool) if pool != (1, 1) else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(F.relu(self.bn(self.conv(x)), inplace=True))


class CRNN(nn.Module):
    """Log-mel sequence classifier: CMVN → (x, Δ, ΔΔ) → conv blocks → BiGRU → attention → logits.

    Parameters
    ----------
    n_mels : int
        Mel bands of the input ``(batch, n_mels, frames)``.
    n_classes : int
        Output labels.
    channels : tuple of int
        Conv block widths; each of the first three halves frequency and time.
    rnn_hidden : int
        GRU width per direction (0 = no GRU, attention on the conv features).
    dropout : float
        Dropout before the output layer.
    """

    feature_kind = "logmel"

    def __init__(
        self,
        n_mels: int,
        n_classes: int,
        channels: tuple[int, ...] = (16, 32, 64, 64),
        rnn_hidden: int = 64,
        dropout: float = 0.3,
    ):
        super().__init__()
        self.n_mels = n_mels
        blocks, c_in = [], 3
        for i, c in enumerate(channels):
            pool = (2, 2) if i < 3 else (2, 1)
            blocks.append(ConvBlock(c_in, c, pool))
            c_in = c
        self.conv = nn.Sequential(*blocks)
        self.rnn = nn.GRU(c_in, rnn_hidden, batch_first=True, bidirectional=True) if rnn_hidden else None
        dim = 2 * rnn_hidden if rnn_hidden else c_in
        self.pool = AttentionPooling(dim)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(dim, n_classes)

    def fit_normalization(self, x) -> None:  # per-utterance CMVN needs no fitted statistics
        pass

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None, with_embedding: bool = False):
        b, _, t = x.shape
        mask = _mask(lengths, t, b, x.device)
        x = utterance_cmvn(x, mask)
        d1 = deltas(x)
        h = torch.stack([x, d1, deltas(d1)], dim=1)  # (b, 3, mels, frames)
        for block in self.conv:
            h = block(h)
            if lengths is not None:  # keep padded frames at zero so they never leak into valid ones
                stride = t / h.shape[-1]
                valid = torch.ceil(lengths.to(x.device) / stride).long().clamp(1, h.shape[-1])
                h = h * _mask(valid, h.shape[-1], b, x.device)[:, None, None, :]
        h = h.mean(dim=2).transpose(1, 2)  # (b, frames', channels)
        if lengths is None:
            valid = torch.full((b,), h.shape[1], dtype=torch.long, device=x.device)
        pooled_mask = _mask(valid, h.shape[1], b, x.device)
        if self.rnn is not None:
            packed = nn.utils.rnn.pack_padded_sequence(h, valid.cpu(), batch_first=True, enforce_sorted=False)
            h, _ = nn.utils.rnn.pad_packed_sequence(
                self.rnn(packed)[0], batch_first=True, total_length=h.shape[1]
            )
        h = self.dropout(self.pool(h, pooled_mask))
        return (self.fc(h), h) if with_embedding else self.fc(h)


#: Model name → class.
MODELS: dict[str, type[nn.Module]] = {"linear": LinearClassifier, "mlp": MLPClassifier, "crnn": CRNN}


@dataclass
class ModelConfig:
    """Which model and its keyword arguments (stored in checkpoints)."""

    name: str = "crnn"
    options: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def build_model(config: ModelConfig, n_inputs: int, n_classes: int) -> nn.Module:
    """Instantiate ``config.name`` for inputs of size ``n_inputs`` (features or mel bands)."""
    if config.name not in MODELS:
        raise ValueError(f"unknown model {config.name!r}; expected one of {', '.join(MODELS)}")
    cls = MODELS[config.name]
    options = dict(config.options)
    for key in ("hidden", "channels"):
        if key in options:
            options[key] = tuple(options[key])
    if cls is CRNN:
        return cls(n_mels=n_inputs, n_classes=n_classes, **options)
    return cls(in_features=n_inputs, n_classes=n_classes, **options)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


class Ensemble(nn.Module):
    """Averages the class probabilities of its members; returns log-probabilities as logits."""

    def __init__(self, members: list[nn.Module]):
        super().__init__()
        self.members = nn.ModuleList(members)
        self.fc = members[0].fc  # exposes out_features like a single model

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        probs = torch.stack([torch.softmax(m(x, lengths), dim=1) for m in self.members]).mean(dim=0)
        return probs.clamp_min(1e-8).log()
