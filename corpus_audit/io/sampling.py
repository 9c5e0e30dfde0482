"""A uniform, reproducible sample of a corpus's documents, optionally only those dated before a day.

Each non-empty text gets a priority, the seeded xxhash of its bytes; the sample is the `k`
lowest priorities (bottom-k), so the same corpus and seed give the same sample in one
streaming pass whatever the shard order. Dates are parsed from the `date_column` values
(ISO dates and timestamps, or Unix time: `parse_dates`); a value that is no date is not
used, and counted.
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


_UNIX_TIME = {9: "s", 10: "s", 12: "ms", 13: "ms"}  # digits before any decimal point -> unit (1973 to 2286)


def parse_dates(values: list[str | None]) -> pd.Series:
    """UTC timestamps of date values (NaT where there is none): ISO 8601 (`2019-03-01`,
    `20190301`, `2019-03-01T10:00:00+02:00`), or Unix time as forum dumps store it
    (`created_utc`: 1551434400 seconds, or 1551434400000 milliseconds), told apart by their
    number of digits. Other forms (`03/01/2019`, `yesterday`) are ambiguous or no date."""
    series = pd.Series(values, dtype=object)
    stamps = pd.to_datetime(series, errors="coerce", utc=True, format="ISO8601")
    digits = series.str.extract(r"^\s*(\d+)(?:\.\d*)?\s*$", expand=False).str.len()
    for width, unit in _UNIX_TIME.items():
        unix = stamps.isna() & (digits == width)
        if unix.any():
            stamps[unix] = pd.to_datetime(pd.to_numeric(series[unix]), unit=unit, utc=True)
    return stamps


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
                stamps = parse_dates(batch.strata)
                counts["without_date"] += int(stamps.isna().sum())
                keep = [has_text and not pd.isna(stamp) and stamp < before for has_text, stamp in zip(keep, stamps)]
                counts["dated_before"] += sum(keep)
            kept += [(xxhash.xxh64_intdigest(text.encode("utf-8", "surrogatepass"), seed), text)
                     for text, take in zip(batch.texts, keep) if take]
            if len(kept) > 2 * k:
                kept = sorted(kept)[:k]
    return HashSample(sorted(kept)[:k], counts)
