"""Which model answers: alias -> version -> model digest, and the verified model behind it.

``refresh()`` reads every registered version and alias from MLflow; ``resolve`` answers from
the last snapshot, so a server refreshes in the background (every
``serving.alias_refresh_seconds``) and a promotion made anywhere (CLI, API, MLflow UI) is
served within that interval. A request resolves once and keeps its ``Resolved`` to the end,
so it finishes on the version it started with.

A model is loaded at its first use only after its attestation verifies against this home's
attester keys and binds its digest, and after the stored file hashes to that digest; loaded
models are kept in a bounded LRU keyed by digest.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from hokusai_assets.lib.commitments.digests import bytes_digest
from hokusai_assets.lib.registry.promotion import CHAMPION
from hokusai_assets.lib.serving.errors import ServingError
from hokusai_assets.lib.training.model import TrainedModel, model_from_bytes
from hokusai_assets.settings.load import Settings


@dataclass(frozen=True)
class Resolved:
    """The version a request is answered by."""

    version: str
    model_digest: str
    partition: str
    via: str  # the alias asked for, or "version"


class ModelCatalogue:
    def __init__(self, settings: Settings, max_loaded: int | None = None) -> None:
        self.settings = settings
        self.name = settings.config.registered_model_name
        self.max_loaded = max_loaded or settings.config.serving.max_loaded_models
        self._lock = threading.Lock()
        self._versions: dict[str, dict[str, Any]] = {}
        self._aliases: dict[str, str] = {}
        self._loaded: OrderedDict[str, TrainedModel] = OrderedDict()
        self._refreshing = threading.Lock()  # one refresh at a time: a slower, older read never wins
        self._loading: dict[str, threading.Lock] = {}  # one load per digest at a time
        self.refreshed = False

    # ---- the registry's snapshot

    def refresh(self) -> None:
        from hokusai_assets.services.model_registry import list_models

        with self._refreshing:
            rows = list_models(self.settings)
            versions = {row["version"]: row for row in rows}
            aliases = {alias: row["version"] for row in rows for alias in row["aliases"]}
            with self._lock:
                self._versions, self._aliases, self.refreshed = versions, aliases, True

    def snapshot(self) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
        with self._lock:
            return dict(self._versions), dict(self._aliases)

    def resolve(self, alias: str | None = None, version: str | None = None) -> Resolved:
        versions, aliases = self.snapshot()
        if version is not None:
            if version not in versions:
                known = ", ".join(sorted(versions, key=int)) or "none"
                raise ServingError(
                    f"{self.name} has no version {version[:20]!r} (registered: {known})",
                    code="E_SERVE_UNKNOWN_VERSION",
                    status=404,
                )
            row, via = versions[version], "version"
        else:
            alias = alias or CHAMPION
            if aliases.get(alias) not in versions:
                known = ", ".join(sorted(aliases)) or "none yet: promote a version first (hokusai models promote)"
                raise ServingError(
                    f"{self.name} has no alias {alias[:40]!r} (aliases: {known})", code="E_SERVE_UNKNOWN_ALIAS", status=404
                )
            row, via = versions[aliases[alias]], alias
        if not row.get("model_digest") or not row.get("partition"):
            raise ServingError(
                f"{self.name} version {row['version']} has no model digest or partition tag: it cannot be verified",
                code="E_SERVE_MODEL_UNVERIFIED",
                status=409,
            )
        return Resolved(row["version"], row["model_digest"], row["partition"], via)

    # ---- verified models

    def model(self, resolved: Resolved) -> TrainedModel:
        with self._lock:
            loading = self._loading.setdefault(resolved.model_digest, threading.Lock())
        with loading:  # a second caller waits for the first load instead of verifying again
            model = self.loaded_model(resolved)
            if model is not None:
                return model
            model = self._load_verified(resolved)
            with self._lock:
                self._loaded[resolved.model_digest] = model
                while len(self._loaded) > self.max_loaded:
                    self._loaded.popitem(last=False)
            return model

    def loaded_model(self, resolved: Resolved) -> TrainedModel | None:
        """The model if it is loaded already (no verification, no I/O), else None."""
        with self._lock:
            model = self._loaded.get(resolved.model_digest)
            if model is not None:
                self._loaded.move_to_end(resolved.model_digest)
            return model

    def loaded_digests(self) -> list[str]:
        with self._lock:
            return list(self._loaded)

    def _load_verified(self, resolved: Resolved) -> TrainedModel:
        from hokusai_assets.services.model_registry import attestation_status

        status = attestation_status(self.settings, resolved.partition, resolved.model_digest)
        if not status.verified:
            raise ServingError(
                f"{self.name} version {resolved.version} is not served: its attestation does not check out ({status.detail})",
                code="E_SERVE_MODEL_UNVERIFIED",
                status=409,
            )
        path = self.settings.layout.model_file("improved_model", resolved.partition)
        data = path.read_bytes() if path.is_file() else b""
        if bytes_digest(data) != resolved.model_digest:
            raise ServingError(
                f"{self.name} version {resolved.version}: the stored model file {path.name} is missing or is not the attested "
                f"model {resolved.model_digest}; re-evaluate the contribution",
                code="E_SERVE_MODEL_UNVERIFIED",
                status=409,
            )
        return model_from_bytes(data)  # the bytes that were hashed, not a second read
