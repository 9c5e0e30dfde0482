"""`corpus-audit references`: in-domain machine-written references, made by an LLM from the corpus itself.

A uniform sample of `n` documents of the corpus (only those dated before `--human-before`
when given; chosen by a hash of the text and the seed) is sent to an OpenAI-compatible
chat endpoint, each with one of several styles of prompt in turn (rewrite, continue,
polish, write another like it), and the replies are written as a Parquet file for
`scan --reference-synthetic`. Each finished reply is appended at once to a hidden
progress file beside `--out` (`.NAME.partial.jsonl`), so an interrupted or partly failed
run continues where it stopped when run again; the Parquet file is written, and the
progress file removed, only when every document has its reply.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from corpus_audit.errors import AuditError
from corpus_audit.io import atomic
from corpus_audit.io.chat_endpoint import ChatEndpoint, EndpointError
from corpus_audit.io.sampling import hash_sample
from corpus_audit.io.sources import resolve_sources

SYSTEM = "You write text. Reply with the requested text only: no preamble, no title, no notes."
STYLES = {
    "rewrite": "Rewrite the following text in your own words. Keep its content, its length and its register.",
    "continue": "Here is the opening of a text. Continue it in the same voice and style, for about as long again.",
    "polish": "Improve the wording of the following text: fix its errors and make it read well, keeping its content.",
    "write": "Write a new text of the same kind, on the same topic and of about the same length as this example.",
}
MAX_WORDS = 600  # words of a source document put in a prompt
_APPEND = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW  # the progress file, never through a link


@dataclass(frozen=True)
class ReferenceJob:
    inputs: tuple[str, ...]
    out: Path
    endpoint: ChatEndpoint
    n: int = 200
    text_column: str | None = None
    human_before: str | None = None
    date_column: str | None = None
    seed: int = 0
    concurrency: int = 4

    def __post_init__(self) -> None:
        if self.n < 1:
            raise AuditError(f"--n {self.n}: must be at least 1")
        if not 1 <= self.concurrency <= 256:
            raise AuditError(f"--concurrency {self.concurrency}: must be 1 to 256")
        if (self.human_before is None) != (self.date_column is None):
            raise AuditError("--human-before and --date-column go together: give both, or neither")

    @property
    def progress_file(self) -> Path:
        return self.out.with_name(f".{self.out.name}.partial.jsonl")


def prompt(style: str, text: str) -> str:
    words = text.split()
    if style == "continue":
        words = words[: max(10, min(len(words) // 2, MAX_WORDS // 2))]
    return f"{STYLES[style]}\n\n{' '.join(words[:MAX_WORDS])}"


def sample_sources(job: ReferenceJob) -> list[tuple[str, str]]:
    """(source id, text) of `n` documents drawn uniformly by a seeded hash (dated before DATE when asked)."""
    from corpus_audit.config import parse_date

    before = None if job.human_before is None else pd.Timestamp(parse_date(job.human_before))
    sample = hash_sample(resolve_sources(list(job.inputs)), job.text_column, job.n, seed=job.seed,
                         date_column=job.date_column, before=before)
    return [(f"{priority:016x}", text) for priority, text in sample.chosen]


def _done(job: ReferenceJob) -> dict[str, dict[str, Any]]:
    """The replies an earlier run finished (its progress file), by source id."""
    if not job.progress_file.exists():
        return {}
    done = {}
    for line in job.progress_file.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
            done[str(record["source_id"])] = record
        except (ValueError, KeyError, TypeError):
            continue  # a line cut by a crash: that document is asked again
    return done


def make_references(job: ReferenceJob, report: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    """Ask the endpoint for every sampled document that has no reply yet; write the Parquet when all have one."""
    if job.out.exists() or job.out.is_symlink():
        raise AuditError(f"--out {job.out}: already exists; choose a new path (nothing was changed)")
    if job.progress_file.is_symlink() or (job.progress_file.exists() and not job.progress_file.is_file()):
        raise AuditError(f"{job.progress_file} (where the replies so far are kept): is a link or not a file; remove it "
                         "(the tool reads and writes through no link; nothing was changed)")
    sources = sample_sources(job)
    if not sources:
        raise AuditError("no document of the input has text" + (" and a date before --human-before" if job.human_before else ""))
    done = _done(job)
    todo = [(i, sid, text) for i, (sid, text) in enumerate(sources) if sid not in done]
    report(f"{len(sources):,} documents sampled; {len(done):,} already done, {len(todo):,} to ask {job.endpoint.model}")
    styles = list(STYLES)
    lock = threading.Lock()
    failures: list[str] = []
    replied = 0  # this run's replies so far
    step = max(1, len(todo) // 10)  # a progress line every tenth of the documents

    def ask(item: tuple[int, str, str]) -> None:
        nonlocal replied
        index, sid, text = item
        style = styles[index % len(styles)]
        try:
            reply = job.endpoint.complete(SYSTEM, prompt(style, text))
        except EndpointError as err:
            with lock:
                failures.append(str(err))
            if err.final:
                raise
            return
        record = {"source_id": sid, "style": style, "text": reply}
        with lock:
            with os.fdopen(os.open(job.progress_file, _APPEND, 0o644), "a", encoding="utf-8") as handle:
                handle.write(json.dumps(record) + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            replied += 1
            if replied % step == 0 or replied == len(todo):
                report(f"{replied:,} of {len(todo):,} replies")

    if todo:
        try:
            ask(todo[0])  # one request first: an unreachable or refusing endpoint stops the run at once
            if not failures:
                with ThreadPoolExecutor(job.concurrency) as pool:
                    list(pool.map(ask, todo[1:]))
        except EndpointError as err:
            raise AuditError(f"--endpoint {err}") from None
    if failures:
        raise AuditError(f"{len(failures):,} of {len(todo):,} documents got no reply (last: {failures[-1]}); "
                         f"run the same command again to ask only for those ({len(_done(job)):,} done are kept)")
    records = [(_done(job)[sid], sid) for sid, _ in sources]
    table = pa.table({"doc_id": [f"ref-{sid}" for _, sid in records], "text": [r["text"] for r, _ in records],
                      "source_id": [sid for _, sid in records], "style": [r["style"] for r, _ in records],
                      "generator": [job.endpoint.model] * len(records), "label": ["synthetic"] * len(records)})
    atomic.write_parquet(job.out, table)
    job.progress_file.unlink()
    return {"written": len(records), "asked": len(todo), "resumed": len(done), "out": str(job.out)}
