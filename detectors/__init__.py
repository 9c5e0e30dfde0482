"""The scanners: each turns a batch of texts into per-document signals."""

from detectors.base import Column, Detector
from detectors.length import LengthDetector
from detectors.partials import Bundle, Histogram, Mergeable, Tally

__all__ = ["Bundle", "Column", "Detector", "Histogram", "LengthDetector", "Mergeable", "Tally", "default_detectors"]


def default_detectors() -> list[Detector]:
    """The detectors `scan` runs, in column order."""
    return [LengthDetector()]
