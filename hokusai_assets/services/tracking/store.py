"""The MLflow tracking store: a client for a URI, a new local store made fast, experiments.

Everything talks to MLflow through an explicit ``MlflowClient(tracking_uri)``; nothing
relies on MLflow's fluent "active run". A new local SQLite store is copied from an empty,
migrated one cached per user and MLflow version (``HOKUSAI_CACHE_DIR``), saving the 1.5 s
of schema migrations; its artifacts go beside its database.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from urllib.parse import unquote

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from hokusai_assets.lib.errors import HokusaiError


class TrackingError(HokusaiError):
    """MLflow could not record a run (store unreachable, bad input)."""

    code = "E_TRACKING"


def _local_sqlite_path(tracking_uri: str) -> Path | None:
    if not tracking_uri.startswith("sqlite:///"):
        return None
    path = unquote(tracking_uri[len("sqlite:///") :])
    return None if path in ("", ":memory:") else Path(path)


def default_artifact_location(tracking_uri: str) -> str | None:
    """A file URI beside a local SQLite store (``<dir>/artifacts``); None lets a server decide."""
    db = _local_sqlite_path(tracking_uri)
    return None if db is None else (db.parent / "artifacts").absolute().as_uri()


def _store_template() -> Path | None:
    """Where a migrated, empty SQLite store for this MLflow is cached (None: no cache dir).

    Creating a new SQLite store runs every MLflow schema migration (1.5 s here); a new
    local store is instead copied from this template, built once per user and version.
    """
    import alembic
    import sqlalchemy

    root = os.environ.get("HOKUSAI_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "hokusai_assets"
    )
    versions = f"{mlflow.__version__}-sqlalchemy{sqlalchemy.__version__}-alembic{alembic.__version__}"
    return Path(root) / f"mlflow-store-{versions}.db"


def _new_local_store(db: Path) -> None:
    """Create ``db`` from the cached template (building the template first if needed)."""
    template = _store_template()
    try:
        if not template.is_file():
            template.parent.mkdir(parents=True, exist_ok=True)
            building = template.with_name(f"{template.name}.{os.getpid()}.tmp")
            MlflowClient(tracking_uri=f"sqlite:///{building}").search_experiments(max_results=1)
            os.replace(building, template)  # whole or not at all; a concurrent builder is harmless
        copying = db.with_name(f"{db.name}.{os.getpid()}.tmp")
        shutil.copyfile(template, copying)
        os.replace(copying, db)
    except (OSError, MlflowException):
        pass  # no usable cache: MLflow creates the store itself, only slower


def tracking_client(tracking_uri: str) -> MlflowClient:
    db = _local_sqlite_path(tracking_uri)
    if db is not None:
        db.parent.mkdir(parents=True, exist_ok=True)
        if not db.exists():
            _new_local_store(db)
    return MlflowClient(tracking_uri=tracking_uri)


def ensure_experiment(client: MlflowClient, name: str, artifact_location: str | None) -> str:
    """The id of experiment ``name``, creating it (artifacts at ``artifact_location``) if new."""
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        try:
            return client.create_experiment(name, artifact_location=artifact_location)
        except MlflowException as exc:
            # Another process created it between our lookup and our create.
            experiment = client.get_experiment_by_name(name)
            if experiment is None:
                raise TrackingError(
                    f"cannot create MLflow experiment {name!r}: {exc.message}", code="E_TRACKING_EXPERIMENT"
                ) from exc
    if experiment.lifecycle_stage != "active":
        raise TrackingError(
            f"MLflow experiment {name!r} is deleted; restore it (`mlflow experiments restore "
            f"--experiment-id {experiment.experiment_id}`) or rename the task",
            code="E_TRACKING_EXPERIMENT",
        )
    return experiment.experiment_id
