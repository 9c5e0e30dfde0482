"""MinHash signatures and the near-duplicate join, checked against brute-force Jaccard."""

from __future__ import annotations

import random

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from datasketch import MinHash

from corpus_audit.dedup.near_duplicates import NearDuplicateJoin, clusters_from_edges, part_labels
from detectors.minhash import MinHashDetector, choose_bands
from detectors.tokens import normalize
from tests.conftest import run, write_parquet


def shingle_set(text: str, n: int = 5) -> set[tuple[str, ...]]:
    words = normalize(text)
    if 0 < len(words) < n:
        return {tuple(words)}
    return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}


def jaccard(a: str, b: str) -> float:
    x, y = shingle_set(a), shingle_set(b)
    return len(x & y) / len(x | y)


def unique_words(rng: random.Random, count: int) -> list[str]:
    return [f"{rng.choice('bcdfghjklmnpqrstvwxz')}{rng.randrange(10**9)}" for _ in range(count)]


def planted_pair(rng: random.Random, target: float, length: int = 200) -> tuple[str, str, float]:
    """Two documents whose 5-gram Jaccard is close to target: edits spaced 5+ words apart."""
    words = unique_words(rng, length)
    shingles = length - 4
    edits = round(shingles * (1 - target) / (5 * (1 + target)))
    edited = list(words)
    for position in rng.sample(range(0, length, 5), edits):
        edited[position] = unique_words(rng, 1)[0]
    a, b = " ".join(words), " ".join(edited)
    return a, b, jaccard(a, b)


def test_signature_equals_datasketch_minhash():
    detector = MinHashDetector()
    texts = ["The quick brown fox jumps over the lazy dog, again and again.", "two words", "", "Ünïcödé text, with — dashes!",
             " a\u00a0b\u2028c\x1cd\te_f  g\u200bh ", "\x00\x01 !!! ..."]
    shingles, offsets = detector.shingle_hashes(texts)
    signatures = detector.signatures(shingles, offsets)
    for i in range(len(texts)):
        expected = MinHash(num_perm=128, seed=1, scheme="affine32", hashfunc=lambda x: x)
        expected.update_batch([int(h) for h in shingles[offsets[i]:offsets[i + 1]]])
        assert np.array_equal(expected.hashvalues, signatures[i])
    assert list(np.diff(offsets)) == [len(shingle_set(t)) if normalize(t) else 0 for t in texts]


def test_normalisation_folds_case_punctuation_and_whitespace():
    assert normalize("Hello,  WORLD!\n\tit's   fine...") == ["hello", "world", "it", "s", "fine"]
    a = MinHashDetector().score(["Hello, WORLD! it's fine and so are we"])["signature"]
    b = MinHashDetector().score(["hello world it s fine   and so are we."])["signature"]
    assert np.array_equal(a, b)


def test_banding_gives_high_recall_at_the_threshold():
    bands, rows = choose_bands(0.8, 128)
    assert (bands, rows) == (25, 5)
    assert 1 - (1 - 0.8**rows) ** bands >= 0.999
    assert bands * rows <= 128
    with pytest.raises(ValueError):
        choose_bands(1.0, 128)


def test_giant_document_signature_is_chunked_correctly():
    words = [f"w{i % 5000}" for i in range(300_000)]
    detector = MinHashDetector()
    shingles, offsets = detector.shingle_hashes([" ".join(words), "short text here"])
    assert offsets[1] > 1024  # spans many permutation chunks
    expected = MinHash(num_perm=128, seed=1, scheme="affine32", hashfunc=lambda x: x)
    expected.update_batch([int(h) for h in shingles[: offsets[1]]])
    assert np.array_equal(detector.signatures(shingles, offsets)[0], expected.hashvalues)


def join(texts: list[str], tmp_path, threshold: float = 0.8, partition_rows: int = 4_000_000):
    detector = MinHashDetector(threshold=threshold)
    arrays = detector.score(texts)
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "part.npz"
    np.savez(path, **{k: arrays[k] for k in detector.arrays})
    return NearDuplicateJoin(threshold, partition_rows=partition_rows).run([path], tmp_path / "work")


def dense_labels(clusters) -> np.ndarray:
    """A label per document: its cluster's, or a label of its own when it is in none."""
    labels = np.arange(clusters.documents) + len(clusters.sizes)
    labels[clusters.members] = clusters.member_cluster
    return labels


def test_sparse_clusters_match_a_union_find_over_every_document():
    rng = np.random.default_rng(4)
    corpus, references = 500, 20
    edges = rng.integers(0, corpus, (120, 2))
    edges = np.sort(edges[edges[:, 0] != edges[:, 1]], axis=1)
    to_reference = np.stack([rng.integers(0, corpus, 40), corpus + rng.integers(0, references, 40)], 1)
    clusters = clusters_from_edges(np.concatenate([edges, to_reference]), corpus, 999, 7)
    parent = list(range(corpus))  # the reference: union-find over all documents, by hand

    def root(i):
        while parent[i] != i:
            i = parent[i]
        return i

    for a, b in edges.tolist():
        parent[root(a)] = root(b)
    groups = {}
    for doc in range(corpus):
        groups.setdefault(root(doc), []).append(doc)
    expected = sorted(sorted(g) for g in groups.values() if len(g) >= 2)
    found = {}
    for doc, cluster in zip(clusters.members.tolist(), clusters.member_cluster.tolist()):
        found.setdefault(cluster, []).append(doc)
    assert sorted(found.values()) == expected
    assert sorted(clusters.sizes.tolist()) == sorted(len(g) for g in expected)
    assert clusters.documents == corpus and clusters.verified_pairs == len(edges)
    first_reference = {}
    for doc, reference in to_reference.tolist():
        first_reference[doc] = min(first_reference.get(doc, reference), reference)
    assert clusters.matched.tolist() == sorted(first_reference)
    assert clusters.matched_reference.tolist() == [first_reference[d] - corpus for d in sorted(first_reference)]
    empty = clusters_from_edges(np.empty((0, 2), np.int64), 10, 0, 0)
    assert (empty.documents, len(empty.members), len(empty.sizes), len(empty.matched)) == (10, 0, 0, 0)


def test_only_parts_with_a_cluster_member_or_a_reference_match_are_relabelled(tmp_path):
    for k in range(4):  # 4 parts of 5 documents: corpus positions 5k to 5k + 4
        pq.write_table(pa.table({"doc_id": [f"d{5 * k + i}" for i in range(5)]}), tmp_path / f"p{k}.parquet")
    parts = [f"p{k}.parquet" for k in range(4)]
    clusters = clusters_from_edges(np.array([[1, 11], [11, 12], [8, 20 + 2]]), 20, 3, 0)  # doc 8 matches reference 2
    representatives = {0: "d1"}  # the one cluster: documents 1, 11 and 12
    labelled = {path.name: (cluster, matches) for path, cluster, matches in part_labels(tmp_path, parts, clusters,
                                                                                         representatives, ["r0", "r1", "r2"])}
    assert sorted(labelled) == ["p0.parquet", "p1.parquet", "p2.parquet"]  # p3 holds neither
    assert labelled["p0.parquet"] == ([None, "d1", None, None, None], [None] * 5)
    assert labelled["p1.parquet"] == ([None] * 5, [None, None, None, "r2", None])
    assert labelled["p2.parquet"] == ([None, "d1", "d1", None, None], [None] * 5)
    without_references = part_labels(tmp_path, parts, clusters, representatives, None)  # a match alone is no label
    assert [path.name for path, *_ in without_references] == ["p0.parquet", "p2.parquet"]


def test_planted_pairs_fall_on_the_right_side_of_the_threshold(tmp_path):
    rng = random.Random(5)
    texts, truth = [], []
    for target in [0.95, 0.9, 0.85, 0.82, 0.78, 0.75, 0.6] * 30:
        a, b, j = planted_pair(rng, target)
        texts += [a, b]
        truth.append(j)
    clusters = join(texts, tmp_path)
    labels = dense_labels(clusters)
    together = np.array([labels[2 * k] == labels[2 * k + 1] for k in range(len(truth))])
    truth = np.array(truth)
    above = truth >= 0.8
    assert above.sum() > 100 and (~above).sum() > 80
    # The exact check decides near the threshold, so mistakes need a band miss (p < 1e-3 each).
    assert together[above].mean() >= 0.99
    assert not together[~above].any()
    assert clusters.exact_checks > 0


def test_identical_documents_cluster_and_clusters_are_transitive(tmp_path):
    rng = random.Random(2)
    base = unique_words(rng, 100)
    chain = [list(base)]
    for step in range(4):  # each step edits a fresh word: neighbours ~0.9, ends of the chain far lower
        nxt = list(chain[-1])
        for position in range(step * 20, step * 20 + 20, 10):
            nxt[position] = unique_words(rng, 1)[0]
        chain.append(nxt)
    texts = [" ".join(w) for w in chain] + [" ".join(base)] + [" ".join(unique_words(rng, 100)) for _ in range(5)]
    assert jaccard(texts[0], texts[4]) < 0.8 < jaccard(texts[0], texts[1])
    labels = dense_labels(join(texts, tmp_path))
    assert len({labels[i] for i in range(6)}) == 1  # the chain and the exact copy: one cluster
    assert len({labels[i] for i in range(6, 11)}) == 5 and labels[6] != labels[0]


def test_empty_documents_are_not_near_duplicates(tmp_path):
    clusters = join(["", "", "   ", "!!!", "some real text that stands alone here"], tmp_path)
    assert len(clusters.members) == 0 and len(clusters.sizes) == 0


def test_partitioned_bucketing_gives_the_same_clusters(tmp_path):
    rng = random.Random(9)
    texts = []
    for _ in range(40):
        a, b, _ = planted_pair(rng, 0.9, length=60)
        texts += [a, b, " ".join(unique_words(rng, 60))]
    whole = dense_labels(join(texts, tmp_path / "a"))
    parted = dense_labels(join(texts, tmp_path / "b", partition_rows=7))
    assert np.array_equal(whole, parted)


def corpus_with_planted_duplicates(tmp_path):
    rng = random.Random(11)
    shards = [[], [], []]
    for k in range(30):
        a, b, _ = planted_pair(rng, 0.92, length=80)
        shards[k % 3].append(a)
        shards[(k + 1) % 3].append(b)  # each pair crosses shards
    for shard in shards:
        shard += [" ".join(unique_words(rng, 80)) for _ in range(10)]
    return [write_parquet(tmp_path / "in" / f"s{k}.parquet", texts) for k, texts in enumerate(shards)]


@pytest.mark.slow
def test_scan_same_clusters_with_any_workers_and_shard_order(tmp_path):
    paths = corpus_with_planted_duplicates(tmp_path)
    one = run(tmp_path, *paths, out=tmp_path / "one", workers=1, batch_size=8)
    run(tmp_path, *reversed(paths), out=tmp_path / "two", workers=2, batch_size=8)

    def mapping(out):
        table = pq.read_table(out / "documents").to_pydict()
        return dict(zip(table["doc_id"], table["near_dup_cluster"]))

    assert mapping(tmp_path / "one") == mapping(tmp_path / "two")
    nd = one["near_duplicates"]
    assert nd["clusters"] == 30 and nd["duplicate_documents"] == 30
    assert nd["duplicate_fraction"] == pytest.approx(30 / 90)
    assert nd["largest"][0]["size"] == 2 and len(nd["largest"][0]["excerpt"]) == 200
    three = run(tmp_path, *paths, out=tmp_path / "three", workers=2, batch_size=8)
    for part in (tmp_path / "one" / "documents").iterdir():
        assert part.read_bytes() == (tmp_path / "three" / "documents" / part.name).read_bytes()
    assert three["near_duplicates"] == nd


def test_against_reports_documents_that_copy_the_reference_without_merging_clusters(tmp_path):
    rng = random.Random(4)
    reference = [" ".join(unique_words(rng, 120)) for _ in range(3)]
    ref_path = write_parquet(tmp_path / "ref" / "known.parquet", reference)
    words = reference[0].split()
    # Two copies of reference 0 with 2 edits at opposite ends: 106/126 = 0.84 to it, 96/136 = 0.71 to each other.
    left, right = list(words), list(words)
    for position in (10, 20):  # interior words: each edit changes 5 shingles
        left[position] = unique_words(rng, 1)[0]
        right[119 - position] = unique_words(rng, 1)[0]
    corpus = [" ".join(left), " ".join(right)] + [" ".join(unique_words(rng, 120)) for _ in range(4)]
    assert jaccard(corpus[0], reference[0]) >= 0.8 and jaccard(corpus[1], reference[0]) >= 0.8
    assert jaccard(corpus[0], corpus[1]) < 0.8
    path = write_parquet(tmp_path / "corpus.parquet", corpus)
    audit = run(tmp_path, path, against=str(ref_path))
    against = audit["near_duplicates"]["against"]
    assert against["reference_documents"] == 3 and against["matched_documents"] == 2
    assert against["matched_fraction"] == pytest.approx(2 / 6)
    table = pq.read_table(tmp_path / "out" / "documents").to_pydict()
    assert table["matches_reference"] == [f"{ref_path}:0"] * 2 + [None] * 4
    assert table["near_dup_cluster"] == [None] * 6  # matching one reference does not make them one cluster
    # --text-column names the text of the --against file too, as of the reference sets
    titled = write_parquet(tmp_path / "ref2" / "known.parquet", ["a title"] * 3, body=reference)
    body = write_parquet(tmp_path / "body" / "corpus.parquet", ["a title"] * 6, body=corpus)
    again = run(tmp_path, body, out=tmp_path / "again", against=str(titled), text_column="body")
    assert again["near_duplicates"]["against"]["matched_documents"] == 2
