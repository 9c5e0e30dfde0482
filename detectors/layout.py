"""Layout normalisation: what a text says, not how it was laid out.

Every run of whitespace becomes one space, line wraps and paragraph breaks included, before
any style feature sees the text. Hard line wraps (scientific abstracts, e-mail, plain-text
archives carry a newline every 70-odd characters) once dominated the style features. So did
paragraph breaks: in every labelled corpus the model learns from, the human texts were
stored without them and 11-84% of each corpus's machine-written ones with them, so a
paragraph-break feature learned "has paragraphs, so machine-written" and flagged 82-99% of
the human documentation on a Linux machine (manual pages, GNU manuals, Python's docstrings;
`benchmarks/local_human_text.py`). Layout is how a text was stored, not who wrote it.

`normalize_layout` is the definition, text by text; `normalized_utf8` gives the same bytes for
a whole batch at once, with NumPy over its UTF-8 (what the classifier uses).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from detectors.text_arrays import utf8, whitespace, whitespace_runs

_SPACE = 32


def normalize_layout(text: str) -> str:
    """The words of `text` with one space between each two (`str.split`'s whitespace)."""
    return " ".join(text.split())


def normalized_utf8(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """The UTF-8 bytes of `normalize_layout` of each text, and their offsets, for a whole batch
    at once from its bytes, whitespace and runs (`detectors.text_arrays`): every whitespace
    run between two words of a text becomes one space; runs at either end go."""
    data, offsets = utf8(texts)
    ndocs = len(offsets) - 1
    if not data.size:
        return data, np.zeros(ndocs + 1, np.int64)
    space, starts = whitespace(texts), whitespace_runs(texts)
    first = np.searchsorted(starts, offsets)  # each text's first run; its runs end where the next text's begin
    runs = np.diff(first)
    doc = np.repeat(np.arange(ndocs), runs)
    edge = np.zeros(starts.size, bool)
    edge[first[:-1][runs > 0]] = True
    edge[first[1:][runs > 0] - 1] = True
    between = space[starts] & ~edge
    keep = ~space
    keep[starts[between]] = True
    out = data[keep]
    out[np.flatnonzero(space[keep])] = _SPACE
    length = np.diff(np.r_[starts, data.size])
    out_length = np.where(space[starts], between, length)
    return out, np.r_[0, np.cumsum(np.bincount(doc, weights=out_length, minlength=ndocs).astype(np.int64))]
