"""Probabilities that mean what they say: temperature scaling and calibration error.

Guo et al. 2017, "On Calibration of Modern Neural Networks": one temperature ``T`` divides
the logits before the softmax. It never changes the predicted label or the order of the
classes (a monotone map of every logit), only how sure the model says it is. ``T`` is fitted
by minimising the negative log-likelihood on clips the model never trained on: for the
shipped model, the held-out corpora of its leave-one-corpus-out runs, so that a stranger's
recording gets a confidence that was true on corpora the model had not heard.

The expected calibration error (ECE) bins clips by their top probability and averages the
gap between that probability and the share of them that are right (15 equal-width bins).
:func:`is_uncertain` is what ``s2e ser predict`` and ``s2e run`` call "uncertain".
"""

from __future__ import annotations

import numpy as np

#: Search range of the temperature.
MIN_TEMPERATURE, MAX_TEMPERATURE = 0.25, 10.0
#: A calibrated top probability below this is reported as uncertain: on held-out corpora
#: fewer than about half of such answers are right.
UNCERTAIN_BELOW = 0.45


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Row-wise softmax of ``logits / temperature``."""
    z = np.asarray(logits, np.float64) / float(temperature)
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def negative_log_likelihood(
    logits: np.ndarray, targets: np.ndarray, temperature: float = 1.0, weights: np.ndarray | None = None
) -> float:
    """(``weights``-weighted) mean negative log-likelihood of integer ``targets`` under
    ``softmax(logits / temperature)``."""
    p = softmax(logits, temperature)
    targets = np.asarray(targets, int)
    w = np.ones(len(targets)) if weights is None else np.asarray(weights, np.float64)
    picked = np.maximum(p[np.arange(len(targets)), targets], 1e-12)
    return float(-np.sum(w * np.log(picked)) / w.sum())


def fit_temperature(logits: np.ndarray, targets: np.ndarray, weights: np.ndarray | None = None) -> float:
    """The temperature in [:data:`MIN_TEMPERATURE`, :data:`MAX_TEMPERATURE`] that minimises the
    (``weights``-weighted) negative log-likelihood: golden-section search on log T.

    The NLL of temperature scaling is unimodal in log T, so the search finds its minimum.
    """
    logits = np.asarray(logits, np.float64)
    targets = np.asarray(targets, int)
    if logits.ndim != 2 or len(logits) != len(targets) or len(targets) == 0:
        raise ValueError("logits must be (n, classes) with one target per row")

    def loss(log_t: float) -> float:
        return negative_log_likelihood(logits, targets, np.exp(log_t), weights)

    a, b = np.log(MIN_TEMPERATURE), np.log(MAX_TEMPERATURE)
    ratio = (np.sqrt(5) - 1) / 2
    c, d = b - ratio * (b - a), a + ratio * (b - a)
    for _ in range(60):
        if loss(c) < loss(d):
            b, d = d, c
            c = b - ratio * (b - a)
        else:
            a, c = c, d
            d = a + ratio * (b - a)
    return float(np.exp((a + b) / 2))


def expected_calibration_error(probabilities: np.ndarray, targets: np.ndarray, n_bins: int = 15) -> float:
    """ECE: the clip-weighted mean |accuracy − confidence| over equal-width bins of the top probability."""
    p = np.asarray(probabilities, np.float64)
    targets = np.asarray(targets, int)
    confidence, predicted = p.max(axis=1), p.argmax(axis=1)
    correct = predicted == targets
    edges = np.linspace(0, 1, n_bins + 1)
    bins = np.clip(np.digitize(confidence, edges[1:-1]), 0, n_bins - 1)
    ece = 0.0
    for k in range(n_bins):
        inside = bins == k
        if inside.any():
            ece += inside.mean() * abs(correct[inside].mean() - confidence[inside].mean())
    return float(ece)


def is_uncertain(probabilities) -> bool:
    """True when the (calibrated) top probability is below :data:`UNCERTAIN_BELOW`."""
    values = probabilities.values() if hasattr(probabilities, "values") else probabilities
    return float(max(values)) < UNCERTAIN_BELOW


def loco_calibration(probabilities: np.ndarray, targets: np.ndarray, corpora: np.ndarray) -> dict:
    """Fit the temperature on leave-one-corpus-out probabilities (each clip scored by a model
    that never heard its corpus); every corpus weighs the same. Returns ``{"temperature",
    "ece_before", "ece_after"}`` with the ECE of each corpus (and ``"all"``) before and after."""
    probabilities = np.asarray(probabilities, np.float64)
    held = np.all(np.isfinite(probabilities), axis=1)
    p, y, c = probabilities[held], np.asarray(targets, int)[held], np.asarray(corpora)[held]
    logits = np.log(np.maximum(p, 1e-8))
    weights = np.zeros(len(y))
    for corpus in set(c):
        weights[c == corpus] = 1.0 / np.sum(c == corpus)
    temperature = fit_temperature(logits, y, weights)
    calibrated = softmax(logits, temperature)
    groups = {corpus: c == corpus for corpus in sorted(set(c))}
    groups["all"] = np.ones(len(y), bool)
    return {
        "temperature": round(temperature, 4),
        "ece_before": {k: round(expected_calibration_error(p[m], y[m]), 4) for k, m in groups.items()},
        "ece_after": {
            k: round(expected_calibration_error(calibrated[m], y[m]), 4) for k, m in groups.items()
        },
    }
