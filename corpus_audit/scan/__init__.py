"""Scanning shards: each batch through every detector, on this machine's processes or a Dask cluster.

Owns: one batch scored by the detectors (`batch`), one shard turned into `documents/`
parts, join arrays and partials (`shard_scan`), the engines that run that work and the
other engine jobs (`engines`: local processes, forked by `fork_server`; `dask_engine`: a
Dask cluster), the allocator settings of the processes it owns (`allocator`), how many cores it may
use (`cores`), sampling (`sampling`) and progress reporting (`progress`). May import:
`io`, `dedup` (the engines run the near-duplicate join), `detectors`. Knows no estimate,
projection or report (the fork server names their modules for its workers to preload).
"""
