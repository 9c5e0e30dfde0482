"""The corpus-wide near-duplicate join over the MinHash detector's per-batch arrays.

Owns: candidate pairs from LSH bands, their verification, clusters, and the labels
written back into `documents/`. May import: `io` (atomic writes), `detectors`.
"""
