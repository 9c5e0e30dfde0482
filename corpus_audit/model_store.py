"""Model directories that load without executing anything.

A model directory holds exactly three files: `model.json` (format, numbers, metadata, and
the SHA-256 of the two array files), `weights.npz` and `cv_scores.npz` (numpy arrays,
loaded with `allow_pickle=False`). Loading refuses any other file (a pickle, a joblib
dump, a script), an unknown format or array name, an array of the wrong type or shape,
and a checksum that does not match: a model from a stranger stays data.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from corpus_audit import atomic
from corpus_audit.errors import AuditError
from detectors.classifier import ClassifierModel, style_feature_names

FORMAT = "corpus-audit-classifier"
FORMAT_VERSION = 1
FILES = {"model.json", "weights.npz", "cv_scores.npz"}
_WEIGHTS = {"idf", "style_mean", "style_scale", "coef"}
_CV = {"human", "synthetic"}


@dataclass
class StoredModel:
    """A classifier with its cross-validated scores (what the estimator calibrates on)."""

    model: ClassifierModel
    cv_human: np.ndarray
    cv_synthetic: np.ndarray
    path: str


def default_model_path() -> Path:
    return Path(str(resources.files("corpus_audit") / "models" / "default"))


def save(directory: Path, model: ClassifierModel, cv_human: np.ndarray, cv_synthetic: np.ndarray) -> None:
    """Write a model directory (deterministic bytes for the same model)."""
    directory.mkdir(parents=True, exist_ok=True)
    weights = atomic.npz_bytes(model.arrays())
    cv = atomic.npz_bytes({"human": cv_human.astype(np.float64), "synthetic": cv_synthetic.astype(np.float64)})
    atomic.write_bytes(directory / "weights.npz", weights)
    atomic.write_bytes(directory / "cv_scores.npz", cv)
    atomic.write_json(directory / "model.json", {
        "format": FORMAT, "format_version": FORMAT_VERSION, "numbers": model.numbers(),
        "style_features": style_feature_names(), "metadata": model.metadata,
        "sha256": {"weights.npz": hashlib.sha256(weights).hexdigest(), "cv_scores.npz": hashlib.sha256(cv).hexdigest()},
    })


def _refuse(directory: Path, reason: str) -> AuditError:
    return AuditError(f"{directory}: refusing to load this model: {reason}")


def _arrays(directory: Path, name: str, expected: set[str], digest: str) -> dict[str, np.ndarray]:
    data = (directory / name).read_bytes()
    if hashlib.sha256(data).hexdigest() != digest:
        raise _refuse(directory, f"{name} does not match its checksum in model.json")
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            if set(npz.files) != expected:
                raise _refuse(directory, f"{name} holds arrays {sorted(npz.files)}, expected {sorted(expected)}")
            arrays = {k: npz[k] for k in npz.files}
    except ValueError as err:  # object arrays need pickle, which is refused
        raise _refuse(directory, f"{name}: {err}") from None
    for key, value in arrays.items():
        if value.dtype.kind != "f" or value.ndim != 1 or not np.isfinite(value).all():
            raise _refuse(directory, f"{name}:{key} must be a finite 1-D float array")
    return arrays


def load(path: Path | None = None) -> StoredModel:
    """Load and check a model directory (the shipped default when path is None)."""
    directory = default_model_path() if path is None else Path(path)
    if not directory.is_dir():
        raise AuditError(f"{directory}: no such model directory")
    present = {p.name for p in directory.iterdir()}
    if present != FILES:
        extra, missing = sorted(present - FILES), sorted(FILES - present)
        raise _refuse(directory, "; ".join(filter(None, [extra and f"unexpected files {extra}",
                                                         missing and f"missing files {missing}"])))
    try:
        meta = json.loads((directory / "model.json").read_text())
    except (ValueError, UnicodeDecodeError) as err:
        raise _refuse(directory, f"model.json is not JSON ({err})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or meta.get("format_version") != FORMAT_VERSION:
        raise _refuse(directory, f"not a {FORMAT} model of version {FORMAT_VERSION}")
    numbers, digests = meta.get("numbers", {}), meta.get("sha256", {})
    if not all(isinstance(numbers.get(k), (int, float)) and not isinstance(numbers.get(k), bool)
               for k in ("word_features", "style_weight", "intercept", "platt_a", "platt_b")):
        raise _refuse(directory, "model.json numbers are missing or not numbers")
    weights = _arrays(directory, "weights.npz", _WEIGHTS, str(digests.get("weights.npz")))
    cv = _arrays(directory, "cv_scores.npz", _CV, str(digests.get("cv_scores.npz")))
    word_features, styles = int(numbers["word_features"]), len(style_feature_names())
    shapes = {"idf": word_features, "style_mean": styles, "style_scale": styles, "coef": word_features + styles}
    for key, size in shapes.items():
        if weights[key].shape != (size,):
            raise _refuse(directory, f"weights.npz:{key} has shape {weights[key].shape}, expected ({size},)")
    metadata: dict[str, Any] = dict(meta.get("metadata") or {})
    metadata["sha256"] = digests["weights.npz"]
    model = ClassifierModel(word_features, weights["idf"], weights["style_mean"], weights["style_scale"],
                            float(numbers["style_weight"]), weights["coef"], float(numbers["intercept"]),
                            float(numbers["platt_a"]), float(numbers["platt_b"]), metadata)
    return StoredModel(model, cv["human"], cv["synthetic"], str(directory))


def describe(stored: StoredModel) -> dict[str, Any]:
    """What `audit.json` says about the model: name, version, where it came from, how good it was."""
    meta = stored.model.metadata
    return {"name": meta.get("name"), "path": stored.path, "sha256": meta.get("sha256"),
            "format": f"{FORMAT} v{FORMAT_VERSION}", "corpus_audit_version": meta.get("versions", {}).get("corpus_audit"),
            "training_documents": meta.get("training_documents"), "provenance": meta.get("provenance"),
            "metrics": meta.get("metrics"), "probability": meta.get("probability")}
