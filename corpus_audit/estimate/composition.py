"""Where the machine-written mass sits: the estimate over unique documents, and the share of
the estimated synthetic mass in near-duplicate clusters and in repetitive documents."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq

from corpus_audit.estimate.honest import Choice, honest_estimate
from corpus_audit.estimate.quantify import ScoreSet, at_prior, equal_prior_platt, equal_prior_posterior
from detectors import Histogram
from detectors.classifier import SCORE_BINS


def composition(section: dict[str, Any], documents: Path, parts: list[str], choice: Choice, seed: int,
                corpus_counts: np.ndarray, sampled: float = 1.0) -> None:
    """The estimate over unique documents (one per near-duplicate cluster), and the share of
    the estimated machine-written mass in near-duplicate clusters and in documents over a
    repetition threshold. A document's mass is its `p_synthetic` recalibrated on the
    estimate's calibration sets to an equal-prior posterior (as `sld` does), then moved to
    the estimated prior.

    The unique-document estimate is made as the headline is (`honest_estimate` under the same
    `choice`: spanning the bank when the calibration is shifted; `sampled`, the share of the
    corpus scanned); where the unique documents'
    score histogram is the corpus's (`corpus_counts`: no near-duplicates), it is the headline's."""
    prior = min(max(section["estimate"], 1e-9), 1 - 1e-9)
    platt = equal_prior_platt(choice.calibration.human, choice.calibration.synthetic)
    unique = Histogram(0.0, 1.0, SCORE_BINS)
    sums = np.zeros((2, 3))  # (mass, documents) x (all, in clusters, over a repetition threshold)
    columns = ["doc_id", "p_synthetic", "near_dup_cluster", "gopher_repetition_flag"]
    for part in parts:
        table = pq.read_table(documents / part, columns=columns)
        table = table.filter(table["p_synthetic"].is_valid())  # documents without text have none
        member = table["near_dup_cluster"]
        p = table["p_synthetic"].to_numpy().astype(np.float64)
        cluster = member.is_valid().to_numpy()
        first = pc.fill_null(pc.or_kleene(member.is_null(), pc.equal(member, table["doc_id"])), False).to_numpy()
        repetitive = pc.fill_null(table["gopher_repetition_flag"], False).to_numpy()
        mass = at_prior(equal_prior_posterior(p, platt), prior)
        unique.add(p[first])
        for row, weights in enumerate((mass, np.ones_like(p))):
            sums[row] += [weights.sum(), weights[cluster].sum(), weights[repetitive].sum()]
    same = np.array_equal(unique.counts, corpus_counts)  # the same scores, calibration and seed: the same figures
    result = section if same else honest_estimate(ScoreSet.from_histogram(unique.counts), choice, seed=seed,
                                                          sampled=sampled)
    section["unique_documents"] = {"documents": unique.count, **{k: result[k] for k in ("estimate", "ci_low", "ci_high")}}
    (mass_clustered, mass_repetitive), (clustered, repetitive) = (
        [float(x) / row[0] if row[0] else None for x in row[1:]] for row in sums)
    section["synthetic_mass"] = {
        "in_near_duplicate_clusters": mass_clustered, "documents_in_near_duplicate_clusters": clustered,
        "over_repetition_thresholds": mass_repetitive, "documents_over_repetition_thresholds": repetitive,
        "method": ("each document's p_synthetic recalibrated on the calibration sets to equal priors "
                   "(sigmoid(a logit(p) + b)), moved to the estimated fraction, summed"),
        "recalibration": {"a": platt[0], "b": platt[1]},
    }
