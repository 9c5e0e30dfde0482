"""Normalised words of a batch of texts as 64-bit hashes, computed once per distinct word.

Normalisation: lower-case; every run of non-word characters (punctuation, whitespace,
controls) becomes one space, so words are exactly the pieces between spaces. Splitting
and finding distinct words run in Arrow, from the batch's whitespace split (which other
detectors share): each distinct whitespace-separated word is folded once, and each distinct
normalised word is hashed once with xxHash64 (all of them at once, `detectors.xxh64`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash

from detectors.prepared import prepared
from detectors.segments import document_sums
from detectors.text_arrays import split_whitespace, string_bytes
from detectors.xxh64 import xxh64

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def splitmix64(x: np.ndarray) -> np.ndarray:
    """The SplitMix64 finaliser: a fast, well-mixed 64-bit hash of each integer."""
    with np.errstate(over="ignore"):
        z = x.astype(np.uint64) + _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


_NON_WORD = re.compile(r"\W+")
# The same folding as _NON_WORD for ASCII text, as a (much faster) translate table.
_ASCII_NON_WORD = str.maketrans({c: " " for c in map(chr, range(128)) if _NON_WORD.match(c)})


def fold(text: str) -> str:
    """Lower-cased text in which every run of non-word characters is one space."""
    lowered = text.lower()
    if lowered.isascii():
        return lowered.translate(_ASCII_NON_WORD).strip()
    return _NON_WORD.sub(" ", lowered).strip()


def normalize(text: str) -> list[str]:
    """The normalised words of a text."""
    return fold(text).split()


@dataclass
class HashedWords:
    """Every word of a batch, in order: its hash, and how many words each document has."""

    hashes: np.ndarray  # uint64, all documents' words concatenated
    counts: np.ndarray  # int64 per document
    lengths: np.ndarray  # int64 characters of each word
    distinct: np.ndarray  # uint64, the batch's distinct word hashes: look-ups run once per distinct word
    index: np.ndarray  # each word's position in `distinct`, so hashes == distinct[index]

    def lookup(self, values_of_distinct: np.ndarray) -> np.ndarray:
        """Per word, the value computed for its distinct word."""
        return values_of_distinct[self.index]

    @property
    def document(self) -> np.ndarray:
        """The document of each word."""
        return np.repeat(np.arange(len(self.counts)), self.counts)


@dataclass
class _SplitWords:
    """The normalised words of a batch, dictionary-encoded: what every seed's hashes start from."""

    distinct: pa.LargeStringArray
    index: np.ndarray  # each word's position in `distinct`
    counts: np.ndarray  # int64 words per document
    lengths: np.ndarray  # int64 characters of each word


# Folding joined distinct words: as `fold`, but the newline between two words stays.
_ASCII_NON_WORD_KEEP_NEWLINE = {**_ASCII_NON_WORD, ord("\n"): "\n"}
_NON_WORD_BUT_NEWLINE = re.compile(r"[^\w\n]+")


def _fold_each(words: list[str]) -> list[str]:
    """`fold` of each word (none holds whitespace), as one string operation per kind of word.

    Lower-casing is per character but for Greek final sigma, whose context ends at
    whitespace, so folding a text's whitespace-separated words one by one gives its words."""
    ascii_words = np.fromiter(map(str.isascii, words), bool, len(words))
    folded = np.empty(len(words), dtype=object)
    for is_ascii in (True, False):
        where = np.flatnonzero(ascii_words == is_ascii)
        if not where.size:
            continue
        joined = "\n".join([words[i] for i in where]).lower()
        joined = joined.translate(_ASCII_NON_WORD_KEEP_NEWLINE) if is_ascii else _NON_WORD_BUT_NEWLINE.sub(" ", joined)
        folded[where] = joined.split("\n")
    return folded.tolist()


def _split(texts: Sequence[str]) -> _SplitWords:
    """The batch's normalised words, from its whitespace split: each distinct raw word is folded
    once and becomes its pieces (none for punctuation, several for "it's"), which then stand
    in for each of its uses. Same words in the same order as `fold(text).split()` per text."""
    counts, codes, raw_words = split_whitespace(texts)
    if not raw_words:
        return _SplitWords(pa.array([], pa.large_string()), np.zeros(0, np.intp), np.zeros(len(texts), np.int64),
                           np.zeros(0, np.int64))
    split = pc.ascii_split_whitespace(pa.array(_fold_each(raw_words), pa.large_string()))
    pieces = split.flatten()
    nonempty = pc.greater(pc.binary_length(pieces), 0)
    per_raw = np.bincount(np.repeat(np.arange(len(raw_words)), np.diff(split.offsets.to_numpy()))[
        nonempty.to_numpy(zero_copy_only=False)], minlength=len(raw_words))
    encoded = pc.dictionary_encode(pieces.filter(nonempty))
    piece_index = encoded.indices.to_numpy(zero_copy_only=False)
    first_piece = np.cumsum(per_raw) - per_raw
    uses = per_raw[codes]  # pieces each raw word of the batch becomes
    before = np.cumsum(uses) - uses
    index = piece_index[np.repeat(first_piece[codes] - before, uses) + np.arange(int(uses.sum()))]
    lengths = pc.utf8_length(encoded.dictionary).to_numpy(zero_copy_only=False).astype(np.int64)  # once per distinct word
    return _SplitWords(encoded.dictionary, index, document_sums([uses], counts)[0].astype(np.int64),
                       lengths[index])


def _hash(split: _SplitWords, seed: int) -> HashedWords:
    unique_hashes = xxh64(*string_bytes(split.distinct), seed)
    return HashedWords(unique_hashes[split.index], split.counts, split.lengths, unique_hashes, split.index)


def hash_words(texts: Sequence[str], seed: int = 0) -> HashedWords:
    """The batch's normalised words hashed with `seed`; on a PreparedTexts the split is made
    once for every seed and the hashes once per seed."""
    return prepared(texts, ("hashed_words", seed), lambda: _hash(prepared(texts, "split_words", lambda: _split(texts)), seed))


def word_hash(word: str, seed: int = 0) -> int:
    """The hash `hash_words` gives this (already normalised) word."""
    return xxhash.xxh64_intdigest(word.encode("utf-8", "surrogatepass"), seed)
