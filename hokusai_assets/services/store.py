"""The content-addressed store of received contribution files, encrypted at rest.

A contribution is identified by its bytes: partition key ``c-`` + the first 16 hex digits
of the SHA-256 of the file as received. The store keeps those bytes encrypted with
AES-256-GCM (the store key, see ``services/keys.py``), bound to
the key and digest as associated data, so a file can be neither read without the key nor
swapped for another unnoticed. Beside it, a manifest with the contributor's sidecar.
Everything is written to a temporary name and renamed; the manifest comes last, so an
entry either exists completely or not at all.

An entry whose bytes fail authentication is damaged (``E_STORE_CORRUPT``): the read that
finds it notes it in ``fault.json`` beside it for the contributions overview, and the same
bytes received again (same digest) restore it in place, keeping its arrival order.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from hokusai_assets.lib.commitments.digests import bytes_digest
from hokusai_assets.lib.errors import DataFileError, HokusaiError
from hokusai_assets.lib.files import atomic_write_bytes, printable
from hokusai_assets.lib.intake.contributions import Contributor, partition_key
from hokusai_assets.lib.intake.formats import detect_format
from hokusai_assets.services.keys import store_key, store_key_source
from hokusai_assets.settings.layout import HomeLayout

_MAGIC = b"HKS1"
DATA_FILE = "data.enc"
MANIFEST_FILE = "manifest.json"  # written last: an entry is complete once it is there
FAULT_FILE = "fault.json"  # what the last read of a damaged entry found (code, message)
_NONCE_BYTES = 12


def is_stored(layout: HomeLayout, key: str) -> bool:
    """Whether the home's store holds a complete entry ``key`` (without opening the store: no key is needed or made)."""
    return (layout.store_dir / key / MANIFEST_FILE).is_file()


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
        A stored copy found damaged is restored from ``data`` (the same digest, so the same bytes).
        """
        fmt = detect_format(name)
        digest = bytes_digest(data)
        key = partition_key(digest)
        directory = self._directory(key)
        if (directory / MANIFEST_FILE).is_file():
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
            if not self._intact(key):
                # A damaged copy of these very bytes (same digest): they restore it, and its
                # manifest, arrival order included, stays as it was.
                atomic_write_bytes(directory / DATA_FILE, self._seal(key, digest, data), mode=0o600)
                (directory / FAULT_FILE).unlink(missing_ok=True)
            return existing, False
        sealed = self._seal(key, digest, data)
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
        atomic_write_bytes(directory / DATA_FILE, sealed, mode=0o600)
        # The manifest is written last: its presence means the entry is complete.
        atomic_write_bytes(directory / MANIFEST_FILE, json.dumps(stored.manifest(), indent=2).encode())
        return stored, True

    def _seal(self, key: str, digest: str, data: bytes) -> bytes:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        nonce = os.urandom(_NONCE_BYTES)
        return _MAGIC + nonce + AESGCM(self._secret).encrypt(nonce, data, self._aad(key, digest))

    def _intact(self, key: str) -> bool:
        try:
            self.read_bytes(key)
        except DataFileError as error:
            if error.code != "E_STORE_CORRUPT":
                raise
            return False
        return True

    def put(self, source: Path, contributor: Contributor) -> tuple[StoredContribution, bool]:
        source = Path(source)
        detect_format(source)  # refuse an unsupported type before reading it
        return self.put_bytes(source.read_bytes(), source.name, contributor)

    def get(self, key: str) -> StoredContribution:
        manifest_path = self._directory(key) / MANIFEST_FILE
        if not manifest_path.is_file():
            raise DataFileError(
                f"contribution {key} is not in the store at {self.root}; submit the file first",
                code="E_STORE_UNKNOWN_KEY",
            )
        try:
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
        except (UnicodeDecodeError, ValueError, KeyError, TypeError) as error:
            # Its arrival order decides what "earlier" means for every later contribution, so
            # nothing that lists the store can go on without it: stop, naming the entry.
            raise DataFileError(
                f"the manifest of stored contribution {key} ({manifest_path}) is damaged ({type(error).__name__}); "
                "restore it from a backup of the store; nothing that lists the store can run until then",
                code="E_STORE_CORRUPT",
            ) from None

    def read_bytes(self, key: str) -> bytes:
        """The received bytes, decrypted and checked against their digest.

        A damaged entry raises ``E_STORE_CORRUPT`` and is recorded as damaged (``fault``) for
        the contributions overview; a later good read (the entry restored) clears that.
        """
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        stored = self.get(key)
        data_file = self._directory(key) / DATA_FILE
        remedy = (
            f"evaluate the original file again (`hokusai evaluate FILE --wallet {stored.contributor.wallet}`), which "
            f"restores it, or restore {data_file} from a backup; until then it is never "
            "validated, trained on or attested"
        )
        if not data_file.is_file():
            raise self._damaged(key, f"stored file for {key} is missing; {remedy}")
        sealed = data_file.read_bytes()
        if not sealed.startswith(_MAGIC):
            raise self._damaged(key, f"stored file for {key} is not an encrypted store entry; {remedy}")
        nonce = sealed[len(_MAGIC) : len(_MAGIC) + _NONCE_BYTES]
        try:
            data = AESGCM(self._secret).decrypt(nonce, sealed[len(_MAGIC) + _NONCE_BYTES :], self._aad(key, stored.file_digest))
        except InvalidTag:
            raise self._damaged(
                key,
                f"stored file for {key} fails authentication (AES-GCM tag): it was altered, or the store key "
                f"({self._key_source}) is not the one it was written with (then set that one); {remedy}",
            ) from None
        if bytes_digest(data) != stored.file_digest:
            raise self._damaged(key, f"stored file for {key} does not match its digest; {remedy}")
        fault = self._directory(key) / FAULT_FILE
        if fault.exists():
            with contextlib.suppress(OSError):
                fault.unlink()
        return data

    def _damaged(self, key: str, message: str) -> DataFileError:
        error = DataFileError(message, code="E_STORE_CORRUPT")
        # Best effort: on a read-only or full disk the error itself still says it all.
        with contextlib.suppress(OSError, HokusaiError):
            atomic_write_bytes(self._directory(key) / FAULT_FILE, json.dumps(error.as_dict(), indent=2).encode())
        return error

    def fault(self, key: str) -> dict[str, str] | None:
        """The error the last read of ``key`` found (code and message), or None if it read well
        or was never read. Only a stat for a healthy entry: cheap enough for every overview."""
        path = self._directory(key) / FAULT_FILE
        if not path.is_file():
            return None
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {"code": "E_STORE_CORRUPT", "message": f"stored contribution {key} was found damaged"}

    def entries(self) -> list[StoredContribution]:
        """Every complete entry, in arrival order."""
        if not self.root.is_dir():
            return []
        entries = [self.get(p.name) for p in self.root.iterdir() if (p / MANIFEST_FILE).is_file()]
        return sorted(entries, key=lambda e: (e.sequence, e.key))

    def keys(self) -> list[str]:
        return [entry.key for entry in self.entries()]

    def keys_before(self, key: str) -> list[str]:
        """The entries that arrived before ``key``: what "earlier contributions" means."""
        sequence = self.get(key).sequence
        return [entry.key for entry in self.entries() if entry.sequence < sequence]
