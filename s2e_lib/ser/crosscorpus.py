"""Cross-corpus evaluation of a training recipe: leave-one-corpus-out, speaker-held-out, robustness.

The product meets other speakers, languages and microphones, so recipes are chosen by
the **mean leave-one-corpus-out balanced accuracy** (train on the other corpora, test on
the whole held-out one), never by one corpus's cross-validation. A report holds:

- ``loco``: per held-out corpus accuracy, balanced accuracy and confusion;
- ``test_only``: corpora that are never trained on (e.g. one whose licence allows
  evaluation only), scored by a model trained on all training corpora;
- ``within``: speaker-held-out cross-validation inside each corpus (optional);
- ``robustness``: each single change (gain, noise, band, codec, room, speed) applied to
  held-out clips, scored by the model that never saw their corpus (optional).

``s2e ser eval --loco`` and notebook 02 call :func:`cross_corpus_report`;
:func:`write_report` saves it as JSON, a Markdown table and seaborn confusion matrices.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from s2e_lib.audio.features import FeatureConfig
from s2e_lib.emotions import MISSION_EMOTIONS
from s2e_lib.fileio import atomic_output
from s2e_lib.ser.adapt import centre_views
from s2e_lib.ser.calibration import expected_calibration_error, loco_calibration, softmax
from s2e_lib.ser.dataset import corpus_label_masks, scan_corpora
from s2e_lib.ser.evaluate import (
    ensemble_proba,
    fit_members,
    leave_one_corpus_out,
    robustness_table,
    within_corpus_cv,
)
from s2e_lib.ser.train import (
    TrainConfig,
    augmented_views,
    check_centrable,
    extract_dataset,
    labels_of,
    scores,
)


@dataclass
class CorpusData:
    """Features and labels of several corpora, aligned row by row with ``df``."""

    df: object
    features: list
    views: list
    y: np.ndarray
    masks: np.ndarray
    labels: list
    present: dict = field(default_factory=dict)
    problems: list = field(default_factory=list)

    @property
    def corpora(self) -> np.ndarray:
        return self.df["corpus"].astype(str).to_numpy()

    @property
    def speakers(self) -> np.ndarray:
        return self.df["speaker"].astype(str).to_numpy()

    @property
    def genders(self) -> dict[str, str]:
        return dict(zip(self.speakers, self.df["gender"].fillna("").astype(str), strict=False))

    def subset(self, corpora: Sequence[str]) -> CorpusData:
        """The rows of ``corpora`` only."""
        keep = np.flatnonzero(np.isin(self.corpora, list(corpora)))
        return CorpusData(
            self.df.iloc[keep].reset_index(drop=True),
            [self.features[i] for i in keep],
            [[v[i] for i in keep] for v in self.views],
            self.y[keep],
            self.masks[keep],
            self.labels,
            {c: p for c, p in self.present.items() if c in corpora},
            self.problems,
        )


def load_corpora(
    sources,
    feature_config: FeatureConfig,
    config: TrainConfig,
    labels: Sequence[str] = MISSION_EMOTIONS,
    cache_dir=None,
    n_jobs: int = 1,
    progress: bool = True,
    max_per_corpus: int | None = None,
    seed: int = 0,
) -> CorpusData:
    """Scan ``sources`` (or take a :func:`~s2e_lib.ser.dataset.scan_corpora` table), extract clean
    features and the recipe's augmented copies (cached); centred by speaker when the recipe
    is speaker-centred (every speaker's own clips, test corpora included: unlabelled adaptation).

    ``max_per_corpus`` keeps a seeded random sample of that many clips per corpus (smoke runs).
    """
    labels = list(labels)
    check_centrable(config, feature_config)
    df = sources.copy() if hasattr(sources, "columns") else scan_corpora(list(sources), emotions=labels)
    if max_per_corpus:
        rng = np.random.default_rng(seed)
        keep = []
        for corpus in sorted(set(df["corpus"])):
            rows = np.flatnonzero(df["corpus"].to_numpy() == corpus)
            keep += sorted(rng.choice(rows, min(len(rows), max_per_corpus), replace=False).tolist())
        df = df.iloc[sorted(keep)].reset_index(drop=True)
    features, kept, problems = extract_dataset(df, feature_config, cache_dir, n_jobs, progress)
    df = df.iloc[kept].reset_index(drop=True)
    views = augmented_views(df, feature_config, config, cache_dir, n_jobs, progress)
    if config.speaker_centred:
        features, views = centre_views(features, views, df["speaker"].astype(str).to_numpy())
    masks, present = corpus_label_masks(df, labels)
    return CorpusData(df, features, views, labels_of(df["emotion"], labels), masks, labels, present, problems)


def cross_corpus_report(
    data: CorpusData,
    config: TrainConfig,
    feature_config: FeatureConfig,
    held_out: Sequence[str] | None = None,
    test_only: Sequence[str] = (),
    within: bool = False,
    robustness: bool = False,
    robustness_conditions: Sequence[str] | None = None,
    robustness_per_corpus: int | None = 150,
    cache_dir=None,
    n_jobs: int = 1,
    log=None,
    progress: bool = False,
) -> dict:
    """Leave-one-corpus-out (and optionally within-corpus and robustness) scores of a recipe.

    Parameters
    ----------
    data : CorpusData
        Every corpus, from :func:`load_corpora`.
    held_out : list of str, optional
        Corpora held out in turn (default: every corpus not in ``test_only``).
    test_only : list of str
        Corpora never trained on; scored by a model trained on all the others.
    within, robustness : bool
        Add speaker-held-out CV inside each corpus; add the robustness table.
    progress : bool
        Progress bars (tqdm) over the held-out corpora and the robustness conditions.

    Returns
    -------
    dict
        ``labels, recipe, features, loco, test_only, within, robustness, selection,
        calibration``; ``selection`` is the mean and worst leave-one-corpus-out balanced
        accuracy; ``calibration`` the temperature fitted on the held-out corpora and the
        expected calibration error of each before and after it
        (:func:`s2e_lib.ser.calibration.loco_calibration`; test-only corpora carry their own
        ``ece_before`` / ``ece_after``).
    """
    test_only = list(test_only)
    train_data = data.subset([c for c in sorted(set(data.corpora)) if c not in test_only])
    held_out = list(held_out or sorted(set(train_data.corpora)))
    loco = leave_one_corpus_out(
        train_data.features,
        train_data.y,
        train_data.corpora,
        train_data.speakers,
        train_data.genders,
        train_data.masks,
        config,
        feature_config,
        views=train_data.views,
        held_out=held_out,
        log=log,
        keep_models=robustness,
        progress=progress,
    )
    report: dict = {
        "labels": data.labels,
        "recipe": config.to_dict(),
        "features": feature_config.to_dict(),
        "corpora": {c: int((data.corpora == c).sum()) for c in sorted(set(data.corpora))},
        "corpus_labels": data.present,
        "loco": loco["corpora"],
        "selection": {
            "mean_balanced_accuracy": loco["mean_balanced_accuracy"],
            "worst_balanced_accuracy": loco["worst_balanced_accuracy"],
        },
        "train_seconds": loco["train_seconds"],
        "calibration": loco_calibration(loco["probabilities"], train_data.y, train_data.corpora),
    }
    temperature = report["calibration"]["temperature"]
    n_classes = len(data.labels)
    if test_only:
        all_mask = np.ones(len(train_data.y), dtype=bool)
        members, _ = fit_members(
            train_data.features,
            train_data.views,
            train_data.y,
            train_data.masks,
            train_data.corpora,
            train_data.speakers,
            train_data.genders,
            all_mask,
            config,
            feature_config,
            99_999,
        )
        report["test_only"] = {}
        for corpus in test_only:
            idx = np.flatnonzero(data.corpora == corpus)
            proba = ensemble_proba(members, [data.features[i] for i in idx])
            s = scores(data.y[idx], proba.argmax(1), n_classes)
            logits = np.log(np.maximum(proba, 1e-8))
            s["ece_before"] = round(expected_calibration_error(proba, data.y[idx]), 4)
            s["ece_after"] = round(expected_calibration_error(softmax(logits, temperature), data.y[idx]), 4)
            report["test_only"][corpus] = s
            if log:
                log(
                    f"test-only {corpus}: accuracy {s['accuracy']:.3f}, balanced {s['balanced_accuracy']:.3f}"
                )
    if within:
        w = within_corpus_cv(
            train_data.features,
            train_data.y,
            train_data.corpora,
            train_data.speakers,
            train_data.genders,
            train_data.masks,
            config,
            feature_config,
            views=train_data.views,
            corpora_to_test=held_out,
            log=log,
        )
        report["within"] = w["corpora"]
    if robustness:
        report["robustness"] = robustness_table(
            loco["models"],
            train_data.df,
            train_data.y,
            feature_config,
            conditions=robustness_conditions,
            per_corpus=robustness_per_corpus,
            speaker_centred=config.speaker_centred,
            cache_dir=cache_dir,
            n_jobs=n_jobs,
            progress=progress,
        )
    return report


def loco_markdown(report: dict) -> str:
    """The report's tables in Markdown (leave-one-corpus-out, within-corpus, robustness)."""
    labels = report["labels"]

    def worst_class(s: dict) -> str:
        rows = np.asarray(s["confusion"], float)
        present = rows.sum(1) > 0
        if not present.any():
            return "–"
        recall = np.where(present, np.diag(rows) / np.maximum(rows.sum(1), 1), np.inf)
        k = int(np.argmin(recall))
        return f"{labels[k]} {recall[k]:.2f}"

    cal = report.get("calibration", {})
    before, after = cal.get("ece_before", {}), cal.get("ece_after", {})

    def ece(corpus: str, s: dict) -> str:
        b, a = s.get("ece_before", before.get(corpus)), s.get("ece_after", after.get(corpus))
        return f"{b:.3f} → {a:.3f}" if b is not None and a is not None else "–"

    lines = [
        "| held-out corpus | n | accuracy | balanced accuracy | worst class (recall) | ECE (raw → calibrated) |",
        "|---|---|---|---|---|---|",
    ]
    for corpus, s in report["loco"].items():
        lines.append(
            f"| {corpus} | {s['n']} | {s['accuracy']:.3f} | {s['balanced_accuracy']:.3f} | {worst_class(s)} | {ece(corpus, s)} |"
        )
    sel = report["selection"]
    lines.append(
        f"| **mean / worst** | | | **{sel['mean_balanced_accuracy']:.3f} / {sel['worst_balanced_accuracy']:.3f}** | | "
        f"{ece('all', {})} |"
    )
    for corpus, s in report.get("test_only", {}).items():
        lines.append(
            f"| {corpus} (test only) | {s['n']} | {s['accuracy']:.3f} | {s['balanced_accuracy']:.3f} | {worst_class(s)} | {ece(corpus, s)} |"
        )
    if cal:
        lines += ["", f"Temperature fitted on the held-out corpora: {cal['temperature']:.3f}."]
    if report.get("within"):
        lines += [
            "",
            "| corpus (speaker-held-out, other corpora in training) | accuracy | balanced accuracy |",
        ]
        lines.append("|---|---|---|")
        for corpus, s in report["within"].items():
            lines.append(f"| {corpus} | {s['accuracy']:.3f} | {s['balanced_accuracy']:.3f} |")
    if report.get("robustness"):
        rows = report["robustness"]
        corpora = sorted({r["corpus"] for r in rows})
        header = " | ".join(f"{c} bal. acc / agree" for c in corpora)
        lines += ["", f"| condition | {header} | worst bal. acc |", "|---|" + "---|" * (len(corpora) + 1)]
        for name in dict.fromkeys(r["condition"] for r in rows):
            cells = {r["corpus"]: r for r in rows if r["condition"] == name}
            text = " | ".join(
                f"{cells[c]['balanced_accuracy']:.3f} / {cells[c]['agreement']:.2f}" for c in corpora
            )
            worst = min(cells[c]["balanced_accuracy"] for c in corpora)
            lines.append(f"| {name} | {text} | {worst:.3f} |")
    return "\n".join(lines) + "\n"


def plot_confusions(report: dict, section: str = "loco"):
    """One row-normalised seaborn confusion heatmap per corpus of ``report[section]``."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    items = list(report.get(section, {}).items()) + (
        list(report.get("test_only", {}).items()) if section == "loco" else []
    )
    labels = report["labels"]
    fig, axes = plt.subplots(1, max(1, len(items)), figsize=(3.6 * max(1, len(items)), 3.4), squeeze=False)
    for ax, (corpus, s) in zip(axes[0], items, strict=False):
        confusion = np.asarray(s["confusion"], dtype=float)
        rows = confusion.sum(axis=1, keepdims=True)
        share = np.divide(confusion, rows, out=np.zeros_like(confusion), where=rows > 0)
        sns.heatmap(
            share,
            annot=True,
            fmt=".2f",
            vmin=0,
            vmax=1,
            cmap="Blues",
            cbar=False,
            ax=ax,
            xticklabels=labels,
            yticklabels=labels,
        )
        ax.set_title(f"{corpus}: bal. acc {s['balanced_accuracy']:.2f}")
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.tick_params(axis="y", rotation=0)  # upright names never run into the axis label
    fig.tight_layout()
    return fig


def write_report(report: dict, out_dir: str | os.PathLike, overwrite: bool = False) -> dict[str, Path]:
    """Write ``report.json``, ``report.md`` and ``confusion.png`` into ``out_dir`` (atomically)."""
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "json": out_dir / "report.json",
        "markdown": out_dir / "report.md",
        "confusion": out_dir / "confusion.png",
    }
    with atomic_output(paths["json"], overwrite=overwrite) as tmp:
        tmp.write_text(json.dumps(report, indent=1, default=float))
    with atomic_output(paths["markdown"], overwrite=overwrite) as tmp:
        tmp.write_text(loco_markdown(report))
    fig = plot_confusions(report)
    with atomic_output(paths["confusion"], overwrite=overwrite) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return paths
