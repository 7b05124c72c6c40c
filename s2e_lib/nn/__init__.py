"""Small network building blocks with torchvision-compatible state-dict keys (no torchvision)."""

from __future__ import annotations

import torch


def default_device() -> str:
    """``"cuda"`` when a CUDA GPU is available, else ``"cpu"``."""
    return "cuda" if torch.cuda.is_available() else "cpu"
