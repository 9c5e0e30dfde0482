"""Estimate error on artificial mixtures of two labelled sets (for `corpus-audit evaluate`).

Each repetition splits both sets in half (by group when groups are given, so texts of one
source never sit on both sides), calibrates on one half and draws mixtures of known
fraction from the other, without replacement; every estimator then estimates the fraction.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from corpus_audit.estimate.estimation import Calibration, estimate
from corpus_audit.estimate.quantify import ScoreSet

FRACTIONS = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5)


def mixture_errors(scores: np.ndarray, labels: np.ndarray, groups: list[str] | None = None,
                   repetitions: int = 10, rounds: int = 50, seed: int = 0) -> dict[str, Any]:
    """Per method: mean and maximum absolute error, and how often the 95% interval held the truth."""
    rng = np.random.default_rng(seed)
    keys = np.asarray(groups if groups is not None else np.arange(len(scores)).astype(str))
    distinct = np.unique(keys)
    rows: list[tuple[str, float, float, bool]] = []
    size = 0
    for rep in range(repetitions):
        calibrating = np.isin(keys, rng.choice(distinct, len(distinct) // 2, replace=False))
        calibration = Calibration(ScoreSet.from_scores(scores[calibrating & (labels == 0)]),
                                  ScoreSet.from_scores(scores[calibrating & (labels == 1)]), "half of the labelled sets")
        pool_h, pool_s = scores[~calibrating & (labels == 0)], scores[~calibrating & (labels == 1)]
        size = min(len(pool_h), 2 * len(pool_s))  # every fraction up to 0.5 fits without reuse
        if min(calibration.human.size, calibration.synthetic.size, size) < 10:
            raise ValueError("too few texts for mixtures: each half needs at least 10 human and 5 synthetic texts")
        for f in FRACTIONS:
            k = int(round(f * size))
            corpus = np.r_[rng.choice(pool_s, k, replace=False), rng.choice(pool_h, size - k, replace=False)]
            result = estimate(ScoreSet.from_scores(corpus), calibration, rounds=rounds, seed=rep)
            truth = k / size
            for name, m in result["methods"].items():
                rows.append((name, truth, abs(m["estimate"] - truth), m["ci_low"] <= truth <= m["ci_high"]))
    report: dict[str, Any] = {"fractions": list(FRACTIONS), "repetitions": repetitions, "mixture_documents": size,
                              "methods": {}}
    for name in dict.fromkeys(r[0] for r in rows):
        errors = np.array([r[2] for r in rows if r[0] == name])
        covered = np.array([r[3] for r in rows if r[0] == name])
        report["methods"][name] = {"mean_abs_error": float(errors.mean()), "max_abs_error": float(errors.max()),
                                   "coverage_95": float(covered.mean())}
    return report
