"""`--against`: the reference set's MinHash arrays, for the near-duplicate join to match the corpus against."""

from __future__ import annotations

from pathlib import Path

from corpus_audit.config import ScanConfig
from corpus_audit.errors import AuditError, SourceError
from corpus_audit.io import atomic
from corpus_audit.io.readers import ColumnSpec, Shard, ShardReader
from detectors import MinHashDetector


def score_against(reference: list[Shard], detector: MinHashDetector, work: Path,
                  config: ScanConfig) -> tuple[list[Path], list[str]]:
    """MinHash arrays of the `--against` texts, written batch by batch to `work`, and their ids."""
    paths, ids = [], []
    columns = ColumnSpec(text=config.text_column)  # as the inputs and the reference sets are read
    for shard in reference:
        try:
            for batch in ShardReader.for_scan(shard, columns, config.batch_size, config.max_doc_chars).batches():
                kept = [(s, r, t[: config.max_doc_chars]) for s, r, t in zip(batch.sources, batch.rows.tolist(), batch.texts)
                        if t is not None]
                if not kept:
                    continue
                scores = detector.score([t for _, _, t in kept])
                paths.append(work / f"against-{len(paths):06d}.npz")
                atomic.write_arrays(paths[-1], {k: scores[k] for k in detector.arrays})
                ids += [f"{s}:{r}" for s, r, _ in kept]
        except SourceError as err:
            raise AuditError(f"--against {err}") from err
    return paths, ids
