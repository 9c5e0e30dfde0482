"""How many in-domain references does a precise estimate need? A floor set by the detector.

With references, the estimate is calibrated on n human and n machine-written texts of the
corpus's domain, and the spread of those two small samples' scores limits how precise any
interval can honestly be. This measures that floor from the shipped model's calibration
bank: for each training domain, its texts as scored by a model trained without that domain
(what an unseen domain gets), drawn R times into n + n disjoint references and a pool of
2,000 documents at a known fraction, estimated with `pacc` and `sld`. It prints, per domain
and n, the mean absolute error and the width of the central 95% of the estimates: the
narrowest interval that covers the truth 95% of the time, whatever the interval method.

    python benchmarks/reference_size.py --sizes 100 200 400 800 --repeats 300

Domains need n + 50 texts of each class; the pool is drawn with replacement from the texts
not used as references. Pools are sampled from the same distribution as the references, so
this is the best case: a real corpus adds the shift between references and corpus.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from corpus_audit.estimate.quantify import ScoreSet, pacc, sld  # noqa: E402
from corpus_audit.model import store as model_store  # noqa: E402

METHODS = {"pacc": pacc, "sld": sld}
POOL = 2000
SPARE = 50  # texts of each class a domain needs beyond the references, to draw pools from


def estimates(human: np.ndarray, machine: np.ndarray, n: int, fraction: float, repeats: int,
              rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Each method's estimates over `repeats` draws of n + n references and a pool."""
    out = {name: np.empty(repeats) for name in METHODS}
    n_machine = int(round(POOL * fraction))
    for r in range(repeats):
        h, m = rng.permutation(human), rng.permutation(machine)
        pool = np.r_[rng.choice(h[n:], POOL - n_machine), rng.choice(m[n:], n_machine)]
        sets = ScoreSet.from_scores(pool), ScoreSet.from_scores(h[:n]), ScoreSet.from_scores(m[:n])
        for name, method in METHODS.items():
            out[name][r] = method(*sets)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 200, 400, 800], help="references per class")
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.1, 0.3])
    parser.add_argument("--repeats", type=int, default=300)
    parser.add_argument("--model", type=Path, default=None, help="model directory (default: the shipped model)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    bank = model_store.load(args.model).bank
    rng = np.random.default_rng(args.seed)
    print("| domain | references per class | fraction | pacc error | pacc 95% width | sld error | sld 95% width |")
    print("|---|---|---|---|---|---|---|")
    widths: dict[tuple[str, int], list[float]] = {}
    for k, name in enumerate(bank.domains):
        human, machine = bank.scores(0, domains=(k,)), bank.scores(1, domains=(k,))
        for n in args.sizes:
            if min(len(human), len(machine)) < n + SPARE:
                continue
            for fraction in args.fractions:
                cells = []
                for method, values in estimates(human, machine, n, fraction, args.repeats, rng).items():
                    low, high = np.quantile(values, [0.025, 0.975])
                    widths.setdefault((method, n), []).append(100 * (high - low))
                    cells += [f"{100 * np.abs(values - fraction).mean():.1f} pts", f"{100 * (high - low):.1f} pts"]
                print(f"| {name} | {n} | {fraction} | " + " | ".join(cells) + " |")
    print("\n| method | references per class | cells | mean 95% width | worst | cells within 10 pts |")
    print("|---|---|---|---|---|---|")
    for (method, n), values in sorted(widths.items()):
        print(f"| {method} | {n} | {len(values)} | {np.mean(values):.1f} pts | {max(values):.1f} pts | "
              f"{sum(v <= 10 for v in values)} |")


if __name__ == "__main__":
    main()
