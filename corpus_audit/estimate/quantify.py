"""Quantifiers: the share of machine-written documents from their classifier scores.

Scores come as a `ScoreSet`: distinct values with weights (counts). Each quantifier takes
the corpus's scores and two calibration sets (scores of known human and known
machine-written texts from the same detector) and returns the synthetic fraction in
[0, 1]:

- `cc`: classify and count at 0.5 (the naive baseline; biased by the detector's errors);
- `acc`: adjusted classify and count, `(cc - fpr) / (tpr - fpr)` with the rates at 0.5
  measured on the calibration sets (Forman 2008);
- `pcc` / `pacc`: the same with mean scores instead of counts (Bella et al. 2010);
- `sld`: the EM prior adjustment of Saerens, Latinne & Decaestecker (2002), on posteriors
  re-calibrated on the calibration sets with equal class weights (training prior 0.5); its
  fixed point, the maximum-likelihood prior, is found by Newton's method;
- `hdy`: HDy (González-Castro et al. 2013), the mixture of the two calibration score
  histograms closest in Hellinger distance to the corpus histogram, averaged over
  10, 20, ..., 50 bins.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

THRESHOLD = 0.5
_RESAMPLE_BLOCK = 1 << 22  # counts drawn at once by `ScoreSet.resampled_means` (32 MB)
_GRID = np.linspace(0.0, 1.0, 1001)
_GRID_COLUMN, _GRID_COMPLEMENT = _GRID[:, None], 1 - _GRID[:, None]  # HDy's mixing weights
_COARSE = 25  # HDy searches every 25th grid prior, then every one within a step of the best
_COARSE_ROWS = np.arange(0, len(_GRID), _COARSE)
_FLAT = 1e-10  # coarse distances closer than this tie (they are at most 2, rounded to about 1e-15)


@dataclass(frozen=True)
class ScoreSet:
    """Scores in [0, 1] as distinct values and their weights."""

    values: np.ndarray
    weights: np.ndarray
    # Per bin count, each value's bin (-1 outside [0, 1]): values never change under resampling,
    # so every bootstrap resample of a set shares this and bins its values once.
    _bins: dict[int, np.ndarray] = field(default_factory=dict, compare=False, repr=False)
    # What this set's weights give, worked out once (histograms, an equal-prior Platt fit with a
    # machine set): a calibration's resamples are shared by every estimate under it
    _memo: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_scores(cls, scores: np.ndarray) -> ScoreSet:
        return cls(np.asarray(scores, dtype=np.float64), np.ones(len(scores)))

    @classmethod
    def from_histogram(cls, counts: np.ndarray) -> ScoreSet:
        """Equal bins over [0, 1]: each non-empty bin becomes its centre."""
        centres = (np.arange(len(counts)) + 0.5) / len(counts)
        keep = counts > 0
        return cls(centres[keep], counts[keep].astype(np.float64))

    @property
    def size(self) -> float:
        return float(self.weights.sum())

    def mean(self) -> float:
        return float(np.average(self.values, weights=self.weights)) if self.size else 0.0

    def share_above(self, threshold: float) -> float:
        return float(self.weights[self.values > threshold].sum() / self.size) if self.size else 0.0

    def resample(self, rng: np.random.Generator) -> ScoreSet:
        """A bootstrap resample: as many draws as the set has members, with replacement."""
        n = int(round(self.size))
        return ScoreSet(self.values, rng.multinomial(n, self.weights / self.size).astype(np.float64), self._bins)

    def resampled_means(self, rng: np.random.Generator, rounds: int) -> np.ndarray:
        """The mean of each of `rounds` bootstrap resamples, drawn a block of rounds at a time
        (what `resample().mean()` gives round by round, from the same draws, without a score set
        per round; a block holds at most `_RESAMPLE_BLOCK` counts, whatever the set's size)."""
        n = int(round(self.size))
        if n == 0:
            return np.zeros(rounds)
        p, block = self.weights / self.size, max(1, _RESAMPLE_BLOCK // len(self.values))
        return np.concatenate([rng.multinomial(n, p, size=min(block, rounds - start)) @ self.values / n
                               for start in range(0, rounds, block)])

    def histogram(self, bins: int) -> np.ndarray:
        """Weights summed in `bins` equal bins over [0, 1] (the last one closed): what
        `np.histogram(values, bins, (0, 1), weights=weights)[0]` gives, exactly so for the
        whole-number weights (counts) score sets hold."""
        if ("histogram", bins) in self._memo:
            return self._memo["histogram", bins]
        index = self._bins.get(bins)
        if index is None:
            index = np.searchsorted(np.linspace(0.0, 1.0, bins + 1), self.values, side="right") - 1
            index[self.values == 1.0] = bins - 1
            index[~((self.values >= 0.0) & (self.values <= 1.0))] = -1
            self._bins[bins] = index
        inside = index >= 0
        counts = np.bincount(index[inside], weights=self.weights[inside], minlength=bins)
        counts.flags.writeable = False  # shared by every later call
        self._memo["histogram", bins] = counts
        return counts


def _clip(value: float) -> float:
    return float(min(max(value, 0.0), 1.0))


def _adjust(observed: float, on_human: float, on_synthetic: float) -> float:
    """Solve observed = a * on_synthetic + (1 - a) * on_human for a (clipped to [0, 1])."""
    spread = on_synthetic - on_human
    return _clip((observed - on_human) / spread) if spread > 0 else _clip(observed)


def adjust_many(observed: np.ndarray, on_human: np.ndarray, on_synthetic: np.ndarray) -> np.ndarray:
    """`_adjust` elementwise, over arrays of bootstrap rounds."""
    spread = on_synthetic - on_human
    solved = (observed - on_human) / np.where(spread > 0, spread, 1.0)
    return np.clip(np.where(spread > 0, solved, observed), 0.0, 1.0)


def cc(scores: ScoreSet, human: ScoreSet, synthetic: ScoreSet) -> float:
    return scores.share_above(THRESHOLD)


def acc(scores: ScoreSet, human: ScoreSet, synthetic: ScoreSet) -> float:
    return _adjust(scores.share_above(THRESHOLD), human.share_above(THRESHOLD), synthetic.share_above(THRESHOLD))


def pcc(scores: ScoreSet, human: ScoreSet, synthetic: ScoreSet) -> float:
    return scores.mean()


def pacc(scores: ScoreSet, human: ScoreSet, synthetic: ScoreSet) -> float:
    return _adjust(scores.mean(), human.mean(), synthetic.mean())


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def platt_fit(x: np.ndarray, y: np.ndarray, w: np.ndarray, steps: int = 50) -> tuple[float, float]:
    """Weighted one-feature logistic regression by Newton's method: P(y=1) = sigmoid(a x + b)."""
    a = b = 0.0
    for _ in range(steps):
        p = 1 / (1 + np.exp(-(a * x + b)))
        g = w * (p - y)
        h = w * p * (1 - p) + 1e-12
        grad = np.array([np.sum(g * x), np.sum(g)])
        hess = np.array([[np.sum(h * x * x), np.sum(h * x)], [np.sum(h * x), np.sum(h)]]) + 1e-9 * np.eye(2)
        step = np.linalg.solve(hess, grad)
        a, b = a - step[0], b - step[1]
        if np.abs(step).max() < 1e-10:
            break
    return float(a), float(b)


def equal_prior_platt(human: ScoreSet, synthetic: ScoreSet) -> tuple[float, float]:
    """(a, b) such that sigmoid(a logit(p) + b) is the posterior under equal priors of a score p,
    fitted on the two calibration sets with equal class weights: whatever prior the detector's
    own probability assumed, this one is relative to the calibration the estimate trusts.
    Worked out once per pair of sets (kept with the human set, for this machine set)."""
    known = human._memo.get("platt")
    if known is not None and known[0] is synthetic:
        return known[1]
    x = _logit(np.r_[human.values, synthetic.values])
    y = np.r_[np.zeros(len(human.values)), np.ones(len(synthetic.values))]
    w = np.r_[human.weights / human.size, synthetic.weights / synthetic.size]  # equal class weights
    fitted = platt_fit(x, y, w)
    human._memo["platt"] = (synthetic, fitted)
    return fitted


def equal_prior_posterior(p: np.ndarray, platt: tuple[float, float]) -> np.ndarray:
    a, b = platt
    return 1 / (1 + np.exp(-(a * _logit(p) + b)))


def at_prior(posterior: np.ndarray, prior: float) -> np.ndarray:
    """Equal-prior posteriors moved to `prior` by Bayes' rule; where that is 0 / 0 (a posterior
    of exactly 0 or 1 under a prior of exactly the other), the prior itself."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.nan_to_num(prior * posterior / (prior * posterior + (1 - prior) * (1 - posterior)), nan=prior)


def sld(scores: ScoreSet, human: ScoreSet, synthetic: ScoreSet, tolerance: float = 1e-12, iterations: int = 100) -> float:
    """The prior that SLD's EM converges to, found by Newton's method.

    EM's fixed point is the prior pi that maximises the corpus's likelihood
    `sum w log(pi p + (1 - pi)(1 - p))` under the equal-prior posteriors p; that is concave
    in pi, so the maximum is 0 or 1 when its slope keeps one sign over [0, 1] and otherwise
    the slope's one root, which Newton steps (kept inside a bracket that bisection narrows)
    reach in a few steps. EM took 50 to 100 of its slower steps on real corpora."""
    posterior = equal_prior_posterior(scores.values, equal_prior_platt(human, synthetic))
    d, human_likelihood = 2 * posterior - 1, 1 - posterior  # the slope is sum w d / (1 - p + pi d)
    wd = scores.weights * d
    with np.errstate(divide="ignore"):  # a posterior of exactly 0 or 1 makes a bound's slope infinite
        if np.divide(wd, human_likelihood, out=np.zeros_like(wd), where=wd != 0).sum() <= 0:
            return 0.0
        if np.divide(wd, posterior, out=np.zeros_like(wd), where=wd != 0).sum() >= 0:
            return 1.0
    low, high, prior = 0.0, 1.0, 0.5
    for _ in range(iterations):
        ratio = d / (human_likelihood + prior * d)
        slope, curvature = float(np.dot(scores.weights, ratio)), float(np.dot(scores.weights, ratio * ratio))
        if slope > 0:
            low = prior
        else:
            high = prior
        step = prior + slope / curvature if curvature > 0 else -1.0
        step = step if low <= step <= high else (low + high) / 2
        if abs(step - prior) < tolerance:
            return step
        prior = step
    return prior


def _hellinger(rows: np.ndarray, root_test: np.ndarray, h: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Squared Hellinger distance (times 2) of the corpus's density from the mixture at each grid
    prior of `rows`, in one buffer: the plain form's operations in its order, so its bits."""
    distance = _GRID_COLUMN[rows] * s
    distance += _GRID_COMPLEMENT[rows] * h
    np.sqrt(distance, out=distance)
    distance -= root_test
    np.square(distance, out=distance)
    return distance.sum(axis=1)


def hdy(scores: ScoreSet, human: ScoreSet, synthetic: ScoreSet, bins: tuple[int, ...] = (10, 20, 30, 40, 50)) -> float:
    """HDy: the grid prior whose mixture of the calibration densities is nearest the corpus's
    in Hellinger distance, averaged over several binnings. The distance is convex in the prior
    (a linear function minus square roots of linear ones), so the nearest of every 25th prior lies
    within 25 of the nearest of all 1,001: searching that window finds the plain form's prior
    (its first, on a tie) from 92 rows instead of 1,001. Where two coarse priors tie to within
    rounding (identical or nearly empty calibration densities: a flat distance, whose minimum
    rounding picks), all 1,001 are searched, as the plain form does."""
    estimates = []
    for b in bins:
        density = lambda s: s.histogram(b) / max(s.size, 1)  # noqa: E731, B023
        root_test, h, s = np.sqrt(density(scores)), density(human), density(synthetic)
        coarse = _hellinger(_COARSE_ROWS, root_test, h, s)
        nearest, second = np.partition(coarse, 1)[:2]
        if second - nearest <= _FLAT:
            window = np.arange(len(_GRID))
        else:
            best = int(_COARSE_ROWS[np.argmin(coarse)])
            window = np.arange(max(best - _COARSE, 0), min(best + _COARSE, len(_GRID) - 1) + 1)
        estimates.append(_GRID[window[int(np.argmin(_hellinger(window, root_test, h, s)))]])
    return float(np.mean(estimates))


def occurrence_mle(ratios: np.ndarray, weights: np.ndarray | None = None, tolerance: float = 1e-9) -> float:
    """The mixing weight `a` in [0, 1] that maximises sum_i w_i log(1 - a + a exp(llr_i)).

    The log-likelihood is concave in `a`, so the root of its derivative
    sum_i w_i (r_i - 1) / (1 + a (r_i - 1)), r_i = exp(llr_i), is found by bisection; the
    boundary is the answer when the derivative does not change sign."""
    excess = np.exp(np.asarray(ratios, dtype=np.float64)) - 1
    w = np.ones(len(excess)) if weights is None else np.asarray(weights, dtype=np.float64)
    excess, w = excess[w > 0], w[w > 0]
    slope = lambda a: float(np.sum(w * excess / (1 + a * excess)))  # noqa: E731
    if slope(0.0) <= 0:
        return 0.0
    if slope(1.0) >= 0:
        return 1.0
    lo, hi = 0.0, 1.0
    while hi - lo > tolerance:
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if slope(mid) > 0 else (lo, mid)
    return (lo + hi) / 2


QUANTIFIERS: dict[str, Callable[[ScoreSet, ScoreSet, ScoreSet], float]] = {
    "cc": cc, "acc": acc, "pcc": pcc, "pacc": pacc, "sld": sld, "hdy": hdy,
}
