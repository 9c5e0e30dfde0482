"""`corpus-audit references` against a stand-in OpenAI-compatible server on 127.0.0.1, started by each test.

The server answers each request by the next entry of its plan ("ok", "429", "500", "slow",
"malformed", "401"), then "ok"; it records every request it got.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pandas as pd
import pytest

from corpus_audit.errors import AuditError
from corpus_audit.io.chat_endpoint import ChatEndpoint
from corpus_audit.pipeline.make_references import STYLES, ReferenceJob, make_references
from tests.conftest import write_parquet

SECRET = "sk-test-never-printed-0123456789"


class StandIn(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 (the http.server API)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        server = self.server
        with server.lock:
            step = server.plan.pop(0) if server.plan else "ok"
            server.log.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body, "step": step})
        if step == "slow":
            time.sleep(1.5)
        if step in ("429", "500", "401"):
            self.send_response(int(step))
            if step == "429":
                self.send_header("Retry-After", "0")
            self.end_headers()
            return
        prompt = body["messages"][-1]["content"]
        reply = b"{not json" if step == "malformed" else json.dumps(
            {"choices": [{"message": {"role": "assistant", "content": f"machine version of: {prompt[-40:]}"}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), StandIn)
    httpd.plan, httpd.log, httpd.lock = [], [], threading.Lock()
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def corpus(tmp_path) -> Path:
    texts = [f"human document number {i} tells of a walk by the canal on a cold morning" for i in range(30)]
    dates = ["2019-05-01"] * 20 + ["2024-01-01"] * 10
    return write_parquet(tmp_path / "corpus.parquet", texts, published=dates)


def job(server, corpus: Path, out: Path, **options) -> ReferenceJob:
    endpoint = ChatEndpoint(f"http://127.0.0.1:{server.server_port}/v1", "stand-in-model", api_key=SECRET,
                            timeout=options.pop("timeout", 5.0), retries=options.pop("retries", 3), backoff=0.01)
    return ReferenceJob((str(corpus),), out, endpoint, **options)


def test_references_are_written_one_per_sampled_document_in_every_style(server, corpus, tmp_path):
    said: list[str] = []
    summary = make_references(job(server, corpus, tmp_path / "refs.parquet", n=12), said.append)
    assert said == ["12 documents sampled; 0 already done, 12 to ask stand-in-model",
                    *(f"{k} of 12 replies" for k in range(1, 13))]  # a line every tenth (here every reply)
    refs = pd.read_parquet(tmp_path / "refs.parquet")
    assert summary["written"] == 12 and len(refs) == 12 and refs["source_id"].is_unique
    assert set(refs["style"]) == set(STYLES) and (refs["label"] == "synthetic").all()
    assert refs["text"].str.startswith("machine version of:").all()
    assert len(server.log) == 12 and {r["path"] for r in server.log} == {"/v1/chat/completions"}
    assert {r["auth"] for r in server.log} == {f"Bearer {SECRET}"}
    assert {r["body"]["model"] for r in server.log} == {"stand-in-model"}
    assert not (tmp_path / ".refs.parquet.partial.jsonl").exists()


def test_human_before_sends_only_dated_documents(server, corpus, tmp_path):
    make_references(job(server, corpus, tmp_path / "refs.parquet", n=50, human_before="2022-11-30", date_column="published"))
    assert len(pd.read_parquet(tmp_path / "refs.parquet")) == 20  # only 20 documents are dated before


def test_a_429_is_retried_after_back_off(server, corpus, tmp_path):
    server.plan = ["429", "429", "500"]
    summary = make_references(job(server, corpus, tmp_path / "refs.parquet", n=3, concurrency=1))
    assert summary["written"] == 3 and len(server.log) == 6  # three refusals, each retried


def test_a_timeout_that_persists_fails_with_one_message_and_keeps_what_was_done(server, corpus, tmp_path):
    server.plan = ["ok", "slow", "slow"]
    with pytest.raises(AuditError, match=r"1 of 3 documents got no reply \(last: .* timed out after 2 attempts\)"):
        make_references(job(server, corpus, tmp_path / "refs.parquet", n=3, concurrency=1, timeout=0.5, retries=1))
    assert not (tmp_path / "refs.parquet").exists()
    assert len((tmp_path / ".refs.parquet.partial.jsonl").read_text().splitlines()) == 2


def test_a_malformed_reply_is_retried_then_reported(server, corpus, tmp_path):
    server.plan = ["malformed"]
    assert make_references(job(server, corpus, tmp_path / "a.parquet", n=2, concurrency=1))["written"] == 2
    server.plan = ["ok"] + ["malformed"] * 4
    with pytest.raises(AuditError, match="malformed reply"):
        make_references(job(server, corpus, tmp_path / "b.parquet", n=2, concurrency=1, retries=3))


def test_an_interrupted_run_resumes_asking_only_for_the_rest(server, corpus, tmp_path):
    server.plan = ["ok"] * 4 + ["500"] * 40
    with pytest.raises(AuditError, match="run the same command again"):
        make_references(job(server, corpus, tmp_path / "refs.parquet", n=10, concurrency=1, retries=1))
    asked_before, server.plan = len(server.log), []
    summary = make_references(job(server, corpus, tmp_path / "refs.parquet", n=10, concurrency=2))
    assert summary == {"written": 10, "asked": 6, "resumed": 4, "out": str(tmp_path / "refs.parquet")}
    assert len(server.log) - asked_before == 6
    assert pd.read_parquet(tmp_path / "refs.parquet")["source_id"].is_unique


def test_a_link_in_place_of_the_progress_file_is_refused_and_its_target_kept(server, corpus, tmp_path):
    target = tmp_path / "diary.txt"
    target.write_text("my diary\n")
    (tmp_path / ".refs.parquet.partial.jsonl").symlink_to(target)
    with pytest.raises(AuditError, match=r"\.refs\.parquet\.partial\.jsonl \(where the replies so far are kept\): is a link"):
        make_references(job(server, corpus, tmp_path / "refs.parquet", n=3))
    assert target.read_text() == "my diary\n" and not server.log and not (tmp_path / "refs.parquet").exists()


def test_a_refusing_or_unreachable_endpoint_stops_at_once(server, corpus, tmp_path):
    server.plan = ["401"]
    with pytest.raises(AuditError, match="refused the request: HTTP 401"):
        make_references(job(server, corpus, tmp_path / "refs.parquet", n=5))
    assert len(server.log) == 1
    closed = ChatEndpoint("http://127.0.0.1:9/v1", "m", retries=1, backoff=0.01, timeout=2)
    with pytest.raises(AuditError, match="cannot connect"):
        make_references(ReferenceJob((str(corpus),), tmp_path / "x.parquet", closed, n=5))


def test_the_command_line_takes_the_key_from_the_environment_and_never_prints_it(server, corpus, tmp_path):
    base = [sys.executable, "-m", "corpus_audit", "references", str(corpus), "--endpoint",
            f"http://127.0.0.1:{server.server_port}/v1", "--model", "stand-in-model", "--n", "20", "--api-key-env", "MY_KEY"]
    env = {**os.environ, "MY_KEY": SECRET}
    done = subprocess.run([*base, "--out", str(tmp_path / "refs.parquet")], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert len(pd.read_parquet(tmp_path / "refs.parquet")) == 20 and server.log[-1]["auth"] == f"Bearer {SECRET}"
    again = subprocess.run([*base, "--out", str(tmp_path / "refs.parquet")], capture_output=True, text=True, env=env)
    assert again.returncode == 2 and "already exists" in again.stderr
    server.plan = ["401"]
    refused = subprocess.run([*base, "--out", str(tmp_path / "other.parquet")], capture_output=True, text=True, env=env)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert refused.stderr.strip().splitlines()[-1].startswith("corpus-audit: error: --endpoint ")  # one line for the error
    unset = subprocess.run([*base, "--out", str(tmp_path / "x.parquet")], capture_output=True, text=True,
                           env={k: v for k, v in env.items() if k != "MY_KEY"})
    assert unset.returncode == 2 and "MY_KEY is not set" in unset.stderr
    assert all(SECRET not in r.stdout + r.stderr for r in (done, again, refused, unset))
    ready = subprocess.run([sys.executable, "-m", "corpus_audit", "scan", str(corpus), "--out", str(tmp_path / "audit"),
                            "--workers", "1", "--reference-synthetic", str(tmp_path / "refs.parquet"),
                            "--human-before", "2022-11-30", "--date-column", "published"], capture_output=True, text=True)
    assert ready.returncode == 0, ready.stderr  # the file is what --reference-synthetic reads
    audit = json.loads((tmp_path / "audit" / "audit.json").read_text())
    assert audit["synthetic_fraction"]["state"] == "calibrated"
    assert "refs.parquet (20 synthetic)" in audit["synthetic_fraction"]["calibration"]["source"]
