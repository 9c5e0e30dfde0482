"""A uniform, reproducible sample of a corpus's documents, optionally only those dated before a day.

Each non-empty text gets a priority, the seeded xxhash of its bytes; the sample is the `k`
lowest priorities (bottom-k), so the same corpus and seed give the same sample in one
streaming pass whatever the shard order. Dates are parsed from the `date_column` values
(ISO dates and timestamps); a value that is no date is not used, and counted.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
import xxhash

from corpus_audit.io.readers import ColumnSpec, ShardReader, group_shards
from corpus_audit.io.sources import Source


@dataclass
class HashSample:
    """The sampled (priority, text) pairs in priority order, and counts of what was read."""

    chosen: list[tuple[int, str]]
    counts: dict[str, int] = field(default_factory=dict)  # documents, dated_before, without_date (when dated)


def hash_sample(sources: list[Source], text_column: str | None, k: int, *, seed: int = 0,
                date_column: str | None = None, before: pd.Timestamp | None = None,
                batch_size: int = 1000, max_doc_chars: int = 1_000_000) -> HashSample:
    """The bottom-k sample by seeded hash of the texts (dated before `before` in `date_column` when given)."""
    dated = before is not None
    columns = ColumnSpec(text=text_column, by=date_column if dated else None)
    kept: list[tuple[int, str]] = []
    counts = {"documents": 0, "dated_before": 0, "without_date": 0} if dated else {"documents": 0}
    for shard in group_shards(sources):
        for batch in ShardReader.for_scan(shard, columns, batch_size, max_doc_chars).batches():
            counts["documents"] += len(batch)
            keep = [bool(text and text.strip()) for text in batch.texts]
            if dated:
                stamps = pd.to_datetime(pd.Series(batch.strata, dtype=object), errors="coerce", utc=True, format="ISO8601")
                counts["without_date"] += int(stamps.isna().sum())
                keep = [has_text and not pd.isna(stamp) and stamp < before for has_text, stamp in zip(keep, stamps)]
                counts["dated_before"] += sum(keep)
            kept += [(xxhash.xxh64_intdigest(text.encode("utf-8", "surrogatepass"), seed), text)
                     for text, take in zip(batch.texts, keep) if take]
            if len(kept) > 2 * k:
                kept = sorted(kept)[:k]
    return HashSample(sorted(kept)[:k], counts)
