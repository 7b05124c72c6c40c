"""pix2pixHD checkpoints: saving a run (``checkpoint.pt`` for ``--resume``, ``generator.pt``
for inference), reading either back, and rebuilding the trained generator."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from s2e_lib.edit.pix2pixhd.config import TrainConfig, build_models, default_device
from s2e_lib.errors import InputError, MissingResourceError
from s2e_lib.fileio import atomic_output

if TYPE_CHECKING:
    from s2e_lib.edit.pix2pixhd.train import Pix2PixHDTrainer

CHECKPOINT_FORMAT = "s2e-pix2pixhd-checkpoint/1"
GENERATOR_FORMAT = "s2e-pix2pixhd-generator/1"


def save_checkpoint(trainer: Pix2PixHDTrainer, run: Path, data_settings: dict) -> Path:
    """Write ``checkpoint.pt`` (everything) and ``generator.pt`` (inference) atomically."""
    meta = {
        "config": asdict(trainer.config),
        "data": data_settings,
        "in_channels": trainer.in_channels,
        "step": trainer.step_count,
    }
    with atomic_output(run / "checkpoint.pt") as tmp:
        torch.save({"format": CHECKPOINT_FORMAT, **meta, **trainer.state_dict()}, tmp)
    with atomic_output(run / "generator.pt") as tmp:
        torch.save({"format": GENERATOR_FORMAT, **meta, "G": trainer.generator.state_dict()}, tmp)
    return run / "checkpoint.pt"


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Read a ``checkpoint.pt`` or ``generator.pt`` (or a run folder holding one).

    NVIDIA pix2pixHD's own ``latest_net_G.pth`` (a raw state dict, keys ``model.*`` /
    ``model1_1.*``) is recognised and converted in memory
    (:func:`~s2e_lib.edit.pix2pixhd.nvidia.s2e_checkpoint`: sizes from the tensors on top of
    the ``original`` preset, the sign drawn at the centre as the original project did).
    """
    path = Path(path)
    if path.is_dir():
        for name in ("generator.pt", "checkpoint.pt"):
            if (path / name).is_file():
                path = path / name
                break
        else:
            raise MissingResourceError(f"{path}: no generator.pt or checkpoint.pt in this run folder")
    if not path.is_file():
        raise MissingResourceError(
            f"{path}: pix2pixHD checkpoint not found (train one with `s2e pix2pixhd train --data PAIRS "
            f"--out RUN`, then pass RUN/generator.pt)"
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated or foreign file
        from s2e_lib.nn.vgg import load_problem

        raise InputError(f"{path}: not a readable pix2pixHD checkpoint ({load_problem(exc)})") from None
    if not isinstance(state, dict) or state.get("format") not in (CHECKPOINT_FORMAT, GENERATOR_FORMAT):
        from s2e_lib.edit.pix2pixhd.nvidia import detect_kind, s2e_checkpoint

        kind = detect_kind(state)
        if kind in ("global", "local"):  # NVIDIA's latest_net_G.pth: sizes read off the tensors
            try:
                return s2e_checkpoint(state)
            except InputError as exc:
                raise InputError(f"{path}: {exc}") from None
        if kind == "discriminator":
            raise InputError(
                f"{path}: an NVIDIA pix2pixHD discriminator (latest_net_D.pth); pass the generator "
                f"(latest_net_G.pth)"
            )
        raise InputError(
            f"{path}: not an s2e pix2pixHD checkpoint (no format tag) nor an NVIDIA pix2pixHD state dict"
        )
    return state


def read_resume_state(path: str | os.PathLike, log: Callable[[str], None] | None = None) -> dict | None:
    """The training state in ``checkpoint.pt`` for ``--resume``, or None when it cannot be read.

    Checkpoints are written atomically, but a file damaged afterwards (a full disk, an
    interrupted copy, an older version) must not block training forever: it is reported
    through ``log`` ("ignored unreadable resume state …") and training restarts. A readable
    file that is not an s2e pix2pixHD checkpoint is refused (it is not ours to replace).
    """
    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated or corrupt: start again
        (log or _stderr)(
            f"ignored unreadable resume state {path} ({type(exc).__name__}); training restarts from step 0"
        )
        return None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise InputError(f"{path}: not an s2e pix2pixHD training checkpoint (no format tag)")
    return state


def _stderr(line: str) -> None:
    print(line, file=sys.stderr)


def load_generator(
    path: str | os.PathLike, device: torch.device | str | None = None
) -> tuple[torch.nn.Module, dict]:
    """The trained generator (eval mode) and its metadata (``config``, ``data``, ``step``, and
    ``calibration`` when :mod:`~s2e_lib.edit.pix2pixhd.calibrate` stored one)."""
    state = load_checkpoint(path)
    config = TrainConfig(**state["config"])
    generator, _ = build_models(config, int(state["in_channels"]))
    generator.load_state_dict(state["G"])
    generator.to(device if device is not None else default_device()).eval()
    meta = {k: state[k] for k in ("config", "data", "in_channels", "step")}
    if "calibration" in state:  # s2e pix2pixhd calibrate
        meta["calibration"] = state["calibration"]
    return generator, meta
