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


def test_unix_time_in_seconds_or_milliseconds_is_a_date_and_ambiguous_forms_are_not(tmp_path):
    # 1669766400 is 2022-11-30T00:00:00Z (worked out: 19,326 days of 86,400 s after 1970-01-01)
    write(tmp_path / "u.parquet", {"text": ["a", "b", "c", "d", "e", "f", "g"],
                                   "created_utc": ["1669766399", "1669766400", "1669766399999", "1669766400000",
                                                   "20221129", "11/29/2022", "1669766399.5"]})
    sample = hash_sample(resolve_sources([str(tmp_path / "u.parquet")]), "text", 10, date_column="created_utc",
                         before=pd.Timestamp("2022-11-30", tz="UTC"))
    assert sorted(text for _, text in sample.chosen) == ["a", "c", "e", "g"]
    assert sample.counts == {"documents": 7, "dated_before": 4, "without_date": 1}
    numbers = tmp_path / "n.parquet"  # an integer column, as Reddit and Hacker News dumps store it
    write(numbers, {"text": ["old", "new"], "created_utc": [1551434400, 1700000000]})
    assert [t for _, t in hash_sample(resolve_sources([str(numbers)]), "text", 10, date_column="created_utc",
                                      before=pd.Timestamp("2022-11-30", tz="UTC")).chosen] == ["old"]
