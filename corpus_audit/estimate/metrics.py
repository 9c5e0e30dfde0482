"""Detector metrics: AUROC and the true-positive rate at a fixed false-positive rate."""

from __future__ import annotations

import numpy as np


def auroc(human: np.ndarray, synthetic: np.ndarray, human_weights: np.ndarray | None = None,
          synthetic_weights: np.ndarray | None = None) -> float:
    """Probability that a random synthetic text scores above a random human one, ties counting
    half (the Mann-Whitney statistic; `sklearn.metrics.roc_auc_score`'s value, with weights too),
    worked out here so that a scan need not import scikit-learn."""
    if len(human) == 0 or len(synthetic) == 0:
        return float("nan")
    human_weights = np.ones(len(human)) if human_weights is None else np.asarray(human_weights, np.float64)
    synthetic_weights = np.ones(len(synthetic)) if synthetic_weights is None else np.asarray(synthetic_weights, np.float64)
    order = np.argsort(human)
    values, below = np.asarray(human)[order], np.concatenate([[0.0], np.cumsum(human_weights[order])])
    lower = below[np.searchsorted(values, synthetic, side="left")]
    not_above = below[np.searchsorted(values, synthetic, side="right")]
    wins = lower + (not_above - lower) / 2
    return float(np.sum(wins * synthetic_weights) / (human_weights.sum() * synthetic_weights.sum()))


def tpr_at_fpr(human: np.ndarray, synthetic: np.ndarray, fpr: float) -> float:
    """Share of synthetic texts flagged when the threshold flags at most `fpr` of human texts."""
    if len(human) == 0 or len(synthetic) == 0:
        return float("nan")
    threshold = np.quantile(human, 1 - fpr, method="higher")
    return float(np.mean(synthetic > threshold))


def detector_metrics(human: np.ndarray, synthetic: np.ndarray) -> dict[str, float | int]:
    return {"auroc": auroc(human, synthetic), "tpr_at_1pct_fpr": tpr_at_fpr(human, synthetic, 0.01),
            "tpr_at_5pct_fpr": tpr_at_fpr(human, synthetic, 0.05), "human": len(human), "synthetic": len(synthetic)}
