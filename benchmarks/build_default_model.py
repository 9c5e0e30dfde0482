"""Build the shipped default model from the reference corpus, with its provenance.

    python benchmarks/build_default_model.py                  # writes corpus_audit/model/default/

Anyone with `../shared/data/reference/reference.parquet` gets the same model bytes
(fixed seed, deterministic solver). The metadata records the data (fingerprint, counts by
generator and domain), the options, the grouped-CV metrics, and the hold-out metrics
(leave one generator out, leave one domain out) that say how it does on text unlike its
training data.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from classifier_accuracy import REFERENCE, evaluate, load_reference  # noqa: E402

from corpus_audit.model import store as model_store  # noqa: E402
from corpus_audit.model.training import TrainingOptions, _Features, train  # noqa: E402
from detectors.classifier import TextFeaturizer  # noqa: E402

NAME = "default-reference-v1"
SOURCE = ("Reference corpus of the project (shared/data/reference): human texts from XSum (BBC news), SQuAD "
          "(Wikipedia) and WritingPrompts (stories), and machine continuations of them released with Fast-DetectGPT "
          "(Bao et al., ICLR 2024; MIT licence)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=REFERENCE)
    parser.add_argument("--out", type=Path, default=model_store.default_model_path())
    args = parser.parse_args()
    texts, data = load_reference(args.data)
    options = TrainingOptions()
    holdout = evaluate(_Features(texts, TextFeaturizer(options.word_features)), data, options)
    generators, counts = np.unique(data["generator"], return_counts=True)
    domains, domain_counts = np.unique(data["domain"], return_counts=True)
    provenance = {
        "name": NAME, "source": SOURCE, "file_sha256": hashlib.sha256(args.data.read_bytes()).hexdigest(),
        "split": "grouped by source_id (machine continuations of one human text stay on one side)",
        "generators": dict(zip(generators.tolist(), counts.tolist())),
        "domains": dict(zip(domains.tolist(), domain_counts.tolist())),
        "holdout": {k: holdout[k] for k in ("per_domain", "per_generator", "leave_one_generator_out", "leave_one_domain_out")},
        "limits": ("Seen generators: GPT-2-XL, OPT-2.7B, GPT-Neo-2.7B, GPT-J-6B, GPT-NeoX-20B (news, Wikipedia, stories) "
                   "and text-davinci-003, GPT-3.5-turbo, GPT-4 (stories only). Text from other generators and "
                   f"domains scores worse: leave-one-generator-out AUROC {holdout['leave_one_generator_out']['mean']:.3f} "
                   f"on average, leave-one-domain-out {holdout['leave_one_domain_out']['mean']:.3f}. Calibrate on "
                   "your own domain with --reference-human/--reference-synthetic."),
    }
    result = train(texts, data["y"], data["source_id"].tolist(), options, provenance)
    model_store.save(args.out, result.model, result.cv_human, result.cv_synthetic)
    print(f"{args.out}: grouped-CV AUROC {result.metrics['grouped_cv']['auroc']:.4f}; "
          f"leave-one-generator-out {holdout['leave_one_generator_out']['mean']:.4f}; "
          f"leave-one-domain-out {holdout['leave_one_domain_out']['mean']:.4f}")


if __name__ == "__main__":
    main()
