"""Is the estimate's interval honest on a domain the model has never seen? Measured against the truth.

For each held-out domain D (`--domains`): a model is trained on all other labelled data
(`labelled_data.py`; with its own calibration bank, exactly as the shipped model is
built), then pools of distinct documents of D are drawn at true synthetic fractions 0,
0.1 and 0.3 (`--pool` documents, fewer when D has too few of a class) and estimated the
way a scan does (shift test, calibration choice, interval):

- default: the model's own calibration bank (what a user gets with no references);
- references: up to 200 human and 200 machine-written texts of D from a quarter of its
  sources (fewer where D has few sources), disjoint from the pool by `source_id`, as
  `--reference-human/--reference-synthetic`, calibrating the general model;
- adapted: the same references, with the detector adapted to them as a scan does
  (`corpus_audit.model.adapt`: kept when its scores estimate more precisely,
  `corpus_audit.pipeline.calibration.keeps_adapter`).

Per condition it prints the coverage of the 95% interval, the mean absolute error, the
mean interval width and the shift verdicts; and, with the shipped model, how often a pool
drawn from one of its own training domains passes the shift test.

    python benchmarks/truth.py --domains student_essay news TechnicalWriting --pools 5 --json truth.json

Held-out models are written to `--work` and reused by a later run with the same `--work`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from labelled_data import load  # noqa: E402

from corpus_audit.estimate.estimation import wilson_interval  # noqa: E402
from corpus_audit.estimate.honest import honest_estimate  # noqa: E402
from corpus_audit.estimate.quantify import ScoreSet  # noqa: E402
from corpus_audit.model import store as model_store  # noqa: E402
from corpus_audit.model.store import StoredModel  # noqa: E402
from corpus_audit.model.training import TrainingOptions, train  # noqa: E402
from corpus_audit.pipeline.calibration import adapt_to_references, choose_calibration  # noqa: E402
from corpus_audit.pipeline.references import References  # noqa: E402
from detectors.classifier import ClassifierDetector  # noqa: E402

FRACTIONS = (0.0, 0.1, 0.3)
CONDITIONS = ("default", "references", "adapted")
REFERENCES = 200


def draw_pool(rng, human: np.ndarray, machine: np.ndarray, fraction: float, size: int) -> tuple[np.ndarray, float]:
    """Distinct rows at the true fraction (the pool shrinks when a class runs short)."""
    size = int(min(size, len(human) / (1 - fraction), len(machine) / fraction if fraction else np.inf))
    n_machine = int(round(size * fraction))
    rows = np.r_[rng.choice(human, size - n_machine, replace=False), rng.choice(machine, n_machine, replace=False)]
    return rows, n_machine / len(rows)


def estimate_pool(model: StoredModel, detector: ClassifierDetector, texts: list[str], references=None, adapt: bool = False,
                  seed: int = 0) -> dict:
    """The honest estimate of one pool: by the model's bank, or on the references (once scored), adapted or not."""
    given = None if references is None else References(references[0], "human references", references[1], "machine references")
    adaptation = adapt_to_references(model, given, seed) if adapt else None
    general, rows = detector.scored(texts)
    scores = general if adaptation is None or adaptation.adapter is None else adaptation.adapter.probability(general, rows)
    score_set = ScoreSet.from_scores(scores.astype(np.float64))
    choice = choose_calibration(model, score_set, rows, given, seed, adaptation, corpus_general=general)
    result = honest_estimate(score_set, choice, rounds=200, seed=seed)
    if adaptation is not None:
        result["adaptation"] = adaptation.record
    return result


def held_out(data, domain: str, pools: int, pool_size: int, seed: int, out: Path,
             conditions: tuple[str, ...] = CONDITIONS) -> list[dict]:
    start = time.perf_counter()
    if not (out / f"without-{domain}" / "model.json").exists():  # a model from an earlier run is reused
        rest = data[data["domain"] != domain]
        rest = rest[~rest["source_id"].isin(data.loc[data["domain"] == domain, "source_id"])]
        result = train(rest["text"].tolist(), rest["y"].to_numpy(), rest["source_id"].tolist(), TrainingOptions(),
                       {"name": f"without-{domain}"}, domains=rest["domain"].tolist())
        model_store.save(out / f"without-{domain}", result.model, result.bank)
    model = model_store.load(out / f"without-{domain}")
    detector = ClassifierDetector(model.model)
    print(f"{domain}: model trained without it in {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
    here = data[data["domain"] == domain].reset_index(drop=True)
    rng = np.random.default_rng(seed)
    rows = []
    for k in range(pools):
        sources = here["source_id"].unique()
        reference_sources = set(rng.choice(sources, len(sources) // 4, replace=False))
        is_reference = here["source_id"].isin(reference_sources).to_numpy()
        y = here["y"].to_numpy()
        references = [here.loc[is_reference & (y == c), "text"].sample(min(REFERENCES, int((is_reference & (y == c)).sum())),
                                                                        random_state=seed + k).tolist() for c in (0, 1)]
        for fraction in FRACTIONS:
            picked, truth = draw_pool(rng, np.flatnonzero(~is_reference & (y == 0)), np.flatnonzero(~is_reference & (y == 1)),
                                      fraction, pool_size)
            texts = here.loc[picked, "text"].tolist()
            for condition, refs, adapt in (("default", None, False), ("references", references, False),
                                           ("adapted", references, True)):
                if condition not in conditions:
                    continue
                estimate = estimate_pool(model, detector, texts, refs, adapt, seed + k)
                adaptation = {key: v for key, v in estimate.get("adaptation", {}).items() if key not in ("method", "rule")}
                rows.append({"adapter_used": adaptation.get("used"), "adaptation": adaptation, "domain": domain,
                             "fraction": fraction, "truth": truth, "pool": len(texts), "condition": condition,
                             "estimate": estimate["estimate"], "ci_low": estimate["ci_low"], "ci_high": estimate["ci_high"],
                             "state": estimate["state"], "verdict": estimate["calibration"]["shift"]["verdict"],
                             "methods": {name: [m["estimate"], m["ci_low"], m["ci_high"]]
                                         for name, m in estimate["methods"].items()},
                             "warnings": estimate["warnings"]})
    return rows


def in_domain_pass_rate(data, pools: int, pool_size: int, seed: int) -> dict:
    """Pools drawn from the shipped model's own training domains: how often the shift test passes."""
    model = model_store.load()
    detector = ClassifierDetector(model.model)
    rng = np.random.default_rng(seed)
    verdicts = Counter()
    for domain in sorted(set(model.bank.domains) & set(data["domain"])):
        here = data[data["domain"] == domain]
        for _ in range(pools):
            texts = here["text"].to_numpy()[rng.choice(len(here), min(pool_size, len(here)), replace=False)].tolist()
            scores, rows = detector.scored(texts)
            choice = choose_calibration(model, ScoreSet.from_scores(scores.astype(np.float64)), rows, None, seed)
            verdicts[choice.shift["verdict"]] += 1
    pools = sum(verdicts.values())
    tested = pools - verdicts["not tested"]  # too few documents to test is neither pass nor fail
    return {"pools": pools, "tested": tested, "passed": verdicts["no shift detected"] / max(tested, 1),
            "verdicts": dict(verdicts)}


def table(rows: list[dict]) -> str:
    lines = ["| condition | true fraction | pools | coverage | mean abs error | mean width | shift verdicts |",
             "|---|---|---|---|---|---|---|"]
    for condition in CONDITIONS:
        for fraction in FRACTIONS:
            cell = [r for r in rows if r["condition"] == condition and r["fraction"] == fraction]
            if not cell:
                continue
            covered = np.mean([r["ci_low"] <= r["truth"] <= r["ci_high"] for r in cell])
            error = np.mean([abs(r["estimate"] - r["truth"]) for r in cell])
            width = np.mean([r["ci_high"] - r["ci_low"] for r in cell])
            verdicts = ", ".join(f"{v} {n}" for v, n in Counter(r["verdict"] for r in cell).items())
            if condition == "adapted":
                verdicts += f"; adapter kept in {sum(bool(r['adapter_used']) for r in cell)}"
            lines.append(f"| {condition} | {fraction:.1f} | {len(cell)} | {covered:.2f} | {100 * error:.1f} pts | "
                         f"{100 * width:.1f} pts | {verdicts} |")
    return "\n".join(lines)


def methods_table(rows: list[dict], methods: tuple[str, ...] = ("pacc", "sld", "hdy")) -> str:
    """Per condition, domain and fraction: the pool size, the sampling floor (the width of the 95%
    Wilson interval of the true fraction over the pool, `wilson_interval`: what an interval for a
    source the pool was drawn from could not beat; the estimate's interval is about the pool's
    own fraction, whose floor with a perfect detector is zero) and, for the headline and each
    method's own interval, coverage / mean abs error / mean width (points): where the width comes from."""
    head = " | ".join(["headline", *methods])
    lines = [f"| condition | domain | true fraction | pool | sampling floor | {head} (coverage / error / width) |",
             "|---|---|---|---|---|" + "---|" * (1 + len(methods))]

    def cell(triples: np.ndarray, truth: np.ndarray) -> str:
        covered = np.mean((triples[:, 1] <= truth) & (truth <= triples[:, 2]))
        return (f"{covered:.2f} / {100 * np.mean(abs(triples[:, 0] - truth)):.1f} / "
                f"{100 * np.mean(triples[:, 2] - triples[:, 1]):.1f}")

    for condition in CONDITIONS:
        for domain in sorted({r["domain"] for r in rows}):
            for fraction in FRACTIONS:
                group = [r for r in rows if (r["condition"], r["domain"], r["fraction"]) == (condition, domain, fraction)]
                if not group:
                    continue
                truth = np.array([r["truth"] for r in group])
                triples = [np.array([[r["estimate"], r["ci_low"], r["ci_high"]] for r in group]),
                           *(np.array([r["methods"][m] for r in group]) for m in methods)]
                floor = np.mean([np.diff(wilson_interval(r["truth"], r["pool"]))[0] for r in group])
                lines.append(f"| {condition} | {domain} | {fraction:.1f} | {np.mean([r['pool'] for r in group]):.0f} | "
                             f"{100 * floor:.1f} | " + " | ".join(cell(t, truth) for t in triples) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--domains", nargs="+", default=["student_essay", "news", "TechnicalWriting"])
    parser.add_argument("--pools", type=int, default=5, help="pools per domain and fraction")
    parser.add_argument("--pool", type=int, default=2000, help="documents per pool (fewer when a class runs short)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", type=Path, default=Path("truth-models"), help="where the held-out models are written")
    parser.add_argument("--conditions", nargs="+", choices=CONDITIONS, default=list(CONDITIONS),
                        help="which estimates to run on each pool (all three by default)")
    parser.add_argument("--skip-in-domain", action="store_true",
                        help="leave out the shift test's pass rate on the shipped model's own domains (minutes)")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--methods-of", type=Path, metavar="JSON",
                        help="print the per-domain, per-method table of an earlier run's --json and stop")
    args = parser.parse_args()
    if args.methods_of:
        print(methods_table(json.loads(args.methods_of.read_text())["rows"]))
        return
    data = load()
    rows = []
    for domain in args.domains:
        rows += held_out(data, domain, args.pools, args.pool, args.seed, args.work, tuple(args.conditions))
        print(table(rows), flush=True)
    passing = None
    if not args.skip_in_domain:
        passing = in_domain_pass_rate(data, args.pools, args.pool, args.seed)
        print(f"\nshift test on pools from the shipped model's training domains: passed {passing['passed']:.0%} "
              f"of the {passing['tested']} it could test, of {passing['pools']} ({passing['verdicts']})")
    print(methods_table(rows))
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "in_domain": passing}, indent=1))


if __name__ == "__main__":
    main()
