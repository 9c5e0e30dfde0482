"""Where batches are scored: in this process, or in a pool of worker processes.

An engine takes batches of texts and returns futures of their scores. The pipeline does
not know which engine runs; both give identical results because scoring is a pure
function of the texts and the detectors.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from detectors import Detector

_WORKER_DETECTORS: list[Detector] = []


@dataclass
class ScoredBatch:
    """Per-document columns of every detector, and each detector's batch partial."""

    columns: dict[str, np.ndarray]
    partials: dict[str, Any]


def score_texts(detectors: Sequence[Detector], texts: Sequence[str]) -> ScoredBatch:
    """Run every detector over one batch."""
    columns: dict[str, np.ndarray] = {}
    partials: dict[str, Any] = {}
    for detector in detectors:
        scores: Mapping[str, np.ndarray] = detector.score(texts)
        detector.validate_scores(texts, scores)
        columns.update(scores)
        partial = detector.partial(texts, scores)
        if partial is not None:
            partials[detector.name] = partial
    return ScoredBatch(columns, partials)


def _init_worker(detectors: list[Detector]) -> None:
    _WORKER_DETECTORS[:] = detectors


def _score_in_worker(texts: Sequence[str]) -> ScoredBatch:
    return score_texts(_WORKER_DETECTORS, texts)


class LocalEngine:
    """Scores in this process (`workers=1`) or in a process pool of `workers` processes."""

    def __init__(self, detectors: Sequence[Detector], workers: int) -> None:
        self.detectors = list(detectors)
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> LocalEngine:
        if self.workers > 1:
            context = multiprocessing.get_context("forkserver")
            self._pool = ProcessPoolExecutor(self.workers, mp_context=context, initializer=_init_worker,
                                             initargs=(self.detectors,))
        return self

    def __exit__(self, *exc: object) -> None:
        self.close(cancel=exc[0] is not None)

    def close(self, cancel: bool = False) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=cancel)
            self._pool = None

    @property
    def max_in_flight(self) -> int:
        return 2 * self.workers

    def submit(self, texts: Sequence[str]) -> Future[ScoredBatch]:
        if self._pool is not None:
            return self._pool.submit(_score_in_worker, texts)
        future: Future[ScoredBatch] = Future()
        future.set_result(score_texts(self.detectors, texts))
        return future
