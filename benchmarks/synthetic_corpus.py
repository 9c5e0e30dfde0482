"""Generate benchmark corpora: N documents of about 300 words, in Parquet shards.

Words are drawn from a made-up Zipf-distributed vocabulary, grouped into sentences and
paragraphs, so the text has realistic token statistics without copying any real text.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

SYLLABLES = ["ka", "lo", "mi", "ren", "tu", "sa", "vel", "or", "in", "da", "pe", "qu", "ri", "zo", "an", "el"]


def vocabulary(size: int, rng: np.random.Generator) -> np.ndarray:
    words = set()
    while len(words) < size:
        words.add("".join(rng.choice(SYLLABLES, rng.integers(1, 6))))
    return rng.permutation(np.array(sorted(words)))


def documents(n: int, words_per_doc: int = 300, seed: int = 0, vocab_size: int = 20_000) -> list[str]:
    """n documents of about words_per_doc words each."""
    rng = np.random.default_rng(seed)
    vocab = vocabulary(vocab_size, rng)
    ranks = np.arange(1, vocab_size + 1)
    probs = 1 / ranks**1.1
    probs /= probs.sum()
    lengths = rng.integers(words_per_doc * 3 // 4, words_per_doc * 5 // 4 + 1, n)
    tokens = vocab[rng.choice(vocab_size, size=int(lengths.sum()), p=probs)]
    docs, start = [], 0
    for length in lengths:
        words = tokens[start:start + length].tolist()
        start += length
        for i in range(11, len(words), 12):
            words[i] += "."
        for i in range(59, len(words), 60):
            words[i] += "\n\n"
        docs.append(" ".join(words).replace("\n\n ", "\n\n"))
    return docs


def write_shards(out: Path, n: int, docs_per_shard: int = 50_000, seed: int = 0) -> list[Path]:
    """Write n documents as Parquet shards under out (reused when already there)."""
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for k, start in enumerate(range(0, n, docs_per_shard)):
        path = out / f"part-{k:05d}.parquet"
        count = min(docs_per_shard, n - start)
        if not path.exists() or pq.ParquetFile(path).metadata.num_rows != count:
            texts = documents(count, seed=seed * 100_003 + k)
            pq.write_table(pa.table({"text": texts}), path, row_group_size=10_000)
        paths.append(path)
    return paths


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out/corpus"))
    args = parser.parse_args()
    print(write_shards(args.out, args.docs))
