"""`--fail-on` rules: `METRIC OP VALUE`, parsed by a small grammar, never evaluated as code.

METRIC is one of `METRICS`; OP is one of >, >=, <, <=, ==, !=; VALUE is a number from 0
to 1 (every metric but `risk` is a fraction; a trailing % divides by 100) or, for `risk`,
a grade, compared in the order low < moderate < high < critical.

A rule on the synthetic fraction of a *shifted* audit (the corpus is unlike the data the
estimate was calibrated on), over all documents or over unique ones, is judged on that
estimate's whole interval: it breaks when any value in the interval would break it, so an
estimate that cannot be trusted fails closed.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from corpus_audit.errors import AuditError

GRADES = ("low", "moderate", "high", "critical")
_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge, "<=": operator.le, "==": operator.eq, "!=": operator.ne, ">": operator.gt, "<": operator.lt}
MAX_RULE_CHARS = 200
_METRIC = re.compile(r"[a-z_]+")
_NUMBER = re.compile(r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?%?")  # one way to match: linear time


def _path(*keys: str) -> Callable[[dict[str, Any]], Any]:
    def read(audit: dict[str, Any]) -> Any:
        value: Any = audit
        for key in keys:
            value = value.get(key) if isinstance(value, dict) else None
        return value
    return read


METRICS: dict[str, tuple[Callable[[dict[str, Any]], Any], str]] = {
    "synthetic_fraction": (_path("synthetic_fraction", "estimate"), "the estimated synthetic fraction"),
    "ci_low": (_path("synthetic_fraction", "ci_low"), "the low end of its 95% interval"),
    "ci_high": (_path("synthetic_fraction", "ci_high"), "the high end of its 95% interval"),
    "unique_synthetic_fraction": (_path("synthetic_fraction", "unique_documents", "estimate"),
                                  "the estimate over one document per near-duplicate cluster"),
    "duplicate_fraction": (_path("near_duplicates", "duplicate_fraction"), "near-duplicate documents beyond the first of each cluster"),
    "repetition_flagged_share": (_path("repetition", "flagged_share"), "documents over a Gopher repetition threshold"),
    "risk": (_path("collapse_projection", "risk"), "the collapse-risk grade"),
}


@dataclass(frozen=True)
class Rule:
    text: str
    metric: str
    op: str
    value: float | str

    def check(self, audit: dict[str, Any]) -> tuple[bool, Any]:
        """(broken, the audit's value). An audit without the metric is an error, not a pass."""
        actual = METRICS[self.metric][0](audit)
        if actual is None:
            raise AuditError(f"--fail-on {self.text!r}: this audit has no {self.metric} "
                             f"({METRICS[self.metric][1]} was not computed)")
        if self.metric == "risk":
            return _OPS[self.op](GRADES.index(actual), GRADES.index(str(self.value))), actual
        return _OPS[self.op](float(actual), float(self.value)), actual

    def could_break(self, low: float, high: float) -> bool:
        """Whether some value in [low, high] breaks the rule."""
        value = float(self.value)
        return {">": high > value, ">=": high >= value, "<": low < value, "<=": low <= value,
                "==": low <= value <= high, "!=": not low == high == value}[self.op]


def _shifted_interval(rule: Rule, audit: dict[str, Any]) -> tuple[float, float] | None:
    """The interval a rule on the estimate is judged on, when the audit's calibration is shifted."""
    fraction = audit.get("synthetic_fraction") or {}
    judged = {"synthetic_fraction": fraction, "unique_synthetic_fraction": fraction.get("unique_documents")}.get(rule.metric)
    if judged and fraction.get("state") == "shifted":
        return float(judged["ci_low"]), float(judged["ci_high"])
    return None


def parse_rule(text: str) -> Rule:
    """`METRIC OP VALUE`, read left to right in one pass (no backtracking), at most MAX_RULE_CHARS long."""
    example = "expected METRIC OP VALUE, e.g. 'synthetic_fraction>0.10' or 'risk>=high'"
    if len(text) > MAX_RULE_CHARS:
        raise AuditError(f"--fail-on rule of {len(text):,} characters: at most {MAX_RULE_CHARS}; {example}")
    rule = text.strip()
    metric_match = _METRIC.match(rule)
    metric = metric_match.group() if metric_match else ""
    rest = rule[len(metric):].lstrip()
    op = next((o for o in _OPS if rest.startswith(o)), None)  # two-character operators come first in _OPS
    raw = rest[len(op):].strip() if op else ""
    if not metric or op is None or not (raw.isalpha() or _NUMBER.fullmatch(raw)):
        raise AuditError(f"--fail-on {text!r}: {example}")
    if metric not in METRICS:
        raise AuditError(f"--fail-on {text!r}: unknown metric {metric!r}; expected one of {', '.join(METRICS)}")
    if metric == "risk":
        if raw not in GRADES:
            raise AuditError(f"--fail-on {text!r}: risk compares with a grade: {', '.join(GRADES)}")
        return Rule(text, metric, op, raw)
    if raw.isalpha():
        raise AuditError(f"--fail-on {text!r}: {metric} compares with a number")
    value = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    if not 0 <= value <= 1:
        meant = "it is outside 0% to 100%" if raw.endswith("%") else f"write {raw}% or {value / 100:g} for a percentage"
        raise AuditError(f"--fail-on {text!r}: {metric} is a fraction from 0 to 1; {meant}")
    return Rule(text, metric, op, value)


def evaluate(rules: list[Rule], audit: dict[str, Any]) -> list[dict[str, Any]]:
    """Each rule with the audit's value and whether it broke (recorded in audit.json `gate`)."""
    results = []
    for rule in rules:
        broken, actual = rule.check(audit)
        result = {"rule": rule.text, "metric": rule.metric, "value": actual, "broken": broken}
        interval = _shifted_interval(rule, audit)
        if interval is not None:
            result["broken"] = rule.could_break(*interval)
            result["judged_on"] = (f"its whole 95% interval [{interval[0]:.1%}, {interval[1]:.1%}]: the corpus is unlike "
                                   "the data the estimate was calibrated on, so the rule fails if it could be broken")
        results.append(result)
    return results
