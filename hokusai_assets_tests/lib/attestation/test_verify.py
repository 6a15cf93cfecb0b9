"""lib/attestation/verify: the third-party verifier and row inclusion proofs.

Golden vectors (rows -> leaves -> root, audit paths) are computed here with ``rfc8785``
and ``hashlib`` and a recursive RFC 6962 reference, independently of lib/commitments.
Tamper tests change one thing and check that verification fails *at the right check*.
To reach a check past the signatures, the tampered statement is re-signed with the
attester's keys: that is the case the arithmetic checks exist for (a signer that signs
a wrong statement, through a bug or a compromise).
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import hashlib
import json
import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import rfc8785

from hokusai_assets.lib.attestation.eip712 import Eip712Domain
from hokusai_assets.lib.attestation.signing import AttesterKeys, sign_statement
from hokusai_assets.lib.attestation.statement import DeltaOnePredicate
from hokusai_assets.lib.attestation.verify.base import Check, UnreadableFile
from hokusai_assets.lib.attestation.verify.proofs import VerifyError, prove_row, verify_row_proof
from hokusai_assets.lib.attestation.verify.signed_checks import trusted_info_problems
from hokusai_assets.lib.attestation.verify.verifier import CHECK_NAMES, verify_attestation
from hokusai_assets.lib.evaluation.delta import EvaluationPolicy, compute_delta
from hokusai_assets.lib.evaluation.metrics import Predictions
from hokusai_assets_tests.lib.attestation.test_signing import (
    GOLDEN_STATEMENT_SHA256,
    WALLET,
    golden_keys,
    golden_statement,
)

TRUSTED = golden_keys().public_info()
OTHER_KEYS = AttesterKeys(bytes(range(1, 33)), bytes.fromhex("11" * 32))
CORE_CHECKS = list(CHECK_NAMES[:8])
B64_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def sign(statement: dict, keys: AttesterKeys | None = None, domain: Eip712Domain | None = None):
    """Sign the statement's RFC 8785 bytes: (envelope bytes, EIP-712 JSON as read back)."""
    signed = sign_statement(rfc8785.dumps(statement), statement, keys or golden_keys(), domain or Eip712Domain())
    return signed.envelope_bytes, json.loads(rfc8785.dumps(signed.eip712))


def envelope_for(body: bytes, keys: AttesterKeys | None = None) -> bytes:
    """A DSSE envelope over any payload bytes, built by hand (cryptography + rfc8785)."""
    keys = keys or golden_keys()
    kind = b"application/vnd.in-toto+json"
    pae = b"DSSEv1 %d %b %d %b" % (len(kind), kind, len(body), body)
    signature = keys.ed25519_private_key.sign(pae)
    return rfc8785.dumps(
        {
            "payload": base64.b64encode(body).decode(),
            "payloadType": kind.decode(),
            "signatures": [{"keyid": keys.ed25519_keyid, "sig": base64.b64encode(signature).decode()}],
        }
    )


def first_failure(envelope: bytes, eip712: dict, **kwargs) -> str | None:
    kwargs.setdefault("trusted", TRUSTED)
    report = verify_attestation(envelope, eip712, **kwargs)
    assert report.ok == (report.first_failure is None)
    return report.first_failure.name if report.first_failure else None


@pytest.fixture(scope="module")
def golden():
    return sign(golden_statement())


# --------------------------------------------------------------------------- the valid case


def test_golden_attestation_verifies_every_check(golden):
    envelope, eip712 = golden
    report = verify_attestation(envelope, eip712, trusted=TRUSTED)
    assert [c.name for c in report.checks] == CORE_CHECKS
    assert report.ok and report.first_failure is None, report.as_dict()
    assert report.statement == golden_statement()
    assert hashlib.sha256(base64.b64decode(json.loads(envelope)["payload"])).hexdigest() == GOLDEN_STATEMENT_SHA256
    summary = report.as_dict()
    assert summary["ok"] and summary["first_failure"] is None and len(summary["checks"]) == 8


def _regression_statement(baseline_pred, improved_pred, y_true, **policy) -> dict:
    policy = EvaluationPolicy(
        metrics=("mse", "mae", "r2", "mape"), weights={"mse": 2.0, "r2": 0.5}, primary_metric="mse",
        min_benchmark_rows=50, bootstrap_resamples=200, **policy,
    )
    baseline, improved = Predictions(y_true, baseline_pred), Predictions(y_true, improved_pred)
    evaluation = compute_delta("regression", policy, baseline, improved)
    predicate = DeltaOnePredicate.from_statement(golden_statement())
    return dataclasses.replace(
        predicate, task_type="regression", benchmark_rows=len(y_true), evaluation=evaluation, seed=0
    ).statement()


def test_real_regression_deltas_with_error_metrics_verify():
    rng = np.random.default_rng(7)
    y = rng.normal(10.0, 2.0, 300)
    statement = _regression_statement(y + rng.normal(0, 1.0, 300), y + rng.normal(0, 0.5, 300), y)
    evaluation = statement["predicate"]["evaluation"]
    assert evaluation["accepted"] and evaluation["delta_one_bps"] > 0
    assert first_failure(*sign(statement)) is None


def test_rejected_contribution_with_a_zero_baseline_error_verifies():
    # The baseline is perfect (mse 0): the improved model can only be worse; -1.0 rule.
    rng = np.random.default_rng(8)
    y = rng.normal(10.0, 2.0, 120)
    statement = _regression_statement(y.copy(), y + rng.normal(0, 0.5, 120), y)
    evaluation = statement["predicate"]["evaluation"]
    assert evaluation["metric_deltas"]["mse"]["direction_aware_delta"] == -1.0
    assert not evaluation["accepted"] and evaluation["delta_one_bps"] == 0
    assert evaluation["delta_one_score"] < 0
    assert first_failure(*sign(statement)) is None


# --------------------------------------------------------------------------- envelope tampering


def _spans(envelope: bytes) -> dict[str, tuple[int, int]]:
    obj = json.loads(envelope)
    spans = {}
    signature = obj["signatures"][0]
    for name, value in (("payload", obj["payload"]), ("keyid", signature["keyid"]), ("sig", signature["sig"])):
        start = envelope.index(b'"' + value.encode() + b'"') + 1
        spans[name] = (start, start + len(value))
    return spans


def test_every_single_byte_change_of_the_envelope_fails_at_an_envelope_check(golden):
    envelope, _ = golden
    # Without EIP-712 data the valid envelope fails only later, at eip712_signature, and
    # each verify stays cheap; so a failure at an envelope check is the tamper's doing.
    assert first_failure(envelope, {}) == "eip712_signature"
    spans = _spans(envelope)
    inside = set().union(*(range(a, b) for a, b in spans.values()))
    for position in range(len(envelope)):
        tampered = bytearray(envelope)
        tampered[position] ^= 0x01
        name = first_failure(bytes(tampered), {})
        if position in inside:
            assert name in ("envelope_format", "envelope_signature"), position
        else:  # JSON structure, member names, payloadType
            assert name == "envelope_format", position


@pytest.mark.parametrize("region", ["payload", "sig", "keyid"])
def test_a_changed_payload_signature_or_keyid_fails_the_signature(golden, region):
    envelope, eip712 = golden
    start, end = _spans(envelope)[region]
    alphabet = b"0123456789abcdef" if region == "keyid" else B64_ALPHABET.encode()
    # Keep the text well-formed (same alphabet; not the last base64 characters, whose
    # low bits may be padding), so the signature check is what must catch it.
    last = end - (0 if region == "keyid" else 4)
    positions = range(start if region != "keyid" else start + len("ed25519:"), last)
    stride = max(1, len(positions) // 60)
    for position in positions[::stride]:
        tampered = bytearray(envelope)
        tampered[position] = next(c for c in alphabet if c != tampered[position])
        assert first_failure(bytes(tampered), eip712) == "envelope_signature", position


def test_non_canonical_base64_and_whitespace_are_format_errors(golden):
    envelope, eip712 = golden
    obj = json.loads(envelope)
    assert first_failure(json.dumps(obj, indent=1).encode(), eip712) == "envelope_format"
    sig = obj["signatures"][0]["sig"]
    # Same bytes, different text: the unused low bits of the last character set.
    twin = sig[:-3] + B64_ALPHABET[B64_ALPHABET.index(sig[-3]) ^ 1] + "=="
    assert base64.b64decode(twin) == base64.b64decode(sig)
    obj["signatures"][0]["sig"] = twin
    assert first_failure(rfc8785.dumps(obj), eip712) == "envelope_format"


def test_hostile_inputs_give_a_verdict_not_an_exception(golden):
    envelope, eip712 = golden
    for bad_envelope in (b"", b"null", b"[]", b"\xff\xfe", b'{"payload":1,"payloadType":2,"signatures":3}'):
        report = verify_attestation(bad_envelope, eip712, trusted=TRUSTED)
        assert report.first_failure.name == "envelope_format"
        assert [c.name for c in report.checks] == CORE_CHECKS
        assert all(c.detail.startswith("not checked") for c in report.checks[1:6] if c.name != "eip712_signature")
    for bad_eip712 in (None, {}, [], {"types": 1}, {**eip712, "signature": None}):
        assert first_failure(envelope, bad_eip712) == "eip712_signature"
    assert first_failure(envelope, eip712, trusted={"ed25519_public_key": "xyz"}) == "envelope_signature"


# --------------------------------------------------------------------------- trust


def test_without_trusted_keys_the_signatures_prove_nothing(golden):
    envelope, eip712 = golden
    report = verify_attestation(envelope, eip712)
    failed = [c.name for c in report.checks if not c.ok]
    assert failed == ["envelope_signature", "eip712_signature"]
    assert "attester.json" in report.first_failure.detail


def test_an_attestation_signed_by_other_keys_fails(golden):
    envelope, eip712 = sign(golden_statement(), keys=OTHER_KEYS)
    assert first_failure(envelope, eip712) == "envelope_signature"
    # With the right Ed25519 envelope, the foreign EIP-712 signer is caught on its own.
    assert first_failure(golden[0], eip712) == "eip712_signature"
    # And the keys' own published info verifies them (trust is the caller's choice).
    assert first_failure(envelope, eip712, trusted=OTHER_KEYS.public_info()) is None


def test_inconsistent_trusted_info_fails(golden):
    envelope, eip712 = golden
    wrong_keyid = {**TRUSTED, "ed25519_keyid": "ed25519:0000000000000000"}
    assert first_failure(envelope, eip712, trusted=wrong_keyid) == "envelope_signature"
    assert first_failure(envelope, eip712, trusted={**TRUSTED, "attester_address": WALLET}) == "eip712_signature"


def _with_signatures(envelope: bytes, entries: list[dict]) -> bytes:
    """The envelope with these signature entries, re-serialised canonically (so only the
    signature check can object)."""
    return rfc8785.dumps({**json.loads(envelope), "signatures": entries})


def _other_keys_signature(envelope: bytes) -> dict:
    """A valid signature over the same payload by a key nobody trusts."""
    other = json.loads(envelope_for(base64.b64decode(json.loads(envelope)["payload"]), OTHER_KEYS))
    return other["signatures"][0]


def _forged(entry: dict) -> dict:
    sig = bytearray(base64.b64decode(entry["sig"]))
    sig[5] ^= 0x40
    return {**entry, "sig": base64.b64encode(bytes(sig)).decode()}


@pytest.mark.parametrize(
    ("entries", "named"),
    [
        # another key's valid signature beside the attester's, after it and before it
        (lambda good, env: [good, _other_keys_signature(env)], "signatures[1] (keyid {other}) has an unknown keyid"),
        (lambda good, env: [_other_keys_signature(env), good], "signatures[0] (keyid {other}) has an unknown keyid"),
        # a forged second signature under the attester's key id
        (lambda good, env: [good, _forged(good)], "signatures[1] (keyid {ours}) repeats the keyid of signatures[0], and does not verify"),
        # the good signature twice
        (lambda good, env: [good, dict(good)], "signatures[1] (keyid {ours}) repeats the sig of signatures[0]"),
        # the good sig under an unknown key id, beside the good entry
        (
            lambda good, env: [good, {"keyid": "ed25519:0123456789abcdef", "sig": good["sig"]}],
            "signatures[1] (keyid ed25519:0123456789abcdef) repeats the sig of signatures[0]",
        ),
        # only an unknown key id, and a forged sig alone
        (lambda good, env: [_other_keys_signature(env)], "signatures[0] (keyid {other}) has an unknown keyid"),
        (lambda good, env: [_forged(good)], "signatures[0] (keyid {ours}) does not verify"),
    ],
    ids=["extra-other-key", "other-key-first", "extra-forged", "duplicated", "sig-under-unknown-keyid",
         "unknown-keyid-alone", "forged-alone"],
)
def test_an_envelope_must_carry_exactly_the_attesters_one_signature(golden, entries, named):
    envelope, eip712 = golden
    good = json.loads(envelope)["signatures"][0]
    tampered = _with_signatures(envelope, entries(good, envelope))
    report = verify_attestation(tampered, eip712, trusted=TRUSTED)
    assert report.checks[0].ok, report.checks[0].detail  # well-formed: only the signature check objects
    assert report.first_failure.name == "envelope_signature"
    detail = report.first_failure.detail
    assert named.format(ours=TRUSTED["ed25519_keyid"], other=OTHER_KEYS.ed25519_keyid) in detail
    assert detail.startswith(f"expected exactly one signature, by the trusted key {TRUSTED['ed25519_keyid']}")


def test_the_one_good_signature_verifies_and_says_so(golden):
    envelope, eip712 = golden
    report = verify_attestation(envelope, eip712, trusted=TRUSTED)
    assert report.checks[1] == Check(
        "envelope_signature", True, f"the one Ed25519 signature, by {TRUSTED['ed25519_keyid']}, over DSSE PAE verifies"
    )


def test_an_unreadable_eip712_file_fails_both_eip712_checks_with_its_reason(golden):
    envelope, _ = golden
    report = verify_attestation(envelope, UnreadableFile("statement.eip712.json is truncated"), trusted=TRUSTED)
    failed = {c.name: c.detail for c in report.checks if not c.ok}
    assert failed == {name: "statement.eip712.json is truncated" for name in ("eip712_signature", "eip712_binding")}


@pytest.mark.parametrize(
    ("info", "problem"),
    [
        ([], "it is an array, not an object"),
        ("keys", "it is a string, not an object"),
        ({}, "ed25519_public_key is missing"),
        ({**TRUSTED, "ed25519_public_key": 7}, "ed25519_public_key is missing or not 64 hex digits"),
        ({**TRUSTED, "attester_address": "0x12"}, "attester_address is missing or not a 0x address"),
        ({**TRUSTED, "ed25519_keyid": None}, "ed25519_keyid is null, not a string"),
        ({**TRUSTED, "eip712_domain": [1]}, "eip712_domain is an array, not an object"),
    ],
)
def test_attester_info_of_the_wrong_shape_is_described(info, problem):
    assert trusted_info_problems(TRUSTED) == []
    assert any(p.startswith(problem) for p in trusted_info_problems(info)), trusted_info_problems(info)


def test_a_domain_other_than_the_published_one_fails_the_binding():
    domain = Eip712Domain(chain_id=5)
    envelope, eip712 = sign(golden_statement(), domain=domain)
    assert first_failure(envelope, eip712) == "eip712_binding"
    assert first_failure(envelope, eip712, trusted=golden_keys().public_info(domain)) is None


# --------------------------------------------------------------------------- statement tampering


def _set(statement: dict, path: str, value) -> dict:
    node = statement
    *parents, last = path.split(".")
    for key in parents:
        node = node[key]
    node[last] = value
    return statement


EVAL = "predicate.evaluation"
ACC = EVAL + ".metric_deltas.accuracy"


@pytest.mark.parametrize(
    ("changes", "check"),
    [
        ({ACC + ".new_value": 0.75}, "delta_arithmetic"),
        ({ACC + ".baseline_value": 0.6}, "delta_arithmetic"),
        ({ACC + ".absolute_delta": 0.06}, "delta_arithmetic"),
        ({ACC + ".relative_delta": 0.09}, "delta_arithmetic"),
        ({ACC + ".improvement": False}, "delta_arithmetic"),
        ({ACC + ".higher_is_better": False}, "delta_arithmetic"),
        ({ACC + ".direction_aware_delta": 0.06}, "delta_arithmetic"),
        ({EVAL + ".metric_deltas.auroc.new_value": 0.9}, "delta_arithmetic"),
        ({EVAL + ".weights.accuracy": 0.3}, "delta_arithmetic"),
        ({EVAL + ".delta_one_score": 0.0499}, "delta_arithmetic"),
        ({EVAL + ".delta_one_score": 0.049839515602119945 * (1 + 1e-9)}, "delta_arithmetic"),
        ({EVAL + ".primary_delta": 0.06}, "delta_arithmetic"),
        ({EVAL + ".computation_method": "max"}, "delta_arithmetic"),
        ({EVAL + ".delta_one_bps": 499}, "bps_rounding"),
        ({EVAL + ".delta_one_bps": 4984}, "bps_rounding"),
        ({EVAL + ".accepted": False}, "bps_rounding"),
        ({EVAL + ".accepted": False, EVAL + ".delta_one_bps": 0}, "decision_rule"),
        ({EVAL + ".significance.ci_lower": -0.001}, "decision_rule"),
        ({EVAL + ".min_benchmark_rows": 601}, "decision_rule"),
        ({EVAL + ".min_improvement": 0.06}, "decision_rule"),
        ({EVAL + ".benchmark_rows": 599}, "decision_rule"),
        ({EVAL + ".decision_reasons": ["looked fine"]}, "decision_rule"),
        ({"predicate.improved.model_digest": "sha256:" + "00" * 32}, "statement_format"),
        ({"predicate.contribution.data_root": "sha256:" + "00" * 32}, "statement_format"),
        ({"predicate.contribution.wallet": WALLET.lower()}, "statement_format"),
        ({"predicateType": "https://example.com/other/v1"}, "statement_format"),
    ],
)
def test_a_resigned_wrong_statement_fails_at_the_right_check(changes, check):
    statement = golden_statement()
    for path, value in changes.items():
        _set(statement, path, value)
    envelope = envelope_for(rfc8785.dumps(statement))
    _, eip712 = sign(golden_statement())
    assert first_failure(envelope, eip712) == check
    # Unsigned (the usual attack), the same change fails the envelope signature first.
    original = json.loads(sign(golden_statement())[0])
    original["payload"] = base64.b64encode(rfc8785.dumps(statement)).decode()
    assert first_failure(rfc8785.dumps(original), eip712) == "envelope_signature"


def test_score_reordering_within_tolerance_is_accepted():
    statement = golden_statement()
    deltas = statement["predicate"]["evaluation"]["metric_deltas"]
    weights = statement["predicate"]["evaluation"]["weights"]
    reordered = sum(weights[m] * deltas[m]["direction_aware_delta"] for m in sorted(deltas, reverse=True))
    _set(statement, EVAL + ".delta_one_score", reordered)
    assert first_failure(*sign(statement)) is None


def test_a_non_canonical_payload_fails_the_statement_format(golden):
    envelope, eip712 = golden
    assert envelope_for(rfc8785.dumps(golden_statement())) == envelope
    body = json.dumps(golden_statement(), indent=1).encode()
    assert first_failure(envelope_for(body), eip712) == "statement_format"
    assert first_failure(envelope_for(b"not json"), eip712) == "statement_format"
    assert first_failure(envelope_for(b"[1]"), eip712) == "statement_format"


# --------------------------------------------------------------------------- wallet and EIP-712 tampering

OTHER_WALLET = "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359"


def test_a_changed_wallet_fails(golden):
    envelope, eip712 = golden
    statement = _set(golden_statement(), "predicate.contribution.wallet", OTHER_WALLET)
    # Statement re-signed, typed data not: the signed payout no longer matches it.
    resigned = envelope_for(rfc8785.dumps(statement))
    assert first_failure(resigned, eip712) == "eip712_binding"
    # Only the typed data's contributor changed: the signature no longer recovers.
    forged = copy.deepcopy(eip712)
    forged["message"]["contributor"] = OTHER_WALLET
    assert first_failure(envelope, forged) == "eip712_signature"
    # Both signed consistently by the attester: a different, valid attestation.
    assert first_failure(*sign(statement)) is None


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("deltaOneBps", 9999),
        ("deltaOneBps", "498"),
        ("nonce", "1"),
        ("statementDigest", "0x" + "00" * 32),
        ("dataRoot", "0x" + "00" * 32),
        ("modelDigest", "0x" + "00" * 32),
    ],
)
def test_changed_typed_data_fails_the_eip712_signature(golden, field, value):
    envelope, eip712 = golden
    forged = copy.deepcopy(eip712)
    forged["message"][field] = value
    assert first_failure(envelope, forged) == "eip712_signature"


@pytest.mark.parametrize("field", ["deltaOneBps", "nonce", "statementDigest", "dataRoot", "modelDigest", "contributor"])
def test_typed_data_signed_but_not_matching_the_statement_fails_the_binding(golden, field):
    # The attester's key signed a message that says something else than the statement.
    from eth_account import Account
    from eth_account.messages import encode_typed_data

    envelope, eip712 = golden
    forged = copy.deepcopy(eip712)
    forged["message"][field] = {
        "deltaOneBps": 9999, "nonce": "1", "contributor": OTHER_WALLET,
    }.get(field, "0x" + "00" * 32)
    body = {k: forged[k] for k in ("types", "primaryType", "domain", "message")}
    signed = Account.sign_message(encode_typed_data(full_message=body), golden_keys().secp256k1_secret)
    forged["signature"] = "0x" + bytes(signed.signature).hex()
    assert first_failure(envelope, forged) == "eip712_binding"


def test_every_byte_of_the_eip712_signature_matters(golden):
    envelope, eip712 = golden
    signature = eip712["signature"]
    for position in range(2, len(signature), 3):
        forged = dict(eip712)
        forged["signature"] = signature[:position] + ("0" if signature[position] != "0" else "1") + signature[position + 1:]
        assert first_failure(envelope, forged) == "eip712_signature", position


# --------------------------------------------------------------------------- files


def _table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "f1": [0.5, -1.25, 3.0, 0.1, 2.5],
            "f2": [1, 2, 3, 4, 5],
            "name": ["a", "b", "c", "d", None],
            "label": [0, 1, 0, 1, 1],
        }
    )


def _statement_for(frame: pd.DataFrame, columns: list[str], file_bytes: bytes) -> dict:
    root = independent_root([leaf(row_bytes(r, columns)) for r in frame.to_dict("records")])
    statement = golden_statement()
    contribution = statement["predicate"]["contribution"]
    contribution["data_root"] = "sha256:" + root.hex()
    contribution["file_digest"] = "sha256:" + hashlib.sha256(file_bytes).hexdigest()
    contribution["rows"] = len(frame)
    statement["predicate"]["task"]["columns"] = columns
    statement["subject"][1]["digest"] = {"merkle-rfc6962-sha256": root.hex()}
    return statement


def test_the_data_file_check(tmp_path):
    frame, columns = _table(), ["f1", "f2", "label", "name"]
    received = tmp_path / "contribution.csv"
    frame.to_csv(received, index=False)
    statement = _statement_for(frame, columns, received.read_bytes())
    envelope, eip712 = sign(statement)

    report = verify_attestation(envelope, eip712, trusted=TRUSTED, data_file=received)
    assert report.ok and "received file" in report.checks[-1].detail
    # The same rows in another format and order: the data root still matches.
    other = tmp_path / "rows.parquet"
    frame.iloc[::-1].to_parquet(other)
    report = verify_attestation(envelope, eip712, trusted=TRUSTED, data_file=other)
    assert report.ok and "data root" in report.checks[-1].detail
    # One changed value in one row: neither digest nor root matches.
    changed = frame.copy()
    changed.loc[2, "f1"] = 3.0000001
    changed.to_csv(received, index=False)
    assert first_failure(envelope, eip712, data_file=received) == "data_file"
    changed.to_parquet(other)
    assert first_failure(envelope, eip712, data_file=other) == "data_file"
    assert first_failure(envelope, eip712, data_file=tmp_path / "missing.csv") == "data_file"
    # Without committed columns only the raw file digest can match.
    del statement["predicate"]["task"]["columns"]
    assert first_failure(*sign(statement), data_file=other) == "data_file"


def test_the_model_file_check(tmp_path):
    model = tmp_path / "model.safetensors"
    model.write_bytes(b"improved model bytes")
    baseline = tmp_path / "baseline.safetensors"
    baseline.write_bytes(b"baseline model bytes")
    statement = golden_statement()
    statement["predicate"]["improved"]["model_digest"] = "sha256:" + hashlib.sha256(model.read_bytes()).hexdigest()
    statement["predicate"]["baseline"]["model_digest"] = "sha256:" + hashlib.sha256(baseline.read_bytes()).hexdigest()
    statement["subject"][0]["digest"] = {"sha256": hashlib.sha256(model.read_bytes()).hexdigest()}
    envelope, eip712 = sign(statement)
    report = verify_attestation(envelope, eip712, trusted=TRUSTED, model_file=model)
    assert report.ok and report.checks[-1].name == "model_digest"
    report = verify_attestation(envelope, eip712, trusted=TRUSTED, model_file=baseline)
    assert report.first_failure.name == "model_digest" and "baseline" in report.first_failure.detail
    model.write_bytes(b"improved model bytes!")
    assert first_failure(envelope, eip712, model_file=model) == "model_digest"


# --------------------------------------------------------------------------- rows, leaves, root, proofs


def row_bytes(row: dict, columns: list[str]) -> bytes:
    def value(v):
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return None
        return v.item() if hasattr(v, "item") else v

    return rfc8785.dumps({c: value(row[c]) for c in columns})


def leaf(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def _split(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def independent_root(leaves: list[bytes]) -> bytes:
    """RFC 6962 MTH over the sorted leaves, recursively, as the RFC writes it."""
    def mth(d: list[bytes]) -> bytes:
        if len(d) == 1:
            return d[0]
        k = _split(len(d))
        return hashlib.sha256(b"\x01" + mth(d[:k]) + mth(d[k:])).digest()

    return mth(sorted(leaves)) if leaves else hashlib.sha256(b"").digest()


def independent_path(m: int, d: list[bytes]) -> list[bytes]:
    """RFC 6962 PATH(m, D[n]), recursively."""
    if len(d) == 1:
        return []
    k = _split(len(d))
    if m < k:
        return independent_path(m, d[:k]) + [independent_root_unsorted(d[k:])]
    return independent_path(m - k, d[k:]) + [independent_root_unsorted(d[:k])]


def independent_root_unsorted(d: list[bytes]) -> bytes:
    if len(d) == 1:
        return d[0]
    k = _split(len(d))
    return hashlib.sha256(b"\x01" + independent_root_unsorted(d[:k]) + independent_root_unsorted(d[k:])).digest()


GOLDEN_ROWS = [
    {"id": 1, "x": 0.5, "city": "Zürich", "ok": True, "note": None},
    {"id": 2, "x": -1e-7, "city": "東京", "ok": False, "note": "a\"b\\c\n"},
    {"id": 3, "x": 1e21, "city": "", "ok": True, "note": "😀"},
    {"id": 9007199254740991, "x": 3.0, "city": "x", "ok": None, "note": None},
    {"id": 2, "x": -1e-7, "city": "東京", "ok": False, "note": "a\"b\\c\n"},  # a duplicate counts
]
GOLDEN_COLUMNS = ["id", "x", "city", "ok", "note"]
GOLDEN_ROW_BYTES_0 = b'{"city":"Z\xc3\xbcrich","id":1,"note":null,"ok":true,"x":0.5}'
GOLDEN_ROOT = "4c5fd024afaffa4cd2590f8a2890715a6398465a5e4270aa5277735f4842972b"


def test_golden_rows_leaves_root():
    assert row_bytes(GOLDEN_ROWS[0], GOLDEN_COLUMNS) == GOLDEN_ROW_BYTES_0
    leaves = [leaf(row_bytes(r, GOLDEN_COLUMNS)) for r in GOLDEN_ROWS]
    root = independent_root(leaves)
    assert root.hex() == GOLDEN_ROOT
    from hokusai_assets.lib.commitments.merkle import data_root

    frame = pd.DataFrame(GOLDEN_ROWS)
    assert data_root(frame, GOLDEN_COLUMNS) == "sha256:" + GOLDEN_ROOT
    assert data_root(frame.iloc[::-1], GOLDEN_COLUMNS) == "sha256:" + GOLDEN_ROOT  # order-free
    for source in (frame, leaves):
        for index, row in enumerate(GOLDEN_ROWS):
            proof = prove_row(source, row, GOLDEN_COLUMNS)
            assert proof["root"] == "sha256:" + GOLDEN_ROOT and proof["tree_size"] == 5
            assert proof["leaf"] == leaves[index].hex()
            ordered = sorted(leaves)
            assert ordered[proof["index"]] == leaves[index]
            assert proof["audit_path"] == [h.hex() for h in independent_path(proof["index"], ordered)]
            assert verify_row_proof(proof, row, "sha256:" + GOLDEN_ROOT, columns=GOLDEN_COLUMNS, tree_size=5)


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 13])
def test_row_proofs_for_every_row(n):
    frame = pd.DataFrame({"a": range(n), "b": [f"v{i}" for i in range(n)], "c": [i / 3 for i in range(n)]})
    columns = ["a", "b", "c"]
    rows = frame.to_dict("records")
    root = "sha256:" + independent_root([leaf(row_bytes(r, columns)) for r in rows]).hex()
    for row in rows:
        proof = prove_row(frame, row, columns)
        assert proof["root"] == root
        assert json.loads(json.dumps(proof)) == proof  # JSON-ready
        assert verify_row_proof(proof, row, root)
        assert verify_row_proof(proof, {**row, "extra": "ignored"}, root)  # only committed columns count


def test_a_changed_row_or_proof_does_not_verify():
    frame = pd.DataFrame(GOLDEN_ROWS)
    root = "sha256:" + GOLDEN_ROOT
    row = GOLDEN_ROWS[0]
    proof = prove_row(frame, row, GOLDEN_COLUMNS)
    assert verify_row_proof(proof, row, root)
    for column, value in (("x", 0.5000001), ("city", "Zurich"), ("ok", 1), ("note", ""), ("id", "1")):
        assert not verify_row_proof(proof, {**row, column: value}, root), column
    assert not verify_row_proof(proof, {k: v for k, v in row.items() if k != "note"}, root)
    assert not verify_row_proof(proof, row, "sha256:" + "00" * 32)
    assert not verify_row_proof(proof, row, root, columns=GOLDEN_COLUMNS[:-1])
    for key, value in (
        ("index", proof["index"] + 1),
        ("index", True),
        ("tree_size", 6),
        ("audit_path", proof["audit_path"][:-1]),
        ("audit_path", ["00" * 32] + proof["audit_path"][1:]),
        ("audit_path", ["zz"]),
        ("leaf", "00" * 32),
        ("root", "sha256:" + "00" * 32),
        ("columns", None),
    ):
        assert not verify_row_proof({**proof, key: value}, row, root, tree_size=5), key
    # The hashes do not pin the claimed size down: bind it to the statement's row count.
    assert verify_row_proof({**proof, "tree_size": 6}, row, root)
    assert verify_row_proof(proof, row, root, tree_size=5)
    assert not verify_row_proof({}, row, root) and not verify_row_proof(None, row, root)


def test_prove_row_errors():
    frame = pd.DataFrame(GOLDEN_ROWS)
    with pytest.raises(VerifyError) as missing:
        prove_row(frame, {**GOLDEN_ROWS[0], "x": 0.25}, GOLDEN_COLUMNS)
    assert missing.value.code == "E_VERIFY_ROW_NOT_FOUND"
    with pytest.raises(VerifyError) as columns:
        prove_row(frame, {"id": 1}, GOLDEN_COLUMNS)
    assert columns.value.code == "E_VERIFY_ROW_COLUMNS"
    with pytest.raises(VerifyError) as leaves:
        prove_row([b"short"], GOLDEN_ROWS[0], GOLDEN_COLUMNS)
    assert leaves.value.code == "E_VERIFY_BAD_LEAF"


def test_a_frame_row_with_nan_is_a_missing_cell():
    frame = pd.DataFrame({"a": [1.0, float("nan")], "b": ["x", "y"]})
    row = frame.to_dict("records")[1]  # {"a": nan, "b": "y"}
    proof = prove_row(frame, row, ["a", "b"])
    assert verify_row_proof(proof, {"a": None, "b": "y"}, proof["root"])


# --------------------------------------------------------------------------- third-party footprint


def test_the_verifier_needs_no_dagster_mlflow_or_eth_account():
    probe = (
        "import sys, hokusai_assets.lib.attestation.verify.verifier, hokusai_assets.lib.attestation.verify.proofs\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'dagster', 'mlflow', 'click', 'eth_account'}))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
