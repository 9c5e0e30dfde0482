"""Repetition heuristics of Gopher (Rae et al. 2021, Appendix A, Table A1), plus diversity.

Definitions (as in the contract's "Repetition columns"; every fraction is 0 where its
denominator is 0):

- words are `text.split()`; `chars(words)` is the sum of the words' lengths;
- lines are `text.split("\\n")`, stripped, empty ones dropped; paragraphs are the stripped,
  non-empty pieces between blank lines (a newline, optional whitespace, a newline);
- `dup_line_frac`: lines equal to an earlier line / lines; `dup_line_char_frac`: the
  characters of those lines / `len(text)`; `dup_para_frac`, `dup_para_char_frac` likewise;
- `top_{2,3,4}gram_char_frac`: among the word n-grams with the highest count, the largest
  `count * chars(ngram)`, over `chars(words)`; 0 when no n-gram occurs twice;
- `dup_{5..10}gram_char_frac`: the words covered by any occurrence of an n-gram that occurs
  at least twice, each word counted once even where occurrences overlap,
  `chars(covered words) / chars(words)`;
- `compression_ratio`: `len(zlib.compress(utf8, 6)) / len(utf8)`, 1.0 for empty text;
- `type_token_ratio`: distinct lower-cased words / words; `mattr`: its moving average over
  windows of 50 words (Covington & McFall 2010), which does not fall with length as TTR
  does (the plain TTR for documents shorter than the window);
- `distinct_{2,3,4}_ratio`: distinct word n-grams / n-grams (case-sensitive, as the
  n-gram measures above);
- `gopher_repetition_flag`: any measure above its Gopher threshold (configurable).

Speed: the n-gram measures are computed for a whole batch at once in numpy. Words are
factorised to integer ids; n-grams are rolling 64-bit hashes salted by document. Only
bigrams are counted in full (a hash table); an n-gram can occur twice only where both of
its (n-1)-grams do, so for n >= 3 only those candidate positions are hashed and counted.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from detectors.base import Column, Detector
from detectors.partials import Bundle, Histogram, Tally
from detectors.segments import document_sums, segment_order
from detectors.text_arrays import compression_ratios, split_whitespace
from detectors.tokens import splitmix64

GOPHER_THRESHOLDS: dict[str, float] = {
    "dup_line_frac": 0.30, "dup_para_frac": 0.30, "dup_line_char_frac": 0.20, "dup_para_char_frac": 0.20,
    "top_2gram_char_frac": 0.20, "top_3gram_char_frac": 0.18, "top_4gram_char_frac": 0.16,
    "dup_5gram_char_frac": 0.15, "dup_6gram_char_frac": 0.14, "dup_7gram_char_frac": 0.13,
    "dup_8gram_char_frac": 0.12, "dup_9gram_char_frac": 0.11, "dup_10gram_char_frac": 0.10,
}
TOP_NS = (2, 3, 4)
DUP_NS = tuple(range(5, 11))
DISTINCT_NS = (2, 3, 4)
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")


def _fraction_columns() -> tuple[Column, ...]:
    described = {
        "dup_line_frac": "lines equal to an earlier line / lines",
        "dup_line_char_frac": "characters of duplicate lines / characters",
        "dup_para_frac": "paragraphs equal to an earlier paragraph / paragraphs",
        "dup_para_char_frac": "characters of duplicate paragraphs / characters",
        **{f"top_{n}gram_char_frac": f"characters of the most frequent word {n}-gram / characters of words" for n in TOP_NS},
        **{f"dup_{n}gram_char_frac": f"characters of words covered by repeated word {n}-grams / characters of words" for n in DUP_NS},
        "compression_ratio": "zlib level-6 compressed size / UTF-8 size",
        "type_token_ratio": "distinct lower-cased words / words",
        "mattr": "moving-average type-token ratio over 50-word windows",
        **{f"distinct_{n}_ratio": f"distinct word {n}-grams / {n}-grams" for n in DISTINCT_NS},
    }
    return tuple(Column(name, pa.float32(), text) for name, text in described.items())


def _segment_max(values: np.ndarray, docs: np.ndarray, ndocs: int) -> np.ndarray:
    """Per-document maximum of values whose (sorted) document ids are docs; 0 where none."""
    out = np.zeros(ndocs, dtype=values.dtype)
    if values.size:
        starts = np.flatnonzero(np.r_[True, docs[1:] != docs[:-1]])
        out[docs[starts]] = np.maximum.reduceat(values, starts)
    return out


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    numerator = np.asarray(numerator, dtype=np.float64)
    denominator = np.asarray(denominator, dtype=np.float64)
    return np.divide(numerator, denominator, out=np.zeros_like(numerator), where=denominator > 0)


def _duplicates(pieces: list[str]) -> tuple[int, int]:
    """(number, characters) of pieces equal to an earlier piece."""
    if len(set(pieces)) == len(pieces):  # most texts: no piece repeats
        return 0, 0
    seen: set[str] = set()
    count = chars = 0
    for piece in pieces:
        if piece in seen:
            count += 1
            chars += len(piece)
        else:
            seen.add(piece)
    return count, chars


class _WordBatch:
    """All words of a batch as integer ids, with their document and character length."""

    def __init__(self, texts: Sequence[str]) -> None:
        counts, codes, uniques = split_whitespace(texts)
        self.ndocs = len(texts)
        self.doc = np.repeat(np.arange(self.ndocs), counts)
        self.counts = counts
        self.ids = codes.astype(np.int64)
        self.lengths = np.fromiter(map(len, uniques), np.int64, len(uniques))[self.ids]
        lower_codes, _ = pd.factorize(np.asarray([u.lower() for u in uniques], dtype=object)) if len(uniques) else (np.empty(0, np.int64), [])
        self.lower_ids = lower_codes.astype(np.int64)[self.ids] if len(uniques) else np.empty(0, np.int64)
        self.end = np.cumsum(counts)[self.doc] if self.doc.size else np.empty(0, np.int64)  # end of each word's doc
        self.char_cumsum = np.concatenate([[0], np.cumsum(self.lengths)])
        self.word_chars = document_sums([self.lengths], counts)[0]
        vocabulary = max(int(self.ids.max()) + 1, 1) if self.ids.size else 1
        self.unigram = splitmix64((self.ids + self.doc * vocabulary).astype(np.uint64))

    def ngram_chars(self, starts: np.ndarray, n: int) -> np.ndarray:
        return self.char_cumsum[starts + n] - self.char_cumsum[starts]


class _NgramCounts:
    """Counts of the word n-grams that can repeat, for n = 2, 3, ... in turn."""

    def __init__(self, words: _WordBatch) -> None:
        self.words = words
        self.n = 1
        positions = np.arange(words.ids.size)
        self.hash = words.unigram
        self.positions = positions
        # For n = 1 every position is a candidate (the bigram step hashes all positions).
        self.repeated = np.ones(positions.size, dtype=bool)

    def step(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Advance to n + 1: (start positions, counts, first-occurrence flags) of candidate n-grams."""
        w = self.words
        n = self.n + 1
        pos, rep = self.positions, self.repeated
        # An n-gram at i can repeat only if the (n-1)-grams at i and at i + 1 both repeat.
        rep_next = np.zeros(rep.size, dtype=bool)
        follows = np.flatnonzero(pos[1:] == pos[:-1] + 1)
        rep_next[follows] = rep[follows + 1]
        keep = rep & rep_next & (pos + n <= w.end[pos] if pos.size else np.zeros(0, bool))
        starts = pos[keep]
        with np.errstate(over="ignore"):
            hashes = splitmix64(self.hash[keep] * np.uint64(0x100000001B3) ^ w.unigram[starts + n - 1])
        if hashes.size:
            codes, uniques = pd.factorize(hashes)
            counts = np.bincount(codes, minlength=len(uniques))[codes]
            first = codes > np.maximum.accumulate(np.r_[-1, codes[:-1]])
        else:
            counts, first = np.zeros(0, np.int64), np.zeros(0, bool)
        self.n, self.positions, self.hash, self.repeated = n, starts, hashes, counts >= 2
        return starts, counts, first


class RepetitionDetector(Detector):
    """Gopher repetition measures, compression and lexical diversity of each document."""

    name = "repetition"
    columns = (*_fraction_columns(),
               Column("gopher_repetition_flag", pa.bool_(), "true when any Gopher repetition threshold is broken"))

    def __init__(self, thresholds: Mapping[str, float] | None = None, mattr_window: int = 50) -> None:
        unknown = set(thresholds or {}) - set(GOPHER_THRESHOLDS)
        if unknown:
            raise ValueError(f"unknown repetition thresholds: {', '.join(sorted(unknown))}")
        if mattr_window < 2:
            raise ValueError("mattr_window must be at least 2")
        self.thresholds = {**GOPHER_THRESHOLDS, **(thresholds or {})}
        self.mattr_window = mattr_window

    def config(self) -> dict[str, Any]:
        return {"thresholds": self.thresholds, "mattr_window": self.mattr_window}

    def score(self, texts: Sequence[str]) -> Mapping[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        out.update(self._lines_and_paragraphs(texts))
        words = _WordBatch(texts)
        out.update(self._ngrams(words))
        out["compression_ratio"] = compression_ratios(texts)
        out.update(self._diversity(words))
        scores = {c.name: out[c.name].astype(np.float32) for c in self.columns[:-1]}
        flag = np.zeros(len(texts), dtype=bool)
        for name, limit in self.thresholds.items():
            flag |= scores[name] > np.float32(limit)
        scores["gopher_repetition_flag"] = flag
        return scores

    @staticmethod
    def _lines_and_paragraphs(texts: Sequence[str]) -> dict[str, np.ndarray]:
        rows = []
        for text in texts:
            lines = list(filter(None, map(str.strip, text.split("\n"))))
            paragraphs = list(filter(None, map(str.strip, _PARAGRAPH_BREAK.split(text))))
            rows.append((len(lines), *_duplicates(lines), len(paragraphs), *_duplicates(paragraphs)))
        stats = np.array(rows, np.float64).reshape(len(texts), 6)
        chars = np.fromiter((len(t) for t in texts), np.float64, len(texts))
        return {
            "dup_line_frac": _ratio(stats[:, 1], stats[:, 0]), "dup_line_char_frac": _ratio(stats[:, 2], chars),
            "dup_para_frac": _ratio(stats[:, 4], stats[:, 3]), "dup_para_char_frac": _ratio(stats[:, 5], chars),
        }

    def _ngrams(self, words: _WordBatch) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        counter = _NgramCounts(words)
        ndocs = words.ndocs
        for n in range(2, max(DUP_NS) + 1):
            starts, counts, first = counter.step()
            docs = words.doc[starts]
            if n in TOP_NS:
                # Highest count first, then the longest n-gram among those: one sortable key.
                key = counts.astype(np.int64) << 40 | words.ngram_chars(starts, n)
                best = _segment_max(np.where(counts >= 2, key, 0), docs, ndocs)
                out[f"top_{n}gram_char_frac"] = _ratio((best >> 40) * (best & ((1 << 40) - 1)), words.word_chars)
            if n in DISTINCT_NS:
                total = np.maximum(words.counts - n + 1, 0)
                repeats = np.bincount(docs, weights=~first, minlength=ndocs)
                out[f"distinct_{n}_ratio"] = _ratio(total - repeats, total)
            if n in DUP_NS:
                covered_starts = starts[counts >= 2]
                size = words.ids.size + 1
                diff = np.bincount(covered_starts, minlength=size) - np.bincount(covered_starts + n, minlength=size)
                covered_chars = document_sums([words.lengths * (np.cumsum(diff)[:-1] > 0)], words.counts)[0]
                out[f"dup_{n}gram_char_frac"] = _ratio(covered_chars, words.word_chars)
        return out

    def _diversity(self, words: _WordBatch) -> dict[str, np.ndarray]:
        """TTR and MATTR from each word's previous occurrence in its document."""
        w = self.mattr_window
        i = np.arange(words.ids.size)
        order = segment_order(words.lower_ids, words.counts, stable=True)
        lower = words.lower_ids[order]  # a document's words stay in its segment
        prev = np.full(i.size, -1, dtype=np.int64)
        same = (lower[1:] == lower[:-1]) & (words.doc[1:] == words.doc[:-1])
        prev[order[1:][same]] = order[:-1][same]
        # A word is new in window [s, s + w) iff its previous occurrence is before s; count,
        # for each word, the windows of its document where it is new.
        start = (words.end - words.counts[words.doc]) if i.size else i
        lo = np.maximum.reduce([prev + 1, i - w + 1, start])
        hi = np.minimum(i, words.end - w)
        types, new_in = document_sums((prev < 0, np.clip(hi - lo + 1, 0, None)), words.counts)
        ttr = _ratio(types, words.counts)
        windows = np.maximum(words.counts - w + 1, 0)
        mattr = _ratio(new_in, windows * w)
        return {"type_token_ratio": ttr, "mattr": np.where(windows > 0, mattr, ttr)}

    def partial(self, texts: Sequence[str], scores: Mapping[str, np.ndarray]) -> Bundle:
        parts: dict[str, Histogram | Tally] = {}
        for column in self.columns[:-1]:
            hist = Histogram(1e-3, 1e3, 3000, log=True) if column.name == "compression_ratio" else Histogram(0.0, 1.0, 1000)
            parts[column.name] = hist.add(scores[column.name])
        over = Tally().add("documents", len(texts)).add("flagged", int(scores["gopher_repetition_flag"].sum()))
        for name, limit in self.thresholds.items():
            over.add(name, int((scores[name] > np.float32(limit)).sum()))
        parts["over_threshold"] = over
        return Bundle(parts)

    def summarize(self, partial: Bundle) -> dict[str, Any]:
        tally = partial.parts["over_threshold"].counts
        documents = tally.get("documents", 0)
        share = lambda k: tally.get(k, 0) / documents if documents else 0.0  # noqa: E731
        return {
            "measures": {c.name: partial.parts[c.name].summary() for c in self.columns[:-1]},
            "thresholds": self.thresholds,
            "share_over_threshold": {name: share(name) for name in self.thresholds},
            "flagged_documents": tally.get("flagged", 0),
            "flagged_share": share("flagged"),
            "note": "quantiles are exact to within 0.001 (histograms merged across batches)",
        }
