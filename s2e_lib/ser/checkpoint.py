"""One-file SER checkpoints: weights plus everything needed to use them correctly.

A checkpoint is a ``torch.save``'d dict of plain types (loadable with
``torch.load(weights_only=True)``)::

    format, format_version, library_version, created
    labels            list of label names, in output order
    feature_config    FeatureConfig as a dict (must match at inference)
    model_config      {"name", "options"} and n_inputs
    train_config      TrainConfig as a dict
    data              training data summary (corpus, speakers, counts per label)
    metrics           held-out figures (test speakers, validation)
    history           per-member training curves
    state_dicts       one state dict per ensemble member
    weights_dtype     "float32", or "float16" when weight matrices were stored in half
                      precision (loaded back into float32 models)
    calibration       optional: {"temperature", "ece_before", "ece_after", "source"}; the
                      logits are divided by the temperature (s2e_lib.ser.calibration)
"""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from s2e_lib import __version__
from s2e_lib.audio import whisper_encoder
from s2e_lib.audio.features import EGEMAPS_DIM, ORIGINAL_FRAMES, VECTOR_KINDS_V2, FeatureConfig, stats_dim
from s2e_lib.audio.voice_encoder import EMBEDDING_DIM as GE2E_DIM
from s2e_lib.audio.voice_encoder import LAYER_STATS_DIM as GE2E_LAYERS_DIM
from s2e_lib.errors import InputError, one_line
from s2e_lib.fileio import atomic_output, require_file
from s2e_lib.ser.models import MODELS, Ensemble, ModelConfig, build_model

FORMAT = "s2e-ser"
FORMAT_VERSION = 1


class CheckpointError(InputError):
    """A checkpoint that is not an SER checkpoint or does not fit what the caller needs."""


def save_checkpoint(
    path: str | os.PathLike,
    members: Sequence[nn.Module],
    labels: Sequence[str],
    feature_config: FeatureConfig,
    model_config: ModelConfig,
    n_inputs: int,
    train_config: dict | None = None,
    data: dict | None = None,
    metrics: dict | None = None,
    history: list | None = None,
    overwrite: bool = True,
    weights_dtype: str = "float32",
) -> Path:
    """Write one checkpoint file atomically (see the module docstring for its contents).

    ``weights_dtype="float16"`` stores every floating-point tensor of two or more dimensions
    (the weight matrices, nearly all of the file) in half precision, halving the file; biases
    and normalisation statistics stay float32. Loading converts back to float32; the
    predictions move by about 1e-3 in probability (tested).
    """
    if weights_dtype not in ("float32", "float16"):
        raise ValueError(f"weights_dtype must be 'float32' or 'float16', got {weights_dtype!r}")

    def stored(tensor: torch.Tensor) -> torch.Tensor:
        tensor = tensor.detach().cpu()
        if weights_dtype == "float16" and tensor.is_floating_point() and tensor.dim() >= 2:
            return tensor.to(torch.float16)
        return tensor

    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "library_version": __version__,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "labels": list(labels),
        "feature_config": feature_config.to_dict(),
        "model_config": {**model_config.to_dict(), "n_inputs": int(n_inputs)},
        "train_config": train_config or {},
        "data": data or {},
        "metrics": metrics or {},
        "history": history or [],
        "state_dicts": [{k: stored(v) for k, v in m.state_dict().items()} for m in members],
        "weights_dtype": weights_dtype,
    }
    with atomic_output(path, overwrite=overwrite) as tmp:
        torch.save(payload, tmp)
    return Path(path)


def feature_size(config: FeatureConfig) -> int:
    """Input size a model gets from ``config``: vector length, or mel bands of sequences."""
    return {
        "original": ORIGINAL_FRAMES,
        "stats": stats_dim(config),
        "logmel": config.n_mels,
        "egemaps": EGEMAPS_DIM,
        "stats+egemaps": stats_dim(config) + EGEMAPS_DIM,
        "stats+egemaps+ge2e": stats_dim(config) + EGEMAPS_DIM + GE2E_DIM,
        "stats+egemaps+ge2e-layers": stats_dim(config) + EGEMAPS_DIM + GE2E_LAYERS_DIM,
        "whisper": whisper_encoder.pooled_size(config.whisper),
        "stats+egemaps+ge2e-layers+whisper": stats_dim(config)
        + EGEMAPS_DIM
        + GE2E_LAYERS_DIM
        + whisper_encoder.pooled_size(config.whisper),
    }[config.kind]


def _vector_or_sequence(kind: str) -> str:
    """The feature kind a model class declares for ``kind`` (fixed vectors are all ``stats``-like)."""
    return "stats" if kind in VECTOR_KINDS_V2 else kind


def read_checkpoint(path: str | os.PathLike) -> dict:
    """Load and validate a checkpoint's payload (``weights_only=True``); raises CheckpointError."""
    path = require_file(path, "model checkpoint")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle/zip errors of a file that is not a checkpoint
        raise CheckpointError(f"{path}: not a readable model checkpoint ({type(exc).__name__})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a speech emotion checkpoint (no '{FORMAT}' format marker)")
    if int(payload.get("format_version", 0)) > FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format {payload['format_version']} is newer than this library supports ({FORMAT_VERSION})"
        )
    for key in ("labels", "feature_config", "model_config", "state_dicts"):
        if key not in payload:
            raise CheckpointError(f"{path}: checkpoint lacks '{key}'")
    return payload


def load_checkpoint(
    path: str | os.PathLike,
    labels: Sequence[str] | None = None,
    feature_config: FeatureConfig | None = None,
    device: str = "cpu",
) -> tuple[nn.Module, dict]:
    """Build the model stored in ``path`` and return ``(model, payload)``.

    Parameters
    ----------
    labels : sequence of str, optional
        Labels the caller needs, in order; a checkpoint with other labels is refused.
    feature_config : FeatureConfig, optional
        Features the caller will feed; a checkpoint trained on other features is refused.

    Raises
    ------
    CheckpointError
        Not a checkpoint, or its labels / feature configuration / weights do not fit.
    """
    payload = read_checkpoint(path)
    stored_labels = list(payload["labels"])
    if labels is not None and list(labels) != stored_labels:
        raise CheckpointError(
            f"{path}: checkpoint labels ({', '.join(stored_labels)}) do not match the expected labels ({', '.join(labels)})"
        )
    try:
        stored_features = FeatureConfig.from_dict(payload["feature_config"])
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: invalid feature configuration ({exc})") from None
    if feature_config is not None and feature_config != stored_features:
        diff = [
            f"{k}={v!r} (checkpoint {getattr(stored_features, k)!r})"
            for k, v in feature_config.to_dict().items()
            if getattr(stored_features, k) != v
        ]
        raise CheckpointError(
            f"{path}: feature configuration does not match the checkpoint: {', '.join(diff)}"
        )
    config = payload["model_config"]
    name = config.get("name")
    if name not in MODELS:
        raise CheckpointError(f"{path}: unknown model {name!r} in checkpoint")
    if MODELS[name].feature_kind != _vector_or_sequence(stored_features.kind):
        raise CheckpointError(
            f"{path}: model {name!r} needs {MODELS[name].feature_kind!r} features, checkpoint says {stored_features.kind!r}"
        )
    expected = feature_size(stored_features)
    if int(config.get("n_inputs", -1)) != expected:
        raise CheckpointError(
            f"{path}: model expects {config.get('n_inputs')} inputs but its feature configuration gives {expected} "
            "(made by another version of the features; retrain it)"
        )
    members = []
    for state in payload["state_dicts"]:
        model = build_model(
            ModelConfig(name, dict(config.get("options", {}))), int(config["n_inputs"]), len(stored_labels)
        )
        try:
            model.load_state_dict({k: v.float() if v.dtype == torch.float16 else v for k, v in state.items()})
        except RuntimeError as exc:
            raise CheckpointError(f"{path}: weights do not fit the model ({one_line(exc)})") from None
        members.append(model.eval())
    model = members[0] if len(members) == 1 else Ensemble(members).eval()
    return model.to(device), payload


def write_calibration(
    path: str | os.PathLike, out: str | os.PathLike, calibration: dict, overwrite: bool = False
) -> Path:
    """Copy the checkpoint ``path`` to ``out`` with ``calibration`` (a dict with a positive
    ``temperature``, from a leave-one-corpus-out report) stored in it; atomic, and ``out`` is
    never replaced unless ``overwrite``."""
    import math

    temperature = calibration.get("temperature") if isinstance(calibration, dict) else None
    if not isinstance(temperature, (int, float)) or not math.isfinite(temperature) or temperature <= 0:
        raise InputError(f"calibration needs a positive finite temperature, got {temperature!r}")
    payload = read_checkpoint(path)
    payload["calibration"] = {
        k: v for k, v in calibration.items() if k in ("temperature", "ece_before", "ece_after", "source")
    }
    with atomic_output(out, overwrite=overwrite) as tmp:
        torch.save(payload, tmp)
    return Path(out)
