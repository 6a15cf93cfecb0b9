"""The content-addressed store of received contribution files, encrypted at rest.

A contribution is identified by its bytes: partition key ``c-`` + the first 16 hex digits
of the SHA-256 of the file as received. The store keeps those bytes encrypted with
AES-256-GCM (the store key, see ``services/keys.py``), bound to
the key and digest as associated data, so a file can be neither read without the key nor
swapped for another unnoticed. Beside it, a manifest with the contributor's sidecar.
Everything is written to a temporary name and renamed; the manifest comes last, so an
entry either exists completely or not at all.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from hokusai_assets.lib.commitments.digests import bytes_digest
from hokusai_assets.lib.errors import DataFileError
from hokusai_assets.lib.files import atomic_write_bytes, printable
from hokusai_assets.lib.intake.contributions import Contributor, partition_key
from hokusai_assets.lib.intake.formats import detect_format
from hokusai_assets.services.keys import store_key, store_key_source
from hokusai_assets.settings.layout import HomeLayout

_MAGIC = b"HKS1"
_NONCE_BYTES = 12


@dataclass(frozen=True)
class StoredContribution:
    key: str
    file_digest: str
    format: str
    size_bytes: int
    suffix: str
    sequence: int  # arrival order: "earlier contributions" are those with a smaller one
    contributor: Contributor

    def manifest(self) -> dict:
        return {
            "partition": self.key,
            "file_digest": self.file_digest,
            "format": self.format,
            "size_bytes": self.size_bytes,
            "suffix": self.suffix,
            "sequence": self.sequence,
            "contributor": asdict(self.contributor),
        }


class ContributionStore:
    def __init__(self, root: Path, secret: bytes, key_source: str = "the store key") -> None:
        self.root = Path(root)
        self._secret = secret
        self._key_source = key_source  # named when a stored file fails authentication

    @classmethod
    def open(cls, layout: HomeLayout, environ: Mapping[str, str] | None = None) -> ContributionStore:
        """The store of a home, with its key (created on first use)."""
        secret = store_key(layout, os.environ if environ is None else environ)
        return cls(layout.store_dir, secret, store_key_source(layout))

    def _directory(self, key: str) -> Path:
        return self.root / key

    def _aad(self, key: str, digest: str) -> bytes:
        return f"{key}\n{digest}".encode()

    def put_bytes(self, data: bytes, name: str, contributor: Contributor) -> tuple[StoredContribution, bool]:
        """Store ``data`` (received as file ``name``) under its content key; return it and whether it was new.

        The same bytes from the same wallet are the same contribution (no second copy);
        the same bytes from another wallet are refused: the first submitter holds them.
        """
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        fmt = detect_format(name)
        digest = bytes_digest(data)
        key = partition_key(digest)
        directory = self._directory(key)
        if (directory / "manifest.json").is_file():
            existing = self.get(key)
            if existing.file_digest != digest:
                raise DataFileError(
                    f"{printable(name)}: partition key {key} is taken by different bytes (a 64-bit prefix collision); "
                    "report it: the file was not stored",
                    code="E_STORE_KEY_COLLISION",
                )
            if existing.contributor.wallet != contributor.wallet:
                raise DataFileError(
                    f"{printable(name)}: these exact bytes were already contributed as {key} by another wallet; "
                    "a dataset earns credit once, for its first contributor",
                    code="E_STORE_ALREADY_CONTRIBUTED",
                )
            return existing, False
        nonce = os.urandom(_NONCE_BYTES)
        sealed = _MAGIC + nonce + AESGCM(self._secret).encrypt(nonce, data, self._aad(key, digest))
        stored = StoredContribution(
            key=key,
            file_digest=digest,
            format=fmt,
            size_bytes=len(data),
            suffix=Path(name).suffix.lower(),
            # Microseconds: ordered, and inside JSON's exact integer range (2**53) for centuries.
            sequence=time.time_ns() // 1000,
            contributor=contributor,
        )
        atomic_write_bytes(directory / "data.enc", sealed, mode=0o600)
        # The manifest is written last: its presence means the entry is complete.
        atomic_write_bytes(directory / "manifest.json", json.dumps(stored.manifest(), indent=2).encode())
        return stored, True

    def put(self, source: Path, contributor: Contributor) -> tuple[StoredContribution, bool]:
        source = Path(source)
        detect_format(source)  # refuse an unsupported type before reading it
        return self.put_bytes(source.read_bytes(), source.name, contributor)

    def get(self, key: str) -> StoredContribution:
        manifest_path = self._directory(key) / "manifest.json"
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
            suffix=manifest["suffix"],
            sequence=manifest["sequence"],
            contributor=Contributor(**manifest["contributor"]),
        )

    def read_bytes(self, key: str) -> bytes:
        """The received bytes, decrypted and checked against their digest."""
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        stored = self.get(key)
        sealed = (self._directory(key) / "data.enc").read_bytes()
        if not sealed.startswith(_MAGIC):
            raise DataFileError(f"stored file for {key} is not an encrypted store entry", code="E_STORE_CORRUPT")
        nonce = sealed[len(_MAGIC) : len(_MAGIC) + _NONCE_BYTES]
        try:
            data = AESGCM(self._secret).decrypt(nonce, sealed[len(_MAGIC) + _NONCE_BYTES :], self._aad(key, stored.file_digest))
        except InvalidTag:
            raise DataFileError(
                f"stored file for {key} fails authentication: it was altered, or the store key "
                f"({self._key_source}) is not the one it was written with",
                code="E_STORE_CORRUPT",
            ) from None
        if bytes_digest(data) != stored.file_digest:
            raise DataFileError(f"stored file for {key} does not match its digest", code="E_STORE_CORRUPT")
        return data

    def entries(self) -> list[StoredContribution]:
        """Every complete entry, in arrival order."""
        if not self.root.is_dir():
            return []
        entries = [self.get(p.name) for p in self.root.iterdir() if (p / "manifest.json").is_file()]
        return sorted(entries, key=lambda e: (e.sequence, e.key))

    def keys(self) -> list[str]:
        return [entry.key for entry in self.entries()]

    def keys_before(self, key: str) -> list[str]:
        """The entries that arrived before ``key``: what "earlier contributions" means."""
        sequence = self.get(key).sequence
        return [entry.key for entry in self.entries() if entry.sequence < sequence]
