"""The Dask engine: the same scan on a `dask.distributed` cluster.

- Each shard is one task: the worker reads it, scores its batches and writes its
  `documents/` parts and join arrays itself, straight into `--out` (which every worker must
  see at the same path), and returns only the shard's small result. The pipeline merges
  those in shard order, as with the local engine, so float sums add up in the same order.
- The near-duplicate join is a Dask DataFrame shuffle: workers emit (band, key, document)
  rows from their parts, a shuffle on the key brings each bucket to one partition, which
  emits candidate pairs; a second shuffle on the pair removes duplicates, and each
  partition verifies its pairs by reading the signatures it needs from the parts. Only
  the verified edges come back here, for the connected components.
- Progress comes batch by batch: each task logs an event per batch stored (`log_event`),
  which the client follows (`ShardProgress`).
- A task whose worker dies is run again by Dask on another worker. Its files have fixed
  names and are written atomically, so the rerun neither loses nor duplicates documents.
"""

from __future__ import annotations

import logging
import math
import os
import signal
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import CancelledError
from pathlib import Path
from types import TracebackType
from typing import Any

import dask
import dask.dataframe as dd
import numpy as np
import pandas as pd
from distributed import Client, LocalCluster, WorkerPlugin, as_completed, get_worker

from corpus_audit import __version__
from corpus_audit.dedup.near_duplicates import (
    Clusters,
    NearDuplicateJoin,
    clusters_from_edges,
    label_part,
    load_arrays,
    verify_pairs,
)
from corpus_audit.errors import AuditError, SourceError
from corpus_audit.io.readers import Shard
from corpus_audit.io.run_state import ShardResult
from corpus_audit.scan import allocator
from corpus_audit.scan.engines import PartLabels, ShardSink
from corpus_audit.scan.shard_scan import ShardScanner

_KEYS_META = pd.DataFrame({"band": np.empty(0, np.int32), "key": np.empty(0, np.uint64), "doc": np.empty(0, np.int64)})
_PAIRS_META = pd.DataFrame({"pair": np.empty(0, np.uint64)})
_LABELS_IN_FLIGHT = 64
_RESUBMITS = 3  # times a shard whose task was cancelled (its scattered scanner lost) is submitted again
CONNECT_TIMEOUT = "30s"


def _worker_environment() -> dict[str, object]:
    """Dask's worker environment without MALLOC_TRIM_THRESHOLD_=65536, which returns memory to
    the system so eagerly that the detectors ran 1.6x slower (measured), and with the local
    engine's allocator settings instead (`corpus_audit.scan.allocator`); thread limits stay."""
    environment = dict(dask.config.get("distributed.nanny.pre-spawn-environ"))
    environment.pop("MALLOC_TRIM_THRESHOLD_", None)
    return {**environment, **allocator.ENVIRONMENT}


def _scan_shard_reporting(scanner: ShardScanner, shard: Shard, topic: str) -> ShardResult:
    """Scan one shard on a Dask worker, logging under `topic` [shard, documents stored so far]
    after each batch, for the client's progress bar."""
    worker, stored = get_worker(), 0

    def advance(documents: int) -> None:
        nonlocal stored
        stored += documents
        worker.log_event(topic, [shard.index, stored])

    return scanner.scan_shard(shard, advance)


class ShardProgress:
    """The sink's progress from the workers' per-batch events. An event may arrive after its
    shard's result, and a rerun task counts from zero again, so each shard advances the sink
    only by the rise of its largest count so far, and to its final count when its result comes."""

    def __init__(self, sink: ShardSink) -> None:
        self.sink = sink
        self.counted: dict[int, int] = {}
        self.lock = threading.Lock()  # events come on the client's event-loop thread

    def event(self, event: tuple[float, list[int]]) -> None:
        self.count(*event[1])

    def count(self, shard: int, documents: int) -> None:
        with self.lock:
            before = self.counted.get(shard, 0)
            if documents > before:
                self.counted[shard] = documents
                self.sink.advance(documents - before)


class _IgnoreInterrupts(WorkerPlugin):
    """Ctrl-C reaches every process of the terminal's process group: this process stops the
    run and closes the local cluster (its scheduler too); its workers (restarted ones too) must
    not print tracebacks of their own, nor of a heartbeat that finds the scheduler gone."""

    def setup(self, worker: object) -> None:
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        _drop_logs(logging.getLogger("distributed.worker"), "Failed to communicate with scheduler during heartbeat")


class _DropLogs(logging.Filter):
    """Drops the log records whose message holds all of `parts`: the tracebacks `distributed`
    prints when Ctrl-C stops the run mid-call, which ends with the CLI's one line instead."""

    def __init__(self, *parts: str) -> None:
        super().__init__()
        self.parts = parts

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not all(part in message for part in self.parts)


def _drop_logs(logger: logging.Logger, *parts: str) -> None:
    """Adds a `_DropLogs(*parts)` filter to `logger` once."""
    if not any(isinstance(f, _DropLogs) and f.parts == parts for f in logger.filters):
        logger.addFilter(_DropLogs(*parts))


def _worker_check(out: str) -> tuple[str, bool]:
    """What a worker has: its corpus-audit version, and whether it sees `--out`."""
    return __version__, os.path.isdir(out)


def _band_rows(part: tuple[str, int]) -> pd.DataFrame:
    """(band, key, document) for every band of every document with shingles in one part."""
    path, start = part
    data = load_arrays(path, "band_keys", "shingle_offsets")
    keys, offsets = data["band_keys"], data["shingle_offsets"]
    usable = np.flatnonzero(np.diff(offsets) > 0)
    bands = keys.shape[1]
    return pd.DataFrame({"band": np.repeat(np.arange(bands, dtype=np.int32), len(usable)),
                         "key": np.ascontiguousarray(keys[usable].T).ravel().astype(np.uint64),
                         "doc": np.tile(usable.astype(np.int64) + start, bands)})


def _partition_pairs(rows: pd.DataFrame, corpus: int) -> pd.DataFrame:
    """The candidate pairs of one shuffled partition's buckets, packed as (i << 32 | j)."""
    rows = rows.sort_values("doc", kind="stable")
    found = [NearDuplicateJoin.bucket_pairs(group["key"].to_numpy(), group["doc"].to_numpy(), corpus)
             for _, group in rows.groupby("band", sort=True)]
    pairs = np.concatenate(found) if found else np.empty((0, 2), np.int64)
    return pd.DataFrame({"pair": pairs[:, 0].astype(np.uint64) << np.uint64(32) | pairs[:, 1].astype(np.uint64)})


def _verify_partition(frame: pd.DataFrame, paths: list[str], starts: np.ndarray, threshold: float,
                      margin: float) -> tuple[np.ndarray, int, int]:
    """Verify one partition's distinct pairs: gather the signatures and shingles of the
    documents they name (each part read once), then the same check as the local join."""
    packed = np.unique(frame["pair"].to_numpy(np.uint64))
    pairs = np.stack([(packed >> np.uint64(32)).astype(np.int64), (packed & np.uint64(0xFFFFFFFF)).astype(np.int64)], 1)
    docs = np.unique(pairs)
    if not len(docs):
        return pairs, 0, 0
    owner = np.searchsorted(starts, docs, side="right") - 1
    signatures, shingles, lengths = [], [], []
    for part in np.unique(owner):
        data = load_arrays(paths[part], "signature", "shingles", "shingle_offsets")
        signature, shingle, offsets = data["signature"], data["shingles"], data["shingle_offsets"]
        for local in (docs[owner == part] - starts[part]).tolist():
            signatures.append(signature[local])
            shingles.append(shingle[offsets[local]:offsets[local + 1]])
            lengths.append(offsets[local + 1] - offsets[local])
    local_offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    accepted, exact = verify_pairs(np.searchsorted(docs, pairs), np.stack(signatures), np.concatenate(shingles),
                                   local_offsets, threshold, margin)
    return docs[accepted], len(pairs), exact


class DaskEngine:
    """Runs the scan's shards, join and labelling on a Dask cluster: the one at `scheduler`,
    or a local cluster of `workers` single-threaded processes."""

    def __init__(self, scheduler: str | None, workers: int, out: Path) -> None:
        self.scheduler = scheduler
        self.workers = workers
        self.out = out.resolve()
        self.client: Client | None = None
        self._cluster: LocalCluster | None = None

    def __enter__(self) -> DaskEngine:
        logging.getLogger("distributed.shuffle").setLevel(logging.ERROR)
        # Ctrl-C inside `distributed`'s `sync`: its cancel callback finds the call already gone
        _drop_logs(logging.getLogger("tornado.application"), "Exception in callback", "sync.<locals>.cancel")
        # ... and a local scheduler asked to gather a shard's result that the interrupt has just released
        _drop_logs(logging.getLogger("distributed.scheduler"), "Couldn't gather keys", "'forgotten'")
        try:
            if self.scheduler is None:
                with dask.config.set({"distributed.nanny.pre-spawn-environ": _worker_environment()}):
                    self._cluster = LocalCluster(n_workers=self.workers, threads_per_worker=1, processes=True,
                                                 dashboard_address=None, silence_logs=logging.ERROR)
                self.client = Client(self._cluster)
                self.client.register_plugin(_IgnoreInterrupts(), name="corpus-audit-ignore-interrupts")
            else:
                self.client = Client(self.scheduler, timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError, ValueError) as err:
            self.close()
            raise AuditError(f"--scheduler {self.scheduler}: cannot connect to a Dask scheduler ({err})") from None
        self._check_workers()
        return self

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None

    def _check_workers(self) -> None:
        """Refuse a cluster whose workers lack this version of corpus-audit or cannot see --out."""
        where = self.scheduler or "the local cluster"
        try:
            self.client.wait_for_workers(1, timeout=60)
            found = self.client.run(_worker_check, str(self.out))
        except Exception as err:  # a worker that cannot import corpus_audit fails here
            raise AuditError(f"{where}: the Dask workers cannot run corpus-audit {__version__} ({type(err).__name__}: {err}); "
                             "install the same version on every worker") from None
        for worker, (version, sees_out) in sorted(found.items()):
            if version != __version__:
                raise AuditError(f"Dask worker {worker} has corpus-audit {version}, this is {__version__}: install the same version")
            if not sees_out:
                raise AuditError(f"Dask worker {worker} cannot see --out {self.out}: --out must be on a filesystem every "
                                 "worker shares, at the same path")

    @property
    def _partitions(self) -> int:
        return 2 * max(1, len(self.client.scheduler_info(n_workers=-1)["workers"]))

    def scan(self, scanner: ShardScanner, shards: Sequence[Shard], sink: ShardSink) -> None:
        """One task per shard; results are handed to `sink` as tasks finish, in any order.

        The scanner (detectors and model) is scattered to the workers once. Dask reruns the
        task of a worker that dies, but when every worker holding the scanner has died, the
        scanner is lost and the tasks that need it are cancelled: it is then scattered again
        and their shards resubmitted (a shard's files are fixed by its name, so a rerun
        duplicates nothing), up to `_RESUBMITS` times per shard."""
        if not shards:
            return
        topic = f"corpus-audit-progress-{uuid.uuid4().hex}"
        progress = ShardProgress(sink)
        self.client.subscribe_topic(topic, progress.event)
        remote = self.client.scatter(scanner, broadcast=True, hash=False)
        futures = {self.client.submit(_scan_shard_reporting, remote, shard, topic, pure=False): shard for shard in shards}
        resubmitted: Counter[int] = Counter()  # by shard index
        finished = as_completed(futures)
        try:
            for future in finished:
                shard = futures.pop(future)
                try:
                    result = future.result()
                except SourceError as err:
                    sink.shard_failed(shard, err)
                    continue
                except CancelledError:
                    resubmitted[shard.index] += 1
                    if resubmitted[shard.index] > _RESUBMITS:
                        raise AuditError(f"{shard.name}: its Dask task was cancelled {_RESUBMITS + 1} times (workers "
                                         "holding the scan's detectors died; is a worker running out of memory?)") from None
                    if remote.status != "finished":  # lost with its workers
                        remote = self.client.scatter(scanner, broadcast=True, hash=False)
                    again = self.client.submit(_scan_shard_reporting, remote, shard, topic, pure=False)
                    futures[again] = shard
                    finished.add(again)
                    continue
                finally:
                    future.release()
                progress.count(shard.index, result.scanned)
                sink.shard_done(result)
        finally:
            self.client.unsubscribe_topic(topic)
            self.client.cancel(list(futures))

    def map(self, function: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
        """`function` over independent items (per-stratum estimates), one task each."""
        return self.client.gather(self.client.map(function, items, pure=False)) if items else []

    def join(self, join: NearDuplicateJoin, parts: list[Path], work_dir: Path, reference_parts: list[Path]) -> Clusters:
        """On the engine's own local cluster, the local engine's join (band files on this machine's
        disk, searched on the workers): at 1M documents 9.4 s against 24.8 s for the shuffles. On
        a cluster at --scheduler, the band join as two shuffles (by band key, then by pair),
        verified on the workers, so the reading and verifying spread over its machines."""
        if self._cluster is not None:
            return join.run(parts, work_dir, reference_parts, self.map)
        paths = [str(p.resolve()) for p in [*parts, *reference_parts]]
        sizes = [len(load_arrays(p, "shingle_offsets")["shingle_offsets"]) - 1 for p in paths]
        starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        corpus = int(starts[len(parts)])
        if not paths or starts[-1] == 0:
            return clusters_from_edges(np.empty((0, 2), np.int64), corpus, 0, 0)
        bands = load_arrays(paths[0], "band_keys")["band_keys"].shape[1]
        partitions = max(self._partitions, math.ceil(int(starts[-1]) * bands / join.partition_rows))
        rows = dd.from_map(_band_rows, list(zip(paths, starts[:-1].tolist())), meta=_KEYS_META)
        pairs = rows.shuffle("key", npartitions=partitions).map_partitions(_partition_pairs, corpus, meta=_PAIRS_META)
        pairs = pairs.shuffle("pair", npartitions=partitions)
        tasks = [dask.delayed(_verify_partition)(part, paths, starts, join.threshold, join.margin)
                 for part in pairs.to_delayed()]
        results = self.client.gather(self.client.compute(tasks))
        accepted = np.concatenate([edges for edges, _, _ in results]) if results else np.empty((0, 2), np.int64)
        return clusters_from_edges(accepted, corpus, sum(r[1] for r in results), sum(r[2] for r in results))

    def label(self, labels: PartLabels) -> None:
        """Rewrite each part with its cluster column on a worker, a bounded number at a time."""
        pending = []
        for path, cluster, matches in labels:
            pending.append(self.client.submit(label_part, path.resolve(), cluster, matches, pure=False))
            if len(pending) >= _LABELS_IN_FLIGHT:
                self.client.gather(pending)
                pending = []
        self.client.gather(pending)
