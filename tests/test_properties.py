"""Property tests: arbitrary Unicode, empty and huge inputs never break a reader or a detector."""

from __future__ import annotations

import csv
import json
import math
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from corpus_audit.io.readers import ColumnSpec, ShardReader, group_shards, repair_text
from corpus_audit.io.sources import resolve_sources
from corpus_audit.model import store as model_store
from detectors import (
    Bundle,
    LengthDetector,
    MinHashDetector,
    RepetitionDetector,
    WordSpectrumDetector,
)
from detectors.classifier import PUNCTUATION, ClassifierDetector, byte_features
from detectors.layout import normalize_layout, normalized_utf8
from detectors.occurrence import WordOccurrenceDetector
from detectors.partials import TypeCounts
from detectors.prepared import PreparedTexts
from detectors.repetition import TOP_NS
from detectors.segments import document_sums, segment_order, segment_runs, sort_segments
from detectors.text_arrays import utf8
from detectors.tokens import hash_words, normalize, word_hash
from tests.conftest import make_texts

# Every code point, lone surrogates and control characters included, and runs of one
# character (long "words", long lines, long whitespace).
ANY_CHARACTER = st.one_of(st.characters(), st.characters(categories=["Cs"]))
ANY_TEXT = st.one_of(
    st.text(ANY_CHARACTER, max_size=300),
    st.builds(lambda c, n: c * n, ANY_CHARACTER, st.integers(0, 20_000)),
    st.lists(st.sampled_from(["word", "\n", "\n\n", " ", "\x00", "\u202e", "\u200b", "\ud800", "<b>", "\x1b[2J", "é"]),
             max_size=200).map("".join),
)
STORABLE_TEXT = st.text(st.characters(codec="utf-8"), max_size=300)  # what Parquet and UTF-8 CSV can hold
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def read_back(path: Path) -> list[str | None]:
    shard = group_shards(resolve_sources([str(path)]))[0]
    return [t for batch in ShardReader(shard, ColumnSpec(), batch_size=7).batches() for t in batch.texts]


@SETTINGS
@given(texts=st.lists(ANY_TEXT, max_size=20))
def test_jsonl_reader_gives_back_every_text(tmp_path, texts):
    path = tmp_path / "c.jsonl"
    path.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts), encoding="utf-8")
    assert read_back(path) == [repair_text(t)[0] for t in texts]


@SETTINGS
@given(texts=st.lists(STORABLE_TEXT, max_size=20))
def test_csv_and_parquet_readers_give_back_every_text(tmp_path, texts):
    parquet = tmp_path / "c.parquet"
    pq.write_table(pa.table({"text": pa.array(texts, pa.string())}), parquet)
    table = tmp_path / "c.csv"
    with open(table, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text"])
        writer.writerows([t] for t in texts)
    assert read_back(parquet) == texts
    assert read_back(table) == texts


@SETTINGS
@given(data=st.binary(max_size=2000))
def test_arbitrary_bytes_are_a_clear_error_or_documents(tmp_path, data):
    from corpus_audit.errors import SourceError

    for name in ("c.jsonl", "c.csv", "c.parquet", "c.txt"):
        path = tmp_path / name
        path.write_bytes(data)
        try:
            texts = read_back(path)
        except SourceError as err:
            assert name in str(err) and "\n" not in str(err)
        else:
            assert all(t is None or isinstance(t, str) for t in texts)


def _detectors() -> list:
    human, synthetic = make_texts(40), [f"as an assistant I note that item {i} is notable" for i in range(40)]
    return [LengthDetector(), RepetitionDetector(), MinHashDetector(), WordSpectrumDetector(),
            ClassifierDetector(model_store.load(None).model), WordOccurrenceDetector.fit(human, synthetic, min_documents=2)]


DETECTORS = _detectors()
# A top n-gram's occurrences may overlap ('0000 0000 0000': 2 x 8 / 12 chars), but each word
# lies in at most n of them, so its char fraction is at most n (the README says it can pass 1).
RATIOS = {"compression_ratio": (0.0, math.inf), "p_synthetic": (0.0, 1.0),
          **{f"top_{n}gram_char_frac": (0.0, float(n)) for n in TOP_NS}}


@pytest.mark.parametrize("detector", DETECTORS, ids=lambda d: d.name)
@settings(max_examples=40, deadline=None)
@given(texts=st.lists(ANY_TEXT, max_size=8))
def test_every_detector_scores_any_text_in_range(detector, texts):
    texts = [repair_text(t)[0] for t in texts]  # what the readers hand on
    scores = detector.score(texts)
    detector.validate_scores(texts, scores)
    for column in detector.columns:
        values = np.asarray(scores[column.name])
        assert len(values) == len(texts)
        if column.name == "p_synthetic":  # no evidence, no score: NaN (null in documents/) exactly for blank texts
            assert np.array_equal(np.isnan(values), [not t.strip() for t in texts])
            values = values[~np.isnan(values)]
        if values.dtype.kind == "f":
            low, high = RATIOS.get(column.name, (0.0, 1.0) if column.name.endswith(("_frac", "_ratio", "mattr")) else (-math.inf, math.inf))
            assert np.isfinite(values).all() and (values >= low).all() and (values <= high).all(), column.name
        elif values.dtype.kind == "i":
            assert (values >= 0).all(), column.name
    partial = detector.partial(texts, scores)
    if partial is not None:
        merged = Bundle.from_state(json.loads(json.dumps(partial.to_state()))).merge(partial)
        json.dumps(detector.summarize(merged), allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(texts=st.lists(st.one_of(ANY_TEXT, st.text(st.sampled_from("\u03a3\u03c3\u0130Aa'-_ .\n\u3000\ud800"), max_size=30)),
                      max_size=8))
def test_batch_words_are_each_texts_normalised_words(texts):
    # hash_words folds each distinct whitespace-separated word once (lower-casing word by word:
    # Greek final sigma and the dotted capital I are in the alphabet above); the reference is
    # the definition, fold(text).split(), text by text.
    words = hash_words(texts)
    expected = [normalize(t) for t in texts]
    assert words.counts.tolist() == [len(w) for w in expected]
    assert words.hashes.tolist() == [word_hash(w) for ws in expected for w in ws]
    assert words.lengths.tolist() == [len(w) for ws in expected for w in ws]
    assert np.array_equal(words.distinct[words.index], words.hashes)


@settings(max_examples=200, deadline=None)
@given(texts=st.lists(ANY_TEXT, max_size=8))
def test_layout_normalisation_keeps_the_words_so_the_classifier_may_share_the_batch_hashes(texts):
    # The classifier hashes the raw batch's words (shared with MinHash's split and the
    # spectrum) instead of the layout-normalised texts': that is right only if these agree.
    raw, normalised = hash_words(texts), hash_words([normalize_layout(t) for t in texts])
    assert np.array_equal(raw.hashes, normalised.hashes) and np.array_equal(raw.counts, normalised.counts)
    assert np.array_equal(raw.lengths, normalised.lengths)


@settings(max_examples=40, deadline=None)
@given(texts=st.lists(ANY_TEXT, max_size=8))
def test_every_detector_scores_a_prepared_batch_as_a_plain_list(texts):
    # The products a PreparedTexts shares between detectors change nothing they output.
    shared = PreparedTexts(texts)
    for detector in DETECTORS:
        alone, together = detector.score(list(texts)), detector.score(shared)
        assert alone.keys() == together.keys()
        for name in alone:
            assert np.array_equal(np.asarray(alone[name]), np.asarray(together[name]), equal_nan=True), (detector.name, name)


LAYOUT_TEXT = st.one_of(ANY_TEXT, st.text(st.sampled_from(["a", "\u00e9", "\n", "\r", " ", "\t", "\x0b", "\x0c", "\x1c",
                                                          "\x85", "\xa0", "\u2028", "\u3000", "\ud800"]), max_size=40))


def layouts_of_each_text(texts: list[str]) -> list[bytes]:
    data, offsets = normalized_utf8(texts)
    return [bytes(data[a:b]) for a, b in zip(offsets[:-1].tolist(), offsets[1:].tolist())]


@settings(max_examples=300, deadline=None)
@given(texts=st.lists(LAYOUT_TEXT, max_size=8))
def test_layout_of_a_batch_is_that_of_each_text_alone(texts):
    # The classifier normalises a batch's layout on its bytes at once; the definition is
    # normalize_layout, text by text (whitespace runs, CR LF, lone CRs, breaks across texts).
    assert layouts_of_each_text(texts) == [normalize_layout(t).encode("utf-8", "surrogatepass") for t in texts]


def test_layout_of_a_batch_knows_every_whitespace_character():
    spaces = [chr(c) for c in range(0x110000) if chr(c).isspace()]  # what str.split() splits on
    texts = [f"a{c}b{c}" for c in spaces] + [f"a\n{c}\nb" for c in spaces] + [f"a\r{c}\rb\n" for c in spaces]
    assert layouts_of_each_text(texts) == [normalize_layout(t).encode() for t in texts]


def reference_byte_features(text: str) -> list[float]:
    """byte_features of one text, written the plain way (one text, Python bytes and regexes)."""
    data = text.encode("utf-8", "surrogatepass")
    size = max(len(data), 1)
    ends = [m.end() for m in re.finditer(rb"[.!?](?=[ \t\n\r\x0b\x0c]|\Z)", data)]
    cuts = sorted({0, len(data), *ends})
    lengths = [b - a for a, b in zip(cuts, cuts[1:])]
    mean, sd = (np.mean(lengths), np.std(lengths)) if lengths else (0.0, 0.0)
    return [*(data.count(mark.encode()) / size for mark in PUNCTUATION), mean, sd,
            sum(65 <= c <= 90 for c in data) / size, sum(48 <= c <= 57 for c in data) / size]


@settings(max_examples=100, deadline=None)
@given(texts=st.lists(ANY_TEXT, max_size=8))
def test_byte_features_of_a_batch_are_those_of_each_text_alone(texts):
    # The batch computes at the positions of the bytes it counts, across concatenated texts;
    # each text alone, the plain way, must give the same numbers.
    texts = [repair_text(t)[0] for t in texts] + ["One. Two two! “Quoted”\n\n’x? 12 AB\n"]
    expected = np.array([reference_byte_features(t) for t in texts])
    assert np.allclose(byte_features(*utf8(texts)), expected, rtol=1e-12, atol=1e-12)


@settings(max_examples=100, deadline=None)
@given(values=st.lists(st.integers(0, 2**64 - 1) | st.sampled_from([0, 7, 2**63]), max_size=60),
       cap=st.integers(1, 40), seed=st.integers(0, 2**32 - 1))
def test_type_counts_of_distinct_words_with_counts_equal_counting_every_token(values, cap, seed):
    # The spectrum adds a batch's distinct word hashes with their counts (two distinct words
    # may share a hash, so the types may repeat); that must equal adding every token.
    types = np.array(values, np.uint64)
    counts = np.random.default_rng(seed).integers(1, 5, len(types))
    tokens = np.random.default_rng(seed).permutation(np.repeat(types, counts))
    from_types = TypeCounts(cap).add(types, counts)
    assert from_types.to_state() == TypeCounts(cap).add(tokens).to_state()


@settings(max_examples=100, deadline=None)
@given(counts=st.lists(st.integers(0, 6), max_size=12), rows=st.integers(1, 3), seed=st.integers(0, 2**32 - 1))
def test_document_sums_equal_summing_each_documents_words_in_a_loop(counts, rows, seed):
    # Documents without words (first, last, in a row) must get 0 and must not shift the others.
    counts = np.array(counts, np.int64)
    per_word = np.random.default_rng(seed).integers(-5, 6, (rows, int(counts.sum()))).astype(np.float64)
    bounds = np.r_[0, np.cumsum(counts)]
    expected = [[sum(row[bounds[d]:bounds[d + 1]]) for d in range(len(counts))] for row in per_word]
    assert document_sums(per_word, counts).tolist() == expected


@settings(max_examples=150, deadline=None)
@given(counts=st.lists(st.one_of(st.integers(0, 6), st.integers(60, 300)), max_size=12),
       top=st.sampled_from([1, 7, 2**16 - 2, 2**16, 2**32 - 1]), seed=st.integers(0, 2**32 - 1))
def test_segment_sorts_equal_sorting_each_document_in_a_loop(counts, top, seed):
    # Long documents among short ones take the packed path, the others the one-row-per-document
    # matrix; values up to 2**32 - 1 need a 64-bit matrix (its padding is above every value).
    counts = np.array(counts, np.int64)
    values = np.random.default_rng(seed).integers(0, top, int(counts.sum()), endpoint=True).astype(np.uint64)
    bounds = np.r_[0, np.cumsum(counts)].tolist()
    segments = [range(a, b) for a, b in zip(bounds, bounds[1:])]
    stable = [i for segment in segments for i in sorted(segment, key=lambda i: values[i])]  # Python's sort is stable
    assert sort_segments(values, counts).tolist() == values[stable].tolist()
    assert segment_order(values, counts, stable=True).tolist() == stable
    order = segment_order(values, counts)
    assert values[order].tolist() == values[stable].tolist()
    assert all(sorted(order[s.start:s.stop].tolist()) == list(s) for s in segments)  # each document's own words
    ordered = values[stable]
    runs = [[i for i in s if i == s.start or ordered[i] != ordered[i - 1]] for s in segments]  # a run never crosses documents
    starts, offsets = segment_runs(ordered, counts)
    assert starts.tolist() == [i for r in runs for i in r]
    assert offsets.tolist() == np.r_[0, np.cumsum([len(r) for r in runs])].tolist()
