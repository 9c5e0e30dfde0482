"""The allocator settings of the tool's own processes: freed batch memory is kept, not faulted in again."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from corpus_audit.scan import allocator
from detectors.length import LengthDetector

ROOT = Path(__file__).resolve().parents[1]


def faults_per_batch(_: object = None) -> float:
    """Minor page faults per "batch": 200 arrays of 200 KB written and freed, as a detector's
    intermediates are. Under glibc's defaults the freed top of the heap goes back to the
    kernel, so each batch faults its 40 MB in again (about 9,800 faults); kept, none."""
    def batch() -> None:
        arrays = [np.ones(25_000) for _ in range(200)]
        del arrays

    batch()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(10):
        batch()
    return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 10


def _in_new_process(setup: str = "", env: dict[str, str] | None = None) -> float:
    code = f"{setup}\nfrom tests.test_allocator import faults_per_batch\nprint(faults_per_batch())"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         env={**os.environ, **(env or {})}, check=True)
    return float(run.stdout)


glibc = pytest.mark.skipif(not sys.platform.startswith("linux") or os.confstr("CS_GNU_LIBC_VERSION") is None,
                           reason="the settings are glibc's")


@glibc
def test_kept_memory_is_not_faulted_in_again_set_in_process_or_by_environment():
    untouched = _in_new_process()
    assert untouched > 5_000  # 40 MB of 4 KB pages given back and taken again: the cost this removes
    setup = "from corpus_audit.scan.allocator import keep_freed_memory; assert keep_freed_memory()"
    assert _in_new_process(setup) < untouched / 20
    assert _in_new_process(env=allocator.ENVIRONMENT) < untouched / 20  # how a Dask worker gets it


@glibc
def test_local_workers_keep_their_freed_memory(tmp_path):
    from corpus_audit.scan.engines import LocalEngine
    with LocalEngine([LengthDetector()], workers=2) as engine:
        for part in ("p0", "p1"):  # the pool starts with the second batch
            engine.submit(["a batch"], tmp_path, part).result()
        assert max(engine.map(faults_per_batch, [0, 1])) < 500


def test_a_local_dask_cluster_gets_the_same_settings_and_not_dasks_eager_trim():
    pytest.importorskip("distributed")
    from corpus_audit.scan.dask_engine import _worker_environment
    environment = _worker_environment()
    assert "MALLOC_TRIM_THRESHOLD_" not in environment
    assert {k: environment[k] for k in allocator.ENVIRONMENT} == allocator.ENVIRONMENT
