"""The files of one attestation directory, and their names.

An attestation is published as a directory of five files; a verifier is given the
directory (or any file in it) and finds the rest by these names.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

STATEMENT_FILE = "statement.json"  # the in-toto statement, RFC 8785 bytes
ENVELOPE_FILE = "statement.dsse.json"  # DSSE envelope, Ed25519: the attestation
EIP712_FILE = "statement.eip712.json"  # typed data and its secp256k1 signature
ATTESTER_FILE = "attester.json"  # the attester's public keys and EIP-712 domain
RECEIPT_FILE = "receipt.json"  # unsigned: when it was written, by which run
# What the same inputs, keys and seed must reproduce byte for byte (the receipt says when).
REPRODUCIBLE_FILES = (STATEMENT_FILE, ENVELOPE_FILE, EIP712_FILE)


@dataclass(frozen=True)
class AttestationFiles:
    directory: Path

    @property
    def statement(self) -> Path:
        return self.directory / STATEMENT_FILE

    @property
    def envelope(self) -> Path:
        return self.directory / ENVELOPE_FILE

    @property
    def eip712(self) -> Path:
        return self.directory / EIP712_FILE

    @property
    def attester(self) -> Path:
        return self.directory / ATTESTER_FILE

    @property
    def receipt(self) -> Path:
        return self.directory / RECEIPT_FILE

    def exists(self) -> bool:
        """Whether the signed attestation (its envelope) is there."""
        return self.envelope.is_file()
