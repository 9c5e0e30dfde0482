"""corpus-audit: how much of a text corpus is machine-written, and how dangerous is that."""

__version__ = "0.1.0"
