"""A batch's texts as one Arrow string array: their UTF-8 bytes, whitespace and split at once.

Several detectors read the same raw products of a batch: the UTF-8 bytes of each text
(sizes, zlib, hashes), which of them are whitespace, and `text.split()`. Building one
Arrow array per batch gives them without a Python call per text. Arrow cannot hold a lone
surrogate (which the readers keep from invalid input), so such a batch is split in
Python, with the same results.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from detectors.prepared import prepared

def _to_arrow(texts: Sequence[str]) -> pa.LargeStringArray | None:
    try:
        return pa.array(texts, pa.large_string())
    except (pa.ArrowException, UnicodeEncodeError):
        return None


def arrow_texts(texts: Sequence[str]) -> pa.LargeStringArray | None:
    """The batch as a large_string array, or None when Arrow cannot hold it (a lone surrogate)."""
    return prepared(texts, "arrow", lambda: _to_arrow(texts))


def utf8(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(every text's UTF-8 bytes concatenated as uint8, the len(texts) + 1 offsets into them).

    Lone surrogates are encoded with surrogatepass, as everywhere in the detectors."""
    array = arrow_texts(texts)
    if array is None:
        encoded = [t.encode("utf-8", "surrogatepass") for t in texts]
        offsets = np.concatenate([[0], np.cumsum(np.fromiter(map(len, encoded), np.int64, len(encoded)))])
        return np.frombuffer(b"".join(encoded), np.uint8), offsets.astype(np.int64)
    return string_bytes(array)


def string_bytes(array: pa.LargeStringArray) -> tuple[np.ndarray, np.ndarray]:
    """(the strings' UTF-8 bytes concatenated as uint8, the len(array) + 1 offsets into them),
    read from the array's buffers without a copy."""
    if not len(array):
        return np.zeros(0, np.uint8), np.zeros(1, np.int64)
    _, offsets, data = array.buffers()
    offsets = np.frombuffer(offsets, np.int64)[array.offset:array.offset + len(array) + 1]
    data = np.frombuffer(data, np.uint8) if data is not None else np.zeros(0, np.uint8)
    return data[offsets[0]:offsets[-1]], offsets - offsets[0]


def pieces(data: np.ndarray, offsets: np.ndarray) -> list[memoryview]:
    """Each text's UTF-8 bytes as a zero-copy view (for zlib and xxhash, one call per text)."""
    view = memoryview(data)
    return [view[a:b] for a, b in zip(offsets[:-1].tolist(), offsets[1:].tolist())]


def compression_ratios(texts: Sequence[str]) -> np.ndarray:
    """`len(zlib.compress(utf8, 6)) / len(utf8)` of every text (1.0 for an empty one): the
    repetition detector's `compression_ratio` and the classifier's compressibility, made once."""
    return prepared(texts, "zlib6", lambda: np.fromiter(map(_compression, pieces(*utf8(texts))), np.float64, len(texts)))


def _compression(data: memoryview) -> float:
    return len(zlib.compress(data, 6)) / len(data) if len(data) else 1.0


def split_whitespace(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """`text.split()` of every text as (words per text, each word's id, the distinct words).

    Words are the runs of bytes outside `whitespace` (Python's whitespace, all of Unicode's,
    so it agrees with `str.split()`), found with NumPy over the batch's UTF-8 and made
    distinct by Arrow."""
    return prepared(texts, "whitespace_split", lambda: _split_whitespace(texts))


def _split_whitespace(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    if arrow_texts(texts) is None:  # a lone surrogate: Arrow cannot hold its words
        return _split_whitespace_in_python(texts)
    data, offsets = utf8(texts)
    word = ~whitespace(texts)
    runs = whitespace_runs(texts)
    of_words = word[runs]
    starts, ends = runs[of_words], np.r_[runs, data.size][1:][of_words]
    words = pa.LargeStringArray.from_buffers(len(starts), pa.py_buffer(np.r_[0, np.cumsum(ends - starts)]),
                                             pa.py_buffer(data[word]))
    encoded = pc.dictionary_encode(words)
    return (np.diff(np.searchsorted(starts, offsets)).astype(np.int64), encoded.indices.to_numpy(zero_copy_only=False),
            encoded.dictionary.to_pylist())


def _split_whitespace_in_python(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    split = [t.split() for t in texts]
    counts = np.fromiter((len(w) for w in split), np.int64, len(split))
    words = [w for ws in split for w in ws]
    codes, uniques = pd.factorize(np.asarray(words, dtype=object)) if words else (np.empty(0, np.int64), [])
    return counts, codes, list(uniques)


# Python's whitespace (str.split, str.isspace) beyond ASCII: U+0085, U+00A0 (two UTF-8 bytes,
# lead C2) and the rest (three bytes, leads E1-E3).
_WIDE_SPACES = np.array([0x85, 0xA0, 0x1680, *range(0x2000, 0x200B), 0x2028, 0x2029, 0x202F, 0x205F, 0x3000])


def whitespace(texts: Sequence[str]) -> np.ndarray:
    """Whether each byte of the batch's UTF-8 (`utf8`) belongs to a whitespace character."""
    return prepared(texts, "whitespace", lambda: _whitespace(utf8(texts)[0]))


def whitespace_runs(texts: Sequence[str]) -> np.ndarray:
    """Where each run of whitespace bytes, or of other bytes, begins in the batch's UTF-8
    (`utf8`, `whitespace`); a text's first byte always begins one, so no run spans two texts."""
    return prepared(texts, "whitespace_runs", lambda: _runs(utf8(texts)[1], whitespace(texts)))


def _runs(offsets: np.ndarray, space: np.ndarray) -> np.ndarray:
    cut = np.zeros(space.size + 1, bool)
    cut[1:-1] = space[1:] != space[:-1]
    cut[offsets] = True
    return np.flatnonzero(cut[:-1])


def _whitespace(data: np.ndarray) -> np.ndarray:
    space = (data <= 0x20) & ((data >= 0x1C) | ((data >= 9) & (data <= 13)))  # \t \n \v \f \r, \x1c-\x1f, space
    lead = np.flatnonzero((data == 0xC2) | ((data >= 0xE1) & (data <= 0xE3)))  # never a continuation byte
    two = lead[(data[lead] == 0xC2) & (lead + 1 < data.size)]
    three = lead[(data[lead] != 0xC2) & (lead + 2 < data.size)]
    two = two[np.isin(0x80 | (data[two + 1] & 0x3F), _WIDE_SPACES)]
    bits = [data[three + k].astype(np.int64) & mask for k, mask in enumerate((0x0F, 0x3F, 0x3F))]
    three = three[np.isin((bits[0] << 12) | (bits[1] << 6) | bits[2], _WIDE_SPACES)]
    for width, starts in ((2, two), (3, three)):
        for k in range(width):
            space[starts + k] = True
    return space
