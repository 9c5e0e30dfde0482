"""The candidate calibrations of a scan: the model's bank by training domain, or the user's reference sets
(with the detector adapted to them when that separates them better, `corpus_audit.model.adapt`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np

from corpus_audit.estimate.estimation import Calibration
from corpus_audit.estimate.honest import Candidate, Choice, choose
from corpus_audit.estimate.metrics import auroc
from corpus_audit.estimate.quantify import ScoreSet
from corpus_audit.model.adapt import Adapter, adapter_inputs, fit_adapter, refit
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
    """The references' calibration scores and features, and the adapter when it beat the general model
    (with the references' adapter inputs and labels, to refit it in the bootstrap)."""

    adapter: Adapter | None
    human: np.ndarray
    synthetic: np.ndarray
    human_rows: np.ndarray
    synthetic_rows: np.ndarray
    record: dict[str, Any]
    inputs: np.ndarray | None = None
    labels: np.ndarray | None = None


REFIT_CHUNKS = 8  # an adapted estimate's refits are made in this many chunks, so the engine's workers share them


@dataclass(frozen=True)
class RefitRedraw:
    """A bootstrap round of an adapted calibration (`corpus_audit.estimate.estimation.Redraw`):
    the references resampled within each class and the adapter fitted again on them (`refit`),
    the round's calibration sets their cross-fitted scores, and the corpus's scores moved to
    the refitted adapter's by the quantile map between the corpus's feature sample scored
    by the adapter and by its refit. Resampling the calibration scores alone leaves the
    adapter's fitting error out: in the truth benchmark that interval covered 26 of 30 pools.
    A round's refit depends only on `seed` and the round, and is kept (and pickled with it):
    the scan's estimates (all documents, unique documents, each --by value) refit once."""

    inputs: np.ndarray  # the references' adapter inputs
    labels: np.ndarray
    sample: np.ndarray  # the adapter inputs of the corpus's feature sample
    sample_scores: np.ndarray  # their scores under the adapter, sorted
    seed: int
    description: str = ("refits the adapted detector on the references resampled within each class (cross-fitted as "
                        "the scan's) and moves the corpus's scores to the refit's by the quantile map of its feature sample")
    _rounds: dict[int, tuple[ScoreSet, ScoreSet, np.ndarray]] = field(default_factory=dict, compare=False, repr=False)

    def refitted(self, round_: int) -> tuple[ScoreSet, ScoreSet, np.ndarray]:
        """Round `round_`'s calibration sets, and its refit's scores of the feature sample, sorted."""
        if round_ not in self._rounds:
            labels, crossed, sample = refit(self.inputs, self.labels, self.sample, np.random.default_rng([self.seed, round_]))
            self._rounds[round_] = (ScoreSet.from_scores(crossed[labels == 0]), ScoreSet.from_scores(crossed[labels == 1]),
                                    np.sort(sample))
        return self._rounds[round_]

    def prepare(self, rounds: int, map_: Callable[..., Iterable[Any]]) -> None:
        """Refit rounds 0 to rounds - 1 ahead, in chunks through `map_`."""
        chunks = [chunk.tolist() for chunk in np.array_split(np.arange(rounds), min(rounds, REFIT_CHUNKS))]
        for chunk, done in zip(chunks, map_(partial(_refitted, self), chunks)):
            self._rounds.update(zip(chunk, done))

    def __call__(self, round_: int, corpus: ScoreSet) -> tuple[ScoreSet, ScoreSet, ScoreSet]:
        human, synthetic, refitted = self.refitted(round_)
        return ScoreSet(np.interp(corpus.values, self.sample_scores, refitted), corpus.weights), human, synthetic


def _refitted(redraw: RefitRedraw, rounds: list[int]) -> list[tuple[ScoreSet, ScoreSet, np.ndarray]]:
    return [redraw.refitted(round_) for round_ in rounds]


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
    inputs = np.vstack([adapter_inputs(human, human_rows), adapter_inputs(synthetic, synthetic_rows)])
    return Adaptation(adapter, crossed_human, crossed_synthetic, human_rows, synthetic_rows, record, inputs,
                      np.r_[np.zeros(len(human)), np.ones(len(synthetic))])


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


def _redraw(adaptation: Adaptation, corpus_features: np.ndarray, corpus_general: np.ndarray | None,
            seed: int) -> RefitRedraw | None:
    if adaptation.adapter is None:
        return None
    if corpus_general is None or len(corpus_general) != len(corpus_features):
        raise ValueError("an adapted calibration needs the general model's p_synthetic of each row of the feature sample")
    sample = adapter_inputs(corpus_general, corpus_features)
    return RefitRedraw(adaptation.inputs, adaptation.labels, sample,
                       np.sort(adaptation.adapter.probability(corpus_general, corpus_features).astype(np.float64)), seed)


def choose_calibration(model: StoredModel, scores: ScoreSet, corpus_features: np.ndarray, references: References | None,
                       seed: int, adaptation: Adaptation | None = None,
                       map_: Callable[..., Iterable[Any]] = map, corpus_general: np.ndarray | None = None) -> Choice:
    """Run the shift test against each candidate (through `map_`) and choose (`corpus_audit.estimate.honest`).

    `corpus_general`: the general model's p_synthetic of each row of `corpus_features`, which
    an adapted calibration needs to refit the adapter in its bootstrap."""
    name = model.model.metadata.get("name")
    if references is not None and adaptation is not None:
        how = "the adapted model's cross-fitted scores" if adaptation.adapter is not None else "the model's scores"
        calibration = Calibration(_binned(adaptation.human), _binned(adaptation.synthetic),
                                  f"{references.human_source} ({len(adaptation.human):,} human) and "
                                  f"{references.synthetic_source} ({len(adaptation.synthetic):,} synthetic), {how}",
                                  _redraw(adaptation, corpus_features, corpus_general, seed))
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
