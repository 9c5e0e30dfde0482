"""Shared helpers: small corpora written for the tests, in every input format."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import signal
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from corpus_audit.config import ScanConfig
from corpus_audit.pipeline.run import scan
from detectors import LengthDetector


def make_texts(n: int, start: int = 0) -> list[str]:
    """Distinct little documents, different in length and words."""
    return [f"document {i} " + " ".join(f"w{(i * 7 + k) % 53}" for k in range(i % 17 + 3)) for i in range(start, start + n)]


def write_parquet(path: Path, texts: list, **columns: list) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"text": texts, **columns}), path)
    return path


def write_jsonl(path: Path, records: list[dict], compression: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = "".join(json.dumps(r) + "\n" for r in records).encode()
    if compression == "gzip":
        data = gzip.compress(data)
    elif compression == "zstd":
        data = zstandard.ZstdCompressor().compress(data)
    path.write_bytes(data)
    return path


def run(tmp_path: Path, *inputs: Path | str, **options) -> dict:
    """Scan with one worker into tmp_path/out unless told otherwise."""
    options.setdefault("workers", 1)
    options.setdefault("out", tmp_path / "out")
    return scan(ScanConfig(inputs=tuple(str(i) for i in inputs), **options))


KILL_SWITCH = "KILL-SWITCH"


class KillingLength(LengthDetector):
    """The length detector, except that the first worker to see KILL_SWITCH is killed on the spot."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def score(self, texts: Sequence[str]):
        if any(KILL_SWITCH in t for t in texts) and not self.marker.exists():
            self.marker.write_text(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGKILL)
        return super().score(texts)


def documents(out: Path) -> pa.Table:
    """Every row of a scan's documents/, in corpus order."""
    return pq.read_table(out / "documents").sort_by([("source", "ascending"), ("row", "ascending")])


def without_timing(audit: dict) -> dict:
    """The audit without what may differ between equivalent runs: timings, where it was written, resumption."""
    audit = json.loads(json.dumps(audit))
    audit.pop("timing")
    audit["config"].pop("resume")
    audit["config"].pop("out")
    audit["input"].pop("shards_resumed")
    return audit


@pytest.fixture
def shard_dir(tmp_path: Path) -> Path:
    """Three Parquet shards of 40 documents each (120 in all)."""
    root = tmp_path / "shards"
    for k in range(3):
        write_parquet(root / f"part-{k}.parquet", make_texts(40, start=40 * k))
    return root


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """A temporary directory with a short path, for a subprocess's TMPDIR: multiprocessing puts its
    fork server's socket there, and a socket path over 108 bytes cannot be bound (pytest's own
    temporary paths grow past that as its numbered directories and xdist's names lengthen them)."""
    path = Path(tempfile.mkdtemp(prefix="ca-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)
