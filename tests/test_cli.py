"""The command line: exit codes, one-line errors without traceback, --json, the demo corpus."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import write_parquet

ROOT = Path(__file__).resolve().parent.parent


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "corpus_audit", *args], capture_output=True, text=True,
                          cwd=cwd, env={"PATH": "/usr/bin:/bin", "CI": "true"})


def test_demo_corpus_scan_writes_the_audit_and_finds_what_sample_data_readme_says(tmp_path):
    # sample_data/README.md: all 52 `degenerate` documents and no other are over a Gopher
    # threshold; the 113 `templated` listings are one near-duplicate cluster; the shifted
    # interval covers the true 165 / 360.
    import pandas as pd

    result = cli("scan", str(ROOT / "sample_data"), "--out", str(tmp_path / "demo"), "--workers", "2")
    assert result.returncode == 0, result.stderr
    assert "360 documents scanned of 360 in 4 shards" in result.stdout
    audit = json.loads((tmp_path / "demo" / "audit.json").read_text())
    assert audit["schema_version"] == 1 and audit["tool"]["name"] == "corpus-audit"
    assert len(list((tmp_path / "demo" / "documents").glob("part-*.parquet"))) == 4
    truth = pd.concat([pd.read_parquet(ROOT / "sample_data" / "shards"),
                       pd.read_json(ROOT / "sample_data" / "extra.jsonl", lines=True)])[["doc_id", "kind"]]
    assert truth["kind"].value_counts().to_dict() == {"prose": 195, "templated": 113, "degenerate": 52}
    found = pd.read_parquet(tmp_path / "demo" / "documents").merge(truth, on="doc_id", validate="one_to_one")
    assert len(found) == 360
    flagged = found.groupby("kind")["gopher_repetition_flag"].sum().to_dict()
    assert flagged == {"degenerate": 52, "prose": 0, "templated": 0}
    listings = found.loc[found["kind"] == "templated", "near_dup_cluster"]
    assert listings.notna().all() and listings.nunique() == 1
    assert (found.loc[found["kind"] != "templated", "near_dup_cluster"] != listings.iloc[0]).all()
    estimate = audit["synthetic_fraction"]
    assert estimate["ci_low"] <= 165 / 360 <= estimate["ci_high"]


def test_json_goes_to_stdout_and_the_summary_to_stderr(tmp_path):
    path = write_parquet(tmp_path / "a.parquet", ["one two", "three"])
    result = cli("scan", str(path), "--out", str(tmp_path / "o"), "--json")
    assert result.returncode == 0
    assert json.loads(result.stdout)["input"]["scanned"] == 2
    assert "documents scanned" in result.stderr


def test_a_corpus_without_any_text_is_audited_and_says_so_first(tmp_path):
    """Whitespace-only documents are counted, not an error (they stopped the scan with 'the word
    spectrum is empty'); there is no estimate, so a rule on it cannot pass."""
    path = write_parquet(tmp_path / "blank.parquet", ["   ", "\n\n", "\t"])
    result = cli("scan", str(path), "--out", str(tmp_path / "o"))
    assert result.returncode == 0, result.stderr
    audit = json.loads((tmp_path / "o" / "audit.json").read_text())
    assert audit["input"]["empty_documents"] == 3
    assert "synthetic_fraction" not in audit and "collapse_projection" not in audit
    said = "No document holds any text (all 3 are empty or whitespace): there is nothing to estimate or project."
    assert audit["warnings"] == [said] and said in result.stdout
    assert "- No document holds any text \\(all 3 are empty" in (tmp_path / "o" / "report.md").read_text()  # escaped Markdown
    assert "Not estimated: no document with text was scored." in (tmp_path / "o" / "report.html").read_text()
    gated = cli("scan", str(path), "--out", str(tmp_path / "g"), "--fail-on", "synthetic_fraction>0.1")
    assert gated.returncode == 2 and "this audit has no synthetic_fraction" in gated.stderr


@pytest.mark.parametrize("args,message", [
    (["scan", "missing.parquet"], "missing.parquet: no such file or directory"),
    (["scan", "notes.xml"], "notes.xml: unknown format"),
    (["scan", "a.parquet", "--text-column", "body"], "a.parquet: no column 'body' (columns: text)"),
    (["scan", "bad.parquet"], "bad.parquet: "),
    (["scan", "a.parquet", "--sample", "0"], "--sample 0: must be at least 1"),
])
def test_errors_are_one_line_with_exit_code_2(tmp_path, args, message):
    write_parquet(tmp_path / "a.parquet", ["x"])
    (tmp_path / "notes.xml").write_text("<x/>")
    (tmp_path / "bad.parquet").write_bytes(b"not parquet")
    result = cli(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_debug_shows_the_traceback(tmp_path):
    result = cli("scan", "missing.parquet", "--debug", cwd=tmp_path)
    assert result.returncode != 0 and "Traceback" in result.stderr


def test_skip_mode_lists_the_skipped_source(tmp_path):
    write_parquet(tmp_path / "d" / "a.parquet", ["x y"])
    (tmp_path / "d" / "b.parquet").write_bytes(b"not parquet")
    result = cli("scan", "d", "--on-error", "skip", "--json", cwd=tmp_path)
    assert result.returncode == 0
    audit = json.loads(result.stdout)
    assert [s["source"].endswith("b.parquet") for s in audit["input"]["skipped_sources"]] == [True]
    assert "skipped source" in result.stderr


def test_version():
    result = cli("--version")
    assert result.returncode == 0 and result.stdout.startswith("corpus-audit ")


def test_help_and_version_import_no_heavy_module():
    # `--help` and `--version` start in about 0.1 s because nothing heavy is imported up front
    # (measured with `python -X importtime -m corpus_audit --version`).
    code = ("import sys\nfrom typer.testing import CliRunner\nfrom corpus_audit.cli import app\n"
            "for args in (['--help'], ['--version'], ['scan', '--help']):\n"
            "    assert CliRunner().invoke(app, args).exit_code == 0\n"
            "print(sorted(m for m in ('sklearn', 'scipy', 'matplotlib', 'pandas', 'pyarrow', 'jinja2', 'datasketch') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
