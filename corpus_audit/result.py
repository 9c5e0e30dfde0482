"""An audit as a Python object: `audit.json` with attribute access, its documents, reports and files.

`Audit` wraps the audit of one directory (what `scan --out` writes). Every `audit.json`
section reads as an attribute (`result.synthetic_fraction.ci_high`); `.documents` loads
the per-document table only when asked; `.save(dir)` copies the directory under the same
rules as a scan's `--out`; `load(dir)` reads one back.
"""

from __future__ import annotations

import copy
import html
import json
import os
import shutil
import weakref
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from corpus_audit import atomic
from corpus_audit.errors import AuditError, os_error_message
from corpus_audit.out_dir import OutDir

if TYPE_CHECKING:
    import pandas as pd


class Record(dict):
    """A section of `audit.json`: a dict whose keys also read as attributes, nested sections too."""

    def __getattr__(self, name: str) -> Any:
        try:
            return wrap(self[name])
        except KeyError:
            raise AttributeError(f"no {name!r} here; there is {', '.join(map(str, self)) or 'nothing'}") from None

    def __dir__(self) -> list[str]:
        return [*super().__dir__(), *(k for k in self if isinstance(k, str) and k.isidentifier())]


def wrap(value: Any) -> Any:
    """Dicts as Records and lists of dicts as lists of Records; everything else as it is."""
    if isinstance(value, dict):
        return Record(value)
    if isinstance(value, list):
        return [wrap(v) for v in value]
    return value


def read_audit(directory: Path, label: str = "") -> dict[str, Any]:
    """DIRECTORY/audit.json, parsed and checked to be a corpus-audit audit; `label` starts each error."""
    path = Path(directory) / "audit.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise AuditError(f"{label}{directory}: no audit.json there") from None
    except (OSError, ValueError) as err:
        raise AuditError(f"{label}{path}: cannot read it ({err})") from None
    if not isinstance(data, dict) or data.get("schema_version") != 1:
        raise AuditError(f"{label}{path}: not a corpus-audit audit (schema_version 1)")
    return data


class Audit:
    """The result of `corpus_audit.audit()` (or `load()`): every `audit.json` section as an attribute."""

    def __init__(self, data: dict[str, Any], directory: Path, temporary: bool = False) -> None:
        self._data = data
        self.directory = Path(directory)
        if temporary:  # an audit made without out=: its files go when the object does
            self._cleanup = weakref.finalize(self, shutil.rmtree, str(self.directory), True)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if name in self._data:
            return wrap(self._data[name])
        raise AttributeError(f"this audit has no {name!r} section; it has {', '.join(self._data)}")

    def __dir__(self) -> list[str]:
        return [*super().__dir__(), *self._data]

    def __repr__(self) -> str:
        return f"<Audit of {self._data['input']['scanned']:,} documents: {headline(self._data)}; files in {self.directory}>"

    @cached_property
    def documents(self) -> pd.DataFrame:
        """One row per scanned document (the `documents/part-*.parquet` files), read on first access."""
        import pyarrow.parquet as pq

        parts = sorted((self.directory / "documents").glob("part-*.parquet"))
        if not parts:
            raise AuditError(f"{self.directory}/documents: no documents parts (was the audit saved without them?)")
        return pq.ParquetDataset(parts).read().to_pandas()

    def to_dict(self) -> dict[str, Any]:
        """Exactly `audit.json` (a copy)."""
        return copy.deepcopy(self._data)

    def to_html(self) -> str:
        """The HTML report, one self-contained page."""
        from corpus_audit.report import render_html

        return render_html(self._data)

    def _repr_html_(self) -> str:
        """A compact summary card for a notebook."""
        inp = self._data["input"]
        rows = [("documents", f"{inp['scanned']:,} scanned of {inp['documents']:,}"),
                ("synthetic fraction", headline(self._data))]
        near = self._data.get("near_duplicates")
        if near:
            rows.append(("near-duplicates", f"{near['duplicate_fraction']:.1%} of documents ({near['clusters']:,} clusters)"))
        projection = self._data.get("collapse_projection")
        if projection:
            rows.append(("collapse risk", str(projection["risk"])))
        warnings = (self._data.get("synthetic_fraction") or {}).get("warnings", [])
        rows += [("warning", w) for w in warnings]
        body = "".join(f"<tr><th style='text-align:left'>{html.escape(k)}</th><td style='text-align:left'>{html.escape(v)}</td></tr>"
                       for k, v in rows)
        return f"<div><strong>corpus-audit</strong><table>{body}</table><small>{html.escape(str(self.directory))}</small></div>"

    def save(self, out_dir: str | os.PathLike[str], overwrite: bool = False) -> Path:
        """Write what `scan --out` writes to `out_dir` (a new, empty or audit directory; an earlier
        audit there is replaced only with overwrite=True, removing only corpus-audit's files)."""
        target = Path(out_dir)
        if target.resolve() == self.directory.resolve():
            return target
        source, destination = OutDir(self.directory), OutDir(target)
        destination.claim(resume=False, overwrite=overwrite)
        try:
            destination.remove_stale(set())
            for folder, name in source.owned():
                if name.startswith(".") or (folder / name).is_dir():
                    continue  # temporary files and the join's scratch directory
                relative = (folder / name).relative_to(self.directory)
                atomic.write_bytes(destination.subdir(*relative.parent.parts) / name, (folder / name).read_bytes())
        except OSError as err:
            raise AuditError(f"cannot save the audit: {os_error_message(err)}") from None
        finally:
            destination.unlock()
        return target


def headline(data: dict[str, Any]) -> str:
    section = data.get("synthetic_fraction")
    if not section:
        return "no synthetic-fraction estimate (no classifier)"
    return f"synthetic fraction {section['estimate']:.1%} ({section['confidence']:.0%} interval " \
           f"{section['ci_low']:.1%} to {section['ci_high']:.1%})"


def load(out_dir: str | os.PathLike[str]) -> Audit:
    """Read back an audit that `scan --out` or `Audit.save` wrote."""
    directory = Path(out_dir)
    return Audit(read_audit(directory), directory)
