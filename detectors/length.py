"""Document length: characters, UTF-8 bytes and whitespace-separated words."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from detectors.base import Column, Detector
from detectors.partials import Bundle, Histogram
from detectors.text_arrays import split_whitespace, utf8


class LengthDetector(Detector):
    """Sizes of each document; the corpus section gives their distribution and totals."""

    name = "length"
    columns = (
        Column("char_count", pa.int64(), "characters (Unicode code points)"),
        Column("byte_count", pa.int64(), "bytes of the UTF-8 encoding"),
        Column("word_count", pa.int64(), "words, as text.split()"),
    )

    def score(self, texts: Sequence[str]) -> Mapping[str, np.ndarray]:
        return {
            "char_count": np.fromiter(map(len, texts), np.int64, len(texts)),
            "byte_count": np.diff(utf8(texts)[1]),
            "word_count": split_whitespace(texts)[0],
        }

    def partial(self, texts: Sequence[str], scores: Mapping[str, np.ndarray]) -> Bundle:
        return Bundle({name: Histogram(1.0, 1e10, 2000, log=True).add(scores[name]) for name in ("char_count", "word_count")})

    def summarize(self, partial: Bundle) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, hist in partial.parts.items():
            out[name] = hist.summary()
            out[name]["total"] = int(round(hist.total))
        return out
