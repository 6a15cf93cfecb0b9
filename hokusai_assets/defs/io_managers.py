"""IO managers: one file per asset (per partition) where the home's layout says, written atomically.

Tables are Parquet, models our safetensors model files (never pickle), documents RFC 8785
JSON, so equal values are equal bytes and every digest in an attestation can be re-derived
from what is stored.
"""

import io
import json
from pathlib import Path
from typing import Any

import dagster as dg

from hokusai_assets.lib.files import atomic_write_bytes
from hokusai_assets.settings.layout import DOCUMENT_SUFFIX, MODEL_SUFFIX, TABLE_SUFFIX, HomeLayout


class _FileIOManager(dg.ConfigurableIOManager):
    """One file per asset (per partition) under ``home``'s storage folder."""

    home: str
    suffix: str = ""

    def _path(self, context: dg.OutputContext | dg.InputContext) -> Path:
        partition = context.asset_partition_key if context.has_asset_partitions else None
        return HomeLayout(Path(self.home)).asset_file(tuple(context.asset_key.path), partition, self.suffix)

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

    suffix: str = TABLE_SUFFIX

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

    suffix: str = MODEL_SUFFIX

    def encode(self, obj: Any) -> bytes:
        return obj.to_bytes()

    def decode(self, data: bytes) -> Any:
        from hokusai_assets.lib.training.model import model_from_bytes

        return model_from_bytes(data)


class JsonIOManager(_FileIOManager):
    """JSON documents in RFC 8785 canonical form, so equal values are equal bytes."""

    suffix: str = DOCUMENT_SUFFIX

    def encode(self, obj: Any) -> bytes:
        from hokusai_assets.lib.commitments.canonical import canonical_json

        return canonical_json(obj)

    def decode(self, data: bytes) -> Any:
        return json.loads(data)
