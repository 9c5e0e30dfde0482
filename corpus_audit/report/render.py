"""The HTML and Markdown reports, rendered from `audit.json` alone (so `report` can redo them).

HTML: one self-contained file. Jinja2 autoescapes every value; the only markup inserted
as-is is the charts' SVG, which `corpus_audit.report.charts` draws from numbers with generated
labels. A Content-Security-Policy forbids scripts and every remote load. Markdown: a
compact summary for a pull-request comment and a dataset-card "Composition" section;
text from the corpus is escaped there too.
"""

from __future__ import annotations

import importlib
import math
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

from corpus_audit.collapse.projection import RISK_TEXT
from corpus_audit.errors import AuditError
from corpus_audit.io import atomic
from corpus_audit.report.summary import (
    gate_value,
    ids_in_words,
    lose_in_words,
    plural,
    printable,
    state_in_words,
    stratum_warnings,
)


def _inert(value: Any) -> str:
    """Corpus text for a report: non-printable characters become U+FFFD (escaping for HTML
    or Markdown comes after)."""
    return printable(str(value), "\ufffd")


def _pct(value: Any) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{100 * float(value):.1f}%"


def _thousands(value: Any) -> str:
    return "-" if value is None else f"{float(value):,.0f}"


def _num(value: Any) -> str:
    return "-" if value is None else f"{float(value):.4g}"


def _environment() -> Environment:
    env = Environment(loader=PackageLoader("corpus_audit.report", "templates"), autoescape=True, undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True)
    env.filters.update(pct=_pct, thousands=_thousands, num=_num, printable=_inert)
    env.filters["format_as"] = lambda value, name: env.filters[name](value)
    env.globals.update(plural=plural, gate_value=gate_value, stratum_warnings=stratum_warnings, lose=lose_in_words,
                       ids_in_words=ids_in_words)
    return env


def _charts(audit: dict[str, Any]) -> dict[str, str]:
    """Every chart the audit has data for, each wrapped as `<figure class="chart" data-chart=NAME>`."""
    from corpus_audit.report import (
        charts,  # matplotlib: loaded when a report is drawn, not at start
    )

    out: dict[str, str] = {}
    if (audit.get("length") or {}).get("word_count", {}).get("count"):
        out["length"] = charts.lengths(audit["length"])
    sf = audit.get("synthetic_fraction")
    if sf:
        if "score_histograms" in sf:
            out["scores"] = charts.score_distributions(sf["score_histograms"])
        names = list(sf["methods"])
        out["methods"] = charts.intervals(names, [(m["estimate"], m["ci_low"], m["ci_high"]) for m in sf["methods"].values()],
                                          "synthetic fraction by method (95% interval)")
    if audit.get("strata"):
        rows = audit["strata"][:30]
        labels = [_inert(r["value"])[:30] + ("..." if len(str(r["value"])) > 30 else "") for r in rows]
        out["strata"] = charts.intervals(labels, [(r["estimate"], r["ci_low"], r["ci_high"]) for r in rows],
                                         f"synthetic fraction by {audit['config']['by']} (95% interval)")
    nd = audit.get("near_duplicates")
    if nd and nd.get("largest"):
        out["clusters"] = charts.bars([f"#{i + 1}" for i in range(len(nd["largest"]))], [c["size"] for c in nd["largest"]],
                                      "documents in the largest near-duplicate clusters (row numbers of the table)")
    rep = audit.get("repetition")
    if rep and rep.get("share_over_threshold"):
        names = list(rep["share_over_threshold"])
        out["repetition"] = charts.bars(names, [rep["share_over_threshold"][n] for n in names],
                                        "share of documents over each Gopher threshold", fmt="{:.1%}")
    if audit.get("collapse_projection"):
        projection = audit["collapse_projection"]
        out["projection"] = charts.projection_curves(projection["generations"], projection.get("fresh_data"))
    return {name: f'<figure class="chart" data-chart="{name}">{svg}</figure>' for name, svg in out.items()}


def render_html(audit: dict[str, Any]) -> str:
    context = {key: audit.get(key) for key in ("tool", "input", "config", "strata", "model", "gate", "length")}
    context["warnings"] = audit.get("warnings") or []  # absent from audits made before it was added
    context.update(state=state_in_words(audit["synthetic_fraction"]) if audit.get("synthetic_fraction") else None,
                   sf=audit.get("synthetic_fraction"), nd=audit.get("near_duplicates"), rep=audit.get("repetition"),
                   cp=audit.get("collapse_projection"), charts=_charts(audit), risk_rule=RISK_TEXT)
    return _environment().get_template("report.html.j2").render(**context)


def _md(value: Any) -> str:
    """Text safe in Markdown: no HTML, no links, no emphasis, no table breaks, one line."""
    text = _inert(" ".join(str(value).split()))
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return re.sub(r"([\\`*_{}\[\]()#+\-.!|~])", r"\\\1", text)


def render_markdown(audit: dict[str, Any]) -> str:
    """A pull-request summary, then a dataset-card Composition section."""
    sf, nd, cp, inp = audit.get("synthetic_fraction"), audit.get("near_duplicates"), audit.get("collapse_projection"), audit["input"]
    lines = ["## corpus-audit summary", ""]
    if audit.get("warnings"):
        lines += ["**Warnings**", "", *(f"- {_md(w)}" for w in audit["warnings"]), ""]
    lines.append(f"- Documents: {inp['scanned']:,} scanned of {inp['documents']:,} ({inp['skipped_documents']:,} skipped)")
    if sf:
        lines.append(f"- **Synthetic fraction: {_pct(sf['estimate'])}** (95% interval {_pct(sf['ci_low'])} to "
                     f"{_pct(sf['ci_high'])}, method `{sf['method']}`, calibration AUROC {sf['calibration']['auroc']:.3f})")
        lines.append(f"  - state: {_md(state_in_words(sf))}")
        lines += [f"  - warning: {_md(w)}" for w in sf["warnings"]]
    if nd:
        lines.append(f"- Near-duplicates: {nd['duplicate_documents']:,} duplicate documents ({_pct(nd['duplicate_fraction'])}) "
                     f"in {nd['clusters']:,} clusters")
    if audit.get("repetition"):
        lines.append(f"- Repetition: {_pct(audit['repetition']['flagged_share'])} of documents over a Gopher threshold")
    if cp:
        lines.append(f"- Collapse risk: **{cp['risk']}** ({cp['inputs']['regime']}, {cp['inputs']['generations']} generations; "
                     f"excess rare-word loss {_pct(cp['risk_inputs']['excess_rare_decile_loss'])})")
    for g in audit.get("gate") or []:
        judged = f"; judged on {g['judged_on']}" if g.get("judged_on") else ""
        lines.append(f"- Rule {_md(g['rule'])}: {'**broken**' if g['broken'] else 'holds'} (value {_md(gate_value(g))}{_md(judged)})")
    if sf:
        lines += ["", "| method | estimate | 95% interval |", "|---|---|---|"]
        lines += [f"| {name} | {_pct(m['estimate'])} | {_pct(m['ci_low'])} to {_pct(m['ci_high'])} |" for name, m in sf["methods"].items()]
    if audit.get("strata"):
        lines += ["", f"| {_md(audit['config']['by'])} | documents | estimate | 95% interval | warnings |", "|---|---|---|---|---|"]
        lines += [f"| {_md(r['value'])} | {r['documents']:,} | {_pct(r['estimate'])} | {_pct(r['ci_low'])} to {_pct(r['ci_high'])} "
                  f"| {_md(stratum_warnings(r))} |" for r in audit["strata"]]
    lines += ["", "## Composition", ""]
    if sf:
        lines.append(f"An estimated {_pct(sf['estimate'])} of the documents (95% interval {_pct(sf['ci_low'])} to "
                     f"{_pct(sf['ci_high'])}) are machine-generated, estimated with {sf['method']} quantification over a "
                     f"classifier's scores, calibrated on {_md(sf['calibration']['source'])}.")
    if nd:
        lines.append(f"{_pct(nd['duplicate_fraction'])} of the documents are near-duplicates (MinHash, Jaccard >= "
                     f"{nd['threshold']}) of another document.")
    lines.append(f"Measured with corpus-audit {audit['tool']['version']}.")
    return "\n".join(lines) + "\n"


def load_chart_library() -> None:
    """Import matplotlib (about 0.4 s) ahead of `write_reports`: a scan calls this while it
    waits for its workers, so the import is off its critical path."""
    importlib.import_module("corpus_audit.report.charts")


# How the first 2 KB of each report read: a file that does not read so was not written by this tool,
# and is never replaced.
_SIGNATURES: dict[str, Callable[[str], bool]] = {
    "html": lambda head: "<title>corpus-audit report</title>" in head,
    "markdown": lambda head: head.startswith("## corpus-audit summary"),
}


def check_report_paths(html: Path, markdown: Path) -> None:
    """Refuse report paths that name the same file, a link, or a file that is not a report this
    tool wrote (the `report` command's --html and --markdown may point anywhere): before a byte
    is written, so a refusal changes nothing."""
    if Path(os.path.abspath(html)) == Path(os.path.abspath(markdown)):
        raise AuditError(f"--html and --markdown both name {html}; give each report its own path")
    for kind, path in (("html", html), ("markdown", markdown)):
        if path.is_symlink():
            raise AuditError(f"{path}: is a symbolic link; give the report a path of its own (the tool writes "
                             "through no link; nothing was written)")
        if path.exists() and not _holds_report(path, _SIGNATURES[kind]):
            raise AuditError(f"{path}: exists and is not a report corpus-audit wrote; give --{kind} a new path or "
                             "move that file (nothing was written)")


def _holds_report(path: Path, signature: Callable[[str], bool]) -> bool:
    try:
        with path.open("rb") as handle:
            head = handle.read(2048).decode("utf-8", "replace")
    except OSError:  # a directory, or unreadable: not ours to replace
        return False
    return signature(head)


def write_reports(audit: dict[str, Any], html: Path, markdown: Path) -> None:
    atomic.write_bytes(html, render_html(audit).encode("utf-8", "replace"))
    atomic.write_bytes(markdown, render_markdown(audit).encode("utf-8", "replace"))
