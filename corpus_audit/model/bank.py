"""What a model knows about its own scores, by training domain: the calibration bank.

For every training text: its label, its domain, its score from a model that saw its domain
(grouped cross-validation: `seen`) and from one that did not (leave-one-domain-out:
`unseen`); and a small sample of each domain's standardised dense features with labels.

The estimator uses `seen` scores of the domains a corpus matches (the shift test decides,
on the feature sample), and the spread of `unseen` scores over all domains when the corpus
matches none: how the model behaves on a domain it has never met.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SAMPLE_PER_DOMAIN = 300  # feature rows kept per domain for the shift test


@dataclass(frozen=True)
class CalibrationBank:
    domains: tuple[str, ...]
    label: np.ndarray  # int8 per training text, 1 = machine-written
    domain: np.ndarray  # int32 index into `domains` per training text
    seen: np.ndarray  # float64 p_synthetic from a model that saw the text's domain (not the text)
    unseen: np.ndarray  # float64 p_synthetic from a model that saw neither the text nor its domain
    sample: np.ndarray  # float32 (rows, dense features), standardised as the model standardises them
    sample_label: np.ndarray  # int8 per sample row
    sample_domain: np.ndarray  # int32 per sample row

    def scores(self, label: int, seen: bool = False, domains: tuple[int, ...] | None = None) -> np.ndarray:
        """The calibration scores of one class, of all domains or of the given domain indices."""
        rows = self.label == label
        if domains is not None:
            rows &= np.isin(self.domain, domains)
        return (self.seen if seen else self.unseen)[rows]

    def features(self, domains: tuple[int, ...] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(feature rows, their labels) of all domains or of the given domain indices."""
        rows = np.ones(len(self.sample_label), bool) if domains is None else np.isin(self.sample_domain, domains)
        return self.sample[rows], self.sample_label[rows]


def build_bank(domains: np.ndarray, labels: np.ndarray, seen: np.ndarray, unseen: np.ndarray, dense: np.ndarray,
               seed: int = 0) -> CalibrationBank:
    """A bank from per-text domains, labels, scores and standardised dense features (a seeded sample of rows)."""
    names, index = np.unique(np.asarray(domains, str), return_inverse=True)
    rng = np.random.default_rng(seed)
    picked = np.sort(np.concatenate([rng.permutation(np.flatnonzero(index == d))[:SAMPLE_PER_DOMAIN]
                                     for d in range(len(names))]))
    return CalibrationBank(tuple(names.tolist()), labels.astype(np.int8), index.astype(np.int32),
                           seen.astype(np.float64), unseen.astype(np.float64), dense[picked].astype(np.float32),
                           labels[picked].astype(np.int8), index[picked].astype(np.int32))
