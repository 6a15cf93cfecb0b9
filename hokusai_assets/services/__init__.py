"""Services: everything that touches the outside without Dagster: the store, keys, inbox and quarantine,
attestation files, re-runs, MLflow. May import settings/ and lib/, never defs/ or entry/."""
