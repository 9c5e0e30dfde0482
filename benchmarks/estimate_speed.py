"""Seconds of one synthetic-fraction estimate (every method, its bootstrap) on generated scores.

The estimate is a fixed cost of every scan: its time does not grow with the corpus,
because the corpus arrives as a 10,000-bin histogram of p_synthetic and the calibration
sets as 1,000-bin ones (as a scan hands them over).

    python benchmarks/estimate_speed.py --repeats 3
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from corpus_audit.estimate.estimation import Calibration, estimate
from corpus_audit.estimate.quantify import ScoreSet


def binned(rng: np.random.Generator, a: float, b: float, n: int, bins: int) -> ScoreSet:
    return ScoreSet.from_histogram(np.histogram(rng.beta(a, b, n), bins, (0.0, 1.0))[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    corpus = binned(rng, 2, 3, 50_000, 10_000)
    calibration = Calibration(binned(rng, 2, 5, 6_000, 1_000), binned(rng, 5, 2, 28_000, 1_000), "generated")
    seconds = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        result = estimate(corpus, calibration, rounds=args.rounds)
        seconds.append(round(time.perf_counter() - start, 3))
    print(json.dumps({"rounds": args.rounds, "seconds": seconds, "estimate": result["estimate"],
                      "interval": [result["ci_low"], result["ci_high"]]}))


if __name__ == "__main__":
    main()
