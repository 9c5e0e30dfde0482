"""Build `detectors/data/lexicon.npz`, the word-frequency list the classifier's rarity features use.

    pip install '.[bench]' && python benchmarks/build_lexicon.py

wordfreq (Speer, 2022) froze its data in 2021, before chat models were common, which is
what a rarity baseline for machine text needs. Its data is CC BY-SA 4.0; the file keeps
only each word's hash and its Zipf frequency (rounded to 0.1), for the 100,000 most
frequent words of each language, the highest frequency where languages share a word.
"""

from __future__ import annotations

import argparse
import io
import math
from pathlib import Path

import numpy as np
import wordfreq

from detectors.lexicon import ZIPF_SCALE
from detectors.tokens import normalize, word_hash

LANGUAGES = ("en", "es", "pt")
WORDS_PER_LANGUAGE = 100_000
OUT = Path(__file__).resolve().parents[1] / "detectors" / "data" / "lexicon.npz"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    best: dict[int, float] = {}
    for language in LANGUAGES:
        ranked = sorted(wordfreq.get_frequency_dict(language, "large").items(), key=lambda kv: -kv[1])
        for word, frequency in ranked[:WORDS_PER_LANGUAGE]:
            if normalize(word) != [word]:  # the classifier never sees this form as one word
                continue
            key, zipf = word_hash(word), math.log10(frequency) + 9
            best[key] = max(best.get(key, 0.0), zipf)
    hashes = np.array(sorted(best), dtype=np.uint64)
    zipf = np.array([round(best[h] * ZIPF_SCALE) for h in hashes.tolist()], dtype=np.uint8)
    buffer = io.BytesIO()
    np.savez(buffer, hashes=hashes, zipf=zipf)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(buffer.getvalue())
    print(f"{args.out}: {len(hashes):,} words, {len(buffer.getvalue()):,} bytes")


if __name__ == "__main__":
    main()
