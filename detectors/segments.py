"""Per-document sums and sorts over a batch's flattened word arrays.

A batch's words are stored document after document, so each document's words are one
contiguous segment, and `np.add.reduceat` sums every segment in one pass over the words:
about ten times faster than a weighted `np.bincount` by document. Sorting each segment
(to count or group a document's words) is done on a matrix of one document per row:
NumPy sorts many short rows of 16- or 32-bit integers with SIMD, 4 to 40 times faster
than one sort of the whole batch by (document, value).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

_ROW_OVER_MEAN = 2  # documents longer than this many times the batch's mean are sorted apart (no wide rows)


def document_sums(rows: Iterable[np.ndarray], counts: np.ndarray) -> np.ndarray:
    """(rows, documents): each row (one value per word) summed over the words of each
    document, `counts` of them in turn; 0 for a document without words. Rows are taken one
    at a time (as float64), so a batch of huge documents holds one row's copy at most."""
    has_words = counts > 0
    starts = (np.cumsum(counts) - counts)[has_words]
    sums = []
    for row in rows:
        out = np.zeros(len(counts))
        if starts.size:
            out[has_words] = np.add.reduceat(np.asarray(row, np.float64), starts)
        sums.append(out)
    return np.array(sums).reshape(len(sums), len(counts))


def _rows(counts: np.ndarray) -> tuple[np.ndarray, int]:
    """Which documents go in the one-per-row matrix (the others are too long for it), and its width."""
    cap = max(64, _ROW_OVER_MEAN * int(counts.sum()) // max(len(counts), 1))
    in_rows = counts <= cap
    return in_rows, int(counts[in_rows].max()) if in_rows.any() else 0


def _matrix(values: np.ndarray, counts: np.ndarray, width: int, radix: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(values one document per row, padded at the end with a number above all of them; where the values are).

    The matrix has the narrowest unsigned type that holds the padding (16-bit only for a stable
    argsort, `radix`, which NumPy radix-sorts; its other 16-bit sorts are slower than 32-bit ones)."""
    top = int(values.max()) + 1
    dtype = np.uint16 if radix and top < 2**16 else np.uint32 if top < 2**32 else np.uint64
    present = np.arange(width) < counts[:, None]
    matrix = np.full((len(counts), width), top, dtype)
    matrix[present] = values
    return matrix, present


def sort_segments(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The values with each document's sorted (documents lie one after another, `counts`
    values each; values are integers from 0 to 2**32 - 1)."""
    in_rows, width = _rows(counts)
    in_row = np.repeat(in_rows, counts)
    out = np.empty_like(values)
    if width:
        matrix, present = _matrix(values[in_row], counts[in_rows], width)
        matrix.sort(axis=1)
        out[in_row] = matrix[present]
    if not in_rows.all():
        out[~in_row] = values[~in_row][_packed_order(values[~in_row], counts[~in_rows], False)]
    return out


def segment_order(values: np.ndarray, counts: np.ndarray, stable: bool = False) -> np.ndarray:
    """The permutation that sorts each document's values (as `sort_segments`), equal values
    in their order when `stable`."""
    in_rows, width = _rows(counts)
    in_row = np.repeat(in_rows, counts)
    order = np.empty(values.size, np.int64)
    if width:
        inside = counts[in_rows]
        matrix, present = _matrix(values[in_row], inside, width, radix=stable)
        columns = np.argsort(matrix, axis=1, kind="stable" if stable else None)[present]
        position = np.flatnonzero(in_row)
        order[in_row] = position[np.repeat(np.cumsum(inside) - inside, inside) + columns]
    if not in_rows.all():
        position = np.flatnonzero(~in_row)
        order[~in_row] = position[_packed_order(values[~in_row], counts[~in_rows], stable)]
    return order


def _packed_order(values: np.ndarray, counts: np.ndarray, stable: bool) -> np.ndarray:
    """`segment_order` of long documents: one argsort of (document, value) packed in 64 bits."""
    document = np.repeat(np.arange(len(counts), dtype=np.uint64), counts)
    return np.argsort(document << np.uint64(32) | values.astype(np.uint64), kind="stable" if stable else None)


def segment_runs(ordered: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Runs of equal values in each document's sorted values (`sort_segments`; a run never
    crosses documents): where each run starts, and the len(counts) + 1 offsets of each
    document's runs among them."""
    bounds = np.r_[0, np.cumsum(counts)]
    cut = np.zeros(ordered.size, bool)
    cut[1:] = ordered[1:] != ordered[:-1]
    cut[bounds[:-1][counts > 0]] = True
    starts = np.flatnonzero(cut)
    return starts, np.searchsorted(starts, bounds)
