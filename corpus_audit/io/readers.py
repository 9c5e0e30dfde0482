"""Streaming readers: each shard of the corpus becomes bounded batches of documents.

A shard is the unit of work, of `--resume` and of `--on-error skip`: one Parquet, JSONL or
CSV file, or a group of `.txt` files (one document each, grouped so that a directory of
100,000 tiny files is not 100,000 units). Readers read only the columns they need, never
a whole file at once (Parquet page by page, even within one huge row group; JSONL and CSV
by record; compressed streams decompressed as they are read), and give every document its
`source` (file) and `row` (0-based record number in that file). Text that is not valid
UTF-8 is repaired with U+FFFD and counted, never dropped. No record is read into memory
past `record_bytes`: a longer JSON line is skipped (read past in chunks) and counted, a
longer `.txt` file is read up to the limit, and a longer CSV field fails its shard; so a
small compressed file cannot expand into a memory bomb.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import zstandard

from corpus_audit.errors import AuditError, SourceError
from corpus_audit.io.columns import ColumnSpec, check_column, choose_text_column, is_binary_type, is_string_type
from corpus_audit.io.sources import Source, fingerprint, resolve_sources

TXT_FILES_PER_SHARD = 2048
MIN_RECORD_BYTES = 256 * 2**20


def record_limit(max_doc_chars: int) -> int:
    """The most bytes read for one record: 256 MiB, or enough for `max_doc_chars` characters of UTF-8."""
    return max(MIN_RECORD_BYTES, 4 * max_doc_chars)


@dataclass(frozen=True)
class Shard:
    """A unit of work: one file, or several `.txt` files read as one."""

    index: int
    sources: tuple[Source, ...]

    @property
    def format(self) -> str:
        return self.sources[0].format

    @property
    def name(self) -> str:
        first = self.sources[0].name
        return first if len(self.sources) == 1 else f"{first} (+{len(self.sources) - 1} more .txt files)"

    def fingerprint(self) -> str:
        return fingerprint([s.fingerprint() for s in self.sources])


@dataclass
class DocumentBatch:
    """Up to `batch_size` documents of one shard, in file order."""

    sources: list[str]
    rows: np.ndarray
    texts: list[str | None]
    repaired: np.ndarray  # text was not valid UTF-8 and was repaired
    not_string: np.ndarray  # the text field held a number, list or object (text is None)
    oversized: np.ndarray  # the record was longer than the read limit and was not read (text is None)
    ids: list[str | None] | None = None
    strata: list[str | None] | None = None
    id_column: str | None = None  # where `ids` came from

    def __len__(self) -> int:
        return len(self.texts)

    def select(self, keep: np.ndarray) -> DocumentBatch:
        """The documents where `keep` is true."""
        idx = np.flatnonzero(keep)
        pick = lambda values: None if values is None else [values[i] for i in idx]  # noqa: E731
        return DocumentBatch([self.sources[i] for i in idx], self.rows[idx], pick(self.texts), self.repaired[idx],
                             self.not_string[idx], self.oversized[idx], pick(self.ids), pick(self.strata), self.id_column)


def group_shards(sources: list[Source]) -> list[Shard]:
    """One shard per file, except runs of `.txt` files, packed up to TXT_FILES_PER_SHARD."""
    shards: list[Shard] = []
    pending: list[Source] = []

    def flush() -> None:
        if pending:
            shards.append(Shard(len(shards), tuple(pending)))
            pending.clear()

    for source in sources:
        if source.format == "txt":
            pending.append(source)
            if len(pending) == TXT_FILES_PER_SHARD:
                flush()
        else:
            flush()
            shards.append(Shard(len(shards), (source,)))
    flush()
    return shards


_SURROGATE = re.compile("[\ud800-\udfff]")
BOM = b"\xef\xbb\xbf"  # UTF-8's byte-order mark, which some tools write at the start of a file


def _as_text(value: object) -> object:
    """A binary value (a Parquet BINARY column: strings written without their UTF-8 annotation)
    as text, undecodable bytes kept as lone surrogates for `repair_text` to replace and count."""
    return value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else value


def repair_text(text: str) -> tuple[str, bool]:
    """Replace each lone surrogate (an undecodable byte, a bad JSON escape) by one U+FFFD."""
    try:
        text.encode("utf-8")
        return text, False
    except UnicodeEncodeError:
        return _SURROGATE.sub("\ufffd", text), True


class _Accumulator:
    """Collects documents into batches bounded by count and by characters."""

    def __init__(self, batch_size: int, batch_chars: int, with_ids: bool, with_strata: bool) -> None:
        self.batch_size, self.batch_chars = batch_size, batch_chars
        self.with_ids, self.with_strata = with_ids, with_strata
        self.id_column: str | None = None  # set by the reader once it has seen the columns
        self._reset()

    def _reset(self) -> None:
        self.sources: list[str] = []
        self.rows: list[int] = []
        self.texts: list[str | None] = []
        self.ids: list[str | None] = []
        self.strata: list[str | None] = []
        self.repaired: list[bool] = []
        self.not_string: list[bool] = []
        self.oversized: list[bool] = []
        self.chars = 0

    def add(self, source: str, row: int, text: object, doc_id: object = None, stratum: object = None,
            repaired: bool = False, oversized: bool = False) -> DocumentBatch | None:
        text, doc_id, stratum = _as_text(text), _as_text(doc_id), _as_text(stratum)
        not_string = text is not None and not isinstance(text, str)
        if isinstance(text, str):
            text, fixed = repair_text(text)
            repaired = repaired or fixed
            self.chars += len(text)
        else:
            text = None
        self.repaired.append(repaired)
        self.not_string.append(not_string)
        self.oversized.append(oversized)
        self.sources.append(source)
        self.rows.append(row)
        self.texts.append(text)
        if self.with_ids:
            self.ids.append(None if doc_id is None else repair_text(str(doc_id))[0])
        if self.with_strata:
            self.strata.append(None if stratum is None else repair_text(str(stratum))[0])
        if len(self.texts) >= self.batch_size or self.chars >= self.batch_chars:
            return self.flush()
        return None

    def flush(self) -> DocumentBatch | None:
        if not self.texts:
            return None
        batch = DocumentBatch(self.sources, np.asarray(self.rows, dtype=np.int64), self.texts,
                              np.asarray(self.repaired, dtype=bool), np.asarray(self.not_string, dtype=bool),
                              np.asarray(self.oversized, dtype=bool), self.ids if self.with_ids else None,
                              self.strata if self.with_strata else None, self.id_column)
        self._reset()
        return batch


@dataclass
class ShardReader:
    """Reads one shard in bounded batches; `count()` counts its documents cheaply."""

    shard: Shard
    columns: ColumnSpec = field(default_factory=ColumnSpec)
    batch_size: int = 1000
    batch_chars: int = 32_000_000
    record_bytes: int = MIN_RECORD_BYTES

    @classmethod
    def for_scan(cls, shard: Shard, columns: ColumnSpec, batch_size: int, max_doc_chars: int) -> ShardReader:
        """The reader a scan uses: its read limit follows `--max-doc-chars`."""
        return cls(shard, columns, batch_size, record_bytes=record_limit(max_doc_chars))

    def batches(self) -> Iterator[DocumentBatch]:
        """The shard's documents in file order; a read failure becomes a SourceError."""
        if self.shard.format == "txt":
            yield from self._txt()
            return
        source = self.shard.sources[0]
        read = {"parquet": self._parquet, "jsonl": self._jsonl, "csv": self._csv}[self.shard.format]
        try:
            yield from read(source)
        except AuditError:
            raise
        except Exception as err:  # any failure to read is this source's, reported with its reason
            raise SourceError(source.name, _reason(err)) from err

    def count(self) -> int:
        """Number of documents in the shard (Parquet from metadata; others by a read pass)."""
        if self.shard.format == "parquet":
            try:
                total = 0
                for source in self.shard.sources:
                    with self._open(source, "rb") as handle:
                        total += self._parquet_file(handle).metadata.num_rows
                return total
            except (OSError, pa.ArrowException) as err:
                raise SourceError(self.shard.name, _reason(err)) from err
        if self.shard.format == "txt":
            return len(self.shard.sources)
        return sum(len(b) for b in self.batches())

    def _accumulator(self) -> _Accumulator:
        return _Accumulator(self.batch_size, self.batch_chars, True, self.columns.by is not None)

    @staticmethod
    def _parquet_file(handle: io.IOBase) -> pq.ParquetFile:
        """Read page by page through a 1 MiB buffer, not a row group at a time."""
        return pq.ParquetFile(handle, buffer_size=2**20, pre_buffer=False)

    def _parquet(self, source: Source) -> Iterator[DocumentBatch]:
        with self._open(source, "rb") as handle:
            parquet = self._parquet_file(handle)
            schema = parquet.schema_arrow
            names = schema.names
            strings = [f.name for f in schema if is_string_type(f.type)]
            text = choose_text_column(source.name, names, strings, self.columns.text)
            if not (is_string_type(kind := schema.field(text).type) or is_binary_type(kind) or pa.types.is_null(kind)):
                raise SourceError(source.name, f"column {text!r} holds {kind}, not text; name the text column with "
                                               "--text-column")
            acc = self._accumulator()
            acc.id_column = id_column = self.columns.id_for(source.name, names, text)
            check_column(source.name, names, self.columns.by, "--by")
            wanted = list(dict.fromkeys(c for c in (text, id_column, self.columns.by) if c))
            row = 0
            for record_batch in parquet.iter_batches(batch_size=self.batch_size, columns=wanted, use_threads=False):
                values = {name: record_batch.column(name).to_pylist() for name in wanted}
                for i, doc_text in enumerate(values[text]):
                    doc_id = values[id_column][i] if id_column else None
                    stratum = values[self.columns.by][i] if self.columns.by else None
                    if (batch := acc.add(source.name, row, doc_text, doc_id, stratum)) is not None:
                        yield batch
                    row += 1
        if (batch := acc.flush()) is not None:
            yield batch

    def _open(self, source: Source, mode: str) -> io.IOBase:
        """A streaming binary (or text) handle; compressed data is decompressed as it is read."""
        if source.compression == "zstd":  # fsspec's zstd file cannot read by line
            raw = fsspec.open(source.url, "rb").open()
            reader = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True, closefd=True)
            stream: io.IOBase = io.BufferedReader(reader)
        else:
            stream = fsspec.open(source.url, "rb", compression=source.compression).open()
        if mode == "rt":  # a byte-order mark at the start is not part of the first field
            return io.TextIOWrapper(stream, encoding="utf-8-sig", errors="surrogateescape", newline="")
        return stream

    def _jsonl(self, source: Source) -> Iterator[DocumentBatch]:
        acc = self._accumulator()
        text_column: str | None = None
        row = 0
        with self._open(source, "rb") as stream:
            for line_number, line in enumerate(_lines(stream, self.record_bytes), 1):
                if line is None:
                    if (batch := acc.add(source.name, row, None, oversized=True)) is not None:
                        yield batch
                    row += 1
                    continue
                if line_number == 1:
                    line = line.removeprefix(BOM)
                if not line.strip():
                    continue
                repaired = False
                try:
                    try:
                        record = json.loads(line)
                    except UnicodeDecodeError:
                        record, repaired = json.loads(line.decode("utf-8", "replace")), True
                except json.JSONDecodeError as err:
                    raise SourceError(source.name, f"line {line_number}: invalid JSON ({err.msg})") from None
                if not isinstance(record, dict):
                    raise SourceError(source.name, f"line {line_number}: a JSON object was expected, got {type(record).__name__}")
                if text_column is None:
                    names = list(record)
                    text_column = choose_text_column(source.name, names, [k for k, v in record.items() if isinstance(v, str)],
                                                     self.columns.text)
                    acc.id_column = self.columns.id_for(source.name, names, text_column)
                    check_column(source.name, names, self.columns.by, "--by")
                batch = acc.add(source.name, row, record.get(text_column),
                                record.get(acc.id_column) if acc.id_column else None,
                                record.get(self.columns.by) if self.columns.by else None, repaired)
                if batch is not None:
                    yield batch
                row += 1
        if (batch := acc.flush()) is not None:
            yield batch

    def _csv(self, source: Source) -> Iterator[DocumentBatch]:
        acc = self._accumulator()
        csv.field_size_limit(self.record_bytes)
        with self._open(source, "rt") as stream:
            first = stream.readline()
            reader = csv.reader(itertools.chain([first], stream), delimiter=csv_delimiter(first))
            header = next(reader, None)
            if header is None:
                return
            header = [repair_text(h)[0] for h in header]
            text = choose_text_column(source.name, header, header if len(header) == 1 else [], self.columns.text)
            acc.id_column = self.columns.id_for(source.name, header, text)
            check_column(source.name, header, self.columns.by, "--by")
            where = {name: i for i, name in enumerate(header)}
            t, d, b = where[text], where.get(acc.id_column or ""), where.get(self.columns.by or "")
            for row, record in enumerate(reader):
                if len(record) != len(header):
                    raise SourceError(source.name, f"record {row + 1}: {len(record)} fields, the header has {len(header)}")
                batch = acc.add(source.name, row, record[t], None if d is None else record[d], None if b is None else record[b])
                if batch is not None:
                    yield batch
        if (batch := acc.flush()) is not None:
            yield batch

    def _txt(self) -> Iterator[DocumentBatch]:
        if self.columns.id or self.columns.by:
            raise SourceError(self.shard.name, ".txt files have no columns for --id-column or --by")
        acc = self._accumulator()
        for source in self.shard.sources:
            try:
                with self._open(source, "rb") as stream:
                    data = stream.read(self.record_bytes)
            except Exception as err:
                raise SourceError(source.name, _reason(err)) from err
            text = data.removeprefix(BOM).decode("utf-8", "surrogateescape")
            if (batch := acc.add(source.name, 0, text, None, None)) is not None:
                yield batch
        if (batch := acc.flush()) is not None:
            yield batch


def csv_delimiter(header: str) -> str:
    """The header line's field separator: a comma when it has one, else a tab, a semicolon (what
    Excel writes where the comma is the decimal mark) or a bar; a comma for a one-column file."""
    return next((mark for mark in ",\t;|" if mark in header), ",")


def _lines(stream: io.IOBase, limit: int) -> Iterator[bytes | None]:
    """The stream's lines, each read whole only up to `limit` bytes: a longer line is read past
    in 1 MiB chunks and given as None."""
    while line := stream.readline(limit + 1):
        if len(line) > limit and not line.endswith(b"\n"):
            while (rest := stream.readline(2**20)) and not rest.endswith(b"\n"):
                pass
            yield None
        else:
            yield line


def _reason(err: BaseException) -> str:
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    if isinstance(err, FileNotFoundError):
        return "no such file"
    if isinstance(err, (EOFError,)) or "Compressed file ended" in text:
        return f"truncated compressed stream ({text})"
    return text


def read_texts(inputs: list[str], columns: ColumnSpec = ColumnSpec()) -> tuple[list[str], list[str | None]]:
    """All texts of some inputs that are more than whitespace, with their `columns.by` values
    (labelled sets for training and calibration: an empty text is evidence of nothing)."""
    texts: list[str] = []
    groups: list[str | None] = []
    for shard in group_shards(resolve_sources(inputs)):
        for batch in ShardReader(shard, columns).batches():
            strata = batch.strata or [None] * len(batch)
            for text, group in zip(batch.texts, strata):
                if text is not None and text.strip():
                    texts.append(text)
                    groups.append(group)
    return texts, groups
