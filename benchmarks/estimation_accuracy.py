"""The artificial-prevalence protocol: how close each estimator gets to a known fraction,
and how often its 95% interval contains it.

Scores: out-of-fold `p_synthetic` of every reference text (grouped 5-fold CV by
`source_id`, so no text is scored by a model that saw its source). In each repetition the
source articles are split at random into a calibration half and a test half; a test corpus
of `size` documents with true synthetic fraction `f` is drawn from the test half, and
every method estimates `f` with its bootstrap interval calibrated on the calibration half
(in-domain calibration). A half holds only ~640 human texts, so corpora of 1,000 or 5,000
documents reuse texts (drawn with replacement); the bootstrap treats documents as
independent, so reuse makes the measured coverage lower than on a corpus of distinct
documents. Sizes up to ~600 are drawn without replacement and show coverage without it.

The word-occurrence mixture MLE (`occurrence_mle`, no classifier) is fitted on the
calibration half's texts (its reference sets) and run on the same test corpora, with its
interval from the corpus and the reference-profile bootstrap replicates.

    python benchmarks/estimation_accuracy.py --repetitions 40 --rounds 100
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from corpus_audit.estimate.estimation import Calibration, estimate, occurrence_interval  # noqa: E402
from corpus_audit.estimate.quantify import QUANTIFIERS, ScoreSet  # noqa: E402
from corpus_audit.model.training import TrainingOptions, train  # noqa: E402
from detectors import Bundle, Histogram  # noqa: E402
from detectors.occurrence import LLR_BINS, LLR_LIMIT, WordOccurrenceDetector  # noqa: E402

FRACTIONS = (0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5)
REFERENCE = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "reference" / "reference.parquet"


def load_reference(path: Path) -> tuple[list[str], dict[str, np.ndarray]]:
    """The reference texts, and every other column as an array plus `y` (1 = synthetic)."""
    if not path.exists():
        sys.exit(f"{path}: reference data not found")
    table = pq.read_table(path).to_pydict()
    data = {k: np.asarray(v) for k, v in table.items() if k != "text"}
    data["y"] = (data["label"] == "synthetic").astype(int)
    return table["text"], data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=REFERENCE)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--repetitions", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=100, help="bootstrap rounds per estimate")
    args = parser.parse_args()
    texts, data = load_reference(args.data)
    scores = train(texts, data["y"], data["source_id"].tolist(), TrainingOptions()).cv_probability
    sources = np.unique(data["source_id"])
    rng = np.random.default_rng(0)
    methods = [*QUANTIFIERS, "occurrence_mle"]
    results = {size: {m: [] for m in methods} for size in args.sizes}
    for rep in range(args.repetitions):
        calibration_sources = set(rng.choice(sources, len(sources) // 2, replace=False).tolist())
        in_calibration = np.fromiter((s in calibration_sources for s in data["source_id"]), bool, len(scores))
        human, synthetic = data["y"] == 0, data["y"] == 1
        calibration = Calibration(ScoreSet.from_scores(scores[in_calibration & human]),
                                  ScoreSet.from_scores(scores[in_calibration & synthetic]), "reference half")
        pool_h, pool_s = np.flatnonzero(~in_calibration & human), np.flatnonzero(~in_calibration & synthetic)
        detector = WordOccurrenceDetector.fit([texts[i] for i in np.flatnonzero(in_calibration & human)],
                                              [texts[i] for i in np.flatnonzero(in_calibration & synthetic)], seed=rep)
        ratios = np.zeros((len(texts), detector.replicates + 1))
        test = np.flatnonzero(~in_calibration)
        ratios[test] = detector.ratios([texts[i] for i in test])
        for size in args.sizes:
            for f in FRACTIONS:
                k = int(round(f * size))
                reuse = k > len(pool_s) or size - k > len(pool_h)  # too few texts: draw with replacement
                corpus = np.r_[rng.choice(pool_s, k, replace=reuse), rng.choice(pool_h, size - k, replace=reuse)]
                counts = np.histogram(scores[corpus], np.linspace(0, 1, 10_001))[0]
                occurrence = Bundle({f"llr_{j}": Histogram(-LLR_LIMIT, LLR_LIMIT, LLR_BINS).add(ratios[corpus, j])
                                     for j in range(ratios.shape[1])})
                result = estimate(ScoreSet.from_histogram(counts), calibration, rounds=args.rounds, seed=rep,
                                  independent={"occurrence_mle": occurrence_interval(occurrence, args.rounds, seed=rep)})
                for m, r in result["methods"].items():
                    results[size][m].append((f, r["estimate"], r["ci_low"] <= f <= r["ci_high"]))
        print(f"repetition {rep + 1}/{args.repetitions} done", file=sys.stderr, flush=True)
    for size, by_method in results.items():
        for method, rows in by_method.items():
            f, est, covered = (np.array(x) for x in zip(*rows))
            err = np.abs(est - f)
            low = f <= 0.3
            print(json.dumps({"size": size, "method": method, "texts_reused": size > 600,
                              "mae_0_to_0.3_points": round(100 * err[low].mean(), 2),
                              "max_abs_error_points": round(100 * err.max(), 2),
                              "bias_at_0_points": round(100 * (est[f == 0] - 0).mean(), 2),
                              "coverage_95": round(covered.mean(), 3),
                              "coverage_95_0_to_0.3": round(covered[low].mean(), 3),
                              "mae_by_fraction_points": {str(x): round(100 * err[f == x].mean(), 2) for x in FRACTIONS}}))


if __name__ == "__main__":
    main()
