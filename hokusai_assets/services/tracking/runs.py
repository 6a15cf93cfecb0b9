"""One MLflow run per contribution: params, metrics, plots and artifacts, and its model registered as challenger.

Params, metrics and tags go in one ``log_batch``; files as run artifacts; the improved
model as an MLflow 3 logged model ("models from code", see ``pyfunc.py``: nothing
pickled), registered as a new version of the task's model with the alias ``challenger``.
``mlflow.pyfunc.log_model`` and the SQL registry store's handling of a ``models:/<model
id>`` source resolve the tracking URI from MLflow's process-global setting, so
:func:`log_contribution_run` sets it for the duration of those two calls, under a lock,
and restores it (and ``MLFLOW_TRACKING_URI``) afterwards.

This module imports MLflow at import time (0.5 to 1 s on top of pandas); import it lazily
from Dagster definitions and the CLI.
"""

from __future__ import annotations

import importlib
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import mlflow
import pandas as pd
from mlflow.entities import Metric, Param, RunStatus, RunTag
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from hokusai_assets.lib.files import atomic_write_bytes
from hokusai_assets.lib.registry.promotion import CHALLENGER
from hokusai_assets.lib.tracking.record import ContributionRecord, comparison_figures
from hokusai_assets.services.tracking.store import (
    TrackingError,
    default_artifact_location,
    ensure_experiment,
    tracking_client,
)
from hokusai_assets.services.tracking.tags import (
    TAG_ACCEPTED,
    TAG_BASELINE_DIGEST,
    TAG_DAGSTER_RUN,
    TAG_DELTA_ONE_BPS,
    TAG_DELTA_ONE_SCORE,
    TAG_KIND,
    TAG_MODEL_DIGEST,
    TAG_PARTITION,
)

MODEL_ARTIFACT_NAME = "model"  # the logged model's name within the run
MLFLOW_MODEL_CODE = Path(__file__).with_name("pyfunc.py")
# Rows of the input example stored with the model: enough to show the schema.
_EXAMPLE_ROWS = 5
# log_model and the registry's models:/ lookup read MLflow's global tracking URI;
# serialise the calls that set it (see _global_tracking_uri).
_GLOBAL_URI_LOCK = threading.Lock()


@dataclass(frozen=True)
class TrackedRun:
    """Where a contribution's MLflow run and model version live."""

    run_id: str
    experiment_id: str
    model_name: str
    model_version: str
    model_uri: str  # models:/<name>/<version>
    logged_model_id: str
    artifact_uri: str  # the run's artifact root (a file:// URI for the local store)
    run_url: str | None  # a link into the MLflow UI when the tracking URI is a server

    def as_metadata(self) -> dict[str, str]:
        return {k: v for k, v in asdict(self).items() if v is not None}


def _run_url(tracking_uri: str, experiment_id: str, run_id: str) -> str | None:
    parsed = urlparse(tracking_uri)
    if parsed.scheme not in ("http", "https"):
        return None
    # Never put credentials from the URI into metadata that the UI shows.
    host = parsed.hostname or ""
    netloc = f"{host}:{parsed.port}" if parsed.port else host
    base = f"{parsed.scheme}://{netloc}{parsed.path.rstrip('/')}"
    return f"{base}/#/experiments/{experiment_id}/runs/{run_id}"


def _pip_requirements(framework: str) -> list[str]:
    """An explicit, short list: MLflow infers one by loading the model otherwise (seconds)."""
    names = ["mlflow", "numpy", "pandas", "safetensors", "scikit-learn", "hokusai_assets"]
    # The distribution that provides the framework's module (xgboost comes as its CPU-only build).
    names += {"torch": ["torch"], "xgboost": ["xgboost-cpu"], "lightgbm": ["lightgbm"]}.get(framework, [])
    requirements = []
    for name in names:
        try:
            requirements.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            requirements.append(name)
    return requirements


def _stage_artifacts(artifacts: Mapping[str, Path], into: Path) -> None:
    """Lay the files out as they should appear in the run (name -> relative path)."""
    for name, source in artifacts.items():
        relative = Path(name)
        if relative.is_absolute() or ".." in relative.parts or not relative.parts:
            raise TrackingError(
                f"artifact name {name!r} must be a relative path inside the run", code="E_TRACKING_ARTIFACT"
            )
        source = Path(source)
        target = into / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target)
        elif source.is_file():
            shutil.copyfile(source, target)
        else:
            raise TrackingError(f"artifact {name!r}: {source} does not exist", code="E_TRACKING_ARTIFACT")


@contextmanager
def _global_tracking_uri(tracking_uri: str) -> Iterator[None]:
    """Point MLflow's process-global tracking URI at ``tracking_uri`` for one call.

    ``mlflow.pyfunc.log_model`` (through ``mlflow.models.Model.log``) has no tracking-URI
    argument: it builds its client from the global URI. ``mlflow.set_tracking_uri`` also
    writes ``MLFLOW_TRACKING_URI`` into the environment and, reset to None, deletes it, so
    both are saved and restored here.
    """
    from mlflow.tracking._tracking_service import utils as tracking_utils

    with _GLOBAL_URI_LOCK:
        saved_uri = tracking_utils._tracking_uri
        saved_env = os.environ.get("MLFLOW_TRACKING_URI")
        mlflow.set_tracking_uri(tracking_uri)
        try:
            yield
        finally:
            mlflow.set_tracking_uri(saved_uri)
            if saved_env is None:
                os.environ.pop("MLFLOW_TRACKING_URI", None)
            else:
                os.environ["MLFLOW_TRACKING_URI"] = saved_env


def _log_pyfunc_model(
    client: MlflowClient,
    *,
    experiment_id: str,
    run_id: str,
    model_file: Path,
    input_example: pd.DataFrame,
) -> Any:
    """Log ``model_file`` as an MLflow 3 logged model of ``run_id``; returns its ModelInfo.

    Call inside :func:`_global_tracking_uri`.
    """
    from mlflow.entities import LoggedModelOutput
    from mlflow.models import infer_signature

    from hokusai_assets.lib.training.model import model_from_bytes

    model = model_from_bytes(Path(model_file).read_bytes())
    if model.encoder is None:
        example = model.features(input_example).head(_EXAMPLE_ROWS).reset_index(drop=True)
    else:
        # The pyfunc reads raw features (strings, missing values) and encodes them itself.
        example = input_example[model.feature_names].head(_EXAMPLE_ROWS).reset_index(drop=True)
    # What the logged pyfunc (pyfunc.py) returns for these rows.
    signature = infer_signature(example, model.predict_features(example))

    # The logged model is created here, in the run's experiment and linked to the run,
    # so log_model needs neither an active run nor the fluent experiment (without an
    # active run it would otherwise file the model under the default experiment).
    logged = client.create_logged_model(experiment_id=experiment_id, name=MODEL_ARTIFACT_NAME, source_run_id=run_id)
    info = mlflow.pyfunc.log_model(
        name=MODEL_ARTIFACT_NAME,
        model_id=logged.model_id,
        python_model=str(MLFLOW_MODEL_CODE),
        artifacts={"model_file": str(model_file)},
        signature=signature,
        input_example=example,
        pip_requirements=_pip_requirements(model.framework),
    )
    client.log_outputs(run_id, [LoggedModelOutput(model_id=logged.model_id, step=0)])
    return info


def _register_version(
    client: MlflowClient, model_name: str, *, source: str, run_id: str, model_id: str, tags: Mapping[str, str]
) -> Any:
    try:
        client.create_registered_model(model_name, description="Hokusai: one version per evaluated contribution")
    except MlflowException as exc:
        if exc.error_code not in ("RESOURCE_ALREADY_EXISTS", "ALREADY_EXISTS"):
            raise
    version = client.create_model_version(
        model_name, source=source, run_id=run_id, tags=dict(tags), model_id=model_id, await_creation_for=0
    )
    client.set_registered_model_alias(model_name, CHALLENGER, version.version)
    return version


def log_contribution_run(
    *,
    tracking_uri: str,
    experiment: str,
    partition: str,
    dagster_run_id: str | None,
    params: Mapping[str, str | int | float],
    metrics: Mapping[str, float],
    artifacts: Mapping[str, Path],
    improved_model_file: Path,
    baseline_model_file: Path,
    input_example: pd.DataFrame,
    model_name: str,
    delta: Mapping[str, Any] | None = None,
    artifact_location: str | None = None,
) -> TrackedRun:
    """Record one contribution's evaluation as a finished MLflow run and a challenger version.

    ``experiment`` is the task name; ``artifacts`` maps names inside the run (relative
    paths, e.g. ``"delta/delta_result.json"``) to local files or folders. ``delta`` (the
    delta dict) adds ``hokusai.delta_one_bps`` / ``hokusai.accepted`` tags to the model
    version, which the registry (``registry.py``) reads. ``artifact_location``
    applies only when the experiment is created (default: beside a local SQLite store).

    The run ends FINISHED, or FAILED if anything after its creation fails (the error is
    re-raised; MLflow errors as :class:`TrackingError`).
    """
    from hokusai_assets.lib.commitments.digests import file_digest

    client = tracking_client(tracking_uri)
    location = artifact_location if artifact_location is not None else default_artifact_location(tracking_uri)
    experiment_id = ensure_experiment(client, experiment, location)
    improved_digest = file_digest(improved_model_file)
    baseline_digest = file_digest(baseline_model_file)
    tags = {
        TAG_PARTITION: partition,
        TAG_KIND: "contribution",
        TAG_MODEL_DIGEST: improved_digest,
        TAG_BASELINE_DIGEST: baseline_digest,
        "hokusai.model_name": model_name,
    }
    if dagster_run_id:
        tags[TAG_DAGSTER_RUN] = dagster_run_id
    run = client.create_run(experiment_id, run_name=partition)
    run_id = run.info.run_id
    try:
        now = int(time.time() * 1000)
        client.log_batch(
            run_id,
            metrics=[Metric(key, float(value), now, 0) for key, value in sorted(metrics.items())],
            params=[Param(key, str(value)) for key, value in sorted(params.items())],
            tags=[RunTag(key, value) for key, value in sorted(tags.items())],
        )
        with tempfile.TemporaryDirectory(prefix="hokusai-mlflow-") as staging:
            staged = Path(staging)
            _stage_artifacts(
                {
                    **artifacts,
                    "models/improved.safetensors": Path(improved_model_file),
                    "models/baseline.safetensors": Path(baseline_model_file),
                },
                staged,
            )
            client.log_artifacts(run_id, str(staged))
        version_tags = {TAG_PARTITION: partition, TAG_MODEL_DIGEST: improved_digest}
        if dagster_run_id:
            version_tags[TAG_DAGSTER_RUN] = dagster_run_id
        if delta is not None:
            version_tags[TAG_DELTA_ONE_BPS] = str(int(delta.get("delta_one_bps", 0)))
            version_tags[TAG_ACCEPTED] = "true" if delta.get("accepted") else "false"
            if delta.get("delta_one_score") is not None:
                version_tags[TAG_DELTA_ONE_SCORE] = repr(float(delta["delta_one_score"]))
        # Both need MLflow's global tracking URI (see _global_tracking_uri): log_model has no
        # URI argument, and the SQL registry store looks a "models:/<id>" source up through a
        # default MlflowClient().
        with _global_tracking_uri(tracking_uri):
            info = _log_pyfunc_model(
                client,
                experiment_id=experiment_id,
                run_id=run_id,
                model_file=Path(improved_model_file),
                input_example=input_example,
            )
            version = _register_version(
                client, model_name, source=info.model_uri, run_id=run_id, model_id=info.model_id, tags=version_tags
            )
    except BaseException as exc:
        try:
            client.set_terminated(run_id, RunStatus.to_string(RunStatus.FAILED))
        except Exception:  # the original error matters more than a failed status update
            pass
        if isinstance(exc, MlflowException):
            raise TrackingError(
                f"MLflow could not record partition {partition}: {exc.message}", code="E_TRACKING_FAILED"
            ) from exc
        raise
    client.set_terminated(run_id, RunStatus.to_string(RunStatus.FINISHED))
    return TrackedRun(
        run_id=run_id,
        experiment_id=experiment_id,
        model_name=model_name,
        model_version=str(version.version),
        model_uri=f"models:/{model_name}/{version.version}",
        logged_model_id=info.model_id,
        artifact_uri=run.info.artifact_uri,
        run_url=_run_url(tracking_uri, experiment_id, run_id),
    )


def track_contribution(record: ContributionRecord) -> dict[str, Any]:
    """Write the comparison plots, then log the run and register the challenger.

    Returns the :class:`TrackedRun` fields plus ``plots`` (file name -> local path) and
    ``plot_artifacts`` (file name -> artifact URI in the run).
    """
    benchmark = pd.read_parquet(record.benchmark_file)
    plots = {}
    for name, data in comparison_figures(record, benchmark).items():
        plots[name] = Path(record.plots_dir) / name
        atomic_write_bytes(plots[name], data)
    artifacts = {name: Path(path) for name, path in record.artifacts.items()}
    artifacts.update({f"comparison/{name}": path for name, path in plots.items()})
    tracked = log_contribution_run(
        tracking_uri=record.tracking_uri,
        experiment=record.experiment,
        partition=record.partition,
        dagster_run_id=record.dagster_run_id,
        params=record.params,
        metrics=record.metrics,
        artifacts=artifacts,
        improved_model_file=Path(record.improved_model_file),
        baseline_model_file=Path(record.baseline_model_file),
        input_example=benchmark,
        model_name=record.model_name,
        delta=record.delta,
    )
    return {
        **tracked.as_metadata(),
        "plots": {name: str(path) for name, path in plots.items()},
        "plot_artifacts": {name: f"{tracked.artifact_uri}/comparison/{name}" for name in plots},
    }


def warm_up(tracking_uri: str, framework: str = "sklearn") -> None:
    """Pay the one-time costs now: MLflow's model-logging imports, Matplotlib, scikit-learn,
    the map of installed packages, and the creation of a new SQLite store."""
    import mlflow.pyfunc  # noqa: F401
    from mlflow.models import infer_signature  # noqa: F401

    from hokusai_assets.lib.evaluation.plots import warm_up as warm_up_plots

    warm_up_plots()
    # Reading the models back (for the plots and the signature) needs scikit-learn's classes.
    from hokusai_assets.lib.training.sklearn_files import warm_up as warm_up_models

    warm_up_models()
    if framework in ("torch", "xgboost", "lightgbm"):
        # About 1 s each; a model file of that framework needs its library to be read back.
        importlib.import_module(framework)
    # log_model checks the pip requirements against what is installed through a map of
    # every installed distribution, built once per process (about 1 s); build it now.
    from mlflow.utils.requirements_utils import _init_packages_to_modules_map

    _init_packages_to_modules_map()
    tracking_client(tracking_uri).search_experiments(max_results=1)
