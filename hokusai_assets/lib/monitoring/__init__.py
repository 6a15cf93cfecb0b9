"""Monitoring: data drift of a contribution against the baseline (Evidently)."""
