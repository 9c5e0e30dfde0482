"""One batch through every detector: the scored columns and partials that engines and shard scanning share.

`score_part` also writes the batch's join arrays (MinHash signatures, band keys, shingles)
where it runs, so with worker processes those megabytes never travel back to the main
process, which only writes the small per-document table and merges partials."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from dataclasses import dataclass
from typing import Any

import numpy as np

from corpus_audit.io import atomic
from corpus_audit.io.run_state import join_file
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


def score_part(detectors: Sequence[Detector], texts: Sequence[str], out: Path, part: str) -> ScoredBatch:
    """Score one batch of documents part `part` and write its join arrays under `out`; the
    result keeps only the per-document columns and the partials."""
    scored = score_texts(detectors, texts)
    for detector in detectors:
        if detector.arrays:
            path = join_file(out, detector.name, part)
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic.write_arrays(path, {k: scored.columns.pop(k) for k in detector.arrays})
    return scored
