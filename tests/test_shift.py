"""The shift test, the honest estimate's states, and `--fail-on` failing closed on a shifted audit.

Features are simulated with a known truth: the calibration data is a mixture of two
Gaussian classes; a corpus drawn from the same classes (at any mixing share) is not
shifted, one drawn from moved classes is.
"""

from __future__ import annotations

import pickle
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest

from corpus_audit.estimate.estimation import Calibration, estimate
from corpus_audit.estimate.honest import Candidate, Choice, choose, honest_estimate
from corpus_audit.estimate.quantify import ScoreSet
from corpus_audit.estimate.shift import null_threshold, prior_weights, shift_test
from corpus_audit.report import gating
from corpus_audit.report.summary import state_in_words
from detectors.partials import Bundle, Sample

DIMENSIONS = 12


def draw(rng: np.random.Generator, n: int, prior: float, moved: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """n rows, a share `prior` of them machine-written (mean 1 on the first feature); `moved` shifts feature 3."""
    labels = (rng.random(n) < prior).astype(np.int8)
    rows = rng.normal(size=(n, DIMENSIONS))
    rows[:, 0] += labels
    rows[:, 3] += moved
    return rows.astype(np.float32), labels


def test_prior_weights_give_the_machine_rows_the_asked_share():
    weights = prior_weights(np.array([0, 0, 0, 1]), 0.25)
    assert weights.sum() == pytest.approx(1) and weights[3] == pytest.approx(0.25)
    assert weights[:3] == pytest.approx([0.25, 0.25, 0.25])


def test_the_regression_is_scikit_learns_logistic_regression():
    from sklearn.linear_model import LogisticRegression

    from corpus_audit.estimate.shift import C, logistic_fit

    rng = np.random.default_rng(4)
    rows, labels = draw(rng, 900, 0.4)
    weights = rng.random(900) * 2
    coefficients, intercept = logistic_fit(rows.astype(np.float64), labels.astype(np.float64), weights)
    reference = LogisticRegression(C=C, tol=1e-10, max_iter=10000).fit(rows, labels, sample_weight=weights)
    assert coefficients == pytest.approx(reference.coef_[0], abs=2e-4)
    assert intercept == pytest.approx(reference.intercept_[0], abs=2e-4)


def test_a_scan_does_not_import_scikit_learn(tmp_path):
    # scikit-learn cost every scan process 0.65 s of CPU to import; a scan without references
    # (shift test included: 150 documents) has no use for it.
    import subprocess
    import sys

    code = ("import sys; import corpus_audit as ca; "
            f"ca.audit([f'Document {{i}} says a plain thing about item {{i % 7}} and more.' for i in range(150)], "
            f"out={str(tmp_path / 'out')!r}, workers=1, progress=False); "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'sklearn', 'scipy'}), "
            "'scipy.stats' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["['scipy']", "False"], result.stdout + result.stderr
    audit = __import__("json").loads((tmp_path / "out" / "audit.json").read_text())
    assert audit["synthetic_fraction"]["calibration"]["shift"]["statistic"] is not None


def test_null_threshold_is_the_mann_whitney_bound():
    # n = m = 300: sd = sqrt(601 / (12 * 90000)) = 0.023590
    assert null_threshold(300, 300) == pytest.approx(0.5 + 3 * 0.0235900 + 0.02, abs=1e-6)


@pytest.mark.parametrize("seed", range(5))
def test_a_corpus_from_the_calibration_distribution_is_accepted_at_any_prior(seed):
    rng = np.random.default_rng(seed)
    calibration, labels = draw(rng, 600, 0.5)
    for prior in (0.0, 0.3, 0.9):  # label shift alone is what the estimate measures, not a shift
        corpus, _ = draw(rng, 1000, prior)
        test = shift_test(corpus, calibration, labels, prior, seed)
        assert not test.shifted, (prior, test)


def test_without_the_prior_weighting_a_different_share_would_look_like_shift():
    rng = np.random.default_rng(7)
    calibration, labels = draw(rng, 600, 0.5)
    corpus, _ = draw(rng, 1000, 0.95)
    assert shift_test(corpus, calibration, labels, 0.5).statistic > shift_test(corpus, calibration, labels, 0.95).statistic
    assert shift_test(corpus, calibration, labels, 0.5).shifted


@pytest.mark.parametrize("seed", range(3))
def test_a_corpus_from_another_distribution_is_rejected(seed):
    rng = np.random.default_rng(seed)
    calibration, labels = draw(rng, 600, 0.5)
    corpus, _ = draw(rng, 1000, 0.3, moved=0.6)
    test = shift_test(corpus, calibration, labels, 0.3, seed)
    assert test.shifted and test.record("x")["verdict"] == "shifted"


def scores_of(rng: np.random.Generator, n: int, centre: float) -> ScoreSet:
    return ScoreSet.from_scores(np.clip(rng.normal(centre, 0.15, n), 0, 1))


def test_choose_takes_the_nearest_unshifted_candidate_and_names_it():
    rng = np.random.default_rng(3)
    near_rows, near_labels = draw(rng, 600, 0.5)
    far_rows, far_labels = draw(rng, 600, 0.5, moved=1.0)
    near = Calibration(scores_of(rng, 300, 0.2), scores_of(rng, 300, 0.8), "near")
    far = Calibration(scores_of(rng, 300, 0.4), scores_of(rng, 300, 0.6), "far")
    corpus_rows, _ = draw(rng, 800, 0.3)
    corpus_scores = scores_of(rng, 800, 0.38)
    candidates = [Candidate("far", far, far_rows, far_labels), Candidate("near", near, near_rows, near_labels)]
    choice = choose(corpus_scores, corpus_rows, candidates, far, {"far": far})
    assert choice.state == "calibrated" and choice.calibration is near
    assert choice.shift["against"] == "near" and choice.shift["verdict"] == "no shift detected"
    assert choice.shift["candidates"]["far"] > choice.shift["candidates"]["near"]
    moved_rows, _ = draw(rng, 800, 0.3, moved=-1.0)
    shifted = choose(corpus_scores, moved_rows, candidates, far, {"far": far})
    assert shifted.state == "shifted" and shifted.calibration is far and "nearest: near" in shifted.advice
    assert shifted.unbounded is (shifted.shift["statistic"] >= 0.9)
    too_few = choose(corpus_scores, corpus_rows[:50], candidates, far, {"far": far})
    assert too_few.state == "shifted" and too_few.unbounded and too_few.shift["verdict"] == "not tested"
    # The tests may run in worker processes (a scan passes its engine's map): the same choice.
    with ProcessPoolExecutor(2) as pool:
        in_workers = choose(corpus_scores, moved_rows, candidates, far, {"far": far}, map_=pool.map)
    assert in_workers.shift == shifted.shift and in_workers.advice == shifted.advice


def test_a_calibrated_estimate_spans_the_machine_sides_of_the_bank():
    """The test vouches for the corpus's human side, not its generators: 10% of the corpus is
    machine text scored around 0.5, where the matched domain's machine texts score 0.8, so the
    matched calibration alone reads 5% (pacc: (0.9 * 0.2 + 0.1 * 0.5 - 0.2) / (0.8 - 0.2))
    with a narrow interval; a bank domain whose machine texts score 0.5 reads 10% (the truth).
    A domain whose classes the detector cannot separate adds nothing (its machine side
    would make any interval [0, 1])."""
    rng = np.random.default_rng(11)
    rows, labels = draw(rng, 600, 0.5)
    near = Calibration(scores_of(rng, 4000, 0.2), scores_of(rng, 4000, 0.8), "near")
    other = Calibration(scores_of(rng, 4000, 0.2), scores_of(rng, 4000, 0.5), "other generators")
    blind = Calibration(scores_of(rng, 4000, 0.2), scores_of(rng, 4000, 0.22), "inseparable")
    corpus = ScoreSet.from_scores(np.r_[np.clip(rng.normal(0.2, 0.15, 9000), 0, 1), np.clip(rng.normal(0.5, 0.15, 1000), 0, 1)])
    corpus_rows, _ = draw(rng, 800, 0.1)
    choice = choose(corpus, corpus_rows, [Candidate("near", near, rows, labels)], near, {"other": other, "blind": blind})
    assert choice.state == "calibrated" and set(choice.bank) == {"other"}
    assert choice.bank["other"].human is near.human and choice.bank["other"].synthetic is other.synthetic
    alone = honest_estimate(corpus, Choice(near, "calibrated", choice.shift), rounds=100)
    assert alone["estimate"] == pytest.approx(0.05, abs=0.01) and alone["ci_high"] < 0.1
    spanned = honest_estimate(corpus, choice, rounds=100)
    assert spanned["bank"]["estimates"]["other"]["estimate"] == pytest.approx(0.1, abs=0.01)
    assert spanned["ci_low"] <= 0.1 <= spanned["ci_high"] and spanned["estimate"] == alone["estimate"]
    assert spanned["state"] == "calibrated" and not any(w.startswith("Calibration shifted") for w in spanned["warnings"])
    assert "which generators wrote the corpus" in state_in_words(spanned)
    assert state_in_words(alone).startswith("calibrated (") and "generators" not in state_in_words(alone)


def test_a_shifted_estimate_spans_every_calibration_in_the_bank():
    rng = np.random.default_rng(5)
    corpus = scores_of(rng, 2000, 0.5)
    low = Calibration(scores_of(rng, 400, 0.1), scores_of(rng, 400, 0.9), "a domain where the corpus reads as 50%")
    high = Calibration(scores_of(rng, 400, 0.3), scores_of(rng, 400, 0.6), "one where it reads as 67%")
    shift = {"statistic": 0.8, "threshold": 0.6, "verdict": "shifted"}
    result = honest_estimate(corpus, Choice(low, "shifted", shift, {"a": low, "b": high}, "unlike them"), rounds=100)
    bank = result["bank"]["estimates"]
    assert bank["a"]["estimate"] == pytest.approx(0.5, abs=0.03) and bank["b"]["estimate"] == pytest.approx(2 / 3, abs=0.03)
    assert result["ci_low"] <= bank["a"]["ci_low"] and result["ci_high"] >= bank["b"]["ci_high"]
    assert result["state"] == "shifted" and result["calibration"]["shift"] == shift
    assert result["warnings"][0].startswith("Calibration shifted: unlike them.")
    unbounded = honest_estimate(corpus, Choice(low, "shifted", shift, {"a": low}, "far", unbounded=True), rounds=50)
    assert (unbounded["ci_low"], unbounded["ci_high"]) == (0.0, 1.0) and unbounded["bank"]["spans"] == "all of [0, 1]"
    calibrated = honest_estimate(corpus, Choice(low, "calibrated", shift), rounds=100)
    assert calibrated["state"] == "calibrated" and "bank" not in calibrated
    assert calibrated["ci_high"] - calibrated["ci_low"] < result["ci_high"] - result["ci_low"]


@pytest.mark.parametrize("rule, broken_if_calibrated, broken_if_shifted", [
    ("synthetic_fraction>0.10", False, True),  # estimate 5%, interval [2%, 40%]: could exceed 10%
    ("synthetic_fraction>0.50", False, False),  # nowhere in the interval
    ("synthetic_fraction<0.03", False, True),
    ("synthetic_fraction<=0.01", False, False),
    ("unique_synthetic_fraction>0.10", False, True),  # 6%, its own interval [1%, 30%]
    ("unique_synthetic_fraction>0.35", False, False),  # inside the headline's interval, not in its own
    ("ci_high>0.5", False, False),  # a rule on the interval's own end is judged as written
])
def test_a_rule_on_a_shifted_estimate_fails_if_the_interval_could_break_it(rule, broken_if_calibrated, broken_if_shifted):
    unique = {"documents": 900, "estimate": 0.06, "ci_low": 0.01, "ci_high": 0.30}
    audit = {"synthetic_fraction": {"estimate": 0.05, "ci_low": 0.02, "ci_high": 0.40, "state": "calibrated",
                                    "unique_documents": unique}}
    assert gating.evaluate([gating.parse_rule(rule)], audit)[0]["broken"] is broken_if_calibrated
    audit["synthetic_fraction"]["state"] = "shifted"
    result = gating.evaluate([gating.parse_rule(rule)], audit)[0]
    assert result["broken"] is broken_if_shifted
    assert ("judged_on" in result) is rule.startswith(("synthetic_fraction", "unique_synthetic_fraction"))


def test_the_unique_document_estimate_of_a_shifted_audit_spans_the_bank_too(tmp_path):
    # 600 documents, the first 100 copies of one (a near-duplicate cluster): the estimate over
    # one document per cluster must be made as the headline is, bank included, not from the
    # untrusted calibration alone; without near-duplicates it is the headline.
    import pyarrow as pa
    import pyarrow.parquet as pq

    from corpus_audit.estimate.composition import composition
    from detectors import Histogram
    from detectors.classifier import SCORE_BINS

    rng = np.random.default_rng(9)
    low = Calibration(scores_of(rng, 400, 0.1), scores_of(rng, 400, 0.9), "a domain where the corpus reads as 50%")
    high = Calibration(scores_of(rng, 400, 0.3), scores_of(rng, 400, 0.6), "one where it reads as 67%")
    choice = Choice(low, "shifted", {"statistic": 0.8, "threshold": 0.6, "verdict": "shifted"}, {"a": low, "b": high}, "unlike them")
    p = np.clip(rng.normal(0.5, 0.15, 600), 0, 1).astype(np.float32)
    ids = [f"d{i}" for i in range(600)]
    counts_of = lambda values: Histogram(0.0, 1.0, SCORE_BINS).add(values.astype(np.float64)).counts  # noqa: E731
    for cluster in ([None] * 600, ["d0"] * 100 + [None] * 500):
        (tmp_path / "documents").mkdir(exist_ok=True)
        pq.write_table(pa.table({"doc_id": ids, "p_synthetic": p, "near_dup_cluster": pa.array(cluster, pa.string()),
                                 "gopher_repetition_flag": np.zeros(600, bool)}), tmp_path / "documents" / "part.parquet")
        section = honest_estimate(ScoreSet.from_histogram(counts_of(p)), choice, seed=0)
        composition(section, tmp_path / "documents", ["part.parquet"], choice, 0, counts_of(p))
        unique_p = p if cluster[1] is None else np.r_[p[:1], p[100:]]  # d0 stands for its cluster
        expected = honest_estimate(ScoreSet.from_histogram(counts_of(unique_p)), choice, seed=0)
        got = section["unique_documents"]
        assert got["documents"] == len(unique_p)
        assert [got[k] for k in ("estimate", "ci_low", "ci_high")] == [expected[k] for k in ("estimate", "ci_low", "ci_high")]
        trusted = estimate(ScoreSet.from_histogram(counts_of(unique_p)), low, seed=0)  # the untrusted calibration alone
        assert got["ci_high"] - got["ci_low"] > trusted["ci_high"] - trusted["ci_low"] + 0.05


def test_sample_is_the_bottom_k_of_the_union_in_any_merge_order():
    rng = np.random.default_rng(0)
    priorities = rng.integers(0, 2**63, 500, dtype=np.uint64)
    rows = rng.normal(size=(500, 3)).astype(np.float32)
    parts = [Sample(50).add(priorities[i:i + 100], rows[i:i + 100]) for i in range(0, 500, 100)]
    forward = parts[0]
    for part in parts[1:]:
        forward = forward.merge(part)
    backward = parts[-1]
    for part in parts[-2::-1]:
        backward = backward.merge(part)
    expected = np.argsort(priorities)[:50]
    assert np.array_equal(forward.rows, rows[expected]) and np.array_equal(backward.rows, rows[expected])
    again = Bundle.from_state(Bundle({"s": forward}).to_state()).parts["s"]
    assert np.array_equal(again.rows, forward.rows) and np.array_equal(again.priorities, forward.priorities)
    assert Sample(5).merge(Sample(5)).rows.shape[0] == 0


def test_human_before_picks_exactly_the_rows_dated_before(tmp_path):
    from datetime import datetime, timezone

    from corpus_audit.config import ScanConfig
    from corpus_audit.pipeline.references import read_references
    from tests.conftest import write_parquet

    old = [f"an old forum post number {i} about the weather" for i in range(30)]
    new = [f"a recent post number {i} about the weather" for i in range(20)]
    odd = ["no date on this one", "nor a readable one here", "   "]
    write_parquet(tmp_path / "c" / "a.parquet", old[:25] + new + odd,
                  published=[f"2021-0{1 + i % 9}-15" for i in range(25)] + ["2023-01-02T10:00:00"] * 20 + [None, "n/a", "2020-01-01"])
    stamps = [datetime(2022, 11, 29, 23, 59, tzinfo=timezone.utc)] * 4 + [datetime(2022, 11, 30, tzinfo=timezone.utc)]
    write_parquet(tmp_path / "c" / "b.parquet", old[25:], published=stamps)  # a timestamp column: the last is not before
    config = ScanConfig((str(tmp_path / "c"),), out=tmp_path / "out", human_before="2022-11-30", date_column="published")
    references = read_references(config, None)
    assert sorted(references.human) == sorted(old[:29])  # whitespace-only text is no evidence, so not a reference
    assert references.synthetic is None
    assert references.dated == {"documents": 53, "dated_before": 29, "without_date": 2, "used": 29,
                                "before": "2022-11-30", "column": "published"}


@pytest.mark.parametrize("options, message", [
    ({"human_before": "2022-11-30"}, "--human-before and --date-column go together"),
    ({"human_before": "last year", "date_column": "d"}, "--human-before 'last year': expected a date like 2022-11-30"),
    ({"human_before": "2022-11-30", "date_column": "d", "reference_human": "h", "reference_synthetic": "s"},
     "give one of them"),
])
def test_human_before_options_are_checked(tmp_path, options, message):
    from corpus_audit.config import ScanConfig
    from corpus_audit.errors import AuditError

    with pytest.raises(AuditError, match=message):
        ScanConfig(("x",), out=tmp_path / "out", **options)


@pytest.mark.slow
def test_a_scan_calibrates_on_dated_documents_and_a_shifted_one_fails_closed(tmp_path):
    import json
    import subprocess
    import sys

    from tests.conftest import make_texts, write_parquet

    human, machine = make_texts(60), [f"Moreover, it is crucial to delve into topic {i}; furthermore, it "
                                              "underscores a vibrant and multifaceted landscape." for i in range(40)]
    corpus = write_parquet(tmp_path / "c.parquet", human + machine,
                           published=["2019-06-01"] * 60 + ["2024-02-01"] * 40)
    scan = lambda *extra: subprocess.run([sys.executable, "-m", "corpus_audit", "scan", str(corpus), "--workers", "1",  # noqa: E731
                                          *extra], capture_output=True, text=True)
    dated = scan("--out", str(tmp_path / "dated"), "--human-before", "2022-11-30", "--date-column", "published")
    assert dated.returncode == 0, dated.stderr
    audit = json.loads((tmp_path / "dated" / "audit.json").read_text())
    assert audit["human_before"]["used"] == 60 and audit["synthetic_fraction"]["state"] == "calibrated"
    assert audit["synthetic_fraction"]["calibration"]["source"].startswith("60 documents of the corpus dated before 2022-11-30")
    # Without references these 100 documents are too few for the shift test: the estimate is
    # 'shifted', and a rule its interval could break is broken, saying why, though the point holds it.
    assert scan("--out", str(tmp_path / "gated")).returncode == 0
    fraction = json.loads((tmp_path / "gated" / "audit.json").read_text())["synthetic_fraction"]
    low, point, high = fraction["ci_low"], fraction["estimate"], fraction["ci_high"]
    assert fraction["state"] == "shifted" and high - low > 0.02
    rule = f"synthetic_fraction<{(low + point) / 2:.4f}" if point - low > high - point else f"synthetic_fraction>{(point + high) / 2:.4f}"
    gated = scan("--out", str(tmp_path / "gated"), "--overwrite", "--fail-on", rule)
    assert gated.returncode == 1 and "judged on its whole 95% interval" in gated.stderr


def test_the_adapter_learns_what_the_general_model_missed_and_its_scores_are_cross_fitted():
    from corpus_audit.estimate.metrics import auroc
    from corpus_audit.model.adapt import fit_adapter

    rng = np.random.default_rng(11)
    rows, labels = draw(rng, 400, 0.5)  # feature 0 separates the classes (by 1 sd)
    general = rng.uniform(0.2, 0.8, len(labels))  # the general model knows nothing here
    adapter, human, synthetic = fit_adapter((general[labels == 0], rows[labels == 0]), (general[labels == 1], rows[labels == 1]))
    assert auroc(general[labels == 0], general[labels == 1]) < 0.6 < 0.7 < auroc(human, synthetic)
    assert len(human) == (labels == 0).sum() and len(synthetic) == (labels == 1).sum()
    noise = rng.normal(size=(400, DIMENSIONS)).astype(np.float32)  # no signal at all: cross-fitting must not invent one
    _, human, synthetic = fit_adapter((general[:200], noise[:200]), (general[200:], noise[200:]))
    assert abs(auroc(human, synthetic) - 0.5) < 0.1
    fresh, fresh_labels = draw(rng, 2000, 0.5)
    adapted = adapter.probability(np.full(len(fresh), 0.5), fresh)
    assert auroc(adapted[fresh_labels == 0], adapted[fresh_labels == 1]) > 0.7
    assert adapter.fingerprint == fit_adapter((general[labels == 0], rows[labels == 0]),
                                              (general[labels == 1], rows[labels == 1]))[0].fingerprint


def test_the_reference_spread_of_a_pacc_estimate_matches_a_hand_count():
    from corpus_audit.pipeline.calibration import reference_spread

    sets = lambda values: ScoreSet.from_scores(np.array(values))  # noqa: E731
    # calibration means 0.1 and 0.9; round 1 moves them to 0 and 1, round 2 to 0.2 and 0.8. At fraction f the corpus
    # mean is 0.1 + 0.8 f, and round 2's estimate (q - 0.2) / 0.6 is clipped at 0: estimates (0.1, 0), (0.18, 0),
    # (0.26, 0.1), (0.34, 0.2333), (0.42, 0.3667), (0.5, 0.5) at f = 0 to 0.5, standard deviations 0.05, 0.09, 0.08,
    # 0.0533, 0.0267, 0: mean 0.05
    rounds = [(sets([0.0, 0.0]), sets([1.0, 1.0])), (sets([0.2, 0.2]), sets([0.8, 0.8]))]
    assert reference_spread(rounds, sets([0.0, 0.2]), sets([0.8, 1.0])) == pytest.approx(0.05)


def test_the_adapter_draws_a_curve_per_input_and_survives_inputs_with_ties():
    from corpus_audit.estimate.metrics import auroc
    from corpus_audit.model.adapt import fit_adapter, quantile_knots

    rng = np.random.default_rng(12)
    labels = np.repeat([0, 1], 300)
    rows = rng.normal(size=(600, DIMENSIONS)).astype(np.float32)
    # human texts sit at either extreme of feature 0, machine texts in the middle: no line
    # through it separates them (a linear fit's AUROC is about 0.5), |x| > 1 does (about 0.99)
    rows[:, 0] = np.where(labels == 0, rng.choice([-2.0, 2.0], 600), 0.0) + rng.normal(0, 0.5, 600)
    rows[:, 1] = 0.0  # a feature with one value: its knots tie
    rows[:, 2] = np.where(rng.random(600) < 0.8, 0.0, rows[:, 2])  # mostly one value
    general = rng.uniform(0.2, 0.8, 600)
    _, human, synthetic = fit_adapter((general[labels == 0], rows[labels == 0]), (general[labels == 1], rows[labels == 1]))
    assert auroc(human, synthetic) > 0.95
    knots = quantile_knots(rows[:, :3].astype(np.float64))
    assert (np.diff(knots, axis=0) > 0).all()


@pytest.mark.parametrize(("general", "adapted", "kept"), [
    ((0.90, 0.02), (0.93, 0.04), False),  # ranks better, estimates worse (stories in the truth benchmark)
    ((0.90, 0.04), (0.85, 0.02), True),  # ranks worse, estimates better
    ((0.05, 0.01), (0.99, 0.03), True),  # the general model reads the references backwards: its interval is every method's
    ((0.60, 0.01), (0.70, 0.05), True),  # neither separates well: the higher AUROC
    ((0.70, 0.01), (0.60, 0.05), False),
])
def test_the_adapter_is_kept_when_its_scores_estimate_more_precisely(general, adapted, kept):
    from corpus_audit.pipeline.calibration import keeps_adapter

    assert keeps_adapter(general, adapted) is kept


def test_the_adapter_refit_resamples_each_class_and_never_scores_a_reference_by_a_fit_that_saw_a_copy_of_it():
    from corpus_audit.estimate.metrics import auroc
    from corpus_audit.model.adapt import refit

    n = 60  # each reference is recognisable by a feature of its own: a fit that saw a copy of it knows its label
    x = np.hstack([np.random.default_rng(2).normal(size=(2 * n, 1)), 3 * np.eye(2 * n)])
    y = np.r_[np.zeros(n), np.ones(n)]
    separations = []
    for seed in range(10):
        labels, crossed, adapter = refit(x, y, np.random.default_rng(seed))
        assert (labels == 0).sum() == (labels == 1).sum() == n and len(crossed) == 2 * n and len(adapter.score(x[:7])) == 7
        separations.append(auroc(crossed[labels == 0], crossed[labels == 1]))
    # copies share their original's fold, so there is nothing to recognise (folding the copies apart gave 0.89)
    assert np.mean(separations) < 0.6


def test_an_adapted_calibration_redraws_the_corpus_through_the_refit_of_its_feature_sample():
    from corpus_audit.model.adapt import adapter_inputs, fit_adapter, refit
    from corpus_audit.pipeline.calibration import RefitRedraw, Refits

    rng = np.random.default_rng(4)
    rows, labels = draw(rng, 200, 0.5)
    general = rng.uniform(0.2, 0.8, len(labels)).astype(np.float32)
    adapter, _, _ = fit_adapter((general[labels == 0], rows[labels == 0]), (general[labels == 1], rows[labels == 1]))
    corpus_rows, _ = draw(rng, 300, 0.3)
    corpus_general = rng.uniform(0.2, 0.8, 300).astype(np.float32)
    inputs = np.vstack([adapter_inputs(general[labels == 0], rows[labels == 0]),
                        adapter_inputs(general[labels == 1], rows[labels == 1])])
    ordered = np.r_[np.zeros((labels == 0).sum()), np.ones((labels == 1).sum())]
    scores = adapter.probability(corpus_general, corpus_rows).astype(np.float64)
    redraw = RefitRedraw(Refits(inputs, ordered, seed=9), adapter_inputs(corpus_general, corpus_rows), np.sort(scores))
    corpus, human, synthetic = redraw(3, ScoreSet.from_scores(scores))
    # round 3 by hand: the corpus is its own feature sample, so its scores become the refit's exactly
    drawn, crossed, refitted = refit(inputs, ordered, np.random.default_rng([9, 3]))
    refitted = refitted.score(adapter_inputs(corpus_general, corpus_rows))
    assert np.sort(corpus.values) == pytest.approx(np.sort(refitted), abs=1e-9)
    assert np.sort(human.values) == pytest.approx(np.sort(crossed[drawn == 0]))
    assert np.sort(synthetic.values) == pytest.approx(np.sort(crossed[drawn == 1]))
    calibration = Calibration(human, synthetic, "adapted", redraw)
    first = estimate(ScoreSet.from_scores(scores), calibration, rounds=5)
    assert "refits the adapted detector" in first["interval"] and len(redraw.refits._rounds) == 5
    # a later estimate reuses the rounds' refits, a pickled copy (sent to a worker) carries them, and
    # refits made ahead in chunks through a map are the same refits
    assert estimate(ScoreSet.from_scores(scores), calibration, rounds=5) == first
    copy = pickle.loads(pickle.dumps(calibration))
    assert len(copy.redraw.refits._rounds) == 5 and estimate(ScoreSet.from_scores(scores), copy, rounds=5) == first
    ahead = RefitRedraw(Refits(inputs, ordered, seed=9), adapter_inputs(corpus_general, corpus_rows), np.sort(scores))
    ahead.prepare(5, map)
    assert estimate(ScoreSet.from_scores(scores), Calibration(human, synthetic, "adapted", ahead), rounds=5) == first
