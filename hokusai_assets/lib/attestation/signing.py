"""Signing an attestation statement twice: DSSE with Ed25519, and EIP-712 with secp256k1.

The statement (``lib/attest.py``) is already deterministic RFC 8785 bytes. This module
wraps those bytes, without changing them, in two signatures by the attester (the
platform), both deterministic, so the same statement and keys always give the same bytes:

* **DSSE envelope** (https://github.com/secure-systems-lab/dsse, ``protocol.md``):
  ``payloadType`` = ``application/vnd.in-toto+json``; the Ed25519 signature (RFC 8032,
  deterministic) is over ``PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body)
  SP body`` with ``LEN`` the ASCII decimal byte count. The envelope is
  ``{"payload": base64(statement bytes), "payloadType": ..., "signatures": [{"keyid",
  "sig"}]}`` in standard, padded base64, serialised with RFC 8785 (so its bytes are
  fixed too). The key id is ``"ed25519:" + hex(sha256(public key))[:16]``.
* **EIP-712 typed data** signed with ``eth-account`` (RFC 6979 deterministic ECDSA, low
  ``s``), primary type ``DeltaOneAttestation`` holding the fields a contract would check:

  ====================  =========  ============================================
  field                 type       value
  ====================  =========  ============================================
  ``contributor``       address    ``predicate.contribution.wallet`` (EIP-55)
  ``statementDigest``   bytes32    SHA-256 of the statement bytes (the payload)
  ``dataRoot``          bytes32    ``predicate.contribution.data_root``
  ``modelDigest``       bytes32    ``predicate.improved.model_digest``
  ``deltaOneBps``       int256     ``predicate.evaluation.delta_one_bps`` (may be < 0)
  ``nonce``             uint256    see :func:`nonce_for_partition`
  ====================  =========  ============================================

  The domain is :class:`Eip712Domain` (``name``, ``version``, ``chainId``,
  ``verifyingContract``; defaults ``"Hokusai DeltaOne"``, ``"1"``, ``1``, the zero
  address until a contract is deployed), configurable per deployment and published in
  ``attester.json`` (:meth:`AttesterKeys.public_info`).

  The JSON form (``SignedAttestation.eip712``) is what ``eth_signTypedData_v4`` takes:
  ``types``, ``primaryType``, ``domain``, ``message``, plus ``signature`` (``0x`` + 65
  bytes r‖s‖v hex, v in {27, 28}) and ``signer``. In ``message``, bytes32 values are
  ``0x`` + 64 lowercase hex, ``deltaOneBps`` is a JSON integer and ``nonce`` a decimal
  string (it can exceed 2**53, which RFC 8785 cannot write as a number).

Besides signing via ``eth-account``, this module holds a small, strict EIP-712 encoder for
exactly this one type (:func:`eip712_hash`) and signer recovery with ``eth-keys``
(:func:`recover_eip712_signer`): the verifier uses them without importing ``eth_account``
(a slow import), and :func:`sign_statement` refuses to sign if the two encoders disagree.

The keys themselves (:class:`AttesterKeys`) are loaded by ``services/keys.py``: files
under ``HOKUSAI_HOME/keys`` or ``HOKUSAI_ED25519_KEY`` / ``HOKUSAI_ATTESTER_KEY``.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from eth_keys import keys as eth_keys
from eth_keys.exceptions import BadSignature, ValidationError
from eth_utils import keccak

from hokusai_assets.lib.commitments.canonical import canonical_json
from hokusai_assets.lib.commitments.digests import bytes_digest, parse_digest
from hokusai_assets.lib.errors import HokusaiError, WalletError
from hokusai_assets.lib.wallet import normalise_wallet

__all__ = [
    "EIP712_TYPES",
    "PAYLOAD_TYPE",
    "PRIMARY_TYPE",
    "AttesterKeys",
    "Eip712Domain",
    "SignError",
    "SignedAttestation",
    "b64encode",
    "ed25519_keyid",
    "eip712_hash",
    "eip712_message",
    "nonce_for_partition",
    "pae",
    "recover_eip712_signer",
    "sign_statement",
]

PAYLOAD_TYPE = "application/vnd.in-toto+json"
PRIMARY_TYPE = "DeltaOneAttestation"



EIP712_TYPES: dict[str, list[dict[str, str]]] = {
    "EIP712Domain": [
        {"name": "name", "type": "string"},
        {"name": "version", "type": "string"},
        {"name": "chainId", "type": "uint256"},
        {"name": "verifyingContract", "type": "address"},
    ],
    PRIMARY_TYPE: [
        {"name": "contributor", "type": "address"},
        {"name": "statementDigest", "type": "bytes32"},
        {"name": "dataRoot", "type": "bytes32"},
        {"name": "modelDigest", "type": "bytes32"},
        {"name": "deltaOneBps", "type": "int256"},
        {"name": "nonce", "type": "uint256"},
    ],
}

# secp256k1 group order: private keys lie in [1, N), canonical signatures have s <= N/2.
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141

_PARTITION_RE = re.compile(r"c-([0-9a-f]{16})")
_BYTES32_RE = re.compile(r"0x[0-9a-f]{64}")
_ADDRESS_RE = re.compile(r"0x[0-9a-fA-F]{40}")
_UINT_RE = re.compile(r"0|[1-9][0-9]*")
_SIGNATURE_RE = re.compile(r"0x[0-9a-f]{130}")


class SignError(HokusaiError):
    """Keys, statements or typed data that cannot be signed (or checked) as asked."""

    code = "E_SIGN"


# --------------------------------------------------------------------------- helpers


def b64encode(data: bytes) -> str:
    """Standard, padded base64 (RFC 4648 section 4), as DSSE envelopes carry it."""
    return base64.b64encode(data).decode("ascii")


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 Pre-Authentication Encoding of ``payload`` with its type."""
    kind = payload_type.encode("utf-8")
    return b"DSSEv1 %d %b %d %b" % (len(kind), kind, len(payload), payload)


def ed25519_keyid(public_key: bytes) -> str:
    """``"ed25519:"`` + the first 16 hex digits of SHA-256 of the raw 32-byte public key."""
    return "ed25519:" + hashlib.sha256(public_key).hexdigest()[:16]


def nonce_for_partition(partition: str) -> int:
    """The EIP-712 nonce of a contribution: its partition key's 16 hex digits as a uint.

    A partition key is ``c-`` + the first 16 hex digits of the contribution file's
    SHA-256, so the nonce is deterministic per contribution: re-attesting the same
    contribution (a re-run) signs the same nonce, and a contract that records used nonces
    pays each contribution at most once; different files get different nonces (up to a
    64-bit prefix collision, which would already have merged their partitions).
    """
    match = _PARTITION_RE.fullmatch(partition) if isinstance(partition, str) else None
    if match is None:
        raise SignError(
            f"partition key {partition!r} is not 'c-' followed by 16 lowercase hex digits, so "
            "no nonce can be derived from it; attest only contributions keyed by their file digest",
            code="E_SIGN_NONCE",
        )
    return int(match.group(1), 16)


def _hex32(digest: str) -> str:
    """``sha256:<hex>`` -> ``0x<hex>`` (the JSON form of a bytes32)."""
    return "0x" + parse_digest(digest).hex()


# --------------------------------------------------------------------------- domain


@dataclass(frozen=True)
class Eip712Domain:
    """The EIP-712 domain every DeltaOne signature is bound to.

    ``chain_id`` and ``verifying_contract`` prevent a signature for one chain or contract
    being replayed on another: set them to the deployment's values (the defaults, chain 1
    and the zero address, stand for "no contract deployed yet"). ``name``/``version``
    change only when the typed-data schema does.
    """

    name: str = "Hokusai DeltaOne"
    version: str = "1"
    chain_id: int = 1
    verifying_contract: str = "0x0000000000000000000000000000000000000000"

    def __post_init__(self) -> None:
        for attribute in ("name", "version"):
            if not isinstance(getattr(self, attribute), str):
                raise SignError(
                    f"EIP-712 domain {attribute} must be a string, got {getattr(self, attribute)!r}",
                    code="E_SIGN_DOMAIN",
                )
        chain_id = self.chain_id
        if isinstance(chain_id, bool) or not isinstance(chain_id, int) or not 0 <= chain_id < 2**53:
            raise SignError(
                f"EIP-712 domain chain_id must be a non-negative integer (e.g. 1 for Ethereum "
                f"mainnet), got {chain_id!r}",
                code="E_SIGN_DOMAIN",
            )
        try:
            contract = normalise_wallet(str(self.verifying_contract), allow_lowercase=True)
        except WalletError as exc:
            raise SignError(
                f"EIP-712 domain verifying_contract: {exc.message}", code="E_SIGN_DOMAIN"
            ) from None
        object.__setattr__(self, "verifying_contract", contract)

    def as_typed_data(self) -> dict[str, Any]:
        """The ``domain`` object of EIP-712 typed data (JSON-ready)."""
        return {
            "name": self.name,
            "version": self.version,
            "chainId": self.chain_id,
            "verifyingContract": self.verifying_contract,
        }

    @classmethod
    def from_typed_data(cls, domain: Mapping[str, Any]) -> Eip712Domain:
        """Read a typed-data ``domain`` object back (exactly the four fields)."""
        if not isinstance(domain, Mapping) or set(domain) != {"name", "version", "chainId", "verifyingContract"}:
            raise SignError(
                "an EIP-712 domain must have exactly name, version, chainId and verifyingContract, "
                f"got {sorted(domain) if isinstance(domain, Mapping) else domain!r}",
                code="E_SIGN_DOMAIN",
            )
        return cls(domain["name"], domain["version"], domain["chainId"], domain["verifyingContract"])


# --------------------------------------------------------------------------- keys


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


# --------------------------------------------------------------------------- EIP-712


def eip712_message(statement: Mapping[str, Any], statement_digest: str, domain: Eip712Domain) -> dict[str, Any]:
    """The EIP-712 typed data (``types``, ``primaryType``, ``domain``, ``message``; JSON-ready)
    that binds ``statement`` (whose bytes have ``statement_digest``) to its payout fields."""
    try:
        predicate = statement["predicate"]
        contribution = predicate["contribution"]
        wallet = contribution["wallet"]
        data_root = contribution["data_root"]
        partition = contribution["partition"]
        model_digest = predicate["improved"]["model_digest"]
        bps = predicate["evaluation"]["delta_one_bps"]
    except (KeyError, TypeError) as exc:
        raise SignError(
            f"the statement lacks {exc} needed for the EIP-712 message; build it with lib/attest.py",
            code="E_SIGN_STATEMENT",
        ) from None
    try:
        if not isinstance(wallet, str) or normalise_wallet(wallet) != wallet:
            raise WalletError(f"wallet {wallet!r} is not in its EIP-55 form")
    except WalletError as exc:
        raise SignError(f"contributor {exc.message}", code="E_SIGN_STATEMENT") from None
    if isinstance(bps, bool) or not isinstance(bps, int):
        raise SignError(f"delta_one_bps must be an integer, got {bps!r}", code="E_SIGN_STATEMENT")
    return {
        "types": {name: [dict(f) for f in fields] for name, fields in EIP712_TYPES.items()},
        "primaryType": PRIMARY_TYPE,
        "domain": domain.as_typed_data(),
        "message": {
            "contributor": wallet,
            "statementDigest": _hex32(statement_digest),
            "dataRoot": _hex32(data_root),
            "modelDigest": _hex32(model_digest),
            "deltaOneBps": bps,
            "nonce": str(nonce_for_partition(partition)),
        },
    }


def _bad_typed_data(message: str) -> SignError:
    return SignError(message, code="E_SIGN_EIP712_FORMAT")


def _type_string(name: str) -> bytes:
    return f"{name}({','.join(f['type'] + ' ' + f['name'] for f in EIP712_TYPES[name])})".encode()


def _word_uint(value: int) -> bytes:
    return value.to_bytes(32, "big")


def _encode_field(kind: str, name: str, value: Any) -> bytes:
    """One 32-byte word of ``encodeData`` (all our fields are atomic or string)."""
    if kind == "string":
        if not isinstance(value, str):
            raise _bad_typed_data(f"{name} must be a string, got {value!r}")
        return keccak(value.encode("utf-8"))
    if kind == "address":
        if not isinstance(value, str) or not _ADDRESS_RE.fullmatch(value):
            raise _bad_typed_data(f"{name} must be 0x + 40 hex digits, got {value!r}")
        return bytes(12) + bytes.fromhex(value[2:])
    if kind == "bytes32":
        if not isinstance(value, str) or not _BYTES32_RE.fullmatch(value):
            raise _bad_typed_data(f"{name} must be 0x + 64 lowercase hex digits, got {value!r}")
        return bytes.fromhex(value[2:])
    if kind == "int256":
        if isinstance(value, bool) or not isinstance(value, int) or not -(2**255) <= value < 2**255:
            raise _bad_typed_data(f"{name} must be an int256 JSON integer, got {value!r}")
        return _word_uint(value % 2**256)  # two's complement
    if kind == "uint256":
        # chainId is a JSON integer, nonce a decimal string (it may exceed 2**53).
        if isinstance(value, str) and _UINT_RE.fullmatch(value):
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**256:
            raise _bad_typed_data(f"{name} must be a uint256, got {value!r}")
        return _word_uint(value)
    raise _bad_typed_data(f"unsupported EIP-712 type {kind!r}")  # pragma: no cover


def _struct_hash(type_name: str, data: Any) -> bytes:
    fields = EIP712_TYPES[type_name]
    if not isinstance(data, Mapping) or set(data) != {f["name"] for f in fields}:
        expected = ", ".join(f["name"] for f in fields)
        raise _bad_typed_data(f"{type_name} must have exactly the fields {expected}")
    words = [_encode_field(f["type"], f["name"], data[f["name"]]) for f in fields]
    return keccak(keccak(_type_string(type_name)) + b"".join(words))


def eip712_hash(typed_data: Mapping[str, Any]) -> bytes:
    """The 32-byte EIP-712 signing hash ``keccak(0x1901 ‖ domainSeparator ‖ hashStruct)``.

    Strict: ``types`` must be exactly :data:`EIP712_TYPES`, ``primaryType``
    ``DeltaOneAttestation``, and every value in the JSON form described in the module
    docstring; anything else raises ``SignError`` (``E_SIGN_EIP712_FORMAT``).
    """
    if not isinstance(typed_data, Mapping):
        raise _bad_typed_data("typed data must be a JSON object")
    if typed_data.get("types") != EIP712_TYPES:
        raise _bad_typed_data(f"types must be exactly the {PRIMARY_TYPE} schema of lib/sign.py")
    if typed_data.get("primaryType") != PRIMARY_TYPE:
        raise _bad_typed_data(f"primaryType must be {PRIMARY_TYPE!r}, got {typed_data.get('primaryType')!r}")
    domain_separator = _struct_hash("EIP712Domain", typed_data.get("domain"))
    return keccak(b"\x19\x01" + domain_separator + _struct_hash(PRIMARY_TYPE, typed_data.get("message")))


def recover_eip712_signer(typed_data: Mapping[str, Any], signature: str) -> str:
    """The EIP-55 address whose key made ``signature`` (``0x`` + r‖s‖v hex) over ``typed_data``.

    Only canonical signatures are accepted: v in {27, 28}, 0 < r < n, 0 < s <= n/2 (the
    form eth-account produces), so a signature has exactly one valid encoding.
    """
    digest = eip712_hash(typed_data)
    if not isinstance(signature, str) or not _SIGNATURE_RE.fullmatch(signature):
        raise _bad_typed_data("signature must be 0x + 130 lowercase hex digits (r ‖ s ‖ v)")
    raw = bytes.fromhex(signature[2:])
    r, s, v = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:64], "big"), raw[64]
    if v not in (27, 28) or not 0 < r < SECP256K1_N or not 0 < s <= SECP256K1_N // 2:
        raise _bad_typed_data("signature is not a canonical secp256k1 signature (v, r or s out of range)")
    try:
        public_key = eth_keys.Signature(vrs=(v - 27, r, s)).recover_public_key_from_msg_hash(digest)
    except (BadSignature, ValidationError) as exc:
        raise _bad_typed_data(f"no public key can be recovered from the signature ({exc})") from None
    return public_key.to_checksum_address()


# --------------------------------------------------------------------------- signing


@dataclass(frozen=True)
class SignedAttestation:
    """Both signatures over one statement; ``envelope_bytes`` is RFC 8785 JSON."""

    envelope_bytes: bytes
    eip712: dict[str, Any]
    statement_digest: str


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
            "the bytes lib/attest.py wrote",
            code="E_SIGN_STATEMENT_MISMATCH",
        )
    signature = keys.ed25519_private_key.sign(pae(PAYLOAD_TYPE, statement_bytes))
    envelope = {
        "payload": b64encode(statement_bytes),
        "payloadType": PAYLOAD_TYPE,
        "signatures": [{"keyid": keys.ed25519_keyid, "sig": b64encode(signature)}],
    }
    digest = bytes_digest(statement_bytes)
    typed = eip712_message(statement, digest, domain)
    signable = encode_typed_data(full_message=typed)
    theirs = keccak(b"\x19" + bytes(signable.version) + bytes(signable.header) + bytes(signable.body))
    if theirs != eip712_hash(typed):
        raise SignError(
            "eth-account and lib/sign.py encode the EIP-712 message differently; nothing was "
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
