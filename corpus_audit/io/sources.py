"""Turn the user's INPUT arguments into an ordered list of sources (one file each).

INPUT may be a file, a directory (searched recursively), a glob, or a URL that fsspec
can open. Each resulting source has a format, from `--format` or its extension.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from typing import Any

import fsspec

from corpus_audit.errors import AuditError

FORMATS = ("parquet", "jsonl", "csv", "txt")
_EXTENSIONS = {
    ".parquet": "parquet", ".pq": "parquet",
    ".jsonl": "jsonl", ".jsonl.gz": "jsonl", ".jsonl.zst": "jsonl", ".ndjson": "jsonl",
    ".json.gz": "jsonl", ".jsonl.zstd": "jsonl",
    ".csv": "csv", ".csv.gz": "csv", ".tsv": "csv", ".tsv.gz": "csv",
    ".txt": "txt",
}
_GLOB_CHARS = "*?["


@dataclass(frozen=True)
class Source:
    """One input file: where it is, how to read it, and a fingerprint of its contents."""

    url: str
    format: str
    size: int | None
    modified: str | None
    label: str | None = None  # what documents name as their source, when not the url (an in-memory corpus)

    @property
    def name(self) -> str:
        return self.label or self.url

    @property
    def compression(self) -> str | None:
        for suffix, codec in ((".gz", "gzip"), (".zst", "zstd"), (".zstd", "zstd")):
            if self.url.endswith(suffix):
                return codec
        return None

    def fingerprint(self) -> dict[str, Any]:
        return {"url": self.url, "format": self.format, "size": self.size, "modified": self.modified}


def format_of(path: str) -> str | None:
    """The format a path's extension names, or None."""
    lower = path.lower()
    for suffix in sorted(_EXTENSIONS, key=len, reverse=True):
        if lower.endswith(suffix):
            return _EXTENSIONS[suffix]
    return None


def _filesystem(url: str) -> tuple[fsspec.AbstractFileSystem, str]:
    try:
        fs, path = fsspec.core.url_to_fs(url)
    except (ImportError, ValueError) as err:
        raise AuditError(f"{url}: cannot open this kind of URL ({err})") from None
    return fs, path


def _url(fs: fsspec.AbstractFileSystem, path: str, original: str) -> str:
    if "://" not in original:
        return path
    return fs.unstrip_protocol(path)


def _describe(fs: fsspec.AbstractFileSystem, path: str, original: str, forced: str | None) -> Source:
    fmt = forced or format_of(path)
    if fmt is None:
        raise AuditError(f"{original}: unknown format (use one of {', '.join(FORMATS)} by extension, or --format)")
    info = fs.info(path)
    modified = info.get("mtime") or info.get("LastModified") or info.get("ETag") or info.get("etag")
    return Source(_url(fs, path, original), fmt, info.get("size"), None if modified is None else str(modified),
                  label=_relative(path) if "://" not in original else None)


def _relative(path: str) -> str:
    """A local path under the directory the command ran in, relative to it (reports are shared,
    and an absolute path tells strangers about the machine); a path elsewhere stays as it is."""
    try:
        relative = os.path.relpath(path)
    except ValueError:  # another drive (Windows)
        return path
    return path if relative == os.pardir or relative.startswith(os.pardir + os.sep) else relative


def resolve_sources(inputs: list[str], forced_format: str | None = None) -> list[Source]:
    """Expand INPUT arguments into sources, in a stable order, without duplicates."""
    if forced_format is not None and forced_format not in FORMATS:
        raise AuditError(f"--format {forced_format!r}: expected one of {', '.join(FORMATS)}")
    if not inputs:
        raise AuditError("no INPUT given")
    sources: list[Source] = []
    seen: set[str] = set()
    for original in inputs:
        try:
            found = _expand(original, forced_format)
        except AuditError:
            raise
        except Exception as err:  # noqa: BLE001 - a filesystem's own errors (no network, no credentials) are one line
            raise AuditError(f"{original}: cannot list or open it ({type(err).__name__}: {err})") from None
        for source in found:
            if source.url not in seen:
                seen.add(source.url)
                sources.append(source)
    if not sources:
        raise AuditError(f"{' '.join(inputs)}: no readable input files found")
    return sources


def _expand(original: str, forced_format: str | None) -> list[Source]:
    """The sources one INPUT names: a file, a directory's files of known formats, or a glob's matches."""
    fs, path = _filesystem(original)
    if any(c in path for c in _GLOB_CHARS):
        matches = sorted(fs.glob(path))
        if not matches:
            raise AuditError(f"{original}: no file matches this pattern")
        candidates = [m for m in matches if fs.isfile(m)]
        explicit = False
    elif fs.isdir(path):
        candidates = sorted(p for p in fs.find(path) if not _hidden(p, path))
        candidates = [p for p in candidates if forced_format or format_of(p)]
        if not candidates:
            raise AuditError(f"{original}: directory holds no file of a known format ({', '.join(FORMATS)})")
        explicit = False
    elif fs.exists(path):
        candidates, explicit = [path], True
    else:
        raise AuditError(f"{original}: no such file or directory")
    return [_describe(fs, candidate, original, forced_format) for candidate in candidates
            if explicit or forced_format or format_of(candidate) is not None]


def _hidden(path: str, root: str) -> bool:
    relative = path[len(root):].lstrip("/")
    return any(part.startswith((".", "_")) for part in relative.split("/"))


def fingerprint(obj: Any) -> str:
    """A short stable hash of a JSON-able object (options, source lists)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]
