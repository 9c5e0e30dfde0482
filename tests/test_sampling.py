"""The bottom-k hash sample behind `--human-before` and `corpus-audit references`."""

from __future__ import annotations

import pandas as pd
import xxhash

from corpus_audit.io.sampling import hash_sample
from corpus_audit.io.sources import resolve_sources


def write(path, rows):
    pd.DataFrame(rows).to_parquet(path)


def test_the_sample_is_the_k_lowest_seeded_hashes_whatever_the_shard_order(tmp_path):
    texts = [f"document number {i} of the sample" for i in range(300)]
    write(tmp_path / "a.parquet", {"text": texts[:170] + ["", "   "]})
    write(tmp_path / "b.parquet", {"text": texts[170:]})
    expected = sorted((xxhash.xxh64_intdigest(t.encode(), 7), t) for t in texts)[:40]  # brute force over every text
    forward = hash_sample(resolve_sources([str(tmp_path / "a.parquet"), str(tmp_path / "b.parquet")]), "text", 40,
                          seed=7, batch_size=16)
    backward = hash_sample(resolve_sources([str(tmp_path / "b.parquet"), str(tmp_path / "a.parquet")]), "text", 40,
                           seed=7, batch_size=16)
    assert forward.chosen == expected == backward.chosen
    assert forward.counts == {"documents": 302}


def test_a_dated_sample_keeps_only_texts_dated_before_and_counts_the_undated(tmp_path):
    write(tmp_path / "d.parquet", {"text": ["old one", "new one", "no date", "old two", ""],
                                   "date": ["2019-05-01", "2023-02-01", "someday", "2022-11-29T23:59:00Z", "2010-01-01"]})
    sample = hash_sample(resolve_sources([str(tmp_path / "d.parquet")]), "text", 10, date_column="date",
                         before=pd.Timestamp("2022-11-30", tz="UTC"))
    assert sorted(text for _, text in sample.chosen) == ["old one", "old two"]
    assert sample.counts == {"documents": 5, "dated_before": 2, "without_date": 1}
