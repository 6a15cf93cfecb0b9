"""lib/attestation: keys, the DSSE envelope and the EIP-712 signature.

The golden vectors are produced here independently of the code under test: ``rfc8785``,
``hashlib``, ``cryptography`` and ``eth_account`` are used directly with fixed keys, and
the results are also pinned as literals so a change in any library shows up too.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json

import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak, to_checksum_address

from hokusai_assets.lib.attestation.dsse import pae
from hokusai_assets.lib.attestation.eip712 import (
    EIP712_TYPES,
    Eip712Domain,
    eip712_hash,
    eip712_message,
    nonce_for_partition,
    recover_eip712_signer,
)
from hokusai_assets.lib.attestation.signing import AttesterKeys, sign_statement
from hokusai_assets.lib.errors import SignError
from hokusai_assets.lib.wallet import SECP256K1_N

# Fixed test keys: an Ed25519 seed and the well-known secp256k1 key of the eth-account docs.
ED25519_SEED = bytes(range(32))
SECP256K1_KEY = bytes.fromhex("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")
SECP256K1_ADDRESS = "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23"
WALLET = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"  # the EIP-55 specification's example

# Pinned results of the independent computations below (recompute them only on purpose).
GOLDEN_STATEMENT_SHA256 = "9455d9326acc3c96cbd9674c36d06da0cb886c51e6514e351996d85d6946b832"
GOLDEN_ED25519_PUBLIC = "03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8"
GOLDEN_KEYID = "ed25519:56475aa75463474c"
GOLDEN_ED25519_SIG = (
    "7a6e15575bc243192700bf28b5b81286dd7ded1fa8b8b9f94caa52b0c0326ee0"
    "f938d367bf97c887c6f40bc73b509b733795666fc16e7ff8ecf28ae97a4b0e09"
)
GOLDEN_ENVELOPE_SHA256 = "85850984ef93a3e6c48dc02455c951dfcefe5da002187add9d39aba0caa11e2f"
GOLDEN_EIP712_SIG = (
    "0xdcd81aaeb3e9b3b1d4b45c1428c22d4d59ad531949742a425f1fb15d756cbc98"
    "2b839f01bf4d46969552357ed50f7a1ebdb2bb7d998648b7d35af9811cddb2611b"
)

PAYLOAD_TYPE = "application/vnd.in-toto+json"


def _metric(base: float, new: float, absolute: float, relative: float) -> dict:
    return {
        "absolute_delta": absolute,
        "baseline_value": base,
        "direction_aware_delta": absolute,
        "higher_is_better": True,
        "improvement": True,
        "new_value": new,
        "relative_delta": relative,
    }


_STATEMENT = {
    "_type": "https://in-toto.io/Statement/v1",
    "predicate": {
        "baseline": {
            "model_digest": "sha256:85d17abe1fb7cc6a81b7d803615e306419ad1124051ba0484374c46939757735",
            "training_data_root": "sha256:75c7d69a4770c1e4d9f1a39ca6f90ada5c038b5d4707f1de0f273e13817e1123",
            "training_rows": 60,
        },
        "benchmark": {
            "data_root": "sha256:9669cf3cc2f1092d4c42898500a43fa00634e27582a5e25f54810a5788c4807a",
            "rows": 600,
        },
        "code_version": {"git_commit": None, "package": "hokusai_assets", "version": "0.1.0"},
        "config_digest": "sha256:c98b06f505c0e2c4167ba4b2e4db7a429da96b4df14081fbf042466513068273",
        "contribution": {
            "contributor_id": "dry-run",
            "data_root": "sha256:0947c5e0a8cfc7acaee0ad4fb917d8b9e2935f6082058020b35576ded62f5a4d",
            "file_digest": "sha256:987b9392b9cf1786d5c2f6766c427bc67e741160263d58e21161826e927d6993",
            "format": "csv",
            "license": None,
            "partition": "c-987b9392b9cf1786",
            "rows": 900,
            "wallet": WALLET,
        },
        "evaluation": {
            "accepted": True,
            "average": "macro",
            "benchmark_rows": 600,
            "computation_method": "weighted_average_delta",
            "decision_reasons": ["all acceptance conditions met"],
            "delta_one_bps": 498,
            "delta_one_score": 0.049839515602119945,
            "metric_deltas": {
                "accuracy": _metric(0.6866666666666666, 0.7416666666666667, 0.05500000000000005, 0.08009708737864085),
                "auroc": _metric(0.8543850294966805, 0.8869787099561629, 0.03259368045948241, 0.03814870267411333),
                "f1": _metric(0.6862761634470997, 0.7399038461538462, 0.05362768270674645, 0.0781430065083125),
                "precision": _metric(0.6869594458494194, 0.7403511602269367, 0.05339171437751733, 0.0777217850341936),
                "recall": _metric(0.687595038015206, 0.7421795384820595, 0.05458450046685348, 0.07938466313604542),
            },
            "min_benchmark_rows": 100,
            "min_improvement": 0,
            "primary_delta": 0.05500000000000005,
            "primary_metric": "accuracy",
            "significance": {
                "ci_lower": 0.023333333333333317,
                "ci_upper": 0.08666666666666667,
                "confidence": 0.95,
                "mcnemar": {"baseline_only_correct": 36, "improved_only_correct": 69, "p_value": 0.0016590268898995495},
                "method": "paired_bootstrap",
                "p_value": 0.000999000999000999,
                "resamples": 1000,
                "seed": 0,
            },
            "task_type": "classification",
            "weights": {"accuracy": 0.2, "auroc": 0.2, "f1": 0.2, "precision": 0.2, "recall": 0.2},
        },
        "improved": {
            "integration_strategy": "append",
            "model_digest": "sha256:a8be7731843dbc26f858c3a4290a8d55450dacdcb3f69a4e3a21dcf0d195da2b",
            "training_data_root": "sha256:71c789deb147a7c385a1b498be598726cc04163d10ffea8ae59a989206420f8c",
            "training_rows": 960,
        },
        "seed": 0,
        "task": {
            "columns": ["f01", "f02", "f03", "f04", "f05", "f06", "f07", "f08", "f09", "f10", "f11", "f12", "label"],
            "label": "label",
            "name": "mock_classification",
            "type": "classification",
        },
    },
    "predicateType": "https://hokusai.ai/attestations/delta-one/v1",
    "subject": [
        {
            "digest": {"sha256": "a8be7731843dbc26f858c3a4290a8d55450dacdcb3f69a4e3a21dcf0d195da2b"},
            "name": "model:mock_classification:c-987b9392b9cf1786",
        },
        {
            "digest": {"merkle-rfc6962-sha256": "0947c5e0a8cfc7acaee0ad4fb917d8b9e2935f6082058020b35576ded62f5a4d"},
            "name": "data:c-987b9392b9cf1786",
        },
    ],
}


def golden_statement() -> dict:
    """A real dry-run statement (fixed wallet and code version); a fresh copy each call."""
    return copy.deepcopy(_STATEMENT)


def golden_keys() -> AttesterKeys:
    return AttesterKeys(ED25519_SEED, SECP256K1_KEY)


def independent_typed_data(statement: dict, chain_id: int = 1, contract: str = "0x" + "00" * 20) -> dict:
    """The EIP-712 typed data written out by hand from the statement (not via lib/attestation)."""
    predicate = statement["predicate"]
    body = rfc8785.dumps(statement)
    return {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            "DeltaOneAttestation": [
                {"name": "contributor", "type": "address"},
                {"name": "statementDigest", "type": "bytes32"},
                {"name": "dataRoot", "type": "bytes32"},
                {"name": "modelDigest", "type": "bytes32"},
                {"name": "deltaOneBps", "type": "int256"},
                {"name": "nonce", "type": "uint256"},
            ],
        },
        "primaryType": "DeltaOneAttestation",
        "domain": {"name": "Hokusai DeltaOne", "version": "1", "chainId": chain_id, "verifyingContract": contract},
        "message": {
            "contributor": predicate["contribution"]["wallet"],
            "statementDigest": hashlib.sha256(body).digest(),
            "dataRoot": bytes.fromhex(predicate["contribution"]["data_root"].removeprefix("sha256:")),
            "modelDigest": bytes.fromhex(predicate["improved"]["model_digest"].removeprefix("sha256:")),
            "deltaOneBps": predicate["evaluation"]["delta_one_bps"],
            "nonce": int(predicate["contribution"]["partition"].removeprefix("c-"), 16),
        },
    }


# --------------------------------------------------------------------------- golden vectors


def test_golden_statement_digest_and_dsse_envelope():
    statement = golden_statement()
    body = rfc8785.dumps(statement)
    assert hashlib.sha256(body).hexdigest() == GOLDEN_STATEMENT_SHA256

    # DSSE by hand: PAE, Ed25519 with the fixed seed, the envelope as RFC 8785.
    expected_pae = b"DSSEv1 28 " + PAYLOAD_TYPE.encode() + b" " + str(len(body)).encode() + b" " + body
    private = Ed25519PrivateKey.from_private_bytes(ED25519_SEED)
    public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    signature = private.sign(expected_pae)
    keyid = "ed25519:" + hashlib.sha256(public).hexdigest()[:16]
    envelope = rfc8785.dumps(
        {
            "payload": base64.b64encode(body).decode(),
            "payloadType": PAYLOAD_TYPE,
            "signatures": [{"keyid": keyid, "sig": base64.b64encode(signature).decode()}],
        }
    )
    assert public.hex() == GOLDEN_ED25519_PUBLIC and keyid == GOLDEN_KEYID
    assert signature.hex() == GOLDEN_ED25519_SIG
    assert hashlib.sha256(envelope).hexdigest() == GOLDEN_ENVELOPE_SHA256

    keys = golden_keys()
    assert pae(PAYLOAD_TYPE, body) == expected_pae
    assert keys.ed25519_public_hex == public.hex() and keys.ed25519_keyid == keyid
    signed = sign_statement(body, statement, keys, Eip712Domain())
    assert signed.envelope_bytes == envelope  # byte for byte
    assert signed.statement_digest == "sha256:" + GOLDEN_STATEMENT_SHA256


def test_golden_eip712_signature():
    statement = golden_statement()
    body = rfc8785.dumps(statement)
    typed = independent_typed_data(statement)
    expected = Account.sign_typed_data(SECP256K1_KEY, full_message=typed)
    expected_hex = "0x" + bytes(expected.signature).hex()
    assert expected_hex == GOLDEN_EIP712_SIG
    assert Account.from_key(SECP256K1_KEY).address == SECP256K1_ADDRESS

    signed = sign_statement(body, statement, golden_keys(), Eip712Domain())
    eip712 = signed.eip712
    assert eip712["signature"] == expected_hex
    assert eip712["signer"] == SECP256K1_ADDRESS
    assert eip712["primaryType"] == "DeltaOneAttestation" and eip712["types"] == typed["types"]
    assert eip712["domain"] == typed["domain"]
    message = typed["message"]
    assert eip712["message"] == {
        "contributor": WALLET,
        "statementDigest": "0x" + message["statementDigest"].hex(),
        "dataRoot": "0x" + message["dataRoot"].hex(),
        "modelDigest": "0x" + message["modelDigest"].hex(),
        "deltaOneBps": 498,
        "nonce": str(0x987B9392B9CF1786),
    }
    # The JSON form is what eth_account and a wallet's signTypedData take, and recovers.
    signable = encode_typed_data(full_message=eip712_for_eth(eip712))
    assert Account.recover_message(signable, signature=expected_hex) == SECP256K1_ADDRESS
    # JSON-ready (RFC 8785 can write it: no bytes, no integer above 2**53).
    assert json.loads(rfc8785.dumps(eip712)) == eip712


def eip712_for_eth(eip712: dict) -> dict:
    return {k: eip712[k] for k in ("types", "primaryType", "domain", "message")}


@pytest.mark.parametrize("bps", [498, 0, -1, -123456, 2**53 - 1, -(2**53 - 1)])
@pytest.mark.parametrize("chain_id", [1, 8453])
def test_own_encoder_equals_eth_account(bps, chain_id):
    statement = golden_statement()
    statement["predicate"]["evaluation"]["delta_one_bps"] = bps
    contract = "0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC"
    digest = "sha256:" + hashlib.sha256(rfc8785.dumps(statement)).hexdigest()
    typed = eip712_message(statement, digest, Eip712Domain(chain_id=chain_id, verifying_contract=contract))
    signable = encode_typed_data(full_message=independent_typed_data(statement, chain_id, contract))
    expected = keccak(b"\x19" + bytes(signable.version) + bytes(signable.header) + bytes(signable.body))
    assert eip712_hash(typed) == expected
    signature = Account.sign_message(signable, SECP256K1_KEY).signature
    assert recover_eip712_signer(typed, "0x" + bytes(signature).hex()) == SECP256K1_ADDRESS


# --------------------------------------------------------------------------- determinism


def test_signing_twice_gives_identical_bytes():
    statement = golden_statement()
    body = rfc8785.dumps(statement)
    first = sign_statement(body, statement, golden_keys(), Eip712Domain())
    second = sign_statement(body, copy.deepcopy(statement), golden_keys(), Eip712Domain())
    assert first.envelope_bytes == second.envelope_bytes
    assert rfc8785.dumps(first.eip712) == rfc8785.dumps(second.eip712)


def test_ed25519_and_ecdsa_signatures_verify_with_the_libraries():
    statement = golden_statement()
    body = rfc8785.dumps(statement)
    signed = sign_statement(body, statement, golden_keys(), Eip712Domain())
    envelope = json.loads(signed.envelope_bytes)
    assert base64.b64decode(envelope["payload"]) == body
    public = Ed25519PublicKey.from_public_bytes(bytes.fromhex(GOLDEN_ED25519_PUBLIC))
    public.verify(base64.b64decode(envelope["signatures"][0]["sig"]), pae(PAYLOAD_TYPE, body))  # raises if bad
    s = int(signed.eip712["signature"][66:130], 16)
    assert s <= SECP256K1_N // 2  # low-s, the canonical form


# --------------------------------------------------------------------------- domain, nonce, refusals


def test_domain_defaults_validation_and_round_trip():
    domain = Eip712Domain()
    assert domain.as_typed_data() == {
        "name": "Hokusai DeltaOne",
        "version": "1",
        "chainId": 1,
        "verifyingContract": "0x0000000000000000000000000000000000000000",
    }
    assert Eip712Domain.from_typed_data(domain.as_typed_data()) == domain
    bad_fields = ({"chain_id": -1}, {"chain_id": True}, {"chain_id": "1"}, {"verifying_contract": "0x123"}, {"name": 1})
    for bad in bad_fields:
        with pytest.raises(SignError) as error:
            Eip712Domain(**bad)
        assert error.value.code == "E_SIGN_DOMAIN"
    with pytest.raises(SignError):
        Eip712Domain.from_typed_data({"name": "x", "version": "1", "chainId": 1})


def test_nonce_is_the_partition_keys_hex():
    assert nonce_for_partition("c-987b9392b9cf1786") == 0x987B9392B9CF1786
    assert nonce_for_partition("c-ffffffffffffffff") == 2**64 - 1
    for bad in ("c-987B9392B9CF1786", "c-987b", "x-987b9392b9cf1786", None):
        with pytest.raises(SignError) as error:
            nonce_for_partition(bad)
        assert error.value.code == "E_SIGN_NONCE"


def test_sign_refuses_bytes_that_are_not_the_statement():
    statement = golden_statement()
    body = rfc8785.dumps(statement)
    with pytest.raises(SignError) as error:
        sign_statement(json.dumps(statement, indent=1).encode(), statement, golden_keys())
    assert error.value.code == "E_SIGN_STATEMENT_MISMATCH"
    statement["predicate"]["contribution"]["wallet"] = WALLET.lower()
    with pytest.raises(SignError) as wallet:
        sign_statement(rfc8785.dumps(statement), statement, golden_keys())
    assert wallet.value.code == "E_SIGN_STATEMENT"
    assert body  # the untouched bytes still sign
    assert sign_statement(body, golden_statement(), golden_keys()).statement_digest.endswith(GOLDEN_STATEMENT_SHA256)


def test_recovery_accepts_only_canonical_signatures():
    statement = golden_statement()
    body = rfc8785.dumps(statement)
    eip712 = sign_statement(body, statement, golden_keys()).eip712
    raw = bytes.fromhex(eip712["signature"][2:])
    r, s, v = raw[:32], int.from_bytes(raw[32:64], "big"), raw[64]
    high_s = "0x" + (r + (SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - v])).hex()
    # The malleable twin is accepted by plain ECDSA recovery ...
    signable = encode_typed_data(full_message=eip712_for_eth(eip712))
    assert Account.recover_message(signable, signature=high_s) == SECP256K1_ADDRESS
    # ... but not here: one signature, one encoding.
    for bad in (high_s, eip712["signature"][:-2] + "00", eip712["signature"].upper(), eip712["signature"][:-2]):
        with pytest.raises(SignError):
            recover_eip712_signer(eip712, bad)
    with pytest.raises(SignError):
        recover_eip712_signer({**eip712, "primaryType": "Other"}, eip712["signature"])
    for nonce in ("0123", "-1", "0x10", 1.5):
        with pytest.raises(SignError):
            recover_eip712_signer({**eip712, "message": {**eip712["message"], "nonce": nonce}}, eip712["signature"])


# --------------------------------------------------------------------------- keys


def test_secrets_never_appear_in_repr_or_public_info():
    keys = golden_keys()
    text = repr(keys) + json.dumps(keys.public_info())
    assert ED25519_SEED.hex() not in text and SECP256K1_KEY.hex() not in text


def test_public_info_lists_both_keys_and_the_domain():
    domain = Eip712Domain(chain_id=8453, verifying_contract="0xcccccccccccccccccccccccccccccccccccccccc")
    info = golden_keys().public_info(domain)
    assert info["ed25519_public_key"] == GOLDEN_ED25519_PUBLIC
    assert info["ed25519_keyid"] == GOLDEN_KEYID
    assert info["attester_address"] == SECP256K1_ADDRESS
    assert info["eip712_domain"] == {
        "name": "Hokusai DeltaOne",
        "version": "1",
        "chainId": 8453,
        "verifyingContract": to_checksum_address("0xcccccccccccccccccccccccccccccccccccccccc"),
    }
    assert info["eip712_types"] == EIP712_TYPES and info["dsse_payload_type"] == PAYLOAD_TYPE
    assert info["secp256k1_public_key"].startswith("0x") and len(info["secp256k1_public_key"]) == 130
    rfc8785.dumps(info)  # publishable as canonical JSON
