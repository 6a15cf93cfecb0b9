"""The dynamic partitions of the graph: one per contribution, reward epoch and A/B experiment."""

import warnings

import dagster as dg

# Checks partitioned like their asset are a preview feature of Dagster 1.13; the version is
# pinned (pyproject.toml) and tests cover the per-partition results, so the warning adds nothing.
warnings.filterwarnings("ignore", message="Specifying a partitions_def on an AssetCheckSpec", category=dg.PreviewWarning)

# The tag Dagster puts on a run of one partition (its value: the partition key).
PARTITION_TAG = "dagster/partition"

# One partition per contribution, keyed by content: c-<first 16 hex of the file's SHA-256>.
contributions = dg.DynamicPartitionsDefinition(name="contributions")

# One partition per reward epoch: e-0001, e-0002, ... (manual) or d-YYYY-MM-DD (daily).
reward_epochs = dg.DynamicPartitionsDefinition(name="reward_epochs")

# One partition per A/B experiment, keyed by its id: ab-<10 hex> (services/experiments/lifecycle.py).
# Added by ab_experiment_sensor (defs/ab_sensor.py) for every experiment in the store.
ab_experiments = dg.DynamicPartitionsDefinition(name="ab_experiments")
