"""The vectorised xxHash64 against the xxhash package, byte string by byte string."""

from __future__ import annotations

import numpy as np
import xxhash
from hypothesis import given, settings
from hypothesis import strategies as st

from detectors.xxh64 import xxh64


def hashed(strings: list[bytes], seed: int) -> list[int]:
    data = np.frombuffer(b"".join(strings), np.uint8)
    offsets = np.r_[0, np.cumsum([len(s) for s in strings])].astype(np.int64)
    return xxh64(data, offsets, seed).tolist()


@settings(max_examples=200, deadline=None)
@given(strings=st.lists(st.binary(max_size=80), max_size=30), seed=st.integers(0, 2**64 - 1))
def test_each_string_hashes_as_the_xxhash_package_hashes_it(strings, seed):
    assert hashed(strings, seed) == [xxhash.xxh64_intdigest(s, seed) for s in strings]


def test_every_length_of_the_short_path_and_past_it():
    # Lengths 0-40 take every combination of 8-byte, 4-byte and single-byte steps, and the
    # package's four-lane path from 32; a string that ends the data reads no byte past it.
    strings = [bytes(range(200, 200 + n % 50)) * (1 + n // 50) for n in range(41)]
    for seed in (0, 1, 2**64 - 1):
        assert hashed(strings, seed) == [xxhash.xxh64_intdigest(s, seed) for s in strings]
        assert hashed(strings[::-1], seed) == [xxhash.xxh64_intdigest(s, seed) for s in strings[::-1]]
    assert hashed([], 0) == []
