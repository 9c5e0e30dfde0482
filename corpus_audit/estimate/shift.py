"""The shift test: does the corpus look like the data its calibration came from?

A classifier two-sample test on the detector's standardised dense features (style,
rarity, vocabulary): a regularised logistic regression learns to tell a sample of the
corpus from the calibration texts, and its cross-validated AUROC is the statistic (0.5:
indistinguishable). The calibration rows are weighted so that their share of
machine-written text equals the corpus's estimate: a corpus that is simply more or less
synthetic than the calibration data is not "shifted" (that is what the estimate
measures), one written in another way is.

The threshold is 0.5 plus `Z` standard deviations of the AUROC of two same-distribution
samples of these sizes (the Mann-Whitney null, with the effective size of the weighted
side), plus a margin `MARGIN` for differences too small to bias the estimate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold

MIN_DOCUMENTS = 100  # fewer sampled corpus documents than this and the test cannot tell
Z = 3.0
MARGIN = 0.02
FOLDS = 5


@dataclass(frozen=True)
class ShiftTest:
    statistic: float  # cross-validated AUROC, corpus vs calibration rows
    threshold: float
    corpus_rows: int
    calibration_rows: int

    @property
    def shifted(self) -> bool:
        return self.statistic > self.threshold

    def record(self, against: str) -> dict[str, Any]:
        verdict = "shifted" if self.shifted else "no shift detected"
        return {"statistic": round(self.statistic, 4), "threshold": round(self.threshold, 4), "verdict": verdict,
                "against": against, "test": "classifier two-sample test (cross-validated AUROC of corpus vs "
                                            f"calibration texts' features; {self.corpus_rows:,} vs "
                                            f"{self.calibration_rows:,} documents)"}


def prior_weights(labels: np.ndarray, prior: float) -> np.ndarray:
    """Weights (summing to 1) under which the machine-written rows make up `prior` of the total."""
    weights = np.zeros(len(labels))
    for value, share in ((1, prior), (0, 1 - prior)):
        member = labels == value
        if member.any():
            weights[member] = share / member.sum()
    return weights / weights.sum()


def null_threshold(corpus_rows: int, effective_rows: float) -> float:
    """0.5 + Z standard deviations of the AUROC of two same-distribution samples, + MARGIN."""
    n, m = corpus_rows, max(effective_rows, 1.0)
    return 0.5 + Z * math.sqrt((n + m + 1) / (12 * n * m)) + MARGIN


def shift_test(corpus: np.ndarray, calibration: np.ndarray, labels: np.ndarray, prior: float, seed: int = 0) -> ShiftTest:
    """Test the corpus rows against the calibration rows at the corpus's estimated prior."""
    reference = prior_weights(labels, min(max(prior, 0.0), 1.0))
    keep = reference > 0
    calibration, reference = calibration[keep], reference[keep]
    effective = 1.0 / float(np.sum(reference**2))
    x = np.vstack([corpus, calibration]).astype(np.float64)
    y = np.r_[np.ones(len(corpus)), np.zeros(len(calibration))]
    weights = np.r_[np.full(len(corpus), 0.5 / len(corpus)), reference * 0.5] * len(y)
    decision = np.zeros(len(y))
    folds = StratifiedKFold(FOLDS, shuffle=True, random_state=seed)
    for train, test in folds.split(x, y):
        model = LogisticRegression(C=0.1, max_iter=1000).fit(x[train], y[train], sample_weight=weights[train])
        decision[test] = model.decision_function(x[test])
    statistic = float(roc_auc_score(y, decision, sample_weight=weights))
    return ShiftTest(statistic, null_threshold(len(corpus), effective), len(corpus), len(calibration))
