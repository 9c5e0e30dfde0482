"""Build the shipped default model from all labelled data in `../shared/data/`, with its provenance.

    python benchmarks/transfer.py --parts leave_one_generator_out --json logo.json   # slow
    python benchmarks/build_default_model.py --generators logo.json

Anyone with the same data gets the same model bytes (fixed seed, deterministic solver).
Each domain weighs the same in the loss and the calibration comes from leave-one-domain-out
scores (`corpus_audit.model.training`). The metadata records the data (file checksums,
counts by domain and generator), the options, the grouped-CV and out-of-domain metrics,
and the transfer benchmark's figures (`transfer.py`): the leave-one-domain-out cells and
the in-distribution AUROC come from the training's own calibration bank (the same fits),
leave-one-generator-out from the JSON of a separate `transfer.py` run. It also prints
the transfer table and writes the full report beside the model's build (`--report`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from labelled_data import FILES, SHARED, load  # noqa: E402
from transfer import domain_cells, reference_auroc, summary  # noqa: E402

from corpus_audit.model import store as model_store  # noqa: E402
from corpus_audit.model.training import TrainingOptions, train  # noqa: E402

NAME = "default-v4"
SOURCE = ("All labelled sets of the project (shared/data): the reference corpus released with Fast-DetectGPT "
          "(XSum news, SQuAD Wikipedia, WritingPrompts stories; MIT), Learning to Rewrite (13 domains; CC BY 3.0), "
          "OUTFOX student essays with DIPPER and OUTFOX attacks (Apache-2.0; essays from PERSUADE, research use), "
          "Glimpse writing (MIT), ImBD news/stories/Wikipedia/Spanish/Portuguese (Apache-2.0), ReMoDetect "
          "(research use). Word frequencies: wordfreq 3.1 (data CC BY-SA 4.0).")


def summarize_transfer(report: dict) -> dict:
    """The transfer benchmark's headline figures for model.json."""
    lodo, logo = report["leave_one_domain_out"], report["leave_one_generator_out"]
    cells = lodo["cells"]
    worst = min(cells, key=lambda c: c["auroc"])
    fpr = lodo["human_fpr_at_0.5"]
    return {
        "leave_one_domain_out": {"mean": round(float(np.mean([c["auroc"] for c in cells])), 4),
                                 "worst": {**worst, "auroc": round(worst["auroc"], 4)},
                                 "per_domain": {d: round(v, 4) for d, v in lodo["per_domain"].items()}},
        "attacked": {"mean": round(float(np.mean([c["auroc"] for c in lodo["attacks"]])), 4),
                     "worst": round(min(c["auroc"] for c in lodo["attacks"]), 4)},
        "leave_one_generator_out": {g: round(v, 4) for g, v in logo.items()},
        "human_false_positive_rate_at_0.5": {d: round(v, 4) for d, v in fpr.items()},
        "machine_true_positive_rate_at_0.5": {d: round(v, 4) for d, v in lodo["machine_tpr_at_0.5"].items()},
        "human_false_positive_rate_worst": {"domain": max(fpr, key=fpr.get), "rate": round(max(fpr.values()), 4)},
        "in_distribution_reference_auroc": round(report["in_distribution"]["reference"], 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=model_store.default_model_path())
    parser.add_argument("--generators", type=Path, default=Path("logo.json"),
                        help="JSON of benchmarks/transfer.py --parts leave_one_generator_out --json")
    parser.add_argument("--report", type=Path, help="write the whole transfer report (JSON) here")
    args = parser.parse_args()
    if not args.generators.exists():  # checked first: the model's metadata needs it, after minutes of training
        parser.error(f"--generators {args.generators}: not found; make it with "
                     "`python benchmarks/transfer.py --parts leave_one_generator_out --json logo.json`")
    data = load()
    options = TrainingOptions()
    provenance = {
        "name": NAME, "source": SOURCE,
        "files_sha256": {f: hashlib.sha256((SHARED / f"{f}.parquet").read_bytes()).hexdigest() for f in FILES},
        "split": "grouped by source_id (a human text and every machine text made from it stay on one side)",
        "domains": data["domain"].value_counts().sort_index().to_dict(),
        "generators": data["generator"].value_counts().sort_index().to_dict(),
        "attacks": data["attack"].value_counts().sort_index().to_dict(),
        "limits": ("Trained on English news, Wikipedia, stories, student essays and 13 web genres, and Spanish and "
                   "Portuguese, from generators up to GPT-4o, Claude 3, Gemini 1.5 and Llama 3. Not trained on source "
                   "code, scientific, legal or medical text, chat transcripts, or other languages: the estimate's "
                   "shift test says when a corpus is unlike this; give --reference-human/--reference-synthetic "
                   "from your own domain."),
    }
    result = train(data["text"].tolist(), data["y"].to_numpy(), data["source_id"].tolist(), options, provenance,
                   domains=data["domain"].tolist())
    bank = result.bank
    logit = lambda p: np.log(p) - np.log1p(-p)  # noqa: E731  # Platt is monotone: back to the decision scale
    report = {"C": options.regularization, "style_weight": options.style_weight,
              "leave_one_domain_out": domain_cells(logit(np.clip(bank.unseen, 1e-12, 1 - 1e-12)), data),
              "in_distribution": reference_auroc(bank.seen, data),
              "leave_one_generator_out": json.loads(args.generators.read_text())[0]["leave_one_generator_out"]}
    print(summary(report))
    if args.report:
        args.report.write_text(json.dumps([report], indent=1))
    result.model.metadata["transfer"] = summarize_transfer(report)
    model_store.save(args.out, result.model, bank)
    metrics = result.metrics
    print(f"{args.out}: grouped-CV AUROC {metrics['grouped_cv']['auroc']:.4f}; "
          f"out-of-domain {metrics['out_of_domain']['auroc']:.4f}")


if __name__ == "__main__":
    main()
