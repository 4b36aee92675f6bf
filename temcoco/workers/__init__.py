"""Ray actors and the per-clip work they run."""
