"""The finished shards' results merged into the audit's `input` section and each detector's merged partial."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from corpus_audit.config import ScanConfig
from corpus_audit.io.run_state import ShardResult
from detectors import Bundle, Detector


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


def merge_partials(detectors: Sequence[Detector], done: Sequence[ShardResult]) -> dict[str, Bundle]:
    """Each detector's partials of every finished shard, merged in shard order."""
    merged: dict[str, Bundle] = {}
    for detector in detectors:
        states = [r.partials[detector.name] for r in done if detector.name in r.partials]
        if states:
            bundle = Bundle.from_state(states[0])
            for state in states[1:]:
                bundle = bundle.merge(Bundle.from_state(state))
            merged[detector.name] = bundle
    return merged


def audit_warnings(audit: dict[str, Any]) -> list[str]:
    """Every warning of the audit in plain words (`audit.json` `warnings`, shown first in each report)."""
    warnings = list((audit.get("synthetic_fraction") or {}).get("warnings", []))
    strata = audit.get("strata") or []
    flagged = [row for row in strata if row.get("warnings")]
    if flagged:
        warnings.append(f"{len(flagged):,} of {len(strata):,} values of --by {audit['config']['by']} carry a warning of "
                        "their own (listed with each value in strata): their intervals are wider or less certain.")
    inp = audit["input"]
    warnings += [f"Source {s['source']} was skipped and is not in the audit: {s['error']}" for s in inp["skipped_sources"]]
    if inp["skipped_documents"]:
        reasons = ", ".join(f"{reason}: {n:,}" for reason, n in inp["skipped_reasons"].items())
        warnings.append(f"{_documents(inp['skipped_documents'])} skipped and not in the audit ({reasons}).")
    if inp["truncated_documents"]:
        warnings.append(f"{_documents(inp['truncated_documents'])} longer than {inp['max_doc_chars']:,} characters: "
                        "the detectors saw only that much of each (--max-doc-chars).")
    return warnings


def _documents(count: int) -> str:
    return "1 document was" if count == 1 else f"{count:,} documents were"
