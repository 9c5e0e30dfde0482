"""The public Python API: `audit()` a corpus, `load()` a saved one, `project()` collapse.

`audit` takes what `corpus-audit scan` takes (paths, globs, URLs) and in-memory corpora
(see `corpus_audit.io.spool`); its keywords are the scan's options, validated by the same
`ScanConfig`, and every error is an `AuditError` carrying the CLI's one-line message. It
returns an `Audit`: every `audit.json` section as an attribute, `.documents` read only
when asked, the reports, and `.save(dir)` under the same rules as a scan's `--out`. The
CLI's `scan` and `project` commands call this module.
"""

from __future__ import annotations

import contextlib
import copy
import html
import json
import os
import shutil
import sys
import tempfile
import weakref
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from corpus_audit.config import ScanConfig
from corpus_audit.errors import AuditError, os_error_message
from corpus_audit.io import atomic
from corpus_audit.io.out_dir import OutDir

if TYPE_CHECKING:
    import pandas as pd

PathLike = str | os.PathLike[str]


def audit(source: object, *, out: PathLike | None = None, text_column: str | None = None, id_column: str | None = None,
          by: str | None = None, model: PathLike | None = None, reference_human: PathLike | None = None,
          reference_synthetic: PathLike | None = None, human_before: str | None = None, date_column: str | None = None,
          sample: int | None = None, sample_fraction: float | None = None,
          seed: int = 0, near_dup_threshold: float = 0.8, against: PathLike | None = None, max_doc_chars: int = 1_000_000,
          workers: int | None = None, engine: str = "local", scheduler: str | None = None, generations: int = 5,
          regime: str = "mix", fail_on: str | Sequence[str] = (), on_error: str = "fail", resume: bool = False,
          overwrite: bool = False, format: str | None = None, progress: bool = True) -> Audit:
    """Audit a corpus: a path, glob or URL (or a list of them), a pandas DataFrame, a pyarrow Table
    or RecordBatchReader, a Hugging Face Dataset or IterableDataset, or an iterable of strings.

    Every keyword is the `scan` option of the same name. Without `out`, the audit's files go
    to a temporary directory that lives as long as the result (`.save(dir)` keeps them).
    `progress`: a bar on a terminal, else one summary line on stderr; False for silence."""
    from corpus_audit.io.spool import as_inputs, spool
    from corpus_audit.scan.progress import TerminalProgress, progress_enabled

    inputs = as_inputs(source)
    temporary = out is None
    directory = Path(tempfile.mkdtemp(prefix="corpus-audit-")) if temporary else Path(out)
    # only an in-memory corpus is spooled: a scan of files makes no directory that a kill -9 would leave behind
    spooling = tempfile.TemporaryDirectory(prefix="corpus-audit-spool-") if inputs is None else contextlib.nullcontext()
    with spooling as spool_dir:
        try:
            sources = None if inputs is not None else [spool(source, Path(spool_dir))]
            options = {} if workers is None else {"workers": workers}
            config = ScanConfig(
                inputs=tuple(inputs) if inputs is not None else (sources[0].name,), out=directory, format=format,
                text_column=text_column, id_column=id_column, by=by, sample=sample, sample_fraction=sample_fraction,
                seed=seed, max_doc_chars=max_doc_chars, near_dup_threshold=near_dup_threshold,
                against=_path(against), model=_path(model), reference_human=_path(reference_human),
                reference_synthetic=_path(reference_synthetic), human_before=human_before, date_column=date_column,
                engine=engine, scheduler=scheduler,
                generations=generations, regime=regime, fail_on=(fail_on,) if isinstance(fail_on, str) else tuple(fail_on),
                on_error=on_error, resume=resume, overwrite=overwrite, **options)
            if config.engine == "local" and config.workers > 1:
                _start_fork_server()
            from corpus_audit.pipeline.run import Scan

            if progress and progress_enabled():
                with TerminalProgress() as bar:
                    data = Scan(config, sources=sources, progress=bar).run()
            else:
                data = Scan(config, sources=sources).run()
        except BaseException as err:
            if temporary:
                shutil.rmtree(directory, ignore_errors=True)
            if isinstance(err, OSError):
                raise AuditError(os_error_message(err)) from None
            raise
    result = Audit(data, directory, temporary=temporary)
    if progress and not progress_enabled():
        print(f"corpus-audit: {data['input']['scanned']:,} documents, {headline(data)}", file=sys.stderr)
    return result


def _start_fork_server() -> None:
    """Start the local workers' fork server before the pipeline is imported, so that the two
    import at once (see `corpus_audit.scan.fork_server`); if it cannot start, the engine says why."""
    from corpus_audit.scan import fork_server

    try:
        fork_server.start()
    except OSError:
        pass


def _path(value: PathLike | None) -> str | None:
    return None if value is None else os.fspath(value)


def project(synthetic_fraction: float, *, ci: tuple[float, float] | None = None,
            spectrum: PathLike | Audit | None = None, zipf_types: int | None = None, zipf_exponent: float = 1.1,
            tokens_per_generation: float | None = None, generations: int = 5, regime: str = "mix",
            temperature: float = 1.0, top_p: float = 1.0, top_k: int | None = None, runs: int = 100,
            seed: int = 0) -> Record:
    """The collapse projection alone (`corpus-audit project`): the `collapse_projection` object.

    `spectrum`: an audit (or its directory) whose word spectrum to use; or `zipf_types` for
    a Zipf spectrum of that many word types."""
    from corpus_audit.collapse.projection import Plan, Spectrum
    from corpus_audit.collapse.projection import project as run_projection

    if (spectrum is None) == (zipf_types is None):
        raise AuditError("give either --spectrum AUDIT_DIR or --zipf-types K (not both)")
    tokens = tokens_per_generation
    if spectrum is not None:
        data = spectrum.to_dict() if isinstance(spectrum, Audit) else read_audit(Path(spectrum), "--spectrum ")
        source = _spectrum(data, str(getattr(spectrum, "directory", spectrum)))
    else:
        tokens = tokens or 100.0 * zipf_types
        source = Spectrum.zipf(zipf_types, zipf_exponent, tokens)
    low, high = ci if ci is not None else (synthetic_fraction, synthetic_fraction)
    plan = Plan(alpha=synthetic_fraction, alpha_low=low, alpha_high=high, regime=regime, generations=generations,
                tokens_per_generation=tokens, temperature=temperature, top_p=top_p, top_k=top_k, runs=runs, seed=seed)
    return wrap(run_projection(source, plan))


def _spectrum(data: dict[str, Any], where: str) -> Any:
    from corpus_audit.collapse.projection import Spectrum

    section = data.get("spectrum")
    if not isinstance(section, dict) or not isinstance(section.get("counts_of_counts"), list):
        raise AuditError(f"--spectrum {where}: no word spectrum in it (made by an older corpus-audit?)")
    try:
        return Spectrum.from_counts_of_counts(section["counts_of_counts"], f"spectrum of {where}")
    except (TypeError, ValueError) as err:
        raise AuditError(f"--spectrum {where}: malformed counts_of_counts ({err})") from None


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
        from corpus_audit.report.render import render_html

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
        warnings = self._data.get("warnings")  # absent from audits made before it was added
        if warnings is None:
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
