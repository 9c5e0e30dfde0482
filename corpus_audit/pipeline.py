"""The scan: read -> detect per batch (in parallel) -> write documents/ -> merge -> audit.json.

Reading happens in this process, one shard after another, in bounded batches; at most
`engine.max_in_flight` batches are being scored at once, so memory does not grow with the
corpus. Results are handled in submission order, which makes the output files the same
whatever the number of workers.
"""

from __future__ import annotations

import hashlib
import shutil
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from corpus_audit import __version__, atomic, gating, model_store
from corpus_audit.config import ScanConfig
from corpus_audit.engines import LocalEngine, ScoredBatch
from corpus_audit.errors import AuditError, SourceError
from corpus_audit.estimation import Calibration, estimate, occurrence_interval
from corpus_audit.model_store import StoredModel
from corpus_audit.near_duplicates import NearDuplicateJoin, label_documents, selected_rows, summarize_clusters
from corpus_audit.projection import Plan, Spectrum, project
from corpus_audit.quantify import ScoreSet
from corpus_audit.readers import ColumnSpec, DocumentBatch, Shard, ShardReader, group_shards, read_texts
from corpus_audit.report import write_reports
from corpus_audit.run_state import RunState, ShardResult
from corpus_audit.sampling import Sampler, choose_exact
from corpus_audit.sources import resolve_sources
from detectors import Bundle, Detector, Histogram, MinHashDetector, default_detectors
from detectors.classifier import SCORE_BINS, ClassifierDetector
from detectors.occurrence import WordOccurrenceDetector

MAX_STRATA = 1000
CHART_BINS = 50  # p_synthetic histograms kept in audit.json for the report's chart


class ProgressSink(Protocol):
    """Where the pipeline reports progress (a terminal bar, a log, nothing)."""

    def start(self, shards: int) -> None: ...

    def advance(self, documents: int) -> None: ...

    def shard_done(self) -> None: ...


class _Silent:
    def start(self, shards: int) -> None: ...

    def advance(self, documents: int) -> None: ...

    def shard_done(self) -> None: ...


@dataclass
class _ShardWork:
    """A shard being scanned: its result so far and its batches not yet scored."""

    result: ShardResult
    partials: dict[str, Bundle] = field(default_factory=dict)
    strata: dict[str, Histogram] = field(default_factory=dict)
    outstanding: int = 0
    read_all: bool = False


@dataclass
class _Pending:
    work: _ShardWork
    batch_index: int
    batch: DocumentBatch
    truncated: np.ndarray
    future: Future[ScoredBatch]


def _shard_key(shard: Shard) -> int:
    return int(hashlib.sha256(shard.sources[0].url.encode()).hexdigest()[:15], 16)


class Scan:
    """One run of `corpus-audit scan` over its inputs, with its detectors."""

    def __init__(self, config: ScanConfig, detectors: Sequence[Detector] | None = None,
                 progress: ProgressSink | None = None) -> None:
        self.config = config
        self.model: StoredModel | None = None
        self.references = self._read_references()
        if detectors is None:
            self.model = model_store.load(None if config.model is None else Path(config.model))
            detectors = [*default_detectors(config.near_dup_threshold), ClassifierDetector(self.model.model)]
            if self.references is not None:
                detectors.append(WordOccurrenceDetector.fit(*self.references, seed=config.seed))
        self.detectors = list(detectors)
        self.progress = progress or _Silent()
        self.columns = ColumnSpec(config.text_column, config.id_column, config.by)
        self.state = RunState(config.out)
        self.skipped_sources: list[dict[str, str]] = []
        self.results: dict[int, ShardResult] = {}
        self.reference: list[Shard] = []
        self.merged: dict[str, Bundle] = {}

    def run(self) -> dict[str, Any]:
        started = time.perf_counter()
        shards = group_shards(resolve_sources(list(self.config.inputs), self.config.format))
        self.reference = group_shards(resolve_sources([self.config.against])) if self.config.against else []
        self.state.lock()
        try:
            sampler, population = self._sampler(shards)
            manifest = {"tool_version": __version__, "options": self._options(),
                        "shards": [s.fingerprint() for s in shards]}
            self.results = self.state.start(manifest, self.config.resume)
            resumed = len(self.results)
            self.progress.start(len(shards))
            for _ in range(resumed):
                self.progress.shard_done()
            skipped_now = {s["index"] for s in self.skipped_sources}
            todo = [s for s in shards if s.index not in self.results and s.index not in skipped_now]
            with LocalEngine(self.detectors, self.config.workers) as engine:
                self._scan_shards(todo, engine, sampler)
            audit = self._assemble(shards, population, resumed)
            if self.model is not None and "classifier" in self.merged:
                self._estimate(audit)
                if "spectrum" in audit:
                    audit["collapse_projection"] = self._project(audit)
            scanned = time.perf_counter()
            for detector in self.detectors:
                if isinstance(detector, MinHashDetector):
                    audit["near_duplicates"] = self._near_duplicates(detector, shards)
                    if "synthetic_fraction" in audit:
                        self._composition(audit["synthetic_fraction"])
            finished = time.perf_counter()
            audit["timing"] = {"seconds": round(finished - started, 3), "scan_seconds": round(scanned - started, 3),
                               "join_seconds": round(finished - scanned, 3),
                               "documents_per_second": round(audit["input"]["scanned"] / (finished - started), 1)}
            if self.config.fail_on:
                audit["gate"] = gating.evaluate([gating.parse_rule(r) for r in self.config.fail_on], audit)
            atomic.write_json(self.config.out / "audit.json", audit)
            write_reports(audit, self.config.out / "report.html", self.config.out / "report.md")
            return audit
        finally:
            self.state.unlock()

    def _options(self) -> dict[str, Any]:
        return {**self.config.result_options(), "detectors": {d.name: d.config() for d in self.detectors}}

    def _sampler(self, shards: list[Shard]) -> tuple[Sampler, int | None]:
        if self.config.sample is None:
            return Sampler(self.config.sample_fraction, self.config.seed), None
        counts = []
        for shard in shards:
            try:
                counts.append(self._reader(shard).count())
            except SourceError as err:
                self._source_failed(shard, err)
                counts.append(0)
        return Sampler(seed=self.config.seed, chosen=choose_exact(counts, self.config.sample, self.config.seed)), sum(counts)

    def _reader(self, shard: Shard) -> ShardReader:
        return ShardReader(shard, self.columns, self.config.batch_size)

    def _source_failed(self, shard: Shard, err: SourceError) -> None:
        if self.config.on_error == "fail":
            raise err
        self.skipped_sources.append({"index": shard.index, "source": err.source, "error": err.reason})
        self.progress.shard_done()

    def _scan_shards(self, shards: list[Shard], engine: LocalEngine, sampler: Sampler) -> None:
        pending: deque[_Pending] = deque()
        for shard in shards:
            work = _ShardWork(ShardResult(shard.index, shard.fingerprint(),
                                          bytes=sum(s.size or 0 for s in shard.sources)))
            position = 0
            try:
                for batch_index, batch in enumerate(self._reader(shard).batches()):
                    positions = np.arange(position, position + len(batch))
                    position += len(batch)
                    self._submit(work, batch_index, batch, sampler.keep(_shard_key(shard), shard.index, positions),
                                 engine, pending)
                    while len(pending) >= engine.max_in_flight:
                        self._finish(pending.popleft())
            except SourceError as err:
                while pending:
                    self._finish(pending.popleft())
                self.state.discard_parts(work.result.parts)
                self._source_failed(shard, err)
                continue
            work.read_all = True
            self._maybe_complete(work)
        while pending:
            self._finish(pending.popleft())

    def _submit(self, work: _ShardWork, batch_index: int, batch: DocumentBatch, keep: np.ndarray,
                engine: LocalEngine, pending: deque[_Pending]) -> None:
        result = work.result
        result.rows += len(batch)
        batch = batch.select(keep)
        result.invalid_utf8 += int(batch.repaired.sum())
        missing = np.fromiter((t is None for t in batch.texts), bool, len(batch))
        result.skip("text is not a string", int(batch.not_string.sum()))
        result.skip("null text", int((missing & ~batch.not_string).sum()))
        batch = batch.select(~missing)
        if len(batch) == 0:
            return
        limit = self.config.max_doc_chars
        truncated = np.fromiter((len(t) > limit for t in batch.texts), bool, len(batch))
        texts = [t[:limit] for t in batch.texts] if truncated.any() else batch.texts
        result.truncated += int(truncated.sum())
        result.empty += sum(1 for t in texts if not t.strip())
        work.outstanding += 1
        pending.append(_Pending(work, batch_index, batch, truncated, engine.submit(texts)))

    def _finish(self, item: _Pending) -> None:
        scored = item.future.result()
        work, batch = item.work, item.batch
        name = f"part-{work.result.index:05d}-{item.batch_index:05d}.parquet"
        atomic.write_parquet(self.state.documents / name, self._table(batch, item.truncated, scored))
        for detector in self.detectors:
            if detector.arrays:
                path = self.state.join_file(detector.name, name)
                path.parent.mkdir(parents=True, exist_ok=True)
                atomic.write_arrays(path, {k: scored.columns[k] for k in detector.arrays})
        work.result.parts.append(name)
        work.result.scanned += len(batch)
        for detector_name, partial in scored.partials.items():
            previous = work.partials.get(detector_name)
            work.partials[detector_name] = partial if previous is None else previous.merge(partial)
        if batch.strata is not None and "p_synthetic" in scored.columns:
            self._add_strata(work.strata, batch.strata, scored.columns["p_synthetic"])
        work.outstanding -= 1
        self.progress.advance(len(batch))
        self._maybe_complete(work)

    def _maybe_complete(self, work: _ShardWork) -> None:
        if work.read_all and work.outstanding == 0:
            work.result.partials = {k: v.to_state() for k, v in work.partials.items()}
            work.result.strata = {k: v.to_state() for k, v in work.strata.items()}
            self.state.finish_shard(work.result)
            self.results[work.result.index] = work.result
            self.progress.shard_done()

    def _table(self, batch: DocumentBatch, truncated: np.ndarray, scored: ScoredBatch) -> pa.Table:
        ids = [f"{s}:{r}" if (batch.ids is None or batch.ids[i] is None) else batch.ids[i]
               for i, (s, r) in enumerate(zip(batch.sources, batch.rows.tolist()))]
        data: dict[str, pa.Array] = {
            "doc_id": pa.array(ids, pa.string()),
            "source": pa.array(batch.sources, pa.string()),
            "row": pa.array(batch.rows, pa.int64()),
        }
        if batch.strata is not None:
            data["stratum"] = pa.array(batch.strata, pa.string())
        data["truncated"] = pa.array(truncated, pa.bool_())
        for detector in self.detectors:
            for column in detector.columns:
                data[column.name] = pa.array(scored.columns[column.name], column.type)
        return pa.table(data)

    def _add_strata(self, strata: dict[str, Histogram], values: list[str | None], scores: np.ndarray) -> None:
        """Add a batch's scores to the histogram of each --by value."""
        labels = np.asarray(["(null)" if v is None else v for v in values], dtype=object)
        for value in sorted(set(labels.tolist())):
            strata.setdefault(value, Histogram(0.0, 1.0, SCORE_BINS)).add(scores[labels == value])
        self._check_strata(len(strata))

    def _check_strata(self, count: int) -> None:
        if count > MAX_STRATA:
            raise AuditError(f"--by {self.config.by}: more than {MAX_STRATA:,} distinct values; "
                             "choose a column with fewer (a source, a domain, a year)")

    def _strata(self, calibration: Calibration) -> list[dict[str, Any]]:
        merged: dict[str, Histogram] = {}
        for i in sorted(self.results):
            for value, state in self.results[i].strata.items():
                histogram = Histogram.from_state(state)
                merged[value] = histogram if value not in merged else merged[value].merge(histogram)
        self._check_strata(len(merged))
        rows = []
        for value, histogram in sorted(merged.items(), key=lambda kv: (-kv[1].count, kv[0])):
            result = estimate(ScoreSet.from_histogram(histogram.counts), calibration, seed=self.config.seed)
            rows.append({"value": value, "documents": histogram.count, **{k: result[k] for k in ("estimate", "ci_low", "ci_high")},
                         "warnings": result["warnings"]})
        return rows

    def _read_references(self) -> tuple[list[str], list[str]] | None:
        """The --reference-human and --reference-synthetic texts (truncated like the corpus's), if given."""
        if self.config.reference_human is None:
            return None
        sets = []
        for option, path in (("--reference-human", self.config.reference_human),
                             ("--reference-synthetic", self.config.reference_synthetic)):
            try:
                texts, _ = read_texts([path], ColumnSpec(text=self.config.text_column))
            except AuditError as err:
                raise AuditError(f"{option} {err}") from err
            if len(texts) < 20:
                raise AuditError(f"{option} {path}: {len(texts)} texts; calibration needs at least 20")
            sets.append([t[: self.config.max_doc_chars] for t in texts])
        return sets[0], sets[1]

    def _calibration(self) -> Calibration:
        """The model's cross-validated scores, or the reference sets scored by the model."""
        model = self.model
        if self.references is None:
            return Calibration(ScoreSet.from_scores(model.cv_human), ScoreSet.from_scores(model.cv_synthetic),
                               f"cross-validated scores of model {model.model.metadata.get('name')!r} on its own "
                               "training data (in-domain only for corpora like that data)")
        detector = ClassifierDetector(model.model)
        sets = [detector.probabilities(texts) for texts in self.references]
        return Calibration(ScoreSet.from_scores(sets[0]), ScoreSet.from_scores(sets[1]),
                           f"reference sets {self.config.reference_human} ({len(sets[0]):,} human) and "
                           f"{self.config.reference_synthetic} ({len(sets[1]):,} synthetic), scored by the model")

    def _composition(self, section: dict[str, Any]) -> None:
        """The estimate over unique documents (one per near-duplicate cluster), and the share of
        the estimated machine-written mass in near-duplicate clusters and in documents over a
        repetition threshold. A document's mass is its `p_synthetic` (an equal-prior
        posterior) moved to the estimated prior."""
        prior = min(max(section["estimate"], 1e-9), 1 - 1e-9)
        unique = Histogram(0.0, 1.0, SCORE_BINS)
        sums = np.zeros((2, 3))  # (mass, documents) x (all, in clusters, over a repetition threshold)
        columns = ["doc_id", "p_synthetic", "near_dup_cluster", "gopher_repetition_flag"]
        for part in self._parts():
            table = pq.read_table(self.state.documents / part, columns=columns).to_pydict()
            p = np.asarray(table["p_synthetic"], dtype=np.float64)
            cluster = np.array([c is not None for c in table["near_dup_cluster"]], dtype=bool)
            first = np.array([c is None or c == d for c, d in zip(table["near_dup_cluster"], table["doc_id"])], dtype=bool)
            repetitive = np.asarray(table["gopher_repetition_flag"], dtype=bool)
            mass = prior * p / (prior * p + (1 - prior) * (1 - p))
            unique.add(p[first])
            for row, weights in enumerate((mass, np.ones_like(p))):
                sums[row] += [weights.sum(), weights[cluster].sum(), weights[repetitive].sum()]
        result = estimate(ScoreSet.from_histogram(unique.counts), self.calibration, seed=self.config.seed)
        section["unique_documents"] = {"documents": unique.count, **{k: result[k] for k in ("estimate", "ci_low", "ci_high")}}
        (mass_clustered, mass_repetitive), (clustered, repetitive) = (
            [float(x) / row[0] if row[0] else None for x in row[1:]] for row in sums)
        section["synthetic_mass"] = {
            "in_near_duplicate_clusters": mass_clustered, "documents_in_near_duplicate_clusters": clustered,
            "over_repetition_thresholds": mass_repetitive, "documents_over_repetition_thresholds": repetitive,
            "method": "each document's p_synthetic moved from equal priors to the estimated fraction, summed",
        }

    def _estimate(self, audit: dict[str, Any]) -> None:
        calibration = self.calibration = self._calibration()
        scores = ScoreSet.from_histogram(self.merged["classifier"].parts["p_synthetic"].counts)
        independent = None
        if "occurrence" in self.merged:
            independent = {"occurrence_mle": occurrence_interval(self.merged["occurrence"], seed=self.config.seed)}
        audit["synthetic_fraction"] = estimate(scores, calibration, seed=self.config.seed, independent=independent)
        audit["synthetic_fraction"]["score_histograms"] = {
            "bins": CHART_BINS, **{name: np.histogram(s.values, CHART_BINS, (0.0, 1.0), weights=s.weights)[0].tolist()
                                   for name, s in (("corpus", scores), ("human", calibration.human),
                                                   ("synthetic", calibration.synthetic))}}
        if self.config.by is not None:
            audit["strata"] = self._strata(calibration)

    def _project(self, audit: dict[str, Any]) -> dict[str, Any]:
        """The collapse projection on this corpus's spectrum, with its estimated synthetic fraction."""
        fraction = audit["synthetic_fraction"]
        spectrum = Spectrum.from_counts_of_counts(audit["spectrum"]["counts_of_counts"], "this corpus")
        plan = Plan(alpha=fraction["estimate"], alpha_low=min(fraction["ci_low"], fraction["estimate"]),
                    alpha_high=max(fraction["ci_high"], fraction["estimate"]), regime=self.config.regime,
                    generations=self.config.generations, seed=self.config.seed)
        return project(spectrum, plan)

    def _parts(self) -> list[str]:
        """Every documents part of the finished shards, in corpus order."""
        return [p for i in sorted(self.results) for p in sorted(self.results[i].parts)]

    def _score_reference(self, detector: MinHashDetector, work: Path) -> tuple[list[Path], list[str]]:
        """MinHash arrays of the `--against` texts, batch by batch, and their ids."""
        paths, ids = [], []
        for shard in self.reference:
            try:
                for batch in ShardReader(shard, ColumnSpec(), self.config.batch_size).batches():
                    kept = [(s, r, t[: self.config.max_doc_chars]) for s, r, t in zip(batch.sources, batch.rows.tolist(), batch.texts)
                            if t is not None]
                    if not kept:
                        continue
                    scores = detector.score([t for _, _, t in kept])
                    paths.append(work / f"against-{len(paths):06d}.npz")
                    atomic.write_arrays(paths[-1], {k: scores[k] for k in detector.arrays})
                    ids += [f"{s}:{r}" for s, r, _ in kept]
            except SourceError as err:
                raise AuditError(f"--against {err}") from err
        return paths, ids

    def _near_duplicates(self, detector: MinHashDetector, shards: list[Shard]) -> dict[str, Any]:
        parts = self._parts()
        work = self.config.out / "join" / "tmp"
        try:
            work.mkdir(parents=True, exist_ok=True)
            reference_parts, reference_ids = self._score_reference(detector, work)
            clusters = NearDuplicateJoin(detector.threshold).run(
                [self.state.join_file(detector.name, p) for p in parts], work, reference_parts)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        summary = summarize_clusters(self.state.documents, parts, clusters)
        label_documents(self.state.documents, parts, clusters, summary.representatives,
                        reference_ids if self.config.against else None)
        scanned = len(clusters.labels)
        duplicates = int((clusters.sizes[clusters.sizes >= 2] - 1).sum())
        excerpts = self._excerpts([first for *_, first in summary.largest], shards)
        section: dict[str, Any] = {
            **detector.config(),
            "clusters": len(summary.representatives),
            "documents_in_clusters": int(clusters.in_cluster().sum()),
            "duplicate_documents": duplicates,
            "duplicate_fraction": duplicates / scanned if scanned else 0.0,
            "candidate_pairs": clusters.candidate_pairs,
            "verified_pairs": clusters.verified_pairs,
            "exact_jaccard_checks": clusters.exact_checks,
            "largest": [{"cluster": rep, "size": int(clusters.sizes[label]), "members": members, "excerpt": excerpt}
                        for (label, rep, members, _), excerpt in zip(summary.largest, excerpts)],
        }
        if self.config.against:
            matched = np.flatnonzero(clusters.reference_match >= 0)
            first = np.zeros(len(clusters.reference_match), dtype=bool)
            first[matched[:10]] = True
            examples = [doc_id for ids, _ in selected_rows(self.state.documents, parts, first, ["doc_id"]) for doc_id in ids["doc_id"]]
            section["against"] = {
                "path": self.config.against, "reference_documents": len(reference_ids),
                "matched_documents": len(matched), "matched_fraction": len(matched) / scanned if scanned else 0.0,
                "examples": [{"doc_id": doc_id, "reference_id": reference_ids[clusters.reference_match[i]]}
                             for i, doc_id in zip(matched[:10], examples)],
            }
        return section

    def _excerpts(self, places: list[tuple[str, int]], shards: list[Shard], chars: int = 200) -> list[str]:
        """The opening characters of the documents at these (source, row) places."""
        wanted = set(places)
        found: dict[tuple[str, int], str] = {}
        urls = {source for source, _ in wanted}
        for shard in shards:
            if not urls & {s.url for s in shard.sources}:
                continue
            for batch in self._reader(shard).batches():
                for source, row, text in zip(batch.sources, batch.rows.tolist(), batch.texts):
                    if (source, row) in wanted and text is not None:
                        found[(source, row)] = " ".join(text[: chars * 2].split())[:chars]
                if len(found) == len(wanted):
                    break
        return [found.get(place, "") for place in places]

    def _assemble(self, shards: list[Shard], population: int | None, resumed: int) -> dict[str, Any]:
        done = [self.results[i] for i in sorted(self.results)]
        total = lambda attr: sum(getattr(r, attr) for r in done)  # noqa: E731
        skipped: dict[str, int] = {}
        for r in done:
            for reason, n in r.skipped.items():
                skipped[reason] = skipped.get(reason, 0) + n
        scanned = total("scanned")
        audit: dict[str, Any] = {
            "schema_version": 1,
            "tool": {"name": "corpus-audit", "version": __version__},
            "config": {**self.config.as_dict(), "detectors": self._options()["detectors"]},
            "model": None if self.model is None else model_store.describe(self.model),
            "input": {
                "documents": total("rows"),
                "scanned": scanned,
                "skipped_documents": sum(skipped.values()),
                "skipped_reasons": dict(sorted(skipped.items())),
                "skipped_sources": [{"source": s["source"], "error": s["error"]} for s in self.skipped_sources],
                "bytes": total("bytes"),
                "shards": len(shards),
                "shards_resumed": resumed,
                "truncated_documents": total("truncated"),
                "max_doc_chars": self.config.max_doc_chars,
                "empty_documents": total("empty"),
                "invalid_utf8_documents": total("invalid_utf8"),
                "sampling": self._sampling_record(population, total("rows"), scanned + sum(skipped.values())),
            },
        }
        for detector in self.detectors:
            states = [r.partials[detector.name] for r in done if detector.name in r.partials]
            if states:
                merged = Bundle.from_state(states[0])
                for state in states[1:]:
                    merged = merged.merge(Bundle.from_state(state))
                self.merged[detector.name] = merged
                audit[detector.name] = detector.summarize(merged)
        return audit

    def _sampling_record(self, population: int | None, rows: int, sampled: int) -> dict[str, Any]:
        if self.config.sample is not None:
            return {"mode": "count", "requested": self.config.sample, "seed": self.config.seed,
                    "population": population, "sampled": sampled}
        if self.config.sample_fraction is not None:
            return {"mode": "fraction", "requested": self.config.sample_fraction, "seed": self.config.seed,
                    "population": rows, "sampled": sampled}
        return {"mode": "all", "population": rows, "sampled": sampled}


def scan(config: ScanConfig, detectors: Sequence[Detector] | None = None,
         progress: ProgressSink | None = None) -> dict[str, Any]:
    """Run a scan and return the audit (also written to `<out>/audit.json`)."""
    return Scan(config, detectors, progress).run()
