"""Dagster wiring: assets, checks, jobs, the sensor, resources and IO managers. Thin functions that load
inputs, call services/ and lib/, and attach metadata; may import services/, settings/ and lib/."""
