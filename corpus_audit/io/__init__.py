"""Reading inputs and keeping `--out`: the first stage, and the floor every other stage stands on.

Owns: resolving INPUT into sources (`sources`), streaming them in batches (`readers`),
labelled sets for training and calibration (`labelled`), in-memory corpora spooled to
Parquet (`spool`), writes that never leave a truncated file (`atomic`), what `--out` may
hold and what the tool may delete there (`out_dir`), and the per-shard state `--resume`
reuses (`run_state`). May import: `corpus_audit.errors` and third-party libraries only;
it knows no detector, engine, estimate or report.
"""
