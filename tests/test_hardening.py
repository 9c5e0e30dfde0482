"""Hardening: a scan never destroys a user's files, hostile model directories are refused
cheaply, kill -9 leaves no process behind, and cheap refusals come before the scan."""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import io
import json
import os
import shutil
import signal
import time
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest
import typer

from corpus_audit import cli as cli_module
from corpus_audit.config import ScanConfig
from corpus_audit.dedup import near_duplicates
from corpus_audit.errors import AuditError
from corpus_audit.model import store as model_store
from corpus_audit.pipeline.run import Scan
from corpus_audit.report import gating
from detectors import LengthDetector, MinHashDetector
from tests.conftest import documents, make_texts, run, without_timing, write_parquet
from tests.test_cli import cli
from tests.test_reliability import _alive, _descendants, running_scan


def quick(tmp_path: Path, *inputs: Path | str, **options) -> dict:
    """A scan with the length and MinHash detectors only: every file the pipeline writes, quickly."""
    options.setdefault("out", tmp_path / "out")
    config = ScanConfig(inputs=tuple(str(i) for i in inputs), workers=options.pop("workers", 1), **options)
    return Scan(config, [LengthDetector(), MinHashDetector()]).run()


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file below root (links as their target's name) with its bytes."""
    found = {}
    for path in sorted(root.rglob("*")):
        if path.is_symlink():
            found[str(path.relative_to(root))] = f"-> {os.readlink(path)}".encode()
        elif path.is_file():
            found[str(path.relative_to(root))] = path.read_bytes()
    return found


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    """A user's directory, with a file named exactly like one the tool writes."""
    root = tmp_path / "victim"
    write_parquet(root / "part-00000-00000.parquet", ["the user's own data"])
    write_parquet(root / "results.parquet", ["more of the user's data"])
    (root / "notes.txt").write_text("keep me")
    return root


# --out: only a directory the tool made or marked, only its own files -----------------------------------------


def test_a_non_empty_directory_that_is_not_an_audit_is_refused_and_left_as_it_was(tmp_path, shard_dir):
    out = tmp_path / "mine"
    write_parquet(out / "documents" / "results.parquet", ["a user's results"])
    write_parquet(out / "documents" / "part-00000-00000.parquet", ["named like the tool's own"])
    (out / "join" / "minhash").mkdir(parents=True)
    (out / "join" / "minhash" / "part-00000-00000.npz").write_bytes(b"user bytes")
    (out / "state").mkdir()
    (out / "state" / "shard-00000.json").write_text("{}")
    (out / "manifest.json").write_text(json.dumps({"name": "my project"}))  # a manifest, but not corpus-audit's
    before = snapshot(out)
    for options in ({}, {"resume": True}, {"overwrite": True}):
        with pytest.raises(AuditError, match=r"not empty and not an audit directory .*nothing here was changed"):
            quick(tmp_path, shard_dir, out=out, **options)
    assert snapshot(out) == before


def test_a_finished_audit_is_replaced_only_with_overwrite_which_removes_only_the_tools_files(tmp_path, shard_dir):
    out = tmp_path / "out"
    clean = quick(tmp_path, shard_dir, out=tmp_path / "clean", batch_size=16)
    quick(tmp_path, shard_dir, out=out, batch_size=7)  # more parts than the next run writes
    (out / "notes.txt").write_text("the user's notes")
    write_parquet(out / "documents" / "results.parquet", ["a user's own file among the parts"])
    with pytest.raises(AuditError, match=r"holds a finished audit; pass --overwrite .* or --resume"):
        quick(tmp_path, shard_dir, out=out, batch_size=16)
    with pytest.raises(AuditError, match="give one of them"):
        quick(tmp_path, shard_dir, out=out, resume=True, overwrite=True)
    again = quick(tmp_path, shard_dir, out=out, batch_size=16, overwrite=True)
    assert without_timing(again) == {**without_timing(clean), "config": {**without_timing(clean)["config"], "overwrite": True}}
    parts = sorted(p.name for p in (out / "documents").iterdir())
    assert parts == sorted(p.name for p in (tmp_path / "clean" / "documents").iterdir()) + ["results.parquet"]
    assert (out / "notes.txt").read_text() == "the user's notes"
    assert sorted(p.name for p in (out / "join" / "minhash").iterdir()) == [p.replace(".parquet", ".npz") for p in parts[:-1]]


@pytest.mark.parametrize("where", ["documents", "join", "state", "join/minhash", "join/tmp"])
def test_a_symlinked_subdirectory_of_out_stops_the_run_and_nothing_is_deleted_through_it(tmp_path, shard_dir, victim, where):
    out = tmp_path / "out"
    quick(tmp_path, shard_dir, out=out, batch_size=16)
    target = out / where
    shutil.rmtree(target, ignore_errors=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.symlink_to(victim, target_is_directory=True)
    before = snapshot(victim)
    for options in ({"overwrite": True}, {"resume": True}):
        with pytest.raises(AuditError, match="symbolic link"):
            quick(tmp_path, shard_dir, out=out, batch_size=16, **options)
    assert snapshot(victim) == before


@pytest.mark.parametrize("name", ["audit.json", "report.html", "documents/part-00001-00000.parquet",
                                  "state/shard-00001.json", "join/minhash/part-00001-00000.npz"])
def test_a_symlink_where_the_tool_keeps_a_file_stops_the_run_and_its_target_is_kept(tmp_path, shard_dir, victim, name):
    out = tmp_path / "out"
    quick(tmp_path, shard_dir, out=out, batch_size=16)
    (out / name).unlink()
    (out / name).symlink_to(victim / "part-00000-00000.parquet")
    before = snapshot(victim)
    with pytest.raises(AuditError, match="symbolic link where corpus-audit keeps its own files"):
        quick(tmp_path, shard_dir, out=out, batch_size=16, overwrite=True)
    assert snapshot(victim) == before and (out / name).is_symlink()


@pytest.mark.parametrize("kind", ["link to a directory", "dangling link", "file"])
def test_an_out_that_is_a_link_or_a_file_is_refused(tmp_path, shard_dir, victim, kind):
    out = tmp_path / "out"
    if kind == "file":
        out.write_text("a file")
    else:
        out.symlink_to(victim if kind == "link to a directory" else tmp_path / "nowhere")
    before = snapshot(victim)
    message = "is a file, not a directory" if kind == "file" else "is a symbolic link"
    with pytest.raises(AuditError, match=message):
        quick(tmp_path, shard_dir, out=out)
    assert snapshot(victim) == before and not (tmp_path / "nowhere").exists()


def test_an_out_that_holds_or_lies_inside_an_input_is_refused_before_anything_is_written(tmp_path, shard_dir):
    before = snapshot(shard_dir)
    cases = [
        ({"out": shard_dir}, [shard_dir]),                                    # scan corpus --out corpus
        ({"out": shard_dir / "audit"}, [shard_dir]),                          # --out inside the input directory
        ({"out": tmp_path}, [shard_dir]),                                     # the input inside --out
        ({"out": shard_dir / "audit"}, [str(shard_dir / "*.parquet")]),       # a glob of the input directory
        ({"out": tmp_path / "a"}, [str(tmp_path / "*" / "documents" / "*.parquet")]),  # a glob that would read the parts
        ({"out": shard_dir / "audit", "against": str(shard_dir)}, [tmp_path / "x.parquet"]),
    ]
    write_parquet(tmp_path / "x.parquet", ["another corpus"])
    for options, inputs in cases:
        with pytest.raises(AuditError, match="overlaps the input"):
            quick(tmp_path, *inputs, **options)
    assert snapshot(shard_dir) == before and not (shard_dir / "audit").exists() and not (tmp_path / "a").exists()
    result = cli("scan", str(shard_dir), "--out", str(shard_dir), "--workers", "1")
    assert result.returncode == 2 and "overlaps the input" in result.stderr and snapshot(shard_dir) == before


def test_a_lock_file_that_is_a_symlink_is_refused_and_its_target_not_truncated(tmp_path, shard_dir, victim):
    out = tmp_path / "out"
    quick(tmp_path, shard_dir, out=out)
    (out / ".lock").unlink()
    (out / ".lock").symlink_to(victim / "notes.txt")
    with pytest.raises(AuditError, match=r"\.lock: cannot open the lock file"):
        quick(tmp_path, shard_dir, out=out, overwrite=True)
    assert (victim / "notes.txt").read_text() == "keep me"


def test_the_lock_file_is_never_truncated(tmp_path, shard_dir):
    out = tmp_path / "out"
    quick(tmp_path, shard_dir, out=out)
    (out / ".lock").write_text("something")
    quick(tmp_path, shard_dir, out=out, overwrite=True)
    assert (out / ".lock").read_text() == "something"


@pytest.mark.parametrize("hostile", ["../../victim.parquet", "/tmp/x.parquet", "part-00000-00000.parquet/../../victim.parquet",
                                     "part-00001-00000.parquet", "notes.parquet"])
def test_resume_accepts_only_the_tools_own_part_names_from_state_files(tmp_path, shard_dir, hostile):
    out = tmp_path / "out"
    clean = quick(tmp_path, shard_dir, out=tmp_path / "clean", batch_size=16)
    write_parquet(tmp_path / "victim.parquet", ["outside --out"])
    before = (tmp_path / "victim.parquet").read_bytes()
    quick(tmp_path, shard_dir, out=out, batch_size=16)
    state = out / "state" / "shard-00000.json"
    record = json.loads(state.read_text())
    record["parts"] = [*record["parts"], hostile]  # (part-00001-... belongs to another shard)
    state.write_text(json.dumps(record))
    (out / "audit.json").unlink()
    resumed = quick(tmp_path, shard_dir, out=out, batch_size=16, resume=True)
    assert resumed["input"]["shards_resumed"] == 2  # shard 0 is redone
    assert without_timing(resumed) == without_timing(clean)
    assert documents(out).equals(documents(tmp_path / "clean"))
    assert (tmp_path / "victim.parquet").read_bytes() == before


def test_a_malformed_state_file_means_the_shard_is_redone(tmp_path, shard_dir):
    out = tmp_path / "out"
    clean = quick(tmp_path, shard_dir, out=tmp_path / "clean")
    quick(tmp_path, shard_dir, out=out)
    (out / "audit.json").unlink()
    (out / "state" / "shard-00001.json").write_text('["not", "a", "record"]')
    (out / "state" / "shard-00002.json").write_text('{"index": 2, "unexpected": true}')
    resumed = quick(tmp_path, shard_dir, out=out, resume=True)
    assert resumed["input"]["shards_resumed"] == 1
    assert without_timing(resumed) == without_timing(clean)


# kill -9 ------------------------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["local", "dask"])
def test_kill_9_of_the_scan_leaves_no_process_or_temporary_directory_behind(tmp_path, engine, short_tmp):
    _, _, scan = running_scan(tmp_path, engine, short_tmp)
    children = _descendants(scan.pid)
    assert scan.poll() is None and len(children) >= 2  # the workers (and, locally, the forkserver and resource tracker)
    scan.kill()  # SIGKILL: no handler runs in the scan itself
    scan.wait()
    for _ in range(600):  # the workers notice within moments (waiting at most 30 s)
        if not [pid for pid in children if _alive(pid)]:
            break
        time.sleep(0.05)
    left = [pid for pid in children if _alive(pid)]
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert not left, "processes outlived the killed scan"
    assert not list(short_tmp.glob("corpus-audit-*"))  # a scan of files makes no temporary directory


# hostile model directories ------------------------------------------------------------------------------------


@pytest.fixture
def model_copy(tmp_path: Path):
    """A copy of the shipped model to spoil, and a way to rewrite model.json (or an array file with its checksum)."""
    directory = tmp_path / "model"
    shutil.copytree(model_store.default_model_path(), directory)

    def rewrite(meta_change=None, **files: bytes) -> None:
        meta = json.loads((directory / "model.json").read_text())
        for name, data in files.items():
            (directory / f"{name}.npz").write_bytes(data)
            meta["sha256"][f"{name}.npz"] = hashlib.sha256(data).hexdigest()
        if meta_change:
            meta_change(meta)
        (directory / "model.json").write_text(json.dumps(meta))  # NaN and Infinity as Python writes them
    return directory, rewrite


def npz(**arrays: tuple[str, tuple[int, ...], bytes]) -> bytes:
    """An .npz whose members declare (dtype, shape) in their headers but hold only the given bytes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, (descr, shape, body) in arrays.items():
            member = io.BytesIO()
            np.lib.format.write_array_header_1_0(member, {"descr": descr, "fortran_order": False, "shape": shape})
            archive.writestr(f"{name}.npy", member.getvalue() + body)
    return buffer.getvalue()


def test_a_model_file_that_is_a_link_to_dev_zero_is_refused_without_reading_it(model_copy):
    directory, _ = model_copy
    (directory / "weights.npz").unlink()
    (directory / "weights.npz").symlink_to("/dev/zero")
    with pytest.raises(AuditError, match="weights.npz is a symbolic link"):
        model_store.load(directory)


@pytest.mark.parametrize("kind", ["fifo", "directory", "dangling link", "device"])
def test_a_model_file_that_is_not_a_regular_file_is_refused_without_blocking(model_copy, kind):
    directory, _ = model_copy
    path = directory / "cv_scores.npz"
    path.unlink()
    if kind == "fifo":
        os.mkfifo(path)  # reading it would block for ever
    elif kind == "directory":
        path.mkdir()
    elif kind == "device":
        os.mknod(path, 0o644 | 0o020000, os.makedev(1, 5))  # a character device like /dev/zero
    else:
        path.symlink_to(directory / "nowhere")
    expected = "is a symbolic link" if kind == "dangling link" else "is not a regular file"
    with pytest.raises(AuditError, match=f"cv_scores.npz {expected}"):
        model_store.load(directory)


def test_an_npz_declaring_a_huge_array_is_refused_before_allocating_it(model_copy):
    directory, rewrite = model_copy
    zeros = b"\0" * (3 * 2**20)  # 3 MB that declares 3.2 GB
    arrays = {"idf": ("<f8", (400_000_000,), zeros), "style_mean": ("<f8", (3,), zeros[:24]),
              "style_scale": ("<f8", (3,), zeros[:24]), "coef": ("<f8", (3,), zeros[:24])}
    rewrite(weights=npz(**arrays))
    tracemalloc.start()
    with pytest.raises(AuditError, match=r"weights.npz:idf is float64 of shape \(400000000,\), expected"):
        model_store.load(directory)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 64 * 2**20


def _bank_arrays(directory) -> dict[str, np.ndarray]:
    with np.load(directory / "cv_scores.npz", allow_pickle=False) as arrays:  # the project's own file
        return dict(arrays)


def test_an_npz_shorter_than_its_header_says_is_refused(model_copy):
    directory, rewrite = model_copy
    arrays = {k: ("<f8" if v.dtype == np.float64 else "<f4", v.shape, v.tobytes()) for k, v in _bank_arrays(directory).items()}
    arrays["seen"] = ("<f8", arrays["seen"][1], arrays["seen"][2][:80])
    rewrite(cv_scores=npz(**arrays))
    with pytest.raises(AuditError, match="cv_scores.npz:seen is shorter than its header says"):
        model_store.load(directory)


def test_a_model_file_over_its_size_cap_is_refused(model_copy, monkeypatch):
    directory, _ = model_copy
    monkeypatch.setitem(model_store.MAX_BYTES, "weights.npz", 2**20)
    with pytest.raises(AuditError, match="weights.npz is larger than the 1,048,576 bytes"):
        model_store.load(directory)


def _set(path: str, value):
    def change(meta: dict) -> None:
        *parents, key = path.split(".")
        target = meta
        for parent in parents:
            target = target[parent]
        target[key] = value
    return change


@pytest.mark.parametrize("path, value, message", [
    ("numbers.intercept", float("nan"), "model.json is not JSON .*NaN is not a number"),
    ("numbers.platt_a", float("inf"), "model.json is not JSON .*Infinity is not a number"),
    ("numbers.style_weight", -1.0, r"numbers.style_weight = -1.0 is outside \[0, 1e\+06\]"),
    ("numbers.word_features", 2**40, "numbers.word_features = 1099511627776 is outside"),
    ("numbers.word_features", 1000.5, "word_features must be a whole number"),
    ("numbers.platt_b", True, "numbers are missing or not numbers"),
    ("numbers.intercept", 1e300, "numbers.intercept = 1e[+]300 is outside"),
    ("sha256", None, "no sha256"),
    ("metadata", ["a", "list"], "metadata must be an object"),
    ("calibration_domains", "news", "calibration_domains must be a list of 1 to 1000 names"),
    ("metadata.lexicon_sha256", "0" * 64, "trained with another word-frequency list"),
])
def test_model_numbers_must_be_finite_and_in_range(model_copy, path, value, message):
    directory, rewrite = model_copy
    rewrite(_set(path, value))
    with pytest.raises(AuditError, match=message):
        model_store.load(directory)


def test_a_number_too_large_for_a_float_is_refused(model_copy):
    directory, _ = model_copy
    text = (directory / "model.json").read_text()
    (directory / "model.json").write_text(text.replace('"intercept": ', '"intercept": 1e999, "was": ', 1))
    with pytest.raises(AuditError, match="numbers are missing or not numbers"):
        model_store.load(directory)


@pytest.mark.parametrize("change, message", [
    (lambda seen: seen[:0], r"cv_scores.npz:seen is float64 of shape \(0,\), expected .* 40 <= n"),
    (lambda seen: seen[:5], r"shape \(5,\)"),
    (lambda seen: seen[:-1], "cv_scores.npz arrays disagree in length"),
    (lambda seen: np.r_[seen[:-1], 1.5], r"cv_scores.npz:seen holds scores outside \[0, 1\]"),
    (lambda seen: np.r_[seen[:-1], -0.1], r"outside \[0, 1\]"),
    (lambda seen: np.r_[seen[:-1], np.nan], "cv_scores.npz:seen must be a finite 1-D float array"),
    (lambda seen: seen.astype(">f8"), "is >f8 of shape"),
    (lambda seen: np.column_stack([seen, seen]), r"shape \(\d+, 2\)"),
    (lambda seen: np.arange(len(seen)), "is int64 of shape"),
])
def test_calibration_scores_must_be_probabilities_enough_of_them(model_copy, change, message):
    directory, rewrite = model_copy
    arrays = _bank_arrays(directory)
    arrays["seen"] = change(arrays["seen"])
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    rewrite(cv_scores=buffer.getvalue())
    with pytest.raises(AuditError, match=message):
        model_store.load(directory)


@pytest.mark.parametrize("key, change, message", [
    ("label", lambda a: np.r_[a[:-1], 2.0], "cv_scores.npz:label must hold only 0 and 1"),
    ("domain", lambda a: np.r_[a[:-1], 1e6], "cv_scores.npz:domain must hold domain numbers below"),
    ("sample_domain", lambda a: np.r_[a[:-1], -1.0], "cv_scores.npz:sample_domain must hold domain numbers"),
    ("sample", lambda a: a[:-1], "cv_scores.npz arrays disagree in length"),
    ("label", lambda a: np.ones_like(a), "fewer than 20 calibration scores of a class"),
])
def test_the_calibration_bank_must_be_consistent(model_copy, key, change, message):
    directory, rewrite = model_copy
    arrays = _bank_arrays(directory)
    arrays[key] = change(arrays[key])
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    rewrite(cv_scores=buffer.getvalue())
    with pytest.raises(AuditError, match=message):
        model_store.load(directory)


def test_a_hostile_model_stops_the_scan_before_anything_is_read_or_written(tmp_path, model_copy, shard_dir):
    directory, rewrite = model_copy
    rewrite(_set("numbers.intercept", float("nan")))
    result = cli("scan", str(shard_dir), "--model", str(directory), "--out", str(tmp_path / "never"))
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "refusing to load this model: model.json is not JSON" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "never").exists()


# cheap refusals come before the scan --------------------------------------------------------------------------


def test_by_with_too_many_values_is_refused_before_the_scan(tmp_path):
    corpus = write_parquet(tmp_path / "c.parquet", make_texts(1500), doc=[f"d{i}" for i in range(1500)])
    with pytest.raises(AuditError, match=r"--by doc: more than 1,000 distinct values"):
        quick(tmp_path, corpus, by="doc", workers=2)
    assert not (tmp_path / "out").exists()


def test_by_values_spread_over_shards_are_refused_when_the_shards_so_far_exceed(tmp_path, monkeypatch):
    monkeypatch.setattr("corpus_audit.scan.shard_scan.STRATA_CHECK_ROWS", 100)  # the early look sees too few rows to tell
    corpus = tmp_path / "corpus"
    for k in range(5):
        write_parquet(corpus / f"s{k}.parquet", make_texts(400, start=400 * k), doc=[f"d{k}-{i}" for i in range(400)])
    with pytest.raises(AuditError, match=r"--by doc: more than 1,000 distinct values"):
        run(tmp_path, corpus, by="doc")  # with the classifier: strata are its scores per value
    assert len(list((tmp_path / "out" / "state").glob("shard-*.json"))) == 3  # stopped at 1,200 values, not after 2,000


def test_a_long_fail_on_rule_is_refused_at_once_by_its_length():
    for text in ["synthetic_fraction>" + "1" * 20_000, " " * 20_000 + "x", "synthetic_fraction>" + "0" * 181 + "x"]:
        with pytest.raises(AuditError, match=r"--fail-on rule of [\d,]+ characters: at most 200"):
            gating.parse_rule(text)


@pytest.mark.parametrize("rule, message", [
    ("synthetic_fraction>50", r"a fraction from 0 to 1; write 50% or 0.5 for a percentage"),
    ("ci_high>=120%", "outside 0% to 100%"),
    ("synthetic_fraction>0.1.2", "expected METRIC OP VALUE"),
    ("synthetic_fraction=>0.1", "expected METRIC OP VALUE"),
    ("synthetic_fraction > 1e", "expected METRIC OP VALUE"),
])
def test_fail_on_rules_that_cannot_be_meant_are_refused(rule, message):
    with pytest.raises(AuditError, match=message):
        gating.parse_rule(rule)


@pytest.mark.parametrize("rule, value", [("synthetic_fraction>0.10", 0.1), ("ci_high <= 20%", 0.2),
                                         ("duplicate_fraction>.05", 0.05), ("ci_low>=1e-2", 0.01), ("ci_low>1", 1.0)])
def test_fail_on_rules_parse_to_their_value(rule, value):
    assert gating.parse_rule(rule).value == pytest.approx(value)


# OS errors name the path and what to do -----------------------------------------------------------------------


def one_line_error(action, capsys) -> str:
    with pytest.raises(typer.Exit) as exit_info:
        cli_module._guarded(action, debug=False)
    assert exit_info.value.exit_code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "internal error" not in lines[0]
    return lines[0]


def test_disk_full_during_the_join_names_the_file_and_what_to_do(tmp_path, shard_dir, monkeypatch, capsys):
    real_open = open

    def full_disk(path, mode="r", *args, **kwargs):
        if "w" in mode and "join" in str(path):
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real_open(path, mode, *args, **kwargs)

    monkeypatch.setattr(near_duplicates, "open", full_disk, raising=False)
    line = one_line_error(lambda: quick(tmp_path, shard_dir), capsys)
    assert "join/tmp/signatures.bin: No space left on device (free space on that disk or choose another --out)" in line


def test_a_read_only_out_names_it_and_what_to_do(tmp_path, shard_dir, monkeypatch, capsys):
    def read_only(self, *args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system", str(self))

    monkeypatch.setattr(Path, "mkdir", read_only)
    line = one_line_error(lambda: quick(tmp_path, shard_dir, out=tmp_path / "ro"), capsys)
    assert line == f"corpus-audit: error: --out {tmp_path / 'ro'}: Read-only file system (choose another --out)"


def test_an_out_that_is_a_file_is_one_line_through_the_cli(tmp_path, shard_dir):
    (tmp_path / "taken").write_text("x")
    result = cli("scan", str(shard_dir), "--out", str(tmp_path / "taken"), "--workers", "1")
    assert result.returncode == 2 and result.stderr.strip() == (
        f"corpus-audit: error: --out {tmp_path / 'taken'}: is a file, not a directory; choose a new or empty directory")


def test_rerunning_the_cli_into_a_finished_audit_says_what_to_pass(tmp_path, shard_dir):
    out = str(tmp_path / "out")
    assert cli("scan", str(shard_dir), "--out", out, "--workers", "1").returncode == 0
    refused = cli("scan", str(shard_dir), "--out", out, "--workers", "1")
    assert refused.returncode == 2 and "holds a finished audit; pass --overwrite" in refused.stderr
    assert cli("scan", str(shard_dir), "--out", out, "--workers", "1", "--overwrite").returncode == 0


def test_a_model_whose_metadata_cannot_be_written_leaves_no_files_and_the_directory_stays_usable(tmp_path):
    stored = model_store.load()
    broken = dataclasses.replace(stored.model, metadata={**stored.model.metadata, "note": float("nan")})
    with pytest.raises(AuditError, match=r"--out .*metadata cannot be written as JSON .*nothing was written"):
        model_store.save(tmp_path / "m", broken, stored.bank)
    assert not (tmp_path / "m").exists()
    model_store.save(tmp_path / "m", stored.model, stored.bank)  # a retry is not refused
    assert model_store.load(tmp_path / "m").model.metadata["sha256"] == stored.model.metadata["sha256"]


def test_train_writes_only_into_a_new_empty_or_model_directory(tmp_path, victim):
    stored = model_store.load()
    save = lambda directory: model_store.save(directory, stored.model, stored.bank)  # noqa: E731
    before = snapshot(victim)
    (victim / "model.json").write_text('{"my": "own model.json"}')
    (tmp_path / "link").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    for directory in (victim, tmp_path / "link"):
        with pytest.raises(AuditError, match=r"--out .*(not empty and not a model directory|is a link or a file)"):
            save(directory)
    assert snapshot(victim) == {**before, "model.json": b'{"my": "own model.json"}'}
    save(tmp_path / "new")
    save(tmp_path / "new")  # a model directory is replaced
    assert model_store.load(tmp_path / "new").model.metadata["sha256"] == stored.model.metadata["sha256"]
