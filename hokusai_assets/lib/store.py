"""The content-addressed store of received contribution files.

A contribution is identified by its bytes: partition key ``c-`` + the first 16 hex digits
of the SHA-256 of the file. The store keeps the file as received (same bytes, same
extension) with the contributor's sidecar, under ``<root>/contributions/<key>/``. Files
are written to a temporary name and renamed, so a reader never sees half a file.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from hokusai_assets.lib.commit import file_digest
from hokusai_assets.lib.errors import DataFileError
from hokusai_assets.lib.formats import detect_format

KEY_PREFIX = "c-"
KEY_HEX_DIGITS = 16


def partition_key(digest: str) -> str:
    """``sha256:<hex>`` -> ``c-<first 16 hex digits>``."""
    return KEY_PREFIX + digest.split(":", 1)[1][:KEY_HEX_DIGITS]


@dataclass(frozen=True)
class Contributor:
    wallet: str
    contributor_id: str | None = None
    license: str | None = None


@dataclass(frozen=True)
class StoredContribution:
    key: str
    file_digest: str
    format: str
    size_bytes: int
    data_path: Path
    contributor: Contributor

    def manifest(self) -> dict:
        return {
            "partition": self.key,
            "file_digest": self.file_digest,
            "format": self.format,
            "size_bytes": self.size_bytes,
            "data_file": self.data_path.name,
            "contributor": asdict(self.contributor),
        }


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


class ContributionStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root) / "contributions"

    def _directory(self, key: str) -> Path:
        return self.root / key

    def put(self, source: Path, contributor: Contributor) -> tuple[StoredContribution, bool]:
        """Store ``source`` under its content key; return it and whether it was new.

        The same bytes from the same wallet are the same contribution (no second copy);
        the same bytes from another wallet are refused: the first submitter holds them.
        """
        source = Path(source)
        fmt = detect_format(source)
        digest = file_digest(source)
        key = partition_key(digest)
        directory = self._directory(key)
        if (directory / "manifest.json").is_file():
            existing = self.get(key)
            if existing.file_digest != digest:
                raise DataFileError(
                    f"{source.name}: partition key {key} is taken by different bytes; rename nothing, report this collision",
                    code="E_STORE_KEY_COLLISION",
                )
            if existing.contributor.wallet != contributor.wallet:
                raise DataFileError(
                    f"{source.name}: these exact bytes were already contributed as {key} by another wallet; "
                    "a dataset earns credit once, for its first contributor",
                    code="E_STORE_ALREADY_CONTRIBUTED",
                )
            return existing, False
        data_path = directory / f"data{source.suffix.lower()}"
        directory.mkdir(parents=True, exist_ok=True)
        temporary = directory / f".{data_path.name}.tmp"
        shutil.copyfile(source, temporary)
        os.replace(temporary, data_path)
        stored = StoredContribution(
            key=key,
            file_digest=digest,
            format=fmt,
            size_bytes=data_path.stat().st_size,
            data_path=data_path,
            contributor=contributor,
        )
        # The manifest is written last: its presence means the entry is complete.
        atomic_write_bytes(directory / "manifest.json", json.dumps(stored.manifest(), indent=2).encode())
        return stored, True

    def get(self, key: str) -> StoredContribution:
        directory = self._directory(key)
        manifest_path = directory / "manifest.json"
        if not manifest_path.is_file():
            raise DataFileError(
                f"contribution {key} is not in the store at {self.root}; submit the file first",
                code="E_STORE_UNKNOWN_KEY",
            )
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        return StoredContribution(
            key=manifest["partition"],
            file_digest=manifest["file_digest"],
            format=manifest["format"],
            size_bytes=manifest["size_bytes"],
            data_path=directory / manifest["data_file"],
            contributor=Contributor(**manifest["contributor"]),
        )

    def keys(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if (p / "manifest.json").is_file())
