"""Time and peak memory of the collapse projection on a large Zipf spectrum.

    python benchmarks/projection_speed.py --types 1000000 --runs 100 --generations 10
"""

from __future__ import annotations

import argparse
import json
import resource
import time

from corpus_audit.collapse.projection import Plan, Spectrum, project


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--types", type=int, default=1_000_000)
    parser.add_argument("--exponent", type=float, default=1.1)
    parser.add_argument("--tokens", type=float, default=1e8)
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--generations", type=int, default=10)
    parser.add_argument("--regimes", nargs="+", default=["mix", "replace", "accumulate"])
    args = parser.parse_args()
    spectrum = Spectrum.zipf(args.types, args.exponent, args.tokens)
    for regime in args.regimes:
        started = time.perf_counter()
        result = project(spectrum, Plan(alpha=0.3, alpha_low=0.25, alpha_high=0.35, regime=regime,
                                        generations=args.generations, runs=args.runs))
        print(json.dumps({"regime": regime, "types": spectrum.size, "distinct_counts": len(spectrum.counts),
                          "tokens": spectrum.tokens, "runs": args.runs, "generations": args.generations,
                          "seconds": round(time.perf_counter() - started, 2), "risk": result["risk"],
                          "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}), flush=True)


if __name__ == "__main__":
    main()
