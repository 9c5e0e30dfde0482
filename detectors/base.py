"""The detector protocol: a detector turns a batch of texts into per-document columns.

A detector knows nothing of files, engines or reports. It declares its output columns,
scores a batch, and may summarise a batch into a *mergeable partial result* (see
`detectors.partials`) that the pipeline merges across batches, shards and processes and
hands back to `summarize` for the detector's section of `audit.json`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from detectors.partials import Mergeable


@dataclass(frozen=True)
class Column:
    """One per-document output column of a detector."""

    name: str
    type: pa.DataType
    description: str


class Detector(ABC):
    """Base class of every scanner.

    Subclasses set `name` (also the key of their section in `audit.json`) and `columns`,
    and implement `score`. Detectors with a corpus-level summary also implement
    `partial` and `summarize`. Detectors that feed a corpus-wide join (near-duplicates)
    name in `arrays` the extra per-batch numpy arrays `score` returns beside the columns;
    the pipeline stores them for the join. Arrays named in `internal` are handed only to
    the detector's own `partial` (features it sampled while scoring) and never stored.
    Detectors must be picklable and
    deterministic: the same texts give the same outputs in any process.
    """

    name: str = ""
    columns: tuple[Column, ...] = ()
    arrays: tuple[str, ...] = ()
    internal: tuple[str, ...] = ()

    @abstractmethod
    def score(self, texts: Sequence[str]) -> Mapping[str, np.ndarray]:
        """Score a batch: one array of `len(texts)` values per declared column (and the `arrays`)."""

    def partial(self, texts: Sequence[str], scores: Mapping[str, np.ndarray]) -> Mergeable | None:
        """A mergeable summary of one scored batch (None: this detector has none)."""
        return None

    def summarize(self, partial: Mergeable) -> dict[str, Any]:
        """The detector's `audit.json` section, from the merged partial of the corpus."""
        return {}

    def config(self) -> dict[str, Any]:
        """The parameters that change this detector's output (recorded and fingerprinted)."""
        return {}

    @property
    def schema(self) -> pa.Schema:
        return pa.schema([pa.field(c.name, c.type) for c in self.columns])

    def validate_scores(self, texts: Sequence[str], scores: Mapping[str, np.ndarray]) -> None:
        """Fail loudly when `score` broke its own declaration (a bug, not bad input)."""
        expected = {c.name for c in self.columns} | set(self.arrays) | set(self.internal)
        if set(scores) != expected:
            raise RuntimeError(f"detector {self.name!r} returned {sorted(scores)}, declared {sorted(expected)}")
        for column in self.columns:
            values = scores[column.name]
            if len(values) != len(texts):
                raise RuntimeError(f"detector {self.name!r} column {column.name!r} has {len(values)} values for {len(texts)} texts")
