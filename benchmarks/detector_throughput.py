"""Docs/s per core of each detector on ~300-word documents (one process, batches of 1,000).

Also, in the same run, the libraries these detectors replace on the hot path:
datasketch's MinHash (`MinHash.bulk` with its default SHA1 on shingles made beforehand, and
end to end with Python shingling), and, if you name a Python environment that has it,
datatrove's GopherRepetitionFilter (not a dependency of this project):

    python benchmarks/detector_throughput.py --docs 20000 [--datatrove-python /path/to/venv/bin/python]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from datasketch import MinHash

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic_corpus import documents  # noqa: E402

from corpus_audit.model import store as model_store  # noqa: E402
from detectors import LengthDetector, MinHashDetector, RepetitionDetector  # noqa: E402
from detectors.classifier import ClassifierDetector  # noqa: E402
from detectors.tokens import normalize  # noqa: E402

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


def rate(texts: list[str], work, batch: int = 1000) -> float:
    work(texts[:batch])  # warm-up
    start = time.perf_counter()
    for i in range(0, len(texts), batch):
        work(texts[i:i + batch])
    return len(texts) / (time.perf_counter() - start)


def python_shingles(text: str, n: int = 5) -> list[bytes]:
    words = normalize(text)
    return [" ".join(words[i:i + n]).encode() for i in range(max(len(words) - n + 1, 1))]


def datatrove(texts: list[str], python: str) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "texts.json"
        data.write_text(json.dumps(texts))
        result = subprocess.run([python, "-c", DATATROVE_TIMER, str(data)], capture_output=True, text=True, check=True)
        return float(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=20_000)
    parser.add_argument("--datatrove-python", help="a Python interpreter with datatrove installed")
    args = parser.parse_args()
    texts = documents(args.docs, seed=1)
    few = texts[: max(len(texts) // 4, 1)]
    report: dict[str, float | int] = {"documents": len(texts), "mean_words": round(sum(len(t.split()) for t in texts) / len(texts)),
                                      "MB": round(sum(len(t.encode()) for t in texts) / 1e6, 1)}
    detectors = {"length": LengthDetector(), "repetition": RepetitionDetector(), "minhash": MinHashDetector(),
                 "classifier": ClassifierDetector(model_store.load().model)}
    for name, detector in detectors.items():
        report[f"{name}_docs_per_s"] = round(rate(texts, detector.score))
    premade = [python_shingles(t) for t in few]
    start = time.perf_counter()
    MinHash.bulk(premade, num_perm=128)
    report["datasketch_bulk_sha1_docs_per_s"] = round(len(few) / (time.perf_counter() - start))
    report["datasketch_end_to_end_docs_per_s"] = round(rate(few, lambda b: [MinHash(num_perm=128).update_batch(python_shingles(t)) for t in b]))
    if args.datatrove_python:
        report["datatrove_gopher_docs_per_s"] = round(datatrove(texts[:5000], args.datatrove_python))
    print(json.dumps(report))


if __name__ == "__main__":
    main()
