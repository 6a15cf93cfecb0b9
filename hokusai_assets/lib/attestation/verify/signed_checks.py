"""Checks of what was signed and by whom: the envelope, the statement's form, the EIP-712 signature."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from hokusai_assets.lib.attestation.bundle import EIP712_FILE, ENVELOPE_FILE
from hokusai_assets.lib.attestation.dsse import PAYLOAD_TYPE, ed25519_keyid, pae
from hokusai_assets.lib.attestation.eip712 import Eip712Domain, eip712_message, recover_eip712_signer
from hokusai_assets.lib.attestation.statement import PREDICATE_TYPE, DeltaOnePredicate, StatementFormatError
from hokusai_assets.lib.attestation.verify.base import Context, Failed, readable, require
from hokusai_assets.lib.commitments.canonical import canonical_json
from hokusai_assets.lib.commitments.digests import bytes_digest
from hokusai_assets.lib.errors import HokusaiError

_B64_RE = re.compile(r"[A-Za-z0-9+/]*={0,2}")
_EIP712_KEYS = {"types", "primaryType", "domain", "message", "signature", "signer"}


def _json_object(data: bytes, bytes_name: str, object_name: str) -> dict:
    """``data`` parsed as a JSON object, or the verdict that it is not one."""
    try:
        value = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise Failed(f"{bytes_name} is not UTF-8 JSON ({exc})") from None
    require(isinstance(value, dict), f"{object_name} is not a JSON object")
    return value


def _require_canonical(value: dict, data: bytes, object_name: str, not_canonical: str) -> None:
    """Signed bytes must be the RFC 8785 form of what they say: one encoding per meaning."""
    try:
        canonical = canonical_json(value)
    except HokusaiError as exc:
        raise Failed(f"{object_name} cannot be canonicalised: {exc.message}") from None
    require(canonical == data, not_canonical)


def _b64decode(text: Any, what: str) -> bytes:
    """Strict standard base64: only the canonical encoding of some bytes is accepted."""
    require(isinstance(text, str) and _B64_RE.fullmatch(text) is not None, f"{what} is not base64 text")
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise Failed(f"{what} is not valid base64") from None
    require(base64.b64encode(data).decode("ascii") == text, f"{what} is not canonical (padded, standard) base64")
    return data


def check_envelope_format(ctx: Context) -> str:
    envelope = _json_object(ctx.envelope_bytes, f"the envelope ({ENVELOPE_FILE})", f"the envelope ({ENVELOPE_FILE})")
    require(
        set(envelope) == {"payload", "payloadType", "signatures"},
        f"the envelope ({ENVELOPE_FILE}) must have exactly payload, payloadType and signatures, "
        f"has {sorted(envelope)}",
    )
    _require_canonical(
        envelope, ctx.envelope_bytes, "the envelope", f"the envelope ({ENVELOPE_FILE}) is not RFC 8785 canonical JSON"
    )
    require(
        envelope["payloadType"] == PAYLOAD_TYPE,
        f"payloadType is {envelope['payloadType']!r}, expected {PAYLOAD_TYPE!r}",
    )
    payload = _b64decode(envelope["payload"], "payload")
    signatures = envelope["signatures"]
    require(isinstance(signatures, list) and signatures, "signatures must be a non-empty list")
    for number, entry in enumerate(signatures):
        require(
            isinstance(entry, dict) and set(entry) == {"keyid", "sig"} and isinstance(entry["keyid"], str),
            f"signature {number} must have exactly a string keyid and a sig",
        )
        signature = _b64decode(entry["sig"], f"signature {number}")
        require(len(signature) == 64, f"signature {number} is not 64 bytes (Ed25519)")
    ctx.envelope, ctx.payload = envelope, payload
    return f"DSSE envelope, {len(payload)}-byte payload, {len(signatures)} signature(s)"


_HEX64_RE = re.compile(r"[0-9a-fA-F]{64}")
_ADDRESS_RE = re.compile(r"0x[0-9a-fA-F]{40}")


def json_type_name(value: Any) -> str:
    """What a JSON value is, in JSON's words (for messages about a file of the wrong shape)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    kinds = {dict: "an object", list: "an array", str: "a string", int: "a number", float: "a number"}
    return next((name for kind, name in kinds.items() if isinstance(value, kind)), type(value).__name__)


def trusted_info_problems(info: Any) -> list[str]:
    """Why ``info`` cannot serve as the attester's public keys (``attester.json``, as
    ``AttesterKeys.public_info`` writes it); empty when it can. The checks need
    ``ed25519_public_key`` and ``attester_address``; ``ed25519_keyid`` and ``eip712_domain``,
    when present, are compared with what was signed."""
    if not isinstance(info, dict):
        return [f"it is {json_type_name(info)}, not an object"]
    problems = []
    if not (isinstance(info.get("ed25519_public_key"), str) and _HEX64_RE.fullmatch(info["ed25519_public_key"])):
        problems.append("ed25519_public_key is missing or not 64 hex digits")
    if not (isinstance(info.get("attester_address"), str) and _ADDRESS_RE.fullmatch(info["attester_address"])):
        problems.append("attester_address is missing or not a 0x address (40 hex digits)")
    if "ed25519_keyid" in info and not isinstance(info["ed25519_keyid"], str):
        problems.append(f"ed25519_keyid is {json_type_name(info['ed25519_keyid'])}, not a string")
    if "eip712_domain" in info and not isinstance(info["eip712_domain"], dict):
        problems.append(f"eip712_domain is {json_type_name(info['eip712_domain'])}, not an object")
    return problems


def _trusted_ed25519(trusted: Mapping[str, Any] | None) -> tuple[bytes, str]:
    """The trusted attester's Ed25519 public key and its key id, or the verdict that there is none."""
    require(
        trusted is not None,
        "no trusted attester keys given: pass the published attester.json to check the Ed25519 signature",
    )
    try:
        public = bytes.fromhex(trusted["ed25519_public_key"])
    except (KeyError, TypeError, ValueError):
        raise Failed("the trusted attester info has no valid ed25519_public_key (64 hex digits)") from None
    require(len(public) == 32, "the trusted ed25519_public_key is not 32 bytes")
    keyid = ed25519_keyid(public)
    require(
        trusted.get("ed25519_keyid", keyid) == keyid,
        f"the trusted attester info is inconsistent: ed25519_keyid {trusted.get('ed25519_keyid')!r} is not "
        f"the key id of its public key ({keyid})",
    )
    return public, keyid


def check_envelope_signature(ctx: Context) -> str:
    # hokusai signs an envelope exactly once, with the attester's Ed25519 key, so any other
    # entry (another key's signature, a forgery, a copy of the good one) was added after
    # signing. DSSE lets a consumer accept any one good signature and ignore the rest; we
    # refuse instead, naming each entry, so an altered envelope never passes as ours.
    public, keyid = _trusted_ed25519(ctx.trusted)
    verifier = Ed25519PublicKey.from_public_bytes(public)
    message = pae(ctx.envelope["payloadType"], ctx.payload)
    signatures = ctx.envelope["signatures"]
    problems: list[str] = []
    first_with_sig: dict[str, int] = {}
    first_with_keyid: dict[str, int] = {}
    for position, entry in enumerate(signatures):
        where = f"signatures[{position}] (keyid {entry['keyid']})"
        if entry["sig"] in first_with_sig:
            problems.append(f"{where} repeats the sig of signatures[{first_with_sig[entry['sig']]}]")
        elif entry["keyid"] != keyid:
            problems.append(f"{where} has an unknown keyid")
        else:
            try:
                verifier.verify(base64.b64decode(entry["sig"]), message)
                verifies = True
            except InvalidSignature:
                verifies = False
            if keyid in first_with_keyid:
                verdict = "a second valid signature" if verifies else "and does not verify: a forgery"
                problems.append(f"{where} repeats the keyid of signatures[{first_with_keyid[keyid]}], {verdict}")
            elif not verifies:
                problems.append(f"{where} does not verify: the payload or signature was changed")
        first_with_sig.setdefault(entry["sig"], position)
        first_with_keyid.setdefault(entry["keyid"], position)
    require(
        not problems,
        f"expected exactly one signature, by the trusted key {keyid}; the envelope has {len(signatures)}: "
        + "; ".join(problems),
    )
    return f"the one Ed25519 signature, by {keyid}, over DSSE PAE verifies"


def check_statement_format(ctx: Context) -> str:
    statement = _json_object(ctx.payload, "the payload", "the statement")
    ctx.decoded = statement
    _require_canonical(statement, ctx.payload, "the statement", "the payload is not the RFC 8785 bytes of the statement")
    try:
        ctx.predicate = DeltaOnePredicate.from_statement(statement)
    except StatementFormatError as exc:
        raise Failed(exc.message) from None
    ctx.statement = statement  # only a well-formed statement reaches the later checks
    return f"in-toto Statement v1, {PREDICATE_TYPE}, subjects match the predicate"


def check_eip712_signature(ctx: Context) -> str:
    eip712 = readable(ctx.eip712)
    require(
        isinstance(eip712, Mapping) and set(eip712) == _EIP712_KEYS,
        f"the EIP-712 JSON ({EIP712_FILE}) must be an object with exactly {', '.join(sorted(_EIP712_KEYS))}",
    )
    try:
        signer = recover_eip712_signer(eip712, eip712["signature"])
    except HokusaiError as exc:
        raise Failed(f"{EIP712_FILE}: {exc.message}") from None
    require(
        eip712["signer"] == signer,
        f"the signature recovers to {signer}, not to the named signer {eip712['signer']!r}",
    )
    require(
        ctx.trusted is not None,
        f"no trusted attester keys given: pass the published attester.json to check the signer ({signer})",
    )
    expected = ctx.trusted.get("attester_address")
    require(signer == expected, f"the EIP-712 signer is {signer}, not the trusted attester {expected!r}")
    return f"signed by the attester {signer}"


def check_eip712_binding(ctx: Context) -> str:
    eip712 = readable(ctx.eip712)
    require(isinstance(eip712, Mapping), f"the EIP-712 JSON ({EIP712_FILE}) is not an object")
    try:
        domain = Eip712Domain.from_typed_data(eip712.get("domain"))
    except HokusaiError as exc:
        raise Failed(exc.message) from None
    published = (ctx.trusted or {}).get("eip712_domain")
    require(
        published is None or eip712.get("domain") == published,
        f"the signed domain {eip712.get('domain')!r} is not the attester's published domain {published!r}",
    )
    try:
        expected = eip712_message(ctx.statement, bytes_digest(ctx.payload), domain)
    except HokusaiError as exc:
        raise Failed(exc.message) from None
    require(eip712.get("types") == expected["types"] and eip712.get("primaryType") == expected["primaryType"],
             "the EIP-712 types are not the DeltaOneAttestation schema")
    message = eip712.get("message")
    require(isinstance(message, Mapping), "the EIP-712 message is not an object")
    wrong = [
        f"{key}: signed {message.get(key)!r}, statement says {value!r}"
        for key, value in expected["message"].items()
        if message.get(key) != value or type(message.get(key)) is not type(value)
    ]
    extra = sorted(set(message) - set(expected["message"]))
    require(not wrong and not extra, "; ".join(wrong + [f"unexpected field {k}" for k in extra]))
    source = "the published domain" if published is not None else "the domain as signed (no published domain to compare)"
    return f"the signed message matches the statement; {source}"
