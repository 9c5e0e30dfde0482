"""How well the classifier separates human from machine text, in and out of distribution.

On the reference corpus (`../shared/data/reference/`), always split by `source_id`:

- grouped 5-fold CV: AUROC and TPR at 1%/5% FPR overall, per domain (human vs machine
  texts of that domain) and per generator (all human texts vs that generator's);
- leave-one-generator-out: within each grouped fold, train without generator G and test
  G's texts against the fold's held-out human texts;
- leave-one-domain-out: train on two domains, test on the third.

For several settings, including the baseline TF-IDF word n-gram logistic regression
alone (style weight 0), so the choice of the default is a measurement:

    python benchmarks/classifier_accuracy.py --settings 4:0 4:0.3 4:1 1:0.3
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from sklearn.model_selection import StratifiedGroupKFold

from corpus_audit.estimate.metrics import auroc, detector_metrics
from corpus_audit.model.training import TrainingOptions, _Features, _fit_linear
from detectors.classifier import TextFeaturizer

REFERENCE = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "reference" / "reference.parquet"


def fit_decide(features: _Features, labels: np.ndarray, train: np.ndarray, test: np.ndarray, options: TrainingOptions) -> np.ndarray:
    scaling = features.fit_scaling(train)
    model = _fit_linear(features.matrix(train, *scaling, options.style_weight), labels[train], options)
    return model.decision_function(features.matrix(test, *scaling, options.style_weight))


def evaluate(features: _Features, data: dict, options: TrainingOptions) -> dict:
    labels, generator, domain, groups = data["y"], data["generator"], data["domain"], data["source_id"]
    folds = list(StratifiedGroupKFold(5, shuffle=True, random_state=0).split(labels, labels, groups))
    decision = np.zeros(len(labels))
    for train, test in folds:
        decision[test] = fit_decide(features, labels, train, test, options)
    human = labels == 0
    report = {"grouped_cv": detector_metrics(decision[human], decision[~human]),
              "per_domain": {d: round(auroc(decision[human & (domain == d)], decision[~human & (domain == d)]), 4)
                             for d in np.unique(domain)},
              "per_generator": {g: round(auroc(decision[human], decision[generator == g]), 4)
                                for g in np.unique(generator[~human])}}
    logo = {}
    for g in np.unique(generator[~human]):
        scores_h, scores_g = [], []
        for train, test in folds:
            train = train[generator[train] != g]
            test = test[(generator[test] == g) | human[test]]
            d = fit_decide(features, labels, train, test, options)
            scores_h.append(d[human[test]])
            scores_g.append(d[~human[test]])
        logo[g] = round(auroc(np.concatenate(scores_h), np.concatenate(scores_g)), 4)
    report["leave_one_generator_out"] = logo | {"mean": round(float(np.mean(list(logo.values()))), 4)}
    lodo = {}
    for d in np.unique(domain):
        test, train = np.flatnonzero(domain == d), np.flatnonzero(domain != d)
        dec = fit_decide(features, labels, train, test, options)
        lodo[d] = round(auroc(dec[labels[test] == 0], dec[labels[test] == 1]), 4)
    report["leave_one_domain_out"] = lodo | {"mean": round(float(np.mean(list(lodo.values()))), 4)}
    return report


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
    parser.add_argument("--settings", nargs="+", default=["4:0", "4:0.3"], help="C:style_weight pairs")
    args = parser.parse_args()
    texts, data = load_reference(args.data)
    features = _Features(texts, TextFeaturizer(TrainingOptions().word_features))
    for setting in args.settings:
        c, weight = (float(x) for x in setting.split(":"))
        report = evaluate(features, data, TrainingOptions(regularization=c, style_weight=weight))
        print(json.dumps({"C": c, "style_weight": weight, **report}), flush=True)


if __name__ == "__main__":
    main()
