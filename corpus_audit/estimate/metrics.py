"""Detector metrics: AUROC and the true-positive rate at a fixed false-positive rate."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score


def auroc(human: np.ndarray, synthetic: np.ndarray) -> float:
    """Probability that a random synthetic text scores above a random human one."""
    if len(human) == 0 or len(synthetic) == 0:
        return float("nan")
    labels = np.r_[np.zeros(len(human)), np.ones(len(synthetic))]
    return float(roc_auc_score(labels, np.r_[human, synthetic]))


def tpr_at_fpr(human: np.ndarray, synthetic: np.ndarray, fpr: float) -> float:
    """Share of synthetic texts flagged when the threshold flags at most `fpr` of human texts."""
    if len(human) == 0 or len(synthetic) == 0:
        return float("nan")
    threshold = np.quantile(human, 1 - fpr, method="higher")
    return float(np.mean(synthetic > threshold))


def detector_metrics(human: np.ndarray, synthetic: np.ndarray) -> dict[str, float | int]:
    return {"auroc": auroc(human, synthetic), "tpr_at_1pct_fpr": tpr_at_fpr(human, synthetic, 0.01),
            "tpr_at_5pct_fpr": tpr_at_fpr(human, synthetic, 0.05), "human": len(human), "synthetic": len(synthetic)}
