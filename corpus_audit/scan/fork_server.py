"""The fork server that makes the local engine's worker processes.

Workers are forked from a server that has imported the pipeline once (`PRELOAD`), instead
of each importing it. The server imports on its own core, so starting it early (before
this process has imported the pipeline) takes that second off the scan's critical path.
This module imports nothing heavy, so that it can be called first.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.forkserver
import multiprocessing.util
import os
import tempfile
from multiprocessing.context import BaseContext

# the main program (whose functions a script's workers may run), the scan, and the modules of
# the estimate's and projection's jobs that the pipeline maps over the workers (named, not imported)
PRELOAD = ["__main__", "corpus_audit.scan.engines", "corpus_audit.estimate.honest", "corpus_audit.collapse.projection"]


# A Unix socket's path holds at most 107 bytes; multiprocessing makes its sockets as
# TMPDIR/pymp-XXXXXXXX/listener-XXXXXXXX, about 33 bytes more than TMPDIR.
_SOCKET_DIR_ROOM = 107 - 33


def start() -> BaseContext:
    """The forkserver context, its server started (returns at once: the server preloads on its own)."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    _short_socket_dir()
    multiprocessing.forkserver.ensure_running()
    return context


def _short_socket_dir() -> None:
    """Under a TMPDIR too long for a socket path (deep CI workspaces), multiprocessing's own
    temporary directory, where its sockets go and nothing else, is made in /tmp instead."""
    if len(os.fsencode(tempfile.gettempdir())) <= _SOCKET_DIR_ROOM or not os.access("/tmp", os.W_OK):
        return
    chosen, tempfile.tempdir = tempfile.tempdir, "/tmp"
    try:
        multiprocessing.util.get_temp_dir()  # made now and kept for this process's life
    finally:
        tempfile.tempdir = chosen
