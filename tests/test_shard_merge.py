"""Shards' partials merged as they finish equal the merge of every shard at the end, in shard order."""

from __future__ import annotations

import json

import numpy as np
import pytest

from corpus_audit.io.run_state import ShardResult
from corpus_audit.pipeline.assemble import ShardMerge
from detectors import Bundle, Histogram, LengthDetector, WordSpectrumDetector


def shard(index: int, rng: np.random.Generator) -> ShardResult:
    texts = [" ".join(f"w{int(x)}" for x in rng.zipf(1.3, rng.integers(1, 30))) for _ in range(20)]
    partials = {d.name: d.partial(texts, d.score(texts)).to_state() for d in (LengthDetector(), WordSpectrumDetector(max_types=50))}
    strata = {v: Histogram(0.0, 1.0, 100).add(rng.random(5)).to_state() for v in rng.choice(["a", "b", "c"], 2, replace=False)}
    return ShardResult(index, f"f{index}", partials=partials, strata=strata)


def merged_at_the_end(results: list[ShardResult]) -> tuple[dict, dict]:
    """The plain form: every shard kept, then merged in shard order."""
    partials, strata = {}, {}
    for r in sorted(results, key=lambda r: r.index):
        for name, state in r.partials.items():
            partials[name] = Bundle.from_state(state) if name not in partials else partials[name].merge(Bundle.from_state(state))
        for value, state in r.strata.items():
            h = Histogram.from_state(state)
            strata[value] = h if value not in strata else strata[value].merge(h)
    return ({k: v.to_state() for k, v in partials.items()}, {k: v.to_state() for k, v in strata.items()})


@pytest.mark.parametrize("seed", range(6))
def test_shards_arriving_in_any_order_with_skips_merge_as_at_the_end(seed):
    rng = np.random.default_rng(seed)
    results = [shard(i, rng) for i in range(12)]
    skipped = set(rng.choice(12, 3, replace=False).tolist())
    kept = [r for r in results if r.index not in skipped]
    expected = merged_at_the_end([ShardResult(r.index, r.fingerprint, partials=json.loads(json.dumps(r.partials)),
                                              strata=json.loads(json.dumps(r.strata))) for r in kept])
    merge = ShardMerge([LengthDetector(), WordSpectrumDetector(max_types=50)], range(12))
    held = []
    for index in rng.permutation(12).tolist():
        if index in skipped:
            merge.skip(index)
        else:
            merge.add(results[index])
        held.append(len(merge.arrived))
    done = merge.done()
    assert ({k: v.to_state() for k, v in done.partials.items()}, {k: v.to_state() for k, v in done.strata.items()}) == expected
    assert all(r.partials == {} and r.strata == {} for r in kept)  # merged states are dropped
    assert held[-1] == 0 and max(held) < 12


def test_in_order_arrival_holds_no_shard_and_a_missing_shard_is_an_error():
    rng = np.random.default_rng(0)
    merge = ShardMerge([LengthDetector()], range(3))
    for i in range(2):
        merge.add(shard(i, rng))
        assert merge.arrived == {}
    with pytest.raises(RuntimeError, match="neither finished nor were skipped"):
        merge.done()
