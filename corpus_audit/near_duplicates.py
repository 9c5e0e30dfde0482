"""The corpus-wide near-duplicate join over the MinHash detector's per-batch arrays.

1. Concatenate the batches' signatures and shingle sets into memory-mapped files, so
   candidates can be verified by random access without holding them in memory.
2. For each LSH band, bucket documents by band key. Keys are hash-partitioned so that one
   partition holds at most `partition_rows` keys (bounded memory whatever the corpus
   size); within a partition a sort groups equal keys, and each bucket yields the pairs
   (first member, other member).
3. Verify each distinct candidate pair: the MinHash estimate decides when it is clearly
   above or below the threshold (more than `margin` standard errors away), the exact
   Jaccard of the two shingle sets decides the rest.
4. Clusters are the connected components of the verified pairs (scipy), so they are
   transitive by construction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.lib.format import open_memmap
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components


@dataclass
class Clusters:
    """Result of the join: a component label per document, and how it was reached."""

    labels: np.ndarray  # component id per document (documents in no cluster have a singleton component)
    sizes: np.ndarray  # size of each component
    candidate_pairs: int
    verified_pairs: int
    exact_checks: int

    def in_cluster(self) -> np.ndarray:
        return self.sizes[self.labels] >= 2


def _load(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


class NearDuplicateJoin:
    """Finds clusters of documents whose shingle sets have Jaccard >= threshold."""

    def __init__(self, threshold: float, margin: float = 4.0, partition_rows: int = 4_000_000) -> None:
        self.threshold = threshold
        self.margin = margin
        self.partition_rows = partition_rows

    def run(self, parts: list[Path], work_dir: Path) -> Clusters:
        work_dir.mkdir(parents=True, exist_ok=True)
        signatures, bands, shingles, offsets = self._concatenate(parts, work_dir)
        has_shingles = np.diff(offsets) > 0
        pairs = self._candidates(bands, has_shingles)
        accepted, exact = self._verify(pairs, signatures, shingles, offsets)
        n = len(offsets) - 1
        graph = coo_matrix((np.ones(len(accepted), dtype=np.int8), (accepted[:, 0], accepted[:, 1])), shape=(n, n))
        _, labels = connected_components(graph, directed=False)
        return Clusters(labels, np.bincount(labels), len(pairs), len(accepted), exact)

    def _concatenate(self, parts: list[Path], work_dir: Path) -> tuple[np.ndarray, ...]:
        sizes = []
        for part in parts:
            offsets = _load(part)["shingle_offsets"]
            sizes.append((len(offsets) - 1, int(offsets[-1])))
        n, s = sum(d for d, _ in sizes), sum(k for _, k in sizes)
        first = _load(parts[0]) if parts else None
        perms = first["signature"].shape[1] if first else 1
        nbands = first["band_keys"].shape[1] if first else 1
        signatures = open_memmap(work_dir / "signatures.npy", "w+", np.uint32, (n, perms))
        bands = open_memmap(work_dir / "bands.npy", "w+", np.uint64, (n, nbands))
        shingles = open_memmap(work_dir / "shingles.npy", "w+", np.uint32, (max(s, 1),))
        offsets = np.zeros(n + 1, dtype=np.int64)
        doc = shingle = 0
        for part, (d, k) in zip(parts, sizes):
            data = _load(part)
            signatures[doc:doc + d] = data["signature"]
            bands[doc:doc + d] = data["band_keys"]
            shingles[shingle:shingle + k] = data["shingles"]
            offsets[doc + 1:doc + d + 1] = data["shingle_offsets"][1:] + shingle
            doc, shingle = doc + d, shingle + k
        return signatures, bands, shingles, offsets

    def _candidates(self, bands: np.ndarray, usable: np.ndarray) -> np.ndarray:
        """Distinct pairs (i < j) that share a band key, as an (m x 2) array."""
        n, nbands = bands.shape
        partitions = max(1, math.ceil(n / self.partition_rows))
        found: list[np.ndarray] = []
        chunk = self.partition_rows
        for band in range(nbands):
            for p in range(partitions):
                keys, docs = [], []
                for lo in range(0, n, chunk):
                    column = np.asarray(bands[lo:lo + chunk, band])
                    mask = usable[lo:lo + chunk] & (column % np.uint64(partitions) == np.uint64(p))
                    keys.append(column[mask])
                    docs.append(np.flatnonzero(mask) + lo)
                found.append(self._bucket_pairs(np.concatenate(keys), np.concatenate(docs)))
        pairs = np.concatenate(found) if found else np.empty((0, 2), np.int64)
        if not len(pairs):
            return pairs
        packed = np.unique(pairs[:, 0].astype(np.uint64) << np.uint64(32) | pairs[:, 1].astype(np.uint64))
        return np.stack([(packed >> np.uint64(32)).astype(np.int64), (packed & np.uint64(0xFFFFFFFF)).astype(np.int64)], 1)

    @staticmethod
    def _bucket_pairs(keys: np.ndarray, docs: np.ndarray) -> np.ndarray:
        """For each bucket of equal keys, pairs (its first document, each other document)."""
        order = np.argsort(keys, kind="stable")  # docs ascending within a bucket
        keys, docs = keys[order], docs[order]
        same_as_previous = np.r_[False, keys[1:] == keys[:-1]]
        bucket_start = np.maximum.accumulate(np.where(~same_as_previous, np.arange(len(keys)), 0))
        members = np.flatnonzero(same_as_previous)
        return np.stack([docs[bucket_start[members]], docs[members]], 1)

    def _verify(self, pairs: np.ndarray, signatures: np.ndarray, shingles: np.ndarray,
                offsets: np.ndarray) -> tuple[np.ndarray, int]:
        """The pairs whose Jaccard is at least the threshold, and how many needed the exact check."""
        t = self.threshold
        perms = signatures.shape[1]
        band = self.margin * math.sqrt(t * (1 - t) / perms)
        kept: list[np.ndarray] = []
        exact_checks = 0
        for lo in range(0, len(pairs), 100_000):
            chunk = pairs[lo:lo + 100_000]
            estimate = (signatures[chunk[:, 0]] == signatures[chunk[:, 1]]).mean(axis=1)
            accept = estimate >= t + band
            unsure = np.flatnonzero((estimate > t - band) & ~accept)
            exact_checks += len(unsure)
            for k in unsure:
                a, b = chunk[k]
                sa, sb = shingles[offsets[a]:offsets[a + 1]], shingles[offsets[b]:offsets[b + 1]]
                inter = np.intersect1d(sa, sb, assume_unique=True).size
                accept[k] = inter / (sa.size + sb.size - inter) >= t
            kept.append(chunk[accept])
        return (np.concatenate(kept) if kept else np.empty((0, 2), np.int64)), exact_checks
