"""Running a trained classifier on features: batching and logits (no training code).

Shared by inference (:mod:`s2e_lib.ser.predict`), training and evaluation, so that
loading a model to predict never imports :mod:`s2e_lib.ser.train`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn


def _to_tensor_batch(items: Sequence[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor | None]:
    if items[0].ndim == 1:
        return torch.from_numpy(np.stack(items)).float(), None
    lengths = torch.tensor([a.shape[1] for a in items])
    out = torch.zeros(len(items), items[0].shape[0], int(lengths.max()))
    for i, a in enumerate(items):
        out[i, :, : a.shape[1]] = torch.from_numpy(a)
    return out, lengths


def predict_logits(model: nn.Module, features: Sequence[np.ndarray], batch_size: int = 64) -> torch.Tensor:
    """Logits of a list of features (sorted by length internally to limit padding)."""
    device = next(model.parameters()).device
    order = np.argsort([f.shape[-1] for f in features]) if features[0].ndim == 2 else np.arange(len(features))
    out = torch.empty(len(features), model.fc.out_features)
    model.eval()
    with torch.no_grad():
        for i in range(0, len(order), batch_size):
            idx = order[i : i + batch_size]
            x, lengths = _to_tensor_batch([features[j] for j in idx])
            logits = model(x.to(device), None if lengths is None else lengths.to(device))
            out[torch.as_tensor(idx)] = logits.float().cpu()
    return out
