"""What `ca.audit(df)` costs beside `corpus-audit scan` on the same documents.

Generates (or reuses) Parquet shards of ~300-word documents, reads them into one pandas
DataFrame, then times the CLI on the shards (a subprocess, as a user runs it) and
`ca.audit(df)` in this process, and the spooling of the DataFrame to Parquet alone.

    python benchmarks/api_overhead.py --docs 100000 --workers 2
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic_corpus import write_shards  # noqa: E402

import corpus_audit as ca  # noqa: E402
from corpus_audit.io.spool import spool  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--data", type=Path, default=Path("benchmarks/out"))
    args = parser.parse_args()
    corpus = args.data / f"corpus-{args.docs}"
    write_shards(corpus, args.docs)
    frame = pd.read_parquet(corpus)
    out = args.data / f"api-overhead-{args.docs}"
    shutil.rmtree(out, ignore_errors=True)

    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "corpus_audit", "scan", str(corpus), "--out", str(out),
                    "--workers", str(args.workers)], check=True, capture_output=True, env={"CI": "true", "PATH": "/usr/bin:/bin"})
    cli_seconds = time.perf_counter() - started

    with tempfile.TemporaryDirectory() as scratch:
        started = time.perf_counter()
        spool(frame, Path(scratch))
        spool_seconds = time.perf_counter() - started

    started = time.perf_counter()
    result = ca.audit(frame, workers=args.workers, progress=False)
    api_seconds = time.perf_counter() - started

    cli = json.loads((out / "audit.json").read_text())
    print(json.dumps({
        "documents": args.docs, "workers": args.workers, "cli_seconds": round(cli_seconds, 1),
        "api_seconds": round(api_seconds, 1), "overhead": round(api_seconds / cli_seconds - 1, 3),
        "spool_seconds": round(spool_seconds, 2), "same_estimate": result.synthetic_fraction.estimate
        == cli["synthetic_fraction"]["estimate"]}))


if __name__ == "__main__":
    main()
