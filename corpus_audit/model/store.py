"""Model directories that load without executing anything.

A model directory holds exactly three files: `model.json` (format, numbers, metadata, and
the SHA-256 of the two array files), `weights.npz` and `cv_scores.npz` (numpy arrays,
parsed from their headers, never unpickled; `cv_scores.npz` is the calibration bank,
`corpus_audit.model.bank`). Loading refuses any other file (a pickle, a
joblib dump, a script), a link, FIFO or device, a file over its size cap, an unknown
format or array name, an array whose declared type or shape is wrong, a number that is
not finite or out of range, and a checksum that does not match: a model from a stranger
stays data, and is refused before it can cost memory or time.
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import math
import os
import stat
import zipfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import IO, Any

import numpy as np

from corpus_audit.errors import AuditError
from corpus_audit.io import atomic
from corpus_audit.model.bank import CalibrationBank
from detectors.classifier import ClassifierModel, style_feature_names
from detectors.lexicon import default_lexicon

FORMAT = "corpus-audit-classifier"
FORMAT_VERSION = 4  # 2: layout-normalised text and lexical features (detectors.lexicon); 3: the raw text's zlib-6
# compressibility; 4: no paragraph features, all whitespace one space (detectors.layout), the dense features
# clipped at detectors.classifier.STYLE_CLIP (a model is scored as it was trained: changing either needs a new format)
FILES = {"model.json", "weights.npz", "cv_scores.npz"}
MAX_BYTES = {"model.json": 2**20, "weights.npz": 256 * 2**20, "cv_scores.npz": 64 * 2**20}  # size cap of each file
NUMBER_RANGES = {"word_features": (1, 2**24), "style_weight": (0, 1e6), "intercept": (-1e6, 1e6),
                 "platt_a": (-1e6, 1e6), "platt_b": (-1e6, 1e6)}
MIN_CALIBRATION_SCORES = 20  # the fewest cross-validated scores per class an estimate can be calibrated on
FLOATS = (np.dtype("<f4"), np.dtype("<f8"))
_PER_TEXT = ("label", "domain", "seen", "unseen")
_PER_SAMPLE = ("sample_label", "sample_domain")
MAX_DOMAINS = 1000


@dataclass
class StoredModel:
    """A classifier with its calibration bank (what the estimator calibrates on)."""

    model: ClassifierModel
    bank: CalibrationBank
    path: str

    @property
    def cv_human(self) -> np.ndarray:
        """The human texts' out-of-domain scores: the calibration that assumes least about a corpus."""
        return self.bank.scores(0)

    @property
    def cv_synthetic(self) -> np.ndarray:
        return self.bank.scores(1)


def default_model_path() -> Path:
    return Path(str(resources.files("corpus_audit.model") / "default"))


def save(directory: Path, model: ClassifierModel, bank: CalibrationBank) -> None:
    """Write a model directory (deterministic bytes for the same model): a new or empty directory,
    or one holding a model of this format, which is replaced; anything else is refused untouched."""
    if directory.is_symlink() or (directory.exists() and not directory.is_dir()):
        raise AuditError(f"--out {directory}: is a link or a file; give a new or empty directory")
    present = {p.name for p in directory.iterdir()} if directory.exists() else set()
    if present and (not present <= FILES or _earlier_format(directory) != FORMAT):
        raise AuditError(f"--out {directory}: not empty and not a model directory; choose a new or empty directory, "
                         "nothing here was changed")
    weights = atomic.npz_bytes(model.arrays())
    cv = atomic.npz_bytes({**{k: getattr(bank, k).astype(np.float64) for k in (*_PER_TEXT, *_PER_SAMPLE)},
                           "sample": bank.sample.astype(np.float32).ravel()})
    try:  # every file is made before any is written: a model.json that cannot be made leaves nothing behind
        description = atomic.json_text({
            "format": FORMAT, "format_version": FORMAT_VERSION, "numbers": model.numbers(),
            "style_features": style_feature_names(), "metadata": model.metadata,
            "calibration_domains": list(bank.domains),
            "sha256": {"weights.npz": hashlib.sha256(weights).hexdigest(), "cv_scores.npz": hashlib.sha256(cv).hexdigest()},
        })
    except (TypeError, ValueError) as err:
        raise AuditError(f"--out {directory}: the model's metadata cannot be written as JSON ({err}); "
                         "nothing was written") from None
    directory.mkdir(parents=True, exist_ok=True)
    atomic.write_bytes(directory / "weights.npz", weights)
    atomic.write_bytes(directory / "cv_scores.npz", cv)
    atomic.write_text(directory / "model.json", description)


def _earlier_format(directory: Path) -> object:
    """The format a model directory's model.json names (None when there is none to read)."""
    try:
        meta = json.loads(_read_file(directory, "model.json"))
    except (AuditError, ValueError, UnicodeDecodeError):
        return None
    return meta.get("format") if isinstance(meta, dict) else None


def _refuse(directory: Path, reason: str) -> AuditError:
    return AuditError(f"{directory}: refusing to load this model: {reason}")


def _read_file(directory: Path, name: str) -> bytes:
    """A model file's bytes: a regular file (no link, FIFO or device), at most its size cap."""
    limit = MAX_BYTES[name]
    try:
        fd = os.open(directory / name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)  # a FIFO opens without blocking
    except OSError as err:
        reason = "is a symbolic link" if err.errno == errno.ELOOP else f"cannot be read ({err.strerror})"
        raise _refuse(directory, f"{name} {reason}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise _refuse(directory, f"{name} is not a regular file")
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = handle.read(info.st_size + 1) if info.st_size <= limit else b""  # +1: a file that grew
        if info.st_size > limit or len(data) > limit:
            raise _refuse(directory, f"{name} is larger than the {limit:,} bytes a model file may have")
    finally:
        os.close(fd)
    return data


def _no_constants(name: str) -> float:
    raise ValueError(f"{name} is not a number")


def _read_meta(directory: Path) -> dict[str, Any]:
    try:
        meta = json.loads(_read_file(directory, "model.json").decode("utf-8"), parse_constant=_no_constants)
    except (ValueError, UnicodeDecodeError, RecursionError) as err:
        raise _refuse(directory, f"model.json is not JSON ({err})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or meta.get("format_version") != FORMAT_VERSION:
        raise _refuse(directory, f"not a {FORMAT} model of version {FORMAT_VERSION} (a model made by an earlier "
                                 "corpus-audit must be made again with corpus-audit train)")
    numbers, digests = meta.get("numbers"), meta.get("sha256")
    if not isinstance(numbers, dict) or not all(_is_number(numbers.get(k)) for k in NUMBER_RANGES):
        raise _refuse(directory, "model.json numbers are missing or not numbers")
    for key, (low, high) in NUMBER_RANGES.items():
        if not low <= numbers[key] <= high:
            raise _refuse(directory, f"model.json numbers.{key} = {numbers[key]!r} is outside [{low:g}, {high:g}]")
    if numbers["word_features"] != int(numbers["word_features"]):
        raise _refuse(directory, "model.json numbers.word_features must be a whole number")
    if not isinstance(digests, dict) or not all(isinstance(digests.get(n), str) for n in ("weights.npz", "cv_scores.npz")):
        raise _refuse(directory, "model.json has no sha256 of weights.npz and cv_scores.npz")
    if not isinstance(meta.get("metadata", {}), dict):
        raise _refuse(directory, "model.json metadata must be an object")
    if meta.get("metadata", {}).get("lexicon_sha256") != default_lexicon().sha256:
        raise _refuse(directory, "it was trained with another word-frequency list than this corpus-audit's; "
                                 "make it again with corpus-audit train")
    return meta


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _arrays(directory: Path, name: str, sizes: dict[str, tuple[int, int]], digest: str) -> dict[str, np.ndarray]:
    """The arrays of an .npz, each checked (name, dtype, shape within `sizes`) from its header before it is read."""
    data = _read_file(directory, name)
    if hashlib.sha256(data).hexdigest() != digest:
        raise _refuse(directory, f"{name} does not match its checksum in model.json")
    arrays = {}
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = {info.filename.removesuffix(".npy"): info for info in archive.infolist()}
            if set(members) != set(sizes) or len(members) != len(archive.infolist()):
                raise _refuse(directory, f"{name} holds arrays {sorted(members)}, expected {sorted(sizes)}")
            for key, info in members.items():
                with archive.open(info) as handle:
                    arrays[key] = _read_array(directory, f"{name}:{key}", handle, sizes[key])
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError, OSError) as err:
        raise _refuse(directory, f"{name}: not a plain .npz of numbers ({err})") from None
    return arrays


def _read_array(directory: Path, where: str, handle: IO[bytes], size: tuple[int, int]) -> np.ndarray:
    """One .npy member: a 1-D little-endian float array of `size[0]` to `size[1]` finite values."""
    version = np.lib.format.read_magic(handle)
    if version not in ((1, 0), (2, 0)):
        raise _refuse(directory, f"{where}: .npy format version {version} is not read")
    header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, _, dtype = header(handle)
    if dtype not in FLOATS or len(shape) != 1 or not size[0] <= shape[0] <= size[1]:
        wanted = f"({size[0]},)" if size[0] == size[1] else f"(n,) with {size[0]} <= n <= {size[1]:,}"
        raise _refuse(directory, f"{where} is {dtype} of shape {shape}, expected float32 or float64 of shape {wanted}")
    raw = handle.read(shape[0] * dtype.itemsize)
    if len(raw) != shape[0] * dtype.itemsize:
        raise _refuse(directory, f"{where} is shorter than its header says")
    values = np.frombuffer(raw, dtype).copy()  # writable, like np.load
    if not np.isfinite(values).all():
        raise _refuse(directory, f"{where} must be a finite 1-D float array")
    return values


def load(path: Path | None = None) -> StoredModel:
    """Load and check a model directory (the shipped default when path is None).

    Everything is checked before anything large is allocated: the files are regular and
    under their size caps, every number is finite and in range, every array's declared
    dtype and shape match model.json, calibration scores are probabilities."""
    directory = default_model_path() if path is None else Path(path)
    if not directory.is_dir():
        raise AuditError(f"{directory}: no such model directory")
    try:
        present = {p.name for p in directory.iterdir()}
    except OSError as err:
        raise _refuse(directory, f"cannot list it ({err.strerror})") from None
    if present != FILES:
        extra, missing = sorted(present - FILES), sorted(FILES - present)
        raise _refuse(directory, "; ".join(filter(None, [extra and f"unexpected files {extra}",
                                                         missing and f"missing files {missing}"])))
    meta = _read_meta(directory)
    numbers, digests = meta["numbers"], meta["sha256"]
    word_features, styles = int(numbers["word_features"]), len(style_feature_names())
    shapes = {"idf": word_features, "style_mean": styles, "style_scale": styles, "coef": word_features + styles}
    weights = _arrays(directory, "weights.npz", {k: (n, n) for k, n in shapes.items()}, digests["weights.npz"])
    limit = MAX_BYTES["cv_scores.npz"] // 4
    cv = _arrays(directory, "cv_scores.npz", {**{k: (2 * MIN_CALIBRATION_SCORES, limit) for k in _PER_TEXT},
                                              **{k: (1, limit) for k in _PER_SAMPLE}, "sample": (styles, limit)},
                 digests["cv_scores.npz"])
    if (weights["idf"] < 0).any() or (weights["style_scale"] <= 0).any():
        raise _refuse(directory, "weights.npz: idf must be >= 0 and style_scale > 0")
    bank = _bank(directory, meta, cv, styles)
    metadata: dict[str, Any] = dict(meta.get("metadata") or {})
    metadata["sha256"] = digests["weights.npz"]
    model = ClassifierModel(word_features, weights["idf"], weights["style_mean"], weights["style_scale"],
                            float(numbers["style_weight"]), weights["coef"], float(numbers["intercept"]),
                            float(numbers["platt_a"]), float(numbers["platt_b"]), metadata)
    return StoredModel(model, bank, str(directory))


def _bank(directory: Path, meta: dict[str, Any], cv: dict[str, np.ndarray], styles: int) -> CalibrationBank:
    """The calibration bank, checked: equal lengths, labels 0/1, domain indices in range, scores in [0, 1]."""
    domains = meta.get("calibration_domains")
    if not isinstance(domains, list) or not 0 < len(domains) <= MAX_DOMAINS or not all(isinstance(d, str) for d in domains):
        raise _refuse(directory, f"model.json calibration_domains must be a list of 1 to {MAX_DOMAINS} names")
    if len({len(cv[k]) for k in _PER_TEXT}) > 1 or len({len(cv[k]) for k in _PER_SAMPLE}) > 1 \
            or len(cv["sample"]) != len(cv["sample_label"]) * styles:
        raise _refuse(directory, "cv_scores.npz arrays disagree in length")
    for key in ("label", "sample_label"):
        if not np.isin(cv[key], (0, 1)).all():
            raise _refuse(directory, f"cv_scores.npz:{key} must hold only 0 and 1")
    for key in ("domain", "sample_domain"):
        if not (np.isin(cv[key], np.arange(len(domains)))).all():
            raise _refuse(directory, f"cv_scores.npz:{key} must hold domain numbers below {len(domains)}")
    for key in ("seen", "unseen"):
        if ((cv[key] < 0) | (cv[key] > 1)).any():
            raise _refuse(directory, f"cv_scores.npz:{key} holds scores outside [0, 1]")
    if min((cv["label"] == 0).sum(), (cv["label"] == 1).sum()) < MIN_CALIBRATION_SCORES:
        raise _refuse(directory, f"cv_scores.npz has fewer than {MIN_CALIBRATION_SCORES} calibration scores of a class")
    return CalibrationBank(tuple(domains), cv["label"].astype(np.int8), cv["domain"].astype(np.int32), cv["seen"],
                           cv["unseen"], cv["sample"].astype(np.float32).reshape(-1, styles),
                           cv["sample_label"].astype(np.int8), cv["sample_domain"].astype(np.int32))


def describe(stored: StoredModel) -> dict[str, Any]:
    """What `audit.json` says about the model: name, version, where it came from, how good it was."""
    meta = stored.model.metadata
    return {"name": meta.get("name"), "path": stored.path, "sha256": meta.get("sha256"),
            "format": f"{FORMAT} v{FORMAT_VERSION}", "corpus_audit_version": meta.get("versions", {}).get("corpus_audit"),
            "training_documents": meta.get("training_documents"), "provenance": meta.get("provenance"),
            "metrics": meta.get("metrics"), "probability": meta.get("probability"), "transfer": meta.get("transfer")}
