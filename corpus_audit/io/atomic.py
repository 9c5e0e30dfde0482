"""Writes that never leave a truncated file that looks complete: temp name, then rename.

A write that fails (a full disk, a lost mount) removes its temporary file, leaves any
earlier file at the path as it was, and becomes one AuditError naming the path.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from corpus_audit.errors import AuditError, os_error_message

_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW


@contextmanager
def _replacing(path: Path) -> Iterator[Path]:
    """A temporary path to write; renamed to `path` when the block ends, removed if it fails."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.unlink(missing_ok=True)  # a leftover (or a planted link) is removed, never written through
        yield tmp
        os.replace(tmp, path)
    except OSError as err:  # pyarrow's own I/O errors are OSErrors too
        raise AuditError(f"cannot write {os_error_message(err, path)}") from err
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes(path: Path, data: bytes) -> None:
    with _replacing(path) as tmp, os.fdopen(os.open(tmp, _NEW_FILE, 0o644), "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def write_text(path: Path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def json_text(obj: Any) -> str:
    """Strict JSON (no NaN or infinity, which other readers reject), as the tool writes it."""
    return json.dumps(obj, indent=2, sort_keys=False, allow_nan=False) + "\n"


def write_json(path: Path, obj: Any) -> None:
    write_text(path, json_text(obj))


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """An uncompressed .npz in memory (the same bytes for the same arrays)."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def write_arrays(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """An uncompressed .npz (loadable with allow_pickle=False)."""
    write_bytes(path, npz_bytes(arrays))


def write_parquet(path: Path, table: pa.Table) -> None:
    with _replacing(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")
