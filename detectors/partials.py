"""Mergeable partial results: summaries of one batch that combine into the corpus's.

Every partial is an associative `merge`, and serialises to plain JSON (`to_state` /
`from_state`) so that finished shards can be stored for `--resume` and moved between
processes without pickle.
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass, field
from typing import Any, Protocol, Self

import numpy as np


class Mergeable(Protocol):
    def merge(self, other: Self) -> Self: ...

    def to_state(self) -> dict[str, Any]: ...

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Self: ...


@dataclass
class Histogram:
    """Fixed-bin histogram of one numeric column, with exact count, mean, min and max.

    Bins are linear over [lo, hi] or logarithmic over [lo, hi] (lo > 0) for unbounded
    magnitudes such as lengths; values outside fall into the first or last bin, so
    quantiles are exact to within a bin (and clamped to the exact min and max). Values
    equal to `lo` (a measure that is exactly 0 for most documents) are counted apart, so
    such a point mass has exact quantiles.
    """

    lo: float
    hi: float
    bins: int = 1000
    log: bool = False
    counts: np.ndarray = field(default=None)  # type: ignore[assignment]
    count: int = 0
    total: float = 0.0
    minimum: float = math.inf
    maximum: float = -math.inf
    at_lo: int = 0

    def __post_init__(self) -> None:
        if self.counts is None:
            self.counts = np.zeros(self.bins, dtype=np.int64)

    def _position(self, values: np.ndarray) -> np.ndarray:
        if self.log:
            values = np.log(np.maximum(values, self.lo))
            lo, hi = math.log(self.lo), math.log(self.hi)
        else:
            lo, hi = self.lo, self.hi
        return (values - lo) / (hi - lo) * self.bins

    def _edge(self, position: float) -> float:
        if self.log:
            lo, hi = math.log(self.lo), math.log(self.hi)
            return math.exp(lo + position / self.bins * (hi - lo))
        return self.lo + position / self.bins * (self.hi - self.lo)

    def centres(self) -> np.ndarray:
        """The middle of each bin."""
        return np.array([self._edge(b + 0.5) for b in range(self.bins)])

    def add(self, values: np.ndarray) -> Self:
        values = np.asarray(values, dtype=np.float64)
        values = values[np.isfinite(values)]
        if values.size == 0:
            return self
        index = np.clip(self._position(values).astype(np.int64), 0, self.bins - 1)
        self.counts += np.bincount(index, minlength=self.bins)
        self.count += int(values.size)
        self.at_lo += int((values == self.lo).sum())
        self.total += float(values.sum())
        self.minimum = min(self.minimum, float(values.min()))
        self.maximum = max(self.maximum, float(values.max()))
        return self

    def merge(self, other: Self) -> Self:
        if (self.lo, self.hi, self.bins, self.log) != (other.lo, other.hi, other.bins, other.log):
            raise ValueError("cannot merge histograms with different bins")
        return type(self)(
            self.lo, self.hi, self.bins, self.log, self.counts + other.counts,
            self.count + other.count, self.total + other.total,
            min(self.minimum, other.minimum), max(self.maximum, other.maximum), self.at_lo + other.at_lo,
        )

    def quantile(self, q: float) -> float:
        """Quantile by linear interpolation inside the bin that holds it."""
        if self.count == 0:
            return math.nan
        if q * self.count <= self.at_lo:
            return float(self.lo)
        cumulative = np.cumsum(self.counts)
        target = q * self.count
        b = int(np.searchsorted(cumulative, target, side="left"))
        b = min(b, self.bins - 1)
        before = cumulative[b - 1] if b > 0 else 0
        inside = (target - before) / self.counts[b] if self.counts[b] else 0.0
        value = self._edge(b + inside)
        return float(min(max(value, self.minimum), self.maximum))

    def summary(self, quantiles: tuple[float, ...] = (0.05, 0.25, 0.5, 0.75, 0.95)) -> dict[str, Any]:
        if self.count == 0:
            return {"count": 0}
        out: dict[str, Any] = {"count": self.count, "mean": self.total / self.count, "min": self.minimum, "max": self.maximum}
        out["quantiles"] = {f"{q:g}": self.quantile(q) for q in quantiles}
        return out

    def to_state(self) -> dict[str, Any]:
        nonzero = np.flatnonzero(self.counts)
        return {
            "lo": self.lo, "hi": self.hi, "bins": self.bins, "log": self.log,
            "nonzero": nonzero.tolist(), "nonzero_counts": self.counts[nonzero].tolist(),
            "count": self.count, "total": self.total, "at_lo": self.at_lo,
            "minimum": self.minimum if self.count else None, "maximum": self.maximum if self.count else None,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Self:
        h = cls(state["lo"], state["hi"], state["bins"], state["log"])
        h.counts[np.asarray(state["nonzero"], dtype=np.int64)] = state["nonzero_counts"]
        h.count, h.total, h.at_lo = state["count"], state["total"], state["at_lo"]
        h.minimum = math.inf if state["minimum"] is None else state["minimum"]
        h.maximum = -math.inf if state["maximum"] is None else state["maximum"]
        return h


@dataclass
class Tally:
    """Named integer counters (documents flagged, over a threshold, ...)."""

    counts: dict[str, int] = field(default_factory=dict)

    def add(self, name: str, amount: int) -> Self:
        self.counts[name] = self.counts.get(name, 0) + int(amount)
        return self

    def merge(self, other: Self) -> Self:
        merged = dict(self.counts)
        for name, amount in other.counts.items():
            merged[name] = merged.get(name, 0) + amount
        return type(self)(merged)

    def to_state(self) -> dict[str, Any]:
        return {"counts": dict(sorted(self.counts.items()))}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Self:
        return cls(dict(state["counts"]))


def _pack(array: np.ndarray) -> str:
    return base64.b64encode(array.tobytes()).decode("ascii")


@dataclass
class TypeCounts:
    """Exact counts of word types (by 64-bit hash) in bounded memory, mergeable.

    While the vocabulary fits in `cap` types every count is exact. Beyond that, only the
    types whose hash falls in the lowest 1/2^level of the hash range are kept, `level`
    rising until they fit: a uniform random sample of the vocabulary whose kept counts are
    still exact, so the counts of counts scaled by 2^level estimate the whole
    vocabulary's without bias. Merging keeps the higher level, so any merge order gives
    the same result. The token total is always exact.
    """

    cap: int = 1 << 18
    hashes: np.ndarray = field(default=None)  # type: ignore[assignment]  # sorted, distinct uint64
    counts: np.ndarray = field(default=None)  # type: ignore[assignment]  # int64
    level: int = 0
    tokens: int = 0

    def __post_init__(self) -> None:
        if self.hashes is None:
            self.hashes, self.counts = np.zeros(0, np.uint64), np.zeros(0, np.int64)

    def _kept(self, hashes: np.ndarray, level: int) -> np.ndarray:
        return hashes >> np.uint64(64 - level) == 0 if level else np.ones(len(hashes), bool)

    def add(self, hashes: np.ndarray, counts: np.ndarray | None = None) -> Self:
        """Count a batch of word hashes; with `counts`, `hashes` are types and `counts` their
        numbers of tokens (a batch's distinct words, counted without sorting every token)."""
        hashes = np.asarray(hashes, np.uint64)
        if counts is None:
            values, counts = np.unique(hashes, return_counts=True)
        else:
            order = np.argsort(hashes)
            values, counts = hashes[order], np.asarray(counts, np.int64)[order]
            first = np.flatnonzero(np.r_[True, values[1:] != values[:-1]]) if values.size else np.zeros(0, np.int64)
            values, counts = values[first], np.add.reduceat(counts, first) if first.size else counts
        self.tokens += int(counts.sum())
        return self._absorb(values, counts.astype(np.int64), self.level)

    def _absorb(self, values: np.ndarray, counts: np.ndarray, level: int) -> Self:
        """Add sorted distinct (hash, count) pairs at `level`, then shrink to the cap."""
        self.level = max(self.level, level)
        keep = self._kept(values, self.level)
        values, counts = values[keep], counts[keep]
        mine = self._kept(self.hashes, self.level)
        self.hashes, self.counts = self.hashes[mine], self.counts[mine]
        at = np.searchsorted(self.hashes, values)
        known = at < len(self.hashes)
        known[known] = self.hashes[at[known]] == values[known]
        np.add.at(self.counts, at[known], counts[known])
        self.hashes = np.insert(self.hashes, at[~known], values[~known])
        self.counts = np.insert(self.counts, at[~known], counts[~known])
        while len(self.hashes) > self.cap:
            self.level += 1
            keep = self._kept(self.hashes, self.level)
            self.hashes, self.counts = self.hashes[keep], self.counts[keep]
        return self

    def merge(self, other: Self) -> Self:
        if self.cap != other.cap:
            raise ValueError("cannot merge type counts with different caps")
        merged = type(self)(self.cap, self.hashes.copy(), self.counts.copy(), self.level, self.tokens + other.tokens)
        return merged._absorb(other.hashes, other.counts, other.level)

    def counts_of_counts(self) -> tuple[np.ndarray, np.ndarray]:
        """Distinct counts c and the estimated number of types seen exactly c times."""
        values, types = np.unique(self.counts, return_counts=True)
        return values, types.astype(np.float64) * 2.0**self.level

    def to_state(self) -> dict[str, Any]:
        return {"cap": self.cap, "level": self.level, "tokens": self.tokens,
                "hashes": _pack(self.hashes), "counts": _pack(self.counts)}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Self:
        unpack = lambda key, dtype: np.frombuffer(base64.b64decode(state[key]), dtype).copy()  # noqa: E731
        return cls(state["cap"], unpack("hashes", np.uint64), unpack("counts", np.int64), state["level"], state["tokens"])


@dataclass
class Sample:
    """A uniform sample of up to `size` rows of a float matrix, mergeable in any order.

    Each row comes with a 64-bit priority (a hash of its document); the sample is the rows
    of the lowest priorities, so merging two samples and keeping the lowest again gives the
    sample of the union (bottom-k sampling), whatever the order of the batches.
    """

    size: int = 2000
    priorities: np.ndarray = field(default=None)  # type: ignore[assignment]  # uint64, sorted
    rows: np.ndarray = field(default=None)  # type: ignore[assignment]  # float32 (n, width)

    def __post_init__(self) -> None:
        if self.priorities is None:
            self.priorities, self.rows = np.zeros(0, np.uint64), np.zeros((0, 0), np.float32)

    def add(self, priorities: np.ndarray, rows: np.ndarray) -> Self:
        """Offer a batch of rows; keep the `size` of lowest priority."""
        if not len(rows):
            return self
        both_priorities = np.concatenate([self.priorities, np.asarray(priorities, np.uint64)])
        width = rows.shape[1]
        both_rows = np.vstack([self.rows.reshape(-1, width), np.asarray(rows, np.float32).reshape(-1, width)])
        keep = np.argsort(both_priorities, kind="stable")[: self.size]
        self.priorities, self.rows = both_priorities[keep], both_rows[keep]
        return self

    def merge(self, other: Self) -> Self:
        if self.size != other.size:
            raise ValueError("cannot merge samples of different sizes")
        return type(self)(self.size, self.priorities.copy(), self.rows.copy()).add(other.priorities, other.rows)

    def to_state(self) -> dict[str, Any]:
        return {"size": self.size, "width": int(self.rows.shape[1]), "priorities": _pack(self.priorities),
                "rows": _pack(self.rows.astype(np.float32))}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Self:
        unpack = lambda key, dtype: np.frombuffer(base64.b64decode(state[key]), dtype).copy()  # noqa: E731
        if not state["width"]:
            return cls(state["size"])
        return cls(state["size"], unpack("priorities", np.uint64), unpack("rows", np.float32).reshape(-1, state["width"]))


@dataclass
class Bundle:
    """Several named partials merged side by side (a detector's whole partial)."""

    parts: dict[str, Histogram | Tally | TypeCounts | Sample]

    _types = {"histogram": Histogram, "tally": Tally, "type_counts": TypeCounts, "sample": Sample}

    def merge(self, other: Self) -> Self:
        if self.parts.keys() != other.parts.keys():
            raise ValueError("cannot merge bundles with different parts")
        return type(self)({k: v.merge(other.parts[k]) for k, v in self.parts.items()})

    def to_state(self) -> dict[str, Any]:
        kinds = {Histogram: "histogram", Tally: "tally", TypeCounts: "type_counts", Sample: "sample"}
        return {k: {"kind": kinds[type(v)], "state": v.to_state()} for k, v in self.parts.items()}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Self:
        return cls({k: cls._types[v["kind"]].from_state(v["state"]) for k, v in state.items()})
