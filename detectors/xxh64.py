"""xxHash64 of many byte strings at once, with NumPy: a batch's distinct words in one go.

The same 64-bit values as the `xxhash` package (`xxh64_intdigest`), which stays the
reference and hashes the rare string of 32 bytes or more (the algorithm's four-lane path).
Shorter strings, nearly all words, take the algorithm's short path, vectorised over the
strings: a few 8-byte, 4-byte and single-byte steps, each for the strings that reach it.
"""

from __future__ import annotations

import numpy as np
import xxhash

_P1, _P2, _P3, _P4, _P5 = (np.uint64(p) for p in (0x9E3779B185EBCA87, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9,
                                                   0x85EBCA77C2B2AE63, 0x27D4EB2F165667C5))
_SHORT = 32  # longer strings take the four-lane path, left to the xxhash package


def _rotl(x: np.ndarray, r: int) -> np.ndarray:
    return (x << np.uint64(r)) | (x >> np.uint64(64 - r))


def _words(padded: np.ndarray, size: int, dtype: str) -> np.ndarray:
    """The little-endian integer of type `dtype` that starts at each of the first `size` bytes
    (an unaligned view; `padded` ends with 8 zero bytes, read past a string's end)."""
    return np.ndarray((size,), dtype, padded, strides=(1,))


def xxh64(data: np.ndarray, offsets: np.ndarray, seed: int = 0) -> np.ndarray:
    """uint64 xxHash64 of each string `data[offsets[i]:offsets[i + 1]]` (uint8 data, int64 offsets)."""
    start, length = offsets[:-1], np.diff(offsets)
    out = np.empty(len(length), np.uint64)
    long = np.flatnonzero(length >= _SHORT)
    view = memoryview(data)
    out[long] = [xxhash.xxh64_intdigest(view[start[i]:start[i] + length[i]], seed) for i in long.tolist()]
    short = np.flatnonzero(length < _SHORT)
    at, left = start[short], length[short]
    padded = np.concatenate([data, np.zeros(8, np.uint8)])
    eight, four = _words(padded, data.size, "<u8"), _words(padded, data.size, "<u4")
    with np.errstate(over="ignore"):
        h = np.uint64(seed) + _P5 + left.astype(np.uint64)
        for _ in range(_SHORT // 8):  # 8-byte steps
            go = np.flatnonzero(left >= 8)
            k = _rotl(eight[at[go]] * _P2, 31) * _P1
            h[go] = _rotl(h[go] ^ k, 27) * _P1 + _P4
            at[go] += 8
            left[go] -= 8
        go = np.flatnonzero(left >= 4)  # one 4-byte step
        h[go] = _rotl(h[go] ^ (four[at[go]].astype(np.uint64) * _P1), 23) * _P2 + _P3
        at[go] += 4
        left[go] -= 4
        for _ in range(3):  # single bytes
            go = np.flatnonzero(left >= 1)
            h[go] = _rotl(h[go] ^ (data[at[go]].astype(np.uint64) * _P5), 11) * _P1
            at[go] += 1
            left[go] -= 1
        h ^= h >> np.uint64(33)
        h *= _P2
        h ^= h >> np.uint64(29)
        h *= _P3
        h ^= h >> np.uint64(32)
    out[short] = h
    return out
