"""The collapse projection against the closed forms of the design note (its five checks),
and the word spectrum it runs on against brute-force counts."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest

from corpus_audit.collapse import closed_forms as theory
from corpus_audit.collapse.projection import Plan, Spectrum, project, simulate
from detectors.partials import Bundle, TypeCounts
from detectors.spectrum import WordSpectrumDetector
from detectors.tokens import normalize, word_hash
from tests.conftest import run, write_parquet
from tests.test_cli import cli


def test_check_1_linear_regression():
    assert theory.regression_test_error(10, 50, 1.0, 10, "replace") == pytest.approx(2.564, rel=0.02)
    assert theory.regression_test_error(10, 50, 1.0, 10, "accumulate") == pytest.approx(0.3974, rel=0.02)
    assert theory.regression_test_error(10, 50, 1.0, 10_000, "accumulate") == pytest.approx(0.4218, rel=0.02)
    for regime, expected in (("replace", 2.564), ("accumulate", 0.3974)):
        simulated = theory.simulate_regression(10, 50, 1.0, 10, regime, runs=3000, seed=1).mean()
        assert simulated == pytest.approx(expected, rel=0.05), regime


def test_check_2_unigram_replace_chi_square():
    closed = theory.unigram_chi2(50, 5000, 30, "replace")[-1]
    assert closed == pytest.approx(0.2932, rel=0.02)
    runs = simulate(Spectrum(np.array([100.0]), np.array([50]), "t"), Plan(alpha=1.0, regime="replace", generations=30, runs=1500))
    assert runs["chi2"][:, 30].mean() == pytest.approx(closed, rel=0.02)
    # Gini-Simpson: (1 - 1/M)^g (1 - sum p0^2), p0 uniform over 50 types
    assert runs["gini_simpson"][:, 30].mean() == pytest.approx((1 - 1 / 5000) ** 30 * (1 - 1 / 50), rel=0.002)


@pytest.mark.parametrize(("copies", "generations", "expected"), [(1, 10, 0.158), (5, 10, 0.577), (50, 100, 0.624)])
def test_check_3_survival_under_replace(copies, generations, expected):
    assert theory.replace_survival(copies, generations) == pytest.approx(expected, abs=0.01)
    types = 40_000 // copies
    runs = simulate(Spectrum(np.array([float(copies)]), np.array([types]), "t"),
                    Plan(alpha=1.0, regime="replace", generations=generations, runs=8 if copies < 50 else 40))
    assert (runs["types_alive"][:, generations] / types).mean() == pytest.approx(expected, abs=0.01)


def test_check_4_gaussian_refit():
    assert theory.gaussian_median_variance(20, 50) == pytest.approx(0.069, rel=0.05)
    assert theory.gaussian_mean_sigma(20, 100) == pytest.approx(0.268, rel=0.02)
    sigma = theory.simulate_gaussian(20, 50, runs=20_000, seed=2)
    assert np.median(sigma[:, 50] ** 2) == pytest.approx(theory.gaussian_median_variance(20, 50), rel=0.05)
    assert sigma[:, 10].mean() == pytest.approx(theory.gaussian_mean_sigma(20, 10), rel=0.02)
    assert (sigma[:, 10] ** 2).mean() == pytest.approx(1.0, rel=0.03)  # the variance is a martingale


def test_check_5_regimes_and_fractions_are_ordered():
    spectrum = Spectrum.zipf(5000, 1.1, 50_000)
    at_end = lambda **kw: project(spectrum, Plan(generations=8, runs=20, **kw))["generations"][-1]  # noqa: E731
    replace, mix, accumulate = (at_end(alpha=0.5, regime=r) for r in ("replace", "mix", "accumulate"))
    for metric in ("types_alive", "rare_decile_survival", "coverage"):
        assert replace[metric]["mean"] < mix[metric]["mean"] < accumulate[metric]["mean"], metric
    assert replace["chi2"]["mean"] > mix["chi2"]["mean"]
    by_alpha = [at_end(alpha=a, regime="mix") for a in (0.0, 0.1, 0.3, 0.6, 0.9)]
    for safer, riskier in zip(by_alpha, by_alpha[1:]):
        assert riskier["chi2"]["mean"] > safer["chi2"]["mean"]
        # a 20-run mean of the 500 rarest types' survival has a standard error of about 0.005,
        # and alpha 0 and 0.1 differ by less than that: allow 3 standard errors of a difference
        assert riskier["rare_decile_survival"]["mean"] <= safer["rare_decile_survival"]["mean"] + 0.02
    assert by_alpha[-1]["rare_decile_survival"]["mean"] < by_alpha[0]["rare_decile_survival"]["mean"] - 0.2


def test_mix_matches_its_closed_forms():
    assert [round(theory.mix_absence_sum(a), 3) for a in (0.5, 0.9, 0.99)] == [1.741, 3.997, 8.131]
    spectrum = Spectrum(np.array([1.0, 4.0]), np.array([20_000, 5_000]), "t")  # M = N = 40,000
    runs = simulate(spectrum, Plan(alpha=0.5, regime="mix", generations=25, runs=10))
    closed = theory.unigram_chi2(25_000, 40_000, 25, "mix", 0.5)
    assert runs["chi2"][:, 25].mean() == pytest.approx(closed[-1], rel=0.03)
    long_run = 20_000 * (1 - theory.mix_absence(1 / 40_000, 0.5, 40_000)) + 5_000 * (1 - theory.mix_absence(4 / 40_000, 0.5, 40_000))
    assert runs["types_alive"][:, 25].mean() == pytest.approx(long_run, rel=0.01)


def test_sampling_transforms_cut_the_tail():
    spectrum = Spectrum.zipf(2000, 1.0, 100_000)
    top = project(spectrum, Plan(alpha=1.0, regime="replace", generations=1, runs=3, top_k=100, tail_rank=100))
    assert top["generations"][1]["types_alive"]["high"] <= 100
    assert top["generations"][1]["tail_mass"]["high"] == 0  # the plateau sum_{i>k} p_i is cut away
    plain, cold = (project(spectrum, Plan(alpha=1.0, regime="replace", generations=1, runs=3, temperature=t))["generations"][1]
                   for t in (1.0, 0.5))
    assert cold["entropy"]["mean"] < plain["entropy"]["mean"] - 0.5
    nucleus = project(spectrum, Plan(alpha=1.0, regime="replace", generations=1, runs=2, top_p=0.5))
    p = np.sort(np.repeat(spectrum.counts, spectrum.types))[::-1] / spectrum.tokens
    assert nucleus["generations"][1]["types_alive"]["high"] <= int(np.searchsorted(np.cumsum(p), 0.5)) + 1


def test_risk_grade_follows_its_rule():
    spectrum = Spectrum.zipf(20_000, 1.1, 200_000)
    result = project(spectrum, Plan(alpha=1.0, regime="replace", generations=10, runs=5))
    excess = result["risk_inputs"]["excess_rare_decile_loss"]
    expected = "low" if excess < 0.05 else "moderate" if excess < 0.15 else "high" if excess < 0.4 else "critical"
    assert result["risk"] == expected == "critical"
    assert project(spectrum, Plan(alpha=0.0, regime="mix", generations=10, runs=5))["risk"] == "low"


def test_type_counts_are_exact_under_the_cap_and_a_fair_sample_beyond():
    rng = np.random.default_rng(3)
    words = rng.zipf(1.3, 200_000).astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)  # hashed-looking ids
    truth = Counter(words.tolist())
    exact = TypeCounts(cap=10**6)
    for chunk in np.array_split(words, 7):
        exact = exact.merge(TypeCounts(cap=10**6).add(chunk))
    assert exact.level == 0 and exact.tokens == len(words)
    assert dict(zip(exact.hashes.tolist(), exact.counts.tolist())) == truth
    small = [TypeCounts(cap=2000).add(chunk) for chunk in np.array_split(words, 5)]
    forward, backward = small[0], small[-1]
    for part in small[1:]:
        forward = forward.merge(part)
    for part in small[-2::-1]:
        backward = backward.merge(part)
    assert forward.level > 0 and len(forward.hashes) <= 2000
    assert forward.to_state() == backward.to_state()  # merge order does not matter
    kept = forward.hashes >> np.uint64(64 - forward.level) == 0
    assert dict(zip(forward.hashes[kept].tolist(), forward.counts.tolist())) == {h: truth[h] for h in forward.hashes.tolist()}
    values, types = forward.counts_of_counts()
    assert types.sum() == pytest.approx(len(truth), rel=0.15)
    assert types[values == 1].sum() == pytest.approx(sum(1 for c in truth.values() if c == 1), rel=0.2)
    assert TypeCounts.from_state(json.loads(json.dumps(forward.to_state()))).to_state() == forward.to_state()


def test_spectrum_detector_counts_normalised_words():
    texts = ["The cat, the CAT!", "a dog and the cat", "", "\x00 \u202e"]
    detector = WordSpectrumDetector()
    partial = Bundle.from_state(detector.partial(texts, detector.score(texts)).to_state())
    summary = detector.summarize(partial)
    words = Counter(w for t in texts for w in normalize(t))
    assert summary["tokens"] == sum(words.values()) == 9
    assert summary["counts_of_counts"] == [[c, float(n)] for c, n in sorted(Counter(words.values()).items())]
    assert summary["good_turing_unseen_mass"] == pytest.approx(sum(1 for c in words.values() if c == 1) / 9)
    counts = partial.parts["types"]
    assert dict(zip(counts.hashes.tolist(), counts.counts.tolist())) == {word_hash(w): c for w, c in words.items()}


def test_scan_projects_on_the_corpus_spectrum_and_project_reruns_it(tmp_path):
    texts = [f"river {i % 7} mill wheel {i % 13} turning slowly over stones number {i}" for i in range(200)]
    corpus = write_parquet(tmp_path / "c.parquet", texts)
    audit = run(tmp_path, corpus, generations=3, regime="replace")
    assert audit["spectrum"]["tokens"] == sum(len(normalize(t)) for t in texts)
    section = audit["collapse_projection"]
    assert section["risk"] in ("low", "moderate", "high", "critical")
    assert section["inputs"]["regime"] == "replace" and len(section["generations"]) == 4
    first = section["generations"][0]
    assert {"generation", "types_alive", "hapax_survival", "rare_decile_survival", "coverage", "entropy",
            "gini_simpson", "chi2", "kl"} <= set(first)
    assert first["types_alive"]["mean"] == len({w for t in texts for w in normalize(t)})
    again = cli("project", "--synthetic-fraction", str(audit["synthetic_fraction"]["estimate"]), "--spectrum",
                str(tmp_path / "out"), "--generations", "3", "--regime", "replace", "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["generations"][0] == first


def test_project_command_with_a_zipf_spectrum_and_its_errors(tmp_path):
    done = cli("project", "--synthetic-fraction", "0.2", "--ci", "0.1", "0.3", "--zipf-types", "3000", "--runs", "5", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["inputs"]["alpha_interval"] == [0.1, 0.3] and result["inputs"]["spectrum"]["types"] == 3000
    assert "collapse risk:" in done.stderr
    for args, message in [((), "either --spectrum"), (("--zipf-types", "10", "--ci", "0.3", "0.1"), "interval"),
                          (("--spectrum", str(tmp_path)), "no audit.json"), (("--zipf-types", "10", "--top-p", "0"), "--top-p"),
                          (("--zipf-types", "100000000"), "--zipf-types 100,000,000: at most 10,000,000")]:
        failed = cli("project", "--synthetic-fraction", "0.2", *args)
        assert failed.returncode == 2 and message in failed.stderr and len(failed.stderr.strip().splitlines()) == 1, failed.stderr


def test_a_tiny_corpus_whose_types_all_die_still_projects():
    spectrum = Spectrum(np.array([1.0]), np.array([3]), "three hapaxes")
    for regime in ("replace", "mix", "accumulate"):
        result = project(spectrum, Plan(alpha=0.5, regime=regime, generations=6, runs=20))
        assert result["generations"][0]["types_alive"]["mean"] == 3
        assert 0 <= result["generations"][-1]["types_alive"]["mean"] <= 3


def test_fresh_data_yardstick_matches_the_poisson_closed_form():
    # One generation of m fresh tokens keeps a type of count c with probability 1 - exp(-m c / N),
    # whatever the plan: a mix reuses its own generation 1 (drawn from generation 0's model),
    # the others and a transformed mix simulate it apart.
    spectrum = Spectrum.zipf(5_000, 1.1, 50_000)
    kept = np.dot(spectrum.types, 1 - np.exp(-spectrum.counts))  # m = N: the corpus's own size
    lost = 1 - kept / spectrum.size
    for regime, temperature in (("mix", 1.0), ("mix", 0.7), ("replace", 1.0), ("accumulate", 1.0)):
        result = project(spectrum, Plan(alpha=0.5, alpha_low=0.3, alpha_high=0.7, regime=regime, generations=3, runs=200,
                                        temperature=temperature))
        fresh = result["fresh_data"]
        assert fresh["types_alive"]["mean"] == pytest.approx(kept, rel=0.005)
        assert fresh["rare_decile_survival"]["mean"] == pytest.approx(
            result["risk_inputs"]["rare_decile_survival_fresh_data"], abs=0.01)
        assert fresh["generations_to_lose"] == {"10%": 1 if lost >= 0.10 else None, "50%": 1 if lost >= 0.50 else None}
        if regime != "accumulate":
            assert result["generations"][-1]["types_alive"]["mean"] < fresh["types_alive"]["mean"]  # it loses more


def test_any_split_of_the_runs_gives_the_same_numbers():
    spectrum = Spectrum.zipf(2000, 1.1, 50_000)
    plan = Plan(alpha=0.3, alpha_low=0.2, alpha_high=0.4, regime="mix", generations=3, runs=10)
    whole = simulate(spectrum, plan)
    split = [simulate(spectrum, plan, runs) for runs in ([0, 1, 2], [3], [4, 5, 6, 7, 8, 9])]
    for name, values in whole.items():
        assert np.array_equal(values, np.vstack([part[name] for part in split]), equal_nan=True), name
    backwards = lambda f, items: [f(i) for i in reversed(list(items))][::-1]  # noqa: E731  # chunks run in another order
    assert json.dumps(project(spectrum, plan, map_=backwards)) == json.dumps(project(spectrum, plan))
