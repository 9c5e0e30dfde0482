"""How the classifier does on domains and generators it was not trained on.

Over all labelled data in `../shared/data/` (`labelled_data.py`), always split by `source_id`:

- leave-one-domain-out: for each domain, train without it (and without any text sharing a
  `source_id` with it), score it; one cell per (domain, generator): AUROC of the domain's
  human texts against that generator's texts; plus per attack (paraphrase, rewrite...);
  and the human false-positive rate at the default threshold (p_synthetic > 0.5, Platt
  fitted on the other domains' out-of-domain scores, as the shipped model's is);
- leave-one-generator-out: two grouped halves; train on one half without generator G,
  score G's texts against the other half's human texts; one cell per generator;
- in-distribution: grouped 5-fold CV, AUROC on the old reference corpus rows.

Prints a Markdown table (mean and worst cell beside each) and writes the figures as JSON
(`--parts` runs some of the three; the table needs all, `--merge` joins runs' JSON files):

    python benchmarks/transfer.py --settings 4:0.3 --json transfer.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold

sys.path.insert(0, str(Path(__file__).resolve().parent))
from labelled_data import held_out_domains, load  # noqa: E402

from corpus_audit.estimate.metrics import auroc  # noqa: E402
from corpus_audit.model.training import (  # noqa: E402
    TrainingOptions,
    _Features,
    _fit_decide,
    _platt,
    conservative_intercept,
)
from detectors.classifier import TextFeaturizer, platt  # noqa: E402

MIN_CELL = 20  # fewest machine texts a cell needs to be scored


def leave_one_domain_out(features: _Features, data, options: TrainingOptions) -> dict:
    y, domain, groups = data["y"].to_numpy(), data["domain"].to_numpy(), data["source_id"].to_numpy()
    decision = np.full(len(y), np.nan)
    for d in held_out_domains(data):
        test = np.flatnonzero(domain == d)
        train = np.flatnonzero((domain != d) & ~np.isin(groups, groups[test]))
        decision[test] = _fit_decide(features, y, domain, train, test, options)
    return domain_cells(decision, data)


def domain_cells(decision: np.ndarray, data) -> dict:
    """Per held-out domain: AUROC of its human texts against each generator's and each attack's
    texts, and the human false-positive rate at p > 0.5 with the calibration (Platt and its
    conservative intercept) fitted on the other domains only, as the shipped model's would be."""
    y, domain = data["y"].to_numpy(), data["domain"].to_numpy()
    generator, attack = data["generator"].to_numpy(), data["attack"].to_numpy()
    cells, attacks, fpr, tpr, per_domain = [], [], {}, {}, {}
    for d in held_out_domains(data):
        here, others = domain == d, ~np.isnan(decision) & (domain != d)
        a, b = _platt(decision[others], y[others])
        b = conservative_intercept(decision[others], y[others], domain[others], a, b)
        human = decision[here & (y == 0)]
        fpr[d] = float((platt(human, a, b) > 0.5).mean())
        tpr[d] = float((platt(decision[here & (y == 1)], a, b) > 0.5).mean())
        per_domain[d] = auroc(human, decision[here & (y == 1)])
        for g in np.unique(generator[here & (y == 1)]):
            rows = here & (generator == g) & (attack == "none")
            if rows.sum() >= MIN_CELL:
                cells.append({"domain": d, "generator": g, "auroc": auroc(human, decision[rows]), "n": int(rows.sum())})
        for kind in np.unique(attack[here & (y == 1)]):
            rows = here & (attack == kind) & (kind != "none")
            if rows.sum() >= MIN_CELL:
                attacks.append({"domain": d, "attack": kind, "auroc": auroc(human, decision[rows]), "n": int(rows.sum())})
    return {"cells": cells, "attacks": attacks, "human_fpr_at_0.5": fpr, "machine_tpr_at_0.5": tpr, "per_domain": per_domain}


def leave_one_generator_out(features: _Features, data, options: TrainingOptions) -> dict:
    y, domain, groups, generator = (data[k].to_numpy() for k in ("y", "domain", "source_id", "generator"))
    distinct = np.unique(groups)
    half = np.isin(groups, np.random.default_rng(0).permutation(distinct)[: len(distinct) // 2])
    cells = {}
    for g in np.unique(generator[y == 1]):
        human, machine = [], []
        for side in (True, False):
            train = np.flatnonzero((half == side) & (generator != g))
            test = np.flatnonzero((half != side) & ((generator == g) | (y == 0)))
            scores = _fit_decide(features, y, domain, train, test, options)
            human.append(scores[y[test] == 0])
            machine.append(scores[y[test] == 1])
        if sum(map(len, machine)) >= MIN_CELL:
            cells[g] = auroc(np.concatenate(human), np.concatenate(machine))
    return cells


def in_distribution(features: _Features, data, options: TrainingOptions) -> dict:
    y, domain, groups = data["y"].to_numpy(), data["domain"].to_numpy(), data["source_id"].to_numpy()
    decision = np.zeros(len(y))
    for train, test in StratifiedGroupKFold(5, shuffle=True, random_state=0).split(y, y, groups):
        decision[test] = _fit_decide(features, y, domain, train, test, options)
    return reference_auroc(decision, data)


def reference_auroc(decision: np.ndarray, data) -> dict:
    """AUROC of grouped out-of-fold scores over all texts and over the old reference corpus's rows."""
    y, reference = data["y"].to_numpy(), data["file"].to_numpy() == "reference"
    return {"all": auroc(decision[y == 0], decision[y == 1]),
            "reference": auroc(decision[reference & (y == 0)], decision[reference & (y == 1)])}


PARTS = {"leave_one_domain_out": leave_one_domain_out, "leave_one_generator_out": leave_one_generator_out,
         "in_distribution": in_distribution}


def summary(report: dict) -> str:
    lodo, logo = report["leave_one_domain_out"], report["leave_one_generator_out"]
    cells = [c["auroc"] for c in lodo["cells"]]
    worst = min(lodo["cells"], key=lambda c: c["auroc"])
    attacked = [c["auroc"] for c in lodo["attacks"]]
    worst_attack = min(lodo["attacks"], key=lambda c: c["auroc"])
    fpr, tpr = lodo["human_fpr_at_0.5"], lodo["machine_tpr_at_0.5"]
    worst_fpr = max(fpr, key=fpr.get)
    rows = [
        ("leave-one-domain-out, (domain, generator) cells", f"{np.mean(cells):.3f}",
         f"{worst['auroc']:.3f} ({worst['domain']} / {worst['generator']})", len(cells)),
        ("leave-one-domain-out, paraphrased / attacked", f"{np.mean(attacked):.3f}",
         f"{worst_attack['auroc']:.3f} ({worst_attack['domain']} / {worst_attack['attack']})", len(attacked)),
        ("leave-one-generator-out", f"{np.mean(list(logo.values())):.3f}",
         f"{min(logo.values()):.3f} ({min(logo, key=logo.get)})", len(logo)),
        ("human false-positive rate at p > 0.5, per held-out domain", f"{np.mean(list(fpr.values())):.1%}",
         f"{fpr[worst_fpr]:.1%} ({worst_fpr})", len(fpr)),
        ("machine-written texts flagged at p > 0.5, per held-out domain", f"{np.mean(list(tpr.values())):.1%}",
         f"{min(tpr.values()):.1%} ({min(tpr, key=tpr.get)})", len(tpr)),
        ("in-distribution (grouped 5-fold), old reference corpus", f"{report['in_distribution']['reference']:.3f}", "", 1),
    ]
    lines = ["| measure | mean | worst cell | cells |", "|---|---|---|---|"]
    lines += [f"| {name} | {mean} | {worst} | {n} |" for name, mean, worst, n in rows]
    lines += ["", "| held-out domain | AUROC | human FPR at 0.5 | machine TPR at 0.5 |", "|---|---|---|---|"]
    lines += [f"| {d} | {lodo['per_domain'][d]:.3f} | {fpr[d]:.1%} | {tpr[d]:.1%} |" for d in sorted(fpr)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--settings", nargs="+", default=["4:0.3"], help="C:style_weight pairs")
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS), help="which measurements to run")
    parser.add_argument("--json", type=Path, help="write every figure here")
    parser.add_argument("--merge", nargs="+", type=Path, help="join the first setting of these JSON files and print the table")
    args = parser.parse_args()
    if args.merge:
        report = {k: v for path in args.merge for k, v in json.loads(path.read_text())[0].items()}
        print(summary(report))
        if args.json:
            args.json.write_text(json.dumps([report], indent=1))
        return
    data = load()
    start = time.perf_counter()
    features = _Features(data["text"].tolist(), TextFeaturizer(TrainingOptions().word_features))
    print(f"featurised {len(data):,} texts in {time.perf_counter() - start:.0f} s", file=sys.stderr)
    reports = []
    for setting in args.settings:
        c, weight = (float(x) for x in setting.split(":"))
        options = TrainingOptions(regularization=c, style_weight=weight)
        report = {"C": c, "style_weight": weight, **{part: PARTS[part](features, data, options) for part in args.parts}}
        if set(args.parts) == set(PARTS):
            print(f"\nC={c:g}, style weight {weight:g}\n\n{summary(report)}\n", flush=True)
        reports.append(report)
        if args.json:
            args.json.write_text(json.dumps(reports, indent=1))


if __name__ == "__main__":
    main()
