"""Signing a statement twice, deterministically: the DSSE envelope (Ed25519) and EIP-712 (secp256k1).

The statement (``statement.py``) is already deterministic RFC 8785 bytes. Signing wraps
those bytes, without changing them, in two signatures by the attester (the platform),
both deterministic, so the same statement and keys always give the same bytes: the
envelope's form is in ``dsse.py``, the typed data's in ``eip712.py``.

The keys themselves (:class:`AttesterKeys`) are loaded by ``services/keys.py``: files
under ``HOKUSAI_HOME/keys`` or ``HOKUSAI_ED25519_KEY`` / ``HOKUSAI_ATTESTER_KEY``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from eth_keys import keys as eth_keys
from eth_utils import keccak

from hokusai_assets.lib.attestation.dsse import PAYLOAD_TYPE, b64encode, ed25519_keyid, pae
from hokusai_assets.lib.attestation.eip712 import EIP712_TYPES, PRIMARY_TYPE, Eip712Domain, eip712_hash, eip712_message
from hokusai_assets.lib.commitments.canonical import canonical_json
from hokusai_assets.lib.commitments.digests import bytes_digest
from hokusai_assets.lib.errors import SignError
from hokusai_assets.lib.wallet import SECP256K1_N


@dataclass(frozen=True)
class AttesterKeys:
    """The attester's two private keys (never printed: both fields are hidden from repr)."""

    ed25519_seed: bytes = field(repr=False)
    secp256k1_secret: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.ed25519_seed, bytes) or len(self.ed25519_seed) != 32:
            raise SignError("an Ed25519 seed is 32 bytes", code="E_SIGN_KEY_ED25519_INVALID")
        if not isinstance(self.secp256k1_secret, bytes) or len(self.secp256k1_secret) != 32:
            raise SignError("a secp256k1 private key is 32 bytes", code="E_SIGN_KEY_SECP256K1_INVALID")
        if not 0 < int.from_bytes(self.secp256k1_secret, "big") < SECP256K1_N:
            raise SignError(
                "the secp256k1 private key is outside [1, n) of the curve; generate a new key "
                "(remove the key file or set HOKUSAI_ATTESTER_KEY to another 32-byte hex value)",
                code="E_SIGN_KEY_SECP256K1_INVALID",
            )

    @property
    def ed25519_private_key(self) -> Ed25519PrivateKey:
        return Ed25519PrivateKey.from_private_bytes(self.ed25519_seed)

    @property
    def ed25519_public_bytes(self) -> bytes:
        return self.ed25519_private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    @property
    def ed25519_public_hex(self) -> str:
        return self.ed25519_public_bytes.hex()

    @property
    def ed25519_keyid(self) -> str:
        return ed25519_keyid(self.ed25519_public_bytes)

    @property
    def secp256k1_public_hex(self) -> str:
        """``0x`` + the 64-byte uncompressed public key (x ‖ y), as eth-keys writes it."""
        return eth_keys.PrivateKey(self.secp256k1_secret).public_key.to_hex()

    @property
    def attester_address(self) -> str:
        """The EIP-55 address of the secp256k1 key: the EIP-712 signer."""
        return eth_keys.PrivateKey(self.secp256k1_secret).public_key.to_checksum_address()

    def public_info(self, domain: Eip712Domain | None = None) -> dict[str, Any]:
        """What ``hokusai keys`` prints and what is published as ``attester.json``.

        A verifier passes this (read from a copy it trusts) as ``trusted``.
        """
        domain = domain or Eip712Domain()
        return {
            "attester_address": self.attester_address,
            "dsse_payload_type": PAYLOAD_TYPE,
            "ed25519_keyid": self.ed25519_keyid,
            "ed25519_public_key": self.ed25519_public_hex,
            "eip712_domain": domain.as_typed_data(),
            "eip712_primary_type": PRIMARY_TYPE,
            "eip712_types": EIP712_TYPES,
            "secp256k1_public_key": self.secp256k1_public_hex,
        }


@dataclass(frozen=True)
class SignedAttestation:
    """Both signatures over one statement; ``envelope_bytes`` is RFC 8785 JSON."""

    envelope_bytes: bytes
    eip712: dict[str, Any]
    statement_digest: str


def dsse_envelope(statement_bytes: bytes, keys: AttesterKeys) -> dict[str, Any]:
    """The DSSE envelope of a statement: one Ed25519 signature by the attester over PAE."""
    signature = keys.ed25519_private_key.sign(pae(PAYLOAD_TYPE, statement_bytes))
    return {
        "payload": b64encode(statement_bytes),
        "payloadType": PAYLOAD_TYPE,
        "signatures": [{"keyid": keys.ed25519_keyid, "sig": b64encode(signature)}],
    }


def sign_statement(
    statement_bytes: bytes,
    statement: Mapping[str, Any],
    keys: AttesterKeys,
    domain: Eip712Domain | None = None,
) -> SignedAttestation:
    """Sign ``statement_bytes`` (the RFC 8785 bytes of ``statement``) with both keys."""
    from eth_account import Account  # slow to import; only signing needs it
    from eth_account.messages import encode_typed_data

    domain = domain or Eip712Domain()
    if canonical_json(statement) != statement_bytes:
        raise SignError(
            "statement_bytes are not the RFC 8785 bytes of the statement given; sign exactly "
            "the bytes lib/attestation/statement.py wrote",
            code="E_SIGN_STATEMENT_MISMATCH",
        )
    envelope = dsse_envelope(statement_bytes, keys)
    digest = bytes_digest(statement_bytes)
    typed = eip712_message(statement, digest, domain)
    signable = encode_typed_data(full_message=typed)
    theirs = keccak(b"\x19" + bytes(signable.version) + bytes(signable.header) + bytes(signable.body))
    if theirs != eip712_hash(typed):
        raise SignError(
            "eth-account and lib/attestation/eip712.py encode the EIP-712 message differently; nothing was "
            "signed. Check the installed eth-account version against pyproject.toml",
            code="E_SIGN_EIP712_ENCODING",
        )
    signed = Account.sign_message(signable, private_key=keys.secp256k1_secret)
    eip712 = {
        **typed,
        "signature": "0x" + bytes(signed.signature).hex(),
        "signer": keys.attester_address,
    }
    return SignedAttestation(envelope_bytes=canonical_json(envelope), eip712=eip712, statement_digest=digest)
