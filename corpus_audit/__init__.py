"""corpus-audit: how much of a text corpus is machine-written, and how dangerous is that.

    import corpus_audit as ca
    result = ca.audit(df, text_column="body")        # paths, a DataFrame, Arrow, datasets, strings
    result.synthetic_fraction.estimate, result.documents, result.save("audit/")
    ca.load("audit/"), ca.project(0.3, zipf_types=50_000)

The names below are imported on first use, so `import corpus_audit` (and the CLI's
`--version`) stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Audit", "AuditError", "Inputs", "Record", "audit", "load", "project", "__version__"]

_HOMES = {"audit": "corpus_audit.api", "project": "corpus_audit.api", "load": "corpus_audit.api",
          "Audit": "corpus_audit.api", "Record": "corpus_audit.api", "AuditError": "corpus_audit.errors",
          "Inputs": "corpus_audit.io.spool"}

if TYPE_CHECKING:
    from corpus_audit.api import Audit, Record, audit, load, project
    from corpus_audit.errors import AuditError
    from corpus_audit.io.spool import Inputs


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'corpus_audit' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_HOMES[name]), name)


def __dir__() -> list[str]:
    return sorted(__all__)
