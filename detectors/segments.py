"""Per-document sums over a batch's flattened word arrays, several measures in one pass.

A batch's words are stored document after document, so each document's words are one
contiguous segment: `np.add.reduceat` over a row per measure sums them all at once, where a
weighted `np.bincount` per measure would read the word array once for each.
"""

from __future__ import annotations

import numpy as np


def document_sums(per_word: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """(measures, documents) sums of each row of `per_word` (measures x words) over the
    words of each document, `counts` of them in turn; 0 for a document without words."""
    per_word = np.atleast_2d(per_word)
    out = np.zeros((len(per_word), len(counts)), per_word.dtype)
    has_words = counts > 0
    if has_words.any():
        starts = np.cumsum(counts) - counts
        out[:, has_words] = np.add.reduceat(per_word, starts[has_words], axis=1)
    return out
