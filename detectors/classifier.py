"""Synthetic-text classifier: a calibrated probability that each document is machine-written.

Every feature but compressibility reads the text after `detectors.layout` has normalised
its line wraps.
Features (chosen by measurement, see benchmarks/transfer.py):

- hashed word 1-2 grams of the normalised words (`detectors.tokens`; no vocabulary to
  store, so the model is plain arrays), sublinear term frequency times IDF,
  L2-normalised: what a document says and how it phrases it;
- a dense block that carries across domains better than words: about 70 style features
  (function-word rates, punctuation rates, sentence and word length and their spread,
  ASCII capitals and digits, line structure, lexical diversity, the raw text's zlib
  compressibility as the repetition detector measures it) and 10 lexical ones
  (`detectors.lexicon`: rarity against a pre-2022 frequency list, chat-model vocabulary,
  content-word recurrence); standardised.
  Word-based ones come from the batch's word hashes, byte-based ones from one pass over
  the batch's UTF-8 bytes, so both are vectorised.

A logistic regression over both, then Platt scaling fitted on out-of-domain scores, so
`p_synthetic` is a calibrated posterior under a stated prior (the model's metadata
`probability`; the shipped model's is chosen so that p > 0.5 flags few human texts of any
domain), not the training set's share of machine text. Turning scores into a corpus-level
share is the estimator's job, not this detector's.

The detector holds only numpy arrays and numbers (`ClassifierModel`); reading and
writing model directories is `corpus_audit.model.store`'s job.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import scipy.sparse as sp
import xxhash
from scipy.special import expit

from detectors.base import Column, Detector
from detectors.layout import normalized_utf8
from detectors.lexicon import (
    Lexicon,
    default_lexicon,
    lexical_feature_names,
    lexical_features,
)
from detectors.partials import Bundle, Histogram, Sample, Tally
from detectors.segments import document_sums, segment_order, segment_runs, sort_segments
from detectors.text_arrays import compression_ratios, pieces, split_whitespace, utf8
from detectors.tokens import HashedWords, hash_words, splitmix64, word_hash

FUNCTION_WORDS = ("the", "of", "and", "to", "a", "in", "is", "that", "it", "for", "was", "on", "with", "as", "be", "by",
                  "this", "are", "i", "you", "he", "she", "we", "they", "not", "but", "or", "have", "has", "had", "which",
                  "would", "could", "can", "will", "there", "their", "said", "his", "her", "its", "an", "at", "from",
                  "also", "however", "very", "just")
PUNCTUATION = (",", ".", ";", ":", "!", "?", '"', "'", "(", "-", "\u2014", "\u2019", "\u201c")
SCORE_BINS = 10_000  # the p_synthetic histogram the estimator works from (resolution 0.0001)
# Text unlike any the model was trained on (another language, a manual page) can sit tens of
# standard deviations out on one dense feature, and a linear model then lets that one feature
# decide. Measured leave-one-domain-out (mean cell AUROC) and on the human documentation of
# benchmarks/local_human_text.py (share of each source over an in-sample 3% human threshold),
# 2026-12-07: no clip 0.814, 13-83%; clipped at 5: 0.819, 13-84%; at 3: 0.819, 10-55%; at 2:
# 0.818, 8-47%.
STYLE_CLIP = 2.0
SHIFT_SAMPLE = 2000  # documents whose dense features the shift test compares with the calibration data
_IS_SENTENCE_MARK = np.isin(np.arange(256), np.frombuffer(b".!?", np.uint8))  # byte -> bool tables
_IS_ASCII_SPACE = np.isin(np.arange(256), np.frombuffer(b" \t\n\r\x0b\x0c", np.uint8))
_ASCII_UPPER = bytes(range(ord("A"), ord("Z") + 1))
_ASCII_DIGITS = b"0123456789"
# The bytes byte_features counts: punctuation (and the lead byte of the typographic marks),
# sentence marks, capitals and digits.
_IS_COUNTED = np.isin(np.arange(256), np.frombuffer(
    bytes({m.encode()[0] for m in PUNCTUATION}) + b".!?" + _ASCII_UPPER + _ASCII_DIGITS, np.uint8))
_FUNCTION_INDEX = {w: i for i, w in enumerate(FUNCTION_WORDS)}
_BIGRAM = np.uint64(0x100000001B3)
_FUNCTION_HASHES, _FUNCTION_ORDER = (lambda h: (h[np.argsort(h)], np.argsort(h)))(
    np.array([word_hash(w) for w in FUNCTION_WORDS], dtype=np.uint64))


def style_feature_names() -> list[str]:
    return [*(f"fw_{w}" for w in FUNCTION_WORDS), *(f"punct_{ord(p):x}" for p in PUNCTUATION),
            "log_words", "word_len_mean", "word_len_sd", "sentence_bytes_mean", "sentence_bytes_sd", "upper_ratio",
            "digit_ratio", "type_token_ratio", "compression_ratio",
            *lexical_feature_names()]


def _segment_stats(lengths: np.ndarray, owner: np.ndarray, ndocs: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-document mean and standard deviation of segment lengths (0 where none)."""
    count = np.bincount(owner, minlength=ndocs)
    total = np.bincount(owner, weights=lengths, minlength=ndocs)
    squares = np.bincount(owner, weights=lengths.astype(np.float64) ** 2, minlength=ndocs)
    mean = np.divide(total, count, out=np.zeros(ndocs), where=count > 0)
    variance = np.divide(squares, count, out=np.zeros(ndocs), where=count > 0) - mean**2
    return mean, np.sqrt(np.maximum(variance, 0))


def byte_features(data: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Style features read from the UTF-8 bytes of a whole batch at once (`data`, and where each
    text starts in it, as `text_arrays.utf8` gives them): punctuation rates,
    sentence length (bytes between a `.`, `!` or `?` followed by whitespace or the end),
    ASCII capitals and digits.

    One pass over the bytes finds the few that matter (a table lookup); everything else is
    computed at those positions only."""
    ndocs = len(start) - 1
    size = np.diff(start)
    at = np.flatnonzero(_IS_COUNTED[data])
    value = data[at]
    owner = np.searchsorted(start, at, side="right") - 1
    end_of = start[1:][owner]  # where each counted byte's document ends
    per_byte = np.bincount(owner * 256 + value, minlength=ndocs * 256).reshape(ndocs, 256)
    denominator = np.maximum(size, 1).astype(np.float64)
    columns = []
    for mark in PUNCTUATION:
        code = mark.encode()
        if len(code) == 1:
            columns.append(per_byte[:, code[0]])
        else:  # the typographic marks are three bytes, E2 80 xx (a UTF-8 character never crosses documents)
            lead = (value == code[0]) & (at + 2 < data.size)
            hit = lead.copy()
            hit[lead] = (data[at[lead] + 1] == code[1]) & (data[at[lead] + 2] == code[2])
            columns.append(np.bincount(owner[hit], minlength=ndocs))
    rates = np.column_stack(columns) / denominator[:, None] if ndocs else np.zeros((0, len(PUNCTUATION)))
    mark = _IS_SENTENCE_MARK[value]
    last = at + 1 == end_of
    ends = at[mark & (last | _IS_ASCII_SPACE[data[np.minimum(at + 1, data.size - 1)]])] + 1
    cuts = np.unique(np.concatenate([start, ends]))
    lengths = np.diff(cuts)
    segment_owner = np.searchsorted(start, cuts[:-1], side="right") - 1
    keep = lengths > 0
    sentence_mean, sentence_sd = _segment_stats(lengths[keep], segment_owner[keep], ndocs)
    return np.column_stack([rates, sentence_mean, sentence_sd, per_byte[:, 65:91].sum(axis=1) / denominator,
                            per_byte[:, 48:58].sum(axis=1) / denominator])


def _uses_in_document(words: HashedWords) -> np.ndarray:
    """Per word, how often its distinct word occurs in its document (the runs of each
    document's sorted word ids; any order of equal ids gives the same runs, so the sort
    need not be stable)."""
    if not words.index.size:
        return np.zeros(0, np.int64)
    order = segment_order(words.index, words.counts)
    ordered = words.index[order]  # a document's words stay in its segment
    starts, _ = segment_runs(ordered, words.counts)
    runs = np.diff(np.r_[starts, ordered.size])
    uses = np.empty(ordered.size, np.int64)
    uses[order] = np.repeat(runs, runs)
    return uses


def style_features(layout: tuple[np.ndarray, np.ndarray], words: HashedWords, lexicon: Lexicon,
                   compression: np.ndarray) -> np.ndarray:
    """The dense profile of each text (rates, so length matters only through log_words).

    Byte-based features come from `layout`, the UTF-8 bytes of the layout-normalised texts
    (`detectors.layout.normalized_utf8`). Word-based features come vectorised from the
    batch's word hashes: function-word rates, word length mean and spread, type-token ratio
    (normalised words, so punctuation is not part of a word), then the lexical features.
    `compression`: each text's `compression_ratio` (`detectors.text_arrays.compression_ratios`,
    of the raw text).
    """
    ndocs, document = len(words.counts), words.document
    n = np.maximum(words.counts, 1).astype(np.float64)
    slot = words.lookup(np.minimum(np.searchsorted(_FUNCTION_HASHES, words.distinct), len(_FUNCTION_HASHES) - 1))
    hit = _FUNCTION_HASHES[slot] == words.hashes
    cells = document[hit] * len(FUNCTION_WORDS) + _FUNCTION_ORDER[slot[hit]]
    function_rates = np.bincount(cells, minlength=ndocs * len(FUNCTION_WORDS)).reshape(ndocs, len(FUNCTION_WORDS)) / n[:, None]
    length_mean, length_sd = _segment_stats(words.lengths, document, ndocs)
    uses = _uses_in_document(words)
    ttr = document_sums([1.0 / uses], words.counts)[0] / n  # distinct words / words
    raw = byte_features(*layout)
    punctuation, sentence, (upper, digit) = (
        raw[:, :len(PUNCTUATION)], raw[:, len(PUNCTUATION):len(PUNCTUATION) + 2], raw[:, len(PUNCTUATION) + 2:].T)
    return np.column_stack([function_rates, punctuation, np.log1p(words.counts), length_mean, length_sd, sentence,
                            upper, digit, ttr, compression,
                            lexical_features(words, uses > 1, lexicon)])


@dataclass
class ClassifierModel:
    """Everything scoring needs, as arrays and numbers (saved as .npz + JSON, never pickled)."""

    word_features: int
    idf: np.ndarray  # (word_features,) float32
    style_mean: np.ndarray  # (style,) float64
    style_scale: np.ndarray  # (style,) float64
    style_weight: float  # how much the style block counts against the unit-norm word block
    coef: np.ndarray  # (word_features + style,) float64
    intercept: float
    platt_a: float
    platt_b: float
    metadata: dict[str, Any] = field(default_factory=dict)

    def arrays(self) -> dict[str, np.ndarray]:
        return {"idf": self.idf, "style_mean": self.style_mean, "style_scale": self.style_scale, "coef": self.coef}

    def numbers(self) -> dict[str, float | int]:
        return {"word_features": self.word_features, "style_weight": self.style_weight, "intercept": self.intercept,
                "platt_a": self.platt_a, "platt_b": self.platt_b}


class TextFeaturizer:
    """Texts -> the sparse feature matrix the classifier sees (word block | style block)."""

    def __init__(self, word_features: int = 2**18, lexicon: Lexicon | None = None) -> None:
        self.word_features = word_features
        self.lexicon = lexicon or default_lexicon()

    def parts(self, texts: Sequence[str], compression: np.ndarray | None = None) -> tuple[sp.csr_matrix, np.ndarray]:
        """(counts of hashed word unigrams and bigrams, dense features) of the layout-normalised
        texts (but compressibility, which is the raw text's, as the repetition detector has it;
        `compression`: those ratios when already made, else they are made here).

        Layout normalisation only rewrites runs of whitespace, which `fold` makes one space
        anyway: the words of the raw texts are those of the normalised ones, so their hashes
        are read from the batch (shared with the other detectors)."""
        words = hash_words(texts)
        if compression is None:
            compression = compression_ratios(texts)
        layout = normalized_utf8(texts)
        return self._counts(words, len(texts)), style_features(layout, words, self.lexicon, compression)

    def _counts(self, words: HashedWords, ndocs: int) -> sp.csr_matrix:
        """Each document's hashed unigrams and bigrams, counted from its sorted keys."""
        follows = np.flatnonzero(words.document[1:] == words.document[:-1])
        with np.errstate(over="ignore"):
            bigrams = splitmix64(words.hashes[follows] * _BIGRAM ^ words.hashes[follows + 1])
        unigrams, bigram_counts = words.counts, np.maximum(words.counts - 1, 0)
        per_document = unigrams + bigram_counts  # each document's unigrams, then its bigrams
        first = np.cumsum(per_document) - per_document
        keys = np.empty(int(per_document.sum()), np.uint64)
        keys[np.arange(unigrams.sum()) + np.repeat(first - (np.cumsum(unigrams) - unigrams), unigrams)] = words.hashes
        shift = first + unigrams - (np.cumsum(bigram_counts) - bigram_counts)
        keys[np.arange(follows.size) + np.repeat(shift, bigram_counts)] = bigrams
        keys = sort_segments(keys % np.uint64(self.word_features), per_document)
        starts, indptr = segment_runs(keys, per_document)
        counts = np.diff(np.r_[starts, keys.size]).astype(np.float32)
        return sp.csr_matrix((counts, keys[starts].astype(np.int64), indptr), shape=(ndocs, self.word_features))


def sublinear(counts: sp.csr_matrix) -> sp.csr_matrix:
    """1 + log(tf) for the non-zero counts."""
    counts = counts.copy()
    counts.data = 1.0 + np.log(counts.data)
    return counts


def _normalize_rows(m: sp.csr_matrix) -> sp.csr_matrix:
    """Each row divided by its L2 norm, in place (a row of zeros stays), as scikit-learn's
    `normalize` does: without importing scikit-learn, which cost every scan process 0.65 s of CPU."""
    lengths = np.diff(m.indptr)
    norms = np.sqrt(document_sums([np.square(m.data)], lengths)[0])
    m.data[:] = m.data / np.repeat(np.where(norms > 0, norms, 1.0), lengths)  # in float64, rounded once
    return m


def combine(tf: sp.csr_matrix, standard: np.ndarray, idf: np.ndarray, style_weight: float) -> sp.csr_matrix:
    """The classifier's input: L2-normalised TF-IDF words beside the weighted, standardised dense
    block, each dense feature clipped to `STYLE_CLIP` standard deviations of the training texts."""
    words = tf.copy()
    words.data *= idf.astype(np.float32)[words.indices]  # tf @ diag(idf), without a sparse product
    words = _normalize_rows(words)
    dense = np.clip(standard, -STYLE_CLIP, STYLE_CLIP) * style_weight
    return sp.hstack([words, sp.csr_matrix(dense.astype(np.float32))], format="csr")


def _has_text(texts: Sequence[str]) -> np.ndarray:
    """Texts with a word (`t.strip()` and `t.split()` agree on what whitespace is)."""
    return split_whitespace(texts)[0] > 0


def platt(decision: np.ndarray, a: float, b: float) -> np.ndarray:
    """The calibrated probability from the linear decision value."""
    return expit(a * decision + b)


class ClassifierDetector(Detector):
    """Gives each document `p_synthetic` from a trained `ClassifierModel`."""

    name = "classifier"
    internal = ("dense", "general")
    columns = (Column("p_synthetic", pa.float32(), "calibrated probability that the text is machine-written (under the model's prior); "
                                                   "null for an empty or whitespace-only text, which holds no evidence"),)

    def __init__(self, model: ClassifierModel, adapter: Any = None) -> None:
        """`adapter`: an object whose `probability(p, dense)` turns the model's p_synthetic and
        dense features into a probability adapted to the corpus's domain, given in its place
        (and whose `fingerprint` names it)."""
        self.model = model
        self.adapter = adapter
        self.featurizer = TextFeaturizer(model.word_features)

    def config(self) -> dict[str, Any]:
        adapted = None if self.adapter is None else self.adapter.fingerprint
        return {"model": self.model.metadata.get("name"), "model_sha256": self.model.metadata.get("sha256"),
                "adapter": adapted}

    def decision(self, texts: Sequence[str]) -> np.ndarray:
        return self._decide(texts)[0]

    def _decide(self, texts: Sequence[str], compression: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The linear decision value of each text, and its standardised dense features."""
        m = self.model
        if not texts:
            return np.empty(0, np.float64), np.empty((0, len(m.style_mean)), np.float32)
        counts, styles = self.featurizer.parts(texts, compression)
        standard = (styles - m.style_mean) / m.style_scale
        x = combine(sublinear(counts), standard, m.idf, m.style_weight)
        return np.asarray(x @ m.coef, dtype=np.float64).ravel() + m.intercept, standard.astype(np.float32)

    def score(self, texts: Sequence[str]) -> Mapping[str, np.ndarray]:
        """`p_synthetic` per text; NaN for a text with nothing but whitespace (the model, never
        trained on such texts, would call them machine-written and bias the estimate). The
        texts' dense features go only to `partial`, which samples them for the shift test (and,
        with an adapter, the general model's p_synthetic beside them, to refit the adapter)."""
        has_text = _has_text(texts)
        p = np.full(len(texts), np.nan, dtype=np.float32)
        kept = texts if has_text.all() else [t for t, keep in zip(texts, has_text) if keep]  # the batch keeps its products
        decision, dense = self._decide(kept, compression_ratios(texts)[has_text])  # the batch's, made once with repetition's
        general = platt(decision, self.model.platt_a, self.model.platt_b).astype(np.float32)
        p[has_text] = general if self.adapter is None else self.adapter.probability(general, dense)
        return {"p_synthetic": p, "dense": dense, "general": general}

    def probabilities(self, texts: Sequence[str], batch_size: int = 1000) -> np.ndarray:
        """`p_synthetic` of any number of texts, scored batch by batch to bound memory."""
        return self.scored(texts, batch_size)[0]

    def scored(self, texts: Sequence[str], batch_size: int = 1000) -> tuple[np.ndarray, np.ndarray]:
        """`p_synthetic` of any number of texts, and the dense features of those with text."""
        batches = [self.score(texts[i:i + batch_size]) for i in range(0, len(texts), batch_size)]
        if not batches:
            return np.empty(0, dtype=np.float32), np.empty((0, len(self.model.style_mean)), np.float32)
        return np.concatenate([b["p_synthetic"] for b in batches]), np.vstack([b["dense"] for b in batches])

    def partial(self, texts: Sequence[str], scores: Mapping[str, np.ndarray]) -> Bundle:
        p = scores["p_synthetic"]
        known = p[~np.isnan(p)]
        priorities = np.fromiter((xxhash.xxh64_intdigest(t) for t, keep in zip(pieces(*utf8(texts)), _has_text(texts))
                                  if keep), np.uint64, len(known))
        parts = {"p_synthetic": Histogram(0.0, 1.0, SCORE_BINS).add(known),
                 "feature_sample": Sample(SHIFT_SAMPLE).add(priorities, scores["dense"]),
                 "above_half": Tally().add("documents", len(known)).add("above", int((known > 0.5).sum()))
                                      .add("without_text", len(p) - len(known))}
        if self.adapter is not None:  # the same rows as the feature sample: the same priorities, the same order
            parts["general_sample"] = Sample(SHIFT_SAMPLE).add(priorities, scores["general"][:, None])
        return Bundle(parts)

    def summarize(self, partial: Bundle) -> dict[str, Any]:
        tally = partial.parts["above_half"].counts
        documents = tally.get("documents", 0)
        return {"p_synthetic": partial.parts["p_synthetic"].summary((0.1, 0.25, 0.5, 0.75, 0.9)),
                "share_above_0.5": tally.get("above", 0) / documents if documents else 0.0,
                "documents_without_text": tally.get("without_text", 0),
                "note": "share_above_0.5 is classify-and-count: biased by the detector's errors and not an estimate "
                        "of the synthetic fraction; documents without text have no p_synthetic and are left out"}
