"""The options of one scan, validated once, recorded in `audit.json` and fingerprinted."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from corpus_audit.errors import AuditError
from corpus_audit.io.sources import FORMATS
from corpus_audit.scan.cores import usable_cores
from corpus_audit.report.gating import parse_rule

ON_ERROR = ("fail", "skip")
ENGINES = ("local", "dask")
EXECUTION = ("workers", "engine", "scheduler")  # options that change only where and how fast a scan runs


def parse_date(value: str) -> datetime:
    """--human-before's DATE (YYYY-MM-DD, or an ISO date and time), as a UTC instant."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise AuditError(f"--human-before {value!r}: expected a date like 2022-11-30") from None
    return parsed.replace(tzinfo=parsed.tzinfo or timezone.utc)


@dataclass(frozen=True)
class ScanConfig:
    """Every option of `corpus-audit scan` that this version implements."""

    inputs: tuple[str, ...]
    out: Path = Path("corpus-audit-out")
    format: str | None = None
    text_column: str | None = None
    id_column: str | None = None
    by: str | None = None
    sample: int | None = None
    sample_fraction: float | None = None
    seed: int = 0
    max_doc_chars: int = 1_000_000
    near_dup_threshold: float = 0.8
    against: str | None = None
    model: str | None = None
    reference_human: str | None = None
    reference_synthetic: str | None = None
    human_before: str | None = None
    date_column: str | None = None
    workers: int = field(default_factory=usable_cores)
    engine: str = "local"
    scheduler: str | None = None
    on_error: str = "fail"
    resume: bool = False
    overwrite: bool = False
    batch_size: int = 1000
    generations: int = 5
    regime: str = "mix"
    fail_on: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.inputs:
            raise AuditError("no INPUT given: name files, directories, globs or URLs to scan")
        if self.format is not None and self.format not in FORMATS:
            raise AuditError(f"--format {self.format!r}: expected one of {', '.join(FORMATS)}")
        if self.sample is not None and self.sample_fraction is not None:
            raise AuditError("--sample and --sample-fraction cannot be used together")
        if self.sample is not None and self.sample < 1:
            raise AuditError(f"--sample {self.sample}: must be at least 1")
        if self.sample_fraction is not None and not 0 < self.sample_fraction <= 1:
            raise AuditError(f"--sample-fraction {self.sample_fraction}: must be in (0, 1]")
        if self.seed < 0:
            raise AuditError(f"--seed {self.seed}: must be 0 or more")
        if self.max_doc_chars < 1:
            raise AuditError(f"--max-doc-chars {self.max_doc_chars}: must be at least 1")
        if not 0 < self.near_dup_threshold < 1:
            raise AuditError(f"--near-dup-threshold {self.near_dup_threshold}: must be between 0 and 1 (exclusive)")
        if (self.human_before is None) != (self.date_column is None):
            raise AuditError("--human-before and --date-column go together: give both, or neither")
        if self.human_before is not None:
            parse_date(self.human_before)
            if self.reference_human is not None:
                raise AuditError("--human-before and --reference-human both give human references: give one of them")
        elif (self.reference_human is None) != (self.reference_synthetic is None):
            raise AuditError("--reference-human and --reference-synthetic go together: give both, or neither "
                             "(or --reference-synthetic with --human-before)")
        if self.workers < 1:
            raise AuditError(f"--workers {self.workers}: must be at least 1")
        if self.engine not in ENGINES:
            raise AuditError(f"--engine {self.engine!r}: expected local or dask")
        if self.scheduler is not None and self.engine != "dask":
            raise AuditError("--scheduler needs --engine dask")
        if self.resume and self.overwrite:
            raise AuditError("--resume continues the audit in --out and --overwrite replaces it: give one of them")
        if self.on_error not in ON_ERROR:
            raise AuditError(f"--on-error {self.on_error!r}: expected fail or skip")
        if not 1 <= self.generations <= 1000:
            raise AuditError(f"--generations {self.generations}: must be 1 to 1000")
        if self.regime not in ("replace", "mix", "accumulate"):
            raise AuditError(f"--regime {self.regime!r}: expected replace, mix or accumulate")
        for rule in self.fail_on:
            parse_rule(rule)
        if self.batch_size < 1:
            raise AuditError(f"batch size {self.batch_size}: must be at least 1")

    def as_dict(self) -> dict[str, Any]:
        """Every option but where and how fast the scan runs (recorded with the timings instead)."""
        out = {k: v for k, v in asdict(self).items() if k not in EXECUTION}
        out["inputs"] = list(self.inputs)
        out["fail_on"] = list(self.fail_on)
        out["out"] = str(self.out)
        return out

    def other_reads(self) -> list[str]:
        """The paths or URLs the scan reads besides its INPUTs (which `--out` must not overlap either)."""
        return [p for p in (self.against, self.model, self.reference_human, self.reference_synthetic) if p is not None]

    def result_options(self) -> dict[str, Any]:
        """The options that change `documents/` or `audit.json` (not where or how fast)."""
        skip = {"out", "on_error", "resume", "overwrite", "fail_on"}
        return {k: v for k, v in self.as_dict().items() if k not in skip}
