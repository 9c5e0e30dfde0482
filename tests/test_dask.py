"""The Dask engine gives what the local engine gives, and survives a worker that dies (slow tests)."""

from __future__ import annotations

import json
import os
import random
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from scipy.sparse.csgraph import connected_components
from typer.testing import CliRunner

from corpus_audit.cli import app
from corpus_audit.config import ScanConfig
from corpus_audit.errors import AuditError, SourceError
from corpus_audit.pipeline.run import Scan
from corpus_audit.scan.progress import Silent
from detectors import MinHashDetector, RepetitionDetector
from tests.conftest import (
    KILL_SWITCH,
    KillingLength,
    documents,
    run,
    without_timing,
    write_jsonl,
    write_parquet,
)
from tests.test_cli import cli
from tests.test_minhash import jaccard, unique_words

distributed = pytest.importorskip("distributed")
pytestmark = pytest.mark.slow  # every test here starts a cluster or workers: run by `pytest -m slow`


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as local:
        yield local


def edited(rng: random.Random, text: str, edits: int) -> str:
    """The text with `edits` words replaced, 10+ words apart (Jaccard of 5-grams about 1 - 10 edits / n)."""
    tokens = text.split()
    for position in rng.sample(range(0, len(tokens), 10), edits):
        tokens[position] = unique_words(rng, 1)[0]
    return " ".join(tokens)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> tuple[Path, Path, list[str]]:
    """Four shards (three Parquet, one JSONL) of distinct random documents, with near-duplicates
    planted across shards, an empty and a null document; and an --against file."""
    rng = random.Random(7)
    root = tmp_path_factory.mktemp("dask-corpus")
    shards = [[" ".join(unique_words(rng, rng.randrange(60, 160))) for _ in range(45)] for _ in range(4)]
    shards[2][5] = edited(rng, shards[0][3], 1)  # a pair across shards 0 and 2
    shards[3][9] = shards[1][30]  # an exact copy across 1 and 3
    shards[1][12] = edited(rng, shards[0][40], 1)  # a triple across 0, 1 and 3
    shards[3][20] = edited(rng, shards[0][40], 1)
    shards[2][43] = shards[2][0]  # and one within a shard
    shards[1][7] = ""
    texts = [t for shard in shards for t in shard]
    for k in range(3):
        write_parquet(root / f"shard-{k}.parquet", shards[k] if k != 2 else shards[k][:-1] + [None],
                      id=[f"s{k}-{i}" for i in range(45)], site=[f"site-{i % 3}" for i in range(45)])
    texts[2 * 45 + 44] = None
    write_jsonl(root / "shard-3.jsonl", [{"text": t, "id": f"s3-{i}", "site": f"site-{i % 3}"}
                                                for i, t in enumerate(shards[3])])
    against = write_jsonl(tmp_path_factory.mktemp("dask-against") / "known.jsonl", [{"text": edited(rng, shards[3][1], 1)},
                                                              {"text": " ".join(unique_words(rng, 80))}])
    return root, against, texts


def expected_clusters(texts: Sequence[str | None]) -> int:
    """Near-duplicate clusters by brute-force Jaccard over every pair of documents with words."""
    kept = [t for t in texts if t]
    n = len(kept)
    edges = np.array([[i, j] for i in range(n) for j in range(i + 1, n) if jaccard(kept[i], kept[j]) >= 0.8]).reshape(-1, 2)
    graph = np.zeros((n, n), dtype=np.int8)
    graph[edges[:, 0], edges[:, 1]] = 1
    _, labels = connected_components(graph, directed=False)
    return int(sum(np.bincount(labels) >= 2))


def test_dask_engine_matches_local_engine(tmp_path, corpus, cluster):
    root, against, texts = corpus
    options = dict(workers=2, batch_size=16, against=str(against), by="site", id_column="id")
    local = run(tmp_path, root, out=tmp_path / "local", **options)
    remote = run(tmp_path, root, out=tmp_path / "dask", engine="dask", scheduler=cluster.scheduler_address, **options)
    assert local["near_duplicates"]["clusters"] == expected_clusters(texts) == 4
    assert local["near_duplicates"]["against"]["matched_documents"] == 1
    assert local["input"]["scanned"] == 179
    assert remote["timing"]["engine"] == "dask" and local["timing"]["engine"] == "local"
    assert without_timing(remote) == without_timing(local)
    assert documents(tmp_path / "dask").equals(documents(tmp_path / "local"))
    assert sorted(os.listdir(tmp_path / "dask" / "documents")) == sorted(os.listdir(tmp_path / "local" / "documents"))


def test_progress_advances_batch_by_batch_and_counts_each_document_once(tmp_path, corpus, cluster):
    root, _, _ = corpus
    advances = []

    class Recording(Silent):
        def advance(self, documents: int) -> None:
            advances.append(documents)

    config = ScanConfig(inputs=(str(root),), out=tmp_path / "o", workers=2, batch_size=16, engine="dask",
                        scheduler=cluster.scheduler_address)
    audit = Scan(config, progress=Recording()).run()
    assert sum(advances) == audit["input"]["scanned"] == 179
    assert len(advances) > 4  # four shards of three batches: the workers' events, not one step per shard


def test_shard_progress_counts_late_and_repeated_events_once():
    from corpus_audit.scan.dask_engine import ShardProgress

    advances = []
    progress = ShardProgress(type("Sink", (), {"advance": lambda self, n: advances.append(n)})())
    for shard, stored in [(0, 16), (1, 16), (0, 32), (0, 16)]:  # the last: shard 0's task rerun from zero
        progress.event((0.0, [shard, stored]))
    progress.count(0, 45)  # shard 0's result
    progress.event((0.0, [0, 32]))  # the rerun's event, arriving late
    progress.count(1, 44)
    assert advances == [16, 16, 16, 13, 28]  # 45 + 44 in all


def test_cli_dask_engine_with_its_own_local_cluster(tmp_path, corpus):
    root, _, _ = corpus
    local = run(tmp_path, root, out=tmp_path / "local", workers=2)
    result = cli("scan", str(root), "--out", str(tmp_path / "dask"), "--engine", "dask", "--workers", "2")
    assert result.returncode == 0, result.stderr
    remote = json.loads((tmp_path / "dask" / "audit.json").read_text())
    assert remote["timing"]["workers"] == 2
    assert without_timing(remote) == without_timing(local)


@pytest.fixture
def lone_worker():
    """A cluster of one worker: when it is killed, whatever was scattered to it is lost with it."""
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as local:
        yield local


@pytest.mark.parametrize("workers", ["cluster", "lone_worker"])
def test_a_killed_worker_loses_and_duplicates_nothing(tmp_path, workers, request):
    cluster = request.getfixturevalue(workers)
    rng = random.Random(3)
    root = tmp_path / "corpus"
    for k in range(4):
        texts = [" ".join(unique_words(rng, 50)) for _ in range(60)]
        if k == 2:
            texts[45] += f" {KILL_SWITCH}"  # in the shard's third batch: two of its parts are written before
        write_parquet(root / f"shard-{k}.parquet", texts)

    def scan(out: Path, marker: Path, **options) -> dict:
        detectors = [KillingLength(marker), RepetitionDetector(), MinHashDetector()]
        return Scan(ScanConfig(inputs=(str(root),), out=out, workers=2, batch_size=20, **options), detectors).run()

    spent = tmp_path / "spent"
    spent.write_text("")
    local = scan(tmp_path / "local", spent)
    marker = tmp_path / "killed"
    remote = scan(tmp_path / "dask", marker, engine="dask", scheduler=cluster.scheduler_address)
    killed = int(marker.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(killed, 0)  # the worker really died
    rows = documents(tmp_path / "dask")
    assert rows.num_rows == 240 == len(set(zip(rows["source"].to_pylist(), rows["row"].to_pylist())))
    assert rows.equals(documents(tmp_path / "local"))
    assert without_timing(remote) == without_timing(local)


def test_workers_with_another_version_are_refused(tmp_path, corpus, cluster, monkeypatch):
    import corpus_audit.scan.dask_engine as dask_engine

    monkeypatch.setattr(dask_engine, "__version__", "0.0.0-other")
    with pytest.raises(AuditError, match=r"has corpus-audit .*, this is 0\.0\.0-other"):
        run(tmp_path, corpus[0], engine="dask", scheduler=cluster.scheduler_address)


def test_unreachable_scheduler_is_one_clear_error(tmp_path, corpus, monkeypatch):
    import corpus_audit.scan.dask_engine as dask_engine

    monkeypatch.setattr(dask_engine, "CONNECT_TIMEOUT", "1s")
    result = CliRunner().invoke(app, ["scan", str(corpus[0]), "--out", str(tmp_path / "out"), "--engine", "dask",
                                      "--scheduler", "tcp://127.0.0.1:9"])
    assert result.exit_code == 2
    assert "cannot connect to a Dask scheduler" in result.output and "Traceback" not in result.output


def test_missing_dask_is_one_clear_error(tmp_path, corpus, monkeypatch):
    monkeypatch.delitem(sys.modules, "corpus_audit.scan.dask_engine", raising=False)
    monkeypatch.setitem(sys.modules, "dask", None)
    result = CliRunner().invoke(app, ["scan", str(corpus[0]), "--out", str(tmp_path / "out"), "--engine", "dask"])
    assert result.exit_code == 2
    assert "needs Dask (dask is not installed): pip install 'corpus-audit[dask]'" in result.output


def test_scheduler_without_dask_engine_is_refused():
    with pytest.raises(AuditError, match="--scheduler needs --engine dask"):
        ScanConfig(inputs=("x",), scheduler="tcp://127.0.0.1:8786")


def test_a_corrupt_shard_on_a_worker_fails_or_is_skipped_like_the_local_engine(tmp_path, cluster, shard_dir):
    (shard_dir / "part-1.parquet").write_bytes(b"PAR1 garbage")
    options = dict(engine="dask", scheduler=cluster.scheduler_address, workers=2, batch_size=16)
    with pytest.raises(SourceError, match="part-1.parquet"):
        run(tmp_path, shard_dir, out=tmp_path / "failed", **options)
    local = run(tmp_path, shard_dir, out=tmp_path / "local", on_error="skip", workers=2, batch_size=16)
    remote = run(tmp_path, shard_dir, out=tmp_path / "dask", on_error="skip", **options)
    assert [s["source"].endswith("part-1.parquet") for s in remote["input"]["skipped_sources"]] == [True]
    assert remote["input"]["scanned"] == 80
    assert without_timing(remote) == without_timing(local)
    assert documents(tmp_path / "dask").equals(documents(tmp_path / "local"))


def test_the_traceback_of_an_interrupted_sync_is_not_logged(caplog):
    """Ctrl-C inside distributed's sync makes Tornado log its cancel callback's failure (seen once in
    seven Ctrl-C runs); the scan's own one line is all the user should see."""
    pytest.importorskip("distributed")
    import logging

    from corpus_audit.scan.dask_engine import _drop_logs

    logger = logging.getLogger("tornado.application")
    _drop_logs(logger, "Exception in callback", "sync.<locals>.cancel")
    _drop_logs(logger, "Exception in callback", "sync.<locals>.cancel")
    with caplog.at_level(logging.ERROR, logger="tornado.application"):
        logger.error("Exception in callback functools.partial(<function sync.<locals>.cancel at 0x7f>)")
        logger.error("Exception in callback something else")
    assert [r.getMessage() for r in caplog.records] == ["Exception in callback something else"]
    assert len(logger.filters) == 1


def test_a_local_worker_does_not_log_a_heartbeat_that_finds_the_scheduler_gone(caplog):
    """Ctrl-C closes the local cluster's scheduler, in this process, while a worker may be mid-heartbeat:
    its traceback reached the terminal once in CI. The worker plugin drops it, and only it."""
    pytest.importorskip("distributed")
    import logging
    import threading

    from corpus_audit.scan.dask_engine import _IgnoreInterrupts

    logger = logging.getLogger("distributed.worker")
    before = list(logger.filters)
    setup = threading.Thread(target=_IgnoreInterrupts().setup, args=(None,))  # off the main thread: no signal change
    setup.start()
    setup.join()
    try:
        with caplog.at_level(logging.ERROR, logger="distributed.worker"):
            logger.error("Failed to communicate with scheduler during heartbeat.")
            logger.error("Unexpected exception during heartbeat. Closing worker.")
        assert [r.getMessage() for r in caplog.records] == ["Unexpected exception during heartbeat. Closing worker."]
    finally:
        logger.filters[:] = before
