"""One shard's batches turned into `documents/` parts, join arrays and the shard's partials.

Both engines use this: the local engine pipelines batches of many shards through a
process pool, or, when the shards split evenly over its workers, runs `scan_shard` for one
whole shard in a worker, as the Dask engine always does on its workers. Part
names depend only on (shard, batch), and every file is written atomically, so a shard
scanned twice (a retried task) writes the same files again and nothing twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from corpus_audit.errors import AuditError, SourceError
from corpus_audit.io import atomic
from corpus_audit.io.readers import (
    ColumnSpec,
    DocumentBatch,
    Shard,
    ShardReader,
    record_limit,
)
from corpus_audit.io.run_state import ShardResult, join_file
from corpus_audit.scan.batch import ScoredBatch, score_part
from corpus_audit.scan.sampling import Sampler
from detectors import Bundle, Detector, Histogram
from detectors.classifier import SCORE_BINS

MAX_STRATA = 1000
STRATA_CHECK_ROWS = 20_000  # rows read before the scan to refuse a --by column with too many values


@dataclass
class ShardWork:
    """A shard being scanned: its result so far and how many of its batches are still out."""

    result: ShardResult
    partials: dict[str, Bundle] = field(default_factory=dict)
    strata: dict[str, Histogram] = field(default_factory=dict)
    outstanding: int = 0
    read_all: bool = False

    @property
    def complete(self) -> bool:
        return self.read_all and self.outstanding == 0

    def close(self) -> ShardResult:
        """The finished shard's result, with its partials as JSON-able states."""
        self.result.partials = {k: v.to_state() for k, v in self.partials.items()}
        self.result.strata = {k: v.to_state() for k, v in self.strata.items()}
        return self.result


@dataclass
class PreparedBatch:
    """A batch after sampling, dropping non-texts and truncation: what gets scored and stored."""

    work: ShardWork
    index: int
    batch: DocumentBatch
    truncated: np.ndarray
    texts: list[str]

    @property
    def part(self) -> str:
        """The name of the documents part (and join files) this batch becomes."""
        return f"part-{self.work.result.index:05d}-{self.index:05d}.parquet"


def shard_key(shard: Shard) -> int:
    """A number that names the shard by its first source, for seeded per-shard choices."""
    return int(hashlib.sha256(shard.sources[0].name.encode()).hexdigest()[:15], 16)


def check_strata(count: int, by: str | None) -> None:
    if count > MAX_STRATA:
        raise AuditError(f"--by {by}: more than {MAX_STRATA:,} distinct values; "
                         "choose a column with fewer (a source, a domain, a year)")


def check_strata_early(readers: Iterable[ShardReader], by: str | None) -> None:
    """Refuse a --by column with too many values from the corpus's first rows, before the scan."""
    if by is None:
        return
    values: set[str | None] = set()
    seen = 0
    try:
        for reader in readers:
            for batch in reader.batches():
                values.update(batch.strata or ())
                check_strata(len(values), by)
                seen += len(batch)
                if seen >= STRATA_CHECK_ROWS:
                    return
    except SourceError:
        return  # an unreadable shard is the scan's to report (or skip), in its place


def first_id_column(readers: Iterable[ShardReader]) -> str | None:
    """The id column of the first shard that yields a batch: `--id-column`, or the one found
    among ID_COLUMNS (said in the audit, so the user knows where ids came from)."""
    for reader in readers:
        try:
            with closing(reader.batches()) as batches:
                batch = next(batches, None)
        except SourceError:
            continue
        if batch is not None:
            return batch.id_column
    return None


@dataclass
class ShardScanner:
    """Everything a process needs to scan shards into `out` (picklable, shipped to workers)."""

    detectors: list[Detector]
    columns: ColumnSpec
    sampler: Sampler
    out: Path
    batch_size: int
    max_doc_chars: int
    join_columns: tuple[str, ...] = ()  # filled by the join later; written null now, so parts it leaves alone stay as written

    def reader(self, shard: Shard) -> ShardReader:
        return ShardReader.for_scan(shard, self.columns, self.batch_size, self.max_doc_chars)

    def start(self, shard: Shard) -> ShardWork:
        return ShardWork(ShardResult(shard.index, shard.fingerprint(), bytes=sum(s.size or 0 for s in shard.sources)))

    def batches(self, shard: Shard, work: ShardWork) -> Iterator[PreparedBatch]:
        """The shard's batches, prepared for scoring (batches left empty are counted, not yielded)."""
        position = 0
        key = shard_key(shard)
        for index, batch in enumerate(self.reader(shard).batches()):
            positions = np.arange(position, position + len(batch))
            position += len(batch)
            prepared = self.prepare(work, index, batch, self.sampler.keep(key, shard.index, positions))
            if prepared is not None:
                yield prepared
        work.read_all = True

    def prepare(self, work: ShardWork, index: int, batch: DocumentBatch, keep: np.ndarray) -> PreparedBatch | None:
        result = work.result
        result.rows += len(batch)
        batch = batch.select(keep)
        result.invalid_utf8 += int(batch.repaired.sum())
        missing = np.fromiter((t is None for t in batch.texts), bool, len(batch))
        result.skip("text is not a string", int(batch.not_string.sum()))
        result.skip(f"record over {record_limit(self.max_doc_chars):,} bytes (not read)", int(batch.oversized.sum()))
        result.skip("null text", int((missing & ~batch.not_string & ~batch.oversized).sum()))
        batch = batch.select(~missing)
        if len(batch) == 0:
            return None
        limit = self.max_doc_chars
        truncated = np.fromiter((len(t) > limit for t in batch.texts), bool, len(batch))
        texts = [t[:limit] for t in batch.texts] if truncated.any() else batch.texts
        result.truncated += int(truncated.sum())
        result.empty += sum(1 for t in texts if not t.strip())
        work.outstanding += 1
        return PreparedBatch(work, index, batch, truncated, texts)

    def store(self, item: PreparedBatch, scored: ScoredBatch) -> None:
        """Write the batch's part (its join arrays were written where it was scored, by
        `score_part`), and merge its partials into the shard's."""
        work, batch, name = item.work, item.batch, item.part
        atomic.write_parquet(self.out / "documents" / name, self._table(batch, item.truncated, scored))
        work.result.parts.append(name)
        work.result.scanned += len(batch)
        for detector_name, partial in scored.partials.items():
            previous = work.partials.get(detector_name)
            work.partials[detector_name] = partial if previous is None else previous.merge(partial)
        if batch.strata is not None and "p_synthetic" in scored.columns:
            self._add_strata(work.strata, batch.strata, scored.columns["p_synthetic"])
        work.outstanding -= 1

    def scan_shard(self, shard: Shard, advance: Callable[[int], None] = lambda _: None) -> ShardResult:
        """Scan one whole shard in this process, calling `advance` with the documents of each batch
        stored; a shard that cannot be read leaves no parts."""
        work = self.start(shard)
        try:
            for item in self.batches(shard, work):
                self.store(item, score_part(self.detectors, item.texts, self.out, item.part))
                advance(len(item.batch))
        except SourceError:
            self.discard(work.result.parts)
            raise
        return work.close()

    def discard(self, parts: Sequence[str]) -> None:
        """Remove the parts (and their join arrays) of a shard that failed."""
        for name in parts:
            (self.out / "documents" / name).unlink(missing_ok=True)
            for detector in self.detectors:
                join_file(self.out, detector.name, name).unlink(missing_ok=True)

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
                data[column.name] = pa.array(scored.columns[column.name], column.type, from_pandas=True)  # NaN: null
        for name in self.join_columns:
            data[name] = pa.nulls(len(batch), pa.string())
        return pa.table(data)

    def _add_strata(self, strata: dict[str, Histogram], values: list[str | None], scores: np.ndarray) -> None:
        """Add a batch's scores to the histogram of each --by value."""
        labels = np.asarray(["(null)" if v is None else v for v in values], dtype=object)
        known = ~np.isnan(scores)
        for value in sorted(set(labels.tolist())):
            strata.setdefault(value, Histogram(0.0, 1.0, SCORE_BINS)).add(scores[(labels == value) & known])
        check_strata(len(strata), self.columns.by)
