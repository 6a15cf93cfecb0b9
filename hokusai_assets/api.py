"""The Python API of the model lifecycle: versions, aliases, promotion and prediction.

    from hokusai_assets.api import ModelRegistry

    registry = ModelRegistry()                      # hokusai.yaml and HOKUSAI_HOME as the CLI finds them
    registry.versions()                             # every version: aliases, attestation, DeltaOne, data roots
    registry.promote("3", actor="ana", reason="beats v2 on the benchmark")
    registry.promote("3", alias="staging", actor="ana", reason="try it")
    registry.predict([{"f01": 0.3, ...}])            # the champion; or alias="staging" / version="2"
    registry.rollback(actor="ana", reason="latency")

    from hokusai_assets.api import Experiments

    experiments = Experiments()                     # the same hokusai.yaml and HOKUSAI_HOME
    started = experiments.start("new-ranker", a="champion", b="challenger", split="90/10",
                                metric="conversion", kind="binary", actor="ana",
                                guardrails=["latency_p99_ms<=50"], auto_rollback=True)
    experiments.record_outcome(started["id"], unit_id="user-17", event_id="order-1", value=1)
    experiments.status(started["id"])["decision"]   # {"outcome": "continue", "detail": ...}
    experiments.stop(started["id"], actor="ana", reason="enough")

Promotion goes through the same gates as ``hokusai models promote`` (the attestation verifies
against this home's attester key and binds this model's digest; the delta was accepted;
approval when ``tracking.require_approval`` is set); predictions go through the same
verified loading and digest-keyed cache as ``hokusai serve``. Experiments are the ones
``hokusai ab`` starts and ``hokusai serve`` routes.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hokusai_assets.lib.registry.promotion import CHAMPION
from hokusai_assets.lib.serving.requests import parse_rows
from hokusai_assets.lib.serving.scoring import score_rows
from hokusai_assets.services.serving.cache_store import InProcessStore
from hokusai_assets.services.serving.catalogue import ModelCatalogue, Resolved
from hokusai_assets.services.serving.predictions import predict_now
from hokusai_assets.services.serving.pseudonyms import RequestPiiKey
from hokusai_assets.settings.load import Settings, load_settings


def _plain_cell(value: Any, nullable: bool) -> Any:
    """A frame cell as the plain value a request has (numpy scalars unwrapped); a missing cell of
    a feature that may be missing is None."""
    if nullable and not isinstance(value, str) and value is not None:
        import pandas as pd

        if pd.api.types.is_scalar(value) and pd.isna(value):
            return None
    return value.item() if hasattr(value, "item") else value


@dataclass(frozen=True)
class ModelVersion:
    version: str
    aliases: list[str]
    partition: str | None
    model_digest: str | None
    accepted: bool | None
    delta_one_bps: int | None
    attestation_verified: bool
    attestation_detail: str
    data_roots: dict[str, str] = field(default_factory=dict)  # contribution, baseline/improved training, benchmark


class ModelRegistry:
    """One task's registered models (the MLflow registry under its HOKUSAI_HOME)."""

    def __init__(self, config_path: str | Path | None = None, home: str | Path | None = None, *, settings: Settings | None = None):
        self.settings = settings or load_settings(
            config_path=Path(config_path) if config_path else None, home=Path(home) if home else None
        )
        self.name = self.settings.config.registered_model_name
        self._catalogue = ModelCatalogue(self.settings)
        serving = self.settings.config.serving
        self._cache = InProcessStore(serving.cache_max_entries, serving.cache_ttl_seconds)
        self._pii_key = RequestPiiKey(self.settings, os.environ)

    def versions(self) -> list[ModelVersion]:
        """Every registered version, newest first, with its attestation checked now."""
        from hokusai_assets.services.model_registry import attestation_status, list_models

        listed = []
        for row in list_models(self.settings):
            status = attestation_status(self.settings, row["partition"], row["model_digest"])
            roots = {}
            if status.predicate is not None:
                p = status.predicate
                roots = {
                    "contribution": p.contribution.data_root,
                    "baseline_training": p.baseline.training_data_root,
                    "improved_training": p.improved.training_data_root,
                    "benchmark": p.benchmark_data_root,
                }
            listed.append(
                ModelVersion(
                    version=row["version"],
                    aliases=list(row["aliases"]),
                    partition=row["partition"],
                    model_digest=row["model_digest"],
                    accepted=row["accepted"],
                    delta_one_bps=row["delta_one_bps"],
                    attestation_verified=status.verified,
                    attestation_detail=status.detail,
                    data_roots=roots,
                )
            )
        return listed

    def resolve(self, alias: str | None = CHAMPION, version: str | None = None) -> Resolved:
        """The version (and model digest) an alias names now, or a version by number."""
        self._catalogue.refresh()
        return self._catalogue.resolve(alias=None if version else alias, version=version)

    def promote(self, version: str | int, *, actor: str, reason: str, approved: bool = False, alias: str = CHAMPION) -> dict:
        """Make ``version`` the champion, or point ``alias`` (staging, production, ...) at it. Returns the audit line."""
        from hokusai_assets.services.model_registry import promote_version

        return promote_version(self.settings, str(version), actor=actor, reason=reason, approved=approved, alias=alias)

    def rollback(self, *, actor: str, reason: str) -> dict:
        """Champion back to previous-champion. Returns the audit line."""
        from hokusai_assets.services.model_registry import rollback_champion

        return rollback_champion(self.settings, actor=actor, reason=reason)

    def predict(
        self, data: Any, alias: str | None = CHAMPION, version: str | int | None = None
    ) -> list[dict[str, Any]]:
        """Predictions for ``data``, each naming its version and digest.

        ``data`` is a DataFrame (its feature columns are read, others ignored) or a list of
        dicts holding exactly the features, as a request to ``hokusai serve`` would.
        """
        if hasattr(data, "to_dict"):
            # A frame may carry more than the features (a label, an id): the model reads its features.
            # Its cells are numpy scalars: made the plain values a request has, exactly (no JSON round trip).
            schema = self.settings.schema
            present = [name for name in schema.feature_names if name in data.columns]
            # Features that may be missing (categories, texts, imputed numbers): NaN / pd.NA is null.
            nullable = {name for name, kind in schema.features if kind in ("category", "text")} | set(schema.imputation_of)
            records = [
                {name: _plain_cell(value, name in nullable) for name, value in row.items()}
                for row in data[present].to_dict(orient="records")
            ]
        else:
            records = list(data)
        serving = self.settings.config.serving
        rows = parse_rows(
            {"records": [dict(r) for r in records]},
            self.settings.schema,
            max(serving.max_rows, len(records)),
            self._pii_key.get(),
        )
        resolved = self.resolve(alias, None if version is None else str(version))
        answers = predict_now(self._cache, resolved, rows, lambda r, misses: score_rows(self._catalogue.model(r), misses))
        # Copies: the answers are the cache's own values.
        return [{**copy.deepcopy(a), "version": resolved.version, "model_digest": resolved.model_digest} for a in answers]


class Experiments:
    """A/B experiments on one task's model: what ``hokusai ab`` does, from Python.

    Routing by unit id happens in ``hokusai serve``; ``record_outcome`` writes to the same
    store as the server's outcomes endpoint (idempotent by event id).
    """

    def __init__(self, config_path: str | Path | None = None, home: str | Path | None = None, *, settings: Settings | None = None):
        self.settings = settings or load_settings(
            config_path=Path(config_path) if config_path else None, home=Path(home) if home else None
        )

    def start(
        self, name: str, *, metric: str, kind: str, actor: str, a: str = CHAMPION, b: str = "challenger",
        split: str = "50/50", guardrails: Sequence[str] = (), **options: Any,
    ) -> dict[str, Any]:
        """Start experiment ``name``; returns it (``["id"]`` names it). ``options``: shadow, min_units,
        guardrail_min_requests, alpha, higher_is_better, auto_promote, auto_rollback."""
        from hokusai_assets.services.experiments.lifecycle import start_experiment

        return start_experiment(
            self.settings, name, a=a, b=b, split=split, metric=metric, kind=kind, actor=actor,
            guardrails=tuple(guardrails), **options,
        ).summary()

    def status(self, experiment: str | None = None) -> dict[str, Any]:
        """Arms, test, sample-ratio check, guardrails and decision, computed now (the running one by default)."""
        from hokusai_assets.services.experiments.lifecycle import status

        return status(self.settings, experiment)

    def stop(self, experiment: str, *, actor: str, reason: str) -> dict[str, Any]:
        from hokusai_assets.services.experiments.lifecycle import stop_experiment

        return stop_experiment(self.settings, experiment, actor=actor, reason=reason).summary()

    def list(self) -> list[dict[str, Any]]:
        from hokusai_assets.services.experiments.lifecycle import open_store

        return [e.summary() for e in open_store(self.settings).list(self.settings.config.registered_model_name)]

    def record_outcome(self, experiment: str, *, unit_id: str, event_id: str, value: float) -> str:
        """``recorded``, or ``duplicate`` when this event id was recorded before."""
        from hokusai_assets.lib.experiments.outcomes import parse_outcomes
        from hokusai_assets.services.experiments.lifecycle import open_store, record_outcomes

        store = open_store(self.settings)
        stored = store.get(experiment)
        events = parse_outcomes({"unit_id": unit_id, "event_id": event_id, "value": value}, stored.spec.kind)
        return record_outcomes(store, stored, events)[0]
