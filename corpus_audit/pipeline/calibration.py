"""The candidate calibrations of a scan: the model's bank by training domain, or the user's reference sets."""

from __future__ import annotations

import numpy as np

from corpus_audit.estimate.estimation import Calibration
from corpus_audit.estimate.honest import Candidate, Choice, choose
from corpus_audit.estimate.quantify import ScoreSet
from corpus_audit.model.store import MIN_CALIBRATION_SCORES, StoredModel
from corpus_audit.pipeline.references import References
from detectors.classifier import ClassifierDetector


def _calibration(human: np.ndarray, synthetic: np.ndarray, source: str) -> Calibration:
    return Calibration(ScoreSet.from_scores(human), ScoreSet.from_scores(synthetic), source)


def _from_references(model: StoredModel, references: References) -> Candidate:
    """The references scored by the model; without machine-written ones, the model's own (all domains, out of domain)."""
    detector = ClassifierDetector(model.model)
    human, human_rows = detector.scored(references.human)
    if references.synthetic is not None:
        synthetic, synthetic_rows = detector.scored(references.synthetic)
        machine = f"{references.synthetic_source} ({len(synthetic):,} synthetic)"
    else:
        synthetic = model.bank.scores(1)
        rows, labels = model.bank.features()
        synthetic_rows = rows[labels == 1]
        machine = f"the model's out-of-domain scores of its {len(synthetic):,} machine-written training texts"
    calibration = _calibration(human, synthetic, f"{references.human_source} ({len(human):,} human) and {machine}, "
                                                 "scored by the model")
    return Candidate("the reference sets", calibration, np.vstack([human_rows, synthetic_rows]),
                     np.r_[np.zeros(len(human_rows)), np.ones(len(synthetic_rows))])


def choose_calibration(model: StoredModel, scores: ScoreSet, corpus_features: np.ndarray, references: References | None,
                       seed: int) -> Choice:
    """Run the shift test against each candidate and choose (`corpus_audit.estimate.honest`)."""
    name = model.model.metadata.get("name")
    if references is not None:
        candidate = _from_references(model, references)
        return choose(scores, corpus_features, [candidate], candidate.calibration, {}, trusted=True, seed=seed)
    bank = model.bank
    candidates, spread = [], {}
    for index, domain in enumerate(bank.domains):
        seen = [bank.scores(label, seen=True, domains=(index,)) for label in (0, 1)]
        if min(map(len, seen)) < MIN_CALIBRATION_SCORES:
            continue
        candidates.append(Candidate(f"training domain {domain}", _calibration(
            *seen, f"cross-validated scores of model {name!r} on its training domain {domain!r}"), *bank.features((index,))))
        spread[domain] = _calibration(*(bank.scores(label, domains=(index,)) for label in (0, 1)),
                                      f"scores of domain {domain!r} from a model trained without it")
    if len(bank.domains) > 1:
        candidates.append(Candidate("all training domains", _calibration(
            bank.scores(0, seen=True), bank.scores(1, seen=True),
            f"cross-validated scores of model {name!r} on all its training domains"), *bank.features()))
    fallback = _calibration(bank.scores(0), bank.scores(1), f"out-of-domain scores of model {name!r} (each training "
                                                            "domain scored by a model trained without it), pooled")
    return choose(scores, corpus_features, candidates, fallback, spread, seed=seed)
