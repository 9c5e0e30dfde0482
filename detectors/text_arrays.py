"""A batch's texts as one Arrow string array: their UTF-8 bytes and whitespace split in C++.

Several detectors read the same raw products of a batch: the UTF-8 bytes of each text
(sizes, zlib, hashes) and `text.split()`. Building one Arrow array per batch gives both
without a Python call per text. Arrow cannot hold a lone surrogate (which the readers keep
from invalid input), so such a batch takes the Python path, with the same results.
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

    Arrow's whitespace split, with each word trimmed (see `_split_whitespace`), agrees with
    Python's `str.split()` on every code point (checked over all of Unicode) and runs in C++."""
    return prepared(texts, "whitespace_split", lambda: _split_whitespace(texts))


def _split_whitespace(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    array = arrow_texts(texts)
    if array is None:
        return _split_whitespace_in_python(texts)
    split = pc.utf8_split_whitespace(array)
    # pyarrow 26's split now and then leaves a text's last whitespace character on its last
    # word ("a\u3000", "\n"): seen on about 1 text in 1,000 of whitespace-heavy batches, varying
    # from run to run. Trimming each word removes it; the trim is exact on those words.
    words = pc.utf8_trim_whitespace(split.flatten())
    nonempty = pc.greater(pc.binary_length(words), 0)  # leading or trailing whitespace splits off ""
    per_text = np.diff(split.offsets.to_numpy())
    doc = np.repeat(np.arange(len(texts)), per_text)[nonempty.to_numpy(zero_copy_only=False)]
    encoded = pc.dictionary_encode(words.filter(nonempty))
    return (np.bincount(doc, minlength=len(texts)).astype(np.int64), encoded.indices.to_numpy(zero_copy_only=False),
            encoded.dictionary.to_pylist())


def _split_whitespace_in_python(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    split = [t.split() for t in texts]
    counts = np.fromiter((len(w) for w in split), np.int64, len(split))
    words = [w for ws in split for w in ws]
    codes, uniques = pd.factorize(np.asarray(words, dtype=object)) if words else (np.empty(0, np.int64), [])
    return counts, codes, list(uniques)
