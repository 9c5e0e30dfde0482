"""Uniform random samples of the corpus, reproducible from `--seed`.

`--sample-fraction F` keeps each document independently with probability F, decided by
a counter-based hash of (seed, shard, position), so no count is needed and the choice does
not depend on batching or workers. `--sample N` draws exactly N documents uniformly
without replacement from the whole corpus, which needs the corpus size first (a counting
pass: free for Parquet, a read for the other formats).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from detectors.tokens import splitmix64


@dataclass(frozen=True)
class Sampler:
    """Which documents of each shard to keep."""

    fraction: float | None = None
    seed: int = 0
    chosen: dict[int, np.ndarray] | None = None  # shard index -> sorted positions, for --sample N

    def keep(self, shard_key: int, shard_index: int, positions: np.ndarray) -> np.ndarray:
        """Boolean mask over documents at `positions` (0-based order within the shard)."""
        if self.chosen is not None:
            return np.isin(positions, self.chosen.get(shard_index, np.empty(0, np.int64)))
        if self.fraction is None:
            return np.ones(len(positions), dtype=bool)
        with np.errstate(over="ignore"):
            salt = splitmix64(np.asarray([self.seed * 1_000_003 + shard_key], dtype=np.uint64))[0]
            u = splitmix64(positions.astype(np.uint64) ^ salt) >> np.uint64(11)
        return u.astype(np.float64) / float(1 << 53) < self.fraction


def choose_exact(counts: list[int], n: int, seed: int) -> dict[int, np.ndarray]:
    """Draw n documents uniformly without replacement across shards of the given sizes."""
    total = sum(counts)
    picks = np.sort(np.random.default_rng(seed).choice(total, size=min(n, total), replace=False))
    offsets = np.concatenate([[0], np.cumsum(counts)])
    return {i: picks[(picks >= offsets[i]) & (picks < offsets[i + 1])] - offsets[i] for i in range(len(counts))}
