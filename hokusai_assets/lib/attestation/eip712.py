"""The EIP-712 typed data a contract checks: its schema, domain, encoding and signer recovery.

The typed data is signed with ``eth-account`` (RFC 6979 deterministic ECDSA, low
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
``attester.json`` (``signing.AttesterKeys.public_info``).

The JSON form (``SignedAttestation.eip712``) is what ``eth_signTypedData_v4`` takes:
``types``, ``primaryType``, ``domain``, ``message``, plus ``signature`` (``0x`` + 65
bytes r‖s‖v hex, v in {27, 28}) and ``signer``. In ``message``, bytes32 values are
``0x`` + 64 lowercase hex, ``deltaOneBps`` is a JSON integer and ``nonce`` a decimal
string (it can exceed 2**53, which RFC 8785 cannot write as a number).

Besides signing via ``eth-account`` (``signing.py``), this module holds a small, strict EIP-712 encoder for
exactly this one type (:func:`eip712_hash`) and signer recovery with ``eth-keys``
(:func:`recover_eip712_signer`): the verifier uses them without importing ``eth_account``
(a slow import), and ``signing.sign_statement`` refuses to sign if the two encoders disagree.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from eth_keys import keys as eth_keys
from eth_keys.exceptions import BadSignature, ValidationError
from eth_utils import keccak

from hokusai_assets.lib.attestation.statement import DeltaOnePredicate, StatementFormatError
from hokusai_assets.lib.commitments.digests import parse_digest
from hokusai_assets.lib.errors import SignError, WalletError
from hokusai_assets.lib.intake.contributions import PARTITION_KEY_RE
from hokusai_assets.lib.wallet import SECP256K1_N, normalise_wallet

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


_BYTES32_RE = re.compile(r"0x[0-9a-f]{64}")
_ADDRESS_RE = re.compile(r"0x[0-9a-fA-F]{40}")
_UINT_RE = re.compile(r"0|[1-9][0-9]*")
_SIGNATURE_RE = re.compile(r"0x[0-9a-f]{130}")


def nonce_for_partition(partition: str) -> int:
    """The EIP-712 nonce of a contribution: its partition key's 16 hex digits as a uint.

    A partition key is ``c-`` + the first 16 hex digits of the contribution file's
    SHA-256, so the nonce is deterministic per contribution: re-attesting the same
    contribution (a re-run) signs the same nonce, and a contract that records used nonces
    pays each contribution at most once; different files get different nonces (up to a
    64-bit prefix collision, which would already have merged their partitions).
    """
    match = PARTITION_KEY_RE.fullmatch(partition) if isinstance(partition, str) else None
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


def eip712_message(statement: Mapping[str, Any], statement_digest: str, domain: Eip712Domain) -> dict[str, Any]:
    """The EIP-712 typed data (``types``, ``primaryType``, ``domain``, ``message``; JSON-ready)
    that binds ``statement`` (whose bytes have ``statement_digest``) to its payout fields."""
    try:
        predicate = DeltaOnePredicate.from_statement(statement)
    except StatementFormatError as exc:
        raise SignError(f"the statement gives no EIP-712 message: {exc.message}", code="E_SIGN_STATEMENT") from None
    contribution = predicate.contribution
    bps = predicate.evaluation.get("delta_one_bps")
    if isinstance(bps, bool) or not isinstance(bps, int):
        raise SignError(f"delta_one_bps must be an integer, got {bps!r}", code="E_SIGN_STATEMENT")
    return {
        "types": {name: [dict(f) for f in fields] for name, fields in EIP712_TYPES.items()},
        "primaryType": PRIMARY_TYPE,
        "domain": domain.as_typed_data(),
        "message": {
            "contributor": contribution.wallet,
            "statementDigest": _hex32(statement_digest),
            "dataRoot": _hex32(contribution.data_root),
            "modelDigest": _hex32(predicate.improved.model_digest),
            "deltaOneBps": bps,
            "nonce": str(nonce_for_partition(contribution.partition)),
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
        raise _bad_typed_data(f"types must be exactly the {PRIMARY_TYPE} schema of lib/attestation/eip712.py")
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
