"""A rich progress bar for long scans: documents/s and shards done, on a terminal only."""

from __future__ import annotations

import os
import sys
from typing import Protocol

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)


class ProgressSink(Protocol):
    """Where the pipeline reports progress (a terminal bar, a log, nothing)."""

    def start(self, shards: int) -> None: ...

    def advance(self, documents: int) -> None: ...

    def shard_done(self) -> None: ...

    def phase(self, name: str) -> None:
        """The work after the scan has begun a new phase (joining, estimating, ...)."""


class Silent:
    """A ProgressSink that says nothing."""

    def start(self, shards: int) -> None: ...

    def advance(self, documents: int) -> None: ...

    def shard_done(self) -> None: ...

    def phase(self, name: str) -> None: ...


def progress_enabled() -> bool:
    """On for an interactive terminal; off when piped or under CI (`CI=true`)."""
    return sys.stderr.isatty() and os.environ.get("CI", "").lower() not in ("true", "1")


class TerminalProgress:
    """Implements the pipeline's ProgressSink with a rich bar on stderr."""

    def __init__(self) -> None:
        self._bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("shards"),
                             TextColumn("{task.fields[docs]:,} docs, {task.fields[rate]:,.0f} docs/s"),
                             TimeElapsedColumn(), console=Console(stderr=True), transient=True)
        self._task = None
        self._docs = 0

    def __enter__(self) -> TerminalProgress:
        self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._bar.stop()

    def start(self, shards: int) -> None:
        self._task = self._bar.add_task("scanning", total=shards, docs=0, rate=0.0)

    def advance(self, documents: int) -> None:
        self._docs += documents
        elapsed = self._bar.tasks[0].elapsed or 0.0
        self._bar.update(self._task, docs=self._docs, rate=self._docs / elapsed if elapsed else 0.0)

    def shard_done(self) -> None:
        self._bar.advance(self._task)

    def phase(self, name: str) -> None:
        if self._task is not None:
            self._bar.update(self._task, description=name)
