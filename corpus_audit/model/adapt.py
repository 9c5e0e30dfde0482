"""Adapting the detector to in-domain references: a small model fitted on them, cross-fitted.

Given a few hundred human and machine-written references of the corpus's own domain, a
regularised logistic regression learns, on those references only, from the general
model's logit and the standardised dense features (style, rarity, vocabulary): few enough
inputs for 200 + 200 texts, and the general score carries what the large model knows.
Its scores of the references come from cross-fitting (each reference scored by a fit that
did not see it), so the estimate calibrated on them is not flattered. The scan keeps the
adapted scores only when their cross-fitted AUROC beats the general model's on the same
references (`corpus_audit.pipeline.calibration`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

FOLDS = 5
REGULARIZATION = 0.5  # C of the logistic regression


def _inputs(p: np.ndarray, dense: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, np.float64), 1e-6, 1 - 1e-6)
    return np.column_stack([np.log(p) - np.log1p(-p), dense])


@dataclass(frozen=True)
class Adapter:
    coef: np.ndarray  # over [general logit, dense features]
    intercept: float

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(self.coef.tobytes() + np.float64(self.intercept).tobytes()).hexdigest()

    def probability(self, p: np.ndarray, dense: np.ndarray) -> np.ndarray:
        """The adapted p_synthetic (equal class weights in the fit, so an equal-prior posterior)."""
        if not len(p):
            return np.empty(0, np.float32)
        return (1 / (1 + np.exp(-(_inputs(p, dense) @ self.coef + self.intercept)))).astype(np.float32)


def _fit(x: np.ndarray, y: np.ndarray) -> LogisticRegression:
    return LogisticRegression(C=REGULARIZATION, class_weight="balanced", max_iter=2000).fit(x, y)


def fit_adapter(human: tuple[np.ndarray, np.ndarray], synthetic: tuple[np.ndarray, np.ndarray],
                seed: int = 0) -> tuple[Adapter, np.ndarray, np.ndarray]:
    """The adapter fitted on all references, and the cross-fitted scores of the human and machine ones."""
    x = np.vstack([_inputs(*human), _inputs(*synthetic)])
    y = np.r_[np.zeros(len(human[0])), np.ones(len(synthetic[0]))]
    crossed = np.zeros(len(y))
    folds = min(FOLDS, int(min(len(human[0]), len(synthetic[0]))))
    for train, test in StratifiedKFold(folds, shuffle=True, random_state=seed).split(x, y):
        crossed[test] = _fit(x[train], y[train]).predict_proba(x[test])[:, 1]
    final = _fit(x, y)
    adapter = Adapter(final.coef_[0].astype(np.float64), float(final.intercept_[0]))
    return adapter, crossed[y == 0], crossed[y == 1]
