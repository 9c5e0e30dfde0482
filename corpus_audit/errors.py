"""Errors the user can act on: each becomes a one-line message and exit code 2."""

from __future__ import annotations


class AuditError(Exception):
    """Bad usage or unreadable input; the message says what and where."""


class SourceError(AuditError):
    """One input source (a file or URL) cannot be read."""

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason

    def __reduce__(self) -> tuple[type, tuple[str, str]]:  # raised on a Dask worker, re-raised here
        return type(self), (self.source, self.reason)
