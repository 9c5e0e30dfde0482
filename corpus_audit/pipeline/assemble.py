"""The finished shards' results merged into the audit's `input` section and each detector's merged partial."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from typing import Any, Self

from corpus_audit.config import ScanConfig
from corpus_audit.io.run_state import ShardResult
from corpus_audit.report.summary import no_text, repeated_ids
from detectors import Bundle, Detector, Histogram


def input_section(config: ScanConfig, done: Sequence[ShardResult], shards: int, skipped_sources: list[dict[str, Any]],
                  population: int | None, resumed: int) -> dict[str, Any]:
    """What was read, scanned, skipped, truncated and sampled (`audit.json` `input`)."""
    total = lambda attr: sum(getattr(r, attr) for r in done)  # noqa: E731
    skipped: dict[str, int] = {}
    for r in done:
        for reason, n in r.skipped.items():
            skipped[reason] = skipped.get(reason, 0) + n
    scanned = total("scanned")
    return {
        "documents": total("rows"),
        "scanned": scanned,
        "skipped_documents": sum(skipped.values()),
        "skipped_reasons": dict(sorted(skipped.items())),
        "skipped_sources": [{"source": s["source"], "error": s["error"]} for s in skipped_sources],
        "bytes": total("bytes"),
        "shards": shards,
        "shards_resumed": resumed,
        "truncated_documents": total("truncated"),
        "max_doc_chars": config.max_doc_chars,
        "empty_documents": total("empty"),
        "invalid_utf8_documents": total("invalid_utf8"),
        "sampling": sampling_record(config, population, total("rows"), scanned + sum(skipped.values())),
    }


def sampling_record(config: ScanConfig, population: int | None, rows: int, sampled: int) -> dict[str, Any]:
    if config.sample is not None:
        return {"mode": "count", "requested": config.sample, "seed": config.seed,
                "population": population, "sampled": sampled}
    if config.sample_fraction is not None:
        return {"mode": "fraction", "requested": config.sample_fraction, "seed": config.seed,
                "population": rows, "sampled": sampled}
    return {"mode": "all", "population": rows, "sampled": sampled}


def sampled_share(config: ScanConfig, population: int | None) -> float:
    """The share of the corpus a scan reads: 1 unless it samples (the estimate's interval then
    treats the documents as a draw from the corpus, `corpus_audit.estimate.estimation.CorpusDraw`)."""
    if config.sample_fraction is not None:
        return config.sample_fraction
    if config.sample is not None and population:
        return min(1.0, config.sample / population)
    return 1.0


class ShardMerge:
    """Each detector's partials, and each --by value's histogram, merged in shard order as the
    shards finish.

    A shard's partial states are megabytes (a 2,000-row feature sample, up to 262,144 word
    types), so holding every shard's until the end grows with the corpus. Here a shard is
    merged as soon as every lower shard has finished or been skipped, and its states are
    dropped (they are on disk in `state/` for --resume). Memory holds the merged partials and
    the shards that finished before a lower one. The merge order, and so every bit of the
    result, is that of merging all shards at the end."""

    def __init__(self, detectors: Sequence[Detector], shards: Iterable[int]) -> None:
        self.names = [d.name for d in detectors]
        self.pending = deque(sorted(shards))  # shard indices not merged yet, in order
        self.arrived: dict[int, ShardResult | None] = {}  # None: skipped, nothing to merge
        self.partials: dict[str, Bundle] = {}
        self.strata: dict[str, Histogram] = {}

    def add(self, result: ShardResult) -> None:
        self.arrived[result.index] = result
        self._advance()

    def skip(self, index: int) -> None:
        self.arrived[index] = None
        self._advance()

    def done(self) -> Self:
        """The merge of every shard (all of them must have finished or been skipped)."""
        if self.pending:
            raise RuntimeError(f"shards {list(self.pending)[:5]} neither finished nor were skipped")
        return self

    def _advance(self) -> None:
        while self.pending and self.pending[0] in self.arrived:
            result = self.arrived.pop(self.pending.popleft())
            if result is not None:
                self._merge(result)

    def _merge(self, result: ShardResult) -> None:
        for name in self.names:
            if name in result.partials:
                bundle = Bundle.from_state(result.partials[name])
                self.partials[name] = bundle if name not in self.partials else self.partials[name].merge(bundle)
        for value, state in result.strata.items():
            histogram = Histogram.from_state(state)
            self.strata[value] = histogram if value not in self.strata else self.strata[value].merge(histogram)
        result.partials, result.strata = {}, {}


def audit_warnings(audit: dict[str, Any]) -> list[str]:
    """Every warning of the audit in plain words (`audit.json` `warnings`, shown first in each report)."""
    warnings = list((audit.get("synthetic_fraction") or {}).get("warnings", []))
    strata = audit.get("strata") or []
    flagged = [row for row in strata if row.get("warnings")]
    if flagged:
        warnings.append(f"{len(flagged):,} of {len(strata):,} values of --by {audit['config']['by']} carry a warning of "
                        "their own (listed with each value in strata): their intervals are wider or less certain.")
    inp = audit["input"]
    if warning := no_text(inp):
        warnings.append(warning)
    warnings += [f"Source {s['source']} was skipped and is not in the audit: {s['error']}" for s in inp["skipped_sources"]]
    if inp["skipped_documents"]:
        reasons = ", ".join(f"{reason}: {n:,}" for reason, n in inp["skipped_reasons"].items())
        warnings.append(f"{_documents(inp['skipped_documents'])} skipped and not in the audit ({reasons}).")
    if inp["truncated_documents"]:
        warnings.append(f"{_documents(inp['truncated_documents'])} longer than {inp['max_doc_chars']:,} characters: "
                        "the detectors saw only that much of each (--max-doc-chars).")
    if warning := repeated_ids(inp.get("ids") or {}):
        warnings.append(f"{warning}: documents/, the near-duplicate clusters and --against name those documents "
                        "ambiguously (their source and row tell them apart). Choose a unique column with --id-column.")
    return warnings


def _documents(count: int) -> str:
    return "1 document was" if count == 1 else f"{count:,} documents were"
