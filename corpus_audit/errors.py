"""Errors the user can act on: each becomes a one-line message and exit code 2."""

from __future__ import annotations

import errno


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


_WHAT_TO_DO = {
    errno.ENOSPC: "free space on that disk or choose another --out",
    errno.EDQUOT: "free space within your quota or choose another --out",
    errno.EROFS: "choose another --out",
    errno.EACCES: "check its permissions or choose another path",
    errno.EPERM: "check its permissions or choose another path",
    errno.ENOTDIR: "a part of that path is a file, not a directory",
    errno.EISDIR: "it is a directory, not a file",
    errno.ELOOP: "it is a symbolic link, which is not followed",
}


def os_error_message(err: OSError, path: object = None) -> str:
    """An OS error as one line: the path (`path`, else the error's), what went wrong, and what the user can do."""
    where = path if path is not None else err.filename if err.filename is not None else "(unknown path)"
    advice = _WHAT_TO_DO.get(err.errno or 0)
    return f"{where}: {err.strerror or err}" + (f" ({advice})" if advice else "")
