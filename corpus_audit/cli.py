"""The `corpus-audit` command line (see the contract in the README).

Every failure the user can act on ends as one line on stderr and exit code 2; the
traceback is shown only with `--debug`. Ctrl-C ends with exit code 130.
"""

from __future__ import annotations

import gc
import json
import sys
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console

from corpus_audit import __version__
from corpus_audit.errors import AuditError, os_error_message
from corpus_audit.report.summary import gate_value, output, print_summary
from corpus_audit.scan.progress import progress_enabled

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False, no_args_is_help=True,
                  rich_markup_mode=None,  # plain help: "[default: ...]" and "[dask]" are text, not markup
                  help="Audit a text corpus for machine-written text, near-duplicates and collapse risk.")

EXIT_RULE_BROKEN = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class Format(str, Enum):
    parquet = "parquet"
    jsonl = "jsonl"
    csv = "csv"
    txt = "txt"


class OnError(str, Enum):
    fail = "fail"
    skip = "skip"


class Engine(str, Enum):
    local = "local"
    dask = "dask"


class Regime(str, Enum):
    replace = "replace"
    mix = "mix"
    accumulate = "accumulate"


DebugOption = Annotated[bool, typer.Option("--debug", help="Show the full traceback of an error.")]  # every command has it


def _print_error(message: str) -> None:
    output(stderr=True).print(f"corpus-audit: error: {message}", markup=False, soft_wrap=True)


def _fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    _print_error(message)
    raise typer.Exit(code)


def _guarded(action: Callable[[], Any], debug: bool) -> Any:
    """Run a command body, turning errors into the contract's one-line messages."""
    try:
        return action()
    except typer.Exit:
        raise
    except AuditError as err:
        if debug:
            raise
        _fail(str(err))
    except OSError as err:  # a disk, a permission, a path: something the user can act on
        if debug:
            raise
        _fail(os_error_message(err))
    except KeyboardInterrupt:
        if debug:
            raise
        _fail("interrupted; finished shards are kept, rerun with --resume to continue", EXIT_INTERRUPTED)
    except Exception as err:  # a bug: say so in one line, traceback with --debug
        if debug:
            raise
        _fail(f"internal error: {type(err).__name__}: {err} (rerun with --debug for the traceback)")


def _version(value: bool) -> None:
    if value:
        print(f"corpus-audit {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                                help="Print the version and exit.")] = False) -> None:
    """Audit a text corpus before training on it."""


@app.command()
def scan(
    inputs: Annotated[list[str], typer.Argument(metavar="INPUT...", show_default=False,
                                                help="Files, directories, globs or URLs (s3://, gs://, hf://, file://).")],
    out: Annotated[Path, typer.Option(help="Directory the audit is written to.")] = Path("corpus-audit-out"),
    format: Annotated[Format | None, typer.Option(help="Read every input as this format instead of by extension.")] = None,
    text_column: Annotated[str | None, typer.Option(help="Column holding the text [default: text, else content, else the only string column].")] = None,
    id_column: Annotated[str | None, typer.Option(help="Column with a document id [default: the first of doc_id, id, uuid, document_id, guid, _id; else <source>:<row>].")] = None,
    by: Annotated[str | None, typer.Option(help="Also estimate per value of this column.")] = None,
    sample: Annotated[int | None, typer.Option(help="Audit a uniform random sample of N documents.")] = None,
    sample_fraction: Annotated[float | None, typer.Option(help="Audit a uniform random sample of this share of documents.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of every random choice.")] = 0,
    model: Annotated[Path | None, typer.Option(help="Detector model made by `corpus-audit train` [default: the shipped model].")] = None,
    reference_human: Annotated[str | None, typer.Option(help="Human-written texts of the corpus's domain, to calibrate the estimate [default: the model's cross-validated scores].")] = None,
    reference_synthetic: Annotated[str | None, typer.Option(help="Machine-written texts of the corpus's domain, to calibrate the estimate.")] = None,
    human_before: Annotated[str | None, typer.Option(metavar="DATE", help="Use the corpus's own documents dated before DATE (e.g. 2022-11-30, before chat models were common) as in-domain human references; needs --date-column.")] = None,
    date_column: Annotated[str | None, typer.Option(metavar="NAME", help="The column holding each document's date (ISO 8601, or Unix time in seconds or milliseconds), for --human-before.")] = None,
    near_dup_threshold: Annotated[float, typer.Option(help="Jaccard similarity of word 5-gram sets that counts as a near-duplicate.")] = 0.8,
    against: Annotated[str | None, typer.Option(help="Also find documents that near-duplicate the texts of this file, directory, glob or URL (e.g. known machine-written texts).")] = None,
    max_doc_chars: Annotated[int, typer.Option(help="Longer documents are truncated to this many characters for scoring, and counted.")] = 1_000_000,
    workers: Annotated[int | None, typer.Option(help="Worker processes: local, or of the local Dask cluster [default: the cores this process may use, within a container's CPU quota].")] = None,
    engine: Annotated[Engine, typer.Option(help="Where shards are scanned: local processes, or a Dask cluster (needs corpus-audit[dask]).")] = Engine.local,
    scheduler: Annotated[str | None, typer.Option(help="Address of a running Dask scheduler, e.g. tcp://host:8786 (with --engine dask) [default: a local cluster of --workers processes].")] = None,
    generations: Annotated[int | None, typer.Option(help="Generations of the collapse projection [default: 5].")] = None,
    regime: Annotated[Regime | None, typer.Option(help="Training regime of the collapse projection [default: mix].")] = None,
    fail_on: Annotated[list[str] | None, typer.Option(help="Exit 1 when the audit breaks this rule, e.g. 'synthetic_fraction>0.10' (repeatable).")] = None,
    on_error: Annotated[OnError, typer.Option(help="An unreadable shard stops the run (fail), or is skipped and listed (skip).")] = OnError.fail,
    resume: Annotated[bool, typer.Option("--resume", help="Reuse the finished shards of an earlier run with the same options in --out.")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an earlier audit in --out, removing only corpus-audit's own files [default: an --out holding an audit is refused, and so is any other non-empty directory].")] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print audit.json to stdout; human output goes to stderr.")] = False,
    debug: DebugOption = False,
) -> None:
    """Scan a corpus and write the audit to --out."""
    def body() -> None:
        from corpus_audit.api import audit
        from corpus_audit.io.spool import Inputs
        from corpus_audit.scan.allocator import keep_freed_memory

        keep_freed_memory()  # this process is the tool's: with one worker it scores every batch
        result = audit(
            Inputs(inputs), out=out, format=None if format is None else format.value, text_column=text_column,
            id_column=id_column, by=by, sample=sample, sample_fraction=sample_fraction, seed=seed,
            max_doc_chars=max_doc_chars, near_dup_threshold=near_dup_threshold, against=against, model=model,
            reference_human=reference_human, reference_synthetic=reference_synthetic, human_before=human_before,
            date_column=date_column, on_error=on_error.value,
            resume=resume, overwrite=overwrite, fail_on=tuple(fail_on or ()), engine=engine.value, scheduler=scheduler,
            workers=workers, generations=5 if generations is None else generations,
            regime="mix" if regime is None else regime.value, progress=progress_enabled())
        data = result.to_dict()
        print_summary(data, output(stderr=json_output), str(out))
        if json_output:
            sys.stdout.write(json.dumps(data, indent=2) + "\n")
        _gate_exit(data)

    _guarded(body, debug)


def _gate_exit(audit: dict[str, Any]) -> None:
    """Exit 1 when a --fail-on rule broke, naming each on stderr."""
    broken = [g for g in audit.get("gate") or [] if g["broken"]]
    if broken:
        console = output(stderr=True)
        for g in broken:
            judged = f"; judged on {g['judged_on']}" if g.get("judged_on") else ""
            console.print(f"corpus-audit: rule broken: {g['rule']} (value {gate_value(g)}{judged})", markup=False)
        raise typer.Exit(EXIT_RULE_BROKEN)


def _print_metrics(title: str, metrics: dict[str, Any], console: Console) -> None:
    console.print(f"{title}: AUROC {metrics['auroc']:.4f}, TPR at 1% FPR {metrics['tpr_at_1pct_fpr']:.3f}, "
                  f"at 5% FPR {metrics['tpr_at_5pct_fpr']:.3f} ({metrics['human']:,} human, {metrics['synthetic']:,} synthetic)")


@app.command()
def train(
    human: Annotated[str, typer.Option(help="Human-written texts (file, directory, glob or URL).", show_default=False)],
    synthetic: Annotated[str, typer.Option(help="Machine-written texts.", show_default=False)],
    out: Annotated[Path, typer.Option(help="Model directory to write.", show_default=False)],
    group_column: Annotated[str | None, typer.Option(help="Column whose value keeps texts together in cross-validation (e.g. the source article).")] = None,
    text_column: Annotated[str | None, typer.Option(help="Column holding the text [default: text, else content, else the only string column].")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the cross-validation split and the solver.")] = 0,
    folds: Annotated[int, typer.Option(help="Cross-validation folds.")] = 5,
    json_output: Annotated[bool, typer.Option("--json", help="Print the metrics as JSON to stdout.")] = False,
    debug: DebugOption = False,
) -> None:
    """Fit a detector model with grouped cross-validation and write it to --out."""
    def body() -> None:
        from corpus_audit.io.labelled import read_labelled
        from corpus_audit.model import store as model_store
        from corpus_audit.model.training import TrainingOptions
        from corpus_audit.model.training import train as fit

        if folds < 2:
            raise AuditError(f"--folds {folds}: must be at least 2")
        console = output(stderr=json_output)
        data = read_labelled(human, synthetic, text_column, group_column)
        if group_column is None:
            console.print("note: no --group-column; texts are split one by one, which inflates the scores when "
                          "machine texts continue human ones", style="yellow")
        provenance = {"name": out.name, "human": human, "synthetic": synthetic, "group_column": group_column}
        result = fit(data.texts, data.labels, data.groups, TrainingOptions(folds=folds, seed=seed), provenance,
                     report=lambda step: console.print(f"  {step}", markup=False, soft_wrap=True))
        model_store.save(out, result.model, result.bank)
        _print_metrics(f"grouped {result.metrics['folds']}-fold CV", result.metrics["grouped_cv"], console)
        console.print(f"model written to {out}/")
        if json_output:
            sys.stdout.write(json.dumps(result.metrics, indent=2) + "\n")

    _guarded(body, debug)


@app.command()
def evaluate(
    human: Annotated[str, typer.Option(help="Human-written texts.", show_default=False)],
    synthetic: Annotated[str, typer.Option(help="Machine-written texts.", show_default=False)],
    model: Annotated[Path | None, typer.Option(help="Model directory [default: the shipped model].")] = None,
    group_column: Annotated[str | None, typer.Option(help="Also report per value of this column, and keep its values together when splitting for mixtures.")] = None,
    text_column: Annotated[str | None, typer.Option(help="Column holding the text.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the mixture draws.")] = 0,
    json_output: Annotated[bool, typer.Option("--json", help="Print the metrics as JSON to stdout.")] = False,
    debug: DebugOption = False,
) -> None:
    """Measure a detector model on labelled texts: AUROC, TPR at 1% and 5% FPR, and the
    synthetic-fraction estimate's error on mixtures made from the two sets."""
    def body() -> None:
        from corpus_audit.model.evaluation import MIN_GROUP_TEXTS, evaluate, shown_groups

        console = output(stderr=json_output)
        report = evaluate(human, synthetic, model, group_column, text_column, seed)
        _print_metrics("overall", report["overall"], console)
        mixtures = report["mixtures"]
        console.print(f"estimate error on mixtures of {mixtures['mixture_documents']:,} documents "
                      f"(fractions {', '.join(f'{f:g}' for f in mixtures['fractions'])}; {mixtures['repetitions']} "
                      "half/half splits):")
        for name, m in mixtures["methods"].items():
            console.print(f"  {name:>5}: mean {100 * m['mean_abs_error']:.2f} points, max {100 * m['max_abs_error']:.2f}, "
                          f"95% interval coverage {m['coverage_95']:.2f}")
        if "groups" in report:
            shown, others = shown_groups(report["groups"])
            for value in shown:
                _print_metrics(f"{group_column}={value}", report["groups"][value], console)
            if others:
                console.print(f"  ({others:,} {'other ' if shown else ''}{group_column} values with fewer than "
                              f"{MIN_GROUP_TEXTS} texts of a class, or past the 30 largest: see --json)", markup=False)
        if json_output:
            sys.stdout.write(json.dumps(report, indent=2, default=float) + "\n")

    _guarded(body, debug)


@app.command()
def project(
    synthetic_fraction: Annotated[float, typer.Option(help="The synthetic fraction alpha to project.", show_default=False)],
    ci: Annotated[tuple[float, float] | None, typer.Option(help="Its interval LOW HIGH; each run draws alpha from it [default: alpha exactly].")] = None,
    spectrum: Annotated[Path | None, typer.Option(help="An audit directory whose word spectrum to use.")] = None,
    zipf_types: Annotated[int | None, typer.Option(help="Instead of --spectrum: a Zipf spectrum over this many word types.")] = None,
    zipf_exponent: Annotated[float, typer.Option(help="Exponent of the Zipf spectrum.")] = 1.1,
    tokens_per_generation: Annotated[float | None, typer.Option(help="Tokens each generation trains on [default: the spectrum's tokens; for Zipf, 100 per type, also the Zipf corpus's size].")] = None,
    generations: Annotated[int, typer.Option(help="Generations to project.")] = 5,
    regime: Annotated[Regime, typer.Option(help="replace: all synthetic; mix: alpha synthetic, the rest fresh real data; accumulate: synthetic data added to all earlier data.")] = Regime.mix,
    temperature: Annotated[float, typer.Option(help="Sampling temperature of each generation's model.")] = 1.0,
    top_p: Annotated[float, typer.Option(help="Nucleus sampling: keep the most probable words up to this mass.")] = 1.0,
    top_k: Annotated[int | None, typer.Option(help="Keep only the k most probable words [default: all].")] = None,
    runs: Annotated[int, typer.Option(help="Monte-Carlo runs.")] = 100,
    seed: Annotated[int, typer.Option(help="Seed of the simulation.")] = 0,
    json_output: Annotated[bool, typer.Option("--json", help="Print the collapse_projection object to stdout.")] = False,
    debug: DebugOption = False,
) -> None:
    """Project model collapse for a synthetic fraction, without a scan."""
    def body() -> None:
        from corpus_audit.api import project as run_projection
        from corpus_audit.report.summary import print_projection

        result = run_projection(synthetic_fraction, ci=ci, spectrum=spectrum, zipf_types=zipf_types,
                                zipf_exponent=zipf_exponent, tokens_per_generation=tokens_per_generation,
                                generations=generations, regime=regime.value, temperature=temperature, top_p=top_p,
                                top_k=top_k, runs=runs, seed=seed)
        print_projection(result, output(stderr=json_output))
        if json_output:
            sys.stdout.write(json.dumps(result, indent=2) + "\n")

    _guarded(body, debug)


@app.command()
def report(
    audit_dir: Annotated[Path, typer.Argument(help="An audit directory written by `scan`.", show_default=False)],
    html: Annotated[Path | None, typer.Option(help="Where to write the HTML report: a new file, or a report corpus-audit wrote (no other file is replaced) [default: AUDIT_DIR/report.html].")] = None,
    markdown: Annotated[Path | None, typer.Option(help="Where to write the Markdown report: a new file, or a report corpus-audit wrote [default: AUDIT_DIR/report.md].")] = None,
    debug: DebugOption = False,
) -> None:
    """Re-render the reports from AUDIT_DIR/audit.json, and print the summary."""
    def body() -> None:
        from corpus_audit.api import read_audit
        from corpus_audit.report.render import check_report_paths, write_reports

        audit, path = read_audit(audit_dir), audit_dir / "audit.json"
        targets = (html or audit_dir / "report.html", markdown or audit_dir / "report.md")
        check_report_paths(*targets)
        try:
            write_reports(audit, *targets)
        except (KeyError, TypeError) as err:
            raise AuditError(f"{path}: incomplete or malformed audit ({type(err).__name__}: {err})") from None
        print_summary(audit, output(), str(audit_dir))
        _gate_exit(audit)

    _guarded(body, debug)


@app.command()
def references(
    inputs: Annotated[list[str], typer.Argument(metavar="INPUT...", help="The corpus whose documents are rewritten (files, directories, globs or URLs).", show_default=False)],
    endpoint: Annotated[str, typer.Option(help="An OpenAI-compatible chat endpoint: its base URL (http://host:8000/v1) or its /chat/completions address.", show_default=False)],
    model: Annotated[str, typer.Option(help="The model name the endpoint serves.", show_default=False)],
    out: Annotated[Path, typer.Option(help="The Parquet file to write (must not exist); give it to scan --reference-synthetic.", show_default=False)],
    n: Annotated[int, typer.Option("--n", help="How many documents of the corpus to sample and rewrite.")] = 200,
    api_key_env: Annotated[str | None, typer.Option(help="The environment variable holding the API key (sent as a Bearer token, never printed) [default: no key].")] = None,
    text_column: Annotated[str | None, typer.Option(help="Column holding the text [default: text, else content, else the only string column].")] = None,
    human_before: Annotated[str | None, typer.Option(metavar="DATE", help="Sample only documents dated before DATE; needs --date-column.")] = None,
    date_column: Annotated[str | None, typer.Option(metavar="NAME", help="The column holding each document's date (ISO 8601, or Unix time in seconds or milliseconds).")] = None,
    concurrency: Annotated[int, typer.Option(help="Requests in flight at once.")] = 4,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for one reply.")] = 60.0,
    retries: Annotated[int, typer.Option(help="Retries of a request that got 429, 5xx, a timeout or no connection (exponential back-off).")] = 5,
    seed: Annotated[int, typer.Option(help="Seed of the document sample.")] = 0,
    debug: DebugOption = False,
) -> None:
    """Write in-domain machine-written references: documents of the corpus rewritten by an LLM endpoint.

    Each sampled document is rewritten, continued, polished or imitated (the styles take
    turns). Finished replies are kept as they arrive: run the same command again after a
    failure to ask only for the rest."""
    def body() -> None:
        import os

        from corpus_audit.io.chat_endpoint import ChatEndpoint
        from corpus_audit.pipeline.make_references import ReferenceJob, make_references

        key = None
        if api_key_env is not None:
            key = os.environ.get(api_key_env)
            if not key:
                raise AuditError(f"--api-key-env {api_key_env}: the environment variable {api_key_env} is not set")
        if timeout <= 0 or retries < 0:
            raise AuditError("--timeout must be above 0 and --retries 0 or more")
        job = ReferenceJob(tuple(inputs), out, ChatEndpoint(endpoint, model, key, timeout, retries), n, text_column,
                           human_before, date_column, seed, concurrency)
        console = output(stderr=True)
        summary = make_references(job, lambda line: console.print(line, markup=False, soft_wrap=True))
        console.print(f"{summary['written']:,} references written to {out} ({summary['asked']:,} asked now, "
                      f"{summary['resumed']:,} from an earlier run)", markup=False, soft_wrap=True)

    _guarded(body, debug)


def main() -> None:
    """Console-script entry point: parser errors too end as one line with exit code 2."""
    try:
        code = app(standalone_mode=False, prog_name="corpus-audit")
    except typer.TyperException as err:  # an unknown option, a bad value, a missing argument
        message = err.format_message() if hasattr(err, "format_message") else str(err)
        code = getattr(err, "exit_code", EXIT_USAGE)
        if type(err).__name__ == "NoArgsIsHelpError":  # no arguments at all: the help, as click shows it
            print(message)
            sys.exit(code)
        context = getattr(err, "ctx", None)
        _print_error(f"{message} (see {context.command_path if context else 'corpus-audit'} --help)")
    except typer.Abort:
        code = EXIT_INTERRUPTED
        _print_error("interrupted")
    # The interpreter's last garbage collection walks every object a scan left (0.3-0.8 s).
    # Frozen, they are skipped: objects are still freed as their references go, and what
    # only a cycle holds is freed with the ending process.
    gc.freeze()
    sys.exit(code if isinstance(code, int) else 0)
