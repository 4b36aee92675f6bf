"""Prefect flows: archive fusion and its schedule."""
