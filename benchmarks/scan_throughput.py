"""Throughput and peak memory of `corpus-audit scan` on generated corpora of several sizes.

For each size, it generates (or reuses) Parquet shards of ~300-word documents, runs the
real command in a subprocess, and samples the resident memory of the whole process tree
(main process and workers) every 50 ms. Peak memory should stay about the same as the
corpus grows: that is the streaming promise. `cpu_seconds` is the user + system CPU time of
the command and of the processes it waited for: with one worker, the whole scan's CPU time
(the per-core throughput target is stated in it: `cpu_docs_per_s`).

    python benchmarks/scan_throughput.py --docs 100000 1000000 --workers 2
    python benchmarks/scan_throughput.py --docs 100000 --workers 1 2 --engine dask   # scaling

With several --workers, it also prints the scaling ratio of each count over the first.
With --engine dask, the scan runs on a local Dask cluster of that many worker processes
(its scheduler and nanny processes are counted in the memory of the process tree).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic_corpus import write_shards  # noqa: E402


def tree_rss(pid: int) -> tuple[int, int, int]:
    """(RSS of pid, its anonymous part, RSS of pid and all its descendants) in bytes, from /proc.

    The anonymous part leaves out file pages mapped into memory (the join's memory-mapped
    signatures and band keys), which count in RSS but the kernel can drop at any time."""
    def rss(p: int, field: str = "VmRSS:") -> int:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith(field):
                    return int(line.split()[1]) * 1024
        except OSError:
            pass
        return 0

    def children(p: int) -> list[int]:
        kids = []
        for task in Path(f"/proc/{p}/task").glob("*") if Path(f"/proc/{p}/task").exists() else []:
            try:
                kids += [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                pass
        return kids

    own, anonymous, total, stack = rss(pid), rss(pid, "RssAnon:"), 0, [pid]
    while stack:
        p = stack.pop()
        total += rss(p)
        stack += children(p)
    return own, anonymous, total


def measure(corpus: Path, out: Path, workers: int, engine: str = "local") -> dict:
    shutil.rmtree(out, ignore_errors=True)
    command = [sys.executable, "-m", "corpus_audit", "scan", str(corpus), "--out", str(out), "--workers", str(workers),
               "--engine", engine]
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={"CI": "true", "PATH": "/usr/bin:/bin"})
    peak_main = peak_anonymous = peak_tree = 0
    while True:  # wait4, not poll: it also gives the CPU time of the scan and of every process it waited for
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            process.returncode = os.waitstatus_to_exitcode(status)
            break
        own, anonymous, total = tree_rss(process.pid)
        peak_main, peak_anonymous, peak_tree = max(peak_main, own), max(peak_anonymous, anonymous), max(peak_tree, total)
        time.sleep(0.05)
    seconds = time.perf_counter() - start
    cpu = usage.ru_utime + usage.ru_stime
    if process.returncode != 0:
        raise SystemExit(f"scan failed: {process.stderr.read().decode()}")
    audit = json.loads((out / "audit.json").read_text())
    docs, mb = audit["input"]["scanned"], audit["length"]["char_count"]["total"] / 1e6
    return {"documents": docs, "engine": engine, "workers": workers, "seconds": round(seconds, 1),
            "cpu_seconds": round(cpu, 1) if workers == 1 else None,  # the pool's workers are not this process's children
            "cpu_docs_per_s": round(docs / cpu) if workers == 1 else None,
            "scan_seconds": audit["timing"]["scan_seconds"], "after_scan_seconds": audit["timing"]["after_scan_seconds"],
            "docs_per_s": round(docs / seconds), "docs_per_s_per_core": round(docs / seconds / workers),
            "text_MB_per_s_per_core": round(mb / seconds / workers, 2),
            "peak_rss_main_MB": round(peak_main / 2**20), "peak_anonymous_main_MB": round(peak_anonymous / 2**20),
            "peak_rss_tree_MB": round(peak_tree / 2**20)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, nargs="+", default=[100_000])
    parser.add_argument("--workers", type=int, nargs="+", default=[2])
    parser.add_argument("--engine", choices=["local", "dask"], default="local")
    parser.add_argument("--data", type=Path, default=Path("benchmarks/out"))
    args = parser.parse_args()
    for n in args.docs:
        corpus = args.data / f"corpus-{n}"
        write_shards(corpus, n)
        first = None
        for workers in args.workers:
            result = measure(corpus, args.data / f"audit-{n}", workers, args.engine)
            first = first or result
            result["scaling_over_first"] = round(first["seconds"] / result["seconds"], 2)
            print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
