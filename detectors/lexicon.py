"""Word-level signals that carry across domains: rarity against a frequency list frozen
before chat models, the vocabulary chat models over-use, and how often content words recur.

The frequency list is wordfreq's (Speer, 2022; data CC BY-SA 4.0, collected up to 2021):
the 100,000 most frequent words of English, Spanish and Portuguese, each as the
`detectors.tokens` hash of the word and its Zipf frequency (log10 of uses per billion
words), in `detectors/data/lexicon.npz` (made by `benchmarks/build_lexicon.py`). Rarity
alone flags simple writing (non-native English scores "common"), so it is always paired
with style and vocabulary features; the transfer benchmark measures each family.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from functools import cache
from importlib import resources

import numpy as np

from detectors.segments import document_sums
from detectors.tokens import HashedWords, word_hash

# Words chat models use far more than people did before 2022, by kind. Compiled for this
# project from the excess-vocabulary findings of Kobak et al. 2024 and Liang et al. 2024.
CHAT_VOCABULARY = {
    "transitions": "additionally furthermore moreover notably overall ultimately crucially thereby conversely "
                   "consequently nonetheless importantly",
    "verbs": "delve delves delving delved underscore underscores underscoring underscored foster fosters fostering "
             "fostered showcase showcases showcasing showcased highlight highlights highlighting highlighted navigate "
             "navigates navigating navigated embark embarking embarked elevate elevates elevating elevated resonate "
             "resonates resonating resonated harness harnessing harnessed empower empowers empowering empowered "
             "cultivate cultivating cultivated bolster bolstering bolstered streamline streamlining leverage leveraging "
             "leveraged enhance enhances enhancing enhanced ensure ensures ensuring ensured facilitate facilitates "
             "facilitating utilize utilizes utilizing utilized garner garnered unveil unveiled unveiling unravel "
             "unraveling strive strives striving emphasize emphasizes emphasizing emphasized",
    "descriptive": "tapestry intricate intricacies pivotal realm meticulous meticulously commendable testament landscape "
                   "multifaceted nuanced crucial vibrant seamless seamlessly comprehensive profound unwavering bustling "
                   "beacon palpable intriguing captivating enigmatic symphony paramount invaluable noteworthy remarkable "
                   "holistic robust dynamic innovative transformative interplay nestled amidst serene solace camaraderie "
                   "resilience resilient myriad plethora adept insights insightful journey evolving significant "
                   "essential vital enduring indelible poignant",
}
ZIPF_SCALE = 10.0  # the file stores Zipf frequencies times 10 as uint8
COMMON_ZIPF = 5.0  # words at least this frequent (about 1 in 10,000) are not content words


@dataclass(frozen=True)
class Lexicon:
    """Sorted word hashes with their Zipf frequencies, and the chat vocabulary as hashes."""

    hashes: np.ndarray  # uint64, sorted
    zipf: np.ndarray  # float32, same order
    vocabulary: tuple[np.ndarray, ...]  # uint64 hashes of each CHAT_VOCABULARY group, sorted
    sha256: str

    def frequency(self, hashes: np.ndarray) -> np.ndarray:
        """The Zipf frequency of each hashed word; 0 for a word not in the list (rarer than ~2)."""
        if not len(self.hashes):
            return np.zeros(len(hashes), np.float32)
        slot = np.minimum(np.searchsorted(self.hashes, hashes), len(self.hashes) - 1)
        return np.where(self.hashes[slot] == hashes, self.zipf[slot], np.float32(0))


@cache
def default_lexicon() -> Lexicon:
    """The packaged frequency list (read once per process; the project's own file, no pickle)."""
    data = (resources.files("detectors") / "data" / "lexicon.npz").read_bytes()
    with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
        hashes, zipf = arrays["hashes"], arrays["zipf"].astype(np.float32) / ZIPF_SCALE
    vocabulary = tuple(np.sort(np.array([word_hash(w) for w in words.split()], np.uint64))
                       for words in CHAT_VOCABULARY.values())
    return Lexicon(hashes, zipf, vocabulary, hashlib.sha256(data).hexdigest())


def lexical_feature_names() -> list[str]:
    return ["zipf_mean", "zipf_sd", "share_unlisted", "share_rare", "share_uncommon", "share_very_common",
            *(f"chat_{group}_per_100" for group in CHAT_VOCABULARY), "content_repeat_share"]


def lexical_features(words: HashedWords, repeats: np.ndarray, lexicon: Lexicon) -> np.ndarray:
    """Per document: rarity profile, chat-vocabulary rates, and the share of content-word
    uses whose word recurs in the document (`repeats`: per word, True when it recurs)."""
    zipf = words.lookup(lexicon.frequency(words.distinct).astype(np.float64))
    listed = [words.lookup(group[np.minimum(np.searchsorted(group, words.distinct), len(group) - 1)] == words.distinct)
              for group in lexicon.vocabulary]
    content = zipf < COMMON_ZIPF
    per_word = (zipf, zipf**2, zipf == 0, (zipf > 0) & (zipf < 3), (zipf >= 3) & (zipf < 4.5), zipf >= 6,
                *listed, content, content & repeats)
    sums = document_sums(per_word, words.counts)
    means = sums[:-2] / np.maximum(words.counts, 1)
    zipf_mean = means[0]
    return np.column_stack([zipf_mean, np.sqrt(np.maximum(means[1] - zipf_mean**2, 0)), *means[2:6],
                            *(means[6:] * 100), sums[-1] / np.maximum(sums[-2], 1)])
