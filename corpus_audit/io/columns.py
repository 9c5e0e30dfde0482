"""Which input columns hold a document's text, its id and its `--by` stratum, and the rules that pick them."""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from corpus_audit.errors import SourceError

ID_COLUMNS = ("doc_id", "id", "uuid", "document_id", "guid", "_id")  # tried in this order without --id-column


@dataclass(frozen=True)
class ColumnSpec:
    """Which input columns hold the text, the document id and the `--by` stratum."""

    text: str | None = None
    id: str | None = None
    by: str | None = None

    def id_for(self, where: str, names: list[str], text: str | None = None) -> str | None:
        """The id column of a source: `--id-column` (which must exist), else the first of ID_COLUMNS
        that is there and is not the text, else None (ids are then SOURCE:ROW)."""
        if self.id is not None:
            check_column(where, names, self.id, "--id-column")
            return self.id
        return next((c for c in ID_COLUMNS if c in names and c != text), None)


def choose_text_column(where: str, names: list[str], string_names: list[str], requested: str | None) -> str:
    """The contract's rule: --text-column, else `text`, else `content`, else the only string column."""
    if requested is not None:
        if requested not in names:
            raise SourceError(where, f"no column {requested!r} (columns: {', '.join(names) or 'none'})")
        return requested
    for candidate in ("text", "content"):
        if candidate in names:
            return candidate
    if len(string_names) == 1:
        return string_names[0]
    raise SourceError(where, f"cannot tell which column holds the text (columns: {', '.join(names) or 'none'}); "
                             "name it with --text-column")


def check_column(where: str, names: list[str], name: str | None, option: str) -> None:
    """A named column (`option`) must be in the source."""
    if name is not None and name not in names:
        raise SourceError(where, f"no column {name!r} for {option} (columns: {', '.join(names)})")


def is_string_type(kind: pa.DataType) -> bool:
    """A Parquet column type of strings (a dictionary of them included)."""
    return str(kind.value_type if pa.types.is_dictionary(kind) else kind) in ("string", "large_string", "string_view")


def is_binary_type(kind: pa.DataType) -> bool:
    """Bytes without the UTF-8 annotation, which older writers give strings: read as UTF-8."""
    return str(kind.value_type if pa.types.is_dictionary(kind) else kind) in ("binary", "large_binary", "binary_view")
