"""The scanners: each turns a batch of texts into per-document signals."""

from detectors.base import Column, Detector
from detectors.length import LengthDetector
from detectors.minhash import MinHashDetector
from detectors.partials import Bundle, Histogram, Mergeable, Tally
from detectors.repetition import GOPHER_THRESHOLDS, RepetitionDetector
from detectors.spectrum import WordSpectrumDetector

__all__ = ["GOPHER_THRESHOLDS", "Bundle", "Column", "Detector", "Histogram", "LengthDetector", "Mergeable", "MinHashDetector",
           "RepetitionDetector",
           "Tally", "WordSpectrumDetector", "default_detectors"]


def default_detectors(near_dup_threshold: float = 0.8) -> list[Detector]:
    """The detectors `scan` runs, in column order."""
    return [LengthDetector(), RepetitionDetector(), MinHashDetector(threshold=near_dup_threshold), WordSpectrumDetector()]
