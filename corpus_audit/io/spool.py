"""In-memory corpora written to one temporary Parquet file, so they are scanned exactly like files.

A pandas DataFrame, a pyarrow Table or RecordBatchReader, a Hugging Face `datasets.Dataset`
or `IterableDataset`, or an iterable of strings is streamed batch by batch into
`<directory>/<label>.parquet` (never materialised whole, but for a DataFrame, which
already is), and scanned from there: the pipeline reads it more than once (to count for
`--sample`, to check `--by`, for excerpts), which a stream cannot be. Documents keep the
label as their source (`<DataFrame>:17`), never the temporary path.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable, Iterator, Mapping
from collections.abc import Set as AbstractSet
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from corpus_audit.errors import AuditError
from corpus_audit.io.sources import Source

BATCH_ROWS = 1000  # rows taken from a stream at a time
GROUP_ROWS, GROUP_BYTES = 10_000, 64 * 2**20  # a row group of the spooled file: whichever comes first


class Inputs(list):
    """A list of paths, globs or URLs, said to be inputs (as the CLI's INPUT), whatever they look like."""


def as_inputs(source: object) -> list[str] | None:
    """The paths, globs or URLs `source` names (as the CLI's INPUT), or None for an in-memory corpus.

    A list of strings may be either: it is read as inputs when every item is an existing
    path, a glob or a URL, as documents when none is, and refused when it mixes both;
    `Inputs([...])` says they are inputs."""
    if isinstance(source, Inputs):
        return [os.fspath(s) for s in source]
    if isinstance(source, (str, os.PathLike)):
        return [os.fspath(source)]
    if not isinstance(source, (list, tuple)) or not source:
        return None
    if all(isinstance(s, os.PathLike) for s in source):
        return [os.fspath(s) for s in source]
    if not all(isinstance(s, str) for s in source):
        return None
    named = [os.path.exists(s) or (not any(c.isspace() for c in s) and ("://" in s or any(c in s for c in "*?[")))
             for s in source]  # prose has spaces: "What is this?" is a document, not a glob
    if all(named):
        return list(source)
    if any(named):
        raise AuditError("a list that mixes paths and texts: pass paths as corpus_audit.Inputs([...]) or "
                         "pathlib.Path objects, or only texts")
    return None


def spool(source: object, directory: Path) -> Source:
    """Write `source` to `directory/<label>.parquet` and return it as a scan source labelled `<label>`.

    Batches are regrouped into row groups of up to GROUP_ROWS rows or GROUP_BYTES bytes,
    whatever size they come in (a datasets table arrives as one-row chunks)."""
    label, batches = _batches(source)
    path = directory / f"{label.strip('<>')}.parquet"
    writer: pq.ParquetWriter | None = None
    pending: list[pa.RecordBatch] = []
    rows = size = 0

    def flush() -> None:
        writer.write_table(pa.Table.from_batches(pending, writer.schema).combine_chunks())
        pending.clear()

    try:
        for batch in batches:
            if writer is None:
                writer = pq.ParquetWriter(path, batch.schema, compression="zstd")
            pending.append(_conform(batch, writer.schema, label))
            rows, size = rows + batch.num_rows, size + batch.nbytes
            if rows >= GROUP_ROWS or size >= GROUP_BYTES:
                flush()
                rows = size = 0
        if writer is None:  # nothing at all: an empty corpus of one text column
            writer = pq.ParquetWriter(path, pa.schema({"text": pa.string()}))
        if pending:
            flush()
    finally:
        if writer is not None:
            writer.close()
    return Source(str(path), "parquet", path.stat().st_size, None, label=label)


def _conform(batch: pa.RecordBatch, schema: pa.Schema, label: str) -> pa.RecordBatch:
    """A later batch in the first batch's schema (a column that was all null there, say, stays null-typed)."""
    if batch.schema.equals(schema):
        return batch
    try:
        return pa.Table.from_batches([batch]).select(schema.names).cast(schema).combine_chunks().to_batches()[0]
    except (pa.ArrowInvalid, pa.ArrowTypeError, KeyError, IndexError) as err:
        raise AuditError(f"{label}: a batch does not match the first batch's columns and types ({err})") from None


def _batches(source: object) -> tuple[str, Iterator[pa.RecordBatch]]:
    """(label, record batches) of an in-memory corpus."""
    kind = type(source).__module__.split(".")[0], type(source).__name__
    if kind == ("pandas", "DataFrame"):
        try:
            table = pa.Table.from_pandas(source, preserve_index=False)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as err:
            raise AuditError(f"<DataFrame>: a column cannot be read as one type ({err})") from None
        return "<DataFrame>", iter(table.to_batches(BATCH_ROWS))
    if isinstance(source, pa.Table):
        return "<Table>", iter(source.to_batches(BATCH_ROWS))
    if isinstance(source, pa.RecordBatchReader):
        return "<RecordBatchReader>", iter(source)
    if kind[0] == "datasets" and kind[1] in ("Dataset", "IterableDataset"):
        return f"<{kind[1]}>", _dataset_batches(source)
    if isinstance(source, Mapping):  # iterating gives its keys: one "document" per column name
        raise AuditError(f"audit() got a {type(source).__name__}: pass a table of columns as pandas.DataFrame(...) or "
                         "pyarrow.table(...), or a list of texts")
    if isinstance(source, AbstractSet):  # its order changes from one process to the next, and so would every id
        raise AuditError(f"audit() got a {type(source).__name__}, whose order is not fixed: pass sorted(...) or a list")
    if isinstance(source, (str, bytes)) or not isinstance(source, Iterable):
        raise AuditError(f"audit() takes paths, globs or URLs, a pandas DataFrame, a pyarrow Table or "
                         f"RecordBatchReader, a datasets Dataset or IterableDataset, or an iterable of strings; "
                         f"got {type(source).__name__}")
    return "<strings>", _string_batches(source)


def _dataset_batches(dataset: Any) -> Iterator[pa.RecordBatch]:
    """A Hugging Face dataset's rows as Arrow batches, streamed (an IterableDataset is never held whole)."""
    for table in dataset.with_format("arrow").iter(batch_size=BATCH_ROWS):
        yield from table.to_batches()


def _string_batches(texts: Iterable[object]) -> Iterator[pa.RecordBatch]:
    """Batches of a `text` column; None is a null text (skipped and counted), any other non-string an error."""
    items = iter(texts)
    for start in itertools.count(0, BATCH_ROWS):
        chunk = list(itertools.islice(items, BATCH_ROWS))
        if not chunk:
            return
        for offset, text in enumerate(chunk):
            if text is not None and not isinstance(text, str):
                raise AuditError(f"<strings>: item {start + offset} is a {type(text).__name__}, not a string")
        yield pa.record_batch({"text": pa.array(chunk, pa.string())})
