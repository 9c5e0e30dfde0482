"""How a detector model does on labelled texts (`corpus-audit evaluate`): its ranking, and the
synthetic-fraction estimate's error on mixtures made from the two sets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from corpus_audit.errors import AuditError
from corpus_audit.estimate.metrics import detector_metrics
from corpus_audit.estimate.mixtures import mixture_errors
from corpus_audit.io.labelled import read_labelled
from corpus_audit.model import store as model_store
from detectors.classifier import ClassifierDetector

MIN_GROUP_TEXTS = 20  # of each class, for a group's metrics to be shown (all are in the report)


def evaluate(human: str, synthetic: str, model: Path | None = None, group_column: str | None = None,
             text_column: str | None = None, seed: int = 0) -> dict[str, Any]:
    """AUROC and TPR at 1% and 5% FPR overall (and per `group_column` value), and each
    quantifier's error and interval coverage on mixtures of the two sets."""
    stored = model_store.load(model)
    data = read_labelled(human, synthetic, text_column, group_column)
    scores = ClassifierDetector(stored.model).probabilities(data.texts)
    report: dict[str, Any] = {"model": stored.model.metadata.get("name"), "model_path": stored.path,
                              "overall": detector_metrics(scores[data.labels == 0], scores[data.labels == 1])}
    try:
        report["mixtures"] = mixture_errors(scores, data.labels, data.groups, seed=seed)
    except ValueError as err:
        raise AuditError(f"estimate error on mixtures: {err}") from err
    if data.groups is not None:
        values, group = np.unique(np.asarray(data.groups), return_inverse=True)  # sorted, as set() then sorted()
        order = np.argsort(group, kind="stable")
        bounds = np.searchsorted(group[order], np.arange(len(values) + 1))
        report["groups"] = {}
        for k, value in enumerate(values.tolist()):
            rows = order[bounds[k]:bounds[k + 1]]
            report["groups"][value] = detector_metrics(scores[rows[data.labels[rows] == 0]],
                                                       scores[rows[data.labels[rows] == 1]])
    return report


def shown_groups(groups: dict[str, dict[str, Any]], most: int = 30) -> tuple[list[str], int]:
    """The groups worth a line of their own: at least MIN_GROUP_TEXTS texts of each class (an AUROC
    of 1 human against 1 machine text says nothing), largest first, at most `most`; and how many
    others there are."""
    enough = [v for v, m in groups.items() if min(m["human"], m["synthetic"]) >= MIN_GROUP_TEXTS]
    shown = sorted(enough, key=lambda v: (-(groups[v]["human"] + groups[v]["synthetic"]), v))[:most]
    return shown, len(groups) - len(shown)
