"""Adapting the detector to in-domain references: a small model fitted on them, cross-fitted.

Given a few hundred human and machine-written references of the corpus's own domain, a
regularised logistic regression learns, on those references only, from the general
model's logit and the standardised dense features (style, rarity, vocabulary): few enough
inputs for 200 + 200 texts, and the general score carries what the large model knows. Each
input enters through a quadratic spline basis with knots at its quantiles among the
references, so the fit draws a curve per input, not a line (on 200 + 200 references of six
held-out domains, the AUROC of the domains' other texts rose by 0.001 to 0.041 over straight lines).
Its scores of the references come from cross-fitting (each reference scored by a fit that
did not see it), so the estimate calibrated on them is not flattered; the adapter that
scores the corpus is the mean of the folds' fits, so it scores the corpus as the folds
scored the references (a fit on all of them scored more sharply: in the truth benchmark
the mean fit's intervals were 0.2-0.4 points narrower, its errors no larger). The scan keeps the
adapted scores only when they estimate more precisely than the general model's on the same
references (`corpus_audit.pipeline.calibration.keeps_adapter`). `refit` repeats the whole fit on a bootstrap
resample of the references, so that the estimate's interval holds the adapter's own
fitting error, not only the calibration sets' sampling error.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # scikit-learn is imported where an adapter is fitted or scored: a scan without references never loads it
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import SplineTransformer

FOLDS = 5
REGULARIZATION = 0.1  # C of the logistic regression (over the spline basis: 0.5 spread the estimate more)
KNOTS = 5  # spline knots per input, at its quantiles 0, 1/4, ..., 1 among the references
DEGREE = 2


def adapter_inputs(p: np.ndarray, dense: np.ndarray) -> np.ndarray:
    """What the adapter reads of each text: the general model's logit beside the dense features."""
    p = np.clip(np.asarray(p, np.float64), 1e-6, 1 - 1e-6)
    return np.column_stack([np.log(p) - np.log1p(-p), dense])


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-z))


def spline_basis(knots: np.ndarray) -> SplineTransformer:
    """The spline basis of each input over its knots (rows: knots; columns: inputs), constant
    beyond the outer knots, so a text unlike every reference gets no extrapolated curve."""
    from sklearn.preprocessing import SplineTransformer

    return SplineTransformer(knots=knots, degree=DEGREE, extrapolation="constant").fit(knots)


def quantile_knots(x: np.ndarray) -> np.ndarray:
    """Each column's quantiles at `KNOTS` even steps, pulled apart where they tie (a spline
    needs strictly increasing knots; a run of equal values gets knots a hair apart)."""
    knots = np.quantile(x, np.linspace(0.0, 1.0, KNOTS), axis=0)
    return knots + np.arange(KNOTS)[:, None] * 1e-6 * (1.0 + np.abs(knots).max(axis=0))


@dataclass(frozen=True)
class Adapter:
    knots: np.ndarray  # (KNOTS, inputs) of [general logit, dense features]
    coef: np.ndarray  # over the spline basis of the inputs
    intercept: float

    @cached_property
    def basis(self) -> SplineTransformer:
        return spline_basis(self.knots)

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(self.knots.tobytes() + self.coef.tobytes() + np.float64(self.intercept).tobytes()).hexdigest()

    def probability(self, p: np.ndarray, dense: np.ndarray) -> np.ndarray:
        """The adapted p_synthetic (equal class weights in the fit, so an equal-prior posterior)."""
        if not len(p):
            return np.empty(0, np.float32)
        return self.score(adapter_inputs(p, dense)).astype(np.float32)

    def score(self, inputs: np.ndarray) -> np.ndarray:
        """The adapted p_synthetic of rows of `adapter_inputs`, in float64."""
        return _sigmoid(self.basis.transform(inputs) @ self.coef + self.intercept)


def _fit(x: np.ndarray, y: np.ndarray) -> LogisticRegression:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=REGULARIZATION, class_weight="balanced", max_iter=2000).fit(x, y)


def _cross_fit(x: np.ndarray, y: np.ndarray, folds: np.ndarray) -> tuple[np.ndarray, Adapter]:
    """Each row's score from the fit on the other folds, and the adapter that averages the folds'
    fits (their mean logit): it scores new texts as sharply as the folds scored the references,
    where a fit on all rows would score them more sharply than the calibration it is judged by.
    The knots come from all rows' inputs (no labels), so every fold shares one basis."""
    knots = quantile_knots(x)
    expanded = spline_basis(knots).transform(x)
    crossed = np.zeros(len(y))
    fits = []
    for fold in np.unique(folds):
        test = folds == fold
        fits.append(_fit(expanded[~test], y[~test]))
        crossed[test] = fits[-1].predict_proba(expanded[test])[:, 1]
    return crossed, Adapter(knots, np.mean([f.coef_[0] for f in fits], axis=0).astype(np.float64),
                            float(np.mean([f.intercept_[0] for f in fits])))


def _fold_count(y: np.ndarray) -> int:
    return min(FOLDS, int(min(np.sum(y == 0), np.sum(y == 1))))


def fit_adapter(human: tuple[np.ndarray, np.ndarray], synthetic: tuple[np.ndarray, np.ndarray],
                seed: int = 0) -> tuple[Adapter, np.ndarray, np.ndarray]:
    """The adapter (the mean of its folds' fits) and the cross-fitted scores of the human and machine references."""
    from sklearn.model_selection import StratifiedKFold

    x = np.vstack([adapter_inputs(*human), adapter_inputs(*synthetic)])
    y = np.r_[np.zeros(len(human[0])), np.ones(len(synthetic[0]))]
    folds = np.zeros(len(y), np.int64)
    for fold, (_, test) in enumerate(StratifiedKFold(_fold_count(y), shuffle=True, random_state=seed).split(x, y)):
        folds[test] = fold
    crossed, adapter = _cross_fit(x, y, folds)
    return adapter, crossed[y == 0], crossed[y == 1]


def refit(x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, Adapter]:
    """The adapter's whole fit repeated on a bootstrap resample of the references (`x`: their
    `adapter_inputs`, `y`: their labels), drawn within each class: (the resample's labels,
    their cross-fitted scores, the adapter of the resample).

    Folds are drawn over the original references and copies of one reference share its
    fold, so no reference is scored by a fit that saw a copy of it."""
    folds = np.empty(len(y), np.int64)
    for label in (0, 1):
        members = rng.permutation(np.flatnonzero(y == label))
        folds[members] = np.arange(len(members)) % _fold_count(y)
    rows = np.concatenate([rng.choice(np.flatnonzero(y == label), int(np.sum(y == label))) for label in (0, 1)])
    crossed, adapter = _cross_fit(x[rows], y[rows], folds[rows])
    return y[rows], crossed, adapter
