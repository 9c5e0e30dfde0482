"""The candidate calibrations of a scan: the model's bank by training domain, or the user's reference sets
(with the detector adapted to them when that separates them better, `corpus_audit.model.adapt`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from corpus_audit.estimate.estimation import Calibration
from corpus_audit.estimate.honest import Candidate, Choice, choose
from corpus_audit.estimate.metrics import auroc
from corpus_audit.estimate.quantify import ScoreSet
from corpus_audit.model.adapt import Adapter, fit_adapter
from corpus_audit.model.store import MIN_CALIBRATION_SCORES, StoredModel
from corpus_audit.pipeline.references import References
from detectors.classifier import ClassifierDetector

CALIBRATION_BINS = 1000  # 0.001: far below the sampling noise of any calibration set


def _binned(scores: np.ndarray) -> ScoreSet:
    """Calibration scores at a resolution of 0.001: tens of thousands of scores become at most
    1,000 weighted values, which keeps every bootstrap round of every quantifier cheap."""
    return ScoreSet.from_histogram(np.histogram(np.asarray(scores, np.float64), CALIBRATION_BINS, (0.0, 1.0))[0])


def _calibration(human: np.ndarray, synthetic: np.ndarray, source: str) -> Calibration:
    return Calibration(_binned(human), _binned(synthetic), source)


@dataclass(frozen=True)
class Adaptation:
    """The references' calibration scores and features, and the adapter when it beat the general model."""

    adapter: Adapter | None
    human: np.ndarray
    synthetic: np.ndarray
    human_rows: np.ndarray
    synthetic_rows: np.ndarray
    record: dict[str, Any]


def adapt_to_references(model: StoredModel, references: References, seed: int) -> Adaptation | None:
    """Fit the adapter on labelled references of both classes; keep it if its cross-fitted AUROC is higher."""
    if references.synthetic is None:
        return None
    detector = ClassifierDetector(model.model)
    (human, human_rows), (synthetic, synthetic_rows) = detector.scored(references.human), detector.scored(references.synthetic)
    adapter, crossed_human, crossed_synthetic = fit_adapter((human, human_rows), (synthetic, synthetic_rows), seed)
    general, adapted = auroc(human, synthetic), auroc(crossed_human, crossed_synthetic)
    used = adapted > general
    record = {"used": used, "reference_auroc_general": round(general, 4), "reference_auroc_adapted": round(adapted, 4),
              "method": "logistic regression on the general model's logit and the dense features, fitted on the "
                        "references; its reference scores are cross-fitted (5 folds)"}
    if not used:
        return Adaptation(None, human, synthetic, human_rows, synthetic_rows, record)
    return Adaptation(adapter, crossed_human, crossed_synthetic, human_rows, synthetic_rows, record)


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
                       seed: int, adaptation: Adaptation | None = None,
                       map_: Callable[..., Iterable[Any]] = map) -> Choice:
    """Run the shift test against each candidate (through `map_`) and choose (`corpus_audit.estimate.honest`)."""
    name = model.model.metadata.get("name")
    if references is not None and adaptation is not None:
        how = "the adapted model's cross-fitted scores" if adaptation.adapter is not None else "the model's scores"
        calibration = _calibration(adaptation.human, adaptation.synthetic,
                                   f"{references.human_source} ({len(adaptation.human):,} human) and "
                                   f"{references.synthetic_source} ({len(adaptation.synthetic):,} synthetic), {how}")
        candidate = Candidate("the reference sets", calibration,
                              np.vstack([adaptation.human_rows, adaptation.synthetic_rows]),
                              np.r_[np.zeros(len(adaptation.human_rows)), np.ones(len(adaptation.synthetic_rows))])
        return choose(scores, corpus_features, [candidate], calibration, {}, trusted=True, seed=seed)
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
    return choose(scores, corpus_features, candidates, fallback, spread, seed=seed, map_=map_)
