"""Where the work runs: in this process, or in a pool of local worker processes.

An engine (the `Engine` protocol) scans shards through a `ShardScanner`, maps independent
jobs (the per-stratum estimates), runs the near-duplicate join and labels the documents
parts. The pipeline does not know which engine runs; every engine gives identical results
because scoring is a pure function of the texts and the detectors, and every file name is
fixed by its shard and batch. The Dask engine is in `corpus_audit.scan.dask_engine`.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import signal
import threading
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace
from functools import partial
from multiprocessing.queues import SimpleQueue
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import threadpoolctl

from corpus_audit.dedup.near_duplicates import Clusters, NearDuplicateJoin, label_part
from corpus_audit.errors import AuditError, SourceError
from corpus_audit.io.readers import Shard
from corpus_audit.io.run_state import ShardResult
from corpus_audit.scan import allocator, fork_server
from corpus_audit.scan.batch import ScoredBatch, score_part
from detectors import Detector

if TYPE_CHECKING:
    from corpus_audit.scan.shard_scan import PreparedBatch, ShardScanner

_WORKER_DETECTORS: list[Detector] = []
_WORKER_PROGRESS: list[SimpleQueue] = []  # where a worker scanning a whole shard counts each batch it stores


class ShardSink(Protocol):
    """What an engine tells the pipeline while it scans."""

    def advance(self, documents: int) -> None: ...

    def shard_done(self, result: ShardResult) -> None: ...

    def shard_failed(self, shard: Shard, err: SourceError) -> None: ...


PartLabels = Iterable[tuple[Path, list[str | None], list[str | None] | None]]  # part, near_dup_cluster, matches_reference


class Engine(Protocol):
    """Where a scan's work runs; used as a context manager that starts and ends the workers."""

    def __enter__(self) -> Engine: ...

    def __exit__(self, *exc: object) -> None: ...

    def scan(self, scanner: ShardScanner, shards: Sequence[Shard], sink: ShardSink) -> None: ...

    def map(self, function: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]: ...

    def join(self, join: NearDuplicateJoin, parts: list[Path], work_dir: Path, reference_parts: list[Path]) -> Clusters: ...

    def label(self, labels: PartLabels) -> None: ...


def _init_worker(detectors: list[Detector], progress: SimpleQueue) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group; the main process handles it
    threadpoolctl.threadpool_limits(1)  # one BLAS thread per worker: the pool already fills the cores
    allocator.keep_freed_memory()
    _exit_with_parent()
    _WORKER_DETECTORS[:] = detectors
    _WORKER_PROGRESS[:] = [progress]


def _exit_with_parent() -> None:
    """End this worker as soon as the process that started it is gone, even by kill -9.

    The pool's pipes are not enough: a worker waiting for work outlives a killed parent
    (and keeps the forkserver's resource tracker alive). The parent's sentinel is a pipe
    that only the parent holds open, so it becomes readable exactly when the parent dies."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        multiprocessing.connection.wait([parent.sentinel])
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _score_in_worker(texts: Sequence[str], out: Path, part: str) -> ScoredBatch:
    return score_part(_WORKER_DETECTORS, texts, out, part)


def _scan_shard_in_worker(scanner: ShardScanner, shard: Shard) -> ShardResult:
    return replace(scanner, detectors=_WORKER_DETECTORS).scan_shard(shard, _WORKER_PROGRESS[0].put)


def _worker_died(source: str) -> AuditError:
    return AuditError(f"a scoring worker process died (killed, or out of memory?) while scanning "
                      f"{source}; finished shards are kept: rerun with --resume")


def balanced(shards: Sequence[Shard], workers: int, slack: float = 1.05) -> bool:
    """Whether whole shards, one per task, keep `workers` busy to the end: every size known, and
    the shards dealt largest first to the least loaded worker end within `slack` of an even split
    (5%: about what sending every batch's texts to the workers costs a two-worker scan)."""
    sizes = [sum(s.size for s in shard.sources) if all(s.size is not None for s in shard.sources) else None
             for shard in shards]
    if len(shards) < workers or None in sizes:
        return False
    loads = [0] * workers
    for size in sorted(sizes, reverse=True):
        loads[loads.index(min(loads))] += size
    return max(loads) <= slack * sum(sizes) / workers


class _Deferred(Future):
    """A future whose work runs in this process when its result is first asked for: the first
    batch of a pooled scan, scored here while the workers score the batches read after it."""

    def __init__(self, work: Callable[[], Any]) -> None:
        super().__init__()
        self._work = work

    def result(self, timeout: float | None = None) -> Any:
        if not self.done():
            try:
                self.set_result(self._work())
            except BaseException as err:
                self.set_exception(err)
        return super().result(timeout)


class LocalEngine:
    """Scores in this process (`workers=1`) or in a process pool of `workers` processes.

    When the shards' sizes split evenly over the workers (`balanced`), each worker scans
    whole shards: it reads, scores and writes them, and this process only collects results.
    Otherwise this process reads the shards one after another; at most two batches per worker are
    being scored at once, so memory does not grow with the corpus, and results are stored
    in submission order. The pool starts with the second batch: a corpus of one batch is
    scored here, since starting workers would cost more than scoring it; it is scored when
    its result is awaited, so the workers have the batches read after it meanwhile. The
    fork server that makes the workers starts with the first batch at the latest (`audit()`
    starts it before it imports the pipeline), so that it imports on another core."""

    def __init__(self, detectors: Sequence[Detector], workers: int) -> None:
        self.detectors = list(detectors)
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None
        self._progress: SimpleQueue | None = None  # the workers' count of documents stored (`_advance`)
        self._submitted = 0

    def __enter__(self) -> LocalEngine:
        return self

    def _start_pool(self) -> ProcessPoolExecutor:
        context = fork_server.start()
        self._progress = context.SimpleQueue()
        self._pool = ProcessPoolExecutor(self.workers, mp_context=context, initializer=_init_worker,
                                         initargs=(self.detectors, self._progress))
        return self._pool

    def _advance(self, sink: ShardSink) -> None:
        """Tell `sink` of the documents the workers have stored since the last call."""
        while not self._progress.empty():
            sink.advance(self._progress.get())

    def __exit__(self, *exc: object) -> None:
        self.close(cancel=exc[0] is not None)

    def close(self, cancel: bool = False) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=cancel)
            self._pool = None

    @property
    def max_in_flight(self) -> int:
        return 2 * self.workers

    def submit(self, texts: Sequence[str], out: Path, part: str) -> Future[ScoredBatch]:
        """Score a batch of part `part` (writing its join arrays under `out`) in the pool, or here."""
        self._submitted += 1
        here = _Deferred(partial(score_part, self.detectors, texts, out, part))
        if self.workers == 1:
            here.result()  # scored now: one batch in memory at a time
            return here
        if self._submitted == 1:
            fork_server.start()
            return here  # scored when awaited, while the workers take the next batches
        return self._to_pool(_score_in_worker, texts, out, part)

    def _to_pool(self, function: Callable[..., Any], *args: Any) -> Future[Any]:
        try:
            return (self._pool or self._start_pool()).submit(function, *args)
        except OSError as err:  # the pool starts its workers on the first submit
            raise AuditError(f"cannot start local worker processes ({err.strerror or err}): they import the main "
                             "program, so a script must call audit() under `if __name__ == '__main__':` and a "
                             "program read from standard input cannot start them; or use one worker "
                             "(workers=1, --workers 1)") from None

    def scan(self, scanner: ShardScanner, shards: Sequence[Shard], sink: ShardSink) -> None:
        """Scan the shards, telling `sink` as each finishes or fails: each shard whole in a worker
        when their sizes keep every worker busy (`balanced`), else batch by batch."""
        if self.workers > 1 and balanced(shards, self.workers):
            self._scan_whole_shards(scanner, shards, sink)
        else:
            self._scan_batches(scanner, shards, sink)

    def _scan_whole_shards(self, scanner: ShardScanner, shards: Sequence[Shard], sink: ShardSink) -> None:
        """One task per shard: a worker reads, scores and writes it, and this process only collects
        the results (it neither reads the texts nor sends them, as batch by batch it must)."""
        light = replace(scanner, detectors=[])  # the workers hold the detectors (`_init_worker`)
        futures = {self._to_pool(_scan_shard_in_worker, light, shard): shard for shard in shards}
        pending = set(futures)
        try:
            while pending:
                done, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
                self._advance(sink)  # each stored batch, as the workers store them
                for future in sorted(done, key=lambda f: futures[f].index):
                    shard = futures[future]
                    try:
                        result = future.result()
                    except SourceError as err:  # the worker removed the shard's parts
                        sink.shard_failed(shard, err)
                        continue
                    except BrokenProcessPool:
                        raise _worker_died(shard.name) from None
                    sink.shard_done(result)
            self._advance(sink)
        finally:
            for future in pending:
                future.cancel()

    def _scan_batches(self, scanner: ShardScanner, shards: Sequence[Shard], sink: ShardSink) -> None:
        pending: deque[tuple[PreparedBatch, Future[ScoredBatch]]] = deque()

        def finish(item: PreparedBatch, future: Future[ScoredBatch]) -> None:
            try:
                scored = future.result()
            except BrokenProcessPool:
                raise _worker_died(item.batch.sources[0]) from None
            scanner.store(item, scored)
            sink.advance(len(item.batch))
            if item.work.complete:
                sink.shard_done(item.work.close())

        for shard in shards:
            work = scanner.start(shard)
            try:
                for item in scanner.batches(shard, work):
                    try:
                        pending.append((item, self.submit(item.texts, scanner.out.absolute(), item.part)))
                    except BrokenProcessPool:  # a worker died before this batch could be handed over
                        raise _worker_died(item.batch.sources[0]) from None
                    while len(pending) >= self.max_in_flight:
                        finish(*pending.popleft())
            except SourceError as err:
                while pending:
                    finish(*pending.popleft())
                scanner.discard(work.result.parts)
                sink.shard_failed(shard, err)
                continue
            if work.complete:
                sink.shard_done(work.close())
        while pending:
            finish(*pending.popleft())

    def map(self, function: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
        """`function` over independent items (per-stratum estimates), in the pool when there is one."""
        if self._pool is None:
            return [function(item) for item in items]
        return list(self._pool.map(function, items))

    def join(self, join: NearDuplicateJoin, parts: list[Path], work_dir: Path, reference_parts: list[Path]) -> Clusters:
        return join.run(parts, work_dir, reference_parts, self.map)

    def label(self, labels: PartLabels) -> None:
        for path, cluster, matches in labels:
            label_part(path, cluster, matches)
