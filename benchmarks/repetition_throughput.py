"""Docs/s per core of the repetition detector on ~300-word documents (one process).

Optionally times datatrove's GopherRepetitionFilter on the same documents, in another
Python environment that has datatrove installed (it is not a dependency of this project):

    python benchmarks/repetition_throughput.py --docs 20000 --datatrove-python /path/to/venv/bin/python
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic_corpus import documents  # noqa: E402

from detectors import RepetitionDetector  # noqa: E402

DATATROVE_TIMER = """
import json, sys, time
from datatrove.data import Document
from datatrove.pipeline.filters import GopherRepetitionFilter
texts = json.load(open(sys.argv[1]))
gopher = GopherRepetitionFilter()
gopher.filter(Document(text=texts[0], id="warm-up"))
start = time.perf_counter()
for i, text in enumerate(texts):
    gopher.filter(Document(text=text, id=str(i)))
print(len(texts) / (time.perf_counter() - start))
"""


def ours(texts: list[str], batch_size: int) -> float:
    detector = RepetitionDetector()
    detector.score(texts[:batch_size])  # warm-up
    start = time.perf_counter()
    for i in range(0, len(texts), batch_size):
        detector.score(texts[i:i + batch_size])
    return len(texts) / (time.perf_counter() - start)


def datatrove(texts: list[str], python: str) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "texts.json"
        data.write_text(json.dumps(texts))
        result = subprocess.run([python, "-c", DATATROVE_TIMER, str(data)], capture_output=True, text=True, check=True)
        return float(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=20_000)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--datatrove-python", help="a Python interpreter with datatrove installed")
    args = parser.parse_args()
    texts = documents(args.docs, seed=1)
    mb = sum(len(t.encode()) for t in texts) / 1e6
    rate = ours(texts, args.batch_size)
    report = {"documents": len(texts), "mean_words": round(sum(len(t.split()) for t in texts) / len(texts)),
              "docs_per_s_per_core": round(rate), "MB_per_s_per_core": round(rate * mb / len(texts), 2)}
    if args.datatrove_python:
        theirs = datatrove(texts[: min(len(texts), 5000)], args.datatrove_python)
        report["datatrove_gopher_docs_per_s_per_core"] = round(theirs)
        report["speedup"] = round(rate / theirs, 1)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
