"""The dynamic partitions of the graph: one per contribution."""

import dagster as dg

# One partition per contribution, keyed by content: c-<first 16 hex of the file's SHA-256>.
contributions = dg.DynamicPartitionsDefinition(name="contributions")
