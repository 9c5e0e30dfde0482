"""The report's charts as inline SVG made with matplotlib: no JavaScript, no network.

Text is drawn as paths (`svg.fonttype = path`) with mathtext off, so a string from the
corpus (a `--by` value) ends up as glyph outlines, never as SVG text or markup; ids are
salted and the date left out, so the same audit gives byte-identical charts.
"""

from __future__ import annotations

import io
import re
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

_STYLE = {"svg.fonttype": "path", "svg.hashsalt": "corpus-audit", "font.size": 9, "figure.dpi": 72,
          "text.parse_math": False}


def _svg(figure: Any) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None, "Creator": None})
    plt.close(figure)
    text = buffer.getvalue()
    text = re.sub(r"<!--.*?-->", "", text[text.index("<svg"):], flags=re.S)  # inlined: no prolog, no comments
    return text


def score_distributions(histograms: dict[str, Any]) -> str:
    """p_synthetic of the corpus beside the two calibration sets' (each as a density)."""
    with plt.rc_context(_STYLE):
        figure, axes = plt.subplots(figsize=(6.5, 2.6))
        bins = histograms["bins"]
        edges = [i / bins for i in range(bins + 1)]
        for name, color in (("human", "#2b7bba"), ("synthetic", "#d1495b"), ("corpus", "#333333")):
            counts = histograms[name]
            total = sum(counts) or 1
            axes.stairs([c / total * bins for c in counts], edges, label=f"{name}", color=color,
                        linewidth=2 if name == "corpus" else 1.2, fill=False)
        axes.set_xlabel("p_synthetic")
        axes.set_ylabel("density")
        axes.legend(frameon=False)
        return _svg(figure)


def intervals(labels: list[str], rows: list[tuple[float, float, float]], title: str) -> str:
    """Point estimates with their intervals, one row each."""
    with plt.rc_context(_STYLE):
        figure, axes = plt.subplots(figsize=(6.5, 0.35 * len(rows) + 0.9))
        for i, (estimate, low, high) in enumerate(rows):
            axes.plot([low, high], [i, i], color="#555555", linewidth=2)
            axes.plot([estimate], [i], "o", color="#d1495b")
        axes.set_yticks(range(len(rows)), labels)
        axes.invert_yaxis()
        axes.set_xlim(-0.02, 1.02)  # a dot at 0% or 100% stays whole
        axes.set_xlabel(title)
        return _svg(figure)


def projection_curves(generations: list[dict[str, Any]], fresh: dict[str, Any] | None) -> str:
    """Types alive, rare-decile survival and coverage per generation, with their 95% bands, beside
    fresh human text of the same size (dashed). Axes start at zero: a 0.06% change looks like one."""
    with plt.rc_context(_STYLE):
        figure, panels = plt.subplots(1, 3, figsize=(9, 2.6))
        g = [row["generation"] for row in generations]
        for axes, metric in zip(panels, ("types_alive", "rare_decile_survival", "coverage")):
            cells = [row[metric] for row in generations]
            if any(c["mean"] is None for c in cells):
                continue
            axes.fill_between(g, [c["low"] for c in cells], [c["high"] for c in cells], color="#d1495b", alpha=0.25)
            axes.plot(g, [c["mean"] for c in cells], color="#d1495b", label="projected")
            if fresh and fresh[metric]["mean"] is not None:
                axes.plot(g, [cells[0]["mean"]] + [fresh[metric]["mean"]] * (len(g) - 1), color="#2b7bba",
                          linestyle="--", label="fresh human text")
            axes.set_ylim(0, 1.05 * max(c["high"] for c in cells) if metric == "types_alive" else 1.05)
            axes.set_title(metric.replace("_", " "))
            axes.set_xlabel("generation")
        panels[0].legend(frameon=False, loc="lower left")
        figure.tight_layout()
        return _svg(figure)


def lengths(length: dict[str, Any]) -> str:
    """Words and characters per document as box plots drawn from the audit's quantiles
    (box: 25th to 75th percentile, whiskers: 5th to 95th, dots: shortest and longest)."""
    with plt.rc_context(_STYLE):
        figure, panels = plt.subplots(1, 2, figsize=(9, 1.5))
        for axes, name in zip(panels, ("word_count", "char_count")):
            s = length[name]
            q = s["quantiles"]
            axes.bxp([{"whislo": q["0.05"], "q1": q["0.25"], "med": q["0.5"], "q3": q["0.75"], "whishi": q["0.95"],
                       "fliers": [s["min"], s["max"]]}], orientation="horizontal", widths=0.6)
            axes.set_yticks([])
            axes.set_xlabel(name.replace("_count", "s") + " per document")
        figure.tight_layout()
        return _svg(figure)


def bars(labels: list[str], values: list[float], title: str, fmt: str = "{:,.0f}") -> str:
    """Horizontal bars on a linear axis, each labelled with its value (cluster sizes, shares over
    repetition thresholds): a cluster of 2 beside one of 100 stays visible and readable."""
    with plt.rc_context(_STYLE):
        figure, axes = plt.subplots(figsize=(6.5, 0.28 * len(values) + 0.9))
        axes.bar_label(axes.barh(range(len(values)), values, color="#2b7bba"), fmt=fmt.format, padding=2)
        axes.margins(x=0.12)
        axes.set_yticks(range(len(values)), labels)
        axes.invert_yaxis()
        axes.set_xlabel(title)
        return _svg(figure)
