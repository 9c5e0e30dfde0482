"""The terminal summary of an audit (plain text when not on a terminal).

Off a terminal (a CI log, a pipe) nothing is wrapped: each message is one line, so
`grep` and log viewers see it whole.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table


def output(stderr: bool = False) -> Console:
    """The console every command prints to: styled on a terminal, one unwrapped line per message off it."""
    console = Console(stderr=stderr, highlight=False)
    if not console.is_terminal:
        console = Console(stderr=stderr, highlight=False, soft_wrap=True, width=100_000)
    return console


def plural(count: int, noun: str) -> str:
    """`1 shard`, `4 shards`: the count with thousands separators and its noun."""
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def no_text(inp: dict[str, Any]) -> str | None:
    """The warning of an audit none of whose documents holds text (all empty, or none at all)."""
    if inp["scanned"] != inp["empty_documents"]:
        return None
    if not inp["scanned"]:
        return "No document was scanned: there is nothing to estimate or project."
    return f"No document holds any text (all {inp['scanned']:,} are empty or whitespace): there is nothing to estimate or project."


def _fmt(value: float | int | None) -> str:
    if value is None:
        return "-"
    if isinstance(value, int) or abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def printable(text: str, replacement: str = " ") -> str:
    """Text from the corpus made inert for display: every character Python does not call
    printable (controls, bidi overrides, zero-width marks, lone surrogates) is replaced."""
    return "".join(c if c.isprintable() else replacement for c in text)


def state_in_words(section: dict[str, Any]) -> str:
    """One sentence for the top of every report: may the estimate be trusted, and why."""
    shift = section["calibration"].get("shift") or {}
    if shift.get("statistic") is None:
        test = f"shift test not run ({shift.get('reason', 'no features')})"
    else:
        test = (f"shift test against {shift['against']}: statistic {shift['statistic']:.3f}, threshold "
                f"{shift['threshold']:.3f}, {shift['verdict']}")
    if section.get("state") == "shifted":
        return (f"SHIFTED: the corpus is unlike the data the estimate was calibrated on, so the interval spans what "
                f"no calibration can rule out ({test}). Give in-domain references to narrow it.")
    if section.get("bank"):
        return (f"calibrated ({test}); the interval also spans the other training domains' machine-written scores, "
                "since the test cannot tell which generators wrote the corpus. Give in-domain references to narrow it.")
    return f"calibrated ({test})."


def repeated_ids(ids: dict[str, Any]) -> str | None:
    """The head of the warning when the id column repeats ids (`input.ids`), else None."""
    count = ids.get("duplicate_documents")
    if not count:
        return None
    first = ", ".join(repr(x) for x in ids["duplicate_examples"])
    return (f"Column {ids['column']!r} is not a unique id: {count:,} document{'s carry an id' if count > 1 else ' carries an id'} "
            f"an earlier document already has (first: {first})")


def ids_in_words(ids: dict[str, Any]) -> str:
    """Where the documents' ids came from, as the audit's `input.ids` records it."""
    if not ids.get("column"):
        return "source and row number (SOURCE:ROW): no id column given or found"
    how = "given by --id-column" if ids["chosen_by"] == "--id-column" else "found automatically; --id-column picks another"
    return f"column {ids['column']!r} ({how})"


def stratum_warnings(row: dict[str, Any]) -> str:
    """A stratum's warnings in a table cell: the head of each (audit.json `strata` has them whole)."""
    return "; ".join(w.split(": ")[0].split(". ")[0] for w in row.get("warnings") or [])


def gate_value(result: dict[str, Any]) -> str:
    """A --fail-on rule's value as people read it: a percentage, or the risk grade."""
    value = result["value"]
    return f"{value:.1%}" if isinstance(value, (int, float)) and not isinstance(value, bool) else str(value)


def _estimate(section: dict[str, Any], console: Console) -> None:
    console.print(f"[bold]synthetic fraction: {section['estimate']:.1%}[/bold] "
                  f"({section['confidence']:.0%} interval {section['ci_low']:.1%} to {section['ci_high']:.1%}, "
                  f"method {section['method']})")
    calibration = section["calibration"]
    colour = "red" if section.get("state") == "shifted" else "green"
    console.print(f"  [{colour}]{escape(state_in_words(section))}[/{colour}]")
    console.print(f"  calibrated on {escape(calibration['source'])}; calibration AUROC {calibration['auroc']:.3f}")
    console.print("  by method: " + ", ".join(f"{name} {m['estimate']:.1%}" for name, m in section["methods"].items()))
    for warning in section["warnings"]:
        console.print(f"  [yellow]warning:[/yellow] {escape(warning)}")


def _repetition(section: dict[str, Any], console: Console) -> None:
    table = Table(title=f"repetition: {section['flagged_documents']:,} documents ({section['flagged_share']:.1%}) "
                        "break a Gopher threshold", title_justify="left", box=None)
    for header in ("measure", "mean", "median", "p95", "over threshold"):
        table.add_column(header, justify="left" if header == "measure" else "right")
    for name, stats in section["measures"].items():
        if not stats.get("count"):
            continue
        over = section["share_over_threshold"].get(name)
        table.add_row(name, _fmt(stats["mean"]), _fmt(stats["quantiles"]["0.5"]), _fmt(stats["quantiles"]["0.95"]),
                      "" if over is None else f"{over:.1%} > {section['thresholds'][name]:g}")
    console.print(table)


def _band(cell: dict[str, Any], percent: bool = False) -> str:
    if cell["mean"] is None:
        return "-"
    return f"{cell['mean']:.1%}" if percent else _fmt(cell["mean"])


PROJECTED = (("types_alive", "types alive", False), ("hapax_survival", "hapaxes", True),
             ("rare_decile_survival", "rare decile", True), ("coverage", "coverage", True),
             ("entropy", "entropy", False), ("chi2", "chi2", False))


def lose_in_words(lose: dict[str, int | None]) -> str:
    """`generations_to_lose` as `3 / never`: the generations until 10% and 50% of word types are lost."""
    return " / ".join("never" if lose[k] is None else str(lose[k]) for k in ("10%", "50%"))


def print_projection(section: dict[str, Any], console: Console) -> None:
    """The collapse projection: risk grade and why, then the key figures per generation."""
    inputs, why = section["inputs"], section["risk_inputs"]
    low, high = inputs["alpha_interval"]
    console.print(f"[bold]collapse risk: {section['risk']}[/bold] ({inputs['regime']}, {inputs['generations']} generations, "
                  f"alpha {inputs['alpha']:.1%} [{low:.1%}, {high:.1%}], {inputs['tokens_per_generation']:,.0f} tokens per generation, "
                  f"{inputs['runs']} runs)")
    console.print(f"  rarest decile of word types surviving: {why['rare_decile_survival_projected']:.1%} projected vs "
                  f"{why['rare_decile_survival_fresh_data']:.1%} on fresh real data; excess loss "
                  f"{why['excess_rare_decile_loss']:.1%}; stability margin {why['stability_margin']:.2f}")
    console.print(f"  rule: {section['risk_rule']}")
    fresh = section.get("fresh_data")  # absent from audits made before it was added
    table = Table(box=None, caption="each generation, then in brackets the same figure after a generation of fresh "
                                    "human text of the same size" if fresh else None, caption_justify="left")
    table.add_column("gen", justify="right")
    for _, header, _ in PROJECTED:
        table.add_column(header, justify="right")
    for row in section["generations"]:
        cells = [_band(row[key], percent) + (f" ({_band(fresh[key], percent)})" if fresh and row["generation"] else "")
                 for key, _, percent in PROJECTED]
        table.add_row(str(row["generation"]), *cells)
    console.print(table)
    versus = f" (fresh human text of the same size: {lose_in_words(fresh['generations_to_lose'])})" if fresh else ""
    console.print(f"  generations until 10% / 50% of types are lost: {lose_in_words(section['generations_to_lose'])}{versus}")


def print_summary(audit: dict[str, Any], console: Console, out_dir: str) -> None:
    """A short, readable account of the audit at 80 columns."""
    inp = audit["input"]
    console.print(f"[bold]corpus-audit {audit['tool']['version']}[/bold]: {plural(inp['scanned'], 'document')} scanned "
                  f"of {inp['documents']:,} in {plural(inp['shards'], 'shard')} ({inp['bytes'] / 1e6:,.1f} MB)")
    sampling = inp["sampling"]
    if sampling["mode"] != "all":
        console.print(f"  sample: {sampling['mode']} {sampling['requested']} (seed {sampling['seed']}), "
                      f"{sampling['sampled']:,} of {sampling['population']:,} documents")
    notes = [(inp["skipped_documents"], "documents skipped (" + ", ".join(f"{k}: {v:,}" for k, v in inp["skipped_reasons"].items()) + ")"),
             (inp["truncated_documents"], f"documents truncated to {inp['max_doc_chars']:,} characters for scoring"),
             (inp["empty_documents"], "empty documents"),
             (inp["invalid_utf8_documents"], "documents with invalid UTF-8 (repaired with U+FFFD)")]
    for count, text in notes:
        if count:
            console.print(f"  [yellow]{count:,}[/yellow] {escape(text)}")
    if warning := no_text(inp):
        console.print(f"  [yellow]{escape(warning)}[/yellow]")
    if (inp.get("ids") or {}).get("chosen_by") == "found":
        console.print(f"  document ids: {escape(ids_in_words(inp['ids']))}")
    if warning := repeated_ids(inp.get("ids") or {}):
        console.print(f"  [yellow]{escape(warning)}[/yellow] (--id-column picks another)")
    for skipped in inp["skipped_sources"]:
        console.print(f"  [red]skipped source[/red] {escape(skipped['source'])}: {escape(skipped['error'])}")
    if "length" in audit:
        table = Table(title="document length", title_justify="left", box=None)
        for header in ("", "mean", "median", "p95", "max", "total"):
            table.add_column(header, justify="right")
        for name in ("word_count", "char_count"):
            s = audit["length"].get(name, {})
            if s.get("count"):
                table.add_row(name.replace("_count", "s"), _fmt(s["mean"]), _fmt(s["quantiles"]["0.5"]),
                              _fmt(s["quantiles"]["0.95"]), _fmt(s["max"]), _fmt(s["total"]))
        console.print(table)
    if "synthetic_fraction" in audit:
        _estimate(audit["synthetic_fraction"], console)
    if audit.get("strata"):
        table = Table(title=f"by {escape(str(audit['config']['by']))}", title_justify="left", box=None)
        for header in ("value", "documents", "estimate", "95% interval", "warnings"):
            table.add_column(header, justify="right" if header in ("documents", "estimate", "95% interval") else "left")
        for row in audit["strata"][:15]:
            table.add_row(escape(printable(str(row["value"])[:40])), f"{row['documents']:,}", f"{row['estimate']:.1%}",
                          f"{row['ci_low']:.1%} to {row['ci_high']:.1%}", escape(stratum_warnings(row)))
        console.print(table)
        if len(audit["strata"]) > 15:
            console.print(f"  ... {len(audit['strata']) - 15:,} more values in audit.json")
    if "repetition" in audit:
        _repetition(audit["repetition"], console)
    if "near_duplicates" in audit:
        nd = audit["near_duplicates"]
        console.print(f"near-duplicates (Jaccard >= {nd['threshold']:g}): {nd['clusters']:,} clusters, "
                      f"{nd['duplicate_documents']:,} duplicate documents ({nd['duplicate_fraction']:.1%})")
        for cluster in nd["largest"][:3]:
            console.print(f"  {cluster['size']:,} x {escape(printable(cluster['excerpt'][:60]))}...", soft_wrap=False)
        if "against" in nd:
            console.print(f"  {nd['against']['matched_documents']:,} documents near-duplicate the --against set")
    if audit.get("model") and "classifier" in audit:
        model, clf = audit["model"], audit["classifier"]
        metrics = model.get("metrics") or {}
        cv, unseen = metrics.get("grouped_cv", {}), metrics.get("out_of_domain")
        held_out = f", {unseen['auroc']:.3f} on domains held out of its training" if unseen else ""
        console.print(f"classifier {escape(str(model['name']))} (AUROC {cv.get('auroc', float('nan')):.3f} on its "
                      f"training data by grouped CV{held_out}): median p_synthetic "
                      f"{_fmt(clf['p_synthetic'].get('quantiles', {}).get('0.5'))}, "
                      f"{clf['share_above_0.5']:.1%} above 0.5 (classify-and-count, not an estimate)")
    if "collapse_projection" in audit:
        print_projection(audit["collapse_projection"], console)
    for g in audit.get("gate") or []:
        state = "[red]broken[/red]" if g["broken"] else "holds"
        judged = f"; judged on {g['judged_on']}" if g.get("judged_on") else ""
        console.print(f"  rule {escape(printable(g['rule']))}: {state} (value {gate_value(g)}{escape(judged)})")
    timing = audit.get("timing", {})
    if timing.get("documents_per_second"):
        console.print(f"  {timing['seconds']:.1f} s, {timing['documents_per_second']:,.0f} docs/s")
    console.print(f"  written to {escape(out_dir)}/ (audit.json, report.html, report.md, documents/)")
