"""The collapse-risk projection: the corpus's word spectrum carried through generations of training.

Owns: the simulation and risk grade (`projection`) and its closed forms (`closed_forms`).
May import: numpy and scipy only.
"""
