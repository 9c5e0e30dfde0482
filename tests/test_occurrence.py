"""The word-occurrence mixture MLE: hand-solved cases and data drawn from its own model."""

from __future__ import annotations

import numpy as np
import pytest

from corpus_audit.estimate.estimation import occurrence_interval
from corpus_audit.estimate.quantify import occurrence_mle
from detectors import Bundle, Histogram
from detectors.occurrence import LLR_BINS, LLR_LIMIT, WordOccurrenceDetector

WORDS = [f"w{chr(97 + i)}{chr(97 + j)}" for i in range(5) for j in range(6)]  # 30 distinct words


def test_mle_by_hand():
    # ratios 3 and 1/3: the derivative 2/(1+2a) - (2/3)/(1-2a/3) vanishes at a = 1/2
    assert occurrence_mle(np.log([3.0, 1 / 3])) == pytest.approx(0.5, abs=1e-8)
    assert occurrence_mle(np.log([0.5, 0.5])) == 0.0  # every document likelier human
    assert occurrence_mle(np.log([2.0, 4.0])) == 1.0
    # weights count documents
    assert occurrence_mle(np.log([3.0, 1 / 3, 1 / 3]), np.array([2.0, 1.0, 0.0])) == occurrence_mle(np.log([3.0, 3.0, 1 / 3]))


@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.4])
def test_mle_recovers_the_fraction_with_exact_gaussian_likelihood_ratios(fraction):
    rng = np.random.default_rng(int(fraction * 10))
    k = int(fraction * 40_000)
    x = np.r_[rng.normal(1.5, 1, k), rng.normal(0, 1, 40_000 - k)]
    assert occurrence_mle(1.5 * x - 1.5**2 / 2) == pytest.approx(fraction, abs=0.01)  # log N(1.5,1)/N(0,1)


def bernoulli_documents(rng, probabilities, n):
    present = rng.random((n, len(WORDS))) < probabilities
    return [" ".join(w for w, p in zip(WORDS, row) if p) or "zzz" for row in present]


def test_fitted_profile_recovers_the_fraction_when_words_are_independent():
    rng = np.random.default_rng(0)
    p = rng.uniform(0.1, 0.5, len(WORDS))
    q = np.clip(p + rng.normal(0, 0.08, len(WORDS)), 0.05, 0.9)
    detector = WordOccurrenceDetector.fit(bernoulli_documents(rng, p, 4000), bernoulli_documents(rng, q, 4000),
                                          replicates=10, seed=1)
    assert len(detector.vocabulary) == len(WORDS)
    # The model is exact here, so tempering hardly changes the ratio: compare with the true one.
    texts = bernoulli_documents(rng, p, 200)
    present = np.array([[w in t.split() for w in WORDS] for t in texts])
    truth = (present * np.log(q / p) + ~present * np.log((1 - q) / (1 - p))).sum(axis=1)
    fitted = detector.ratios(texts)[:, 0]
    assert np.corrcoef(truth, fitted)[0, 1] > 0.97
    assert np.abs(fitted - truth).mean() < 0.25 * np.abs(truth).mean() + 0.1
    corpus = bernoulli_documents(rng, q, 1500) + bernoulli_documents(rng, p, 6000)  # 0.2 machine-written
    bundle = detector.partial(corpus, detector.score(corpus))
    result = occurrence_interval(bundle, rounds=100, seed=2)
    assert result["estimate"] == pytest.approx(0.2, abs=0.04)
    assert result["ci_low"] <= 0.2 <= result["ci_high"]
    assert result["ci_high"] - result["ci_low"] < 0.2


def test_histogram_binning_hardly_moves_the_mle():
    rng = np.random.default_rng(3)
    ratios = np.r_[rng.normal(2, 2, 2000), rng.normal(-2, 2, 8000)]
    histogram = Histogram(-LLR_LIMIT, LLR_LIMIT, LLR_BINS).add(ratios)
    assert occurrence_mle(histogram.centres(), histogram.counts) == pytest.approx(occurrence_mle(ratios), abs=2e-3)
    single = occurrence_interval(Bundle({"llr_0": histogram}), rounds=50)
    assert single["ci_low"] <= single["estimate"] <= single["ci_high"]


def test_detector_survives_texts_without_vocabulary_words_and_pickles():
    import pickle

    rng = np.random.default_rng(4)
    detector = WordOccurrenceDetector.fit(bernoulli_documents(rng, np.full(30, 0.3), 300),
                                          bernoulli_documents(rng, np.full(30, 0.4), 300), replicates=3)
    texts = ["", "\x00\u202e", "nothing here at all"]
    scores = detector.score(texts)["occurrence_llr"]
    assert scores.shape == (3,) and np.all(np.isfinite(scores))
    assert len(set(scores.tolist())) == 1  # no vocabulary word: every such document gets the base ratio
    clone = pickle.loads(pickle.dumps(detector))
    assert clone.config() == detector.config()
