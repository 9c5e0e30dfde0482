"""The scan pipeline: outputs, sampling, resume, workers, bad shards, odd documents."""

from __future__ import annotations

import json
import random

import pytest

from corpus_audit.config import ScanConfig
from corpus_audit.dedup.ids import duplicate_ids
from corpus_audit.errors import AuditError, SourceError
from corpus_audit.io.readers import Shard
from corpus_audit.io.sources import Source
from corpus_audit.pipeline.run import Scan
from corpus_audit.scan.engines import LocalEngine, balanced
from detectors import LengthDetector
from tests.conftest import (
    documents,
    make_texts,
    run,
    without_timing,
    write_jsonl,
    write_parquet,
)


def test_scan_writes_one_row_per_document_with_lengths(tmp_path, shard_dir):
    audit = run(tmp_path, shard_dir)
    table = documents(tmp_path / "out")
    texts = make_texts(120)
    assert table.num_rows == 120
    assert table.column("word_count").to_pylist() == [len(t.split()) for t in texts]
    assert table.column("char_count").to_pylist() == [len(t) for t in texts]
    assert table.column("doc_id").to_pylist()[0] == f"{shard_dir / 'part-0.parquet'}:0"
    assert audit["input"]["documents"] == audit["input"]["scanned"] == 120
    assert audit["length"]["word_count"]["total"] == sum(len(t.split()) for t in texts)
    assert json.loads((tmp_path / "out" / "audit.json").read_text()) == audit


def test_id_column_is_used(tmp_path):
    path = write_parquet(tmp_path / "a.parquet", ["x", "y"], uid=["u1", None])
    run(tmp_path, path, id_column="uid")
    assert documents(tmp_path / "out").column("doc_id").to_pylist() == ["u1", f"{path}:1"]


def test_ids_that_repeat_are_counted_and_the_first_named_whatever_the_partitions(tmp_path):
    rng = random.Random(3)
    ids = [None if k % 37 == 0 else f"i{rng.randrange(60)}" for k in range(150)]  # null: SOURCE:ROW, unique
    for k in range(3):
        write_parquet(tmp_path / "in" / f"s{k}.parquet", make_texts(50, 50 * k), id=ids[50 * k:50 * k + 50])
    audit = run(tmp_path, tmp_path / "in", batch_size=16)
    seen, repeats = set(), []  # by hand: every document whose id came before, in corpus order
    for doc_id in ids:
        if doc_id in seen:
            repeats.append(doc_id)
        elif doc_id is not None:
            seen.add(doc_id)
    expected = {"duplicate_documents": len(repeats), "duplicate_examples": list(dict.fromkeys(repeats))[:5]}
    assert 40 < len(repeats) < 100
    assert {k: audit["input"]["ids"][k] for k in expected} == expected
    parts = sorted(p.name for p in (tmp_path / "out" / "documents").iterdir())
    (tmp_path / "work").mkdir()
    assert duplicate_ids(tmp_path / "out" / "documents", parts, tmp_path / "work", partition_rows=7) == expected
    assert not list((tmp_path / "work").iterdir())
    assert not (tmp_path / "out" / "join" / "tmp").exists()  # the scan's scratch files are gone
    assert any(w.startswith(f"Column 'id' is not a unique id: {len(repeats)} documents carry") for w in audit["warnings"])
    unique = write_parquet(tmp_path / "u" / "a.parquet", make_texts(3), id=["a", "b", "A"])
    audit = run(tmp_path, unique, out=tmp_path / "u-out")
    assert audit["input"]["ids"]["duplicate_documents"] == 0 and not [w for w in audit["warnings"] if "unique id" in w]


def test_an_id_column_is_found_in_the_documented_order_and_said(tmp_path):
    both = write_parquet(tmp_path / "p" / "a.parquet", ["x", "y"], id=["i1", "i2"], doc_id=["d1", None])
    audit = run(tmp_path, both)
    assert documents(tmp_path / "out").column("doc_id").to_pylist() == ["d1", f"{both}:1"]  # doc_id before id
    assert audit["input"]["ids"] == {"column": "doc_id", "chosen_by": "found", "duplicate_documents": 0,
                                     "duplicate_examples": []}
    jsonl = write_jsonl(tmp_path / "j" / "a.jsonl", [{"text": "x", "uuid": "u1"}, {"text": "y", "uuid": "u2"}])
    assert run(tmp_path, jsonl, out=tmp_path / "j-out")["input"]["ids"]["column"] == "uuid"
    assert documents(tmp_path / "j-out").column("doc_id").to_pylist() == ["u1", "u2"]
    csv = tmp_path / "c" / "a.csv"
    csv.parent.mkdir()
    csv.write_text("text,document_id\nx,c1\n")
    assert run(tmp_path, csv, out=tmp_path / "c-out")["input"]["ids"]["column"] == "document_id"
    plain = write_parquet(tmp_path / "n" / "a.parquet", ["x"], title=["t"])
    assert run(tmp_path, plain, out=tmp_path / "n-out")["input"]["ids"] == {"column": None, "chosen_by": "none: SOURCE:ROW"}


def test_input_paths_are_relative_to_where_the_command_ran(tmp_path, monkeypatch):
    write_parquet(tmp_path / "corpus" / "a.parquet", ["one text", "another text"])
    monkeypatch.chdir(tmp_path)
    run(tmp_path, "corpus", out=tmp_path / "out")
    assert documents(tmp_path / "out").column("doc_id").to_pylist() == ["corpus/a.parquet:0", "corpus/a.parquet:1"]
    assert str(tmp_path) not in (tmp_path / "out" / "report.html").read_text()


def _shards(*sizes: int | None) -> list[Shard]:
    return [Shard(i, (Source(f"s{i}.parquet", "parquet", size, None),)) for i, size in enumerate(sizes)]


@pytest.mark.parametrize(("sizes", "workers", "whole"), [
    ((10, 10), 2, True),              # one each: an even split
    ((10, 10, 10), 2, False),         # 20 against 10: the last shard alone keeps one worker busy 1.33x the mean
    ((10, 10, 10, 10), 2, True),      # 20 and 20
    ((30, 10, 10, 10), 2, True),      # 30 and 30, dealt largest first
    ((40, 10, 10), 2, False),         # 40 against 20: 1.33x the mean of 30
    ((12, 10, 10, 10, 10), 2, False),  # 22 and 30 against a mean of 26: 1.15x the mean
    ((10,) * 21, 2, True),            # 11 and 10: 1.048x the mean
    ((10,) * 19, 2, False),           # 10 and 9: 1.053x the mean
    ((10,), 2, False),                # fewer shards than workers
    ((10, None), 2, False),           # a size unknown (a remote file without one)
])
def test_whole_shards_go_to_workers_only_when_their_sizes_keep_every_worker_busy(sizes, workers, whole):
    assert balanced(_shards(*sizes), workers) is whole


@pytest.mark.slow
def test_whole_shards_in_workers_give_the_same_bytes_and_progress_by_batch(tmp_path, monkeypatch):
    shards = tmp_path / "shards"
    for k in range(4):  # four shards of the same size: each worker scans two whole
        write_parquet(shards / f"part-{k}.parquet", make_texts(40, start=40 * k))
    assert balanced(_shards(*(f.stat().st_size for f in sorted(shards.iterdir()))), 2)
    one = run(tmp_path, shards, out=tmp_path / "one", workers=1, batch_size=16)
    counted: list[int] = []
    recorder = _Recorder()
    recorder.advance = counted.append
    config = ScanConfig(inputs=(str(shards),), out=tmp_path / "two", workers=2, batch_size=16)
    monkeypatch.setattr(LocalEngine, "_scan_batches", lambda *_: pytest.fail("batch by batch"))
    two = Scan(config, progress=recorder).run()
    assert sorted(counted) == sorted([16, 16, 8] * 4)  # each batch as a worker stores it
    assert recorder.events.count("shard") == 4
    for part in sorted((tmp_path / "one" / "documents").iterdir()):
        assert part.read_bytes() == (tmp_path / "two" / "documents" / part.name).read_bytes()
    assert len(list((tmp_path / "two" / "documents").iterdir())) == 12
    assert without_timing(one) == without_timing(two)


@pytest.mark.slow
def test_workers_do_not_change_output_bytes(tmp_path, shard_dir):
    one = run(tmp_path, shard_dir, out=tmp_path / "one", workers=1, batch_size=16)
    two = run(tmp_path, shard_dir, out=tmp_path / "two", workers=2, batch_size=16)
    parts = sorted(p.name for p in (tmp_path / "one" / "documents").iterdir())
    assert parts == sorted(p.name for p in (tmp_path / "two" / "documents").iterdir())
    assert len(parts) == 9  # 3 shards x ceil(40 / 16)
    for name in parts:
        assert (tmp_path / "one" / "documents" / name).read_bytes() == (tmp_path / "two" / "documents" / name).read_bytes()
    assert without_timing(one) == without_timing(two)


def test_sample_n_is_exact_uniform_and_seeded(tmp_path, shard_dir):
    a = run(tmp_path, shard_dir, out=tmp_path / "a", sample=30, seed=1)
    run(tmp_path, shard_dir, out=tmp_path / "b", sample=30, seed=1)
    run(tmp_path, shard_dir, out=tmp_path / "c", sample=30, seed=2)
    ids = lambda name: documents(tmp_path / name).column("doc_id").to_pylist()  # noqa: E731
    assert len(ids("a")) == 30 and ids("a") == ids("b") and ids("a") != ids("c")
    assert a["input"]["sampling"] == {"mode": "count", "requested": 30, "seed": 1, "population": 120, "sampled": 30}
    assert a["input"]["documents"] == 120 and a["input"]["scanned"] == 30
    # 30 of 120 documents are a draw from the corpus: the interval says it treats them as one
    assert "drawn as a sample's would be" in a["synthetic_fraction"]["interval"]
    # Uniform over the whole corpus: every shard is represented in proportion, over many seeds.
    hits = [0, 0, 0]
    for seed in range(20):  # sampling is the reader's: the length detector alone keeps these scans quick
        out = tmp_path / f"s{seed}"
        Scan(ScanConfig(inputs=(str(shard_dir),), out=out, workers=1, sample=30, seed=seed), [LengthDetector()]).run()
        for source in documents(out).column("source").to_pylist():
            hits[int(source[-9])] += 1
    assert all(160 <= h <= 240 for h in hits), hits  # expected 200 each (binomial sd about 11)


@pytest.mark.slow
def test_sample_fraction_is_seeded_and_near_the_fraction(tmp_path):
    path = write_parquet(tmp_path / "big.parquet", make_texts(4000))
    a = run(tmp_path, path, out=tmp_path / "a", sample_fraction=0.25, seed=3)
    b = run(tmp_path, path, out=tmp_path / "b", sample_fraction=0.25, seed=3)
    assert a["input"]["scanned"] == b["input"]["scanned"]
    assert abs(a["input"]["scanned"] - 1000) < 4 * (4000 * 0.25 * 0.75) ** 0.5
    assert a["input"]["sampling"]["mode"] == "fraction"
    assert "drawn as a sample's would be" in a["synthetic_fraction"]["interval"]
    whole = run(tmp_path, path, out=tmp_path / "whole", seed=3)
    assert "this corpus's own fraction" in whole["synthetic_fraction"]["interval"]


class _InterruptAfter:
    """A progress sink that presses Ctrl-C after some shards are done."""

    def __init__(self, shards: int) -> None:
        self.left = shards

    def start(self, shards: int) -> None: ...

    def advance(self, documents: int) -> None: ...

    def shard_done(self) -> None:
        self.left -= 1
        if self.left == 0:
            raise KeyboardInterrupt

    def phase(self, name: str) -> None: ...


class _Recorder:
    """A progress sink that writes down what it is told."""

    def __init__(self) -> None:
        self.events: list[str] = []

    def start(self, shards: int) -> None:
        self.events.append(f"start {shards}")

    def advance(self, documents: int) -> None: ...

    def shard_done(self) -> None:
        self.events.append("shard")

    def phase(self, name: str) -> None:
        self.events.append(name)


def test_progress_names_each_phase_after_the_scan(tmp_path):
    write_parquet(tmp_path / "in" / "a.parquet", make_texts(120))
    write_parquet(tmp_path / "in" / "b.parquet", make_texts(120, start=500))
    recorder = _Recorder()
    Scan(ScanConfig(inputs=(str(tmp_path / "in"),), out=tmp_path / "out", workers=1), progress=recorder).run()
    # the estimate and projection run in a thread beside the join; each phase names what is then awaited
    assert recorder.events == ["start 2", "shard", "shard", "merging shard totals", "joining near-duplicates",
                               "estimating the synthetic fraction", "projecting collapse risk", "writing reports"]


def test_resume_after_interrupt_gives_the_clean_result(tmp_path, shard_dir):
    clean = run(tmp_path, shard_dir, out=tmp_path / "clean")
    config = ScanConfig(inputs=(str(shard_dir),), out=tmp_path / "resumed", workers=1)
    with pytest.raises(KeyboardInterrupt):
        Scan(config, progress=_InterruptAfter(2)).run()
    assert not (tmp_path / "resumed" / "audit.json").exists()
    assert len(list((tmp_path / "resumed" / "state").glob("shard-*.json"))) == 2
    resumed = run(tmp_path, shard_dir, out=tmp_path / "resumed", resume=True)
    assert resumed["input"]["shards_resumed"] == 2
    assert without_timing(resumed) == without_timing(clean)
    assert documents(tmp_path / "resumed").equals(documents(tmp_path / "clean"))


def test_resume_redoes_shards_whose_file_changed_and_ignores_other_options(tmp_path, shard_dir):
    run(tmp_path, shard_dir)
    write_parquet(shard_dir / "part-1.parquet", make_texts(10, start=500))
    audit = run(tmp_path, shard_dir, resume=True)
    assert audit["input"]["shards_resumed"] == 2 and audit["input"]["documents"] == 90
    audit = run(tmp_path, shard_dir, resume=True, max_doc_chars=10)  # other options: start over
    assert audit["input"]["shards_resumed"] == 0


def test_corrupt_shard_fails_or_is_skipped_and_listed(tmp_path, shard_dir):
    (shard_dir / "part-1.parquet").write_bytes(b"PAR1 garbage")
    with pytest.raises(SourceError, match="part-1.parquet"):
        run(tmp_path, shard_dir)
    audit = run(tmp_path, shard_dir, on_error="skip")
    assert audit["input"]["scanned"] == 80
    [skipped] = audit["input"]["skipped_sources"]
    assert skipped["source"].endswith("part-1.parquet") and skipped["error"]
    assert documents(tmp_path / "out").num_rows == 80


def test_shard_failing_midway_leaves_none_of_its_documents(tmp_path):
    good = write_jsonl(tmp_path / "a.jsonl", [{"text": t} for t in make_texts(30)])
    bad = tmp_path / "b.jsonl"
    bad.write_text("".join(json.dumps({"text": t}) + "\n" for t in make_texts(25)) + "{broken\n")
    audit = run(tmp_path, good, bad, on_error="skip", batch_size=10)
    assert audit["input"]["scanned"] == 30
    assert audit["input"]["skipped_sources"][0]["error"] == "line 26: invalid JSON (Expecting property name enclosed in double quotes)"
    assert set(documents(tmp_path / "out").column("source").to_pylist()) == {str(good)}


@pytest.mark.slow
def test_a_shard_failing_midway_in_a_worker_leaves_none_of_its_documents_or_stops_the_run(tmp_path, monkeypatch):
    good = write_jsonl(tmp_path / "in" / "a.jsonl", [{"text": t} for t in make_texts(30)])
    bad = tmp_path / "in" / "b.jsonl"
    bad.write_text("".join(json.dumps({"text": t}) + "\n" for t in make_texts(29, start=100)) + "{broken\n")
    assert balanced(_shards(good.stat().st_size, bad.stat().st_size), 2)  # each worker scans one whole
    monkeypatch.setattr(LocalEngine, "_scan_batches", lambda *_: pytest.fail("batch by batch"))
    audit = run(tmp_path, tmp_path / "in", on_error="skip", batch_size=10, workers=2)
    assert audit["input"]["scanned"] == 30
    assert audit["input"]["skipped_sources"][0]["error"].startswith("line 30: invalid JSON")
    assert set(documents(tmp_path / "out").column("source").to_pylist()) == {str(good)}
    with pytest.raises(SourceError, match=r"b\.jsonl: line 30: invalid JSON"):
        run(tmp_path, tmp_path / "in", out=tmp_path / "failed", batch_size=10, workers=2)


def test_null_empty_and_non_string_texts_are_counted(tmp_path):
    path = write_jsonl(tmp_path / "a.jsonl", [{"text": None}, {"text": ""}, {"text": ["x"]}, {"text": "  \n"}, {"text": "ok"}])
    audit = run(tmp_path, path)
    assert audit["input"]["documents"] == 5
    assert audit["input"]["scanned"] == 3
    assert audit["input"]["skipped_reasons"] == {"null text": 1, "text is not a string": 1}
    assert audit["input"]["empty_documents"] == 2
    assert documents(tmp_path / "out").column("row").to_pylist() == [1, 3, 4]


def test_invalid_utf8_documents_are_scanned_and_counted(tmp_path):
    (tmp_path / "a.jsonl").write_bytes(b'{"text": "caf\xe9"}\n{"text": "fine"}\n')
    audit = run(tmp_path, tmp_path / "a.jsonl")
    assert audit["input"]["scanned"] == 2 and audit["input"]["invalid_utf8_documents"] == 1


def test_a_50_mb_document_is_truncated_for_scoring_and_counted(tmp_path):
    text = ("word " * 10_000_000)[:50_000_000]
    path = write_jsonl(tmp_path / "giant.jsonl", [{"text": text}, {"text": "small one"}])
    audit = run(tmp_path, path)
    assert audit["input"]["truncated_documents"] == 1
    table = documents(tmp_path / "out")
    assert table.column("truncated").to_pylist() == [True, False]
    assert table.column("char_count").to_pylist() == [1_000_000, 9]


def test_bad_options_are_refused():
    with pytest.raises(AuditError, match="--sample and --sample-fraction"):
        ScanConfig(inputs=("x",), sample=3, sample_fraction=0.5)
    with pytest.raises(AuditError, match="--sample-fraction 1.5"):
        ScanConfig(inputs=("x",), sample_fraction=1.5)
    with pytest.raises(AuditError, match="--workers 0"):
        ScanConfig(inputs=("x",), workers=0)


def test_second_run_into_the_same_out_is_refused_while_the_first_holds_the_lock(tmp_path, shard_dir):
    from corpus_audit.io.run_state import RunState

    holder = RunState(tmp_path / "out")
    holder.lock()
    try:
        with pytest.raises(AuditError, match="another corpus-audit run is writing here"):
            run(tmp_path, shard_dir)
    finally:
        holder.unlock()
    assert run(tmp_path, shard_dir)["input"]["scanned"] == 120
