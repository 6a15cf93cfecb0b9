"""One MLflow run per reward epoch: its figures as metrics, its files as artifacts.

The run lives in the task's experiment beside the contributions' runs, tagged
``hokusai.kind = epoch``; no model is registered (the epoch model is attested, not served).
Imports MLflow at import time: import it lazily from Dagster definitions and the CLI.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path

from mlflow.entities import Metric, Param, RunStatus, RunTag

from hokusai_assets.services.tracking.store import default_artifact_location, ensure_experiment, tracking_client
from hokusai_assets.services.tracking.tags import TAG_DAGSTER_RUN, TAG_KIND

TAG_EPOCH = "hokusai.epoch"


def log_epoch_run(
    *,
    tracking_uri: str,
    experiment: str,
    epoch: str,
    dagster_run_id: str | None,
    params: Mapping[str, str],
    metrics: Mapping[str, float],
    directory: Path,
) -> dict[str, str]:
    """Record the epoch as a finished run whose artifacts are the epoch's files; returns its ids."""
    client = tracking_client(tracking_uri)
    experiment_id = ensure_experiment(client, experiment, default_artifact_location(tracking_uri))
    tags = {TAG_KIND: "epoch", TAG_EPOCH: epoch, **({TAG_DAGSTER_RUN: dagster_run_id} if dagster_run_id else {})}
    run_id = client.create_run(experiment_id, run_name=f"epoch {epoch}").info.run_id
    status = RunStatus.to_string(RunStatus.FAILED)
    try:
        now = int(time.time() * 1000)
        client.log_batch(
            run_id,
            metrics=[Metric(key, float(value), now, 0) for key, value in sorted(metrics.items())],
            params=[Param(key, value) for key, value in sorted(params.items())],
            tags=[RunTag(key, value) for key, value in sorted(tags.items())],
        )
        client.log_artifacts(run_id, str(directory), artifact_path="epoch")
        status = RunStatus.to_string(RunStatus.FINISHED)
    finally:
        client.set_terminated(run_id, status=status)
    return {"run_id": run_id, "experiment_id": experiment_id}
