"""Ids that more than one document carries: a column taken for an id that is not one.

A vendor's `id` column may count products, threads or authors instead of documents; then
`documents/`, the near-duplicate clusters and `--against` name documents ambiguously. Each
id is hashed to 64 bits into a file, and the hashes are sorted a partition (by hash) of at
most about `partition_rows` at a time, gathered a chunk at a time: memory stays bounded
whatever the corpus size. Two distinct ids share a hash with odds of about n^2 / 2^65 (3 in a million at
10 million documents); the examples are real ids, read back from the parts: those of the
first documents whose id an earlier document already had.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from corpus_audit.dedup.near_duplicates import selected_rows

EXAMPLES = 5


def duplicate_ids(documents: Path, parts: list[str], work: Path, partition_rows: int = 500_000) -> dict[str, object]:
    """`{duplicate_documents, duplicate_examples}`: how many documents of `parts` carry an id an
    earlier one already has, and the first EXAMPLES such ids. `work` holds the hashes meanwhile."""
    path = work / "ids.bin"
    try:
        with open(path, "wb") as out:
            for part in parts:
                with open(documents / part, "rb") as handle:  # not read_table: its dataset machinery costs as much again
                    ids = pq.ParquetFile(handle, pre_buffer=False).read(["doc_id"], use_threads=False).column(0)
                out.write(pd.util.hash_array(ids.to_numpy(zero_copy_only=False), categorize=False).tobytes())
        hashes = np.memmap(path, np.uint64, "r") if path.stat().st_size else np.empty(0, np.uint64)
        first, duplicates = _first_repeats(hashes, partition_rows)
    finally:
        path.unlink(missing_ok=True)
    examples = [doc_id for rows, _ in selected_rows(documents, parts, first, ["doc_id"]) for doc_id in rows["doc_id"]]
    return {"duplicate_documents": duplicates, "duplicate_examples": examples}


def _first_repeats(hashes: np.ndarray, partition_rows: int) -> tuple[np.ndarray, int]:
    """The positions of the first EXAMPLES documents whose hash came before, and how many do."""
    partitions = max(1, math.ceil(len(hashes) / partition_rows))
    duplicates, seconds = 0, []
    for p in range(partitions):  # each partition's hashes and positions gathered a chunk at a time
        positions = np.concatenate([np.flatnonzero(hashes[lo:lo + partition_rows] % np.uint64(partitions) == p) + lo
                                    for lo in range(0, len(hashes), partition_rows)] or [np.empty(0, np.int64)])
        values = hashes[positions]
        order = np.argsort(values, kind="stable")  # positions stay ascending within an id
        ordered, positions = values[order], positions[order]
        again = ordered[1:] == ordered[:-1]
        duplicates += int(again.sum())
        second = again & ~np.r_[False, again[:-1]]  # each repeated id's second document
        seconds.append(np.sort(positions[1:][second])[:EXAMPLES])
    return np.sort(np.concatenate(seconds))[:EXAMPLES], duplicates
