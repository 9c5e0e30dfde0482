"""Each reader yields every document with its source, row and text, in file order."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from corpus_audit.errors import AuditError, SourceError
from corpus_audit.io.readers import (
    ColumnSpec,
    ShardReader,
    choose_text_column,
    csv_delimiter,
    group_shards,
)
from corpus_audit.io.sources import resolve_sources
from tests.conftest import make_texts, write_jsonl, write_parquet


def read_all(*inputs: Path | str, columns: ColumnSpec = ColumnSpec(), batch_size: int = 7, fmt: str | None = None):
    docs = []
    for shard in group_shards(resolve_sources([str(i) for i in inputs], fmt)):
        for batch in ShardReader(shard, columns, batch_size).batches():
            assert len(batch) <= batch_size
            ids = batch.ids or [None] * len(batch)
            strata = batch.strata or [None] * len(batch)
            docs += list(zip(batch.sources, batch.rows.tolist(), batch.texts, ids, strata))
    return docs


def test_parquet_file_in_bounded_batches_reads_only_needed_columns(tmp_path):
    texts = make_texts(25)
    path = write_parquet(tmp_path / "a.parquet", texts, other=list(range(25)))
    docs = read_all(path)
    assert [d[2] for d in docs] == texts
    assert [d[1] for d in docs] == list(range(25))
    assert {d[0] for d in docs} == {str(path)}


def test_directory_of_shards_and_glob_in_sorted_order(shard_dir):
    expected = make_texts(120)
    assert [d[2] for d in read_all(shard_dir)] == expected
    assert [d[2] for d in read_all(str(shard_dir / "part-*.parquet"))] == expected
    rows = [d[1] for d in read_all(shard_dir)]
    assert rows == list(range(40)) * 3


@pytest.mark.parametrize("name,compression", [("a.jsonl", None), ("a.jsonl.gz", "gzip"), ("a.jsonl.zst", "zstd")])
def test_jsonl_plain_and_compressed(tmp_path, name, compression):
    texts = make_texts(30)
    path = write_jsonl(tmp_path / name, [{"id": i, "text": t} for i, t in enumerate(texts)], compression)
    docs = read_all(path, columns=ColumnSpec(id="id"))
    assert [d[2] for d in docs] == texts
    assert [d[3] for d in docs] == [str(i) for i in range(30)]


def test_jsonl_blank_lines_do_not_count_as_rows(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text('{"text": "one"}\n\n{"text": "two"}\n')
    assert [(d[1], d[2]) for d in read_all(path)] == [(0, "one"), (1, "two")]


def test_csv_fields_are_split_by_the_headers_separator(tmp_path):
    semicolons = tmp_path / "excel.csv"  # Excel's "CSV" where the comma is the decimal mark
    semicolons.write_text('text;id\n"hello; my friend";1\n"3,5 apples";2\n')
    tabs = tmp_path / "dump.tsv"
    tabs.write_text("text\tid\nhello, my friend\t3\n")
    one_column = tmp_path / "plain.csv"
    one_column.write_text('text\n"a, b; c"\n')
    docs = read_all(semicolons, tabs, one_column)
    assert [(text, doc_id) for _, _, text, doc_id, _ in docs] == [
        ("hello; my friend", "1"), ("3,5 apples", "2"), ("hello, my friend", "3"), ("a, b; c", None)]
    assert [csv_delimiter(line) for line in ("a,b;c", "a;b", "a\tb;c", "a|b", "text")] == [",", ";", "\t", "|", ","]


def test_csv_with_quoted_newlines_and_strata(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text('site,body\nx,"first line\nsecond line"\ny,"has ""quotes"", commas"\n')
    docs = read_all(path, columns=ColumnSpec(text="body", by="site"))
    assert [(d[2], d[4]) for d in docs] == [("first line\nsecond line", "x"), ('has "quotes", commas', "y")]


def test_txt_directory_one_document_per_file(tmp_path):
    root = tmp_path / "txt"
    root.mkdir()
    for i in range(5):
        (root / f"{i}.txt").write_text(f"text number {i}\nsecond line")
    docs = read_all(root)
    assert [d[2] for d in docs] == [f"text number {i}\nsecond line" for i in range(5)]
    assert [Path(d[0]).name for d in docs] == [f"{i}.txt" for i in range(5)]
    assert len(group_shards(resolve_sources([str(root)]))) == 1


def test_a_remote_filesystem_that_fails_is_one_line_naming_the_input():
    import fsspec
    from fsspec.implementations.memory import MemoryFileSystem

    class Offline(MemoryFileSystem):  # as a remote filesystem fails without a network: its own error type
        protocol = "offline"

        def exists(self, path, **kwargs):
            raise RuntimeError("Name or service not known")

    fsspec.register_implementation("offline", Offline, clobber=True)  # a protocol of this test's own
    with pytest.raises(AuditError, match=r"^offline://bucket/corpus\.parquet: cannot list or open it "
                                         r"\(RuntimeError: Name or service not known\)$"):
        resolve_sources(["offline://bucket/corpus.parquet"])


def test_file_url_through_fsspec(tmp_path):
    path = write_parquet(tmp_path / "a.parquet", ["x y", "z"])
    assert [d[2] for d in read_all(f"file://{path}")] == ["x y", "z"]


@pytest.mark.parametrize("names,strings,requested,expected", [
    (["id", "text", "content"], ["text", "content"], None, "text"),
    (["id", "content", "body"], ["content", "body"], None, "content"),
    (["id", "body"], ["body"], None, "body"),
    (["id", "body", "title"], ["body", "title"], "title", "title"),
])
def test_text_column_rule(names, strings, requested, expected):
    assert choose_text_column("f", names, strings, requested) == expected


def test_text_column_ambiguous_names_the_columns():
    with pytest.raises(SourceError, match=r"f: cannot tell which column holds the text \(columns: body, title\)"):
        choose_text_column("f", ["body", "title"], ["body", "title"], None)


def test_missing_requested_column_names_the_columns(tmp_path):
    path = write_parquet(tmp_path / "a.parquet", ["x"], title=["t"])
    with pytest.raises(SourceError, match=r"no column 'body' \(columns: text, title\)"):
        read_all(path, columns=ColumnSpec(text="body"))
    with pytest.raises(SourceError, match=r"no column 'nope' for --id-column"):
        read_all(path, columns=ColumnSpec(id="nope"))


def test_only_string_column_is_found_in_parquet(tmp_path):
    path = tmp_path / "a.parquet"
    pq.write_table(pa.table({"n": [1, 2], "body": ["a b", "c"]}), path)
    assert [d[2] for d in read_all(path)] == ["a b", "c"]


def test_missing_file_and_unknown_format(tmp_path):
    with pytest.raises(AuditError, match="nope.parquet: no such file or directory"):
        resolve_sources([str(tmp_path / "nope.parquet")])
    (tmp_path / "data.xml").write_text("<x/>")
    with pytest.raises(AuditError, match=r"data.xml: unknown format"):
        resolve_sources([str(tmp_path / "data.xml")])
    with pytest.raises(AuditError, match="no file matches"):
        resolve_sources([str(tmp_path / "*.parquet")])


def test_forced_format_reads_any_extension(tmp_path):
    path = tmp_path / "data.log"
    path.write_text('{"text": "hello"}\n')
    assert [d[2] for d in read_all(path, fmt="jsonl")] == ["hello"]


def test_invalid_utf8_is_repaired_and_counted(tmp_path):
    bad = b"caf\xe9 ok"
    (tmp_path / "a.jsonl").write_bytes(b'{"text": "' + bad + b'"}\n{"text": "fine"}\n')
    (tmp_path / "b.csv").write_bytes(b"text\n" + bad + b"\nfine\n")
    (tmp_path / "c.txt").write_bytes(bad)
    (tmp_path / "d.jsonl").write_text('{"text": "lone \\ud800 surrogate"}\n')
    for name in ("a.jsonl", "b.csv", "c.txt", "d.jsonl"):
        shard = group_shards(resolve_sources([str(tmp_path / name)]))[0]
        batch = next(ShardReader(shard).batches())
        assert "\ufffd" in batch.texts[0], name
        assert batch.repaired.tolist()[0] is True, name
        batch.texts[0].encode("utf-8")  # valid now
        if len(batch) > 1:
            assert batch.repaired.tolist()[1] is False


def test_a_byte_order_mark_at_the_start_of_a_file_is_not_text(tmp_path):
    bom = b"\xef\xbb\xbf"  # what Excel and Notepad write at the start of a UTF-8 file
    (tmp_path / "a.csv").write_bytes(bom + b"text,id\nfirst row,1\n")
    (tmp_path / "b.jsonl").write_bytes(bom + b'{"text": "first line"}\n{"text": "second"}\n')
    (tmp_path / "c.txt").write_bytes(bom + b"a whole file")
    assert [d[2:4] for d in read_all(tmp_path / "a.csv")] == [("first row", "1")]  # the header's first name is `text`
    assert [d[2] for d in read_all(tmp_path / "b.jsonl")] == ["first line", "second"]
    assert [d[2] for d in read_all(tmp_path / "c.txt")] == ["a whole file"]
    (tmp_path / "d.txt").write_bytes(b"a mark " + bom + b"inside stays")  # only a leading mark is dropped
    assert read_all(tmp_path / "d.txt")[0][2] == "a mark \ufeffinside stays"


def test_a_parquet_text_column_of_another_type_is_refused_and_a_dictionary_of_strings_is_text(tmp_path):
    path = tmp_path / "typed.parquet"
    pq.write_table(pa.table({"body": pa.array(["one text", "another text", "one text"]).dictionary_encode(),
                             "n": [1, 2, 3]}), path)
    with pytest.raises(SourceError, match=r"typed.parquet: column 'n' holds int64, not text; name the text column"):
        read_all(path, columns=ColumnSpec(text="n"))
    assert [text for *_, text, _, _ in read_all(path)] == ["one text", "another text", "one text"]  # the only string column


def test_a_binary_parquet_column_is_read_as_utf8(tmp_path):
    """Strings written without Parquet's UTF-8 annotation (older Hive and Impala, some Spark jobs)
    arrive as bytes: they are decoded, and invalid UTF-8 is repaired and counted as in any text."""
    path = tmp_path / "binary.parquet"
    pq.write_table(pa.table({"text": pa.array([b"caf\xc3\xa9", b"caf\xe9", None], pa.binary()),
                             "doc_id": pa.array([b"a", b"b", b"c"], pa.large_binary())}), path)
    batch = next(ShardReader(group_shards(resolve_sources([str(path)]))[0]).batches())
    assert batch.texts == ["caf\u00e9", "caf\ufffd", None]
    assert batch.repaired.tolist() == [False, True, False]
    assert batch.not_string.tolist() == [False, False, False]
    assert batch.ids == ["a", "b", "c"]


def test_corrupt_parquet_and_bad_json_lines_name_the_place(tmp_path):
    corrupt = tmp_path / "bad.parquet"
    corrupt.write_bytes(b"PAR1 this is not parquet at all")
    with pytest.raises(SourceError, match="bad.parquet: "):
        read_all(corrupt)
    bad_json = tmp_path / "bad.jsonl"
    bad_json.write_text('{"text": "a"}\n{"text": oops}\n')
    with pytest.raises(SourceError, match=r"bad.jsonl: line 2: invalid JSON"):
        read_all(bad_json)
    truncated = tmp_path / "cut.jsonl.gz"
    write_jsonl(truncated, [{"text": "x" * 1000}] * 50, "gzip")
    truncated.write_bytes(truncated.read_bytes()[:-30])
    with pytest.raises(SourceError, match="cut.jsonl.gz: "):
        read_all(truncated)


def test_null_and_non_string_texts_are_flagged(tmp_path):
    path = write_jsonl(tmp_path / "a.jsonl", [{"text": None}, {"text": ""}, {"text": 5}, {"text": "ok"}])
    shard = group_shards(resolve_sources([str(path)]))[0]
    batch = next(ShardReader(shard).batches())
    assert batch.texts == [None, "", None, "ok"]
    assert batch.not_string.tolist() == [False, False, True, False]
