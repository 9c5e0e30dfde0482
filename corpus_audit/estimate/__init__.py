"""The synthetic fraction with its interval: quantifiers, calibration, bootstrap, and metrics.

Owns: the quantifiers (`quantify`), the estimate and its warnings (`estimation`), where the
machine-written mass sits (`composition`), detector metrics (`metrics`) and the estimate
error on labelled mixtures (`mixtures`). May import: `detectors` (histograms, scores), NumPy
and SciPy (not scikit-learn, which a scan never loads); reads `documents/` parts with pyarrow.
Knows no engine or report.
"""
