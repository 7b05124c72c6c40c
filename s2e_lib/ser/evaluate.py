"""Speaker-independent evaluation: gender-balanced speaker folds and cross-validation.

Emotion models learn speakers as readily as emotions, so every figure here comes from
speakers that were not trained on: each fold's test speakers are held out entirely,
and early stopping uses other held-out training speakers (never the test fold).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from s2e_lib.audio.features import FeatureConfig, Transform, clip_seed, extract_files
from s2e_lib.data.splits import choose_val_speakers, corpus_val_speakers, speaker_folds
from s2e_lib.errors import InputError, S2EError
from s2e_lib.ser.adapt import centre_by_speaker
from s2e_lib.ser.dataset import scan_speech
from s2e_lib.ser.infer import predict_logits
from s2e_lib.ser.train import TrainConfig, fit, fit_split, scores


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


def evaluate_files(
    model, data, speakers=None, progress: bool = True, log=None, among: Sequence[str] | None = None
) -> dict:
    """Score an :class:`~s2e_lib.ser.predict.EmotionModel` on the labelled clips of ``data``.

    Every file goes through :meth:`EmotionModel.predict_file` (the path users take).
    Clips whose label the model lacks are left out; unreadable or silent files are
    skipped and reported through ``log`` (one line each, naming the file).

    ``among``: score a closed set, the model's choice among these emotions only (the
    argmax of their probabilities), e.g. a 4-class corpus without fear. By default the
    headline is open-set (all the model's emotions, what the product does); when the data
    holds fewer emotions than the model, ``closed_set`` adds the scores among those.

    Returns
    -------
    dict
        ``accuracy, balanced_accuracy, n, labels, confusion`` (rows true, columns
        predicted), ``per_speaker`` and ``per_level`` accuracy, ``n_skipped``,
        ``model`` and ``data`` (per-clip predictions: :func:`predict_table`), and
        ``closed_set`` when it applies.
    """
    if among is not None:
        unknown = [label for label in among if label not in model.labels]
        if unknown or not among:
            raise InputError(
                f"emotions to score among: {', '.join(unknown) or 'none given'}: not among the "
                f"model's emotions ({', '.join(model.labels)})"
            )
    table = predict_table(model, data, speakers=speakers, progress=progress, log=log)
    extra = {
        "model": str(model.path),
        "data": str(data),
        "n_skipped": table.attrs["n_skipped"],
        "speaker_centred": model.speaker_centred,
    }
    if among is not None:
        return summarize(table, model.labels, extra=extra, among=among)
    out = summarize(table, model.labels, extra=extra)
    present = [label for label in model.labels if len(table) and (table["emotion"] == label).any()]
    if 0 < len(present) < len(model.labels):
        closed = summarize(table, model.labels, among=present)
        out["closed_set"] = {
            k: closed[k] for k in ("accuracy", "balanced_accuracy", "n", "labels", "confusion")
        }
    return out


def predict_table(model, data, speakers=None, progress: bool = True, log=None):
    """One row per scored clip: the scan columns plus ``predicted`` and ``p_<label>`` columns.

    A speaker-centred model hears each speaker's clips relative to the voice profile of
    all that speaker's clips (unlabelled adaptation, :mod:`s2e_lib.ser.adapt`).
    """
    from tqdm.auto import tqdm

    df = scan_speech(data, emotions=model.labels, speakers=speakers)
    rows, skipped = [], 0

    def skip(path, exc) -> None:
        nonlocal skipped
        skipped += 1
        if log:
            log(str(exc))

    bar = tqdm(total=len(df), desc="eval", disable=not progress, unit="clip")
    profile_before = model.profile
    for speaker, group in df.groupby(df["speaker"].astype(str), sort=True):
        try:
            results = model.predict_files(
                list(group["audio_path"]), adapt=model.speaker_centred, on_error=skip
            )
        except S2EError as exc:  # a speaker with under 2 clips of speech: no profile to hear them against
            skipped += len(group)
            if log:
                log(f"speaker {speaker}: {exc}")
            results = []
        by_file = {r["file"]: r for r in results}
        for row in group.itertuples(index=False):
            result = by_file.get(str(row.audio_path))
            if result is not None:
                rows.append(
                    {
                        **row._asdict(),
                        "predicted": result["emotion"],
                        **{f"p_{k}": v for k, v in result["probabilities"].items()},
                    }
                )
        bar.update(len(group))
    bar.close()
    model.profile = profile_before  # each speaker's profile served only their own clips
    import pandas as pd

    table = pd.DataFrame(rows)
    table.attrs["n_skipped"] = skipped
    return table


def summarize(table, labels, extra: dict | None = None, among: Sequence[str] | None = None) -> dict:
    """Scores of a prediction table (columns ``emotion``, ``predicted``, ``speaker``, ``level``).

    ``among``: re-decide each clip among these labels only, from its ``p_<label>``
    columns (clips of other labels are left out), and score over them.
    """
    labels = list(labels)
    if among is not None:
        among = list(among)
        if len(table):
            table = table[table["emotion"].isin(among)].copy()
            probs = table[[f"p_{label}" for label in among]].to_numpy()
            table["predicted"] = [among[i] for i in probs.argmax(axis=1)] if len(table) else []
        labels = among
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
    df = df[df["emotion"].isin(model.labels)].reset_index(drop=True)
    feats = extract_files(df["audio_path"], model.feature_config, cache_dir=cache_dir, progress=progress)
    if model.speaker_centred:  # every speaker against the profile of all their clips
        feats = centre_by_speaker(feats, df["speaker"].astype(str).to_numpy())
    probs = torch.softmax(predict_logits(model.model, feats), dim=1).numpy()
    table = df.copy()
    table["predicted"] = [model.labels[i] for i in probs.argmax(axis=1)]
    for i, label in enumerate(model.labels):
        table[f"p_{label}"] = probs[:, i]
    table.attrs["n_skipped"] = 0
    return table


def fit_members(
    features, views, y, masks, corpora, speakers, genders, train_mask, config, feature_config, salt
):
    """Train ``config.n_models`` members on the rows of ``train_mask`` (validation speakers from every corpus)."""
    members, seconds = [], []
    for m in range(config.n_models):
        val = corpus_val_speakers(
            speakers[train_mask],
            corpora[train_mask],
            genders,
            config.val_speakers,
            seed=config.seed + salt + m,
        )
        val_mask = np.isin(speakers, val)
        member = TrainConfig(**{**config.to_dict(), "seed": config.seed + m, "n_models": 1})
        result = fit_split(
            features,
            views,
            y,
            masks,
            corpora,
            np.flatnonzero(train_mask & ~val_mask),
            np.flatnonzero(val_mask),
            masks.shape[1],
            member,
            feature_config,
        )
        members.append(result.model.cpu().eval())
        seconds.append(result.seconds)
    return members, float(np.sum(seconds))


def ensemble_proba(members, features) -> np.ndarray:
    """Mean class probabilities of ``members`` on a list of features, shape (n, n_classes)."""
    probs = [torch.softmax(predict_logits(m, features), dim=1).numpy() for m in members]
    return np.mean(probs, axis=0)


def leave_one_corpus_out(
    features,
    y,
    corpora,
    speakers,
    genders: dict[str, str],
    masks: np.ndarray,
    config: TrainConfig,
    feature_config: FeatureConfig | None = None,
    views=(),
    held_out: Sequence[str] | None = None,
    log=None,
    keep_models: bool = False,
    progress: bool = False,
) -> dict:
    """Train on every corpus but one, test on the whole held-out corpus; for each of ``held_out``.

    Parameters
    ----------
    features : list of np.ndarray
        Clean features of every clip of every corpus.
    y, corpora, speakers : np.ndarray
        Label index, corpus and speaker of each clip.
    masks : np.ndarray of bool, (n, n_classes)
        Labels of each clip's corpus (:func:`~s2e_lib.ser.dataset.corpus_label_masks`).
    views : list of lists of np.ndarray
        Augmented copies of every clip (training only).
    held_out : list of str, optional
        Corpora to hold out in turn (default: every corpus). A corpus that is never held
        out (e.g. one whose licence allows experiments only as training data) still trains.
    progress : bool
        A progress bar over the held-out corpora (tqdm; one ensemble is trained per corpus).

    Returns
    -------
    dict
        ``corpora``: held-out corpus -> scores (accuracy, balanced_accuracy, n, confusion);
        ``mean_balanced_accuracy`` and ``worst_balanced_accuracy`` over them;
        ``probabilities`` (n, n_classes; NaN for clips never held out); ``train_seconds``;
        ``models`` (held-out corpus -> members) when ``keep_models``.
    """
    y, corpora, speakers = np.asarray(y), np.asarray(corpora), np.asarray(speakers)
    n_classes = masks.shape[1]
    held_out = list(held_out or sorted(set(corpora.tolist())))
    probs = np.full((len(y), n_classes), np.nan, dtype=np.float32)
    out: dict = {"corpora": {}, "train_seconds": 0.0}
    models = {}
    from tqdm.auto import tqdm

    bar = tqdm(held_out, desc="leave one corpus out", unit="corpus", disable=not progress)
    for k, corpus in enumerate(bar):
        bar.set_postfix_str(f"training without {corpus}")
        test = corpora == corpus
        members, seconds = fit_members(
            features, views, y, masks, corpora, speakers, genders, ~test, config, feature_config, 1000 * k
        )
        test_idx = np.flatnonzero(test)
        p = ensemble_proba(members, [features[i] for i in test_idx])
        probs[test_idx] = p
        s = scores(y[test], p.argmax(1), n_classes)
        out["corpora"][corpus] = s
        out["train_seconds"] += seconds
        if keep_models:
            models[corpus] = members
        if log:
            log(
                f"held out {corpus}: accuracy {s['accuracy']:.3f}, balanced {s['balanced_accuracy']:.3f} (n={s['n']})"
            )
    bal = [s["balanced_accuracy"] for s in out["corpora"].values()]
    out["mean_balanced_accuracy"] = float(np.mean(bal))
    out["worst_balanced_accuracy"] = float(np.min(bal))
    out["probabilities"] = probs
    if keep_models:
        out["models"] = models
    return out


def within_corpus_cv(
    features,
    y,
    corpora,
    speakers,
    genders: dict[str, str],
    masks: np.ndarray,
    config: TrainConfig,
    feature_config: FeatureConfig | None = None,
    views=(),
    corpora_to_test: Sequence[str] | None = None,
    n_folds: int = 4,
    log=None,
) -> dict:
    """Speaker-held-out cross-validation inside each corpus, training on everything else too.

    For each corpus, its speakers are dealt into ``n_folds`` gender-balanced folds; each fold is
    tested by a model trained on the corpus's other speakers plus every other corpus.

    Returns
    -------
    dict
        ``corpora``: corpus -> scores over all its held-out clips (plus ``folds``);
        ``mean_balanced_accuracy`` and ``worst_balanced_accuracy``.
    """
    y, corpora, speakers = np.asarray(y), np.asarray(corpora), np.asarray(speakers)
    n_classes = masks.shape[1]
    out: dict = {"corpora": {}}
    for c_index, corpus in enumerate(corpora_to_test or sorted(set(corpora.tolist()))):
        in_corpus = corpora == corpus
        predicted = np.full(len(y), -1)
        folds = speaker_folds(speakers[in_corpus], genders, n_folds)
        fold_scores = []
        for k, fold in enumerate(folds):
            test = in_corpus & np.isin(speakers, fold)
            members, _ = fit_members(
                features,
                views,
                y,
                masks,
                corpora,
                speakers,
                genders,
                ~test,
                config,
                feature_config,
                10_000 * (c_index + 1) + 100 * k,
            )
            idx = np.flatnonzero(test)
            predicted[idx] = ensemble_proba(members, [features[i] for i in idx]).argmax(1)
            fold_scores.append(scores(y[idx], predicted[idx], n_classes)["balanced_accuracy"])
        s = scores(y[in_corpus], predicted[in_corpus], n_classes)
        s["folds"] = fold_scores
        out["corpora"][corpus] = s
        if log:
            log(
                f"{corpus} speaker-held-out: accuracy {s['accuracy']:.3f}, balanced {s['balanced_accuracy']:.3f}"
            )
    bal = [s["balanced_accuracy"] for s in out["corpora"].values()]
    out["mean_balanced_accuracy"] = float(np.mean(bal))
    out["worst_balanced_accuracy"] = float(np.min(bal))
    return out


def robustness_table(
    models: dict,
    df,
    y: np.ndarray,
    feature_config: FeatureConfig,
    conditions: Sequence[str] | None = None,
    per_corpus: int | None = 150,
    seed: int = 0,
    cache_dir=None,
    n_jobs: int = 1,
    progress: bool = False,
    speaker_centred: bool = False,
) -> list[dict]:
    """Each single change (gain, noise, band, codec, room, speed) applied to held-out clips.

    Parameters
    ----------
    models : dict
        Held-out corpus -> ensemble members trained without it (``leave_one_corpus_out(...,
        keep_models=True)["models"]``): every clip is scored by a model that never saw its corpus.
    df : pandas.DataFrame
        The table (``audio_path``, ``corpus``) aligned with ``y``.
    conditions : list of str, optional
        Names from :data:`s2e_lib.audio.augment.ROBUSTNESS_CONDITIONS` (default all).
    per_corpus : int, optional
        Clips drawn per corpus (seeded, stratified by label); None = all.
    speaker_centred : bool
        The models are speaker-centred: each condition's features are centred by the mean
        of the same speaker's clips in that condition (``df`` needs ``speaker``).

    Returns
    -------
    list of dict
        One row per (condition, corpus): ``condition, corpus, n, accuracy, balanced_accuracy,
        agreement`` (share of clips whose label equals the clean label).
    """
    from s2e_lib.audio.augment import ROBUSTNESS_CONDITIONS

    conditions = list(conditions or ROBUSTNESS_CONDITIONS)
    rng = np.random.default_rng(seed)

    def centre(feats, idx):
        if not speaker_centred:
            return feats
        return centre_by_speaker(feats, df["speaker"].astype(str).to_numpy()[idx])

    rows = []
    for corpus, members in models.items():
        idx = np.flatnonzero(df["corpus"].to_numpy() == corpus)
        if per_corpus and len(idx) > per_corpus:
            idx = np.sort(rng.choice(idx, per_corpus, replace=False))
        paths = list(df["audio_path"].iloc[idx])
        clean = None
        for name in conditions:
            transforms = (
                None
                if name == "clean"
                else [Transform("condition", name, clip_seed(p, 0, seed)) for p in paths]
            )
            feats = centre(
                extract_files(
                    paths,
                    feature_config,
                    cache_dir,
                    n_jobs,
                    progress,
                    transforms=transforms,
                    desc=f"{corpus}: {name}",
                ),
                idx,
            )
            predicted = ensemble_proba(members, feats).argmax(1)
            if clean is None:
                clean = (
                    predicted
                    if name == "clean"
                    else ensemble_proba(
                        members, centre(extract_files(paths, feature_config, cache_dir, n_jobs, False), idx)
                    ).argmax(1)
                )
            s = scores(y[idx], predicted, int(members[0].fc.out_features))
            rows.append(
                {
                    "condition": name,
                    "corpus": corpus,
                    "n": int(len(idx)),
                    "accuracy": s["accuracy"],
                    "balanced_accuracy": s["balanced_accuracy"],
                    "agreement": float(np.mean(predicted == clean)),
                }
            )
    return rows
