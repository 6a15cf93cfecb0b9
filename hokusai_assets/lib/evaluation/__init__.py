"""Evaluation: metrics on the benchmark, the DeltaOne delta and its significance, plots and markdown."""
