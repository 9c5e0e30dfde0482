"""Quantifiers and intervals against closed-form truths and hand-worked examples."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from corpus_audit.estimate.estimation import Calibration, estimate, whole_documents
from corpus_audit.estimate.quantify import (
    QUANTIFIERS,
    ScoreSet,
    acc,
    cc,
    equal_prior_platt,
    equal_prior_posterior,
    pacc,
    platt_fit,
    sld,
)
from corpus_audit.model import store as model_store
from corpus_audit.model.training import TrainingOptions, train
from corpus_audit.pipeline.calibration import keeps_adapter
from tests.conftest import run, write_parquet
from tests.test_classifier import labelled


def sets(*arrays):
    return [ScoreSet.from_scores(np.asarray(a, dtype=float)) for a in arrays]


def test_acc_and_pacc_by_hand():
    scores, human, synthetic = sets([0.9, 0.7, 0.3, 0.2, 0.6], [0.2, 0.3, 0.6, 0.1], [0.9, 0.8, 0.4, 0.7])
    assert cc(scores, human, synthetic) == pytest.approx(0.6)
    assert acc(scores, human, synthetic) == pytest.approx((0.6 - 0.25) / (0.75 - 0.25))  # 0.7
    assert pacc(scores, human, synthetic) == pytest.approx((0.54 - 0.3) / (0.7 - 0.3))  # 0.6
    assert acc(*sets([0.1, 0.1], [0.9, 0.1], [0.9, 0.9])) == 0.0  # clipped below


def mixture(rng, fraction, n):
    k = rng.binomial(n, fraction)
    return np.r_[rng.beta(6, 2, k), rng.beta(2, 6, n - k)]


@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.3, 0.7])
def test_adjusted_quantifiers_recover_the_fraction_from_known_score_distributions(fraction):
    rng = np.random.default_rng(int(fraction * 100))
    human, synthetic = sets(rng.beta(2, 6, 20_000), rng.beta(6, 2, 20_000))
    scores = ScoreSet.from_scores(mixture(rng, fraction, 50_000))
    # E[score | synthetic] = 0.75, E[score | human] = 0.25: PCC's bias is known in closed form.
    assert QUANTIFIERS["pcc"](scores, human, synthetic) == pytest.approx(0.25 + 0.5 * fraction, abs=0.01)
    for name in ("acc", "pacc", "sld", "hdy"):
        assert QUANTIFIERS[name](scores, human, synthetic) == pytest.approx(fraction, abs=0.015), name


def test_sld_recovers_the_prior_when_the_posterior_model_is_exact():
    rng = np.random.default_rng(3)
    # logit(score) ~ N(+1, 1) for synthetic, N(-1, 1) for human: the equal-prior posterior is sigmoid(2 x).
    to_score = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    human, synthetic = sets(to_score(rng.normal(-1, 1, 20_000)), to_score(rng.normal(1, 1, 20_000)))
    k = 6_000
    scores = ScoreSet.from_scores(to_score(np.r_[rng.normal(1, 1, k), rng.normal(-1, 1, 30_000 - k)]))
    assert sld(scores, human, synthetic) == pytest.approx(0.2, abs=0.01)
    x = np.log(np.r_[human.values, synthetic.values] / (1 - np.r_[human.values, synthetic.values]))
    a, b = platt_fit(x, np.r_[np.zeros(20_000), np.ones(20_000)], np.ones(40_000) / 20_000)
    assert a == pytest.approx(2.0, abs=0.1) and b == pytest.approx(0.0, abs=0.05)


def test_a_detector_probability_under_any_prior_is_recalibrated_to_equal_priors():
    rng = np.random.default_rng(4)
    # As above, the equal-prior posterior is sigmoid(2 x); the detector reports sigmoid(x - 2), a
    # posterior under a lower prior (as the shipped model's conservative intercept does).
    human, synthetic = (ScoreSet.from_scores(1 / (1 + np.exp(-(rng.normal(m, 1, 20_000) - 2)))) for m in (-1, 1))
    a, b = equal_prior_platt(human, synthetic)
    assert a == pytest.approx(2.0, abs=0.1) and b == pytest.approx(4.0, abs=0.15)  # 2 (x - 2) + 4 = 2 x
    x = np.array([-1.0, 0.0, 1.5])
    assert equal_prior_posterior(1 / (1 + np.exp(-(x - 2))), (2.0, 4.0)) == pytest.approx(1 / (1 + np.exp(-2 * x)))


def test_weighted_sets_and_histograms_give_the_same_answers():
    rng = np.random.default_rng(4)
    raw = mixture(rng, 0.2, 5000)
    binned = ScoreSet.from_histogram(np.histogram(raw, np.linspace(0, 1, 10_001))[0])
    human, synthetic = sets(rng.beta(2, 6, 3000), rng.beta(6, 2, 3000))
    for name, q in QUANTIFIERS.items():
        assert q(binned, human, synthetic) == pytest.approx(q(ScoreSet.from_scores(raw), human, synthetic), abs=2e-3), name


def test_calibration_auroc_matches_sklearn():
    rng = np.random.default_rng(5)
    h, s = np.round(rng.beta(2, 4, 700), 2), np.round(rng.beta(4, 2, 900), 2)  # with ties
    expected = roc_auc_score(np.r_[np.zeros(700), np.ones(900)], np.r_[h, s])
    assert Calibration(*sets(h, s), "t").auroc() == pytest.approx(expected)


@pytest.mark.slow
def test_interval_covers_the_truth_near_the_nominal_rate():
    # Corpora of exactly 300 machine-written documents in 2,000: the interval is about that
    # count, which only the scores within each class and the calibration sets' noise move.
    rng = np.random.default_rng(6)
    covered = 0
    repetitions = 80
    for rep in range(repetitions):
        calibration = Calibration(*sets(rng.beta(2, 5, 400), rng.beta(5, 2, 400)), "simulated")
        scores = ScoreSet.from_scores(np.r_[rng.beta(5, 2, 300), rng.beta(2, 5, 1700)])  # exactly 0.15
        result = estimate(scores, calibration, seed=rep)
        covered += result["ci_low"] <= 0.15 <= result["ci_high"]
    assert 0.85 <= covered / repetitions <= 1.0  # nominal 0.95; binomial sd about 0.025


def test_poor_separation_is_said_in_words_and_widens_the_interval():
    rng = np.random.default_rng(7)
    same = lambda n: rng.beta(3, 3, n)  # noqa: E731
    result = estimate(ScoreSet.from_scores(same(2000)), Calibration(*sets(same(500), same(500)), "t"), rounds=40)
    assert result["calibration"]["auroc"] < 0.75
    assert any("separates the calibration sets poorly" in w for w in result["warnings"])
    adjusted = [result["methods"][m] for m in ("acc", "pacc", "sld", "hdy")]
    assert result["ci_low"] == min(m["ci_low"] for m in adjusted)
    assert result["ci_high"] == max(m["ci_high"] for m in adjusted)


def test_scan_reports_the_estimate_with_calibration_from_reference_sets(tmp_path):
    human_texts = [f"the old mill by the river kept its wheel turning in year {i} and nobody minded" for i in range(40)]
    machine_texts = [f"Moreover, it is crucial to delve into the vibrant tapestry of topic {i}, furthermore." for i in range(40)]
    corpus = write_parquet(tmp_path / "c.parquet", human_texts[:30] + machine_texts[:10])
    h = write_parquet(tmp_path / "h.parquet", human_texts[10:])
    s = write_parquet(tmp_path / "s.parquet", machine_texts[10:])
    default = run(tmp_path, corpus, out=tmp_path / "a")["synthetic_fraction"]
    assert {"estimate", "ci_low", "ci_high", "confidence", "method", "methods", "calibration"} <= set(default)
    # 40 documents are too few to test for shift: the estimate is not trusted, and says why first
    assert default["state"] == "shifted" and default["calibration"]["shift"]["verdict"] == "not tested"
    assert "out-of-domain scores of model 'default-v4'" in default["calibration"]["source"]
    assert default["warnings"][0].startswith("Calibration shifted: too few documents")
    assert (default["ci_low"], default["ci_high"]) == (0.0, 1.0) and default["bank"]["spans"] == "all of [0, 1]"
    assert all(0 <= b["estimate"] <= 1 for b in default["bank"]["estimates"].values())
    referenced = run(tmp_path, corpus, out=tmp_path / "b", reference_human=str(h), reference_synthetic=str(s))
    section = referenced["synthetic_fraction"]
    assert section["state"] == "calibrated"  # in-domain references calibrate the estimate
    adaptation = section["adaptation"]  # the detector adapted to the references is kept only if it estimates more precisely
    assert adaptation["used"] is keeps_adapter(*((adaptation[f"reference_auroc_{kind}"], adaptation[f"reference_spread_{kind}"])
                                                 for kind in ("general", "adapted")))
    assert section["calibration"]["auroc"] == pytest.approx(adaptation["reference_auroc_adapted" if adaptation["used"]
                                                                       else "reference_auroc_general"], abs=0.01)
    assert section["calibration"]["human"] == 30 and section["calibration"]["synthetic"] == 30
    assert f"adapted {adaptation['reference_spread_adapted']:.3f}, general {adaptation['reference_spread_general']:.3f}" \
        in section["calibration"]["source"]  # the reader sees why, where the calibration is named
    assert section["ci_low"] <= section["estimate"] <= section["ci_high"]
    occurrence = section["methods"]["occurrence_mle"]  # the word-occurrence MLE joins with reference sets
    assert occurrence["ci_low"] <= occurrence["estimate"] <= occurrence["ci_high"]
    assert referenced["occurrence"]["reference_documents"] == {"human": 30, "synthetic": 30}
    assert "occurrence_mle" not in default["methods"]


def test_references_the_model_reads_backwards_keep_the_adapter_and_its_interval_refits_it(tmp_path):
    rng = np.random.default_rng(0)
    plain = "river stone market winter garden bread window letter morning village road teacher music paper field".split()
    chat = "delve tapestry moreover crucial vibrant furthermore pivotal seamless intricate realm navigate foster".split()

    def text(vocabulary: list[str]) -> str:
        return " ".join(" ".join(rng.choice(vocabulary, rng.integers(8, 14))).capitalize() + "." for _ in range(6))

    # here humans write the vocabulary the model learned as machine-written: its scores are inverted
    human, machine = [text(chat + plain) for _ in range(120)], [text(plain) for _ in range(120)]
    corpus = write_parquet(tmp_path / "c.parquet", human[:70] + machine[:30])  # 30% machine-written
    h, s = write_parquet(tmp_path / "h.parquet", human[70:]), write_parquet(tmp_path / "s.parquet", machine[70:])
    sections = [run(tmp_path, corpus, out=tmp_path / f"w{workers}", reference_human=str(h), reference_synthetic=str(s),
                    workers=workers)["synthetic_fraction"] for workers in (1, 2)]
    section = sections[0]
    assert section["adaptation"]["used"] and section["adaptation"]["reference_auroc_general"] < 0.1
    assert section["ci_low"] <= 0.3 <= section["ci_high"] and abs(section["estimate"] - 0.3) < 0.05
    assert "refits the adapted detector" in section["interval"]
    # the feature sample the refit reads is merged from the workers' batches: the same audit either way
    assert [(x["estimate"], x["ci_low"], x["ci_high"]) for x in sections] == [(section["estimate"], section["ci_low"],
                                                                               section["ci_high"])] * 2


def test_unique_estimate_and_synthetic_mass_match_a_recount_of_documents(tmp_path):
    import pandas as pd

    texts, labels, _ = labelled(120, seed=11)
    machine = [t for t, y in zip(texts, labels) if y == 1]
    corpus = write_parquet(tmp_path / "c.parquet", texts + [machine[0]] * 15)  # a mass-produced machine text
    audit = run(tmp_path, corpus)
    section = audit["synthetic_fraction"]
    docs = pd.read_parquet(tmp_path / "out" / "documents")
    prior, mass_share = section["estimate"], section["synthetic_mass"]
    a, b = mass_share["recalibration"]["a"], mass_share["recalibration"]["b"]
    p = docs.p_synthetic.clip(1e-6, 1 - 1e-6)
    q = 1 / (1 + ((1 - p) / p) ** a * np.exp(-b))  # sigmoid(a logit(p) + b)
    mass = prior * q / (prior * q + (1 - prior) * (1 - q))
    clustered = docs.near_dup_cluster.notna()
    assert mass_share["in_near_duplicate_clusters"] == pytest.approx(mass[clustered].sum() / mass.sum())
    assert mass_share["documents_in_near_duplicate_clusters"] == pytest.approx(clustered.mean())
    flagged = docs.gopher_repetition_flag
    assert mass_share["over_repetition_thresholds"] == pytest.approx(mass[flagged].sum() / mass.sum())
    unique = (~clustered).sum() + docs.near_dup_cluster.nunique()
    assert clustered.sum() == 16  # the text and its 15 copies: one document of them is unique
    assert section["unique_documents"]["documents"] == unique == len(texts)
    low, high = section["unique_documents"]["ci_low"], section["unique_documents"]["ci_high"]
    assert low <= section["unique_documents"]["estimate"] <= high


def test_by_estimates_each_stratum(tmp_path):
    texts, labels, groups = labelled(200, seed=8)  # two styles a small model separates well
    result = train(texts, labels, groups, TrainingOptions(folds=3))
    model_store.save(tmp_path / "model", result.model, result.bank)
    fresh, fresh_labels, _ = labelled(160, seed=9)
    human = [t for t, y in zip(fresh, fresh_labels) if y == 0]
    machine = [t for t, y in zip(fresh, fresh_labels) if y == 1]
    corpus = write_parquet(tmp_path / "c.parquet", human[:50] + machine[:30], site=["plain"] * 50 + ["fancy"] * 30)
    h = write_parquet(tmp_path / "h.parquet", human[50:])
    s = write_parquet(tmp_path / "s.parquet", machine[30:])
    audit = run(tmp_path, corpus, by="site", model=str(tmp_path / "model"), reference_human=str(h),
                reference_synthetic=str(s))
    strata = {row["value"]: row for row in audit["strata"]}
    assert [row["value"] for row in audit["strata"]] == ["plain", "fancy"]  # largest first
    assert strata["plain"]["documents"] == 50 and strata["fancy"]["documents"] == 30
    assert strata["fancy"]["estimate"] > 0.9 and strata["plain"]["estimate"] < 0.1
    for row in audit["strata"]:
        assert row["ci_low"] <= row["estimate"] <= row["ci_high"]
    assert audit["synthetic_fraction"]["ci_low"] <= 30 / 80 <= audit["synthetic_fraction"]["ci_high"]


def test_mixture_errors_are_zero_for_acc_when_scores_separate_perfectly():
    from corpus_audit.estimate.mixtures import FRACTIONS, mixture_errors

    rng = np.random.default_rng(12)
    scores = np.r_[rng.uniform(0, 0.4, 400), rng.uniform(0.6, 1, 300)]
    labels = np.r_[np.zeros(400, int), np.ones(300, int)]
    report = mixture_errors(scores, labels, repetitions=3, rounds=20)
    # every test text is classified right at 0.5, and the calibration rates are 0 and 1: ACC is exact
    assert report["methods"]["acc"]["mean_abs_error"] == pytest.approx(0.0, abs=1e-12)
    assert report["methods"]["cc"]["max_abs_error"] == pytest.approx(0.0, abs=1e-12)
    assert report["fractions"] == list(FRACTIONS) and report["mixture_documents"] > 100
    with pytest.raises(ValueError, match="too few texts"):
        mixture_errors(scores[:12], np.r_[np.zeros(8, int), np.ones(4, int)], repetitions=1)


def test_the_interval_is_about_this_corpus_s_fraction_and_a_sample_s_adds_the_binomial_draw():
    # Human scores 0.1 or 0.3, machine scores 0.7 or 0.9 (means 0.2 and 0.8, each class's
    # variance 0.01); calibration sets of a million each, so their noise is negligible. The
    # corpus: exactly 300 machine-written documents of 1,000. For this corpus's own fraction,
    # only the scores within each class move pacc: var(mean) = (300 * 0.01 + 700 * 0.01) / 1000^2,
    # so pacc's sd is 0.00316 / 0.6 = 0.00527 and the 95% interval about 2 * 1.96 * 0.00527 = 2.07
    # points wide. Scored as a 1% sample of a large corpus, the class count is a binomial draw too:
    # var(mean) gains 0.3 * 0.7 * 0.6^2 / 1000, sd 0.0154, width about 6.05 points.
    half = lambda a, b, n: np.repeat([a, b], n)  # noqa: E731
    human = ScoreSet(np.array([0.1, 0.3]), np.array([1e6, 1e6]))
    machine = ScoreSet(np.array([0.7, 0.9]), np.array([1e6, 1e6]))
    corpus = ScoreSet.from_scores(np.r_[half(0.7, 0.9, 150), half(0.1, 0.3, 350)])
    whole = estimate(corpus, Calibration(human, machine, "hand"), rounds=400, seed=1)
    sampled = estimate(corpus, Calibration(human, machine, "hand"), rounds=400, seed=1, sampled=0.01)
    assert whole["estimate"] == sampled["estimate"] == pytest.approx(0.3, abs=1e-9)
    assert 0.017 <= whole["ci_high"] - whole["ci_low"] <= 0.025  # 2.07 points, +-2 documents of rounding and noise
    assert 0.051 <= sampled["ci_high"] - sampled["ci_low"] <= 0.070  # 6.05 points
    assert "this corpus's own fraction" in whole["interval"] and "as a sample's would be" in sampled["interval"]


def test_an_estimate_clipped_at_100_percent_is_never_a_zero_width_interval():
    # Perfect separation and a corpus scored all-synthetic: every bootstrap round gives 100%.
    # The interval still reaches the Wilson bound for 360 of 360: n / (n + z^2) = 360 / 363.84
    # = 356.2 documents of 360, rounded outward to 356 whole documents.
    corpus, human, synthetic = sets(np.full(360, 0.99), np.full(500, 0.01), np.full(500, 0.99))
    result = estimate(corpus, Calibration(human, synthetic, "hand"), rounds=50)
    for name in ("acc", "pacc", "cc"):
        m = result["methods"][name]
        assert m["estimate"] == 1.0 and m["ci_high"] == 1.0
        assert m["ci_low"] == 356 / 360
    assert result["ci_low"] == 356 / 360 and "Wilson" in result["interval"]


def test_interval_bounds_are_whole_documents_rounded_outward():
    # 0.00055 of 353 documents is 0.19 of one: no document is ruled out, so the bound is 0;
    # 0.0529 of 353 is 18.67 documents: 19 of 353. Bounds already on the grid stay.
    assert whole_documents(0.00055, 0.0529, 353) == (0.0, 19 / 353)
    assert whole_documents(5 / 353, 10 / 353, 353) == (5 / 353, 10 / 353)
    assert whole_documents(0.999, 1.0, 10) == (0.9, 1.0)
    rng = np.random.default_rng(5)
    corpus, human, synthetic = sets(rng.beta(2, 4, 353), rng.beta(2, 5, 200), rng.beta(5, 2, 200))
    result = estimate(corpus, Calibration(human, synthetic, "hand"), rounds=40)
    for m in result["methods"].values():
        for bound in (m["ci_low"], m["ci_high"]):
            assert bound * 353 == pytest.approx(round(bound * 353), abs=1e-9)


def _em_fixed_point(scores, human, synthetic, tolerance=1e-15, iterations=1_000_000):
    """SLD as first written (EM with np.average, from a prior of 0.5), run to convergence."""
    logit = lambda p: np.log(np.clip(p, 1e-6, 1 - 1e-6) / (1 - np.clip(p, 1e-6, 1 - 1e-6)))  # noqa: E731
    x = logit(np.r_[human.values, synthetic.values])
    y = np.r_[np.zeros(len(human.values)), np.ones(len(synthetic.values))]
    a, b = platt_fit(x, y, np.r_[human.weights / human.size, synthetic.weights / synthetic.size])
    posterior = 1 / (1 + np.exp(-(a * logit(scores.values) + b)))
    prior = 0.5
    for _ in range(iterations):
        updated = prior * posterior / (prior * posterior + (1 - prior) * (1 - posterior))
        new_prior = float(np.average(updated, weights=scores.weights))
        if abs(new_prior - prior) < tolerance:
            break
        prior = new_prior
    return min(max(prior, 0.0), 1.0), posterior


def _reference_hdy(scores, human, synthetic):
    grid = np.linspace(0.0, 1.0, 1001)
    estimates = []
    for b in (10, 20, 30, 40, 50):
        density = lambda s: np.histogram(s.values, b, (0.0, 1.0), weights=s.weights)[0] / max(s.size, 1)  # noqa: E731, B023
        test, h, s = density(scores), density(human), density(synthetic)
        mixture = grid[:, None] * s[None, :] + (1 - grid[:, None]) * h[None, :]
        estimates.append(grid[int(np.argmin(np.sum((np.sqrt(mixture) - np.sqrt(test)[None, :]) ** 2, axis=1)))])
    return float(np.mean(estimates))


@pytest.mark.parametrize("seed", range(8))
def test_binning_once_per_set_gives_the_bits_of_the_plain_form_and_sld_is_em_s_fixed_point(seed):
    # Score sets bin their values once for every bootstrap resample: HDy must equal the plain
    # implementation exactly, bin edges (k / b, 0 and 1) and values outside [0, 1] included.
    # SLD solves for EM's fixed point by Newton's method: the prior plain EM converges to.
    rng = np.random.default_rng(seed)
    edges = np.concatenate([np.arange(b + 1) / b for b in (10, 20, 30, 40, 50)])
    def score_set(n, shift):
        values = np.concatenate([np.clip(rng.beta(2 + shift, 2, n), 0, 1), rng.choice(edges, 20), [-0.1, 1.2, np.nan]])
        return ScoreSet(values, rng.integers(0, 5, len(values)).astype(np.float64))
    corpus, human, synthetic = score_set(500, rng.uniform(0, 3)), score_set(300, 0), score_set(300, 4)
    for b in (10, 20, 30, 40, 50):
        assert np.array_equal(corpus.histogram(b), np.histogram(corpus.values, b, (0.0, 1.0), weights=corpus.weights)[0])
    clean = [ScoreSet(s.values[np.isfinite(s.values)].clip(0, 1), s.weights[np.isfinite(s.values)]) for s in (corpus, human, synthetic)]
    for _ in range(3):  # resamples share the binning of their set
        drawn = [s.resample(rng) for s in clean]
        assert QUANTIFIERS["hdy"](*drawn) == _reference_hdy(*drawn)
        assert sld(*drawn) == pytest.approx(_em_fixed_point(*drawn)[0], abs=1e-9)


def test_hdy_searches_a_window_of_the_grid_and_finds_the_plain_forms_prior():
    # HDy searches every 25th prior, then a window around the best; it must pick exactly the
    # prior the plain search over all 1,001 picks: on sparse, tiny, near-identical and identical
    # calibration densities too (flat distances, where rounding picks the minimum).
    rng = np.random.default_rng(17)
    for trial in range(400):
        bins = int(rng.choice([5, 20, 100, 1000]))
        def histogram(size):
            counts = rng.poisson(size * rng.dirichlet(np.full(bins, rng.uniform(0.05, 3))))
            counts[rng.random(bins) < rng.uniform(0, 0.9)] = 0
            return ScoreSet.from_histogram(counts)
        human = histogram(rng.choice([3, 50, 1000]))
        synthetic = human if trial % 10 == 0 else histogram(rng.choice([3, 50, 1000]))
        corpus = histogram(rng.choice([1, 30, 3000]))
        assert QUANTIFIERS["hdy"](corpus, human, synthetic) == _reference_hdy(corpus, human, synthetic)


def _log_likelihood(prior, posterior, weights):
    return float(np.dot(weights, np.log(prior * posterior + (1 - prior) * (1 - posterior))))


@pytest.mark.parametrize("fraction", [0.0, 0.02, 0.5, 0.97, 1.0])
def test_sld_is_the_likelihood_maximum_where_em_converges_slowly(fraction):
    # Classes that overlap much: EM creeps, and its old rule (stop when a step is under 1e-7)
    # stopped up to 6e-4 short of its own limit (at 0.97). The answer must be that limit and
    # beat every prior of a fine grid.
    rng = np.random.default_rng(int(fraction * 100))
    to_score = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    human, synthetic = sets(to_score(rng.normal(-0.4, 1, 3000)), to_score(rng.normal(0.4, 1, 3000)))
    k = int(round(fraction * 4000))
    corpus = ScoreSet.from_scores(to_score(np.r_[rng.normal(0.4, 1, k), rng.normal(-0.4, 1, 4000 - k)]))
    found = sld(corpus, human, synthetic)
    converged, posterior = _em_fixed_point(corpus, human, synthetic)
    assert found == pytest.approx(converged, abs=1e-9)
    best = max(_log_likelihood(p, posterior, corpus.weights) for p in np.linspace(0.0, 1.0, 20_001))
    assert _log_likelihood(found, posterior, corpus.weights) >= best - 1e-7


def test_sld_is_exactly_a_bound_when_the_likelihood_keeps_rising_towards_it():
    rng = np.random.default_rng(5)
    human, synthetic = sets(rng.beta(2, 5, 2000), rng.beta(5, 2, 2000))
    for corpus, bound in ((np.full(500, 0.02), 0.0), (np.full(500, 0.98), 1.0)):
        corpus = ScoreSet.from_scores(corpus)
        assert sld(corpus, human, synthetic) == bound
        assert _em_fixed_point(corpus, human, synthetic)[0] == pytest.approx(bound, abs=1e-9)


def test_a_bank_interval_is_pacc_over_rounds_that_share_the_corpus_resample():
    # Reference: the plain loop of score sets. Every calibration of the bank solves the same
    # resampled corpus means (the seed's stream) against its own resampled human and machine
    # means (a stream of the seed kept for the calibrations, in bank order); an equal spread (a
    # calibration that cannot separate) falls back to the corpus mean, as `pacc` does.
    import pickle

    from corpus_audit.estimate.honest import Choice, honest_estimate
    rng = np.random.default_rng(3)
    corpus = ScoreSet.from_histogram(rng.integers(0, 6, 500))
    flat = ScoreSet(np.array([0.4]), np.array([30.0]))
    bank = {"a": Calibration(*sets(rng.beta(2, 5, 300), rng.beta(5, 2, 300)), "a"),
            "b": Calibration(*sets(rng.beta(2, 3, 200), rng.beta(3, 2, 250)), "b"), "flat": Calibration(flat, flat, "flat")}
    choice = Choice(bank["a"], "shifted", {}, bank, "unlike")
    result = honest_estimate(corpus, choice, rounds=60, seed=11)
    corpus_draws, calibration_draws = np.random.default_rng(11), np.random.default_rng([11, 1])
    corpora = [corpus.resample(corpus_draws) for _ in range(60)]
    for name, calibration in bank.items():
        humans = [calibration.human.resample(calibration_draws) for _ in range(60)]
        machines = [calibration.synthetic.resample(calibration_draws) for _ in range(60)]
        rounds = [pacc(c, h, y) for c, h, y in zip(corpora, humans, machines)]
        low, high = np.quantile(rounds, [0.025, 0.975])
        n = round(corpus.size)  # documents in the corpus: the bounds are whole documents of it, rounded outward
        expected = [math.floor(low * n) / n, math.ceil(high * n) / n]
        got = result["bank"]["estimates"][name]
        assert [got["ci_low"], got["ci_high"]] == pytest.approx(expected, abs=1e-12)
        assert got["estimate"] == pacc(corpus, calibration.human, calibration.synthetic)
    assert result["bank"]["estimates"]["flat"]["ci_low"] < 0.5 < result["bank"]["estimates"]["flat"]["ci_high"]
    # The calibrations' draws are made once per choice and travel with it (a stratum's estimate
    # in a worker process reuses them); another corpus gets its own corpus draws.
    drawn = choice.bank_means(60, 11)
    copied = pickle.loads(pickle.dumps(choice))
    assert list(copied._bank_means) == [(60, 11)] and np.array_equal(copied.bank_means(60, 11)["a"][0], drawn["a"][0])
    other = ScoreSet.from_histogram(rng.integers(0, 6, 500))
    assert honest_estimate(other, copied, rounds=60, seed=11)["bank"] != result["bank"]
    assert choice.bank_means(60, 11) is drawn


def test_resampled_means_are_the_means_of_the_plain_resamples_in_blocks_of_any_size(monkeypatch):
    from corpus_audit.estimate import quantify
    scores = ScoreSet.from_scores(np.random.default_rng(4).random(3000))
    plain = np.random.default_rng(9)
    expected = [scores.resample(plain).mean() for _ in range(25)]
    for block in (1, 7000, 10**9):  # a round per block, two rounds, all at once
        monkeypatch.setattr(quantify, "_RESAMPLE_BLOCK", block)
        assert scores.resampled_means(np.random.default_rng(9), 25) == pytest.approx(expected, abs=1e-12)
    assert ScoreSet(np.array([0.3]), np.array([0.0])).resampled_means(plain, 4).tolist() == [0.0] * 4


def test_estimates_under_one_calibration_share_its_resamples_and_give_what_fresh_sets_give():
    # The second estimate reuses the first's calibration resamples, their histograms and their
    # Platt fits: it must equal an estimate under a calibration built afresh from the same scores.
    rng = np.random.default_rng(21)
    human, machine = rng.beta(2, 5, 400), rng.beta(5, 2, 400)
    shared = Calibration(*sets(human, machine), "shared")
    corpora = [ScoreSet.from_scores(np.r_[rng.beta(2, 5, 300), rng.beta(5, 2, k)]) for k in (30, 150)]
    reused = [estimate(corpus, shared, rounds=40, seed=5) for corpus in corpora]
    fresh = [estimate(corpus, Calibration(*sets(human, machine), "shared"), rounds=40, seed=5) for corpus in corpora]
    assert reused == fresh and reused[0] != reused[1]
    draws = np.random.default_rng([5, 2])  # the calibration's own stream, rounds in order
    for drawn_human, drawn_machine in shared._rounds[5][1][:3]:
        assert np.array_equal(drawn_human.weights, shared.human.resample(draws).weights)
        assert np.array_equal(drawn_machine.weights, shared.synthetic.resample(draws).weights)
