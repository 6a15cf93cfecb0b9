"""Dagster wiring: thin functions that load inputs, call lib, and attach metadata."""
