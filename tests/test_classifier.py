"""The classifier: training round trip, determinism, safe model files, clear refusals."""

from __future__ import annotations

import json
import pickle
import random
import shutil
import subprocess
import sys
import zlib

import numpy as np
import pytest

from corpus_audit.errors import AuditError
from corpus_audit.estimate.metrics import auroc, tpr_at_fpr
from corpus_audit.model import store as model_store
from corpus_audit.model.training import TrainingOptions, balanced_weights, conservative_intercept, train
from detectors.classifier import ClassifierDetector, TextFeaturizer, style_feature_names
from detectors.layout import normalize_layout
from detectors.lexicon import (
    Lexicon,
    default_lexicon,
    lexical_feature_names,
    lexical_features,
)
from detectors.tokens import hash_words, word_hash
from tests.conftest import write_parquet

PLAIN = ["river", "stone", "bread", "window", "garden", "letter", "winter", "market", "school", "road", "lamp", "field"]
FANCY = ["moreover", "delve", "tapestry", "crucial", "landscape", "furthermore", "vibrant", "seamless", "realm", "pivotal"]


def labelled(n: int, seed: int) -> tuple[list[str], np.ndarray, list[str]]:
    """Two styles of made-up text: short plain sentences, and long ones full of stock words."""
    rng = random.Random(seed)
    texts, labels, groups = [], [], []
    for i in range(n):
        synthetic = i % 2
        words = PLAIN + (FANCY if synthetic else [])
        sentence = (lambda: " ".join(rng.choice(words) for _ in range(rng.randint(12, 20))) + ".") if synthetic else \
                   (lambda: " ".join(rng.choice(words) for _ in range(rng.randint(3, 7))) + "!")
        texts.append(" ".join(sentence() for _ in range(rng.randint(4, 8))))
        labels.append(synthetic)
        groups.append(f"g{i // 2}")
    return texts, np.asarray(labels), groups


def test_metrics_by_hand():
    assert auroc(np.array([0.1, 0.2]), np.array([0.3, 0.4])) == 1.0
    assert auroc(np.array([0.1, 0.4]), np.array([0.3, 0.2])) == 0.5
    human = np.linspace(0, 1, 101)  # threshold at 1% FPR is the 99th percentile, 0.99
    assert tpr_at_fpr(human, np.array([0.995, 0.98, 1.0, 0.5]), 0.01) == 0.5


def _style_row(text: str) -> dict[str, float]:
    return dict(zip(style_feature_names(), TextFeaturizer().parts([text])[1][0]))


def test_weighted_auroc_is_roc_auc_score_with_ties_and_weights():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(2)
    human, synthetic = rng.integers(0, 20, 300) / 20, rng.integers(5, 25, 200) / 20  # many ties
    hw, sw = rng.random(300) * 3, rng.random(200)
    labels = np.r_[np.zeros(300), np.ones(200)]
    assert auroc(human, synthetic) == pytest.approx(roc_auc_score(labels, np.r_[human, synthetic]), abs=1e-12)
    assert auroc(human, synthetic, hw, sw) == pytest.approx(
        roc_auc_score(labels, np.r_[human, synthetic], sample_weight=np.r_[hw, sw]), abs=1e-12)


def test_rows_are_normalised_bit_for_bit_as_scikit_learn_does():
    import scipy.sparse as sp
    from sklearn.preprocessing import normalize

    from detectors.classifier import _normalize_rows

    for seed in range(3):  # rows of 0 to about 1,000 values, empty rows among them
        m = sp.random(300, 20000, density=0.02 * (seed + 1), format="csr", dtype=np.float32, random_state=seed)
        m = sp.vstack([m, sp.csr_matrix((2, 20000), dtype=np.float32), m[:5] * 7], format="csr")
        expected, got = normalize(m.copy(), copy=False), _normalize_rows(m.copy())
        assert np.array_equal(expected.data, got.data) and got.data.dtype == np.float32


def test_style_features_by_hand():
    text = "The the THE of."  # 4 words, 15 characters
    row = _style_row(text)
    assert row["fw_the"] == 0.75 and row["fw_of"] == 0.25
    assert row["word_len_mean"] == pytest.approx(2.75)
    assert row["upper_ratio"] == pytest.approx(4 / 15) and row["punct_2e"] == pytest.approx(1 / 15)
    assert row["type_token_ratio"] == pytest.approx(0.5)
    text = "One. Two two! Three three three?\n\nFour"  # as "One. Two two! Three three three? Four": 37 bytes,
    row = _style_row(text)  # sentences of 4, 9, 19 and 5 bytes
    assert row["sentence_bytes_mean"] == pytest.approx(37 / 4)
    assert row["sentence_bytes_sd"] == pytest.approx(np.std([4, 9, 19, 5]))
    assert row["punct_21"] == pytest.approx(1 / 37)
    assert np.isfinite(TextFeaturizer().parts(["", "x"])[1]).all()
    wrapped = "word " * 40 + "\n" + "word " * 40  # compressibility is the raw text's, at zlib level 6
    assert _style_row(wrapped)["compression_ratio"] == len(zlib.compress(wrapped.encode(), 6)) / len(wrapped)


def test_layout_normalisation_makes_every_whitespace_run_one_space():
    wrapped = "A line that was\nhard wrapped  here,\r\nand here.\n\n\n  Next\tparagraph \n"
    assert normalize_layout(wrapped) == "A line that was hard wrapped here, and here. Next paragraph"
    assert normalize_layout("  plain text ") == "plain text"
    assert normalize_layout("- one\n- two") == "- one - two"  # a wrapped list reads as one line too


def test_layout_changes_no_feature_but_the_raw_compressibility():
    """The same words stored flat, in paragraphs, hard-wrapped or indented give the classifier
    the same input (compressibility is the raw text's, shared with the repetition detector)."""
    words = ("The committee met on Tuesday. It agreed on the budget, after a long debate! "
             "Members asked why the report came late? Nobody knew. The next meeting is in May.").split()
    layouts = [" ".join(words), "\n\n".join(" ".join(words[i:i + 7]) for i in range(0, len(words), 7)),
               "\r\n".join(" ".join(words[i:i + 4]) for i in range(0, len(words), 4)),
               "\n".join("        " + " ".join(words[i:i + 5]) for i in range(0, len(words), 5)) + "\n"]
    counts, styles = TextFeaturizer().parts(layouts)
    assert all((counts[i] != counts[0]).nnz == 0 for i in range(len(layouts)))
    kept = [i for i, name in enumerate(style_feature_names()) if name != "compression_ratio"]
    assert np.array_equal(styles[:, kept], np.repeat(styles[:1, kept], len(layouts), axis=0))


def test_lexical_features_by_hand():
    """A lexicon of three words with made-up frequencies, and one chat word."""
    hashes = np.array(sorted(word_hash(w) for w in ("the", "cat", "delve")), np.uint64)
    zipf = {word_hash("the"): 7.0, word_hash("cat"): 4.0, word_hash("delve"): 2.5}
    vocabulary = tuple(np.array(sorted(word_hash(w) for w in group), np.uint64)
                       for group in (["moreover"], ["delve"], ["tapestry"]))
    lexicon = Lexicon(hashes, np.array([zipf[h] for h in hashes.tolist()], np.float32), vocabulary, "test")
    text = "The cat, the cat: delve zzyzx"  # zipf 7, 4, 7, 4, 2.5, 0 (unlisted)
    words = hash_words([text])
    repeats = np.array([True, True, True, True, False, False])
    row = dict(zip(lexical_feature_names(), lexical_features(words, repeats, lexicon)[0]))
    values = np.array([7, 4, 7, 4, 2.5, 0])
    assert row["zipf_mean"] == pytest.approx(values.mean()) and row["zipf_sd"] == pytest.approx(values.std())
    assert row["share_unlisted"] == pytest.approx(1 / 6) and row["share_rare"] == pytest.approx(1 / 6)
    assert row["share_uncommon"] == pytest.approx(2 / 6) and row["share_very_common"] == pytest.approx(2 / 6)
    assert row["chat_verbs_per_100"] == pytest.approx(100 / 6) and row["chat_transitions_per_100"] == 0
    assert row["content_repeat_share"] == pytest.approx(2 / 4)  # content words: cat, cat, delve, zzyzx


def test_packaged_lexicon_knows_common_and_chat_words():
    lexicon = default_lexicon()
    the, delve, nonsense = lexicon.frequency(np.array([word_hash(w) for w in ("the", "delve", "qzxqzxq")], np.uint64))
    assert the > 7 and 2 < delve < 5 and nonsense == 0
    assert lexicon.frequency(np.array([word_hash("también")], np.uint64))[0] > 4  # Spanish is listed too


def test_balanced_weights_give_each_class_half_and_each_domain_its_share():
    labels = np.array([0, 0, 0, 1, 1, 1, 1, 1])
    domains = np.array(["a", "a", "b", "a", "b", "b", "b", "b"])
    weights = balanced_weights(labels, domains)
    assert weights[labels == 0].sum() == pytest.approx(4) and weights[labels == 1].sum() == pytest.approx(4)
    assert weights[0] + weights[1] == pytest.approx(weights[2])  # domain a's two humans weigh what b's one does
    assert weights[3] == pytest.approx(weights[4:].sum())


def test_conservative_intercept_flags_at_most_the_given_share_of_each_domains_humans():
    rng = np.random.default_rng(0)
    # Human decision values: domain "a" around 0, domain "b" around 1 (the one an equal-prior
    # threshold over-flags), 10 texts of "c" (too few to measure a rate: left out); machines at 3.
    decision = np.r_[rng.normal(0, 1, 2000), rng.normal(1, 1, 2000), np.full(10, 9.0), rng.normal(3, 1, 500)]
    domains = np.array(["a"] * 2000 + ["b"] * 2000 + ["c"] * 10 + ["a"] * 500)
    labels = np.r_[np.zeros(4010), np.ones(500)].astype(int)
    b = conservative_intercept(decision, labels, domains, a=2.0, b=0.5, fpr=0.03)
    # By hand: b's 97th percentile of 2x + 0.5 must land on logit 0.
    assert b == pytest.approx(0.5 - (2 * np.quantile(decision[2000:4000], 0.97) + 0.5))
    flagged = lambda rows: float((2.0 * decision[rows] + b > 0).mean())  # noqa: E731
    assert flagged(slice(2000, 4000)) == pytest.approx(0.03, abs=0.001)
    assert flagged(slice(0, 2000)) < 0.01
    # Humans already all below 0.5: the intercept stays where Platt put it.
    assert conservative_intercept(decision[:2000] - 10, labels[:2000], domains[:2000], 1.0, 0.25) == 0.25


def test_train_separates_and_scores_stay_the_same_after_saving(tmp_path):
    texts, labels, groups = labelled(200, seed=1)
    result = train(texts, labels, groups, TrainingOptions(folds=4))
    assert result.metrics["grouped_cv"]["auroc"] > 0.95
    assert len(result.cv_human) == 100 and len(result.cv_synthetic) == 100
    model_store.save(tmp_path / "m", result.model, result.bank)
    stored = model_store.load(tmp_path / "m")
    new_texts, new_labels, _ = labelled(100, seed=2)
    before = ClassifierDetector(result.model).score(new_texts)["p_synthetic"]
    after = ClassifierDetector(stored.model).score(new_texts)["p_synthetic"]
    assert np.array_equal(before, after)
    assert auroc(after[new_labels == 0], after[new_labels == 1]) > 0.95
    assert np.array_equal(stored.cv_human, result.cv_human)


def test_same_seed_gives_the_same_model_bytes(tmp_path):
    texts, labels, groups = labelled(80, seed=3)
    for name in ("a", "b"):
        result = train(texts, labels, groups, TrainingOptions(folds=3, seed=7))
        model_store.save(tmp_path / name, result.model, result.bank)
    for name in model_store.FILES:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_each_fit_runs_on_one_blas_thread_whatever_the_caller_allows(monkeypatch):
    import threadpoolctl

    from corpus_audit.model import training
    seen = []

    class Recording(training.LogisticRegression):
        def fit(self, *args, **kwargs):  # the classifier's fits (the 1-D Platt fit is not one)
            if self.solver == "liblinear":
                seen.append({pool["num_threads"] for pool in threadpoolctl.threadpool_info()
                             if pool["user_api"] == "blas"})
            return super().fit(*args, **kwargs)

    monkeypatch.setattr(training, "LogisticRegression", Recording)
    texts, labels, groups = labelled(60, seed=4)
    with threadpoolctl.threadpool_limits(2, user_api="blas"):  # what a caller's machine might allow
        train(texts, labels, groups, TrainingOptions(folds=3))
    assert len(seen) == 4 and all(pools == {1} for pools in seen)  # three folds and the final fit


@pytest.mark.parametrize("labels,message", [
    ([0] * 30, "no synthetic texts"),
    ([0, 1] * 5, "at least 20 texts"),
    ([0] * 27 + [1] * 3, "at least 20 texts and 5 of each class"),
])
def test_too_little_or_one_sided_data_is_refused(labels, message):
    texts = [f"text number {i}" for i in range(len(labels))]
    with pytest.raises(AuditError, match=message):
        train(texts, np.asarray(labels))


@pytest.fixture
def model_dir(tmp_path):
    texts, labels, groups = labelled(60, seed=4)
    result = train(texts, labels, groups, TrainingOptions(folds=3))
    model_store.save(tmp_path / "good", result.model, result.bank)
    return tmp_path / "good"


class Boom:
    def __reduce__(self):
        return (print, ("code ran",))


def test_hostile_model_directories_are_refused_without_running_anything(model_dir, tmp_path, capsys):
    def variant(name: str):
        target = tmp_path / name
        shutil.copytree(model_dir, target)
        return target

    pickled = variant("pickled")
    (pickled / "model.pkl").write_bytes(pickle.dumps(Boom()))
    with pytest.raises(AuditError, match=r"unexpected files \['model.pkl'\]"):
        model_store.load(pickled)

    object_array = variant("object-array")
    np.savez(object_array / "weights.npz", idf=np.array([Boom()], dtype=object), style_mean=np.zeros(1),
             style_scale=np.ones(1), coef=np.zeros(1))
    meta = json.loads((object_array / "model.json").read_text())
    import hashlib
    meta["sha256"]["weights.npz"] = hashlib.sha256((object_array / "weights.npz").read_bytes()).hexdigest()
    (object_array / "model.json").write_text(json.dumps(meta))
    with pytest.raises(AuditError, match="refusing to load this model: weights.npz"):
        model_store.load(object_array)

    tampered = variant("tampered")
    data = bytearray((tampered / "weights.npz").read_bytes())
    data[-100] ^= 0xFF
    (tampered / "weights.npz").write_bytes(bytes(data))
    with pytest.raises(AuditError, match="does not match its checksum"):
        model_store.load(tampered)

    wrong_format = variant("format")
    meta = json.loads((wrong_format / "model.json").read_text())
    meta["format"] = "sklearn-pickle"
    (wrong_format / "model.json").write_text(json.dumps(meta))
    with pytest.raises(AuditError, match="not a corpus-audit-classifier model"):
        model_store.load(wrong_format)

    with pytest.raises(AuditError, match="no such model directory"):
        model_store.load(tmp_path / "missing")
    assert "code ran" not in capsys.readouterr().out


def test_shipped_default_model_loads_and_states_its_provenance():
    stored = model_store.load()
    meta = stored.model.metadata
    assert meta["name"] == "default-v4"
    assert set(meta["provenance"]["generators"]) >= {"human", "gpt2-xl", "gpt-4o", "claude-3-opus", "llama-3-70b"}
    assert set(meta["provenance"]["domains"]) >= {"news", "student_essay", "spanish", "TechnicalWriting"}
    assert meta["transfer"]["leave_one_domain_out"]["worst"]["auroc"] <= meta["transfer"]["leave_one_domain_out"]["mean"]
    size = sum(f.stat().st_size for f in model_store.default_model_path().iterdir())
    assert size < 50_000_000  # the cap on the model directory
    assert len(stored.cv_human) > 1000 and len(stored.cv_synthetic) > 1000
    assert len(stored.bank.domains) == len(meta["provenance"]["domains"])


@pytest.mark.slow
def test_train_and_evaluate_commands(tmp_path):
    texts, labels, groups = labelled(120, seed=5)
    human = write_parquet(tmp_path / "h.parquet", [t for t, y in zip(texts, labels) if y == 0],
                          g=[g for g, y in zip(groups, labels) if y == 0])
    synthetic = write_parquet(tmp_path / "s.parquet", [t for t, y in zip(texts, labels) if y == 1],
                              g=[g for g, y in zip(groups, labels) if y == 1])
    run = lambda *args: subprocess.run([sys.executable, "-m", "corpus_audit", *args], capture_output=True, text=True)  # noqa: E731
    trained = run("train", "--human", str(human), "--synthetic", str(synthetic), "--out", str(tmp_path / "m"),
                  "--group-column", "g", "--json")
    assert trained.returncode == 0, trained.stderr
    assert json.loads(trained.stdout)["grouped_cv"]["auroc"] > 0.95
    assert "grouped 5-fold CV: AUROC" in trained.stderr
    steps = [line.strip() for line in trained.stderr.splitlines() if line.startswith("  ")]  # progress, on stderr
    assert steps == ["reading the features of 120 texts", *(f"fitting cross-validation fold {k} of 5" for k in range(1, 6)),
                     "fitting the final model on every text"]
    evaluated = run("evaluate", "--human", str(human), "--synthetic", str(synthetic), "--model", str(tmp_path / "m"),
                    "--group-column", "g", "--json")
    assert evaluated.returncode == 0, evaluated.stderr
    report = json.loads(evaluated.stdout)
    assert report["overall"]["auroc"] > 0.95 and report["overall"]["human"] == 60
    assert report["mixtures"]["methods"]["pacc"]["mean_abs_error"] < 0.1
    assert "estimate error on mixtures" in evaluated.stderr
    one_class = run("train", "--human", str(human), "--synthetic", str(tmp_path / "nothing.parquet"), "--out", str(tmp_path / "x"))
    assert one_class.returncode == 2 and "nothing.parquet: no such file" in one_class.stderr


def test_a_batch_is_compressed_once_for_the_repetition_detector_and_the_classifier(monkeypatch):
    import detectors.text_arrays as text_arrays
    from detectors.prepared import PreparedTexts
    from detectors.repetition import RepetitionDetector

    calls, compress = [], zlib.compress
    monkeypatch.setattr(text_arrays.zlib, "compress", lambda data, level: calls.append(level) or compress(data, level))
    texts = PreparedTexts(["First text, with\nwrapped lines.", "Second text. " * 20, "third", " \n "])
    repetition = RepetitionDetector().score(texts)["compression_ratio"]
    ClassifierDetector(model_store.load().model).score(texts)  # a blank text: it scores the others alone
    assert calls == [6, 6, 6, 6]  # one level-6 compression per text, shared through the batch
    assert repetition[1] == np.float32(len(zlib.compress(("Second text. " * 20).encode(), 6)) / len("Second text. " * 20))


def test_evaluate_shows_a_line_only_for_groups_with_enough_texts_of_each_class():
    from corpus_audit.model.evaluation import shown_groups
    sizes = {"a": (20, 20), "b": (50, 19), "c": (30, 40), "d": (1, 1), "e": (25, 45)}
    groups = {value: {"human": h, "synthetic": s} for value, (h, s) in sizes.items()}
    assert shown_groups(groups) == (["c", "e", "a"], 2)  # largest first; b and d lack 20 of a class
    assert shown_groups(groups, most=1) == (["c"], 4)
