"""Docs/s per core of each detector on ~300-word documents (one process, batches of 1,000).

Also, in the same run, the libraries these detectors replace on the hot path:
datasketch's MinHash (`MinHash.bulk` with its default SHA1 on shingles made beforehand, and
end to end with Python shingling), and, if you name a Python environment that has it,
datatrove's GopherRepetitionFilter and MinhashDedupSignature (not a dependency of this project),
all as docs/s of CPU time on one core:

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
import json, sys, tempfile, time
from datatrove.data import Document
from datatrove.pipeline.dedup.minhash import MinhashConfig, MinhashDedupSignature
from datatrove.pipeline.filters import GopherRepetitionFilter
texts = json.load(open(sys.argv[1]))
docs = [Document(text=t, id=str(i)) for i, t in enumerate(texts)]
gopher = GopherRepetitionFilter()
gopher.filter(Document(text=texts[0], id="warm-up"))
wall, cpu = time.perf_counter(), time.process_time()
for doc in docs:
    gopher.filter(doc)
out = {"gopher_cpu": len(texts) / (time.process_time() - cpu), "gopher_wall": len(texts) / (time.perf_counter() - wall)}
with tempfile.TemporaryDirectory() as folder:  # 16 buckets x 8 hashes: the 128 permutations corpus-audit uses
    signature = MinhashDedupSignature(folder, config=MinhashConfig(n_grams=5, num_buckets=16, hashes_per_bucket=8))
    wall, cpu = time.perf_counter(), time.process_time()
    signature.run(iter(docs))  # signatures of every document, written to its buckets and sorted
    out.update(minhash_cpu=len(texts) / (time.process_time() - cpu), minhash_wall=len(texts) / (time.perf_counter() - wall))
print(json.dumps(out))
"""


def rate(texts: list[str], work, batch: int = 1000) -> float:
    """Docs/s of CPU time of `work` over batches of the texts (one process, one core)."""
    work(texts[:batch])  # warm-up
    start = time.process_time()
    for i in range(0, len(texts), batch):
        work(texts[i:i + batch])
    return len(texts) / (time.process_time() - start)


def python_shingles(text: str, n: int = 5) -> list[bytes]:
    words = normalize(text)
    return [" ".join(words[i:i + n]).encode() for i in range(max(len(words) - n + 1, 1))]


def datatrove(texts: list[str], python: str) -> dict[str, float]:
    """datatrove's Gopher repetition filter and MinHash signature stage on the same texts, one
    process (docs/s of CPU time and of wall time)."""
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "texts.json"
        data.write_text(json.dumps(texts))
        result = subprocess.run([python, "-c", DATATROVE_TIMER, str(data)], capture_output=True, text=True, check=True)
        return json.loads(result.stdout.strip().splitlines()[-1])


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
        peer = datatrove(texts[:5000], args.datatrove_python)
        report.update({f"datatrove_{k}_docs_per_s": round(v) for k, v in peer.items()})
        report["repetition_over_datatrove_gopher"] = round(report["repetition_docs_per_s"] / peer["gopher_cpu"], 1)
        report["minhash_over_datatrove_signature"] = round(report["minhash_docs_per_s"] / peer["minhash_cpu"], 1)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
