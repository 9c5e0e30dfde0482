"""Ids that more than one document carries: a column taken for an id that is not one.

A vendor's `id` column may count products, threads or authors instead of documents; then
`documents/`, the near-duplicate clusters and `--against` name documents ambiguously. Each
id is hashed to 64 bits into one file as the shards finish; at the end the hashes are
sorted a partition (by hash) of at most about `partition_rows` at a time, read a chunk at a
time: memory stays bounded whatever the corpus size. Two distinct ids share a hash with odds of about n^2 / 2^65 (3 in a million at
10 million documents); the examples are real ids, read back from the parts: those of the
first documents whose id an earlier document already had.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from corpus_audit.dedup.near_duplicates import selected_rows

EXAMPLES = 5


class IdHashes:
    """Each document's id hashed to 64 bits, in one file in corpus order (a hash's position in
    the file is its document's), appended part by part as a scan's shards finish."""

    def __init__(self, work: Path) -> None:
        self.path = work / "ids.bin"
        self.parts: list[Path] = []
        self._handle: BinaryIO | None = None

    def append(self, part: Path) -> None:
        if self._handle is None:
            self._handle = open(self.path, "wb")
        with open(part, "rb") as handle:  # not read_table: its dataset machinery costs as much again
            ids = pq.ParquetFile(handle, pre_buffer=False).read(["doc_id"], use_threads=False).column(0)
        self._handle.write(pd.util.hash_array(ids.to_numpy(zero_copy_only=False), categorize=False).tobytes())
        self.parts.append(part)

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()

    def duplicates(self, documents: Path, parts: list[str], partition_rows: int = 500_000) -> dict[str, object]:
        """`{duplicate_documents, duplicate_examples}`: how many documents of `parts` (those not
        appended yet are appended now) carry an id an earlier one has, and the first EXAMPLES such ids."""
        paths = [documents / part for part in parts]
        if self.parts != paths[:len(self.parts)]:
            raise RuntimeError("the id hashes hold parts that are not the corpus's first parts")
        for path in paths[len(self.parts):]:
            self.append(path)
        self.close()
        hashes = np.memmap(self.path, np.uint64, "r") if self.parts and self.path.stat().st_size else np.empty(0, np.uint64)
        partitions = max(1, math.ceil(len(hashes) / partition_rows))
        duplicates, seconds = 0, []
        for p in range(partitions):  # each partition's hashes and positions read a chunk at a time
            positions = np.concatenate([np.flatnonzero(hashes[lo:lo + partition_rows] % np.uint64(partitions) == p) + lo
                                        for lo in range(0, len(hashes), partition_rows)] or [np.empty(0, np.int64)])
            values = hashes[positions]
            order = np.argsort(values, kind="stable")  # positions stay ascending within an id
            ordered, positions = values[order], positions[order]
            again = ordered[1:] == ordered[:-1]
            duplicates += int(again.sum())
            second = again & ~np.r_[False, again[:-1]]  # each repeated id's second document
            seconds.append(np.sort(positions[1:][second])[:EXAMPLES])
        first = np.sort(np.concatenate(seconds))[:EXAMPLES]
        examples = [doc_id for rows, _ in selected_rows(documents, parts, first, ["doc_id"]) for doc_id in rows["doc_id"]]
        return {"duplicate_documents": duplicates, "duplicate_examples": examples}
