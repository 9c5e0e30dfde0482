"""The scanners: each turns a batch of texts into per-document signals."""

from detectors.base import Column, Detector
from detectors.length import LengthDetector
from detectors.partials import Bundle, Histogram, Mergeable, Tally
from detectors.repetition import GOPHER_THRESHOLDS, RepetitionDetector

__all__ = ["GOPHER_THRESHOLDS", "Bundle", "Column", "Detector", "Histogram", "LengthDetector", "Mergeable", "RepetitionDetector",
           "Tally", "default_detectors"]


def default_detectors() -> list[Detector]:
    """The detectors `scan` runs, in column order."""
    return [LengthDetector(), RepetitionDetector()]
