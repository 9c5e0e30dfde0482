"""Docs/s per core of MinHash signatures (shingling + hashing + MinHash, 128 permutations)
on ~300-word documents, against datasketch used the usual ways in the same run:
`MinHash.bulk` on pre-made shingles with its default SHA1 hash, and end to end with
Python shingling and `update_batch`.

    python benchmarks/minhash_throughput.py --docs 20000
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from datasketch import MinHash

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic_corpus import documents  # noqa: E402

from detectors.minhash import MinHashDetector, normalize  # noqa: E402


def python_shingles(text: str, n: int = 5) -> list[bytes]:
    words = normalize(text)
    return [" ".join(words[i:i + n]).encode() for i in range(max(len(words) - n + 1, 1))]


def rate(texts: list[str], work) -> float:
    start = time.perf_counter()
    work(texts)
    return len(texts) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=20_000)
    args = parser.parse_args()
    texts = documents(args.docs, seed=3)
    detector = MinHashDetector()
    detector.score(texts[:1000])

    def ours(batch: list[str]) -> None:
        for i in range(0, len(batch), 1000):
            detector.score(batch[i:i + 1000])

    few = texts[: max(len(texts) // 4, 1)]
    premade = [python_shingles(t) for t in few]
    start = time.perf_counter()
    MinHash.bulk(premade, num_perm=128)
    bulk = len(few) / (time.perf_counter() - start)

    def datasketch_end_to_end(batch: list[str]) -> None:
        for text in batch:
            MinHash(num_perm=128).update_batch(python_shingles(text))

    print(json.dumps({
        "documents": len(texts), "mean_words": round(sum(len(t.split()) for t in texts) / len(texts)),
        "ours_docs_per_s_per_core": round(rate(texts, ours)),
        "datasketch_bulk_sha1_docs_per_s": round(bulk),
        "datasketch_end_to_end_docs_per_s": round(rate(few, datasketch_end_to_end)),
    }))


if __name__ == "__main__":
    main()
