"""The public Python API: `audit()` a corpus, `project()` collapse; the engine behind the CLI too.

`audit` takes what `corpus-audit scan` takes (paths, globs, URLs) and in-memory corpora
(see `corpus_audit.spool`); its keywords are the scan's options, validated by the same
`ScanConfig`, and every error is an `AuditError` carrying the CLI's one-line message.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from corpus_audit.config import ScanConfig
from corpus_audit.errors import AuditError, os_error_message
from corpus_audit.result import Audit, Record, headline, read_audit, wrap

PathLike = str | os.PathLike[str]


def audit(source: object, *, out: PathLike | None = None, text_column: str | None = None, id_column: str | None = None,
          by: str | None = None, model: PathLike | None = None, reference_human: PathLike | None = None,
          reference_synthetic: PathLike | None = None, sample: int | None = None, sample_fraction: float | None = None,
          seed: int = 0, near_dup_threshold: float = 0.8, against: PathLike | None = None, max_doc_chars: int = 1_000_000,
          workers: int | None = None, engine: str = "local", scheduler: str | None = None, generations: int = 5,
          regime: str = "mix", fail_on: str | Sequence[str] = (), on_error: str = "fail", resume: bool = False,
          overwrite: bool = False, format: str | None = None, progress: bool = True) -> Audit:
    """Audit a corpus: a path, glob or URL (or a list of them), a pandas DataFrame, a pyarrow Table
    or RecordBatchReader, a Hugging Face Dataset or IterableDataset, or an iterable of strings.

    Every keyword is the `scan` option of the same name. Without `out`, the audit's files go
    to a temporary directory that lives as long as the result (`.save(dir)` keeps them).
    `progress`: a bar on a terminal, else one summary line on stderr; False for silence."""
    from corpus_audit.pipeline import Scan
    from corpus_audit.progress import TerminalProgress, progress_enabled
    from corpus_audit.spool import as_inputs, spool

    inputs = as_inputs(source)
    temporary = out is None
    directory = Path(tempfile.mkdtemp(prefix="corpus-audit-")) if temporary else Path(out)
    with tempfile.TemporaryDirectory(prefix="corpus-audit-spool-") as spool_dir:
        try:
            sources = None if inputs is not None else [spool(source, Path(spool_dir))]
            options = {} if workers is None else {"workers": workers}
            config = ScanConfig(
                inputs=tuple(inputs) if inputs is not None else (sources[0].name,), out=directory, format=format,
                text_column=text_column, id_column=id_column, by=by, sample=sample, sample_fraction=sample_fraction,
                seed=seed, max_doc_chars=max_doc_chars, near_dup_threshold=near_dup_threshold,
                against=_path(against), model=_path(model), reference_human=_path(reference_human),
                reference_synthetic=_path(reference_synthetic), engine=engine, scheduler=scheduler,
                generations=generations, regime=regime, fail_on=(fail_on,) if isinstance(fail_on, str) else tuple(fail_on),
                on_error=on_error, resume=resume, overwrite=overwrite, **options)
            if progress and progress_enabled():
                with TerminalProgress() as bar:
                    data = Scan(config, sources=sources, progress=bar).run()
            else:
                data = Scan(config, sources=sources).run()
        except OSError as err:
            raise AuditError(os_error_message(err)) from None
        except BaseException:
            if temporary:
                shutil.rmtree(directory, ignore_errors=True)
            raise
    result = Audit(data, directory, temporary=temporary)
    if progress and not progress_enabled():
        print(f"corpus-audit: {data['input']['scanned']:,} documents, {headline(data)}", file=sys.stderr)
    return result


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
    from corpus_audit.projection import Plan, Spectrum, project as run_projection

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
    from corpus_audit.projection import Spectrum

    section = data.get("spectrum")
    if not isinstance(section, dict) or not isinstance(section.get("counts_of_counts"), list):
        raise AuditError(f"--spectrum {where}: no word spectrum in it (made by an older corpus-audit?)")
    try:
        return Spectrum.from_counts_of_counts(section["counts_of_counts"], f"spectrum of {where}")
    except (TypeError, ValueError) as err:
        raise AuditError(f"--spectrum {where}: malformed counts_of_counts ({err})") from None
