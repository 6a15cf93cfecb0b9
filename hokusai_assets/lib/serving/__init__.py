"""Serving, as plain Python: request rows, the prediction cache's keys and store, micro-batches."""
