"""MLflow tracking and the model registry: the application layer around MLflow.

Everything here talks to MLflow through an explicit ``MlflowClient(tracking_uri)`` and
explicit run ids; nothing relies on MLflow's fluent "active run". One exception is
documented where it happens: ``mlflow.pyfunc.log_model`` and the SQL registry store's
handling of a ``models:/<model id>`` source resolve the tracking URI from MLflow's
process-global setting, so :func:`log_contribution_run` sets it for the duration of those
two calls, under a lock, and restores it (and ``MLFLOW_TRACKING_URI``) afterwards.

One MLflow run per contribution partition: params, metrics and tags in one ``log_batch``;
files as run artifacts; the improved model as an MLflow 3 logged model ("models from
code", see ``mlflow_model.py``: nothing pickled), registered as a new version of the
task's model with the alias ``challenger``.

Registry lifecycle (aliases, not stages): :func:`promote` moves ``champion`` to a version
only when its attestation verified and its delta was accepted (and, if required, a human
approved), keeping the old champion as ``previous-champion``; :func:`rollback` moves
``champion`` back. Both write model-version tags and append one JSON line to an
append-only audit log, refused attempts included.

This module imports MLflow at import time (0.5 to 1 s on top of pandas); import it lazily
from Dagster definitions and the CLI. It never imports Dagster.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import mlflow
import pandas as pd
from mlflow.entities import Metric, Param, RunStatus, RunTag
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from hokusai_assets.lib.errors import HokusaiError
from hokusai_assets.lib.tracking.record import ContributionRecord, delta_metrics, write_comparison  # noqa: F401

CHAMPION = "champion"
CHALLENGER = "challenger"
PREVIOUS_CHAMPION = "previous-champion"
MODEL_ARTIFACT_NAME = "model"  # the logged model's name within the run
MLFLOW_MODEL_CODE = Path(__file__).with_name("pyfunc.py")

TAG_DAGSTER_RUN = "dagster_run_id"  # the tag dagster-mlflow uses, so both agree
TAG_PARTITION = "hokusai.partition"
TAG_KIND = "hokusai.kind"
TAG_MODEL_DIGEST = "hokusai.model_digest"
TAG_BASELINE_DIGEST = "hokusai.baseline_model_digest"
TAG_DELTA_ONE_BPS = "hokusai.delta_one_bps"
TAG_DELTA_ONE_SCORE = "hokusai.delta_one_score"
TAG_ACCEPTED = "hokusai.accepted"
TAG_PROMOTED_BY = "hokusai.promoted_by"
TAG_PROMOTION_REASON = "hokusai.promotion_reason"
TAG_PROMOTED_AT = "hokusai.promoted_at"
TAG_PREVIOUS_CHAMPION = "hokusai.previous_champion"  # the champion this version replaced
TAG_DEMOTED_BY = "hokusai.demoted_by"
TAG_DEMOTED_AT = "hokusai.demoted_at"
TAG_DEMOTION_REASON = "hokusai.demotion_reason"

# Rows of the input example stored with the model: enough to show the schema.
_EXAMPLE_ROWS = 5
# log_model and the registry's models:/ lookup read MLflow's global tracking URI;
# serialise the calls that set it (see _global_tracking_uri).
_GLOBAL_URI_LOCK = threading.Lock()


class TrackingError(HokusaiError):
    """MLflow could not record a run (store unreachable, bad input)."""

    code = "E_TRACKING"


class RegistryError(HokusaiError):
    """A registry operation was refused or is impossible (E_REGISTRY_REFUSED, ...)."""

    code = "E_REGISTRY"


# ----------------------------------------------------------------------------- locations


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


def _client(tracking_uri: str) -> MlflowClient:
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


# ----------------------------------------------------------------------------- runs


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
    if framework == "torch":
        names.append("torch")
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
    example = model.features(input_example).head(_EXAMPLE_ROWS).reset_index(drop=True)
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
    version, which :func:`promote` and :func:`list_versions` read. ``artifact_location``
    applies only when the experiment is created (default: beside a local SQLite store).

    The run ends FINISHED, or FAILED if anything after its creation fails (the error is
    re-raised; MLflow errors as :class:`TrackingError`).
    """
    from hokusai_assets.lib.commitments.digests import file_digest

    client = _client(tracking_uri)
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


# ----------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class PromotionResult:
    """What a promote or rollback did; ``audit`` is the line appended to the audit log."""

    action: str  # "promote" | "rollback"
    model_name: str
    from_version: str | None  # champion before
    to_version: str  # champion after
    previous_champion: str | None  # the previous-champion alias after
    changed: bool
    audit: dict = field(default_factory=dict)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _aliases(client: MlflowClient, model_name: str) -> dict[str, str]:
    """alias -> version of a registered model; E_REGISTRY_NO_MODEL if there is no such model."""
    try:
        registered = client.get_registered_model(model_name)
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            raise RegistryError(
                f"no registered model named {model_name!r}; a contribution run registers it (check task.name)",
                code="E_REGISTRY_NO_MODEL",
            ) from exc
        raise RegistryError(
            f"cannot read model {model_name!r} from the registry: {exc.message}", code="E_REGISTRY_FAILED"
        ) from exc
    return {alias: str(version) for alias, version in (registered.aliases or {}).items()}


def _append_audit(audit_log: Path, record: Mapping[str, Any]) -> None:
    """One JSON line, appended and fsynced; earlier lines are never touched."""
    audit_log = Path(audit_log)
    audit_log.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n"
    with open(audit_log, "a", encoding="utf-8") as handle:
        handle.write(line)
        handle.flush()
        os.fsync(handle.fileno())


def _audit_record(action: str, outcome: str, model_name: str, actor: str, reason: str, **details: Any) -> dict:
    return {
        "at": _now(),
        "action": action,
        "outcome": outcome,
        "model": model_name,
        "actor": actor,
        "reason": reason,
        **details,
    }


def _require_who_and_why(action: str, actor: str, reason: str) -> None:
    missing = [name for name, value in (("actor", actor), ("reason", reason)) if not (value or "").strip()]
    if missing:
        raise RegistryError(
            f"{action} needs {' and '.join(missing)} for the audit trail; say who is doing it and why",
            code="E_REGISTRY_REFUSED",
        )


def _get_version(client: MlflowClient, model_name: str, version: str | int) -> Any:
    try:
        return client.get_model_version(model_name, str(version))
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            raise RegistryError(
                f"model {model_name!r} has no version {version}; `hokusai models list` shows the versions",
                code="E_REGISTRY_NO_VERSION",
            ) from exc
        raise RegistryError(
            f"cannot read {model_name} version {version}: {exc.message}", code="E_REGISTRY_FAILED"
        ) from exc


def version_tags(tracking_uri: str, model_name: str, version: str | int) -> dict[str, str]:
    """The tags of one registered version (E_REGISTRY_NO_VERSION if there is none)."""
    return dict(_get_version(_client(tracking_uri), model_name, version).tags or {})


def promote(
    tracking_uri: str,
    model_name: str,
    version: str | int,
    *,
    actor: str,
    reason: str,
    attestation_verified: bool,
    delta_accepted: bool,
    require_approval: bool = False,
    approved: bool = False,
    audit_log: Path,
) -> PromotionResult:
    """Make ``version`` the champion, if its evidence allows it.

    Refused (``E_REGISTRY_REFUSED``, registry untouched, a ``refused`` line in the audit
    log) unless the attestation verified, the delta was accepted (the caller's word and,
    when present, the version's own ``hokusai.accepted`` tag) and, when
    ``require_approval``, a human approved. On success the old champion becomes
    ``previous-champion``, and ``challenger`` is dropped if it named this version.
    """
    _require_who_and_why("a promotion", actor, reason)
    client = _client(tracking_uri)
    aliases = _aliases(client, model_name)
    target = _get_version(client, model_name, version)
    target_version = str(target.version)
    from_version = aliases.get(CHAMPION)
    evidence = {
        "attestation_verified": bool(attestation_verified),
        "delta_accepted": bool(delta_accepted),
        "require_approval": bool(require_approval),
        "approved": bool(approved),
    }

    refusals = []
    if not attestation_verified:
        refusals.append("its attestation has not been verified (run `hokusai verify` on it first)")
    if not delta_accepted:
        refusals.append("its delta was not accepted")
    elif target.tags.get(TAG_ACCEPTED) == "false":
        refusals.append("the registry records its delta as rejected (tag hokusai.accepted=false)")
    if require_approval and not approved:
        refusals.append("this task requires a human approval and none was given")
    if refusals:
        _append_audit(
            audit_log,
            _audit_record(
                "promote",
                "refused",
                model_name,
                actor,
                reason,
                from_version=from_version,
                to_version=target_version,
                refusals=refusals,
                **evidence,
            ),
        )
        raise RegistryError(
            f"refusing to promote {model_name} version {target_version} to {CHAMPION}: " + "; ".join(refusals),
            code="E_REGISTRY_REFUSED",
        )

    if from_version == target_version:
        record = _audit_record(
            "promote",
            "unchanged",
            model_name,
            actor,
            reason,
            from_version=from_version,
            to_version=target_version,
            **evidence,
        )
        _append_audit(audit_log, record)
        return PromotionResult(
            "promote", model_name, from_version, target_version, aliases.get(PREVIOUS_CHAMPION), False, record
        )

    at = _now()
    try:
        if from_version is not None:
            client.set_registered_model_alias(model_name, PREVIOUS_CHAMPION, from_version)
            client.set_model_version_tag(model_name, from_version, TAG_DEMOTED_BY, actor)
            client.set_model_version_tag(model_name, from_version, TAG_DEMOTED_AT, at)
            client.set_model_version_tag(
                model_name, from_version, TAG_DEMOTION_REASON, f"replaced by version {target_version}: {reason}"
            )
        client.set_registered_model_alias(model_name, CHAMPION, target_version)
        for key, value in (
            (TAG_PROMOTED_BY, actor),
            (TAG_PROMOTION_REASON, reason),
            (TAG_PROMOTED_AT, at),
            (TAG_PREVIOUS_CHAMPION, from_version or ""),
        ):
            client.set_model_version_tag(model_name, target_version, key, value)
        if aliases.get(CHALLENGER) == target_version:
            client.delete_registered_model_alias(model_name, CHALLENGER)
    except MlflowException as exc:
        _append_audit(
            audit_log,
            _audit_record(
                "promote",
                "failed",
                model_name,
                actor,
                reason,
                from_version=from_version,
                to_version=target_version,
                error=exc.message,
                **evidence,
            ),
        )
        raise RegistryError(
            f"promotion of {model_name} version {target_version} failed: {exc.message}", code="E_REGISTRY_FAILED"
        ) from exc
    record = _audit_record(
        "promote",
        "promoted",
        model_name,
        actor,
        reason,
        from_version=from_version,
        to_version=target_version,
        **evidence,
    )
    _append_audit(audit_log, record)
    return PromotionResult("promote", model_name, from_version, target_version, from_version, True, record)


def rollback(tracking_uri: str, model_name: str, *, actor: str, reason: str, audit_log: Path) -> PromotionResult:
    """Move ``champion`` back to ``previous-champion``.

    The restored version's own ``hokusai.previous_champion`` tag (the champion it had
    replaced) becomes the new ``previous-champion``, so repeated rollbacks walk back
    through the promotion history instead of toggling between two versions.
    """
    _require_who_and_why("a rollback", actor, reason)
    client = _client(tracking_uri)
    aliases = _aliases(client, model_name)
    from_version = aliases.get(CHAMPION)
    if PREVIOUS_CHAMPION not in aliases:
        _append_audit(
            audit_log,
            _audit_record(
                "rollback",
                "refused",
                model_name,
                actor,
                reason,
                from_version=from_version,
                to_version=None,
                refusals=["no previous champion"],
            ),
        )
        raise RegistryError(
            f"{model_name} has no {PREVIOUS_CHAMPION} to roll back to (nothing was promoted over an earlier champion)",
            code="E_REGISTRY_NO_PREVIOUS",
        )
    to_version = aliases[PREVIOUS_CHAMPION]
    earlier = _get_version(client, model_name, to_version).tags.get(TAG_PREVIOUS_CHAMPION) or None
    if earlier in (to_version, from_version):
        earlier = None
    at = _now()
    try:
        client.set_registered_model_alias(model_name, CHAMPION, to_version)
        if earlier is not None:
            client.set_registered_model_alias(model_name, PREVIOUS_CHAMPION, earlier)
        else:
            client.delete_registered_model_alias(model_name, PREVIOUS_CHAMPION)
        for key, value in (
            (TAG_PROMOTED_BY, actor),
            (TAG_PROMOTION_REASON, f"rollback from version {from_version}: {reason}"),
            (TAG_PROMOTED_AT, at),
        ):
            client.set_model_version_tag(model_name, to_version, key, value)
        if from_version is not None:
            client.set_model_version_tag(model_name, from_version, TAG_DEMOTED_BY, actor)
            client.set_model_version_tag(model_name, from_version, TAG_DEMOTED_AT, at)
            client.set_model_version_tag(model_name, from_version, TAG_DEMOTION_REASON, f"rolled back: {reason}")
    except MlflowException as exc:
        _append_audit(
            audit_log,
            _audit_record(
                "rollback",
                "failed",
                model_name,
                actor,
                reason,
                from_version=from_version,
                to_version=to_version,
                error=exc.message,
            ),
        )
        raise RegistryError(f"rollback of {model_name} failed: {exc.message}", code="E_REGISTRY_FAILED") from exc
    record = _audit_record(
        "rollback",
        "rolled_back",
        model_name,
        actor,
        reason,
        from_version=from_version,
        to_version=to_version,
        previous_champion=earlier,
    )
    _append_audit(audit_log, record)
    return PromotionResult("rollback", model_name, from_version, to_version, earlier, True, record)


def list_versions(tracking_uri: str, model_name: str) -> list[dict]:
    """Every registered version of ``model_name``, newest first, with its aliases and evidence."""
    client = _client(tracking_uri)
    try:
        by_alias = _aliases(client, model_name)
    except RegistryError as exc:
        if exc.code == "E_REGISTRY_NO_MODEL":
            return []
        raise
    aliases: dict[str, list[str]] = {}
    for alias, version in by_alias.items():
        aliases.setdefault(version, []).append(alias)
    escaped = model_name.replace("'", "\\'")
    rows = []
    for mv in client.search_model_versions(f"name = '{escaped}'"):
        tags = mv.tags or {}
        bps = tags.get(TAG_DELTA_ONE_BPS)
        accepted = tags.get(TAG_ACCEPTED)
        rows.append(
            {
                "version": str(mv.version),
                "aliases": sorted(aliases.get(str(mv.version), [])),
                "run_id": mv.run_id,
                "partition": tags.get(TAG_PARTITION),
                "delta_one_bps": int(bps) if bps not in (None, "") else None,
                "accepted": None if accepted is None else accepted == "true",
                "created": datetime.fromtimestamp(mv.creation_timestamp / 1000, timezone.utc).isoformat(
                    timespec="seconds"
                ),
                "status": mv.status,
                "model_digest": tags.get(TAG_MODEL_DIGEST),
                "promoted_by": tags.get(TAG_PROMOTED_BY),
                "promotion_reason": tags.get(TAG_PROMOTION_REASON),
            }
        )
    rows.sort(key=lambda row: int(row["version"]), reverse=True)
    return rows


# ----------------------------------------------------------------------------- one contribution


def track_contribution(record: ContributionRecord) -> dict[str, Any]:
    """Write the comparison plots, then log the run and register the challenger.

    Returns the :class:`TrackedRun` fields plus ``plots`` (file name -> local path) and
    ``plot_artifacts`` (file name -> artifact URI in the run).
    """
    benchmark = pd.read_parquet(record.benchmark_file)
    plots = write_comparison(record, benchmark)
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
    if framework == "torch":
        import torch  # noqa: F401  (about 1 s; a torch model file needs it to be read back)
    # log_model checks the pip requirements against what is installed through a map of
    # every installed distribution, built once per process (about 1 s); build it now.
    from mlflow.utils.requirements_utils import _init_packages_to_modules_map

    _init_packages_to_modules_map()
    _client(tracking_uri).search_experiments(max_results=1)
