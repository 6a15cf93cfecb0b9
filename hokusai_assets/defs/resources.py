"""Resources: everything that touches the outside (settings, storage) lives here."""

import io
import json
import os
from pathlib import Path
from typing import Any

import dagster as dg

from hokusai_assets.lib.attestation.signing import AttesterKeys, load_or_create_attester_keys
from hokusai_assets.lib.files import atomic_write_bytes
from hokusai_assets.lib.intake.pii import PiiKey, load_or_create_key
from hokusai_assets.services.store import ContributionStore
from hokusai_assets.settings.config import Settings, load_settings
from hokusai_assets.settings.layout import tracking_uri_for


class HokusaiResource(dg.ConfigurableResource):
    """This deployment's settings and secrets: which hokusai.yaml, which HOKUSAI_HOME.

    Keys come from the environment (HOKUSAI_PII_KEY, HOKUSAI_STORE_KEY) or from
    HOKUSAI_HOME/keys, read when a run needs them, never at import.
    """

    config_path: str
    home: str

    def load(self) -> Settings:
        # Parsed per use, not cached: a code-location reload must see an edited config.
        return load_settings(config_path=self.config_path, home=self.home)

    def store(self) -> ContributionStore:
        return ContributionStore.open(Path(self.home), os.environ)

    def pii_key(self) -> PiiKey:
        return load_or_create_key(Path(self.home) / "keys", os.environ)

    def attester_keys(self) -> AttesterKeys:
        return load_or_create_attester_keys(Path(self.home) / "keys", os.environ)


class TrackingResource(dg.ConfigurableResource):
    """Where MLflow runs go, and how to get them there quickly.

    ``tracking_uri`` empty means: ``MLFLOW_TRACKING_URI`` if set, else the SQLite store under
    ``HOKUSAI_HOME/mlflow`` (resolved when a run needs it). ``worker_address`` is set by the
    headless runner, which starts a warm tracking worker (``tracking_worker.py``) before the
    graph; without one, runs are logged in this process.
    """

    home: str
    tracking_uri: str = ""
    worker_address: str = ""

    def resolved_uri(self) -> str:
        return self.tracking_uri or tracking_uri_for(Path(self.home), os.environ)

    def track(self, record: dict, log: Any) -> dict:
        """Log one ContributionRecord (as JSON); returns what ``tracking.track_contribution`` does."""
        if self.worker_address:
            from hokusai_assets.services.tracking.worker import WorkerUnavailable, request_tracking

            try:
                return request_tracking(self.worker_address, record)
            except WorkerUnavailable as exc:
                log.warning(f"{exc.message}; logging to MLflow in this process instead")
        from hokusai_assets.services.tracking.worker import WORKER_ENVIRONMENT

        for name, value in WORKER_ENVIRONMENT.items():
            os.environ.setdefault(name, value)
        from hokusai_assets.services.tracking import runs as tracking

        return tracking.track_contribution(tracking.ContributionRecord.from_json(record))


def stored_file(base_dir: str | Path, asset_name: str, partition: str | None, suffix: str) -> Path:
    """Where the file IO managers keep an asset's value (one file per partition)."""
    key_path = Path(base_dir, asset_name)
    if partition is not None:
        return key_path / f"{partition}{suffix}"
    return key_path.with_name(key_path.name + suffix)


class _FileIOManager(dg.ConfigurableIOManager):
    """One file per asset (per partition), written atomically under ``base_dir``."""

    base_dir: str
    suffix: str = ""

    def _path(self, context: dg.OutputContext | dg.InputContext) -> Path:
        partition = context.asset_partition_key if context.has_asset_partitions else None
        return stored_file(Path(self.base_dir, *context.asset_key.path[:-1]), context.asset_key.path[-1], partition, self.suffix)

    def encode(self, obj: Any) -> bytes:
        raise NotImplementedError

    def decode(self, data: bytes) -> Any:
        raise NotImplementedError

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        path = self._path(context)
        data = self.encode(obj)
        atomic_write_bytes(path, data)
        context.add_output_metadata({"path": dg.MetadataValue.path(str(path)), "size_bytes": len(data)})

    def load_input(self, context: dg.InputContext) -> Any:
        path = self._path(context)
        if not path.is_file():
            raise FileNotFoundError(f"{context.asset_key.to_user_string()} has not been materialised: {path} is missing")
        return self.decode(path.read_bytes())


class ParquetIOManager(_FileIOManager):
    """DataFrames as Parquet (pyarrow), without the pandas index."""

    suffix: str = ".parquet"

    def encode(self, obj: Any) -> bytes:
        import pyarrow as pa
        import pyarrow.parquet as pq

        sink = io.BytesIO()
        pq.write_table(pa.Table.from_pandas(obj, preserve_index=False), sink)
        return sink.getvalue()

    def decode(self, data: bytes) -> Any:
        import pyarrow.parquet as pq

        return pq.read_table(io.BytesIO(data)).to_pandas()


class ModelIOManager(_FileIOManager):
    """Trained models as hokusai safetensors model files (never pickle)."""

    suffix: str = ".safetensors"

    def encode(self, obj: Any) -> bytes:
        return obj.to_bytes()

    def decode(self, data: bytes) -> Any:
        from hokusai_assets.lib.training.trainers import model_from_bytes

        return model_from_bytes(data)


class JsonIOManager(_FileIOManager):
    """JSON documents in RFC 8785 canonical form, so equal values are equal bytes."""

    suffix: str = ".json"

    def encode(self, obj: Any) -> bytes:
        from hokusai_assets.lib.commitments.canonical import canonical_json

        return canonical_json(obj)

    def decode(self, data: bytes) -> Any:
        return json.loads(data)


def build_resources(config_path: str, home: str, tracking: TrackingResource | None = None) -> dict[str, Any]:
    storage = str(Path(home) / "storage")
    return {
        "hokusai": HokusaiResource(config_path=config_path, home=home),
        "mlflow_tracking": tracking or TrackingResource(home=home),
        "table_io_manager": ParquetIOManager(base_dir=storage),
        "model_io_manager": ModelIOManager(base_dir=storage),
        "json_io_manager": JsonIOManager(base_dir=storage),
    }
