"""Training speech emotion classifiers on features, with speaker-held-out validation.

:func:`fit` trains one model on in-memory features (fixed vectors or variable-length
log-mel sequences): AdamW with a cosine schedule, class-weighted cross-entropy with label
smoothing, spectrogram augmentation (time stretch, mel-axis warping, SpecAugment masks,
additive noise floor), early stopping on validation speakers with the best weights kept,
and an atomically written state file after every epoch so an interrupted run resumes
where it stopped. Deterministic for a given seed on CPU.

:func:`train` is the whole job behind ``s2e ser train``: scan the data, pick validation
speakers, extract (cached) features, fit one or more members (an ensemble over seeds and
validation speakers), evaluate held-out test speakers and write one checkpoint.
"""

from __future__ import annotations

import contextlib
import copy
import math
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from s2e_lib.audio.features import FeatureConfig, Transform, clip_seed, extract_file, extract_files
from s2e_lib.data.splits import choose_val_speakers, corpus_val_speakers  # noqa: F401 (old home)
from s2e_lib.emotions import AROUSAL_VALENCE, MISSION_EMOTIONS
from s2e_lib.errors import InputError
from s2e_lib.fileio import atomic_output, check_output, output_lock, remove_if_only_locks
from s2e_lib.nn import default_device
from s2e_lib.nn import distributed as ddp
from s2e_lib.ser.adapt import centre_views
from s2e_lib.ser.checkpoint import save_checkpoint
from s2e_lib.ser.dataset import corpus_label_masks, scan_corpora
from s2e_lib.ser.infer import _to_tensor_batch, predict_logits
from s2e_lib.ser.models import Ensemble, ModelConfig, build_model

#: Default feature kind of each model.
DEFAULT_FEATURES = {"linear": "original", "mlp": "stats+egemaps+ge2e-layers+whisper", "crnn": "logmel"}


@dataclass
class TrainConfig:
    """Everything that decides a training run (stored in the checkpoint).

    Attributes
    ----------
    model : str
        ``linear``, ``mlp`` or ``crnn``.
    model_options : dict
        Keyword arguments of the model class.
    epochs : int
        Maximum epochs.
    batch_size, lr, weight_decay : training hyper-parameters (AdamW, cosine schedule).
    patience : int
        Stop after this many epochs without a better validation score.
    seed : int
        Seed of initialisation, shuffling and augmentation.
    val_speakers : int
        Training speakers held out for early stopping (gender-balanced when possible).
    n_models : int
        Ensemble members; member ``k`` uses seed ``seed + k`` and its own validation speakers.
    class_weighting : bool
        Weight the loss by inverse class frequency.
    label_smoothing : float
    augment : bool
        Spectrogram augmentation (sequence models) / input noise (vector models).
    crop_seconds : float
        Random training crop of sequence models.
    speeds : list of float
        Speed-perturbed copies of every training clip, used like augmented copies
        (e.g. ``[0.9, 1.1]``: tempo, pitch and formants scaled together - new voices).
    augment_copies : int
        Random waveform augmentations of every training clip (gain, noise, band limits,
        codecs, rooms, speed; :func:`s2e_lib.audio.augment.augment`), seeded per clip; each
        epoch sees every clip once, clean or as one of its copies.
    augmentation : dict
        :class:`~s2e_lib.audio.augment.AugmentConfig` fields overriding its defaults.
    balance : bool
        Weight clips so every corpus, and every label within a corpus, counts equally
        (replaces ``class_weighting``; with one corpus it is inverse class frequency).
    refit : bool
        After early stopping, retrain from scratch on training + validation speakers for
        the best epoch count (more speakers help more than anything else on small corpora).
    weights_dtype : {"float32", "float16"}
        How the checkpoint stores weight matrices (see
        :func:`~s2e_lib.ser.checkpoint.save_checkpoint`); models always run in float32.
    speaker_centred : bool
        Subtract each speaker's mean feature vector from their clips before the model
        (:mod:`s2e_lib.ser.adapt`); the model then needs a voice profile in use. Vector
        features only.
    phone_copies : int
        Extra augmented copies of every training clip drawn through a mobile-phone chain
        (:data:`s2e_lib.audio.augment.PHONE_AUGMENTATION`: AGC, clipping, telephone band,
        AMR-NB, background noise), used like ``augment_copies``.
    mixup : float
        Mixup (Zhang et al. 2018) of the training vectors: each clip is mixed with a partner
        by ``lam ~ Beta(mixup, mixup)``, its targets, label masks and weights alike. 0 = off.
        Vector features only.
    mixup_across_corpora : bool
        Draw each clip's mixup partner from another corpus of the batch (a domain-mixing
        regulariser: the model cannot tell the corpus by the mixture's side).
    adversarial : float
        Weight of a corpus-adversarial loss (DANN, Ganin & Lempitsky 2015): a small head
        guesses the clip's corpus from the representation through a gradient-reversal layer
        (its coefficient ramped 0 → 1 as in the paper), so the representation unlearns
        what tells corpora apart. 0 = off.
    arousal_valence : float
        Weight of an auxiliary head regressing (arousal, valence) of the target emotion
        (:data:`s2e_lib.emotions.AROUSAL_VALENCE`, mean squared error). 0 = off.

    The auxiliary heads live only during training; the checkpoint holds the classifier alone.
    """

    model: str = "mlp"
    model_options: dict = field(default_factory=dict)
    epochs: int = 40
    batch_size: int = 32
    lr: float = 2e-3
    weight_decay: float = 1e-2
    patience: int = 12
    seed: int = 0
    val_speakers: int = 2
    n_models: int = 1
    class_weighting: bool = True
    label_smoothing: float = 0.1
    augment: bool = True
    crop_seconds: float = 3.0
    refit: bool = False
    speeds: list = field(default_factory=list)
    augment_copies: int = 0
    augmentation: dict = field(default_factory=dict)
    balance: bool = True
    weights_dtype: str = "float32"
    speaker_centred: bool = False
    phone_copies: int = 0
    mixup: float = 0.0
    mixup_across_corpora: bool = True
    adversarial: float = 0.0
    arousal_valence: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class FitResult:
    """A trained model and how it got there."""

    model: nn.Module
    history: list[dict]
    best_epoch: int
    best_score: float
    seconds: float


def augment_spectrogram(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Random time stretch (±10 %), mel-axis warp (±8 %, a vocal-tract-length change), a noise
    floor (15-40 dB below the loudest band), and SpecAugment masks (2 bands, 2 spans)."""
    n_mels, t = x.shape
    # time stretch by linear interpolation along frames
    rate = rng.uniform(0.9, 1.1)
    new_t = max(8, int(round(t / rate)))
    x = np.stack([np.interp(np.linspace(0, t - 1, new_t), np.arange(t), row) for row in x]).astype(np.float32)
    # warp the mel axis (formant/pitch scale): band i reads band i*alpha
    alpha = rng.uniform(0.92, 1.08)
    src = np.clip(np.arange(n_mels) * alpha, 0, n_mels - 1)
    lo = np.floor(src).astype(int)
    hi = np.minimum(lo + 1, n_mels - 1)
    frac = (src - lo)[:, None].astype(np.float32)
    x = x[lo] * (1 - frac) + x[hi] * frac
    # additive noise floor in the power domain
    if rng.random() < 0.5:
        floor = x.max() - rng.uniform(15, 40) * math.log(10) / 10
        noise = floor + rng.normal(0, 0.5, size=x.shape).astype(np.float32)
        x = np.logaddexp(x, noise)
    fill = float(x.mean())
    for _ in range(2):
        w = int(rng.integers(0, 9))
        f0 = int(rng.integers(0, n_mels - w + 1))
        x[f0 : f0 + w] = fill
        w = int(rng.integers(0, min(20, x.shape[1] // 5) + 1))
        t0 = int(rng.integers(0, x.shape[1] - w + 1))
        x[:, t0 : t0 + w] = fill
    return x.astype(np.float32)


def _crop(x: np.ndarray, frames: int, rng: np.random.Generator) -> np.ndarray:
    if x.shape[1] <= frames:
        return x
    start = int(rng.integers(0, x.shape[1] - frames + 1))
    return x[:, start : start + frames]


def scores(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> dict:
    """Accuracy, balanced accuracy (mean per-class recall over present classes) and confusion.

    Computed with :mod:`sklearn.metrics`, imported here so that inference never loads it.
    ``balanced_accuracy_score`` averages the recall over the classes present in ``y_true``
    (a class only predicted has no recall and is left out; its warning is silenced here).
    """
    import warnings

    from sklearn.metrics import accuracy_score, balanced_accuracy_score, confusion_matrix

    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    if not y_true.size:
        return {
            "accuracy": float("nan"),
            "balanced_accuracy": float("nan"),
            "n": 0,
            "confusion": np.zeros((n_classes, n_classes), dtype=int).tolist(),
        }
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="y_pred contains classes not in y_true")
        warnings.filterwarnings("ignore", message="A single label was found")  # n_classes == 1
        confusion = confusion_matrix(y_true, y_pred, labels=np.arange(n_classes))
        balanced = balanced_accuracy_score(y_true, y_pred)
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "balanced_accuracy": float(balanced),
        "n": int(y_true.size),
        "confusion": confusion.astype(int).tolist(),
    }


def fit(
    train_features: Sequence[np.ndarray],
    train_labels: Sequence[int],
    val_features: Sequence[np.ndarray],
    val_labels: Sequence[int],
    n_classes: int,
    config: TrainConfig,
    feature_config: FeatureConfig | None = None,
    state_path: str | os.PathLike | None = None,
    progress: bool = True,
    device: str | None = None,
    sample_weights: Sequence[float] | None = None,
    train_masks: np.ndarray | None = None,
    val_masks: np.ndarray | None = None,
    val_groups: Sequence[str] | None = None,
    train_views: Sequence[Sequence[np.ndarray]] | None = None,
    train_groups: Sequence[str] | None = None,
    labels: Sequence[str] | None = None,
) -> FitResult:
    """Train one model; early-stop on the validation set's balanced accuracy.

    Parameters
    ----------
    train_features, val_features : list of np.ndarray
        Vectors ``(d,)`` or sequences ``(n_mels, frames)``.
    train_labels, val_labels : list of int
        Label indices.
    n_classes : int
    config : TrainConfig
    feature_config : FeatureConfig, optional
        Gives the frame rate for ``crop_seconds`` (default 100 frames/s).
    state_path : path-like, optional
        Resumable state file, written atomically after each epoch and removed at the end.
        If it exists (from an interrupted run with the same config) training resumes.
    progress : bool
        Show a tqdm bar over epochs.
    device : str, optional
        Default CUDA when available.
    sample_weights : sequence of float, optional
        Weight of each training clip in the loss (``sum(w * loss) / sum(w)``), e.g. from
        :func:`balanced_weights`. Default: inverse class frequency when
        ``config.class_weighting``, else uniform.
    train_masks, val_masks : np.ndarray of bool, shape (n, n_classes), optional
        The labels each clip's corpus has. A clip's softmax (and label smoothing) runs over
        its corpus's labels only, so a corpus without some emotions (TurEV has no neutral or
        fear) neither teaches that those emotions are rare nor shifts the priors.
    val_groups : sequence of str, optional
        Corpus of each validation clip: the early-stopping score is the mean of the
        per-corpus balanced accuracies (one corpus never dominates the choice).
    train_views : sequence of sequences of np.ndarray, optional
        Augmented copies of the training clips: ``train_views[k][i]`` is copy ``k`` of clip
        ``i``. Every epoch each clip is seen once, as its clean version or one of its copies,
        drawn with the epoch's seeded generator (augmentation on the fly among pre-computed
        random draws: features of a fresh augmentation every epoch cost minutes per epoch on a CPU).
    train_groups : sequence of str, optional
        Corpus of each training clip: the classes of the corpus-adversarial head
        (``config.adversarial``) and the sides of cross-corpus mixup.
    labels : sequence of str, optional
        Emotion of each label index, for the arousal/valence head (default: the mission
        emotions when ``n_classes`` matches them).

    Returns
    -------
    FitResult

    Notes
    -----
    Under ``torchrun`` (a running process group of several processes) every process draws
    the same global batches and augmentations, trains on its slice of each batch inside
    DistributedDataParallel (BatchNorm synchronised on GPUs; on CPUs each process
    normalises its own slice), and the loss is scaled so that the averaged gradient is
    the global batch's. Rank 0 validates (its scores are broadcast, so every process stops
    at the same epoch) and writes the state file; dropout differs between processes.
    """
    from tqdm.auto import tqdm

    device = device or default_device()
    rank, world = ddp.rank(), ddp.world_size()
    main = rank == 0
    start_time = time.perf_counter()
    torch.manual_seed(config.seed)
    y_train = np.asarray(train_labels, dtype=np.int64)
    y_val = np.asarray(val_labels, dtype=np.int64)
    sequence = train_features[0].ndim == 2
    if sequence and config.mixup:
        raise ValueError(
            "mixup needs vector features (a mix of two log-mel sequences of different lengths is not defined here)"
        )
    n_inputs = train_features[0].shape[0]
    model = build_model(ModelConfig(config.model, config.model_options), n_inputs, n_classes)
    group_ids = (
        np.zeros(len(y_train), dtype=np.int64)
        if train_groups is None
        else np.unique(np.asarray(train_groups).astype(str), return_inverse=True)[1].astype(np.int64)
    )
    n_groups = int(group_ids.max()) + 1 if len(group_ids) else 1
    if config.adversarial and train_groups is None:
        raise ValueError("the corpus-adversarial loss needs train_groups (the corpus of each clip)")
    heads = AuxiliaryHeads(model.fc.in_features, n_groups, config, n_classes, labels)
    heads = heads if heads.active else None
    if not sequence:
        model.fit_normalization(torch.from_numpy(np.stack(train_features)).float())
    model.to(device)
    if heads is not None:
        heads.to(device)
    if world > 1 and torch.device(device).type == "cuda":
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)  # same state-dict keys
    if sample_weights is None:
        counts = np.bincount(y_train, minlength=n_classes).astype(np.float64)
        per_class = (
            counts.sum() / np.maximum(counts, 1) / n_classes if config.class_weighting else np.ones(n_classes)
        )
        sample_weights = per_class[y_train]
    weights = np.asarray(sample_weights, dtype=np.float32)
    masks = (
        np.ones((len(y_train), n_classes), dtype=bool)
        if train_masks is None
        else np.asarray(train_masks, bool)
    )
    views = [train_features, *(train_views or [])]
    trained = list(model.parameters()) + (list(heads.parameters()) if heads is not None else [])
    optimizer = torch.optim.AdamW(trained, lr=config.lr, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, config.epochs))
    fps = (feature_config or FeatureConfig()).frames_per_second
    crop = int(round(config.crop_seconds * fps))
    history: list[dict] = []
    best = {"score": -math.inf, "epoch": -1, "state": copy.deepcopy(model.state_dict())}
    first_epoch = 0
    state_path = Path(state_path) if state_path else None
    state = _read_state(state_path, None) if state_path is not None else None
    if state is not None:
        if state.get("config") == config.to_dict():
            model.load_state_dict(state["model"])
            if heads is not None and state.get("heads"):
                heads.load_state_dict(state["heads"])
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            history = list(state["history"])
            best = {"score": state["best_score"], "epoch": state["best_epoch"], "state": state["best_state"]}
            first_epoch = int(state["epoch"]) + 1
    forward = ddp.wrap_ddp(model, torch.device(device))
    bar = tqdm(
        range(first_epoch, config.epochs),
        desc=f"train {config.model}",
        disable=not (progress and main),
        unit="epoch",
    )
    for epoch in bar:
        if epoch - best["epoch"] > config.patience and best["epoch"] >= 0:
            break
        rng = np.random.default_rng([config.seed, epoch])
        # dropout: reproducible after a resume, independent between torchrun processes
        torch.manual_seed(config.seed * 100_003 + epoch + 1_000_003 * rank)
        model.train()
        order = rng.permutation(len(y_train))
        total, seen = 0.0, 0
        for i in range(0, len(order), config.batch_size):
            idx = order[i : i + config.batch_size]
            if len(idx) < max(2, world):
                continue
            pick = rng.integers(0, len(views), size=len(idx)) if len(views) > 1 else np.zeros(len(idx), int)
            items = [views[k][j] for k, j in zip(pick, idx, strict=True)]
            if sequence:
                items = [_crop(a, crop, rng) for a in items]
                if config.augment:
                    items = [augment_spectrogram(a, rng) for a in items]
            x, lengths = _to_tensor_batch(items)
            if not sequence and config.augment:
                x = (
                    x
                    + torch.from_numpy(rng.normal(0, 0.05, size=x.shape).astype(np.float32))
                    * model.norm.std.cpu()
                )
            q = smoothed_targets(y_train[idx], masks[idx], config.label_smoothing)
            mask_b, weight_b = masks[idx], weights[idx]
            corpus_q = np.eye(n_groups, dtype=np.float32)[group_ids[idx]]
            if config.mixup:
                lam = rng.beta(config.mixup, config.mixup, size=len(idx)).astype(np.float32)
                partner = mixup_partners(group_ids[idx], rng, config.mixup_across_corpora)
                lam_t = torch.from_numpy(lam)[:, None]
                x = lam_t * x + (1 - lam_t) * x[torch.from_numpy(partner)]
                q = lam[:, None] * q + (1 - lam[:, None]) * q[partner]
                corpus_q = lam[:, None] * corpus_q + (1 - lam[:, None]) * corpus_q[partner]
                mask_b = mask_b | mask_b[partner]
                weight_b = lam * weight_b + (1 - lam) * weight_b[partner]
            # every process prepared the whole global batch (same random draws); it trains on its slice
            mine = np.array_split(np.arange(len(idx)), world)[rank]
            if world > 1:
                x = x[torch.from_numpy(mine)]
                lengths = None if lengths is None else lengths[torch.from_numpy(mine)]
            x = x.to(device)
            lengths = None if lengths is None else lengths.to(device)
            w_mine = torch.from_numpy(weight_b[mine]).to(device)
            if heads is None:
                logits = forward(x, lengths)
            else:
                logits, embedding = forward(x, lengths, with_embedding=True)
            loss = soft_cross_entropy(
                logits,
                torch.from_numpy(q[mine]).to(device),
                torch.from_numpy(mask_b[mine]).to(device),
                w_mine,
            )
            if heads is not None:
                progress_share = (epoch + i / max(1, len(order))) / max(1, config.epochs)
                loss = loss + heads.loss(
                    embedding,
                    torch.from_numpy(q[mine]).to(device),
                    torch.from_numpy(corpus_q[mine]).to(device),
                    w_mine,
                    progress_share,
                )
            if world > 1:  # DDP averages over processes: weight the slice's share of the batch
                loss = loss * (world * float(weight_b[mine].sum()) / float(weight_b.sum()))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if heads is not None and world > 1:  # the heads are outside DDP: average their gradients
                for p in heads.parameters():
                    if p.grad is not None:
                        p.grad.copy_(ddp.all_reduce_mean(p.grad))
            nn.utils.clip_grad_norm_(trained, 5.0)
            optimizer.step()
            total += float(ddp.all_reduce_mean(loss.detach())) * len(idx)
            seen += len(idx)
        scheduler.step()
        ddp.broadcast_buffers(model)  # BatchNorm statistics: every process keeps rank 0's
        record = {"epoch": epoch, "train_loss": total / max(seen, 1), "lr": optimizer.param_groups[0]["lr"]}
        if len(y_val) and main:
            logits = predict_logits(model, val_features)
            vmask = None if val_masks is None else torch.from_numpy(np.asarray(val_masks, bool))
            if vmask is not None:
                logits = logits.masked_fill(~vmask, -1e9)
            record["val_loss"] = float(F.cross_entropy(logits, torch.from_numpy(y_val)))
            predicted = logits.argmax(1).numpy()
            s = scores(y_val, predicted, n_classes)
            record["val_accuracy"], record["val_balanced_accuracy"] = s["accuracy"], s["balanced_accuracy"]
            if val_groups is not None:
                groups = np.asarray(val_groups)
                per_group = [
                    scores(y_val[groups == g], predicted[groups == g], n_classes)["balanced_accuracy"]
                    for g in sorted(set(groups))
                ]
                record["val_balanced_accuracy"] = float(np.mean(per_group))
            score = record["val_balanced_accuracy"] - 1e-3 * record["val_loss"]
        elif not len(y_val):  # nothing to validate on: keep the last epoch
            score = float(epoch)
        # rank 0's validation decides for every process (so all stop at the same epoch)
        record, score = ddp.broadcast_object((record, score) if main else None)
        history.append(record)
        if score > best["score"]:
            best = {"score": score, "epoch": epoch, "state": copy.deepcopy(model.state_dict())}
        bar.set_postfix(
            loss=f"{record['train_loss']:.3f}", val=f"{record.get('val_balanced_accuracy', float('nan')):.3f}"
        )
        if state_path is not None and main:
            _save_state(state_path, model, optimizer, scheduler, epoch, history, best, config, heads)
    del forward
    model.load_state_dict(best["state"])
    model.eval()
    ddp.barrier()  # every process has read the state file before rank 0 removes it
    if state_path is not None and main and state_path.exists():
        state_path.unlink()
    if config.refit and len(y_val) and best["epoch"] >= 0:
        refit_config = TrainConfig(
            **{**config.to_dict(), "refit": False, "epochs": best["epoch"] + 1, "patience": config.epochs}
        )
        if train_views or train_masks is not None:
            raise ValueError("refit works on single-corpus training without views or label masks")
        again = fit(
            list(train_features) + list(val_features),
            np.concatenate([y_train, y_val]),
            [],
            [],
            n_classes,
            refit_config,
            feature_config,
            state_path=None if state_path is None else state_path.with_name(state_path.name + ".refit"),
            progress=progress,
            device=device,
        )
        history = history + [{**h, "refit": True} for h in again.history]
        model = again.model
    return FitResult(model, history, best["epoch"], best["score"], time.perf_counter() - start_time)


def _read_state(path: Path | None, log=None) -> dict | None:
    """A resume file written by this module, or None when absent or unreadable (a damaged
    file from an older version is reported and ignored: training restarts that part)."""
    if path is None or not Path(path).exists():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated or foreign file: start this part again
        if log:
            log(f"ignored unreadable resume state {path} ({type(exc).__name__})")
        return None
    return state if isinstance(state, dict) else None


def masked_cross_entropy(
    logits: torch.Tensor,
    target: torch.Tensor,
    mask: torch.Tensor,
    weight: torch.Tensor,
    label_smoothing: float = 0.0,
) -> torch.Tensor:
    """Weighted, label-smoothed cross-entropy whose softmax runs over each row's allowed labels.

    Parameters
    ----------
    logits : (n, C) tensor
    target : (n,) long tensor, each within its row's mask
    mask : (n, C) bool tensor of the labels each row may take
    weight : (n,) tensor of per-row weights; the loss is ``sum(w * l) / sum(w)``
    label_smoothing : float
        Spread over the row's allowed labels only.
    """
    allowed = mask.float()
    smooth = allowed / allowed.sum(dim=1, keepdim=True)
    q = (1.0 - label_smoothing) * F.one_hot(target, logits.shape[1]).float() + label_smoothing * smooth
    return soft_cross_entropy(logits, q, mask, weight)


def soft_cross_entropy(
    logits: torch.Tensor, target_probs: torch.Tensor, mask: torch.Tensor, weight: torch.Tensor
) -> torch.Tensor:
    """Weighted cross-entropy against target distributions ``(n, C)``, each row's softmax over
    its allowed labels ``mask`` (targets outside the mask must be 0)."""
    logp = torch.log_softmax(logits.masked_fill(~mask, -1e9), dim=1).masked_fill(~mask, 0.0)
    per_row = -(target_probs * logp).sum(dim=1)
    return (weight * per_row).sum() / weight.sum().clamp_min(1e-12)


def smoothed_targets(labels: np.ndarray, masks: np.ndarray, label_smoothing: float) -> np.ndarray:
    """One-hot targets ``(n, C)`` with ``label_smoothing`` spread over each row's allowed labels."""
    masks = np.asarray(masks, bool)
    one_hot = np.eye(masks.shape[1], dtype=np.float32)[np.asarray(labels)]
    spread = masks / masks.sum(axis=1, keepdims=True)
    return ((1.0 - label_smoothing) * one_hot + label_smoothing * spread).astype(np.float32)


def mixup_partners(groups: np.ndarray, rng: np.random.Generator, across: bool = True) -> np.ndarray:
    """Index of each row's mixup partner within a batch: a random row, from another group
    (corpus) when ``across`` and the batch holds one."""
    groups = np.asarray(groups)
    partner = rng.permutation(len(groups))
    if across:
        for i in range(len(groups)):
            others = np.flatnonzero(groups != groups[i])
            if others.size:
                partner[i] = others[int(rng.integers(others.size))]
    return partner


class _GradientReversal(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, coeff):
        ctx.coeff = coeff
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return -ctx.coeff * grad, None


def gradient_reversal(x: torch.Tensor, coeff: float) -> torch.Tensor:
    """Identity forward, gradient times ``-coeff`` backward (Ganin & Lempitsky 2015)."""
    return _GradientReversal.apply(x, coeff)


class AuxiliaryHeads(nn.Module):
    """Training-only heads on a classifier's representation (never saved in a checkpoint).

    ``corpus``: a 64-unit MLP guessing the corpus through :func:`gradient_reversal` (weight
    ``config.adversarial``; coefficient ``2 / (1 + exp(-10 p)) - 1`` over training progress
    ``p``, DANN's schedule). ``arousal_valence``: a linear regression onto the target's expected
    (arousal, valence) (:data:`~s2e_lib.emotions.AROUSAL_VALENCE`; weight ``config.arousal_valence``).
    """

    def __init__(self, width: int, n_groups: int, config: TrainConfig, n_classes: int, labels=None):
        super().__init__()
        self.adversarial = float(config.adversarial) if n_groups > 1 else 0.0
        self.av_weight = float(config.arousal_valence)
        self.corpus = (
            nn.Sequential(nn.Linear(width, 64), nn.ReLU(), nn.Linear(64, n_groups))
            if self.adversarial
            else None
        )
        self.arousal_valence = nn.Linear(width, 2) if self.av_weight else None
        if self.av_weight:
            names = list(labels) if labels is not None else list(MISSION_EMOTIONS)
            if len(names) != n_classes or any(n not in AROUSAL_VALENCE for n in names):
                raise ValueError(f"no arousal/valence for labels {names} (n_classes {n_classes})")
            self.register_buffer(
                "av_table", torch.tensor([AROUSAL_VALENCE[n] for n in names], dtype=torch.float32)
            )

    @property
    def active(self) -> bool:
        return self.corpus is not None or self.arousal_valence is not None

    def loss(self, embedding, target_probs, corpus_probs, weight, progress: float) -> torch.Tensor:
        total = embedding.new_zeros(())
        if self.corpus is not None:
            coeff = 2.0 / (1.0 + math.exp(-10.0 * min(max(progress, 0.0), 1.0))) - 1.0
            logits = self.corpus(gradient_reversal(embedding, coeff))
            ones = torch.ones_like(corpus_probs, dtype=torch.bool)
            total = total + self.adversarial * soft_cross_entropy(logits, corpus_probs, ones, weight)
        if self.arousal_valence is not None:
            target = target_probs @ self.av_table
            err = ((self.arousal_valence(embedding) - target) ** 2).sum(dim=1)
            total = total + self.av_weight * (weight * err).sum() / weight.sum().clamp_min(1e-12)
        return total


def balanced_weights(labels: Sequence[int], groups: Sequence[str]) -> np.ndarray:
    """Per-clip weights that balance corpora and, within each corpus, its labels.

    Every corpus (group) gets the same total weight, shared equally by the labels it has,
    shared equally by that label's clips; the weights average 1. With one group this is
    inverse class frequency.
    """
    labels = np.asarray(labels)
    groups = np.asarray(groups)
    weights = np.zeros(len(labels), dtype=np.float64)
    names = sorted(set(groups.tolist()))
    for g in names:
        in_group = groups == g
        present = sorted(set(labels[in_group].tolist()))
        for c in present:
            rows = in_group & (labels == c)
            weights[rows] = 1.0 / (len(names) * len(present) * rows.sum())
    return (weights * len(labels) / weights.sum()).astype(np.float32)


def _save_state(path: Path, model, optimizer, scheduler, epoch, history, best, config, heads=None) -> None:
    state = {
        "model": model.state_dict(),
        "heads": heads.state_dict() if heads is not None else {},
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "epoch": epoch,
        "history": history,
        "best_score": best["score"],
        "best_epoch": best["epoch"],
        "best_state": best["state"],
        "config": config.to_dict(),
    }
    with atomic_output(path) as tmp:
        torch.save(state, tmp)


def check_centrable(config: TrainConfig, feature_config: FeatureConfig) -> None:
    """InputError when ``config.speaker_centred`` asks to centre sequence features, or
    ``config.mixup`` to mix them."""
    if config.speaker_centred and feature_config.kind == "logmel":
        raise InputError(
            f"speaker-centred training needs vector features, not {feature_config.kind!r} "
            f"(model {config.model!r}); use e.g. --features {DEFAULT_FEATURES['mlp']}"
        )
    if config.mixup and feature_config.kind == "logmel":
        raise InputError(
            f"mixup mixes feature vectors, not {feature_config.kind!r} sequences (model {config.model!r}); "
            f"use e.g. --features {DEFAULT_FEATURES['mlp']}"
        )


def default_feature_config(model: str) -> FeatureConfig:
    return FeatureConfig(kind=DEFAULT_FEATURES.get(model, "logmel"))


def labels_of(emotions: Sequence[str], labels: Sequence[str] = MISSION_EMOTIONS) -> np.ndarray:
    index = {label: i for i, label in enumerate(labels)}
    return np.array([index[e] for e in emotions], dtype=np.int64)


def extract_dataset(
    df, feature_config: FeatureConfig, cache_dir=None, n_jobs: int = 1, progress: bool = True
) -> tuple[list[np.ndarray], list[int], list[str]]:
    """Features of every row of a scanned table, skipping unreadable or silent files.

    Returns ``(features, kept_row_positions, problems)``; each problem is one line naming the file.
    """
    paths = list(df["audio_path"])
    try:
        features = extract_files(paths, feature_config, cache_dir=cache_dir, n_jobs=n_jobs, progress=progress)
        return features, list(range(len(paths))), []
    except InputError:
        pass  # at least one bad file: go file by file to name them all
    features, kept, problems = [], [], []
    for i, p in enumerate(paths):
        try:
            features.append(extract_file(p, feature_config, cache_dir))
            kept.append(i)
        except InputError as exc:
            problems.append(str(exc))
    return features, kept, problems


def augmented_views(
    df,
    feature_config: FeatureConfig,
    config: TrainConfig,
    cache_dir=None,
    n_jobs: int = 1,
    progress: bool = True,
) -> list[list[np.ndarray]]:
    """Features of the augmented copies of every clip of ``df`` (:attr:`TrainConfig.augment_copies`
    random draws of :attr:`TrainConfig.augmentation`, :attr:`TrainConfig.phone_copies` draws through
    a phone, then one copy per :attr:`TrainConfig.speeds`).

    Each draw is seeded by (``config.seed``, the file name, the copy number): reproducible on
    any machine, and cached like every feature.
    """
    import json

    paths = list(df["audio_path"])
    spec = json.dumps(config.augmentation, sort_keys=True) if config.augmentation else ""
    from s2e_lib.audio.augment import PHONE_AUGMENTATION

    phone_spec = json.dumps({**PHONE_AUGMENTATION, **config.augmentation}, sort_keys=True)
    # (spec, first copy number of its seeds, copies, name): phone copies are seeded apart
    kinds = [(spec, 0, config.augment_copies, "augmented"), (phone_spec, 1000, config.phone_copies, "phone")]
    views = []
    for kind_spec, first, copies, name in kinds:
        for k in range(copies):
            transforms = [
                Transform("augment", kind_spec, clip_seed(p, first + k, config.seed)) for p in paths
            ]
            views.append(
                extract_files(
                    paths,
                    feature_config,
                    cache_dir,
                    n_jobs,
                    progress,
                    transforms=transforms,
                    desc=f"{name} copy {k + 1}/{copies}",
                )
            )
    for speed in config.speeds:
        views.append(extract_files(paths, feature_config, cache_dir, n_jobs, progress, speed=speed))
    return views


def train(
    data,
    out: str | os.PathLike,
    config: TrainConfig | None = None,
    feature_config: FeatureConfig | None = None,
    test_speakers: Sequence[str] | None = None,
    labels: Sequence[str] = MISSION_EMOTIONS,
    cache_dir=None,
    n_jobs: int = 1,
    progress: bool = True,
    overwrite: bool = False,
    log=print,
) -> dict:
    """Train on one or several corpora and write one checkpoint (the job behind ``s2e ser train``).

    Parameters
    ----------
    data : path-like, list of path-likes, or pandas.DataFrame
        MEAD roots, RAVDESS roots or manifest CSVs (several: one multi-corpus model; speakers
        are then named ``<corpus>/<speaker>``), or a table from
        :func:`~s2e_lib.ser.dataset.scan_corpora`.
    out : path-like
        Checkpoint file to write (refused if it exists unless ``overwrite``).
    config : TrainConfig
    feature_config : FeatureConfig, optional
        Default: the model's usual feature (:data:`DEFAULT_FEATURES`).
    test_speakers : list of str, optional
        Speakers held out of training and scored at the end (figures go in the checkpoint).
    labels : sequence of str
        Emotions to learn (default the mission five). A corpus lacking some of them
        trains with a softmax over the labels it has (:func:`masked_cross_entropy`).
    log : callable
        Receives one-line progress messages.

    Returns
    -------
    dict
        ``path`` of the checkpoint, its ``metrics`` and ``data`` summary.

    Notes
    -----
    Clips are weighted so that every corpus counts equally and, within a corpus, every
    label (:func:`balanced_weights`); early stopping uses held-out speakers of every corpus
    and the mean of their per-corpus balanced accuracies. Interrupted runs resume: finished
    ensemble members and the running member's per-epoch state live in ``.<out name>.train/``
    beside ``out`` until the checkpoint is written.

    Under ``torchrun`` each process extracts the features of its share of the clips into the
    feature cache, then reads them all from it (without a cache, ``cache_dir=False``, every
    process extracts everything), and trains each member data-parallel (:func:`fit`); rank 0
    logs and writes the resume files and the checkpoint, which must then be on a filesystem
    every process sees (the cache too, for the shared extraction to help across machines).
    """
    work = Path(out).parent / f".{Path(out).name}.train"
    existed = work.exists()
    with ddp.distributed_session():
        # one writer per output: rank 0 holds the lock on the resume folder (as s2e run on its folder)
        lock = output_lock(work) if ddp.is_main() else contextlib.nullcontext()
        try:
            with lock:
                result = _train_job(
                    data,
                    out,
                    config,
                    feature_config,
                    test_speakers,
                    labels,
                    cache_dir,
                    n_jobs,
                    progress,
                    overwrite,
                    log,
                )
        finally:
            if ddp.is_main() and not existed:
                remove_if_only_locks(work)
        ddp.barrier()  # the other processes return once rank 0 has written the checkpoint
    return result


def _train_job(
    data, out, config, feature_config, test_speakers, labels, cache_dir, n_jobs, progress, overwrite, log
) -> dict:
    import shutil

    main = ddp.is_main()
    if not main:  # rank 0 reports for the job
        progress = False

        def log(line: str) -> None:
            pass

    config = config or TrainConfig()
    feature_config = feature_config or default_feature_config(config.model)
    check_centrable(config, feature_config)
    out = check_output(out, overwrite=overwrite)
    labels = list(labels)
    if hasattr(data, "columns"):  # an already scanned table
        df = data[data["emotion"].isin(labels)].reset_index(drop=True)
        if "corpus" not in df:
            df["corpus"] = "corpus"
        sources = df.attrs.get("sources", [df.attrs.get("root", "table")])
    else:
        sources = [data] if isinstance(data, (str, os.PathLike)) else list(data)
        df = scan_corpora(sources, emotions=labels)
    df["corpus"] = df["corpus"].astype(str)
    source_name = ", ".join(str(s) for s in sources)
    speakers_all = sorted(df["speaker"].astype(str).unique())
    test_speakers = [str(s) for s in (test_speakers or [])]
    unknown = [s for s in test_speakers if s not in speakers_all]
    if unknown:
        raise InputError(
            f"{source_name}: test speakers not found: {', '.join(unknown)} (speakers: {', '.join(speakers_all)})"
        )
    if cache_dir is not False:
        from s2e_lib.audio.features import feature_cache_dir

        log(f"feature cache: {cache_dir or feature_cache_dir()} (S2E_CACHE moves it)")
    if ddp.world_size() > 1 and cache_dir is not False:
        # each process fills the feature cache for its share of the clips, then all read it all
        share = df.iloc[ddp.rank() :: ddp.world_size()]
        _, kept_share, _ = extract_dataset(share, feature_config, cache_dir, n_jobs, progress)
        augmented_views(share.iloc[kept_share], feature_config, config, cache_dir, n_jobs, progress)
        ddp.barrier()
    features, kept, problems = extract_dataset(df, feature_config, cache_dir, n_jobs, progress)
    for line in problems:
        log(f"skipped {line}")
    df = df.iloc[kept].reset_index(drop=True)
    views = augmented_views(df, feature_config, config, cache_dir, n_jobs, progress)
    y = labels_of(df["emotion"], labels)
    masks, present = corpus_label_masks(df, labels)
    corpora = df["corpus"].to_numpy()
    speakers = df["speaker"].astype(str).to_numpy()
    if config.speaker_centred:
        features, views = centre_views(features, views, speakers)
    genders = dict(zip(speakers, df["gender"].fillna("").astype(str), strict=False))
    test_mask = np.isin(speakers, test_speakers)
    train_speakers = sorted(set(speakers[~test_mask]))
    if len(train_speakers) < 2:
        raise InputError(f"{source_name}: need at least 2 training speakers, found {len(train_speakers)}")
    work = out.parent / f".{out.name}.train"
    if main:
        work.mkdir(parents=True, exist_ok=True)
    members, histories, member_info = [], [], []
    for m in range(config.n_models):
        member_config = TrainConfig(**{**config.to_dict(), "seed": config.seed + m, "n_models": 1})
        val = corpus_val_speakers(
            speakers[~test_mask], corpora[~test_mask], genders, config.val_speakers, seed=config.seed + m
        )
        val_mask = np.isin(speakers, val)
        fit_idx = np.flatnonzero(~test_mask & ~val_mask)
        val_idx = np.flatnonzero(val_mask)
        done = work / f"member_{m}.pt"
        saved = _read_state(done, log)
        if saved is not None:
            if saved.get("config") == member_config.to_dict():
                model = build_model(
                    ModelConfig(config.model, config.model_options), features[0].shape[0], len(labels)
                )
                model.load_state_dict(saved["state"])
                members.append(model.eval())
                histories.append(saved["history"])
                member_info.append(saved["info"])
                log(f"member {m + 1}/{config.n_models}: resumed finished member")
                continue
        log(
            f"member {m + 1}/{config.n_models}: {len(fit_idx)} clips from "
            f"{len(set(speakers[fit_idx]))} speakers, validation speakers {', '.join(val)}"
        )
        result = fit_split(
            features,
            views,
            y,
            masks,
            corpora,
            fit_idx,
            val_idx,
            len(labels),
            member_config,
            feature_config,
            state_path=work / f"member_{m}.state.pt",
            progress=progress,
            labels=labels,
        )
        best = result.history[result.best_epoch] if result.history else {}
        info = {
            "seed": member_config.seed,
            "val_speakers": val,
            "best_epoch": result.best_epoch,
            "val_accuracy": best.get("val_accuracy"),
            "val_balanced_accuracy": best.get("val_balanced_accuracy"),
            "train_seconds": round(result.seconds, 1),
        }
        if main:  # kill -9 never leaves a truncated member
            _save_member(done, member_config, result, info)
        members.append(result.model.cpu().eval())
        histories.append(result.history)
        member_info.append(info)
    model = members[0] if len(members) == 1 else Ensemble(members).eval()
    metrics: dict = {"members": member_info}
    if test_mask.any() and main:
        test_idx = np.flatnonzero(test_mask)
        logits = predict_logits(model, [features[i] for i in test_idx])
        s = scores(y[test_mask], logits.argmax(1).numpy(), len(labels))
        metrics["test"] = {"speakers": test_speakers, **s}
        log(
            f"test speakers {', '.join(test_speakers)}: accuracy {s['accuracy']:.3f}, balanced accuracy {s['balanced_accuracy']:.3f} (n={s['n']})"
        )
    data_summary = {
        "source": source_name,
        "sources": [str(s) for s in sources],
        "corpus": sorted(set(corpora.tolist())),
        "corpus_labels": present,
        "train_speakers": train_speakers,
        "test_speakers": test_speakers,
        "n_clips": int((~test_mask).sum()),
        "per_label": {label: int(((y == i) & ~test_mask).sum()) for i, label in enumerate(labels)},
        "per_corpus": {c: int(((corpora == c) & ~test_mask).sum()) for c in sorted(set(corpora.tolist()))},
        "skipped_files": len(problems),
    }
    if not main:
        return {"path": str(out), "metrics": metrics, "data": data_summary}
    save_checkpoint(
        out,
        members,
        labels,
        feature_config,
        ModelConfig(config.model, config.model_options),
        features[0].shape[0],
        train_config=config.to_dict(),
        data=data_summary,
        metrics=metrics,
        history=histories,
        overwrite=True,
        weights_dtype=config.weights_dtype,
    )
    shutil.rmtree(work, ignore_errors=True)
    return {"path": str(out), "metrics": metrics, "data": data_summary}


def _save_member(path: Path, member_config: TrainConfig, result: FitResult, info: dict) -> None:
    """A finished ensemble member, for a resumed run to pick up."""
    with atomic_output(path, own_output=True) as tmp:
        torch.save(
            {
                "config": member_config.to_dict(),
                "state": result.model.state_dict(),
                "history": result.history,
                "info": info,
            },
            tmp,
        )


def fit_split(
    features: Sequence[np.ndarray],
    views: Sequence[Sequence[np.ndarray]],
    y: np.ndarray,
    masks: np.ndarray,
    corpora: np.ndarray,
    fit_idx: np.ndarray,
    val_idx: np.ndarray,
    n_classes: int,
    config: TrainConfig,
    feature_config: FeatureConfig | None = None,
    state_path=None,
    progress: bool = False,
    labels: Sequence[str] | None = None,
) -> FitResult:
    """:func:`fit` on the rows ``fit_idx`` of a (multi-corpus) table, validated on ``val_idx``:
    corpus- and label-balanced weights (:attr:`TrainConfig.balance`), per-corpus label masks,
    augmented views, early stopping on the mean per-corpus balanced accuracy."""
    fit_idx = np.asarray(fit_idx)
    val_idx = np.asarray(val_idx)
    weights = balanced_weights(y[fit_idx], corpora[fit_idx]) if config.balance else None
    return fit(
        [features[i] for i in fit_idx],
        y[fit_idx],
        [features[i] for i in val_idx],
        y[val_idx],
        n_classes,
        config,
        feature_config,
        state_path=state_path,
        progress=progress,
        sample_weights=weights,
        train_masks=masks[fit_idx],
        val_masks=masks[val_idx],
        val_groups=corpora[val_idx],
        train_views=[[v[i] for i in fit_idx] for v in views] or None,
        train_groups=corpora[fit_idx],
        labels=labels,
    )
