"""Which calibration an estimate may trust, and how wide its interval must be when it trusts none.

The candidates are calibration sets the detector's scores are known on, each with a
sample of its texts' features: the model's training domains (scores from a model that saw
the domain) and all of them pooled, or the user's reference sets. The shift test
(`corpus_audit.estimate.shift`) runs against each; the nearest candidate the corpus is not
shifted from calibrates the estimate (`calibrated`). The test vouches for the corpus's human
side (most of a corpus, and all of the test's power at a low machine share), not for which
generators wrote the rest: so when a training domain calibrates, the interval also spans
that domain's human scores beside each training domain's out-of-domain machine-written
scores, wherever the detector separates those (AUROC at least `LOW_AUROC`; machine text it
cannot separate is invisible to any estimate from its scores). News held out of training
showed why: its pools at 10% machine-written, mostly old base models, passed the test
against NewsArticle, whose machine texts are chat rewrites the model scores high, and the
interval missed the truth in 3 of 10 pools at about half of it. When the corpus is shifted from every
candidate, no calibration can be trusted (`shifted`): the interval then spans the
estimates under every per-domain *out-of-domain* calibration in the bank (how the model
scored domains it had never seen, one domain at a time), and the report says so first.
When the corpus is severely unlike all of them (shift statistic at least `SEVERE`: the
two are almost perfectly told apart), or too small to test, even the bank's range can
be uniformly wrong, since every calibration then extrapolates: the interval is all of
[0, 1], which is the honest statement of what the scores can say.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np

from corpus_audit.estimate.estimation import LOW_AUROC, ROUNDS, Calibration, estimate, whole_documents
from corpus_audit.estimate.quantify import ScoreSet, adjust_many, pacc
from corpus_audit.estimate.shift import MIN_DOCUMENTS, ShiftTest, shift_test

BANK_METHOD = "pacc"  # the bank's intervals are adjusted mean scores (`_bank_interval`)
SEVERE = 0.9
BANK_STREAM = 1  # the bank's calibration means: the stream [seed, this], apart from the corpus's [seed]


@dataclass(frozen=True)
class Candidate:
    """A calibration the corpus may be like, with a sample of its texts' features and labels."""

    name: str
    calibration: Calibration
    features: np.ndarray
    labels: np.ndarray


@dataclass(frozen=True)
class Choice:
    """The calibration chosen, the state, the shift record, and (when shifted) the bank to span."""

    calibration: Calibration
    state: str  # "calibrated" or "shifted"
    shift: dict[str, Any]
    bank: dict[str, Calibration] = field(default_factory=dict)
    advice: str = ""
    unbounded: bool = False  # shifted beyond what the bank can bound: the interval is [0, 1]
    # the bank's resampled calibration means per (rounds, seed): drawn once, then shared by every
    # estimate under this choice (the headline, the unique documents', each stratum's, in a worker too)
    _bank_means: dict[tuple[int, int], dict[str, tuple[np.ndarray, np.ndarray]]] = field(
        default_factory=dict, compare=False, repr=False)

    def bank_means(self, rounds: int, seed: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Each bank calibration's (human, machine) means over `rounds` bootstrap resamples of its
        sets, from a stream of `seed` of their own (the corpus's resamples draw from another)."""
        if (rounds, seed) not in self._bank_means:
            rng = np.random.default_rng([seed, BANK_STREAM])
            self._bank_means[rounds, seed] = {
                name: (c.human.resampled_means(rng, rounds), c.synthetic.resampled_means(rng, rounds))
                for name, c in self.bank.items()}
        return self._bank_means[rounds, seed]


def _shift_job(job: tuple[np.ndarray, np.ndarray, float], corpus: np.ndarray, seed: int) -> ShiftTest:
    features, labels, prior = job
    return shift_test(corpus, features, labels, prior, seed)


def choose(scores: ScoreSet, corpus_features: np.ndarray, candidates: list[Candidate], fallback: Calibration,
           bank: dict[str, Calibration], trusted: bool = False, seed: int = 0,
           map_: Callable[..., Iterable[Any]] = map) -> Choice:
    """Test the corpus against each candidate and choose (see the module docstring).

    `trusted`: the candidates are the user's own in-domain references, which calibrate the
    estimate whatever the test says (the test is still reported). The tests are independent
    and run through `map_` (a scan passes its engine's, so they share the workers)."""
    if len(corpus_features) < MIN_DOCUMENTS:
        shift = {"statistic": None, "threshold": None, "verdict": "not tested",
                 "reason": f"only {len(corpus_features):,} documents with text; the test needs {MIN_DOCUMENTS}"}
        if trusted:
            return Choice(candidates[0].calibration, "calibrated", shift)
        return Choice(fallback, "shifted", shift, bank, "too few documents to tell whether the calibration applies",
                      unbounded=True)
    jobs = [(c.features, c.labels, pacc(scores, c.calibration.human, c.calibration.synthetic))
            for c in candidates]
    tests = list(zip(map_(partial(_shift_job, corpus=corpus_features, seed=seed), jobs), candidates))
    test, nearest = min(tests, key=lambda pair: pair[0].statistic)
    shift = test.record(nearest.name) | {"candidates": {c.name: round(t.statistic, 4) for t, c in tests}}
    if trusted or not test.shifted:
        return Choice(nearest.calibration, "calibrated", shift, {} if trusted else _machine_sides(nearest, bank))
    severe = test.statistic >= SEVERE
    return Choice(fallback, "shifted", shift, bank,
                  f"the corpus is {'severely ' if severe else ''}unlike every calibration set (nearest: {nearest.name}, "
                  f"shift statistic {test.statistic:.3f} > threshold {test.threshold:.3f})", unbounded=severe)


def _machine_sides(nearest: Candidate, bank: dict[str, Calibration]) -> dict[str, Calibration]:
    """The matched candidate's human scores beside each bank domain's machine-written ones, where
    the detector separates that domain's classes (see the module docstring)."""
    return {name: Calibration(nearest.calibration.human, c.synthetic, f"{nearest.name}'s human scores, {name}'s machine "
                                                                        "scores from a model trained without it")
            for name, c in bank.items() if c.auroc() >= LOW_AUROC}


def _bank_interval(corpus_means: np.ndarray, human_means: np.ndarray, synthetic_means: np.ndarray,
                   confidence: float) -> tuple[float, float]:
    """The percentile interval of `pacc` under one bank calibration: round r solves the corpus's
    r-th resampled mean against the r-th resampled means of the calibration's two sets."""
    draws = adjust_many(corpus_means, human_means, synthetic_means)
    tail = (1 - confidence) / 2
    return float(np.quantile(draws, tail)), float(np.quantile(draws, 1 - tail))


def honest_estimate(scores: ScoreSet, choice: Choice, rounds: int = ROUNDS, confidence: float = 0.95, seed: int = 0,
                    independent: dict[str, dict[str, float]] | None = None, sampled: float = 1.0) -> dict[str, Any]:
    """The estimate under the chosen calibration, its state and shift record; widened over the bank (when
    shifted) or over the machine sides of the bank (when a training domain calibrates it). The bank's
    intervals resample the corpus whole (as a draw from a source): they stand for calibrations the
    shift test could not confirm, and stay on the wide side. `sampled`: see `estimation.estimate`."""
    result = estimate(scores, choice.calibration, rounds=rounds, confidence=confidence, seed=seed, independent=independent,
                      sampled=sampled)
    result["state"] = choice.state
    result["calibration"]["shift"] = choice.shift
    if choice.bank:
        spread = {name: {"estimate": pacc(scores, c.human, c.synthetic)} for name, c in choice.bank.items()}
        if not choice.unbounded:  # unbounded: the interval is [0, 1] whatever they say
            corpus_means = scores.resampled_means(np.random.default_rng(seed), rounds)
            for name, (human_means, synthetic_means) in choice.bank_means(rounds, seed).items():
                spread[name].update(zip(("ci_low", "ci_high"), whole_documents(
                    *_bank_interval(corpus_means, human_means, synthetic_means, confidence), scores.size)))
        result["bank"] = {"method": BANK_METHOD, "estimates": spread, "resampling": (
            "the corpus whole, as a draw from a source, and both calibration sets: the shift test did not confirm "
            "these calibrations, so their intervals stay on the wide side"), "calibrations": (
            "out-of-domain scores of each training domain" if choice.state == "shifted" else
            "the matched domain's human scores beside each training domain's out-of-domain machine scores (where "
            f"its AUROC is at least {LOW_AUROC}): the shift test cannot tell which generators wrote the corpus")}
        result["ci_low"] = 0.0 if choice.unbounded else min([result["ci_low"], *(s["ci_low"] for s in spread.values())])
        result["ci_high"] = 1.0 if choice.unbounded else max([result["ci_high"], *(s["ci_high"] for s in spread.values())])
        result["bank"]["spans"] = "all of [0, 1]" if choice.unbounded else "every calibration's interval"
    if choice.state == "shifted":
        result["warnings"].insert(0, (
            f"Calibration shifted: {choice.advice}. The estimate cannot be trusted; its interval "
            f"[{result['ci_low']:.1%}, {result['ci_high']:.1%}] spans what the calibration can no longer rule out. "
            "Give in-domain references (--reference-human/--reference-synthetic, or --human-before with "
            "--date-column) to calibrate on this corpus's own kind of text."))
    return result

