"""The Python API of the model lifecycle: versions, aliases, promotion and prediction.

    from hokusai_assets.api import ModelRegistry

    registry = ModelRegistry()                      # hokusai.yaml and HOKUSAI_HOME as the CLI finds them
    registry.versions()                             # every version: aliases, attestation, DeltaOne, data roots
    registry.promote("3", actor="ana", reason="beats v2 on the benchmark")
    registry.promote("3", alias="staging", actor="ana", reason="try it")
    registry.predict([{"f01": 0.3, ...}])            # the champion; or alias="staging" / version="2"
    registry.rollback(actor="ana", reason="latency")

Promotion goes through the same gates as ``hokusai models promote`` (the attestation verifies
against this home's attester key and binds this model's digest; the delta was accepted;
approval when ``tracking.require_approval`` is set); predictions go through the same
verified loading and digest-keyed cache as ``hokusai serve``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hokusai_assets.lib.registry.promotion import CHAMPION
from hokusai_assets.lib.serving.requests import parse_rows
from hokusai_assets.lib.serving.scoring import score_rows
from hokusai_assets.services.serving.cache_store import InProcessStore
from hokusai_assets.services.serving.catalogue import ModelCatalogue, Resolved
from hokusai_assets.services.serving.predictions import predict_now
from hokusai_assets.settings.load import Settings, load_settings


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
            present = [name for name in self.settings.schema.feature_names if name in data.columns]
            records = [
                {name: value.item() if hasattr(value, "item") else value for name, value in row.items()}
                for row in data[present].to_dict(orient="records")
            ]
        else:
            records = list(data)
        serving = self.settings.config.serving
        rows = parse_rows({"records": [dict(r) for r in records]}, self.settings.schema, max(serving.max_rows, len(records)))
        resolved = self.resolve(alias, None if version is None else str(version))
        answers = predict_now(self._cache, resolved, rows, lambda r, misses: score_rows(self._catalogue.model(r), misses))
        # Copies: the answers are the cache's own values.
        return [{**copy.deepcopy(a), "version": resolved.version, "model_digest": resolved.model_digest} for a in answers]
