"""The corpus-wide near-duplicate join over the MinHash detector's per-batch arrays.

1. Append the batches' signatures, shingle sets, shingle offsets and band keys (one file
   per band) to flat files: signatures, shingles and offsets are read back through
   read-only memory maps (candidates are verified by random access), each band a chunk
   at a time, so nothing of size proportional to the corpus is held in memory.
2. For each LSH band, bucket documents by band key. Keys are hash-partitioned so that one
   partition holds at most about `partition_rows` keys (bounded memory whatever the
   corpus size: about 60 bytes per key at the sort, so 30 MB by default); within a
   partition a sort groups equal keys, and each bucket yields the pairs (first member,
   other member).
3. Verify each distinct candidate pair: the MinHash estimate decides when it is clearly
   above or below the threshold (more than `margin` standard errors away), the exact
   Jaccard of the two shingle sets decides the rest.
4. Clusters are the connected components of the verified pairs (scipy), so they are
   transitive by construction.

Reference documents (`--against`) join as extra nodes after the corpus: each bucket that
holds one also pairs its first reference document with every corpus document in it.
Verified corpus-reference pairs say which corpus documents near-duplicate the reference
set; they do not merge corpus clusters.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from corpus_audit.io import atomic



@dataclass
class Clusters:
    """Result of the join, sparse so that it does not grow with the corpus: the documents in
    a cluster and their cluster, the documents that match a reference, and how it was reached."""

    documents: int  # corpus documents joined
    members: np.ndarray  # corpus positions of the documents in a cluster of two or more, ascending
    member_cluster: np.ndarray  # each member's cluster (0 to len(sizes) - 1)
    sizes: np.ndarray  # size of each cluster
    candidate_pairs: int
    verified_pairs: int
    exact_checks: int
    matched: np.ndarray  # corpus positions of the documents that near-duplicate a reference document, ascending
    matched_reference: np.ndarray  # the first reference document each of them matches

    def within(self, positions: np.ndarray, start: int, stop: int) -> slice:
        """The slice of a sorted position array (members or matched) that falls in [start, stop)."""
        return slice(*np.searchsorted(positions, [start, stop]).tolist())


def load_arrays(path: Path | str, *names: str) -> dict[str, np.ndarray]:
    """The named arrays (all of them when none is named) of a join file, read without pickle."""
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in names or data.files}


class NearDuplicateJoin:
    """Finds clusters of documents whose shingle sets have Jaccard >= threshold."""

    def __init__(self, threshold: float, margin: float = 4.0, partition_rows: int = 500_000) -> None:
        self.threshold = threshold
        self.margin = margin
        self.partition_rows = partition_rows

    def run(self, parts: list[Path], work_dir: Path, reference_parts: list[Path] = (), map_: Callable[..., Iterable[Any]] = map) -> Clusters:
        """Cluster the documents of `parts` (in order); match them against `reference_parts`.
        The bands are searched through `map_` (the local engine's workers, or the builtin map)."""
        work_dir.mkdir(parents=True, exist_ok=True)
        n, perms, nbands, corpus = self._concatenate([*parts, *reference_parts], len(parts), work_dir)
        offsets = self._map(work_dir / "offsets.bin", np.int64, (n + 1,))
        found = list(map_(partial(self.band_pairs, offsets_path=work_dir / "offsets.bin", n=n, corpus=corpus),
                          [work_dir / f"band-{b}.bin" for b in range(nbands)]))
        pairs = distinct_pairs(found)
        signatures = self._map(work_dir / "signatures.bin", np.uint32, (n, perms))
        shingles = self._map(work_dir / "shingles.bin", np.uint32, (int(offsets[-1]),))
        accepted, exact = verify_pairs(pairs, signatures, shingles, offsets, self.threshold, self.margin)
        return clusters_from_edges(accepted, corpus, len(pairs), exact)

    @staticmethod
    def _map(path: Path, dtype: type, shape: tuple[int, ...]) -> np.ndarray:
        if math.prod(shape) == 0:
            return np.zeros(shape, dtype=dtype)
        return np.memmap(path, dtype=dtype, mode="r", shape=shape)

    @staticmethod
    def _concatenate(parts: list[Path], corpus_parts: int, work_dir: Path) -> tuple[int, int, int, int]:
        """Append every part's arrays to flat files (the shingle offsets made global); return
        the number of documents, the signature and band widths, and how many documents the
        first `corpus_parts` hold."""
        documents = perms = nbands = corpus = shingle_count = 0
        with ExitStack() as stack:
            files = {name: stack.enter_context(open(work_dir / f"{name}.bin", "wb")) for name in ("signatures", "shingles", "offsets")}
            files["offsets"].write(np.zeros(1, np.int64).tobytes())
            band_files: list = []
            for k, part in enumerate(parts):
                data = load_arrays(part)
                perms, nbands = data["signature"].shape[1], data["band_keys"].shape[1]
                while len(band_files) < nbands:
                    band_files.append(stack.enter_context(open(work_dir / f"band-{len(band_files)}.bin", "wb")))
                files["signatures"].write(np.ascontiguousarray(data["signature"], np.uint32).tobytes())
                files["shingles"].write(np.ascontiguousarray(data["shingles"], np.uint32).tobytes())
                for band, handle in enumerate(band_files):
                    handle.write(np.ascontiguousarray(data["band_keys"][:, band], np.uint64).tobytes())
                files["offsets"].write((data["shingle_offsets"][1:].astype(np.int64) + shingle_count).tobytes())
                shingle_count += int(data["shingle_offsets"][-1])
                documents += len(data["shingle_offsets"]) - 1
                if k + 1 == corpus_parts:
                    corpus = documents
        return documents, max(perms, 1), nbands, corpus

    def band_pairs(self, band: Path, offsets_path: Path, n: int, corpus: int) -> np.ndarray:
        """Pairs of documents with shingles that share a key of this band (file).

        The band is read a chunk at a time (not mapped), once per partition, so what is held
        at once is one partition's keys, whatever the corpus size."""
        offsets = self._map(offsets_path, np.int64, (n + 1,))
        partitions = max(1, math.ceil(n / self.partition_rows))
        found: list[np.ndarray] = []
        chunk = self.partition_rows
        for p in range(partitions):
            keys, docs = [], []
            for lo in range(0, n, chunk):
                values = np.fromfile(band, np.uint64, count=min(chunk, n - lo), offset=lo * 8)
                usable = np.diff(offsets[lo:lo + len(values) + 1]) > 0
                mask = usable & (values % np.uint64(partitions) == np.uint64(p))
                keys.append(values[mask])
                docs.append(np.flatnonzero(mask) + lo)
            found.append(self.bucket_pairs(np.concatenate(keys), np.concatenate(docs), corpus))
        return np.concatenate(found)

    @staticmethod
    def bucket_pairs(keys: np.ndarray, docs: np.ndarray, corpus: int) -> np.ndarray:
        """For each bucket of equal keys, pairs (its first document, each other document),
        and (each corpus document, the bucket's first reference document)."""
        if not len(keys):
            return np.empty((0, 2), dtype=np.int64)
        order = np.argsort(keys, kind="stable")  # docs ascending within a bucket
        keys, docs = keys[order], docs[order]
        new = np.r_[True, keys[1:] != keys[:-1]]
        bucket = np.cumsum(new) - 1
        first = docs[new][bucket]
        pairs = [np.stack([first[~new], docs[~new]], 1)]
        is_reference = docs >= corpus
        if is_reference.any():
            reference_start = is_reference & (new | ~np.r_[False, is_reference[:-1]])
            reference_of = np.full(int(bucket[-1]) + 1, -1, dtype=np.int64)
            reference_of[bucket[reference_start]] = docs[reference_start]
            linked = ~is_reference & (reference_of[bucket] >= 0)
            pairs.append(np.stack([docs[linked], reference_of[bucket[linked]]], 1))
        return np.concatenate(pairs)


def distinct_pairs(found: list[np.ndarray]) -> np.ndarray:
    """The distinct pairs (i < j) of several bands' pair arrays, as an (m x 2) array."""
    pairs = np.concatenate(found) if found else np.empty((0, 2), np.int64)
    if not len(pairs):
        return pairs.reshape(0, 2)
    packed = np.unique(pairs[:, 0].astype(np.uint64) << np.uint64(32) | pairs[:, 1].astype(np.uint64))
    return np.stack([(packed >> np.uint64(32)).astype(np.int64), (packed & np.uint64(0xFFFFFFFF)).astype(np.int64)], 1)


def verify_pairs(pairs: np.ndarray, signatures: np.ndarray, shingles: np.ndarray, offsets: np.ndarray,
                 threshold: float, margin: float) -> tuple[np.ndarray, int]:
    """The candidate pairs whose Jaccard is at least `threshold`, and how many needed the exact check.

    `signatures[i]` and `shingles[offsets[i]:offsets[i + 1]]` are document i's MinHash
    signature and sorted shingle hashes (memory maps for the local join, gathered rows on
    a Dask worker)."""
    t = threshold
    perms = signatures.shape[1]
    band = margin * math.sqrt(t * (1 - t) / perms)
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


def clusters_from_edges(accepted: np.ndarray, corpus: int, candidate_pairs: int, exact_checks: int) -> Clusters:
    """Clusters as connected components of the verified pairs among the first `corpus`
    documents; pairs with a later (reference) document give each corpus document's match.
    Only documents on an edge are nodes of the graph, so its size follows the duplicates."""
    accepted = accepted.reshape(-1, 2)
    inside = accepted[accepted[:, 1] < corpus]
    members, ends = np.unique(inside, return_inverse=True)
    ends = ends.reshape(-1, 2)
    graph = coo_matrix((np.ones(len(ends), dtype=np.int8), (ends[:, 0], ends[:, 1])), shape=(len(members),) * 2)
    _, member_cluster = connected_components(graph, directed=False)
    matches = accepted[(accepted[:, 0] < corpus) & (accepted[:, 1] >= corpus)]
    matches = matches[np.lexsort((matches[:, 1], matches[:, 0]))]
    first = np.r_[True, matches[1:, 0] != matches[:-1, 0]] if len(matches) else np.zeros(0, bool)
    return Clusters(corpus, members.astype(np.int64), member_cluster, np.bincount(member_cluster), candidate_pairs,
                    len(inside), exact_checks, matches[first, 0].astype(np.int64), matches[first, 1] - corpus)


@dataclass
class ClusterSummary:
    """What the documents of the largest clusters are, for the report."""

    representatives: dict[int, str]  # component label -> smallest doc_id of the cluster
    largest: list[tuple[int, str, list[str], tuple[str, int]]]  # label, representative, first members, (source, row) of the first


def summarize_clusters(documents: Path, parts: list[str], clusters: Clusters, top: int = 10) -> ClusterSummary:
    """Representatives of every cluster and the members of the largest, reading ids part by part."""
    representatives: dict[int, str] = {}
    for ids, which in selected_rows(documents, parts, clusters.members, ["doc_id"]):
        for doc_id, label in zip(ids["doc_id"], clusters.member_cluster[which].tolist()):
            if label not in representatives or doc_id < representatives[label]:
                representatives[label] = doc_id
    order = sorted(representatives.items(), key=lambda kv: (-int(clusters.sizes[kv[0]]), kv[1]))[:top]
    wanted = {label: ([], None) for label, _ in order}
    for ids, which in selected_rows(documents, parts, clusters.members, ["doc_id", "source", "row"]):
        for doc_id, source, row, label in zip(ids["doc_id"], ids["source"], ids["row"], clusters.member_cluster[which].tolist()):
            if label in wanted:
                found, first = wanted[label]
                if len(found) < 5:
                    found.append(doc_id)
                wanted[label] = (found, first or (source, row))
    return ClusterSummary(representatives, [(label, rep, *wanted[label]) for label, rep in order])


def _part_ranges(documents: Path, parts: list[str]) -> Iterator[tuple[str, int, int]]:
    """(part, corpus position of its first document, its number of documents), from metadata."""
    offset = 0
    for part in parts:
        rows = pq.ParquetFile(documents / part).metadata.num_rows
        yield part, offset, rows
        offset += rows


def selected_rows(documents: Path, parts: list[str], positions: np.ndarray,
                  columns: list[str]) -> Iterator[tuple[dict[str, list], slice]]:
    """Per part holding any of the ascending corpus `positions`: the columns of those
    documents, and which slice of `positions` they are."""
    for part, offset, rows in _part_ranges(documents, parts):
        lo, hi = np.searchsorted(positions, [offset, offset + rows]).tolist()
        if hi > lo:
            yield pq.read_table(documents / part, columns=columns).take(positions[lo:hi] - offset).to_pydict(), slice(lo, hi)


def part_labels(documents: Path, parts: list[str], clusters: Clusters, representatives: dict[int, str],
                reference_ids: list[str] | None) -> Iterator[tuple[Path, list[str | None], list[str | None] | None]]:
    """Per part that holds a cluster member or a reference match (its path): each document's
    `near_dup_cluster` (and `matches_reference` with --against). The scan wrote both columns
    null, so a part with neither is already right and is not rewritten."""
    for part, offset, rows in _part_ranges(documents, parts):
        which = clusters.within(clusters.members, offset, offset + rows)
        matched = clusters.within(clusters.matched, offset, offset + rows)
        if which.start == which.stop and (reference_ids is None or matched.start == matched.stop):
            continue
        cluster: list[str | None] = [None] * rows
        for position, label in zip(clusters.members[which].tolist(), clusters.member_cluster[which].tolist()):
            cluster[position - offset] = representatives[label]
        matches: list[str | None] | None = None
        if reference_ids is not None:
            matches = [None] * rows
            for position, reference in zip(clusters.matched[matched].tolist(), clusters.matched_reference[matched].tolist()):
                matches[position - offset] = reference_ids[reference]
        yield documents / part, cluster, matches


def label_part(path: Path, cluster: list[str | None], matches: list[str | None] | None) -> None:
    """Rewrite one documents part with its `near_dup_cluster` (and `matches_reference`) column."""
    table = pq.read_table(path)
    table = table.drop_columns([c for c in ("near_dup_cluster", "matches_reference") if c in table.column_names])
    table = table.append_column("near_dup_cluster", pa.array(cluster, pa.string()))
    if matches is not None:
        table = table.append_column("matches_reference", pa.array(matches, pa.string()))
    atomic.write_parquet(path, table)
