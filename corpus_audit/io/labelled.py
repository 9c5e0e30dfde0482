"""Labelled human and machine-written sets, read for `train` and `evaluate`."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from corpus_audit.errors import AuditError
from corpus_audit.io.readers import ColumnSpec, read_texts


@dataclass
class LabelledSet:
    texts: list[str]
    labels: np.ndarray  # 0 human, 1 synthetic
    groups: list[str] | None  # the --group-column value of each text



def fingerprint(texts: list[str], labels: np.ndarray) -> str:
    """SHA-256 of the labelled texts in order: the training data a model records it was fitted on."""
    digest = hashlib.sha256()
    for text, label in zip(texts, labels.tolist()):
        digest.update(f"{label}\x00{text}\x00".encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


def read_labelled(human: str, synthetic: str, text_column: str | None, group_column: str | None) -> LabelledSet:
    columns = ColumnSpec(text=text_column, by=group_column)
    human_texts, human_groups = read_texts([human], columns)
    synthetic_texts, synthetic_groups = read_texts([synthetic], columns)
    if not human_texts:
        raise AuditError(f"--human {human}: no texts")
    if not synthetic_texts:
        raise AuditError(f"--synthetic {synthetic}: no texts")
    groups = None
    if group_column is not None:
        groups = [g if g is not None else f"(no {group_column}) {i}" for i, g in enumerate(human_groups + synthetic_groups)]
    labels = np.r_[np.zeros(len(human_texts), np.int64), np.ones(len(synthetic_texts), np.int64)]
    return LabelledSet(human_texts + synthetic_texts, labels, groups)
