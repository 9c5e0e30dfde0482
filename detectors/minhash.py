"""MinHash signatures of each document, for near-duplicate detection across the corpus.

Per batch: text is normalised (`detectors.tokens`: lower-cased; every run of non-word
characters, that is punctuation, whitespace and controls, becomes one space), cut into word n-gram shingles (n=5 by default; a document with fewer words is
one shingle), each shingle hashed to 64 bits (xxhash of each word, combined by a
polynomial), folded to 32 bits, and the document's distinct shingle set is summarised by
datasketch's `affine32` MinHash: `min over shingles of (fmix32(h) * a + b) mod 2^32` for
each of `num_perm` permutations `(a, b)` that datasketch derives from `seed`, applied
here in numpy for a whole batch at once. The signature equals
`datasketch.MinHash(num_perm, seed, scheme="affine32")` updated with the same shingle
hashes (a test checks this), and is the same in every worker.

LSH banding is chosen for the threshold so that a pair *at* the threshold becomes a
candidate with probability >= 0.999 (`choose_bands`); the join in
`corpus_audit.dedup.near_duplicates` then verifies candidates. Besides one column, the detector
emits per-batch arrays for that join: signatures, band keys, and the sorted shingle sets
(for exact Jaccard near the threshold).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
from datasketch import MinHash

from detectors.base import Column, Detector
from detectors.segments import segment_runs, sort_segments
from detectors.tokens import hash_words

_EMPTY = np.uint32(0xFFFFFFFF)
_SHINGLE_MULTIPLIER = np.uint64(0x100000001B3)
_CHUNK_SHINGLES = 8192


def choose_bands(threshold: float, num_perm: int, target_recall: float = 0.999) -> tuple[int, int]:
    """(bands, rows): the most rows per band whose recall at the threshold is >= target.

    More rows per band mean fewer false candidates; the recall condition keeps true pairs.
    """
    if not 0 < threshold < 1:
        raise ValueError(f"near-duplicate threshold {threshold} must be between 0 and 1")
    best = (num_perm, 1)
    for rows in range(1, num_perm + 1):
        bands = num_perm // rows
        if 1 - (1 - threshold**rows) ** bands >= target_recall:
            best = (bands, rows)
    return best


def fmix32(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 32-bit finaliser, as datasketch applies it before its permutations."""
    h = h.astype(np.uint32)
    with np.errstate(over="ignore"):
        h ^= h >> np.uint32(16)
        h *= np.uint32(0x85EBCA6B)
        h ^= h >> np.uint32(13)
        h *= np.uint32(0xC2B2AE35)
        h ^= h >> np.uint32(16)
    return h


class MinHashDetector(Detector):
    """Shingle sets and MinHash signatures; the near-duplicate join happens corpus-wide."""

    name = "minhash"
    columns = (Column("shingle_count", pa.int32(), "distinct word shingles in the normalised text"),)
    arrays = ("signature", "band_keys", "shingles", "shingle_offsets")

    def __init__(self, threshold: float = 0.8, num_perm: int = 128, shingle_size: int = 5, seed: int = 1) -> None:
        if num_perm < 2 or shingle_size < 1:
            raise ValueError("num_perm must be at least 2 and shingle_size at least 1")
        self.threshold, self.num_perm, self.shingle_size, self.seed = threshold, num_perm, shingle_size, seed
        self.bands, self.rows = choose_bands(threshold, num_perm)
        a, b = MinHash(num_perm=num_perm, seed=seed, scheme="affine32").permutations
        self._a, self._b = np.asarray(a, np.uint32), np.asarray(b, np.uint32)

    def config(self) -> dict[str, Any]:
        return {"threshold": self.threshold, "num_perm": self.num_perm, "shingle_size": self.shingle_size,
                "seed": self.seed, "bands": self.bands, "rows": self.rows, "scheme": "datasketch affine32"}

    def shingle_hashes(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(sorted distinct 32-bit shingle hashes of all documents, offsets per document)."""
        words = hash_words(texts, self.seed)
        word_hash, counts = words.hashes, words.counts
        n = self.shingle_size
        doc_start = np.concatenate([[0], np.cumsum(counts)])
        doc_of_word = np.repeat(np.arange(len(texts)), counts)
        # Full shingles start wherever n words remain in the document.
        starts = np.flatnonzero(np.arange(word_hash.size) + n <= doc_start[1:][doc_of_word])
        hashes = self._polynomial(word_hash, starts, np.full(starts.size, n))
        short = (counts > 0) & (counts < n)  # one shingle of all their words
        full = np.maximum(counts - n + 1, 0)
        per_document = full + short  # shingles, document after document: a short document's one in its place
        first = np.cumsum(per_document) - per_document
        shingles = np.empty(int(per_document.sum()), np.uint64)
        shingles[np.arange(starts.size) + np.repeat(np.cumsum(short) - short, full)] = hashes
        shingles[first[short]] = self._polynomial(word_hash, doc_start[:-1][short], counts[short])
        shingles = sort_segments((shingles >> np.uint64(32) ^ shingles) & np.uint64(0xFFFFFFFF), per_document)
        distinct, offsets = segment_runs(shingles, per_document)
        return shingles[distinct].astype(np.uint32), offsets

    @staticmethod
    def _polynomial(word_hash: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """Hash of the words starts[i] .. starts[i] + lengths[i] - 1, in order."""
        hashes = np.zeros(starts.size, dtype=np.uint64)
        with np.errstate(over="ignore"):
            for k in range(int(lengths.max()) if lengths.size else 0):
                take = k < lengths
                step = hashes * _SHINGLE_MULTIPLIER + word_hash[np.where(take, starts + k, starts)]
                hashes = step if take.all() else np.where(take, step, hashes)
        return hashes

    def signatures(self, shingles: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        """(documents x num_perm) uint32 MinHash values; all 0xFFFFFFFF for no shingles.

        Shingles are permuted in fixed chunks, permutation-major so that each
        permutation's row is contiguous (about 4x faster than shingle-major); a chunk may
        split a document, whose minimum then accumulates, so one huge document costs no
        more memory than many small ones.
        """
        ndocs = offsets.size - 1
        out = np.full((self.num_perm, ndocs), _EMPTY, dtype=np.uint32)
        hashed = fmix32(shingles)
        owner = np.repeat(np.arange(ndocs), np.diff(offsets))
        buffer = np.empty((self.num_perm, min(_CHUNK_SHINGLES, hashed.size)), dtype=np.uint32)
        a, b = self._a[:, None], self._b[:, None]
        for lo in range(0, hashed.size, _CHUNK_SHINGLES):
            hi = min(lo + _CHUNK_SHINGLES, hashed.size)
            block = buffer[:, : hi - lo]
            with np.errstate(over="ignore"):
                np.multiply(a, hashed[None, lo:hi], out=block)
                np.add(block, b, out=block)
            docs = owner[lo:hi]
            bounds = np.flatnonzero(np.r_[True, docs[1:] != docs[:-1]])
            segment_docs = docs[bounds]
            out[:, segment_docs] = np.minimum(out[:, segment_docs], np.minimum.reduceat(block, bounds, axis=1))
        return np.ascontiguousarray(out.T)

    def band_keys(self, signatures: np.ndarray) -> np.ndarray:
        """(documents x bands) uint64 keys: equal keys mean equal rows in that band."""
        rows = signatures[:, : self.bands * self.rows].reshape(len(signatures), self.bands, self.rows).astype(np.uint64)
        keys = np.zeros((len(signatures), self.bands), dtype=np.uint64)
        with np.errstate(over="ignore"):
            for r in range(self.rows):
                keys = keys * _SHINGLE_MULTIPLIER + rows[:, :, r] + np.uint64(1)
            keys ^= np.arange(self.bands, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
        return keys

    def score(self, texts: Sequence[str]) -> Mapping[str, np.ndarray]:
        shingles, offsets = self.shingle_hashes(texts)
        signature = self.signatures(shingles, offsets)
        return {"shingle_count": np.diff(offsets).astype(np.int32), "signature": signature,
                "band_keys": self.band_keys(signature), "shingles": shingles, "shingle_offsets": offsets}
