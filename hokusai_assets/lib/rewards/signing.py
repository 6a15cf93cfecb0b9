"""Signing an epoch: the DSSE envelope (Ed25519) and EIP-712 typed data a payout contract checks.

The typed data's primary type is ``RewardEpoch(string epoch, bytes32 payoutRoot, uint256
total, bytes32 statementDigest)``, under the deployment's EIP-712 domain
(``attestation.eip712``): a contract that holds the attester's address can accept the root
and the total, and users can claim with proofs against the root. Signed and recovered with
eth-account (deterministic RFC 6979, low s); the envelope is the same DSSE form as a
contribution's (``lib/attestation/signing.dsse_envelope``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hokusai_assets.lib.attestation.eip712 import EIP712_TYPES, Eip712Domain
from hokusai_assets.lib.attestation.signing import AttesterKeys, dsse_envelope
from hokusai_assets.lib.commitments.canonical import canonical_json
from hokusai_assets.lib.commitments.digests import bytes_digest, parse_digest
from hokusai_assets.lib.rewards.errors import RewardsError

PRIMARY_TYPE = "RewardEpoch"
EPOCH_TYPES: dict[str, list[dict[str, str]]] = {
    "EIP712Domain": EIP712_TYPES["EIP712Domain"],  # the same domain as a contribution's
    PRIMARY_TYPE: [
        {"name": "epoch", "type": "string"},
        {"name": "payoutRoot", "type": "bytes32"},
        {"name": "total", "type": "uint256"},
        {"name": "statementDigest", "type": "bytes32"},
    ],
}
ZERO_ROOT = "0x" + "00" * 32  # the payout root when nobody is paid


def epoch_typed_data(predicate: Mapping[str, Any], statement_digest: str, domain: Eip712Domain) -> dict[str, Any]:
    payouts = predicate["payouts"]
    return {
        "types": EPOCH_TYPES,
        "primaryType": PRIMARY_TYPE,
        "domain": domain.as_typed_data(),
        "message": {
            "epoch": predicate["epoch"],
            "payoutRoot": payouts["root"] or ZERO_ROOT,
            # A decimal string: the total can exceed 2**53, which RFC 8785 cannot write as a number.
            "total": str(payouts["total"]),
            "statementDigest": "0x" + parse_digest(statement_digest).hex(),
        },
    }


def _signable(typed: Mapping[str, Any]):
    from eth_account.messages import encode_typed_data

    message = {**typed["message"], "total": int(typed["message"]["total"])}
    return encode_typed_data(full_message={**typed, "message": message})


@dataclass(frozen=True)
class SignedEpoch:
    envelope_bytes: bytes
    eip712: dict[str, Any]
    statement_digest: str


def sign_epoch(statement: Mapping[str, Any], keys: AttesterKeys, domain: Eip712Domain) -> SignedEpoch:
    from eth_account import Account

    statement_bytes = canonical_json(statement)
    envelope = dsse_envelope(statement_bytes, keys)
    digest = bytes_digest(statement_bytes)
    typed = epoch_typed_data(statement["predicate"], digest, domain)
    signed = Account.sign_message(_signable(typed), private_key=keys.secp256k1_secret)
    eip712 = {**typed, "signature": "0x" + bytes(signed.signature).hex(), "signer": keys.attester_address}
    return SignedEpoch(envelope_bytes=canonical_json(envelope), eip712=eip712, statement_digest=digest)


def recover_epoch_signer(eip712: Mapping[str, Any]) -> str:
    """The address that signed the epoch's typed data; RewardsError if it cannot be read."""
    from eth_account import Account

    try:
        typed = {key: eip712[key] for key in ("types", "primaryType", "domain", "message")}
        if typed["types"] != EPOCH_TYPES or typed["primaryType"] != PRIMARY_TYPE:
            raise ValueError("the types are not the RewardEpoch schema")
        return Account.recover_message(_signable(typed), signature=eip712["signature"])
    except Exception as exc:  # noqa: BLE001 - eth-account raises many types on malformed input
        raise RewardsError(
            f"the EIP-712 signature cannot be checked ({type(exc).__name__}: {exc})", code="E_EPOCH_EIP712"
        ) from None
