"""Resources: everything that touches the outside (settings, storage) lives here."""

import io
import json
import os
from pathlib import Path
from typing import Any

import dagster as dg

from hokusai_assets.config import Settings, load_settings
from hokusai_assets.lib.pii import PiiKey, load_or_create_key
from hokusai_assets.lib.sign import AttesterKeys, load_or_create_attester_keys
from hokusai_assets.lib.store import ContributionStore, atomic_write_bytes


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


class _FileIOManager(dg.ConfigurableIOManager):
    """One file per asset (per partition), written atomically under ``base_dir``."""

    base_dir: str
    suffix: str = ""

    def _path(self, context: dg.OutputContext | dg.InputContext) -> Path:
        key_path = Path(self.base_dir, *context.asset_key.path)
        if context.has_asset_partitions:
            return key_path / f"{context.asset_partition_key}{self.suffix}"
        return key_path.with_name(key_path.name + self.suffix)

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
        from hokusai_assets.lib.train import model_from_bytes

        return model_from_bytes(data)


class JsonIOManager(_FileIOManager):
    """JSON documents in RFC 8785 canonical form, so equal values are equal bytes."""

    suffix: str = ".json"

    def encode(self, obj: Any) -> bytes:
        from hokusai_assets.lib.commit import canonical_json

        return canonical_json(obj)

    def decode(self, data: bytes) -> Any:
        return json.loads(data)


def build_resources(config_path: str, home: str) -> dict[str, Any]:
    storage = str(Path(home) / "storage")
    return {
        "hokusai": HokusaiResource(config_path=config_path, home=home),
        "table_io_manager": ParquetIOManager(base_dir=storage),
        "model_io_manager": ModelIOManager(base_dir=storage),
        "json_io_manager": JsonIOManager(base_dir=storage),
    }
