"""Precision and recall of near-duplicate detection against brute-force exact Jaccard.

A corpus of base documents (~200 words from a Zipf vocabulary, so unrelated documents
share some common-word shingles) and, for each base, an edited copy whose target 5-gram
Jaccard is drawn uniformly from [0.5, 1.0] (random word substitutions). Ground truth is the
exact Jaccard of every pair of documents that shares at least one shingle (all other pairs
have Jaccard 0), computed with Python sets. A pair is predicted a near-duplicate when both
documents end in the same cluster.

    python benchmarks/minhash_accuracy.py --bases 1500
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import defaultdict
from itertools import combinations
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic_corpus import documents  # noqa: E402

from corpus_audit.dedup.near_duplicates import NearDuplicateJoin  # noqa: E402
from detectors.minhash import MinHashDetector  # noqa: E402
from detectors.tokens import normalize  # noqa: E402


def shingles(text: str, n: int = 5) -> frozenset:
    words = normalize(text)
    return frozenset({tuple(words)} if 0 < len(words) < n else {tuple(words[i:i + n]) for i in range(len(words) - n + 1)})


def edited(text: str, target: float, rng: np.random.Generator, vocabulary: list[str]) -> str:
    """Substitute random words until the 5-gram Jaccard with the original falls to about target."""
    words = text.split()
    original = shingles(text)
    order = rng.permutation(len(words))
    for k, position in enumerate(order):
        if k % 4 == 0 and len(shingles(" ".join(words)) & original) / len(shingles(" ".join(words)) | original) <= target:
            break
        words[position] = vocabulary[rng.integers(len(vocabulary))]
    return " ".join(words)


def ground_truth(sets: list[frozenset]) -> dict[tuple[int, int], float]:
    index: dict[tuple, list[int]] = defaultdict(list)
    for doc, shingle_set in enumerate(sets):
        for shingle in shingle_set:
            index[shingle].append(doc)
    pairs = {pair for docs in index.values() for pair in combinations(docs, 2)}
    return {(a, b): len(sets[a] & sets[b]) / len(sets[a] | sets[b]) for a, b in pairs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bases", type=int, default=1500)
    parser.add_argument("--threshold", type=float, default=0.8)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    bases = documents(args.bases, words_per_doc=200, seed=args.seed + 1)
    vocabulary = sorted({w for text in bases[:200] for w in text.split()})
    texts = bases + [edited(t, rng.uniform(0.5, 1.0), rng, vocabulary) for t in bases]
    truth = ground_truth([shingles(t) for t in texts])
    positives = {pair for pair, j in truth.items() if j >= args.threshold}

    detector = MinHashDetector(threshold=args.threshold)
    start = time.perf_counter()
    arrays = detector.score(texts)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "part.npz"
        np.savez(path, **{k: arrays[k] for k in detector.arrays})
        clusters = NearDuplicateJoin(args.threshold).run([path], Path(tmp) / "work")
    seconds = time.perf_counter() - start
    members: dict[int, list[int]] = defaultdict(list)
    for doc, cluster in zip(clusters.members.tolist(), clusters.member_cluster.tolist()):
        members[cluster].append(doc)
    predicted = {pair for docs in members.values() for pair in combinations(sorted(docs), 2)}
    hits = len(predicted & positives)
    in_band = [j for j in truth.values() if 0.5 <= j]
    print(json.dumps({
        "documents": len(texts), "pairs_sharing_a_shingle": len(truth), "pairs_with_J_0.5_to_1": len(in_band),
        "true_pairs_at_threshold": len(positives), "predicted_pairs": len(predicted),
        "precision": round(hits / len(predicted), 4) if predicted else None,
        "recall": round(hits / len(positives), 4) if positives else None,
        "candidate_pairs": clusters.candidate_pairs, "exact_checks": clusters.exact_checks,
        "missed_J": sorted(round(truth[p], 3) for p in positives - predicted)[:20],
        "false_J": sorted(round(truth.get(p, 0.0), 3) for p in predicted - positives)[:20],
        "seconds": round(seconds, 2),
    }))


if __name__ == "__main__":
    main()
