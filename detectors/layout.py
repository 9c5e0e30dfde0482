"""Layout normalisation: what a text says, not how it was wrapped.

Hard line wraps (scientific abstracts, e-mail, plain-text archives carry a newline every
70-odd characters; machine text carries none) would otherwise dominate every style
feature: measured leave-one-domain-out, normalising layout first lifts the style
features' mean AUROC from 0.81 to 0.86. Paragraph breaks (a blank line) are kept.

`normalize_layout` is the definition, text by text; `normalized_utf8` gives the same bytes for
a whole batch at once, with NumPy over its UTF-8 (what the classifier uses).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from detectors.text_arrays import utf8, whitespace, whitespace_runs

_PARAGRAPH_BREAK = re.compile(r"\n[ \t\r\f\v]*\n")


def normalize_layout(text: str) -> str:
    """One space for a wrapped line or any run of spaces and tabs, one blank line between paragraphs."""
    if "\n" not in text:
        return " ".join(text.split())
    paragraphs = _PARAGRAPH_BREAK.split(text.replace("\r\n", "\n").replace("\r", "\n"))
    return "\n\n".join(joined for joined in (" ".join(p.split()) for p in paragraphs) if joined)


_LF, _CR, _SPACE = 10, 13, 32


def normalized_utf8(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """The UTF-8 bytes of `normalize_layout` of each text, and their offsets, for a whole batch
    at once from its bytes, whitespace and runs (`detectors.text_arrays`): every whitespace
    run between two words becomes "\\n\\n" where it holds a paragraph break (two newlines with
    only spaces, tabs, \\v or \\f between; in a text with an LF, CR LF and a lone CR are
    newlines too), else one space; runs at either end go."""
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
    breaks = between & _breaks(data, space, offsets, starts)
    keep = ~space
    keep[starts[between]] = True
    keep[starts[breaks] + 1] = True
    out = data[keep]
    length = np.diff(np.r_[starts, data.size])
    out_length = np.where(space[starts], between.astype(np.int64) + breaks, length)
    out_start = np.cumsum(out_length) - out_length
    out[out_start[between]] = _SPACE
    out[out_start[breaks]] = _LF
    out[out_start[breaks] + 1] = _LF
    return out, np.r_[0, np.cumsum(np.bincount(doc, weights=out_length, minlength=ndocs).astype(np.int64))]


def _breaks(data: np.ndarray, space: np.ndarray, offsets: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Whether each run (of those starting at `starts`) holds a paragraph break."""
    marks = np.flatnonzero(space & (data != _SPACE))
    marks = marks[(data[marks] != 9) & (data[marks] != 11) & (data[marks] != 12)]  # newlines, and what a break may not hold
    mark_doc = np.searchsorted(offsets, marks, side="right") - 1
    lf, cr = data[marks] == _LF, data[marks] == _CR
    has_lf = np.bincount(mark_doc[lf], minlength=len(offsets) - 1) > 0
    lone = ~(cr & np.r_[(marks[1:] == marks[:-1] + 1) & lf[1:], False])  # CR LF is one newline: its LF
    newline = (lf | (cr & has_lf[mark_doc]))[lone]
    run = np.searchsorted(starts, marks[lone], side="right") - 1
    result = np.zeros(len(starts), bool)
    result[run[1:][newline[1:] & newline[:-1] & (run[1:] == run[:-1])]] = True
    return result
