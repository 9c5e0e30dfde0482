"""Faults and limits: failed writes, Ctrl-C, killed workers, bombs, huge inputs, parser errors."""

from __future__ import annotations

import csv
import gzip
import json
import os
import signal
import subprocess
import sys
import time
import tracemalloc
from io import StringIO
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard
from rich.console import Console

from corpus_audit.config import ScanConfig
from corpus_audit.errors import AuditError
from corpus_audit.io import atomic
from corpus_audit.io.readers import ColumnSpec, ShardReader, group_shards
from corpus_audit.io.sources import resolve_sources
from corpus_audit.pipeline.run import Scan
from corpus_audit.report.summary import print_summary
from detectors import LengthDetector, MinHashDetector
from tests.conftest import (
    KILL_SWITCH,
    KillingLength,
    documents,
    make_texts,
    run,
    without_timing,
    write_parquet,
)
from tests.test_cli import cli
from tests.test_report import _Elements

MiB = 2**20


def reader(path: Path, **options) -> ShardReader:
    return ShardReader(group_shards(resolve_sources([str(path)]))[0], ColumnSpec(), **options)


def scan_lengths(tmp_path: Path, *inputs: Path, **options) -> dict:
    """A scan with the length detector alone: the pipeline's limits, quickly."""
    config = ScanConfig(inputs=tuple(str(i) for i in inputs), out=tmp_path / "out", workers=options.pop("workers", 1), **options)
    return Scan(config, [LengthDetector()]).run()


def test_a_write_that_fails_halfway_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    target = tmp_path / "audit.json"
    atomic.write_json(target, {"complete": True})

    def disk_full(fd: int) -> None:  # the bytes are in the temporary file; making them durable fails
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(AuditError, match=r"cannot write .*audit.json: No space left on device"):
        atomic.write_json(target, {"complete": False, "padding": "x" * 100_000})
    assert json.loads(target.read_text()) == {"complete": True}
    assert os.listdir(tmp_path) == ["audit.json"]


def test_a_part_write_that_fails_halfway_stops_the_scan_and_resume_finishes_it(tmp_path, shard_dir, monkeypatch):
    clean = run(tmp_path, shard_dir, out=tmp_path / "clean", batch_size=16)
    real_write = pq.write_table
    calls = []

    def fail_on_the_fourth(table: pa.Table, where, **options) -> None:
        calls.append(where)
        if len(calls) == 4:  # half a file at the temporary name, then the disk is full
            Path(where).write_bytes(b"PAR1" + b"\0" * 100)
            raise OSError(28, "No space left on device")
        real_write(table, where, **options)

    monkeypatch.setattr(pq, "write_table", fail_on_the_fourth)
    with pytest.raises(AuditError, match=r"cannot write .*part-\d{5}-\d{5}\.parquet: No space left"):
        run(tmp_path, shard_dir, out=tmp_path / "failed", batch_size=16)
    monkeypatch.setattr(pq, "write_table", real_write)
    parts = sorted((tmp_path / "failed" / "documents").iterdir())
    assert len(parts) == 3 and all(pq.read_metadata(p).num_rows for p in parts)  # every file there is complete
    resumed = run(tmp_path, shard_dir, out=tmp_path / "failed", batch_size=16, resume=True)
    assert resumed["input"]["shards_resumed"] == 1
    assert without_timing(resumed) == without_timing(clean)
    assert documents(tmp_path / "failed").equals(documents(tmp_path / "clean"))


def _descendants(pid: int) -> set[int]:
    found, stack = set(), [pid]
    while stack:
        for task in Path(f"/proc/{stack.pop()}/task").glob("*"):
            try:
                children = [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
            found.update(children)
            stack += children
    return found


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/status").read_text().split("State:")[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def running_scan(tmp_path: Path, engine: str, tmpdir: Path) -> tuple[Path, Path, subprocess.Popen]:
    """(corpus, out, the process) of a 2-worker scan of 24 shards in its own session (its TMPDIR `tmpdir`),
    once its first shard is done."""
    if engine == "dask":
        pytest.importorskip("distributed")
    corpus = tmp_path / "corpus"
    for k in range(24):
        write_parquet(corpus / f"shard-{k:02d}.parquet", make_texts(500, start=500 * k))
    out = tmp_path / "interrupted"
    # Ctrl-C reaches a terminal's foreground job; a job a shell starts in the background (CI run
    # with `&`) ignores SIGINT, and a child inherits that: start the scan as a terminal would.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        scan = subprocess.Popen([sys.executable, "-m", "corpus_audit", "scan", str(corpus), "--out", str(out), "--workers",
                                 "2", "--engine", engine],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                                env={"PATH": "/usr/bin:/bin", "CI": "true", "TMPDIR": str(tmpdir)})
    finally:
        signal.signal(signal.SIGINT, previous)
    while not list((out / "state").glob("shard-*.json")) and scan.poll() is None:
        time.sleep(0.05)
    return corpus, out, scan


@pytest.mark.slow
def test_workers_start_under_a_temporary_directory_too_long_for_a_socket(tmp_path, short_tmp):
    deep = short_tmp / ("d" * 40) / ("e" * 40)  # over 74 bytes: multiprocessing's socket path would pass 107
    deep.mkdir(parents=True)
    corpus = tmp_path / "corpus"
    for k in range(2):
        write_parquet(corpus / f"shard-{k}.parquet", make_texts(1500, start=1500 * k))
    done = subprocess.run([sys.executable, "-m", "corpus_audit", "scan", str(corpus), "--out", str(tmp_path / "out"),
                           "--workers", "2"], capture_output=True, text=True, timeout=300,
                          env={"PATH": "/usr/bin:/bin", "CI": "true", "TMPDIR": str(deep)})
    assert done.returncode == 0, done.stderr  # was: cannot start local worker processes (AF_UNIX path too long)
    assert not list(deep.iterdir())  # the scan left nothing in it


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["local", "dask"])
def test_ctrl_c_stops_workers_with_one_line_and_resume_gives_the_clean_result(tmp_path, engine, short_tmp):
    corpus, out, scan = running_scan(tmp_path, engine, short_tmp)
    assert scan.poll() is None, "the scan ended before its first shard's state was seen"
    workers = _descendants(scan.pid)
    os.killpg(scan.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the whole process group
    _, stderr = scan.communicate(timeout=120)
    finished = len(list((out / "state").glob("shard-*.json")))
    assert scan.returncode == 130, f"exit {scan.returncode} with {finished} of 24 shards' states; stderr: {stderr!r}"
    assert stderr.strip().splitlines() == ["corpus-audit: error: interrupted; finished shards are kept, "
                                           "rerun with --resume to continue"]
    for _ in range(200):  # the pool's processes end with the main one (waiting at most 10 s)
        if not [pid for pid in workers if _alive(pid)]:
            break
        time.sleep(0.05)
    assert workers and not [pid for pid in workers if _alive(pid)]
    assert not (out / "audit.json").exists()
    assert 1 <= finished < 24
    clean = run(tmp_path, corpus, out=tmp_path / "clean")
    resumed = run(tmp_path, corpus, out=out, resume=True)
    assert resumed["input"]["shards_resumed"] == finished
    assert without_timing(resumed) == without_timing(clean)
    assert documents(out).equals(documents(tmp_path / "clean"))


@pytest.mark.slow
def test_a_worker_killed_mid_batch_stops_with_a_clear_error_and_resume_finishes(tmp_path):
    corpus = tmp_path / "corpus"
    for k in range(4):
        texts = make_texts(60, start=60 * k)
        if k == 2:
            texts[45] += f" {KILL_SWITCH}"
        write_parquet(corpus / f"shard-{k}.parquet", texts)

    def scan(out: Path, marker: Path, **options) -> dict:
        detectors = [KillingLength(marker), MinHashDetector()]
        return Scan(ScanConfig(inputs=(str(corpus),), out=out, workers=2, batch_size=20, **options), detectors).run()

    spent = tmp_path / "spent"
    spent.write_text("")
    clean = scan(tmp_path / "clean", spent)
    with pytest.raises(AuditError, match=r"worker process died .*shard-\d\.parquet; .*rerun with --resume"):
        scan(tmp_path / "killed", tmp_path / "marker")
    assert (tmp_path / "marker").exists() and not (tmp_path / "killed" / "audit.json").exists()
    resumed = scan(tmp_path / "killed", spent, resume=True)
    assert resumed["input"]["shards_resumed"] >= 1
    assert without_timing(resumed) == without_timing(clean)
    assert documents(tmp_path / "killed").equals(documents(tmp_path / "clean"))


def _concatenated_frames(compress, pieces: list[tuple[bytes, int]]) -> bytes:
    """A stream of (chunk, repeats) made by concatenating compressed members (valid gzip and zstd)."""
    return b"".join(compress(chunk) * repeats for chunk, repeats in pieces)


@pytest.mark.parametrize("suffix, compress", [("zst", zstandard.ZstdCompressor().compress), ("gz", gzip.compress)])
def test_a_compression_bomb_is_streamed_never_read_whole(tmp_path, suffix, compress):
    lines = (json.dumps({"text": "a small repeated record"}) + "\n").encode() * 1000
    bomb = tmp_path / f"bomb.jsonl.{suffix}"
    bomb.write_bytes(_concatenated_frames(compress, [(lines, 20_000)]))  # ~1 GB of JSON lines once decompressed
    assert bomb.stat().st_size < 200 * MiB // 10
    tracemalloc.start()
    batches = reader(bomb, batch_size=1000).batches()
    first = [next(batches) for _ in range(3)]
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert [len(b) for b in first] == [1000, 1000, 1000] and first[2].texts[0] == "a small repeated record"
    assert peak < 20 * MiB


def test_a_json_line_over_the_record_limit_is_skipped_and_counted_without_reading_it(tmp_path):
    huge = [(b'{"text": "', 1), (b"a" * MiB, 64), (b'"}\n{"text": "after the bomb"}\n', 1)]
    bomb = tmp_path / "one-line.jsonl.zst"
    bomb.write_bytes(_concatenated_frames(zstandard.ZstdCompressor().compress, huge))
    tracemalloc.start()
    (batch,) = reader(bomb, record_bytes=8 * MiB).batches()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert batch.texts == [None, "after the bomb"] and batch.oversized.tolist() == [True, False]
    assert peak < 24 * MiB
    audit = scan_lengths(tmp_path, bomb, max_doc_chars=2 * MiB)  # record limit max(256 MiB, 4 x 2 MiB): the 64 MiB line is read
    assert audit["input"]["scanned"] == 2 and audit["input"]["truncated_documents"] == 1


def test_skipped_oversized_records_are_reported(tmp_path, monkeypatch):
    monkeypatch.setattr("corpus_audit.io.readers.MIN_RECORD_BYTES", 1000)
    path = tmp_path / "c.jsonl"
    path.write_text(json.dumps({"text": "x" * 5000}) + "\n" + json.dumps({"text": "short"}) + "\n")
    audit = scan_lengths(tmp_path, path, max_doc_chars=100)
    assert audit["input"]["scanned"] == 1
    assert audit["input"]["skipped_reasons"] == {"record over 1,000 bytes (not read)": 1}


def test_a_parquet_row_group_of_100_mb_is_read_page_by_page(tmp_path):
    body = " ".join(f"word{i % 997}" for i in range(250))
    n = 60_000
    path = tmp_path / "one-row-group.parquet"
    pq.write_table(pa.table({"text": [f"{i} {body}" for i in range(n)]}), path, row_group_size=n, compression="zstd")
    assert pq.read_metadata(path).num_row_groups == 1
    assert pq.read_metadata(path).row_group(0).total_byte_size > 100 * MiB
    before, peak, rows = pa.total_allocated_bytes(), 0, 0
    for batch in reader(path, batch_size=1000).batches():
        peak = max(peak, pa.total_allocated_bytes() - before)
        rows += len(batch)
    assert rows == n and peak < 30 * MiB


@pytest.mark.slow
def test_a_csv_with_a_100_mb_field_is_read_and_truncated(tmp_path):
    path = tmp_path / "wide.csv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "text"])
        writer.writerow(["small", "a short first document"])
        writer.writerow(["giant", "word " * (20 * MiB)])
        writer.writerow(["last", "and a short last one"])
    audit = scan_lengths(tmp_path, path)
    assert audit["input"]["scanned"] == 3 and audit["input"]["truncated_documents"] == 1
    assert audit["length"]["char_count"]["max"] == 1_000_000


@pytest.mark.slow
def test_a_corpus_of_100000_tiny_files(tmp_path):
    root = tmp_path / "tiny"
    for d in range(100):
        folder = root / f"d{d:02d}"
        folder.mkdir(parents=True)
        for f in range(1000):
            (folder / f"{f:04d}.txt").write_text(f"file {d} {f}")
    audit = scan_lengths(tmp_path, root, workers=2)
    assert audit["input"]["scanned"] == 100_000
    assert audit["input"]["shards"] == 49  # 2,048 files to a shard
    rows = pq.read_table(tmp_path / "out" / "documents", columns=["source"])
    assert rows.num_rows == 100_000 == len(set(rows["source"].to_pylist()))


HOSTILE = ["nul \x00 inside \x00 text", "lone \ud800 surrogates \udfff here", "rtl \u202e override \u202c and \u2066 isolate",
           "zero\u200bwidth\u200d\ufeff joiners", "x" * 1_000_000, "\x1b[2J\x1b]0;title\x07 terminal \x1b[31m",
           "<script>alert(1)</script> &amp; {{ 7*7 }} <img src=x onerror=alert(2)>",
           "\r\n\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029 separators", "", "  \t  "]


def test_hostile_text_passes_every_detector_and_report_without_effect(tmp_path):
    corpus = tmp_path / "hostile.jsonl"
    corpus.write_text("".join(json.dumps({"text": t}) + "\n" for t in HOSTILE * 2), encoding="ascii")  # lone surrogates as \u escapes
    audit = run(tmp_path, corpus, workers=2)
    assert audit["input"]["scanned"] == 20 and audit["input"]["invalid_utf8_documents"] == 2
    assert audit["input"]["empty_documents"] == 4 and audit["near_duplicates"]["clusters"] == 8
    table = pq.read_table(tmp_path / "out" / "documents")
    for name in table.column_names:
        values = table[name].drop_null().to_numpy(zero_copy_only=False)
        if values.dtype.kind == "f":
            assert np.isfinite(values).all(), name
    p = table["p_synthetic"]
    assert p.null_count == 4  # the blank documents: no evidence, no score
    assert ((p.drop_null().to_numpy() >= 0) & (p.drop_null().to_numpy() <= 1)).all()
    assert audit["classifier"]["documents_without_text"] == 4
    html = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    markdown = (tmp_path / "out" / "report.md").read_text(encoding="utf-8")
    for report in (html, markdown):
        assert not [c for c in "\x00\x1b\x07\u202e\u2066\ud800" if c in report]
    elements = _Elements()
    elements.feed(html)
    assert "script" not in elements.tags and "img" not in elements.tags
    assert not [name for name, _ in elements.attributes if name.startswith("on")]
    buffer = StringIO()
    print_summary(audit, Console(file=buffer, width=100, force_terminal=True), str(tmp_path / "out"))
    terminal = buffer.getvalue()
    assert "\x1b[2J" not in terminal and "\x1b]0;" not in terminal and "\x07" not in terminal and "\u202e" not in terminal


@pytest.mark.parametrize("args, message", [
    (["scan", "x", "--workers", "many"], "Invalid value for '--workers'"),
    (["scan", "x", "--no-such-option"], "No such option: --no-such-option"),
    (["scan"], "Missing argument 'INPUT...'"),
    (["no-such-command"], "No such command 'no-such-command'"),
])
def test_parser_errors_are_one_line_with_exit_code_2(args, message):
    result = cli(*args)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert result.stderr.startswith("corpus-audit: error: ") and message in result.stderr


def test_no_arguments_show_the_help_and_help_keeps_its_brackets():
    bare = cli()
    assert bare.returncode == 2 and bare.stdout.startswith("Usage: corpus-audit") and not bare.stderr
    scan_help = cli("scan", "--help")
    assert scan_help.returncode == 0
    text = " ".join(scan_help.stdout.split())  # as wrapped for the terminal
    assert "audit[dask]" in text and "[default: the cores this process may use, within a container's CPU quota]" in text


def _thread_pools(_: object) -> set[int]:
    import numpy  # noqa: F401  (loads OpenBLAS, whose pool is what oversubscribed)
    import threadpoolctl
    return {pool["num_threads"] for pool in threadpoolctl.threadpool_info()}


def test_a_local_worker_runs_one_blas_thread_so_two_workers_do_not_oversubscribe_the_cores(tmp_path):
    from corpus_audit.scan.engines import LocalEngine
    with LocalEngine([LengthDetector()], workers=2) as engine:
        for part in ("p0", "p1"):  # the pool starts with the second batch
            engine.submit(["a batch"], tmp_path, part).result()
        assert engine.map(_thread_pools, [0, 1]) == [{1}, {1}]  # without the limit, {2} on a 2-core machine


def test_a_corpus_of_one_batch_is_scored_without_starting_workers(tmp_path):
    from corpus_audit.scan.engines import LocalEngine
    with LocalEngine([LengthDetector()], workers=2) as engine:
        assert engine.submit(["one batch"], tmp_path, "p0").result().columns["word_count"].tolist() == [2]
        assert engine._pool is None
        engine.submit(["a second batch"], tmp_path, "p1").result()
        assert engine._pool is not None


def test_the_first_batch_of_a_pooled_scan_is_scored_when_awaited_and_its_errors_surface_there(tmp_path):
    from corpus_audit.scan.engines import LocalEngine
    with LocalEngine([LengthDetector()], workers=2) as engine:
        first = engine.submit(["three words here"], tmp_path, "p0")
        assert not first.done()  # the workers get the batches read after it meanwhile
        second = engine.submit(["two words"], tmp_path, "p1")
        assert first.result().columns["word_count"].tolist() == [3] and second.result().columns["word_count"].tolist() == [2]
    with LocalEngine([LengthDetector()], workers=2) as engine:
        broken = engine.submit([None], tmp_path, "p2")  # not a text: the detector fails
        with pytest.raises(TypeError) as first_error:
            broken.result()
        with pytest.raises(TypeError) as again:
            broken.result()
        assert again.value is first_error.value  # the stored error, not a second run


_FORK_SERVER_ORDER = """
import sys
import corpus_audit as ca
from corpus_audit.scan import fork_server
seen = []
start = fork_server.start
def recording_start():
    seen.append("corpus_audit.pipeline.run" in sys.modules)
    return start()
fork_server.start = recording_start
if __name__ == "__main__":
    ca.audit(["a first text to audit", "a second one"], workers=2, progress=False)
    print(seen)
"""


def test_audit_with_workers_starts_the_fork_server_before_it_imports_the_pipeline(tmp_path):
    # the server's own imports then run beside this process's, not after them
    script = tmp_path / "order.py"
    script.write_text(_FORK_SERVER_ORDER)
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    first = done.stdout.strip().splitlines()[-1].strip("[]").split(",")[0]
    assert first == "False"  # at the first call the pipeline was not yet imported
