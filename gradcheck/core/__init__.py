"""Pure NumPy: the network spec, one record per activation and loss, tolerances and the pass
rule, the hand-derived replica and the numerical oracle. Imports nothing above it."""
