"""The Python API: audit() on every kind of source gives what `scan` gives on the same documents
written to Parquet; results read as attributes, save and load round-trip, errors are AuditError."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

import corpus_audit as ca
from corpus_audit.config import ScanConfig
from corpus_audit.io.spool import as_inputs
from corpus_audit.pipeline.run import scan
from tests.conftest import documents, write_parquet

WORDS = ["river", "stone", "moreover", "delve", "garden", "crucial", "letter", "tapestry", "market", "pivotal", "road"]


def texts(n: int) -> list[str]:
    """Documents of made-up words, with a near-duplicate pair and a blank one among them."""
    out = [" ".join(WORDS[(i * 7 + k * (i % 5 + 1)) % len(WORDS)] for k in range(20 + i % 30)) + f" number {i}."
           for i in range(n)]
    out[7] = out[3] + " again"
    out[11] = "   "
    return out


N = 1200  # more than one spooled batch


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> tuple[dict, pd.DataFrame, Path]:
    """`scan` (what the CLI runs) on the documents written to a Parquet file."""
    root = tmp_path_factory.mktemp("reference")
    path = write_parquet(root / "corpus.parquet", texts(N), n=list(range(N)))
    audit = scan(ScanConfig(inputs=(str(path),), out=root / "out", workers=1))
    return audit, documents(root / "out"), path


def comparable(audit: dict, source_name: str) -> dict:
    """The audit with the source's name written as `SOURCE`, without what names where and when it ran."""
    audit = json.loads(json.dumps(audit).replace(source_name, "SOURCE"))
    for key in ("timing", "config"):
        audit.pop(key)
    audit["input"].pop("bytes")
    return audit


def _dataset(kind: str):
    datasets = pytest.importorskip("datasets")
    if kind == "Dataset":
        return datasets.Dataset.from_dict({"text": texts(N), "n": list(range(N))})

    def rows():
        for i, text in enumerate(texts(N)):
            yield {"text": text, "n": i}
    return datasets.IterableDataset.from_generator(rows)


SOURCES = {
    "DataFrame": lambda: pd.DataFrame({"text": texts(N), "n": range(N)}),
    "Table": lambda: pa.table({"text": texts(N), "n": list(range(N))}),
    "RecordBatchReader": lambda: pa.table({"text": texts(N), "n": list(range(N))}).to_reader(max_chunksize=500),
    "Dataset": lambda: _dataset("Dataset"),
    "IterableDataset": lambda: _dataset("IterableDataset"),
    "strings": lambda: texts(N),
    "generator": lambda: (t for t in texts(N)),
}


@pytest.mark.parametrize("kind", SOURCES)
def test_audit_of_each_kind_of_source_equals_scan_of_the_same_documents_in_parquet(reference, kind):
    expected, expected_documents, path = reference
    result = ca.audit(SOURCES[kind](), workers=1, progress=False)
    label = f"<{'strings' if kind == 'generator' else kind}>"
    assert comparable(result.to_dict(), label) == comparable(expected, str(path))
    got = result.documents
    assert got["doc_id"].tolist() == [f"{label}:{i}" for i in range(N)]
    columns = [c for c in expected_documents.column_names if c not in ("doc_id", "source", "near_dup_cluster")]
    assert got[columns].equals(expected_documents.select(columns).to_pandas())
    assert result.synthetic_fraction.estimate == expected["synthetic_fraction"]["estimate"]
    assert result.near_duplicates.clusters == expected["near_duplicates"]["clusters"] >= 1


def test_paths_globs_and_lists_of_paths_are_inputs_as_on_the_command_line(reference, tmp_path):
    expected, _, path = reference
    for source in (path, str(path), [path], [str(path)], ca.Inputs([str(path)])):
        assert as_inputs(source) == [str(path)]
    assert as_inputs(str(path.parent / "*.parquet")) == [str(path.parent / "*.parquet")]
    assert as_inputs(["one document", "another"]) is None and as_inputs(pd.DataFrame()) is None
    assert as_inputs(["Is this real?", "see http://example.com [1] for more"]) is None  # prose, not globs or URLs
    result = ca.audit([str(path.parent / "*.parquet")], out=tmp_path / "out", workers=1, progress=False)
    assert comparable(result.to_dict(), str(path)) == comparable(expected, str(path))


def test_results_read_as_attributes_and_as_audit_json(reference, tmp_path):
    result = ca.audit(reference[2], out=tmp_path / "a", workers=1, progress=False)
    assert result.to_dict() == json.loads((tmp_path / "a" / "audit.json").read_text())
    section = result.synthetic_fraction
    assert section.ci_low <= section.estimate <= section.ci_high and section["method"] == section.method == "pacc"
    assert section.calibration.auroc == result.to_dict()["synthetic_fraction"]["calibration"]["auroc"]
    assert result.collapse_projection.risk in ("low", "moderate", "high", "critical")
    assert result.near_duplicates.largest[0].size >= 2
    with pytest.raises(AttributeError, match="no 'strata' section"):
        result.strata
    with pytest.raises(AttributeError, match="no 'estimat' here; there is estimate"):
        section.estimat
    card = result._repr_html_()
    assert f"{section.estimate:.1%}" in card and "<script" not in card
    assert result.to_html().startswith("<!DOCTYPE html>")


def test_save_then_load_round_trips_and_save_follows_the_out_rules(tmp_path):
    result = ca.audit(texts(300), workers=1, progress=False)
    temporary = result.directory
    saved = result.save(tmp_path / "saved")
    loaded = ca.load(saved)
    assert loaded.to_dict() == result.to_dict()
    assert loaded.documents.equals(result.documents)
    assert sorted(p.name for p in (saved / "documents").iterdir()) == sorted(p.name for p in (temporary / "documents").iterdir())
    assert (saved / "report.html").read_bytes() == (temporary / "report.html").read_bytes()
    with pytest.raises(ca.AuditError, match="holds a finished audit; pass --overwrite"):
        result.save(saved)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    with pytest.raises(ca.AuditError, match="not empty and not an audit directory"):
        result.save(tmp_path / "mine")
    assert result.save(saved, overwrite=True) == saved
    del result, loaded
    import gc

    gc.collect()
    assert not temporary.exists() and (saved / "audit.json").exists()  # the temporary files go with the result
    with pytest.raises(ca.AuditError, match="no audit.json there"):
        ca.load(tmp_path / "mine")


@pytest.mark.parametrize("source, options, message", [
    (pd.DataFrame({"body": ["a b"], "title": ["c"]}), {}, r"<DataFrame>: .*\(columns: body, title\)"),
    (pd.DataFrame({"body": ["a b"]}), {"text_column": "text"}, r"<DataFrame>: no column 'text' \(columns: body\)"),
    (["one text", "another"], {"sample": 0}, "--sample 0: must be at least 1"),
    (["one text"], {"engine": "spark"}, "--engine 'spark': expected local or dask"),
    (["one text"], {"fail_on": "synthetic_fraction>50"}, "a fraction from 0 to 1"),
    (["one text", 3], {}, "<strings>: item 1 is a int, not a string"),
    (42, {}, "audit[(][)] takes paths, globs or URLs, .* got int"),
    ({"text": ["one text", "another"]}, {}, r"got a dict: pass a table of columns as pandas.DataFrame"),
    ({"one text", "another"}, {}, r"got a set, whose order is not fixed: pass sorted"),
    (["a text with words", "sample_data"], {}, "a list that mixes paths and texts"),
    ("missing.parquet", {}, "missing.parquet: no such file or directory"),
    (ca.Inputs(["missing.parquet"]), {}, "missing.parquet: no such file or directory"),
])
def test_bad_arguments_raise_the_packages_error_with_the_clis_message(tmp_path, monkeypatch, source, options, message):
    monkeypatch.chdir(Path(__file__).resolve().parent.parent)
    with pytest.raises(ca.AuditError, match=message):
        ca.audit(source, out=tmp_path / "out", workers=1, progress=False, **options)


@pytest.mark.slow
def test_a_corpus_object_larger_than_memory_allows_is_streamed(tmp_path):
    """An IterableDataset spooled with memory that does not grow with the stream (peak RSS of a fresh process)."""
    pytest.importorskip("datasets")
    code = textwrap.dedent('''
        import resource, sys
        from pathlib import Path
        import datasets
        from corpus_audit.io.spool import spool

        def rows():
            for i in range(int(sys.argv[2])):
                yield {"text": f"document {i} " + "word " * 800}

        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        source = spool(datasets.IterableDataset.from_generator(rows), Path(sys.argv[1]))
        print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)
    ''')
    growth = {}
    for n in (30_000, 150_000):
        (tmp_path / str(n)).mkdir()
        done = subprocess.run([sys.executable, "-c", code, str(tmp_path / str(n)), str(n)], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        growth[n] = int(done.stdout)
    import pyarrow.parquet as pq

    assert pq.read_metadata(tmp_path / "150000" / "IterableDataset.parquet").num_rows == 150_000
    assert growth[150_000] < 200 and growth[150_000] - growth[30_000] < 40, growth  # 572 MB of text streamed


def test_progress_is_one_line_off_a_terminal_and_silence_when_asked(capsys):
    ca.audit(texts(50), workers=1, progress=False)
    assert capsys.readouterr().err == ""
    ca.audit(texts(50), workers=1)
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("corpus-audit: 50 documents, synthetic fraction ")


def test_project_mirrors_the_project_command():
    result = ca.project(0.3, ci=(0.2, 0.4), zipf_types=2000, runs=5, seed=3)
    done = subprocess.run([sys.executable, "-m", "corpus_audit", "project", "--synthetic-fraction", "0.3", "--ci", "0.2",
                           "0.4", "--zipf-types", "2000", "--runs", "5", "--seed", "3", "--json"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == json.loads(json.dumps(result))
    assert result.risk == result["risk"] and result.generations[0].generation == 0


def test_importing_the_package_loads_nothing_heavy():
    code = "import sys, corpus_audit; print(sorted(m for m in ('sklearn', 'pandas', 'pyarrow', 'matplotlib') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.strip() == "[]", done.stdout + done.stderr


def test_a_program_on_standard_input_gets_a_clear_error_for_worker_processes(tmp_path):
    # 1,001 texts are two batches: the workers start with the second (one batch is scored in-process)
    program = "import corpus_audit as ca\nca.audit([f'text {i} here' for i in range(1001)], workers=2, progress=False)\n"
    done = subprocess.run([sys.executable, "-"], input=program, capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1].startswith("corpus_audit.errors.AuditError: cannot start local worker "
                                                           "processes (Broken pipe): they import the main program")


def test_a_failed_audit_leaves_no_temporary_directory(tmp_path, monkeypatch):
    import errno
    import tempfile

    from corpus_audit.pipeline.run import Scan

    def disk_full(self):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "x"))

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(Scan, "run", disk_full)
    with pytest.raises(ca.AuditError, match=r"x: No space left on device \(free space"):
        ca.audit(["a text", "another one"], workers=1, progress=False)
    assert list(tmp_path.iterdir()) == []
