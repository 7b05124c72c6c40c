"""Speaker-independent evaluation: gender-balanced speaker folds and cross-validation.

Emotion models learn speakers as readily as emotions, so every figure here comes from
speakers that were not trained on: each fold's test speakers are held out entirely,
and early stopping uses other held-out training speakers (never the test fold).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from s2e_lib.audio.features import FeatureConfig
from s2e_lib.ser.train import TrainConfig, choose_val_speakers, fit, predict_logits, scores


def speaker_folds(speakers: Sequence[str], genders: dict[str, str], n_folds: int = 4) -> list[list[str]]:
    """Split speakers into ``n_folds`` test groups, each with as even a gender mix as possible.

    Deterministic: speakers are sorted, then dealt per gender round-robin into folds.
    """
    by_gender: dict[str, list[str]] = {}
    for s in sorted(set(speakers)):
        by_gender.setdefault(genders.get(s) or "?", []).append(s)
    folds: list[list[str]] = [[] for _ in range(n_folds)]
    for pool in by_gender.values():
        per_fold = int(np.ceil(len(pool) / n_folds))
        for k in range(n_folds):
            folds[k].extend(pool[k * per_fold : (k + 1) * per_fold])
    return [sorted(f) for f in folds if f]


def cross_validate(
    features: Sequence[np.ndarray],
    labels: Sequence[int],
    speakers: Sequence[str],
    genders: dict[str, str],
    n_classes: int,
    config: TrainConfig,
    feature_config: FeatureConfig | None = None,
    n_folds: int = 4,
    progress: bool = False,
    log=None,
    augmented: dict | None = None,
) -> dict:
    """Speaker-held-out cross-validation of ``config``.

    ``augmented`` maps a name (e.g. a speed) to features of perturbed copies of every clip,
    aligned with ``features``; the copies of fitting clips join the training set.

    Returns
    -------
    dict
        ``accuracy``, ``balanced_accuracy``, ``n``, ``confusion`` over all held-out clips,
        ``folds`` (per-fold scores and speakers), ``probabilities`` (n_clips, n_classes)
        out-of-fold, and ``train_seconds`` (mean per fold).
    """
    labels = np.asarray(labels)
    speakers = np.asarray(speakers)
    probs = np.zeros((len(labels), n_classes), dtype=np.float32)
    folds_out, seconds = [], []
    for k, test in enumerate(speaker_folds(speakers, genders, n_folds)):
        test_mask = np.isin(speakers, test)
        train_speakers = sorted(set(speakers[~test_mask]))
        fold_probs = np.zeros((int(test_mask.sum()), n_classes), dtype=np.float32)
        for m in range(config.n_models):
            val = choose_val_speakers(
                train_speakers, genders, config.val_speakers, seed=config.seed + 100 * k + m
            )
            val_mask = np.isin(speakers, val)
            fit_mask = ~test_mask & ~val_mask
            member = TrainConfig(**{**config.to_dict(), "seed": config.seed + m, "n_models": 1})
            fit_idx = np.flatnonzero(fit_mask)
            extra = [a[i] for a in (augmented or {}).values() for i in fit_idx]
            result = fit(
                [features[i] for i in fit_idx] + extra,
                np.concatenate([labels[fit_mask]] * (1 + len(augmented or {}))),
                [features[i] for i in np.flatnonzero(val_mask)],
                labels[val_mask],
                n_classes,
                member,
                feature_config,
                progress=progress,
            )
            seconds.append(result.seconds)
            logits = predict_logits(result.model, [features[i] for i in np.flatnonzero(test_mask)])
            fold_probs += torch.softmax(logits, dim=1).numpy() / config.n_models
        probs[test_mask] = fold_probs
        s = scores(labels[test_mask], fold_probs.argmax(1), n_classes)
        folds_out.append(
            {"test_speakers": list(test), **{k2: s[k2] for k2 in ("accuracy", "balanced_accuracy", "n")}}
        )
    overall = scores(labels, probs.argmax(1), n_classes)
    return {**overall, "folds": folds_out, "probabilities": probs, "train_seconds": float(np.mean(seconds))}


def evaluate_files(model, data, speakers=None, progress: bool = True, log=None) -> dict:
    """Score an :class:`~s2e_lib.ser.predict.EmotionModel` on the labelled clips of ``data``.

    Every file goes through :meth:`EmotionModel.predict_file` (the path users take).
    Clips whose label the model lacks are left out; unreadable or silent files are
    skipped and reported through ``log`` (one line each, naming the file).

    Returns
    -------
    dict
        ``accuracy, balanced_accuracy, n, labels, confusion`` (rows true, columns
        predicted), ``per_speaker`` and ``per_level`` accuracy, ``n_skipped``,
        ``model`` and ``data`` (per-clip predictions: :func:`predict_table`).
    """
    table = predict_table(model, data, speakers=speakers, progress=progress, log=log)
    return summarize(
        table,
        model.labels,
        extra={"model": str(model.path), "data": str(data), "n_skipped": table.attrs["n_skipped"]},
    )


def predict_table(model, data, speakers=None, progress: bool = True, log=None):
    """One row per scored clip: the scan columns plus ``predicted`` and ``p_<label>`` columns."""
    from tqdm.auto import tqdm

    from s2e_lib.errors import S2EError
    from s2e_lib.ser.dataset import scan_speech

    df = scan_speech(data, emotions=model.labels, speakers=speakers)
    rows, skipped = [], 0
    for row in tqdm(
        df.itertuples(index=False), total=len(df), desc="eval", disable=not progress, unit="clip"
    ):
        try:
            result = model.predict_file(row.audio_path)
        except S2EError as exc:
            skipped += 1
            if log:
                log(str(exc))
            continue
        rows.append(
            {
                **row._asdict(),
                "predicted": result["emotion"],
                **{f"p_{k}": v for k, v in result["probabilities"].items()},
            }
        )
    import pandas as pd

    table = pd.DataFrame(rows)
    table.attrs["n_skipped"] = skipped
    return table


def summarize(table, labels, extra: dict | None = None) -> dict:
    """Scores of a prediction table (columns ``emotion``, ``predicted``, ``speaker``, ``level``)."""
    labels = list(labels)
    index = {label: i for i, label in enumerate(labels)}
    if len(table) == 0:
        out = {"accuracy": float("nan"), "balanced_accuracy": float("nan"), "n": 0, "confusion": []}
    else:
        out = scores(
            table["emotion"].map(index).to_numpy(), table["predicted"].map(index).to_numpy(), len(labels)
        )
    out["labels"] = labels
    correct = (table["emotion"] == table["predicted"]) if len(table) else None
    out["per_speaker"] = (
        {}
        if correct is None
        else {str(k): float(v) for k, v in correct.groupby(table["speaker"]).mean().items()}
    )
    out["per_level"] = (
        {}
        if correct is None
        else {str(k): float(v) for k, v in correct.groupby(table["level"]).mean().items()}
    )
    out.update(extra or {})
    return out


def feature_table(model, df, cache_dir=None, progress: bool = True):
    """Like :func:`predict_table` for a scanned table, but from cached features (fast re-runs).

    Each clip is classified whole (corpus clips are a few seconds; use :func:`predict_table`
    for the windowed path users take on long recordings).
    """
    from s2e_lib.audio.features import extract_files
    from s2e_lib.ser.train import predict_logits

    df = df[df["emotion"].isin(model.labels)].reset_index(drop=True)
    feats = extract_files(df["audio_path"], model.feature_config, cache_dir=cache_dir, progress=progress)
    probs = torch.softmax(predict_logits(model.model, feats), dim=1).numpy()
    table = df.copy()
    table["predicted"] = [model.labels[i] for i in probs.argmax(axis=1)]
    for i, label in enumerate(model.labels):
        table[f"p_{label}"] = probs[:, i]
    table.attrs["n_skipped"] = 0
    return table
