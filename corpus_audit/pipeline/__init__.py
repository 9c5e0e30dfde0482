"""One scan from start to finish: the stages in order, the top of the flow below the API.

read (`io`) -> detect per batch (`scan`) -> join (`dedup`) -> estimate (`estimate`) ->
project (`collapse`) -> report (`report`). `run.Scan` drives them over an engine;
`assemble` merges the shards' results. May import every stage; no stage imports it.
"""
