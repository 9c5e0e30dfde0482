"""The in-domain reference texts a scan calibrates on: the user's files, or the corpus's own dated documents.

`--reference-human`/`--reference-synthetic` name labelled files. `--human-before DATE` with
`--date-column COL` takes the corpus's own documents dated before DATE as human references
(web crawls, forums and archives carry dates; chat models became common in late 2022): a
uniform sample of at most `MAX_DATED` of them, chosen by a hash of the text so the same
corpus gives the same sample. Dates are parsed from the column's values (ISO dates and
timestamps; a value that is no date is not used, and counted).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from corpus_audit.config import ScanConfig, parse_date
from corpus_audit.errors import AuditError
from corpus_audit.io.readers import ColumnSpec, read_texts
from corpus_audit.io.sampling import hash_sample
from corpus_audit.io.sources import Source, resolve_sources

MIN_REFERENCES = 20
MAX_DATED = 2000


@dataclass
class References:
    """Human reference texts, and machine-written ones when the user gave them."""

    human: list[str]
    human_source: str
    synthetic: list[str] | None = None
    synthetic_source: str | None = None
    dated: dict[str, Any] = field(default_factory=dict)  # what --human-before found, for audit.json


def _labelled(option: str, path: str, config: ScanConfig) -> list[str]:
    try:
        texts, _ = read_texts([path], ColumnSpec(text=config.text_column))
    except AuditError as err:
        raise AuditError(f"{option} {err}") from err
    if len(texts) < MIN_REFERENCES:
        raise AuditError(f"{option} {path}: {len(texts)} texts; calibration needs at least {MIN_REFERENCES}")
    return [t[: config.max_doc_chars] for t in texts]


def dated_before(sources: list[Source], config: ScanConfig) -> tuple[list[str], dict[str, Any]]:
    """A sample of the corpus's documents dated before --human-before, and counts of what was read."""
    sample = hash_sample(sources, config.text_column, MAX_DATED, date_column=config.date_column,
                         before=pd.Timestamp(parse_date(config.human_before or "")),
                         batch_size=config.batch_size, max_doc_chars=config.max_doc_chars)
    chosen = [text for _, text in sample.chosen]
    return chosen, sample.counts | {"used": len(chosen), "before": config.human_before, "column": config.date_column}


def read_references(config: ScanConfig, sources: list[Source] | None) -> References | None:
    """The scan's references, or None when it has none (the model's calibration bank is used)."""
    synthetic = None if config.reference_synthetic is None else _labelled("--reference-synthetic", config.reference_synthetic, config)
    if config.human_before is not None:
        texts, counts = dated_before(sources or resolve_sources(list(config.inputs), config.format), config)
        if len(texts) < MIN_REFERENCES:
            raise AuditError(f"--human-before {config.human_before}: {counts['dated_before']:,} documents of the corpus "
                             f"are dated before it in column {config.date_column!r} ({counts['without_date']:,} have no "
                             f"readable date: ISO 8601 or Unix time); calibration needs at least {MIN_REFERENCES}")
        source = (f"{len(texts):,} documents of the corpus dated before {config.human_before} "
                  f"(column {config.date_column!r})")
        return References(texts, source, synthetic, config.reference_synthetic, counts)
    if config.reference_human is None:
        return None
    return References(_labelled("--reference-human", config.reference_human, config), config.reference_human,
                      synthetic, config.reference_synthetic)

