"""The candidate calibrations of a scan: the model's bank by training domain, or the user's reference sets
(with the detector adapted to them when that estimates more precisely, `corpus_audit.model.adapt`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np

from corpus_audit.estimate.estimation import LOW_AUROC, Calibration
from corpus_audit.estimate.honest import Candidate, Choice, choose
from corpus_audit.estimate.metrics import auroc
from corpus_audit.estimate.quantify import QUANTIFIERS, ScoreSet
from corpus_audit.model.adapt import Adapter, adapter_inputs, fit_adapter, refit
from corpus_audit.model.store import MIN_CALIBRATION_SCORES, StoredModel
from corpus_audit.pipeline.references import References
from detectors.classifier import ClassifierDetector

CALIBRATION_BINS = 1000  # 0.001: far below the sampling noise of any calibration set
REFIT_CHUNKS = 8  # an adapted estimate's refits are made in this many chunks, so the engine's workers share them
SELECTION_ROUNDS = 40  # bootstrap rounds that judge each kind of score before the scan (the adapted ones are reused)
SELECTION_FRACTIONS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)


def _binned(scores: np.ndarray) -> ScoreSet:
    """Calibration scores at a resolution of 0.001: tens of thousands of scores become at most
    1,000 weighted values, which keeps every bootstrap round of every quantifier cheap."""
    return ScoreSet.from_histogram(np.histogram(np.asarray(scores, np.float64), CALIBRATION_BINS, (0.0, 1.0))[0])


def _calibration(human: np.ndarray, synthetic: np.ndarray, source: str) -> Calibration:
    return Calibration(_binned(human), _binned(synthetic), source)


@dataclass(frozen=True)
class Refits:
    """The adapter fitted again on bootstrap resamples of the references (`refit`), one per
    round: round r's calibration sets (the resample's cross-fitted scores) and its adapter.
    A round depends only on `seed` and r, and is kept (and pickled with it): the choice
    between the general and the adapted scores, and then every estimate of a scan, share it."""

    inputs: np.ndarray  # the references' adapter inputs
    labels: np.ndarray
    seed: int
    _rounds: dict[int, tuple[ScoreSet, ScoreSet, Adapter]] = field(default_factory=dict, compare=False, repr=False)

    def round(self, round_: int) -> tuple[ScoreSet, ScoreSet, Adapter]:
        if round_ not in self._rounds:
            labels, crossed, adapter = refit(self.inputs, self.labels, np.random.default_rng([self.seed, round_]))
            self._rounds[round_] = (ScoreSet.from_scores(crossed[labels == 0]), ScoreSet.from_scores(crossed[labels == 1]),
                                    adapter)
        return self._rounds[round_]

    def prepare(self, rounds: int, map_: Callable[..., Iterable[Any]]) -> None:
        """Refit the rounds under `rounds` not made yet, in chunks through `map_`."""
        missing = np.array([r for r in range(rounds) if r not in self._rounds])
        if not len(missing):
            return
        chunks = [chunk.tolist() for chunk in np.array_split(missing, min(len(missing), REFIT_CHUNKS))]
        for chunk, done in zip(chunks, map_(partial(_refitted, self), chunks)):
            self._rounds.update(zip(chunk, done))


def _refitted(refits: Refits, rounds: list[int]) -> list[tuple[ScoreSet, ScoreSet, Adapter]]:
    return [refits.round(round_) for round_ in rounds]


@dataclass(frozen=True)
class Adaptation:
    """The references' calibration scores and features, the adapter when its scores estimate more
    precisely than the general model's, and its refits (which judged that, and redraw it in the bootstrap)."""

    adapter: Adapter | None
    human: np.ndarray
    synthetic: np.ndarray
    human_rows: np.ndarray
    synthetic_rows: np.ndarray
    record: dict[str, Any]
    refits: Refits


@dataclass(frozen=True)
class RefitRedraw:
    """A bootstrap round of an adapted calibration (`corpus_audit.estimate.estimation.Redraw`):
    the round's refit (`Refits`) gives its calibration sets, and the corpus's scores move to
    the refit's by the quantile map between the corpus's feature sample scored by the
    adapter and by the refit. Resampling the calibration scores alone leaves the adapter's
    fitting error out: in the truth benchmark that interval covered 26 of 30 pools. A round's
    sample scores are kept (and pickled with it): a scan's estimates (all documents, unique
    documents, each --by value) share one redraw."""

    refits: Refits
    sample: np.ndarray  # the adapter inputs of the corpus's feature sample
    sample_scores: np.ndarray  # their scores under the adapter, sorted
    description: str = ("refits the adapted detector on the references resampled within each class (cross-fitted as "
                        "the scan's) and moves the corpus's scores to the refit's by the quantile map of its feature sample")
    _refitted: dict[int, np.ndarray] = field(default_factory=dict, compare=False, repr=False)

    def prepare(self, rounds: int, map_: Callable[..., Iterable[Any]]) -> None:
        self.refits.prepare(rounds, map_)
        for round_ in range(rounds):
            self.refitted(round_)

    def refitted(self, round_: int) -> np.ndarray:
        """The feature sample's scores under round `round_`'s refit, sorted."""
        if round_ not in self._refitted:
            self._refitted[round_] = np.sort(self.refits.round(round_)[2].score(self.sample))
        return self._refitted[round_]

    def __call__(self, round_: int, corpus: ScoreSet) -> tuple[ScoreSet, ScoreSet, ScoreSet]:
        human, synthetic, _ = self.refits.round(round_)
        return (ScoreSet(np.interp(corpus.values, self.sample_scores, self.refitted(round_)), corpus.weights),
                human, synthetic)


def reference_spread(rounds: Iterable[tuple[ScoreSet, ScoreSet]], human: ScoreSet, synthetic: ScoreSet) -> float:
    """How far the references' own sampling moves a `pacc` estimate: its standard deviation over
    bootstrap rounds of the calibration sets, for corpora whose mean score is that of each of
    `SELECTION_FRACTIONS` under the references, averaged over the fractions. It needs no
    corpus, so it judges before a scan which scores will estimate more precisely."""
    pacc = QUANTIFIERS["pacc"]
    rounds = list(rounds)
    spreads = []
    for fraction in SELECTION_FRACTIONS:
        corpus = ScoreSet(np.array([(1 - fraction) * human.mean() + fraction * synthetic.mean()]), np.ones(1))
        spreads.append(np.std([pacc(corpus, h, s) for h, s in rounds]))
    return float(np.mean(spreads))


def keeps_adapter(general: tuple[float, float], adapted: tuple[float, float]) -> bool:
    """Whether the adapted scores estimate more precisely, given (reference AUROC, `reference_spread`) of the
    general and the adapted scores: the smaller spread wins among scores with an AUROC of at least
    `LOW_AUROC` (scores under it widen the interval to every method's); when neither reaches it, the higher AUROC."""
    precision = [spread if separation >= LOW_AUROC else np.inf for separation, spread in (general, adapted)]
    if precision[0] == precision[1] == np.inf:
        return adapted[0] > general[0]
    return precision[1] < precision[0]


def adapt_to_references(model: StoredModel, references: References, seed: int) -> Adaptation | None:
    """Fit the adapter on labelled references of both classes; keep it if its scores estimate more precisely
    (`keeps_adapter`; the adapted scores' `reference_spread` refits the adapter in each round). AUROC alone
    chose before: on stories the adapter ranked better (0.90-0.94 against 0.89-0.92) but estimated worse."""
    if references.synthetic is None:
        return None
    detector = ClassifierDetector(model.model)
    (human, human_rows), (synthetic, synthetic_rows) = detector.scored(references.human), detector.scored(references.synthetic)
    adapter, crossed_human, crossed_synthetic = fit_adapter((human, human_rows), (synthetic, synthetic_rows), seed)
    general, adapted = auroc(human, synthetic), auroc(crossed_human, crossed_synthetic)
    refits = Refits(np.vstack([adapter_inputs(human, human_rows), adapter_inputs(synthetic, synthetic_rows)]),
                    np.r_[np.zeros(len(human)), np.ones(len(synthetic))], seed)
    sets = ScoreSet.from_scores(human.astype(np.float64)), ScoreSet.from_scores(synthetic.astype(np.float64))
    rng = np.random.default_rng(seed)
    general_spread = reference_spread([(sets[0].resample(rng), sets[1].resample(rng)) for _ in range(SELECTION_ROUNDS)],
                                      *sets)
    adapted_spread = reference_spread([refits.round(r)[:2] for r in range(SELECTION_ROUNDS)],
                                      ScoreSet.from_scores(crossed_human), ScoreSet.from_scores(crossed_synthetic))
    used = keeps_adapter((general, general_spread), (adapted, adapted_spread))
    record = {"used": used, "reference_auroc_general": round(general, 4), "reference_auroc_adapted": round(adapted, 4),
              "reference_spread_general": round(general_spread, 4), "reference_spread_adapted": round(adapted_spread, 4),
              "method": "logistic regression on the general model's logit and the dense features, each through a "
                        "quadratic spline basis with knots at its quantiles among the references, fitted on the "
                        "references; its reference scores are cross-fitted (5 folds)",
              "rule": f"kept when its scores' reference spread (the standard deviation of a pacc estimate over "
                      f"{SELECTION_ROUNDS} bootstrap rounds of the references, the adapter refitted in each, at "
                      f"fractions 0 to 0.5) is the smaller, among scores with a reference AUROC of at least {LOW_AUROC}"}
    if not used:
        return Adaptation(None, human, synthetic, human_rows, synthetic_rows, record, refits)
    return Adaptation(adapter, crossed_human, crossed_synthetic, human_rows, synthetic_rows, record, refits)


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


def _redraw(adaptation: Adaptation, corpus_features: np.ndarray, corpus_general: np.ndarray | None) -> RefitRedraw | None:
    if adaptation.adapter is None:
        return None
    if corpus_general is None or len(corpus_general) != len(corpus_features):
        raise ValueError("an adapted calibration needs the general model's p_synthetic of each row of the feature sample")
    sample = adapter_inputs(corpus_general, corpus_features)
    return RefitRedraw(adaptation.refits, sample,
                       np.sort(adaptation.adapter.probability(corpus_general, corpus_features).astype(np.float64)))


def choose_calibration(model: StoredModel, scores: ScoreSet, corpus_features: np.ndarray, references: References | None,
                       seed: int, adaptation: Adaptation | None = None,
                       map_: Callable[..., Iterable[Any]] = map, corpus_general: np.ndarray | None = None) -> Choice:
    """Run the shift test against each candidate (through `map_`) and choose (`corpus_audit.estimate.honest`).

    `corpus_general`: the general model's p_synthetic of each row of `corpus_features`, which
    an adapted calibration needs to refit the adapter in its bootstrap."""
    name = model.model.metadata.get("name")
    if references is not None and adaptation is not None:
        record = adaptation.record
        spreads = (f"the estimate's reference spread: adapted {record['reference_spread_adapted']:.3f}, "
                   f"general {record['reference_spread_general']:.3f}")
        how = (f"the adapted model's cross-fitted scores ({spreads})" if adaptation.adapter is not None
               else f"the model's scores ({spreads})")
        calibration = Calibration(_binned(adaptation.human), _binned(adaptation.synthetic),
                                  f"{references.human_source} ({len(adaptation.human):,} human) and "
                                  f"{references.synthetic_source} ({len(adaptation.synthetic):,} synthetic), {how}",
                                  _redraw(adaptation, corpus_features, corpus_general))
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
