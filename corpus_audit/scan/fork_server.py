"""The fork server that makes the local engine's worker processes.

Workers are forked from a server that has imported the pipeline once (`PRELOAD`), instead
of each importing it. The server imports on its own core, so starting it early (before
this process has imported the pipeline) takes that second off the scan's critical path.
This module imports nothing heavy, so that it can be called first.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.forkserver
from multiprocessing.context import BaseContext

# the main program (whose functions a script's workers may run), the scan, and the modules of
# the estimate's and projection's jobs that the pipeline maps over the workers (named, not imported)
PRELOAD = ["__main__", "corpus_audit.scan.engines", "corpus_audit.estimate.honest", "corpus_audit.collapse.projection"]


def start() -> BaseContext:
    """The forkserver context, its server started (returns at once: the server preloads on its own)."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    multiprocessing.forkserver.ensure_running()
    return context
