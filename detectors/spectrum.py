"""The corpus's word-frequency spectrum, which the collapse projection runs on.

Words are the normalised words of `detectors.tokens` (lower-cased, punctuation folded).
The partial is a `TypeCounts`: exact counts per word type up to a cap on the number of
types, a uniform hash sample of the vocabulary beyond it (see `detectors.partials`). The
summary keeps the counts of counts, which is all the projection and Good-Turing need.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from detectors.base import Detector
from detectors.partials import Bundle, TypeCounts
from detectors.tokens import hash_words


class WordSpectrumDetector(Detector):
    """Counts word types over the corpus (no per-document columns)."""

    name = "spectrum"

    def __init__(self, max_types: int = 1 << 18) -> None:
        self.max_types = max_types

    def score(self, texts: Sequence[str]) -> Mapping[str, np.ndarray]:
        return {}

    def partial(self, texts: Sequence[str], scores: Mapping[str, np.ndarray]) -> Bundle:
        words = hash_words(texts)
        uses = np.bincount(words.index, minlength=len(words.distinct))
        return Bundle({"types": TypeCounts(self.max_types).add(words.distinct, uses)})

    def summarize(self, partial: Bundle) -> dict[str, Any]:
        counts: TypeCounts = partial.parts["types"]
        values, types = counts.counts_of_counts()
        hapaxes = float(types[values == 1].sum())
        return {
            "tokens": counts.tokens,
            "types": float(types.sum()),
            "exact": counts.level == 0,
            "sampled_share_of_types": 2.0**-counts.level,
            "good_turing_unseen_mass": hapaxes / counts.tokens if counts.tokens else 0.0,
            "counts_of_counts": [[int(c), float(n)] for c, n in zip(values, types)],
            "max_types": self.max_types,
            "approximation": "exact counts" if counts.level == 0 else
            f"counts of a uniform hash sample of 1/{2**counts.level} of the word types, scaled up",
        }

    def config(self) -> dict[str, Any]:
        return {"max_types": self.max_types}
