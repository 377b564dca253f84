"""Layer checks: one record per layer kind a course asks you to derive, and its numerics."""
