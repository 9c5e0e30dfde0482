"""The synthetic fraction of a corpus, with a bootstrap interval that tells the truth.

Every quantifier in `corpus_audit.estimate.quantify` is run on the corpus's scores and the two
calibration sets. The interval is a percentile bootstrap that resamples the corpus *and*
both calibration sets each round: the calibration sets are finite too, and ignoring their
error is what makes published intervals too narrow. The calibration's resamples come from a
stream of their own, so every estimate under one calibration (the headline, the unique
documents', each stratum's) shares them and what is worked out from them. A calibration
whose scores come from a detector fitted to the calibration texts themselves (an adapted
detector) redraws each round instead (`Calibration.redraw`): the fit is repeated on
resampled texts, so its error is in the interval too.

What the interval is about: this corpus's own fraction, a fixed count of its documents, not
that of a source the corpus was drawn from (`CorpusDraw`). A round resamples the corpus's
documents within the two soft classes SLD's posteriors split it into, their sizes kept, so
the interval holds what moves an estimate of a fixed corpus (the scores' spread within each
class) and not a binomial draw of how many documents are machine-written. A scan of a sample
(`--sample`, `--sample-fraction`) is a draw: there the machine class's size varies as the
sample's would, with the finite-population correction. Resampling the corpus whole, as this
did before, adds the binomial variance of the class sizes, which a fixed corpus does not have:
over the truth benchmark's six held-out domains (pools of exact fractions) that made the
intervals 0.3 to 3.6 points wider at fractions 0.1 and 0.3 and covered 0.98-1.00 of the pools
where the nominal share is 0.95.

With reference sets, the word-occurrence mixture MLE (`occurrence_interval`) joins the
methods: it does not use the classifier, so agreement with the classifier's methods is
evidence, and disagreement is reported. It is not the default and does not widen the
interval: in the reference-data benchmark its error was ten times the default's and its
interval covered the truth in under half of the runs.

The Wilson score interval of a proportion over the corpus's documents (`wilson_interval`) is
the floor of a sampled corpus's interval, and of any estimate clipped at 0% or 100%: a method
clipped in every bootstrap round would otherwise print a zero-width interval such as
[100%, 100%], which no finite evidence supports. And the bounds are whole documents, rounded
outward (`whole_documents`): a lower bound of a fifth of a document above 0% cannot rule out
that none is machine-written (in the truth benchmark, two news pools with no machine text at
all had lower bounds of 0.2 documents).

When the calibration sets are poorly separated (AUROC under 0.75) or the methods'
intervals do not overlap, the estimate says so in words and its interval widens to the
union of the adjusted methods' intervals rather than pretending.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from statistics import NormalDist
from collections.abc import Callable, Iterable
from typing import Any, Protocol

import numpy as np

from corpus_audit.estimate.metrics import auroc as weighted_auroc
from corpus_audit.estimate.quantify import (QUANTIFIERS, ScoreSet, at_prior, equal_prior_platt, equal_prior_posterior,
                                           occurrence_mle)
from detectors.partials import Bundle

DEFAULT_METHOD = "pacc"
ROUNDS = 200  # bootstrap rounds of an estimate
CALIBRATION_STREAM = 2  # a calibration's resamples: the stream [seed, this], apart from the corpus's [seed]
ADJUSTED = ("acc", "pacc", "sld", "hdy")
LOW_AUROC = 0.75


class Redraw(Protocol):
    """Bootstrap round `round_` of a calibration that a resample alone does not capture: given the
    round's resampled corpus scores, (corpus, human, synthetic) scores redrawn together. Each
    round is a function of its number, so the estimates of one scan share their rounds' work."""

    description: str

    def prepare(self, rounds: int, map_: Callable[..., Iterable[Any]]) -> None:
        """Do the work of rounds 0 to rounds - 1 ahead, through `map_` (an engine's workers)."""

    def __call__(self, round_: int, corpus: ScoreSet) -> tuple[ScoreSet, ScoreSet, ScoreSet]: ...


@dataclass(frozen=True)
class Calibration:
    """Scores of known human and known machine-written texts, what they are, and (when
    resampling them is not enough) how a bootstrap round redraws them."""

    human: ScoreSet
    synthetic: ScoreSet
    source: str
    redraw: Redraw | None = None
    # per seed: the stream of the calibration's own resamples and the rounds drawn from it, in
    # order; every estimate under this calibration (the headline, the unique documents', each
    # stratum's) shares them, and with them what the quantifiers work out from them alone
    _rounds: dict[int, tuple[np.random.Generator, list[tuple[ScoreSet, ScoreSet]]]] = field(
        default_factory=dict, compare=False, repr=False)

    def draw(self, round_: int, corpus: ScoreSet, seed: int) -> tuple[ScoreSet, ScoreSet, ScoreSet]:
        """Bootstrap round `round_`'s (corpus, human, synthetic) scores, given its resampled corpus:
        the calibration's resamples come from a stream of `seed` of their own, drawn once."""
        if self.redraw is not None:
            return self.redraw(round_, corpus)
        if seed not in self._rounds:  # (not setdefault: a generator per round would be made and thrown away)
            self._rounds[seed] = (np.random.default_rng([seed, CALIBRATION_STREAM]), [])
        rng, drawn = self._rounds[seed]
        while len(drawn) <= round_:
            drawn.append((self.human.resample(rng), self.synthetic.resample(rng)))
        return corpus, *drawn[round_]

    def auroc(self) -> float:
        """AUROC from weighted scores: P(synthetic > human) + P(tie) / 2."""
        return weighted_auroc(self.human.values, self.synthetic.values, self.human.weights, self.synthetic.weights)


@dataclass(frozen=True)
class CorpusDraw:
    """How a bootstrap round redraws the corpus's scores (see the module docstring): within two
    soft classes, the weight of each score value split by its SLD posterior at SLD's prior
    `share` (whose fixed point makes the machine class's weights sum to `share` of the corpus).
    A round draws the machine class's size (`share` of the documents, rounded at random so it is
    right on average; when the scan read a sample of `sampled` of the corpus, varied as the
    sample's would be: binomially, with the finite-population correction), then that many
    documents from the machine class and the rest from the human class, with replacement."""

    human: np.ndarray  # per score value, its share of each class (each sums to 1)
    machine: np.ndarray
    share: float
    sampled: float = 1.0

    @classmethod
    def split(cls, scores: ScoreSet, calibration: Calibration, share: float, sampled: float = 1.0) -> CorpusDraw:
        """`share`: SLD's prior of these scores under this calibration (`quantify.sld`)."""
        p = equal_prior_posterior(scores.values, equal_prior_platt(calibration.human, calibration.synthetic))
        machine = scores.weights * at_prior(p, share)
        classes = [scores.weights - machine, machine]
        uniform = scores.weights / max(scores.size, 1e-300)  # a class with no weight (share 0 or 1) is never drawn from
        return cls(*(w / w.sum() if w.sum() > 0 else uniform for w in classes), share, sampled)

    def __call__(self, scores: ScoreSet, rng: np.random.Generator) -> ScoreSet:
        n = int(round(scores.size))
        expected = n * self.share
        if self.sampled < 1:
            expected += math.sqrt(1 - self.sampled) * (rng.binomial(n, self.share) - expected)
        whole = math.floor(expected)
        machine = min(n, max(0, whole + int(rng.random() < expected - whole)))
        counts = np.zeros(len(scores.values))
        for size, shares in ((n - machine, self.human), (machine, self.machine)):
            if size:
                counts += rng.multinomial(size, shares)
        return ScoreSet(scores.values, counts, scores._bins)


def _percentiles(draws: np.ndarray, confidence: float) -> tuple[float, float]:
    tail = (1 - confidence) / 2
    return float(np.quantile(draws, tail)), float(np.quantile(draws, 1 - tail))


def wilson_interval(estimate: float, documents: float, confidence: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval of `estimate` as a proportion of `documents` (rounded to a whole count)."""
    n = max(int(round(documents)), 1)
    p = min(n, max(0, round(estimate * n))) / n
    z = NormalDist().inv_cdf((1 + confidence) / 2)
    centre, half = (p + z * z / (2 * n)) / (1 + z * z / n), z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def _sampling_floor(estimate: float, low: float, high: float, documents: float, confidence: float) -> tuple[float, float]:
    """[low, high] widened to hold the Wilson score interval of `estimate` as a proportion of `documents`."""
    floor_low, floor_high = wilson_interval(estimate, documents, confidence)
    return min(low, floor_low), max(high, floor_high)


def whole_documents(low: float, high: float, documents: float) -> tuple[float, float]:
    """[low, high] rounded outward to whole documents of `documents` (k / n): a bound within a
    part of one document of a count cannot rule that count out."""
    n = max(int(round(documents)), 1)
    slack = 1e-9  # a bound already on the grid (5 / n computed as 4.9999999 / n) stays where it is
    return max(0.0, math.floor(low * n + slack) / n), min(1.0, math.ceil(high * n - slack) / n)


def occurrence_interval(ratios: Bundle, rounds: int = 200, confidence: float = 0.95, seed: int = 0) -> dict[str, Any]:
    """The word-occurrence mixture MLE with a bootstrap interval: round r resamples the corpus's
    ratio histogram under the r-th bootstrap profile of the reference sets (see
    `detectors.occurrence`), so both sources of error are in the interval."""
    histograms = [ratios.parts[f"llr_{k}"] for k in range(len(ratios.parts))]
    centres = histograms[0].centres()
    point = occurrence_mle(centres, histograms[0].counts)
    rng = np.random.default_rng(seed)
    draws = np.empty(rounds)
    for r in range(rounds):
        counts = histograms[1 + r % (len(histograms) - 1)].counts if len(histograms) > 1 else histograms[0].counts
        total = int(counts.sum())
        draws[r] = occurrence_mle(centres, rng.multinomial(total, counts / max(total, 1)))
    low, high = _percentiles(draws, confidence)
    return {"estimate": point, "ci_low": low, "ci_high": high}


def estimate(scores: ScoreSet, calibration: Calibration, method: str = DEFAULT_METHOD, rounds: int = ROUNDS,
             confidence: float = 0.95, seed: int = 0, independent: dict[str, dict[str, float]] | None = None,
             sampled: float = 1.0) -> dict[str, Any]:
    """Every method's estimate and interval, and the headline one (`method`).

    `independent`: estimates that do not come from the classifier's scores (the
    word-occurrence MLE), listed with the others and checked against them. `sampled`: the
    share of the corpus these scores are of (1: all of it; see `CorpusDraw`)."""
    rng = np.random.default_rng(seed)
    point = {name: q(scores, calibration.human, calibration.synthetic) for name, q in QUANTIFIERS.items()}
    draw = CorpusDraw.split(scores, calibration, point["sld"], sampled)
    draws = {name: np.empty(rounds) for name in QUANTIFIERS}
    for r in range(rounds):
        s, h, y = calibration.draw(r, draw(scores, rng), seed)
        for name, q in QUANTIFIERS.items():
            draws[name][r] = q(s, h, y)

    def bounds(name: str) -> tuple[float, float]:
        low, high = _percentiles(draws[name], confidence)
        if sampled < 1 or point[name] in (0.0, 1.0):
            low, high = _sampling_floor(point[name], low, high, scores.size, confidence)
        return whole_documents(low, high, scores.size)

    methods = {name: dict(zip(("estimate", "ci_low", "ci_high"), (point[name], *bounds(name)))) for name in QUANTIFIERS}
    methods.update(independent or {})
    auroc = calibration.auroc()
    warnings: list[str] = []
    low, high = methods[method]["ci_low"], methods[method]["ci_high"]
    if auroc < LOW_AUROC:
        warnings.append(f"The detector separates the calibration sets poorly (AUROC {auroc:.2f} < {LOW_AUROC}): "
                        "its scores say little about this corpus, so the interval spans every adjusted method's.")
    apart = lambda a, b: methods[a]["ci_high"] < methods[b]["ci_low"] or methods[b]["ci_high"] < methods[a]["ci_low"]  # noqa: E731
    disjoint = [(a, b) for i, a in enumerate(ADJUSTED) for b in ADJUSTED[i + 1:] if apart(a, b)]
    if disjoint:
        names = ", ".join(f"{a}/{b}" for a, b in disjoint)
        warnings.append(f"The estimation methods disagree beyond their intervals ({names}): the corpus probably "
                        "differs from the calibration data; the interval spans every adjusted method's.")
    if warnings:
        low = min(methods[m]["ci_low"] for m in ADJUSTED)
        high = max(methods[m]["ci_high"] for m in ADJUSTED)
    for name in independent or {}:
        if apart(name, method):
            warnings.append(f"The classifier-free estimate {name} ({methods[name]['estimate']:.1%}) disagrees with "
                            f"{method} beyond their intervals. It does not widen the interval: in the benchmark its "
                            "own interval often missed the truth (see README, Estimation).")
    within = ("the machine class's size drawn as a sample's would be" if sampled < 1 else
              "their sizes kept: this corpus's own fraction")
    interval = (f"percentile bootstrap, {rounds} rounds, resampling the corpus within its two soft classes ({within}) "
                "and both calibration sets; never narrower than the Wilson interval of a proportion over the corpus's "
                f"documents {'(a sample)' if sampled < 1 else 'where an estimate is clipped at 0% or 100%'}; bounds "
                "rounded outward to whole documents")
    if calibration.redraw is not None:
        interval += f"; each round {calibration.redraw.description}"
    return {
        "estimate": point[method], "ci_low": low, "ci_high": high, "confidence": confidence, "method": method,
        "methods": methods,
        "calibration": {"source": calibration.source, "human": int(round(calibration.human.size)),
                        "synthetic": int(round(calibration.synthetic.size)), "auroc": auroc},
        "interval": interval,
        "warnings": warnings,
    }
