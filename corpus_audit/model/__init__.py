"""The detector model: training it, and its directory format that loads without executing anything.

Owns: `training` (grouped cross-validation, Platt scaling), `store` (the model directory:
save, and a load that refuses anything hostile before it costs memory), and the shipped
`default/` model. May import: `io` (labelled sets, atomic writes), `estimate` (metrics),
`detectors`.
"""
