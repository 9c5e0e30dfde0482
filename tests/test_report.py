"""Reports and gating: hostile text stays inert, rules parse by grammar, exit codes, re-rendering."""

from __future__ import annotations

import json
import shutil
from html.parser import HTMLParser
from io import StringIO

import pytest
from rich.console import Console

from corpus_audit.errors import AuditError
from corpus_audit.pipeline.assemble import audit_warnings
from corpus_audit.report.gating import GRADES, evaluate, parse_rule
from corpus_audit.report.render import render_html, render_markdown
from corpus_audit.report.summary import print_summary
from tests.conftest import run, write_parquet
from tests.test_cli import cli

HOSTILE = ["<script>alert(1)</script>", "<img src=x onerror=alert(2)>", "</td></tr></table><b>", "{{ 7*7 }} {% raw %}",
           "\x1b[31mred\x1b[0m \x07 \u202eevil\u202c \u200b", "<svg onload=alert(3)>", "javascript:alert(4)"]


class _Elements(HTMLParser):
    """Every element and attribute of a document, as the browser's parser sees them."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attributes += attrs


@pytest.fixture(scope="module")
def hostile_audit(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hostile")
    texts, sites = [], []
    for i, evil in enumerate(HOSTILE):
        body = f"{evil} plain words follow here about the river mill and the old stone bridge in town number {i}"
        texts += [body] * 3  # near-duplicates, so the excerpt of each cluster shows the hostile text
        sites += [evil] * 3
    corpus = write_parquet(tmp / "c.parquet", texts, **{"<b onmouseover=x>site": sites})
    audit = run(tmp, corpus, by="<b onmouseover=x>site", fail_on=("duplicate_fraction>0.5",))
    return tmp / "out", audit


def test_hostile_text_is_inert_in_html(hostile_audit):
    out, audit = hostile_audit
    html = (out / "report.html").read_text(encoding="utf-8")
    parsed = _Elements()
    parsed.feed(html)
    assert "script" not in parsed.tags and "img" not in parsed.tags
    assert parsed.tags.count("table") == html.count("<table>")  # no table opened or closed by the data
    assert not [name for name, _ in parsed.attributes if name.startswith("on")]
    assert not [v for _, v in parsed.attributes if v and "javascript:" in v]
    assert html.count("{{ 7*7 }} {% raw %}") >= 2  # template syntax in data is shown, not run (excerpt and stratum)
    assert "\x1b" not in html and "\u202e" not in html and "\x07" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "Content-Security-Policy" in html and "script-src 'none'" in html and "default-src 'none'" in html
    assert len(audit["strata"]) == len(HOSTILE)


def test_hostile_text_is_harmless_in_the_terminal_and_markdown(hostile_audit):
    out, audit = hostile_audit
    buffer = StringIO()
    print_summary(audit, Console(file=buffer, width=80, force_terminal=False), str(out))
    text = buffer.getvalue()
    assert "\x1b" not in text and "\u202e" not in text and "\x07" not in text
    assert "alert" in text  # shown, as text
    markdown = render_markdown({**audit, "synthetic_fraction": {**audit["synthetic_fraction"],
                                                                "warnings": ["<script>x</script> [link](http://e.vil)"]}})
    assert "<script>" not in markdown and "](http" not in markdown


def test_report_command_reproduces_the_html(hostile_audit, tmp_path):
    out, _ = hostile_audit
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    (copy / "report.html").unlink()
    done = cli("report", str(copy))
    assert done.returncode == 1, done.stderr  # the audit's own rule is broken: report says so again
    assert "rule broken: duplicate_fraction>0.5" in done.stderr
    assert (copy / "report.html").read_bytes() == (out / "report.html").read_bytes()
    assert render_html(json.loads((out / "audit.json").read_text())) == (out / "report.html").read_text(encoding="utf-8")
    missing = cli("report", str(tmp_path / "nowhere"))
    assert missing.returncode == 2 and "no audit.json there" in missing.stderr


def test_report_command_replaces_only_reports_it_wrote_and_never_through_a_link(hostile_audit, tmp_path):
    out, _ = hostile_audit
    notes, memo = tmp_path / "notes.html", tmp_path / "memo.md"
    notes.write_text("<html><title>my notes</title></html>")
    memo.write_text("# my memo\n")
    (tmp_path / "link.md").symlink_to(memo)
    for options, named in ((("--html", str(notes)), "notes.html: exists and is not a report corpus-audit wrote"),
                           (("--markdown", str(tmp_path / "link.md")), "link.md: is a symbolic link"),
                           (("--html", str(out / "audit.json")), "audit.json: exists and is not a report"),
                           (("--html", str(memo), "--markdown", str(memo)), "--html and --markdown both name")):
        done = cli("report", str(out), *options)
        assert done.returncode == 2 and named in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert notes.read_text() == "<html><title>my notes</title></html>" and memo.read_text() == "# my memo\n"
    assert (tmp_path / "link.md").is_symlink()
    own = {"--html": tmp_path / "mine.html", "--markdown": tmp_path / "mine.md"}
    for _ in range(2):  # written new, then replaced: each is a report it wrote
        done = cli("report", str(out), *(str(x) for option, path in own.items() for x in (option, path)))
        assert done.returncode == 1, done.stderr  # the audit's own rule is broken, as above
    assert own["--html"].read_bytes() == (out / "report.html").read_bytes()
    assert own["--markdown"].read_bytes() == (out / "report.md").read_bytes()


@pytest.mark.parametrize(("rule", "value", "broken"), [
    ("synthetic_fraction>0.10", 0.2, True), ("synthetic_fraction > 0.10", 0.1, False), ("ci_high>=0.2", 0.2, True),
    ("ci_low<0.05", 0.05, False), ("ci_low<=0.05", 0.05, True), ("duplicate_fraction==0", 0.0, True),
    ("duplicate_fraction!=0", 0.0, False), ("synthetic_fraction>10%", 0.11, True), ("ci_high>1e-1", 0.09, False)])
def test_numeric_rules(rule, value, broken):
    audit = {"synthetic_fraction": {"estimate": value, "ci_low": value, "ci_high": value},
             "near_duplicates": {"duplicate_fraction": value}}
    assert evaluate([parse_rule(rule)], audit)[0]["broken"] is broken


def test_risk_rules_follow_the_grade_order():
    for i, actual in enumerate(GRADES):
        audit = {"collapse_projection": {"risk": actual}}
        for j, limit in enumerate(GRADES):
            assert parse_rule(f"risk>={limit}").check(audit)[0] is (i >= j)
            assert parse_rule(f"risk<{limit}").check(audit)[0] is (i < j)


@pytest.mark.parametrize(("rule", "message"), [
    ("synthetic_fraction", "expected METRIC OP VALUE"), ("bogus>0.1", "unknown metric 'bogus'"),
    ("risk>=extreme", "compares with a grade"), ("synthetic_fraction>high", "compares with a number"),
    ("__import__('os').system('x')>0", "expected METRIC OP VALUE"), ("synthetic_fraction=>0.1", "expected METRIC OP VALUE")])
def test_invalid_rules_are_refused(rule, message):
    with pytest.raises(AuditError, match=message):
        parse_rule(rule)


def test_a_rule_on_a_metric_the_audit_lacks_is_an_error():
    with pytest.raises(AuditError, match="this audit has no risk"):
        evaluate([parse_rule("risk>=high")], {})


def test_scan_exit_codes(tmp_path):
    path = write_parquet(tmp_path / "a.parquet", [f"words of document {i} in a row" for i in range(30)])
    holds = cli("scan", str(path), "--out", str(tmp_path / "a"), "--fail-on", "duplicate_fraction>0.5")
    assert holds.returncode == 0, holds.stderr
    broken = cli("scan", str(path), "--out", str(tmp_path / "b"), "--fail-on", "synthetic_fraction>=0", "--fail-on", "risk>critical")
    assert broken.returncode == 1 and "rule broken: synthetic_fraction>=0" in broken.stderr
    assert "risk>critical" not in broken.stderr.split("rule broken")[-1]
    invalid = cli("scan", str(path), "--out", str(tmp_path / "c"), "--fail-on", "risk>=extreme")
    assert invalid.returncode == 2 and len(invalid.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "c").exists()  # refused before anything was scanned


def test_every_warning_is_in_audit_json_and_first_in_each_report(tmp_path):
    corpus = tmp_path / "corpus"
    write_parquet(corpus / "a.parquet", ["short one", "x" * 500 + " and more words after the long run"])
    (corpus / "b.parquet").write_bytes(b"not parquet at all")
    audit = run(tmp_path, corpus, on_error="skip", max_doc_chars=100)
    assert audit["warnings"][-2].startswith(f"Source {corpus / 'b.parquet'} was skipped and is not in the audit: ")
    assert audit["warnings"][-1] == ("1 document was longer than 100 characters: the detectors saw only that much of "
                                     "each (--max-doc-chars).")
    assert audit["warnings"][:-2] == audit["synthetic_fraction"]["warnings"]
    html = (tmp_path / "out" / "report.html").read_text()
    box = html.index('<div class="warnings"')
    assert box < html.index("<h2>Synthetic fraction") and html.count("<li>", box, html.index("</div>", box)) == len(audit["warnings"])
    markdown = (tmp_path / "out" / "report.md").read_text()
    assert markdown.index("**Warnings**") < markdown.index("- Documents:")
    strata = {"config": {"by": "domain"}, "input": {"skipped_sources": [], "skipped_documents": 0, "truncated_documents": 0,
                                                   "scanned": 2, "empty_documents": 0},
              "strata": [{"value": "a", "warnings": ["wide"]}, {"value": "b", "warnings": []}]}
    assert audit_warnings(strata) == ["1 of 2 values of --by domain carry a warning of their own (listed with each value "
                                      "in strata): their intervals are wider or less certain."]


def test_piped_output_is_one_line_per_message_with_percentages_and_strata_warnings(tmp_path):
    texts = [f"record {i}: " + " ".join(f"token{(i * k) % 97}" for k in range(40)) for i in range(150)]
    path = write_parquet(tmp_path / "a.parquet", texts, site=["north" if i % 3 else "south" for i in range(150)])
    done = cli("scan", str(path), "--out", str(tmp_path / "out"), "--by", "site", "--fail-on", "synthetic_fraction>0.5")
    audit = json.loads((tmp_path / "out" / "audit.json").read_text())
    assert audit["synthetic_fraction"]["state"] == "shifted" and done.returncode == 1
    lines = done.stdout.splitlines()
    shifted = [line for line in lines if "SHIFTED" in line]
    assert len(shifted) == 1 and shifted[0].rstrip().endswith("Give in-domain references to narrow it.")  # not wrapped
    assert any(line.startswith("corpus-audit 0.") and line.endswith("in 1 shard (0.0 MB)") for line in lines)
    rows = {line.split()[0]: line for line in lines if line.lstrip().startswith(("north", "south"))}
    assert set(rows) == {"north", "south"} and all("Calibration shifted" in line for line in rows.values())
    broken = done.stderr.strip().splitlines()
    value = audit["gate"][0]["value"]
    assert len(broken) == 1 and broken[0].startswith(f"corpus-audit: rule broken: synthetic_fraction>0.5 (value {value:.1%}; ")
    markdown = (tmp_path / "out" / "report.md").read_text()
    assert "| site | documents | estimate | 95% interval | warnings |" in markdown
    assert f"| north | {sum(1 for i in range(150) if i % 3):,} |" in markdown
    html = (tmp_path / "out" / "report.html").read_text()
    assert "in 1 shard (" in html and '<th class="text">warnings</th>' in html and f"<td>{value:.1%}</td>" in html
