"""One batch through every detector: the scored columns and partials that engines and shard scanning share."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from detectors import Detector
from detectors.prepared import PreparedTexts


@dataclass
class ScoredBatch:
    """Per-document columns of every detector, and each detector's batch partial."""

    columns: dict[str, np.ndarray]
    partials: dict[str, Any]


def score_texts(detectors: Sequence[Detector], texts: Sequence[str]) -> ScoredBatch:
    """Run every detector over one batch, which keeps what they derive from it for each other."""
    texts = PreparedTexts(texts)
    columns: dict[str, np.ndarray] = {}
    partials: dict[str, Any] = {}
    for detector in detectors:
        scores: Mapping[str, np.ndarray] = detector.score(texts)
        detector.validate_scores(texts, scores)
        columns.update({k: v for k, v in scores.items() if k not in detector.internal})
        partial = detector.partial(texts, scores)
        if partial is not None:
            partials[detector.name] = partial
    return ScoredBatch(columns, partials)
