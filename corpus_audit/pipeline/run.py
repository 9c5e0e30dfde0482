"""The scan: read -> detect per batch (in parallel) -> write documents/ -> merge -> audit.json.

An engine (local processes, or a Dask cluster) scans the shards into `documents/` parts
and per-shard partials; this module merges the partials in shard order, estimates,
projects, has the engine join near-duplicates, and writes the audit and reports. Every
output is the same whatever the engine and the number of workers.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import threadpoolctl

from corpus_audit import __version__
from corpus_audit.collapse.projection import Plan, Spectrum, project
from corpus_audit.config import ScanConfig
from corpus_audit.dedup.ids import duplicate_ids
from corpus_audit.dedup.near_duplicates import (
    NearDuplicateJoin,
    part_labels,
    selected_rows,
    summarize_clusters,
)
from corpus_audit.errors import AuditError, SourceError
from corpus_audit.estimate.composition import composition
from corpus_audit.estimate.estimation import ROUNDS, occurrence_interval
from corpus_audit.estimate.honest import Choice, honest_estimate
from corpus_audit.estimate.quantify import ScoreSet
from corpus_audit.io import atomic
from corpus_audit.io.out_dir import JOIN_WORK, check_location
from corpus_audit.io.readers import (
    ColumnSpec,
    Shard,
    ShardReader,
    group_shards,
)
from corpus_audit.io.run_state import RunState, ShardResult
from corpus_audit.io.sources import Source, resolve_sources
from corpus_audit.model import store as model_store
from corpus_audit.model.store import StoredModel
from corpus_audit.pipeline.against import score_against
from corpus_audit.pipeline.assemble import ShardMerge, audit_warnings, input_section, sampled_share
from corpus_audit.pipeline.calibration import (
    Adaptation,
    adapt_to_references,
    choose_calibration,
)
from corpus_audit.pipeline.references import read_references
from corpus_audit.report import gating
from corpus_audit.report.render import load_chart_library, write_reports
from corpus_audit.scan.engines import Engine, LocalEngine
from corpus_audit.scan.progress import ProgressSink, Silent
from corpus_audit.scan.sampling import Sampler, choose_exact
from corpus_audit.scan.shard_scan import (
    ShardScanner,
    check_strata,
    check_strata_early,
    first_id_column,
)
from detectors import Bundle, Detector, MinHashDetector, default_detectors
from detectors.classifier import ClassifierDetector
from detectors.occurrence import WordOccurrenceDetector

CHART_BINS = 50  # p_synthetic histograms kept in audit.json for the report's chart


class Scan:
    """One run of `corpus-audit scan` over its inputs, with its detectors."""

    def __init__(self, config: ScanConfig, detectors: Sequence[Detector] | None = None,
                 progress: ProgressSink | None = None, sources: list[Source] | None = None) -> None:
        self.config = config
        self.sources = sources  # already resolved (an in-memory corpus); else from config.inputs
        self.model: StoredModel | None = None
        self.references = read_references(config, sources)
        self.adaptation: Adaptation | None = None
        if detectors is None:
            self.model = model_store.load(None if config.model is None else Path(config.model))
            if self.references is not None:
                with threadpoolctl.threadpool_limits(1):  # as in run()
                    self.adaptation = adapt_to_references(self.model, self.references, config.seed)
            adapter = None if self.adaptation is None else self.adaptation.adapter
            detectors = [*default_detectors(config.near_dup_threshold), ClassifierDetector(self.model.model, adapter)]
            if self.references is not None and self.references.synthetic is not None:
                detectors.append(WordOccurrenceDetector.fit(self.references.human, self.references.synthetic,
                                                            seed=config.seed))
        self.detectors = list(detectors)
        self.minhash = next((d for d in self.detectors if isinstance(d, MinHashDetector)), None)
        self.progress = progress or Silent()
        self.columns = ColumnSpec(config.text_column, config.id_column, config.by)
        self.state = RunState(config.out)
        self.skipped_sources: list[dict[str, str]] = []
        self.results: dict[int, ShardResult] = {}
        self.reference: list[Shard] = []
        self.merged: dict[str, Bundle] = {}
        self.strata_values: set[str] = set()
        self.sampled = 1.0  # the share of the corpus the scan reads (`sampled_share`)

    def run(self) -> dict[str, Any]:
        """Scan, join, estimate and report; returns the audit. Its numerical work is on small
        matrices, where BLAS threads only contend with the workers (and, loaded, cost 2.5x)."""
        with threadpoolctl.threadpool_limits(1):
            return self._run()

    def _run(self) -> dict[str, Any]:
        started = time.perf_counter()
        paths = self.config.inputs if self.sources is None else ()
        check_location(self.config.out, [*paths, *self.config.other_reads()])
        shards = group_shards(self.sources or resolve_sources(list(self.config.inputs), self.config.format))
        self.reference = group_shards(resolve_sources([self.config.against])) if self.config.against else []
        check_strata_early((self._reader(shard) for shard in shards), self.config.by)
        id_column = first_id_column(self._reader(shard) for shard in shards)
        self.state.lock(self.config.resume, self.config.overwrite)
        try:
            sampler, population = self._sampler(shards)
            self.sampled = sampled_share(self.config, population)
            manifest = {"tool_version": __version__, "options": self._options(),
                        "shards": [s.fingerprint() for s in shards]}
            self.results = self.state.start(manifest, self.config.resume)
            self.strata_values = {value for result in self.results.values() for value in result.strata}
            for detector in self.detectors:
                if detector.arrays:
                    self.state.dir.subdir("join", detector.name)
            resumed = len(self.results)
            self.progress.start(len(shards))
            for _ in range(resumed):
                self.progress.shard_done()
            skipped_now = {s["index"] for s in self.skipped_sources}
            todo = [s for s in shards if s.index not in self.results and s.index not in skipped_now]
            self.merge = ShardMerge(self.detectors, [s.index for s in shards])
            for result in self.results.values():
                self.merge.add(result)
            for index in skipped_now - set(self.results):
                self.merge.skip(index)
            with self._engine() as engine:
                engine.scan(self._scanner(sampler), todo, self)
                scanned = time.perf_counter()
                self.progress.phase("merging shard totals")
                audit = self._assemble(shards, population, resumed)
                audit["input"]["ids"] = {"column": id_column, "chosen_by": "--id-column" if self.config.id_column else
                                         "found" if id_column else "none: SOURCE:ROW"}
                self._conclude(audit, shards, engine)
            audit["warnings"] = audit_warnings(audit)
            finished = time.perf_counter()
            audit["timing"] = {"engine": self.config.engine, "workers": self.config.workers,
                               "scheduler": self.config.scheduler,
                               "seconds": round(finished - started, 3), "scan_seconds": round(scanned - started, 3),
                               "after_scan_seconds": round(finished - scanned, 3),
                               "documents_per_second": round(audit["input"]["scanned"] / (finished - started), 1)}
            if self.config.fail_on:
                audit["gate"] = gating.evaluate([gating.parse_rule(r) for r in self.config.fail_on], audit)
            self.progress.phase("writing reports")
            atomic.write_json(self.config.out / "audit.json", audit)
            write_reports(audit, self.config.out / "report.html", self.config.out / "report.md")
            return audit
        finally:
            self.state.unlock()

    def _conclude(self, audit: dict[str, Any], shards: list[Shard], engine: Engine) -> None:
        """The estimate, then the projection, in a thread, beside the near-duplicate join in this
        one: each is a pure function of the scan, and both mostly wait for the engine's workers.
        The sections join the audit in a fixed order, so the output does not depend on timing."""
        scored = self.merged["classifier"].parts["p_synthetic"].count if "classifier" in self.merged else 0
        estimating = self.model is not None and scored > 0  # documents with text were scored
        with ThreadPoolExecutor(1, thread_name_prefix="corpus-audit-estimate") as background:
            try:
                estimated = background.submit(self._estimate, engine) if estimating else None
                projected = (background.submit(self._project, estimated, audit["spectrum"], engine)
                             if estimated is not None and (audit.get("spectrum") or {}).get("tokens") else None)
                if self.minhash is not None:
                    self.progress.phase("joining near-duplicates")
                    near_duplicates = self._near_duplicates(self.minhash, shards, engine)
                if audit["input"]["ids"]["column"]:  # here, while the estimate and projection run
                    with self._scratch() as work:
                        audit["input"]["ids"] |= duplicate_ids(self.state.documents, self._parts(), work)
                if estimated is not None:
                    self.progress.phase("estimating the synthetic fraction")
                    audit.update(estimated.result())
                    if self.minhash is not None:
                        composition(audit["synthetic_fraction"], self.state.documents, self._parts(), self.choice,
                                    self.config.seed, self.merged["classifier"].parts["p_synthetic"].counts,
                                    self.sampled)
                if projected is not None:
                    self.progress.phase("projecting collapse risk")
                    load_chart_library()  # while the projection runs on the workers
                    audit["collapse_projection"] = projected.result()
            except BaseException:
                background.shutdown(cancel_futures=True)  # the projection, if it has not started
                raise
        if self.minhash is not None:
            audit["near_duplicates"] = near_duplicates

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
        return ShardReader.for_scan(shard, self.columns, self.config.batch_size, self.config.max_doc_chars)

    def _source_failed(self, shard: Shard, err: SourceError) -> None:
        if self.config.on_error == "fail":
            raise err
        self.skipped_sources.append({"index": shard.index, "source": err.source, "error": err.reason})
        self.progress.shard_done()

    def _engine(self) -> Engine:
        if self.config.engine == "local":
            return LocalEngine(self.detectors, self.config.workers)
        try:
            from corpus_audit.scan.dask_engine import DaskEngine
        except ImportError as err:
            raise AuditError(f"--engine dask needs Dask ({err.name} is not installed): pip install 'corpus-audit[dask]'") from None
        return DaskEngine(self.config.scheduler, self.config.workers, self.config.out)

    def _scanner(self, sampler: Sampler) -> ShardScanner:
        joined = ("near_dup_cluster", *(("matches_reference",) if self.config.against else ())) if any(
            isinstance(d, MinHashDetector) for d in self.detectors) else ()
        return ShardScanner(self.detectors, self.columns, sampler, self.config.out.resolve(), self.config.batch_size,
                            self.config.max_doc_chars, joined)

    # The engine's ShardSink: progress, and each finished shard's state (for --resume).
    def advance(self, documents: int) -> None:
        self.progress.advance(documents)

    def shard_done(self, result: ShardResult) -> None:
        self.state.finish_shard(result)
        self.results[result.index] = result
        if self.config.by is not None:  # refused as soon as the shards so far hold too many values
            self.strata_values.update(result.strata)
            check_strata(len(self.strata_values), self.config.by)
        self.merge.add(result)
        self.progress.shard_done()

    def shard_failed(self, shard: Shard, err: SourceError) -> None:
        self._source_failed(shard, err)
        self.merge.skip(shard.index)

    def _strata(self, choice: Choice, engine: Engine) -> list[dict[str, Any]]:
        """The estimate per --by value (independent bootstraps: run by the engine's workers)."""
        merged = self.merge.done().strata
        check_strata(len(merged), self.config.by)
        ordered = sorted(merged.items(), key=lambda kv: (-kv[1].count, kv[0]))
        results = engine.map(partial(honest_estimate, choice=choice, seed=self.config.seed, sampled=self.sampled),
                             [ScoreSet.from_histogram(histogram.counts) for _, histogram in ordered])
        return [{"value": value, "documents": histogram.count, **{k: result[k] for k in ("estimate", "ci_low", "ci_high", "state")},
                 "warnings": result["warnings"]} for (value, histogram), result in zip(ordered, results)]

    def _estimate(self, engine: Engine) -> dict[str, Any]:
        """The synthetic_fraction section (with human_before and strata when they apply)."""
        sections: dict[str, Any] = {}
        classifier = self.merged["classifier"]
        scores = ScoreSet.from_histogram(classifier.parts["p_synthetic"].counts)
        general = classifier.parts.get("general_sample")  # with an adapter: the general p_synthetic of the sampled rows
        choice = choose_calibration(self.model, scores, classifier.parts["feature_sample"].rows, self.references,
                                    self.config.seed, self.adaptation, engine.map,
                                    None if general is None else general.rows[:, 0])
        if choice.calibration.redraw is not None:  # an adapted calibration's refits, shared by the workers
            choice.calibration.redraw.prepare(ROUNDS, engine.map)
        if self.references is not None and self.references.dated:
            sections["human_before"] = self.references.dated
        self.choice, calibration = choice, choice.calibration
        independent = None
        if "occurrence" in self.merged:
            independent = {"occurrence_mle": occurrence_interval(self.merged["occurrence"], seed=self.config.seed)}
        fraction = sections["synthetic_fraction"] = honest_estimate(scores, choice, seed=self.config.seed,
                                                                    independent=independent, sampled=self.sampled)
        if self.adaptation is not None:
            fraction["adaptation"] = self.adaptation.record
        fraction["score_histograms"] = {
            "bins": CHART_BINS, **{name: np.histogram(s.values, CHART_BINS, (0.0, 1.0), weights=s.weights)[0].tolist()
                                   for name, s in (("corpus", scores), ("human", calibration.human),
                                                   ("synthetic", calibration.synthetic))}}
        if self.config.by is not None:
            sections["strata"] = self._strata(choice, engine)
        return sections

    def _project(self, estimated: Future[dict[str, Any]], spectrum_section: dict[str, Any],
                 engine: Engine) -> dict[str, Any]:
        """The collapse projection on this corpus's spectrum, with its estimated synthetic fraction."""
        fraction = estimated.result()["synthetic_fraction"]
        spectrum = Spectrum.from_counts_of_counts(spectrum_section["counts_of_counts"], "this corpus")
        plan = Plan(alpha=fraction["estimate"], alpha_low=min(fraction["ci_low"], fraction["estimate"]),
                    alpha_high=max(fraction["ci_high"], fraction["estimate"]), regime=self.config.regime,
                    generations=self.config.generations, seed=self.config.seed)
        return project(spectrum, plan, engine.map)

    @contextmanager
    def _scratch(self) -> Iterator[Path]:
        """join/tmp (a real directory of --out, as `subdir` checks), removed with its files after use."""
        work = self.state.dir.subdir("join", JOIN_WORK)
        try:
            yield work
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def _parts(self) -> list[str]:
        """Every documents part of the finished shards, in corpus order."""
        return [p for i in sorted(self.results) for p in sorted(self.results[i].parts)]

    def _near_duplicates(self, detector: MinHashDetector, shards: list[Shard], engine: Engine) -> dict[str, Any]:
        parts = self._parts()
        with self._scratch() as work:
            reference_parts, reference_ids = score_against(self.reference, detector, work, self.config)
            clusters = engine.join(NearDuplicateJoin(detector.threshold),
                                   [self.state.join_file(detector.name, p) for p in parts], work, reference_parts)
        summary = summarize_clusters(self.state.documents, parts, clusters)
        engine.label(part_labels(self.state.documents, parts, clusters, summary.representatives,
                                 reference_ids if self.config.against else None))
        scanned = clusters.documents
        duplicates = int((clusters.sizes - 1).sum())
        excerpts = self._excerpts([first for *_, first in summary.largest], shards)
        section: dict[str, Any] = {
            **detector.config(),
            "clusters": len(summary.representatives),
            "documents_in_clusters": len(clusters.members),
            "duplicate_documents": duplicates,
            "duplicate_fraction": duplicates / scanned if scanned else 0.0,
            "candidate_pairs": clusters.candidate_pairs,
            "verified_pairs": clusters.verified_pairs,
            "exact_jaccard_checks": clusters.exact_checks,
            "largest": [{"cluster": rep, "size": int(clusters.sizes[label]), "members": members, "excerpt": excerpt}
                        for (label, rep, members, _), excerpt in zip(summary.largest, excerpts)],
        }
        if self.config.against:
            matched = clusters.matched
            examples = [doc_id for ids, _ in selected_rows(self.state.documents, parts, matched[:10], ["doc_id"])
                        for doc_id in ids["doc_id"]]
            section["against"] = {
                "path": self.config.against, "reference_documents": len(reference_ids),
                "matched_documents": len(matched), "matched_fraction": len(matched) / scanned if scanned else 0.0,
                "examples": [{"doc_id": doc_id, "reference_id": reference_ids[reference]}
                             for reference, doc_id in zip(clusters.matched_reference[:10].tolist(), examples)],
            }
        return section

    def _excerpts(self, places: list[tuple[str, int]], shards: list[Shard], chars: int = 200) -> list[str]:
        """The opening characters of the documents at these (source, row) places."""
        wanted = set(places)
        found: dict[tuple[str, int], str] = {}
        names = {source for source, _ in wanted}
        for shard in shards:
            if not names & {s.name for s in shard.sources}:
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
        audit: dict[str, Any] = {
            "schema_version": 1,
            "tool": {"name": "corpus-audit", "version": __version__},
            "config": {**self.config.as_dict(), "detectors": self._options()["detectors"]},
            "model": None if self.model is None else model_store.describe(self.model),
            "input": input_section(self.config, done, len(shards), self.skipped_sources, population, resumed),
        }
        self.merged = self.merge.done().partials
        for detector in self.detectors:
            if detector.name in self.merged:
                audit[detector.name] = detector.summarize(self.merged[detector.name])
        return audit


def scan(config: ScanConfig, detectors: Sequence[Detector] | None = None,
         progress: ProgressSink | None = None) -> dict[str, Any]:
    """Run a scan and return the audit (also written to `<out>/audit.json`)."""
    return Scan(config, detectors, progress).run()
