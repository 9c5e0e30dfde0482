"""Does the references interval cover the truth over many draws of the references? A finer look than `truth.py`.

`truth.py` draws 10 reference sets per held-out domain, too few to tell a coverage of 0.8
from 0.95. Here, for each domain D, the model trained without D (`truth.py` makes it in
`--work`) scores D's texts once; then, `--draws` times, a quarter of D's sources is set
aside as references (up to 200 texts of each class) and the rest make a pool at each true
fraction (up to 2,000 documents), estimated with the references' calibration as a scan
calibrates on `--reference-human/--reference-synthetic` (the shift test and the adapter
are left out: `truth.py` measures those).

    python benchmarks/truth.py --domains TechnicalWriting --pools 1 --conditions references --skip-in-domain
    python benchmarks/reference_draws.py --domains TechnicalWriting --draws 100
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from labelled_data import load  # noqa: E402
from truth import FRACTIONS, draw_pool  # noqa: E402

from corpus_audit.estimate.estimation import Calibration, estimate  # noqa: E402
from corpus_audit.estimate.quantify import ScoreSet  # noqa: E402
from corpus_audit.model import store as model_store  # noqa: E402
from detectors.classifier import ClassifierDetector  # noqa: E402

REFERENCES = 200
POOL = 2000


def draws(scores: np.ndarray, y: np.ndarray, sources: np.ndarray, count: int, seed: int) -> list[dict]:
    """One row per (draw, fraction): the truth, the estimate and its interval, and the number of human references."""
    rng = np.random.default_rng(seed)
    distinct = np.unique(sources)
    rows = []
    for k in range(count):
        is_reference = np.isin(sources, rng.choice(distinct, len(distinct) // 4, replace=False))
        human, synthetic = (rng.permutation(np.flatnonzero(is_reference & (y == c)))[:REFERENCES] for c in (0, 1))
        calibration = Calibration(ScoreSet.from_scores(scores[human]), ScoreSet.from_scores(scores[synthetic]), "references")
        pool_human, pool_synthetic = np.flatnonzero(~is_reference & (y == 0)), np.flatnonzero(~is_reference & (y == 1))
        for fraction in FRACTIONS:
            pool, truth = draw_pool(rng, pool_human, pool_synthetic, fraction, POOL)
            result = estimate(ScoreSet.from_scores(scores[pool]), calibration, seed=k)
            rows.append({"fraction": fraction, "truth": truth, "estimate": result["estimate"],
                         "ci_low": result["ci_low"], "ci_high": result["ci_high"], "human_references": len(human)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--domains", nargs="+", required=True)
    parser.add_argument("--draws", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--work", type=Path, default=Path("truth-models"), help="where truth.py wrote its held-out models")
    args = parser.parse_args()
    data = load()
    print("| domain | human references | true fraction | draws | coverage | mean abs error | mean width |")
    print("|---|---|---|---|---|---|---|")
    for domain in args.domains:
        path = args.work / f"without-{domain}"
        if not (path / "model.json").exists():
            sys.exit(f"{path}: no held-out model; make it with benchmarks/truth.py --domains {domain} --work {args.work}")
        here = data[data["domain"] == domain].reset_index(drop=True)
        scores, _ = ClassifierDetector(model_store.load(path).model).scored(here["text"].tolist())
        rows = draws(scores.astype(np.float64), here["y"].to_numpy(), here["source_id"].to_numpy(), args.draws, args.seed)
        for fraction in FRACTIONS:
            cell = [r for r in rows if r["fraction"] == fraction]
            covered = np.mean([r["ci_low"] <= r["truth"] <= r["ci_high"] for r in cell])
            error = np.mean([abs(r["estimate"] - r["truth"]) for r in cell]) * 100
            width = np.mean([r["ci_high"] - r["ci_low"] for r in cell]) * 100
            humans = sorted({r["human_references"] for r in cell})
            print(f"| {domain} | {humans[0]}-{humans[-1]} | {fraction} | {len(cell)} | {covered:.2f} | {error:.1f} pts | "
                  f"{width:.1f} pts |", flush=True)


if __name__ == "__main__":
    main()
